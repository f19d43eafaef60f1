// View<M>: a row read in place. Fields come straight out of LMDB's map: strings as
// std::string_view, vectors and arrays as sequence_view, nested aggregates as nested views,
// scalars by value (copied with memcpy, since LMDB aligns values to 2 bytes only).
//
// A view finds a field by skipping the ones before it, and remembers each field's offset as it
// goes, so reading every field of a row walks its bytes once, and reading one early field
// never touches the rest. (An offset table stored in every row would cost 4 bytes per field
// on disk to save that one walk.)
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/codec.hpp"
#include "netabase/detail/lifetime.hpp"
#include "netabase/error.hpp"
#include "netabase/model.hpp"

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace netabase {

template <class E>
class sequence_view;
template <class M>
class View;

namespace detail {

template <class T>
struct borrowed;

template <class T>
using borrowed_t = typename borrowed<std::remove_cv_t<T>>::type;

template <class T>
struct borrowed {
    static constexpr kind k = kind_v<T>;
    using type =
        std::conditional_t<k == kind::string, std::string_view, std::conditional_t<k == kind::aggregate, View<T>, T>>;
};
template <class E>
struct borrowed<std::vector<E>> {
    using type = sequence_view<E>;
};
template <class E, std::size_t N>
struct borrowed<std::array<E, N>> {
    using type = sequence_view<E>;
};
template <class E>
struct borrowed<std::optional<E>> {
    using type = std::optional<borrowed_t<E>>;
};
template <class A, class B>
struct borrowed<std::pair<A, B>> {
    using type = std::pair<borrowed_t<A>, borrowed_t<B>>;
};
template <class... Ts>
struct borrowed<std::tuple<Ts...>> {
    using type = std::tuple<borrowed_t<Ts>...>;
};

template <class T>
borrowed_t<T> read_borrowed(reader& r);

template <class T>
inline constexpr bool is_fixed_element_v = fixed_size<T>() != 0 && kind_v<T> != kind::user;

// A nested view or sequence is checked against the same transaction as the view it came from.
template <class T>
T stamp_view(T v, stamp life) {
    if constexpr (is_specialization_v<T, View> || is_specialization_v<T, sequence_view>) v.life_ = life;
    return v;
}

}  // namespace detail

// The elements of a stored vector or array, read in place. Random access when the element
// type has a fixed size; forward iteration otherwise.
template <class E>
class sequence_view {
public:
    using value_type = detail::borrowed_t<E>;
    static constexpr bool random_access = detail::is_fixed_element_v<E>;
    // Integers, floats and enums: each element is one load (the run was checked when made).
    static constexpr bool plain_scalar = detail::plain_scalar_v<E>;

    sequence_view() = default;
    sequence_view(const std::byte* data, const std::byte* end, std::size_t count, detail::stamp life = {}) noexcept
        : data_(data), end_(end), count_(count), life_(life) {}

    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }

    // Element i, bounds-checked: an index past the end is errc::invalid_argument.
    value_type operator[](std::size_t i) const requires random_access {
        if (i >= count_) [[unlikely]]
            throw error(errc::invalid_argument, "sequence_view index " + std::to_string(i) + " out of range (size " +
                                                    std::to_string(count_) + ")");
        life_.check_fresh("a netabase::sequence_view");
        if constexpr (plain_scalar) {
            return detail::load_scalar<E>(data_ + i * sizeof(E));
        } else {
            reader r(data_ + i * detail::fixed_size<E>(), end_);
            return detail::stamp_view(detail::read_borrowed<E>(r), life_);
        }
    }

    class iterator {
    public:
        using value_type = detail::borrowed_t<E>;
        using reference = value_type;
        using difference_type = std::ptrdiff_t;
        using iterator_concept =
            std::conditional_t<random_access, std::random_access_iterator_tag, std::forward_iterator_tag>;
        using iterator_category = std::input_iterator_tag;

        iterator() = default;
        iterator(const std::byte* p, const std::byte* end, std::size_t index, detail::stamp life = {}) noexcept
            : p_(p), end_(end), index_(index), life_(life) {}

        value_type operator*() const {
            life_.check_fresh("a netabase::sequence_view iterator");
            if constexpr (plain_scalar) {
                return detail::load_scalar<E>(p_);  // the run was bounds-checked when the view was made
            } else {
                reader r(p_, end_);
                return detail::stamp_view(detail::read_borrowed<E>(r), life_);
            }
        }
        iterator& operator++() {
            if constexpr (random_access) {
                p_ += detail::fixed_size<E>();
            } else {
                reader r(p_, end_);
                detail::skip_value<E>(r);
                p_ = r.position();
            }
            ++index_;
            return *this;
        }
        iterator operator++(int) {
            iterator t = *this;
            ++*this;
            return t;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.index_ == b.index_; }

        // Random access, for fixed-size elements only.
        iterator& operator--() requires random_access {
            p_ -= detail::fixed_size<E>();
            --index_;
            return *this;
        }
        iterator operator--(int) requires random_access {
            iterator t = *this;
            --*this;
            return t;
        }
        iterator& operator+=(difference_type n) requires random_access {
            p_ += n * static_cast<difference_type>(detail::fixed_size<E>());
            index_ = static_cast<std::size_t>(static_cast<difference_type>(index_) + n);
            return *this;
        }
        iterator& operator-=(difference_type n) requires random_access { return *this += -n; }
        friend iterator operator+(iterator it, difference_type n) requires random_access { return it += n; }
        friend iterator operator+(difference_type n, iterator it) requires random_access { return it += n; }
        friend iterator operator-(iterator it, difference_type n) requires random_access { return it -= n; }
        friend difference_type operator-(const iterator& a, const iterator& b) requires random_access {
            return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
        }
        value_type operator[](difference_type n) const requires random_access { return *(*this + n); }
        friend auto operator<=>(const iterator& a, const iterator& b) requires random_access {
            return a.index_ <=> b.index_;
        }

    private:
        const std::byte* p_ = nullptr;
        const std::byte* end_ = nullptr;
        std::size_t index_ = 0;
        [[no_unique_address]] detail::stamp life_;
    };

    iterator begin() const noexcept { return iterator(data_, end_, 0, life_); }
    iterator end() const noexcept {
        if constexpr (random_access)
            return iterator(data_ + count_ * detail::fixed_size<E>(), end_, count_, life_);
        else
            return iterator(nullptr, nullptr, count_, life_);
    }

    // An owned copy.
    template <class Container = std::vector<E>>
    Container to_owned() const {
        Container out{};
        if constexpr (requires { out.reserve(count_); }) out.reserve(count_);
        std::size_t i = 0;
        reader r(data_, end_);
        for (; i < count_; ++i) {
            E e{};
            detail::decode_value(r, e);
            if constexpr (requires { out.push_back(std::move(e)); })
                out.push_back(std::move(e));
            else
                out[i] = std::move(e);
        }
        return out;
    }

private:
    template <class T>
    friend T detail::stamp_view(T, detail::stamp);

    const std::byte* data_ = nullptr;
    const std::byte* end_ = nullptr;
    std::size_t count_ = 0;
    [[no_unique_address]] detail::stamp life_;
};

// A model (or nested aggregate) read in place. Valid as long as the guard it came from.
template <class M>
class View {
    static constexpr std::size_t N = boost::pfr::tuple_size_v<M>;

public:
    using model_type = M;

    View() = default;
    // `bytes` starts at the first field (after the version byte for a whole row).
    View(std::span<const std::byte> bytes, detail::stamp life = {}) noexcept : bytes_(bytes), life_(life) {}

    // Field I, borrowed: string_view, sequence_view, View, optional of those, or the value.
    template <std::size_t I>
    detail::borrowed_t<boost::pfr::tuple_element_t<I, M>> get() const {
        static_assert(I < N, "netabase: View::get<I>(): the model has fewer fields");
        life_.check_fresh("a netabase::View");
        return field<I>();
    }

    // The field `member` points to: view.get<&User::email>().
    template <auto Member>
    requires std::is_member_object_pointer_v<decltype(Member)>
    auto get() const {
        constexpr std::size_t index = detail::member_index<M, Member>();
        static_assert(index < N, "netabase: View::get<&M::field>(): not a field of this model");
        life_.check_fresh("a netabase::View");
        return field<index>();
    }

    // An owned copy of the whole model.
    M to_owned() const {
        life_.check_fresh("a netabase::View");
        M m{};
        reader r(bytes_);
        detail::decode_value(r, m);
        return m;
    }

    // The bytes this view reads, from its first field on.
    std::span<const std::byte> bytes() const noexcept {
        life_.check_fresh("a netabase::View");
        return bytes_;
    }

private:
    template <class>
    friend class View;

    template <class T>
    friend T detail::stamp_view(T, detail::stamp);

    template <class T>
    T stamped(T v) const {
        return detail::stamp_view(std::move(v), life_);
    }

    // Fields [0, P) have a fixed encoded size, so their offsets are constants; only fields
    // past them are found by walking (which checks what it skips), and their offsets are
    // cached as the walk goes.
    static constexpr std::size_t P = [] {
        std::size_t p = 0;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            bool fixed = true;
            // A bool field ends the prefix: walking past one checks that it holds 0 or 1.
            ((fixed = fixed && detail::is_fixed_element_v<boost::pfr::tuple_element_t<I, M>> &&
                      detail::kind_v<boost::pfr::tuple_element_t<I, M>> != detail::kind::boolean,
              p += fixed ? 1 : 0),
             ...);
        }
        (std::make_index_sequence<N>{});
        return p;
    }();
    static constexpr std::array<std::uint32_t, P + 1> fixed_offsets = [] {
        std::array<std::uint32_t, P + 1> o{};
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((o[I + 1] = o[I] + static_cast<std::uint32_t>(detail::fixed_size<boost::pfr::tuple_element_t<I, M>>())),
             ...);
        }
        (std::make_index_sequence<P>{});
        return o;
    }();

    template <std::size_t I>
    detail::borrowed_t<boost::pfr::tuple_element_t<I, M>> field() const {
        using T = boost::pfr::tuple_element_t<I, M>;
        if constexpr (I < P) {
            // A constant offset: one bounds check, then the read (whose own checks fold away).
            constexpr std::size_t at = fixed_offsets[I], size = detail::fixed_size<T>();
            if (bytes_.size() < at + size) [[unlikely]]
                detail::throw_corrupt("a field", size, bytes_.size() > at ? bytes_.size() - at : 0);
            if constexpr (detail::plain_scalar_v<T>) {
                return detail::load_scalar<T>(bytes_.data() + at);
            } else {
                reader r(bytes_.data() + at, bytes_.data() + at + size);
                return stamped(detail::read_borrowed<T>(r));
            }
        } else {
            // Past them a field starts where the one before it ends. Ends are learnt as fields are
            // read, or by one walk over the fields before it not read yet; a field whose end is
            // known too was checked when that was learnt, and reads in two loads.
            // (The last field's end is never learnt: nothing starts there.)
            if constexpr (I == P) {
                if constexpr (I + 1 < N)
                    if (known_ != 0) return read_known<I>();
                return read_checked<I>(fixed_start());
            } else {
                if (known_ < I - P) [[unlikely]]
                    walk_to<I>();
                if constexpr (I + 1 < N)
                    if (known_ > I - P) return read_known<I>();
                return read_checked<I>(start_of<I - P>());
            }
        }
    }

    // Field I (>= P), whose start and end are known (and were checked when they were learnt).
    template <std::size_t I>
    detail::borrowed_t<boost::pfr::tuple_element_t<I, M>> read_known() const {
        using T = boost::pfr::tuple_element_t<I, M>;
        const std::byte* at = start_of<I - P>();
        const std::byte* end = bytes_.data() + ends_at_[I - P];
        if constexpr (detail::kind_v<T> == detail::kind::string) {
            return std::string_view(reinterpret_cast<const char*>(at) + 4, static_cast<std::size_t>(end - at - 4));
        } else {
            reader r(at, end);
            return stamped(detail::read_borrowed<T>(r));
        }
    }

    // Where field P + J starts: after the fixed-size fields, or where field P + J - 1 ends.
    template <std::size_t J>
    const std::byte* start_of() const {
        if constexpr (J == 0)
            return bytes_.data() + fixed_offsets[P];
        else
            return bytes_.data() + ends_at_[J - 1];
    }

    const std::byte* fixed_start() const {
        if (bytes_.size() < fixed_offsets[P]) [[unlikely]]
            detail::throw_corrupt("the fixed-size fields", fixed_offsets[P], bytes_.size());
        return bytes_.data() + fixed_offsets[P];
    }

    // Field I (>= P), starting at `at`, read with every check; its end is learnt.
    template <std::size_t I>
    detail::borrowed_t<boost::pfr::tuple_element_t<I, M>> read_checked(const std::byte* at) const {
        using T = boost::pfr::tuple_element_t<I, M>;
        if constexpr (detail::kind_v<T> == detail::kind::string) {
            std::size_t n = string_length(at);
            learn<I>(at + 4 + n);
            return std::string_view(reinterpret_cast<const char*>(at) + 4, n);
        } else {
            reader r(at, bytes_.data() + bytes_.size());
            auto v = stamped(detail::read_borrowed<T>(r));
            learn<I>(r.position());
            return v;
        }
    }

    // Field I was read up to `next`: its end, if it is the next one not known.
    template <std::size_t I>
    void learn(const std::byte* next) const noexcept {
        if constexpr (I + 1 < N)
            if (known_ == I - P) ends_at_[known_++] = static_cast<std::uint32_t>(next - bytes_.data());
    }

    // A string's checked length prefix at `at` (inside the bytes; its 4 bytes not yet checked).
    std::size_t string_length(const std::byte* at) const {
        std::size_t left = static_cast<std::size_t>(bytes_.data() + bytes_.size() - at);
        if (left < 4) [[unlikely]]
            detail::throw_corrupt("a scalar", 4, left);
        std::size_t n = detail::load_le<std::uint32_t>(at);
        if (n > left - 4) [[unlikely]]
            detail::throw_corrupt("a length prefix", n, left - 4);
        return n;
    }

    // Learns the ends of the fields before I not known yet, each skipped (and checked) with its
    // type known here, so that each skip inlines. Fields from I on are not looked at: a corrupt
    // later field is reported by the read of that field, not of this one.
    template <std::size_t I>
    [[gnu::noinline]] void walk_to() const {
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            ((J >= known_ ? end_of<P + J>(J == 0 ? fixed_start() : start_of<J>()) : void()), ...);
        }
        (std::make_index_sequence<I - P>{});
    }

    // Field F starts at `at`: learns where it ends.
    template <std::size_t F>
    void end_of(const std::byte* at) const {
        using T = boost::pfr::tuple_element_t<F, M>;
        const std::byte* next;
        if constexpr (detail::kind_v<T> == detail::kind::string) {
            next = at + 4 + string_length(at);
        } else {
            reader r(at, bytes_.data() + bytes_.size());
            detail::skip_value<T>(r);
            next = r.position();
        }
        ends_at_[F - P] = static_cast<std::uint32_t>(next - bytes_.data());
        known_ = static_cast<std::uint32_t>(F - P + 1);
    }

    std::span<const std::byte> bytes_;
    [[no_unique_address]] detail::stamp life_;
    mutable std::uint32_t known_ = 0;  // ends_at_[j], where field P + j ends, is known for j < known_
    mutable std::array<std::uint32_t, N - P + (N == P)> ends_at_{};
};

namespace detail {

template <class T>
borrowed_t<T> read_borrowed(reader& r) {
    constexpr kind k = kind_v<T>;
    if constexpr (k == kind::string) {
        std::size_t n = read_count<char>(r);
        auto s = r.read_bytes(n);
        return std::string_view(reinterpret_cast<const char*>(s.data()), n);
    } else if constexpr (k == kind::vector || k == kind::array) {
        using E = typename T::value_type;
        std::size_t n;
        if constexpr (k == kind::vector)
            n = read_count<E>(r);
        else
            n = std::tuple_size_v<T>;
        const std::byte* begin = r.position();
        // Validates the whole run now, so that element access later cannot run off the end.
        if constexpr (is_fixed_element_v<E> && kind_v<E> != kind::boolean) {
            r.skip(n * fixed_size<E>());
        } else {
            for (std::size_t i = 0; i < n; ++i) skip_value<E>(r);
        }
        return sequence_view<E>(begin, r.position(), n);
    } else if constexpr (k == kind::optional) {
        auto tag = r.raw<std::uint8_t>();
        if (tag > 1) [[unlikely]]
            throw_corrupt("an optional's tag holds " + std::to_string(tag));
        if (!tag) return std::nullopt;
        return read_borrowed<typename T::value_type>(r);
    } else if constexpr (k == kind::pair) {
        auto a = read_borrowed<typename T::first_type>(r);
        auto b = read_borrowed<typename T::second_type>(r);
        return {a, b};
    } else if constexpr (k == kind::tuple) {
        return [&]<std::size_t... I>(std::index_sequence<I...>) {
            // Braced init evaluates left to right, as the fields are stored.
            return borrowed_t<T>{read_borrowed<std::tuple_element_t<I, T>>(r)...};
        }
        (std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (k == kind::aggregate) {
        const std::byte* begin = r.position();
        skip_value<T>(r);
        return View<T>(std::span<const std::byte>(begin, r.position()));
    } else {
        T v{};
        decode_value(r, v);
        return v;
    }
}

}  // namespace detail
}  // namespace netabase
