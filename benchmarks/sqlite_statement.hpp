// The SQLite helpers both SQLite engines use (netabase_bench's and netabase_ycsb's): a prepared
// statement owned for the engine's lifetime, a text column read in place, and the calls that
// throw with SQLite's message when they fail.
#pragma once

#include <sqlite3.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace bench::sqlite {

class statement {
public:
    statement() = default;
    statement(sqlite3* db, const std::string& sql) {
        if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
            throw std::runtime_error("sqlite: prepare '" + sql + "': " + sqlite3_errmsg(db));
    }
    statement(statement&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    statement& operator=(statement&& o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~statement() { sqlite3_finalize(s_); }
    sqlite3_stmt* get() const noexcept { return s_; }
    operator sqlite3_stmt*() const noexcept { return s_; }

private:
    sqlite3_stmt* s_ = nullptr;
};

inline std::string_view text(sqlite3_stmt* s, int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return {p, static_cast<std::size_t>(sqlite3_column_bytes(s, col))};
}

[[noreturn]] inline void fail(sqlite3* db, const char* what) {
    throw std::runtime_error(std::string("sqlite: ") + what + ": " + sqlite3_errmsg(db));
}

inline void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "?";
        sqlite3_free(err);
        throw std::runtime_error("sqlite: " + sql + ": " + msg);
    }
}

// Runs a statement that returns no rows, and resets it for its next use.
inline void step_done(sqlite3* db, sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) fail(db, "step");
    sqlite3_reset(s);
}

}  // namespace bench::sqlite
