#!/usr/bin/env bash
# Configures, builds and tests each CI preset (default: asan, then clang, then bench: a
# Release build of netabase_bench whose ctest runs the 10k smoke size once) with
# `cmake --workflow`, then prints one summary line per preset.
# Usage: scripts/test.sh [preset...]   e.g. scripts/test.sh dev
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

presets=("$@")
if ((${#presets[@]} == 0)); then
  presets=(asan clang bench)
fi

summary=()
status=0
for preset in "${presets[@]}"; do
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
  summary+=("${preset}: ${result} in $((SECONDS - start))s - ${tests:-no ctest summary}")
done

echo "=== summary ==="
printf '%s\n' "${summary[@]}"
exit "${status}"
