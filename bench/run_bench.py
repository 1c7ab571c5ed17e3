#!/usr/bin/env python3
"""lokt benchmark driver: lokt next to flock(1) on the same machine, in one run.

    python3 bench/run_bench.py --lokt build/client/lokt --out bench-results [--quick]

Sections (see bench/README.md and docs/performance.md):
  uncontended  `lokt guard NAME -- true` vs `flock FILE true`, fork to exit
  handoff      N=4, 8, 32 waiting guards passing one lock around, entry-minus-previous-exit
  throughput   N workers looping `guard NAME --wait -- true` for a fixed time
  fairness     8 such workers over 20 s: how evenly the sections are shared
  status       `lokt status [--json]` with 10,000 live locks
  audit        `lokt audit --since 1h` / `--name X` on a 1,000,000-line log
  daemon_resources  a private loktd: resident memory with 10,000 holds, idle wake-ups

Python 3 standard library only. The timing itself is done by small C helpers
(bench/helpers/*.c, built here with `cc`) so that no interpreter overhead lands
in the numbers. Each lokt backend ("files", "daemon") is one more column, and with
--baseline-lokt an earlier build's ("files@base", "daemon@base"), in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import random
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import daemon_resources

HERE = Path(__file__).resolve().parent
HELPERS = ("spawntime", "runloop", "stamp")

# Targets: (metric key, comparison, bound, text shown in the table).
TARGET_UNCONTENDED_RATIO = 1.5
TARGET_HANDOFF_P50_RATIO = 3.0
TARGET_HANDOFF_P95_MS = 50.0
TARGET_STATUS_MS = 100.0
TARGET_AUDIT_SINCE_MS = 300.0
TARGET_FAIRNESS_PCT = 10.0     # with the daemon: every worker within 10% of the mean
TARGET_DAEMON_HANDOFF_P50_RATIO = 1.5   # with the daemon, N=8, against flock
TARGET_DAEMON_HANDOFF_P95_RATIO = 2.0
TARGET_DAEMON_THROUGHPUT_RATIO = 0.8    # N=8, at least this share of flock's sections/s
TARGET_DAEMON_RSS_MB = 10.0    # loktd with 10,000 holds (10^6 bytes)
TARGET_IDLE_WAKEUPS = 0.0      # per second, nothing waiting
# "Faster than flock(1) on its own ground": the bounds against flock in the same run.
FLOCK_GROUND_UNCONTENDED = {"files": 1.0, "daemon": 1.1}   # uncontended guard, median
FLOCK_GROUND_HANDOFF_P50 = 1.0    # N=8 and N=32, each backend
FLOCK_GROUND_HANDOFF_P95 = 1.5
FLOCK_GROUND_THROUGHPUT = 1.0     # N=8 through the daemon, at least
HANDOFF_NS = (4, 8, 32)


class BenchError(Exception):
    """A setup or measurement problem that makes the run meaningless."""


# --------------------------------------------------------------------------- stats

def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary_ms(ns_values: list[int]) -> dict:
    ms = [v / 1e6 for v in ns_values]
    return {
        "n": len(ms),
        "median_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "min_ms": min(ms) if ms else float("nan"),
        "max_ms": max(ms) if ms else float("nan"),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# --------------------------------------------------------------------------- helpers

def build_helpers(bin_dir: Path) -> dict[str, Path]:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise BenchError("no C compiler (cc) found; it is needed to build the timing helpers")
    bin_dir.mkdir(parents=True, exist_ok=True)
    built = {}
    for name in HELPERS:
        source = HERE / "helpers" / f"{name}.c"
        target = bin_dir / name
        if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            subprocess.run([cc, "-O2", "-Wall", "-o", str(target), str(source)], check=True)
        built[name] = target
    return built


MEASURED_PATH = "/usr/local/bin:/usr/bin:/bin"


def clean_env() -> dict[str, str]:
    """The environment every measured process gets: ours minus any LOKT_* setting, a short, fixed
    PATH so that looking up `true`, `flock` and `stamp` costs the same on every machine, and USER."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
    env["PATH"] = MEASURED_PATH
    # A login shell always sets these; a bare container or CI job may not, and then lokt looks the
    # user up in the user database instead, which is not what an agent's shell costs.
    for variable in ("USER", "LOGNAME"):
        if not env.get(variable):
            env[variable] = pwd.getpwuid(os.geteuid()).pw_name
    return env


def shown_path(path: Path | str) -> str:
    """A path as the results record it: relative to this checkout when inside it, so saved
    results do not carry the machine's directory layout."""
    text = str(path)
    root = str(HERE.parent)
    return "." + text[len(root):] if text == root or text.startswith(root + "/") else text


def make_repo(parent: Path, name: str) -> Path:
    """A scratch git repository: lokt finds its root at <repo>/.git/lokt as in real use."""
    repo = parent / name
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def run_capture(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- backends

@dataclass
class Backend:
    """How lokt is run for one column of results."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    # The lokt binary this column runs; None: --lokt. A baseline build (--baseline-lokt)
    # gets columns of its own, measured in the same run, interleaved with the others.
    lokt: Path | None = None

    def start(self, workdir: Path) -> None:
        pass

    def stop(self) -> None:
        pass

    def env_args(self) -> list[str]:
        """The backend's environment as spawntime @env: arguments."""
        return [f"@env:{k}={v}" for k, v in self.env.items()]


class FilesBackend(Backend):
    def __init__(self, name: str = "files", lokt: Path | None = None) -> None:
        super().__init__(name, {"LOKT_DAEMON": "off"}, lokt)


class DaemonBackend(Backend):
    """lokt through loktd on a private socket (LOKT_DAEMON=require).

    Wired for the daemon column; it has not been run yet because loktd does not
    exist yet. Starting it is the only daemon-specific step: every section runs
    the same commands with this backend's environment.
    """

    def __init__(self, loktd: str | None, name: str = "daemon", lokt: Path | None = None) -> None:
        if not loktd:
            raise BenchError("backend \"daemon\": no daemon binary was given; pass --loktd PATH "
                             "(or run with --backends files)")
        path = Path(loktd).resolve()
        if not os.access(path, os.X_OK):
            raise BenchError(f"backend \"daemon\": {path} is not an executable file")
        super().__init__(name, {}, lokt)
        self.loktd = path
        self.process: subprocess.Popen | None = None

    def start(self, workdir: Path) -> None:
        sock_dir = workdir / ("loktd" if self.name == "daemon" else f"loktd-{self.name.replace('@', '-')}")
        sock_dir.mkdir(mode=0o700, exist_ok=True)
        sock = sock_dir / "loktd.sock"
        self.env = {"LOKT_DAEMON": "require", "LOKT_SOCKET": str(sock)}
        env = clean_env()
        env.update(self.env)
        log = open(sock_dir / "loktd.log", "wb")
        self.process = subprocess.Popen([str(self.loktd)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"loktd exited with status {self.process.returncode}; see {sock_dir / 'loktd.log'}")
            if sock.exists():
                return
            time.sleep(0.02)
        raise BenchError(f"loktd did not create {sock} within 10 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def make_backends(spec: str, loktd: str | None, baseline_lokt: Path | None = None,
                  baseline_loktd: str | None = None) -> list[Backend]:
    """The backends asked for; with a baseline build, each again as NAME@base run by it."""
    backends: list[Backend] = []
    names = [part.strip() for part in spec.split(",") if part.strip()]
    for name in names:
        if name == "files":
            backends.append(FilesBackend())
        elif name == "daemon":
            backends.append(DaemonBackend(loktd))
        else:
            raise BenchError(f"unknown backend \"{name}\" (known: files, daemon)")
    if not backends:
        raise BenchError("--backends names no backend")
    if baseline_lokt is not None:
        for name in names:
            if name == "files":
                backends.append(FilesBackend("files@base", baseline_lokt))
            elif not baseline_loktd:
                raise BenchError("--baseline-lokt with the daemon backend needs --baseline-loktd too")
            else:
                backends.append(DaemonBackend(baseline_loktd, "daemon@base", baseline_lokt))
    return backends


def lokt_of(cfg: "Config", backend: Backend) -> str:
    """The lokt binary that runs this backend's column."""
    return str(backend.lokt or cfg.lokt)


# --------------------------------------------------------------------------- bench context

@dataclass
class Config:
    lokt: Path
    flock: Path
    out: Path
    work: Path
    quick: bool
    backends: list[Backend]
    tools: dict[str, Path]
    uncontended_runs: int
    handoff_sections: int
    hold_us: int
    throughput_seconds: float
    throughput_rounds: int
    throughput_ns: tuple[int, ...]
    fairness_seconds: float
    resource_holds: int
    idle_seconds: float
    status_locks: int
    status_runs: int
    audit_lines: int
    audit_runs: int
    log: Callable[[str], None]


def spawntime(cfg: Config, cwd: Path, groups: list[list[str]], runs: int, warmup: int,
              env: dict[str, str] | None = None) -> list[list[int]]:
    """Times each group `runs` times, interleaved; returns ns per group. Non-zero exits are errors."""
    argv = [str(cfg.tools["spawntime"]), "-n", str(runs), "-w", str(warmup)]
    for i, group in enumerate(groups):
        if i:
            argv.append(":::")
        argv.extend(group)
    done = run_capture(argv, cwd, env or clean_env(), timeout=3600)
    if done.returncode != 0:
        raise BenchError(f"spawntime failed: {done.stderr.strip()}")
    times: list[list[int]] = [[] for _ in groups]
    failures: list[int] = [0 for _ in groups]
    for line in done.stdout.splitlines():
        index, ns, status = (int(x) for x in line.split())
        times[index].append(ns)
        if status != 0:
            failures[index] += 1
    for i, count in enumerate(failures):
        if count:
            raise BenchError(f"{count} of {runs} runs of {' '.join(groups[i])} exited non-zero")
    return times


def lokt_group(cfg: Config, backend: Backend, *args: str) -> list[str]:
    return backend.env_args() + [lokt_of(cfg, backend), *args]


def backend_env(backend: Backend) -> dict[str, str]:
    env = clean_env()
    env.update(backend.env)
    return env


# --------------------------------------------------------------------------- 1. uncontended

def bench_uncontended(cfg: Config) -> dict:
    repo = make_repo(cfg.work, "uncontended")
    lockfile = repo / ".git" / "flock-bench.lock"
    # Create the lock root once so the first timed run is not the one that makes directories.
    for backend in cfg.backends:
        run_capture([lokt_of(cfg, backend), "guard", "warm", "--", "true"], repo, backend_env(backend))
    groups = [["flock", str(lockfile), "true"], ["true"]]
    labels = ["flock", "true"]
    for backend in cfg.backends:
        groups.append(lokt_group(cfg, backend, "guard", "bench-uncontended", "--", "true"))
        labels.append(f"lokt:{backend.name}")
        groups.append(lokt_group(cfg, backend, "version"))
        labels.append(f"version:{backend.name}")
    cfg.log(f"uncontended: {cfg.uncontended_runs} interleaved runs of {len(groups)} commands")
    times = spawntime(cfg, repo, groups, cfg.uncontended_runs, warmup=max(3, cfg.uncontended_runs // 30))
    raw = dict(zip(labels, times))
    result = {
        "runs": cfg.uncontended_runs,
        "flock": summary_ms(raw["flock"]),
        "spawn_floor_true": summary_ms(raw["true"]),
        "backends": {},
    }
    for backend in cfg.backends:
        lokt = summary_ms(raw[f"lokt:{backend.name}"])
        result["backends"][backend.name] = {
            "guard": lokt,
            "version": summary_ms(raw[f"version:{backend.name}"]),
            "median_ratio": ratio(lokt["median_ms"], result["flock"]["median_ms"]),
            "p95_ratio": ratio(lokt["p95_ms"], result["flock"]["p95_ms"]),
        }
    return result


# --------------------------------------------------------------------------- 2. handoff

def worker_errors(stderr_file: Path) -> list[str]:
    """Distinct messages the workers' commands printed (a run that fails says why), pids and times masked."""
    if not stderr_file.exists():
        return []
    seen: dict[str, int] = {}
    for line in stderr_file.read_text(errors="replace").splitlines():
        masked = re.sub(r"\(pid \d+\)", "(pid N)", line)
        masked = re.sub(r"for \d+(\.\d+)?(ms|s|µs|us)", "for T", masked)
        seen[masked] = seen.get(masked, 0) + 1
    stderr_file.unlink()
    return [f"{count}x {text}" for text, count in sorted(seen.items(), key=lambda kv: -kv[1])[:10]]


def run_workers(cfg: Config, cwd: Path, env: dict[str, str], n: int, loop_args: list[str],
                command: list[str], timeout: float, stderr_file: Path | None = None) -> list[dict]:
    argv = [str(cfg.tools["runloop"]), *loop_args]
    if stderr_file is not None:
        argv += ["--stderr", str(stderr_file)]
    argv += ["--", *command]
    procs = [subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    results = []
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if proc.returncode != 0:
                raise BenchError(f"worker failed ({proc.returncode}): {err.strip()}")
            fields = dict(part.split("=") for part in out.split())
            results.append({k: int(v) for k, v in fields.items()})
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"workers did not finish within {timeout:.0f} s: {' '.join(command)}") from exc
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def handoff_stats(stamp_file: Path) -> dict:
    sections = []
    for line in stamp_file.read_text().splitlines():
        entry, leave, pid = (int(x) for x in line.split())
        sections.append((entry, leave, pid))
    sections.sort()
    gaps = [sections[i + 1][0] - sections[i][1] for i in range(len(sections) - 1)]
    overlaps = sum(1 for g in gaps if g < 0)
    ms = [g / 1e6 for g in gaps]
    return {
        "sections": len(sections),
        "handoffs": len(gaps),
        "overlaps": overlaps,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "max_ms": max(ms) if ms else float("nan"),
        "mean_hold_ms": sum((s[1] - s[0]) for s in sections) / max(1, len(sections)) / 1e6,
    }


def bench_handoff(cfg: Config) -> dict:
    repo = make_repo(cfg.work, "handoff")
    lockfile = repo / ".git" / "flock-bench.lock"
    for backend in cfg.backends:
        run_capture([lokt_of(cfg, backend), "guard", "warm", "--", "true"], repo, backend_env(backend))
    stamp = str(cfg.tools["stamp"])
    result: dict = {"hold_us": cfg.hold_us, "sections_per_run": cfg.handoff_sections, "flock": {}, "backends": {}}
    for b in cfg.backends:
        result["backends"][b.name] = {}
    for n in HANDOFF_NS:
        per_worker = max(2, cfg.handoff_sections // n)
        runs: list[tuple[str, dict[str, str], list[str]]] = []
        runs.append(("flock", clean_env(), ["flock", str(lockfile)]))
        for backend in cfg.backends:
            runs.append((backend.name, backend_env(backend), [lokt_of(cfg, backend), "guard", f"handoff-{n}", "--wait", "--"]))
        for label, env, prefix in runs:
            stamp_file = cfg.work / f"stamps-{label}-{n}.txt"
            stamp_file.unlink(missing_ok=True)
            cfg.log(f"handoff: {label}, {n} waiters x {per_worker} sections")
            errors_file = cfg.work / f"stderr-handoff-{label}-{n}.txt"
            workers = run_workers(cfg, repo, env, n, ["--count", str(per_worker)],
                                  prefix + [stamp, str(stamp_file), str(cfg.hold_us)], timeout=600,
                                  stderr_file=errors_file)
            stats = handoff_stats(stamp_file)
            stats["failed_runs"] = sum(w["fail"] for w in workers)
            stats["errors"] = worker_errors(errors_file)
            if stats["overlaps"]:
                cfg.log(f"  WARNING: {stats['overlaps']} overlapping sections under {label}: mutual exclusion broken")
            if label == "flock":
                result["flock"][str(n)] = stats
            else:
                result["backends"][label][str(n)] = stats
        for backend in cfg.backends:
            mine = result["backends"][backend.name][str(n)]
            mine["p50_ratio"] = ratio(mine["p50_ms"], result["flock"][str(n)]["p50_ms"])
    return result


# --------------------------------------------------------------------------- 3. throughput

def contention_window(cfg: Config, repo: Path, label: str, env: dict[str, str], command: list[str], n: int,
                      seconds: float, what: str) -> dict:
    """n workers loop `command` for `seconds`; sections completed inside the window, per worker."""
    cfg.log(f"{what}: {label}, {n} workers for {seconds:g} s")
    start = time.monotonic_ns() + 300_000_000 + n * 20_000_000  # time for every worker to be ready
    until = start + int(seconds * 1e9)
    errors_file = cfg.work / f"stderr-{what}-{label}-{n}.txt"
    workers = run_workers(cfg, repo, env, n, ["--start-ns", str(start), "--until-ns", str(until)], command,
                          timeout=seconds + 120, stderr_file=errors_file)
    counts = [w["in_window"] for w in workers]
    succeeded = sum(w["ok"] for w in workers)
    total = sum(counts)
    mean = total / n
    stats = {
        "workers": n,
        "seconds": seconds,
        "sections": total,
        "per_second": total / seconds,
        "per_worker": counts,
        "max_deviation_pct": (max(abs(c - mean) for c in counts) / mean * 100) if mean else None,
        "failed_runs": sum(w["fail"] for w in workers),
        "errors": worker_errors(errors_file),
        # CPU of every run (lokt or flock and its `true`), per successful run: with more workers
        # than cores this is what decides the rate, with a fraction of the rate's noise.
        "cpu_ms_per_section": sum(w["cpu_us"] for w in workers) / 1000 / succeeded if succeeded else None,
    }
    if stats["failed_runs"]:
        cfg.log(f"  {stats['failed_runs']} runs failed: {stats['errors']}")
    return stats


def contenders(cfg: Config, repo: Path, name: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """flock and each lokt backend, as (label, environment, command) looping on one lock."""
    lockfile = repo / ".git" / "flock-bench.lock"
    runs = [("flock", clean_env(), ["flock", str(lockfile), "true"])]
    for backend in cfg.backends:
        runs.append((backend.name, backend_env(backend), [lokt_of(cfg, backend), "guard", name, "--wait", "--", "true"]))
    return runs


def median_round(rounds: list[dict]) -> dict:
    """The round with the median rate, with every round's rate and the failures of all of them."""
    ordered = sorted(rounds, key=lambda r: r["per_second"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rounds_per_second"] = [r["per_second"] for r in rounds]
    cpu = [r["cpu_ms_per_section"] for r in rounds if r.get("cpu_ms_per_section") is not None]
    chosen["rounds_cpu_ms_per_section"] = cpu
    chosen["cpu_ms_per_section_median"] = statistics.median(cpu) if cpu else None
    chosen["failed_runs"] = sum(r["failed_runs"] for r in rounds)
    chosen["errors"] = sorted({e for r in rounds for e in r["errors"]})
    return chosen


def bench_throughput(cfg: Config) -> dict:
    """Each N runs in rounds of one window per contender (flock, then each backend), so a
    change in the machine's load during the run hits all of them alike; the figures are the
    median round's, and a backend's ratio is the median of its per-round ratios to flock."""
    repo = make_repo(cfg.work, "throughput")
    for backend in cfg.backends:
        run_capture([lokt_of(cfg, backend), "guard", "warm", "--", "true"], repo, backend_env(backend))
    result: dict = {"seconds": cfg.throughput_seconds, "rounds": cfg.throughput_rounds, "flock": {},
                    "backends": {b.name: {} for b in cfg.backends}}
    for n in cfg.throughput_ns:
        rounds: dict[str, list[dict]] = {}
        for number in range(cfg.throughput_rounds):
            for label, env, command in contenders(cfg, repo, f"throughput-{n}"):
                what = f"throughput round {number + 1} of {cfg.throughput_rounds}"
                rounds.setdefault(label, []).append(
                    contention_window(cfg, repo, label, env, command, n, cfg.throughput_seconds, what))
        result["flock"][str(n)] = median_round(rounds["flock"])
        for backend in cfg.backends:
            mine = median_round(rounds[backend.name])
            per_round = [ratio(m["per_second"], f["per_second"]) for m, f in zip(rounds[backend.name], rounds["flock"])]
            mine["rounds_ratio"] = per_round
            valid = [r for r in per_round if r is not None]
            mine["ratio"] = statistics.median(valid) if valid else None
            cpu_ratios = [ratio(m.get("cpu_ms_per_section"), f.get("cpu_ms_per_section"))
                          for m, f in zip(rounds[backend.name], rounds["flock"])]
            cpu_ratios = [r for r in cpu_ratios if r is not None]
            mine["cpu_ratio"] = statistics.median(cpu_ratios) if cpu_ratios else None
            result["backends"][backend.name][str(n)] = mine
    return result


def bench_fairness(cfg: Config) -> dict:
    """8 workers contend for one lock over a long window: does each get its share?"""
    repo = make_repo(cfg.work, "fairness")
    for backend in cfg.backends:
        run_capture([lokt_of(cfg, backend), "guard", "warm", "--", "true"], repo, backend_env(backend))
    result: dict = {"seconds": cfg.fairness_seconds, "workers": 8, "flock": {}, "backends": {}}
    for label, env, command in contenders(cfg, repo, "fairness"):
        stats = contention_window(cfg, repo, label, env, command, 8, cfg.fairness_seconds, "fairness")
        if label == "flock":
            result["flock"] = stats
        else:
            result["backends"][label] = stats
    return result


def bench_daemon_resources(cfg: Config) -> dict:
    """loktd's resident memory with 10,000 holds and its wake-ups while idle (daemon backend only)."""
    daemon = next((b for b in cfg.backends if isinstance(b, DaemonBackend)), None)
    if daemon is None:
        raise BenchError("needs the daemon backend (--backends files,daemon --loktd PATH)")
    repo = make_lock_root(cfg, "resources")
    try:
        return daemon_resources.measure(daemon.loktd, clean_env(), cfg.work, repo / ".git" / "lokt",
                                        cfg.resource_holds, cfg.idle_seconds, proc_start_ticks(os.getpid()), cfg.log)
    except (daemon_resources.ResourceError, OSError, ValueError) as error:
        raise BenchError(str(error)) from error


# --------------------------------------------------------------------------- 4. status

def proc_start_ticks(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[22 - 3])  # fields after the command name start at field 3


def derived_agent_id(pid: int, start: int) -> str:
    h = 2166136261
    for c in f"{pid}-{start}".encode():
        h ^= c
        h = (h * 16777619) & 0xFFFFFFFF
    return f"agent-{h & 0xFFFF:04x}"


def rfc3339(epoch_ns: int) -> str:
    seconds, frac = divmod(epoch_ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def write_lock_files(locks_dir: Path, count: int) -> None:
    """Lock files in SPEC.md section 5's format, held by this (live) process, TTL a day ahead."""
    pid = os.getpid()
    start = proc_start_ticks(pid)
    host = socket.gethostname()
    agent = derived_agent_id(pid, start)
    now = time.time_ns()
    rng = random.Random(7)
    for i in range(count):
        acquired = now - rng.randrange(1, 3600) * 1_000_000_000 - rng.randrange(1_000_000_000)
        record = {
            "version": 1,
            "name": f"lock-{i:05d}",
            "lock_id": f"{rng.getrandbits(128):032x}",
            "owner": "bench",
            "host": host,
            "pid": pid,
            "pid_start_ns": start,
            "agent_id": agent,
            "acquired_ts": rfc3339(acquired),
            "ttl_sec": 86400,
            "expires_at": rfc3339(acquired + 86400 * 1_000_000_000),
        }
        fd = os.open(locks_dir / f"lock-{i:05d}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(record, indent=2) + "\n")


def describe_exit(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def timed_variants(cfg: Config, repo: Path, variants: list[tuple[str, Backend, list[str]]], runs: int,
                   warmup: int, check: Callable[[str, Backend, subprocess.CompletedProcess], dict] | None = None
                   ) -> dict[str, dict]:
    """Runs each (key, backend, lokt args) once to check it, then times the working ones interleaved.

    A variant that fails its check (a crash, an error exit) is reported with its error instead of a time,
    so one broken command does not hide the others' figures.
    """
    out: dict[str, dict] = {}
    groups, keys = [], []
    for key, backend, args in variants:
        done = run_capture([lokt_of(cfg, backend), *args], repo, backend_env(backend))
        entry: dict = {"command": "lokt " + " ".join(args)}
        if done.returncode != 0:
            entry["error"] = f"{describe_exit(done.returncode)}: {done.stderr.strip()[:300]}"
            cfg.log(f"  lokt {' '.join(args)} failed: {entry['error']}")
        elif check is not None:
            entry.update(check(key, backend, done))
        out[key] = entry
        if "error" not in entry:
            groups.append(lokt_group(cfg, backend, *args))
            keys.append(key)
    if groups:
        times = spawntime(cfg, repo, groups, runs, warmup=warmup)
        for key, ns in zip(keys, times):
            out[key].update(summary_ms(ns))
    return out


def make_lock_root(cfg: Config, name: str) -> Path:
    """A scratch repository whose lock root exists (one guard ran in it)."""
    repo = make_repo(cfg.work, name)
    made = run_capture([str(cfg.lokt), "guard", "warm", "--", "true"], repo, backend_env(cfg.backends[0]))
    if made.returncode != 0:
        raise BenchError(f"cannot create the lock root: {made.stderr.strip()}")
    return repo


def bench_status(cfg: Config) -> dict:
    repo = make_lock_root(cfg, "status")
    locks_dir = repo / ".git" / "lokt" / "locks"
    cfg.log(f"status: writing {cfg.status_locks} lock files")
    write_lock_files(locks_dir, cfg.status_locks)

    def check(key: str, backend: Backend, done: subprocess.CompletedProcess) -> dict:
        if key.endswith("status_json"):
            held = sum(1 for lock in json.loads(done.stdout)["locks"] if lock.get("state") == "held")
        else:
            held = sum(1 for line in done.stdout.splitlines()[1:] if line.split() and line.split()[-1] == "held")
        if held != cfg.status_locks:
            return {"error": f"lists {held} held locks, expected {cfg.status_locks}"}
        return {"held_seen": held}

    variants = []
    for backend in cfg.backends:
        variants.append((f"{backend.name}:status", backend, ["status"]))
        variants.append((f"{backend.name}:status_json", backend, ["status", "--json"]))
    cfg.log(f"status: {cfg.status_runs} runs each of {len(variants)} commands")
    timed = timed_variants(cfg, repo, variants, cfg.status_runs, warmup=2, check=check)
    result: dict = {"locks": cfg.status_locks, "runs": cfg.status_runs,
                    "backends": {b.name: {} for b in cfg.backends}}
    for key, entry in timed.items():
        backend, what = key.split(":")
        result["backends"][backend][what] = entry
    # Leave nothing behind that looks held by us.
    shutil.rmtree(locks_dir)
    locks_dir.mkdir(mode=0o700)
    return result


# --------------------------------------------------------------------------- 5. audit

AUDIT_NAMES = [f"res-{i:02d}" for i in range(100)]


def write_audit_log(path: Path, lines: int, span_s: int) -> dict:
    """A JSONL audit log in SPEC.md's format, timestamps increasing over span_s ending now.

    Everything after "ts" comes from a pool of pre-rendered event bodies (random names among
    AUDIT_NAMES, pids, lock ids), so a million lines take seconds, not minutes.
    """
    rng = random.Random(11)
    host = socket.gethostname()
    pool_size = 4096
    bodies: list[str] = []
    for k in range(pool_size):
        event = ("acquire", "release", "acquire", "release", "deny", "renew")[k % 6]
        name = AUDIT_NAMES[rng.randrange(len(AUDIT_NAMES))]
        pid = 1000 + rng.randrange(60000)
        lock_id = f"{rng.getrandbits(128):032x}"
        agent = f"agent-{rng.getrandbits(16):04x}"
        who = f'"owner":"agent-{pid % 7}","host":"{host}","pid":{pid},"agent_id":"{agent}"'
        if event == "deny":
            body = (f'"event":"deny","name":"{name}",{who},"extra":{{"holder":"agent-{pid % 5}@{host}",'
                    f'"holder_pid":{pid + 1},"holder_lock_id":"{lock_id}"}}}}')
        elif event == "release":
            body = f'"event":"release","name":"{name}","lock_id":"{lock_id}",{who}}}'
        else:
            body = f'"event":"{event}","name":"{name}","lock_id":"{lock_id}",{who},"ttl_sec":300}}'
        bodies.append(body)
    end = time.time_ns() - 1_000_000_000
    begin = end - span_s * 1_000_000_000
    step = (end - begin) // lines
    last_second = None
    prefix = ""
    chunk: list[str] = []
    with open(path, "w") as f:
        for i in range(lines):
            seconds, frac = divmod(begin + i * step, 1_000_000_000)
            if seconds != last_second:
                last_second = seconds
                prefix = '{"ts":"' + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            fraction = ("." + f"{frac:09d}".rstrip("0")) if frac else ""
            chunk.append(f'{prefix}{fraction}Z",{bodies[(i * 2654435761) % pool_size]}')
            if len(chunk) >= 65536:
                f.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            f.write("\n".join(chunk) + "\n")
    os.chmod(path, 0o600)
    return {"first_ts": rfc3339(begin), "last_ts": rfc3339(begin + (lines - 1) * step), "bytes": path.stat().st_size}


def bench_audit(cfg: Config) -> dict:
    repo = make_lock_root(cfg, "audit")
    log_path = repo / ".git" / "lokt" / "audit.log"
    span = 7 * 24 * 3600
    cfg.log(f"audit: writing {cfg.audit_lines} lines over 7 days")
    t0 = time.monotonic()
    info = write_audit_log(log_path, cfg.audit_lines, span)
    cfg.log(f"audit: written in {time.monotonic() - t0:.1f} s ({info['bytes'] / 1e6:.0f} MB)")
    name = AUDIT_NAMES[42]

    def check(key: str, backend: Backend, done: subprocess.CompletedProcess) -> dict:
        selected = len(done.stdout.splitlines())
        return {"lines_out": selected, "fraction_pct": selected / cfg.audit_lines * 100}

    variants = []
    for backend in cfg.backends:
        variants.append((f"{backend.name}:since_1h", backend, ["audit", "--since", "1h"]))
        variants.append((f"{backend.name}:name", backend, ["audit", "--name", name]))
    cfg.log(f"audit: {cfg.audit_runs} runs each of {len(variants)} commands")
    timed = timed_variants(cfg, repo, variants, cfg.audit_runs, warmup=1, check=check)
    result: dict = {"lines": cfg.audit_lines, "span_days": 7, "runs": cfg.audit_runs, "name_queried": name,
                    "log": info, "backends": {b.name: {} for b in cfg.backends}}
    for key, entry in timed.items():
        backend, what = key.split(":")
        result["backends"][backend][what] = entry
    log_path.unlink()
    return result


# --------------------------------------------------------------------------- syscall profile

def syscall_profile(cfg: Config) -> dict | None:
    """strace -f -c and -f -T of one uncontended guard, saved next to the results."""
    strace = shutil.which("strace")
    if not strace:
        return None
    repo = make_repo(cfg.work, "strace")
    env = backend_env(cfg.backends[0])
    run_capture([str(cfg.lokt), "guard", "warm", "--", "true"], repo, env)
    command = [str(cfg.lokt), "guard", "bench-strace", "--", "true"]
    summary_file = cfg.out / "strace-summary.txt"
    trace_file = cfg.out / "strace-trace.txt"
    first = run_capture([strace, "-f", "-c", "-o", str(summary_file), *command], repo, env)
    second = run_capture([strace, "-f", "-tt", "-T", "-o", str(trace_file), *command], repo, env)
    if first.returncode != 0 or second.returncode != 0:
        return {"error": (first.stderr + second.stderr).strip()[-500:]}
    counts: dict[str, int] = {}
    total = 0
    for line in summary_file.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            try:
                calls = int(parts[3])
            except ValueError:
                continue
            counts[parts[-1]] = calls
        elif parts and parts[-1] == "total" and len(parts) >= 5:
            total = int(parts[3])
    # The saved trace names paths relative to the checkout, as the rest of the results do.
    trace_file.write_text(trace_file.read_text().replace(str(HERE.parent) + "/", "./"))
    # Text of the lokt process only (the first pid in the trace), not the child `true`.
    lines = trace_file.read_text().splitlines()
    main_pid = lines[0].split()[0] if lines else ""
    own = [ln for ln in lines if ln.split()[0] == main_pid]
    return {"command": " ".join(["lokt", "guard", "bench-strace", "--", "true"]),
            "total_calls": total, "calls": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "lokt_process_lines": len(own), "summary_file": summary_file.name, "trace_file": trace_file.name}


# --------------------------------------------------------------------------- machine facts

def create_unlink_probe(directory: Path, rounds: int = 200) -> float:
    """Microseconds to create and remove one empty file in the scratch directory.

    Lock operations are a few file creations each, so a filesystem where this is slow (a
    monitored or network directory) dominates every figure; it is recorded to make that visible.
    """
    path = directory / ".probe"
    t0 = time.perf_counter_ns()
    for _ in range(rounds):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(path)
    return round((time.perf_counter_ns() - t0) / rounds / 1000, 1)


def machine_facts(cfg: Config) -> dict:
    def text(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": text(["nproc"]) or str(os.cpu_count()),
        "kernel": platform.release(),
        "uname": " ".join(platform.uname()),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1048576, 1),
        "lokt_binary": shown_path(cfg.lokt),
        "lokt_version": text([str(cfg.lokt), "version"]),
        "baseline_lokt": {b.name: f"{shown_path(b.lokt)}: {text([str(b.lokt), 'version'])}"
                          for b in cfg.backends if b.lokt is not None},
        # The checkout this driver runs from; the binary may have been built from another revision
        # (`lokt version` names the one it was built from).
        "bench_checkout": text(["git", "-C", str(HERE.parent), "rev-parse", "--short=12", "HEAD"]),
        "bench_checkout_modified": bool(text(["git", "-C", str(HERE.parent), "status", "--porcelain",
                                              "--untracked-files=no"])),
        "flock_version": text([str(cfg.flock), "--version"]),
        "workdir": shown_path(cfg.work),
        "workdir_fs": text(["stat", "-f", "-c", "%T", str(cfg.work)]),
        "workdir_create_unlink_us": create_unlink_probe(cfg.work),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }


# --------------------------------------------------------------------------- report

def verdict(ok: bool | None) -> str:
    if ok is None:
        return ""
    return "PASS" if ok else "FAIL"


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if unit == "x":
            return f"{value:.2f}x"
        if unit == "%":
            return f"{value:.1f}%"
        if unit == "/s":
            return f"{value:.0f}"
        return f"{value:.2f}"
    return str(value)


def build_rows(results: dict, backends: list[str]) -> list[dict]:
    """One row per figure: flock value, per-backend value, ratio and target verdict."""
    rows: list[dict] = []

    def add(metric: str, flock_value, per_backend: dict, unit: str = "ms", target: str = "",
            checks: dict | None = None, ratios: dict | None = None, errors: dict | None = None):
        rows.append({"metric": metric, "unit": unit, "flock": flock_value, "values": per_backend,
                     "ratios": ratios or {}, "target": target, "verdicts": checks or {}, "errors": errors or {}})

    s = results.get("sections", {})
    if "uncontended" in s and "error" not in s["uncontended"]:
        u = s["uncontended"]
        b = u["backends"]
        add("uncontended guard, median (ms)", u["flock"]["median_ms"], {k: b[k]["guard"]["median_ms"] for k in b},
            target=f"<= {TARGET_UNCONTENDED_RATIO}x flock",
            checks={k: b[k]["median_ratio"] is not None and b[k]["median_ratio"] <= TARGET_UNCONTENDED_RATIO for k in b},
            ratios={k: b[k]["median_ratio"] for k in b})
        add("uncontended guard, p95 (ms)", u["flock"]["p95_ms"], {k: b[k]["guard"]["p95_ms"] for k in b},
            ratios={k: b[k]["p95_ratio"] for k in b})
        add("  reference: `true` alone, median (ms)", u["spawn_floor_true"]["median_ms"], {})
        add("  reference: `lokt version`, median (ms)", None, {k: b[k]["version"]["median_ms"] for k in b})
    if "handoff" in s and "error" not in s["handoff"]:
        h = s["handoff"]
        for n in (str(n) for n in HANDOFF_NS):
            if n not in h["flock"]:
                continue
            b = {k: v[n] for k, v in h["backends"].items()}
            f = h["flock"][n]
            add(f"handoff N={n}, p50 (ms)", f["p50_ms"], {k: b[k]["p50_ms"] for k in b},
                target=f"<= {TARGET_HANDOFF_P50_RATIO:g}x flock",
                checks={k: b[k]["p50_ratio"] is not None and b[k]["p50_ratio"] <= TARGET_HANDOFF_P50_RATIO for k in b},
                ratios={k: b[k]["p50_ratio"] for k in b})
            add(f"handoff N={n}, p95 (ms)", f["p95_ms"], {k: b[k]["p95_ms"] for k in b},
                target=f"< {TARGET_HANDOFF_P95_MS:g} ms",
                checks={k: b[k]["p95_ms"] < TARGET_HANDOFF_P95_MS for k in b},
                ratios={k: ratio(b[k]["p95_ms"], f["p95_ms"]) for k in b})
            add(f"handoff N={n}, max (ms)", f["max_ms"], {k: b[k]["max_ms"] for k in b},
                ratios={k: ratio(b[k]["max_ms"], f["max_ms"]) for k in b})
            add(f"handoff N={n}, overlapping sections", f["overlaps"], {k: b[k]["overlaps"] for k in b}, unit="",
                target="0", checks={k: b[k]["overlaps"] == 0 for k in b})
            add(f"handoff N={n}, runs that failed", f["failed_runs"], {k: b[k]["failed_runs"] for k in b}, unit="",
                target="0", checks={k: b[k]["failed_runs"] == 0 for k in b})
    if "throughput" in s and "error" not in s["throughput"]:
        t = s["throughput"]
        for n in t["flock"]:
            b = {k: v[n] for k, v in t["backends"].items()}
            add(f"throughput N={n} (sections/s)", t["flock"][n]["per_second"], {k: b[k]["per_second"] for k in b},
                unit="/s", ratios={k: b[k]["ratio"] for k in b})
            if t["flock"][n].get("cpu_ms_per_section_median") is not None:
                add(f"  CPU per section N={n}, median of rounds (ms)", t["flock"][n]["cpu_ms_per_section_median"],
                    {k: b[k].get("cpu_ms_per_section_median") for k in b}, ratios={k: b[k].get("cpu_ratio") for k in b})
        failed = {k: sum(v[n]["failed_runs"] for n in v) for k, v in t["backends"].items()}
        add("throughput, runs that failed (all N)", sum(v["failed_runs"] for v in t["flock"].values()), failed,
            unit="", target="0", checks={k: v == 0 for k, v in failed.items()})
        if "8" in t["flock"]:
            b = {k: v["8"] for k, v in t["backends"].items()}
            add("fairness N=8, max deviation from mean (%)", t["flock"]["8"]["max_deviation_pct"],
                {k: b[k]["max_deviation_pct"] for k in b}, unit="%")
    if "fairness" in s and "error" not in s["fairness"]:
        fa = s["fairness"]
        b = fa["backends"]
        add(f"fairness N=8 over {fa['seconds']:g} s, max deviation from mean (%)", fa["flock"]["max_deviation_pct"],
            {k: b[k]["max_deviation_pct"] for k in b}, unit="%", target=f"<= {TARGET_FAIRNESS_PCT:g}% (daemon)",
            checks={k: b[k]["max_deviation_pct"] is not None and b[k]["max_deviation_pct"] <= TARGET_FAIRNESS_PCT
                    for k in b if k == "daemon"})
        add(f"fairness N=8 over {fa['seconds']:g} s (sections/s)", fa["flock"]["per_second"],
            {k: b[k]["per_second"] for k in b}, unit="/s", ratios={k: ratio(b[k]["per_second"], fa["flock"]["per_second"])
                                                                   for k in b})
    if "daemon_resources" in s and "error" not in s["daemon_resources"]:
        r = s["daemon_resources"]
        held_mb = r["rss_kib_held"] * 1024 / 1e6
        add(f"loktd resident memory with {r['holds']} holds (MB)", None, {"daemon": held_mb}, unit="",
            target=f"< {TARGET_DAEMON_RSS_MB:g} MB", checks={"daemon": held_mb < TARGET_DAEMON_RSS_MB})
        add("  reference: loktd resident memory, fresh (MB)", None, {"daemon": r["rss_kib_fresh"] * 1024 / 1e6}, unit="")
        for key, label in (("fresh", "nothing held"), ("held", f"{r['holds']} holds, nobody waiting"),
                           ("released", "after release")):
            value = r[f"wakeups_per_s_{key}"]
            add(f"loktd idle wake-ups per second, {label}", None, {"daemon": value}, unit="",
                target="0", checks={"daemon": value <= TARGET_IDLE_WAKEUPS})
    if "status" in s and "error" not in s["status"]:
        st = s["status"]
        b = st["backends"]
        n = st["locks"]
        for what, label in (("status", "status"), ("status_json", "status --json")):
            values = {k: b[k][what].get("median_ms") for k in b}
            add(f"{label}, {n} locks, median (ms)", None, values, target=f"< {TARGET_STATUS_MS:g} ms",
                checks={k: v is not None and v < TARGET_STATUS_MS for k, v in values.items()},
                errors={k: b[k][what]["error"] for k in b if "error" in b[k][what]})
    if "audit" in s and "error" not in s["audit"]:
        a = s["audit"]
        b = a["backends"]
        n = a["lines"]
        values = {k: b[k]["since_1h"].get("median_ms") for k in b}
        add(f"audit --since 1h, {n} lines, median (ms)", None, values, target=f"< {TARGET_AUDIT_SINCE_MS:g} ms",
            checks={k: v is not None and v < TARGET_AUDIT_SINCE_MS for k, v in values.items()},
            errors={k: b[k]["since_1h"]["error"] for k in b if "error" in b[k]["since_1h"]})
        add(f"audit --name {a['name_queried']}, {n} lines, median (ms)", None,
            {k: b[k]["name"].get("median_ms") for k in b},
            errors={k: b[k]["name"]["error"] for k in b if "error" in b[k]["name"]})
    add_daemon_targets(s, add)
    for name, section in s.items():
        if "error" in section:
            add(f"{name}: not measured ({section['error']})", None, {}, unit="")
    return rows


def add_daemon_targets(s: dict, add: Callable) -> None:
    """The daemon's own targets, as ratios: to flock in the same run, or to the files backend."""
    def row(metric: str, value: float | None, target: str, ok: bool | None) -> None:
        add(metric, None, {"daemon": value}, unit="x", target=target,
            checks={"daemon": ok} if value is not None else {})

    h = s.get("handoff", {})
    if "error" not in h and "8" in h.get("backends", {}).get("daemon", {}):
        d = h["backends"]["daemon"]["8"]
        row("daemon: handoff N=8 p50 / flock's", d["p50_ratio"], f"<= {TARGET_DAEMON_HANDOFF_P50_RATIO:g}x",
            d["p50_ratio"] is not None and d["p50_ratio"] <= TARGET_DAEMON_HANDOFF_P50_RATIO)
        p95 = ratio(d["p95_ms"], h["flock"]["8"]["p95_ms"])
        row("daemon: handoff N=8 p95 / flock's", p95, f"<= {TARGET_DAEMON_HANDOFF_P95_RATIO:g}x",
            p95 is not None and p95 <= TARGET_DAEMON_HANDOFF_P95_RATIO)
    t = s.get("throughput", {})
    if "error" not in t and "8" in t.get("backends", {}).get("daemon", {}):
        r = t["backends"]["daemon"]["8"]["ratio"]
        row("daemon: throughput N=8 / flock's", r, f">= {TARGET_DAEMON_THROUGHPUT_RATIO:g}x",
            r is not None and r >= TARGET_DAEMON_THROUGHPUT_RATIO)
    add_flock_ground_targets(s, add)
    u = s.get("uncontended", {})
    if "error" not in u and {"daemon", "files"} <= set(u.get("backends", {})):
        r = ratio(u["backends"]["daemon"]["guard"]["median_ms"], u["backends"]["files"]["guard"]["median_ms"])
        row("daemon: uncontended guard median / files backend's", r, "<= 1x (no slower)", r is not None and r <= 1.0)


def add_flock_ground_targets(s: dict, add: Callable) -> None:
    """The bounds of "faster than flock(1) on its own ground", for the files and the daemon columns."""
    def row(metric: str, backend: str, value: float | None, target: str, ok: bool) -> None:
        add(metric, None, {backend: value}, unit="x", target=target,
            checks={backend: ok} if value is not None else {})

    u = s.get("uncontended", {})
    for backend, bound in FLOCK_GROUND_UNCONTENDED.items():
        mine = u.get("backends", {}).get(backend) if "error" not in u else None
        if mine:
            r = mine["median_ratio"]
            row(f"flock's ground, {backend}: uncontended guard median / flock's", backend, r, f"<= {bound:g}x",
                r is not None and r <= bound)
    h = s.get("handoff", {})
    for backend in ("files", "daemon"):
        for n in ("8", "32"):
            mine = h.get("backends", {}).get(backend, {}).get(n) if "error" not in h else None
            if not mine:
                continue
            p95 = ratio(mine["p95_ms"], h["flock"][n]["p95_ms"])
            row(f"flock's ground, {backend}: handoff N={n} p50 / flock's", backend, mine["p50_ratio"],
                f"<= {FLOCK_GROUND_HANDOFF_P50:g}x",
                mine["p50_ratio"] is not None and mine["p50_ratio"] <= FLOCK_GROUND_HANDOFF_P50)
            row(f"flock's ground, {backend}: handoff N={n} p95 / flock's", backend, p95, f"<= {FLOCK_GROUND_HANDOFF_P95:g}x",
                p95 is not None and p95 <= FLOCK_GROUND_HANDOFF_P95)
    t = s.get("throughput", {})
    mine = t.get("backends", {}).get("daemon", {}).get("8") if "error" not in t else None
    if mine:
        r = mine["ratio"]
        row("flock's ground, daemon: throughput N=8 / flock's", "daemon", r, f">= {FLOCK_GROUND_THROUGHPUT:g}x",
            r is not None and r >= FLOCK_GROUND_THROUGHPUT)


def render_table(rows: list[dict], backends: list[str], markdown: bool) -> str:
    header = ["metric", "flock"]
    for b in backends:
        header += [f"lokt {b}", f"{b}/flock"]
    header += ["target"] + ([f"verdict ({b})" for b in backends] if len(backends) > 1 else ["verdict"])
    body = []
    for row in rows:
        unit = row["unit"]
        cells = [row["metric"], fmt(row["flock"], unit)]
        for b in backends:
            value = "error" if b in row.get("errors", {}) else fmt(row["values"].get(b), unit)
            cells += [value, fmt(row["ratios"].get(b), "x")]
        cells.append(row["target"])
        for b in backends:
            cells.append(verdict(row["verdicts"].get(b)) if row["verdicts"] else "")
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        for cells in body:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines) + "\n"
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
           "  ".join("-" * w for w in widths)]
    for cells in body:
        out.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)))
    return "\n".join(out) + "\n"


def render_markdown(results: dict, rows: list[dict], backends: list[str]) -> str:
    m = results["machine"]
    p = results["parameters"]
    lines = [
        "# lokt benchmark results",
        "",
        f"- date: {m['date_utc']}",
        f"- command: `{results['command']}`",
        f"- machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"- lokt: `{m['lokt_version']}`; flock: `{m['flock_version']}`; driver from checkout "
        f"{m['bench_checkout']}{' (modified)' if m['bench_checkout_modified'] else ''}",
        *([f"- baseline columns: " + "; ".join(f"{k} runs {v}" for k, v in m["baseline_lokt"].items())]
          if m.get("baseline_lokt") else []),
        f"- scratch filesystem: {m['workdir_fs']} (create+unlink of an empty file: {m['workdir_create_unlink_us']} µs)",
        f"- load average (1/5/15 min) at start: {' / '.join(f'{x:.2f}' for x in m['loadavg_start'])}; "
        f"at end: {' / '.join(f'{x:.2f}' for x in m['loadavg_end'])}",
        f"- mode: {'quick' if p['quick'] else 'full'}; backends: {', '.join(backends)}",
        *([f"- label: {results['label']}"] if results.get("label") else []),
        "",
        render_table(rows, backends, markdown=True),
    ]
    errors = [f"- {row['metric']} ({b}): {text}" for row in rows for b, text in row.get("errors", {}).items()]
    for section in ("handoff", "throughput"):
        data = results.get("sections", {}).get(section, {})
        for label, per_n in [("flock", data.get("flock", {}))] + list(data.get("backends", {}).items()):
            for n, stats in per_n.items():
                for text in stats.get("errors", []):
                    errors.append(f"- {section} N={n} ({label}), stderr of failed runs: {text}")
    if errors:
        lines += ["Failures:", "", *errors, ""]
    sc = results.get("syscalls")
    if sc and "calls" in sc:
        top = ", ".join(f"{k} {v}" for k, v in list(sc["calls"].items())[:12])
        lines += [f"Syscalls of `{sc['command']}` (strace -f -c, lokt and its child): {sc['total_calls']} in all; "
                  f"most frequent: {top}.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

SECTIONS = {
    "uncontended": bench_uncontended,
    "handoff": bench_handoff,
    "throughput": bench_throughput,
    "fairness": bench_fairness,
    "status": bench_status,
    "audit": bench_audit,
    "daemon_resources": bench_daemon_resources,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark lokt against flock(1) on this machine.")
    parser.add_argument("--lokt", required=True, help="path to the lokt binary (an optimized build)")
    parser.add_argument("--out", required=True, help="directory for results.json, results.md and traces")
    parser.add_argument("--quick", action="store_true", help="short smoke-check mode (fewer runs, 1 s windows)")
    parser.add_argument("--backends", default="files", help="comma-separated: files[,daemon] (default: files)")
    parser.add_argument("--loktd", help="path to loktd, needed by the daemon backend")
    parser.add_argument("--baseline-lokt", help="an earlier lokt build, run in the same run as extra columns "
                        "(files@base, daemon@base) interleaved with the others: before and after side by side")
    parser.add_argument("--baseline-loktd", help="the earlier build's loktd, for the daemon@base column")
    parser.add_argument("--flock", default="flock", help="flock(1) to compare with (default: from PATH)")
    parser.add_argument("--only", help=f"comma-separated subset of sections: {','.join(SECTIONS)}")
    parser.add_argument("--workdir", help="where scratch repositories go (default: inside --out)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--hold-us", type=int, default=1000, help="time each handoff section holds the lock (µs)")
    parser.add_argument("--no-strace", action="store_true", help="skip the strace profile of one guard")
    parser.add_argument("--throughput-rounds", type=int, help="rounds of each throughput window (default 3; "
                        "1 with --quick); more rounds narrow a before/after comparison")
    parser.add_argument("--label", default="", help="free text recorded with the results, e.g. the source revision")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    log = lambda text: print(f"[bench] {text}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        lokt = Path(args.lokt).resolve()
        if not os.access(lokt, os.X_OK):
            raise BenchError(f"{args.lokt} is not an executable file")
        flock = shutil.which(args.flock)
        if not flock:
            raise BenchError(f"flock(1) not found ({args.flock}); install util-linux")
        baseline = None
        if args.baseline_lokt:
            baseline = Path(args.baseline_lokt).resolve()
            if not os.access(baseline, os.X_OK):
                raise BenchError(f"{args.baseline_lokt} is not an executable file")
        backends = make_backends(args.backends, args.loktd, baseline, args.baseline_loktd)
        only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
        for s in only:
            if s not in SECTIONS:
                raise BenchError(f"unknown section \"{s}\" (known: {', '.join(SECTIONS)})")
        out = Path(args.out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        # Scratch repositories go beside the results by default, on the same filesystem as a
        # checkout would be (the system temp dir may be a different, slower or faster, filesystem).
        work_parent = Path(args.workdir).resolve() if args.workdir else out
        work = Path(tempfile.mkdtemp(prefix="scratch-", dir=work_parent))
        tools = build_helpers(work / "bin")
        quick = args.quick
        cfg = Config(
            lokt=lokt, flock=Path(flock), out=out, work=work, quick=quick, backends=backends, tools=tools,
            uncontended_runs=30 if quick else 300,
            handoff_sections=48 if quick else 480,
            hold_us=args.hold_us,
            throughput_seconds=1.0 if quick else 5.0,
            throughput_rounds=args.throughput_rounds or (1 if quick else 3),
            throughput_ns=(2, 4, 8, 16),
            fairness_seconds=2.0 if quick else 20.0,
            resource_holds=10_000,
            idle_seconds=2.0 if quick else 10.0,
            status_locks=10_000,
            status_runs=5 if quick else 20,
            audit_lines=1_000_000,
            audit_runs=3 if quick else 10,
            log=log,
        )
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    backend_names = [b.name for b in backends]
    results: dict = {
        "command": "python3 bench/run_bench.py " + shlex.join(argv),
        "parameters": {k: getattr(cfg, k) for k in ("quick", "uncontended_runs", "handoff_sections", "hold_us",
                                                     "throughput_seconds", "throughput_rounds", "throughput_ns",
                                                     "fairness_seconds",
                                                     "resource_holds", "idle_seconds", "status_locks",
                                                     "status_runs", "audit_lines", "audit_runs")},
        "backends": backend_names,
        "label": args.label,
        "machine": machine_facts(cfg),
        "sections": {},
    }
    load = results["machine"]["loadavg_start"][0]
    log(f"load average {load:.2f} on {results['machine']['nproc']} CPUs; scratch in {work}")
    started = []
    try:
        for backend in backends:
            backend.start(work)
            started.append(backend)
        for name in only:
            t0 = time.monotonic()
            try:
                results["sections"][name] = SECTIONS[name](cfg)
            except (BenchError, OSError, subprocess.SubprocessError) as error:
                log(f"{name}: not measured: {error}")
                results["sections"][name] = {"error": str(error)}
            results["sections"][name]["elapsed_s"] = round(time.monotonic() - t0, 1)
        if not args.no_strace:
            try:
                results["syscalls"] = syscall_profile(cfg)
            except (OSError, subprocess.SubprocessError, ValueError) as error:
                results["syscalls"] = {"error": str(error)}
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        for backend in started:
            backend.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["loadavg_end"] = list(os.getloadavg())

    rows = build_rows(results, backend_names)
    results["table"] = rows
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(render_markdown(results, rows, backend_names))
    print(render_table(rows, backend_names, markdown=False))
    failed = [r["metric"] for r in rows for v in r["verdicts"].values() if v is False]
    print(f"results: {out / 'results.json'}, {out / 'results.md'}")
    if failed:
        print("targets missed: " + "; ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
