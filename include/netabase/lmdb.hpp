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
//   txn      a transaction's state: live(), wrote(), fail(), interrupt(), its flags (write,
//            failed, map_full, interrupted), writes, changes, life, and env (max_key_size(),
//            checksum(), row_buffer)
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
//   state<Def>: what a Store of Def holds; begin_read, end_read, begin_write, commit, abort,
//   is_open, changes_since: a transaction's life over it.
#pragma once

#include "netabase/detail/calls.hpp"
#include "netabase/detail/changes.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/schema.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace netabase {

class change_log_range;

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

    // A child of core's current transaction, made current: its writes join the parent at
    // commit_nested, or vanish at abort_nested. Returns the parent, to hand back to either.
    static handle begin_nested(txn& core, std::string_view table) {
        handle parent = core.live(), child = nullptr;
        if (int rc = detail::mdb::txn_begin(core.env->get(), parent, 0, &child)) {
            if (rc == MDB_MAP_FULL) core.map_full = true;
            detail::throw_lmdb(rc, "cannot begin a nested transaction", table);
        }
        core.txn = child;
        return parent;
    }
    static void commit_nested(txn& core, handle parent, std::string_view table) {
        handle child = core.txn;
        core.close_cursors_of(child);
        core.txn = parent;
        if (int rc = detail::mdb::txn_commit(child)) core.fail(rc, "nested commit failed", table);
    }
    // After fn or commit_nested threw: the parent current again, as it was before the child.
    static void abort_nested(txn& core, handle parent) noexcept {
        if (core.txn == parent) return;  // commit_nested failed: LMDB has freed the child
        core.close_cursors_of(core.txn);
        ::mdb_txn_abort(core.txn);
        core.txn = parent;
    }

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

    // ---- a transaction's life ----------------------------------------------------------

    template <class Def>
    using state = detail::store_state<Def>;

    static bool is_open(const txn& core) noexcept { return core.txn != nullptr; }

    // A snapshot from the reader pool. Inline, as end_read: a transaction per lookup pays for each.
    template <class Def>
    [[gnu::always_inline]] static void begin_read(state<Def>& st, txn& core) {
        core.env = st.env.get();
        std::uint64_t before = core.env->schema_changes().load();
        core.txn = core.env->begin_read(core.cursors);
        core.life.begin();
        if (!st.schema.current(*core.env)) [[unlikely]]
            check_schema<false>(st, core, before);  // another program may have changed the schema
    }

    [[gnu::always_inline]] static void end_read(txn& core) noexcept {
        if (!core.txn) return;
        core.life.end();
        core.env->end_read(std::exchange(core.txn, nullptr), core.cursors);
    }

    template <class Def>
    static void begin_write(state<Def>& st, txn& core) {
        if (st.read_only)
            throw error(errc::read_only, "cannot write: the store at " + st.env->path().string() +
                                             " was opened read-only");
        core.env = st.env.get();
        core.write = true;
        core.thread = &detail::this_thread_transactions;
        std::uint64_t before = core.env->schema_changes().load();
        core.txn = core.env->begin_write();
        core.life.begin();
        if (!st.schema.current(*core.env)) [[unlikely]]
            check_schema<true>(st, core, before);  // never write rows that an index of a newer program would miss
        if (core.env->capture.load(std::memory_order_acquire)) [[unlikely]]  // (a plain load on x86)
            core.changes = detail::watch_hub::find(*core.env)->begin_batch();
    }

    // Makes every change durable (per the store's durability option) and visible. Throws, and
    // leaves nothing applied, when an earlier operation failed inside LMDB or was stopped part
    // way by an exception (see Tree::put_many).
    template <class Def>
    static void commit(state<Def>& st, txn& core) {
        MDB_txn* t = core.live();
        if (core.failed) {
            abort(st, core);
            const char* why = core.interrupted && !core.map_full
                                  ? "was interrupted part way by an exception (put_many's input range threw, or an "
                                    "allocation failed), leaving it half-applied"
                                  : "failed inside LMDB";
            throw error(core.map_full ? make_error_code(errc::map_full) : make_error_code(errc::transaction_finished),
                        std::string("cannot commit: an earlier operation in this transaction ") + why +
                            ", so the transaction was aborted" +
                            (core.map_full ? " (the map is full; store.write(fn) grows it and retries)" : ""));
        }
        if (core.changes) [[unlikely]]
            log_changes(st, core, t);
        core.close_cursors_of(t);
        core.life.end();
        core.txn = nullptr;
        int rc = detail::mdb::txn_commit(t);  // frees the transaction whatever it returns
        core.env->end_write();
        if (detail::change_batch* b = std::exchange(core.changes, nullptr)) [[unlikely]] {
            if (rc == 0)
                detail::watch_hub::find(*core.env)->committed(*b);
            else
                b->clear();
        }
        if (rc != 0) {
            if (rc == MDB_MAP_FULL) core.map_full = true;
            detail::throw_lmdb(rc, "commit failed; nothing was written");
        }
    }

    template <class Def>
    static void abort(state<Def>& st, txn& core) noexcept {
        if (!core.txn) return;
        if (core.changes) std::exchange(core.changes, nullptr)->clear();
        if (core.env->writer() != std::this_thread::get_id()) [[unlikely]] {
            // Destroyed on another thread than the one that began it, where it cannot throw: only
            // that thread can release LMDB's writer lock, so the environment keeps the transaction
            // for it to abort (environment::orphan_write).
            core.life.end();
            core.env->orphan_write(std::exchange(core.txn, nullptr), st.env);
            return;
        }
        core.close_cursors_of(core.txn);
        core.life.end();
        ::mdb_txn_abort(std::exchange(core.txn, nullptr));
        core.env->end_write();
    }

    // The durable change log after sequence seq (defined in watch.hpp, beside its range).
    static change_log_range changes_since(const txn& core, std::uint64_t seq);

private:
    template <bool Write, class Def>
    [[gnu::cold, gnu::noinline]] static void check_schema(state<Def>& st, txn& core, std::uint64_t before) {
        try {
            st.schema.check(*core.env, core.txn, before);
        } catch (...) {
            if constexpr (Write)
                abort(st, core);
            else
                end_read(core);
            throw;
        }
    }

    // The change log's entries for this transaction's changes, in it; a failure aborts it.
    template <class Def>
    [[gnu::cold, gnu::noinline]] static void log_changes(state<Def>& st, txn& core, MDB_txn* t) {
        try {
            detail::watch_hub::find(*core.env)->write_log(t, *core.changes);
        } catch (const error& e) {
            if (e.code() == errc::map_full) core.map_full = true;  // store.write() grows the map and retries
            abort(st, core);
            throw;
        }
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
