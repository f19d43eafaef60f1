// Every LMDB call netabase makes that can return an error goes through here: the environment's
// setup and opening, transactions, databases, cursors, statistics, copies and syncs. (Calls
// that cannot fail, such as mdb_txn_abort, mdb_cursor_close, mdb_txn_reset, mdb_env_close,
// mdb_txn_id and mdb_strerror, are made directly.) A build that defines NETABASE_LMDB_SEAM
// (the test suite does, in every translation unit) can count the calls and make the Nth one
// fail; any other build calls LMDB directly and pays nothing: each wrapper is the plain call.
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
    txn_renew,
    cursor_renew,
    cursor_count,
    stat,
    dbi_open,
    env_create,
    env_set_mapsize,
    env_set_maxreaders,
    env_set_maxdbs,
    env_set_userctx,
    env_open,
    env_info,
    env_stat,
    env_copy2,
    env_sync,
    reader_check,
    count
};

// The LMDB function behind each call, as messages name it.
constexpr const char* call_name(call c) noexcept {
    switch (c) {
        case call::get: return "mdb_get";
        case call::put: return "mdb_put";
        case call::del: return "mdb_del";
        case call::drop: return "mdb_drop";
        case call::cursor_open: return "mdb_cursor_open";
        case call::cursor_get: return "mdb_cursor_get";
        case call::cursor_put: return "mdb_cursor_put";
        case call::cursor_del: return "mdb_cursor_del";
        case call::txn_begin: return "mdb_txn_begin";
        case call::txn_commit: return "mdb_txn_commit";
        case call::txn_renew: return "mdb_txn_renew";
        case call::cursor_renew: return "mdb_cursor_renew";
        case call::cursor_count: return "mdb_cursor_count";
        case call::stat: return "mdb_stat";
        case call::dbi_open: return "mdb_dbi_open";
        case call::env_create: return "mdb_env_create";
        case call::env_set_mapsize: return "mdb_env_set_mapsize";
        case call::env_set_maxreaders: return "mdb_env_set_maxreaders";
        case call::env_set_maxdbs: return "mdb_env_set_maxdbs";
        case call::env_set_userctx: return "mdb_env_set_userctx";
        case call::env_open: return "mdb_env_open";
        case call::env_info: return "mdb_env_info";
        case call::env_stat: return "mdb_env_stat";
        case call::env_copy2: return "mdb_env_copy2";
        case call::env_sync: return "mdb_env_sync";
        case call::reader_check: return "mdb_reader_check";
        case call::count: break;
    }
    return "?";
}

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
inline int txn_renew(MDB_txn* t) {
    NETABASE_SEAM(call::txn_renew)
    return ::mdb_txn_renew(t);
}
inline int cursor_renew(MDB_txn* t, MDB_cursor* c) {
    NETABASE_SEAM(call::cursor_renew)
    return ::mdb_cursor_renew(t, c);
}
inline int cursor_count(MDB_cursor* c, std::size_t* n) {  // mdb_size_t in newer LMDB, size_t in 0.9
    NETABASE_SEAM(call::cursor_count)
    return ::mdb_cursor_count(c, n);
}
inline int stat(MDB_txn* t, MDB_dbi d, MDB_stat* st) {
    NETABASE_SEAM(call::stat)
    return ::mdb_stat(t, d, st);
}
inline int dbi_open(MDB_txn* t, const char* name, unsigned flags, MDB_dbi* d) {
    NETABASE_SEAM(call::dbi_open)
    return ::mdb_dbi_open(t, name, flags, d);
}
inline int env_create(MDB_env** e) {
    NETABASE_SEAM(call::env_create)
    return ::mdb_env_create(e);
}
inline int env_set_mapsize(MDB_env* e, std::size_t size) {
    NETABASE_SEAM(call::env_set_mapsize)
    return ::mdb_env_set_mapsize(e, size);
}
inline int env_set_maxreaders(MDB_env* e, unsigned readers) {
    NETABASE_SEAM(call::env_set_maxreaders)
    return ::mdb_env_set_maxreaders(e, readers);
}
inline int env_set_maxdbs(MDB_env* e, MDB_dbi dbs) {
    NETABASE_SEAM(call::env_set_maxdbs)
    return ::mdb_env_set_maxdbs(e, dbs);
}
inline int env_set_userctx(MDB_env* e, void* ctx) {
    NETABASE_SEAM(call::env_set_userctx)
    return ::mdb_env_set_userctx(e, ctx);
}
inline int env_open(MDB_env* e, const char* path, unsigned flags, mdb_mode_t mode) {
    NETABASE_SEAM(call::env_open)
    return ::mdb_env_open(e, path, flags, mode);
}
inline int env_info(MDB_env* e, MDB_envinfo* info) {
    NETABASE_SEAM(call::env_info)
    return ::mdb_env_info(e, info);
}
inline int env_stat(MDB_env* e, MDB_stat* st) {
    NETABASE_SEAM(call::env_stat)
    return ::mdb_env_stat(e, st);
}
inline int env_copy2(MDB_env* e, const char* path, unsigned flags) {
    NETABASE_SEAM(call::env_copy2)
    return ::mdb_env_copy2(e, path, flags);
}
inline int env_sync(MDB_env* e, int force) {
    NETABASE_SEAM(call::env_sync)
    return ::mdb_env_sync(e, force);
}
inline int reader_check(MDB_env* e, int* dead) {
    NETABASE_SEAM(call::reader_check)
    return ::mdb_reader_check(e, dead);
}

}  // namespace mdb
}  // namespace netabase::detail
