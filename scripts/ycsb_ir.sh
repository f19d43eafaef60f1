#!/usr/bin/env bash
# Instructions per operation of the YCSB workloads, counted by callgrind: deterministic where
# timings on a shared or busy machine are not. Runs netabase_ycsb once under
# valgrind --tool=callgrind (instrumentation off outside the timed bodies; each timed body is
# zeroed and dumped on its own) and prints, per shape and workload, the instructions per
# operation of each engine and netabase's ratios to raw LMDB (the limit and the naive
# version), SQLite and RocksDB. The run fails if any checksum disagrees across engines.
#
# Usage: scripts/ycsb_ir.sh [records] [netabase_ycsb flags...]    (records default 100k)
#   e.g. scripts/ycsb_ir.sh 20k --ops=5000 --shapes=str10 --workloads=c,e
# BUILD_DIR (default build/ycsb), JOBS (build parallelism, default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
records=${1:-100k}
shift || true
build=${BUILD_DIR:-build/ycsb}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

cmake -S . -B "${build}" -G Ninja \
  -DCMAKE_CXX_COMPILER=g++-12 -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DNETABASE_BUILD_TESTS=OFF -DNETABASE_BUILD_EXAMPLES=OFF -DNETABASE_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "${build}" --target netabase_ycsb -j"${JOBS:-2}"

out="${build}/ir-${records}"
rm -rf "${out}"
mkdir -p "${out}"
start=$SECONDS
if ! valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="${out}/cg.out" \
  "${build}/benchmarks/netabase_ycsb" --records="${records}" --dir="${build}" "$@" \
  >"${out}/ycsb.log" 2>"${out}/valgrind.log"; then
  grep -E 'MISMATCH|FAILED|netabase_ycsb:' "${out}/valgrind.log" >&2 || tail -n 20 "${out}/valgrind.log" >&2
  echo "ycsb_ir: netabase_ycsb failed under callgrind; log in ${out}" >&2
  exit 1
fi
echo "ran in $((SECONDS - start)) s under callgrind; dumps and logs in ${out}"
grep '^#' "${out}/ycsb.log"
python3 scripts/ycsb_ir_table.py "${out}"
