#!/usr/bin/env python3
"""Line and branch coverage of include/netabase/ per header, from the .gcda files of a
--coverage build (scripts/coverage.sh). Runs gcov-12 --json-format on each, and merges as
gcovr does: per header line, the counts of every translation unit and every template
instantiation, branch by branch in order. Branches GCC adds for exceptions ("throw") are not
counted: the compiler's unwinding edges, not the library's decisions.

Usage: coverage_report.py BUILD_DIR [--uncovered FILE]   (writes the uncovered branches' lines)
(Debian 12's gcovr 5.2 stops with an AssertionError when it merges this project's functions.)
"""
import collections
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def gcov_json(gcda):
    out = subprocess.run(["gcov-12", "--branch-probabilities", "--json-format", "--stdout", os.path.basename(gcda)],
                         cwd=os.path.dirname(gcda), capture_output=True, check=True).stdout
    return [json.loads(chunk) for chunk in out.decode().splitlines() if chunk.strip()]


def main():
    build = sys.argv[1]
    uncovered_out = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--uncovered" else None
    gcdas = [os.path.join(d, f) for d, _, fs in os.walk(build) for f in fs if f.endswith(".gcda")]
    lines = collections.defaultdict(int)            # (file, line) -> count
    branches = collections.defaultdict(list)        # (file, line) -> [count per branch]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for docs in pool.map(gcov_json, gcdas):
            for doc in docs:
                for f in doc["files"]:
                    name = f["file"]
                    at = name.find("include/netabase/")
                    if at < 0:
                        continue
                    name = name[at + len("include/"):]
                    for ln in f["lines"]:
                        key = (name, ln["line_number"])
                        lines[key] += ln["count"]
                        counts = [b["count"] for b in ln["branches"] if not b.get("throw")]
                        merged = branches[key]
                        for i, c in enumerate(counts):
                            if i < len(merged):
                                merged[i] += c
                            else:
                                merged.append(c)
    per = collections.defaultdict(lambda: [0, 0, 0, 0])  # file -> lines, covered, branches, taken
    for (name, _), c in lines.items():
        per[name][0] += 1
        per[name][1] += c > 0
    for (name, _), bs in branches.items():
        per[name][2] += len(bs)
        per[name][3] += sum(1 for c in bs if c > 0)
    total = [sum(v[i] for v in per.values()) for i in range(4)]
    pct = lambda a, b: 100.0 * a / b if b else 100.0
    print(f"{'header':40} {'lines':>7} {'line %':>7} {'branches':>9} {'branch %':>9}")
    for name in sorted(per):
        l, lc, b, bc = per[name]
        print(f"{name:40} {l:7} {pct(lc, l):6.1f}% {b:9} {pct(bc, b):8.1f}%")
    print(f"{'TOTAL':40} {total[0]:7} {pct(total[1], total[0]):6.1f}% {total[2]:9} {pct(total[3], total[2]):8.1f}%")
    print(f"lines covered: {total[1]} of {total[0]}; branches taken: {total[3]} of {total[2]}")
    if uncovered_out:
        with open(uncovered_out, "w") as out:
            for (name, line), bs in sorted(branches.items()):
                missed = sum(1 for c in bs if c == 0)
                if missed:
                    out.write(f"{name}:{line}: {missed} of {len(bs)} branches never taken\n")


if __name__ == "__main__":
    main()
