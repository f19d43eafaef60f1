// Index contents checked against the rows, below the API: every index entry of a table is
// compared with what its rows imply, entry by entry, through LMDB's own calls on the store's
// files. What the rows imply is computed here from the model's declaration (each secondary
// key's extractor, applied to each decoded row) and netabase::encode_key, not through
// netabase's write or verify code, so a test that uses it does not trust verify() alone.
//
//   std::string diff = netabase_test::index_mismatches<Item>(dir);   // empty: exact
//
// It opens a second, lock-free, read-only LMDB environment on the directory (MDB_NOLOCK: no
// lock file, so closing it releases none of the store's locks). That is safe with the store
// open in this process, as long as no write transaction runs meanwhile (a test calls it
// between transactions, or with the store closed).
#pragma once

#include <netabase/netabase.hpp>

#include <lmdb.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace netabase_test {

// A raw LMDB environment on a store's directory, with no netabase in between.
class raw_env {
public:
    // read_only: MDB_RDONLY | MDB_NOLOCK (safe beside an open store, between its transactions).
    // Otherwise a writable environment with its lock file: only on a closed store.
    raw_env(const std::filesystem::path& dir, bool read_only) {
        ok(::mdb_env_create(&env_), "mdb_env_create");
        try {
            ok(::mdb_env_set_maxdbs(env_, 256), "mdb_env_set_maxdbs");
            ok(::mdb_env_open(env_, dir.c_str(), read_only ? MDB_RDONLY | MDB_NOLOCK : 0u, 0644), "mdb_env_open");
        } catch (...) {
            ::mdb_env_close(env_);
            throw;
        }
    }
    raw_env(const raw_env&) = delete;
    raw_env& operator=(const raw_env&) = delete;
    ~raw_env() { ::mdb_env_close(env_); }
    MDB_env* get() const noexcept { return env_; }

    static void ok(int rc, const std::string& what) {
        if (rc != 0) throw std::runtime_error(what + ": " + ::mdb_strerror(rc));
    }

private:
    MDB_env* env_ = nullptr;
};

// One transaction on a raw_env: aborted unless committed.
class raw_txn {
public:
    raw_txn(const raw_env& env, bool read_only) {
        raw_env::ok(::mdb_txn_begin(env.get(), nullptr, read_only ? MDB_RDONLY : 0u, &txn_), "mdb_txn_begin");
    }
    raw_txn(const raw_txn&) = delete;
    raw_txn& operator=(const raw_txn&) = delete;
    ~raw_txn() {
        if (txn_) ::mdb_txn_abort(txn_);
    }
    MDB_txn* get() const noexcept { return txn_; }
    void commit() {
        MDB_txn* t = std::exchange(txn_, nullptr);
        raw_env::ok(::mdb_txn_commit(t), "mdb_txn_commit");
    }

    // An existing named database (never created); its flags are checked against dupsort.
    MDB_dbi open(const std::string& name, bool dupsort) const {
        MDB_dbi dbi;
        raw_env::ok(::mdb_dbi_open(txn_, name.c_str(), 0, &dbi), "mdb_dbi_open(" + name + ")");
        unsigned flags = 0;
        raw_env::ok(::mdb_dbi_flags(txn_, dbi, &flags), "mdb_dbi_flags(" + name + ")");
        if (((flags & MDB_DUPSORT) != 0) != dupsort)
            throw std::runtime_error("database '" + name + "' is " + (dupsort ? "not " : "") + "MDB_DUPSORT");
        return dbi;
    }

    // Every (key, value) pair of a database in LMDB's order, each duplicate included.
    std::vector<std::pair<std::string, std::string>> entries(MDB_dbi dbi) const {
        std::vector<std::pair<std::string, std::string>> out;
        MDB_cursor* c = nullptr;
        raw_env::ok(::mdb_cursor_open(txn_, dbi, &c), "mdb_cursor_open");
        MDB_val k, v;
        int rc;
        for (rc = ::mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = ::mdb_cursor_get(c, &k, &v, MDB_NEXT))
            out.emplace_back(str(k), str(v));
        ::mdb_cursor_close(c);
        if (rc != MDB_NOTFOUND) raw_env::ok(rc, "mdb_cursor_get");
        return out;
    }

    static std::string str(const MDB_val& v) { return std::string(static_cast<const char*>(v.mv_data), v.mv_size); }

private:
    MDB_txn* txn_ = nullptr;
};

inline std::string bytes_of(const std::vector<std::byte>& b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

template <class T>
std::string key_bytes(const T& v) {
    return bytes_of(netabase::encode_key(v));
}

inline std::span<const std::byte> span_of(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A key's bytes as text: the key of type K they decode to, or their hex.
template <class K>
std::string describe_bytes_as(const std::string& bytes) {
    try {
        return netabase::detail::describe_key(netabase::decode_key<K>(span_of(bytes)));
    } catch (const netabase::error&) {
        std::string s = "0x";
        netabase::detail::append_hex(s, bytes, bytes.size());
        return s + " (not a key of its type)";
    }
}

// The differences between table M's indexes and its rows, one line each (at most `limit`
// lines per index and per kind); empty when every index holds exactly the entries its rows
// imply. `table` is the LMDB database holding the rows (the table's name unless renamed).
// A row that does not decode, a row stored under a key other than its primary key, two rows
// sharing a unique key and a database with the wrong flags are differences too.
template <class M>
std::string index_mismatches_in(const raw_txn& txn, std::string table = {}, std::size_t limit = 8) {
    using traits = netabase::detail::model_traits<M>;
    using PK = typename traits::key_type;
    if (table.empty()) table = std::string(traits::decl.name);
    std::string out;
    auto line = [&](const std::string& s) { out += s + "\n"; };

    std::vector<std::pair<std::string, M>> rows;  // (primary key bytes, row), in key order
    for (auto& [k, v] : txn.entries(txn.open(table, false))) {
        M m{};
        try {
            netabase::detail::decode_row(span_of(v), m);
        } catch (const netabase::error& e) {
            line("table '" + table + "': row " + describe_bytes_as<PK>(k) + " does not decode: " + e.what());
            continue;
        }
        const std::string pk = key_bytes(traits::decl.primary(m));
        if (pk != k)
            line("table '" + table + "': row stored under " + describe_bytes_as<PK>(k) + " has the primary key " +
                 describe_bytes_as<PK>(pk));
        rows.emplace_back(k, std::move(m));
    }

    netabase::detail::for_each_secondary<M>([&](const auto& sec, auto) {
        using Sec = std::remove_cvref_t<decltype(sec)>;
        using Key = std::remove_cvref_t<decltype(sec.key)>;
        using K = typename Key::value_type;
        const std::string name = table + "/" + sec.key.id();

        std::vector<std::pair<std::string, std::string>> want;  // (secondary key, primary key)
        for (const auto& [pk, m] : rows) {
            auto add = [&](const K& k) { want.emplace_back(key_bytes(k), pk); };
            if constexpr (Key::multi) {
                for (const auto& k : sec.key(m)) add(k);
            } else if constexpr (Sec::sparse) {
                const auto& k = sec.key(m);
                if (k.has_value()) add(k);
            } else {
                add(sec.key(m));
            }
        }
        std::sort(want.begin(), want.end());  // std::string orders bytes as unsigned, as LMDB does
        want.erase(std::unique(want.begin(), want.end()), want.end());  // a key repeated in one row
        if constexpr (Sec::unique)
            for (std::size_t i = 1; i < want.size(); ++i)
                if (want[i].first == want[i - 1].first)
                    line("index '" + name + "': rows " + describe_bytes_as<PK>(want[i - 1].second) + " and " +
                         describe_bytes_as<PK>(want[i].second) + " share the unique key " +
                         describe_bytes_as<K>(want[i].first));

        std::vector<std::pair<std::string, std::string>> have;
        try {
            have = txn.entries(txn.open(name, !Sec::unique));
        } catch (const std::exception& e) {
            line("index '" + name + "': " + e.what());
            return;
        }
        if (!std::is_sorted(have.begin(), have.end()))
            line("index '" + name + "': LMDB's order is not the order of the encoded bytes");
        std::sort(have.begin(), have.end());
        std::size_t missing = 0, extra = 0;
        auto entry = [&](const std::pair<std::string, std::string>& e) {
            return describe_bytes_as<K>(e.first) + " -> " + describe_bytes_as<PK>(e.second);
        };
        auto w = want.begin(), h = have.begin();
        while (w != want.end() || h != have.end()) {
            if (h == have.end() || (w != want.end() && *w < *h)) {
                if (missing++ < limit) line("index '" + name + "': no entry " + entry(*w));
                ++w;
            } else if (w == want.end() || *h < *w) {
                if (extra++ < limit) line("index '" + name + "': entry " + entry(*h) + " is not implied by any row");
                ++h;
            } else {
                ++w;
                ++h;
            }
        }
        if (missing > limit) line("index '" + name + "': " + std::to_string(missing) + " entries missing in all");
        if (extra > limit) line("index '" + name + "': " + std::to_string(extra) + " entries too many in all");
    });
    return out;
}

template <class M>
std::string index_mismatches(const std::filesystem::path& dir, std::string table = {}) {
    raw_env env(dir, true);
    raw_txn txn(env, true);
    return index_mismatches_in<M>(txn, std::move(table));
}

// The number of entries of each index of table M, from the raw databases (for a test to
// prove that the comparison above had something to compare).
template <class M>
std::size_t raw_index_entries(const std::filesystem::path& dir) {
    using traits = netabase::detail::model_traits<M>;
    raw_env env(dir, true);
    raw_txn txn(env, true);
    std::size_t n = 0;
    netabase::detail::for_each_secondary<M>([&](const auto& sec, auto) {
        n += txn.entries(txn.open(std::string(traits::decl.name) + "/" + sec.key.id(),
                                  !std::remove_cvref_t<decltype(sec)>::unique))
                 .size();
    });
    return n;
}

}  // namespace netabase_test
