// Two small containers instead of <map> and <deque> (+5.5k preprocessed lines in every
// translation unit with libstdc++ 12, issue #14). They hold a handful of entries (databases and
// tables of a store, environments of a process) or a queue, and only on cold or locked paths.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace netabase::detail {

// The part of std::map the headers use: find, operator[], end; entries unordered, found by ==.
template <class K, class V>
class flat_map {
public:
    using value_type = std::pair<K, V>;
    using iterator = typename std::vector<value_type>::iterator;
    using const_iterator = typename std::vector<value_type>::const_iterator;

    iterator begin() noexcept { return items_.begin(); }
    iterator end() noexcept { return items_.end(); }
    const_iterator begin() const noexcept { return items_.begin(); }
    const_iterator end() const noexcept { return items_.end(); }
    std::size_t size() const noexcept { return items_.size(); }

    iterator find(const K& k) {
        auto it = items_.begin();
        while (it != items_.end() && !(it->first == k)) ++it;
        return it;
    }
    const_iterator find(const K& k) const {
        auto it = items_.begin();
        while (it != items_.end() && !(it->first == k)) ++it;
        return it;
    }
    V& operator[](const K& k) {
        auto it = find(k);
        if (it != items_.end()) return it->second;
        return items_.emplace_back(k, V{}).second;
    }

private:
    std::vector<value_type> items_;
};

// The part of std::deque the watch queue uses: push_back at the end, front and pop_front at
// the start, in amortised constant time (the taken prefix is dropped once it is half the store).
template <class T>
class fifo {
public:
    bool empty() const noexcept { return head_ == items_.size(); }
    std::size_t size() const noexcept { return items_.size() - head_; }
    void push_back(T&& v) { items_.push_back(std::move(v)); }
    T& front() noexcept { return items_[head_]; }
    void pop_front() {
        ++head_;
        if (head_ == items_.size()) {
            items_.clear();
            head_ = 0;
        } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }

private:
    std::vector<T> items_;
    std::size_t head_ = 0;
};

}  // namespace netabase::detail
