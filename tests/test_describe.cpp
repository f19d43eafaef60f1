// How keys read in error messages: byte sequences in hex, long keys cut to a readable length
// with their size, and the same text in a store's unique_violation and key_too_large errors.
#include "catch.hpp"
#include "errors.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace describe_test {

struct Blob {
    std::vector<std::uint8_t> id;
    std::array<std::byte, 4> tag;  // unique
    std::string body;
};
constexpr auto netabase_model(netabase::tag<Blob>) {
    return netabase::model<Blob>("blobs").primary_key(&Blob::id).secondary_key(&Blob::tag, netabase::unique);
}

struct Point {
    std::int32_t x;
    std::vector<std::byte> raw;
};

using S = netabase::definition<Blob>;
using Store = netabase::Store<S>;
using WTxn = netabase::WriteTransaction<S>;

using netabase_test::has;

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<std::uint8_t> counting(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    std::iota(v.begin(), v.end(), std::uint8_t{0});
    return v;
}

bool valid_utf8(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
        i += n;
    }
    return true;
}

}  // namespace describe_test

using namespace describe_test;
using netabase::detail::describe_key;

TEST_CASE("describe: byte sequences are hex", "[describe][key]") {
    CHECK(describe_key(std::vector<std::uint8_t>{0x00, 0xff, 0x10}) == "0x00ff10");
    CHECK(describe_key(std::vector<std::byte>{std::byte{0xab}, std::byte{0x01}}) == "0xab01");
    CHECK(describe_key(std::array<std::uint8_t, 3>{1, 2, 254}) == "0x0102fe");
    CHECK(describe_key(std::array<std::byte, 2>{std::byte{0}, std::byte{0x7f}}) == "0x007f");
    CHECK(describe_key(std::vector<unsigned char>{0xde, 0xad}) == "0xdead");
    CHECK(describe_key(std::vector<char>{'a', 'b', '\0'}) == "0x616200");  // a buffer; text is std::string
    CHECK(describe_key(std::vector<std::uint8_t>{}) == "0x (empty)");
    // Small numbers stay numbers.
    CHECK(describe_key(std::vector<std::int8_t>{-1, 2}) == "[-1, 2]");
    CHECK(describe_key(std::vector<std::uint16_t>{1, 2}) == "[1, 2]");
    // Inside other keys.
    CHECK(describe_key(std::tuple{std::string("k"), std::vector<std::uint8_t>{0x0f}}) == "(\"k\", 0x0f)");
    CHECK(describe_key(std::optional<std::vector<std::byte>>{std::vector<std::byte>{std::byte{1}}}) == "0x01");
    CHECK(describe_key(Point{-3, {std::byte{0xc0}, std::byte{0xff}}}) == "{-3, 0xc0ff}");
}

TEST_CASE("describe: long keys are cut to a readable length with their size", "[describe][key]") {
    SECTION("bytes") {
        std::string d = describe_key(counting(300));
        INFO(d);
        CHECK(d.rfind("0x000102030405", 0) == 0);
        CHECK(ends_with(d, "... (300 bytes)"));
        CHECK(d.size() <= 90);
    }
    SECTION("bytes that just fit are whole") {
        std::string d = describe_key(counting(31));
        CHECK(d.size() == 2 + 62);
        CHECK(ends_with(d, "1c1d1e"));
    }
    SECTION("a string") {
        std::string d = describe_key(std::string(200, 'x'));
        INFO(d);
        CHECK(ends_with(d, "...\" (200 bytes)"));
        CHECK(d.size() <= 90);
    }
    SECTION("a string is cut between UTF-8 characters") {
        std::string s;
        for (int i = 0; i < 100; ++i) s += "\xc3\xa9";  // é
        for (std::size_t lead = 0; lead < 3; ++lead) {
            std::string d = describe_key(std::string(lead, 'a') + s);
            INFO(d);
            CHECK(valid_utf8(d));
            CHECK(has(d, "bytes)"));
        }
    }
    SECTION("a sequence of numbers stops with its element count") {
        std::vector<std::uint32_t> v(1000);
        std::iota(v.begin(), v.end(), 100000u);
        std::string d = describe_key(v);
        INFO(d);
        CHECK(d.rfind("[100000, 100001, ", 0) == 0);
        CHECK(ends_with(d, ", ... (1000 elements)]"));
        CHECK(d.size() <= 100);
    }
    SECTION("a tuple of long parts") {
        std::string d = describe_key(std::tuple{std::string(100, 'a'), std::string(100, 'b'), counting(100)});
        INFO(d);
        CHECK(ends_with(d, ", ...)"));
        CHECK(!has(d, "bbbbb"));  // the first part used up the room
        CHECK(d.size() <= 110);
    }
    SECTION("a part long by itself") {
        std::string d = describe_key(1e300);
        INFO(d);
        CHECK(has(d, "... ("));
        CHECK(ends_with(d, " characters)"));
        CHECK(d.size() <= 90);
    }
    SECTION("short keys are untouched") {
        CHECK(describe_key(std::string("alice")) == "\"alice\"");
        CHECK(describe_key(std::tuple{3, std::string("x")}) == "(3, \"x\")");
        CHECK(describe_key(std::vector<int>{1, 2, 3}) == "[1, 2, 3]");
    }
}

TEST_CASE("describe: a unique violation on byte keys shows them in hex", "[describe][store]") {
    auto store = Store::temporary();
    store.write([](WTxn& w) {
        w.open_tree<Blob>().put(Blob{{0x00, 0xff, 0x10}, {std::byte{0xca}, std::byte{0xfe}, std::byte{0}, std::byte{1}}, "a"});
    });
    try {
        store.write([](WTxn& w) {
            w.open_tree<Blob>().put(
                Blob{{0x01, 0x02}, {std::byte{0xca}, std::byte{0xfe}, std::byte{0}, std::byte{1}}, "b"});
        });
        FAIL("expected a unique violation");
    } catch (const netabase::error& e) {
        std::string what = e.what();
        INFO(what);
        CHECK(e.code() == netabase::errc::unique_violation);
        CHECK(has(what, "already maps key 0xcafe0001 to the row with key 0x00ff10"));
        CHECK(has(what, "the row with key 0x0102 was not written"));
    }
}

TEST_CASE("describe: key_too_large on a byte key shows its start in hex and its size", "[describe][store]") {
    auto store = Store::temporary();
    try {
        store.write([](WTxn& w) { w.open_tree<Blob>().put(Blob{counting(600), {}, "big"}); });
        FAIL("expected key_too_large");
    } catch (const netabase::error& e) {
        std::string what = e.what();
        INFO(what);
        CHECK(e.code() == netabase::errc::key_too_large);
        CHECK(has(what, "(key 0x000102030405"));
        CHECK(has(what, "... (600 bytes))"));
        CHECK(what.size() < 300);
    }
}
