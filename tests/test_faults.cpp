// Fault injection: every LMDB call a write makes is failed in turn, with each error LMDB can
// give there, through the call seam (the test binary is built with NETABASE_LMDB_SEAM). After
// each fault the store must hold exactly what it held before the transaction, byte for byte in
// every table and index, verify() must find nothing, and the store must take the next write.
#include "catch.hpp"
#include "index_model.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <errno.h>
#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
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

const char* call_name(call c) {
    switch (c) {
        case call::get:
            return "get";
        case call::put:
            return "put";
        case call::del:
            return "del";
        case call::drop:
            return "drop";
        case call::cursor_open:
            return "cursor_open";
        case call::cursor_get:
            return "cursor_get";
        case call::cursor_put:
            return "cursor_put";
        case call::cursor_del:
            return "cursor_del";
        case call::txn_begin:
            return "txn_begin";
        case call::txn_commit:
            return "txn_commit";
        case call::count:
            break;
    }
    return "?";
}

const char* code_name(int rc) {
    switch (rc) {
        case MDB_MAP_FULL:
            return "MDB_MAP_FULL";
        case MDB_TXN_FULL:
            return "MDB_TXN_FULL";
        case MDB_READERS_FULL:
            return "MDB_READERS_FULL";
        case EIO:
            return "EIO";
        default:
            return "?";
    }
}

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

TEST_CASE("faults: opening a store that must build a new index fails cleanly at every LMDB call", "[faults]") {
    // The index is built in the opening transaction: a fault anywhere leaves the files as
    // they were (no half-built index, no fingerprint claiming it) and the next open builds it.
    // MDB_MAP_FULL is the exception: the open grows the map and builds the index anyway.
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
    REQUIRE(before.count("items/by_tag") == 0);

    recording_seam counter;
    {
        installed on(counter);
        Store store{dir};
    }
    const std::size_t calls = counter.total;
    {
        const dump_t built = raw_dump(dir);
        REQUIRE(built.count("items/by_tag") == 1);
        CHECK(built.at("items/by_tag").size() > 24);
        CHECK(netabase_test::index_mismatches<Item>(dir) == "");  // the built index, entry by entry
    }
    // Back to the old layout for the faults.
    auto old_layout = [&] {
        fs::remove_all(dir);
        {
            netabase::Store<netabase::definition<ItemBefore>> old{dir};
            old.write([](netabase::WriteTransaction<netabase::definition<ItemBefore>>& txn) {
                auto items = txn.open_tree<ItemBefore>();
                for (const Item& i : initial_rows()) items.put(ItemBefore{i.id, i.name, i.group, i.tags, i.payload});
            });
        }
        REQUIRE(raw_dump(dir) == before);
    };
    old_layout();

    std::size_t faults = 0;
    for (std::size_t n = 1; n <= calls; ++n) {
        for (int rc : codes) {
            INFO("open: call " << n << " of " << calls << " (" << call_name(counter.seen[n - 1]) << ") fails with "
                               << code_name(rc));
            netabase::detail::lmdb_seam faulty;
            faulty.fail_at = n;
            faulty.fail_with = rc;
            bool threw = false;
            {
                installed on(faulty);
                try {
                    Store store{dir};
                    // A full map is not a failure of the open: it grows the map and tries again.
                    if (rc == MDB_MAP_FULL) CHECK(store.verify().ok());
                } catch (const netabase::error& e) {
                    threw = true;
                    CHECK(e.code() == std::error_code(rc, netabase::lmdb_category()));
                }
            }
            ++faults;
            if (rc == MDB_MAP_FULL && !threw) {  // grown and built: the index is there
                CHECK(raw_dump(dir).count("items/by_tag") == 1);
                CHECK(netabase_test::index_mismatches<Item>(dir) == "");
                old_layout();
                continue;
            }
            CHECK(threw);
            const dump_t after = raw_dump(dir);
            INFO(diff(before, after));
            REQUIRE(after == before);
        }
    }
    // And without faults the open builds the index.
    Store store{dir};
    CHECK(store.verify().ok());
    CHECK(netabase_test::index_mismatches<Item>(dir) == "");
    CHECK(store.read([](netabase::ReadTransaction<S>& txn) {
        return txn.open_tree<Item>().index(by_tag).count("t0");
    }) == 11);  // rows i < 24 with i % 3 == 0 or i % 5 == 0
    std::printf("faults_test: %-56s %3zu LMDB calls x 4 errors = %4zu faults injected\n",
                "open that builds a new index", calls, faults);
    std::fflush(stdout);
}

#else

TEST_CASE("faults: the test binary must be built with NETABASE_LMDB_SEAM", "[faults]") {
    FAIL("tests/test_faults.cpp needs -DNETABASE_LMDB_SEAM in every translation unit of the test binary");
}

#endif

}  // namespace faults_test
