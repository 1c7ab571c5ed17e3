#!/usr/bin/env bash
# The systemd user units in packaging/systemd/ are valid units that start the
# loktd just built: systemd-analyze verifies them with ExecStart pointed at it.
# Skipped (exit 0 with a message) when systemd-analyze is not installed.
# Usage: verify_systemd_units.sh SOURCE_DIR LOKTD
set -euo pipefail
source_dir=$1
loktd=$2
if ! command -v systemd-analyze >/dev/null; then
    echo "skipped: systemd-analyze is not installed"
    exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
sed "s#^ExecStart=/usr/bin/loktd#ExecStart=$loktd#" "$source_dir/packaging/systemd/loktd.service" >"$scratch/loktd.service"
cp "$source_dir/packaging/systemd/loktd.socket" "$scratch/"
grep -q "^ExecStart=$loktd " "$scratch/loktd.service"
grep -q '^ListenStream=%t/lokt/loktd.sock$' "$scratch/loktd.socket"
cd "$scratch"
XDG_RUNTIME_DIR=$scratch systemd-analyze --user --man=no verify loktd.socket loktd.service
echo "ok: loktd.socket and loktd.service verify"
