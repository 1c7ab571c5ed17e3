#!/usr/bin/env python3
"""A kill at every system call: each operation of lokt (and loktd's grant and
release paths) is run once under strace to list its system calls, then once
per system call with strace delivering SIGKILL on entry to that very call
(`-e inject=NAME:signal=SIGKILL:when=K`: the K-th call of NAME). After each kill
the root must recover:

- no file wedges it: nothing but NAME.json in locks/ and freezes/ (no temp
  file), and every mutex/ file can be locked at once;
- the next acquirer gets the lock at once when the killed holder is dead, or
  once the TTL lapses when the hold was TTL-bound (short TTLs here);
- the audit log is one valid JSON object per line;
- for loktd's release: no hold has two `release` lines (a daemon killed
  between its line and the unlink must not have the client's release on the
  files audit it again);
- no `release` line without an `acquire` of the same hold before it (a
  daemon killed between a guard's lock file and its `acquire` line leaves the
  line to the guard that carries the hold on).

strace counts invocations per system call and per process, so (NAME, K) for K
from 1 to the count of NAME names every call of the operation exactly once.
Only the operation's own process is traced (a guarded command runs untraced,
as it would when an agent kills `lokt guard` alone). For loktd, strace attaches
to the running daemon (all its threads) just before the client's request.

Prints a table of kill points per operation and the slowest recovery; exits 1
on any failure. Usage: kill_every_step.py --lokt PATH --loktd PATH [--jobs N]
"""

import argparse
import collections
import concurrent.futures
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NAME = "k"
AT_ONCE = 1.0  # seconds a recovery may take when the holder is dead
TTL_MARGIN = 1.0  # seconds past a TTL-bound hold's TTL

LINE = re.compile(r"^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?([a-z_0-9]+)\(")


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
    env["LOKT_OWNER"] = "killer"
    return env


class Run:
    """One scratch root (and, for the daemon's scenarios, one loktd)."""

    def __init__(self, args, base, daemon):
        self.args = args
        self.dir = tempfile.mkdtemp(dir=base)
        self.root = os.path.join(self.dir, "root")
        self.sock = os.path.join(self.dir, "d.sock")
        self.daemon = None
        if daemon:
            self.start_daemon()

    def env(self, backend):
        env = clean_env()
        env["LOKT_ROOT"] = self.root
        env["LOKT_SOCKET"] = self.sock
        env["LOKT_DAEMON"] = backend
        return env

    def lokt(self, argv, backend="off", check=True, timeout=30, owner="killer"):
        env = self.env(backend)
        env["LOKT_OWNER"] = owner
        done = subprocess.run([self.args.lokt] + argv, env=env, cwd=self.dir,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError("lokt %s: exit %d: %s" % (" ".join(argv), done.returncode, done.stderr.strip()))
        return done

    def start_daemon(self):
        log = open(os.path.join(self.dir, "loktd.log"), "w")
        self.daemon = subprocess.Popen([self.args.loktd, "--socket", self.sock], env=self.env("off"),
                                       stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise AssertionError("loktd exited at start")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.sock)
                    return
            except OSError:
                time.sleep(0.005)
        raise AssertionError("loktd did not listen")

    def stop_daemon(self):
        if self.daemon is not None:
            if self.daemon.poll() is None:
                self.daemon.kill()
            self.daemon.wait()
            self.daemon = None

    def close(self):
        self.stop_daemon()
        shutil.rmtree(self.dir, ignore_errors=True)


def strace_attach(pid, extra):
    """strace attached to every thread of pid; returns once all are attached."""
    threads = len(os.listdir("/proc/%d/task" % pid))
    tracer = subprocess.Popen(["strace", "-f", "-p", str(pid)] + extra, stderr=subprocess.PIPE, text=True)
    attached = 0
    while attached < threads:
        line = tracer.stderr.readline()
        if not line:
            break
        if "attached" in line:
            attached += 1
    return tracer


def count_calls(trace_file):
    """(name, k) for every system call in an strace -o file, k per process."""
    counts = collections.Counter()
    points = []
    with open(trace_file) as f:
        for line in f:
            m = LINE.match(line)
            if not m or "resumed>" in line:
                continue
            tid = m.group(1) or m.group(2) or "0"
            counts[(tid, m.group(3))] += 1
            points.append((m.group(3), counts[(tid, m.group(3))]))
    # The same (name, k) of two threads is one kill point: strace kills the first to reach it.
    return list(dict.fromkeys(points))


# ---- the operations -------------------------------------------------------

class Scenario:
    daemon = False
    op_backend = "off"
    # Checked after every kill: no lock_id has two `release` lines. (A lokt
    # killed on the files between its line and its unlink leaves both for the
    # next unlock, which cannot know of the line without reading the log.)
    releases_once = False

    def setup(self, run):
        pass

    def argv(self):
        raise NotImplementedError

    def after_kill(self, run):
        """What the killed party's user does next before anyone acquires."""


class Lock(Scenario):
    title = "lock --ttl 1s"

    def argv(self):
        return ["lock", NAME, "--ttl", "1s"]


class Guard(Scenario):
    title = "guard -- true"

    def argv(self):
        return ["guard", NAME, "--", "true"]


class Renewal(Scenario):
    title = "guard --ttl 1s (renewing)"

    def argv(self):
        # Renews at 0.5 s: the command outlives one renewal.
        return ["guard", NAME, "--ttl", "1s", "--", "sleep", "0.7"]


class Unlock(Scenario):
    title = "unlock"

    def setup(self, run):
        run.lokt(["lock", NAME, "--ttl", "60s"])

    def argv(self):
        return ["unlock", NAME]

    def after_kill(self, run):
        done = run.lokt(["unlock", NAME], check=False)
        if done.returncode not in (0, 3):
            raise AssertionError("unlock again: exit %d: %s" % (done.returncode, done.stderr.strip()))


class BreakStale(Scenario):
    title = "unlock --break-stale"

    def setup(self, run):
        # Bound to the shell that ran it, which exits at once: a dead holder.
        subprocess.run(["sh", "-c", '"$0" lock %s' % NAME, run.args.lokt], env=run.env("off"), cwd=run.dir,
                       check=True, capture_output=True)

    def argv(self):
        return ["unlock", NAME, "--break-stale"]


class Freeze(Scenario):
    title = "freeze --ttl 1s"

    def argv(self):
        return ["freeze", NAME, "--ttl", "1s"]


class DaemonGrant(Scenario):
    title = "loktd: grant (lock --ttl 1s)"
    daemon = True
    op_backend = "auto"

    def argv(self):
        return ["lock", NAME, "--ttl", "1s"]


class DaemonGuard(DaemonGrant):
    title = "loktd: guard -- true"

    def argv(self):
        return ["guard", NAME, "--", "true"]


class DaemonRelease(Scenario):
    title = "loktd: release (unlock)"
    daemon = True
    op_backend = "auto"
    releases_once = True

    def setup(self, run):
        run.lokt(["lock", NAME, "--ttl", "60s"], backend="require")

    def argv(self):
        return ["unlock", NAME]

    def after_kill(self, run):
        done = run.lokt(["unlock", NAME], check=False)
        if done.returncode not in (0, 3):
            raise AssertionError("unlock again: exit %d: %s" % (done.returncode, done.stderr.strip()))


SCENARIOS = [Lock(), Guard(), Renewal(), Unlock(), BreakStale(), Freeze(), DaemonGrant(), DaemonGuard(), DaemonRelease()]


# ---- one run ----------------------------------------------------------------

def run_op(run, scenario, point, trace_file=None):
    """Runs the operation; with point=(name, k) strace kills the process at that
    call. Returns True when the kill happened."""
    inject = []
    if point is not None:
        inject = ["-e", "trace=" + point[0], "-e", "inject=%s:signal=SIGKILL:when=%d" % point]
    output = ["-o", trace_file] if trace_file else ["-o", "/dev/null"]
    argv = [run.args.lokt] + scenario.argv()
    if not scenario.daemon:
        proc = subprocess.Popen(["strace", "-qq"] + output + inject + argv, env=run.env(scenario.op_backend),
                                cwd=run.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=30)
        finally:
            kill_group(proc.pid)
        return proc.returncode == -signal.SIGKILL
    tracer = strace_attach(run.daemon.pid, output + inject)
    try:
        client = subprocess.run(argv, env=run.env(scenario.op_backend), cwd=run.dir, capture_output=True, timeout=30)
        killed = run.daemon.poll() is not None or wait_exit(run.daemon, 0.05)
        if trace_file and client.returncode != 0:
            raise AssertionError("the operation failed untouched: %s" % client.stderr.decode().strip())
    finally:
        if tracer.poll() is None:
            tracer.send_signal(signal.SIGINT)  # detach
        tracer.communicate(timeout=30)
    if killed:
        run.stop_daemon()
    return killed


def wait_exit(proc, seconds):
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def check_root(run, when, left=None, releases_once=False):
    """Problems with the root; with `left`, a rewrite's temp file is allowed
    (and counted there): a kill between its link and its rename leaves it for
    the next writer of the name, which removes it."""
    problems = []
    released = set()
    acquired = set()
    for area in ("locks", "freezes"):
        path = os.path.join(run.root, area)
        if not os.path.isdir(path):
            continue
        for entry in os.listdir(path):
            if left is not None and entry == "." + NAME + ".renew.tmp":
                left.append(area + "/" + entry)
            elif entry != NAME + ".json":
                problems.append("%s: stray %s/%s" % (when, area, entry))
    mutex = os.path.join(run.root, "mutex")
    if os.path.isdir(mutex):
        for entry in os.listdir(mutex):
            with open(os.path.join(mutex, entry), "rb") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    problems.append("%s: mutex/%s is stuck" % (when, entry))
    log = os.path.join(run.root, "audit.log")
    if os.path.exists(log):
        with open(log, "rb") as f:
            for number, line in enumerate(f.read().split(b"\n")[:-1], 1):
                try:
                    event = json.loads(line)
                    if not isinstance(event, dict):
                        raise ValueError
                except ValueError:
                    problems.append("%s: audit.log line %d is not a JSON object: %r" % (when, number, line[:80]))
                    continue
                if event.get("event") == "acquire":
                    acquired.add(event.get("lock_id"))
                if event.get("event") == "release" and event.get("lock_id") not in acquired:
                    problems.append("%s: audit.log line %d releases %s, never acquired in the log" %
                                    (when, number, event.get("lock_id")))
                if releases_once and event.get("event") == "release":
                    if event.get("lock_id") in released:
                        problems.append("%s: audit.log line %d releases %s a second time" % (when, number, event.get("lock_id")))
                    released.add(event.get("lock_id"))
    return problems


def ttl_bound_wait(run):
    """How long the next acquirer may have to wait: a TTL when a TTL-bound hold
    or a freeze is in the way, else nothing."""
    allowed = AT_ONCE
    for area in ("locks", "freezes"):
        try:
            with open(os.path.join(run.root, area, NAME + ".json")) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if area == "freezes" or record.get("bound_to") == "ttl":
            allowed = max(allowed, record.get("ttl_sec", 0) + TTL_MARGIN)
    return allowed


def one_point(args, base, scenario, point):
    run = Run(args, base, scenario.daemon)
    try:
        scenario.setup(run)
        killed = run_op(run, scenario, point)
        left = []
        problems = check_root(run, "after the kill", left)
        run.stop_daemon()  # the next acquirer works on the files
        scenario.after_kill(run)
        allowed = ttl_bound_wait(run)
        started = time.monotonic()
        # Another agent: the same explicit owner would re-enter a manual lock.
        got = run.lokt(["lock", NAME, "--ttl", "30s", "--wait", "--timeout", "%ds" % (allowed + 5)], check=False,
                       owner="next")
        took = time.monotonic() - started
        if got.returncode != 0:
            problems.append("the next acquirer failed: exit %d: %s" % (got.returncode, got.stderr.strip()))
        elif took > allowed:
            problems.append("the next acquirer waited %.2fs (allowed %.1fs)" % (took, allowed))
        run.lokt(["unlock", NAME], check=False, owner="next")
        problems += check_root(run, "after recovery", releases_once=scenario.releases_once)
        return killed, took, bool(left), problems
    except Exception as e:  # noqa: BLE001 - reported as this point's failure
        return False, 0.0, False, ["error: %s" % e]
    finally:
        run.close()


def kill_points(args, base, scenario):
    run = Run(args, base, scenario.daemon)
    try:
        scenario.setup(run)
        trace = os.path.join(run.dir, "trace.txt")
        run_op(run, scenario, None, trace)
        return count_calls(trace)
    finally:
        run.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--loktd", required=True)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--only", help="run only scenarios whose title contains this")
    args = parser.parse_args()
    args.lokt = os.path.abspath(args.lokt)
    args.loktd = os.path.abspath(args.loktd)
    if shutil.which("strace") is None:
        print("strace is not installed")
        return 1
    started = time.monotonic()
    base = tempfile.mkdtemp(prefix="lokt-kill-")
    failures = 0
    print("%-30s %6s %7s %9s %9s %9s" % ("operation", "calls", "killed", "temp left", "slowest", "failures"))
    try:
        for scenario in SCENARIOS:
            if args.only and args.only not in scenario.title:
                continue
            points = kill_points(args, base, scenario)
            with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
                results = list(pool.map(lambda p: (p, one_point(args, base, scenario, p)), points))
            killed = sum(1 for _, (k, _, _, _) in results if k)
            left = sum(1 for _, (_, _, l, _) in results if l)
            slowest = max((t for _, (_, t, _, _) in results), default=0.0)
            bad = [(p, probs) for p, (_, _, _, probs) in results if probs]
            failures += len(bad)
            if not points:
                bad.append((("none", 0), ["no system calls counted"]))
                failures += 1
            print("%-30s %6d %7d %9d %8.2fs %9d" % (scenario.title, len(points), killed, left, slowest, len(bad)),
                  flush=True)
            leaving = ["%s #%d" % p for p, (_, _, l, _) in results if l]
            if leaving:
                print("  temp file left at: " + ", ".join(leaving))
            for (name, k), probs in bad:
                for problem in probs:
                    print("  kill at %s #%d: %s" % (name, k, problem))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("wall time %.1fs" % (time.monotonic() - started))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
