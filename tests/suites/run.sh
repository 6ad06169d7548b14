#!/usr/bin/env bash
# Runs make suites one after the other, each timed; prints a table of the times (also on failure) and stops at
# the first suite that fails, with its exit code. Used by `make test` and `make test-kernel`.
#   tests/suites/run.sh SUITE...      (MAKE: the make to call, default make)
set -uo pipefail
make_cmd=${MAKE:-make}
report=()
total_start=$(date +%s)
print_table() {
  echo "=== suite times"
  for line in "${report[@]}"; do echo "$line"; done
  printf '%-18s %5d s\n' total $(( $(date +%s) - total_start ))
}
for suite in "$@"; do
  start=$(date +%s)
  "$make_cmd" --no-print-directory "$suite"
  rc=$?
  secs=$(( $(date +%s) - start ))
  if (( rc != 0 )); then
    report+=("$(printf '%-18s %5d s  FAILED (exit %d)' "$suite" "$secs" "$rc")")
    print_table
    exit "$rc"
  fi
  report+=("$(printf '%-18s %5d s' "$suite" "$secs")")
done
print_table
