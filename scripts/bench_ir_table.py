#!/usr/bin/env python3
"""Instructions per operation from the callgrind dumps of scripts/bench_ir.sh."""
import sys
from collections import OrderedDict

from callgrind_dumps import instructions_per_op


def main(folder):
    results = OrderedDict()
    for bench, ir in instructions_per_op(folder):
        workload, engine = bench.rsplit("/", 1)
        results.setdefault(workload, {})[engine] = ir
    print("| workload | netabase Ir/op | raw LMDB Ir/op | ratio | SQLite Ir/op | netabase/SQLite |")
    print("|---|---:|---:|---:|---:|---:|")
    for workload, by in results.items():
        nb, lm, sq = by.get("netabase"), by.get("lmdb"), by.get("sqlite")
        cell = lambda v: "-" if v is None else f"{v:,.0f}"
        ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
        print(f"| {workload} | {cell(nb)} | {cell(lm)} | {ratio(nb, lm)} | {cell(sq)} | {ratio(nb, sq)} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench/ir-10k")
