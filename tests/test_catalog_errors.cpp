// The catalog (catalog.hpp) read from metadata that no netabase of this version wrote: a
// metadata database filled by hand with raw LMDB calls, one entry per case. Each unreadable
// entry is errc::schema_mismatch naming its table and saying what cannot be read; the readable
// odd cases (key suffixes, computed key ids, names for shapes the table no longer has, a renamed
// table's tombstone, an unfinished upgrade) are read as the metadata format says.
#include <netabase/catalog.hpp>

#include "catch.hpp"
#include "errors.hpp"
#include "support.hpp"

#include <lmdb.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace catalog_errors_test {

using netabase_test::error_of;

void ok(int rc, const char* what) {
    if (rc != 0) throw std::runtime_error(std::string(what) + ": " + ::mdb_strerror(rc));
}

// A fresh LMDB environment whose "__netabase" database holds exactly `entries`; read_catalog
// on it.
netabase::catalog catalog_of(const std::map<std::string, std::string>& entries) {
    netabase_test::temp_dir dir;
    MDB_env* env = nullptr;
    ok(::mdb_env_create(&env), "mdb_env_create");
    struct closer {
        MDB_env* e;
        ~closer() { ::mdb_env_close(e); }
    } close_env{env};
    ok(::mdb_env_set_maxdbs(env, 4), "mdb_env_set_maxdbs");
    ok(::mdb_env_open(env, dir.path().c_str(), 0, 0644), "mdb_env_open");
    MDB_txn* txn = nullptr;
    ok(::mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
    struct aborter {
        MDB_txn* t;
        ~aborter() { ::mdb_txn_abort(t); }
    } abort_txn{txn};
    MDB_dbi meta;
    ok(::mdb_dbi_open(txn, "__netabase", MDB_CREATE, &meta), "mdb_dbi_open");
    for (const auto& [k, v] : entries) {
        MDB_val kv{k.size(), const_cast<char*>(k.data())}, vv{v.size(), const_cast<char*>(v.data())};
        ok(::mdb_put(txn, meta, &kv, &vv, 0), "mdb_put");
    }
    return netabase::read_catalog(txn, meta);
}

const std::string good = "netabase/1\nfields={u64,str,vec<{u8,str}>}\nprimary=0:u64\nindex=1:unique:str";

void mismatch(const std::map<std::string, std::string>& entries, const std::string& message) {
    INFO(message);
    auto e = error_of([&] { (void)catalog_of(entries); });
    CHECK(e.code() == netabase::errc::schema_mismatch);
    CHECK(e.description() == message);
    CHECK(e.table() == "t");
}

TEST_CASE("catalog errors: each unreadable part of a table's metadata is a schema mismatch naming the table",
          "[catalog][errors]") {
    REQUIRE(catalog_of({{"table:t", good}}).tables.size() == 1);
    mismatch({{"table:t", "sqlite/1\nfields={u64}"}}, "schema mismatch in table 't': its metadata is not a netabase fingerprint");
    mismatch({{"table:t", "netabase/0\nfields={u64}\nprimary=0:u64"}},
             "schema mismatch in table 't': written with encoding version 0; this build reads version 1: use a newer "
             "netabase");
    mismatch({{"table:t", "netabase/2\nfields={u64}\nprimary=0:u64"}},
             "schema mismatch in table 't': written with encoding version 2; this build reads version 1: use a newer "
             "netabase");
    mismatch({{"table:t", "netabase/x"}},
             "schema mismatch in table 't': written with encoding version x; this build reads version 1: use a newer "
             "netabase");
    mismatch({{"table:t", "netabase/1\nversion=two\nfields={u64}\nprimary=0:u64"}},
             "schema mismatch in table 't': its version is unreadable");
    mismatch({{"table:t", "netabase/1\nfields=u64\nprimary=0:u64"}}, "schema mismatch in table 't': its rows are not a struct");
    mismatch({{"table:t", "netabase/1\nfields={u64}\nprimary=u64"}},
             "schema mismatch in table 't': cannot read the key line 'u64'");
    mismatch({{"table:t", good + "\nindex=1:both:str"}},
             "schema mismatch in table 't': cannot read the index line '1:both:str'");
    mismatch({{"table:t", good + "\nindex=2str"}}, "schema mismatch in table 't': cannot read the key line '2str'");
    // A type text this build cannot read, in the fields or in a key.
    auto e = error_of([] { (void)catalog_of({{"table:t", "netabase/1\nfields={u64,u7}\nprimary=0:u64"}}); });
    CHECK(e.code() == netabase::errc::schema_mismatch);
    CHECK(e.description() == "cannot read the stored type '{u64,u7}': an unknown number width");
    e = error_of([] { (void)catalog_of({{"table:t", good + "\nindex=1:multi:str:v0"}}); });
    CHECK(e.description() == "cannot read the stored type 'str:v0': text after the type");
}

TEST_CASE("catalog errors: the type text parser refuses each malformation with its reason", "[catalog][errors]") {
    auto refuse = [](const char* text, const std::string& why) {
        INFO(text);
        auto e = error_of([&] { (void)netabase::stored_type::parse(text); });
        CHECK(e.code() == netabase::errc::schema_mismatch);
        CHECK(e.description() == "cannot read the stored type '" + std::string(text) + "': " + why);
    };
    refuse("", "an unknown type");
    refuse("x8", "an unknown type");
    refuse("u", "a number was expected");
    refuse("u-", "a number was expected");
    refuse("u12", "an unknown number width");
    refuse("i128", "an unknown number width");
    refuse("f16", "an unknown number width");
    refuse("u1234567890123456789", "an unknown number width");  // read to 18 digits, then text
    refuse("enum:str", "an enum over a non-integer");
    refuse("enum:f32", "an enum over a non-integer");
    refuse("vec<u8", "unbalanced brackets");
    refuse("vec<u8)", "unbalanced brackets");
    refuse("opt<str", "unbalanced brackets");
    refuse("arr<u8>", "unbalanced brackets");
    refuse("arr<u8,>", "a number was expected");
    refuse("arr<u8,-2>", "a negative array length");
    refuse("arr<u8,2", "unbalanced brackets");
    refuse("dur<i64>", "unbalanced brackets");
    refuse("dur<i64,1>", "unbalanced brackets");
    refuse("dur<i64,1/>", "a number was expected");
    refuse("dur<i64,1/1", "unbalanced brackets");
    refuse("time<i64>", "a time point over a non-duration");
    refuse("time<dur<i64,1/1>", "unbalanced brackets");
    refuse("(u8", "unbalanced brackets");
    refuse("(u8,", "an unknown type");
    refuse("{u8,str)", "unbalanced brackets");
    refuse("{u8}}", "text after the type");
    // What parses: empty aggregates and tuples, a codec without a name, a name up to its separator.
    auto t = netabase::stored_type::parse("{(),{},codec,vec<codec:m>,(codec:a b,u8),dur<i64,-1/3>,f128}");
    REQUIRE(t.elements.size() == 7);
    CHECK(t.elements[0].k == netabase::stored_type::kind::tuple);
    CHECK(t.elements[0].elements.empty());
    CHECK(t.elements[1].k == netabase::stored_type::kind::aggregate);
    CHECK(t.elements[1].names.empty());
    CHECK(t.elements[2].codec_name.empty());
    CHECK(t.elements[3].elements[0].codec_name == "m");
    CHECK(t.elements[4].elements[0].codec_name == "a b");
    CHECK(t.elements[5].num == -1);
    CHECK(t.elements[5].den == 3);
    CHECK(t.elements[6].bits == 128);
    CHECK(t.names == std::vector<std::string>{"f0", "f1", "f2", "f3", "f4", "f5", "f6"});
    // Byte strings: vectors and arrays of u8 or of an enum over u8, nothing else.
    CHECK(netabase::stored_type::parse("vec<u8>").is_bytes());
    CHECK(netabase::stored_type::parse("arr<enum:u8,4>").is_bytes());
    CHECK_FALSE(netabase::stored_type::parse("vec<i8>").is_bytes());
    CHECK_FALSE(netabase::stored_type::parse("vec<enum:u16>").is_bytes());
    CHECK_FALSE(netabase::stored_type::parse("opt<u8>").is_bytes());
    CHECK_FALSE(netabase::stored_type::parse("str").is_bytes());
}

TEST_CASE("catalog errors: key suffixes, computed ids, stale names, tombstones and upgrades read as written",
          "[catalog][errors]") {
    auto c = catalog_of({
        {"table:t", good + "\nindex=2:multi:vec<{u8,str}>:v3:sparse\nindex=by_x:multi:str:sparse:v2\nindex=7:unique:u8"},
        {"table:old", "netabase/1\nrenamed_to=t"},
        {"names:t", "0=id\n1=title\nno equals sign\nx=not a position\n2.1=label\n2.7=out of range\n1.0=not a struct\n"
                    "2.=empty step"},
        {"names:gone", "0=ignored"},
        {"generation", "5"},
        {"upgrade:t", "netabase-upgrade/1"},
    });
    REQUIRE(c.tables.size() == 1);  // the tombstone is no table
    const auto& t = *c.find("t");
    CHECK(c.find("old") == nullptr);
    CHECK(c.encoding == 1);
    CHECK(t.upgrading);
    CHECK(t.db == "t");
    CHECK(t.row.names == std::vector<std::string>{"id", "title", "f2"});
    CHECK(t.row.elements[2].elements[0].names == std::vector<std::string>{"f0", "label"});
    REQUIRE(t.indexes.size() == 4);
    CHECK(t.primary.name == "id");
    CHECK(t.primary.db == "t");
    CHECK(t.indexes[0].name == "title");
    CHECK(t.indexes[0].unique);
    CHECK(t.indexes[1].name == "f2");
    CHECK_FALSE(t.indexes[1].unique);
    CHECK(t.indexes[1].sparse);
    CHECK(t.indexes[1].revision == 3);
    CHECK(t.indexes[1].type_text == "vec<{u8,str}>");
    CHECK(t.indexes[1].db == "t/2");
    CHECK(t.indexes[2].name == "by_x");
    CHECK_FALSE(t.indexes[2].field.has_value());
    CHECK(t.indexes[2].sparse);
    CHECK(t.indexes[2].revision == 2);
    CHECK(t.indexes[3].name == "7");  // a position past the fields: no field of the row
    CHECK_FALSE(t.indexes[3].field.has_value());
    // A table whose rows live in another database, without an upgrade.
    c = catalog_of({{"table:t", "netabase/1\nversion=3\ndb=__netabase~t~2\nfields={u64}\nprimary=0:u64"}});
    CHECK(c.tables[0].db == "__netabase~t~2");
    CHECK(c.tables[0].version == 3);
    CHECK_FALSE(c.tables[0].upgrading);
    CHECK(c.tables[0].primary.db == "__netabase~t~2");
}

}  // namespace catalog_errors_test
