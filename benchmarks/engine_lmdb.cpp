// Raw LMDB through its C API, written by hand: the physical limit. It stores exactly what
// netabase stores (same database names and flags, big-endian u64 primary keys, big-endian
// u32 index keys in DUPSORT databases mapping to the primary key, and netabase's value
// encoding byte for byte), and keeps the indexes exact on every write, as netabase does.
// Where the C API allows a cheaper sequence for the same result (MDB_NOOVERWRITE returning
// the old row, MDB_CURRENT rewrites), it uses it: that is what "the limit" means.
#include "common.hpp"

#include "lmdb_codec.hpp"

#include <lmdb.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bench {
namespace {

using namespace raw;

class lmdb_engine final : public Engine {
public:
    lmdb_engine(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds)
        : dir_(dir), docs_(t == table::docs), nidx_(index_count(t)), ds_(ds) {
        std::filesystem::create_directories(dir);
        check(mdb_env_create(&env_), "env_create");
        check(mdb_env_set_mapsize(env_, std::size_t{16} << 30), "set_mapsize");
        check(mdb_env_set_maxdbs(env_, 8), "set_maxdbs");
        unsigned flags = MDB_NOTLS | (s == sync_mode::none ? MDB_NOSYNC : 0u);
        check(mdb_env_open(env_, dir.c_str(), flags, 0644), "env_open");
        MDB_txn* txn;
        check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
        std::string name = docs_ ? "docs" : "rows";
        check(mdb_dbi_open(txn, name.c_str(), MDB_CREATE, &main_), "dbi_open");
        for (int i = 0; i < nidx_; ++i)
            check(mdb_dbi_open(txn, (name + "/" + std::to_string(i + 1)).c_str(), MDB_CREATE | MDB_DUPSORT, &idx_[i]),
                  "dbi_open");
        if (const char* e = std::getenv("NETABASE_BENCH_CHANGE_LOG"); e && *e == '1') {
            // What netabase's options::change_log writes, by hand: one entry per commit in a log
            // database, the last sequence kept in memory (a hand-written program knows it).
            check(mdb_dbi_open(txn, "__netabase~changes", MDB_CREATE, &log_dbi_), "dbi_open");
            log_ = true;
            MDB_cursor* c;
            check(mdb_cursor_open(txn, log_dbi_, &c), "cursor_open");
            MDB_val k, v;
            if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0)  // the store was written before: go on after it
                log_seq_ = be64(ld<std::uint64_t>(static_cast<unsigned char*>(k.mv_data))) +
                           ld<std::uint32_t>(static_cast<unsigned char*>(v.mv_data)) - 1;
            mdb_cursor_close(c);
        }
        check(mdb_txn_commit(txn), "txn_commit");
        buf_.resize(1 << 16);
    }

    ~lmdb_engine() override {
        for (auto* c : rcur_)
            if (c) mdb_cursor_close(c);
        if (rtxn_) mdb_txn_abort(rtxn_);
        mdb_env_close(env_);
    }

    std::vector<std::filesystem::path> data_files() const override { return {dir_ / "data.mdb"}; }

    // ---- writes ----------------------------------------------------------------------------

    std::uint64_t load(std::span<const std::uint32_t> order) override {
        MDB_txn* t = begin_write();
        std::uint64_t last = 0;
        {  // as netabase: keys past the table's last key take the append path
            MDB_cursor* c;
            check(mdb_cursor_open(t, main_, &c), "cursor_open");
            MDB_val k, v;
            if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0) last = be64(ld<std::uint64_t>(static_cast<unsigned char*>(k.mv_data)));
            mdb_cursor_close(c);
        }
        for (std::uint32_t i : order) {
            std::uint64_t id = docs_ ? ds_.docs[i].id : ds_.rows[i].id;
            bool append = id > last;
            if (docs_)
                put_doc(t, ds_.docs[i], append);
            else
                put_row(t, ds_.rows[i], append);
            if (append) last = id;
        }
        commit(t);
        return order.size();
    }

    std::uint64_t insert_each(std::span<const Row> rows) override {
        for (const Row& r : rows) {
            MDB_txn* t = begin_write();
            put_row(t, r, false);
            commit(t);
        }
        return rows.size();
    }

    std::uint64_t insert_batches(std::span<const Row> rows, std::size_t per_txn) override {
        for (std::size_t at = 0; at < rows.size(); at += per_txn) {
            MDB_txn* t = begin_write();
            for (std::size_t i = at; i < std::min(rows.size(), at + per_txn); ++i) put_row(t, rows[i], false);
            commit(t);
        }
        return rows.size();
    }

    // Read the row through a cursor, patch the copy, write it back in place (MDB_CURRENT).
    std::uint64_t update_score(std::span<const std::uint64_t> keys) override {
        MDB_txn* t = begin_write();
        MDB_cursor* c;
        check(mdb_cursor_open(t, main_, &c), "cursor_open");
        std::uint64_t n = 0;
        for (auto key : keys) {
            std::uint64_t kb = be64(key);
            MDB_val k{8, &kb}, v;
            int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
            if (rc == MDB_NOTFOUND) continue;
            check(rc, "cursor_get");
            row_ref r;
            decode_row(v, r);
            std::memcpy(buf_.data(), v.mv_data, v.mv_size);
            double score = r.score + 1;
            std::memcpy(buf_.data() + 17, &score, 8);
            MDB_val nv{v.mv_size, buf_.data()};
            check(mdb_cursor_put(c, &k, &nv, MDB_CURRENT), "cursor_put");
            note(2, kb);
            ++n;
        }
        mdb_cursor_close(c);
        commit(t);
        return n;
    }

    std::uint64_t update_category(std::span<const std::uint64_t> keys) override {
        MDB_txn* t = begin_write();
        MDB_cursor* c;
        check(mdb_cursor_open(t, main_, &c), "cursor_open");
        std::uint64_t n = 0;
        for (auto key : keys) {
            std::uint64_t kb = be64(key);
            MDB_val k{8, &kb}, v;
            int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
            if (rc == MDB_NOTFOUND) continue;
            check(rc, "cursor_get");
            row_ref r;
            decode_row(v, r);
            std::uint32_t now = (r.category + 1) % 1000;
            std::memcpy(buf_.data(), v.mv_data, v.mv_size);
            std::memcpy(buf_.data() + 9, &now, 4);
            MDB_val nv{v.mv_size, buf_.data()};
            check(mdb_cursor_put(c, &k, &nv, MDB_CURRENT), "cursor_put");
            note(2, kb);
            if (nidx_ >= 1) {
                std::uint32_t was_k = be32(r.category), now_k = be32(now);
                MDB_val sk{4, &was_k}, pk{8, &kb};
                rc = mdb_del(t, idx_[0], &sk, &pk);
                if (rc != 0 && rc != MDB_NOTFOUND) fail(rc, "index del");
                sk = {4, &now_k};
                pk = {8, &kb};
                check(mdb_put(t, idx_[0], &sk, &pk, 0), "index put");
            }
            ++n;
        }
        mdb_cursor_close(c);
        commit(t);
        return n;
    }

    std::uint64_t remove(std::span<const std::uint64_t> keys) override {
        MDB_txn* t = begin_write();
        MDB_cursor* c;
        check(mdb_cursor_open(t, main_, &c), "cursor_open");
        std::uint64_t n = 0;
        for (auto key : keys) {
            std::uint64_t kb = be64(key);
            MDB_val k{8, &kb}, v;
            int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
            if (rc == MDB_NOTFOUND) continue;
            check(rc, "cursor_get");
            row_ref r;
            decode_row(v, r);
            del_entries(t, r.category, r.code, kb);
            check(mdb_cursor_del(c, 0), "cursor_del");
            note(3, kb);
            ++n;
        }
        mdb_cursor_close(c);
        commit(t);
        return n;
    }

    // ---- reads -----------------------------------------------------------------------------

    std::uint64_t get_view(std::span<const std::uint64_t> keys) override {
        MDB_txn* t = begin_read();
        std::uint64_t sum = 0;
        for (auto key : keys) {
            std::uint64_t kb = be64(key);
            MDB_val k{8, &kb}, v;
            int rc = mdb_get(t, main_, &k, &v);
            if (rc == MDB_NOTFOUND) continue;
            check(rc, "get");
            sum += view_sum(v);
        }
        end_read();
        return sum;
    }

    std::uint64_t get_owned(std::span<const std::uint64_t> keys) override {
        MDB_txn* t = begin_read();
        std::uint64_t sum = 0;
        for (auto key : keys) {
            std::uint64_t kb = be64(key);
            MDB_val k{8, &kb}, v;
            int rc = mdb_get(t, main_, &k, &v);
            if (rc == MDB_NOTFOUND) continue;
            check(rc, "get");
            sum += owned_sum(v);
        }
        end_read();
        return sum;
    }

    std::uint64_t get_view_txn_each(std::span<const std::uint64_t> keys) override {
        std::uint64_t sum = 0;
        for (auto key : keys) {
            MDB_txn* t = begin_read();
            std::uint64_t kb = be64(key);
            MDB_val k{8, &kb}, v;
            int rc = mdb_get(t, main_, &k, &v);
            if (rc == 0)
                sum += view_sum(v);
            else if (rc != MDB_NOTFOUND)
                fail(rc, "get");
            end_read();
        }
        return sum;
    }

    template <bool Owned>
    std::uint64_t ranges(std::span<const std::uint64_t> starts, std::uint64_t width) {
        begin_read();
        MDB_cursor* c = rcursor(0);
        std::uint64_t sum = 0;
        for (auto s : starts) {
            std::uint64_t lo = be64(s), hi = be64(s + width);
            MDB_val k{8, &lo}, v;
            int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
            while (rc == 0 && std::memcmp(k.mv_data, &hi, 8) < 0) {
                sum += Owned ? owned_sum(v) : view_sum(v);
                rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
            }
            if (rc != 0 && rc != MDB_NOTFOUND) fail(rc, "cursor_get");
        }
        end_read();
        return sum;
    }
    std::uint64_t range_view(std::span<const std::uint64_t> s, std::uint64_t w) override { return ranges<false>(s, w); }
    std::uint64_t range_owned(std::span<const std::uint64_t> s, std::uint64_t w) override { return ranges<true>(s, w); }

    template <bool Owned>
    std::uint64_t scan() {
        begin_read();
        MDB_cursor* c = rcursor(0);
        std::uint64_t sum = 0;
        MDB_val k, v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        while (rc == 0) {
            sum += Owned ? owned_sum(v) : view_sum(v);
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        if (rc != MDB_NOTFOUND) fail(rc, "cursor_get");
        end_read();
        return sum;
    }
    std::uint64_t scan_view() override { return scan<false>(); }
    std::uint64_t scan_owned() override { return scan<true>(); }

    std::uint64_t equal(int ix, std::span<const std::uint32_t> values) {
        MDB_txn* t = begin_read();
        MDB_cursor* c = rcursor(1 + ix);
        std::uint64_t sum = 0;
        for (auto value : values) {
            std::uint32_t sk = be32(value);
            MDB_val k{4, &sk}, pk;
            int rc = mdb_cursor_get(c, &k, &pk, MDB_SET);
            while (rc == 0) {
                MDB_val v;
                check(mdb_get(t, main_, &pk, &v), "row get");
                sum += view_sum(v);
                rc = mdb_cursor_get(c, &k, &pk, MDB_NEXT_DUP);
            }
            if (rc != MDB_NOTFOUND) fail(rc, "cursor_get");
        }
        end_read();
        return sum;
    }
    std::uint64_t by_code(std::span<const std::uint32_t> codes) override { return equal(1, codes); }
    std::uint64_t by_category(std::span<const std::uint32_t> cats) override { return equal(0, cats); }

    std::uint64_t count_category(std::span<const std::uint32_t> cats) override {
        begin_read();
        MDB_cursor* c = rcursor(1);
        std::uint64_t sum = 0;
        for (auto value : cats) {
            std::uint32_t sk = be32(value);
            MDB_val k{4, &sk}, pk;
            int rc = mdb_cursor_get(c, &k, &pk, MDB_SET);
            if (rc == MDB_NOTFOUND) continue;
            check(rc, "cursor_get");
            std::size_t n;
            check(mdb_cursor_count(c, &n), "cursor_count");
            sum += n;
        }
        end_read();
        return sum;
    }

    std::uint64_t size_each(std::size_t times) override {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < times; ++i) {
            MDB_txn* t = begin_read();
            MDB_stat st;
            check(mdb_stat(t, main_, &st), "stat");
            sum += st.ms_entries;
            end_read();
        }
        return sum;
    }

private:
    // One read transaction, reset between uses and renewed (no allocation), with its cursors.
    MDB_txn* begin_read() {
        if (!rtxn_) {
            check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &rtxn_), "txn_begin");
            check(mdb_cursor_open(rtxn_, main_, &rcur_[0]), "cursor_open");
            for (int i = 0; i < nidx_; ++i) check(mdb_cursor_open(rtxn_, idx_[i], &rcur_[1 + i]), "cursor_open");
            return rtxn_;
        }
        check(mdb_txn_renew(rtxn_), "txn_renew");
        stale_[0] = stale_[1] = stale_[2] = true;  // cursors are renewed when first used
        return rtxn_;
    }
    MDB_cursor* rcursor(int i) {
        if (stale_[i]) {
            check(mdb_cursor_renew(rtxn_, rcur_[i]), "cursor_renew");
            stale_[i] = false;
        }
        return rcur_[i];
    }
    void end_read() { mdb_txn_reset(rtxn_); }

    MDB_txn* begin_write() {
        MDB_txn* t;
        check(mdb_txn_begin(env_, nullptr, 0, &t), "txn_begin");
        return t;
    }

    // The change log's record of one change: kind, table name, primary key (netabase's layout).
    void note(unsigned char kind, const std::uint64_t& pk_be) {
        if (!log_) return;
        if (log_buf_.empty()) log_buf_.resize(4);
        const std::string_view table = docs_ ? "docs" : "rows";
        std::size_t at = log_buf_.size();
        log_buf_.resize(at + 5 + table.size() + 8);
        unsigned char* p = log_buf_.data() + at;
        *p++ = kind;
        std::uint16_t n = static_cast<std::uint16_t>(table.size()), k = 8;
        std::memcpy(p, &n, 2);
        std::memcpy(p + 2, table.data(), table.size());
        p += 2 + table.size();
        std::memcpy(p, &k, 2);
        std::memcpy(p + 2, &pk_be, 8);
        ++log_count_;
    }
    void commit(MDB_txn* t) {
        if (log_count_) {
            std::memcpy(log_buf_.data(), &log_count_, 4);
            std::uint64_t key = be64(log_seq_ + 1);
            MDB_val k{8, &key}, v{log_buf_.size(), log_buf_.data()};
            check(mdb_put(t, log_dbi_, &k, &v, MDB_APPEND), "log put");
            log_seq_ += log_count_;
            log_count_ = 0;
            log_buf_.clear();
        }
        check(mdb_txn_commit(t), "commit");
    }

    std::uint64_t view_sum(const MDB_val& v) const {
        if (docs_) {
            doc_ref d;
            decode_doc(v, d);
            return sum_of(d);
        }
        row_ref r;
        decode_row(v, r);
        return sum_of(r);
    }

    std::uint64_t owned_sum(const MDB_val& v) const {
        if (docs_) {
            doc_ref d;
            decode_doc(v, d);
            Doc o{d.id, d.category, d.code, d.score, std::string(d.title), {}, std::string(d.body)};
            o.tags.resize(d.tags.size());
            if (!o.tags.empty()) std::memcpy(o.tags.data(), d.tags.p, o.tags.size() * 4);
            return doc_sum(o.id, o.category, o.code, o.score, o.title, o.tags, o.body);
        }
        row_ref r;
        decode_row(v, r);
        Row o{r.id, r.category, r.code, r.score, std::string(r.name)};
        return row_sum(o.id, o.category, o.code, o.score, o.name);
    }

    MDB_val encode(const Row& r) {
        unsigned char* p = buf_.data();
        *p++ = 1;
        std::memcpy(p, &r.id, 8);
        std::memcpy(p + 8, &r.category, 4);
        std::memcpy(p + 12, &r.code, 4);
        std::memcpy(p + 16, &r.score, 8);
        p += 24;
        put_u32(p, static_cast<std::uint32_t>(r.name.size()));
        std::memcpy(p, r.name.data(), r.name.size());
        p += r.name.size();
        return {static_cast<std::size_t>(p - buf_.data()), buf_.data()};
    }

    MDB_val encode(const Doc& d) {
        unsigned char* p = buf_.data();
        *p++ = 1;
        std::memcpy(p, &d.id, 8);
        std::memcpy(p + 8, &d.category, 4);
        std::memcpy(p + 12, &d.code, 4);
        std::memcpy(p + 16, &d.score, 8);
        p += 24;
        put_u32(p, static_cast<std::uint32_t>(d.title.size()));
        std::memcpy(p, d.title.data(), d.title.size());
        p += d.title.size();
        put_u32(p, static_cast<std::uint32_t>(d.tags.size()));
        if (!d.tags.empty()) std::memcpy(p, d.tags.data(), d.tags.size() * 4);
        p += d.tags.size() * 4;
        put_u32(p, static_cast<std::uint32_t>(d.body.size()));
        std::memcpy(p, d.body.data(), d.body.size());
        p += d.body.size();
        return {static_cast<std::size_t>(p - buf_.data()), buf_.data()};
    }

    void put_entries(MDB_txn* t, std::uint32_t category, std::uint32_t code, std::uint64_t& pk_be) {
        std::uint32_t keys[2] = {be32(category), be32(code)};
        for (int i = 0; i < nidx_; ++i) {
            MDB_val sk{4, &keys[i]}, pk{8, &pk_be};
            check(mdb_put(t, idx_[i], &sk, &pk, 0), "index put");
        }
    }
    void del_entries(MDB_txn* t, std::uint32_t category, std::uint32_t code, std::uint64_t& pk_be) {
        std::uint32_t keys[2] = {be32(category), be32(code)};
        for (int i = 0; i < nidx_; ++i) {
            MDB_val sk{4, &keys[i]}, pk{8, &pk_be};
            int rc = mdb_del(t, idx_[i], &sk, &pk);
            if (rc != 0 && rc != MDB_NOTFOUND) fail(rc, "index del");
        }
    }

    // Insert or replace, indexes exact. MDB_NOOVERWRITE finds the old row, if any, in the
    // same descent as the insert: one B-tree search for a new key.
    template <class R>
    void put_generic(MDB_txn* t, const R& r, bool append) {
        std::uint64_t kb = be64(r.id);
        MDB_val k{8, &kb}, v = encode(r);
        if (nidx_ == 0 || append) {
            check(mdb_put(t, main_, &k, &v, append ? MDB_APPEND : 0u), "put");
            if (nidx_) put_entries(t, r.category, r.code, kb);
            note(1, kb);  // (an unindexed overwrite is logged as an insert: the raw code cannot tell)
            return;
        }
        MDB_val old = v;
        int rc = mdb_put(t, main_, &k, &old, MDB_NOOVERWRITE);
        if (rc == 0) {
            put_entries(t, r.category, r.code, kb);
            note(1, kb);
            return;
        }
        if (rc != MDB_KEYEXIST) fail(rc, "put");
        note(2, kb);
        // `old` is the stored row: move the index entries whose key changed.
        auto* p = static_cast<const unsigned char*>(old.mv_data);
        std::uint32_t was_cat = ld<std::uint32_t>(p + 9), was_code = ld<std::uint32_t>(p + 13);
        check(mdb_put(t, main_, &k, &v, 0), "put");
        std::uint32_t was[2] = {was_cat, was_code}, now[2] = {r.category, r.code};
        for (int i = 0; i < nidx_; ++i) {
            if (was[i] == now[i]) continue;
            std::uint32_t wk = be32(was[i]), nk = be32(now[i]);
            MDB_val sk{4, &wk}, pk{8, &kb};
            rc = mdb_del(t, idx_[i], &sk, &pk);
            if (rc != 0 && rc != MDB_NOTFOUND) fail(rc, "index del");
            sk = {4, &nk};
            pk = {8, &kb};
            check(mdb_put(t, idx_[i], &sk, &pk, 0), "index put");
        }
    }
    void put_row(MDB_txn* t, const Row& r, bool append) { put_generic(t, r, append); }
    void put_doc(MDB_txn* t, const Doc& d, bool append) { put_generic(t, d, append); }

    std::filesystem::path dir_;
    bool docs_;
    int nidx_;
    const Dataset& ds_;
    MDB_env* env_ = nullptr;
    MDB_dbi main_ = 0, idx_[2] = {0, 0};
    MDB_txn* rtxn_ = nullptr;
    MDB_cursor* rcur_[3] = {nullptr, nullptr, nullptr};
    bool stale_[3] = {false, false, false};
    std::vector<unsigned char> buf_;
    bool log_ = false;  // NETABASE_BENCH_CHANGE_LOG=1
    MDB_dbi log_dbi_ = 0;
    std::uint64_t log_seq_ = 0;
    std::uint32_t log_count_ = 0;
    std::vector<unsigned char> log_buf_;
};

}  // namespace

std::unique_ptr<Engine> make_lmdb(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds) {
    return std::make_unique<lmdb_engine>(dir, t, s, ds);
}

}  // namespace bench
