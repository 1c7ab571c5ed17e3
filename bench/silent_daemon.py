#!/usr/bin/env python3
"""What a daemon that does not answer costs a command, next to flock(1).

    python3 bench/silent_daemon.py --lokt build/client/lokt --loktd build/daemon/loktd --out silent-results

A socket that accepts connections but never answers (a hung or stopped loktd, a systemd socket
whose service cannot start) makes every `lokt` command that changes locks wait for the daemon's
hello before it falls back to the files. This times `lokt guard NAME -- true`, fork to exit, with
LOKT_DAEMON=auto in six set-ups, interleaved run by run (spawntime, as run_bench.py does):

  flock          flock(1) FILE true, the reference
  files          LOKT_DAEMON=off
  no-daemon      auto, nothing listens at the socket path (connect fails at once)
  daemon         auto, a live loktd
  silent-socket  auto, a listener that accepts every connection and never reads
  stopped-loktd  auto, a loktd stopped with SIGSTOP (the kernel completes the connections)

and records what `lokt doctor` says about the stopped daemon. Writes results.json and results.md
under --out and prints the table. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import run_bench

SETUPS = ("flock", "files", "no-daemon", "daemon", "silent-socket", "stopped-loktd")


def private_dir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir(mode=0o700, parents=True)
    os.chmod(path, 0o700)
    return path


def silent_listener(path: Path) -> tuple[socket.socket, threading.Thread]:
    """Accepts every connection and keeps it, never reading or writing."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4096)
    kept: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            kept.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def wait_for_hello(lokt: Path, env: dict[str, str], cwd: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = run_bench.run_capture([str(lokt), "daemon", "status"], cwd, env, timeout=10)
        if done.returncode == 0:
            return
        time.sleep(0.02)
    raise run_bench.BenchError("loktd did not answer within 10 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lokt", required=True, type=Path)
    parser.add_argument("--loktd", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=40, help="timed runs of each set-up (default 40)")
    parser.add_argument("--flock", default="flock")
    args = parser.parse_args()
    lokt = args.lokt.resolve()
    loktd = args.loktd.resolve()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="lokt-silent-") as scratch_text:
        scratch = Path(scratch_text)
        tools = run_bench.build_helpers(scratch / "bin")
        repo = run_bench.make_repo(scratch, "repo")
        base = run_bench.clean_env()
        sockets = {name: private_dir(scratch, name) / "loktd.sock" for name in ("none", "live", "silent", "stopped")}
        listener, _ = silent_listener(sockets["silent"])
        daemons = []
        for name in ("live", "stopped"):
            daemons.append(subprocess.Popen([str(loktd), "--socket", str(sockets[name])], cwd=repo, env=base,
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
            wait_for_hello(lokt, {**base, "LOKT_SOCKET": str(sockets[name])}, repo)
        stopped = daemons[1]
        try:
            # The lock root exists before the first timed run.
            run_bench.run_capture([str(lokt), "guard", "warm", "--", "true"], repo, {**base, "LOKT_DAEMON": "off"})
            os.kill(stopped.pid, signal.SIGSTOP)
            doctor = run_bench.run_capture([str(lokt), "doctor"], repo,
                                           {**base, "LOKT_DAEMON": "auto", "LOKT_SOCKET": str(sockets["stopped"])})
            doctor_line = next((line for line in doctor.stdout.splitlines() if " daemon " in f" {line} "), "")

            def guard(mode: str, sock: str | None) -> list[str]:
                env = [f"@env:LOKT_DAEMON={mode}"]
                if sock is not None:
                    env.append(f"@env:LOKT_SOCKET={sockets[sock]}")
                return env + [str(lokt), "guard", "bench-silent", "--", "true"]

            groups = [
                [args.flock, str(repo / ".git" / "flock-bench.lock"), "true"],
                guard("off", None),
                guard("auto", "none"),
                guard("auto", "live"),
                guard("auto", "silent"),
                guard("auto", "stopped"),
            ]
            argv = [str(tools["spawntime"]), "-n", str(args.runs), "-w", "3"]
            for i, group in enumerate(groups):
                if i:
                    argv.append(":::")
                argv.extend(group)
            done = run_bench.run_capture(argv, repo, base, timeout=3600)
            if done.returncode != 0:
                raise run_bench.BenchError(f"spawntime failed: {done.stderr.strip()}")
            times: dict[str, list[int]] = {name: [] for name in SETUPS}
            for line in done.stdout.splitlines():
                index, ns, status = (int(x) for x in line.split())
                if status != 0:
                    raise run_bench.BenchError(f"a run of {SETUPS[index]} exited {status}")
                times[SETUPS[index]].append(ns)
        finally:
            os.kill(stopped.pid, signal.SIGCONT)
            for daemon in daemons:
                daemon.terminate()
                daemon.wait(timeout=10)
            listener.close()

    results = {
        "runs": args.runs,
        "load_average": os.getloadavg(),
        "setups": {name: run_bench.summary_ms(values) for name, values in times.items()},
        "doctor_on_stopped_loktd": doctor_line,
    }
    flock_median = results["setups"]["flock"]["median_ms"]
    lines = ["| `lokt guard NAME -- true` with | median ms | p95 ms | median / flock |", "|---|---|---|---|"]
    for name in SETUPS:
        s = results["setups"][name]
        lines.append(f"| {name} | {s['median_ms']:.2f} | {s['p95_ms']:.2f} | {s['median_ms'] / flock_median:.1f} |")
    lines.append("")
    lines.append(f"`lokt doctor` on the stopped loktd: `{doctor_line.strip()}`")
    table = "\n".join(lines)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except run_bench.BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
