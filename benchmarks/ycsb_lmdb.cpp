// netabase_ycsb's raw LMDB engines, written by hand on the C API. Both store exactly what
// netabase stores (one database "usertable", netabase's key and value bytes; the runner
// compares the files' entries byte for byte after the load).
//
// The limit ("lmdb"): the cheapest sequence the C API allows for the same result. One read
// transaction handle, reset and renewed per operation (no allocation), its scan cursor renewed;
// point reads with mdb_get; updates and read-modify-writes found once by a cursor and written
// back in place (MDB_CURRENT); the load sorted by key in memory, then appended (MDB_APPEND).
//
// The naive version ("lmdb-naive"): what a first program on LMDB does. mdb_txn_begin and
// mdb_txn_abort per read, a cursor opened per scan, updates as mdb_get then mdb_put (two
// descents), the load in arrival order with plain mdb_put.
#include "ycsb.hpp"

#include <lmdb.h>

#include <algorithm>
#include <numeric>

namespace bench::ycsb {
namespace {

[[noreturn]] void fail(int rc, const char* what) {
    throw std::runtime_error(std::string("lmdb: ") + what + ": " + mdb_strerror(rc));
}
inline void check(int rc, const char* what) {
    if (rc != 0) [[unlikely]]
        fail(rc, what);
}

template <class R>
class lmdb_engine final : public Engine {
public:
    lmdb_engine(const std::filesystem::path& dir, sync_mode m, const Data& d, bool naive)
        : dir_(dir), naive_(naive), rows_(rows_of<R>(d)), values_(d.values) {
        check(mdb_env_create(&env_), "env_create");
        check(mdb_env_set_mapsize(env_, std::size_t{16} << 30), "set_mapsize");
        check(mdb_env_set_maxdbs(env_, 4), "set_maxdbs");
        check(mdb_env_open(env_, dir.c_str(), MDB_NOTLS | (m == sync_mode::none ? MDB_NOSYNC : 0u), 0644),
              "env_open");
        MDB_txn* t;
        check(mdb_txn_begin(env_, nullptr, 0, &t), "txn_begin");
        check(mdb_dbi_open(t, "usertable", MDB_CREATE, &dbi_), "dbi_open");
        check(mdb_txn_commit(t), "commit");
        std::size_t most = 0;
        for (const R& r : rows_) most = std::max(most, codec::value_size(r));
        for (const auto& v : values_) most = std::max(most, v.size());
        buf_.resize(2 * most + 64);
        kbuf_.resize(1024);
    }

    ~lmdb_engine() override {
        if (rcur_) mdb_cursor_close(rcur_);
        if (rtxn_) mdb_txn_abort(rtxn_);
        mdb_env_close(env_);
    }

    std::uint64_t load(std::size_t n) override {
        MDB_txn* t = begin_write();
        if (naive_) {
            for (std::size_t i = 0; i < n; ++i) put(t, rows_[i], 0);
        } else {
            std::vector<std::uint32_t> order(n);
            std::iota(order.begin(), order.end(), 0u);
            // netabase's key encodings preserve order, so sorting the model keys sorts the
            // encoded ones. Stable: of two rows with one key, the later one wins, as in arrival order.
            std::stable_sort(order.begin(), order.end(),
                             [&](std::uint32_t a, std::uint32_t b) { return rows_[a].key < rows_[b].key; });
            for (std::size_t i = 0; i < n; ++i) {
                bool repeat = i > 0 && rows_[order[i]].key == rows_[order[i - 1]].key;
                put(t, rows_[order[i]], repeat ? 0u : MDB_APPEND);
            }
        }
        check(mdb_txn_commit(t), "commit");
        return n;
    }

    std::uint64_t run(std::span<const op> ops, bool owned) override {
        if (naive_) return owned ? run_ops<true, true>(ops) : run_ops<true, false>(ops);
        return owned ? run_ops<false, true>(ops) : run_ops<false, false>(ops);
    }

    std::uint64_t table_sum() override {
        std::uint64_t sum = 0;
        walk([&](const MDB_val&, const MDB_val& v) {
            codec::row_ref<R> r;
            codec::parse(v.mv_data, v.mv_size, r);
            sum += table_hash_ref(r);
        });
        return sum;
    }

    std::optional<std::uint64_t> lmdb_bytes() override {
        std::uint64_t h = 0, n = 0;
        walk([&](const MDB_val& k, const MDB_val& v) {
            h = bytes_hash(h, k.mv_data, k.mv_size);
            h = bytes_hash(h, v.mv_data, v.mv_size);
            ++n;
        });
        return h ^ mix(n);
    }

    void copy_to(const std::filesystem::path& to) override {
        std::filesystem::copy_file(dir_ / "data.mdb", to / "data.mdb");
    }

private:
    MDB_txn* begin_write() {
        MDB_txn* t;
        check(mdb_txn_begin(env_, nullptr, 0, &t), "txn_begin");
        return t;
    }

    void put(MDB_txn* t, const R& r, unsigned flags) {
        MDB_val k{codec::encode_key(r, kbuf_.data()), kbuf_.data()};
        MDB_val v{codec::encode_value(r, buf_.data()), buf_.data()};
        check(mdb_put(t, dbi_, &k, &v, flags), "put");
    }

    MDB_val key(std::uint32_t keynum) {
        return {codec::encode_key(rows_[keynum], kbuf_.data()), kbuf_.data()};
    }

    // The limit's read transaction: one handle, reset after each use and renewed.
    MDB_txn* begin_read() {
        if (!rtxn_) {
            check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &rtxn_), "txn_begin");
            check(mdb_cursor_open(rtxn_, dbi_, &rcur_), "cursor_open");
            cursor_fresh_ = true;
            return rtxn_;
        }
        check(mdb_txn_renew(rtxn_), "txn_renew");
        cursor_fresh_ = false;
        return rtxn_;
    }
    MDB_cursor* read_cursor() {
        if (!cursor_fresh_) {
            check(mdb_cursor_renew(rtxn_, rcur_), "cursor_renew");
            cursor_fresh_ = true;
        }
        return rcur_;
    }
    void end_read() { mdb_txn_reset(rtxn_); }

    template <class F>
    void walk(F&& f) {
        MDB_txn* t;
        check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t), "txn_begin");
        MDB_cursor* c;
        check(mdb_cursor_open(t, dbi_, &c), "cursor_open");
        MDB_val k, v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) f(k, v);
        mdb_cursor_close(c);
        mdb_txn_abort(t);
        if (rc != MDB_NOTFOUND) fail(rc, "cursor_get");
    }

    template <bool Owned>
    static std::uint64_t read_sum(const MDB_val& v) {
        codec::row_ref<R> r;
        codec::parse(v.mv_data, v.mv_size, r);
        if constexpr (Owned)
            return sum_owned(to_owned(r));
        else
            return sum_ref(r);
    }

    // An update or a read-modify-write: `read` adds the row's sum first.
    template <bool Naive, bool Owned>
    std::uint64_t write_field(const op& o, bool read) {
        MDB_txn* t = begin_write();
        MDB_val k = key(o.keynum), v;
        std::uint64_t s = 1;
        if constexpr (Naive) {
            int rc = mdb_get(t, dbi_, &k, &v);
            if (rc == MDB_NOTFOUND) missing(o.keynum);
            check(rc, "get");
            codec::row_ref<R> r;
            codec::parse(v.mv_data, v.mv_size, r);
            if (read) s += Owned ? sum_owned(to_owned(r)) : sum_ref(r);
            MDB_val nv{codec::with_field(v.mv_data, v.mv_size, r, o.field, values_[o.value], buf_.data()), buf_.data()};
            check(mdb_put(t, dbi_, &k, &nv, 0), "put");
        } else {
            MDB_cursor* c;
            check(mdb_cursor_open(t, dbi_, &c), "cursor_open");
            int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
            if (rc == MDB_NOTFOUND) missing(o.keynum);
            check(rc, "cursor_get");
            codec::row_ref<R> r;
            codec::parse(v.mv_data, v.mv_size, r);
            if (read) s += Owned ? sum_owned(to_owned(r)) : sum_ref(r);
            MDB_val nv{codec::with_field(v.mv_data, v.mv_size, r, o.field, values_[o.value], buf_.data()), buf_.data()};
            check(mdb_cursor_put(c, &k, &nv, MDB_CURRENT), "cursor_put");
            mdb_cursor_close(c);
        }
        check(mdb_txn_commit(t), "commit");
        return s;
    }

    template <bool Naive, bool Owned>
    std::uint64_t run_ops(std::span<const op> ops) {
        std::uint64_t sum = 0;
        for (const op& o : ops) {
            switch (o.kind) {
                case op_kind::read: {
                    MDB_txn* t;
                    if constexpr (Naive)
                        check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t), "txn_begin");
                    else
                        t = begin_read();
                    MDB_val k = key(o.keynum), v;
                    int rc = mdb_get(t, dbi_, &k, &v);
                    if (rc == MDB_NOTFOUND) missing(o.keynum);
                    check(rc, "get");
                    sum += read_sum<Owned>(v);
                    if constexpr (Naive)
                        mdb_txn_abort(t);
                    else
                        end_read();
                    break;
                }
                case op_kind::update: sum += write_field<Naive, Owned>(o, false); break;
                case op_kind::rmw: sum += write_field<Naive, Owned>(o, true); break;
                case op_kind::insert: {
                    MDB_txn* t = begin_write();
                    put(t, rows_[o.keynum], 0);
                    check(mdb_txn_commit(t), "commit");
                    ++sum;
                    break;
                }
                case op_kind::scan: {
                    MDB_txn* t = nullptr;
                    MDB_cursor* c;
                    if constexpr (Naive) {
                        check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t), "txn_begin");
                        check(mdb_cursor_open(t, dbi_, &c), "cursor_open");
                    } else {
                        begin_read();
                        c = read_cursor();
                    }
                    MDB_val k = key(o.keynum), v;
                    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
                    for (std::size_t left = o.len; rc == 0;) {
                        sum += read_sum<Owned>(v);
                        if (--left == 0) break;
                        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
                    }
                    if (rc != 0 && rc != MDB_NOTFOUND) fail(rc, "cursor_get");
                    if constexpr (Naive) {
                        mdb_cursor_close(c);
                        mdb_txn_abort(t);
                    } else {
                        end_read();
                    }
                    break;
                }
            }
        }
        return sum;
    }

    std::filesystem::path dir_;
    bool naive_;
    const std::vector<R>& rows_;
    const std::vector<std::string>& values_;
    MDB_env* env_ = nullptr;
    MDB_dbi dbi_ = 0;
    MDB_txn* rtxn_ = nullptr;
    MDB_cursor* rcur_ = nullptr;
    bool cursor_fresh_ = false;
    std::vector<unsigned char> buf_, kbuf_;
};

}  // namespace

std::unique_ptr<Engine> make_lmdb(shape s, const std::filesystem::path& dir, sync_mode m, const Data& d, bool naive) {
    if (s == shape::str10) return std::make_unique<lmdb_engine<UserRow>>(dir, m, d, naive);
    return std::make_unique<lmdb_engine<UserInt>>(dir, m, d, naive);
}

}  // namespace bench::ycsb
