// Transactions: commit, abort, finished transactions, snapshots, concurrency, store.write /
// store.read and the Rust-style free functions.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace txn_test {

// ---- models ------------------------------------------------------------------------------

struct Row {  // no declaration: first field is the key, table named after the type
    std::uint64_t id;
    std::string name;
};

struct Item {
    std::uint64_t id;
    std::uint32_t group;
    std::string label;
};
constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items")
        .primary_key(&Item::id)
        .secondary_key(&Item::group)
        .secondary_key(&Item::label, netabase::unique);
}

using S = netabase::definition<Row, Item>;
using Store = netabase::Store<S>;
using WTxn = netabase::WriteTransaction<S>;
using RTxn = netabase::ReadTransaction<S>;

// For the tests that commit many times: no fsync per commit.
const netabase::options fast{.durability = netabase::durability::no_sync};

// ---- helpers -----------------------------------------------------------------------------

std::size_t row_count(const Store& store) {
    return store.read([](RTxn& txn) { return txn.open_tree<Row>().size(); });
}

bool has_row(const Store& store, std::uint64_t id) {
    return store.read([&](RTxn& txn) { return txn.open_tree<Row>().contains(id); });
}

template <class F>
void expect_finished(F&& f) {
    try {
        f();
        FAIL("using a finished transaction did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::transaction_finished);
    }
}

template <class F>
void expect_code(F&& f, netabase::errc code) {
    try {
        f();
        FAIL("expected a netabase::error");
    } catch (const netabase::error& e) {
        CHECK(e.code() == code);
    }
}

struct marker_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Converts to a ReadTransaction in place: lets containers hold the non-movable transactions.
struct reader {
    const Store& store;
    operator RTxn() const { return store.begin_read(); }
};

// ---- commit and abort -------------------------------------------------------------------

TEST_CASE("transaction: commit makes writes visible", "[transaction]") {
    auto store = Store::temporary();
    auto txn = store.begin_write();
    REQUIRE(txn.is_open());
    auto rows = txn.open_tree<Row>();
    rows.put(Row{1, "one"});
    rows.put(Row{2, "two"});
    // The writer sees its own writes.
    CHECK(rows.size() == 2);
    REQUIRE(rows.get(1));
    CHECK(rows.get(1)->value().name == "one");
    // Nobody else does yet.
    CHECK(row_count(store) == 0);
    CHECK_FALSE(has_row(store, 1));

    txn.commit();
    CHECK_FALSE(txn.is_open());
    CHECK(row_count(store) == 2);
    CHECK(has_row(store, 2));
    store.read([](RTxn& r) {
        auto g = r.open_tree<Row>().get(2);
        REQUIRE(g);
        CHECK(g->value().name == "two");
    });
}

TEST_CASE("transaction: a write transaction destroyed without commit aborts", "[transaction]") {
    auto store = Store::temporary();
    {
        auto txn = store.begin_write();
        txn.open_tree<Row>().put(Row{1, "one"});
        txn.open_tree<Item>().put(Item{1, 5, "a"});
    }
    CHECK(row_count(store) == 0);
    store.read([](RTxn& r) {
        auto items = r.open_tree<Item>();
        CHECK(items.empty());
        CHECK(items.index(&Item::group).count(5) == 0);
        CHECK_FALSE(items.index(&Item::label).get("a"));
    });
    // The write lock was released: another write on this thread goes through.
    auto txn = store.begin_write();
    txn.open_tree<Row>().put(Row{2, "two"});
    txn.commit();
    CHECK(row_count(store) == 1);
    CHECK(has_row(store, 2));
}

TEST_CASE("transaction: explicit abort discards everything", "[transaction]") {
    auto store = Store::temporary();
    store.write([](WTxn& txn) { txn.open_tree<Row>().put(Row{1, "kept"}); });
    {
        auto txn = store.begin_write();
        auto rows = txn.open_tree<Row>();
        rows.put(Row{2, "discarded"});
        rows.remove(1);
        rows.update(1, [](Row& r) { r.name = "never"; });
        CHECK(rows.size() == 1);
        txn.abort();
        CHECK_FALSE(txn.is_open());
    }
    store.read([](RTxn& r) {
        auto rows = r.open_tree<Row>();
        CHECK(rows.size() == 1);
        REQUIRE(rows.get(1));
        CHECK(rows.get(1)->value().name == "kept");
        CHECK_FALSE(rows.contains(2));
    });
    auto txn = store.begin_write();  // the lock was released by abort()
    txn.open_tree<Row>().put(Row{3, "three"});
    txn.commit();
    CHECK(row_count(store) == 2);
}

TEST_CASE("transaction: a finished transaction and its trees throw transaction_finished", "[transaction]") {
    auto store = Store::temporary();
    store.write([](WTxn& txn) {
        txn.open_tree<Row>().put(Row{1, "one"});
        txn.open_tree<Item>().put(Item{1, 2, "x"});
    });

    const bool commit = GENERATE(true, false);
    CAPTURE(commit);

    SECTION("write transaction") {
        auto txn = store.begin_write();
        auto rows = txn.open_tree<Row>();
        auto items = txn.open_tree<Item>();
        auto by_group = items.index(&Item::group);
        auto in_range = rows.range(0, 10);
        rows.put(Row{2, "two"});
        if (commit)
            txn.commit();
        else
            txn.abort();
        CHECK_FALSE(txn.is_open());

        expect_finished([&] { txn.commit(); });
        expect_finished([&] { txn.abort(); });
        expect_finished([&] { (void)txn.open_tree<Row>(); });
        expect_finished([&] { (void)rows.get(1); });
        expect_finished([&] { (void)rows.contains(1); });
        expect_finished([&] { (void)rows.size(); });
        expect_finished([&] { (void)rows.empty(); });
        expect_finished([&] { (void)rows.first(); });
        expect_finished([&] { (void)rows.last(); });
        expect_finished([&] { (void)rows.begin(); });
        expect_finished([&] { (void)rows.range(0, 5); });
        expect_finished([&] { (void)in_range.begin(); });
        expect_finished([&] { rows.put(Row{3, "three"}); });
        expect_finished([&] { (void)rows.insert(Row{4, "four"}); });
        expect_finished([&] { (void)rows.remove(1); });
        expect_finished([&] { rows.clear(); });
        expect_finished([&] { (void)rows.update(1, [](Row& r) { r.name = "x"; }); });
        expect_finished([&] {
            std::vector<Row> more{Row{5, "five"}};
            (void)rows.put_many(more);
        });
        expect_finished([&] {
            std::vector<std::uint64_t> keys{1};
            (void)rows.remove_many(keys);
        });
        expect_finished([&] { (void)by_group.count(2); });
        expect_finished([&] { (void)by_group.size(); });
        expect_finished([&] { (void)by_group.primary_keys(2); });
        expect_finished([&] { (void)by_group.equal_range(2).begin(); });
        expect_finished([&] { (void)by_group.begin(); });
        expect_finished([&] { (void)items.index(&Item::label).get("x"); });
        expect_finished([&] { (void)items.get_by_secondary_key(&Item::group, 2u); });

        CHECK(has_row(store, 2) == commit);
        CHECK(row_count(store) == (commit ? 2u : 1u));
    }
    SECTION("read transaction") {
        auto txn = store.begin_read();
        auto rows = txn.open_tree<Row>();
        auto by_group = txn.open_tree<Item>().index(&Item::group);
        CHECK(rows.size() == 1);
        if (commit)
            txn.commit();
        else
            txn.abort();
        CHECK_FALSE(txn.is_open());

        expect_finished([&] { txn.commit(); });
        expect_finished([&] { txn.abort(); });
        expect_finished([&] { (void)txn.open_tree<Row>(); });
        expect_finished([&] { (void)rows.get(1); });
        expect_finished([&] { (void)rows.size(); });
        expect_finished([&] { (void)rows.first(); });
        expect_finished([&] { (void)rows.begin(); });
        expect_finished([&] { (void)rows.range(0, 5); });
        expect_finished([&] { (void)by_group.count(2); });
        expect_finished([&] { (void)by_group.equal_range(2).begin(); });
    }
}

// ---- snapshots and concurrency ----------------------------------------------------------

TEST_CASE("transaction: a read transaction is a snapshot", "[transaction]") {
    auto store = Store::temporary();
    store.write([](WTxn& txn) { txn.open_tree<Row>().put(Row{1, "old"}); });

    auto old = store.begin_read();
    auto old_rows = old.open_tree<Row>();
    REQUIRE(old_rows.size() == 1);

    SECTION("another thread commits") {
        std::thread writer([&] {
            store.write([](WTxn& txn) {
                auto rows = txn.open_tree<Row>();
                rows.put(Row{2, "new"});
                rows.update(1, [](Row& r) { r.name = "changed"; });
            });
        });
        writer.join();
    }
    SECTION("this thread commits while holding the reader") {
        auto txn = store.begin_write();
        auto rows = txn.open_tree<Row>();
        rows.put(Row{2, "new"});
        rows.update(1, [](Row& r) { r.name = "changed"; });
        txn.commit();
    }

    // The old reader still sees the old state, through the tree opened before and a new one.
    CHECK(old_rows.size() == 1);
    CHECK_FALSE(old_rows.contains(2));
    REQUIRE(old_rows.get(1));
    CHECK(old_rows.get(1)->value().name == "old");
    CHECK(old.open_tree<Row>().size() == 1);
    std::size_t seen = 0;
    for (const auto& row : old_rows) {
        CHECK(row.value().name == "old");
        ++seen;
    }
    CHECK(seen == 1);

    // A new reader sees the new state.
    auto fresh = store.begin_read();
    auto rows = fresh.open_tree<Row>();
    CHECK(rows.size() == 2);
    REQUIRE(rows.get(1));
    CHECK(rows.get(1)->value().name == "changed");
    CHECK(rows.contains(2));
}

TEST_CASE("transaction: readers do not block the writer", "[transaction]") {
    auto store = Store::temporary(fast);
    store.write([](WTxn& txn) { txn.open_tree<Row>().put(Row{1, "one"}); });

    std::optional<RTxn> held;  // open on this thread for the whole test
    held.emplace(reader{store});
    REQUIRE(held->open_tree<Row>().size() == 1);

    // A reader open on another thread too, until told to stop.
    std::promise<void> other_open, release_other;
    std::thread other([&, release = release_other.get_future()]() mutable {
        auto r = store.begin_read();
        auto n = r.open_tree<Row>().size();
        other_open.set_value();
        release.wait();
        (void)n;
    });
    other_open.get_future().wait();

    // 50 commits while both readers stay open: the readers are released only after the writer
    // has finished, so a writer that waited for them would never finish (the watchdog then
    // fails the test instead of letting it hang).
    netabase_test::watchdog guard(std::chrono::seconds(90), "a writer beside two open readers");
    std::thread writer([&] {
        for (std::uint64_t i = 2; i < 52; ++i) store.write([&](WTxn& txn) { txn.open_tree<Row>().put(Row{i, "w"}); });
    });
    writer.join();

    CHECK(held->open_tree<Row>().size() == 1);  // the readers keep their snapshot
    CHECK(row_count(store) == 51);
    release_other.set_value();
    held.reset();
    other.join();
    CHECK(row_count(store) == 51);
}

TEST_CASE("transaction: a second writer on another thread waits for the first", "[transaction]") {
    auto store = Store::temporary();
    netabase_test::watchdog guard(std::chrono::seconds(90), "the second writer");
    std::atomic<pid_t> second_tid{0};
    std::atomic<bool> second_began{false};
    std::optional<std::size_t> seen_by_second;

    auto first = store.begin_write();
    first.open_tree<Row>().put(Row{1, "first"});
    // LMDB's writer lock is a process-shared mutex in the lock file, which this process maps.
    const auto lock_file = netabase_test::mapping_of(::getpid(), store.path() / "lock.mdb");
    REQUIRE_FALSE(lock_file.empty());

    std::thread second([&] {
        second_tid = netabase_test::this_tid();
        auto txn = store.begin_write();  // blocks until `first` ends
        second_began = true;
        auto rows = txn.open_tree<Row>();
        seen_by_second = rows.size();
        rows.put(Row{2, "second"});
        txn.commit();
    });
    while (second_tid.load() == 0) std::this_thread::yield();

    // Proof that it waits, not a pause: the second thread is seen stopped in futex() on a word
    // of the lock file (LMDB's writer mutex), and has not got past begin_write. A second
    // begin_write that did not wait would set second_began and end the wait at once.
    std::string state;
    const bool blocked = netabase_test::wait_until_blocked_on_futex_in(
        ::getpid(), second_tid.load(), lock_file, [&] { return second_began.load(); }, &state);
    INFO("the second thread's /proc/.../syscall: " << state);
    CHECK(blocked);
    CHECK_FALSE(second_began.load());

    // The first writer goes on writing meanwhile, and the second still waits.
    first.open_tree<Row>().put(Row{3, "first again"});
    CHECK(netabase_test::wait_until_blocked_on_futex_in(
        ::getpid(), second_tid.load(), lock_file, [&] { return second_began.load(); }, &state));
    CHECK_FALSE(second_began.load());
    first.commit();
    second.join();

    REQUIRE(seen_by_second);
    CHECK(*seen_by_second == 2);  // it began after the first writer's commit, and sees both rows
    CHECK(row_count(store) == 3);
}

TEST_CASE("transaction: a second begin_write on the same thread throws busy", "[transaction]") {
    auto store = Store::temporary();
    auto txn = store.begin_write();
    txn.open_tree<Row>().put(Row{1, "one"});

    SECTION("begin_write") {
        expect_code([&] { auto again = store.begin_write(); }, netabase::errc::busy);
    }
    SECTION("store.write") {
        bool ran = false;
        expect_code([&] { store.write([&](WTxn&) { ran = true; }); }, netabase::errc::busy);
        CHECK_FALSE(ran);
    }
    SECTION("with_write_transaction through a copy of the Store") {
        Store copy = store;
        expect_code([&] { netabase::with_write_transaction(copy, [](WTxn&) {}); }, netabase::errc::busy);
    }

    // The first transaction is untouched by the refusal.
    REQUIRE(txn.is_open());
    txn.open_tree<Row>().put(Row{2, "two"});
    txn.commit();
    CHECK(row_count(store) == 2);
    // And once it ended, writing on this thread works again.
    store.write([](WTxn& w) { w.open_tree<Row>().put(Row{3, "three"}); });
    CHECK(row_count(store) == 3);
}

TEST_CASE("transaction: begin_write inside store.write throws busy and the outer write is unharmed",
          "[transaction]") {
    auto store = Store::temporary();
    auto r = store.write([&](WTxn& txn) {
        txn.open_tree<Row>().put(Row{1, "outer"});
        try {
            auto inner = store.begin_write();
            return std::string("no error");
        } catch (const netabase::error& e) {
            return std::string(e.code() == netabase::errc::busy ? "busy" : "other");
        }
    });
    CHECK(r == "busy");
    CHECK(has_row(store, 1));
}

TEST_CASE("transaction: several read transactions open on one thread", "[transaction]") {
    auto store = Store::temporary();
    store.write([](WTxn& txn) { txn.open_tree<Row>().put(Row{1, "one"}); });

    auto r1 = store.begin_read();
    auto r2 = store.begin_read();
    CHECK(r1.open_tree<Row>().size() == 1);
    CHECK(r2.open_tree<Row>().size() == 1);

    store.write([](WTxn& txn) { txn.open_tree<Row>().put(Row{2, "two"}); });
    auto r3 = store.begin_read();
    CHECK(r1.open_tree<Row>().size() == 1);
    CHECK(r2.open_tree<Row>().size() == 1);
    CHECK(r3.open_tree<Row>().size() == 2);

    // Guards from different transactions stay valid side by side.
    auto g1 = r1.open_tree<Row>().get(1);
    auto g3 = r3.open_tree<Row>().get(2);
    REQUIRE(g1);
    REQUIRE(g3);
    r2.abort();
    CHECK(g1->value().name == "one");
    CHECK(g3->value().name == "two");

    // Many at once, then all ended, then again (transactions are reused).
    for (int round = 0; round < 3; ++round) {
        std::list<RTxn> many;
        for (int i = 0; i < 40; ++i) many.emplace_back(reader{store});
        for (auto& r : many) CHECK(r.open_tree<Row>().size() == 2);
    }
    CHECK(r1.open_tree<Row>().size() == 1);
}

TEST_CASE("transaction: readers on 4 threads always see whole commits", "[transaction][threads]") {
    auto store = Store::temporary(fast);
    constexpr int commits = 200;
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::atomic<long> reads{0};
    std::atomic<int> errors{0};

    std::atomic<std::size_t> committed{0};  // commits that have returned
    auto read_loop = [&] {
        try {
            while (!stop.load()) {
                const std::size_t floor = committed.load();
                store.read([&](RTxn& txn) {
                    auto rows = txn.open_tree<Row>();
                    auto items = txn.open_tree<Item>();
                    const std::size_t n = rows.size();
                    if (n % 2 != 0) ++bad;
                    // A read begun after a commit returned sees it (or a later one). Not checked:
                    // that a thread's next snapshot is never older than its last. LMDB 0.9 does
                    // not promise it (mdb_txn_renew0 can take the meta page of a newer commit
                    // than the txnid it published; test_concurrency.cpp's check_snapshot says how).
                    if (n < 2 * floor) ++bad;
                    if (items.size() != n) ++bad;  // both tables change in the same commit
                    if (items.index(&Item::group).count(7) != n) ++bad;
                    std::size_t walked = 0;
                    for (const auto& row : rows) {
                        (void)row;
                        ++walked;
                    }
                    if (walked != n) ++bad;
                    if (n > 0 && !rows.contains(n - 1)) ++bad;
                });
                ++reads;
            }
        } catch (...) {
            ++errors;
        }
    };

    std::vector<std::thread> readers;
    for (int i = 0; i < 4; ++i) readers.emplace_back(read_loop);

    std::thread writer([&] {
        try {
            for (int c = 0; c < commits; ++c) {
                auto base = static_cast<std::uint64_t>(2 * c);
                if (c % 2) {
                    store.write([&](WTxn& txn) {
                        auto rows = txn.open_tree<Row>();
                        auto items = txn.open_tree<Item>();
                        rows.put(Row{base, "a"});
                        items.put(Item{base, 7, "l" + std::to_string(base)});
                        rows.put(Row{base + 1, "b"});
                        items.put(Item{base + 1, 7, "l" + std::to_string(base + 1)});
                    });
                } else {
                    auto txn = store.begin_write();
                    auto rows = txn.open_tree<Row>();
                    auto items = txn.open_tree<Item>();
                    rows.put(Row{base, "a"});
                    items.put(Item{base, 7, "l" + std::to_string(base)});
                    rows.put(Row{base + 1, "b"});
                    items.put(Item{base + 1, 7, "l" + std::to_string(base + 1)});
                    txn.commit();
                }
                committed = static_cast<std::size_t>(c + 1);
            }
        } catch (...) {
            ++errors;
        }
    });
    writer.join();
    stop = true;
    for (auto& t : readers) t.join();

    CHECK(errors == 0);
    CHECK(bad == 0);
    CHECK(reads > 0);
    CHECK(row_count(store) == 2 * commits);
}

// ---- store.write / store.read -----------------------------------------------------------

TEST_CASE("transaction: store.write returns fn's value and commits", "[transaction]") {
    auto store = Store::temporary();
    int n = store.write([](WTxn& txn) {
        auto rows = txn.open_tree<Row>();
        rows.put(Row{1, "one"});
        rows.put(Row{2, "two"});
        return static_cast<int>(rows.size()) * 10;
    });
    CHECK(n == 20);
    CHECK(row_count(store) == 2);

    // A move-only result.
    std::unique_ptr<std::string> p = store.write([](WTxn& txn) {
        txn.open_tree<Row>().put(Row{3, "three"});
        return std::make_unique<std::string>("owned");
    });
    REQUIRE(p);
    CHECK(*p == "owned");
    CHECK(row_count(store) == 3);

    // A void fn.
    store.write([](WTxn& txn) { txn.open_tree<Row>().remove(1); });
    CHECK_FALSE(has_row(store, 1));

    // A mutable function object passed as an lvalue.
    int calls = 0;
    auto fn = [&calls](WTxn& txn) mutable {
        ++calls;
        txn.open_tree<Row>().put(Row{10, "ten"});
        return calls;
    };
    CHECK(store.write(fn) == 1);
    CHECK(calls == 1);
    CHECK(has_row(store, 10));
}

TEST_CASE("transaction: store.write aborts and rethrows when fn throws", "[transaction]") {
    auto store = Store::temporary();
    store.write([](WTxn& txn) { txn.open_tree<Row>().put(Row{1, "kept"}); });

    SECTION("a user exception keeps its type and message") {
        int runs = 0;
        try {
            store.write([&](WTxn& txn) {
                ++runs;
                auto rows = txn.open_tree<Row>();
                rows.put(Row{2, "lost"});
                rows.remove(1);
                txn.open_tree<Item>().put(Item{1, 1, "lost"});
                throw marker_error("boom");
            });
            FAIL("store.write swallowed the exception");
        } catch (const marker_error& e) {
            CHECK(std::string_view(e.what()) == "boom");
        }
        CHECK(runs == 1);
    }
    SECTION("a netabase::error from inside keeps its code") {
        store.write([](WTxn& txn) { txn.open_tree<Item>().put(Item{1, 1, "taken"}); });
        try {
            store.write([](WTxn& txn) {
                txn.open_tree<Row>().put(Row{2, "lost"});
                txn.open_tree<Item>().put(Item{2, 1, "taken"});  // unique violation
            });
            FAIL("the unique violation did not propagate");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::unique_violation);
        }
        store.read([](RTxn& txn) { CHECK(txn.open_tree<Item>().size() == 1); });
    }
    SECTION("with_write_transaction does the same") {
        CHECK_THROWS_AS(netabase::with_write_transaction(store,
                                                         [](WTxn& txn) {
                                                             txn.open_tree<Row>().put(Row{2, "lost"});
                                                             throw marker_error("boom");
                                                         }),
                        marker_error);
    }

    // Nothing of the failed write is visible, and the store takes the next write.
    store.read([](RTxn& txn) {
        auto rows = txn.open_tree<Row>();
        CHECK(rows.size() == 1);
        CHECK(rows.contains(1));
        CHECK_FALSE(rows.contains(2));
    });
    store.write([](WTxn& txn) { txn.open_tree<Row>().put(Row{3, "next"}); });
    CHECK(row_count(store) == 2);
}

TEST_CASE("transaction: store.read returns fn's value", "[transaction]") {
    auto store = Store::temporary();
    store.write([](WTxn& txn) {
        auto rows = txn.open_tree<Row>();
        for (std::uint64_t i = 0; i < 5; ++i) rows.put(Row{i, "r" + std::to_string(i)});
    });
    const Store& cstore = store;
    std::vector<std::string> names = cstore.read([](RTxn& txn) {
        std::vector<std::string> out;
        for (const auto& row : txn.open_tree<Row>()) out.push_back(row.value().name);
        return out;
    });
    CHECK(names == std::vector<std::string>{"r0", "r1", "r2", "r3", "r4"});

    auto last = store.read([](RTxn& txn) { return txn.open_tree<Row>().last()->value(); });
    CHECK(last.id == 4);

    // An exception from a read fn propagates, and the read transaction is released.
    CHECK_THROWS_AS(store.read([](RTxn&) -> int { throw marker_error("read"); }), marker_error);
    CHECK(row_count(store) == 5);
}

TEST_CASE("transaction: with_write_transaction and with_read_transaction", "[transaction]") {
    auto store = Store::temporary();
    auto n = netabase::with_write_transaction(store, [](WTxn& txn) {
        auto rows = txn.open_tree<Row>();
        rows.put(Row{1, "one"});
        rows.put(Row{2, "two"});
        return rows.size();
    });
    CHECK(n == 2);
    CHECK(row_count(store) == 2);

    auto name = netabase::with_read_transaction(store, [](RTxn& txn) { return txn.open_tree<Row>().get(2)->value().name; });
    CHECK(name == "two");

    const Store& cstore = store;
    CHECK(netabase::with_read_transaction(cstore, [](RTxn& txn) { return txn.open_tree<Row>().size(); }) == 2);

    netabase::with_write_transaction(store, [](WTxn& txn) {
        txn.open_tree<Row>().put(Row{3, "three"});
        txn.commit();
    });
    CHECK(row_count(store) == 3);
}

TEST_CASE("transaction: fn may end the transaction itself inside store.write", "[transaction]") {
    auto store = Store::temporary();

    SECTION("an early commit is kept and the result returned") {
        int r = store.write([](WTxn& txn) {
            txn.open_tree<Row>().put(Row{1, "early"});
            txn.commit();
            CHECK_FALSE(txn.is_open());
            return 42;
        });
        CHECK(r == 42);
        CHECK(has_row(store, 1));
    }
    SECTION("an early commit, then an exception: the commit stands") {
        CHECK_THROWS_AS(store.write([](WTxn& txn) {
            txn.open_tree<Row>().put(Row{1, "early"});
            txn.commit();
            throw marker_error("after commit");
        }),
                        marker_error);
        CHECK(has_row(store, 1));
    }
    SECTION("an early abort discards and store.write returns normally") {
        std::string r = store.write([](WTxn& txn) {
            txn.open_tree<Row>().put(Row{1, "aborted"});
            txn.abort();
            return std::string("done");
        });
        CHECK(r == "done");
        CHECK_FALSE(has_row(store, 1));
    }
    // In every case the write lock is free again.
    auto txn = store.begin_write();
    txn.open_tree<Row>().put(Row{2, "after"});
    txn.commit();
    CHECK(has_row(store, 2));
}

TEST_CASE("transaction: a write transaction reads its own uncommitted changes through indexes",
          "[transaction]") {
    auto store = Store::temporary();
    auto txn = store.begin_write();
    auto items = txn.open_tree<Item>();
    items.put(Item{1, 3, "a"});
    items.put(Item{2, 3, "b"});
    CHECK(items.index(&Item::group).count(3) == 2);
    REQUIRE(items.index(&Item::label).get("b"));
    CHECK(items.index(&Item::label).get("b")->key() == 2);

    // A concurrent reader sees none of it.
    auto r = store.begin_read();
    CHECK(r.open_tree<Item>().index(&Item::group).count(3) == 0);
    txn.commit();
    CHECK(r.open_tree<Item>().index(&Item::group).count(3) == 0);
    r.abort();
    store.read([](RTxn& rt) { CHECK(rt.open_tree<Item>().index(&Item::group).count(3) == 2); });
}

}  // namespace txn_test
