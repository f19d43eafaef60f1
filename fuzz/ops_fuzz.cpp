// libFuzzer target: the input is a program of write operations on a store, run against a
// std::map model of what the store must hold.
//
// The model has a unique secondary key, a non-unique one and a multi-valued one. Each input
// starts from an empty table in one Store::temporary() shared by all inputs, then runs a
// sequence of transactions of put / insert / remove / update / put_many / remove_many /
// clear, each ended by commit or abort (or by the input running out, which aborts). Expected
// results, including unique-key violations and all-or-nothing batches, come from the model.
// Two more models have no unique key (a 4-byte and a string primary key, each with a
// non-unique index): their put_many sorts a vector's rows by primary key before it writes
// them (by radix from 256 rows of the 4-byte key), a path the first model never takes.
// After every commit and abort the whole of each table and every index is compared with its
// model; at the end store.verify() must find nothing. Any difference aborts.
#include <netabase/netabase.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <ranges>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ops_fuzz {

struct Rec {
    std::uint32_t id;
    std::string name;               // unique
    std::uint16_t group;            // non-unique
    std::vector<std::string> tags;  // multi: one entry per distinct tag
    std::uint32_t n;
};

constexpr auto by_tag = netabase::keys<Rec>("by_tag", [](const Rec& r) { return r.tags; });

constexpr auto netabase_model(netabase::tag<Rec>) {
    return netabase::model<Rec>("recs")
        .primary_key(&Rec::id)
        .secondary_key(&Rec::name, netabase::unique)
        .secondary_key(&Rec::group)
        .secondary_key(by_tag);
}

// No unique key: put_many of a vector takes the sorted path. A 4-byte key is its own sort
// prefix (radix from 256 rows); a string key sorts by its first 8 bytes, then the rest.
struct Note {
    std::uint32_t id;
    std::uint16_t group;  // non-unique
    std::uint32_t n;
};

struct Page {
    std::string id;
    std::uint16_t group;  // non-unique
    std::uint32_t n;
};

constexpr auto netabase_model(netabase::tag<Note>) {
    return netabase::model<Note>("notes").primary_key(&Note::id).secondary_key(&Note::group);
}

constexpr auto netabase_model(netabase::tag<Page>) {
    return netabase::model<Page>("pages").primary_key(&Page::id).secondary_key(&Page::group);
}

using S = netabase::definition<Rec, Note, Page>;
using Model = std::map<std::uint32_t, Rec>;
using Notes = std::map<std::uint32_t, Note>;
using Pages = std::map<std::string, Page>;
using WTree = netabase::Tree<Rec, netabase::access::write>;

bool operator==(const Rec& a, const Rec& b) {
    return a.id == b.id && a.name == b.name && a.group == b.group && a.tags == b.tags && a.n == b.n;
}
bool operator==(const Note& a, const Note& b) { return a.id == b.id && a.group == b.group && a.n == b.n; }
bool operator==(const Page& a, const Page& b) { return a.id == b.id && a.group == b.group && a.n == b.n; }

// What a transaction sees of every table.
struct Models {
    Model recs;
    Notes notes;
    Pages pages;
};

const char* const names[] = {"", "a", "b", "c", "ab", "abc", "b\0x", "zz", "name", "\xff"};
const char* const tag_names[] = {"x", "y", "z", "", "xy"};
constexpr std::size_t name_count = 10, tag_count = 5;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "ops_fuzz: model and store disagree: %s\n", what.c_str());
    std::abort();
}

class input {
public:
    input(const std::uint8_t* p, std::size_t n) : p_(p), end_(p + n) {}
    bool done() const { return p_ >= end_; }
    std::uint8_t next() { return p_ < end_ ? *p_++ : 0; }

private:
    const std::uint8_t* p_;
    const std::uint8_t* end_;
};

std::string name_of(std::size_t i) {
    return i == 6 ? std::string("b\0x", 3) : std::string(names[i]);  // one with a NUL in it
}

// Page keys: pieces that share their first 8 bytes (the sort prefix) and differ after them,
// at NUL and 0xFF, and keys shorter than 8 bytes.
const std::string pieces[] = {"",
                              "a",
                              "ab",
                              "abcdefgh",
                              "abcdefghi",
                              std::string("abcdefgh\0", 9),
                              "abcdefgh\xff",
                              "abcdefgz",
                              "zzzzzzzzzzzzzzzz",
                              "\xff\xff\xff\xff\xff\xff\xff\xff\xff"};
constexpr std::size_t piece_count = 10;

std::string page_id(std::uint8_t a, std::uint8_t b) {
    std::string id = pieces[a % piece_count];
    if (b & 0x80) id += pieces[b % piece_count];
    return id;
}

// A fixed sequence (xorshift64) for batches too long to spell out byte by byte.
struct sequence {
    std::uint64_t x;
    std::uint64_t next() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    }
};

Rec make_rec(input& in) {
    Rec r;
    r.id = in.next() % 16;
    r.name = name_of(in.next() % name_count);
    r.group = static_cast<std::uint16_t>(in.next() % 4);
    std::size_t n = in.next() % 4;
    for (std::size_t i = 0; i < n; ++i) r.tags.emplace_back(tag_names[in.next() % tag_count]);
    r.n = in.next();
    return r;
}

// The row, other than `except`, that holds this unique name.
bool name_taken(const Model& m, const std::string& name, std::uint32_t except) {
    for (const auto& [id, r] : m)
        if (id != except && r.name == name) return true;
    return false;
}

// Applies a put to the model; false (and nothing changed) for a unique violation.
bool model_put(Model& m, const Rec& r) {
    if (name_taken(m, r.name, r.id)) return false;
    m[r.id] = r;
    return true;
}

template <class F>
bool throws_unique_violation(F&& f) {
    try {
        f();
    } catch (const netabase::error& e) {
        if (e.code() != netabase::errc::unique_violation) fail(std::string("unexpected error: ") + e.what());
        return true;
    }
    return false;
}

// The store, read in a fresh read transaction, against the model.
void check_store(const netabase::Store<S>& store, const Model& m) {
    store.read([&](netabase::ReadTransaction<S>& txn) {
        auto recs = txn.open_tree<Rec>();
        if (recs.size() != m.size()) fail("row count");
        auto it = m.begin();
        for (const auto& row : recs) {
            if (it == m.end()) fail("more rows than the model");
            if (row.key() != it->first || !(row.value() == it->second)) fail("row " + std::to_string(it->first));
            ++it;
        }
        if (it != m.end()) fail("fewer rows than the model");

        // Unique name: entries by (name, id).
        std::vector<std::pair<std::string, std::uint32_t>> want;
        for (const auto& [id, r] : m) want.emplace_back(r.name, id);
        std::sort(want.begin(), want.end());
        std::vector<std::pair<std::string, std::uint32_t>> got;
        auto by_name = recs.index(&Rec::name);
        for (const auto& row : by_name) got.emplace_back(std::string(row.view().get<&Rec::name>()), row.key());
        if (got != want || by_name.size() != want.size()) fail("name index");
        for (const auto& [name, id] : want) {
            auto g = by_name.get(name);
            if (!g || g->key() != id) fail("name index lookup");
        }

        // Non-unique group: entries by (group, id).
        std::vector<std::pair<std::uint16_t, std::uint32_t>> gwant, ggot;
        for (const auto& [id, r] : m) gwant.emplace_back(r.group, id);
        std::sort(gwant.begin(), gwant.end());
        auto by_group = recs.index(&Rec::group);
        for (const auto& row : by_group) ggot.emplace_back(row.value().group, row.key());
        if (ggot != gwant || by_group.size() != gwant.size()) fail("group index");
        for (std::uint16_t g = 0; g < 4; ++g) {
            std::size_t c = 0;
            for (const auto& e : gwant) c += e.first == g;
            if (by_group.count(g) != c) fail("group index count");
        }

        // Multi tags: one entry per distinct tag per row, by (tag, id).
        std::vector<std::pair<std::string, std::uint32_t>> twant;
        for (const auto& [id, r] : m) {
            std::set<std::string> distinct(r.tags.begin(), r.tags.end());
            for (const auto& t : distinct) twant.emplace_back(t, id);
        }
        std::sort(twant.begin(), twant.end());
        auto tags = recs.index(by_tag);
        std::vector<std::uint32_t> order;
        for (const auto& row : tags) order.push_back(row.key());
        std::vector<std::uint32_t> want_order;
        for (const auto& e : twant) want_order.push_back(e.second);
        if (order != want_order || tags.size() != twant.size()) fail("tag index order");
        for (std::size_t t = 0; t < tag_count; ++t) {
            std::vector<std::uint32_t> ids;
            for (const auto& e : twant)
                if (e.first == tag_names[t]) ids.push_back(e.second);
            if (tags.primary_keys(std::string(tag_names[t])) != ids) fail(std::string("tag index ") + tag_names[t]);
        }
    });
}

// A table without a unique key (rows in key order, the group index by (group, key)) against
// its model, in a fresh read transaction.
template <class T, class Map>
void check_plain(netabase::ReadTransaction<S>& txn, const Map& m, const char* what) {
    auto tree = txn.open_tree<T>();
    if (tree.size() != m.size()) fail(std::string(what) + ": row count");
    auto it = m.begin();
    for (const auto& row : tree) {
        if (it == m.end()) fail(std::string(what) + ": more rows than the model");
        if (!(row.key() == it->first) || !(row.value() == it->second)) fail(std::string(what) + ": a row");
        ++it;
    }
    if (it != m.end()) fail(std::string(what) + ": fewer rows than the model");
    std::vector<std::pair<std::uint16_t, typename Map::key_type>> want, got;
    for (const auto& [id, r] : m) want.emplace_back(r.group, id);
    std::sort(want.begin(), want.end());
    auto by_group = tree.index(&T::group);
    for (const auto& row : by_group) got.emplace_back(row.value().group, row.key());
    if (got != want || by_group.size() != want.size()) fail(std::string(what) + ": group index");
    for (std::uint16_t g = 0; g < 4; ++g) {
        std::size_t c = 0;
        for (const auto& e : want) c += e.first == g;
        if (by_group.count(g) != c) fail(std::string(what) + ": group index count");
    }
}

void check_store(const netabase::Store<S>& store, const Models& m) {
    check_store(store, m.recs);
    store.read([&](netabase::ReadTransaction<S>& txn) {
        check_plain<Note>(txn, m.notes, "notes");
        check_plain<Page>(txn, m.pages, "pages");
    });
}

netabase::Store<S>& the_store() {
    static netabase::Store<S> store =
        netabase::Store<S>::temporary(netabase::options{.durability = netabase::durability::no_sync});
    return store;
}

enum class ended { no, committed, aborted };

struct Trees {
    WTree recs;
    netabase::Tree<Note, netabase::access::write> notes;
    netabase::Tree<Page, netabase::access::write> pages;
};

Note make_note(input& in) {
    return Note{static_cast<std::uint32_t>(in.next() % 32), static_cast<std::uint16_t>(in.next() % 4), in.next()};
}

Page make_page(input& in) {
    std::uint8_t a = in.next(), b = in.next();
    return Page{page_id(a, b), static_cast<std::uint16_t>(in.next() % 4), in.next()};
}

// put_many on a table without a unique key, of a vector: the rows as they come, ascending or
// descending; now and then a long batch (from 200 to 710 rows, keys drawn from a sequence
// under a mask: repeats, and bytes that all rows share, which radix skips), a range of values
// (not sortable: written in input order), or (`spoil`) a row whose key is over LMDB's limit,
// which refuses the batch before anything is written. Equal keys: the later row wins.
template <class T, class Map, class Make, class Draw, class Spoil>
void put_many_plain(netabase::Tree<T, netabase::access::write>& tree, input& in, Map& pending, Make make, Draw draw,
                    Spoil spoil) {
    const std::uint8_t how = in.next();
    std::vector<T> rows;
    if (how & 0x80) {
        sequence seq{0x9E3779B97F4A7C15u ^ (std::uint64_t{in.next()} << 8 | in.next())};
        const std::uint8_t shape = in.next();
        const std::size_t n = 200 + std::size_t{in.next()} * 2;
        for (std::size_t i = 0; i < n; ++i) rows.push_back(draw(seq, shape));
    } else {
        rows.resize(1 + in.next() % 8);
        for (auto& r : rows) r = make(in);
    }
    auto by_key = [](const T& a, const T& b) { return a.id < b.id; };
    if ((how & 6) == 2) std::stable_sort(rows.begin(), rows.end(), by_key);
    if ((how & 6) == 4) std::stable_sort(rows.rbegin(), rows.rend(), by_key);
    const bool spoilt = (how & 0x18) == 0x18 && spoil(rows[in.next() % rows.size()]);
    std::size_t count = 0;
    try {
        if (how & 0x20)
            count = tree.put_many(rows | std::views::transform([](const T& r) { return r; }));
        else
            count = tree.put_many(rows);
    } catch (const netabase::error& e) {
        if (!spoilt || e.code() != netabase::errc::key_too_large)
            fail(std::string("put_many without a unique key: ") + e.what());
        return;
    }
    if (spoilt) fail("put_many without a unique key: an oversize key was accepted");
    if (count != rows.size()) fail("put_many without a unique key: count");
    for (const auto& r : rows) pending[r.id] = r;
}

void put_many_notes(Trees& trees, input& in, Notes& pending) {
    constexpr std::uint32_t masks[] = {0xf, 0x3ff, 0xf00f, 0x0f0f0f, 0xc0300c03};  // radix passes: 1, 2, 2, 3, 4
    put_many_plain(
        trees.notes, in, pending, make_note,
        [&](sequence& seq, std::uint8_t shape) {
            const std::uint64_t x = seq.next();
            return Note{static_cast<std::uint32_t>(x >> 32) & masks[shape % 5], static_cast<std::uint16_t>(x & 3),
                        static_cast<std::uint32_t>(x >> 8)};
        },
        [](Note&) { return false; });  // a 4-byte key always fits
}

void put_many_pages(Trees& trees, input& in, Pages& pending) {
    put_many_plain(
        trees.pages, in, pending, make_page,
        [](sequence& seq, std::uint8_t) {
            const std::uint64_t x = seq.next();
            return Page{page_id(static_cast<std::uint8_t>(x >> 40), static_cast<std::uint8_t>(x >> 48)),
                        static_cast<std::uint16_t>(x & 3), static_cast<std::uint32_t>(x >> 8)};
        },
        [](Page& p) {
            p.id.assign(600, 'p');
            return true;
        });
}

// put, remove or get of one row of a table without a unique key.
template <class T, class Map, class Make>
void one_plain(netabase::Tree<T, netabase::access::write>& tree, input& in, Map& pending, Make make) {
    const std::uint8_t what = in.next() % 3;
    T r = make(in);
    if (what == 0) {
        tree.put(r);
        pending[r.id] = r;
    } else if (what == 1) {
        if (tree.remove(r.id) != (pending.erase(r.id) > 0)) fail("remove without a unique key: result");
    } else {
        auto g = tree.get(r.id);
        auto it = pending.find(r.id);
        if (g.has_value() != (it != pending.end())) fail("get without a unique key");
        if (g && !(g->value() == it->second)) fail("get without a unique key: value");
        if (tree.size() != pending.size()) fail("size without a unique key");
    }
}

// One operation in an open transaction.
ended step(netabase::WriteTransaction<S>& txn, Trees& trees, input& in, Models& all) {
    WTree& tree = trees.recs;
    Model& pending = all.recs;
    switch (in.next() % 14) {
        case 0:
        case 1: {  // put
            Rec r = make_rec(in);
            Model next = pending;
            bool ok = model_put(next, r);
            if (throws_unique_violation([&] { tree.put(r); }) == ok)
                fail("put: unique violation expected " + std::to_string(!ok));
            if (ok) pending = std::move(next);
            break;
        }
        case 2: {  // insert
            Rec r = make_rec(in);
            bool exists = pending.count(r.id) > 0;
            bool violates = !exists && name_taken(pending, r.name, r.id);
            bool inserted = false;
            if (throws_unique_violation([&] { inserted = tree.insert(r); }) != violates) fail("insert: violation");
            if (!violates && inserted == exists) fail("insert: result");
            if (!exists && !violates) pending[r.id] = r;
            break;
        }
        case 3: {  // remove
            std::uint32_t k = in.next() % 16;
            bool existed = pending.erase(k) > 0;
            if (tree.remove(k) != existed) fail("remove: result");
            break;
        }
        case 4: {  // update (of the non-key fields; now and then, wrongly, of the key)
            std::uint32_t k = in.next() % 16;
            std::uint8_t what = in.next();
            Rec src = make_rec(in);
            auto change = [&](Rec& r) {
                if (what & 1) r.name = src.name;
                if (what & 2) r.group = src.group;
                if (what & 4) r.tags = src.tags;
                r.n = src.n;
                if ((what & 0x38) == 0x38) r.id = r.id + 1;  // not allowed
            };
            auto it = pending.find(k);
            if (it == pending.end()) {
                if (tree.update(k, change)) fail("update: of a missing key");
                break;
            }
            Rec after = it->second;
            change(after);
            if (after.id != k) {
                try {
                    tree.update(k, change);
                    fail("update: a changed primary key was accepted");
                } catch (const netabase::error& e) {
                    if (e.code() != netabase::errc::invalid_argument) fail("update: error for a changed key");
                }
                break;
            }
            bool violates = name_taken(pending, after.name, k);
            bool found = false;
            if (throws_unique_violation([&] { found = tree.update(k, change); }) != violates) fail("update: violation");
            if (!violates) {
                if (!found) fail("update: result");
                it->second = after;
            }
            break;
        }
        case 5: {  // put_many: all or nothing
            std::vector<Rec> rows(1 + in.next() % 4);
            for (auto& r : rows) r = make_rec(in);
            if (in.next() & 1)  // ascending keys past the end take the append path
                std::sort(rows.begin(), rows.end(), [](const Rec& a, const Rec& b) { return a.id < b.id; });
            Model next = pending;
            bool ok = true;
            for (const auto& r : rows) ok = ok && model_put(next, r);
            std::size_t count = 0;
            if (throws_unique_violation([&] { count = tree.put_many(rows); }) == ok) fail("put_many: violation");
            if (ok) {
                if (count != rows.size()) fail("put_many: count");
                pending = std::move(next);
            }
            break;
        }
        case 6: {  // remove_many
            std::vector<std::uint32_t> keys(in.next() % 5);
            for (auto& k : keys) k = in.next() % 16;
            std::size_t existed = 0;
            for (auto k : keys) existed += pending.erase(k);
            if (tree.remove_many(keys) != existed) fail("remove_many: count");
            break;
        }
        case 7:
            if (in.next() % 4 == 0) {  // clear, now and then
                tree.clear();
                pending.clear();
            }
            break;
        case 8: {  // a read inside the transaction
            std::uint32_t k = in.next() % 16;
            auto g = tree.get(k);
            auto it = pending.find(k);
            if (g.has_value() != (it != pending.end())) fail("get in the transaction");
            if (g && !(g->value() == it->second)) fail("get in the transaction: value");
            if (tree.size() != pending.size()) fail("size in the transaction");
            break;
        }
        case 9:
            txn.commit();
            return ended::committed;
        case 10:
            txn.abort();
            return ended::aborted;
        case 11:  // put_many without a unique key: the sorted path
            put_many_notes(trees, in, all.notes);
            break;
        case 12:
            put_many_pages(trees, in, all.pages);
            break;
        case 13:
            if (in.next() & 1)
                one_plain(trees.notes, in, all.notes, make_note);
            else
                one_plain(trees.pages, in, all.pages, make_page);
            break;
    }
    return ended::no;
}

}  // namespace ops_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace ops_fuzz;
    auto& store = the_store();
    store.write([](netabase::WriteTransaction<S>& txn) {
        txn.open_tree<Rec>().clear();
        txn.open_tree<Note>().clear();
        txn.open_tree<Page>().clear();
    });
    Models committed;
    input in(data, std::min<std::size_t>(size, 4096));
    while (!in.done()) {
        Models pending = committed;
        ended how = ended::no;
        {
            auto txn = store.begin_write();
            Trees trees{txn.open_tree<Rec>(), txn.open_tree<Note>(), txn.open_tree<Page>()};
            while (!in.done() && how == ended::no) how = step(txn, trees, in, pending);
        }  // ran out of input: aborted here
        if (how == ended::committed) committed = std::move(pending);
        check_store(store, committed);
    }
    auto report = store.verify();
    if (!report.ok()) fail(report.to_string());
    return 0;
}
