#!/usr/bin/env bash
# The Debian package: build it (`package` target), install it with dpkg into a
# scratch root, run what it installed, check its man pages and completions,
# then remove it again.
# usage: deb_install_test.sh BUILD_DIR VERSION LOKT_BIN SOURCE_DIR
set -euo pipefail

build=$1 version=$2 lokt_bin=$3 source=$4
scratch=$(mktemp -d "${TMPDIR:-/tmp}/lokt-deb-test.XXXXXX")
failed=1
trap 'if ((failed)); then echo "scratch directory kept: $scratch"; else rm -rf "$scratch"; fi' EXIT
for variable in $(compgen -e | grep '^LOKT_' || true); do unset "$variable"; done
# Files only: a daemon the user happens to run must not answer for the package.
export LOKT_DAEMON=off LOKT_SOCKET=$scratch/loktd.sock

fail() { echo "FAIL: $*"; exit 1; }
check() { echo "check: $*"; }

check "the package target builds lokt_${version}_<arch>.deb"
for tool in dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev file:file strip:binutils; do
    command -v "${tool%%:*}" >/dev/null || fail "${tool%%:*} not found (the package target needs it): install it with 'apt-get install ${tool#*:}'"
done
arch=$(dpkg --print-architecture)
deb=$build/lokt_${version}_${arch}.deb
rm -f "$deb"
if ! cmake --build "$build" --target package >"$scratch/package.log" 2>&1; then
    cat "$scratch/package.log"
    fail "cmake --build $build --target package"
fi
[[ -f $deb ]] || { cat "$scratch/package.log"; fail "$deb was not made"; }

check "control fields: package, version, architecture, section, maintainer, depends"
dpkg-deb --field "$deb" Package Version Architecture Section Maintainer Depends Description >"$scratch/control"
cat "$scratch/control"
grep -qx "Package: lokt" "$scratch/control" || fail "Package is not lokt"
grep -qx "Version: $version" "$scratch/control" || fail "Version is not $version"
grep -qx "Architecture: $arch" "$scratch/control" || fail "Architecture is not $arch"
grep -qx "Section: utils" "$scratch/control" || fail "Section is not utils"
grep -q "^Maintainer: ." "$scratch/control" || fail "no Maintainer"
grep -q "^Depends: .*libc6" "$scratch/control" || fail "Depends does not name libc6 (dpkg-shlibdeps did not run?)"

# What the build made decides what the package must hold.
expected=(
    ./usr/bin/lokt
    ./usr/libexec/lokt/lokt-tls
    ./usr/share/man/man1/lokt.1.gz
    ./usr/share/bash-completion/completions/lokt
    ./usr/share/zsh/vendor-completions/_lokt
    ./usr/share/fish/vendor_completions.d/lokt.fish
    ./usr/share/doc/lokt/copyright
    ./usr/share/doc/lokt/changelog.gz
    ./usr/share/lintian/overrides/lokt
)
if [[ -x $build/daemon/loktd ]]; then
    expected+=(./usr/bin/loktd ./usr/share/man/man8/loktd.8.gz)
    for unit in "$source"/packaging/systemd/*.service{,.in} "$source"/packaging/systemd/*.socket{,.in}; do
        [[ -e $unit ]] || continue
        unit=${unit##*/}
        expected+=("./usr/lib/systemd/user/${unit%.in}")
    done
else
    echo "note: loktd is not built here; the package must not hold it"
fi
check "package contents: ${expected[*]}"
dpkg-deb --contents "$deb" | awk '{print $NF}' >"$scratch/contents"
for path in "${expected[@]}"; do
    grep -qx -- "$path" "$scratch/contents" || { cat "$scratch/contents"; fail "$path is not in the package"; }
done
if [[ ! -x $build/daemon/loktd ]] && grep -q 'loktd' "$scratch/contents"; then
    cat "$scratch/contents"
    fail "loktd files in a package built without loktd"
fi

if command -v lintian >/dev/null; then
    check "lintian finds no error or warning"
    # The package is built from a CMake tree, not a Debian source package; the
    # tags about that are information, not warnings.
    lintian --no-tag-display-limit --fail-on error,warning "$deb" >"$scratch/lintian.log" 2>&1 \
        || { cat "$scratch/lintian.log"; fail "lintian $deb"; }
    cat "$scratch/lintian.log"
else
    echo "skip: lintian is not installed ('apt-get install lintian')"
fi

check "dpkg -i into a scratch root"
root=$scratch/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/log"
: >"$root/var/lib/dpkg/status"
dpkg_root=(dpkg --root="$root" --log="$root/var/log/dpkg.log" --force-depends --force-not-root)
"${dpkg_root[@]}" -i "$deb" || fail "dpkg -i $deb"
dpkg --root="$root" -s lokt | grep -qx "Status: install ok installed" || fail "dpkg does not list lokt as installed"
for path in "${expected[@]}"; do
    [[ -e $root/${path#./} ]] || fail "${path#.} is not installed"
done

if [[ -f $root/usr/lib/systemd/user/loktd.service ]]; then
    check "the user unit starts the packaged loktd: ExecStart=/usr/bin/loktd"
    grep -q '^ExecStart=/usr/bin/loktd ' "$root/usr/lib/systemd/user/loktd.service" \
        || fail "ExecStart is $(grep '^ExecStart=' "$root/usr/lib/systemd/user/loktd.service")"
fi

check "the installed lokt runs: $root/usr/bin/lokt version"
installed_version=$("$root/usr/bin/lokt" version) || fail "lokt version exited $?"
echo "$installed_version"
[[ $installed_version == *"$version"* ]] || fail "lokt version does not print $version"
[[ $installed_version == "$("$lokt_bin" version)" ]] || fail "the installed lokt is not the one just built"
if [[ -x $root/usr/bin/loktd ]]; then
    check "the installed loktd runs: loktd --version"
    daemon_version=$("$root/usr/bin/loktd" --version) || fail "loktd --version exited $?"
    echo "$daemon_version"
    [[ $daemon_version == *"$version"* ]] || fail "loktd --version does not print $version"
fi

check "the installed bash completion loads and registers lokt"
bash -c 'source "$1" && complete -p lokt' _ "$root/usr/share/bash-completion/completions/lokt" \
    || fail "bash completion did not register"

if command -v man >/dev/null; then
    for page in "$root"/usr/share/man/man*/*.gz; do
        check "man -l ${page#"$root"} renders without warnings"
        rendered=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -P cat -l "$page" 2>"$scratch/man.err") \
            || { cat "$scratch/man.err"; fail "man -l $page"; }
        if [[ -s $scratch/man.err ]]; then cat "$scratch/man.err"; fail "man warned about $page"; fi
        name=${page##*/}; name=${name%%.*}
        grep -q "^NAME" <<<"$rendered" || fail "$page has no NAME section"
        grep -q "$name - " <<<"$rendered" || fail "$page has no \"$name - \" line"
    done
    grep -q "lokt guard build --ttl 5m -- make build" <<<"$(LC_ALL=C.UTF-8 MANWIDTH=80 man -P cat -l "$root/usr/share/man/man1/lokt.1.gz")" \
        || fail "lokt.1 has no guard example"
else
    echo "skip: man is not installed, the man pages are not rendered"
fi

check "dpkg --purge removes every file"
"${dpkg_root[@]}" --purge lokt || fail "dpkg --purge lokt"
for path in "${expected[@]}"; do
    [[ ! -e $root/${path#./} ]] || fail "${path#.} is still there after purge"
done

failed=0
echo "PASS"
