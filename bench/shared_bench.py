#!/usr/bin/env python3
"""Shared locks next to flock -s, in one run.

1. Throughput: W readers, each running a 20 ms section (`sleep 0.02`) back to
   back for a fixed window, under `flock -s FILE`, `lokt guard NAME --shared
   --wait` on the files and through loktd (and `flock -x`, the one-at-a-time
   floor). Windows are interleaved over rounds, as in pool_bench.py.
2. A writer among readers: the same W readers loop, and after a second a
   writer asks for the name alone (`flock -x FILE true`, `lokt guard NAME
   --wait -- true`). Its wait, from asking to entering, is what a stream of
   readers costs it: flock lets new readers in while a writer waits, lokt
   does not (docs/design.md, "Shared locks"). A writer that has not entered
   after --give-up seconds gives up and is reported as such.

Usage: shared_bench.py --lokt PATH [--loktd PATH] [--workers 6] [--window 5]
                       [--rounds 3] [--writers 5] [--give-up 5] [--out FILE]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pool_bench import SECTION, compile_runloop, window  # noqa: E402


def start_daemon(loktd, env):
    daemon = subprocess.Popen([loktd, "--socket", env["LOKT_SOCKET"]], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(1000):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(env["LOKT_SOCKET"])
                return daemon
        except OSError:
            time.sleep(0.01)
    raise AssertionError("loktd did not start")


def writer_wait(runloop, readers, writer, env, give_up):
    """Readers loop; a second in, the writer asks. Returns the writer's wait in
    seconds, or None when it gave up."""
    start = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + 200_000_000
    until = start + int((1.0 + give_up + 1.0) * 1e9)
    procs = [subprocess.Popen([runloop, "--start-ns", str(start), "--until-ns", str(until), "--"] + cmd, env=env,
                              stdout=subprocess.PIPE, text=True) for cmd in readers]
    time.sleep(1.2)
    asked = time.monotonic()
    done = subprocess.run(writer, env=env, capture_output=True, text=True)
    waited = time.monotonic() - asked
    for proc in procs:
        proc.communicate()
    return waited if done.returncode == 0 else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--loktd")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=5, help="writer trials per contender")
    parser.add_argument("--give-up", type=float, default=5.0)
    parser.add_argument("--out")
    args = parser.parse_args()
    lokt = os.path.abspath(args.lokt)
    work = tempfile.mkdtemp(prefix="lokt-shared-bench-")
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
        give_up = "%gs" % args.give_up
        lokt_reader = [lokt, "guard", "data", "--shared", "--wait", "--"] + SECTION
        lokt_writer = [lokt, "guard", "data", "--wait", "--timeout", give_up, "--", "true"]
        # name, env, reader commands, at once, writer command
        contenders = [
            ("flock -x (one at a time)", env, [[flock, f] + SECTION for _ in range(w)], 1, None),
            ("flock -s", env, [[flock, "-s", f] + SECTION for _ in range(w)], w,
             [flock, "-w", "%g" % args.give_up, f, "true"]),
            ("lokt guard --shared (files)", env, [lokt_reader] * w, w, lokt_writer),
        ]
        if args.loktd:
            daemon = start_daemon(os.path.abspath(args.loktd), env_daemon)
            contenders.append(("lokt guard --shared (loktd)", env_daemon, [lokt_reader] * w, w, lokt_writer))

        load_before = os.getloadavg()
        counts = {c[0]: [] for c in contenders}
        waits = {c[0]: [] for c in contenders if c[4]}
        for _ in range(args.rounds):
            for name, cenv, commands, _, _ in contenders:
                counts[name].append(window(runloop, commands, args.window, cenv))
        for _ in range(args.writers):
            for name, cenv, commands, _, writer in contenders:
                if writer:
                    waits[name].append(writer_wait(runloop, commands, writer, cenv, args.give_up))
        load_after = os.getloadavg()

        print("%d readers, %.0f ms sections, %d rounds of %.1f s windows; %d writer trials each (gives up after %s); "
              "load %.2f -> %.2f" % (w, 1000 * 0.02, args.rounds, args.window, args.writers, give_up,
                                     load_before[0], load_after[0]))
        print("| contender | at once | reader sections/s (median) | of the ideal | writer's wait among readers |")
        print("|---|---|---|---|---|")
        results = []
        for name, _, _, at_once, writer in contenders:
            per_s = sorted(c / args.window for c in counts[name])[len(counts[name]) // 2]
            ideal = min(at_once, w) / 0.02
            wait_text = "-"
            entry = {"contender": name, "at_once": at_once, "sections_per_s": per_s, "rounds": counts[name]}
            if writer:
                got = sorted(x for x in waits[name] if x is not None)
                gave_up = sum(1 for x in waits[name] if x is None)
                entry["writer_waits_s"] = waits[name]
                parts = []
                if got:
                    parts.append("median %.0f ms, max %.0f ms" % (1000 * got[len(got) // 2], 1000 * got[-1]))
                if gave_up:
                    parts.append("%d of %d gave up after %s" % (gave_up, len(waits[name]), give_up))
                wait_text = "; ".join(parts)
            results.append(entry)
            print("| %s | %d | %.1f | %.0f%% | %s |" % (name, at_once, per_s, 100 * per_s / ideal, wait_text))
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
