// Pagination, closed ranges and count() on every kind of scan, on the primary key and on every
// kind of index: pages of several sizes against one full scan; pages read in different
// transactions with rows inserted and removed between them, against a std::map model of what
// must be seen; positions through bytes and back; malformed positions and positions of another
// table or index; closed_range/through against a model (strings, tuples, integer limits,
// LMDB's largest key); count() against the rows each scan yields.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <algorithm>
#include <cstddef>
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

namespace pagination_test {

using NameAge = std::tuple<std::string, std::uint32_t>;

// ---- models ------------------------------------------------------------------------------

struct Item {
    std::uint64_t id;
    std::uint32_t group;  // non-unique index
    std::string email;    // unique index
    std::string name;
    std::uint32_t age;
    std::vector<std::string> tags;  // multi-valued index
    friend bool operator==(const Item&, const Item&) = default;
};

constexpr auto by_name_age = netabase::key<Item>("by_name_age", [](const Item& p) { return NameAge{p.name, p.age}; });
constexpr auto by_tag = netabase::keys<Item>("by_tag", [](const Item& p) { return p.tags; });

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items")
        .primary_key(&Item::id)
        .secondary_key(&Item::group)
        .secondary_key(&Item::email, netabase::unique)
        .secondary_key(by_name_age)
        .secondary_key(by_tag);
}

struct Version {  // a composite (tuple) primary key
    std::string name;
    std::uint32_t seq;
    std::string body;
    friend bool operator==(const Version&, const Version&) = default;
};

constexpr auto version_pk = netabase::key<Version>("pk", [](const Version& v) { return NameAge{v.name, v.seq}; });

constexpr auto netabase_model(netabase::tag<Version>) {
    return netabase::model<Version>("versions").primary_key(version_pk);
}

struct Doc {  // string keys up to LMDB's limit
    std::string id;
    std::string title;  // non-unique index
};

constexpr auto netabase_model(netabase::tag<Doc>) {
    return netabase::model<Doc>("docs").primary_key(&Doc::id).secondary_key(&Doc::title);
}

using S = netabase::definition<Item, Version, Doc>;
using Store = netabase::Store<S>;
using ReadTxn = netabase::ReadTransaction<S>;

using ItemTree = decltype(std::declval<ReadTxn&>().open_tree<Item>());
using GroupIndex = decltype(std::declval<const ItemTree&>().index(&Item::group));
using EmailIndex = decltype(std::declval<const ItemTree&>().index(&Item::email));
using NameAgeIndex = decltype(std::declval<const ItemTree&>().index(by_name_age));
using TagIndex = decltype(std::declval<const ItemTree&>().index(by_tag));
using VersionTree = decltype(std::declval<ReadTxn&>().open_tree<Version>());

static_assert(std::is_same_v<decltype(std::declval<netabase::Rows<Item>&>().page(1)), netabase::Page<Item>>);
static_assert(std::is_same_v<decltype(netabase::Page<Item>{}.rows), std::vector<netabase::Guard<Item>>>);
static_assert(std::is_same_v<decltype(netabase::Page<Item>{}.next), std::optional<netabase::position>>);
static_assert(std::is_same_v<decltype(std::declval<const netabase::position&>().bytes()), std::span<const std::byte>>);
static_assert(std::is_same_v<decltype(std::declval<netabase::Rows<Item>::iterator&>().position()), netabase::position>);
static_assert(std::ranges::view<netabase::Rows<Item>>);

// ---- printing ------------------------------------------------------------------------------

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
    if (s.size() > 40) return out.substr(0, 40) + "...\" (" + std::to_string(s.size()) + " chars)";
    return out + "\"";
}
template <class T>
requires std::is_integral_v<T> std::string show(T v) { return std::to_string(v); }
std::string show(const NameAge& t) { return "(" + show(std::get<0>(t)) + ", " + show(std::get<1>(t)) + ")"; }

template <class T>
std::vector<std::string> shown(const std::vector<T>& v) {
    std::vector<std::string> out;
    for (const auto& x : v) out.push_back(show(x));
    return out;
}

// Natively compared, printed only on a mismatch.
template <class T>
void check_same(const std::vector<T>& got, const std::vector<T>& want) {
    if (got == want)
        CHECK(got.size() == want.size());
    else
        CHECK(shown(got) == shown(want));
}

template <class R>
auto pks_of(R&& rows) {
    using PK = std::remove_cvref_t<decltype((*std::ranges::begin(rows)).key())>;
    std::vector<PK> out;
    for (const auto& g : rows) out.push_back(g.key());
    return out;
}

std::string error_of(const std::function<void()>& fn, netabase::error* out = nullptr) {
    try {
        fn();
    } catch (const netabase::error& e) {
        if (out) *out = e;
        return std::string(e.code().category().name()) + ": " + e.code().message();
    }
    return "<no exception>";
}

std::vector<std::byte> stored(const netabase::position& p) { return {p.bytes().begin(), p.bytes().end()}; }

bool has(const char* what, std::string_view part) { return std::string_view(what).find(part) != std::string_view::npos; }

// ---- sources and kinds of scans ------------------------------------------------------------

// One kind of scan of a tree or index: how to make its rows, and which keys it holds.
template <class M, class K, class Src>
struct Kind {
    std::string name;
    std::function<netabase::Rows<M>(const Src&)> make;
    std::function<bool(const K&)> in;
};

// A tree or an index to page through, with its entries (key, primary key) as the model sees them.
// In a tree or a unique index an entry is its key alone: a position there is a key, and a row
// that takes over the key of the row at a position is at the position, not after it.
template <class M, class K, class PK, class Src>
struct Source {
    std::string name;
    bool unique;
    std::function<Src(ReadTxn&)> open;
    std::function<std::vector<K>(const M&)> keys;  // the keys of one row's entries, distinct
    std::function<PK(const M&)> pk;
    std::vector<Kind<M, K, Src>> kinds;
};

// all, and range/from/until/closed_range/through for each pair of bounds.
template <class M, class K, class Src>
std::vector<Kind<M, K, Src>> standard_kinds(const std::vector<std::pair<K, K>>& bounds) {
    std::vector<Kind<M, K, Src>> out;
    out.push_back({"all()", [](const Src& s) { return s.all(); }, [](const K&) { return true; }});
    for (const auto& [lo, hi] : bounds) {
        const std::string b = show(lo) + ", " + show(hi);
        out.push_back({"range(" + b + ")", [lo, hi](const Src& s) { return s.range(lo, hi); },
                       [lo, hi](const K& k) { return !(k < lo) && k < hi; }});
        out.push_back({"closed_range(" + b + ")", [lo, hi](const Src& s) { return s.closed_range(lo, hi); },
                       [lo, hi](const K& k) { return !(k < lo) && !(hi < k); }});
        out.push_back({"from(" + show(lo) + ")", [lo](const Src& s) { return s.from(lo); },
                       [lo](const K& k) { return !(k < lo); }});
        out.push_back({"until(" + show(hi) + ")", [hi](const Src& s) { return s.until(hi); },
                       [hi](const K& k) { return k < hi; }});
        out.push_back({"through(" + show(hi) + ")", [hi](const Src& s) { return s.through(hi); },
                       [hi](const K& k) { return !(hi < k); }});
    }
    return out;
}

template <class M, class K, class Src>
Kind<M, K, Src> equal_kind(const K& k) {
    return {"equal_range(" + show(k) + ")", [k](const Src& s) { return s.equal_range(k); },
            [k](const K& x) { return x == k; }};
}

template <class K, class PK>
using Entry = std::pair<K, PK>;

// The entries a scan must yield over the model, in its order.
template <class M, class K, class PK, class Src>
std::vector<Entry<K, PK>> expected(const Source<M, K, PK, Src>& src, const std::map<PK, M>& rows,
                                   const Kind<M, K, Src>& kind, bool reverse) {
    std::vector<Entry<K, PK>> out;
    for (const auto& [pk, m] : rows)
        for (const K& k : src.keys(m))
            if (kind.in(k)) out.emplace_back(k, pk);
    std::sort(out.begin(), out.end());
    REQUIRE(std::adjacent_find(out.begin(), out.end()) == out.end());
    if (reverse) std::reverse(out.begin(), out.end());
    return out;
}

template <class K, class PK>
std::vector<PK> entry_pks(const std::vector<Entry<K, PK>>& entries) {
    std::vector<PK> out;
    for (const auto& e : entries) out.push_back(e.second);
    return out;
}

template <class T>
std::vector<T> reversed(std::vector<T> v) {
    std::reverse(v.begin(), v.end());
    return v;
}

// ---- one transaction: pages against one full scan ---------------------------------------------

// Whether entry e comes after `last` in a walk (a tree's or unique index's entry is its key).
template <class M, class K, class PK, class Src>
bool comes_after(const Source<M, K, PK, Src>& src, bool rev, const Entry<K, PK>& e, const Entry<K, PK>& last) {
    if (src.unique) return rev ? e.first < last.first : last.first < e.first;
    return rev ? e < last : last < e;
}

// For every kind of scan and both directions: one full scan (with every row's position) against
// the model; count(); pages of several sizes, resumed through after(), give exactly that scan;
// after() at (a sample of) every row gives the rest, and in the other direction the rows before
// it; positions restored from stored bytes resume the same way; positions of rows anywhere in
// the table or index (before the scan's bounds, inside, past them) resume it at the right row.
template <class M, class K, class PK, class Src>
void check_pages_in_one_transaction(Store& store, const Source<M, K, PK, Src>& src, const std::map<PK, M>& rows) {
    auto txn = store.begin_read();
    Src s = src.open(txn);
    REQUIRE(src.kinds.front().name == "all()");
    const auto everywhere = expected(src, rows, src.kinds.front(), false);
    std::vector<netabase::position> everywhere_at;
    {
        const auto all = s.all();
        for (auto it = all.begin(); it != all.end(); ++it) everywhere_at.push_back(it.position());
    }
    REQUIRE(everywhere_at.size() == everywhere.size());
    for (const auto& kind : src.kinds) {
        for (bool rev : {false, true}) {
            INFO(src.name << "." << kind.name << (rev ? ".reverse()" : ""));
            const netabase::Rows<M> r = rev ? kind.make(s).reverse() : kind.make(s);
            const auto want = expected(src, rows, kind, rev);
            const auto want_pks = entry_pks(want);

            std::vector<PK> full;
            std::vector<netabase::position> at;
            for (auto it = r.begin(); it != r.end(); ++it) {
                full.push_back((*it).key());
                at.push_back(it.position());
            }
            check_same(full, want_pks);
            CHECK(r.count() == want.size());
            CHECK(std::ranges::distance(r) == static_cast<std::ptrdiff_t>(want.size()));
            // A row's position is a point of the key space: distinct rows, distinct positions.
            for (std::size_t i = 1; i < at.size(); ++i) CHECK_FALSE(at[i] == at[i - 1]);

            for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{64},
                                  std::size_t{100000}}) {
                INFO("page size " << n);
                std::vector<PK> paged;
                std::size_t pages = 0;
                netabase::Page<M> p = r.page(n);
                for (;;) {
                    ++pages;
                    REQUIRE(pages <= want.size() + 1);
                    REQUIRE(p.rows.size() <= n);
                    auto got = pks_of(p.rows);
                    paged.insert(paged.end(), got.begin(), got.end());
                    if (!p.next) break;
                    CHECK(p.rows.size() == n);
                    REQUIRE(paged.size() <= at.size());
                    CHECK(*p.next == at[paged.size() - 1]);  // the position of the page's last row
                    p = r.after(*p.next).page(n);
                }
                check_same(paged, full);
                CHECK(pages == (want.empty() ? 1 : (want.size() + n - 1) / n));
            }

            const std::size_t step = at.size() <= 40 ? 1 : at.size() / 23;
            for (std::size_t i = 0; i < at.size(); i += step) {
                INFO("after row " << i << " of " << at.size());
                const std::vector<PK> rest(full.begin() + static_cast<std::ptrdiff_t>(i) + 1, full.end());
                const std::vector<PK> before = reversed(std::vector<PK>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(i)));
                check_same(pks_of(r.after(at[i])), rest);
                CHECK(r.after(at[i]).count() == rest.size());
                check_same(pks_of(r.after(at[i]).reverse()), before);
                check_same(pks_of(r.reverse().after(at[i])), before);
                CHECK(r.reverse().after(at[i]).count() == before.size());
                // Through bytes and back, as an application stores a page token.
                const std::vector<std::byte> token = stored(at[i]);
                const netabase::position again = netabase::position::from_bytes(token);
                CHECK(again == at[i]);
                check_same(pks_of(r.after(again)), rest);
                // The first row of the rest is the row after position i, page by page too.
                auto one = r.after(again).page(1);
                CHECK(one.next.has_value() == (rest.size() > 1));
                if (!rest.empty()) {
                    REQUIRE(one.rows.size() == 1);
                    CHECK(one.rows[0].key() == rest.front());
                }
            }
            if (!at.empty()) check_same(pks_of(r.after(at.back())), std::vector<PK>{});

            std::vector<std::size_t> sample;  // about 30 entries, the first and the last among them
            const std::size_t every = everywhere.size() <= 60 ? 1 : everywhere.size() / 31;
            for (std::size_t j = 0; j < everywhere.size(); j += every) sample.push_back(j);
            if (!everywhere.empty() && sample.back() + 1 != everywhere.size()) sample.push_back(everywhere.size() - 1);
            for (std::size_t j : sample) {
                INFO("after entry " << j << " of the whole " << (src.unique ? "table or index" : "index") << ": ("
                                    << show(everywhere[j].first) << ", " << show(everywhere[j].second) << ")");
                std::vector<Entry<K, PK>> rest;
                for (const auto& e : want)
                    if (comes_after(src, rev, e, everywhere[j])) rest.push_back(e);
                check_same(pks_of(r.after(everywhere_at[j])), entry_pks(rest));
                CHECK(r.after(everywhere_at[j]).count() == rest.size());
            }
        }
    }
}

// ---- several transactions: pages with writes in between ---------------------------------------

// Pages through one kind of scan, each page in a read transaction of its own, with
// `mutate(store, rows, position's pk, removed)` inserting and removing rows in a write
// transaction between pages (and recording the removed primary keys). Each page must hold
// exactly the model's entries strictly after the previous page's last one, at the time it is
// read; over the whole walk, no entry comes twice, the order holds, and every entry present
// from the first page to the last is seen exactly once.
template <class M, class K, class PK, class Src, class Mutate>
void check_pages_across_writes(Store& store, std::map<PK, M>& rows, const Source<M, K, PK, Src>& src,
                               const Kind<M, K, Src>& kind, bool rev, std::size_t n, Mutate&& mutate) {
    INFO(src.name << "." << kind.name << (rev ? ".reverse()" : "") << ", pages of " << n);
    auto after_last = [&](const Entry<K, PK>& e, const Entry<K, PK>& last) { return comes_after(src, rev, e, last); };
    const auto at_start = expected(src, rows, kind, rev);
    std::set<PK> removed;
    std::vector<Entry<K, PK>> seen;
    std::optional<Entry<K, PK>> last;
    std::vector<std::byte> token;  // the stored position
    for (std::size_t page = 0;; ++page) {
        INFO("page " << page);
        REQUIRE(page < 5000);
        auto want = expected(src, rows, kind, rev);
        if (last) std::erase_if(want, [&](const Entry<K, PK>& e) { return !after_last(e, *last); });
        const std::size_t remaining = want.size();
        const bool more = want.size() > n;
        if (more) want.resize(n);
        {
            auto txn = store.begin_read();
            Src s = src.open(txn);
            const netabase::Rows<M> all = rev ? kind.make(s).reverse() : kind.make(s);
            const netabase::Rows<M> r = token.empty() ? all : all.after(netabase::position::from_bytes(token));
            netabase::Page<M> p = r.page(n);
            check_same(pks_of(p.rows), entry_pks(want));
            REQUIRE(p.rows.size() == want.size());
            for (std::size_t i = 0; i < want.size(); ++i) CHECK(p.rows[i].value() == rows.at(want[i].second));
            CHECK(p.next.has_value() == more);
            if (page % 4 == 0) CHECK(r.count() == remaining);
            if (!more || !p.next) {
                seen.insert(seen.end(), want.begin(), want.end());
                break;
            }
            token = stored(*p.next);
        }
        seen.insert(seen.end(), want.begin(), want.end());
        last = want.back();
        mutate(store, rows, last->second, removed);
    }
    for (std::size_t i = 1; i < seen.size(); ++i) CHECK(after_last(seen[i], seen[i - 1]));  // order kept, no repeats
    const std::set<Entry<K, PK>> seen_set(seen.begin(), seen.end());
    CHECK(seen_set.size() == seen.size());
    for (const auto& e : at_start) {
        if (removed.count(e.second)) continue;
        if (!seen_set.count(e)) FAIL_CHECK("entry (" << show(e.first) << ", " << show(e.second) << ") was there throughout and never seen");
    }
}

// ---- data ------------------------------------------------------------------------------------

const std::vector<std::string> name_pool = {"", "an", "ann", "anna", "bob", std::string("b\0b", 3), "\xff", "zed"};
const std::vector<std::string> tag_pool = {"red", "re", "green", "blue", "", std::string("r\0", 2), "\xffz", "redder"};

struct ItemData {
    std::mt19937 rng{20240611};
    std::uint64_t next_email = 0;

    Item random_item(std::uint64_t id) {
        Item p{};
        p.id = id;
        p.group = static_cast<std::uint32_t>(rng() % 12);
        if (rng() % 40 == 0) p.group = std::numeric_limits<std::uint32_t>::max();
        p.email = std::string(1, "abcdefgh"[rng() % 8]) + std::to_string(next_email++) + "@x";
        p.name = name_pool[rng() % name_pool.size()];
        p.age = static_cast<std::uint32_t>(rng() % 5);
        for (auto t = rng() % 5; t > 0; --t) p.tags.push_back(tag_pool[rng() % tag_pool.size()]);
        return p;
    }

    std::uint64_t unused_id(const std::map<std::uint64_t, Item>& rows) {
        for (;;) {
            std::uint64_t id = rng() % 4000;
            if (!rows.count(id)) return id;
        }
    }

    // Between two pages: perhaps removes the row at the position, removes another, inserts new
    // rows anywhere, sometimes a row with the position's keys (before or after it by primary
    // key), sometimes one that reuses the position's primary key or its email.
    void mutate(Store& store, std::map<std::uint64_t, Item>& rows, std::uint64_t at, std::set<std::uint64_t>& removed) {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Item>();
        auto remove = [&](std::uint64_t id) {
            CHECK(t.remove(id));
            rows.erase(id);
            removed.insert(id);
        };
        auto put = [&](const Item& p) {
            t.put(p);
            if (rows.count(p.id)) removed.insert(p.id);  // replaced: not there throughout
            rows[p.id] = p;
        };
        std::optional<Item> here;
        if (auto it = rows.find(at); it != rows.end()) here = it->second;
        bool removed_here = false;
        if (here && rng() % 2 == 0) {
            remove(at);
            removed_here = true;
        }
        if (!rows.empty() && rng() % 4 != 0) {
            auto victim = std::next(rows.begin(), static_cast<std::ptrdiff_t>(rng() % rows.size()));
            remove(victim->first);
        }
        put(random_item(unused_id(rows)));
        if (here && rng() % 3 == 0) {  // same group, name, age and tags as the position's row
            Item twin = *here;
            twin.id = unused_id(rows);
            twin.email = removed_here && rng() % 2 == 0 ? here->email : random_item(0).email;
            put(twin);
        }
        if (removed_here && rng() % 5 == 0) put(random_item(at));  // the position's own key again
        txn.commit();
    }
};

std::map<std::uint64_t, Item> fill_items(Store& store, ItemData& data, std::size_t n) {
    std::map<std::uint64_t, Item> rows;
    while (rows.size() < n) {
        std::uint64_t id = data.unused_id(rows);
        if (rows.empty()) id = std::numeric_limits<std::uint64_t>::max();
        if (rows.size() == 1) id = 0;
        rows.emplace(id, data.random_item(id));
    }
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Item>();
        for (const auto& [id, p] : rows) t.put(p);
    });
    return rows;
}

std::vector<std::string> distinct(const std::vector<std::string>& v) {
    std::set<std::string> s(v.begin(), v.end());
    return {s.begin(), s.end()};
}

// A source's kinds checked across writes: all(), a bounded one, a prefix or equal_range one.
template <class Src>
std::vector<std::size_t> walked_kinds(const Src& src) {
    std::vector<std::size_t> out = {0, 1, 2};  // all(), range(), closed_range() of the first bounds
    if (src.kinds.size() > 11) out.push_back(src.kinds.size() - 1);  // the last: prefix or equal_range
    return out;
}

template <class M, class K, class PK, class Src, class Mutate>
void check_source(Store& store, std::map<PK, M>& rows, const Source<M, K, PK, Src>& src, Mutate&& mutate) {
    check_pages_in_one_transaction(store, src, rows);
    for (std::size_t k : walked_kinds(src))
        for (bool rev : {false, true})
            for (std::size_t n : {std::size_t{3}, std::size_t{17}})
                check_pages_across_writes(store, rows, src, src.kinds[k], rev, n, mutate);
    check_pages_in_one_transaction(store, src, rows);  // the written store, as a whole
}

// ---- the primary key and each kind of index -------------------------------------------------

TEST_CASE("pagination on a uint64 primary key: every range kind, pages, positions, writes between pages",
          "[pagination]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    ItemData data;
    auto rows = fill_items(store, data, 300);
    constexpr auto top = std::numeric_limits<std::uint64_t>::max();
    const std::uint64_t a = std::next(rows.begin(), 40)->first, b = std::next(rows.begin(), 230)->first;
    Source<Item, std::uint64_t, std::uint64_t, ItemTree> src{
        "items",
        true,
        [](ReadTxn& txn) { return txn.open_tree<Item>(); },
        [](const Item& p) { return std::vector<std::uint64_t>{p.id}; },
        [](const Item& p) { return p.id; },
        standard_kinds<Item, std::uint64_t, ItemTree>({{a, b}, {a + 1, b - 1}, {0, top}, {b, a}, {a, a}, {top, top}})};
    check_source(store, rows, src, [&](Store& s, auto& r, std::uint64_t at, auto& removed) { data.mutate(s, r, at, removed); });
}

TEST_CASE("pagination on a unique string index", "[pagination]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    ItemData data;
    auto rows = fill_items(store, data, 300);
    const std::string a = std::next(rows.begin(), 17)->second.email, b = std::next(rows.begin(), 99)->second.email;
    auto kinds = standard_kinds<Item, std::string, EmailIndex>(
        {{std::min(a, b), std::max(a, b)}, {"b", "d"}, {"", "\xff"}, {"d", "b"}, {"c", "c"}});
    kinds.push_back({"prefix(\"c\")", [](const EmailIndex& s) { return s.prefix("c"); },
                     [](const std::string& k) { return k.starts_with("c"); }});
    kinds.push_back(equal_kind<Item, std::string, EmailIndex>("nobody@x"));
    kinds.push_back(equal_kind<Item, std::string, EmailIndex>(a));
    Source<Item, std::string, std::uint64_t, EmailIndex> src{
        "items.email",
        true,
        [](ReadTxn& txn) { return txn.open_tree<Item>().index(&Item::email); },
        [](const Item& p) { return std::vector<std::string>{p.email}; },
        [](const Item& p) { return p.id; },
        kinds};
    check_source(store, rows, src, [&](Store& s, auto& r, std::uint64_t at, auto& removed) { data.mutate(s, r, at, removed); });
}

TEST_CASE("pagination on a non-unique uint32 index (duplicates: key, then primary key)", "[pagination]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    ItemData data;
    auto rows = fill_items(store, data, 300);
    constexpr auto top = std::numeric_limits<std::uint32_t>::max();
    auto kinds = standard_kinds<Item, std::uint32_t, GroupIndex>({{3, 9}, {0, top}, {5, 5}, {9, 3}, {11, top}});
    kinds.push_back(equal_kind<Item, std::uint32_t, GroupIndex>(100));
    kinds.push_back(equal_kind<Item, std::uint32_t, GroupIndex>(top));
    kinds.push_back(equal_kind<Item, std::uint32_t, GroupIndex>(7));
    Source<Item, std::uint32_t, std::uint64_t, GroupIndex> src{
        "items.group",
        false,
        [](ReadTxn& txn) { return txn.open_tree<Item>().index(&Item::group); },
        [](const Item& p) { return std::vector<std::uint32_t>{p.group}; },
        [](const Item& p) { return p.id; },
        kinds};
    check_source(store, rows, src, [&](Store& s, auto& r, std::uint64_t at, auto& removed) { data.mutate(s, r, at, removed); });
}

TEST_CASE("pagination on a multi-valued index (one entry per distinct tag)", "[pagination]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    ItemData data;
    auto rows = fill_items(store, data, 300);
    auto kinds = standard_kinds<Item, std::string, TagIndex>(
        {{"green", "red"}, {"", "\xff"}, {"re", "re"}, {"red", "green"}, {"r", std::string("r\0", 2)}});
    kinds.push_back(equal_kind<Item, std::string, TagIndex>(""));
    kinds.push_back({"prefix(\"re\")", [](const TagIndex& s) { return s.prefix("re"); },
                     [](const std::string& k) { return k.starts_with("re"); }});
    kinds.push_back(equal_kind<Item, std::string, TagIndex>("red"));
    Source<Item, std::string, std::uint64_t, TagIndex> src{
        "items.by_tag",
        false,
        [](ReadTxn& txn) { return txn.open_tree<Item>().index(by_tag); },
        [](const Item& p) { return distinct(p.tags); },
        [](const Item& p) { return p.id; },
        kinds};
    check_source(store, rows, src, [&](Store& s, auto& r, std::uint64_t at, auto& removed) { data.mutate(s, r, at, removed); });
}

TEST_CASE("pagination on a composite (tuple) index, prefixes by leading field", "[pagination]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    ItemData data;
    auto rows = fill_items(store, data, 300);
    auto kinds = standard_kinds<Item, NameAge, NameAgeIndex>({{{"ann", 2}, {"bob", 3}},
                                                              {{"", 0}, {"\xff\xff", 0}},
                                                              {{"anna", 1}, {"anna", 1}},
                                                              {{"zed", 0}, {"an", 9}}});
    kinds.push_back({"prefix(\"ann\")", [](const NameAgeIndex& s) { return s.prefix(std::string("ann")); },
                     [](const NameAge& k) { return std::get<0>(k) == "ann"; }});
    kinds.push_back({"prefix(\"bob\", 2)", [](const NameAgeIndex& s) { return s.prefix(std::string("bob"), 2u); },
                     [](const NameAge& k) { return k == NameAge{"bob", 2}; }});
    kinds.push_back(equal_kind<Item, NameAge, NameAgeIndex>(NameAge{"an", 4}));
    Source<Item, NameAge, std::uint64_t, NameAgeIndex> src{
        "items.by_name_age",
        false,
        [](ReadTxn& txn) { return txn.open_tree<Item>().index(by_name_age); },
        [](const Item& p) { return std::vector<NameAge>{{p.name, p.age}}; },
        [](const Item& p) { return p.id; },
        kinds};
    check_source(store, rows, src, [&](Store& s, auto& r, std::uint64_t at, auto& removed) { data.mutate(s, r, at, removed); });
}

TEST_CASE("pagination on a composite (tuple) primary key", "[pagination]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    std::mt19937 rng(99);
    std::map<NameAge, Version> rows;
    auto random_version = [&](NameAge k) {
        return Version{std::get<0>(k), std::get<1>(k), "v" + std::to_string(rng() % 1000)};
    };
    auto unused = [&] {
        for (;;) {
            NameAge k{name_pool[rng() % name_pool.size()], static_cast<std::uint32_t>(rng() % 60)};
            if (!rows.count(k)) return k;
        }
    };
    while (rows.size() < 250) {
        auto k = unused();
        rows.emplace(k, random_version(k));
    }
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Version>();
        for (const auto& [k, v] : rows) t.put(v);
    });
    auto kinds = standard_kinds<Version, NameAge, VersionTree>({{{"an", 10}, {"bob", 30}},
                                                                {{"", 0}, {"zed", 59}},
                                                                {{"anna", 7}, {"anna", 7}},
                                                                {{"bob", 0}, {"an", 0}}});
    kinds.push_back({"prefix(\"b\\x00b\")", [](const VersionTree& s) { return s.prefix(std::string("b\0b", 3)); },
                     [](const NameAge& k) { return std::get<0>(k) == std::string("b\0b", 3); }});
    kinds.push_back({"prefix(\"ann\")", [](const VersionTree& s) { return s.prefix(std::string("ann")); },
                     [](const NameAge& k) { return std::get<0>(k) == "ann"; }});
    Source<Version, NameAge, NameAge, VersionTree> src{
        "versions",
        true,
        [](ReadTxn& txn) { return txn.open_tree<Version>(); },
        [](const Version& v) { return std::vector<NameAge>{{v.name, v.seq}}; },
        [](const Version& v) { return NameAge{v.name, v.seq}; },
        kinds};
    auto mutate = [&](Store& s, std::map<NameAge, Version>& r, const NameAge& at, std::set<NameAge>& removed) {
        auto txn = s.begin_write();
        auto t = txn.open_tree<Version>();
        bool here = r.count(at) != 0;
        if (here && rng() % 2 == 0) {
            CHECK(t.remove(at));
            r.erase(at);
            removed.insert(at);
        } else if (!here && rng() % 4 == 0) {  // the position's own key again
            Version v = random_version(at);
            t.put(v);
            r[at] = v;
            removed.insert(at);
        }
        if (!r.empty() && rng() % 3 != 0) {
            auto victim = std::next(r.begin(), static_cast<std::ptrdiff_t>(rng() % r.size()))->first;
            CHECK(t.remove(victim));
            r.erase(victim);
            removed.insert(victim);
        }
        auto k = unused();
        Version v = random_version(k);
        t.put(v);
        r[k] = v;
        txn.commit();
    };
    check_source(store, rows, src, mutate);
}

// ---- positions ---------------------------------------------------------------------------------

template <class Rows>
netabase::position position_of_row(const Rows& rows, std::uint64_t pk) {
    for (auto it = rows.begin(); it != rows.end(); ++it)
        if ((*it).key() == pk) return it.position();
    FAIL("no row " << pk);
    throw std::logic_error("unreachable");
}

TEST_CASE("positions: through bytes and back; malformed bytes and another table's or index's positions are invalid_argument",
          "[pagination]") {
    auto store = Store::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Item>();
        for (std::uint64_t id = 1; id <= 20; ++id)
            t.put(Item{id, static_cast<std::uint32_t>(id % 3), "e" + std::to_string(id), "n", 1, {"t", "u"}});
        txn.template open_tree<Version>().put(Version{"a", 1, ""});
    });
    auto txn = store.begin_read();
    auto items = txn.open_tree<Item>();
    auto group = items.index(&Item::group);
    auto email = items.index(&Item::email);
    auto tags = items.index(by_tag);

    const netabase::position p_pk = position_of_row(items.all(), 7);
    const netabase::position p_group = position_of_row(group.all(), 7);
    const netabase::position p_email = position_of_row(email.all(), 7);
    const netabase::position p_tag = position_of_row(tags.equal_range("u"), 7);

    SECTION("round trip, and equal for the same entry whichever scan took it") {
        for (const auto* p : {&p_pk, &p_group, &p_email, &p_tag}) {
            std::vector<std::byte> kept = stored(*p);
            auto back = netabase::position::from_bytes(kept);
            CHECK(back == *p);
            CHECK(stored(back) == kept);
            kept.push_back(std::byte{0});
            CHECK(error_of([&] { (void)netabase::position::from_bytes(kept); }) == "netabase: invalid argument");
        }
        CHECK(position_of_row(items.range(3, 10).reverse(), 7) == p_pk);
        CHECK(position_of_row(group.equal_range(1), 7) == p_group);
        CHECK(position_of_row(group.through(1).reverse(), 7) == p_group);
        CHECK(position_of_row(email.prefix("e"), 7) == p_email);
        CHECK(position_of_row(tags.all(), 7) != p_tag);  // the first of its entries is "t", not "u"
        CHECK(position_of_row(tags.equal_range("t"), 7) != p_tag);
        // A position taken in one scan resumes any other scan of the same index.
        CHECK(pks_of(group.equal_range(1).after(p_group)) == std::vector<std::uint64_t>{10, 13, 16, 19});
        CHECK(pks_of(group.all().after(p_group)) == std::vector<std::uint64_t>{10, 13, 16, 19, 2, 5, 8, 11, 14, 17, 20});
        CHECK(pks_of(items.range(5, 10).after(p_pk)) == std::vector<std::uint64_t>{8, 9});
        CHECK(pks_of(items.range(5, 10).reverse().after(p_pk)) == std::vector<std::uint64_t>{6, 5});
        // Positions are equal across transactions: the same bytes for the same entry.
        auto later = store.begin_read();
        CHECK(position_of_row(later.open_tree<Item>().index(&Item::group).all(), 7) == p_group);
        CHECK_FALSE(p_pk == p_group);
        CHECK_FALSE(p_group == p_email);
    }
    SECTION("malformed bytes: empty, cut short, any byte changed, not a position") {
        const std::vector<std::byte> good = stored(p_group);
        netabase::error e(netabase::errc::not_found, "");
        CHECK(error_of([&] { (void)netabase::position::from_bytes({}); }) == "netabase: invalid argument");
        for (std::size_t n = 0; n < good.size(); ++n) {
            INFO("cut to " << n << " bytes");
            std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
            CHECK(error_of([&] { (void)netabase::position::from_bytes(cut); }) == "netabase: invalid argument");
        }
        for (std::size_t i = 0; i < good.size(); ++i) {
            for (unsigned flip : {0x01u, 0x80u, 0xffu}) {
                INFO("byte " << i << " ^ " << flip);
                std::vector<std::byte> bad = good;
                bad[i] ^= std::byte(flip);
                CHECK(error_of([&] { (void)netabase::position::from_bytes(bad); }) == "netabase: invalid argument");
            }
        }
        std::mt19937 rng(3);
        for (int i = 0; i < 200; ++i) {
            std::vector<std::byte> junk(rng() % 40);
            for (auto& b : junk) b = std::byte(rng() & 0xff);
            if (!junk.empty() && i % 2 == 0) junk[0] = good[0];  // the right format byte, the rest junk
            CHECK(error_of([&] { (void)netabase::position::from_bytes(junk); }) == "netabase: invalid argument");
        }
        // A readable but damaged position names the table and index it claims.
        std::vector<std::byte> damaged = good;
        damaged.back() ^= std::byte{1};
        CHECK(error_of([&] { (void)netabase::position::from_bytes(damaged); }, &e) == "netabase: invalid argument");
        CHECK(e.table() == "items");
        CHECK(e.index() == "items/1");
        CHECK(has(e.what(), "index 'items/1' of table 'items'"));
        CHECK(has(e.what(), "checksum"));
        // Forged with a valid checksum, a kind its index name contradicts: a primary key's
        // position that names an index, an index position that names none.
        using netabase::detail::position_access;
        using netabase::detail::position_kind;
        const std::vector<std::byte> k8(8, std::byte{1}), none;
        const std::pair<position_kind, const char*> contradictions[] = {
            {position_kind::primary, "items/1"}, {position_kind::unique_index, ""}, {position_kind::index, ""}};
        for (const auto& [kind, index] : contradictions) {
            INFO("kind " << static_cast<int>(kind) << ", index '" << index << "'");
            auto forged = position_access::make(kind, "items", index, k8, kind == position_kind::index ? k8 : none);
            CHECK(error_of([&] { (void)netabase::position::from_bytes(stored(forged)); }, &e) ==
                  "netabase: invalid argument");
            CHECK(has(e.what(), "its kind does not match its index name"));
        }
    }
    SECTION("a position of another table or index, used, is invalid_argument naming both") {
        netabase::error e(netabase::errc::not_found, "");
        CHECK(error_of([&] { (void)email.all().after(p_group); }, &e) == "netabase: invalid argument");
        CHECK(e.table() == "items");
        CHECK(e.index() == "items/2");
        CHECK(has(e.what(), "index 'items/1' of table 'items'"));
        CHECK(has(e.what(), "index 'items/2' of table 'items'"));
        CHECK(error_of([&] { (void)group.all().after(p_email); }) == "netabase: invalid argument");
        CHECK(error_of([&] { (void)group.equal_range(1).after(p_tag); }) == "netabase: invalid argument");
        CHECK(error_of([&] { (void)tags.all().after(p_group); }) == "netabase: invalid argument");
        CHECK(error_of([&] { (void)items.all().after(p_group); }, &e) == "netabase: invalid argument");
        CHECK(e.index().empty());
        CHECK(has(e.what(), "the primary key of table 'items'"));
        CHECK(error_of([&] { (void)group.all().after(p_pk); }) == "netabase: invalid argument");
        auto versions = txn.open_tree<Version>();
        CHECK(error_of([&] { (void)versions.all().after(p_pk); }, &e) == "netabase: invalid argument");
        CHECK(e.table() == "versions");
        CHECK(has(e.what(), "the primary key of table 'items'"));
        const auto vrows = versions.all();
        auto vit = vrows.begin();
        REQUIRE(vit != vrows.end());
        const netabase::position p_version = vit.position();
        CHECK(error_of([&] { (void)items.reverse().after(p_version); }) == "netabase: invalid argument");
        // Refused before any row is read, and the scan it was refused on is unchanged.
        auto r = group.all();
        CHECK(error_of([&] { (void)r.after(p_email); }) == "netabase: invalid argument");
        CHECK(r.count() == 20);
    }
    SECTION("well-formed bytes that no scan of this index could have made") {
        // Forged with netabase's own encoder, so that the checksum holds: what after() checks.
        using netabase::detail::position_access;
        using netabase::detail::position_kind;
        const std::vector<std::byte> key(600, std::byte{'k'}), pk(8, std::byte{0});
        netabase::error e(netabase::errc::not_found, "");
        auto huge = position_access::make(position_kind::index, "items", "items/1", key, pk);
        CHECK(netabase::position::from_bytes(stored(huge)) == huge);  // a well-formed position
        CHECK(error_of([&] { (void)group.all().after(huge); }, &e) == "netabase: invalid argument");
        CHECK(e.index() == "items/1");
        CHECK(has(e.what(), "over LMDB's limit"));
        auto huge_pk = position_access::make(position_kind::primary, "items", "", key, {});
        CHECK(error_of([&] { (void)items.all().after(huge_pk); }) == "netabase: invalid argument");
        // The right names, the wrong kind: a unique index's position on a non-unique index.
        auto wrong_kind = position_access::make(position_kind::unique_index, "items", "items/1", pk, {});
        CHECK(error_of([&] { (void)group.all().after(wrong_kind); }, &e) == "netabase: invalid argument");
        CHECK(has(e.what(), "index 'items/1' of table 'items'"));
        // One within the limits is just a point of the key space: (group 1, id 7) is p_group.
        const std::vector<std::byte> group1 = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}};
        std::vector<std::byte> id7(8, std::byte{0});
        id7[7] = std::byte{7};
        CHECK(position_access::make(position_kind::index, "items", "items/1", group1, id7) == p_group);
        id7[7] = std::byte{8};  // (1, 8): no such entry, between (1, 7) and (1, 10)
        auto between = position_access::make(position_kind::index, "items", "items/1", group1, id7);
        CHECK(pks_of(group.equal_range(1).after(between)) == std::vector<std::uint64_t>{10, 13, 16, 19});
        CHECK(pks_of(group.equal_range(1).reverse().after(between)) == std::vector<std::uint64_t>{7, 4, 1});
    }
    SECTION("no position at the end, no page of zero rows") {
        auto rows = items.all();
        auto it = rows.begin();
        while (it != rows.end()) ++it;
        CHECK(error_of([&] { (void)it.position(); }) == "netabase: invalid argument");
        CHECK(error_of([&] { (void)rows.page(0); }) == "netabase: invalid argument");
        auto none = items.range(100, 200);
        CHECK(error_of([&] { (void)none.begin().position(); }) == "netabase: invalid argument");
        auto p = none.page(10);
        CHECK(p.rows.empty());
        CHECK_FALSE(p.next.has_value());
    }
}

// ---- non-unique indexes: positions whose row or key is gone ------------------------------------

TEST_CASE("non-unique index: after() a position whose row, whose whole key, or whose neighbours are gone",
          "[pagination]") {
    auto store = Store::temporary();
    auto item = [](std::uint64_t id, std::uint32_t group) {
        return Item{id, group, "e" + std::to_string(id), "n", 1, {}};
    };
    // group 6: 2; group 7: 1 3 5 7 9; group 8: 4 6
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Item>();
        for (std::uint64_t id : {1, 3, 5, 7, 9}) t.put(item(id, 7));
        t.put(item(2, 6));
        t.put(item(4, 8));
        t.put(item(6, 8));
    });
    netabase::position at_6_2 = [&] {
        auto txn = store.begin_read();
        return position_of_row(txn.open_tree<Item>().index(&Item::group).all(), 2);
    }();
    netabase::position at_7_5 = [&] {
        auto txn = store.begin_read();
        return position_of_row(txn.open_tree<Item>().index(&Item::group).all(), 5);
    }();
    netabase::position at_8_4 = [&] {
        auto txn = store.begin_read();
        return position_of_row(txn.open_tree<Item>().index(&Item::group).all(), 4);
    }();
    using V = std::vector<std::uint64_t>;
    auto check_all = [&](const netabase::position& p, const V& fwd_all, const V& rev_all, const V& fwd_eq7,
                         const V& rev_eq7) {
        auto txn = store.begin_read();
        auto g = txn.open_tree<Item>().index(&Item::group);
        CHECK(pks_of(g.all().after(p)) == fwd_all);
        CHECK(pks_of(g.reverse().after(p)) == rev_all);
        CHECK(pks_of(g.equal_range(7).after(p)) == fwd_eq7);
        CHECK(pks_of(g.equal_range(7).reverse().after(p)) == rev_eq7);
        CHECK(g.all().after(p).count() == fwd_all.size());
        CHECK(g.reverse().after(p).count() == rev_all.size());
        CHECK(g.equal_range(7).after(p).count() == fwd_eq7.size());
        CHECK(g.equal_range(7).reverse().after(p).count() == rev_eq7.size());
        // The same through range(7, 8) and closed_range(7, 7): the bounds, not the dup walk.
        CHECK(pks_of(g.closed_range(7, 7).after(p)) == fwd_eq7);
        CHECK(pks_of(g.range(7, 8).reverse().after(p)) == rev_eq7);
        CHECK(g.closed_range(7, 7).after(p).count() == fwd_eq7.size());
    };
    // As they are.
    check_all(at_7_5, {7, 9, 4, 6}, {3, 1, 2}, {7, 9}, {3, 1});
    check_all(at_6_2, {1, 3, 5, 7, 9, 4, 6}, {}, {1, 3, 5, 7, 9}, {});
    check_all(at_8_4, {6}, {9, 7, 5, 3, 1, 2}, {}, {9, 7, 5, 3, 1});

    auto write = [&](auto fn) {
        auto txn = store.begin_write();
        auto t = txn.open_tree<Item>();
        fn(t);
        txn.commit();
    };
    // The position's own row goes: its neighbours stay where they were.
    write([&](auto& t) { CHECK(t.remove(5)); });
    check_all(at_7_5, {7, 9, 4, 6}, {3, 1, 2}, {7, 9}, {3, 1});
    // New duplicates of its key, below and above its primary key; one equal to it again, in another group.
    write([&](auto& t) {
        t.put(item(0, 7));
        t.put(item(8, 7));
        t.put(item(5, 9));
    });
    check_all(at_7_5, {7, 8, 9, 4, 6, 5}, {3, 1, 0, 2}, {7, 8, 9}, {3, 1, 0});
    // Every duplicate above it goes, then every one below it.
    write([&](auto& t) {
        for (std::uint64_t id : {7, 8, 9}) CHECK(t.remove(id));
    });
    check_all(at_7_5, {4, 6, 5}, {3, 1, 0, 2}, {}, {3, 1, 0});
    write([&](auto& t) {
        for (std::uint64_t id : {0, 1, 3}) CHECK(t.remove(id));
        t.put(item(11, 7));
    });
    check_all(at_7_5, {11, 4, 6, 5}, {2}, {11}, {});
    // The whole key goes.
    write([&](auto& t) { CHECK(t.remove(11)); });
    check_all(at_7_5, {4, 6, 5}, {2}, {}, {});
    check_all(at_6_2, {4, 6, 5}, {}, {}, {});
    // And its neighbouring keys: a position past the last key, before the first.
    write([&](auto& t) {
        CHECK(t.remove(4));
        CHECK(t.remove(6));
        CHECK(t.remove(5));
    });
    check_all(at_7_5, {}, {2}, {}, {});
    check_all(at_8_4, {}, {2}, {}, {});
    write([&](auto& t) {
        CHECK(t.remove(2));
        t.put(item(20, 9));
        t.put(item(21, 7));
        t.put(item(3, 7));
    });
    check_all(at_6_2, {3, 21, 20}, {}, {3, 21}, {});
    check_all(at_7_5, {21, 20}, {3}, {21}, {3});
    check_all(at_8_4, {20}, {21, 3}, {}, {21, 3});
}

// ---- closed ranges -------------------------------------------------------------------------------

TEST_CASE("closed_range and through on strings include the upper key and nothing that extends it",
          "[pagination][closed]") {
    auto store = Store::temporary();
    const std::vector<std::string> ids = {"",  "a",  std::string("a\0", 2), "aa", "b", std::string("b\0", 2),
                                          "ba", "bb", "c", "\xff", "\xff\xff"};
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Doc>();
        for (const auto& id : ids) t.put(Doc{id, id.empty() ? "x" : id.substr(0, 1)});
    });
    auto txn = store.begin_read();
    auto docs = txn.open_tree<Doc>();
    using V = std::vector<std::string>;
    CHECK(pks_of(docs.closed_range("a", "b")) == V{"a", std::string("a\0", 2), "aa", "b"});
    CHECK(pks_of(docs.closed_range("a", "b").reverse()) == V{"b", "aa", std::string("a\0", 2), "a"});
    CHECK(pks_of(docs.range("a", "b")) == V{"a", std::string("a\0", 2), "aa"});
    CHECK(pks_of(docs.through("b")) == V{"", "a", std::string("a\0", 2), "aa", "b"});
    CHECK(pks_of(docs.through("")) == V{""});
    CHECK(pks_of(docs.closed_range("", "")) == V{""});
    CHECK(pks_of(docs.closed_range("b", "b")) == V{"b"});
    CHECK(pks_of(docs.closed_range("b", "b").reverse()) == V{"b"});
    CHECK(pks_of(docs.closed_range(std::string("b\0", 2), "ba")) == V{std::string("b\0", 2), "ba"});
    CHECK(pks_of(docs.closed_range("bc", "bz")).empty());
    CHECK(pks_of(docs.closed_range("c", "b")).empty());
    CHECK(pks_of(docs.closed_range("c", "b").reverse()).empty());
    CHECK(pks_of(docs.through("\xff\xff")).size() == ids.size());
    CHECK(pks_of(docs.closed_range("\xff", "\xff\xff").reverse()) == V{"\xff\xff", "\xff"});
    CHECK(docs.closed_range("a", "b").count() == 4);
    CHECK(docs.through("b").reverse().count() == 5);
    // The index: keys of one letter, several rows each.
    auto title = docs.index(&Doc::title);
    CHECK(pks_of(title.closed_range("a", "b")) == V{"a", std::string("a\0", 2), "aa", "b", std::string("b\0", 2), "ba", "bb"});
    CHECK(pks_of(title.through("a").reverse()) == V{"aa", std::string("a\0", 2), "a"});
    CHECK(title.closed_range("a", "b").count() == 7);
    CHECK(title.closed_range("b", "x").reverse().count() == 6);
}

TEST_CASE("closed_range and through on integers at their limits and on tuples", "[pagination][closed]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    ItemData data;
    auto rows = fill_items(store, data, 120);  // holds ids 0 and UINT64_MAX
    constexpr auto top = std::numeric_limits<std::uint64_t>::max();
    auto txn = store.begin_read();
    auto items = txn.open_tree<Item>();
    auto ids = [&](auto pred) {
        std::vector<std::uint64_t> out;
        for (const auto& [id, p] : rows)
            if (pred(id)) out.push_back(id);
        return out;
    };
    CHECK(pks_of(items.through(top)) == ids([](auto) { return true; }));
    CHECK(pks_of(items.closed_range(top, top)) == std::vector<std::uint64_t>{top});
    CHECK(pks_of(items.closed_range(0, 0)) == std::vector<std::uint64_t>{0});
    CHECK(pks_of(items.through(0).reverse()) == std::vector<std::uint64_t>{0});
    CHECK(pks_of(items.closed_range(1, top)) == ids([](auto id) { return id >= 1; }));
    CHECK(pks_of(items.closed_range(1, top).reverse()) == reversed(ids([](auto id) { return id >= 1; })));
    CHECK(items.closed_range(1, top).count() == rows.size() - 1);
    CHECK(items.through(top - 1).count() == rows.size() - 1);
    // A group at UINT32_MAX, and tuples: the whole key compared, field by field.
    auto g = items.index(&Item::group);
    constexpr auto top32 = std::numeric_limits<std::uint32_t>::max();
    std::size_t at_top = 0;
    for (const auto& [id, p] : rows) at_top += p.group == top32;
    CHECK(g.closed_range(top32, top32).count() == at_top);
    CHECK(g.through(top32).count() == rows.size());
    auto na = items.index(by_name_age);
    for (const auto& lo : {NameAge{"an", 0}, NameAge{"ann", 3}, NameAge{"", 0}, NameAge{"bob", 4}})
        for (const auto& hi : {NameAge{"ann", 3}, NameAge{"anna", 0}, NameAge{"zed", 4}, NameAge{"bob", 4}}) {
            INFO(show(lo) << " .. " << show(hi));
            std::vector<Entry<NameAge, std::uint64_t>> want;
            for (const auto& [id, p] : rows) {
                NameAge k{p.name, p.age};
                if (!(k < lo) && !(hi < k)) want.emplace_back(k, id);
            }
            std::sort(want.begin(), want.end());
            check_same(pks_of(na.closed_range(lo, hi)), entry_pks(want));
            check_same(pks_of(na.closed_range(lo, hi).reverse()), reversed(entry_pks(want)));
            CHECK(na.closed_range(lo, hi).count() == want.size());
        }
}

TEST_CASE("closed_range and through with LMDB's largest key and with bounds longer than any key",
          "[pagination][closed]") {
    auto store = Store::temporary();
    constexpr std::size_t max = 511;  // LMDB's default limit; a string key costs 2 bytes of terminator
    const std::string longest(max - 2, 'm');                    // encodes to exactly 511 bytes
    const std::string below = std::string(max - 3, 'm') + "l";  // the same size, just below it
    const std::string above = std::string(max - 3, 'm') + "n";  // the same size, just above it
    const std::string shorter(max - 3, 'm');                    // a prefix of it
    const std::string top(max - 2, '\xff');                     // the largest key there can be
    const std::set<std::string> ids = {"a", shorter, below, longest, above, top, "z", std::string(max - 4, '\xff')};
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Doc>();
        for (const auto& id : ids) t.put(Doc{id, id});
        // 511 bytes is the limit: one more does not fit, as a primary key or as an index key.
        CHECK(error_of([&] { t.put(Doc{longest + "m", "x"}); }) == "netabase: key too large");
        CHECK(error_of([&] { t.put(Doc{"x", longest + "m"}); }) == "netabase: key too large");
    });
    const std::vector<std::string> bounds = {"",
                                             "a",
                                             "m",
                                             shorter,
                                             below,
                                             longest,
                                             longest + "m",                  // 512 bytes: no stored key
                                             std::string(max + 100, 'm'),    // far over, between longest and above
                                             above,
                                             std::string(max - 3, '\xff'),
                                             top,
                                             std::string(max + 100, '\xff'),  // over, above every key
                                             "z"};
    auto txn = store.begin_read();
    auto docs = txn.open_tree<Doc>();
    auto title = docs.index(&Doc::title);
    auto model = [&](auto pred) {
        std::vector<std::string> out;
        for (const auto& id : ids)
            if (pred(id)) out.push_back(id);
        return out;
    };
    for (const auto& hi : bounds) {
        INFO("hi " << show(hi));
        const auto through = model([&](const std::string& k) { return k <= hi; });
        check_same(pks_of(docs.through(hi)), through);
        check_same(pks_of(docs.through(hi).reverse()), reversed(through));
        check_same(pks_of(title.through(hi)), through);
        check_same(pks_of(title.through(hi).reverse()), reversed(through));
        CHECK(docs.through(hi).count() == through.size());
        CHECK(title.through(hi).reverse().count() == through.size());
        for (const auto& lo : bounds) {
            INFO("lo " << show(lo));
            const auto closed = model([&](const std::string& k) { return lo <= k && k <= hi; });
            check_same(pks_of(docs.closed_range(lo, hi)), closed);
            check_same(pks_of(docs.closed_range(lo, hi).reverse()), reversed(closed));
            check_same(pks_of(title.closed_range(lo, hi)), closed);
            check_same(pks_of(title.closed_range(lo, hi).reverse()), reversed(closed));
            CHECK(docs.closed_range(lo, hi).count() == closed.size());
            CHECK(title.closed_range(lo, hi).count() == closed.size());
        }
    }
    CHECK(pks_of(docs.closed_range(longest, longest)) == std::vector<std::string>{longest});
    CHECK(pks_of(docs.through(top)).size() == ids.size());
    CHECK(pks_of(docs.closed_range(top, top).reverse()) == std::vector<std::string>{top});
    // Positions of the largest keys resume like any other.
    auto rows = docs.closed_range(shorter, top);
    auto p = rows.page(2);
    REQUIRE(p.next);
    CHECK(pks_of(p.rows) == std::vector<std::string>{shorter, below});
    CHECK(pks_of(rows.after(*p.next)) == std::vector<std::string>{longest, above, "z", std::string(max - 4, '\xff'), top});
    auto q = title.closed_range(longest, top).reverse().page(3);
    REQUIRE(q.next);
    CHECK(pks_of(q.rows) == std::vector<std::string>{top, std::string(max - 4, '\xff'), "z"});
    CHECK(pks_of(title.closed_range(longest, top).reverse().after(*q.next)) == std::vector<std::string>{above, longest});
}

// ---- count ---------------------------------------------------------------------------------------

TEST_CASE("count() is the number of rows of the scan, in read and write transactions", "[pagination][count]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    ItemData data;
    auto rows = fill_items(store, data, 200);
    auto n = [](const auto& r) { return static_cast<std::size_t>(std::ranges::distance(r)); };
    auto check_counts = [&](const auto& t) {
        // Every row: the O(1) path, on the tree and on each index.
        CHECK(t.all().count() == t.size());
        CHECK(t.reverse().count() == t.size());
        CHECK(t.all().count() == n(t.all()));
        auto g = t.index(&Item::group);
        auto e = t.index(&Item::email);
        auto na = t.index(by_name_age);
        auto tags = t.index(by_tag);
        CHECK(g.all().count() == g.size());
        CHECK(g.reverse().count() == n(g.reverse()));
        CHECK(e.all().count() == n(e.all()));
        CHECK(na.reverse().count() == n(na.all()));
        CHECK(tags.all().count() == tags.size());
        CHECK(tags.all().count() == n(tags.all()));
        // Keys: equal_range agrees with Index::count, over every group and tag.
        for (std::uint32_t k = 0; k < 13; ++k) {
            CHECK(g.equal_range(k).count() == g.count(k));
            CHECK(g.equal_range(k).reverse().count() == n(g.equal_range(k)));
            CHECK(g.from(k).count() == n(g.from(k)));
            CHECK(g.until(k).reverse().count() == n(g.until(k)));
        }
        for (const auto& tag : tag_pool) {
            CHECK(tags.equal_range(tag).count() == tags.count(tag));
            CHECK(tags.prefix(tag.empty() ? std::string("r") : tag).count() ==
                  n(tags.prefix(tag.empty() ? std::string("r") : tag)));
            CHECK(tags.through(tag).reverse().count() == n(tags.through(tag)));
        }
        CHECK(e.equal_range("nobody").count() == 0);
        CHECK(e.prefix("a").count() == n(e.prefix("a")));
        CHECK(na.prefix(std::string("ann")).count() == n(na.prefix(std::string("ann"))));
        // Bounds that match nothing, or that no stored key could be.
        CHECK(t.range(10, 5).count() == 0);
        CHECK(t.range(10, 5).reverse().count() == 0);
        CHECK(e.prefix(std::string(600, 'a')).count() == 0);
        CHECK(e.equal_range(std::string(600, 'a')).count() == 0);
        CHECK(g.equal_range(5000).count() == 0);
        CHECK(e.from(std::string(600, '\xff')).count() == 0);
        CHECK(e.until(std::string(600, '\xff')).count() == e.size());
    };
    {
        auto txn = store.begin_read();
        check_counts(txn.open_tree<Item>());
    }
    {
        // A write transaction counts what it has written, before it commits.
        auto txn = store.begin_write();
        auto t = txn.open_tree<Item>();
        for (int i = 0; i < 30; ++i) {
            Item p = data.random_item(data.unused_id(rows));
            t.put(p);
            rows[p.id] = p;
        }
        for (int i = 0; i < 20; ++i) {
            auto victim = std::next(rows.begin(), static_cast<std::ptrdiff_t>(data.rng() % rows.size()))->first;
            CHECK(t.remove(victim));
            rows.erase(victim);
        }
        CHECK(t.all().count() == rows.size());
        check_counts(t);
        txn.commit();
    }
    {
        auto txn = store.begin_read();
        check_counts(txn.open_tree<Item>());
        auto r = txn.open_tree<Item>().index(&Item::group).all();
        txn.abort();
        CHECK(error_of([&] { (void)r.count(); }) == "netabase: transaction finished");
    }
}

// ---- pages and their guards ---------------------------------------------------------------------

TEST_CASE("a page's guards read their rows while the transaction is open; next outlives it", "[pagination]") {
    auto store = Store::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Item>();
        for (std::uint64_t id = 1; id <= 10; ++id) t.put(Item{id, 1, "e" + std::to_string(id), "n", 1, {}});
    });
    std::optional<netabase::position> next;
    {
        auto txn = store.begin_read();
        auto p = txn.open_tree<Item>().index(&Item::group).equal_range(1).page(4);
        REQUIRE(p.rows.size() == 4);
        for (std::size_t i = 0; i < 4; ++i) CHECK(p.rows[i].value().email == "e" + std::to_string(i + 1));
        next = p.next;
    }
    REQUIRE(next);
    {
        // In a write transaction: the page sees its own writes.
        auto txn = store.begin_write();
        auto t = txn.open_tree<Item>();
        t.put(Item{11, 1, "e11", "n", 1, {}});
        CHECK(t.remove(5));
        auto p = t.index(&Item::group).equal_range(1).after(*next).page(100);
        CHECK(pks_of(p.rows) == std::vector<std::uint64_t>{6, 7, 8, 9, 10, 11});
        CHECK_FALSE(p.next.has_value());
        CHECK(p.rows.back().view().get<&Item::email>() == "e11");
        txn.commit();
    }
    auto txn = store.begin_read();
    auto g = txn.open_tree<Item>().index(&Item::group);
    auto p = g.all().page(10);
    CHECK(pks_of(p.rows) == std::vector<std::uint64_t>{1, 2, 3, 4, 6, 7, 8, 9, 10, 11});
    CHECK_FALSE(p.next.has_value());  // exactly ten rows: nothing follows
    auto q = g.all().page(9);
    REQUIRE(q.next.has_value());
    CHECK(pks_of(g.all().after(*q.next).page(9).rows) == std::vector<std::uint64_t>{11});
}

}  // namespace pagination_test
