// Misuse of a scan (netabase::Rows) that must be a clear error naming the table and index, not
// undefined behaviour: page(0), position() of an iterator at its end, after() once the
// transaction is over.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "errors.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace rows_misuse {

struct Item {
    std::uint64_t id;
    std::uint32_t group;
    std::string name;
};

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items").primary_key(&Item::id).secondary_key(&Item::group);
}

}  // namespace rows_misuse

namespace {

using netabase_test::error_of;
using rows_misuse::Item;
using Store = netabase::Store<netabase::definition<Item>>;

Store seeded() {
    auto store = Store::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Item>();
        for (std::uint64_t id = 1; id <= 5; ++id) t.put(Item{id, static_cast<std::uint32_t>(id % 2), "n"});
    });
    return store;
}

// The error e must be invalid_argument and name the table and, for an index scan, the index.
void check_names(const netabase::error& e, bool on_index) {
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.table() == "items");
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("items"));
    if (on_index) {
        CHECK_FALSE(e.index().empty());
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(std::string(e.index())));
    } else {
        CHECK(e.index().empty());
    }
}

}  // namespace

TEST_CASE("rows misuse: page(0) is invalid_argument naming the table or index", "[pagination][misuse]") {
    auto store = seeded();
    auto txn = store.begin_read();
    auto t = txn.open_tree<Item>();
    const netabase::error on_table = error_of([&] { (void)t.all().page(0); });
    check_names(on_table, false);
    CHECK_THAT(std::string(on_table.what()), Catch::Matchers::Contains("page(0)"));
    check_names(error_of([&] { (void)t.index(&Item::group).equal_range(1).page(0); }), true);
    CHECK(t.all().page(1).rows.size() == 1);  // the scan itself is still usable
}

TEST_CASE("rows misuse: position() of an iterator at its end is invalid_argument", "[pagination][misuse]") {
    auto store = seeded();
    auto txn = store.begin_read();
    auto t = txn.open_tree<Item>();
    {
        auto rows = t.all();
        auto it = rows.begin();
        for (int i = 0; i < 5; ++i) {
            REQUIRE(it != rows.end());
            CHECK_NOTHROW(it.position());
            ++it;
        }
        REQUIRE(it == rows.end());
        check_names(error_of([&] { (void)it.position(); }), false);
    }
    {
        auto rows = t.index(&Item::group).equal_range(7);  // no such group: at its end at once
        auto it = rows.begin();
        REQUIRE(it == rows.end());
        check_names(error_of([&] { (void)it.position(); }), true);
    }
}
