// ReadTransaction and WriteTransaction: a snapshot to read, or the one writer's changes.
#pragma once

#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/schema.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"
#include "netabase/lmdb.hpp"
#include "netabase/tree.hpp"
#include "netabase/watch.hpp"

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>

namespace netabase {

namespace detail {

template <class M>
inline constexpr bool model_not_in_definition = false;

}  // namespace detail

// A consistent snapshot: later commits stay invisible to it. Readers never block the writer.
// Ends (and its guards, views and trees with it) at commit(), abort() or destruction.
template <class Def, class B>
class ReadTransaction {
public:
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;
    ~ReadTransaction() { end(); }

    template <class M>
    auto open_tree() {
        if constexpr (!Def::template contains<M>) {
            static_assert(detail::model_not_in_definition<M>,
                          "netabase: open_tree<M>(): M is not one of the models of this Store's netabase::definition");
        } else {
            core_.live();
            return Tree<M, access::read, B>(&core_, &state_->template table<M>());
        }
    }

    bool is_open() const noexcept { return core_.txn != nullptr; }

    // The durable change log after sequence `seq`, oldest first (options{.change_log = true}).
    change_log_range changes_since(std::uint64_t seq) const {
        MDB_txn* t = core_.live();
        detail::watch_hub* hub = detail::watch_hub::find(*core_.env);
        if (!hub || !hub->has_log())
            throw error(errc::invalid_argument, "changes_since: the store at " + core_.env->path().string() +
                                                    " has no change log; open it with options{.change_log = true}");
        std::uint64_t trimmed = detail::log_trimmed(t, hub->meta_dbi());
        return change_log_range(t, hub->log_dbi(), seq > trimmed ? seq : trimmed);
    }

    // A read transaction has nothing to commit: both end the snapshot.
    void commit() { finish(); }
    void abort() { finish(); }

private:
    friend class Store<Def, B>;

    explicit ReadTransaction(std::shared_ptr<detail::store_state<Def>> state) : state_(std::move(state)) {
        core_.env = state_->env.get();
        std::uint64_t before = core_.env->schema_changes().load();
        core_.txn = core_.env->begin_read(core_.cursors);
        core_.life.begin();
        if (!state_->schema.current(*core_.env)) [[unlikely]]
            check_schema(before);  // another program may have changed the schema
    }

    [[gnu::cold, gnu::noinline]] void check_schema(std::uint64_t before) {
        try {
            state_->schema.check(*core_.env, core_.txn, before);
        } catch (...) {
            end();
            throw;
        }
    }

    void finish() {
        core_.live();
        end();
    }

    [[gnu::always_inline]] void end() noexcept {  // inline: a transaction per lookup pays for each call
        if (!core_.txn) return;
        core_.life.end();
        core_.env->end_read(std::exchange(core_.txn, nullptr), core_.cursors);
    }

    std::shared_ptr<detail::store_state<Def>> state_;
    typename B::txn core_;
};

// The one write transaction of the store (LMDB admits one writer at a time, process-wide and
// across processes). Destroyed without commit() it aborts.
template <class Def, class B>
class WriteTransaction {
public:
    WriteTransaction(const WriteTransaction&) = delete;
    WriteTransaction& operator=(const WriteTransaction&) = delete;
    ~WriteTransaction() { end_abort(); }

    template <class M>
    auto open_tree() {
        if constexpr (!Def::template contains<M>) {
            static_assert(detail::model_not_in_definition<M>,
                          "netabase: open_tree<M>(): M is not one of the models of this Store's netabase::definition");
        } else {
            core_.live();
            return Tree<M, access::write, B>(&core_, &state_->template table<M>());
        }
    }

    bool is_open() const noexcept { return core_.txn != nullptr; }

    // Makes every change durable (per the store's durability option) and visible. Throws, and
    // leaves nothing applied, when an earlier operation in this transaction failed inside LMDB or
    // was stopped part way by an exception (see Tree::put_many).
    void commit() {
        MDB_txn* t = core_.live();
        if (core_.failed) {
            end_abort();
            const char* why = core_.interrupted && !core_.map_full
                                  ? "was interrupted part way by an exception (put_many's input range threw, or an "
                                    "allocation failed), leaving it half-applied"
                                  : "failed inside LMDB";
            throw error(core_.map_full ? make_error_code(errc::map_full) : make_error_code(errc::transaction_finished),
                        std::string("cannot commit: an earlier operation in this transaction ") + why +
                            ", so the transaction was aborted" +
                            (core_.map_full ? " (the map is full; store.write(fn) grows it and retries)" : ""));
        }
        if (core_.changes) [[unlikely]]
            log_changes(t);
        core_.close_cursors_of(t);
        core_.life.end();
        core_.txn = nullptr;
        int rc = detail::mdb::txn_commit(t);  // frees the transaction whatever it returns
        core_.env->end_write();
        if (detail::change_batch* b = std::exchange(core_.changes, nullptr)) [[unlikely]] {
            if (rc == 0)
                detail::watch_hub::find(*core_.env)->committed(*b);
            else
                b->clear();
        }
        if (rc != 0) {
            if (rc == MDB_MAP_FULL) core_.map_full = true;
            detail::throw_lmdb(rc, "commit failed; nothing was written");
        }
    }

    void abort() {
        core_.live();
        end_abort();
    }

private:
    friend class Store<Def, B>;

    explicit WriteTransaction(std::shared_ptr<detail::store_state<Def>> state) : state_(std::move(state)) {
        if (state_->read_only)
            throw error(errc::read_only,
                        "cannot write: the store at " + state_->env->path().string() + " was opened read-only");
        core_.env = state_->env.get();
        core_.write = true;
        core_.thread = &detail::this_thread_transactions;
        std::uint64_t before = core_.env->schema_changes().load();
        core_.txn = core_.env->begin_write();
        core_.life.begin();
        if (!state_->schema.current(*core_.env)) [[unlikely]]
            check_schema(before);  // never write rows that an index of a newer program would miss
        if (core_.env->capture.load(std::memory_order_acquire)) [[unlikely]]  // (a plain load on x86)
            core_.changes = detail::watch_hub::find(*core_.env)->begin_batch();
    }

    // The change log's entries for this transaction's changes, in it; a failure aborts it.
    [[gnu::cold, gnu::noinline]] void log_changes(MDB_txn* t) {
        try {
            detail::watch_hub::find(*core_.env)->write_log(t, *core_.changes);
        } catch (const error& e) {
            if (e.code() == errc::map_full) core_.map_full = true;  // store.write() grows the map and retries
            end_abort();
            throw;
        }
    }

    [[gnu::cold, gnu::noinline]] void check_schema(std::uint64_t before) {
        try {
            state_->schema.check(*core_.env, core_.txn, before);
        } catch (...) {
            end_abort();
            throw;
        }
    }

    void end_abort() noexcept {
        if (!core_.txn) return;
        if (core_.changes) std::exchange(core_.changes, nullptr)->clear();
        if (core_.env->writer() != std::this_thread::get_id()) [[unlikely]] {
            // Destroyed on another thread than the one that began it, where it cannot throw: only
            // that thread can release LMDB's writer lock, so the environment keeps the transaction
            // for it to abort (environment::orphan_write).
            core_.life.end();
            core_.env->orphan_write(std::exchange(core_.txn, nullptr), state_->env);
            return;
        }
        core_.close_cursors_of(core_.txn);
        core_.life.end();
        ::mdb_txn_abort(std::exchange(core_.txn, nullptr));
        core_.env->end_write();
    }

    std::shared_ptr<detail::store_state<Def>> state_;
    typename B::txn core_;
};

}  // namespace netabase
