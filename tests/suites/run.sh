#!/usr/bin/env bash
# Runs make suites side by side in lanes, each timed and logged under .build/suites/; prints a table of the
# times (also on failure) and exits with the first failed suite's code. Used by `make test` and
# `make test-kernel`; what may run beside what is declared in tests/suites/suites.txt (see run.py).
#   tests/suites/run.sh [--jobs N] [--keep-going] SUITE...   (MAKE: the make to call; SUITE_JOBS: lanes, default 3)
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
