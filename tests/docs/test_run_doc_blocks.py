#!/usr/bin/env python3
"""Checks the documentation block runner itself on a small made-up document.

A runner that passed everything would make the documentation tests worthless,
so this feeds it blocks that must pass and blocks that must fail, with a fake
`lokt` that needs no build, and compares the verdicts block by block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

RUNNER = Path(__file__).resolve().with_name("run_doc_blocks.py")

FAKE_LOKT = """\
#!/bin/sh
# A fake lokt: "held" fails like a refused acquire, anything else succeeds.
case "$1" in
  held) echo 'error: lock "build" held by agent-1@devbox (pid 4242) for 1m3s' >&2; exit 2 ;;
  *) exit 0 ;;
esac
"""

# Each case: (expected verdict, marker lines, fence language, body).
CASES = [
    ("PASS", [], "bash", "lokt guard build --ttl 5m -- make build\nmake build\n"),
    ("FAIL", [], "bash", "false\necho not reached\n"),
    ("PASS", [], "sh", "go test ./internal/... && go list ./... | grep -q pkg/api\n"),
    ("PASS", ["expect-exit 2"], "bash", "echo first\nlokt held\n"),
    ("FAIL", ["expect-exit 2"], "bash", "lokt held\necho after\n"),
    ("FAIL", ["expect-exit 2"], "bash", "lokt held\nfalse\n"),
    ("PASS", ["expect-exit 1", "setup export GO_STUB_FAIL=./cmd/..."], "bash",
     "if go test ./cmd/...; then\n  echo ok\nelse\n  echo failed\n  false\nfi\n"),
    ("PASS", ["expect-exit 2"], "console",
     "$ lokt lock build\n$ lokt held\n"
     'error: lock "build" held by agent-1@macbook (pid 48201) for 12s\n'),
    ("FAIL", ["expect-exit 2"], "console",
     '$ lokt held\nerror: lock "deploy" held by agent-1@macbook (pid 48201) for 12s\n'),
    ("FAIL", [], "console", "$ lokt held\n$ echo after\n"),
    ("PASS", [], "console", "$ echo one; echo two\none\n...o\n$ printf 'a\\nb\\n'\nb\n"),
    ("FAIL", [], "console", "$ echo one\ntwo\n"),
    ("SKIP", ["skip (installs packages)"], "bash", "apt-get install nothing\n"),
    ("FAIL", ["skip"], "bash", "true\n"),
    ("FAIL", ["no-such-marker"], "bash", "true\n"),
    ("FAIL", ["timeout 1"], "bash", "sleep 30\n"),
    ("PASS", ["setup export GREETING=hello"], "bash", '[ "$GREETING" = hello ]\n'),
    ("PASS", [], "bash", '[ -z "${LOKT_OWNER+set}" ] && [ -z "${LOKT_ROOT+set}" ]\n'),
    ("PASS", [], "bash", "touch made-here\n"),
    ("PASS", ["continue"], "bash", "test -e made-here\n"),
    ("PASS", [], "bash", "test ! -e made-here && git status --short && git push -q --dry-run\n"),
    ("PASS", ["check doc-test-check-parallel 2"], "bash",
     "go test ./internal/... &\nA=$!\ngo test ./pkg/... &\nB=$!\nwait $A\nwait $B\n"),
    ("FAIL", ["check doc-test-check-parallel 2"], "bash", "go test ./internal/...\ngo test ./pkg/...\n"),
    ("FAIL", ["setup export GO_STUB_FAIL=./pkg/money"], "bash", "go test ./pkg/...\n"),
    ("PASS", [], "bash", "sleep 300 &\necho left behind\n"),
]


def build_document() -> str:
    parts = ["# Runner fixture\n\nSome prose.\n\n```text\nnot run\n```\n\n```json\n{}\n```\n"]
    for _verdict, markers, lang, body in CASES:
        parts.append("\n")
        parts.extend(f"<!-- doc-test: {m} -->\n" for m in markers)
        parts.append(f"```{lang}\n{body}```\n")
    return "".join(parts)


class RunnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory(prefix="lokt-runner-test-")
        root = Path(cls.tmp.name)
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (bin_dir / "lokt").write_text(FAKE_LOKT)
        (bin_dir / "lokt").chmod(0o755)
        (root / "docs").mkdir()
        (root / "docs" / "fixture.md").write_text(build_document())
        # The runner's scratch worlds go under this test's own directory, so
        # that the leftover check below sees only this run's processes (the
        # real doc_blocks test may be running beside it).
        env = dict(os.environ, LOKT_OWNER="leaked", LOKT_ROOT="/nonexistent", TMPDIR=str(root))
        cls.result = subprocess.run(
            [sys.executable, str(RUNNER), "--docs", str(root), "--bin", str(bin_dir)],
            env=env, capture_output=True, text=True, timeout=600)
        cls.lines = cls.result.stdout.splitlines()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def test_verdict_of_every_block(self) -> None:
        verdicts = [m.group(1) for line in self.lines
                    if (m := re.match(r"^(PASS|FAIL|SKIP) docs/fixture\.md:\d+", line))]
        expected = [c[0] for c in CASES]
        self.assertEqual(len(verdicts), len(expected), self.result.stdout)
        for n, (got, want) in enumerate(zip(verdicts, expected)):
            case = CASES[n]
            self.assertEqual(got, want, f"case {n} {case[1]} {case[3]!r}\n{self.result.stdout}")

    def test_summary_line_and_status(self) -> None:
        passes = sum(1 for c in CASES if c[0] == "PASS")
        fails = sum(1 for c in CASES if c[0] == "FAIL")
        self.assertEqual(self.lines[-1], f"{passes} passed, {fails} failed", self.result.stdout)
        self.assertEqual(sum(1 for l in self.lines if re.fullmatch(r"\d+ passed, \d+ failed", l)), 1)
        self.assertNotEqual(self.result.returncode, 0)

    def test_no_process_left_behind(self) -> None:
        leftovers = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if b"DOC_TEST_RUN=" + self.tmp.name.encode() in f.read():
                        leftovers.append(entry)
            except OSError:
                pass
        self.assertEqual(leftovers, [])


class NormalizeTest(unittest.TestCase):
    def setUp(self) -> None:
        sys.path.insert(0, str(RUNNER.parent))
        import run_doc_blocks  # noqa: E402
        self.mod = run_doc_blocks

    def test_volatile_details_are_ignored(self) -> None:
        m = self.mod.line_matches
        self.assertTrue(m('error: lock "build" held by agent-1@macbook (pid 48201) for 12s',
                          'error: lock "build" held by agent-1@devbox (pid 7) for 1m3.5s'))
        self.assertTrue(m("frozen until 2026-02-07T15:30:00Z (by ops@devbox)",
                          "frozen until 2031-11-22T01:02:03.123Z (by ops@x.example)"))
        self.assertFalse(m('error: lock "build" held', 'error: lock "deploy" held'))
        self.assertTrue(m("a ... z", "a b c z"))

    def test_last_command_line(self) -> None:
        f = self.mod.last_command_line
        self.assertEqual(f("a\nb \\\n  c\n"), 2)
        self.assertEqual(f("a\nif x; then\n  y\nfi\n# done\n"), 2)
        self.assertEqual(f("cat > f <<'EOF'\nnot a command\nEOF\nrun f\n"), 4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
