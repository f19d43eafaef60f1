// store.verify(): walks every table and index and reports what does not agree.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/codec.hpp"
#include "netabase/detail/buffer.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/schema.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/key.hpp"
#include "netabase/model.hpp"

#include <lmdb.h>

#include <cstddef>
#include <string>
#include <vector>

namespace netabase {

struct verify_report {
    enum class kind {
        undecodable_row,    // a stored value that does not decode
        missing_entry,      // a row without one of its index entries
        orphan_entry,       // an index entry whose row is not there
        stale_entry,        // an index entry whose row no longer has that key
        undecodable_entry,  // an index entry whose bytes are not a key of the index's type
    };
    struct problem {
        kind what;
        std::string table;
        std::string index;  // empty for a row problem
        std::string key;    // the row's primary key, as text
        // For a row: why it does not decode. For an index: the key the row has no entry for,
        // or the entry's key bytes (in hex), with why they do not decode or the row's keys.
        std::string detail;
    };

    std::vector<problem> problems;
    std::size_t rows = 0;     // rows walked, over all tables
    std::size_t entries = 0;  // index entries walked, over all indexes

    bool ok() const noexcept { return problems.empty(); }
    std::string to_string() const {
        static const char* names[] = {"undecodable row", "missing index entry", "orphan index entry",
                                      "stale index entry", "undecodable index entry"};
        std::string s = std::to_string(rows) + " rows, " + std::to_string(entries) + " index entries, " +
                        std::to_string(problems.size()) + " problems";
        for (const auto& p : problems) {
            s += "\n  ";
            s += names[static_cast<int>(p.what)];
            s += ": table '" + p.table + "'";
            if (!p.index.empty()) s += ", index '" + p.index + "'";
            if (!p.key.empty()) s += ", key " + p.key;
            if (!p.detail.empty()) s += " (" + p.detail + ")";
        }
        return s;
    }
};

namespace detail {

// The state verify_table's key callbacks share.
struct verify_pass {
    MDB_txn* txn;
    const std::string* table;
    const table_schema* schema;
    verify_report* report;
    const index_state* ix = nullptr;
    MDB_val pk{};                      // the row's primary key
    std::span<const std::byte> entry;  // the index entry looked for among the row's keys
    bool has = false;
    // The keys of the current row and index already reported missing: a netabase::keys range
    // that repeats a key has one entry for it, so one report.
    std::vector<std::vector<std::byte>> reported;
    std::string* keys = nullptr;  // when set, verify_describe_key appends each key of the row here
};

// An index entry's key bytes, for a report (the index's key type is not known here).
inline std::string describe_entry(std::span<const std::byte> sk) {
    std::string s = "entry key ";
    describe_bytes(s, sk, s.size());
    return s;
}

// A row's key: reports it when its index has no entry for it.
inline void verify_row_key(void* ctx, std::span<const std::byte> sk, const void* value,
                           std::string (*describe)(const void*)) {
    auto& p = *static_cast<verify_pass*>(ctx);
    const index_state& ix = *p.ix;
    MDB_val skv = to_val(sk), pk = p.pk;
    bool present;
    if (ix.unique) {
        MDB_val owner;
        int rc = mdb::get(p.txn, ix.dbi, &skv, &owner);
        if (rc != 0 && rc != MDB_NOTFOUND) throw_lmdb(rc, "verify: mdb_get of an index entry failed", *p.table, ix.name);
        present = rc == 0 && compare(to_span(owner), to_span(p.pk)) == 0;
    } else {
        cursor c(p.txn, ix.dbi);
        present = c.move(skv, pk, MDB_GET_BOTH);
    }
    if (present) return;
    for (const auto& r : p.reported)
        if (compare(sk, std::span<const std::byte>(r)) == 0) return;  // the same key, repeated in the row
    p.reported.emplace_back(sk.begin(), sk.end());
    p.report->problems.push_back(verify_report::problem{verify_report::kind::missing_entry, *p.table, ix.name,
                                                        p.schema->describe_pk(to_span(p.pk)),
                                                        "no entry for " + describe(value)});
}

// A row's key: is it the index entry being checked?
inline void verify_entry_key(void* ctx, std::span<const std::byte> sk, const void*, std::string (*)(const void*)) {
    auto& p = *static_cast<verify_pass*>(ctx);
    p.has = p.has || compare(sk, p.entry) == 0;
}

// A row's key, described for a stale entry's report.
inline void verify_describe_key(void* ctx, std::span<const std::byte>, const void* value,
                                std::string (*describe)(const void*)) {
    auto& p = *static_cast<verify_pass*>(ctx);
    if (!p.keys->empty()) *p.keys += ", ";
    *p.keys += describe(value);
}

// Walks one table's rows and its indexes' entries and reports what does not agree. Not a
// template: what depends on the model comes through its table_schema.
[[gnu::cold, gnu::noinline]] inline void verify_table(MDB_txn* txn, const table_schema& s, const std::string& table,
                                                      MDB_dbi dbi, const index_state* indexes,
                                                      verify_report& report) {
    using problem = verify_report::problem;
    using issue = verify_report::kind;
    buffer scratch;
    verify_pass pass{txn, &table, &s, &report, nullptr, {}, {}, false, {}, nullptr};
    {
        cursor rows(txn, dbi);
        MDB_val k, v;
        erased_row row(s);
        const key_sink sink{&verify_row_key, &pass};
        for (bool ok = rows.move(k, v, MDB_FIRST); ok; ok = rows.move(k, v, MDB_NEXT)) {
            ++report.rows;
            try {
                s.decode_row(to_span(v), row.get());
            } catch (const error& e) {
                report.problems.push_back(
                    problem{issue::undecodable_row, table, {}, s.describe_pk(to_span(k)), e.description()});
                continue;
            }
            pass.pk = k;
            for (std::size_t i = 0; i < s.index_count; ++i) {
                pass.ix = &indexes[i];
                pass.reported.clear();
                s.row_keys(row.get(), i, scratch, sink);
            }
        }
    }

    const key_sink sink{&verify_entry_key, &pass};
    for (std::size_t i = 0; i < s.index_count; ++i) {
        const index_state& ix = indexes[i];
        cursor entries(txn, ix.dbi);
        MDB_val sk, pk;
        erased_row owner(s);
        for (bool ok = entries.move(sk, pk, MDB_FIRST); ok; ok = entries.move(sk, pk, MDB_NEXT)) {
            ++report.entries;
            try {
                s.indexes[i].check_key(to_span(sk));
            } catch (const error& e) {
                report.problems.push_back(problem{issue::undecodable_entry, table, ix.name,
                                                  s.describe_pk(to_span(pk)),
                                                  describe_entry(to_span(sk)) + ": " + e.description()});
                continue;
            }
            MDB_val key = pk, value;
            int rc = mdb::get(txn, dbi, &key, &value);
            if (rc != 0 && rc != MDB_NOTFOUND)
                throw_lmdb(rc, "verify: mdb_get of the row an index entry names failed", table, ix.name);
            if (rc == MDB_NOTFOUND) {
                report.problems.push_back(problem{issue::orphan_entry, table, ix.name, s.describe_pk(to_span(pk)),
                                                  describe_entry(to_span(sk)) + "; no row has this primary key"});
                continue;
            }
            try {
                s.decode_row(to_span(value), owner.get());
            } catch (const error&) {
                continue;  // reported with the rows
            }
            pass.entry = to_span(sk);
            pass.has = false;
            s.row_keys(owner.get(), i, scratch, sink);
            if (!pass.has) {
                std::string keys;
                pass.keys = &keys;
                s.row_keys(owner.get(), i, scratch, key_sink{&verify_describe_key, &pass});
                pass.keys = nullptr;
                report.problems.push_back(problem{issue::stale_entry, table, ix.name, s.describe_pk(to_span(pk)),
                                                  describe_entry(to_span(sk)) + "; the row's keys: " +
                                                      (keys.empty() ? std::string("none") : keys)});
            }
        }
    }
}

}  // namespace detail
}  // namespace netabase
