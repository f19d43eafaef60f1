// Tree<M>: one model's table and its secondary indexes, seen through one transaction.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/detail/buffer.hpp"
#include "netabase/detail/calls.hpp"
#include "netabase/detail/lifetime.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"
#include "netabase/guard.hpp"
#include "netabase/key.hpp"
#include "netabase/model.hpp"

#include <lmdb.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <ranges>
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

enum class upper_kind : unsigned char { none, before, prefix };

// A cursor walk over one database: its bounds, its direction, and whether its entries are
// index entries whose values are primary keys to look up.
struct scan_spec {
    MDB_dbi dbi = 0;
    MDB_dbi primary = 0;
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
struct scan_source {
    txn_core* core = nullptr;
    const std::string* table = nullptr;
    MDB_dbi dbi = 0;
    MDB_dbi primary = 0;
    bool through_index = false;
};

}  // namespace detail

template <class M, access A = access::read>
class Tree;
template <class M, class K, access A = access::read>
class Index;

// Rows of one scan, in key order (or reversed): an input range whose iterator owns an LMDB
// cursor. The iterator reads its bounds from the Rows: keep the Rows alive while iterating
// (a range-for over `tree.range(a, b)` does).
template <class M>
class Rows : public std::ranges::view_interface<Rows<M>> {
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
            MDB_val k, v;
            settle(cur_.move(k, v, step_), k, v);
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.done_; }

    private:
        friend class Rows;
        template <class, access>
        friend class Tree;
        template <class, class, access>
        friend class Index;

        // Copies what it needs of `spec` except the bounds, which it reads through pointers:
        // a spec with bounds must outlive the iterator.
        iterator(const detail::scan_source& src, const detail::scan_spec& spec)
            : core_(src.core),
              table_(src.table),
              primary_(spec.primary),
              through_index_(spec.through_index),
              reverse_(spec.reverse),
              has_lo_(spec.has_lo),
              upper_(spec.upper),
              lo_(&spec.lo),
              hi_(&spec.hi),
              check_(spec.dups ? bound_check::none : check_of(spec)),
              step_(spec.dups ? (spec.reverse ? MDB_PREV_DUP : MDB_NEXT_DUP) : (spec.reverse ? MDB_PREV : MDB_NEXT)),
              life_(detail::stamp::of(src.core->life)) {
            src.core->live();
            if (spec.empty) return;
            cur_ = detail::pooled_cursor(core_, spec.dbi);
            MDB_val k{}, v{};
            settle(start(k, v), k, v);
        }

        bool start(MDB_val& k, MDB_val& v) {
            if (step_ == MDB_NEXT_DUP || step_ == MDB_PREV_DUP) {
                k = detail::to_val(lo_->span());
                if (!cur_.move(k, v, MDB_SET_KEY)) return false;
                return step_ == MDB_NEXT_DUP || cur_.move(k, v, MDB_LAST_DUP);
            }
            if (!reverse_) {
                if (!has_lo_) return cur_.move(k, v, MDB_FIRST);
                k = detail::to_val(lo_->span());
                return cur_.move(k, v, MDB_SET_RANGE);
            }
            detail::key_bytes above;  // the first key past the range, if any
            bool bounded = false;
            if (upper_ == detail::upper_kind::before) {
                above = *hi_;
                bounded = true;
            } else if (upper_ == detail::upper_kind::prefix) {
                bounded = detail::prefix_successor(*hi_, above);
            }
            if (!bounded) return cur_.move(k, v, MDB_LAST);
            k = detail::to_val(above.span());
            if (cur_.move(k, v, MDB_SET_RANGE)) return cur_.move(k, v, MDB_PREV);
            return cur_.move(k, v, MDB_LAST);
        }

        // Takes the entry the cursor landed on, or ends the walk. Inline: it runs once per row.
        void settle(bool found, const MDB_val& k, const MDB_val& v) {
            auto key = detail::to_span(k);
            if (!found || (check_ != bound_check::none && past_bound(key))) [[unlikely]] {
                done_ = true;
                return;
            }
            done_ = false;
            key_ = key;
            row_ = detail::to_span(v);
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

        // An index entry: its value is the primary key of the row to show.
        void look_up_row() {
            MDB_val pk = detail::to_val(row_), row;
            int rc = detail::mdb::get(core_->txn, primary_, &pk, &row);
            if (rc == MDB_NOTFOUND) [[unlikely]]
                throw error(errc::corrupt_value,
                            "an index entry of table '" + *table_ + "' names a row that is not there", *table_);
            if (rc != 0) [[unlikely]]
                detail::throw_lmdb(rc, "index lookup failed", *table_);
            key_ = detail::to_span(pk);
            row_ = detail::to_span(row);
        }

        detail::txn_core* core_ = nullptr;
        const std::string* table_ = nullptr;
        MDB_dbi primary_ = 0;
        bool through_index_ = false;
        bool reverse_ = false;
        bool has_lo_ = false;
        detail::upper_kind upper_ = detail::upper_kind::none;
        const detail::key_bytes* lo_ = nullptr;
        const detail::key_bytes* hi_ = nullptr;
        bound_check check_ = bound_check::none;
        MDB_cursor_op step_ = MDB_NEXT;
        detail::pooled_cursor cur_;
        std::span<const std::byte> key_, row_;
        [[no_unique_address]] detail::stamp life_;
        bool done_ = true;
    };

    Rows() = default;
    Rows(const detail::scan_source& src, const detail::scan_spec& spec)
        : src_(src), spec_(spec), life_(detail::stamp::of(src.core->life)) {}

    iterator begin() const {
        if (!life_.open()) [[unlikely]]
            detail::throw_finished();  // checked build: its transaction ended, maybe is gone
        return iterator(src_, spec_);
    }
    std::default_sentinel_t end() const noexcept { return {}; }

    // The same rows, last first.
    Rows reverse() const {
        Rows r = *this;
        r.spec_.reverse = !r.spec_.reverse;
        return r;
    }

private:
    detail::scan_source src_;
    detail::scan_spec spec_;
    [[no_unique_address]] detail::stamp life_;
};

namespace detail {

// What trees and indexes share: ordered scans over keys of type K.
template <class M, class K>
class ordered {
public:
    using lookup_type = lookup_t<K>;

    // Every row in key order.
    Rows<M> all() const { return Rows<M>(src_, base()); }
    // Every row, last first.
    Rows<M> reverse() const { return all().reverse(); }
    // Rows whose key is in [lo, hi).
    Rows<M> range(const lookup_type& lo, const lookup_type& hi) const {
        scan_spec s = base();
        lower(s, lo);
        upper(s, hi);
        return Rows<M>(src_, s);
    }
    // Rows whose key is >= lo.
    Rows<M> from(const lookup_type& lo) const {
        scan_spec s = base();
        lower(s, lo);
        return Rows<M>(src_, s);
    }
    // Rows whose key is < hi.
    Rows<M> until(const lookup_type& hi) const {
        scan_spec s = base();
        upper(s, hi);
        return Rows<M>(src_, s);
    }
    // Rows whose string key starts with `p`, or whose composite key starts with the given
    // leading fields: prefix("ali"), prefix(std::string("bob"), 30u).
    template <class... Parts>
    Rows<M> prefix(const Parts&... parts) const {
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
        return Rows<M>(src_, s);
    }

protected:
    ordered() = default;
    explicit ordered(const scan_source& src) : src_(src), life_(stamp::of(src.core->life)) {}

    // The transaction, if it is still open. With lifetime checks on, a tree or index whose
    // transaction ended is refused from its stamp alone, without touching the transaction
    // object, which may be gone.
    txn_core* checked_core() const {
        if (!life_.open()) [[unlikely]]
            throw_finished();
        return src_.core;
    }
    txn_core* core() const { return checked_core(); }

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
        std::size_t max = core()->env->max_key_size();
        if (b.size() <= max) {
            out.assign(b.span());
            return true;
        }
        key_bytes cut;
        cut.assign(b.span().first(max));
        return prefix_successor(cut, out);
    }
    void lower(scan_spec& s, const lookup_type& lo) const {
        s.has_lo = true;
        if (!bound_or_successor(s.lo, lo)) s.empty = true;  // above every possible key
    }
    void upper(scan_spec& s, const lookup_type& hi) const {
        if (bound_or_successor(s.hi, hi)) s.upper = upper_kind::before;  // else: no upper bound
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

    scan_source src_;
    [[no_unique_address]] stamp life_;
};

}  // namespace detail

// One secondary index of a tree: lookups by the key's value, rows in key order (then by
// primary key).
template <class M, class K, access A>
class Index : public detail::ordered<M, K> {
    using base_t = detail::ordered<M, K>;

public:
    using key_type = K;
    using lookup_type = detail::lookup_t<K>;
    static constexpr std::size_t index_count = detail::model_traits<M>::index_count;

    // Every row, in the index's key order. (No bounds, so the iterator needs no Rows.)
    typename Rows<M>::iterator begin() const { return typename Rows<M>::iterator(this->src_, this->base()); }
    std::default_sentinel_t end() const noexcept { return {}; }

    // The rows whose key equals k, by ascending primary key.
    Rows<M> equal_range(const lookup_type& k) const {
        detail::scan_spec s = this->base();
        if (this->bound(s.lo, k)) {
            s.has_lo = true;
            s.hi = s.lo;
            s.upper = detail::upper_kind::prefix;  // keys of one type are prefix-free
            s.dups = !info().unique;  // walk the key's duplicates only: no bound to check per row
        } else {
            s.empty = true;
        }
        return Rows<M>(this->src_, s);
    }

    // How many rows have key k: O(1) (mdb_cursor_count) for a non-unique index.
    std::size_t count(const lookup_type& k) const {
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core()->env->max_key_size()) return 0;
        MDB_val key = detail::to_val(kb.span()), val;
        if (info().unique) {
            int rc = detail::mdb::get(core()->live(), info().dbi, &key, &val);
            if (rc == MDB_NOTFOUND) return 0;
            if (rc) detail::throw_lmdb(rc, "index lookup failed", table_->name, info().name);
            return 1;
        }
        detail::pooled_cursor c(core(), info().dbi);
        if (!c.move(key, val, MDB_SET)) return 0;
        std::size_t n = 0;  // mdb_size_t in newer LMDB, size_t in 0.9
        detail::check(::mdb_cursor_count(c.get(), &n), "mdb_cursor_count");
        return n;
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
        MDB_txn* t = core()->live();
        MDB_val key = detail::to_val(kb.span()), pk, row;
        int rc = detail::mdb::get(t, info().dbi, &key, &pk);
        if (rc == MDB_NOTFOUND) return std::nullopt;
        if (rc) detail::throw_lmdb(rc, "index lookup failed", table_->name, info().name);
        rc = detail::mdb::get(t, table_->dbi, &pk, &row);
        if (rc == MDB_NOTFOUND)
            throw error(errc::corrupt_value,
                        "index '" + info().name + "' names a row of table '" + table_->name + "' that is not there",
                        table_->name, info().name);
        if (rc) detail::throw_lmdb(rc, "row lookup failed", table_->name);
        return Guard<M>(detail::to_span(pk), detail::to_span(row), &table_->name, detail::stamp::of(core()->life));
    }

    // The primary keys of the rows whose key equals k, ascending.
    std::vector<detail::key_of<M>> primary_keys(const lookup_type& k) const {
        std::vector<detail::key_of<M>> out;
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core()->env->max_key_size()) return out;
        detail::pooled_cursor c(core(), info().dbi);
        MDB_val key = detail::to_val(kb.span()), pk;
        if (!c.move(key, pk, MDB_SET)) return out;
        do {
            out.push_back(detail::decode_key_bytes<detail::key_of<M>>(detail::to_span(pk)));
        } while (!info().unique && c.move(key, pk, MDB_NEXT_DUP));  // a unique index has one
        return out;
    }

    // Index entries: the number of rows for a single-valued key.
    std::size_t size() const {
        MDB_stat st;
        detail::check(::mdb_stat(core()->live(), info().dbi, &st), "mdb_stat");
        return static_cast<std::size_t>(st.ms_entries);
    }
    bool empty() const { return size() == 0; }

    std::optional<Guard<M>> first() const { return edge(false); }
    std::optional<Guard<M>> last() const { return edge(true); }

    bool unique() const noexcept { return info().unique; }
    const std::string& name() const noexcept { return info().name; }

private:
    template <class, access>
    friend class Tree;

    Index(detail::txn_core* core, const detail::table_state<index_count>* table, std::size_t pos) noexcept
        : base_t(detail::scan_source{core, &table->name, table->indexes[pos].dbi, table->dbi, true}),
          table_(table),
          pos_(pos) {}

    detail::txn_core* core() const { return this->checked_core(); }
    const detail::index_state& info() const noexcept { return table_->indexes[pos_]; }

    std::optional<Guard<M>> edge(bool last) const {
        Rows<M> rows = last ? this->reverse() : this->all();
        auto it = rows.begin();
        if (it == std::default_sentinel) return std::nullopt;
        return *it;
    }

    const detail::table_state<index_count>* table_;
    std::size_t pos_;
};

template <class M, access A>
class Tree : public detail::ordered<M, detail::key_of<M>> {
    using traits = detail::model_traits<M>;
    using base_t = detail::ordered<M, detail::key_of<M>>;
    static constexpr std::size_t N = traits::index_count;
    static constexpr bool writable = A == access::write;

public:
    using model_type = M;
    using key_type = typename traits::key_type;
    using lookup_type = detail::lookup_t<key_type>;
    using iterator = typename Rows<M>::iterator;

    Tree(detail::txn_core* core, const detail::table_state<N>* table) noexcept
        : base_t(detail::scan_source{core, &table->name, table->dbi, 0, false}), table_(table) {}

    const std::string& name() const noexcept { return table_->name; }

    // ---- reads ------------------------------------------------------------------------

    std::optional<Guard<M>> get(const lookup_type& k) const {
        detail::buffer kb;
        detail::encode_key(kb, k);
        detail::txn_core* c = core();
        if (kb.size() > c->env->max_key_size()) return std::nullopt;
        // A cursor, not mdb_get, so that the guard's key is LMDB's copy and not kb.
        MDB_val key = detail::to_val(kb.span()), row;
        if (MDB_cursor* cur = c->lookup_cursor(table_->dbi)) [[likely]] {
            if (!detail::cursor_move(cur, key, row, MDB_SET_KEY)) return std::nullopt;
        } else {
            detail::pooled_cursor pc(c, table_->dbi);  // every cache slot holds an iterator's cursor
            if (!pc.move(key, row, MDB_SET_KEY)) return std::nullopt;
        }
        return Guard<M>(detail::to_span(key), detail::to_span(row), &table_->name, detail::stamp::of(c->life));
    }

    bool contains(const lookup_type& k) const { return get(k).has_value(); }

    // O(1): LMDB keeps the count in the database's root.
    std::size_t size() const {
        MDB_stat st;
        detail::check(::mdb_stat(core()->live(), table_->dbi, &st), "mdb_stat");
        return static_cast<std::size_t>(st.ms_entries);
    }
    bool empty() const { return size() == 0; }

    // Every row, ascending by primary key. The iterator owns its cursor, so the tree itself
    // needs no Rows object to outlive the loop.
    iterator begin() const { return iterator(this->src_, this->base()); }
    std::default_sentinel_t end() const noexcept { return {}; }

    std::optional<Guard<M>> first() const { return edge(MDB_FIRST); }
    std::optional<Guard<M>> last() const { return edge(MDB_LAST); }

    // A secondary index, named by the field it was declared on.
    template <class T>
    Index<M, T, A> index(T M::*member) const {
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
        return Index<M, T, A>(core(), table_, pos);
    }

    // A secondary index, named by its netabase::key(...) / netabase::keys(...) object.
    template <class F, bool Multi>
    auto index(const computed_key<M, F, Multi>&) const {
        constexpr std::size_t pos = computed_position<detail::computed_key_adapter<M, F, Multi>>();
        static_assert(pos < N, "netabase: index(key): this key is not a secondary key of the model");
        using K = typename detail::computed_key_adapter<M, F, Multi>::value_type;
        return Index<M, K, A>(core(), table_, pos);
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

    // All or nothing: the rows go in through a nested transaction. Keys that ascend past the
    // table's last key take LMDB's append path and skip the lookup of an old row.
    template <std::ranges::input_range R>
        std::size_t put_many(R&&rows) requires writable && std::is_convertible_v < std::ranges::range_reference_t<R>,
    const M& > {
        return nested([&] {
            std::size_t n = 0;
            detail::key_bytes last;
            bool have_last = last_key(last);
            detail::buffer kb;
            for (const M& m : rows) {
                kb.clear();
                detail::encode_key(kb, pk_of(m));
                bool past_end = !have_last || detail::compare(kb.span(), last.span()) > 0;
                write_row(m, past_end ? write_mode::append : write_mode::upsert);
                if (past_end) {  // write_row has checked the size
                    last.assign(kb.span());
                    have_last = true;
                }
                ++n;
            }
            return n;
        });
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
        MDB_txn* t = core()->live();
        core()->wrote();
        if (int rc = detail::mdb::drop(t, table_->dbi, 0)) core()->fail(rc, "clear failed", table_->name);
        for (const auto& ix : table_->indexes)
            if (int rc = detail::mdb::drop(t, ix.dbi, 0)) core()->fail(rc, "clear failed", table_->name, ix.name);
    }

    // Read-modify-write of one row; false if there is none. fn must not change the key.
    // Index entries are rewritten only where a key changed.
    template <class F>
    bool update(const lookup_type& k, F&& fn) requires writable && std::is_invocable_v<F&, M&> {
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core()->env->max_key_size()) return false;
        MDB_val key = detail::to_val(kb.span()), old;
        int rc = detail::mdb::get(core()->live(), table_->dbi, &key, &old);
        if (rc == MDB_NOTFOUND) return false;
        if (rc) core()->fail(rc, "get failed", table_->name);
        M before{};
        Guard<M>(kb.span(), detail::to_span(old), &table_->name).value_into(before);
        M after = before;
        fn(after);
        detail::buffer check;
        detail::encode_key(check, pk_of(after));
        if (detail::compare(kb.span(), check.span()) != 0)
            throw error(errc::invalid_argument,
                        "update() of table '" + table_->name + "' changed the primary key from " +
                            detail::describe_key(k) + " to " + detail::describe_key(pk_of(after)) +
                            "; remove the row and put the new one instead",
                        table_->name);
        write_row(after, write_mode::upsert, &before);
        return true;
    }

private:
    enum class write_mode { upsert, insert, append };

    detail::txn_core* core() const { return this->checked_core(); }

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

    std::optional<Guard<M>> edge(MDB_cursor_op op) const {
        detail::pooled_cursor c(core(), table_->dbi);
        MDB_val k, v;
        if (!c.move(k, v, op)) return std::nullopt;
        return Guard<M>(detail::to_span(k), detail::to_span(v), &table_->name, detail::stamp::of(core()->life));
    }

    bool last_key(detail::key_bytes& out) const {
        detail::pooled_cursor c(core(), table_->dbi);
        MDB_val k, v;
        if (!c.move(k, v, MDB_LAST)) return false;
        out.assign(detail::to_span(k));
        return true;
    }

    // Runs fn in a child transaction: committed into this one on return, discarded on throw.
    template <class Fn>
    auto nested(Fn&& fn) const {
        detail::txn_core& c = *core();
        MDB_txn* parent = c.live();
        MDB_txn* child = nullptr;
        if (int rc = detail::mdb::txn_begin(c.env->get(), parent, 0, &child)) {
            if (rc == MDB_MAP_FULL) c.map_full = true;
            detail::throw_lmdb(rc, "cannot begin a nested transaction", table_->name);  // the parent is untouched
        }
        c.txn = child;
        bool failed_before = c.failed;
        try {
            auto result = fn();
            c.close_cursors_of(child);
            c.txn = parent;
            if (int rc = detail::mdb::txn_commit(child)) c.fail(rc, "nested commit failed", table_->name);
            c.wrote();
            return result;
        } catch (...) {
            if (c.txn == child) {
                c.close_cursors_of(child);
                ::mdb_txn_abort(child);
                c.txn = parent;
            }
            // The parent is untouched by an aborted child; map_full stays set so that
            // store.write() still grows the map.
            c.failed = failed_before;
            c.wrote();
            throw;
        }
    }

    void check_size(const detail::buffer& kb, const detail::index_state* ix, const auto& key) const {
        if (kb.size() > core()->env->max_key_size()) [[unlikely]]
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
        auto it = std::lower_bound(items.begin(), items.end(), k, [&](auto a, std::span<const std::byte> key) {
            return detail::compare(item(b, a), key) < 0;
        });
        return it != items.end() && detail::compare(item(b, *it), k) == 0;
    }

    // Encodes every key the row has in this index: one, or one per distinct element.
    template <class Sec>
    void encode_keys(const Sec& sec, const M& m, detail::buffer& out,
                     std::vector<std::pair<std::uint32_t, std::uint32_t>>* items, const detail::index_state* ix,
                     bool check) const {
        if constexpr (!std::remove_cvref_t<decltype(sec.key)>::multi) {
            decltype(auto) k = sec.key(m);
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
            std::sort(items->begin(), items->end(), less);
            items->erase(std::unique(items->begin(), items->end(), same), items->end());
        }
    }

    // Throws unique_violation if the key belongs to a row other than pk.
    void check_unique(MDB_txn* t, const detail::index_state& ix, std::span<const std::byte> sk,
                      std::span<const std::byte> pk, const M& m) const {
        MDB_val skv = detail::to_val(sk), owner;
        int rc = detail::mdb::get(t, ix.dbi, &skv, &owner);
        if (rc == MDB_NOTFOUND) return;
        if (rc != 0) core()->fail(rc, "index lookup failed", table_->name, ix.name);
        if (detail::compare(detail::to_span(owner), pk) == 0) return;
        std::string other, value;
        try {
            other = detail::describe_key(detail::decode_key_bytes<key_type>(detail::to_span(owner)));
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

    // The one write path: validates everything (key sizes, unique keys) before the first
    // LMDB write, so a rejected row leaves the transaction exactly as it was. `known` is the
    // old row when the caller has already read it.
    bool write_row(const M& m, write_mode mode, const M* known = nullptr) {
        MDB_txn* t = core()->live();
        detail::buffer kb;
        detail::encode_key(kb, pk_of(m));
        check_size(kb, nullptr, pk_of(m));
        MDB_val key = detail::to_val(kb.span());
        detail::buffer& rowbuf = core()->env->row_buffer;

        if constexpr (N == 0) {
            detail::encode_row(rowbuf, m, core()->env->checksum());
            MDB_val val = detail::to_val(rowbuf.span());
            unsigned flags = mode == write_mode::append   ? MDB_APPEND
                             : mode == write_mode::insert ? MDB_NOOVERWRITE
                                                          : 0u;
            int rc = detail::mdb::put(t, table_->dbi, &key, &val, flags);
            if (rc == MDB_KEYEXIST && mode == write_mode::insert) return false;
            if (rc) core()->fail(rc, "put failed", table_->name);
            core()->wrote();
            return true;
        } else {
            bool exists = known != nullptr;
            bool purge = false;
            M before{};
            if (!known && mode != write_mode::append) {
                MDB_val old{};
                int rc = detail::mdb::get(t, table_->dbi, &key, &old);
                if (rc == 0)
                    exists = true;
                else if (rc != MDB_NOTFOUND)
                    core()->fail(rc, "get failed", table_->name);
                if (exists && mode == write_mode::insert) return false;
                if (exists && !decode_old(kb, old, before)) {
                    exists = false;  // its entries are unknown: purge them below, then write anew
                    purge = true;
                }
            }
            const M& old_row = known ? *known : before;

            std::array<index_change, N> ch;
            detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                constexpr std::size_t i = decltype(pos)::value;
                const detail::index_state& ix = table_->indexes[i];
                index_change& c = ch[i];
                encode_keys(sec, m, c.now, &c.now_items, &ix, true);
                if (exists) {
                    encode_keys(sec, old_row, c.was, &c.was_items, &ix, false);
                    c.changed = detail::compare(c.now.span(), c.was.span()) != 0;
                }
                if (!ix.unique || !c.changed) return;
                if constexpr (!std::remove_cvref_t<decltype(sec.key)>::multi) {
                    check_unique(t, ix, c.now.span(), kb.span(), m);
                } else {
                    for (auto it : c.now_items) check_unique(t, ix, item(c.now, it), kb.span(), m);
                }
            });

            // Everything is valid: from here on only LMDB itself can fail.
            core()->wrote();
            detail::encode_row(rowbuf, m, core()->env->checksum());
            MDB_val val = detail::to_val(rowbuf.span());
            if (int rc = detail::mdb::put(t, table_->dbi, &key, &val, mode == write_mode::append ? MDB_APPEND : 0u))
                core()->fail(rc, "put failed", table_->name);
            detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                constexpr std::size_t i = decltype(pos)::value;
                index_change& c = ch[i];
                if (!c.changed) return;
                const detail::index_state& ix = table_->indexes[i];
                if (purge) purge_entries(t, ix, key);
                if constexpr (!std::remove_cvref_t<decltype(sec.key)>::multi) {
                    if (exists) del_entry(t, ix, c.was.span(), key);
                    put_entry(t, ix, c.now.span(), key);
                } else {
                    // Only the difference between the old and new key sets is written.
                    for (auto it : c.was_items)
                        if (!has_item(c.now, c.now_items, item(c.was, it))) del_entry(t, ix, item(c.was, it), key);
                    for (auto it : c.now_items)
                        if (!exists || !has_item(c.was, c.was_items, item(c.now, it)))
                            put_entry(t, ix, item(c.now, it), key);
                }
            });
            return true;
        }
    }

    // The old row, decoded; false if its stored bytes are corrupt, so that put and remove can
    // still replace or delete it (its index entries are then found by purge_entries).
    bool decode_old(const detail::buffer& kb, const MDB_val& old, M& out) const {
        try {
            Guard<M>(kb.span(), detail::to_span(old), &table_->name).value_into(out);
            return true;
        } catch (const error& e) {
            if (e.code() != errc::corrupt_value) throw;
            return false;
        }
    }

    // Deletes every entry of ix that points at pk: O(entries), for rows that do not decode.
    void purge_entries(MDB_txn* t, const detail::index_state& ix, MDB_val pk) {
        std::vector<std::vector<std::byte>> keys;  // collected first: deleting moves the cursor
        {
            detail::pooled_cursor c(core(), ix.dbi);
            MDB_val k, v;
            for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT))
                if (detail::compare(detail::to_span(v), detail::to_span(pk)) == 0) {
                    auto sk = detail::to_span(k);
                    keys.emplace_back(sk.begin(), sk.end());
                }
        }
        for (const auto& sk : keys) del_entry(t, ix, sk, pk);
    }

    void put_entry(MDB_txn* t, const detail::index_state& ix, std::span<const std::byte> sk, MDB_val pk) {
        MDB_val skv = detail::to_val(sk);
        if (int rc = detail::mdb::put(t, ix.dbi, &skv, &pk, 0))
            core()->fail(rc, "index put failed", table_->name, ix.name);
    }

    void del_entry(MDB_txn* t, const detail::index_state& ix, std::span<const std::byte> sk, MDB_val pk) {
        MDB_val skv = detail::to_val(sk);
        int rc = detail::mdb::del(t, ix.dbi, &skv, ix.unique ? nullptr : &pk);
        if (rc != 0 && rc != MDB_NOTFOUND) core()->fail(rc, "index delete failed", table_->name, ix.name);
    }

    bool remove_encoded(const detail::buffer& kb) {
        MDB_txn* t = core()->live();
        MDB_val key = detail::to_val(kb.span()), old;
        int rc = detail::mdb::get(t, table_->dbi, &key, &old);
        if (rc == MDB_NOTFOUND) return false;
        if (rc) core()->fail(rc, "get failed", table_->name);
        if constexpr (N > 0) {
            M before{};
            bool decoded = decode_old(kb, old, before);
            core()->wrote();
            detail::for_each_secondary<M>([&](const auto& sec, auto pos) {
                const detail::index_state& ix = table_->indexes[decltype(pos)::value];
                if (!decoded) return purge_entries(t, ix, key);
                detail::buffer sk;
                std::vector<std::pair<std::uint32_t, std::uint32_t>> items;
                encode_keys(sec, before, sk, &items, &ix, false);
                if constexpr (!std::remove_cvref_t<decltype(sec.key)>::multi) {
                    del_entry(t, ix, sk.span(), key);
                } else {
                    for (auto it : items) del_entry(t, ix, item(sk, it), key);
                }
            });
        }
        core()->wrote();
        if ((rc = detail::mdb::del(t, table_->dbi, &key, nullptr))) core()->fail(rc, "remove failed", table_->name);
        return true;
    }

    const detail::table_state<N>* table_;
};

}  // namespace netabase
