// Models with every kind of field, for the JSON export/import and the netabase tool's tests.
#pragma once

#include <netabase/netabase.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace json_models {

enum class Color : std::uint8_t { red = 1, green = 2, blue = 200 };
enum Level : std::int16_t { low = -5, high = 300 };

struct Address {
    std::string street;
    std::uint32_t zip;
    std::optional<std::string> note;
};

struct Every {
    std::uint64_t id;
    bool flag;
    std::int8_t i8;
    std::uint16_t u16;
    std::int32_t i32;
    std::int64_t i64;
    float f32;
    double f64;
    Color color;
    Level level;
    std::string text;
    std::vector<std::string> tags;
    std::vector<std::uint8_t> blob;
    std::array<std::byte, 4> magic;
    std::array<std::int32_t, 3> triple;
    std::optional<std::uint32_t> maybe;
    std::pair<std::string, std::int32_t> pair;
    std::tuple<std::uint8_t, std::string, double> tuple;
    std::chrono::milliseconds ttl;
    std::chrono::system_clock::time_point at;
    Address home;
    std::vector<Address> others;
    std::optional<Address> work;
};

inline constexpr auto by_tag = netabase::keys<Every>("by_tag", [](const Every& e) { return e.tags; });
inline constexpr auto by_zip_text =
    netabase::key<Every>("by_zip_text", [](const Every& e) { return std::tuple{e.home.zip, e.text}; });

constexpr auto netabase_model(netabase::tag<Every>) {
    return netabase::model<Every>("every")
        .field_names("id", "flag", "i8", "u16", "i32", "i64", "f32", "f64", "color", "level", "text", "tags", "blob",
                     "magic", "triple", "maybe", "pair", "tuple", "ttl", "at", "home", "others", "work")
        .secondary_key(&Every::text, netabase::unique)
        .secondary_key(&Every::color)
        .secondary_key(&Every::maybe)
        .secondary_key(by_tag)
        .secondary_key(by_zip_text);
}

// No declaration at all: fields are f0, f1, ...
struct Plain {
    std::string name;
    std::int64_t score;
};

using Def = netabase::definition<Every, Plain>;

inline Every every(std::uint64_t i) {
    Every e{};
    e.id = i;
    e.flag = i % 2 == 0;
    e.i8 = static_cast<std::int8_t>(-static_cast<int>(i % 100));
    e.u16 = static_cast<std::uint16_t>(60000 + i);
    e.i32 = -static_cast<std::int32_t>(i * 1000);
    e.i64 = i % 3 == 0 ? INT64_MIN + static_cast<std::int64_t>(i) : INT64_MAX - static_cast<std::int64_t>(i);
    e.f32 = 1.5f * static_cast<float>(i);
    e.f64 = i == 3 ? -0.25 : 1e300 / static_cast<double>(i + 1);
    e.color = i % 3 == 0 ? Color::red : i % 3 == 1 ? Color::green : Color::blue;
    e.level = i % 2 ? low : high;
    e.text = "row \"" + std::to_string(i) + "\"\n\ttab\\ " + std::string(i % 2 ? "\xc3\xa9t\xc3\xa9" : "plain");
    e.tags = {"t" + std::to_string(i % 4), "common"};
    e.blob = {0x00, 0xff, static_cast<std::uint8_t>(i)};
    e.magic = {std::byte{0xde}, std::byte{0xad}, std::byte(i), std::byte{0x00}};
    e.triple = {static_cast<std::int32_t>(i), -1, 2147483647};
    if (i % 2) e.maybe = static_cast<std::uint32_t>(i * 7);
    e.pair = {"p" + std::to_string(i), -static_cast<std::int32_t>(i)};
    e.tuple = {static_cast<std::uint8_t>(i), "x", 0.5};
    e.ttl = std::chrono::milliseconds(1500 + i);
    e.at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000 + i));
    e.home = Address{"Main St " + std::to_string(i), static_cast<std::uint32_t>(10000 + i % 5), std::nullopt};
    if (i % 2) e.others.push_back(Address{"Side", 1, "back door"});
    if (i % 3 == 0) e.work = Address{"Office", 2, std::nullopt};
    return e;
}

inline bool same(const Every& a, const Every& b) {
    auto addr = [](const Address& x, const Address& y) {
        return x.street == y.street && x.zip == y.zip && x.note == y.note;
    };
    bool others = a.others.size() == b.others.size();
    for (std::size_t i = 0; others && i < a.others.size(); ++i) others = addr(a.others[i], b.others[i]);
    bool work = a.work.has_value() == b.work.has_value() && (!a.work || addr(*a.work, *b.work));
    return a.id == b.id && a.flag == b.flag && a.i8 == b.i8 && a.u16 == b.u16 && a.i32 == b.i32 && a.i64 == b.i64 &&
           a.f32 == b.f32 && a.f64 == b.f64 && a.color == b.color && a.level == b.level && a.text == b.text &&
           a.tags == b.tags && a.blob == b.blob && a.magic == b.magic && a.triple == b.triple && a.maybe == b.maybe &&
           a.pair == b.pair && a.tuple == b.tuple && a.ttl == b.ttl && a.at == b.at && addr(a.home, b.home) &&
           others && work;
}

}  // namespace json_models
