// netabase::etcd: a backend over an etcd v3 cluster (docs/SCALE-OUT.md, "The backend"), and
// Store<Def, netabase::etcd>. Link netabase::etcd (CMake option NETABASE_ETCD); no gRPC type
// shows through this header.
//
// First slice (issue #13; docs/SCALE-OUT.md, "The backend", says it all). In short:
//   - one key prefix per store; each table and index is a space with keys
//       <prefix>d<space:4 digits>/<key>          (a table row, or a unique index entry)
//       <prefix>d<space:4 digits>/<key><pk>      (a non-unique index entry; its value is <pk>)
//     and two bookkeeping keys per space, <prefix>v<space> (bumped by every write to the
//     space) and <prefix>n<space> (its number of entries, kept exact).
//   - a transaction reads at one revision, fixed at its first read. Exact-key calls are point
//     reads; anything that needs the order fetches the space whole (so this slice suits
//     tables of thousands of rows) and runs the seam's cursor moves, DUPSORT's included, over
//     that copy.
//   - a write transaction's writes go to its copy (read-your-writes) and to a pending list;
//     commit sends one Txn (commit_once: a lost reply is never applied twice) whose compares
//     are each point key's mod revision (0: absent), each whole space's version key, and the
//     count key when size() read it or the count changes. A failed compare is errc::conflict,
//     nothing applied; Store::write(fn) runs fn again (bounded attempts, backoff).
//   - nested transactions (put_many, remove_many) are savepoints: copies of the touched spaces.
// Not yet: range reads of part of a space, the change log and watchers, verify/stats/
// rebuild_index, schema records, commits over etcd's --max-txn-ops (errc::limit_exceeded,
// nothing applied).
#pragma once

#include "netabase/detail/buffer.hpp"
#include "netabase/detail/lifetime.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/schema.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"
#include "netabase/lmdb.hpp"
#include "netabase/store.hpp"
#include "netabase/transaction.hpp"

#include <lmdb.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace netabase {

namespace etcd_detail {

struct session;  // the client and the store's layout (backend.cpp)

// One space's entries as this transaction sees them: key -> its values (one for a table or a
// unique index; ordered values for a non-unique one). Nodes never change in place: a replaced
// or erased node moves to the transaction's graveyard, so that vals handed out stay valid.
//
// A space is partial until a cursor move (or anything else that needs its order) fetches it
// whole: a partial space holds only the keys looked up one by one (`known`, each with its mod
// revision at the snapshot, 0 when absent), which the commit compares key by key. A whole
// space is compared by its version key instead.
struct space_data {
    using values = std::set<std::string, std::less<>>;
    using map = std::map<std::string, values, std::less<>>;
    map entries;                    // whole: every entry; partial: those of known keys
    bool whole = false;
    bool written = false;
    std::size_t count = 0;          // whole: values over all keys
    std::int64_t version_mod = 0;   // whole: the version key's mod revision at the snapshot (0: absent)
    // partial:
    std::map<std::string, std::int64_t, std::less<>> known;  // key (or key||pk) -> mod revision, 0: absent
    std::int64_t delta = 0;         // entries added minus entries removed by this transaction
    bool count_read = false;        // the count key was read (size(), or a commit that changes it)
    std::size_t count_base = 0;     // its value at the snapshot
    std::int64_t count_mod = 0;     // its mod revision at the snapshot (0: absent)
};

// A buffered write: the final state of one etcd key.
struct pending_op {
    unsigned space = 0;
    std::string key, value;  // (key, value), or (index key, primary key) in a non-unique index
    bool put = false;        // false: delete
};

struct env_t {
    std::size_t max_key_size() const noexcept { return max_key; }
    bool checksum() const noexcept { return checksums; }
    std::size_t max_key = 511;  // LMDB's default, so that both backends refuse the same keys
    bool checksums = false;
    detail::buffer row_buffer;
};

struct core;

struct cursor_state {
    core* c = nullptr;
    unsigned space = 0;
    enum class where : unsigned char { unset, at, eof } pos = where::unset;
    std::string key, value;  // the current entry (re-sought at each move)
};

struct core {
    env_t* env = nullptr;
    core* txn = nullptr;  // the seam's handle: this object while open
    bool write = false;
    bool failed = false;
    bool map_full = false;  // never set: etcd has no map
    bool interrupted = false;
    std::uint64_t writes = 0;
    detail::change_batch* changes = nullptr;  // no watchers yet
    detail::lifetime_owner life;

    std::shared_ptr<session> sess;
    std::int64_t revision = 0;  // 0 until the first read fixes it
    std::vector<std::unique_ptr<space_data>> spaces;                // by space id, null until fetched
    std::map<std::string, pending_op, std::less<>> pending;  // by etcd key
    struct savepoint {
        std::vector<std::unique_ptr<space_data>> spaces;  // copies of the fetched spaces
        std::map<std::string, pending_op, std::less<>> pending;
    };
    std::vector<savepoint> savepoints;
    std::vector<space_data::map::node_type> graveyard;
    std::vector<space_data::values::node_type> value_graveyard;
    std::vector<std::unique_ptr<space_data>> dropped_spaces;

    core() = default;
    core(const core&) = delete;
    core& operator=(const core&) = delete;

    core* live() const {
        if (!txn) [[unlikely]]
            detail::throw_finished();
        return txn;
    }
    void wrote() noexcept {
        life.wrote();
        ++writes;
    }
    void interrupt() noexcept {
        if (!write || failed) return;
        failed = true;
        interrupted = true;
    }
    [[noreturn]] void fail(int rc, std::string_view what, std::string_view table, std::string_view index = {});

    // The space as this transaction knows it (partial: nothing fetched yet).
    space_data& data(unsigned space);
    // The space with every entry, fetched at this transaction's revision the first time, this
    // transaction's writes applied.
    space_data& whole(unsigned space);
    // Makes sure the entry `suffix` (a key, or key||pk in a non-unique index) of a partial space
    // is known: looked up at this transaction's revision the first time.
    void know(unsigned space, space_data& sd, const std::string& key, const std::string& pk);
    // The space's entry count, without fetching it whole.
    std::size_t entries(unsigned space);
    bool dupsort(unsigned space) const;
    std::string etcd_key(unsigned space, std::string_view k, std::string_view v) const;
    void reset() noexcept;  // drops everything (end of the transaction)
};

// An ordered cursor over one space (RAII; the seam's cursor).
class cursor {
public:
    cursor() = default;
    cursor(core* c, unsigned space) : s_(std::make_unique<cursor_state>()) {
        c->live();
        s_->c = c;
        s_->space = space;
    }
    cursor_state* get() const noexcept { return s_.get(); }
    explicit operator bool() const noexcept { return s_ != nullptr; }
    void reset() noexcept { s_.reset(); }
    bool move(MDB_val& k, MDB_val& v, MDB_cursor_op op);

private:
    std::unique_ptr<cursor_state> s_;
};

bool is_own(const error& e) noexcept;
std::shared_ptr<session> connect(const std::vector<std::string>& endpoints, const std::string& prefix,
                                 std::chrono::milliseconds deadline, std::vector<bool> dupsort,
                                 std::vector<std::pair<std::string, std::string>> names);
std::pair<std::string, std::string> space_name(const session& s, unsigned space);

}  // namespace etcd_detail

struct etcd {
    // What Store<Def, etcd> connects with (DESIGN.md section 9).
    struct options {
        std::vector<std::string> endpoints;  // "127.0.0.1:2379", ...
        std::string prefix;                  // every key of the store starts with it
        std::chrono::milliseconds deadline{5000};   // one etcd call, all its attempts
        unsigned max_attempts = 8;                  // Store::write(fn) runs fn at most this often
        std::chrono::milliseconds backoff{10};      // before the second attempt, doubling
    };

    using txn = etcd_detail::core;
    using handle = etcd_detail::core*;
    using space = unsigned;
    using val = MDB_val;
    using cursor = etcd_detail::cursor;
    using raw_cursor = etcd_detail::cursor_state*;
    using cursor_op = MDB_cursor_op;
    using op = lmdb::op;  // the same moves, spelled as LMDB's

    static constexpr unsigned no_overwrite = MDB_NOOVERWRITE, append = MDB_APPEND, current = MDB_CURRENT;
    static constexpr int not_found = MDB_NOTFOUND, key_exists = MDB_KEYEXIST, map_full = MDB_MAP_FULL;

    static bool is_own(const error& e) noexcept { return etcd_detail::is_own(e); }

    static val to_val(std::span<const std::byte> s) noexcept { return detail::to_val(s); }
    static std::span<const std::byte> to_span(const val& v) noexcept { return detail::to_span(v); }

    static int get(handle t, space s, val* k, val* v);
    static int put(handle t, space s, val* k, val* v, unsigned flags);
    static int del(handle t, space s, val* k, val* v);
    static int drop(handle t, space s);
    static int stat_entries(handle t, space s, std::size_t& n);

    static int cursor_get(raw_cursor c, val* k, val* v, cursor_op o);
    static int cursor_put(raw_cursor c, val* k, val* v, unsigned flags);
    static int cursor_del(raw_cursor c);
    static int cursor_count(raw_cursor c, std::size_t& n);
    static bool move(raw_cursor c, val& k, val& v, cursor_op o);
    template <class F>
    static decltype(auto) with_lookup_cursor(txn& core, space s, F&& f) {
        core.live();
        etcd_detail::cursor_state c{&core, s, {}, {}, {}};
        return static_cast<F&&>(f)(&c);
    }

    static handle begin_nested(txn& core, std::string_view table);
    static void commit_nested(txn& core, handle parent, std::string_view table);
    static void abort_nested(txn& core, handle parent) noexcept;

    [[noreturn]] static void throw_error(int rc, std::string_view what, std::string_view table,
                                         std::string_view index = {});
    [[noreturn]] static void throw_on_space(int rc, std::string_view what, handle t, space s);
    [[noreturn]] static void throw_on_cursor(int rc, std::string_view what, raw_cursor c);

    // ---- a transaction's life ----------------------------------------------------------

    template <class Def>
    struct state {
        std::shared_ptr<etcd_detail::session> sess;
        etcd_detail::env_t env;
        typename detail::tables_of<Def>::type tables;
        options opts;

        template <class M>
        const auto& table() const noexcept {
            return std::get<Def::template index_of<M>>(tables);
        }
    };

    static bool is_open(const txn& core) noexcept { return core.txn != nullptr; }

    template <class Def>
    static void begin_read(state<Def>& st, txn& core) {
        begin(st.sess, &st.env, core, false);
    }
    static void end_read(txn& core) noexcept;
    template <class Def>
    static void begin_write(state<Def>& st, txn& core) {
        begin(st.sess, &st.env, core, true);
    }
    // Sends the buffered writes as one Txn; errc::conflict (nothing applied) when a space this
    // transaction read or wrote was written by another client since its revision.
    template <class Def>
    static void commit(state<Def>&, txn& core) {
        commit_core(core);
    }
    template <class Def>
    static void abort(state<Def>&, txn& core) noexcept {
        end_read(core);
    }

private:
    static void begin(const std::shared_ptr<etcd_detail::session>& s, etcd_detail::env_t* env, txn& core, bool write);
    static void commit_core(txn& core);
};

// A Store over an etcd cluster: the core API (begin_read, begin_write, read, write).
template <class Def>
class Store<Def, netabase::etcd> {
    using B = netabase::etcd;

public:
    using definition_type = Def;
    using backend_type = B;

    explicit Store(const etcd::options& opt) : state_(std::make_shared<B::state<Def>>()) {
        state_->opts = opt;
        std::vector<bool> dupsort;
        std::vector<std::pair<std::string, std::string>> names;
        [&]<class... Ms>(definition<Ms...>*) {
            (name_spaces(detail::schema_of<Ms>, std::get<Def::template index_of<Ms>>(state_->tables), dupsort, names),
             ...);
        }(static_cast<Def*>(nullptr));
        state_->sess = etcd_detail::connect(opt.endpoints, opt.prefix, opt.deadline, std::move(dupsort), std::move(names));
    }

    ReadTransaction<Def, B> begin_read() const { return ReadTransaction<Def, B>(state_); }
    WriteTransaction<Def, B> begin_write() { return WriteTransaction<Def, B>(state_); }

    template <class F>
    std::invoke_result_t<F&, ReadTransaction<Def, B>&> read(F&& fn) const {
        ReadTransaction<Def, B> txn(state_);
        return detail::invoke_with(fn, txn);
    }

    // Runs fn in a write transaction and commits; on errc::conflict (another client committed
    // first, nothing of fn's was applied) runs fn again, at most options.max_attempts times in
    // all, with a doubling backoff. Any other error propagates.
    template <class F>
    std::invoke_result_t<F&, WriteTransaction<Def, B>&> write(F&& fn) {
        using R = std::invoke_result_t<F&, WriteTransaction<Def, B>&>;
        auto pause = state_->opts.backoff;
        for (unsigned attempt = 1;; ++attempt) {
            try {
                WriteTransaction<Def, B> txn(state_);
                if constexpr (std::is_void_v<R>) {
                    detail::invoke_with(fn, txn);
                    if (txn.is_open()) txn.commit();
                    return;
                } else {
                    R result = detail::invoke_with(fn, txn);
                    if (txn.is_open()) txn.commit();
                    return result;
                }
            } catch (const error& e) {
                if (e.code() != errc::conflict || attempt >= state_->opts.max_attempts) throw;
            }
            std::this_thread::sleep_for(pause);
            pause *= 2;
        }
    }

private:
    template <std::size_t N>
    static void name_spaces(const detail::table_schema& s, detail::table_state<N>& t, std::vector<bool>& dupsort,
                            std::vector<std::pair<std::string, std::string>>& names) {
        t.name = std::string(s.name);
        t.dbi = static_cast<unsigned>(dupsort.size());
        dupsort.push_back(false);
        names.emplace_back(t.name, std::string());
        for (std::size_t i = 0; i < N; ++i) {
            auto& ix = t.indexes[i];
            ix.unique = s.indexes[i].unique;
            ix.name = t.name + "/" + std::string(s.indexes[i].id);
            ix.dbi = static_cast<unsigned>(dupsort.size());
            dupsort.push_back(!ix.unique);
            names.emplace_back(t.name, ix.name);
        }
    }

    std::shared_ptr<B::state<Def>> state_;
};

}  // namespace netabase
