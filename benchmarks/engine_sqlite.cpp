// SQLite through its C API, tuned as an expert would: WAL, INTEGER PRIMARY KEY (the rowid
// itself), real indexes on the secondary keys, every statement prepared once and reused,
// mmap on, a large page cache, synchronous matched to LMDB's (OFF = MDB_NOSYNC; FULL for the
// durable runs). Normal (shared) locking, like LMDB's multi-process model.
#include "common.hpp"

#include "sqlite_statement.hpp"

#include <sqlite3.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace bench {
namespace {

using sqlite::fail;
using sqlite::statement;
using sqlite::text;


class sqlite_engine final : public Engine {
public:
    sqlite_engine(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds)
        : dir_(dir), docs_(t == table::docs), nidx_(index_count(t)), ds_(ds) {
        std::filesystem::create_directories(dir);
        if (sqlite3_open_v2((dir / "data.db").c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK)
            fail(db_, "open");
        exec("PRAGMA journal_mode=WAL");
        exec(s == sync_mode::none ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=FULL");
        exec("PRAGMA mmap_size=17179869184");
        exec("PRAGMA cache_size=-1048576");  // 1 GiB
        exec("PRAGMA temp_store=MEMORY");
        name_ = docs_ ? "docs" : "rows";
        cols_ = docs_ ? "id, category, code, score, title, tags, body" : "id, category, code, score, name";
        exec("CREATE TABLE IF NOT EXISTS " + name_ +
             (docs_ ? "(id INTEGER PRIMARY KEY, category INTEGER NOT NULL, code INTEGER NOT NULL, score REAL NOT NULL, "
                      "title TEXT NOT NULL, tags BLOB NOT NULL, body TEXT NOT NULL)"
                    : "(id INTEGER PRIMARY KEY, category INTEGER NOT NULL, code INTEGER NOT NULL, score REAL NOT NULL, "
                      "name TEXT NOT NULL)"));
        if (nidx_ >= 1) exec("CREATE INDEX IF NOT EXISTS " + name_ + "_category ON " + name_ + "(category)");
        if (nidx_ >= 2) exec("CREATE INDEX IF NOT EXISTS " + name_ + "_code ON " + name_ + "(code)");

        begin_ = statement(db_, "BEGIN");
        commit_ = statement(db_, "COMMIT");
        std::string params = docs_ ? "?,?,?,?,?,?,?" : "?,?,?,?,?";
        insert_ = statement(db_, "INSERT OR REPLACE INTO " + name_ + " VALUES(" + params + ")");
        get_ = statement(db_, "SELECT " + cols_ + " FROM " + name_ + " WHERE id = ?");
        range_ = statement(db_, "SELECT " + cols_ + " FROM " + name_ + " WHERE id >= ? AND id < ? ORDER BY id");
        scan_ = statement(db_, "SELECT " + cols_ + " FROM " + name_ + " ORDER BY id");
        size_ = statement(db_, "SELECT count(*) FROM " + name_);
        upd_score_ = statement(db_, "UPDATE " + name_ + " SET score = score + 1 WHERE id = ?");
        upd_cat_ = statement(db_, "UPDATE " + name_ + " SET category = (category + 1) % 1000 WHERE id = ?");
        delete_ = statement(db_, "DELETE FROM " + name_ + " WHERE id = ?");
        if (nidx_ >= 1) {
            by_cat_ = statement(db_, "SELECT " + cols_ + " FROM " + name_ + " WHERE category = ?");
            count_cat_ = statement(db_, "SELECT count(*) FROM " + name_ + " WHERE category = ?");
        }
        if (nidx_ >= 2) by_code_ = statement(db_, "SELECT " + cols_ + " FROM " + name_ + " WHERE code = ?");
    }

    ~sqlite_engine() override {
        for (auto* s : {&begin_, &commit_, &insert_, &get_, &range_, &scan_, &size_, &upd_score_, &upd_cat_,
                        &delete_, &by_cat_, &count_cat_, &by_code_})
            *s = statement();
        sqlite3_close_v2(db_);
    }

    std::vector<std::filesystem::path> data_files() const override { return {dir_ / "data.db"}; }
    void checkpoint() override { exec("PRAGMA wal_checkpoint(TRUNCATE)"); }

    // ---- writes ----------------------------------------------------------------------------

    std::uint64_t load(std::span<const std::uint32_t> order) override {
        step_done(begin_);
        for (auto i : order) {
            if (docs_)
                bind_doc(ds_.docs[i]);
            else
                bind_row(ds_.rows[i]);
            step_done(insert_);
        }
        step_done(commit_);
        return order.size();
    }

    std::uint64_t insert_each(std::span<const Row> rows) override {
        for (const Row& r : rows) {  // autocommit: one transaction per statement
            bind_row(r);
            step_done(insert_);
        }
        return rows.size();
    }

    std::uint64_t insert_batches(std::span<const Row> rows, std::size_t per_txn) override {
        for (std::size_t at = 0; at < rows.size(); at += per_txn) {
            step_done(begin_);
            for (std::size_t i = at; i < std::min(rows.size(), at + per_txn); ++i) {
                bind_row(rows[i]);
                step_done(insert_);
            }
            step_done(commit_);
        }
        return rows.size();
    }

    std::uint64_t by_key_write(sqlite3_stmt* s, std::span<const std::uint64_t> keys) {
        step_done(begin_);
        std::uint64_t n = 0;
        for (auto k : keys) {
            sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(k));
            step_done(s);
            n += static_cast<std::uint64_t>(sqlite3_changes(db_));
        }
        step_done(commit_);
        return n;
    }
    std::uint64_t update_score(std::span<const std::uint64_t> keys) override { return by_key_write(upd_score_, keys); }
    std::uint64_t update_category(std::span<const std::uint64_t> keys) override { return by_key_write(upd_cat_, keys); }
    std::uint64_t remove(std::span<const std::uint64_t> keys) override { return by_key_write(delete_, keys); }

    // ---- reads -----------------------------------------------------------------------------

    template <bool Owned>
    std::uint64_t gets(std::span<const std::uint64_t> keys) {
        step_done(begin_);
        std::uint64_t sum = 0;
        for (auto k : keys) {
            sqlite3_bind_int64(get_, 1, static_cast<sqlite3_int64>(k));
            int rc = sqlite3_step(get_);
            if (rc == SQLITE_ROW) sum += Owned ? owned_sum(get_) : view_sum(get_);
            else if (rc != SQLITE_DONE) fail(db_, "step");
            sqlite3_reset(get_);
        }
        step_done(commit_);
        return sum;
    }
    std::uint64_t get_view(std::span<const std::uint64_t> keys) override { return gets<false>(keys); }
    std::uint64_t get_owned(std::span<const std::uint64_t> keys) override { return gets<true>(keys); }

    std::uint64_t get_view_txn_each(std::span<const std::uint64_t> keys) override {
        std::uint64_t sum = 0;
        for (auto k : keys) {  // autocommit: the SELECT is its own read transaction
            sqlite3_bind_int64(get_, 1, static_cast<sqlite3_int64>(k));
            int rc = sqlite3_step(get_);
            if (rc == SQLITE_ROW) sum += view_sum(get_);
            else if (rc != SQLITE_DONE) fail(db_, "step");
            sqlite3_reset(get_);
        }
        return sum;
    }

    template <bool Owned>
    std::uint64_t all_rows(sqlite3_stmt* s) {
        std::uint64_t sum = 0;
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) sum += Owned ? owned_sum(s) : view_sum(s);
        if (rc != SQLITE_DONE) fail(db_, "step");
        sqlite3_reset(s);
        return sum;
    }

    template <bool Owned>
    std::uint64_t ranges(std::span<const std::uint64_t> starts, std::uint64_t width) {
        step_done(begin_);
        std::uint64_t sum = 0;
        for (auto s : starts) {
            sqlite3_bind_int64(range_, 1, static_cast<sqlite3_int64>(s));
            sqlite3_bind_int64(range_, 2, static_cast<sqlite3_int64>(s + width));
            sum += all_rows<Owned>(range_);
        }
        step_done(commit_);
        return sum;
    }
    std::uint64_t range_view(std::span<const std::uint64_t> s, std::uint64_t w) override { return ranges<false>(s, w); }
    std::uint64_t range_owned(std::span<const std::uint64_t> s, std::uint64_t w) override { return ranges<true>(s, w); }

    std::uint64_t scan_view() override { return all_rows<false>(scan_); }
    std::uint64_t scan_owned() override { return all_rows<true>(scan_); }

    std::uint64_t equal(sqlite3_stmt* s, std::span<const std::uint32_t> values) {
        step_done(begin_);
        std::uint64_t sum = 0;
        for (auto v : values) {
            sqlite3_bind_int64(s, 1, v);
            sum += all_rows<false>(s);
        }
        step_done(commit_);
        return sum;
    }
    std::uint64_t by_code(std::span<const std::uint32_t> codes) override { return equal(by_code_, codes); }
    std::uint64_t by_category(std::span<const std::uint32_t> cats) override { return equal(by_cat_, cats); }

    std::uint64_t count_category(std::span<const std::uint32_t> cats) override {
        step_done(begin_);
        std::uint64_t sum = 0;
        for (auto c : cats) {
            sqlite3_bind_int64(count_cat_, 1, c);
            if (sqlite3_step(count_cat_) != SQLITE_ROW) fail(db_, "step");
            sum += static_cast<std::uint64_t>(sqlite3_column_int64(count_cat_, 0));
            sqlite3_reset(count_cat_);
        }
        step_done(commit_);
        return sum;
    }

    // SQLite keeps no row count: count(*) walks the smallest index (or the table).
    std::uint64_t size_each(std::size_t times) override {
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < times; ++i) {
            if (sqlite3_step(size_) != SQLITE_ROW) fail(db_, "step");
            sum += static_cast<std::uint64_t>(sqlite3_column_int64(size_, 0));
            sqlite3_reset(size_);
        }
        return sum;
    }

private:
    void exec(const std::string& sql) { sqlite::exec(db_, sql); }
    void step_done(sqlite3_stmt* s) { sqlite::step_done(db_, s); }
    void bind_row(const Row& r) {
        sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(r.id));
        sqlite3_bind_int64(insert_, 2, r.category);
        sqlite3_bind_int64(insert_, 3, r.code);
        sqlite3_bind_double(insert_, 4, r.score);
        sqlite3_bind_text(insert_, 5, r.name.data(), static_cast<int>(r.name.size()), SQLITE_STATIC);
    }
    void bind_doc(const Doc& d) {
        sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(d.id));
        sqlite3_bind_int64(insert_, 2, d.category);
        sqlite3_bind_int64(insert_, 3, d.code);
        sqlite3_bind_double(insert_, 4, d.score);
        sqlite3_bind_text(insert_, 5, d.title.data(), static_cast<int>(d.title.size()), SQLITE_STATIC);
        // An empty vector's data() may be null, which SQLite would store as NULL, not an empty blob.
        static const std::uint32_t none = 0;
        sqlite3_bind_blob(insert_, 6, d.tags.empty() ? &none : d.tags.data(), static_cast<int>(d.tags.size() * 4),
                          SQLITE_STATIC);
        sqlite3_bind_text(insert_, 7, d.body.data(), static_cast<int>(d.body.size()), SQLITE_STATIC);
    }

    std::uint64_t view_sum(sqlite3_stmt* s) const {
        auto id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        auto cat = static_cast<std::uint32_t>(sqlite3_column_int64(s, 1));
        auto code = static_cast<std::uint32_t>(sqlite3_column_int64(s, 2));
        double score = sqlite3_column_double(s, 3);
        if (!docs_) return row_sum(id, cat, code, score, text(s, 4));
        auto title = text(s, 4);
        auto* tags = static_cast<const unsigned char*>(sqlite3_column_blob(s, 5));
        le_u32_view tv{tags, static_cast<std::size_t>(sqlite3_column_bytes(s, 5)) / 4};
        return doc_sum(id, cat, code, score, title, tv, text(s, 6));
    }

    std::uint64_t owned_sum(sqlite3_stmt* s) const {
        auto id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        auto cat = static_cast<std::uint32_t>(sqlite3_column_int64(s, 1));
        auto code = static_cast<std::uint32_t>(sqlite3_column_int64(s, 2));
        double score = sqlite3_column_double(s, 3);
        if (!docs_) {
            Row o{id, cat, code, score, std::string(text(s, 4))};
            return row_sum(o.id, o.category, o.code, o.score, o.name);
        }
        Doc o{id, cat, code, score, std::string(text(s, 4)), {}, {}};
        auto* tags = static_cast<const unsigned char*>(sqlite3_column_blob(s, 5));
        o.tags.resize(static_cast<std::size_t>(sqlite3_column_bytes(s, 5)) / 4);
        if (!o.tags.empty()) std::memcpy(o.tags.data(), tags, o.tags.size() * 4);
        o.body = std::string(text(s, 6));
        return doc_sum(o.id, o.category, o.code, o.score, o.title, o.tags, o.body);
    }

    std::filesystem::path dir_;
    bool docs_;
    int nidx_;
    const Dataset& ds_;
    sqlite3* db_ = nullptr;
    std::string name_, cols_;
    statement begin_, commit_, insert_, get_, range_, scan_, size_, upd_score_, upd_cat_, delete_, by_cat_, count_cat_,
        by_code_;
};

}  // namespace

std::unique_ptr<Engine> make_sqlite(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds) {
    return std::make_unique<sqlite_engine>(dir, t, s, ds);
}

}  // namespace bench
