#!/usr/bin/env bash
# Line and branch coverage of the library (include/) by the whole test suite, per header.
# Builds and runs the "coverage" preset (g++-12 --coverage, Debug), then merges gcov-12's
# counts with scripts/coverage_report.py (every translation unit and template instantiation of
# a header line together; GCC's exception-unwinding branches not counted). The lines with
# branches never taken go to build/coverage/uncovered.txt.
# Usage: scripts/coverage.sh [--no-build]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=build/coverage

if [[ ${1:-} != --no-build ]]; then
  find "${build}" -name '*.gcda' -delete 2>/dev/null || true
  # A failing test still leaves its counts: report what ran, then fail.
  status=0
  cmake --workflow --preset coverage || status=$?
fi
python3 scripts/coverage_report.py "${build}" --uncovered "${build}/uncovered.txt"
echo "branches never taken, by line: ${build}/uncovered.txt"
exit "${status:-0}"
