// Watchers and the change log: every committed change once, in commit order, from every
// write path; filters by index value; nothing from aborted transactions; bounded queues that
// say what they missed; a durable log that matches the table after SIGKILLs.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "kill_seam.hpp"
#include "support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace watch_test {

struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
    std::vector<std::string> tags;
};

inline constexpr auto by_tag = netabase::keys<User>("by_tag", [](const User& u) { return u.tags; });
inline constexpr auto by_decade = netabase::key<User>("by_decade", [](const User& u) { return u.age / 10; });

constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users")
        .secondary_key(&User::email, netabase::unique)
        .secondary_key(&User::age)
        .secondary_key(by_tag)
        .secondary_key(by_decade);
}

struct Note {  // no secondary keys: the write path without indexes
    std::uint64_t id;
    std::string text;
};

using Def = netabase::definition<User, Note>;

User user(std::uint64_t id, std::uint32_t age, std::vector<std::string> tags = {}) {
    return User{id, "u" + std::to_string(id) + "@x", age, std::move(tags)};
}

}  // namespace watch_test

using namespace watch_test;
using netabase::change_kind;
namespace fs = std::filesystem;

namespace {

template <class M>
std::vector<netabase::Change<M>> drain(netabase::Watcher<M>& w) {
    std::vector<netabase::Change<M>> out;
    while (auto c = w.try_next()) out.push_back(std::move(*c));
    return out;
}

// kind, key and (if any) age of each change, and that sequences ascend by one.
template <class M>
std::vector<std::tuple<change_kind, std::uint64_t, int>> shape(const std::vector<netabase::Change<M>>& cs) {
    std::vector<std::tuple<change_kind, std::uint64_t, int>> out;
    for (std::size_t i = 0; i < cs.size(); ++i) {
        if (i > 0) CHECK(cs[i].sequence > cs[i - 1].sequence);
        int age = -1;
        if constexpr (std::is_same_v<M, User>)
            if (cs[i].row) age = static_cast<int>(cs[i].row->age);
        out.emplace_back(cs[i].kind, cs[i].key, age);
    }
    return out;
}

using S = std::vector<std::tuple<change_kind, std::uint64_t, int>>;
constexpr auto ins = change_kind::insert;
constexpr auto upd = change_kind::update;
constexpr auto rem = change_kind::remove;

}  // namespace

TEST_CASE("watch: every write path delivers its kind, key and row, in commit order", "[watch]") {
    auto store = netabase::Store<Def>::temporary();
    store.write([](auto& txn) { txn.template open_tree<User>().put(user(9, 90)); });  // before: not seen
    auto w = store.watch<User>();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<User>();
        t.put(user(1, 10));                    // insert
        t.put(user(1, 11));                    // update
        CHECK(t.insert(user(2, 20)));          // insert
        CHECK(!t.insert(user(2, 21)));         // nothing
        t.update(2, [](User& u) { u.age = 22; });
        t.update(2, [](User& u) { (void)u; }); // unchanged bytes: still an update
        CHECK(t.remove(1));
        CHECK(!t.remove(1));                   // nothing
    });
    CHECK(shape(drain(w)) == S{{ins, 1, 10}, {upd, 1, 11}, {ins, 2, 20}, {upd, 2, 22}, {upd, 2, 22}, {rem, 1, -1}});

    store.write([](auto& txn) {
        auto t = txn.template open_tree<User>();
        std::vector<User> rows{user(3, 30), user(4, 40), user(2, 23)};  // appends, then an update
        t.put_many(rows);
        std::vector<std::uint64_t> keys{3, 4, 77};
        CHECK(t.remove_many(keys) == 2);
    });
    CHECK(shape(drain(w)) == S{{ins, 3, 30}, {ins, 4, 40}, {upd, 2, 23}, {rem, 3, -1}, {rem, 4, -1}});

    store.write([](auto& txn) { txn.template open_tree<User>().clear(); });  // every row a remove
    CHECK(shape(drain(w)) == S{{rem, 2, -1}, {rem, 9, -1}});
}

TEST_CASE("watch: a table without indexes tells inserts from updates", "[watch]") {
    auto store = netabase::Store<Def>::temporary();
    auto w = store.watch<Note>();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Note>();
        t.put(Note{1, "a"});
        t.put(Note{1, "b"});
        CHECK(!t.insert(Note{1, "c"}));
        std::vector<Note> more{Note{2, "x"}, Note{3, "y"}};
        t.put_many(more);
        t.remove(2);
    });
    auto cs = drain(w);
    REQUIRE(cs.size() == 5);
    CHECK(cs[0].kind == ins);
    CHECK(cs[1].kind == upd);
    CHECK(cs[1].row->text == "b");
    CHECK(cs[2].kind == ins);
    CHECK(cs[3].kind == ins);
    CHECK(cs[4].kind == rem);
    CHECK(!cs[4].row);
    // a commit's changes are consecutive
    for (std::size_t i = 1; i < cs.size(); ++i) CHECK(cs[i].sequence == cs[0].sequence + i);
}

TEST_CASE("watch: aborted transactions, a rolled-back put_many and a throwing write(fn) deliver nothing", "[watch]") {
    auto store = netabase::Store<Def>::temporary();
    store.write([](auto& txn) { txn.template open_tree<User>().put(user(1, 10)); });
    auto w = store.watch<User>();
    {
        auto txn = store.begin_write();
        txn.open_tree<User>().put(user(2, 20));
    }  // aborted
    CHECK_THROWS(store.write([](auto& txn) {
        txn.template open_tree<User>().put(user(3, 30));
        throw std::runtime_error("no");
    }));
    store.write([](auto& txn) {
        auto t = txn.template open_tree<User>();
        t.put(user(4, 40));
        User clash = user(5, 50);
        clash.email = user(1, 10).email;  // unique violation: the nested put_many rolls back
        std::vector<User> rows{user(6, 60), clash};
        CHECK_THROWS_AS(t.put_many(rows), netabase::error);
        t.put(user(7, 70));
    });
    CHECK(shape(drain(w)) == S{{ins, 4, 40}, {ins, 7, 70}});
}

TEST_CASE("watch: filters by member key, computed key and multi-valued key see old and new rows", "[watch]") {
    auto store = netabase::Store<Def>::temporary();
    auto by30 = store.watch<User>(&User::age, 30u);
    auto twenties = store.watch<User>(by_decade, 2u);
    auto red = store.watch<User>(by_tag, std::string("red"));
    auto mail = store.watch<User>(&User::email, "u1@x");
    store.write([](auto& txn) {
        auto t = txn.template open_tree<User>();
        t.put(user(1, 30, {"red"}));                         // into 30 and red
        t.put(user(2, 25, {"blue"}));                        // into the twenties
        t.update(1, [](User& u) { u.age = 31; });            // out of 30 (old row had it)
        t.update(2, [](User& u) { u.tags = {"red", "x"}; }); // into red
        t.put(user(3, 40));                                  // none
        t.remove(2);                                         // twenties and red (old row)
    });
    CHECK(shape(drain(by30)) == S{{ins, 1, 30}, {upd, 1, 31}});
    CHECK(shape(drain(twenties)) == S{{ins, 2, 25}, {upd, 2, 25}, {rem, 2, -1}});
    CHECK(shape(drain(red)) == S{{ins, 1, 30}, {upd, 1, 31}, {upd, 2, 25}, {rem, 2, -1}});
    CHECK(shape(drain(mail)) == S{{ins, 1, 30}, {upd, 1, 31}});
    CHECK_THROWS_AS(store.watch<User>(&User::tags, std::vector<std::string>{}), netabase::error);  // not a key
}

TEST_CASE("watch: a watcher that falls behind gets what it holds, then how many it missed", "[watch]") {
    auto store = netabase::Store<Def>::temporary(netabase::options{.watch_capacity = 10});
    auto w = store.watch<Note>();
    store.write([](auto& txn) {
        auto t = txn.template open_tree<Note>();
        for (std::uint64_t i = 0; i < 25; ++i) t.put(Note{i, "n"});
    });
    std::vector<netabase::Change<Note>> held;
    for (int i = 0; i < 10; ++i) held.push_back(*w.try_next());  // what it holds comes first
    CHECK(held.back().key == 9);
    try {
        w.try_next();
        FAIL("no overflow reported");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::watch_overflow);
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("missed 15 changes"));
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("table 'watch_test::Note'"));
    }
    store.write([](auto& txn) { txn.template open_tree<Note>().put(Note{100, "after"}); });
    auto after = drain(w);
    REQUIRE(after.size() == 1);
    CHECK(after[0].key == 100);
    CHECK(after[0].sequence == held.back().sequence + 16);  // the 15 missed ones are skipped
}

TEST_CASE("watch: next() waits for a commit on another thread, and times out without one", "[watch]") {
    auto store = netabase::Store<Def>::temporary();
    auto w = store.watch<Note>();
    CHECK(!w.next(std::chrono::milliseconds(20)));
    std::thread writer([&] { store.write([](auto& txn) { txn.template open_tree<Note>().put(Note{5, "x"}); }); });
    auto c = w.next(std::chrono::seconds(30));
    writer.join();
    REQUIRE(c);
    CHECK(c->key == 5);
}

TEST_CASE("watch: a watcher outliving its store returns what it holds, then nothing", "[watch]") {
    std::optional<netabase::Watcher<Note>> w;
    {
        auto store = netabase::Store<Def>::temporary();
        w.emplace(store.watch<Note>());
        store.write([](auto& txn) { txn.template open_tree<Note>().put(Note{1, "x"}); });
    }
    auto c = w->next(std::chrono::seconds(5));
    REQUIRE(c);
    CHECK(c->key == 1);
    CHECK(!w->next(std::chrono::seconds(5)));  // closed: returns at once
    w.reset();
}

TEST_CASE("threads: a writer and several watcher threads: each sees every change once, in order", "[watch][threads]") {
    netabase_test::watchdog dog(std::chrono::seconds(120), "watch threads");
    auto store = netabase::Store<Def>::temporary();
    constexpr int commits = 300, per = 3, watchers = 4;
    std::vector<std::vector<std::uint64_t>> seen(watchers);
    std::atomic<int> ready{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < watchers; ++i)
        ts.emplace_back([&, i] {
            auto w = store.watch<Note>();
            ready.fetch_add(1);
            while (seen[i].size() < commits * per)
                if (auto c = w.next(std::chrono::seconds(10))) seen[i].push_back(c->key);
        });
    while (ready.load() < watchers) std::this_thread::yield();
    std::thread churn([&] {  // watchers come and go meanwhile
        for (int i = 0; i < 200; ++i) {
            auto w = store.watch<Note>();
            (void)w.try_next();
        }
    });
    for (int c = 0; c < commits; ++c)
        store.write([&](auto& txn) {
            auto t = txn.template open_tree<Note>();
            for (int j = 0; j < per; ++j) t.put(Note{static_cast<std::uint64_t>(c * per + j), "n"});
        });
    for (auto& t : ts) t.join();
    churn.join();
    for (const auto& s : seen) {
        REQUIRE(s.size() == commits * per);
        for (std::size_t k = 0; k < s.size(); ++k) CHECK(s[k] == k);
    }
}

// ---- the change log ---------------------------------------------------------------------

TEST_CASE("watch: the change log lists every commit's changes durably; trim drops a prefix", "[watch][log]") {
    netabase_test::temp_dir dir;
    netabase::options opt{.change_log = true};
    std::uint64_t last = 0;
    {
        netabase::Store<Def> store{dir.path(), opt};
        store.write([](auto& txn) {
            auto t = txn.template open_tree<User>();
            t.put(user(1, 10));
            t.put(user(1, 11));
            txn.template open_tree<Note>().put(Note{5, "n"});
        });
        store.write([](auto& txn) { txn.template open_tree<User>().remove(1); });
        { auto aborted = store.begin_write(); aborted.open_tree<User>().put(user(9, 9)); }
        auto txn = store.begin_read();
        std::vector<std::tuple<std::uint64_t, std::string, change_kind>> got;
        for (const auto& e : txn.changes_since(0)) got.emplace_back(e.sequence, std::string(e.table), e.kind);
        REQUIRE(got.size() == 4);
        CHECK(got[0] == std::tuple{std::uint64_t{1}, std::string("users"), ins});
        CHECK(got[1] == std::tuple{std::uint64_t{2}, std::string("users"), upd});
        CHECK(std::get<1>(got[2]) == "watch_test::Note");
        CHECK(got[3] == std::tuple{std::uint64_t{4}, std::string("users"), rem});
        auto it = txn.changes_since(3).begin();
        CHECK(it->sequence == 4);
        CHECK(it->key<User>() == 1);
        last = 4;
    }
    {
        netabase::Store<Def> store{dir.path()};  // without the option: the store has a log, so it logs
        store.write([](auto& txn) { txn.template open_tree<User>().put(user(2, 20)); });
        CHECK(store.read([](auto& txn) { return std::ranges::distance(txn.changes_since(0)); }) == 5);
        // A reader keeps its snapshot of the log while another trims it.
        auto reader = store.begin_read();
        CHECK(store.trim_changes(3) == 3);
        CHECK(std::ranges::distance(reader.changes_since(0)) == 5);
        reader.abort();
        CHECK(store.read([](auto& txn) { return txn.changes_since(0).begin()->sequence; }) == 4);
        CHECK(store.trim_changes(100) == 2);  // everything
        store.write([](auto& txn) { txn.template open_tree<User>().put(user(3, 30)); });
        // numbering goes on after what was trimmed
        CHECK(store.read([](auto& txn) { return txn.changes_since(0).begin()->sequence; }) == last + 2);
    }
    auto plain = netabase::Store<Def>::temporary();
    CHECK_THROWS_AS(plain.read([](auto& txn) { return txn.changes_since(0).begin() == std::default_sentinel; }),
                    netabase::error);
}

TEST_CASE("watch: with the change log, a watcher sees the commits of another process", "[watch][log][process]") {
    netabase_test::temp_dir dir;
    netabase::options opt{.change_log = true};
    netabase::Store<Def> store{dir.path(), opt};
    auto w = store.watch<User>();
    auto w30 = store.watch<User>(&User::age, 30u);
    store.write([](auto& txn) { txn.template open_tree<User>().put(user(1, 30)); });  // this process
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = 0;
        try {
            netabase::Store<Def> other{dir.path(), opt};
            other.write([](auto& txn) {
                auto t = txn.template open_tree<User>();
                t.put(user(2, 30));
                t.put(user(3, 40));
            });
            other.write([](auto& txn) { txn.template open_tree<User>().update(1, [](User& u) { u.age = 41; }); });
        } catch (...) {
            code = 3;
        }
        std::_Exit(code);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    std::vector<netabase::Change<User>> got;
    while (got.size() < 4)
        if (auto c = w.next(std::chrono::seconds(10)))
            got.push_back(std::move(*c));
        else
            break;
    CHECK(shape(got) == S{{ins, 1, 30}, {ins, 2, 30}, {ins, 3, 40}, {upd, 1, 41}});
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].sequence == i + 1);
    // the filter on another process's changes reads the row as the watcher's snapshot has it
    std::vector<std::uint64_t> keys;
    while (auto c = w30.next(std::chrono::milliseconds(500))) keys.push_back(c->key);
    CHECK(keys == std::vector<std::uint64_t>{1, 2});
}

using netabase_test::kill_seam;

TEST_CASE("watch: writers SIGKILLed at random LMDB calls: the log replays to the table, gapless", "[watch][log][process]") {
    const int kills = std::getenv("NETABASE_WATCH_KILLS") ? std::atoi(std::getenv("NETABASE_WATCH_KILLS")) : 500;
    netabase_test::temp_dir dir;
    netabase::options opt{.durability = netabase::durability::no_sync, .change_log = true};
    std::uint64_t seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    netabase::Store<Def> store{dir.path(), opt};
    auto w = store.watch<Note>();  // this process watches while the others write and die
    std::vector<std::uint64_t> delivered;
    int killed = 0;
    for (int round = 0; round < kills; ++round) {
        std::uint64_t child_seed = rng();
        std::size_t kill_at = 20 + rng() % 400;
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            kill_seam seam;
            seam.kill_at = kill_at;
            netabase::detail::seam() = &seam;
            std::mt19937_64 r(child_seed);
            try {
                netabase::Store<Def> s{dir.path(), opt};
                for (int c = 0; c < 50; ++c)
                    s.write([&](auto& txn) {
                        auto t = txn.template open_tree<Note>();
                        for (int j = 0; j < 3; ++j) {
                            std::uint64_t k = r() % 64;
                            if (r() % 3 == 0)
                                t.remove(k);
                            else
                                t.put(Note{k, std::to_string(r())});
                        }
                    });
            } catch (...) {
                std::_Exit(3);
            }
            std::_Exit(0);
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++killed;
        else REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
        // The log, replayed from an empty table, is the table; its sequences have no gap.
        store.read([&](auto& txn) {
            std::set<std::uint64_t> present;
            std::uint64_t prev = 0;
            for (const auto& e : txn.changes_since(0)) {
                REQUIRE(e.sequence == prev + 1);
                prev = e.sequence;
                if (e.kind == change_kind::remove)
                    present.erase(e.template key<Note>());
                else
                    present.insert(e.template key<Note>());
            }
            std::set<std::uint64_t> table;
            for (const auto& g : txn.template open_tree<Note>()) table.insert(g.key());
            REQUIRE(present == table);
        });
        while (auto c = w.try_next()) delivered.push_back(c->sequence);
    }
    // The watcher got every logged change once, in order (wait for the last ones).
    std::uint64_t logged = store.read([](auto& txn) { return std::ranges::distance(txn.changes_since(0)); });
    while (delivered.size() < logged)
        if (auto c = w.next(std::chrono::seconds(10)))
            delivered.push_back(c->sequence);
        else
            break;
    REQUIRE(delivered.size() == logged);
    for (std::size_t i = 0; i < delivered.size(); ++i) CHECK(delivered[i] == i + 1);
    CHECK(killed >= kills / 2);  // most children died part way (the rest finished their writes)
    std::printf("watch kills: %d SIGKILLs in %d writer processes; %zu changes logged and delivered\n", killed, kills,
                delivered.size());
}

TEST_CASE("watch: changes that come while an overflowed watcher still holds changes are missed too, never queued past "
          "the gap",
          "[watch]") {
    auto store = netabase::Store<Def>::temporary(netabase::options{.watch_capacity = 10});
    auto w = store.watch<Note>();
    auto put_notes = [&](std::uint64_t from, std::uint64_t to) {
        store.write([&](auto& txn) {
            auto t = txn.template open_tree<Note>();
            for (std::uint64_t i = from; i < to; ++i) t.put(Note{i, "n"});
        });
    };
    std::vector<netabase::Change<Note>> held;
    auto take = [&](int n) {
        for (int i = 0; i < n; ++i) {
            auto c = w.try_next();
            REQUIRE(c);
            held.push_back(std::move(*c));
        }
    };
    put_notes(0, 25);  // 10 held, 15 missed
    take(5);
    put_notes(100, 102);  // the queue has room again, but these come after the 15 missed ones
    take(5);
    for (std::uint64_t i = 0; i < held.size(); ++i) CHECK(held[i].key == i);
    try {
        w.try_next();
        FAIL("no overflow reported");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::watch_overflow);
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("missed 17 changes"));
    }
    put_notes(200, 201);
    auto after = drain(w);
    REQUIRE(after.size() == 1);
    CHECK(after[0].key == 200);
    CHECK(after[0].sequence == held.back().sequence + 18);
}

TEST_CASE("watch: changes_since(s) starts right after s for every s: inside a commit's block and at its ends",
          "[watch][log]") {
    netabase_test::temp_dir dir;
    netabase::Store<Def> store{dir.path(), netabase::options{.change_log = true}};
    // Commits of 3, 1 and 2 changes: sequences 1-3, 4 and 5-6, a log block each.
    store.write([](auto& txn) {
        auto t = txn.template open_tree<User>();
        t.put(user(1, 10));
        t.put(user(2, 20));
        t.put(user(3, 30));
    });
    store.write([](auto& txn) { txn.template open_tree<User>().remove(2); });
    store.write([](auto& txn) {
        auto t = txn.template open_tree<User>();
        t.put(user(4, 40));
        t.put(user(1, 11));
    });
    auto txn = store.begin_read();
    for (std::uint64_t s = 0; s <= 7; ++s) {
        INFO("changes_since(" << s << ")");
        std::vector<std::uint64_t> got, want;
        for (const auto& e : txn.changes_since(s)) got.push_back(e.sequence);
        for (std::uint64_t q = s + 1; q <= 6; ++q) want.push_back(q);
        CHECK(got == want);
    }
}
