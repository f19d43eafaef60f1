// netabase::error, netabase::errc and the two error categories.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include <lmdb.h>

#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace netabase {

// What went wrong, as a condition: `e.code() == netabase::errc::map_full` holds both for
// netabase's own codes and for the LMDB code that means the same thing.
enum class errc {
    key_too_large = 1,     // an encoded key over LMDB's 511-byte limit
    key_exists,            // insert of a primary key that is already there
    unique_violation,      // a unique secondary key that belongs to another row
    corrupt_value,         // stored bytes that do not decode
    schema_mismatch,       // the models changed incompatibly since the store was written
    map_full,              // the memory map is full
    read_only,             // a write on a read-only store
    transaction_finished,  // use of a transaction after commit() or abort()
    not_found,             // a table, index or row that must exist does not
    invalid_argument,      // a call that can never succeed with these arguments
    bad_file,              // a path that is not a usable LMDB environment
    busy,                  // a second write transaction on the same thread would deadlock
    schema_changed,        // another program changed the store's schema since this one opened it
    wrong_thread,          // a write transaction used on a thread other than the one that began it
    watch_overflow,        // a watcher fell behind by more changes than it holds: it says how many it missed
    // A distributed backend's (DESIGN.md section 9; the etcd wire layer's codes map to these):
    conflict,         // another client committed a conflicting change first: nothing was applied
    unavailable,      // no server could serve the call in time (down, or no quorum)
    unknown_outcome,  // a commit may or may not have been applied, and the client could not find out
    limit_exceeded,   // over a server's limit (operations or bytes per request): nothing was sent
    compacted,        // a read or watch from a revision the server has discarded
};

namespace detail {

class netabase_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "netabase"; }
    std::string message(int v) const override {
        switch (static_cast<errc>(v)) {
            case errc::key_too_large:
                return "key too large";
            case errc::key_exists:
                return "key exists";
            case errc::unique_violation:
                return "unique violation";
            case errc::corrupt_value:
                return "corrupt value";
            case errc::schema_mismatch:
                return "schema mismatch";
            case errc::map_full:
                return "map full";
            case errc::read_only:
                return "read-only";
            case errc::transaction_finished:
                return "transaction finished";
            case errc::not_found:
                return "not found";
            case errc::invalid_argument:
                return "invalid argument";
            case errc::bad_file:
                return "bad file";
            case errc::busy:
                return "busy";
            case errc::schema_changed:
                return "schema changed";
            case errc::wrong_thread:
                return "wrong thread";
            case errc::watch_overflow:
                return "watch overflow";
            case errc::conflict:
                return "conflict";
            case errc::unavailable:
                return "unavailable";
            case errc::unknown_outcome:
                return "unknown outcome";
            case errc::limit_exceeded:
                return "limit exceeded";
            case errc::compacted:
                return "compacted";
        }
        return "unknown netabase error";
    }
};

// LMDB's codes keep their numbers; errno values LMDB passes through map to generic conditions.
class lmdb_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "lmdb"; }
    std::string message(int v) const override { return ::mdb_strerror(v); }
    std::error_condition default_error_condition(int v) const noexcept override;
};

}  // namespace detail

inline const std::error_category& netabase_category() noexcept {
    static const detail::netabase_category_impl c;
    return c;
}

inline const std::error_category& lmdb_category() noexcept {
    static const detail::lmdb_category_impl c;
    return c;
}

inline std::error_condition make_error_condition(errc e) noexcept { return {static_cast<int>(e), netabase_category()}; }

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), netabase_category()}; }

inline std::error_condition detail::lmdb_category_impl::default_error_condition(int v) const noexcept {
    switch (v) {
        case MDB_MAP_FULL:
            return make_error_condition(errc::map_full);
        case MDB_KEYEXIST:
            return make_error_condition(errc::key_exists);
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
            return make_error_condition(errc::corrupt_value);
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
            return make_error_condition(errc::bad_file);
        case MDB_NOTFOUND:
            return make_error_condition(errc::not_found);
        case MDB_BAD_VALSIZE:
            return make_error_condition(errc::key_too_large);
        default:
            break;
    }
    if (v > 0) return std::generic_category().default_error_condition(v);
    return {v, *this};
}

// Every failure netabase reports. what() names the table, the index and the key where
// there is one; table() and index() give them alone.
class error : public std::system_error {
public:
    error(std::error_code code, const std::string& what, std::string table = {}, std::string index = {})
        : std::system_error(code, what), description_(what), table_(std::move(table)), index_(std::move(index)) {}
    error(errc e, const std::string& what, std::string table = {}, std::string index = {})
        : error(make_error_code(e), what, std::move(table), std::move(index)) {}

    const std::string& table() const noexcept { return table_; }
    const std::string& index() const noexcept { return index_; }
    // what() without the ": <code message>" that std::system_error appends.
    const std::string& description() const noexcept { return description_; }

private:
    std::string description_;
    std::string table_;
    std::string index_;
};

namespace detail {

// Cold path: building the message is kept out of line of every caller.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_lmdb(int rc, std::string_view what,
                                                              std::string_view table = {},
                                                              std::string_view index = {}) {
    std::string msg(what);
    if (!table.empty()) {
        msg += " (table '";
        msg += table;
        msg += '\'';
        if (!index.empty()) {
            msg += ", index '";
            msg += index;
            msg += '\'';
        }
        msg += ')';
    }
    throw error(std::error_code(rc, lmdb_category()), msg, std::string(table), std::string(index));
}

inline void check(int rc, std::string_view what) {
    if (rc != 0) [[unlikely]]
        throw_lmdb(rc, what);
}

}  // namespace detail
}  // namespace netabase

template <>
struct std::is_error_condition_enum<netabase::errc> : std::true_type {};
