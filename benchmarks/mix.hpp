// The checksums' mixing function, for netabase_bench (common.hpp) and netabase_ycsb (ycsb.hpp):
// MurmurHash3's 64-bit finalizer. Always inlined, so that it compiles to the same code in every
// engine's translation unit.
#pragma once

#include <cstdint>

namespace bench {

[[gnu::always_inline]] inline std::uint64_t mix(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

}  // namespace bench
