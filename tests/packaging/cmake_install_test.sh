#!/usr/bin/env bash
# `cmake --install` (what the quickstart runs) puts lokt and loktd side by side
# under the prefix, with a systemd user unit whose ExecStart names that loktd,
# the Debian copyright and changelog files, and the man pages; and the
# installed lokt can start and stop its daemon (`lokt daemon start` finds the
# loktd installed next to it).
# usage: cmake_install_test.sh BUILD_DIR
set -euo pipefail

build=$1
scratch=$(mktemp -d "${TMPDIR:-/tmp}/lokt-install-test.XXXXXX")
failed=1
trap 'if ((failed)); then echo "scratch directory kept: $scratch"; else rm -rf "$scratch"; fi' EXIT
for variable in $(compgen -e | grep '^LOKT_' || true); do unset "$variable"; done

fail() { echo "FAIL: $*"; exit 1; }
check() { echo "check: $*"; }

prefix=$scratch/prefix
check "cmake --build $build && cmake --install $build --prefix $prefix"
cmake --build "$build" >"$scratch/build.log" 2>&1 || { cat "$scratch/build.log"; fail "cmake --build $build"; }
cmake --install "$build" --prefix "$prefix" >"$scratch/install.log" 2>&1 || { cat "$scratch/install.log"; fail "cmake --install"; }

check "both programs are installed: bin/lokt and bin/loktd"
[[ -x $prefix/bin/lokt ]] || fail "bin/lokt is not installed"

check "the installed lokt hands etcd over https to its twin, libexec/lokt/lokt-tls"
[[ -x $prefix/libexec/lokt/lokt-tls ]] || fail "libexec/lokt/lokt-tls is not installed"
# Nothing listens on port 1: the twin tries to connect (and says so); a lokt
# that did not find it would say that it is missing instead.
said=$(cd "$scratch" && env -i PATH=/usr/bin:/bin HOME="$scratch" LOKT_BACKEND=etcd LOKT_DAEMON=off \
    LOKT_ETCD_ENDPOINTS=https://127.0.0.1:1 LOKT_ETCD_PREFIX=install-test "$prefix/bin/lokt" lock x --ttl 1m 2>&1) &&
    fail "lock against a closed port succeeded: $said"
echo "$said"
grep -q "cannot connect" <<<"$said" || fail "the installed lokt did not reach its twin: $said"
if [[ ! -x $build/daemon/loktd ]]; then
    echo "note: loktd is not built here; nothing more to check"
    failed=0
    exit 0
fi
[[ -x $prefix/bin/loktd ]] || fail "bin/loktd is not installed next to bin/lokt"

check "the user unit's ExecStart names the installed loktd"
unit=$prefix/lib/systemd/user/loktd.service
[[ -f $unit ]] || fail "$unit is not installed"
[[ -f $prefix/lib/systemd/user/loktd.socket ]] || fail "loktd.socket is not installed"
grep '^ExecStart=' "$unit"
grep -q "^ExecStart=$prefix/bin/loktd " "$unit" || fail "ExecStart does not name $prefix/bin/loktd"

check "the copyright file and the changelog"
[[ -s $prefix/share/doc/lokt/copyright ]] || fail "share/doc/lokt/copyright is missing"
gzip -t "$prefix/share/doc/lokt/changelog.gz" || fail "share/doc/lokt/changelog.gz is not gzip"
version=$("$prefix/bin/lokt" version | head -1)
zcat "$prefix/share/doc/lokt/changelog.gz" | head -1 | grep -q "^lokt (" || fail "the changelog does not start with 'lokt ('"

check "the installed lokt starts and stops the installed loktd"
export XDG_RUNTIME_DIR=$scratch/run LOKT_SOCKET=$scratch/run/lokt/loktd.sock
mkdir -m 0700 -p "$XDG_RUNTIME_DIR"
cd "$scratch"
env -i PATH=/usr/bin:/bin HOME="$scratch" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" LOKT_SOCKET="$LOKT_SOCKET" \
    "$prefix/bin/lokt" daemon start || fail "lokt daemon start (installed: $version)"
env -i PATH=/usr/bin:/bin HOME="$scratch" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" LOKT_SOCKET="$LOKT_SOCKET" \
    "$prefix/bin/lokt" daemon status | grep -q "$prefix/bin/loktd\|loktd" || fail "lokt daemon status"
env -i PATH=/usr/bin:/bin HOME="$scratch" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" LOKT_SOCKET="$LOKT_SOCKET" \
    "$prefix/bin/lokt" daemon stop || fail "lokt daemon stop"

failed=0
echo "PASS"
