// netabase_ycsb's RocksDB engine (Debian's librocksdb-dev 7.8.3), tuned for this data: no
// compression (the values are random bytes), a 1 GiB LRU block cache (the data fits, as it
// does in SQLite's page cache), a 10-bit Bloom filter, a write buffer that holds the whole
// load (one memtable, flushed at the end of the load, inside the timed part), statistics
// dumps off. Values are netabase's value bytes (ycsb.hpp's codec); keys are the plain string,
// or the u64 big-endian. WAL on; WriteOptions::sync false (the no-sync runs: written, not
// fsync'd, like MDB_NOSYNC) or true (durable). RocksDB has no transactions in a plain DB:
// an operation is one Get, one Put, one iterator, or (update and read-modify-write, as
// YCSB's own RocksDB binding does) a Get then a Put.
//
// Compiled to a stub when CMake did not find RocksDB (NETABASE_YCSB_NO_ROCKSDB).
#include "ycsb.hpp"

#ifndef NETABASE_YCSB_NO_ROCKSDB

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

namespace bench::ycsb {
namespace {

void check(const rocksdb::Status& s, const char* what) {
    if (!s.ok()) [[unlikely]]
        throw std::runtime_error(std::string("rocksdb: ") + what + ": " + s.ToString());
}

template <class R>
class rocksdb_engine final : public Engine {
    static constexpr bool str = std::is_same_v<R, UserRow>;

public:
    rocksdb_engine(const std::filesystem::path& dir, sync_mode m, const Data& d)
        : rows_(rows_of<R>(d)), values_(d.values) {
        rocksdb::Options o;
        o.create_if_missing = true;
        o.compression = rocksdb::kNoCompression;
        o.write_buffer_size = std::size_t{1} << 30;
        o.stats_dump_period_sec = 0;
        o.stats_persist_period_sec = 0;
        o.info_log_level = rocksdb::WARN_LEVEL;
        rocksdb::BlockBasedTableOptions t;
        t.block_cache = rocksdb::NewLRUCache(std::size_t{1} << 30);
        t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
        o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
        rocksdb::DB* db = nullptr;
        check(rocksdb::DB::Open(o, dir.string(), &db), "open");
        db_.reset(db);
        wo_.sync = m == sync_mode::durable;
        std::size_t most = 0;
        for (const R& r : rows_) most = std::max(most, codec::value_size(r));
        for (const auto& v : values_) most = std::max(most, v.size());
        buf_.resize(2 * most + 64);
    }

    std::uint64_t load(std::size_t n) override {
        rocksdb::WriteBatch batch;
        for (std::size_t i = 0; i < n; ++i) {
            std::size_t vn = codec::encode_value(rows_[i], buf_.data());
            check(batch.Put(key(rows_[i]), rocksdb::Slice(reinterpret_cast<const char*>(buf_.data()), vn)), "batch put");
        }
        check(db_->Write(wo_, &batch), "write");
        check(db_->Flush(rocksdb::FlushOptions()), "flush");
        return n;
    }

    std::uint64_t run(std::span<const op> ops, bool) override {
        std::uint64_t sum = 0;
        for (const op& o : ops) {
            const R& r = rows_[o.keynum];
            switch (o.kind) {
                case op_kind::read: {
                    rocksdb::PinnableSlice v;
                    get(r, o.keynum, v);
                    codec::row_ref<R> ref;
                    codec::parse(v.data(), v.size(), ref);
                    sum += sum_ref(ref);
                    break;
                }
                case op_kind::update: sum += write_field(o, false); break;
                case op_kind::rmw: sum += write_field(o, true); break;
                case op_kind::insert: {
                    std::size_t vn = codec::encode_value(r, buf_.data());
                    check(db_->Put(wo_, key(r), rocksdb::Slice(reinterpret_cast<const char*>(buf_.data()), vn)), "put");
                    ++sum;
                    break;
                }
                case op_kind::scan: {
                    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro_));
                    std::size_t left = o.len;
                    for (it->Seek(key(r)); it->Valid(); it->Next()) {
                        codec::row_ref<R> ref;
                        auto v = it->value();
                        codec::parse(v.data(), v.size(), ref);
                        sum += sum_ref(ref);
                        if (--left == 0) break;
                    }
                    check(it->status(), "scan");
                    break;
                }
            }
        }
        return sum;
    }

    std::uint64_t table_sum() override {
        std::uint64_t sum = 0;
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro_));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            codec::row_ref<R> ref;
            auto v = it->value();
            codec::parse(v.data(), v.size(), ref);
            sum += table_hash_ref(ref);
        }
        check(it->status(), "scan");
        return sum;
    }

    void settle() override {
        check(db_->Flush(rocksdb::FlushOptions()), "flush");
        check(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr), "compact");
    }

    // A checkpoint: hard links to the table files, copies of the rest. It wants `to` not to exist.
    void copy_to(const std::filesystem::path& to) override {
        std::filesystem::remove(to);
        rocksdb::Checkpoint* cp = nullptr;
        check(rocksdb::Checkpoint::Create(db_.get(), &cp), "checkpoint");
        std::unique_ptr<rocksdb::Checkpoint> own(cp);
        check(cp->CreateCheckpoint(to.string()), "checkpoint");
    }

private:
    rocksdb::Slice key(const R& r) {
        if constexpr (str) {
            return rocksdb::Slice(r.key);
        } else {
            std::uint64_t be = __builtin_bswap64(r.key);
            std::memcpy(kbuf_, &be, 8);
            return rocksdb::Slice(kbuf_, 8);
        }
    }

    void get(const R& r, std::uint32_t keynum, rocksdb::PinnableSlice& v) {
        rocksdb::Status s = db_->Get(ro_, db_->DefaultColumnFamily(), key(r), &v);
        if (s.IsNotFound()) missing(keynum);
        check(s, "get");
    }

    std::uint64_t write_field(const op& o, bool read) {
        const R& r = rows_[o.keynum];
        std::uint64_t s = 1;
        std::size_t vn;
        {
            rocksdb::PinnableSlice v;
            get(r, o.keynum, v);
            codec::row_ref<R> ref;
            codec::parse(v.data(), v.size(), ref);
            if (read) s += sum_ref(ref);
            vn = codec::with_field(v.data(), v.size(), ref, o.field, values_[o.value], buf_.data());
        }
        check(db_->Put(wo_, key(r), rocksdb::Slice(reinterpret_cast<const char*>(buf_.data()), vn)), "put");
        return s;
    }

    const std::vector<R>& rows_;
    const std::vector<std::string>& values_;
    std::unique_ptr<rocksdb::DB> db_;
    rocksdb::ReadOptions ro_;
    rocksdb::WriteOptions wo_;
    std::vector<unsigned char> buf_;
    char kbuf_[8];
};

}  // namespace

bool have_rocksdb() { return true; }

std::unique_ptr<Engine> make_rocksdb(shape s, const std::filesystem::path& dir, sync_mode m, const Data& d) {
    if (s == shape::str10) return std::make_unique<rocksdb_engine<UserRow>>(dir, m, d);
    return std::make_unique<rocksdb_engine<UserInt>>(dir, m, d);
}

}  // namespace bench::ycsb

#else

namespace bench::ycsb {

bool have_rocksdb() { return false; }

std::unique_ptr<Engine> make_rocksdb(shape, const std::filesystem::path&, sync_mode, const Data&) {
    throw std::runtime_error("netabase_ycsb was built without RocksDB (install librocksdb-dev and reconfigure)");
}

}  // namespace bench::ycsb

#endif
