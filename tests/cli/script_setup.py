"""What the multi-process CLI scripts (fence_tokens.py, slot_pool.py,
shared_lock.py, clock_skew.py) all start from: the binaries under test from
the command line, flock(1) for their witnesses, and a private loktd that
answers on its socket before the first worker starts."""

import argparse
import os
import shutil
import socket
import subprocess
import time


def parse_args(counts=(), paths=()):
    """--lokt and --loktd (made absolute), plus each (flag, default) of counts
    as an integer and each flag of paths as another required binary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--lokt", required=True)
    parser.add_argument("--loktd", required=True)
    for flag in paths:
        parser.add_argument(flag, required=True)
    for flag, default in counts:
        parser.add_argument(flag, type=int, default=default)
    args = parser.parse_args()
    args.lokt = os.path.abspath(args.lokt)
    args.loktd = os.path.abspath(args.loktd)
    for flag in paths:
        attribute = flag.lstrip("-").replace("-", "_")
        setattr(args, attribute, os.path.abspath(getattr(args, attribute)))
    return args


def have_flock():
    """Whether flock(1) is there; says what is missing when it is not."""
    if shutil.which("flock") is None:
        print("flock(1) is not installed (package util-linux)")
        return False
    return True


def start_loktd(loktd, sock, env, log_path, log_mode="w"):
    """Starts loktd on sock in its own session and returns it once it accepts
    connections (within 10 s, or AssertionError)."""
    log = open(log_path, log_mode)
    daemon = subprocess.Popen([loktd, "--socket", sock], env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock)
                return daemon
        except OSError:
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise AssertionError("loktd did not start")
            time.sleep(0.005)
