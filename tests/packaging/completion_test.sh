#!/usr/bin/env bash
# The shell completions: in a scratch git repository with a held lock, the bash
# script (sourced into this non-interactive bash) completes command names, lock
# names, flags and flag values through `lokt __complete`, and hands the line
# after guard's "--" to ordinary command and file completion. The zsh and fish
# scripts are checked by their shells when those are installed.
# usage: completion_test.sh LOKT_BIN SOURCE_DIR
set -uo pipefail

lokt_bin=$1 source=$2
completions=$source/packaging/completions
scratch=$(mktemp -d "${TMPDIR:-/tmp}/lokt-completion-test.XXXXXX")
failed=1
trap 'if ((failed)); then echo "scratch directory kept: $scratch"; else rm -rf "$scratch"; fi' EXIT
for variable in $(compgen -e | grep '^LOKT_' || true); do unset "$variable"; done
# Files only, in the scratch repository: no daemon of the user's is involved.
export LOKT_OWNER=completion-test LOKT_DAEMON=off LOKT_SOCKET=$scratch/loktd.sock

fail() { echo "FAIL: $*"; exit 1; }

# `lokt` on PATH is the one just built, as the scripts call it by name.
mkdir -p "$scratch/bin" "$scratch/repo"
ln -s "$lokt_bin" "$scratch/bin/lokt"
export PATH=$scratch/bin:$PATH
cd "$scratch/repo" || fail "cd $scratch/repo"
git init -q . || fail "git init"
touch README-completion.txt
lokt lock some-lock --ttl 1m || fail "lokt lock some-lock --ttl 1m exited $?"

echo "check: the bash script loads and registers _lokt for lokt"
# shellcheck source=/dev/null
source "$completions/lokt.bash" || fail "sourcing lokt.bash"
[[ $(complete -p lokt) == *"-F _lokt"* ]] || fail "complete -p lokt: $(complete -p lokt)"

# complete LINE: set COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT as bash
# does for LINE<TAB> (words split on blanks; a trailing blank starts an empty
# word) and call the completion function as bash would.
complete_line() {
    local line=$1
    read -r -a COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    local previous=""
    ((COMP_CWORD > 0)) && previous=${COMP_WORDS[COMP_CWORD - 1]}
    _lokt "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "$previous"
}

# expect LINE WORD...: completing LINE offers every WORD.
expect() {
    local line=$1; shift
    echo "check: '$line<TAB>' offers $*"
    complete_line "$line"
    local word candidate found
    for word in "$@"; do
        found=0
        for candidate in "${COMPREPLY[@]}"; do [[ $candidate == "$word" ]] && found=1; done
        ((found)) || fail "'$line<TAB>' gave (${COMPREPLY[*]}), without $word"
    done
}

# expect_none LINE: completing LINE offers nothing.
expect_none() {
    echo "check: '$1<TAB>' offers nothing"
    complete_line "$1"
    ((${#COMPREPLY[@]} == 0)) || fail "'$1<TAB>' gave (${COMPREPLY[*]})"
}

expect "lokt gu" guard
expect "lokt " guard lock unlock status exists why freeze unfreeze audit doctor version prime
expect "lokt status so" some-lock
expect "lokt unlock " some-lock
expect "lokt guard some-lock --o" --on-lost
expect "lokt guard some-lock --on-lost " terminate warn
expect "lokt freeze some-lock --f" --force
expect "lokt prime --format cl" claude-md clinerules
expect "lokt daemon " start stop restart status
expect "lokt h" help
expect "lokt help gu" guard
expect "lokt --ver" --verbose --version
expect "lokt guard some-lock --con" --conflict-exit-code
expect "lokt status --q" --quiet
expect "lokt audit --l" --lines
expect_none "lokt audit --lines "
expect "lokt audit --st" --stats
expect "lokt audit --timeline README-c" README-completion.txt
expect_none "lokt lock some-lock -E "
expect "lokt daemon st" start stop status
expect_none "lokt guard some-lock --ttl "
expect "$scratch/bin/lokt st" status
echo "check: after guard's '--', commands and then files are completed"
expect "lokt guard some-lock -- ech" echo
expect "lokt guard some-lock -- cat README-c" README-completion.txt

if command -v zsh >/dev/null; then
    echo "check: zsh parses _lokt and, sourced after compinit, registers it for lokt"
    zsh -n "$completions/_lokt" || fail "zsh -n _lokt"
    registered=$(zsh -f -c 'autoload -Uz compinit && compinit -u -D && source "$1" && print -r -- $_comps[lokt]' \
        _ "$completions/_lokt") || fail "sourcing _lokt in zsh"
    [[ $registered == _lokt ]] || fail "zsh: lokt is completed by '$registered', not _lokt"
else
    echo "skip: zsh is not installed, _lokt is not checked"
fi

if command -v fish >/dev/null; then
    echo "check: fish parses lokt.fish and completes through it"
    fish --no-execute "$completions/lokt.fish" || fail "fish --no-execute lokt.fish"
    fish_complete() { fish --no-config -c 'source $argv[1]; complete -C $argv[2]' "$completions/lokt.fish" "$1"; }
    fish_complete "lokt gu" | grep -qx guard || fail "fish: 'lokt gu' does not offer guard"
    fish_complete "lokt status so" | grep -qx some-lock || fail "fish: 'lokt status so' does not offer some-lock"
    fish_complete "lokt guard some-lock -- cat README-c" | grep -q "^README-completion.txt" \
        || fail "fish: after '--' files are not completed"
else
    echo "skip: fish is not installed, lokt.fish is not checked"
fi

lokt unlock some-lock || fail "lokt unlock some-lock exited $?"
failed=0
echo "PASS"
