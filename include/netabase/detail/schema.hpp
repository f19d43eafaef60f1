// Opening a store's tables: one named database per table and per index, the metadata that
// records each table's fingerprint, and building indexes that are new since the last open.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/detail/buffer.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"
#include "netabase/key.hpp"
#include "netabase/model.hpp"

#include <lmdb.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace netabase::detail {

inline constexpr const char* meta_name = "__netabase";

template <class Def>
struct tables_of;
template <class... Ms>
struct tables_of<definition<Ms...>> {
    using type = std::tuple<table_state<model_traits<Ms>::index_count>...>;
    static constexpr unsigned databases = (0u + ... + (1u + static_cast<unsigned>(model_traits<Ms>::index_count)));
};

template <class Def>
struct store_state {
    std::shared_ptr<environment> env;
    typename tables_of<Def>::type tables;
    std::filesystem::path remove_on_close;  // set by Store::temporary()
    bool read_only = false;                 // this Store's option, even over a shared read-write environment

    store_state() = default;
    store_state(const store_state&) = delete;
    store_state& operator=(const store_state&) = delete;
    ~store_state() {
        env.reset();
        if (!remove_on_close.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(remove_on_close, ec);
        }
    }

    template <class M>
    const auto& table() const noexcept {
        return std::get<Def::template index_of<M>>(tables);
    }
};

// A table's fingerprint as stored in the metadata: one "what=value" line each.
struct fingerprint {
    std::string fields;
    std::string primary;
    std::vector<std::string> indexes;  // "<id>:<unique|multi>:<key type>"

    std::string serialize() const {
        std::string s = "netabase/" + std::to_string(encoding_version) + "\nfields=" + fields + "\nprimary=" + primary;
        for (const auto& i : indexes) s += "\nindex=" + i;
        return s;
    }

    static fingerprint parse(std::string_view s) {
        fingerprint f;
        while (!s.empty()) {
            auto nl = s.find('\n');
            std::string_view line = s.substr(0, nl);
            s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
            if (line.starts_with("fields="))
                f.fields = line.substr(7);
            else if (line.starts_with("primary="))
                f.primary = line.substr(8);
            else if (line.starts_with("index="))
                f.indexes.emplace_back(line.substr(6));
        }
        return f;
    }
};

template <class M>
fingerprint fingerprint_of() {
    using traits = model_traits<M>;
    fingerprint f;
    describe_type<M>(f.fields);
    f.primary = traits::decl.primary.id() + ":";
    describe_type<typename traits::key_type>(f.primary);
    for_each_secondary<M>([&](const auto& sec, auto) {
        using K = typename std::remove_cvref_t<decltype(sec.key)>::value_type;
        std::string line = sec.key.id() + (sec.unique ? ":unique:" : ":multi:");
        describe_type<K>(line);
        f.indexes.push_back(std::move(line));
    });
    return f;
}

inline std::string index_id(std::string_view line) { return std::string(line.substr(0, line.find(':'))); }

[[noreturn]] inline void throw_mismatch(const std::string& table, const std::string& what) {
    throw error(errc::schema_mismatch, "schema mismatch in table '" + table + "': " + what, table);
}

class schema_opener {
public:
    schema_opener(environment& env, MDB_txn* txn) : env_(env), txn_(txn) {
        meta_ = open_db(meta_name, false, !env.read_only());
    }

    template <class M, std::size_t N>
    void open(table_state<N>& t) {
        t.name = std::string(model_traits<M>::decl.name);
        if (t.name.empty() || t.name.starts_with(meta_name) || t.name.find('/') != std::string::npos)
            throw error(errc::invalid_argument,
                        "table name '" + t.name + "' is empty, contains '/', or starts with '__netabase'", t.name);
        const bool rw = !env_.read_only();
        t.dbi = open_db(t.name, false, rw, &t.name);

        fingerprint now = fingerprint_of<M>();
        std::string meta_key = "table:" + t.name;
        std::optional<fingerprint> stored;
        {
            MDB_val k{meta_key.size(), meta_key.data()}, v;
            int rc = mdb::get(txn_, meta_, &k, &v);
            if (rc == 0)
                stored = fingerprint::parse({static_cast<const char*>(v.mv_data), v.mv_size});
            else if (rc != MDB_NOTFOUND)
                throw_lmdb(rc, "cannot read the metadata", t.name);
        }
        if (stored) {
            if (stored->fields != now.fields)
                throw_mismatch(t.name,
                               "the fields changed: stored " + stored->fields + ", the model now has " + now.fields);
            if (stored->primary != now.primary)
                throw_mismatch(t.name, "the primary key changed: stored " + stored->primary + ", the model now has " +
                                           now.primary);
        }

        std::vector<std::size_t> to_build;
        // Indexes that are gone or whose declaration changed are dropped first: a changed one
        // keeps its name and is rebuilt below.
        if (stored) {
            for (const auto& old : stored->indexes) {
                if (std::find(now.indexes.begin(), now.indexes.end(), old) != now.indexes.end()) continue;
                if (!rw)
                    throw_mismatch(t.name, "index " + index_id(old) +
                                               " was removed or changed; open the store read-write once to update it");
                std::string name = t.name + "/" + index_id(old);
                MDB_dbi gone = open_db(name, false, false, &t.name, true);
                if (gone) check_rc(mdb::drop(txn_, gone, 1), "cannot drop index " + name, t.name);
            }
        }
        for_each_secondary<M>([&](const auto& sec, auto pos) {
            constexpr std::size_t i = decltype(pos)::value;
            index_state& ix = t.indexes[i];
            ix.unique = sec.unique;
            ix.name = t.name + "/" + sec.key.id();
            bool known = stored && std::find(stored->indexes.begin(), stored->indexes.end(), now.indexes[i]) !=
                                       stored->indexes.end();
            if (!known && !rw)
                throw_mismatch(t.name, "index '" + ix.name + "' is new; open the store read-write once to build it");
            ix.dbi = open_db(ix.name, !sec.unique, rw, &t.name);
            if (!known) to_build.push_back(i);
        });
        for (std::size_t a = 0; a < N; ++a)
            for (std::size_t b = a + 1; b < N; ++b)
                if (t.indexes[a].name == t.indexes[b].name)
                    throw error(errc::invalid_argument,
                                "table '" + t.name + "' declares index '" + t.indexes[a].name + "' twice", t.name);

        if (!to_build.empty()) build<M>(t, to_build);
        if (rw && (!stored || stored->serialize() != now.serialize())) {
            std::string value = now.serialize();
            MDB_val k{meta_key.size(), meta_key.data()}, v{value.size(), value.data()};
            check_rc(mdb::put(txn_, meta_, &k, &v, 0), "cannot write the metadata", t.name);
        }
    }

private:
    void check_rc(int rc, const std::string& what, const std::string& table) {
        if (rc) throw_lmdb(rc, what, table);
    }

    MDB_dbi open_db(const std::string& name, bool dupsort, bool create, const std::string* table = nullptr,
                    bool may_be_missing = false) {
        MDB_dbi dbi = 0;
        unsigned flags = (create ? MDB_CREATE : 0u) | (dupsort ? MDB_DUPSORT : 0u);
        int rc = ::mdb_dbi_open(txn_, name.c_str(), flags, &dbi);
        if (rc == MDB_NOTFOUND && may_be_missing) return 0;
        if (rc == MDB_NOTFOUND)
            throw error(errc::not_found,
                        "table '" + name + "' does not exist in " + env_.path().string() +
                            " (opened read-only); open the store read-write once to create it",
                        table ? *table : name);
        if (rc == MDB_INCOMPATIBLE)
            throw error(errc::schema_mismatch,
                        "database '" + name + "' exists with other flags (unique vs non-unique index?)",
                        table ? *table : name);
        if (rc) throw_lmdb(rc, "cannot open database '" + name + "'", table ? *table : name);
        return dbi;
    }

    // Fills new indexes from the table's rows, inside the opening transaction.
    template <class M, std::size_t N>
    void build(const table_state<N>& t, const std::vector<std::size_t>& which) {
        for (std::size_t i : which) check_rc(mdb::drop(txn_, t.indexes[i].dbi, 0), "cannot clear index", t.name);
        cursor c(txn_, t.dbi);
        MDB_val k, v;
        M row{};
        buffer sk;
        for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT)) {
            try {
                decode_row(to_span(v), row);
            } catch (const error& e) {
                throw error(e.code(), e.description() + " (building the indexes of table '" + t.name + "')", t.name);
            }
            for_each_secondary<M>([&](const auto& sec, auto pos) {
                constexpr std::size_t i = decltype(pos)::value;
                const index_state& ix = t.indexes[i];
                if (std::find(which.begin(), which.end(), i) == which.end()) return;
                auto add = [&](const auto& key) {
                    sk.clear();
                    encode_key(sk, key);
                    if (sk.size() > env_.max_key_size())
                        throw error(errc::key_too_large,
                                    "cannot build index '" + ix.name + "': key " + describe_key(key) +
                                        " is over LMDB's key limit",
                                    t.name, ix.name);
                    MDB_val skv = to_val(sk.span()), pk = k;
                    int rc = mdb::put(txn_, ix.dbi, &skv, &pk, ix.unique ? MDB_NOOVERWRITE : 0u);
                    if (rc == MDB_KEYEXIST) {
                        MDB_val owner;  // a multi-key row may list one key twice
                        if (mdb::get(txn_, ix.dbi, &skv, &owner) == 0 && compare(to_span(owner), to_span(k)) == 0)
                            return;
                        throw error(
                            errc::unique_violation,
                            "cannot build unique index '" + ix.name + "': two rows share key " + describe_key(key),
                            t.name, ix.name);
                    }
                    check_rc(rc, "cannot build index " + ix.name, t.name);
                };
                for_each_key(sec, row, add);
            });
        }
    }

    environment& env_;
    MDB_txn* txn_;
    MDB_dbi meta_ = 0;
};

// Opens (read-write: creates) every table and index of Def in one transaction.
template <class Def>
void open_tables(store_state<Def>& st) {
    environment& env = *st.env;
    std::lock_guard dbi_lock(env.dbi_mutex());
    auto run = [&](MDB_txn* txn) {
        schema_opener opener(env, txn);
        [&]<class... Ms>(definition<Ms...>*) {
            (opener.template open<Ms>(std::get<Def::template index_of<Ms>>(st.tables)), ...);
        }(static_cast<Def*>(nullptr));
    };
    if (env.read_only()) {
        env.enter();
        MDB_txn* txn = nullptr;
        if (int rc = mdb::txn_begin(env.get(), nullptr, MDB_RDONLY, &txn)) {
            env.leave();
            throw_lmdb(rc, "cannot begin the opening transaction");
        }
        try {
            run(txn);
        } catch (...) {
            ::mdb_txn_abort(txn);
            env.leave();
            throw;
        }
        int rc = mdb::txn_commit(txn);  // a read-only commit keeps the opened handles
        env.leave();
        check(rc, "cannot finish the opening transaction");
        return;
    }
    MDB_txn* txn = env.begin_write();
    try {
        run(txn);
    } catch (...) {
        ::mdb_txn_abort(txn);
        env.end_write();
        throw;
    }
    int rc = mdb::txn_commit(txn);
    env.end_write();
    check(rc, "cannot commit the opening transaction");
}

}  // namespace netabase::detail
