// Schema fingerprints made at compile time (detail/describe.hpp) are byte for byte what the
// run-time describe_type() and key ids give: the stored fingerprints of existing files must
// keep matching. Also the run-time fallback for a codec whose name is not a constant.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <ratio>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace schema_test {

struct Opaque {  // a codec without a name
    int v = 0;
};
struct Named {  // a codec with a constant name
    int v = 0;
};
struct RunTimeNamed {  // a codec whose name is known at run time only
    int v = 0;
};

}  // namespace schema_test

template <>
struct netabase::codec<schema_test::Opaque> {
    static void encode(netabase::writer& w, const schema_test::Opaque& o) { w.write(static_cast<std::int32_t>(o.v)); }
    static schema_test::Opaque decode(netabase::reader& r) { return {r.read<std::int32_t>()}; }
};

template <>
struct netabase::codec<schema_test::Named> {
    static constexpr std::string_view name = "named";
    static void encode(netabase::writer& w, const schema_test::Named& o) { w.write(static_cast<std::int32_t>(o.v)); }
    static schema_test::Named decode(netabase::reader& r) { return {r.read<std::int32_t>()}; }
};

template <>
struct netabase::codec<schema_test::RunTimeNamed> {
    static inline const std::string name = "run-time";
    static void encode(netabase::writer& w, const schema_test::RunTimeNamed& o) {
        w.write(static_cast<std::int32_t>(o.v));
    }
    static schema_test::RunTimeNamed decode(netabase::reader& r) { return {r.read<std::int32_t>()}; }
};

namespace schema_test {

enum class Color : std::uint8_t { red, green };
enum Plain : std::int64_t { a, b };

struct Inner {
    std::int16_t x;
    std::optional<std::string> label;
};

struct Everything {
    std::uint64_t id;
    bool flag;
    Color color;
    Plain plain;
    std::int8_t i8;
    std::uint16_t u16;
    std::int32_t i32;
    std::int64_t i64;
    float f;
    double d;
    std::string s;
    std::vector<std::uint8_t> bytes;
    std::array<std::int32_t, 3> arr;
    std::optional<double> maybe;
    std::pair<std::uint32_t, std::string> pair;
    std::tuple<bool, std::int64_t, std::vector<std::string>> tuple;
    std::chrono::milliseconds ms;
    std::chrono::duration<std::int32_t, std::ratio<3, 7>> odd;
    std::chrono::system_clock::time_point when;
    Inner inner;
    std::vector<Inner> inners;
    Opaque opaque;
    Named named;
};

constexpr auto by_pair = netabase::key<Everything>("by_pair", [](const Everything& e) { return e.pair; });
constexpr auto each_string =
    netabase::keys<Everything>("each_string", [](const Everything& e) { return std::get<2>(e.tuple); });

constexpr auto netabase_model(netabase::tag<Everything>) {
    return netabase::model<Everything>("everything")
        .primary_key(&Everything::s)
        .secondary_key(&Everything::id, netabase::unique)
        .secondary_key(&Everything::when)
        .secondary_key(&Everything::arr)
        .secondary_key(by_pair, netabase::unique)
        .secondary_key(each_string)
        .secondary_key(&Everything::color);
}

struct Wide {
    std::uint64_t id;
    long double ld;
    float f;
};

struct Defaulted {  // no declaration: first field, no indexes, named after the type
    std::int32_t key;
    std::vector<std::optional<std::string>> rest;
};

struct WithRunTimeName {
    std::uint64_t id;
    RunTimeNamed r;
    std::uint32_t n;
};

constexpr auto netabase_model(netabase::tag<WithRunTimeName>) {
    return netabase::model<WithRunTimeName>("run_time_named").secondary_key(&WithRunTimeName::n);
}

template <class M>
void same_fingerprint() {
    using namespace netabase::detail;
    const table_schema& s = schema_of<M>;
    const fingerprint f = fingerprint_of<M>();
    CHECK(s.make_fingerprint == nullptr);
    CHECK(std::string(s.fields) == f.fields);
    CHECK(std::string(s.primary) == f.primary);
    REQUIRE(s.index_count == f.indexes.size());
    for (std::size_t i = 0; i < s.index_count; ++i) {
        CHECK(std::string(s.indexes[i].line) == f.indexes[i]);
        CHECK(std::string(s.indexes[i].id) == index_id(f.indexes[i]));
    }
}

TEST_CASE("schema: compile-time fingerprints equal the run-time ones", "[schema]") {
    same_fingerprint<Everything>();
    same_fingerprint<Defaulted>();
    same_fingerprint<Inner>();
    same_fingerprint<Wide>();
}

TEST_CASE("schema: fingerprint text as stored in existing files", "[schema]") {
    using netabase::detail::schema_of;
    CHECK(schema_of<Defaulted>.name == "schema_test::Defaulted");
    CHECK(schema_of<Defaulted>.fields == "{i32,vec<opt<str>>}");
    CHECK(schema_of<Defaulted>.primary == "0:i32");
    CHECK(schema_of<Defaulted>.index_count == 0);
    CHECK(schema_of<Everything>.primary == "10:str");
    REQUIRE(schema_of<Everything>.index_count == 6);
    CHECK(schema_of<Everything>.indexes[0].line == "0:unique:u64");
    CHECK(schema_of<Everything>.indexes[1].line == "18:multi:time<dur<i64,1/1000000000>>");
    CHECK(schema_of<Everything>.indexes[2].line == "12:multi:arr<i32,3>");
    CHECK(schema_of<Everything>.indexes[3].line == "by_pair:unique:(u32,str)");
    CHECK(schema_of<Everything>.indexes[4].line == "each_string:multi:str");
    CHECK(schema_of<Everything>.indexes[5].line == "2:multi:enum:u8");
    CHECK(schema_of<Everything>.fields ==
          "{u64,bool,enum:u8,enum:i64,i8,u16,i32,i64,f32,f64,str,vec<u8>,arr<i32,3>,opt<f64>,(u32,str),"
          "(bool,i64,vec<str>),dur<i64,1/1000>,dur<i32,3/7>,time<dur<i64,1/1000000000>>,{i16,opt<str>},"
          "vec<{i16,opt<str>}>,codec,codec:named}");
}

TEST_CASE("schema: a codec name known at run time only is still in the fingerprint", "[schema]") {
    using namespace netabase::detail;
    REQUIRE(schema_of<WithRunTimeName>.make_fingerprint != nullptr);
    CHECK(schema_of<WithRunTimeName>.make_fingerprint().fields == "{u64,codec:run-time,u32}");

    netabase_test::temp_dir tmp;
    using Def = netabase::definition<WithRunTimeName>;
    {
        netabase::Store<Def> store{tmp / "db"};
        store.write([](netabase::WriteTransaction<Def>& txn) {
            txn.open_tree<WithRunTimeName>().put(WithRunTimeName{1, {7}, 3});
        });
    }
    netabase::Store<Def> again{tmp / "db"};
    CHECK(again.read([](netabase::ReadTransaction<Def>& txn) {
        return txn.open_tree<WithRunTimeName>().index(&WithRunTimeName::n).count(3);
    }) == 1);
    CHECK(again.verify().ok());
}

}  // namespace schema_test
