#!/usr/bin/env python3
"""Writes cmake/hot_text.ld: the code that lokt's everyday commands run, listed
so that the link puts it first and together.

Why: `lokt` lives a few milliseconds, and a good part of that is the kernel
mapping the program's code and tearing the mapping down again. A guard runs
about 800 KB of the program's 4.7 MB of code, which the link spread over some
360 pages among code it never runs; the everyday commands together run about
900 KB. Placed together, that fits in about 250 pages, and
client/prefault_code.cpp maps just that range at start (the rest is mapped by
the kernel when, rarely, something in it runs).

How: link `lokt` with a map (the build does: build/client/lokt.map), run the
commands below under valgrind's callgrind in a scratch repository, once on the
files and once through loktd, and map every instruction they ran to the input
section (function) it came from. The list is only an order: a function renamed
since it was written is simply not moved (and is mapped when it runs).

    python3 cmake/hot_text.py --lokt build/client/lokt --loktd build/daemon/loktd \
        --map build/client/lokt.map --out cmake/hot_text.ld
"""
import argparse
import bisect
import os
import re
import subprocess
import sys
import tempfile
import time

# What a user or an agent runs again and again. `guard --wait` behind a holder
# covers the waiting path; each runs on the files and through loktd.
COMMANDS = [
    ["version"],
    ["guard", "hot-a", "--", "true"],
    ["lock", "hot-b", "--ttl", "1m"],
    ["status"],
    ["status", "hot-b", "--json"],
    ["why", "hot-b"],
    ["unlock", "hot-b"],
    ["guard", "hot-w", "--wait", "--", "true"],  # run while another guard holds hot-w
    ["hook", "claude-pretooluse"],  # an agent's every edit, checked against another owner's reservation
]

# What Claude Code sends the hook before an edit (the fields lokt reads).
EDIT_PAYLOAD = """{"hook_event_name": "PreToolUse", "tool_name": "Edit", "cwd": "@REPO@",
 "tool_input": {"file_path": "@REPO@/src/main.c", "old_string": "a", "new_string": "b"}}"""

# Section names that many objects share: these must name their object too.
SYMBOL_SECTION = re.compile(r"^\.text\.(?:(?:unlikely|startup|hot|exit)\.)?([A-Za-z_][A-Za-z0-9_.$]*)$")


def parse_map(path):
    """The input sections of the output section .text (and of an earlier hot list): (address, size, name, file)."""
    sections = []
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    inside = False
    pending = None
    for line in lines:
        if re.match(r"^\.(text|lokt_hot_text)\s", line) or line in (".text", ".lokt_hot_text"):
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            inside = False
            continue
        if not inside:
            continue
        whole = re.match(r"^ (\.text\S*)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", line)
        if whole:
            sections.append((int(whole.group(2), 16), int(whole.group(3), 16), whole.group(1), whole.group(4)))
            pending = None
            continue
        alone = re.match(r"^ (\.text\S*)\s*$", line)
        if alone:
            pending = alone.group(1)
            continue
        placed = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", line)
        if placed and pending:
            sections.append((int(placed.group(1), 16), int(placed.group(2), 16), pending, placed.group(3)))
        pending = None
    sections.sort()
    return sections


def run_profiles(lokt, loktd, out_dir):
    """Runs COMMANDS under callgrind, on the files and through loktd; returns the profiles."""
    profiles = []
    repo = tempfile.mkdtemp(prefix="hot-text-")
    subprocess.run(["git", "init", "-q", repo], check=True)
    socket = os.path.join(repo, "loktd.sock")
    daemon = subprocess.Popen([loktd, "--socket", socket], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(socket):
            if time.monotonic() > deadline or daemon.poll() is not None:
                sys.exit("hot_text: loktd did not start")
            time.sleep(0.02)
        # On the files as lokt is usually run: LOKT_DAEMON unset (auto) and no
        # daemon answering, so the look for one is part of the profile too.
        no_daemon = os.path.join(repo, "no-daemon.sock")
        for backend, env_extra in (("files", {"LOKT_DAEMON": "auto", "LOKT_SOCKET": no_daemon}),
                                   ("daemon", {"LOKT_DAEMON": "require", "LOKT_SOCKET": socket})):
            env = dict(os.environ, **env_extra)
            # Another agent's claim, so that the hook has reservations to check.
            subprocess.run([lokt, "reserve", "docs/**", "--ttl", "5m"], cwd=repo, env=dict(env, LOKT_OWNER="hot-other"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i, args in enumerate(COMMANDS):
                holder = None
                if args[:2] == ["guard", "hot-w"]:
                    holder = subprocess.Popen([lokt, "guard", "hot-w", "--", "sleep", "2"], cwd=repo, env=env)
                    deadline = time.monotonic() + 10
                    while subprocess.run([lokt, "exists", "hot-w"], cwd=repo, env=env).returncode != 0:
                        if time.monotonic() > deadline:
                            sys.exit("hot_text: the holder of hot-w never showed up")
                        time.sleep(0.02)
                out = os.path.join(out_dir, f"{backend}-{i}.callgrind")
                subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
                                "--compress-strings=no", f"--callgrind-out-file={out}", lokt, *args],
                               input=EDIT_PAYLOAD.replace("@REPO@", repo) if args[0] == "hook" else "",
                               cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
                if not os.path.exists(out):  # `why` of a held name exits 2, as it should: only a missing profile is wrong
                    sys.exit(f"hot_text: no profile of lokt {' '.join(args)}")
                if holder:
                    holder.wait()
                profiles.append(out)
    finally:
        daemon.terminate()
        daemon.wait()
        subprocess.run(["rm", "-rf", repo])
    return profiles


def executed_addresses(profile):
    for line in open(profile, encoding="utf-8", errors="replace"):
        if line.startswith("0x"):
            yield int(line.split()[0], 16)
        elif line.startswith("calls="):
            target = line.split()[1]
            if target.startswith("0x"):
                yield int(target, 16)


def pattern_for(name, file, shared_names):
    """An input section description that picks out this section (and as little else as it can)."""
    symbol = SYMBOL_SECTION.match(name)
    if symbol and name not in shared_names:
        return f"*({name})"
    member = re.match(r"^(?:.*/)?([^/()]+\.a)\(([^()]+)\)$", file)
    if member:
        archive, obj = member.groups()
        if archive == "libc.a" and "-" in obj:
            # glibc picks one of several variants (memmove-avx-..., memmove-evex-...)
            # by the CPU it starts on, which valgrind's is not: take them all.
            stem = obj.split("-", 1)[0]
            return f"*{archive}:{stem}-*.o(.text .text.*)"
        return f"*{archive}:{obj}({name})"
    return f"*{os.path.basename(file)}({name})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--loktd", required=True)
    parser.add_argument("--map", required=True, help="the link map of that lokt")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    sections = parse_map(args.map)
    if not sections:
        sys.exit(f"hot_text: no .text input sections in {args.map}")
    starts = [s[0] for s in sections]
    counts = {}
    for _, _, name, _ in sections:
        counts[name] = counts.get(name, 0) + 1
    shared_names = {name for name, n in counts.items() if n > 1}

    with tempfile.TemporaryDirectory(prefix="hot-text-profiles-") as out_dir:
        hot = set()
        for profile in run_profiles(os.path.abspath(args.lokt), os.path.abspath(args.loktd), out_dir):
            for address in executed_addresses(profile):
                k = bisect.bisect_right(starts, address) - 1
                if k >= 0 and address < sections[k][0] + sections[k][1]:
                    hot.add(k)

    patterns = []
    seen = set()
    for k in sorted(hot):  # in the order the link placed them: callers near callees
        _, _, name, file = sections[k]
        pattern = pattern_for(name, file, shared_names)
        if pattern not in seen:
            seen.add(pattern)
            patterns.append(pattern)
    hot_bytes = sum(sections[k][1] for k in hot)

    with open(args.out, "w", encoding="utf-8") as out:
        out.write("/* The code lokt's everyday commands run, placed first and together so that\n"
                  " * client/prefault_code.cpp can map it in one call. Written by cmake/hot_text.py\n"
                  f" * ({len(patterns)} sections, {hot_bytes} bytes when written); regenerate it\n"
                  " * after large changes. A stale entry only leaves a function where it was. */\n"
                  "SECTIONS\n{\n  .lokt_hot_text :\n  {\n    lokt_hot_text_begin = .;\n")
        for pattern in patterns:
            out.write(f"    {pattern}\n")
        out.write("    lokt_hot_text_end = .;\n  }\n}\nINSERT BEFORE .text;\n")
    print(f"hot_text: {len(patterns)} sections, {hot_bytes} bytes -> {args.out}")


if __name__ == "__main__":
    main()
