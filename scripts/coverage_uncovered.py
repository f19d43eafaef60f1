#!/usr/bin/env python3
"""Reads `llvm-cov show -show-branches=count` text on stdin and prints each branch outcome that
no instantiation took, as `header:line:column: true|false never taken` (scripts/coverage.sh).
(show repeats a template's branches once per instantiation; they are merged here.)"""
import collections
import re
import sys

branch = re.compile(r"Branch \((\d+):(\d+)\): \[True: ([^,]+), False: ([^\]]+)\]")
taken = collections.defaultdict(lambda: [False, False])
name = None
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("/") and line.endswith(":"):
        name = line[line.find("include/") + len("include/"):-1]
        continue
    m = branch.search(line)
    if m and name is not None:
        at = (name, int(m.group(1)), int(m.group(2)))
        for i in (0, 1):
            taken[at][i] |= m.group(3 + i).strip() not in ("0", "0.0")
per = collections.defaultdict(lambda: [0, 0])  # header -> outcomes, taken
for (name, _, _), outcomes in taken.items():
    per[name][0] += 2
    per[name][1] += sum(outcomes)
with open(sys.argv[1], "w") as out:
    out.write(f"{'header (source branch outcomes)':40} {'outcomes':>9} {'taken':>7} {'cover':>8}\n")
    for name in sorted(per):
        n, t = per[name]
        out.write(f"{name[len('netabase/'):]:40} {n:9} {t:7} {100.0 * t / n:7.2f}%\n")
    n, t = sum(v[0] for v in per.values()), sum(v[1] for v in per.values())
    out.write(f"{'TOTAL':40} {n:9} {t:7} {100.0 * t / n:7.2f}%\n")
for (name, ln, col), (t, f) in sorted(taken.items()):
    for outcome, was in (("true", t), ("false", f)):
        if not was:
            print(f"{name}:{ln}:{col}: {outcome} never taken")
