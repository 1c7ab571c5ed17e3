#!/usr/bin/env python3
"""How `lokt audit` queries grow with the log: 1M and 10M lines (and more with --lines).

Each size gets a log whose lines span the last 30 days, written by several agents; one line in
ten thousand comes from a clock two hours behind, as a skewed writer leaves them. For each query
the driver takes the median wall time of --runs runs of `lokt audit QUERY > /dev/null`, checks
the number of lines printed against its own reading of the log (so a fast answer that drops lines
fails the run), and times `grep -F` over the same file as the floor of any reader that looks at
every byte.

  python3 bench/audit_scale.py --lokt build/client/lokt --out bench-results/audit-scale

Writes results.json and results.md in --out and prints the table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = 100
EVENTS = ["acquire", "release", "deny", "renew"]


def write_log(path: Path, lines: int, now: dt.datetime, seed: int = 1) -> list[tuple[float, str]]:
    """Writes the log; returns (unix time, name) per line, for the expected counts."""
    rng = random.Random(seed)
    start = now - dt.timedelta(days=30)
    span = (now - start).total_seconds()
    base = start.timestamp()
    index = []
    with open(path, "w") as f:
        chunk = []
        for i in range(lines):
            t = base + span * i / lines
            if rng.random() < 1e-4:
                t -= 7200  # a writer whose clock is two hours behind
            stamp = dt.datetime.fromtimestamp(t, dt.timezone.utc)
            ts = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond:06d}000Z"
            name = f"res{rng.randrange(NAMES)}"
            index.append((t, name))
            chunk.append(f'{{"ts":"{ts}","event":"{EVENTS[i % 4]}","name":"{name}","lock_id":"{i:032x}",'
                         f'"owner":"agent{i % 7}","host":"vm","pid":{1000 + i % 5000},"agent_id":"agent-{i % 7}",'
                         f'"ttl_sec":300}}\n')
            if len(chunk) == 100_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return index


def timed(command: list[str], env: dict, runs: int) -> tuple[float, int]:
    """Median wall seconds over runs, and the number of lines printed (by the last run)."""
    times = []
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[:500]}")
        count = done.stdout.count(b"\n")
    return statistics.median(times), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lokt", type=Path, required=True)
    parser.add_argument("--lines", default="1000000,10000000", help="comma-separated log sizes")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lokt-audit-scale-", dir=args.workdir))
    results = []
    try:
        for size in [int(x) for x in args.lines.split(",")]:
            root = work / f"root-{size}"
            root.mkdir()
            now = dt.datetime.now(dt.timezone.utc)
            print(f"writing {size:,} lines", file=sys.stderr, flush=True)
            index = write_log(root / "audit.log", size, now)
            env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
            env.update({"LOKT_ROOT": str(root), "LOKT_DAEMON": "off"})
            # Absolute times, so that the expected counts do not move while the runs go on.
            hour_ago = now - dt.timedelta(hours=1)
            half_minute_ago = now - dt.timedelta(seconds=30)
            queries = [
                ("--since 1h", ["--since", hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ")],
                 sum(1 for t, _ in index if t >= int(hour_ago.timestamp()))),
                ("--since 30s", ["--since", half_minute_ago.strftime("%Y-%m-%dT%H:%M:%SZ")],
                 sum(1 for t, _ in index if t >= int(half_minute_ago.timestamp()))),
                ("--name res7", ["--name", "res7"], sum(1 for _, n in index if n == "res7")),
                ("--since 1h --name res7", ["--since", hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ"), "--name", "res7"],
                 sum(1 for t, n in index if n == "res7" and t >= int(hour_ago.timestamp()))),
            ]
            del index
            log_bytes = (root / "audit.log").stat().st_size
            floor, _ = timed(["grep", "-c", "-F", '"name":"res7"', str(root / "audit.log")], env, args.runs)
            for label, query, expected in queries:
                seconds, printed = timed([str(args.lokt), "audit", *query], env, args.runs)
                results.append({"lines": size, "bytes": log_bytes, "query": label, "median_s": round(seconds, 4),
                                "printed": printed, "expected": expected, "grep_F_s": round(floor, 4)})
                status = "ok" if printed == expected else "LINES MISSING"
                print(f"{size:>11,} {label:<24} {seconds * 1000:9.1f} ms  {printed:>8,}/{expected:<8,} {status}",
                      file=sys.stderr, flush=True)
            shutil.rmtree(root)
        args.out.mkdir(parents=True, exist_ok=True)
        meta = {"load_avg": os.getloadavg(), "when": dt.datetime.now(dt.timezone.utc).isoformat()}
        (args.out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        rows = ["| lines | query | lokt (median) | lines printed / expected | grep -F -c over the file |",
                "|---:|---|---:|---:|---:|"]
        for r in results:
            rows.append(f"| {r['lines']:,} | `audit {r['query']}` | {r['median_s'] * 1000:.0f} ms | "
                        f"{r['printed']:,} / {r['expected']:,} | {r['grep_F_s'] * 1000:.0f} ms |")
        table = "\n".join(rows) + "\n"
        (args.out / "results.md").write_text(table)
        print(table)
        return 0 if all(r["printed"] == r["expected"] for r in results) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
