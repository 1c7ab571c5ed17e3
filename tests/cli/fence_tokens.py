#!/usr/bin/env python3
"""Fencing tokens only grow. A thousand grants of one name, by file-mode lokt
and through loktd at once, across a daemon restart (SIGTERM) and a daemon
killed with SIGKILL, with guards killed with SIGKILL in the middle of their
acquire all along.

The witness is the resource a token protects: a shell script run as the
guarded command that, under flock(1), keeps the highest token it has seen in
a file, accepts a greater one and rejects any other. It must never reject a
live holder (every guarded command holds the lock when it runs). The audit
log's `acquire` lines must carry strictly increasing tokens too. Last, a hold
that lapsed (a TTL lock whose holder "paused") is refused by the witness once
a newer holder has been accepted: the stale token is what fencing is for.

Usage: fence_tokens.py --lokt PATH --loktd PATH [--grants N]
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import script_setup  # noqa: E402

WITNESS = r'''#!/bin/sh
# The resource: refuses any token not greater than the highest it has seen.
W=$1
exec 9>>"$W/lock"
flock 9
top=0
[ -f "$W/top" ] && read -r top < "$W/top"
if [ -z "$LOKT_FENCE" ] || [ "$LOKT_FENCE" -le "$top" ]; then
  echo "reject ${LOKT_FENCE:-none} $top $$" >> "$W/log"
  exit 3
fi
echo "$LOKT_FENCE" > "$W/top"
echo "accept $LOKT_FENCE $$" >> "$W/log"
'''


class Setup:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="lokt-fence-")
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

    def env(self, backend, owner):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
        env["LOKT_ROOT"] = self.root
        env["LOKT_SOCKET"] = self.sock
        # auto: through loktd while it answers, on the files while it restarts.
        env["LOKT_DAEMON"] = "auto" if backend == "daemon" else "off"
        env["LOKT_OWNER"] = owner
        return env

    def start_daemon(self):
        self.daemon = script_setup.start_loktd(self.args.loktd, self.sock, self.env("files", "loktd"),
                                                 os.path.join(self.dir, "loktd.log"), "a")

    def stop_daemon(self, sig):
        if self.daemon is None:
            return
        self.daemon.send_signal(sig)
        try:
            self.daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
        self.daemon = None
        if sig == signal.SIGKILL and os.path.exists(self.sock):
            os.unlink(self.sock)  # a killed daemon leaves its socket

    def guard_argv(self):
        return [self.args.lokt, "guard", "f", "--wait", "--timeout", "120s", "--", self.script, self.witness]

    def accepted(self):
        path = os.path.join(self.witness, "log")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return sum(1 for line in f if line.startswith("accept"))

    def audit(self):
        with open(os.path.join(self.root, "audit.log")) as f:
            out = []
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line cut short by a kill
            return out

    def close(self):
        self.stop_daemon(signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)


def worker(setup, backend, number, stop, problems):
    env = setup.env(backend, "%s-%d" % (backend, number))
    while not stop.is_set():
        done = subprocess.run(setup.guard_argv(), env=env, cwd=setup.dir, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            problems.append("%s worker %d: guard exited %d: %s" % (backend, number, done.returncode, done.stderr.strip()))
            stop.set()


def killer(setup, stop, kills):
    rng = random.Random(14)
    while not stop.is_set():
        backend = rng.choice(("files", "daemon"))
        proc = subprocess.Popen(setup.guard_argv(), env=setup.env(backend, "killed"), cwd=setup.dir,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.02))
        proc.kill()
        proc.wait()
        kills[0] += 1
        stop.wait(rng.uniform(0.02, 0.06))  # leave the machine to the workers in between


def main():
    args = script_setup.parse_args(counts=(("--grants", 1000),))
    if not script_setup.have_flock():
        return 1
    started = time.monotonic()
    setup = Setup(args)
    problems = []
    try:
        setup.start_daemon()
        stop = threading.Event()
        kills = [0]
        threads = [threading.Thread(target=worker, args=(setup, backend, n, stop, problems))
                   for n, backend in enumerate(("files", "daemon", "files", "daemon"))]
        threads.append(threading.Thread(target=killer, args=(setup, stop, kills)))
        for t in threads:
            t.start()
        restarts = [(args.grants // 3, signal.SIGTERM), (2 * args.grants // 3, signal.SIGKILL)]
        deadline = time.monotonic() + 240
        while setup.accepted() < args.grants and not stop.is_set():
            if time.monotonic() > deadline:
                problems.append("only %d grants in 240 s" % setup.accepted())
                break
            if restarts and setup.accepted() >= restarts[0][0]:
                _, sig = restarts.pop(0)
                setup.stop_daemon(sig)
                setup.start_daemon()
                print("loktd stopped with %s and started again after %d grants" % (sig.name, setup.accepted()),
                      flush=True)
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(timeout=200)

        with open(os.path.join(setup.witness, "log")) as f:
            log = f.read().split("\n")
        rejects = [line for line in log if line.startswith("reject")]
        if rejects:
            problems.append("the witness rejected %d live holders, first: %s" % (len(rejects), rejects[0]))
        accepted = [int(line.split()[1]) for line in log if line.startswith("accept")]
        acquires = [e for e in setup.audit() if e["event"] == "acquire" and e["name"] == "f"]
        fences = [e.get("extra", {}).get("fence") for e in acquires]
        if None in fences:
            problems.append("an acquire line without a fence")
        else:
            regressions = [(a, b) for a, b in zip(fences, fences[1:]) if b <= a]
            if regressions:
                problems.append("audit acquire fences not strictly increasing: %s" % regressions[:5])
        hosts = {e["pid"] for e in acquires}
        print("%d grants accepted by the witness, %d acquire lines from %d processes, %d guards killed mid-acquire, "
              "last token %d" % (len(accepted), len(acquires), len(hosts), kills[0], accepted[-1] if accepted else 0))
        if len(accepted) < args.grants:
            problems.append("only %d grants" % len(accepted))

        # The point of it all: a holder whose hold lapsed is refused by the resource.
        env = setup.env("daemon", "paused")
        stale = subprocess.run([args.lokt, "lock", "f", "--ttl", "1s", "--wait", "--json"], env=env, cwd=setup.dir,
                               capture_output=True, text=True, timeout=60)
        stale_fence = json.loads(stale.stdout)["fence"]
        time.sleep(1.2)  # it "pauses" past its TTL (the scenario, not a synchronisation)
        fresh = subprocess.run(setup.guard_argv(), env=setup.env("files", "fresh"), cwd=setup.dir, capture_output=True,
                               text=True, timeout=60)
        if fresh.returncode != 0:
            problems.append("the holder after the lapsed one exited %d: %s" % (fresh.returncode, fresh.stderr.strip()))
        late = subprocess.run([setup.script, setup.witness], env=dict(env, LOKT_FENCE=str(stale_fence)),
                              capture_output=True, text=True)
        if late.returncode != 3:
            problems.append("the witness accepted the lapsed holder's token %d" % stale_fence)
        else:
            print("the lapsed holder's token %d was refused" % stale_fence)
    finally:
        setup.close()
    for problem in problems:
        print("FAIL: " + problem)
    print("wall time %.1fs" % (time.monotonic() - started))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
