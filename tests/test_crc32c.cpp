// CRC32C against published known answers (RFC 3720, appendix B.4, and the common "123456789"
// check value), for the table code every machine without SSE4.2 runs and for the instruction
// path, so that neither can drift from the standard while agreeing with the other.
#include <netabase/netabase.hpp>

#include "catch.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace {

struct vector_case {
    const char* name;
    std::vector<std::byte> bytes;
    std::uint32_t crc;
};

std::vector<vector_case> known_answers() {
    std::vector<vector_case> out;
    out.push_back({"32 zero bytes", std::vector<std::byte>(32, std::byte{0}), 0x8A9136AAu});
    out.push_back({"32 0xff bytes", std::vector<std::byte>(32, std::byte{0xff}), 0x62A8AB43u});
    std::vector<std::byte> up, down;
    for (int i = 0; i < 32; ++i) {
        up.push_back(std::byte(i));
        down.push_back(std::byte(31 - i));
    }
    out.push_back({"0..31", up, 0x46DD794Eu});
    out.push_back({"31..0", down, 0x113FDB5Cu});
    std::string_view check = "123456789";
    out.push_back({"123456789", {reinterpret_cast<const std::byte*>(check.data()),
                                 reinterpret_cast<const std::byte*>(check.data()) + check.size()},
                   0xE3069283u});
    out.push_back({"empty", {}, 0x00000000u});
    return out;
}

}  // namespace

TEST_CASE("crc32c: the table code gives the published check values", "[codec][crc32c]") {
    for (const auto& c : known_answers()) {
        INFO(c.name);
        CHECK(~netabase::detail::crc32c_portable(c.bytes.data(), c.bytes.size(), ~0u) == c.crc);
    }
}

TEST_CASE("crc32c: the SSE4.2 path and the dispatching function give them too", "[codec][crc32c]") {
    for (const auto& c : known_answers()) {
        INFO(c.name);
        CHECK(netabase::detail::crc32c(c.bytes.data(), c.bytes.size()) == c.crc);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (__builtin_cpu_supports("sse4.2"))
            CHECK(~netabase::detail::crc32c_sse42(c.bytes.data(), c.bytes.size(), ~0u) == c.crc);
#endif
    }
    // Every split of a longer input (the 8-byte loop and the byte tail) agrees with the table.
    std::vector<std::byte> long_input;
    for (int i = 0; i < 1000; ++i) long_input.push_back(std::byte(i * 7 + 3));
    for (std::size_t n = 0; n <= long_input.size(); n += 13)
        CHECK(netabase::detail::crc32c(long_input.data(), n) ==
              ~netabase::detail::crc32c_portable(long_input.data(), n, ~0u));
}

namespace crc_test {
struct Tiny {
    std::uint32_t id;
    std::string s;
};
}  // namespace crc_test

TEST_CASE("crc32c: a checksummed value ends in the known CRC of its bytes", "[codec][crc32c]") {
    netabase::detail::buffer b;
    netabase::detail::encode_row(b, crc_test::Tiny{1, "123456789"}, true);
    // version byte with the checksum flag, u32 id, u32 length, the string, then the CRC.
    std::vector<std::byte> body{std::byte{0x81}, std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0},
                                std::byte{9},    std::byte{0}, std::byte{0}, std::byte{0}};
    for (char ch : std::string_view("123456789")) body.push_back(std::byte(ch));
    REQUIRE(b.size() == body.size() + 4);
    CHECK(std::equal(body.begin(), body.end(), b.span().begin()));
    std::uint32_t stored = netabase::detail::load_le<std::uint32_t>(b.data() + body.size());
    CHECK(stored == ~netabase::detail::crc32c_portable(body.data(), body.size(), ~0u));
}
