// The thin layer over LMDB's C API: one shared environment per file per process, the
// lock that keeps map resizes away from live transactions, and byte-span conversions.
#pragma once

#include "netabase/detail/buffer.hpp"
#include "netabase/detail/calls.hpp"
#include "netabase/detail/containers.hpp"
#include "netabase/detail/path.hpp"
#include "netabase/detail/schema_counter.hpp"
#include "netabase/error.hpp"

#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace netabase::detail {

inline MDB_val to_val(std::span<const std::byte> s) noexcept {
    return MDB_val{s.size(), const_cast<std::byte*>(s.data())};
}

inline std::span<const std::byte> to_span(const MDB_val& v) noexcept {
    return {static_cast<const std::byte*>(v.mv_data), v.mv_size};
}

[[gnu::noinline]] inline int compare_bytes(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
    std::size_t n = a.size() < b.size() ? a.size() : b.size();
    int c = n ? std::memcmp(a.data(), b.data(), n) : 0;
    if (c != 0) return c;
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// Two keys of sizeof(U) bytes, compared as the big-endian unsigned integers they spell.
template <class U>
[[gnu::always_inline]] inline int compare_as_integers(const std::byte* a, const std::byte* b) noexcept {
    U x, y;
    std::memcpy(&x, a, sizeof x);
    std::memcpy(&y, b, sizeof y);
    if constexpr (std::endian::native == std::endian::little) {
        if constexpr (sizeof(U) == 8) {
            x = __builtin_bswap64(x);
            y = __builtin_bswap64(y);
        } else {
            x = __builtin_bswap32(x);
            y = __builtin_bswap32(y);
        }
    }
    return x < y ? -1 : (x > y ? 1 : 0);
}

// Byte order, as LMDB sorts keys. Keys of 8 or 4 bytes (integer keys) compare inline, as the
// big-endian integers they are: range scans make one comparison per row.
[[gnu::always_inline]] inline int compare(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
    if (a.size() == b.size()) {
        if (a.size() == 8) return compare_as_integers<std::uint64_t>(a.data(), b.data());
        if (a.size() == 4) return compare_as_integers<std::uint32_t>(a.data(), b.data());
    }
    return compare_bytes(a, b);
}

inline bool starts_with(std::span<const std::byte> s, std::span<const std::byte> prefix) noexcept {
    return s.size() >= prefix.size() && (prefix.empty() || std::memcmp(s.data(), prefix.data(), prefix.size()) == 0);
}

// Cursors kept open between uses: each mdb_cursor_open is a malloc. A read transaction's
// cursors survive its reset and go back to the pool with it.
struct cursor_cache {
    struct entry {
        MDB_dbi dbi = 0;
        MDB_cursor* cursor = nullptr;
        bool ready = false;  // bound to the current transaction (else mdb_cursor_renew first)
    };
    std::array<entry, 8> entries{};

    void close_all() noexcept {
        for (auto& e : entries) {
            if (e.cursor) ::mdb_cursor_close(e.cursor);
            e = entry{};
        }
    }
    void unready() noexcept {
        for (auto& e : entries) e.ready = false;
    }
};

class environment;

// A lock for a critical section of a few instructions (a copy into or out of the reader
// pool), where a mutex's system-call path would cost more than the work it guards.
class spin_lock {
public:
    void lock() noexcept {
        int spins = 0;
        while (flag_.exchange(true, std::memory_order_acquire))
            while (flag_.load(std::memory_order_relaxed))
                if (++spins > 64) std::this_thread::yield();  // the holder may be descheduled
    }
    void unlock() noexcept { flag_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> flag_{false};
};

// How many transactions this thread has open on each environment: a resize of that
// environment's map must not wait for them. A thread with more environments than slots is
// counted in `overflow`, which conservatively counts for every environment.
struct thread_transactions {
    struct slot {
        const environment* env = nullptr;
        int count = 0;
    };
    slot slots[8];
    int overflow = 0;

    int& of(const environment* e) noexcept {
        slot* free = nullptr;
        for (auto& s : slots) {
            if (s.env == e) return s.count;
            if (!free && s.count == 0) free = &s;
        }
        if (!free) return overflow;
        free->env = e;
        return free->count;
    }
    int& existing(const environment* e) noexcept {
        for (auto& s : slots)
            if (s.env == e && s.count > 0) return s.count;
        return overflow;
    }
    int held(const environment* e) noexcept {
        for (auto& s : slots)
            if (s.env == e && s.count > 0) return s.count + overflow;
        return overflow;
    }
};
inline thread_local thread_transactions this_thread_transactions;

// How a thread is named in messages: as `std::cout << std::this_thread::get_id()` prints it
// (libstdc++ prints the native handle as an integer), without <sstream> in every user's build.
[[gnu::cold, gnu::noinline]] inline std::string thread_name(std::thread::id id) {
    if (id == std::thread::id{}) return "<none>";
    unsigned long long n = 0;
    std::memcpy(&n, &id, sizeof id < sizeof n ? sizeof id : sizeof n);
    return std::to_string(sizeof id <= sizeof n ? n : static_cast<unsigned long long>(std::hash<std::thread::id>{}(id)));
}

// At its thread's exit, ends what environment::orphan_write left for that thread. Touched by
// begin_write, so every thread that writes has one.
struct orphan_reaper {
    ~orphan_reaper();
};
inline thread_local orphan_reaper this_thread_reaper;

// One LMDB environment, shared by every Store of the process that names the same file.
class environment {
public:
    environment(const environment&) = delete;
    environment& operator=(const environment&) = delete;

    ~environment() {
        watch_ptr_.store(nullptr);
        watch_.reset();  // first: a change-log follower thread reads through this environment
        for (std::size_t i = 0; i < pool_size_; ++i) {
            pool_[i].cursors.close_all();
            ::mdb_txn_abort(pool_[i].txn);
        }
        ::mdb_env_close(env_);
    }

    MDB_env* get() const noexcept { return env_; }
    bool read_only() const noexcept { return read_only_; }
    const dir_path& path() const noexcept { return path_; }
    template <class P>
    const P& fs_path() const {
        return fs_path_.get<P>(path_);
    }
    std::size_t max_key_size() const noexcept { return max_key_; }

    std::size_t map_size() const {
        if (unmapped_.load(std::memory_order_acquire)) [[unlikely]]
            throw_unmapped();
        MDB_envinfo info;
        if (int rc = mdb::env_info(env_, &info)) [[unlikely]]
            fail_call(rc, "mdb_env_info");
        return info.me_mapsize;
    }

    // An LMDB call on the environment itself failed: the error names the call and the store.
    [[noreturn, gnu::cold, gnu::noinline]] void fail_call(int rc, const char* what) const {
        throw_lmdb(rc, std::string(what) + " failed on the store at " + path_.string());
    }

    // The table and index (empty for a table's rows) a database handle of this environment
    // belongs to, as errors name them: recorded when schema.hpp opens it.
    void name_database(MDB_dbi dbi, std::string table, std::string index) {
        std::lock_guard lock(names_mu_);
        names_[dbi] = {std::move(table), std::move(index)};
    }
    [[gnu::cold]] std::pair<std::string, std::string> database_name(MDB_dbi dbi) const {
        if (dbi == 0) return {"LMDB's freelist", {}};
        if (dbi == 1) return {"LMDB's main database", {}};
        std::lock_guard lock(names_mu_);
        auto it = names_.find(dbi);
        if (it == names_.end()) return {"database #" + std::to_string(dbi), {}};
        return it->second;
    }

    // Counts a transaction in; blocks while a resize is under way, unless this thread already
    // holds a transaction (the resize is waiting for that one, so waiting here would deadlock).
    // Lock-free unless a resize is pending: a transaction announces itself in active_ and then
    // looks at resizing_, a resize sets resizing_ and then waits for active_ to drain; with
    // sequentially consistent atomics one of the two always sees the other.
    void enter() {
        int& mine = this_thread_transactions.of(this);
        for (;;) {
            active_.fetch_add(1);
            if (!resizing_.load() || mine > 0 || this_thread_transactions.overflow > 0) break;
            leave_count();  // a resize is waiting for active_ to drain: step aside until it is done
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return !resizing_.load(); });
        }
        ++mine;
        if (unmapped_.load(std::memory_order_acquire)) [[unlikely]] {
            leave();
            throw_unmapped();
        }
    }

    void leave() noexcept {
        --this_thread_transactions.existing(this);
        leave_count();
    }

    // A reset read transaction from the pool, renewed (with the cursors it had), or a new one.
    MDB_txn* begin_read(cursor_cache& cursors) {
        if (orphaned_.load()) [[unlikely]]
            settle_orphan();
        enter();
        MDB_txn* txn = nullptr;
        {
            std::lock_guard lock(pool_lock_);
            if (pool_size_ > 0) {
                --pool_size_;
                txn = pool_[pool_size_].txn;
                cursors = pool_[pool_size_].cursors;
            }
        }
        int rc = txn ? mdb::txn_renew(txn) : mdb::txn_begin(env_, nullptr, MDB_RDONLY, &txn);
        if (rc != 0) [[unlikely]]
            return retry_read(rc, txn, cursors);
        return txn;
    }

    // begin_read's failure: a resized map or a full reader table may pass; anything else throws.
    [[gnu::cold, gnu::noinline]] MDB_txn* retry_read(int rc, MDB_txn* txn, cursor_cache& cursors) {
        const char* call = txn ? "mdb_txn_renew" : "mdb_txn_begin";
        cursors.close_all();
        if (txn) ::mdb_txn_abort(txn);
        leave();
        if (rc == MDB_MAP_RESIZED) {
            resize(0);
            return begin_read(cursors);
        }
        std::string why;
        if (rc == MDB_READERS_FULL) {
            int dead = 0;
            int crc = mdb::reader_check(env_, &dead);  // slots of killed processes
            if (crc == 0 && dead > 0) return begin_read(cursors);
            // The reader table's own failure is said, not swallowed; the error stays the full table.
            if (crc != 0) why = "; mdb_reader_check, looking for slots of dead processes, failed too: " +
                                std::string(::mdb_strerror(crc));
        }
        throw_lmdb(rc, std::string("cannot begin a read transaction on the store at ") + path_.string() + " (" +
                           call + " failed)" + why);
    }

    void end_read(MDB_txn* t, cursor_cache& cursors) noexcept {
        ::mdb_txn_reset(t);
        cursors.unready();
        {
            std::lock_guard lock(pool_lock_);
            if (pool_size_ < pool_limit) {
                pool_[pool_size_++] = pooled_reader{t, cursors};
                t = nullptr;
            }
        }
        if (t) {
            cursors.close_all();
            ::mdb_txn_abort(t);
        }
        cursors = cursor_cache{};
        leave();
    }

    MDB_txn* begin_write() {
        if (read_only_)
            throw error(errc::read_only, "cannot write: the store at " + path_.string() + " is open read-only");
        if (orphaned_.load()) [[unlikely]]
            if (settle_orphan()) throw_orphaned("cannot begin a write transaction on ");
        if (writer_.load(std::memory_order_relaxed) == std::this_thread::get_id())
            throw error(errc::busy, "this thread already has a write transaction open on " + path_.string() +
                                        "; LMDB allows one writer, so a second would deadlock");
        enter();
        MDB_txn* t = nullptr;
        int rc = mdb::txn_begin(env_, nullptr, 0, &t);
        if (rc != 0) [[unlikely]] {
            leave();
            if (rc == MDB_MAP_RESIZED) {
                resize(0);
                return begin_write();
            }
            throw_lmdb(rc, "cannot begin a write transaction on the store at " + path_.string() + " (mdb_txn_begin failed)");
        }
        writer_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        (void)&this_thread_reaper;  // constructs it on this thread's first write
        return t;
    }

    // The thread whose write transaction is open (LMDB's writer lock is that thread's), or none.
    std::thread::id writer() const noexcept { return writer_.load(std::memory_order_relaxed); }

    // A WriteTransaction destroyed without commit or abort on a thread other than the one that
    // began it lands here: its destructor cannot throw, and aborting from this thread would leave
    // LMDB's writer lock held by the other thread (a pthread mutex only its owner can unlock), so
    // every later write would hang. Instead the transaction waits here, and `self` keeps the
    // environment open, until the thread that began it aborts it: at that thread's next
    // begin_read or begin_write on this environment, or when it exits. Meanwhile begin_write on
    // any other thread throws errc::wrong_thread instead of waiting forever for the lock.
    // If that thread has already exited, the transaction is aborted here: LMDB's lock is a robust
    // mutex, which the next writer takes over from the dead thread, finding no transaction open.
    void orphan_write(MDB_txn* t, std::shared_ptr<environment> self) noexcept {
        std::unique_lock lock(orphan_mu_);
        if (writer_exited_) {
            ::mdb_txn_abort(t);  // its unlock of the dead thread's mutex fails, harmlessly
            writer_exited_ = false;
            orphaned_.store(false);
            writer_.store(std::thread::id{}, std::memory_order_relaxed);
            lock.unlock();
            leave_count();  // (the thread's own count of its transactions went with it)
            return;
        }
        orphan_ = orphan{t, writer(), std::this_thread::get_id(), std::move(self)};
        orphaned_.store(true);
        std::lock_guard resize_lock(mu_);
        cv_.notify_all();  // a resize waiting for this transaction throws instead
    }

    // Aborts the orphaned write transaction if this thread began it; true while a write
    // transaction is left that no thread can end here (another thread's orphan, or one whose
    // thread exited: LMDB would declare the environment dead if a writer took over its lock now).
    [[gnu::cold, gnu::noinline]] bool settle_orphan() noexcept {
        std::shared_ptr<environment> keep;  // released after the lock: it may be the last owner
        std::lock_guard lock(orphan_mu_);  // destroyed before keep
        if (!orphan_.txn) return writer_exited_;
        if (orphan_.owner != std::this_thread::get_id()) return true;
        ::mdb_txn_abort(orphan_.txn);
        end_write();
        keep = std::move(orphan_.keep);
        orphan_ = orphan{};
        writer_exited_ = false;
        orphaned_.store(false);
        return false;
    }

    // At a thread's exit, for each environment it is the writer of (found among the ones it
    // counts transactions on, which stay alive while counted): aborts its orphaned write
    // transaction, or marks the one still open as left by a thread that exited.
    static void on_thread_exit() noexcept {
        for (auto& s : this_thread_transactions.slots) {
            if (s.count == 0 || s.env->writer() != std::this_thread::get_id()) continue;
            auto* e = const_cast<environment*>(s.env);
            std::unique_lock lock(e->orphan_mu_);
            if (e->orphan_.txn) {
                lock.unlock();
                e->settle_orphan();  // may destroy e: its `keep` was what held it open
            } else {
                e->writer_exited_ = true;  // orphan_write aborts it where it is destroyed
                e->orphaned_.store(true);
            }
        }
    }

    void end_write() noexcept {
        // Only if it still names this thread: LMDB released its lock inside the commit or abort,
        // and the next writer may already have written its own id here.
        std::thread::id me = std::this_thread::get_id();
        writer_.compare_exchange_strong(me, std::thread::id{}, std::memory_order_relaxed);
        leave();
    }

    // Sets the map size (0: adopt the size another process set) once no transaction of this
    // process is live: LMDB unmaps the file under any reader.
    void resize(std::size_t new_size) {
        if (int held = this_thread_transactions.held(this)) {
            // (Past 8 environments a thread's transactions are counted together, for all of them.)
            const bool own = held > this_thread_transactions.overflow;
            throw error(errc::map_full,
                        "the map of " + path_.string() + " must be resized, but this thread still holds " +
                            (own ? std::string("a transaction on it; end it first")
                                 : std::string("transactions on more than 8 stores at once, which netabase does not "
                                               "tell apart, so one may be on this store (a resize waits for every "
                                               "transaction on it); end them first")));
        }
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !resizing_.load(); });
        resizing_.store(true);
        cv_.wait(lock, [&] { return active_.load() == 0 || orphaned_.load(); });
        // Woken by an orphaned write transaction (orphan_write), which holds the map. (active_
        // alone is no sign: a transaction arriving now counts itself in for an instant, then sees
        // resizing_ and steps aside, so the resize may go on.)
        if (orphaned_.load() && active_.load() != 0) {
            resizing_.store(false);
            cv_.notify_all();
            lock.unlock();
            throw_orphaned("cannot resize the map of ");
        }
        const std::size_t old_size = map_size();
        int rc = mdb::env_set_mapsize(env_, new_size);
        // LMDB unmaps the file before it maps it at the new size: when that mmap fails, the
        // environment is left with no map at all, and any transaction would read unmapped
        // memory. From then on every use throws instead (throw_unmapped). (Its one earlier
        // failure, EINVAL for an open write transaction, cannot happen here: active_ drained.
        // Nothing tells the two apart afterwards: mdb_env_info reads the unmapped meta page.)
        if (rc != 0) unmapped_.store(rc, std::memory_order_release);
        resizing_.store(false);
        cv_.notify_all();
        if (rc != 0)
            throw_lmdb(rc, "cannot resize the map of " + path_.string() + " from " + std::to_string(old_size) +
                               " bytes to " +
                               (new_size ? std::to_string(new_size) + " bytes" : std::string("the size another process set")) +
                               " (mdb_env_set_mapsize failed); LMDB has unmapped it, so this process can no longer use "
                               "it: close every Store of " +
                               path_.string() + " and open it again");
    }

    struct config {
        std::size_t map_size;
        unsigned flags;
        unsigned max_readers;
        unsigned max_dbs;
        unsigned file_mode;
        bool checksum;
    };

    // Whether new values carry a CRC32C (values that have one are checked either way).
    bool checksum() const noexcept { return checksum_; }

    // The environment for `dir`, opened once per process.
    static std::shared_ptr<environment> open(const dir_path& dir, const config& cfg) {
        std::error_code ec;
        bool read_only = (cfg.flags & MDB_RDONLY) != 0;
        if (!read_only) create_directories(dir, ec);
        struct ::stat st {};
        if (::stat(dir.c_str(), &st) != 0) {
            int err = errno;
            if (err == ENOENT && read_only)
                throw error(errc::not_found, "cannot open store read-only: " + dir.string() + " does not exist");
            throw error(std::error_code(err, std::generic_category()),
                        "cannot open store: " + dir.string() + (ec ? " (" + ec.message() + ")" : ""));
        }
        if (!S_ISDIR(st.st_mode))
            throw error(errc::bad_file, "cannot open store: " + dir.string() + " is not a directory");

        // Keyed by process too: a child after fork() must open its own environment (LMDB).
        static flat_map<std::tuple<pid_t, dev_t, ino_t>, std::weak_ptr<environment>> registry;
        std::lock_guard lock(registry_mutex());
        auto key = std::tuple{::getpid(), st.st_dev, st.st_ino};
        if (auto it = registry.find(key); it != registry.end()) {
            if (auto existing = it->second.lock()) {
                if (existing->read_only_ && !read_only)
                    throw error(errc::read_only, "cannot open " + dir.string() +
                                                     " read-write: this process already has it open read-only");
                return existing;  // a read-only Store over it refuses writes itself
            }
        }
        // Closed under the registry lock too: closing an LMDB environment drops the process's
        // file locks, so a new one for the same file must not open until the old one is gone.
        auto env = std::shared_ptr<environment>(new environment(dir, cfg), [](environment* e) {
            std::lock_guard close_lock(registry_mutex());
            delete e;
        });
        registry[key] = env;
        return env;
    }

    // Every named database is opened once, under this lock: mdb_dbi_open must not race.
    std::mutex& dbi_mutex() noexcept { return dbi_mu_; }

    // The writer's scratch space: LMDB admits one write transaction per environment at a
    // time, so it is never shared, and reusing it keeps steady-state writes allocation-free.
    buffer row_buffer;

    // Bumped by every process around a schema change (detail/schema_counter.hpp).
    schema_counter& schema_changes() noexcept { return schema_changes_; }

    // Watchers and the change log (detail/changes.hpp keeps its state here, type-erased, so that
    // this layer does not depend on it). `capture` is what a write transaction loads to know
    // whether it must record its changes: false keeps a store without either at no cost.
    void* watch_state() const noexcept { return watch_ptr_.load(std::memory_order_acquire); }
    // The state, made by `make` (returning a shared_ptr) on the first call from any thread.
    template <class Make>
    void* watch_state_or(Make&& make) {
        if (void* p = watch_state()) return p;
        std::lock_guard lock(watch_mu_);
        if (!watch_) {
            watch_ = make();
            watch_ptr_.store(watch_.get(), std::memory_order_release);
        }
        return watch_.get();
    }
    std::atomic<bool> capture{false};

private:
    static std::mutex& registry_mutex() {
        static std::mutex m;
        return m;
    }

    struct orphan {
        MDB_txn* txn = nullptr;
        std::thread::id owner;     // began it: the only thread that may end it
        std::thread::id ended_on;  // destroyed its WriteTransaction
        std::shared_ptr<environment> keep;
    };

    [[noreturn, gnu::cold, gnu::noinline]] void throw_orphaned(const char* what) {
        std::string owner, ended_on;
        {
            std::lock_guard lock(orphan_mu_);
            if (!orphan_.txn)
                throw error(errc::wrong_thread,
                            what + path_.string() + ": the thread " + thread_name(writer()) +
                                " that began the open write transaction exited without ending it. LMDB lets "
                                "another thread take over its lock only once that WriteTransaction is "
                                "destroyed (which aborts it). Commit or abort a write transaction on the "
                                "thread that began it");
            owner = thread_name(orphan_.owner);
            ended_on = thread_name(orphan_.ended_on);
        }
        throw error(errc::wrong_thread,
                    what + path_.string() + ": the write transaction that thread " + owner +
                        " began was destroyed on thread " + ended_on +
                        " without commit() or abort(), and LMDB lets only the thread that began a write "
                        "transaction end it; thread " + owner +
                        " aborts it at its next transaction on this store or when it exits. Commit or abort a "
                        "write transaction on the thread that began it");
    }

    environment(const dir_path& dir, const config& cfg) : path_(dir) {
        if (int rc = mdb::env_create(&env_))
            throw_lmdb(rc, "cannot open store: " + dir.string() + " (mdb_env_create failed)");
        auto fail = [&](int rc, const std::string& what) {
            ::mdb_env_close(env_);
            env_ = nullptr;
            throw_lmdb(rc, what + " (" + dir.string() + ")");
        };
        int rc = mdb::env_set_mapsize(env_, cfg.map_size);
        if (rc) fail(rc, "cannot set the map size (mdb_env_set_mapsize failed)");
        if ((rc = mdb::env_set_maxreaders(env_, cfg.max_readers)))
            fail(rc, "cannot set max readers (mdb_env_set_maxreaders failed)");
        if ((rc = mdb::env_set_maxdbs(env_, cfg.max_dbs))) fail(rc, "cannot set max tables (mdb_env_set_maxdbs failed)");
        // How an error on a cursor finds the names of its database (throw_on_database).
        if ((rc = mdb::env_set_userctx(env_, this))) fail(rc, "cannot open store (mdb_env_set_userctx failed)");
        if (cfg.flags & MDB_RDONLY) {
            struct ::stat data {};
            bool missing = ::stat((dir / "data.mdb").c_str(), &data) != 0;
            if (missing || data.st_size == 0) {
                ::mdb_env_close(env_);
                env_ = nullptr;
                if (missing)
                    throw error(errc::not_found, "cannot open store read-only: " + dir.string() +
                                                     " has no data.mdb; open it read-write once to create it");
                throw error(errc::bad_file,
                            "cannot open store read-only: " + (dir / "data.mdb").string() + " is empty");
            }
        }
        rc = mdb::env_open(env_, dir.c_str(), cfg.flags | MDB_NOTLS, static_cast<mdb_mode_t>(cfg.file_mode));
        if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
            fail(rc, "cannot open store: the files are not an LMDB environment this build reads (mdb_env_open failed)");
        if (rc) fail(rc, "cannot open store (mdb_env_open failed)");
        // A data file cut short below its last page makes LMDB die with SIGBUS on the first
        // read of a missing page: refuse it here instead.
        MDB_envinfo info;
        MDB_stat st;
        struct ::stat file {};
        // (Their failures were once skipped, and the truncation check with them.)
        if ((rc = mdb::env_info(env_, &info))) fail(rc, "cannot open store (mdb_env_info failed)");
        if ((rc = mdb::env_stat(env_, &st))) fail(rc, "cannot open store (mdb_env_stat failed)");
        if (::stat((dir / "data.mdb").c_str(), &file) == 0) {
            auto needed = static_cast<std::uint64_t>(info.me_last_pgno + 1) * st.ms_psize;
            if (static_cast<std::uint64_t>(file.st_size) < needed) {
                ::mdb_env_close(env_);
                env_ = nullptr;
                throw error(errc::bad_file, "cannot open store: " + (dir / "data.mdb").string() + " is truncated (" +
                                                std::to_string(file.st_size) + " bytes; its pages need " +
                                                std::to_string(needed) + ")");
            }
        }
        read_only_ = (cfg.flags & MDB_RDONLY) != 0;
        checksum_ = cfg.checksum;
        max_key_ = static_cast<std::size_t>(::mdb_env_get_maxkeysize(env_));
        int dead = 0;
        // Slots left by killed processes. A failure was once ignored: the lock file is unusable.
        if ((rc = mdb::reader_check(env_, &dead))) fail(rc, "cannot open store (mdb_reader_check failed)");
        schema_changes_.open(dir, read_only_, cfg.file_mode);
    }

    // A resize failed after LMDB had unmapped the file: its error code (0: never).
    std::atomic<int> unmapped_{0};

    [[noreturn, gnu::cold, gnu::noinline]] void throw_unmapped() const {
        throw_lmdb(unmapped_.load(), "the store at " + path_.string() +
                                         " cannot be used in this process: a resize of its map failed and LMDB left it "
                                         "unmapped; close every Store of it and open it again");
    }

    MDB_env* env_ = nullptr;
    schema_counter schema_changes_;
    std::shared_ptr<void> watch_;
    std::atomic<void*> watch_ptr_{nullptr};
    std::mutex watch_mu_;
    dir_path path_;
    fs_path_cache fs_path_;
    bool read_only_ = false;
    bool checksum_ = false;
    std::size_t max_key_ = 511;

    void leave_count() noexcept {
        if (active_.fetch_sub(1) == 1 && resizing_.load()) {
            std::lock_guard lock(mu_);  // the resize checks active_ under mu_: no lost wake-up
            cv_.notify_all();
        }
    }

    std::mutex mu_;  // resizes only
    std::condition_variable cv_;
    std::atomic<int> active_{0};
    std::atomic<bool> resizing_{false};
    struct pooled_reader {
        MDB_txn* txn = nullptr;
        cursor_cache cursors;
    };
    static constexpr std::size_t pool_limit = 64;
    spin_lock pool_lock_;  // held for a copy in or out of pool_
    std::size_t pool_size_ = 0;
    std::array<pooled_reader, pool_limit> pool_{};
    std::atomic<std::thread::id> writer_{};
    std::mutex dbi_mu_;
    mutable std::mutex names_mu_;  // names_ (written at open, read by errors on any thread)
    flat_map<MDB_dbi, std::pair<std::string, std::string>> names_;
    std::atomic<bool> orphaned_{false};  // orphan_ or writer_exited_ is set (begin_*'s fast check)
    std::mutex orphan_mu_;               // orphan_ and writer_exited_
    orphan orphan_;
    bool writer_exited_ = false;         // the writer's thread exited with its transaction open
};

inline orphan_reaper::~orphan_reaper() { environment::on_thread_exit(); }

// An LMDB call on database dbi in txn failed: the error names the call, the table and the index.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_on_database(int rc, std::string_view what, MDB_txn* txn,
                                                                     MDB_dbi dbi) {
    void* ctx = txn ? ::mdb_env_get_userctx(::mdb_txn_env(txn)) : nullptr;
    auto [table, index] = ctx ? static_cast<const environment*>(ctx)->database_name(dbi)
                              : std::pair<std::string, std::string>{"database #" + std::to_string(dbi), {}};
    throw_lmdb(rc, std::string(what) + " failed", table, index);
}

// An LMDB call on an environment failed: the error names its store (found through its context).
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_on_env(int rc, const char* what, MDB_env* env) {
    if (void* ctx = ::mdb_env_get_userctx(env)) static_cast<const environment*>(ctx)->fail_call(rc, what);
    throw_lmdb(rc, std::string(what) + " failed");
}

[[gnu::cold]] inline const char* cursor_op_name(MDB_cursor_op op) noexcept {
    switch (op) {
        case MDB_FIRST: return "MDB_FIRST";
        case MDB_FIRST_DUP: return "MDB_FIRST_DUP";
        case MDB_GET_BOTH: return "MDB_GET_BOTH";
        case MDB_GET_BOTH_RANGE: return "MDB_GET_BOTH_RANGE";
        case MDB_GET_CURRENT: return "MDB_GET_CURRENT";
        case MDB_GET_MULTIPLE: return "MDB_GET_MULTIPLE";
        case MDB_LAST: return "MDB_LAST";
        case MDB_LAST_DUP: return "MDB_LAST_DUP";
        case MDB_NEXT: return "MDB_NEXT";
        case MDB_NEXT_DUP: return "MDB_NEXT_DUP";
        case MDB_NEXT_MULTIPLE: return "MDB_NEXT_MULTIPLE";
        case MDB_NEXT_NODUP: return "MDB_NEXT_NODUP";
        case MDB_PREV: return "MDB_PREV";
        case MDB_PREV_DUP: return "MDB_PREV_DUP";
        case MDB_PREV_NODUP: return "MDB_PREV_NODUP";
        case MDB_SET: return "MDB_SET";
        case MDB_SET_KEY: return "MDB_SET_KEY";
        case MDB_SET_RANGE: return "MDB_SET_RANGE";
        default: return "?";
    }
}

// A cursor call failed: named with the cursor's database (the cursor is still open).
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_on_cursor(int rc, std::string_view what, MDB_cursor* c) {
    throw_on_database(rc, what, ::mdb_cursor_txn(c), ::mdb_cursor_dbi(c));
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_cursor_move(int rc, MDB_cursor* c, MDB_cursor_op op) {
    throw_on_cursor(rc, std::string("mdb_cursor_get(") + cursor_op_name(op) + ")", c);
}

// Moves c; false at the end, throws on any other failure.
[[gnu::always_inline]] inline bool cursor_move(MDB_cursor* c, MDB_val& k, MDB_val& v, MDB_cursor_op op) {
    int rc = mdb::cursor_get(c, &k, &v, op);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) [[unlikely]]
        throw_cursor_move(rc, c, op);
    return true;
}

// A cursor closed on scope exit.
class cursor {
public:
    cursor() = default;
    cursor(MDB_txn* txn, MDB_dbi dbi) {
        if (int rc = mdb::cursor_open(txn, dbi, &c_)) throw_on_database(rc, "mdb_cursor_open", txn, dbi);
    }
    cursor(const cursor&) = delete;
    cursor& operator=(const cursor&) = delete;
    cursor(cursor&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    cursor& operator=(cursor&& o) noexcept {
        if (this != &o) {
            reset();
            c_ = std::exchange(o.c_, nullptr);
        }
        return *this;
    }
    ~cursor() { reset(); }

    void reset() noexcept {
        if (c_) ::mdb_cursor_close(c_);
        c_ = nullptr;
    }
    MDB_cursor* get() const noexcept { return c_; }
    explicit operator bool() const noexcept { return c_ != nullptr; }

    // false at the end; throws on any other failure.
    bool move(MDB_val& k, MDB_val& v, MDB_cursor_op op) { return cursor_move(c_, k, v, op); }

private:
    MDB_cursor* c_ = nullptr;
};

// A write transaction of an environment (begin_write/end_write), aborted unless committed: for
// the opening and upgrade transactions, which have no WriteTransaction.
class write_scope {
public:
    explicit write_scope(environment& env) : env_(env), txn_(env.begin_write()) {}
    write_scope(const write_scope&) = delete;
    write_scope& operator=(const write_scope&) = delete;
    ~write_scope() { abort(); }
    MDB_txn* get() const noexcept { return txn_; }
    void abort() noexcept {
        if (!txn_) return;
        ::mdb_txn_abort(txn_);
        txn_ = nullptr;
        env_.end_write();
    }
    int commit() noexcept {  // frees the transaction whatever it returns
        int rc = mdb::txn_commit(txn_);
        txn_ = nullptr;
        env_.end_write();
        return rc;
    }

private:
    environment& env_;
    MDB_txn* txn_;
};

}  // namespace netabase::detail
