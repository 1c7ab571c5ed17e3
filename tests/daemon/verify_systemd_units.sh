#!/usr/bin/env bash
# The systemd user units the build generates from packaging/systemd/ (the
# .in templates filled in with the install prefix) are valid units, and their
# ExecStart names the loktd that the install puts under that prefix, next to
# lokt. systemd-analyze then verifies them with ExecStart pointed at the loktd
# just built (it checks that the program exists).
# Skipped (exit 0 with a message) when systemd-analyze is not installed.
# Usage: verify_systemd_units.sh BUILD_DIR INSTALL_PREFIX LOKTD
set -euo pipefail
build_dir=$1
prefix=$2
loktd=$3
units=$build_dir/packaging/systemd
fail() { echo "FAIL: $*"; exit 1; }
[[ -f $units/loktd.service && -f $units/loktd.socket ]] || fail "$units does not hold loktd.service and loktd.socket"
grep -q "^ExecStart=$prefix/bin/loktd " "$units/loktd.service" \
    || fail "ExecStart does not name $prefix/bin/loktd: $(grep '^ExecStart=' "$units/loktd.service")"
grep -q '@[A-Z_]*@' "$units/loktd.service" && fail "a template variable was left in loktd.service"
grep -q '^ListenStream=%t/lokt/loktd.sock$' "$units/loktd.socket" || fail "loktd.socket does not listen on %t/lokt/loktd.sock"
if ! command -v systemd-analyze >/dev/null; then
    echo "skipped: systemd-analyze is not installed (the generated units were checked for ExecStart only)"
    exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
sed "s#^ExecStart=$prefix/bin/loktd #ExecStart=$loktd #" "$units/loktd.service" >"$scratch/loktd.service"
cp "$units/loktd.socket" "$scratch/"
grep -q "^ExecStart=$loktd " "$scratch/loktd.service"
cd "$scratch"
XDG_RUNTIME_DIR=$scratch systemd-analyze --user --man=no verify loktd.socket loktd.service
echo "ok: the generated loktd.socket and loktd.service verify (ExecStart=$prefix/bin/loktd)"
