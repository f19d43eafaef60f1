#!/usr/bin/env bash
# Configures, builds and tests each CI preset (default: asan, clang, tsan, then bench: a
# Release build of netabase_bench whose ctest runs the 10k smoke size once) with
# `cmake --workflow`, then prints one summary line per preset.
# Usage: scripts/test.sh [preset...]   e.g. scripts/test.sh dev
# "fuzz" (run by default too) builds the libFuzzer targets with clang++-16 in build/fuzz and
# runs each on its committed corpus, then for NETABASE_FUZZ_SECONDS (default 30) seconds.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

presets=("$@")
if ((${#presets[@]} == 0)); then
  presets=(asan clang tsan bench)
fi

summary=()
status=0
passed_total=0
failed_total=0
fuzz=0
(($# > 0)) || fuzz=1  # by default; else only when "fuzz" is named
for preset in "${presets[@]}"; do
  if [[ ${preset} == fuzz ]]; then
    fuzz=1
    continue
  fi
  echo "=== ${preset} ==="
  mkdir -p "build/${preset}"
  log="build/${preset}/workflow.log"
  start=$SECONDS
  if cmake --workflow --preset "${preset}" 2>&1 | tee "${log}"; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  tests=$(grep -E 'tests passed|No tests were found' "${log}" | tail -n 1 || true)
  if [[ ${tests} =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    failed_total=$((failed_total + BASH_REMATCH[1]))
    passed_total=$((passed_total + BASH_REMATCH[2] - BASH_REMATCH[1]))
  fi
  summary+=("${preset}: ${result} in $((SECONDS - start))s - ${tests:-no ctest summary}")
done

# Exits non-zero when a fuzzer finds a crash (its input is saved in build/fuzz/).
run_fuzzers() {
  local dir=build/fuzz seconds=${NETABASE_FUZZ_SECONDS:-30} target execs
  cmake -S . -B "${dir}" -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=Debug \
    -DNETABASE_BUILD_FUZZERS=ON -DNETABASE_BUILD_TESTS=OFF -DNETABASE_BUILD_EXAMPLES=OFF || return 1
  cmake --build "${dir}" || return 1
  for target in decode_fuzz ops_fuzz; do
    echo "--- ${target}: committed corpus, then ${seconds} s"
    "${dir}/fuzz/${target}" fuzz/corpus/${target}/* || return 1
    rm -rf "${dir}/corpus/${target}" && mkdir -p "${dir}/corpus/${target}"
    if ! "${dir}/fuzz/${target}" -max_total_time="${seconds}" -print_final_stats=1 \
      -artifact_prefix="${dir}/${target}-" "${dir}/corpus/${target}" "fuzz/corpus/${target}" >"${dir}/${target}.log" 2>&1; then
      tail -n 80 "${dir}/${target}.log"
      return 1
    fi
    grep -E '^(Done |stat::number_of_executed_units)' "${dir}/${target}.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "${dir}/${target}.log")
    fuzz_execs+="${target} ${execs} executions, "
  done
}

if ((fuzz)); then
  echo "=== fuzz ==="
  start=$SECONDS
  fuzz_execs=""
  if ! command -v clang++-16 >/dev/null; then
    summary+=("fuzz: skipped - clang++-16 not found")
  elif run_fuzzers; then
    summary+=("fuzz: ok in $((SECONDS - start))s - ${fuzz_execs%, }, nothing found")
  else
    summary+=("fuzz: FAILED in $((SECONDS - start))s - ${fuzz_execs:-see build/fuzz}")
    status=1
  fi
fi

echo "=== summary ==="
printf '%s\n' "${summary[@]}"
echo "ctest: ${passed_total} passed, ${failed_total} failed"
exit "${status}"
