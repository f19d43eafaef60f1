// libFuzzer target: arbitrary bytes decoded as stored values and keys.
//
// The input is decoded as each of several models that between them hold every supported
// field kind, nested (netabase::decode), read in place field by field (View / sequence_view),
// and decoded as two key types (netabase::decode_key). Properties:
//   - a failure is a netabase::error with errc::corrupt_value, never another exception, a
//     crash, a sanitizer report or a huge allocation;
//   - bytes that decode re-encode to the same bytes (long double padding aside), and their
//     view gives the same value for every field, recursively;
//   - key bytes that decode re-encode to the same bytes, and the byte order of two keys is
//     their operator< order.
#include <netabase/netabase.hpp>

#include <boost/pfr/core.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace decode_fuzz {

enum class Color : std::uint8_t { red, green, blue };
enum class Level : std::int32_t { low = -5, high = 7 };

// A type with its own codec.
struct Money {
    std::int64_t cents;
};

}  // namespace decode_fuzz

template <>
struct netabase::codec<decode_fuzz::Money> {
    static constexpr std::string_view name = "money";
    static void encode(netabase::writer& w, const decode_fuzz::Money& m) { w.write(m.cents); }
    static decode_fuzz::Money decode(netabase::reader& r) { return decode_fuzz::Money{r.read<std::int64_t>()}; }
};

namespace decode_fuzz {

struct Point {  // fixed size
    std::int32_t x;
    std::int32_t y;
};

struct Inner {  // variable size, nested
    std::string name;
    std::optional<std::uint16_t> n;
    std::vector<Point> points;
};

struct Scalars {
    bool b;
    char c;
    std::int8_t i8;
    std::uint8_t u8;
    std::int16_t i16;
    std::uint16_t u16;
    std::int32_t i32;
    std::uint32_t u32;
    std::int64_t i64;
    std::uint64_t u64;
    float f;
    double d;
    Color color;
    Level level;
};

struct Containers {
    std::string s;
    std::vector<std::uint8_t> bytes;
    std::vector<std::int64_t> longs;
    std::vector<double> doubles;
    std::vector<bool> bools;
    std::vector<std::string> strings;
    std::array<std::uint16_t, 3> shorts;
    std::array<std::string, 2> names;
    std::optional<std::string> maybe;
    std::optional<Inner> maybe_inner;
    std::vector<std::optional<std::int32_t>> maybes;
};

struct Composite {
    std::pair<std::uint32_t, std::string> pair;
    std::tuple<std::int64_t, bool, std::string> tuple;
    std::chrono::milliseconds duration;
    std::chrono::system_clock::time_point when;
    Money money;
    Inner inner;
    std::vector<Inner> inners;
    std::array<Point, 2> corners;
    std::vector<std::vector<std::string>> nested;
    std::optional<std::pair<Color, std::vector<Point>>> maybe_pair;
};

struct Row {  // everything, nested one level more
    std::uint64_t id;
    Scalars scalars;
    Containers containers;
    Composite composite;
};

struct Wide {  // long double: 10 bytes of value in 16 on x86-64, the rest ignored on decode
    long double ld;
    std::string s;
};

using Key1 = std::tuple<std::string, std::int64_t, std::optional<std::vector<std::uint32_t>>, bool, std::int8_t>;
using Key2 = std::pair<std::uint16_t, std::string>;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "decode_fuzz: property broken: %s\n", what);
    std::abort();
}

template <class F>
void expect_corrupt_only(F&& f) {
    try {
        f();
    } catch (const netabase::error& e) {
        if (e.code() != netabase::errc::corrupt_value) {
            std::fprintf(stderr, "%s\n", e.what());
            fail("a netabase::error other than corrupt_value");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        fail("an exception that is not a netabase::error");
    }
}

// ---- borrowed (view) values against owned ones ---------------------------------------------

template <class T>
inline constexpr bool is_compound_v =
    netabase::detail::is_specialization_v<T, std::optional> || netabase::detail::is_specialization_v<T, std::pair> ||
    netabase::detail::is_specialization_v<T, std::tuple>;

template <class T>
requires(!is_compound_v<T>) bool same(const T& borrowed, const T& owned) {  // scalars, enums, chrono, user codecs
    return netabase::encode(borrowed) == netabase::encode(owned);
}
bool same(std::string_view borrowed, const std::string& owned) { return borrowed == owned; }
template <class M>
bool same(const netabase::View<M>& borrowed, const M& owned);
template <class E, class C>
bool same(const netabase::sequence_view<E>& borrowed, const C& owned);
template <class B, class O>
bool same(const std::optional<B>& borrowed, const std::optional<O>& owned);
template <class B1, class B2, class O1, class O2>
bool same(const std::pair<B1, B2>& borrowed, const std::pair<O1, O2>& owned);
template <class... B, class... O>
bool same(const std::tuple<B...>& borrowed, const std::tuple<O...>& owned);

template <class E, class C>
bool same(const netabase::sequence_view<E>& borrowed, const C& owned) {
    if (borrowed.size() != owned.size() || borrowed.empty() != owned.empty()) return false;
    std::size_t i = 0;
    for (auto v : borrowed) {
        if (!same(v, static_cast<const E&>(owned[i]))) return false;
        ++i;
    }
    if (i != owned.size()) return false;
    if constexpr (netabase::sequence_view<E>::random_access) {
        for (std::size_t j = 0; j < owned.size(); ++j)
            if (!same(borrowed[j], static_cast<const E&>(owned[j]))) return false;
        if (static_cast<std::size_t>(borrowed.end() - borrowed.begin()) != owned.size()) return false;
    }
    auto copy = borrowed.to_owned();
    if (copy.size() != owned.size()) return false;
    for (std::size_t j = 0; j < owned.size(); ++j)
        if (netabase::encode(static_cast<const E&>(copy[j])) != netabase::encode(static_cast<const E&>(owned[j])))
            return false;
    return true;
}

template <class B, class O>
bool same(const std::optional<B>& borrowed, const std::optional<O>& owned) {
    if (borrowed.has_value() != owned.has_value()) return false;
    return !owned || same(*borrowed, *owned);
}

template <class B1, class B2, class O1, class O2>
bool same(const std::pair<B1, B2>& borrowed, const std::pair<O1, O2>& owned) {
    return same(borrowed.first, owned.first) && same(borrowed.second, owned.second);
}

template <class... B, class... O>
bool same(const std::tuple<B...>& borrowed, const std::tuple<O...>& owned) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (true && ... && same(std::get<I>(borrowed), std::get<I>(owned)));
    }
    (std::index_sequence_for<O...>{});
}

template <class M>
bool same(const netabase::View<M>& borrowed, const M& owned) {
    constexpr std::size_t n = boost::pfr::tuple_size_v<M>;
    bool ok = [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (true && ... && same(borrowed.template get<I>(), boost::pfr::get<I>(owned)));
    }
    (std::make_index_sequence<n>{});
    return ok && netabase::encode(borrowed.to_owned()) == netabase::encode(owned);
}

// ---- borrowed values on their own (the bytes may not decode as a whole) ---------------------

volatile std::size_t sink;

template <class T>
void touch(const T&) {
    sink = sink + 1;
}
void touch(std::string_view s) {
    for (char c : s) sink = sink + static_cast<unsigned char>(c);
}
template <class M>
void touch(const netabase::View<M>& v);
template <class E>
void touch(const netabase::sequence_view<E>& s) {
    std::size_t n = 0;
    for (auto v : s) {
        touch(v);
        ++n;
    }
    if (n != s.size()) fail("a sequence_view's iteration count differs from its size()");
    if constexpr (netabase::sequence_view<E>::random_access)
        if (!s.empty()) touch(s[s.size() - 1]);
    (void)s.to_owned();
}
template <class B>
void touch(const std::optional<B>& o) {
    if (o) touch(*o);
}
template <class A, class B>
void touch(const std::pair<A, B>& p) {
    touch(p.first);
    touch(p.second);
}
template <class... T>
void touch(const std::tuple<T...>& t) {
    std::apply([](const auto&... e) { (touch(e), ...); }, t);
}
template <class M>
void touch(const netabase::View<M>& v) {
    constexpr std::size_t n = boost::pfr::tuple_size_v<M>;
    // Each field on its own: a bad field must not stop the others being tried.
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (expect_corrupt_only([&] { touch(v.template get<I>()); }), ...);
    }
    (std::make_index_sequence<n>{});
    expect_corrupt_only([&] { (void)v.to_owned(); });
}

// ---- one model ---------------------------------------------------------------------------

template <class M>
void check_model(std::span<const std::byte> bytes, bool exact_round_trip) {
    std::optional<M> decoded;
    expect_corrupt_only([&] { decoded = netabase::decode<M>(bytes); });

    // The same bytes read in place, as Guard::view() does.
    std::optional<netabase::View<M>> view;
    expect_corrupt_only([&] {
        netabase::reader r = netabase::detail::open_row(bytes);
        view.emplace(std::span<const std::byte>(r.position(), r.remaining()));
    });
    if (view) touch(*view);

    if (!decoded) return;
    if (!view) fail("decode() accepted bytes whose header the view refused");
    std::vector<std::byte> again = netabase::encode(*decoded);
    if (exact_round_trip) {
        // encode() writes no checksum: compare against the input without its trailer.
        std::span<const std::byte> body = bytes;
        bool summed = (static_cast<std::uint8_t>(bytes[0]) & netabase::checksum_flag) != 0;
        if (summed) body = bytes.first(bytes.size() - 4);
        if (again.size() != body.size() || std::memcmp(again.data() + 1, body.data() + 1, body.size() - 1) != 0)
            fail("decoded bytes do not re-encode to themselves");
    }
    if (netabase::encode(netabase::decode<M>(again)) != again) fail("encode(decode(encode(x))) != encode(x)");
    try {
        netabase::View<M> fresh(std::span<const std::byte>(again.data() + 1, again.size() - 1));
        if (!same(*view, *decoded) || !same(fresh, *decoded)) fail("a view reads other values than decode()");
    } catch (const netabase::error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        fail("a view of bytes that decode() accepted threw");
    }
}

template <class K>
std::optional<K> check_key(std::span<const std::byte> bytes) {
    std::optional<K> k;
    expect_corrupt_only([&] { k = netabase::decode_key<K>(bytes); });
    if (k) {
        auto again = netabase::encode_key(*k);
        if (again.size() != bytes.size() || !std::equal(again.begin(), again.end(), bytes.begin()))
            fail("decoded key bytes do not re-encode to themselves");
    }
    return k;
}

template <class K>
void check_key_order(std::span<const std::byte> a, std::span<const std::byte> b) {
    auto ka = check_key<K>(a);
    auto kb = check_key<K>(b);
    if (!ka || !kb) return;
    std::size_t n = std::min(a.size(), b.size());
    int c = n ? std::memcmp(a.data(), b.data(), n) : 0;
    if (c == 0) c = a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
    int want = *ka < *kb ? -1 : (*kb < *ka ? 1 : 0);
    if ((c < 0) != (want < 0) || (c > 0) != (want > 0)) fail("key byte order differs from operator<");
}

}  // namespace decode_fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace decode_fuzz;
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);

    check_model<Row>(bytes, true);
    check_model<Scalars>(bytes, true);
    check_model<Containers>(bytes, true);
    check_model<Composite>(bytes, true);
    check_model<Inner>(bytes, true);
    check_model<Wide>(bytes, false);

    // Keys: the input split in two at a point its first byte picks.
    if (size > 0) {
        std::size_t cut = 1 + std::min<std::size_t>(data[0], size - 1);
        check_key_order<Key1>(bytes.subspan(1, cut - 1), bytes.subspan(cut));
        check_key_order<Key2>(bytes.subspan(1, cut - 1), bytes.subspan(cut));
    }
    return 0;
}
