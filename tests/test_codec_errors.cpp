// Stored bytes that do not decode (codec.hpp), through the public decode() and through a Guard
// over a row damaged below the API (raw LMDB writes on the closed store's files): each kind of
// malformation is errc::corrupt_value saying what is wrong, a Guard's error names the table and
// the row's key (or says the key itself does not decode), and reading changes nothing on disk.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "errors.hpp"
#include "index_model.hpp"
#include "support.hpp"

#include <lmdb.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace codec_errors_test {

struct Cents {  // stored by a user codec
    std::int64_t v = 0;
};

}  // namespace codec_errors_test

template <>
struct netabase::codec<codec_errors_test::Cents> {
    static constexpr std::string_view name = "cents";
    static void encode(netabase::writer& w, const codec_errors_test::Cents& c) { w.write(c.v); }
    static codec_errors_test::Cents decode(netabase::reader& r) { return {r.read<std::int64_t>()}; }
};

namespace codec_errors_test {

namespace fs = std::filesystem;
using Bytes = std::vector<std::byte>;
using netabase_test::raw_env;
using netabase_test::raw_txn;

struct Inner {
    std::string a;
    std::optional<std::string> b;
};

// Strings before and after every kind of field, so that a row cut anywhere fails inside a field
// whose earlier siblings own memory.
struct Doc {
    std::uint64_t id;
    std::string title;
    std::vector<std::string> tags;
    Inner inner;
    bool flag;
    std::optional<std::uint32_t> n;
    std::vector<std::uint16_t> nums;
    std::string tail;
};

constexpr auto netabase_model(netabase::tag<Doc>) { return netabase::model<Doc>("docs").primary_key(&Doc::id); }

struct Priced {
    std::uint64_t id;
    Cents price;
    std::string note;
};

constexpr auto netabase_model(netabase::tag<Priced>) {
    return netabase::model<Priced>("priced").primary_key(&Priced::id);
}

using S = netabase::definition<Doc, Priced>;
using Store = netabase::Store<S>;

using netabase_test::error_of;

using netabase_test::has;

Bytes B(std::initializer_list<int> v) {
    Bytes out;
    for (int b : v) out.push_back(std::byte(b));
    return out;
}

template <class T>
void corrupt(const Bytes& bytes, const std::string& message) {
    INFO(message);
    auto e = error_of([&] { (void)netabase::decode<T>(bytes); });
    CHECK(e.code() == netabase::errc::corrupt_value);
    CHECK(e.description() == message);
}

Doc doc(std::uint64_t id) {
    return Doc{id, "title " + std::to_string(id), {"x", "yy"}, Inner{"aaa", "bbb"}, true, 9u, {1, 2, 3}, "tail"};
}

TEST_CASE("codec errors: each malformed byte pattern of each kind is corrupt_value saying what is wrong",
          "[codec][errors]") {
    // The version byte and the checksum.
    corrupt<std::uint32_t>({}, "corrupt value: an empty value has no encoding version");
    corrupt<std::uint32_t>(B({2, 0, 0, 0, 0}), "corrupt value: encoding version 2 is not one this build reads (1)");
    corrupt<std::uint32_t>(B({0x82, 0, 0, 0, 0}), "corrupt value: encoding version 2 is not one this build reads (1)");
    corrupt<std::uint32_t>(B({0x81, 0, 0, 0}), "corrupt value: a checksummed value is too short for its checksum");
    {
        netabase::detail::buffer b;
        netabase::detail::encode_row(b, std::uint32_t{7}, true);
        Bytes sealed(b.span().begin(), b.span().end());
        REQUIRE(sealed.size() == 1 + 4 + 4);
        CHECK(netabase::decode<std::uint32_t>(sealed) == 7);
        sealed[2] ^= std::byte{1};
        corrupt<std::uint32_t>(sealed, "corrupt value: checksum mismatch: the stored bytes changed since they were written");
        // The smallest checksummed value: no field, just the version and the CRC.
        netabase::detail::buffer empty;
        empty.push(std::byte{0x81});
        std::uint32_t crc = netabase::detail::crc32c(empty.data(), 1);
        Bytes five{std::byte{0x81}};
        for (int i = 0; i < 4; ++i) five.push_back(std::byte((crc >> (8 * i)) & 0xff));
        corrupt<std::uint32_t>(five, "corrupt value: a scalar needs 4 bytes, 0 left");
    }
    // Scalars cut short, bytes left over.
    corrupt<std::uint64_t>(B({1, 1, 2, 3}), "corrupt value: a scalar needs 8 bytes, 3 left");
    corrupt<std::uint16_t>(B({1, 1, 2, 3}), "corrupt value: 1 bytes left over after the last field");
    corrupt<double>(B({1, 0, 0}), "corrupt value: a scalar needs 8 bytes, 2 left");
    // bool and optional tags.
    corrupt<bool>(B({1, 2}), "corrupt value: a bool holds 2");
    corrupt<std::vector<bool>>(B({1, 2, 0, 0, 0, 1, 3}), "corrupt value: a bool holds 3");
    corrupt<std::optional<std::uint8_t>>(B({1, 2, 0}), "corrupt value: an optional's tag holds 2");
    corrupt<std::optional<std::uint8_t>>(B({1, 1}), "corrupt value: a scalar needs 1 bytes, 0 left");
    // Length prefixes over the bytes left, checked before anything is allocated.
    corrupt<std::string>(B({1, 5, 0, 0, 0, 'a'}), "corrupt value: a length prefix needs 5 bytes, 1 left");
    corrupt<std::string>(B({1, 0xff, 0xff, 0xff, 0xff}), "corrupt value: a length prefix needs 4294967295 bytes, 0 left");
    corrupt<std::vector<std::uint32_t>>(B({1, 2, 0, 0, 0, 1, 0, 0, 0}),
                                        "corrupt value: a length prefix needs 8 bytes, 4 left");
    corrupt<std::vector<std::string>>(B({1, 2, 0, 0, 0, 0, 0, 0, 0}),
                                      "corrupt value: a length prefix needs 8 bytes, 4 left");
    corrupt<std::string>(B({1, 1, 0, 0}), "corrupt value: a scalar needs 4 bytes, 3 left");
    // Elements and parts cut short.
    corrupt<std::array<std::uint16_t, 2>>(B({1, 1, 0, 2}), "corrupt value: a scalar needs 2 bytes, 1 left");
    corrupt<std::pair<std::uint8_t, std::string>>(B({1, 7, 1, 0, 0, 0}),
                                                  "corrupt value: a length prefix needs 1 bytes, 0 left");
    corrupt<std::tuple<bool, std::uint8_t>>(B({1, 1}), "corrupt value: a scalar needs 1 bytes, 0 left");
    corrupt<std::chrono::milliseconds>(B({1, 1, 2}), "corrupt value: a scalar needs 8 bytes, 2 left");
    corrupt<Inner>(B({1, 1, 0, 0, 0, 'a', 3}), "corrupt value: an optional's tag holds 3");
    // A user codec's own read past the end.
    corrupt<Cents>(B({1, 1, 2, 3, 4}), "corrupt value: a scalar needs 8 bytes, 4 left");
}

// ---- rows damaged below the API ------------------------------------------------------------------

std::string key_of(std::uint64_t id) {
    auto k = netabase::encode_key(id);
    return std::string(reinterpret_cast<const char*>(k.data()), k.size());
}

std::string encoded(const Doc& d) {
    auto v = netabase::encode(d);
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

void put_raw(const fs::path& dir, const std::string& db, const std::string& k, const std::string& v) {
    raw_env env(dir, false);
    raw_txn txn(env, false);
    MDB_dbi dbi = txn.open(db, false);
    MDB_val kv{k.size(), const_cast<char*>(k.data())}, vv{v.size(), const_cast<char*>(v.data())};
    raw_env::ok(::mdb_put(txn.get(), dbi, &kv, &vv, 0), "mdb_put");
    txn.commit();
}

std::string file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("codec errors: a row cut anywhere is corrupt_value from value(), value_into() and view(), naming table "
          "and key", "[codec][errors][guard]") {
    netabase_test::temp_dir dir;
    const std::string whole = encoded(doc(1));
    {
        Store store{dir.path()};
        store.write([](auto& txn) {
            auto t = txn.template open_tree<Doc>();
            t.put(doc(1));
        });
    }
    // Row 1000 + n holds the first n bytes of doc(1)'s encoding (n = 0: an empty value).
    {
        raw_env env(dir.path(), false);
        raw_txn txn(env, false);
        MDB_dbi dbi = txn.open("docs", false);
        for (std::size_t n = 0; n < whole.size(); ++n) {
            std::string k = key_of(1000 + n), v = whole.substr(0, n);
            MDB_val kv{k.size(), k.data()}, vv{v.size(), v.data()};
            raw_env::ok(::mdb_put(txn.get(), dbi, &kv, &vv, 0), "mdb_put");
        }
        txn.commit();
    }
    const std::string file_before = file_bytes(dir / "data.mdb");
    {
        Store store{dir.path(), netabase::options{.read_only = true}};
        auto txn = store.begin_read();
        auto t = txn.open_tree<Doc>();
        auto g = t.get(std::uint64_t{1});
        REQUIRE(g);
        CHECK(g->value().tail == "tail");
        for (std::size_t n = 0; n < whole.size(); ++n) {
            INFO("cut to " << n << " bytes");
            auto row = t.get(std::uint64_t{1000 + n});
            REQUIRE(row);
            auto e = error_of([&] { (void)row->value(); });
            CHECK(e.code() == netabase::errc::corrupt_value);
            CHECK(e.table() == "docs");
            CHECK(has(e.description(), "(table 'docs', key " + std::to_string(1000 + n) + ")"));
            Doc into = doc(2);
            auto e2 = error_of([&] { row->value_into(into); });
            CHECK(e2.code() == netabase::errc::corrupt_value);
            CHECK(e2.description() == e.description());
            if (n == 0) {  // view() checks the version byte; the fields are read when asked for
                auto e3 = error_of([&] { (void)row->view(); });
                CHECK(e3.code() == netabase::errc::corrupt_value);
                CHECK(e3.description() ==
                      "corrupt value: an empty value has no encoding version (table 'docs', key 1000)");
            }
        }
    }
    CHECK(file_bytes(dir / "data.mdb") == file_before);
}

TEST_CASE("codec errors: a row whose key bytes do not decode says so, and key() names the table",
          "[codec][errors][guard]") {
    netabase_test::temp_dir dir;
    {
        Store store{dir.path()};
        store.write([](auto& txn) { txn.template open_tree<Doc>().put(doc(1)); });
    }
    // A 3-byte key in a table of u64 keys, its value a bad version byte; and one whose value is good.
    put_raw(dir.path(), "docs", "abc", std::string("\x09", 1));
    put_raw(dir.path(), "docs", "abcd", encoded(doc(4)));
    Store store{dir.path()};
    auto txn = store.begin_read();
    auto t = txn.open_tree<Doc>();
    std::size_t seen = 0;
    for (const auto& g : t.all()) {
        if (g.key_bytes().size() == 8) continue;  // row 1
        ++seen;
        auto e = error_of([&] { (void)g.key(); });
        CHECK(e.code() == netabase::errc::corrupt_value);
        CHECK(e.table() == "docs");
        CHECK(has(e.description(), "(table 'docs')"));
        if (g.key_bytes().size() == 3) {
            auto v = error_of([&] { (void)g.value(); });
            CHECK(v.code() == netabase::errc::corrupt_value);
            CHECK(v.description() == "corrupt value: encoding version 9 is not one this build reads (1) (table 'docs', "
                                     "key <undecodable key of 3 bytes>)");
            auto w = error_of([&] { (void)g.view(); });
            CHECK(w.description() == v.description());
        } else {
            CHECK(g.value().title == "title 4");  // the value is fine; only the key is not
        }
    }
    CHECK(seen == 2);
}

TEST_CASE("codec errors: a view reads a field after a user codec's field by decoding the codec's bytes",
          "[codec][errors][view]") {
    auto store = Store::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Priced>();
        t.put(Priced{1, Cents{-250}, "note"});
    });
    auto txn = store.begin_read();
    auto t = txn.open_tree<Priced>();
    auto g = t.get(std::uint64_t{1});
    REQUIRE(g);
    auto v = g->view();
    CHECK(v.get<2>() == "note");
    CHECK(v.get<1>().v == -250);
}

}  // namespace codec_errors_test
