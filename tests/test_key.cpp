// Order-preserving key encoding: property tests over random pairs, golden bytes that pin the
// on-disk format, malformed input, and the order LMDB really gives to stored keys.
//
// The property, for every key type T and values a, b of T:
//   a < b   iff  encode_key(a) < encode_key(b)   (memcmp order, shorter first on a tie: LMDB's)
//   a == b  iff  encode_key(a) == encode_key(b)
//   decode_key<T>(encode_key(a)) == a
// plus: encodings of one type are prefix-free, malformed bytes throw errc::corrupt_value, and any
// bytes that do decode are the canonical encoding of what they decode to.
//
// Random values come from std::mt19937_64 with a fixed seed per type (printed with any failure);
// set NETABASE_KEY_SEED to another number to explore other streams.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iomanip>
#include <limits>
#include <optional>
#include <random>
#include <ranges>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace key_test {

using bytes = std::vector<std::byte>;

// ---------------------------------------------------------------------------------------------
// Helpers

constexpr std::uint64_t default_seed = 0x6b65795f74657374ull;  // "key_test"

// One stream per test subject, so adding a type does not shift the values every other type sees.
std::uint64_t seed_for(std::string_view subject) {
    std::uint64_t base = default_seed;
    if (const char* env = std::getenv("NETABASE_KEY_SEED")) base = std::strtoull(env, nullptr, 0);
    std::uint64_t h = 14695981039346656037ull ^ base;  // FNV-1a over the subject
    for (char c : subject) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    return h;
}

struct rng {
    std::mt19937_64 g;
    explicit rng(std::uint64_t seed) : g(seed) {}
    std::uint64_t bits() { return g(); }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(g() % n); }
    bool one_in(std::size_t n) { return below(n) == 0; }
};

// LMDB's default key order, as its mdb_cmp_memn computes it: memcmp (unsigned bytes) over the
// common length, then the shorter first. Equivalent to a lexicographical compare over unsigned
// bytes, which the tests below also cross-check.
bool key_less(const bytes& a, const bytes& b) {
    const std::size_t n = std::min(a.size(), b.size());
    const int c = n ? std::memcmp(a.data(), b.data(), n) : 0;
    return c < 0 || (c == 0 && a.size() < b.size());
}

bool key_less_lexicographic(const bytes& a, const bytes& b) {
    auto as_unsigned = [](std::byte x) { return std::to_integer<unsigned>(x); };
    return std::ranges::lexicographical_compare(a, b, std::less<>{}, as_unsigned, as_unsigned);
}

bool is_proper_prefix(const bytes& p, const bytes& of) {
    return p.size() < of.size() && std::equal(p.begin(), p.end(), of.begin());
}

std::string hex(std::span<const std::byte> b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (std::byte x : b) {
        if (!s.empty()) s += ' ';
        const unsigned v = std::to_integer<unsigned>(x);
        s += digits[v >> 4];
        s += digits[v & 15];
    }
    return s;
}

bytes from_hex(std::string_view h) {
    bytes out;
    unsigned cur = 0;
    int n = 0;
    for (char c : h) {
        if (c == ' ') continue;
        const unsigned d = c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>((c | 0x20) - 'a' + 10);
        cur = cur * 16 + d;
        if (++n == 2) {
            out.push_back(static_cast<std::byte>(cur));
            cur = 0;
            n = 0;
        }
    }
    return out;
}

template <class T>
std::string enc_hex(const T& v) {
    return hex(netabase::encode_key(v));
}

template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;

using netabase::detail::is_duration_v;
using netabase::detail::is_time_point_v;

template <class T>
concept tuple_like = requires { std::tuple_size<T>::value; };

// A readable rendering of a key value for failure messages (bytes escaped, floats exact).
template <class T>
std::string show(const T& v) {
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        std::string s = "\"";
        for (char c : std::string_view(v)) {
            const auto u = static_cast<unsigned char>(c);
            if (u >= 0x20 && u < 0x7f && c != '\\' && c != '"') {
                s += c;
            } else {
                s += "\\x";
                s += "0123456789abcdef"[u >> 4];
                s += "0123456789abcdef"[u & 15];
            }
        }
        return s + "\"";
    } else if constexpr (std::is_same_v<T, bool>) {
        return v ? "true" : "false";
    } else if constexpr (std::is_enum_v<T>) {
        return "enum " + show(static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_integral_v<T>) {
        if constexpr (std::is_signed_v<T>)
            return std::to_string(static_cast<long long>(v));
        else
            return std::to_string(static_cast<unsigned long long>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
        std::ostringstream os;
        os << std::setprecision(std::numeric_limits<T>::max_digits10) << v << " (" << std::hexfloat << v << ")";
        return os.str();
    } else if constexpr (is_optional_v<T>) {
        return v ? "optional " + show(*v) : std::string("nullopt");
    } else if constexpr (is_duration_v<T>) {
        return show(v.count()) + " ticks";
    } else if constexpr (is_time_point_v<T>) {
        return "epoch + " + show(v.time_since_epoch());
    } else if constexpr (std::ranges::range<T>) {
        std::string s = "[";
        for (const auto& e : v) {
            if (s.size() > 1) s += ", ";
            s += show(static_cast<const std::ranges::range_value_t<T>&>(e));
        }
        return s + "]";
    } else if constexpr (tuple_like<T>) {
        std::string s = "(";
        std::apply([&](const auto&... e) { ((s += (s.size() > 1 ? ", " : ""), s += show(e)), ...); }, v);
        return s + ")";
    } else {
        std::string s = "{";
        boost::pfr::for_each_field(v, [&](const auto& f) {
            if (s.size() > 1) s += ", ";
            s += show(f);
        });
        return s + "}";
    }
}

// Counts of the three outcomes over a run: a run that never produced equal or greater pairs
// would say little about the property.
struct outcomes {
    std::size_t less = 0, equal = 0, greater = 0;
};

struct same_value {  // the round-trip check, by default ==
    template <class T>
    bool operator()(const T& decoded, const T& original) const {
        return decoded == original;
    }
};

// Checks the round trip of one value; returns a description of what went wrong, or "".
template <class T, class Same>
std::string check_round_trip(const T& v, const bytes& enc, Same same) {
    try {
        const T back = netabase::decode_key<T>(enc);
        if (!same(back, v)) return "round trip of " + show(v) + " [" + hex(enc) + "] gave " + show(back);
    } catch (const std::exception& e) {
        return "decode_key of " + show(v) + " [" + hex(enc) + "] threw: " + e.what();
    }
    return {};
}

// Checks the property for one pair; returns a description of what went wrong, or "".
template <class T, class Less, class Eq, class Same>
std::string check_pair(const T& a, const T& b, Less less, Eq eq, Same same, outcomes& seen) {
    const bytes ea = netabase::encode_key(a);
    const bytes eb = netabase::encode_key(b);
    const bool lt = less(a, b), gt = less(b, a), equal = eq(a, b);
    const bool elt = key_less(ea, eb), egt = key_less(eb, ea), eequal = ea == eb;
    if (lt) ++seen.less;
    if (gt) ++seen.greater;
    if (equal) ++seen.equal;
    if (lt != elt || gt != egt || equal != eequal) {
        auto rel = [](bool l, bool g, bool e) {
            return std::string(l ? "<" : "") + (g ? ">" : "") + (e ? "==" : "") + (!l && !g && !e ? "unordered" : "");
        };
        return "a = " + show(a) + " [" + hex(ea) + "], b = " + show(b) + " [" + hex(eb) + "]: values " +
               rel(lt, gt, equal) + " but encodings " + rel(elt, egt, eequal);
    }
    // The round trip of a only: b is an a of another pair (pair_gen puts the tweaked value first
    // half of the time), and decoding is the dearer half under ASan.
    return check_round_trip(a, ea, same);
}

// Runs `pairs` pairs from gen(rng&) -> std::pair<T, T> through check_pair.
template <class T, class Gen, class Less = std::less<>, class Eq = std::equal_to<>, class Same = same_value>
void check_order_property(std::string_view subject, std::size_t pairs, Gen gen, Less less = {}, Eq eq = {},
                          Same same = {}) {
    const std::uint64_t seed = seed_for(subject);
    INFO("subject " << subject << ", mt19937_64 seed " << seed << " (derived from NETABASE_KEY_SEED, default "
                    << default_seed << ")");
    rng r(seed);
    outcomes seen;
    std::size_t failures = 0;
    std::string first;
    for (std::size_t i = 0; i < pairs; ++i) {
        const std::pair<T, T> p = gen(r);
        std::string f = check_pair<T>(p.first, p.second, less, eq, same, seen);
        if (!f.empty() && failures++ == 0) first = "pair #" + std::to_string(i) + ": " + f;
    }
    INFO("first failure: " << first);
    CHECK(failures == 0);
    INFO("outcomes: " << seen.less << " less, " << seen.equal << " equal, " << seen.greater << " greater");
    CHECK(seen.less > pairs / 10);
    CHECK(seen.greater > pairs / 10);
    CHECK(seen.equal > pairs / 100);
}

// Pairs where b is a, a near neighbour made by tweak(r, a), or an independent value.
template <class T, class Gen, class Tweak>
auto pair_gen(Gen gen, Tweak tweak) {
    return [gen, tweak](rng& r) -> std::pair<T, T> {
        T a = gen(r);
        switch (r.below(8)) {
            case 0: {
                T b = a;
                return {std::move(a), std::move(b)};
            }
            case 1:
            case 2:
            case 3: {
                T b = tweak(r, a);
                if (r.one_in(2)) return {std::move(b), std::move(a)};
                return {std::move(a), std::move(b)};
            }
            default: {
                T b = gen(r);
                return {std::move(a), std::move(b)};
            }
        }
    };
}

template <class T>
bool throws_corrupt(const bytes& b, std::string* why = nullptr) {
    try {
        T v = netabase::decode_key<T>(b);
        (void)v;
        if (why) *why = "decoded [" + hex(b) + "] without an error";
        return false;
    } catch (const netabase::error& e) {
        if (e.code() == netabase::errc::corrupt_value && std::string_view(e.what()).find("corrupt") != std::string_view::npos)
            return true;
        if (why) *why = "[" + hex(b) + "] threw netabase::error " + e.code().message() + ": " + e.what();
        return false;
    } catch (const std::exception& e) {
        if (why) *why = "[" + hex(b) + "] threw a non-netabase exception: " + e.what();
        return false;
    }
}

#define CHECK_CORRUPT(T, hexbytes)                                   \
    do {                                                             \
        std::string why_;                                            \
        const bool ok_ = throws_corrupt<T>(from_hex(hexbytes), &why_); \
        INFO(#T " from [" hexbytes "]: " << why_);                   \
        CHECK(ok_);                                                  \
    } while (false)

// ---------------------------------------------------------------------------------------------
// Generators

template <class T>
using uint_t = std::make_unsigned_t<T>;

template <class T>
T from_bits(std::uint64_t u) {  // modular, defined for every integer type in C++20
    return static_cast<T>(static_cast<uint_t<T>>(u));
}

template <class T>
std::uint64_t to_bits(T v) {
    return static_cast<std::uint64_t>(static_cast<uint_t<T>>(v));
}

template <class T>
T gen_int(rng& r) {
    using L = std::numeric_limits<T>;
    constexpr int width = static_cast<int>(sizeof(T) * 8);
    switch (r.below(10)) {
        case 0:
            return L::min();
        case 1:
            return L::max();
        case 2:
            return from_bits<T>(to_bits(L::min()) + r.below(3));
        case 3:
            return from_bits<T>(to_bits(L::max()) - r.below(3));
        case 4:
        case 5:
            return from_bits<T>(static_cast<std::uint64_t>(r.below(9)) - 4);  // -4..4 (wraps when unsigned)
        case 6:  // a power of two and its neighbours
            return from_bits<T>((std::uint64_t{1} << r.below(width)) + r.below(3) - 1);
        default:
            return from_bits<T>(r.bits());
    }
}

template <class T>
T int_neighbour(rng& r, const T& a) {
    switch (r.below(3)) {
        case 0:
            return from_bits<T>(to_bits(a) + 1);
        case 1:
            return from_bits<T>(to_bits(a) - 1);
        default:
            return from_bits<T>(to_bits(a) ^ (std::uint64_t{1} << r.below(sizeof(T) * 8)));
    }
}

template <class T>
auto int_pairs() {
    return pair_gen<T>([](rng& r) { return gen_int<T>(r); }, [](rng& r, const T& a) { return int_neighbour(r, a); });
}

template <class F>
using fbits_t = std::conditional_t<sizeof(F) == 4, std::uint32_t, std::uint64_t>;

template <class F>
F gen_float(rng& r) {
    using L = std::numeric_limits<F>;
    using U = fbits_t<F>;
    constexpr int mant = L::digits - 1;
    static const F specials[] = {F(0),          -F(0),           L::infinity(), -L::infinity(),
                                 L::denorm_min(), -L::denorm_min(), L::min(),      -L::min(),
                                 L::max(),       L::lowest(),     F(1),          F(-1),
                                 L::epsilon(),   F(0.5),          F(-0.5),       F(2)};
    for (;;) {
        F f{};
        switch (r.below(10)) {
            case 0:
                f = specials[r.below(std::size(specials))];
                break;
            case 1: {  // a denormal (or a zero), either sign
                U u = static_cast<U>(r.bits()) & ((U(1) << mant) - 1);
                if (r.one_in(2)) u |= U(U(1) << (sizeof(U) * 8 - 1));
                f = std::bit_cast<F>(u);
                break;
            }
            case 2:
                f = F(static_cast<int>(r.below(9)) - 4);
                break;
            case 3:
                f = std::nextafter(specials[r.below(std::size(specials))], r.one_in(2) ? L::infinity() : -L::infinity());
                break;
            default:
                f = std::bit_cast<F>(static_cast<U>(r.bits()));
                break;
        }
        if (!std::isnan(f)) return f;
    }
}

template <class F>
F float_neighbour(rng& r, const F& a) {
    using L = std::numeric_limits<F>;
    switch (r.below(3)) {
        case 0:
            if (a == F(0)) return -a;  // the other zero: equal, and must encode the same
            return std::nextafter(a, L::infinity());
        case 1:
            return std::nextafter(a, -L::infinity());
        default:
            return -a;
    }
}

// Round trip of a float: the same bits, except that -0.0 comes back as +0.0.
struct same_float {
    template <class F>
    bool operator()(const F& decoded, const F& original) const {
        using U = fbits_t<F>;
        const F expect = original == F(0) ? F(0) : original;
        return std::bit_cast<U>(decoded) == std::bit_cast<U>(expect);
    }
};

char gen_char(rng& r) {
    static constexpr unsigned char tricky[] = {0x00, 0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0xff, 'a', 'b'};
    if (r.one_in(2)) return static_cast<char>(tricky[r.below(std::size(tricky))]);
    return static_cast<char>(r.below(256));
}

std::string gen_string(rng& r, std::size_t max_len) {
    std::size_t n = r.one_in(32) ? r.below(300) : r.below(max_len + 1);
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += gen_char(r);
    return s;
}

// A string close to a: a prefix, an extension (often by a NUL), one byte changed or inserted.
std::string string_neighbour(rng& r, const std::string& a) {
    switch (r.below(6)) {
        case 0:
            return a.substr(0, r.below(a.size() + 1));
        case 1:
            return a + std::string(1, '\0');
        case 2:
            return a + gen_string(r, 3) + gen_char(r);
        case 3: {
            if (a.empty()) return std::string(1, gen_char(r));
            std::string b = a;
            b[r.below(b.size())] = gen_char(r);
            return b;
        }
        case 4: {
            std::string b = a;
            b.insert(b.begin() + static_cast<std::ptrdiff_t>(r.below(b.size() + 1)), gen_char(r));
            return b;
        }
        default: {
            if (a.empty()) return a;
            std::string b = a;
            b.pop_back();
            return b;
        }
    }
}

// Short strings over a tiny alphabet, so equal values and prefixes are common.
std::string gen_short_string(rng& r) {
    static constexpr char alphabet[] = {'\0', 'a', 'b', static_cast<char>(0xff), '\x01'};
    std::size_t n = r.below(4);
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += alphabet[r.below(std::size(alphabet))];
    return s;
}

template <class T, class Elem, class Tweak>
T vector_neighbour(rng& r, const T& a, Elem elem, Tweak tweak_elem) {
    T b = a;
    switch (r.below(4)) {
        case 0:  // a prefix
            b.resize(r.below(a.size() + 1));
            break;
        case 1:  // an extension
            b.push_back(elem(r));
            break;
        case 2:  // one element changed
            if (b.empty())
                b.push_back(elem(r));
            else {
                auto& e = b[r.below(b.size())];
                e = tweak_elem(r, e);
            }
            break;
        default:  // one element replaced
            if (!b.empty()) b[r.below(b.size())] = elem(r);
            break;
    }
    return b;
}

std::int32_t gen_small_int(rng& r) {
    static constexpr std::int32_t pool[] = {std::numeric_limits<std::int32_t>::min(), -256, -1, 0, 1, 2, 255,
                                            std::numeric_limits<std::int32_t>::max()};
    if (r.one_in(4)) return static_cast<std::int32_t>(r.bits());
    return pool[r.below(std::size(pool))];
}

// ---------------------------------------------------------------------------------------------
// Types

enum class SE8 : std::int8_t { lo = -128, minus = -1, zero = 0, hi = 127 };
enum class SE32 : std::int32_t { a = -5, b = 0, c = 5 };
enum class SE64 : std::int64_t {};
enum class UE8 : std::uint8_t { x = 0, y = 200 };
enum class UE16 : std::uint16_t {};
enum class UE64 : std::uint64_t {};
enum class Color : std::uint8_t { red, green, blue };

struct Inner {
    std::int32_t a;
    std::string b;
};

struct Outer {
    std::uint16_t id;
    Inner inner;
    std::optional<std::int64_t> opt;
    std::array<std::int8_t, 2> arr;
    Color color;
    bool flag;
    double d;
    std::vector<std::string> tags;
};

auto fields(const Outer& o) {
    return std::tie(o.id, o.inner.a, o.inner.b, o.opt, o.arr, o.color, o.flag, o.d, o.tags);
}

struct outer_less {
    bool operator()(const Outer& x, const Outer& y) const { return fields(x) < fields(y); }
};
struct outer_eq {
    bool operator()(const Outer& x, const Outer& y) const { return fields(x) == fields(y); }
};

using Tup = std::tuple<std::string, std::string, std::int64_t>;
using StrU32 = std::pair<std::string, std::uint32_t>;
using I16x3 = std::array<std::int16_t, 3>;

std::int64_t gen_small_i64(rng& r) {
    static constexpr std::int64_t pool[] = {std::numeric_limits<std::int64_t>::min(), -1, 0, 1,
                                            std::numeric_limits<std::int64_t>::max()};
    if (r.one_in(4)) return static_cast<std::int64_t>(r.bits());
    return pool[r.below(std::size(pool))];
}

Tup gen_tup(rng& r) { return {gen_short_string(r), gen_short_string(r), gen_small_i64(r)}; }

Tup tup_neighbour(rng& r, const Tup& a) {
    Tup b = a;
    auto& [s1, s2, n] = b;
    switch (r.below(5)) {
        case 0:  // move the boundary between the strings: what a naive concatenation would confuse
            if (!s1.empty()) {
                s2.insert(s2.begin(), s1.back());
                s1.pop_back();
            } else if (!s2.empty()) {
                s1.push_back(s2.front());
                s2.erase(s2.begin());
            }
            break;
        case 1:
            s1 = string_neighbour(r, s1);
            break;
        case 2:
            s2 = string_neighbour(r, s2);
            break;
        case 3:
            n = int_neighbour(r, n);
            break;
        default:
            s1 += '\0';
            break;
    }
    return b;
}

Outer gen_outer(rng& r) {
    Outer o{};
    o.id = static_cast<std::uint16_t>(r.below(3) == 0 ? r.bits() : r.below(3));
    o.inner.a = gen_small_int(r);
    o.inner.b = gen_short_string(r);
    if (!r.one_in(3)) o.opt = gen_small_i64(r);
    o.arr = {static_cast<std::int8_t>(static_cast<int>(r.below(3)) - 1), static_cast<std::int8_t>(r.bits())};
    o.color = static_cast<Color>(r.below(3));
    o.flag = r.one_in(2);
    o.d = r.one_in(2) ? double(static_cast<int>(r.below(3)) - 1) : gen_float<double>(r);
    for (std::size_t i = r.below(3); i > 0; --i) o.tags.push_back(gen_short_string(r));
    return o;
}

Outer outer_neighbour(rng& r, const Outer& a) {
    Outer b = a;
    switch (r.below(9)) {
        case 0:
            b.id = int_neighbour(r, b.id);
            break;
        case 1:
            b.inner.a = int_neighbour(r, b.inner.a);
            break;
        case 2:
            b.inner.b = string_neighbour(r, b.inner.b);
            break;
        case 3:
            if (b.opt)
                b.opt.reset();
            else
                b.opt = gen_small_i64(r);
            break;
        case 4:
            b.arr[r.below(2)] = static_cast<std::int8_t>(r.bits());
            break;
        case 5:
            b.color = static_cast<Color>(r.below(3));
            break;
        case 6:
            b.flag = !b.flag;
            break;
        case 7:
            b.d = float_neighbour(r, b.d);
            break;
        default:
            b.tags = vector_neighbour(r, b.tags, gen_short_string, [](rng& rr, const std::string& s) {
                return string_neighbour(rr, s);
            });
            break;
    }
    return b;
}

// Pairs per type. Each costs a few microseconds, but far more under the asan preset
// (detect_stack_use_after_return=1 puts every call's frame on the heap), and a broken encoding
// fails thousands of pairs out of these, so more buys little.
constexpr std::size_t pairs_per_type = 10000;
// For types that share a code path with one already covered by pairs_per_type (the character
// types, long long, enums, chrono wrappers): fewer pairs keep the suite fast under ASan.
constexpr std::size_t pairs_per_alias = 2000;
// Containers and composites cost more per pair (allocations under ASan).
constexpr std::size_t pairs_per_composite = 5000;

// ---------------------------------------------------------------------------------------------
// Integers

// Several types per TEST_CASE: ctest runs each TEST_CASE in a process of its own, and an ASan
// process costs more to start than a few thousand pairs cost to check. Every check names its type.

TEST_CASE("key order: unsigned integers, random pairs", "[key][property]") {
    check_order_property<std::uint8_t>("uint8_t", pairs_per_type, int_pairs<std::uint8_t>());
    check_order_property<std::uint16_t>("uint16_t", pairs_per_type, int_pairs<std::uint16_t>());
    check_order_property<std::uint32_t>("uint32_t", pairs_per_type, int_pairs<std::uint32_t>());
    check_order_property<std::uint64_t>("uint64_t", pairs_per_type, int_pairs<std::uint64_t>());
}

TEST_CASE("key order: signed integers, random pairs", "[key][property]") {
    check_order_property<std::int8_t>("int8_t", pairs_per_type, int_pairs<std::int8_t>());
    check_order_property<std::int16_t>("int16_t", pairs_per_type, int_pairs<std::int16_t>());
    check_order_property<std::int32_t>("int32_t", pairs_per_type, int_pairs<std::int32_t>());
    check_order_property<std::int64_t>("int64_t", pairs_per_type, int_pairs<std::int64_t>());
}

TEST_CASE("key order: character types and long long, random pairs", "[key][property]") {
    check_order_property<char>("char", pairs_per_alias, int_pairs<char>());
    check_order_property<signed char>("signed char", pairs_per_alias, int_pairs<signed char>());
    check_order_property<wchar_t>("wchar_t", pairs_per_alias, int_pairs<wchar_t>());
    check_order_property<char8_t>("char8_t", pairs_per_alias, int_pairs<char8_t>());
    check_order_property<char16_t>("char16_t", pairs_per_alias, int_pairs<char16_t>());
    check_order_property<char32_t>("char32_t", pairs_per_alias, int_pairs<char32_t>());
    check_order_property<long long>("long long", pairs_per_alias, int_pairs<long long>());
    check_order_property<unsigned long long>("unsigned long long", pairs_per_alias, int_pairs<unsigned long long>());
}

template <class T>
void check_consecutive(std::string_view subject) {
    using L = std::numeric_limits<T>;
    INFO("subject " << subject);
    // 8 bits: every value, in order. Wider: runs of consecutive values from the minimum, around
    // zero and up to the maximum, and a strided walk across the whole range.
    struct run {
        std::uint64_t start, count, step;  // start: the first value's bits
    };
    std::vector<run> runs;
    if constexpr (sizeof(T) == 1) {
        runs.push_back({to_bits(L::min()), 256, 1});
    } else {
        runs.push_back({to_bits(L::min()), 600, 1});
        runs.push_back({std::is_signed_v<T> ? to_bits(T(-300)) : 0, 600, 1});
        runs.push_back({to_bits(L::max()) - 599, 600, 1});
        // 2000 steps from the minimum to near the maximum, the step odd so every byte varies.
        const std::uint64_t span = sizeof(T) == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (sizeof(T) * 8)) - 1;
        const std::uint64_t step = span / 2000 - (span / 2000 % 2 == 0 ? 1 : 0);  // odd, and 2000 steps fit
        runs.push_back({to_bits(L::min()), 2000, step});
    }
    std::size_t failures = 0;
    std::string first;
    auto fail = [&](std::string f) {
        if (failures++ == 0) first = std::move(f);
    };
    for (auto [start, count, step] : runs) {
        bytes prev;
        T prev_v{};
        for (std::uint64_t i = 0; i < count; ++i) {
            const T v = from_bits<T>(start + i * step);
            bytes e = netabase::encode_key(v);
            if (e.size() != sizeof(T)) fail(show(v) + " encodes to " + std::to_string(e.size()) + " bytes");
            if (i > 0 && !(key_less(prev, e) && key_less_lexicographic(prev, e)))
                fail(show(prev_v) + " [" + hex(prev) + "] does not sort before " + show(v) + " [" + hex(e) + "]");
            if (auto f = check_round_trip(v, e, same_value{}); !f.empty()) fail(f);
            prev = std::move(e);
            prev_v = v;
        }
    }
    INFO(first);
    CHECK(failures == 0);
}

TEST_CASE("key order: integers, consecutive values encode in increasing order", "[key][property]") {
    check_consecutive<std::uint8_t>("uint8_t");
    check_consecutive<std::uint16_t>("uint16_t");
    check_consecutive<std::uint32_t>("uint32_t");
    check_consecutive<std::uint64_t>("uint64_t");
    check_consecutive<std::int8_t>("int8_t");
    check_consecutive<std::int16_t>("int16_t");
    check_consecutive<std::int32_t>("int32_t");
    check_consecutive<std::int64_t>("int64_t");
    check_consecutive<char>("char");
    check_consecutive<char8_t>("char8_t");
    check_consecutive<char16_t>("char16_t");
    check_consecutive<char32_t>("char32_t");
    check_consecutive<wchar_t>("wchar_t");
}

TEST_CASE("key order: 8-bit integers, every pair", "[key][property]") {
    auto all_pairs = [](auto tag) {
        using T = decltype(tag);
        std::vector<T> values;
        std::vector<bytes> enc;
        for (unsigned i = 0; i < 256; ++i) {
            values.push_back(from_bits<T>(i));
            enc.push_back(netabase::encode_key(values.back()));
        }
        std::size_t failures = 0;
        for (std::size_t i = 0; i < 256; ++i)
            for (std::size_t j = 0; j < 256; ++j)
                if ((values[i] < values[j]) != key_less(enc[i], enc[j]) ||
                    (values[i] < values[j]) != key_less_lexicographic(enc[i], enc[j]) ||
                    (values[i] == values[j]) != (enc[i] == enc[j]))
                    ++failures;
        return failures;
    };
    CHECK(all_pairs(std::int8_t{}) == 0);
    CHECK(all_pairs(std::uint8_t{}) == 0);
}

// ---------------------------------------------------------------------------------------------
// Floating point

TEMPLATE_TEST_CASE("key order: floating point, random pairs", "[key][property]", float, double) {
    using F = TestType;
    check_order_property<F>(sizeof(F) == 4 ? "float" : "double", pairs_per_type,
                            pair_gen<F>([](rng& r) { return gen_float<F>(r); },
                                        [](rng& r, const F& a) { return float_neighbour(r, a); }),
                            std::less<>{}, std::equal_to<>{}, same_float{});
}

TEMPLATE_TEST_CASE("key order: floating point edge values", "[key]", float, double) {
    using F = TestType;
    using L = std::numeric_limits<F>;
    using U = fbits_t<F>;

    SECTION("-0.0 and +0.0 are equal and encode the same; -0.0 decodes as +0.0") {
        const F neg = -F(0);
        REQUIRE(std::signbit(neg));
        CHECK(netabase::encode_key(neg) == netabase::encode_key(F(0)));
        const F back = netabase::decode_key<F>(netabase::encode_key(neg));
        CHECK(back == F(0));
        CHECK_FALSE(std::signbit(back));
        CHECK(key_less(netabase::encode_key(-L::denorm_min()), netabase::encode_key(neg)));
        CHECK(key_less(netabase::encode_key(F(0)), netabase::encode_key(L::denorm_min())));
    }

    SECTION("an ascending ladder of edge values encodes in ascending order and round-trips bitwise") {
        const std::vector<F> ladder = {-L::infinity(),
                                       L::lowest(),
                                       std::nextafter(L::lowest(), F(0)),
                                       F(-2),
                                       F(-1),
                                       std::nextafter(F(-1), F(0)),
                                       -L::min(),
                                       std::nextafter(-L::min(), F(0)),  // the largest-magnitude negative denormal
                                       -L::denorm_min() * 2,
                                       -L::denorm_min(),
                                       F(0),
                                       L::denorm_min(),
                                       L::denorm_min() * 2,
                                       std::nextafter(L::min(), F(0)),
                                       L::min(),
                                       L::epsilon(),
                                       std::nextafter(F(1), F(0)),
                                       F(1),
                                       std::nextafter(F(1), F(2)),
                                       F(2),
                                       std::nextafter(L::max(), F(0)),
                                       L::max(),
                                       L::infinity()};
        for (std::size_t i = 0; i < ladder.size(); ++i) {
            const bytes e = netabase::encode_key(ladder[i]);
            INFO("ladder[" << i << "] = " << show(ladder[i]) << " [" << hex(e) << "]");
            CHECK(e.size() == sizeof(F));
            CHECK(check_round_trip(ladder[i], e, same_float{}).empty());
            if (i > 0) CHECK(key_less(netabase::encode_key(ladder[i - 1]), e));
        }
    }

    SECTION("walking with nextafter through zero, the denormals and the top of the range") {
        const F starts[] = {-L::denorm_min() * 1500, std::nextafter(L::min(), F(0)) - L::denorm_min() * 1000,
                            -std::nextafter(L::min(), F(0)) - L::denorm_min() * 10, F(1) - L::epsilon() * 100,
                            std::nextafter(L::max(), F(0))};
        std::size_t failures = 0;
        std::string first;
        for (F start : starts) {
            F v = start;
            bytes prev = netabase::encode_key(v);
            for (int i = 0; i < 3000 && v != L::infinity(); ++i) {
                const F next = std::nextafter(v, L::infinity());
                const bytes e = netabase::encode_key(next);
                const bool ok = key_less(prev, e) && check_round_trip(next, e, same_float{}).empty();
                if (!ok && failures++ == 0) first = show(v) + " -> " + show(next) + " [" + hex(prev) + "] [" + hex(e) + "]";
                v = next;
                prev = e;
            }
        }
        INFO(first);
        CHECK(failures == 0);
    }

    SECTION("NaNs round-trip bitwise and sort outside the infinities") {
        constexpr int bitsn = static_cast<int>(sizeof(U) * 8);
        constexpr U sign = U(U(1) << (bitsn - 1));
        constexpr U exp_all = std::bit_cast<U>(L::infinity());
        constexpr U quiet = U(U(1) << (L::digits - 2));
        std::vector<U> nans = {exp_all | quiet,          exp_all | quiet | 1,        exp_all | 1,  // a signalling NaN
                               exp_all | U(~exp_all & ~sign), sign | exp_all | quiet, sign | exp_all | 1,
                               U(~U(0))};
        rng r(seed_for("nan payloads"));
        for (int i = 0; i < 200; ++i) {
            U payload = static_cast<U>(r.bits()) & U(~exp_all) & U(~sign);
            if (payload == 0) payload = 1;
            nans.push_back(exp_all | payload | (r.one_in(2) ? sign : U(0)));
        }
        const bytes pos_inf = netabase::encode_key(L::infinity());
        const bytes neg_inf = netabase::encode_key(-L::infinity());
        for (U bits : nans) {
            const F nan = std::bit_cast<F>(bits);
            REQUIRE(std::isnan(nan));
            const bytes e = netabase::encode_key(nan);
            INFO("NaN bits " << std::hex << static_cast<std::uint64_t>(bits) << " encode to [" << hex(e) << "]");
            CHECK(e.size() == sizeof(F));
            CHECK(std::bit_cast<U>(netabase::decode_key<F>(e)) == bits);
            if (bits & sign)
                CHECK(key_less(e, neg_inf));
            else
                CHECK(key_less(pos_inf, e));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// bool and enums

TEST_CASE("key order: bool", "[key][property]") {
    outcomes seen;
    for (bool a : {false, true})
        for (bool b : {false, true}) {
            INFO(a << " vs " << b);
            CHECK(check_pair(a, b, std::less<>{}, std::equal_to<>{}, same_value{}, seen).empty());
        }
    CHECK(enc_hex(false) == "00");
    CHECK(enc_hex(true) == "01");
}

template <class E>
void check_enum(std::string_view subject) {
    using U = std::underlying_type_t<E>;
    INFO("subject " << subject);
    check_order_property<E>(subject, pairs_per_alias,
                            pair_gen<E>([](rng& r) { return static_cast<E>(gen_int<U>(r)); },
                                        [](rng& r, const E& a) {
                                            return static_cast<E>(int_neighbour(r, static_cast<U>(a)));
                                        }));
    // An enum is stored as its underlying integer.
    rng r(seed_for("enum as underlying"));
    for (int i = 0; i < 100; ++i) {
        const U u = gen_int<U>(r);
        CHECK(netabase::encode_key(static_cast<E>(u)) == netabase::encode_key(u));
    }
}

TEST_CASE("key order: scoped enums with signed and unsigned underlying types, random pairs", "[key][property]") {
    check_enum<SE8>("enum class : int8_t");
    check_enum<SE32>("enum class : int32_t");
    check_enum<SE64>("enum class : int64_t");
    check_enum<UE8>("enum class : uint8_t");
    check_enum<UE16>("enum class : uint16_t");
    check_enum<UE64>("enum class : uint64_t");
}

// ---------------------------------------------------------------------------------------------
// Strings

TEST_CASE("key order: std::string, random pairs with NULs, 0xFF and prefixes", "[key][property]") {
    check_order_property<std::string>(
        "std::string", pairs_per_type,
        pair_gen<std::string>([](rng& r) { return gen_string(r, 12); },
                              [](rng& r, const std::string& a) { return string_neighbour(r, a); }));
}

TEST_CASE("key order: hand-picked strings sort as std::string does", "[key]") {
    using namespace std::string_literals;
    // Ascending by std::string's operator< (bytes compared as unsigned char, a prefix first).
    const std::vector<std::string> ascending = {""s,         "\0"s,        "\0\0"s,     "\0\x01"s,   "\x01"s,
                                                "a"s,        "a\0"s,       "a\0\0"s,    "a\0b"s,      "a\0\xff"s,
                                                "a\x01"s,    "aa"s,        "ab"s,       "a\xff"s,    "a\xff\0"s,
                                                "a\xff\xff"s, "b"s,        "\x7f"s,     "\x80"s,     "\xfe\xff"s,
                                                "\xff"s,     "\xff\0"s,    "\xff\xff"s, "\xff\xff\xff"s};
    for (std::size_t i = 1; i < ascending.size(); ++i) REQUIRE(ascending[i - 1] < ascending[i]);  // the list itself
    for (std::size_t i = 0; i < ascending.size(); ++i)
        for (std::size_t j = 0; j < ascending.size(); ++j) {
            outcomes seen;
            const std::string f = check_pair(ascending[i], ascending[j], std::less<>{}, std::equal_to<>{}, same_value{}, seen);
            INFO(f);
            CHECK(f.empty());
        }
}

TEST_CASE("key order: long strings beyond the inline buffer", "[key]") {
    rng r(seed_for("long strings"));
    std::string big;
    for (int i = 0; i < 5000; ++i) big += gen_char(r);
    const bytes e = netabase::encode_key(big);
    CHECK(e.size() == big.size() + static_cast<std::size_t>(std::ranges::count(big, '\0')) + 2);
    CHECK(check_round_trip(big, e, same_value{}).empty());
    const std::string shorter = big.substr(0, 4999);
    std::string changed = big;
    changed[4000] = static_cast<char>(static_cast<unsigned char>(changed[4000]) ^ 0x80);
    outcomes seen;
    CHECK(check_pair(shorter, big, std::less<>{}, std::equal_to<>{}, same_value{}, seen).empty());
    CHECK(check_pair(changed, big, std::less<>{}, std::equal_to<>{}, same_value{}, seen).empty());
    CHECK(check_pair(big + '\0', big, std::less<>{}, std::equal_to<>{}, same_value{}, seen).empty());
}

TEST_CASE("key encoding: string_view and const char* encode as std::string does", "[key]") {
    using namespace std::string_literals;
    CHECK(netabase::encode_key("abc") == netabase::encode_key("abc"s));
    CHECK(netabase::encode_key("") == netabase::encode_key(""s));
    const char* p = "hello";
    CHECK(netabase::encode_key(p) == netabase::encode_key("hello"s));
    char arr[] = "xy\xff";
    CHECK(netabase::encode_key(arr) == netabase::encode_key("xy\xff"s));
    // A C string ends at its first NUL.
    const char* with_nul = "ab\0cd";
    CHECK(netabase::encode_key(with_nul) == netabase::encode_key("ab"s));
    CHECK(netabase::encode_key(std::string_view("ab\0cd", 5)) == netabase::encode_key("ab\0cd"s));

    rng r(seed_for("string_view lookups"));
    std::size_t failures = 0;
    std::string first;
    for (int i = 0; i < 2000; ++i) {
        const std::string s = gen_string(r, 20);
        const bytes want = netabase::encode_key(s);
        const std::string_view sv = s;
        bool ok = netabase::encode_key(sv) == want;
        if (s.find('\0') == std::string::npos) ok = ok && netabase::encode_key(s.c_str()) == want;
        const std::string t = gen_short_string(r);
        const std::int64_t n = gen_small_i64(r);
        ok = ok && netabase::encode_key(std::tuple<std::string_view, std::string_view, std::int64_t>{sv, t, n}) ==
                       netabase::encode_key(Tup{s, t, n});
        ok = ok && netabase::encode_key(std::pair<std::string_view, std::uint32_t>{sv, 7u}) ==
                       netabase::encode_key(StrU32{s, 7u});
        if (!ok && failures++ == 0) first = show(s);
    }
    INFO("first mismatch: " << first);
    CHECK(failures == 0);
}

// ---------------------------------------------------------------------------------------------
// Containers and composites

TEST_CASE("key order: std::optional<int>, random pairs", "[key][property]") {
    using O = std::optional<int>;
    auto gen = [](rng& r) -> O {
        if (r.one_in(4)) return std::nullopt;
        return gen_small_int(r);
    };
    check_order_property<O>("optional<int>", pairs_per_composite,
                            pair_gen<O>(gen, [gen](rng& r, const O& a) -> O {
                                if (!a) return gen(r);
                                if (r.one_in(3)) return std::nullopt;
                                return int_neighbour(r, *a);
                            }));
}

TEST_CASE("key order: std::optional<std::string>, random pairs", "[key][property]") {
    using O = std::optional<std::string>;
    auto gen = [](rng& r) -> O {
        if (r.one_in(4)) return std::nullopt;
        return gen_short_string(r);
    };
    check_order_property<O>("optional<string>", pairs_per_alias,
                            pair_gen<O>(gen, [gen](rng& r, const O& a) -> O {
                                if (!a) return gen(r);
                                if (r.one_in(3)) return std::nullopt;
                                return string_neighbour(r, *a);
                            }));
}

TEST_CASE("key order: std::vector<int>, random pairs", "[key][property]") {
    using V = std::vector<int>;
    auto gen = [](rng& r) {
        V v;
        for (std::size_t n = r.below(5); n > 0; --n) v.push_back(gen_small_int(r));
        return v;
    };
    check_order_property<V>("vector<int>", pairs_per_composite,
                            pair_gen<V>(gen, [](rng& r, const V& a) {
                                return vector_neighbour(r, a, gen_small_int,
                                                        [](rng& rr, const int& e) { return int_neighbour(rr, e); });
                            }));
}

TEST_CASE("key order: std::vector<std::string>, random pairs", "[key][property]") {
    using V = std::vector<std::string>;
    auto gen = [](rng& r) {
        V v;
        for (std::size_t n = r.below(4); n > 0; --n) v.push_back(gen_short_string(r));
        return v;
    };
    check_order_property<V>("vector<string>", pairs_per_composite,
                            pair_gen<V>(gen, [](rng& r, const V& a) {
                                return vector_neighbour(r, a, gen_short_string, [](rng& rr, const std::string& e) {
                                    return string_neighbour(rr, e);
                                });
                            }));
}

TEST_CASE("key order: std::array<int16_t, 3>, random pairs", "[key][property]") {
    using A = std::array<std::int16_t, 3>;
    auto elem = [](rng& r) -> std::int16_t {
        static constexpr std::int16_t pool[] = {std::numeric_limits<std::int16_t>::min(), -1, 0, 1,
                                                std::numeric_limits<std::int16_t>::max()};
        if (r.one_in(3)) return static_cast<std::int16_t>(r.bits());
        return pool[r.below(std::size(pool))];
    };
    check_order_property<A>("array<int16_t,3>", pairs_per_composite,
                            pair_gen<A>([elem](rng& r) { return A{elem(r), elem(r), elem(r)}; },
                                        [elem](rng& r, const A& a) {
                                            A b = a;
                                            auto& e = b[r.below(3)];
                                            e = r.one_in(2) ? elem(r) : int_neighbour(r, e);
                                            return b;
                                        }));
}

TEST_CASE("key order: std::pair<std::string, uint32_t>, random pairs", "[key][property]") {
    auto num = [](rng& r) -> std::uint32_t {
        static constexpr std::uint32_t pool[] = {0, 1, 2, 0xff, 0x100, 0xffffffffu};
        if (r.one_in(3)) return static_cast<std::uint32_t>(r.bits());
        return pool[r.below(std::size(pool))];
    };
    check_order_property<StrU32>(
        "pair<string,uint32_t>", pairs_per_composite,
        pair_gen<StrU32>([num](rng& r) { return StrU32{gen_short_string(r), num(r)}; },
                         [](rng& r, const StrU32& a) {
                             StrU32 b = a;
                             if (r.one_in(2))
                                 b.first = string_neighbour(r, b.first);
                             else
                                 b.second = int_neighbour(r, b.second);
                             return b;
                         }));
}

TEST_CASE("key order: std::tuple<std::string, std::string, int64_t>, random pairs", "[key][property]") {
    check_order_property<Tup>("tuple<string,string,int64_t>", pairs_per_type, pair_gen<Tup>(gen_tup, tup_neighbour));
}

TEST_CASE("key order: tuples whose string boundary moves", "[key]") {
    using namespace std::string_literals;
    // Pairs that a plain concatenation of the fields (or a NUL terminator without escaping)
    // would get wrong. Each is (smaller, larger) by std::tuple's operator<.
    const std::vector<std::pair<Tup, Tup>> cases = {
        {Tup{"a", "\0b"s, 0}, Tup{"a\0"s, "b", 0}},
        {Tup{"a", "b", 0}, Tup{"a\0"s, "", 0}},
        {Tup{"", "\xff\xff", 5}, Tup{"\0"s, "", 0}},
        {Tup{"ab", "", 9}, Tup{"ab\0"s, "", -9}},
        {Tup{"a\0"s, "\xff", 0}, Tup{"a\0\0"s, "", 0}},
        {Tup{"x", "", std::numeric_limits<std::int64_t>::max()}, Tup{"x", "\0"s, std::numeric_limits<std::int64_t>::min()}},
        {Tup{"x", "y", -1}, Tup{"x", "y", 0}},
    };
    for (const auto& [lo, hi] : cases) {
        REQUIRE(lo < hi);
        outcomes seen;
        const std::string f = check_pair(lo, hi, std::less<>{}, std::equal_to<>{}, same_value{}, seen) +
                              check_round_trip(hi, netabase::encode_key(hi), same_value{});
        INFO(f);
        CHECK(f.empty());
    }
}

TEST_CASE("key order: nested aggregate of key types, compared as a tuple of its fields", "[key][property]") {
    check_order_property<Outer>("aggregate Outer", pairs_per_composite / 2, pair_gen<Outer>(gen_outer, outer_neighbour),
                                outer_less{}, outer_eq{}, outer_eq{});
}

TEST_CASE("key encoding: an aggregate encodes as the tuple of its fields", "[key]") {
    rng r(seed_for("aggregate as tuple"));
    for (int i = 0; i < 200; ++i) {
        const Outer o = gen_outer(r);
        INFO(show(o));
        CHECK(netabase::encode_key(o) == netabase::encode_key(std::tuple{o.id, std::tuple{o.inner.a, o.inner.b}, o.opt,
                                                                          o.arr, o.color, o.flag, o.d, o.tags}));
    }
}

// ---------------------------------------------------------------------------------------------
// Durations and time points

template <class T>
void check_chrono(std::string_view subject) {
    INFO("subject " << subject);
    auto make = [](auto count) {
        if constexpr (is_duration_v<T>)
            return T{count};
        else
            return T{typename T::duration{count}};
    };
    using Rep = typename T::rep;
    auto gen = [make](rng& r) {
        if constexpr (std::is_floating_point_v<Rep>)
            return make(gen_float<Rep>(r));
        else
            return make(gen_int<Rep>(r));
    };
    auto count_of = [](const T& v) {
        if constexpr (is_duration_v<T>)
            return v.count();
        else
            return v.time_since_epoch().count();
    };
    auto tweak = [make, count_of](rng& r, const T& a) {
        if constexpr (std::is_floating_point_v<Rep>)
            return make(float_neighbour(r, count_of(a)));
        else
            return make(int_neighbour(r, count_of(a)));
    };
    struct same_chrono {
        bool operator()(const T& decoded, const T& original) const {
            if constexpr (std::is_floating_point_v<Rep>) {
                auto c = [](const T& v) {
                    if constexpr (is_duration_v<T>)
                        return v.count();
                    else
                        return v.time_since_epoch().count();
                };
                return same_float{}(c(decoded), c(original));
            } else {
                return decoded == original;
            }
        }
    };
    check_order_property<T>(subject, pairs_per_alias, pair_gen<T>(gen, tweak),
                            std::less<>{}, std::equal_to<>{}, same_chrono{});
    // Stored as the count.
    rng r(seed_for("chrono as count"));
    for (int i = 0; i < 100; ++i) {
        const T v = gen(r);
        CHECK(netabase::encode_key(v) == netabase::encode_key(count_of(v)));
    }
}

TEST_CASE("key order: std::chrono durations and time points, random pairs", "[key][property]") {
    using namespace std::chrono;
    check_chrono<nanoseconds>("nanoseconds");
    check_chrono<seconds>("seconds");
    check_chrono<duration<std::int32_t, std::milli>>("duration<int32_t, milli>");
    check_chrono<duration<std::uint16_t>>("duration<uint16_t>");
    check_chrono<duration<double>>("duration<double>");
    check_chrono<system_clock::time_point>("system_clock::time_point");
    check_chrono<steady_clock::time_point>("steady_clock::time_point");
    check_chrono<sys_days>("sys_days");
    check_chrono<time_point<system_clock, duration<double>>>("time_point<system_clock, duration<double>>");
}

// ---------------------------------------------------------------------------------------------
// Prefix-freeness

// Sorts the encodings of many values; if one encoding were a proper prefix of another, it would
// also be a prefix of its immediate successor in sorted order, so adjacent pairs suffice.
template <class T, class Gen>
void check_prefix_free(std::string_view subject, std::size_t n, Gen gen) {
    const std::uint64_t seed = seed_for(subject);
    INFO("subject " << subject << ", seed " << seed);
    rng r(seed);
    std::vector<std::pair<bytes, T>> all;
    for (std::size_t i = 0; i < n; ++i) {
        T v = gen(r);
        all.emplace_back(netabase::encode_key(v), std::move(v));
    }
    std::ranges::sort(all, key_less, &std::pair<bytes, T>::first);
    std::size_t failures = 0, distinct = 0;
    std::string first;
    for (std::size_t i = 1; i < all.size(); ++i) {
        if (all[i - 1].first == all[i].first) continue;
        ++distinct;
        if (is_proper_prefix(all[i - 1].first, all[i].first) && failures++ == 0)
            first = show(all[i - 1].second) + " [" + hex(all[i - 1].first) + "] is a prefix of " + show(all[i].second) +
                    " [" + hex(all[i].first) + "]";
    }
    INFO(first);
    CHECK(failures == 0);
    CHECK(distinct >= 30);  // the generator gave many different values

    // Every proper prefix of an encoding, and the encoding with a byte appended, fail to decode.
    std::size_t decoded_bad = 0;
    std::string first_bad;
    for (std::size_t i = 0; i < all.size(); i += std::max<std::size_t>(1, all.size() / 25)) {
        const bytes& e = all[i].first;
        for (std::size_t len = 0; len < e.size(); ++len) {
            std::string why;
            if (!throws_corrupt<T>(bytes(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(len)), &why) &&
                decoded_bad++ == 0)
                first_bad = "prefix of " + show(all[i].second) + ": " + why;
        }
        for (std::byte extra : {std::byte{0}, std::byte{1}, std::byte{0xff}}) {
            bytes longer = e;
            longer.push_back(extra);
            std::string why;
            if (!throws_corrupt<T>(longer, &why) && decoded_bad++ == 0)
                first_bad = "trailing byte after " + show(all[i].second) + ": " + why;
        }
    }
    INFO(first_bad);
    CHECK(decoded_bad == 0);
}

TEST_CASE("key encoding: encodings of one type are prefix-free", "[key][property]") {
    SECTION("std::string") {
        check_prefix_free<std::string>("prefix-free string", 2000, [](rng& r) {
            // Short strings over {NUL, 'a', 0xFF}: nearly every value has its prefixes in the set.
            static constexpr char alphabet[] = {'\0', 'a', static_cast<char>(0xff)};
            std::string s;
            for (std::size_t n = r.below(6); n > 0; --n) s += alphabet[r.below(3)];
            return s;
        });
    }
    SECTION("tuple<string, string, int64_t>") {
        check_prefix_free<Tup>("prefix-free tuple", 2000, gen_tup);
    }
    SECTION("pair<string, uint32_t>") {
        check_prefix_free<StrU32>("prefix-free pair", 2000, [](rng& r) {
            return StrU32{gen_short_string(r), static_cast<std::uint32_t>(r.below(3))};
        });
    }
    SECTION("vector<string>") {
        check_prefix_free<std::vector<std::string>>("prefix-free vector<string>", 2000, [](rng& r) {
            std::vector<std::string> v;
            for (std::size_t n = r.below(4); n > 0; --n) v.push_back(gen_short_string(r));
            return v;
        });
    }
    SECTION("vector<int>") {
        check_prefix_free<std::vector<int>>("prefix-free vector<int>", 1000, [](rng& r) {
            std::vector<int> v;
            for (std::size_t n = r.below(4); n > 0; --n) v.push_back(static_cast<int>(r.below(3)) - 1);
            return v;
        });
    }
    SECTION("optional<string>") {
        check_prefix_free<std::optional<std::string>>("prefix-free optional<string>", 1000,
                                                      [](rng& r) -> std::optional<std::string> {
                                                          if (r.one_in(5)) return std::nullopt;
                                                          return gen_short_string(r);
                                                      });
    }
    SECTION("aggregate") {
        check_prefix_free<Outer>("prefix-free aggregate", 1000, gen_outer);
    }
}

// ---------------------------------------------------------------------------------------------
// Golden bytes: the on-disk format must not change.

TEST_CASE("key encoding: golden bytes", "[key][format]") {
    using namespace std::string_literals;
    // Unsigned: big-endian.
    CHECK(enc_hex(std::uint8_t{0xab}) == "ab");
    CHECK(enc_hex(std::uint16_t{0x0102}) == "01 02");
    CHECK(enc_hex(std::uint32_t{1}) == "00 00 00 01");
    CHECK(enc_hex(std::uint64_t{0x0102030405060708}) == "01 02 03 04 05 06 07 08");
    // Signed: big-endian, sign bit flipped.
    CHECK(enc_hex(std::int8_t{-1}) == "7f");
    CHECK(enc_hex(std::int8_t{0}) == "80");
    CHECK(enc_hex(std::numeric_limits<std::int8_t>::min()) == "00");
    CHECK(enc_hex(std::numeric_limits<std::int8_t>::max()) == "ff");
    CHECK(enc_hex(std::int16_t{-2}) == "7f fe");
    CHECK(enc_hex(std::int32_t{-1}) == "7f ff ff ff");
    CHECK(enc_hex(std::int32_t{1}) == "80 00 00 01");
    CHECK(enc_hex(std::numeric_limits<std::int64_t>::min()) == "00 00 00 00 00 00 00 00");
    CHECK(enc_hex(std::int64_t{0x0102030405060708}) == "81 02 03 04 05 06 07 08");
    CHECK(enc_hex(char16_t{0x1234}) == "12 34");
    // Floating point: sign bit set when positive, all bits flipped when negative.
    CHECK(enc_hex(1.0f) == "bf 80 00 00");
    CHECK(enc_hex(-2.0f) == "3f ff ff ff");
    CHECK(enc_hex(0.0f) == "80 00 00 00");
    CHECK(enc_hex(0.0) == "80 00 00 00 00 00 00 00");
    CHECK(enc_hex(-0.0) == "80 00 00 00 00 00 00 00");
    CHECK(enc_hex(1.0) == "bf f0 00 00 00 00 00 00");
    CHECK(enc_hex(-1.0) == "40 0f ff ff ff ff ff ff");
    CHECK(enc_hex(std::numeric_limits<double>::infinity()) == "ff f0 00 00 00 00 00 00");
    CHECK(enc_hex(-std::numeric_limits<double>::infinity()) == "00 0f ff ff ff ff ff ff");
    CHECK(enc_hex(std::numeric_limits<double>::denorm_min()) == "80 00 00 00 00 00 00 01");
    // bool and enums: as their integer.
    CHECK(enc_hex(true) == "01");
    CHECK(enc_hex(SE32::a) == "7f ff ff fb");
    CHECK(enc_hex(UE8::y) == "c8");
    // Strings: NUL escaped as 00 ff, closed by 00 00.
    CHECK(enc_hex(""s) == "00 00");
    CHECK(enc_hex("a"s) == "61 00 00");
    CHECK(enc_hex("a\0"s) == "61 00 ff 00 00");
    CHECK(enc_hex("\0"s) == "00 ff 00 00");
    CHECK(enc_hex("\xff"s) == "ff 00 00");
    CHECK(enc_hex("a\0b"s) == "61 00 ff 62 00 00");
    // Optional: 00 when empty, else 01 then the value.
    CHECK(enc_hex(std::optional<int>{}) == "00");
    CHECK(enc_hex(std::optional<int>{5}) == "01 80 00 00 05");
    CHECK(enc_hex(std::optional<std::string>{""}) == "01 00 00");
    // Vector: 01 before each element, closed by 00. Array: the elements.
    CHECK(enc_hex(std::vector<int>{}) == "00");
    CHECK(enc_hex(std::vector<int>{1, 2}) == "01 80 00 00 01 01 80 00 00 02 00");
    CHECK(enc_hex(std::vector<std::string>{"a", ""}) == "01 61 00 00 01 00 00 00");
    CHECK(enc_hex(std::array<std::int16_t, 3>{1, -1, 0}) == "80 01 7f ff 80 00");
    // Pair, tuple, aggregate: the parts in order.
    CHECK(enc_hex(StrU32{"ab", 7}) == "61 62 00 00 00 00 00 07");
    CHECK(enc_hex(Tup{"a", "", -1}) == "61 00 00 00 00 7f ff ff ff ff ff ff ff");
    CHECK(enc_hex(Inner{-1, "x\0"s}) == "7f ff ff ff 78 00 ff 00 00");
    // Durations and time points: the count.
    CHECK(enc_hex(std::chrono::seconds{1}) == "80 00 00 00 00 00 00 01");
    CHECK(enc_hex(std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>{std::chrono::seconds{-1}}) ==
          "7f ff ff ff ff ff ff ff");

    // And the same bytes decode back.
    CHECK(netabase::decode_key<std::uint32_t>(from_hex("00 00 00 01")) == 1u);
    CHECK(netabase::decode_key<std::int8_t>(from_hex("7f")) == -1);
    CHECK(netabase::decode_key<std::string>(from_hex("61 00 ff 00 00")) == "a\0"s);
    CHECK(netabase::decode_key<std::optional<int>>(from_hex("00")) == std::nullopt);
    CHECK(netabase::decode_key<Tup>(from_hex("61 00 00 00 00 7f ff ff ff ff ff ff ff")) == Tup{"a", "", -1});
    CHECK(netabase::decode_key<double>(from_hex("40 0f ff ff ff ff ff ff")) == -1.0);
}

// ---------------------------------------------------------------------------------------------
// Malformed input

TEST_CASE("key decoding: malformed bytes throw corrupt_value", "[key]") {
    SECTION("truncated integers and floats") {
        CHECK_CORRUPT(std::uint32_t, "");
        CHECK_CORRUPT(std::uint32_t, "00 00 01");
        CHECK_CORRUPT(std::int64_t, "80 00 00 00 00 00 00");
        CHECK_CORRUPT(std::uint16_t, "01");
        CHECK_CORRUPT(std::uint8_t, "");
        CHECK_CORRUPT(double, "bf f0 00 00");
        CHECK_CORRUPT(float, "bf 80 00");
        CHECK_CORRUPT(SE32, "7f ff");
        CHECK_CORRUPT(std::chrono::seconds, "80 00 00");
    }
    SECTION("trailing bytes") {
        CHECK_CORRUPT(std::uint32_t, "00 00 00 01 00");
        CHECK_CORRUPT(std::int8_t, "7f 7f");
        CHECK_CORRUPT(bool, "01 00");
        CHECK_CORRUPT(std::string, "61 00 00 62");
        CHECK_CORRUPT(std::string, "00 00 00");
        CHECK_CORRUPT(std::optional<int>, "00 00");
        CHECK_CORRUPT(std::vector<int>, "00 00");
        CHECK_CORRUPT(Tup, "61 00 00 00 00 7f ff ff ff ff ff ff ff 00");
    }
    SECTION("bad string escapes and missing terminators") {
        CHECK_CORRUPT(std::string, "");
        CHECK_CORRUPT(std::string, "61");
        CHECK_CORRUPT(std::string, "61 00");
        CHECK_CORRUPT(std::string, "61 00 01");
        CHECK_CORRUPT(std::string, "61 00 fe 00 00");
        CHECK_CORRUPT(std::string, "00 01 00 00");
        CHECK_CORRUPT(std::string, "61 00 ff");
        CHECK_CORRUPT(Tup, "61 00 00 62 00 01 00 00 00 00 00 00 00 00");
        CHECK_CORRUPT(StrU32, "61 62 00 00 00 07");
    }
    SECTION("bool bytes other than 0 and 1") {
        CHECK_CORRUPT(bool, "02");
        CHECK_CORRUPT(bool, "ff");
        CHECK_CORRUPT(bool, "");
    }
    SECTION("bad optional tags and vector markers") {
        CHECK_CORRUPT(std::optional<int>, "02 80 00 00 05");
        CHECK_CORRUPT(std::optional<int>, "ff");
        CHECK_CORRUPT(std::optional<int>, "01");
        CHECK_CORRUPT(std::optional<int>, "01 80 00");
        CHECK_CORRUPT(std::optional<int>, "");
        CHECK_CORRUPT(std::vector<int>, "02 80 00 00 01 00");
        CHECK_CORRUPT(std::vector<int>, "01 80 00 00 01");
        CHECK_CORRUPT(std::vector<int>, "");
        CHECK_CORRUPT(std::vector<std::string>, "01 61 00 00 02");
    }
    SECTION("truncated composites") {
        CHECK_CORRUPT(I16x3, "80 01 7f ff 80");
        CHECK_CORRUPT(Tup, "61 00 00 00 00 7f ff ff ff ff ff ff");
        CHECK_CORRUPT(Inner, "7f ff ff ff 78 00 ff 00");
    }
    SECTION("the thrown error is a netabase::error") {
        REQUIRE_THROWS_AS(netabase::decode_key<bool>(from_hex("02")), netabase::error);
        REQUIRE_THROWS_AS(netabase::decode_key<std::uint32_t>(from_hex("00 00 01")), netabase::error);
    }
}

// Garbage and near-misses: decoding either fails with corrupt_value or gives a value that encodes
// back to exactly the same bytes (encodings are canonical), never anything else. Half the inputs
// are random bytes, half a valid encoding with one byte changed, inserted or removed (or none).
TEST_CASE("key decoding: random bytes decode canonically or throw corrupt_value", "[key][property]") {
    rng r(seed_for("random garbage"));
    static constexpr unsigned char pool[] = {0x00, 0x00, 0x01, 0xff, 0x61, 0x80, 0x7f};
    auto some_byte = [&r] {
        return std::byte{r.one_in(2) ? pool[r.below(std::size(pool))] : static_cast<unsigned char>(r.bits())};
    };
    auto run = [&](std::string_view subject, auto gen) {
        using T = decltype(gen(r));
        std::size_t bad = 0, decoded = 0;
        std::string first;
        for (int i = 0; i < 400; ++i) {
            bytes b;
            if (i % 2 == 0) {
                b.resize(r.below(12));
                for (auto& x : b) x = some_byte();
            } else {
                b = netabase::encode_key(gen(r));
                const auto at = static_cast<std::ptrdiff_t>(r.below(b.size() + 1));
                switch (r.below(4)) {
                    case 0:
                        if (at < static_cast<std::ptrdiff_t>(b.size())) b[static_cast<std::size_t>(at)] = some_byte();
                        break;
                    case 1:
                        b.insert(b.begin() + at, some_byte());
                        break;
                    case 2:
                        if (at < static_cast<std::ptrdiff_t>(b.size())) b.erase(b.begin() + at);
                        break;
                    default:
                        break;
                }
            }
            try {
                const T v = netabase::decode_key<T>(b);
                ++decoded;
                if (netabase::encode_key(v) != b && bad++ == 0)
                    first = "[" + hex(b) + "] decoded to " + show(v) + " which encodes to [" + enc_hex(v) + "]";
            } catch (const netabase::error& e) {
                if (e.code() != netabase::errc::corrupt_value && bad++ == 0)
                    first = "[" + hex(b) + "] threw " + e.what();
            } catch (const std::exception& e) {
                if (bad++ == 0) first = "[" + hex(b) + "] threw a non-netabase exception " + e.what();
            }
        }
        INFO(subject << ": " << first);
        CHECK(bad == 0);
        CHECK(decoded > 20);
    };
    run("string", gen_short_string);
    run("optional<int16_t>", [](rng& g) -> std::optional<std::int16_t> {
        if (g.one_in(3)) return std::nullopt;
        return static_cast<std::int16_t>(g.bits());
    });
    run("vector<int8_t>", [](rng& g) {
        std::vector<std::int8_t> v(g.below(4));
        for (auto& e : v) e = static_cast<std::int8_t>(g.bits());
        return v;
    });
    run("pair<string,bool>", [](rng& g) { return std::pair<std::string, bool>{gen_short_string(g), g.one_in(2)}; });
    run("vector<string>", [](rng& g) {
        std::vector<std::string> v(g.below(4));
        for (auto& e : v) e = gen_short_string(g);
        return v;
    });
    run("tuple<string,string,int64_t>", gen_tup);
    run("aggregate", gen_outer);
}

// ---------------------------------------------------------------------------------------------
// In a real store: LMDB iterates primary keys in the order of operator<.

struct TupleRow {
    Tup k;
    std::uint32_t n;
};
struct DoubleRow {
    double k;
    std::uint32_t n;
};
struct Int32Row {
    std::int32_t k;
    std::uint32_t n;
};
struct StringRow {
    std::string k;
    std::uint32_t n;
};

using OrderSchema = netabase::definition<TupleRow, DoubleRow, Int32Row, StringRow>;

template <class Row, class Gen>
void check_store_order(netabase::Store<OrderSchema>& store, std::string_view subject, Gen gen) {
    using K = decltype(Row{}.k);
    rng r(seed_for(subject));
    INFO("subject " << subject);
    std::vector<K> keys;
    for (int i = 0; i < 400; ++i) keys.push_back(gen(r));
    store.write([&](netabase::WriteTransaction<OrderSchema>& txn) {
        auto tree = txn.open_tree<Row>();
        std::uint32_t n = 0;
        for (const K& k : keys) tree.put(Row{k, n++});
    });
    std::vector<K> expect = keys;
    std::ranges::sort(expect);
    expect.erase(std::unique(expect.begin(), expect.end()), expect.end());  // == keys collapse, -0.0 with +0.0 too

    store.read([&](netabase::ReadTransaction<OrderSchema>& txn) {
        auto tree = txn.open_tree<Row>();
        CHECK(tree.size() == expect.size());
        std::size_t i = 0, mismatches = 0, bad_bytes = 0;
        std::string first;
        for (const auto& row : tree) {
            const K k = row.key();
            if ((i >= expect.size() || !(k == expect[i])) && mismatches++ == 0)
                first = "row " + std::to_string(i) + " has key " + show(k) +
                        (i < expect.size() ? ", expected " + show(expect[i]) : std::string(", past the end"));
            const bytes kb(row.key_bytes().begin(), row.key_bytes().end());
            if (kb != netabase::encode_key(k)) ++bad_bytes;
            ++i;
        }
        INFO(first);
        CHECK(i == expect.size());
        CHECK(mismatches == 0);
        CHECK(bad_bytes == 0);

        // Every key is found again by lookup, string keys also through string_view and const char*.
        std::size_t missing = 0;
        for (const K& k : keys) {
            if (!tree.contains(k)) ++missing;
            if constexpr (std::is_same_v<K, std::string>) {
                if (!tree.contains(std::string_view(k))) ++missing;
                if (k.find('\0') == std::string::npos && !tree.contains(k.c_str())) ++missing;
            }
        }
        CHECK(missing == 0);
    });
}

TEST_CASE("key order: a real store iterates keys in operator< order", "[key][store]") {
    netabase_test::temp_dir dir;
    netabase::Store<OrderSchema> store{dir.path(), netabase::options{.durability = netabase::durability::no_sync}};
    check_store_order<TupleRow>(store, "store tuple", gen_tup);
    check_store_order<DoubleRow>(store, "store double", [](rng& r) { return gen_float<double>(r); });
    check_store_order<Int32Row>(store, "store int32", [](rng& r) { return gen_int<std::int32_t>(r); });
    check_store_order<StringRow>(store, "store string", [](rng& r) {
        std::string s;  // short enough for any LMDB key
        for (std::size_t n = r.below(11); n > 0; --n) s += gen_char(r);
        return s;
    });
}

// detail::compare is the order range scans check their bounds with: it must be LMDB's order
// (bytes, then length) for every length, including the 4- and 8-byte keys it compares as
// integers.
TEST_CASE("key: detail::compare is lexicographic byte order at every length", "[key]") {
    std::mt19937_64 rng(12345);
    auto random_bytes = [&](std::size_t n) {
        bytes v(n);
        for (auto& b : v) b = std::byte(static_cast<unsigned char>(rng() % 4 == 0 ? 0xff : rng() & 0x3));
        return v;
    };
    auto sign = [](int c) { return c < 0 ? -1 : (c > 0 ? 1 : 0); };
    for (int i = 0; i < 20000; ++i) {
        std::size_t na = rng() % 10, nb = rng() % 3 == 0 ? na : rng() % 10;
        auto a = random_bytes(na), b = random_bytes(nb);
        if (rng() % 4 == 0) b = a;  // equal keys too
        int want = std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()) ? -1
                   : std::lexicographical_compare(b.begin(), b.end(), a.begin(), a.end()) ? 1
                                                                                        : 0;
        CAPTURE(na, nb);
        REQUIRE(sign(netabase::detail::compare(a, b)) == want);
    }
}

}  // namespace key_test
