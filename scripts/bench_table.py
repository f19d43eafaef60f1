#!/usr/bin/env python3
"""Prints the benchmark table (Markdown) from netabase_bench's JSON output: the median of
the repetitions of each workload's ns_per_op for each engine, netabase's ratios to raw LMDB
and to SQLite, and netabase's allocations per operation."""
import json
import sys
from collections import OrderedDict

ENGINES = ["netabase", "lmdb", "sqlite", "lmdbxx"]


def target(workload):
    """The issue's target for netabase / raw LMDB, by kind of workload."""
    if workload.startswith(("load/", "docs/load/", "write/", "update/", "remove/")):
        return 1.10
    if "owned" in workload:
        return 1.15
    return 1.05


def fmt(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def main(path):
    data = json.load(open(path))
    results = OrderedDict()  # workload -> engine -> counters (median)
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["run_name"] if "run_name" in b else b["name"]
        name = name.split("/iterations:")[0].replace("/manual_time", "")
        workload, engine = name.rsplit("/", 1)
        if b.get("error_occurred"):
            results.setdefault(workload, {})[engine] = {"error": b.get("error_message", "error")}
            continue
        # With one repetition there is no aggregate: take the run itself.
        results.setdefault(workload, {})[engine] = b

    ctx = data.get("context", {})
    order = [w for w in ctx.get("workloads", "").split(";") if w]
    rank = {w: i for i, w in enumerate(order)}
    results = OrderedDict(sorted(results.items(), key=lambda kv: (
        "file_bytes" in kv[0], rank.get(kv[0], len(rank)), kv[0])))
    print(f"rows: {ctx.get('rows', '?')}; {ctx.get('durability', '')}")
    print(f"machine: {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz; "
          f"date: {ctx.get('date', '?')}")
    print()
    have_xx = any("lmdbxx" in r for r in results.values())
    head = ["workload", "netabase", "raw LMDB", "ratio", "target (this run)", "SQLite", "netabase/SQLite",
            "netabase allocs/op"]
    if have_xx:
        head += ["lmdbxx", "lmdbxx/LMDB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
    sizes = []
    for workload, by in results.items():
        if "file_bytes_per_row" in workload:
            sizes.append((workload, by))
            continue

        def ns(e):
            r = by.get(e)
            if not r or "error" in r:
                return None
            return r.get("ns_per_op")

        nb, lm, sq, xx = ns("netabase"), ns("lmdb"), ns("sqlite"), ns("lmdbxx")
        ratio = f"{nb / lm:.2f}" if nb and lm else "-"
        t = target(workload)
        mark = ""
        if nb and lm:
            mark = "ok" if nb / lm <= t else "**missed**"
        sratio = f"{nb / sq:.2f}" if sq and nb else "-"
        allocs = by.get("netabase", {}).get("allocs_per_op")
        allocs_s = "-" if allocs is None else (f"{allocs:.2f}" if allocs >= 0.01 or allocs == 0 else f"{allocs:.1e}")
        label = workload
        rows = by.get("netabase", {}).get("rows_per_op")
        if rows:
            label += f" ({rows:.0f} rows)"
        row = [label, fmt(nb), fmt(lm), ratio, f"≤{t:.2f} {mark}", fmt(sq), sratio, allocs_s]
        if have_xx:
            row += [fmt(xx), f"{xx / lm:.2f}" if xx and lm else "-"]
        errors = [f"{e}: {r['error']}" for e, r in by.items() if "error" in r]
        if errors:
            row[0] += " (ERROR: " + "; ".join(errors) + ")"
        print("| " + " | ".join(row) + " |")
    if sizes:
        print()
        print("| file bytes per row | netabase | raw LMDB | SQLite |")
        print("|---|---:|---:|---:|")
        for workload, by in sizes:
            cells = []
            for e in ["netabase", "lmdb", "sqlite"]:
                r = by.get(e, {})
                cells.append(f"{r['bytes_per_row']:.0f}" if "bytes_per_row" in r else "-")
            print(f"| {workload.replace('/file_bytes_per_row', '').replace('file_bytes_per_row', 'rows') or 'rows'} | "
                  + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench/bench-100k.json")
