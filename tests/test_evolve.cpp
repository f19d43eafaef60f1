// Evolving models: upgrade_from steps, appended fields, renamed tables, computed key versions,
// and stores written by older versions of a program (tests/fixtures/, committed files).
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "evolve_support.hpp"
#include "support.hpp"

#include <boost/pfr/ops.hpp>
#include <lmdb.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using evolve_fixture::NoteV1;
using evolve_fixture::UserV1;
namespace fs = std::filesystem;

namespace ev2 {  // version 2: birth_year became an age, which needs a step
using User = evolve_fixture::UserV2;
}  // namespace ev2

namespace ev3 {  // version 3: the name split in two, and a field appended (no step for it)

struct User {
    std::uint64_t id;
    std::string email;
    std::string first;
    std::string last;
    std::uint32_t age;
    std::string country = "unknown";
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .upgrade_from<UserV1>([](UserV1 old) {  // oldest first: returns the next older struct
            return ev2::User{old.id, std::move(old.email), std::move(old.name), 2026u - old.birth_year};
        })
        .upgrade_from<ev2::User>([](ev2::User old) {
            auto space = old.name.find(' ');
            return User{old.id, std::move(old.email), old.name.substr(0, space),
                        space == std::string::npos ? "" : old.name.substr(space + 1), old.age};
        })
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age)
        .secondary_key(&User::country);
}

}  // namespace ev3

namespace ev3_direct {  // the same version 3, whose first step goes straight to the model

struct User {
    std::uint64_t id;
    std::string email;
    std::string first;
    std::string last;
    std::uint32_t age;
    std::string country = "unknown";
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .upgrade_from<UserV1>([](UserV1 old) {
            return User{old.id, std::move(old.email), "direct", std::move(old.name), 2026u - old.birth_year};
        })
        .upgrade_from<ev2::User>([](ev2::User old) {
            return User{old.id, std::move(old.email), "from2", std::move(old.name), old.age};
        })
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age);
}

}  // namespace ev3_direct

namespace ev_throw {  // a step that fails on one row

struct User {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .upgrade_from<UserV1>([](UserV1 old) {
            if (old.id == 150) throw std::runtime_error("step refuses row 150");
            return User{old.id, std::move(old.email), std::move(old.name), 2026u - old.birth_year};
        })
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age);
}

}  // namespace ev_throw

namespace ev_clash {  // a step that gives every row the same email, under a unique index

struct User {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .upgrade_from<UserV1>([](UserV1 old) { return User{old.id, "same@example.com", old.name, 1}; })
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique);
}

}  // namespace ev_clash

namespace ev_bad {  // a field's type changed without a step

struct User {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t birth_year;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users").primary_key(&User::id).secondary_key(&User::email, netabase::unique);
}

}  // namespace ev_bad

namespace ev_append {  // fields appended to NoteV1: no step

struct Meta {
    std::uint16_t level = 2;
    std::string owner = "nobody";
};

struct Note {
    std::uint64_t id;
    std::string text;
    std::optional<std::string> tag;
    Meta meta;
    std::uint32_t score = 7;
    std::vector<std::uint16_t> marks = {1, 2};
};

constexpr auto netabase_model(netabase::tag<Note>) {
    return netabase::model<Note>("notes").secondary_key(&Note::score);
}

}  // namespace ev_append

namespace ev_rename {

struct Note {
    std::uint64_t id;
    std::string text;
};

constexpr auto netabase_model(netabase::tag<Note>) { return netabase::model<Note>("memos").renamed_from("notes"); }

}  // namespace ev_rename

namespace ev_key {  // a computed key whose function changes between releases

struct Item {
    std::uint64_t id;
    std::string name;
};

constexpr auto by_len_v1 = netabase::key<Item>("by_len", [](const Item& i) { return std::uint64_t{i.name.size()}; });

}  // namespace ev_key

namespace ev_key {
// The same type cannot have two declarations: each release's Item is its own struct.
struct Item2 {
    std::uint64_t id;
    std::string name;
};
struct Item3 {
    std::uint64_t id;
    std::string name;
};
constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items").secondary_key(by_len_v1);
}
constexpr auto by_len2 = netabase::key<Item2>("by_len", [](const Item2& i) {
                             return std::uint64_t(std::count(i.name.begin(), i.name.end(), ' ') + 1);
                         }).version(2);
constexpr auto netabase_model(netabase::tag<Item2>) {
    return netabase::model<Item2>("items").secondary_key(by_len2);
}
// Release 3 changed the function again but forgot the version: rebuild_index is the remedy.
constexpr auto by_len3 =
    netabase::key<Item3>("by_len", [](const Item3& i) { return std::uint64_t{i.name.size() % 7}; }).version(2);
constexpr auto netabase_model(netabase::tag<Item3>) {
    return netabase::model<Item3>("items").secondary_key(by_len3);
}
}  // namespace ev_key

namespace {

using netabase_test::temp_dir;

// A copy of a committed fixture store: the committed files are never opened in place.
fs::path copy_fixture(const temp_dir& dir, const std::string& name) {
    fs::path from = fs::path(NETABASE_FIXTURES) / name, to = dir / name;
    fs::create_directories(to);
    fs::copy_file(from / "data.mdb", to / "data.mdb");
    return to;
}

using evolve_fixture::raw_meta;

// The named databases of a store, straight from LMDB.
std::vector<std::string> raw_databases(const fs::path& dir) {
    MDB_env* env = nullptr;
    mdb_env_create(&env);
    REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    MDB_dbi main;
    REQUIRE(mdb_dbi_open(txn, nullptr, 0, &main) == 0);
    MDB_cursor* c = nullptr;
    REQUIRE(mdb_cursor_open(txn, main, &c) == 0);
    std::vector<std::string> names;
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        names.emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return names;
}

template <class E>
std::string message_of(E&& fn) {
    try {
        fn();
    } catch (const netabase::error& e) {
        return e.what();
    }
    return "<no error>";
}

using V1 = netabase::definition<UserV1, NoteV1>;

// Every user row of the fixture as version 1 stored it.
std::map<std::uint64_t, UserV1> fixture_users() {
    std::map<std::uint64_t, UserV1> m;
    for (std::uint64_t i = 0; i < evolve_fixture::user_rows; ++i) m[i] = evolve_fixture::user_v1(i);
    return m;
}

}  // namespace

TEST_CASE("a store written by version 1 (committed fixture) upgrades to version 2 with its indexes", "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    {
        netabase::Store<netabase::definition<ev2::User>> store{path};
        auto txn = store.begin_read();
        auto users = txn.open_tree<ev2::User>();
        REQUIRE(users.size() == evolve_fixture::user_rows);
        for (const auto& [id, old] : fixture_users()) {
            auto g = users.get(id);
            REQUIRE(g);
            ev2::User u = g->value();
            CHECK(u.email == old.email);
            CHECK(u.name == old.name);
            CHECK(u.age == 2026u - old.birth_year);
            CHECK(g->view().get<&ev2::User::age>() == u.age);  // views read the new layout
        }
        // The indexes are the new model's: age (field 3 again, but of another type) and email.
        auto by_age = users.index(&ev2::User::age);
        std::size_t total = 0;
        for (std::uint32_t age = 2026 - 2009; age <= 2026 - 1950; ++age) total += by_age.count(age);
        CHECK(total == evolve_fixture::user_rows);
        CHECK(by_age.count(2026 - 1950) == 5);
        auto alice = users.index(&ev2::User::email).get("user7@example.com");
        REQUIRE(alice);
        CHECK(alice->value().id == 7);
        CHECK(store.verify().ok());
    }
    auto meta = raw_meta(path, "table:users");
    REQUIRE(meta);
    CHECK(meta->find("version=2") != std::string::npos);
    CHECK(meta->find("fields={u64,str,str,u32}") != std::string::npos);
    CHECK(!raw_meta(path, "upgrade:users"));
    // The old rows' databases are gone; only the new ones remain.
    auto dbs = raw_databases(path);
    CHECK(std::count(dbs.begin(), dbs.end(), std::string("users")) == 0);
    CHECK(std::count_if(dbs.begin(), dbs.end(), [](const std::string& n) { return n.starts_with("__netabase~users~"); }) == 3);
}

TEST_CASE("a chain of three versions: stores at version 1 and at version 2 both reach version 3", "[evolve]") {
    temp_dir dir;
    SECTION("from version 1, through both steps") {
        fs::path path = copy_fixture(dir, "v1");
        netabase::Store<netabase::definition<ev3::User>> store{path};
        store.read([](auto& txn) {
            auto users = txn.template open_tree<ev3::User>();
            REQUIRE(users.size() == evolve_fixture::user_rows);
            for (const auto& [id, old] : fixture_users()) {
                ev3::User u = users.get(id)->value();
                CHECK(u.first == "User");
                CHECK(u.last == std::to_string(id));
                CHECK(u.age == 2026u - old.birth_year);
                CHECK(u.country == "unknown");
            }
            CHECK(users.index(&ev3::User::country).count(std::string("unknown")) == evolve_fixture::user_rows);
        });
        CHECK(store.verify().ok());
    }
    SECTION("from version 2, through the last step") {
        fs::path path = dir / "v2";
        {
            netabase::Store<netabase::definition<ev2::User>> v2{path};
            v2.write([](auto& txn) {
                auto users = txn.template open_tree<ev2::User>();
                users.put(ev2::User{1, "a@x", "Ada Lovelace", 36});
                users.put(ev2::User{2, "b@x", "Plato", 80});
            });
        }
        netabase::Store<netabase::definition<ev3::User>> store{path};
        store.read([](auto& txn) {
            auto users = txn.template open_tree<ev3::User>();
            REQUIRE(users.size() == 2);
            ev3::User ada = users.get(1)->value();
            CHECK(ada.first == "Ada");
            CHECK(ada.last == "Lovelace");
            CHECK(ada.age == 36);
            ev3::User plato = users.get(2)->value();
            CHECK(plato.first == "Plato");
            CHECK(plato.last.empty());
        });
        CHECK(raw_meta(path, "table:users")->find("version=3") != std::string::npos);
    }
    SECTION("a step may return the model itself, skipping the later steps") {
        fs::path path = copy_fixture(dir, "v1");
        netabase::Store<netabase::definition<ev3_direct::User>> store{path};
        auto txn = store.begin_read();
        ev3_direct::User u = txn.open_tree<ev3_direct::User>().get(9)->value();
        CHECK(u.first == "direct");  // not "from2": the version 2 step did not run
        CHECK(u.last == "User 9");
    }
}

TEST_CASE("a store at a newer version is refused by an older program, never misread", "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    { netabase::Store<netabase::definition<ev3::User>> store{path}; }
    auto before = raw_meta(path, "table:users");
    std::string v2 = message_of([&] { netabase::Store<netabase::definition<ev2::User>> s{path}; });
    CHECK(v2.find("schema mismatch in table 'users'") != std::string::npos);
    CHECK(v2.find("newer program") != std::string::npos);
    CHECK(v2.find("version 3") != std::string::npos);
    std::string v1 = message_of([&] { netabase::Store<V1> s{path}; });
    CHECK(v1.find("newer program") != std::string::npos);
    std::string ro = message_of([&] {
        netabase::Store<netabase::definition<ev2::User>> s{path, netabase::options{.read_only = true}};
    });
    CHECK(ro.find("newer program") != std::string::npos);
    CHECK(raw_meta(path, "table:users") == before);  // nothing written by the refused opens
    try {
        netabase::Store<netabase::definition<ev2::User>> s{path};
        FAIL("opened");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::schema_mismatch);
        CHECK(e.table() == "users");
    }
}

TEST_CASE("changed fields without a step are a schema_mismatch that names the missing step", "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    std::string m = message_of([&] { netabase::Store<netabase::definition<ev_bad::User>> s{path}; });
    CHECK(m.find("table 'users'") != std::string::npos);
    CHECK(m.find("upgrade_from") != std::string::npos);
    CHECK(m.find("{u64,str,str,u16}") != std::string::npos);
    CHECK(m.find("{u64,str,str,u32}") != std::string::npos);
}

TEST_CASE("a step that throws, or upgraded rows that break a unique index, leave the store as it was", "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    auto meta_before = raw_meta(path, "table:users");
    auto dbs_before = raw_databases(path);
    SECTION("the step throws on one row (small batches: some were committed before it)") {
        netabase::options opt;
        opt.upgrade_batch_bytes = 200;
        CHECK_THROWS_WITH((netabase::Store<netabase::definition<ev_throw::User>>{path, opt}),
                          Catch::Matchers::Contains("step refuses row 150"));
    }
    SECTION("two rows get one unique key") {
        try {
            netabase::Store<netabase::definition<ev_clash::User>> s{path};
            FAIL("opened");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::unique_violation);
            std::string what = e.what();
            CHECK(what.find("cannot upgrade table 'users' from version 1 to 2") != std::string::npos);
            CHECK(what.find("same@example.com") != std::string::npos);
            CHECK(what.find("left as it was") != std::string::npos);
        }
    }
    CHECK(raw_meta(path, "table:users") == meta_before);
    CHECK(!raw_meta(path, "upgrade:users"));
    CHECK(raw_databases(path) == dbs_before);  // the new rows' databases were dropped
    netabase::Store<V1> v1{path};
    CHECK(v1.verify().ok());
    v1.read([](auto& txn) {
        auto users = txn.template open_tree<UserV1>();
        REQUIRE(users.size() == evolve_fixture::user_rows);
        for (const auto& [id, old] : fixture_users()) {
            UserV1 u = users.get(id)->value();
            CHECK(u.email == old.email);
            CHECK(u.birth_year == old.birth_year);
        }
    });
}

TEST_CASE("an upgrade larger than one batch runs in several transactions and gives the same rows", "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    netabase::detail::lmdb_seam counter;
    netabase::options opt;
    opt.upgrade_batch_bytes = 1000;  // ~20 rows per transaction
    {
        netabase::detail::seam() = &counter;
        netabase::Store<netabase::definition<ev2::User>> store{path, opt};
        netabase::detail::seam() = nullptr;
        // rows: 300 rows * ~50 bytes / 1000; two indexes; start, swap and the two openings.
        CHECK(counter.count(netabase::detail::call::txn_commit) >= 15 + 2 * 5);
        auto txn = store.begin_read();
        auto users = txn.open_tree<ev2::User>();
        REQUIRE(users.size() == evolve_fixture::user_rows);
        for (const auto& [id, old] : fixture_users()) CHECK(users.get(id)->value().age == 2026u - old.birth_year);
        std::size_t entries = 0;
        for (const auto& row : users.index(&ev2::User::age).range(0u, 1000u)) entries += row.value().id < 300;
        CHECK(entries == evolve_fixture::user_rows);
    }
    netabase::detail::seam() = nullptr;
    netabase::Store<netabase::definition<ev2::User>> again{path};
    CHECK(again.verify().ok());
}

TEST_CASE("fields appended at the end need no step: old rows read with the defaults", "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    {
        netabase::Store<netabase::definition<ev_append::Note>> store{path};
        auto txn = store.begin_read();
        auto notes = txn.open_tree<ev_append::Note>();
        REQUIRE(notes.size() == evolve_fixture::note_rows);
        for (std::uint64_t i = 0; i < evolve_fixture::note_rows; ++i) {
            NoteV1 old = evolve_fixture::note_v1(i);
            auto g = notes.get(old.id);
            REQUIRE(g);
            ev_append::Note n = g->value();
            CHECK(n.text == old.text);
            CHECK(!n.tag);
            CHECK(n.meta.level == 2);
            CHECK(n.meta.owner == "nobody");
            CHECK(n.score == 7);
            CHECK(n.marks == std::vector<std::uint16_t>{1, 2});
            CHECK(g->view().get<&ev_append::Note::score>() == 7);  // the rows were rewritten
        }
        CHECK(notes.index(&ev_append::Note::score).count(7u) == evolve_fixture::note_rows);
        CHECK(store.verify().ok());
    }
    CHECK(raw_meta(path, "table:notes")->find("version=") == std::string::npos);  // still version 1
    // The program that appended nothing is now the older one.
    std::string m = message_of([&] { netabase::Store<V1> s{path}; });
    CHECK(m.find("table 'notes'") != std::string::npos);
    CHECK(m.find("newer program") != std::string::npos);
}

TEST_CASE("renamed_from keeps a table's rows and indexes under its new name", "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    {
        netabase::Store<netabase::definition<ev_rename::Note>> store{path};
        store.read([](auto& txn) {
            auto memos = txn.template open_tree<ev_rename::Note>();
            REQUIRE(memos.size() == evolve_fixture::note_rows);
            CHECK(memos.get(3)->value().text == evolve_fixture::note_v1(1).text);
        });
        store.write([](auto& txn) { txn.template open_tree<ev_rename::Note>().put(ev_rename::Note{1, "new"}); });
    }
    CHECK(raw_meta(path, "table:notes")->find("renamed_to=memos") != std::string::npos);
    {
        netabase::Store<netabase::definition<ev_rename::Note>> again{path};  // a second open renames nothing
        CHECK(again.read([](auto& txn) { return txn.template open_tree<ev_rename::Note>().size(); }) ==
              evolve_fixture::note_rows + 1);
        CHECK(again.verify().ok());
    }
    std::string m = message_of([&] { netabase::Store<V1> s{path}; });
    CHECK(m.find("renamed this table to 'memos'") != std::string::npos);
}

TEST_CASE("a computed key with a new version is rebuilt at open; rebuild_index repairs one that was not",
          "[evolve]") {
    temp_dir dir;
    fs::path path = dir / "items";
    {
        netabase::Store<netabase::definition<ev_key::Item>> s{path};
        s.write([](auto& txn) {
            auto items = txn.template open_tree<ev_key::Item>();
            items.put(ev_key::Item{1, "one two three"});  // 13 bytes, 3 words
            items.put(ev_key::Item{2, "four"});           // 4 bytes, 1 word
        });
        CHECK(s.read([](auto& txn) { return txn.template open_tree<ev_key::Item>().index(ev_key::by_len_v1).count(13); }) == 1);
    }
    {
        netabase::Store<netabase::definition<ev_key::Item2>> s{path};
        s.read([](auto& txn) {
            auto ix = txn.template open_tree<ev_key::Item2>().index(ev_key::by_len2);
            CHECK(ix.count(3) == 1);
            CHECK(ix.count(1) == 1);
            CHECK(ix.count(13) == 0);  // no stale entry from the old function
        });
        CHECK(s.verify().ok());
    }
    {
        // Same name, same version, another function: stale until rebuilt (the documented rule).
        netabase::Store<netabase::definition<ev_key::Item3>> s{path};
        CHECK(!s.verify().ok());
        s.rebuild_index<ev_key::Item3>(ev_key::by_len3);
        CHECK(s.verify().ok());
        s.read([](auto& txn) {
            auto ix = txn.template open_tree<ev_key::Item3>().index(ev_key::by_len3);
            CHECK(ix.count(13 % 7) == 1);
            CHECK(ix.count(4 % 7) == 1);
            CHECK(ix.count(3) == 0);  // the stale entries of the version 2 function are gone
            CHECK(ix.count(1) == 0);
        });
    }
}

// ---- a model evolved at random through five releases ----------------------------------------
// Release 1 -> 2 appends a field and an index; 3 changes a field through a step; 4 appends an
// optional and drops an index; 5 adds a field through a second step. A random walk opens the
// store with releases in order (sometimes skipping some), writes at random with each, tries
// older releases (which must be refused and change nothing), and after every open compares
// every row and every index entry with an in-memory model.
namespace ev_gen {

struct G1 {
    std::uint64_t id;
    std::string name;
    std::uint32_t n;
};
struct G2 {
    std::uint64_t id;
    std::string name;
    std::uint32_t n;
    std::string tag = "t";
};
struct G3 {
    std::uint64_t id;
    std::string name;
    std::uint64_t n2;
    std::string tag = "t";
};
struct G4 {
    std::uint64_t id;
    std::string name;
    std::uint64_t n2;
    std::string tag = "t";
    std::optional<std::uint32_t> extra;
};
struct G5 {
    std::uint64_t id;
    std::string name;
    std::uint64_t n2;
    std::string tag;
    std::optional<std::uint32_t> extra;
    bool flag;
};

inline std::uint64_t n2_of(const G2& g) { return std::uint64_t{g.n} * 2 + g.name.size(); }
inline G4 g4_of(G2 g) { return G4{g.id, g.name, n2_of(g), std::move(g.tag), std::nullopt}; }

constexpr auto netabase_model(netabase::tag<G1>) { return netabase::model<G1>("gen").secondary_key(&G1::n); }
constexpr auto netabase_model(netabase::tag<G2>) {
    return netabase::model<G2>("gen").secondary_key(&G2::n).secondary_key(&G2::tag);
}
constexpr auto netabase_model(netabase::tag<G3>) {
    return netabase::model<G3>("gen")
        .upgrade_from<G2>([](G2 g) { return G3{g.id, g.name, n2_of(g), g.tag}; })
        .secondary_key(&G3::n2)
        .secondary_key(&G3::name, netabase::unique);
}
constexpr auto netabase_model(netabase::tag<G4>) {
    return netabase::model<G4>("gen")
        .upgrade_from<G2>([](G2 g) { return g4_of(std::move(g)); })
        .secondary_key(&G4::n2)
        .secondary_key(&G4::name, netabase::unique);
}
constexpr auto netabase_model(netabase::tag<G5>) {
    return netabase::model<G5>("gen")
        .upgrade_from<G2>([](G2 g) { return g4_of(std::move(g)); })
        .upgrade_from<G4>([](G4 g) { return G5{g.id, g.name, g.n2, g.tag, g.extra, g.n2 % 2 == 0}; })
        .secondary_key(&G5::n2)
        .secondary_key(&G5::name, netabase::unique)
        .secondary_key(&G5::flag);
}

// A row in every release's terms; `stage` says which fields mean something.
struct canon {
    std::uint64_t id = 0;
    std::string name;
    std::uint32_t n = 0;
    std::string tag = "t";
    std::uint64_t n2 = 0;
    std::optional<std::uint32_t> extra;
    bool flag = false;
};

// What opening with release `to` does to a row of release `from` (the steps, written again).
inline void evolve(canon& c, int from, int to) {
    for (int s = from; s < to; ++s) {
        if (s == 2) c.n2 = n2_of(G2{c.id, c.name, c.n, c.tag});
        if (s == 4) c.flag = c.n2 % 2 == 0;
    }
}

template <int R>
auto make_row(const canon& c) {
    if constexpr (R == 1) return G1{c.id, c.name, c.n};
    if constexpr (R == 2) return G2{c.id, c.name, c.n, c.tag};
    if constexpr (R == 3) return G3{c.id, c.name, c.n2, c.tag};
    if constexpr (R == 4) return G4{c.id, c.name, c.n2, c.tag, c.extra};
    if constexpr (R == 5) return G5{c.id, c.name, c.n2, c.tag, c.extra, c.flag};
}

template <int R>
using row_t = decltype(make_row<R>(canon{}));

template <int R>
void check_release(const fs::path& path, const std::map<std::uint64_t, canon>& truth) {
    using M = row_t<R>;
    netabase::Store<netabase::definition<M>> store{path};
    auto report = store.verify();
    INFO(report.to_string());
    REQUIRE(report.ok());
    store.read([&](auto& txn) {
        auto t = txn.template open_tree<M>();
        REQUIRE(t.size() == truth.size());
        std::map<std::uint64_t, std::size_t> by_n;
        for (const auto& [id, c] : truth) {
            auto g = t.get(id);
            REQUIRE(g);
            M got = g->value();
            M want = make_row<R>(c);
            CHECK(boost::pfr::eq(got, want));
        }
        // Every index, value by value, against the model.
        auto count_where = [&](auto pred) {
            std::size_t k = 0;
            for (const auto& [id, c] : truth) k += pred(c) ? 1 : 0;
            return k;
        };
        for (const auto& [id, c] : truth) {
            if constexpr (R <= 2) {
                CHECK(t.index(&M::n).count(c.n) == count_where([&](const canon& o) { return o.n == c.n; }));
            } else {
                CHECK(t.index(&M::n2).count(c.n2) == count_where([&](const canon& o) { return o.n2 == c.n2; }));
                auto owner = t.index(&M::name).get(c.name);
                REQUIRE(owner);
                CHECK(owner->value().id == id);
            }
            if constexpr (R == 2)
                CHECK(t.index(&M::tag).count(c.tag) == count_where([&](const canon& o) { return o.tag == c.tag; }));
            if constexpr (R == 5)
                CHECK(t.index(&M::flag).count(c.flag) == count_where([&](const canon& o) { return o.flag == c.flag; }));
        }
    });
}

// Random writes with release R, mirrored into the model.
template <int R>
void random_writes(const fs::path& path, std::map<std::uint64_t, canon>& truth, std::mt19937_64& rng, int ops) {
    using M = row_t<R>;
    netabase::Store<netabase::definition<M>> store{path};
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<M>();
        for (int op = 0; op < ops; ++op) {
            std::uint64_t id = rng() % 300;
            if (rng() % 4 == 0) {
                CHECK(t.remove(id) == truth.erase(id) > 0);
                continue;
            }
            canon c = truth.count(id) ? truth[id] : canon{};
            c.id = id;
            c.name = "name" + std::to_string(id) + "-" + std::to_string(rng() % 1000);
            // Only the fields release R has; the later ones come from the steps or defaults.
            if (R <= 2) c.n = static_cast<std::uint32_t>(rng() % 10);
            c.tag = R == 1 ? std::string("t") : "tag" + std::to_string(rng() % 3);
            if (R >= 3) c.n2 = rng() % 20;
            if (R >= 4 && rng() % 2)
                c.extra = static_cast<std::uint32_t>(rng() % 5);
            else
                c.extra.reset();
            if (R >= 5) c.flag = rng() % 2;
            t.put(make_row<R>(c));
            truth[id] = c;
        }
    });
}

template <int R>
bool refused(const fs::path& path) {
    try {
        netabase::Store<netabase::definition<row_t<R>>> s{path};
    } catch (const netabase::error& e) {
        return e.code() == netabase::errc::schema_mismatch;
    }
    return false;
}

}  // namespace ev_gen

TEST_CASE("a model evolved at random through five releases keeps every row and index exact", "[evolve]") {
    using namespace ev_gen;
    int opens = 0, refusals = 0;
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
        INFO("seed " << seed);
        std::mt19937_64 rng(seed);
        temp_dir dir;
        fs::path path = dir / "gen";
        std::map<std::uint64_t, canon> truth;
        int release = 1;
        random_writes<1>(path, truth, rng, 100);
        auto with_release = [&](int r, auto&& fn) {
            switch (r) {
                case 1: return fn(std::integral_constant<int, 1>{});
                case 2: return fn(std::integral_constant<int, 2>{});
                case 3: return fn(std::integral_constant<int, 3>{});
                case 4: return fn(std::integral_constant<int, 4>{});
                default: return fn(std::integral_constant<int, 5>{});
            }
        };
        while (release < 5) {
            int next = std::min(5, release + 1 + static_cast<int>(rng() % 2));  // sometimes skips one
            for (auto& [id, c] : truth) evolve(c, release, next);
            release = next;
            with_release(release, [&](auto r) { check_release<decltype(r)::value>(path, truth); });
            ++opens;
            with_release(release, [&](auto r) { random_writes<decltype(r)::value>(path, truth, rng, 60); });
            with_release(release, [&](auto r) { check_release<decltype(r)::value>(path, truth); });
            int older = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(release - 1));
            CHECK(with_release(older, [&](auto r) { return refused<decltype(r)::value>(path); }));
            ++refusals;
            with_release(release, [&](auto r) { check_release<decltype(r)::value>(path, truth); });  // unchanged
        }
    }
    std::printf("random evolution: 12 walks, %d upgrading opens, %d older releases refused\n", opens, refusals);
}

namespace ev_wrong {  // version 3 whose step for version 2 takes a struct unlike what version 2 stored

struct NotV2 {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
};
struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .upgrade_from<UserV1>([](UserV1 o) { return NotV2{o.id, o.email, 1}; })
        .upgrade_from<NotV2>([](NotV2 o) { return User{o.id, o.email, o.age}; })
        .primary_key(&User::id);
}

}  // namespace ev_wrong

TEST_CASE("rows at a version whose step takes other fields are a schema_mismatch naming the step", "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    { netabase::Store<netabase::definition<ev2::User>> v2{path}; }  // now at version 2
    std::string m = message_of([&] { netabase::Store<netabase::definition<ev_wrong::User>> s{path}; });
    CHECK(m.find("rows are at version 2 with the fields {u64,str,str,u32}") != std::string::npos);
    CHECK(m.find("upgrade_from step for version 2 takes a struct with the fields {u64,str,u32}") != std::string::npos);
    netabase::Store<netabase::definition<ev2::User>> still{path};  // untouched
    CHECK(still.verify().ok());
}

namespace {

// Fails the nth put with `code`, once.
struct failing_put : netabase::detail::lmdb_seam {
    std::size_t puts = 0, fail_at = 0;
    int code = 0;
    int before(netabase::detail::call c) override {
        lmdb_seam::before(c);
        if (c == netabase::detail::call::put && ++puts == fail_at) return code;
        return 0;
    }
};

}  // namespace

TEST_CASE("an upgrade batch that fills the transaction or the map is retried smaller or in a larger map",
          "[evolve]") {
    temp_dir dir;
    fs::path path = copy_fixture(dir, "v1");
    failing_put seam;
    seam.fail_at = 120;  // inside the rows of the first batch
    std::size_t map_before = 0;
    SECTION("MDB_TXN_FULL") { seam.code = MDB_TXN_FULL; }
    SECTION("MDB_MAP_FULL") { seam.code = MDB_MAP_FULL; }
    {
        netabase::Store<V1> v1{path};
        map_before = v1.map_size();
    }
    netabase::detail::seam() = &seam;
    std::optional<netabase::Store<netabase::definition<ev2::User>>> store;
    try {
        store.emplace(path);
    } catch (...) {
        netabase::detail::seam() = nullptr;
        throw;
    }
    netabase::detail::seam() = nullptr;
    CHECK(seam.puts > seam.fail_at);  // the failure happened and the upgrade went on
    if (seam.code == MDB_MAP_FULL) CHECK(store->map_size() == 2 * map_before);
    CHECK(store->verify().ok());
    CHECK(store->read([](auto& txn) { return txn.template open_tree<ev2::User>().size(); }) == evolve_fixture::user_rows);
}
