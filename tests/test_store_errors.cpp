// Store, transaction and stats calls that can never succeed with their arguments, and the
// in-process schema change a transaction must notice: each is refused with the errc the API
// documents and a message naming the store, table or directory, and the store is as it was.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "errors.hpp"
#include "support.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace store_errors_test {

namespace fs = std::filesystem;

struct Item {
    std::uint64_t id;
    std::string name;
    std::string email;
    std::uint32_t group;
};

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items").primary_key(&Item::id).secondary_key(&Item::email, netabase::unique);
}

// The same table as a newer program declares it: one more index.
struct ItemV2 {
    std::uint64_t id;
    std::string name;
    std::string email;
    std::uint32_t group;
};

constexpr auto netabase_model(netabase::tag<ItemV2>) {
    return netabase::model<ItemV2>("items")
        .primary_key(&ItemV2::id)
        .secondary_key(&ItemV2::email, netabase::unique)
        .secondary_key(&ItemV2::group);
}

struct Extra {
    std::uint64_t id;
};

using S = netabase::definition<Item>;
using SV2 = netabase::definition<ItemV2>;
using SExtra = netabase::definition<Extra>;

using netabase_test::error_of;

using netabase_test::has;

std::vector<std::uint64_t> ids(const netabase::Store<S>& store) {
    return store.read([](auto& txn) {
        std::vector<std::uint64_t> v;
        for (const auto& g : txn.template open_tree<Item>().all()) v.push_back(g.value().id);
        return v;
    });
}

TEST_CASE("store errors: the change log's calls on a store without one are invalid_argument naming the store",
          "[store][errors]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path()};
    store.write([](auto& txn) { txn.template open_tree<Item>().put(Item{1, "a", "a@x", 0}); });
    auto e = error_of([&] { (void)store.trim_changes(1); });
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.description() == "trim_changes: the store at " + dir.path().string() +
                                 " has no change log; open it with options{.change_log = true}");
    e = error_of([&] { store.read([](auto& txn) { (void)txn.changes_since(0); }); });
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.description() == "changes_since: the store at " + dir.path().string() +
                                 " has no change log; open it with options{.change_log = true}");
    CHECK(ids(store) == std::vector<std::uint64_t>{1});
}

TEST_CASE("store errors: trim_changes drops only whole commits up to the sequence, and nothing twice",
          "[store][errors]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), netabase::options{.change_log = true}};
    store.write([](auto& txn) { txn.template open_tree<Item>().put(Item{1, "a", "a@x", 0}); });  // seq 1
    store.write([](auto& txn) {  // seq 2, 3, 4: one commit
        auto t = txn.template open_tree<Item>();
        t.put(Item{2, "b", "b@x", 0});
        t.put(Item{3, "c", "c@x", 0});
        t.put(Item{4, "d", "d@x", 0});
    });
    auto seqs = [&] {
        return store.read([](auto& txn) {
            std::vector<std::uint64_t> v;
            for (const auto& c : txn.changes_since(0)) v.push_back(c.sequence);
            return v;
        });
    };
    REQUIRE(seqs() == std::vector<std::uint64_t>{1, 2, 3, 4});
    CHECK(store.trim_changes(0) == 0);
    CHECK(store.trim_changes(1) == 1);
    CHECK(seqs() == std::vector<std::uint64_t>{2, 3, 4});
    CHECK(store.trim_changes(1) == 0);  // already trimmed
    // Up to 3, inside the second commit: the commit stays, its entries up to 3 are hidden.
    CHECK(store.trim_changes(3) == 2);
    CHECK(seqs() == std::vector<std::uint64_t>{4});
    CHECK(store.trim_changes(3) == 0);
    // Past the last sequence given out: up to the last one only; later commits are not hidden.
    CHECK(store.trim_changes(100) == 1);
    CHECK(seqs().empty());
    store.write([](auto& txn) { txn.template open_tree<Item>().put(Item{5, "e", "e@x", 0}); });
    CHECK(seqs() == std::vector<std::uint64_t>{5});
    CHECK(ids(store) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
}

TEST_CASE("store errors: rebuild_index of a field that is no secondary key is invalid_argument naming the table",
          "[store][errors]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path()};
    store.write([](auto& txn) { txn.template open_tree<Item>().put(Item{1, "a", "a@x", 0}); });
    // &Item::name has the type of the indexed &Item::email, but is not it.
    auto e = error_of([&] { store.rebuild_index<Item>(&Item::name); });
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.description() == "rebuild_index: the key is not a secondary key of table 'items'");
    e = error_of([&] { store.rebuild_index<Item>(&Item::group); });
    CHECK(e.description() == "rebuild_index: the key is not a secondary key of table 'items'");
    store.rebuild_index<Item>(&Item::email);
    CHECK(store.read([](auto& txn) { return txn.template open_tree<Item>().index(&Item::email).get("a@x").has_value(); }));
    CHECK(store.verify().ok());
}

TEST_CASE("store errors: backup into a directory that holds a store, or that cannot be made, is refused",
          "[store][errors]") {
    netabase_test::temp_dir dir, other;
    netabase::Store<S> store{dir.path()};
    store.write([](auto& txn) { txn.template open_tree<Item>().put(Item{1, "a", "a@x", 0}); });
    {
        netabase::Store<S> there{other.path()};
        there.write([](auto& txn) { txn.template open_tree<Item>().put(Item{9, "z", "z@x", 0}); });
    }
    auto e = error_of([&] { store.backup(other.path()); });
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.description() == "backup: " + other.path().string() +
                                 " already holds a store (data.mdb); back up into a new directory");
    {  // the store that was there is untouched
        netabase::Store<S> there{other.path()};
        CHECK(ids(there) == std::vector<std::uint64_t>{9});
    }
    // A path under a regular file cannot be made a directory.
    const fs::path file = other / "a-file";
    std::ofstream(file) << "x";
    e = error_of([&] { store.backup(file / "sub"); });
    CHECK(e.code() == std::errc::not_a_directory);
    CHECK(e.description() == "backup: cannot create " + (file / "sub").string());
    CHECK_FALSE(fs::exists(file / "sub"));
    CHECK(ids(store) == std::vector<std::uint64_t>{1});
}

TEST_CASE("store errors: a temporary store where no directory can be made is an error with errno",
          "[store][errors]") {
    const char* old = std::getenv("TMPDIR");
    const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
    // /proc is a directory in which nobody, root included, can make one.
    REQUIRE(::setenv("TMPDIR", "/proc", 1) == 0);
    std::optional<netabase::error> e;
    try {
        (void)netabase::Store<S>::temporary();
    } catch (const netabase::error& x) {
        e = x;
    }
    if (saved)
        ::setenv("TMPDIR", saved->c_str(), 1);
    else
        ::unsetenv("TMPDIR");
    REQUIRE(e.has_value());
    CHECK(e->code().category() == std::generic_category());
    CHECK(e->code().value() != 0);
    CHECK(e->description() == "cannot create a temporary directory");
}

TEST_CASE("store errors: a watcher with watch_capacity 0 holds one change and reports the others as missed",
          "[store][errors][watch]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), netabase::options{.watch_capacity = 0}};
    auto w = store.watch<Item>();
    for (std::uint64_t id = 1; id <= 3; ++id)
        store.write([&](auto& txn) { txn.template open_tree<Item>().put(Item{id, "n", "e" + std::to_string(id), 0}); });
    auto first = w.try_next();
    REQUIRE(first.has_value());
    CHECK(first->key == 1);
    auto e = error_of([&] { (void)w.try_next(); });
    CHECK(e.code() == netabase::errc::watch_overflow);
    CHECK(e.table() == "items");
    CHECK(has(e.description(), "missed 2 changes (it holds 1;"));
    CHECK_FALSE(w.try_next().has_value());
}

TEST_CASE("store errors: a transaction of a store whose table another Store in this process changed gets "
          "schema_changed, and ends", "[store][errors][schema]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> old{dir.path()};
    old.write([](auto& txn) { txn.template open_tree<Item>().put(Item{1, "a", "a@x", 7}); });
    {
        // Another table only: the old program's table is as it was, its transactions go on.
        netabase::Store<SExtra> extra{dir.path()};
        extra.write([](auto& txn) { txn.template open_tree<Extra>().put(Extra{5}); });
    }
    CHECK(ids(old) == std::vector<std::uint64_t>{1});
    old.write([](auto& txn) { txn.template open_tree<Item>().put(Item{2, "b", "b@x", 7}); });
    {
        netabase::Store<SV2> newer{dir.path()};  // adds an index to "items"
        CHECK(newer.read([](auto& txn) { return txn.template open_tree<ItemV2>().index(&ItemV2::group).count(7); }) == 2);
    }
    auto e = error_of([&] { (void)ids(old); });
    CHECK(e.code() == netabase::errc::schema_changed);
    CHECK(e.table() == "items");
    CHECK(has(e.what(), "items"));
    e = error_of([&] { old.write([](auto& txn) { txn.template open_tree<Item>().put(Item{3, "c", "c@x", 7}); }); });
    CHECK(e.code() == netabase::errc::schema_changed);
    // The refused transactions ended: the newer program reads and writes, and row 3 is not there.
    netabase::Store<SV2> newer{dir.path()};
    newer.write([](auto& txn) { txn.template open_tree<ItemV2>().put(ItemV2{4, "d", "d@x", 7}); });
    CHECK(newer.read([](auto& txn) { return txn.template open_tree<ItemV2>().index(&ItemV2::group).count(7); }) == 3);
    CHECK(newer.verify().ok());
}

}  // namespace store_errors_test
