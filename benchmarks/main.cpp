// netabase_bench: every engine on the same generated data, workload by workload.
//
//   netabase_bench [--rows=N] [--smoke] [--once] [--engines=netabase,lmdb,sqlite,lmdbxx] [--dir=PATH]
//                  [Google Benchmark flags: --benchmark_filter, --benchmark_repetitions, ...]
//
// Each benchmark is "<workload>/<engine>". Its counters: ns_per_op (the timed work divided by
// the operations it did, from manual timing so untimed set-up such as copying a database
// never counts), allocs_per_op (operator new calls in the timed work), mallocs_per_op (every
// malloc/calloc/realloc, LMDB's and SQLite's included) and, for lookups, rows_per_op.
// Every workload's checksum is compared across engines: a mismatch fails the run.
#include "common.hpp"

#include <benchmark/benchmark.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define NETABASE_BENCH_CALLGRIND 1
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <time.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bench;

namespace {

struct config {
    std::size_t rows = 100'000;
    bool smoke = false;
    bool once = false;  // one iteration of every workload (--smoke, --once, and under valgrind)
    std::set<engine_kind> engines;
    fs::path dir;
} cfg;

const char* engine_name(engine_kind e) {
    switch (e) {
        case engine_kind::netabase: return "netabase";
        case engine_kind::lmdb: return "lmdb";
        case engine_kind::sqlite: return "sqlite";
        case engine_kind::lmdbxx: return "lmdbxx";
    }
    return "?";
}

std::unique_ptr<Engine> open_engine(engine_kind e, const fs::path& dir, table t, sync_mode s) {
    const Dataset& ds = Dataset::get(cfg.rows);
    switch (e) {
        case engine_kind::netabase: return make_netabase(dir, t, s, ds);
        case engine_kind::lmdb: return make_lmdb(dir, t, s, ds);
        case engine_kind::sqlite: return make_sqlite(dir, t, s, ds);
        case engine_kind::lmdbxx: return make_lmdbxx(dir, t, s, ds);
    }
    return nullptr;
}

fs::path fresh_dir(const std::string& what) {
    static int counter = 0;
    fs::path p = cfg.dir / (what + "-" + std::to_string(++counter));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

// The loaded table each read workload shares, built once per engine and table.
struct base_store {
    fs::path dir;
    std::unique_ptr<Engine> engine;
};

Engine& base(engine_kind e, table t) {
    static std::map<std::pair<engine_kind, table>, base_store> bases;
    auto& b = bases[{e, t}];
    if (!b.engine) {
        b.dir = fresh_dir(std::string("base-") + engine_name(e) + (t == table::docs ? "-docs" : "-rows"));
        b.engine = open_engine(e, b.dir, t, sync_mode::none);
        b.engine->load(Dataset::get(cfg.rows).seq);
        b.engine->checkpoint();
    }
    return *b.engine;
}

// A private copy of the base table, for the workloads that change it.
std::unique_ptr<Engine> clone(engine_kind e, table t, sync_mode s, fs::path& dir) {
    Engine& b = base(e, t);
    dir = fresh_dir(std::string("clone-") + engine_name(e));
    for (const auto& f : b.data_files()) fs::copy_file(f, dir / f.filename());
    return open_engine(e, dir, t, s);
}

double thread_cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

enum class setup { fresh, base, clone, clone_durable };

struct workload {
    std::string name;
    table tbl;
    setup how;
    std::function<std::uint64_t(Engine&, const Dataset&)> body;
    std::function<double(const Dataset&)> ops;        // operations per call of body
    std::function<double(const Dataset&)> rows = {};  // rows per operation, when it says something
    bool lmdbxx = false;                              // measured for lmdbxx too
};

// Checksums by workload: every engine must produce the first one's.
std::mutex check_mu;
std::map<std::string, std::pair<std::string, std::uint64_t>> checksums;
bool failed = false;

bool agree(const std::string& key, engine_kind e, std::uint64_t sum, std::string& err) {
    std::lock_guard lock(check_mu);
    auto [it, fresh] = checksums.try_emplace(key, engine_name(e), sum);
    if (fresh || it->second.second == sum) return true;
    std::ostringstream os;
    os << key << ": checksum " << sum << " from " << engine_name(e) << " differs from " << it->second.second
       << " from " << it->second.first;
    err = os.str();
    failed = true;
    return false;
}

void run(benchmark::State& st, const workload& w, engine_kind e) {
    const Dataset& ds = Dataset::get(cfg.rows);
    using clock = std::chrono::steady_clock;
    double ops_per_call = w.ops(ds);
    double total_ops = 0, total_ns = 0, total_wall = 0;
    alloc_counts allocs{};
    bool first = true;
    try {
        if (w.how == setup::base) {  // warm-up, untimed: page cache, pooled transactions and cursors
            std::uint64_t sum = w.body(base(e, w.tbl), ds);
            std::string err;
            if (!agree(w.name, e, sum, err)) {
                st.SkipWithError(err.c_str());
                return;
            }
        }
        for (auto _ : st) {
            std::unique_ptr<Engine> own;
            fs::path dir;
            Engine* eng = nullptr;
            switch (w.how) {
                case setup::base: eng = &base(e, w.tbl); break;
                case setup::fresh:
                    dir = fresh_dir(std::string("fresh-") + engine_name(e));
                    own = open_engine(e, dir, w.tbl, sync_mode::none);
                    eng = own.get();
                    break;
                case setup::clone:
                case setup::clone_durable:
                    own = clone(e, w.tbl, w.how == setup::clone ? sync_mode::none : sync_mode::durable, dir);
                    eng = own.get();
                    break;
            }
#ifdef NETABASE_BENCH_CALLGRIND
            // Under callgrind (scripts/bench_ir.sh) each timed body is one dump, named
            // "<benchmark>|<operations>", holding the instructions of that body alone.
            CALLGRIND_ZERO_STATS;
#endif
            alloc_counts a0 = alloc_snapshot();
            double c0 = thread_cpu_ns();
            auto t0 = clock::now();
            std::uint64_t sum = w.body(*eng, ds);
            auto t1 = clock::now();
            double c1 = thread_cpu_ns();
            alloc_counts a1 = alloc_snapshot();
#ifdef NETABASE_BENCH_CALLGRIND
            if (RUNNING_ON_VALGRIND) {
                std::string dump = w.name + "/" + engine_name(e) + "|" + std::to_string(ops_per_call);
                CALLGRIND_DUMP_STATS_AT(dump.c_str());
            }
#endif
            double wall = std::chrono::duration<double, std::nano>(t1 - t0).count();
            // CPU time of this thread, except where waiting for the disk is the point.
            double ns = w.how == setup::clone_durable ? wall : c1 - c0;
            st.SetIterationTime(ns / 1e9);
            total_ns += ns;
            total_wall += wall;
            total_ops += ops_per_call;
            allocs.news += a1.news - a0.news;
            allocs.mallocs += a1.mallocs - a0.mallocs;
            benchmark::DoNotOptimize(sum);
            if (first && w.how != setup::base) {  // same result and the same table afterwards
                first = false;
                std::string err;
                bool ok = agree(w.name, e, sum, err) &&
                          agree(w.name + " (table after)", e, eng->scan_view(), err);
                if (!ok) {
                    st.SkipWithError(err.c_str());
                    return;
                }
            }
            if (own) {
                own.reset();
                fs::remove_all(dir);
            }
        }
    } catch (const std::exception& ex) {
        failed = true;
        st.SkipWithError(ex.what());
        return;
    }
    st.counters["ns_per_op"] = total_ns / total_ops;
    st.counters["wall_ns_per_op"] = total_wall / total_ops;
    st.counters["allocs_per_op"] = double(allocs.news) / total_ops;
    st.counters["mallocs_per_op"] = double(allocs.mallocs) / total_ops;
    if (w.rows) st.counters["rows_per_op"] = w.rows(ds);
}

std::vector<workload> workloads() {
    std::vector<workload> ws;
    auto n = [](const Dataset& d) { return double(d.n); };
    auto lookups = [](const Dataset& d) { return double(d.uniform_hits.size()); };
    const char* idx_names[] = {"0idx", "1idx", "2idx"};
    table idx_tables[] = {table::rows0, table::rows1, table::rows2};

    // ---- writes
    for (int k = 0; k < 3; ++k) {
        ws.push_back({std::string("load/seq/") + idx_names[k], idx_tables[k], setup::fresh,
                      [](Engine& e, const Dataset& d) { return e.load(d.seq); }, n, {}, true});
        ws.push_back({std::string("load/rand/") + idx_names[k], idx_tables[k], setup::fresh,
                      [](Engine& e, const Dataset& d) { return e.load(d.shuffled); }, n, {}, true});
    }
    ws.push_back({"docs/load/seq/2idx", table::docs, setup::fresh,
                  [](Engine& e, const Dataset& d) { return e.load(d.seq); }, n, {}, true});
    auto insert_count = [](const Dataset& d) { return std::min<std::size_t>(2000, d.extra.size()); };
    ws.push_back({"write/txn_each/nosync", table::rows2, setup::clone,
                  [=](Engine& e, const Dataset& d) {
                      return e.insert_each(std::span(d.extra).first(insert_count(d)));
                  },
                  [=](const Dataset& d) { return double(insert_count(d)); }});
    ws.push_back({"write/txn_each/durable", table::rows2, setup::clone_durable,
                  [](Engine& e, const Dataset& d) { return e.insert_each(std::span(d.extra).first(50)); },
                  [](const Dataset&) { return 50.0; }});
    // 100 transactions of 1000 rows (10 in the smoke run, to keep CI quick).
    std::size_t batch_rows = cfg.smoke ? 10'000 : 100'000;
    ws.push_back({"write/batch_100x1000", table::rows2, setup::clone,
                  [=](Engine& e, const Dataset& d) {
                      return e.insert_batches(std::span(d.extra).first(batch_rows), 1000);
                  },
                  [=](const Dataset&) { return double(batch_rows); }});
    auto nupd = [](const Dataset& d) { return double(d.update_keys.size()); };
    ws.push_back({"update/non_indexed", table::rows2, setup::clone,
                  [](Engine& e, const Dataset& d) { return e.update_score(d.update_keys); }, nupd});
    ws.push_back({"update/indexed", table::rows2, setup::clone,
                  [](Engine& e, const Dataset& d) { return e.update_category(d.update_keys); }, nupd});
    ws.push_back({"remove/half", table::rows2, setup::clone,
                  [](Engine& e, const Dataset& d) { return e.remove(d.remove_keys); },
                  [](const Dataset& d) { return double(d.remove_keys.size()); }});

    // ---- point reads
    ws.push_back({"get/uniform/view", table::rows2, setup::base,
                  [](Engine& e, const Dataset& d) { return e.get_view(d.uniform_hits); }, lookups, {}, true});
    ws.push_back({"get/uniform/owned", table::rows2, setup::base,
                  [](Engine& e, const Dataset& d) { return e.get_owned(d.uniform_hits); }, lookups, {}, true});
    ws.push_back({"get/zipf/view", table::rows2, setup::base,
                  [](Engine& e, const Dataset& d) { return e.get_view(d.zipf_hits); }, lookups, {}, true});
    ws.push_back({"get/zipf/owned", table::rows2, setup::base,
                  [](Engine& e, const Dataset& d) { return e.get_owned(d.zipf_hits); }, lookups, {}, true});
    ws.push_back({"get/miss", table::rows2, setup::base,
                  [](Engine& e, const Dataset& d) { return e.get_view(d.misses); }, lookups, {}, true});
    ws.push_back({"get/uniform/view/txn_each", table::rows2, setup::base,
                  [](Engine& e, const Dataset& d) { return e.get_view_txn_each(d.uniform_hits); }, lookups, {},
                  true});

    // ---- ranges and scans
    auto width = 2 * Dataset::range_rows;  // ids are even: 100 rows
    ws.push_back({"range100/view", table::rows2, setup::base,
                  [=](Engine& e, const Dataset& d) { return e.range_view(d.range_starts, width); },
                  [](const Dataset& d) { return double(d.range_starts.size()); },
                  [](const Dataset&) { return double(Dataset::range_rows); }, true});
    ws.push_back({"range100/owned", table::rows2, setup::base,
                  [=](Engine& e, const Dataset& d) { return e.range_owned(d.range_starts, width); },
                  [](const Dataset& d) { return double(d.range_starts.size()); },
                  [](const Dataset&) { return double(Dataset::range_rows); }});
    ws.push_back({"scan/view (per row)", table::rows2, setup::base,
                  [](Engine& e, const Dataset&) { return e.scan_view(); }, n, {}, true});
    ws.push_back({"scan/owned (per row)", table::rows2, setup::base,
                  [](Engine& e, const Dataset&) { return e.scan_owned(); }, n});

    // ---- secondary keys
    ws.push_back({"index/code_eq (~1 row)", table::rows2, setup::base,
                  [](Engine& e, const Dataset& d) { return e.by_code(d.code_lookups); },
                  [](const Dataset& d) { return double(d.code_lookups.size()); }});
    auto repeat = [](const std::vector<std::uint32_t>& v, std::size_t times) {
        std::vector<std::uint32_t> out;
        for (std::size_t i = 0; i < times; ++i) out.push_back(v[i % v.size()]);
        return out;
    };
    static std::vector<std::uint32_t> small_cats, large_cats, count_cats;
    const Dataset& ds = Dataset::get(cfg.rows);
    small_cats = repeat(ds.cat_small, 1000);
    large_cats = repeat(ds.cat_large, 32);
    count_cats = repeat(ds.cat_large, 10'000);
    ws.push_back({"index/category_eq_small", table::rows2, setup::base,
                  [](Engine& e, const Dataset&) { return e.by_category(small_cats); },
                  [](const Dataset&) { return double(small_cats.size()); },
                  [](const Dataset& d) { return d.cat_small_rows; }, true});
    ws.push_back({"index/category_eq_large", table::rows2, setup::base,
                  [](Engine& e, const Dataset&) { return e.by_category(large_cats); },
                  [](const Dataset&) { return double(large_cats.size()); },
                  [](const Dataset& d) { return d.cat_large_rows; }, true});
    ws.push_back({"index/category_count", table::rows2, setup::base,
                  [](Engine& e, const Dataset&) { return e.count_category(count_cats); },
                  [](const Dataset&) { return double(count_cats.size()); },
                  [](const Dataset& d) { return d.cat_large_rows; }});
    ws.push_back({"size (read txn each)", table::rows2, setup::base,
                  [](Engine& e, const Dataset&) { return e.size_each(1000); }, [](const Dataset&) { return 1000.0; }});

    // ---- the variable-length model
    ws.push_back({"docs/get/uniform/view", table::docs, setup::base,
                  [](Engine& e, const Dataset& d) { return e.get_view(d.uniform_hits); }, lookups, {}, true});
    ws.push_back({"docs/get/uniform/owned", table::docs, setup::base,
                  [](Engine& e, const Dataset& d) { return e.get_owned(d.uniform_hits); }, lookups, {}, true});
    ws.push_back({"docs/scan/view (per row)", table::docs, setup::base,
                  [](Engine& e, const Dataset&) { return e.scan_view(); }, n, {}, true});
    ws.push_back({"docs/scan/owned (per row)", table::docs, setup::base,
                  [](Engine& e, const Dataset&) { return e.scan_owned(); }, n});
    return ws;
}

// Bytes on disk per row for the loaded tables (not a time: ns_per_op is 0).
void file_size(benchmark::State& st, engine_kind e, table t) {
    double bytes = 0;
    try {
        Engine& b = base(e, t);
        b.checkpoint();
        for (const auto& f : b.data_files()) bytes += double(fs::file_size(f));
    } catch (const std::exception& ex) {
        failed = true;
        st.SkipWithError(ex.what());
        return;
    }
    for (auto _ : st) st.SetIterationTime(1e-9);
    st.counters["bytes_per_row"] = bytes / double(cfg.rows);
    st.counters["ns_per_op"] = 0;
}

// Takes our flags out of argv before Google Benchmark sees it.
void parse(int& argc, char** argv) {
    if (const char* env = std::getenv("NETABASE_BENCH_ROWS")) cfg.rows = std::strtoull(env, nullptr, 10);
    if (const char* env = std::getenv("NETABASE_BENCH_DIR")) cfg.dir = env;
    std::string engines = "netabase,lmdb,sqlite,lmdbxx";
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("--rows=", 0) == 0) {
            std::string v = a.substr(7);
            if (v == "10k") v = "10000";
            if (v == "100k") v = "100000";
            if (v == "1m" || v == "1M") v = "1000000";
            cfg.rows = std::strtoull(v.c_str(), nullptr, 10);
        } else if (a == "--smoke") {
            cfg.smoke = true;
        } else if (a == "--once") {
            cfg.once = true;
        } else if (a.rfind("--engines=", 0) == 0) {
            engines = a.substr(10);
        } else if (a.rfind("--dir=", 0) == 0) {
            cfg.dir = a.substr(6);
        } else {
            argv[out++] = argv[i];
        }
    }
    argc = out;
    if (cfg.smoke) cfg.rows = 10'000;
#ifdef NETABASE_BENCH_CALLGRIND
    if (RUNNING_ON_VALGRIND) cfg.once = true;
#endif
    if (cfg.smoke) cfg.once = true;
    if (cfg.rows < 1000) cfg.rows = 1000;
    std::stringstream ss(engines);
    for (std::string e; std::getline(ss, e, ',');) {
        if (e == "netabase") cfg.engines.insert(engine_kind::netabase);
        else if (e == "lmdb") cfg.engines.insert(engine_kind::lmdb);
        else if (e == "sqlite") cfg.engines.insert(engine_kind::sqlite);
        else if (e == "lmdbxx" && have_lmdbxx()) cfg.engines.insert(engine_kind::lmdbxx);
        else if (e != "lmdbxx") {
            std::cerr << "netabase_bench: unknown engine '" << e << "'\n";
            std::exit(2);
        }
    }
    if (cfg.dir.empty()) cfg.dir = fs::temp_directory_path() / ("netabase-bench-" + std::to_string(::getpid()));
    else cfg.dir /= "netabase-bench-" + std::to_string(::getpid());
}

}  // namespace

int main(int argc, char** argv) {
    parse(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    fs::create_directories(cfg.dir);

    Dataset::get(cfg.rows);  // generated before any timing
    benchmark::AddCustomContext("rows", std::to_string(cfg.rows));
    benchmark::AddCustomContext("durability",
                                "LMDB MDB_NOSYNC / SQLite synchronous=OFF, except */durable: fsync per commit "
                                "(LMDB default flags, SQLite WAL + synchronous=FULL)");

    static std::vector<workload> ws = workloads();
    std::string order_list;
    for (const workload& w : ws) order_list += w.name + ";";
    benchmark::AddCustomContext("workloads", order_list);
    const engine_kind order[] = {engine_kind::netabase, engine_kind::lmdb, engine_kind::sqlite, engine_kind::lmdbxx};
    for (const workload& w : ws) {
        for (engine_kind e : order) {
            if (!cfg.engines.count(e)) continue;
            if (e == engine_kind::lmdbxx && !w.lmdbxx) continue;
            auto* b = benchmark::RegisterBenchmark((w.name + "/" + engine_name(e)).c_str(),
                                                  [&w, e](benchmark::State& st) { run(st, w, e); });
            b->UseManualTime()->Unit(benchmark::kMillisecond);
            if (cfg.once || w.how != setup::base) b->Iterations(1);
        }
    }
    for (table t : {table::rows2, table::docs})
        for (engine_kind e : order) {
            if (!cfg.engines.count(e) || e == engine_kind::lmdbxx) continue;
            auto* b = benchmark::RegisterBenchmark(
                (std::string(t == table::docs ? "docs/" : "") + "file_bytes_per_row/" + engine_name(e)).c_str(),
                [e, t](benchmark::State& st) { file_size(st, e, t); });
            b->UseManualTime()->Iterations(1);
        }

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::error_code ec;
    fs::remove_all(cfg.dir, ec);
    if (failed) {
        std::cerr << "netabase_bench: FAILED (an engine failed or the engines disagree; see the errors above)\n";
        return 1;
    }
    return 0;
}
