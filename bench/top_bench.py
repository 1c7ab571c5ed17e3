#!/usr/bin/env python3
"""How fast `lokt top` keeps up with a busy root: 1,000 held names and 100
waiters, through a private loktd and with the files alone.

Measures, per backend:
  snapshot_ms   `lokt top --json` (one snapshot: read every lock, freeze and
                queue, the latest audit lines, as JSON), median of N runs
  render_ms     `lokt top --once` (the same snapshot drawn as the screen's text)
  release_ms    from the start of `lokt unlock NAME` to the JSON line of a
                running `lokt status --watch --json` (the same feed and snapshot
                as the screen) that no longer lists NAME; median of N releases
  unlock_ms     how long those `lokt unlock` runs took themselves

Usage:
  python3 bench/top_bench.py --lokt build/client/lokt --loktd build/daemon/loktd [--backends files,daemon]
"""
import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
    env.update(extra)
    return env


def start_daemon(loktd: str, work: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    sock_dir = work / "loktd"
    sock_dir.mkdir(mode=0o700)
    sock = sock_dir / "loktd.sock"
    env = {"LOKT_DAEMON": "require", "LOKT_SOCKET": str(sock)}
    log = open(work / "loktd.log", "wb")
    process = subprocess.Popen([loktd], env=clean_env(env), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 10
    while not sock.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"loktd did not start; see {work / 'loktd.log'}")
        time.sleep(0.01)
    return process, env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return took, done.stdout


class LineReader:
    """Whole lines from a pipe, read in large chunks (a snapshot of 1,000
    names is a line of a few hundred kilobytes)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.fd = process.stdout.fileno()
        self.buffer = b""

    def line(self, deadline: float) -> str:
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise SystemExit("status --watch printed nothing in time")
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise SystemExit("status --watch ended")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()


def bench_backend(name: str, args, work: Path) -> dict:
    repo = work / f"repo-{name}"
    (repo / ".git").mkdir(parents=True)
    daemon = None
    extra = {"LOKT_DAEMON": "off"}
    if name == "daemon":
        daemon, extra = start_daemon(args.loktd, work)
    env = clean_env(extra | {"LOKT_OWNER": "bench"})
    lokt = str(Path(args.lokt).resolve())
    waiters = []
    try:
        # 1,000 held names, one `lokt lock` each (a TTL keeps them held).
        for i in range(args.names):
            subprocess.run([lokt, "lock", f"name-{i:04d}", "--ttl", "1h"], cwd=repo, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        # 100 waiters, ten on each of the first ten names.
        for i in range(args.waiters):
            waiters.append(subprocess.Popen(
                [lokt, "guard", f"name-{i % 10:04d}", "--wait", "--timeout", "10m", "--", "true"],
                cwd=repo, env=clean_env(extra | {"LOKT_OWNER": f"waiter-{i}"}),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        if name == "daemon":
            deadline = time.monotonic() + 60
            while True:
                _, out = timed([lokt, "top", "--json"], repo, env)
                if json.loads(out)["waiter_count"] == args.waiters:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("the waiters did not all queue")
                time.sleep(0.2)
        else:
            time.sleep(2)  # they poll the files: nothing to wait for but their start

        snapshot = [timed([lokt, "top", "--json"], repo, env)[0] for _ in range(args.runs)]
        render = [timed([lokt, "top", "--once"], repo, env | {"COLUMNS": "160"})[0] for _ in range(args.runs)]
        _, out = timed([lokt, "top", "--json"], repo, env)
        shown = json.loads(out)

        watch = subprocess.Popen([lokt, "status", "--watch", "--json"], cwd=repo, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        release, unlock = [], []
        reader = LineReader(watch)
        try:
            reader.line(time.monotonic() + 30)
            for i in range(args.releases):
                victim = f"name-{args.names - 1 - i:04d}"  # nobody waits for these
                started = time.perf_counter()
                subprocess.run([lokt, "unlock", victim], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
                unlock.append((time.perf_counter() - started) * 1000)
                while True:
                    line = reader.line(time.monotonic() + 30)
                    if all(hold["name"] != victim for hold in json.loads(line)["held"]):
                        release.append((time.perf_counter() - started) * 1000)
                        break
                time.sleep(0.2)  # past the watch's 100 ms gap between listings
        finally:
            watch.terminate()
            watch.wait()
        return {
            "backend": name,
            "held": len(shown["held"]),
            "waiters_shown": shown["waiter_count"],
            "snapshot_ms": round(statistics.median(snapshot), 1),
            "render_ms": round(statistics.median(render), 1),
            "release_ms": round(statistics.median(release), 1),
            "release_max_ms": round(max(release), 1),
            "unlock_ms": round(statistics.median(unlock), 1),
        }
    finally:
        for waiter in waiters:
            waiter.kill()
            waiter.wait()
        if daemon is not None:
            daemon.terminate()
            daemon.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--loktd")
    parser.add_argument("--backends", default="files,daemon")
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--waiters", type=int, default=100)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--releases", type=int, default=10)
    parser.add_argument("--workdir", default=None,
                        help="where the scratch repositories go (default: the system's temporary directory)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lokt-top-bench-", dir=args.workdir))
    try:
        results = []
        for name in args.backends.split(","):
            if name == "daemon" and not args.loktd:
                raise SystemExit("the daemon backend needs --loktd PATH")
            results.append(bench_backend(name, args, work))
        print("| backend | held | waiters | snapshot (top --json) | snapshot + render (top --once) "
              "| release -> status --watch line | (max) | lokt unlock itself |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['backend']} | {r['held']} | {r['waiters_shown']} | {r['snapshot_ms']} ms | {r['render_ms']} ms "
                  f"| {r['release_ms']} ms | {r['release_max_ms']} ms | {r['unlock_ms']} ms |")
        print(json.dumps(results))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
