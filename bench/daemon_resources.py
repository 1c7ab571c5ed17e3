"""loktd's footprint: resident memory with 10,000 holds, and wake-ups while idle.

A private loktd is started for this section alone, so that what the other
sections left behind does not count. The holds are taken over one connection
speaking the line protocol (docs/protocol.md), as `guard` holds without TTL:
the daemon keeps each one in memory, bound to the connection, with its lock
file on disk. Wake-ups are the context switches of all of loktd's threads
(/proc/PID/task/*/status) over a window in which nobody talks to it: a thread
that sleeps until something happens switches out once per wake-up.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable


class ResourceError(Exception):
    pass


def proc_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise ResourceError(f"/proc/{pid}/status has no {field}")


def context_switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except FileNotFoundError:
            continue  # a thread that just ended
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


def thread_count(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/task").iterdir())


class Client:
    """A blocking line-protocol client: one request at a time, or a batch."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(str(path))
        self.buffer = b""
        self.next_id = 1

    def close(self) -> None:
        self.sock.close()

    def send(self, request: dict) -> int:
        request = {"id": self.next_id, **request}
        self.next_id += 1
        self.sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        return request["id"]

    def reply(self, request_id: int) -> dict:
        """The reply to request_id; progress and event lines are skipped."""
        while True:
            while b"\n" not in self.buffer:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise ResourceError("loktd closed the connection")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\n", 1)
            message = json.loads(line)
            if message.get("id") == request_id and "ok" in message:
                return message

    def call(self, request: dict) -> dict:
        return self.reply(self.send(request))


def identity(pid_start: int) -> dict:
    return {"owner": "bench", "owner_explicit": True, "host": socket.gethostname(), "pid": os.getpid(),
            "pid_start": pid_start}


def idle_wakeups(pid: int, seconds: float) -> float:
    # The daemon blocks again just after sending its last reply: that switch
    # belongs to the request, not to the idle window, so let it happen first.
    time.sleep(0.5)
    before = context_switches(pid)
    time.sleep(seconds)
    return (context_switches(pid) - before) / seconds


def measure(loktd: Path, env: dict[str, str], work: Path, root: Path, holds: int, idle_seconds: float,
            pid_start: int, log: Callable[[str], None]) -> dict:
    sock_dir = work / "loktd-resources"
    sock_dir.mkdir(mode=0o700, exist_ok=True)
    path = sock_dir / "loktd.sock"
    with open(work / "loktd-resources.log", "wb") as log_file:
        daemon = subprocess.Popen([str(loktd), "--socket", str(path)], env=env, stdout=log_file,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not path.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise ResourceError("the private loktd did not start; see loktd-resources.log")
            time.sleep(0.02)
        pid = daemon.pid
        client = Client(path)
        hello = client.call({"op": "hello", "protocol_min": 1, "protocol_max": 1, "client_version": "bench"})
        if not hello.get("ok"):
            raise ResourceError(f"hello refused: {hello}")
        result: dict = {"holds": holds, "idle_window_s": idle_seconds, "threads": thread_count(pid)}
        result["rss_kib_fresh"] = proc_status_kib(pid, "VmRSS")
        log(f"daemon resources: idle {idle_seconds:g} s, nothing held")
        result["wakeups_per_s_fresh"] = idle_wakeups(pid, idle_seconds)

        log(f"daemon resources: taking {holds} guard holds over one connection")
        who = identity(pid_start)
        started = time.monotonic()
        batch = 200
        for first in range(0, holds, batch):
            ids = [client.send({"op": "acquire", "root": str(root), "name": f"held-{i:05d}", "mode": "guard",
                                "wait": False, "identity": who}) for i in range(first, min(holds, first + batch))]
            for request_id in ids:
                answer = client.reply(request_id)
                if not answer.get("ok"):
                    raise ResourceError(f"acquire refused: {answer.get('error')}")
        result["acquire_all_s"] = time.monotonic() - started
        status = client.call({"op": "daemon_status"})
        if status.get("holds") != holds:
            raise ResourceError(f"daemon_status reports {status.get('holds')} holds, expected {holds}")
        result["rss_kib_held"] = proc_status_kib(pid, "VmRSS")
        result["hwm_kib_held"] = proc_status_kib(pid, "VmHWM")
        log(f"daemon resources: idle {idle_seconds:g} s with {holds} holds, nobody waiting")
        result["wakeups_per_s_held"] = idle_wakeups(pid, idle_seconds)

        client.close()  # guard holds end with their connection
        probe = Client(path)
        probe.call({"op": "hello", "protocol_min": 1, "protocol_max": 1, "client_version": "bench"})
        deadline = time.monotonic() + 30
        while probe.call({"op": "daemon_status"}).get("holds") != 0:
            if time.monotonic() > deadline:
                raise ResourceError("the holds were not released within 30 s of closing their connection")
            time.sleep(0.05)
        probe.close()
        log(f"daemon resources: idle {idle_seconds:g} s after release")
        result["wakeups_per_s_released"] = idle_wakeups(pid, idle_seconds)
        result["rss_kib_released"] = proc_status_kib(pid, "VmRSS")
        return result
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
