// verify() on damaged stores. Each test builds a real store through the API, closes it, damages
// it below the API with raw LMDB calls on its files (the table and index databases by their
// names: "<table>" and "<table>/<id>", unique indexes plain, the others MDB_DUPSORT secondary
// -> primary key bytes), reopens it and asserts verify()'s exact report: which table, which
// index, which kind of problem, how many, and what its message names. Every kind of index
// takes every kind of damage: a unique member key, a non-unique member key, a computed key, a
// multi-valued netabase::keys key and a sparse std::optional key. tests/index_model.hpp, which
// the crash, fault and growth tests use beside verify(), must see the same damage.
#include "catch.hpp"
#include "index_model.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <lmdb.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace verify_damaged_test {

namespace fs = std::filesystem;
using netabase_test::key_bytes;
using netabase_test::raw_env;
using netabase_test::raw_txn;
using kind = netabase::verify_report::kind;
using OptStr = std::optional<std::string>;

// ---- models ------------------------------------------------------------------------------

struct Item {
    std::uint64_t id;
    std::string email;              // 1: unique member key
    std::uint32_t group;            // 2: non-unique member key
    std::string name;               // what the computed key "initial" is made from
    std::vector<std::string> tags;  // "by_tag": one entry per distinct tag
    OptStr nick;                    // 5: unique, sparse (nullopt has no entry)
    std::string payload;
};

constexpr auto initial = netabase::key<Item>("initial", [](const Item& i) { return i.name.substr(0, 1); });
constexpr auto by_tag = netabase::keys<Item>("by_tag", [](const Item& i) { return i.tags; });

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items")
        .primary_key(&Item::id)
        .secondary_key(&Item::email, netabase::unique)
        .secondary_key(&Item::group)
        .secondary_key(initial)
        .secondary_key(by_tag)
        .secondary_key(&Item::nick, netabase::unique);
}

// A second table, to see that problems are reported under the table they are in.
struct Note {
    std::uint64_t id;
    std::string topic;  // 1: non-unique
};

constexpr auto netabase_model(netabase::tag<Note>) {
    return netabase::model<Note>("notes").primary_key(&Note::id).secondary_key(&Note::topic);
}

using S = netabase::definition<Item, Note>;
using Store = netabase::Store<S>;

// ---- the store every test starts from -------------------------------------------------------

const char* const names[] = {"", "ann", "bob", "bea", "cy", "dan", "dee"};

// Rows 1..6. Odd rows have a nick; row 6 repeats a tag (one entry for it).
Item row(std::uint64_t i) {
    Item it{i,
            "user" + std::to_string(i) + "@example.com",
            static_cast<std::uint32_t>(i % 3),
            names[i],
            {"t" + std::to_string(i % 3), "t" + std::to_string(i % 2 + 3)},
            i % 2 ? OptStr{"nick" + std::to_string(i)} : OptStr{},
            "payload of row " + std::to_string(i)};
    if (i == 6) it.tags.push_back("t0");
    return it;
}

constexpr std::size_t item_rows = 6, note_rows = 3;
// email 6, group 6, initial 6, by_tag 2 per row (row 6: t0 twice), nick 3 (odd rows); topic 3.
constexpr std::size_t item_entries = 6 + 6 + 6 + 12 + 3, note_entries = 3;

netabase::options opts(bool checksum) {
    return netabase::options{.durability = netabase::durability::no_sync, .checksum = checksum};
}

void build(const fs::path& dir, bool checksum) {
    Store store{dir, opts(checksum)};
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto items = txn.open_tree<Item>();
        for (std::uint64_t i = 1; i <= item_rows; ++i) items.put(row(i));
        auto notes = txn.open_tree<Note>();
        notes.put(Note{1, "red"});
        notes.put(Note{2, "red"});
        notes.put(Note{3, "blue"});
    });
}

std::string pk(std::uint64_t id) { return key_bytes(id); }

// Runs fn in one raw write transaction on the closed store in dir, and commits it.
template <class F>
void damage(const fs::path& dir, F&& fn) {
    raw_env env(dir, false);
    raw_txn txn(env, false);
    fn(txn);
    txn.commit();
}

MDB_val val(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

// Adds an entry that must not be there yet (a new key, or a new duplicate of a dupsort key).
void put_raw(const raw_txn& txn, MDB_dbi dbi, const std::string& k, const std::string& v, bool dupsort) {
    MDB_val kv = val(k), vv = val(v);
    raw_env::ok(::mdb_put(txn.get(), dbi, &kv, &vv, dupsort ? MDB_NODUPDATA : MDB_NOOVERWRITE), "mdb_put");
}

// Deletes the one entry (k, v), which must be there.
void del_raw(const raw_txn& txn, MDB_dbi dbi, const std::string& k, const std::string& v) {
    MDB_val kv = val(k), vv = val(v);
    raw_env::ok(::mdb_del(txn.get(), dbi, &kv, &vv), "mdb_del");
}

std::string get_raw(const raw_txn& txn, MDB_dbi dbi, const std::string& k) {
    MDB_val kv = val(k), vv;
    raw_env::ok(::mdb_get(txn.get(), dbi, &kv, &vv), "mdb_get");
    return raw_txn::str(vv);
}

void set_raw(const raw_txn& txn, MDB_dbi dbi, const std::string& k, const std::string& v) {
    MDB_val kv = val(k), vv = val(v);
    raw_env::ok(::mdb_put(txn.get(), dbi, &kv, &vv, 0), "mdb_put");
}

// ---- the indexes, and what damages each ------------------------------------------------------

struct index_case {
    std::string what;  // for the section name
    std::string name;  // "<table>/<id>"
    bool unique;
    std::function<std::string(std::uint64_t)> entry_of;  // the key bytes of one of row i's entries
    std::string fresh;                                   // a key no row has
    std::string undecodable;                             // bytes that are no key of the index's type
    std::string described_3;                             // entry_of(3)'s key, as reports write it
    std::string keys_of_3;                               // all of row 3's keys in this index, so too
};

std::vector<index_case> index_cases() {
    using namespace std::string_literals;
    return {
        {"unique member key", "items/1", true, [](std::uint64_t i) { return key_bytes(row(i).email); },
         key_bytes("ghost@example.com"s), "abc"s /* no terminator */, "\"user3@example.com\"", "\"user3@example.com\""},
        {"non-unique member key", "items/2", false, [](std::uint64_t i) { return key_bytes(row(i).group); },
         key_bytes(std::uint32_t{77}), "\x00\x01\x02"s /* 3 bytes of a u32 */, "0", "0"},
        {"computed key", "items/initial", false,
         [](std::uint64_t i) { return key_bytes(row(i).name.substr(0, 1)); }, key_bytes("z"s),
         "b\x00\x07"s /* a bad escape */, "\"b\"", "\"b\""},
        {"multi-valued key", "items/by_tag", false, [](std::uint64_t i) { return key_bytes(row(i).tags[1]); },
         key_bytes("t9"s), key_bytes("t1"s) + "x" /* a byte left over */, "\"t4\"", "\"t0\", \"t4\""},
        {"optional sparse key", "items/5", true, [](std::uint64_t i) { return key_bytes(row(i).nick); },
         key_bytes(OptStr{"ghost"}), "\x02nick3\x00\x00"s /* a bad optional tag */, "\"nick3\"", "\"nick3\""},
    };
}

// ---- the report ----------------------------------------------------------------------------

const char* kind_name(kind k) {
    switch (k) {
        case kind::undecodable_row: return "undecodable row";
        case kind::missing_entry: return "missing index entry";
        case kind::orphan_entry: return "orphan index entry";
        case kind::stale_entry: return "stale index entry";
        case kind::undecodable_entry: return "undecodable index entry";
    }
    return "?";
}

struct expected {
    kind what;
    std::string table, index, key;
};

// The problems as "kind | table | index | key", sorted (the order verify() walks in is not
// part of its contract).
std::vector<std::string> problems(const netabase::verify_report& r) {
    std::vector<std::string> out;
    for (const auto& p : r.problems)
        out.push_back(std::string(kind_name(p.what)) + " | " + p.table + " | " + p.index + " | " + p.key);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> problems(std::vector<expected> want) {
    std::vector<std::string> out;
    for (const auto& p : want)
        out.push_back(std::string(kind_name(p.what)) + " | " + p.table + " | " + p.index + " | " + p.key);
    std::sort(out.begin(), out.end());
    return out;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// How a report writes an entry's key bytes.
std::string entry_key(const std::string& bytes) {
    std::string s = "entry key 0x";
    netabase::detail::append_hex(s, bytes, bytes.size());
    return s;
}

// The problem of kind `what` in index `index`: the one there must be.
const netabase::verify_report::problem& problem_of(const netabase::verify_report& r, kind what, const std::string& index) {
    auto it = std::find_if(r.problems.begin(), r.problems.end(),
                           [&](const auto& p) { return p.what == what && p.index == index; });
    REQUIRE(it != r.problems.end());
    return *it;
}

// Reopens the damaged store, and checks verify()'s report against `want`, and that its text
// names each problem's kind, table, index and key; the rows and entries it walked; and that
// the index model sees damage too (in `index`, or in the table's rows when index is empty).
netabase::verify_report check(const fs::path& dir, bool checksum, const std::vector<expected>& want,
                              std::size_t entries, std::size_t rows = item_rows + note_rows) {
    Store store{dir, opts(checksum)};
    const netabase::verify_report report = store.verify();
    const std::string text = report.to_string();
    INFO(text);
    CHECK_FALSE(report.ok());
    CHECK(problems(report) == problems(want));
    CHECK(report.rows == rows);
    CHECK(report.entries == entries);
    CHECK(contains(text, std::to_string(want.size()) + " problems"));
    for (const auto& p : want) {
        std::string line = std::string(kind_name(p.what)) + ": table '" + p.table + "'";
        if (!p.index.empty()) line += ", index '" + p.index + "'";
        line += ", key " + p.key;
        INFO("expected in the text: " << line);
        CHECK(contains(text, line));
    }
    return report;
}

// The index model's differences for both tables, which must not be empty and must name `what`.
void check_model_sees(const fs::path& dir, const std::string& what) {
    const std::string diff = netabase_test::index_mismatches<Item>(dir) + netabase_test::index_mismatches<Note>(dir);
    INFO(diff);
    CHECK_FALSE(diff.empty());
    CHECK(contains(diff, what));
}

std::string file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::size_t last_txnid(const fs::path& dir) {
    raw_env env(dir, true);
    MDB_envinfo info;
    raw_env::ok(::mdb_env_info(env.get(), &info), "mdb_env_info");
    return info.me_last_txnid;
}

// ---- healthy -------------------------------------------------------------------------------

TEST_CASE("verify damaged: a healthy store is ok, every row and entry walked, and the index model agrees",
          "[verify]") {
    const bool checksum = GENERATE(false, true);
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    build(dir, checksum);
    {
        Store store{dir, opts(checksum)};
        const auto report = store.verify();
        INFO(report.to_string());
        CHECK(report.ok());
        CHECK(report.problems.empty());
        CHECK(report.rows == item_rows + note_rows);
        CHECK(report.entries == item_entries + note_entries);
        CHECK(report.to_string() == "9 rows, 36 index entries, 0 problems");
    }
    CHECK(netabase_test::index_mismatches<Item>(dir).empty());
    CHECK(netabase_test::index_mismatches<Note>(dir).empty());
    CHECK(netabase_test::raw_index_entries<Item>(dir) == item_entries);
    CHECK(netabase_test::raw_index_entries<Note>(dir) == note_entries);

    // The layout the damage below relies on: each index by its name, dupsort unless unique.
    raw_env env(dir, true);
    raw_txn txn(env, true);
    for (const auto& ix : index_cases()) {
        INFO(ix.name);
        const auto entries = txn.entries(txn.open(ix.name, !ix.unique));
        CHECK(std::count(entries.begin(), entries.end(), std::pair{ix.entry_of(3), pk(3)}) == 1);
        CHECK(std::none_of(entries.begin(), entries.end(), [&](const auto& e) { return e.first == ix.fresh; }));
    }
    CHECK(get_raw(txn, txn.open("items", false), pk(3)).size() > 10);
}

// ---- each kind of damage on each kind of index -----------------------------------------------

TEST_CASE("verify damaged: an orphan entry in each kind of index is reported once, with its index and key",
          "[verify]") {
    const bool checksum = GENERATE(false, true);
    for (const auto& ix : index_cases()) {
        DYNAMIC_SECTION(ix.what << " (" << ix.name << "), checksum " << checksum) {
            netabase_test::temp_dir tmp;
            const fs::path dir = tmp / "db";
            build(dir, checksum);
            // Row 99 is not there. In a non-unique index the entry shares its key with row 3's.
            const std::string key = ix.unique ? ix.fresh : ix.entry_of(3);
            damage(dir, [&](raw_txn& t) { put_raw(t, t.open(ix.name, !ix.unique), key, pk(99), !ix.unique); });
            const auto report =
                check(dir, checksum, {{kind::orphan_entry, "items", ix.name, "99"}}, item_entries + note_entries + 1);
            CHECK(problem_of(report, kind::orphan_entry, ix.name).detail ==
                  entry_key(key) + "; no row has this primary key");
            check_model_sees(dir, "index '" + ix.name + "': entry ");
        }
    }
}

TEST_CASE("verify damaged: an orphan entry whose primary key bytes do not decode says so", "[verify]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    build(dir, false);
    damage(dir, [&](raw_txn& t) { put_raw(t, t.open("items/2", true), key_bytes(std::uint32_t{1}), "xyz", true); });
    check(dir, false, {{kind::orphan_entry, "items", "items/2", "<3 undecodable bytes>"}},
          item_entries + note_entries + 1);
    check_model_sees(dir, "index 'items/2': entry 1 -> 0x78797a");
}

TEST_CASE("verify damaged: a missing entry in each kind of index is reported once, with its row", "[verify]") {
    const bool checksum = GENERATE(false, true);
    for (const auto& ix : index_cases()) {
        DYNAMIC_SECTION(ix.what << " (" << ix.name << "), checksum " << checksum) {
            netabase_test::temp_dir tmp;
            const fs::path dir = tmp / "db";
            build(dir, checksum);
            // Row 3's entry goes; of its two tags, only one.
            damage(dir, [&](raw_txn& t) { del_raw(t, t.open(ix.name, !ix.unique), ix.entry_of(3), pk(3)); });
            const auto report =
                check(dir, checksum, {{kind::missing_entry, "items", ix.name, "3"}}, item_entries + note_entries - 1);
            CHECK(problem_of(report, kind::missing_entry, ix.name).detail == "no entry for " + ix.described_3);
            check_model_sees(dir, "index '" + ix.name + "': no entry ");
        }
    }
}

TEST_CASE("verify damaged: an entry moved to a wrong key in each kind of index is stale, and the row misses it",
          "[verify]") {
    const bool checksum = GENERATE(false, true);
    for (const auto& ix : index_cases()) {
        DYNAMIC_SECTION(ix.what << " (" << ix.name << "), checksum " << checksum) {
            netabase_test::temp_dir tmp;
            const fs::path dir = tmp / "db";
            build(dir, checksum);
            damage(dir, [&](raw_txn& t) {
                MDB_dbi dbi = t.open(ix.name, !ix.unique);
                del_raw(t, dbi, ix.entry_of(3), pk(3));
                put_raw(t, dbi, ix.fresh, pk(3), !ix.unique);
            });
            const auto report =
                check(dir, checksum,
                      {{kind::stale_entry, "items", ix.name, "3"}, {kind::missing_entry, "items", ix.name, "3"}},
                      item_entries + note_entries);
            // The row's keys are what the row implies, not what the index holds.
            CHECK(problem_of(report, kind::stale_entry, ix.name).detail ==
                  entry_key(ix.fresh) + "; the row's keys: " + ix.keys_of_3);
            CHECK(problem_of(report, kind::missing_entry, ix.name).detail == "no entry for " + ix.described_3);
            check_model_sees(dir, "index '" + ix.name + "': no entry ");
            check_model_sees(dir, "is not implied by any row");
        }
    }
}

TEST_CASE("verify damaged: an extra entry under a wrong key in each kind of index is stale, and only that",
          "[verify]") {
    const bool checksum = GENERATE(false, true);
    for (const auto& ix : index_cases()) {
        DYNAMIC_SECTION(ix.what << " (" << ix.name << "), checksum " << checksum) {
            netabase_test::temp_dir tmp;
            const fs::path dir = tmp / "db";
            build(dir, checksum);
            // Row 3 keeps its entry and gets one under a key it does not have.
            damage(dir, [&](raw_txn& t) { put_raw(t, t.open(ix.name, !ix.unique), ix.fresh, pk(3), !ix.unique); });
            const auto report =
                check(dir, checksum, {{kind::stale_entry, "items", ix.name, "3"}}, item_entries + note_entries + 1);
            CHECK(problem_of(report, kind::stale_entry, ix.name).detail ==
                  entry_key(ix.fresh) + "; the row's keys: " + ix.keys_of_3);
            check_model_sees(dir, "index '" + ix.name + "': entry ");
        }
    }
}

TEST_CASE("verify damaged: an undecodable entry in each kind of index is reported once, with its row", "[verify]") {
    const bool checksum = GENERATE(false, true);
    for (const auto& ix : index_cases()) {
        DYNAMIC_SECTION(ix.what << " (" << ix.name << "), checksum " << checksum) {
            netabase_test::temp_dir tmp;
            const fs::path dir = tmp / "db";
            build(dir, checksum);
            damage(dir, [&](raw_txn& t) { put_raw(t, t.open(ix.name, !ix.unique), ix.undecodable, pk(3), !ix.unique); });
            const auto report = check(dir, checksum, {{kind::undecodable_entry, "items", ix.name, "3"}},
                                      item_entries + note_entries + 1);
            // The entry's bytes, and why they do not decode.
            const std::string detail = problem_of(report, kind::undecodable_entry, ix.name).detail;
            CHECK(detail.starts_with(entry_key(ix.undecodable) + ": "));
            CHECK(detail.size() > entry_key(ix.undecodable).size() + 10);
            check_model_sees(dir, "(not a key of its type)");
        }
    }
}

// ---- damage particular to one kind of index ----------------------------------------------------

TEST_CASE("verify damaged: a nullopt entry in a sparse index is stale", "[verify]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    build(dir, false);
    // Row 2 has no nick: a sparse index has no entry for it, and must not get one for nullopt.
    damage(dir, [&](raw_txn& t) { put_raw(t, t.open("items/5", false), key_bytes(OptStr{}), pk(2), false); });
    const auto report = check(dir, false, {{kind::stale_entry, "items", "items/5", "2"}}, item_entries + note_entries + 1);
    CHECK(problem_of(report, kind::stale_entry, "items/5").detail == "entry key 0x00; the row's keys: none");
    check_model_sees(dir, "index 'items/5': entry nullopt -> 2 is not implied by any row");
}

TEST_CASE("verify damaged: a unique entry repointed to another row is stale there and missing for its own row",
          "[verify]") {
    const auto cases = index_cases();
    for (const auto& ix : cases) {
        if (!ix.unique) continue;
        DYNAMIC_SECTION(ix.what << " (" << ix.name << ")") {
            netabase_test::temp_dir tmp;
            const fs::path dir = tmp / "db";
            build(dir, false);
            // Row 3's key now names row 4 (whose own entry, if it has one, stays).
            damage(dir, [&](raw_txn& t) { set_raw(t, t.open(ix.name, false), ix.entry_of(3), pk(4)); });
            check(dir, false, {{kind::stale_entry, "items", ix.name, "4"}, {kind::missing_entry, "items", ix.name, "3"}},
                  item_entries + note_entries);
            check_model_sees(dir, "index '" + ix.name + "': no entry ");
        }
    }
}

TEST_CASE("verify damaged: a multi-valued row that lost all its entries is missing each of them", "[verify]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    build(dir, false);
    damage(dir, [&](raw_txn& t) {
        MDB_dbi dbi = t.open("items/by_tag", true);
        del_raw(t, dbi, key_bytes(std::string("t0")), pk(6));  // row 6's tags: t0, t3, t0
        del_raw(t, dbi, key_bytes(std::string("t3")), pk(6));
    });
    // Two entries, not three: a repeated tag is one entry, so one report.
    const auto report = check(
        dir, false,
        {{kind::missing_entry, "items", "items/by_tag", "6"}, {kind::missing_entry, "items", "items/by_tag", "6"}},
        item_entries + note_entries - 2);
    std::vector<std::string> details;
    for (const auto& p : report.problems) details.push_back(p.detail);
    std::sort(details.begin(), details.end());
    CHECK(details == std::vector<std::string>{"no entry for \"t0\"", "no entry for \"t3\""});
}

// ---- rows ------------------------------------------------------------------------------------

TEST_CASE("verify damaged: an undecodable row is reported once, and its index entries are not blamed",
          "[verify]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    struct row_damage {
        const char* what;
        bool checksum;
        std::function<void(std::string&)> fn;
        const char* detail;  // in the problem's detail, from the decoder
    };
    const std::vector<row_damage> damages{
        {"an unknown encoding version", false, [](std::string& v) { v[0] = '\x07'; }, "encoding version 7"},
        {"a value cut short", false, [](std::string& v) { v.resize(v.size() - 3); }, ""},
        {"a byte left over", false, [](std::string& v) { v += 'x'; }, "1 bytes left over"},
        {"an empty value", false, [](std::string& v) { v.clear(); }, "empty value"},
        {"a flipped payload byte, with checksums", true, [](std::string& v) { v[v.size() - 6] ^= 0x01; },
         "checksum mismatch"},
        {"a flipped checksum byte", true, [](std::string& v) { v.back() ^= 0x40; }, "checksum mismatch"},
    };
    for (const auto& d : damages) {
        DYNAMIC_SECTION(d.what) {
            build(dir, d.checksum);
            damage(dir, [&](raw_txn& t) {
                MDB_dbi rows = t.open("items", false);
                std::string v = get_raw(t, rows, pk(4));
                REQUIRE((static_cast<unsigned char>(v[0]) & 0x80) == (d.checksum ? 0x80 : 0));  // the checksum flag
                d.fn(v);
                set_raw(t, rows, pk(4), v);
            });
            const auto report =
                check(dir, d.checksum, {{kind::undecodable_row, "items", "", "4"}}, item_entries + note_entries);
            const auto& p = problem_of(report, kind::undecodable_row, "");
            INFO(p.detail);
            CHECK_FALSE(p.detail.empty());
            CHECK(contains(p.detail, d.detail));
            check_model_sees(dir, "table 'items': row 4 does not decode");
        }
    }
}

TEST_CASE("verify damaged: damage in both tables at once is reported under each table", "[verify]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    build(dir, false);
    damage(dir, [&](raw_txn& t) {
        // items: an orphan tag entry, a row without its group entry.
        put_raw(t, t.open("items/by_tag", true), key_bytes(std::string("t1")), pk(42), true);
        del_raw(t, t.open("items/2", true), key_bytes(row(5).group), pk(5));
        // notes: row 2 undecodable, row 3's topic moved to a wrong key, an undecodable entry.
        MDB_dbi rows = t.open("notes", false);
        set_raw(t, rows, pk(2), "\x01\xff");
        MDB_dbi topic = t.open("notes/1", true);
        del_raw(t, topic, key_bytes(std::string("blue")), pk(3));
        put_raw(t, topic, key_bytes(std::string("green")), pk(3), true);
        put_raw(t, topic, "nope", pk(1), true);
    });
    check(dir, false,
          {{kind::orphan_entry, "items", "items/by_tag", "42"},
           {kind::missing_entry, "items", "items/2", "5"},
           {kind::undecodable_row, "notes", "", "2"},
           {kind::stale_entry, "notes", "notes/1", "3"},
           {kind::missing_entry, "notes", "notes/1", "3"},
           {kind::undecodable_entry, "notes", "notes/1", "1"}},
          item_entries + note_entries + 1 - 1 + 1);
    check_model_sees(dir, "index 'items/by_tag': entry \"t1\" -> 42 is not implied by any row");
    check_model_sees(dir, "index 'items/2': no entry 2 -> 5");
    check_model_sees(dir, "table 'notes': row 2 does not decode");
    check_model_sees(dir, "index 'notes/1': entry \"green\" -> 3");
}

TEST_CASE("verify damaged: a row copied under another primary key is not ok, and each problem names that row",
          "[verify]") {
    // verify() has no kind for a row whose key is not its primary key: the copy's index entries
    // are missing (its keys are row 3's, whose entries point to row 3), one per entry it implies.
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    build(dir, false);
    damage(dir, [&](raw_txn& t) {
        MDB_dbi rows = t.open("items", false);
        put_raw(t, rows, pk(77), get_raw(t, rows, pk(3)), false);
    });
    {
        Store store{dir, opts(false)};
        const auto report = store.verify();
        INFO(report.to_string());
        CHECK(report.rows == item_rows + note_rows + 1);
        CHECK(report.problems.size() == 6);  // email, group, initial, two tags, nick
        for (const auto& p : report.problems) {
            CHECK(p.what == kind::missing_entry);
            CHECK(p.key == "77");
        }
    }
    check_model_sees(dir, "table 'items': row stored under 77 has the primary key 3");
}

// ---- verify() reads only -------------------------------------------------------------------

TEST_CASE("verify damaged: verify() changes nothing in the store, healthy or damaged", "[verify]") {
    const bool damaged = GENERATE(false, true);
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    build(dir, true);
    if (damaged)
        damage(dir, [&](raw_txn& t) {
            put_raw(t, t.open("items/initial", true), key_bytes(std::string("q")), pk(7), true);
            del_raw(t, t.open("items/1", false), key_bytes(row(2).email), pk(2));
            MDB_dbi rows = t.open("items", false);
            std::string v = get_raw(t, rows, pk(1));
            v[3] ^= 0x10;
            set_raw(t, rows, pk(1), v);
        });
    const std::size_t problems_expected = damaged ? 3 : 0;

    netabase::verify_report first;
    {
        Store store{dir, opts(true)};  // opening writes nothing either: the tables exist
        const std::string before = file_bytes(dir / "data.mdb");
        const std::size_t txnid = last_txnid(dir);
        first = store.verify();
        const auto second = store.verify();
        INFO(first.to_string());
        CHECK(first.problems.size() == problems_expected);
        CHECK(first.to_string() == second.to_string());
        CHECK(file_bytes(dir / "data.mdb") == before);
        CHECK(last_txnid(dir) == txnid);
        // The store still takes a write afterwards: verify() left no transaction open.
        store.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Note>().put(Note{9, "after"}); });
        CHECK(last_txnid(dir) == txnid + 1);
        CHECK(file_bytes(dir / "data.mdb") != before);  // (so the comparison above could fail)
    }
    // A read-only store reports the same, and one row more.
    Store ro{dir, netabase::options{.read_only = true, .checksum = true}};
    const auto third = ro.verify();
    CHECK(third.problems.size() == problems_expected);
    CHECK(third.rows == first.rows + 1);
    CHECK(third.entries == first.entries + 1);
}

TEST_CASE("verify damaged: a put over an undecodable row purges every entry naming it, also where the new row has no key",
          "[verify]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    build(dir, false);
    damage(dir, [&](raw_txn& t) {
        MDB_dbi rows = t.open("items", false);
        std::string v = get_raw(t, rows, pk(3));
        v.resize(v.size() - 3);
        set_raw(t, rows, pk(3), v);
    });
    Item fresh = row(3);
    {
        Store store{dir, opts(false)};
        REQUIRE_FALSE(store.verify().ok());  // the undecodable row 3
        // Row 3 again without a nick and without tags: its sparse and its multi-valued key
        // encode to nothing, as the keys of an old row that does not decode do. Its old entries
        // there (nick3, t0 and t4) must go all the same.
        fresh.nick.reset();
        fresh.tags.clear();
        store.write([&](netabase::WriteTransaction<S>& txn) { txn.open_tree<Item>().put(fresh); });
        const auto report = store.verify();
        INFO(report.to_string());
        CHECK(report.ok());
        CHECK(report.entries == item_entries + note_entries - 3);
        auto txn = store.begin_read();
        auto items = txn.open_tree<Item>();
        REQUIRE(items.get(3));
        CHECK(items.get(3)->value().email == fresh.email);
        CHECK(items.index(&Item::nick).size() == 2);  // rows 1 and 5
        CHECK(items.index(by_tag).size() == 12 - 2);
        CHECK(items.index(by_tag).count(std::string("t4")) == 2);  // rows 1 and 5; row 3's is gone
    }
    CHECK(netabase_test::index_mismatches<Item>(dir).empty());
}

}  // namespace verify_damaged_test
