#!/usr/bin/env python3
"""loktd's own CPU per contended section, and where it goes.

Starts a private loktd (socket in a 0700 directory, a scratch git repository
for the lock root), then runs N `runloop` workers, each looping
`lokt guard NAME --wait -- true` through it for a fixed window, and reads the
daemon's CPU time (utime+stime from /proc/PID/stat, and the run time in
/proc/PID/schedstat) before and after. Prints the CPU per completed section.

With --strace, a second window runs with `strace -c -f -p PID` attached and
prints the daemon's system calls per section (strace slows the daemon, so that
window's throughput is not the real one). With --perf FILE, a third window runs
under `perf record -g -p PID` and leaves the profile in FILE.

    python3 bench/daemon_cpu.py --lokt build/client/lokt --loktd build/daemon/loktd \
        [--workers 8] [--window 5] [--rounds 3] [--strace] [--perf loktd.perf]

Several --loktd values are measured in turn, round by round (A B A B ...), so a
change in the machine's load hits each alike. Standard library only; needs cc
and git, and strace or perf for those options.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")


def build_runloop(bin_dir: Path) -> Path:
    target = bin_dir / "runloop"
    subprocess.run(["cc", "-O2", "-Wall", "-o", str(target), str(HERE / "helpers" / "runloop.c")], check=True)
    return target


def cpu_of(pid: int) -> tuple[float, float]:
    """(utime+stime from /proc/PID/stat, run time from /proc/PID/schedstat), in seconds, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    stat = (int(fields[11]) + int(fields[12])) / TICKS
    run_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        run_ns += int((task / "schedstat").read_text().split()[0])
    return stat, run_ns / 1e9


class Daemon:
    def __init__(self, loktd: Path, work: Path, env: dict[str, str]) -> None:
        sock_dir = work / "sock"
        sock_dir.mkdir(mode=0o700)
        self.socket = sock_dir / "loktd.sock"
        self.env = dict(env, LOKT_DAEMON="require", LOKT_SOCKET=str(self.socket))
        self.log = open(work / "loktd.log", "wb")
        self.process = subprocess.Popen([str(loktd)], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"loktd did not start; see {work / 'loktd.log'}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def run_window(runloop: Path, lokt: Path, repo: Path, env: dict[str, str], workers: int, window: float) -> tuple[int, int]:
    start = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + 200_000_000
    until = start + int(window * 1e9)
    argv = [str(runloop), "--start-ns", str(start), "--until-ns", str(until), "--",
            str(lokt), "guard", "x", "--wait", "--", "true"]
    procs = [subprocess.Popen(argv, cwd=repo, env=env, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    ok = fail = 0
    for proc in procs:
        out, _ = proc.communicate()
        m = re.search(r"ok=(\d+) fail=(\d+)", out)
        ok += int(m.group(1))
        fail += int(m.group(2))
    return ok, fail


def measure(daemon: Daemon, runloop: Path, lokt: Path, repo: Path, workers: int, window: float) -> dict:
    before = cpu_of(daemon.process.pid)
    t0 = time.monotonic()
    ok, fail = run_window(runloop, lokt, repo, daemon.env, workers, window)
    wall = time.monotonic() - t0
    after = cpu_of(daemon.process.pid)
    return {"sections": ok, "failed": fail, "wall_s": wall,
            "stat_us": (after[0] - before[0]) / max(ok, 1) * 1e6,
            "sched_us": (after[1] - before[1]) / max(ok, 1) * 1e6}


def strace_window(daemon: Daemon, runloop: Path, lokt: Path, repo: Path, workers: int, window: float, out: Path) -> str:
    tracer = subprocess.Popen(["strace", "-c", "-f", "-o", str(out), "-p", str(daemon.process.pid)],
                              stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    ok, _ = run_window(runloop, lokt, repo, daemon.env, workers, window)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=30)
    text = out.read_text()
    total = re.search(r"^100\.00\s+\S+\s+\S+\s+(\d+)", text, re.M)
    calls = int(total.group(1)) if total else 0
    lines = [f"sections: {ok}; system calls: {calls}; per section: {calls / max(ok, 1):.1f}"]
    for line in text.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
        if m and m.group(2) != "total":
            lines.append(f"  {m.group(2):<20} {int(m.group(1)) / max(ok, 1):6.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--loktd", required=True, action="append", help="one or more daemons, measured in turn")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--strace", action="store_true", help="also count system calls (strace -c -f -p)")
    parser.add_argument("--perf", help="also record a profile (perf record -g) into this file")
    parser.add_argument("--workdir", help="where the scratch directory goes")
    args = parser.parse_args()

    lokt = Path(args.lokt).resolve()
    daemons = [Path(d).resolve() for d in args.loktd]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    scratch = Path(tempfile.mkdtemp(prefix="lokt-daemon-cpu-", dir=args.workdir))
    try:
        runloop = build_runloop(scratch)
        results: dict[Path, list[dict]] = {d: [] for d in daemons}
        for round_no in range(args.rounds):
            for index, loktd in enumerate(daemons):
                work = scratch / f"r{round_no}-d{index}"
                work.mkdir()
                repo = work / "repo"
                subprocess.run(["git", "init", "-q", str(repo)], check=True)
                daemon = Daemon(loktd, work, env)
                try:
                    run_window(runloop, lokt, repo, daemon.env, args.workers, 0.5)  # warm up
                    r = measure(daemon, runloop, lokt, repo, args.workers, args.window)
                    results[loktd].append(r)
                    print(f"round {round_no + 1} {loktd}: {r['sections']} sections ({r['failed']} failed), "
                          f"loktd CPU per section {r['stat_us']:.0f} us (stat), {r['sched_us']:.0f} us (schedstat)",
                          flush=True)
                    if round_no == args.rounds - 1 and args.strace:
                        print(strace_window(daemon, runloop, lokt, repo, args.workers, args.window,
                                            work / "strace.txt"), flush=True)
                    if round_no == args.rounds - 1 and args.perf:
                        target = Path(args.perf if len(daemons) == 1 else f"{args.perf}.{index}")
                        perf = subprocess.Popen(["perf", "record", "-g", "-o", str(target), "-p",
                                                 str(daemon.process.pid)],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        time.sleep(0.5)
                        run_window(runloop, lokt, repo, daemon.env, args.workers, args.window)
                        perf.send_signal(signal.SIGINT)
                        perf.wait(timeout=60)
                        print(f"profile: {target}", flush=True)
                finally:
                    daemon.stop()
        for loktd, rows in results.items():
            stat = sorted(r["stat_us"] for r in rows)
            sched = sorted(r["sched_us"] for r in rows)
            rate = sorted(r["sections"] / args.window for r in rows)
            print(f"{loktd}: loktd CPU per section, median of {len(rows)}: {stat[len(stat) // 2]:.0f} us (stat), "
                  f"{sched[len(sched) // 2]:.0f} us (schedstat); sections/s {rate[len(rate) // 2]:.0f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
