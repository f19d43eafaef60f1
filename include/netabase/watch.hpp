// Watching changes: Watcher<M> (store.watch<M>(...)) hands out each committed change to M's
// table once, in commit order; the change log (options{.change_log = true}) keeps them durably,
// read with txn.changes_since(seq).
#pragma once

#include "netabase/codec.hpp"
#include "netabase/detail/changes.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/error.hpp"
#include "netabase/key.hpp"
#include "netabase/lmdb.hpp"  // Store, declared with its default backend
#include "netabase/model.hpp"

#include <array>
#if __has_include(<bits/chrono.h>)  // libstdc++: durations and clocks without <chrono>'s I/O (issue #14)
#include <bits/chrono.h>
#else
#include <chrono>
#endif
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#if __has_include(<bits/ranges_util.h>)  // libstdc++: view_interface without the views of <ranges> (issue #14)
#include <bits/ranges_util.h>
#else
#include <ranges>
#endif
#include <span>
#include <string>
#include <string_view>

namespace netabase {

namespace detail {

// The position of M's secondary key declared on `field`, or index_count.
template <class M, class T>
std::size_t member_position(T M::*field) {
    std::size_t pos = model_traits<M>::index_count;
    for_each_secondary<M>([&](const auto& sec, auto i) {
        if constexpr (std::is_same_v<std::remove_cv_t<decltype(sec.key)>, member_key<M, T>>)
            if (pos == model_traits<M>::index_count && sec.key.member == field) pos = decltype(i)::value;
    });
    return pos;
}

// The position of the secondary key whose extractor has type Adapter, or index_count.
template <class M, class Adapter>
constexpr std::size_t computed_position() {
    std::size_t pos = model_traits<M>::index_count;
    for_each_secondary<M>([&](const auto& sec, auto i) {
        if (pos == model_traits<M>::index_count && std::is_same_v<std::remove_cv_t<decltype(sec.key)>, Adapter>)
            pos = decltype(i)::value;
    });
    return pos;
}

// Whether a stored row of M has `key` (encoded) under secondary key I.
template <class M, std::size_t I>
bool row_has_key(std::span<const std::byte> row, std::span<const std::byte> key) {
    M m = decode_row_new<M>(row);
    bool found = false;
    buffer b;
    for_each_key(std::get<I>(model_traits<M>::decl.secondaries), m, [&](const auto& k) {
        b.clear();
        encode_key(b, k);
        if (compare(b.span(), key) == 0) found = true;
    });
    return found;
}

template <class M>
auto row_has_key_at(std::size_t pos) {
    using fn = bool (*)(std::span<const std::byte>, std::span<const std::byte>);
    static constexpr auto table = []<std::size_t... I>(std::index_sequence<I...>) {
        return std::array<fn, sizeof...(I)>{&row_has_key<M, I>...};
    }(std::make_index_sequence<model_traits<M>::index_count>{});
    return table[pos];
}

}  // namespace detail

// One committed change to a row of M.
template <class M>
struct Change {
    change_kind kind = change_kind::insert;
    detail::key_of<M> key{};
    std::optional<M> row;        // the row as committed; nullopt for a remove
    std::uint64_t sequence = 0;  // strictly increasing; a commit's changes are consecutive
};

// A stream of changes to one table (or to the rows with one index value). Movable; create,
// read and destroy it on any thread. It holds at most options::watch_capacity changes: one
// that falls further behind gets what it holds, then errc::watch_overflow saying how many it
// missed, then the changes after those. A watcher outliving its store returns what it holds,
// then nullopt.
template <class M>
class Watcher {
public:
    Watcher(Watcher&&) noexcept = default;
    Watcher& operator=(Watcher&& o) noexcept {
        if (this != &o) {
            detach();
            q_ = std::move(o.q_);
            env_ = std::move(o.env_);
        }
        return *this;
    }
    ~Watcher() { detach(); }

    // The next change, waiting up to `timeout`; nullopt if none came in time.
    template <class Rep, class Period>
    std::optional<Change<M>> next(std::chrono::duration<Rep, Period> timeout) {
        std::unique_lock lock(q_->mu);
        q_->cv.wait_for(lock, timeout, [&] { return !q_->items.empty() || q_->missed > 0 || q_->closed; });
        return take(lock);
    }

    // The next change if one is there, without waiting.
    std::optional<Change<M>> try_next() {
        std::unique_lock lock(q_->mu);
        return take(lock);
    }

private:
    template <class, class>
    friend class Store;

    Watcher(std::shared_ptr<detail::watch_queue> q, std::weak_ptr<detail::environment> env)
        : q_(std::move(q)), env_(std::move(env)) {}

    std::optional<Change<M>> take(std::unique_lock<std::mutex>& lock) {
        if (q_->items.empty()) {
            if (q_->missed == 0) return std::nullopt;
            std::uint64_t n = std::exchange(q_->missed, 0);
            lock.unlock();
            throw error(errc::watch_overflow,
                        "watcher of table '" + q_->table + "' fell behind and missed " + std::to_string(n) +
                            " changes (it holds " + std::to_string(q_->capacity) +
                            "; options::watch_capacity sets that); it goes on with the changes after them",
                        q_->table);
        }
        detail::queued_change c = std::move(q_->items.front());
        q_->items.pop_front();
        lock.unlock();
        Change<M> out;
        out.kind = c.kind;
        out.sequence = c.sequence;
        out.key = detail::decode_key_bytes<detail::key_of<M>>(c.pk);
        if (c.has_row) out.row = detail::decode_row_new<M>(c.row);
        return out;
    }

    void detach() noexcept {
        if (!q_) return;
        if (auto env = env_.lock())
            if (auto* hub = detail::watch_hub::find(*env)) hub->remove(q_.get());
        q_.reset();
    }

    std::shared_ptr<detail::watch_queue> q_;
    std::weak_ptr<detail::environment> env_;
};

// One entry of the durable change log: valid while its transaction is open.
struct change_entry {
    std::uint64_t sequence = 0;
    std::string_view table;
    change_kind kind = change_kind::insert;
    std::span<const std::byte> key_bytes;  // the primary key, encoded

    template <class M>
    detail::key_of<M> key() const {
        return detail::decode_key_bytes<detail::key_of<M>>(key_bytes);
    }
};

// The log after a sequence, oldest first (txn.changes_since(seq)).
class change_log_range : public std::ranges::view_interface<change_log_range> {
public:
    class iterator {
    public:
        using value_type = change_entry;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() = default;
        const change_entry& operator*() const noexcept { return e_; }
        const change_entry* operator->() const noexcept { return &e_; }
        iterator& operator++() { return advance(); }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.done_; }

    private:
        friend class change_log_range;
        iterator(MDB_txn* txn, MDB_dbi log, std::uint64_t after) : cur_(std::make_shared<detail::cursor>(txn, log)) {
            MDB_val k, v;
            if (after == ~std::uint64_t{0} || !detail::seek_log(*cur_, after + 1, k, v)) return;
            open_block(k, v);
            while (!done_ && e_.sequence <= after) ++*this;
        }
        iterator& advance() {
            detail::log_entry_view e;
            while (!block_.next(e)) {
                MDB_val k, v;
                if (!cur_->move(k, v, MDB_NEXT)) {
                    done_ = true;
                    return *this;
                }
                if (!block_.open(k, v)) throw error(errc::corrupt_value, "an entry of the change log does not decode");
            }
            e_ = change_entry{e.sequence, e.table, e.kind, e.pk};
            return *this;
        }
        void open_block(const MDB_val& k, const MDB_val& v) {
            if (!block_.open(k, v)) throw error(errc::corrupt_value, "an entry of the change log does not decode");
            done_ = false;
            advance();
        }
        std::shared_ptr<detail::cursor> cur_;
        detail::log_block block_;
        change_entry e_;
        bool done_ = true;
    };

    change_log_range(MDB_txn* txn, MDB_dbi log, std::uint64_t after) : txn_(txn), log_(log), after_(after) {}
    iterator begin() const { return iterator(txn_, log_, after_); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    MDB_txn* txn_;
    MDB_dbi log_;
    std::uint64_t after_;
};

inline change_log_range lmdb::changes_since(const txn& core, std::uint64_t seq) {
    MDB_txn* t = core.live();
    detail::watch_hub* hub = detail::watch_hub::find(*core.env);
    if (!hub || !hub->has_log())
        throw error(errc::invalid_argument, "changes_since: the store at " + core.env->path().string() +
                                                " has no change log; open it with options{.change_log = true}");
    std::uint64_t trimmed = detail::log_trimmed(t, hub->meta_dbi());
    return change_log_range(t, hub->log_dbi(), seq > trimmed ? seq : trimmed);
}

}  // namespace netabase
