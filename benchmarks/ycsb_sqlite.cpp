// netabase_ycsb's SQLite engine, tuned as an expert would: one table clustered on the key
// (WITHOUT ROWID and 8 KiB pages for the string key, INTEGER PRIMARY KEY, the rowid itself,
// for the u64 key), a TEXT column per field, WAL, every statement prepared once and reused,
// mmap on, a 1 GiB page cache; synchronous=OFF against LMDB's MDB_NOSYNC, FULL for the
// durable runs. Each operation is one transaction: a read or an update is one autocommit
// statement, a read-modify-write is BEGIN IMMEDIATE, SELECT, UPDATE, COMMIT.
#include "ycsb.hpp"

#include "sqlite_statement.hpp"

#include <sqlite3.h>

#include <utility>

namespace bench::ycsb {
namespace {

using sqlite::statement;
using sqlite::text;


template <class R>
class sqlite_engine final : public Engine {
    static constexpr bool str = std::is_same_v<R, UserRow>;
    static constexpr int F = static_cast<int>(field_count<R>);

public:
    sqlite_engine(const std::filesystem::path& dir, sync_mode m, const Data& d)
        : dir_(dir), rows_(rows_of<R>(d)), values_(d.values) {
        if (sqlite3_open_v2((dir / "data.db").c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK)
            fail("open");
        // A WITHOUT ROWID row must fit in about a quarter of a page or it spills into overflow
        // pages: the 1 KiB str10 rows need 8 KiB pages (at 4 KiB, reads and loads cost about
        // twice the instructions; a rowid table with an index on the key costs more on reads).
        if constexpr (str) exec("PRAGMA page_size=8192");
        exec("PRAGMA journal_mode=WAL");
        exec(m == sync_mode::none ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=FULL");
        exec("PRAGMA mmap_size=17179869184");
        exec("PRAGMA cache_size=-1048576");
        exec("PRAGMA temp_store=MEMORY");
        std::string cols = "ycsb_key";
        std::string create = str ? "CREATE TABLE IF NOT EXISTS usertable(ycsb_key TEXT PRIMARY KEY NOT NULL"
                                 : "CREATE TABLE IF NOT EXISTS usertable(ycsb_key INTEGER PRIMARY KEY";
        std::string params = "?";
        for (int i = 0; i < F; ++i) {
            create += ", field" + std::to_string(i) + " TEXT NOT NULL";
            cols += ", field" + std::to_string(i);
            params += ",?";
        }
        create += str ? ") WITHOUT ROWID" : ")";
        exec(create);
        begin_ = statement(db_, "BEGIN");
        begin_immediate_ = statement(db_, "BEGIN IMMEDIATE");
        commit_ = statement(db_, "COMMIT");
        insert_ = statement(db_, "INSERT OR REPLACE INTO usertable(" + cols + ") VALUES(" + params + ")");
        read_ = statement(db_, "SELECT " + cols + " FROM usertable WHERE ycsb_key = ?");
        scan_ = statement(db_, "SELECT " + cols + " FROM usertable WHERE ycsb_key >= ? ORDER BY ycsb_key LIMIT ?");
        all_ = statement(db_, "SELECT " + cols + " FROM usertable");
        for (int i = 0; i < F; ++i)
            update_[i] = statement(db_, "UPDATE usertable SET field" + std::to_string(i) + " = ? WHERE ycsb_key = ?");
    }

    ~sqlite_engine() override {
        for (auto* st : {&begin_, &begin_immediate_, &commit_, &insert_, &read_, &scan_, &all_}) *st = statement();
        for (auto& u : update_) u = statement();
        sqlite3_close_v2(db_);
    }

    std::uint64_t load(std::size_t n) override {
        step_done(begin_);
        for (std::size_t i = 0; i < n; ++i) insert(rows_[i]);
        step_done(commit_);
        return n;
    }

    std::uint64_t run(std::span<const op> ops, bool) override {
        std::uint64_t sum = 0;
        for (const op& o : ops) {
            switch (o.kind) {
                case op_kind::read: sum += read(o.keynum); break;
                case op_kind::update:
                    update(o);
                    ++sum;
                    break;
                case op_kind::insert:
                    insert(rows_[o.keynum]);
                    ++sum;
                    break;
                case op_kind::scan: {
                    bind_key(scan_, 1, o.keynum);
                    sqlite3_bind_int(scan_, 2, o.len);
                    int rc;
                    while ((rc = sqlite3_step(scan_)) == SQLITE_ROW) sum += row_sum(scan_);
                    if (rc != SQLITE_DONE) fail("scan");
                    sqlite3_reset(scan_);
                    break;
                }
                case op_kind::rmw:
                    step_done(begin_immediate_);
                    sum += read(o.keynum);
                    update(o);
                    step_done(commit_);
                    ++sum;
                    break;
            }
        }
        return sum;
    }

    std::uint64_t table_sum() override {
        std::uint64_t sum = 0;
        int rc;
        while ((rc = sqlite3_step(all_)) == SQLITE_ROW) {
            table_row_hash h;
            if constexpr (str)
                h.key(text(all_, 0));
            else
                h.key(static_cast<std::uint64_t>(sqlite3_column_int64(all_, 0)));
            for (int i = 1; i <= F; ++i) h.add(text(all_, i));
            sum += mix(h.h);
        }
        if (rc != SQLITE_DONE) fail("scan");
        sqlite3_reset(all_);
        return sum;
    }

    void settle() override { exec("PRAGMA wal_checkpoint(TRUNCATE)"); }

    void copy_to(const std::filesystem::path& to) override {
        exec("PRAGMA wal_checkpoint(TRUNCATE)");
        std::filesystem::copy_file(dir_ / "data.db", to / "data.db");
    }

private:
    [[noreturn]] void fail(const char* what) { sqlite::fail(db_, what); }
    void exec(const std::string& sql) { sqlite::exec(db_, sql); }
    void step_done(sqlite3_stmt* s) { sqlite::step_done(db_, s); }
    void bind_key(sqlite3_stmt* s, int col, std::uint32_t keynum) {
        const R& r = rows_[keynum];
        if constexpr (str)
            sqlite3_bind_text(s, col, r.key.data(), static_cast<int>(r.key.size()), SQLITE_STATIC);
        else
            sqlite3_bind_int64(s, col, static_cast<sqlite3_int64>(r.key));
    }
    std::uint64_t row_sum(sqlite3_stmt* s) {
        record_sum sum;
        if constexpr (str)
            sum.key(text(s, 0));
        else
            sum.key(static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)));
        for (int i = 1; i <= F; ++i) sum.add(text(s, i));
        return sum.done();
    }
    std::uint64_t read(std::uint32_t keynum) {
        bind_key(read_, 1, keynum);
        int rc = sqlite3_step(read_);
        if (rc == SQLITE_DONE) missing(keynum);
        if (rc != SQLITE_ROW) fail("read");
        std::uint64_t s = row_sum(read_);
        sqlite3_reset(read_);
        return s;
    }
    void update(const op& o) {
        sqlite3_stmt* s = update_[o.field];
        const std::string& v = values_[o.value];
        sqlite3_bind_text(s, 1, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        bind_key(s, 2, o.keynum);
        step_done(s);
        if (sqlite3_changes(db_) != 1) missing(o.keynum);
    }
    void insert(const R& r) {
        if constexpr (str)
            sqlite3_bind_text(insert_, 1, r.key.data(), static_cast<int>(r.key.size()), SQLITE_STATIC);
        else
            sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(r.key));
        for (int i = 0; i < F; ++i) {
            const std::string& f = field(r, static_cast<std::size_t>(i));
            sqlite3_bind_text(insert_, i + 2, f.data(), static_cast<int>(f.size()), SQLITE_STATIC);
        }
        step_done(insert_);
    }

    std::filesystem::path dir_;
    const std::vector<R>& rows_;
    const std::vector<std::string>& values_;
    sqlite3* db_ = nullptr;
    statement begin_, begin_immediate_, commit_, insert_, read_, scan_, all_;
    statement update_[F];
};

}  // namespace

std::unique_ptr<Engine> make_sqlite(shape s, const std::filesystem::path& dir, sync_mode m, const Data& d) {
    if (s == shape::str10) return std::make_unique<sqlite_engine<UserRow>>(dir, m, d);
    return std::make_unique<sqlite_engine<UserInt>>(dir, m, d);
}

}  // namespace bench::ycsb
