#!/usr/bin/env bash
# Builds every libFuzzer target with clang (LOKT_FUZZ=ON, AddressSanitizer and
# UndefinedBehaviorSanitizer) in BUILD_DIR, then runs each one for a bounded
# time. New inputs go to BUILD_DIR/fuzz-corpus/, crashes to BUILD_DIR/fuzz-artifacts/;
# the seed corpora in tests/fuzz/corpus/ are only read.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]     (SECONDS per target, default 30)
#
# With RUNS=N set, each target instead runs exactly N inputs with no time limit
# (the long runs outside CI: RUNS=2000000 tests/fuzz/run.sh /tmp/fuzz-long).
# CC/CXX default to clang-14/clang++-14; JOBS (default 2) sets build parallelism;
# LOKT_FUZZ_SOURCE_DIR overrides the CMake source directory (default: this repo).
# Exits non-zero if the build fails or any target finds a crash.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 64
fi
build_dir=$1
seconds=${2:-30}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -eq 0 ]]; then
  echo "error: SECONDS must be a positive integer, not '$seconds'" >&2
  exit 64
fi
source_dir=${LOKT_FUZZ_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export CC=${CC:-clang-14} CXX=${CXX:-clang++-14}

generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$source_dir" -B "$build_dir" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON -DLOKT_FUZZ=ON -DLOKT_SANITIZE=address -DCMAKE_UNITY_BUILD=ON
cmake --build "$build_dir" --target lokt_fuzzers -j "${JOBS:-2}"

shopt -s nullglob
manifests=("$build_dir"/fuzzers/*.txt)
if [[ ${#manifests[@]} -eq 0 ]]; then
  echo "error: no fuzz targets were configured in $build_dir" >&2
  exit 1
fi

failed=()
for manifest in "${manifests[@]}"; do
  name=$(basename "$manifest" .txt)
  { read -r binary; read -r seeds; read -r dict || true; } < "$manifest"
  work="$build_dir/fuzz-corpus/$name"
  artifacts="$build_dir/fuzz-artifacts/$name"
  mkdir -p "$work" "$artifacts"
  if [[ -n ${RUNS:-} ]]; then
    args=(-runs="$RUNS" -artifact_prefix="$artifacts/" -print_final_stats=1)
  else
    args=(-max_total_time="$seconds" -artifact_prefix="$artifacts/" -print_final_stats=1)
  fi
  [[ -n ${dict:-} ]] && args+=(-dict="$dict")
  echo "== $name: $([[ -n ${RUNS:-} ]] && echo "$RUNS inputs" || echo "${seconds}s")"
  # The first directory receives new inputs; the seed corpus is read only.
  if "$binary" "${args[@]}" "$work" "$seeds"; then
    echo "== $name: no failure"
  else
    echo "== $name: FAILED; reproduce with: $binary $artifacts/<crash file>" >&2
    failed+=("$name")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "error: fuzz targets failed: ${failed[*]}" >&2
  exit 1
fi
echo "all fuzz targets ran $([[ -n ${RUNS:-} ]] && echo "$RUNS inputs each" || echo "${seconds}s each") without a failure"
