#!/usr/bin/env bash
# Builds netabase_bench (Release, g++-12), runs every engine on the same data with the
# engines' repetitions randomly interleaved, and prints the table of medians.
#
# Usage: scripts/bench.sh [rows] [extra netabase_bench / Google Benchmark flags...]
#   rows: 10k (smoke), 100k (default), 1m, or a number.  Environment: REPS (default 3),
#   MIN_TIME (CPU seconds per repetition of a read workload, default 0.05), BUILD_DIR.
# The JSON of the run is kept in $BUILD_DIR/bench-<rows>.json; scripts/bench_table.py
# turns it into the table again.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

rows=${1:-100k}
shift || true
reps=${REPS:-3}
min_time=${MIN_TIME:-0.05}
build=${BUILD_DIR:-build/bench}

cmake -S . -B "${build}" -G Ninja \
  -DCMAKE_CXX_COMPILER=g++-12 -DCMAKE_BUILD_TYPE=Release \
  -DNETABASE_BUILD_TESTS=OFF -DNETABASE_BUILD_EXAMPLES=OFF -DNETABASE_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "${build}" --target netabase_bench -j2

json="${build}/bench-${rows}.json"
start=$SECONDS
"${build}/benchmarks/netabase_bench" --rows="${rows}" --dir="${build}" \
  --benchmark_repetitions="${reps}" --benchmark_enable_random_interleaving=true \
  --benchmark_min_time="${min_time}" --benchmark_report_aggregates_only=true \
  --benchmark_out="${json}" --benchmark_out_format=json "$@" >"${build}/bench-${rows}.log"
echo "ran in $((SECONDS - start)) s; raw results in ${json}"
python3 scripts/bench_table.py "${json}"
