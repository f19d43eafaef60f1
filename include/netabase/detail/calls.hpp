// Every LMDB call netabase makes inside a transaction goes through here. A build that defines
// NETABASE_LMDB_SEAM (the test suite does, in every translation unit) can count the calls and
// make the Nth one fail; any other build calls LMDB directly and pays nothing.
#pragma once

#include <lmdb.h>

#include <cstddef>

namespace netabase::detail {

enum class call : unsigned char {
    get,
    put,
    del,
    drop,
    cursor_open,
    cursor_get,
    cursor_put,
    cursor_del,
    txn_begin,
    txn_commit,
    count
};

#ifdef NETABASE_LMDB_SEAM
// A test installs one; nullptr (the default) means plain LMDB.
struct lmdb_seam {
    std::size_t calls[static_cast<std::size_t>(call::count)] = {};
    std::size_t total = 0;
    std::size_t fail_at = 0;  // fail the total-th call when total reaches this (0: never)
    int fail_with = 0;

    virtual ~lmdb_seam() = default;
    // Returns an LMDB error code to fail the call with, or 0 to let it through.
    virtual int before(call c) {
        ++calls[static_cast<std::size_t>(c)];
        ++total;
        if (fail_at != 0 && total == fail_at) return fail_with;
        return 0;
    }
    std::size_t count(call c) const { return calls[static_cast<std::size_t>(c)]; }
};

inline lmdb_seam*& seam() noexcept {
    static lmdb_seam* s = nullptr;
    return s;
}

#define NETABASE_SEAM(c)                                                \
    if (::netabase::detail::lmdb_seam* s_ = ::netabase::detail::seam()) \
        if (int rc_ = s_->before(c)) return rc_;
#else
#define NETABASE_SEAM(c)
#endif

namespace mdb {

inline int get(MDB_txn* t, MDB_dbi d, MDB_val* k, MDB_val* v) {
    NETABASE_SEAM(call::get)
    return ::mdb_get(t, d, k, v);
}
inline int put(MDB_txn* t, MDB_dbi d, MDB_val* k, MDB_val* v, unsigned flags) {
    NETABASE_SEAM(call::put)
    return ::mdb_put(t, d, k, v, flags);
}
inline int del(MDB_txn* t, MDB_dbi d, MDB_val* k, MDB_val* v) {
    NETABASE_SEAM(call::del)
    return ::mdb_del(t, d, k, v);
}
inline int drop(MDB_txn* t, MDB_dbi d, int del) {
    NETABASE_SEAM(call::drop)
    return ::mdb_drop(t, d, del);
}
inline int cursor_open(MDB_txn* t, MDB_dbi d, MDB_cursor** c) {
    NETABASE_SEAM(call::cursor_open)
    return ::mdb_cursor_open(t, d, c);
}
inline int cursor_get(MDB_cursor* c, MDB_val* k, MDB_val* v, MDB_cursor_op op) {
    NETABASE_SEAM(call::cursor_get)
    return ::mdb_cursor_get(c, k, v, op);
}
inline int cursor_put(MDB_cursor* c, MDB_val* k, MDB_val* v, unsigned flags) {
    NETABASE_SEAM(call::cursor_put)
    return ::mdb_cursor_put(c, k, v, flags);
}
inline int cursor_del(MDB_cursor* c, unsigned flags) {
    NETABASE_SEAM(call::cursor_del)
    return ::mdb_cursor_del(c, flags);
}
inline int txn_begin(MDB_env* e, MDB_txn* parent, unsigned flags, MDB_txn** t) {
    NETABASE_SEAM(call::txn_begin)
    return ::mdb_txn_begin(e, parent, flags, t);
}
inline int txn_commit(MDB_txn* t) {
#ifdef NETABASE_LMDB_SEAM
    if (lmdb_seam* s = seam())
        if (int rc = s->before(call::txn_commit)) {
            ::mdb_txn_abort(t);  // a failed commit has freed its transaction, as LMDB's does
            return rc;
        }
#endif
    return ::mdb_txn_commit(t);
}

}  // namespace mdb
}  // namespace netabase::detail
