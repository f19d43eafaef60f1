// Models, their keys, and the definition that lists a store's models.
#pragma once

#include "netabase/codec.hpp"
#include "netabase/detail/type_name.hpp"
#include "netabase/key.hpp"

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#if __has_include(<bits/ranges_util.h>)  // libstdc++: view_interface without the views of <ranges> (issue #14)
#include <bits/ranges_util.h>
#else
#include <ranges>
#endif
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace netabase {

// Names a model in netabase_model(netabase::tag<M>), which netabase finds by ADL.
template <class M>
struct tag {
    using type = M;
};

struct unique_t {
    explicit unique_t() = default;
};
// Marks a secondary key whose value may belong to one row only.
inline constexpr unique_t unique{};

struct index_absent_t {
    explicit index_absent_t() = default;
};
// Marks a secondary key on a std::optional whose absent values (nullopt) are indexed too, as
// one more key that sorts first. Without it an absent value has no index entry at all.
inline constexpr index_absent_t index_absent{};

namespace detail {

// The position of a member among M's fields, found once by address on one instance. Only
// error messages and the run-time fingerprint need it: kept out of line and cold.
template <class M, class T>
[[gnu::cold, gnu::noinline]] std::size_t field_index(T M::*member) {
    static const M instance{};
    const void* target = &(instance.*member);
    std::size_t found = static_cast<std::size_t>(-1);
    std::size_t i = 0;
    boost::pfr::for_each_field(instance, [&](const auto& f) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(f)>, T>)
            if (static_cast<const void*>(&f) == target) found = i;
        ++i;
    });
    return found;
}

// The position of the field `Member` points to, at compile time: the address of each field
// of a declared-only object is compared with the member's (no object is ever read; this is
// how Boost.PFR names fields). N if Member is not one of M's fields.
template <class T>
extern const T fake_object;

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wundefined-var-template"
#endif
template <class M, auto Member>
consteval std::size_t member_index() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
        std::size_t found = sizeof...(I);
        if constexpr (requires { fake_object<M>.*Member; }) {
            const void* target = &(fake_object<M>.*Member);
            ((found == sizeof...(I) && static_cast<const void*>(&boost::pfr::get<I>(fake_object<M>)) == target
                  ? (found = I, 0)
                  : 0),
             ...);
        }
        return found;
    }
    (std::make_index_sequence<boost::pfr::tuple_size_v<M>>{});
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

// A key that is one field of the model.
template <class M, class T>
struct member_key {
    using value_type = T;
    static constexpr bool multi = false;
    T M::*member;

    const T& operator()(const M& m) const noexcept { return m.*member; }
    std::string id() const { return std::to_string(field_index(member)); }
};

// The default primary key: the model's first field.
template <class M>
struct first_field_key {
    using value_type = std::remove_cvref_t<decltype(boost::pfr::get<0>(std::declval<const M&>()))>;
    static constexpr bool multi = false;

    const value_type& operator()(const M& m) const noexcept { return boost::pfr::get<0>(m); }
    std::string id() const { return "0"; }
};

template <class M, class F, bool Multi>
struct computed_key_adapter {
    using result_type = std::remove_cvref_t<std::invoke_result_t<const F&, const M&>>;
    // For a multi-key, the element type: each element is one key.
    using value_type = typename decltype([] {
        if constexpr (Multi)
            return std::type_identity<std::remove_cvref_t<std::ranges::range_reference_t<result_type>>>{};
        else
            return std::type_identity<result_type>{};
    }())::type;
    static constexpr bool multi = Multi;
    computed_key<M, F, Multi> key;

    decltype(auto) operator()(const M& m) const { return key.fn(m); }
    std::string id() const { return std::string(key.name); }
};

template <class K, bool Unique, bool IndexAbsent = false>
struct secondary {
    static_assert(!IndexAbsent || !K::multi,
                  "netabase: index_absent is for a single-valued key on a std::optional; netabase::keys(...) "
                  "indexes every element it returns");
    static_assert(!IndexAbsent || K::multi || kind_v<typename K::value_type> == kind::optional,
                  "netabase: index_absent is only for a secondary key whose value type is a std::optional");
    static constexpr bool unique = Unique;
    // A single-valued key on a std::optional without index_absent: a row whose value is
    // nullopt has no entry in this index.
    static constexpr bool sparse = !K::multi && kind_v<typename K::value_type> == kind::optional && !IndexAbsent;
    K key;
};

template <class M, class T>
constexpr member_key<M, T> make_key(T M::*member) {
    static_assert(!std::is_member_function_pointer_v<T M::*>, "netabase: a key is a data member or netabase::key(...)");
    static_assert(key_type<T>, "netabase: this field's type cannot be a key");
    return {member};
}

template <class M, class F, bool Multi>
constexpr computed_key_adapter<M, F, Multi> make_key(computed_key<M, F, Multi> k) {
    static_assert(key_type<typename computed_key_adapter<M, F, Multi>::value_type>,
                  "netabase: this computed key's result type cannot be a key");
    return {k};
}

}  // namespace detail

// One upgrade_from step: turns a row stored by an older version of the program (From, a plain
// struct with the old fields) into the next version's struct or the current model.
template <class From, class F>
struct upgrade_step {
    using from_type = From;
    using to_type = std::remove_cvref_t<std::invoke_result_t<const F&, From>>;
    F fn;
};

// What netabase_model() returns: the table name, the primary key, the secondary keys, and the
// upgrade steps from older versions of the model.
template <class M, class PK, class Steps, class Names, class... S>
struct model_def {
    using model_type = M;
    using primary_type = PK;
    using secondaries_type = std::tuple<S...>;
    using steps_type = Steps;

    std::string_view name;
    PK primary;
    std::tuple<S...> secondaries;
    Steps steps;
    std::string_view old_name;  // renamed_from: the table's rows are kept under this name
    Names names;                // field_names: std::array<std::string_view, fields>, or none

    template <class K>
    constexpr auto primary_key(K k) const {
        using made = decltype(detail::make_key(k));
        static_assert(!made::multi,
                      "netabase: a primary key has one value per row; netabase::keys is for secondary keys");
        return model_def<M, made, Steps, Names, S...>{name, detail::make_key(k), secondaries, steps, old_name, names};
    }

    template <class K>
    constexpr auto secondary_key(K k) const {
        return add<false>(detail::make_key(k));
    }

    template <class K>
    constexpr auto secondary_key(K k, unique_t) const {
        return add<true>(detail::make_key(k));
    }

    // A key on a std::optional that indexes nullopt too (see index_absent).
    template <class K>
    constexpr auto secondary_key(K k, index_absent_t) const {
        return add<false, true>(detail::make_key(k));
    }

    template <class K>
    constexpr auto secondary_key(K k, unique_t, index_absent_t) const {
        return add<true, true>(detail::make_key(k));
    }

    // The next step of the chain: rows stored by the version whose struct was From are turned
    // by fn(From) into the next version's struct or into M. Steps are declared oldest first;
    // a model's version is 1 + the number of its steps.
    template <class From, class F>
    constexpr auto upgrade_from(F fn) const {
        static_assert(std::is_aggregate_v<From> && std::is_class_v<From>,
                      "netabase: upgrade_from<Old>: Old is the aggregate struct that an older version stored");
        static_assert(std::is_invocable_v<const F&, From>, "netabase: upgrade_from<Old>(fn): fn must take an Old");
        using step = upgrade_step<From, F>;
        auto more = std::tuple_cat(steps, std::tuple<step>{step{fn}});
        return model_def<M, PK, decltype(more), Names, S...>{name, primary, secondaries, more, old_name, names};
    }

    // The table was called `old` before: its rows, indexes and version are kept under the new name.
    constexpr model_def renamed_from(std::string_view old) const {
        model_def d = *this;
        d.old_name = old;
        return d;
    }

    // The fields' names, one per field in declaration order, for the schema the store describes
    // in its metadata (what the netabase tool and JSON export show). Names do not change the
    // encoding: renaming a field is not a schema change.
    template <class... Name>
    constexpr auto field_names(const Name&... n) const {
        static_assert((std::is_convertible_v<const Name&, std::string_view> && ...),
                      "netabase: field_names takes the names as strings");
        static_assert(sizeof...(Name) == boost::pfr::tuple_size_v<M>,
                      "netabase: field_names needs one name per field of the model, in order");
        using names_type = std::array<std::string_view, sizeof...(Name)>;
        return model_def<M, PK, Steps, names_type, S...>{name,  primary,  secondaries,
                                                         steps, old_name, names_type{std::string_view(n)...}};
    }

private:
    template <bool Unique, bool IndexAbsent = false, class K>
    constexpr auto add(K k) const {
        return model_def<M, PK, Steps, Names, S..., detail::secondary<K, Unique, IndexAbsent>>{
            name,  primary,  std::tuple_cat(secondaries, std::tuple{detail::secondary<K, Unique, IndexAbsent>{k}}),
            steps, old_name, names};
    }
};

template <class M>
constexpr model_def<M, detail::first_field_key<M>, std::tuple<>, std::array<std::string_view, 0>> model(
    std::string_view table_name) {
    static_assert(std::is_aggregate_v<M> && std::is_class_v<M>, "netabase: a model is an aggregate struct");
    return {table_name, {}, {}, {}, {}, {}};
}

namespace detail {

template <class M>
concept declared_model = requires {
    netabase_model(tag<M>{});
};

template <class M>
constexpr auto declaration() {
    if constexpr (declared_model<M>)
        return netabase_model(tag<M>{});
    else
        return model<M>(type_name_v<M>);
}

// Everything netabase knows about a model, computed once at compile time.
template <class M>
struct model_traits {
    static_assert(std::is_aggregate_v<M> && std::is_class_v<M>,
                  "netabase: a model must be an aggregate struct (no constructors, bases or private members)");
    static constexpr auto decl = declaration<M>();
    using decl_type = std::remove_cv_t<decltype(decl)>;
    using primary_type = typename decl_type::primary_type;
    using key_type = typename primary_type::value_type;
    using secondaries_type = typename decl_type::secondaries_type;
    static constexpr std::size_t index_count = std::tuple_size_v<secondaries_type>;
    using steps_type = typename decl_type::steps_type;
    static constexpr std::size_t step_count = std::tuple_size_v<steps_type>;
    // 1 + the number of upgrade_from steps: what the metadata records for the table.
    static constexpr std::uint32_t version = static_cast<std::uint32_t>(1 + step_count);
    static_assert(is_key_type<key_type>(), "netabase: the primary key's type cannot be a key");
};

template <class M>
using key_of = typename model_traits<M>::key_type;

// Calls fn(key) for each key row m has under one secondary key: its one value (none when a
// sparse optional key holds nullopt), or each element of a netabase::keys range (repeats
// included).
template <class Sec, class M, class Fn>
void for_each_key(const Sec& sec, const M& m, Fn&& fn) {
    if constexpr (std::remove_cvref_t<decltype(sec.key)>::multi) {
        for (const auto& k : sec.key(m)) fn(k);
    } else if constexpr (Sec::sparse) {
        decltype(auto) k = sec.key(m);
        if (k.has_value()) fn(k);
    } else {
        fn(sec.key(m));
    }
}

// Calls fn(secondary, std::integral_constant<std::size_t, I>) for each secondary key of M.
template <class M, class Fn>
constexpr void for_each_secondary(Fn&& fn) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (fn(std::get<I>(model_traits<M>::decl.secondaries), std::integral_constant<std::size_t, I>{}), ...);
    }
    (std::make_index_sequence<model_traits<M>::index_count>{});
}

}  // namespace detail

// The models one store holds.
template <class... Ms>
struct definition {
    static_assert(sizeof...(Ms) > 0, "netabase::definition needs at least one model");

    template <class M>
    static constexpr bool contains = (std::is_same_v<M, Ms> || ...);

    static constexpr std::size_t size = sizeof...(Ms);

    template <class M>
    static constexpr std::size_t index_of = [] {
        std::size_t i = 0;
        (void)((std::is_same_v<M, Ms> ? false : (++i, true)) && ...);
        return i;
    }();

private:
    static constexpr bool distinct_models = [] {
        bool ok = true;
        std::size_t i = 0;
        ((ok = ok && index_of<Ms> == i++), ...);
        return ok;
    }();
    static_assert(distinct_models, "netabase::definition lists a model twice");

    static constexpr bool distinct_names = [] {
        std::string_view names[] = {detail::model_traits<Ms>::decl.name...};
        for (std::size_t i = 0; i < sizeof...(Ms); ++i)
            for (std::size_t j = i + 1; j < sizeof...(Ms); ++j)
                if (names[i] == names[j]) return false;
        return true;
    }();
    static_assert(distinct_names, "netabase::definition: two models have the same table name");
};

}  // namespace netabase
