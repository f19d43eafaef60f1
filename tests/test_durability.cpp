// Durability against power loss, on a file system that really loses what was not made durable:
// tests/durability/lossy_fs.cpp, a FUSE file system over a backing directory that holds every
// write in memory until fsync/fdatasync or a synchronous (O_DSYNC) write makes it durable, and
// drops the rest at a power cut. A forked writer commits through the mount, one commit at a time,
// and acknowledges each through a pipe once commit() has returned. The power is cut (the writer
// SIGKILLed first, then the file system's memory dropped) at a chosen write or fsync request on
// data.mdb, or while the writer waits after its last commit; then the backing directory is
// opened directly, as after a reboot, and the store is compared with a model of the commits.
//
// - durability::full: every acknowledged commit is there (and at most the one in flight); the
//   store verifies clean and every index entry is the one its rows imply.
// - no_meta_sync: the same consistency, but it loses the last acknowledged commit: for certain
//   when the power goes right after it.
// - no_sync: the same consistency, holding exactly what the last store.sync() made durable.
//
// Each mode runs a sweep (the cut at each of the first write/fsync requests of the same commits,
// dropped and carried out), rounds with random cut points, and a cut while the writer waits.
//   NETABASE_DURABILITY_SEED  replay the random cut points of a run (it prints its seed)
#include "catch.hpp"
#include "index_model.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace durability_test {

namespace fs = std::filesystem;

#ifdef NETABASE_LOSSY_FS
constexpr const char* lossy_fs_program = NETABASE_LOSSY_FS;
#else
constexpr const char* lossy_fs_program = "";     // not built
#endif
#ifdef NETABASE_FUSERMOUNT3
constexpr const char* fusermount3_program = NETABASE_FUSERMOUNT3;
#else
constexpr const char* fusermount3_program = "";  // not found
#endif

// Fails (never skips) when the machine cannot run these tests, saying what is missing.
void require_fuse() {
    if (!*lossy_fs_program)
        FAIL(
            "tests/durability/lossy_fs.cpp was not built: CMake found no libfuse3 (pkg-config fuse3). Install "
            "libfuse3-dev and fuse3 (scripts/setup.sh) and configure again");
    if (!*fusermount3_program)
        FAIL("CMake found no fusermount3 (package fuse3): install it (scripts/setup.sh) and configure again");
    if (::access("/dev/fuse", R_OK | W_OK) != 0)
        FAIL("/dev/fuse is missing or not readable and writable (" << std::strerror(errno)
                                                                   << "): these tests mount a FUSE file system");
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by ") + ::strsignal(WTERMSIG(status));
    return "status " + std::to_string(status);
}

int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    return status;
}

bool is_mounted(const fs::path& point) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, device, root, escaped;
        fields >> id >> parent >> device >> root >> escaped;
        std::string mount_point;  // spaces, tabs, newlines and backslashes come as \ooo
        for (std::size_t i = 0; i < escaped.size(); ++i) {
            if (escaped[i] == '\\' && i + 3 < escaped.size()) {
                mount_point += static_cast<char>(std::stoi(escaped.substr(i + 1, 3), nullptr, 8));
                i += 3;
            } else {
                mount_point += escaped[i];
            }
        }
        if (mount_point == point.string()) return true;
    }
    return false;
}

// ---- the mount -----------------------------------------------------------------------------

struct cut_request {
    std::uint64_t at = 0;  // the at-th write or fsync request on data.mdb
    bool applies = false;  // carried out (durable if it is a sync) before the cut, never answered
    fs::path report;
};

// lossy_fs mounted over `backing` at `point`, from the constructor until unmount() or the
// destructor, which kill the daemon (a power cut) if it still runs and always unmount.
class lossy_mount {
public:
    lossy_mount(const fs::path& backing, const fs::path& point, const std::optional<cut_request>& cut = {})
        : point_(point) {
        int ready[2];
        if (::pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        std::vector<std::string> args{lossy_fs_program};
        if (cut) {
            args.push_back("--cut-file=data.mdb");
            args.push_back("--cut-at=" + std::to_string(cut->at));
            if (cut->applies) args.push_back("--cut-applies");
            args.push_back("--cut-report=" + cut->report.string());
        }
        args.push_back(backing.string());
        args.push_back(point.string());
        const int child_ready = 100;  // the write end's number in the daemon
        args.insert(args.begin() + 1, "--ready-fd=" + std::to_string(child_ready));
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test that dies takes its file system with it
            if (::getppid() != parent) ::_exit(126);
            if (::dup2(ready[1], child_ready) < 0) ::_exit(125);  // dup2 clears close-on-exec
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(ready[1]);
        char c = 0;
        ssize_t got;
        do got = ::read(ready[0], &c, 1);
        while (got < 0 && errno == EINTR);
        ::close(ready[0]);
        if (got != 1) {
            int status = wait_for(pid_);
            reaped_ = true;
            release_mount();
            throw std::runtime_error("lossy_fs did not mount " + point.string() + ": it " + describe_status(status) +
                                     " (its own messages are above)");
        }
    }
    lossy_mount(const lossy_mount&) = delete;
    lossy_mount& operator=(const lossy_mount&) = delete;
    ~lossy_mount() {
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            (void)::waitpid(pid_, nullptr, 0);
        }
        release_mount();
    }

    pid_t pid() const { return pid_; }

    // The power cut from outside: SIGKILL, so the daemon writes nothing back.
    void power_cut() {
        ::kill(pid_, SIGKILL);
        status_ = wait_for(pid_);
        reaped_ = true;
    }
    // Waits for the daemon, which exits by itself after a cut of its own (status 3).
    int wait() {
        status_ = wait_for(pid_);
        reaped_ = true;
        return status_;
    }
    // A clean shutdown: the daemon writes everything back, unmounts and exits with 0.
    int shut_down() {
        ::kill(pid_, SIGTERM);
        return wait();
    }
    int status() const { return status_; }

    // After the daemon is gone: the dead mount removed with fusermount3 -u. Empty when the
    // mount point is no longer mounted; else what went wrong.
    std::string unmount() {
        if (!reaped_) power_cut();
        return release_mount();
    }

private:
    std::string release_mount() {
        if (!is_mounted(point_)) return {};
        std::string why;
        std::string path = point_.string();
        char u[] = "-u";
        char* argv[] = {const_cast<char*>("fusermount3"), u, path.data(), nullptr};
        pid_t p = -1;
        if (int rc = ::posix_spawn(&p, fusermount3_program, nullptr, nullptr, argv, environ); rc != 0)
            why = std::string("cannot run fusermount3: ") + std::strerror(rc);
        else if (int status = wait_for(p); status != 0)
            why = "fusermount3 -u " + path + " " + describe_status(status);
        if (is_mounted(point_)) {
            ::umount2(point_.c_str(), MNT_DETACH);
            why += "; " + path + " was still mounted after fusermount3 -u";
            std::fprintf(stderr, "lossy_mount: %s\n", why.c_str());
        }
        return why;
    }

    fs::path point_;
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
};

// ---- the models and the workload -----------------------------------------------------------

struct Item {
    std::uint32_t id;
    std::string name;  // unique; every write gives a new one, so its entry moves
    std::uint32_t group;
    std::vector<std::uint32_t> tags;  // a multi-valued key
    std::uint64_t commit;
    std::string payload;

    friend bool operator==(const Item&, const Item&) = default;
};

constexpr auto by_tag = netabase::keys<Item>("by_tag", [](const Item& i) { return i.tags; });

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("durable_items")
        .primary_key(&Item::id)
        .secondary_key(&Item::name, netabase::unique)
        .secondary_key(&Item::group)
        .secondary_key(by_tag);
}

// The number of the last commit, written in the same transaction as its changes.
struct Counter {
    std::uint32_t id;
    std::uint64_t commits;
};

constexpr auto netabase_model(netabase::tag<Counter>) {
    return netabase::model<Counter>("durable_counter").primary_key(&Counter::id);
}

using S = netabase::definition<Item, Counter>;
using Store = netabase::Store<S>;
using Model = std::map<std::uint32_t, Item>;

constexpr std::uint32_t ids = 41;
constexpr std::uint64_t sync_every = 3;  // no_sync writers call store.sync() after every third commit

// What commit number c does: a pure function of c.
struct commit_ops {
    std::vector<Item> puts;
    std::optional<std::uint32_t> removed;
    std::uint32_t updated = 0;
    std::uint32_t new_group = 0;
    std::string new_name;
};

commit_ops ops_of(std::uint64_t c) {
    commit_ops o;
    for (std::uint64_t k = 0; k < 2; ++k) {
        Item it;
        it.id = static_cast<std::uint32_t>((c * (7 + 6 * k) + 5 * k) % ids);
        it.name = "n" + std::to_string(c) + "." + std::to_string(k);
        it.group = static_cast<std::uint32_t>((c + k) % 5);
        it.tags = {static_cast<std::uint32_t>(c % 4), static_cast<std::uint32_t>((c + k) % 6)};
        it.commit = c;
        it.payload.assign(100 + (c * 389 + k * 1013) % 1800, static_cast<char>('a' + c % 26));
        o.puts.push_back(std::move(it));
    }
    if (c % 3 == 0) o.removed = static_cast<std::uint32_t>((c * 5 + 1) % ids);
    o.updated = static_cast<std::uint32_t>((c * 11 + 2) % ids);
    o.new_group = static_cast<std::uint32_t>(c * 3 % 5);
    o.new_name = "u" + std::to_string(c);
    return o;
}

void apply(Model& m, std::uint64_t c) {
    commit_ops o = ops_of(c);
    for (const Item& it : o.puts) m[it.id] = it;
    if (o.removed) m.erase(*o.removed);
    if (auto i = m.find(o.updated); i != m.end()) {
        i->second.group = o.new_group;
        i->second.name = o.new_name;
    }
}

void apply(netabase::WriteTransaction<S>& txn, std::uint64_t c) {
    commit_ops o = ops_of(c);
    auto items = txn.open_tree<Item>();
    for (const Item& it : o.puts) items.put(it);
    if (o.removed) items.remove(*o.removed);
    items.update(o.updated, [&](Item& it) {
        it.group = o.new_group;
        it.name = o.new_name;
    });
    txn.open_tree<Counter>().put(Counter{0, c});
}

Model model_after(std::uint64_t commits) {
    Model m;
    for (std::uint64_t c = 1; c <= commits; ++c) apply(m, c);
    return m;
}

std::uint64_t stored_commits(const Store& store) {
    return store.read([](netabase::ReadTransaction<S>& txn) -> std::uint64_t {
        auto c = txn.open_tree<Counter>().get(0);
        return c ? c->value().commits : 0;
    });
}

// ---- the writer ------------------------------------------------------------------------------

enum class ack_kind : std::uint64_t { opened = 1, committed = 2, synced = 3, finished = 4 };

struct ack {
    ack_kind kind;
    std::uint64_t value;  // commits in the store (opened, finished) or the commit's number
};

void send(int fd, ack a) {
    if (::write(fd, &a, sizeof a) != static_cast<ssize_t>(sizeof a)) ::_exit(4);  // atomic: < PIPE_BUF
}

// Opens the store in `dir` with `mode`, reports what it holds, commits until it holds `until`
// commits (each acknowledged after commit() returned; no_sync writers sync every third), reports
// that it finished; then waits to be killed (`hold`) or closes the store and exits.
[[noreturn]] void writer(const fs::path& dir, netabase::durability mode, std::uint64_t until, bool hold, int fd) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    try {
        {
            Store store{dir, netabase::options{.durability = mode}};
            std::uint64_t c = stored_commits(store);
            send(fd, {ack_kind::opened, c});
            while (c < until) {
                ++c;
                store.write([&](netabase::WriteTransaction<S>& txn) { apply(txn, c); });
                send(fd, {ack_kind::committed, c});
                if (mode == netabase::durability::no_sync && c % sync_every == 0) {
                    store.sync();
                    send(fd, {ack_kind::synced, c});
                }
            }
            send(fd, {ack_kind::finished, c});
            while (hold) ::pause();
        }
        ::_exit(0);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "durability writer (pid %d): %s\n", static_cast<int>(::getpid()), e.what());
        ::_exit(3);
    } catch (...) {
        ::_exit(5);
    }
}

// A forked writer; killed (SIGKILL) and reaped by the destructor if it still runs.
class writer_process {
public:
    writer_process(const fs::path& dir, netabase::durability mode, std::uint64_t until, bool hold) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::close(p[0]);
            writer(dir, mode, until, hold, p[1]);
        }
        ::close(p[1]);
        acks_ = p[0];
    }
    writer_process(const writer_process&) = delete;
    writer_process& operator=(const writer_process&) = delete;
    ~writer_process() {
        ::close(acks_);
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            (void)::waitpid(pid_, nullptr, 0);
        }
    }
    int acks() const { return acks_; }
    void kill() const { ::kill(pid_, SIGKILL); }
    int wait() {
        int status = wait_for(pid_);
        reaped_ = true;
        return status;
    }

private:
    pid_t pid_ = -1;
    int acks_ = -1;
    bool reaped_ = false;
};

// What a round's writer acknowledged.
struct outcome {
    std::uint64_t start = 0;  // commits on disk when the round began
    bool opened = false;      // the writer had opened the store
    std::uint64_t at_open = 0;
    std::uint64_t acked = 0;  // the last acknowledged commit (start when none)
    bool any_ack = false;
    std::uint64_t synced = 0;  // the last acknowledged store.sync() (start when none)
    bool finished = false;
    int writer_status = 0;
};

// Reads acknowledgements until `stop` (when given) or the end of the pipe (the writer is gone).
bool read_acks(int fd, outcome& o, std::optional<ack_kind> stop = {}) {
    for (;;) {
        ack a{};
        ssize_t got;
        do got = ::read(fd, &a, sizeof a);
        while (got < 0 && errno == EINTR);
        if (got == 0) return false;
        if (got != static_cast<ssize_t>(sizeof a)) throw std::runtime_error("short read of an acknowledgement");
        switch (a.kind) {
            case ack_kind::opened:
                o.opened = true;
                o.at_open = a.value;
                break;
            case ack_kind::committed:
                o.any_ack = true;
                o.acked = a.value;
                break;
            case ack_kind::synced:
                o.synced = a.value;
                break;
            case ack_kind::finished:
                o.finished = true;
                break;
        }
        if (stop && a.kind == *stop) return true;
    }
}

// ---- after the power comes back ---------------------------------------------------------------

struct inspection {
    std::uint64_t found = 0;  // commits the store holds
    std::string rows;         // how its rows differ from the model after `found` commits
    std::string entries;      // how its index entries differ from what its rows imply
    std::string verify;       // store.verify()'s report when it is not clean
};

// Opens the store on the backing directory, as after a reboot, and compares it with the model.
inspection inspect(const fs::path& dir) {
    inspection r;
    {
        Store store{dir};
        r.found = stored_commits(store);
        const Model model = model_after(r.found);
        std::ostringstream out;
        store.read([&](netabase::ReadTransaction<S>& txn) {
            auto items = txn.open_tree<Item>();
            if (items.size() != model.size()) out << "rows: " << items.size() << ", model " << model.size() << "\n";
            auto m = model.begin();
            for (const auto& row : items) {
                Item it = row.value();
                if (m == model.end() || m->first != it.id) {
                    out << "unexpected row " << it.id << "\n";
                    continue;
                }
                if (!(m->second == it))
                    out << "row " << it.id << " differs (commit " << it.commit << ", model " << m->second.commit
                        << ")\n";
                ++m;
            }
        });
        r.rows = out.str();
        auto report = store.verify();
        if (!report.ok()) r.verify = report.to_string();
    }
    r.entries = netabase_test::index_mismatches<Item>(dir) + netabase_test::index_mismatches<Counter>(dir);
    return r;
}

// The file system's own cut: the request it stopped at.
struct cut_report {
    std::uint64_t request = 0;
    std::string kind;  // write, sync_write (O_DSYNC), fsync
    bool applied = false;
    long long offset = 0;
    std::size_t pending_pages = 0;  // pages of data.mdb it dropped
    std::string line;
};

cut_report read_report(const fs::path& file) {
    std::ifstream in(file);
    cut_report r;
    if (!std::getline(in, r.line)) throw std::runtime_error("lossy_fs wrote no cut report to " + file.string());
    std::istringstream fields(r.line);
    std::string field;
    while (fields >> field) {
        auto eq = field.find('=');
        std::string name = field.substr(0, eq), value = field.substr(eq + 1);
        if (name == "request") r.request = std::stoull(value);
        if (name == "kind") r.kind = value;
        if (name == "applied") r.applied = value == "1";
        if (name == "offset") r.offset = std::stoll(value);
        if (name == "pending_pages") r.pending_pages = std::stoull(value);
    }
    return r;
}

const char* name_of(netabase::durability mode) {
    switch (mode) {
        case netabase::durability::full:
            return "full";
        case netabase::durability::no_meta_sync:
            return "no_meta_sync";
        case netabase::durability::no_sync:
            return "no_sync";
    }
    return "?";
}

constexpr long long meta_pages_end = 2 * 4096;  // LMDB's two meta pages (its page size is the OS's)

// The commits the store may hold after the file system cut at `cut`, by the mode's promise on a
// disk that writes back nothing by itself: [lo, hi].
std::pair<std::uint64_t, std::uint64_t> expected(netabase::durability mode, const outcome& o, const cut_report& cut) {
    const std::uint64_t acked = o.acked;
    if (!o.opened) return {o.start, o.start};  // cut while the writer opened the store
    const bool meta_write = cut.kind == "write" && cut.offset < meta_pages_end;
    switch (mode) {
        case netabase::durability::full:
            // Data pages, then fdatasync, then the meta page through an O_DSYNC descriptor: the
            // commit in flight is durable exactly when its meta page is.
            if (cut.kind == "write") return {acked, acked};
            if (cut.kind == "sync_write") return {acked + cut.applied, acked + cut.applied};
            return {acked, acked + 1};
        case netabase::durability::no_meta_sync: {
            // The meta page is written without a sync; the next commit's fdatasync makes it durable.
            const std::uint64_t lost_last = o.any_ack ? acked - 1 : acked;
            if (cut.kind == "fsync") return cut.applied ? std::pair{acked, acked} : std::pair{lost_last, lost_last};
            if (meta_write) return {acked, acked};  // after its commit's fdatasync
            if (cut.kind == "write") return {lost_last, lost_last};
            return {lost_last, acked};
        }
        case netabase::durability::no_sync:
            // Nothing is synced but by store.sync(), whose fdatasync is the only fsync request.
            if (cut.kind == "fsync" && cut.applied) return {acked, acked};
            return {o.synced, o.synced};
    }
    return {0, 0};
}

// ---- the rounds ------------------------------------------------------------------------------

struct lane {
    netabase::durability mode;
    netabase_test::temp_dir dir;
    fs::path mnt;
    fs::path initial;  // a data.mdb holding `initial_commits` commits, copied into each round's backing
    static constexpr std::uint64_t initial_commits = 3;
    std::mt19937_64 rng;
    std::uint64_t seed = 0;
    int rounds = 0;

    explicit lane(netabase::durability m) : mode(m) {
        const char* s = std::getenv("NETABASE_DURABILITY_SEED");
        seed = s && *s ? std::strtoull(s, nullptr, 0)
                       : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
        rng.seed(seed);
        std::cout << "durability " << name_of(mode) << ": seed=0x" << std::hex << seed << std::dec
                  << " (replay: NETABASE_DURABILITY_SEED=0x" << std::hex << seed << std::dec << ")" << std::endl;
        fs::create_directories(dir / "mnt");
        mnt = fs::canonical(dir / "mnt");
        fs::path first = dir / "initial" / "store";
        {
            Store store{first};
            for (std::uint64_t c = 1; c <= initial_commits; ++c)
                store.write([&](netabase::WriteTransaction<S>& txn) { apply(txn, c); });
        }
        initial = first / "data.mdb";
    }

    // A backing directory holding the same initial store as every other round's.
    fs::path fresh_backing() {
        fs::path b = dir / ("round" + std::to_string(++rounds));
        fs::create_directories(b / "store");
        fs::copy_file(initial, b / "store" / "data.mdb");
        return b;
    }

    // One round in which the file system cuts the power at request `at` of data.mdb.
    std::pair<outcome, cut_report> cut_round(const fs::path& backing, std::uint64_t at, bool applies) {
        outcome o;
        o.start = o.acked = o.synced = inspect(backing / "store").found;
        const fs::path report = dir / "cut.txt";
        fs::remove(report);
        lossy_mount mount(backing, mnt, cut_request{at, applies, report});
        // The writer never stops on its own before the cut comes (the sweep's requests come
        // within its first commits); if it did, that is a failure below.
        writer_process w(mnt / "store", mode, o.start + 1000, false);
        read_acks(w.acks(), o);  // to the end: the writer is gone
        o.writer_status = w.wait();
        INFO("round " << rounds << ", cut at request " << at << (applies ? " (carried out)" : " (dropped)")
                      << ": the writer " << describe_status(o.writer_status));
        if (!(WIFSIGNALED(o.writer_status) && WTERMSIG(o.writer_status) == SIGKILL)) {
            mount.power_cut();
            FAIL("the writer stopped before the file system cut the power (request "
                 << at << " never came, or the writer failed: its message is above)");
        }
        const int status = mount.wait();
        INFO("lossy_fs " << describe_status(status));
        REQUIRE(WIFEXITED(status));
        REQUIRE(WEXITSTATUS(status) == 3);  // its own cut
        const std::string unmounted = mount.unmount();
        INFO(unmounted);
        REQUIRE(unmounted.empty());
        REQUIRE_FALSE(is_mounted(mnt));
        cut_report cut = read_report(report);
        REQUIRE(cut.request == at);
        return {o, cut};
    }

    // Checks the store after a cut of the file system's own; returns what it holds.
    std::uint64_t check_cut(const fs::path& backing, const outcome& o, const cut_report& cut) {
        const auto [lo, hi] = expected(mode, o, cut);
        inspection r = inspect(backing / "store");
        INFO(name_of(mode) << " round " << rounds << ": " << cut.line << "; started at commit " << o.start
                           << (o.opened ? "" : ", cut before the writer had opened the store")
                           << ", last acknowledged commit " << o.acked << ", last acknowledged sync " << o.synced
                           << "; the store holds commit " << r.found << ", expected " << lo << ".." << hi);
        INFO(r.rows << r.entries << r.verify);
        REQUIRE(r.found >= lo);
        REQUIRE(r.found <= hi);
        REQUIRE(r.rows.empty());
        REQUIRE(r.entries.empty());
        REQUIRE(r.verify.empty());
        return r.found;
    }

    // A writer commits four or five times (for no_sync: a sync among them and a commit after the
    // last), closes the store and exits; a second writer opens the store through the same mount
    // (reading what is not durable: the file system's memory) and waits; the test kills it and
    // cuts the power. Returns (what the second writer read, what the store holds after the cut).
    std::pair<std::uint64_t, inspection> quiet_round(const fs::path& backing, outcome& o) {
        o.start = o.acked = o.synced = inspect(backing / "store").found;
        std::uint64_t until = o.start + 4;
        if (until % sync_every == 0) ++until;
        lossy_mount mount(backing, mnt);
        writer_process first(mnt / "store", mode, until, false);
        read_acks(first.acks(), o);
        o.writer_status = first.wait();
        INFO("the first writer " << describe_status(o.writer_status));
        REQUIRE(o.writer_status == 0);
        REQUIRE(o.finished);
        REQUIRE(o.acked == until);

        outcome again;
        writer_process second(mnt / "store", mode, 0, true);
        REQUIRE(read_acks(second.acks(), again, ack_kind::finished));
        REQUIRE(again.opened);
        // Kill the writer, then cut: nothing can reach the disk in between.
        second.kill();
        mount.power_cut();
        const int status = second.wait();
        INFO("the second writer " << describe_status(status));
        REQUIRE(WIFSIGNALED(status));
        REQUIRE(WTERMSIG(status) == SIGKILL);
        const std::string unmounted = mount.unmount();
        INFO(unmounted);
        REQUIRE(unmounted.empty());
        REQUIRE_FALSE(is_mounted(mnt));
        return {again.at_open, inspect(backing / "store")};
    }
};

// How many requests of data.mdb the sweep cuts at, each dropped and carried out: enough for the
// opening and the first commits (each: data pages, fdatasync, meta page, its sync).
constexpr std::uint64_t sweep_requests = 14;
constexpr int random_rounds = 4;

struct tally {
    std::map<std::string, int> kinds;  // cuts per kind of request
    // Rounds whose cut dropped pending pages of data.mdb and kept every acknowledged commit,
    // kept the commit in flight though it was never acknowledged, lost acknowledged commits.
    int lost_pages_kept_acks = 0;
    int durable_unacknowledged = 0;
    int lost_acknowledged = 0;
};

void run_cuts(lane& l, tally& t, fs::path& last_backing) {
    auto one = [&](std::uint64_t at, bool applies) {
        fs::path backing = l.fresh_backing();
        auto [o, cut] = l.cut_round(backing, at, applies);
        const std::uint64_t found = l.check_cut(backing, o, cut);
        ++t.kinds[cut.kind];
        if (o.opened && cut.pending_pages > 0 && found >= o.acked) ++t.lost_pages_kept_acks;
        if (found > o.acked) ++t.durable_unacknowledged;
        if (found < o.acked) ++t.lost_acknowledged;
        if (!last_backing.empty()) fs::remove_all(last_backing);
        last_backing = backing;
    };
    for (std::uint64_t at = 1; at <= sweep_requests; ++at)
        for (bool applies : {false, true}) one(at, applies);
    for (int i = 0; i < random_rounds; ++i) one(sweep_requests + 1 + l.rng() % 200, (l.rng() & 1) != 0);
    std::cout << "durability " << name_of(l.mode) << ": " << l.rounds << " power cuts (at " << t.kinds["write"]
              << " writes, " << t.kinds["sync_write"] << " O_DSYNC writes, " << t.kinds["fsync"] << " fsyncs): "
              << "in " << t.lost_acknowledged << " acknowledged commits were lost, in " << t.durable_unacknowledged
              << " the unacknowledged commit in flight was kept, " << t.lost_pages_kept_acks
              << " dropped pending pages of data.mdb and kept every acknowledged commit" << std::endl;
}

TEST_CASE("durability: lossy_fs shows unsynced writes to readers and loses them at a power cut", "[durability]") {
    require_fuse();
    netabase_test::watchdog hang(std::chrono::seconds(100),
                                 "a [durability] test (a file system request never answered?)");
    netabase_test::temp_dir dir;
    fs::create_directories(dir / "backing");
    fs::create_directories(dir / "mnt");
    const fs::path backing = fs::canonical(dir / "backing"), mnt = fs::canonical(dir / "mnt");
    const std::string page_a(4096, 'a'), page_b(4096, 'b'), tail(100, 't');

    auto write_file = [](const fs::path& p, const std::string& bytes, int flags, bool fsync) {
        int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
        if (fsync) REQUIRE(::fsync(fd) == 0);
        REQUIRE(::close(fd) == 0);
    };
    auto read_file = [](const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };

    {
        lossy_mount mount(backing, mnt);
        REQUIRE(is_mounted(mnt));
        const std::string unsynced = page_a + page_b + tail;
        write_file(mnt / "unsynced", unsynced, 0, false);
        write_file(mnt / "fsynced", page_a + tail, 0, true);
        write_file(mnt / "dsync", page_b, O_DSYNC, false);
        // Made durable, then its second page overwritten without a sync.
        write_file(mnt / "overwritten", page_a + page_a, 0, true);
        {
            int fd = ::open((mnt / "overwritten").c_str(), O_WRONLY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            REQUIRE(::pwrite(fd, page_b.data(), page_b.size(), 4096) == 4096);
            REQUIRE(::close(fd) == 0);
        }

        // The backing directory holds what is durable: names at once, data once synced.
        REQUIRE(fs::exists(backing / "unsynced"));
        REQUIRE(fs::file_size(backing / "unsynced") == 0);
        REQUIRE(read_file(backing / "fsynced") == page_a + tail);
        REQUIRE(read_file(backing / "dsync") == page_b);
        REQUIRE(read_file(backing / "overwritten") == page_a + page_a);

        // Readers see every write, served from the file system's memory once the kernel has
        // dropped its cached pages: by read(2) and through a read-only shared mapping (LMDB's).
        REQUIRE(fs::file_size(mnt / "unsynced") == unsynced.size());
        for (const char* name : {"unsynced", "overwritten"}) {
            INFO(name);
            const std::string want = std::string(name) == "unsynced" ? unsynced : page_a + page_b;
            int fd = ::open((mnt / name).c_str(), O_RDONLY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            void* map = ::mmap(nullptr, want.size(), PROT_READ, MAP_SHARED, fd, 0);
            REQUIRE(map != MAP_FAILED);
            REQUIRE(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
            std::vector<unsigned char> resident((want.size() + 4095) / 4096);
            REQUIRE(::mincore(map, want.size(), resident.data()) == 0);
            for (unsigned char r : resident) REQUIRE((r & 1) == 0);  // not cached: the reads below ask lossy_fs
            REQUIRE(std::string(static_cast<const char*>(map), want.size()) == want);
            REQUIRE(::munmap(map, want.size()) == 0);
            REQUIRE(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
            std::string got(want.size() + 10, '\0');
            REQUIRE(::pread(fd, got.data(), got.size(), 0) == static_cast<ssize_t>(want.size()));
            got.resize(want.size());
            REQUIRE(got == want);
            REQUIRE(::close(fd) == 0);
        }

        mount.power_cut();
        REQUIRE(WIFSIGNALED(mount.status()));
        const std::string unmounted = mount.unmount();
        INFO(unmounted);
        REQUIRE(unmounted.empty());
        REQUIRE_FALSE(is_mounted(mnt));
    }
    // After the cut: exactly what was durable.
    REQUIRE(fs::file_size(backing / "unsynced") == 0);
    REQUIRE(read_file(backing / "fsynced") == page_a + tail);
    REQUIRE(read_file(backing / "dsync") == page_b);
    REQUIRE(read_file(backing / "overwritten") == page_a + page_a);

    // A clean shutdown writes everything back, as an OS does before it powers off.
    {
        lossy_mount mount(backing, mnt);
        write_file(mnt / "unsynced", page_b, O_TRUNC, false);
        REQUIRE(fs::file_size(backing / "unsynced") == 0);
        const int status = mount.shut_down();
        INFO("lossy_fs " << describe_status(status));
        REQUIRE(status == 0);
        REQUIRE_FALSE(is_mounted(mnt));
    }
    REQUIRE(read_file(backing / "unsynced") == page_b);
}

TEST_CASE("durability: full keeps every acknowledged commit through power cuts", "[durability]") {
    require_fuse();
    netabase_test::watchdog hang(std::chrono::seconds(100),
                                 "a [durability] test (a file system request never answered?)");
    lane l(netabase::durability::full);
    tally t;
    fs::path last;
    run_cuts(l, t, last);
    INFO("cuts at write: " << t.kinds["write"] << ", sync_write: " << t.kinds["sync_write"]
                           << ", fsync: " << t.kinds["fsync"]);
    // The sweep cut at every kind of request of a commit, dropped pending pages of data.mdb and
    // lost nothing acknowledged, and saw a commit durable before its acknowledgement.
    REQUIRE(t.kinds["write"] > 0);
    REQUIRE(t.kinds["sync_write"] > 0);
    REQUIRE(t.kinds["fsync"] > 0);
    REQUIRE(t.lost_pages_kept_acks > 0);
    REQUIRE(t.durable_unacknowledged > 0);
    REQUIRE(t.lost_acknowledged == 0);

    // Resumed on the store the last cut left: the power goes while the writer waits after its
    // last commit. Every commit is there.
    outcome o;
    auto [read_back, r] = l.quiet_round(last, o);
    INFO("started at " << o.start << ", acknowledged " << o.acked << ", read back " << read_back << ", found "
                       << r.found << "\n"
                       << r.rows << r.entries << r.verify);
    REQUIRE(read_back == o.acked);
    REQUIRE(r.found == o.acked);
    REQUIRE(r.rows.empty());
    REQUIRE(r.entries.empty());
    REQUIRE(r.verify.empty());
}

TEST_CASE("durability: no_meta_sync stays consistent and loses the last acknowledged commit at a power cut",
          "[durability]") {
    require_fuse();
    netabase_test::watchdog hang(std::chrono::seconds(100),
                                 "a [durability] test (a file system request never answered?)");
    lane l(netabase::durability::no_meta_sync);
    tally t;
    fs::path last;
    run_cuts(l, t, last);
    REQUIRE(t.lost_acknowledged > 0);

    outcome o;
    auto [read_back, r] = l.quiet_round(last, o);
    INFO("started at " << o.start << ", acknowledged " << o.acked << ", read back " << read_back << ", found "
                       << r.found << "\n"
                       << r.rows << r.entries << r.verify);
    REQUIRE(read_back == o.acked);    // readers saw the last commit before the cut
    REQUIRE(r.found == o.acked - 1);  // its meta page was never synced: lost, and only it
    REQUIRE(r.rows.empty());
    REQUIRE(r.entries.empty());
    REQUIRE(r.verify.empty());
}

TEST_CASE("durability: no_sync stays consistent and keeps exactly what store.sync() made durable at a power cut",
          "[durability]") {
    require_fuse();
    netabase_test::watchdog hang(std::chrono::seconds(100),
                                 "a [durability] test (a file system request never answered?)");
    lane l(netabase::durability::no_sync);
    tally t;
    fs::path last;
    run_cuts(l, t, last);
    REQUIRE(t.lost_acknowledged > 0);

    outcome o;
    auto [read_back, r] = l.quiet_round(last, o);
    INFO("started at " << o.start << ", acknowledged " << o.acked << ", last sync " << o.synced << ", read back "
                       << read_back << ", found " << r.found << "\n"
                       << r.rows << r.entries << r.verify);
    REQUIRE(o.synced > o.start);
    REQUIRE(o.synced < o.acked);
    REQUIRE(read_back == o.acked);  // readers saw every commit before the cut
    REQUIRE(r.found == o.synced);   // the disk has exactly the last sync
    REQUIRE(r.rows.empty());
    REQUIRE(r.entries.empty());
    REQUIRE(r.verify.empty());
}

}  // namespace durability_test
