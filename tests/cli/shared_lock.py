#!/usr/bin/env python3
"""Shared locks: `guard data --shared`, through loktd and on the files.

Witnesses that cannot lie, in both backends:
- readers overlap: a second shared guard gets in, without --wait, while the
  first is still inside (its command sees the first one's "in" marker and no
  "out" marker);
- a writer is alone: shared and exclusive guards of several workers in a loop,
  each section counted under flock(1): an exclusive section with anyone else
  inside, or a shared one with a writer inside, is a violation. Meanwhile the
  older lokt's documented rules (valid record, pid alive with its start time,
  TTL not elapsed) are applied to locks/data.json every few milliseconds: a
  group whose top-level holder is a live worker must never look prunable;
- a queued writer is not starved: reader A holds, writer W waits, reader B
  asks with --wait after W began waiting (seen in the audit log, not guessed
  from time): B does not get in before W; a reader without --wait is refused
  meanwhile; after A leaves, W runs before B;
- no silent upgrade (exit 64), unlock of one member, a member killed with
  SIGKILL (guard and command) pruned while the others stay, --force of the
  whole group;
- a live group's dead and expired members removed by `status
  --prune-expired` and `unlock NAME --break-stale`, the live member kept;
- `status NAME` and `why NAME` name each waiter's mode (exclusive, shared);
- the older tool's `unlock NAME` (SPEC.md: read, check the owner, unlink)
  removes a whole group: each lokt member notices as a plain holder does.

Usage: shared_lock.py --lokt PATH --loktd PATH
"""

import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slot_pool import Setup, go_tool_verdict, wait_for  # noqa: E402
import script_setup  # noqa: E402

WORKERS = 6

WITNESS = r'''#!/bin/sh
# One section: $2 is "shared" or "exclusive". Counted under flock(1).
W=$1
exec 9>>"$W/lock"
flock 9
r=0; x=0
[ -f "$W/readers" ] && read -r r < "$W/readers"
[ -f "$W/writers" ] && read -r x < "$W/writers"
if [ "$2" = shared ]; then
  [ "$x" -gt 0 ] && echo "reader $$ entered with $x writer(s) inside" >> "$W/violations"
  r=$((r + 1)); echo "$r" > "$W/readers"
  echo "$r" >> "$W/reader_counts"
else
  [ "$x" -gt 0 ] || [ "$r" -gt 0 ] && echo "writer $$ entered with $r reader(s), $x writer(s) inside" >> "$W/violations"
  x=$((x + 1)); echo "$x" > "$W/writers"
fi
echo "enter $2 $$" >> "$W/log"
flock -u 9
sleep 0.01
flock 9
if [ "$2" = shared ]; then
  read -r r < "$W/readers"; echo $((r - 1)) > "$W/readers"
else
  read -r x < "$W/writers"; echo $((x - 1)) > "$W/writers"
fi
'''


def audit_has(setup, predicate):
    try:
        return any(predicate(e) for e in setup.audit())
    except (OSError, ValueError):
        return False


def group_of(setup):
    try:
        with open(os.path.join(setup.root, "locks", "data.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def readers_overlap(setup, problems):
    w = os.path.join(setup.dir, "overlap")
    os.mkdir(w)
    gate = os.path.join(w, "gate")
    first = setup.start("reader-1", ["guard", "data", "--shared", "--", "sh", "-c",
                                     'touch "%s/in"; while [ ! -e "%s" ]; do sleep 0.01; done; touch "%s/out"' % (w, gate, w)])
    wait_for(lambda: os.path.exists(os.path.join(w, "in")), 20, "reader 1 inside")
    exists = setup.run("observer", ["exists", "data"])
    if exists.returncode != 0:
        problems.append("%s: exists says %d while shared-held" % (setup.backend, exists.returncode))
    second = setup.run("reader-2", ["guard", "data", "--shared", "--", "sh", "-c",
                                    '[ -e "%s/in" ] && [ ! -e "%s/out" ] && [ "$LOKT_LOCK_MODE" = shared ] && touch "%s/both"'
                                    % (w, w, w)])
    status = setup.run("observer", ["status"])
    with open(gate, "w"):
        pass
    _, err = first.communicate(timeout=30)
    if second.returncode != 0 or not os.path.exists(os.path.join(w, "both")):
        problems.append("%s: reader 2 did not get in while reader 1 was inside (exit %d): %s" % (
            setup.backend, second.returncode, second.stderr.strip()))
    elif first.returncode != 0:
        problems.append("%s: reader 1 exited %d: %s" % (setup.backend, first.returncode, err.strip()))
    else:
        print("%-6s reader 2 ran inside reader 1's hold" % setup.backend, flush=True)
    del status


def go_tool_watch(setup, stop, live_pids, problems, looks):
    path = os.path.join(setup.root, "locks", "data.json")
    while not stop.is_set():
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            time.sleep(0.002)
            continue
        looks[0] += 1
        verdict = go_tool_verdict(path, record)
        if verdict is not None and record.get("pid") in live_pids:
            # Still the same file naming the same holder? (A holder that left
            # rewrote it before it exited.)
            try:
                with open(path) as f:
                    again = json.load(f)
                still = again.get("lock_id") == record.get("lock_id") and again.get("pid") == record.get("pid") and \
                    again.get("acquired_ts") == record.get("acquired_ts")
            except (OSError, ValueError):
                still = False
            if still:
                problems.append("%s: the older tool's rules would remove data.json (%s members): %s" % (
                    setup.backend, len(record.get("holders", [])), verdict))
                stop.set()
        time.sleep(0.003)


def writer_alone(setup, rounds, problems):
    w = os.path.join(setup.dir, "mixed")
    os.mkdir(w)
    stop = threading.Event()
    looks = [0]
    live_pids = set()
    workers = []
    for n in range(WORKERS):
        # workers 0 and 1 write now and then; the others read
        modes = ["exclusive" if (n < 2 and i % 3 == 0) else "shared" for i in range(rounds)]
        steps = " ".join(modes)
        loop = ('for m in %s; do if [ $m = shared ]; then s=--shared; else s=; fi; '
                '"%s" guard data $s --wait --timeout 120s -- "%s" "%s" $m || exit $?; done') % (
            steps, setup.args.lokt, setup.script, w)
        workers.append(subprocess.Popen(["sh", "-c", loop], env=setup.env("worker-%d" % n), cwd=setup.dir,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))

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
    watcher = threading.Thread(target=go_tool_watch, args=(setup, stop, live_pids, problems, looks))
    collector.start()
    watcher.start()
    for n, proc in enumerate(workers):
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            problems.append("%s worker %d exited %d: %s" % (setup.backend, n, proc.returncode, err.strip()))
    stop.set()
    watcher.join()
    collector.join()
    violations = os.path.join(w, "violations")
    if os.path.exists(violations):
        with open(violations) as f:
            problems.append("%s: the witness saw: %s" % (setup.backend, f.read().strip().replace("\n", "; ")))
    with open(os.path.join(w, "log")) as f:
        entries = [line.split() for line in f]
    writers = sum(1 for e in entries if e[1] == "exclusive")
    with open(os.path.join(w, "reader_counts")) as f:
        peak = max(int(line) for line in f if line.strip())
    if len(entries) != WORKERS * rounds:
        problems.append("%s: %d sections ran, not %d" % (setup.backend, len(entries), WORKERS * rounds))
    print("%-6s %d sections (%d exclusive) by %d workers, up to %d readers at once, never a writer with anyone; "
          "the older tool's rules judged the group %d times, never prunable" % (
              setup.backend, len(entries), writers, WORKERS, peak, looks[0]), flush=True)


def writer_not_starved(setup, problems):
    w = os.path.join(setup.dir, "fair")
    os.mkdir(w)
    order = os.path.join(w, "order")
    gate = os.path.join(w, "gate")
    a = setup.start("reader-a", ["guard", "data", "--shared", "--", "sh", "-c",
                                 'touch "%s/a-in"; while [ ! -e "%s" ]; do sleep 0.01; done; echo A-out >> "%s"'
                                 % (w, gate, order)])
    wait_for(lambda: os.path.exists(os.path.join(w, "a-in")), 20, "reader A inside")
    writer = setup.start("writer", ["guard", "data", "--wait", "--timeout", "60s", "--", "sh", "-c",
                                    'echo W >> "%s"' % order])
    wait_for(lambda: audit_has(setup, lambda e: e["event"] == "deny" and e.get("owner") == "writer" and
                               e.get("extra", {}).get("waiting")), 20, "the writer's wait in the audit log")
    b = setup.start("reader-b", ["guard", "data", "--shared", "--wait", "--timeout", "60s", "--", "sh", "-c",
                                 'echo B >> "%s"' % order])
    wait_for(lambda: audit_has(setup, lambda e: e["event"] == "deny" and e.get("owner") == "reader-b" and
                               e.get("extra", {}).get("waiting")), 20, "reader B's wait in the audit log")
    refused = setup.run("reader-c", ["guard", "data", "--shared", "--", "true"])
    if refused.returncode != 2 or "exclusive request waiting ahead" not in refused.stderr:
        problems.append("%s: a reader without --wait was not refused while a writer waits (exit %d): %s" % (
            setup.backend, refused.returncode, refused.stderr.strip()))
    if setup.backend == "daemon":
        st = json.loads(setup.run("observer", ["status", "data", "--json"]).stdout)
        queue = [q.get("owner") for q in st.get("waiters", [])]
        if queue != ["writer", "reader-b"]:
            problems.append("daemon: the queue is %s, not [writer, reader-b]" % queue)
    if os.path.exists(order):
        with open(order) as f:
            early = f.read().split()
        if early:
            problems.append("%s: %s got in while reader A held and the writer waited" % (setup.backend, early))
    with open(gate, "w"):
        pass
    for proc, who in ((a, "A"), (writer, "W"), (b, "B")):
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            problems.append("%s: %s exited %d: %s" % (setup.backend, who, proc.returncode, err.strip()))
    with open(order) as f:
        seen = f.read().split()
    if seen != ["A-out", "W", "B"]:
        problems.append("%s: the order was %s, not A-out W B" % (setup.backend, seen))
    else:
        print("%-6s reader B, asking after the writer began waiting, ran after it; a reader without --wait was "
              "refused: %s" % (setup.backend, refused.stderr.strip()), flush=True)


def members(setup):
    group = group_of(setup)
    return [] if group is None else [(m["owner"], m["pid"]) for m in group.get("holders", [])]


def maintenance(setup, problems):
    # No silent upgrade: nested, and the same explicit owner.
    nested = setup.run("up", ["guard", "data", "--shared", "--", setup.args.lokt, "guard", "data", "--", "true"])
    if nested.returncode != 64 or "does not upgrade" not in nested.stderr:
        problems.append("%s: an exclusive guard inside a shared one exited %d: %s" % (
            setup.backend, nested.returncode, nested.stderr.strip()))
    inner = setup.run("up", ["guard", "data", "--shared", "--", setup.args.lokt, "guard", "data", "--shared", "--",
                             "true"])
    if inner.returncode != 0:
        problems.append("%s: a shared guard inside a shared one exited %d" % (setup.backend, inner.returncode))
    for owner in ("agent-a", "agent-b"):
        done = setup.run(owner, ["lock", "data", "--shared", "--ttl", "2m"])
        if done.returncode != 0:
            problems.append("%s: %s's shared lock exited %d: %s" % (setup.backend, owner, done.returncode, done.stderr))
    again = setup.run("agent-a", ["lock", "data", "--ttl", "2m"])
    if again.returncode != 64 or "does not upgrade" not in again.stderr:
        problems.append("%s: agent-a's exclusive lock over its shared one exited %d: %s" % (
            setup.backend, again.returncode, again.stderr.strip()))
    other = setup.run("agent-x", ["lock", "data", "--ttl", "2m"])
    if other.returncode != 2 or "shared mode by 2 holders" not in other.stderr:
        problems.append("%s: an exclusive lock over two shared holders exited %d: %s" % (
            setup.backend, other.returncode, other.stderr.strip()))
    refresh = setup.run("agent-a", ["lock", "data", "--shared", "--ttl", "3m"])
    if refresh.returncode != 0 or "refreshed" not in refresh.stdout or len(members(setup)) != 2:
        problems.append("%s: agent-a's second shared lock did not refresh its member: %s %s" % (
            setup.backend, refresh.stdout.strip(), members(setup)))

    # A guard member killed with SIGKILL, command and all.
    marker = os.path.join(setup.dir, "victim-in")
    victim = subprocess.Popen([setup.args.lokt, "guard", "data", "--shared", "--", "sh", "-c",
                               'touch "%s"; sleep 600' % marker], env=setup.env("victim"), cwd=setup.dir,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(marker), 20, "the victim inside")
    if len(members(setup)) != 3:
        problems.append("%s: the group has %s, not 3 members" % (setup.backend, members(setup)))
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    if setup.backend == "files":
        # The command's processes may take a moment to be gone after the kill:
        # until then its liveness handle keeps the member live.
        wait_for(lambda: setup.run("observer", ["unlock", "data", "--break-stale"]).returncode == 0, 20,
                 "--break-stale of the dead member")
    wait_for(lambda: audit_has(setup, lambda e: e["event"] == "stale-break" and
                               e.get("extra", {}).get("holder_pid") == victim.pid), 20, "the dead member's stale-break")
    left = sorted(o for o, _ in members(setup))
    if left != ["agent-a", "agent-b"]:
        problems.append("%s: after the kill the group has %s" % (setup.backend, left))
    # One member's unlock leaves the other.
    gone = setup.run("agent-b", ["unlock", "data"])
    left = [o for o, _ in members(setup)]
    if gone.returncode != 0 or left != ["agent-a"]:
        problems.append("%s: agent-b's unlock exited %d and left %s" % (setup.backend, gone.returncode, left))
    setup.run("agent-b", ["lock", "data", "--shared", "--ttl", "2m"])
    forced = setup.run("human", ["unlock", "data", "--force"])
    if forced.returncode != 0 or group_of(setup) is not None:
        problems.append("%s: --force exited %d, file %s" % (setup.backend, forced.returncode, group_of(setup)))
    lines = [e for e in setup.audit() if e["event"] == "force-break" and e["name"] == "data"]
    if not lines or len(lines[-1].get("extra", {}).get("holders", [])) != 2:
        problems.append("%s: the force-break line does not list both members: %s" % (setup.backend, lines[-1:]))
    if not problems:
        print("%-6s no upgrade (exit 64), one member's unlock, a killed member pruned as stale-break, "
              "--force of the group: as described" % setup.backend, flush=True)


def deadlock_through_a_member(setup, problems):
    """agent-1 holds "a" shared (beside agent-3) and waits for "b"; agent-2
    holds "b" and asks for "a": it waits for every member, agent-1 included,
    so its wait closes a cycle and is refused at once (exit 5)."""
    setup.run("agent-1", ["lock", "a", "--shared", "--ttl", "2m"])
    setup.run("agent-3", ["lock", "a", "--shared", "--ttl", "2m"])
    setup.run("agent-2", ["lock", "b", "--ttl", "2m"])
    waiter = setup.start("agent-1", ["lock", "b", "--wait", "--timeout", "60s", "--ttl", "2m"])
    wait_for(lambda: audit_has(setup, lambda e: e["event"] == "deny" and e.get("owner") == "agent-1" and
                               e["name"] == "b" and e.get("extra", {}).get("waiting")), 20, "agent-1's wait for b")
    closing = setup.run("agent-2", ["lock", "a", "--wait", "--timeout", "60s", "--ttl", "2m"])
    if closing.returncode != 5 or 'agent-1@' not in closing.stderr:
        problems.append("%s: the wait through a shared member exited %d: %s" % (setup.backend, closing.returncode,
                                                                                closing.stderr.strip()))
    setup.run("agent-2", ["unlock", "b"])
    _, err = waiter.communicate(timeout=60)
    if waiter.returncode != 0:
        problems.append("%s: agent-1's wait for b exited %d: %s" % (setup.backend, waiter.returncode, err.strip()))
    elif closing.returncode == 5:
        print("%-6s a wait for a shared group that closes a cycle through one member is refused (exit 5)" % setup.backend,
              flush=True)


def record_of(setup, name):
    try:
        with open(os.path.join(setup.root, "locks", name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def owners_of(setup, name):
    record = record_of(setup, name)
    return [] if record is None else sorted(m["owner"] for m in record.get("holders", []))


def dead_member(setup, owner, name):
    """A shared member whose holder is gone: `lokt lock NAME --shared` without
    a TTL binds the hold to its parent, a shell that exits right after. Taken
    on the files (the daemon never learns of it), so that only the command
    under test can remove it. Returns the dead pid."""
    env = setup.env(owner)
    env["LOKT_DAEMON"] = "off"
    done = subprocess.run(["sh", "-c", '"$0" lock "$1" --shared --json; true', setup.args.lokt, name], env=env,
                          cwd=setup.dir, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError("%s's shared lock of %s exited %d: %s" % (owner, name, done.returncode, done.stderr))
    return json.loads(done.stdout)["pid"]


def dead_members_pruned(setup, problems):
    """A live group with a dead member (pid gone) and an expired one:
    `status --prune-expired` removes both, each audited (auto-prune) naming
    it, and keeps the live member; `unlock NAME --break-stale` removes a dead
    member (stale-break) and leaves the live one; with none dead it says "not
    stale" (exit 2)."""
    name = "pruned"
    live = setup.run("agent-live", ["lock", name, "--shared", "--ttl", "2m"])
    if live.returncode != 0:
        raise AssertionError("the live member's lock exited %d: %s" % (live.returncode, live.stderr))
    env = setup.env("agent-expired")
    env["LOKT_DAEMON"] = "off"
    expiring = subprocess.run([setup.args.lokt, "lock", name, "--shared", "--ttl", "1s", "--json"], env=env, cwd=setup.dir,
                              capture_output=True, text=True, timeout=60)
    if expiring.returncode != 0:
        raise AssertionError("the expiring member's lock exited %d: %s" % (expiring.returncode, expiring.stderr))
    # The dead member last: a join prunes the dead members it finds.
    dead_pid = dead_member(setup, "agent-dead", name)
    if owners_of(setup, name) != ["agent-dead", "agent-expired", "agent-live"]:
        raise AssertionError("the group has %s" % owners_of(setup, name))
    # Its TTL is one second: wait for the expiry its lock printed to pass.
    expiry = epoch_of(json.loads(expiring.stdout)["expires_at"])
    wait_for(lambda: time.time() > expiry + 0.05, 20, "the member's expiry")
    before = len(setup.audit())
    pruned = setup.run("observer", ["status", "--prune-expired", "--json"])
    lines = [e for e in setup.audit()[before:] if e["name"] == name]
    left = owners_of(setup, name)
    listed = [lock for lock in json.loads(pruned.stdout or "{}").get("locks", []) if lock["name"] == name]
    if pruned.returncode != 0 or left != ["agent-live"]:
        problems.append("%s: status --prune-expired exited %d and left %s" % (setup.backend, pruned.returncode, left))
    elif sorted((e["event"], e.get("extra", {}).get("holder", "").split("@")[0]) for e in lines) != [
            ("auto-prune", "agent-dead"), ("auto-prune", "agent-expired")]:
        problems.append("%s: status --prune-expired wrote %s" % (setup.backend, lines))
    elif not any(e.get("extra", {}).get("holder_pid") == dead_pid for e in lines):
        problems.append("%s: no auto-prune line names the dead pid %d: %s" % (setup.backend, dead_pid, lines))
    elif len(listed) != 1 or listed[0].get("state") != "held" or len(listed[0].get("holders", [])) != 1:
        problems.append("%s: status --prune-expired --json lists %s" % (setup.backend, listed))

    second_dead = dead_member(setup, "agent-dead-2", name)
    broke = setup.run("observer", ["unlock", name, "--break-stale"])
    left = owners_of(setup, name)
    lines = [e for e in setup.audit() if e["name"] == name and e["event"] == "stale-break"]
    if broke.returncode != 0 or left != ["agent-live"]:
        problems.append("%s: --break-stale of a dead member exited %d (%s) and left %s" % (
            setup.backend, broke.returncode, broke.stderr.strip(), left))
    elif not lines or lines[-1].get("extra", {}).get("holder_pid") != second_dead:
        problems.append("%s: no stale-break line names the dead member (pid %d): %s" % (setup.backend, second_dead, lines))
    again = setup.run("observer", ["unlock", name, "--break-stale"])
    if again.returncode != 2 or "not stale" not in again.stderr or owners_of(setup, name) != ["agent-live"]:
        problems.append("%s: --break-stale with every member alive exited %d: %s" % (
            setup.backend, again.returncode, again.stderr.strip()))
    setup.run("agent-live", ["unlock", name])
    if record_of(setup, name) is not None:
        problems.append("%s: the last member's unlock left %s" % (setup.backend, record_of(setup, name)))
    if not problems:
        print("%-6s a live group's dead and expired members: status --prune-expired removes them (auto-prune each), "
              "--break-stale one (stale-break), the live member stays" % setup.backend, flush=True)


def epoch_of(rfc3339):
    """Seconds since the epoch of a UTC RFC 3339 time as lokt writes it."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    stamp = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp() + (float("0." + fraction) if fraction else 0.0)


def queue_modes(setup, problems):
    """`status NAME` and `why NAME` name each waiter's mode behind shared
    holders: an exclusive waiter, then a shared one queued behind it."""
    name = "modes"
    held = setup.run("reader-1", ["lock", name, "--shared", "--ttl", "2m"])
    if held.returncode != 0:
        raise AssertionError("reader-1's shared lock exited %d: %s" % (held.returncode, held.stderr))
    writer = setup.start("writer-1", ["lock", name, "--wait", "--timeout", "60s", "--ttl", "2m"])
    wait_for(lambda: audit_has(setup, lambda e: e["event"] == "deny" and e.get("owner") == "writer-1" and
                               e["name"] == name and e.get("extra", {}).get("waiting")), 20, "the writer's wait")
    reader = setup.start("reader-2", ["lock", name, "--shared", "--wait", "--timeout", "60s", "--ttl", "2m"])
    wait_for(lambda: audit_has(setup, lambda e: e["event"] == "deny" and e.get("owner") == "reader-2" and
                               e["name"] == name and e.get("extra", {}).get("waiting")), 20, "the reader's wait")
    expected = [["writer-1", "exclusive"], ["reader-2", "shared"]]
    for command in ("status", "why"):
        shown = setup.run("observer", [command, name, "--json"])
        try:
            waiters = [[w.get("owner"), w.get("mode")] for w in json.loads(shown.stdout).get("waiters", [])]
        except ValueError:
            waiters = shown.stdout
        if waiters != expected:
            problems.append("%s: %s %s --json shows the waiters %s, not %s" % (setup.backend, command, name, waiters,
                                                                               expected))
        text = setup.run("observer", [command, name]).stdout
        if not ("writer-1@" in text and "asks exclusive" in text and "reader-2@" in text and "asks shared" in text and
                text.index("writer-1@") < text.index("reader-2@")):
            problems.append("%s: %s %s does not name each waiter's mode:\n%s" % (setup.backend, command, name, text))
    if setup.backend == "daemon":
        # lokt top: the group's mode, and what each waiter asks.
        top = json.loads(setup.run("observer", ["top", "--json"]).stdout)
        hold = [h for h in top.get("held", []) if h.get("name") == name]
        shown = [[w.get("owner"), w.get("mode")] for w in (hold[0].get("waiters", []) if hold else [])]
        if not hold or hold[0].get("mode") != "shared" or shown != expected:
            problems.append("daemon: lokt top --json shows %s" % hold)
        elif "asks exclusive" not in setup.run("observer", ["top", "--once"]).stdout:
            problems.append("daemon: lokt top --once does not say what the waiters ask")
    setup.run("reader-1", ["unlock", name])
    out, err = writer.communicate(timeout=60)
    if writer.returncode != 0:
        problems.append("%s: the writer exited %d: %s" % (setup.backend, writer.returncode, err.strip()))
    setup.run("writer-1", ["unlock", name])
    out, err = reader.communicate(timeout=60)
    if reader.returncode != 0:
        problems.append("%s: reader-2 exited %d: %s" % (setup.backend, reader.returncode, err.strip()))
    setup.run("reader-2", ["unlock", name])
    if not problems:
        print("%-6s status and why name each waiter's mode (exclusive, then shared behind it), text and --json"
              % setup.backend, flush=True)


def older_tool_unlock(root, name, owner):
    """The older Go lokt's `unlock NAME`, as SPEC.md documents it: it reads
    only locks/NAME.json, checks the owner string of its top-level holder
    fields, and removes the file (read, decide, unlink)."""
    path = os.path.join(root, "locks", name + ".json")
    with open(path) as f:
        record = json.load(f)
    if record.get("owner") != owner:
        return False
    os.unlink(path)
    return True


def older_tool_unlocks_group(setup, problems):
    """The older tool's `unlock NAME` by the representative's owner removes the
    whole group's file. Each lokt member then notices as a plain holder whose
    file is removed does: a guard stops its command at its next heartbeat
    (exit 6, a `lost` line); a manual member's `lokt unlock` finds nothing
    (exit 3), as a plain manual holder's does."""
    def guarded(owner, name, shared):
        marker = os.path.join(setup.dir, owner + "-in")
        argv = ["guard", name, "--ttl", "2s"] + (["--shared"] if shared else []) + [
            "--", "sh", "-c", 'touch "%s"; sleep 600' % marker]
        proc = subprocess.Popen([setup.args.lokt] + argv, env=setup.env(owner), cwd=setup.dir, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: os.path.exists(marker), 20, owner + " inside")
        return proc

    group_guard = guarded("member-g", "grp", True)
    setup.run("member-m", ["lock", "grp", "--shared", "--ttl", "2m"])
    plain_guard = guarded("plain-g", "plain-guarded", False)
    setup.run("plain-m", ["lock", "plain-manual", "--ttl", "2m"])
    if owners_of(setup, "grp") != ["member-g", "member-m"] or record_of(setup, "grp")["owner"] != "member-g":
        raise AssertionError("the group is %s" % record_of(setup, "grp"))
    for name, owner in (("grp", "member-g"), ("plain-guarded", "plain-g"), ("plain-manual", "plain-m")):
        if not older_tool_unlock(setup.root, name, owner):
            raise AssertionError("the older tool's unlock of %s refused %s" % (name, owner))
    outcomes = {}
    for who, proc in (("group member", group_guard), ("plain holder", plain_guard)):
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            problems.append("%s: the %s's guard did not notice its file removed" % (setup.backend, who))
            continue
        outcomes[who] = proc.returncode
        if proc.returncode != 6:
            problems.append("%s: the %s's guard exited %d, not 6: %s" % (setup.backend, who, proc.returncode, err.strip()))
    for name, owner in (("grp", "member-g"), ("plain-guarded", "plain-g")):
        if not audit_has(setup, lambda e: e["event"] == "lost" and e["name"] == name and e.get("owner") == owner):
            problems.append("%s: no `lost` line for %s's hold of %s" % (setup.backend, owner, name))
    member = setup.run("member-m", ["unlock", "grp"])
    plain = setup.run("plain-m", ["unlock", "plain-manual"])
    if member.returncode != plain.returncode or member.returncode != 3:
        problems.append("%s: after the older tool's unlock, the manual member's unlock exited %d (%s), a plain "
                        "holder's %d (%s)" % (setup.backend, member.returncode, member.stderr.strip(), plain.returncode,
                                              plain.stderr.strip()))
    if not problems:
        print("%-6s the older tool's unlock of a group: each lokt member notices as a plain holder does (guards %s, "
              "manual unlock exit %d)" % (setup.backend, outcomes, member.returncode), flush=True)


def main():
    args = script_setup.parse_args(counts=(("--rounds", 9),))
    if not script_setup.have_flock():
        return 1
    started = time.monotonic()
    problems = []
    for backend in ("files", "daemon"):
        setup = Setup(args, backend)
        with open(setup.script, "w") as f:
            f.write(WITNESS)
        try:
            for scenario in (readers_overlap, lambda s, p: writer_alone(s, args.rounds, p), writer_not_starved,
                             maintenance, deadlock_through_a_member, dead_members_pruned, queue_modes,
                             older_tool_unlocks_group):
                try:
                    scenario(setup, problems)
                except (AssertionError, subprocess.TimeoutExpired) as error:
                    problems.append("%s: %s" % (backend, error))
        finally:
            setup.close()
    for problem in problems:
        print("FAIL: " + problem)
    print("wall time %.1fs" % (time.monotonic() - started))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
