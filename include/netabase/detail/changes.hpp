// What a write transaction changed, and who hears of it: the changes a transaction records
// while something watches (in-process watchers, or the durable change log), the bounded queue
// of each watcher, and the hub that delivers a commit's changes to them.
//
// Delivery. Without the change log, a commit's changes go to this process's watchers right
// after it commits, numbered by a counter of this process. With it, every commit also appends
// (sequence, table, kind, primary key) to the log database in the same LMDB transaction, and
// bumps a counter in shared memory (`changes.lock`, a futex word): a follower thread in each
// process that watches wakes on it, reads the log after the last sequence it delivered, and
// delivers what it did not deliver itself. A writer's own process gets its changes directly
// when nothing is ahead of them, so its rows are exactly as committed.
#pragma once

#include "netabase/codec.hpp"  // load_le, store_le
#include "netabase/detail/containers.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/schema_counter.hpp"
#include "netabase/error.hpp"

#include <linux/futex.h>
#include <lmdb.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#if __has_include(<bits/chrono.h>)  // libstdc++: durations and clocks without <chrono>'s I/O (issue #14)
#include <bits/chrono.h>
#else
#include <chrono>
#endif
#include <climits>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace netabase {

enum class change_kind : std::uint8_t { insert = 1, update = 2, remove = 3 };

namespace detail {

inline constexpr const char* log_name = "__netabase~changes";
inline const std::string log_trimmed_key = "changes:trimmed";  // metadata: the last sequence trimmed

// One change of a write transaction; its bytes are in the batch.
struct change_record {
    const std::string* table;
    change_kind kind;
    bool has_row, has_old;
    std::uint32_t pk_off, pk_len, row_off, row_len, old_off, old_len;
};

// The changes of the one write transaction of an environment (LMDB admits one at a time).
struct change_batch {
    std::vector<change_record> records;
    std::vector<std::byte> bytes;
    bool want_old = false;  // a watcher filters by key: the old row tells whether it had it
    bool log = false;       // the commit appends these to the change log
    bool want_rows = true;  // a watcher of this process takes the rows (the log alone does not)
    std::uint64_t first = 0;  // the first sequence, once assigned
    std::uint64_t txnid = 0;  // the LMDB transaction that logged them
    std::vector<std::byte> block;  // the log entry's bytes

    void clear() noexcept {
        records.clear();
        bytes.clear();
        first = 0;
    }
    std::pair<std::size_t, std::size_t> mark() const noexcept { return {records.size(), bytes.size()}; }
    void rollback(std::pair<std::size_t, std::size_t> m) {
        records.resize(m.first);
        bytes.resize(m.second);
    }
    std::uint32_t keep(std::span<const std::byte> s) {
        auto off = static_cast<std::uint32_t>(bytes.size());
        bytes.insert(bytes.end(), s.begin(), s.end());
        return off;
    }
    void add(const std::string* table, change_kind k, std::span<const std::byte> pk, const std::span<const std::byte>* row,
             const std::span<const std::byte>* old) {
        change_record r{table, k, row != nullptr && want_rows, old != nullptr && want_old, 0, 0, 0, 0, 0, 0};
        r.pk_off = keep(pk);
        r.pk_len = static_cast<std::uint32_t>(pk.size());
        if (r.has_row) {
            r.row_off = keep(*row);
            r.row_len = static_cast<std::uint32_t>(row->size());
        }
        if (r.has_old) {
            r.old_off = keep(*old);
            r.old_len = static_cast<std::uint32_t>(old->size());
        }
        records.push_back(r);
    }
    std::span<const std::byte> at(std::uint32_t off, std::uint32_t len) const noexcept { return {bytes.data() + off, len}; }
};

// A change as a watcher's queue holds it, until next() decodes it.
struct queued_change {
    std::uint64_t sequence = 0;
    change_kind kind = change_kind::insert;
    std::vector<std::byte> pk;
    std::vector<std::byte> row;
    bool has_row = false;
};

// One watcher's changes: bounded; past `capacity` it drops and counts what it drops until its
// reader has taken what it holds and heard how many it missed.
struct watch_queue {
    std::string table;
    std::size_t capacity = 0;
    std::uint64_t after = 0;  // delivers only changes with a larger sequence
    // A filter by one index value: whether a stored row (its bytes) has the key.
    bool filtered = false;
    std::vector<std::byte> key;
    bool (*row_has)(std::span<const std::byte> row, std::span<const std::byte> key) = nullptr;

    std::mutex mu;
    std::condition_variable cv;
    fifo<queued_change> items;
    std::uint64_t missed = 0;
    bool closed = false;

    // Whether the change concerns this watcher (its old or its new row has the key).
    bool wants(std::span<const std::byte> row, bool has_row, std::span<const std::byte> old, bool has_old) const {
        if (!filtered) return true;
        auto has = [&](std::span<const std::byte> r) {
            try {
                return row_has(r, key);
            } catch (const error&) {
                return false;  // a row that does not decode has no key
            }
        };
        return (has_row && has(row)) || (has_old && has(old));
    }

    void push(queued_change&& c) {
        {
            std::lock_guard lock(mu);
            if (missed > 0 || items.size() >= capacity) {
                ++missed;
                return;
            }
            items.push_back(std::move(c));
        }
        cv.notify_one();
    }

    // Changes lost before they reached the queue (the log was trimmed past them).
    void lost(std::uint64_t n) {
        {
            std::lock_guard lock(mu);
            missed += n;
        }
        cv.notify_one();
    }

    void close() {
        {
            std::lock_guard lock(mu);
            closed = true;
        }
        cv.notify_all();
    }
};

inline long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val, const ::timespec* timeout) noexcept {
    return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, val, timeout, nullptr, 0);
}

// The log holds one LMDB entry per commit: key = the commit's first sequence (8 bytes,
// big-endian), value = the number of changes (u32 little-endian), then per change: kind (u8),
// table name length (u16), table name, primary key length (u16), primary key. One put per
// commit, whatever its size, keeps the log's cost per row to a few bytes copied.
struct log_entry_view {
    std::uint64_t sequence = 0;
    change_kind kind = change_kind::insert;
    std::string_view table;
    std::span<const std::byte> pk;
};

inline std::uint64_t sequence_of(const MDB_val& k) noexcept {
    const auto* kb = static_cast<const unsigned char*>(k.mv_data);
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < 8 && i < k.mv_size; ++i) s = s << 8 | kb[i];
    return s;
}

inline void sequence_key(std::uint64_t s, unsigned char (&out)[8]) noexcept {
    for (int i = 7; i >= 0; --i, s >>= 8) out[i] = static_cast<unsigned char>(s);
}

// One commit's changes in the log, read in place.
class log_block {
public:
    log_block() = default;
    // false if the entry is not a block (its key or value malformed)
    bool open(const MDB_val& k, const MDB_val& v) noexcept {
        if (k.mv_size != 8 || v.mv_size < 4) return false;
        first_ = sequence_of(k);
        p_ = static_cast<const std::byte*>(v.mv_data);
        end_ = p_ + v.mv_size;
        count_ = load_le<std::uint32_t>(p_);
        p_ += 4;
        index_ = 0;
        return true;
    }
    std::uint64_t first() const noexcept { return first_; }
    std::uint64_t last() const noexcept { return first_ + count_ - 1; }
    // The next change; false at the block's end. Throws corrupt_value on a malformed block.
    bool next(log_entry_view& e) {
        if (index_ == count_) return false;
        auto take = [&](std::size_t n) {
            if (static_cast<std::size_t>(end_ - p_) < n) throw error(errc::corrupt_value, "an entry of the change log is cut short");
            const std::byte* at = p_;
            p_ += n;
            return at;
        };
        auto kind = static_cast<std::uint8_t>(*take(1));
        if (kind < 1 || kind > 3) throw error(errc::corrupt_value, "an entry of the change log has an unknown kind");
        std::size_t tn = load_le<std::uint16_t>(take(2));
        const std::byte* t = take(tn);
        std::size_t pn = load_le<std::uint16_t>(take(2));
        const std::byte* k = take(pn);
        e.sequence = first_ + index_++;
        e.kind = static_cast<change_kind>(kind);
        e.table = std::string_view(reinterpret_cast<const char*>(t), tn);
        e.pk = std::span<const std::byte>(k, pn);
        return true;
    }

private:
    std::uint64_t first_ = 0;
    std::uint32_t count_ = 0, index_ = 0;
    const std::byte* p_ = nullptr;
    const std::byte* end_ = nullptr;
};

// Puts c on the block holding sequence s (or the first block after it); false if none.
inline bool seek_log(cursor& c, std::uint64_t s, MDB_val& k, MDB_val& v) {
    unsigned char key[8];
    sequence_key(s, key);
    k = MDB_val{8, key};
    bool found = c.move(k, v, MDB_SET_RANGE);
    if (found && sequence_of(k) == s) return true;
    MDB_val pk, pv;
    log_block b;
    if (found ? c.move(pk, pv, MDB_PREV) : c.move(pk, pv, MDB_LAST)) {
        if (b.open(pk, pv) && b.last() >= s) {
            k = pk;
            v = pv;
            return true;
        }
        if (found) return c.move(k, v, MDB_NEXT);
    }
    return found;
}

// What the log shares between processes (the file changes.lock): a futex word bumped by every
// commit, and the last sequence given out with the LMDB transaction that gave it, so that the
// next writer need not look it up (it checks that no commit came between).
struct shared_log {
    std::atomic<std::uint32_t> commits;
    std::atomic<std::uint32_t> waiters;  // followers in FUTEX_WAIT: a commit with none makes no syscall
    std::atomic<std::uint64_t> txnid;
    std::atomic<std::uint64_t> last;
};

// The sequence up to which the log was trimmed (its entries up to it are not listed).
inline std::uint64_t log_trimmed(MDB_txn* txn, MDB_dbi meta) {
    MDB_val mk{log_trimmed_key.size(), const_cast<char*>(log_trimmed_key.data())}, mv;
    int rc = mdb::get(txn, meta, &mk, &mv);
    if (rc == 0 && mv.mv_size == 8) return load_le<std::uint64_t>(static_cast<const std::byte*>(mv.mv_data));
    if (rc != 0 && rc != MDB_NOTFOUND) throw_lmdb(rc, "mdb_get failed: cannot read the change log's metadata");
    return 0;
}

// The last sequence the log has given out, as of txn: its last block's, or what was trimmed.
inline std::uint64_t log_last(MDB_txn* txn, MDB_dbi log, MDB_dbi meta) {
    cursor c(txn, log);
    MDB_val k, v;
    log_block b;
    if (c.move(k, v, MDB_LAST) && b.open(k, v)) return b.last();
    return log_trimmed(txn, meta);
}

// Appends the batch to the log in txn as one block, numbered after the log's last sequence.
inline void append_to_log(MDB_txn* txn, MDB_dbi log, MDB_dbi meta, change_batch& b, shared_log* shared = nullptr) {
    const std::uint64_t id = ::mdb_txn_id(txn);
    std::uint64_t last;
    if (shared && shared->txnid.load() + 1 == id)  // the previous commit left it, and none came since
        last = shared->last.load();
    else
        last = log_last(txn, log, meta);
    b.first = last + 1;
    std::vector<std::byte>& value = b.block;
    std::size_t size = 4;
    for (const auto& r : b.records) size += 5 + std::min<std::size_t>(r.table->size(), 0xffff) + r.pk_len;
    value.resize(size);  // sized once, then filled
    store_le<std::uint32_t>(value.data(), static_cast<std::uint32_t>(b.records.size()));
    std::byte* p = value.data() + 4;
    for (const auto& r : b.records) {
        std::size_t tn = std::min<std::size_t>(r.table->size(), 0xffff);
        *p++ = std::byte{static_cast<std::uint8_t>(r.kind)};
        store_le<std::uint16_t>(p, static_cast<std::uint16_t>(tn));
        std::memcpy(p + 2, r.table->data(), tn);
        p += 2 + tn;
        store_le<std::uint16_t>(p, static_cast<std::uint16_t>(r.pk_len));
        if (r.pk_len) std::memcpy(p + 2, b.bytes.data() + r.pk_off, r.pk_len);
        p += 2 + r.pk_len;
    }
    unsigned char key[8];
    sequence_key(b.first, key);
    MDB_val k{8, key}, v{value.size(), value.data()};
    if (int rc = mdb::put(txn, log, &k, &v, MDB_APPEND))
        throw_lmdb(rc, "mdb_put failed: cannot append to the change log", *b.records.front().table);
    b.txnid = id;
}

// Per environment: the queues of this process's watchers, the writer's batch, and (with the
// change log) the shared commit counter and the follower thread.
class watch_hub {
public:
    explicit watch_hub(environment& env) : env_(env) {}
    watch_hub(const watch_hub&) = delete;
    watch_hub& operator=(const watch_hub&) = delete;
    ~watch_hub() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        if (follower_.joinable()) {
            wake_follower_ = true;
            if (shared_ && !ro_shared_) shared_->commits.fetch_add(1);  // so that its wait returns at once
            if (shared_) futex(&shared_->commits, FUTEX_WAKE, INT_MAX, nullptr);
            follower_.join();
        }
        for (auto& w : queues_)
            if (auto q = w.lock()) q->close();
        if (shared_) ::munmap(static_cast<void*>(shared_), sizeof(shared_log));
    }

    static watch_hub& of(environment& env) {
        return *static_cast<watch_hub*>(env.watch_state_or([&] { return std::make_shared<watch_hub>(env); }));
    }
    static watch_hub* find(environment& env) noexcept { return static_cast<watch_hub*>(env.watch_state()); }

    // The change log: its database, and the shared counter that wakes other processes.
    void use_log(MDB_dbi log, MDB_dbi meta, const dir_path& dir, bool read_only, unsigned mode) {
        std::lock_guard lock(mu_);
        log_ = log;
        meta_ = meta;
        has_log_ = true;
        if (!shared_) {
            bool writable = false;
            shared_ = static_cast<shared_log*>(
                map_shared_file(dir / "changes.lock", sizeof(shared_log), read_only, mode, writable));
            if (shared_ && !writable) {  // a read-only mapping: watch, never write
                ro_shared_ = true;
            }
        }
        env_.capture.store(true);
    }
    bool has_log() const noexcept { return has_log_.load(); }
    MDB_dbi log_dbi() const noexcept { return log_; }
    MDB_dbi meta_dbi() const noexcept { return meta_; }

    // A table this process can look rows up in (the follower's rows for other processes' changes).
    void know_table(const std::string& name, MDB_dbi dbi) {
        std::lock_guard lock(mu_);
        tables_[name] = dbi;
    }

    // Starts delivering to q the changes committed from now on.
    void add(const std::shared_ptr<watch_queue>& q) {
        std::uint64_t last = 0;
        const bool log = has_log_.load();
        if (log) {  // the log's position now: a snapshot after every commit so far
            cursor_cache cursors;
            MDB_txn* t = env_.begin_read(cursors);
            try {
                last = log_last(t, log_, meta_);
            } catch (...) {
                env_.end_read(t, cursors);
                throw;
            }
            env_.end_read(t, cursors);
        }
        std::lock_guard lock(mu_);
        if (log) {
            if (!follower_.joinable()) {
                published_ = last;
                follower_ = std::thread([this] { follow(); });
            }
            q->after = last > published_ ? last : published_;
        } else {
            q->after = next_seq_ - 1;
        }
        queues_.push_back(q);
        if (q->filtered) ++filtered_;
        ++live_;
        env_.capture.store(true);
    }

    void remove(const watch_queue* q) noexcept {
        std::lock_guard lock(mu_);
        for (std::size_t i = 0; i < queues_.size(); ++i) {
            auto p = queues_[i].lock();
            if (!p || p.get() == q) {
                if (p && p->filtered) --filtered_;
                if (p) --live_;
                queues_.erase(queues_.begin() + static_cast<std::ptrdiff_t>(i));
                --i;
            }
        }
        if (live_ == 0 && !has_log_) env_.capture.store(false);
    }

    // A write transaction begins recording into the batch.
    change_batch* begin_batch() {
        std::lock_guard lock(mu_);
        batch_.clear();
        batch_.want_old = filtered_ > 0;
        batch_.want_rows = live_ > 0;
        batch_.log = has_log_;
        return &batch_;
    }

    // Before the commit, in its transaction: the batch's sequences and log entries.
    void write_log(MDB_txn* txn, change_batch& b) {
        if (b.log && !b.records.empty()) append_to_log(txn, log_, meta_, b, shared_);
    }

    // After the commit: this process's watchers get the batch (numbered now, without the log),
    // and other processes hear of it.
    void committed(change_batch& b) {
        if (b.records.empty()) return;
        {
            std::lock_guard lock(mu_);
            if (!b.log) {
                b.first = next_seq_;
                next_seq_ += b.records.size();
                deliver(b);
            } else if (published_ + 1 == b.first) {  // nothing of another process is ahead of it
                deliver(b);
                published_ = b.first + b.records.size() - 1;
            }
        }
        if (b.log && shared_ && !ro_shared_) {
            shared_->last.store(b.first + b.records.size() - 1);
            shared_->txnid.store(b.txnid);
            shared_->commits.fetch_add(1);
            // seq_cst against the follower's waiters-then-FUTEX_WAIT: it is counted, or it sees the bump
            if (shared_->waiters.load()) futex(&shared_->commits, FUTEX_WAKE, INT_MAX, nullptr);
        }
        b.clear();
    }

private:
    // Under mu_.
    void deliver(const change_batch& b) {
        std::uint64_t s = b.first;
        for (const auto& r : b.records) {
            auto pk = b.at(r.pk_off, r.pk_len), row = b.at(r.row_off, r.row_len), old = b.at(r.old_off, r.old_len);
            for (auto& w : queues_) {
                auto q = w.lock();
                if (!q || q->table != *r.table || s <= q->after || !q->wants(row, r.has_row, old, r.has_old)) continue;
                queued_change c;
                c.sequence = s;
                c.kind = r.kind;
                c.pk.assign(pk.begin(), pk.end());
                c.has_row = r.has_row;
                if (r.has_row) c.row.assign(row.begin(), row.end());
                q->push(std::move(c));
            }
            ++s;
        }
    }

    // The follower: wakes on the shared counter (or once a second, for a writer killed between
    // its commit and its wake-up call), reads the log after what this process delivered, and
    // delivers the rest with the rows as its snapshot has them.
    void follow() {
        for (;;) {
            std::uint32_t seen = shared_ ? shared_->commits.load() : 0;
            {
                std::lock_guard lock(mu_);
                if (stop_) return;
            }
            try {
                catch_up();
            } catch (const error&) {
                // a failed read (map resized under it, readers full): the next round retries
            }
            ::timespec second{1, 0};
            if (shared_ && !wake_follower_.load()) {
                shared_->waiters.fetch_add(1);
                futex(&shared_->commits, FUTEX_WAIT, seen, &second);
                shared_->waiters.fetch_sub(1);  // (a process killed here leaves it high: wakes it need not)
            }
            else if (!shared_)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

    struct followed {
        std::uint64_t sequence;
        change_kind kind;
        std::string table;
        std::vector<std::byte> pk, row;
        bool has_row;
    };

    void catch_up() {
        std::uint64_t from;
        flat_map<std::string, MDB_dbi> tables;
        {
            std::lock_guard lock(mu_);
            from = published_;
            tables = tables_;
        }
        std::vector<followed> got;
        {
            cursor_cache cursors;
            MDB_txn* t = env_.begin_read(cursors);
            try {
                cursor c(t, log_);
                MDB_val k, v;
                log_block blk;
                log_entry_view e;
                for (bool ok = seek_log(c, from + 1, k, v); ok; ok = c.move(k, v, MDB_NEXT)) {
                    if (!blk.open(k, v)) continue;
                    while (blk.next(e)) {
                        if (e.sequence <= from) continue;
                        followed f{e.sequence, e.kind, std::string(e.table), {e.pk.begin(), e.pk.end()}, {}, false};
                        auto it = tables.find(f.table);
                        if (it != tables.end() && e.kind != change_kind::remove) {
                            MDB_val pk{e.pk.size(), const_cast<std::byte*>(e.pk.data())}, row;
                            if (mdb::get(t, it->second, &pk, &row) == 0) {
                                auto r = to_span(row);
                                f.row.assign(r.begin(), r.end());
                                f.has_row = true;
                            }
                        }
                        got.push_back(std::move(f));
                    }
                }
            } catch (...) {
                env_.end_read(t, cursors);
                throw;
            }
            env_.end_read(t, cursors);
        }
        std::lock_guard lock(mu_);
        for (auto& f : got) {
            if (f.sequence <= published_) continue;  // this process delivered it first
            if (f.sequence > published_ + 1)  // trimmed before this process read them
                for (auto& w : queues_)
                    if (auto q = w.lock(); q && q->after < f.sequence - 1)
                        q->lost(f.sequence - 1 - (q->after > published_ ? q->after : published_));
            for (auto& w : queues_) {
                auto q = w.lock();
                if (!q || q->table != f.table || f.sequence <= q->after) continue;
                if (!q->wants(f.row, f.has_row, {}, false) && !(q->filtered && f.kind == change_kind::remove)) continue;
                queued_change c{f.sequence, f.kind, f.pk, f.row, f.has_row};
                q->push(std::move(c));
            }
            published_ = f.sequence;
        }
    }

    environment& env_;
    std::mutex mu_;
    std::vector<std::weak_ptr<watch_queue>> queues_;
    std::size_t live_ = 0, filtered_ = 0;
    std::uint64_t next_seq_ = 1;    // without the log: this process's numbering
    std::uint64_t published_ = 0;   // with it: the last sequence delivered here
    change_batch batch_;
    std::atomic<bool> has_log_{false};
    MDB_dbi log_ = 0, meta_ = 0;
    shared_log* shared_ = nullptr;
    flat_map<std::string, MDB_dbi> tables_;
    bool ro_shared_ = false;  // mapped read-only: this process cannot write the store anyway
    std::thread follower_;
    bool stop_ = false;
    std::atomic<bool> wake_follower_{false};
};

}  // namespace detail
}  // namespace netabase
