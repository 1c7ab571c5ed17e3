#!/usr/bin/env python3
"""N real `lokt guard NAME --wait` processes queued on one name through one loktd: a curve.

Why this exists: issue 17 asks for 1,000 waiters on one name through the daemon, with the grant
latency, the fairness and loktd's memory reported. daemon_scale.py's `waiters` section measures
the daemon alone over raw protocol connections; this one queues the processes agents run, so the
figures include a waiter's wake-up and the start of its command.

For each N (--waiters, default 10,100,1000) a private loktd is started and a raw protocol client
(daemon_scale.Client) takes the name. Then N processes

    lokt guard hot --wait --timeout 1h -- stamp FILE_i

are started one at a time, each only after loktd's `daemon_status` counts it as waiting, so the
arrival order is known. The holder releases; each waiter's command `stamp` (bench/helpers/stamp.c,
built here with cc) writes its entry and exit times (CLOCK_MONOTONIC) and exits, the guard
releases and the next waiter is granted. From the stamps:

  grant latency  the first: its entry minus the holder's release; the others: entry minus the
                 previous command's exit (release sent, daemon grants, next guard wakes and
                 starts its command): p50, p99, max
  fairness       grant order against arrival order: FIFO or not, waiters granted out of turn,
                 the largest displacement
  memory         loktd's VmRSS with one holder and with all N waiting (and per waiter), the
                 waiters' own median VmRSS; loktd CPU per handoff

  python3 bench/waiters_scale.py --lokt build/client/lokt --loktd build/daemon/loktd \\
      --workdir build --out bench/results/DATE-scale/waiters.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from daemon_scale import Daemon, ScaleError, identity, rss_kib  # noqa: E402


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_stamp(bin_dir: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise ScaleError("no C compiler (cc) found; it is needed to build bench/helpers/stamp.c")
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / "stamp"
    subprocess.run([cc, "-O2", "-Wall", "-o", str(target), str(HERE / "helpers" / "stamp.c")], check=True)
    return target


def waiting_count(daemon: Daemon) -> int:
    return int(daemon.probe.call({"op": "daemon_status"}).get("waiters", 0))


def one_run(args, work: Path, stamp: Path, count: int) -> dict:
    daemon = Daemon(args.loktd, work, f"waiters-{count}")
    processes: list[subprocess.Popen] = []
    try:
        root = daemon.root("main")
        stamps = daemon.dir / "stamps"
        stamps.mkdir()
        holder = daemon.connect()
        first = holder.call({"op": "acquire", "root": str(root), "name": "hot", "mode": "guard", "wait": False,
                             "identity": identity()})
        if not first.get("ok"):
            raise ScaleError(f"the holder's acquire was refused: {first.get('error')}")
        daemon.settle()
        rss_one_holder = rss_kib(daemon.pid)
        env = dict(daemon.env, LOKT_ROOT=str(root), LOKT_OWNER="waiter")
        log(f"waiters: queueing {count} lokt guard processes")
        started = time.monotonic()
        for i in range(count):
            processes.append(subprocess.Popen(
                [str(args.lokt), "-q", "guard", "hot", "--wait", "--timeout", "1h", "--", str(stamp),
                 str(stamps / f"{i:05d}")], env=env, cwd=daemon.dir, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if count <= 10 else subprocess.DEVNULL))
            deadline = time.monotonic() + 60
            while waiting_count(daemon) < i + 1:
                if processes[-1].poll() is not None or time.monotonic() > deadline:
                    raise ScaleError(f"waiter {i} did not queue (exit {processes[-1].poll()})")
                time.sleep(0.001)
        queue_s = time.monotonic() - started
        daemon.settle()
        rss_waiting = rss_kib(daemon.pid)
        waiter_rss = statistics.median(rss_kib(p.pid) for p in processes[: min(50, count)])
        log(f"waiters: {count} queued in {queue_s:.1f} s; releasing")
        cpu_before = daemon.cpu()
        released_at = time.monotonic_ns()
        holder.call({"op": "release", "root": str(root), "name": "hot", "lock_id": first["lock"]["lock_id"]})
        for i, p in enumerate(processes):
            code = p.wait(timeout=max(60, count * 2))
            if code != 0:
                raise ScaleError(f"waiter {i} exited {code}")
        chain_s = (time.monotonic_ns() - released_at) / 1e9
        daemon.settle()
        cpu = daemon.cpu() - cpu_before
        holder.close()

        sections = []
        for i in range(count):
            entry, leave, _ = (stamps / f"{i:05d}").read_text().split()
            sections.append((int(entry), int(leave), i))
        sections.sort()
        order = [i for _, _, i in sections]
        overlaps = sum(1 for a, b in zip(sections, sections[1:]) if b[0] < a[1])
        latencies = [(sections[0][0] - released_at) / 1e6]
        latencies += [(b[0] - a[1]) / 1e6 for a, b in zip(sections, sections[1:])]
        ordered = sorted(latencies)
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
        out_of_turn = sum(1 for position, i in enumerate(order) if position != i)
        return {
            "waiters": count, "queue_all_s": queue_s, "overlapping_sections": overlaps,
            "fifo": order == list(range(count)), "granted_out_of_turn": out_of_turn,
            "largest_displacement": max(abs(position - i) for position, i in enumerate(order)),
            "grant_latency_ms": {"p50": pick(0.50), "p99": pick(0.99), "max": ordered[-1]},
            "all_granted_s": chain_s, "daemon_cpu_us_per_handoff": cpu * 1e6 / count,
            "loktd_rss_kib_one_holder": rss_one_holder, "loktd_rss_kib_waiting": rss_waiting,
            "loktd_rss_kib_per_waiter": (rss_waiting - rss_one_holder) / count,
            "waiter_process_rss_kib_median": waiter_rss,
        }
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loktd", type=Path, required=True)
    parser.add_argument("--lokt", type=Path, required=True)
    parser.add_argument("--waiters", default="10,100,1000", help="queue lengths")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a fresh one in /tmp)")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    args.loktd = args.loktd.resolve()
    args.lokt = args.lokt.resolve()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # loktd inherits it: one socket per waiter

    work = Path(tempfile.mkdtemp(prefix="lokt-waiters-", dir=args.workdir)).resolve()
    results: dict = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg(), "runs": []}
    try:
        stamp = build_stamp(work / "bin")
        for count in [int(x) for x in args.waiters.split(",") if x]:
            run = one_run(args, work, stamp, count)
            log(json.dumps(run))
            results["runs"].append(run)
    finally:
        results["loadavg_end"] = os.getloadavg()
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
