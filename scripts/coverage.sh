#!/usr/bin/env bash
# Line and branch coverage of the library (include/netabase/) by the whole test suite, per header.
# Builds and runs the "coverage" preset: clang++-16 source-based coverage
# (-fprofile-instr-generate -fcoverage-mapping), every test process writing its counters into
# build/coverage/profiles/ (forked children too; a SIGKILLed one writes nothing). Then merges them
# with llvm-profdata-16 and prints llvm-cov-16's per-file report. A branch is one outcome (true or
# false) of one condition in the source: each `if`, loop, `?:` and each operand of `&&`/`||`;
# a template's instantiations and an inline function's copies count as one source function
# (llvm-cov takes its best-covered instantiation), and exception unwinding is not a branch.
# The lines with an outcome never taken go to build/coverage/uncovered.txt.
# Usage: scripts/coverage.sh [--no-build]   (Debian 12: apt-get install clang-16 llvm-16)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=build/coverage
status=0
if [[ ${1:-} != --no-build ]]; then
  rm -rf "${build}/profiles"
  # A failing test still leaves its counts: report what ran, then fail.
  cmake --workflow --preset coverage || status=$?
fi
llvm-profdata-16 merge -sparse -o "${build}/suite.profdata" "${build}"/profiles/*.profraw

# The suite's binary. (The alloc-counting program and the tool compile the headers with other
# definitions, so llvm-cov cannot merge their counts with it: the same inline functions differ.)
objects=("${build}/tests/netabase_tests")
llvm-cov-16 report -instr-profile="${build}/suite.profdata" "${objects[@]}" \
  -show-region-summary=false -show-instantiation-summary=false "$(pwd)/include/netabase" |
  sed "s|$(pwd)/include/||"
llvm-cov-16 show -instr-profile="${build}/suite.profdata" "${objects[@]}" -show-branches=count \
  -show-line-counts=false -show-instantiations=false -format=text "$(pwd)/include/netabase" |
  python3 scripts/coverage_uncovered.py "${build}/outcomes.txt" > "${build}/uncovered.txt"
cat "${build}/outcomes.txt"
echo "branch outcomes never taken, by line: ${build}/uncovered.txt"
exit "${status}"
