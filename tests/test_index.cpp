// Secondary indexes: lookups, ordering, unique keys, and the stale-index regressions of the
// Rust backend (entries that outlived the value they were made from).
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace index_test {

// ---- models ------------------------------------------------------------------------------

struct User {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;
};

constexpr auto by_name_age = netabase::key<User>(
    "by_name_age", [](const User& u) { return std::tuple<std::string, std::uint32_t>{u.name, u.age}; });

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age)
        .secondary_key(by_name_age);
}

// A computed unique key: two different rows can compute the same handle.
struct Handle {
    std::uint64_t id;
    std::string first;
    std::string last;
};

constexpr auto full_handle =
    netabase::key<Handle>("full_handle", [](const Handle& h) { return h.first + "." + h.last; });

constexpr auto netabase_model(netabase::tag<Handle>) {
    return netabase::model<Handle>("handles").primary_key(&Handle::id).secondary_key(full_handle, netabase::unique);
}

// For the randomized model check.
struct Item {
    std::uint32_t id;
    std::string tag;
    std::uint32_t group;
    std::int32_t score;

    friend bool operator==(const Item&, const Item&) = default;
};

constexpr auto by_group_score = netabase::key<Item>(
    "by_group_score", [](const Item& i) { return std::tuple<std::uint32_t, std::int32_t>{i.group, i.score}; });

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items")
        .primary_key(&Item::id)
        .secondary_key(&Item::tag, netabase::unique)
        .secondary_key(&Item::group)
        .secondary_key(by_group_score);
}

using S = netabase::definition<User, Handle, Item>;
using Store = netabase::Store<S>;
using NameAge = std::tuple<std::string, std::uint32_t>;
using Ids = std::vector<std::uint64_t>;

// ---- helpers -----------------------------------------------------------------------------

inline bool has(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

inline netabase::options fast() { return netabase::options{.durability = netabase::durability::no_sync}; }

template <class R>
auto row_keys(R&& rows) {
    std::vector<typename std::ranges::range_value_t<R>::key_type> out;
    for (const auto& row : rows) out.push_back(row.key());
    return out;
}

// The primary keys of an index's rows, in the index's order (range-for over the Index).
template <class Ix>
Ids index_order(const Ix& ix) {
    Ids out;
    for (const auto& row : ix) out.push_back(row.key());
    return out;
}

// Six users; committed.
inline void seed(Store& store) {
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{1, "a@x", "Alice", 30});
        users.put(User{2, "b@x", "Bob", 25});
        users.put(User{3, "c@x", "Carol", 30});
        users.put(User{4, "d@x", "Dave", 40});
        users.put(User{5, "e@x", "Eve", 30});
        users.put(User{6, "f@x", "Bob", 20});
    });
}

// ---- replacing, removing, clearing: the stale-index regressions ----------------------------

template <class Tr>
void check_moved(const Tr& users) {
    CHECK(users.get_by_secondary_key(&User::email, "a@x").empty());
    CHECK(users.get_by_secondary_key(&User::email, "z@x") == Ids{1});
    CHECK_FALSE(users.index(&User::email).get("a@x").has_value());
    CHECK(users.index(&User::email).get("z@x")->value().name == "Alicia");
    CHECK(users.index(&User::email).size() == 2);

    auto age = users.index(&User::age);
    CHECK(age.count(30) == 0);
    CHECK(age.count(31) == 1);
    CHECK(age.primary_keys(31) == Ids{1});
    CHECK(age.primary_keys(25) == Ids{2});
    CHECK(row_keys(age.equal_range(30)).empty());
    CHECK(age.size() == 2);

    auto na = users.index(by_name_age);
    CHECK(na.count(NameAge{"Alice", 30}) == 0);
    CHECK(na.count(NameAge{"Alicia", 31}) == 1);
    CHECK(na.size() == 2);
    CHECK(index_order(na) == Ids{1, 2});
}

TEST_CASE("index: replacing a row moves its index entries", "[index][stale]") {
    netabase_test::temp_dir dir;
    {
        Store store{dir.path(), fast()};
        store.write([](netabase::WriteTransaction<S>& txn) {
            auto users = txn.open_tree<User>();
            users.put(User{1, "a@x", "Alice", 30});
            users.put(User{2, "b@x", "Bob", 25});
        });

        SECTION("by put") {
            store.write([](netabase::WriteTransaction<S>& txn) {
                auto users = txn.open_tree<User>();
                users.put(User{1, "z@x", "Alicia", 31});
                check_moved(users);
            });
        }
        SECTION("by update") {
            store.write([](netabase::WriteTransaction<S>& txn) {
                auto users = txn.open_tree<User>();
                CHECK(users.update(1, [](User& u) {
                    u.email = "z@x";
                    u.name = "Alicia";
                    u.age = 31;
                }));
                check_moved(users);
            });
        }
        SECTION("by put_many") {
            store.write([](netabase::WriteTransaction<S>& txn) {
                auto users = txn.open_tree<User>();
                std::vector<User> batch{{1, "z@x", "Alicia", 31}};
                CHECK(users.put_many(batch) == 1);
                check_moved(users);
            });
        }
        SECTION("in the same transaction as the first put") {
            store.write([](netabase::WriteTransaction<S>& txn) {
                auto users = txn.open_tree<User>();
                users.put(User{1, "q@x", "Q", 99});
                users.put(User{1, "z@x", "Alicia", 31});
                CHECK(users.index(&User::email).count("q@x") == 0);
                CHECK(users.index(&User::age).count(99) == 0);
                check_moved(users);
            });
        }
        auto r = store.begin_read();
        check_moved(r.open_tree<User>());
    }
    // and after reopening the files
    Store store{dir.path(), fast()};
    auto r = store.begin_read();
    check_moved(r.open_tree<User>());
}

TEST_CASE("index: remove and remove_many delete index entries", "[index][stale]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    seed(store);
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        CHECK(users.remove(3));
        CHECK_FALSE(users.index(&User::email).get("c@x").has_value());
        CHECK(users.index(&User::age).primary_keys(30) == Ids{1, 5});
        CHECK(users.index(by_name_age).count(NameAge{"Carol", 30}) == 0);
        CHECK(users.remove_many(Ids{1, 6, 42}) == 2);
    });
    auto r = store.begin_read();
    auto users = r.open_tree<User>();
    CHECK(users.size() == 3);
    auto email = users.index(&User::email);
    CHECK(email.size() == 3);
    CHECK(index_order(email) == Ids{2, 4, 5});
    for (const char* gone : {"a@x", "c@x", "f@x"}) {
        CHECK(email.count(gone) == 0);
        CHECK(users.get_by_secondary_key(&User::email, gone).empty());
    }
    auto age = users.index(&User::age);
    CHECK(age.size() == 3);
    CHECK(age.primary_keys(30) == Ids{5});
    CHECK(age.count(20) == 0);
    CHECK(index_order(age) == Ids{2, 5, 4});
    auto na = users.index(by_name_age);
    CHECK(na.size() == 3);
    CHECK(index_order(na) == Ids{2, 4, 5});
    CHECK(row_keys(na.range(NameAge{"Bob", 0}, NameAge{"Bob", 1000})) == Ids{2});
}

TEST_CASE("index: clear empties the indexes too", "[index][stale]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    seed(store);
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.clear();
        CHECK(users.index(&User::email).size() == 0);
        CHECK(users.index(&User::age).empty());
    });
    {
        auto r = store.begin_read();
        auto users = r.open_tree<User>();
        CHECK(users.empty());
        CHECK(users.index(&User::email).size() == 0);
        CHECK(users.index(&User::age).size() == 0);
        CHECK(users.index(by_name_age).size() == 0);
        CHECK(users.index(&User::email).empty());
        CHECK(index_order(users.index(&User::age)).empty());
        CHECK(users.get_by_secondary_key(&User::age, 30).empty());
    }
    // the old unique keys are free again
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{10, "a@x", "New", 1});
    });
    auto r = store.begin_read();
    CHECK(r.open_tree<User>().index(&User::email).get("a@x")->key() == 10u);
}

// ---- unique keys ---------------------------------------------------------------------------

TEST_CASE("index: a unique violation throws and changes nothing", "[index][unique]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{1, "a@x", "Alice", 30});
        users.put(User{2, "b@x", "Bob", 25});
    });

    auto unchanged = [](const auto& users) {
        CHECK(users.size() == 2);
        User a = users.get(1)->value();
        User b = users.get(2)->value();
        CHECK((a.email == "a@x" && a.name == "Alice" && a.age == 30u));
        CHECK((b.email == "b@x" && b.name == "Bob" && b.age == 25u));
        auto email = users.index(&User::email);
        CHECK(email.size() == 2);
        CHECK(email.get("a@x")->key() == 1u);
        CHECK(email.get("b@x")->key() == 2u);
        auto age = users.index(&User::age);
        CHECK(age.size() == 2);
        CHECK(age.count(99) == 0);
        CHECK(age.primary_keys(25) == Ids{2});
        auto na = users.index(by_name_age);
        CHECK(na.size() == 2);
        CHECK(na.count(NameAge{"Mallory", 99}) == 0);
        CHECK(na.count(NameAge{"Bob", 25}) == 1);
    };

    auto txn = store.begin_write();
    auto users = txn.open_tree<User>();
    try {
        users.put(User{2, "a@x", "Mallory", 99});  // an existing row takes another's key
        FAIL("put did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::unique_violation);
        CHECK(e.table() == "users");
        CHECK(e.index() == "users/1");
        CHECK(has(e.what(), "users"));
        CHECK(has(e.what(), "users/1"));
        CHECK(has(e.what(), "a@x"));
    }
    unchanged(users);

    try {
        users.put(User{3, "a@x", "Mallory", 99});  // a new row
        FAIL("put did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::unique_violation);
    }
    CHECK_FALSE(users.contains(3));
    unchanged(users);

    REQUIRE_THROWS_AS(users.insert(User{3, "b@x", "Mallory", 99}), netabase::error);
    CHECK_FALSE(users.contains(3));
    unchanged(users);

    try {
        users.update(2, [](User& u) {
            u.email = "a@x";
            u.age = 99;
            u.name = "Mallory";
        });
        FAIL("update did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::unique_violation);
    }
    unchanged(users);

    users.put(User{3, "c@x", "Carol", 30});  // still usable
    txn.commit();

    auto r = store.begin_read();
    auto ru = r.open_tree<User>();
    CHECK(ru.size() == 3);
    CHECK(ru.index(&User::email).get("c@x")->key() == 3u);
    CHECK(ru.get(2)->value().email == "b@x");
    CHECK(ru.index(&User::email).get("a@x")->key() == 1u);
}

TEST_CASE("index: putting a row again with its own unique key is fine", "[index][unique]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{1, "a@x", "Alice", 30});
        users.put(User{1, "a@x", "Alice", 30});
        CHECK(users.insert(User{2, "b@x", "Bob", 25}));
    });
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{1, "a@x", "Alice", 30});
        users.put(User{1, "a@x", "Alice B.", 31});  // other fields change, the unique key stays
        CHECK(users.update(2, [](User& u) { u.age = 26; }));
        std::vector<User> batch{{1, "a@x", "Alice C.", 32}, {2, "b@x", "Bob", 27}};
        CHECK(users.put_many(batch) == 2);
    });
    auto r = store.begin_read();
    auto users = r.open_tree<User>();
    CHECK(users.size() == 2);
    auto email = users.index(&User::email);
    CHECK(email.size() == 2);
    CHECK(email.get("a@x")->value().name == "Alice C.");
    CHECK(email.get("b@x")->value().age == 27u);
    auto age = users.index(&User::age);
    CHECK(age.size() == 2);
    CHECK(index_order(age) == Ids{2, 1});
    CHECK(age.primary_keys(32) == Ids{1});
    CHECK(age.count(30) == 0);
    CHECK(age.count(31) == 0);
    CHECK(age.count(26) == 0);
    CHECK(users.index(by_name_age).size() == 2);
}

TEST_CASE("index: moving a unique key from one row to another in one transaction", "[index][unique]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{1, "a@x", "A", 1});
        users.put(User{2, "b@x", "B", 2});
        users.put(User{3, "c@x", "C", 3});
    });
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        // A gives up its key, then B takes it
        CHECK(users.update(1, [](User& u) { u.email = "z@x"; }));
        users.put(User{2, "a@x", "B", 2});
        // a swap through a temporary key
        users.put(User{3, "tmp@x", "C", 3});
        users.put(User{1, "c@x", "A", 1});
        users.put(User{3, "z@x", "C", 3});
        // a removed row's key is free
        CHECK(users.remove(3));
        CHECK(users.insert(User{4, "z@x", "D", 4}));
    });
    auto r = store.begin_read();
    auto users = r.open_tree<User>();
    auto email = users.index(&User::email);
    CHECK(email.size() == 3);
    CHECK(email.get("a@x")->key() == 2u);
    CHECK(email.get("c@x")->key() == 1u);
    CHECK(email.get("z@x")->key() == 4u);
    CHECK_FALSE(email.get("b@x").has_value());
    CHECK_FALSE(email.get("tmp@x").has_value());
    CHECK(index_order(email) == Ids{2, 1, 4});
}

// ---- lookups -------------------------------------------------------------------------------

TEST_CASE("index: get_by_secondary_key returns primary keys ascending", "[index]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    const Ids ids{300, 1, 256, 255, 7, 65536, std::uint64_t{1} << 33};
    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        for (auto id : ids) users.put(User{id, "u" + std::to_string(id), "Same", 40});
        users.put(User{2, "other", "Other", 41});
    });
    Ids sorted = ids;
    std::ranges::sort(sorted);
    auto r = store.begin_read();
    auto users = r.open_tree<User>();
    CHECK(users.get_by_secondary_key(&User::age, 40) == sorted);
    CHECK(users.get_by_secondary_key(&User::age, 41) == Ids{2});
    CHECK(users.get_by_secondary_key(&User::age, 42).empty());
    CHECK(users.get_by_secondary_key(by_name_age, NameAge{"Same", 40}) == sorted);
    CHECK(row_keys(users.index(&User::age).equal_range(40)) == sorted);
    // a unique index: exactly the one owner
    CHECK(users.get_by_secondary_key(&User::email, "u256") == Ids{256});
    CHECK(users.get_by_secondary_key(&User::email, "nobody").empty());
}

TEST_CASE("index: primary_keys on a unique index names only the key's row", "[index][unique]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    seed(store);
    auto r = store.begin_read();
    auto users = r.open_tree<User>();
    auto email = users.index(&User::email);
    CHECK(email.primary_keys("a@x") == Ids{1});
    CHECK(email.primary_keys("c@x") == Ids{3});
    CHECK(email.primary_keys("f@x") == Ids{6});
    CHECK(users.get_by_secondary_key(&User::email, "b@x") == Ids{2});
}

TEST_CASE("index: equal_range, range, count, get, size, primary_keys", "[index]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    {
        auto r = store.begin_read();
        auto users = r.open_tree<User>();
        CHECK(users.index(&User::age).empty());
        CHECK(users.index(&User::email).size() == 0);
        CHECK(row_keys(users.index(&User::age).equal_range(30)).empty());
        CHECK(index_order(users.index(&User::email)).empty());
    }
    seed(store);
    auto r = store.begin_read();
    auto users = r.open_tree<User>();

    auto age = users.index(&User::age);
    CHECK_FALSE(age.unique());
    CHECK(age.name() == "users/3");
    CHECK(age.size() == 6);
    CHECK_FALSE(age.empty());
    CHECK(row_keys(age.equal_range(30)) == Ids{1, 3, 5});
    CHECK(row_keys(age.equal_range(31)).empty());
    CHECK(row_keys(age.range(25, 40)) == Ids{2, 1, 3, 5});
    CHECK(row_keys(age.range(0, 1000)) == Ids{6, 2, 1, 3, 5, 4});
    CHECK(row_keys(age.range(30, 30)).empty());
    CHECK(row_keys(age.range(40, 20)).empty());
    CHECK(row_keys(age.range(41, 1000)).empty());
    CHECK(index_order(age) == Ids{6, 2, 1, 3, 5, 4});
    CHECK(age.count(30) == 3);
    CHECK(age.count(20) == 1);
    CHECK(age.count(99) == 0);
    CHECK(age.primary_keys(30) == Ids{1, 3, 5});
    CHECK(age.primary_keys(99).empty());
    for (const auto& row : age.equal_range(30)) CHECK(row.value().age == 30u);
    try {
        (void)age.get(30);
        FAIL("get on a non-unique index did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::invalid_argument);
        CHECK(e.table() == "users");
        CHECK(has(e.what(), "users/3"));
    }

    auto email = users.index(&User::email);
    CHECK(email.unique());
    CHECK(email.name() == "users/1");
    CHECK(email.size() == 6);
    auto c = email.get("c@x");
    REQUIRE(c.has_value());
    CHECK(c->key() == 3u);
    CHECK(c->value().name == "Carol");
    CHECK(c->table() == "users");
    CHECK_FALSE(email.get("zz@x").has_value());
    CHECK(email.get(std::string("e@x"))->value().name == "Eve");
    CHECK(email.count("c@x") == 1);
    CHECK(email.count("zz@x") == 0);
    CHECK(row_keys(email.equal_range("c@x")) == Ids{3});
    CHECK(row_keys(email.equal_range("c")).empty());  // a prefix is not a match
    CHECK(row_keys(email.range("b@x", "d@x")) == Ids{2, 3});
    CHECK(row_keys(email.range("b", "c")) == Ids{2});
    CHECK(index_order(email) == Ids{1, 2, 3, 4, 5, 6});

    // an oversize lookup finds nothing
    const std::string big(600, 'x');
    CHECK_FALSE(email.get(big).has_value());
    CHECK(email.count(big) == 0);
    CHECK(email.primary_keys(big).empty());
    CHECK(row_keys(email.equal_range(big)).empty());
    CHECK(users.get_by_secondary_key(&User::email, big).empty());
}

TEST_CASE("index: computed composite key (name, age)", "[index][computed]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    seed(store);
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{7, "g@x", "Bob", 25});
        users.put(User{8, "h@x", "Bo", 99});
        users.put(User{9, "i@x", "Bob", 4000000000u});
    });
    auto r = store.begin_read();
    auto users = r.open_tree<User>();
    auto na = users.index(by_name_age);
    CHECK(na.name() == "users/by_name_age");
    CHECK_FALSE(na.unique());
    CHECK(na.size() == 9);
    // (name, age, primary key): "Bo" before "Bob", ages numerically
    CHECK(index_order(na) == Ids{1, 8, 6, 2, 7, 9, 3, 4, 5});
    CHECK(row_keys(na.range(NameAge{"Bob", 0}, NameAge{"Bob", std::numeric_limits<std::uint32_t>::max()})) ==
          Ids{6, 2, 7, 9});
    CHECK(row_keys(na.range(NameAge{"Bo", 0}, NameAge{"Bo", 1000})) == Ids{8});
    CHECK(row_keys(na.range(NameAge{"B", 0}, NameAge{"C", 0})) == Ids{8, 6, 2, 7, 9});
    CHECK(row_keys(na.range(NameAge{"Bob", 21}, NameAge{"Carol", 30})) == Ids{2, 7, 9});
    CHECK(row_keys(na.equal_range(NameAge{"Bob", 25})) == Ids{2, 7});
    CHECK(na.count(NameAge{"Bob", 25}) == 2);
    CHECK(na.count(NameAge{"Bob", 20}) == 1);
    CHECK(na.count(NameAge{"Bob", 26}) == 0);
    CHECK(na.primary_keys(NameAge{"Bob", 25}) == Ids{2, 7});
    for (const auto& row : na.range(NameAge{"Bob", 0}, NameAge{"Bob", 30})) CHECK(row.value().name == "Bob");
    REQUIRE_THROWS_AS(na.get(NameAge{"Bob", 25}), netabase::error);
}

TEST_CASE("index: computed unique key", "[index][computed][unique]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto handles = txn.open_tree<Handle>();
        handles.put(Handle{1, "a.b", "c"});
        handles.put(Handle{3, "m", "n"});
    });
    {
        auto txn = store.begin_write();
        auto handles = txn.open_tree<Handle>();
        auto ix = handles.index(full_handle);
        CHECK(ix.unique());
        CHECK(ix.name() == "handles/full_handle");
        try {
            handles.put(Handle{2, "a", "b.c"});  // computes "a.b.c" too
            FAIL("put did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::unique_violation);
            CHECK(e.index() == "handles/full_handle");
            CHECK(has(e.what(), "handles/full_handle"));
            CHECK(has(e.what(), "a.b.c"));
        }
        CHECK_FALSE(handles.contains(2));
        CHECK(ix.size() == 2);
        // once row 1 computes something else, row 2 may take "a.b.c"
        CHECK(handles.update(1, [](Handle& h) { h.first = "x"; }));
        handles.put(Handle{2, "a", "b.c"});
        CHECK(ix.get("a.b.c")->key() == 2u);
        CHECK(ix.get("x.c")->key() == 1u);
        txn.commit();
    }
    auto r = store.begin_read();
    auto ix = r.open_tree<Handle>().index(full_handle);
    CHECK(ix.size() == 3);
    CHECK(index_order(ix) == Ids{2, 3, 1});  // "a.b.c" < "m.n" < "x.c"
    CHECK(ix.get("a.b.c")->value().last == "b.c");
    CHECK_FALSE(ix.get("a.b.c.").has_value());
    CHECK(ix.count("x.c") == 1);
    CHECK(row_keys(ix.range("a", "n")) == Ids{2, 3});
}

// ---- oversize secondary keys ---------------------------------------------------------------

TEST_CASE("index: an oversize secondary key is rejected and nothing is written", "[index][key_too_large]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{1, "a@x", "Alice", 30});
    });
    const std::string big(600, 'e');

    auto unchanged = [](const auto& users) {
        CHECK(users.size() == 1);
        User a = users.get(1)->value();
        CHECK(a.email == "a@x");
        CHECK(a.name == "Alice");
        CHECK(users.index(&User::email).size() == 1);
        CHECK(users.index(&User::age).size() == 1);
        CHECK(users.index(&User::age).count(1) == 0);
        CHECK(users.index(by_name_age).size() == 1);
        CHECK(users.index(&User::email).get("a@x")->key() == 1u);
    };

    auto txn = store.begin_write();
    auto users = txn.open_tree<User>();
    try {
        users.put(User{2, big, "N", 1});
        FAIL("put did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::key_too_large);
        CHECK(e.table() == "users");
        CHECK(e.index() == "users/1");
        CHECK(has(e.what(), "users/1"));
    }
    CHECK_FALSE(users.contains(2));
    unchanged(users);

    try {
        users.put(User{2, "ok@x", big, 1});  // the computed (name, age) key is oversize
        FAIL("put did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::key_too_large);
        CHECK(e.index() == "users/by_name_age");
        CHECK(has(e.what(), "users/by_name_age"));
    }
    CHECK_FALSE(users.contains(2));
    CHECK(users.index(&User::email).count("ok@x") == 0);
    unchanged(users);

    try {
        users.update(1, [&](User& u) {
            u.email = big;
            u.age = 1;
        });
        FAIL("update did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::key_too_large);
    }
    unchanged(users);

    std::vector<User> batch{{2, "b@x", "B", 1}, {3, big, "C", 1}, {4, "d@x", "D", 1}};
    REQUIRE_THROWS_AS(users.put_many(batch), netabase::error);
    CHECK_FALSE(users.contains(2));
    CHECK(users.index(&User::email).count("b@x") == 0);
    unchanged(users);

    users.put(User{5, "e@x", "Eve", 5});  // still usable
    txn.commit();

    auto r = store.begin_read();
    auto ru = r.open_tree<User>();
    CHECK(ru.size() == 2);
    CHECK(ru.index(&User::email).size() == 2);
    CHECK(ru.index(&User::age).size() == 2);
    CHECK(ru.index(&User::age).count(1) == 0);
}

// ---- randomized model check ----------------------------------------------------------------

namespace {

using Model = std::map<std::uint32_t, Item>;
using TagEntry = std::pair<std::string, std::uint32_t>;
using GroupEntry = std::pair<std::uint32_t, std::uint32_t>;
using GSKey = std::tuple<std::uint32_t, std::int32_t>;
using GSEntry = std::pair<GSKey, std::uint32_t>;

constexpr std::uint32_t id_space = 24;
constexpr std::uint32_t tag_space = 20;
constexpr std::uint32_t group_space = 4;
constexpr std::int32_t score_lo = -3, score_hi = 3;

std::string tag_name(std::uint32_t t) { return t == tag_space ? std::string() : "t" + std::to_string(t); }

bool conflicts(const Model& m, const Item& it) {
    for (const auto& [id, other] : m)
        if (id != it.id && other.tag == it.tag) return true;
    return false;
}

// Every index holds exactly the entries the model implies, and nothing else.
template <class Tr>
void verify(const Tr& items, const Model& m) {
    // the table
    REQUIRE(items.size() == m.size());
    {
        auto it = m.begin();
        for (const auto& row : items) {
            REQUIRE(it != m.end());
            REQUIRE(row.key() == it->first);
            REQUIRE(row.value() == it->second);
            ++it;
        }
        REQUIRE(it == m.end());
    }

    // unique index on tag
    std::vector<TagEntry> tags;
    std::vector<GroupEntry> groups;
    std::vector<GSEntry> gs;
    for (const auto& [id, it] : m) {
        tags.emplace_back(it.tag, id);
        groups.emplace_back(it.group, id);
        gs.emplace_back(GSKey{it.group, it.score}, id);
    }
    std::ranges::sort(tags);
    std::ranges::sort(groups);
    std::ranges::sort(gs);

    auto tag_ix = items.index(&Item::tag);
    REQUIRE(tag_ix.size() == m.size());
    std::vector<TagEntry> got_tags;
    for (const auto& row : tag_ix) got_tags.emplace_back(row.value().tag, row.key());
    REQUIRE(got_tags == tags);
    for (std::uint32_t t = 0; t <= tag_space; ++t) {
        const std::string name = tag_name(t);
        std::vector<std::uint32_t> want;
        for (const auto& [tag, id] : tags)
            if (tag == name) want.push_back(id);
        INFO("tag " << name);
        REQUIRE(tag_ix.count(name) == want.size());
        auto g = tag_ix.get(name);
        REQUIRE(g.has_value() == !want.empty());
        if (g) REQUIRE(g->key() == want.front());
        REQUIRE(row_keys(tag_ix.equal_range(name)) == want);
    }

    // non-unique index on group
    auto group_ix = items.index(&Item::group);
    REQUIRE(group_ix.size() == m.size());
    std::vector<GroupEntry> got_groups;
    for (const auto& row : group_ix) got_groups.emplace_back(row.value().group, row.key());
    REQUIRE(got_groups == groups);
    for (std::uint32_t g = 0; g <= group_space; ++g) {
        std::vector<std::uint32_t> want;
        for (const auto& [grp, id] : groups)
            if (grp == g) want.push_back(id);
        INFO("group " << g);
        REQUIRE(group_ix.count(g) == want.size());
        REQUIRE(group_ix.primary_keys(g) == want);
        REQUIRE(items.get_by_secondary_key(&Item::group, g) == want);
        REQUIRE(row_keys(group_ix.equal_range(g)) == want);
    }

    // computed non-unique index on (group, score)
    auto gs_ix = items.index(by_group_score);
    REQUIRE(gs_ix.size() == m.size());
    std::vector<GSEntry> got_gs;
    for (const auto& row : gs_ix) {
        Item v = row.value();
        got_gs.emplace_back(GSKey{v.group, v.score}, row.key());
    }
    REQUIRE(got_gs == gs);
    for (std::uint32_t g = 0; g < group_space; ++g)
        for (std::int32_t s = score_lo; s <= score_hi; ++s) {
            std::size_t want = 0;
            for (const auto& e : gs)
                if (e.first == GSKey{g, s}) ++want;
            REQUIRE(gs_ix.count(GSKey{g, s}) == want);
        }
}

}  // namespace

TEST_CASE("index: randomized operations keep every index equal to the model", "[index][random]") {
    netabase_test::temp_dir dir;
    std::mt19937 rng(20240601u);
    auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
    auto random_item = [&](std::uint32_t id) {
        // tags mostly from a small pool, so unique collisions are common; "" now and then
        std::uint32_t t = pick(tag_space + 1);
        return Item{id, tag_name(t), pick(group_space),
                    static_cast<std::int32_t>(pick(score_hi - score_lo + 1)) + score_lo};
    };

    Model model, committed;
    std::size_t ops = 0, violations = 0, aborts = 0;
    {
        Store store{dir.path(), fast()};
        for (int batch = 0; batch < 40; ++batch) {
            auto txn = store.begin_write();
            auto items = txn.open_tree<Item>();
            for (int step = 0; step < 50; ++step, ++ops) {
                const std::uint32_t op = pick(100);
                INFO("op #" << ops << " kind " << op);
                bool threw = false;
                std::error_code code;
                auto attempt = [&](auto&& fn) {
                    try {
                        fn();
                    } catch (const netabase::error& e) {
                        threw = true;
                        code = e.code();
                    }
                };
                if (op < 35) {  // put
                    Item it = random_item(pick(id_space));
                    const bool bad = conflicts(model, it);
                    attempt([&] { items.put(it); });
                    REQUIRE(threw == bad);
                    if (bad) {
                        REQUIRE(code == netabase::errc::unique_violation);
                        ++violations;
                    } else {
                        model[it.id] = it;
                    }
                } else if (op < 45) {  // insert
                    Item it = random_item(pick(id_space));
                    const bool exists = model.contains(it.id);
                    const bool bad = !exists && conflicts(model, it);
                    bool inserted = false;
                    attempt([&] { inserted = items.insert(it); });
                    REQUIRE(threw == bad);
                    if (!bad) REQUIRE(inserted == !exists);
                    if (!bad && !exists) model[it.id] = it;
                } else if (op < 60) {  // remove
                    const std::uint32_t id = pick(id_space);
                    const bool existed = model.erase(id) > 0;
                    REQUIRE(items.remove(id) == existed);
                } else if (op < 75) {  // update some fields
                    const std::uint32_t id = pick(id_space);
                    const Item fresh = random_item(id);
                    const std::uint32_t which = pick(3);
                    auto change = [&](Item& it) {
                        if (which == 0) it.tag = fresh.tag;
                        if (which == 1) it.group = fresh.group;
                        it.score = fresh.score;
                    };
                    auto found = model.find(id);
                    bool bad = false;
                    Item after{};
                    if (found != model.end()) {
                        after = found->second;
                        change(after);
                        bad = conflicts(model, after);
                    }
                    bool updated = false;
                    attempt([&] { updated = items.update(id, change); });
                    REQUIRE(threw == bad);
                    if (!bad) REQUIRE(updated == (found != model.end()));
                    if (updated) model[id] = after;
                } else if (op < 85) {  // put_many, sometimes ascending past the end
                    const std::uint32_t n = 1 + pick(4);
                    std::vector<Item> rows;
                    const bool append = pick(2) == 0;
                    std::uint32_t next = model.empty() ? 0 : model.rbegin()->first + 1;
                    for (std::uint32_t i = 0; i < n; ++i)
                        rows.push_back(random_item(append && next < id_space ? next++ : pick(id_space)));
                    Model trial = model;
                    bool bad = false;
                    for (const auto& it : rows) {
                        if (conflicts(trial, it)) {
                            bad = true;
                            break;
                        }
                        trial[it.id] = it;
                    }
                    std::size_t count = 0;
                    attempt([&] { count = items.put_many(rows); });
                    REQUIRE(threw == bad);
                    if (bad) {
                        REQUIRE(code == netabase::errc::unique_violation);
                        ++violations;
                    } else {
                        REQUIRE(count == rows.size());
                        model = std::move(trial);
                    }
                } else if (op < 93) {  // remove_many, duplicates allowed
                    std::vector<std::uint32_t> ks;
                    for (std::uint32_t i = 0, n = 1 + pick(4); i < n; ++i) ks.push_back(pick(id_space));
                    std::size_t want = 0;
                    for (auto k : ks) want += model.erase(k);
                    REQUIRE(items.remove_many(ks) == want);
                } else if (op < 99) {  // update that tries to change the primary key
                    const std::uint32_t id = pick(id_space);
                    bool updated = false;
                    attempt([&] { updated = items.update(id, [](Item& it) { it.id += id_space; }); });
                    REQUIRE(threw == model.contains(id));
                    if (threw) REQUIRE(code == netabase::errc::invalid_argument);
                    REQUIRE_FALSE(updated);
                } else if (pick(4) == 0) {  // clear, rarely
                    items.clear();
                    model.clear();
                }
                if (step % 25 == 24) verify(items, model);
            }
            if (pick(6) == 0) {
                txn.abort();
                model = committed;
                ++aborts;
            } else {
                txn.commit();
                committed = model;
            }
            if (batch % 8 == 7) {
                auto r = store.begin_read();
                verify(r.open_tree<Item>(), committed);
            }
        }
        auto r = store.begin_read();
        verify(r.open_tree<Item>(), committed);
    }
    // the checks above must have exercised the interesting paths
    CHECK(ops == 2000);
    CHECK(violations > 20);
    CHECK(aborts > 0);
    CHECK(committed.size() > 5);

    // and after reopening the files
    Store store{dir.path(), fast()};
    auto r = store.begin_read();
    verify(r.open_tree<Item>(), committed);
}

}  // namespace index_test
