#!/usr/bin/env bash
# Mutation testing of the library (include/netabase/**): applies each mutant of
# scripts/mutations.txt to its header, one at a time, builds only the test files named for it
# (g++-12 -O0 -g0, the flags of build/dev/compile_commands.json without -g/-Werror), links them
# with a Catch2 main compiled once, runs the mutant's Catch2 filter under a timeout, restores
# the header and reports which mutants the tests kill.
#
#   scripts/mutate.sh                 every mutant (about 45-50 min at -j 2 on 2 shared cores here)
#   scripts/mutate.sh --list          the mutants, one a line
#   scripts/mutate.sh --only ID       one mutant (repeatable)
#   scripts/mutate.sh --full          also rebuild netabase_tests with each mutant and run the
#                                     whole ctest suite (~15 min build + 3 min per mutant: hours)
#   options: -j N (parallel compiles, default 1), --timeout S (per test run, default 180)
#
# Verdicts: killed (a test failed, crashed or hung past the timeout), survived (every selected
# test passed), invalid (the mutant does not compile: fix the mutation), equivalent (survived,
# and the data file explains why no test can see it). A baseline run first builds and runs
# every selected test set unmutated: one that fails there is an error of the script or the
# data file, never a kill. Needs `cmake --preset dev` to have been configured (for
# compile_commands.json). The header is restored on every exit (trap), and `git diff --quiet
# include/` is checked at the end. Exit status: 0 when every mutant is killed or equivalent.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="scripts/mutations.txt"
helper="scripts/mutate_helper.py"
ccdb="build/dev/compile_commands.json"
work="build/mutate"
jobs=1
timeout_s=180
full=0
list=0
only=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --list) list=1 ;;
        --only) only+=("$2"); shift ;;
        --full) full=1 ;;
        -j) jobs="$2"; shift ;;
        --timeout) timeout_s="$2"; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "mutate: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
    shift
done

if [[ $list == 1 ]]; then
    python3 "$helper" list "$data" | awk -F'\t' '{ printf "%-32s %-20s %-40s %s%s\n", $1, $2, $3, $5, ($6 != "" ? "  [equivalent]" : "") }'
    exit 0
fi

[[ -f $ccdb ]] || { echo "mutate: $ccdb is missing: run 'cmake --preset dev' first" >&2; exit 2; }
if ! git diff --quiet -- include/; then
    echo "mutate: include/ has uncommitted changes; commit or stash them first (the script restores headers and checks include/ is clean at the end)" >&2
    exit 2
fi

mapfile -t all_ids < <(python3 "$helper" list "$data" | cut -f1)
if [[ ${#only[@]} -gt 0 ]]; then
    for id in "${only[@]}"; do python3 "$helper" get "$data" "$id" id >/dev/null; done
    ids=("${only[@]}")
else
    ids=("${all_ids[@]}")
fi
# Every snippet must be found exactly once before anything is mutated: a header edited since
# the mutant was written fails here, naming the mutant.
for id in "${ids[@]}"; do python3 "$helper" check "$data" . "$id"; done

mkdir -p "$work/obj/base" "$work/log"
cxx="$(python3 -c 'import json,shlex,sys; e=json.load(open(sys.argv[1]))[0]; print((e.get("arguments") or shlex.split(e["command"]))[0])' "$ccdb")"
launcher=()
command -v ccache >/dev/null && launcher=(ccache)

# ---- restoring the header, whatever happens --------------------------------------------------
applied_header=""
backup="$work/header.orig"
restore() {
    if [[ -n $applied_header ]]; then
        cp "$backup" "$applied_header"
        applied_header=""
    fi
}
on_exit() {
    local rc=$?
    restore
    if ! git diff --quiet -- include/; then
        echo "mutate: include/ differs from git after the run: restore it by hand (git diff include/)" >&2
        rc=3
    fi
    exit $rc
}
trap on_exit EXIT
trap 'echo "mutate: interrupted" >&2; exit 130' INT TERM

# ---- compiling ------------------------------------------------------------------------------
catch_main="$work/catch_main.o"
if [[ ! -f $catch_main || tests/catch.hpp -nt $catch_main ]]; then
    echo "mutate: compiling the Catch2 main once ($catch_main)"
    printf '#define CATCH_CONFIG_MAIN\n#include "catch.hpp"\n' > "$work/catch_main.cpp"
    "${launcher[@]}" "$cxx" -std=c++20 -O0 -g0 -I tests -c "$work/catch_main.cpp" -o "$catch_main"
fi

declare -A flags_of
flags_for() {  # test name -> its compile flags
    local t="$1"
    if [[ -z ${flags_of[$t]+x} ]]; then
        flags_of[$t]="$(python3 "$helper" flags "$ccdb" "tests/$t.cpp")"
    fi
    printf '%s' "${flags_of[$t]}"
}

# Compiles tests (names) into dir, jobs at a time, then links dir/run. Logs to log; false on
# a compile or link error.
build() {
    local dir="$1" log="$2"; shift 2
    local objs=() pids=() t ok=1
    mkdir -p "$dir"
    : > "$log"
    for t in "$@"; do
        local f fl
        f="$(flags_for "$t")"
        eval "fl=($f)"
        ( "${launcher[@]}" "$cxx" "${fl[@]}" -O0 -g0 -c "tests/$t.cpp" -o "$dir/$t.o" ) >> "$log" 2>&1 &
        pids+=($!)
        objs+=("$dir/$t.o")
        if [[ ${#pids[@]} -ge $jobs ]]; then
            wait "${pids[0]}" || ok=0
            pids=("${pids[@]:1}")
        fi
    done
    for p in "${pids[@]}"; do wait "$p" || ok=0; done
    [[ $ok == 1 ]] || return 1
    "$cxx" -o "$dir/run" "$catch_main" "${objs[@]}" -llmdb -pthread >> "$log" 2>&1
}

# Runs dir/run with a filter under the timeout, in a scratch directory; the XML report goes to
# out. Prints the exit status (124: timed out).
run_tests() {
    local bin="$1" filter="$2" out="$3"
    local scratch="$work/scratch"
    rm -rf "$scratch"; mkdir -p "$scratch"
    local args=(-r xml -a)
    [[ -n $filter ]] && args+=("$filter")
    local rc=0
    (cd "$scratch" && timeout -k 10 "$timeout_s" "$root/$bin" "${args[@]}") > "$out" 2>&1 || rc=$?
    echo "$rc"
}

field() { python3 "$helper" get "$data" "$1" "$2"; }
failed_tests() {  # the test cases an XML report says failed (or the one running when it stopped)
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
names, cur = [], None
for m in re.finditer(r'<TestCase name="([^"]*)"|<OverallResult success="(true|false)"|</TestCase>', text):
    if m.group(1) is not None:
        cur = m.group(1)
    elif m.group(2) is not None:
        if m.group(2) == "false" and cur and cur not in names:
            names.append(cur)
        cur = None if m.group(2) else cur
if cur and cur not in names:
    names.append(cur + " (did not finish)")
print("; ".join(n.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") for n in names))
PY
}

start=$(date +%s)

# ---- baseline: every selected test set passes unmutated -----------------------------------
declare -A base_bin base_ran
echo "mutate: baseline (unmutated) builds and runs"
base_failed=0
for id in "${ids[@]}"; do
    tests="$(field "$id" tests)"
    filter="$(field "$id" filter)"
    set_key="$(tr ' ' '\n' <<< "$tests" | sort | tr '\n' '+')"
    set_key="${set_key%+}"
    if [[ -z ${base_bin[$set_key]+x} ]]; then
        dir="$work/obj/base/$set_key"
        # shellcheck disable=SC2086
        if ! build "$dir" "$work/log/base-$set_key.build" $tests; then
            echo "mutate: ERROR: the unmutated tests $tests do not build: $work/log/base-$set_key.build" >&2
            exit 2
        fi
        base_bin[$set_key]="$dir/run"
    fi
    key="$set_key|$filter"
    base_xml="$work/log/base-$set_key-$(printf '%s' "$filter" | md5sum | cut -c1-8).xml"
    if [[ -z ${base_ran[$key]+x} ]]; then
        t0=$(date +%s)
        rc=$(run_tests "${base_bin[$set_key]}" "$filter" "$base_xml")
        base_ran[$key]=$rc
        printf '  %-44s %-22s rc=%s %ss\n' "$set_key" "${filter:-(all)}" "$rc" "$(( $(date +%s) - t0 ))"
    fi
    if ! grep -q '<TestCase' "$base_xml"; then
        echo "mutate: ERROR: mutant $id's filter '${filter}' selects no test case of $tests" >&2
        base_failed=1
    elif [[ ${base_ran[$key]} != 0 ]]; then
        echo "mutate: ERROR: mutant $id's tests ($tests, filter '${filter}') fail unmutated: $(failed_tests "$base_xml")" >&2
        base_failed=1
    fi
done
[[ $base_failed == 0 ]] || exit 2
echo "mutate: baseline passed in $(( $(date +%s) - start ))s"

# ---- the mutants ---------------------------------------------------------------------------
report="$work/report.tsv"
printf 'id\tverdict\tseconds\tdetail\n' > "$report"
killed=0 survived=0 invalid=0 equivalent=0
for id in "${ids[@]}"; do
    t0=$(date +%s)
    header="include/netabase/$(field "$id" header)"
    tests="$(field "$id" tests)"
    filter="$(field "$id" filter)"
    equiv="$(field "$id" equivalent)"
    cp "$header" "$backup"
    applied_header="$header"
    python3 "$helper" apply "$data" . "$id"
    dir="$work/obj/mut/$id"
    rm -rf "$dir"
    # shellcheck disable=SC2086
    if ! build "$dir" "$work/log/$id.build" $tests; then
        restore
        verdict=invalid detail="does not compile: $work/log/$id.build"
        invalid=$((invalid + 1))
    else
        rc=$(run_tests "$dir/run" "$filter" "$work/log/$id.xml")
        if [[ $full == 1 && $rc == 0 ]]; then
            # The whole suite, built with the mutant in place (hours for all mutants).
            if ! cmake --build build/dev -j"$jobs" --target netabase_tests > "$work/log/$id.full" 2>&1; then
                rc=full-build
            elif ! ctest --test-dir build/dev -j"$jobs" --output-on-failure >> "$work/log/$id.full" 2>&1; then
                rc=full-ctest
            fi
        fi
        restore
        case "$rc" in
            0)
                if [[ -n $equiv ]]; then
                    verdict=equivalent detail="$equiv"; equivalent=$((equivalent + 1))
                else
                    verdict=SURVIVED detail="every test of $tests (${filter:-all}) passed"; survived=$((survived + 1))
                fi ;;
            124|137) verdict=killed detail="hang (timeout ${timeout_s}s) in $(failed_tests "$work/log/$id.xml")"; killed=$((killed + 1)) ;;
            full-build) verdict=invalid detail="the full build fails: $work/log/$id.full"; invalid=$((invalid + 1)) ;;
            full-ctest) verdict=killed detail="by the full ctest suite: $work/log/$id.full"; killed=$((killed + 1)) ;;
            *)
                what="$(failed_tests "$work/log/$id.xml")"
                [[ $rc -gt 128 ]] && what="$what (signal $((rc - 128)))"
                verdict=killed detail="by $what"; killed=$((killed + 1)) ;;
        esac
        if [[ -n $equiv && $verdict == killed ]]; then
            detail="$detail -- but the data file calls it equivalent: fix the data file"
            verdict=KILLED-BUT-EQUIVALENT
        fi
    fi
    secs=$(( $(date +%s) - t0 ))
    printf '%s\t%s\t%s\t%s\n' "$id" "$verdict" "$secs" "$detail" >> "$report"
    printf '%-32s %-10s %4ss  %s\n' "$id" "$verdict" "$secs" "$detail"
done
if [[ $full == 1 ]]; then
    echo "mutate: rebuilding netabase_tests unmutated after --full"
    cmake --build build/dev -j"$jobs" --target netabase_tests > "$work/log/full-restore.build" 2>&1
fi

total=$(( $(date +%s) - start ))
echo
echo "mutate: ${#ids[@]} mutants: $killed killed, $survived survived, $equivalent equivalent, $invalid invalid, in ${total}s (report: $report)"
git diff --quiet -- include/ || { echo "mutate: include/ is not restored" >&2; exit 3; }
[[ $survived == 0 && $invalid == 0 ]]
