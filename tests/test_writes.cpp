// Writes touch only what changed, counted through the LMDB call seam; and a write that fails
// inside LMDB (injected through the seam) poisons its transaction, leaves the store as it was,
// and leaves the store usable.

#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "seam_scope.hpp"
#include "support.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ranges>
#include <stdexcept>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace writes_test {

// ---- models -------------------------------------------------------------------------------

struct Item {
    std::uint64_t id;
    std::string name;     // unique secondary key
    std::uint32_t group;  // non-unique secondary key
    std::uint32_t score;  // feeds the computed key by_bucket (score / 10)
    std::string note;     // not indexed
};

inline bool operator==(const Item& a, const Item& b) {
    return std::tie(a.id, a.name, a.group, a.score, a.note) == std::tie(b.id, b.name, b.group, b.score, b.note);
}

constexpr auto by_bucket = netabase::key<Item>("by_bucket", [](const Item& i) { return i.score / 10; });

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items")
        .primary_key(&Item::id)
        .secondary_key(&Item::name, netabase::unique)
        .secondary_key(&Item::group)
        .secondary_key(by_bucket);
}

struct Post {
    std::uint64_t id;
    std::vector<std::string> tags;
    std::string body;
};

inline bool operator==(const Post& a, const Post& b) {
    return std::tie(a.id, a.tags, a.body) == std::tie(b.id, b.tags, b.body);
}

constexpr auto by_tag = netabase::keys<Post>("by_tag", [](const Post& p) { return p.tags; });

constexpr auto netabase_model(netabase::tag<Post>) {
    return netabase::model<Post>("posts").primary_key(&Post::id).secondary_key(by_tag);
}

// Fixed-size keys and no unique key: no row of a put_many can be rejected, so put_many writes
// straight into the transaction (no nested one).
struct Reading {
    std::uint64_t id;
    std::uint32_t sensor;  // non-unique secondary key
    double value;
    std::string note;
};

inline bool operator==(const Reading& a, const Reading& b) {
    return std::tie(a.id, a.sensor, a.value, a.note) == std::tie(b.id, b.sensor, b.value, b.note);
}

constexpr auto by_decade = netabase::key<Reading>("by_decade", [](const Reading& r) {
    return static_cast<std::int32_t>(r.value / 10);
});

constexpr auto netabase_model(netabase::tag<Reading>) {
    return netabase::model<Reading>("readings")
        .primary_key(&Reading::id)
        .secondary_key(&Reading::sensor)
        .secondary_key(by_decade);
}

using S = netabase::definition<Item, Post, Reading>;
using netabase::detail::call;

constexpr std::size_t item_indexes = 3;

Item item(std::uint64_t i) {
    return Item{i, "item-" + std::to_string(i), static_cast<std::uint32_t>(i % 3),
                static_cast<std::uint32_t>(10 * i + 5), "note " + std::to_string(i)};
}

// ---- the seam -----------------------------------------------------------------------------

using netabase_test::seam_scope;

struct calls {
    std::size_t get = 0, put = 0, del = 0, cursor_open = 0, cursor_get = 0, cursor_put = 0, cursor_del = 0, drop = 0,
                total = 0;
};

calls counts_of(const netabase::detail::lmdb_seam& s) {
    return calls{s.count(call::get),        s.count(call::put),        s.count(call::del),
                 s.count(call::cursor_open), s.count(call::cursor_get), s.count(call::cursor_put),
                 s.count(call::cursor_del),  s.count(call::drop),       s.total};
}

// Runs op on the trees of a write transaction with the seam counting only op's calls, then
// commits.
template <class Op>
calls counted(netabase::Store<S>& store, Op op) {
    calls c;
    auto txn = store.begin_write();
    auto items = txn.open_tree<Item>();
    auto posts = txn.open_tree<Post>();
    {
        seam_scope seam;
        op(items, posts);
        c = counts_of(seam.seam);
    }
    txn.commit();
    return c;
}

netabase::options fast() { return netabase::options{.durability = netabase::durability::no_sync}; }

// ---- what the store holds -----------------------------------------------------------------

struct state {
    std::vector<Item> items;
    std::vector<Post> posts;
    // Each index as its scan sees it: (key taken from the row, primary key) in index order,
    // and its entry count.
    std::vector<std::pair<std::string, std::uint64_t>> by_name;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> by_group, by_bucket;
    std::vector<std::pair<std::string, std::uint64_t>> by_tag;  // (tag, post) for every probed tag
    std::size_t name_size = 0, group_size = 0, bucket_size = 0, tag_size = 0;

    bool operator==(const state&) const = default;
};

const std::vector<std::string>& probe_tags() {
    static const std::vector<std::string> tags{"a", "b", "c", "d", "e", "x", "y", "z"};
    return tags;
}

state read_state(const netabase::Store<S>& store) {
    state s;
    auto txn = store.begin_read();
    auto items = txn.open_tree<Item>();
    auto posts = txn.open_tree<Post>();
    for (auto g : items) s.items.push_back(g.value());
    for (auto g : posts) s.posts.push_back(g.value());
    for (auto g : items.index(&Item::name))
        s.by_name.emplace_back(std::string(g.view().get<&Item::name>()), g.key());
    for (auto g : items.index(&Item::group)) s.by_group.emplace_back(g.view().get<&Item::group>(), g.key());
    for (auto g : items.index(by_bucket)) s.by_bucket.emplace_back(g.view().get<&Item::score>() / 10, g.key());
    for (const auto& t : probe_tags())
        for (auto g : posts.index(by_tag).equal_range(t)) s.by_tag.emplace_back(t, g.key());
    s.name_size = items.index(&Item::name).size();
    s.group_size = items.index(&Item::group).size();
    s.bucket_size = items.index(by_bucket).size();
    s.tag_size = posts.index(by_tag).size();
    return s;
}

// The indexes exactly as the rows say they should be.
void require_consistent(const state& s) {
    std::vector<std::pair<std::string, std::uint64_t>> name;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> group, bucket;
    for (const auto& i : s.items) {
        name.emplace_back(i.name, i.id);
        group.emplace_back(i.group, i.id);
        bucket.emplace_back(i.score / 10, i.id);
    }
    std::sort(name.begin(), name.end());
    std::sort(group.begin(), group.end());
    std::sort(bucket.begin(), bucket.end());
    CHECK(s.by_name == name);
    CHECK(s.by_group == group);
    CHECK(s.by_bucket == bucket);
    CHECK(s.name_size == s.items.size());
    CHECK(s.group_size == s.items.size());
    CHECK(s.bucket_size == s.items.size());

    std::vector<std::pair<std::string, std::uint64_t>> tag;
    std::size_t entries = 0;
    for (const auto& p : s.posts) {
        std::set<std::string> distinct(p.tags.begin(), p.tags.end());
        entries += distinct.size();
        for (const auto& t : distinct)
            if (std::find(probe_tags().begin(), probe_tags().end(), t) != probe_tags().end()) tag.emplace_back(t, p.id);
    }
    std::sort(tag.begin(), tag.end());
    CHECK(s.by_tag == tag);
    CHECK(s.tag_size == entries);
}

void seed(netabase::Store<S>& store) {
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto items = txn.open_tree<Item>();
        for (std::uint64_t i = 1; i <= 5; ++i) items.put(item(i));
        auto posts = txn.open_tree<Post>();
        posts.put(Post{1, {"a", "b", "c"}, "first"});
        posts.put(Post{2, {"b", "x"}, "second"});
    });
}

using items_tree = netabase::Tree<Item, netabase::access::write>;
using posts_tree = netabase::Tree<Post, netabase::access::write>;

// ---- puts over existing rows --------------------------------------------------------------

TEST_CASE("writes: a put that changes nothing writes the row and no index entry", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    state before = read_state(store);

    calls c = counted(store, [](items_tree& items, posts_tree&) { items.put(item(3)); });
    // The row: MDB_NOOVERWRITE finds it and hands back the old value (to compare keys with),
    // then MDB_CURRENT overwrites it through the same cursor. No index entry is written.
    CHECK(c.cursor_put == 2);
    CHECK(c.cursor_open == 1);
    CHECK(c.put == 0);
    CHECK(c.del == 0);
    CHECK(c.get == 1);  // the unique name's owner: the row itself
    CHECK(c.total == 4);

    state after = read_state(store);
    CHECK(after == before);
    require_consistent(after);
}

TEST_CASE("writes: a put rewrites only the indexes whose key changed", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);

    Item changed = item(3);
    std::size_t puts = 0, dels = 0;  // index entries
    SECTION("non-unique member key (group)") {
        changed.group = 7;
        puts = 1, dels = 1;
    }
    SECTION("unique member key (name)") {
        changed.name = "renamed";
        puts = 1, dels = 1;
    }
    SECTION("computed key (score 35 -> 95: bucket 3 -> 9)") {
        changed.score = 95;
        puts = 1, dels = 1;
    }
    SECTION("a field of the computed key, but not the key (score 35 -> 39: bucket stays 3)") {
        changed.score = 39;
        puts = 0, dels = 0;
    }
    SECTION("a field no key reads (note)") {
        changed.note = "a new note that no index reads";
        puts = 0, dels = 0;
    }
    SECTION("two keys (group and bucket)") {
        changed.group = 8;
        changed.score = 77;
        puts = 2, dels = 2;
    }
    SECTION("every key and the note") {
        changed.name = "everything";
        changed.group = 9;
        changed.score = 1000;
        changed.note = "changed too";
        puts = item_indexes, dels = item_indexes;
    }

    calls c = counted(store, [&](items_tree& items, posts_tree&) { items.put(changed); });
    CHECK(c.put == puts);
    CHECK(c.del == dels);
    CHECK(c.get == 1);         // the uniqueness check of the name (before anything is written)
    CHECK(c.cursor_put == 2);  // the row: found (MDB_NOOVERWRITE), then overwritten (MDB_CURRENT)
    CHECK(c.total == puts + dels + 1 + 2 + c.cursor_open);

    state after = read_state(store);
    require_consistent(after);
    REQUIRE(after.items.size() == 5);
    CHECK(after.items[2] == changed);
    auto txn = store.begin_read();
    auto items = txn.open_tree<Item>();
    CHECK(items.index(&Item::group).count(changed.group) == 1);  // groups of rows 1..5: 1 2 0 1 2
    if (changed.group != 0) CHECK(items.index(&Item::group).count(0u) == 0);
    CHECK(items.index(&Item::name).get(changed.name).has_value());
    CHECK(items.index(by_bucket).count(changed.score / 10) == 1);
}

TEST_CASE("writes: update(k, fn) reads the row once and rewrites only changed keys", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);

    std::function<void(Item&)> fn;
    std::size_t puts = 0, dels = 0, gets = 0;  // index entries; uniqueness checks
    SECTION("nothing changes") {
        fn = [](Item&) {};
        puts = 0, dels = 0, gets = 0;
    }
    SECTION("non-unique member key (group)") {
        fn = [](Item& i) { i.group = 42; };
        puts = 1, dels = 1, gets = 0;
    }
    SECTION("computed key (bucket)") {
        fn = [](Item& i) { i.score += 100; };
        puts = 1, dels = 1, gets = 0;
    }
    SECTION("score within its bucket") {
        fn = [](Item& i) { i.score += 1; };
        puts = 0, dels = 0, gets = 0;
    }
    SECTION("non-indexed field (note)") {
        fn = [](Item& i) { i.note += " and more"; };
        puts = 0, dels = 0, gets = 0;
    }
    SECTION("unique member key (name): the uniqueness check") {
        fn = [](Item& i) { i.name += "-renamed"; };
        puts = 1, dels = 1, gets = 1;
    }

    Item expected = item(4);
    fn(expected);
    bool found = false;
    calls c = counted(store, [&](items_tree& items, posts_tree&) { found = items.update(4, fn); });
    CHECK(found);
    CHECK(c.cursor_open == 1);
    CHECK(c.cursor_get == 1);  // the row, found once (MDB_SET_KEY)
    CHECK(c.cursor_put == 1);  // and written back in place through that cursor (MDB_CURRENT)
    CHECK(c.put == puts);
    CHECK(c.del == dels);
    CHECK(c.get == gets);
    CHECK(c.total == puts + dels + gets + 3);

    state after = read_state(store);
    require_consistent(after);
    REQUIRE(after.items.size() == 5);
    CHECK(after.items[3] == expected);
}

TEST_CASE("writes: update of a missing row reads once and writes nothing", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    state before = read_state(store);
    bool found = true;
    calls c = counted(store, [&](items_tree& items, posts_tree&) {
        found = items.update(99, [](Item& i) { i.group = 1; });
    });
    CHECK_FALSE(found);
    CHECK(c.cursor_get == 1);
    CHECK(c.put + c.cursor_put == 0);
    CHECK(c.del + c.cursor_del == 0);
    CHECK(c.total == 2);  // the cursor's open and the lookup
    CHECK(read_state(store) == before);
}

// ---- new rows and removals ----------------------------------------------------------------

TEST_CASE("writes: a new row writes itself and one entry per index", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);

    bool inserted = false;
    SECTION("insert") {
        calls c = counted(store, [&](items_tree& items, posts_tree&) { inserted = items.insert(item(10)); });
        CHECK(inserted);
        CHECK(c.cursor_put == 1);  // the row (MDB_NOOVERWRITE)
        CHECK(c.put == item_indexes);
        CHECK(c.del == 0);
        CHECK(c.get == 2);  // does the row exist (insert answers false before any unique violation); is the name taken
    }
    SECTION("put") {
        calls c = counted(store, [&](items_tree& items, posts_tree&) { items.put(item(10)); });
        CHECK(c.cursor_put == 1);  // the row: MDB_NOOVERWRITE, one descent for a new key
        CHECK(c.put == item_indexes);
        CHECK(c.del == 0);
        CHECK(c.get == 1);  // is the unique name taken
        CHECK(c.total == 1 + item_indexes + 1 + c.cursor_open);
    }
    state after = read_state(store);
    require_consistent(after);
    REQUIRE(after.items.size() == 6);
    CHECK(after.items.back() == item(10));
}

TEST_CASE("writes: insert over an existing row writes nothing", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    state before = read_state(store);
    bool inserted = true;
    Item other = item(2);
    other.name = "would be new";
    calls c = counted(store, [&](items_tree& items, posts_tree&) { inserted = items.insert(other); });
    CHECK_FALSE(inserted);
    CHECK(c.put + c.cursor_put == 0);
    CHECK(c.del + c.cursor_del == 0);
    CHECK(read_state(store) == before);
}

TEST_CASE("writes: remove deletes the row and one entry per index", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);

    bool removed = false;
    calls c = counted(store, [&](items_tree& items, posts_tree&) { removed = items.remove(2); });
    CHECK(removed);
    CHECK(c.cursor_get == 1);  // the row, found once
    CHECK(c.cursor_del == 1);  // and deleted through that cursor
    CHECK(c.del == item_indexes);
    CHECK(c.put + c.cursor_put == 0);
    CHECK(c.get == 0);
    CHECK(c.total == 1 + 1 + item_indexes + c.cursor_open);

    calls missing = counted(store, [&](items_tree& items, posts_tree&) { removed = items.remove(2); });
    CHECK_FALSE(removed);
    CHECK(missing.del + missing.cursor_del == 0);
    CHECK(missing.put + missing.cursor_put == 0);

    state after = read_state(store);
    require_consistent(after);
    CHECK(after.items.size() == 4);
    auto txn = store.begin_read();
    CHECK_FALSE(txn.open_tree<Item>().index(&Item::name).get("item-2").has_value());
}

// ---- multi-valued keys --------------------------------------------------------------------

TEST_CASE("writes: a multi-valued key writes only the difference of its key sets", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);  // post 1 has {a, b, c}

    std::vector<std::string> now;
    std::size_t puts = 0, dels = 0;
    bool via_update = GENERATE(false, true);
    SECTION("{a,b,c} -> {b,c,d}: one delete (a), one put (d)") {
        now = {"b", "c", "d"};
        puts = 1, dels = 1;
    }
    SECTION("{a,b,c} -> {c,b,a}: same set, row only") {
        now = {"c", "b", "a"};
        puts = 0, dels = 0;
    }
    SECTION("{a,b,c} -> {a,a,b,b,c}: same set with repeats, row only") {
        now = {"a", "a", "b", "b", "c"};
        puts = 0, dels = 0;
    }
    SECTION("{a,b,c} -> {}: three deletes") {
        now = {};
        puts = 0, dels = 3;
    }
    SECTION("{a,b,c} -> {x,y,z}: three deletes, three puts") {
        now = {"x", "y", "z"};
        puts = 3, dels = 3;
    }

    Post expected{1, now, "first"};
    calls c = counted(store, [&](items_tree&, posts_tree& posts) {
        if (via_update)
            REQUIRE(posts.update(1, [&](Post& p) { p.tags = now; }));
        else
            posts.put(expected);
    });
    // The row: update finds it (MDB_SET_KEY) and writes it back (MDB_CURRENT); put finds it
    // with MDB_NOOVERWRITE and overwrites it (MDB_CURRENT). Index entries: the difference only.
    CHECK(c.cursor_get + c.cursor_put == 2);
    CHECK(c.put == puts);
    CHECK(c.del == dels);
    CHECK(c.get == 0);  // no unique key

    state after = read_state(store);
    require_consistent(after);
    REQUIRE(after.posts.size() == 2);
    CHECK(after.posts[0] == expected);
}

TEST_CASE("writes: a multi-valued key puts and removes one entry per distinct element", "[writes]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);

    calls in = counted(store, [](items_tree&, posts_tree& posts) { posts.put(Post{3, {"e", "a", "e", "z", "a"}, "third"}); });
    CHECK(in.cursor_put == 1);  // the row
    CHECK(in.put == 3);         // e, a, z
    CHECK(in.del == 0);
    require_consistent(read_state(store));

    bool removed = false;
    calls out = counted(store, [&](items_tree&, posts_tree& posts) { removed = posts.remove(3); });
    CHECK(removed);
    CHECK(out.cursor_del == 1);
    CHECK(out.del == 3);
    CHECK(out.put + out.cursor_put == 0);
    state after = read_state(store);
    require_consistent(after);
    CHECK(after.posts.size() == 2);
}

// ---- fault injection ----------------------------------------------------------------------

struct fault_case {
    const char* name;
    std::function<void(items_tree&, posts_tree&)> op;
    std::size_t expected_calls;  // LMDB calls op makes when nothing fails
};

TEST_CASE("writes: an LMDB failure at any call of a write poisons the transaction and changes nothing",
          "[writes][fault]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);

    Item all_changed = item(3);
    all_changed.name = "all changed";
    all_changed.group = 11;
    all_changed.score = 500;
    all_changed.note = "all changed";

    auto fc = GENERATE_COPY(
        fault_case{"put changing every key of an existing row",
                   [all_changed](items_tree& items, posts_tree&) { items.put(all_changed); },
                   // uniqueness get, cursor open, the row found (MDB_NOOVERWRITE) and
                   // overwritten (MDB_CURRENT), 3 x (del + put)
                   1 + 1 + 2 + 2 * item_indexes},
        fault_case{"put of a new row", [](items_tree& items, posts_tree&) { items.put(item(20)); },
                   // uniqueness get, cursor open, put row (MDB_NOOVERWRITE), 3 index puts
                   1 + 1 + 1 + item_indexes},
        fault_case{"remove", [](items_tree& items, posts_tree&) { (void)items.remove(4); },
                   // cursor open, find row, del row through the cursor, 3 index dels
                   1 + 1 + 1 + item_indexes},
        fault_case{"update changing group",
                   [](items_tree& items, posts_tree&) { (void)items.update(5, [](Item& i) { i.group = 99; }); },
                   // cursor open, find row, put row through the cursor, del + put
                   1 + 1 + 1 + 2},
        fault_case{"multi-valued {a,b,c} -> {b,c,d}",
                   [](items_tree&, posts_tree& posts) { posts.put(Post{1, {"b", "c", "d"}, "first"}); },
                   // cursor open, find and overwrite the row, del a, put d
                   1 + 2 + 1 + 1},
        fault_case{"clear", [](items_tree& items, posts_tree&) { items.clear(); },
                   // drop the table, drop each index
                   1 + item_indexes});
    CAPTURE(fc.name);

    const state before = read_state(store);
    require_consistent(before);

    // How many calls the operation makes; counted in a transaction that is then aborted.
    std::size_t total = 0;
    {
        auto txn = store.begin_write();
        auto items = txn.open_tree<Item>();
        auto posts = txn.open_tree<Post>();
        seam_scope seam;
        fc.op(items, posts);
        total = seam.seam.total;
        txn.abort();
    }
    CHECK(total == fc.expected_calls);
    REQUIRE(read_state(store) == before);

    for (std::size_t n = 1; n <= total; ++n) {
        CAPTURE(n);
        {
            auto txn = store.begin_write();
            auto items = txn.open_tree<Item>();
            auto posts = txn.open_tree<Post>();
            {
                seam_scope seam;
                seam.seam.fail_at = n;
                seam.seam.fail_with = EIO;
                bool threw = false;
                try {
                    fc.op(items, posts);
                } catch (const netabase::error& e) {
                    threw = true;
                    CHECK(e.code().value() == EIO);
                }
                CHECK(threw);
                CHECK(seam.seam.total == n);  // nothing more was tried after the failure
            }
            REQUIRE(txn.is_open());
            REQUIRE_THROWS_AS(txn.commit(), netabase::error);
            CHECK_FALSE(txn.is_open());
        }
        state now = read_state(store);
        CHECK(now == before);
        require_consistent(now);

        // The store still takes writes: rewrite an existing row as it is.
        store.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Item>().put(item(1)); });
        REQUIRE(read_state(store) == before);
    }

    // A failure that fn swallows still stops store.write(fn) from committing.
    REQUIRE_THROWS_AS(store.write([&](netabase::WriteTransaction<S>& txn) {
                          auto items = txn.open_tree<Item>();
                          auto posts = txn.open_tree<Post>();
                          seam_scope seam;
                          seam.seam.fail_at = total;
                          seam.seam.fail_with = EIO;
                          try {
                              fc.op(items, posts);
                          } catch (const netabase::error&) {
                          }
                      }),
                      netabase::error);
    CHECK(read_state(store) == before);

    // And without a failure the operation goes through.
    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto items = txn.open_tree<Item>();
        auto posts = txn.open_tree<Post>();
        fc.op(items, posts);
    });
    state after = read_state(store);
    CHECK_FALSE(after == before);
    require_consistent(after);
}

TEST_CASE("writes: an LMDB failure inside put_many or remove_many applies none of it", "[writes][fault]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);

    // A change made in the same transaction before the batch, which a commit keeps.
    Item earlier = item(1);
    earlier.note = "written before the batch";

    const std::vector<Item> batch{item(100), item(101), item(102)};
    const std::vector<std::uint64_t> doomed{2, 3};
    bool many_puts = GENERATE(true, false);
    CAPTURE(many_puts);
    auto op = [&](items_tree& items) {
        if (many_puts)
            (void)items.put_many(batch);
        else
            (void)items.remove_many(doomed);
    };

    const state before = read_state(store);
    state with_earlier = before;
    with_earlier.items[0] = earlier;

    // Counted as the faults below run it: after the earlier put, whose table cursor LMDB
    // shadows into the nested transaction (so the batch may need no cursor_open of its own).
    std::size_t total = 0, opens = 0;
    {
        auto txn = store.begin_write();
        auto items = txn.open_tree<Item>();
        items.put(earlier);
        seam_scope seam;
        op(items);
        total = seam.seam.total;
        opens = seam.seam.count(call::cursor_open);
    }
    CHECK(opens <= 1);
    // put_many: nested txn_begin, the last key (MDB_LAST), then per row (past the last key:
    // no old row to read) the uniqueness get, the row, 3 index puts, then the nested commit.
    // remove_many: nested txn_begin, per key the lookup, the row's del through that cursor and
    // 3 index dels, then the nested commit.
    CHECK(total == opens + (many_puts ? 1 + 1 + batch.size() * (1 + 1 + item_indexes) + 1
                                      : 1 + doomed.size() * (1 + 1 + item_indexes) + 1));

    for (std::size_t n = 1; n <= total; ++n) {
        CAPTURE(n);
        bool committed = false;
        {
            auto txn = store.begin_write();
            auto items = txn.open_tree<Item>();
            items.put(earlier);
            {
                seam_scope seam;
                seam.seam.fail_at = n;
                seam.seam.fail_with = EIO;
                REQUIRE_THROWS_AS(op(items), netabase::error);
            }
            // The batch ran in a nested transaction: whether the outer one may still commit
            // or refuses, nothing of the batch may show.
            try {
                txn.commit();
                committed = true;
            } catch (const netabase::error&) {
            }
            CHECK_FALSE(txn.is_open());
        }
        state now = read_state(store);
        require_consistent(now);
        if (committed)
            CHECK(now == with_earlier);
        else
            CHECK(now == before);
        // Back to the start for the next n.
        store.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Item>().put(item(1)); });
        REQUIRE(read_state(store) == before);
    }

    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto items = txn.open_tree<Item>();
        op(items);
    });
    state after = read_state(store);
    require_consistent(after);
    CHECK(after.items.size() == (many_puts ? 8u : 3u));
}

TEST_CASE("writes: an injected MDB_MAP_FULL makes store.write grow the map and run fn again", "[writes][fault]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    std::size_t map_before = store.map_size();

    Item changed = item(2);
    changed.group = 50;
    changed.name = "grown";
    int runs = 0;
    {
        seam_scope seam;
        seam.seam.fail_at = 4;  // txn_begin, uniqueness get, cursor open, then the row's put
        seam.seam.fail_with = MDB_MAP_FULL;
        store.write([&](netabase::WriteTransaction<S>& txn) {
            ++runs;
            txn.open_tree<Item>().put(changed);
        });
        CHECK(seam.seam.count(call::txn_begin) == 2);
    }
    CHECK(runs == 2);
    CHECK(store.map_size() > map_before);
    state after = read_state(store);
    require_consistent(after);
    REQUIRE(after.items.size() == 5);
    CHECK(after.items[1] == changed);
}

// ---- put_many without a nested transaction ------------------------------------------------

Reading reading(std::uint64_t i) {
    return Reading{i, static_cast<std::uint32_t>(i % 4), static_cast<double>(i) * 3.5, "r" + std::to_string(i)};
}

using readings_tree = netabase::Tree<Reading, netabase::access::write>;

// The readings table and its two indexes, as scans see them.
struct reading_state {
    std::vector<Reading> rows;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> by_sensor;
    std::vector<std::pair<std::int32_t, std::uint64_t>> by_decade;
    bool operator==(const reading_state&) const = default;
};

reading_state read_readings(const netabase::Store<S>& store) {
    reading_state s;
    auto txn = store.begin_read();
    auto t = txn.open_tree<Reading>();
    for (auto g : t) s.rows.push_back(g.value());
    for (auto g : t.index(&Reading::sensor)) s.by_sensor.emplace_back(g.view().get<&Reading::sensor>(), g.key());
    for (auto g : t.index(by_decade))
        s.by_decade.emplace_back(static_cast<std::int32_t>(g.value().value / 10), g.key());
    CHECK(t.index(&Reading::sensor).size() == s.rows.size());
    CHECK(t.index(by_decade).size() == s.rows.size());
    return s;
}

void require_consistent(const reading_state& s) {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> sensor;
    std::vector<std::pair<std::int32_t, std::uint64_t>> decade;
    for (const auto& r : s.rows) {
        sensor.emplace_back(r.sensor, r.id);
        decade.emplace_back(static_cast<std::int32_t>(r.value / 10), r.id);
    }
    std::sort(sensor.begin(), sensor.end());
    std::sort(decade.begin(), decade.end());
    CHECK(s.by_sensor == sensor);
    CHECK(s.by_decade == decade);
}

void seed_readings(netabase::Store<S>& store) {
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto t = txn.open_tree<Reading>();
        for (std::uint64_t i = 1; i <= 6; ++i) t.put(reading(i));
    });
}

TEST_CASE("writes: put_many of rows that cannot be rejected runs without a nested transaction", "[writes][put_many]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed_readings(store);
    seed(store);

    // Readings: fixed-size keys, no unique key. Replaces 2 and 5 (every index moves), appends 7, 8.
    std::vector<Reading> batch{reading(7), reading(8)};
    Reading r2 = reading(2), r5 = reading(5);
    r2.sensor = 9, r2.value = 99.0;
    r5.sensor = 1, r5.value = -12.0;
    batch.insert(batch.begin(), {r5, r2});
    std::size_t begins = 99;
    {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Reading>();
        seam_scope seam;
        CHECK(t.put_many(batch) == 4);
        begins = seam.seam.count(call::txn_begin);
        txn.commit();
    }
    CHECK(begins == 0);
    reading_state after = read_readings(store);
    require_consistent(after);
    REQUIRE(after.rows.size() == 8);
    CHECK(after.rows[1] == r2);
    CHECK(after.rows[4] == r5);
    CHECK(after.rows[7] == reading(8));

    // Items have a unique key (a row can be rejected): their put_many still nests.
    {
        auto txn = store.begin_write();
        auto items = txn.open_tree<Item>();
        seam_scope seam;
        items.put_many(std::vector<Item>{item(20), item(21)});
        begins = seam.seam.count(call::txn_begin);
    }
    CHECK(begins == 1);
}

TEST_CASE("writes: an exception part way through a put_many without nesting makes commit refuse",
          "[writes][put_many]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed_readings(store);
    const reading_state before = read_readings(store);

    // Replaces row 3, appends 10, then the input range throws. The rows are made as the range is
    // read (prvalues), so put_many cannot hold and sort them first: it writes as it reads.
    const std::vector<Reading> src{Reading{3, 2, 70.0, "replaced"}, reading(10), reading(11)};
    auto throwing = [&](int throw_at) {
        return std::views::iota(0, 3) | std::views::transform([&src, throw_at](int i) -> Reading {
                   if (i == throw_at) throw std::runtime_error("the input range failed");
                   return src[static_cast<std::size_t>(i)];
               });
    };

    SECTION("begin_write / commit") {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Reading>();
        t.put(Reading{1, 0, 1.0, "earlier in the transaction"});
        CHECK_THROWS_WITH(t.put_many(throwing(2)), "the input range failed");
        // Half the batch is in the transaction: committing it must be refused.
        try {
            txn.commit();
            FAIL("commit() accepted a transaction that a put_many left half-applied");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::transaction_finished);
            CHECK(std::string(e.what()).find("interrupted") != std::string::npos);
        }
        CHECK_FALSE(txn.is_open());
    }
    SECTION("store.write(fn) whose fn swallows the exception") {
        CHECK_THROWS_AS(store.write([&](netabase::WriteTransaction<S>& txn) {
            try {
                txn.open_tree<Reading>().put_many(throwing(2));
            } catch (const std::runtime_error&) {
            }
        }),
                        netabase::error);
    }
    reading_state after = read_readings(store);
    CHECK(after == before);
    require_consistent(after);

    SECTION("an exception before the first row leaves the transaction usable") {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Reading>();
        t.put(Reading{1, 0, 1.0, "kept"});
        CHECK_THROWS_WITH(t.put_many(throwing(0)), "the input range failed");
        txn.commit();
        reading_state kept = read_readings(store);
        require_consistent(kept);
        CHECK(kept.rows[0].note == "kept");
        CHECK(kept.rows.size() == before.rows.size());
    }
    // And the store takes the same batch without the fault.
    store.write([&](netabase::WriteTransaction<S>& txn) { txn.open_tree<Reading>().put_many(src); });
    reading_state full = read_readings(store);
    require_consistent(full);
    CHECK(full.rows.size() == before.rows.size() + 2);
}

TEST_CASE("writes: update whose fn writes to the same table keeps every index exact", "[writes][update]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);

    SECTION("fn puts other rows and replaces its own") {
        store.write([](netabase::WriteTransaction<S>& txn) {
            auto items = txn.open_tree<Item>();
            bool found = items.update(3, [&](Item& i) {
                for (std::uint64_t k = 30; k < 60; ++k) items.put(item(k));  // splits pages under the cursor
                Item other = item(3);
                other.group = 77;
                other.name = "changed-by-fn";
                items.put(other);  // the row itself changes under update
                i.group = 5;
                i.score = 999;
            });
            CHECK(found);
        });
        state s = read_state(store);
        require_consistent(s);
        REQUIRE(s.items.size() == 35);
        Item expected = item(3);
        expected.group = 5;
        expected.score = 999;
        CHECK(s.items[2] == expected);
    }
    SECTION("fn removes its own row") {
        store.write([](netabase::WriteTransaction<S>& txn) {
            auto items = txn.open_tree<Item>();
            CHECK(items.update(2, [&](Item& i) {
                CHECK(items.remove(2));
                CHECK(items.remove(1));
                i.note = "back";
            }));
        });
        state s = read_state(store);
        require_consistent(s);
        REQUIRE(s.items.size() == 4);
        CHECK(s.items[0].id == 2);
        CHECK(s.items[0].note == "back");
    }
}

TEST_CASE("writes: update, put over and remove of rows keep indexes exact (fixed-size keys, computed key)",
          "[writes][update]") {
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed_readings(store);
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto t = txn.open_tree<Reading>();
        CHECK(t.update(2, [](Reading& r) { r.value = 55.0; }));   // computed key moves
        CHECK(t.update(3, [](Reading& r) { r.sensor = 40; }));    // member key moves
        CHECK(t.update(4, [](Reading& r) { r.note = "n"; }));     // nothing indexed moves
        CHECK_FALSE(t.update(40, [](Reading& r) { r.note = "x"; }));
        t.put(Reading{5, 3, -1.0, "replaced"});
        CHECK(t.remove(6));
        CHECK_FALSE(t.remove(6));
        CHECK_FALSE(t.insert(Reading{1, 8, 8.0, "not written"}));
        CHECK(t.insert(Reading{12, 8, 8.0, "new"}));
    });
    reading_state s = read_readings(store);
    require_consistent(s);
    REQUIRE(s.rows.size() == 6);
    CHECK(s.rows[0] == reading(1));
    CHECK(s.rows[1].value == 55.0);
    CHECK(s.rows[2].sensor == 40);
    CHECK(s.rows[3].note == "n");
    CHECK(s.rows[4] == (Reading{5, 3, -1.0, "replaced"}));
    CHECK(s.rows[5] == (Reading{12, 8, 8.0, "new"}));
    CHECK(store.verify().ok());
}

TEST_CASE("writes: MDB_MAP_FULL from the commit itself makes store.write grow the map and run fn again",
          "[writes][fault]") {
    // LMDB's commit can need pages too (the free list's): its MDB_MAP_FULL is a full map like a
    // put's. Only the first commit fails.
    struct fail_first_commit : netabase::detail::lmdb_seam {
        int before(call c) override {
            netabase::detail::lmdb_seam::before(c);
            return c == call::txn_commit && count(call::txn_commit) == 1 ? MDB_MAP_FULL : 0;
        }
    };
    netabase_test::temp_dir dir;
    netabase::Store<S> store{dir.path(), fast()};
    seed(store);
    const std::size_t map_before = store.map_size();

    Item changed = item(3);
    changed.group = 70;
    changed.name = "after a full commit";
    int runs = 0;
    {
        fail_first_commit seam;
        netabase::detail::seam() = &seam;
        try {
            store.write([&](netabase::WriteTransaction<S>& txn) {
                ++runs;
                txn.open_tree<Item>().put(changed);
            });
        } catch (...) {
            netabase::detail::seam() = nullptr;
            throw;
        }
        netabase::detail::seam() = nullptr;
        CHECK(seam.count(call::txn_commit) == 2);
    }
    CHECK(runs == 2);
    CHECK(store.map_size() > map_before);
    state after = read_state(store);
    require_consistent(after);
    REQUIRE(after.items.size() == 5);
    CHECK(after.items[2] == changed);
}

}  // namespace writes_test
