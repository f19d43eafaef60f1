// Limits and damage: each of netabase's fixed sizes run past (the reader pool's 64 transactions,
// a thread's 8 environment slots, the 4096 lifetime slots), a map that cannot be resized, and
// damage found while reading or while building an index at open (made below the API with raw
// LMDB calls, as tests/test_verify_damaged.cpp does). Each asserts the error it must give (its
// errc and a message naming the table, index and key) and that the store is as it was: the
// raw contents of every database compared before and after.
#include "catch.hpp"
#include "index_model.hpp"
#include "seam_scope.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <lmdb.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace limits_test {

namespace fs = std::filesystem;
using netabase::errc;
using netabase_test::key_bytes;
using netabase_test::raw_env;
using netabase_test::raw_txn;

// ---- models ------------------------------------------------------------------------------

struct Item {
    std::uint64_t id;
    std::string email;    // "items/1": unique
    std::uint32_t group;  // "items/2"
    std::string payload;
};

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("items")
        .primary_key(&Item::id)
        .secondary_key(&Item::email, netabase::unique)
        .secondary_key(&Item::group);
}

using S = netabase::definition<Item>;
using Store = netabase::Store<S>;
using WTxn = netabase::WriteTransaction<S>;
using RTxn = netabase::ReadTransaction<S>;

// A table as one program wrote it (v1), and as a later one declares it, with an index on its
// title (v2): opening with v2 builds the index from the stored rows.
namespace v1 {
struct Doc {
    std::uint64_t id;
    std::string title;
    std::string body;
};
constexpr auto netabase_model(netabase::tag<Doc>) { return netabase::model<Doc>("docs").primary_key(&Doc::id); }
using S = netabase::definition<Doc>;
}  // namespace v1

namespace v2 {
struct Doc {
    std::uint64_t id;
    std::string title;
    std::string body;
};
constexpr auto netabase_model(netabase::tag<Doc>) {
    return netabase::model<Doc>("docs").primary_key(&Doc::id).secondary_key(&Doc::title);  // "docs/1"
}
using S = netabase::definition<Doc>;
}  // namespace v2

// ---- helpers -----------------------------------------------------------------------------

const netabase::options fast{.durability = netabase::durability::no_sync};

Item item(std::uint64_t i) {
    return Item{i, "user" + std::to_string(i) + "@example.com", static_cast<std::uint32_t>(i % 2),
                "payload " + std::to_string(i)};
}

void put_items(Store& store, std::uint64_t from, std::uint64_t to) {
    store.write([&](WTxn& txn) {
        auto t = txn.open_tree<Item>();
        for (std::uint64_t i = from; i <= to; ++i) t.put(item(i));
    });
}

std::size_t item_count(const Store& store) {
    return store.read([](RTxn& txn) { return txn.open_tree<Item>().size(); });
}

bool has(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

// The netabase::error fn throws, if it throws one.
template <class F>
std::optional<netabase::error> thrown(F&& fn) {
    try {
        fn();
    } catch (const netabase::error& e) {
        return e;
    }
    return std::nullopt;
}

// Every named database of the store and its entries, read with raw LMDB (lock-free and
// read-only: only with no write transaction running).
using dump = std::map<std::string, std::vector<std::pair<std::string, std::string>>>;
dump raw_dump(const fs::path& dir) {
    raw_env env(dir, true);
    raw_txn txn(env, true);
    MDB_dbi main = 0;
    raw_env::ok(::mdb_dbi_open(txn.get(), nullptr, 0, &main), "mdb_dbi_open(main)");
    dump out;
    for (const auto& [name, record] : txn.entries(main)) {
        MDB_dbi d = 0;
        int rc = ::mdb_dbi_open(txn.get(), name.c_str(), 0, &d);
        if (rc == MDB_INCOMPATIBLE) {  // a plain entry of the main database
            out[""].emplace_back(name, record);
            continue;
        }
        raw_env::ok(rc, "mdb_dbi_open(" + name + ")");
        out[name] = txn.entries(d);
    }
    return out;
}

bool has_database(const fs::path& dir, const std::string& name) {
    return raw_dump(dir).count(name) != 0;
}

// A read transaction on the heap (transactions do not move).
template <class Def>
struct held_read {
    netabase::ReadTransaction<Def> txn;
    explicit held_read(const netabase::Store<Def>& store) : txn(store.begin_read()) {}
};

// Counts LMDB calls while it lives.
using counting = netabase_test::seam_scope;

// A forked child's end, with its stderr.
struct child_result {
    bool exited = false;
    int code = -1;
    bool signaled = false;
    int sig = 0;
    std::string err;
    std::string describe() const {
        return (signaled ? "died of signal " + std::to_string(sig) : "exited with " + std::to_string(code)) +
               "; its stderr:\n" + err;
    }
};

// Runs fn in a forked child (it opens its own stores: an environment must not cross a fork)
// and exits with what fn returns (100 if it threw).
template <class F>
child_result in_child(F&& fn) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::close(fds[0]);
        ::dup2(fds[1], 2);
        ::close(fds[1]);
        std::signal(SIGABRT, SIG_DFL);  // not Catch's handler: die of the signal itself
        int code = 100;
        try {
            code = fn();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child threw: %s\n", e.what());
        }
        std::fflush(stderr);
        ::_exit(code);
    }
    ::close(fds[1]);
    child_result out;
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
    out.exited = WIFEXITED(status);
    if (out.exited) out.code = WEXITSTATUS(status);
    out.signaled = WIFSIGNALED(status);
    if (out.signaled) out.sig = WTERMSIG(status);
    return out;
}

// A one-byte signal between processes (both ends stay open in every process that has them).
struct channel {
    int fd[2] = {-1, -1};
    channel() {
        if (::pipe(fd) != 0) throw std::runtime_error("pipe");
    }
    ~channel() {
        ::close(fd[0]);
        ::close(fd[1]);
    }
    channel(const channel&) = delete;
    channel& operator=(const channel&) = delete;
    bool send() const { return ::write(fd[1], "x", 1) == 1; }
    bool receive() const {
        char c = 0;
        ssize_t r;
        do {
            r = ::read(fd[0], &c, 1);
        } while (r < 0 && errno == EINTR);
        return r == 1;
    }
};

// ---- index entries whose row is missing --------------------------------------------------

TEST_CASE("limits: index entries whose row is missing: reads through them throw corrupt_value naming table, index "
          "and key",
          "[limits][corrupt]") {
    netabase_test::temp_dir dir;
    {
        Store store{dir.path(), fast};
        put_items(store, 1, 4);
    }
    {  // Row 2 deleted below the API: its entries in both indexes stay.
        raw_env env(dir.path(), false);
        raw_txn txn(env, false);
        MDB_dbi rows = txn.open("items", false);
        std::string k = key_bytes(std::uint64_t{2});
        MDB_val kv{k.size(), k.data()};
        raw_env::ok(::mdb_del(txn.get(), rows, &kv, nullptr), "mdb_del");
        txn.commit();
    }
    const dump before = raw_dump(dir.path());
    REQUIRE(before.at("items").size() == 3);
    REQUIRE(before.at("items/1").size() == 4);
    REQUIRE(before.at("items/2").size() == 4);

    {
        Store store{dir.path(), fast};
        auto check_reads = [](const auto& items) {
            auto by_email = items.index(&Item::email);
            auto by_group = items.index(&Item::group);
            // A unique get of the entry.
            auto e = thrown([&] { (void)by_email.get("user2@example.com"); });
            REQUIRE(e);
            INFO(e->what());
            CHECK(e->code() == errc::corrupt_value);
            CHECK(e->table() == "items");
            CHECK(e->index() == "items/1");
            CHECK(has(e->what(), "index 'items/1' of table 'items' has key \"user2@example.com\" for the row with key 2, "
                                 "which is not there"));
            // A walk of each index reaches it: the rows before it come out, then the error.
            std::vector<std::uint64_t> seen;
            e = thrown([&] {
                for (const auto& g : by_email) seen.push_back(g.key());
            });
            REQUIRE(e);
            CHECK(seen == std::vector<std::uint64_t>{1});
            CHECK(e->code() == errc::corrupt_value);
            CHECK(e->table() == "items");
            CHECK(e->index() == "items/1");
            CHECK(has(e->what(), "index 'items/1' of table 'items' has an entry for key 2, whose row is not there"));
            seen.clear();
            e = thrown([&] {
                for (const auto& g : by_group.equal_range(0)) seen.push_back(g.key());  // rows 2 and 4
            });
            REQUIRE(e);
            CHECK(seen.empty());
            CHECK(e->code() == errc::corrupt_value);
            CHECK(e->index() == "items/2");
            CHECK(has(e->what(), "index 'items/2' of table 'items' has an entry for key 2, whose row is not there"));
            // Everything else reads as before.
            CHECK(items.size() == 3);
            CHECK_FALSE(items.contains(2));
            REQUIRE(by_email.get("user3@example.com"));
            CHECK(by_email.get("user3@example.com")->key() == 3u);
            seen.clear();
            for (const auto& g : by_group.equal_range(1)) seen.push_back(g.key());
            CHECK(seen == std::vector<std::uint64_t>{1, 3});
        };
        {
            auto txn = store.begin_read();
            check_reads(txn.open_tree<Item>());
        }
        {  // The same in a write transaction, which can still commit: the reads wrote nothing.
            auto txn = store.begin_write();
            check_reads(txn.open_tree<Item>());
            txn.commit();
        }
        auto report = store.verify();
        INFO(report.to_string());
        REQUIRE(report.problems.size() == 2);
        for (const auto& p : report.problems) {
            CHECK(p.what == netabase::verify_report::kind::orphan_entry);
            CHECK(p.table == "items");
            CHECK(p.key == "2");
        }
    }
    CHECK(raw_dump(dir.path()) == before);  // the failed reads and verify() changed nothing

    // What the message points to mends it.
    Store store{dir.path(), fast};
    store.rebuild_index<Item>(&Item::email);
    store.rebuild_index<Item>(&Item::group);
    REQUIRE(store.verify().ok());
    auto txn = store.begin_read();
    CHECK_FALSE(txn.open_tree<Item>().index(&Item::email).get("user2@example.com"));
}

// ---- index build at open -------------------------------------------------------------------

TEST_CASE("limits: an index built at open from a row whose key is over LMDB's limit fails with key_too_large "
          "naming the index and key; the store is as it was",
          "[limits][schema]") {
    netabase_test::temp_dir dir;
    const std::string long_title(600, 't');
    {
        netabase::Store<v1::S> store{dir.path(), fast};
        store.write([&](netabase::WriteTransaction<v1::S>& txn) {
            auto docs = txn.open_tree<v1::Doc>();
            docs.put(v1::Doc{1, "short", "a"});
            docs.put(v1::Doc{2, long_title, "b"});
            docs.put(v1::Doc{3, "also short", "c"});
        });
    }
    const dump before = raw_dump(dir.path());
    for (int attempt = 0; attempt < 2; ++attempt) {  // the same each time: nothing was left half-built
        auto e = thrown([&] { netabase::Store<v2::S> store{dir.path(), fast}; });
        REQUIRE(e);
        INFO(e->what());
        CHECK(e->code() == errc::key_too_large);
        CHECK(e->table() == "docs");
        CHECK(e->index() == "docs/1");
        CHECK(has(e->what(), "cannot build index 'docs/1': key \"tttt"));
        CHECK(has(e->what(), "(600 bytes) is over LMDB's key limit"));
        CHECK(raw_dump(dir.path()) == before);
    }
    CHECK_FALSE(has_database(dir.path(), "docs/1"));
    {  // The old program opens and reads it as before.
        netabase::Store<v1::S> store{dir.path(), fast};
        auto txn = store.begin_read();
        auto docs = txn.open_tree<v1::Doc>();
        CHECK(docs.size() == 3);
        REQUIRE(docs.get(2));
        CHECK(docs.get(2)->value().title == long_title);
    }
    CHECK(raw_dump(dir.path()) == before);
    {  // Once the row's title is short enough, the new program builds the index.
        netabase::Store<v1::S> store{dir.path(), fast};
        store.write([](netabase::WriteTransaction<v1::S>& txn) { txn.open_tree<v1::Doc>().put(v1::Doc{2, "mid", "b"}); });
    }
    netabase::Store<v2::S> store{dir.path(), fast};
    auto txn = store.begin_read();
    auto by_title = txn.open_tree<v2::Doc>().index(&v2::Doc::title);
    CHECK(by_title.size() == 3);
    CHECK(by_title.count("mid") == 1);
}

TEST_CASE("limits: an index built at open from a row that does not decode fails with corrupt_value naming the table "
          "and the row; the store is as it was",
          "[limits][schema][corrupt]") {
    netabase_test::temp_dir dir;
    {
        netabase::Store<v1::S> store{dir.path(), fast};
        store.write([](netabase::WriteTransaction<v1::S>& txn) {
            auto docs = txn.open_tree<v1::Doc>();
            for (std::uint64_t i = 1; i <= 3; ++i) docs.put(v1::Doc{i, "title " + std::to_string(i), "body"});
        });
    }
    {  // Row 2's value cut short below the API: its title's length prefix claims more than is left.
        raw_env env(dir.path(), false);
        raw_txn txn(env, false);
        MDB_dbi rows = txn.open("docs", false);
        std::string k = key_bytes(std::uint64_t{2});
        MDB_val kv{k.size(), k.data()}, vv;
        raw_env::ok(::mdb_get(txn.get(), rows, &kv, &vv), "mdb_get");
        std::string cut(static_cast<const char*>(vv.mv_data), 1 + 8 + 4 + 2);  // version, id, length, 2 of 7
        MDB_val cv{cut.size(), cut.data()};
        raw_env::ok(::mdb_put(txn.get(), rows, &kv, &cv, 0), "mdb_put");
        txn.commit();
    }
    const dump before = raw_dump(dir.path());
    auto e = thrown([&] { netabase::Store<v2::S> store{dir.path(), fast}; });
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->code() == errc::corrupt_value);
    CHECK(e->table() == "docs");
    CHECK(has(e->what(), "(building the indexes of table 'docs', at the row with key 2)"));
    CHECK(raw_dump(dir.path()) == before);
    CHECK_FALSE(has_database(dir.path(), "docs/1"));

    // The old program opens it as before; the damaged row says so when read, the others read.
    netabase::Store<v1::S> store{dir.path(), fast};
    auto txn = store.begin_read();
    auto docs = txn.open_tree<v1::Doc>();
    CHECK(docs.size() == 3);
    CHECK(docs.get(1)->value().title == "title 1");
    CHECK(docs.get(3)->value().title == "title 3");
    auto bad = thrown([&] { (void)docs.get(2)->value(); });
    REQUIRE(bad);
    CHECK(bad->code() == errc::corrupt_value);
}

// ---- a map that cannot be resized ----------------------------------------------------------

// A process whose address space has no room for the map size another process set: LMDB unmaps
// the file, then fails to map it at the new size, and leaves the environment with no map. The
// resize must fail with the mmap's error; every later use of that environment must throw (not
// read unmapped memory); once its Stores are closed the store opens again with every commit.
//
// Another process (W) opens the store with a 64 TiB map (address space only) and grows the file
// past the 1 MiB map of this test's process V. V first takes every free stretch of 64 TiB of its
// address space with PROT_NONE reservations, so its mmap of 64 TiB fails with ENOMEM.
TEST_CASE("limits: a map resize that fails leaves a clear error, never an unmapped environment, and the store as it was",
          "[limits][growth][process]") {
    netabase_test::temp_dir dir;
    netabase_test::watchdog guard(std::chrono::seconds(100), "the resize-failure processes");
    constexpr std::size_t huge = std::size_t{64} << 40;
    channel v_ready, w_go, w_done, v_go, report_pipe;  // V -> parent -> W -> parent -> V

    // W: writes 2000 rows of 1 KB (over 2 MB) with a 64 TiB map, once V has opened the store.
    std::fflush(nullptr);
    pid_t w = ::fork();
    if (w == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int code = 0;
        if (!w_go.receive()) ::_exit(40);
        try {
            Store store{dir.path(), netabase::options{.map_size = huge, .durability = netabase::durability::no_sync}};
            store.write([](WTxn& txn) {
                auto t = txn.open_tree<Item>();
                for (std::uint64_t i = 1000; i < 3000; ++i) t.put(Item{i, "w" + std::to_string(i), 0, std::string(1000, 'w')});
            });
        } catch (const std::exception& e) {
            std::fprintf(stderr, "W: %s\n", e.what());
            code = 41;
        }
        if (!w_done.send()) code = 42;
        ::_exit(code);
    }
    REQUIRE(w > 0);

    // V: reports what it saw as "name=value" lines.
    pid_t v = ::fork();
    if (v == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        std::string out;
        auto say = [&](const std::string& name, const std::string& value) { out += name + "=" + value + "\n"; };
        auto say_error = [&](const std::string& name, const netabase::error& e) {
            say(name + ".enomem", e.code() == std::errc::not_enough_memory ? "1" : "0");
            say(name + ".what", e.what());
        };
        int code = 0;
        try {
            std::optional<Store> store;
            store.emplace(dir.path(), netabase::options{.map_size = std::size_t{1} << 20, .durability = netabase::durability::no_sync});
            put_items(*store, 1, 10);
            std::vector<void*> reserved;
            for (;;) {
                void* p = ::mmap(nullptr, huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
                if (p == MAP_FAILED || reserved.size() == 8) break;
                reserved.push_back(p);
            }
            void* probe = ::mmap(nullptr, huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            say("no_room", probe == MAP_FAILED ? "1" : "0");
            if (probe != MAP_FAILED) ::munmap(probe, huge);
            if (!v_ready.send() || !v_go.receive()) ::_exit(50);

            // The read finds the file grown past its map: the resize to W's size fails.
            if (auto e = thrown([&] { (void)item_count(*store); })) say_error("resize", *e);
            // Then every use throws the same clear error.
            if (auto e = thrown([&] { (void)item_count(*store); })) say_error("read", *e);
            if (auto e = thrown([&] { put_items(*store, 11, 11); })) say_error("write", *e);
            if (auto e = thrown([&] { (void)store->map_size(); })) say_error("map_size", *e);
            if (auto e = thrown([&] { Store beside{dir.path()}; })) say_error("open_beside", *e);

            for (void* p : reserved) ::munmap(p, huge);
            store.reset();  // its environment goes with its last Store
            Store again{dir.path()};
            say("rows_after", std::to_string(item_count(again)));
            say("verify_after", again.verify().ok() ? "ok" : again.verify().to_string());
            auto txn = again.begin_read();
            auto g = txn.open_tree<Item>().get(10);
            say("row10", g ? g->value().email : "missing");
        } catch (const std::exception& e) {
            std::fprintf(stderr, "V: %s\n", e.what());
            code = 51;
        }
        if (::write(report_pipe.fd[1], out.data(), out.size()) != static_cast<ssize_t>(out.size())) code = 52;
        ::_exit(code);
    }
    REQUIRE(v > 0);

    REQUIRE(v_ready.receive());  // V has its store open with a 1 MiB map, and no room for 64 TiB
    REQUIRE(w_go.send());
    REQUIRE(w_done.receive());  // W grew the file past V's map
    REQUIRE(v_go.send());
    int ws = 0, vs = 0;
    REQUIRE(::waitpid(w, &ws, 0) == w);
    REQUIRE(::waitpid(v, &vs, 0) == v);
    CHECK(WIFEXITED(ws));
    CHECK(WEXITSTATUS(ws) == 0);
    CHECK(WIFEXITED(vs));
    CHECK(WEXITSTATUS(vs) == 0);

    ::close(report_pipe.fd[1]);  // V and W have exited: the pipe holds all V wrote, then ends
    report_pipe.fd[1] = -1;
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(report_pipe.fd[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    std::map<std::string, std::string> seen;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (auto eq = line.find('='); eq != std::string::npos) seen[line.substr(0, eq)] = line.substr(eq + 1);
    INFO("V saw:\n" << text);

    REQUIRE(seen["no_room"] == "1");  // its address space had no 64 TiB left
    CHECK(seen["resize.enomem"] == "1");
    CHECK(has(seen["resize.what"], "cannot resize the map of " + dir.path().string() + " from 1048576 bytes to the size "
                                                                                       "another process set"));
    CHECK(has(seen["resize.what"], "close every Store of " + dir.path().string() + " and open it again"));
    for (const char* use : {"read", "write", "map_size", "open_beside"}) {
        INFO(use);
        CHECK(seen[std::string(use) + ".enomem"] == "1");
        CHECK(has(seen[std::string(use) + ".what"], "the store at " + dir.path().string() +
                                                        " cannot be used in this process: a resize of its map failed"));
    }
    CHECK(seen["rows_after"] == "2010");  // V's 10 rows and W's 2000
    CHECK(seen["verify_after"] == "ok");
    CHECK(seen["row10"] == item(10).email);
}

// ---- the reader pool -------------------------------------------------------------------------

// An environment keeps up to 64 ended read transactions, reset, with their cursors, for the
// next begin_read; past that, an ended one is aborted and its cursors closed. Counted through
// the LMDB seam: a pooled transaction is renewed (no mdb_txn_begin) with its cursor (no
// mdb_cursor_open). max_readers is 70, so a closed transaction that kept its reader slot
// would make a later round fail with MDB_READERS_FULL.
TEST_CASE("limits: more than 64 read transactions ended at once: 64 stay pooled with their cursors, the rest close",
          "[limits][transaction]") {
    netabase_test::temp_dir dir;
    Store store{dir.path(), netabase::options{.durability = netabase::durability::no_sync, .max_readers = 70}};
    put_items(store, 1, 3);
    using netabase::detail::call;
    auto round = [&](std::size_t n) {
        counting c;
        std::size_t read = 0;
        {
            std::vector<std::unique_ptr<held_read<S>>> held;
            for (std::size_t i = 0; i < n; ++i) {
                held.push_back(std::make_unique<held_read<S>>(store));
                auto g = held.back()->txn.open_tree<Item>().get(1);
                if (g && g->value().email == item(1).email) ++read;
            }
        }  // all ended here
        CHECK(read == n);
        return std::pair{c.count(call::txn_begin), c.count(call::cursor_open)};
    };
    using counts = std::pair<std::size_t, std::size_t>;
    CHECK(round(70) == counts{70, 70});  // nothing pooled yet
    CHECK(round(70) == counts{6, 6});    // 64 from the pool, 6 new
    CHECK(round(70) == counts{6, 6});    // the 6 closed last time gave their slots back
    CHECK(round(64) == counts{0, 0});
    CHECK(item_count(store) == 3);
}

// ---- more environments than a thread's slots -----------------------------------------------

// A thread counts its transactions per environment in 8 slots; past 8 environments it counts
// the rest together, for all of them. A map resize must wait for every transaction on its
// environment, so a thread whose count for it is not known refuses to resize (it could be
// waiting for itself): store.write throws map_full and leaves the store as it was.
TEST_CASE("limits: a thread with transactions on more than 8 stores: a growth it cannot rule out is refused with "
          "map_full",
          "[limits][growth]") {
    netabase_test::temp_dir dir;
    const fs::path grow_dir = dir / "grow";
    Store grow{grow_dir, netabase::options{.map_size = std::size_t{1} << 20, .durability = netabase::durability::no_sync}};
    put_items(grow, 1, 3);
    std::vector<Store> others;
    for (int i = 0; i < 9; ++i) {
        others.emplace_back(dir / ("other" + std::to_string(i)), fast);
        put_items(others.back(), 1, 1);
    }
    auto big = [](WTxn& txn) {  // over 2 MB: the 1 MiB map must grow
        auto t = txn.open_tree<Item>();
        for (std::uint64_t i = 100; i < 2100; ++i) t.put(Item{i, "big" + std::to_string(i), 0, std::string(1000, 'b')});
    };
    std::vector<std::unique_ptr<held_read<S>>> held;
    for (auto& s : others) held.push_back(std::make_unique<held_read<S>>(s));  // the ninth is counted apart

    const std::size_t map = grow.map_size();
    const dump before = raw_dump(grow_dir);
    auto e = thrown([&] { grow.write(big); });
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->code() == errc::map_full);
    CHECK(has(e->what(), "the map of " + grow_dir.string() + " must be resized, but this thread still holds "
                                                             "transactions on more than 8 stores at once"));
    CHECK(grow.map_size() == map);
    CHECK(item_count(grow) == 3);
    CHECK(raw_dump(grow_dir) == before);
    for (auto& h : held) CHECK(h->txn.open_tree<Item>().size() == 1);

    held.pop_back();  // 8 left, one per slot: the growth can see none is on its store
    grow.write(big);
    CHECK(grow.map_size() > map);
    CHECK(item_count(grow) == 2003);
    for (auto& h : held) CHECK(h->txn.open_tree<Item>().size() == 1);
}

// ---- more live transactions than lifetime slots ----------------------------------------------

// The lifetime checks (NETABASE_CHECK_LIFETIMES) give each live transaction one of 4096 slots
// (slot 0 unused). A transaction begun with none free is not checked, and works; a slot given
// back is used again, and checked again. Run in a child: a checked misuse aborts it.
TEST_CASE("limits: more live transactions than lifetime slots: the extra ones work unchecked, freed slots check again",
          "[limits][lifetime]") {
    netabase_test::temp_dir dir;
    const fs::path path = dir / "db";
    child_result r = in_child([&]() -> int {
        Store store{path, netabase::options{.durability = netabase::durability::no_sync, .max_readers = 4300}};
        put_items(store, 1, 3);
        std::size_t n = 4100;  // more than the slots, with or without the checks
#if NETABASE_CHECK_LIFETIMES
        auto& reg = netabase::detail::lifetime_registry::get();
        auto free_slots = [&] {
            std::lock_guard lock(reg.mu);
            return reg.free.size() + (netabase::detail::lifetime_slot_count - reg.next_unused);
        };
        n = free_slots();  // every free slot, exactly
        if (n == 0 || n > netabase::detail::lifetime_slot_count) return 10;
#endif
        std::vector<std::unique_ptr<held_read<S>>> held;
        for (std::size_t i = 0; i < n; ++i) held.push_back(std::make_unique<held_read<S>>(store));
        for (auto& h : held)
            if (h->txn.open_tree<Item>().size() != 3) return 11;
#if NETABASE_CHECK_LIFETIMES
        if (free_slots() != 0) return 12;
        {  // One more: no slot left, so it goes unchecked, and works.
            auto extra = store.begin_read();
            auto g = extra.open_tree<Item>().get(1);
            if (!g || g->value().email != item(1).email) return 13;
            extra.abort();
            // Its guard used after it ended is not caught (its bytes are still mapped).
            std::fprintf(stderr, "unchecked: key %llu\n", static_cast<unsigned long long>(g->key()));
        }
        held.pop_back();  // gives a slot back
        if (free_slots() != 1) return 14;
        auto again = store.begin_read();
        auto g = again.open_tree<Item>().get(2);
        if (!g) return 15;
        again.abort();
        std::fprintf(stderr, "checked again\n");
        std::fflush(stderr);
        (void)g->key();  // aborts
        return 16;
#else
        std::fprintf(stderr, "%zu read transactions at once\n", held.size());
        return 0;
#endif
    });
    INFO("child " << r.describe());
#if NETABASE_CHECK_LIFETIMES
    CHECK(r.signaled);
    CHECK(r.sig == SIGABRT);
    CHECK(has(r.err, "unchecked: key 1\n"));
    CHECK(has(r.err, "checked again\n"));
    CHECK(has(r.err, "netabase: lifetime rule broken: a netabase::Guard was used after its transaction ended"));
#else
    CHECK(r.exited);
    CHECK(r.code == 0);
    CHECK(has(r.err, "4100 read transactions at once"));
#endif
}

}  // namespace limits_test
