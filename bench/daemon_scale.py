#!/usr/bin/env python3
"""How loktd's cost per operation grows with what it keeps in memory.

Each section starts its own private loktd (a socket in a 0700 directory of
the scratch area, a scratch lock root) and speaks the line protocol to it
directly (docs/protocol.md), so the figures are the daemon's and not a
client's start-up. Daemon CPU is utime+stime from /proc/PID/stat (held_roots: schedstat, finer), memory
VmRSS from /proc/PID/status. Every section is a curve over several sizes:

  guard    guard holds taken over a few connections, in steps up to each size:
           wall time, daemon CPU and RSS per step; at each size `lokt status
           --json` through the daemon (timed as a process) and a status
           request, and the daemon CPU of one guard in another, empty root;
           at the end, the cost of closing the connections that hold them all
  manual   the same steps with manual TTL holds (kept in the daemon's memory
           until they lapse) over one connection
  waiters  N waiters on one name, each on its own connection: the holder
           releases, the head is granted and releases at once, and so on;
           grant latency (release sent to grant received) p50/p99/max, FIFO
           order, daemon RSS while they wait and CPU per handoff
  roots    one guard (acquire, release, close) in each of N roots: daemon CPU
           per guard, RSS, open descriptors and the roots it still serves
  held_roots  holds kept in N roots at once (--holds-per-root guard holds in each,
           one connection per root), in steps up to each N: loktd RSS, open
           descriptors and roots served with them all held; then one acquire and
           release of another name in every held root, timed per operation
           (p50/p99) with daemon CPU per operation, and a guard in a new root

Standard library only. Example:

  python3 bench/daemon_scale.py --loktd build/daemon/loktd --lokt build/client/lokt \\
      --out bench-results/daemon_scale.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


class ScaleError(Exception):
    pass


def daemon_cpu_s(pid: int) -> float:
    """utime+stime of all the daemon's threads, those that have exited included (10 ms ticks)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def daemon_cpu_precise_s(pid: int) -> float:
    """Run time of the daemon's live threads in nanoseconds (schedstat): precise, but blind to
    threads that have exited, so only for operations the event loop does alone."""
    return sum(int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
               for task in os.listdir(f"/proc/{pid}/task")) / 1e9


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ScaleError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def own_pid_start() -> int:
    text = Path("/proc/self/stat").read_text()
    return int(text[text.rindex(")") + 2:].split()[19])


def identity() -> dict:
    return {"owner": "bench", "owner_explicit": True, "host": socket.gethostname(), "pid": os.getpid(),
            "pid_start": own_pid_start()}


class Client:
    """One connection: requests in order, replies matched by id; progress lines skipped."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(300)
        self.sock.connect(str(path))
        self.pending: list[bytes] = []  # the start of a line not yet complete, in pieces
        self.next_id = 1
        self.replies: dict[int, dict] = {}

    def close(self) -> None:
        self.sock.close()

    def encode(self, request: dict) -> tuple[int, bytes]:
        request = {"id": self.next_id, **request}
        self.next_id += 1
        return request["id"], json.dumps(request, separators=(",", ":")).encode() + b"\n"

    def send(self, request: dict) -> int:
        request_id, line = self.encode(request)
        self.sock.sendall(line)
        return request_id

    def send_many(self, requests: list[dict]) -> list[int]:
        encoded = [self.encode(r) for r in requests]
        self.sock.sendall(b"".join(line for _, line in encoded))
        return [request_id for request_id, _ in encoded]

    def read_available(self) -> None:
        """Reads what is there now (the socket must be readable) and files the replies."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ScaleError("loktd closed the connection")
        # Linear in the reply: a 30 MB status reply comes in 64 KiB pieces, and
        # searching and copying the whole buffer for each took minutes.
        if b"\n" not in chunk:
            self.pending.append(chunk)
            return
        *lines, rest = (b"".join(self.pending) + chunk).split(b"\n")
        self.pending = [rest] if rest else []
        for line in lines:
            message = json.loads(line)
            if "ok" in message:
                self.replies[message["id"]] = message

    def reply(self, request_id: int) -> dict:
        while request_id not in self.replies:
            self.read_available()
        return self.replies.pop(request_id)

    def call(self, request: dict) -> dict:
        return self.reply(self.send(request))

    def hello(self) -> None:
        answer = self.call({"op": "hello", "protocol_min": 1, "protocol_max": 1, "client_version": "bench"})
        if not answer.get("ok"):
            raise ScaleError(f"hello refused: {answer}")


class Daemon:
    """A private loktd on a private socket, with a scratch area for its roots."""

    def __init__(self, loktd: Path, work: Path, label: str) -> None:
        self.dir = work / label
        self.dir.mkdir(parents=True)
        sock_dir = self.dir / "run"
        sock_dir.mkdir(mode=0o700)
        self.socket = sock_dir / "loktd.sock"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
        self.env.update({"LOKT_DAEMON": "require", "LOKT_SOCKET": str(self.socket)})
        with open(self.dir / "loktd.log", "wb") as log:
            self.process = subprocess.Popen([str(loktd), "--socket", str(self.socket)], env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ScaleError(f"loktd did not start; see {self.dir / 'loktd.log'}")
            time.sleep(0.02)
        self.pid = self.process.pid
        self.probe = self.connect()  # kept open: its round trips wait without a close of their own

    def root(self, name: str) -> Path:
        return self.dir / "roots" / name

    def connect(self) -> Client:
        client = Client(self.socket)
        client.hello()
        return client

    def cpu(self) -> float:
        return daemon_cpu_s(self.pid)

    def settle(self) -> None:
        """Waits until the daemon has done what it was sent (closes included): a round trip, then idle CPU."""
        self.probe.call({"op": "daemon_status"})
        last = self.cpu()
        while True:
            time.sleep(0.05)
            now = self.cpu()
            if now == last:
                return
            last = now

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def take_holds(daemon: Daemon, clients: list[Client], root: Path, first: int, last: int, request: dict,
               budget_s: float) -> int:
    """Acquires held-FIRST..held-LAST-1, spread over the clients in batches; returns how many were taken."""
    batch = 250
    started = time.monotonic()
    taken = first
    while taken < last:
        if time.monotonic() - started > budget_s:
            break
        pending = []
        for client in clients:
            names = range(taken, min(last, taken + batch))
            if not names:
                break
            ids = client.send_many([{**request, "root": str(root), "name": f"held-{i:06d}"} for i in names])
            pending.append((client, ids))
            taken = names[-1] + 1
        for client, ids in pending:
            for request_id in ids:
                answer = client.reply(request_id)
                if not answer.get("ok"):
                    raise ScaleError(f"acquire refused: {answer.get('error')}")
    return taken


def time_lokt_status(lokt: Path, daemon: Daemon, root: Path, runs: int) -> dict:
    env = dict(daemon.env)
    env["LOKT_ROOT"] = str(root)
    times = []
    count = None
    for _ in range(runs):
        started = time.monotonic()
        done = subprocess.run([str(lokt), "status", "--json"], env=env, cwd=daemon.dir, capture_output=True)
        times.append(time.monotonic() - started)
        if done.returncode != 0:
            raise ScaleError(f"lokt status failed: {done.stderr.decode(errors='replace')}")
        parsed = json.loads(done.stdout)
        locks = parsed.get("locks", parsed) if isinstance(parsed, dict) else parsed
        count = len(locks) if isinstance(locks, list) else None
    return {"median_s": statistics.median(times), "max_s": max(times), "locks_listed": count}


def time_status_request(daemon: Daemon, client: Client, root: Path, runs: int) -> dict:
    times = []
    cpu_before = daemon.cpu()
    for _ in range(runs):
        started = time.monotonic()
        answer = client.call({"op": "status", "root": str(root), "prune_expired": False})
        times.append(time.monotonic() - started)
        if not answer.get("ok"):
            raise ScaleError(f"status refused: {answer.get('error')}")
    return {"median_s": statistics.median(times), "daemon_cpu_s_each": (daemon.cpu() - cpu_before) / runs,
            "locks": len(answer["locks"])}


def guard_elsewhere(daemon: Daemon, root: Path, rounds: int) -> dict:
    """One guard at a time in ROOT, each on its own connection: acquire, release, close."""
    daemon.settle()
    cpu_before = daemon.cpu()
    started = time.monotonic()
    who = identity()
    for i in range(rounds):
        client = daemon.connect()
        answer = client.call({"op": "acquire", "root": str(root), "name": "lone", "mode": "guard", "wait": False,
                              "identity": who})
        if not answer.get("ok"):
            raise ScaleError(f"acquire in the empty root refused: {answer.get('error')}")
        client.call({"op": "release", "root": str(root), "name": "lone", "lock_id": answer["lock"]["lock_id"]})
        client.close()
    wall = time.monotonic() - started
    daemon.settle()
    return {"rounds": rounds, "wall_ms_each": wall * 1000 / rounds,
            "daemon_cpu_ms_each": (daemon.cpu() - cpu_before) * 1000 / rounds}


def section_holds(args, work: Path, kind: str) -> dict:
    daemon = Daemon(args.loktd, work, f"{kind}-holds")
    try:
        root = daemon.root("main")
        who = identity()
        if kind == "guard":
            request = {"op": "acquire", "mode": "guard", "wait": False, "identity": who}
            clients = [daemon.connect() for _ in range(args.connections)]
        else:
            request = {"op": "acquire", "mode": "manual", "ttl_ms": 3600 * 1000, "wait": False, "identity": who}
            clients = [daemon.connect()]
        steps = []
        held = 0
        for size in args.sizes:
            log(f"{kind}: taking holds {held} to {size}")
            cpu_before = daemon.cpu()
            started = time.monotonic()
            reached = take_holds(daemon, clients, root, held, size, request, args.budget)
            wall = time.monotonic() - started
            cpu = daemon.cpu() - cpu_before
            step = {"size": size, "from": held, "reached": reached, "wall_s": wall, "daemon_cpu_s": cpu,
                    "us_per_hold": wall * 1e6 / max(1, reached - held),
                    "daemon_cpu_us_per_hold": cpu * 1e6 / max(1, reached - held), "rss_kib": rss_kib(daemon.pid)}
            held = reached
            if kind == "guard":
                log(f"{kind}: status and a guard elsewhere with {held} held")
                step["lokt_status_json"] = time_lokt_status(args.lokt, daemon, root, 3)
                step["status_request"] = time_status_request(daemon, clients[0], root, 3)
                step["guard_in_empty_root"] = guard_elsewhere(daemon, daemon.root("empty"), args.rounds)
            steps.append(step)
            log(f"{kind}: {json.dumps(step)}")
            if reached < size:
                log(f"{kind}: stopped at {reached} holds: the step took longer than --budget {args.budget:g} s")
                break
        result = {"connections": len(clients), "steps": steps}
        if kind == "guard" and not args.no_close:
            log(f"guard: closing the connections that hold {held}")
            cpu_before = daemon.cpu()
            started = time.monotonic()
            for client in clients:
                client.close()
            while daemon.probe.call({"op": "daemon_status"}).get("holds") != 0:
                time.sleep(0.01)
            result["close_all"] = {"holds": held, "wall_s": time.monotonic() - started,
                                   "daemon_cpu_s": daemon.cpu() - cpu_before}
        else:
            for client in clients:
                client.close()
        return result
    finally:
        daemon.stop()


def section_waiters(args, work: Path, count: int) -> dict:
    daemon = Daemon(args.loktd, work, f"waiters-{count}")
    try:
        root = daemon.root("main")
        who = identity()
        acquire = {"op": "acquire", "root": str(root), "name": "hot", "mode": "guard", "identity": who}
        holder = daemon.connect()
        first = holder.call({**acquire, "wait": False})
        if not first.get("ok"):
            raise ScaleError(f"the first acquire was refused: {first.get('error')}")
        rss_before = rss_kib(daemon.pid)
        log(f"waiters: queueing {count}")
        waiters = []
        started = time.monotonic()
        for _ in range(count):
            client = daemon.connect()
            # The daemon_status reply on the same connection says the acquire is queued.
            acquire_id, status_id = client.send_many([{**acquire, "wait": True, "timeout_ms": 3600 * 1000},
                                                      {"op": "daemon_status"}])
            client.reply(status_id)
            waiters.append((client, acquire_id))
        queue_s = time.monotonic() - started
        daemon.settle()
        rss_waiting = rss_kib(daemon.pid)
        selector = selectors.DefaultSelector()
        for index, (client, _) in enumerate(waiters):
            selector.register(client.sock, selectors.EVENT_READ, index)
        log("waiters: handing the lock down the queue")
        latencies = []
        order = []
        current, current_lock = holder, first["lock"]["lock_id"]
        cpu_before = daemon.cpu()
        chain_started = time.monotonic()
        for _ in range(count):
            sent = time.monotonic()
            release_id = current.send({"op": "release", "root": str(root), "name": "hot", "lock_id": current_lock})
            granted = None
            while granted is None:
                for key, _ in selector.select(timeout=60):
                    client, acquire_id = waiters[key.data]
                    client.read_available()
                    if acquire_id in client.replies:
                        granted = key.data
                        break
                else:
                    if not selector.get_map():
                        raise ScaleError("no waiter left")
            latencies.append(time.monotonic() - sent)
            order.append(granted)
            client, acquire_id = waiters[granted]
            answer = client.replies.pop(acquire_id)
            if not answer.get("ok"):
                raise ScaleError(f"waiter {granted} was refused: {answer.get('error')}")
            selector.unregister(client.sock)
            current.reply(release_id)
            if current is not holder:
                current.close()
            current, current_lock = client, answer["lock"]["lock_id"]
        current.call({"op": "release", "root": str(root), "name": "hot", "lock_id": current_lock})
        current.close()
        chain_s = time.monotonic() - chain_started
        cpu = daemon.cpu() - cpu_before
        holder.close()
        latencies.sort()
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
        return {"waiters": count, "queue_all_s": queue_s, "fifo": order == list(range(count)),
                "grant_latency_ms": {"p50": pick(0.50) * 1000, "p99": pick(0.99) * 1000, "max": latencies[-1] * 1000},
                "handoffs_per_s": count / chain_s, "daemon_cpu_us_per_handoff": cpu * 1e6 / count,
                "rss_kib_one_holder": rss_before, "rss_kib_waiting": rss_waiting}
    finally:
        daemon.stop()


def section_roots(args, work: Path) -> dict:
    daemon = Daemon(args.loktd, work, "roots")
    try:
        who = identity()
        steps = []
        served = 0
        fds_fresh = open_fds(daemon.pid)
        for size in args.roots:
            log(f"roots: guards in roots {served} to {size}")
            cpu_before = daemon.cpu()
            started = time.monotonic()
            for i in range(served, size):
                root = daemon.root(f"r{i:05d}")
                client = daemon.connect()
                answer = client.call({"op": "acquire", "root": str(root), "name": "x", "mode": "guard",
                                      "wait": False, "identity": who})
                if not answer.get("ok"):
                    raise ScaleError(f"acquire refused: {answer.get('error')}")
                client.call({"op": "release", "root": str(root), "name": "x", "lock_id": answer["lock"]["lock_id"]})
                client.close()
            wall = time.monotonic() - started
            daemon.settle()
            cpu = daemon.cpu() - cpu_before
            count = size - served
            served = size
            status = daemon.probe.call({"op": "daemon_status"})
            step = {"roots": size, "wall_ms_per_guard": wall * 1000 / count, "daemon_cpu_ms_per_guard": cpu * 1000 / count,
                    "rss_kib": rss_kib(daemon.pid), "open_fds": open_fds(daemon.pid), "open_fds_fresh": fds_fresh,
                    "roots_in_daemon_status": len(status.get("roots", [])),
                    "guard_in_new_root": guard_elsewhere(daemon, daemon.root("fresh"), args.rounds)}
            steps.append(step)
            log(f"roots: {json.dumps(step)}")
        return {"steps": steps}
    finally:
        daemon.stop()


def section_held_roots(args, work: Path) -> dict:
    """Why: one daemon serves every repository of a user; what it keeps per root must stay small."""
    daemon = Daemon(args.loktd, work, "held-roots")
    try:
        who = identity()
        request = {"op": "acquire", "mode": "guard", "wait": False, "identity": who}
        clients: list[tuple[Path, Client]] = []
        steps = []
        fds_fresh = open_fds(daemon.pid)
        rss_fresh = rss_kib(daemon.pid)
        for size in args.held_roots:
            log(f"held_roots: holds in roots {len(clients)} to {size}")
            cpu_before = daemon_cpu_precise_s(daemon.pid)
            started = time.monotonic()
            taken = 0
            for i in range(len(clients), size):
                root = daemon.root(f"h{i:05d}")
                client = daemon.connect()
                ids = client.send_many([{**request, "root": str(root), "name": f"held-{k:03d}"}
                                        for k in range(args.holds_per_root)])
                for request_id in ids:
                    answer = client.reply(request_id)
                    if not answer.get("ok"):
                        raise ScaleError(f"acquire refused: {answer.get('error')}")
                    taken += 1
                clients.append((root, client))
            wall = time.monotonic() - started
            daemon.settle()
            cpu = daemon_cpu_precise_s(daemon.pid) - cpu_before
            status = daemon.probe.call({"op": "daemon_status"})
            # One acquire and release of another name in every held root, one at a time.
            latencies = []
            cpu_before = daemon_cpu_precise_s(daemon.pid)
            for root, client in clients:
                sent = time.monotonic()
                answer = client.call({**request, "root": str(root), "name": "probe"})
                if not answer.get("ok"):
                    raise ScaleError(f"probe acquire refused: {answer.get('error')}")
                latencies.append(time.monotonic() - sent)
                sent = time.monotonic()
                client.call({"op": "release", "root": str(root), "name": "probe", "lock_id": answer["lock"]["lock_id"]})
                latencies.append(time.monotonic() - sent)
            daemon.settle()
            op_cpu = daemon_cpu_precise_s(daemon.pid) - cpu_before
            latencies.sort()
            pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
            step = {"roots": size, "holds": status.get("holds"), "take_wall_ms_per_hold": wall * 1000 / max(1, taken),
                    "take_daemon_cpu_us_per_hold": cpu * 1e6 / max(1, taken), "rss_kib": rss_kib(daemon.pid),
                    "rss_kib_fresh": rss_fresh, "open_fds": open_fds(daemon.pid), "open_fds_fresh": fds_fresh,
                    "roots_in_daemon_status": len(status.get("roots", [])),
                    "op_latency_ms": {"p50": pick(0.5) * 1000, "p99": pick(0.99) * 1000, "max": latencies[-1] * 1000},
                    "op_daemon_cpu_us": op_cpu * 1e6 / len(latencies),
                    "guard_in_new_root": guard_elsewhere(daemon, daemon.root("fresh"), args.rounds)}
            steps.append(step)
            log(f"held_roots: {json.dumps(step)}")
        for _, client in clients:
            client.close()
        return {"holds_per_root": args.holds_per_root, "steps": steps}
    finally:
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loktd", type=Path, required=True)
    parser.add_argument("--lokt", type=Path, required=True)
    parser.add_argument("--only", default="guard,manual,waiters,roots", help="sections to run")
    parser.add_argument("--sizes", default="1000,10000,100000", help="hold counts (guard, manual)")
    parser.add_argument("--waiters", default="100,1000,5000", help="queue lengths (waiters)")
    parser.add_argument("--roots", default="20,200,1000", help="root counts (roots)")
    parser.add_argument("--no-close", action="store_true",
                        help="guard: stop the daemon instead of timing the close of the connections that hold the holds")
    parser.add_argument("--held-roots", default="10,50,200", help="root counts (held_roots)")
    parser.add_argument("--holds-per-root", type=int, default=10, help="guard holds kept in each root (held_roots)")
    parser.add_argument("--connections", type=int, default=4, help="connections the guard holds are spread over")
    parser.add_argument("--rounds", type=int, default=20, help="guards timed in an empty root")
    parser.add_argument("--budget", type=float, default=300, help="seconds one step of holds may take before it stops")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a fresh one in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--label", default="", help="free text stored with the results")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    args.loktd = args.loktd.resolve()
    args.lokt = args.lokt.resolve()
    args.sizes = [int(x) for x in args.sizes.split(",") if x]
    args.waiters = [int(x) for x in args.waiters.split(",") if x]
    args.roots = [int(x) for x in args.roots.split(",") if x]
    args.held_roots = [int(x) for x in args.held_roots.split(",") if x]
    sections = set(args.only.split(","))

    # Thousands of connections: raise the descriptor limit (loktd inherits it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = Path(tempfile.mkdtemp(prefix="lokt-scale-", dir=args.workdir)).resolve()
    results: dict = {"label": args.label, "loktd": str(args.loktd), "cpus": os.cpu_count(),
                     "loadavg_start": os.getloadavg()}
    try:
        if "guard" in sections:
            results["guard"] = section_holds(args, work, "guard")
        if "manual" in sections:
            results["manual"] = section_holds(args, work, "manual")
        if "waiters" in sections:
            results["waiters"] = [section_waiters(args, work, count) for count in args.waiters]
        if "roots" in sections:
            results["roots"] = section_roots(args, work)
        if "held_roots" in sections:
            results["held_roots"] = section_held_roots(args, work)
    finally:
        results["loadavg_end"] = os.getloadavg()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
