// CRC32C (Castagnoli), the checksum of options::checksum: SSE4.2's crc32 instruction where the
// CPU has it, else a table. Detects every 1-3 bit flip in a value and 1 - 2^-32 of the rest.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace netabase::detail {

inline constexpr std::array<std::uint32_t, 256> crc32c_table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[i] = c;
    }
    return t;
}();

inline std::uint32_t crc32c_portable(const std::byte* p, std::size_t n, std::uint32_t crc) noexcept {
    for (std::size_t i = 0; i < n; ++i) crc = crc32c_table[(crc ^ static_cast<std::uint8_t>(p[i])) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
[[gnu::target("sse4.2")]] inline std::uint32_t crc32c_sse42(const std::byte* p, std::size_t n,
                                                            std::uint32_t crc) noexcept {
    std::uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
    }
    auto c32 = static_cast<std::uint32_t>(c);
    for (; n > 0; --n, ++p) c32 = __builtin_ia32_crc32qi(c32, static_cast<unsigned char>(*p));
    return c32;
}
#endif

inline std::uint32_t crc32c(const std::byte* p, std::size_t n) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    static const bool hardware = __builtin_cpu_supports("sse4.2");
    if (hardware) return ~crc32c_sse42(p, n, ~0u);
#endif
    return ~crc32c_portable(p, n, ~0u);
}

}  // namespace netabase::detail
