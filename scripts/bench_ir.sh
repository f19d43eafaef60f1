#!/usr/bin/env bash
# Instructions per operation, counted by callgrind: deterministic where timings on a shared
# or busy machine are not. Runs netabase_bench once under valgrind --tool=callgrind (every
# workload one iteration; each timed body is zeroed and dumped on its own) and prints, per
# workload, the instructions per operation of each engine and the ratio to raw LMDB.
#
# Usage: scripts/bench_ir.sh [rows] [netabase_bench flags...]    (rows default 10k)
#   e.g. scripts/bench_ir.sh 10k --engines=netabase,lmdb --benchmark_filter='^get/'
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows=${1:-10k}
shift || true
build=${BUILD_DIR:-build/bench}

cmake -S . -B "${build}" -G Ninja \
  -DCMAKE_CXX_COMPILER=g++-12 -DCMAKE_BUILD_TYPE=Release \
  -DNETABASE_BUILD_TESTS=OFF -DNETABASE_BUILD_EXAMPLES=OFF -DNETABASE_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "${build}" --target netabase_bench -j2

out="${build}/ir-${rows}"
rm -rf "${out}"
mkdir -p "${out}"
start=$SECONDS
valgrind --tool=callgrind --callgrind-out-file="${out}/cg.out" \
  "${build}/benchmarks/netabase_bench" --rows="${rows}" --dir="${build}" --engines=netabase,lmdb,sqlite \
  --benchmark_min_time=0 "$@" >"${out}/bench.log" 2>"${out}/valgrind.log"
echo "ran in $((SECONDS - start)) s under callgrind; dumps in ${out}"
python3 scripts/bench_ir_table.py "${out}"
