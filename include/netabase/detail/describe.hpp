// A model's schema fingerprint text, computed at compile time: the same bytes as
// describe_type() and the key ids give at run time, but as constants, so that a model costs
// no run-time string building (and no code) to describe.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/model.hpp"

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>
#if __has_include(<boost/pfr/core_name.hpp>)  // Boost 1.84 and later
#include <boost/pfr/core_name.hpp>
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace netabase::detail {

// Writes text into `out`, or only counts it when `out` is null (the first of two passes).
struct text_sink {
    char* out = nullptr;
    std::size_t size = 0;
    bool constant = true;  // false when a codec's name is not a compile-time constant

    constexpr void put(char c) {
        if (out) out[size] = c;
        ++size;
    }
    constexpr void put(std::string_view s) {
        for (char c : s) put(c);
    }
    // What std::to_string writes for an integer.
    constexpr void put_number(std::intmax_t v) {
        std::uintmax_t u = v < 0 ? 0 - static_cast<std::uintmax_t>(v) : static_cast<std::uintmax_t>(v);
        if (v < 0) put('-');
        char digits[24]{};
        std::size_t n = 0;
        do {
            digits[n++] = static_cast<char>('0' + u % 10);
            u /= 10;
        } while (u);
        while (n) put(digits[--n]);
    }
};

template <class T>
concept constant_codec_name = requires {
    typename std::integral_constant<std::size_t, std::string_view(codec<T>::name).size()>;
};

// describe_type<T>() (codec.hpp), at compile time.
template <class T>
constexpr void describe_type_to(text_sink& out) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::user) {
        if constexpr (constant_codec_name<T>) {
            out.put("codec:");
            out.put(std::string_view(codec<T>::name));
        } else if constexpr (requires { codec<T>::name; }) {
            out.constant = false;  // the run-time describe_type<T>() reads it
        } else {
            out.put("codec");
        }
    } else if constexpr (k == kind::boolean) {
        out.put("bool");
    } else if constexpr (k == kind::enumeration) {
        out.put("enum:");
        describe_type_to<std::underlying_type_t<T>>(out);
    } else if constexpr (k == kind::integer) {
        out.put(std::is_signed_v<T> ? 'i' : 'u');
        out.put_number(static_cast<std::intmax_t>(sizeof(T) * 8));
    } else if constexpr (k == kind::floating) {
        out.put('f');
        out.put_number(static_cast<std::intmax_t>(sizeof(T) * 8));
    } else if constexpr (k == kind::string) {
        out.put("str");
    } else if constexpr (k == kind::vector || k == kind::optional) {
        out.put(k == kind::vector ? "vec<" : "opt<");
        describe_type_to<typename T::value_type>(out);
        out.put('>');
    } else if constexpr (k == kind::array) {
        out.put("arr<");
        describe_type_to<typename T::value_type>(out);
        out.put(',');
        out.put_number(static_cast<std::intmax_t>(std::tuple_size_v<T>));
        out.put('>');
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        out.put('(');
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((out.put(I ? "," : ""), describe_type_to<std::tuple_element_t<I, T>>(out)), ...);
        }
        (std::make_index_sequence<std::tuple_size_v<T>>{});
        out.put(')');
    } else if constexpr (k == kind::duration) {
        out.put("dur<");
        describe_type_to<typename T::rep>(out);
        out.put(',');
        out.put_number(T::period::num);
        out.put('/');
        out.put_number(T::period::den);
        out.put('>');
    } else if constexpr (k == kind::time_point) {
        out.put("time<");
        describe_type_to<typename T::duration>(out);
        out.put('>');
    } else if constexpr (k == kind::aggregate) {
        out.put('{');
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((out.put(I ? "," : ""), describe_type_to<boost::pfr::tuple_element_t<I, T>>(out)), ...);
        }
        (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
        out.put('}');
    } else {
        (void)field_type_not_supported<T>{};
    }
}

// A key's id() (model.hpp), at compile time: the field's position, "0" for the default
// primary key, or the computed key's name. Src::key is the key object, a constant.
template <class M, class Src>
constexpr void key_id_to(text_sink& out) {
    if constexpr (requires { Src::key.key.name; }) {
        out.put(std::string_view(Src::key.key.name));
    } else if constexpr (requires { Src::key.member; }) {
        constexpr std::size_t i = member_index<M, Src::key.member>();
        static_assert(i < boost::pfr::tuple_size_v<M>, "netabase: a key names a member that is not a field");
        out.put_number(static_cast<std::intmax_t>(i));
    } else {
        out.put("0");
    }
}

template <class M>
struct primary_text {
    static constexpr const auto& key = model_traits<M>::decl.primary;
    static constexpr void write(text_sink& out) {
        key_id_to<M, primary_text>(out);
        out.put(':');
        describe_type_to<key_of<M>>(out);
    }
};

template <class M>
struct fields_text {
    static constexpr void write(text_sink& out) { describe_type_to<M>(out); }
};

template <class M, std::size_t I>
struct index_id_text {
    static constexpr const auto& key = std::get<I>(model_traits<M>::decl.secondaries).key;
    static constexpr void write(text_sink& out) { key_id_to<M, index_id_text>(out); }
};

// The fingerprint line of secondary key I: "<id>:<unique|multi>:<key type>[:v<n>][:sparse]";
// ":sparse" marks an optional key that leaves nullopt out (so that an index built with nullopt
// entries is rebuilt).
template <class M, std::size_t I>
struct index_line_text {
    static constexpr const auto& sec = std::get<I>(model_traits<M>::decl.secondaries);
    static constexpr void write(text_sink& out) {
        key_id_to<M, index_id_text<M, I>>(out);
        out.put(sec.unique ? ":unique:" : ":multi:");
        describe_type_to<typename std::remove_cvref_t<decltype(sec.key)>::value_type>(out);
        // A computed key's version (netabase::key(...).version(n)): a new one rebuilds the index.
        if constexpr (requires { sec.key.key.revision; })
            if (sec.key.key.revision != 1) {
                out.put(":v");
                out.put_number(static_cast<std::intmax_t>(sec.key.key.revision));
            }
        if (std::remove_cvref_t<decltype(sec)>::sparse) out.put(":sparse");
    }
};

#if defined(BOOST_PFR_CORE_NAME_ENABLED) && BOOST_PFR_CORE_NAME_ENABLED
inline constexpr bool pfr_names = true;
#else
inline constexpr bool pfr_names = false;
#endif

// Not constexpr: reached while computing a constant, it stops the compilation there.
inline void bad_field_name() {}

// A field name as the metadata can hold it: not empty, no line break, '=' or '.'.
constexpr std::string_view checked_field_name(std::string_view n) {
    if (n.empty()) bad_field_name();
    for (char c : n)
        if (c == '\n' || c == '=' || c == '.' || c == '\r') bad_field_name();
    return n;
}

// The names of the fields of T (an aggregate) and of the aggregates nested in it, one line
// "<path>=<name>" each, path being the field positions from the model down ("2", "2.0").
// Optionals, vectors and arrays are transparent; a pair or tuple element is a position too.
// Names come from `declared` at the top (field_names) and from Boost.PFR where it has them.
template <class T, std::size_t Declared>
constexpr void names_to(text_sink& out, const char* path, std::size_t path_len,
                        const std::array<std::string_view, Declared>& declared) {
    constexpr kind k = kind_v<T>;
    // "path.i" into a new buffer (a path is at most a few levels of short numbers).
    auto child = [&](std::size_t i, char* buf) {
        std::size_t n = 0;
        for (std::size_t j = 0; j < path_len; ++j) buf[n++] = path[j];
        if (path_len) buf[n++] = '.';
        text_sink s{buf + n};
        s.put_number(static_cast<std::intmax_t>(i));
        return n + s.size;
    };
    if constexpr (k == kind::vector || k == kind::optional || k == kind::array) {
        names_to<typename T::value_type, 0>(out, path, path_len, {});
    } else if constexpr (k == kind::pair || k == kind::tuple) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((
                 [&] {
                     char buf[128]{};
                     std::size_t n = child(I, buf);
                     names_to<std::tuple_element_t<I, T>, 0>(out, buf, n, {});
                 }()),
             ...);
        }
        (std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (k == kind::aggregate) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((
                 [&] {
                     char buf[128]{};
                     std::size_t n = child(I, buf);
                     std::string_view name;
                     if constexpr (Declared > 0) name = checked_field_name(declared[I]);
#if defined(BOOST_PFR_CORE_NAME_ENABLED) && BOOST_PFR_CORE_NAME_ENABLED
                     if (name.empty()) name = boost::pfr::get_name<I, T>();
#endif
                     if (!name.empty()) {
                         out.put(std::string_view(buf, n));
                         out.put('=');
                         out.put(name);
                         out.put('\n');
                     }
                     names_to<boost::pfr::tuple_element_t<I, T>, 0>(out, buf, n, {});
                 }()),
             ...);
        }
        (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
    }
}

// The "names:<table>" metadata value of model M; empty when no name is known.
template <class M>
struct names_text {
    static constexpr void write(text_sink& out) {
        constexpr const auto& names = model_traits<M>::decl.names;
        names_to<M, std::tuple_size_v<std::remove_cvref_t<decltype(names)>>>(out, "", 0, names);
    }
};

// W::write's text as a constant.
template <class W>
struct fixed_text {
    static constexpr text_sink counted = [] {
        text_sink s;
        W::write(s);
        return s;
    }();
    static constexpr bool constant = counted.constant;
    static constexpr auto storage = [] {
        std::array<char, counted.size + 1> a{};
        text_sink s{a.data()};
        W::write(s);
        return a;
    }();
    static constexpr std::string_view value{storage.data(), counted.size};
};

}  // namespace netabase::detail
