#!/usr/bin/env python3
"""lokt on etcd beside etcd's own tools, in one run on the same clusters.

1 member:  an uncontended `lokt guard NAME -- true` against `etcdctl lock NAME -- true`
           (both whole processes, as a script would run them), and one lock+unlock
           round trip through the JSON gateway on a kept-alive connection (the
           transactions lokt sends, without process start).
3 members: handoff between two holders (the first's command ends -> the second's
           command starts) against etcd's own release-to-watch latency (a delete
           -> a watcher sees it), p50 and p90.

Usage: python3 bench/etcd_bench.py --lokt build/client/lokt [--runs 30]
Needs etcd and etcdctl (apt-get install etcd-server etcd-client).
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root, members):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.members = []
        names = [f"m{i}" for i in range(members)]
        ports = [(free_port(), free_port()) for _ in names]
        initial = ",".join(f"{n}=http://127.0.0.1:{p[1]}" for n, p in zip(names, ports))
        for n, (client, peer) in zip(names, ports):
            log = open(os.path.join(root, n + ".log"), "w")
            proc = subprocess.Popen(
                ["etcd", "--name", n, "--data-dir", os.path.join(root, n),
                 "--listen-client-urls", f"http://127.0.0.1:{client}",
                 "--advertise-client-urls", f"http://127.0.0.1:{client}",
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-cluster", initial, "--initial-cluster-state", "new",
                 "--logger", "zap", "--log-level", "warn"],
                stdout=log, stderr=log)
            self.members.append((proc, client))
        self.endpoints = ",".join(f"http://127.0.0.1:{c}" for _, c in self.members)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.call("/v3/kv/put", {"key": b64("ready"), "value": b64("1")})
                return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("etcd did not start")

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.members[0][1], timeout=10)

    def call(self, path, body, conn=None):
        c = conn or self.conn()
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        reply = json.loads(c.getresponse().read())
        if conn is None:
            c.close()
        return reply

    def stop(self):
        for proc, _ in self.members:
            proc.terminate()
        for proc, _ in self.members:
            proc.wait(10)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def timed(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def gateway_round_trip(cluster, runs):
    """put-if-absent txn + delete-if-mine txn on one kept-alive connection."""
    conn = cluster.conn()
    key = b64("bench/gateway")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        got = cluster.call("/v3/kv/txn", {
            "compare": [{"key": key, "target": "CREATE", "create_revision": "0"}],
            "success": [{"request_put": {"key": key, "value": b64("x")}}]}, conn)
        revision = got["header"]["revision"]
        cluster.call("/v3/kv/txn", {
            "compare": [{"key": key, "target": "CREATE", "create_revision": revision}],
            "success": [{"request_delete_range": {"key": key}}]}, conn)
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return times


def etcd_release_to_watch(cluster, runs):
    """A watcher on a key; the time from sending its delete to the watcher's event."""
    times = []
    for i in range(runs):
        key = b64(f"bench/watch/{i}")
        cluster.call("/v3/kv/put", {"key": key, "value": b64("x")})
        seen = threading.Event()
        ready = threading.Event()
        stamp = {}

        def watch():
            s = socket.create_connection(("127.0.0.1", cluster.members[-1][1]))
            body = json.dumps({"create_request": {"key": key}})
            s.sendall(f"POST /v3/watch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
            data = b""
            while b'"created":true' not in data:
                data += s.recv(65536)
            ready.set()
            while b'"events"' not in data:
                data += s.recv(65536)
            stamp["seen"] = time.perf_counter()
            seen.set()
            s.close()

        t = threading.Thread(target=watch)
        t.start()
        ready.wait(10)
        start = time.perf_counter()
        cluster.call("/v3/kv/deleterange", {"key": key})
        seen.wait(10)
        t.join()
        times.append((stamp["seen"] - start) * 1000)
    return times


def lokt_handoff(lokt, env, runs, workdir):
    """Holder's command ends -> waiter's command starts, both on monotonic clock."""
    times = []
    mark = os.path.join(workdir, "mark")
    for i in range(runs):
        name = f"handoff{i}"
        holder = subprocess.Popen(
            [lokt, "guard", name, "--", "sh", "-c",
             f"cat /proc/uptime >/dev/null; sleep 0.3; python3 -I -c 'import time;print(time.monotonic())' > {mark}.end"],
            env=env)
        time.sleep(0.1)
        waiter = subprocess.Popen(
            [lokt, "guard", name, "--wait", "--", "python3", "-I", "-c",
             f"import time;print(time.monotonic())"], env=env, stdout=subprocess.PIPE, text=True)
        out, _ = waiter.communicate(30)
        holder.wait(30)
        with open(mark + ".end") as f:
            ended = float(f.read())
        # The waiter's python starts after the grant; subtract its own start-up, measured alone.
        times.append((float(out) - ended) * 1000)
    return times


def python_start_ms(runs=10):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        out = subprocess.run(["python3", "-I", "-c", "import time;print(time.monotonic())"],
                             capture_output=True, text=True).stdout
        times.append((float(out) - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not shutil.which("etcd") or not shutil.which("etcdctl"):
        raise SystemExit("needs etcd and etcdctl: apt-get install etcd-server etcd-client")
    lokt = os.path.abspath(args.lokt)
    results = {}
    with tempfile.TemporaryDirectory(prefix="lokt-etcd-bench-") as root:
        one = Cluster(os.path.join(root, "one"), 1)
        try:
            env = dict(os.environ, LOKT_BACKEND="etcd", LOKT_ETCD_ENDPOINTS=one.endpoints,
                       LOKT_ETCD_PREFIX="bench/one", ETCDCTL_API="3")
            for _ in range(3):
                timed([lokt, "guard", "warm", "--", "true"], env)
            results["lokt guard -- true (ms)"] = [timed([lokt, "guard", "u", "--", "true"], env) for _ in range(args.runs)]
            results["etcdctl lock -- true (ms)"] = [
                timed(["etcdctl", "--endpoints", one.endpoints, "lock", "u-etcdctl", "--", "true"], env)
                for _ in range(max(5, args.runs // 2))]
            results["gateway lock+unlock round trip (ms)"] = gateway_round_trip(one, args.runs)
        finally:
            one.stop()
        three = Cluster(os.path.join(root, "three"), 3)
        try:
            env = dict(os.environ, LOKT_BACKEND="etcd", LOKT_ETCD_ENDPOINTS=three.endpoints, LOKT_ETCD_PREFIX="bench/three")
            results["gateway lock+unlock round trip, 3 members (ms)"] = gateway_round_trip(three, args.runs)
            results["etcd release-to-watch, 3 members (ms)"] = etcd_release_to_watch(three, args.runs)
            py = python_start_ms()
            raw = lokt_handoff(lokt, env, max(5, args.runs // 3), root)
            results["lokt handoff, 3 members (ms)"] = [t - py for t in raw]
        finally:
            three.stop()
    print(f"{'measure':55} {'p50':>8} {'p90':>8} {'runs':>5}")
    for name, values in results.items():
        print(f"{name:55} {pct(values, 50):8.2f} {pct(values, 90):8.2f} {len(values):5d}")
    ratio = pct(results["lokt guard -- true (ms)"], 50) / pct(results["etcdctl lock -- true (ms)"], 50)
    print(f"uncontended lokt guard / etcdctl lock, p50: {ratio:.3f}x")
    hand = pct(results["lokt handoff, 3 members (ms)"], 50) / pct(results["etcd release-to-watch, 3 members (ms)"], 50)
    print(f"lokt handoff / etcd release-to-watch, p50: {hand:.2f}x")


if __name__ == "__main__":
    main()
