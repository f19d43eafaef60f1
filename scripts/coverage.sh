#!/usr/bin/env bash
# Line and branch coverage of the library (include/) by the whole test suite, per header.
# Builds and runs the "coverage" preset (g++-12 --coverage, Debug), then reads the counts
# with gcovr (Debian: gcovr). Branches that only exist to unwind an exception
# (--exclude-throw-branches) and branches GCC marks unreachable are not counted: they are
# the compiler's, not the library's. Usage: scripts/coverage.sh [--no-build]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=build/coverage

if [[ ${1:-} != --no-build ]]; then
  find "${build}" -name '*.gcda' -delete 2>/dev/null || true
  cmake --workflow --preset coverage
fi

common=(-r . --object-directory "${build}" --gcov-executable gcov-12 -j 2
  --filter 'include/' --exclude-throw-branches --exclude-unreachable-branches)
gcovr "${common[@]}" --json "${build}/coverage.json"
gcovr --add-tracefile "${build}/coverage.json" --txt "${build}/lines.txt"
gcovr --add-tracefile "${build}/coverage.json" --branches --txt "${build}/branches.txt" --print-summary
echo "--- lines per header"
cat "${build}/lines.txt"
echo "--- branches per header"
cat "${build}/branches.txt"
