// Upgrades (upgrade_from) that cannot be done, and the rarer ones that can: a step that throws a
// netabase::error for one row, a step whose rows collide on a changed primary key or get one over
// LMDB's limit (each refused naming the table and the row, the store left as it was), an upgrade
// of a table that was upgraded before (its old databases dropped), one combined with a rename
// (a tombstone under the old name), and one on a store with a change log (every rewritten row
// is an update in it).
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "errors.hpp"
#include "support.hpp"

#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace upgrade_errors_test {

namespace fs = std::filesystem;

struct ThingV1 {
    std::uint64_t id;
    std::string code;
    std::uint32_t n;
};

constexpr auto netabase_model(netabase::tag<ThingV1>) {
    return netabase::model<ThingV1>("things").primary_key(&ThingV1::id).secondary_key(&ThingV1::n);
}

// Version 2: n widened (a step).
struct ThingV2 {
    std::uint64_t id;
    std::string code;
    std::uint64_t n;
};

constexpr auto netabase_model(netabase::tag<ThingV2>) {
    return netabase::model<ThingV2>("things")
        .upgrade_from<ThingV1>([](ThingV1 o) { return ThingV2{o.id, std::move(o.code), o.n + 1000u}; })
        .primary_key(&ThingV2::id)
        .secondary_key(&ThingV2::n);
}

// Version 3 of the same chain: code upper-cased.
struct ThingV3 {
    std::uint64_t id;
    std::string code;
    std::uint64_t n;
    bool upper;
};

constexpr auto netabase_model(netabase::tag<ThingV3>) {
    return netabase::model<ThingV3>("things")
        .upgrade_from<ThingV1>([](ThingV1 o) { return ThingV2{o.id, std::move(o.code), o.n + 1000u}; })
        .upgrade_from<ThingV2>([](ThingV2 o) { return ThingV3{o.id, o.code + "!", o.n, true}; })
        .primary_key(&ThingV3::id)
        .secondary_key(&ThingV3::n);
}

// A step that refuses one row with a netabase::error of its own.
struct ThingRefuse {
    std::uint64_t id;
    std::string code;
    std::uint64_t n;
};

constexpr auto netabase_model(netabase::tag<ThingRefuse>) {
    return netabase::model<ThingRefuse>("things")
        .upgrade_from<ThingV1>([](ThingV1 o) {
            if (o.id == 3) throw netabase::error(netabase::errc::invalid_argument, "row 3 has no code the step accepts");
            return ThingRefuse{o.id, std::move(o.code), o.n};
        })
        .primary_key(&ThingRefuse::id)
        .secondary_key(&ThingRefuse::n);
}

// The primary key becomes the code: rows whose codes are equal collide.
struct ThingByCode {
    std::string code;
    std::uint64_t id;
    std::uint64_t n;
};

constexpr auto netabase_model(netabase::tag<ThingByCode>) {
    return netabase::model<ThingByCode>("things")
        .upgrade_from<ThingV1>([](ThingV1 o) { return ThingByCode{std::move(o.code), o.id, o.n}; })
        .primary_key(&ThingByCode::code)
        .secondary_key(&ThingByCode::n);
}

// The primary key becomes the code repeated: one row's is over LMDB's 511 bytes.
struct ThingLongKey {
    std::string code;
    std::uint64_t id;
    std::uint64_t n;
};

constexpr auto netabase_model(netabase::tag<ThingLongKey>) {
    return netabase::model<ThingLongKey>("things")
        .upgrade_from<ThingV1>([](ThingV1 o) {
            std::string k = o.id == 2 ? std::string(600, 'k') : o.code + "#" + std::to_string(o.id);
            return ThingLongKey{std::move(k), o.id, o.n};
        })
        .primary_key(&ThingLongKey::code)
        .secondary_key(&ThingLongKey::n);
}

// Renamed and upgraded in one release.
struct Stuff {
    std::uint64_t id;
    std::string code;
    std::uint64_t n;
};

constexpr auto netabase_model(netabase::tag<Stuff>) {
    return netabase::model<Stuff>("stuff")
        .renamed_from("things")
        .upgrade_from<ThingV1>([](ThingV1 o) { return Stuff{o.id, std::move(o.code), o.n * 2}; })
        .primary_key(&Stuff::id)
        .secondary_key(&Stuff::n);
}

using V1 = netabase::definition<ThingV1>;

using netabase_test::error_of;

using netabase_test::has;

void build_v1(const fs::path& dir, const netabase::options& opt = {}) {
    netabase::Store<V1> store{dir, opt};
    store.write([](auto& txn) {
        auto t = txn.template open_tree<ThingV1>();
        t.put(ThingV1{1, "same", 10});
        t.put(ThingV1{2, "same", 20});
        t.put(ThingV1{3, "c", 30});
        t.put(ThingV1{4, "d", 10});
    });
}

// The names of the LMDB databases in dir (the keys of its main database).
std::set<std::string> databases(const fs::path& dir) {
    MDB_env* env = nullptr;
    std::set<std::string> out;
    REQUIRE(::mdb_env_create(&env) == 0);
    ::mdb_env_set_maxdbs(env, 64);
    REQUIRE(::mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(::mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    MDB_dbi main;
    REQUIRE(::mdb_dbi_open(txn, nullptr, 0, &main) == 0);
    MDB_cursor* c = nullptr;
    REQUIRE(::mdb_cursor_open(txn, main, &c) == 0);
    MDB_val k, v;
    for (int rc = ::mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = ::mdb_cursor_get(c, &k, &v, MDB_NEXT))
        out.emplace(static_cast<const char*>(k.mv_data), k.mv_size);
    ::mdb_cursor_close(c);
    ::mdb_txn_abort(txn);
    ::mdb_env_close(env);
    return out;
}

// The store is still the version-1 store build_v1 made.
void still_v1(const fs::path& dir, const std::set<std::string>& dbs) {
    CHECK(databases(dir) == dbs);
    netabase::Store<V1> store{dir};
    CHECK(store.verify().ok());
    store.read([](auto& txn) {
        auto t = txn.template open_tree<ThingV1>();
        REQUIRE(t.size() == 4);
        CHECK(t.get(std::uint64_t{2})->value().n == 20);
        CHECK(t.index(&ThingV1::n).count(10u) == 2);
    });
}

TEST_CASE("upgrade errors: a step's own netabase::error for one row names the table and the row; nothing changes",
          "[evolve][errors]") {
    netabase_test::temp_dir dir;
    build_v1(dir.path());
    const auto dbs = databases(dir.path());
    netabase::options small;
    small.upgrade_batch_bytes = 1;  // one row per transaction: rows 1 and 2 were committed before row 3
    auto e = error_of([&] { netabase::Store<netabase::definition<ThingRefuse>> s{dir.path(), small}; });
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.table() == "things");
    CHECK(e.description() == "cannot upgrade table 'things' from version 1 to 2: the row with key 3: row 3 has no "
                             "code the step accepts; the store was left as it was");
    still_v1(dir.path(), dbs);
}

TEST_CASE("upgrade errors: rows whose new primary keys collide are key_exists naming the key; nothing changes",
          "[evolve][errors]") {
    netabase_test::temp_dir dir;
    build_v1(dir.path());
    const auto dbs = databases(dir.path());
    auto e = error_of([&] { netabase::Store<netabase::definition<ThingByCode>> s{dir.path()}; });
    CHECK(e.code() == netabase::errc::key_exists);
    CHECK(e.table() == "things");
    CHECK(has(e.description(), "cannot upgrade table 'things' from version 1 to 2: two stored rows become rows with "
                               "the same primary key \"same\""));
    CHECK(has(e.description(), "the store was left as it was"));
    still_v1(dir.path(), dbs);
}

TEST_CASE("upgrade errors: a row whose new primary key is over LMDB's limit is key_too_large naming the row",
          "[evolve][errors]") {
    netabase_test::temp_dir dir;
    build_v1(dir.path());
    const auto dbs = databases(dir.path());
    auto e = error_of([&] { netabase::Store<netabase::definition<ThingLongKey>> s{dir.path()}; });
    CHECK(e.code() == netabase::errc::key_too_large);
    CHECK(e.table() == "things");
    CHECK(e.description() == "cannot upgrade table 'things' from version 1 to 2: the row with key 0x0000000000000002 "
                             "gets a primary key over LMDB's limit; the store was left as it was");
    still_v1(dir.path(), dbs);
}

TEST_CASE("upgrade errors: a table upgraded twice drops the first upgrade's databases", "[evolve][errors]") {
    netabase_test::temp_dir dir;
    build_v1(dir.path());
    std::set<std::string> after_v2;
    {
        netabase::Store<netabase::definition<ThingV2>> v2{dir.path()};
        CHECK(v2.read([](auto& txn) { return txn.template open_tree<ThingV2>().get(std::uint64_t{1})->value().n; }) ==
              1010);
    }
    after_v2 = databases(dir.path());
    CHECK(after_v2.count("things") == 0);  // the version-1 rows' database went with the first upgrade
    {
        netabase::Store<netabase::definition<ThingV3>> v3{dir.path()};
        CHECK(v3.verify().ok());
        v3.read([](auto& txn) {
            auto t = txn.template open_tree<ThingV3>();
            REQUIRE(t.size() == 4);
            CHECK(t.get(std::uint64_t{1})->value().code == "same!");
            CHECK(t.get(std::uint64_t{4})->value().upper);
            CHECK(t.index(&ThingV3::n).count(std::uint64_t{1010}) == 2);
        });
    }
    const auto after_v3 = databases(dir.path());
    // The same number of databases: version 2's rows and index went, version 3's came.
    CHECK(after_v3.size() == after_v2.size());
    for (const auto& name : after_v2)
        if (name.starts_with("__netabase~things~")) CHECK(after_v3.count(name) == 0);
}

TEST_CASE("upgrade errors: a table renamed and upgraded in one release leaves a tombstone under its old name",
          "[evolve][errors]") {
    netabase_test::temp_dir dir;
    build_v1(dir.path());
    {
        netabase::Store<netabase::definition<Stuff>> s{dir.path()};
        s.read([](auto& txn) {
            auto t = txn.template open_tree<Stuff>();
            REQUIRE(t.size() == 4);
            CHECK(t.get(std::uint64_t{3})->value().n == 60);
            CHECK(t.index(&Stuff::n).count(std::uint64_t{20}) == 2);
        });
        CHECK(s.verify().ok());
    }
    CHECK(databases(dir.path()).count("things") == 0);
    // The old program is told where its table went.
    auto e = error_of([&] { netabase::Store<V1> s{dir.path()}; });
    CHECK(e.code() == netabase::errc::schema_mismatch);
    CHECK(has(e.what(), "'stuff'"));
}

TEST_CASE("upgrade errors: on a store with a change log every row an upgrade rewrote is an update in it",
          "[evolve][errors][changes]") {
    netabase_test::temp_dir dir;
    const netabase::options logged{.change_log = true};
    build_v1(dir.path(), logged);
    std::uint64_t last = 0;
    {
        netabase::Store<V1> s{dir.path(), logged};
        last = s.read([](auto& txn) {
            std::uint64_t m = 0;
            for (const auto& c : txn.changes_since(0)) m = c.sequence;
            return m;
        });
    }
    REQUIRE(last == 4);
    netabase::Store<netabase::definition<ThingV2>> v2{dir.path(), logged};
    v2.read([&](auto& txn) {
        std::vector<std::uint64_t> keys;
        for (const auto& c : txn.changes_since(last)) {
            CHECK(c.table == "things");
            CHECK(c.kind == netabase::change_kind::update);
            keys.push_back(c.template key<ThingV2>());
        }
        CHECK(keys == std::vector<std::uint64_t>{1, 2, 3, 4});
    });
}

}  // namespace upgrade_errors_test
