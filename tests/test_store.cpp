// Store: opening and creating directories, reopening, sharing one environment per file,
// temporary stores, options, schema fingerprints, bad files, map growth, multiple processes.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace store_test {

namespace fs = std::filesystem;

// ---- models ------------------------------------------------------------------------------

struct Thing {
    std::uint64_t id;
    std::string name;
    std::uint32_t n;
};
constexpr auto netabase_model(netabase::tag<Thing>) { return netabase::model<Thing>("things").primary_key(&Thing::id); }

struct Blob {
    std::uint64_t id;
    std::string data;
};
constexpr auto netabase_model(netabase::tag<Blob>) { return netabase::model<Blob>("blobs").primary_key(&Blob::id); }

using S = netabase::definition<Thing, Blob>;

// "things" again, with one more field in the middle (appended at the end it would be an upgrade).
struct ThingExtra {
    std::uint64_t id;
    std::string name;
    std::string extra;
    std::uint32_t n;
};
constexpr auto netabase_model(netabase::tag<ThingExtra>) {
    return netabase::model<ThingExtra>("things").primary_key(&ThingExtra::id);
}
using SExtra = netabase::definition<ThingExtra>;

// "things" again, same fields, but keyed by name (primary key type u64 -> string).
struct ThingByName {
    std::uint64_t id;
    std::string name;
    std::uint32_t n;
};
constexpr auto netabase_model(netabase::tag<ThingByName>) {
    return netabase::model<ThingByName>("things").primary_key(&ThingByName::name);
}
using SByName = netabase::definition<ThingByName>;

// "things" again, the primary key field narrowed to 32 bits.
struct ThingId32 {
    std::uint32_t id;
    std::string name;
    std::uint32_t n;
};
constexpr auto netabase_model(netabase::tag<ThingId32>) {
    return netabase::model<ThingId32>("things").primary_key(&ThingId32::id);
}
using SId32 = netabase::definition<ThingId32>;

// "people": V1 without secondary keys, V2 adds one on age, V3 adds a unique one on name.
struct PersonV1 {
    std::uint64_t id;
    std::string name;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<PersonV1>) {
    return netabase::model<PersonV1>("people").primary_key(&PersonV1::id);
}
using SV1 = netabase::definition<PersonV1>;

struct PersonV2 {
    std::uint64_t id;
    std::string name;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<PersonV2>) {
    return netabase::model<PersonV2>("people").primary_key(&PersonV2::id).secondary_key(&PersonV2::age);
}
using SV2 = netabase::definition<PersonV2>;

struct PersonV3 {
    std::uint64_t id;
    std::string name;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<PersonV3>) {
    return netabase::model<PersonV3>("people")
        .primary_key(&PersonV3::id)
        .secondary_key(&PersonV3::age)
        .secondary_key(&PersonV3::name, netabase::unique);
}
using SV3 = netabase::definition<PersonV3>;

// ---- helpers -----------------------------------------------------------------------------

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

template <class Def>
std::size_t thing_count(const netabase::Store<Def>& store) {
    return store.read([](netabase::ReadTransaction<Def>& txn) { return txn.template open_tree<Thing>().size(); });
}

void put_thing(netabase::Store<S>& store, std::uint64_t id, const std::string& name) {
    store.write([&](netabase::WriteTransaction<S>& txn) {
        txn.open_tree<Thing>().put(Thing{id, name, static_cast<std::uint32_t>(id)});
    });
}

std::optional<std::string> thing_name(const netabase::Store<S>& store, std::uint64_t id) {
    return store.read([&](netabase::ReadTransaction<S>& txn) -> std::optional<std::string> {
        auto g = txn.open_tree<Thing>().get(id);
        if (!g) return std::nullopt;
        return g->value().name;
    });
}

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

// A forked child running fn; killed and reaped if the parent leaves early.
class child_process {
public:
    explicit child_process(const std::function<int()>& fn) {
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            int code = 100;
            try {
                code = fn();
            } catch (...) {
                code = 101;
            }
            ::_exit(code);
        }
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
        }
    }

    pid_t pid() const { return pid_; }

    // The child's exit code, or -1 if it did not exit normally.
    int wait() {
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, 0);
        pid_ = -1;
        if (r < 0 || !WIFEXITED(st)) return -1;
        return WEXITSTATUS(st);
    }

private:
    pid_t pid_ = -1;
};

// One-shot signal between processes.
class pipe_signal {
public:
    pipe_signal() { REQUIRE(::pipe(fd_) == 0); }
    pipe_signal(const pipe_signal&) = delete;
    pipe_signal& operator=(const pipe_signal&) = delete;
    ~pipe_signal() {
        close_read();
        close_write();
    }
    void close_read() {
        if (fd_[0] >= 0) ::close(fd_[0]);
        fd_[0] = -1;
    }
    void close_write() {
        if (fd_[1] >= 0) ::close(fd_[1]);
        fd_[1] = -1;
    }
    bool send() {
        char c = 'x';
        bool ok = ::write(fd_[1], &c, 1) == 1;
        close_write();
        return ok;
    }
    // Whether a byte was sent and not yet received (without waiting).
    bool ready() const {
        pollfd p{fd_[0], POLLIN, 0};
        return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
    }
    // true when the other side sent, false when it closed without sending.
    bool receive() {
        char c = 0;
        close_write();
        ssize_t r;
        do {
            r = ::read(fd_[0], &c, 1);
        } while (r < 0 && errno == EINTR);
        return r == 1;
    }

private:
    int fd_[2] = {-1, -1};
};

// Converts to a ReadTransaction in place: lets containers hold the non-movable transactions.
struct reader {
    const netabase::Store<S>& store;
    operator netabase::ReadTransaction<S>() const { return store.begin_read(); }
};

std::vector<Blob> blobs(std::uint64_t from, std::uint64_t count, std::size_t bytes) {
    std::vector<Blob> out;
    out.reserve(count);
    for (std::uint64_t i = from; i < from + count; ++i)
        out.push_back(Blob{i, std::string(bytes, static_cast<char>('a' + i % 26))});
    return out;
}

// ---- directories and reopening ----------------------------------------------------------

TEST_CASE("store: a missing directory is created including nested paths", "[store]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "a" / "b" / "c";
    REQUIRE_FALSE(fs::exists(dir));
    {
        netabase::Store<S> store{dir};
        CHECK(fs::is_directory(dir));
        CHECK(fs::exists(dir / "data.mdb"));
        CHECK(fs::equivalent(store.path(), dir));
        put_thing(store, 1, "one");
        CHECK(thing_name(store, 1) == "one");
    }
    CHECK(fs::is_directory(dir));
}

TEST_CASE("store: an existing empty directory is used as is", "[store]") {
    netabase_test::temp_dir tmp;
    netabase::Store<S> store{tmp.path()};
    CHECK(fs::exists(tmp / "data.mdb"));
    CHECK(thing_count(store) == 0);
}

TEST_CASE("store: data survives closing and reopening", "[store]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<S> store{dir};
        store.write([](netabase::WriteTransaction<S>& txn) {
            auto things = txn.open_tree<Thing>();
            for (std::uint64_t i = 0; i < 50; ++i) things.put(Thing{i, "t" + std::to_string(i), 7});
            txn.open_tree<Blob>().put(Blob{9, "blob"});
        });
    }
    {
        netabase::Store<S> store{dir};
        store.read([](netabase::ReadTransaction<S>& txn) {
            auto things = txn.open_tree<Thing>();
            REQUIRE(things.size() == 50);
            auto g = things.get(42);
            REQUIRE(g);
            CHECK(g->value().name == "t42");
            auto b = txn.open_tree<Blob>().get(9);
            REQUIRE(b);
            CHECK(b->value().data == "blob");
        });
        // Uncommitted work of this session must not appear after the next reopen.
        {
            auto txn = store.begin_write();
            txn.open_tree<Thing>().put(Thing{1000, "lost", 0});
        }
        put_thing(store, 51, "kept");
    }
    {
        netabase::Store<S> store{dir};
        CHECK(thing_count(store) == 51);
        CHECK(thing_name(store, 51) == "kept");
        CHECK_FALSE(thing_name(store, 1000));
    }
}

// ---- one environment per file per process -----------------------------------------------

TEST_CASE("store: two Stores on one path share an environment and each other's commits", "[store]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "shared";
    const netabase::options fast{.durability = netabase::durability::no_sync};  // many commits, no fsync
    netabase::Store<S> a{dir, fast};
    netabase::Store<S> b{dir, fast};

    put_thing(a, 1, "from a");
    CHECK(thing_name(b, 1) == "from a");
    put_thing(b, 2, "from b");
    CHECK(thing_name(a, 2) == "from b");

    // Interleaved explicit transactions, alternating between the two objects.
    for (std::uint64_t i = 10; i < 40; ++i) {
        netabase::Store<S>& s = (i % 2) ? a : b;
        auto txn = s.begin_write();
        auto things = txn.open_tree<Thing>();
        REQUIRE(things.size() == i - 10 + 2);
        things.put(Thing{i, "i", 0});
        txn.commit();
    }
    CHECK(thing_count(a) == 32);
    CHECK(thing_count(b) == 32);

    SECTION("one writer per environment: a write open through a blocks a second one through b on this thread") {
        auto txn = a.begin_write();
        try {
            auto other = b.begin_write();
            FAIL("a second write transaction on the same thread and file did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::busy);
        }
        txn.open_tree<Thing>().put(Thing{100, "still fine", 0});
        txn.commit();
        CHECK(thing_name(b, 100) == "still fine");
    }

    SECTION("the same directory under another spelling is the same environment") {
        fs::create_directory_symlink(dir, tmp / "link");
        netabase::Store<S> c{tmp / "link"};
        netabase::Store<S> d{dir / "."};
        put_thing(c, 200, "via link");
        CHECK(thing_name(a, 200) == "via link");
        CHECK(thing_name(d, 200) == "via link");
        auto txn = d.begin_write();
        CHECK_THROWS_AS(c.begin_write(), netabase::error);
        txn.commit();
    }

    SECTION("writers on two threads through two Store objects serialise") {
        constexpr int per_thread = 100;
        std::atomic<int> failures{0};
        auto run = [&](netabase::Store<S>& s, std::uint64_t base) {
            try {
                for (int i = 0; i < per_thread; ++i) {
                    if (i % 2) {
                        put_thing(s, base + static_cast<std::uint64_t>(i), "t");
                    } else {
                        auto txn = s.begin_write();
                        auto things = txn.open_tree<Thing>();
                        std::size_t before = things.size();
                        things.put(Thing{base + static_cast<std::uint64_t>(i), "t", 0});
                        if (things.size() != before + 1) ++failures;
                        txn.commit();
                    }
                }
            } catch (...) {
                ++failures;
            }
        };
        std::thread t1(run, std::ref(a), 1000);
        std::thread t2(run, std::ref(b), 2000);
        t1.join();
        t2.join();
        CHECK(failures == 0);
        CHECK(thing_count(a) == 32 + 2 * per_thread);
        CHECK(thing_count(b) == 32 + 2 * per_thread);
    }

    SECTION("closing one Store leaves the other working, and a new one joins") {
        {
            netabase::Store<S> c{dir};
            put_thing(c, 300, "c");
        }
        put_thing(a, 301, "a");
        netabase::Store<S> d{dir};
        CHECK(thing_name(d, 300) == "c");
        CHECK(thing_name(d, 301) == "a");
        put_thing(d, 302, "d");
        CHECK(thing_name(b, 302) == "d");
    }
}

TEST_CASE("store: a Store destroyed and reopened many times in a row", "[store]") {
    netabase_test::temp_dir tmp;
    for (std::uint64_t i = 0; i < 20; ++i) {
        netabase::Store<S> s{tmp / "db"};
        REQUIRE(thing_count(s) == i);
        put_thing(s, i, "x");
    }
    netabase::Store<S> s{tmp / "db"};
    CHECK(thing_count(s) == 20);
}

// ---- temporary stores -------------------------------------------------------------------

TEST_CASE("store: temporary() exists while alive and is removed after", "[store]") {
    fs::path where;
    {
        auto store = netabase::Store<S>::temporary();
        where = store.path();
        REQUIRE_FALSE(where.empty());
        CHECK(fs::is_directory(where));
        CHECK(fs::exists(where / "data.mdb"));
        put_thing(store, 1, "tmp");
        CHECK(thing_name(store, 1) == "tmp");

        // A move keeps it alive; only the last owner removes it.
        auto moved = std::move(store);
        CHECK(fs::is_directory(where));
        CHECK(thing_name(moved, 1) == "tmp");
    }
    CHECK_FALSE(fs::exists(where));

    auto a = netabase::Store<S>::temporary();
    auto b = netabase::Store<S>::temporary();
    CHECK_FALSE(fs::equivalent(a.path(), b.path()));
    put_thing(a, 1, "a");
    CHECK(thing_count(b) == 0);
}

TEST_CASE("store: temporary() leaves nothing behind when the open fails", "[store]") {
    netabase_test::temp_dir tmp;
    fs::path base = tmp / "tmpdir";
    fs::create_directory(base);
    // temporary() creates its directory under $TMPDIR: point that at an empty directory.
    struct restore_tmpdir {
        std::optional<std::string> old;
        restore_tmpdir() {
            if (const char* v = ::getenv("TMPDIR")) old = v;
        }
        ~restore_tmpdir() {
            if (old)
                ::setenv("TMPDIR", old->c_str(), 1);
            else
                ::unsetenv("TMPDIR");
        }
    } restore;
    REQUIRE(::setenv("TMPDIR", base.c_str(), 1) == 0);
    REQUIRE(fs::equivalent(fs::temp_directory_path(), base));

    // A read-only store in a fresh directory cannot open: there is nothing to read.
    CHECK_THROWS_AS(netabase::Store<S>::temporary(netabase::options{.read_only = true}), netabase::error);
    std::vector<std::string> left;
    for (const auto& entry : fs::directory_iterator(base)) left.push_back(entry.path().string());
    INFO("left behind: " << (left.empty() ? std::string() : left.front()));
    CHECK(left.empty());

    // The successful case, for comparison: nothing more is left after it.
    { auto ok = netabase::Store<S>::temporary(); }
    std::size_t after = 0;
    for (const auto& entry : fs::directory_iterator(base)) (void)entry, ++after;
    CHECK(after == left.size());
}

TEST_CASE("store: temporary() takes options", "[store]") {
    auto store = netabase::Store<S>::temporary(netabase::options{.map_size = std::size_t{8} << 20});
    CHECK(store.map_size() >= (std::size_t{8} << 20));
    put_thing(store, 1, "x");
    CHECK(thing_count(store) == 1);
}

TEST_CASE("store: a moved-from Store throws instead of crashing", "[store]") {
    auto a = netabase::Store<S>::temporary();
    auto b = std::move(a);
    put_thing(b, 1, "b");
    try {
        (void)a.begin_read();  // NOLINT(bugprone-use-after-move): the point of the test
        FAIL("begin_read on a moved-from store did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::invalid_argument);
    }
}

// ---- options ----------------------------------------------------------------------------

TEST_CASE("store: options.map_size is honoured", "[store][options]") {
    netabase_test::temp_dir tmp;
    const std::size_t want = std::size_t{64} << 20;
    netabase::Store<S> store{tmp / "db", netabase::options{.map_size = want}};
    CHECK(store.map_size() >= want);
    CHECK(store.map_size() < 2 * want);  // not silently the 1 GiB default

    netabase::Store<S> big{tmp / "db2", netabase::options{.map_size = std::size_t{3} << 30}};
    CHECK(big.map_size() >= (std::size_t{3} << 30));
}

TEST_CASE("store: read-only open of an existing store", "[store][options]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<S> store{dir};
        put_thing(store, 1, "one");
        put_thing(store, 2, "two");
    }
    netabase::Store<S> ro{dir, netabase::options{.read_only = true}};
    CHECK(thing_count(ro) == 2);
    CHECK(thing_name(ro, 2) == "two");
    {
        auto txn = ro.begin_read();
        auto things = txn.open_tree<Thing>();
        std::uint64_t expect = 1;
        for (const auto& row : things) CHECK(row.key() == expect++);
        CHECK(expect == 3);
    }

    try {
        auto txn = ro.begin_write();
        FAIL("begin_write on a read-only store did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::read_only);
    }
    try {
        ro.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Thing>().put(Thing{3, "no", 0}); });
        FAIL("store.write on a read-only store did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::read_only);
    }
    CHECK(thing_count(ro) == 2);
    // Still readable after the refusals.
    CHECK(thing_name(ro, 1) == "one");
}

TEST_CASE("store: read-only Store while the same process has the store open read-write", "[store][options]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    netabase::Store<S> rw{dir};
    put_thing(rw, 1, "one");

    // The open succeeds: the read-only Store shares the process's read-write environment (one
    // environment per file per process) and refuses writes itself.
    std::optional<netabase::Store<S>> ro;
    try {
        ro.emplace(dir, netabase::options{.read_only = true});
    } catch (const netabase::error& e) {
        FAIL("read-only open beside a read-write Store of the same process failed: " << e.what());
    }
    CHECK(thing_name(*ro, 1) == "one");
    try {
        auto txn = ro->begin_write();
        txn.open_tree<Thing>().put(Thing{2, "written through a read-only store", 0});
        txn.commit();
        FAIL("begin_write through a Store opened with read_only = true succeeded");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::read_only);
        CHECK(contains(e.what(), "opened read-only"));
    }
    try {
        ro->write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Thing>().put(Thing{2, "no", 0}); });
        FAIL("store.write through a Store opened with read_only = true succeeded");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::read_only);
    }
    CHECK_FALSE(thing_name(rw, 2));
    // It reads what the read-write Store commits later: the same environment.
    put_thing(rw, 3, "three");
    CHECK(thing_name(*ro, 3) == "three");
    CHECK(thing_count(*ro) == 2);
}

TEST_CASE("store: read-write open while the same process has the store open read-only is refused",
          "[store][options]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<S> create{dir};
        put_thing(create, 1, "one");
    }
    netabase::Store<S> ro{dir, netabase::options{.read_only = true}};
    try {
        netabase::Store<S> rw{dir};
        FAIL("a read-write open beside a read-only environment of the same process succeeded");
    } catch (const netabase::error& e) {
        INFO(e.what());
        CHECK(e.code() == netabase::errc::read_only);
        CHECK(contains(e.what(), "cannot open " + dir.string() + " read-write"));
        CHECK(contains(e.what(), "already has it open read-only"));
    }
    // The read-only Store is as it was, and still refuses writes.
    CHECK(thing_count(ro) == 1);
    CHECK(thing_name(ro, 1) == "one");
    CHECK_THROWS_AS(ro.begin_write(), netabase::error);
    {  // A second read-only open shares it.
        netabase::Store<S> ro2{dir, netabase::options{.read_only = true}};
        CHECK(thing_name(ro2, 1) == "one");
    }
    // Once every read-only Store of it is closed, a read-write open works.
    { netabase::Store<S> gone = std::move(ro); }
    netabase::Store<S> rw{dir};
    put_thing(rw, 2, "two");
    CHECK(thing_count(rw) == 2);
}

TEST_CASE("store: read-only open of a store that was never created is an error", "[store][options]") {
    netabase_test::temp_dir tmp;

    SECTION("missing directory") {
        fs::path dir = tmp / "never" / "created";
        CHECK_THROWS_AS(netabase::Store<S>(dir, netabase::options{.read_only = true}), netabase::error);
        CHECK_FALSE(fs::exists(dir));
    }
    SECTION("empty directory") {
        fs::path dir = tmp / "empty";
        fs::create_directory(dir);
        CHECK_THROWS_AS(netabase::Store<S>(dir, netabase::options{.read_only = true}), netabase::error);
    }
    SECTION("a store of other tables: ours are not there") {
        fs::path dir = tmp / "other";
        { netabase::Store<SV1> other{dir}; }
        try {
            netabase::Store<S> ro{dir, netabase::options{.read_only = true}};
            FAIL("read-only open of a store without our tables did not throw");
        } catch (const netabase::error& e) {
            CHECK(contains(e.what(), "things"));
        }
    }
}

TEST_CASE("store: file_mode 0600 applies to the files created", "[store][options]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<S> store{dir, netabase::options{.file_mode = 0600}};
        put_thing(store, 1, "x");
    }
    struct ::stat st {};
    REQUIRE(::stat((dir / "data.mdb").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat((dir / "lock.mdb").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    // Another mode, less the process umask as for any created file.
    const ::mode_t mask = ::umask(0);
    ::umask(mask);
    fs::path dir2 = tmp / "db2";
    { netabase::Store<S> store{dir2, netabase::options{.file_mode = 0640}}; }
    REQUIRE(::stat((dir2 / "data.mdb").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == (0640 & ~mask));
}

TEST_CASE("store: durability no_sync with sync() and reopen", "[store][options]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<S> store{dir, netabase::options{.durability = netabase::durability::no_sync}};
        for (std::uint64_t i = 0; i < 20; ++i) put_thing(store, i, "n" + std::to_string(i));
        REQUIRE_NOTHROW(store.sync());
        put_thing(store, 20, "after sync");
        REQUIRE_NOTHROW(store.sync());
    }
    {
        netabase::Store<S> store{dir, netabase::options{.durability = netabase::durability::no_meta_sync}};
        CHECK(thing_count(store) == 21);
        CHECK(thing_name(store, 20) == "after sync");
        put_thing(store, 21, "meta");
        REQUIRE_NOTHROW(store.sync());
    }
    netabase::Store<S> store{dir};
    CHECK(thing_count(store) == 22);
    CHECK(thing_name(store, 21) == "meta");
}

// ---- schema fingerprints ----------------------------------------------------------------

TEST_CASE("store: changed fields are a schema_mismatch naming the table", "[store][schema]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<S> store{dir};
        put_thing(store, 1, "one");
    }
    try {
        netabase::Store<SExtra> changed{dir};
        FAIL("opening with an extra field did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::schema_mismatch);
        CHECK(e.table() == "things");
        CHECK(contains(e.what(), "things"));
    }
    // Refusing changed nothing: the old model still opens and reads.
    netabase::Store<S> store{dir};
    CHECK(thing_name(store, 1) == "one");
}

TEST_CASE("store: a changed primary key is a schema_mismatch naming the table", "[store][schema]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<S> store{dir};
        put_thing(store, 1, "one");
    }
    SECTION("same fields, primary key moved to a string field") {
        try {
            netabase::Store<SByName> changed{dir};
            FAIL("opening with another primary key did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::schema_mismatch);
            CHECK(e.table() == "things");
            CHECK(contains(e.what(), "things"));
        }
    }
    SECTION("primary key field narrowed from u64 to u32") {
        try {
            netabase::Store<SId32> changed{dir};
            FAIL("opening with a narrower primary key did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::schema_mismatch);
            CHECK(e.table() == "things");
            CHECK(contains(e.what(), "things"));
        }
    }
    SECTION("also read-only") {
        try {
            netabase::Store<SByName> changed{dir, netabase::options{.read_only = true}};
            FAIL("read-only opening with another primary key did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::schema_mismatch);
            CHECK(e.table() == "things");
        }
    }
    netabase::Store<S> store{dir};
    CHECK(thing_name(store, 1) == "one");
}

TEST_CASE("store: adding a secondary key builds its index on open", "[store][schema]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<SV1> v1{dir};
        v1.write([](netabase::WriteTransaction<SV1>& txn) {
            auto people = txn.open_tree<PersonV1>();
            for (std::uint64_t i = 0; i < 30; ++i)
                people.put(PersonV1{i, "p" + std::to_string(i), static_cast<std::uint32_t>(20 + i % 3)});
        });
    }
    {
        netabase::Store<SV2> v2{dir};
        v2.read([](netabase::ReadTransaction<SV2>& txn) {
            auto people = txn.open_tree<PersonV2>();
            CHECK(people.size() == 30);
            auto by_age = people.index(&PersonV2::age);
            CHECK(by_age.size() == 30);
            CHECK(by_age.count(20) == 10);
            CHECK(by_age.count(21) == 10);
            CHECK(by_age.count(22) == 10);
            CHECK(by_age.count(23) == 0);
            std::vector<std::uint64_t> ids;
            for (const auto& row : by_age.equal_range(21)) {
                CHECK(row.value().age == 21);
                ids.push_back(row.key());
            }
            CHECK(ids == std::vector<std::uint64_t>{1, 4, 7, 10, 13, 16, 19, 22, 25, 28});
            CHECK(people.get_by_secondary_key(&PersonV2::age, 22u).size() == 10);
        });
        // New writes through V2 keep the built index up to date.
        v2.write([](netabase::WriteTransaction<SV2>& txn) {
            auto people = txn.open_tree<PersonV2>();
            people.put(PersonV2{100, "new", 23});
            people.update(0, [](PersonV2& p) { p.age = 23; });
        });
        v2.read([](netabase::ReadTransaction<SV2>& txn) {
            auto by_age = txn.open_tree<PersonV2>().index(&PersonV2::age);
            CHECK(by_age.count(23) == 2);
            CHECK(by_age.count(20) == 9);
        });
    }
    // Reopening V2 does not rebuild or duplicate anything.
    {
        netabase::Store<SV2> v2{dir};
        CHECK(v2.read([](netabase::ReadTransaction<SV2>& txn) {
            return txn.open_tree<PersonV2>().index(&PersonV2::age).size();
        }) == 31);
    }
    // Back to V1 (index dropped), rows written there, then V2 again: the index matches the rows.
    {
        netabase::Store<SV1> v1{dir};
        v1.write([](netabase::WriteTransaction<SV1>& txn) {
            auto people = txn.open_tree<PersonV1>();
            people.put(PersonV1{200, "while v1", 23});
            people.remove(1);  // was age 21
        });
    }
    {
        netabase::Store<SV2> v2{dir};
        v2.read([](netabase::ReadTransaction<SV2>& txn) {
            auto people = txn.open_tree<PersonV2>();
            auto by_age = people.index(&PersonV2::age);
            CHECK(people.size() == 31);
            CHECK(by_age.size() == 31);
            CHECK(by_age.count(23) == 3);
            CHECK(by_age.count(21) == 9);
            for (const auto& row : by_age) CHECK(people.contains(row.key()));
        });
    }
}

TEST_CASE("store: a new index is built on open even when the data filled the map_size asked for",
          "[store][schema][map]") {
    // The map grew in store.write; the next run opens with the same small map_size and a new
    // secondary key. The opening transaction must find room for the index like store.write does.
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    const netabase::options small{.map_size = std::size_t{1} << 20};
    {
        netabase::Store<SV1> v1{dir, small};
        v1.write([](netabase::WriteTransaction<SV1>& txn) {
            auto people = txn.open_tree<PersonV1>();
            for (std::uint64_t i = 0; i < 4000; ++i)
                people.put(PersonV1{i, std::string(1000, 'n'), static_cast<std::uint32_t>(i % 10)});
        });
        REQUIRE(v1.map_size() > small.map_size);
    }
    std::optional<netabase::Store<SV2>> v2;
    try {
        v2.emplace(dir, small);
    } catch (const netabase::error& e) {
        FAIL("opening with a new index failed: " << e.what());
    }
    v2->read([](netabase::ReadTransaction<SV2>& txn) {
        auto by_age = txn.open_tree<PersonV2>().index(&PersonV2::age);
        CHECK(by_age.size() == 4000);
        CHECK(by_age.count(3) == 400);
    });
}

TEST_CASE("store: adding a unique key over duplicate values fails cleanly", "[store][schema]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    {
        netabase::Store<SV1> v1{dir};
        v1.write([](netabase::WriteTransaction<SV1>& txn) {
            auto people = txn.open_tree<PersonV1>();
            people.put(PersonV1{1, "same", 30});
            people.put(PersonV1{2, "other", 31});
            people.put(PersonV1{3, "same", 32});
        });
    }
    try {
        netabase::Store<SV3> v3{dir};
        FAIL("building a unique index over duplicates did not throw");
    } catch (const netabase::error& e) {
        CHECK(e.code() == netabase::errc::unique_violation);
        CHECK(contains(e.what(), "people"));
    }
    // Nothing half-done: V1 still opens, and after fixing the duplicate V3 builds.
    {
        netabase::Store<SV1> v1{dir};
        v1.write([](netabase::WriteTransaction<SV1>& txn) {
            txn.open_tree<PersonV1>().update(3, [](PersonV1& p) { p.name = "third"; });
        });
    }
    netabase::Store<SV3> v3{dir};
    v3.read([](netabase::ReadTransaction<SV3>& txn) {
        auto people = txn.open_tree<PersonV3>();
        auto g = people.index(&PersonV3::name).get("third");
        REQUIRE(g);
        CHECK(g->key() == 3);
        CHECK(people.index(&PersonV3::age).count(31) == 1);
    });
}

// ---- bad files --------------------------------------------------------------------------

TEST_CASE("store: a path that is not a usable environment is an error and not a crash", "[store][bad]") {
    netabase_test::temp_dir tmp;

    SECTION("a regular file") {
        fs::path p = tmp / "file";
        write_file(p, "just a file\n");
        try {
            netabase::Store<S> store{p};
            FAIL("opening a regular file did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::bad_file);
        }
        CHECK(fs::is_regular_file(p));
    }
    SECTION("a directory below a regular file") {
        fs::path p = tmp / "file";
        write_file(p, "x");
        CHECK_THROWS_AS(netabase::Store<S>(p / "sub"), netabase::error);
    }
    SECTION("a directory with a short garbage data.mdb") {
        fs::path dir = tmp / "db";
        fs::create_directory(dir);
        write_file(dir / "data.mdb", "this is not an LMDB file at all");
        try {
            netabase::Store<S> store{dir};
            FAIL("opening a garbage data.mdb did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::bad_file);
        }
    }
    SECTION("a directory with a page-sized garbage data.mdb") {
        fs::path dir = tmp / "db";
        fs::create_directory(dir);
        std::string junk(16384, '\0');
        for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 131 + 7) & 0xff);
        write_file(dir / "data.mdb", junk);
        try {
            netabase::Store<S> store{dir};
            FAIL("opening a garbage data.mdb did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::bad_file);
        }
        try {
            netabase::Store<S> store{dir, netabase::options{.read_only = true}};
            FAIL("read-only opening of a garbage data.mdb did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::bad_file);
        }
    }
    SECTION("a directory with a zero-filled data.mdb") {
        fs::path dir = tmp / "db";
        fs::create_directory(dir);
        write_file(dir / "data.mdb", std::string(16384, '\0'));
        try {
            netabase::Store<S> store{dir};
            FAIL("opening a zero-filled data.mdb did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::bad_file);
        }
    }
}

// ---- map growth -------------------------------------------------------------------------

TEST_CASE("store: store.write grows a 1 MiB map to take 20 MB", "[store][map]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    constexpr std::uint64_t rows = 20000;
    constexpr std::size_t bytes = 1000;
    {
        netabase::Store<S> store{dir, netabase::options{.map_size = std::size_t{1} << 20}};
        const std::size_t before = store.map_size();
        CHECK(before < (std::size_t{2} << 20));
        auto data = blobs(0, rows, bytes);
        int runs = 0;
        std::size_t written = 0;
        REQUIRE_NOTHROW(written = store.write([&](netabase::WriteTransaction<S>& txn) {
            ++runs;
            return txn.open_tree<Blob>().put_many(data);
        }));
        CHECK(written == rows);
        CHECK(runs > 1);  // it did run out of space and retried
        CHECK(store.map_size() > before);
        CHECK(store.map_size() >= rows * bytes);
        store.read([&](netabase::ReadTransaction<S>& txn) {
            auto tree = txn.open_tree<Blob>();
            REQUIRE(tree.size() == rows);
            std::uint64_t expect = 0;
            bool all_ok = true;
            for (const auto& row : tree) {
                Blob b = row.value();
                if (b.id != expect || b.data != std::string(bytes, static_cast<char>('a' + expect % 26)))
                    all_ok = false;
                ++expect;
            }
            CHECK(all_ok);
            CHECK(expect == rows);
        });
        // Row by row growth too, with another table in the same transaction.
        REQUIRE_NOTHROW(store.write([&](netabase::WriteTransaction<S>& txn) {
            auto tree = txn.open_tree<Blob>();
            for (std::uint64_t i = rows; i < rows + 3000; ++i) tree.put(Blob{i, std::string(bytes, 'z')});
            txn.open_tree<Thing>().put(Thing{1, "with blobs", 0});
        }));
    }
    netabase::Store<S> store{dir, netabase::options{.map_size = std::size_t{1} << 20}};
    CHECK(store.map_size() >= rows * bytes);
    store.read([&](netabase::ReadTransaction<S>& txn) {
        CHECK(txn.open_tree<Blob>().size() == rows + 3000);
        CHECK(txn.open_tree<Thing>().contains(1));
    });
}

TEST_CASE("store: an explicit transaction that overfills the map throws map_full", "[store][map]") {
    netabase_test::temp_dir tmp;
    netabase::Store<S> store{tmp / "db", netabase::options{.map_size = std::size_t{1} << 20}};
    put_thing(store, 1, "before");

    auto expect_map_full = [](const netabase::error& e) {
        CHECK(e.code() == netabase::errc::map_full);
        CHECK(contains(e.what(), "store.write"));
        CHECK(contains(e.what(), "map_size"));
    };

    SECTION("row by row") {
        auto txn = store.begin_write();
        auto tree = txn.open_tree<Blob>();
        bool threw = false;
        try {
            for (std::uint64_t i = 0; i < 5000; ++i) tree.put(Blob{i, std::string(1000, 'x')});
        } catch (const netabase::error& e) {
            threw = true;
            expect_map_full(e);
        }
        REQUIRE(threw);
        // The transaction cannot be committed after LMDB failed inside it.
        try {
            txn.commit();
            FAIL("commit after map_full did not throw");
        } catch (const netabase::error& e) {
            CHECK(e.code() == netabase::errc::map_full);
        }
        CHECK_FALSE(txn.is_open());
    }
    SECTION("put_many") {
        auto txn = store.begin_write();
        auto data = blobs(0, 5000, 1000);
        try {
            txn.open_tree<Blob>().put_many(data);
            FAIL("put_many of 5 MB into a 1 MiB map did not throw");
        } catch (const netabase::error& e) {
            expect_map_full(e);
        }
        txn.abort();
    }
    SECTION("transaction destroyed after the failure") {
        auto txn = store.begin_write();
        auto tree = txn.open_tree<Blob>();
        CHECK_THROWS_AS([&] {
            for (std::uint64_t i = 0; i < 5000; ++i) tree.put(Blob{i, std::string(1000, 'x')});
        }(),
                        netabase::error);
    }

    // Nothing of it is visible, and the store takes a smaller write.
    store.read([](netabase::ReadTransaction<S>& txn) { CHECK(txn.open_tree<Blob>().empty()); });
    {
        auto txn = store.begin_write();
        auto tree = txn.open_tree<Blob>();
        for (std::uint64_t i = 0; i < 10; ++i) tree.put(Blob{i, std::string(100, 'y')});
        txn.commit();
    }
    put_thing(store, 2, "after");
    CHECK(thing_name(store, 1) == "before");
    CHECK(thing_name(store, 2) == "after");
    store.read([](netabase::ReadTransaction<S>& txn) { CHECK(txn.open_tree<Blob>().size() == 10); });
}

// ---- several processes ------------------------------------------------------------------

TEST_CASE("store: a child process sees the parent's commit and the parent sees the child's", "[store][process]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    pipe_signal go;

    // Forked before the parent opens anything: two independent environments on one file,
    // open at the same time, the child's map growing past the parent's.
    child_process child([&]() -> int {
        if (!go.receive()) return 10;
        netabase::Store<S> store{dir, netabase::options{.map_size = std::size_t{1} << 20}};
        if (thing_name(store, 1) != std::optional<std::string>("parent")) return 11;
        store.write([](netabase::WriteTransaction<S>& txn) {
            auto things = txn.open_tree<Thing>();
            for (std::uint64_t i = 100; i < 110; ++i) things.put(Thing{i, "child", 0});
        });
        auto data = blobs(0, 4000, 1000);  // ~4 MB: the child grows the map
        store.write([&](netabase::WriteTransaction<S>& txn) { txn.open_tree<Blob>().put_many(data); });
        return 0;
    });
    go.close_read();

    netabase::Store<S> store{dir, netabase::options{.map_size = std::size_t{1} << 20}};
    put_thing(store, 1, "parent");
    {
        auto old = store.begin_read();  // a snapshot from before the child's writes
        REQUIRE(go.send());
        REQUIRE(child.wait() == 0);
        CHECK(old.open_tree<Thing>().size() == 1);
        CHECK(old.open_tree<Blob>().empty());
    }
    // The child grew the file past this process's map: reading and writing adopt its size.
    CHECK(thing_count(store) == 11);
    CHECK(thing_name(store, 105) == "child");
    store.read([](netabase::ReadTransaction<S>& txn) {
        auto tree = txn.open_tree<Blob>();
        CHECK(tree.size() == 4000);
        auto g = tree.get(3999);
        REQUIRE(g);
        CHECK(g->value().data.size() == 1000);
    });
    put_thing(store, 2, "parent again");
    CHECK(thing_count(store) == 12);
}

TEST_CASE("store: a child forked while the parent has the store open can use it", "[store][process]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    netabase::Store<S> store{dir};
    put_thing(store, 1, "parent");
    CHECK(thing_count(store) == 1);  // leaves a read transaction behind in any pool

    child_process child([&]() -> int {
        netabase::Store<S> mine{dir};
        if (thing_name(mine, 1) != std::optional<std::string>("parent")) return 11;
        for (std::uint64_t i = 100; i < 120; ++i) put_thing(mine, i, "child");
        if (thing_count(mine) != 21) return 12;
        return 0;
    });
    REQUIRE(child.wait() == 0);
    CHECK(thing_count(store) == 21);
    CHECK(thing_name(store, 119) == "child");
    put_thing(store, 2, "after child");
    CHECK(thing_count(store) == 22);
}

TEST_CASE("store: concurrent writers in two processes", "[store][process]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    { netabase::Store<S> create{dir}; }
    netabase_test::watchdog guard(std::chrono::seconds(100), "two writer processes");
    const netabase::options opts{.durability = netabase::durability::no_sync};

    // 50 commits, each checking that the transaction saw its own put.
    auto writes = [](netabase::Store<S>& s, std::uint64_t base, std::uint64_t from) -> int {
        for (std::uint64_t i = from; i < 50; ++i) {
            auto txn = s.begin_write();
            auto things = txn.open_tree<Thing>();
            std::size_t before = things.size();
            things.put(Thing{base + i, "w", 0});
            if (things.size() != before + 1) return 20;
            txn.commit();
        }
        return 0;
    };
    // The barrier: A holds a write transaction open while B is seen waiting for LMDB's writer
    // lock; then both commit their 50 transactions at once, taking turns at the lock.
    pipe_signal b_opened, b_go, b_began, a_holds, a_go;
    child_process b([&]() -> int {
        netabase::Store<S> s{dir, opts};  // opening writes too: done before A takes the lock
        if (!b_opened.send() || !b_go.receive()) return 30;
        {
            auto txn = s.begin_write();  // waits for A's first transaction
            if (!b_began.send()) return 31;
            auto things = txn.open_tree<Thing>();
            if (!things.contains(1000)) return 32;  // so it began after A's commit
            things.put(Thing{2000, "w", 0});
            txn.commit();
        }
        return writes(s, 2000, 1);
    });
    REQUIRE(b_opened.receive());
    child_process a([&]() -> int {
        netabase::Store<S> s{dir, opts};
        {
            auto txn = s.begin_write();
            auto things = txn.open_tree<Thing>();
            if (!things.empty()) return 21;
            things.put(Thing{1000, "w", 0});
            if (!a_holds.send() || !a_go.receive()) return 22;
            txn.commit();
        }
        return writes(s, 1000, 1);
    });
    REQUIRE(a_holds.receive());
    REQUIRE(b_go.send());

    // B is seen stopped in futex() on a word of its mapping of the lock file: LMDB's writer
    // mutex, which A holds. Had its begin_write not waited, b_began would end this at once.
    std::string state;
    bool blocked = false;
    while (!blocked && !b_began.ready()) {
        const auto lock_file = netabase_test::mapping_of(b.pid(), dir / "lock.mdb");
        blocked = !lock_file.empty() && netabase_test::blocked_on_futex_in(b.pid(), b.pid(), lock_file, &state);
        if (!blocked) ::sched_yield();
    }
    INFO("B's /proc/.../syscall: " << state);
    CHECK(blocked);
    CHECK_FALSE(b_began.ready());
    REQUIRE(a_go.send());
    CHECK(a.wait() == 0);
    CHECK(b.wait() == 0);
    netabase::Store<S> s{dir};
    CHECK(thing_count(s) == 100);
    CHECK(s.verify().ok());
}

TEST_CASE("store: max_readers bounds concurrent read transactions with an error and not a crash",
          "[store][options]") {
    netabase_test::temp_dir tmp;
    fs::path dir = tmp / "db";
    netabase::Store<S> store{dir, netabase::options{.max_readers = 4}};
    put_thing(store, 1, "x");
    {
        std::list<netabase::ReadTransaction<S>> open;  // transactions are not movable
        bool refused = false;
        for (int i = 0; i < 8 && !refused; ++i) {
            try {
                open.emplace_back(reader{store});
            } catch (const netabase::error& e) {
                refused = true;
                INFO(e.what());
                CHECK(e.code() == std::error_code(MDB_READERS_FULL, netabase::lmdb_category()));
                CHECK(contains(e.what(), "cannot begin a read transaction"));
            }
        }
        CHECK(refused);
        // This process holds no other slot (its opening transaction was a write), so all four
        // are its read transactions'.
        CHECK(open.size() == 4);
        for (auto& r : open) CHECK(r.open_tree<Thing>().size() == 1);
    }
    // Ended transactions give their slots back.
    for (int round = 0; round < 10; ++round) CHECK(thing_count(store) == 1);
}

}  // namespace store_test
