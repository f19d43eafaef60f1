// Tree<M>: the Rust netabase suite's scenarios, against real LMDB files.
#include "catch.hpp"
#include "errors.hpp"
#include "seam_scope.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace tree_test {

// ---- models ------------------------------------------------------------------------------

// No declaration: first field is the primary key, table named after the type.
struct Post {
    std::uint64_t id;
    std::uint64_t author;
    std::string body;
};

struct Signed {
    std::int64_t id;
    std::string label;
};

struct Real {
    double id;
    std::int32_t n;
};

struct Named {
    std::string id;
    std::uint32_t n;
};

struct Pairish {
    std::tuple<std::string, std::int32_t> id;
    std::uint32_t n;
};

// Primary key that is not the first field.
struct Account {
    std::string owner;
    std::uint64_t id;
    std::int64_t balance;
};

constexpr auto netabase_model(netabase::tag<Account>) {
    return netabase::model<Account>("accounts").primary_key(&Account::id);
}

// One unique secondary key, for the put_many all-or-nothing scenario.
struct Member {
    std::uint64_t id;
    std::string email;
    std::uint32_t level;
};

constexpr auto netabase_model(netabase::tag<Member>) {
    return netabase::model<Member>("members").primary_key(&Member::id).secondary_key(&Member::email, netabase::unique);
}

using S = netabase::definition<Post, Signed, Real, Named, Pairish, Account, Member>;
using Store = netabase::Store<S>;

// ---- helpers -----------------------------------------------------------------------------

namespace {

// Counts the LMDB calls made while it lives.
using counting = netabase_test::seam_scope;

// The leaf pages of one table (its name as stats() gives it); fails the test if there is none.
std::uint64_t leaf_pages(Store& store, std::string_view table) {
    for (const auto& t : store.stats().tables)
        if (t.name == table) return t.leaf_pages;
    FAIL("no table " << table);
    return 0;
}

}  // namespace

inline bool has(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

inline netabase::options fast() { return netabase::options{.durability = netabase::durability::no_sync}; }

template <class Tr>
auto keys_of(const Tr& tree) {
    std::vector<typename Tr::key_type> out;
    for (const auto& row : tree) out.push_back(row.key());
    return out;
}

template <class R>
auto row_keys(R&& rows) {
    std::vector<typename std::ranges::range_value_t<R>::key_type> out;
    for (const auto& row : rows) out.push_back(row.key());
    return out;
}

template <class Tr>
std::size_t count_rows(const Tr& tree) {
    std::size_t n = 0;
    for (const auto& row : tree) {
        (void)row;
        ++n;
    }
    return n;
}

// ---- static properties -------------------------------------------------------------------

static_assert(std::ranges::input_range<netabase::Rows<Post>>);
static_assert(std::ranges::view<netabase::Rows<Post>>);
static_assert(std::ranges::input_range<netabase::Tree<Post, netabase::access::read>>);
static_assert(std::is_same_v<std::ranges::range_value_t<netabase::Rows<Post>>, netabase::Guard<Post>>);

// ---- CRUD ----------------------------------------------------------------------------------

TEST_CASE("tree: put, get, value, overwrite replaces", "[tree]") {
    netabase_test::temp_dir dir;
    {
        Store store{dir.path(), fast()};
        auto txn = store.begin_write();
        auto posts = txn.open_tree<Post>();
        REQUIRE(posts.name() == "tree_test::Post");
        posts.put(Post{1, 10, "hello"});
        posts.put(Post{2, 20, "world"});

        auto g = posts.get(1);
        REQUIRE(g.has_value());
        CHECK(g->key() == 1u);
        CHECK(g->table() == "tree_test::Post");
        REQUIRE(!g->bytes().empty());
        CHECK(g->bytes()[0] == std::byte{1});  // encoding version
        CHECK(g->key_bytes().size() == 8);
        Post p = g->value();
        CHECK(p.id == 1u);
        CHECK(p.author == 10u);
        CHECK(p.body == "hello");

        // visible inside the writing txn, then overwrite replaces
        posts.put(Post{1, 11, "hello again"});
        CHECK(posts.size() == 2);
        Post q = posts.get(1)->value();
        CHECK(q.author == 11u);
        CHECK(q.body == "hello again");
        txn.commit();
        CHECK_FALSE(txn.is_open());
    }
    // a new Store on the same files sees the committed state
    Store store{dir.path(), fast()};
    auto r = store.begin_read();
    auto posts = r.open_tree<Post>();
    CHECK(posts.size() == 2);
    Post got{};
    posts.get(1)->value_into(got);
    CHECK(got.author == 11u);
    CHECK(got.body == "hello again");
    CHECK(posts.get(2)->value().body == "world");
}

TEST_CASE("tree: aborted or uncommitted write leaves nothing", "[tree]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    {
        auto txn = store.begin_write();
        txn.open_tree<Post>().put(Post{1, 1, "kept"});
        txn.commit();
    }
    {
        auto txn = store.begin_write();
        auto posts = txn.open_tree<Post>();
        posts.put(Post{2, 2, "dropped"});
        posts.put(Post{1, 9, "changed"});
        CHECK(posts.size() == 2);
    }  // destroyed without commit
    {
        auto txn = store.begin_write();
        txn.open_tree<Post>().remove(1);
        txn.abort();
    }
    auto r = store.begin_read();
    auto posts = r.open_tree<Post>();
    CHECK(posts.size() == 1);
    CHECK(posts.get(1)->value().body == "kept");
    CHECK_FALSE(posts.contains(2));
}

TEST_CASE("tree: insert returns false and writes nothing when the key exists", "[tree]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        CHECK(posts.insert(Post{5, 1, "first"}));
        CHECK_FALSE(posts.insert(Post{5, 2, "second"}));
        CHECK(posts.size() == 1);
        CHECK(posts.get(5)->value().body == "first");
        CHECK(posts.insert(Post{6, 3, "other"}));

        // and the same for a table with a secondary index
        auto members = txn.open_tree<Member>();
        CHECK(members.insert(Member{1, "a@x", 1}));
        CHECK_FALSE(members.insert(Member{1, "b@x", 2}));
        CHECK(members.get(1)->value().email == "a@x");
        CHECK(members.index(&Member::email).size() == 1);
        CHECK(members.index(&Member::email).count("b@x") == 0);
    });
    store.read([](netabase::ReadTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        CHECK(posts.size() == 2);
        CHECK(posts.get(5)->value().author == 1u);
        CHECK(txn.open_tree<Member>().get(1)->value().level == 1u);
    });
}

TEST_CASE("tree: get of a missing key, contains, size and empty", "[tree]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    {
        auto r = store.begin_read();
        auto posts = r.open_tree<Post>();
        CHECK(posts.empty());
        CHECK(posts.size() == 0);
        CHECK_FALSE(posts.get(1).has_value());
        CHECK_FALSE(posts.contains(1));
        CHECK(count_rows(posts) == 0);
    }
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        for (std::uint64_t i = 0; i < 300; i += 3) posts.put(Post{i, i, std::to_string(i)});
    });
    auto r = store.begin_read();
    auto posts = r.open_tree<Post>();
    CHECK_FALSE(posts.empty());
    CHECK(posts.size() == 100);
    CHECK(count_rows(posts) == posts.size());
    CHECK(static_cast<std::size_t>(std::ranges::distance(posts)) == posts.size());
    CHECK(posts.contains(0));
    CHECK(posts.contains(297));
    CHECK_FALSE(posts.contains(1));
    CHECK_FALSE(posts.contains(298));
    CHECK_FALSE(posts.get(300).has_value());
    CHECK_FALSE(posts.get(std::numeric_limits<std::uint64_t>::max()).has_value());
}

// ---- put_many ------------------------------------------------------------------------------

TEST_CASE("tree: put_many append path, interleaved keys, and all-or-nothing", "[tree][put_many]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};

    // ascending keys into an empty table: the append path
    {
        std::vector<Post> batch;
        for (std::uint64_t i = 2; i <= 200; i += 2) batch.push_back(Post{i, i * 10, "even"});
        auto txn = store.begin_write();
        auto posts = txn.open_tree<Post>();
        CHECK(posts.put_many(batch) == 100);
        CHECK(posts.size() == 100);
        txn.commit();
    }
    // keys interleaved below existing ones, one overwrite, some past the end, a descent
    // after the end and a key repeated in the batch (the later value wins)
    {
        std::vector<Post> batch;
        for (std::uint64_t i = 1; i < 200; i += 2) batch.push_back(Post{i, i * 10, "odd"});
        batch.push_back(Post{100, 1, "overwritten"});
        batch.push_back(Post{300, 3000, "past"});
        batch.push_back(Post{250, 2500, "below the new end"});
        batch.push_back(Post{301, 3010, "past again"});
        batch.push_back(Post{400, 1, "first 400"});
        batch.push_back(Post{400, 2, "second 400"});
        auto txn = store.begin_write();
        auto posts = txn.open_tree<Post>();
        CHECK(posts.put_many(batch) == batch.size());
        txn.commit();
    }
    {
        auto r = store.begin_read();
        auto posts = r.open_tree<Post>();
        CHECK(posts.size() == 200 + 4);
        std::vector<std::uint64_t> expect;
        for (std::uint64_t i = 1; i <= 200; ++i) expect.push_back(i);
        expect.insert(expect.end(), {250, 300, 301, 400});
        CHECK(keys_of(posts) == expect);
        CHECK(posts.get(100)->value().body == "overwritten");
        CHECK(posts.get(99)->value().body == "odd");
        CHECK(posts.get(98)->value().body == "even");
        CHECK(posts.get(250)->value().author == 2500u);
        CHECK(posts.get(400)->value().body == "second 400");
    }
    // put_many over a lazily transformed range
    {
        auto txn = store.begin_write();
        auto posts = txn.open_tree<Post>();
        auto gen = std::views::iota(std::uint64_t{1000}, std::uint64_t{1010}) |
                   std::views::transform([](std::uint64_t i) { return Post{i, i, "gen"}; });
        CHECK(posts.put_many(gen) == 10);
        txn.commit();
    }
    CHECK(store.read([](netabase::ReadTransaction<S>& txn) { return txn.open_tree<Post>().size(); }) == 214);
}

TEST_CASE("tree: put_many with a unique violation in the middle writes none of the batch", "[tree][put_many]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto members = txn.open_tree<Member>();
        members.put(Member{1, "taken@x", 1});
        members.put(Member{2, "two@x", 2});
    });

    auto check_committed = [](const auto& members) {
        CHECK(members.get(1)->value().email == "taken@x");
        CHECK(members.get(2)->value().email == "two@x");
        CHECK(members.index(&Member::email).get("taken@x")->key() == 1u);
    };

    SECTION("append path (keys past the end)") {
        auto txn = store.begin_write();
        auto members = txn.open_tree<Member>();
        members.put(Member{5, "earlier@x", 5});  // same txn, before the batch: stays
        std::vector<Member> batch{{10, "a@x", 0}, {11, "b@x", 0}, {12, "taken@x", 0}, {13, "c@x", 0}};
        try {
            members.put_many(batch);
            FAIL("put_many did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::unique_violation);
            CHECK(has(e.what(), "members"));
            CHECK(has(e.what(), "taken@x"));
        }
        CHECK(members.size() == 3);
        for (std::uint64_t k : {10, 11, 12, 13}) CHECK_FALSE(members.contains(k));
        for (const char* e : {"a@x", "b@x", "c@x"}) CHECK(members.index(&Member::email).count(e) == 0);
        CHECK(members.index(&Member::email).size() == 3);
        CHECK(members.contains(5));
        check_committed(members);
        txn.commit();  // the txn is still usable
    }
    SECTION("interleaved keys, one of them an overwrite") {
        auto txn = store.begin_write();
        auto members = txn.open_tree<Member>();
        members.put(Member{5, "earlier@x", 5});
        std::vector<Member> batch{{0, "zero@x", 0}, {2, "two-new@x", 9}, {3, "taken@x", 0}, {4, "four@x", 0}};
        try {
            members.put_many(batch);
            FAIL("put_many did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::unique_violation);
        }
        CHECK(members.size() == 3);
        CHECK_FALSE(members.contains(0));
        CHECK_FALSE(members.contains(3));
        CHECK_FALSE(members.contains(4));
        CHECK(members.get(2)->value().level == 2u);  // the overwrite was undone too
        CHECK(members.index(&Member::email).count("two-new@x") == 0);
        CHECK(members.index(&Member::email).count("two@x") == 1);
        check_committed(members);
        txn.commit();
    }
    SECTION("two rows of the batch share a unique key") {
        auto txn = store.begin_write();
        auto members = txn.open_tree<Member>();
        members.put(Member{5, "earlier@x", 5});
        std::vector<Member> batch{{20, "dup@x", 0}, {21, "fine@x", 0}, {22, "dup@x", 0}};
        REQUIRE_THROWS_AS(members.put_many(batch), netabase::error);
        CHECK(members.size() == 3);
        CHECK(members.index(&Member::email).count("dup@x") == 0);
        check_committed(members);
        txn.commit();
    }

    auto r = store.begin_read();
    auto members = r.open_tree<Member>();
    CHECK(members.size() == 3);
    CHECK(members.contains(5));
    CHECK(members.index(&Member::email).size() == 3);
    check_committed(members);
}

// A unique value can move between rows within one batch; whether a row violates the key then
// depends on the rows before it, so put_many keeps the input order for such a model (found by
// ops_fuzz when the first version sorted these batches too: fuzz/corpus/ops_fuzz/put_many_moves_unique).
TEST_CASE("tree: put_many with a unique key writes in input order: a value freed earlier in the batch can be "
          "taken later",
          "[tree][put_many]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        // Row 5 takes x, gives it up for y, then row 3 takes x: fine in this order. Sorted by
        // key, row 3 would take x while row 5 still held it.
        std::vector<Member> batch{{5, "x", 1}, {5, "y", 2}, {3, "x", 3}};
        CHECK(txn.open_tree<Member>().put_many(batch) == 3);
    });
    auto txn = store.begin_read();
    auto members = txn.open_tree<Member>();
    CHECK(members.get(5)->value().email == "y");
    CHECK(members.get(3)->value().email == "x");
    CHECK(members.index(&Member::email).get("x")->key() == 3u);
    CHECK(members.index(&Member::email).get("y")->key() == 5u);
    // Two rows of one batch with the same unique value violate it, as row by row.
    auto e = netabase_test::error_of([&] {
        store.write([](netabase::WriteTransaction<S>& w) {
            std::vector<Member> batch{{7, "z", 3}, {8, "z", 1}};
            w.open_tree<Member>().put_many(batch);
        });
    });
    CHECK(e.code() == netabase::errc::unique_violation);
}

TEST_CASE("tree: put_many with an oversize key in the middle writes none of the batch", "[tree][put_many]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Named>().put(Named{"m", 0}); });
    auto txn = store.begin_write();
    auto named = txn.open_tree<Named>();
    std::vector<Named> batch{{"n", 1}, {"o", 2}, {std::string(600, 'p'), 3}, {"q", 4}};
    try {
        named.put_many(batch);
        FAIL("put_many did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::key_too_large);
        CHECK(has(e.what(), "tree_test::Named"));
    }
    CHECK(named.size() == 1);
    CHECK(keys_of(named) == std::vector<std::string>{"m"});
    txn.commit();
}

// A forward range is read twice by put_many: once to encode, check and sort the keys, then
// to write in key order. Appends fill LMDB's pages; inserts in arrival order split them and
// leave them part full.
TEST_CASE("tree: put_many of a forward range writes in key order: a shuffled load packs pages as a sorted one, "
          "of equal keys the last wins",
          "[tree][put_many]") {
    std::vector<Named> sorted;
    for (std::uint32_t i = 0; i < 3000; ++i) {
        char id[16];
        std::snprintf(id, sizeof id, "k%06u", i);
        sorted.push_back(Named{id, i});
    }
    std::vector<Named> shuffled = sorted;
    for (std::size_t i = shuffled.size() - 1; i > 0; --i)  // a fixed permutation (LCG), no clock
        std::swap(shuffled[i], shuffled[(i * 2654435761u + 12345u) % (i + 1)]);
    REQUIRE(shuffled.front().id != sorted.front().id);

    auto load = [&](auto&& write) {
        netabase_test::temp_dir dir;
        Store store{dir.path(), fast()};
        store.write([&](netabase::WriteTransaction<S>& txn) { write(txn.open_tree<Named>()); });
        auto txn = store.begin_read();
        auto named = txn.open_tree<Named>();
        CHECK(keys_of(named).size() == sorted.size());
        CHECK(named.get("k001234")->value().n == 1234u);
        return leaf_pages(store, "tree_test::Named");
    };
    const auto appended = load([&](auto named) { CHECK(named.put_many(sorted) == sorted.size()); });
    const auto from_shuffled = load([&](auto named) { CHECK(named.put_many(shuffled) == shuffled.size()); });
    const auto one_by_one = load([&](auto named) {
        for (const auto& n : shuffled) named.put(n);
    });
    CHECK(from_shuffled == appended);
    CHECK(from_shuffled < one_by_one);  // arrival order leaves pages part full (27 against 38 pages)

    // 8-byte keys, over 256 of them (sorted by radix, a byte per pass): unsigned keys whose
    // bytes all differ, signed keys on both sides of zero, and repeats (the later one kept).
    {
        netabase_test::temp_dir d;
        Store store{d.path(), fast()};
        std::vector<Post> posts;
        std::vector<Signed> signs;
        for (std::uint64_t i = 0; i < 600; ++i) {
            std::uint64_t k = (i * 0x9E3779B97F4A7C15u) >> (i % 3 == 0 ? 0 : 24);  // spread over every byte
            posts.push_back(Post{k, i, "first"});
            if (i % 5 == 0) posts.push_back(Post{k, i, "again"});
            signs.push_back(Signed{static_cast<std::int64_t>(i % 2 ? i * 7919 : -(i * 7919)), std::to_string(i)});
        }
        store.write([&](netabase::WriteTransaction<S>& txn) {
            CHECK(txn.open_tree<Post>().put_many(posts) == posts.size());
            CHECK(txn.open_tree<Signed>().put_many(signs) == signs.size());
        });
        std::map<std::uint64_t, std::string> want_posts;
        for (const auto& p : posts) want_posts[p.id] = p.body;
        std::vector<std::int64_t> want_signs;
        for (const auto& x : signs) want_signs.push_back(x.id);
        std::sort(want_signs.begin(), want_signs.end());
        auto txn = store.begin_read();
        std::map<std::uint64_t, std::string> got_posts;
        for (const auto& g : txn.open_tree<Post>()) got_posts[g.key()] = g.value().body;
        CHECK(got_posts == want_posts);
        CHECK(keys_of(txn.open_tree<Post>()).size() == want_posts.size());
        CHECK(keys_of(txn.open_tree<Signed>()) == want_signs);
        // Written in key order: packed as tightly as the same rows loaded already sorted.
        netabase_test::temp_dir d2;
        Store in_order{d2.path(), fast()};
        in_order.write([&](netabase::WriteTransaction<S>& w) {
            std::vector<Post> p2;
            for (const auto& [k, body] : want_posts) p2.push_back(Post{k, 0, body});
            w.open_tree<Post>().put_many(p2);
            std::vector<Signed> s2 = signs;
            std::sort(s2.begin(), s2.end(), [](const Signed& a, const Signed& b) { return a.id < b.id; });
            w.open_tree<Signed>().put_many(s2);
        });
        CHECK(leaf_pages(store, "tree_test::Post") == leaf_pages(in_order, "tree_test::Post"));
        CHECK(leaf_pages(store, "tree_test::Signed") == leaf_pages(in_order, "tree_test::Signed"));
        CHECK(leaf_pages(store, "tree_test::Post") > 1);
    }

    // Equal keys in one batch: the rows go in stably sorted, so the later one is the one kept.
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        CHECK(txn.open_tree<Named>().put_many(std::vector<Named>{{"b", 1}, {"a", 1}, {"b", 2}, {"c", 1}, {"a", 2}, {"b", 3}}) == 6);
    });
    auto txn = store.begin_read();
    auto named = txn.open_tree<Named>();
    CHECK(keys_of(named) == std::vector<std::string>{"a", "b", "c"});
    CHECK(named.get("a")->value().n == 2u);
    CHECK(named.get("b")->value().n == 3u);
}

TEST_CASE("tree: put_many of a forward range refuses an oversize key, or a range that throws, before writing "
          "anything, without a nested transaction",
          "[tree][put_many]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Named>().put(Named{"m", 0}); });
    {
        auto txn = store.begin_write();
        auto named = txn.open_tree<Named>();
        named.put(Named{"l", 7});
        std::vector<Named> batch{{"q", 1}, {"n", 2}, {std::string(600, 'p'), 3}, {"o", 4}};
        counting c;
        auto e = netabase_test::error_of([&] { named.put_many(batch); });
        CHECK(e.code() == netabase::errc::key_too_large);
        CHECK(c.seam.total == 0);  // refused before any LMDB call: no nested transaction, no write
        // A forward range whose third row throws as it is read: nothing was written either.
        const std::vector<Named> src{{"x", 1}, {"w", 2}};
        auto rows = std::views::iota(0, 3) | std::views::transform([&](int i) -> const Named& {
                        if (i == 2) throw std::runtime_error("the input range failed");
                        return src[static_cast<std::size_t>(i)];
                    });
        CHECK_THROWS_WITH(named.put_many(rows), "the input range failed");
        CHECK(c.seam.total == 0);
        txn.commit();  // the transaction is as it was before both calls, and commits
    }
    auto txn = store.begin_read();
    CHECK(keys_of(txn.open_tree<Named>()) == std::vector<std::string>{"l", "m"});
}

// ---- ordering ------------------------------------------------------------------------------

TEST_CASE("tree: iteration ascends numerically for uint64 keys", "[tree][order]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    std::vector<std::uint64_t> ks{256, 1, 0, 65536, 255, std::uint64_t{1} << 40, 257, 65535,
                                  std::numeric_limits<std::uint64_t>::max(), 16777216, 2};
    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        for (auto k : ks) posts.put(Post{k, k + 1, ""});
    });
    std::ranges::sort(ks);
    auto r = store.begin_read();
    auto posts = r.open_tree<Post>();
    CHECK(keys_of(posts) == ks);
    CHECK(posts.first()->key() == 0u);
    CHECK(posts.last()->key() == std::numeric_limits<std::uint64_t>::max());
    CHECK(row_keys(posts.range(255, 65536)) == std::vector<std::uint64_t>{255, 256, 257, 65535});
}

TEST_CASE("tree: int64 keys with negatives sort numerically", "[tree][order]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    std::vector<std::int64_t> ks{0, -1, 1, 255, -256, 256, -1000000, std::numeric_limits<std::int64_t>::min(),
                                 std::numeric_limits<std::int64_t>::max(), -2, 1000000, -255};
    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto t = txn.open_tree<Signed>();
        for (auto k : ks) t.put(Signed{k, std::to_string(k)});
    });
    std::ranges::sort(ks);
    auto r = store.begin_read();
    auto t = r.open_tree<Signed>();
    CHECK(keys_of(t) == ks);
    CHECK(t.first()->key() == std::numeric_limits<std::int64_t>::min());
    CHECK(t.last()->key() == std::numeric_limits<std::int64_t>::max());
    CHECK(row_keys(t.range(-256, 2)) == std::vector<std::int64_t>{-256, -255, -2, -1, 0, 1});
    CHECK(t.get(-1000000)->value().label == "-1000000");
    for (const auto& row : t) CHECK(row.value().label == std::to_string(row.key()));
}

TEST_CASE("tree: double keys with negatives sort numerically", "[tree][order]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> ks{0.0, -0.5, 0.25, -2.5, 3.0, -1e300, 1e300, inf, -inf, -3.0, 1e-300, -1e-300, 2.0};
    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto t = txn.open_tree<Real>();
        std::int32_t n = 0;
        for (auto k : ks) t.put(Real{k, n++});
    });
    std::ranges::sort(ks);
    auto r = store.begin_read();
    auto t = r.open_tree<Real>();
    CHECK(keys_of(t) == ks);
    CHECK(row_keys(t.range(-3.0, 0.25)) == std::vector<double>{-3.0, -2.5, -0.5, -1e-300, 0.0, 1e-300});
    CHECK(t.first()->key() == -inf);
    CHECK(t.last()->key() == inf);
    CHECK(t.get(-2.5)->value().n == 3);
    CHECK(t.contains(-0.0));  // -0.0 == 0.0
}

TEST_CASE("tree: string keys sort like std::string and look up with string_view", "[tree][order]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    std::vector<std::string> ks{"b", "a", "", "ab", "B", "abc", std::string("a\0b", 3), "a\x01", "\xff", "aa", "z"};
    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto t = txn.open_tree<Named>();
        std::uint32_t n = 0;
        for (const auto& k : ks) t.put(Named{k, n++});
    });
    std::ranges::sort(ks);
    auto r = store.begin_read();
    auto t = r.open_tree<Named>();
    CHECK(keys_of(t) == ks);
    CHECK(t.get("ab")->value().n == 3u);
    CHECK(t.get(std::string_view("abc"))->value().n == 5u);
    CHECK(t.get(std::string("z"))->value().n == 10u);
    CHECK(t.get(std::string("a\0b", 3))->value().n == 6u);
    CHECK(t.contains(""));
    CHECK_FALSE(t.contains("abcd"));
    CHECK_FALSE(t.contains(std::string("a\0", 2)));
    CHECK(row_keys(t.range("a", "b")) ==
          std::vector<std::string>{"a", std::string("a\0b", 3), "a\x01", "aa", "ab", "abc"});
    CHECK(t.first()->key().empty());
    CHECK(t.last()->key() == "\xff");
}

TEST_CASE("tree: tuple keys sort lexicographically", "[tree][order]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    using K = std::tuple<std::string, std::int32_t>;
    std::vector<K> ks{{"b", 1}, {"a", 5}, {"ab", -1}, {"a", -5}, {"a", 0}, {"", 100}, {"b", -1}, {"a", 300}};
    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto t = txn.open_tree<Pairish>();
        std::uint32_t n = 0;
        for (const auto& k : ks) t.put(Pairish{k, n++});
    });
    std::ranges::sort(ks);
    auto r = store.begin_read();
    auto t = r.open_tree<Pairish>();
    CHECK(keys_of(t) == ks);
    CHECK(t.get(K{"a", -5})->value().n == 3u);
    CHECK_FALSE(t.contains(K{"a", 1}));
    CHECK(row_keys(t.range(K{"a", 0}, K{"b", 0})) == std::vector<K>{{"a", 0}, {"a", 5}, {"a", 300}, {"ab", -1}, {"b", -1}});
}

// ---- range, first, last --------------------------------------------------------------------

TEST_CASE("tree: range is half-open and empty when lo >= hi; first and last", "[tree][range]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    {
        auto r = store.begin_read();
        auto posts = r.open_tree<Post>();
        CHECK_FALSE(posts.first().has_value());
        CHECK_FALSE(posts.last().has_value());
        CHECK(row_keys(posts.range(0, 100)).empty());
    }
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        for (std::uint64_t i = 10; i < 30; ++i) posts.put(Post{i, i, "p" + std::to_string(i)});
        CHECK(posts.first()->key() == 10u);
        CHECK(posts.last()->value().body == "p29");
    });
    auto r = store.begin_read();
    auto posts = r.open_tree<Post>();
    CHECK(row_keys(posts.range(12, 15)) == std::vector<std::uint64_t>{12, 13, 14});
    CHECK(row_keys(posts.range(0, 11)) == std::vector<std::uint64_t>{10});
    CHECK(row_keys(posts.range(29, 1000)) == std::vector<std::uint64_t>{29});
    CHECK(row_keys(posts.range(30, 1000)).empty());
    CHECK(row_keys(posts.range(0, 10)).empty());
    CHECK(row_keys(posts.range(15, 15)).empty());
    CHECK(row_keys(posts.range(20, 12)).empty());
    CHECK(row_keys(posts.range(0, std::numeric_limits<std::uint64_t>::max())).size() == 20);
    for (const auto& row : posts.range(20, 22)) CHECK(row.value().body == "p" + std::to_string(row.key()));
    auto f = posts.first();
    auto l = posts.last();
    REQUIRE(f);
    REQUIRE(l);
    CHECK(f->key() == 10u);
    CHECK(f->value().body == "p10");
    CHECK(l->key() == 29u);
}

// ---- remove, remove_many, clear ------------------------------------------------------------

TEST_CASE("tree: remove, remove_many and clear", "[tree][remove]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        for (std::uint64_t i = 1; i <= 10; ++i) posts.put(Post{i, i, ""});
        txn.open_tree<Signed>().put(Signed{-1, "other table"});
    });
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        CHECK(posts.remove(3));
        CHECK_FALSE(posts.remove(3));
        CHECK_FALSE(posts.remove(99));
        CHECK_FALSE(posts.contains(3));
        CHECK(posts.size() == 9);
        std::vector<std::uint64_t> gone{1, 2, 3, 50, 10};
        CHECK(posts.remove_many(gone) == 3);
        CHECK(posts.size() == 6);
        CHECK(posts.remove_many(std::vector<std::uint64_t>{}) == 0);
        CHECK(posts.remove_many(std::vector<std::uint64_t>{4, 4}) == 1);
    });
    {
        auto r = store.begin_read();
        auto posts = r.open_tree<Post>();
        CHECK(keys_of(posts) == std::vector<std::uint64_t>{5, 6, 7, 8, 9});
    }
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        posts.clear();
        CHECK(posts.empty());
        CHECK(posts.size() == 0);
        CHECK(count_rows(posts) == 0);
        CHECK_FALSE(posts.first().has_value());
        posts.clear();  // clearing an empty table is fine
    });
    auto r = store.begin_read();
    CHECK(r.open_tree<Post>().empty());
    CHECK(r.open_tree<Signed>().size() == 1);  // clear touches one table only
}

// ---- update --------------------------------------------------------------------------------

TEST_CASE("tree: update modifies a row, false for a missing key, throws when the key changes", "[tree][update]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto accounts = txn.open_tree<Account>();
        accounts.put(Account{"alice", 1, 100});
        accounts.put(Account{"bob", 2, 50});
    });
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto accounts = txn.open_tree<Account>();
        CHECK(accounts.update(1, [](Account& a) { a.balance += 25; }));
        CHECK(accounts.get(1)->value().balance == 125);

        bool called = false;
        CHECK_FALSE(accounts.update(3, [&](Account& a) {
            called = true;
            a.balance = 0;
        }));
        CHECK_FALSE(called);
        CHECK_FALSE(accounts.contains(3));

        try {
            accounts.update(2, [](Account& a) {
                a.id = 7;
                a.balance = -1;
            });
            FAIL("update changing the primary key did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::invalid_argument);
            CHECK(has(e.what(), "accounts"));
        }
        CHECK(accounts.size() == 2);
        CHECK_FALSE(accounts.contains(7));
        CHECK(accounts.get(2)->value().balance == 50);

        // an exception from fn propagates and nothing is written
        REQUIRE_THROWS_AS(accounts.update(2,
                                          [](Account& a) {
                                              a.balance = 0;
                                              throw std::runtime_error("no");
                                          }),
                          std::runtime_error);
        CHECK(accounts.get(2)->value().balance == 50);
    });
    auto r = store.begin_read();
    auto accounts = r.open_tree<Account>();
    CHECK(accounts.get(1)->value().balance == 125);
    CHECK(accounts.get(1)->value().owner == "alice");
    CHECK(accounts.get(2)->value().balance == 50);
    CHECK_FALSE(accounts.contains(7));
    CHECK(keys_of(accounts) == std::vector<std::uint64_t>{1, 2});
}

// ---- several trees, ranges algorithms ------------------------------------------------------

TEST_CASE("tree: two trees in one transaction commit and abort together", "[tree]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    {
        auto txn = store.begin_write();
        auto posts = txn.open_tree<Post>();
        auto accounts = txn.open_tree<Account>();
        posts.put(Post{1, 1, "p"});
        accounts.put(Account{"a", 1, 10});
        posts.put(Post{2, 1, "q"});
        CHECK(posts.size() == 2);
        CHECK(accounts.size() == 1);
        txn.commit();
    }
    {
        auto txn = store.begin_write();
        txn.open_tree<Post>().put(Post{3, 1, "r"});
        txn.open_tree<Account>().remove(1);
        txn.abort();
    }
    auto r = store.begin_read();
    CHECK(r.open_tree<Post>().size() == 2);
    CHECK(r.open_tree<Account>().get(1)->value().balance == 10);
}

TEST_CASE("tree: std::ranges algorithms and views over rows", "[tree][ranges]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto posts = txn.open_tree<Post>();
        for (std::uint64_t i = 1; i <= 20; ++i) posts.put(Post{i, i % 3, "b" + std::to_string(i)});
        auto members = txn.open_tree<Member>();
        for (std::uint64_t i = 1; i <= 6; ++i) members.put(Member{i, std::string(1, char('g' - i)) + "@x", 0});
    });
    auto r = store.begin_read();
    auto posts = r.open_tree<Post>();

    std::vector<std::uint64_t> seen;
    std::ranges::for_each(posts.range(5, 9), [&](const netabase::Guard<Post>& g) { seen.push_back(g.key()); });
    CHECK(seen == std::vector<std::uint64_t>{5, 6, 7, 8});

    std::vector<std::uint64_t> firsts;
    for (const auto& g : posts.range(10, 100) | std::views::take(3)) firsts.push_back(g.key());
    CHECK(firsts == std::vector<std::uint64_t>{10, 11, 12});

    std::vector<std::string> bodies;
    for (auto&& b : posts | std::views::filter([](const netabase::Guard<Post>& g) { return g.value().author == 0; }) |
                        std::views::transform([](const netabase::Guard<Post>& g) { return g.value().body; }))
        bodies.push_back(b);
    CHECK(bodies == std::vector<std::string>{"b3", "b6", "b9", "b12", "b15", "b18"});

    auto ids = posts.range(1, 6) | std::views::transform([](const netabase::Guard<Post>& g) { return g.key() * 2; });
    std::vector<std::uint64_t> doubled;
    std::ranges::copy(ids, std::back_inserter(doubled));
    CHECK(doubled == std::vector<std::uint64_t>{2, 4, 6, 8, 10});

    auto rows = posts.range(1, 21);
    auto it = std::ranges::find_if(rows, [](const netabase::Guard<Post>& g) { return g.value().body == "b17"; });
    REQUIRE(it != rows.end());
    CHECK((*it).key() == 17u);

    // over a secondary index: emails ascend while primary keys descend
    auto by_email = r.open_tree<Member>().index(&Member::email);
    std::vector<std::uint64_t> pks;
    std::ranges::for_each(by_email.range("b@x", "e@x") | std::views::transform([](const netabase::Guard<Member>& g) {
                              return g.key();
                          }),
                          [&](std::uint64_t k) { pks.push_back(k); });
    CHECK(pks == std::vector<std::uint64_t>{5, 4, 3});
    std::vector<std::uint64_t> all;
    for (auto k : by_email | std::views::take(2) |
                      std::views::transform([](const netabase::Guard<Member>& g) { return g.key(); }))
        all.push_back(k);
    CHECK(all == std::vector<std::uint64_t>{6, 5});
}

// ---- guards --------------------------------------------------------------------------------

TEST_CASE("tree: a guard from get() keeps its key after later lookups", "[tree][guard]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto named = txn.open_tree<Named>();
        named.put(Named{"alpha", 1});
        named.put(Named{"beta", 2});
    });
    auto r = store.begin_read();
    auto named = r.open_tree<Named>();
    auto a = named.get("alpha");
    auto b = named.get("beta");
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    const auto want = netabase::encode_key(std::string("alpha"));
    CHECK(std::ranges::equal(a->key_bytes(), want));
    CHECK(a->key() == "alpha");
    CHECK(a->value().n == 1u);
    CHECK(b->key() == "beta");
}

// ---- oversize keys -------------------------------------------------------------------------

TEST_CASE("tree: a primary key over LMDB's limit is rejected and nothing is written", "[tree][key_too_large]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    const std::string big(600, 'k');
    {
        auto txn = store.begin_write();
        auto named = txn.open_tree<Named>();
        named.put(Named{"small", 1});
        try {
            named.put(Named{big, 2});
            FAIL("put of an oversize key did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::key_too_large);
            CHECK(has(e.what(), "tree_test::Named"));
            CHECK(e.table() == "tree_test::Named");
        }
        REQUIRE_THROWS_AS(named.insert(Named{big, 3}), netabase::error);
        CHECK(named.size() == 1);
        CHECK_FALSE(named.get(big).has_value());
        CHECK_FALSE(named.contains(big));
        CHECK_FALSE(named.remove(big));
        CHECK_FALSE(named.update(big, [](Named& n) { n.n = 9; }));
        // the transaction is still usable
        CHECK(txn.is_open());
        named.put(Named{"after", 4});
        txn.commit();
    }
    auto r = store.begin_read();
    auto named = r.open_tree<Named>();
    CHECK(keys_of(named) == std::vector<std::string>{"after", "small"});
    CHECK_FALSE(named.get(big).has_value());
    CHECK_FALSE(named.contains(big));
}

TEST_CASE("tree: the key size limit is exact (511 encoded bytes)", "[tree][key_too_large]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    // a string key encodes to its bytes plus a two-byte terminator
    const std::string fits(509, 'f');
    const std::string over(510, 'o');
    REQUIRE(netabase::encode_key(fits).size() == 511);
    store.write([&](netabase::WriteTransaction<S>& txn) {
        auto named = txn.open_tree<Named>();
        named.put(Named{fits, 1});
        try {
            named.put(Named{over, 2});
            FAIL("put of a 512-byte key did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::key_too_large);
        }
    });
    auto r = store.begin_read();
    auto named = r.open_tree<Named>();
    CHECK(named.size() == 1);
    CHECK(named.get(fits)->value().n == 1u);
    CHECK(named.get(fits)->key() == fits);
}

TEST_CASE("tree: using a finished transaction's tree throws transaction_finished", "[tree]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    auto txn = store.begin_write();
    auto posts = txn.open_tree<Post>();
    posts.put(Post{1, 1, ""});
    txn.commit();
    try {
        (void)posts.get(1);
        FAIL("get on a committed txn's tree did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::transaction_finished);
    }
    REQUIRE_THROWS_AS(posts.put(Post{2, 2, ""}), netabase::error);
    REQUIRE_THROWS_AS(posts.size(), netabase::error);
    CHECK(store.begin_read().open_tree<Post>().size() == 1);
}

// ---- point gets beside open iterators ------------------------------------------------------

// get() positions a cursor kept in the transaction's cache; an iterator owns its own cursor.
// A get in the middle of a walk must not move the walk, in a read and in a write transaction,
// and a get still works beside more live iterators than the cache has slots.
TEST_CASE("tree: get inside a walk leaves the walk where it was; gets work beside live iterators", "[tree]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](auto& txn) {
        auto posts = txn.template open_tree<Post>();
        for (std::uint64_t i = 1; i <= 50; ++i) posts.put(Post{i, i * 10, "p" + std::to_string(i)});
    });
    auto walk_with_gets = [](const auto& posts) {
        std::vector<std::uint64_t> seen;
        std::uint64_t got = 0;
        for (const auto& g : posts) {
            seen.push_back(g.key());
            auto other = posts.get(51 - g.key());  // far from the walk's position
            REQUIRE(other.has_value());
            got += other->value().author;
            CHECK(!posts.get(1000).has_value());  // a miss, too
        }
        return std::pair(seen, got);
    };
    std::vector<std::uint64_t> all(50);
    std::iota(all.begin(), all.end(), std::uint64_t{1});
    {
        auto txn = store.begin_read();
        auto [seen, got] = walk_with_gets(txn.open_tree<Post>());
        CHECK(seen == all);
        CHECK(got == 12750u);  // 10 * (1 + ... + 50)
    }
    {
        auto txn = store.begin_write();
        auto [seen, got] = walk_with_gets(txn.open_tree<Post>());
        CHECK(seen == all);
        CHECK(got == 12750u);
    }
    // Live iterators on the tree itself do not fill the cache: each took its cursor out of it,
    // and the get opens one into a free slot. Gets still work beside them.
    for (int write = 0; write < 2; ++write) {
        auto check_beside_walks = [](const auto& posts) {
            std::vector<decltype(posts.begin())> live;
            for (int i = 0; i < 12; ++i) live.push_back(posts.begin());  // more than the cache holds
            for (std::uint64_t k = 1; k <= 50; ++k) {
                auto g = posts.get(k);
                REQUIRE(g.has_value());
                CHECK(g->view().template get<&Post::body>() == "p" + std::to_string(k));
            }
            for (auto& it : live) CHECK((*it).key() == 1u);
        };
        if (write) {
            auto txn = store.begin_write();
            check_beside_walks(txn.open_tree<Post>());
        } else {
            auto txn = store.begin_read();
            check_beside_walks(txn.open_tree<Post>());
        }
    }
}

// The cursor cache (detail::cursor_cache) holds 8 cursors. Eight walks of another table, ended,
// leave their cursors in it: every slot holds a cursor, none on Post. A get on Post then finds
// neither its cursor nor a free slot, and borrows a cursor for its one lookup
// (with_lookup_cursor's fallback): one mdb_cursor_open per get, counted through the LMDB seam.
// With one slot free, the first get opens a cursor into it and the others reuse it.
TEST_CASE("tree: gets work with the cursor cache full of other tables' cursors", "[tree]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](auto& txn) {
        auto posts = txn.template open_tree<Post>();
        for (std::uint64_t i = 1; i <= 50; ++i) posts.put(Post{i, i * 10, "p" + std::to_string(i)});
        auto signeds = txn.template open_tree<Signed>();
        for (std::int64_t i = -2; i <= 2; ++i) signeds.put(Signed{i, "s" + std::to_string(i)});
    });
    // Gets of every row; returns the cursor opens they made.
    auto gets = [](const auto& posts) {
        counting c;
        std::size_t found = 0;
        for (std::uint64_t k = 1; k <= 50; ++k) {
            auto g = posts.get(k);
            if (g && g->view().template get<&Post::body>() == "p" + std::to_string(k)) ++found;
        }
        CHECK(found == 50);
        CHECK_FALSE(posts.get(1000).has_value());
        return c.count(netabase::detail::call::cursor_open);
    };
    auto fill = [](const auto& posts, const auto& signeds) {
        // Post's cursors out of the cache while the cache fills (a pooled read transaction
        // brings back the cursors it had), then closed: no slot is left for them.
        std::vector<decltype(posts.begin())> held;
        for (int i = 0; i < 8; ++i) held.push_back(posts.begin());
        std::vector<decltype(signeds.begin())> walks;
        for (int i = 0; i < 8; ++i) walks.push_back(signeds.begin());
        for (auto& w : walks) CHECK((*w).key() == -2);
        walks.clear();  // their 8 cursors go back to the cache: every slot
        for (auto& h : held) CHECK((*h).key() == 1u);
    };
    for (int write = 0; write < 2; ++write) {
        INFO((write ? "write transaction" : "read transaction"));
        auto run = [&](auto& txn) {
            auto posts = txn.template open_tree<Post>();
            auto signeds = txn.template open_tree<Signed>();
            fill(posts, signeds);
            CHECK(gets(posts) == 51);  // the fallback: a cursor per get, the miss included
            CHECK(gets(posts) == 51);  // and it stays so
            auto one = signeds.begin();  // takes a Signed cursor out: one slot free
            CHECK((*one).key() == -2);
            CHECK(gets(posts) == 1);  // the first get's cursor stays in that slot
            CHECK(gets(posts) == 0);
        };
        if (write) {
            auto txn = store.begin_write();
            run(txn);
        } else {
            auto txn = store.begin_read();
            run(txn);
        }
    }
}

}  // namespace tree_test
