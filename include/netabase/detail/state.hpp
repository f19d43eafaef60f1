// What a transaction and its trees share: the LMDB handles and the tables' database ids.
#pragma once

#include "netabase/detail/lmdb.hpp"
#include "netabase/error.hpp"

#include <lmdb.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace netabase::detail {

struct index_state {
    MDB_dbi dbi = 0;
    bool unique = false;
    std::string name;  // "users/1" for field 1, "users/by_name" for a named key
};

template <std::size_t N>
struct table_state {
    MDB_dbi dbi = 0;
    std::string name;
    std::array<index_state, N> indexes{};
};

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_finished() {
    throw error(errc::transaction_finished, "the transaction was already committed or aborted");
}

struct txn_core {
    environment* env = nullptr;
    MDB_txn* txn = nullptr;
    bool write = false;
    bool failed = false;           // an LMDB call failed mid-operation: commit() must refuse
    bool map_full = false;         // that failure was MDB_MAP_FULL: store.write() grows and retries
    std::uint64_t generation = 0;  // bumped by every put and remove

    MDB_txn* live() const {
        if (!txn) [[unlikely]]
            throw_finished();
        return txn;
    }

    // Records an LMDB failure inside a write and throws it.
    [[noreturn, gnu::cold]] void fail(int rc, std::string_view what, std::string_view table,
                                      std::string_view index = {}) {
        if (write) failed = true;
        if (rc == MDB_MAP_FULL) {
            map_full = true;
            std::string msg(what);
            msg += ": the map of " + env->path().string() + " (" + std::to_string(env->map_size()) +
                   " bytes) is full; store.write(fn) grows it and runs fn again, or open the store with a "
                   "larger netabase::options::map_size";
            throw_lmdb(rc, msg, table, index);
        }
        throw_lmdb(rc, what, table, index);
    }
};

}  // namespace netabase::detail
