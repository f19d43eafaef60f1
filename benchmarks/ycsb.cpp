// netabase_ycsb: the YCSB core workloads, every engine on the same generated operations.
//
//   netabase_ycsb [--records=N] [--ops=N] [--durable-ops=N] [--shapes=str10,int1]
//                 [--workloads=load,a,b,c,d,e,f,a-durable]
//                 [--engines=netabase,lmdb,lmdb-naive,sqlite,rocksdb] [--no-owned] [--smoke] [--dir=PATH]
//
// Per shape: each engine loads the records (timed: "load"), and that store is the base every
// other workload copies before it runs (so each starts from the loaded table). Every
// operation of A-F is one transaction. What each timed body read is checksummed, and the
// checksum must be the same for every engine; so must the whole table's (every byte of every
// record) after every workload, and, for the LMDB engines, the primary table's raw key and
// value bytes: netabase and the raw LMDB code store the same bytes. A mismatch is reported
// and the program exits 1.
//
// Under valgrind --tool=callgrind (scripts/ycsb_ir.sh) each timed body is one dump, named
// "<shape>/<workload>/<engine>|<operations>", holding the instructions of that body alone.
#include "ycsb.hpp"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define NETABASE_YCSB_CALLGRIND 1
#endif

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <time.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace bench::ycsb;

namespace {

// ---- YCSB's generators (site.ycsb.generator), written out ------------------------------------

// Utils.fnvhash64: FNV-1a over the 8 bytes of the number, then the absolute value.
std::int64_t fnvhash64(std::int64_t val) {
    std::uint64_t h = 0xCBF29CE484222325ULL;
    auto v = static_cast<std::uint64_t>(val);
    for (int i = 0; i < 8; ++i) {
        h ^= v & 0xff;
        v >>= 8;
        h *= 1099511628211ULL;
    }
    auto s = static_cast<std::int64_t>(h);
    if (s == INT64_MIN) return 0;
    return s < 0 ? -s : s;
}

double next_double(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }
std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {  // [lo, hi]
    return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}

// ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic databases").
class zipfian {
public:
    zipfian(std::int64_t min, std::int64_t max, double theta, std::mt19937_64& rng, double zetan = 0)
        : items_(max - min + 1), base_(min), theta_(theta) {
        zeta2theta_ = zeta(0, 2, theta, 0);
        alpha_ = 1.0 / (1.0 - theta);
        zetan_ = zetan != 0 ? zetan : zeta(0, items_, theta, 0);
        countforzeta_ = items_;
        eta_ = (1 - std::pow(2.0 / double(items_), 1 - theta)) / (1 - zeta2theta_ / zetan_);
        next(rng);
    }
    std::int64_t next(std::mt19937_64& rng) { return next_long(items_, rng); }
    // As YCSB: a larger item count extends zeta incrementally (eta keeps the original count).
    std::int64_t next_long(std::int64_t itemcount, std::mt19937_64& rng) {
        if (itemcount > countforzeta_) {
            zetan_ = zeta(countforzeta_, itemcount, theta_, zetan_);
            countforzeta_ = itemcount;
            eta_ = (1 - std::pow(2.0 / double(items_), 1 - theta_)) / (1 - zeta2theta_ / zetan_);
        }
        double u = next_double(rng);
        double uz = u * zetan_;
        if (uz < 1.0) return base_;
        if (uz < 1.0 + std::pow(0.5, theta_)) return base_ + 1;
        return base_ + static_cast<std::int64_t>(double(itemcount) * std::pow(eta_ * u - eta_ + 1, alpha_));
    }

private:
    static double zeta(std::int64_t st, std::int64_t n, double theta, double sum) {
        for (std::int64_t i = st; i < n; ++i) sum += 1.0 / std::pow(double(i + 1), theta);
        return sum;
    }
    std::int64_t items_, base_;
    double theta_, zeta2theta_ = 0, alpha_ = 0, zetan_ = 0, eta_ = 0;
    std::int64_t countforzeta_ = 0;
};

// ScrambledZipfianGenerator: a Zipfian over 10^10 items (zeta precomputed, as YCSB), hashed
// onto [min, max].
class scrambled_zipfian {
public:
    scrambled_zipfian(std::int64_t min, std::int64_t max, std::mt19937_64& rng)
        : min_(min), count_(max - min + 1), gen_(0, 10'000'000'000LL, 0.99, rng, 26.46902820178302) {}
    std::int64_t next(std::mt19937_64& rng) { return min_ + fnvhash64(gen_.next(rng)) % count_; }

private:
    std::int64_t min_, count_;
    zipfian gen_;
};

// SkewedLatestGenerator: the most recently inserted records are the most popular.
class skewed_latest {
public:
    skewed_latest(std::int64_t last, std::mt19937_64& rng) : gen_(0, last - 1, 0.99, rng) {}
    std::int64_t next(std::int64_t last, std::mt19937_64& rng) { return last - gen_.next_long(last, rng); }

private:
    zipfian gen_;
};

struct spec {
    std::string name;
    double read, update, insert, scan, rmw;
    bool latest;
};

// The core workloads' proportions (workloads/workload[a-f] in YCSB).
const std::vector<spec>& specs() {
    static const std::vector<spec> s = {
        {"a", 0.5, 0.5, 0, 0, 0, false},  {"b", 0.95, 0.05, 0, 0, 0, false}, {"c", 1, 0, 0, 0, 0, false},
        {"d", 0.95, 0, 0.05, 0, 0, true}, {"e", 0, 0, 0.05, 0.95, 0, false}, {"f", 0.5, 0, 0, 0, 0.5, false},
    };
    return s;
}

// CoreWorkload's transaction phase, one operation at a time, single-threaded (so every
// insert is acknowledged before the next operation).
std::vector<op> make_ops(const spec& s, std::size_t records, std::size_t count, std::size_t fields,
                         std::uint64_t seed, std::uint32_t& values_used) {
    std::mt19937_64 rng(seed);
    auto last = static_cast<std::int64_t>(records) - 1;  // the highest acknowledged insert
    auto next_insert = static_cast<std::int64_t>(records);
    auto expected_new = static_cast<std::int64_t>(double(count) * s.insert * 2.0);
    std::optional<scrambled_zipfian> zipf;
    std::optional<skewed_latest> latest;
    if (s.latest)
        latest.emplace(last, rng);
    else
        zipf.emplace(0, static_cast<std::int64_t>(records) + expected_new, rng);
    auto next_keynum = [&] {
        std::int64_t k;
        do k = latest ? latest->next(last, rng) : zipf->next(rng);
        while (k > last);
        return static_cast<std::uint32_t>(k);
    };
    const std::pair<op_kind, double> weights[] = {{op_kind::read, s.read},
                                                  {op_kind::update, s.update},
                                                  {op_kind::insert, s.insert},
                                                  {op_kind::scan, s.scan},
                                                  {op_kind::rmw, s.rmw}};
    std::vector<op> ops;
    ops.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        double u = next_double(rng);  // DiscreteGenerator
        op_kind kind = op_kind::read;
        for (auto [k, w] : weights) {
            if (w == 0) continue;
            kind = k;
            if (u < w) break;
            u -= w;
        }
        op o{kind, 0, 0, 0, 0};
        if (kind == op_kind::insert) {
            o.keynum = static_cast<std::uint32_t>(next_insert);
            last = next_insert++;
        } else {
            o.keynum = next_keynum();
            if (kind == op_kind::update || kind == op_kind::rmw) {
                o.field = static_cast<std::uint8_t>(uniform(rng, 0, static_cast<std::int64_t>(fields) - 1));
                o.value = values_used++;
            } else if (kind == op_kind::scan) {
                o.len = static_cast<std::uint16_t>(uniform(rng, 1, 100));
            }
        }
        ops.push_back(o);
    }
    return ops;
}

// RandomByteIterator's bytes: (x & 95) + ' '.
std::string random_value(std::mt19937_64& rng, std::size_t n) {
    std::string s(n, ' ');
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (i % 8 == 0) bits = rng();
        s[i] = static_cast<char>(' ' + ((bits >> (8 * (i % 8))) & 95));
    }
    return s;
}

// ---- The run ---------------------------------------------------------------------------------

enum class kind { netabase, lmdb, lmdb_naive, sqlite, rocksdb };
const char* kind_name(kind k) {
    switch (k) {
        case kind::netabase: return "netabase";
        case kind::lmdb: return "lmdb";
        case kind::lmdb_naive: return "lmdb-naive";
        case kind::sqlite: return "sqlite";
        case kind::rocksdb: return "rocksdb";
    }
    return "?";
}

struct config {
    std::size_t records = 100'000;
    std::size_t ops = 10'000;
    std::size_t durable_ops = 200;
    std::vector<shape> shapes{shape::str10, shape::int1};
    std::set<std::string> workloads{"load", "a", "b", "c", "d", "e", "f", "a-durable"};
    std::vector<kind> kinds{kind::netabase, kind::lmdb, kind::lmdb_naive, kind::sqlite, kind::rocksdb};
    bool owned = true;
    fs::path dir;
} cfg;

const char* shape_name(shape s) { return s == shape::str10 ? "str10" : "int1"; }

std::unique_ptr<Engine> open(kind k, shape s, const fs::path& dir, sync_mode m, const Data& d) {
    switch (k) {
        case kind::netabase: return make_netabase(s, dir, m, d);
        case kind::lmdb: return make_lmdb(s, dir, m, d, false);
        case kind::lmdb_naive: return make_lmdb(s, dir, m, d, true);
        case kind::sqlite: return make_sqlite(s, dir, m, d);
        case kind::rocksdb: return make_rocksdb(s, dir, m, d);
    }
    return nullptr;
}

// Checksums by name: every engine must give the first one's.
std::map<std::string, std::pair<std::string, std::uint64_t>> sums;
std::size_t compared = 0;  // checksums compared with an earlier engine's
bool failed = false;

void agree(const std::string& what, const std::string& engine, std::uint64_t sum) {
    auto [it, fresh] = sums.try_emplace(what, engine, sum);
    if (fresh) return;
    ++compared;
    if (it->second.second == sum) return;
    std::fprintf(stderr, "netabase_ycsb: MISMATCH %s: %s gives %016" PRIx64 ", %s gave %016" PRIx64 "\n",
                 what.c_str(), engine.c_str(), sum, it->second.first.c_str(), it->second.second);
    failed = true;
}

double thread_cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
}

struct result {
    double ns_per_op;
};
std::map<std::string, std::map<std::string, result>> results;  // "shape/workload" -> engine

// Runs `body` as one timed region (one callgrind dump).
template <class F>
std::uint64_t timed(const std::string& shape_workload, const std::string& engine, std::size_t ops, bool wall,
                    F&& body) {
#ifdef NETABASE_YCSB_CALLGRIND
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_ZERO_STATS;
#endif
    double c0 = thread_cpu_ns();
    auto t0 = std::chrono::steady_clock::now();
    std::uint64_t sum = body();
    auto t1 = std::chrono::steady_clock::now();
    double c1 = thread_cpu_ns();
#ifdef NETABASE_YCSB_CALLGRIND
    if (RUNNING_ON_VALGRIND) {
        std::string dump = shape_workload + "/" + engine + "|" + std::to_string(ops);
        CALLGRIND_DUMP_STATS_AT(dump.c_str());
    }
    CALLGRIND_STOP_INSTRUMENTATION;
#endif
    double ns = wall ? std::chrono::duration<double, std::nano>(t1 - t0).count() : c1 - c0;
    results[shape_workload][engine] = {ns / double(ops)};
    std::printf("%-16s %-16s %8zu ops %12.0f ns/op%s  checksum %016" PRIx64 "\n", shape_workload.c_str(),
                engine.c_str(), ops, ns / double(ops), wall ? " (wall)" : "", sum);
    std::fflush(stdout);
    return sum;
}

// The LMDB engines' bytes must be identical: after the load and after every workload.
void check_bytes(const std::string& what, const std::string& engine, Engine& e) {
    if (auto b = e.lmdb_bytes()) agree(what + ": LMDB key and value bytes", engine, *b);
}

void run_shape(shape s) {
    const std::string sn = shape_name(s);
    const std::size_t fields = s == shape::str10 ? 10 : 1;

    // The operations first: the rows needed are the loaded ones plus the most any workload inserts.
    std::map<std::string, std::vector<op>> ops;
    std::uint32_t values_used = 0;
    std::uint64_t seed = 0x5ca1ab1e + (s == shape::str10 ? 0 : 1000);
    for (const spec& w : specs()) {
        if (cfg.workloads.count(w.name))
            ops[w.name] = make_ops(w, cfg.records, cfg.ops, fields, seed + w.name[0], values_used);
        if (w.name == "a" && cfg.workloads.count("a-durable"))
            ops["a-durable"] = make_ops(w, cfg.records, cfg.durable_ops, fields, seed + 'A', values_used);
    }
    std::size_t inserts = 0;
    for (auto& [name, list] : ops)
        inserts = std::max<std::size_t>(
            inserts, std::count_if(list.begin(), list.end(), [](const op& o) { return o.kind == op_kind::insert; }));

    Data d;
    d.sh = s;
    d.records = cfg.records;
    std::mt19937_64 rng(20240601 + cfg.records + (s == shape::str10 ? 0 : 7));
    std::size_t total = cfg.records + inserts;
    for (std::size_t k = 0; k < total; ++k) {
        std::int64_t h = fnvhash64(static_cast<std::int64_t>(k));
        if (s == shape::str10) {
            char key[32];
            std::snprintf(key, sizeof key, "user%021" PRId64, h);  // 4 + 21 = 25 bytes
            UserRow r;
            r.key = key;
            for (std::size_t i = 0; i < 10; ++i) field(r, i) = random_value(rng, 100);
            d.str_rows.push_back(std::move(r));
        } else {
            d.int_rows.push_back(UserInt{static_cast<std::uint64_t>(h), random_value(rng, 100)});
        }
    }
    for (std::uint32_t i = 0; i < values_used; ++i) d.values.push_back(random_value(rng, 100));
    std::printf("# %s: %zu records (%s), %zu operations per workload (%zu for a-durable), %zu extra rows for inserts\n",
                sn.c_str(), cfg.records,
                s == shape::str10 ? "25-byte string key, 10 string fields of 100 bytes" : "u64 key, 1 string field of 100 bytes",
                cfg.ops, cfg.durable_ops, inserts);

    // Load: each engine's loaded store is the base of its runs.
    struct base_store {
        kind k;
        fs::path dir;
        std::unique_ptr<Engine> e;
    };
    std::vector<base_store> bases;
    for (kind k : cfg.kinds) {
        base_store b{k, cfg.dir / (sn + "-base-" + kind_name(k)), nullptr};
        fs::remove_all(b.dir);
        fs::create_directories(b.dir);
        b.e = open(k, s, b.dir, sync_mode::none, d);
        auto body = [&] { return b.e->load(cfg.records); };
        std::uint64_t sum = cfg.workloads.count("load") ? timed(sn + "/load", kind_name(k), cfg.records, false, body)
                                                        : body();
        agree(sn + "/load", kind_name(k), sum);
        b.e->settle();
        agree(sn + "/load: table", kind_name(k), b.e->table_sum());
        check_bytes(sn + "/load", kind_name(k), *b.e);
        bases.push_back(std::move(b));
    }
    std::string lmdb_engines;
    for (kind k : cfg.kinds)
        if (k == kind::netabase || k == kind::lmdb || k == kind::lmdb_naive)
            lmdb_engines += std::string(lmdb_engines.empty() ? "" : ", ") + kind_name(k);
    if (auto it = sums.find(sn + "/load: LMDB key and value bytes"); it != sums.end() && !failed)
        std::printf("# %s/load: every key and value byte the same in %s (hash %016" PRIx64 ")\n", sn.c_str(),
                    lmdb_engines.c_str(), it->second.second);

    for (auto& [name, list] : ops) {
        bool durable = name == "a-durable";
        for (base_store& b : bases) {
            for (bool owned : {false, true}) {
                if (owned && (!cfg.owned || !(b.k == kind::netabase || b.k == kind::lmdb) || durable)) continue;
                std::string engine = std::string(kind_name(b.k)) + (owned ? "/owned" : "");
                fs::path dir = cfg.dir / (sn + "-" + name + "-" + kind_name(b.k));
                fs::remove_all(dir);
                fs::create_directories(dir);
                b.e->copy_to(dir);
                {
                    auto e = open(b.k, s, dir, durable ? sync_mode::durable : sync_mode::none, d);
                    // Untimed warm-up, and a check that the copy holds the loaded table.
                    agree(sn + "/load: table", engine, e->table_sum());
                    std::uint64_t sum =
                        timed(sn + "/" + name, engine, list.size(), durable, [&] { return e->run(list, owned); });
                    agree(sn + "/" + name, engine, sum);
                    agree(sn + "/" + name + ": table after", engine, e->table_sum());
                    check_bytes(sn + "/" + name, engine, *e);
                }
                fs::remove_all(dir);
            }
        }
    }
    for (base_store& b : bases) {
        b.e.reset();
        fs::remove_all(b.dir);
    }
}

void print_table() {
    std::vector<std::string> engines;
    for (auto& [w, by] : results)
        for (auto& [e, r] : by)
            if (std::find(engines.begin(), engines.end(), e) == engines.end()) engines.push_back(e);
    std::printf("\n| workload |");
    for (auto& e : engines) std::printf(" %s ns/op |", e.c_str());
    std::printf(" netabase/lmdb |\n|---|");
    for (std::size_t i = 0; i <= engines.size(); ++i) std::printf("---:|");
    std::printf("\n");
    for (auto& [w, by] : results) {
        std::printf("| %s |", w.c_str());
        for (auto& e : engines) {
            auto it = by.find(e);
            if (it == by.end())
                std::printf(" - |");
            else
                std::printf(" %.0f |", it->second.ns_per_op);
        }
        auto nb = by.find("netabase"), lm = by.find("lmdb");
        if (nb != by.end() && lm != by.end())
            std::printf(" %.2f |\n", nb->second.ns_per_op / lm->second.ns_per_op);
        else
            std::printf(" - |\n");
    }
}

std::size_t count_arg(std::string v) {
    std::size_t mult = 1;
    if (!v.empty() && (v.back() == 'k' || v.back() == 'K')) mult = 1000, v.pop_back();
    if (!v.empty() && (v.back() == 'm' || v.back() == 'M')) mult = 1'000'000, v.pop_back();
    char* end = nullptr;
    std::size_t n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end) {
        std::fprintf(stderr, "netabase_ycsb: '%s' is not a count\n", v.c_str());
        std::exit(2);
    }
    return n * mult;
}

std::vector<std::string> list_arg(const std::string& v) {
    std::vector<std::string> out;
    std::stringstream ss(v);
    for (std::string x; std::getline(ss, x, ',');)
        if (!x.empty()) out.push_back(x);
    return out;
}

void parse(int argc, char** argv) {
    bool smoke = false, records_set = false, ops_set = false, durable_set = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&](const char* flag) -> std::optional<std::string> {
            std::string f = std::string(flag) + "=";
            if (a.rfind(f, 0) == 0) return a.substr(f.size());
            return std::nullopt;
        };
        if (auto v = val("--records")) {
            cfg.records = count_arg(*v);
            records_set = true;
        } else if (auto v2 = val("--ops")) {
            cfg.ops = count_arg(*v2);
            ops_set = true;
        } else if (auto v3 = val("--durable-ops")) {
            cfg.durable_ops = count_arg(*v3);
            durable_set = true;
        } else if (auto v4 = val("--shapes")) {
            cfg.shapes.clear();
            for (auto& x : list_arg(*v4)) {
                if (x == "str10") cfg.shapes.push_back(shape::str10);
                else if (x == "int1") cfg.shapes.push_back(shape::int1);
                else {
                    std::fprintf(stderr, "netabase_ycsb: unknown shape '%s' (str10, int1)\n", x.c_str());
                    std::exit(2);
                }
            }
        } else if (auto v5 = val("--workloads")) {
            cfg.workloads.clear();
            for (auto& x : list_arg(*v5)) {
                bool known = x == "load" || x == "a-durable";
                for (const spec& w : specs()) known = known || x == w.name;
                if (!known) {
                    std::fprintf(stderr, "netabase_ycsb: unknown workload '%s' (load, a-f, a-durable)\n", x.c_str());
                    std::exit(2);
                }
                cfg.workloads.insert(x);
            }
        } else if (auto v6 = val("--engines")) {
            cfg.kinds.clear();
            for (auto& x : list_arg(*v6)) {
                bool found = false;
                for (kind k : {kind::netabase, kind::lmdb, kind::lmdb_naive, kind::sqlite, kind::rocksdb})
                    if (x == kind_name(k)) {
                        cfg.kinds.push_back(k);
                        found = true;
                    }
                if (!found) {
                    std::fprintf(stderr, "netabase_ycsb: unknown engine '%s'\n", x.c_str());
                    std::exit(2);
                }
            }
        } else if (a == "--no-owned") {
            cfg.owned = false;
        } else if (a == "--smoke") {
            smoke = true;
        } else if (auto v7 = val("--dir")) {
            cfg.dir = *v7;
        } else {
            std::fprintf(stderr, "netabase_ycsb: unknown argument '%s' (see the top of benchmarks/ycsb.cpp)\n",
                         a.c_str());
            std::exit(2);
        }
    }
    if (smoke) {
        if (!records_set) cfg.records = 2000;
        if (!ops_set) cfg.ops = 1000;
        if (!durable_set) cfg.durable_ops = 20;
    }
    if (cfg.records < 10) {
        std::fprintf(stderr, "netabase_ycsb: --records must be at least 10\n");
        std::exit(2);
    }
    if (std::count(cfg.kinds.begin(), cfg.kinds.end(), kind::rocksdb) && !have_rocksdb()) {
        std::fprintf(stderr,
                     "netabase_ycsb: this build has no RocksDB engine (librocksdb-dev was not found at configure "
                     "time); pass --engines without rocksdb\n");
        std::exit(2);
    }
    cfg.dir = (cfg.dir.empty() ? fs::temp_directory_path() : cfg.dir) / ("netabase-ycsb-" + std::to_string(::getpid()));
}

}  // namespace

int main(int argc, char** argv) {
    parse(argc, argv);
    fs::create_directories(cfg.dir);
    std::printf("# netabase_ycsb: request distribution Zipfian 0.99 (scrambled; d: latest), one transaction per "
                "operation; no-sync (LMDB MDB_NOSYNC, SQLite synchronous=OFF, RocksDB sync=false) except a-durable "
                "(fsync per commit); times are thread CPU time, a-durable wall time\n");
    try {
        for (shape s : cfg.shapes) run_shape(s);
    } catch (const std::exception& ex) {
        std::fprintf(stderr, "netabase_ycsb: %s\n", ex.what());
        failed = true;
    }
    print_table();
    std::error_code ec;
    fs::remove_all(cfg.dir, ec);
    if (failed) {
        std::fprintf(stderr, "netabase_ycsb: FAILED (an engine failed or the engines disagree; see above)\n");
        return 1;
    }
    std::printf("# every checksum agreed: %zu checks, %zu comparisons between engines\n", sums.size(), compared);
    return 0;
}
