// Opening a store's tables: one named database per table and per index, the metadata that
// records each table's fingerprint, and building indexes that are new since the last open.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/detail/algorithm.hpp"
#include "netabase/detail/buffer.hpp"
#include "netabase/detail/changes.hpp"
#include "netabase/detail/describe.hpp"
#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/state.hpp"
#include "netabase/error.hpp"
#include "netabase/key.hpp"
#include "netabase/model.hpp"

#include <lmdb.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace netabase::detail {

inline constexpr const char* meta_name = "__netabase";

// Calls fn(line) for each line of s (metadata values are "what=value" lines).
template <class F>
void for_each_line(std::string_view s, F&& fn) {
    while (!s.empty()) {
        auto nl = s.find('\n');
        fn(s.substr(0, nl));
        s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
    }
}

// A table's fingerprint as stored in the metadata: one "what=value" line each. version and db
// are written only when they are not the defaults (1, the table's name), so that a store
// written before they existed reads back byte for byte.
struct fingerprint {
    std::uint32_t version = 1;  // 1 + the number of upgrade_from steps of the model that wrote it
    std::string db;             // the LMDB database holding the rows, when not the table's name
    std::string renamed_to;     // set on the entry a renamed table left under its old name
    std::string fields;
    std::string primary;
    std::vector<std::string> indexes;  // "<id>:<unique|multi>:<key type>[:v<n>][:sparse]"

    [[gnu::cold]] std::string serialize() const {
        std::string s = "netabase/" + std::to_string(encoding_version);
        if (!renamed_to.empty()) return s + "\nrenamed_to=" + renamed_to;
        if (version != 1) s += "\nversion=" + std::to_string(version);
        if (!db.empty()) s += "\ndb=" + db;
        s += "\nfields=" + fields + "\nprimary=" + primary;
        for (const auto& i : indexes) s += "\nindex=" + i;
        return s;
    }

    // A decimal number; 0 (which no version is) for anything else.
    static std::uint32_t parse_number(std::string_view s) {
        std::uint64_t v = 0;
        for (char c : s) {
            if (c < '0' || c > '9' || v > 0xffffffffu) return 0;
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return v > 0xffffffffu ? 0 : static_cast<std::uint32_t>(v);
    }

    [[gnu::cold]] static fingerprint parse(std::string_view s) {
        fingerprint f;
        for_each_line(s, [&](std::string_view line) {
            if (line.starts_with("fields="))
                f.fields = line.substr(7);
            else if (line.starts_with("primary="))
                f.primary = line.substr(8);
            else if (line.starts_with("index="))
                f.indexes.emplace_back(line.substr(6));
            else if (line.starts_with("version="))
                f.version = parse_number(line.substr(8));
            else if (line.starts_with("db="))
                f.db = line.substr(3);
            else if (line.starts_with("renamed_to="))
                f.renamed_to = line.substr(11);
        });
        return f;
    }
};

// The top-level fields of a fingerprint's "fields=" text ("{u64,str,opt<{u8,str}>}"), each
// with its nesting.
[[gnu::cold]] inline std::vector<std::string_view> top_level_fields(std::string_view text) {
    std::vector<std::string_view> out;
    if (text.size() < 2 || text.front() != '{' || text.back() != '}') return out;
    std::string_view body = text.substr(1, text.size() - 2);
    int depth = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < body.size(); ++i) {
        char c = body[i];
        if (c == '{' || c == '(' || c == '<') ++depth;
        if (c == '}' || c == ')' || c == '>') --depth;
        if (c == ',' && depth == 0) {
            out.push_back(body.substr(start, i - start));
            start = i + 1;
        }
    }
    if (!body.empty()) out.push_back(body.substr(start));
    return out;
}

// The number of fields of `stored` when its fields are the first fields of `now` and `now` has
// more (fields appended at the end), else 0.
[[gnu::cold]] inline std::size_t appended_prefix(std::string_view stored, std::string_view now) {
    auto a = top_level_fields(stored), b = top_level_fields(now);
    if (a.empty() || a.size() >= b.size()) return 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return 0;
    return a.size();
}

// describe_type() at run time: only for a model with a codec whose name is not a
// compile-time constant (and the tests, which compare it with the constants).
template <class M>
[[gnu::cold, gnu::noinline]] fingerprint fingerprint_of() {
    using traits = model_traits<M>;
    fingerprint f;
    f.version = traits::version;
    describe_type<M>(f.fields);
    f.primary = traits::decl.primary.id() + ":";
    describe_type<typename traits::key_type>(f.primary);
    for_each_secondary<M>([&](const auto& sec, auto) {
        using K = typename std::remove_cvref_t<decltype(sec.key)>::value_type;
        std::string line = sec.key.id() + (sec.unique ? ":unique:" : ":multi:");
        describe_type<K>(line);
        if constexpr (requires { sec.key.key.revision; })
            if (sec.key.key.revision != 1) line += ":v" + std::to_string(sec.key.key.revision);
        if (std::remove_cvref_t<decltype(sec)>::sparse) line += ":sparse";
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
    std::uint32_t version;               // 1 + the number of upgrade_from steps
    const std::string_view* old_fields;  // the "fields=" text of versions 1 .. version-1
    // A row stored at `from_version` with its first `fields` fields (the others were appended
    // since), run through the upgrade steps: the current model's value and primary key bytes.
    void (*upgrade_row)(std::uint32_t from_version, std::size_t fields, std::span<const std::byte> old, buffer& row,
                        buffer& pk, bool checksum);
    std::string_view old_name;  // renamed_from, or empty
    std::string_view names;     // the "names:<table>" metadata value (field names), or empty
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

// The position of the first upgrade step at or after Start that takes a From, or the number of
// steps.
template <class M, class From, std::size_t Start>
consteval std::size_t step_taking() {
    using steps = typename model_traits<M>::steps_type;
    std::size_t found = std::tuple_size_v<steps>;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((I >= Start && found == std::tuple_size_v<steps> &&
                  std::is_same_v<typename std::tuple_element_t<I, steps>::from_type, From>
              ? (found = I, 0)
              : 0),
         ...);
    }
    (std::make_index_sequence<std::tuple_size_v<steps>>{});
    return found;
}

template <class M, std::size_t I>
using step_from_t = typename std::tuple_element_t<I, typename model_traits<M>::steps_type>::from_type;

// Step I on x, then the steps its result needs, up to the model.
template <class M, std::size_t I>
M run_steps(step_from_t<M, I>&& x) {
    const auto& step = std::get<I>(model_traits<M>::decl.steps);
    using R = typename std::remove_cvref_t<decltype(step)>::to_type;
    if constexpr (std::is_same_v<R, M>) {
        return step.fn(std::move(x));
    } else {
        constexpr std::size_t next = step_taking<M, R, I + 1>();
        static_assert(next < model_traits<M>::step_count,
                      "netabase: an upgrade_from step returns a struct that is neither the model nor the struct a "
                      "later upgrade_from step takes");
        return run_steps<M, next>(step.fn(std::move(x)));
    }
}

template <class M>
void upgrade_row_of(std::uint32_t from_version, std::size_t fields, std::span<const std::byte> old, buffer& row,
                    buffer& pk, bool checksum) {
    using traits = model_traits<M>;
    auto finish = [&](const M& m) {
        encode_row(row, m, checksum);
        pk.clear();
        encode_key(pk, traits::decl.primary(m));
    };
    if (from_version == traits::version) {
        M m{};
        decode_row_prefix(old, m, fields);
        finish(m);
        return;
    }
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (void)((from_version == I + 1 ? ([&] {
            step_from_t<M, I> f{};
            decode_row_prefix(old, f, fields);
            finish(run_steps<M, I>(std::move(f)));
        }(), true) : false) || ...);
    }
    (std::make_index_sequence<traits::step_count>{});
}

template <class M>
struct old_fields_of {
    static constexpr auto value = []<std::size_t... I>(std::index_sequence<I...>) {
        return std::array<std::string_view, sizeof...(I) + 1>{fixed_text<fields_text<step_from_t<M, I>>>::value...,
                                                               std::string_view{}};
    }(std::make_index_sequence<model_traits<M>::step_count>{});
};

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
                                        &describe_key_bytes<key_of<M>>,
                                        model_traits<M>::version,
                                        old_fields_of<M>::value.data(),
                                        &upgrade_row_of<M>,
                                        model_traits<M>::decl.old_name,
                                        fixed_text<names_text<M>>::value};
};

template <class M>
inline constexpr const table_schema& schema_of = schema_constants<M>::table;

// The fingerprint this program records for a table.
[[gnu::cold]] inline fingerprint recorded_fingerprint(const table_schema& s) {
    if (s.make_fingerprint) return s.make_fingerprint();
    fingerprint f;
    f.version = s.version;
    f.fields = s.fields;
    f.primary = s.primary;
    for (std::size_t i = 0; i < s.index_count; ++i) f.indexes.emplace_back(s.indexes[i].line);
    return f;
}

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

// ---- the metadata database -------------------------------------------------------------
// "table:<name>"   the table's fingerprint (or, under a renamed table's old name, renamed_to=)
// "upgrade:<name>" an upgrade of the table in progress (detail/upgrade.hpp)
// "names:<name>"   the names of the table's fields, "<path>=<name>" lines, when known; not
//                  part of the fingerprint (a name is not in the encoding), so not watched
// "generation"     a number bumped by every transaction that changes any of the above, so
//                  that a program can see in one lookup that nothing changed

[[gnu::cold]] inline std::optional<std::string> meta_get(MDB_txn* txn, MDB_dbi meta, const std::string& key,
                                                         const std::string& table) {
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
    int rc = mdb::get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc != 0) throw_lmdb(rc, "cannot read the metadata (mdb_get failed)", table);
    return std::string(static_cast<const char*>(v.mv_data), v.mv_size);
}

[[gnu::cold]] inline void meta_put(MDB_txn* txn, MDB_dbi meta, const std::string& key, const std::string& value,
                                   const std::string& table) {
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v{value.size(), const_cast<char*>(value.data())};
    if (int rc = mdb::put(txn, meta, &k, &v, 0)) throw_lmdb(rc, "cannot write the metadata (mdb_put failed)", table);
}

[[gnu::cold]] inline void meta_erase(MDB_txn* txn, MDB_dbi meta, const std::string& key, const std::string& table) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    int rc = mdb::del(txn, meta, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) throw_lmdb(rc, "cannot write the metadata (mdb_del failed)", table);
}

inline const std::string generation_key = "generation";

[[gnu::cold]] inline std::uint64_t meta_generation(MDB_txn* txn, MDB_dbi meta) {
    MDB_val k{generation_key.size(), const_cast<char*>(generation_key.data())}, v;
    int rc = mdb::get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != 8)) return 0;
    if (rc != 0) throw_lmdb(rc, "cannot read the metadata's generation (mdb_get failed)", meta_name);
    return load_le<std::uint64_t>(static_cast<const std::byte*>(v.mv_data));
}

// One schema change: the first call bumps the metadata's generation and the shared counter
// (which done() settles after the commit).
class schema_change {
public:
    explicit schema_change(environment& env) : env_(env) {}
    void mark(MDB_txn* txn, MDB_dbi meta) {
        if (marked_) return;
        marked_ = true;
        began_ = env_.schema_changes().begin();
        std::byte bytes[8];
        store_le<std::uint64_t>(bytes, meta_generation(txn, meta) + 1);
        MDB_val k{generation_key.size(), const_cast<char*>(generation_key.data())}, v{8, bytes};
        if (int rc = mdb::put(txn, meta, &k, &v, 0))
            throw_lmdb(rc, "cannot write the metadata's generation (mdb_put failed)", meta_name);
    }
    bool marked() const noexcept { return marked_; }
    // After the commit or abort: the counter's new even value, or schema_counter::none.
    std::uint64_t done() noexcept {
        if (!marked_) return schema_counter::none;
        marked_ = false;
        return env_.schema_changes().end(began_);
    }

private:
    environment& env_;
    bool marked_ = false;
    std::uint64_t began_ = schema_counter::none;
};

[[gnu::cold]] inline MDB_dbi open_named_db(environment& env, MDB_txn* txn, const std::string& name, bool dupsort,
                                          bool create, const std::string& table, bool may_be_missing = false) {
    MDB_dbi dbi = 0;
    unsigned flags = (create ? MDB_CREATE : 0u) | (dupsort ? MDB_DUPSORT : 0u);
    int rc = mdb::dbi_open(txn, name.c_str(), flags, &dbi);
    if (rc == MDB_NOTFOUND && may_be_missing) return 0;
    if (rc == MDB_NOTFOUND)
        throw error(errc::not_found,
                    "table '" + name + "' does not exist in " + env.path().string() +
                        " (opened read-only); open the store read-write once to create it",
                    table);
    if (rc == MDB_INCOMPATIBLE)
        throw error(errc::schema_mismatch,
                    "database '" + name + "' exists with other flags (unique vs non-unique index?; mdb_dbi_open: "
                    "MDB_INCOMPATIBLE)",
                    table);
    if (rc) throw_lmdb(rc, "cannot open database '" + name + "' (mdb_dbi_open failed)", table);
    // For errors on it: "<db>/<id>" is index "<table>/<id>"; the metadata and log are themselves.
    const std::size_t slash = name.find('/');
    if (name.starts_with(meta_name))
        env.name_database(dbi, name, {});
    else
        env.name_database(dbi, table, slash == std::string::npos ? std::string() : table + name.substr(slash));
    return dbi;
}

// Deletes the database `name` (its handle too) if it exists.
[[gnu::cold]] inline void drop_database(environment& env, MDB_txn* txn, const std::string& name,
                                        const std::string& table) {
    if (MDB_dbi d = open_named_db(env, txn, name, false, false, table, true))
        if (int rc = mdb::drop(txn, d, 1)) throw_lmdb(rc, "cannot drop " + name + " (mdb_drop failed)", table);
}

// Puts the entries of new or rebuilt indexes.
struct index_filler {
    environment* env;
    MDB_txn* txn;
    const std::string* table;
    const std::string* index;  // its name in messages
    MDB_dbi dbi;
    bool unique;
    MDB_val pk;
    std::size_t bytes = 0;  // written so far (an upgrade batches by it)

    // One key of one row into the index.
    [[gnu::cold]] static void add(void* ctx, std::span<const std::byte> key, const void* value,
                                  std::string (*describe)(const void*)) {
        auto& e = *static_cast<index_filler*>(ctx);
        if (key.size() > e.env->max_key_size())
            throw error(errc::key_too_large,
                        "cannot build index '" + *e.index + "': key " + describe(value) + " is over LMDB's key limit",
                        *e.table, *e.index);
        MDB_val skv = to_val(key), pk = e.pk;
        int rc = mdb::put(e.txn, e.dbi, &skv, &pk, e.unique ? MDB_NOOVERWRITE : 0u);
        if (rc == MDB_KEYEXIST) {
            MDB_val owner;  // a multi-key row may list one key twice
            int grc = mdb::get(e.txn, e.dbi, &skv, &owner);
            // A failed read was once reported as a unique violation.
            if (grc != 0) throw_lmdb(grc, "cannot build index " + *e.index + " (mdb_get failed)", *e.table, *e.index);
            if (compare(to_span(owner), to_span(e.pk)) == 0) return;
            throw error(errc::unique_violation,
                        "cannot build unique index '" + *e.index + "': two rows share key " + describe(value),
                        *e.table, *e.index);
        }
        if (rc) throw_lmdb(rc, "cannot build index " + *e.index + " (mdb_put failed)", *e.table, *e.index);
        e.bytes += key.size() + e.pk.mv_size;
    }
};

// Empties the indexes `which` and fills them from the table's rows, in one transaction.
[[gnu::cold, gnu::noinline]] inline void fill_indexes(environment& env, MDB_txn* txn, const table_schema& s,
                                                      const std::string& table, MDB_dbi dbi,
                                                      const index_state* indexes,
                                                      const std::vector<std::size_t>& which) {
    for (std::size_t i : which)
        if (int rc = mdb::drop(txn, indexes[i].dbi, 0))
            throw_lmdb(rc, "cannot clear index (mdb_drop failed)", table, indexes[i].name);
    cursor c(txn, dbi);
    MDB_val k, v;
    erased_row row(s);
    buffer sk;
    index_filler entry{&env, txn, &table, nullptr, 0, false, {}};
    const key_sink sink{&index_filler::add, &entry};
    for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT)) {
        try {
            s.decode_row(to_span(v), row.get());
        } catch (const error& e) {
            throw error(e.code(),
                        e.description() + " (building the indexes of table '" + table + "', at the row with key " +
                            s.describe_pk(to_span(k)) + ")",
                        table);
        }
        entry.pk = k;
        for (std::size_t i : which) {
            entry.index = &indexes[i].name;
            entry.dbi = indexes[i].dbi;
            entry.unique = indexes[i].unique;
            s.row_keys(row.get(), i, sk, sink);
        }
    }
}

// A table whose stored rows must be rewritten (older version, appended fields, or an upgrade
// a killed process left unfinished): detail/upgrade.hpp carries it out.
struct upgrade_plan {
    const table_schema* schema = nullptr;
    std::string table;       // the name it is opened under
    std::string stored_key;  // the metadata key of the stored fingerprint ("table:<old name>" when renamed)
    fingerprint stored;      // with db filled in
    std::optional<std::string> stored_raw;  // its bytes: another process may have changed them since
    std::size_t stored_fields = 0;  // top-level fields of the stored rows
    fingerprint target;      // the metadata once upgraded (db left empty)
    // false: the rows are as this program wants them, and an unfinished upgrade that another
    // program (another version) left is only to be dropped.
    bool rewrite = true;
};

// What a program checks at the start of every transaction: the metadata it validated at open.
struct schema_watch {
    MDB_dbi meta = 0;
    std::vector<std::pair<std::string, std::optional<std::string>>> expected;  // key, value (nullopt: absent)
    std::atomic<std::uint64_t> generation{0};                // the metadata's generation it matches
    std::atomic<std::uint64_t> seen{schema_counter::none};  // the shared counter value it matches

    // Loaded after the transaction's snapshot was taken: nothing changed since the last check.
    [[gnu::always_inline]] bool current(environment& env) const noexcept {  // every transaction: never a call
        std::uint64_t c1 = env.schema_changes().load();
        return c1 != schema_counter::none && c1 == seen.load(std::memory_order_relaxed);
    }

    // When not current(): reads the metadata in txn's snapshot and throws schema_changed if a
    // table changed. c0: the shared counter loaded before the snapshot was taken.
    [[gnu::cold, gnu::noinline]] void check(environment& env, MDB_txn* txn, std::uint64_t c0) {
        std::uint64_t c1 = env.schema_changes().load();
        std::uint64_t g = meta_generation(txn, meta);
        if (g != generation.load()) {
            for (const auto& [key, value] : expected) {
                std::string table = key.substr(key.find(':') + 1);
                auto now = meta_get(txn, meta, key, table);
                if (now != value) throw_changed(key, table, value, now);
            }
            generation.store(g);
        }
        if (std::uint64_t settled = schema_counter::settled(c0, c1); settled != schema_counter::none)
            seen.store(settled);
    }

    [[noreturn, gnu::cold, gnu::noinline]] static void throw_changed(const std::string& key, const std::string& table,
                                                                     const std::optional<std::string>& was,
                                                                     const std::optional<std::string>& now) {
        std::string what;
        if (key.starts_with("upgrade:")) {
            what = now ? "another program is upgrading it" : "another program finished or abandoned an upgrade of it";
        } else if (!now) {
            what = "another program removed it";
        } else {
            fingerprint a = was ? fingerprint::parse(*was) : fingerprint{}, b = fingerprint::parse(*now);
            if (!b.renamed_to.empty())
                what = "another program renamed it to '" + b.renamed_to + "'";
            else if (a.version != b.version)
                what = "another program upgraded its rows from version " + std::to_string(a.version) + " to " +
                       std::to_string(b.version);
            else if (a.fields != b.fields)
                what = "another program changed its fields to " + b.fields;
            else if (a.db != b.db)
                what = "another program rewrote its rows";
            else {
                for (const auto& i : b.indexes)
                    if (detail::find(a.indexes.begin(), a.indexes.end(), i) == a.indexes.end())
                        what += (what.empty() ? "" : ", ") + std::string("another program added index '") + table +
                                "/" + index_id(i) + "' (" + i + ")";
                for (const auto& i : a.indexes)
                    if (detail::find(b.indexes.begin(), b.indexes.end(), i) == b.indexes.end())
                        what += (what.empty() ? "" : ", ") + std::string("another program dropped index '") + table +
                                "/" + index_id(i) + "' (" + i + ")";
                if (what.empty()) what = "another program changed its metadata";
            }
        }
        throw error(errc::schema_changed,
                    "schema changed in table '" + table + "' since this program opened the store: " + what +
                        "; this program's models are older than the store's, so it must not read or write it "
                        "(upgrade the program; reopening the store says whether this one still can)",
                    table);
    }
};

class schema_opener {
public:
    schema_opener(environment& env, MDB_txn* txn, schema_watch& watch) : env_(env), txn_(txn), watch_(watch), change_(env) {
        meta_ = open_named_db(env, txn, meta_name, false, !env.read_only(), meta_name);
        watch_.meta = meta_;
        watch_.expected.clear();
    }

    template <std::size_t N>
    void open(const table_schema& s, table_state<N>& t) {
        if (!plan) open_table(s, t.name, t.dbi, t.indexes.data());  // after one plan, the rest waits
    }

    // Opens (creates) the table and its indexes, checks its fingerprint against the stored one,
    // drops the indexes that are gone, builds the new ones, renames, and records the
    // fingerprint. A table whose rows must be rewritten is left alone and returned.
    [[gnu::cold, gnu::noinline]] void open_table(const table_schema& s, std::string& table,
                                                                        MDB_dbi& dbi, index_state* indexes) {
        const std::size_t N = s.index_count;
        table = std::string(s.name);
        check_name(table);
        const bool rw = !env_.read_only();

        fingerprint now = recorded_fingerprint(s);
        std::string meta_key = "table:" + table;
        std::string stored_key = meta_key;
        std::optional<fingerprint> stored;
        if (auto raw = meta_get(txn_, meta_, meta_key, table)) stored = fingerprint::parse(*raw);
        if (stored && !stored->renamed_to.empty())
            throw_mismatch(table, "a newer program renamed this table to '" + stored->renamed_to +
                                      "'; this program is older than the store");
        bool renaming = false;
        std::string old_name(s.old_name);
        if (!stored && !old_name.empty()) {
            check_name(old_name);
            if (auto raw = meta_get(txn_, meta_, "table:" + old_name, table)) {
                fingerprint old = fingerprint::parse(*raw);
                if (old.renamed_to.empty()) {
                    if (old.db.empty()) old.db = old_name;
                    stored = std::move(old);
                    stored_key = "table:" + old_name;
                    renaming = true;
                }
            }
        }
        if (stored && stored->db.empty()) stored->db = table;
        const std::string db = stored ? stored->db : table;
        const bool unfinished = meta_get(txn_, meta_, "upgrade:" + table, table).has_value();

        bool rewrite = false;
        std::size_t stored_fields = 0;
        if (stored) {
            const std::string v = std::to_string(stored->version), w = std::to_string(now.version);
            if (stored->version > now.version || stored->version == 0)
                throw_mismatch(table, "written by a newer program: its rows are at version " + v +
                                          ", and this program knows versions 1 to " + w +
                                          " (1 + its upgrade_from steps); upgrade this program");
            std::string expect = stored->version == now.version ? now.fields : std::string(s.old_fields[stored->version - 1]);
            stored_fields = top_level_fields(stored->fields).size();
            if (stored->version != now.version) rewrite = true;
            if (stored->fields != expect) {
                if (appended_prefix(stored->fields, expect) == 0) {
                    if (stored->version == now.version && appended_prefix(expect, stored->fields) != 0)
                        throw_mismatch(table, "written by a newer program: its rows have the fields " + stored->fields +
                                                  ", this program's model only the first of them, " + expect +
                                                  "; upgrade this program");
                    if (stored->version == now.version)
                        throw_mismatch(table, "the fields changed: stored " + stored->fields + ", the model now has " +
                                                  expect +
                                                  "; keep the old struct and declare .upgrade_from<Old>(fn) to "
                                                  "convert the stored rows, or only append fields at the end");
                    throw_mismatch(table, "its rows are at version " + v + " with the fields " + stored->fields +
                                              ", but the model's upgrade_from step for version " + v +
                                              " takes a struct with the fields " + expect);
                }
                rewrite = true;
            }
            if (!rewrite && stored->primary != now.primary)
                throw_mismatch(table, "the primary key changed: stored " + stored->primary + ", the model now has " +
                                          now.primary + "; a primary key can change only through an upgrade_from step");
        }
        if (rewrite || unfinished) {
            if (!rw)
                throw_mismatch(table, unfinished ? std::string("an upgrade of this table is unfinished; open the store "
                                                               "read-write once to finish it")
                                                 : "its rows are at version " + std::to_string(stored->version) +
                                                       " with the fields " + stored->fields +
                                                       " and must be upgraded to version " +
                                                       std::to_string(now.version) + " (" + now.fields +
                                                       "); open the store read-write once to upgrade it");
            plan = std::make_unique<upgrade_plan>();
            plan->schema = &s;
            plan->table = table;
            plan->stored_key = stored_key;
            plan->stored = stored ? *stored : fingerprint{};
            plan->stored_raw = meta_get(txn_, meta_, stored_key, table);
            plan->stored_fields = stored_fields;
            plan->target = now;
            plan->rewrite = rewrite;
            return;
        }
        if (renaming && !rw)
            throw_mismatch(table, "it is stored as '" + old_name + "' (renamed_from); open the store read-write once "
                                  "to rename it");

        dbi = open_named_db(env_, txn_, db, false, rw, table);
        std::vector<std::size_t> to_build;
        // Indexes that are gone or whose declaration changed are dropped first: a changed one
        // keeps its name and is rebuilt below.
        if (stored) {
            for (const auto& old : stored->indexes) {
                if (detail::find(now.indexes.begin(), now.indexes.end(), old) != now.indexes.end()) continue;
                if (!rw)
                    throw_mismatch(table, "index " + index_id(old) +
                                              " was removed or changed; open the store read-write once to update it");
                change_.mark(txn_, meta_);
                drop_database(env_, txn_, db + "/" + index_id(old), table);
            }
        }
        for (std::size_t i = 0; i < N; ++i) {
            index_state& ix = indexes[i];
            ix.unique = s.indexes[i].unique;
            ix.name = table + "/";
            ix.name += s.indexes[i].id;
            bool known = stored && detail::find(stored->indexes.begin(), stored->indexes.end(), now.indexes[i]) !=
                                       stored->indexes.end();
            if (!known && !rw)
                throw_mismatch(table, "index '" + ix.name + "' is new; open the store read-write once to build it");
            ix.dbi = open_named_db(env_, txn_, db + "/" + std::string(s.indexes[i].id), !ix.unique, rw, table);
            if (!known) to_build.push_back(i);
        }
        for (std::size_t a = 0; a < N; ++a)
            for (std::size_t b = a + 1; b < N; ++b)
                if (indexes[a].name == indexes[b].name)
                    throw error(errc::invalid_argument,
                                "table '" + table + "' declares index '" + indexes[a].name + "' twice", table);

        if (!to_build.empty()) {
            if (stored) change_.mark(txn_, meta_);
            fill_indexes(env_, txn_, s, table, dbi, indexes, to_build);
        }
        now.db = db == table ? std::string() : db;
        std::string value = now.serialize();
        if (rw && (!stored || renaming || value != stored_value(*stored, table))) {
            if (stored) change_.mark(txn_, meta_);
            meta_put(txn_, meta_, meta_key, value, table);
            if (renaming) {
                fingerprint tomb;
                tomb.renamed_to = table;
                meta_put(txn_, meta_, stored_key, tomb.serialize(), table);
                meta_erase(txn_, meta_, "names:" + old_name, table);
            }
        }
        // The field names, for tools that read the store without this program: written when
        // this program knows some and they differ (a program that knows none leaves them).
        if (rw && !s.names.empty()) {
            const std::string names_key = "names:" + table;
            auto stored_names = meta_get(txn_, meta_, names_key, table);
            if (!stored_names || *stored_names != s.names) meta_put(txn_, meta_, names_key, std::string(s.names), table);
        }
        // What every later transaction expects to find (the bytes as stored, not as re-serialized).
        watch_.expected.emplace_back(meta_key, meta_get(txn_, meta_, meta_key, table));
        watch_.expected.emplace_back("upgrade:" + table, std::nullopt);
    }

    // After the opening transaction committed (or aborted): settles the shared counter.
    std::uint64_t done() noexcept { return change_.done(); }
    bool changed() const noexcept { return change_.marked(); }
    MDB_dbi meta() const noexcept { return meta_; }

    std::unique_ptr<upgrade_plan> plan;  // the first table whose rows must be rewritten

private:
    // The stored fingerprint as this program would serialize it (db empty when it is the name).
    static std::string stored_value(fingerprint f, const std::string& table) {
        if (f.db == table) f.db.clear();
        return f.serialize();
    }

    static void check_name(const std::string& table) {
        if (table.empty() || table.starts_with(meta_name) || table.find('/') != std::string::npos)
            throw error(errc::invalid_argument,
                        "table name '" + table + "' is empty, contains '/', or starts with '__netabase'", table);
    }

    environment& env_;
    MDB_txn* txn_;
    schema_watch& watch_;
    schema_change change_;
    MDB_dbi meta_ = 0;
};

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
    dir_path remove_on_close;               // set by Store::temporary()
    bool read_only = false;                 // this Store's option, even over a shared read-write environment
    schema_watch schema;                    // what every transaction checks first
    bool want_change_log = false;           // options::change_log: create the log if missing
    MDB_dbi change_log = 0;                 // the log's database, if the store has one
    std::size_t watch_capacity = 65536;     // options::watch_capacity

    store_state() = default;
    store_state(const store_state&) = delete;
    store_state& operator=(const store_state&) = delete;
    ~store_state() {
        env.reset();
        if (!remove_on_close.empty()) remove_all(remove_on_close);
    }

    template <class M>
    const auto& table() const noexcept {
        return std::get<Def::template index_of<M>>(tables);
    }
};

// Opens (read-write: creates) every table and index of Def in one transaction. When a table's
// rows must be rewritten first, its plan is returned instead, with nothing written; the caller
// upgrades it (detail/upgrade.hpp) and calls this again.
template <class Def>
std::unique_ptr<upgrade_plan> open_tables(store_state<Def>& st) {
    environment& env = *st.env;
    std::uint64_t c0 = env.schema_changes().load();
    auto run = [&](schema_opener& opener) {
        [&]<class... Ms>(definition<Ms...>*) {
            (opener.open(schema_of<Ms>, std::get<Def::template index_of<Ms>>(st.tables)), ...);
        }(static_cast<Def*>(nullptr));
    };
    if (env.read_only()) {
        env.enter();
        MDB_txn* txn = nullptr;
        if (int rc = mdb::txn_begin(env.get(), nullptr, MDB_RDONLY, &txn)) {
            env.leave();
            if (rc == MDB_MAP_RESIZED) {  // another process grew the map: adopt it, as begin_read does (it failed the open)
                env.resize(0);
                return open_tables(st);
            }
            throw_lmdb(rc, "cannot begin the opening transaction on " + env.path().string() + " (mdb_txn_begin failed)");
        }
        try {
            schema_opener opener(env, txn, st.schema);
            run(opener);
            st.change_log = open_named_db(env, txn, log_name, false, false, log_name, true);
            st.schema.generation.store(meta_generation(txn, opener.meta()));
            st.schema.seen.store(schema_counter::settled(c0, env.schema_changes().load()));
        } catch (...) {
            ::mdb_txn_abort(txn);
            env.leave();
            throw;
        }
        int rc = mdb::txn_commit(txn);  // a read-only commit keeps the opened handles
        env.leave();
        if (rc) throw_lmdb(rc, "cannot finish the opening transaction on " + env.path().string() + " (mdb_txn_commit failed)");
        return {};
    }
    write_scope txn(env);
    schema_opener opener(env, txn.get(), st.schema);
    struct settle {  // however it ends: the transaction first, then the shared counter
        write_scope& t;
        schema_opener& o;
        ~settle() {
            t.abort();  // (nothing left to abort once committed)
            o.done();
        }
    } settled{txn, opener};
    run(opener);
    if (opener.plan) return std::move(opener.plan);  // aborted by `settled`: nothing written
    st.change_log = open_named_db(env, txn.get(), log_name, false, st.want_change_log, log_name, true);
    // No other change can begin while this transaction writes: the counter now is validated,
    // unless this transaction changes the schema itself (then it is the value done() leaves).
    std::uint64_t counter =
        opener.changed() ? schema_counter::none : schema_counter::settled(c0, env.schema_changes().load());
    st.schema.generation.store(meta_generation(txn.get(), opener.meta()));
    int rc = txn.commit();
    std::uint64_t ended = opener.done();
    if (rc == 0 && ended != schema_counter::none) counter = ended;
    if (rc) throw_lmdb(rc, "cannot commit the opening transaction on " + env.path().string() + " (mdb_txn_commit failed)");
    st.schema.seen.store(counter);
    return {};
}

}  // namespace netabase::detail
