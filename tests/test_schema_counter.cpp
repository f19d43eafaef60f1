// The shared schema counter (schema.lock, detail/schema_counter.hpp) lets a transaction skip
// re-reading the metadata when no program changed the schema. Its rarer states: a read-only
// program that cannot map it (the file is missing) checks the metadata in every transaction
// instead and still sees a newer release's change; a counter left odd by a program that died
// in the middle of a schema change is moved past, and ends even.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "errors.hpp"
#include "evolve_support.hpp"
#include "support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace counter_old {

struct Item {
    std::uint64_t id;
    std::uint32_t group;
};

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items").primary_key(&Item::id).secondary_key(&Item::group);
}

}  // namespace counter_old

namespace counter_new {  // adds an index

struct Item {
    std::uint64_t id;
    std::uint32_t group;
};

constexpr auto by_parity =
    netabase::key<Item>("by_parity", [](const Item& i) { return static_cast<std::uint32_t>(i.id % 2); });

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items").primary_key(&Item::id).secondary_key(&Item::group).secondary_key(by_parity);
}

}  // namespace counter_new

namespace {

namespace fs = std::filesystem;
using Old = netabase::definition<counter_old::Item>;
using New = netabase::definition<counter_new::Item>;

void seed(const fs::path& dir) {
    netabase::Store<Old> store{dir};
    store.write([](auto& txn) {
        auto t = txn.template open_tree<counter_old::Item>();
        for (std::uint64_t id = 1; id <= 10; ++id) t.put(counter_old::Item{id, static_cast<std::uint32_t>(id % 3)});
    });
}

using netabase_test::newer_release_opens;

std::uint64_t counter_in(const fs::path& dir) {
    int fd = ::open((dir / "schema.lock").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::uint64_t v = 0;
    REQUIRE(::pread(fd, &v, sizeof v, 0) == static_cast<ssize_t>(sizeof v));
    ::close(fd);
    return v;
}

void set_counter(const fs::path& dir, std::uint64_t v) {
    int fd = ::open((dir / "schema.lock").c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, &v, sizeof v, 0) == static_cast<ssize_t>(sizeof v));
    ::close(fd);
}

}  // namespace

TEST_CASE("schema counter: a read-only program without schema.lock checks the metadata itself", "[evolve][process]") {
    netabase_test::temp_dir dir;
    seed(dir.path());
    REQUIRE(fs::remove(dir.path() / "schema.lock"));
    netabase::Store<Old> ro{dir.path(), netabase::options{.read_only = true}};
    CHECK_FALSE(fs::exists(dir.path() / "schema.lock"));  // a read-only open creates nothing
    for (int i = 0; i < 3; ++i)  // every transaction re-reads the metadata, and finds it unchanged
        CHECK(ro.read([](auto& txn) { return txn.template open_tree<counter_old::Item>().size(); }) == 10);

    newer_release_opens<New>(dir.path());  // it makes a new schema.lock; the read-only one never maps it
    const netabase::error e = netabase_test::error_of(
        [&] { ro.read([](auto& txn) { (void)txn.template open_tree<counter_old::Item>().size(); }); });
    CHECK(e.code() == netabase::errc::schema_changed);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("another program added index 'items/"));
}

TEST_CASE("schema counter: a counter left odd by a program that died mid-change ends even after the next change",
          "[evolve][process]") {
    netabase_test::temp_dir dir;
    seed(dir.path());
    const std::uint64_t before = counter_in(dir.path());
    REQUIRE(before % 2 == 0);
    set_counter(dir.path(), before + 1);  // as a changer killed between its begin and its end leaves it

    netabase::Store<Old> old{dir.path()};  // an odd counter is never trusted: it validates by metadata
    CHECK(old.read([](auto& txn) { return txn.template open_tree<counter_old::Item>().size(); }) == 10);
    newer_release_opens<New>(dir.path());
    // The change moved the odd value on to the next odd one (not back to even: another program
    // could have remembered that), then ended even.
    CHECK(counter_in(dir.path()) == before + 4);
    CHECK_THROWS_MATCHES(old.read([](auto& txn) { (void)txn.template open_tree<counter_old::Item>().size(); }),
                         netabase::error,
                         Catch::Matchers::Predicate<netabase::error>(
                             [](const netabase::error& e) { return e.code() == netabase::errc::schema_changed; }));
    netabase::Store<New> newer{dir.path()};
    CHECK(newer.read([](auto& txn) {
        return txn.template open_tree<counter_new::Item>().index(counter_new::by_parity).count(std::uint32_t{1});
    }) == 5);
}
