#!/usr/bin/env python3
"""lokt on etcd beside etcd's own tools, in one run on the same clusters.

1 member:  an uncontended `lokt guard NAME -- true` against `etcdctl lock NAME -- true`
           (both whole processes, as a script would run them), and one lock+unlock
           round trip through the JSON gateway on a kept-alive connection (the
           transactions lokt sends, without process start).
3 members: handoff between two holders (the first's command ends -> the second's
           command starts) against etcd's own release-to-watch latency (a delete
           -> a watcher sees it), p50 and p90; then throughput and fairness at
           N=8: two simulated hosts (each its own UTS and PID namespace when run
           as root, else only its own LOKT_OWNER and host name) of four workers,
           each looping `lokt guard x --wait -- true` for a fixed time, beside
           eight workers looping `etcdctl lock x -- true` on the same cluster.

Usage: python3 bench/etcd_bench.py --lokt build/client/lokt [--runs 30]
           [--baseline OTHER_LOKT] [--loktd build/daemon/loktd] [--seconds 10]
--baseline runs the lokt measures with a second binary too (an older build), in
the same run on the same clusters, for a before/after.
--loktd runs them a third way: --lokt through a private loktd (LOKT_DAEMON=require,
its own socket; one loktd per simulated host), whose lease the guards' holds go
on. The other rows run with LOKT_DAEMON=off: each process its own lease.
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
    """Holder's command ends -> waiter's command starts, as bash's $EPOCHREALTIME
    sees them (the holder's bash writes it as its last act; the waiter's bash
    prints it as its first, and bash's own start, measured alone, is subtracted)."""
    times = []
    mark = os.path.join(workdir, "mark")
    for i in range(runs):
        name = f"handoff{i}"
        holder = subprocess.Popen(
            [lokt, "guard", name, "--", "bash", "-c", f"sleep 0.3; echo $EPOCHREALTIME > {mark}.end"], env=env)
        time.sleep(0.1)
        waiter = subprocess.Popen(
            [lokt, "guard", name, "--wait", "--", "bash", "-c", "echo $EPOCHREALTIME"],
            env=env, stdout=subprocess.PIPE, text=True)
        out, _ = waiter.communicate(30)
        holder.wait(30)
        with open(mark + ".end") as f:
            ended = float(f.read())
        times.append((float(out) - ended) * 1000)
    return times


def bash_start_ms(runs=10):
    """From fork to bash's first word, as lokt's waiter sees its command start."""
    times = []
    for _ in range(runs):
        start = time.time()
        out = subprocess.run(["bash", "-c", "echo $EPOCHREALTIME"], capture_output=True, text=True).stdout
        times.append((float(out) - start) * 1000)
    return statistics.median(times)


def host_script(argv_loop, workers, seconds, host, out, loktd=None, workdir=None):
    """A shell script for one simulated host: `workers` loops of argv_loop for
    `seconds`, each appending "HOST WORKER SECTIONS" to out when done. With
    loktd, the host's own loktd runs first on a socket of its own (it ends
    with the host's PID namespace)."""
    script = f"hostname {host} 2>/dev/null\n"
    if loktd:
        sock = os.path.join(workdir, f"{host}.sock")
        script += (f"rm -f {sock}; {loktd} --socket {sock} >/dev/null 2>&1 &\n"
                   f"until [ -S {sock} ]; do sleep 0.05; done\n"
                   f"export LOKT_SOCKET={sock} LOKT_DAEMON=require\n")
    pids = []
    for w in range(workers):
        script += (f"( n=0; SECONDS=0; while [ $SECONDS -lt {seconds} ]; do "
                   f"{argv_loop} && n=$((n+1)); done; echo \"{host} {w} $n\" >> {out} ) &\n"
                   f"p{w}=$!\n")
        pids.append(f"$p{w}")
    return script + "wait " + " ".join(pids) + "\n"


def throughput(loop, env, hosts, workers, seconds, workdir, label, loktd=None):
    """Sections per second and per worker: every host's workers loop at once."""
    out = os.path.join(workdir, f"sections-{label}")
    if os.path.exists(out):
        os.remove(out)
    isolate = os.geteuid() == 0 and shutil.which("unshare") is not None
    procs = []
    for h in range(hosts):
        host = f"bench-host{h}"
        henv = dict(env, LOKT_OWNER=f"{label}-h{h}")
        script = host_script(loop, workers, seconds, f"{host}-{label}" if loktd else host, out, loktd, workdir)
        argv = ["bash", "-c", script]
        if isolate:
            argv = ["unshare", "--uts", "--pid", "--fork", "--mount-proc", "--kill-child"] + argv
        procs.append(subprocess.Popen(argv, env=henv, stderr=subprocess.DEVNULL))
    for p in procs:
        p.wait(seconds + 60)
    counts = []
    with open(out) as f:
        for line in f:
            counts.append(int(line.split()[2]))
    return {"total_per_s": sum(counts) / seconds, "min": min(counts), "max": max(counts),
            "workers": len(counts), "isolated": isolate}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--baseline", help="a second lokt to measure beside --lokt (before/after)")
    parser.add_argument("--loktd", help="also run --lokt through this loktd (one per simulated host)")
    parser.add_argument("--seconds", type=int, default=10, help="length of each N=8 throughput run")
    args = parser.parse_args()
    if not shutil.which("etcd") or not shutil.which("etcdctl"):
        raise SystemExit("needs etcd and etcdctl: apt-get install etcd-server etcd-client")
    lokt = os.path.abspath(args.lokt)
    binaries = [("lokt", lokt)]
    if args.baseline:
        binaries.append(("baseline", os.path.abspath(args.baseline)))
    loktd = os.path.abspath(args.loktd) if args.loktd else None
    if loktd:
        binaries.append(("lokt+loktd", lokt))
    results = {}
    flows = {}
    with tempfile.TemporaryDirectory(prefix="lokt-etcd-bench-") as root:
        daemon = None
        daemon_env = {"LOKT_DAEMON": "off"}
        if loktd:
            sock = os.path.join(root, "loktd.sock")
            daemon = subprocess.Popen([loktd, "--socket", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while not os.path.exists(sock):
                time.sleep(0.05)

        def env_of(label, env):
            if label == "lokt+loktd":
                return dict(env, LOKT_DAEMON="require", LOKT_SOCKET=sock)
            return dict(env, **daemon_env)

        one = Cluster(os.path.join(root, "one"), 1)
        try:
            env = dict(os.environ, LOKT_BACKEND="etcd", LOKT_ETCD_ENDPOINTS=one.endpoints,
                       LOKT_ETCD_PREFIX="bench/one", ETCDCTL_API="3")
            for label, binary in binaries:
                for _ in range(3):
                    timed([binary, "guard", "warm", "--", "true"], env_of(label, env))
            # Interleaved, so that a busy moment of the machine hits both alike.
            for label, _ in binaries:
                results[f"{label} guard -- true (ms)"] = []
            for _ in range(args.runs):
                for label, binary in binaries:
                    results[f"{label} guard -- true (ms)"].append(
                        timed([binary, "guard", "u", "--", "true"], env_of(label, env)))
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
            shell = bash_start_ms()
            for label, binary in binaries:
                raw = lokt_handoff(binary, env_of(label, env), max(5, args.runs // 3), root)
                results[f"{label} handoff, 3 members (ms)"] = [t - shell for t in raw]
            loop_env = dict(env, ETCDCTL_API="3")
            for label, binary in binaries:
                flows[f"{label} guard x --wait -- true"] = throughput(
                    f"{binary} -q guard x --wait -- true", dict(loop_env, **daemon_env), 2, 4, args.seconds, root,
                    label.replace("+", "-"), loktd if label == "lokt+loktd" else None)
            flows["etcdctl lock x -- true"] = throughput(
                f"etcdctl --endpoints {three.endpoints} lock x-etcdctl -- true >/dev/null",
                loop_env, 2, 4, args.seconds, root, "etcdctl")
        finally:
            three.stop()
            if daemon:
                daemon.terminate()
                daemon.wait(10)
    print(f"{'measure':55} {'p50':>8} {'p90':>8} {'runs':>5}")
    for name, values in results.items():
        print(f"{name:55} {pct(values, 50):8.2f} {pct(values, 90):8.2f} {len(values):5d}")
    for label, _ in binaries:
        ratio = pct(results[f"{label} guard -- true (ms)"], 50) / pct(results["etcdctl lock -- true (ms)"], 50)
        print(f"uncontended {label} guard / etcdctl lock, p50: {ratio:.3f}x")
        hand = pct(results[f"{label} handoff, 3 members (ms)"], 50) / pct(results["etcd release-to-watch, 3 members (ms)"], 50)
        print(f"{label} handoff / etcd release-to-watch, p50: {hand:.2f}x")
    print()
    print(f"N=8 (2 hosts x 4 workers, 3 members, {args.seconds} s each):")
    print(f"{'loop':45} {'sections/s':>10} {'min/worker':>10} {'max/worker':>10} {'workers':>7}")
    for name, flow in flows.items():
        print(f"{name:45} {flow['total_per_s']:10.1f} {flow['min']:10d} {flow['max']:10d} {flow['workers']:7d}"
              + ("" if flow["isolated"] else "  (hosts not isolated: not root)"))


if __name__ == "__main__":
    main()
