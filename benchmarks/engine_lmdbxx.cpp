// lmdbxx (liblmdb++-dev), the thin C++11 wrapper over LMDB, used idiomatically: a
// lmdb::txn and lmdb::cursor object per call, get-then-put upserts. A reference point for
// "typical C++ over LMDB"; it covers the load and read workloads only.
#include "common.hpp"

#if __has_include(<lmdb++.h>) && !defined(NETABASE_BENCH_NO_LMDBXX)
#include "lmdb_codec.hpp"

#include <lmdb++.h>

namespace bench {
namespace {

using namespace raw;

class lmdbxx_engine final : public Engine {
public:
    lmdbxx_engine(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds)
        : dir_(dir), docs_(t == table::docs), nidx_(index_count(t)), ds_(ds), env_(lmdb::env::create()) {
        std::filesystem::create_directories(dir);
        env_.set_mapsize(std::size_t{16} << 30);
        env_.set_max_dbs(8);
        env_.open(dir.c_str(), MDB_NOTLS | (s == sync_mode::none ? MDB_NOSYNC : 0u), 0644);
        auto txn = lmdb::txn::begin(env_);
        std::string name = docs_ ? "docs" : "rows";
        main_ = lmdb::dbi::open(txn, name.c_str(), MDB_CREATE);
        for (int i = 0; i < nidx_; ++i)
            idx_[i] = lmdb::dbi::open(txn, (name + "/" + std::to_string(i + 1)).c_str(), MDB_CREATE | MDB_DUPSORT);
        txn.commit();
        buf_.resize(1 << 16);
    }

    std::vector<std::filesystem::path> data_files() const override { return {dir_ / "data.mdb"}; }

    std::uint64_t load(std::span<const std::uint32_t> order) override {
        auto txn = lmdb::txn::begin(env_);
        for (std::uint32_t i : order) {
            if (docs_)
                put(txn, ds_.docs[i]);
            else
                put(txn, ds_.rows[i]);
        }
        txn.commit();
        return order.size();
    }

    std::uint64_t get_view(std::span<const std::uint64_t> keys) override {
        auto txn = lmdb::txn::begin(env_, nullptr, MDB_RDONLY);
        std::uint64_t sum = 0;
        for (auto key : keys) {
            std::uint64_t kb = be64(key);
            lmdb::val k{&kb, 8}, v;
            if (main_.get(txn, k, v)) sum += view_sum(v);
        }
        return sum;
    }

    std::uint64_t get_owned(std::span<const std::uint64_t> keys) override {
        auto txn = lmdb::txn::begin(env_, nullptr, MDB_RDONLY);
        std::uint64_t sum = 0;
        for (auto key : keys) {
            std::uint64_t kb = be64(key);
            lmdb::val k{&kb, 8}, v;
            if (main_.get(txn, k, v)) sum += owned_sum(v);
        }
        return sum;
    }

    std::uint64_t get_view_txn_each(std::span<const std::uint64_t> keys) override {
        std::uint64_t sum = 0;
        for (auto key : keys) {
            auto txn = lmdb::txn::begin(env_, nullptr, MDB_RDONLY);
            std::uint64_t kb = be64(key);
            lmdb::val k{&kb, 8}, v;
            if (main_.get(txn, k, v)) sum += view_sum(v);
        }
        return sum;
    }

    std::uint64_t range_view(std::span<const std::uint64_t> starts, std::uint64_t width) override {
        auto txn = lmdb::txn::begin(env_, nullptr, MDB_RDONLY);
        auto cur = lmdb::cursor::open(txn, main_);
        std::uint64_t sum = 0;
        for (auto s : starts) {
            std::uint64_t lo = be64(s), hi = be64(s + width);
            lmdb::val k{&lo, 8}, v;
            bool ok = cur.get(k, v, MDB_SET_RANGE);
            while (ok && std::memcmp(k.data(), &hi, 8) < 0) {
                sum += view_sum(v);
                ok = cur.get(k, v, MDB_NEXT);
            }
        }
        return sum;
    }

    std::uint64_t scan_view() override {
        auto txn = lmdb::txn::begin(env_, nullptr, MDB_RDONLY);
        auto cur = lmdb::cursor::open(txn, main_);
        std::uint64_t sum = 0;
        lmdb::val k, v;
        for (bool ok = cur.get(k, v, MDB_FIRST); ok; ok = cur.get(k, v, MDB_NEXT)) sum += view_sum(v);
        return sum;
    }

    std::uint64_t by_category(std::span<const std::uint32_t> cats) override {
        auto txn = lmdb::txn::begin(env_, nullptr, MDB_RDONLY);
        auto cur = lmdb::cursor::open(txn, idx_[0]);
        std::uint64_t sum = 0;
        for (auto c : cats) {
            std::uint32_t sk = be32(c);
            lmdb::val k{&sk, 4}, pk;
            for (bool ok = cur.get(k, pk, MDB_SET); ok; ok = cur.get(k, pk, MDB_NEXT_DUP)) {
                lmdb::val v;
                if (!main_.get(txn, pk, v)) throw std::runtime_error("lmdbxx: dangling index entry");
                sum += view_sum(v);
            }
        }
        return sum;
    }

#define UNSUPPORTED(sig) \
    sig override { throw std::logic_error("lmdbxx: not measured"); }
    UNSUPPORTED(std::uint64_t insert_each(std::span<const Row>))
    UNSUPPORTED(std::uint64_t insert_batches(std::span<const Row>, std::size_t))
    UNSUPPORTED(std::uint64_t update_score(std::span<const std::uint64_t>))
    UNSUPPORTED(std::uint64_t update_category(std::span<const std::uint64_t>))
    UNSUPPORTED(std::uint64_t remove(std::span<const std::uint64_t>))
    UNSUPPORTED(std::uint64_t range_owned(std::span<const std::uint64_t>, std::uint64_t))
    UNSUPPORTED(std::uint64_t scan_owned())
    UNSUPPORTED(std::uint64_t by_code(std::span<const std::uint32_t>))
    UNSUPPORTED(std::uint64_t count_category(std::span<const std::uint32_t>))
    UNSUPPORTED(std::uint64_t size_each(std::size_t))
#undef UNSUPPORTED

private:
    std::uint64_t view_sum(const lmdb::val& v) const {
        MDB_val mv{v.size(), const_cast<char*>(v.data())};
        if (docs_) {
            doc_ref d;
            decode_doc(mv, d);
            return sum_of(d);
        }
        row_ref r;
        decode_row(mv, r);
        return sum_of(r);
    }
    std::uint64_t owned_sum(const lmdb::val& v) const {
        MDB_val mv{v.size(), const_cast<char*>(v.data())};
        if (docs_) {
            doc_ref d;
            decode_doc(mv, d);
            Doc o{d.id, d.category, d.code, d.score, std::string(d.title), {}, std::string(d.body)};
            o.tags.resize(d.tags.size());
            if (!o.tags.empty()) std::memcpy(o.tags.data(), d.tags.p, o.tags.size() * 4);
            return doc_sum(o.id, o.category, o.code, o.score, o.title, o.tags, o.body);
        }
        row_ref r;
        decode_row(mv, r);
        Row o{r.id, r.category, r.code, r.score, std::string(r.name)};
        return row_sum(o.id, o.category, o.code, o.score, o.name);
    }

    // The usual wrapper idiom: look the old row up, then write row and index entries.
    template <class R>
    void put(lmdb::txn& txn, const R& r) {
        std::uint64_t kb = be64(r.id);
        lmdb::val k{&kb, 8}, old;
        std::uint32_t was[2] = {}, now[2] = {r.category, r.code};
        bool exists = nidx_ > 0 && main_.get(txn, k, old);
        if (exists) {
            auto* p = reinterpret_cast<const unsigned char*>(old.data());
            was[0] = ld<std::uint32_t>(p + 9);
            was[1] = ld<std::uint32_t>(p + 13);
        }
        std::size_t n = encode(r);
        lmdb::val v{buf_.data(), n};
        main_.put(txn, k, v);
        for (int i = 0; i < nidx_; ++i) {
            if (exists && was[i] == now[i]) continue;
            lmdb::val pk{&kb, 8};
            if (exists) {
                std::uint32_t wk = be32(was[i]);
                lmdb::val sk{&wk, 4};
                lmdb::dbi_del(txn, idx_[i].handle(), sk, pk);  // the wrapper has no (key, value) delete
            }
            std::uint32_t nk = be32(now[i]);
            lmdb::val sk{&nk, 4};
            idx_[i].put(txn, sk, pk);
        }
    }

    std::size_t encode(const Row& r) {
        unsigned char* p = buf_.data();
        *p++ = 1;
        std::memcpy(p, &r.id, 8);
        std::memcpy(p + 8, &r.category, 4);
        std::memcpy(p + 12, &r.code, 4);
        std::memcpy(p + 16, &r.score, 8);
        p += 24;
        put_u32(p, static_cast<std::uint32_t>(r.name.size()));
        std::memcpy(p, r.name.data(), r.name.size());
        return static_cast<std::size_t>(p + r.name.size() - buf_.data());
    }
    std::size_t encode(const Doc& d) {
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
        return static_cast<std::size_t>(p + d.body.size() - buf_.data());
    }

    std::filesystem::path dir_;
    bool docs_;
    int nidx_;
    const Dataset& ds_;
    lmdb::env env_;
    lmdb::dbi main_{0}, idx_[2] = {lmdb::dbi{0}, lmdb::dbi{0}};
    std::vector<unsigned char> buf_;
};

}  // namespace

bool have_lmdbxx() { return true; }
std::unique_ptr<Engine> make_lmdbxx(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds) {
    return std::make_unique<lmdbxx_engine>(dir, t, s, ds);
}

}  // namespace bench

#else

#include <stdexcept>

namespace bench {
bool have_lmdbxx() { return false; }
std::unique_ptr<Engine> make_lmdbxx(const std::filesystem::path&, table, sync_mode, const Dataset&) {
    throw std::logic_error("netabase_bench was built without lmdbxx (<lmdb++.h>)");
}
}  // namespace bench

#endif
