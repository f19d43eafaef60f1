// Zero-copy views: Guard::view(), View<M>::get<>, sequence_view, corrupt input, alignment,
// and the debug lifetime checks (death tests in a forked child).
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <boost/pfr/core.hpp>
#include <boost/pfr/tuple_size.hpp>
#include <lmdb.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace view_test {

using namespace std::string_literals;

// ---- models ------------------------------------------------------------------------------

enum class Color : std::uint8_t { red = 1, green = 2, blue = 250 };

struct Inner {  // two levels below the row
    std::uint16_t code;
    std::string text;
    std::optional<std::int64_t> maybe;
    friend bool operator==(const Inner&, const Inner&) = default;
};

struct Middle {
    std::string label;
    Inner inner;
    std::uint64_t count;
    friend bool operator==(const Middle&, const Middle&) = default;
};

struct Point {  // variable size: a vector of these is forward-only
    std::int32_t x;
    std::string name;
    friend bool operator==(const Point&, const Point&) = default;
};

struct Pixel {  // fixed size, two fields of one type: a vector of these is random access
    std::uint16_t x;
    std::uint16_t y;
    friend bool operator==(const Pixel&, const Pixel&) = default;
};

struct Everything {
    std::uint64_t id;
    std::string name;
    std::string empty_text;
    std::string binary;  // NULs inside
    std::vector<std::uint64_t> u64s;
    std::vector<std::int16_t> i16s;
    std::vector<std::string> words;
    std::vector<Point> points;
    std::vector<Pixel> pixels;
    std::vector<bool> bits;
    std::array<double, 3> xyz;
    std::optional<std::string> nick;
    std::optional<std::string> no_nick;
    std::optional<std::uint32_t> rank;
    std::optional<std::uint32_t> no_rank;
    Middle middle;
    std::pair<std::string, int> pr;
    std::tuple<int, std::string, double> tup;
    Color color;
    std::chrono::milliseconds timeout;
    bool active;
    std::uint32_t small_a;
    std::uint32_t small_b;
    double ratio;
    friend bool operator==(const Everything&, const Everything&) = default;
};

// Rows whose variable-length prefix shifts every later scalar to an odd offset.
struct Skewed {
    std::uint64_t id;
    std::string pad;
    std::uint64_t big;
    double real;
    std::vector<std::uint64_t> many;
    std::int32_t i32;
    std::array<std::uint64_t, 2> pair;
    std::chrono::nanoseconds ns;
    std::uint16_t u16;
    std::vector<double> reals;
    std::int64_t last;
    friend bool operator==(const Skewed&, const Skewed&) = default;
};

// For hand-made malformed encodings.
struct Packet {
    std::uint32_t id;
    bool flag;
    std::string body;
    std::vector<std::uint64_t> nums;
    std::optional<std::uint16_t> opt;
    std::vector<bool> bits;
    Inner inner;
    std::uint8_t tail;
    friend bool operator==(const Packet&, const Packet&) = default;
};

constexpr auto netabase_model(netabase::tag<Packet>) { return netabase::model<Packet>("packets"); }

// For the lifetime death tests.
struct Note {
    std::uint64_t id;
    std::string text;
    Inner meta;
};

// Leading fixed-size fields are found at constant offsets (no walk); two of them share a type,
// so get<&M::f>() must tell them apart by address. A bool ends the constant-offset prefix.
struct Lead {
    std::uint64_t id;
    std::uint32_t a;
    std::uint32_t b;
    double d;
    Pixel px;
    std::array<std::uint16_t, 3> trio;
    std::string s;
    std::uint32_t after;
    bool flag;
    std::uint32_t last;
    friend bool operator==(const Lead&, const Lead&) = default;
};

using S = netabase::definition<Everything, Skewed, Packet, Note, Lead>;
using Store = netabase::Store<S>;

// ---- helpers -----------------------------------------------------------------------------

// "netabase: corrupt value" for a netabase::error, "<no exception>" when f returns.
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const netabase::error& e) {
        return std::string(e.code().category().name()) + ": " + e.code().message();
    }
    return "<no exception>";
}

const std::string corrupt = "netabase: corrupt value";
const std::string invalid = "netabase: invalid argument";

template <class T>
inline constexpr bool is_vector_v = false;
template <class T>
inline constexpr bool is_vector_v<std::vector<T>> = true;
template <class T>
inline constexpr bool is_array_v = false;
template <class T, std::size_t N>
inline constexpr bool is_array_v<std::array<T, N>> = true;
template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;
template <class T>
inline constexpr bool is_pair_v = false;
template <class A, class B>
inline constexpr bool is_pair_v<std::pair<A, B>> = true;
template <class T>
inline constexpr bool is_tuple_v = false;
template <class... T>
inline constexpr bool is_tuple_v<std::tuple<T...>> = true;

// Does the borrowed value b (what a view returns) equal the owned value o? Also pins down the
// borrowed type each owned type must map to.
template <class O, class B>
bool same(const B& b, const O& o) {
    if constexpr (std::is_same_v<O, std::string>) {
        static_assert(std::is_same_v<B, std::string_view>);
        return b.size() == o.size() && b == std::string_view(o);
    } else if constexpr (is_vector_v<O> || is_array_v<O>) {
        using E = typename O::value_type;
        static_assert(std::is_same_v<B, netabase::sequence_view<E>>);
        if (b.size() != o.size() || b.empty() != o.empty()) return false;
        std::size_t i = 0;
        for (auto it = b.begin(); it != b.end(); ++it, ++i) {
            if (i >= o.size()) return false;
            const E& e = o[i];
            if (!same<E>(*it, e)) return false;
        }
        if (i != o.size()) return false;
        if constexpr (B::random_access) {
            for (std::size_t j = 0; j < o.size(); ++j) {
                const E& e = o[j];
                if (!same<E>(b[j], e)) return false;
            }
        }
        return b.to_owned() == std::vector<E>(o.begin(), o.end());
    } else if constexpr (is_optional_v<O>) {
        using E = typename O::value_type;
        if (b.has_value() != o.has_value()) return false;
        return !o || same<E>(*b, *o);
    } else if constexpr (is_pair_v<O>) {
        return same<typename O::first_type>(b.first, o.first) && same<typename O::second_type>(b.second, o.second);
    } else if constexpr (is_tuple_v<O>) {
        return [&]<std::size_t... I>(std::index_sequence<I...>) {
            return (same<std::tuple_element_t<I, O>>(std::get<I>(b), std::get<I>(o)) && ...);
        }
        (std::make_index_sequence<std::tuple_size_v<O>>{});
    } else if constexpr (std::is_class_v<O> && std::is_aggregate_v<O>) {
        static_assert(std::is_same_v<B, netabase::View<O>>);
        bool fields = [&]<std::size_t... I>(std::index_sequence<I...>) {
            return (same<boost::pfr::tuple_element_t<I, O>>(b.template get<I>(), boost::pfr::get<I>(o)) && ...);
        }
        (std::make_index_sequence<boost::pfr::tuple_size_v<O>>{});
        return fields && b.to_owned() == o;
    } else {
        static_assert(std::is_same_v<B, O>);
        return b == o;
    }
}

// Field I of a view against field I of the owned model.
template <class M, std::size_t I>
bool field_matches(const netabase::View<M>& v, const M& m) {
    return same<boost::pfr::tuple_element_t<I, M>>(v.template get<I>(), boost::pfr::get<I>(m));
}

template <class M>
using field_check = bool (*)(const netabase::View<M>&, const M&);

template <class M>
constexpr auto field_checks() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
        return std::array<field_check<M>, sizeof...(I)>{&field_matches<M, I>...};
    }
    (std::make_index_sequence<boost::pfr::tuple_size_v<M>>{});
}

bool within(const void* p, std::span<const std::byte> s) {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    auto lo = reinterpret_cast<std::uintptr_t>(s.data());
    return a >= lo && a < lo + s.size();
}

bool within(std::string_view sv, std::span<const std::byte> s) {
    if (sv.empty()) return true;
    return within(sv.data(), s) && within(sv.data() + sv.size() - 1, s);
}

Everything sample(std::uint64_t id) {
    Everything e{};
    e.id = id;
    e.name = "row-" + std::to_string(id);
    e.empty_text = "";
    e.binary = std::string("\0a\0\0b\xff\0", 7) + std::to_string(id);
    e.u64s = {0, 1, id, std::numeric_limits<std::uint64_t>::max(), 0x0102030405060708ull};
    e.i16s = {-32768, -1, 0, 1, 32767, static_cast<std::int16_t>(id)};
    e.words = {"alpha", "", std::string("nul\0inside", 10), "omega-" + std::to_string(id)};
    e.points = {{-7, "p0"}, {0, ""}, {static_cast<std::int32_t>(id), "p" + std::to_string(id)}};
    e.pixels = {{1, 2}, {65535, 0}, {static_cast<std::uint16_t>(id), static_cast<std::uint16_t>(id * 3)}};
    e.bits = {true, false, false, true, id % 2 == 0, true};
    e.xyz = {0.1, -2.5, 1e300 + static_cast<double>(id)};
    e.nick = "nick" + std::to_string(id);
    e.no_nick = std::nullopt;
    e.rank = static_cast<std::uint32_t>(4000000000u - id);
    e.no_rank = std::nullopt;
    e.middle = Middle{"mid" + std::to_string(id), Inner{static_cast<std::uint16_t>(id + 9), "deep text", -123456789012LL},
                      id * 1000};
    e.pr = {"pair-" + std::to_string(id), -static_cast<int>(id)};
    e.tup = {static_cast<int>(id) * 7, "tuple\0str"s, 3.25 * static_cast<double>(id)};
    e.color = id % 3 == 0 ? Color::blue : (id % 3 == 1 ? Color::red : Color::green);
    e.timeout = std::chrono::milliseconds(-5000 + static_cast<std::int64_t>(id));
    e.active = id % 2 == 1;
    e.small_a = 111u + static_cast<std::uint32_t>(id);
    e.small_b = 222u + static_cast<std::uint32_t>(id);
    e.ratio = -0.0625 * static_cast<double>(id);
    return e;
}

// ---- every field kind ----------------------------------------------------------------------

TEST_CASE("view: get<&M::f>() of every field kind equals the owned value", "[view]") {
    auto store = Store::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Everything>();
        for (std::uint64_t id = 1; id <= 4; ++id) t.put(sample(id));
    });

    auto txn = store.begin_read();
    auto tree = txn.open_tree<Everything>();
    for (std::uint64_t id = 1; id <= 4; ++id) {
        INFO("row " << id);
        auto g = tree.get(id);
        REQUIRE(g);
        const Everything owned = g->value();
        REQUIRE(owned == sample(id));
        auto v = g->view();

        // Strings, including empty ones and ones with NULs; three fields share the type.
        std::string_view name = v.get<&Everything::name>();
        std::string_view empty_text = v.get<&Everything::empty_text>();
        std::string_view binary = v.get<&Everything::binary>();
        CHECK(name == owned.name);
        CHECK(empty_text.empty());
        CHECK(binary.size() == owned.binary.size());
        CHECK(binary == owned.binary);
        CHECK(binary.find('\0') == 0);

        // Vectors of fixed-size scalars: random access.
        netabase::sequence_view<std::uint64_t> u64s = v.get<&Everything::u64s>();
        REQUIRE(u64s.size() == owned.u64s.size());
        for (std::size_t i = 0; i < owned.u64s.size(); ++i) CHECK(u64s[i] == owned.u64s[i]);
        CHECK(std::vector<std::uint64_t>(u64s.begin(), u64s.end()) == owned.u64s);
        CHECK(u64s.to_owned() == owned.u64s);
        auto i16s = v.get<&Everything::i16s>();
        static_assert(std::is_same_v<decltype(i16s), netabase::sequence_view<std::int16_t>>);
        REQUIRE(i16s.size() == owned.i16s.size());
        for (std::size_t i = 0; i < owned.i16s.size(); ++i) CHECK(i16s[i] == owned.i16s[i]);

        // Vector of strings: forward iteration yielding string_views.
        auto words = v.get<&Everything::words>();
        static_assert(!decltype(words)::random_access);
        static_assert(std::is_same_v<decltype(*words.begin()), std::string_view>);
        CHECK(words.size() == owned.words.size());
        CHECK(std::ranges::equal(words, owned.words));
        CHECK(words.to_owned() == owned.words);
        std::size_t wi = 0;
        for (std::string_view w : words) CHECK(w == owned.words.at(wi++));
        CHECK(wi == owned.words.size());

        // Vector of variable-size nested aggregates: forward, elements are views.
        auto points = v.get<&Everything::points>();
        static_assert(!decltype(points)::random_access);
        std::size_t pi = 0;
        for (netabase::View<Point> p : points) {
            REQUIRE(pi < owned.points.size());
            CHECK(p.get<&Point::x>() == owned.points[pi].x);
            CHECK(p.get<&Point::name>() == owned.points[pi].name);
            CHECK(p.get<1>() == owned.points[pi].name);
            CHECK(p.to_owned() == owned.points[pi]);
            ++pi;
        }
        CHECK(pi == owned.points.size());

        // Vector of fixed-size nested aggregates: random access; two fields of one type.
        auto pixels = v.get<&Everything::pixels>();
        static_assert(decltype(pixels)::random_access);
        REQUIRE(pixels.size() == owned.pixels.size());
        for (std::size_t i = 0; i < owned.pixels.size(); ++i) {
            CHECK(pixels[i].get<&Pixel::x>() == owned.pixels[i].x);
            CHECK(pixels[i].get<&Pixel::y>() == owned.pixels[i].y);
            CHECK(pixels[i].to_owned() == owned.pixels[i]);
        }
        CHECK(pixels.to_owned() == owned.pixels);

        // vector<bool>.
        auto bits = v.get<&Everything::bits>();
        static_assert(std::is_same_v<decltype(bits), netabase::sequence_view<bool>>);
        REQUIRE(bits.size() == owned.bits.size());
        for (std::size_t i = 0; i < owned.bits.size(); ++i) CHECK(bits[i] == owned.bits[i]);
        CHECK(bits.to_owned() == owned.bits);

        // std::array<double, 3>.
        auto xyz = v.get<&Everything::xyz>();
        static_assert(std::is_same_v<decltype(xyz), netabase::sequence_view<double>>);
        REQUIRE(xyz.size() == 3);
        for (std::size_t i = 0; i < 3; ++i) CHECK(xyz[i] == owned.xyz[i]);

        // Optionals, set and empty; two optional<string> and two optional<uint32_t> fields.
        std::optional<std::string_view> nick = v.get<&Everything::nick>();
        std::optional<std::string_view> no_nick = v.get<&Everything::no_nick>();
        REQUIRE(nick.has_value());
        CHECK(*nick == *owned.nick);
        CHECK_FALSE(no_nick.has_value());
        std::optional<std::uint32_t> rank = v.get<&Everything::rank>();
        std::optional<std::uint32_t> no_rank = v.get<&Everything::no_rank>();
        REQUIRE(rank.has_value());
        CHECK(*rank == *owned.rank);
        CHECK_FALSE(no_rank.has_value());

        // Nested aggregate two levels deep.
        netabase::View<Middle> mid = v.get<&Everything::middle>();
        CHECK(mid.get<&Middle::label>() == owned.middle.label);
        CHECK(mid.get<&Middle::count>() == owned.middle.count);
        netabase::View<Inner> in = mid.get<&Middle::inner>();
        CHECK(in.get<&Inner::code>() == owned.middle.inner.code);
        CHECK(in.get<&Inner::text>() == owned.middle.inner.text);
        std::optional<std::int64_t> maybe = in.get<&Inner::maybe>();
        CHECK(maybe == owned.middle.inner.maybe);
        CHECK(mid.to_owned() == owned.middle);
        CHECK(in.to_owned() == owned.middle.inner);

        // pair and tuple of borrowed parts.
        std::pair<std::string_view, int> pr = v.get<&Everything::pr>();
        CHECK(pr.first == owned.pr.first);
        CHECK(pr.second == owned.pr.second);
        std::tuple<int, std::string_view, double> tup = v.get<&Everything::tup>();
        CHECK(std::get<0>(tup) == std::get<0>(owned.tup));
        CHECK(std::get<1>(tup) == std::get<1>(owned.tup));
        CHECK(std::get<1>(tup).size() == 9);
        CHECK(std::get<2>(tup) == std::get<2>(owned.tup));

        // Scalars by value.
        Color color = v.get<&Everything::color>();
        CHECK(color == owned.color);
        std::chrono::milliseconds timeout = v.get<&Everything::timeout>();
        CHECK(timeout == owned.timeout);
        bool active = v.get<&Everything::active>();
        CHECK(active == owned.active);
        std::uint64_t vid = v.get<&Everything::id>();
        CHECK(vid == id);
        double ratio = v.get<&Everything::ratio>();
        CHECK(ratio == owned.ratio);

        // Two uint32_t fields: each name gives its own field.
        std::uint32_t a = v.get<&Everything::small_a>();
        std::uint32_t b = v.get<&Everything::small_b>();
        CHECK(a == owned.small_a);
        CHECK(b == owned.small_b);
        CHECK(a != b);

        // Every field by member pointer against the same field by position.
        CHECK(same<std::string>(v.get<1>(), owned.name));
        CHECK(same<std::string>(v.get<2>(), owned.empty_text));
        CHECK(same<std::string>(v.get<3>(), owned.binary));
        CHECK(v.get<21>() == owned.small_a);
        CHECK(v.get<22>() == owned.small_b);

        CHECK(v.to_owned() == owned);
        CHECK(v.to_owned() == g->value());
    }
}

TEST_CASE("view: get<I>() of every field, in arbitrary orders, matches the owned value", "[view]") {
    auto store = Store::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Everything>();
        for (std::uint64_t id = 10; id < 20; ++id) t.put(sample(id));
    });
    constexpr auto checks = field_checks<Everything>();
    constexpr std::size_t n = checks.size();
    static_assert(n == 24);

    std::mt19937 rng(20240611);
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Everything>();
    for (const auto& g : tree) {
        const Everything owned = g.value();
        INFO("row " << owned.id);
        // Forward, backward, and several random permutations, each on a fresh view (whose
        // offset cache starts empty), plus one view reused across all of them.
        std::vector<std::vector<std::size_t>> orders;
        std::vector<std::size_t> order(n);
        std::iota(order.begin(), order.end(), std::size_t{0});
        orders.push_back(order);
        orders.emplace_back(order.rbegin(), order.rend());
        for (int k = 0; k < 6; ++k) {
            std::shuffle(order.begin(), order.end(), rng);
            orders.push_back(order);
        }
        auto shared = g.view();
        for (const auto& o : orders) {
            auto fresh = g.view();
            for (std::size_t i : o) {
                INFO("field " << i);
                CHECK(checks[i](fresh, owned));
                CHECK(checks[i](shared, owned));
            }
        }
        // One field read many times on one view.
        auto v = g.view();
        for (int k = 0; k < 3; ++k) CHECK(v.get<&Everything::ratio>() == owned.ratio);
        CHECK(v.get<&Everything::name>() == owned.name);
        CHECK(v.to_owned() == owned);
    }
}

// ---- sequence_view as a range ----------------------------------------------------------------

static_assert(std::random_access_iterator<netabase::sequence_view<std::uint64_t>::iterator>);
static_assert(std::ranges::random_access_range<netabase::sequence_view<std::uint64_t>>);
static_assert(std::ranges::sized_range<netabase::sequence_view<std::uint64_t>>);
static_assert(std::random_access_iterator<netabase::sequence_view<Pixel>::iterator>);
static_assert(std::forward_iterator<netabase::sequence_view<std::string>::iterator>);
static_assert(!std::bidirectional_iterator<netabase::sequence_view<std::string>::iterator>);
static_assert(std::forward_iterator<netabase::sequence_view<Point>::iterator>);

TEST_CASE("view: sequence_view iterators against the owned vector", "[view]") {
    auto store = Store::temporary();
    Everything e = sample(5);
    e.u64s.clear();
    for (std::uint64_t i = 0; i < 37; ++i) e.u64s.push_back(i * i * 1000003ull);
    store.write([&](auto& txn) { txn.template open_tree<Everything>().put(e); });

    auto txn = store.begin_read();
    auto g = txn.open_tree<Everything>().get(5);
    REQUIRE(g);
    auto v = g->view();
    auto s = v.get<&Everything::u64s>();
    const auto& o = e.u64s;
    REQUIRE(s.size() == o.size());

    SECTION("arithmetic") {
        auto b = s.begin();
        auto end = s.end();
        CHECK(end - b == static_cast<std::ptrdiff_t>(o.size()));
        CHECK(b - end == -static_cast<std::ptrdiff_t>(o.size()));
        CHECK(*(b + 10) == o[10]);
        CHECK(*(10 + b) == o[10]);
        CHECK(b[36] == o[36]);
        CHECK(*(end - 1) == o.back());
        auto it = b;
        it += 20;
        CHECK(*it == o[20]);
        it -= 5;
        CHECK(*it == o[15]);
        CHECK(it[-3] == o[12]);
        --it;
        CHECK(*it == o[14]);
        auto old = it--;
        CHECK(*old == o[14]);
        CHECK(*it == o[13]);
        old = it++;
        CHECK(*old == o[13]);
        CHECK(*it == o[14]);
        CHECK(b < it);
        CHECK(it < end);
        CHECK(it > b);
        CHECK(b <= b);
        CHECK(end >= it);
        CHECK((b + 14) == it);
        CHECK((it - 14) == b);
        CHECK(std::ranges::prev(end) - b == 36);
        CHECK(std::ranges::next(b, 36) == std::ranges::prev(end));
    }
    SECTION("ranges algorithms") {
        CHECK(std::ranges::distance(s) == static_cast<std::ptrdiff_t>(o.size()));
        CHECK(std::ranges::distance(s.begin(), s.end()) == static_cast<std::ptrdiff_t>(o.size()));
        CHECK(std::ranges::equal(s, o));
        CHECK(std::ranges::equal(s | std::views::reverse, o | std::views::reverse));
        CHECK(std::ranges::equal(s | std::views::drop(30), o | std::views::drop(30)));
        CHECK(std::ranges::binary_search(s, o[17]));
        CHECK_FALSE(std::ranges::binary_search(s, o[17] + 1));
        auto lb = std::ranges::lower_bound(s, o[25]);
        CHECK(lb - s.begin() == 25);
        CHECK(*std::ranges::max_element(s) == o.back());
        CHECK(std::ranges::count_if(s, [](std::uint64_t x) { return x % 2 == 0; }) ==
              std::ranges::count_if(o, [](std::uint64_t x) { return x % 2 == 0; }));
        std::vector<std::uint64_t> copied;
        std::ranges::copy(s, std::back_inserter(copied));
        CHECK(copied == o);
    }
    SECTION("bools, pixels and arrays") {
        auto bits = v.get<&Everything::bits>();
        CHECK(std::ranges::equal(bits, e.bits));
        CHECK(bits.end() - bits.begin() == static_cast<std::ptrdiff_t>(e.bits.size()));
        auto pixels = v.get<&Everything::pixels>();
        CHECK(std::ranges::equal(pixels, e.pixels, {}, [](netabase::View<Pixel> p) { return p.to_owned(); }));
        CHECK((*(pixels.end() - 1)).get<&Pixel::y>() == e.pixels.back().y);
        auto xyz = v.get<&Everything::xyz>();
        CHECK(std::ranges::equal(xyz, e.xyz));
        CHECK(std::ranges::equal(xyz | std::views::reverse, e.xyz | std::views::reverse));
    }
    SECTION("forward-only sequences") {
        auto words = v.get<&Everything::words>();
        CHECK(std::ranges::distance(words) == static_cast<std::ptrdiff_t>(e.words.size()));
        CHECK(std::ranges::equal(words, e.words));
        auto it = std::ranges::next(words.begin(), 2);
        CHECK(*it == e.words[2]);
        auto points = v.get<&Everything::points>();
        CHECK(std::ranges::equal(points, e.points, {}, [](netabase::View<Point> p) { return p.to_owned(); }));
    }
    SECTION("empty sequences") {
        Everything z = sample(6);
        z.u64s.clear();
        z.words.clear();
        z.bits.clear();
        z.points.clear();
        auto w = store.begin_write();
        auto t = w.open_tree<Everything>();
        t.put(z);
        auto gz = t.get(6);
        REQUIRE(gz);
        auto vz = gz->view();
        auto u = vz.get<&Everything::u64s>();
        CHECK(u.empty());
        CHECK(u.size() == 0);
        CHECK(u.begin() == u.end());
        CHECK(std::ranges::distance(u) == 0);
        CHECK(vz.get<&Everything::words>().empty());
        CHECK(vz.get<&Everything::words>().begin() == vz.get<&Everything::words>().end());
        CHECK(vz.get<&Everything::bits>().to_owned().empty());
        CHECK(vz.get<&Everything::points>().to_owned().empty());
        CHECK(vz.to_owned() == z);
        CHECK(error_of([&] { (void)u[0]; }) == invalid);
    }
}

TEST_CASE("view: sequence_view operator[] out of range throws invalid_argument", "[view]") {
    auto store = Store::temporary();
    Everything e = sample(3);
    store.write([&](auto& txn) { txn.template open_tree<Everything>().put(e); });
    auto txn = store.begin_read();
    auto g = txn.open_tree<Everything>().get(3);
    REQUIRE(g);
    auto v = g->view();
    auto u64s = v.get<&Everything::u64s>();
    CHECK(error_of([&] { (void)u64s[u64s.size() - 1]; }) == "<no exception>");
    CHECK(error_of([&] { (void)u64s[u64s.size()]; }) == invalid);
    CHECK(error_of([&] { (void)u64s[std::numeric_limits<std::size_t>::max()]; }) == invalid);
    auto bits = v.get<&Everything::bits>();
    CHECK(error_of([&] { (void)bits[bits.size()]; }) == invalid);
    auto xyz = v.get<&Everything::xyz>();
    CHECK(error_of([&] { (void)xyz[3]; }) == invalid);
    auto pixels = v.get<&Everything::pixels>();
    CHECK(error_of([&] { (void)pixels[pixels.size() + 100]; }) == invalid);
    auto i16s = v.get<&Everything::i16s>();
    try {
        (void)i16s[99];
        FAIL("no exception");
    } catch (const netabase::error& err) {
        CHECK(err.code() == netabase::errc::invalid_argument);
        CHECK(std::string(err.what()).find("99") != std::string::npos);
    }
}

// ---- no copies ----------------------------------------------------------------------------

TEST_CASE("view: borrowed strings point into the guard's bytes", "[view]") {
    auto store = Store::temporary();
    Everything e = sample(8);
    store.write([&](auto& txn) { txn.template open_tree<Everything>().put(e); });
    auto txn = store.begin_read();
    auto g = txn.open_tree<Everything>().get(8);
    REQUIRE(g);
    auto bytes = g->bytes();
    REQUIRE(bytes.size() > 1);
    CHECK(static_cast<std::uint8_t>(bytes[0]) == netabase::encoding_version);
    auto v = g->view();
    // The view's bytes are the row's bytes after the version byte.
    CHECK(v.bytes().data() == bytes.data() + 1);
    CHECK(v.bytes().size() == bytes.size() - 1);

    CHECK(within(v.get<&Everything::name>(), bytes));
    CHECK(within(v.get<&Everything::binary>(), bytes));
    CHECK(within(*v.get<&Everything::nick>(), bytes));
    CHECK(within(v.get<&Everything::pr>().first, bytes));
    CHECK(within(std::get<1>(v.get<&Everything::tup>()), bytes));
    for (std::string_view w : v.get<&Everything::words>())
        if (!w.empty()) CHECK(within(w, bytes));
    for (auto p : v.get<&Everything::points>())
        if (!p.get<&Point::name>().empty()) CHECK(within(p.get<&Point::name>(), bytes));
    auto mid = v.get<&Everything::middle>();
    CHECK(within(mid.bytes().data(), bytes));
    CHECK(within(mid.get<&Middle::inner>().get<&Inner::text>(), bytes));
    // The string's bytes sit right after its 4-byte length: a borrowed string is the stored one.
    std::string_view name = v.get<&Everything::name>();
    CHECK(std::memcmp(name.data(), e.name.data(), e.name.size()) == 0);
    std::uint32_t len = 0;
    std::memcpy(&len, name.data() - 4, 4);
    CHECK(len == e.name.size());
    // The guard's bytes are LMDB's map, not a copy: a second get returns the same address.
    auto g2 = txn.open_tree<Everything>().get(8);
    REQUIRE(g2);
    CHECK(g2->bytes().data() == bytes.data());
}

// ---- alignment -------------------------------------------------------------------------------

Skewed skewed(std::uint64_t id) {
    Skewed s{};
    s.id = id;
    s.pad = std::string(static_cast<std::size_t>(id % 24), static_cast<char>('a' + id % 26));
    s.big = 0x8000000000000001ull ^ (id * 0x9e3779b97f4a7c15ull);
    s.real = 1.0 / static_cast<double>(id + 3);
    for (std::uint64_t i = 0; i < id % 5 + 1; ++i) s.many.push_back(~i * (id + 1));
    s.i32 = -static_cast<std::int32_t>(id * 12345);
    s.pair = {id << 40, ~id};
    s.ns = std::chrono::nanoseconds(static_cast<std::int64_t>(id) * -1000000007LL);
    s.u16 = static_cast<std::uint16_t>(0xfff0 + id % 16);
    for (std::uint64_t i = 0; i < id % 3 + 1; ++i) s.reals.push_back(static_cast<double>(i) - 0.3 * static_cast<double>(id));
    s.last = std::numeric_limits<std::int64_t>::min() + static_cast<std::int64_t>(id);
    return s;
}

TEST_CASE("view: scalars at odd offsets read correctly", "[view][alignment]") {
    auto store = Store::temporary();
    constexpr std::uint64_t rows = 48;
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Skewed>();
        for (std::uint64_t id = 0; id < rows; ++id) t.put(skewed(id));
    });
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Skewed>();
    std::size_t odd = 0, misaligned8 = 0, seen = 0;
    for (const auto& g : tree) {
        auto v = g.view();
        const std::uint64_t id = v.get<&Skewed::id>();
        const Skewed want = skewed(id);
        INFO("row " << id);
        std::string_view pad = v.get<&Skewed::pad>();
        CHECK(pad == want.pad);
        auto big_at = reinterpret_cast<std::uintptr_t>(pad.data() + pad.size());
        if (big_at % 2 == 1) ++odd;
        if (big_at % 8 != 0) ++misaligned8;
        CHECK(v.get<&Skewed::big>() == want.big);
        CHECK(v.get<&Skewed::real>() == want.real);
        auto many = v.get<&Skewed::many>();
        REQUIRE(many.size() == want.many.size());
        for (std::size_t i = 0; i < many.size(); ++i) CHECK(many[i] == want.many[i]);
        CHECK(std::ranges::equal(many, want.many));
        CHECK(v.get<&Skewed::i32>() == want.i32);
        auto pair = v.get<&Skewed::pair>();
        CHECK(pair[0] == want.pair[0]);
        CHECK(pair[1] == want.pair[1]);
        CHECK(v.get<&Skewed::ns>() == want.ns);
        CHECK(v.get<&Skewed::u16>() == want.u16);
        CHECK(std::ranges::equal(v.get<&Skewed::reals>(), want.reals));
        CHECK(v.get<&Skewed::last>() == want.last);
        CHECK(v.to_owned() == want);
        CHECK(g.value() == want);
        ++seen;
    }
    CHECK(seen == rows);
    // The test means something only if some scalars really were misaligned.
    CHECK(odd >= rows / 4);
    CHECK(misaligned8 >= rows / 2);
}

// ---- malformed bytes ---------------------------------------------------------------------------

Packet packet() {
    return Packet{7, true, "hello body", {1, 2, 3, 4}, std::uint16_t{515}, {true, false, true},
                  Inner{9, "inner text", 42}, 0xab};
}

// Byte offsets inside encode(packet()), version byte included.
constexpr std::size_t off_flag = 1 + 4;
constexpr std::size_t off_body = off_flag + 1;           // u32 length, then 10 bytes
constexpr std::size_t off_nums = off_body + 4 + 10;      // u32 count, then 4 * 8 bytes
constexpr std::size_t off_opt = off_nums + 4 + 32;       // tag, then u16
constexpr std::size_t off_bits = off_opt + 1 + 2;        // u32 count, then 3 bytes
constexpr std::size_t off_inner = off_bits + 4 + 3;      // u16, str(4 + 10), opt(1 + 8)
constexpr std::size_t off_tail = off_inner + 2 + 14 + 9;

netabase::View<Packet> view_of(const std::vector<std::byte>& bytes) {
    return netabase::View<Packet>(std::span<const std::byte>(bytes).subspan(1));
}

TEST_CASE("view: malformed encodings throw corrupt_value on the affected field", "[view][corrupt]") {
    const Packet p = packet();
    const std::vector<std::byte> good = netabase::encode(p);
    REQUIRE(good.size() == off_tail + 1);
    REQUIRE(static_cast<std::uint8_t>(good[off_tail]) == 0xab);
    REQUIRE(static_cast<std::uint8_t>(good[off_flag]) == 1);

    SECTION("the intact encoding reads back") {
        auto v = view_of(good);
        CHECK(v.get<&Packet::id>() == 7u);
        CHECK(v.get<&Packet::flag>());
        CHECK(v.get<&Packet::body>() == "hello body");
        CHECK(std::ranges::equal(v.get<&Packet::nums>(), p.nums));
        CHECK(v.get<&Packet::opt>() == std::optional<std::uint16_t>(515));
        CHECK(v.get<&Packet::bits>().to_owned() == p.bits);
        CHECK(v.get<&Packet::inner>().get<&Inner::text>() == "inner text");
        CHECK(v.get<&Packet::tail>() == 0xab);
        CHECK(v.to_owned() == p);
    }
    SECTION("cut inside the vector: earlier fields read, the vector and later fields throw") {
        std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(off_nums + 4 + 12));
        auto v = view_of(cut);
        CHECK(v.get<&Packet::id>() == 7u);
        CHECK(v.get<&Packet::flag>());
        CHECK(v.get<&Packet::body>() == "hello body");
        CHECK(error_of([&] { (void)v.get<&Packet::nums>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<&Packet::opt>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<&Packet::tail>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.to_owned(); }) == corrupt);
        // A fresh view going straight to a later field also throws.
        CHECK(error_of([&] { (void)view_of(cut).get<&Packet::bits>(); }) == corrupt);
    }
    SECTION("cut inside the string") {
        std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(off_body + 4 + 3));
        auto v = view_of(cut);
        CHECK(v.get<&Packet::id>() == 7u);
        CHECK(error_of([&] { (void)v.get<&Packet::body>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<&Packet::nums>(); }) == corrupt);
    }
    SECTION("cut inside the string's length") {
        std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(off_body + 2));
        CHECK(error_of([&] { (void)view_of(cut).get<&Packet::body>(); }) == corrupt);
    }
    SECTION("cut inside a scalar") {
        std::vector<std::byte> cut(good.begin(), good.begin() + 3);
        CHECK(error_of([&] { (void)view_of(cut).get<&Packet::id>(); }) == corrupt);
        CHECK(error_of([&] { (void)view_of(cut).get<0>(); }) == corrupt);
    }
    SECTION("nothing at all") {
        std::vector<std::byte> cut(good.begin(), good.begin() + 1);
        CHECK(error_of([&] { (void)view_of(cut).get<&Packet::id>(); }) == corrupt);
        CHECK(error_of([&] { (void)view_of(cut).get<&Packet::tail>(); }) == corrupt);
    }
    SECTION("cut inside the nested aggregate") {
        std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(off_inner + 2 + 7));
        auto v = view_of(cut);
        CHECK(v.get<&Packet::bits>().to_owned() == p.bits);
        CHECK(error_of([&] { (void)v.get<&Packet::inner>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<&Packet::tail>(); }) == corrupt);
    }
    SECTION("a string length past the end") {
        auto bad = good;
        std::uint32_t huge = 0xfffffff0u;
        std::memcpy(bad.data() + off_body, &huge, 4);
        auto v = view_of(bad);
        CHECK(v.get<&Packet::flag>());
        CHECK(error_of([&] { (void)v.get<&Packet::body>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<&Packet::nums>(); }) == corrupt);
    }
    SECTION("a vector count past the end") {
        auto bad = good;
        std::uint32_t count = 5;  // four are stored
        std::memcpy(bad.data() + off_nums, &count, 4);
        auto v = view_of(bad);
        CHECK(v.get<&Packet::body>() == "hello body");
        // The count is checked against the bytes that follow, and the bytes after the vector
        // now decode as something else: either the vector or a later field must fail.
        std::string nums = error_of([&] { (void)v.get<&Packet::nums>(); });
        std::string tail = error_of([&] { (void)v.get<&Packet::tail>(); });
        CHECK((nums == corrupt || tail == corrupt));
        std::uint32_t huge = 0x10000000u;
        std::memcpy(bad.data() + off_nums, &huge, 4);
        CHECK(error_of([&] { (void)view_of(bad).get<&Packet::nums>(); }) == corrupt);
    }
    SECTION("a bool byte of 2") {
        auto bad = good;
        bad[off_flag] = std::byte{2};
        auto v = view_of(bad);
        CHECK(v.get<&Packet::id>() == 7u);
        CHECK(error_of([&] { (void)v.get<&Packet::flag>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<1>(); }) == corrupt);
        // Reaching a later field walks past the bad bool.
        CHECK(error_of([&] { (void)view_of(bad).get<&Packet::body>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.to_owned(); }) == corrupt);
        bad[off_flag] = std::byte{0xff};
        CHECK(error_of([&] { (void)view_of(bad).get<&Packet::flag>(); }) == corrupt);
    }
    SECTION("a bool element of 2 inside vector<bool>") {
        auto bad = good;
        bad[off_bits + 4 + 1] = std::byte{2};
        auto v = view_of(bad);
        CHECK(v.get<&Packet::opt>() == std::optional<std::uint16_t>(515));
        CHECK(error_of([&] { (void)v.get<&Packet::bits>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<&Packet::tail>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.to_owned(); }) == corrupt);
    }
    SECTION("an optional tag of 7") {
        auto bad = good;
        bad[off_opt] = std::byte{7};
        auto v = view_of(bad);
        CHECK(std::ranges::equal(v.get<&Packet::nums>(), p.nums));
        CHECK(error_of([&] { (void)v.get<&Packet::opt>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<&Packet::bits>(); }) == corrupt);
    }
    SECTION("a nested optional tag of 3") {
        auto bad = good;
        bad[off_inner + 2 + 14] = std::byte{3};
        auto v = view_of(bad);
        CHECK(error_of([&] { (void)v.get<&Packet::inner>(); }) == corrupt);
        CHECK(error_of([&] { (void)v.get<&Packet::tail>(); }) == corrupt);
    }
}

TEST_CASE("view: a stored row with malformed bytes (written through raw LMDB)", "[view][corrupt]") {
    netabase_test::temp_dir dir;
    {
        Store store(dir.path());
        store.write([](auto& txn) {
            auto t = txn.template open_tree<Packet>();
            t.put(packet());
            Packet q = packet();
            q.id = 8;
            t.put(q);
        });
    }
    // Overwrite row 8 with a bool byte of 2 and row 7 with a truncated value, behind netabase's back.
    {
        MDB_env* env = nullptr;
        REQUIRE(::mdb_env_create(&env) == 0);
        REQUIRE(::mdb_env_set_maxdbs(env, 64) == 0);
        REQUIRE(::mdb_env_open(env, dir.path().c_str(), 0, 0644) == 0);
        MDB_txn* t = nullptr;
        REQUIRE(::mdb_txn_begin(env, nullptr, 0, &t) == 0);
        MDB_dbi dbi = 0;
        REQUIRE(::mdb_dbi_open(t, "packets", 0, &dbi) == 0);
        auto put = [&](std::uint32_t id, std::vector<std::byte> value) {
            auto k = netabase::encode_key(id);
            MDB_val kv{k.size(), k.data()}, vv{value.size(), value.data()};
            REQUIRE(::mdb_put(t, dbi, &kv, &vv, 0) == 0);
        };
        auto bad_bool = netabase::encode(packet());
        bad_bool[off_flag] = std::byte{2};
        put(8, bad_bool);
        auto cut = netabase::encode(packet());
        cut.resize(off_nums + 4 + 5);
        put(7, cut);
        REQUIRE(::mdb_txn_commit(t) == 0);
        ::mdb_env_close(env);
    }
    Store store(dir.path());
    auto txn = store.begin_read();
    auto tree = txn.open_tree<Packet>();
    auto g8 = tree.get(8u);
    REQUIRE(g8);
    auto v8 = g8->view();
    CHECK(v8.get<&Packet::id>() == 7u);  // the id field was not rewritten; the key was
    CHECK(error_of([&] { (void)v8.get<&Packet::flag>(); }) == corrupt);
    CHECK(error_of([&] { (void)g8->value(); }) == corrupt);
    auto g7 = tree.get(7u);
    REQUIRE(g7);
    auto v7 = g7->view();
    CHECK(v7.get<&Packet::body>() == "hello body");
    CHECK(error_of([&] { (void)v7.get<&Packet::nums>(); }) == corrupt);
    CHECK(error_of([&] { (void)g7->value(); }) == corrupt);
}

// ---- lifetime rules: death tests ------------------------------------------------------------

struct child_outcome {
    bool signaled = false;
    int signal = 0;
    bool exited = false;
    int exit_code = -1;
    std::string err;
};

// Runs fn in a forked child with stderr captured. The child opens its own store (an LMDB
// environment must not cross a fork), exits 0 if fn returns, 3 if it throws.
template <class F>
child_outcome in_child(F&& fn) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        ::dup2(fds[1], 2);
        ::close(fds[1]);
        if (FILE* null = std::fopen("/dev/null", "w")) ::dup2(::fileno(null), 1);
        std::signal(SIGABRT, SIG_DFL);  // not Catch's handler: die of the signal itself
        try {
            fn();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child threw: %s\n", e.what());
            std::fflush(stderr);
            ::_exit(3);
        } catch (...) {
            ::_exit(4);
        }
        std::fflush(stderr);
        ::_exit(0);
    }
    ::close(fds[1]);
    child_outcome out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n > 0) {
            out.err.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    out.signaled = WIFSIGNALED(status);
    if (out.signaled) out.signal = WTERMSIG(status);
    out.exited = WIFEXITED(status);
    if (out.exited) out.exit_code = WEXITSTATUS(status);
    return out;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

void seed(Store& store) {
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Note>();
        t.put(Note{1, "one", Inner{1, "meta one", std::nullopt}});
        t.put(Note{2, "two", Inner{2, "meta two", 2}});
        t.put(Note{3, "three", Inner{3, "meta three", 3}});
    });
}

template <class F>
void expect_lifetime_abort(const std::filesystem::path& dir, std::string_view what, std::string_view rule, F&& misuse) {
    child_outcome r = in_child([&] {
        Store store(dir);
        seed(store);
        misuse(store);
    });
    INFO("child " << (r.signaled ? "died of signal " + std::to_string(r.signal)
                                  : "exited with " + std::to_string(r.exit_code))
                  << "; its stderr: " << r.err);
    CHECK(r.signaled);
    CHECK(r.signal == SIGABRT);
    CHECK(contains(r.err, "netabase: lifetime rule broken"));
    CHECK(contains(r.err, what));
    CHECK(contains(r.err, rule));
}

#if NETABASE_CHECK_LIFETIMES

constexpr std::string_view rule_ended = "after its transaction ended";
constexpr std::string_view rule_write = "after a later put or remove";

TEST_CASE("lifetime: misuse aborts with the rule it broke", "[view][lifetime]") {
    netabase_test::temp_dir dir;
    const auto path = dir / "db";

    SECTION("guard used after its read transaction ended") {
        expect_lifetime_abort(path, "a netabase::Guard", rule_ended, [](Store& store) {
            std::optional<netabase::Guard<Note>> g;
            {
                auto txn = store.begin_read();
                g = txn.open_tree<Note>().get(1);
                if (!g || g->value().text != "one") ::_exit(5);
            }
            (void)g->value();
        });
    }
    SECTION("guard used after its read transaction committed, its slot reused by a new one") {
        expect_lifetime_abort(path, "a netabase::Guard", rule_ended, [](Store& store) {
            auto txn = store.begin_read();
            auto g = txn.open_tree<Note>().get(2);
            if (!g) ::_exit(5);
            txn.commit();
            auto again = store.begin_read();  // likely takes the freed slot
            (void)again.open_tree<Note>().size();
            (void)g->bytes();
        });
    }
    SECTION("guard from a write transaction used after commit") {
        expect_lifetime_abort(path, "a netabase::Guard", rule_ended, [](Store& store) {
            auto txn = store.begin_write();
            auto g = txn.open_tree<Note>().get(3);
            if (!g) ::_exit(5);
            txn.commit();
            (void)g->view();
        });
    }
    SECTION("view used after its transaction ended") {
        expect_lifetime_abort(path, "a netabase::View", rule_ended, [](Store& store) {
            netabase::View<Note> v;
            {
                auto txn = store.begin_read();
                auto g = txn.open_tree<Note>().get(1);
                if (!g) ::_exit(5);
                v = g->view();
                if (v.get<&Note::text>() != "one") ::_exit(6);
            }
            (void)v.get<&Note::text>();
        });
    }
    SECTION("view used after its transaction was aborted") {
        expect_lifetime_abort(path, "a netabase::View", rule_ended, [](Store& store) {
            auto txn = store.begin_read();
            auto g = txn.open_tree<Note>().get(2);
            if (!g) ::_exit(5);
            auto v = g->view();
            txn.abort();
            (void)v.to_owned();
        });
    }
    SECTION("nested view (a View<Inner> field) used after its transaction ended") {
        expect_lifetime_abort(path, "a netabase::View", rule_ended, [](Store& store) {
            netabase::View<Inner> inner;
            {
                auto txn = store.begin_read();
                auto g = txn.open_tree<Note>().get(1);
                if (!g) ::_exit(5);
                inner = g->view().get<&Note::meta>();
                if (inner.get<&Inner::text>() != "meta one") ::_exit(6);
            }
            (void)inner.get<&Inner::text>();
        });
    }
    SECTION("guard from a write transaction used after a later put in it") {
        expect_lifetime_abort(path, "a netabase::Guard", rule_write, [](Store& store) {
            auto txn = store.begin_write();
            auto t = txn.open_tree<Note>();
            auto g = t.get(1);
            if (!g) ::_exit(5);
            t.put(Note{4, "four", {}});
            (void)g->value();
        });
    }
    SECTION("guard from a write transaction used after a later remove in it") {
        expect_lifetime_abort(path, "a netabase::Guard", rule_write, [](Store& store) {
            auto txn = store.begin_write();
            auto t = txn.open_tree<Note>();
            auto g = t.get(1);
            if (!g) ::_exit(5);
            if (!t.remove(2)) ::_exit(6);
            (void)g->key();
        });
    }
    SECTION("view from a write transaction used after a later put in it") {
        expect_lifetime_abort(path, "a netabase::View", rule_write, [](Store& store) {
            auto txn = store.begin_write();
            auto t = txn.open_tree<Note>();
            auto g = t.get(1);
            if (!g) ::_exit(5);
            auto v = g->view();
            t.put(Note{1, "changed", {}});
            (void)v.get<&Note::text>();
        });
    }
    SECTION("Rows iterator dereferenced after its transaction ended") {
        expect_lifetime_abort(path, "a netabase::Rows iterator", rule_ended, [](Store& store) {
            auto txn = store.begin_read();
            auto rows = txn.open_tree<Note>().all();
            auto it = rows.begin();
            if (it == std::default_sentinel) ::_exit(5);
            txn.commit();
            (void)*it;
        });
    }
    SECTION("Rows iterator advanced after its transaction ended") {
        expect_lifetime_abort(path, "a netabase::Rows iterator", rule_ended, [](Store& store) {
            auto txn = store.begin_read();
            auto rows = txn.open_tree<Note>().range(1, 3);
            auto it = rows.begin();
            if (it == std::default_sentinel) ::_exit(5);
            txn.abort();
            ++it;
        });
    }
    SECTION("Rows iterator from a write transaction dereferenced after a later put") {
        expect_lifetime_abort(path, "a netabase::Rows iterator", rule_write, [](Store& store) {
            auto txn = store.begin_write();
            auto t = txn.open_tree<Note>();
            auto rows = t.all();
            auto it = rows.begin();
            if (it == std::default_sentinel) ::_exit(5);
            t.put(Note{9, "nine", {}});
            (void)*it;
        });
    }
}

#else

// Release builds (NDEBUG, as CI's release preset) compile the checks out: the stamps are empty,
// so guards, views and iterators carry no bytes for them, and a misuse is not caught. (The
// Debug builds, CI's asan and clang presets, run the death tests above.)
static_assert(std::is_empty_v<netabase::detail::stamp>);
static_assert(sizeof(netabase::Guard<Note>) == 2 * sizeof(std::span<const std::byte>) + sizeof(const std::string*));

TEST_CASE("lifetime: with NETABASE_CHECK_LIFETIMES 0 a misuse is not caught", "[view][lifetime]") {
    netabase_test::temp_dir dir;
    const auto path = dir / "db";
    // A guard of a read transaction used after the transaction ended. Its bytes are in the map,
    // which stays mapped while the store is open, and nothing writes, so the read returns the
    // row: what matters is that nothing checks, prints or aborts.
    child_outcome r = in_child([&] {
        Store store(path);
        seed(store);
        std::optional<netabase::Guard<Note>> g;
        {
            auto txn = store.begin_read();
            g = txn.open_tree<Note>().get(1);
            if (!g) ::_exit(5);
        }
        if (g->bytes().empty()) ::_exit(6);
        std::fprintf(stderr, "used after its transaction ended: key %llu\n", static_cast<unsigned long long>(g->key()));
    });
    INFO("child " << (r.signaled ? "died of signal " + std::to_string(r.signal)
                                  : "exited with " + std::to_string(r.exit_code))
                  << "; its stderr: " << r.err);
    CHECK(r.exited);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.err, "used after its transaction ended: key 1"));
    CHECK_FALSE(contains(r.err, "lifetime rule broken"));
}

#endif

// The default follows NDEBUG: a build without it runs the death tests, never the test above.
#if !defined(NDEBUG) && !NETABASE_CHECK_LIFETIMES
#error "tests/test_view.cpp: a build without NDEBUG must have NETABASE_CHECK_LIFETIMES on (the lifetime death tests)"
#endif

// With the checks on or off, using guards and views within the rules must not abort.
TEST_CASE("lifetime: guards and views used within the rules are fine", "[view][lifetime]") {
    netabase_test::temp_dir dir;
    const auto path = dir / "db";
    child_outcome r = in_child([&] {
        Store store(path);
        seed(store);
        {
            auto txn = store.begin_write();
            auto t = txn.open_tree<Note>();
            t.put(Note{5, "five", {}});
            auto g = t.get(5);  // taken after the put: fresh
            if (!g) ::_exit(5);
            auto v = g->view();
            if (v.get<&Note::text>() != "five") ::_exit(6);
            if (g->value().text != "five" || g->key() != 5) ::_exit(7);
            t.put(Note{6, "six", {}});  // g and v are not used after this
            auto g6 = t.get(6);
            if (!g6 || g6->view().get<&Note::text>() != "six") ::_exit(8);
            // Reads in the same write transaction do not invalidate anything.
            auto g1 = t.get(1);
            (void)t.get(2);
            for (const auto& row : t) (void)row.key();
            if (!g1 || g1->view().get<&Note::text>() != "one") ::_exit(9);
            txn.commit();
        }
        {
            auto txn = store.begin_read();
            auto t = txn.open_tree<Note>();
            auto g = t.get(6);
            // Another transaction beginning and ending does not touch this one's guards.
            { auto other = store.begin_read(); (void)other.open_tree<Note>().get(1); }
            { auto w = store.begin_write(); w.open_tree<Note>().put(Note{7, "seven", {}}); w.commit(); }
            if (!g || g->view().get<&Note::text>() != "six") ::_exit(10);
            std::size_t n = 0;
            auto rows = t.all();
            for (auto it = rows.begin(); it != std::default_sentinel; ++it) n += (*it).key() > 0;
            if (n != 5) ::_exit(11);  // 1, 2, 3, 5, 6: the later commit of 7 is not in this snapshot
        }
    });
    INFO("child stderr: " << r.err);
    CHECK(r.exited);
    CHECK(r.exit_code == 0);
    CHECK_FALSE(contains(r.err, "lifetime rule broken"));
}

// ---- fixed-size leading fields ---------------------------------------------------------------

static_assert(netabase::detail::member_index<Lead, &Lead::a>() == 1);
static_assert(netabase::detail::member_index<Lead, &Lead::b>() == 2);
static_assert(netabase::detail::member_index<Lead, &Lead::after>() == 7);
static_assert(netabase::detail::member_index<Lead, &Lead::last>() == 9);
static_assert(netabase::detail::member_index<Lead, &Pixel::x>() == 10);  // not a field of Lead

TEST_CASE("view: constant-offset fields read right, and every truncation throws on the cut fields only",
          "[view][corrupt]") {
    const Lead lead{0x0102030405060708ull, 11, 22, 2.5, Pixel{3, 4}, {5, 6, 7}, "middle", 33, true, 44};
    const std::vector<std::byte> good = netabase::encode(lead);
    // Where each field ends, after the version byte.
    const std::size_t ends[] = {8, 12, 16, 24, 28, 34, 34 + 4 + 6, 48, 49, 53};
    REQUIRE(good.size() == 1 + ends[9]);
    auto fields = [](const netabase::View<Lead>& v) {
        return std::array<std::string, 10>{
            error_of([&] { auto x = v.get<&Lead::id>(); CHECK(x == 0x0102030405060708ull); }),
            error_of([&] { auto x = v.get<&Lead::a>(); CHECK(x == 11u); }),
            error_of([&] { auto x = v.get<&Lead::b>(); CHECK(x == 22u); }),
            error_of([&] { auto x = v.get<&Lead::d>(); CHECK(x == 2.5); }),
            error_of([&] { auto x = v.get<&Lead::px>().get<&Pixel::y>(); CHECK(x == 4u); }),
            error_of([&] { auto x = v.get<&Lead::trio>()[2]; CHECK(x == 7u); }),
            error_of([&] { auto x = v.get<&Lead::s>(); CHECK(x == "middle"); }),
            error_of([&] { auto x = v.get<&Lead::after>(); CHECK(x == 33u); }),
            error_of([&] { bool x = v.get<&Lead::flag>(); CHECK(x); }),
            error_of([&] { auto x = v.get<&Lead::last>(); CHECK(x == 44u); }),
        };
    };
    for (std::size_t len = 0; len <= ends[9]; ++len) {
        CAPTURE(len);
        std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(1 + len));
        netabase::View<Lead> v(std::span<const std::byte>(cut).subspan(1));
        auto got = fields(v);
        for (std::size_t f = 0; f < 10; ++f) {
            CAPTURE(f);
            CHECK(got[f] == (len >= ends[f] ? "<no exception>" : corrupt));
        }
        // The same fields again, now from the view's cached offsets, and in reverse order.
        netabase::View<Lead> w(std::span<const std::byte>(cut).subspan(1));
        CHECK(error_of([&] { (void)w.get<&Lead::last>(); }) == (len >= ends[9] ? "<no exception>" : corrupt));
        CHECK(fields(w) == got);
    }
    // A bad bool is found by reading it, and by walking past it to a later field.
    auto bad = good;
    bad[1 + ends[7]] = std::byte{2};
    netabase::View<Lead> v(std::span<const std::byte>(bad).subspan(1));
    CHECK(v.get<&Lead::after>() == 33u);
    CHECK(error_of([&] { (void)v.get<&Lead::last>(); }) == corrupt);
    CHECK(error_of([&] { (void)v.get<&Lead::flag>(); }) == corrupt);
}

// Guard::value() builds the row field by field (strings constructed in place): every field
// must come back equal, as through value_into() and the view.
TEST_CASE("view: value(), value_into() and to_owned() of a stored row equal what was put", "[view]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), netabase::options{.durability = netabase::durability::no_sync}};
    Lead lead{9, 1, 2, -0.5, Pixel{7, 8}, {1, 2, 3}, std::string(300, 'x'), 4, false, 5};
    store.write([&](auto& txn) { txn.template open_tree<Lead>().put(lead); });
    auto txn = store.begin_read();
    auto g = txn.open_tree<Lead>().get(9);
    REQUIRE(g.has_value());
    CHECK(g->value() == lead);
    Lead into{};
    g->value_into(into);
    CHECK(into == lead);
    CHECK(g->view().to_owned() == lead);
}

}  // namespace view_test
