// What a store says about itself: its tables, their fields (types, nesting, names where known)
// and keys, read from the metadata, so that a program without the models' source (the
// netabase tool, an export) can decode every row.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/detail/lmdb.hpp"
#include "netabase/detail/schema.hpp"
#include "netabase/error.hpp"

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netabase {

// One stored type, as the fingerprint's text spells it ("u64", "vec<str>", "{u64,opt<str>}").
struct stored_type {
    enum class kind : std::uint8_t {
        boolean,      // 1 byte, 0 or 1
        unsigned_int, // bits: 8, 16, 32, 64
        signed_int,
        floating,     // bits: 32, 64, or 128 (long double)
        enumeration,  // elements[0]: the underlying integer
        string,
        vector,       // elements[0]
        array,        // elements[0], length
        optional,     // elements[0]
        tuple,        // elements: the parts (pairs too)
        duration,     // elements[0]: the count's type; ratio num/den seconds
        time_point,   // elements[0]: the duration since the clock's epoch
        aggregate,    // elements: the fields, names: theirs
        codec         // a user codec: codec_name; its bytes cannot be walked without its source
    };

    kind k = kind::boolean;
    unsigned bits = 0;
    std::size_t length = 0;
    std::intmax_t num = 1, den = 1;
    std::string codec_name;
    std::vector<stored_type> elements;
    std::vector<std::string> names;  // aggregate: one per field ("f0", "f1", ... when unknown)

    // A byte string: a vector or array of u8 or of an enum over u8 (std::byte): shown as hex.
    bool is_bytes() const noexcept {
        if (k != kind::vector && k != kind::array) return false;
        const stored_type& e = elements[0];
        const stored_type& s = e.k == kind::enumeration ? e.elements[0] : e;
        return s.k == kind::unsigned_int && s.bits == 8;
    }

    // Parses a fingerprint's type text; a text this build cannot read is errc::schema_mismatch.
    [[gnu::cold]] static stored_type parse(std::string_view text) {
        std::string_view rest = text;
        stored_type t = parse_one(rest, text);
        if (!rest.empty()) bad(text, "text after the type");
        return t;
    }

private:
    [[noreturn, gnu::cold]] static void bad(std::string_view text, const char* what) {
        throw error(errc::schema_mismatch, "cannot read the stored type '" + std::string(text) + "': " + what);
    }
    static bool eat(std::string_view& s, std::string_view p) {
        if (!s.starts_with(p)) return false;
        s.remove_prefix(p.size());
        return true;
    }
    static std::intmax_t number(std::string_view& s, std::string_view text) {
        bool neg = eat(s, "-");
        std::intmax_t v = 0;
        std::size_t n = 0;
        while (n < s.size() && s[n] >= '0' && s[n] <= '9' && n < 18) v = v * 10 + (s[n++] - '0');
        if (n == 0) bad(text, "a number was expected");
        s.remove_prefix(n);
        return neg ? -v : v;
    }
    static void expect(std::string_view& s, char c, std::string_view text) {
        if (s.empty() || s.front() != c) bad(text, "unbalanced brackets");
        s.remove_prefix(1);
    }
    static stored_type parse_one(std::string_view& s, std::string_view text) {
        stored_type t;
        auto one_element = [&](kind what) {
            t.k = what;
            t.elements.push_back(parse_one(s, text));
        };
        if (eat(s, "bool")) {
            t.k = kind::boolean;
        } else if (eat(s, "str")) {
            t.k = kind::string;
        } else if (eat(s, "enum:")) {
            one_element(kind::enumeration);
            auto u = t.elements[0].k;
            if (u != kind::unsigned_int && u != kind::signed_int) bad(text, "an enum over a non-integer");
        } else if (eat(s, "vec<")) {
            one_element(kind::vector);
            expect(s, '>', text);
        } else if (eat(s, "opt<")) {
            one_element(kind::optional);
            expect(s, '>', text);
        } else if (eat(s, "arr<")) {
            one_element(kind::array);
            expect(s, ',', text);
            std::intmax_t n = number(s, text);
            if (n < 0) bad(text, "a negative array length");
            t.length = static_cast<std::size_t>(n);
            expect(s, '>', text);
        } else if (eat(s, "dur<")) {
            one_element(kind::duration);
            expect(s, ',', text);
            t.num = number(s, text);
            expect(s, '/', text);
            t.den = number(s, text);
            expect(s, '>', text);
        } else if (eat(s, "time<")) {
            one_element(kind::time_point);
            if (t.elements[0].k != kind::duration) bad(text, "a time point over a non-duration");
            expect(s, '>', text);
        } else if (eat(s, "codec")) {
            t.k = kind::codec;
            if (eat(s, ":")) {  // the name runs to the next separator at this level
                std::size_t n = 0;
                while (n < s.size() && s[n] != ',' && s[n] != '}' && s[n] != ')' && s[n] != '>') ++n;
                t.codec_name = std::string(s.substr(0, n));
                s.remove_prefix(n);
            }
        } else if (!s.empty() && (s.front() == '(' || s.front() == '{')) {
            const char close = s.front() == '(' ? ')' : '}';
            t.k = close == ')' ? kind::tuple : kind::aggregate;
            s.remove_prefix(1);
            if (!eat(s, std::string_view(&close, 1))) {
                do t.elements.push_back(parse_one(s, text));
                while (eat(s, ","));
                expect(s, close, text);
            }
            if (t.k == kind::aggregate)
                for (std::size_t i = 0; i < t.elements.size(); ++i) t.names.push_back("f" + std::to_string(i));
        } else if (!s.empty() && (s.front() == 'u' || s.front() == 'i' || s.front() == 'f')) {
            t.k = s.front() == 'u' ? kind::unsigned_int : s.front() == 'i' ? kind::signed_int : kind::floating;
            s.remove_prefix(1);
            std::intmax_t b = number(s, text);
            bool ok = t.k == kind::floating ? (b == 32 || b == 64 || b == 128)
                                            : (b == 8 || b == 16 || b == 32 || b == 64);
            if (!ok) bad(text, "an unknown number width");
            t.bits = static_cast<unsigned>(b);
        } else {
            bad(text, "an unknown type");
        }
        return t;
    }
};

// A key: the primary key or one secondary index.
struct stored_key {
    std::string id;    // the field's position ("1") or the computed key's name
    std::string name;  // the field's name for a member key, else the computed key's name
    std::string db;    // the LMDB database of its entries
    bool unique = true;
    bool sparse = false;     // an optional key whose nullopt has no entry
    std::uint32_t revision = 1;
    std::optional<std::size_t> field;  // the model's field it is, for a member key
    std::string type_text;             // the key's type as the fingerprint spells it
    stored_type type;
};

struct stored_table {
    std::string name;
    std::string db;  // the LMDB database of its rows
    std::uint32_t version = 1;
    std::string fields_text;
    stored_type row;  // an aggregate
    stored_key primary;
    std::vector<stored_key> indexes;
    bool upgrading = false;  // an upgrade is unfinished: open read-write once to finish it
};

struct catalog {
    std::uint32_t encoding = 0;  // the newest encoding version among the tables
    std::vector<stored_table> tables;

    const stored_table* find(std::string_view name) const noexcept {
        for (const auto& t : tables)
            if (t.name == name) return &t;
        return nullptr;
    }
};

namespace detail {

// Applies "names:" lines ("2.0=street") to an aggregate's type tree.
[[gnu::cold]] inline void apply_names(stored_type& row, std::string_view text) {
    for_each_line(text, [&](std::string_view line) {
        auto eq = line.find('=');
        if (eq == std::string_view::npos) return;
        std::string_view path = line.substr(0, eq), name = line.substr(eq + 1);
        stored_type* t = &row;
        for (;;) {
            while (t->k == stored_type::kind::vector || t->k == stored_type::kind::optional ||
                   t->k == stored_type::kind::array)
                t = &t->elements[0];
            auto dot = path.find('.');
            std::string_view step = path.substr(0, dot);
            std::size_t i = step == "0" ? 0 : fingerprint::parse_number(step);
            if (i == 0 && step != "0") return;  // not a position
            if ((t->k != stored_type::kind::aggregate && t->k != stored_type::kind::tuple) || i >= t->elements.size())
                return;  // names for a shape this store no longer has: ignored
            if (dot == std::string_view::npos) {
                if (t->k == stored_type::kind::aggregate) t->names[i] = std::string(name);
                return;
            }
            t = &t->elements[i];
            path = path.substr(dot + 1);
        }
    });
}

// A key line's parts: "<id>:<unique|multi>:<type>[:v<n>][:sparse]" (the type may hold ':').
[[gnu::cold]] inline stored_key parse_key_line(std::string_view line, bool primary, const stored_table& t) {
    stored_key k;
    auto c = line.find(':');
    if (c == std::string_view::npos) throw_mismatch(t.name, "cannot read the key line '" + std::string(line) + "'");
    k.id = std::string(line.substr(0, c));
    std::string_view rest = line.substr(c + 1);
    if (!primary) {
        if (rest.starts_with("unique:")) {
            rest.remove_prefix(7);
        } else if (rest.starts_with("multi:")) {
            k.unique = false;
            rest.remove_prefix(6);
        } else {
            throw_mismatch(t.name, "cannot read the index line '" + std::string(line) + "'");
        }
        for (;;) {  // the suffixes, from the end
            if (rest.ends_with(":sparse")) {
                k.sparse = true;
                rest.remove_suffix(7);
                continue;
            }
            auto v = rest.rfind(":v");
            if (v != std::string_view::npos && fingerprint::parse_number(rest.substr(v + 2)) != 0) {
                k.revision = fingerprint::parse_number(rest.substr(v + 2));
                rest = rest.substr(0, v);
                continue;
            }
            break;
        }
    }
    k.type_text = std::string(rest);
    k.type = stored_type::parse(rest);
    bool numeric = !k.id.empty() && k.id.find_first_not_of("0123456789") == std::string::npos;
    if (numeric && fingerprint::parse_number(k.id) < t.row.elements.size()) {
        k.field = fingerprint::parse_number(k.id);
        k.name = t.row.names[*k.field];
    } else {
        k.name = k.id;
    }
    k.db = primary ? t.db : t.db + "/" + k.id;
    return k;
}

// Names the fields ("names:" text) and the member keys after them.
[[gnu::cold]] inline void name_fields(stored_table& t, std::string_view names) {
    apply_names(t.row, names);
    auto rename = [&](stored_key& key) {
        if (key.field) key.name = t.row.names[*key.field];
    };
    rename(t.primary);
    for (auto& i : t.indexes) rename(i);
}

// A table's catalog entry from its fingerprint and its "names:" text.
[[gnu::cold]] inline stored_table table_of_fingerprint(const std::string& name, const fingerprint& f,
                                                       std::string_view names) {
    stored_table t;
    t.name = name;
    if (f.version == 0) throw_mismatch(t.name, "its version is unreadable");
    t.version = f.version;
    t.db = f.db.empty() ? t.name : f.db;
    t.fields_text = f.fields;
    t.row = stored_type::parse(f.fields);
    if (t.row.k != stored_type::kind::aggregate) throw_mismatch(t.name, "its rows are not a struct");
    t.primary = parse_key_line(f.primary, true, t);
    for (const auto& line : f.indexes) t.indexes.push_back(parse_key_line(line, false, t));
    name_fields(t, names);
    return t;
}

}  // namespace detail

// Reads what the metadata (an open txn on the store's metadata database) says of every table.
// Throws errc::schema_mismatch for a table written by a newer encoding than this build reads.
[[gnu::cold]] inline catalog read_catalog(MDB_txn* txn, MDB_dbi meta) {
    catalog out;
    detail::cursor c(txn, meta);
    MDB_val k, v;
    std::vector<std::pair<std::string, std::string>> names;
    for (bool ok = c.move(k, v, MDB_FIRST); ok; ok = c.move(k, v, MDB_NEXT)) {
        std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
        std::string_view val(static_cast<const char*>(v.mv_data), v.mv_size);
        if (key.starts_with("names:")) {
            names.emplace_back(key.substr(6), val);
            continue;
        }
        if (!key.starts_with("table:")) continue;
        const std::string name(key.substr(6));
        if (!val.starts_with("netabase/"))
            detail::throw_mismatch(name, "its metadata is not a netabase fingerprint");
        std::uint32_t enc = detail::fingerprint::parse_number(val.substr(9, val.find('\n') - 9));
        if (enc == 0 || enc > encoding_version)
            detail::throw_mismatch(name, "written with encoding version " +
                                               std::string(val.substr(9, val.find('\n') - 9)) +
                                               "; this build reads version " + std::to_string(encoding_version) +
                                               ": use a newer netabase");
        if (enc > out.encoding) out.encoding = enc;
        detail::fingerprint f = detail::fingerprint::parse(val);
        if (!f.renamed_to.empty()) continue;  // the tombstone a renamed table left
        out.tables.push_back(detail::table_of_fingerprint(name, f, {}));
    }
    for (const auto& [table, text] : names)
        for (auto& t : out.tables)
            if (t.name == table) detail::name_fields(t, text);
    for (auto& t : out.tables) {
        std::string key = "upgrade:" + t.name;
        MDB_val uk{key.size(), key.data()}, uv;
        int rc = detail::mdb::get(txn, meta, &uk, &uv);
        if (rc == 0) t.upgrading = true;
        else if (rc != MDB_NOTFOUND)  // was read as "no upgrade": a failed read is not an answer
            detail::throw_lmdb(rc, "cannot read the metadata (mdb_get failed)", t.name);
    }
    return out;
}

}  // namespace netabase
