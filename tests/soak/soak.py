#!/usr/bin/env python3
"""Soak: many guarded sections from mixed clients while a nemesis kills and pauses loktd.

Why this exists: the unit and fault tests stage one fault at a time. This driver runs the
promises for a long time under all of them at once, and counts what a user would see broken:

- overlaps: two sections of the same name that ran at the same time. Each section is `stamp`
  (bench/helpers/stamp.c) appending "ENTRY_NS EXIT_NS PID" to the name's witness file with one
  O_APPEND write; sorted by entry, an entry before the latest exit so far is an overlap.
- lost sections: a guard that exited 0 (its command ran and succeeded) with no witness line to
  show for it, or witness lines nobody accounts for.
- hangs: a guard that did not finish within --hang-after seconds.
- failed guards: a guard that exited other than 0. Every guard waits (--wait) with a TTL it
  renews, so none may be refused, lose its hold (exit 6) or fail; each is counted by status.
- worker errors: a guard that could not be started at all (the program gone or not executable):
  the run stops, and says so, instead of going on with fewer workers.
- audit accounting: every line of the audit log must be one JSON object, except the start of a
  line that a kill -9 cut short inside its write(2) (at most one per kill; readers skip such a
  fragment, and the next writer starts a fresh line after it); every `acquire` of a soak name must
  be closed by `release`, `lost`, `stale-break`, `force-break`, `auto-prune` or
  `corrupt-break` naming the same lock_id, and no lock_id may have two `release` lines.

Workers: `--daemon-workers` run `lokt guard NAME --wait` with LOKT_DAEMON=auto against a private
loktd (they fall back to the files while it is dead or silent, as users' commands do);
`--file-workers` run with LOKT_DAEMON=off; `--go-workers` run the older Go lokt if `--go-lokt`
names it. The nemesis, every --nemesis-every seconds, either kill -9s loktd (and starts a new one)
or stops it with SIGSTOP for a random pause of up to --max-pause seconds, then SIGCONT.

Exit status 0 when nothing above was seen, 1 otherwise, 2 on a set-up error. A JSON summary is
written to --out/summary.json and a one-line summary to stdout.

Stopped early (SIGINT, as Ctrl-C, or SIGTERM), it starts no more sections, lets those running
finish, and reports the same accounting for what ran, marked as partial ("stopped_early" in the
summary, "partial run" on the summary line). A second signal ends it at once, with no report.
The guards run in sessions of their own, so that a Ctrl-C at the terminal reaches the driver
alone.

  python3 tests/soak/soak.py --lokt build/client/lokt --loktd build/daemon/loktd \\
      --sections 1000000 --out soak-results
"""
from __future__ import annotations

import argparse
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
from pathlib import Path

CLOSING_EVENTS = {"release", "lost", "stale-break", "force-break", "auto-prune", "corrupt-break"}
HERE = Path(__file__).resolve().parent
STAMP_SOURCE = HERE.parent.parent / "bench" / "helpers" / "stamp.c"


class SetupError(Exception):
    pass


def log(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)


class Daemon:
    """The private loktd the nemesis works on; restarted after every kill."""

    def __init__(self, loktd: Path, work: Path, env: dict) -> None:
        self.loktd = loktd
        self.work = work
        self.env = env
        self.socket = Path(env["LOKT_SOCKET"])
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        self.starts += 1
        log_file = open(self.work / f"loktd-{self.starts}.log", "wb")
        # A session of its own, as `lokt daemon start` gives it: a stopped loktd in the driver's own
        # process group would have the kernel send the whole group SIGHUP when that group is
        # orphaned (under ctest it is, from the start) and some member exits.
        self.process = subprocess.Popen([str(self.loktd), "--socket", str(self.socket)], env=self.env,
                                        stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        log_file.close()
        deadline = time.monotonic() + 10
        while not self.accepting():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SetupError(f"loktd did not start; see {self.work}/loktd-{self.starts}.log")
            time.sleep(0.01)

    def accepting(self) -> bool:
        import socket as sock
        s = sock.socket(sock.AF_UNIX, sock.SOCK_STREAM)
        try:
            s.connect(str(self.socket))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Tally:
    """What the workers saw, shared between their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = 0
        self.exit_codes: dict[str, dict[int, int]] = {}
        self.hangs = 0
        self.stderr_samples: list[str] = []
        self.worker_errors: list[str] = []

    def claim(self, limit: int) -> bool:
        with self.lock:
            if self.started >= limit:
                return False
            self.started += 1
            return True

    def record(self, kind: str, code: int, stderr: str) -> None:
        with self.lock:
            codes = self.exit_codes.setdefault(kind, {})
            codes[code] = codes.get(code, 0) + 1
            if code not in (0,) and len(self.stderr_samples) < 20 and stderr:
                self.stderr_samples.append(f"{kind} exit {code}: {stderr.strip()[:300]}")


def worker(kind: str, command: list[str], env: dict, tally: Tally, args, stop: threading.Event) -> None:
    rng = random.Random(f"{args.seed}-{env['LOKT_OWNER']}")
    while not stop.is_set() and tally.claim(args.sections):
        # The last argument is stamp's hold time: now and then a long section, so that faults land
        # while a command runs and not only between sections.
        command[-1] = str(args.long_hold_us if rng.random() < args.long_share else args.hold_us)
        try:
            done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=args.hang_after, start_new_session=True)
            tally.record(kind, done.returncode, done.stderr.decode(errors="replace"))
        except subprocess.TimeoutExpired as e:
            with tally.lock:
                tally.hangs += 1
                if len(tally.stderr_samples) < 20:
                    tally.stderr_samples.append(f"{kind} hang: {(e.stderr or b'').decode(errors='replace')[:300]}")
        except OSError as e:
            # Not a guard's answer but no guard at all: a run with fewer workers than asked
            # would report figures of a lighter load as if they were the asked one.
            with tally.lock:
                tally.worker_errors.append(f"{kind}: {e}")
            log(f"a {kind} worker could not start a guard ({e}); stopping the run")
            stop.set()
            return


def nemesis(daemon: Daemon, args, stop: threading.Event, events: dict) -> None:
    rng = random.Random(args.seed)
    while not stop.wait(args.nemesis_every * (0.5 + rng.random())):
        if rng.random() < args.kill_share:
            daemon.kill()
            events["kills"] += 1
            if not stop.is_set():
                daemon.start()
        else:
            pause = rng.uniform(0.05, args.max_pause)
            os.kill(daemon.process.pid, signal.SIGSTOP)
            events["stops"] += 1
            events["longest_stop_s"] = max(events["longest_stop_s"], pause)
            stop.wait(pause)
            os.kill(daemon.process.pid, signal.SIGCONT)


def check_witness(path: Path) -> tuple[int, int]:
    """Returns (sections, overlaps) of one name's witness file."""
    if not path.exists():
        return 0, 0
    spans = []
    for line in path.read_text().splitlines():
        entry, leave, _pid = line.split()
        spans.append((int(entry), int(leave)))
    spans.sort()
    overlaps = 0
    latest_exit = None
    for entry, leave in spans:
        if latest_exit is not None and entry < latest_exit:
            overlaps += 1
        latest_exit = leave if latest_exit is None else max(latest_exit, leave)
    return len(spans), overlaps


def check_audit(path: Path, names: set[str]) -> dict:
    lines = invalid = torn = acquires = 0
    open_ids: dict[str, str] = {}
    closed_unknown = 0
    released: set[str] = set()
    ever_acquired: set[str] = set()
    double_releases = 0
    releases_without_acquire = 0
    invalid_samples: list[str] = []
    previous = b""
    with open(path, "rb") as f:
        for raw in f:
            lines += 1
            try:
                event = json.loads(raw)
                if not isinstance(event, dict) or not raw.endswith(b"\n"):
                    raise ValueError
            except ValueError:
                # A kill -9 that lands inside a write(2) crossing a page boundary leaves the start
                # of a line, which the next writer ends with a newline; readers skip it. Anything
                # else unparseable is a fault.
                if raw.startswith(b'{"ts":"') and raw.endswith(b"\n"):
                    torn += 1
                else:
                    invalid += 1
                    if len(invalid_samples) < 5:
                        invalid_samples.append(f"line {lines}: {raw[:200]!r} (after {previous[-120:]!r})")
                previous = raw
                continue
            previous = raw
            if event.get("name") not in names:
                continue
            lock_id = event.get("lock_id", "")
            if event.get("event") == "acquire":
                acquires += 1
                open_ids[lock_id] = event.get("ts", "")
                ever_acquired.add(lock_id)
            elif event.get("event") in CLOSING_EVENTS:
                if open_ids.pop(lock_id, None) is None:
                    closed_unknown += 1
                # A break and then the holder's `lost` both close a hold; two releases never do.
                if event.get("event") == "release" and lock_id:
                    if lock_id in released:
                        double_releases += 1
                    released.add(lock_id)
                    # A holder ends only what was granted to it, and every grant has its line
                    # (written by the holder itself when its daemon died before writing it).
                    if lock_id not in ever_acquired:
                        releases_without_acquire += 1
    return {"lines": lines, "invalid_lines": invalid, "torn_by_kill": torn, "acquires": acquires,
            "unclosed_acquires": len(open_ids),
            "closings_without_acquire": closed_unknown, "releases_without_acquire": releases_without_acquire,
            "double_releases": double_releases,
            "invalid_samples": invalid_samples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lokt", type=Path, required=True)
    parser.add_argument("--loktd", type=Path, required=True)
    parser.add_argument("--go-lokt", type=Path, help="the older Go lokt, for --go-workers")
    parser.add_argument("--sections", type=int, default=10_000, help="guarded sections to run in all")
    parser.add_argument("--duration", type=float, default=0, help="stop starting sections after this many seconds")
    parser.add_argument("--names", type=int, default=2, help="lock names the sections spread over (worker i keeps to name i mod N)")
    parser.add_argument("--daemon-workers", type=int, default=6)
    parser.add_argument("--file-workers", type=int, default=2)
    parser.add_argument("--go-workers", type=int, default=0)
    parser.add_argument("--ttl", default="3s", help="the guards' --ttl")
    parser.add_argument("--hold-us", type=int, default=200, help="how long each section lasts")
    parser.add_argument("--long-hold-us", type=int, default=1_500_000, help="how long a long section lasts")
    parser.add_argument("--long-share", type=float, default=0.02, help="share of sections that are long")
    parser.add_argument("--nemesis-every", type=float, default=2.0, help="mean seconds between faults; 0: none")
    parser.add_argument("--kill-share", type=float, default=0.5, help="share of faults that are kill -9 (rest: SIGSTOP)")
    parser.add_argument("--max-pause", type=float, default=3.0, help="longest SIGSTOP, seconds")
    parser.add_argument("--hang-after", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    for program in (args.lokt, args.loktd):
        if not os.access(program, os.X_OK):
            print(f"soak: {program} is not an executable", file=sys.stderr)
            return 2
    if args.go_workers and not args.go_lokt:
        print("soak: --go-workers needs --go-lokt", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="lokt-soak-"))
    try:
        stamp = work / "stamp"
        cc = shutil.which("cc") or shutil.which("gcc")
        # Static where the C library allows it: a dynamically linked stamp spent a quarter of the
        # machine's time in the loader, time the sections under test did not get.
        if cc is None or not any(
                subprocess.run([cc, "-O2", *flags, "-o", str(stamp), str(STAMP_SOURCE)],
                               stderr=subprocess.DEVNULL).returncode == 0 for flags in (["-static"], [])):
            raise SetupError(f"cannot compile {STAMP_SOURCE}")
        root = work / "root"
        root.mkdir()
        run_dir = work / "run"
        run_dir.mkdir(mode=0o700)
        base = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
        base.update({"LOKT_ROOT": str(root), "LOKT_SOCKET": str(run_dir / "loktd.sock")})
        daemon = Daemon(args.loktd, work, dict(base))
        daemon.start()

        names = [f"soak{i}" for i in range(args.names)]
        stop = threading.Event()
        tally = Tally()
        threads = []
        kinds = [("daemon", args.daemon_workers, args.lokt, "auto"), ("files", args.file_workers, args.lokt, "off"),
                 ("go", args.go_workers, args.go_lokt, "off")]
        index = 0
        # Each worker keeps to one name: contention on a name is the workers that share it.
        workers_by_name: dict[str, dict[str, int]] = {}
        for kind, count, program, mode in kinds:
            for _ in range(count):
                name = names[index % len(names)]
                index += 1
                sharing = workers_by_name.setdefault(name, {})
                sharing[kind] = sharing.get(kind, 0) + 1
                env = dict(base, LOKT_DAEMON=mode, LOKT_OWNER=f"soak-{kind}-{index}")
                command = [str(program), "guard", name, "--wait", "--ttl", args.ttl, "--", str(stamp),
                           str(work / f"witness-{name}"), str(args.hold_us)]
                threads.append(threading.Thread(target=worker, args=(kind, command, env, tally, args, stop)))
        faults = {"kills": 0, "stops": 0, "longest_stop_s": 0.0}
        started = time.monotonic()
        stopped_early: list[str] = []

        def stop_early(signum, _frame) -> None:
            # The first signal: no new sections, an account of what ran. The next: out at once.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            stopped_early.append(f"{signal.Signals(signum).name} after {time.monotonic() - started:.0f} s")
            log(f"{stopped_early[0]}: no new sections; waiting for those running, then the account so far")
            stop.set()

        signal.signal(signal.SIGINT, stop_early)
        signal.signal(signal.SIGTERM, stop_early)
        for t in threads:
            t.start()
        chaos = None
        if args.nemesis_every > 0:
            chaos = threading.Thread(target=nemesis, args=(daemon, args, stop, faults))
            chaos.start()
        last_report = started
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
            now = time.monotonic()
            if args.duration and now - started > args.duration:
                stop.set()
            if now - last_report > 30:
                last_report = now
                log(f"{tally.started} sections started in {now - started:.0f} s; faults {faults}")
        stop.set()
        for t in threads:
            t.join()
        if chaos:
            chaos.join()
        elapsed = time.monotonic() - started
        daemon.stop()

        sections = overlaps = 0
        for name in names:
            n, o = check_witness(work / f"witness-{name}")
            sections += n
            overlaps += o
        succeeded = sum(codes.get(0, 0) for codes in tally.exit_codes.values())
        lost_guards = sum(codes.get(1, 0) + codes.get(6, 0) for codes in tally.exit_codes.values())
        failed_guards = sum(n for codes in tally.exit_codes.values() for code, n in codes.items() if code != 0)
        # A guard that exited 0 ran its command to the end, so it left a line; a guard reporting
        # `lost` (6, or 1 for another error) may or may not have let its command finish.
        lost_sections = max(0, succeeded - sections)
        unaccounted = max(0, sections - succeeded - lost_guards)
        audit = check_audit(root / "audit.log", set(names))
        summary = {
            "sections_started": tally.started, "sections_witnessed": sections, "overlaps": overlaps,
            "lost_sections": lost_sections, "unaccounted_witness_lines": unaccounted, "hangs": tally.hangs,
            "failed_guards": failed_guards, "worker_errors": tally.worker_errors,
            "exit_codes": {k: {str(c): n for c, n in v.items()} for k, v in tally.exit_codes.items()},
            "faults": faults, "daemon_starts": daemon.starts, "elapsed_s": round(elapsed, 1),
            "sections_per_s": round(tally.started / elapsed, 1) if elapsed else 0, "audit": audit,
            "stderr_samples": tally.stderr_samples,
            "stopped_early": stopped_early[0] if stopped_early else None,
            "settings": {k: str(v) for k, v in vars(args).items()},
            "workers_by_name": workers_by_name,
        }
        bad = (overlaps or lost_sections or unaccounted or tally.hangs or failed_guards or tally.worker_errors or
               audit["invalid_lines"] or
               audit["torn_by_kill"] > faults["kills"] or audit["unclosed_acquires"] or audit["double_releases"] or
               audit["releases_without_acquire"])
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if bad:
            print(json.dumps(summary, indent=2), file=sys.stderr)
        partial = f" (partial run: {stopped_early[0]})" if stopped_early else ""
        print(f"soak: {tally.started} sections in {elapsed:.0f} s ({summary['sections_per_s']}/s){partial}, "
              f"{faults['kills']} kills, {faults['stops']} stops: {overlaps} overlaps, {lost_sections} lost, "
              f"{tally.hangs} hangs, {failed_guards} failed guards, {audit['lines']} audit lines ({audit['invalid_lines']} invalid, "
              f"{audit['torn_by_kill']} cut short by a kill, "
              f"{audit['unclosed_acquires']} acquires never closed, {audit['double_releases']} released twice, "
              f"{audit['releases_without_acquire']} released never acquired)")
        return 1 if bad else 0
    except SetupError as e:
        print(f"soak: {e}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
