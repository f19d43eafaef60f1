// Several programs, several versions, one store: real processes (fork) running an older model
// while a newer one opens the store, and processes SIGKILLed in the middle of an upgrade.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "evolve_support.hpp"
#include "kill_seam.hpp"
#include "support.hpp"

#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using evolve_fixture::UserV1;

namespace roll_old {  // the release still running: two secondary keys

struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
    std::string city;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("people")
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age);
}

}  // namespace roll_old

namespace roll_drop {  // the next release drops the age index

struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
    std::string city;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("people").primary_key(&User::id).secondary_key(&User::email, netabase::unique);
}

}  // namespace roll_drop

namespace roll_add {  // the next release adds a city index

struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
    std::string city;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("people")
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age)
        .secondary_key(&User::city);
}

}  // namespace roll_add

namespace roll_step {  // the next release changes a field through a step

struct User {
    std::uint64_t id;
    std::string email;
    std::uint64_t age_months;
    std::string city;
};

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("people")
        .upgrade_from<roll_old::User>([](roll_old::User u) {
            return User{u.id, std::move(u.email), std::uint64_t{u.age} * 12, std::move(u.city)};
        })
        .primary_key(&User::id)
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age_months);
}

}  // namespace roll_step

namespace roll_kill {  // UserV1 -> version 2 for the kill test
using User = evolve_fixture::UserV2;
}  // namespace roll_kill

namespace {

using netabase_test::temp_dir;
using Old = netabase::definition<roll_old::User>;

roll_old::User person(std::uint64_t id) {
    return roll_old::User{id, "p" + std::to_string(id) + "@x", static_cast<std::uint32_t>(20 + id % 50),
                          "city" + std::to_string(id % 9)};
}

// What a child process reports through its exit status.
enum outcome : int {
    saw_schema_changed = 10,  // its next transaction was refused, as it must be
    wrote_anyway = 11,        // it wrote (or read) with an outdated model: the bug
    other_error = 12,
    bad_read = 13,  // a row read back wrong
};

// A pipe whose write end the child keeps and whose read end the parent reads.
struct channel {
    int fd[2];
    channel() { REQUIRE(::pipe(fd) == 0); }
    ~channel() {
        ::close(fd[0]);
        if (fd[1] >= 0) ::close(fd[1]);
    }
    void child_side() { ::close(fd[0]), fd[0] = -1; }
    void parent_side() { ::close(fd[1]), fd[1] = -1; }
    void send(std::uint64_t v) const {
        if (::write(fd[1], &v, sizeof v) != sizeof v) std::_Exit(other_error);
    }
    bool receive(std::uint64_t& v) const { return ::read(fd[0], &v, sizeof v) == sizeof v; }
};

int wait_for(pid_t pid) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

// An old-release writer: opens the store, says so, then commits one row per transaction
// (acknowledging each id through `acks` after its commit returned) until a transaction is
// refused with schema_changed. Rows ids are first, first + stride, ...
[[noreturn]] void old_writer(const fs::path& path, channel& acks, std::uint64_t first, std::uint64_t stride,
                             channel* go = nullptr) {
    acks.child_side();
    int code = other_error;
    try {
        netabase::Store<Old> store{path, netabase::options{.durability = netabase::durability::no_sync}};
        acks.send(~std::uint64_t{0});  // opened
        if (go) {
            std::uint64_t v;
            if (!go->receive(v)) std::_Exit(other_error);
        }
        for (std::uint64_t id = first;; id += stride) {
            store.write([&](netabase::WriteTransaction<Old>& txn) { txn.open_tree<roll_old::User>().put(person(id)); });
            acks.send(id);
            if (go && id >= first + 3 * stride) {  // told to write a few rows after the new release opened
                code = wrote_anyway;
                break;
            }
        }
    } catch (const netabase::error& e) {
        code = e.code() == netabase::errc::schema_changed ? saw_schema_changed : other_error;
        if (code == other_error) std::fprintf(stderr, "old writer: %s\n", e.what());
    } catch (...) {
    }
    std::_Exit(code);
}

// An old-release reader: reads rows back in its own transactions until refused.
[[noreturn]] void old_reader(const fs::path& path, channel& ready) {
    ready.child_side();
    int code = other_error;
    try {
        netabase::Store<Old> store{path, netabase::options{.durability = netabase::durability::no_sync}};
        ready.send(~std::uint64_t{0});
        for (;;) {
            store.read([&](netabase::ReadTransaction<Old>& txn) {
                auto people = txn.open_tree<roll_old::User>();
                for (const auto& row : people) {
                    roll_old::User u = row.value();
                    if (u.email != person(u.id).email || u.age != person(u.id).age) std::_Exit(bad_read);
                }
            });
        }
    } catch (const netabase::error& e) {
        code = e.code() == netabase::errc::schema_changed ? saw_schema_changed : other_error;
        if (code == other_error) std::fprintf(stderr, "old reader: %s\n", e.what());
    }
    std::_Exit(code);
}

void seed(const fs::path& path, std::uint64_t n) {
    netabase::Store<Old> store{path};
    store.write([&](netabase::WriteTransaction<Old>& txn) {
        auto people = txn.open_tree<roll_old::User>();
        for (std::uint64_t id = 0; id < n; ++id) people.put(person(id));
    });
}

// Reads every ack a child sent (after it exited).
std::set<std::uint64_t> drain(channel& c) {
    std::set<std::uint64_t> ids;
    std::uint64_t v;
    while (c.receive(v))
        if (v != ~std::uint64_t{0}) ids.insert(v);
    return ids;
}

// The row ids and every index entry of the newer model's table, checked against the rows.
template <class Def, class M>
void check_new_store(netabase::Store<Def>& store, const std::set<std::uint64_t>& acknowledged) {
    auto report = store.verify();
    INFO(report.to_string());
    CHECK(report.ok());
    store.read([&](auto& txn) {
        auto t = txn.template open_tree<M>();
        for (std::uint64_t id : acknowledged) {
            INFO("acknowledged row " << id);
            CHECK(t.contains(id));
        }
    });
}

// An old release has the store open and waits; the newer release NewDef opens the store; then
// the old release tries to write. It must get schema_changed and write nothing; `more` checks
// the newer release's store further.
template <class NewDef>
void old_release_refused(const fs::path& path, const std::function<void(netabase::Store<NewDef>&)>& more) {
    seed(path, 50);
    channel acks, go;
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) old_writer(path, acks, 1000, 1, &go);
    acks.parent_side();
    go.child_side();
    std::uint64_t v = 0;
    REQUIRE(acks.receive(v));  // the old release has the store open
    netabase::Store<NewDef> newer{path};
    go.send(1);
    CHECK(wait_for(pid) == saw_schema_changed);  // a crash would be 1000 + SIGSEGV
    CHECK(drain(acks).empty());                  // not one row written with the old model
    CHECK(newer.verify().ok());
    more(newer);
}

}  // namespace

TEST_CASE("processes: an old release gets schema_changed, never a crash, when a new one drops an index",
          "[evolve][process]") {
    temp_dir dir;
    old_release_refused<netabase::definition<roll_drop::User>>(dir / "store", [](auto&) {});  // drops people/2
}

TEST_CASE("processes: an old release gets schema_changed instead of writing rows a new index misses",
          "[evolve][process]") {
    temp_dir dir;
    old_release_refused<netabase::definition<roll_add::User>>(dir / "store", [](auto& newer) {  // builds people/3
        CHECK(newer.read([](auto& txn) {
            return txn.template open_tree<roll_add::User>().index(&roll_add::User::city).count(std::string("city3"));
        }) == 6);  // ids 3, 12, ..., 48
    });
}

TEST_CASE("processes: old writers and readers running while a new release upgrades the rows", "[evolve][process]") {
    // Three old writers commit continuously and two old readers scan continuously while the
    // new release opens with an upgrade step; every acknowledged write must be in the upgraded
    // table with exact indexes, and every old process must stop with schema_changed.
    const int rounds = 4;
    int processes = 0;
    std::size_t acknowledged_total = 0;
    for (int round = 0; round < rounds; ++round) {
        temp_dir dir;
        fs::path path = dir / "store";
        seed(path, 200);
        std::vector<std::unique_ptr<channel>> chans;
        std::vector<pid_t> writers, readers;
        for (int w = 0; w < 3; ++w) {
            chans.push_back(std::make_unique<channel>());
            pid_t pid = ::fork();
            REQUIRE(pid >= 0);
            if (pid == 0) old_writer(path, *chans.back(), 10000 + static_cast<std::uint64_t>(w), 3);
            chans.back()->parent_side();
            writers.push_back(pid);
        }
        std::vector<std::unique_ptr<channel>> ready;
        for (int r = 0; r < 2; ++r) {
            ready.push_back(std::make_unique<channel>());
            pid_t pid = ::fork();
            REQUIRE(pid >= 0);
            if (pid == 0) old_reader(path, *ready.back());
            ready.back()->parent_side();
            readers.push_back(pid);
        }
        processes += 5;
        // Each writer opened and acknowledged some commits; each reader opened.
        std::vector<std::set<std::uint64_t>> acked(writers.size());
        for (std::size_t w = 0; w < writers.size(); ++w) {
            std::uint64_t v;
            for (int n = 0; n < 5 + round * 10; ++n) {
                REQUIRE(chans[w]->receive(v));
                if (v != ~std::uint64_t{0}) acked[w].insert(v);
            }
        }
        for (auto& r : ready) {
            std::uint64_t v;
            REQUIRE(r->receive(v));
        }
        netabase::Store<netabase::definition<roll_step::User>> newer{path};
        for (pid_t p : writers) CHECK(wait_for(p) == saw_schema_changed);
        for (pid_t p : readers) CHECK(wait_for(p) == saw_schema_changed);
        std::set<std::uint64_t> all;
        for (std::uint64_t id = 0; id < 200; ++id) all.insert(id);
        for (std::size_t w = 0; w < writers.size(); ++w) {
            auto rest = drain(*chans[w]);
            acked[w].insert(rest.begin(), rest.end());
            all.insert(acked[w].begin(), acked[w].end());
        }
        acknowledged_total += all.size() - 200;
        check_new_store<netabase::definition<roll_step::User>, roll_step::User>(newer, all);
        newer.read([&](auto& txn) {
            auto t = txn.template open_tree<roll_step::User>();
            for (std::uint64_t id : all) CHECK(t.get(id)->value().age_months == std::uint64_t{person(id).age} * 12);
        });
    }
    std::printf("rolling upgrade: %d rounds, %d old processes, %zu acknowledged old-release writes kept\n", rounds,
                processes, acknowledged_total);
}

using netabase_test::kill_seam;

TEST_CASE("processes: an upgrade SIGKILLed at any point leaves a store that opens and finishes it",
          "[evolve][process]") {
    const std::uint64_t rows = 2000;
    const int kills = 24;
    temp_dir dir;
    fs::path original = dir / "v1";
    {
        netabase::Store<netabase::definition<UserV1>> v1{original};
        v1.write([&](auto& txn) {
            auto users = txn.template open_tree<UserV1>();
            for (std::uint64_t i = 0; i < rows; ++i) users.put(evolve_fixture::user_v1(i));
        });
    }
    netabase::options opt;
    opt.durability = netabase::durability::no_sync;  // a killed process loses nothing the OS has
    opt.upgrade_batch_bytes = 1500;                  // ~150 transactions
    auto fresh_copy = [&](const std::string& name) {
        fs::path p = dir / name;
        fs::create_directories(p);
        fs::copy_file(original / "data.mdb", p / "data.mdb");
        return p;
    };
    // How many LMDB calls the whole upgrade makes, counted on one copy.
    std::size_t calls = 0;
    {
        fs::path p = fresh_copy("count");
        netabase::detail::lmdb_seam counter;
        netabase::detail::seam() = &counter;
        { netabase::Store<netabase::definition<roll_kill::User>> s{p, opt}; }
        netabase::detail::seam() = nullptr;
        calls = counter.total;
    }
    REQUIRE(calls > 1000);
    std::mt19937_64 rng(20261201);
    int midway = 0;
    for (int k = 0; k < kills; ++k) {
        fs::path path = fresh_copy("kill" + std::to_string(k));
        std::size_t kill_at = 1 + rng() % calls;
        INFO("killed at LMDB call " << kill_at << " of " << calls);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            kill_seam seam;
            seam.kill_at = kill_at;
            netabase::detail::seam() = &seam;
            try {
                netabase::Store<netabase::definition<roll_kill::User>> s{path, opt};
            } catch (...) {
                std::_Exit(other_error);
            }
            std::_Exit(0);
        }
        CHECK(wait_for(pid) == 1000 + SIGKILL);
        if (evolve_fixture::raw_meta(path, "upgrade:users")) ++midway;
        // Whatever point it died at: the next open finishes, with every row upgraded.
        netabase::Store<netabase::definition<roll_kill::User>> s{path};
        auto report = s.verify();
        INFO(report.to_string());
        CHECK(report.ok());
        s.read([&](auto& txn) {
            auto users = txn.template open_tree<roll_kill::User>();
            REQUIRE(users.size() == rows);
            for (std::uint64_t i = 0; i < rows; i += 37) {
                UserV1 old = evolve_fixture::user_v1(i);
                roll_kill::User u = users.get(i)->value();
                CHECK(u.email == old.email);
                CHECK(u.age == 2026u - old.birth_year);
            }
            CHECK(users.index(&roll_kill::User::email).get("user1999@example.com")->value().id == 1999);
        });
    }
    std::printf("upgrade kills: %d SIGKILLs at random points of %zu LMDB calls, %d left an upgrade to finish\n",
                kills, calls, midway);
    CHECK(midway > 0);
}
