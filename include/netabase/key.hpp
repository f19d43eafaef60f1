// Key encoding (order-preserving) and named key extractors.
//
// An encoded key compares with memcmp exactly as the C++ values compare with <:
//   unsigned integers  big-endian
//   signed integers    big-endian with the sign bit flipped
//   floating point     IEEE bits, all flipped when negative, else the sign bit set; -0.0 is
//                      stored as +0.0 (they are ==); NaNs sort outside the infinities
//   bool, enums        as their integer
//   strings            bytes with 0x00 escaped as 0x00 0xFF, closed by 0x00 0x00, so a
//                      prefix sorts first and the next field of a tuple cannot bleed in
//   optional           0x00 when empty, else 0x01 then the value
//   vector             each element after a 0x01, closed by 0x00; std::array: elements
//   pair, tuple, aggregates, durations, time_points: their parts in order
// Every encoding is self-delimiting, so keys of one type are prefix-free.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/codec.hpp"

#include <boost/pfr/core.hpp>

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace netabase {

// A named key computed from a model: a composite or a derived value.
//   constexpr auto by_name = netabase::key<User>("by_name", [](const User& u) {
//       return std::tuple{u.name, u.age};
//   });
//
// A computed key's entries are only as right as its function: when the function changes, give
// the key a new version, `netabase::key<User>("by_name", fn).version(2)`, and the next
// read-write open rebuilds its index (store.rebuild_index<M>(key) does it on demand).
template <class M, class F, bool Multi = false>
struct computed_key {
    std::string_view name;
    F fn;
    std::uint32_t revision = 1;  // the function's version, recorded with the index

    constexpr computed_key version(std::uint32_t v) const {
        computed_key k = *this;
        k.revision = v;
        return k;
    }
};

template <class M, class F>
constexpr computed_key<M, F> key(std::string_view name, F fn) {
    static_assert(std::is_invocable_v<const F&, const M&>,
                  "netabase::key<M>(name, fn): fn must be callable with const M&");
    return {name, fn, 1};
}

// Several keys per row: fn returns a range (say, a post's tags) and the row gets one index
// entry per distinct element, each kept exact like any other.
//   constexpr auto by_tag = netabase::keys<Post>("by_tag", [](const Post& p) { return p.tags; });
template <class M, class F>
constexpr computed_key<M, F, true> keys(std::string_view name, F fn) {
    static_assert(std::is_invocable_v<const F&, const M&>,
                  "netabase::keys<M>(name, fn): fn must be callable with const M&");
    return {name, fn, 1};
}

namespace detail {

template <class T>
struct key_type_not_supported {
    static_assert(sizeof(T) == 0,
                  "netabase: this type cannot be a key (see 'key_type_not_supported<T>'). Keys are integers, "
                  "floating point, bool, enums, std::string, std::optional, std::vector, std::array, "
                  "std::pair, std::tuple, durations, time_points and aggregates of these.");
};

template <class T>
constexpr bool is_key_type() {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::boolean || k == kind::enumeration || k == kind::integer || k == kind::string)
        return true;
    else if constexpr (k == kind::floating)
        return std::numeric_limits<T>::is_iec559 && !std::is_same_v<T, long double>;
    else if constexpr (k == kind::optional || k == kind::vector || k == kind::array)
        return is_key_type<typename T::value_type>();
    else if constexpr (k == kind::pair || k == kind::tuple)
        return []<std::size_t... I>(std::index_sequence<I...>) {
            return (true && ... && is_key_type<std::tuple_element_t<I, T>>());
        }
    (std::make_index_sequence<std::tuple_size_v<T>>{});
    else if constexpr (k == kind::duration) return is_key_type<typename T::rep>();
    else if constexpr (k == kind::time_point) return is_key_type<typename T::duration>();
    else if constexpr (k == kind::aggregate) return []<std::size_t... I>(std::index_sequence<I...>) {
        return (true && ... && is_key_type<boost::pfr::tuple_element_t<I, T>>());
    }
    (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
    else return false;
}

template <class T>
concept key_type = is_key_type<std::remove_cvref_t<T>>();

template <class U>
inline void store_be(buffer& out, U v) {
    if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1) v = detail::byteswap(v);
    std::memcpy(out.extend(sizeof(U)), &v, sizeof(U));
}

template <class U>
inline U load_be(reader& r) {
    auto s = r.read_bytes(sizeof(U));
    U v;
    std::memcpy(&v, s.data(), sizeof(U));
    if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1) v = detail::byteswap(v);
    return v;
}

inline void encode_key_string(buffer& out, std::string_view s, bool terminate = true) {
    const char* p = s.data();
    const char* end = p + s.size();
    while (p != end) {
        const void* zero = std::memchr(p, 0, static_cast<std::size_t>(end - p));
        const char* stop = zero ? static_cast<const char*>(zero) : end;
        out.append(p, static_cast<std::size_t>(stop - p));
        if (!zero) break;
        std::byte* esc = out.extend(2);
        esc[0] = std::byte{0};
        esc[1] = std::byte{0xff};
        p = stop + 1;
    }
    if (terminate) {
        std::byte* t = out.extend(2);
        t[0] = std::byte{0};
        t[1] = std::byte{0};
    }
}

template <class T>
void encode_key(buffer& out, const T& v);

// Everything a string key can be looked up with, without building a std::string.
template <class T>
concept string_like = std::is_convertible_v<const T&, std::string_view>;

template <class T>
void encode_key(buffer& out, const T& v) {
    constexpr kind k = kind_v<T>;
    if constexpr (string_like<T> && k != kind::string) {
        encode_key_string(out, std::string_view(v));
    } else if constexpr (k == kind::boolean) {
        out.push(std::byte{v ? std::uint8_t{1} : std::uint8_t{0}});
    } else if constexpr (k == kind::enumeration) {
        encode_key(out, static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (k == kind::integer) {
        using U = std::make_unsigned_t<T>;
        U u = static_cast<U>(v);
        if constexpr (std::is_signed_v<T>) u ^= U(U(1) << (sizeof(U) * 8 - 1));
        store_be(out, u);
    } else if constexpr (k == kind::floating) {
        using U = uint_of_size<sizeof(T)>;
        T x = v == T(0) ? T(0) : v;  // -0.0 == +0.0, so they get one encoding
        U u = std::bit_cast<U>(x);
        constexpr U sign = U(U(1) << (sizeof(U) * 8 - 1));
        u = (u & sign) ? U(~u) : U(u | sign);
        store_be(out, u);
    } else if constexpr (k == kind::string) {
        encode_key_string(out, v);
    } else if constexpr (k == kind::optional) {
        out.push(std::byte{v ? std::uint8_t{1} : std::uint8_t{0}});
        if (v) encode_key(out, *v);
    } else if constexpr (k == kind::vector) {
        for (const auto& e : v) {
            out.push(std::byte{1});
            encode_key(out, static_cast<const typename T::value_type&>(e));
        }
        out.push(std::byte{0});
    } else if constexpr (k == kind::array) {
        for (const auto& e : v) encode_key(out, e);
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        std::apply([&](const auto&... e) { (encode_key(out, e), ...); }, v);
    } else if constexpr (k == kind::duration) {
        encode_key(out, v.count());
    } else if constexpr (k == kind::time_point) {
        encode_key(out, v.time_since_epoch());
    } else if constexpr (k == kind::aggregate && is_key_type<T>()) {
        boost::pfr::for_each_field(v, [&](const auto& f) { encode_key(out, f); });
    } else {
        (void)key_type_not_supported<T>{};
    }
}

inline void decode_key_string(reader& r, std::string& out) {
    out.clear();
    for (;;) {
        auto c = r.raw<std::uint8_t>();
        if (c != 0) {
            out.push_back(static_cast<char>(c));
            continue;
        }
        auto next = r.raw<std::uint8_t>();
        if (next == 0) return;
        if (next != 0xff) [[unlikely]]
            throw_corrupt("a string key has a bad escape");
        out.push_back('\0');
    }
}

template <class T>
void decode_key(reader& r, T& out) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::boolean) {
        auto b = r.raw<std::uint8_t>();
        if (b > 1) [[unlikely]]
            throw_corrupt("a bool key holds " + std::to_string(b));
        out = b == 1;
    } else if constexpr (k == kind::enumeration) {
        std::underlying_type_t<T> u{};
        decode_key(r, u);
        out = static_cast<T>(u);
    } else if constexpr (k == kind::integer) {
        using U = std::make_unsigned_t<T>;
        U u = load_be<U>(r);
        if constexpr (std::is_signed_v<T>) u ^= U(U(1) << (sizeof(U) * 8 - 1));
        out = static_cast<T>(u);
    } else if constexpr (k == kind::floating) {
        using U = uint_of_size<sizeof(T)>;
        constexpr U sign = U(U(1) << (sizeof(U) * 8 - 1));
        U u = load_be<U>(r);
        u = (u & sign) ? U(u & ~sign) : U(~u);
        out = std::bit_cast<T>(u);
    } else if constexpr (k == kind::string) {
        decode_key_string(r, out);
    } else if constexpr (k == kind::optional) {
        auto tag = r.raw<std::uint8_t>();
        if (tag > 1) [[unlikely]]
            throw_corrupt("an optional key's tag holds " + std::to_string(tag));
        if (!tag) {
            out.reset();
        } else {
            out.emplace();
            decode_key(r, *out);
        }
    } else if constexpr (k == kind::vector) {
        out.clear();
        for (;;) {
            auto tag = r.raw<std::uint8_t>();
            if (tag == 0) break;
            if (tag != 1) [[unlikely]]
                throw_corrupt("a vector key has a bad element marker");
            typename T::value_type e{};
            decode_key(r, e);
            out.push_back(std::move(e));
        }
    } else if constexpr (k == kind::array) {
        for (auto& e : out) decode_key(r, e);
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        std::apply([&](auto&... e) { (decode_key(r, e), ...); }, out);
    } else if constexpr (k == kind::duration) {
        typename T::rep c{};
        decode_key(r, c);
        out = T{c};
    } else if constexpr (k == kind::time_point) {
        typename T::duration d{};
        decode_key(r, d);
        out = T{d};
    } else if constexpr (k == kind::aggregate && is_key_type<T>()) {
        boost::pfr::for_each_field(out, [&](auto& f) { decode_key(r, f); });
    } else {
        (void)key_type_not_supported<T>{};
    }
}

template <class T>
T decode_key_bytes(std::span<const std::byte> bytes) {
    reader r(bytes);
    T v{};
    decode_key(r, v);
    if (r.remaining()) [[unlikely]]
        throw_corrupt("a key has " + std::to_string(r.remaining()) + " bytes left over");
    return v;
}

// A key written for people, for error messages: 42, "alice", (3, "x"), 0x00ff10 (bytes).
// Readable at any size: past about `describe_limit` characters, strings and byte strings are cut
// with an ellipsis and their size, sequences stop with their element count, tuples and
// aggregates with an ellipsis.
inline constexpr std::size_t describe_limit = 64;

// Element types whose sequences are bytes, shown in hex: std::byte, unsigned char (std::uint8_t)
// and char (a std::vector<char> key is a buffer: text keys are std::string). signed char
// (std::int8_t) is a small number.
template <class T>
inline constexpr bool is_byte_v =
    std::is_same_v<T, std::byte> || std::is_same_v<T, unsigned char> || std::is_same_v<T, char>;

template <class T>
constexpr bool is_byte_sequence() {
    if constexpr (kind_v<T> == kind::vector || kind_v<T> == kind::array)
        return is_byte_v<typename T::value_type>;
    else
        return false;
}

// Characters left of the description that began at out[start], and never fewer than a few.
inline std::size_t describe_room(const std::string& out, std::size_t start) noexcept {
    std::size_t used = out.size() - start;
    return used + 16 < describe_limit ? describe_limit - used : 16;
}

// The longest prefix of s of at most n bytes that ends between UTF-8 characters.
inline std::size_t utf8_prefix(std::string_view s, std::size_t n) noexcept {
    while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
    return n;
}

// Before each part after the first: ", ", or, once the description has used its room, the
// ellipsis (with the element count, if given) and false.
inline bool describe_next(std::string& out, std::size_t start, std::size_t elements = 0) {
    if (out.size() - start < describe_limit) {
        out += ", ";
        return true;
    }
    out += ", ...";
    if (elements) out += " (" + std::to_string(elements) + " elements)";
    return false;
}

template <class T>
void describe_key_part(std::string& out, const T& v, std::size_t start);

// The parts of a pair, tuple or aggregate (as a tuple of references), between open and close.
template <class Tuple>
void describe_parts(std::string& out, const Tuple& parts, std::size_t start, char open, char close) {
    out += open;
    std::apply(
        [&](const auto&... e) {
            bool first = true, more = true;
            auto part = [&](const auto& x) {
                if (!more || (!first && !(more = describe_next(out, start)))) return;
                first = false;
                describe_key_part(out, x, start);
            };
            (part(e), ...);
        },
        parts);
    out += close;
}

// Appends bytes[0, n) as lowercase hex digits, two per byte.
template <class R>
void append_hex(std::string& out, const R& bytes, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    for (std::size_t i = 0; i < n; ++i) {
        auto b = static_cast<unsigned char>(bytes[i]);
        out += digits[b >> 4];
        out += digits[b & 0xf];
    }
}

template <class R>
void describe_bytes(std::string& out, const R& bytes, std::size_t start) {
    std::size_t n = bytes.size();
    if (n == 0) {
        out += "0x (empty)";
        return;
    }
    std::size_t room = describe_room(out, start);
    std::size_t shown = n * 2 + 2 <= room ? n : (room > 2 ? (room - 2) / 2 : 1);
    out += "0x";
    append_hex(out, bytes, shown);
    if (shown < n) out += "... (" + std::to_string(n) + " bytes)";
}

template <class T>
void describe_key_part(std::string& out, const T& v, std::size_t start) {
    constexpr kind k = kind_v<T>;
    if constexpr (string_like<T>) {
        std::string_view s(v);
        std::size_t room = describe_room(out, start);
        out += '"';
        if (s.size() > room) {
            out.append(s.substr(0, utf8_prefix(s, room)));
            out += "...\" (" + std::to_string(s.size()) + " bytes)";
        } else {
            out.append(s);
            out += '"';
        }
    } else if constexpr (k == kind::boolean) {
        out += v ? "true" : "false";
    } else if constexpr (k == kind::enumeration) {
        describe_key_part(out, static_cast<std::underlying_type_t<T>>(v), start);
    } else if constexpr (k == kind::integer) {
        if constexpr (sizeof(T) == 1)
            out += std::to_string(static_cast<int>(v));
        else
            out += std::to_string(v);
    } else if constexpr (k == kind::floating) {
        out += std::to_string(v);
    } else if constexpr (k == kind::optional) {
        if (v)
            describe_key_part(out, *v, start);
        else
            out += "nullopt";
    } else if constexpr (is_byte_sequence<T>()) {
        describe_bytes(out, v, start);
    } else if constexpr (k == kind::vector || k == kind::array) {
        out += '[';
        bool first = true;
        for (const auto& e : v) {
            if (!first && !describe_next(out, start, v.size())) break;
            first = false;
            describe_key_part(out, static_cast<const typename T::value_type&>(e), start);
        }
        out += ']';
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        describe_parts(out, v, start, '(', ')');
    } else if constexpr (k == kind::duration) {
        describe_key_part(out, v.count(), start);
    } else if constexpr (k == kind::time_point) {
        describe_key_part(out, v.time_since_epoch().count(), start);
    } else if constexpr (k == kind::aggregate) {
        describe_parts(out, boost::pfr::structure_tie(v), start, '{', '}');
    } else {
        out += "<key>";
    }
}

// Appends v's description to out. A part that is long by itself (a float's digits) is cut at
// the end, with the description's full length.
template <class T>
void describe_key(std::string& out, const T& v) {
    const std::size_t start = out.size();
    describe_key_part(out, v, start);
    if (out.size() - start > 2 * describe_limit) {
        std::size_t total = out.size() - start;
        out.resize(start + utf8_prefix(std::string_view(out).substr(start), describe_limit));
        out += "... (" + std::to_string(total) + " characters)";
    }
}

template <class T>
std::string describe_key(const T& v) {
    std::string s;
    describe_key(s, v);
    return s;
}

}  // namespace detail

// Order-preserving key bytes, outside a store: what the property tests use.
template <class T>
std::vector<std::byte> encode_key(const T& v) {
    detail::buffer b;
    detail::encode_key(b, v);
    return {b.data(), b.data() + b.size()};
}

template <class T>
T decode_key(std::span<const std::byte> bytes) {
    return detail::decode_key_bytes<T>(bytes);
}

}  // namespace netabase
