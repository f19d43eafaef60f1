// Shared by every engine of netabase_bench: the models, the generated data, the workload
// interface each engine implements, checksums, and the allocation counters.
#pragma once

#include "mix.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

// ---- Models ------------------------------------------------------------------------------
//
// Row: about 100 bytes stored (1 version byte + 8 + 4 + 4 + 8 + 4 + ~60). RowT<K> is the same
// struct declared with K secondary keys (0: none, 1: category, 2: category and code), so one
// program can load a table with 0, 1 or 2 indexes. Row is RowT<2>, the one the reads use.
template <int K>
struct RowT {
    std::uint64_t id;        // primary key
    std::uint32_t category;  // 1000 distinct values, indexed (non-unique)
    std::uint32_t code;      // random u32, near-unique, indexed (non-unique)
    double score;
    std::string name;  // 56..64 bytes
};
using Row = RowT<2>;

// Doc: the variable-length variant (title 8..120 bytes, body 20..600, 0..16 tags), indexed on
// category and code like Row.
struct Doc {
    std::uint64_t id;
    std::uint32_t category;
    std::uint32_t code;
    double score;
    std::string title;
    std::vector<std::uint32_t> tags;
    std::string body;
};

// ---- Data --------------------------------------------------------------------------------

struct Dataset {
    std::size_t n = 0;
    std::vector<Row> rows;             // ids 2, 4, ..., 2n: ascending
    std::vector<Row> extra;            // new rows (odd ids) for the insert workloads, random order
    std::vector<Doc> docs;             // same ids as rows
    std::vector<std::uint32_t> seq;    // 0..n-1
    std::vector<std::uint32_t> shuffled;  // a permutation of 0..n-1
    std::vector<std::uint64_t> uniform_hits, zipf_hits, misses;  // point-read keys
    std::vector<std::uint64_t> range_starts;                     // ranges of range_rows rows
    std::vector<std::uint32_t> code_lookups;                     // codes that exist
    std::vector<std::uint32_t> cat_small, cat_large;             // categories with ~10 and ~1000 rows
    double cat_small_rows = 0, cat_large_rows = 0;               // their average row counts
    std::vector<std::uint64_t> update_keys;                      // existing keys, random order
    std::vector<std::uint64_t> remove_keys;                      // half the keys, random order
    static constexpr std::size_t range_rows = 100;

    static const Dataset& get(std::size_t n);  // generated once per size, deterministic
};

// ---- Engines -----------------------------------------------------------------------------

enum class table { rows0, rows1, rows2, docs };
enum class sync_mode { none, durable };  // LMDB MDB_NOSYNC / SQLite synchronous=OFF; fsync per commit

inline int index_count(table t) { return t == table::rows0 ? 0 : t == table::rows1 ? 1 : 2; }

// Every workload returns a checksum of what it read or wrote; the runner checks that all
// engines agree, so they provably did the same work. Reads are one read transaction per call
// unless the name says otherwise; writes are one write transaction per call unless it says so.
class Engine {
public:
    virtual ~Engine() = default;

    // The files that hold the data (what file size counts and clones copy).
    virtual std::vector<std::filesystem::path> data_files() const = 0;
    // Flush anything a copy of data_files() would miss (SQLite: checkpoint the WAL).
    virtual void checkpoint() {}

    // writes
    virtual std::uint64_t load(std::span<const std::uint32_t> order) = 0;  // ds.rows/docs, one txn
    virtual std::uint64_t insert_each(std::span<const Row> rows) = 0;     // one txn per row
    virtual std::uint64_t insert_batches(std::span<const Row> rows, std::size_t per_txn) = 0;
    virtual std::uint64_t update_score(std::span<const std::uint64_t> keys) = 0;     // score += 1
    virtual std::uint64_t update_category(std::span<const std::uint64_t> keys) = 0;  // (c+1) % 1000
    virtual std::uint64_t remove(std::span<const std::uint64_t> keys) = 0;

    // reads
    virtual std::uint64_t get_view(std::span<const std::uint64_t> keys) = 0;
    virtual std::uint64_t get_owned(std::span<const std::uint64_t> keys) = 0;
    virtual std::uint64_t get_view_txn_each(std::span<const std::uint64_t> keys) = 0;  // a read txn per get
    virtual std::uint64_t range_view(std::span<const std::uint64_t> starts, std::uint64_t width) = 0;
    virtual std::uint64_t range_owned(std::span<const std::uint64_t> starts, std::uint64_t width) = 0;
    virtual std::uint64_t scan_view() = 0;
    virtual std::uint64_t scan_owned() = 0;
    virtual std::uint64_t by_code(std::span<const std::uint32_t> codes) = 0;     // rows, viewed
    virtual std::uint64_t by_category(std::span<const std::uint32_t> cats) = 0;  // rows, viewed
    virtual std::uint64_t count_category(std::span<const std::uint32_t> cats) = 0;
    virtual std::uint64_t size_each(std::size_t times) = 0;  // size() in a read txn each
};

enum class engine_kind { netabase, lmdb, sqlite, lmdbxx };

// Opens (creating) a store for `t` in `dir`. `ds` is the data the workloads index into.
std::unique_ptr<Engine> make_netabase(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds);
std::unique_ptr<Engine> make_lmdb(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds);
std::unique_ptr<Engine> make_sqlite(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds);
std::unique_ptr<Engine> make_lmdbxx(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds);
bool have_lmdbxx();

// ---- Checksums -----------------------------------------------------------------------------
// Order-independent (a sum of mixed values), so engines may return rows in any order.

inline std::uint64_t str_sum(std::string_view s) noexcept {
    return s.empty() ? 0 : s.size() * 131 + static_cast<unsigned char>(s.front()) * 7 +
                               static_cast<unsigned char>(s.back());
}

inline std::uint64_t row_sum(std::uint64_t id, std::uint32_t category, std::uint32_t code, double score,
                             std::string_view name) noexcept {
    std::uint64_t bits;
    std::memcpy(&bits, &score, 8);
    return mix(id ^ (std::uint64_t{category} << 32) ^ code ^ bits ^ (str_sum(name) << 17));
}

template <class Tags>
inline std::uint64_t doc_sum(std::uint64_t id, std::uint32_t category, std::uint32_t code, double score,
                             std::string_view title, const Tags& tags, std::string_view body) noexcept {
    std::uint64_t t = tags.size();
    for (std::uint32_t x : tags) t = t * 31 + x;
    return row_sum(id, category, code, score, title) ^ mix(t + str_sum(body) * 3);
}

// Little-endian u32s at any alignment (SQLite blobs, raw LMDB values), iterable like a vector.
struct le_u32_view {
    const unsigned char* p = nullptr;
    std::size_t n = 0;
    struct iterator {
        const unsigned char* p;
        std::uint32_t operator*() const noexcept {
            std::uint32_t v;
            std::memcpy(&v, p, 4);
            return v;
        }
        iterator& operator++() noexcept {
            p += 4;
            return *this;
        }
        bool operator!=(const iterator& o) const noexcept { return p != o.p; }
    };
    iterator begin() const noexcept { return {p}; }
    iterator end() const noexcept { return {p + 4 * n}; }
    std::size_t size() const noexcept { return n; }
};

// ---- Allocation counters (alloc_hook.cpp) --------------------------------------------------

struct alloc_counts {
    std::uint64_t news = 0;     // operator new calls
    std::uint64_t mallocs = 0;  // malloc/calloc/realloc calls, operator new's included
};
alloc_counts alloc_snapshot() noexcept;

}  // namespace bench
