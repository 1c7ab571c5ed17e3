#!/usr/bin/env python3
"""Throughput of a slot pool next to flock(1): W workers, each running a
20 ms critical section (`sleep 0.02`) back to back for a fixed window, under

  flock -x FILE            one at a time (the mutex baseline)
  lokt guard NAME --wait   one at a time, lokt's plain lock
  flock -x FILE-(i mod 3)  three at a time: each worker pinned to one of three files
  lokt guard --slots 3     three at a time, any free slot (files, and through loktd)
  flock -s FILE            all at once (shared): the ceiling
  sem -j 3                 three at a time with GNU parallel's semaphore
                           (Debian package `parallel`), when it is installed

Windows of each contender are interleaved over rounds, so that a change in the
machine's load hits every contender alike. Prints a table and writes JSON.

Usage: pool_bench.py --lokt PATH [--loktd PATH] [--workers 6] [--window 5]
                     [--rounds 3] [--out FILE]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SECTION = ["sleep", "0.02"]


def compile_runloop(work):
    out = os.path.join(work, "runloop")
    subprocess.run(["cc", "-O2", "-o", out, os.path.join(HERE, "helpers", "runloop.c")], check=True)
    return out


def window(runloop, commands, seconds, env):
    """Runs one worker per command for `seconds`; returns completed sections."""
    start = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + 200_000_000
    until = start + int(seconds * 1e9)
    procs = [subprocess.Popen([runloop, "--start-ns", str(start), "--until-ns", str(until), "--"] + cmd, env=env,
                              stdout=subprocess.PIPE, text=True) for cmd in commands]
    total = fails = 0
    for proc in procs:
        out, _ = proc.communicate()
        fields = dict(part.split("=") for part in out.split())
        total += int(fields["in_window"])
        fails += int(fields["fail"])
    if fails:
        raise AssertionError("%d failed runs in a window" % fails)
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--loktd")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    lokt = os.path.abspath(args.lokt)
    work = tempfile.mkdtemp(prefix="lokt-pool-bench-")
    os.chmod(work, 0o700)
    daemon = None
    try:
        runloop = compile_runloop(work)
        flock = shutil.which("flock")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
        env["LOKT_ROOT"] = os.path.join(work, "root")
        env["LOKT_DAEMON"] = "off"
        env_daemon = dict(env, LOKT_DAEMON="require", LOKT_SOCKET=os.path.join(work, "d.sock"),
                          LOKT_ROOT=os.path.join(work, "root-daemon"))
        w = args.workers
        f = os.path.join(work, "f")
        contenders = [
            ("flock -x (mutex)", env, [[flock, f] + SECTION for _ in range(w)], 1),
            ("lokt guard (mutex, files)", env, [[lokt, "guard", "m", "--wait", "--"] + SECTION for _ in range(w)], 1),
            ("flock -x on 3 files (worker i takes file i mod 3)", env,
             [[flock, "%s-%d" % (f, i % 3)] + SECTION for i in range(w)], 3),
            ("lokt guard --slots 3 (files)", env,
             [[lokt, "guard", "gpu", "--slots", "3", "--wait", "--"] + SECTION for _ in range(w)], 3),
            ("flock -s (shared)", env, [[flock, "-s", f] + SECTION for _ in range(w)], w),
        ]
        sem = shutil.which("sem")
        if sem:
            # Its semaphores live under $HOME/.parallel: a home of its own for the run.
            env_sem = dict(env, HOME=work)
            contenders.append(("sem -j 3 (GNU parallel)", env_sem,
                               [[sem, "--will-cite", "--id", "pool", "-j", "3", "--fg"] + SECTION for _ in range(w)], 3))
        if args.loktd:
            daemon = subprocess.Popen([os.path.abspath(args.loktd), "--socket", env_daemon["LOKT_SOCKET"]],
                                      env=env_daemon, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
            for _ in range(1000):
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(env_daemon["LOKT_SOCKET"])
                        break
                except OSError:
                    time.sleep(0.01)
            contenders.insert(4, ("lokt guard (mutex, loktd)", env_daemon,
                                  [[lokt, "guard", "m", "--wait", "--"] + SECTION for _ in range(w)], 1))
            contenders.insert(5, ("lokt guard --slots 3 (loktd)", env_daemon,
                                  [[lokt, "guard", "gpu", "--slots", "3", "--wait", "--"] + SECTION for _ in range(w)], 3))
        load_before = os.getloadavg()
        counts = {name: [] for name, _, _, _ in contenders}
        for _ in range(args.rounds):
            for name, cenv, commands, _ in contenders:
                counts[name].append(window(runloop, commands, args.window, cenv))
        load_after = os.getloadavg()
        results = []
        print("%d workers, %.0f ms sections, %d rounds of %.1f s windows; load %.2f -> %.2f" % (
            w, 1000 * 0.02, args.rounds, args.window, load_before[0], load_after[0]))
        print("| contender | at once | sections/s (median of rounds) | of the ideal |")
        print("|---|---|---|---|")
        for name, _, _, at_once in contenders:
            per_s = sorted(c / args.window for c in counts[name])[len(counts[name]) // 2]
            ideal = min(at_once, w) / 0.02
            results.append({"contender": name, "at_once": at_once, "sections_per_s": per_s, "rounds": counts[name]})
            print("| %s | %d | %.1f | %.0f%% |" % (name, at_once, per_s, 100 * per_s / ideal))
        if args.out:
            with open(args.out, "w") as out:
                json.dump({"workers": w, "window_s": args.window, "rounds": args.rounds, "section": SECTION,
                           "load": [load_before[0], load_after[0]], "results": results}, out, indent=2)
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
