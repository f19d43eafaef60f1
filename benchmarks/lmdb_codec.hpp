// netabase's value encoding (version 1) for Row and Doc, written out by hand for the raw
// LMDB engines: the same bytes netabase stores.
#pragma once

#include "common.hpp"

#include <lmdb.h>

#include <stdexcept>
#include <string>

namespace bench::raw {

[[noreturn]] inline void fail(int rc, const char* what) {
    throw std::runtime_error(std::string("lmdb: ") + what + ": " + mdb_strerror(rc));
}
inline void check(int rc, const char* what) {
    if (rc != 0) [[unlikely]]
        fail(rc, what);
}

inline std::uint64_t be64(std::uint64_t v) { return __builtin_bswap64(v); }
inline std::uint32_t be32(std::uint32_t v) { return __builtin_bswap32(v); }
template <class T>
inline T ld(const unsigned char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Value layout (netabase encoding version 1): version byte, then fields little-endian,
// strings and vectors as a u32 count then the payload.
constexpr std::size_t row_fixed = 1 + 8 + 4 + 4 + 8 + 4;  // up to the name's length

struct row_ref {  // a row read in place
    std::uint64_t id;
    std::uint32_t category, code;
    double score;
    std::string_view name;
};

inline bool decode_row(const MDB_val& v, row_ref& r) {
    auto* p = static_cast<const unsigned char*>(v.mv_data);
    if (v.mv_size < row_fixed || p[0] != 1) [[unlikely]]
        throw std::runtime_error("lmdb: corrupt row");
    r.id = ld<std::uint64_t>(p + 1);
    r.category = ld<std::uint32_t>(p + 9);
    r.code = ld<std::uint32_t>(p + 13);
    r.score = ld<double>(p + 17);
    std::uint32_t len = ld<std::uint32_t>(p + 25);
    if (len != v.mv_size - row_fixed) [[unlikely]]
        throw std::runtime_error("lmdb: corrupt row");
    r.name = {reinterpret_cast<const char*>(p + row_fixed), len};
    return true;
}

struct doc_ref {
    std::uint64_t id;
    std::uint32_t category, code;
    double score;
    std::string_view title, body;
    le_u32_view tags;
};

inline void decode_doc(const MDB_val& v, doc_ref& d) {
    auto* p = static_cast<const unsigned char*>(v.mv_data);
    auto* end = p + v.mv_size;
    auto need = [&](const unsigned char* at, std::size_t n) {
        if (static_cast<std::size_t>(end - at) < n) [[unlikely]]
            throw std::runtime_error("lmdb: corrupt doc");
    };
    need(p, row_fixed);
    if (p[0] != 1) [[unlikely]]
        throw std::runtime_error("lmdb: corrupt doc");
    d.id = ld<std::uint64_t>(p + 1);
    d.category = ld<std::uint32_t>(p + 9);
    d.code = ld<std::uint32_t>(p + 13);
    d.score = ld<double>(p + 17);
    const unsigned char* q = p + 25;
    std::uint32_t n = ld<std::uint32_t>(q);
    q += 4;
    need(q, n);
    d.title = {reinterpret_cast<const char*>(q), n};
    q += n;
    need(q, 4);
    n = ld<std::uint32_t>(q);
    q += 4;
    need(q, std::size_t{n} * 4);
    d.tags = {q, n};
    q += std::size_t{n} * 4;
    need(q, 4);
    n = ld<std::uint32_t>(q);
    q += 4;
    if (static_cast<std::size_t>(end - q) != n) [[unlikely]]
        throw std::runtime_error("lmdb: corrupt doc");
    d.body = {reinterpret_cast<const char*>(q), n};
}

inline std::uint64_t sum_of(const row_ref& r) { return row_sum(r.id, r.category, r.code, r.score, r.name); }
inline std::uint64_t sum_of(const doc_ref& d) {
    return doc_sum(d.id, d.category, d.code, d.score, d.title, d.tags, d.body);
}

inline void put_u32(unsigned char*& p, std::uint32_t v) {
    std::memcpy(p, &v, 4);
    p += 4;
}


}  // namespace bench::raw
