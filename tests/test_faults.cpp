// Fault injection through the call seam (detail/calls.hpp; the test binary is built with
// NETABASE_LMDB_SEAM), which every LMDB call of the library that can return an error goes
// through. Each test counts the calls of one clean run, then runs again failing the nth call,
// for every n, before LMDB sees it:
// - writes (16 operations, nested put_many/remove_many, store.write's MDB_MAP_FULL retry): each
//   call fails with MDB_MAP_FULL, MDB_TXN_FULL, EIO and MDB_READERS_FULL; the store then holds
//   byte for byte what it held before (every table, index and the metadata, read with LMDB's
//   own API), verify() finds nothing, and the store takes the next write;
// - reads (get, views, contains, scans both ways, ranges and prefixes, equal_range on a unique,
//   a non-unique and a multi-key index, count(), size(), first/last, primary_keys, page() and
//   after(), a table without indexes, the first read of a store just opened, stats(), verify(),
//   backup(), sync(), changes_since() with a change log): each call fails with each error LMDB
//   0.9 can return there (lmdb_errors); the read throws a netabase::error with that code, naming
//   the LMDB call and the table or index (the store, for a call on the environment); its
//   transaction reads the same again and ends; a later transaction reads the same; no file
//   changes. The transaction renewed from the reader pool (mdb_txn_renew) and the cursors
//   renewed from the cursor cache (mdb_cursor_renew) are among the calls failed;
// - opens (a new store, an existing one, one that must build an index, one with a change log,
//   read-only): each call from mdb_env_create on, with each error LMDB can give there; the
//   Store constructor throws, the files are as they were, and the next open finds what a clean
//   one finds;
// - map growth: the mdb_env_set_mapsize of a resize that store.write(fn), an opening build or
//   a read that finds the map resized asks for fails with each error a new mapping can give.
// A failure the library absorbs by design is checked as such: MDB_MAP_FULL in a write path or a
// read-write open (the map grows, the work runs again), MDB_MAP_RESIZED at a transaction's start
// (the new size is adopted). LeakSanitizer (the asan preset) checks that nothing leaks.
#include "catch.hpp"
#include "index_model.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <errno.h>
#include <lmdb.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace faults_test {

namespace fs = std::filesystem;

// ---- model: a unique, a non-unique and a multi-valued secondary key ------------------------

struct Item {
    std::uint64_t id;
    std::string name;               // unique
    std::uint32_t group;            // non-unique
    std::vector<std::string> tags;  // one index entry per distinct tag
    std::string payload;
};

constexpr auto by_tag = netabase::keys<Item>("by_tag", [](const Item& i) { return i.tags; });

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items")
        .primary_key(&Item::id)
        .secondary_key(&Item::name, netabase::unique)
        .secondary_key(&Item::group)
        .secondary_key(by_tag);
}

// A table without secondary keys: its rows take a shorter write path.
struct Plain {
    std::uint64_t id;
    std::string text;
};
constexpr auto netabase_model(netabase::tag<Plain>) { return netabase::model<Plain>("plain"); }

using S = netabase::definition<Item, Plain>;
using Store = netabase::Store<S>;
using WTree = netabase::Tree<Item, netabase::access::write>;

#ifdef NETABASE_LMDB_SEAM

using netabase::detail::call;

// ---- helpers -------------------------------------------------------------------------------

Item make_item(std::uint64_t id, std::string name, std::uint32_t group, std::vector<std::string> tags) {
    return Item{id, std::move(name), group, std::move(tags),
                "payload of row " + std::to_string(id) + std::string(24, '.')};
}

// 24 rows with even ids 0..46; tags overlap between rows and sometimes repeat within one.
std::vector<Item> initial_rows() {
    std::vector<Item> rows;
    for (std::uint64_t i = 0; i < 24; ++i)
        rows.push_back(make_item(i * 2, "n" + std::to_string(i), static_cast<std::uint32_t>(i % 4),
                                 {"t" + std::to_string(i % 3), "t" + std::to_string(i % 5)}));
    return rows;
}

void reset(Store& store) {
    auto txn = store.begin_write();
    auto items = txn.open_tree<Item>();
    items.clear();
    items.put_many(initial_rows());
    auto plain = txn.open_tree<Plain>();
    plain.clear();
    for (std::uint64_t i = 0; i < 10; ++i) plain.put(Plain{i * 2, "plain row " + std::to_string(i)});
    txn.commit();
}

// Every named database of the environment (tables, indexes, metadata), read with LMDB's own
// API: (name -> every (key, value) pair in order, each duplicate of a dupsort key included).
// A second environment handle in this process is safe here because it takes no locks
// (MDB_NOLOCK: LMDB's lock file is not opened, so closing it releases none of the store's
// locks) and it reads only between the store's transactions.
using dump_t = std::map<std::string, std::vector<std::pair<std::string, std::string>>>;

std::string str(const MDB_val& v) { return std::string(static_cast<const char*>(v.mv_data), v.mv_size); }

dump_t raw_dump(const fs::path& dir) {
    auto ok = [](int rc, const char* what) {
        if (rc != 0) throw std::runtime_error(std::string(what) + ": " + ::mdb_strerror(rc));
    };
    MDB_env* env = nullptr;
    ok(::mdb_env_create(&env), "mdb_env_create");
    dump_t out;
    MDB_txn* txn = nullptr;
    try {
        ok(::mdb_env_set_maxdbs(env, 64), "mdb_env_set_maxdbs");
        ok(::mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0644), "mdb_env_open");
        ok(::mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
        MDB_dbi main_db;
        ok(::mdb_dbi_open(txn, nullptr, 0, &main_db), "mdb_dbi_open(main)");
        std::vector<std::string> names;
        {
            MDB_cursor* c;
            ok(::mdb_cursor_open(txn, main_db, &c), "mdb_cursor_open");
            MDB_val k, v;
            for (int rc = ::mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = ::mdb_cursor_get(c, &k, &v, MDB_NEXT))
                names.push_back(str(k));
            ::mdb_cursor_close(c);
        }
        for (const auto& name : names) {
            MDB_dbi dbi;
            ok(::mdb_dbi_open(txn, name.c_str(), 0, &dbi), "mdb_dbi_open");
            auto& entries = out[name];
            MDB_cursor* c;
            ok(::mdb_cursor_open(txn, dbi, &c), "mdb_cursor_open");
            MDB_val k, v;
            for (int rc = ::mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = ::mdb_cursor_get(c, &k, &v, MDB_NEXT))
                entries.emplace_back(str(k), str(v));
            ::mdb_cursor_close(c);
        }
    } catch (...) {
        if (txn) ::mdb_txn_abort(txn);
        ::mdb_env_close(env);
        throw;
    }
    ::mdb_txn_abort(txn);
    ::mdb_env_close(env);
    return out;
}

// The first difference between two dumps, for the failure message.
std::string diff(const dump_t& before, const dump_t& after) {
    for (const auto& [name, entries] : before) {
        auto it = after.find(name);
        if (it == after.end()) return "database '" + name + "' is gone";
        if (it->second.size() != entries.size())
            return "database '" + name + "' had " + std::to_string(entries.size()) + " entries, now " +
                   std::to_string(it->second.size());
        for (std::size_t i = 0; i < entries.size(); ++i)
            if (entries[i] != it->second[i]) return "database '" + name + "' differs at entry " + std::to_string(i);
    }
    for (const auto& [name, entries] : after)
        if (!before.count(name)) return "database '" + name + "' is new";
    return "no difference";
}

// Installs a seam for its lifetime.
class installed {
public:
    explicit installed(netabase::detail::lmdb_seam& s) { netabase::detail::seam() = &s; }
    installed(const installed&) = delete;
    installed& operator=(const installed&) = delete;
    ~installed() { netabase::detail::seam() = nullptr; }
};

// Remembers the kind of every call, in order.
struct recording_seam : netabase::detail::lmdb_seam {
    std::vector<call> seen;
    int before(call c) override {
        seen.push_back(c);
        return lmdb_seam::before(c);
    }
};

using netabase::detail::call_name;

const char* code_name(int rc) {
    switch (rc) {
        case MDB_MAP_FULL: return "MDB_MAP_FULL";
        case MDB_TXN_FULL: return "MDB_TXN_FULL";
        case MDB_READERS_FULL: return "MDB_READERS_FULL";
        case MDB_MAP_RESIZED: return "MDB_MAP_RESIZED";
        case MDB_BAD_RSLOT: return "MDB_BAD_RSLOT";
        case MDB_BAD_TXN: return "MDB_BAD_TXN";
        case MDB_BAD_DBI: return "MDB_BAD_DBI";
        case MDB_BAD_VALSIZE: return "MDB_BAD_VALSIZE";
        case MDB_PAGE_NOTFOUND: return "MDB_PAGE_NOTFOUND";
        case MDB_CORRUPTED: return "MDB_CORRUPTED";
        case MDB_PANIC: return "MDB_PANIC";
        case MDB_INCOMPATIBLE: return "MDB_INCOMPATIBLE";
        case MDB_INVALID: return "MDB_INVALID";
        case MDB_VERSION_MISMATCH: return "MDB_VERSION_MISMATCH";
        case MDB_DBS_FULL: return "MDB_DBS_FULL";
        case EIO: return "EIO";
        case ENOSPC: return "ENOSPC";
        case ENOMEM: return "ENOMEM";
        case EINVAL: return "EINVAL";
        case EACCES: return "EACCES";
        case EAGAIN: return "EAGAIN";
        case ENOENT: return "ENOENT";
        case EBADF: return "EBADF";
        default: return "?";
    }
}

// Where a call is made: what LMDB can answer depends on it (a read transaction cannot fill
// the map; a map resize makes a new mapping).
enum class where { read, open_rw, open_ro, resize };

// The errors LMDB 0.9 can return from each call, as its source (mdb.c) returns them, other than
// the answers the library asks for (MDB_NOTFOUND, MDB_KEYEXIST).
std::vector<int> lmdb_errors(call c, where w) {
    const bool writes = w == where::open_rw;
    switch (c) {
        case call::get: return {MDB_PAGE_NOTFOUND, MDB_CORRUPTED, MDB_BAD_TXN, MDB_BAD_DBI, MDB_BAD_VALSIZE, EINVAL};
        case call::cursor_get:
            return {MDB_PAGE_NOTFOUND, MDB_CORRUPTED, MDB_BAD_TXN, MDB_BAD_VALSIZE, MDB_INCOMPATIBLE, EINVAL};
        case call::cursor_open: return {ENOMEM, MDB_BAD_TXN, MDB_BAD_DBI, EINVAL};
        case call::cursor_renew:
        case call::cursor_count:
        case call::stat: return {MDB_BAD_TXN, EINVAL};
        case call::txn_begin:
            if (writes) return {MDB_MAP_RESIZED, MDB_PANIC, ENOMEM};
            return {MDB_MAP_RESIZED, MDB_READERS_FULL, MDB_BAD_RSLOT, MDB_PANIC, ENOMEM};
        case call::txn_renew: return {MDB_MAP_RESIZED, MDB_BAD_RSLOT, MDB_PANIC, EINVAL};
        case call::txn_commit:
            if (writes) return {MDB_MAP_FULL, MDB_BAD_TXN, EIO, ENOSPC, ENOMEM, EINVAL};
            return {EINVAL};  // a read-only transaction's commit only frees it
        case call::put:
        case call::cursor_put:
            return {MDB_MAP_FULL, MDB_TXN_FULL, MDB_BAD_TXN, MDB_PAGE_NOTFOUND, MDB_CORRUPTED, MDB_BAD_VALSIZE,
                    ENOMEM, EACCES, EINVAL};
        case call::del:
        case call::cursor_del:
        case call::drop: return {MDB_MAP_FULL, MDB_TXN_FULL, MDB_BAD_TXN, MDB_PAGE_NOTFOUND, MDB_CORRUPTED, EACCES, EINVAL};
        case call::dbi_open:
            if (writes) return {MDB_DBS_FULL, MDB_MAP_FULL, MDB_TXN_FULL, MDB_BAD_TXN, MDB_INCOMPATIBLE, ENOMEM, EINVAL};
            return {MDB_DBS_FULL, MDB_BAD_TXN, MDB_INCOMPATIBLE, ENOMEM, EINVAL};
        case call::env_create: return {ENOMEM};
        case call::env_set_mapsize:
            if (w == where::resize) return {EINVAL, ENOMEM, EAGAIN};  // unmapped and mapped again
            return {EINVAL};                                          // before mdb_env_open: only checked
        case call::env_set_maxreaders:
        case call::env_set_maxdbs:
        case call::env_set_userctx:
        case call::env_info:
        case call::env_stat: return {EINVAL};
        case call::env_open: return {ENOENT, EACCES, EAGAIN, ENOMEM, EINVAL, MDB_INVALID, MDB_VERSION_MISMATCH};
        case call::env_copy2: return {ENOENT, EACCES, ENOSPC, EIO, ENOMEM, MDB_READERS_FULL, MDB_PANIC};
        case call::env_sync: return {EIO, ENOSPC, EACCES, EINVAL};
        case call::reader_check: return {EINVAL, EBADF, MDB_PANIC};
        case call::count: break;
    }
    return {};
}

// Whether a message says which LMDB call failed.
bool names_call(const std::string& what, call c) { return what.find(call_name(c)) != std::string::npos; }

// Where a fault surfaced.
enum class surfaced { nowhere, begin, operation, commit };

struct outcome {
    surfaced where = surfaced::nowhere;
    std::error_code code;  // of the first error thrown
    bool committed_after_failure = false;
};

// One write transaction: begin, the operation, commit. When the operation throws, the
// transaction is still open and the caller may well commit it anyway: that commit must either
// refuse or commit a transaction the failed operation left untouched.
using txn_op = std::function<void(netabase::WriteTransaction<S>&)>;

outcome run_once(Store& store, const txn_op& op, bool commit_after_failure) {
    outcome out;
    try {
        auto txn = store.begin_write();
        try {
            op(txn);
        } catch (const netabase::error& e) {
            out.where = surfaced::operation;
            out.code = e.code();
            if (!commit_after_failure) return out;  // aborted
            try {
                txn.commit();
                out.committed_after_failure = true;
            } catch (const netabase::error&) {
            }
            return out;
        }
        try {
            txn.commit();
        } catch (const netabase::error& e) {
            out.where = surfaced::commit;
            out.code = e.code();
        }
    } catch (const netabase::error& e) {
        if (out.where == surfaced::nowhere) {
            out.where = surfaced::begin;
            out.code = e.code();
        }
    }
    return out;
}

// The store takes a write and shows it; the row is removed again so the state is as before.
void check_usable(Store& store) {
    Item probe = make_item(1'000'001, "probe", 7, {"probe-tag", "t0"});
    store.write([&](netabase::WriteTransaction<S>& txn) { txn.open_tree<Item>().put(probe); });
    store.read([&](netabase::ReadTransaction<S>& txn) {
        auto items = txn.open_tree<Item>();
        auto g = items.get(probe.id);
        REQUIRE(g);
        CHECK(g->value().name == "probe");
        auto by_name = items.index(&Item::name).get("probe");
        REQUIRE(by_name);
        CHECK(by_name->key() == probe.id);
        CHECK(items.index(by_tag).count("probe-tag") == 1);
    });
    auto txn = store.begin_write();
    REQUIRE(txn.open_tree<Item>().remove(probe.id));
    txn.commit();
}

struct operation {
    std::string name;
    txn_op op;
    // One public call: when it throws, committing what is left must not apply any of it. (A
    // sequence of calls that throws part way keeps the calls before, so it is aborted.)
    bool single = true;
};

// An operation on the items table.
txn_op items(std::function<void(WTree&)> fn) {
    return [fn = std::move(fn)](netabase::WriteTransaction<S>& txn) {
        auto t = txn.open_tree<Item>();
        fn(t);
    };
}

std::vector<operation> operations() {
    return {
        {"put (new row)", items([](WTree& t) {
             t.put(make_item(13, "new13", 1, {"t1", "fresh"}));
         })},
        {"put (replace, entries move in every index)",
         // row 10 was {"n5", group 1, tags {t2, t0}}: every index changes, t0 stays
         items([](WTree& t) {
             t.put(make_item(10, "renamed10", 3, {"t0", "t9"}));
         })},
        {"insert (new row)", items([](WTree& t) {
             if (!t.insert(make_item(15, "new15", 2, {"t4", "t4", "z"})))
                 throw std::logic_error("insert of a new key returned false");
         })},
        {"put_many (append path)", items([](WTree& t) {
             std::vector<Item> rows;
             for (std::uint64_t i = 100; i < 106; ++i)
                 rows.push_back(make_item(i, "m" + std::to_string(i), static_cast<std::uint32_t>(i % 3), {"t1", "a"}));
             if (t.put_many(rows) != rows.size()) throw std::logic_error("put_many count");
         })},
        {"put_many (interleaved: replace, append, insert between)", items([](WTree& t) {
             std::vector<Item> rows{make_item(3, "x3", 0, {"t0"}), make_item(60, "x60", 1, {"t1", "t2"}),
                                    make_item(4, "x4", 2, {"t2", "t3"}), make_item(61, "x61", 1, {}),
                                    make_item(7, "x7", 3, {"t3", "t3"})};
             if (t.put_many(rows) != rows.size()) throw std::logic_error("put_many count");
         })},
        {"remove", items([](WTree& t) {
             if (!t.remove(20)) throw std::logic_error("remove of an existing key returned false");
         })},
        {"remove_many", items([](WTree& t) {
             std::vector<std::uint64_t> keys{2, 999, 8, 14};
             if (t.remove_many(keys) != 3) throw std::logic_error("remove_many count");
         })},
        {"clear", items([](WTree& t) { t.clear(); })},
        {"update (entries move in every index)", items([](WTree& t) {
             bool found = t.update(6, [](Item& i) {
                 i.name = "updated6";
                 i.group += 1;
                 i.tags.push_back("t7");
                 i.payload = "changed";
             });
             if (!found) throw std::logic_error("update of an existing key returned false");
         })},
        {"several operations, then commit", items([](WTree& t) {
             t.put(make_item(41, "forty-one", 0, {"t1"}));
             t.remove(12);
             t.update(16, [](Item& i) { i.tags = {"t4"}; });
             t.put_many(std::vector<Item>{make_item(200, "two hundred", 2, {"t2"})});
         }),
         false},
        {"put (table without secondary keys, new row)",
         [](netabase::WriteTransaction<S>& txn) {
             txn.open_tree<Plain>().put(Plain{5, "five"});
         }},
        {"put (table without secondary keys, replacing)",
         [](netabase::WriteTransaction<S>& txn) {
             txn.open_tree<Plain>().put(Plain{4, "four again"});
         }},
        {"insert (table without secondary keys)",
         [](netabase::WriteTransaction<S>& txn) {
             if (!txn.open_tree<Plain>().insert(Plain{7, "seven"})) throw std::logic_error("insert returned false");
         }},
        {"put_many (table without secondary keys: append, replace)",
         [](netabase::WriteTransaction<S>& txn) {
             txn.open_tree<Plain>().put_many(
                 std::vector<Plain>{Plain{30, "a"}, Plain{31, "b"}, Plain{2, "replaced"}, Plain{32, "c"}});
         }},
        {"clear and remove (table without secondary keys)",
         [](netabase::WriteTransaction<S>& txn) {
             auto plain = txn.open_tree<Plain>();
             plain.remove(6);
             plain.remove_many(std::vector<std::uint64_t>{8, 10});
             plain.update(12, [](Plain& p) { p.text = "updated"; });
             plain.clear();
         },
         false},
        {"one transaction over both tables",
         [](netabase::WriteTransaction<S>& txn) {
             txn.open_tree<Plain>().put(Plain{100, "hundred"});
             txn.open_tree<Item>().put(make_item(101, "hundred and one", 1, {"t1"}));
         },
         false},
    };
}

constexpr int codes[] = {MDB_MAP_FULL, MDB_TXN_FULL, EIO, MDB_READERS_FULL};

// ---- the matrix ----------------------------------------------------------------------------

TEST_CASE("faults: every LMDB call of every write operation fails in turn, and the store is left as it was",
          "[faults]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    const fs::path dir = store.path();
    std::size_t total_faults = 0;

    for (const auto& [name, op, single] : operations()) {
        reset(store);
        const dump_t before = raw_dump(dir);
        REQUIRE(before.count("items") == 1);
        REQUIRE(before.at("items").size() == 24);
        REQUIRE(store.verify().ok());
        // The state each fault must leave byte for byte: its indexes exact, entry by entry.
        REQUIRE(netabase_test::index_mismatches<Item>(dir) == "");
        REQUIRE(netabase_test::index_mismatches<Plain>(dir) == "");

        // Count the calls of one clean run (which commits; the state is then put back).
        recording_seam counter;
        {
            installed on(counter);
            outcome clean = run_once(store, op, single);
            INFO(name);
            REQUIRE(clean.where == surfaced::nowhere);
        }
        const std::size_t calls = counter.total;
        REQUIRE(calls > 2);  // at least begin and commit
        REQUIRE(counter.seen.back() == call::txn_commit);
        {
            INFO(name << ": the clean run changed nothing?");
            CHECK(raw_dump(dir) != before);
            CHECK(netabase_test::index_mismatches<Item>(dir) == "");  // and left exact indexes
            CHECK(netabase_test::index_mismatches<Plain>(dir) == "");
        }
        reset(store);
        REQUIRE(raw_dump(dir) == before);

        std::size_t faults = 0;
        std::size_t in_operation = 0, in_commit = 0, committed_after = 0;
        for (std::size_t n = 1; n <= calls; ++n) {
            for (int rc : codes) {
                INFO(name << ": call " << n << " of " << calls << " (" << call_name(counter.seen[n - 1])
                          << ") fails with " << code_name(rc));
                netabase::detail::lmdb_seam faulty;
                faulty.fail_at = n;
                faulty.fail_with = rc;
                outcome o;
                {
                    installed on(faulty);
                    o = run_once(store, op, single);
                }
                ++faults;
                // The fault was hit and reported as the LMDB error it was.
                REQUIRE(faulty.total >= n);
                CHECK(o.where != surfaced::nowhere);
                CHECK(o.code == std::error_code(rc, netabase::lmdb_category()));
                if (rc == MDB_MAP_FULL) CHECK(o.code == netabase::errc::map_full);
                if (o.where == surfaced::operation) ++in_operation;
                if (o.where == surfaced::commit) ++in_commit;
                if (o.committed_after_failure) ++committed_after;

                // Nothing of the failed transaction is in any table or index.
                const dump_t after = raw_dump(dir);
                INFO(diff(before, after));
                REQUIRE(after == before);
                auto report = store.verify();
                INFO(report.to_string());
                CHECK(report.ok());
                CHECK(report.rows == 34);  // 24 items, 10 plain

                check_usable(store);
            }
        }
        CHECK(in_commit >= 4);  // the final commit is one of the calls
        REQUIRE(raw_dump(dir) == before);
        total_faults += faults;

        std::string kinds;
        for (std::size_t k = 0; k < static_cast<std::size_t>(call::count); ++k)
            if (counter.calls[k]) {
                if (!kinds.empty()) kinds += ", ";
                kinds += std::string(call_name(static_cast<call>(k))) + " " + std::to_string(counter.calls[k]);
            }
        std::printf(
            "faults_test: %-56s %3zu LMDB calls (%s) x 4 errors = %4zu faults injected (%zu in the operation, "
            "%zu in commit, %zu op failures the caller then committed harmlessly)\n",
            name.c_str(), calls, kinds.c_str(), faults, in_operation, in_commit, committed_after);
    }
    std::printf("faults_test: %zu faults injected over %zu operations, nothing lost or half-written\n", total_faults,
                operations().size());
    std::fflush(stdout);
}

TEST_CASE("faults: a failed put_many or remove_many keeps the earlier writes of its transaction", "[faults]") {
    // put_many and remove_many are all-or-nothing inside a transaction that goes on: when a
    // fault hits one of them and the transaction is committed anyway, the earlier put is kept
    // and nothing of the batch is.
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    const fs::path dir = store.path();

    struct batch {
        std::string name;
        std::function<void(WTree&)> op;
    };
    const std::vector<batch> batches{
        {"put_many",
         [](WTree& t) {
             t.put_many(std::vector<Item>{make_item(1, "b1", 0, {"t0"}), make_item(99, "b99", 1, {"t1", "t2"}),
                                          make_item(10, "b10", 2, {"t2"})});
         }},
        {"remove_many",
         [](WTree& t) {
             t.remove_many(std::vector<std::uint64_t>{4, 6, 8});
         }},
    };
    const Item earlier = make_item(33, "earlier", 3, {"t3", "early"});

    for (const auto& [name, op] : batches) {
        reset(store);
        const dump_t before = raw_dump(dir);
        dump_t with_earlier;
        {
            auto txn = store.begin_write();
            txn.open_tree<Item>().put(earlier);
            txn.commit();
            with_earlier = raw_dump(dir);
            REQUIRE(netabase_test::index_mismatches<Item>(dir) == "");
        }
        reset(store);

        // Count the calls of the batch alone, after the put.
        recording_seam counter;
        {
            auto txn = store.begin_write();
            auto items = txn.open_tree<Item>();
            items.put(earlier);
            installed on(counter);
            op(items);
        }  // aborted
        const std::size_t calls = counter.total;
        REQUIRE(calls > 2);
        REQUIRE(raw_dump(dir) == before);

        std::size_t kept = 0, refused = 0;
        for (std::size_t n = 1; n <= calls; ++n) {
            for (int rc : codes) {
                INFO(name << ": call " << n << " of " << calls << " (" << call_name(counter.seen[n - 1])
                          << ") fails with " << code_name(rc));
                bool threw = false, committed = false;
                {
                    auto txn = store.begin_write();
                    auto items = txn.open_tree<Item>();
                    items.put(earlier);
                    netabase::detail::lmdb_seam faulty;
                    faulty.fail_at = n;
                    faulty.fail_with = rc;
                    {
                        installed on(faulty);
                        try {
                            op(items);
                        } catch (const netabase::error& e) {
                            threw = true;
                            CHECK(e.code() == std::error_code(rc, netabase::lmdb_category()));
                        }
                    }
                    // The transaction goes on: the earlier put is still visible in it.
                    if (txn.is_open()) {
                        try {
                            auto g = items.get(earlier.id);
                            CHECK(g);
                            txn.commit();
                            committed = true;
                        } catch (const netabase::error&) {
                        }
                    }
                }
                CHECK(threw);
                const dump_t after = raw_dump(dir);
                if (committed) {
                    ++kept;
                    INFO(diff(with_earlier, after));
                    CHECK(after == with_earlier);
                } else {
                    ++refused;
                    INFO(diff(before, after));
                    CHECK(after == before);
                }
                CHECK(store.verify().ok());
                reset(store);
            }
        }
        std::printf(
            "faults_test: %-56s %3zu LMDB calls x 4 errors: %zu times the rest of the transaction committed "
            "without the batch, %zu times the commit refused\n",
            (name + " after a put in the same transaction").c_str(), calls, kept, refused);
        std::fflush(stdout);
    }
}

TEST_CASE("faults: store.write(fn) grows the map and runs fn again when a write or the commit hits MDB_MAP_FULL",
          "[faults][map]") {
    const netabase::options small{.map_size = std::size_t{1} << 20, .durability = netabase::durability::no_sync};
    int runs = 0;
    auto fn = [&](netabase::WriteTransaction<S>& txn) {
        ++runs;
        auto items = txn.open_tree<Item>();
        items.put(make_item(1, "one", 1, {"a", "b"}));
        items.put(make_item(2, "two", 2, {"b"}));
        items.update(0, [](Item& i) { i.tags = {"c"}; });
        items.remove(4);
        items.put_many(std::vector<Item>{make_item(50, "fifty", 0, {"a"}), make_item(51, "fifty-one", 0, {})});
        items.remove_many(std::vector<std::uint64_t>{6, 8});
        return items.size();
    };
    auto seed = [](Store& store) {
        store.write([](netabase::WriteTransaction<S>& txn) {
            auto items = txn.open_tree<Item>();
            for (std::uint64_t i = 0; i < 10; i += 2) items.put(make_item(i, "s" + std::to_string(i), 0, {"s"}));
        });
    };

    // A clean run: the calls it makes, and the state it leaves.
    recording_seam counter;
    dump_t expected;
    std::size_t expected_size = 0;
    {
        auto store = Store::temporary(small);
        seed(store);
        {
            installed on(counter);
            expected_size = store.write(fn);
        }
        REQUIRE(runs == 1);
        expected = raw_dump(store.path());
        REQUIRE(netabase_test::index_mismatches<Item>(store.path()) == "");
    }
    // Seeded 0, 2, 4, 6, 8; put 1 and 2 (a replacement); removed 4, 6 and 8; put 50 and 51.
    REQUIRE(expected_size == 5);
    REQUIRE(expected.at("items").size() == expected_size);

    std::size_t injected = 0;
    for (std::size_t n = 1; n <= counter.total; ++n) {
        call kind = counter.seen[n - 1];
        // The calls that can run out of map space: writes and commits (nested ones included).
        if (kind != call::put && kind != call::del && kind != call::drop && kind != call::cursor_put &&
            kind != call::cursor_del && kind != call::txn_commit)
            continue;
        INFO("call " << n << " of " << counter.total << " (" << call_name(kind) << ") fails with MDB_MAP_FULL");
        auto store = Store::temporary(small);
        seed(store);
        const std::size_t map_before = store.map_size();
        netabase::detail::lmdb_seam faulty;
        faulty.fail_at = n;
        faulty.fail_with = MDB_MAP_FULL;
        runs = 0;
        std::size_t result = 0;
        {
            installed on(faulty);
            try {
                result = store.write(fn);
            } catch (const netabase::error& e) {
                FAIL("store.write threw instead of growing the map: " << e.what());
            }
        }
        ++injected;
        CHECK(runs == 2);
        CHECK(result == expected_size);
        CHECK(store.map_size() == 2 * map_before);
        const dump_t after = raw_dump(store.path());
        INFO(diff(expected, after));
        CHECK(after == expected);
        CHECK(store.verify().ok());
        check_usable(store);
    }
    REQUIRE(injected > 10);
    std::printf(
        "faults_test: store.write(fn): %zu MDB_MAP_FULL faults injected (of %zu calls), each grew the map and "
        "re-ran fn once to the same result\n",
        injected, counter.total);
    std::fflush(stdout);
}

// A seam that fails the nth call (as lmdb_seam does) and then the first mdb_env_set_mapsize
// after it: the map resize the first fault asks for.
struct resize_fails : recording_seam {
    int resize_with = 0;
    bool resize_failed = false;
    int before(call c) override {
        int rc = recording_seam::before(c);
        if (rc == 0 && c == call::env_set_mapsize && total > fail_at && !resize_failed) {
            resize_failed = true;
            return resize_with;
        }
        return rc;
    }
};

TEST_CASE("faults: a map resize that fails (mdb_env_set_mapsize) leaves the store as it was, and usable",
          "[faults][map]") {
    // store.write(fn) hits MDB_MAP_FULL at each of fn's writes and its commit in turn, then the
    // resize it asks for fails with each error a new mapping can give: store.write throws that
    // error, naming the call and the store, with nothing of fn written and the map as it was.
    const netabase::options small{.map_size = std::size_t{1} << 20, .durability = netabase::durability::no_sync};
    int runs = 0;
    auto fn = [&](netabase::WriteTransaction<S>& txn) {
        ++runs;
        auto items = txn.open_tree<Item>();
        items.put(make_item(1, "one", 1, {"a", "b"}));
        items.update(0, [](Item& i) { i.tags = {"c"}; });
        items.remove(4);
        items.put_many(std::vector<Item>{make_item(50, "fifty", 0, {"a"}), make_item(51, "fifty-one", 0, {})});
    };
    auto seed = [](Store& store) {
        store.write([](netabase::WriteTransaction<S>& txn) {
            auto items = txn.open_tree<Item>();
            for (std::uint64_t i = 0; i < 10; i += 2) items.put(make_item(i, "s" + std::to_string(i), 0, {"s"}));
        });
    };
    recording_seam counter;
    {
        auto store = Store::temporary(small);
        seed(store);
        installed on(counter);
        store.write(fn);
    }
    std::size_t injected = 0;
    for (std::size_t n = 1; n <= counter.total; ++n) {
        const call kind = counter.seen[n - 1];
        if (kind != call::put && kind != call::del && kind != call::cursor_put && kind != call::cursor_del &&
            kind != call::txn_commit)
            continue;
        for (int rc : lmdb_errors(call::env_set_mapsize, where::resize)) {
            INFO("call " << n << " (" << call_name(kind) << ") fails with MDB_MAP_FULL, then the resize with "
                         << code_name(rc));
            netabase_test::temp_dir tmp;
            const fs::path dir = tmp / "db";
            std::optional<Store> store;
            store.emplace(dir, small);
            seed(*store);
            const dump_t before = raw_dump(dir);
            const std::size_t map_before = store->map_size();
            resize_fails faulty;
            faulty.fail_at = n;
            faulty.fail_with = MDB_MAP_FULL;
            faulty.resize_with = rc;
            runs = 0;
            std::optional<netabase::error> err;
            {
                installed on(faulty);
                try {
                    store->write(fn);
                } catch (const netabase::error& e) {
                    err = e;
                }
            }
            ++injected;
            REQUIRE(faulty.resize_failed);
            REQUIRE(err);
            CHECK(err->code() == std::error_code(rc, netabase::lmdb_category()));
            const std::string what = err->what();
            CHECK(names_call(what, call::env_set_mapsize));
            CHECK(what.find(dir.string()) != std::string::npos);
            CHECK(runs == 1);
            // A real failure of mdb_env_set_mapsize has unmapped the file (test_limits makes one),
            // so the environment is unusable until its Stores are closed: every use says so.
            CHECK_THROWS_WITH(store->map_size(), Catch::Contains("cannot be used in this process"));
            CHECK_THROWS_WITH(store->read([](netabase::ReadTransaction<S>& txn) { return txn.open_tree<Item>().size(); }),
                              Catch::Contains("close every Store of it and open it again"));
            store.reset();
            const dump_t after = raw_dump(dir);
            INFO(diff(before, after));
            CHECK(after == before);
            store.emplace(dir, small);  // reopened: as it was, and the same write goes through
            CHECK(store->map_size() == map_before);
            CHECK(store->verify().ok());
            check_usable(*store);
            store->write(fn);
            CHECK(store->read([](netabase::ReadTransaction<S>& txn) { return txn.open_tree<Item>().size(); }) == 7);
        }
    }
    REQUIRE(injected >= 3 * 8);
    std::printf("faults_test: %-56s %4zu faults injected (an MDB_MAP_FULL, then the resize's error)\n",
                "store.write(fn) whose map resize fails", injected);
    std::fflush(stdout);
}

// ---- reads ---------------------------------------------------------------------------------

using RTxn = netabase::ReadTransaction<S>;

std::string show(const Item& i) {
    std::string s = std::to_string(i.id) + ":" + i.name + ":" + std::to_string(i.group) + ":";
    for (const auto& t : i.tags) s += t + ",";
    return s + std::to_string(i.payload.size()) + ";";
}
std::string show(const Plain& p) { return std::to_string(p.id) + ":" + p.text + ";"; }
template <class G>
std::string show_opt(const std::optional<G>& g) {
    return g ? show(g->value()) : std::string("-;");
}
template <class R>
std::string show_rows(R&& rows) {
    std::string s;
    for (const auto& g : rows) s += show(g.value());
    return s + "|";
}
template <class M>
std::string show_page(const netabase::Page<M>& p) {
    std::string s;
    for (const auto& g : p.rows) s += show(g.value());
    return s + (p.next ? "+|" : ".|");
}
template <class V>
std::string show_keys(const V& keys) {
    std::string s;
    for (const auto& k : keys) s += std::to_string(k) + ",";
    return s + "|";
}
std::string show_dump(const dump_t& d) {
    std::string s;
    for (const auto& [name, entries] : d) {
        s += name + "=" + std::to_string(entries.size()) + ":";
        for (const auto& [k, v] : entries) s += k + "=" + v + ";";
    }
    return s;
}

// One read, run in turn with each of its LMDB calls failed.
struct read_op {
    std::string name;
    std::function<std::string(RTxn&)> in_txn;    // reads in a read transaction the runner begins
    std::function<std::string(Store&)> on_store;  // or one call on the store (stats, verify, backup)
    // What each of its errors must name, any one of: "table" (and no index), "table|index", "*" (some
    // table), or "~text" (text in the message: the store's directory, for a call on the environment).
    std::vector<std::string> names;
    // Calls whose failure message is known not to name the LMDB call (see the op).
    std::vector<call> unnamed = {};
};

// Whether an error names what the op says it must.
bool names_one_of(const netabase::error& e, const std::vector<std::string>& names) {
    const std::string what = e.what();
    for (const auto& n : names) {
        if (n.starts_with("~")) {
            if (what.find(n.substr(1)) != std::string::npos) return true;
            continue;
        }
        if (e.table().empty() || what.find("'" + e.table() + "'") == std::string::npos) continue;
        if (n == "*") return true;
        const auto bar = n.find('|');
        const std::string table = n.substr(0, bar), index = bar == std::string::npos ? "" : n.substr(bar + 1);
        if (e.table() == table && e.index() == index &&
            (index.empty() || what.find("'" + index + "'") != std::string::npos))
            return true;
    }
    return false;
}

struct read_counts {
    std::size_t injected = 0, absorbed = 0;
    std::size_t by_call[static_cast<std::size_t>(call::count)] = {};
};

// Fails each LMDB call of each op in turn, with each error LMDB can give there. The read must
// throw a netabase::error with that code, naming the call and the table or index (or the store,
// for a call on the environment); its transaction then reads the same again (only the
// library's view of one call failed, so nothing of its state may be left broken) and ends
// (abort() or its destructor, in turn); a later read transaction sees the same; and the files
// never change. A resized map (MDB_MAP_RESIZED at a transaction's start) is no failure: the
// read adopts the new size and goes on.
void read_matrix(std::optional<Store>& store, const std::vector<read_op>& ops, read_counts& counts) {
    const fs::path dir = store->path();
    const dump_t before = raw_dump(dir);
    for (const auto& op : ops) {
        auto run = [&]() -> std::string {
            if (op.on_store) return op.on_store(*store);
            auto txn = store->begin_read();
            return op.in_txn(txn);
        };
        // Warm: the reader pool then holds a transaction with this op's cursors, so the counted
        // run renews both (mdb_txn_renew, mdb_cursor_renew), as every later read does.
        const std::string clean = run();
        (void)run();
        recording_seam counter;
        std::string counted;
        {
            installed on(counter);
            counted = run();
        }
        INFO(op.name);
        REQUIRE(counted == clean);
        REQUIRE(counter.total > 0);
        std::size_t injected = 0;
        for (std::size_t n = 1; n <= counter.total; ++n) {
            const call c = counter.seen[n - 1];
            for (int rc : lmdb_errors(c, where::read)) {
                INFO(op.name << ": call " << n << " of " << counter.total << " (" << call_name(c) << ") fails with "
                             << code_name(rc));
                recording_seam faulty;
                faulty.fail_at = n;
                faulty.fail_with = rc;
                std::optional<netabase::error> err;
                bool at_begin = false, ended = false;
                std::string got, again = "(not read again)";
                {
                    installed on(faulty);
                    if (op.on_store) {
                        try {
                            got = op.on_store(*store);
                        } catch (const netabase::error& e) {
                            err = e;
                        }
                    } else {
                        bool began = false;
                        try {
                            auto txn = store->begin_read();
                            began = true;
                            try {
                                got = op.in_txn(txn);
                            } catch (const netabase::error& e) {
                                err = e;
                                try {
                                    again = op.in_txn(txn);
                                } catch (const netabase::error& e2) {
                                    again = std::string("threw: ") + e2.what();
                                }
                            }
                            if (n % 2) {
                                txn.abort();
                                ended = !txn.is_open();
                            } else {
                                ended = true;  // by its destructor
                            }
                        } catch (const netabase::error& e) {
                            if (began) FAIL_CHECK("ending the transaction threw: " << e.what());
                            err = e;
                            at_begin = !began;
                        }
                    }
                }
                ++injected;
                ++counts.by_call[static_cast<std::size_t>(c)];
                // The call failed was the one meant: the same calls led up to it.
                REQUIRE(faulty.seen.size() >= n);
                REQUIRE(std::equal(counter.seen.begin(), counter.seen.begin() + static_cast<std::ptrdiff_t>(n),
                                   faulty.seen.begin()));
                const bool resized = (c == call::txn_begin || c == call::txn_renew) && rc == MDB_MAP_RESIZED;
                if (resized) {
                    ++counts.absorbed;
                    CHECK_FALSE(err);
                    CHECK(got == clean);
                    CHECK(faulty.count(call::env_set_mapsize) == 1);  // resize(0): the map's size as stored
                } else {
                    REQUIRE(err);
                    CHECK(err->code() == std::error_code(rc, netabase::lmdb_category()));
                    const std::string what = err->what();
                    INFO("the error: " << what << " (table '" << err->table() << "', index '" << err->index()
                                       << "')");
                    if (std::find(op.unnamed.begin(), op.unnamed.end(), c) == op.unnamed.end())
                        CHECK(names_call(what, c));
                    if (at_begin || c == call::txn_renew || c == call::txn_begin)  // no table yet: the store
                        CHECK(what.find(dir.string()) != std::string::npos);
                    else
                        CHECK(names_one_of(*err, op.names.empty() ? std::vector<std::string>{"*"} : op.names));
                    if (c == call::txn_begin && rc == MDB_READERS_FULL)
                        CHECK(faulty.count(call::reader_check) == 1);  // slots of dead processes looked for
                    if (!op.on_store && !at_begin) {
                        CHECK(again == clean);
                        CHECK(ended);
                    }
                }
                // A later read transaction works and sees the same; for a read in a transaction,
                // twice, which also leaves the pool and cursor cache as the counted run found them.
                CHECK(run() == clean);
                if (!op.on_store) CHECK(run() == clean);
            }
        }
        counts.injected += injected;
        std::printf("faults_test: read %-51s %3zu LMDB calls = %4zu faults injected\n", op.name.c_str(), counter.total,
                    injected);
    }
    const dump_t after = raw_dump(dir);
    INFO(diff(before, after));
    CHECK(after == before);
}

std::vector<read_op> item_reads(const std::string& ix_name, const std::string& ix_group, const std::string& ix_tag) {
    const std::string T = "items", N = "items|" + ix_name, G = "items|" + ix_group, K = "items|" + ix_tag;
    std::vector<read_op> ops;
    auto add = [&](std::string name, std::vector<std::string> names, std::function<std::string(RTxn&)> fn) {
        ops.push_back(read_op{std::move(name), std::move(fn), {}, std::move(names)});
    };
    using ids = std::initializer_list<std::uint64_t>;
    add("get (rows there and not)", {T}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        std::string s;
        for (std::uint64_t k : ids{0, 2, 13, 46, 47}) s += show_opt(it.get(k));
        return s;
    });
    add("get and views (fields read in place)", {T}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        auto v = it.get(10)->view();
        std::string s = std::string(v.get<&Item::name>()) + std::to_string(v.get<&Item::group>());
        for (std::string_view tag : v.get<&Item::tags>()) s += std::string(tag) + ",";
        for (const auto& r : it.range(20, 30)) s += std::string(r.view().get<&Item::name>()) + ";";
        return s;
    });
    add("contains", {T}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        std::string s;
        for (std::uint64_t k : ids{4, 5, 46}) s += it.contains(k) ? "1" : "0";
        return s;
    });
    add("a full scan forwards", {T}, [](RTxn& t) { return show_rows(t.open_tree<Item>()); });
    add("a full scan backwards", {T}, [](RTxn& t) { return show_rows(t.open_tree<Item>().reverse()); });
    add("first and last", {T, N, G}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        return show_opt(it.first()) + show_opt(it.last()) + show_opt(it.index(&Item::name).first()) +
               show_opt(it.index(&Item::group).last());
    });
    add("ranges on the primary key", {T}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        return show_rows(it.range(4, 20)) + show_rows(it.from(30)) + show_rows(it.until(6)) +
               show_rows(it.closed_range(10, 14)) + show_rows(it.through(8)) + show_rows(it.range(4, 20).reverse()) +
               show_rows(it.from(40).reverse());
    });
    add("ranges and a prefix on the unique index", {N}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(&Item::name);
        return show_rows(ix.range("n1", "n2")) + show_rows(ix.prefix("n1")) + show_rows(ix.from("n7").reverse()) +
               show_rows(ix.closed_range("n2", "n3").reverse());
    });
    add("ranges on the non-unique index", {G}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(&Item::group);
        return show_rows(ix.range(1u, 3u)) + show_rows(ix.range(1u, 3u).reverse()) + show_rows(ix.from(2u)) +
               show_rows(ix.until(1u).reverse());
    });
    add("ranges and a prefix on the multi-key index", {K}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(by_tag);
        return show_rows(ix.range("t1", "t3")) + show_rows(ix.prefix("t")) + show_rows(ix.from("t3").reverse());
    });
    add("equal_range on the unique index", {N}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(&Item::name);
        return show_rows(ix.equal_range("n5")) + show_rows(ix.equal_range("none")) +
               show_rows(ix.equal_range("n6").reverse());
    });
    add("equal_range on the non-unique index", {G}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(&Item::group);
        return show_rows(ix.equal_range(2u)) + show_rows(ix.equal_range(1u).reverse()) +
               show_rows(ix.equal_range(9u));
    });
    add("equal_range on the multi-key index", {K}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(by_tag);
        return show_rows(ix.equal_range("t0")) + show_rows(ix.equal_range("t4").reverse()) +
               show_rows(ix.equal_range("zz"));
    });
    add("count() of rows on the primary key", {T}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        return show_keys(std::vector<std::size_t>{it.all().count(), it.range(4, 20).count(),
                                                  it.from(40).reverse().count()});
    });
    add("count() on the unique index", {N}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(&Item::name);
        return show_keys(std::vector<std::size_t>{ix.all().count(), ix.range("n1", "n3").count(), ix.count("n3"),
                                                  ix.count("none"), ix.equal_range("n4").count()});
    });
    add("count() on the non-unique index (after() too)", {G}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(&Item::group);
        auto p = ix.equal_range(1u).page(2);
        return show_keys(std::vector<std::size_t>{ix.all().count(), ix.equal_range(1u).count(),
                                                  ix.range(1u, 3u).count(), ix.count(2u), ix.count(9u),
                                                  ix.equal_range(1u).after(*p.next).count(),
                                                  ix.all().after(*p.next).count()});
    });
    add("count() on the multi-key index", {K}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(by_tag);
        return show_keys(std::vector<std::size_t>{ix.all().count(), ix.equal_range("t1").count(),
                                                  ix.prefix("t").count(), ix.count("t2")});
    });
    add("size() and empty()", {T, N, G, K, "plain"}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        return show_keys(std::vector<std::size_t>{it.size(), it.empty() ? 1u : 0u, it.index(&Item::name).size(),
                                                  it.index(&Item::group).size(), it.index(by_tag).size(),
                                                  it.index(by_tag).empty() ? 1u : 0u, t.open_tree<Plain>().size()});
    });
    add("Index::get, primary_keys and get_by_secondary_key", {N, G, K}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        auto name = it.index(&Item::name);
        return show_opt(name.get("n3")) + show_opt(name.get("none")) + show_keys(name.primary_keys("n2")) +
               show_keys(it.index(&Item::group).primary_keys(3u)) + show_keys(it.index(by_tag).primary_keys("t4")) +
               show_keys(it.get_by_secondary_key(&Item::group, 1u));
    });
    add("pagination on the primary key (page, after)", {T}, [](RTxn& t) {
        auto it = t.open_tree<Item>();
        auto p = it.all().page(5);
        auto q = it.all().after(*p.next).page(5);
        return show_page(p) + show_page(q) + show_page(it.all().reverse().page(7)) +
               show_page(it.range(4, 30).after(*p.next).page(3)) + show_page(it.all().after(*q.next).reverse().page(4));
    });
    add("pagination on the unique index", {N}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(&Item::name);
        auto p = ix.all().page(5);
        return show_page(p) + show_page(ix.all().after(*p.next).page(5)) +
               show_page(ix.all().after(*p.next).reverse().page(3));
    });
    add("pagination on the non-unique index", {G}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(&Item::group);
        auto p = ix.all().page(4);
        auto q = ix.equal_range(1u).page(2);
        return show_page(p) + show_page(ix.all().after(*p.next).page(4)) + show_page(q) +
               show_page(ix.equal_range(1u).after(*q.next).page(2)) +
               show_page(ix.equal_range(1u).after(*q.next).reverse().page(3));
    });
    add("pagination on the multi-key index", {K}, [](RTxn& t) {
        auto ix = t.open_tree<Item>().index(by_tag);
        auto p = ix.all().page(6);
        auto q = ix.equal_range("t1").page(3);
        return show_page(p) + show_page(ix.all().after(*p.next).page(6)) + show_page(q) +
               show_page(ix.equal_range("t1").after(*q.next).page(3));
    });
    add("the table without indexes: get, scans, count, size", {"plain"}, [](RTxn& t) {
        auto pl = t.open_tree<Plain>();
        return show_opt(pl.get(4)) + show_opt(pl.get(5)) + show_rows(pl) + show_rows(pl.range(2, 12).reverse()) +
               show_keys(std::vector<std::size_t>{pl.size(), pl.range(2, 12).count()});
    });
    return ops;
}

// A store with initial_rows() and 10 plain rows, for the read matrix.
struct read_fixture {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    const netabase::options opt{.durability = netabase::durability::no_sync};
    std::optional<Store> store;
    std::string ix_name, ix_group, ix_tag;
    read_counts counts;

    read_fixture() {
        store.emplace(dir, opt);
        reset(*store);
        store->read([&](RTxn& t) {
            auto it = t.open_tree<Item>();
            ix_name = it.index(&Item::name).name();
            ix_group = it.index(&Item::group).name();
            ix_tag = it.index(by_tag).name();
        });
    }
    // Each of these calls was failed (with every error LMDB gives there).
    void require_failed(std::initializer_list<call> calls, const char* what) {
        for (call c : calls) {
            INFO(call_name(c));
            CHECK(counts.by_call[static_cast<std::size_t>(c)] > 0);
        }
        std::printf("faults_test: %s: %zu faults injected (%zu of them an MDB_MAP_RESIZED the read adopted)\n", what,
                    counts.injected, counts.absorbed);
        std::fflush(stdout);
    }
};

// Reads of the tables alone (no index named), and reads through the indexes.
bool on_tables_only(const read_op& op) {
    return std::all_of(op.names.begin(), op.names.end(), [](const std::string& n) { return n == "items" || n == "plain"; });
}

TEST_CASE("faults: every LMDB call of every read of a table fails in turn: a clear error, the transaction ends, "
          "nothing changes",
          "[faults][read]") {
    read_fixture f;
    std::vector<read_op> ops;
    for (auto& op : item_reads(f.ix_name, f.ix_group, f.ix_tag))
        if (on_tables_only(op)) ops.push_back(std::move(op));
    REQUIRE(ops.size() >= 9);
    read_matrix(f.store, ops, f.counts);
    f.require_failed({call::txn_renew, call::cursor_renew, call::cursor_get, call::stat}, "reads of a table");
}

TEST_CASE("faults: every LMDB call of every read through an index fails in turn: a clear error naming the index, "
          "the transaction ends, nothing changes",
          "[faults][read]") {
    read_fixture f;
    std::vector<read_op> ops;
    for (auto& op : item_reads(f.ix_name, f.ix_group, f.ix_tag))
        if (!on_tables_only(op)) ops.push_back(std::move(op));
    REQUIRE(ops.size() >= 15);
    read_matrix(f.store, ops, f.counts);
    f.require_failed({call::txn_renew, call::cursor_renew, call::cursor_get, call::cursor_count, call::get, call::stat},
                     "reads through an index");
}

TEST_CASE("faults: every LMDB call of the first read of a store just opened fails in turn (mdb_txn_begin, "
          "mdb_cursor_open)",
          "[faults][read]") {
    read_fixture f;
    auto& store = f.store;
    const fs::path& dir = f.dir;
    const netabase::options& opt = f.opt;
    const std::string& ix_group = f.ix_group;
    auto& counts = f.counts;
    // The first read of a store just opened begins a transaction (mdb_txn_begin) and opens its
    // cursors (mdb_cursor_open): the pool and the cache are empty. The store is opened again
    // before each of these runs.
    std::vector<read_op> first{
        read_op{"the first read of a store just opened", [](RTxn& t) {
                    auto it = t.open_tree<Item>();
                    return show_opt(it.get(6)) + show_rows(it.index(&Item::group).equal_range(3u));
                },
                {}, {"items", "items|" + ix_group}}};
    {
        // (read_matrix's own runs warm the pool: this op is run on a store reopened for each fault)
        const std::string clean = store->read(first[0].in_txn);
        recording_seam counter;
        store.reset();
        store.emplace(dir, opt);
        {
            installed on(counter);
            CHECK(store->read(first[0].in_txn) == clean);
        }
        REQUIRE(counter.seen.front() == call::txn_begin);
        REQUIRE(counter.count(call::cursor_open) >= 2);
        std::size_t injected = 0;
        for (std::size_t n = 1; n <= counter.total; ++n) {
            const call c = counter.seen[n - 1];
            for (int rc : lmdb_errors(c, where::read)) {
                INFO("first read: call " << n << " (" << call_name(c) << ") fails with " << code_name(rc));
                store.reset();
                store.emplace(dir, opt);
                recording_seam faulty;
                faulty.fail_at = n;
                faulty.fail_with = rc;
                std::optional<netabase::error> err;
                std::string got;
                {
                    installed on(faulty);
                    try {
                        got = store->read(first[0].in_txn);
                    } catch (const netabase::error& e) {
                        err = e;
                    }
                }
                ++injected;
                ++counts.by_call[static_cast<std::size_t>(c)];
                REQUIRE(std::equal(counter.seen.begin(), counter.seen.begin() + static_cast<std::ptrdiff_t>(n),
                                   faulty.seen.begin()));
                if (c == call::txn_begin && rc == MDB_MAP_RESIZED) {
                    ++counts.absorbed;
                    CHECK_FALSE(err);
                    CHECK(got == clean);
                } else {
                    REQUIRE(err);
                    CHECK(err->code() == std::error_code(rc, netabase::lmdb_category()));
                    CHECK(names_call(err->what(), c));
                    CHECK((c == call::txn_begin ? std::string(err->what()).find(dir.string()) != std::string::npos
                                                : names_one_of(*err, first[0].names)));
                }
                CHECK(store->read(first[0].in_txn) == clean);
            }
        }
        counts.injected += injected;
        std::printf("faults_test: read %-51s %3zu LMDB calls = %4zu faults injected\n", first[0].name.c_str(),
                    counter.total, injected);
    }

    f.require_failed({call::txn_begin, call::cursor_open, call::cursor_get, call::get}, "the first read of a store");
}

TEST_CASE("faults: every LMDB call of stats(), verify(), backup() and sync() fails in turn: a clear error, "
          "nothing changes",
          "[faults][read]") {
    read_fixture f;
    auto& store = f.store;
    const fs::path& dir = f.dir;
    auto& tmp = f.tmp;
    auto& counts = f.counts;
    // Whole-store reads.
    std::size_t backups = 0;
    std::vector<read_op> whole{
        read_op{"stats()", {}, [](Store& s) {
                    auto st = s.stats();
                    std::string out = std::to_string(st.map_size) + "," + std::to_string(st.page_size) + "," +
                                      std::to_string(st.used_bytes) + "," + std::to_string(st.free_bytes) + ";";
                    for (const auto& t : st.tables) {
                        out += t.name + "=" + std::to_string(t.entries) + "/" + std::to_string(t.depth) + ";";
                        for (const auto& i : t.indexes) out += i.name + "=" + std::to_string(i.entries) + ";";
                    }
                    return out;
                },
                {"*", "~" + dir.string()}},
        read_op{"verify()", {}, [](Store& s) {
                    auto r = s.verify();
                    return std::string(r.ok() ? "ok " : "PROBLEMS ") + r.to_string();
                },
                {"*"}},
        read_op{"backup()", {}, [&](Store& s) {
                    const fs::path to = tmp / ("backup" + std::to_string(++backups));
                    try {
                        s.backup(to);
                    } catch (const netabase::error&) {
                        CHECK_FALSE(fs::exists(to / "data.mdb"));  // a partial copy is no backup
                        throw;
                    }
                    return show_dump(raw_dump(to));
                },
                {"~backup to " + (tmp / "backup").string()}},
        read_op{"backup() compacted", {}, [&](Store& s) {
                    const fs::path to = tmp / ("backup" + std::to_string(++backups));
                    try {
                        s.backup(to, netabase::backup_options{.compact = true});
                    } catch (const netabase::error&) {
                        CHECK_FALSE(fs::exists(to / "data.mdb"));
                        throw;
                    }
                    return show_dump(raw_dump(to));
                },
                {"~backup to " + (tmp / "backup").string()}},
        read_op{"sync()", {}, [](Store& s) {
                    s.sync();
                    return std::string("synced");
                },
                {"~" + dir.string()}},
    };
    read_matrix(store, whole, counts);
    CHECK(show_dump(raw_dump(tmp / "backup1")) == show_dump(raw_dump(dir)));

    f.require_failed({call::txn_renew, call::cursor_open, call::cursor_get, call::get, call::stat, call::env_info,
                      call::env_stat, call::env_copy2, call::env_sync},
                     "whole-store reads");
}

TEST_CASE("faults: every LMDB call of changes_since() fails in turn: a clear error, nothing changes",
          "[faults][read]") {
    read_fixture f;
    auto& tmp = f.tmp;
    const std::string& ix_tag = f.ix_tag;
    auto& counts = f.counts;
    // The change log: a store that keeps one.
    {
        const fs::path log_dir = tmp / "logged";
        std::optional<Store> logged;
        logged.emplace(log_dir, netabase::options{.durability = netabase::durability::no_sync, .change_log = true});
        reset(*logged);
        logged->write([](netabase::WriteTransaction<S>& txn) {
            txn.open_tree<Item>().remove(4);
            txn.open_tree<Plain>().put(Plain{3, "three"});
        });
        logged->write([](netabase::WriteTransaction<S>& txn) {
            txn.open_tree<Item>().update(6, [](Item& i) { i.name = "six"; });
        });
        auto show_log = [](const netabase::change_log_range& r) {
            std::string s;
            for (const auto& e : r)
                s += std::to_string(e.sequence) + ":" + std::string(e.table) + ":" +
                     std::to_string(static_cast<int>(e.kind)) + ":" + std::to_string(e.key_bytes.size()) + ";";
            return s + "|";
        };
        std::vector<read_op> log_reads{
            read_op{"changes_since (change log on)",
                    [&](RTxn& t) { return show_log(t.changes_since(0)) + show_log(t.changes_since(30)); },
                    {},
                    {"__netabase~changes", "~change log"}},
            read_op{"get and a scan on a store with a change log", [](RTxn& t) {
                        auto it = t.open_tree<Item>();
                        return show_opt(it.get(6)) + show_rows(it.index(by_tag).equal_range("t2"));
                    },
                    {},
                    {"items", "items|" + ix_tag}},
        };
        REQUIRE(logged->read([&](RTxn& t) { return show_log(t.changes_since(0)); }).size() > 40);
        read_matrix(logged, log_reads, counts);
    }

    f.require_failed({call::txn_renew, call::cursor_open, call::cursor_get, call::get}, "reads with a change log");
}

TEST_CASE("faults: a read transaction renewed from the pool that finds the map resized, and cannot resize, throws",
          "[faults][read][map]") {
    // mdb_txn_renew says MDB_MAP_RESIZED (another process grew the map); the resize to the
    // stored size then fails with each error a new mapping can give.
    netabase_test::temp_dir tmp;
    const netabase::options opt{.durability = netabase::durability::no_sync};
    std::optional<Store> store;
    store.emplace(tmp / "db", opt);
    reset(*store);
    auto read = [](RTxn& t) { return show_rows(t.open_tree<Item>().range(0, 10)); };
    const std::string clean = store->read(read);
    std::size_t injected = 0;
    for (int rc : lmdb_errors(call::env_set_mapsize, where::resize)) {
        INFO("mdb_txn_renew says MDB_MAP_RESIZED, then the resize fails with " << code_name(rc));
        store.reset();  // each round on a freshly opened store: a failed resize leaves it unusable
        store.emplace(tmp / "db", opt);
        CHECK(store->read(read) == clean);  // (and puts a reset read transaction in the pool)
        resize_fails faulty;
        faulty.fail_at = 1;
        faulty.fail_with = MDB_MAP_RESIZED;
        faulty.resize_with = rc;
        std::optional<netabase::error> err;
        {
            installed on(faulty);
            try {
                (void)store->read(read);
            } catch (const netabase::error& e) {
                err = e;
            }
        }
        ++injected;
        REQUIRE(!faulty.seen.empty());
        REQUIRE(faulty.seen.front() == call::txn_renew);
        REQUIRE(faulty.resize_failed);
        REQUIRE(err);
        CHECK(err->code() == std::error_code(rc, netabase::lmdb_category()));
        CHECK(names_call(err->what(), call::env_set_mapsize));
        CHECK_THROWS_WITH(store->read(read), Catch::Contains("cannot be used in this process"));
    }
    store.reset();
    store.emplace(tmp / "db", opt);
    CHECK(store->read(read) == clean);
    {
        // A second read transaction of a thread (mdb_txn_begin: the pool's one is taken) that
        // finds the map resized cannot adopt it while the first is open: a clear error.
        auto held = store->begin_read();
        recording_seam faulty;
        faulty.fail_at = 1;
        faulty.fail_with = MDB_MAP_RESIZED;
        std::optional<netabase::error> err;
        {
            installed on(faulty);
            try {
                (void)store->read(read);
            } catch (const netabase::error& e) {
                err = e;
            }
        }
        ++injected;
        REQUIRE(!faulty.seen.empty());
        REQUIRE(faulty.seen.front() == call::txn_begin);
        REQUIRE(err);
        CHECK(err->code() == netabase::errc::map_full);
        CHECK(faulty.count(call::env_set_mapsize) == 0);
        CHECK(read(held) == clean);
    }
    CHECK(store->read(read) == clean);
    std::printf("faults_test: %-56s %4zu faults injected\n", "a renewed read transaction whose resize fails", injected);
    std::fflush(stdout);
}

// ---- opening -------------------------------------------------------------------------------

// "items" as an older program wrote it: without the by_tag key, which Item adds.
struct ItemBefore {
    std::uint64_t id;
    std::string name;
    std::uint32_t group;
    std::vector<std::string> tags;
    std::string payload;
};

constexpr auto netabase_model(netabase::tag<ItemBefore>) {
    return netabase::model<ItemBefore>("items")
        .primary_key(&ItemBefore::id)
        .secondary_key(&ItemBefore::name, netabase::unique)
        .secondary_key(&ItemBefore::group);
}

// The calls that can fill the map in a read-write open: it grows the map and opens again.
bool can_fill_map(call c) {
    return c == call::put || c == call::del || c == call::drop || c == call::cursor_put || c == call::cursor_del ||
           c == call::dbi_open || c == call::txn_commit;
}

TEST_CASE("faults: opening a store fails cleanly at every LMDB call, read-write and read-only", "[faults][open]") {
    // Each open (a new store, an existing one, one that must build a new index, one with a change
    // log, read-only) is run with each of its LMDB calls failed in turn, with each error LMDB can
    // give there. The Store constructor throws that error naming the call and the store or
    // table, the files are as they were (no half-built index, no fingerprint claiming it), and
    // the next open works and finds what a clean open finds. Only MDB_MAP_FULL (the map grows,
    // the open runs again) and MDB_MAP_RESIZED at a transaction's start (the new size is adopted)
    // are no failure.
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    const fs::path pristine = tmp / "pristine.mdb";
    using Old = netabase::Store<netabase::definition<ItemBefore>>;
    const netabase::options rw{.durability = netabase::durability::no_sync};
    const netabase::options ro{.durability = netabase::durability::no_sync, .read_only = true};
    const netabase::options logged{.durability = netabase::durability::no_sync, .change_log = true};

    struct open_case {
        std::string name;
        netabase::options opt;
        std::function<void()> make;  // the store as the open finds it
        bool fresh = false;          // no store yet: the open creates it
    };
    auto old_layout = [&] {
        Old old{dir, rw};
        old.write([](netabase::WriteTransaction<netabase::definition<ItemBefore>>& txn) {
            auto items = txn.open_tree<ItemBefore>();
            for (const Item& i : initial_rows()) items.put(ItemBefore{i.id, i.name, i.group, i.tags, i.payload});
        });
    };
    auto current = [&](const netabase::options& o) {
        return [&, o] {
            Store s{dir, o};
            reset(s);
        };
    };
    const std::vector<open_case> cases{
        {"read-write, a new store", rw, [] {}, true},
        {"read-write, an existing store", rw, current(rw)},
        {"read-write, a store that must build a new index", rw, old_layout},
        {"read-write, a store with a change log", logged, current(logged)},
        {"read-only", ro, current(rw)},
        {"read-only, a store with a change log", ro, current(logged)},
    };
    // What an open finds: every table's rows and index entries, and verify()'s report.
    auto contents = [&](Store& s) {
        auto r = s.verify();
        return show_dump(raw_dump(dir)) + (r.ok() ? " ok " : " PROBLEMS ") + r.to_string();
    };

    std::size_t total = 0;
    for (const auto& oc : cases) {
        INFO(oc.name);
        fs::remove_all(dir);
        oc.make();
        const dump_t before = oc.fresh ? dump_t{} : raw_dump(dir);
        if (!oc.fresh) fs::copy_file(dir / "data.mdb", pristine, fs::copy_options::overwrite_existing);
        auto restore = [&] {
            if (oc.fresh) {
                fs::remove_all(dir);
                return;
            }
            fs::copy_file(pristine, dir / "data.mdb", fs::copy_options::overwrite_existing);
        };
        recording_seam counter;
        std::string clean;
        {
            installed on(counter);
            Store s{dir, oc.opt};
            netabase::detail::seam() = nullptr;
            clean = contents(s);
        }
        REQUIRE(clean.find(" ok ") != std::string::npos);
        REQUIRE(netabase_test::index_mismatches<Item>(dir) == "");  // a built index too, entry by entry
        REQUIRE(counter.seen.front() == call::env_create);
        const where w = oc.opt.read_only ? where::open_ro : where::open_rw;

        std::size_t injected = 0, grown = 0;
        for (std::size_t n = 1; n <= counter.total; ++n) {
            const call c = counter.seen[n - 1];
            for (int rc : lmdb_errors(c, w)) {
                INFO(oc.name << ": call " << n << " of " << counter.total << " (" << call_name(c) << ") fails with "
                             << code_name(rc));
                restore();
                recording_seam faulty;
                faulty.fail_at = n;
                faulty.fail_with = rc;
                std::optional<netabase::error> err;
                bool opened = false;
                {
                    installed on(faulty);
                    try {
                        Store s{dir, oc.opt};
                        opened = true;
                    } catch (const netabase::error& e) {
                        err = e;
                    }
                }
                ++injected;
                REQUIRE(std::equal(counter.seen.begin(), counter.seen.begin() + static_cast<std::ptrdiff_t>(n),
                                   faulty.seen.begin()));
                const bool absorbed = (c == call::txn_begin && rc == MDB_MAP_RESIZED) ||
                                      (w == where::open_rw && rc == MDB_MAP_FULL && can_fill_map(c));
                if (absorbed) {
                    CHECK(opened);
                    if (rc == MDB_MAP_FULL) {
                        ++grown;
                        CHECK(faulty.count(call::env_set_mapsize) == 2);  // at the start, and the growth
                    }
                } else {
                    REQUIRE(err);
                    const std::string what = err->what();
                    INFO("the error: " << what);
                    if (c == call::dbi_open && rc == MDB_INCOMPATIBLE)
                        CHECK(err->code() == netabase::errc::schema_mismatch);  // what it means when LMDB says it
                    else
                        CHECK(err->code() == std::error_code(rc, netabase::lmdb_category()));
                    CHECK(names_call(what, c));
                    CHECK((what.find(dir.string()) != std::string::npos || !err->table().empty()));
                    if (!oc.fresh) {
                        const dump_t after = raw_dump(dir);
                        INFO(diff(before, after));
                        REQUIRE(after == before);
                    }
                }
                // The next open works, and finds what a clean open finds.
                Store s{dir, oc.opt};
                CHECK(contents(s) == clean);
            }
        }
        total += injected;
        std::printf("faults_test: open %-51s %3zu LMDB calls = %4zu faults injected (%zu grew the map)\n",
                    oc.name.c_str(), counter.total, injected, grown);
    }
    std::printf("faults_test: opens: %zu faults injected\n", total);
    std::fflush(stdout);
}

TEST_CASE("faults: an open that must grow the map to build an index, and cannot resize it, leaves the files as they were",
          "[faults][open][map]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    {
        netabase::Store<netabase::definition<ItemBefore>> old{dir};
        old.write([](netabase::WriteTransaction<netabase::definition<ItemBefore>>& txn) {
            auto items = txn.open_tree<ItemBefore>();
            for (const Item& i : initial_rows()) items.put(ItemBefore{i.id, i.name, i.group, i.tags, i.payload});
        });
    }
    const dump_t before = raw_dump(dir);
    recording_seam counter;
    {
        installed on(counter);
        Store s{dir};
    }
    const fs::path pristine = tmp / "pristine.mdb";
    std::size_t injected = 0;
    for (std::size_t n = 1; n <= counter.total; ++n) {
        if (counter.seen[n - 1] != call::put) continue;  // the new index's entries
        for (int rc : lmdb_errors(call::env_set_mapsize, where::resize)) {
            INFO("put " << n << " fills the map, then the resize fails with " << code_name(rc));
            if (injected == 0) {
                fs::remove_all(dir);
                netabase::Store<netabase::definition<ItemBefore>> old{dir};
                old.write([](netabase::WriteTransaction<netabase::definition<ItemBefore>>& txn) {
                    auto items = txn.open_tree<ItemBefore>();
                    for (const Item& i : initial_rows())
                        items.put(ItemBefore{i.id, i.name, i.group, i.tags, i.payload});
                });
            }
            resize_fails faulty;
            faulty.fail_at = n;
            faulty.fail_with = MDB_MAP_FULL;
            faulty.resize_with = rc;
            std::optional<netabase::error> err;
            {
                installed on(faulty);
                try {
                    Store s{dir};
                } catch (const netabase::error& e) {
                    err = e;
                }
            }
            ++injected;
            REQUIRE(faulty.resize_failed);
            REQUIRE(err);
            CHECK(err->code() == std::error_code(rc, netabase::lmdb_category()));
            CHECK(names_call(err->what(), call::env_set_mapsize));
            const dump_t after = raw_dump(dir);
            INFO(diff(before, after));
            REQUIRE(after == before);
        }
    }
    REQUIRE(injected > 3 * 20);
    Store store{dir};  // and then the open builds the index
    CHECK(store.verify().ok());
    CHECK(netabase_test::index_mismatches<Item>(dir) == "");
    std::printf("faults_test: %-56s %4zu faults injected\n", "open that builds an index and cannot grow the map",
                injected);
    std::fflush(stdout);
}

#else

TEST_CASE("faults: the test binary must be built with NETABASE_LMDB_SEAM", "[faults]") {
    FAIL("tests/test_faults.cpp needs -DNETABASE_LMDB_SEAM in every translation unit of the test binary");
}

#endif

}  // namespace faults_test
