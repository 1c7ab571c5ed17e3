#!/usr/bin/env bash
# Builds loktd, lokt and the daemon tests with ThreadSanitizer in BUILD_DIR and
# runs the daemon suites there. A race found in any process counts, not only in
# the test binary: every process (the tests, each loktd and lokt they start)
# writes its reports under BUILD_DIR/tsan-reports/, which must stay empty.
#
#   tests/sanitizers/run_tsan.sh BUILD_DIR
#
# JOBS (default 2) sets build parallelism. Exits non-zero if the build fails, a
# test fails, or any report was written.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 64
fi
build_dir=$1
source_dir=$(cd "$(dirname "$0")/../.." && pwd)

generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$source_dir" -B "$build_dir" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON -DLOKT_SANITIZE=thread -DCMAKE_UNITY_BUILD=ON > /dev/null
cmake --build "$build_dir" --target daemon_unit_tests daemon_tests loktd lokt -j "${JOBS:-2}"

reports=$build_dir/tsan-reports
rm -rf "$reports"
mkdir -p "$reports"
# halt_on_error=0: a report does not change how a process behaves, so the tests
# see the same program; the reports are judged afterwards.
export TSAN_OPTIONS="log_path=$reports/report second_deadlock_stack=1 halt_on_error=0"

tests_status=0
ctest --test-dir "$build_dir" --output-on-failure \
  -R '^daemon_(unit_tests|handoff|crash|abuse|activation)$' || tests_status=$?

shopt -s nullglob
found=("$reports"/report*)
if [[ ${#found[@]} -gt 0 ]]; then
  echo "error: ThreadSanitizer wrote ${#found[@]} report(s):" >&2
  for report in "${found[@]}"; do
    echo "== $report" >&2
    cat "$report" >&2
  done
  exit 1
fi
if [[ $tests_status -ne 0 ]]; then
  echo "error: the daemon tests failed under ThreadSanitizer (ctest exit $tests_status)" >&2
  exit "$tests_status"
fi
echo "ThreadSanitizer: daemon tests passed with no reports"
