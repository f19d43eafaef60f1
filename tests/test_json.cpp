// The store's description of itself (catalog.hpp) and JSON rows (json.hpp): what the metadata
// says matches the models, every field type survives export and import, bad input is refused.
#include <netabase/catalog.hpp>
#include <netabase/json.hpp>

#include "catch.hpp"
#include "json_models.hpp"
#include "support.hpp"

#include <lmdb.h>

#include <array>
#include <sstream>
#include <string>
#include <vector>

using namespace json_models;

namespace {

netabase::catalog catalog_of_dir(const std::filesystem::path& dir) {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 64);
    REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    MDB_dbi meta;
    REQUIRE(mdb_dbi_open(txn, "__netabase", 0, &meta) == 0);
    netabase::catalog c = netabase::read_catalog(txn, meta);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return c;
}

}  // namespace

TEST_CASE("json: the metadata describes every table, field and key", "[json][catalog]") {
    netabase_test::temp_dir dir;
    { netabase::Store<Def> store{dir.path()}; }
    auto cat = catalog_of_dir(dir.path());
    REQUIRE(cat.tables.size() == 2);
    const auto* t = cat.find("every");
    REQUIRE(t != nullptr);
    CHECK(t->row.k == netabase::stored_type::kind::aggregate);
    REQUIRE(t->row.names.size() == 23);
    CHECK(t->row.names[0] == "id");
    CHECK(t->row.names[10] == "text");
    CHECK(t->row.names[22] == "work");
    CHECK(t->row.elements[12].is_bytes());   // vector<uint8_t>
    CHECK(t->row.elements[13].is_bytes());   // array<std::byte, 4>
    CHECK(!t->row.elements[14].is_bytes());  // array<int32_t, 3>
    CHECK(t->row.elements[18].k == netabase::stored_type::kind::duration);
    CHECK(t->row.elements[18].den == 1000);
    CHECK(t->row.elements[20].names == std::vector<std::string>{"f0", "f1", "f2"});  // nested: no names in Boost 1.81
    CHECK(t->primary.name == "id");
    REQUIRE(t->indexes.size() == 5);
    CHECK(t->indexes[0].name == "text");
    CHECK(t->indexes[0].unique);
    CHECK(t->indexes[0].db == "every/10");
    CHECK(t->indexes[1].name == "color");
    CHECK(!t->indexes[1].unique);
    CHECK(t->indexes[2].sparse);
    CHECK(t->indexes[3].name == "by_tag");
    CHECK(!t->indexes[3].field.has_value());
    CHECK(t->indexes[4].type.k == netabase::stored_type::kind::tuple);
    // the program's own description is the same as the store's
    const auto& mine = netabase::stored_table_of<Every>();
    CHECK(mine.fields_text == t->fields_text);
    CHECK(mine.row.names == t->row.names);

    const auto* p = cat.find("json_models::Plain");
    REQUIRE(p != nullptr);
    CHECK(p->row.names == std::vector<std::string>{"f0", "f1"});
}

TEST_CASE("json: field names are metadata only; renaming one is no schema change", "[json][catalog]") {
    netabase_test::temp_dir dir;
    {
        netabase::Store<Def> store{dir.path()};
        store.write([](auto& txn) { txn.template open_tree<Every>().put(every(1)); });
    }
    // What an older program with other names would have left: the store keeps the newest names.
    {
        MDB_env* env = nullptr;
        REQUIRE(mdb_env_create(&env) == 0);
        mdb_env_set_maxdbs(env, 64);
        REQUIRE(mdb_env_open(env, dir.path().c_str(), 0, 0644) == 0);
        MDB_txn* txn = nullptr;
        REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
        MDB_dbi meta;
        REQUIRE(mdb_dbi_open(txn, "__netabase", 0, &meta) == 0);
        std::string k = "names:every", v = "0=old_id\n";
        MDB_val mk{k.size(), k.data()}, mv{v.size(), v.data()};
        REQUIRE(mdb_put(txn, meta, &mk, &mv, 0) == 0);
        REQUIRE(mdb_txn_commit(txn) == 0);
        mdb_env_close(env);
    }
    CHECK(catalog_of_dir(dir.path()).find("every")->row.names[0] == "old_id");
    CHECK(catalog_of_dir(dir.path()).find("every")->row.names[1] == "f1");
    {
        netabase::Store<Def> store{dir.path()};  // no schema_mismatch, rewrites the names
        CHECK(store.read([](auto& txn) { return txn.template open_tree<Every>().size(); }) == 1);
    }
    CHECK(catalog_of_dir(dir.path()).find("every")->row.names[0] == "id");
    CHECK(catalog_of_dir(dir.path()).find("every")->row.names[1] == "flag");
}

TEST_CASE("json: every field type exports and imports back to the same rows", "[json]") {
    netabase_test::temp_dir a, b;
    std::stringstream out;
    {
        netabase::Store<Def> store{a.path()};
        store.write([](auto& txn) {
            auto t = txn.template open_tree<Every>();
            for (std::uint64_t i = 0; i < 20; ++i) t.put(every(i));
        });
        auto n = store.read([&](auto& txn) { return netabase::export_json(txn.template open_tree<Every>(), out); });
        CHECK(n == 20);
    }
    // Each line is one object with the declared names, values as the format says.
    std::string first;
    std::getline(std::istringstream(out.str()) >> std::ws, first);
    auto j = netabase::json_row::parse(first);
    CHECK(j["id"] == 0);
    CHECK(j["flag"] == true);
    CHECK(j["color"] == 1);
    CHECK(j["level"] == 300);
    CHECK(j["blob"] == "00ff00");
    CHECK(j["magic"] == "dead0000");
    CHECK(j["triple"] == netabase::json_row::parse("[0,-1,2147483647]"));
    CHECK(j["maybe"].is_null());
    CHECK(j["pair"] == netabase::json_row::parse(R"(["p0",0])"));
    CHECK(j["ttl"] == 1500);
    CHECK(j["i64"] == INT64_MIN);
    CHECK(j["home"]["f0"] == "Main St 0");
    CHECK(j["work"]["f0"] == "Office");
    CHECK(j["text"] == "row \"0\"\n\ttab\\ plain");
    CHECK(j.begin().key() == "id");  // declaration order

    // Into an empty store: the same rows, and the indexes built from them.
    netabase::Store<Def> copy{b.path()};
    std::istringstream in(out.str());
    auto put = copy.write([&](auto& txn) {
        auto t = txn.template open_tree<Every>();
        return netabase::import_json(t, in);
    });
    CHECK(put == 20);
    copy.read([](auto& txn) {
        auto t = txn.template open_tree<Every>();
        REQUIRE(t.size() == 20);
        for (std::uint64_t i = 0; i < 20; ++i) {
            auto g = t.get(i);
            REQUIRE(g);
            CHECK(same(g->value(), every(i)));
        }
        CHECK(t.index(by_tag).count("common") == 20);
        CHECK(t.index(&Every::text).get(every(7).text).has_value());
    });
}

TEST_CASE("json: non-finite floats and extreme integers round-trip", "[json]") {
    netabase_test::temp_dir dir;
    netabase::Store<Def> store{dir.path()};
    Every e = every(1);
    e.f32 = std::numeric_limits<float>::infinity();
    e.f64 = std::numeric_limits<double>::quiet_NaN();
    e.i64 = INT64_MIN;
    e.id = UINT64_MAX;
    store.write([&](auto& txn) { txn.template open_tree<Every>().put(e); });
    std::stringstream out;
    store.read([&](auto& txn) { netabase::export_json(txn.template open_tree<Every>(), out); });
    auto j = netabase::json_row::parse(out.str());
    CHECK(j["f32"] == "Infinity");
    CHECK(j["f64"] == "NaN");
    CHECK(j["id"] == UINT64_MAX);
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Every>();
        t.clear();
        std::istringstream in(out.str());
        netabase::import_json(t, in);
        auto g = t.get(UINT64_MAX);
        REQUIRE(g);
        CHECK(std::isinf(g->value().f32));
        CHECK(std::isnan(g->value().f64));
        CHECK(g->value().i64 == INT64_MIN);
    });
}

TEST_CASE("json: a bad line is refused with the table, line and field, and nothing is put", "[json]") {
    netabase_test::temp_dir dir;
    netabase::Store<Def> store{dir.path()};
    std::stringstream good;
    store.write([&](auto& txn) { txn.template open_tree<Every>().put(every(1)); });
    store.read([&](auto& txn) { netabase::export_json(txn.template open_tree<Every>(), good); });
    store.write([](auto& txn) { txn.template open_tree<Every>().clear(); });
    auto line = netabase::json_row::parse(good.str());

    auto refuse = [&](netabase::json_row bad, const std::string& expect) {
        std::istringstream in(good.str() + bad.dump() + "\n");
        try {
            store.write([&](auto& txn) {
                auto t = txn.template open_tree<Every>();
                netabase::import_json(t, in);
            });
            FAIL("imported " << bad.dump());
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::invalid_argument);
            std::string what = e.what();
            CHECK_THAT(what, Catch::Matchers::Contains("table 'every', line 2"));
            CHECK_THAT(what, Catch::Matchers::Contains(expect));
        }
        CHECK(store.read([](auto& txn) { return txn.template open_tree<Every>().size(); }) == 0);
    };
    auto b = line;
    b["u16"] = 70000;
    refuse(b, "field 'u16': expected an unsigned 16-bit integer");
    b = line;
    b["i8"] = -129;
    refuse(b, "field 'i8'");
    b = line;
    b.erase("text");
    refuse(b, "field 'text': missing");
    b = line;
    b["nope"] = 1;
    refuse(b, "field 'nope': the table has no such field");
    b = line;
    b["blob"] = "0g";
    refuse(b, "field 'blob'");
    b = line;
    b["magic"] = "00";
    refuse(b, "field 'magic': expected 4 bytes");
    b = line;
    b["home"]["f1"] = "x";
    refuse(b, "field 'home.f1'");
    b = line;
    b["tags"][1] = 5;
    refuse(b, "field 'tags[1]'");
    // The largest value of each signed width is taken; one more is refused.
    b = line;
    b["i8"] = 127;
    b["i32"] = INT32_MAX;
    b["i64"] = INT64_MAX;
    {
        std::istringstream in(b.dump() + "\n");
        store.write([&](auto& txn) {
            auto t = txn.template open_tree<Every>();
            netabase::import_json(t, in);
        });
        const Every got = store.read(
            [&](auto& txn) { return txn.template open_tree<Every>().get(line["id"].get<std::uint64_t>())->value(); });
        CHECK(got.i8 == 127);
        CHECK(got.i32 == INT32_MAX);
        CHECK(got.i64 == INT64_MAX);
        store.write([](auto& txn) { txn.template open_tree<Every>().clear(); });
    }
    b = line;
    b["i8"] = 128;
    refuse(b, "field 'i8': expected a signed 8-bit integer");
    b = line;
    b["i32"] = std::uint64_t{1} << 31;
    refuse(b, "field 'i32': expected a signed 32-bit integer");
    b = line;
    b["i64"] = std::uint64_t{1} << 63;
    refuse(b, "field 'i64': expected a signed 64-bit integer");
    std::istringstream notjson(good.str() + "{\"id\": \n");
    CHECK_THROWS_AS(store.write([&](auto& txn) {
        auto t = txn.template open_tree<Every>();
        netabase::import_json(t, notjson);
    }), netabase::error);
}

TEST_CASE("json: keys to and from JSON follow the key encoding", "[json]") {
    const auto& t = netabase::stored_table_of<Every>();
    netabase::detail::buffer b;
    netabase::key_from_json(t.indexes[4].type, netabase::json_row::parse(R"([10003, "a\u0000b"])"), b);
    CHECK(std::vector<std::byte>(b.span().begin(), b.span().end()) ==
          netabase::encode_key(std::tuple{std::uint32_t{10003}, std::string("a\0b", 3)}));
    CHECK(netabase::key_to_json(t.indexes[4].type, b.span()) == netabase::json_row::parse(R"([10003, "a\u0000b"])"));
    netabase::key_from_json(t.primary.type, netabase::json_row(UINT64_MAX), b);
    CHECK(std::vector<std::byte>(b.span().begin(), b.span().end()) == netabase::encode_key(UINT64_MAX));
    netabase::key_from_json(t.indexes[2].type, netabase::json_row(nullptr), b);  // optional
    CHECK(std::vector<std::byte>(b.span().begin(), b.span().end()) ==
          netabase::encode_key(std::optional<std::uint32_t>{}));
    CHECK_THROWS_AS(netabase::key_from_json(t.primary.type, netabase::json_row(-1), b), netabase::error);
    // Signed keys: encode_key's bytes (the sign bit flipped), and key_to_json reads them back.
    const netabase::stored_type i8 = netabase::stored_type::parse("i8"), i32 = netabase::stored_type::parse("i32"),
                                i64 = netabase::stored_type::parse("i64");
    for (std::int64_t v : {INT64_MIN, std::int64_t{-129}, std::int64_t{-1}, std::int64_t{0}, INT64_MAX}) {
        INFO("i64 " << v);
        netabase::key_from_json(i64, netabase::json_row(v), b);
        CHECK(std::vector<std::byte>(b.span().begin(), b.span().end()) == netabase::encode_key(v));
        CHECK(netabase::key_to_json(i64, b.span()) == netabase::json_row(v));
    }
    for (std::int32_t v : {INT32_MIN, -1, 0, 7, INT32_MAX}) {
        INFO("i32 " << v);
        netabase::key_from_json(i32, netabase::json_row(v), b);
        CHECK(std::vector<std::byte>(b.span().begin(), b.span().end()) == netabase::encode_key(v));
        CHECK(netabase::key_to_json(i32, b.span()) == netabase::json_row(v));
    }
    for (int v : {-128, -1, 0, 127}) {
        INFO("i8 " << v);
        netabase::key_from_json(i8, netabase::json_row(v), b);
        CHECK(std::vector<std::byte>(b.span().begin(), b.span().end()) ==
              netabase::encode_key(static_cast<std::int8_t>(v)));
        CHECK(netabase::key_to_json(i8, b.span()) == netabase::json_row(v));
    }
    // Vector keys (each element after a 1, a 0 at the end) and array keys (a fixed count) read
    // back as arrays, of bytes as hex; any other marker is corrupt.
    const netabase::stored_type vec_u32 = netabase::stored_type::parse("vec<u32>"),
                                arr_i32 = netabase::stored_type::parse("arr<i32,3>"),
                                vec_u8 = netabase::stored_type::parse("vec<u8>"),
                                arr_u8 = netabase::stored_type::parse("arr<u8,4>");
    CHECK(netabase::key_to_json(vec_u32, netabase::encode_key(std::vector<std::uint32_t>{7, 0, 70000})) ==
          netabase::json_row::parse("[7, 0, 70000]"));
    CHECK(netabase::key_to_json(vec_u32, netabase::encode_key(std::vector<std::uint32_t>{})) ==
          netabase::json_row::array());
    CHECK(netabase::key_to_json(arr_i32, netabase::encode_key(std::array<std::int32_t, 3>{-5, 0, 9})) ==
          netabase::json_row::parse("[-5, 0, 9]"));
    CHECK(netabase::key_to_json(vec_u8, netabase::encode_key(std::vector<std::uint8_t>{0x00, 0xab, 0xff})) ==
          netabase::json_row("00abff"));
    CHECK(netabase::key_to_json(arr_u8, netabase::encode_key(std::array<std::uint8_t, 4>{1, 2, 0xfe, 0})) ==
          netabase::json_row("0102fe00"));
    auto marked = netabase::encode_key(std::vector<std::uint32_t>{7});
    marked[0] = std::byte{2};
    CHECK_THROWS_AS(netabase::key_to_json(vec_u32, marked), netabase::error);
    netabase::stored_type f = netabase::stored_type::parse("f64");
    for (double d : {-1.5, -0.0, 0.0, 2.0, 1e-300}) {
        netabase::key_from_json(f, netabase::json_row(d), b);
        CHECK(std::vector<std::byte>(b.span().begin(), b.span().end()) == netabase::encode_key(d));
    }
}

TEST_CASE("json: a stored type text this build cannot read is a schema mismatch", "[json][catalog]") {
    for (const char* bad : {"u7", "vec<u8", "{u8,}", "wat", "arr<u8,-1>", "enum:str", "u8x"})
        CHECK_THROWS_MATCHES(netabase::stored_type::parse(bad), netabase::error,
                             Catch::Matchers::Predicate<netabase::error>(
                                 [](const netabase::error& e) { return e.code() == netabase::errc::schema_mismatch; }));
    auto t = netabase::stored_type::parse("{u64,opt<{str,vec<(u8,i16)>}>,time<dur<i64,1/1000000000>>,codec:money}");
    REQUIRE(t.elements.size() == 4);
    CHECK(t.elements[1].elements[0].elements[1].elements[0].elements[1].bits == 16);
    CHECK(t.elements[2].elements[0].den == 1000000000);
    CHECK(t.elements[3].codec_name == "money");
}
