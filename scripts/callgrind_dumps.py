"""The callgrind dumps that scripts/bench_ir.sh and scripts/ycsb_ir.sh leave in a folder: one per
benchmark, started and named by a client request "name|operations"."""
import glob

TRIGGER = "desc: Trigger: Client Request: "


def dump_number(path):
    tail = path.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def instructions_per_op(folder):
    """(name, Ir per operation) of each named dump in the folder, in dump order."""
    for path in sorted(glob.glob(f"{folder}/cg.out*"), key=dump_number):
        name, total = None, None
        with open(path) as f:
            for line in f:
                if line.startswith(TRIGGER):
                    name = line[len(TRIGGER):].strip()
                elif line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
        if not name or total is None or "|" not in name:
            continue
        bench, ops = name.rsplit("|", 1)
        yield bench, total / float(ops)
