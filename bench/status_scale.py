#!/usr/bin/env python3
"""How `lokt status` grows with the number of held locks: a curve over 1k/10k/100k.

Why this exists: `status` lists and judges every lock file of the root, so its cost is the one
that grows with a busy root, and issue 17 asks for 100,000 held locks in under a second. This
driver writes the lock files directly (SPEC.md section 5's format, as run_bench.py's status
section does), held by live processes of its own (--holders of them, round robin, each with its
real start time) with a TTL a day ahead, so every lock is live and judged. Then, per size, it
times `lokt status` and `lokt status --json` (wall time, and CPU time of all their threads, which
a loaded machine disturbs less), with the files (LOKT_DAEMON=off) and through a
private loktd (LOKT_DAEMON=require), interleaved, and checks that every run lists every lock as
held (a fast answer that drops locks fails the run).

  python3 bench/status_scale.py --lokt build/client/lokt --loktd build/daemon/loktd \\
      --workdir build --out bench/results/DATE-scale/status

Keep --workdir off /tmp on machines where /tmp is slow to create files in (docs/performance.md,
"Notes on the method"). Writes results.json in --out and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def proc_start_ticks(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2:].split()[19])


def agent_id(pid: int, start: int) -> str:
    h = 2166136261
    for c in f"{pid}-{start}".encode():
        h ^= c
        h = (h * 16777619) & 0xFFFFFFFF
    return f"agent-{h & 0xFFFF:04x}"


def rfc3339(epoch_ns: int) -> str:
    seconds, frac = divmod(epoch_ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def write_locks(locks_dir: Path, first: int, last: int, holders: list[int]) -> None:
    host = socket.gethostname()
    starts = {pid: proc_start_ticks(pid) for pid in holders}
    now = time.time_ns()
    rng = random.Random(first)
    for i in range(first, last):
        pid = holders[i % len(holders)]
        acquired = now - rng.randrange(1, 3600) * 1_000_000_000 - rng.randrange(1_000_000_000)
        record = {
            "version": 1, "name": f"lock-{i:06d}", "lock_id": f"{rng.getrandbits(128):032x}",
            "owner": f"agent{pid % 10}", "host": host, "pid": pid, "pid_start_ns": starts[pid],
            "agent_id": agent_id(pid, starts[pid]), "acquired_ts": rfc3339(acquired), "ttl_sec": 86400,
            "expires_at": rfc3339(acquired + 86400 * 1_000_000_000),
        }
        fd = os.open(locks_dir / f"lock-{i:06d}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(record, indent=2) + "\n")


def held_listed(args: list[str], stdout: bytes) -> int:
    if "--json" in args:
        return sum(1 for lock in json.loads(stdout)["locks"] if lock.get("state") == "held")
    return sum(1 for line in stdout.splitlines()[1:] if line.split() and line.split()[-1] == b"held")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lokt", type=Path, required=True)
    parser.add_argument("--loktd", type=Path, help="also time the commands through a private loktd")
    parser.add_argument("--baseline", type=Path, help="another lokt (say, an earlier build) timed interleaved, with the files")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command per size (median)")
    parser.add_argument("--holders", type=int, default=1, help="live holder processes the locks are spread over")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a fresh one in /tmp)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    args.lokt = args.lokt.resolve()
    if args.baseline:
        args.baseline = args.baseline.resolve()

    work = Path(tempfile.mkdtemp(prefix="lokt-status-scale-", dir=args.workdir)).resolve()
    repo = work / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    root = repo / ".git" / "lokt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
    env.update({"LOKT_DAEMON": "off", "USER": env.get("USER", "bench")})
    sleepers = [subprocess.Popen(["sleep", "100000"]) for _ in range(max(0, args.holders - 1))]
    holders = [os.getpid()] + [p.pid for p in sleepers]
    daemon = None
    variants = [("files", "text", ["status"]), ("files", "json", ["status", "--json"])]
    if args.baseline:
        variants += [("baseline-files", "text", ["status"]), ("baseline-files", "json", ["status", "--json"])]
    try:
        # Let lokt create the root's layout, then write the locks beside it.
        subprocess.run([str(args.lokt), "status"], env=env, cwd=repo, check=True, capture_output=True)
        (root / "locks").mkdir(parents=True, exist_ok=True)
        if args.loktd:
            sock_dir = work / "run"
            sock_dir.mkdir(mode=0o700)
            sock = sock_dir / "loktd.sock"
            daemon = subprocess.Popen([str(args.loktd.resolve()), "--socket", str(sock)], env=env,
                                      stdin=subprocess.DEVNULL, stdout=open(work / "loktd.log", "wb"),
                                      stderr=subprocess.STDOUT)
            while not sock.exists():
                if daemon.poll() is not None:
                    raise SystemExit(f"loktd did not start; see {work / 'loktd.log'}")
                time.sleep(0.02)
            variants += [("daemon", "text", ["status"]), ("daemon", "json", ["status", "--json"])]
            daemon_env = dict(env, LOKT_DAEMON="require", LOKT_SOCKET=str(sock))
        results = {"lokt": str(args.lokt), "baseline": str(args.baseline), "holders": len(holders), "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(), "sizes": []}
        written = 0
        for size in sizes:
            print(f"writing locks {written} to {size}", file=sys.stderr, flush=True)
            write_locks(root / "locks", written, size, holders)
            written = size
            times: dict[str, list[float]] = {f"{b}:{w}": [] for b, w, _ in variants}
            cpus: dict[str, list[float]] = {f"{b}:{w}": [] for b, w, _ in variants}  # user+system, all threads
            for run in range(args.runs + 1):  # the first round warms the caches and checks
                for backend, what, command in variants:
                    run_env = daemon_env if backend == "daemon" else env
                    lokt = args.baseline if backend.startswith("baseline") else args.lokt
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    started = time.perf_counter()
                    done = subprocess.run([str(lokt), *command], env=run_env, cwd=repo, capture_output=True)
                    elapsed = time.perf_counter() - started
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                    if done.returncode != 0:
                        raise SystemExit(f"lokt {' '.join(command)} failed: {done.stderr.decode()[:500]}")
                    if run == 0:
                        held = held_listed(command, done.stdout)
                        if held != size:
                            raise SystemExit(f"lokt {' '.join(command)} listed {held} held, expected {size}")
                    else:
                        times[f"{backend}:{what}"].append(elapsed)
                        cpus[f"{backend}:{what}"].append(cpu_s)
            row = {"locks": size}
            for key, values in times.items():
                row[key] = {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values),
                            "cpu_median_s": statistics.median(cpus[key])}
            results["sizes"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        results["loadavg_end"] = os.getloadavg()
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait()
        for p in sleepers:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    lines = ["| locks | " + " | ".join(f"`{k}` median (min–max)" for k in times) + " |",
             "|---:|" + "---:|" * len(times)]
    for row in results["sizes"]:
        cells = [f"{row[k]['median_s'] * 1000:.0f} ms ({row[k]['min_s'] * 1000:.0f}–{row[k]['max_s'] * 1000:.0f}), "
                 f"CPU {row[k]['cpu_median_s'] * 1000:.0f} ms"
                 for k in times]
        lines.append(f"| {row['locks']:,} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        (args.out / "results.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
