// netabase: reads any netabase store without the program that wrote it, from the schema the
// store describes in its metadata (netabase/catalog.hpp). Opens read-only: its read
// transactions never block a writer.
//
//   netabase tables DIR                   the tables, their fields and keys
//   netabase stats DIR                    sizes: the file, each table and index
//   netabase dump DIR TABLE [--json]      every row, one per line
//   netabase get DIR TABLE KEY            one row by primary key (KEY as JSON: 42, "alice", [1,"x"])
//   netabase verify DIR                   every row decodes, every index entry is right
//   netabase backup DIR DEST [--compact]  a consistent copy into a new directory
//
// Exit status: 0 done; 1 verify found problems, get found no row, or dump met corrupt rows;
// 2 bad usage, or DIR is not a store this tool can read.
#include <netabase/catalog.hpp>
#include <netabase/json.hpp>
#include <netabase/stats.hpp>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace nd = netabase::detail;
using netabase::json_row;

constexpr const char* usage =
    "usage: netabase tables DIR\n"
    "       netabase stats DIR\n"
    "       netabase dump DIR TABLE [--json]\n"
    "       netabase get DIR TABLE KEY\n"
    "       netabase verify DIR\n"
    "       netabase backup DIR DEST [--compact]\n";

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One read transaction of the environment's pool (it handles a map grown by a writer).
class snapshot {
public:
    explicit snapshot(nd::environment& env) : env_(env), txn_(env.begin_read(cursors_)) {}
    snapshot(const snapshot&) = delete;
    snapshot& operator=(const snapshot&) = delete;
    ~snapshot() { env_.end_read(txn_, cursors_); }
    MDB_txn* get() const noexcept { return txn_; }

private:
    nd::environment& env_;
    nd::cursor_cache cursors_;
    MDB_txn* txn_;
};

struct store {
    std::shared_ptr<nd::environment> env;
    std::string dir;

    explicit store(const std::string& d) : dir(d) {
        nd::environment::config cfg{0, MDB_RDONLY, 126, 4096, 0644, false};
        env = nd::environment::open(d, cfg);
    }

    MDB_dbi open_db(MDB_txn* txn, const std::string& name) const {
        MDB_dbi dbi;
        int rc = ::mdb_dbi_open(txn, name.c_str(), 0, &dbi);
        if (rc == MDB_NOTFOUND && name == nd::meta_name)
            throw netabase::error(netabase::errc::not_found,
                                  dir + " is an LMDB environment but not a netabase store (it has no __netabase metadata)");
        if (rc) nd::throw_lmdb(rc, "cannot open database '" + name + "' of " + dir);
        return dbi;
    }

    netabase::catalog read(MDB_txn* txn) const { return netabase::read_catalog(txn, open_db(txn, nd::meta_name)); }
};

const netabase::stored_table& table_named(const netabase::catalog& c, const std::string& name, const std::string& dir) {
    if (const auto* t = c.find(name)) return *t;
    std::string known;
    for (const auto& t : c.tables) known += (known.empty() ? "" : ", ") + t.name;
    throw usage_error("no table '" + name + "' in " + dir + " (tables: " + (known.empty() ? "none" : known) + ")");
}

// An index as the library names it ("users/1"), whichever database holds it.
std::string index_name(const netabase::stored_table& t, const netabase::stored_key& ix) { return t.name + "/" + ix.id; }

std::string dump_json(const json_row& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string key_text(const netabase::stored_type& t, std::span<const std::byte> k) {
    try {
        return dump_json(netabase::key_to_json(t, k));
    } catch (const netabase::error&) {
        return "0x" + netabase::detail::hex_of(k);
    }
}

// Progress on stderr when it is a terminal: long dumps and verifies say how far they are.
class progress {
public:
    progress(const char* what, std::uint64_t total) : what_(what), total_(total), on_(::isatty(2) == 1) {}
    void step() {
        if (on_ && ++n_ % 65536 == 0) std::fprintf(stderr, "\r%s %llu of %llu rows", what_,
                                                    static_cast<unsigned long long>(n_),
                                                    static_cast<unsigned long long>(total_));
    }
    ~progress() {
        if (on_ && n_ >= 65536) std::fprintf(stderr, "\r%*s\r", 60, "");
    }

private:
    const char* what_;
    std::uint64_t total_, n_ = 0;
    bool on_;
};

std::uint64_t entries(MDB_txn* txn, MDB_dbi dbi) {
    MDB_stat st;
    nd::check(::mdb_stat(txn, dbi, &st), "mdb_stat");
    return st.ms_entries;
}

// ---- commands ----------------------------------------------------------------------------

int tables(const store& s) {
    snapshot snap(*s.env);
    auto cat = s.read(snap.get());
    for (const auto& t : cat.tables) {
        std::cout << "table " << t.name << ": " << entries(snap.get(), s.open_db(snap.get(), t.db)) << " rows, version "
                  << t.version << (t.upgrading ? " (upgrade unfinished)" : "") << "\n";
        auto fields = nd::top_level_fields(t.fields_text);
        for (std::size_t i = 0; i < fields.size(); ++i)
            std::cout << "  " << t.row.names[i] << ": " << fields[i] << (t.primary.field == i ? "  [primary key]" : "")
                      << "\n";
        if (!t.primary.field) std::cout << "  primary key (computed " << t.primary.name << "): " << t.primary.type_text << "\n";
        for (const auto& ix : t.indexes)
            std::cout << "  index " << index_name(t, ix) << " (" << (ix.field ? "field " : "computed ") << ix.name
                      << "): " << (ix.unique ? "unique" : "multi") << (ix.sparse ? ", sparse" : "") << ", key "
                      << ix.type_text << "\n";
        if (t.db != t.name) std::cout << "  stored in database " << t.db << "\n";
    }
    return 0;
}

void print_db_stats(const netabase::database_stats& d, const char* indent) {
    std::cout << indent << d.name << ": " << d.entries << " entries, " << d.bytes << " bytes (" << d.leaf_pages
              << " leaf, " << d.branch_pages << " branch, " << d.overflow_pages << " overflow pages), depth "
              << d.depth << "\n";
}

int stats(const store& s) {
    snapshot snap(*s.env);
    auto cat = s.read(snap.get());
    netabase::store_stats st;
    nd::fill_space(s.env->get(), snap.get(), st);
    std::cout << "map size " << st.map_size << ", page size " << st.page_size << ", used " << st.used_bytes
              << " bytes, free " << st.free_bytes << " bytes\n";
    for (const auto& t : cat.tables) {
        netabase::database_stats d;
        d.name = "table " + t.name;
        nd::fill_stats(snap.get(), s.open_db(snap.get(), t.db), d);
        print_db_stats(d, "");
        for (const auto& ix : t.indexes) {
            netabase::database_stats e;
            e.name = "index " + index_name(t, ix) + " (" + ix.name + ")";
            nd::fill_stats(snap.get(), s.open_db(snap.get(), ix.db), e);
            print_db_stats(e, "  ");
        }
    }
    MDB_dbi log;
    if (::mdb_dbi_open(snap.get(), nd::log_name, 0, &log) == 0) {  // a store with a change log
        netabase::database_stats d;
        d.name = "change log (commits)";
        nd::fill_stats(snap.get(), log, d);
        print_db_stats(d, "");
    }
    return 0;
}

int dump(const store& s, const std::string& name, bool json) {
    snapshot snap(*s.env);
    auto cat = s.read(snap.get());
    const auto& t = table_named(cat, name, s.dir);
    MDB_dbi dbi = s.open_db(snap.get(), t.db);
    progress p("dumped", entries(snap.get(), dbi));
    nd::cursor c(snap.get(), dbi);
    MDB_val k, v;
    int bad = 0;
    for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT)) {
        p.step();
        json_row row;
        try {
            row = netabase::row_to_json(t, nd::to_span(v));
        } catch (const netabase::error& e) {
            std::cerr << "netabase: table " << t.name << ", row " << key_text(t.primary.type, nd::to_span(k)) << ": "
                      << e.description() << "\n";
            ++bad;
            continue;
        }
        if (json) {
            std::cout << dump_json(row) << "\n";
            continue;
        }
        bool first = true;
        for (auto it = row.begin(); it != row.end(); ++it, first = false)
            std::cout << (first ? "" : "  ") << it.key() << "=" << dump_json(it.value());
        std::cout << "\n";
    }
    return bad ? 1 : 0;
}

int get(const store& s, const std::string& name, const std::string& key) {
    snapshot snap(*s.env);
    auto cat = s.read(snap.get());
    const auto& t = table_named(cat, name, s.dir);
    json_row kj = json_row::parse(key, nullptr, false);
    if (kj.is_discarded()) {
        if (t.primary.type.k != netabase::stored_type::kind::string)
            throw usage_error("the key '" + key + "' is not JSON (a number, a \"string\", or an [array] for a composite key)");
        kj = key;  // a bare word for a string key
    }
    nd::buffer kb;
    netabase::key_from_json(t.primary.type, kj, kb);
    MDB_val k = nd::to_val(kb.span()), v;
    int rc = ::mdb_get(snap.get(), s.open_db(snap.get(), t.db), &k, &v);
    if (rc == MDB_NOTFOUND) {
        std::cerr << "netabase: no row with key " << dump_json(kj) << " in table " << t.name << "\n";
        return 1;
    }
    if (rc) nd::throw_lmdb(rc, "lookup failed", t.name);
    std::cout << dump_json(netabase::row_to_json(t, nd::to_span(v))) << "\n";
    return 0;
}

// Every row decodes; every index entry names a row that is there and, for an index on a field,
// is exactly what that row's field gives (computed keys need the program: only their entries'
// rows are checked).
int verify(const store& s) {
    snapshot snap(*s.env);
    auto cat = s.read(snap.get());
    std::uint64_t problems = 0;
    auto report = [&](const std::string& what) {
        ++problems;
        std::cout << "problem: " << what << "\n";
    };
    for (const auto& t : cat.tables) {
        MDB_dbi dbi = s.open_db(snap.get(), t.db);
        // (strings, not vectors of bytes: g++ 12 -O3 warns falsely on std::byte vectors' <=>)
        std::vector<std::set<std::pair<std::string, std::string>>> expected(t.indexes.size());
        auto str = [](std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); };
        std::set<std::string> undecodable;  // their entries cannot be checked
        std::uint64_t rows = 0;
        {
            progress p("verified", entries(snap.get(), dbi));
            nd::cursor c(snap.get(), dbi);
            MDB_val k, v;
            for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT)) {
                p.step();
                ++rows;
                auto pk = nd::to_span(k);
                json_row row;
                try {
                    row = netabase::row_to_json(t, nd::to_span(v));
                } catch (const netabase::error& e) {
                    report("table " + t.name + ": row " + key_text(t.primary.type, pk) + " does not decode: " +
                           e.description());
                    undecodable.insert(str(pk));
                    continue;
                }
                if (t.primary.field) {  // the key the row is stored under is its key field's
                    nd::buffer kb;
                    try {
                        netabase::key_from_json(t.primary.type, row[t.row.names[*t.primary.field]], kb);
                        if (!std::ranges::equal(kb.span(), pk))
                            report("table " + t.name + ": row " + key_text(t.primary.type, pk) +
                                   " is stored under a key that is not its " + t.primary.name);
                    } catch (const netabase::error&) {
                    }
                }
                for (std::size_t i = 0; i < t.indexes.size(); ++i) {
                    const auto& ix = t.indexes[i];
                    if (!ix.field) continue;
                    auto f = row.find(t.row.names[*ix.field]);
                    if (f == row.end()) continue;  // after a user codec's field: unknown
                    if (ix.sparse && f->is_null()) continue;
                    nd::buffer kb;
                    netabase::key_from_json(ix.type, *f, kb);
                    expected[i].emplace(str(kb.span()), str(pk));
                }
            }
        }
        for (std::size_t i = 0; i < t.indexes.size(); ++i) {
            const auto& ix = t.indexes[i];
            nd::cursor c(snap.get(), s.open_db(snap.get(), ix.db));
            MDB_val k, v;
            for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT)) {
                auto key = nd::to_span(k), pk = nd::to_span(v);
                const std::string where = "index " + index_name(t, ix) + " (" + ix.name + "): entry " + key_text(ix.type, key) +
                                          " -> " + key_text(t.primary.type, pk);
                MDB_val pkv = v, row;
                int rc = ::mdb_get(snap.get(), dbi, &pkv, &row);
                if (rc == MDB_NOTFOUND) {
                    report(where + " names a row that is not there (orphan)");
                    continue;
                }
                if (rc) nd::throw_lmdb(rc, "lookup failed", t.name);
                if (!ix.field || undecodable.contains(str(pk))) continue;
                auto e = expected[i].find({str(key), str(pk)});
                if (e == expected[i].end())
                    report(where + " does not match the row's " + ix.name + " (stale)");
                else
                    expected[i].erase(e);
            }
            auto bytes = [](const std::string& b) { return std::span<const std::byte>(reinterpret_cast<const std::byte*>(b.data()), b.size()); };
            for (const auto& [key, pk] : expected[i])
                report("index " + index_name(t, ix) + " (" + ix.name + "): no entry " + key_text(ix.type, bytes(key)) +
                       " for row " + key_text(t.primary.type, bytes(pk)) + " (missing)");
        }
        std::cout << "table " << t.name << ": " << rows << " rows, " << t.indexes.size() << " indexes checked\n";
    }
    std::cout << (problems ? std::to_string(problems) + " problems\n" : "ok\n");
    return problems ? 1 : 0;
}

int backup(const store& s, const std::string& dest, bool compact) {
    snapshot snap(*s.env);
    (void)s.read(snap.get());  // refuses a directory that is not a netabase store
    s.env->enter();
    try {
        nd::backup_to(s.env->get(), dest, netabase::backup_options{.compact = compact});
    } catch (...) {
        s.env->leave();
        throw;
    }
    s.env->leave();
    std::cout << "backed up " << s.dir << " to " << dest << (compact ? " (compacted)" : "") << "\n";
    return 0;
}

int run(const std::vector<std::string>& a) {
    if (a.size() < 2) throw usage_error("a command and a store directory are needed");
    const std::string& cmd = a[0];
    auto want = [&](std::size_t lo, std::size_t hi) {
        if (a.size() < lo || a.size() > hi) throw usage_error("wrong number of arguments for '" + cmd + "'");
    };
    auto flag = [&](std::size_t at, const char* name) {
        if (a.size() <= at) return false;
        if (a[at] != name) throw usage_error("unknown option '" + a[at] + "'");
        return true;
    };
    if (cmd == "tables") return want(2, 2), tables(store(a[1]));
    if (cmd == "stats") return want(2, 2), stats(store(a[1]));
    if (cmd == "dump") return want(3, 4), dump(store(a[1]), a[2], flag(3, "--json"));
    if (cmd == "get") return want(4, 4), get(store(a[1]), a[2], a[3]);
    if (cmd == "verify") return want(2, 2), verify(store(a[1]));
    if (cmd == "backup") return want(3, 4), backup(store(a[1]), a[2], flag(3, "--compact"));
    throw usage_error("unknown command '" + cmd + "'");
}

}  // namespace

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
        std::cout << usage;
        return 0;
    }
    try {
        return run(args);
    } catch (const usage_error& e) {
        std::cerr << "netabase: " << e.what() << "\n" << usage;
    } catch (const netabase::error& e) {
        std::cerr << "netabase: " << e.description() << "\n";
    } catch (const std::exception& e) {
        std::cerr << "netabase: " << e.what() << "\n";
    }
    return 2;
}
