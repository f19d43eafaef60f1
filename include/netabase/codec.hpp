// Value encoding: how a model and every field type is laid out in a stored value.
//
// Layout (encoding version 1): one version byte, then the model's fields in declaration
// order. Fixed-size scalars are little-endian at their own width; strings and vectors are a
// u32 length then the payload; optionals a 0/1 byte then the value; arrays, pairs, tuples and
// nested aggregates their elements in order. Nothing is aligned: readers memcpy, because
// LMDB only guarantees 2-byte alignment of the values it returns.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/detail/buffer.hpp"
#include "netabase/detail/crc32c.hpp"
#include "netabase/error.hpp"

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <array>
#include <bit>
#include <cfloat>
#if __has_include(<bits/chrono.h>)  // libstdc++: durations and clocks without <chrono>'s I/O (issue #14)
#include <bits/chrono.h>
#else
#include <chrono>
#endif
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace netabase {

// The customisation point. Specialise it for a type netabase does not know:
//
//   template <> struct netabase::codec<Money> {
//       static constexpr std::string_view name = "money";     // goes into the schema fingerprint
//       static void encode(netabase::writer& w, const Money& m) { w.write(m.cents); }
//       static Money decode(netabase::reader& r) { return Money{r.read<std::int64_t>()}; }
//   };
//
// The primary template is left as a marker so netabase can tell a specialisation apart.
template <class T>
struct codec {
    using netabase_no_codec = void;
};

inline constexpr std::uint8_t encoding_version = 1;
// Set in the version byte of a value that ends in a CRC32C of everything before it.
inline constexpr std::uint8_t checksum_flag = 0x80;

class writer;
class reader;

namespace detail {

template <class T>
struct field_type_not_supported {
    static_assert(sizeof(T) == 0,
                  "netabase: this field type has no codec (see the type in 'field_type_not_supported<T>'). "
                  "Supported: bool, integers, floating point, enums, std::string, std::vector, std::array, "
                  "std::optional, std::pair, std::tuple, std::chrono durations and time_points, and aggregates "
                  "of these. Pointers, references, views and polymorphic types are never stored. "
                  "Specialise netabase::codec<T> to add a type.");
};

template <class T, template <class...> class Tmpl>
inline constexpr bool is_specialization_v = false;
template <class... A, template <class...> class Tmpl>
inline constexpr bool is_specialization_v<Tmpl<A...>, Tmpl> = true;

template <class T>
inline constexpr bool is_std_array_v = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array_v<std::array<T, N>> = true;

template <class T>
inline constexpr bool is_duration_v = false;
template <class R, class P>
inline constexpr bool is_duration_v<std::chrono::duration<R, P>> = true;

template <class T>
inline constexpr bool is_time_point_v = false;
template <class C, class D>
inline constexpr bool is_time_point_v<std::chrono::time_point<C, D>> = true;

template <class T>
concept has_user_codec = !requires {
    typename codec<T>::netabase_no_codec;
};

enum class kind {
    user,
    boolean,
    enumeration,
    integer,
    floating,
    string,
    vector,
    array,
    optional,
    pair,
    tuple,
    duration,
    time_point,
    aggregate,
    unsupported
};

template <class T>
constexpr kind kind_of() {
    if constexpr (has_user_codec<T>)
        return kind::user;
    else if constexpr (std::is_same_v<T, bool>)
        return kind::boolean;
    else if constexpr (std::is_enum_v<T>)
        return kind::enumeration;
    else if constexpr (std::is_integral_v<T>)
        return kind::integer;
    else if constexpr (std::is_floating_point_v<T>)
        return kind::floating;
    else if constexpr (std::is_same_v<T, std::string>)
        return kind::string;
    else if constexpr (is_specialization_v<T, std::vector>)
        return kind::vector;
    else if constexpr (is_std_array_v<T>)
        return kind::array;
    else if constexpr (is_specialization_v<T, std::optional>)
        return kind::optional;
    else if constexpr (is_specialization_v<T, std::pair>)
        return kind::pair;
    else if constexpr (is_specialization_v<T, std::tuple>)
        return kind::tuple;
    else if constexpr (is_duration_v<T>)
        return kind::duration;
    else if constexpr (is_time_point_v<T>)
        return kind::time_point;
    else if constexpr (std::is_class_v<T> && std::is_aggregate_v<T> && !std::is_polymorphic_v<T> && !std::is_const_v<T>)
        return kind::aggregate;
    else
        return kind::unsupported;
}

template <class T>
inline constexpr kind kind_v = kind_of<std::remove_cv_t<T>>();

// Bytes of a long double that carry its value: x87's 80-bit format has 6 bytes of padding
// whose contents are unspecified, and they must not reach the disk.
inline constexpr std::size_t long_double_bytes = (LDBL_MANT_DIG == 64) ? 10 : sizeof(long double);

template <class T>
constexpr std::size_t scalar_size() {
    if constexpr (std::is_same_v<T, long double>)
        return sizeof(long double);
    else
        return sizeof(T);
}

// The encoded size of T when every value of T has the same size, else 0.
template <class T>
constexpr std::size_t fixed_size();

template <class Tuple, std::size_t... I>
constexpr std::size_t fixed_size_sum(std::index_sequence<I...>) {
    constexpr std::array<std::size_t, sizeof...(I)> sizes{fixed_size<std::tuple_element_t<I, Tuple>>()...};
    std::size_t total = 0;
    for (auto s : sizes) {
        if (s == 0) return 0;
        total += s;
    }
    return total;
}

template <class T, std::size_t... I>
constexpr std::size_t fixed_size_fields(std::index_sequence<I...>) {
    constexpr std::array<std::size_t, sizeof...(I) + 1> sizes{fixed_size<boost::pfr::tuple_element_t<I, T>>()..., 1};
    std::size_t total = 0;
    for (std::size_t i = 0; i < sizeof...(I); ++i) {
        if (sizes[i] == 0) return 0;
        total += sizes[i];
    }
    return total;
}

template <class T>
constexpr std::size_t fixed_size() {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::boolean)
        return 1;
    else if constexpr (k == kind::enumeration)
        return sizeof(std::underlying_type_t<T>);
    else if constexpr (k == kind::integer || k == kind::floating)
        return scalar_size<T>();
    else if constexpr (k == kind::array)
        return fixed_size<typename T::value_type>() * std::tuple_size_v<T>;
    else if constexpr (k == kind::pair || k == kind::tuple)
        return fixed_size_sum<T>(std::make_index_sequence<std::tuple_size_v<T>>{});
    else if constexpr (k == kind::duration)
        return fixed_size<typename T::rep>();
    else if constexpr (k == kind::time_point)
        return fixed_size<typename T::duration>();
    else if constexpr (k == kind::aggregate) {
        if constexpr (boost::pfr::tuple_size_v<T> == 0)
            return 0;
        else
            return fixed_size_fields<T>(std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
    } else
        return 0;
}

// A lower bound on T's encoded size: bounds element counts before anything is allocated.
template <class T>
constexpr std::size_t min_size() {
    constexpr kind k = kind_v<T>;
    if constexpr (fixed_size<T>() != 0)
        return fixed_size<T>();
    else if constexpr (k == kind::string || k == kind::vector)
        return 4;
    else if constexpr (k == kind::optional)
        return 1;
    else if constexpr (k == kind::array)
        return min_size<typename T::value_type>() * std::tuple_size_v<T>;
    else if constexpr (k == kind::pair || k == kind::tuple) {
        return []<std::size_t... I>(std::index_sequence<I...>) {
            return (std::size_t{0} + ... + min_size<std::tuple_element_t<I, T>>());
        }
        (std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (k == kind::aggregate) {
        return []<std::size_t... I>(std::index_sequence<I...>) {
            return (std::size_t{0} + ... + min_size<boost::pfr::tuple_element_t<I, T>>());
        }
        (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
    } else
        return 0;
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_corrupt(const char* what, std::size_t need, std::size_t have) {
    throw error(errc::corrupt_value, std::string("corrupt value: ") + what + " needs " + std::to_string(need) +
                                         " bytes, " + std::to_string(have) + " left");
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_corrupt(const std::string& what) {
    throw error(errc::corrupt_value, "corrupt value: " + what);
}

// std::byteswap is C++23.
template <class U>
constexpr U byteswap(U v) noexcept {
    if constexpr (sizeof(U) == 2)
        return static_cast<U>(__builtin_bswap16(static_cast<std::uint16_t>(v)));
    else if constexpr (sizeof(U) == 4)
        return static_cast<U>(__builtin_bswap32(static_cast<std::uint32_t>(v)));
    else if constexpr (sizeof(U) == 8)
        return static_cast<U>(__builtin_bswap64(static_cast<std::uint64_t>(v)));
    else
        return v;
}

template <class U>
inline U load_le(const std::byte* p) noexcept {
    U v;
    std::memcpy(&v, p, sizeof(U));
    if constexpr (std::endian::native == std::endian::big && sizeof(U) > 1) v = detail::byteswap(v);
    return v;
}

template <class U>
inline void store_le(std::byte* p, U v) noexcept {
    if constexpr (std::endian::native == std::endian::big && sizeof(U) > 1) v = detail::byteswap(v);
    std::memcpy(p, &v, sizeof(U));
}

template <std::size_t N>
using uint_of_size = std::conditional_t<
    N == 1, std::uint8_t,
    std::conditional_t<N == 2, std::uint16_t, std::conditional_t<N == 4, std::uint32_t, std::uint64_t>>>;


// Scalars whose every bit pattern is a value (integers, floats, enums with a fixed underlying
// type), at most 8 bytes: read with one load once their bytes are known to be there.
template <class T>
inline constexpr bool plain_scalar_v = [] {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::integer || k == kind::floating)
        return !std::is_same_v<T, long double> && sizeof(T) <= 8 && fixed_size<T>() == sizeof(T);
    else if constexpr (k == kind::enumeration)
        return sizeof(T) <= 8;
    else
        return false;
}();

template <class T>
[[gnu::always_inline]] inline T load_scalar(const std::byte* p) noexcept {
    if constexpr (std::is_enum_v<T>)
        return static_cast<T>(load_scalar<std::underlying_type_t<T>>(p));
    else if constexpr (std::is_floating_point_v<T>)
        return std::bit_cast<T>(load_le<uint_of_size<sizeof(T)>>(p));
    else
        return static_cast<T>(load_le<uint_of_size<sizeof(T)>>(p));
}

}  // namespace detail

// Reads encoded bytes; every read is bounds-checked and a short or malformed input throws
// netabase::error(errc::corrupt_value). User codecs receive one in decode().
class reader {
public:
    reader(const std::byte* begin, const std::byte* end) noexcept : p_(begin), end_(end) {}
    explicit reader(std::span<const std::byte> s) noexcept : p_(s.data()), end_(s.data() + s.size()) {}

    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
    const std::byte* position() const noexcept { return p_; }

    std::span<const std::byte> read_bytes(std::size_t n) {
        need(n, "a byte run");
        std::span<const std::byte> s{p_, n};
        p_ += n;
        return s;
    }
    void skip(std::size_t n) {
        need(n, "a field");
        p_ += n;
    }

    template <class T>
    T read();
    template <class T>
    void read_into(T& out);

    void need(std::size_t n, const char* what) const {
        if (remaining() < n) [[unlikely]]
            detail::throw_corrupt(what, n, remaining());
    }

    template <class U>
    U raw() {  // a fixed-width little-endian scalar
        need(sizeof(U), "a scalar");
        U v = detail::load_le<U>(p_);
        p_ += sizeof(U);
        return v;
    }

private:
    const std::byte* p_;
    const std::byte* end_;
};

// Appends encoded bytes. User codecs receive one in encode().
class writer {
public:
    explicit writer(detail::buffer& out) noexcept : out_(&out) {}

    template <class T>
    void write(const T& v);
    void write_bytes(std::span<const std::byte> s) { out_->append(s.data(), s.size()); }
    template <class U>
    void raw(U v) {  // a fixed-width little-endian scalar
        detail::store_le<U>(out_->extend(sizeof(U)), v);
    }
    detail::buffer& buffer() noexcept { return *out_; }

private:
    detail::buffer* out_;
};

namespace detail {

template <class T>
void encode_value(writer& w, const T& v);
template <class T>
void decode_value(reader& r, T& out);
template <class T>
void skip_value(reader& r);

inline void write_length(writer& w, std::size_t n) {
    if (n > 0xffffffffu) [[unlikely]]
        throw error(errc::invalid_argument, "a string or vector longer than 2^32-1 elements cannot be stored");
    w.raw(static_cast<std::uint32_t>(n));
}

// A stored count, checked against the bytes left before anything is allocated.
template <class Elem>
std::size_t read_count(reader& r) {
    std::size_t n = r.raw<std::uint32_t>();
    constexpr std::size_t each = min_size<Elem>() ? min_size<Elem>() : 1;
    if (n > r.remaining() / each) [[unlikely]]
        throw_corrupt("a length prefix", n * each, r.remaining());
    return n;
}

template <class T>
void encode_scalar(writer& w, T v) {
    if constexpr (std::is_same_v<T, long double>) {
        std::byte* p = w.buffer().extend(sizeof(long double));
        std::memset(p, 0, sizeof(long double));
        std::memcpy(p, &v, long_double_bytes);
    } else if constexpr (std::is_floating_point_v<T>) {
        w.raw(std::bit_cast<uint_of_size<sizeof(T)>>(v));
    } else {
        w.raw(static_cast<uint_of_size<sizeof(T)>>(v));
    }
}

template <class T>
T decode_scalar(reader& r) {
    if constexpr (std::is_same_v<T, long double>) {
        auto s = r.read_bytes(sizeof(long double));
        long double v{};
        std::memcpy(&v, s.data(), long_double_bytes);
        return v;
    } else if constexpr (std::is_floating_point_v<T>) {
        return std::bit_cast<T>(r.raw<uint_of_size<sizeof(T)>>());
    } else {
        return static_cast<T>(r.raw<uint_of_size<sizeof(T)>>());
    }
}

template <class T>
void encode_value(writer& w, const T& v) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::user) {
        codec<T>::encode(w, v);
    } else if constexpr (k == kind::boolean) {
        w.buffer().push(std::byte{v ? std::uint8_t{1} : std::uint8_t{0}});
    } else if constexpr (k == kind::enumeration) {
        encode_scalar(w, static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (k == kind::integer || k == kind::floating) {
        encode_scalar(w, v);
    } else if constexpr (k == kind::string) {
        write_length(w, v.size());
        w.buffer().append(v.data(), v.size());
    } else if constexpr (k == kind::vector) {
        using E = typename T::value_type;
        write_length(w, v.size());
        if constexpr (std::is_arithmetic_v<E> && !std::is_same_v<E, bool> && !std::is_same_v<E, long double> &&
                      (sizeof(E) == 1 || std::endian::native == std::endian::little)) {
            w.buffer().append(v.data(), v.size() * sizeof(E));
        } else {
            for (const auto& e : v) encode_value(w, static_cast<const E&>(e));
        }
    } else if constexpr (k == kind::array) {
        for (const auto& e : v) encode_value(w, e);
    } else if constexpr (k == kind::optional) {
        w.buffer().push(std::byte{v.has_value() ? std::uint8_t{1} : std::uint8_t{0}});
        if (v) encode_value(w, *v);
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        std::apply([&](const auto&... e) { (encode_value(w, e), ...); }, v);
    } else if constexpr (k == kind::duration) {
        encode_value(w, v.count());
    } else if constexpr (k == kind::time_point) {
        encode_value(w, v.time_since_epoch());
    } else if constexpr (k == kind::aggregate) {
        boost::pfr::for_each_field(v, [&](const auto& f) { encode_value(w, f); });
    } else {
        (void)field_type_not_supported<T>{};
    }
}

template <class T>
void decode_value(reader& r, T& out) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::user) {
        out = codec<T>::decode(r);
    } else if constexpr (k == kind::boolean) {
        auto b = r.raw<std::uint8_t>();
        if (b > 1) [[unlikely]]
            throw_corrupt("a bool holds " + std::to_string(b));
        out = b == 1;
    } else if constexpr (k == kind::enumeration) {
        // Any value of the underlying type is a valid value of an enum with a fixed
        // underlying type, so this conversion is defined for every stored byte pattern.
        out = static_cast<T>(decode_scalar<std::underlying_type_t<T>>(r));
    } else if constexpr (k == kind::integer || k == kind::floating) {
        out = decode_scalar<T>(r);
    } else if constexpr (k == kind::string) {
        std::size_t n = read_count<char>(r);
        auto s = r.read_bytes(n);
        if (out.capacity() < n)  // a fresh string: constructing is cheaper than assign's general path
            out = T(reinterpret_cast<const char*>(s.data()), n);
        else
            out.assign(reinterpret_cast<const char*>(s.data()), n);
    } else if constexpr (k == kind::vector) {
        using E = typename T::value_type;
        std::size_t n = read_count<E>(r);
        if constexpr (std::is_arithmetic_v<E> && !std::is_same_v<E, bool> && !std::is_same_v<E, long double> &&
                      (sizeof(E) == 1 || std::endian::native == std::endian::little)) {
            auto s = r.read_bytes(n * sizeof(E));
            out.resize(n);
            if (n) std::memcpy(out.data(), s.data(), n * sizeof(E));
        } else if constexpr (std::is_same_v<E, bool>) {
            out.clear();
            for (std::size_t i = 0; i < n; ++i) {
                bool b = false;
                decode_value(r, b);
                out.push_back(b);
            }
        } else {
            out.resize(n);  // decodes into the existing elements, reusing their capacity
            for (auto& e : out) decode_value(r, e);
        }
    } else if constexpr (k == kind::array) {
        for (auto& e : out) decode_value(r, e);
    } else if constexpr (k == kind::optional) {
        auto tag = r.raw<std::uint8_t>();
        if (tag > 1) [[unlikely]]
            throw_corrupt("an optional's tag holds " + std::to_string(tag));
        if (tag == 0) {
            out.reset();
        } else {
            if (!out) out.emplace();
            decode_value(r, *out);
        }
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        std::apply([&](auto&... e) { (decode_value(r, e), ...); }, out);
    } else if constexpr (k == kind::duration) {
        out = T{decode_scalar<typename T::rep>(r)};
    } else if constexpr (k == kind::time_point) {
        typename T::duration d{};
        decode_value(r, d);
        out = T{d};
    } else if constexpr (k == kind::aggregate) {
        boost::pfr::for_each_field(out, [&](auto& f) { decode_value(r, f); });
    } else {
        (void)field_type_not_supported<T>{};
    }
}

// Moves past one encoded T without building it: views use this to find fields.
template <class T>
void skip_value(reader& r) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::boolean) {
        auto b = r.raw<std::uint8_t>();
        if (b > 1) [[unlikely]]
            throw_corrupt("a bool holds " + std::to_string(b));
    } else if constexpr (k != kind::user && fixed_size<T>() != 0) {
        r.skip(fixed_size<T>());
    } else if constexpr (k == kind::string) {
        r.skip(read_count<char>(r));
    } else if constexpr (k == kind::vector) {
        using E = typename T::value_type;
        std::size_t n = read_count<E>(r);
        if constexpr (fixed_size<E>() != 0 && kind_v<E> != kind::boolean && kind_v<E> != kind::user) {
            r.skip(n * fixed_size<E>());
        } else {
            for (std::size_t i = 0; i < n; ++i) skip_value<E>(r);
        }
    } else if constexpr (k == kind::optional) {
        auto tag = r.raw<std::uint8_t>();
        if (tag > 1) [[unlikely]]
            throw_corrupt("an optional's tag holds " + std::to_string(tag));
        if (tag) skip_value<typename T::value_type>(r);
    } else if constexpr (k == kind::array) {
        for (std::size_t i = 0; i < std::tuple_size_v<T>; ++i) skip_value<typename T::value_type>(r);
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (skip_value<std::tuple_element_t<I, T>>(r), ...); }
        (std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (k == kind::aggregate) {
        [&]<std::size_t... I>(std::index_sequence<I...>) { (skip_value<boost::pfr::tuple_element_t<I, T>>(r), ...); }
        (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
    } else if constexpr (k == kind::user) {
        T discard{};
        decode_value(r, discard);
    } else {
        (void)field_type_not_supported<T>{};
    }
}

// The type's shape as text, for the schema fingerprint: "u64", "str", "vec<i32>", "{u64,str}".
template <class T>
void describe_type(std::string& out) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::user) {
        if constexpr (requires { codec<T>::name; }) {
            out += "codec:";
            out += std::string_view(codec<T>::name);
        } else {
            out += "codec";
        }
    } else if constexpr (k == kind::boolean) {
        out += "bool";
    } else if constexpr (k == kind::enumeration) {
        out += "enum:";
        describe_type<std::underlying_type_t<T>>(out);
    } else if constexpr (k == kind::integer) {
        out += std::is_signed_v<T> ? 'i' : 'u';
        out += std::to_string(sizeof(T) * 8);
    } else if constexpr (k == kind::floating) {
        out += 'f';
        out += std::to_string(sizeof(T) * 8);
    } else if constexpr (k == kind::string) {
        out += "str";
    } else if constexpr (k == kind::vector || k == kind::optional) {
        out += k == kind::vector ? "vec<" : "opt<";
        describe_type<typename T::value_type>(out);
        out += '>';
    } else if constexpr (k == kind::array) {
        out += "arr<";
        describe_type<typename T::value_type>(out);
        out += ',';
        out += std::to_string(std::tuple_size_v<T>);
        out += '>';
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        out += '(';
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((out += (I ? "," : ""), describe_type<std::tuple_element_t<I, T>>(out)), ...);
        }
        (std::make_index_sequence<std::tuple_size_v<T>>{});
        out += ')';
    } else if constexpr (k == kind::duration) {
        out += "dur<";
        describe_type<typename T::rep>(out);
        out += ',' + std::to_string(T::period::num) + '/' + std::to_string(T::period::den) + '>';
    } else if constexpr (k == kind::time_point) {
        out += "time<";
        describe_type<typename T::duration>(out);
        out += '>';
    } else if constexpr (k == kind::aggregate) {
        out += '{';
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((out += (I ? "," : ""), describe_type<boost::pfr::tuple_element_t<I, T>>(out)), ...);
        }
        (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
        out += '}';
    } else {
        (void)field_type_not_supported<T>{};
    }
}

// Fields that encode_row writes in one pass when every field of the model is one: scalars,
// strings, and vectors of scalars whose bytes are stored as they are in memory. Their bytes
// are exactly encode_value's.
template <class T>
constexpr bool flat_field() {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::boolean || k == kind::string) {
        return true;
    } else if constexpr (k == kind::integer || k == kind::enumeration || k == kind::floating) {
        return !std::is_same_v<T, long double> &&
               (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
    } else if constexpr (k == kind::vector) {
        using E = typename T::value_type;
        return std::is_arithmetic_v<E> && !std::is_same_v<E, bool> && !std::is_same_v<E, long double> &&
               (sizeof(E) == 1 || std::endian::native == std::endian::little);
    } else {
        return false;
    }
}

template <class M>
constexpr bool flat_model() {
    if constexpr (kind_v<M> != kind::aggregate) {
        return false;
    } else {
        return []<std::size_t... I>(std::index_sequence<I...>) {
            return (true && ... && flat_field<boost::pfr::tuple_element_t<I, M>>());
        }
        (std::make_index_sequence<boost::pfr::tuple_size_v<M>>{});
    }
}

template <class T>
std::size_t flat_size(const T& v) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::string || k == kind::vector) {
        if (v.size() > 0xffffffffu) [[unlikely]]
            throw error(errc::invalid_argument, "a string or vector longer than 2^32-1 elements cannot be stored");
        return 4 + v.size() * sizeof(typename T::value_type);
    } else if constexpr (k == kind::boolean) {
        return 1;
    } else {
        return sizeof(T);
    }
}

template <class T>
std::byte* flat_put(std::byte* p, const T& v) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::string || k == kind::vector) {
        std::size_t bytes = v.size() * sizeof(typename T::value_type);
        store_le(p, static_cast<std::uint32_t>(v.size()));
        if (bytes) std::memcpy(p + 4, v.data(), bytes);
        return p + 4 + bytes;
    } else if constexpr (k == kind::boolean) {
        *p = std::byte{v ? std::uint8_t{1} : std::uint8_t{0}};
        return p + 1;
    } else if constexpr (k == kind::enumeration) {
        store_le(p, static_cast<uint_of_size<sizeof(T)>>(static_cast<std::underlying_type_t<T>>(v)));
        return p + sizeof(T);
    } else if constexpr (k == kind::floating) {
        store_le(p, std::bit_cast<uint_of_size<sizeof(T)>>(v));
        return p + sizeof(T);
    } else {
        store_le(p, static_cast<uint_of_size<sizeof(T)>>(v));
        return p + sizeof(T);
    }
}

// A whole stored value: the version byte, then the model, then (with checksum) a
// little-endian CRC32C of all the bytes before it.
template <class M>
void encode_row(buffer& out, const M& m, bool checksum = false) {
    out.clear();
    if constexpr (flat_model<M>()) {
        // Sized first, then written through one pointer: one capacity check per row.
        std::size_t n = 1;
        boost::pfr::for_each_field(m, [&](const auto& f) { n += flat_size(f); });
        std::byte* p = out.extend(n + (checksum ? 4 : 0));
        *p++ = std::byte{static_cast<std::uint8_t>(encoding_version | (checksum ? checksum_flag : 0))};
        boost::pfr::for_each_field(m, [&](const auto& f) { p = flat_put(p, f); });
        if (checksum) store_le(p, crc32c(out.data(), n));
        return;
    }
    out.push(std::byte{static_cast<std::uint8_t>(encoding_version | (checksum ? checksum_flag : 0))});
    writer w(out);
    encode_value(w, m);
    if (checksum) {
        std::uint32_t crc = crc32c(out.data(), out.size());
        store_le(out.extend(4), crc);
    }
}

// open_row's rare cases: a checksum to verify, or a value it cannot read.
[[gnu::noinline]] inline reader open_row_checked(std::span<const std::byte> bytes) {
    if (bytes.empty()) [[unlikely]]
        throw_corrupt("an empty value has no encoding version");
    auto v = static_cast<std::uint8_t>(bytes[0]);
    auto version = static_cast<std::uint8_t>(v & ~checksum_flag);
    if (version != encoding_version) [[unlikely]]
        throw_corrupt("encoding version " + std::to_string(version) + " is not one this build reads (" +
                      std::to_string(encoding_version) + ")");
    if (bytes.size() < 5) [[unlikely]]
        throw_corrupt("a checksummed value is too short for its checksum");
    std::size_t body = bytes.size() - 4;
    auto stored = load_le<std::uint32_t>(bytes.data() + body);
    if (crc32c(bytes.data(), body) != stored) [[unlikely]]
        throw_corrupt("checksum mismatch: the stored bytes changed since they were written");
    return reader(bytes.data() + 1, bytes.data() + body);
}

// A reader over the fields of a stored value, after checking its version and checksum.
inline reader open_row(std::span<const std::byte> bytes) {
    if (!bytes.empty() && bytes[0] == std::byte{encoding_version}) [[likely]]
        return reader(bytes.data() + 1, bytes.data() + bytes.size());
    return open_row_checked(bytes);
}

inline void expect_end(const reader& r) {
    if (r.remaining() != 0) [[unlikely]]
        throw_corrupt(std::to_string(r.remaining()) + " bytes left over after the last field");
}

// A new T read from r: aggregates are built field by field in place (braced initialisation
// runs left to right, the order fields are stored), so an owned copy of a row constructs each
// string once instead of default-constructing it and assigning.
template <class T>
T decode_new(reader& r) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::string) {
        std::size_t n = read_count<char>(r);
        auto s = r.read_bytes(n);
        return T(reinterpret_cast<const char*>(s.data()), n);
    } else if constexpr (k == kind::integer || k == kind::floating) {
        return decode_scalar<T>(r);
    } else if constexpr (k == kind::aggregate && std::is_move_constructible_v<T>) {
        return [&]<std::size_t... I>(std::index_sequence<I...>) {
            return T{decode_new<boost::pfr::tuple_element_t<I, T>>(r)...};
        }
        (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
    } else {
        T v{};
        decode_value(r, v);
        return v;
    }
}

template <class M>
M decode_row_new(std::span<const std::byte> bytes) {
    reader r = open_row(bytes);
    M m = decode_new<M>(r);
    expect_end(r);
    return m;
}

template <class M>
void decode_row(std::span<const std::byte> bytes, M& out) {
    reader r = open_row(bytes);
    decode_value(r, out);
    expect_end(r);
}

// A row stored when T had only its first `fields` top-level fields (fields appended since need
// no upgrade step): those are read, the others keep T's default member initialisers.
template <class T>
void decode_row_prefix(std::span<const std::byte> bytes, T& out, std::size_t fields) {
    reader r = open_row(bytes);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((I < fields ? decode_value(r, boost::pfr::get<I>(out)) : void()), ...);
    }
    (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
    expect_end(r);
}

}  // namespace detail

template <class T>
T reader::read() {
    T v{};
    detail::decode_value(*this, v);
    return v;
}

template <class T>
void reader::read_into(T& out) {
    detail::decode_value(*this, out);
}

template <class T>
void writer::write(const T& v) {
    detail::encode_value(*this, v);
}

// Encode and decode outside a store: what the tests, the fuzzer and tools use.
template <class T>
std::vector<std::byte> encode(const T& v) {
    detail::buffer b;
    detail::encode_row(b, v);
    return {b.data(), b.data() + b.size()};
}

template <class T>
T decode(std::span<const std::byte> bytes) {
    T v{};
    detail::decode_row(bytes, v);
    return v;
}

}  // namespace netabase
