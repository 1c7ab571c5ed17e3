#!/usr/bin/env python3
"""The resource guarded in the cross-host test: it cannot be lied to by lokt.

Run as a guarded command with LOKT_FENCE set. It keeps its state in one JSON
file under flock(2) and does a section in four writes (enter, two steps,
leave). Every write carries the section's fence and is refused when a higher
fence has been seen: a stale holder (one whose lock lapsed while it was
paused) is turned away at its next write. A section entering while another
section with an equal fence is inside, or while one that was not overtaken
is inside, is an overlap. Writes the outcome as the exit status: 0 done,
3 refused by the fence.
"""
import fcntl
import json
import os
import sys
import time

state_path = sys.argv[1]
fence = int(os.environ["LOKT_FENCE"])
me = f"{os.uname().nodename}:{os.getpid()}:{fence}"


def with_state(change):
    with open(state_path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        state = json.load(f)
        result = change(state)
        f.seek(0)
        f.truncate()
        json.dump(state, f)
        f.flush()
        return result


def enter(state):
    if fence < state["highest"]:
        state["refused"].append(me)
        return False
    for other, other_fence in state["inside"].items():
        if other_fence >= fence:
            state["overlaps"].append(f"{me} entered while {other} was inside")
        else:
            state["overtaken"].append(other)  # stale from now on: its next write is refused
    state["highest"] = fence
    state["inside"][me] = fence
    state["admitted"] += 1
    return True


def step(state):
    if fence < state["highest"]:
        state["refused"].append(me)
        state["inside"].pop(me, None)
        return False
    return True


def leave(state):
    ok = step(state)
    state["inside"].pop(me, None)
    return ok


if not with_state(enter):
    sys.exit(3)
for _ in range(2):
    time.sleep(0.01)
    if not with_state(step):
        sys.exit(3)
sys.exit(0 if with_state(leave) else 3)
