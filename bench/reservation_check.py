#!/usr/bin/env python3
"""How long "may this owner write this path?" takes with 1,000 reservations
present: the check an edit hook runs before every Edit or Write.

Sets up a scratch git repository whose root holds 1,000 reservations (10
owners, 100 globs each, of several shapes), then measures whole process runs,
start to exit:

  version_ms        `lokt version`: the cost of starting lokt at all
  check_denied_ms   `lokt reserve --check PATH --json` for a path another owner reserved (exit 2)
  check_free_ms     the same for a path nobody reserved (exit 0)
  check_many_ms     the same for 20 paths at once
  hook_deny_ms      `lokt hook claude-pretooluse` fed a recorded Edit payload on stdin that it denies
  hook_bare_ms      `cat` fed the same payload: what feeding stdin from here costs by itself
  reserve_ms        `lokt reserve GLOB --ttl 10m` then `lokt unreserve GLOB` (the table rewritten twice), per command

The first four run through bench/helpers/spawntime (posix_spawn to waitpid,
interleaved, no interpreter in between); the hook and reserve rows are timed
from Python with subprocess, so the hook row is compared with hook_bare_ms.
Medians and 90th percentiles of RUNS runs each.

Usage:
  python3 bench/reservation_check.py --lokt build/client/lokt [--runs 300] [--out DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
    env.update(extra)
    return env


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "p90": round(percentile(values, 0.9), 3)}


def build_spawntime(work: Path) -> Path:
    tool = work / "spawntime"
    subprocess.run(["cc", "-O2", "-o", str(tool), str(HERE / "helpers" / "spawntime.c")], check=True)
    return tool


def populate(lokt: str, repo: Path) -> None:
    # Ten owners, each with 100 globs under a tree of its own, in the shapes
    # agents write: a subtree, files by extension, a single file, a class.
    for owner in range(10):
        globs = []
        for i in range(100):
            shape = i % 4
            if shape == 0:
                globs.append(f"svc{owner}/mod{i}/**")
            elif shape == 1:
                globs.append(f"svc{owner}/mod{i}/**/*.c")
            elif shape == 2:
                globs.append(f"svc{owner}/mod{i}/main.go")
            else:
                globs.append(f"svc{owner}/mod{i}/[a-m]*.py")
        subprocess.run([lokt, "reserve", *globs, "--ttl", "2h"], cwd=repo, check=True, stdout=subprocess.DEVNULL,
                       env=clean_env({"LOKT_OWNER": f"owner-{owner}"}))
    count = len(json.loads(subprocess.run([lokt, "status", "--json"], cwd=repo, check=True, capture_output=True,
                                          env=clean_env({})).stdout)["reservations"])
    if count != 1000:
        raise SystemExit(f"expected 1000 reservations, found {count}")


def spawn_groups(tool: Path, repo: Path, groups: list[list[str]], runs: int) -> list[list[float]]:
    argv = [str(tool), "-n", str(runs), "-w", "10"]
    for i, group in enumerate(groups):
        if i:
            argv.append(":::")
        argv += group
    done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, env=clean_env({"LOKT_OWNER": "agent-x"}))
    if done.returncode != 0:
        raise SystemExit(f"spawntime failed: {done.stderr}")
    times: list[list[float]] = [[] for _ in groups]
    for line in done.stdout.splitlines():
        index, ns, _status = line.split()
        times[int(index)].append(int(ns) / 1e6)
    return times


def timed_runs(argv: list[str], repo: Path, runs: int, stdin: bytes | None = None, env=None) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=repo, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env or clean_env({"LOKT_OWNER": "agent-x"}))
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    lokt = str(Path(args.lokt).resolve())

    work = Path(tempfile.mkdtemp(prefix="lokt-reservation-bench-"))
    try:
        repo = work / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", "."], cwd=repo, check=True)
        tool = build_spawntime(work)
        populate(lokt, repo)
        table = repo / ".git" / "lokt" / "reservations" / "table.json"
        load_before = os.getloadavg()

        denied = "svc3/mod48/internal/x.c"
        free = "tools/gen/x.c"
        many = [f"svc{k}/other{i}.c" for k in range(10) for i in range(2)]
        check = [lokt, "reserve", "--check"]
        groups = [[lokt, "version"], check + [denied, "--json"], check + [free, "--json"], check + many + ["--json"]]
        version, check_denied, check_free, check_many = spawn_groups(tool, repo, groups, args.runs)

        payload = json.dumps({
            "session_id": "bench", "transcript_path": "/dev/null", "cwd": str(repo), "permission_mode": "default",
            "hook_event_name": "PreToolUse", "tool_name": "Edit",
            "tool_input": {"file_path": str(repo / denied), "old_string": "a", "new_string": "b"},
            "tool_use_id": "toolu_bench"}).encode()
        answer = subprocess.run([lokt, "hook", "claude-pretooluse"], cwd=repo, input=payload, capture_output=True,
                                env=clean_env({"LOKT_OWNER": "agent-x"}))
        if b'"deny"' not in answer.stdout:
            raise SystemExit(f"the hook did not deny: {answer.stdout!r} {answer.stderr!r}")
        hook_bare = timed_runs(["cat"], repo, args.runs, payload)
        hook_deny = timed_runs([lokt, "hook", "claude-pretooluse"], repo, args.runs, payload)

        reserve = []
        owner_env = clean_env({"LOKT_OWNER": "agent-x"})
        for i in range(max(10, args.runs // 10)):
            for argv in ([lokt, "reserve", f"tools/t{i}/**", "--ttl", "10m"], [lokt, "unreserve", f"tools/t{i}/**"]):
                started = time.perf_counter()
                subprocess.run(argv, cwd=repo, check=True, stdout=subprocess.DEVNULL, env=owner_env)
                reserve.append((time.perf_counter() - started) * 1000)

        results = {
            "reservations": 1000,
            "table_bytes": table.stat().st_size,
            "runs": args.runs,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "version_ms": summary(version),
            "check_denied_ms": summary(check_denied),
            "check_free_ms": summary(check_free),
            "check_many_ms": summary(check_many),
            "hook_bare_ms": summary(hook_bare),
            "hook_deny_ms": summary(hook_deny),
            "reserve_ms": summary(reserve),
        }
        text = json.dumps(results, indent=2)
        print(text)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "reservation_check.json").write_text(text + "\n")
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
