#!/usr/bin/env python3
"""The static programs carry their everyday code first and together, as
cmake/hot_text.ld lists it, and that list still names the program's code.

prefault_code.cpp maps only the range between lokt_hot_text_begin and
lokt_hot_text_end at start; this checks that the link made that range (a
build that lost the linker script would silently map all 4.7 MB again, or a
range with nothing in it), and that the list has not gone stale: most of its
functions must still be ones the link found and placed there. When this fails
after a large change, regenerate the list (see cmake/hot_text.py).

    hot_text_test.py LINKER_SCRIPT PROGRAM [PROGRAM...]   (each PROGRAM has PROGRAM.map beside it)
"""
import os
import re
import subprocess
import sys

# The link map is read as the list's writer reads it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "cmake"))
from hot_text import parse_map  # noqa: E402

# Of the list's functions (entries of the form *(.text.SYMBOL)), the share the
# link must still have found: a few renamed or inlined since the list was
# written are expected.
MIN_FOUND = 0.8
# The hot range is a part of the code, or mapping it would be mapping it all.
MAX_SHARE_OF_CODE = 0.4

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def sections_of(program):
    out = subprocess.run(["readelf", "-SW", program], check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*)", line)
        if m:
            found[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), m.group(4))
    return found


def symbols_of(program):
    out = subprocess.run(["nm", program], check=True, capture_output=True, text=True).stdout
    return {parts[2]: int(parts[0], 16) for parts in (line.split() for line in out.splitlines()) if len(parts) == 3}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    script, programs = sys.argv[1], sys.argv[2:]
    listed = re.findall(r"^\s*\*\((\.text\.[^)\s]+)\)\s*$", open(script, encoding="utf-8").read(), re.M)
    check(len(listed) >= 100, f"{script} lists only {len(listed)} functions")

    for program in programs:
        sections = sections_of(program)
        symbols = symbols_of(program)
        hot = sections.get(".lokt_hot_text")
        text = sections.get(".text")
        if not check(hot is not None and text is not None, f"{program}: no .lokt_hot_text section beside .text"):
            continue
        hot_address, hot_size, hot_flags = hot
        text_address, text_size, _ = text
        check("X" in hot_flags, f"{program}: .lokt_hot_text is not executable ({hot_flags})")
        check(hot_address < text_address, f"{program}: .lokt_hot_text is not before .text")
        check(symbols.get("lokt_hot_text_begin") == hot_address, f"{program}: lokt_hot_text_begin is not where the range starts")
        end = symbols.get("lokt_hot_text_end", 0)
        check(hot_address < end <= hot_address + hot_size, f"{program}: lokt_hot_text_end is not inside the range")
        share = hot_size / (hot_size + text_size)
        check(share <= MAX_SHARE_OF_CODE, f"{program}: the hot range is {share:.0%} of the code")

        placed = {name for address, _, name, _ in parse_map(program + ".map")
                  if hot_address <= address < hot_address + hot_size}
        found = sum(1 for name in listed if name in placed)
        share_found = found / len(listed) if listed else 0
        check(share_found >= MIN_FOUND,
              f"{program}: only {found} of the {len(listed)} functions {script} lists are in the program "
              f"({share_found:.0%}); regenerate it with cmake/hot_text.py")
        print(f"{program}: hot range {hot_size} bytes ({share:.0%} of the code); "
              f"{found} of {len(listed)} listed functions placed in it")

    for failure in failures:
        print("FAIL:", failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
