// Bad files and bad bytes: truncated, empty and unreadable data files, read-only directories,
// file modes, bytes corrupted on disk (with and without checksums), and schema fingerprints
// that change between runs. (A regular file, garbage and zero-filled data.mdb files and the
// plain schema_mismatch cases are in test_store.cpp.)
//
// The tests run as root, which ignores file permissions: every permission test runs in a
// forked child that first drops to uid/gid 65534 (nobody) and reports through a pipe.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <grp.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace files_test {

namespace fs = std::filesystem;

// ---- models --------------------------------------------------------------------------------

struct Blob {
    std::uint64_t id;
    std::string data;
};
constexpr auto netabase_model(netabase::tag<Blob>) { return netabase::model<Blob>("blobs"); }
using SBlob = netabase::definition<Blob>;

// A row with a field of each kind a corruption can hit: a length prefix, a bool, a tag.
struct Doc {
    std::uint64_t id;
    std::string title;  // indexed
    std::string label;
    bool flag;
    std::vector<std::uint32_t> nums;
    std::string body;
    std::optional<std::string> note;
};
constexpr auto netabase_model(netabase::tag<Doc>) {
    return netabase::model<Doc>("docs").primary_key(&Doc::id).secondary_key(&Doc::title);
}
using SDoc = netabase::definition<Doc>;

// "people", as first written: a non-unique key on name (field 1) and one on age (field 2).
struct Person {
    std::uint64_t id;
    std::string name;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<Person>) {
    return netabase::model<Person>("people")
        .primary_key(&Person::id)
        .secondary_key(&Person::name)
        .secondary_key(&Person::age);
}
using SPerson = netabase::definition<Person>;

// One more field, in the middle (a field appended at the end would be an upgrade).
struct PersonMoreFields {
    std::uint64_t id;
    std::string name;
    bool active;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<PersonMoreFields>) {
    return netabase::model<PersonMoreFields>("people")
        .primary_key(&PersonMoreFields::id)
        .secondary_key(&PersonMoreFields::name)
        .secondary_key(&PersonMoreFields::age);
}
using SMoreFields = netabase::definition<PersonMoreFields>;

// Same fields, keyed by name.
struct PersonByName {
    std::uint64_t id;
    std::string name;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<PersonByName>) {
    return netabase::model<PersonByName>("people").primary_key(&PersonByName::name).secondary_key(&PersonByName::age);
}
using SByName = netabase::definition<PersonByName>;

// The name key made unique.
struct PersonUniqueName {
    std::uint64_t id;
    std::string name;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<PersonUniqueName>) {
    return netabase::model<PersonUniqueName>("people")
        .primary_key(&PersonUniqueName::id)
        .secondary_key(&PersonUniqueName::name, netabase::unique)
        .secondary_key(&PersonUniqueName::age);
}
using SUnique = netabase::definition<PersonUniqueName>;

// The age key removed.
struct PersonNoAge {
    std::uint64_t id;
    std::string name;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<PersonNoAge>) {
    return netabase::model<PersonNoAge>("people").primary_key(&PersonNoAge::id).secondary_key(&PersonNoAge::name);
}
using SNoAge = netabase::definition<PersonNoAge>;

// ---- helpers -------------------------------------------------------------------------------

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + p.string());
}

// Offsets of every occurrence of needle in hay.
std::vector<std::size_t> find_all(const std::string& hay, const std::string& needle) {
    std::vector<std::size_t> at;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) at.push_back(p);
    return at;
}

std::uint32_t load_u32(const std::string& s, std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 2])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 3])) << 24;
}

void store_u32(std::string& s, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// What a forked child reports: its exit status and what it wrote.
struct child_result {
    int status = 0;
    std::string out;

    bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
    std::string describe() const {
        std::string s;
        if (WIFSIGNALED(status))
            s = "child killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
        else
            s = "child exited with " + std::to_string(WEXITSTATUS(status));
        return s + "; its report:\n" + out;
    }
};

// The child's side: each check appends a line; the exit code counts the failures.
struct report {
    std::string out;
    int failures = 0;
    void check(bool ok, const std::string& what) {
        out += (ok ? "  ok   " : "  FAIL ") + what + "\n";
        if (!ok) ++failures;
    }
};

constexpr uid_t nobody = 65534;

// Runs fn in a forked child, as nobody when asked. The child leaves with _exit: no Catch2
// teardown, no leak check (LeakSanitizer cannot trace a process that changed its uid).
child_result in_child(const std::function<void(report&)>& fn, bool as_nobody) {
    std::fflush(stdout);
    std::fflush(stderr);
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::close(fds[0]);
        report r;
        if (as_nobody && (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 || ::setuid(nobody) != 0)) {
            r.check(false, "dropping to uid/gid 65534");
        } else {
            try {
                fn(r);
            } catch (const std::exception& e) {
                r.check(false, std::string("unexpected exception: ") + e.what());
            }
        }
        std::size_t done = 0;
        while (done < r.out.size()) {
            ssize_t n = ::write(fds[1], r.out.data() + done, r.out.size() - done);
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        ::close(fds[1]);
        ::_exit(r.failures > 100 ? 100 : r.failures);
    }
    ::close(fds[1]);
    child_result res;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) res.out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    ::waitpid(pid, &res.status, 0);
    return res;
}

// Lets nobody reach directories below the test's temporary directory (mkdtemp makes it 0700).
void open_for_others(const netabase_test::temp_dir& tmp) { fs::permissions(tmp.path(), fs::perms(0755)); }

void give_to_nobody(const fs::path& dir) {
    if (::chown(dir.c_str(), nobody, nobody) != 0) throw std::runtime_error("chown failed");
    for (const auto& entry : fs::directory_iterator(dir))
        if (::chown(entry.path().c_str(), nobody, nobody) != 0) throw std::runtime_error("chown failed");
}

// Opens the store and reports what happened, in one line.
template <class Def>
std::optional<netabase::error> open_error(const fs::path& dir, netabase::options opt) {
    try {
        netabase::Store<Def> store{dir, opt};
        return std::nullopt;
    } catch (const netabase::error& e) {
        return e;
    }
}

std::string describe(const std::optional<netabase::error>& e) {
    if (!e) return "opened";
    return std::string(e->code().category().name()) + " " + std::to_string(e->code().value()) + ": " + e->what();
}

void put_blobs(const fs::path& dir, std::uint64_t n, std::size_t size, netabase::options opt = {}) {
    netabase::Store<SBlob> store{dir, opt};
    store.write([&](netabase::WriteTransaction<SBlob>& txn) {
        auto blobs = txn.open_tree<Blob>();
        for (std::uint64_t i = 0; i < n; ++i) blobs.put(Blob{i, std::string(size, static_cast<char>('a' + i % 26))});
    });
}

// ---- truncated, empty ----------------------------------------------------------------------

TEST_CASE("files: a data file truncated below its last page is bad_file, never SIGBUS", "[files][bad]") {
    netabase_test::temp_dir tmp;
    const fs::path whole = tmp / "whole";
    put_blobs(whole, 5000, 1000, netabase::options{.durability = netabase::durability::no_sync});
    const auto full = static_cast<std::size_t>(fs::file_size(whole / "data.mdb"));
    REQUIRE(full > 5'000'000);

    // Below the last page by a byte, by a page, far below; down to the two meta pages; below
    // them (one meta page, a few bytes).
    const std::size_t sizes[] = {full - 1, full - 4096, full / 2 + 123, 64 * 1024, 8192, 4096, 100};
    for (std::size_t size : sizes) {
        const fs::path dir = tmp / ("cut" + std::to_string(size));
        fs::create_directory(dir);
        fs::copy_file(whole / "data.mdb", dir / "data.mdb");
        fs::resize_file(dir / "data.mdb", size);

        child_result r = in_child(
            [&](report& rep) {
                for (bool ro : {false, true}) {
                    std::string how = ro ? "read-only" : "read-write";
                    try {
                        netabase::Store<SBlob> store{dir, netabase::options{.read_only = ro}};
                        // Opened: reading every page is what would fault on a missing page.
                        std::size_t rows = store.read([](netabase::ReadTransaction<SBlob>& txn) {
                            std::size_t n = 0;
                            for (const auto& row : txn.open_tree<Blob>()) n += row.value().data.size() > 0;
                            return n;
                        });
                        rep.check(false,
                                  how + " open of a truncated file succeeded (" + std::to_string(rows) + " rows)");
                    } catch (const netabase::error& e) {
                        rep.check(e.code() == netabase::errc::bad_file,
                                  how + ": errc::bad_file (" + describe(std::optional<netabase::error>(e)) + ")");
                        // Our own check names the file; LMDB's MDB_INVALID (no valid meta page) names the directory.
                        rep.check(contains(e.what(), dir.string()), how + ": the message names the path");
                    }
                }
            },
            false);
        INFO("data.mdb cut from " << full << " to " << size << " bytes: " << r.describe());
        CHECK(r.exited_ok());
        // Refusing did not write anything: the file is as short as it was.
        CHECK(fs::file_size(dir / "data.mdb") == size);
    }
    // The original still opens.
    netabase::Store<SBlob> store{whole};
    CHECK(store.read([](netabase::ReadTransaction<SBlob>& txn) { return txn.open_tree<Blob>().size(); }) == 5000);
}

TEST_CASE("files: random bytes of several sizes as data.mdb are bad_file, never a crash", "[files][bad]") {
    // (test_store.cpp has a short text, a patterned page and a zero-filled page.) Random
    // contents, sizes around and across page boundaries, read-write and read-only, each
    // open in a child so that a crash is reported as one.
    netabase_test::temp_dir tmp;
    std::uint32_t state = 12345;  // a fixed LCG: the same bytes every run
    auto next = [&] {
        state = state * 1664525u + 1013904223u;
        return static_cast<char>(state >> 24);
    };
    for (std::size_t size : {std::size_t{1}, std::size_t{4095}, std::size_t{4096}, std::size_t{8192 + 17},
                             std::size_t{3 * 4096}, std::size_t{1} << 20}) {
        const fs::path dir = tmp / ("junk" + std::to_string(size));
        fs::create_directory(dir);
        std::string junk(size, '\0');
        for (auto& c : junk) c = next();
        write_file(dir / "data.mdb", junk);
        child_result r = in_child(
            [&](report& rep) {
                for (bool ro : {false, true}) {
                    auto e = open_error<SBlob>(dir, netabase::options{.read_only = ro});
                    rep.check(e && e->code() == netabase::errc::bad_file,
                              std::string(ro ? "read-only" : "read-write") + ": bad_file (" + describe(e) + ")");
                }
            },
            false);
        INFO(size << " random bytes: " << r.describe());
        CHECK(r.exited_ok());
        CHECK(read_file(dir / "data.mdb") == junk);  // and left alone
    }
}

TEST_CASE("files: an empty (0-byte) data.mdb", "[files][bad]") {
    // What happens: LMDB takes a 0-byte data file for a new environment. A read-write open
    // therefore makes a fresh, empty, working store in it; a read-only open cannot initialise
    // the file and fails with a netabase::error (LMDB reports EBADF from writing the first
    // meta page through a read-only descriptor), leaving the file empty.
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    fs::create_directory(dir);
    write_file(dir / "data.mdb", "");

    child_result r = in_child(
        [&](report& rep) {
            auto ro = open_error<SBlob>(dir, netabase::options{.read_only = true});
            rep.check(ro.has_value(), "read-only open: a netabase::error (" + describe(ro) + ")");
            if (ro) rep.check(contains(ro->what(), dir.string()), "read-only open: the message names the directory");
            rep.check(fs::file_size(dir / "data.mdb") == 0, "read-only open left the file empty");
        },
        false);
    INFO(r.describe());
    CHECK(r.exited_ok());
    std::printf("files_test: read-only open of a 0-byte data.mdb:\n%s", r.out.c_str());

    {
        netabase::Store<SBlob> store{dir};
        CHECK(store.read([](netabase::ReadTransaction<SBlob>& txn) { return txn.open_tree<Blob>().size(); }) == 0);
        store.write([](netabase::WriteTransaction<SBlob>& txn) { txn.open_tree<Blob>().put(Blob{1, "one"}); });
    }
    CHECK(fs::file_size(dir / "data.mdb") > 0);
    netabase::Store<SBlob> store{dir};
    store.read([](netabase::ReadTransaction<SBlob>& txn) {
        auto g = txn.open_tree<Blob>().get(1);
        REQUIRE(g);
        CHECK(g->value().data == "one");
    });
    CHECK(store.verify().ok());
}

// ---- permissions (as nobody) ---------------------------------------------------------------

TEST_CASE("files: a read-only directory: read-write open fails clearly, read_only open works", "[files][perm]") {
    netabase_test::temp_dir tmp;
    open_for_others(tmp);

    // A directory nobody may not write, with no store in it.
    const fs::path empty = tmp / "empty";
    fs::create_directory(empty);
    fs::permissions(empty, fs::perms(0555));

    // nobody's store, moved to a read-only directory with a read-only data file; the lock file
    // (where LMDB keeps its reader table, even for read-only opens) stays writable.
    const fs::path owned = tmp / "owned";
    put_blobs(owned, 10, 100);
    give_to_nobody(owned);
    fs::permissions(owned / "data.mdb", fs::perms(0444));
    fs::permissions(owned, fs::perms(0555));

    // root's store, files 0644: nobody may read the data file but not write the lock file.
    const fs::path roots = tmp / "roots";
    put_blobs(roots, 10, 100);

    child_result r = in_child(
        [&](report& rep) {
            auto rw = open_error<SBlob>(empty, {});
            rep.check(rw && rw->code() == std::errc::permission_denied,
                      "empty read-only directory, read-write open: permission denied (" + describe(rw) + ")");
            rep.check(rw && contains(rw->what(), empty.string()), "  the message names the directory");
            rep.check(!fs::exists(empty / "data.mdb") && !fs::exists(empty / "lock.mdb"), "  nothing was created");
            auto ro = open_error<SBlob>(empty, netabase::options{.read_only = true});
            rep.check(
                ro && (ro->code() == std::errc::no_such_file_or_directory || ro->code() == netabase::errc::not_found),
                "empty read-only directory, read-only open: no store there (" + describe(ro) + ")");

            rw = open_error<SBlob>(owned, {});
            rep.check(rw && rw->code() == std::errc::permission_denied,
                      "read-only directory and data file, read-write open: permission denied (" + describe(rw) + ")");
            rep.check(rw && contains(rw->what(), owned.string()), "  the message names the directory");
            try {
                netabase::Store<SBlob> store{owned, netabase::options{.read_only = true}};
                rep.check(true, "read-only directory and data file, read-only open: opened");
                auto rows = store.read([](netabase::ReadTransaction<SBlob>& txn) {
                    std::vector<std::uint64_t> ids;
                    for (const auto& row : txn.open_tree<Blob>()) ids.push_back(row.key());
                    return ids;
                });
                rep.check(rows.size() == 10 && rows.front() == 0 && rows.back() == 9, "  all 10 rows read");
                rep.check(store.verify().ok(), "  verify() finds nothing");
                try {
                    auto txn = store.begin_write();
                    rep.check(false, "  begin_write on the read-only store succeeded");
                } catch (const netabase::error& e) {
                    rep.check(e.code() == netabase::errc::read_only,
                              std::string("  begin_write: errc::read_only (") + e.what() + ")");
                }
            } catch (const netabase::error& e) {
                rep.check(false, std::string("read-only directory and data file, read-only open failed: ") + e.what());
            }

            // LMDB needs a writable lock file for a read-only open too (it goes lockless only on a
            // read-only filesystem): another user's store is refused either way, with a clear error.
            rw = open_error<SBlob>(roots, {});
            rep.check(rw && rw->code() == std::errc::permission_denied,
                      "root's 0644 store, read-write open: permission denied (" + describe(rw) + ")");
            ro = open_error<SBlob>(roots, netabase::options{.read_only = true});
            rep.check(ro && ro->code() == std::errc::permission_denied,
                      "root's 0644 store, read-only open: permission denied on lock.mdb (" + describe(ro) + ")");
        },
        true);
    INFO(r.describe());
    CHECK(r.exited_ok());
    std::printf("files_test: as nobody:\n%s", r.out.c_str());
    // Nothing the child tried changed the stores.
    fs::permissions(owned, fs::perms(0755));
    netabase::Store<SBlob> store{owned};
    CHECK(store.read([](netabase::ReadTransaction<SBlob>& txn) { return txn.open_tree<Blob>().size(); }) == 10);
}

TEST_CASE("files: a data file without permissions (chmod 000) is a clear error, read-write and read-only",
          "[files][perm]") {
    netabase_test::temp_dir tmp;
    open_for_others(tmp);
    const fs::path dir = tmp / "db";
    put_blobs(dir, 5, 10);
    give_to_nobody(dir);  // nobody owns the directory and lock file: only data.mdb is in the way
    fs::permissions(dir / "data.mdb", fs::perms(0));

    child_result r = in_child(
        [&](report& rep) {
            for (bool ro : {false, true}) {
                auto e = open_error<SBlob>(dir, netabase::options{.read_only = ro});
                std::string how = ro ? "read-only" : "read-write";
                rep.check(e && e->code() == std::errc::permission_denied,
                          how + " open: permission denied (" + describe(e) + ")");
                rep.check(e && contains(e->what(), dir.string()), how + " open: the message names the directory");
            }
        },
        true);
    INFO(r.describe());
    CHECK(r.exited_ok());
    // As the owner can again, the store is intact.
    fs::permissions(dir / "data.mdb", fs::perms(0644));
    netabase::Store<SBlob> store{dir};
    CHECK(store.read([](netabase::ReadTransaction<SBlob>& txn) { return txn.open_tree<Blob>().size(); }) == 5);
}

TEST_CASE("files: file_mode 0600 keeps other users out, 0666 lets them in", "[files][perm]") {
    netabase_test::temp_dir tmp;
    open_for_others(tmp);
    const ::mode_t old_mask = ::umask(022);
    const fs::path priv = tmp / "private";
    const fs::path shared = tmp / "shared";
    put_blobs(priv, 3, 10, netabase::options{.file_mode = 0600});
    ::umask(0);
    put_blobs(shared, 3, 10, netabase::options{.file_mode = 0666});
    ::umask(old_mask);

    for (const char* f : {"data.mdb", "lock.mdb"}) {
        struct ::stat st {};
        REQUIRE(::stat((priv / f).c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        REQUIRE(::stat((shared / f).c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0666);
    }

    child_result r = in_child(
        [&](report& rep) {
            for (bool ro : {false, true}) {
                std::string how = ro ? "read-only" : "read-write";
                auto e = open_error<SBlob>(priv, netabase::options{.read_only = ro});
                rep.check(e && e->code() == std::errc::permission_denied,
                          "0600 store, " + how + " open: permission denied (" + describe(e) + ")");
                try {
                    netabase::Store<SBlob> store{shared, netabase::options{.read_only = ro}};
                    auto n =
                        store.read([](netabase::ReadTransaction<SBlob>& txn) { return txn.open_tree<Blob>().size(); });
                    rep.check(n == 3, "0666 store, " + how + " open: reads the 3 rows");
                } catch (const netabase::error& e2) {
                    rep.check(false, "0666 store, " + how + " open failed: " + e2.what());
                }
            }
        },
        true);
    INFO(r.describe());
    CHECK(r.exited_ok());
}

// ---- bytes corrupted on disk -----------------------------------------------------------------

Doc make_doc(std::uint64_t id) {
    std::string n = std::to_string(id);
    return Doc{id,
               "title-" + n,
               "LABEL-00" + n + "-",
               id % 2 == 0,
               {1, 2, static_cast<std::uint32_t>(id)},
               "BODY-00" + n + "-" + std::string(40, 'x'),
               id % 3 == 0 ? std::optional<std::string>() : std::optional<std::string>("note " + n)};
}

// Ten docs written in one transaction (so each value is on disk exactly once), then closed.
void write_docs(const fs::path& dir, bool checksum) {
    netabase::Store<SDoc> store{dir, netabase::options{.checksum = checksum}};
    store.write([](netabase::WriteTransaction<SDoc>& txn) {
        auto docs = txn.open_tree<Doc>();
        for (std::uint64_t i = 0; i < 10; ++i) docs.put(make_doc(i));
    });
}

// Changes data.mdb in place: edit(bytes, offset of the needle).
void patch(const fs::path& dir, const std::string& needle, const std::function<void(std::string&, std::size_t)>& edit) {
    std::string bytes = read_file(dir / "data.mdb");
    auto at = find_all(bytes, needle);
    INFO("occurrences of " << needle);
    REQUIRE(at.size() == 1);
    edit(bytes, at[0]);
    write_file(dir / "data.mdb", bytes);
}

template <class F>
std::optional<netabase::error> error_of(F&& f) {
    try {
        f();
    } catch (const netabase::error& e) {
        return e;
    }
    return std::nullopt;
}

// Every way to read row 7 fails with corrupt_value naming the table; the other rows read.
void expect_row_7_corrupt(netabase::Store<SDoc>& store, const std::string& why) {
    store.read([&](netabase::ReadTransaction<SDoc>& txn) {
        auto docs = txn.open_tree<Doc>();
        auto g = docs.get(7);
        REQUIRE(g);
        auto e = error_of([&] { (void)g->value(); });
        REQUIRE(e);
        CHECK(e->code() == netabase::errc::corrupt_value);
        CHECK(contains(e->what(), "docs"));
        CHECK(contains(e->what(), why));

        e = error_of([&] { (void)g->view().get<&Doc::body>(); });
        REQUIRE(e);
        CHECK(e->code() == netabase::errc::corrupt_value);
        e = error_of([&] { (void)g->view().get<&Doc::note>(); });
        REQUIRE(e);
        CHECK(e->code() == netabase::errc::corrupt_value);
        e = error_of([&] { (void)g->view().to_owned(); });
        REQUIRE(e);
        CHECK(e->code() == netabase::errc::corrupt_value);

        // Iteration over the table and through the index: row 7, and only row 7, fails.
        std::vector<std::uint64_t> bad;
        std::size_t good = 0;
        for (const auto& row : docs) {
            auto re = error_of([&] {
                Doc d = row.value();
                CHECK(d.body == make_doc(d.id).body);
            });
            if (re) {
                CHECK(re->code() == netabase::errc::corrupt_value);
                bad.push_back(row.key());
            } else {
                ++good;
            }
        }
        CHECK(bad == std::vector<std::uint64_t>{7});
        CHECK(good == 9);
        bad.clear();
        for (const auto& row : docs.index(&Doc::title).all())
            if (auto re = error_of([&] { (void)row.view().get<&Doc::body>(); })) {
                CHECK(re->code() == netabase::errc::corrupt_value);
                bad.push_back(row.key());
            }
        CHECK(bad == std::vector<std::uint64_t>{7});
        CHECK(docs.get(6)->value().body == make_doc(6).body);
    });

    auto rep = store.verify();
    INFO(rep.to_string());
    REQUIRE(rep.problems.size() == 1);
    CHECK(rep.problems[0].what == netabase::verify_report::kind::undecodable_row);
    CHECK(rep.problems[0].table == "docs");
    CHECK(rep.problems[0].key == "7");
    CHECK(rep.rows == 10);
}

TEST_CASE("files: a length prefix made huge on disk is corrupt_value from get, view and iteration",
          "[files][corrupt]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    write_docs(dir, false);
    const std::string body = make_doc(7).body;
    patch(dir, body, [&](std::string& bytes, std::size_t at) {
        REQUIRE(load_u32(bytes, at - 4) == body.size());  // it is the body's length prefix
        store_u32(bytes, at - 4, 0xfffffff0u);
    });
    netabase::Store<SDoc> store{dir};
    store.read([](netabase::ReadTransaction<SDoc>& txn) {
        // The fields before the damage still read in place.
        auto v = txn.open_tree<Doc>().get(7)->view();
        CHECK(v.get<&Doc::title>() == "title-7");
        CHECK(v.get<&Doc::label>() == "LABEL-007-");
        CHECK(v.get<&Doc::nums>().to_owned() == std::vector<std::uint32_t>{1, 2, 7});
    });
    expect_row_7_corrupt(store, "length prefix");
}

TEST_CASE("files: a bool byte set to 7 on disk is corrupt_value from get, view and iteration", "[files][corrupt]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    write_docs(dir, false);
    const std::string label = make_doc(7).label;
    patch(dir, label, [&](std::string& bytes, std::size_t at) {
        REQUIRE(load_u32(bytes, at - 4) == label.size());
        REQUIRE(bytes[at + label.size()] == 0);  // flag: 7 is odd
        bytes[at + label.size()] = 7;
    });
    netabase::Store<SDoc> store{dir};
    store.read([](netabase::ReadTransaction<SDoc>& txn) {
        auto v = txn.open_tree<Doc>().get(7)->view();
        CHECK(v.get<&Doc::label>() == "LABEL-007-");
        auto e = error_of([&] { (void)v.get<&Doc::flag>(); });
        REQUIRE(e);
        CHECK(e->code() == netabase::errc::corrupt_value);
        CHECK(contains(e->what(), "bool"));
    });
    expect_row_7_corrupt(store, "bool");
}

TEST_CASE("files: options.checksum turns a flipped payload byte into corrupt_value \"checksum mismatch\"",
          "[files][corrupt][checksum]") {
    netabase_test::temp_dir tmp;
    const std::string body = make_doc(7).body;
    auto flip = [&](std::string& bytes, std::size_t at) { bytes[at + body.size() - 3] ^= 0x01; };  // 'x' -> 'y'
    std::string flipped = body;
    flipped[body.size() - 3] ^= 0x01;

    SECTION("without a checksum the flipped byte reads back silently") {
        const fs::path dir = tmp / "plain";
        write_docs(dir, false);
        patch(dir, body, flip);
        netabase::Store<SDoc> store{dir};
        store.read([&](netabase::ReadTransaction<SDoc>& txn) {
            auto g = txn.open_tree<Doc>().get(7);
            CHECK(g->value().body == flipped);
            CHECK(g->view().get<&Doc::body>() == flipped);
        });
        CHECK(store.verify().ok());
    }
    SECTION("with a checksum it is detected by every read") {
        const fs::path dir = tmp / "summed";
        write_docs(dir, true);
        patch(dir, body, flip);
        netabase::Store<SDoc> store{dir, netabase::options{.checksum = true}};
        store.read([](netabase::ReadTransaction<SDoc>& txn) {
            auto g = txn.open_tree<Doc>().get(7);
            REQUIRE(g);
            // view() itself checks the sum before handing out any field.
            auto e = error_of([&] { (void)g->view(); });
            REQUIRE(e);
            CHECK(e->code() == netabase::errc::corrupt_value);
            CHECK(contains(e->what(), "checksum mismatch"));
        });
        expect_row_7_corrupt(store, "checksum mismatch");
    }
    SECTION("values written with a checksum are checked even when the store is opened without the option") {
        const fs::path dir = tmp / "summed";
        write_docs(dir, true);
        patch(dir, body, flip);
        netabase::Store<SDoc> store{dir};
        expect_row_7_corrupt(store, "checksum mismatch");
    }
}

TEST_CASE("files: a corrupt row can be replaced or removed without clear()", "[files][corrupt]") {
    // Restoring one damaged row (from a backup, say) must not need the whole table cleared:
    // put() over it and remove() of it work, and leave no stale index entry behind.
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    write_docs(dir, true);
    const std::string body = make_doc(7).body;
    patch(dir, body, [&](std::string& bytes, std::size_t at) { bytes[at + 5] ^= 0x01; });
    netabase::Store<SDoc> store{dir};
    REQUIRE(store.verify().problems.size() == 1);

    SECTION("put") {
        Doc fixed = make_doc(7);
        fixed.title = "title-7-restored";  // a new index key: the old entry must go
        auto e = error_of(
            [&] { store.write([&](netabase::WriteTransaction<SDoc>& txn) { txn.open_tree<Doc>().put(fixed); }); });
        INFO((e ? e->what() : "put succeeded"));
        CHECK_FALSE(e);
        store.read([&](netabase::ReadTransaction<SDoc>& txn) {
            auto docs = txn.open_tree<Doc>();
            CHECK(docs.get(7)->value().title == fixed.title);
            CHECK(docs.index(&Doc::title).count("title-7") == 0);
            CHECK(docs.index(&Doc::title).count("title-7-restored") == 1);
        });
    }
    SECTION("remove") {
        bool removed = false;
        auto e = error_of([&] {
            store.write([&](netabase::WriteTransaction<SDoc>& txn) { removed = txn.open_tree<Doc>().remove(7); });
        });
        INFO((e ? e->what() : "remove succeeded"));
        CHECK_FALSE(e);
        CHECK(removed);
        store.read([](netabase::ReadTransaction<SDoc>& txn) {
            auto docs = txn.open_tree<Doc>();
            CHECK_FALSE(docs.contains(7));
            CHECK(docs.index(&Doc::title).count("title-7") == 0);
        });
    }
    auto rep = store.verify();
    INFO(rep.to_string());
    CHECK(rep.ok());
}

TEST_CASE("files: a row whose indexed field is corrupt is replaced or removed exactly, and update refuses it",
          "[files][corrupt]") {
    // No checksum: the damage is found by decoding. It hits the length prefix of the indexed
    // field itself, so the old index key cannot be read: put and remove must find the row's
    // index entries by scanning (and leave none behind), update must refuse without writing.
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    write_docs(dir, false);
    const Doc seven = make_doc(7);
    patch(dir, seven.label, [&](std::string& bytes, std::size_t at) {
        std::size_t title_len = at - 4 - seven.title.size() - 4;  // id | title len | title | label len | label
        REQUIRE(load_u32(bytes, title_len) == seven.title.size());
        store_u32(bytes, title_len, 0xfffffff0u);
    });
    netabase::Store<SDoc> store{dir};
    REQUIRE(store.verify().problems.size() == 1);
    store.read([&](netabase::ReadTransaction<SDoc>& txn) {
        auto docs = txn.open_tree<Doc>();
        auto e = error_of([&] { (void)docs.get(7)->view().get<&Doc::title>(); });
        REQUIRE(e);
        CHECK(e->code() == netabase::errc::corrupt_value);
        CHECK(docs.index(&Doc::title).count("title-7") == 1);  // the entry the row was written with
    });

    SECTION("update refuses it and writes nothing") {
        auto txn = store.begin_write();
        auto docs = txn.open_tree<Doc>();
        auto e = error_of([&] { docs.update(7, [](Doc& d) { d.title = "never"; }); });
        REQUIRE(e);
        CHECK(e->code() == netabase::errc::corrupt_value);
        CHECK(contains(e->what(), "docs"));
        txn.commit();  // nothing was written, so the transaction is fine
        store.read([&](netabase::ReadTransaction<SDoc>& r) {
            CHECK(r.open_tree<Doc>().index(&Doc::title).count("never") == 0);
            CHECK(r.open_tree<Doc>().index(&Doc::title).count("title-7") == 1);
        });
        CHECK(store.verify().problems.size() == 1);  // still just the corrupt row
        return;
    }
    SECTION("put over it") {
        Doc fixed = make_doc(7);
        fixed.title = "title-7-restored";
        store.write([&](netabase::WriteTransaction<SDoc>& txn) { txn.open_tree<Doc>().put(fixed); });
        store.read([&](netabase::ReadTransaction<SDoc>& txn) {
            auto docs = txn.open_tree<Doc>();
            CHECK(docs.get(7)->value().title == fixed.title);
            CHECK(docs.index(&Doc::title).count("title-7") == 0);
            CHECK(docs.index(&Doc::title).count("title-7-restored") == 1);
            CHECK(docs.index(&Doc::title).size() == 10);
        });
    }
    SECTION("put over it, through put_many") {
        store.write([&](netabase::WriteTransaction<SDoc>& txn) {
            txn.open_tree<Doc>().put_many(std::vector<Doc>{make_doc(7), make_doc(12)});
        });
        store.read([&](netabase::ReadTransaction<SDoc>& txn) {
            auto docs = txn.open_tree<Doc>();
            CHECK(docs.get(7)->value().title == "title-7");
            CHECK(docs.index(&Doc::title).count("title-7") == 1);
            CHECK(docs.index(&Doc::title).size() == 11);
        });
    }
    SECTION("remove") {
        bool removed = false;
        store.write([&](netabase::WriteTransaction<SDoc>& txn) { removed = txn.open_tree<Doc>().remove(7); });
        CHECK(removed);
        store.read([](netabase::ReadTransaction<SDoc>& txn) {
            auto docs = txn.open_tree<Doc>();
            CHECK_FALSE(docs.contains(7));
            CHECK(docs.index(&Doc::title).count("title-7") == 0);
            CHECK(docs.index(&Doc::title).size() == 9);
        });
    }
    auto rep = store.verify();
    INFO(rep.to_string());
    CHECK(rep.ok());
}

// ---- schema fingerprints -----------------------------------------------------------------------

void write_people(const fs::path& dir, std::uint64_t n) {
    netabase::Store<SPerson> store{dir};
    store.write([&](netabase::WriteTransaction<SPerson>& txn) {
        auto people = txn.open_tree<Person>();
        for (std::uint64_t i = 0; i < n; ++i)
            people.put(Person{i, "p" + std::to_string(i), static_cast<std::uint32_t>(20 + i % 4)});
    });
}

// The named databases of a closed store, and its metadata value for "people".
struct layout {
    std::vector<std::string> databases;
    std::string people_meta;
    unsigned name_index_flags = 0;
};

layout read_layout(const fs::path& dir) {
    auto ok = [](int rc, const char* what) {
        if (rc != 0) throw std::runtime_error(std::string(what) + ": " + ::mdb_strerror(rc));
    };
    layout out;
    MDB_env* env = nullptr;
    ok(::mdb_env_create(&env), "mdb_env_create");
    MDB_txn* txn = nullptr;
    try {
        ok(::mdb_env_set_maxdbs(env, 16), "mdb_env_set_maxdbs");
        ok(::mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOLOCK, 0644), "mdb_env_open");
        ok(::mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
        MDB_dbi main_db, meta, names;
        ok(::mdb_dbi_open(txn, nullptr, 0, &main_db), "mdb_dbi_open");
        MDB_cursor* c;
        ok(::mdb_cursor_open(txn, main_db, &c), "mdb_cursor_open");
        MDB_val k, v;
        for (int rc = ::mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = ::mdb_cursor_get(c, &k, &v, MDB_NEXT))
            out.databases.emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
        ::mdb_cursor_close(c);
        ok(::mdb_dbi_open(txn, "__netabase", 0, &meta), "mdb_dbi_open(__netabase)");
        std::string key = "table:people";
        MDB_val mk{key.size(), key.data()}, mv;
        ok(::mdb_get(txn, meta, &mk, &mv), "mdb_get(table:people)");
        out.people_meta.assign(static_cast<const char*>(mv.mv_data), mv.mv_size);
        ok(::mdb_dbi_open(txn, "people/1", 0, &names), "mdb_dbi_open(people/1)");
        ok(::mdb_dbi_flags(txn, names, &out.name_index_flags), "mdb_dbi_flags");
    } catch (...) {
        if (txn) ::mdb_txn_abort(txn);
        ::mdb_env_close(env);
        throw;
    }
    ::mdb_txn_abort(txn);
    ::mdb_env_close(env);
    return out;
}

bool has_db(const layout& l, const std::string& name) {
    for (const auto& d : l.databases)
        if (d == name) return true;
    return false;
}

TEST_CASE("files: schema_mismatch says what changed: the fields or the primary key", "[files][schema]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    write_people(dir, 5);

    auto fields = open_error<SMoreFields>(dir, {});
    REQUIRE(fields);
    CHECK(fields->code() == netabase::errc::schema_mismatch);
    CHECK(fields->table() == "people");
    CHECK(contains(fields->what(), "people"));
    CHECK(contains(fields->what(), "fields"));
    CHECK_FALSE(contains(fields->what(), "primary key"));

    auto pk = open_error<SByName>(dir, {});
    REQUIRE(pk);
    CHECK(pk->code() == netabase::errc::schema_mismatch);
    CHECK(pk->table() == "people");
    CHECK(contains(pk->what(), "primary key"));
    CHECK_FALSE(contains(pk->what(), "fields changed"));

    // Both refusals left the store as it was.
    const layout l = read_layout(dir);
    CHECK(has_db(l, "people/1"));
    CHECK(has_db(l, "people/2"));
    netabase::Store<SPerson> store{dir};
    CHECK(store.verify().ok());
    CHECK(store.read([](netabase::ReadTransaction<SPerson>& txn) { return txn.open_tree<Person>().size(); }) == 5);
}

TEST_CASE("files: an index changed from non-unique to unique (and back) is rebuilt on open", "[files][schema]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    write_people(dir, 12);
    CHECK((read_layout(dir).name_index_flags & MDB_DUPSORT) != 0);

    {
        netabase::Store<SUnique> store{dir};
        store.read([](netabase::ReadTransaction<SUnique>& txn) {
            auto people = txn.open_tree<PersonUniqueName>();
            auto by_name = people.index(&PersonUniqueName::name);
            CHECK(by_name.unique());
            CHECK(by_name.size() == 12);
            auto g = by_name.get("p7");  // get() exists on unique indexes only
            REQUIRE(g);
            CHECK(g->key() == 7);
            CHECK(people.index(&PersonUniqueName::age).count(21) == 3);
        });
        // Uniqueness is enforced from now on.
        auto e = error_of([&] {
            store.write([](netabase::WriteTransaction<SUnique>& txn) {
                txn.open_tree<PersonUniqueName>().put(PersonUniqueName{100, "p3", 50});
            });
        });
        REQUIRE(e);
        CHECK(e->code() == netabase::errc::unique_violation);
        CHECK(store.verify().ok());
    }
    {
        const layout l = read_layout(dir);
        CHECK((l.name_index_flags & MDB_DUPSORT) == 0);
        CHECK(contains(l.people_meta, ":unique:"));
    }

    // Back to non-unique: duplicates are allowed again and counted.
    {
        netabase::Store<SPerson> store{dir};
        store.write([](netabase::WriteTransaction<SPerson>& txn) {
            txn.open_tree<Person>().put(Person{100, "p3", 50});
        });
        store.read([](netabase::ReadTransaction<SPerson>& txn) {
            auto by_name = txn.open_tree<Person>().index(&Person::name);
            CHECK_FALSE(by_name.unique());
            CHECK(by_name.count("p3") == 2);
            CHECK(by_name.size() == 13);
        });
        CHECK(store.verify().ok());
    }
    CHECK((read_layout(dir).name_index_flags & MDB_DUPSORT) != 0);

    // Now unique cannot be built over the duplicate: the open fails and changes nothing.
    auto e = open_error<SUnique>(dir, {});
    REQUIRE(e);
    CHECK(e->code() == netabase::errc::unique_violation);
    CHECK(contains(e->what(), "people"));
    CHECK((read_layout(dir).name_index_flags & MDB_DUPSORT) != 0);
    netabase::Store<SPerson> store{dir};
    CHECK(store.verify().ok());
    CHECK(store.read([](netabase::ReadTransaction<SPerson>& txn) {
        return txn.open_tree<Person>().index(&Person::name).count("p3");
    }) == 2);
}

TEST_CASE("files: an index removed from the model is dropped on open", "[files][schema]") {
    netabase_test::temp_dir tmp;
    const fs::path dir = tmp / "db";
    write_people(dir, 8);
    {
        const layout l = read_layout(dir);
        CHECK(has_db(l, "people/2"));
        CHECK(contains(l.people_meta, "index=2:"));
    }

    // A read-only open cannot drop it, and says so.
    auto ro = open_error<SNoAge>(dir, netabase::options{.read_only = true});
    REQUIRE(ro);
    CHECK(ro->code() == netabase::errc::schema_mismatch);
    CHECK(contains(ro->what(), "read-write"));
    CHECK(has_db(read_layout(dir), "people/2"));

    {
        netabase::Store<SNoAge> store{dir};
        CHECK(store.verify().ok());
        CHECK(store.read([](netabase::ReadTransaction<SNoAge>& txn) { return txn.open_tree<PersonNoAge>().size(); }) ==
              8);
        // Rows written while the index is gone...
        store.write([](netabase::WriteTransaction<SNoAge>& txn) {
            auto people = txn.open_tree<PersonNoAge>();
            people.put(PersonNoAge{50, "late", 21});
            people.remove(1);  // was 21
        });
    }
    {
        const layout l = read_layout(dir);
        CHECK_FALSE(has_db(l, "people/2"));
        CHECK(has_db(l, "people/1"));
        CHECK(has_db(l, "people"));
        CHECK_FALSE(contains(l.people_meta, "index=2:"));
        CHECK(contains(l.people_meta, "index=1:"));
    }
    // ...are in the index when it comes back: it is built again from the rows.
    netabase::Store<SPerson> store{dir};
    CHECK(store.verify().ok());
    store.read([](netabase::ReadTransaction<SPerson>& txn) {
        auto by_age = txn.open_tree<Person>().index(&Person::age);
        CHECK(by_age.size() == 8);
        std::vector<std::uint64_t> ids;
        for (const auto& row : by_age.equal_range(21)) ids.push_back(row.key());
        CHECK(ids == std::vector<std::uint64_t>{5, 50});
    });
    CHECK(has_db(read_layout(dir), "people/2"));
}

}  // namespace files_test
