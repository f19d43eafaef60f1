// store.verify(): walks every table and index and reports what does not agree.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/detail/buffer.hpp"
#include "netabase/detail/lmdb.hpp"
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

template <class M>
std::string describe_pk(std::span<const std::byte> pk) {
    try {
        return describe_key(decode_key_bytes<key_of<M>>(pk));
    } catch (const error&) {
        return "<" + std::to_string(pk.size()) + " undecodable bytes>";
    }
}

// Calls fn(encoded key bytes) for each key row m has in the index of `sec`.
template <class Sec, class M, class Fn>
void each_index_key(const Sec& sec, const M& m, Fn&& fn) {
    buffer b;
    for_each_key(sec, m, [&](const auto& k) {
        b.clear();
        encode_key(b, k);
        fn(b.span());
    });
}

template <class M, std::size_t N>
void verify_table(MDB_txn* txn, const table_state<N>& t, verify_report& report) {
    using problem = verify_report::problem;
    using issue = verify_report::kind;
    cursor rows(txn, t.dbi);
    MDB_val k, v;
    M row{};
    for (bool ok = rows.move(k, v, MDB_FIRST); ok; ok = rows.move(k, v, MDB_NEXT)) {
        ++report.rows;
        try {
            decode_row(to_span(v), row);
        } catch (const error& e) {
            report.problems.push_back(
                problem{issue::undecodable_row, t.name, {}, describe_pk<M>(to_span(k)), e.description()});
            continue;
        }
        for_each_secondary<M>([&](const auto& sec, auto pos) {
            const index_state& ix = t.indexes[decltype(pos)::value];
            each_index_key(sec, row, [&](std::span<const std::byte> sk) {
                MDB_val skv = to_val(sk), pk = k;
                bool present;
                if (ix.unique) {
                    MDB_val owner;
                    present = ::mdb_get(txn, ix.dbi, &skv, &owner) == 0 && compare(to_span(owner), to_span(k)) == 0;
                } else {
                    cursor c(txn, ix.dbi);
                    present = c.move(skv, pk, MDB_GET_BOTH);
                }
                if (!present)
                    report.problems.push_back(
                        problem{issue::missing_entry, t.name, ix.name, describe_pk<M>(to_span(k)), {}});
            });
        });
    }

    for_each_secondary<M>([&](const auto& sec, auto pos) {
        const index_state& ix = t.indexes[decltype(pos)::value];
        using K = typename std::remove_cvref_t<decltype(sec.key)>::value_type;
        cursor entries(txn, ix.dbi);
        MDB_val sk, pk;
        M owner{};
        for (bool ok = entries.move(sk, pk, MDB_FIRST); ok; ok = entries.move(sk, pk, MDB_NEXT)) {
            ++report.entries;
            try {
                (void)decode_key_bytes<K>(to_span(sk));
            } catch (const error& e) {
                report.problems.push_back(
                    problem{issue::undecodable_entry, t.name, ix.name, describe_pk<M>(to_span(pk)), e.description()});
                continue;
            }
            MDB_val key = pk, value;
            if (::mdb_get(txn, t.dbi, &key, &value) != 0) {
                report.problems.push_back(
                    problem{issue::orphan_entry, t.name, ix.name, describe_pk<M>(to_span(pk)), {}});
                continue;
            }
            try {
                decode_row(to_span(value), owner);
            } catch (const error&) {
                continue;  // reported with the rows
            }
            bool has = false;
            each_index_key(sec, owner,
                           [&](std::span<const std::byte> k2) { has = has || compare(k2, to_span(sk)) == 0; });
            if (!has)
                report.problems.push_back(
                    problem{issue::stale_entry, t.name, ix.name, describe_pk<M>(to_span(pk)), {}});
        }
    });
}

}  // namespace detail
}  // namespace netabase
