// Store<Definition>: one LMDB environment holding a definition's tables.
#pragma once

#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/schema.hpp"
#include "netabase/detail/upgrade.hpp"
#include "netabase/error.hpp"
#include "netabase/lmdb.hpp"
#include "netabase/model.hpp"
#include "netabase/stats.hpp"
#include "netabase/transaction.hpp"
#include "netabase/verify.hpp"

#include <lmdb.h>
#include <stdlib.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

namespace netabase {

namespace detail {
// What std::invoke does with one argument, without <functional> (+10k preprocessed lines
// for every user, issue #14).
template <class F, class T>
decltype(auto) invoke_with(F& fn, T& txn) {
    if constexpr (std::is_member_function_pointer_v<std::remove_cvref_t<F>>)
        return (txn.*fn)();
    else if constexpr (std::is_member_object_pointer_v<std::remove_cvref_t<F>>)
        return (txn.*fn);
    else
        return fn(txn);
}
}  // namespace detail

// What a commit waits for before it returns.
enum class durability {
    full,          // fsync data and meta page: a commit that returned survives power loss
    no_meta_sync,  // skip the meta-page fsync: a crash of the OS may lose the last commits, never consistency
    no_sync,       // no fsync at all; store.sync() flushes. An OS crash may lose recent commits; the
                   // file stays consistent unless the filesystem reorders writes
};

struct options {
    // Address space reserved for the file: the most it can grow to before store.write() must
    // grow the map. Costs nothing until used.
    std::size_t map_size = std::size_t{1} << 30;
    netabase::durability durability = netabase::durability::full;
    bool read_only = false;
    unsigned max_readers = 126;  // concurrent read transactions, over all processes
    unsigned file_mode = 0644;   // for the data and lock files this call creates
    // Append a CRC32C to every value written, so that flipped bits on disk are reported as
    // errc::corrupt_value instead of read back. Values written with it are checked on every
    // read whatever this says; costs 5 bytes per row and one pass over the value per read.
    bool checksum = false;
    // How much an upgrade of a table's rows (upgrade_from, appended fields) writes per LMDB
    // transaction: a table larger than one transaction can hold upgrades in several.
    std::size_t upgrade_batch_bytes = std::size_t{64} << 20;
    // Keep a durable log of every commit's changes (sequence, table, kind, primary key) in the
    // store, written in the same transaction: txn.changes_since(seq), store.trim_changes(seq),
    // and watchers that see the commits of every process. Once a store has a log, every
    // program that opens it writes to it, whatever this says.
    bool change_log = false;
    // The most changes a watcher holds before it reports errc::watch_overflow.
    std::size_t watch_capacity = 65536;
};

template <class Def, class B>
class Store {
    static_assert(std::is_same_v<B, lmdb>,
                  "netabase: Store<Def, B>: B is not a backend: use netabase::lmdb (the default), or "
                  "netabase::etcd with #include <netabase/etcd.hpp>");

public:
    using definition_type = Def;
    using backend_type = B;

    // Opens the store in `dir`, creating the directory and the tables when missing.
    // (`dir`: a std::filesystem::path, std::string, std::string_view or C string.)
    explicit Store(const detail::dir_path& dir, const options& opt = {}) : state_(open(dir, opt)) {}

    // A store in a fresh temporary directory, removed when the store is destroyed.
    static Store temporary(const options& opt = {}) {
        detail::dir_path base = detail::temp_directory_path() / "netabase-XXXXXX";
        std::string tmpl = base.string();
        if (!::mkdtemp(tmpl.data()))
            throw error(std::error_code(errno, std::generic_category()), "cannot create a temporary directory");
        try {
            Store s(tmpl, opt);
            s.state_->remove_on_close = tmpl;
            return s;
        } catch (...) {
            detail::remove_all(tmpl);
            throw;
        }
    }

    ReadTransaction<Def, B> begin_read() const { return ReadTransaction<Def, B>(live()); }
    WriteTransaction<Def, B> begin_write() { return WriteTransaction<Def, B>(live()); }

    // Runs fn in a write transaction: commits when fn returns, aborts when it throws, returns
    // fn's result. When the map fills up, the map grows and fn runs again from the start.
    template <class F>
    std::invoke_result_t<F&, WriteTransaction<Def, B>&> write(F&& fn) {
        using R = std::invoke_result_t<F&, WriteTransaction<Def, B>&>;
        for (;;) {
            std::size_t size = live()->env->map_size();
            {
                WriteTransaction<Def, B> txn(state_);
                try {
                    if constexpr (std::is_void_v<R>) {
                        detail::invoke_with(fn, txn);
                        if (txn.is_open()) txn.commit();
                        return;
                    } else {
                        R result = detail::invoke_with(fn, txn);
                        if (txn.is_open()) txn.commit();
                        return result;
                    }
                } catch (...) {
                    if (!txn.core_.map_full) throw;
                }
            }  // aborted here, before the resize waits for this process's transactions
            state_->env->resize(size * 2);
        }
    }

    // A watcher of every change to M's rows committed from now on.
    template <class M>
    Watcher<M> watch() {
        static_assert(Def::template contains<M>, "netabase: watch<M>(): M is not one of this Store's models");
        return add_watcher<M>(nullptr, {});
    }

    // A watcher of the changes whose old or new row has `value` under the secondary key on
    // `field` (or under the named key `key`): store.watch<User>(&User::age, 30).
    template <class M, class T, class V>
    Watcher<M> watch(T M::*field, const V& value) {
        static_assert(Def::template contains<M>, "netabase: watch<M>(): M is not one of this Store's models");
        std::size_t pos = detail::member_position<M>(field);
        if (pos == detail::model_traits<M>::index_count)
            throw error(errc::not_found, "watch: table '" + state_->template table<M>().name +
                                             "' has no secondary key on field " + std::to_string(detail::field_index(field)),
                        state_->template table<M>().name);
        return filtered_watcher<M>(pos, static_cast<const T&>(value));
    }
    template <class M, class F, bool Multi, class V>
    Watcher<M> watch(const computed_key<M, F, Multi>&, const V& value) {
        static_assert(Def::template contains<M>, "netabase: watch<M>(): M is not one of this Store's models");
        using A = detail::computed_key_adapter<M, F, Multi>;
        constexpr std::size_t pos = detail::computed_position<M, A>();
        static_assert(pos < detail::model_traits<M>::index_count,
                      "netabase: watch(key, value): this key is not a secondary key of the model");
        return filtered_watcher<M>(pos, static_cast<const typename A::value_type&>(value));
    }

    // Drops the change log's entries up to and including `seq` (what no reader needs any more).
    // Returns how many it dropped. Readers that are still reading them keep their snapshot.
    std::size_t trim_changes(std::uint64_t seq) {
        detail::watch_hub* hub = detail::watch_hub::find(*live()->env);
        if (!hub || !hub->has_log())
            throw error(errc::invalid_argument, "trim_changes: the store at " + state_->env->path().string() +
                                                    " has no change log; open it with options{.change_log = true}");
        return write([&](WriteTransaction<Def, B>& txn) {
            MDB_txn* t = txn.core_.live();
            const std::uint64_t last = detail::log_last(t, hub->log_dbi(), hub->meta_dbi());
            const std::uint64_t before = detail::log_trimmed(t, hub->meta_dbi());
            const std::uint64_t upto = seq < last ? seq : last;  // what was never given out is not trimmed
            if (upto <= before) return std::size_t{0};
            {  // whole commits go; a commit that straddles `upto` stays, its first entries hidden
                detail::cursor c(t, hub->log_dbi());
                MDB_val k, v;
                detail::log_block b;
                while (c.move(k, v, MDB_FIRST) && b.open(k, v) && b.last() <= upto)
                    if (int rc = detail::mdb::cursor_del(c.get(), 0)) detail::throw_on_cursor(rc, "mdb_cursor_del", c.get());
            }
            // What the log gave out stays given: numbering goes on after it, and the entries up
            // to `upto` that a straddling commit still holds are not listed.
            std::byte bytes[8];
            detail::store_le<std::uint64_t>(bytes, upto);
            MDB_val mk{detail::log_trimmed_key.size(), const_cast<char*>(detail::log_trimmed_key.data())}, mv{8, bytes};
            if (int rc = detail::mdb::put(t, hub->meta_dbi(), &mk, &mv, 0)) detail::throw_lmdb(rc, "trim_changes");
            txn.core_.wrote();
            return static_cast<std::size_t>(upto - before);
        });
    }

    // Runs fn in a read transaction and returns its result.
    template <class F>
    std::invoke_result_t<F&, ReadTransaction<Def, B>&> read(F&& fn) const {
        ReadTransaction<Def, B> txn(live());
        return detail::invoke_with(fn, txn);
    }

    // Walks every table and index in one read transaction and reports each row that does not
    // decode, each row missing an index entry, and each index entry without its row or key.
    // Throws nothing on a healthy store; O(rows + entries).
    verify_report verify() const {
        verify_report report;
        ReadTransaction<Def, B> txn(live());
        [&]<class... Ms>(definition<Ms...>*) {
            (detail::verify_table(txn.core_.txn, detail::schema_of<Ms>, state_->template table<Ms>().name,
                                  state_->template table<Ms>().dbi, state_->template table<Ms>().indexes.data(),
                                  report),
             ...);
        }(static_cast<Def*>(nullptr));
        return report;
    }

    // Sizes of the store and of each table and index, from one read transaction: O(tables +
    // indexes), plus a walk of LMDB's freelist for free_bytes.
    store_stats stats() const {
        ReadTransaction<Def, B> txn(live());
        store_stats s;
        detail::fill_space(state_->env->get(), txn.core_.txn, s);
        [&]<class... Ms>(definition<Ms...>*) {
            (add_table_stats(txn.core_.txn, state_->template table<Ms>(), s), ...);
        }(static_cast<Def*>(nullptr));
        return s;
    }

    // A consistent copy of the store, taken while writers go on committing, into `dir` (created;
    // it must not hold a store already). It opens as a store of its own. With
    // backup_options{.compact = true} free pages are left out, so the copy can be smaller.
    void backup(const detail::dir_path& dir, const backup_options& opt = {}) const {
        detail::environment& env = *live()->env;
        env.enter();  // a map resize waits for the copy's read transaction, as for any other
        try {
            detail::backup_to(env.get(), dir, opt);
        } catch (...) {
            env.leave();
            throw;
        }
        env.leave();
    }

    // Empties one secondary index of M and fills it again from the rows, in one write
    // transaction. For a computed key whose function changed: declaring a new version
    // (netabase::key(...).version(n)) makes the next read-write open do this by itself.
    template <class M, class K>
    void rebuild_index(const K& key) {
        static_assert(Def::template contains<M>, "netabase: rebuild_index<M>: M is not a model of this definition");
        std::size_t pos = model_traits_index<M>(key);
        write([&](WriteTransaction<Def, B>& txn) {
            const auto& t = state_->template table<M>();
            MDB_txn* raw = txn.core_.live();
            txn.core_.wrote();
            detail::fill_indexes(*state_->env, raw, detail::schema_of<M>, t.name, t.dbi, t.indexes.data(), {pos});
        });
    }

    // Flushes to disk: what no_sync and no_meta_sync defer.
    void sync() {
        detail::environment& env = *live()->env;
        if (int rc = detail::mdb::env_sync(env.get(), 1)) env.fail_call(rc, "mdb_env_sync");
    }

    // A template only so that this header needs no <filesystem>: the caller's has the type.
    template <class Path = std::filesystem::path>
    const Path& path() const {
        return live()->env->template fs_path<Path>();
    }
    std::size_t map_size() const { return live()->env->map_size(); }

private:
    // The position of a secondary key among M's, named by its member pointer or key object.
    template <class M, class K>
    static std::size_t model_traits_index(const K& key) {
        std::size_t pos = detail::model_traits<M>::index_count;
        detail::for_each_secondary<M>([&](const auto& sec, auto i) {
            using S = std::remove_cvref_t<decltype(sec.key)>;
            if constexpr (std::is_member_object_pointer_v<K>) {
                if constexpr (requires { sec.key.member == key; })
                    if (pos == detail::model_traits<M>::index_count && sec.key.member == key) pos = decltype(i)::value;
            } else if constexpr (requires { sec.key.key.name; } && std::is_same_v<S, decltype(detail::make_key(key))>) {
                if (pos == detail::model_traits<M>::index_count) pos = decltype(i)::value;
            }
        });
        if (pos == detail::model_traits<M>::index_count)
            throw error(errc::invalid_argument, "rebuild_index: the key is not a secondary key of table '" +
                                                    std::string(detail::model_traits<M>::decl.name) + "'");
        return pos;
    }

    template <class T>
    static void add_table_stats(MDB_txn* txn, const T& t, store_stats& s) {
        table_stats ts;
        ts.name = t.name;
        detail::fill_stats(txn, t.dbi, ts);
        for (const auto& ix : t.indexes) {
            database_stats d;
            d.name = ix.name;
            detail::fill_stats(txn, ix.dbi, d);
            ts.indexes.push_back(std::move(d));
        }
        s.tables.push_back(std::move(ts));
    }

    template <class M>
    Watcher<M> add_watcher(bool (*row_has)(std::span<const std::byte>, std::span<const std::byte>),
                           std::vector<std::byte> key) {
        auto q = std::make_shared<detail::watch_queue>();
        q->table = state_->template table<M>().name;
        q->capacity = state_->watch_capacity ? state_->watch_capacity : 1;
        q->filtered = row_has != nullptr;
        q->row_has = row_has;
        q->key = std::move(key);
        detail::watch_hub::of(*live()->env).add(q);
        return Watcher<M>(std::move(q), state_->env);
    }

    template <class M, class K>
    Watcher<M> filtered_watcher(std::size_t pos, const K& value) {
        detail::buffer b;
        detail::encode_key(b, value);
        return add_watcher<M>(detail::row_has_key_at<M>(pos), std::vector<std::byte>(b.span().begin(), b.span().end()));
    }

    const std::shared_ptr<detail::store_state<Def>>& live() const {
        if (!state_) throw error(errc::invalid_argument, "this Store was moved from");
        return state_;
    }

    static std::shared_ptr<detail::store_state<Def>> open(const detail::dir_path& dir, const options& opt) {
        unsigned flags = 0;
        if (opt.read_only) flags |= MDB_RDONLY;
        if (opt.durability == durability::no_meta_sync) flags |= MDB_NOMETASYNC;
        if (opt.durability == durability::no_sync) flags |= MDB_NOSYNC;
        detail::environment::config cfg{opt.map_size,    flags,
                                        opt.max_readers, detail::tables_of<Def>::databases + 2 + 64,
                                        opt.file_mode,   opt.checksum};
        auto st = std::make_shared<detail::store_state<Def>>();
        st->env = detail::environment::open(dir, cfg);
        st->read_only = opt.read_only;
        st->want_change_log = opt.change_log;
        st->watch_capacity = opt.watch_capacity;
        std::lock_guard dbi_lock(st->env->dbi_mutex());
        // The opening transaction may have to build an index in a map that is already full
        // (LMDB keeps the larger of the requested and the file's map size): grow and retry.
        // Tables whose rows must be upgraded first are, each in its own transactions.
        for (int round = 0;; ++round) {
            std::size_t size = st->env->map_size();
            if (round == 1000)  // each round finishes an upgrade or grows the map: never reached
                throw error(errc::busy, "cannot open " + dir.string() + ": its tables keep changing under this open");
            try {
                auto plan = detail::open_tables(*st);
                if (!plan) {
                    open_change_log(*st, dir, opt);
                    return st;
                }
                detail::table_upgrade(*st->env, *plan, opt.upgrade_batch_bytes).run();
                continue;
            } catch (const error& e) {
                if (opt.read_only || e.code() != errc::map_full) throw;
            }
            st->env->resize(size * 2);
        }
    }

    // With a change log (the option asked for one, or the store has one), this process's
    // watchers follow the commits of every process.
    static void open_change_log(detail::store_state<Def>& st, const detail::dir_path& dir, const options& opt) {
        if (st.change_log == 0) return;  // (0 is the main database, never the log's handle)
        auto& hub = detail::watch_hub::of(*st.env);
        hub.use_log(st.change_log, st.schema.meta, dir, st.env->read_only(), opt.file_mode);
        [&]<class... Ms>(definition<Ms...>*) {
            (hub.know_table(st.template table<Ms>().name, st.template table<Ms>().dbi), ...);
        }(static_cast<Def*>(nullptr));
    }

    std::shared_ptr<detail::store_state<Def>> state_;
};

// The Rust netabase spellings.
template <class Def, class B, class F>
decltype(auto) with_write_transaction(Store<Def, B>& store, F&& fn) {
    return store.write(std::forward<F>(fn));
}

template <class Def, class B, class F>
decltype(auto) with_read_transaction(const Store<Def, B>& store, F&& fn) {
    return store.read(std::forward<F>(fn));
}

}  // namespace netabase
