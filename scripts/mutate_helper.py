#!/usr/bin/env python3
"""scripts/mutate.sh's helper: reads scripts/mutations.txt, checks and applies one mutant,
and turns build/dev/compile_commands.json into the flags of one test file's compile.

  mutate_helper.py list     DATA                 id<TAB>header<TAB>tests<TAB>filter<TAB>what, one a line
  mutate_helper.py check    DATA ROOT [ID]       each snippet occurs exactly once in its header
  mutate_helper.py get      DATA ID FIELD        one field of one mutant (tests, filter, header, ...)
  mutate_helper.py apply    DATA ROOT ID         writes the mutated header in place (the caller restores it)
  mutate_helper.py flags    COMPILE_COMMANDS SRC the compile flags for SRC, without -o/-c/-g/-O/-Werror

The data file: blocks separated by blank lines, each a set of "key: value" lines.
  id:      a short name (letters, digits, '-')
  header:  a path under include/netabase/
  what:    one line: the bug the mutant stands for
  tests:   test files (tests/<name>.cpp) to build for it, space-separated, without .cpp
  filter:  a Catch2 test spec for their binary ('' = every test case of those files)
  from:    the original text; must occur exactly once in the header
  to:      the replacement
  equivalent: (optional) why no test can tell the mutant from the original
In from/to, "\\n" is a line break and "\\t" a tab; leading and trailing spaces of a value are
dropped. Lines starting with '#' are comments.
"""
import json
import os
import shlex
import sys

KEYS = ("id", "header", "what", "tests", "filter", "from", "to", "equivalent")
REQUIRED = ("id", "header", "what", "tests", "from", "to")


def fail(msg):
    sys.stderr.write("mutate: " + msg + "\n")
    sys.exit(2)


def unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def load(path):
    mutants, cur, lineno_of = [], {}, {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines + [""], 1):
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                mutants.append(cur)
                cur = {}
            continue
        if ":" not in line:
            fail(f"{path}:{n}: expected 'key: value', got {line!r}")
        k, v = line.split(":", 1)
        k = k.strip()
        if k not in KEYS:
            fail(f"{path}:{n}: unknown key {k!r}")
        if k in cur:
            fail(f"{path}:{n}: {k!r} given twice in one mutant")
        cur[k] = v.strip()
        if k == "id":
            lineno_of[v.strip()] = n
    seen = set()
    for m in mutants:
        for k in REQUIRED:
            if k not in m:
                fail(f"{path}: mutant {m.get('id', '?')!r} has no {k!r}")
        if m["id"] in seen:
            fail(f"{path}: mutant id {m['id']!r} used twice")
        seen.add(m["id"])
        m.setdefault("filter", "")
        m["from_text"] = unescape(m["from"])
        m["to_text"] = unescape(m["to"])
        if m["from_text"] == m["to_text"]:
            fail(f"mutant {m['id']}: 'from' and 'to' are the same text")
    return mutants


def find(mutants, mid):
    for m in mutants:
        if m["id"] == mid:
            return m
    fail(f"no mutant {mid!r} in the data file (--list shows them)")


def header_path(root, m):
    return os.path.join(root, "include", "netabase", m["header"])


def check_one(root, m):
    p = header_path(root, m)
    if not os.path.isfile(p):
        fail(f"mutant {m['id']}: header include/netabase/{m['header']} does not exist")
    with open(p, encoding="utf-8") as f:
        text = f.read()
    n = text.count(m["from_text"])
    if n != 1:
        fail(f"mutant {m['id']}: its original snippet occurs {n} times in include/netabase/{m['header']} "
             f"(it must occur exactly once; the header changed since the mutant was written): {m['from']!r}")
    return p, text


def main(argv):
    if len(argv) < 3:
        fail(__doc__)
    cmd = argv[1]
    if cmd == "flags":
        with open(argv[2], encoding="utf-8") as f:
            db = json.load(f)
        src = os.path.realpath(argv[3])
        for e in db:
            if os.path.realpath(os.path.join(e["directory"], e["file"])) != src:
                continue
            args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
            out, skip = [], False
            for a in args[1:]:
                if skip:
                    skip = False
                    continue
                if a in ("-o", "-c", "-MF", "-MT", "-MQ"):
                    skip = True
                    continue
                if a == src or os.path.realpath(os.path.join(e["directory"], a)) == src:
                    continue
                if a in ("-g", "-Werror", "-MD", "-MMD") or a.startswith(("-O", "-g", "-fsanitize")):
                    continue
                out.append(a)
            print(shlex.join(out))
            return
        fail(f"{argv[3]} is not in {argv[2]} (configure with cmake --preset dev first)")
    mutants = load(argv[2])
    if cmd == "list":
        for m in mutants:
            print("\t".join([m["id"], m["header"], m["tests"], m["filter"], m["what"],
                             "equivalent" if m.get("equivalent") else ""]))
    elif cmd == "check":
        root = argv[3]
        for m in ([find(mutants, argv[4])] if len(argv) > 4 else mutants):
            check_one(root, m)
    elif cmd == "get":
        m = find(mutants, argv[3])
        print(m.get(argv[4], ""))
    elif cmd == "apply":
        root, m = argv[3], find(mutants, argv[4])
        p, text = check_one(root, m)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text.replace(m["from_text"], m["to_text"], 1))
    else:
        fail(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv)
