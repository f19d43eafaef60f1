// Tree<M>: one model's table and its secondary indexes, seen through one transaction.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/codec.hpp"
#include "netabase/detail/algorithm.hpp"
#include "netabase/detail/changes.hpp"
#include "netabase/detail/buffer.hpp"
#include "netabase/detail/lifetime.hpp"
#include "netabase/error.hpp"
#include "netabase/guard.hpp"
#include "netabase/key.hpp"
#include "netabase/lmdb.hpp"  // the default backend: the storage calls below go through B
#include "netabase/model.hpp"
#include "netabase/position.hpp"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#if __has_include(<bits/ranges_util.h>)  // libstdc++: view_interface without the views of <ranges> (issue #14)
#include <bits/ranges_util.h>
#else
#include <ranges>
#endif
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace netabase {

enum class access { read, write };

namespace detail {

// What a lookup takes for a key type: string keys accept anything string-like without a copy.
template <class K>
using lookup_t = std::conditional_t<std::is_same_v<K, std::string>, std::string_view, K>;

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_key_too_large(std::size_t size, std::size_t max,
                                                                       const std::string& table,
                                                                       const std::string* index,
                                                                       const std::string& key) {
    std::string msg = "key too large: ";
    msg += index ? "secondary key of index '" + *index + "' in table '" + table + "'"
                 : "primary key of table '" + table + "'";
    msg +=
        " encodes to " + std::to_string(size) + " bytes; LMDB's limit is " + std::to_string(max) + " (key " + key + ")";
    throw error(errc::key_too_large, msg, table, index ? *index : std::string());
}

// Whether a key extractor is a plain field of the model (so a View can read it).
template <class S>
inline constexpr bool is_member_key_v = false;
template <class M, class T>
inline constexpr bool is_member_key_v<member_key<M, T>> = true;

// A row's primary key bytes as text for a message.
template <class M>
[[gnu::cold, gnu::noinline]] std::string describe_row_key(std::span<const std::byte> pk) {
    std::string k;
    try {
        describe_key(k, decode_key_bytes<key_of<M>>(pk));
    } catch (const error&) {
        k = "<" + std::to_string(pk.size()) + " undecodable bytes>";
    }
    return k;
}

enum class upper_kind : unsigned char { none, before, prefix };

// A cursor walk over one database: its bounds, its direction, and whether its entries are
// index entries whose values are primary keys to look up.
struct scan_spec {
    unsigned dbi = 0;  // B::space
    unsigned primary = 0;
    bool through_index = false;
    bool reverse = false;
    bool empty = false;  // a bound too large to be stored: nothing can match
    bool dups = false;   // the duplicates of key lo in a DUPSORT database: MDB_SET, then MDB_NEXT_DUP
    bool has_lo = false;
    upper_kind upper = upper_kind::none;
    key_bytes lo;  // keys >= lo
    key_bytes hi;  // keys < hi (before) or keys starting with hi (prefix)
};

// The smallest byte string greater than every string that starts with p; false if none.
inline bool prefix_successor(const key_bytes& p, key_bytes& out) noexcept {
    out = p;
    while (out.size > 0 && out.data[out.size - 1] == std::byte{0xff}) --out.size;
    if (out.size == 0) return false;
    out.data[out.size - 1] = std::byte(static_cast<unsigned char>(out.data[out.size - 1]) + 1);
    return true;
}

// Where a tree or an index is: what a Rows needs besides its bounds.
template <class B>
struct scan_source {
    typename B::txn* core = nullptr;
    const std::string* table = nullptr;
    unsigned dbi = 0;  // B::space
    unsigned primary = 0;
    bool through_index = false;
    const index_state* index = nullptr;  // nullptr for the primary key

    // A non-unique index: its entries are (key, primary key), LMDB duplicates.
    bool dupsort() const noexcept { return index && !index->unique; }
    std::string index_name() const { return index ? index->name : std::string(); }
};

}  // namespace detail

template <class M, access A = access::read, class B = lmdb>
class Tree;
template <class M, class K, access A = access::read, class B = lmdb>
class Index;

// One page of a scan (Rows::page): up to `limit` rows, and where the next page starts when at
// least one more row follows. The guards are valid while their transaction is open (in a write
// transaction, until its next write); `next` is owned bytes and outlives it, to resume the
// same scan in a later transaction: `rows.after(*page.next).page(limit)`.
template <class M>
struct Page {
    std::vector<Guard<M>> rows;
    std::optional<position> next;
};

// Rows of one scan, in key order (or reversed): an input range whose iterator owns an LMDB
// cursor. The iterator reads its bounds from the Rows: keep the Rows alive while iterating
// (a range-for over `tree.range(a, b)` does).
template <class M, class B = lmdb>
class Rows : public std::ranges::view_interface<Rows<M, B>> {
    using val_t = typename B::val;
    using handle_t = typename B::handle;
    using core_t = typename B::txn;
    using cursor_t = typename B::cursor;
    using cursor_op_t = typename B::cursor_op;

public:
    class iterator {
    public:
        using value_type = Guard<M>;
        using reference = Guard<M>;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() = default;
        iterator(iterator&&) noexcept = default;
        iterator& operator=(iterator&&) noexcept = default;

        Guard<M> operator*() const {
            life_.check_fresh("a netabase::Rows iterator");
            return Guard<M>(key_, row_, table_, life_);
        }
        iterator& operator++() {
            life_.check_open("a netabase::Rows iterator");
            val_t k, v;
            settle(cur_.move(k, v, step_), k, v);
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.done_; }

        // Where the current row is, as bytes to store: `rows.after(it.position())` (in this or
        // a later transaction) resumes the same scan strictly after this row. For an index
        // scan it is the entry's index key and, for a non-unique index, the row's primary key.
        // One allocation; an iterator at its end has no position (errc::invalid_argument).
        netabase::position position() const {
            life_.check_fresh("a netabase::Rows iterator");
            if (done_) [[unlikely]]
                throw error(errc::invalid_argument,
                            "position() of a netabase::Rows iterator at its end, on " +
                                detail::position_where(*table_, index_ ? index_->name : std::string()),
                            *table_, index_ ? index_->name : std::string());
            return position_of(ikey_, key_);
        }

    private:
        friend class Rows;
        template <class, access, class>
        friend class Tree;
        template <class, class, access, class>
        friend class Index;

        // Copies what it needs of `spec` except the bounds, which it reads through pointers:
        // a spec with bounds must outlive the iterator.
        iterator(const detail::scan_source<B>& src, const detail::scan_spec& spec)
            : core_(src.core),
              table_(src.table),
              index_(src.index),
              primary_(spec.primary),
              through_index_(spec.through_index),
              reverse_(spec.reverse),
              has_lo_(spec.has_lo),
              upper_(spec.upper),
              lo_(&spec.lo),
              hi_(&spec.hi),
              check_(spec.dups ? bound_check::none : check_of(spec)),
              step_(spec.dups ? (spec.reverse ? B::op::prev_dup : B::op::next_dup) : (spec.reverse ? B::op::prev : B::op::next)),
              life_(detail::stamp::of(src.core->life)) {
            src.core->live();
            if (spec.empty) return;
            cur_ = cursor_t(core_, spec.dbi);
            val_t k{}, v{};
            settle(start(k, v), k, v);
        }
        // A walk from strictly after `at`, which must outlive the iterator too (Rows::after).
        // The members as above (kept apart so that the plain constructor stays as it was).
        iterator(const detail::scan_source<B>& src, const detail::scan_spec& spec, const detail::resume_key& at)
            : iterator(src, spec, unstarted{}) {
            if (cur_) resume(at);
        }
        struct unstarted {};
        iterator(const detail::scan_source<B>& src, const detail::scan_spec& spec, unstarted)
            : core_(src.core),
              table_(src.table),
              index_(src.index),
              primary_(spec.primary),
              through_index_(spec.through_index),
              reverse_(spec.reverse),
              has_lo_(spec.has_lo),
              upper_(spec.upper),
              lo_(&spec.lo),
              hi_(&spec.hi),
              check_(spec.dups ? bound_check::none : check_of(spec)),
              step_(spec.dups ? (spec.reverse ? B::op::prev_dup : B::op::next_dup) : (spec.reverse ? B::op::prev : B::op::next)),
              life_(detail::stamp::of(src.core->life)) {
            src.core->live();
            if (!spec.empty) cur_ = cursor_t(core_, spec.dbi);
        }

        bool dupsort() const noexcept { return index_ && !index_->unique; }

        bool dup_walk() const noexcept { return step_ == B::op::next_dup || step_ == B::op::prev_dup; }

        bool start(val_t& k, val_t& v) {
            if (dup_walk()) {
                k = B::to_val(lo_->span());
                if (!cur_.move(k, v, B::op::set_key)) return false;
                return step_ == B::op::next_dup || cur_.move(k, v, B::op::last_dup);
            }
            if (!reverse_) {
                if (!has_lo_) return cur_.move(k, v, B::op::first);
                k = B::to_val(lo_->span());
                return cur_.move(k, v, B::op::set_range);
            }
            detail::key_bytes above;  // the first key past the range, if any
            if (!key_above(above)) return cur_.move(k, v, B::op::last);
            k = B::to_val(above.span());
            if (cur_.move(k, v, B::op::set_range)) return cur_.move(k, v, B::op::prev);
            return cur_.move(k, v, B::op::last);
        }

        // The smallest key above every key of the range; false when the range runs to the end.
        bool key_above(detail::key_bytes& above) const noexcept {
            if (upper_ == detail::upper_kind::before) {
                above = *hi_;
                return true;
            }
            if (upper_ == detail::upper_kind::prefix) return detail::prefix_successor(*hi_, above);
            return false;
        }

        // The first entry of the walk strictly after entry `at` (a key, and for a non-unique
        // index a primary key too) in its direction; where `at` lies before the walk's start,
        // the walk's start. The bound the walk runs towards is settle()'s to check, as ever.
        // Out of line, and its cursor moves too: once per resumed scan, and kept out of the
        // inlining budget of the code around scans.
        [[gnu::cold, gnu::noinline]] void resume(const detail::resume_key& at) {
            val_t k{}, v{};
            settle(start_after(at, k, v), k, v);
        }
        [[gnu::noinline]] bool cold_move(val_t& k, val_t& v, cursor_op_t op) { return cur_.move(k, v, op); }
        [[gnu::noinline]] bool cold_start(val_t& k, val_t& v) { return start(k, v); }

        bool start_after(const detail::resume_key& at, val_t& k, val_t& v) {
            const auto key = at.key();
            if (dup_walk()) {  // the duplicates of one key: only `at` with that key splits them
                int c = detail::compare(key, lo_->span());
                if (reverse_ ? c > 0 : c < 0) return cold_start(k, v);
                if (c != 0) return false;
                if (!reverse_) return after_entry(at, k, v, B::op::next_dup);
                k = B::to_val(key);
                v = B::to_val(at.pk());
                if (cold_move(k, v, B::op::get_both_range)) return cold_move(k, v, B::op::prev_dup);
                k = B::to_val(key);  // every duplicate is below at.pk(): the last one
                return cold_move(k, v, B::op::set_key) && cold_move(k, v, B::op::last_dup);
            }
            if (!reverse_) {
                if (has_lo_ && detail::compare(key, lo_->span()) < 0) return cold_start(k, v);
                return after_entry(at, k, v, B::op::next);
            }
            detail::key_bytes above;
            if (key_above(above) && detail::compare(key, above.span()) >= 0) return cold_start(k, v);
            return before_entry(at, k, v);
        }

        // The first entry > at; `next` steps off an entry equal to it (MDB_NEXT, or MDB_NEXT_DUP
        // within one key's duplicates, where there is nothing beyond them).
        bool after_entry(const detail::resume_key& at, val_t& k, val_t& v, cursor_op_t next) {
            const auto key = at.key();
            if (dupsort()) {
                k = B::to_val(key);
                v = B::to_val(at.pk());
                if (cold_move(k, v, B::op::get_both_range)) {  // the first duplicate >= at.pk()
                    if (detail::compare(B::to_span(v), at.pk()) == 0) return cold_move(k, v, next);
                    return cold_move(k, v, B::op::get_current);  // LMDB's own key, not ours
                }
                if (next == B::op::next_dup) return false;
                // No such duplicate (or no such key): a failed MDB_GET_BOTH_RANGE may leave the
                // cursor anywhere, so position it afresh.
                k = B::to_val(key);
                if (!cold_move(k, v, B::op::set_range)) return false;
                if (detail::compare(B::to_span(k), key) != 0) return true;
                return cold_move(k, v, B::op::next_nodup);  // every duplicate of key is below at.pk()
            }
            k = B::to_val(key);
            if (!cold_move(k, v, B::op::set_range)) return false;
            if (detail::compare(B::to_span(k), key) != 0) return true;
            return cold_move(k, v, B::op::next);
        }

        // The last entry < at.
        bool before_entry(const detail::resume_key& at, val_t& k, val_t& v) {
            const auto key = at.key();
            if (dupsort()) {
                k = B::to_val(key);
                v = B::to_val(at.pk());
                if (cold_move(k, v, B::op::get_both_range)) return cold_move(k, v, B::op::prev);
                k = B::to_val(key);  // positioned afresh, as in after_entry
                if (!cold_move(k, v, B::op::set_range)) return cold_move(k, v, B::op::last);
                if (detail::compare(B::to_span(k), key) == 0) return cold_move(k, v, B::op::last_dup);
                return cold_move(k, v, B::op::prev);
            }
            k = B::to_val(key);
            if (cold_move(k, v, B::op::set_range)) return cold_move(k, v, B::op::prev);
            return cold_move(k, v, B::op::last);
        }

        // Takes the entry the cursor landed on, or ends the walk. Inline: it runs once per row.
        void settle(bool found, const val_t& k, const val_t& v) {
            auto key = B::to_span(k);
            if (!found || (check_ != bound_check::none && past_bound(key))) [[unlikely]] {
                done_ = true;
                return;
            }
            done_ = false;
            key_ = key;
            row_ = B::to_span(v);
            if (through_index_) look_up_row();
        }

        bool past_bound(std::span<const std::byte> key) const noexcept {
            switch (check_) {
                case bound_check::before: return detail::compare(key, hi_->span()) >= 0;
                case bound_check::prefix: return !detail::starts_with(key, hi_->span());
                case bound_check::below: return detail::compare(key, lo_->span()) < 0;
                case bound_check::prefix_or_below:
                    return !detail::starts_with(key, hi_->span()) || detail::compare(key, lo_->span()) < 0;
                case bound_check::none: break;
            }
            return false;
        }

        // What each step must check: the bound the walk runs towards (a walk starts at the other).
        enum class bound_check : unsigned char { none, before, prefix, below, prefix_or_below };
        static bound_check check_of(const detail::scan_spec& s) noexcept {
            bool prefix = s.upper == detail::upper_kind::prefix;
            if (!s.reverse) return prefix ? bound_check::prefix : s.upper == detail::upper_kind::before ? bound_check::before : bound_check::none;
            if (s.has_lo) return prefix ? bound_check::prefix_or_below : bound_check::below;
            return prefix ? bound_check::prefix : bound_check::none;
        }

        // An index entry: its value is the primary key of the row to show. The entry's key
        // stays in ikey_, for position().
        void look_up_row() {
            val_t pk = B::to_val(row_), row;
            int rc = B::get(core_->txn, primary_, &pk, &row);
            if (rc == B::not_found) [[unlikely]]
                throw_missing_row();
            if (rc != 0) [[unlikely]]
                B::throw_error(rc, "mdb_get of the row an index entry names failed", *table_,
                                   index_ ? index_->name : std::string());
            ikey_ = key_;
            key_ = B::to_span(pk);
            row_ = B::to_span(row);
        }

        // (The message names the index and the row's key: verify() and rebuild_index find and
        // mend such an entry.)
        [[noreturn, gnu::cold, gnu::noinline]] void throw_missing_row() const {
            const std::string index = index_ ? index_->name : std::string();
            throw error(errc::corrupt_value,
                        "index '" + index + "' of table '" + *table_ + "' has an entry for key " +
                            detail::describe_row_key<M>(row_) + ", whose row is not there",
                        *table_, index);
        }

        // The position of an entry: its key alone, or (index scans) its index key ikey and,
        // for a non-unique index, its primary key pk.
        netabase::position position_of(std::span<const std::byte> ikey, std::span<const std::byte> pk) const {
            using detail::position_kind;
            if (!index_) return detail::position_access::make(position_kind::primary, *table_, {}, pk, {});
            if (index_->unique)
                return detail::position_access::make(position_kind::unique_index, *table_, index_->name, ikey, {});
            return detail::position_access::make(position_kind::index, *table_, index_->name, ikey, pk);
        }

        // count()'s steps over a non-unique index: the current key's duplicates, and the next
        // key in the walk's direction.
        std::size_t duplicates() const {
            std::size_t n = 0;
            if (int rc = B::cursor_count(cur_.get(), n)) B::throw_on_cursor(rc, "mdb_cursor_count", cur_.get());
            return n;
        }
        void next_key() {
            life_.check_open("a netabase::Rows iterator");
            val_t k, v;
            settle(cur_.move(k, v, reverse_ ? B::op::prev_nodup : B::op::next_nodup), k, v);
        }

        core_t* core_ = nullptr;
        const std::string* table_ = nullptr;
        const detail::index_state* index_ = nullptr;
        unsigned primary_ = 0;
        bool through_index_ = false;
        bool reverse_ = false;
        bool has_lo_ = false;
        detail::upper_kind upper_ = detail::upper_kind::none;
        const detail::key_bytes* lo_ = nullptr;
        const detail::key_bytes* hi_ = nullptr;
        bound_check check_ = bound_check::none;
        cursor_op_t step_ = B::op::next;
        cursor_t cur_;
        std::span<const std::byte> key_, row_;
        std::span<const std::byte> ikey_;  // an index scan's entry key (key_ is then the primary key)
        [[no_unique_address]] detail::stamp life_;
        bool done_ = true;
    };

    Rows() = default;
    Rows(const detail::scan_source<B>& src, const detail::scan_spec& spec)
        : src_(src), spec_(spec), life_(detail::stamp::of(src.core->life)) {}

    iterator begin() const {
        if (!life_.open()) [[unlikely]]
            detail::throw_finished();  // checked build: its transaction ended, maybe is gone
        if (!resume_.empty()) [[unlikely]]
            return iterator(src_, spec_, resume_);
        return iterator(src_, spec_);
    }
    std::default_sentinel_t end() const noexcept { return {}; }

    // The same rows, last first.
    Rows reverse() const {
        Rows r = *this;
        r.spec_.reverse = !r.spec_.reverse;
        return r;
    }

    // The same rows (same bounds, same direction) from strictly after p, a position of a row of
    // this table or index taken by an iterator, in this transaction or an earlier one. The row
    // need not exist any more, and p may lie anywhere: before the bounds' start the rows start
    // as usual, past their end there are none. A position of another table or index, or bytes
    // that are not a position, are errc::invalid_argument. `.reverse()` afterwards keeps p and
    // walks the rows before it, last first.
    Rows after(const position& p) const {
        if (!life_.open()) [[unlikely]]
            detail::throw_finished();
        detail::position_parts parts = detail::position_access::parts_for(
            p, *src_.table, src_.index ? &src_.index->name : nullptr, src_.dupsort(), src_.core->env->max_key_size());
        Rows r = *this;
        r.resume_ = detail::resume_key(parts.key, parts.pk);
        return r;
    }

    // Up to `limit` rows from the start, and in `next` the position to resume after them when
    // at least one more row follows (found by stepping onto it: one more entry read, and for an
    // index scan one more row lookup). The guards are valid while the transaction is open.
    //     auto p = users.all().page(100);                 // later, in another transaction:
    //     auto q = users.all().after(*p.next).page(100);
    Page<M> page(std::size_t limit) const {
        if (limit == 0) [[unlikely]]
            throw error(errc::invalid_argument,
                        "page(0) on " + detail::position_where(*src_.table, src_.index_name()) +
                            ": a page holds at least one row",
                        *src_.table, src_.index_name());
        Page<M> out;
        out.rows.reserve(limit < 64 ? limit : 64);
        for (iterator it = begin(); it != end();) {
            out.rows.push_back(*it);
            if (out.rows.size() == limit) {
                const auto ikey = it.ikey_, key = it.key_;  // map memory: still valid after the step
                ++it;
                if (it != end()) out.next = it.position_of(ikey, key);
                break;
            }
            ++it;
        }
        return out;
    }

    // How many rows this scan yields (bounds, direction and after() included), counted on the
    // entries alone: no row is decoded, and an index scan looks up no row. The cost:
    // O(1) (mdb_stat) for every row of a tree or an index with no bounds and no after();
    // O(1) (mdb_cursor_count) for equal_range on a non-unique index with no after();
    // O(distinct keys in range) on a non-unique index otherwise (one mdb_cursor_count per
    // key), plus the duplicates on the far side of an after() position within its own key;
    // O(rows in range) on a primary key or a unique index.
    std::size_t count() const {
        if (!life_.open()) [[unlikely]]
            detail::throw_finished();
        if (spec_.empty) {
            src_.core->live();
            return 0;
        }
        if (resume_.empty() && !spec_.dups && !spec_.has_lo && spec_.upper == detail::upper_kind::none) {
            std::size_t n = 0;
            handle_t t = src_.core->live();
            if (int rc = B::stat_entries(t, spec_.dbi, n)) B::throw_on_space(rc, "mdb_stat", t, spec_.dbi);
            return n;
        }
        detail::scan_spec entries = spec_;  // the same walk, over the entries alone
        entries.through_index = false;
        iterator it = resume_.empty() ? iterator(src_, entries) : iterator(src_, entries, resume_);
        std::size_t n = 0;
        if (!src_.dupsort() || (spec_.dups && !resume_.empty())) {
            for (; !it.done_; ++it) ++n;
            return n;
        }
        if (spec_.dups) return it.done_ ? 0 : it.duplicates();
        if (!resume_.empty()) {  // the rest of the position's own key, entry by entry
            const auto key = resume_.key();
            for (; !it.done_ && detail::compare(it.key_, key) == 0; ++it) ++n;
        }
        for (; !it.done_; it.next_key()) n += it.duplicates();
        return n;
    }

private:
    detail::scan_source<B> src_;
    detail::scan_spec spec_;
    detail::resume_key resume_;  // after()'s position; empty (a null pointer) otherwise
    [[no_unique_address]] detail::stamp life_;
};

namespace detail {

// What trees and indexes share: ordered scans over keys of type K.
template <class M, class K, class B>
class ordered {
public:
    using lookup_type = lookup_t<K>;

    // Every row in key order.
    Rows<M, B> all() const { return Rows<M, B>(src_, base()); }
    // Every row, last first.
    Rows<M, B> reverse() const { return all().reverse(); }
    // Rows whose key is in [lo, hi).
    Rows<M, B> range(const lookup_type& lo, const lookup_type& hi) const {
        scan_spec s = base();
        lower(s, lo);
        upper(s, hi);
        return Rows<M, B>(src_, s);
    }
    // Rows whose key is >= lo.
    Rows<M, B> from(const lookup_type& lo) const {
        scan_spec s = base();
        lower(s, lo);
        return Rows<M, B>(src_, s);
    }
    // Rows whose key is < hi.
    Rows<M, B> until(const lookup_type& hi) const {
        scan_spec s = base();
        upper(s, hi);
        return Rows<M, B>(src_, s);
    }
    // Rows whose key is in [lo, hi]: hi included, for any key type (strings and tuples have
    // no "hi + 1"). closed_range("a", "b") has "b", not "ba".
    Rows<M, B> closed_range(const lookup_type& lo, const lookup_type& hi) const {
        scan_spec s = base();
        lower(s, lo);
        upper_closed(s, hi);
        return Rows<M, B>(src_, s);
    }
    // Rows whose key is <= hi.
    Rows<M, B> through(const lookup_type& hi) const {
        scan_spec s = base();
        upper_closed(s, hi);
        return Rows<M, B>(src_, s);
    }
    // Rows whose string key starts with `p`, or whose composite key starts with the given
    // leading fields: prefix("ali"), prefix(std::string("bob"), 30u).
    template <class... Parts>
    Rows<M, B> prefix(const Parts&... parts) const {
        static_assert(sizeof...(Parts) > 0, "netabase: prefix() needs at least one part");
        scan_spec s = base();
        buffer b;
        encode_prefix(b, parts...);
        if (b.empty()) {
            // the empty prefix: every row
        } else if (b.size() > core()->env->max_key_size()) {
            s.empty = true;
        } else {
            s.has_lo = true;
            s.lo.assign(b.span());
            s.hi = s.lo;
            s.upper = upper_kind::prefix;
        }
        return Rows<M, B>(src_, s);
    }

protected:
    ordered() = default;
    explicit ordered(const scan_source<B>& src) : src_(src), life_(stamp::of(src.core->life)) {}

    // The transaction, if it is still open. With lifetime checks on, a tree or index whose
    // transaction ended is refused from its stamp alone, without touching the transaction
    // object, which may be gone.
    typename B::txn* checked_core() const {
        if (!life_.open()) [[unlikely]]
            throw_finished();
        return src_.core;
    }
    typename B::txn* core() const { return checked_core(); }

    scan_spec base() const {
        core()->live();
        scan_spec s;
        s.dbi = src_.dbi;
        s.primary = src_.primary;
        s.through_index = src_.through_index;
        return s;
    }

    // false when the key is too large to be a stored key (so nothing can equal it).
    bool bound(key_bytes& out, const lookup_type& k) const {
        buffer b;
        encode_key(b, k);
        if (b.size() > core()->env->max_key_size()) return false;
        out.assign(b.span());
        return true;
    }

    // A bound longer than any stored key still orders them: with t its first max-key-size
    // bytes, a stored key k is >= lo exactly when k >= successor(t), and < hi exactly when
    // k < successor(t) (no stored key is longer than t, so none has t as a proper prefix).
    bool bound_or_successor(key_bytes& out, const lookup_type& k) const {
        buffer b;
        encode_key(b, k);
        return bytes_or_successor(out, b.span());
    }
    // The same, for a bound's encoded bytes.
    bool bytes_or_successor(key_bytes& out, std::span<const std::byte> b) const {
        std::size_t max = core()->env->max_key_size();
        if (b.size() <= max) {
            out.assign(b);
            return true;
        }
        key_bytes cut;
        cut.assign(b.first(max));
        return prefix_successor(cut, out);
    }
    void lower(scan_spec& s, const lookup_type& lo) const {
        s.has_lo = true;
        if (!bound_or_successor(s.lo, lo)) s.empty = true;  // above every possible key
    }
    void upper(scan_spec& s, const lookup_type& hi) const {
        if (bound_or_successor(s.hi, hi)) s.upper = upper_kind::before;  // else: no upper bound
    }
    // keys <= hi, in byte order: keys < hi + 0x00, the next byte string after hi. When hi is
    // LMDB's maximum size, hi + 0x00 is one byte over, and bytes_or_successor cuts it back to hi
    // and takes hi's successor: no stored key is longer than hi, so the bound is the same.
    void upper_closed(scan_spec& s, const lookup_type& hi) const {
        buffer b;
        encode_key(b, hi);
        b.push(std::byte{0});
        if (bytes_or_successor(s.hi, b.span())) s.upper = upper_kind::before;  // else: no upper bound
    }

    template <class... Parts>
    static void encode_prefix(buffer& b, const Parts&... parts) {
        if constexpr (kind_v<K> == kind::string) {
            static_assert(sizeof...(Parts) == 1 && (string_like<Parts> && ...),
                          "netabase: prefix() of a string key takes one string");
            (encode_key_string(b, std::string_view(parts), false), ...);
        } else if constexpr (kind_v<K> == kind::tuple || kind_v<K> == kind::pair) {
            static_assert(sizeof...(Parts) <= std::tuple_size_v<K>,
                          "netabase: prefix() has more parts than the composite key has fields");
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                (encode_key(b, static_cast<const lookup_t<std::tuple_element_t<I, K>>&>(parts)), ...);
            }
            (std::index_sequence_for<Parts...>{});
        } else {
            static_assert(kind_v<K> == kind::string,
                          "netabase: prefix() works on string keys and on tuple/pair keys (leading fields)");
        }
    }

    scan_source<B> src_;
    [[no_unique_address]] stamp life_;
};

}  // namespace detail

// One secondary index of a tree: lookups by the key's value, rows in key order (then by
// primary key).
template <class M, class K, access A, class B>
class Index : public detail::ordered<M, K, B> {
    using base_t = detail::ordered<M, K, B>;
    using val_t = typename B::val;
    using handle_t = typename B::handle;
    using core_t = typename B::txn;
    using cursor_t = typename B::cursor;
    using raw_cursor_t = typename B::raw_cursor;

public:
    using key_type = K;
    using lookup_type = detail::lookup_t<K>;
    static constexpr std::size_t index_count = detail::model_traits<M>::index_count;

    // Every row, in the index's key order. (No bounds, so the iterator needs no Rows.)
    typename Rows<M, B>::iterator begin() const { return typename Rows<M, B>::iterator(this->src_, this->base()); }
    std::default_sentinel_t end() const noexcept { return {}; }

    // The rows whose key equals k, by ascending primary key.
    Rows<M, B> equal_range(const lookup_type& k) const {
        detail::scan_spec s = this->base();
        if (this->bound(s.lo, k)) {
            s.has_lo = true;
            s.hi = s.lo;
            s.upper = detail::upper_kind::prefix;  // keys of one type are prefix-free
            s.dups = !info().unique;  // walk the key's duplicates only: no bound to check per row
        } else {
            s.empty = true;
        }
        return Rows<M, B>(this->src_, s);
    }

    // How many rows have key k: O(1) (mdb_cursor_count) for a non-unique index.
    std::size_t count(const lookup_type& k) const {
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core()->env->max_key_size()) return 0;
        val_t key = B::to_val(kb.span()), val;
        if (info().unique) {
            int rc = B::get(core()->live(), info().dbi, &key, &val);
            if (rc == B::not_found) return 0;
            if (rc) B::throw_error(rc, "mdb_get failed", table_->name, info().name);
            return 1;
        }
        return B::with_lookup_cursor(*core(), info().dbi, [&](raw_cursor_t c) -> std::size_t {
            if (!B::move(c, key, val, B::op::set)) return 0;
            std::size_t n = 0;
            if (int rc = B::cursor_count(c, n)) B::throw_on_cursor(rc, "mdb_cursor_count", c);
            return n;
        });
    }

    // The one row whose unique key is k.
    std::optional<Guard<M>> get(const lookup_type& k) const {
        if (!info().unique)
            throw error(errc::invalid_argument,
                        "index '" + info().name + "' of table '" + table_->name +
                            "' is not unique: use equal_range() to get its rows",
                        table_->name, info().name);
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core()->env->max_key_size()) return std::nullopt;
        handle_t t = core()->live();
        val_t key = B::to_val(kb.span()), pk, row;
        int rc = B::get(t, info().dbi, &key, &pk);
        if (rc == B::not_found) return std::nullopt;
        if (rc) B::throw_error(rc, "mdb_get failed", table_->name, info().name);
        rc = B::get(t, table_->dbi, &pk, &row);
        if (rc == B::not_found) {  // (named by both keys: verify() and rebuild_index find and mend it)
            std::string text;
            detail::describe_key(text, k);
            throw error(errc::corrupt_value,
                        "index '" + info().name + "' of table '" + table_->name + "' has key " + text +
                            " for the row with key " + detail::describe_row_key<M>(B::to_span(pk)) +
                            ", which is not there",
                        table_->name, info().name);
        }
        if (rc) B::throw_error(rc, "mdb_get of the row the index entry names failed", table_->name, info().name);
        return Guard<M>(B::to_span(pk), B::to_span(row), &table_->name, detail::stamp::of(core()->life));
    }

    // The primary keys of the rows whose key equals k, ascending.
    std::vector<detail::key_of<M>> primary_keys(const lookup_type& k) const {
        std::vector<detail::key_of<M>> out;
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core()->env->max_key_size()) return out;
        cursor_t c(core(), info().dbi);
        val_t key = B::to_val(kb.span()), pk;
        if (!c.move(key, pk, B::op::set)) return out;
        do {
            out.push_back(detail::decode_key_bytes<detail::key_of<M>>(B::to_span(pk)));
        } while (!info().unique && c.move(key, pk, B::op::next_dup));  // a unique index has one
        return out;
    }

    // Index entries: the number of rows for a single-valued key.
    std::size_t size() const {
        std::size_t n = 0;
        handle_t t = core()->live();
        if (int rc = B::stat_entries(t, info().dbi, n)) B::throw_on_space(rc, "mdb_stat", t, info().dbi);
        return n;
    }
    bool empty() const { return size() == 0; }

    std::optional<Guard<M>> first() const { return edge(false); }
    std::optional<Guard<M>> last() const { return edge(true); }

    bool unique() const noexcept { return info().unique; }
    const std::string& name() const noexcept { return info().name; }

private:
    template <class, access, class>
    friend class Tree;

    Index(core_t* core, const detail::table_state<index_count>* table, std::size_t pos) noexcept
        : base_t(detail::scan_source<B>{core, &table->name, table->indexes[pos].dbi, table->dbi, true,
                                     &table->indexes[pos]}),
          table_(table),
          pos_(pos) {}

    core_t* core() const { return this->checked_core(); }
    const detail::index_state& info() const noexcept { return table_->indexes[pos_]; }

    std::optional<Guard<M>> edge(bool last) const {
        Rows<M, B> rows = last ? this->reverse() : this->all();
        auto it = rows.begin();
        if (it == std::default_sentinel) return std::nullopt;
        return *it;
    }

    const detail::table_state<index_count>* table_;
    std::size_t pos_;
};

template <class M, access A, class B>
class Tree : public detail::ordered<M, detail::key_of<M>, B> {
    using traits = detail::model_traits<M>;
    using base_t = detail::ordered<M, detail::key_of<M>, B>;
    using val_t = typename B::val;
    using handle_t = typename B::handle;
    using core_t = typename B::txn;
    using cursor_t = typename B::cursor;
    using raw_cursor_t = typename B::raw_cursor;
    using cursor_op_t = typename B::cursor_op;
    static constexpr std::size_t N = traits::index_count;
    static constexpr bool writable = A == access::write;

public:
    using model_type = M;
    using key_type = typename traits::key_type;
    using lookup_type = detail::lookup_t<key_type>;
    using iterator = typename Rows<M, B>::iterator;

    Tree(core_t* core, const detail::table_state<N>* table) noexcept
        : base_t(detail::scan_source<B>{core, &table->name, table->dbi, 0, false, nullptr}), table_(table) {}

    const std::string& name() const noexcept { return table_->name; }

    // ---- reads ------------------------------------------------------------------------

    std::optional<Guard<M>> get(const lookup_type& k) const {
        detail::buffer kb;
        detail::encode_key(kb, k);
        core_t* c = core();
        if (kb.size() > c->env->max_key_size()) return std::nullopt;
        // A cursor, not mdb_get, so that the guard's key is LMDB's copy and not kb.
        val_t key = B::to_val(kb.span()), row;
        if (!B::with_lookup_cursor(*c, table_->dbi,
                                        [&](raw_cursor_t cur) { return B::move(cur, key, row, B::op::set_key); }))
            return std::nullopt;
        return Guard<M>(B::to_span(key), B::to_span(row), &table_->name, detail::stamp::of(c->life));
    }

    bool contains(const lookup_type& k) const { return get(k).has_value(); }

    // O(1): LMDB keeps the count in the database's root.
    std::size_t size() const {
        std::size_t n = 0;
        handle_t t = core()->live();
        if (int rc = B::stat_entries(t, table_->dbi, n)) B::throw_on_space(rc, "mdb_stat", t, table_->dbi);
        return n;
    }
    bool empty() const { return size() == 0; }

    // Every row, ascending by primary key. The iterator owns its cursor, so the tree itself
    // needs no Rows object to outlive the loop.
    iterator begin() const { return iterator(this->src_, this->base()); }
    std::default_sentinel_t end() const noexcept { return {}; }

    std::optional<Guard<M>> first() const { return edge(B::op::first); }
    std::optional<Guard<M>> last() const { return edge(B::op::last); }

    // A secondary index, named by the field it was declared on.
    template <class T>
    Index<M, T, A, B> index(T M::*member) const {
        static_assert(has_member_index<T>(),
                      "netabase: index(&M::field): no secondary key of this model is declared on a field of this type");
        std::size_t pos = N;
        detail::for_each_secondary<M>([&](const auto& sec, auto i) {
            if constexpr (std::is_same_v<std::remove_cv_t<decltype(sec.key)>, detail::member_key<M, T>>)
                if (pos == N && sec.key.member == member) pos = decltype(i)::value;
        });
        if (pos == N)
            throw error(errc::not_found,
                        "table '" + table_->name + "' has no secondary key on field " +
                            std::to_string(detail::field_index(member)),
                        table_->name);
        return Index<M, T, A, B>(core(), table_, pos);
    }

    // A secondary index, named by its netabase::key(...) / netabase::keys(...) object.
    template <class F, bool Multi>
    auto index(const computed_key<M, F, Multi>&) const {
        constexpr std::size_t pos = computed_position<detail::computed_key_adapter<M, F, Multi>>();
        static_assert(pos < N, "netabase: index(key): this key is not a secondary key of the model");
        using K = typename detail::computed_key_adapter<M, F, Multi>::value_type;
        return Index<M, K, A, B>(core(), table_, pos);
    }

    // Primary keys of the rows whose secondary key equals k (the Rust netabase spelling).
    template <class Field, class Q>
    auto get_by_secondary_key(Field field, const Q& k) const {
        return index(field).primary_keys(k);
    }

    // ---- writes -----------------------------------------------------------------------

    // Inserts or replaces the row; its index entries follow the new value.
    void put(const M& m) requires writable { write_row(m, write_mode::upsert); }

    // Writes the row only if its key is new; false (and nothing written) when it exists.
    bool insert(const M& m) requires writable { return write_row(m, write_mode::insert); }

    // All or nothing. Keys that ascend past the table's last key take LMDB's append path.
    //
    // A forward range whose elements are the rows (a vector, a span) of a model without a
    // unique key (where the order of the rows cannot change the outcome) is read twice: first
    // every primary key is encoded and checked against LMDB's limit, then the rows are written
    // in key order, sorted first unless they ascend already (stably: of equal keys the last
    // wins, as in input order), so a load in any order appends into an empty table. Sorting
    // holds 32 bytes per row (an entry and its scratch copy) for keys of up to 8 bytes, else
    // the encoded key and 48 bytes. A range read once is written as it is read.
    //
    // When a row can still be rejected as it is written (a unique secondary key, a secondary
    // key whose encoded size varies, or, for rows written as read, a primary key whose size
    // varies), the rows go in through a nested transaction: a rejected row throws and leaves
    // the transaction as it was before the call, so it can still be committed. Otherwise the
    // rows go straight into the transaction (a nested one doubles LMDB's work per page). Then,
    // if anything else throws part way (the input range itself, an allocation, a computed
    // key's function) after some rows were written, the transaction is marked failed: the
    // exception propagates and commit() refuses (errc::transaction_finished), so a
    // half-applied batch can never be committed. An LMDB failure poisons the transaction
    // either way.
    template <std::ranges::input_range R>
        std::size_t put_many(R&&rows) requires writable && std::is_convertible_v < std::ranges::range_reference_t<R>,
    const M& > {
        // Not with a unique key: whether a row violates it depends on the rows written before
        // it (a batch may move a unique value from one row to another), so order matters.
        if constexpr (sortable_batch<R>() && !has_unique_key()) {
            // Every primary key checked first: only a secondary key can still refuse a row.
            const bool direct = secondary_sizes_fixed() && secondary_size_most() <= core()->env->max_key_size();
            if (keys_ascend(rows)) return put_batch(direct, [&](std::size_t& n) { put_rows(rows, n); });
            sorted_batch b;
            sort_rows(rows, b);
            return put_batch(direct, [&](std::size_t& n) { put_sorted(b, n); });
        } else {
            const bool direct = rows_cannot_be_rejected() && fixed_key_size() <= core()->env->max_key_size();
            return put_batch(direct, [&](std::size_t& n) { put_rows(rows, n); });
        }
    }

    // true if the row existed; its index entries go with it.
    bool remove(const lookup_type& k) requires writable {
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core()->env->max_key_size()) return false;
        return remove_encoded(kb);
    }

    // How many of the keys existed. All or nothing, like put_many.
    template <std::ranges::input_range R>
    std::size_t remove_many(R&& keys) requires writable {
        return nested([&] {
            std::size_t n = 0;
            for (const auto& k : keys) n += remove(k) ? 1 : 0;
            return n;
        });
    }

    // Empties the table and all its indexes.
    void clear() requires writable {
        handle_t t = core()->live();
        if (core()->changes) [[unlikely]]
            note_clear();
        core()->wrote();
        if (int rc = B::drop(t, table_->dbi)) core()->fail(rc, "clear failed", table_->name);
        for (const auto& ix : table_->indexes)
            if (int rc = B::drop(t, ix.dbi)) core()->fail(rc, "clear failed", table_->name, ix.name);
    }

    // Read-modify-write of one row; false if there is none. fn must not change the key.
    // Index entries are rewritten only where a key changed. The row is found once (a cursor)
    // and written back in place through that cursor; fn works on the decoded row itself.
    template <class F>
    bool update(const lookup_type& k, F&& fn) requires writable && std::is_invocable_v<F&, M&> {
        detail::buffer kb;
        detail::encode_key(kb, k);
        core_t& core = *this->core();
        if (kb.size() > core.env->max_key_size()) return false;
        cursor_t c = write_cursor(core);
        val_t key = B::to_val(kb.span()), old;
        int rc = B::cursor_get(c.get(), &key, &old, B::op::set_key);
        if (rc == B::not_found) return false;
        if (rc) core.fail(rc, "update: row lookup failed", table_->name);
        key = B::to_val(kb.span());

        scratch_lease lease(table_);
        M& m = lease.get();
        Guard<M>(kb.span(), B::to_span(old), &table_->name).value_into(m);  // corrupt: throws, nothing written
        std::array<index_change, N> ch;
        detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
            constexpr std::size_t i = decltype(pos)::value;
            encode_keys(sec, m, ch[i].was, &ch[i].was_items, &table_->indexes[i], false);
        });

        const std::uint64_t writes_before = core.writes;
        fn(m);
        detail::buffer check;
        detail::encode_key(check, pk_of(m));
        if (!same_key<key_type>(kb.span(), check.span())) [[unlikely]]
            throw error(errc::invalid_argument,
                        "update() of table '" + table_->name + "' changed the primary key from " +
                            detail::describe_key(k) + " to " + detail::describe_key(pk_of(m)) +
                            "; remove the row and put the new one instead",
                        table_->name);
        // fn wrote to this transaction itself: the row (and the cursor's page) may have changed
        // under us, so take the general path, which reads the stored row again.
        if (core.writes != writes_before) [[unlikely]] {
            c.reset();
            write_row(m, write_mode::upsert);
            return true;
        }

        handle_t t = core.live();
        detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
            constexpr std::size_t i = decltype(pos)::value;
            const detail::index_state& ix = table_->indexes[i];
            index_change& x = ch[i];
            encode_keys(sec, m, x.now, &x.now_items, &ix, true);
            x.changed = keys_changed(sec, x);
            if (ix.unique && x.changed) check_unique_all(sec, t, ix, x, kb.span(), m);
        });

        // Everything is valid: from here on only LMDB itself can fail.
        detail::buffer& rowbuf = core.env->row_buffer;
        detail::encode_row(rowbuf, m, core.env->checksum());
        val_t val = B::to_val(rowbuf.span());
        if (core.changes) [[unlikely]]
            note(core, change_kind::update, kb.span(), rowbuf.span(), B::to_span(old));
        core.wrote();
        if ((rc = B::cursor_put(c.get(), &key, &val, B::current)))
            core.fail(rc, "update: put failed", table_->name);
        if (detail::any_of(ch.begin(), ch.end(), [](const index_change& x) { return x.changed; }))
            move_entries(t, ch, key, true, false);
        return true;
    }

private:
    enum class write_mode { upsert, insert, append };

    core_t* core() const { return this->checked_core(); }

    static decltype(auto) pk_of(const M& m) { return traits::decl.primary(m); }

    template <class T>
    static constexpr bool has_member_index() {
        bool found = false;
        detail::for_each_secondary<M>([&](const auto& sec, auto) {
            if (std::is_same_v<std::remove_cv_t<decltype(sec.key)>, detail::member_key<M, T>>) found = true;
        });
        return found;
    }

    template <class Adapter>
    static constexpr std::size_t computed_position() {
        std::size_t pos = N;
        detail::for_each_secondary<M>([&](const auto& sec, auto i) {
            if (pos == N && std::is_same_v<std::remove_cv_t<decltype(sec.key)>, Adapter>) pos = decltype(i)::value;
        });
        return pos;
    }

    std::optional<Guard<M>> edge(cursor_op_t op) const {
        cursor_t c(core(), table_->dbi);
        val_t k, v;
        if (!c.move(k, v, op)) return std::nullopt;
        return Guard<M>(B::to_span(k), B::to_span(v), &table_->name, detail::stamp::of(core()->life));
    }

    bool last_key(detail::key_bytes& out) const {
        cursor_t c(core(), table_->dbi);
        val_t k, v;
        if (!c.move(k, v, B::op::last)) return false;
        out.assign(B::to_span(k));
        return true;
    }

    // put_many's rows, written by write(n) (n counts them): straight into the transaction when
    // direct (no row can be refused), so an exception after the first row makes commit refuse;
    // else in a nested transaction, so a refused row leaves this one as it was.
    template <class Write>
    std::size_t put_batch(bool direct, Write write) {
        std::size_t n = 0;
        if (!direct) return nested([&] {
            write(n);
            return n;
        });
        try {
            write(n);
        } catch (...) {
            if (n != 0) stopped_midway();  // (a row that failed part way has marked it itself)
            throw;
        }
        return n;
    }

    // Runs fn in a child transaction: committed into this one on return, discarded on throw.
    template <class Fn>
    auto nested(Fn&& fn) const {
        core_t& c = *core();
        handle_t parent = B::begin_nested(c, table_->name);  // on failure the parent is untouched
        bool failed_before = c.failed, interrupted_before = c.interrupted;
        const auto changes_before = c.changes ? c.changes->mark() : std::pair<std::size_t, std::size_t>{};
        try {
            auto result = fn();
            B::commit_nested(c, parent, table_->name);
            c.wrote();
            return result;
        } catch (...) {
            B::abort_nested(c, parent);
            // The parent is untouched by an aborted child; map_full stays set so that
            // store.write() still grows the map.
            c.failed = failed_before;
            c.interrupted = interrupted_before;
            if (c.changes) c.changes->rollback(changes_before);  // the child's changes are gone
            c.wrote();
            throw;
        }
    }

    void check_size(const detail::buffer& kb, const detail::index_state* ix, const auto& key) const {
        if (kb.size() > core()->env->max_key_size()) [[unlikely]]
            key_too_large(kb, ix, key);
    }
    template <class K>
    [[noreturn, gnu::cold, gnu::noinline]] void key_too_large(const detail::buffer& kb, const detail::index_state* ix,
                                                               const K& key) const {
        detail::throw_key_too_large(kb.size(), core()->env->max_key_size(), table_->name, ix ? &ix->name : nullptr,
                                    detail::describe_key(key));
    }

    // One index's entries for one row, before and after a write.
    struct index_change {
        detail::buffer now, was;  // a single key, or several keys back to back
        bool changed = true;
        // Several keys (netabase::keys): (offset, size) in now/was, sorted by bytes, distinct.
        std::vector<std::pair<std::uint32_t, std::uint32_t>> now_items, was_items;
    };

    static std::span<const std::byte> item(const detail::buffer& b, std::pair<std::uint32_t, std::uint32_t> it) {
        return {b.data() + it.first, it.second};
    }

    static bool has_item(const detail::buffer& b, const std::vector<std::pair<std::uint32_t, std::uint32_t>>& items,
                         std::span<const std::byte> k) {
        auto it = detail::lower_bound(items.begin(), items.end(), k, [&](auto a, std::span<const std::byte> key) {
            return detail::compare(item(b, a), key) < 0;
        });
        return it != items.end() && detail::compare(item(b, *it), k) == 0;
    }

    // Whether two encoded keys of type K are equal. For a fixed-size K both are that long, and
    // the comparison is a constant-size memcmp the compiler inlines.
    template <class K>
    static bool same_key(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
        constexpr std::size_t n = detail::fixed_size<K>();
        if constexpr (n != 0 && n <= 32)
            return a.size() == n && b.size() == n && std::memcmp(a.data(), b.data(), n) == 0;
        else
            return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
    }

    // Whether one index's keys changed between x.was and x.now.
    template <class Sec>
    static bool keys_changed(const Sec&, const index_change& x) noexcept {
        using S = std::remove_cvref_t<decltype(std::declval<const Sec&>().key)>;
        if constexpr (S::multi)
            return !same_key<std::string>(x.now.span(), x.was.span());  // the whole run of keys, any size
        else
            return !same_key<typename S::value_type>(x.now.span(), x.was.span());
    }

    // Whether encoded primary key a sorts after b (put_many's append test); 4- and 8-byte
    // keys compare inline as integers.
    static bool pk_after(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
        return detail::compare(a, b) > 0;
    }

    // Whether one encoded single key (index_change::now or was) is an entry: a sparse optional
    // key's nullopt has none and encodes to nothing (every other key encodes to >= 1 byte).
    template <class Sec>
    static bool has_key(const Sec&, const detail::buffer& b) noexcept {
        if constexpr (Sec::sparse)
            return !b.empty();
        else
            return true;
    }

    // Encodes every key the row has in this index: one, or one per distinct element. A sparse
    // optional key holding nullopt has none: nothing is appended (see has_key).
    template <class Sec>
    void encode_keys(const Sec& sec, const M& m, detail::buffer& out,
                     std::vector<std::pair<std::uint32_t, std::uint32_t>>* items, const detail::index_state* ix,
                     bool check) const {
        if constexpr (!std::remove_cvref_t<decltype(sec.key)>::multi) {
            decltype(auto) k = sec.key(m);
            if constexpr (Sec::sparse)
                if (!k.has_value()) return;
            detail::encode_key(out, k);
            if (check) check_size(out, ix, k);
        } else {
            items->clear();
            for (const auto& k : sec.key(m)) {
                auto start = static_cast<std::uint32_t>(out.size());
                detail::encode_key(out, k);
                auto size = static_cast<std::uint32_t>(out.size() - start);
                if (check && size > core()->env->max_key_size())
                    detail::throw_key_too_large(size, core()->env->max_key_size(), table_->name, &ix->name,
                                                detail::describe_key(k));
                items->emplace_back(start, size);
            }
            auto less = [&](auto a, auto b) { return detail::compare(item(out, a), item(out, b)) < 0; };
            auto same = [&](auto a, auto b) { return detail::compare(item(out, a), item(out, b)) == 0; };
            detail::sort(items->begin(), items->end(), less);
            items->erase(detail::unique(items->begin(), items->end(), same), items->end());
        }
    }

    // Throws unique_violation if the key belongs to a row other than pk.
    void check_unique(handle_t t, const detail::index_state& ix, std::span<const std::byte> sk,
                      std::span<const std::byte> pk, const M& m) const {
        val_t skv = B::to_val(sk), owner;
        int rc = B::get(t, ix.dbi, &skv, &owner);
        if (rc == B::not_found) return;
        if (rc != 0) core()->fail(rc, "index lookup failed", table_->name, ix.name);
        if (detail::compare(B::to_span(owner), pk) == 0) return;
        std::string other, value;
        try {
            other = detail::describe_key(detail::decode_key_bytes<key_type>(B::to_span(owner)));
        } catch (const error&) {
            other = "<undecodable>";
        }
        detail::for_each_secondary<M>([&](const auto& sec, auto i) {
            using S = std::remove_cvref_t<decltype(sec.key)>;
            if (&table_->indexes[decltype(i)::value] != &ix) return;
            try {
                value = detail::describe_key(detail::decode_key_bytes<typename S::value_type>(sk));
            } catch (const error&) {
                value = "<undecodable>";
            }
        });
        throw error(errc::unique_violation,
                    "unique violation: index '" + ix.name + "' of table '" + table_->name + "' already maps key " +
                        value + " to the row with key " + other + "; the row with key " +
                        detail::describe_key(pk_of(m)) + " was not written",
                    table_->name, ix.name);
    }

    // Checks each of the row's keys in a unique index (one, or each of a multi-key's).
    template <class Sec>
    void check_unique_all(const Sec& sec, handle_t t, const detail::index_state& ix, const index_change& x,
                          std::span<const std::byte> pk, const M& m) const {
        if constexpr (!std::remove_cvref_t<decltype(std::declval<const Sec&>().key)>::multi) {
            if (has_key(sec, x.now)) check_unique(t, ix, x.now.span(), pk, m);
        } else {
            for (auto it : x.now_items) check_unique(t, ix, item(x.now, it), pk, m);
        }
    }

    // From a catch block: an exception stopped a write operation after (or at) an LMDB call.
    // An LMDB error marks the transaction failed as core()->fail() would; anything else marks
    // it interrupted. Either way commit() refuses.
    void stopped_midway() const noexcept {
        core_t& c = *this->src_.core;
        try {
            throw;
        } catch (const error& e) {
            if (e.code() == errc::wrong_thread) return;  // refused before touching the transaction
            if (B::is_own(e)) {
                if (c.write) c.failed = true;
                if (e.code().value() == B::map_full) c.map_full = true;
                return;
            }
        } catch (...) {
        }
        c.interrupt();
    }

    // A cursor on the table for a write; failing to get one fails the transaction too.
    cursor_t write_cursor(core_t& core) const {
        try {
            return cursor_t(&core, table_->dbi);
        } catch (...) {
            stopped_midway();
            throw;
        }
    }

    // update()'s row object: the table's scratch model (warm capacity: decoding into it does
    // not allocate once its strings and vectors have grown), or a fresh one when an update
    // further up this thread's stack holds it.
    class scratch_lease {
    public:
        explicit scratch_lease(const detail::table_state<N>* t) {
            if (t->scratch_busy) {
                own_ = std::make_unique<M>();
                m_ = own_.get();
                return;
            }
            if (!t->scratch) t->scratch = std::make_shared<M>();
            t->scratch_busy = true;
            table_ = t;
            m_ = static_cast<M*>(t->scratch.get());
        }
        scratch_lease(const scratch_lease&) = delete;
        scratch_lease& operator=(const scratch_lease&) = delete;
        ~scratch_lease() {
            if (table_) table_->scratch_busy = false;
        }
        M& get() noexcept { return *m_; }

    private:
        const detail::table_state<N>* table_ = nullptr;
        std::unique_ptr<M> own_;
        M* m_ = nullptr;
    };

    // ---- what the model's keys allow, known at compile time ----------------------------

    static constexpr bool has_unique_key() {
        bool u = false;
        detail::for_each_secondary<M>([&](const auto& sec, auto) { u = u || std::remove_cvref_t<decltype(sec)>::unique; });
        return u;
    }

    // The largest encoded size of the primary and secondary keys when every one of them has a
    // fixed size (and so is checked once, not per row); 0 when one of them does not.
    static constexpr std::size_t fixed_key_size() {
        std::size_t most = detail::fixed_size<key_type>();
        bool fixed = most != 0;
        detail::for_each_secondary<M>([&](const auto& sec, auto) {
            using S = std::remove_cvref_t<decltype(sec.key)>;
            constexpr std::size_t size = detail::fixed_size<typename S::value_type>();
            if (size == 0) fixed = false;
            most = std::max(most, size);
        });
        return fixed ? most : 0;
    }

    // Whether every secondary key has a fixed encoded size (true with none); the largest.
    static constexpr bool secondary_sizes_fixed() {
        bool fixed = true;
        detail::for_each_secondary<M>([&](const auto& sec, auto) {
            using S = std::remove_cvref_t<decltype(sec.key)>;
            if (detail::fixed_size<typename S::value_type>() == 0) fixed = false;
        });
        return fixed;
    }
    static constexpr std::size_t secondary_size_most() {
        std::size_t most = 0;
        detail::for_each_secondary<M>([&](const auto& sec, auto) {
            using S = std::remove_cvref_t<decltype(sec.key)>;
            most = std::max(most, detail::fixed_size<typename S::value_type>());
        });
        return most;
    }

    // No row can be rejected by validation (no unique key, every key of a fixed size: checked
    // against LMDB's limit once per put_many).
    static constexpr bool rows_cannot_be_rejected() { return !has_unique_key() && fixed_key_size() != 0; }

    // A field type whose View read gives the value itself (or a string_view of it), which
    // encodes to the same key bytes as the owned value.
    template <class T>
    static constexpr bool view_key_v = [] {
        constexpr detail::kind k = detail::kind_v<T>;
        return k == detail::kind::boolean || k == detail::kind::enumeration || k == detail::kind::integer ||
               k == detail::kind::floating || k == detail::kind::string || k == detail::kind::duration ||
               k == detail::kind::time_point;
    }();

    // Whether a stored row's index keys can be read through a View<M> (no decode, no
    // allocation): every secondary key is a field of such a type. Computed keys need the row.
    static constexpr bool old_keys_from_view() {
        bool ok = true;
        detail::for_each_secondary<M>([&](const auto& sec, auto) {
            using S = std::remove_cvref_t<decltype(sec.key)>;
            if constexpr (detail::is_member_key_v<S>)
                ok = ok && view_key_v<typename S::value_type>;
            else
                ok = false;
        });
        return ok;
    }

    // ---- the write path -----------------------------------------------------------------

    // Records a change for the watchers and the change log (only while something needs it).
    [[gnu::noinline]] void note(core_t& c, change_kind k, std::span<const std::byte> pk,
                                std::optional<std::span<const std::byte>> row,
                                std::optional<std::span<const std::byte>> old) const {
        c.changes->add(&table_->name, k, pk, row ? &*row : nullptr, old ? &*old : nullptr);
    }

    // clear() while changes are recorded: each row is a remove.
    [[gnu::cold, gnu::noinline]] void note_clear() const {
        core_t& c = *core();
        cursor_t cur(&c, table_->dbi);
        val_t k, v;
        for (bool ok = cur.move(k, v, B::op::first); ok; ok = cur.move(k, v, B::op::next))
            note(c, change_kind::remove, B::to_span(k), std::nullopt, B::to_span(v));
    }

    // A table without indexes, while changes are recorded: an insert is told from an update.
    [[gnu::cold, gnu::noinline]] bool write_noted(core_t& core, handle_t t, val_t key, val_t val,
                                                  write_mode mode, const detail::buffer& kb) {
        val_t old = val;
        core.wrote();
        int rc = B::put(t, table_->dbi, &key, &old, mode == write_mode::append ? B::append : B::no_overwrite);
        if (rc == 0) {
            note(core, change_kind::insert, kb.span(), B::to_span(val), std::nullopt);
            return true;
        }
        if (rc != B::key_exists || mode == write_mode::append) core.fail(rc, "put failed", table_->name);
        if (mode == write_mode::insert) return false;
        note(core, change_kind::update, kb.span(), B::to_span(val), B::to_span(old));
        key = B::to_val(kb.span());
        if ((rc = B::put(t, table_->dbi, &key, &val, 0))) core.fail(rc, "put failed", table_->name);
        return true;
    }

    // Rows put_many can hold by address while it sorts them: a forward range's elements stay
    // where they are while it is iterated again.
    template <class R>
    static constexpr bool sortable_batch() {
        using ref = std::ranges::range_reference_t<R>;
        return std::ranges::forward_range<R> && std::is_lvalue_reference_v<ref> &&
               std::is_same_v<std::remove_cvref_t<ref>, M>;
    }

    // A key of at most 8 bytes, all of one size, is its own prefix (below): no buffer holds it.
    static constexpr bool small_key = detail::fixed_size<key_type>() != 0 && detail::fixed_size<key_type>() <= 8;
    struct long_entry {
        std::uint64_t prefix;
        std::uint64_t at_size;  // offset in keys << 16 | size (a key of 64 KiB is over LMDB's limit)
        const M* row;
    };
    struct small_entry {
        std::uint64_t prefix;
        const M* row;
    };
    // A batch's rows with their encoded primary keys (in one buffer), in key order. An entry
    // carries its key's first 8 bytes as a big-endian integer (zero-padded), which orders two
    // keys whenever they differ there, and decides every compare of small keys.
    struct sorted_batch {
        using entry = std::conditional_t<small_key, small_entry, long_entry>;
        detail::buffer keys;  // unused for a small key
        std::vector<entry> rows;
        // The encoded key, into out.
        void key(const entry& e, detail::buffer& out) const {
            out.clear();
            if constexpr (small_key) {
                std::uint64_t be = e.prefix;
                if constexpr (std::endian::native == std::endian::little) be = __builtin_bswap64(be);
                out.append(&be, detail::fixed_size<key_type>());
            } else {
                out.append(keys.data() + (e.at_size >> 16), static_cast<std::size_t>(e.at_size & 0xffff));
            }
        }
        bool less(const entry& x, const entry& y) const noexcept {
            if (x.prefix != y.prefix) return x.prefix < y.prefix;
            if constexpr (small_key) {
                return false;
            } else {
                std::span<const std::byte> a{keys.data() + (x.at_size >> 16), static_cast<std::size_t>(x.at_size & 0xffff)};
                std::span<const std::byte> b{keys.data() + (y.at_size >> 16), static_cast<std::size_t>(y.at_size & 0xffff)};
                std::size_t n = a.size() < b.size() ? a.size() : b.size();
                int c = n > 8 ? std::memcmp(a.data() + 8, b.data() + 8, n - 8) : 0;
                return c < 0 || (c == 0 && a.size() < b.size());
            }
        }
    };

    // An encoded key's first 8 bytes as a big-endian integer, zero-padded: ordered as the keys
    // are wherever they differ in those bytes.
    static std::uint64_t prefix_of(const std::byte* k, std::size_t size) noexcept {
        std::uint64_t v = 0;
        if (size >= 8) [[likely]]
            std::memcpy(&v, k, 8);
        else
            std::memcpy(&v, k, size);
        if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
        return v;
    }

    // Encodes and checks every row's primary key (key_too_large before anything is written);
    // false at the first key below the one before it (sort_rows then checks the rest).
    template <class R>
    bool keys_ascend(R& rows) const {
        if constexpr (small_key) {  // within LMDB's limit: only the order to check, as integers
            detail::buffer kb;
            std::uint64_t prev = 0;
            for (const M& m : rows) {
                kb.clear();
                detail::encode_key(kb, pk_of(m));
                std::uint64_t now = prefix_of(kb.data(), detail::fixed_size<key_type>());
                if (now < prev) return false;
                prev = now;
            }
            return true;
        }
        detail::buffer one, two;
        detail::buffer *prev = &one, *cur = &two;
        bool first = true;
        for (const M& m : rows) {
            cur->clear();
            detail::encode_key(*cur, pk_of(m));
            check_size(*cur, nullptr, pk_of(m));
            if (!first && detail::compare(prev->span(), cur->span()) > 0) return false;
            first = false;
            std::swap(prev, cur);
        }
        return true;
    }

    // Encodes and checks every row's primary key, then sorts them (stably).
    template <class R>
    void sort_rows(R& rows, sorted_batch& b) const {
        using entry = typename sorted_batch::entry;
        if constexpr (std::ranges::sized_range<R>) b.rows.reserve(std::ranges::size(rows));
        const std::size_t max = core()->env->max_key_size();
        for (const M& m : rows) {
            if constexpr (small_key) b.keys.clear();  // only the prefix is kept
            const std::size_t at = b.keys.size();
            detail::encode_key(b.keys, pk_of(m));
            const std::size_t size = b.keys.size() - at;
            const std::byte* k = b.keys.data() + at;
            if (size > max) [[unlikely]] {
                detail::buffer kb;
                kb.append(k, size);
                key_too_large(kb, nullptr, pk_of(m));
            }
            const std::uint64_t prefix = prefix_of(k, size);
            if constexpr (small_key)
                b.rows.push_back(entry{prefix, &m});
            else
                b.rows.push_back(entry{prefix, std::uint64_t{at} << 16 | size, &m});
        }
        std::vector<entry> scratch(b.rows.size());
        if constexpr (small_key) {  // the prefix is the whole key; radix pays for its 16 KiB of counts past ~256 rows
            if (b.rows.size() >= 256) {
                detail::radix_sort(b.rows.data(), b.rows.data() + b.rows.size(), scratch.data(),
                                   [](const entry& e) { return e.prefix; });
                return;
            }
        }
        detail::stable_sort(b.rows.data(), b.rows.data() + b.rows.size(), scratch.data(),
                            [&](const entry& x, const entry& y) { return b.less(x, y); });
    }

    // put_many's loop over a sorted batch; n counts the rows written.
    void put_sorted(const sorted_batch& b, std::size_t& n) {
        detail::key_bytes last;
        bool have_last = last_key(last);
        detail::buffer kb;
        for (const auto& e : b.rows) {
            b.key(e, kb);
            put_next(*e.row, kb, last, have_last);
            ++n;
        }
    }

    // put_many's loop; n counts the rows written.
    template <class R>
    void put_rows(R& rows, std::size_t& n) {
        detail::key_bytes last;
        bool have_last = last_key(last);
        detail::buffer kb;
        for (const M& m : rows) {
            kb.clear();
            detail::encode_key(kb, pk_of(m));
            put_next(m, kb, last, have_last);
            ++n;
        }
    }

    // One row of put_many (kb: its encoded key): appended when it sorts after the last key.
    void put_next(const M& m, const detail::buffer& kb, detail::key_bytes& last, bool& have_last) {
        bool past_end = !have_last || pk_after(kb.span(), last.span());
        write_row(m, past_end ? write_mode::append : write_mode::upsert, kb);
        if (past_end) {  // write_row has checked the size
            if constexpr (detail::fixed_size<key_type>() != 0) {
                last.size = detail::fixed_size<key_type>();
                std::memcpy(last.data, kb.data(), detail::fixed_size<key_type>());
            } else {
                last.assign(kb.span());
            }
            have_last = true;
        }
    }

    // The one write path for put, insert and put_many: validates everything (key sizes,
    // unique keys) before the first LMDB write, so a rejected row leaves the transaction
    // exactly as it was. Then one MDB_NOOVERWRITE put through a cursor: a new key costs one
    // B-tree descent, and an existing key hands back its old value (for the index keys it
    // had) with the cursor on it, to overwrite in place.
    bool write_row(const M& m, write_mode mode) {
        detail::buffer kb;
        detail::encode_key(kb, pk_of(m));
        return write_row(m, mode, kb);
    }
    // kb: the row's primary key, encoded.
    bool write_row(const M& m, write_mode mode, const detail::buffer& kb) {
        core_t& core = *this->core();
        handle_t t = core.live();
        check_size(kb, nullptr, pk_of(m));
        val_t key = B::to_val(kb.span());
        detail::buffer& rowbuf = core.env->row_buffer;

        if constexpr (N == 0) {
            detail::encode_row(rowbuf, m, core.env->checksum());
            val_t val = B::to_val(rowbuf.span());
            if (core.changes) [[unlikely]]
                return write_noted(core, t, key, val, mode, kb);
            unsigned flags = mode == write_mode::append   ? B::append
                             : mode == write_mode::insert ? B::no_overwrite
                                                          : 0u;
            core.wrote();
            int rc = B::put(t, table_->dbi, &key, &val, flags);
            if (rc == B::key_exists && mode == write_mode::insert) return false;
            if (rc) core.fail(rc, "put failed", table_->name);
            return true;
        } else {
            if constexpr (has_unique_key()) {
                // insert's answer for an existing key comes before any unique violation.
                if (mode == write_mode::insert) {
                    val_t old;
                    int rc = B::get(t, table_->dbi, &key, &old);
                    if (rc == 0) return false;
                    if (rc != B::not_found) core.fail(rc, "get failed", table_->name);
                }
            }
            std::array<index_change, N> ch;
            detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                constexpr std::size_t i = decltype(pos)::value;
                const detail::index_state& ix = table_->indexes[i];
                index_change& x = ch[i];
                encode_keys(sec, m, x.now, &x.now_items, &ix, true);
                // A unique key this row already holds belongs to its own pk: check_unique passes.
                if (ix.unique) check_unique_all(sec, t, ix, x, kb.span(), m);
            });
            detail::encode_row(rowbuf, m, core.env->checksum());
            val_t val = B::to_val(rowbuf.span());

            // Everything is valid: from here on only LMDB itself can fail.
            core.wrote();
            if (mode == write_mode::append) {
                if (int rc = B::put(t, table_->dbi, &key, &val, B::append))
                    core.fail(rc, "put failed", table_->name);
                if (core.changes) [[unlikely]]
                    note(core, change_kind::insert, kb.span(), rowbuf.span(), std::nullopt);
                move_entries(t, ch, key, false, false);
                return true;
            }
            cursor_t c = write_cursor(core);
            val_t old = val;
            int rc = B::cursor_put(c.get(), &key, &old, B::no_overwrite);
            if (rc == 0) {
                if (core.changes) [[unlikely]]
                    note(core, change_kind::insert, kb.span(), rowbuf.span(), std::nullopt);
                move_entries(t, ch, key, false, false);
                return true;
            }
            if (rc != B::key_exists) core.fail(rc, "put failed", table_->name);
            if (mode == write_mode::insert) return false;  // nothing written
            // The old row (nothing written yet, so its bytes are still valid): its index keys,
            // or, when it does not decode, a purge of whatever entries point at its key.
            bool decoded = old_keys(B::to_span(old), ch);
            detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                index_change& x = ch[decltype(pos)::value];
                x.changed = !decoded || keys_changed(sec, x);
            });
            key = B::to_val(kb.span());
            if (core.changes) [[unlikely]]
                note(core, change_kind::update, kb.span(), rowbuf.span(), B::to_span(old));
            if ((rc = B::cursor_put(c.get(), &key, &val, B::current)))
                core.fail(rc, "put failed", table_->name);
            move_entries(t, ch, key, decoded, !decoded);
            return true;
        }
    }

    // The index keys of a stored row, into each ch[i].was (and was_items); false if the row
    // does not decode (or names a key no valid row could have), so that put and remove can
    // still replace or delete it: its entries are then found by purge_entries.
    bool old_keys(std::span<const std::byte> stored, std::array<index_change, N>& ch) const {
        try {
            if constexpr (old_keys_from_view()) {
                reader r = detail::open_row(stored);
                View<M> v(std::span<const std::byte>(r.position(), r.remaining()));
                detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                    constexpr std::size_t i = decltype(pos)::value;
                    constexpr auto member = std::get<i>(traits::decl.secondaries).key.member;
                    ch[i].was.clear();
                    static_assert(!std::remove_cvref_t<decltype(sec)>::sparse,
                                  "view_key_v admits no optional (sparse) key: its nullopt would need no entry");
                    detail::encode_key(ch[i].was, v.template get<member>());
                });
            } else {
                M before{};
                detail::decode_row(stored, before);
                detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                    constexpr std::size_t i = decltype(pos)::value;
                    ch[i].was.clear();
                    encode_keys(sec, before, ch[i].was, &ch[i].was_items, &table_->indexes[i], false);
                });
            }
        } catch (const error& e) {
            if (e.code() != errc::corrupt_value) throw;
            return false;
        }
        // Every key was checked when it was written: a longer one means the row is corrupt.
        const std::size_t max = core()->env->max_key_size();
        for (const index_change& x : ch) {
            if (x.was_items.empty()) {
                if (x.was.size() > max) return false;
            } else {
                for (auto it : x.was_items)
                    if (it.second > max) return false;
            }
        }
        return true;
    }

    // The index side of a row write, for each index whose keys changed: delete the old
    // entries (exists), or every entry naming this key (purge: the old row did not decode),
    // then put the new ones. A multi-valued key writes only the difference of its key sets.
    // Anything thrown here comes after the row was written, so it marks the transaction failed.
    void move_entries(handle_t t, std::array<index_change, N>& ch, val_t pk, bool exists, bool purge) {
        try {
            detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                constexpr std::size_t i = decltype(pos)::value;
                index_change& x = ch[i];
                if (!x.changed) return;
                const detail::index_state& ix = table_->indexes[i];
                if (purge) purge_entries(t, ix, pk);
                if constexpr (!std::remove_cvref_t<decltype(sec.key)>::multi) {
                    if (exists && has_key(sec, x.was)) del_entry(t, ix, x.was.span(), pk);
                    if (has_key(sec, x.now)) put_entry(t, ix, x.now.span(), pk);
                } else {
                    if (exists)
                        for (auto it : x.was_items)
                            if (!has_item(x.now, x.now_items, item(x.was, it))) del_entry(t, ix, item(x.was, it), pk);
                    for (auto it : x.now_items)
                        if (!exists || !has_item(x.was, x.was_items, item(x.now, it)))
                            put_entry(t, ix, item(x.now, it), pk);
                }
            });
        } catch (...) {
            stopped_midway();
            throw;
        }
    }

    // Deletes every entry of ix that points at pk: O(entries), for rows that do not decode.
    void purge_entries(handle_t t, const detail::index_state& ix, val_t pk) {
        std::vector<std::vector<std::byte>> keys;  // collected first: deleting moves the cursor
        {
            cursor_t c(core(), ix.dbi);
            val_t k, v;
            for (bool ok = c.move(k, v, B::op::first); ok; ok = c.move(k, v, B::op::next))
                if (detail::compare(B::to_span(v), B::to_span(pk)) == 0) {
                    auto sk = B::to_span(k);
                    keys.emplace_back(sk.begin(), sk.end());
                }
        }
        for (const auto& sk : keys) del_entry(t, ix, sk, pk);
    }

    void put_entry(handle_t t, const detail::index_state& ix, std::span<const std::byte> sk, val_t pk) {
        val_t skv = B::to_val(sk);
        if (int rc = B::put(t, ix.dbi, &skv, &pk, 0))
            core()->fail(rc, "index put failed", table_->name, ix.name);
    }

    void del_entry(handle_t t, const detail::index_state& ix, std::span<const std::byte> sk, val_t pk) {
        val_t skv = B::to_val(sk);
        int rc = B::del(t, ix.dbi, &skv, ix.unique ? nullptr : &pk);
        if (rc != 0 && rc != B::not_found) core()->fail(rc, "index delete failed", table_->name, ix.name);
    }

    // Finds the row with a cursor, reads its index keys (through a View where it can), then
    // deletes it through that cursor (one descent) and its index entries after it.
    bool remove_encoded(const detail::buffer& kb) {
        core_t& core = *this->core();
        handle_t t = core.live();
        cursor_t c = write_cursor(core);
        val_t key = B::to_val(kb.span()), old;
        int rc = B::cursor_get(c.get(), &key, &old, B::op::set_key);
        if (rc == B::not_found) return false;
        if (rc) core.fail(rc, "remove: row lookup failed", table_->name);
        key = B::to_val(kb.span());
        std::array<index_change, N> ch;
        bool decoded = true;
        if constexpr (N > 0) decoded = old_keys(B::to_span(old), ch);
        if (core.changes) [[unlikely]]
            note(core, change_kind::remove, kb.span(), std::nullopt, B::to_span(old));
        core.wrote();
        if ((rc = B::cursor_del(c.get()))) core.fail(rc, "remove failed", table_->name);
        if constexpr (N > 0) {
            try {
                detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                    constexpr std::size_t i = decltype(pos)::value;
                    const detail::index_state& ix = table_->indexes[i];
                    if (!decoded) return purge_entries(t, ix, key);
                    if constexpr (!std::remove_cvref_t<decltype(sec.key)>::multi) {
                        if (has_key(sec, ch[i].was)) del_entry(t, ix, ch[i].was.span(), key);
                    } else {
                        for (auto it : ch[i].was_items) del_entry(t, ix, item(ch[i].was, it), key);
                    }
                });
            } catch (...) {
                stopped_midway();
                throw;
            }
        }
        return true;
    }

    const detail::table_state<N>* table_;
};

}  // namespace netabase
