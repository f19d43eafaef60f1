// What an older program is told when a newer one changes the schema under it: each kind of
// change gets its own message naming the table and what changed (DESIGN.md section 6), and
// the older program's transaction is refused before it reads or writes anything. The newer
// release runs in a child process, as it would in a rolling deployment.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "errors.hpp"
#include "evolve_support.hpp"
#include "support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace sc_old {  // the release holding the store open

struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("people")
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age);
}

}  // namespace sc_old

namespace sc_append {  // appends a field: no step, new fingerprint

struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
    std::string note = "none";
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("people")
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age);
}

}  // namespace sc_append

namespace sc_step {  // changes a field's type through an upgrade step: version 2

struct User {
    std::uint64_t id;
    std::string email;
    std::uint64_t age_months;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("people")
        .upgrade_from<sc_old::User>(
            [](sc_old::User u) { return User{u.id, std::move(u.email), std::uint64_t{u.age} * 12}; })
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age_months);
}

}  // namespace sc_step

namespace sc_swap {  // drops the age index and adds one on the email domain's length, in one release

struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
};

constexpr auto email_length =
    netabase::key<User>("email_length", [](const User& u) { return static_cast<std::uint32_t>(u.email.size()); });

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("people")
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(email_length);
}

}  // namespace sc_swap

namespace sc_rename {  // keeps the rows under a new name

struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("accounts")
        .renamed_from("people")
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age);
}

}  // namespace sc_rename

namespace {

namespace fs = std::filesystem;
using netabase_test::temp_dir;
using Old = netabase::definition<sc_old::User>;

sc_old::User person(std::uint64_t id) {
    return sc_old::User{id, "p" + std::to_string(id) + "@x", static_cast<std::uint32_t>(20 + id % 50)};
}

using netabase_test::error_of;
using netabase_test::newer_release_opens;

// The older program holds the store open while NewDef opens it; returns the message its next
// write transaction is refused with, after checking that its read transaction is refused the
// same way and that neither wrote anything.
template <class NewDef>
std::string refusal_after(const fs::path& path) {
    netabase::Store<Old> old{path};
    old.write([](auto& txn) {
        auto t = txn.template open_tree<sc_old::User>();
        for (std::uint64_t id = 1; id <= 20; ++id) t.put(person(id));
    });
    newer_release_opens<NewDef>(path);

    const netabase::error on_read =
        error_of([&] { old.read([](auto& txn) { (void)txn.template open_tree<sc_old::User>().size(); }); });
    CHECK(on_read.code() == netabase::errc::schema_changed);
    const netabase::error on_write =
        error_of([&] { old.write([](auto& txn) { txn.template open_tree<sc_old::User>().put(person(999)); }); });
    CHECK(on_write.code() == netabase::errc::schema_changed);
    const std::string read_message = on_read.what(), write_message = on_write.what();
    CHECK(read_message == write_message);
    CHECK_THAT(write_message, Catch::Matchers::Contains("schema changed in table 'people'"));
    return write_message;
}

}  // namespace

TEST_CASE("schema_changed: a field appended by a newer release is named in the older one's error", "[evolve][process]") {
    temp_dir dir;
    std::string what = refusal_after<netabase::definition<sc_append::User>>(dir / "store");
    CHECK_THAT(what, Catch::Matchers::Contains("another program changed its fields to"));
    netabase::Store<netabase::definition<sc_append::User>> newer{dir / "store"};
    newer.read([](auto& txn) {
        auto t = txn.template open_tree<sc_append::User>();
        CHECK(t.size() == 20);  // the refused write added nothing
        CHECK(!t.get(999));
        auto u = t.get(7);
        REQUIRE(u);
        CHECK(u->value().note == "none");
    });
}

TEST_CASE("schema_changed: an upgrade by a newer release names both versions", "[evolve][process]") {
    temp_dir dir;
    std::string what = refusal_after<netabase::definition<sc_step::User>>(dir / "store");
    CHECK_THAT(what, Catch::Matchers::Contains("another program upgraded its rows from version 1 to 2"));
    netabase::Store<netabase::definition<sc_step::User>> newer{dir / "store"};
    newer.read([](auto& txn) {
        auto t = txn.template open_tree<sc_step::User>();
        CHECK(t.size() == 20);
        CHECK(!t.get(999));
        CHECK(t.index(&sc_step::User::age_months).count(std::uint64_t{(20 + 7 % 50) * 12}) == 1);
    });
}

TEST_CASE("schema_changed: an index dropped and another added in one release are both named", "[evolve][process]") {
    temp_dir dir;
    std::string what = refusal_after<netabase::definition<sc_swap::User>>(dir / "store");
    CHECK_THAT(what, Catch::Matchers::Contains("another program added index 'people/"));
    CHECK_THAT(what, Catch::Matchers::Contains(", another program dropped index 'people/"));
    netabase::Store<netabase::definition<sc_swap::User>> newer{dir / "store"};
    CHECK(newer.verify().ok());
    CHECK(newer.read([](auto& txn) { return txn.template open_tree<sc_swap::User>().size(); }) == 20);
}

TEST_CASE("schema_changed: a table renamed by a newer release names its new name", "[evolve][process]") {
    temp_dir dir;
    std::string what = refusal_after<netabase::definition<sc_rename::User>>(dir / "store");
    CHECK_THAT(what, Catch::Matchers::Contains("another program renamed it to 'accounts'"));
    netabase::Store<netabase::definition<sc_rename::User>> newer{dir / "store"};
    newer.read([](auto& txn) {
        auto t = txn.template open_tree<sc_rename::User>();
        CHECK(t.size() == 20);
        CHECK(!t.get(999));
    });
}
