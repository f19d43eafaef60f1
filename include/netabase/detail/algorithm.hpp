// The few algorithms the headers use, without <algorithm> (+8.6k preprocessed lines in every
// translation unit with libstdc++ 12, issue #14). Same signatures and results as std's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace netabase::detail {

template <class It, class T>
It find(It first, It last, const T& value) {
    for (; first != last; ++first)
        if (*first == value) break;
    return first;
}

template <class It, class Pred>
bool any_of(It first, It last, Pred pred) {
    for (; first != last; ++first)
        if (pred(*first)) return true;
    return false;
}

template <class It, class T, class Less>
It lower_bound(It first, It last, const T& value, Less less) {
    auto n = last - first;
    while (n > 0) {
        auto half = n / 2;
        It mid = first + half;
        if (less(*mid, value)) {
            first = mid + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return first;
}

// Heapsort: O(n log n) comparisons, in place, not stable (as std::sort).
template <class It, class Less>
void sort(It first, It last, Less less) {
    using std::swap;
    auto n = last - first;
    auto sift = [&](decltype(n) root, decltype(n) end) {
        for (;;) {
            auto child = 2 * root + 1;
            if (child >= end) return;
            if (child + 1 < end && less(first[child], first[child + 1])) ++child;
            if (!less(first[root], first[child])) return;
            swap(first[root], first[child]);
            root = child;
        }
    };
    for (auto i = n / 2; i-- > 0;) sift(i, n);
    for (auto end = n; end-- > 1;) {
        swap(first[0], first[end]);
        sift(0, end);
    }
}

// Merge sort of trivially copyable elements: stable (equal elements keep their order), about
// n log n comparisons; scratch holds n elements. Runs of 8 are insertion-sorted first, then
// merged bottom-up.
template <class T, class Less>
void stable_sort(T* first, T* last, T* scratch, Less less) {
    const auto n = static_cast<std::size_t>(last - first);
    if (n < 2) return;  // already sorted; scratch may be empty
    constexpr std::size_t run = 8;
    for (std::size_t lo = 0; lo < n; lo += run) {
        const std::size_t hi = lo + run < n ? lo + run : n;
        for (std::size_t i = lo + 1; i < hi; ++i) {
            T x = first[i];
            std::size_t j = i;
            for (; j > lo && less(x, first[j - 1]); --j) first[j] = first[j - 1];
            first[j] = x;
        }
    }
    T* from = first;
    T* to = scratch;
    for (std::size_t width = run; width < n; width *= 2) {
        for (std::size_t lo = 0; lo < n; lo += 2 * width) {
            const std::size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            std::size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (less(from[j], from[i]))
                    to[k++] = from[j++];
                else
                    to[k++] = from[i++];
            }
            while (i < mid) to[k++] = from[i++];
            while (j < hi) to[k++] = from[j++];
        }
        std::swap(from, to);
    }
    if (from != first)
        for (std::size_t i = 0; i < n; ++i) first[i] = from[i];
}

// LSD radix sort by a 64-bit key, a byte per pass: stable, 8 reads and writes of each element
// at most (a byte that every element shares skips its pass); scratch holds n elements.
template <class T, class Key>
void radix_sort(T* first, T* last, T* scratch, Key key) {
    const auto n = static_cast<std::size_t>(last - first);
    if (n < 2) return;  // the pass skip below reads first[0]
    std::size_t count[8][256] = {};
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t k = key(first[i]);
        for (int b = 0; b < 8; ++b) ++count[b][(k >> (8 * b)) & 0xff];
    }
    T* from = first;
    T* to = scratch;
    for (int b = 0; b < 8; ++b) {
        std::size_t* c = count[b];
        if (c[(key(from[0]) >> (8 * b)) & 0xff] == n) continue;  // every element has this byte
        std::size_t sum = 0;
        for (std::size_t& x : count[b]) {
            std::size_t here = x;
            x = sum;
            sum += here;
        }
        for (std::size_t i = 0; i < n; ++i) to[c[(key(from[i]) >> (8 * b)) & 0xff]++] = from[i];
        std::swap(from, to);
    }
    if (from != first)
        for (std::size_t i = 0; i < n; ++i) first[i] = from[i];
}

template <class It, class Eq>
It unique(It first, It last, Eq eq) {
    if (first == last) return last;
    It out = first;
    for (It it = first; ++it != last;)
        if (!eq(*out, *it)) *++out = std::move(*it);
    return ++out;
}

}  // namespace netabase::detail
