// The few algorithms the headers use, without <algorithm> (+8.6k preprocessed lines in every
// translation unit with libstdc++ 12, issue #14). Same signatures and results as std's.
#pragma once

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

template <class It, class Eq>
It unique(It first, It last, Eq eq) {
    if (first == last) return last;
    It out = first;
    for (It it = first; ++it != last;)
        if (!eq(*out, *it)) *++out = std::move(*it);
    return ++out;
}

}  // namespace netabase::detail
