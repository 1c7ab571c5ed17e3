#!/usr/bin/env python3
"""How fast `lokt audit --stats` and `--timeline` are on a big window, and how
fast headless Chromium loads and draws the resulting page.

It writes a realistic audit log of LINES lines (default 1,000,000) spread
over the 8 hours before now: 50 lock names, 12 agents, holds of a few
seconds renewed by their guards, refusals, waiters that queue and are
granted, a few force-unlocks, expiries broken as stale, lost locks, and
freezes of "deploy". Then it times, each RUNS times (the median and the
spread are reported):

  lokt audit --since 8h --stats          (the text summary)
  lokt audit --since 8h --stats --json
  lokt audit --since 8h --timeline PAGE  (wall time, page size)
  chromium --headless --dump-dom PAGE    (the page's own clock: the script
                                          records when it has drawn, read
                                          from the dumped DOM; and the wall
                                          time of the whole Chromium run,
                                          next to that of an empty page)

Usage:
  python3 bench/timeline_bench.py --lokt build/client/lokt [--lines N] [--runs N]
                                  [--chromium /usr/bin/chromium] [--workdir DIR] [--keep]
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
]


def ts_text(epoch_ns):
    seconds, frac = divmod(epoch_ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return text + ("." + f"{frac:09d}".rstrip("0") if frac else "") + "Z"


def write_audit(path, lines, span_s=8 * 3600, seed=7):
    """A time-ordered audit log as lokt writes it; returns a count per event."""
    rng = random.Random(seed)
    host = socket.gethostname()
    names = [f"{kind}-{i}" for kind in ("build", "test-shard", "deploy", "migrate", "gpu") for i in range(10)]
    agents = [f"agent-{i}" for i in range(1, 13)]
    end_ns = time.time_ns() - 1_000_000_000
    start_ns = end_ns - span_s * 1_000_000_000
    events = []  # heap of (ts_ns, seq, line body)
    seq = 0

    def emit(t, body):
        nonlocal seq
        seq += 1
        events.append((t, seq, body))

    def who(agent, pid):
        return f'"owner":"{agent}","host":"{host}","pid":{pid}'

    # Each name runs its own sequence of holds; lines are merged by time afterwards.
    per_name = lines * 11 // (10 * len(names)) + 1
    for name in names:
        t = start_ns + rng.randrange(5_000_000_000)
        count = 0
        next_holder = None
        frozen_until = 0
        while count < per_name and t < end_ns:
            if name.startswith("deploy") and rng.random() < 0.002 and t > frozen_until:
                ttl = rng.choice((600, 1800))
                emit(t, f'"event":"freeze","name":"{name}","lock_id":"{rng.getrandbits(128):032x}",{who("ops", 900)},"ttl_sec":{ttl}')
                lifted = t + rng.randrange(60, ttl) * 1_000_000_000
                emit(lifted, f'"event":"unfreeze","name":"{name}",{who("ops", 901)}')
                frozen_until = lifted
                count += 2
            agent, pid = next_holder or (rng.choice(agents), 1000 + rng.randrange(60000))
            next_holder = None
            if t < frozen_until:
                emit(t, f'"event":"freeze-deny","name":"{name}",{who(agent, pid)},"extra":{{"frozen_by":"ops@{host}"}}')
                t = frozen_until + rng.randrange(1_000_000_000)
                count += 1
                continue
            lock_id = f"{rng.getrandbits(128):032x}"
            hold_ns = int(rng.expovariate(1 / 1.3) * 1e9) + 50_000_000
            if rng.random() < 0.002:
                hold_ns = rng.randrange(300, 1200) * 1_000_000_000  # a long build, renewed as it runs
            emit(t, f'"event":"acquire","name":"{name}","lock_id":"{lock_id}",{who(agent, pid)},"ttl_sec":300')
            count += 1
            for k in range(1, hold_ns // 150_000_000_000 + 1):  # a guard renews every TTL/2
                emit(t + k * 150_000_000_000, f'"event":"renew","name":"{name}","lock_id":"{lock_id}",{who(agent, pid)},"ttl_sec":300')
                count += 1
            holder = f'"holder":"{agent}@{host}","holder_pid":{pid},"holder_lock_id":"{lock_id}"'
            if rng.random() < 0.3:
                other = rng.choice(agents)
                emit(t + rng.randrange(hold_ns), f'"event":"deny","name":"{name}",{who(other, 1000 + rng.randrange(60000))},"extra":{{{holder}}}')
                count += 1
            if rng.random() < 0.25:
                waiter = (rng.choice(agents), 1000 + rng.randrange(60000))
                emit(t + rng.randrange(hold_ns), f'"event":"deny","name":"{name}",{who(*waiter)},"extra":{{{holder},"waiting":true}}')
                count += 1
                next_holder = waiter
            end = t + hold_ns
            fate = rng.random()
            if fate < 0.005:
                emit(end, f'"event":"force-break","name":"{name}","lock_id":"{lock_id}",{who("ops", 902)},"extra":{{"reason":"unlock --force",{holder}}}')
                emit(end + 400_000_000, f'"event":"lost","name":"{name}","lock_id":"{lock_id}",{who(agent, pid)},"extra":{{"reason":"lock file removed"}}')
                count += 2
            elif fate < 0.01:
                other = rng.choice(agents)
                emit(end, f'"event":"stale-break","name":"{name}","lock_id":"{lock_id}",{who(other, 1000 + rng.randrange(60000))},"extra":{{"reason":"holder process is dead",{holder}}}')
                count += 1
            else:
                emit(end, f'"event":"release","name":"{name}","lock_id":"{lock_id}",{who(agent, pid)},"extra":{{"exit_status":0,"held_ms":{hold_ns // 1_000_000}}}')
                count += 1
            t = end + (2_000_000 if next_holder else int(rng.expovariate(1 / 0.6) * 1e9))
    events.sort()
    events = [e for e in events if e[0] < end_ns][:lines]
    counts = {}
    with open(path, "w") as f:
        chunk = []
        for t, _, body in events:
            chunk.append('{"ts":"' + ts_text(t) + '",' + body + "}")
            event = body[9:body.index('"', 9)]
            counts[event] = counts.get(event, 0) + 1
            if len(chunk) >= 65536:
                f.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            f.write("\n".join(chunk) + "\n")
    return counts, len(events)


def timed(argv, env, runs):
    walls = []
    for _ in range(runs):
        t0 = time.monotonic()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
        walls.append(time.monotonic() - t0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    return walls


def chromium_run(chromium, scratch, url, budget_ms=60000, timeout=300):
    profile = tempfile.mkdtemp(prefix="profile-", dir=scratch)
    argv = [chromium] + CHROMIUM_FLAGS + [f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                                          "--window-size=1600,1000", "--dump-dom", url]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SystemExit("chromium timed out")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wall = time.monotonic() - t0
    shutil.rmtree(profile, ignore_errors=True)
    body = re.search(r"<body([^>]*)>", out.decode(errors="replace"))
    if body is None:
        print(f"  chromium exited {proc.returncode} after {wall:.1f} s without a page; stderr ends:\n"
              + "\n".join(err.decode(errors="replace").splitlines()[-5:]))
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1))) if body else {}
    return wall, attrs


def spread(values, unit_scale=1.0, unit="s"):
    values = [v * unit_scale for v in values]
    return f"{statistics.median(values):.2f} {unit} (min {min(values):.2f}, max {max(values):.2f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    lokt = os.path.abspath(args.lokt)
    scratch = os.path.abspath(tempfile.mkdtemp(prefix="lokt-timeline-bench-", dir=args.workdir))
    try:
        root = os.path.join(scratch, "root")
        os.makedirs(root)
        log = os.path.join(root, "audit.log")
        t0 = time.monotonic()
        counts, written = write_audit(log, args.lines)
        print(f"audit log: {written} lines, {os.path.getsize(log) / 1e6:.0f} MB, written in {time.monotonic() - t0:.1f} s")
        print("  events: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
        env.update(LOKT_ROOT=root, LOKT_DAEMON="off")

        stats = timed([lokt, "audit", "--since", "8h", "--stats"], env, args.runs)
        print(f"audit --since 8h --stats:           {spread(stats)}")
        stats_json = timed([lokt, "audit", "--since", "8h", "--stats", "--json"], env, args.runs)
        print(f"audit --since 8h --stats --json:    {spread(stats_json)}")
        summary = json.loads(subprocess.run([lokt, "audit", "--since", "8h", "--stats", "--json"], env=env,
                                            capture_output=True, check=True).stdout)
        print("  totals: " + json.dumps(summary["totals"]))
        page = os.path.join(scratch, "timeline.html")
        timeline = timed([lokt, "audit", "--since", "8h", "--timeline", page], env, args.runs)
        print(f"audit --since 8h --timeline PAGE:   {spread(timeline)}, page {os.path.getsize(page) / 1e6:.1f} MB")

        chromium = shutil.which(args.chromium)
        if chromium is None:
            print(f"no Chromium at {args.chromium}: browser figures skipped")
            return 0
        empty = os.path.join(scratch, "empty.html")
        with open(empty, "w") as f:
            f.write("<!DOCTYPE html><title>empty</title><body data-ready=\"true\"></body>")
        empty_walls = [chromium_run(chromium, scratch, "file://" + empty)[0] for _ in range(args.runs)]
        print(f"chromium, an empty page (start-up): {spread(empty_walls)}")
        walls, render, ready = [], [], []
        mode = None
        for _ in range(args.runs):
            wall, attrs = chromium_run(chromium, scratch, "file://" + page)
            if attrs.get("data-ready") != "true":
                wall, attrs = chromium_run(chromium, scratch, "file://" + page)  # once more: a crash under load
            if attrs.get("data-ready") != "true":
                raise SystemExit(f"the page did not finish drawing: {attrs}")
            walls.append(wall)
            render.append(float(attrs["data-render-ms"]))
            ready.append(float(attrs["data-ready-at-ms"]))
            mode = attrs.get("data-mode")
        print(f"chromium, the timeline page:        {spread(walls)} wall, drawn as {mode}")
        print(f"  script (parse JSON + draw):       {spread(render, 1, 'ms')}")
        print(f"  drawn, from navigation start:     {spread(ready, 1, 'ms')}")
        return 0
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
