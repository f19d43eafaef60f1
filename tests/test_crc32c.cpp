// CRC32C against published known answers (RFC 3720, appendix B.4, and the common "123456789"
// check value), for the table code every machine without SSE4.2 runs and for the instruction
// path, so that neither can drift from the standard while agreeing with the other.
#include <netabase/netabase.hpp>

#include "catch.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The tests of the instruction path need a CPU that has it: without, they fail and say so
// (every x86-64 CPU since 2008 has SSE4.2).
bool has_sse42() {
    const bool yes = __builtin_cpu_supports("sse4.2");
    if (!yes) UNSCOPED_INFO("this CPU has no SSE4.2: the crc32 instruction path cannot be tested here");
    return yes;
}
#endif

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
        REQUIRE(has_sse42());
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The two paths on random bytes of random lengths (0 to 3000: the 8-byte loop, the byte tail,
// and both) at every alignment of the start (0 to 15 bytes into a buffer), from random
// starting values, and continued across a random split, as a caller feeding pieces would.
TEST_CASE("crc32c: the table and the SSE4.2 instruction agree on random inputs, lengths and alignments",
          "[codec][crc32c]") {
    REQUIRE(has_sse42());
    std::mt19937_64 rng(0x5eed'c32cULL);  // fixed: a failure is reproducible
    std::vector<std::byte> buffer(3000 + 16);
    std::size_t cases = 0, differ = 0;
    for (int round = 0; round < 4000; ++round) {
        for (auto& b : buffer) b = std::byte(static_cast<unsigned char>(rng()));
        const std::size_t offset = rng() % 16;
        const std::size_t n = round < 64 ? static_cast<std::size_t>(round) : rng() % 3001;  // every short length too
        const auto start = static_cast<std::uint32_t>(rng());
        const std::byte* p = buffer.data() + offset;
        const std::uint32_t table = netabase::detail::crc32c_portable(p, n, start);
        const std::uint32_t hw = netabase::detail::crc32c_sse42(p, n, start);
        const std::size_t cut = n ? rng() % (n + 1) : 0;
        const std::uint32_t hw_split =
            netabase::detail::crc32c_sse42(p + cut, n - cut, netabase::detail::crc32c_sse42(p, cut, start));
        const std::uint32_t table_split =
            netabase::detail::crc32c_portable(p + cut, n - cut, netabase::detail::crc32c_portable(p, cut, start));
        ++cases;
        if (table != hw || hw_split != hw || table_split != table) {
            ++differ;
            UNSCOPED_INFO("round " << round << ": " << n << " bytes at offset " << offset << ", start 0x" << std::hex
                                   << start << ", split at " << std::dec << cut << ": table 0x" << std::hex << table
                                   << ", sse4.2 0x" << hw << ", split 0x" << hw_split << "/0x" << table_split
                                   << std::dec);
        }
    }
    CHECK(cases == 4000);
    CHECK(differ == 0);
    // And the dispatching function, which a store calls, agrees with the table.
    for (std::size_t n = 0; n < 100; ++n)
        CHECK(netabase::detail::crc32c(buffer.data() + n % 16, n) ==
              ~netabase::detail::crc32c_portable(buffer.data() + n % 16, n, ~0u));
}
#endif
