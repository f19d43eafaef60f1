// netabase::lmdb: the default backend, and the seam every backend fills (DESIGN.md section 9).
//
// The typed layer (Tree, Index, Rows, the transactions) reaches storage only through the
// members of a backend type B, fixed at compile time: `Store<Def, B = lmdb>`. The seam is the
// narrow set of calls below, in LMDB's own vocabulary, since LMDB is the reference: another
// backend gives each the same meaning over its own ordered key spaces. For LMDB each member
// is the plain inline call (through the fault seam of detail/calls.hpp), so the default
// backend pays nothing for it.
//
// What a backend provides:
//   txn      a transaction's state (live(), wrote(), fail(), its cursor cache, its environment)
//   handle   the storage's transaction (a nested one while put_many or remove_many runs)
//   space    one table's or one index's ordered key space; a non-unique index's space holds
//            several values per key, ordered by value (LMDB's MDB_DUPSORT)
//   val      a key or value: bytes the storage owns for the transaction's life, so that a
//            guard over them is zero-copy
//   cursor   an ordered cursor over one space, borrowed from the transaction (RAII)
//   op::*    its moves: first, last, next, prev; set (exact key), set_key (exact key, the
//            storage's copy returned), set_range (first key >= k); within one key's values:
//            next_dup, prev_dup, last_dup, get_both_range (first value >= v), get_current;
//            across keys: next_nodup, prev_nodup
//   put flags: no_overwrite, append (the key sorts after every key), current (in place)
//   codes:   ok (0), not_found, key_exists, map_full
//   get, put, del, drop, stat_entries, cursor_get, cursor_put, cursor_del, cursor_count,
//   begin_nested, commit_nested, abort_nested, and the throwers that name a failing call.
#pragma once

#include "netabase/detail/calls.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"

#include <lmdb.h>

#include <cstddef>
#include <span>
#include <string_view>

namespace netabase {

struct lmdb {
    using txn = detail::txn_core;
    using handle = MDB_txn*;
    using space = MDB_dbi;
    using val = MDB_val;
    using cursor = detail::pooled_cursor;
    using raw_cursor = MDB_cursor*;
    using cursor_op = MDB_cursor_op;

    struct op {
        static constexpr cursor_op first = MDB_FIRST, last = MDB_LAST, next = MDB_NEXT, prev = MDB_PREV,
                                   set = MDB_SET, set_key = MDB_SET_KEY, set_range = MDB_SET_RANGE,
                                   next_dup = MDB_NEXT_DUP, prev_dup = MDB_PREV_DUP, last_dup = MDB_LAST_DUP,
                                   get_both_range = MDB_GET_BOTH_RANGE, get_current = MDB_GET_CURRENT,
                                   next_nodup = MDB_NEXT_NODUP, prev_nodup = MDB_PREV_NODUP;
    };

    static constexpr unsigned no_overwrite = MDB_NOOVERWRITE, append = MDB_APPEND, current = MDB_CURRENT;
    static constexpr int not_found = MDB_NOTFOUND, key_exists = MDB_KEYEXIST, map_full = MDB_MAP_FULL;

    // Whether a caught error came from the storage (its code is then one of the codes above).
    static bool is_own(const error& e) noexcept { return e.code().category() == lmdb_category(); }

    static val to_val(std::span<const std::byte> s) noexcept { return detail::to_val(s); }
    static std::span<const std::byte> to_span(const val& v) noexcept { return detail::to_span(v); }

    static int get(handle t, space s, val* k, val* v) { return detail::mdb::get(t, s, k, v); }
    static int put(handle t, space s, val* k, val* v, unsigned flags) {
        return detail::mdb::put(t, s, k, v, flags);
    }
    static int del(handle t, space s, val* k, val* v) { return detail::mdb::del(t, s, k, v); }
    static int drop(handle t, space s) { return detail::mdb::drop(t, s, 0); }
    // The number of entries in s (O(1): LMDB keeps it in the database's root).
    static int stat_entries(handle t, space s, std::size_t& n) {
        MDB_stat st;
        int rc = detail::mdb::stat(t, s, &st);
        n = rc ? 0 : static_cast<std::size_t>(st.ms_entries);
        return rc;
    }

    static int cursor_get(raw_cursor c, val* k, val* v, cursor_op o) { return detail::mdb::cursor_get(c, k, v, o); }
    static int cursor_put(raw_cursor c, val* k, val* v, unsigned flags) {
        return detail::mdb::cursor_put(c, k, v, flags);
    }
    static int cursor_del(raw_cursor c) { return detail::mdb::cursor_del(c, 0); }
    // The values of the cursor's key (a space with several values per key).
    static int cursor_count(raw_cursor c, std::size_t& n) {
        return detail::mdb::cursor_count(c, &n);
    }
    // Moves c; false at the end, throws on any other failure.
    [[gnu::always_inline]] static bool move(raw_cursor c, val& k, val& v, cursor_op o) {
        return detail::cursor_move(c, k, v, o);
    }
    // Runs f(raw_cursor) for one positioning call with the transaction's cached lookup cursor.
    template <class F>
    [[gnu::always_inline]] static decltype(auto) with_lookup_cursor(txn& core, space s, F&& f) {
        return detail::with_lookup_cursor(core, s, static_cast<F&&>(f));
    }

    // A child of t: committed into it, or aborted leaving it as it was.
    static int begin_nested(txn& core, handle parent, handle& child) {
        return detail::mdb::txn_begin(core.env->get(), parent, 0, &child);
    }
    static int commit_nested(handle child) { return detail::mdb::txn_commit(child); }
    static void abort_nested(handle child) noexcept { ::mdb_txn_abort(child); }

    [[noreturn]] static void throw_error(int rc, std::string_view what, std::string_view table,
                                         std::string_view index = {}) {
        detail::throw_lmdb(rc, what, table, index);
    }
    [[noreturn]] static void throw_on_space(int rc, std::string_view what, handle t, space s) {
        detail::throw_on_database(rc, what, t, s);
    }
    [[noreturn]] static void throw_on_cursor(int rc, std::string_view what, raw_cursor c) {
        detail::throw_on_cursor(rc, what, c);
    }
};

// The classes over a backend, declared here once with their default: LMDB.
template <class Def, class B = lmdb>
class Store;
template <class Def, class B = lmdb>
class ReadTransaction;
template <class Def, class B = lmdb>
class WriteTransaction;

}  // namespace netabase
