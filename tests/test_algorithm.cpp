// detail/algorithm.hpp's sorts (put_many's key order) at their edges and against std's.
#include <netabase/detail/algorithm.hpp>

#include "catch.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace {

struct item {
    std::uint64_t key;
    std::uint32_t at;  // input position: shows whether equal keys kept their order
    bool operator==(const item&) const = default;
};

constexpr item marker{0xDEADBEEFu, 0xFFFFFFFFu};

}  // namespace

// A range of fewer than two elements is sorted already: the sorts return without reading an
// element, a key or the scratch. Before the guard radix_sort read first[0] of an empty range
// (past its end) to test whether a pass could be skipped.
TEST_CASE("algorithm: radix_sort and stable_sort of 0 and 1 elements read nothing and change nothing",
          "[algorithm]") {
    std::size_t keys = 0, compares = 0;
    auto key = [&](const item& x) {
        ++keys;
        return x.key;
    };
    auto less = [&](const item& x, const item& y) {
        ++compares;
        return x.key < y.key;
    };

    // n = 0: an empty vector's null data (put_many of an empty batch), and an empty range
    // inside live memory whose element past the end a read would find.
    std::vector<item> none, scratch_none;
    netabase::detail::radix_sort(none.data(), none.data(), scratch_none.data(), key);
    netabase::detail::stable_sort(none.data(), none.data(), scratch_none.data(), less);
    CHECK(none.empty());
    std::vector<item> beyond{marker};
    std::vector<item> scratch{marker};
    netabase::detail::radix_sort(beyond.data(), beyond.data(), scratch.data(), key);
    netabase::detail::stable_sort(beyond.data(), beyond.data(), scratch.data(), less);
    CHECK(keys == 0);
    CHECK(compares == 0);
    CHECK(beyond == std::vector<item>{marker});
    CHECK(scratch == std::vector<item>{marker});

    // n = 1: the element stays, the scratch is not touched.
    std::vector<item> one{{0x0102030405060708u, 0}};
    netabase::detail::radix_sort(one.data(), one.data() + 1, scratch.data(), key);
    CHECK(one == std::vector<item>{{0x0102030405060708u, 0}});
    netabase::detail::stable_sort(one.data(), one.data() + 1, scratch.data(), less);
    CHECK(one == std::vector<item>{{0x0102030405060708u, 0}});
    CHECK(keys == 0);
    CHECK(compares == 0);
    CHECK(scratch == std::vector<item>{marker});
}

// Both sorts are stable: the same order as std::stable_sort, for sizes around the insertion
// runs (8) and the merge widths, keys spread over every byte and keys repeated.
TEST_CASE("algorithm: radix_sort and stable_sort order as std::stable_sort does", "[algorithm]") {
    for (std::size_t n : {2u, 3u, 7u, 8u, 9u, 16u, 17u, 255u, 256u, 1000u}) {
        INFO("n = " << n);
        std::vector<item> in;
        std::uint64_t x = 0x9E3779B97F4A7C15u;
        for (std::size_t i = 0; i < n; ++i) {
            x ^= x << 13;  // xorshift64: a fixed sequence
            x ^= x >> 7;
            x ^= x << 17;
            const std::uint64_t k = i % 4 == 0 ? (x & 0xff) : (i % 4 == 1 ? x >> 8 : x);  // repeats among the small ones
            in.push_back(item{k, static_cast<std::uint32_t>(i)});
        }
        auto want = in;
        std::stable_sort(want.begin(), want.end(), [](const item& a, const item& b) { return a.key < b.key; });

        auto radix = in;
        std::vector<item> scratch(n);
        netabase::detail::radix_sort(radix.data(), radix.data() + n, scratch.data(), [](const item& e) { return e.key; });
        CHECK(radix == want);

        auto merged = in;
        netabase::detail::stable_sort(merged.data(), merged.data() + n, scratch.data(),
                                      [](const item& a, const item& b) { return a.key < b.key; });
        CHECK(merged == want);
    }
}
