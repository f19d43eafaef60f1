// store.stats() and store.backup(): sizes that agree with LMDB's own count, and hot copies
// that open as stores while a writer keeps committing.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "support.hpp"

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>

namespace stats_test {

struct Event {
    std::uint64_t id;
    std::uint32_t kind;
    std::string body;
};

constexpr auto netabase_model(netabase::tag<Event>) {
    return netabase::model<Event>("events").secondary_key(&Event::kind);
}

struct Tag {
    std::uint64_t id;
    std::string name;
};

constexpr auto netabase_model(netabase::tag<Tag>) {
    return netabase::model<Tag>("tags").secondary_key(&Tag::name, netabase::unique);
}

using Def = netabase::definition<Event, Tag>;

Event event(std::uint64_t i) { return Event{i, static_cast<std::uint32_t>(i % 7), std::string(100 + i % 50, 'e')}; }

}  // namespace stats_test

using namespace stats_test;
namespace fs = std::filesystem;

namespace {

void fill(netabase::Store<Def>& store, std::uint64_t from, std::uint64_t to) {
    store.write([&](auto& txn) {
        auto events = txn.template open_tree<Event>();
        for (std::uint64_t i = from; i < to; ++i) events.put(event(i));
        auto tags = txn.template open_tree<Tag>();
        for (std::uint64_t i = from; i < to && i < 50; ++i) tags.put(Tag{i, "tag" + std::to_string(i)});
    });
}

}  // namespace

TEST_CASE("stats: entries, pages and depth of every table and index, as LMDB counts them", "[stats]") {
    netabase_test::temp_dir dir;
    netabase::Store<Def> store{dir / "db"};
    fill(store, 0, 3000);
    netabase::store_stats s = store.stats();
    REQUIRE(s.tables.size() == 2);
    const auto& events = s.tables[0];
    const auto& tags = s.tables[1];
    CHECK(events.name == "events");
    CHECK(events.entries == 3000);
    CHECK(events.depth >= 2);  // 3000 rows of ~130 bytes do not fit one page
    CHECK(events.leaf_pages > 1);
    CHECK(events.bytes == (events.branch_pages + events.leaf_pages + events.overflow_pages) * s.page_size);
    REQUIRE(events.indexes.size() == 1);
    CHECK(events.indexes[0].name == "events/1");
    CHECK(events.indexes[0].entries == 3000);  // one per row: DUPSORT counts each duplicate
    CHECK(tags.name == "tags");
    CHECK(tags.entries == 50);
    REQUIRE(tags.indexes.size() == 1);
    CHECK(tags.indexes[0].entries == 50);
    CHECK(s.page_size == 4096);
    CHECK(s.map_size == store.map_size());
    // The file holds at least the pages in use; every table's pages are among them.
    CHECK(s.used_bytes <= fs::file_size(dir / "db" / "data.mdb"));
    std::uint64_t pages = events.bytes + events.indexes[0].bytes + tags.bytes + tags.indexes[0].bytes;
    CHECK(pages + s.free_bytes <= s.used_bytes);
    CHECK(s.free_bytes % s.page_size == 0);

    // Removing most rows frees pages, which the freelist then records.
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Event>();
        for (std::uint64_t i = 0; i < 2900; ++i) t.remove(i);
    });
    fill(store, 5000, 5001);  // a later commit: the pages freed above are now reusable
    netabase::store_stats after = store.stats();
    CHECK(after.tables[0].entries == 101);
    CHECK(after.tables[0].bytes < events.bytes);
    CHECK(after.free_bytes > s.free_bytes);
    CHECK(after.free_bytes >= (events.bytes - after.tables[0].bytes) / 2);
}

TEST_CASE("backup: a hot copy while a writer commits opens as a store with one committed state", "[stats]") {
    netabase_test::temp_dir dir;
    netabase::Store<Def> store{dir / "db"};
    fill(store, 0, 1000);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> committed{1000};
    std::thread writer([&] {
        for (std::uint64_t i = 1000; !stop.load() && i < 200000; i += 10) {
            fill(store, i, i + 10);  // rows arrive ten per commit, in order
            committed.store(i + 10);
        }
    });
    std::uint64_t before = committed.load();
    store.backup(dir / "copy");
    store.backup(dir / "compact", netabase::backup_options{.compact = true});
    std::uint64_t after = committed.load();
    stop.store(true);
    writer.join();
    for (const char* name : {"copy", "compact"}) {
        INFO(name);
        netabase::Store<Def> copy{dir / name};
        CHECK(copy.verify().ok());
        std::uint64_t n = copy.read([](auto& txn) { return txn.template open_tree<Event>().size(); });
        CHECK(n >= before);  // at least what was committed when backup() was called...
        CHECK(n <= after + 10);  // ...and no more than was committed when it returned
        CHECK(n % 10 == 0);  // whole commits only
        copy.read([&](auto& txn) {
            auto t = txn.template open_tree<Event>();
            for (std::uint64_t i = 0; i < n; i += 97) CHECK(t.get(i)->value().body == event(i).body);
            CHECK(!t.contains(n));
        });
    }
}

TEST_CASE("backup: compact leaves out free pages; an existing store is never overwritten", "[stats]") {
    netabase_test::temp_dir dir;
    netabase::Store<Def> store{dir / "db"};
    fill(store, 0, 4000);
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Event>();
        for (std::uint64_t i = 0; i < 3800; ++i) t.remove(i);
    });
    fill(store, 9000, 9001);
    REQUIRE(store.stats().free_bytes > 0);
    store.backup(dir / "plain");
    store.backup(dir / "compact", netabase::backup_options{.compact = true});
    auto plain = fs::file_size(dir / "plain" / "data.mdb"), compact = fs::file_size(dir / "compact" / "data.mdb");
    CHECK(compact < plain);
    {
        netabase::Store<Def> c{dir / "compact"};
        CHECK(c.read([](auto& txn) { return txn.template open_tree<Event>().size(); }) == 201);
        CHECK(c.verify().ok());
        CHECK(c.stats().free_bytes < store.stats().free_bytes);
    }
    try {
        store.backup(dir / "plain");
        FAIL("overwrote a store");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::invalid_argument);
        CHECK(std::string(e.what()).find("already holds a store") != std::string::npos);
    }
    CHECK(fs::file_size(dir / "plain" / "data.mdb") == plain);
}
