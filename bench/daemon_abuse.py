#!/usr/bin/env python3
"""One client must not hurt the others: a normal client's latency and loktd's
memory and CPU while another client misbehaves.

A private loktd is started; a normal client (this process, one connection)
takes and releases a lock over and over, and its round trips are timed:
first on a quiet daemon, then beside each abuse in turn:

- subscriber: subscribes to a long audit history (--history-mib of lines,
  since the beginning) and never reads a byte;
- pipeliner: sends --pipelined acquire requests without reading an answer;
- flood: another process opens --flood connections and keeps them, half of
  them silent; 13 `lokt lock` + `lokt unlock` runs are timed beside it.

Reported: p50 and p99 of the normal client's round trip, requests that took
longer than 5 s, loktd's largest VmRSS and the CPU it used in each phase.

    python3 bench/daemon_abuse.py --loktd build/daemon/loktd --lokt build/client/lokt
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HELLO = {"op": "hello", "protocol_min": 1, "protocol_max": 1, "client_version": "bench"}
IDENTITY = {"owner": "bench", "host": "bench", "pid": os.getpid(), "agent_id": "bench"}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    return sock


def line(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class Normal:
    """The well-behaved client: one request at a time."""

    def __init__(self, path: Path, root: Path) -> None:
        self.sock = connect(path)
        self.sock.settimeout(30)
        self.root = str(root)
        self.buffer = b""
        self.next_id = 1
        self.call(HELLO)

    def call(self, body: dict) -> dict:
        request_id = self.next_id
        self.next_id += 1
        self.sock.sendall(line({"id": request_id, **body}))
        while True:
            while b"\n" not in self.buffer:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise RuntimeError("loktd closed the connection")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\n", 1)
            message = json.loads(raw)
            if message.get("id") == request_id and "ok" in message:
                return message

    def round_trip(self) -> float:
        """Acquire and release one lock; seconds."""
        started = time.perf_counter()
        granted = self.call({"op": "acquire", "root": self.root, "name": "normal", "mode": "manual", "ttl_ms": 60000,
                             "identity": IDENTITY})
        if granted.get("ok"):
            self.call({"op": "release", "root": self.root, "name": "normal", "lock_id": granted["lock"]["lock_id"],
                       "identity": IDENTITY})
        return time.perf_counter() - started


def measure(normal: Normal, daemon: int, seconds: float) -> dict:
    times, worst_rss = [], rss_kib(daemon)
    cpu0 = cpu_seconds(daemon)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        times.append(normal.round_trip())
        worst_rss = max(worst_rss, rss_kib(daemon))
    times.sort()
    return {
        "requests": len(times),
        "p50_ms": round(statistics.median(times) * 1000, 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 2),
        "over_5s": sum(1 for t in times if t > 5),
        "loktd_rss_mib": round(worst_rss / 1024, 1),
        "loktd_cpu_s": round(cpu_seconds(daemon) - cpu0, 2),
    }


def write_history(root: Path, mib: int) -> None:
    block = "".join(
        json.dumps({"ts": f"2026-01-02T03:04:05.{100000000 + i}Z", "event": "acquire", "name": f"history-{i % 50}",
                    "lock_id": "035b9c0ac2e782764cda6a0e58b77cf8", "owner": "agent-1", "host": "devbox", "pid": 7271},
                   separators=(",", ":")) + "\n" for i in range(1000))
    with open(root / "audit.log", "w") as out:
        for _ in range(mib * 1024 * 1024 // len(block) + 1):
            out.write(block)


def flood(path: str, count: int, ready, stop) -> None:
    kept = []
    for i in range(count):
        try:
            sock = connect(Path(path))
            if i % 2 == 0:
                sock.sendall(line({"id": 1, **HELLO}))
            kept.append(sock)
        except OSError:
            pass
    ready.set()
    stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loktd", required=True)
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--history-mib", type=int, default=96)
    parser.add_argument("--pipelined", type=int, default=300000)
    parser.add_argument("--flood", type=int, default=2000)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="lokt-abuse-"))
    state = scratch / "state"
    state.mkdir(mode=0o700)
    sock_path = state / "loktd.sock"
    root = scratch / "root"
    busy_root = scratch / "history"
    root.mkdir()
    busy_root.mkdir()
    daemon = subprocess.Popen([args.loktd, "--socket", str(sock_path), "--log-file", str(state / "loktd.log")])
    try:
        while not sock_path.exists():
            time.sleep(0.01)
        time.sleep(0.1)
        normal = Normal(sock_path, root)
        results = {"quiet": measure(normal, daemon.pid, args.seconds)}

        write_history(busy_root, args.history_mib)
        stuck = connect(sock_path)
        stuck.sendall(line({"id": 1, **HELLO}) + line({"id": 2, "op": "subscribe_audit", "root": str(busy_root),
                                                        "since": "2000-01-01T00:00:00Z"}))
        results["subscriber"] = measure(normal, daemon.pid, args.seconds)
        stuck.close()

        piper = connect(sock_path)
        piper.sendall(line({"id": 1, **HELLO}))
        Normal(sock_path, busy_root).call({"op": "acquire", "root": str(busy_root), "name": "held", "mode": "manual",
                                           "ttl_ms": 600000, "identity": IDENTITY})

        def pipeline() -> None:
            try:
                batch = b""
                for i in range(args.pipelined):
                    batch += line({"id": i + 2, "op": "acquire", "root": str(busy_root), "name": "held", "mode": "manual",
                                   "ttl_ms": 600000, "identity": IDENTITY})
                    if len(batch) > 1 << 16:
                        piper.sendall(batch)
                        batch = b""
                piper.sendall(batch)
            except OSError:
                pass

        threading.Thread(target=pipeline, daemon=True).start()
        results["pipeliner"] = measure(normal, daemon.pid, args.seconds)
        piper.close()

        ready, stop = multiprocessing.Event(), multiprocessing.Event()
        flooder = multiprocessing.Process(target=flood, args=(str(sock_path), args.flood, ready, stop))
        flooder.start()
        ready.wait(60)
        results["flood"] = measure(normal, daemon.pid, args.seconds)
        env = {**os.environ, "LOKT_SOCKET": str(sock_path), "LOKT_DAEMON": "require", "LOKT_ROOT": str(root)}
        ok, runs = 0, []
        for i in range(13):
            started = time.perf_counter()
            a = subprocess.run([args.lokt, "lock", f"flood-{i}", "--ttl", "1m"], env=env, capture_output=True)
            b = subprocess.run([args.lokt, "unlock", f"flood-{i}"], env=env, capture_output=True)
            runs.append(time.perf_counter() - started)
            ok += a.returncode == 0 and b.returncode == 0
        results["flood"]["lokt_clients_ok"] = f"{ok}/13"
        results["flood"]["lokt_worst_ms"] = round(max(runs) * 1000, 1)
        stop.set()
        flooder.join()
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"{'phase':<11} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'>5 s':>5} {'RSS MiB':>8} {'CPU s':>6}  other")
    for phase, r in results.items():
        other = f"lokt clients ok {r['lokt_clients_ok']}, worst {r['lokt_worst_ms']} ms" if "lokt_clients_ok" in r else ""
        print(f"{phase:<11} {r['requests']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['over_5s']:>5} "
              f"{r['loktd_rss_mib']:>8} {r['loktd_cpu_s']:>6}  {other}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
