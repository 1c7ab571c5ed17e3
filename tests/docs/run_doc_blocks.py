#!/usr/bin/env python3
"""Run every shell block of the user documentation as a test.

Why this exists: the documents are what users and agents copy commands from,
so each ```bash, ```sh and ```console block of README.md and docs/*.md must
really work. Each block is one test case, run by bash in a scratch git
repository of its own.

Usage:
    run_doc_blocks.py --docs SOURCE_DIR --bin LOKT_BIN_DIR [--filter TEXT]
                      [--timeout SECONDS] [--keep] [--verbose] [--list]

SOURCE_DIR holds README.md and docs/; LOKT_BIN_DIR holds the lokt binary.

The scratch world of a block
    SCRATCH/repo     a git repository (the current directory of the block) on
                     branch main, with one commit pushed to SCRATCH/remote.git
                     ("origin"), a Makefile (build, test, lint, deploy,
                     migrate; two builds at once make one fail), scripts/migrate.sh, scripts/deploy.sh,
                     scripts/train.sh and a small Go module (go.mod, internal/,
                     cmd/, pkg/ with *_test.go files)
    SCRATCH/home     $HOME, with a .gitconfig naming a committer
    SCRATCH/run      $XDG_RUNTIME_DIR, so no daemon outside the test is used
    SCRATCH/tmp      $TMPDIR
    SCRATCH/stubs    a fake `go` (go list, go test [-run RE] [-list RE],
                     go version) that reads the Go module above; each package
                     takes $GO_STUB_DELAY seconds (default 0.3); packages that
                     match a pattern of $GO_STUB_FAIL (space separated, like
                     ./cmd/...) fail
    PATH             LOKT_BIN_DIR, then SCRATCH/stubs, then the inherited PATH
    environment      every LOKT_* and GIT_* variable removed

Blocks and their markers
    A marker is an HTML comment on the line right before the opening fence
    (several markers may stand on consecutive lines):
      <!-- doc-test: skip (REASON) -->   do not run; a reason is required
      <!-- doc-test: expect-exit N -->   the last command must exit with N,
                                         every command before it with 0
      <!-- doc-test: setup CODE -->      bash CODE run first, in the same
                                         shell, not shown to the reader
      <!-- doc-test: check CODE -->      bash CODE run after a passing block
                                         in the same scratch repository; the
                                         block fails if CODE fails
      <!-- doc-test: continue -->        run in the scratch repository of the
                                         previous block of the same file (its
                                         files, not its shell variables)
      <!-- doc-test: timeout SECONDS --> instead of the default (60 s)
    An unknown marker, or a marker not followed by a runnable fence, fails.

Rules for ```bash and ```sh blocks (both run with bash)
    The block runs as a script under `set -e -o pipefail`: a command that
    fails in the middle fails the block, as it would stop an agent's script.
    A block that needs a failing command's status captures it
    (`cmd || rc=$?`, `if ! cmd; then`). Without a marker the block must end
    with status 0. With expect-exit N, the block must end with N, and the
    first failure must come from the last top-level command (the last line
    that starts at column 0 and is not a continuation, a comment or a closing
    keyword such as fi, done, esac).

Rules for ```console blocks
    A line starting with "$ " is a command (a trailing backslash continues it
    on the next line). Every other non-blank line is expected output of the
    command above it, from stdout and stderr together. Each command except
    the last must exit 0; the last must exit 0, or N with expect-exit N.
    Expected lines must appear in the command's output in the order given;
    the output may hold other lines too. Before comparing, both sides are
    normalized so that volatile details do not matter: trailing blanks are
    dropped, the host after "@" (as in agent-1@macbook) becomes HOST, hex
    words holding a digit become X, every number becomes 0 and a duration
    such as 1m12s becomes 0s. Inside an expected line, "..." matches any text.

Output
    One line per block (PASS, FAIL or SKIP with FILE:LINE), details under a
    failure, and last, alone on its line: "N passed, N failed". Skipped blocks
    count in neither number. The exit status is 0 only when nothing failed
    and at least one block ran.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RUNNABLE_LANGUAGES = {"bash", "sh", "shell", "console"}
DEFAULT_TIMEOUT = 60.0
MARKER_RE = re.compile(r"^\s*<!--\s*doc-test:\s*([A-Za-z][\w-]*)\s*(.*?)\s*-->\s*$")
FENCE_RE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")
RUN_MARK = "DOC_TEST_RUN"  # set in every block's environment to find leftovers


@dataclass
class Block:
    path: Path
    display: str
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    skip: str | None = None
    expect_exit: int = 0
    setup: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    cont: bool = False
    timeout: float = DEFAULT_TIMEOUT
    errors: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.display}:{self.line}"


# --------------------------------------------------------------------------
# Extraction


def parse_markers(lines: list[tuple[int, str]], block: Block) -> None:
    for lineno, text in lines:
        m = MARKER_RE.match(text)
        assert m
        kind, arg = m.group(1), m.group(2)
        if kind == "skip":
            reason = arg.strip()
            if reason.startswith("(") and reason.endswith(")"):
                reason = reason[1:-1].strip()
            if not reason:
                block.errors.append(f"line {lineno}: skip marker without a reason")
            block.skip = reason or "no reason given"
        elif kind == "expect-exit":
            if not re.fullmatch(r"\d{1,3}", arg):
                block.errors.append(f"line {lineno}: expect-exit needs a number, got {arg!r}")
            else:
                block.expect_exit = int(arg)
        elif kind == "setup":
            if not arg:
                block.errors.append(f"line {lineno}: empty setup marker")
            block.setup.append(arg)
        elif kind == "check":
            if not arg:
                block.errors.append(f"line {lineno}: empty check marker")
            block.checks.append(arg)
        elif kind == "continue":
            block.cont = True
        elif kind == "timeout":
            try:
                block.timeout = float(arg)
            except ValueError:
                block.errors.append(f"line {lineno}: timeout needs seconds, got {arg!r}")
        else:
            block.errors.append(f"line {lineno}: unknown doc-test marker {kind!r}")


def extract_blocks(path: Path, display: str) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: list[tuple[int, str]] = []  # markers waiting for their fence
    i = 0
    while i < len(lines):
        text = lines[i]
        if MARKER_RE.match(text):
            pending.append((i + 1, text))
            i += 1
            continue
        fence = FENCE_RE.match(text)
        if fence:
            indent, ticks, lang = fence.groups()
            lang = lang.lower()
            body: list[str] = []
            j = i + 1
            close = re.compile(r"^\s*" + re.escape(ticks[0]) + "{" + str(len(ticks)) + r",}\s*$")
            while j < len(lines) and not close.match(lines[j]):
                line = lines[j]
                if indent and line.startswith(indent):
                    line = line[len(indent):]
                body.append(line)
                j += 1
            if lang in RUNNABLE_LANGUAGES:
                block = Block(path, display, i + 1, lang, "\n".join(body) + "\n")
                parse_markers(pending, block)
                if j >= len(lines):
                    block.errors.append("fence is never closed")
                blocks.append(block)
            elif pending:
                block = Block(path, display, i + 1, lang or "text", "")
                block.errors.append(f"doc-test marker before a {lang or 'plain'} fence, which never runs")
                blocks.append(block)
            pending = []
            i = j + 1
            continue
        if pending and text.strip():
            block = Block(path, display, pending[0][0], "marker", "")
            block.errors.append("doc-test marker not followed by a fence")
            blocks.append(block)
            pending = []
        i += 1
    if pending:
        block = Block(path, display, pending[0][0], "marker", "")
        block.errors.append("doc-test marker at the end of the file")
        blocks.append(block)
    return blocks


def collect_blocks(docs_root: Path) -> list[Block]:
    files: list[Path] = []
    readme = docs_root / "README.md"
    if readme.is_file():
        files.append(readme)
    docs_dir = docs_root / "docs"
    if docs_dir.is_dir():
        files.extend(sorted(p for p in docs_dir.glob("*.md") if p.is_file()))
    blocks: list[Block] = []
    for f in files:
        blocks.extend(extract_blocks(f, str(f.relative_to(docs_root))))
    return blocks


# --------------------------------------------------------------------------
# Console blocks


@dataclass
class ConsoleCommand:
    text: str
    expected: list[str]


def parse_console(text: str) -> tuple[list[ConsoleCommand], list[str]]:
    commands: list[ConsoleCommand] = []
    errors: list[str] = []
    continuing = False
    for raw in text.splitlines():
        line = raw.rstrip()
        if continuing:
            commands[-1].text += "\n" + line
            continuing = line.endswith("\\")
            continue
        if line.startswith("$ ") or line == "$":
            cmd = line[2:] if len(line) > 1 else ""
            commands.append(ConsoleCommand(cmd, []))
            continuing = cmd.endswith("\\")
            continue
        if not line.strip():
            continue
        if not commands:
            errors.append(f"output line before any command: {line!r}")
            continue
        commands[-1].expected.append(line)
    if not commands:
        errors.append("console block without a '$ ' command")
    return commands, errors


def normalize(line: str) -> str:
    line = line.rstrip()
    line = re.sub(r"@[A-Za-z0-9][A-Za-z0-9._-]*", "@HOST", line)
    line = re.sub(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{4,}\b", "X", line)
    line = re.sub(r"\d+(?:\.\d+)?", "0", line)
    line = re.sub(r"\b(?:0(?:h|ms|m|s|us|µs|ns))+\b", "0s", line)
    return line


def line_matches(expected: str, actual: str) -> bool:
    exp, act = normalize(expected), normalize(actual)
    if "..." not in exp:
        return exp == act
    pattern = ".*".join(re.escape(part) for part in exp.split("..."))
    return re.fullmatch(pattern, act) is not None


def missing_expected(expected: list[str], actual: list[str]) -> str | None:
    """Returns the first expected line not found (in order), or None."""
    pos = 0
    for exp in expected:
        while pos < len(actual) and not line_matches(exp, actual[pos]):
            pos += 1
        if pos >= len(actual):
            return exp
        pos += 1
    return None


# --------------------------------------------------------------------------
# Bash blocks


CLOSERS = re.compile(r"^(fi|done|esac|\}|\)|;;|else|elif\b|then|do)\b|^[)}]")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def last_command_line(text: str) -> int:
    """Line (1-based) where the last top-level command of a bash block starts."""
    last = 1
    heredoc_end: str | None = None
    continued = False
    for n, line in enumerate(text.splitlines(), start=1):
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        starts = (
            not continued
            and line[:1] not in ("", " ", "\t", "#")
            and not CLOSERS.match(line)
        )
        if starts:
            last = n
        continued = line.rstrip().endswith("\\")
        h = HEREDOC.search(line)
        if h and not line.lstrip().startswith("#"):
            heredoc_end = h.group(2)
    return last


# --------------------------------------------------------------------------
# The scratch world


GO_STUB = r'''
"""A stand-in for the go tool, enough for the documentation's examples."""
import os, re, sys, time

def module_root():
    d = os.getcwd()
    while True:
        if os.path.isfile(os.path.join(d, "go.mod")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            sys.exit("go: cannot find main module (no go.mod here or above)")
        d = parent

def module_name(root):
    with open(os.path.join(root, "go.mod")) as f:
        for line in f:
            if line.startswith("module "):
                return line.split()[1]
    return "example.com/unknown"

def packages(root):
    found = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        if any(f.endswith(".go") for f in files):
            found.append(os.path.relpath(d, root))
    return sorted(found)

def to_import_pattern(pattern, root, mod):
    if pattern == mod or pattern.startswith(mod + "/"):
        return pattern
    if pattern == "." or pattern.startswith("./") or pattern.startswith("../"):
        recursive = pattern.endswith("/...")
        base = pattern[:-4] if recursive else pattern
        rel = os.path.relpath(os.path.normpath(os.path.join(os.getcwd(), base)), root)
        path = mod if rel == "." else mod + "/" + rel
        return path + ("/..." if recursive else "")
    return pattern

def matches(pattern, rel, mod):
    path = mod if rel == "." else mod + "/" + rel
    if pattern.endswith("/..."):
        base = pattern[:-4]
        return path == base or path.startswith(base + "/")
    return path == pattern

def select(patterns, root, mod):
    rels = packages(root)
    chosen = []
    for pat in patterns or ["."]:
        ip = to_import_pattern(pat, root, mod)
        hits = [r for r in rels if matches(ip, r, mod)]
        if not hits:
            print(f'go: warning: "{pat}" matched no packages', file=sys.stderr)
            sys.exit(1)
        for h in hits:
            if h not in chosen:
                chosen.append(h)
    return chosen

def tests_of(root, rel):
    names = []
    d = os.path.join(root, rel)
    for f in sorted(os.listdir(d)):
        if f.endswith("_test.go"):
            with open(os.path.join(d, f)) as fh:
                names += re.findall(r"^func (Test\w+)\(", fh.read(), re.M)
    return names

VALUE_FLAGS = {"run", "list", "count", "timeout", "p", "parallel", "tags", "skip", "f", "shuffle", "cpu"}

def parse(args):
    flags, rest = {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1:
            name = a.lstrip("-")
            if "=" in name:
                name, value = name.split("=", 1)
            elif name in VALUE_FLAGS:
                i += 1
                value = args[i] if i < len(args) else ""
            else:
                value = True
            flags[name] = value
        else:
            rest.append(a)
        i += 1
    return flags, rest

def log(event, what):
    logfile = os.environ.get("GO_STUB_LOG")
    if logfile:
        with open(logfile, "a") as f:
            f.write(f"{time.time():.3f} {os.getpid()} {event} {what}\n")

def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: go <command> [arguments]")
    cmd, args = args[0], args[1:]
    if cmd == "version":
        print("go version go1.22.5 linux/amd64 (documentation stub)")
        return 0
    root = module_root()
    mod = module_name(root)
    flags, patterns = parse(args)
    if cmd == "list":
        # One write, as go's buffered output is: a reader that stops early
        # (`go list ./... | grep -q X` under pipefail) must not see a broken
        # pipe that depends on whether Python's output is buffered.
        lines = [(mod if rel == "." else mod + "/" + rel) + "\n" for rel in select(patterns, root, mod)]
        sys.stdout.write("".join(lines))
        sys.stdout.flush()
        return 0
    if cmd != "test":
        print(f"go {cmd}: not supported by the documentation stub", file=sys.stderr)
        return 2
    failing = os.environ.get("GO_STUB_FAIL", "").split()
    delay = float(os.environ.get("GO_STUB_DELAY", "0.3"))
    run_re = re.compile(str(flags["run"])) if "run" in flags else None
    list_re = re.compile(str(flags["list"])) if "list" in flags else None
    status = 0
    log("start", " ".join(sys.argv[1:]))
    for rel in select(patterns, root, mod):
        path = mod if rel == "." else mod + "/" + rel
        names = tests_of(root, rel)
        if list_re is not None:
            for n in names:
                if list_re.search(n):
                    print(n)
            print(f"ok  \t{path}\t0.002s")
            continue
        time.sleep(delay)
        selected = [n for n in names if run_re is None or run_re.search(n)]
        if "v" in flags:
            for n in selected:
                print(f"=== RUN   {n}\n--- PASS: {n} (0.00s)")
        if not selected:
            print(f"ok  \t{path}\t{delay:.3f}s [no tests to run]")
        elif any(matches(to_import_pattern(p, root, mod), rel, mod) for p in failing):
            print(f"--- FAIL: {selected[0]} (0.00s)")
            print(f"    {os.path.basename(rel)}_test.go:17: got 41, want 42")
            print("FAIL")
            print(f"FAIL\t{path}\t{delay:.3f}s")
            status = 1
        else:
            print(f"ok  \t{path}\t{delay:.3f}s")
    log("end", " ".join(sys.argv[1:]))
    if status:
        print("FAIL")
    return status

sys.exit(main())
'''

CHECK_PARALLEL = r'''
"""Exits 0 when at least two `go test` runs of this block overlapped in time."""
import os, sys
spans = {}
try:
    with open(os.environ["GO_STUB_LOG"]) as f:
        for line in f:
            ts, pid, event, *_ = line.split()
            spans.setdefault(pid, {})[event] = float(ts)
except FileNotFoundError:
    sys.exit("no go test ran")
runs = sorted((s["start"], s["end"]) for s in spans.values() if "start" in s and "end" in s)
need = int(sys.argv[1]) if len(sys.argv) > 1 else 2
best = 0
for start, _ in runs:
    best = max(best, sum(1 for a, b in runs if a <= start < b))
if best < need:
    sys.exit(f"at most {best} go test runs overlapped; wanted {need}")
'''

MAKEFILE = """\
# The scratch project of the documentation tests.
.PHONY: build test lint deploy migrate clean

# Two builds at once in one directory fail loudly, as real ones would break.
build:
\t@mkdir .build-in-progress 2>/dev/null || { echo "make: another build is running here" >&2; exit 1; }; \\
\t echo "compiling shop..."; sleep 0.3; mkdir -p out && date -u +%FT%TZ > out/shop; \\
\t rmdir .build-in-progress; echo "built out/shop"

test:
\t@go test ./...

lint:
\t@echo "lint: 0 problems"

deploy: build
\t@./scripts/deploy.sh

migrate:
\t@./scripts/migrate.sh

clean:
\t@rm -rf out
"""

SCRIPTS = {
    "scripts/migrate.sh": """\
#!/bin/sh
# Applies the scratch project's database migrations (a stand-in).
echo "applying migration 0007_add_orders... done"
""",
    "scripts/deploy.sh": """\
#!/bin/sh
# Deploys the scratch project (a stand-in).
echo "deploying out/shop to staging... done"
""",
    "scripts/train.sh": """\
#!/bin/sh
# Trains a model on the GPU in $CUDA_VISIBLE_DEVICES (a stand-in).
echo "training on GPU ${CUDA_VISIBLE_DEVICES:-none}... done"
""",
}

GO_FILES = {
    "internal/cart": ["TestAddItem", "TestRemoveItem", "TestTotal"],
    "internal/pricing": ["TestDiscount", "TestTax"],
    "internal/store": ["TestSave", "TestLoad", "TestMigrate"],
    "cmd/shop": ["TestMain"],
    "cmd/shopctl": ["TestFlags", "TestHelp"],
    "pkg/api": ["TestGetOrder", "TestListOrders", "TestCreateOrder", "TestCancelOrder",
                "TestRefund", "TestAuth"],
    "pkg/money": ["TestRound", "TestParse"],
    "pkg/slug": ["TestSlug"],
}


def run_quiet(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def write_exec(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def block_env(scratch: Path, bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LOKT_") and not k.startswith("GIT_")}
    env["HOME"] = str(scratch / "home")
    env["XDG_RUNTIME_DIR"] = str(scratch / "run")
    env["TMPDIR"] = str(scratch / "tmp")
    env["PATH"] = os.pathsep.join([str(bin_dir), str(scratch / "stubs"), env.get("PATH", "/usr/bin:/bin")])
    env["GO_STUB_LOG"] = str(scratch / "go-calls.log")
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env[RUN_MARK] = str(scratch)
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
    env.pop("MFLAGS", None)
    return env


def make_scratch(bin_dir: Path) -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="lokt-doc-"))
    env = block_env(scratch, bin_dir)
    home = scratch / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Doc Test\n\temail = doc-test@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        encoding="utf-8")
    run = scratch / "run"
    run.mkdir(mode=0o700)
    (scratch / "tmp").mkdir()
    stubs = scratch / "stubs"
    write_exec(stubs / "go", f"#!{sys.executable}\n" + GO_STUB)
    write_exec(stubs / "doc-test-check-parallel", f"#!{sys.executable}\n" + CHECK_PARALLEL)

    repo = scratch / "repo"
    repo.mkdir()
    (repo / "Makefile").write_text(MAKEFILE, encoding="utf-8")
    for rel, text in SCRIPTS.items():
        write_exec(repo / rel, text)
    (repo / "go.mod").write_text("module example.com/shop\n\ngo 1.22\n", encoding="utf-8")
    for rel, tests in GO_FILES.items():
        pkg = rel.rsplit("/", 1)[1]
        d = repo / rel
        d.mkdir(parents=True)
        pkg_name = "main" if rel.startswith("cmd/") else pkg
        (d / f"{pkg}.go").write_text(f"package {pkg_name}\n", encoding="utf-8")
        funcs = "".join(f"\nfunc {t}(t *testing.T) {{}}\n" for t in tests)
        (d / f"{pkg}_test.go").write_text(
            f'package {pkg_name}\n\nimport "testing"\n{funcs}', encoding="utf-8")
    (repo / ".gitignore").write_text("out/\n.build-in-progress/\n", encoding="utf-8")
    run_quiet(["git", "init", "-q"], repo, env)
    run_quiet(["git", "add", "."], repo, env)
    run_quiet(["git", "commit", "-q", "-m", "shop: first commit"], repo, env)
    run_quiet(["git", "init", "-q", "--bare", str(scratch / "remote.git")], scratch, env)
    run_quiet(["git", "remote", "add", "origin", str(scratch / "remote.git")], repo, env)
    run_quiet(["git", "push", "-q", "-u", "origin", "main"], repo, env)
    return scratch


def processes_of(scratch: Path) -> list[int]:
    """Pids of live processes started for this scratch world (by environment mark)."""
    mark = f"{RUN_MARK}={scratch}".encode()
    pids = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def end_leftovers(scratch: Path) -> list[int]:
    pids = processes_of(scratch)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            pids = processes_of(scratch)
            if not pids:
                return []
            time.sleep(0.05)
    return pids


# --------------------------------------------------------------------------
# Running one block


PROLOGUE = """\
cd "$DOC_TEST_REPO" || exit 97
set -o pipefail
"""


def bash_script(block: Block, work: Path) -> str:
    (work / "block.sh").write_text(block.text, encoding="utf-8")
    (work / "setup.sh").write_text("\n".join(block.setup) + "\n", encoding="utf-8")
    return PROLOGUE + f"""\
trap 'printf "%s %s\\n" "$?" "$LINENO" >> "{work}/err"' ERR
set -e
source "{work}/setup.sh"
source "{work}/block.sh"
"""


def console_script(block: Block, commands: list[ConsoleCommand], work: Path) -> str:
    parts = [PROLOGUE, f'source "{work}/setup.sh" || exit 98\n']
    (work / "setup.sh").write_text("set -e\n" + "\n".join(block.setup) + "\nset +e\n",
                                   encoding="utf-8")
    last = len(commands)
    for n, cmd in enumerate(commands, start=1):
        parts.append(f'{{ {cmd.text}\n}} > "{work}/out.{n}" 2>&1\n__doc_status=$?\n')
        parts.append(f'echo "$__doc_status" > "{work}/status.{n}"\n')
        if n < last:
            parts.append(f'[ "$__doc_status" -eq 0 ] || exit "$__doc_status"\n')
        else:
            parts.append('exit "$__doc_status"\n')
    return "".join(parts)


@dataclass
class Outcome:
    passed: bool
    details: list[str]


def run_script(script: str, work: Path, scratch: Path, env: dict[str, str],
               timeout: float) -> tuple[int | None, str]:
    (work / "run.sh").write_text(script, encoding="utf-8")
    log = work / "output.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(work / "run.sh")], cwd=scratch / "repo", env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            status: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = None
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    end_leftovers(scratch)
    return status, log.read_text(encoding="utf-8", errors="replace")


def describe_status(status: int) -> str:
    return f"killed by signal {-status}" if status < 0 else f"exit {status}"


def run_block(block: Block, scratch: Path, bin_dir: Path, verbose: bool) -> Outcome:
    env = block_env(scratch, bin_dir)
    env["DOC_TEST_REPO"] = str(scratch / "repo")
    work = Path(tempfile.mkdtemp(prefix="block-", dir=scratch))
    details: list[str] = []

    commands: list[ConsoleCommand] = []
    if block.language == "console":
        commands, errors = parse_console(block.text)
        if errors:
            return Outcome(False, errors)
        script = console_script(block, commands, work)
    else:
        script = bash_script(block, work)

    status, output = run_script(script, work, scratch, env, block.timeout)
    if status is None:
        return Outcome(False, [f"timed out after {block.timeout:g} s (a hanging block fails)",
                               *indent_output(output)])

    ok = True
    if block.language == "console":
        ran = sorted(int(p.name.split(".")[1]) for p in work.glob("status.*"))
        for n in ran:
            cmd = commands[n - 1]
            got = int((work / f"status.{n}").read_text().strip() or "0")
            actual = (work / f"out.{n}").read_text(encoding="utf-8", errors="replace").splitlines()
            want = block.expect_exit if n == len(commands) else 0
            if got != want:
                ok = False
                details.append(f"command {n} `{first_line(cmd.text)}`: exit {got}, expected {want}")
            missing = missing_expected(cmd.expected, actual)
            if missing is not None:
                ok = False
                details.append(f"command {n} `{first_line(cmd.text)}`: expected output line not found:")
                details.append(f"    {missing}")
            if got != want or missing is not None or verbose:
                details.append(f"  output of command {n}:")
                details.extend(indent_output("\n".join(actual)))
        if not ran:
            ok = False
            details.append(f"no command ran ({describe_status(status)}; setup failed?)")
        elif len(ran) < len(commands) and ok:
            ok = False
            details.append(f"stopped after command {len(ran)} of {len(commands)}")
        if output.strip() and (not ok or verbose):
            details.append("  output outside the commands:")
            details.extend(indent_output(output))
    else:
        errfile = work / "err"
        first_err = errfile.read_text().split("\n", 1)[0].split() if errfile.exists() else []
        if status != block.expect_exit:
            ok = False
            where = f" (first failure at block line {first_err[1]})" if len(first_err) == 2 else ""
            details.append(f"{describe_status(status)}, expected exit {block.expect_exit}{where}")
        elif block.expect_exit != 0:
            last = last_command_line(block.text)
            if len(first_err) == 2 and int(first_err[1]) < last:
                ok = False
                details.append(f"exit {status} came from block line {first_err[1]}, "
                               f"not from the last command (line {last})")
        if not ok or verbose:
            details.extend(indent_output(output))

    if ok:
        for code in block.checks:
            check_status, check_output = run_script(PROLOGUE + code + "\n", work, scratch, env,
                                                    block.timeout)
            if check_status != 0:
                ok = False
                details.append(f"check `{code}` failed "
                               f"({'timed out' if check_status is None else describe_status(check_status)})")
                details.extend(indent_output(check_output))
    return Outcome(ok, details)


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def indent_output(text: str, limit: int = 80) -> list[str]:
    lines = text.rstrip("\n").splitlines()
    if len(lines) > limit:
        lines = lines[:limit // 2] + [f"... ({len(lines) - limit} lines left out) ..."] + lines[-limit // 2:]
    return ["    | " + line for line in lines]


# --------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the shell blocks of the lokt documentation.")
    parser.add_argument("--docs", required=True, type=Path,
                        help="source directory holding README.md and docs/")
    parser.add_argument("--bin", required=True, type=Path,
                        help="directory holding the lokt binary")
    parser.add_argument("--filter", default="",
                        help="run only blocks whose FILE:LINE contains this text")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per block unless a marker says otherwise")
    parser.add_argument("--keep", action="store_true", help="keep scratch directories")
    parser.add_argument("--verbose", "-v", action="store_true", help="show output of passing blocks")
    parser.add_argument("--list", action="store_true", help="list the blocks and exit")
    args = parser.parse_args()

    docs_root = args.docs.resolve()
    bin_dir = args.bin.resolve()
    if not docs_root.is_dir():
        print(f"error: {docs_root} is not a directory", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    if not (bin_dir / "lokt").is_file() or not os.access(bin_dir / "lokt", os.X_OK):
        print(f"error: no executable lokt in {bin_dir}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1

    blocks = collect_blocks(docs_root)
    for b in blocks:
        if b.timeout == DEFAULT_TIMEOUT:
            b.timeout = args.timeout
    if args.filter:
        blocks = [b for b in blocks if args.filter in b.where]
    if args.list:
        for b in blocks:
            extra = f" skip: {b.skip}" if b.skip else ""
            print(f"{b.where} {b.language}{extra}")
        return 0

    passed = failed = skipped = 0
    scratch: Path | None = None
    scratch_file: Path | None = None
    previous_ok = True
    for b in blocks:
        if b.errors:
            failed += 1
            print(f"FAIL {b.where} ({b.language}): malformed")
            for e in b.errors:
                print(f"    {e}")
            continue
        if b.skip is not None:
            skipped += 1
            print(f"SKIP {b.where} ({b.language}): {b.skip}")
            continue
        if b.cont and (scratch is None or scratch_file != b.path):
            failed += 1
            print(f"FAIL {b.where} ({b.language}): 'continue' with no earlier block in this file")
            continue
        if b.cont and not previous_ok:
            failed += 1
            print(f"FAIL {b.where} ({b.language}): the block it continues failed")
            continue
        if not b.cont:
            if scratch is not None and not args.keep:
                shutil.rmtree(scratch, ignore_errors=True)
            try:
                scratch = make_scratch(bin_dir)
            except subprocess.CalledProcessError as e:
                failed += 1
                print(f"FAIL {b.where} ({b.language}): cannot set up the scratch repository: "
                      f"{' '.join(e.cmd)}: {e.stderr.decode(errors='replace').strip()}")
                scratch = None
                continue
            scratch_file = b.path
        assert scratch is not None
        started = time.monotonic()
        outcome = run_block(b, scratch, bin_dir, args.verbose)
        took = time.monotonic() - started
        previous_ok = outcome.passed
        if outcome.passed:
            passed += 1
            print(f"PASS {b.where} ({b.language}, {took:.1f} s)")
        else:
            failed += 1
            print(f"FAIL {b.where} ({b.language}, {took:.1f} s)")
            if args.keep:
                print(f"    scratch kept in {scratch}")
        for d in outcome.details:
            print(f"    {d}")
        sys.stdout.flush()
    if scratch is not None and not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)

    if passed + failed == 0:
        print("error: no runnable block found", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
