#!/usr/bin/env python3
"""What an acquire and a release cost an agent through `lokt mcp`, next to shelling out.

    python3 bench/mcp_roundtrip.py --lokt build/client/lokt --loktd build/daemon/loktd --out mcp-results

One `lokt mcp` server per backend (files, and a private loktd), spoken to over its stdin and stdout
as an MCP client does: `initialize`, then N rounds of `tools/call acquire` + `tools/call release`
on one name, each call timed from the write of the request to the read of its answer. Beside it,
the same pair as an agent without MCP runs it: `lokt lock NAME --ttl 1m` then `lokt unlock NAME`,
each a process started and waited for. Writes results.json and results.md under --out and prints
the table. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    return {"median_us": statistics.median(values), "p90_us": percentile(values, 90), "p99_us": percentile(values, 99),
            "runs": len(values)}


class Server:
    def __init__(self, lokt: str, env: dict):
        self.proc = subprocess.Popen([lokt, "-q", "mcp"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     bufsize=0)
        self.next_id = 0

    def call(self, method: str, params: dict) -> dict:
        self.next_id += 1
        line = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}) + "\n"
        self.proc.stdin.write(line.encode())
        answer = json.loads(self.proc.stdout.readline())
        assert answer.get("id") == self.next_id, answer
        return answer

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def start_daemon(loktd: str, sock: str, env: dict) -> subprocess.Popen:
    daemon = subprocess.Popen([loktd, "--socket", sock], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock)
                return daemon
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("loktd did not start")
            time.sleep(0.005)


def measure(args, backend: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="lokt-mcp-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
    env.update(LOKT_ROOT=str(work / "root"), LOKT_SOCKET=str(work / "d.sock"), LOKT_OWNER="bench",
               LOKT_DAEMON="require" if backend == "daemon" else "off")
    daemon = start_daemon(args.loktd, env["LOKT_SOCKET"], env) if backend == "daemon" else None
    try:
        server = Server(args.lokt, env)
        server.call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                   "clientInfo": {"name": "bench", "version": "1"}})
        acquire_us, release_us, pair_us = [], [], []
        for i in range(args.warmup + args.runs):
            t0 = time.perf_counter_ns()
            got = server.call("tools/call", {"name": "acquire", "arguments": {"name": "bench", "ttl": "1m"}})
            t1 = time.perf_counter_ns()
            done = server.call("tools/call", {"name": "release", "arguments": {"name": "bench"}})
            t2 = time.perf_counter_ns()
            assert got["result"]["structuredContent"]["acquired"], got
            assert done["result"]["structuredContent"]["released"], done
            if i >= args.warmup:
                acquire_us.append((t1 - t0) / 1000)
                release_us.append((t2 - t1) / 1000)
                pair_us.append((t2 - t0) / 1000)
        server.close()
        cli_pair_us = []
        for i in range(args.warmup + args.cli_runs):
            t0 = time.perf_counter_ns()
            subprocess.run([args.lokt, "lock", "bench-cli", "--ttl", "1m"], env=env, check=True, stdout=subprocess.DEVNULL)
            subprocess.run([args.lokt, "unlock", "bench-cli"], env=env, check=True, stdout=subprocess.DEVNULL)
            t1 = time.perf_counter_ns()
            if i >= args.warmup:
                cli_pair_us.append((t1 - t0) / 1000)
        return {"acquire": summary(acquire_us), "release": summary(release_us), "acquire+release": summary(pair_us),
                "cli lock+unlock": summary(cli_pair_us)}
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--loktd", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--cli-runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    args.lokt = os.path.abspath(args.lokt)
    args.loktd = os.path.abspath(args.loktd)
    results = {backend: measure(args, backend) for backend in ("files", "daemon")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = ["| backend | what | median | p90 | p99 | runs |", "|---|---|---|---|---|---|"]
    for backend, sections in results.items():
        for what, s in sections.items():
            rows.append(f"| {backend} | {what} | {s['median_us']:.0f} µs | {s['p90_us']:.0f} µs | {s['p99_us']:.0f} µs | "
                        f"{s['runs']} |")
    table = "\n".join(rows) + "\n"
    (out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
