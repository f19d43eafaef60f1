// netabase::errc and its categories: every condition has its own message, and LMDB's codes
// compare equal to the conditions they mean.
#include "catch.hpp"

#include <netabase/netabase.hpp>

#include <set>
#include <string>

TEST_CASE("error: every errc value has a message of its own, and none is the fallback") {
    std::set<std::string> seen;
    int last = static_cast<int>(netabase::errc::compacted);  // the newest value
    for (int v = 1; v <= last; ++v) {
        const std::string m = netabase::make_error_code(static_cast<netabase::errc>(v)).message();
        INFO("errc value " << v << ": " << m);
        CHECK(m != "unknown netabase error");
        CHECK(seen.insert(m).second);
    }
    CHECK(netabase::make_error_code(static_cast<netabase::errc>(last + 1)).message() == "unknown netabase error");
    CHECK(netabase::make_error_code(netabase::errc::conflict).message() == "conflict");
    CHECK(netabase::make_error_code(netabase::errc::unknown_outcome).message() == "unknown outcome");
}

TEST_CASE("error: LMDB's codes compare equal to the netabase conditions they mean, and to no other") {
    auto lmdb = [](int rc) { return std::error_code(rc, netabase::lmdb_category()); };
    CHECK(lmdb(MDB_MAP_FULL) == netabase::errc::map_full);
    CHECK(lmdb(MDB_KEYEXIST) == netabase::errc::key_exists);
    CHECK(lmdb(MDB_CORRUPTED) == netabase::errc::corrupt_value);
    CHECK(lmdb(MDB_PAGE_NOTFOUND) == netabase::errc::corrupt_value);
    CHECK(lmdb(MDB_INVALID) == netabase::errc::bad_file);
    CHECK(lmdb(MDB_NOTFOUND) == netabase::errc::not_found);
    CHECK(lmdb(MDB_BAD_VALSIZE) == netabase::errc::key_too_large);
    CHECK(lmdb(MDB_MAP_FULL) != netabase::errc::key_exists);
    CHECK(lmdb(MDB_MAP_FULL) != netabase::errc::conflict);
    CHECK(lmdb(ENOMEM) == std::errc::not_enough_memory);  // errno values LMDB passes through
    CHECK(lmdb(MDB_READERS_FULL) != netabase::errc::busy);  // no condition claims it
}
