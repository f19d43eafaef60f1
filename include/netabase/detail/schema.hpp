// Opening a store's tables: one named database per table and per index, the metadata that
// records each table's fingerprint, and building indexes that are new since the last open.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/detail/buffer.hpp"
#include "netabase/detail/describe.hpp"
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

    [[gnu::cold]] std::string serialize() const {
        std::string s = "netabase/" + std::to_string(encoding_version) + "\nfields=" + fields + "\nprimary=" + primary;
        for (const auto& i : indexes) s += "\nindex=" + i;
        return s;
    }

    [[gnu::cold]] static fingerprint parse(std::string_view s) {
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

// describe_type() at run time: only for a model with a codec whose name is not a
// compile-time constant (and the tests, which compare it with the constants).
template <class M>
[[gnu::cold, gnu::noinline]] fingerprint fingerprint_of() {
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

// Receives each key a row has under one index: its encoded bytes and, for error messages,
// the key itself with the function that describes it.
struct key_sink {
    void (*fn)(void* ctx, std::span<const std::byte> key, const void* value, std::string (*describe)(const void*));
    void* ctx;
    void operator()(std::span<const std::byte> key, const void* value, std::string (*describe)(const void*)) const {
        fn(ctx, key, value, describe);
    }
};

template <class K>
[[gnu::cold, gnu::noinline]] std::string describe_erased_key(const void* k) {
    return describe_key(*static_cast<const K*>(k));
}

// A primary key's bytes as text for a report: the key, or how many bytes did not decode.
template <class K>
[[gnu::cold, gnu::noinline]] std::string describe_key_bytes(std::span<const std::byte> pk) {
    try {
        return describe_key(decode_key_bytes<K>(pk));
    } catch (const error&) {
        return "<" + std::to_string(pk.size()) + " undecodable bytes>";
    }
}

// Throws when the bytes are not one key of type K.
template <class K>
[[gnu::cold, gnu::noinline]] void check_key_bytes(std::span<const std::byte> bytes) {
    (void)decode_key_bytes<K>(bytes);
}

// What opening, index building and verify() need to know about a model, as constants and
// the few functions that depend on the model's type. The code that uses it is not a template,
// so a model costs this table and these small functions, not a copy of the opener.
struct index_schema {
    std::string_view id;    // "1" for field 1, "by_name" for a named key
    std::string_view line;  // its fingerprint line, "<id>:<unique|multi>:<key type>"
    bool unique;
    void (*check_key)(std::span<const std::byte>);
};

struct table_schema {
    std::string_view name;
    std::string_view fields;   // the fingerprint's "fields=" value
    std::string_view primary;  // the fingerprint's "primary=" value
    const index_schema* indexes;
    std::size_t index_count;
    // Set when a codec's name is known at run time only: the fingerprint, made at run time.
    fingerprint (*make_fingerprint)();
    void* (*new_row)();
    void (*delete_row)(void*) noexcept;
    void (*decode_row)(std::span<const std::byte>, void* row);  // throws error on a bad value
    // Calls out(...) for each key *row has under index `index`, encoded into `scratch`.
    void (*row_keys)(const void* row, std::size_t index, buffer& scratch, const key_sink& out);
    std::string (*describe_pk)(std::span<const std::byte>);
};

template <class M>
void* new_row_of() {
    return new M{};
}

template <class M>
void delete_row_of(void* row) noexcept {
    delete static_cast<M*>(row);
}

template <class M>
void decode_row_of(std::span<const std::byte> bytes, void* row) {
    decode_row(bytes, *static_cast<M*>(row));
}

template <class M>
void row_keys_of(const void* row, std::size_t index, buffer& scratch, const key_sink& out) {
    const M& m = *static_cast<const M*>(row);
    for_each_secondary<M>([&](const auto& sec, auto pos) {
        if (decltype(pos)::value != index) return;
        for_each_key(sec, m, [&](const auto& key) {
            using K = std::remove_cvref_t<decltype(key)>;
            scratch.clear();
            encode_key(scratch, key);
            out(scratch.span(), &key, &describe_erased_key<K>);
        });
    });
}

template <class M>
struct schema_constants {
    static constexpr std::size_t n = model_traits<M>::index_count;
    static constexpr bool constant = [] {
        bool ok = fixed_text<fields_text<M>>::constant && fixed_text<primary_text<M>>::constant;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((ok = ok && fixed_text<index_line_text<M, I>>::constant), ...);
        }
        (std::make_index_sequence<n>{});
        return ok;
    }();
    static constexpr auto indexes = []<std::size_t... I>(std::index_sequence<I...>) {
        return std::array<index_schema, n>{index_schema{
            fixed_text<index_id_text<M, I>>::value, fixed_text<index_line_text<M, I>>::value,
            std::get<I>(model_traits<M>::decl.secondaries).unique,
            &check_key_bytes<typename std::remove_cvref_t<
                decltype(std::get<I>(model_traits<M>::decl.secondaries).key)>::value_type>}...};
    }(std::make_index_sequence<n>{});
    static constexpr table_schema table{model_traits<M>::decl.name,
                                        fixed_text<fields_text<M>>::value,
                                        fixed_text<primary_text<M>>::value,
                                        indexes.data(),
                                        n,
                                        constant ? nullptr : &fingerprint_of<M>,
                                        &new_row_of<M>,
                                        &delete_row_of<M>,
                                        &decode_row_of<M>,
                                        &row_keys_of<M>,
                                        &describe_key_bytes<key_of<M>>};
};

template <class M>
inline constexpr const table_schema& schema_of = schema_constants<M>::table;

[[gnu::cold]] inline std::string index_id(std::string_view line) { return std::string(line.substr(0, line.find(':'))); }

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_mismatch(const std::string& table, const std::string& what) {
    throw error(errc::schema_mismatch, "schema mismatch in table '" + table + "': " + what, table);
}

// A model object made by a table_schema, deleted with it.
class erased_row {
public:
    explicit erased_row(const table_schema& s) : s_(s), row_(s.new_row()) {}
    erased_row(const erased_row&) = delete;
    erased_row& operator=(const erased_row&) = delete;
    ~erased_row() { s_.delete_row(row_); }
    void* get() const noexcept { return row_; }

private:
    const table_schema& s_;
    void* row_;
};

class schema_opener {
public:
    schema_opener(environment& env, MDB_txn* txn) : env_(env), txn_(txn) {
        meta_ = open_db(meta_name, false, !env.read_only());
    }

    template <std::size_t N>
    void open(const table_schema& s, table_state<N>& t) {
        open_table(s, t.name, t.dbi, t.indexes.data());
    }

    // Opens (creates) the table and its indexes, checks its fingerprint against the stored one,
    // drops the indexes that are gone, builds the new ones, and records the fingerprint.
    [[gnu::cold, gnu::noinline]] void open_table(const table_schema& s, std::string& table, MDB_dbi& dbi,
                                                 index_state* indexes) {
        const std::size_t N = s.index_count;
        table = std::string(s.name);
        if (table.empty() || table.starts_with(meta_name) || table.find('/') != std::string::npos)
            throw error(errc::invalid_argument,
                        "table name '" + table + "' is empty, contains '/', or starts with '__netabase'", table);
        const bool rw = !env_.read_only();
        dbi = open_db(table, false, rw, &table);

        fingerprint now;
        if (s.make_fingerprint) {
            now = s.make_fingerprint();
        } else {
            now.fields = s.fields;
            now.primary = s.primary;
            for (std::size_t i = 0; i < N; ++i) now.indexes.emplace_back(s.indexes[i].line);
        }
        std::string meta_key = "table:" + table;
        std::optional<fingerprint> stored;
        {
            MDB_val k{meta_key.size(), meta_key.data()}, v;
            int rc = mdb::get(txn_, meta_, &k, &v);
            if (rc == 0)
                stored = fingerprint::parse({static_cast<const char*>(v.mv_data), v.mv_size});
            else if (rc != MDB_NOTFOUND)
                throw_lmdb(rc, "cannot read the metadata", table);
        }
        if (stored) {
            if (stored->fields != now.fields)
                throw_mismatch(table, "the fields changed: stored " + stored->fields + ", the model now has " +
                                          now.fields);
            if (stored->primary != now.primary)
                throw_mismatch(table, "the primary key changed: stored " + stored->primary +
                                          ", the model now has " + now.primary);
        }

        std::vector<std::size_t> to_build;
        // Indexes that are gone or whose declaration changed are dropped first: a changed one
        // keeps its name and is rebuilt below.
        if (stored) {
            for (const auto& old : stored->indexes) {
                if (std::find(now.indexes.begin(), now.indexes.end(), old) != now.indexes.end()) continue;
                if (!rw)
                    throw_mismatch(table, "index " + index_id(old) +
                                              " was removed or changed; open the store read-write once to update it");
                std::string name = table + "/" + index_id(old);
                MDB_dbi gone = open_db(name, false, false, &table, true);
                if (gone) check_rc(mdb::drop(txn_, gone, 1), "cannot drop index " + name, table);
            }
        }
        for (std::size_t i = 0; i < N; ++i) {
            index_state& ix = indexes[i];
            ix.unique = s.indexes[i].unique;
            ix.name = table + "/";
            ix.name += s.indexes[i].id;
            bool known = stored && std::find(stored->indexes.begin(), stored->indexes.end(), now.indexes[i]) !=
                                       stored->indexes.end();
            if (!known && !rw)
                throw_mismatch(table, "index '" + ix.name + "' is new; open the store read-write once to build it");
            ix.dbi = open_db(ix.name, !ix.unique, rw, &table);
            if (!known) to_build.push_back(i);
        }
        for (std::size_t a = 0; a < N; ++a)
            for (std::size_t b = a + 1; b < N; ++b)
                if (indexes[a].name == indexes[b].name)
                    throw error(errc::invalid_argument,
                                "table '" + table + "' declares index '" + indexes[a].name + "' twice", table);

        if (!to_build.empty()) build(s, table, dbi, indexes, to_build);
        if (rw && (!stored || stored->serialize() != now.serialize())) {
            std::string value = now.serialize();
            MDB_val k{meta_key.size(), meta_key.data()}, v{value.size(), value.data()};
            check_rc(mdb::put(txn_, meta_, &k, &v, 0), "cannot write the metadata", table);
        }
    }

private:
    void check_rc(int rc, const std::string& what, const std::string& table) {
        if (rc) throw_lmdb(rc, what, table);
    }

    [[gnu::cold]] MDB_dbi open_db(const std::string& name, bool dupsort, bool create, const std::string* table = nullptr,
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

    struct build_entry {
        schema_opener* self;
        const std::string* table;
        const index_state* ix;
        MDB_val pk;
    };

    // One key of one row into a new index.
    [[gnu::cold]] static void add_entry(void* ctx, std::span<const std::byte> key, const void* value,
                          std::string (*describe)(const void*)) {
        auto& e = *static_cast<build_entry*>(ctx);
        const index_state& ix = *e.ix;
        MDB_txn* txn = e.self->txn_;
        if (key.size() > e.self->env_.max_key_size())
            throw error(errc::key_too_large,
                        "cannot build index '" + ix.name + "': key " + describe(value) + " is over LMDB's key limit",
                        *e.table, ix.name);
        MDB_val skv = to_val(key), pk = e.pk;
        int rc = mdb::put(txn, ix.dbi, &skv, &pk, ix.unique ? MDB_NOOVERWRITE : 0u);
        if (rc == MDB_KEYEXIST) {
            MDB_val owner;  // a multi-key row may list one key twice
            if (mdb::get(txn, ix.dbi, &skv, &owner) == 0 && compare(to_span(owner), to_span(e.pk)) == 0) return;
            throw error(errc::unique_violation,
                        "cannot build unique index '" + ix.name + "': two rows share key " + describe(value),
                        *e.table, ix.name);
        }
        e.self->check_rc(rc, "cannot build index " + ix.name, *e.table);
    }

    // Fills new indexes from the table's rows, inside the opening transaction.
    [[gnu::cold, gnu::noinline]] void build(const table_schema& s, const std::string& table, MDB_dbi dbi, const index_state* indexes,
               const std::vector<std::size_t>& which) {
        for (std::size_t i : which) check_rc(mdb::drop(txn_, indexes[i].dbi, 0), "cannot clear index", table);
        cursor c(txn_, dbi);
        MDB_val k, v;
        erased_row row(s);
        buffer sk;
        build_entry entry{this, &table, nullptr, {}};
        const key_sink sink{&add_entry, &entry};
        for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT)) {
            try {
                s.decode_row(to_span(v), row.get());
            } catch (const error& e) {
                throw error(e.code(), e.description() + " (building the indexes of table '" + table + "')", table);
            }
            entry.pk = k;
            for (std::size_t i : which) {
                entry.ix = &indexes[i];
                s.row_keys(row.get(), i, sk, sink);
            }
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
            (opener.open(schema_of<Ms>, std::get<Def::template index_of<Ms>>(st.tables)), ...);
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
