// A commit that fails on a store with a change log and a watcher (the LMDB seam of
// detail/calls.hpp fails each call commit() makes, in turn): writing the log's entries or
// committing fails with the injected code, nothing of the transaction is in the store or the
// log, the watcher is told nothing, and the next commit is logged and delivered once. A full map
// there is map_full, which store.write() grows and retries: the watcher still sees each change once.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "support.hpp"

#include <lmdb.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace commit_faults_test {

struct Item {
    std::uint64_t id;
    std::string v;
};

constexpr auto netabase_model(netabase::tag<Item>) { return netabase::model<Item>("items").primary_key(&Item::id); }

using S = netabase::definition<Item>;
using Store = netabase::Store<S>;

// Counts and fails only the calls of the thread that made it: the store's change-log follower
// thread (detail/changes.hpp) makes LMDB calls of its own at times of its own.
struct this_thread_seam : netabase::detail::lmdb_seam {
    std::thread::id owner = std::this_thread::get_id();
    int before(netabase::detail::call c) override {
        if (std::this_thread::get_id() != owner) return 0;
        return lmdb_seam::before(c);
    }
};

struct seam_guard {  // uninstalls the seam however the test ends
    explicit seam_guard(netabase::detail::lmdb_seam* s) { netabase::detail::seam() = s; }
    ~seam_guard() { netabase::detail::seam() = nullptr; }
    seam_guard(const seam_guard&) = delete;
    seam_guard& operator=(const seam_guard&) = delete;
};

std::vector<std::uint64_t> logged(const Store& store) {
    return store.read([](auto& txn) {
        std::vector<std::uint64_t> v;
        for (const auto& c : txn.changes_since(0)) v.push_back(c.template key<Item>());
        return v;
    });
}

std::vector<std::uint64_t> rows(const Store& store) {
    return store.read([](auto& txn) {
        std::vector<std::uint64_t> v;
        for (const auto& g : txn.template open_tree<Item>().all()) v.push_back(g.value().id);
        return v;
    });
}

netabase::options logged_options() { return netabase::options{.map_size = std::size_t{1} << 20, .change_log = true}; }

// Sets up a watched, logged store and the LMDB calls of one commit: rows 1 and 2 committed and
// each delivered to the watcher, row 2's commit counted. Returns that count, the calls the
// tests fail in turn.
this_thread_seam calls_of_one_commit(Store& store, auto& watcher) {
    store.write([](auto& txn) { txn.template open_tree<Item>().put(Item{1, "one"}); });
    auto first = watcher.try_next();
    REQUIRE(first.has_value());
    REQUIRE(first->key == 1);
    this_thread_seam counter;
    {
        auto txn = store.begin_write();
        txn.open_tree<Item>().put(Item{2, "two"});
        seam_guard g(&counter);
        txn.commit();
    }
    auto second = watcher.try_next();
    REQUIRE(second.has_value());
    REQUIRE(second->key == 2);
    return counter;
}

TEST_CASE("commit faults: each failed call of a logged, watched commit leaves nothing and tells the watcher nothing",
          "[faults][changes][watch]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), logged_options()};
    auto w = store.watch<Item>();
    const auto counter = calls_of_one_commit(store, w);
    const std::size_t calls = counter.total;
    CHECK(counter.count(netabase::detail::call::txn_commit) == 1);
    CHECK(counter.count(netabase::detail::call::put) + counter.count(netabase::detail::call::cursor_put) >= 1);
    REQUIRE(calls >= 2);
    std::uint64_t next = 3;
    for (std::size_t n = 1; n <= calls; ++n) {
        for (int code : {EIO, MDB_MAP_FULL}) {
            INFO("call " << n << " of " << calls << " fails with " << ::mdb_strerror(code));
            const auto rows_before = rows(store);
            const auto log_before = logged(store);
            auto txn = store.begin_write();
            txn.open_tree<Item>().put(Item{next, "x"});
            this_thread_seam fail;
            fail.fail_at = n;
            fail.fail_with = code;
            try {
                seam_guard g(&fail);
                txn.commit();
                FAIL("committed");
            } catch (const netabase::error& e) {
                if (code == MDB_MAP_FULL)
                    CHECK(e.code() == netabase::errc::map_full);
                else
                    CHECK(e.code() == std::errc::io_error);
            }
            CHECK_FALSE(txn.is_open());
            CHECK(rows(store) == rows_before);
            CHECK(logged(store) == log_before);
            CHECK_FALSE(w.try_next().has_value());
        }
    }
    // Then a commit that works is logged and delivered once.
    store.write([&](auto& txn) { txn.template open_tree<Item>().put(Item{next, "ok"}); });
    auto c = w.try_next();
    REQUIRE(c.has_value());
    CHECK(c->key == next);
    CHECK_FALSE(w.try_next().has_value());
    CHECK(logged(store) == std::vector<std::uint64_t>{1, 2, next});
}

TEST_CASE("commit faults: a map full while writing the log or committing is retried by store.write, delivered once",
          "[faults][changes][watch]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), logged_options()};
    auto w = store.watch<Item>();
    const std::size_t calls = calls_of_one_commit(store, w).total;
    for (std::size_t n = 1; n <= calls; ++n) {
        INFO("call " << n << " of the commit fails with MDB_MAP_FULL");
        const std::uint64_t id = 100 + n;
        // fn runs again after the map grew: its first commit's n-th call fails, the second's not.
        this_thread_seam fail;
        fail.fail_at = n;
        fail.fail_with = MDB_MAP_FULL;
        const std::size_t map_before = store.map_size();
        int runs = 0;
        {
            seam_guard g(nullptr);
            store.write([&](auto& txn) {
                ++runs;
                txn.template open_tree<Item>().put(Item{id, "v"});
                if (runs == 1) netabase::detail::seam() = &fail;  // this commit's calls, counted from 1
            });
        }
        CHECK(runs == 2);
        CHECK(store.map_size() > map_before);
        auto c = w.try_next();
        REQUIRE(c.has_value());
        CHECK(c->key == id);
        CHECK_FALSE(w.try_next().has_value());
    }
    CHECK(rows(store).size() == 2 + calls);
    CHECK(logged(store).size() == 2 + calls);
    CHECK(store.verify().ok());
}

}  // namespace commit_faults_test
