#!/usr/bin/env python3
"""Instructions per operation from the callgrind dumps of scripts/ycsb_ir.sh (netabase_ycsb)."""
import re
import sys
from collections import OrderedDict

from callgrind_dumps import instructions_per_op

ENGINES = ["netabase", "netabase/owned", "lmdb", "lmdb/owned", "lmdb-naive", "sqlite", "rocksdb"]
RATIOS = [  # (label, numerator, denominator)
    ("netabase / lmdb", "netabase", "lmdb"),
    ("owned / lmdb owned", "netabase/owned", "lmdb/owned"),
    ("netabase / naive", "netabase", "lmdb-naive"),
    ("netabase / SQLite", "netabase", "sqlite"),
    ("netabase / RocksDB", "netabase", "rocksdb"),
]


def main(folder):
    results = OrderedDict()  # "shape/workload" -> engine -> Ir/op
    for bench, ir in instructions_per_op(folder):
        m = re.match(r"^([^/]+/[^/]+)/(.+)$", bench)
        if not m:
            continue
        results.setdefault(m.group(1), {})[m.group(2)] = ir
    engines = [e for e in ENGINES if any(e in by for by in results.values())]
    cell = lambda v: "-" if v is None else f"{v:,.0f}"
    ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
    print("| workload | " + " | ".join(f"{e} Ir/op" for e in engines) + " | " +
          " | ".join(r[0] for r in RATIOS) + " |")
    print("|---|" + "---:|" * (len(engines) + len(RATIOS)))
    for workload, by in results.items():
        cells = [cell(by.get(e)) for e in engines]
        ratios = [ratio(by.get(a), by.get(b)) for _, a, b in RATIOS]
        print(f"| {workload} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/ycsb/ir-100k")
