#!/usr/bin/env python3
"""Instructions per operation from the callgrind dumps of scripts/bench_ir.sh."""
import glob
import re
import sys
from collections import OrderedDict


def main(folder):
    results = OrderedDict()
    for path in sorted(glob.glob(f"{folder}/cg.out*"), key=lambda p: int(p.rsplit(".", 1)[-1]) if p.rsplit(".", 1)[-1].isdigit() else -1):
        name, total = None, None
        with open(path) as f:
            for line in f:
                if line.startswith("desc: Trigger: Client Request: "):
                    name = line[len("desc: Trigger: Client Request: "):].strip()
                elif line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
        if not name or total is None or "|" not in name:
            continue
        bench, ops = name.rsplit("|", 1)
        workload, engine = bench.rsplit("/", 1)
        results.setdefault(workload, {})[engine] = total / float(ops)
    print("| workload | netabase Ir/op | raw LMDB Ir/op | ratio | SQLite Ir/op | netabase/SQLite |")
    print("|---|---:|---:|---:|---:|---:|")
    for workload, by in results.items():
        nb, lm, sq = by.get("netabase"), by.get("lmdb"), by.get("sqlite")
        cell = lambda v: "-" if v is None else f"{v:,.0f}"
        ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
        print(f"| {workload} | {cell(nb)} | {cell(lm)} | {ratio(nb, lm)} | {cell(sq)} | {ratio(nb, sq)} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench/ir-10k")
