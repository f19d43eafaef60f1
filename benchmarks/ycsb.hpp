// netabase_ycsb: the YCSB core workloads (load, A-F) over netabase, raw LMDB (the limit and a
// naive version), SQLite and RocksDB. Shared here: the two data shapes (models), the
// operations each workload is made of, netabase's value bytes written out by hand for the raw
// engines, checksums, and the interface each engine implements.
#pragma once

#include "mix.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bench::ycsb {

// ---- The two shapes --------------------------------------------------------------------------
//
// str10: YCSB's default record: a 25-byte string key ("user" + FNV hash of the key number,
// zero-padded to 21 digits) and 10 string fields of 100 bytes.
struct UserRow {
    std::string key;
    std::string field0, field1, field2, field3, field4, field5, field6, field7, field8, field9;
};
// int1: a u64 key (the same FNV hash) and one string field of 100 bytes.
struct UserInt {
    std::uint64_t key;
    std::string field0;
};

template <class R>
inline constexpr std::size_t field_count = std::is_same_v<R, UserRow> ? 10 : 1;

inline std::string& field(UserRow& r, std::size_t i) {
    static constexpr std::string UserRow::*f[10] = {&UserRow::field0, &UserRow::field1, &UserRow::field2,
                                                    &UserRow::field3, &UserRow::field4, &UserRow::field5,
                                                    &UserRow::field6, &UserRow::field7, &UserRow::field8,
                                                    &UserRow::field9};
    return r.*f[i];
}
inline const std::string& field(const UserRow& r, std::size_t i) { return field(const_cast<UserRow&>(r), i); }
inline std::string& field(UserInt& r, std::size_t) { return r.field0; }
inline const std::string& field(const UserInt& r, std::size_t) { return r.field0; }

enum class shape { str10, int1 };

// ---- Operations ------------------------------------------------------------------------------

enum class op_kind : std::uint8_t { read, update, insert, scan, rmw };

struct op {
    op_kind kind;
    std::uint8_t field;    // update, rmw: the field written
    std::uint16_t len;     // scan: records, 1..100
    std::uint32_t keynum;  // the record (insert: the new record, rows[keynum])
    std::uint32_t value;   // update, rmw: values[value] is the new field value
};

// Everything the engines read from; generated before any timing, the same for every engine.
struct Data {
    shape sh = shape::str10;
    std::size_t records = 0;        // loaded: keynums 0..records-1, in that order (hashed keys)
    std::vector<UserRow> str_rows;  // by keynum, records + the largest number of inserts
    std::vector<UserInt> int_rows;
    std::vector<std::string> values;  // new field values for updates
};

template <class R>
const std::vector<R>& rows_of(const Data& d) {
    if constexpr (std::is_same_v<R, UserRow>)
        return d.str_rows;
    else
        return d.int_rows;
}

// ---- Checksums -------------------------------------------------------------------------------

// The per-read checksum helpers are always inlined, so that they compile to the same code in
// every engine's translation unit (g++ otherwise inlined tag() in some and not in others: 11
// calls per str10 row); mix() (mix.hpp) is too.
#define YCSB_INLINE [[gnu::always_inline]] inline

// What an operation "reads" of a field: its size and its first and last 8 bytes (two loads).
// Cheap on purpose, so that it is not most of a read; the table checksums below cover every
// byte.
YCSB_INLINE std::uint64_t tag(std::string_view s) noexcept {
    std::uint64_t a = 0, b = 0;
    if (s.size() >= 8) {
        std::memcpy(&a, s.data(), 8);
        std::memcpy(&b, s.data() + s.size() - 8, 8);
    } else if (!s.empty()) {
        std::memcpy(&a, s.data(), s.size());
    }
    return (a * 0x9e3779b97f4a7c15ULL) ^ (b + s.size());
}
YCSB_INLINE std::uint64_t tag(std::uint64_t k) noexcept { return k * 0x9e3779b97f4a7c15ULL; }

// One record read: the key and every field, in order. Order-independent across records.
struct record_sum {
    std::uint64_t acc = 0;
    std::size_t i = 0;
    template <class K>
    YCSB_INLINE void key(const K& k) noexcept {
        acc = tag(k);
        i = 0;
    }
    YCSB_INLINE void add(std::string_view f) noexcept { acc += tag(f) * (2 * ++i + 1); }
    YCSB_INLINE std::uint64_t done() const noexcept { return mix(acc); }
};

// Every byte, 8 at a time: the table checksums (untimed) that prove two engines hold the same data.
inline std::uint64_t bytes_hash(std::uint64_t h, const void* data, std::size_t n) noexcept {
    auto* p = static_cast<const unsigned char*>(data);
    h ^= n * 0x100000001b3ULL;
    for (; n >= 8; n -= 8, p += 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    std::uint64_t w = 0;
    if (n) std::memcpy(&w, p, n);
    return mix(h ^ w);
}
inline std::uint64_t bytes_hash(std::uint64_t h, std::string_view s) noexcept { return bytes_hash(h, s.data(), s.size()); }

// The checksum of one stored record for the table sums: key and every field byte.
struct table_row_hash {
    std::uint64_t h = 0;
    void key(std::string_view k) noexcept { h = bytes_hash(1, k); }
    void key(std::uint64_t k) noexcept { h = mix(k + 2); }
    void add(std::string_view f) noexcept { h = bytes_hash(h, f); }
};

// ---- netabase's stored bytes, by hand (for raw LMDB and, as its value format, RocksDB) -----------
//
// Key: a std::string key is its bytes with 0x00 escaped as 0x00 0xFF, closed by 0x00 0x00; a
// u64 key is big-endian. Value (encoding version 1): a version byte 1, then the fields in
// declaration order, the key included: a string is a little-endian u32 length then its bytes,
// a u64 is 8 little-endian bytes.
namespace codec {

[[noreturn]] inline void corrupt() { throw std::runtime_error("ycsb: a stored row does not decode"); }

inline std::size_t key_size(const UserRow& r) {
    std::size_t zeros = 0;
    if (std::memchr(r.key.data(), 0, r.key.size()))
        for (char c : r.key) zeros += c == 0;
    return r.key.size() + zeros + 2;
}
inline std::size_t key_size(const UserInt&) { return 8; }

// Writes the encoded key at `out`, returns its size (at most key_size(r)).
inline std::size_t encode_key(const std::string& k, unsigned char* out) {
    unsigned char* p = out;
    if (!std::memchr(k.data(), 0, k.size())) [[likely]] {
        std::memcpy(p, k.data(), k.size());
        p += k.size();
    } else {
        for (char c : k) {
            *p++ = static_cast<unsigned char>(c);
            if (c == 0) *p++ = 0xff;
        }
    }
    *p++ = 0;
    *p++ = 0;
    return static_cast<std::size_t>(p - out);
}
inline std::size_t encode_key(std::uint64_t k, unsigned char* out) {
    k = __builtin_bswap64(k);
    std::memcpy(out, &k, 8);
    return 8;
}
inline std::size_t encode_key(const UserRow& r, unsigned char* out) { return encode_key(r.key, out); }
inline std::size_t encode_key(const UserInt& r, unsigned char* out) { return encode_key(r.key, out); }

inline void put_str(unsigned char*& p, std::string_view s) {
    auto n = static_cast<std::uint32_t>(s.size());
    std::memcpy(p, &n, 4);
    std::memcpy(p + 4, s.data(), s.size());
    p += 4 + s.size();
}

template <class R>
std::size_t value_size(const R& r) {
    std::size_t n = 1;
    if constexpr (std::is_same_v<R, UserRow>)
        n += 4 + r.key.size();
    else
        n += 8;
    for (std::size_t i = 0; i < field_count<R>; ++i) n += 4 + field(r, i).size();
    return n;
}

template <class R>
std::size_t encode_value(const R& r, unsigned char* out) {
    unsigned char* p = out;
    *p++ = 1;
    if constexpr (std::is_same_v<R, UserRow>) {
        put_str(p, r.key);
    } else {
        std::memcpy(p, &r.key, 8);
        p += 8;
    }
    for (std::size_t i = 0; i < field_count<R>; ++i) put_str(p, field(r, i));
    return static_cast<std::size_t>(p - out);
}

// A stored row read in place.
template <class R>
struct row_ref {
    std::conditional_t<std::is_same_v<R, UserRow>, std::string_view, std::uint64_t> key;
    std::array<std::string_view, field_count<R>> f;
};

// Every length checked against what is left, as netabase's decoder does.
template <class R>
inline void parse(const void* data, std::size_t size, row_ref<R>& out) {
    auto* p = static_cast<const unsigned char*>(data);
    const unsigned char* end = p + size;
    if (size < 1 || p[0] != 1) [[unlikely]]
        corrupt();
    ++p;
    auto str = [&](std::string_view& s) {
        if (end - p < 4) [[unlikely]]
            corrupt();
        std::uint32_t n;
        std::memcpy(&n, p, 4);
        p += 4;
        if (static_cast<std::size_t>(end - p) < n) [[unlikely]]
            corrupt();
        s = {reinterpret_cast<const char*>(p), n};
        p += n;
    };
    if constexpr (std::is_same_v<R, UserRow>) {
        str(out.key);
    } else {
        if (end - p < 8) [[unlikely]]
            corrupt();
        std::memcpy(&out.key, p, 8);
        p += 8;
    }
    for (auto& f : out.f) str(f);
    if (p != end) [[unlikely]]
        corrupt();
}

// The row with field `fi` set to `nv`, encoded at `out` (room for the old size + nv's).
template <class R>
std::size_t with_field(const void* old, std::size_t old_size, const row_ref<R>& r, std::size_t fi,
                       std::string_view nv, unsigned char* out) {
    if (r.f[fi].size() == nv.size()) {  // same size: copy the row, patch the field
        std::memcpy(out, old, old_size);
        std::memcpy(out + (reinterpret_cast<const unsigned char*>(r.f[fi].data()) -
                           static_cast<const unsigned char*>(old)),
                    nv.data(), nv.size());
        return old_size;
    }
    unsigned char* p = out;
    *p++ = 1;
    if constexpr (std::is_same_v<R, UserRow>) {
        put_str(p, r.key);
    } else {
        std::memcpy(p, &r.key, 8);
        p += 8;
    }
    for (std::size_t i = 0; i < r.f.size(); ++i) put_str(p, i == fi ? nv : r.f[i]);
    return static_cast<std::size_t>(p - out);
}

}  // namespace codec

// The sum of one record read through a row_ref (raw LMDB, RocksDB).
template <class R>
std::uint64_t sum_ref(const codec::row_ref<R>& r) noexcept {
    record_sum s;
    s.key(r.key);
    for (auto f : r.f) s.add(f);
    return s.done();
}
template <class R>
std::uint64_t sum_owned(const R& r) noexcept {
    record_sum s;
    s.key(r.key);
    for (std::size_t i = 0; i < field_count<R>; ++i) s.add(field(r, i));
    return s.done();
}
// The row a raw engine's "owned" read builds: the model, braced-initialised, each string
// constructed once from the stored bytes.
template <class R>
R to_owned(const codec::row_ref<R>& r) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        if constexpr (std::is_same_v<R, UserRow>)
            return R{std::string(r.key), std::string(r.f[I])...};
        else
            return R{r.key, std::string(r.f[I])...};
    }(std::make_index_sequence<field_count<R>>{});
}
template <class R>
std::uint64_t table_hash_ref(const codec::row_ref<R>& r) noexcept {
    table_row_hash h;
    h.key(r.key);
    for (auto f : r.f) h.add(f);
    return mix(h.h);
}

// ---- Engines ---------------------------------------------------------------------------------

enum class sync_mode { none, durable };

// One transaction per operation in run(). Every call returns a checksum the runner compares
// across engines.
class Engine {
public:
    virtual ~Engine() = default;

    // Records 0..n-1 of the data, in keynum order (random key order), in one transaction.
    virtual std::uint64_t load(std::size_t n) = 0;
    // The operations, one transaction each; `owned`: reads build the model (else views).
    // The sum of what each operation read (reads, scans, read-modify-writes) plus the
    // number of writes.
    virtual std::uint64_t run(std::span<const op> ops, bool owned) = 0;
    // Every record, every byte (untimed): order-independent, equal across engines holding
    // the same data. Also the warm-up before each timed run (page and block caches).
    virtual std::uint64_t table_sum() = 0;
    // LMDB engines: a hash of the primary table's entries, key and value bytes, in order.
    virtual std::optional<std::uint64_t> lmdb_bytes() { return std::nullopt; }
    // After load, untimed: SQLite checkpoints its WAL, RocksDB compacts.
    virtual void settle() {}
    // A copy of the data for a run that changes it: `to` exists and is empty.
    virtual void copy_to(const std::filesystem::path& to) = 0;
};

std::unique_ptr<Engine> make_netabase(shape s, const std::filesystem::path& dir, sync_mode m, const Data& d);
std::unique_ptr<Engine> make_lmdb(shape s, const std::filesystem::path& dir, sync_mode m, const Data& d, bool naive);
std::unique_ptr<Engine> make_sqlite(shape s, const std::filesystem::path& dir, sync_mode m, const Data& d);
std::unique_ptr<Engine> make_rocksdb(shape s, const std::filesystem::path& dir, sync_mode m, const Data& d);
bool have_rocksdb();

[[noreturn]] inline void missing(std::uint32_t keynum) {
    throw std::runtime_error("ycsb: record " + std::to_string(keynum) + " is not there");
}

}  // namespace bench::ycsb
