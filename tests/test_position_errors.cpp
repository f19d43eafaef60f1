// Malformed netabase::position bytes, one test per check of position.hpp's reader: each way bytes
// can fail to be a position gives errc::invalid_argument whose message says which check failed
// and names the table and index the bytes claim as far as they could be read; a well-formed
// position of the wrong kind or with an over-long key is refused by the scan it is handed to,
// naming that scan's table and index. Positions are built byte by byte here from the layout
// position.hpp documents, so each check sees exactly the bytes it must refuse.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "errors.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace position_errors_test {

struct Row {
    std::uint64_t id;
    std::string email;    // 1: unique
    std::uint32_t group;  // 2: non-unique
};

constexpr auto netabase_model(netabase::tag<Row>) {
    return netabase::model<Row>("rows")
        .primary_key(&Row::id)
        .secondary_key(&Row::email, netabase::unique)
        .secondary_key(&Row::group);
}

using S = netabase::definition<Row>;
using Bytes = std::vector<std::byte>;

using netabase_test::error_of;

using netabase_test::has;

// The layout: u8 format | u8 kind | u16 n, table | u16 n, index | u16 n, key | [u16 n, pk] | u32 crc.
struct layout {
    std::uint8_t format = 1, kind = 0;
    std::string table = "rows", index;
    Bytes key{std::byte{1}}, pk;
    bool with_pk = false;

    Bytes body() const {
        Bytes b{std::byte{format}, std::byte{kind}};
        auto part = [&](const void* p, std::size_t n) {
            b.push_back(std::byte(n >> 8));
            b.push_back(std::byte(n & 0xff));
            auto* s = static_cast<const std::byte*>(p);
            b.insert(b.end(), s, s + n);
        };
        part(table.data(), table.size());
        part(index.data(), index.size());
        part(key.data(), key.size());
        if (with_pk) part(pk.data(), pk.size());
        return b;
    }
    Bytes bytes() const { return sealed(body()); }
    static Bytes sealed(Bytes b) {
        std::uint32_t crc = netabase::detail::crc32c(b.data(), b.size());
        for (int shift = 24; shift >= 0; shift -= 8) b.push_back(std::byte((crc >> shift) & 0xff));
        return b;
    }
};

Bytes u64_key(std::uint64_t v) { return netabase::encode_key(v); }

// from_bytes(b) must fail with exactly this reason, naming this table and index.
void refused(const Bytes& b, const std::string& why, const std::string& table = "", const std::string& index = "") {
    auto e = error_of([&] { (void)netabase::position::from_bytes(b); });
    CHECK(e.code() == netabase::errc::invalid_argument);
    std::string want = "malformed netabase::position (" + std::to_string(b.size()) + " bytes): " + why;
    if (!table.empty())
        want += "; it names " + (index.empty() ? "the primary key of table '" + table + "'"
                                               : "index '" + index + "' of table '" + table + "'");
    CHECK(e.description() == want);
    CHECK(e.table() == table);
    CHECK(e.index() == index);
}

TEST_CASE("position errors: each malformation of the bytes is refused with its reason and the names it read",
          "[pagination][position][errors]") {
    layout ok;
    ok.key = u64_key(5);
    REQUIRE_NOTHROW(netabase::position::from_bytes(ok.bytes()));

    refused({}, "it is empty");
    refused({std::byte{2}}, "its format byte is not one this netabase writes");
    refused({std::byte{0}, std::byte{0}}, "its format byte is not one this netabase writes");
    refused({std::byte{1}}, "its kind byte is unknown");
    refused({std::byte{1}, std::byte{3}}, "its kind byte is unknown");
    refused({std::byte{1}, std::byte{0xff}, std::byte{0}, std::byte{1}}, "its kind byte is unknown");
    // The table name: its length cut, its bytes cut, or empty.
    refused({std::byte{1}, std::byte{0}}, "it is cut short before the end of its table name");
    refused({std::byte{1}, std::byte{0}, std::byte{0}}, "it is cut short before the end of its table name");
    refused({std::byte{1}, std::byte{0}, std::byte{0}, std::byte{5}, std::byte{'r'}},
            "it is cut short before the end of its table name");
    refused({std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}},
            "it is cut short before the end of its table name");
    // From here the table name is known and named.
    Bytes b = ok.body();
    refused(Bytes(b.begin(), b.begin() + 2 + 2 + 4), "it is cut short before the end of its index name", "rows");
    refused(Bytes(b.begin(), b.begin() + 2 + 2 + 4 + 1), "it is cut short before the end of its index name", "rows");
    {
        layout l = ok;
        l.index = "rows/1";  // a primary-key position that names an index
        refused(l.bytes(), "its kind does not match its index name", "rows", "rows/1");
        l.kind = 2;  // a non-unique index's position without an index name
        l.index.clear();
        l.with_pk = true;
        l.pk = u64_key(1);
        refused(l.bytes(), "its kind does not match its index name", "rows");
        l.kind = 1;  // nor a unique index's
        l.with_pk = false;
        refused(l.bytes(), "its kind does not match its index name", "rows");
    }
    // The key: cut, or empty.
    refused(Bytes(b.begin(), b.begin() + 2 + 2 + 4 + 2), "it is cut short before the end of its key", "rows");
    refused(Bytes(b.begin(), b.begin() + 2 + 2 + 4 + 2 + 1), "it is cut short before the end of its key", "rows");
    refused(Bytes(b.begin(), b.begin() + 2 + 2 + 4 + 2 + 2 + 3), "it is cut short before the end of its key", "rows");
    {
        layout l = ok;
        l.key.clear();
        refused(l.bytes(), "it is cut short before the end of its key", "rows");
    }
    // A non-unique index's primary key: missing, cut, or empty.
    {
        layout l;
        l.kind = 2;
        l.index = "rows/2";
        l.key = netabase::encode_key(std::uint32_t{1});
        l.with_pk = true;
        l.pk = u64_key(7);
        REQUIRE_NOTHROW(netabase::position::from_bytes(l.bytes()));
        Bytes body = l.body();
        const std::size_t before_pk = body.size() - 2 - 8;
        refused(Bytes(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(before_pk)),
                "it is cut short before the end of its primary key", "rows", "rows/2");
        refused(Bytes(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(before_pk + 1)),
                "it is cut short before the end of its primary key", "rows", "rows/2");
        refused(Bytes(body.begin(), body.end() - 1), "it is cut short before the end of its primary key", "rows",
                "rows/2");
        l.pk.clear();
        refused(l.bytes(), "it is cut short before the end of its primary key", "rows", "rows/2");
    }
    // The checksum: missing, cut, followed by more bytes, or wrong.
    refused(b, "it is cut short before its checksum", "rows");
    Bytes sealed = ok.bytes();
    refused(Bytes(sealed.begin(), sealed.end() - 1), "it is cut short before its checksum", "rows");
    Bytes longer = sealed;
    longer.push_back(std::byte{0});
    refused(longer, "it has bytes after its checksum", "rows");
    Bytes damaged = sealed;
    damaged[damaged.size() - 5] ^= std::byte{0x10};  // the key's last byte
    refused(damaged, "its checksum does not match (the bytes were damaged)", "rows");
    damaged = sealed;
    damaged.back() ^= std::byte{1};
    refused(damaged, "its checksum does not match (the bytes were damaged)", "rows");
}

TEST_CASE("position errors: a well-formed position of the wrong kind, table or size is refused by the scan",
          "[pagination][position][errors]") {
    auto store = netabase::Store<S>::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Row>();
        for (std::uint64_t id = 1; id <= 6; ++id) t.put(Row{id, "e" + std::to_string(id), static_cast<std::uint32_t>(id % 2)});
    });
    auto txn = store.begin_read();
    auto rows = txn.open_tree<Row>();
    auto email = rows.index(&Row::email);
    auto group = rows.index(&Row::group);
    auto use = [&](const Bytes& bytes, auto&& scan) {
        const auto p = netabase::position::from_bytes(bytes);
        return error_of([&] { (void)scan().after(p); });
    };
    auto all_of = [](auto& src) { return [&src] { return src.all(); }; };

    // A unique index's kind on the non-unique index, and the other way round.
    layout l;
    l.kind = 1;
    l.index = "rows/2";
    l.key = netabase::encode_key(std::uint32_t{1});
    auto e = use(l.bytes(), all_of(group));
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.description() ==
          "a netabase::position of index 'rows/2' of table 'rows' was taken when the index was unique, and it is no "
          "longer: take a new position");
    CHECK(e.table() == "rows");
    CHECK(e.index() == "rows/2");
    l.kind = 2;
    l.index = "rows/1";
    l.key = netabase::encode_key(std::string("e3"));
    l.with_pk = true;
    l.pk = u64_key(3);
    e = use(l.bytes(), all_of(email));
    CHECK(e.description() ==
          "a netabase::position of index 'rows/1' of table 'rows' was taken when the index was not unique, and it is "
          "no longer: take a new position");
    CHECK(e.index() == "rows/1");
    // Another table of the same name shape, another index.
    layout other;
    other.table = "rowz";
    other.key = u64_key(2);
    e = use(other.bytes(), all_of(rows));
    CHECK(e.description() ==
          "a netabase::position of the primary key of table 'rowz' cannot resume a scan of the primary key of table "
          "'rows': a position belongs to the table or index whose scan it came from");
    CHECK(e.table() == "rows");
    CHECK(e.index().empty());
    layout ix = l;
    ix.index = "rows/3";
    e = use(ix.bytes(), all_of(group));
    CHECK(has(e.description(), "a netabase::position of index 'rows/3' of table 'rows' cannot resume a scan of index "
                               "'rows/2' of table 'rows'"));
    // Keys over LMDB's limit, the key or (non-unique index) the primary key.
    const std::size_t max_key = 511;
    layout big;
    big.key = Bytes(max_key + 1, std::byte{'k'});
    e = use(big.bytes(), all_of(rows));
    CHECK(e.description() == "malformed netabase::position of the primary key of table 'rows': a key of 512 bytes is "
                             "over LMDB's limit of 511");
    layout big_pk;
    big_pk.kind = 2;
    big_pk.index = "rows/2";
    big_pk.key = netabase::encode_key(std::uint32_t{1});
    big_pk.with_pk = true;
    big_pk.pk = Bytes(600, std::byte{0});
    e = use(big_pk.bytes(), all_of(group));
    CHECK(e.description() == "malformed netabase::position of index 'rows/2' of table 'rows': a key of 600 bytes is "
                             "over LMDB's limit of 511");
    CHECK(e.index() == "rows/2");
    // At the limit: just a point in the key space, after every stored key.
    layout at_limit;
    at_limit.key = Bytes(max_key, std::byte{0xff});
    const auto p = netabase::position::from_bytes(at_limit.bytes());
    CHECK(rows.all().after(p).count() == 0);
    CHECK(rows.reverse().after(p).count() == 6);
    // The scans it was refused on are unchanged.
    CHECK(rows.all().count() == 6);
    CHECK(group.equal_range(1).count() == 3);
}

TEST_CASE("position errors: a moved-from position is refused as empty, not read", "[pagination][position][errors]") {
    auto store = netabase::Store<S>::temporary();
    store.write([](auto& txn) { txn.template open_tree<Row>().put(Row{1, "a", 0}); });
    auto txn = store.begin_read();
    auto rows = txn.open_tree<Row>();
    const auto all = rows.all();
    auto it = all.begin();
    REQUIRE(it != all.end());
    netabase::position p = it.position();
    netabase::position kept = std::move(p);
    CHECK(kept.bytes().size() > 4);
    REQUIRE(p.bytes().empty());  // libstdc++'s moved-from vector: the case under test
    auto e = error_of([&] { (void)rows.all().after(p); });
    CHECK(e.code() == netabase::errc::invalid_argument);
    CHECK(e.description() == "malformed netabase::position (0 bytes): it is empty");
    CHECK(rows.all().after(kept).count() == 0);
}

TEST_CASE("position errors: a scan resumed after a position copies with its resume point", "[pagination][position]") {
    auto store = netabase::Store<S>::temporary();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Row>();
        for (std::uint64_t id = 1; id <= 5; ++id) t.put(Row{id, "e" + std::to_string(id), 1});
    });
    auto txn = store.begin_read();
    auto group = txn.open_tree<Row>().index(&Row::group);
    const auto all = group.all();
    auto it = all.begin();
    ++it;
    const netabase::position p = it.position();  // (1, id 2)
    const auto resumed = group.all().after(p);
    auto ids = [](const auto& r) {
        std::vector<std::uint64_t> v;
        for (const auto& g : r) v.push_back(g.value().id);
        return v;
    };
    auto copy = resumed;  // copies the resume point
    auto assigned = group.all();
    assigned = resumed;
    CHECK(ids(resumed) == std::vector<std::uint64_t>{3, 4, 5});
    CHECK(ids(copy) == ids(resumed));
    CHECK(ids(assigned) == ids(resumed));
    assigned = group.all();  // and back to none
    CHECK(ids(assigned).size() == 5);
}

}  // namespace position_errors_test
