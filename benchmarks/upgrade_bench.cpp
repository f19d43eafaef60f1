// What an upgrade costs: the time to open a store whose table must be rewritten (a field
// appended, or an upgrade_from step), against opening it unchanged, and a scan's cost per row
// before and after. Prints a markdown table; benchmarks/README.md has the latest.
//   netabase_upgrade_bench [--rows=N] [--dir=D]     (default 1M rows, in the build directory)
#include <netabase/netabase.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace upgrade_bench {

// The benchmark Row of netabase_bench, as release 1 stores it.
struct Row {
    std::uint64_t id;
    std::uint32_t category;
    std::uint32_t code;
    double score;
    std::string name;
};
// Release 2a: two fields appended (no step).
struct Appended {
    std::uint64_t id;
    std::uint32_t category;
    std::uint32_t code;
    double score;
    std::string name;
    std::string note = "";
    std::uint32_t flags = 0;
};
// Release 2b: a field changed through a step.
struct Stepped {
    std::uint64_t id;
    std::uint32_t category;
    std::uint64_t code;  // widened
    double score;
    std::string name;
};

constexpr auto netabase_model(netabase::tag<Row>) {
    return netabase::model<Row>("rows").secondary_key(&Row::category).secondary_key(&Row::code);
}
constexpr auto netabase_model(netabase::tag<Appended>) {
    return netabase::model<Appended>("rows").secondary_key(&Appended::category).secondary_key(&Appended::code);
}
constexpr auto netabase_model(netabase::tag<Stepped>) {
    return netabase::model<Stepped>("rows")
        .upgrade_from<Row>([](Row r) { return Stepped{r.id, r.category, r.code, r.score, std::move(r.name)}; })
        .secondary_key(&Stepped::category)
        .secondary_key(&Stepped::code);
}

}  // namespace upgrade_bench

namespace {

namespace fs = std::filesystem;
using namespace upgrade_bench;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

template <class M>
double open_seconds(const fs::path& dir) {
    auto t = clock_type::now();
    netabase::Store<netabase::definition<M>> s{dir};
    return seconds_since(t);
}

// ns per row of a full scan through views, reading two fields.
template <class M>
double scan_ns_per_row(const fs::path& dir, std::uint64_t rows) {
    netabase::Store<netabase::definition<M>> s{dir};
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
        auto t = clock_type::now();
        std::uint64_t sum = s.read([](auto& txn) {
            std::uint64_t acc = 0;
            for (const auto& g : txn.template open_tree<M>()) {
                auto v = g.view();
                acc += v.template get<&M::category>() + v.template get<&M::name>().size();
            }
            return acc;
        });
        double ns = seconds_since(t) * 1e9 / static_cast<double>(rows);
        if (sum == 0) std::abort();
        if (ns < best) best = ns;
    }
    return best;
}

std::uintmax_t file_bytes(const fs::path& dir) { return fs::file_size(dir / "data.mdb"); }

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t rows = 1'000'000;
    fs::path base = fs::current_path();
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("--rows=", 0) == 0) rows = std::stoull(a.substr(7));
        if (a.rfind("--dir=", 0) == 0) base = a.substr(6);
    }
    fs::path work = base / "upgrade-bench";
    fs::remove_all(work);
    fs::path original = work / "original";
    auto t = clock_type::now();
    {
        netabase::Store<netabase::definition<Row>> s{original};
        s.write([&](auto& txn) {
            std::vector<Row> batch;
            std::uint64_t x = 88172645463325252ull;
            for (std::uint64_t id = 0; id < rows; ++id) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                batch.push_back(Row{id, static_cast<std::uint32_t>(x % 1000), static_cast<std::uint32_t>(x >> 32),
                                    static_cast<double>(x % 10000) / 7,
                                    std::string(56 + x % 9, static_cast<char>('a' + x % 26))});
            }
            txn.template open_tree<Row>().put_many(batch);
        });
    }
    double load = seconds_since(t);
    auto copy = [&](const char* name) {
        fs::path p = work / name;
        fs::create_directories(p);
        fs::copy_file(original / "data.mdb", p / "data.mdb");
        return p;
    };
    fs::path same = copy("same"), appended = copy("appended"), stepped = copy("stepped");
    double open_same = open_seconds<Row>(same);
    double open_appended = open_seconds<Appended>(appended);
    double open_stepped = open_seconds<Stepped>(stepped);
    double open_again = open_seconds<Appended>(appended);
    double scan_before = scan_ns_per_row<Row>(same, rows);
    double scan_appended = scan_ns_per_row<Appended>(appended, rows);
    double scan_stepped = scan_ns_per_row<Stepped>(stepped, rows);

    std::printf("rows: %llu (load in one put_many: %.2f s, data.mdb %.1f MiB)\n\n", static_cast<unsigned long long>(rows),
                load, static_cast<double>(file_bytes(original)) / (1 << 20));
    std::printf("| open | seconds | rows/s | data.mdb after (MiB) | scan ns/row after |\n|---|---:|---:|---:|---:|\n");
    auto line = [&](const char* what, double s, const fs::path& dir, double scan) {
        std::printf("| %s | %.3f | %s | %.1f | %.1f |\n", what, s,
                    s > 0.05 ? std::to_string(static_cast<long long>(static_cast<double>(rows) / s)).c_str() : "-",
                    static_cast<double>(file_bytes(dir)) / (1 << 20), scan);
    };
    line("unchanged model", open_same, same, scan_before);
    line("two fields appended (rows rewritten, 2 indexes rebuilt)", open_appended, appended, scan_appended);
    line("upgrade_from step (u32 -> u64 field)", open_stepped, stepped, scan_stepped);
    line("the appended store opened again", open_again, appended, scan_appended);
    fs::remove_all(work);
}
