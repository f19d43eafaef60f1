// What a transaction and its trees share: the LMDB handles and the tables' database ids.
#pragma once

#include "netabase/detail/calls.hpp"
#include "netabase/detail/lifetime.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/error.hpp"

#include <lmdb.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace netabase::detail {

struct index_state {
    MDB_dbi dbi = 0;
    bool unique = false;
    std::string name;  // "users/1" for field 1, "users/by_name" for a named key
};

template <std::size_t N>
struct table_state {
    MDB_dbi dbi = 0;
    std::string name;
    std::array<index_state, N> indexes{};
    // Tree::update's decode target (a model object), kept so that its strings and vectors keep
    // their capacity from one call to the next. Only a write transaction touches it, and a
    // store runs one at a time; a reentrant update (fn updating the same table) gets its own.
    mutable std::shared_ptr<void> scratch;
    mutable bool scratch_busy = false;
};

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_finished() {
    throw error(errc::transaction_finished, "the transaction was already committed or aborted");
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_wrong_thread(std::thread::id owner) {
    throw error(errc::wrong_thread, "this write transaction was begun on thread " + thread_name(owner) +
                                        " and used on thread " + thread_name(std::this_thread::get_id()) +
                                        ": LMDB ties a write transaction to the thread that began it, so use, "
                                        "commit or abort it on thread " + thread_name(owner) +
                                        " (it is still open there)");
}

struct change_batch;

struct txn_core {
    environment* env = nullptr;
    MDB_txn* txn = nullptr;
    bool write = false;
    bool failed = false;    // an LMDB call failed mid-operation: commit() must refuse
    bool map_full = false;  // that failure was MDB_MAP_FULL: store.write() grows and retries
    bool interrupted = false;  // failed because an exception stopped a write part way, not LMDB
    std::uint64_t writes = 0;  // puts and removes so far (lets update() see that fn wrote)
    change_batch* changes = nullptr;  // set while watchers or the change log need this write's changes
    lifetime_owner life;
    cursor_cache cursors;

    // The thread that began a write transaction, as the address of its thread_local block: one
    // per live thread, and cheaper to compare than a std::thread::id (no call).
    const void* thread = nullptr;

    // Every operation's check: inline, since read transactions call it per lookup.
    [[gnu::always_inline]] MDB_txn* live() const {
        if (!txn) [[unlikely]]
            throw_finished();
        // LMDB's writer lock belongs to the thread that began the transaction (environment::writer).
        if (write && thread != &this_thread_transactions) [[unlikely]]
            throw_wrong_thread(env->writer());
        return txn;
    }

    // Every put and remove: guards and views taken before it may point at moved pages.
    void wrote() noexcept {
        life.wrote();
        ++writes;
    }

    // An exception (not an LMDB error) left a write half-applied: commit() must refuse.
    void interrupt() noexcept {
        if (!write || failed) return;  // an LMDB failure already said why
        failed = true;
        interrupted = true;
    }

    // The cached cursor on dbi this transaction may use (inside put_many's nested write
    // transaction, a parent's cursor is not one), or nullptr.
    cursor_cache::entry* cached(MDB_dbi dbi, MDB_txn* t) noexcept {
        for (auto& e : cursors.entries)
            if (e.cursor && e.dbi == dbi && (!write || ::mdb_cursor_txn(e.cursor) == t)) return &e;
        return nullptr;
    }

    // Binds a cached read cursor to t; a cursor that cannot be renewed is closed and dropped.
    static void renew(cursor_cache::entry& e, MDB_txn* t) {
        if (int rc = mdb::cursor_renew(t, e.cursor)) [[unlikely]]
            fail_renew(rc, e, t);
        e.ready = true;
    }

    [[noreturn, gnu::cold, gnu::noinline]] static void fail_renew(int rc, cursor_cache::entry& e, MDB_txn* t) {
        ::mdb_cursor_close(std::exchange(e.cursor, nullptr));
        throw_on_database(rc, "mdb_cursor_renew", t, e.dbi);
    }

    // A cursor on dbi from the cache, or a new one.
    MDB_cursor* acquire_cursor(MDB_dbi dbi) {
        MDB_txn* t = live();
        if (cursor_cache::entry* e = cached(dbi, t)) {
            if (!e->ready) renew(*e, t);
            return std::exchange(e->cursor, nullptr);
        }
        MDB_cursor* c = nullptr;
        if (int rc = mdb::cursor_open(t, dbi, &c)) [[unlikely]]
            throw_on_database(rc, "mdb_cursor_open", t, dbi);
        return c;
    }

    // A cursor for one positioning call (a point get) that stays in the cache, so it costs no
    // acquire/release; nullptr when the cache has no entry for dbi and no room for one. In a
    // read transaction it is renewed first: an unpositioned cursor's MDB_SET_KEY is one plain
    // descent, where a positioned one first compares the key with its current page's ends.
    MDB_cursor* lookup_cursor(MDB_dbi dbi) {
        MDB_txn* t = live();
        if (cursor_cache::entry* e = cached(dbi, t)) {
            if (!write) renew(*e, t);
            return e->cursor;
        }
        for (auto& e : cursors.entries) {
            if (e.cursor) continue;
            MDB_cursor* c = nullptr;
            if (int rc = mdb::cursor_open(t, dbi, &c)) [[unlikely]]
                throw_on_database(rc, "mdb_cursor_open", t, dbi);
            e = cursor_cache::entry{dbi, c, true};
            return c;
        }
        return nullptr;
    }

    // Back to the cache when there is room, else closed. `opened_on` is the transaction the
    // cursor was opened in: when that one has ended, LMDB has already freed a write cursor,
    // while a read-only cursor is still ours to close.
    void release_cursor(MDB_dbi dbi, MDB_cursor* c, MDB_txn* opened_on) noexcept {
        if (txn && opened_on == txn) {
            for (auto& e : cursors.entries) {
                if (e.cursor) continue;
                e = cursor_cache::entry{dbi, c, true};
                return;
            }
            ::mdb_cursor_close(c);
            return;
        }
        if (!write) ::mdb_cursor_close(c);
    }

    // Closes the cached cursors that belong to t (a write or nested transaction about to end).
    void close_cursors_of(MDB_txn* t) noexcept {
        for (auto& e : cursors.entries)
            if (e.cursor && ::mdb_cursor_txn(e.cursor) == t) {
                ::mdb_cursor_close(e.cursor);
                e = cursor_cache::entry{};
            }
    }

    // Records an LMDB failure inside a write and throws it.
    [[noreturn, gnu::cold]] void fail(int rc, std::string_view what, std::string_view table,
                                      std::string_view index = {}) {
        if (write) failed = true;
        if (rc == MDB_MAP_FULL) {
            map_full = true;
            std::string msg(what);
            msg += ": the map of " + env->path().string() + " (" + std::to_string(env->map_size()) +
                   " bytes) is full; store.write(fn) grows it and runs fn again, or open the store with a "
                   "larger netabase::options::map_size";
            throw_lmdb(rc, msg, table, index);
        }
        throw_lmdb(rc, what, table, index);
    }
};

// A cursor borrowed from a transaction's cache, given back on destruction.
class pooled_cursor {
public:
    pooled_cursor() = default;
    pooled_cursor(txn_core* core, MDB_dbi dbi)
        : core_(core),
          dbi_(dbi),
          c_(core->acquire_cursor(dbi)),
          txn_(core->txn),
          life_(stamp::of(core->life)),
          was_write_(core->write) {}
    pooled_cursor(const pooled_cursor&) = delete;
    pooled_cursor& operator=(const pooled_cursor&) = delete;
    pooled_cursor(pooled_cursor&& o) noexcept
        : core_(o.core_),
          dbi_(o.dbi_),
          c_(std::exchange(o.c_, nullptr)),
          txn_(o.txn_),
          life_(o.life_),
          was_write_(o.was_write_) {}
    pooled_cursor& operator=(pooled_cursor&& o) noexcept {
        if (this != &o) {
            reset();
            core_ = o.core_;
            dbi_ = o.dbi_;
            c_ = std::exchange(o.c_, nullptr);
            txn_ = o.txn_;
            life_ = o.life_;
            was_write_ = o.was_write_;
        }
        return *this;
    }
    ~pooled_cursor() { reset(); }

    void reset() noexcept {
        if (!c_) return;
        if (life_.open())
            core_->release_cursor(dbi_, c_, txn_);
        else if (!was_write_)
            ::mdb_cursor_close(c_);  // its transaction object may be gone
        c_ = nullptr;
    }

    MDB_cursor* get() const noexcept { return c_; }
    explicit operator bool() const noexcept { return c_ != nullptr; }

    bool move(MDB_val& k, MDB_val& v, MDB_cursor_op op) { return cursor_move(c_, k, v, op); }

private:
    txn_core* core_ = nullptr;
    MDB_dbi dbi_ = 0;
    MDB_cursor* c_ = nullptr;
    MDB_txn* txn_ = nullptr;
    [[no_unique_address]] stamp life_;
    bool was_write_ = false;
};

// Runs f(cursor) with a cursor on dbi for one positioning call: the transaction's cached
// lookup cursor, or, when every cache slot holds an iterator's cursor, a pooled one.
template <class F>
decltype(auto) with_lookup_cursor(txn_core& core, MDB_dbi dbi, F&& f) {
    if (MDB_cursor* c = core.lookup_cursor(dbi)) [[likely]]
        return f(c);
    pooled_cursor pc(&core, dbi);
    return f(pc.get());
}

}  // namespace netabase::detail
