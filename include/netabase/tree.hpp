// Tree<M>: one model's table and its secondary indexes, seen through one transaction.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/detail/buffer.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"
#include "netabase/guard.hpp"
#include "netabase/key.hpp"
#include "netabase/model.hpp"

#include <lmdb.h>

#include <array>
#include <cstddef>
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

enum class stop_kind : unsigned char { none, before, prefix, empty };

// A cursor walk over one database: where it starts, where it stops, and whether its entries
// are index entries whose values are primary keys to look up.
struct scan_spec {
    MDB_dbi dbi = 0;
    MDB_dbi primary = 0;
    bool through_index = false;
    bool has_lo = false;
    stop_kind stop = stop_kind::none;
    key_bytes lo;
    key_bytes hi;
};

}  // namespace detail

template <class M, access A = access::read>
class Tree;
template <class M, class K, access A = access::read>
class Index;

// The rows of one scan, in key order: an input range whose iterators own an LMDB cursor.
// An iterator refers to its Rows for the scan's bounds: keep the Rows alive while iterating
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

        Guard<M> operator*() const { return Guard<M>(key_, row_, table_); }
        iterator& operator++() {
            MDB_val k, v;
            settle(cur_.move(k, v, MDB_NEXT), k, v);
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.done_; }

    private:
        template <class, access>
        friend class Tree;
        template <class, class, access>
        friend class Index;
        friend class Rows;

        iterator(detail::txn_core* core, const std::string* table, const detail::scan_spec& spec)
            : core_(core),
              table_(table),
              primary_(spec.primary),
              through_index_(spec.through_index),
              stop_(spec.stop),
              hi_(&spec.hi) {
            MDB_txn* t = core->live();
            if (stop_ == detail::stop_kind::empty) return;
            cur_ = detail::cursor(t, spec.dbi);
            MDB_val k{}, v{};
            bool found;
            if (spec.has_lo) {
                k = detail::to_val(spec.lo.span());
                found = cur_.move(k, v, MDB_SET_RANGE);
            } else {
                found = cur_.move(k, v, MDB_FIRST);
            }
            settle(found, k, v);
        }

        void settle(bool found, const MDB_val& k, const MDB_val& v) {
            done_ = true;
            if (!found) return;
            auto key = detail::to_span(k);
            if (stop_ == detail::stop_kind::before && detail::compare(key, hi_->span()) >= 0) return;
            if (stop_ == detail::stop_kind::prefix && !detail::starts_with(key, hi_->span())) return;
            done_ = false;
            if (!through_index_) {
                key_ = key;
                row_ = detail::to_span(v);
                return;
            }
            MDB_val pk = v, row;
            int rc = ::mdb_get(core_->txn, primary_, &pk, &row);
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
        detail::stop_kind stop_ = detail::stop_kind::none;
        const detail::key_bytes* hi_ = nullptr;
        detail::cursor cur_;
        std::span<const std::byte> key_, row_;
        bool done_ = true;
    };

    Rows() = default;
    Rows(detail::txn_core* core, const std::string* table, const detail::scan_spec& spec)
        : core_(core), table_(table), spec_(spec) {}

    iterator begin() const { return iterator(core_, table_, spec_); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    detail::txn_core* core_ = nullptr;
    const std::string* table_ = nullptr;
    detail::scan_spec spec_;
};

// One secondary index of a tree: lookups by the key's value, rows in key order.
template <class M, class K, access A>
class Index {
public:
    using key_type = K;
    using lookup_type = detail::lookup_t<K>;
    static constexpr std::size_t index_count = detail::model_traits<M>::index_count;

    // The rows whose key equals k, by ascending primary key.
    Rows<M> equal_range(const lookup_type& k) const {
        detail::scan_spec s = spec();
        if (encode_bound(s.lo, k)) {
            s.has_lo = true;
            s.hi = s.lo;
            s.stop = detail::stop_kind::prefix;  // keys of one type are prefix-free
        } else {
            s.stop = detail::stop_kind::empty;  // too large to be stored: no row has it
        }
        return Rows<M>(core_, &table_->name, s);
    }

    // The rows whose key is in [lo, hi), in key order.
    Rows<M> range(const lookup_type& lo, const lookup_type& hi) const {
        detail::scan_spec s = spec();
        bound_or_throw(s.lo, lo);
        bound_or_throw(s.hi, hi);
        s.has_lo = true;
        s.stop = detail::stop_kind::before;
        return Rows<M>(core_, &table_->name, s);
    }

    // How many rows have key k: O(1) for a non-unique index.
    std::size_t count(const lookup_type& k) const {
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core_->env->max_key_size()) return 0;
        MDB_val key = detail::to_val(kb.span()), val;
        if (info().unique) {
            int rc = ::mdb_get(core_->live(), info().dbi, &key, &val);
            if (rc == MDB_NOTFOUND) return 0;
            if (rc) detail::throw_lmdb(rc, "index lookup failed", table_->name, info().name);
            return 1;
        }
        detail::cursor c(core_->live(), info().dbi);
        if (!c.move(key, val, MDB_SET)) return 0;
        std::size_t n = 0;  // mdb_size_t in newer LMDB, size_t in 0.9
        detail::check(::mdb_cursor_count(c.get(), &n), "mdb_cursor_count");
        return static_cast<std::size_t>(n);
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
        if (kb.size() > core_->env->max_key_size()) return std::nullopt;
        MDB_txn* t = core_->live();
        MDB_val key = detail::to_val(kb.span()), pk, row;
        int rc = ::mdb_get(t, info().dbi, &key, &pk);
        if (rc == MDB_NOTFOUND) return std::nullopt;
        if (rc) detail::throw_lmdb(rc, "index lookup failed", table_->name, info().name);
        rc = ::mdb_get(t, table_->dbi, &pk, &row);
        if (rc == MDB_NOTFOUND)
            throw error(errc::corrupt_value,
                        "index '" + info().name + "' names a row of table '" + table_->name + "' that is not there",
                        table_->name, info().name);
        if (rc) detail::throw_lmdb(rc, "row lookup failed", table_->name);
        return Guard<M>(detail::to_span(pk), detail::to_span(row), &table_->name);
    }

    // The primary keys of the rows whose key equals k, ascending.
    std::vector<detail::key_of<M>> primary_keys(const lookup_type& k) const {
        std::vector<detail::key_of<M>> out;
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core_->env->max_key_size()) return out;
        detail::cursor c(core_->live(), info().dbi);
        MDB_val key = detail::to_val(kb.span()), pk;
        for (bool ok = c.move(key, pk, MDB_SET); ok; ok = c.move(key, pk, MDB_NEXT_DUP))
            out.push_back(detail::decode_key_bytes<detail::key_of<M>>(detail::to_span(pk)));
        return out;
    }

    // Index entries, which is the number of rows for a single-valued key.
    std::size_t size() const {
        MDB_stat st;
        detail::check(::mdb_stat(core_->live(), info().dbi, &st), "mdb_stat");
        return static_cast<std::size_t>(st.ms_entries);
    }
    bool empty() const { return size() == 0; }

    bool unique() const noexcept { return info().unique; }
    const std::string& name() const noexcept { return info().name; }

    // Every row, in the index's key order.
    typename Rows<M>::iterator begin() const { return typename Rows<M>::iterator(core_, &table_->name, spec()); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    template <class, access>
    friend class Tree;

    Index(detail::txn_core* core, const detail::table_state<index_count>* table, std::size_t pos) noexcept
        : core_(core), table_(table), pos_(pos) {}

    const detail::index_state& info() const noexcept { return table_->indexes[pos_]; }

    detail::scan_spec spec() const {
        core_->live();
        detail::scan_spec s;
        s.dbi = info().dbi;
        s.primary = table_->dbi;
        s.through_index = true;
        return s;
    }

    bool encode_bound(detail::key_bytes& out, const lookup_type& k) const {
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core_->env->max_key_size()) return false;
        out.assign(kb.span());
        return true;
    }

    void bound_or_throw(detail::key_bytes& out, const lookup_type& k) const {
        if (!encode_bound(out, k)) {
            detail::buffer kb;
            detail::encode_key(kb, k);
            detail::throw_key_too_large(kb.size(), core_->env->max_key_size(), table_->name, &info().name,
                                        detail::describe_key(k));
        }
    }

    detail::txn_core* core_;
    const detail::table_state<index_count>* table_;
    std::size_t pos_;
};

template <class M, access A>
class Tree {
    using traits = detail::model_traits<M>;
    static constexpr std::size_t N = traits::index_count;
    static constexpr bool writable = A == access::write;

public:
    using model_type = M;
    using key_type = typename traits::key_type;
    using lookup_type = detail::lookup_t<key_type>;
    using iterator = typename Rows<M>::iterator;

    Tree(detail::txn_core* core, const detail::table_state<N>* table) noexcept : core_(core), table_(table) {}

    const std::string& name() const noexcept { return table_->name; }

    // ---- reads ------------------------------------------------------------------------

    std::optional<Guard<M>> get(const lookup_type& k) const {
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core_->env->max_key_size()) return std::nullopt;
        MDB_val key = detail::to_val(kb.span()), row;
        int rc = ::mdb_get(core_->live(), table_->dbi, &key, &row);
        if (rc == MDB_NOTFOUND) return std::nullopt;
        if (rc) [[unlikely]]
            detail::throw_lmdb(rc, "get failed", table_->name);
        return Guard<M>(detail::to_span(key), detail::to_span(row), &table_->name);
    }

    bool contains(const lookup_type& k) const { return get(k).has_value(); }

    // O(1): LMDB keeps the count in the database's root.
    std::size_t size() const {
        MDB_stat st;
        detail::check(::mdb_stat(core_->live(), table_->dbi, &st), "mdb_stat");
        return static_cast<std::size_t>(st.ms_entries);
    }
    bool empty() const { return size() == 0; }

    // Every row, ascending by primary key.
    iterator begin() const { return iterator(core_, &table_->name, table_spec()); }
    std::default_sentinel_t end() const noexcept { return {}; }

    // Rows whose primary key is in [lo, hi).
    Rows<M> range(const lookup_type& lo, const lookup_type& hi) const {
        detail::scan_spec s = table_spec();
        bound(s.lo, lo);
        bound(s.hi, hi);
        s.has_lo = true;
        s.stop = detail::stop_kind::before;
        return Rows<M>(core_, &table_->name, s);
    }

    std::optional<Guard<M>> first() const { return edge(MDB_FIRST); }
    std::optional<Guard<M>> last() const { return edge(MDB_LAST); }

    // A secondary index, named by the field it was declared on.
    template <class T>
    Index<M, T, A> index(T M::*member) const {
        static_assert(has_member_index<T>(),
                      "netabase: index(&M::field): no secondary key of this model is declared on a field of this type");
        std::size_t pos = N;
        for_each_index([&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
            using declared = decltype(std::get<I>(traits::decl.secondaries).key);
            if constexpr (std::is_same_v<std::remove_cv_t<declared>, detail::member_key<M, T>>)
                if (std::get<I>(traits::decl.secondaries).key.member == member) pos = I;
        });
        if (pos == N)
            throw error(errc::not_found,
                        "table '" + table_->name + "' has no secondary key on field " +
                            std::to_string(detail::field_index(member)),
                        table_->name);
        return Index<M, T, A>(core_, table_, pos);
    }

    // A secondary index, named by its netabase::key(...) object.
    template <class F>
    auto index(const computed_key<M, F>&) const {
        constexpr std::size_t pos = computed_position<F>();
        static_assert(pos < N, "netabase: index(key): this key is not a secondary key of the model");
        using K = typename detail::computed_key_adapter<M, F>::value_type;
        return Index<M, K, A>(core_, table_, pos);
    }

    // Primary keys of the rows whose secondary key equals k (the Rust netabase spelling).
    template <class Field, class Q>
    auto get_by_secondary_key(Field field, const Q& k) const {
        auto idx = index(field);
        return idx.primary_keys(k);
    }

    // ---- writes -----------------------------------------------------------------------

    // Inserts or replaces the row; its index entries follow the new value.
    void put(const M& m) requires writable { write_row(m, false, false, false); }

    // Writes the row only if its key is new; false (and nothing written) when it exists.
    bool insert(const M& m) requires writable { return write_row(m, true, false, false); }

    // All or nothing: the rows go in through a nested transaction. Keys that ascend past the
    // table's last key take LMDB's append path.
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
                write_row(m, false, past_end, past_end);
                if (past_end && kb.size() <= core_->env->max_key_size()) {
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
        if (kb.size() > core_->env->max_key_size()) return false;
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
        MDB_txn* t = core_->live();
        ++core_->generation;
        if (int rc = ::mdb_drop(t, table_->dbi, 0)) core_->fail(rc, "clear failed", table_->name);
        for (const auto& ix : table_->indexes)
            if (int rc = ::mdb_drop(t, ix.dbi, 0)) core_->fail(rc, "clear failed", table_->name, ix.name);
    }

    // Read-modify-write of one row; false if there is none. fn must not change the key.
    template <class F>
    bool update(const lookup_type& k, F&& fn) requires writable && std::is_invocable_v<F&, M&> {
        auto g = get(k);
        if (!g) return false;
        M m = g->value();
        fn(m);
        detail::buffer before, after;
        detail::encode_key(before, k);
        detail::encode_key(after, pk_of(m));
        if (detail::compare(before.span(), after.span()) != 0)
            throw error(errc::invalid_argument,
                        "update() of table '" + table_->name + "' changed the primary key from " +
                            detail::describe_key(k) + " to " + detail::describe_key(pk_of(m)) +
                            "; remove the row and put the new one instead",
                        table_->name);
        write_row(m, false, false, false);
        return true;
    }

private:
    static decltype(auto) pk_of(const M& m) { return traits::decl.primary(m); }

    template <class Fn>
    static void for_each_index(Fn&& fn) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (fn(std::integral_constant<std::size_t, I>{}), ...); }
        (std::make_index_sequence<N>{});
    }

    template <class T>
    static constexpr bool has_member_index() {
        return []<std::size_t... I>(std::index_sequence<I...>) {
            return (false || ... ||
                    std::is_same_v<std::remove_cv_t<decltype(std::get<I>(traits::decl.secondaries).key)>,
                                   detail::member_key<M, T>>);
        }
        (std::make_index_sequence<N>{});
    }

    template <class F>
    static constexpr std::size_t computed_position() {
        std::size_t pos = N;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((std::is_same_v<std::remove_cv_t<decltype(std::get<I>(traits::decl.secondaries).key)>,
                             detail::computed_key_adapter<M, F>>
                  ? (pos = I, true)
                  : false) ||
             ...);
        }
        (std::make_index_sequence<N>{});
        return pos;
    }

    detail::scan_spec table_spec() const {
        core_->live();
        detail::scan_spec s;
        s.dbi = table_->dbi;
        return s;
    }

    void bound(detail::key_bytes& out, const lookup_type& k) const {
        detail::buffer kb;
        detail::encode_key(kb, k);
        if (kb.size() > core_->env->max_key_size())
            detail::throw_key_too_large(kb.size(), core_->env->max_key_size(), table_->name, nullptr,
                                        detail::describe_key(k));
        out.assign(kb.span());
    }

    std::optional<Guard<M>> edge(MDB_cursor_op op) const {
        detail::cursor c(core_->live(), table_->dbi);
        MDB_val k, v;
        if (!c.move(k, v, op)) return std::nullopt;
        return Guard<M>(detail::to_span(k), detail::to_span(v), &table_->name);
    }

    bool last_key(detail::key_bytes& out) const {
        detail::cursor c(core_->live(), table_->dbi);
        MDB_val k, v;
        if (!c.move(k, v, MDB_LAST)) return false;
        out.assign(detail::to_span(k));
        return true;
    }

    // Runs fn in a child transaction: committed into this one on return, discarded on throw.
    template <class Fn>
    auto nested(Fn&& fn) const {
        MDB_txn* parent = core_->live();
        MDB_txn* child = nullptr;
        if (int rc = ::mdb_txn_begin(core_->env->get(), parent, 0, &child))
            core_->fail(rc, "cannot begin a nested transaction", table_->name);
        core_->txn = child;
        bool failed_before = core_->failed;
        try {
            auto result = fn();
            core_->txn = parent;
            if (int rc = ::mdb_txn_commit(child)) core_->fail(rc, "nested commit failed", table_->name);
            return result;
        } catch (...) {
            if (core_->txn == child) {
                ::mdb_txn_abort(child);
                core_->txn = parent;
            }
            // The parent is untouched by an aborted child; map_full stays set so that
            // store.write() still grows the map.
            core_->failed = failed_before;
            throw;
        }
    }

    void check_size(const detail::buffer& kb, const detail::index_state* ix, const auto& key) const {
        if (kb.size() > core_->env->max_key_size()) [[unlikely]]
            detail::throw_key_too_large(kb.size(), core_->env->max_key_size(), table_->name, ix ? &ix->name : nullptr,
                                        detail::describe_key(key));
    }

    template <std::size_t I>
    static decltype(auto) secondary_of(const M& m) {
        return std::get<I>(traits::decl.secondaries).key(m);
    }

    // The one write path: validates everything (key sizes, unique keys) before the first
    // LMDB write, so a rejected row leaves the transaction exactly as it was.
    bool write_row(const M& m, bool insert_only, bool known_new, bool append) {
        MDB_txn* t = core_->live();
        detail::buffer kb;
        detail::encode_key(kb, pk_of(m));
        check_size(kb, nullptr, pk_of(m));
        MDB_val key = detail::to_val(kb.span());
        detail::buffer& rowbuf = core_->env->row_buffer;

        if constexpr (N == 0) {
            detail::encode_row(rowbuf, m);
            MDB_val val = detail::to_val(rowbuf.span());
            unsigned flags = append ? MDB_APPEND : (insert_only ? MDB_NOOVERWRITE : 0u);
            int rc = ::mdb_put(t, table_->dbi, &key, &val, flags);
            if (rc == MDB_KEYEXIST && insert_only) return false;
            if (rc) core_->fail(rc, "put failed", table_->name);
            ++core_->generation;
            return true;
        } else {
            bool exists = false;
            MDB_val old{};
            if (!known_new) {
                int rc = ::mdb_get(t, table_->dbi, &key, &old);
                if (rc == 0)
                    exists = true;
                else if (rc != MDB_NOTFOUND)
                    core_->fail(rc, "get failed", table_->name);
            }
            if (exists && insert_only) return false;

            M before{};
            if (exists) Guard<M>(kb.span(), detail::to_span(old), &table_->name).value_into(before);

            std::array<detail::buffer, N> now, was;
            std::array<bool, N> changed{};
            for_each_index([&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
                const detail::index_state& ix = table_->indexes[I];
                decltype(auto) sk = secondary_of<I>(m);
                detail::encode_key(now[I], sk);
                check_size(now[I], &ix, sk);
                changed[I] = true;
                if (exists) {
                    detail::encode_key(was[I], secondary_of<I>(before));
                    changed[I] = detail::compare(now[I].span(), was[I].span()) != 0;
                }
                if (ix.unique && changed[I]) {
                    MDB_val skv = detail::to_val(now[I].span()), owner;
                    int rc = ::mdb_get(t, ix.dbi, &skv, &owner);
                    if (rc == 0 && detail::compare(detail::to_span(owner), kb.span()) != 0) {
                        std::string other;
                        try {
                            other = detail::describe_key(detail::decode_key_bytes<key_type>(detail::to_span(owner)));
                        } catch (const error&) {
                            other = "<undecodable>";
                        }
                        throw error(errc::unique_violation,
                                    "unique violation: index '" + ix.name + "' of table '" + table_->name +
                                        "' already maps key " + detail::describe_key(sk) + " to the row with key " +
                                        other + "; the row with key " + detail::describe_key(pk_of(m)) +
                                        " was not written",
                                    table_->name, ix.name);
                    }
                    if (rc != 0 && rc != MDB_NOTFOUND) core_->fail(rc, "index lookup failed", table_->name, ix.name);
                }
            });

            // Everything is valid: from here on only LMDB itself can fail.
            ++core_->generation;
            detail::encode_row(rowbuf, m);
            MDB_val val = detail::to_val(rowbuf.span());
            if (int rc = ::mdb_put(t, table_->dbi, &key, &val, append ? MDB_APPEND : 0u))
                core_->fail(rc, "put failed", table_->name);
            for (std::size_t i = 0; i < N; ++i) {
                if (!changed[i]) continue;
                const detail::index_state& ix = table_->indexes[i];
                if (exists) del_entry(t, ix, was[i], key);
                MDB_val skv = detail::to_val(now[i].span()), pk = key;
                if (int rc = ::mdb_put(t, ix.dbi, &skv, &pk, 0))
                    core_->fail(rc, "index put failed", table_->name, ix.name);
            }
            return true;
        }
    }

    void del_entry(MDB_txn* t, const detail::index_state& ix, const detail::buffer& sk, MDB_val pk) {
        MDB_val skv = detail::to_val(sk.span());
        int rc = ::mdb_del(t, ix.dbi, &skv, ix.unique ? nullptr : &pk);
        if (rc != 0 && rc != MDB_NOTFOUND) core_->fail(rc, "index delete failed", table_->name, ix.name);
    }

    bool remove_encoded(const detail::buffer& kb) {
        MDB_txn* t = core_->live();
        MDB_val key = detail::to_val(kb.span()), old;
        int rc = ::mdb_get(t, table_->dbi, &key, &old);
        if (rc == MDB_NOTFOUND) return false;
        if (rc) core_->fail(rc, "get failed", table_->name);
        ++core_->generation;
        if constexpr (N > 0) {
            M before{};
            Guard<M>(kb.span(), detail::to_span(old), &table_->name).value_into(before);
            for_each_index([&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
                detail::buffer sk;
                detail::encode_key(sk, secondary_of<I>(before));
                del_entry(t, table_->indexes[I], sk, key);
            });
        }
        if ((rc = ::mdb_del(t, table_->dbi, &key, nullptr))) core_->fail(rc, "remove failed", table_->name);
        return true;
    }

    detail::txn_core* core_;
    const detail::table_state<N>* table_;
};

}  // namespace netabase
