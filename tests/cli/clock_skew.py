#!/usr/bin/env python3
"""Agents whose wall clocks are wrong must not break live holds, and must still
break expired ones. Runs in file mode and through loktd.

A "skewed" agent is the dynamically linked test build of lokt under libfaketime
(the real lokt is static, out of a preload library's reach): +2h or -1h, or a
clock stepped back an hour in the middle of a hold (FAKETIME_TIMESTAMP_FILE
rewritten while the holder runs). Every guarded section appends `enter` and
`leave` lines to one O_APPEND witness file; two enters without a leave between
them are an overlap.

1. A holder renewing (guard --ttl 1s over a 3 s section) against contenders
   of every other clock waiting for it, for each clock of the holder: no
   overlap, the holder never `lost`, no `stale-break` line at all.
2. An expired hold of a stopped holder (file mode: its guard is stopped) or a
   dead one (a TTL lock whose process is gone) is still broken by a skewed
   agent, within the TTL and a second, with one `stale-break` line.

Usage: clock_skew.py --lokt PATH --lokt-dynamic PATH --loktd PATH
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import script_setup  # noqa: E402

FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1"]

SECTION = 'echo "enter $$" >> "$0"; sleep %s; echo "leave $$" >> "$0"'


class Root:
    def __init__(self, args, backend):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="lokt-clock-")
        self.root = os.path.join(self.dir, "root")
        self.sock = os.path.join(self.dir, "d.sock")
        self.witness = os.path.join(self.dir, "witness")
        self.step_file = os.path.join(self.dir, "step")
        self.backend = backend
        self.daemon = None
        if backend == "daemon":
            self.daemon = script_setup.start_loktd(args.loktd, self.sock, self.env("real"),
                                                     os.path.join(self.dir, "loktd.log"), "w")

    def env(self, clock, owner="agent"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_") and not k.startswith("FAKETIME")}
        env.pop("LD_PRELOAD", None)
        env["LOKT_ROOT"] = self.root
        env["LOKT_SOCKET"] = self.sock
        env["LOKT_DAEMON"] = "require" if self.backend == "daemon" else "off"
        env["LOKT_OWNER"] = owner
        if clock != "real":
            env["LD_PRELOAD"] = self.args.faketime_lib
            env["FAKETIME_NO_CACHE"] = "1"
            # A wrong wall clock never moves CLOCK_MONOTONIC; libfaketime would.
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            if clock == "stepped":
                env["FAKETIME_TIMESTAMP_FILE"] = self.step_file
            else:
                env["FAKETIME"] = clock
        return env

    def argv(self, clock, args):
        return [self.args.lokt if clock == "real" else self.args.lokt_dynamic] + args

    def start(self, clock, args, owner="agent"):
        return subprocess.Popen(self.argv(clock, args), env=self.env(clock, owner), cwd=self.dir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, clock, args, owner="agent", timeout=60):
        return subprocess.run(self.argv(clock, args), env=self.env(clock, owner), cwd=self.dir, capture_output=True,
                              text=True, timeout=timeout)

    def audit(self):
        path = os.path.join(self.root, "audit.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def lock_record(self, name):
        with open(os.path.join(self.root, "locks", name + ".json")) as f:
            return json.load(f)

    def close(self):
        if self.daemon is not None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def overlaps(witness):
    inside = 0
    count = 0
    with open(witness) as f:
        for line in f:
            if line.startswith("enter"):
                inside += 1
                if inside > 1:
                    count += 1
            elif line.startswith("leave"):
                inside -= 1
    return count


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def renewing_holder(args, backend, holder_clock, problems):
    """A holder of holder_clock renewing; contenders of every other clock wait."""
    root = Root(args, backend)
    try:
        if holder_clock == "stepped":
            with open(root.step_file, "w") as f:
                f.write("+0\n")
        holder = root.start(holder_clock, ["guard", "c", "--ttl", "1s", "--", "sh", "-c", SECTION % "3", root.witness],
                            owner="holder")
        wait_for(lambda: os.path.exists(root.witness), 10, "the holder's section")
        if holder_clock == "stepped":
            with open(root.step_file, "w") as f:
                f.write("-1h\n")  # its wall clock now steps back an hour
        contenders = []
        for number, clock in enumerate(c for c in ("real", "+2h", "-1h") if c != holder_clock):
            contenders.append((clock, root.start(clock, ["guard", "c", "--ttl", "1s", "--wait", "--timeout", "20s", "--",
                                                          "sh", "-c", SECTION % "0.2", root.witness],
                                                 owner="contender-%d" % number)))
        out, err = holder.communicate(timeout=60)
        where = "%s, holder %s" % (backend, holder_clock)
        if holder.returncode != 0:
            problems.append("%s: the holder exited %d: %s" % (where, holder.returncode, err.strip()))
        for clock, contender in contenders:
            _, err = contender.communicate(timeout=60)
            if contender.returncode != 0:
                problems.append("%s: contender %s exited %d: %s" % (where, clock, contender.returncode, err.strip()))
        found = overlaps(root.witness)
        if found:
            problems.append("%s: %d overlaps in the witness" % (where, found))
        events = [e["event"] for e in root.audit()]
        for bad in ("stale-break", "lost"):
            if bad in events:
                problems.append("%s: %d %s lines in the audit log" % (where, events.count(bad), bad))
        renewals = events.count("renew")
        if renewals < 3:
            problems.append("%s: only %d renewals: the hold did not outlive its TTL" % (where, renewals))
        return renewals
    finally:
        root.close()


def expired_hold(args, backend, holder_state, breaker_clock, problems):
    """An expired hold (stopped guard, or a TTL lock whose process is gone) is
    broken by a skewed agent once its TTL lapses, with one stale-break line."""
    root = Root(args, backend)
    stopped = None
    try:
        if holder_state == "stopped":
            stopped = root.start("real", ["guard", "e", "--ttl", "1s", "--", "sleep", "30"], owner="holder")
            wait_for(lambda: os.path.exists(os.path.join(root.root, "locks", "e.json")), 10, "the stopped holder's lock")
            os.kill(stopped.pid, signal.SIGSTOP)
        else:
            done = root.run("real", ["lock", "e", "--ttl", "1s"], owner="holder")
            if done.returncode != 0:
                raise AssertionError("lock: " + done.stderr)
        record = root.lock_record("e")
        started = time.monotonic()
        got = root.run(breaker_clock, ["lock", "e", "--ttl", "5s", "--wait", "--timeout", "10s"], owner="breaker")
        took = time.monotonic() - started
        where = "%s, %s holder, breaker %s" % (backend, holder_state, breaker_clock)
        if got.returncode != 0:
            problems.append("%s: the breaker exited %d: %s" % (where, got.returncode, got.stderr.strip()))
        elif took > record["ttl_sec"] + 1.0:
            problems.append("%s: the breaker waited %.2fs for a %ds hold" % (where, took, record["ttl_sec"]))
        breaks = [e for e in root.audit() if e["event"] == "stale-break"]
        if len(breaks) != 1:
            problems.append("%s: %d stale-break lines, not 1" % (where, len(breaks)))
        return took
    finally:
        if stopped is not None:
            stopped.kill()
            stopped.wait()
        root.close()


def faking_works(args, problems):
    """The skewed agents' clocks are really off, or this test proves nothing."""
    root = Root(args, "files")
    try:
        done = root.run("+2h", ["lock", "f", "--ttl", "1m"])
        if done.returncode != 0:
            problems.append("faked lock failed: " + done.stderr)
            return
        acquired = root.lock_record("f")["acquired_ts"]
        real = time.strftime("%Y-%m-%dT%H", time.gmtime(time.time() + 7200))
        if not acquired.startswith(real):
            problems.append("libfaketime did not move the clock: acquired_ts %s, expected hour %s" % (acquired, real))
    finally:
        root.close()


def main():
    args = script_setup.parse_args(paths=("--lokt-dynamic",))
    args.faketime_lib = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
    if args.faketime_lib is None:
        print("libfaketime is not installed (package faketime)")
        return 1
    started = time.monotonic()
    problems = []
    faking_works(args, problems)
    for backend in ("files", "daemon"):
        for holder_clock in ("real", "+2h", "-1h", "stepped"):
            renewals = renewing_holder(args, backend, holder_clock, problems)
            print("%-7s renewing holder %-8s: %d renewals" % (backend, holder_clock, renewals), flush=True)
        for holder_state in ("stopped", "dead") if backend == "files" else ("dead",):
            for breaker_clock in ("+2h", "-1h"):
                took = expired_hold(args, backend, holder_state, breaker_clock, problems)
                print("%-7s %s holder broken by %s after %.2fs" % (backend, holder_state, breaker_clock, took), flush=True)
    for problem in problems:
        print("FAIL: " + problem)
    print("wall time %.1fs" % (time.monotonic() - started))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
