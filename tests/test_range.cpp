// Ordered scans on primary keys and on every kind of index: all/range/from/until/prefix and
// their reverses, checked against a std::map model of ~500 random rows; equal_range, count,
// first/last, std::ranges adaptors on Rows; multi-valued keys kept exact through every write.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <ranges>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace range_test {

using NameAge = std::tuple<std::string, std::uint32_t>;

// ---- models ------------------------------------------------------------------------------

struct Person {
    std::uint64_t id;
    std::uint32_t group;  // non-unique index
    std::string email;    // unique index
    std::string name;
    std::uint32_t age;
    std::vector<std::string> tags;  // multi-valued index, duplicates allowed inside a row
    friend bool operator==(const Person&, const Person&) = default;
};

constexpr auto by_name_age =
    netabase::key<Person>("by_name_age", [](const Person& p) { return NameAge{p.name, p.age}; });
constexpr auto by_tag = netabase::keys<Person>("by_tag", [](const Person& p) { return p.tags; });

constexpr auto netabase_model(netabase::tag<Person>) {
    return netabase::model<Person>("people")
        .primary_key(&Person::id)
        .secondary_key(&Person::group)
        .secondary_key(&Person::email, netabase::unique)
        .secondary_key(by_name_age)
        .secondary_key(by_tag);
}

struct Signed {  // no declaration: the first field is the primary key
    std::int64_t id;
    std::uint32_t v;
};

struct Named {
    std::string id;
    std::uint32_t v;
};

struct Versioned {  // a computed composite primary key
    std::string name;
    std::uint32_t seq;
    std::string body;
};

constexpr auto versioned_pk =
    netabase::key<Versioned>("pk", [](const Versioned& v) { return NameAge{v.name, v.seq}; });

constexpr auto netabase_model(netabase::tag<Versioned>) {
    return netabase::model<Versioned>("versioned").primary_key(versioned_pk);
}

struct Badge {
    std::uint64_t id;
    std::vector<std::string> codes;
    friend bool operator==(const Badge&, const Badge&) = default;
};

constexpr auto by_code = netabase::keys<Badge>("by_code", [](const Badge& b) { return b.codes; });

constexpr auto netabase_model(netabase::tag<Badge>) {
    return netabase::model<Badge>("badges").primary_key(&Badge::id).secondary_key(by_code, netabase::unique);
}

using S = netabase::definition<Person, Signed, Named, Versioned, Badge>;
using Store = netabase::Store<S>;

static_assert(std::ranges::input_range<netabase::Rows<Person>>);
static_assert(std::ranges::view<netabase::Rows<Person>>);
static_assert(std::is_same_v<std::ranges::range_value_t<netabase::Rows<Person>>, netabase::Guard<Person>>);

// ---- printing and models ---------------------------------------------------------------------

std::string show(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out + "\"";
}
template <class T>
requires std::is_integral_v<T> std::string show(T v) { return std::to_string(v); }
std::string show(const NameAge& t) { return "(" + show(std::get<0>(t)) + ", " + show(std::get<1>(t)) + ")"; }

std::string code_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const netabase::error& e) {
        return std::string(e.code().category().name()) + ": " + e.code().message();
    }
    return "<no exception>";
}

// Primary keys in scan order, printed (for failure messages and literal expectations).
using Keys = std::vector<std::string>;

template <class PK>
Keys shown(const std::vector<PK>& v) {
    Keys out;
    for (const auto& k : v) out.push_back(show(k));
    return out;
}

template <class R>
auto pks_of(R&& rows) {
    using PK = std::remove_cvref_t<decltype((*std::ranges::begin(rows)).key())>;
    std::vector<PK> out;
    for (const auto& g : rows) out.push_back(g.key());
    return out;
}

template <class R>
Keys keys_of(R&& rows) {
    return shown(pks_of(std::forward<R>(rows)));
}

template <class PK>
std::vector<PK> reversed(std::vector<PK> k) {
    std::reverse(k.begin(), k.end());
    return k;
}

// The scan yields exactly `want`, in order (compared natively; printed only on a mismatch).
template <class R, class PK>
void check_keys(R&& rows, const std::vector<PK>& want) {
    auto got = pks_of(std::forward<R>(rows));
    static_assert(std::is_same_v<decltype(got), std::vector<PK>>);
    if (got == want)
        CHECK(got.size() == want.size());
    else
        CHECK(shown(got) == shown(want));
}

// What a scan over a key of type K must yield: entries (key, primary key) in (K, PK) order.
template <class K, class PK>
struct Expected {
    std::vector<std::pair<K, PK>> entries;

    void sort() {
        std::sort(entries.begin(), entries.end());
        REQUIRE(std::adjacent_find(entries.begin(), entries.end()) == entries.end());
    }
    template <class Pred>
    std::vector<PK> where(Pred p) const {
        std::vector<PK> out;
        for (const auto& [k, pk] : entries)
            if (p(k)) out.push_back(pk);
        return out;
    }
    std::size_t count(const K& k) const {
        return static_cast<std::size_t>(std::count_if(entries.begin(), entries.end(), [&](const auto& e) { return e.first == k; }));
    }
    std::vector<K> distinct_keys() const {
        std::vector<K> out;
        for (const auto& e : entries)
            if (out.empty() || !(out.back() == e.first)) out.push_back(e.first);
        return out;
    }
};

// all/reverse/first/last/range/from/until (and every reverse) of src against the model, for
// `rounds` random pairs of bounds drawn from `bounds`.
template <class K, class PK, class Src>
void check_scans(const Src& src, const Expected<K, PK>& want, const std::vector<K>& bounds, std::mt19937& rng,
                 int rounds) {
    const auto all = want.where([](const K&) { return true; });
    check_keys(src.all(), all);
    check_keys(src.reverse(), reversed(all));
    check_keys(src.all().reverse(), reversed(all));
    check_keys(src.all().reverse().reverse(), all);
    check_keys(src, all);  // range-for over the tree or index itself
    auto first = src.first();
    auto last = src.last();
    if (all.empty()) {
        CHECK_FALSE(first.has_value());
        CHECK_FALSE(last.has_value());
    } else {
        REQUIRE(first.has_value());
        REQUIRE(last.has_value());
        CHECK(show(first->key()) == show(all.front()));
        CHECK(show(last->key()) == show(all.back()));
    }

    std::uniform_int_distribution<std::size_t> pick(0, bounds.size() - 1);
    for (int round = 0; round < rounds; ++round) {
        const K& lo = bounds[pick(rng)];
        const K& hi = round % 8 == 0 ? lo : bounds[pick(rng)];
        INFO("lo " << show(lo) << ", hi " << show(hi));
        const auto r = want.where([&](const K& k) { return !(k < lo) && k < hi; });
        const auto f = want.where([&](const K& k) { return !(k < lo); });
        const auto u = want.where([&](const K& k) { return k < hi; });
        if (!(lo < hi)) CHECK(r.empty());
        check_keys(src.range(lo, hi), r);
        check_keys(src.range(lo, hi).reverse(), reversed(r));
        check_keys(src.from(lo), f);
        check_keys(src.from(lo).reverse(), reversed(f));
        check_keys(src.until(hi), u);
        check_keys(src.until(hi).reverse(), reversed(u));
    }
}

// equal_range/count/primary_keys of an index for every key in `probe`.
template <class K, class PK, class Ix>
void check_lookups(const Ix& ix, const Expected<K, PK>& want, const std::vector<K>& probe) {
    CHECK(ix.size() == want.entries.size());
    CHECK(ix.empty() == want.entries.empty());
    for (const K& k : probe) {
        INFO("key " << show(k));
        const auto eq = want.where([&](const K& x) { return x == k; });
        check_keys(ix.equal_range(k), eq);
        check_keys(ix.equal_range(k).reverse(), reversed(eq));
        CHECK(ix.count(k) == eq.size());
        if (ix.unique()) CHECK(ix.count(k) <= 1);
        const auto pks = ix.primary_keys(k);
        if (pks != eq) CHECK(shown(pks) == shown(eq));
    }
}

// ---- random data ---------------------------------------------------------------------------

std::string random_string(std::mt19937& rng, std::string_view alphabet, std::size_t max_len) {
    std::uniform_int_distribution<std::size_t> len(0, max_len), ch(0, alphabet.size() - 1);
    std::string s(len(rng), ' ');
    for (char& c : s) c = alphabet[ch(rng)];
    return s;
}

const std::string alphabet("ab\0z\xff", 5);  // NUL and 0xff bytes test the escaping and prefix ends

const std::vector<std::string> name_pool = {"", "ann", "anna", "an", "bob", std::string("b\0b", 3), "\xff\xff", "zed"};
const std::vector<std::string> tag_pool = {"red", "re", "green", "blue", "", std::string("r\0", 2), "\xffz", "redder"};

Person random_person(std::mt19937& rng, std::uint64_t id, std::set<std::string>& emails) {
    Person p{};
    p.id = id;
    std::uniform_int_distribution<std::uint32_t> group(0, 15), age(0, 5), ntags(0, 4);
    p.group = rng() % 50 == 0 ? std::numeric_limits<std::uint32_t>::max() : group(rng);
    do {
        p.email = random_string(rng, std::string_view("ab.\0\xff", 5), 6);
    } while (!emails.insert(p.email).second);
    p.name = name_pool[rng() % name_pool.size()];
    p.age = age(rng);
    for (std::uint32_t i = ntags(rng); i > 0; --i) p.tags.push_back(tag_pool[rng() % tag_pool.size()]);
    return p;
}

template <class T>
void add_unique(std::vector<T>& v, const T& x) {
    if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

// ---- primary keys --------------------------------------------------------------------------

TEST_CASE("ranges on a uint64 primary key and on every kind of index match a model", "[range]") {
    std::mt19937 rng(1234567);
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    std::map<std::uint64_t, Person> model;
    std::set<std::string> emails;
    while (model.size() < 500) {
        std::uint64_t id = rng() % 3000;
        if (model.size() == 10) id = std::numeric_limits<std::uint64_t>::max();
        if (model.count(id)) continue;
        model.emplace(id, random_person(rng, id, emails));
    }
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Person>();
        for (const auto& [id, p] : model) t.put(p);
    });

    auto txn = store.begin_read();
    auto tree = txn.open_tree<Person>();
    REQUIRE(tree.size() == model.size());

    SECTION("primary key") {
        Expected<std::uint64_t, std::uint64_t> want;
        std::vector<std::uint64_t> bounds = {0, 1, 2999, 3000, std::numeric_limits<std::uint64_t>::max() - 1,
                                             std::numeric_limits<std::uint64_t>::max()};
        for (const auto& [id, p] : model) {
            want.entries.emplace_back(id, id);
            if (rng() % 4 == 0) bounds.push_back(id);
        }
        for (int i = 0; i < 40; ++i) bounds.push_back(rng() % 3100);
        want.sort();
        check_scans(tree, want, bounds, rng, 100);
        // Bounds below and above every key.
        CHECK(keys_of(tree.until(0)).empty());
        CHECK(keys_of(tree.range(0, std::numeric_limits<std::uint64_t>::max())).size() == model.size() - 1);
        CHECK(keys_of(tree.from(std::numeric_limits<std::uint64_t>::max())) ==
              Keys{show(std::numeric_limits<std::uint64_t>::max())});
        CHECK(keys_of(tree.range(5000, 4000)).empty());
        CHECK(keys_of(tree.range(5000, 4000).reverse()).empty());
    }
    SECTION("non-unique index on a field") {
        auto ix = tree.index(&Person::group);
        CHECK_FALSE(ix.unique());
        Expected<std::uint32_t, std::uint64_t> want;
        for (const auto& [id, p] : model) want.entries.emplace_back(p.group, id);
        want.sort();
        std::vector<std::uint32_t> bounds = {0, 1, 7, 15, 16, 100, std::numeric_limits<std::uint32_t>::max() - 1,
                                             std::numeric_limits<std::uint32_t>::max()};
        check_scans(ix, want, bounds, rng, 50);
        check_lookups(ix, want, bounds);
        CHECK(code_of([&] { (void)ix.get(3); }) == "netabase: invalid argument");
    }
    SECTION("unique index on a string field") {
        auto ix = tree.index(&Person::email);
        CHECK(ix.unique());
        Expected<std::string, std::uint64_t> want;
        std::vector<std::string> bounds = {"", std::string(1, '\0'), "\xff\xff\xff\xff\xff\xff\xff", "a", "b."};
        for (const auto& [id, p] : model) {
            want.entries.emplace_back(p.email, id);
            if (rng() % 5 == 0) bounds.push_back(p.email);
        }
        for (int i = 0; i < 30; ++i) bounds.push_back(random_string(rng, std::string_view("ab.\0\xff", 5), 6));
        want.sort();
        check_scans(ix, want, bounds, rng, 50);
        check_lookups(ix, want, bounds);
        for (const auto& k : bounds) {
            auto g = ix.get(k);
            auto it = std::find_if(model.begin(), model.end(), [&](const auto& e) { return e.second.email == k; });
            CHECK(g.has_value() == (it != model.end()));
            if (g && it != model.end()) CHECK(g->value() == it->second);
        }
    }
    SECTION("computed composite index") {
        auto ix = tree.index(by_name_age);
        CHECK_FALSE(ix.unique());
        Expected<NameAge, std::uint64_t> want;
        for (const auto& [id, p] : model) want.entries.emplace_back(NameAge{p.name, p.age}, id);
        want.sort();
        std::vector<NameAge> bounds = {{"", 0}, {"\xff\xff\xff", std::numeric_limits<std::uint32_t>::max()}};
        for (const auto& n : name_pool)
            for (std::uint32_t a : {0u, 2u, 5u, 6u}) bounds.emplace_back(n, a);
        bounds.emplace_back("anna!", 3);
        bounds.emplace_back(std::string("b\0", 2), 9);
        check_scans(ix, want, bounds, rng, 50);
        check_lookups(ix, want, bounds);
    }
    SECTION("multi-valued index") {
        auto ix = tree.index(by_tag);
        Expected<std::string, std::uint64_t> want;
        for (const auto& [id, p] : model) {
            std::set<std::string> distinct(p.tags.begin(), p.tags.end());
            for (const auto& t : distinct) want.entries.emplace_back(t, id);
        }
        want.sort();
        std::vector<std::string> bounds = tag_pool;
        bounds.push_back("r");
        bounds.push_back("\xff\xff");
        bounds.push_back(std::string("r\0\0", 3));
        check_scans(ix, want, bounds, rng, 50);
        check_lookups(ix, want, bounds);
    }
}

TEST_CASE("ranges on an int64 primary key with negatives", "[range]") {
    std::mt19937 rng(99);
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    constexpr auto lo64 = std::numeric_limits<std::int64_t>::min();
    constexpr auto hi64 = std::numeric_limits<std::int64_t>::max();
    std::set<std::int64_t> ids = {lo64, lo64 + 1, -1, 0, 1, hi64};
    std::uniform_int_distribution<std::int64_t> d(-2000, 2000);
    while (ids.size() < 500) ids.insert(d(rng));
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Signed>();
        for (auto id : ids) t.put(Signed{id, static_cast<std::uint32_t>(id & 0xffff)});
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Signed>();
    Expected<std::int64_t, std::int64_t> want;
    std::vector<std::int64_t> bounds = {lo64, lo64 + 1, lo64 + 2, -2001, -1, 0, 1, 2, 2001, hi64 - 1, hi64};
    for (auto id : ids) {
        want.entries.emplace_back(id, id);
        if (rng() % 4 == 0) bounds.push_back(id);
    }
    for (int i = 0; i < 40; ++i) bounds.push_back(d(rng));
    want.sort();
    check_scans(tree, want, bounds, rng, 80);
    // Negatives sort before positives: the first keys are the most negative.
    auto first3 = keys_of(tree.all() | std::views::take(3));
    CHECK(first3 == Keys{show(lo64), show(lo64 + 1), show(*std::next(ids.begin(), 2))});
    CHECK(keys_of(tree.range(-1, 2)) == Keys{"-1", "0", "1"});
    CHECK(keys_of(tree.range(-1, 2).reverse()) == Keys{"1", "0", "-1"});
    CHECK(keys_of(tree.until(lo64)).empty());
    CHECK(keys_of(tree.from(hi64)) == Keys{show(hi64)});
}

TEST_CASE("ranges and prefixes on a string primary key", "[range][prefix]") {
    std::mt19937 rng(4242);
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    std::set<std::string> ids = {"", std::string(1, '\0'), "a", "ab", "abz", "\xff", "\xff\xff", std::string("a\0b", 3)};
    while (ids.size() < 500) ids.insert(random_string(rng, alphabet, 6));
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Named>();
        std::uint32_t n = 0;
        for (const auto& id : ids) t.put(Named{id, n++});
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Named>();
    REQUIRE(tree.size() == ids.size());
    Expected<std::string, std::string> want;
    std::vector<std::string> bounds = {"", std::string(1, '\0'), std::string(2, '\0'), "\xff\xff\xff\xff\xff\xff\xff",
                                       "zzzz", "a", "b"};
    for (const auto& id : ids) {
        want.entries.emplace_back(id, id);
        if (rng() % 4 == 0) bounds.push_back(id);
    }
    for (int i = 0; i < 40; ++i) bounds.push_back(random_string(rng, alphabet, 7));
    want.sort();
    check_scans(tree, want, bounds, rng, 80);

    // Prefixes that are keys, that are only prefixes of keys, that match nothing; 0x00 and
    // 0xff bytes at their ends; the empty prefix matches everything.
    std::vector<std::string> prefixes = {"a", "ab", "abz", "b", "z", "\xff", "\xff\xff", "\xff\xff\xff\xff\xff\xff\xff",
                                         std::string(1, '\0'), std::string("a\0", 2), "q", "abzabzabz"};
    for (int i = 0; i < 40; ++i) {
        const std::string& id = *std::next(ids.begin(), static_cast<std::ptrdiff_t>(rng() % ids.size()));
        prefixes.push_back(id.substr(0, rng() % (id.size() + 1)));  // sometimes the whole key
    }
    for (int i = 0; i < 20; ++i) prefixes.push_back(random_string(rng, alphabet, 4));
    // (The empty prefix has its own test case below: it must not abort this one.)
    std::erase(prefixes, std::string());
    for (const auto& p : prefixes) {
        INFO("prefix " << show(p));
        const auto m = want.where([&](const std::string& k) { return k.starts_with(p); });
        check_keys(tree.prefix(p), m);
        check_keys(tree.prefix(p).reverse(), reversed(m));
        check_keys(tree.prefix(std::string_view(p)), m);
    }
    check_keys(tree.prefix("ab"), want.where([](const std::string& k) { return k.starts_with("ab"); }));
    CHECK(keys_of(tree.prefix("q")).empty());
    CHECK(keys_of(tree.prefix("q").reverse()).empty());
}

TEST_CASE("the empty string prefix matches every row", "[range][prefix]") {
    auto store = Store::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Named>();
        t.put(Named{"", 0});
        t.put(Named{"a", 1});
        t.put(Named{"\xff", 2});
        auto p = txn.template open_tree<Person>();
        p.put(Person{1, 0, "x@y", "n", 1, {"", "t"}});
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Named>();
    const Keys every = {show(std::string()), show(std::string("a")), show(std::string("\xff"))};
    CHECK(keys_of(tree.prefix("")) == every);
    CHECK(keys_of(tree.prefix("").reverse()) == reversed(every));
    auto tags = txn.open_tree<Person>().index(by_tag);
    CHECK(keys_of(tags.prefix("")) == Keys{"1", "1"});
    CHECK(keys_of(tags.prefix(std::string())) == Keys{"1", "1"});
}

TEST_CASE("ranges and leading-field prefixes on a tuple<string, uint32_t> primary key", "[range][prefix]") {
    std::mt19937 rng(777);
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    std::set<NameAge> ids = {{"", 0}, {"an", std::numeric_limits<std::uint32_t>::max()}, {"\xff\xff", 3}};
    while (ids.size() < 500) ids.emplace(name_pool[rng() % name_pool.size()], static_cast<std::uint32_t>(rng() % 90));
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Versioned>();
        for (const auto& [n, s] : ids) t.put(Versioned{n, s, "body of " + n});
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Versioned>();
    REQUIRE(tree.size() == ids.size());
    Expected<NameAge, NameAge> want;
    std::vector<NameAge> bounds = {{"", 0}, {"\xff\xff\xff", 0}, {"an", 0}, {"ann", 100}, {"anna", 45}, {"bo", 1}};
    for (const auto& id : ids) {
        want.entries.emplace_back(id, id);
        if (rng() % 5 == 0) bounds.push_back(id);
    }
    want.sort();
    check_scans(tree, want, bounds, rng, 80);

    // Leading field: "an" must not match "ann" or "anna" (the string is terminated in the key).
    std::vector<std::string> names = name_pool;
    names.push_back("a");
    names.push_back("nobody");
    names.push_back(std::string("b\0", 2));
    for (const auto& n : names) {
        INFO("name " << show(n));
        const auto m = want.where([&](const NameAge& k) { return std::get<0>(k) == n; });
        check_keys(tree.prefix(n), m);
        check_keys(tree.prefix(n).reverse(), reversed(m));
        for (std::uint32_t s : {0u, 7u, 89u, 90u, std::numeric_limits<std::uint32_t>::max()}) {
            const auto both = want.where([&](const NameAge& k) { return k == NameAge{n, s}; });
            check_keys(tree.prefix(n, s), both);
            check_keys(tree.prefix(n, s).reverse(), both);
        }
    }
    std::size_t an = 0;
    for (const auto& g : tree.prefix(std::string("an"))) {
        CHECK(std::get<0>(g.key()) == "an");  // never "ann" or "anna"
        ++an;
    }
    CHECK(an == static_cast<std::size_t>(std::count_if(ids.begin(), ids.end(), [](const NameAge& k) { return std::get<0>(k) == "an"; })));
    CHECK(an >= 1);
    CHECK(tree.get(NameAge{"an", std::numeric_limits<std::uint32_t>::max()}).has_value());
}

TEST_CASE("prefix on string and composite indexes", "[range][prefix]") {
    std::mt19937 rng(31337);
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    std::map<std::uint64_t, Person> model;
    std::set<std::string> emails;
    for (std::uint64_t id = 1; model.size() < 300; id += 1 + rng() % 3) model.emplace(id, random_person(rng, id, emails));
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Person>();
        for (const auto& [id, p] : model) t.put(p);
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Person>();

    SECTION("unique string index") {
        auto ix = tree.index(&Person::email);
        Expected<std::string, std::uint64_t> want;
        for (const auto& [id, p] : model) want.entries.emplace_back(p.email, id);
        want.sort();
        std::vector<std::string> prefixes = {"a", "ab", "b.", ".", std::string(1, '\0'), "\xff", "zz"};
        for (const auto& [id, p] : model)
            if (rng() % 6 == 0) prefixes.push_back(p.email.substr(0, rng() % (p.email.size() + 1)));
        std::erase(prefixes, std::string());  // the empty prefix has its own test case
        for (const auto& p : prefixes) {
            INFO("prefix " << show(p));
            const auto m = want.where([&](const std::string& k) { return k.starts_with(p); });
            check_keys(ix.prefix(p), m);
            check_keys(ix.prefix(p).reverse(), reversed(m));
        }
    }
    SECTION("multi-valued string index") {
        auto ix = tree.index(by_tag);
        Expected<std::string, std::uint64_t> want;
        for (const auto& [id, p] : model)
            for (const auto& t : std::set<std::string>(p.tags.begin(), p.tags.end())) want.entries.emplace_back(t, id);
        want.sort();
        for (const std::string p : {"re", "red", "redd", "r", "g", "x", "\xff", "\xffz"}) {
            INFO("prefix " << show(p));
            const auto m = want.where([&](const std::string& k) { return k.starts_with(p); });
            check_keys(ix.prefix(p), m);
            check_keys(ix.prefix(p).reverse(), reversed(m));
        }
    }
    SECTION("composite index by leading field") {
        auto ix = tree.index(by_name_age);
        Expected<NameAge, std::uint64_t> want;
        for (const auto& [id, p] : model) want.entries.emplace_back(NameAge{p.name, p.age}, id);
        want.sort();
        std::vector<std::string> names = name_pool;
        names.push_back("b");
        names.push_back("annabel");
        for (const auto& n : names) {
            INFO("name " << show(n));
            const auto m = want.where([&](const NameAge& k) { return std::get<0>(k) == n; });
            check_keys(ix.prefix(n), m);
            check_keys(ix.prefix(n).reverse(), reversed(m));
            for (std::uint32_t a = 0; a <= 6; ++a) {
                const auto both = want.where([&](const NameAge& k) { return k == NameAge{n, a}; });
                check_keys(ix.prefix(n, a), both);
                check_keys(ix.prefix(n, a).reverse(), reversed(both));
                check_keys(ix.equal_range(NameAge{n, a}), both);
            }
        }
    }
}

// ---- bounds that could never be stored keys -----------------------------------------------------

TEST_CASE("range bounds longer than LMDB's key limit still order against the stored keys", "[range]") {
    auto store = Store::temporary();
    const std::vector<std::string> ids = {"a", "ab", "b", "m", "zz"};
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Named>();
        for (const auto& id : ids) t.put(Named{id, 1});
        auto p = txn.template open_tree<Person>();
        for (std::uint64_t i = 0; i < ids.size(); ++i) p.put(Person{i, 0, ids[i], "n", 1, {ids[i]}});
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Named>();
    const std::string huge_high(600, '\xff');  // above every key, but too long to be one
    const std::string huge_low = "a" + std::string(600, 'a');  // between "a" and "ab"
    auto shown_ids = [](std::initializer_list<const char*> l) {
        Keys k;
        for (const char* s : l) k.push_back(show(std::string(s)));
        return k;
    };
    // Oversize point lookups find nothing: that is right, no stored key can equal them.
    CHECK_FALSE(tree.get(huge_high).has_value());
    CHECK(keys_of(tree.prefix(huge_high)).empty());
    // An oversize bound of a range still has stored keys on either side of it.
    CHECK(keys_of(tree.until(huge_high)) == shown_ids({"a", "ab", "b", "m", "zz"}));
    CHECK(keys_of(tree.range("b", huge_high)) == shown_ids({"b", "m", "zz"}));
    CHECK(keys_of(tree.range("b", huge_high).reverse()) == shown_ids({"zz", "m", "b"}));
    CHECK(keys_of(tree.from(huge_low)) == shown_ids({"ab", "b", "m", "zz"}));
    CHECK(keys_of(tree.range(huge_low, "m")) == shown_ids({"ab", "b"}));
    CHECK(keys_of(tree.until(huge_low)) == shown_ids({"a"}));
    CHECK(keys_of(tree.from(huge_high)).empty());
    // The same on a string index.
    auto email = txn.open_tree<Person>().index(&Person::email);
    CHECK(keys_of(email.until(huge_high)) == Keys{"0", "1", "2", "3", "4"});
    CHECK(keys_of(email.from(huge_low)) == Keys{"1", "2", "3", "4"});
    CHECK(keys_of(email.range(huge_low, huge_high).reverse()) == Keys{"4", "3", "2", "1"});
    CHECK(email.count(huge_high) == 0);
    CHECK(keys_of(email.equal_range(huge_high)).empty());
}

// ---- equal_range order, first/last ------------------------------------------------------------

TEST_CASE("index equal_range is by ascending primary key, reversed exactly", "[range]") {
    auto store = Store::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Person>();
        // Written in an order unrelated to the primary key.
        for (std::uint64_t id : {900ull, 5ull, 70ull, 3ull, 12345678901ull, 256ull, 255ull, 1ull})
            t.put(Person{id, 7, "e" + std::to_string(id), "same", 40, {"x", "x"}});
        t.put(Person{2, 6, "e2", "other", 40, {"y"}});
        t.put(Person{4, 8, "e4", "same", 41, {}});
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Person>();
    const Keys asc = {"1", "3", "5", "70", "255", "256", "900", "12345678901"};
    auto group = tree.index(&Person::group);
    CHECK(keys_of(group.equal_range(7)) == asc);
    CHECK(keys_of(group.equal_range(7).reverse()) == reversed(asc));
    CHECK(keys_of(group.equal_range(6)) == Keys{"2"});
    CHECK(keys_of(group.equal_range(9)).empty());
    CHECK(keys_of(group.equal_range(9).reverse()).empty());
    CHECK(group.count(7) == asc.size());
    CHECK(group.count(9) == 0);
    // The whole index: by key, then by primary key; reversed exactly.
    Keys whole = {"2"};
    whole.insert(whole.end(), asc.begin(), asc.end());
    whole.push_back("4");
    CHECK(keys_of(group.all()) == whole);
    CHECK(keys_of(group.reverse()) == reversed(whole));
    CHECK(keys_of(group.range(6, 8)) == Keys(whole.begin(), whole.end() - 1));
    CHECK(keys_of(group.range(6, 8).reverse()) == reversed(Keys(whole.begin(), whole.end() - 1)));
    CHECK(keys_of(group.from(7)) == Keys(whole.begin() + 1, whole.end()));
    CHECK(keys_of(group.until(7)) == Keys{"2"});
    CHECK(keys_of(group.until(7).reverse()) == Keys{"2"});

    auto na = tree.index(by_name_age);
    CHECK(keys_of(na.equal_range(NameAge{"same", 40})) == asc);
    CHECK(keys_of(na.equal_range(NameAge{"same", 40}).reverse()) == reversed(asc));
    CHECK(keys_of(na.prefix(std::string("same"))) == [&] {
        Keys k = asc;
        k.push_back("4");
        return k;
    }());
    auto tags = tree.index(by_tag);
    CHECK(keys_of(tags.equal_range("x")) == asc);  // one entry per row despite the duplicate tag
    CHECK(keys_of(tags.equal_range("x").reverse()) == reversed(asc));
    CHECK(tags.count("x") == asc.size());
    CHECK(tags.size() == asc.size() + 1);

    // first()/last() of each index and of the tree.
    REQUIRE(group.first());
    CHECK(group.first()->key() == 2);
    CHECK(group.last()->key() == 4);
    CHECK(na.first()->key() == 2);  // ("other", 40) < ("same", 40)
    CHECK(na.last()->key() == 4);   // ("same", 41)
    CHECK(tags.first()->key() == 1);
    CHECK(tags.last()->key() == 2);  // "y"
    auto email = tree.index(&Person::email);
    CHECK(email.first()->key() == 1);   // "e1"
    CHECK(email.last()->key() == 900);  // "e900"
    CHECK(tree.first()->key() == 1);
    CHECK(tree.last()->key() == 12345678901ull);
    CHECK(tree.first()->value().email == "e1");

    // An empty tree and its indexes have neither.
    auto badges = txn.open_tree<Badge>();
    CHECK_FALSE(badges.first().has_value());
    CHECK_FALSE(badges.last().has_value());
    CHECK_FALSE(badges.index(by_code).first().has_value());
    CHECK_FALSE(badges.index(by_code).last().has_value());
    CHECK(keys_of(badges.all()).empty());
    CHECK(keys_of(badges.reverse()).empty());
    CHECK(keys_of(badges.index(by_code).prefix("a")).empty());
}

// ---- std::ranges on Rows -----------------------------------------------------------------

TEST_CASE("std::views and std::ranges algorithms on Rows", "[range]") {
    std::mt19937 rng(5);
    auto store = Store::temporary();
    std::map<std::uint64_t, Person> model;
    std::set<std::string> emails;
    for (std::uint64_t id = 0; id < 200; ++id) model.emplace(id * 3, random_person(rng, id * 3, emails));
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Person>();
        for (const auto& [id, p] : model) t.put(p);
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Person>();

    auto even_age = [](const netabase::Guard<Person>& g) { return g.view().get<&Person::age>() % 2 == 0; };
    auto key = [](const netabase::Guard<Person>& g) { return g.key(); };

    std::vector<std::uint64_t> want;
    for (const auto& [id, p] : model)
        if (p.age % 2 == 0) want.push_back(id);

    SECTION("filter | transform | take") {
        std::vector<std::uint64_t> got;
        for (auto id : tree.all() | std::views::filter(even_age) | std::views::transform(key) | std::views::take(7))
            got.push_back(id);
        CHECK(got == std::vector<std::uint64_t>(want.begin(), want.begin() + 7));

        std::vector<std::uint64_t> rev;
        for (auto id : tree.reverse() | std::views::filter(even_age) | std::views::transform(key)) rev.push_back(id);
        CHECK(rev == std::vector<std::uint64_t>(want.rbegin(), want.rend()));

        std::vector<std::uint64_t> ranged;
        for (auto id : tree.range(30, 90) | std::views::transform(key) | std::views::take(100)) ranged.push_back(id);
        std::vector<std::uint64_t> expect_ranged;
        for (std::uint64_t id = 30; id < 90; id += 3) expect_ranged.push_back(id);
        CHECK(ranged == expect_ranged);

        std::vector<std::string> names;
        for (auto n : tree.index(&Person::group).equal_range(3) |
                          std::views::transform([](const netabase::Guard<Person>& g) { return g.value().email; }))
            names.push_back(n);
        std::vector<std::string> expect_names;
        for (const auto& [id, p] : model)
            if (p.group == 3) expect_names.push_back(p.email);
        CHECK(names == expect_names);

        auto none = tree.range(1000, 2000) | std::views::take(3);
        CHECK(std::ranges::begin(none) == std::ranges::end(none));
    }
    SECTION("for_each, count_if, find_if, distance") {
        std::uint64_t sum = 0;
        std::size_t n = 0;
        std::ranges::for_each(tree.range(0, 300), [&](const netabase::Guard<Person>& g) {
            sum += g.key();
            ++n;
        });
        std::uint64_t expect_sum = 0;
        for (std::uint64_t id = 0; id < 300; id += 3) expect_sum += id;
        CHECK(n == 100);
        CHECK(sum == expect_sum);

        CHECK(std::ranges::count_if(tree.all(), even_age) == static_cast<std::ptrdiff_t>(want.size()));
        CHECK(std::ranges::count_if(tree.reverse(), even_age) == static_cast<std::ptrdiff_t>(want.size()));
        auto tags = tree.index(by_tag);
        for (const auto& t : tag_pool) {
            std::ptrdiff_t expect_n = 0;
            for (const auto& [id, p] : model)
                if (std::find(p.tags.begin(), p.tags.end(), t) != p.tags.end() && p.age % 2 == 0) ++expect_n;
            CHECK(std::ranges::count_if(tags.equal_range(t), even_age) == expect_n);
        }
        CHECK(std::ranges::distance(tree.all()) == static_cast<std::ptrdiff_t>(model.size()));
        CHECK(std::ranges::distance(tree.from(597)) == 1);

        auto rows = tree.all();
        auto it = std::ranges::find_if(rows, [](const netabase::Guard<Person>& g) { return g.key() > 100; });
        REQUIRE(it != rows.end());
        CHECK((*it).key() == 102);
    }
}

// ---- multi-valued keys kept exact ---------------------------------------------------------------

// The by_tag index (and every other index of Person) against the model, inside any transaction.
template <class Tree>
void check_indexes(const Tree& tree, const std::map<std::uint64_t, Person>& model) {
    REQUIRE(tree.size() == model.size());
    {
        Keys pks;
        for (const auto& [id, p] : model) pks.push_back(show(id));
        CHECK(keys_of(tree.all()) == pks);
    }
    Expected<std::string, std::uint64_t> tags;
    Expected<std::uint32_t, std::uint64_t> groups;
    Expected<std::string, std::uint64_t> emails;
    Expected<NameAge, std::uint64_t> names;
    for (const auto& [id, p] : model) {
        for (const auto& t : std::set<std::string>(p.tags.begin(), p.tags.end())) tags.entries.emplace_back(t, id);
        groups.entries.emplace_back(p.group, id);
        emails.entries.emplace_back(p.email, id);
        names.entries.emplace_back(NameAge{p.name, p.age}, id);
    }
    tags.sort();
    groups.sort();
    emails.sort();
    names.sort();

    auto ix = tree.index(by_tag);
    CHECK(ix.size() == tags.entries.size());
    check_keys(ix.all(), tags.where([](const std::string&) { return true; }));
    check_keys(ix.reverse(), reversed(tags.where([](const std::string&) { return true; })));
    std::vector<std::string> probe = tag_pool;
    probe.push_back("never");
    probe.push_back("purple");
    probe.push_back("orange");
    check_lookups(ix, tags, probe);

    CHECK(tree.index(&Person::group).size() == model.size());
    check_keys(tree.index(&Person::group).all(), groups.where([](std::uint32_t) { return true; }));
    CHECK(tree.index(&Person::email).size() == model.size());
    check_keys(tree.index(&Person::email).all(), emails.where([](const std::string&) { return true; }));
    CHECK(tree.index(by_name_age).size() == model.size());
    check_keys(tree.index(by_name_age).all(), names.where([](const NameAge&) { return true; }));
}

TEST_CASE("multi-valued key: index entries are the distinct tags of each row through every write", "[range][multi]") {
    std::mt19937 rng(2718);
    auto store = Store::temporary();
    std::map<std::uint64_t, Person> model;
    auto person = [](std::uint64_t id, std::vector<std::string> tags) {
        return Person{id, static_cast<std::uint32_t>(id % 4), "e" + std::to_string(id), "n" + std::to_string(id % 3),
                      static_cast<std::uint32_t>(id % 5), std::move(tags)};
    };
    auto random_tags = [&] {
        std::vector<std::string> t;
        for (auto n = rng() % 6; n > 0; --n) t.push_back(tag_pool[rng() % tag_pool.size()]);
        return t;
    };

    // put_many into an empty table (the append path), duplicates inside rows.
    {
        std::vector<Person> batch;
        for (std::uint64_t id = 10; id < 50; ++id) batch.push_back(person(id, random_tags()));
        batch[0].tags = {"red", "red", "red"};
        batch[1].tags = {"", "", "green", ""};
        auto txn = store.begin_write();
        auto t = txn.open_tree<Person>();
        CHECK(t.put_many(batch) == batch.size());
        for (const auto& p : batch) model[p.id] = p;
        check_indexes(t, model);
        txn.commit();
    }
    {
        auto txn = store.begin_read();
        check_indexes(txn.open_tree<Person>(), model);
        CHECK(txn.open_tree<Person>().index(by_tag).count("red") >= 1);
        CHECK(txn.open_tree<Person>().index(by_tag).primary_keys("red").front() == 10);
    }
    // put: new rows and replacements with other tags.
    {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Person>();
        for (int i = 0; i < 30; ++i) {
            std::uint64_t id = rng() % 70;
            Person p = person(id, random_tags());
            t.put(p);
            model[id] = p;
        }
        check_indexes(t, model);
        txn.commit();
    }
    // update: change tags in every way, and change nothing the index sees.
    {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Person>();
        auto change = [&](std::uint64_t id, auto fn) {
            bool exists = model.count(id) != 0;
            CHECK(t.update(id, fn) == exists);
            if (exists) fn(model[id]);
        };
        change(10, [](Person& p) { p.tags.push_back("blue"); });                    // add one
        change(10, [](Person& p) { p.tags.push_back("blue"); });                    // add a duplicate
        change(11, [](Person& p) { p.tags.erase(p.tags.begin()); });                // drop one copy of ""
        change(11, [](Person& p) { std::erase(p.tags, std::string()); });           // drop the rest
        change(12, [](Person& p) { p.tags = {"redder", "re", "red"}; });            // replace all
        change(12, [](Person& p) { std::reverse(p.tags.begin(), p.tags.end()); });  // same set, new order
        change(13, [](Person& p) { p.tags.clear(); });                              // none
        change(14, [](Person& p) { p.age += 100; });                                // tags untouched
        change(999, [](Person& p) { p.tags = {"never"}; });                         // no such row
        for (int i = 0; i < 40; ++i) {
            std::uint64_t id = rng() % 70;
            auto tags = random_tags();
            change(id, [tags](Person& p) { p.tags = tags; });
        }
        check_indexes(t, model);
        txn.commit();
    }
    {
        auto txn = store.begin_read();
        check_indexes(txn.open_tree<Person>(), model);
    }
    // remove and remove_many (with missing and repeated keys).
    {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Person>();
        for (std::uint64_t id : {10ull, 12ull, 500ull}) {
            CHECK(t.remove(id) == (model.erase(id) == 1));
        }
        check_indexes(t, model);
        std::vector<std::uint64_t> keys = {13, 14, 14, 600, 20, 21, 22};
        std::size_t existed = 0;
        for (std::uint64_t id : std::set<std::uint64_t>(keys.begin(), keys.end())) existed += model.erase(id);
        CHECK(t.remove_many(keys) == existed);
        check_indexes(t, model);
        txn.commit();
    }
    {
        auto txn = store.begin_read();
        check_indexes(txn.open_tree<Person>(), model);
    }
    // put_many over existing keys (the upsert path) mixed with new ones.
    {
        std::vector<Person> batch;
        for (std::uint64_t id = 5; id < 80; id += 4) batch.push_back(person(id, random_tags()));
        auto txn = store.begin_write();
        auto t = txn.open_tree<Person>();
        CHECK(t.put_many(batch) == batch.size());
        for (const auto& p : batch) model[p.id] = p;
        check_indexes(t, model);
        txn.commit();
    }
    // clear, then fill again.
    {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Person>();
        t.clear();
        model.clear();
        check_indexes(t, model);
        CHECK(t.index(by_tag).empty());
        CHECK(t.index(by_tag).count("red") == 0);
        std::vector<Person> batch = {person(3, {"red", "red"}), person(1, {"blue"}), person(2, {"red", "blue", "red"})};
        CHECK(t.put_many(batch) == 3);
        for (const auto& p : batch) model[p.id] = p;
        check_indexes(t, model);
        txn.commit();
    }
    {
        auto txn = store.begin_read();
        auto t = txn.open_tree<Person>();
        check_indexes(t, model);
        CHECK(keys_of(t.index(by_tag).equal_range("red")) == Keys{"2", "3"});
        CHECK(keys_of(t.index(by_tag).equal_range("blue")) == Keys{"1", "2"});
        CHECK(t.index(by_tag).size() == 4);
    }
}

// ---- unique multi-valued keys ------------------------------------------------------------------

template <class Tree>
void check_badges(const Tree& t, const std::map<std::uint64_t, Badge>& model) {
    REQUIRE(t.size() == model.size());
    for (const auto& [id, b] : model) {
        auto g = t.get(id);
        REQUIRE(g);
        CHECK(g->value() == b);
    }
    std::map<std::string, std::uint64_t> owner;
    for (const auto& [id, b] : model)
        for (const auto& c : b.codes) owner[c] = id;
    auto ix = t.index(by_code);
    CHECK(ix.unique());
    CHECK(ix.size() == owner.size());
    Keys order;
    for (const auto& [c, id] : owner) order.push_back(show(id));
    CHECK(keys_of(ix.all()) == order);
    for (const std::string c : {"a", "b", "c", "d", "x", "z", "q"}) {
        INFO("code " << c);
        auto it = owner.find(c);
        CHECK(ix.count(c) == (it != owner.end() ? 1u : 0u));
        auto g = ix.get(c);
        CHECK(g.has_value() == (it != owner.end()));
        if (g && it != owner.end()) CHECK(g->key() == it->second);
    }
}

TEST_CASE("unique multi-valued key rejects a tag owned by another row, writing nothing", "[range][multi]") {
    auto store = Store::temporary();
    std::map<std::uint64_t, Badge> model;
    {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Badge>();
        Badge one{1, {"a", "b", "a"}};  // its own duplicate is fine
        Badge two{2, {"c", "d"}};
        t.put(one);
        t.put(two);
        model[1] = one;
        model[2] = two;
        check_badges(t, model);

        // put of an existing row taking "b" from row 1.
        try {
            t.put(Badge{2, {"d", "b"}});
            FAIL("no exception");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::unique_violation);
            CHECK(e.index() == "badges/by_code");
            CHECK(e.table() == "badges");
        }
        check_badges(t, model);

        // insert of a new row with one free and one taken code.
        CHECK(code_of([&] { t.insert(Badge{3, {"z", "a"}}); }) == "netabase: unique violation");
        CHECK_FALSE(t.contains(3));
        check_badges(t, model);

        // update that would take "c".
        CHECK(code_of([&] { t.update(1, [](Badge& b) { b.codes.push_back("c"); }); }) == "netabase: unique violation");
        check_badges(t, model);

        // put_many: all or nothing.
        std::vector<Badge> batch = {Badge{4, {"x"}}, Badge{5, {"q", "d"}}, Badge{6, {"z"}}};
        CHECK(code_of([&] { t.put_many(batch); }) == "netabase: unique violation");
        CHECK_FALSE(t.contains(4));
        CHECK_FALSE(t.contains(5));
        check_badges(t, model);

        // Codes a row already owns, reordered or repeated, are its own.
        t.put(Badge{1, {"b", "a", "b", "x"}});
        model[1] = Badge{1, {"b", "a", "b", "x"}};
        check_badges(t, model);
        CHECK(t.update(2, [](Badge& b) { b.codes = {"d", "d", "c", "q"}; }));
        model[2].codes = {"d", "d", "c", "q"};
        check_badges(t, model);
        txn.commit();
    }
    {
        auto txn = store.begin_read();
        check_badges(txn.open_tree<Badge>(), model);
    }
    {
        // A code freed by one row can be taken by another in the same transaction.
        auto txn = store.begin_write();
        auto t = txn.open_tree<Badge>();
        CHECK(t.update(1, [](Badge& b) { b.codes = {"a"}; }));
        model[1].codes = {"a"};
        t.put(Badge{3, {"b", "x", "b"}});
        model[3] = Badge{3, {"b", "x", "b"}};
        CHECK(t.remove(2));
        model.erase(2);
        t.put(Badge{4, {"c", "d", "q"}});
        model[4] = Badge{4, {"c", "d", "q"}};
        check_badges(t, model);
        txn.commit();
    }
    {
        auto txn = store.begin_read();
        check_badges(txn.open_tree<Badge>(), model);
    }
}

}  // namespace range_test
