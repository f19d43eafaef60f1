// JSON rows and keys (json.hpp) against input of the wrong shape: each field kind refuses each
// kind of wrong JSON with errc::invalid_argument naming the field (and, through import_json,
// the table and line, the store unchanged); stored bytes that do not decode as the catalog's
// type are errc::corrupt_value. Types come from the catalog's own type text
// (stored_type::parse), so every kind the metadata can describe is covered, including those no
// model in the other tests has (long double, a user codec in a key).
#include <netabase/catalog.hpp>
#include <netabase/json.hpp>

#include "catch.hpp"
#include "errors.hpp"
#include "json_models.hpp"
#include "support.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace json_errors_test {

struct Money {  // stored by a user codec
    std::int64_t cents = 0;
};

}  // namespace json_errors_test

template <>
struct netabase::codec<json_errors_test::Money> {
    static constexpr std::string_view name = "money";
    static void encode(netabase::writer& w, const json_errors_test::Money& m) { w.write(m.cents); }
    static json_errors_test::Money decode(netabase::reader& r) { return {r.read<std::int64_t>()}; }
};

namespace json_errors_test {

using netabase::json_row;
using netabase::stored_type;

netabase::stored_table table_of(const std::string& fields, std::vector<std::string> names) {
    netabase::stored_table t;
    t.name = "t";
    t.row = stored_type::parse(fields);
    REQUIRE(t.row.names.size() == names.size());
    t.row.names = std::move(names);
    return t;
}

using netabase_test::error_of;

using netabase_test::has;

std::vector<std::byte> bytes_of(const netabase::detail::buffer& b) { return {b.span().begin(), b.span().end()}; }

using Bytes = std::vector<std::byte>;

std::vector<std::byte> hex(const std::string& h) {
    std::vector<std::byte> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(std::byte(std::stoul(h.substr(i, 2), nullptr, 16)));
    return out;
}

// ---- rows ------------------------------------------------------------------------------------

// One field of each kind; the user codec's field last (it holds the rest of the row).
const char* const every_kind =
    "{bool,u8,i8,u16,i64,u64,f32,f64,f128,enum:u8,str,vec<u8>,arr<u8,2>,vec<str>,arr<i32,2>,opt<u8>,(u8,str),{u8},"
    "dur<i64,1/1000>,time<dur<i64,1/1>>,codec:money}";
const std::vector<std::string> every_name = {"b",  "u8", "i8", "u16", "i64", "u64", "f32", "f64", "ld", "e", "s",
                                             "hx", "ha", "vs", "ai",  "o",   "tu",  "n",   "d",   "tp", "m"};

json_row good_row() {
    return json_row::parse(R"({"b": true, "u8": 255, "i8": -128, "u16": 65535, "i64": -9223372036854775808,
        "u64": 18446744073709551615, "f32": "-Infinity", "f64": "NaN", "ld": 0.5, "e": 200, "s": "x",
        "hx": "00Ff", "ha": "abCD", "vs": ["p", "q"], "ai": [-1, 2147483647], "o": null, "tu": [7, "y"],
        "n": {"f0": 0}, "d": -1500, "tp": 1700000000, "m": {"$codec": "money", "$hex": "0102"}})");
}

TEST_CASE("json errors: a row of every field kind round-trips through its stored bytes", "[json][errors]") {
    const auto t = table_of(every_kind, every_name);
    netabase::detail::buffer b;
    netabase::row_from_json(t, good_row(), b);
    json_row back = netabase::row_to_json(t, b.span());
    // Hex comes back in lowercase, the float specials as their names, the rest as given.
    json_row want = good_row();
    want["hx"] = "00ff";
    want["ha"] = "abcd";
    CHECK(back.dump() == want.dump());
    // An optional that holds a value, and the other float specials, the same way.
    json_row j = good_row();
    j["o"] = 9;
    j["f32"] = "Infinity";
    j["f64"] = -0.25;
    netabase::row_from_json(t, j, b);
    back = netabase::row_to_json(t, b.span());
    CHECK(back["o"] == 9);
    CHECK(back["f32"] == "Infinity");
    CHECK(back["f64"] == -0.25);
    CHECK(back["ld"] == 0.5);
}

TEST_CASE("json errors: integers of a JSON value built in the program (signed) fit unsigned fields and keys",
          "[json][errors]") {
    // nlohmann::json holds an int assigned in C++ as a signed integer, whatever its sign; parsed
    // text holds 9 as unsigned. Both are the number 9.
    const auto t = table_of(every_kind, every_name);
    netabase::detail::buffer parsed, built;
    json_row j = good_row();
    j["u8"] = json_row::parse("9");
    j["u64"] = json_row::parse("9223372036854775807");
    j["e"] = json_row::parse("0");
    netabase::row_from_json(t, j, parsed);
    j["u8"] = 9;
    j["u64"] = std::int64_t{9223372036854775807};
    j["e"] = 0;
    REQUIRE(j["u8"].is_number_integer());
    REQUIRE_FALSE(j["u8"].is_number_unsigned());
    netabase::row_from_json(t, j, built);
    CHECK(bytes_of(built) == bytes_of(parsed));
    j["u8"] = 256;
    auto e = error_of([&] { netabase::row_from_json(t, j, built); });
    CHECK(e.description() == "field 'u8': expected an unsigned 8-bit integer, got 256");
    j["u8"] = -1;
    e = error_of([&] { netabase::row_from_json(t, j, built); });
    CHECK(e.description() == "field 'u8': expected an unsigned 8-bit integer, got -1");
    netabase::key_from_json(stored_type::parse("u32"), json_row(7), built);
    CHECK(bytes_of(built) == netabase::encode_key(std::uint32_t{7}));
}

TEST_CASE("json errors: each field kind refuses JSON of the wrong kind or range, naming the field", "[json][errors]") {
    const auto t = table_of(every_kind, every_name);
    netabase::detail::buffer b;
    {  // sanity: the good row is accepted, so each refusal below is the one changed field's
        netabase::row_from_json(t, good_row(), b);
        REQUIRE(b.size() > 1);
    }
    struct bad_case {
        const char* field;
        const char* value;     // JSON
        const char* message;   // the whole description
    };
    const bad_case cases[] = {
        {"b", "1", "field 'b': expected true or false, got 1"},
        {"b", "null", "field 'b': expected true or false, got null"},
        {"u8", "256", "field 'u8': expected an unsigned 8-bit integer, got 256"},
        {"u8", "-1", "field 'u8': expected an unsigned 8-bit integer, got -1"},
        {"u8", "1.5", "field 'u8': expected an unsigned 8-bit integer, got 1.5"},
        {"u8", "\"7\"", "field 'u8': expected an unsigned 8-bit integer, got \"7\""},
        {"i8", "128", "field 'i8': expected a signed 8-bit integer, got 128"},
        {"i8", "-129", "field 'i8': expected a signed 8-bit integer, got -129"},
        {"u16", "65536", "field 'u16': expected an unsigned 16-bit integer, got 65536"},
        {"i64", "9223372036854775808", "field 'i64': expected a signed 64-bit integer, got 9223372036854775808"},
        {"u64", "-9223372036854775808", "field 'u64': expected an unsigned 64-bit integer, got -9223372036854775808"},
        {"f64", "\"nan\"", "field 'f64': expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got \"nan\""},
        {"f64", "true", "field 'f64': expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got true"},
        {"f32", "[]", "field 'f32': expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got []"},
        {"ld", "\"x\"", "field 'ld': expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got \"x\""},
        {"e", "300", "field 'e': expected an unsigned 8-bit integer, got 300"},
        {"s", "5", "field 's': expected a string, got 5"},
        {"hx", "5", "field 'hx': expected a string of hex digits, got 5"},
        {"hx", "\"abc\"", "field 'hx': a hex string has an odd number of digits"},
        {"hx", "\"0/\"", "field 'hx': '/' is not a hex digit"},
        {"hx", "\":0\"", "field 'hx': ':' is not a hex digit"},
        {"hx", "\"@0\"", "field 'hx': '@' is not a hex digit"},
        {"hx", "\"0G\"", "field 'hx': 'G' is not a hex digit"},
        {"hx", "\"`0\"", "field 'hx': '`' is not a hex digit"},
        {"hx", "\"0g\"", "field 'hx': 'g' is not a hex digit"},
        {"ha", "\"abc\"", "field 'ha': expected 2 bytes in hex, got 3 digits"},
        {"ha", "\"\"", "field 'ha': expected 2 bytes in hex, got 0 digits"},
        {"ha", "[1, 2]", "field 'ha': expected a string of hex digits, got [1,2]"},
        {"vs", "\"p\"", "field 'vs': expected an array, got \"p\""},
        {"vs", "[\"p\", 5]", "field 'vs[1]': expected a string, got 5"},
        {"ai", "[1]", "field 'ai': expected 2 elements, got 1"},
        {"ai", "{}", "field 'ai': expected an array, got {}"},
        {"ai", "[1, 2147483648]", "field 'ai[1]': expected a signed 32-bit integer, got 2147483648"},
        {"o", "256", "field 'o': expected an unsigned 8-bit integer, got 256"},
        {"tu", "[7]", "field 'tu': expected an array of 2 elements, got [7]"},
        {"tu", "{\"a\": 7}", "field 'tu': expected an array of 2 elements, got {\"a\":7}"},
        {"tu", "[7, 8]", "field 'tu[1]': expected a string, got 8"},
        {"n", "5", "field 'n': expected an object, got 5"},
        {"n", "{}", "field 'n.f0': missing"},
        {"n", "{\"f0\": 1, \"zz\": 2}", "field 'n.zz': the table has no such field"},
        {"n", "{\"f0\": -1}", "field 'n.f0': expected an unsigned 8-bit integer, got -1"},
        {"d", "\"1s\"", "field 'd': expected a signed 64-bit integer, got \"1s\""},
        {"tp", "1.5", "field 'tp': expected a signed 64-bit integer, got 1.5"},
        {"m", "5", "field 'm': a user codec's field is {\"$codec\": name, \"$hex\": bytes}, got 5"},
        {"m", "{}", "field 'm': a user codec's field is {\"$codec\": name, \"$hex\": bytes}, got {}"},
        {"m", "{\"$hex\": 12}", "field 'm': a user codec's field is {\"$codec\": name, \"$hex\": bytes}, got {\"$hex\":12}"},
        {"m", "{\"$hex\": \"0x\"}", "field 'm': 'x' is not a hex digit"},
        {"m", "{\"$hex\": \"123\"}", "field 'm': a hex string has an odd number of digits"},
    };
    for (const auto& c : cases) {
        INFO(c.field << " = " << c.value);
        json_row j = good_row();
        j[c.field] = json_row::parse(c.value);
        auto e = error_of([&] { netabase::row_from_json(t, j, b); });
        CHECK(e.code() == netabase::errc::invalid_argument);
        CHECK(e.description() == c.message);
    }
    // The row itself, and a field the table does not have.
    auto e = error_of([&] { netabase::row_from_json(t, json_row::parse("[1]"), b); });
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.description() == "the row: expected an object, got [1]");
    json_row extra = good_row();
    extra["zzz"] = 1;
    // The user codec's field holds the rest of the row, so nothing after it is checked.
    CHECK_NOTHROW(netabase::row_from_json(t, extra, b));
    const auto plain = table_of("{u8,str}", {"a", "z"});
    e = error_of([&] { netabase::row_from_json(plain, json_row::parse(R"({"a": 1, "z": "", "q": 0})"), b); });
    CHECK(e.description() == "field 'q': the table has no such field");
    e = error_of([&] { netabase::row_from_json(plain, json_row::parse(R"({"z": ""})"), b); });
    CHECK(e.description() == "field 'a': missing");
}

TEST_CASE("json errors: stored bytes that do not decode as the row's type are corrupt_value", "[json][errors]") {
    const auto t = table_of("{bool,opt<u8>,vec<u32>,str,vec<u8>}", {"b", "o", "v", "s", "h"});
    netabase::detail::buffer good;
    netabase::row_from_json(t, json_row::parse(R"({"b": false, "o": 3, "v": [1, 2], "s": "ab", "h": "ff"})"), good);
    const std::vector<std::byte> row = bytes_of(good);
    // version | bool | opt tag, u8 | u32 count, 2 x u32 | u32 n, "ab" | u32 n, 0xff
    REQUIRE(row.size() == 1 + 1 + 2 + 4 + 8 + 4 + 2 + 4 + 1);
    auto corrupt = [&](std::vector<std::byte> bytes, const std::string& message) {
        INFO(message);
        auto e = error_of([&] { (void)netabase::row_to_json(t, bytes); });
        CHECK(e.code() == netabase::errc::corrupt_value);
        CHECK(e.description() == message);
    };
    auto with = [&](std::size_t at, std::uint8_t v) {
        auto b = row;
        b[at] = std::byte{v};
        return b;
    };
    corrupt(with(1, 2), "corrupt value: a bool holds 2");
    corrupt(with(2, 7), "corrupt value: an optional's tag holds 7");
    corrupt(with(4, 9), "corrupt value: a length prefix needs 36 bytes, " + std::to_string(row.size() - 8) + " left");
    corrupt(with(16, 200), "corrupt value: a byte run needs 200 bytes, 7 left");
    corrupt(with(22, 5), "corrupt value: a length prefix needs 5 bytes, 1 left");
    // Cut anywhere after the version byte: a read runs past the end.
    for (std::size_t n = 1; n < row.size(); ++n) {
        INFO("cut to " << n << " bytes");
        auto e = error_of([&] { (void)netabase::row_to_json(t, std::vector<std::byte>(row.begin(), row.begin() + n)); });
        CHECK(e.code() == netabase::errc::corrupt_value);
        CHECK(has(e.description(), "needs"));
    }
    auto longer = row;
    longer.push_back(std::byte{0});
    corrupt(longer, "corrupt value: 1 bytes left over after the last field");
    corrupt({}, "corrupt value: an empty value has no encoding version");
    corrupt(with(0, 9), "corrupt value: encoding version 9 is not one this build reads (1)");
    // A user codec's field ends the walk: what follows it is its bytes, whatever they are.
    const auto opaque = table_of("{u8,codec:money,str}", {"a", "m", "z"});
    json_row j = netabase::row_to_json(opaque, hex("0105ffffffffee"));
    CHECK(j.dump() == R"({"a":5,"m":{"$codec":"money","$hex":"ffffffffee"}})");
    // ... also inside a vector, a tuple and an optional: the elements after it are not read.
    const auto nested = table_of("{vec<codec:c>,(codec:c,u8),opt<codec:c>}", {"v", "t", "o"});
    j = netabase::row_to_json(nested, hex("0102000000aabb"));
    CHECK(j.dump() == R"({"v":[{"$codec":"c","$hex":"aabb"}]})");
}

// ---- a user codec's field inside a nested struct -----------------------------------------------

TEST_CASE("json errors: a user codec's value nested in a struct, tuple, array or optional holds the rest both ways",
          "[json][errors]") {
    struct shape {
        const char* fields;
        const char* bytes;  // after the version byte
        const char* json;
    };
    const shape shapes[] = {
        {"{u8,{codec:c,u8},u8}", "05aabbcc", R"({"a":5,"b":{"f0":{"$codec":"c","$hex":"aabbcc"}}})"},
        {"{u8,(codec:c,u8),u8}", "05aabb", R"({"a":5,"b":[{"$codec":"c","$hex":"aabb"}]})"},
        {"{u8,arr<codec:c,3>,u8}", "05aabb", R"({"a":5,"b":[{"$codec":"c","$hex":"aabb"}]})"},
        {"{u8,opt<{u8,codec:c}>,u8}", "050107aabb", R"({"a":5,"b":{"f0":7,"f1":{"$codec":"c","$hex":"aabb"}}})"},
        {"{u8,{u8,{codec:c}},u8}", "050801", R"({"a":5,"b":{"f0":8,"f1":{"f0":{"$codec":"c","$hex":"01"}}}})"},
    };
    for (const auto& s : shapes) {
        INFO(s.fields);
        const auto t = table_of(s.fields, {"a", "b", "z"});
        Bytes row = hex(std::string("01") + s.bytes);
        json_row j = netabase::row_to_json(t, row);
        CHECK(j.dump() == s.json);
        netabase::detail::buffer b;
        netabase::row_from_json(t, j, b);
        CHECK(bytes_of(b) == row);
    }
    // Fewer elements than the array or tuple has, without a user codec's value, is still refused.
    netabase::detail::buffer b;
    auto e = error_of([&] {
        netabase::row_from_json(table_of("{arr<u8,3>}", {"a"}), json_row::parse(R"({"a": "0102"})"), b);
    });
    CHECK(e.description() == "field 'a': expected 3 bytes in hex, got 4 digits");
    e = error_of([&] {
        netabase::row_from_json(table_of("{arr<str,3>}", {"a"}), json_row::parse(R"({"a": ["x", "y"]})"), b);
    });
    CHECK(e.description() == "field 'a': expected 3 elements, got 2");
    e = error_of([&] {
        netabase::row_from_json(table_of("{arr<str,1>}", {"a"}), json_row::parse(R"({"a": ["x", "y"]})"), b);
    });
    CHECK(e.description() == "field 'a': expected 1 elements, got 2");
    e = error_of([&] {
        netabase::row_from_json(table_of("{(str,u8,u8)}", {"a"}), json_row::parse(R"({"a": ["x", 1]})"), b);
    });
    CHECK(e.description() == "field 'a': expected an array of 3 elements, got [\"x\",1]");
    e = error_of([&] {
        netabase::row_from_json(table_of("{(str,u8)}", {"a"}), json_row::parse(R"({"a": ["x", 1, 2]})"), b);
    });
    CHECK(e.description() == "field 'a': expected an array of 2 elements, got [\"x\",1,2]");
}

struct Price {
    Money amount;
    std::string currency;
};

struct Product {
    std::uint64_t id;
    Price price;
    std::string title;
};

constexpr auto netabase_model(netabase::tag<Product>) {
    return netabase::model<Product>("products").field_names("id", "price", "title");
}

TEST_CASE("json errors: a row with a user codec's field inside a nested struct exports and imports back",
          "[json][errors]") {
    using S = netabase::definition<Product>;
    netabase_test::temp_dir a, b;
    std::stringstream out;
    {
        netabase::Store<S> store{a.path()};
        store.write([](auto& txn) {
            auto t = txn.template open_tree<Product>();
            t.put(Product{1, Price{Money{250}, "EUR"}, "pen"});
            t.put(Product{2, Price{Money{-1}, ""}, "cap"});
        });
        CHECK(store.read([&](auto& txn) { return netabase::export_json(txn.template open_tree<Product>(), out); }) == 2);
    }
    // The codec's field holds the rest of the row: its bytes, then the currency and the title.
    std::string first;
    std::getline(std::istringstream(out.str()), first);
    CHECK(first == R"({"id":1,"price":{"f0":{"$codec":"money","$hex":"fa00000000000000030000004555520300000070656e"}}})");
    netabase::Store<S> copy{b.path()};
    std::istringstream in(out.str());
    CHECK(copy.write([&](auto& txn) {
        auto t = txn.template open_tree<Product>();
        return netabase::import_json(t, in);
    }) == 2);
    copy.read([](auto& txn) {
        auto t = txn.template open_tree<Product>();
        auto g = t.get(std::uint64_t{1});
        REQUIRE(g);
        CHECK(g->value().price.amount.cents == 250);
        CHECK(g->value().price.currency == "EUR");
        CHECK(g->value().title == "pen");
        g = t.get(std::uint64_t{2});
        REQUIRE(g);
        CHECK(g->value().price.amount.cents == -1);
        CHECK(g->value().title == "cap");
    });
}

TEST_CASE("json errors: import_json names the table and line for each kind of bad line; the store is unchanged",
          "[json][errors]") {
    using namespace json_models;
    netabase_test::temp_dir dir;
    netabase::Store<Def> store{dir.path()};
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Every>();
        t.put(every(1));
        t.put(every(2));
    });
    std::stringstream out;
    store.read([&](auto& txn) { netabase::export_json(txn.template open_tree<Every>(), out); });
    std::string first, second;
    std::istringstream lines(out.str());
    std::getline(lines, first);
    std::getline(lines, second);
    const json_row row1 = json_row::parse(first);
    auto rows = [&] {
        return store.read([](auto& txn) {
            std::vector<Every> v;
            for (const auto& g : txn.template open_tree<Every>().all()) v.push_back(g.value());
            return v;
        });
    };
    const std::vector<Every> before = rows();
    REQUIRE(before.size() == 2);

    auto refuse = [&](const std::string& text, const std::string& line, const std::string& expect) {
        INFO(text);
        std::istringstream in(text);
        auto e = error_of([&] {
            store.write([&](auto& txn) {
                auto t = txn.template open_tree<Every>();
                t.remove(std::uint64_t{2});  // a change the failed import must not leave behind
                netabase::import_json(t, in);
            });
        });
        CHECK(e.code() == netabase::errc::invalid_argument);
        CHECK(e.table() == "every");
        CHECK(has(e.what(), "import into table 'every', " + line + ": "));
        CHECK(has(e.what(), expect));
        const auto after = rows();
        REQUIRE(after.size() == before.size());
        for (std::size_t i = 0; i < after.size(); ++i) CHECK(same(after[i], before[i]));
    };
    json_row b = row1;
    b["flag"] = "yes";
    refuse("\n \t\r\n" + b.dump() + "\n", "line 3", "field 'flag': expected true or false, got \"yes\"");
    b = row1;
    b["f64"] = "inf";
    refuse(first + "\n" + b.dump(), "line 2", "field 'f64': expected a number");
    b = row1;
    b["others"] = json_row::parse(R"([{"f0": "x", "f1": 1, "f2": 5}])");
    refuse(b.dump(), "line 1", "field 'others[0].f2': expected a string, got 5");
    b = row1;
    b["work"] = json_row::parse(R"({"f0": "x", "f1": 1})");
    refuse(b.dump(), "line 1", "field 'work.f2': missing");
    b = row1;
    b["tuple"] = json_row::parse(R"([1, "x"])");
    refuse(b.dump(), "line 1", "field 'tuple': expected an array of 3 elements");
    b = row1;
    b["triple"] = json_row::parse("[1, 2]");
    refuse(b.dump(), "line 1", "field 'triple': expected 3 elements, got 2");
    b = row1;
    b["ttl"] = -1.5;
    refuse(b.dump(), "line 1", "field 'ttl': expected a signed 64-bit integer, got -1.5");
    refuse("[1, 2]", "line 1", "the row: expected an object, got [1,2]");
    refuse(first + "\n{\"id\": ", "line 2", "not JSON: ");
    refuse("nul", "line 1", "not JSON: ");
}

// ---- keys --------------------------------------------------------------------------------------

TEST_CASE("json errors: keys of every kind go to JSON and back as the key encoding says", "[json][errors]") {
    netabase::detail::buffer b;
    auto round = [&](const char* type, const char* value, std::vector<std::byte> want) {
        INFO(type << " " << value);
        const auto t = stored_type::parse(type);
        netabase::key_from_json(t, json_row::parse(value), b);
        CHECK(bytes_of(b) == want);
        CHECK(netabase::key_to_json(t, b.span()) == json_row::parse(value));
    };
    round("bool", "true", netabase::encode_key(true));
    round("bool", "false", netabase::encode_key(false));
    round("u8", "200", netabase::encode_key(std::uint8_t{200}));
    round("i16", "-300", netabase::encode_key(std::int16_t{-300}));
    round("i64", "-9223372036854775808", netabase::encode_key(std::numeric_limits<std::int64_t>::min()));
    round("u64", "18446744073709551615", netabase::encode_key(std::numeric_limits<std::uint64_t>::max()));
    round("f32", "-1.5", netabase::encode_key(-1.5f));
    round("f32", "2.0", netabase::encode_key(2.0f));
    round("f32", "\"-Infinity\"", netabase::encode_key(-std::numeric_limits<float>::infinity()));
    round("f64", "\"Infinity\"", netabase::encode_key(std::numeric_limits<double>::infinity()));
    round("f64", "-2.5", netabase::encode_key(-2.5));
    round("enum:u8", "7", netabase::encode_key(std::uint8_t{7}));
    round("str", "\"a\\u0000b\"", netabase::encode_key(std::string("a\0b", 3)));
    round("opt<str>", "null", netabase::encode_key(std::optional<std::string>{}));
    round("opt<str>", "\"x\"", netabase::encode_key(std::optional<std::string>{"x"}));
    round("vec<u8>", "\"00ff10\"", netabase::encode_key(std::vector<std::uint8_t>{0x00, 0xff, 0x10}));
    round("vec<u8>", "\"\"", netabase::encode_key(std::vector<std::uint8_t>{}));
    round("vec<i32>", "[-1, 5]", netabase::encode_key(std::vector<std::int32_t>{-1, 5}));
    round("vec<str>", "[]", netabase::encode_key(std::vector<std::string>{}));
    round("arr<u8,3>", "\"0a0b0c\"", netabase::encode_key(std::array<std::uint8_t, 3>{10, 11, 12}));
    round("arr<u16,2>", "[1, 65535]", netabase::encode_key(std::array<std::uint16_t, 2>{1, 65535}));
    round("(u32,str)", "[3, \"z\"]", netabase::encode_key(std::tuple{std::uint32_t{3}, std::string("z")}));
    round("{i8,bool}", "[-1, true]", netabase::encode_key(std::tuple{std::int8_t{-1}, true}));
    round("dur<i64,1/1000>", "-5", netabase::encode_key(std::int64_t{-5}));
    round("time<dur<i64,1/1>>", "12", netabase::encode_key(std::int64_t{12}));
    // -0.0 is stored as +0.0 in a key.
    netabase::key_from_json(stored_type::parse("f64"), json_row(-0.0), b);
    CHECK(bytes_of(b) == netabase::encode_key(0.0));
}

TEST_CASE("json errors: a key part of the wrong kind is invalid_argument naming the part", "[json][errors]") {
    netabase::detail::buffer b;
    auto refuse = [&](const char* type, const char* value, const std::string& message) {
        INFO(type << " " << value);
        const auto t = stored_type::parse(type);
        auto e = error_of([&] { netabase::key_from_json(t, json_row::parse(value), b); });
        CHECK(e.code() == netabase::errc::invalid_argument);
        CHECK(e.description() == message);
    };
    refuse("bool", "0", "the row: expected true or false, got 0");
    refuse("u8", "256", "the row: expected an unsigned 8-bit integer, got 256");
    refuse("u32", "-1", "the row: expected an unsigned 32-bit integer, got -1");
    refuse("i16", "32768", "the row: expected a signed 16-bit integer, got 32768");
    refuse("i16", "-32769", "the row: expected a signed 16-bit integer, got -32769");
    refuse("f64", "\"-inf\"", "the row: expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got \"-inf\"");
    refuse("f32", "null", "the row: expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got null");
    refuse("f128", "1.0", "the row: a long double key cannot be written from JSON");
    refuse("enum:i8", "-200", "the row: expected a signed 8-bit integer, got -200");
    refuse("str", "[]", "the row: expected a string, got []");
    refuse("opt<u8>", "\"a\"", "the row: expected an unsigned 8-bit integer, got \"a\"");
    refuse("vec<u8>", "[1]", "the row: expected a string of hex digits, got [1]");
    refuse("vec<u8>", "\"0\"", "the row: a hex string has an odd number of digits");
    refuse("vec<u8>", "\"0q\"", "the row: 'q' is not a hex digit");
    refuse("arr<u8,2>", "\"00\"", "the row: expected 2 elements, got 1");
    refuse("vec<i32>", "5", "the row: expected an array, got 5");
    refuse("vec<i32>", "[1, \"2\"]", "field '[1]': expected a signed 32-bit integer, got \"2\"");
    refuse("arr<u16,2>", "[1, 2, 3]", "the row: expected 2 elements, got 3");
    refuse("(u32,str)", "[3]", "the row: expected an array of 2 parts, got [3]");
    refuse("(u32,str)", "3", "the row: expected an array of 2 parts, got 3");
    refuse("(u32,str)", "[3, 4]", "field '[1]': expected a string, got 4");
    refuse("{u8,str}", "{\"f0\": 1}", "the row: expected an array of 2 parts, got {\"f0\":1}");
    refuse("codec:money", "{\"$hex\": \"00\"}", "the row: a key of a user codec's type cannot be written from JSON");
}

TEST_CASE("json errors: key bytes that do not decode as the key's type are corrupt_value", "[json][errors]") {
    auto corrupt = [&](const char* type, const std::string& bytes, const std::string& message) {
        INFO(type << " " << bytes);
        const auto t = stored_type::parse(type);
        const auto b = hex(bytes);
        auto e = error_of([&] { (void)netabase::key_to_json(t, b); });
        CHECK(e.code() == netabase::errc::corrupt_value);
        CHECK(e.description() == message);
    };
    corrupt("bool", "02", "corrupt value: a bool key holds 2");
    corrupt("bool", "", "corrupt value: a scalar needs 1 bytes, 0 left");
    corrupt("u32", "000001", "corrupt value: a byte run needs 4 bytes, 3 left");
    corrupt("u16", "000102", "corrupt value: a key has 1 bytes left over");
    corrupt("f128", "00000000000000000000000000000000", "corrupt value: a long double key");
    corrupt("opt<u8>", "0201", "corrupt value: an optional key's tag holds 2");
    corrupt("vec<u8>", "0105" "02", "corrupt value: a vector key has a bad element marker");
    corrupt("vec<u8>", "0105", "corrupt value: a scalar needs 1 bytes, 0 left");
    corrupt("str", "61", "corrupt value: a scalar needs 1 bytes, 0 left");
    corrupt("str", "610005", "corrupt value: a string key has a bad escape");
    corrupt("codec:c", "00", "corrupt value: a key of a user codec's type");
    corrupt("(u8,u8)", "01", "corrupt value: a byte run needs 1 bytes, 0 left");
}

}  // namespace json_errors_test
