#!/usr/bin/env python3
"""The incident timeline in a real browser.

Why this exists: `lokt audit --timeline` hands people a page whose timeline
is drawn by an inline script; only a browser can tell whether that script
runs and draws what the log says. This plays a known scenario with the real
`lokt` (two agents contend for "build": a refusal, then a --wait that waits;
a human force-unlocks "test"; "deploy" is frozen and refuses an agent;
"lint" is still held at the end), writes the page, and has headless
Chromium load it:

  --dump-dom     the DOM after the script ran: one .hold element per hold
                 (4), the markers (2 refusals, 1 break), one wait, one
                 freeze, the summary numbers, and no script error;
  --screenshot   a non-empty PNG of the page.

Then a window of 21,000 holds, too many for an element each, must be drawn
on a canvas with the script running to its end.

Chromium is required: the test fails, not skips, when it is missing.
Every Chromium run is bounded by a timeout and its whole process group is
killed afterwards, so the test cannot hang.

Usage: timeline_browser_test.py --bin LOKT_BIN_DIR [--chromium PATH] [--keep]
"""

import argparse
import html.parser
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
]


def run_chromium(chromium, args, scratch, timeout=90):
    """Runs Chromium in a process group of its own with a fresh profile; returns stdout."""
    profile = tempfile.mkdtemp(prefix="profile-", dir=scratch)
    cmd = [chromium] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + args
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SystemExit("FAIL: chromium did not finish within %ds: %s" % (timeout, " ".join(cmd)))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # helpers it left behind
        except ProcessLookupError:
            pass
    if proc.returncode != 0:
        raise SystemExit("FAIL: chromium exited %d:\n%s" % (proc.returncode, err.decode(errors="replace")[-4000:]))
    return out.decode(errors="replace")


class Dom(html.parser.HTMLParser):
    """The elements of the dumped DOM: (tag, attributes) in order, and texts by id."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.texts = {}
        self._open = []  # (tag, id) of the elements whose text is collected

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        self._open.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for tag, attrs in self._open:
            key = attrs.get("data-total")
            if key:
                self.texts[key] = self.texts.get(key, "") + data

    def with_class(self, name):
        return [a for _, a in self.elements if name in (a.get("class") or "").split()]


class Checks:
    def __init__(self):
        self.failures = []

    def equal(self, what, got, want):
        status = "ok" if got == want else "FAIL"
        print("%-4s %s: %r (want %r)" % (status, what, got, want))
        if got != want:
            self.failures.append(what)

    def true(self, what, value):
        print("%-4s %s" % ("ok" if value else "FAIL", what))
        if not value:
            self.failures.append(what)


def play_scenario(lokt, env):
    def run(owner, *args, expect=0):
        e = dict(env, LOKT_OWNER=owner)
        r = subprocess.run([lokt] + list(args), env=e, capture_output=True, text=True, timeout=60)
        if r.returncode != expect:
            raise SystemExit("FAIL: lokt %s as %s exited %d, want %d:\n%s" % (" ".join(args), owner, r.returncode, expect, r.stderr))
        return r

    run("agent-1", "lock", "build", "--ttl", "5m")
    run("agent-2", "lock", "build", "--ttl", "5m", expect=2)
    waiter = subprocess.Popen([lokt, "guard", "build", "--ttl", "5m", "--wait", "--timeout", "1m", "--", "sleep", "0.2"],
                              env=dict(env, LOKT_OWNER="agent-2"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = os.path.join(env["LOKT_ROOT"], "audit.log")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(log) as f:
            if f.read().count('"waiting":true') >= 1:
                break
        time.sleep(0.02)
    else:
        waiter.kill()
        raise SystemExit("FAIL: the waiter never queued")
    time.sleep(0.3)
    run("agent-1", "unlock", "build")
    if waiter.wait(timeout=60) != 0:
        raise SystemExit("FAIL: the waiting guard failed: " + waiter.stderr.read().decode())
    run("agent-1", "lock", "test", "--ttl", "5m")
    run("ops", "unlock", "test", "--force")
    run("ops", "freeze", "deploy", "--ttl", "10m")
    run("agent-1", "lock", "deploy", "--ttl", "1m", expect=2)
    run("ops", "unfreeze", "deploy")
    run("agent-2", "lock", "lint", "--ttl", "5m")


def write_many_holds(path, count):
    """count holds of one second each, on 20 names, by 5 agents, as lokt writes them."""
    start = time.time() - count * 2 - 60
    with open(path, "w") as f:
        for i in range(count):
            name, agent, lock_id = f"res-{i % 20}", f"agent-{i % 5}", f"{i:032x}"
            for offset, event in ((0, "acquire"), (1, "release")):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + i * 2 + offset))
                f.write(f'{{"ts":"{stamp}Z","event":"{event}","name":"{name}","lock_id":"{lock_id}",'
                        f'"owner":"{agent}","host":"h","pid":{1000 + i}}}\n')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the directory of the lokt binary")
    parser.add_argument("--chromium", default=os.environ.get("LOKT_TEST_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    chromium = shutil.which(args.chromium)
    if chromium is None:
        print("FAIL: no Chromium at %s: install it (apt-get install chromium), see README.md" % args.chromium)
        return 1
    lokt = os.path.join(args.bin, "lokt")
    scratch = tempfile.mkdtemp(prefix="lokt-browser-")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOKT_")}
        env.update(LOKT_ROOT=os.path.join(scratch, "root"), LOKT_DAEMON="off", HOME=scratch)
        play_scenario(lokt, env)

        page = os.path.join(scratch, "incident.html")
        r = subprocess.run([lokt, "audit", "--since", "1h", "--timeline", page], env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            print("FAIL: audit --timeline exited %d: %s" % (r.returncode, r.stderr))
            return 1

        url = "file://" + page
        dom_text = run_chromium(chromium, ["--virtual-time-budget=5000", "--window-size=1400,900", "--dump-dom", url], scratch)
        dom = Dom()
        dom.feed(dom_text)
        check = Checks()
        body = next((a for t, a in dom.elements if t == "body"), {})
        check.equal("the drawing script finished", body.get("data-ready"), "true")
        check.equal("drawn as SVG", body.get("data-mode"), "svg")
        holds = dom.with_class("hold")
        check.equal("one .hold per hold", len(holds), 4)
        check.equal("holds per name", sorted(h.get("data-name") for h in holds), ["build", "build", "lint", "test"])
        check.equal("holders of build, in order",
                    [h.get("data-agent", "").split("@")[0] for h in holds if h.get("data-name") == "build"], ["agent-1", "agent-2"])
        check.equal("how the holds ended", sorted(h.get("data-end") for h in holds), ["force-break", "open", "released", "released"])
        check.equal("refusal markers", len(dom.with_class("refusal")), 2)
        check.equal("break markers", len(dom.with_class("break")), 1)
        check.equal("lost markers", len(dom.with_class("lost")), 0)
        waits = dom.with_class("wait")
        check.equal("wait spans", len(waits), 1)
        check.equal("the wait was granted", [w.get("data-granted") for w in waits], ["true"])
        check.equal("freeze spans", [f.get("data-name") for f in dom.with_class("freeze")], ["deploy"])
        check.equal("row labels", len(dom.with_class("row-label")), 4)
        check.equal("summary: holds", dom.texts.get("holds"), "4")
        check.equal("summary: still held", dom.texts.get("open"), "1")
        check.equal("summary: refusals", dom.texts.get("refusals"), "2")
        check.equal("summary: waits", dom.texts.get("waits"), "1")
        check.equal("summary: breaks", dom.texts.get("breaks"), "1")
        check.equal("summary: freezes", dom.texts.get("freezes"), "1")
        busiest = [a for t, a in dom.elements if t == "tr" and "data-name" in a]
        check.true("busiest names starts with build", bool(busiest) and busiest[0].get("data-name") == "build")
        legend = [a for t, a in dom.elements if t == "li"]
        check.equal("a legend entry per agent", len(legend), 3)

        shot = os.path.join(scratch, "timeline.png")
        run_chromium(chromium, ["--virtual-time-budget=5000", "--window-size=1400,900", "--screenshot=" + shot, url], scratch)
        with open(shot, "rb") as f:
            png = f.read()
        check.true("the screenshot is a PNG", png.startswith(b"\x89PNG\r\n\x1a\n"))
        check.true("the screenshot is not blank (%d bytes)" % len(png), len(png) > 10000)

        # A window too big for an element per hold is drawn on a canvas: the
        # script must still run to its end there.
        big_root = os.path.join(scratch, "big")
        os.makedirs(big_root)
        write_many_holds(os.path.join(big_root, "audit.log"), 21000)
        big_page = os.path.join(scratch, "big.html")
        big_env = dict(env, LOKT_ROOT=big_root)
        r = subprocess.run([lokt, "audit", "--timeline", big_page], env=big_env, capture_output=True, text=True, timeout=120)
        check.equal("audit --timeline of 21,000 holds exits", r.returncode, 0)
        big = Dom()
        big.feed(run_chromium(chromium, ["--virtual-time-budget=5000", "--window-size=1400,900", "--dump-dom", "file://" + big_page], scratch))
        big_body = next((a for t, a in big.elements if t == "body"), {})
        check.equal("21,000 holds: the drawing script finished", big_body.get("data-ready"), "true")
        check.equal("21,000 holds: drawn on a canvas", big_body.get("data-mode"), "canvas")
        check.equal("21,000 holds: one canvas", len([t for t, _ in big.elements if t == "canvas"]), 1)
        check.equal("21,000 holds: the summary counts them", big.texts.get("holds"), "21000")

        if check.failures:
            print("FAILED: %s (page and screenshot in %s)" % (", ".join(check.failures), scratch))
            args.keep = True
            return 1
        print("all checks passed")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
