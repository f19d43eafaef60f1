// Rows as JSON, one object per row, from a store's own description of its tables
// (catalog.hpp): what `netabase dump --json` prints and what a program exports and imports.
// Both directions go through the stored bytes and the catalog, so the tool and a program that
// has the models write the same JSON.
//
// This header needs nlohmann-json (Debian: nlohmann-json3-dev; CMake: nlohmann_json). It is not
// part of <netabase/netabase.hpp>: only the translation units that include it pay for it.
//
// The format of a row (its fields in declaration order, named as catalog.hpp says):
//   bool                        true / false
//   integers, enums             numbers (enums as their underlying integer; 64-bit exact)
//   floating point              numbers; NaN and the infinities as "NaN", "Infinity", "-Infinity"
//   std::string                 a string (bytes that are not UTF-8 are replaced by U+FFFD)
//   vector/array of u8, std::byte   a string of lowercase hex digits
//   other vectors and arrays    arrays
//   std::optional               null, or the value
//   pair, tuple                 arrays
//   durations, time_points      the count (of the duration's period, since the clock's epoch)
//   nested structs              objects
//   a user codec's field        {"$codec": name, "$hex": the bytes from it to the row's end};
//                               the fields after it cannot be found without its source
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/catalog.hpp"
#include "netabase/codec.hpp"
#include "netabase/key.hpp"
#include "netabase/tree.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <istream>
#include <limits>
#include <ostream>
#include <ranges>
#include <string>

namespace netabase {

using json_row = nlohmann::ordered_json;  // keeps the fields in their declared order

namespace detail {

using json_kind = stored_type::kind;

[[noreturn, gnu::cold]] inline void json_bad(const std::string& path, const std::string& what) {
    throw error(errc::invalid_argument, (path.empty() ? std::string("the row") : "field '" + path + "'") + ": " + what);
}

inline std::string json_path(const std::string& path, std::string_view step) {
    return path.empty() ? std::string(step) : path + "." + std::string(step);
}

inline std::string hex_of(std::span<const std::byte> b) {
    std::string s;
    append_hex(s, b.data(), b.size());
    return s;
}

inline void hex_into(const std::string& path, std::string_view hex, buffer& out) {
    if (hex.size() % 2) json_bad(path, "a hex string has an odd number of digits");
    auto digit = [&](char c) -> unsigned {
        if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
        if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
        json_bad(path, std::string("'") + c + "' is not a hex digit");
    };
    for (std::size_t i = 0; i < hex.size(); i += 2)
        out.push(std::byte(static_cast<unsigned char>(digit(hex[i]) << 4 | digit(hex[i + 1]))));
}

// The smallest encoded size of a value of t (bounds element counts before a loop).
inline std::size_t min_value_size(const stored_type& t) {
    switch (t.k) {
        case json_kind::boolean: return 1;
        case json_kind::unsigned_int:
        case json_kind::signed_int:
        case json_kind::floating: return t.bits / 8;
        case json_kind::enumeration:
        case json_kind::duration:
        case json_kind::time_point: return min_value_size(t.elements[0]);
        case json_kind::string:
        case json_kind::vector: return 4;
        case json_kind::optional: return 1;
        case json_kind::array: return t.length * min_value_size(t.elements[0]);
        case json_kind::tuple:
        case json_kind::aggregate: {
            std::size_t n = 0;
            for (const auto& e : t.elements) n += min_value_size(e);
            return n;
        }
        case json_kind::codec: return 0;
    }
    return 0;
}

// ---- numbers, shared by values and keys -------------------------------------------------

inline json_row json_float(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return d;
}

inline double float_of_json(const std::string& path, const json_row& j) {
    if (j.is_number()) return j.get<double>();
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
        if (s == "Infinity") return std::numeric_limits<double>::infinity();
        if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    }
    json_bad(path, "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got " + j.dump());
}

// An integer of `bits` bits as its two's complement bit pattern.
inline std::uint64_t int_of_json(const std::string& path, const json_row& j, bool is_signed, unsigned bits) {
    const std::string want = std::string(is_signed ? "a signed" : "an unsigned") + " " + std::to_string(bits) +
                             "-bit integer";
    // A JSON value built in a program holds 9 as a signed integer: unsigned for this as parsed.
    if (j.is_number_unsigned() || (j.is_number_integer() && j.get<std::int64_t>() >= 0)) {
        auto v = j.get<std::uint64_t>();
        std::uint64_t max = is_signed ? (std::uint64_t{1} << (bits - 1)) - 1
                                      : (bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1);
        if (v > max) json_bad(path, "expected " + want + ", got " + j.dump());
        return v;
    }
    if (j.is_number_integer()) {
        auto v = j.get<std::int64_t>();
        std::int64_t min = bits == 64 ? std::numeric_limits<std::int64_t>::min() : -(std::int64_t{1} << (bits - 1));
        if (!is_signed || v < min) json_bad(path, "expected " + want + ", got " + j.dump());
        return static_cast<std::uint64_t>(v);
    }
    json_bad(path, "expected " + want + ", got " + j.dump());
}

inline std::int64_t sign_extend(std::uint64_t u, unsigned bits) {
    if (bits == 64) return static_cast<std::int64_t>(u);
    std::uint64_t sign = std::uint64_t{1} << (bits - 1);
    return static_cast<std::int64_t>((u ^ sign) - sign);
}

inline std::uint64_t load_le_bits(const std::byte* p, unsigned bits) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < bits / 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
    return v;
}

inline void store_le_bits(buffer& out, std::uint64_t v, unsigned bits) {
    for (unsigned i = 0; i < bits / 8; ++i) out.push(std::byte(static_cast<unsigned char>(v >> (8 * i))));
}

// ---- values -----------------------------------------------------------------------------

// Reads one value of type t. `opaque` is set once a user codec's field took the rest.
inline json_row value_to_json(const stored_type& t, reader& r, bool& opaque) {
    switch (t.k) {
        case json_kind::boolean: {
            auto b = r.raw<std::uint8_t>();
            if (b > 1) throw_corrupt("a bool holds " + std::to_string(b));
            return b == 1;
        }
        case json_kind::unsigned_int:
        case json_kind::signed_int: {
            auto s = r.read_bytes(t.bits / 8);
            std::uint64_t u = load_le_bits(s.data(), t.bits);
            if (t.k == json_kind::signed_int) return sign_extend(u, t.bits);
            return u;
        }
        case json_kind::floating: {
            auto s = r.read_bytes(t.bits / 8);
            if (t.bits == 32) return json_float(std::bit_cast<float>(static_cast<std::uint32_t>(load_le_bits(s.data(), 32))));
            if (t.bits == 64) return json_float(std::bit_cast<double>(load_le_bits(s.data(), 64)));
            long double v{};  // long double: its value bytes on this machine's format
            std::memcpy(&v, s.data(), long_double_bytes);
            return json_float(static_cast<double>(v));
        }
        case json_kind::enumeration:
        case json_kind::duration:
        case json_kind::time_point: return value_to_json(t.elements[0], r, opaque);
        case json_kind::string: {
            std::size_t n = r.raw<std::uint32_t>();
            auto s = r.read_bytes(n);
            return std::string(reinterpret_cast<const char*>(s.data()), n);
        }
        case json_kind::vector:
        case json_kind::array: {
            std::size_t n = t.length;
            if (t.k == json_kind::vector) {
                n = r.raw<std::uint32_t>();
                std::size_t each = min_value_size(t.elements[0]);
                if (n > r.remaining() / (each ? each : 1)) throw_corrupt("a length prefix", n * each, r.remaining());
            }
            if (t.is_bytes()) return hex_of(r.read_bytes(n));
            json_row a = json_row::array();
            for (std::size_t i = 0; i < n && !opaque; ++i) a.push_back(value_to_json(t.elements[0], r, opaque));
            return a;
        }
        case json_kind::optional: {
            auto tag = r.raw<std::uint8_t>();
            if (tag > 1) throw_corrupt("an optional's tag holds " + std::to_string(tag));
            if (tag == 0) return nullptr;
            return value_to_json(t.elements[0], r, opaque);
        }
        case json_kind::tuple: {
            json_row a = json_row::array();
            for (const auto& e : t.elements) {
                if (opaque) break;
                a.push_back(value_to_json(e, r, opaque));
            }
            return a;
        }
        case json_kind::aggregate: {
            json_row o = json_row::object();
            for (std::size_t i = 0; i < t.elements.size() && !opaque; ++i)
                o[t.names[i]] = value_to_json(t.elements[i], r, opaque);
            return o;
        }
        case json_kind::codec: {
            opaque = true;
            json_row o = json_row::object();
            o["$codec"] = t.codec_name;
            o["$hex"] = hex_of(r.read_bytes(r.remaining()));
            return o;
        }
    }
    return nullptr;
}

// Returns true once a user codec's field took the rest of the row (value_to_json's `opaque`):
// the fields after it, at every level, are in its bytes.
inline bool value_from_json(const stored_type& t, const json_row& j, buffer& out, const std::string& path) {
    switch (t.k) {
        case json_kind::boolean:
            if (!j.is_boolean()) json_bad(path, "expected true or false, got " + j.dump());
            out.push(std::byte{j.get<bool>() ? std::uint8_t{1} : std::uint8_t{0}});
            return false;
        case json_kind::unsigned_int:
        case json_kind::signed_int:
            store_le_bits(out, int_of_json(path, j, t.k == json_kind::signed_int, t.bits), t.bits);
            return false;
        case json_kind::floating: {
            double d = float_of_json(path, j);
            if (t.bits == 32) {
                store_le_bits(out, std::bit_cast<std::uint32_t>(static_cast<float>(d)), 32);
            } else if (t.bits == 64) {
                store_le_bits(out, std::bit_cast<std::uint64_t>(d), 64);
            } else {
                long double v = d;
                std::byte* p = out.extend(sizeof(long double));
                std::memset(p, 0, sizeof(long double));
                std::memcpy(p, &v, long_double_bytes);
            }
            return false;
        }
        case json_kind::enumeration:
        case json_kind::duration:
        case json_kind::time_point: return value_from_json(t.elements[0], j, out, path);
        case json_kind::string: {
            if (!j.is_string()) json_bad(path, "expected a string, got " + j.dump());
            const auto& s = j.get_ref<const std::string&>();
            store_le_bits(out, s.size(), 32);
            out.append(s.data(), s.size());
            return false;
        }
        case json_kind::vector:
        case json_kind::array: {
            if (t.is_bytes()) {
                if (!j.is_string()) json_bad(path, "expected a string of hex digits, got " + j.dump());
                const auto& s = j.get_ref<const std::string&>();
                if (t.k == json_kind::array && s.size() != 2 * t.length)
                    json_bad(path, "expected " + std::to_string(t.length) + " bytes in hex, got " +
                                       std::to_string(s.size()) + " digits");
                if (t.k == json_kind::vector) store_le_bits(out, s.size() / 2, 32);
                hex_into(path, s, out);
                return false;
            }
            if (!j.is_array()) json_bad(path, "expected an array, got " + j.dump());
            if (t.k == json_kind::array && j.size() > t.length)
                json_bad(path, "expected " + std::to_string(t.length) + " elements, got " + std::to_string(j.size()));
            if (t.k == json_kind::vector) store_le_bits(out, j.size(), 32);
            const std::size_t n = t.k == json_kind::array ? t.length : j.size();
            for (std::size_t i = 0; i < n; ++i) {
                if (i == j.size())  // an array ends early only where a user codec's element took the rest
                    json_bad(path, "expected " + std::to_string(t.length) + " elements, got " + std::to_string(j.size()));
                if (value_from_json(t.elements[0], j[i], out, path + "[" + std::to_string(i) + "]")) return true;
            }
            return false;
        }
        case json_kind::optional:
            out.push(std::byte{j.is_null() ? std::uint8_t{0} : std::uint8_t{1}});
            return !j.is_null() && value_from_json(t.elements[0], j, out, path);
        case json_kind::tuple:
            if (!j.is_array() || j.size() > t.elements.size())
                json_bad(path, "expected an array of " + std::to_string(t.elements.size()) + " elements, got " +
                                   j.dump());
            for (std::size_t i = 0; i < t.elements.size(); ++i) {
                if (i == j.size())  // it ends early only where a user codec's part took the rest
                    json_bad(path, "expected an array of " + std::to_string(t.elements.size()) + " elements, got " +
                                       j.dump());
                if (value_from_json(t.elements[i], j[i], out, path + "[" + std::to_string(i) + "]")) return true;
            }
            return false;
        case json_kind::aggregate: {
            if (!j.is_object()) json_bad(path, "expected an object, got " + j.dump());
            for (std::size_t i = 0; i < t.elements.size(); ++i) {
                auto f = j.find(t.names[i]);
                std::string p = json_path(path, t.names[i]);
                if (f == j.end()) json_bad(p, "missing");
                // A user codec's field, here or nested in this one, held the rest: also of the
                // enclosing structs (value_to_json stops at every level).
                if (value_from_json(t.elements[i], *f, out, p)) return true;
            }
            for (auto it = j.begin(); it != j.end(); ++it)
                if (std::find(t.names.begin(), t.names.end(), it.key()) == t.names.end())
                    json_bad(json_path(path, it.key()), "the table has no such field");
            return false;
        }
        case json_kind::codec: {
            auto h = j.is_object() ? j.find("$hex") : j.end();
            if (h == j.end() || !h->is_string())
                json_bad(path, "a user codec's field is {\"$codec\": name, \"$hex\": bytes}, got " + j.dump());
            hex_into(path, h->get_ref<const std::string&>(), out);
            return true;
        }
    }
    return false;
}

// ---- keys (key.hpp's order-preserving encoding) ------------------------------------------

inline std::uint64_t load_be_bits(reader& r, unsigned bits) {
    auto s = r.read_bytes(bits / 8);
    std::uint64_t v = 0;
    for (auto b : s) v = v << 8 | static_cast<unsigned char>(b);
    return v;
}

inline void store_be_bits(buffer& out, std::uint64_t v, unsigned bits) {
    for (unsigned i = bits / 8; i-- > 0;) out.push(std::byte(static_cast<unsigned char>(v >> (8 * i))));
}

inline json_row key_to_json(const stored_type& t, reader& r) {
    switch (t.k) {
        case json_kind::boolean: {
            auto b = r.raw<std::uint8_t>();
            if (b > 1) throw_corrupt("a bool key holds " + std::to_string(b));
            return b == 1;
        }
        case json_kind::unsigned_int: return load_be_bits(r, t.bits);
        case json_kind::signed_int: {
            std::uint64_t u = load_be_bits(r, t.bits) ^ (std::uint64_t{1} << (t.bits - 1));
            return sign_extend(u, t.bits);
        }
        case json_kind::floating: {
            if (t.bits != 32 && t.bits != 64) throw_corrupt("a long double key");
            std::uint64_t sign = std::uint64_t{1} << (t.bits - 1), u = load_be_bits(r, t.bits);
            u = (u & sign) ? (u & ~sign) : (~u & (t.bits == 64 ? ~std::uint64_t{0} : 0xffffffffu));
            return t.bits == 32 ? json_float(std::bit_cast<float>(static_cast<std::uint32_t>(u)))
                                : json_float(std::bit_cast<double>(u));
        }
        case json_kind::enumeration:
        case json_kind::duration:
        case json_kind::time_point: return key_to_json(t.elements[0], r);
        case json_kind::string: {
            std::string s;
            decode_key_string(r, s);
            return s;
        }
        case json_kind::optional: {
            auto tag = r.raw<std::uint8_t>();
            if (tag > 1) throw_corrupt("an optional key's tag holds " + std::to_string(tag));
            return tag ? key_to_json(t.elements[0], r) : json_row(nullptr);
        }
        case json_kind::vector:
        case json_kind::array: {  // an array has t.length elements; a vector's each follow a 1, and a 0 ends them
            json_row a = json_row::array();
            buffer bytes;
            for (std::size_t i = 0;; ++i) {
                if (t.k == json_kind::array) {
                    if (i == t.length) break;
                } else {
                    auto tag = r.raw<std::uint8_t>();
                    if (tag == 0) break;
                    if (tag != 1) throw_corrupt("a vector key has a bad element marker");
                }
                json_row e = key_to_json(t.elements[0], r);
                if (t.is_bytes())
                    bytes.push(std::byte(static_cast<unsigned char>(e.get<std::int64_t>())));
                else
                    a.push_back(std::move(e));
            }
            if (t.is_bytes()) return hex_of(bytes.span());
            return a;
        }
        case json_kind::tuple:
        case json_kind::aggregate: {
            json_row a = json_row::array();  // a key's struct is shown by position, like a tuple
            for (const auto& e : t.elements) a.push_back(key_to_json(e, r));
            return a;
        }
        case json_kind::codec: throw_corrupt("a key of a user codec's type");
    }
    return nullptr;
}

inline void key_from_json(const stored_type& t, const json_row& j, buffer& out, const std::string& path) {
    switch (t.k) {
        case json_kind::boolean:
            if (!j.is_boolean()) json_bad(path, "expected true or false, got " + j.dump());
            out.push(std::byte{j.get<bool>() ? std::uint8_t{1} : std::uint8_t{0}});
            return;
        case json_kind::unsigned_int:
            store_be_bits(out, int_of_json(path, j, false, t.bits), t.bits);
            return;
        case json_kind::signed_int:
            store_be_bits(out, int_of_json(path, j, true, t.bits) ^ (std::uint64_t{1} << (t.bits - 1)), t.bits);
            return;
        case json_kind::floating: {
            double d = float_of_json(path, j);
            if (d == 0) d = 0;  // -0.0 is stored as +0.0
            if (t.bits == 32) {
                std::uint32_t u = std::bit_cast<std::uint32_t>(static_cast<float>(d));
                u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
                store_be_bits(out, u, 32);
            } else if (t.bits == 64) {
                std::uint64_t u = std::bit_cast<std::uint64_t>(d), sign = std::uint64_t{1} << 63;
                u = (u & sign) ? ~u : (u | sign);
                store_be_bits(out, u, 64);
            } else {
                json_bad(path, "a long double key cannot be written from JSON");
            }
            return;
        }
        case json_kind::enumeration:
        case json_kind::duration:
        case json_kind::time_point: key_from_json(t.elements[0], j, out, path); return;
        case json_kind::string:
            if (!j.is_string()) json_bad(path, "expected a string, got " + j.dump());
            encode_key_string(out, j.get_ref<const std::string&>());
            return;
        case json_kind::optional:
            out.push(std::byte{j.is_null() ? std::uint8_t{0} : std::uint8_t{1}});
            if (!j.is_null()) key_from_json(t.elements[0], j, out, path);
            return;
        case json_kind::vector:
        case json_kind::array: {
            json_row elems = j;
            if (t.is_bytes()) {  // hex, element by element as numbers
                if (!j.is_string()) json_bad(path, "expected a string of hex digits, got " + j.dump());
                buffer raw;
                hex_into(path, j.get_ref<const std::string&>(), raw);
                elems = json_row::array();
                for (auto b : raw.span()) elems.push_back(static_cast<unsigned>(b));
            }
            if (!elems.is_array()) json_bad(path, "expected an array, got " + j.dump());
            if (t.k == json_kind::array && elems.size() != t.length)
                json_bad(path, "expected " + std::to_string(t.length) + " elements, got " +
                                   std::to_string(elems.size()));
            for (std::size_t i = 0; i < elems.size(); ++i) {
                if (t.k == json_kind::vector) out.push(std::byte{1});
                key_from_json(t.elements[0], elems[i], out, path + "[" + std::to_string(i) + "]");
            }
            if (t.k == json_kind::vector) out.push(std::byte{0});
            return;
        }
        case json_kind::tuple:
        case json_kind::aggregate:
            if (!j.is_array() || j.size() != t.elements.size())
                json_bad(path, "expected an array of " + std::to_string(t.elements.size()) + " parts, got " + j.dump());
            for (std::size_t i = 0; i < t.elements.size(); ++i)
                key_from_json(t.elements[i], j[i], out, path + "[" + std::to_string(i) + "]");
            return;
        case json_kind::codec: json_bad(path, "a key of a user codec's type cannot be written from JSON");
    }
}

// The catalog entry this program writes for M: the same text the metadata holds.
template <class M>
[[gnu::cold]] stored_table make_stored_table() {
    const table_schema& s = schema_of<M>;
    return table_of_fingerprint(std::string(s.name), recorded_fingerprint(s), s.names);
}

}  // namespace detail

// One stored row (its bytes, as a Guard's bytes() gives them) as a JSON object. A value that
// does not decode is errc::corrupt_value.
inline json_row row_to_json(const stored_table& table, std::span<const std::byte> value) {
    reader r = detail::open_row(value);
    bool opaque = false;
    json_row j = detail::value_to_json(table.row, r, opaque);
    detail::expect_end(r);
    return j;
}

// A row's stored bytes from its JSON object (the inverse of row_to_json).
inline void row_from_json(const stored_table& table, const json_row& j, detail::buffer& out) {
    out.clear();
    out.push(std::byte{encoding_version});
    (void)detail::value_from_json(table.row, j, out, "");
}

// A stored key's bytes as JSON, and a key's bytes from JSON.
inline json_row key_to_json(const stored_type& type, std::span<const std::byte> bytes) {
    reader r(bytes);
    json_row j = detail::key_to_json(type, r);
    if (r.remaining()) detail::throw_corrupt("a key has " + std::to_string(r.remaining()) + " bytes left over");
    return j;
}
inline void key_from_json(const stored_type& type, const json_row& j, detail::buffer& out) {
    out.clear();
    detail::key_from_json(type, j, out, "");
}

// M's table as this program describes it (the netabase tool reads the same from the metadata).
template <class M>
const stored_table& stored_table_of() {
    static const stored_table t = detail::make_stored_table<M>();
    return t;
}

// Writes rows (a Tree, an Index, or any range of rows) as JSON Lines: one object per row.
// Returns how many it wrote.
template <class R>
std::size_t export_json(const R& rows, std::ostream& out) {
    using G = std::remove_cvref_t<decltype(*std::ranges::begin(rows))>;
    const stored_table& table = stored_table_of<typename G::model_type>();
    std::size_t n = 0;
    for (const auto& g : rows) {
        out << row_to_json(table, g.bytes()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        ++n;
    }
    return n;
}

// Reads JSON Lines (what export_json writes) into a read-write tree, putting each row (insert or
// replace) with its indexes. A line that is not a row of this table is errc::invalid_argument
// naming the table, the line and the field; the rows before it are in the transaction, which
// the caller aborts or commits. Blank lines are skipped. Returns how many rows it put.
template <class M, class B>
std::size_t import_json(Tree<M, access::write, B>& tree, std::istream& in) {
    const stored_table& table = stored_table_of<M>();
    std::string line;
    detail::buffer bytes;
    std::size_t n = 0, line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        M row{};
        try {
            json_row j = json_row::parse(line);
            row_from_json(table, j, bytes);
            row = detail::decode_row_new<M>(bytes.span());
        } catch (const nlohmann::json::exception& e) {
            throw error(errc::invalid_argument, "import into table '" + table.name + "', line " +
                                                    std::to_string(line_no) + ": not JSON: " + e.what(),
                        table.name);
        } catch (const error& e) {
            throw error(errc::invalid_argument,
                        "import into table '" + table.name + "', line " + std::to_string(line_no) + ": " + e.what(),
                        table.name);
        }
        tree.put(row);
        ++n;
    }
    return n;
}

}  // namespace netabase
