#!/usr/bin/env python3
"""Slot pools: `guard gpu --slots 3`, twelve worker processes, through loktd
and on the files.

The witness is the work each worker does inside its hold: under flock(1) it
counts who is inside and marks its slot (LOKT_SLOT) taken; a count above 3,
a slot taken twice, or a slot outside 0..2 is a violation. Meanwhile a
"Go-tool" pass reads every locks/*.json and judges it by the rules SPEC.md
documents for the older lokt (valid record, name matching the file, pid alive
with the same start time, TTL not elapsed): a slot held by a live worker that
those rules would prune is a failure.

Through the daemon also: FIFO (with every slot held, twelve waiters queue one
after another, and the daemon's `acquire` lines grant them in that order), and
a caller asking for another size is refused with exit 64, naming both sizes.

Usage: slot_pool.py --lokt PATH --loktd PATH
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import script_setup  # noqa: E402

SLOTS = 3
WORKERS = 12

WITNESS = r'''#!/bin/sh
# Inside a slot's hold: never more than SLOTS inside, each slot one holder.
W=$1
exec 9>>"$W/lock"
flock 9
n=0
[ -f "$W/inside" ] && read -r n < "$W/inside"
n=$((n + 1))
echo "$n" > "$W/inside"
[ "$n" -gt %(slots)d ] && echo "over $n $$" >> "$W/violations"
case "$LOKT_SLOT" in [0-9]*) ;; *) echo "no slot $$" >> "$W/violations" ;; esac
[ "$LOKT_SLOT" -ge %(slots)d ] && echo "slot $LOKT_SLOT out of range $$" >> "$W/violations"
mkdir "$W/slot-$LOKT_SLOT" 2>/dev/null || echo "slot $LOKT_SLOT twice $$" >> "$W/violations"
echo "enter $LOKT_SLOT $$" >> "$W/log"
flock -u 9
sleep 0.02
flock 9
rmdir "$W/slot-$LOKT_SLOT"
read -r n < "$W/inside"
echo $((n - 1)) > "$W/inside"
echo "leave $LOKT_SLOT $$" >> "$W/log"
''' % {"slots": SLOTS}


def ticks_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def rfc3339_seconds(text):
    # enough for the TTL rule: seconds since the epoch, fractions dropped
    return time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


def go_tool_verdict(path, record):
    """What the older lokt would do with this file, by SPEC.md's rules: None to
    keep it, else why it would remove it."""
    name = os.path.basename(path)[:-len(".json")]
    for key in ("name", "owner", "host", "pid", "acquired_ts"):
        if key not in record:
            return "no " + key
    if record["name"] != name:
        return "name %r in file %s" % (record["name"], name)
    if record.get("version", 0) > 1:
        return "version"
    if record["host"] == socket.gethostname():
        pid = record["pid"]
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "pid %d dead" % pid
        except PermissionError:
            pass
        start = record.get("pid_start_ns")
        if start is not None and ticks_of(pid) not in (None, start):
            return "pid %d recycled" % pid
    ttl = record.get("ttl_sec", 0)
    if ttl > 0 and rfc3339_seconds(record["acquired_ts"]) + ttl < time.time() - 1:
        return "TTL elapsed"
    return None


class Setup:
    def __init__(self, args, backend):
        self.args = args
        self.backend = backend
        self.dir = tempfile.mkdtemp(prefix="lokt-slots-")
        os.chmod(self.dir, 0o700)
        self.root = os.path.join(self.dir, "root")
        self.sock = os.path.join(self.dir, "d.sock")
        self.witness = os.path.join(self.dir, "witness")
        os.mkdir(self.witness)
        self.script = os.path.join(self.dir, "witness.sh")
        with open(self.script, "w") as f:
            f.write(WITNESS)
        os.chmod(self.script, 0o755)
        self.daemon = None
        if backend == "daemon":
            self.daemon = script_setup.start_loktd(args.loktd, self.sock, self.env("loktd"),
                                                   os.path.join(self.dir, "loktd.log"))

    def env(self, owner):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
        env["LOKT_ROOT"] = self.root
        env["LOKT_SOCKET"] = self.sock
        env["LOKT_DAEMON"] = "require" if self.backend == "daemon" else "off"
        env["LOKT_OWNER"] = owner
        return env

    def start(self, owner, argv):
        return subprocess.Popen([self.args.lokt] + argv, env=self.env(owner), cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, owner, argv, timeout=60):
        return subprocess.run([self.args.lokt] + argv, env=self.env(owner), cwd=self.dir, capture_output=True,
                              text=True, timeout=timeout)

    def audit(self):
        with open(os.path.join(self.root, "audit.log")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def close(self):
        if self.daemon is not None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def go_tool_watch(setup, stop, live_pids, problems, looks):
    locks = os.path.join(setup.root, "locks")
    while not stop.is_set():
        try:
            names = [n for n in os.listdir(locks) if n.endswith(".json") and not n.startswith(".")]
        except FileNotFoundError:
            names = []
        for name in names:
            path = os.path.join(locks, name)
            try:
                with open(path) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                continue  # gone between the listing and the read
            looks[0] += 1
            verdict = go_tool_verdict(path, record)
            if verdict is not None:
                # Judged after the holder released and exited? Then the file is gone (or another's) now.
                try:
                    with open(path) as f:
                        still = json.load(f).get("lock_id") == record.get("lock_id")
                except (OSError, ValueError):
                    still = False
                if not still:
                    continue
            if verdict is not None and record.get("pid") in live_pids:
                problems.append("the older tool's rules would remove %s held by a live worker: %s" % (name, verdict))
                stop.set()
        time.sleep(0.005)


def workload(setup, rounds, problems):
    """Twelve workers, each taking a slot `rounds` times, checked as they go."""
    stop = threading.Event()
    looks = [0]
    workers = []
    live_pids = set()
    for n in range(WORKERS):
        loop = 'for i in $(seq %d); do "%s" guard gpu --slots %d --wait --timeout 120s -- "%s" "%s" || exit $?; done' % (
            rounds, setup.args.lokt, SLOTS, setup.script, setup.witness)
        proc = subprocess.Popen(["sh", "-c", loop], env=setup.env("worker-%d" % n), cwd=setup.dir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        workers.append(proc)
    watcher = threading.Thread(target=go_tool_watch, args=(setup, stop, live_pids, problems, looks))
    # every guard is a child of a worker shell: their pids are the holders' pids
    def collect():
        while not stop.is_set():
            for proc in workers:
                try:
                    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                        live_pids.update(int(p) for p in f.read().split())
                except OSError:
                    pass
            time.sleep(0.001)
    collector = threading.Thread(target=collect)
    collector.start()
    watcher.start()
    for n, proc in enumerate(workers):
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            problems.append("%s worker %d exited %d: %s" % (setup.backend, n, proc.returncode, err.strip()))
    stop.set()
    watcher.join()
    collector.join()
    violations = os.path.join(setup.witness, "violations")
    if os.path.exists(violations):
        with open(violations) as f:
            problems.append("%s: the witness saw: %s" % (setup.backend, f.read().strip().replace("\n", "; ")))
    with open(os.path.join(setup.witness, "log")) as f:
        entries = [line.split() for line in f if line.startswith("enter")]
    used = sorted({int(e[1]) for e in entries})
    inside = peak = 0
    with open(os.path.join(setup.witness, "log")) as f:
        for line in f:
            inside += 1 if line.startswith("enter") else -1
            peak = max(peak, inside)
    if len(entries) != WORKERS * rounds:
        problems.append("%s: %d sections ran, not %d" % (setup.backend, len(entries), WORKERS * rounds))
    print("%-6s %d sections by %d workers, at most %d inside at once, slots used %s; the older tool's rules "
          "judged %d slot files, none wrongly" % (setup.backend, len(entries), WORKERS, peak, used, looks[0]), flush=True)
    if peak < 2:
        problems.append("%s: the pool never had two holders at once" % setup.backend)


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def queued(setup):
    done = setup.run("observer", ["status", "gpu", "--json"])
    if done.returncode != 0:
        return 0
    return len(json.loads(done.stdout).get("waiters", []))


def fifo_and_mismatch(setup, problems):
    """Every slot held by a blocker; twelve waiters queue in a known order."""
    gate = os.path.join(setup.dir, "gate")
    blockers = [setup.start("blocker-%d" % k, ["guard", "gpu", "--slots", str(SLOTS), "--", "sh", "-c",
                                               'while [ ! -e "%s" ]; do sleep 0.01; done' % gate])
                for k in range(SLOTS)]
    locks = os.path.join(setup.root, "locks")
    wait_for(lambda: os.path.isdir(locks) and len([n for n in os.listdir(locks) if n.startswith("gpu.slot-")]) == SLOTS,
             20, "the blockers' slots")
    held = setup.run("observer", ["status"])
    if "gpu %d/%d held" % (SLOTS, SLOTS) not in held.stdout:
        problems.append("status does not say the pool is full:\n" + held.stdout)

    mismatch = setup.run("other", ["guard", "gpu", "--slots", str(SLOTS + 1), "--", "true"])
    if mismatch.returncode != 64 or str(SLOTS) not in mismatch.stderr or str(SLOTS + 1) not in mismatch.stderr:
        problems.append("a caller asking for %d slots got exit %d: %s" % (SLOTS + 1, mismatch.returncode,
                                                                             mismatch.stderr.strip()))

    waiters = []
    for n in range(WORKERS):
        waiters.append(setup.start("waiter-%d" % n, ["guard", "gpu", "--slots", str(SLOTS), "--wait", "--timeout",
                                                     "60s", "--", setup.script, setup.witness]))
        wait_for(lambda: queued(setup) == n + 1, 20, "waiter %d in the queue" % n)
    why = setup.run("observer", ["why", "gpu"])
    for k in range(SLOTS):
        if "slot %d is held by blocker-" % k not in why.stdout:
            problems.append("why does not name slot %d's holder:\n%s" % (k, why.stdout))
    if "a new waiter would be number %d" % (WORKERS + 1) not in why.stdout:
        problems.append("why does not give the queue place:\n" + why.stdout)
    with open(gate, "w"):
        pass
    for proc in blockers + waiters:
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            problems.append("a guard exited %d: %s" % (proc.returncode, err.strip()))
    order = [e["pid"] for e in setup.audit() if e["event"] == "acquire" and e["name"].startswith("gpu.slot-")]
    expected = [p.pid for p in waiters]
    granted = [pid for pid in order if pid in expected]
    if granted != expected:
        problems.append("the waiters were not granted in queue order: queued %s, granted %s" % (expected, granted))
    else:
        print("daemon %d waiters granted in the order they queued; a caller asking for %d slots was refused: %s" % (
            WORKERS, SLOTS + 1, mismatch.stderr.strip()), flush=True)


def main():
    args = script_setup.parse_args(counts=(("--rounds", 8),))
    if not script_setup.have_flock():
        return 1
    started = time.monotonic()
    problems = []
    for backend in ("files", "daemon"):
        setup = Setup(args, backend)
        try:
            workload(setup, args.rounds, problems)
            if backend == "daemon":
                fifo_and_mismatch(setup, problems)
        finally:
            setup.close()
    for problem in problems:
        print("FAIL: " + problem)
    print("wall time %.1fs" % (time.monotonic() - started))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
