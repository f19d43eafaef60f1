// Secondary keys on std::optional values: an absent value (nullopt) has no index entry by
// default, unique or not; netabase::index_absent asks for the entry (the old behaviour). Every
// write path keeps such an index exact, the index build at open and verify() agree with it, and
// a store whose index was built with nullopt entries is rebuilt when it is opened sparse.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <lmdb.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace optional_keys_test {

// ---- models ------------------------------------------------------------------------------

using OptStr = std::optional<std::string>;
using OptU32 = std::optional<std::uint32_t>;

inline OptStr name_or_none(const std::string& name) { return name.empty() ? OptStr{} : OptStr{name}; }
inline OptStr initial_of(const std::string& name) { return name.empty() ? OptStr{} : OptStr{name.substr(0, 1)}; }

// Sparse (the default): nullopt has no entry in any of the optional keys.
struct User {
    std::uint64_t id;
    OptStr handle;     // unique
    OptU32 team;       // not unique
    std::string name;  // a plain key, and what the computed keys are made from
};

constexpr auto initial = netabase::key<User>("initial", [](const User& u) { return initial_of(u.name); });
constexpr auto by_name = netabase::key<User>("by_name", [](const User& u) { return name_or_none(u.name); });

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .primary_key(&User::id)
        .secondary_key(&User::handle, netabase::unique)
        .secondary_key(&User::team)
        .secondary_key(&User::name)
        .secondary_key(initial)
        .secondary_key(by_name, netabase::unique);
}

// The same table declared with index_absent on every optional key: the behaviour (and the
// fingerprint) of a store written before absent values were left out.
struct Legacy {
    std::uint64_t id;
    OptStr handle;
    OptU32 team;
    std::string name;
};

constexpr auto legacy_initial = netabase::key<Legacy>("initial", [](const Legacy& u) { return initial_of(u.name); });
constexpr auto legacy_by_name = netabase::key<Legacy>("by_name", [](const Legacy& u) { return name_or_none(u.name); });

constexpr auto netabase_model(netabase::tag<Legacy>) {
    return netabase::model<Legacy>("users")
        .primary_key(&Legacy::id)
        .secondary_key(&Legacy::handle, netabase::unique, netabase::index_absent)
        .secondary_key(&Legacy::team, netabase::index_absent)
        .secondary_key(&Legacy::name)
        .secondary_key(legacy_initial, netabase::index_absent)
        .secondary_key(legacy_by_name, netabase::unique, netabase::index_absent);
}

// Keys that are not themselves optionals keep indexing nullopt parts: a netabase::keys over
// optional elements, and a tuple with an optional in it.
struct Slotted {
    std::uint64_t id;
    std::vector<OptU32> slots;
    OptStr label;
    std::uint32_t n;
};

constexpr auto each_slot = netabase::keys<Slotted>("each_slot", [](const Slotted& s) { return s.slots; });
constexpr auto label_n = netabase::key<Slotted>("label_n", [](const Slotted& s) {
    return std::tuple<OptStr, std::uint32_t>{s.label, s.n};
});

constexpr auto netabase_model(netabase::tag<Slotted>) {
    return netabase::model<Slotted>("slotted").secondary_key(each_slot).secondary_key(label_n);
}

// An upgrade_from step that gives some rows a value and leaves the others without one: the
// upgrade builds the index of the new version.
struct AccountV1 {
    std::uint64_t id;
    std::string name;
};

constexpr auto netabase_model(netabase::tag<AccountV1>) {
    return netabase::model<AccountV1>("accounts").primary_key(&AccountV1::id);
}

struct Account {
    std::uint64_t id;
    std::string name;
    OptStr handle;
};

inline Account upgrade_account(AccountV1 old) {
    OptStr handle = old.id % 2 ? OptStr{"h" + std::to_string(old.id)} : OptStr{};
    return Account{old.id, std::move(old.name), std::move(handle)};
}

constexpr auto netabase_model(netabase::tag<Account>) {
    return netabase::model<Account>("accounts")
        .upgrade_from<AccountV1>([](AccountV1 old) { return upgrade_account(std::move(old)); })
        .primary_key(&Account::id)
        .secondary_key(&Account::handle, netabase::unique);
}

using Def = netabase::definition<User, Slotted>;
using LegacyDef = netabase::definition<Legacy>;
using Store = netabase::Store<Def>;
using LegacyStore = netabase::Store<LegacyDef>;
using Ids = std::vector<std::uint64_t>;

// ---- helpers -----------------------------------------------------------------------------

inline netabase::options fast() { return netabase::options{.durability = netabase::durability::no_sync}; }

template <class R>
Ids row_keys(R&& rows) {
    Ids out;
    for (const auto& row : rows) out.push_back(row.key());
    return out;
}

// The primary key of the row a lookup found, nullopt when it found none.
template <class G>
std::optional<std::uint64_t> pk_of(const std::optional<G>& g) {
    if (!g) return std::nullopt;
    return g->key();
}

template <class U>
using Model = std::map<std::uint64_t, U>;

template <class V>
using Entries = std::vector<std::pair<V, std::uint64_t>>;

// What an index holds, in its order: (the key its row has now, the row's primary key) per entry.
// An entry left for a value the row no longer has shows up as a pair that is not expected.
template <class V, class Ix, class Get>
Entries<V> entries_of(const Ix& ix, Get get) {
    Entries<V> out;
    for (const auto& row : ix) out.emplace_back(get(row.value()), row.key());
    return out;
}

// What the index must hold for these rows: one entry per row with a value (and, with
// with_absent, per row without one), by key then primary key.
template <class V, class U, class Get>
Entries<V> expected_entries(const Model<U>& model, Get get, bool with_absent) {
    Entries<V> out;
    for (const auto& [id, u] : model) {
        V v = get(u);
        if (v.has_value() || with_absent) out.emplace_back(std::move(v), id);
    }
    std::sort(out.begin(), out.end());
    return out;
}

template <class V, class U, class Get>
Ids expected_ids(const Model<U>& model, Get get, const V& v) {
    Ids out;
    for (const auto& [id, u] : model)
        if (get(u) == v) out.push_back(id);
    return out;
}

inline const std::vector<OptStr> handle_pool = {std::nullopt, "amy", "bea", "cal", "dot"};
inline const std::vector<OptU32> team_pool = {std::nullopt, 1u, 2u, 3u};
inline const std::vector<std::string> name_pool = {"", "ann", "al", "bo", "cy"};

// Checks one optional index against the rows: its entries, its size, and every lookup of every
// value (nullopt included).
template <class V, class U, class Ix, class Get>
void check_index(const Ix& ix, const Model<U>& model, Get get, const std::vector<V>& pool, bool with_absent) {
    const Entries<V> want = expected_entries<V>(model, get, with_absent);
    CHECK(entries_of<V>(ix, get) == want);
    CHECK(ix.size() == want.size());
    CHECK(ix.empty() == want.empty());
    for (const V& v : pool) {
        INFO("value " << (v ? netabase::detail::describe_key(*v) : std::string("nullopt")));
        const Ids ids = v.has_value() || with_absent ? expected_ids(model, get, v) : Ids{};
        CHECK(ix.count(v) == ids.size());
        CHECK(row_keys(ix.equal_range(v)) == ids);
        CHECK(ix.primary_keys(v) == ids);
        if (ix.unique()) {
            auto g = ix.get(v);
            CHECK(g.has_value() == !ids.empty());
            if (g && !ids.empty()) CHECK(g->key() == ids.front());
        }
    }
}

inline Entries<std::string> expected_names(const Model<User>& model) {
    Entries<std::string> out;
    for (const auto& [id, u] : model) out.emplace_back(u.name, id);
    std::sort(out.begin(), out.end());
    return out;
}

// Every index of the users table equals what the rows call for.
template <class Tree>
void check_users(const Tree& users, const Model<User>& model) {
    CHECK(users.size() == model.size());
    {
        INFO("index handle");
        check_index(
            users.index(&User::handle), model, [](const User& u) { return u.handle; }, handle_pool, false);
    }
    {
        INFO("index team");
        check_index(
            users.index(&User::team), model, [](const User& u) { return u.team; }, team_pool, false);
    }
    {
        INFO("index initial");
        check_index(
            users.index(initial), model, [](const User& u) { return initial_of(u.name); },
            std::vector<OptStr>{std::nullopt, "a", "b", "c"}, false);
    }
    {
        INFO("index by_name");
        std::vector<OptStr> names;
        for (const auto& n : name_pool) names.push_back(name_or_none(n));
        check_index(
            users.index(by_name), model, [](const User& u) { return name_or_none(u.name); }, names, false);
    }
    {
        INFO("index name");
        CHECK(entries_of<std::string>(users.index(&User::name), [](const User& u) { return u.name; }) ==
              expected_names(model));
    }
}

template <class S>
void check_verify(const netabase::Store<S>& store) {
    const netabase::verify_report report = store.verify();
    INFO(report.to_string());
    CHECK(report.ok());
}

// The code of the netabase::error f throws; an empty code when it throws none.
template <class F>
std::error_code error_of(F&& f) {
    try {
        f();
    } catch (const netabase::error& e) {
        return e.code();
    }
    return {};
}

// Whether a row would take a unique key another row holds: handle, or the computed by_name.
inline bool takes_unique(const Model<User>& model, const User& u) {
    for (const auto& [id, other] : model) {
        if (id == u.id) continue;
        if (u.handle && other.handle == u.handle) return true;
        if (!u.name.empty() && other.name == u.name) return true;
    }
    return false;
}

// Deletes one whole key of one index (every entry under it) straight through LMDB, with no
// store open: an entry netabase did not remove, for a test to see whether an open rebuilds it.
inline void drop_raw_entry(const std::filesystem::path& dir, const std::string& dbname,
                           const std::vector<std::byte>& key) {
    auto ok = [](int rc, const char* what) {
        if (rc != 0) throw std::runtime_error(std::string(what) + ": " + ::mdb_strerror(rc));
    };
    MDB_env* env = nullptr;
    ok(::mdb_env_create(&env), "mdb_env_create");
    MDB_txn* txn = nullptr;
    try {
        ok(::mdb_env_set_maxdbs(env, 64), "mdb_env_set_maxdbs");
        ok(::mdb_env_set_mapsize(env, std::size_t{64} << 20), "mdb_env_set_mapsize");
        ok(::mdb_env_open(env, dir.c_str(), 0, 0644), "mdb_env_open");
        ok(::mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
        MDB_dbi dbi;
        ok(::mdb_dbi_open(txn, dbname.c_str(), 0, &dbi), "mdb_dbi_open");
        MDB_val k{key.size(), const_cast<std::byte*>(key.data())};
        ok(::mdb_del(txn, dbi, &k, nullptr), "mdb_del");
        ok(::mdb_txn_commit(txn), "mdb_txn_commit");
        txn = nullptr;
    } catch (...) {
        if (txn) ::mdb_txn_abort(txn);
        ::mdb_env_close(env);
        throw;
    }
    ::mdb_env_close(env);
}

// ---- fingerprints ---------------------------------------------------------------------------

template <class M>
void same_fingerprint() {
    using namespace netabase::detail;
    const table_schema& s = schema_of<M>;
    const fingerprint f = fingerprint_of<M>();
    CHECK(s.make_fingerprint == nullptr);
    REQUIRE(s.index_count == f.indexes.size());
    for (std::size_t i = 0; i < s.index_count; ++i) {
        CHECK(std::string(s.indexes[i].line) == f.indexes[i]);
        CHECK(std::string(s.indexes[i].id) == index_id(f.indexes[i]));
    }
}

TEST_CASE("optional keys: a sparse index has its own fingerprint line; others keep theirs", "[optional][schema]") {
    using netabase::detail::schema_of;
    same_fingerprint<User>();
    same_fingerprint<Legacy>();
    same_fingerprint<Slotted>();

    REQUIRE(schema_of<User>.index_count == 5);
    CHECK(schema_of<User>.indexes[0].line == "1:unique:opt<str>:sparse");
    CHECK(schema_of<User>.indexes[1].line == "2:multi:opt<u32>:sparse");
    CHECK(schema_of<User>.indexes[2].line == "3:multi:str");
    CHECK(schema_of<User>.indexes[3].line == "initial:multi:opt<str>:sparse");
    CHECK(schema_of<User>.indexes[4].line == "by_name:unique:opt<str>:sparse");
    CHECK(schema_of<User>.indexes[0].id == "1");
    CHECK(schema_of<User>.indexes[3].id == "initial");

    // index_absent keys, and keys that are not optionals, are described as before.
    REQUIRE(schema_of<Legacy>.index_count == 5);
    CHECK(schema_of<Legacy>.indexes[0].line == "1:unique:opt<str>");
    CHECK(schema_of<Legacy>.indexes[1].line == "2:multi:opt<u32>");
    CHECK(schema_of<Legacy>.indexes[2].line == "3:multi:str");
    CHECK(schema_of<Legacy>.indexes[3].line == "initial:multi:opt<str>");
    CHECK(schema_of<Legacy>.indexes[4].line == "by_name:unique:opt<str>");
    CHECK(schema_of<Legacy>.fields == schema_of<User>.fields);
    CHECK(schema_of<Legacy>.primary == schema_of<User>.primary);

    REQUIRE(schema_of<Slotted>.index_count == 2);
    CHECK(schema_of<Slotted>.indexes[0].line == "each_slot:multi:opt<u32>");
    CHECK(schema_of<Slotted>.indexes[1].line == "label_n:multi:(opt<str>,u32)");

    STATIC_REQUIRE(std::tuple_element_t<0, netabase::detail::model_traits<User>::secondaries_type>::sparse);
    STATIC_REQUIRE_FALSE(std::tuple_element_t<2, netabase::detail::model_traits<User>::secondaries_type>::sparse);
    STATIC_REQUIRE_FALSE(std::tuple_element_t<0, netabase::detail::model_traits<Legacy>::secondaries_type>::sparse);
    STATIC_REQUIRE_FALSE(std::tuple_element_t<0, netabase::detail::model_traits<Slotted>::secondaries_type>::sparse);
}

// ---- unique keys -----------------------------------------------------------------------------

TEST_CASE("optional keys: a unique optional key takes many rows without a value, one per value", "[optional][unique]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    Model<User> model;
    {
        auto txn = store.begin_write();
        auto users = txn.open_tree<User>();
        for (std::uint64_t id = 1; id <= 4; ++id) {
            users.put(User{id, std::nullopt, std::nullopt, ""});
            model[id] = User{id, std::nullopt, std::nullopt, ""};
        }
        CHECK(users.insert(User{5, std::nullopt, 7u, ""}));
        model[5] = User{5, std::nullopt, 7u, ""};
        std::vector<User> batch{{6, std::nullopt, std::nullopt, ""}, {7, std::nullopt, std::nullopt, ""}};
        CHECK(users.put_many(batch) == 2);
        for (const auto& u : batch) model[u.id] = u;
        CHECK(users.size() == 7);
        CHECK(users.index(&User::handle).size() == 0);
        CHECK(users.index(by_name).size() == 0);
        check_users(users, model);

        users.put(User{8, "amy", std::nullopt, "ann"});
        model[8] = User{8, "amy", std::nullopt, "ann"};
        CHECK(pk_of(users.index(&User::handle).get("amy")) == 8u);
        CHECK(pk_of(users.index(&User::handle).get(OptStr{"amy"})) == 8u);
        CHECK(pk_of(users.index(by_name).get(OptStr{"ann"})) == 8u);

        // a second row with the same value is still refused, by every write path, and writes nothing
        CHECK(error_of([&] { users.put(User{9, "amy", std::nullopt, ""}); }) == netabase::errc::unique_violation);
        CHECK(error_of([&] { users.put(User{1, "amy", std::nullopt, ""}); }) == netabase::errc::unique_violation);
        CHECK(error_of([&] {
                  users.put(User{9, std::nullopt, std::nullopt, "ann"});
              }) == netabase::errc::unique_violation);
        CHECK(error_of([&] {
                  (void)users.insert(User{9, "amy", std::nullopt, ""});
              }) == netabase::errc::unique_violation);
        CHECK(error_of([&] { users.update(2, [](User& u) { u.handle = "amy"; }); }) ==
              netabase::errc::unique_violation);
        std::vector<User> bad{{9, std::nullopt, std::nullopt, ""}, {10, "amy", std::nullopt, ""}};
        CHECK(error_of([&] { users.put_many(bad); }) == netabase::errc::unique_violation);
        CHECK_FALSE(users.contains(9));
        CHECK_FALSE(users.contains(10));
        REQUIRE(users.get(1).has_value());
        CHECK_FALSE(users.get(1)->value().handle.has_value());
        REQUIRE(users.get(2).has_value());
        CHECK_FALSE(users.get(2)->value().handle.has_value());
        check_users(users, model);

        // the value moves to another row once its owner lets it go
        CHECK(users.update(8, [](User& u) { u.handle.reset(); }));
        model[8].handle.reset();
        users.put(User{2, "amy", std::nullopt, ""});
        model[2] = User{2, "amy", std::nullopt, ""};
        CHECK(pk_of(users.index(&User::handle).get("amy")) == 2u);
        check_users(users, model);
        txn.commit();
    }
    check_verify(store);
    auto r = store.begin_read();
    check_users(r.open_tree<User>(), model);
}

// ---- lookups -----------------------------------------------------------------------------

TEST_CASE("optional keys: ranges, equal_range and count skip rows without a value", "[optional][range]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<Def>& txn) {
        auto users = txn.open_tree<User>();
        users.put(User{1, std::nullopt, std::nullopt, ""});
        users.put(User{2, "bea", 2u, "bo"});
        users.put(User{3, std::nullopt, 1u, "al"});
        users.put(User{4, "amy", std::nullopt, "ann"});
        users.put(User{5, std::nullopt, std::nullopt, ""});
        users.put(User{6, "dot", 2u, "cy"});
    });
    check_verify(store);
    auto r = store.begin_read();
    auto users = r.open_tree<User>();

    auto handle = users.index(&User::handle);
    CHECK(handle.size() == 3);
    CHECK(row_keys(handle) == Ids{4, 2, 6});
    CHECK(row_keys(handle.all()) == Ids{4, 2, 6});
    CHECK(row_keys(handle.reverse()) == Ids{6, 2, 4});
    CHECK(row_keys(handle.range(std::nullopt, OptStr{"zzz"})) == Ids{4, 2, 6});
    CHECK(row_keys(handle.range(std::nullopt, OptStr{"bea"})) == Ids{4});
    CHECK(row_keys(handle.range(std::nullopt, OptStr{"bea"}).reverse()) == Ids{4});
    CHECK(row_keys(handle.range("b", "z")) == Ids{2, 6});
    CHECK(row_keys(handle.from(std::nullopt)) == Ids{4, 2, 6});
    CHECK(row_keys(handle.from(std::nullopt).reverse()) == Ids{6, 2, 4});
    CHECK(row_keys(handle.until(OptStr{"c"})) == Ids{4, 2});
    CHECK(row_keys(handle.until(OptStr{"c"}).reverse()) == Ids{2, 4});
    CHECK(row_keys(handle.until(OptStr{"a"})).empty());
    CHECK(row_keys(handle.range(std::nullopt, OptStr{""})).empty());
    CHECK(pk_of(handle.first()) == 4u);
    CHECK(pk_of(handle.last()) == 6u);
    CHECK(handle.count(std::nullopt) == 0);
    CHECK(row_keys(handle.equal_range(std::nullopt)).empty());
    CHECK(handle.primary_keys(std::nullopt).empty());
    CHECK_FALSE(handle.get(std::nullopt).has_value());
    CHECK(pk_of(handle.get("bea")) == 2u);
    REQUIRE(handle.get(std::optional<std::string>{"dot"}).has_value());
    CHECK(handle.get(std::optional<std::string>{"dot"})->value().name == "cy");
    CHECK(handle.count("amy") == 1);
    CHECK(users.get_by_secondary_key(&User::handle, std::nullopt).empty());
    CHECK(users.get_by_secondary_key(&User::handle, OptStr{"amy"}) == Ids{4});

    auto team = users.index(&User::team);
    CHECK(team.size() == 3);
    CHECK(row_keys(team) == Ids{3, 2, 6});
    CHECK(row_keys(team.range(std::nullopt, OptU32{3u})) == Ids{3, 2, 6});
    CHECK(row_keys(team.range(std::nullopt, OptU32{2u})) == Ids{3});
    CHECK(row_keys(team.until(OptU32{0u})).empty());
    CHECK(row_keys(team.from(OptU32{2u}).reverse()) == Ids{6, 2});
    CHECK(row_keys(team.equal_range(2u)) == Ids{2, 6});
    CHECK(team.count(2u) == 2);
    CHECK(team.count(std::nullopt) == 0);
    CHECK(row_keys(team.equal_range(std::nullopt)).empty());
    CHECK(team.primary_keys(std::nullopt).empty());
    CHECK(pk_of(team.first()) == 3u);
    CHECK(pk_of(team.last()) == 6u);

    auto ini = users.index(initial);
    CHECK(ini.size() == 4);
    CHECK(row_keys(ini) == Ids{3, 4, 2, 6});
    CHECK(row_keys(ini.equal_range(OptStr{"a"})) == Ids{3, 4});
    CHECK(ini.count(std::nullopt) == 0);
    CHECK(row_keys(ini.range(std::nullopt, OptStr{"b"})) == Ids{3, 4});

    auto name = users.index(by_name);
    CHECK(name.size() == 4);
    CHECK(row_keys(name) == Ids{3, 4, 2, 6});
    CHECK(name.count(std::nullopt) == 0);
    CHECK_FALSE(name.get(std::nullopt).has_value());
    CHECK(pk_of(name.get(OptStr{"ann"})) == 4u);

    // the plain key on the same rows still has every row
    CHECK(users.index(&User::name).size() == 6);
    CHECK(users.index(&User::name).count("") == 2);
}

TEST_CASE("optional keys: netabase::keys over optionals and tuples with an optional still index nullopt",
          "[optional][multi]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    store.write([](netabase::WriteTransaction<Def>& txn) {
        auto t = txn.open_tree<Slotted>();
        t.put(Slotted{1, {std::nullopt, 3u}, std::nullopt, 1});
        t.put(Slotted{2, {std::nullopt}, "x", 1});
        t.put(Slotted{3, {4u}, std::nullopt, 2});
    });
    check_verify(store);
    auto r = store.begin_read();
    auto t = r.open_tree<Slotted>();
    CHECK(t.index(each_slot).count(std::nullopt) == 2);
    CHECK(row_keys(t.index(each_slot).equal_range(std::nullopt)) == Ids{1, 2});
    CHECK(t.index(each_slot).size() == 4);
    using LN = std::tuple<OptStr, std::uint32_t>;
    CHECK(row_keys(t.index(label_n).equal_range(LN{std::nullopt, 1})) == Ids{1});
    CHECK(t.index(label_n).size() == 3);
}

// ---- transitions -------------------------------------------------------------------------

TEST_CASE("optional keys: value -> nullopt -> value through every write path keeps the indexes exact",
          "[optional][stale]") {
    netabase_test::temp_dir dir;
    Model<User> model;
    {
        Store store{dir.path(), fast()};
        auto step = [&](auto&& fn) {
            auto txn = store.begin_write();
            auto users = txn.open_tree<User>();
            fn(users);
            check_users(users, model);
            txn.commit();
            check_verify(store);
            auto r = store.begin_read();
            check_users(r.open_tree<User>(), model);
        };
        auto put = [&](auto& users, const User& u) {
            users.put(u);
            model[u.id] = u;
        };

        step([&](auto& users) {
            put(users, User{1, "amy", 1u, "ann"});
            put(users, User{2, "bea", 2u, "bo"});
            put(users, User{3, std::nullopt, std::nullopt, ""});
        });
        SECTION("put") {
            step([&](auto& users) { put(users, User{1, std::nullopt, std::nullopt, ""}); });  // value -> nullopt
            step([&](auto& users) { put(users, User{1, "cal", 3u, "cy"}); });                 // nullopt -> value
            step([&](auto& users) { put(users, User{3, "amy", 1u, "ann"}); });                // takes the freed values
            step([&](auto& users) { put(users, User{3, std::nullopt, std::nullopt, "al"}); });
            step([&](auto& users) { put(users, User{3, std::nullopt, std::nullopt, ""}); });  // nullopt -> nullopt
            step([&](auto& users) {                                                           // in one transaction
                put(users, User{2, std::nullopt, std::nullopt, ""});
                put(users, User{1, "bea", 2u, "bo"});
                put(users, User{2, "cal", 3u, "cy"});
            });
        }
        SECTION("insert") {
            step([&](auto& users) {
                CHECK(users.insert(User{4, std::nullopt, std::nullopt, ""}));
                model[4] = User{4, std::nullopt, std::nullopt, ""};
                CHECK(users.insert(User{5, "dot", 3u, "cy"}));
                model[5] = User{5, "dot", 3u, "cy"};
                CHECK_FALSE(users.insert(User{3, "cal", 1u, "al"}));  // exists: nothing written
            });
        }
        SECTION("update") {
            step([&](auto& users) {
                CHECK(users.update(1, [](User& u) {
                    u.handle.reset();
                    u.team.reset();
                    u.name.clear();
                }));
                model[1] = User{1, std::nullopt, std::nullopt, ""};
            });
            step([&](auto& users) {
                CHECK(users.update(3, [](User& u) {
                    u.handle = "amy";
                    u.team = 1u;
                    u.name = "ann";
                }));
                model[3] = User{3, "amy", 1u, "ann"};
            });
            step([&](auto& users) {
                CHECK(users.update(3, [](User& u) { u.handle = "dot"; }));  // value -> other value
                model[3].handle = "dot";
                CHECK(users.update(1, [](User& u) { u.team = 2u; }));  // only one of the keys appears
                model[1].team = 2u;
                CHECK(users.update(2, [](User& u) { u.team.reset(); }));
                model[2].team.reset();
            });
            step([&](auto& users) {
                CHECK(users.update(1, [](User& u) { u.name = "al"; }));  // handle stays nullopt
                model[1].name = "al";
                CHECK(users.update(1, [](User& u) { u.handle = "amy"; }));
                model[1].handle = "amy";
            });
        }
        SECTION("remove and remove_many") {
            step([&](auto& users) {
                CHECK(users.remove(3));  // a row without values
                model.erase(3);
                CHECK(users.remove(1));  // a row with values
                model.erase(1);
            });
            step([&](auto& users) {
                put(users, User{1, std::nullopt, std::nullopt, ""});
                put(users, User{3, "amy", 1u, "ann"});
            });
            step([&](auto& users) {
                std::vector<std::uint64_t> ids{1, 2, 9};
                CHECK(users.remove_many(ids) == 2);
                model.erase(1);
                model.erase(2);
            });
            step([&](auto& users) { put(users, User{2, "bea", std::nullopt, ""}); });
        }
        SECTION("put_many") {
            step([&](auto& users) {
                // replacing rows, a row twice in one batch, and new rows on the append path
                std::vector<User> batch{{1, std::nullopt, std::nullopt, ""},
                                        {2, "amy", 1u, "ann"},
                                        {3, "bea", std::nullopt, "bo"},
                                        {3, std::nullopt, 2u, ""},
                                        {10, std::nullopt, std::nullopt, ""},
                                        {11, "cal", 3u, "cy"},
                                        {12, std::nullopt, 3u, ""}};
                CHECK(users.put_many(batch) == batch.size());
                for (const auto& u : batch) model[u.id] = u;
            });
            step([&](auto& users) {
                std::vector<User> batch{{11, std::nullopt, std::nullopt, ""},
                                        {12, "cal", 3u, "cy"},
                                        {13, std::nullopt, std::nullopt, "al"}};
                CHECK(users.put_many(batch) == batch.size());
                for (const auto& u : batch) model[u.id] = u;
            });
        }
        SECTION("clear") {
            step([&](auto& users) {
                users.clear();
                model.clear();
                put(users, User{1, std::nullopt, 2u, ""});
            });
        }
    }
    // and after reopening the files
    Store store{dir.path(), fast()};
    check_verify(store);
    auto r = store.begin_read();
    check_users(r.open_tree<User>(), model);
}

TEST_CASE("optional keys: random writes keep every optional index equal to the rows", "[optional][random]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), fast()};
    Model<User> model;
    std::mt19937 rng(20240611);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    auto random_user = [&](std::uint64_t id) {
        return User{id, handle_pool[pick(handle_pool.size())], team_pool[pick(team_pool.size())],
                    name_pool[pick(name_pool.size())]};
    };
    std::size_t rejected = 0, written = 0;
    for (int round = 0; round < 30; ++round) {
        auto txn = store.begin_write();
        auto users = txn.open_tree<User>();
        for (int op = 0; op < 8; ++op) {
            const std::uint64_t id = 1 + pick(12);
            switch (pick(5)) {
                case 0: {  // put
                    User u = random_user(id);
                    if (takes_unique(model, u)) {
                        CHECK(error_of([&] { users.put(u); }) == netabase::errc::unique_violation);
                        ++rejected;
                    } else {
                        users.put(u);
                        model[id] = u;
                        ++written;
                    }
                    break;
                }
                case 1: {  // update
                    User u = random_user(id);
                    auto fn = [&](User& row) {
                        row.handle = u.handle;
                        row.team = u.team;
                        row.name = u.name;
                    };
                    if (!model.count(id)) {
                        CHECK_FALSE(users.update(id, fn));
                    } else if (takes_unique(model, u)) {
                        CHECK(error_of([&] { users.update(id, fn); }) == netabase::errc::unique_violation);
                        ++rejected;
                    } else {
                        CHECK(users.update(id, fn));
                        model[id] = u;
                        ++written;
                    }
                    break;
                }
                case 2: {  // remove
                    CHECK(users.remove(id) == (model.erase(id) == 1));
                    break;
                }
                case 3: {  // put_many: all or nothing
                    std::vector<User> batch;
                    for (std::size_t n = 1 + pick(4); n > 0; --n) batch.push_back(random_user(1 + pick(14)));
                    Model<User> next = model;
                    bool ok = true;
                    for (const auto& u : batch) {
                        if (takes_unique(next, u)) ok = false;
                        next[u.id] = u;
                    }
                    if (ok) {
                        CHECK(users.put_many(batch) == batch.size());
                        model = std::move(next);
                        ++written;
                    } else {
                        CHECK(error_of([&] { users.put_many(batch); }) == netabase::errc::unique_violation);
                        ++rejected;
                    }
                    break;
                }
                default: {  // remove_many
                    std::vector<std::uint64_t> ids{id, 1 + pick(12)};
                    std::size_t n = 0;
                    for (auto k : ids) n += model.erase(k);
                    CHECK(users.remove_many(ids) == n);
                    break;
                }
            }
        }
        check_users(users, model);
        txn.commit();
        check_verify(store);
    }
    CHECK(rejected > 0);  // the run exercised both outcomes
    CHECK(written > 0);
    auto r = store.begin_read();
    check_users(r.open_tree<User>(), model);
}

// ---- index_absent ------------------------------------------------------------------------

template <class Tree>
void check_legacy(const Tree& users, const Model<Legacy>& model) {
    CHECK(users.size() == model.size());
    {
        INFO("index handle");
        check_index(
            users.index(&Legacy::handle), model, [](const Legacy& u) { return u.handle; }, handle_pool, true);
    }
    {
        INFO("index team");
        check_index(
            users.index(&Legacy::team), model, [](const Legacy& u) { return u.team; }, team_pool, true);
    }
    {
        INFO("index initial");
        check_index(
            users.index(legacy_initial), model, [](const Legacy& u) { return initial_of(u.name); },
            std::vector<OptStr>{std::nullopt, "a", "b", "c"}, true);
    }
}

TEST_CASE("optional keys: index_absent indexes nullopt as a key, as before", "[optional][index_absent]") {
    netabase_test::temp_dir dir;
    LegacyStore store{dir.path(), fast()};
    Model<Legacy> model;
    {
        auto txn = store.begin_write();
        auto users = txn.open_tree<Legacy>();
        users.put(Legacy{1, std::nullopt, std::nullopt, "ann"});
        users.put(Legacy{2, "bea", 2u, ""});
        users.put(Legacy{3, "amy", std::nullopt, "cy"});
        model[1] = Legacy{1, std::nullopt, std::nullopt, "ann"};
        model[2] = Legacy{2, "bea", 2u, ""};
        model[3] = Legacy{3, "amy", std::nullopt, "cy"};
        check_legacy(users, model);

        auto handle = users.index(&Legacy::handle);
        CHECK(handle.size() == 3);
        CHECK(pk_of(handle.get(std::nullopt)) == 1u);
        CHECK(pk_of(handle.first()) == 1u);  // nullopt sorts first
        CHECK(row_keys(handle.range(std::nullopt, OptStr{"b"})) == Ids{1, 3});
        CHECK(users.index(&Legacy::team).count(std::nullopt) == 2);

        // a unique index_absent key has room for one row without a value
        CHECK(error_of([&] {
                  users.put(Legacy{4, std::nullopt, std::nullopt, "dot"});
              }) == netabase::errc::unique_violation);
        CHECK(error_of([&] {
                  users.put(Legacy{5, "cal", std::nullopt, ""});
              }) == netabase::errc::unique_violation);  // by_name: row 2 has the nullopt name
        CHECK_FALSE(users.contains(4));
        CHECK_FALSE(users.contains(5));

        // value -> nullopt moves the entry to the nullopt key
        CHECK(users.update(1, [](Legacy& u) { u.handle = "cal"; }));
        model[1].handle = "cal";
        users.put(Legacy{3, std::nullopt, 1u, "cy"});
        model[3] = Legacy{3, std::nullopt, 1u, "cy"};
        CHECK(pk_of(handle.get(std::nullopt)) == 3u);
        CHECK(users.remove(2));
        model.erase(2);
        check_legacy(users, model);
        txn.commit();
    }
    check_verify(store);
    auto r = store.begin_read();
    check_legacy(r.open_tree<Legacy>(), model);
}

// ---- stores built the old way ------------------------------------------------------------

TEST_CASE("optional keys: an index built with nullopt entries is rebuilt when opened sparse",
          "[optional][schema][rebuild]") {
    netabase_test::temp_dir dir;
    Model<Legacy> legacy;
    Model<User> model;
    auto row = [&](std::uint64_t id, OptStr handle, OptU32 team, std::string name) {
        legacy[id] = Legacy{id, handle, team, name};
        model[id] = User{id, handle, team, name};
    };
    // (one row without a handle or a name: the unique index_absent keys have room for one)
    row(1, std::nullopt, std::nullopt, "");
    row(2, "bea", 2u, "bo");
    row(3, "cal", 1u, "al");
    row(4, "amy", std::nullopt, "ann");
    {
        LegacyStore old{dir.path(), fast()};
        old.write([&](netabase::WriteTransaction<LegacyDef>& txn) {
            auto users = txn.open_tree<Legacy>();
            for (const auto& [id, u] : legacy) users.put(u);
        });
        auto r = old.begin_read();
        auto users = r.open_tree<Legacy>();
        check_legacy(users, legacy);
        CHECK(users.index(&Legacy::handle).size() == 4);
        CHECK(users.index(&Legacy::team).count(std::nullopt) == 2);
        CHECK(pk_of(users.index(legacy_by_name).get(std::nullopt)) == 1u);
    }
    {
        Store store{dir.path(), fast()};  // the same table, declared sparse
        check_verify(store);
        {
            auto r = store.begin_read();
            auto users = r.open_tree<User>();
            check_users(users, model);
            CHECK(users.index(&User::handle).size() == 3);
            CHECK(users.index(&User::team).size() == 2);
            CHECK(users.index(initial).size() == 3);
            CHECK(users.index(by_name).size() == 3);
            CHECK(users.index(&User::name).size() == 4);
        }
        // now a second row without a handle is fine
        store.write([&](netabase::WriteTransaction<Def>& txn) {
            txn.open_tree<User>().put(User{5, std::nullopt, std::nullopt, ""});
        });
        row(5, std::nullopt, std::nullopt, "");
        check_verify(store);
        auto r = store.begin_read();
        check_users(r.open_tree<User>(), model);
    }
    {
        // and back: index_absent again wants the nullopt entries, which are rebuilt.
        // (Two rows without a handle no longer fit a unique index_absent key: the open says so.)
        try {
            LegacyStore old{dir.path(), fast()};
            FAIL("opening with a unique index_absent key over two nullopt handles did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::unique_violation);
            CHECK(std::string_view(e.what()).find("users/1") != std::string_view::npos);
        }
        Store store{dir.path(), fast()};  // the failed open changed nothing
        check_verify(store);
        store.write([&](netabase::WriteTransaction<Def>& txn) { txn.open_tree<User>().remove(5); });
        legacy.erase(5);
        model.erase(5);
    }
    LegacyStore old{dir.path(), fast()};
    check_verify(old);
    auto r = old.begin_read();
    check_legacy(r.open_tree<Legacy>(), legacy);
}

TEST_CASE("optional keys: opening sparse rebuilds only the optional indexes", "[optional][schema][rebuild]") {
    netabase_test::temp_dir dir;
    {
        LegacyStore old{dir.path(), fast()};
        old.write([](netabase::WriteTransaction<LegacyDef>& txn) {
            auto users = txn.open_tree<Legacy>();
            users.put(Legacy{1, std::nullopt, std::nullopt, ""});
            users.put(Legacy{2, "bea", 2u, "bo"});
            users.put(Legacy{3, "amy", 1u, "ann"});
        });
        check_verify(old);
    }
    // Take entries out behind netabase's back: one of the plain name index (whose fingerprint
    // line is the same either way) and one of the handle index (whose line changes). An open
    // that rebuilds an index brings its entry back; one that keeps it leaves the hole.
    drop_raw_entry(dir.path(), "users/3", netabase::encode_key(std::string("bo")));
    drop_raw_entry(dir.path(), "users/1", netabase::encode_key(OptStr{"amy"}));
    {
        LegacyStore old{dir.path(), fast()};  // the same declaration: nothing is rebuilt
        const netabase::verify_report report = old.verify();
        INFO(report.to_string());
        std::vector<std::pair<std::string, std::string>> missing;
        for (const auto& p : report.problems) {
            CHECK(p.what == netabase::verify_report::kind::missing_entry);
            missing.emplace_back(p.index, p.key);
        }
        std::sort(missing.begin(), missing.end());
        CHECK(missing == std::vector<std::pair<std::string, std::string>>{{"users/1", "3"}, {"users/3", "2"}});
    }
    Store store{dir.path(), fast()};  // sparse: the optional indexes are rebuilt, the name index is not
    const netabase::verify_report report = store.verify();
    INFO(report.to_string());
    REQUIRE(report.problems.size() == 1);
    CHECK(report.problems[0].what == netabase::verify_report::kind::missing_entry);
    CHECK(report.problems[0].index == "users/3");
    CHECK(report.problems[0].key == "2");
    auto r = store.begin_read();
    auto users = r.open_tree<User>();
    CHECK(pk_of(users.index(&User::handle).get("amy")) == 3u);
    CHECK(users.index(&User::handle).size() == 2);
    CHECK(users.index(&User::name).count("bo") == 0);  // still missing: not rebuilt
}

// ---- upgrades -----------------------------------------------------------------------------

TEST_CASE("optional keys: an upgrade builds a sparse index without the rows that have no value",
          "[optional][upgrade]") {
    netabase_test::temp_dir dir;
    using V1Def = netabase::definition<AccountV1>;
    using V2Def = netabase::definition<Account>;
    Model<Account> model;
    {
        netabase::Store<V1Def> v1{dir.path(), fast()};
        v1.write([&](netabase::WriteTransaction<V1Def>& txn) {
            auto accounts = txn.open_tree<AccountV1>();
            for (std::uint64_t id = 1; id <= 6; ++id) {
                AccountV1 a{id, "n" + std::to_string(id)};
                accounts.put(a);
                model[id] = upgrade_account(a);
            }
        });
    }
    netabase::Store<V2Def> v2{dir.path(), fast()};  // runs the step on every row: three without a handle
    check_verify(v2);
    auto r = v2.begin_read();
    auto accounts = r.open_tree<Account>();
    CHECK(accounts.size() == 6);
    auto handle = accounts.index(&Account::handle);
    CHECK(handle.size() == 3);
    check_index(
        handle, model, [](const Account& a) { return a.handle; },
        std::vector<OptStr>{std::nullopt, "h1", "h2", "h3", "h5"}, false);
    CHECK(pk_of(handle.get("h5")) == 5u);
}

}  // namespace optional_keys_test
