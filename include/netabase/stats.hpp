// store.stats() and store.backup(): the size of a store, of each table and index, and hot copies.
#pragma once

#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"

#include <lmdb.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace netabase {

// One LMDB database: a table's rows or one index's entries.
struct database_stats {
    std::string name;         // "users", or "users/1" for an index
    std::uint64_t entries = 0;  // rows, or index entries (for a non-unique index: one per row and key)
    std::uint64_t bytes = 0;    // pages x page size: branch + leaf + overflow
    std::uint64_t branch_pages = 0, leaf_pages = 0, overflow_pages = 0;
    unsigned depth = 0;  // of its B-tree (0: empty)
};

struct table_stats : database_stats {
    std::vector<database_stats> indexes;
};

struct store_stats {
    std::uint64_t map_size = 0;    // address space reserved for the file (options::map_size, grown)
    std::uint64_t page_size = 0;
    std::uint64_t used_bytes = 0;  // pages up to the last one in use: what data.mdb needs
    std::uint64_t free_bytes = 0;  // of those, pages free for reuse (mdb_copy -c would drop them)
    std::vector<table_stats> tables;
};

struct backup_options {
    bool compact = false;  // leave out free pages and renumber the rest (LMDB's MDB_CP_COMPACT)
};

namespace detail {

[[gnu::cold]] inline void fill_stats(MDB_txn* txn, MDB_dbi dbi, database_stats& out) {
    MDB_stat st;
    if (int rc = mdb::stat(txn, dbi, &st)) throw_on_database(rc, "mdb_stat", txn, dbi);
    out.entries = st.ms_entries;
    out.branch_pages = st.ms_branch_pages;
    out.leaf_pages = st.ms_leaf_pages;
    out.overflow_pages = st.ms_overflow_pages;
    out.bytes = (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * std::uint64_t{st.ms_psize};
    out.depth = st.ms_depth;
}

// Used and free bytes of the environment, as of txn's snapshot: the free pages are the ones the
// freelist (LMDB's database 0) records, each record a count and that many page numbers.
[[gnu::cold]] inline void fill_space(MDB_env* env, MDB_txn* txn, store_stats& out) {
    MDB_envinfo info;
    MDB_stat st;
    if (int rc = mdb::env_info(env, &info)) throw_on_env(rc, "stats: mdb_env_info", env);
    if (int rc = mdb::env_stat(env, &st)) throw_on_env(rc, "stats: mdb_env_stat", env);
    out.map_size = info.me_mapsize;
    out.page_size = st.ms_psize;
    out.used_bytes = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
    cursor c(txn, 0);
    MDB_val k, v;
    std::uint64_t free_pages = 0;
    for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT)) {
        std::size_t n = 0;
        if (v.mv_size >= sizeof n) std::memcpy(&n, v.mv_data, sizeof n);
        free_pages += n;
    }
    out.free_bytes = free_pages * st.ms_psize;
}

// A consistent copy of the environment into `dir`, a directory that holds no store yet.
[[gnu::cold]] inline void backup_to(MDB_env* env, const dir_path& dir, const backup_options& opt) {
    std::error_code ec;
    if (exists(dir / "data.mdb"))
        throw error(errc::invalid_argument,
                    "backup: " + dir.string() + " already holds a store (data.mdb); back up into a new directory");
    create_directories(dir, ec);
    if (ec) throw error(ec, "backup: cannot create " + dir.string());
    int rc = mdb::env_copy2(env, dir.c_str(), opt.compact ? MDB_CP_COMPACT : 0u);
    if (rc != 0) {
        std::remove((dir / "data.mdb").c_str());  // a partial copy is no backup
        throw_lmdb(rc, "backup to " + dir.string() + " failed (mdb_env_copy2)");
    }
}

}  // namespace detail
}  // namespace netabase
