// A write transaction used, committed, aborted or destroyed on a thread other than the one that
// began it. LMDB's writer lock is a mutex of the beginning thread: before errc::wrong_thread, a
// commit on another thread "succeeded" and the next write on any thread hung for good. Every
// test runs under a watchdog, so a hang fails it instead of blocking the run. Catch2 assertions
// stay on the test's own thread; the other threads only record what happened.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace threads_misuse_test {

struct Row {
    std::uint64_t id;
    std::string name;  // unique
};
constexpr auto netabase_model(netabase::tag<Row>) {
    return netabase::model<Row>("misuse_rows").primary_key(&Row::id).secondary_key(&Row::name, netabase::unique);
}

using S = netabase::definition<Row>;
using Store = netabase::Store<S>;
using WTxn = netabase::WriteTransaction<S>;
using RTxn = netabase::ReadTransaction<S>;

const netabase::options fast{.durability = netabase::durability::no_sync};

std::string name_of(std::thread::id id) {
    std::ostringstream s;
    s << id;
    return s.str();
}

// What a call on another thread did.
struct outcome {
    bool returned = false;  // no exception
    bool netabase_error = false;
    std::error_code code;
    std::string what;
    std::string thread;  // the thread it ran on
};

outcome run(const std::function<void()>& f) {
    outcome o;
    o.thread = name_of(std::this_thread::get_id());
    try {
        f();
        o.returned = true;
    } catch (const netabase::error& e) {
        o.netabase_error = true;
        o.code = e.code();
        o.what = e.what();
    } catch (const std::exception& e) {
        o.what = e.what();
    }
    return o;
}

outcome on_other_thread(const std::function<void()>& f) {
    outcome o;
    std::thread t([&] { o = run(f); });
    t.join();
    return o;
}

bool has_row(const Store& store, std::uint64_t id) {
    return store.read([&](RTxn& txn) { return txn.open_tree<Row>().contains(id); });
}

// A write transaction on the heap, so that another thread can destroy it (WriteTransaction
// does not move; `new auto` takes begin_write's result in place).
std::unique_ptr<WTxn> heap_write(Store& store) { return std::unique_ptr<WTxn>(new auto(store.begin_write())); }

}  // namespace threads_misuse_test

using namespace threads_misuse_test;

TEST_CASE("threads: every operation of a write transaction on another thread throws wrong_thread, and its "
          "own thread still commits it",
          "[threads][misuse]") {
    netabase_test::watchdog guard(std::chrono::seconds(60), "write transaction used on another thread");
    auto store = Store::temporary(fast);
    const std::string owner = name_of(std::this_thread::get_id());

    auto txn = store.begin_write();
    auto rows = txn.open_tree<Row>();
    rows.put(Row{1, "one"});

    const std::vector<std::pair<const char*, std::function<void()>>> ops = {
        {"commit", [&] { txn.commit(); }},
        {"abort", [&] { txn.abort(); }},
        {"open_tree", [&] { (void)txn.open_tree<Row>(); }},
        {"put", [&] { rows.put(Row{9, "nine"}); }},
        {"insert", [&] { (void)rows.insert(Row{9, "nine"}); }},
        {"put_many", [&] { (void)rows.put_many(std::vector<Row>{Row{9, "nine"}}); }},
        {"update", [&] { (void)rows.update(1, [](Row& r) { r.name = "uno"; }); }},
        {"remove", [&] { (void)rows.remove(1); }},
        {"remove_many", [&] { (void)rows.remove_many(std::vector<std::uint64_t>{1}); }},
        {"clear", [&] { rows.clear(); }},
        {"get", [&] { (void)rows.get(1); }},
        {"contains", [&] { (void)rows.contains(1); }},
        {"size", [&] { (void)rows.size(); }},
        {"first", [&] { (void)rows.first(); }},
        {"iteration", [&] { for (const auto& r : rows) (void)r; }},
        {"index get", [&] { (void)rows.index(&Row::name).get("one"); }},
        {"index count", [&] { (void)rows.index(&Row::name).count("one"); }},
    };
    for (const auto& [name, op] : ops) {
        INFO("operation: " << name);
        outcome o = on_other_thread(op);
        REQUIRE(o.netabase_error);
        CHECK(o.code == netabase::errc::wrong_thread);
        CHECK(o.code == netabase::make_error_code(netabase::errc::wrong_thread));
        CHECK(o.what.find("begun on thread " + owner) != std::string::npos);
        CHECK(o.what.find("used on thread " + o.thread) != std::string::npos);
        CHECK(o.what.find("commit or abort it on thread " + owner) != std::string::npos);
        CHECK(o.what.find("wrong thread") != std::string::npos);  // errc's message
    }

    // Nothing the other thread tried touched the transaction: it goes on and commits here.
    REQUIRE(txn.is_open());
    rows.put(Row{2, "two"});
    txn.commit();
    CHECK(has_row(store, 1));
    CHECK(has_row(store, 2));
    CHECK_FALSE(has_row(store, 9));
    CHECK(store.verify().ok());
}

TEST_CASE("threads: after a commit refused on another thread, store.write on other threads does not hang",
          "[threads][misuse]") {
    netabase_test::watchdog guard(std::chrono::seconds(60), "store.write after a commit on another thread");
    auto store = Store::temporary(fast);
    {
        auto txn = store.begin_write();
        txn.open_tree<Row>().put(Row{1, "one"});
        outcome o = on_other_thread([&] { txn.commit(); });
        REQUIRE(o.netabase_error);
        CHECK(o.code == netabase::errc::wrong_thread);
        SECTION("the owner commits") { txn.commit(); }
        SECTION("the owner aborts") { txn.abort(); }
        SECTION("the owner lets it go out of scope") {}
    }
    // Writers on other threads, one after another, then one on this thread: none waits for a
    // lock left held.
    for (std::uint64_t id = 10; id < 13; ++id) {
        outcome o = on_other_thread(
            [&] { store.write([&](WTxn& w) { w.open_tree<Row>().put(Row{id, "r" + std::to_string(id)}); }); });
        INFO(o.what);
        CHECK(o.returned);
    }
    store.write([](WTxn& w) { w.open_tree<Row>().put(Row{20, "twenty"}); });
    CHECK(has_row(store, 20));
    CHECK(has_row(store, 12));
    CHECK(store.verify().ok());
}

TEST_CASE("threads: a write transaction destroyed on another thread is aborted by its own thread's next "
          "transaction; until then other threads' writes throw wrong_thread",
          "[threads][misuse]") {
    netabase_test::watchdog guard(std::chrono::seconds(60), "write transaction destroyed on another thread");
    auto store = Store::temporary(fast);
    const std::string owner = name_of(std::this_thread::get_id());
    auto txn = heap_write(store);
    txn->open_tree<Row>().put(Row{1, "one"});

    bool readable = false;
    bool row_seen = true;
    outcome write_there;
    outcome destroyed = on_other_thread([&] {
        txn.reset();  // the destructor on a foreign thread: no throw, no hang
        write_there = run([&] { store.write([](WTxn& w) { w.open_tree<Row>().put(Row{2, "two"}); }); });
        readable = true;  // reading is fine from any thread meanwhile
        row_seen = has_row(store, 1);
    });
    CHECK(destroyed.returned);
    REQUIRE(write_there.netabase_error);
    CHECK(write_there.code == netabase::errc::wrong_thread);
    INFO(write_there.what);
    CHECK(write_there.what.find("thread " + owner + " began was destroyed on thread " + destroyed.thread) !=
          std::string::npos);
    CHECK(readable);
    CHECK_FALSE(row_seen);

    SECTION("a read on the owning thread aborts it") { CHECK_FALSE(has_row(store, 1)); }
    SECTION("a write on the owning thread aborts it first") {
        store.write([](WTxn& w) { w.open_tree<Row>().put(Row{3, "three"}); });
        CHECK(has_row(store, 3));
    }
    // Now any thread writes again.
    outcome later = on_other_thread([&] { store.write([](WTxn& w) { w.open_tree<Row>().put(Row{4, "four"}); }); });
    INFO(later.what);
    CHECK(later.returned);
    CHECK(has_row(store, 4));
    CHECK_FALSE(has_row(store, 1));  // the orphan was aborted, not committed
    CHECK_FALSE(has_row(store, 2));
    CHECK(store.verify().ok());
}

TEST_CASE("threads: a write transaction destroyed on another thread is aborted when its own thread exits",
          "[threads][misuse]") {
    netabase_test::watchdog guard(std::chrono::seconds(60), "orphaned write transaction at thread exit");
    auto store = Store::temporary(fast);
    std::mutex mu;
    std::condition_variable cv;
    std::unique_ptr<WTxn> handed;
    bool destroyed = false;
    bool finished = false;
    outcome began;
    std::thread owner([&] {
        outcome o = run([&] {
            auto txn = heap_write(store);
            txn->open_tree<Row>().put(Row{1, "one"});
            std::unique_lock lock(mu);
            handed = std::move(txn);
            cv.notify_all();
            cv.wait(lock, [&] { return destroyed; });
        });
        std::lock_guard lock(mu);
        began = o;
        finished = true;
        cv.notify_all();
    });  // exits only after this thread destroyed its transaction
    {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return handed != nullptr || finished; });
    }
    REQUIRE(handed);
    handed.reset();  // here, not on the owner thread: an orphan
    outcome meanwhile = run([&] { store.write([](WTxn&) {}); });
    CHECK(meanwhile.code == netabase::errc::wrong_thread);
    {
        std::lock_guard lock(mu);
        destroyed = true;
    }
    cv.notify_all();
    owner.join();  // its exit aborts the orphan
    INFO(began.what);
    CHECK(began.returned);

    store.write([](WTxn& w) { w.open_tree<Row>().put(Row{2, "two"}); });
    CHECK(has_row(store, 2));
    CHECK_FALSE(has_row(store, 1));
    CHECK(store.verify().ok());
}

// Not named "threads: ...", so the tsan preset (which runs only those) does not run it, rather
// than the test skipping itself there: the abort unlocks LMDB's robust writer mutex from a thread
// that does not own it (glibc refuses, the next writer takes the lock over from the dead
// thread), and TSan reports that unlock. Every other build runs it.
TEST_CASE("misuse: a write transaction whose thread exited with it open is aborted where it is destroyed",
          "[threads][misuse]") {
    netabase_test::watchdog guard(std::chrono::seconds(60), "write transaction whose thread exited");
    auto store = Store::temporary(fast);
    std::unique_ptr<WTxn> txn;
    outcome began = on_other_thread([&] {
        txn = heap_write(store);
        txn->open_tree<Row>().put(Row{1, "one"});
    });  // that thread is gone; LMDB's writer lock is still its
    INFO(began.what);
    REQUIRE(began.returned);

    // Neither a hang nor LMDB's MDB_PANIC: a clear error, on any thread.
    outcome here = run([&] { store.write([](WTxn&) {}); });
    CHECK(here.code == netabase::errc::wrong_thread);
    CHECK(here.what.find("exited without ending it") != std::string::npos);
    outcome commit = run([&] { txn->commit(); });
    CHECK(commit.code == netabase::errc::wrong_thread);

    txn.reset();  // aborts it
    store.write([](WTxn& w) { w.open_tree<Row>().put(Row{2, "two"}); });
    outcome there = on_other_thread([&] { store.write([](WTxn& w) { w.open_tree<Row>().put(Row{3, "three"}); }); });
    CHECK(there.returned);
    CHECK_FALSE(has_row(store, 1));
    CHECK(has_row(store, 2));
    CHECK(has_row(store, 3));
    CHECK(store.verify().ok());
}

// (It ends on its own thread: a read transaction ended on another thread is counted out of that
// thread's open transactions, not of its own, which the map's resizing relies on.)
TEST_CASE("threads: read transactions still move between threads", "[threads][misuse]") {
    netabase_test::watchdog guard(std::chrono::seconds(60), "read transaction on another thread");
    auto store = Store::temporary(fast);
    store.write([](WTxn& w) { w.open_tree<Row>().put(Row{1, "one"}); });
    auto txn = store.begin_read();
    auto rows = txn.open_tree<Row>();
    std::size_t size = 0;
    bool found = false;
    outcome o = on_other_thread([&] {
        size = rows.size();
        found = rows.index(&Row::name).get("one").has_value();
    });
    INFO(o.what);
    CHECK(o.returned);
    CHECK(size == 1);
    CHECK(found);
    txn.commit();
    store.write([](WTxn& w) { w.open_tree<Row>().put(Row{2, "two"}); });
    CHECK(has_row(store, 2));
}
