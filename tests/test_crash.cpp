// Crash consistency with real processes and real SIGKILLs: a forked child keeps committing a
// deterministic sequence of writes (inserts, replacements that move index entries, updates,
// removes) with the default durability (full) and acknowledges each commit through a pipe; the
// parent kills it at a random moment, reopens the store and checks that it holds exactly the
// state after the last acknowledged commit, or after the one commit in flight, with exact
// indexes. Then the next child carries on from there.
//
//   NETABASE_CRASH_KILLS  number of kills, split over the two lanes (default 2000: about a
//                         minute under ASan with ctest -j2)
//   NETABASE_CRASH_SEED   replay a lane with the seed it printed (decimal or 0x hex)
// A longer run is past ctest's 120 s timeout: run the binary itself, e.g.
//   NETABASE_CRASH_KILLS=50000 build/asan/tests/netabase_tests "crash:*"
#include "catch.hpp"
#include "index_model.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace crash_test {

// ---- models ------------------------------------------------------------------------------

struct Item {
    std::uint32_t id;
    std::string name;    // unique; every write gives a new one, so the entry always moves
    std::uint32_t group; // non-unique
    std::uint64_t version;
    std::vector<std::uint32_t> tags;  // multi-valued key
    std::string payload;

    friend bool operator==(const Item&, const Item&) = default;
};

constexpr auto by_tag = netabase::keys<Item>("by_tag", [](const Item& i) { return i.tags; });

constexpr auto netabase_model(netabase::tag<Item>) {
    return netabase::model<Item>("crash_items")
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
    return netabase::model<Counter>("crash_counter").primary_key(&Counter::id);
}

using S = netabase::definition<Item, Counter>;
using Store = netabase::Store<S>;
using Model = std::map<std::uint32_t, Item>;

// ---- the deterministic workload ----------------------------------------------------------

constexpr std::uint32_t ids = 48;
constexpr std::uint32_t groups = 7;

std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

enum class kind { put, insert, remove, update, put_many, remove_many };

struct op {
    kind what;
    std::vector<Item> items;          // put, insert, put_many
    std::vector<std::uint32_t> keys;  // remove, update, remove_many
    std::uint32_t new_group = 0;      // update
    std::string new_name;             // update
};

Item make_item(std::uint64_t& r, std::uint64_t commit, std::size_t n) {
    Item it;
    it.id = static_cast<std::uint32_t>(splitmix(r) % ids);
    it.name = "n" + std::to_string(it.id) + "." + std::to_string(commit) + "." + std::to_string(n);
    it.group = static_cast<std::uint32_t>(splitmix(r) % groups);
    it.version = commit;
    std::size_t ntags = splitmix(r) % 4;
    for (std::size_t t = 0; t < ntags; ++t) it.tags.push_back(static_cast<std::uint32_t>(splitmix(r) % 6));
    it.payload.assign(splitmix(r) % 300, static_cast<char>('a' + commit % 26));
    return it;
}

// The operations of commit number `commit` (1, 2, ...): a pure function of seed and commit.
std::vector<op> ops_of(std::uint64_t seed, std::uint64_t commit) {
    std::uint64_t r = seed ^ (commit * 0xd1b54a32d192ed03ULL);
    std::vector<op> ops(1 + splitmix(r) % 4);
    std::size_t n = 0;
    for (op& o : ops) {
        switch (splitmix(r) % 10) {
            case 0: case 1: case 2:
                o.what = kind::put;
                o.items.push_back(make_item(r, commit, n++));
                break;
            case 3: case 4:
                o.what = kind::insert;
                o.items.push_back(make_item(r, commit, n++));
                break;
            case 5: case 6:
                o.what = kind::remove;
                o.keys.push_back(static_cast<std::uint32_t>(splitmix(r) % ids));
                break;
            case 7:
                o.what = kind::update;
                o.keys.push_back(static_cast<std::uint32_t>(splitmix(r) % ids));
                o.new_group = static_cast<std::uint32_t>(splitmix(r) % groups);
                o.new_name = "u" + std::to_string(o.keys[0]) + "." + std::to_string(commit) + "." + std::to_string(n++);
                break;
            case 8:
                o.what = kind::put_many;
                for (int i = 0; i < 3; ++i) o.items.push_back(make_item(r, commit, n++));
                break;
            default:
                o.what = kind::remove_many;
                for (int i = 0; i < 3; ++i) o.keys.push_back(static_cast<std::uint32_t>(splitmix(r) % ids));
                break;
        }
    }
    return ops;
}

void apply_ops(Model& m, const std::vector<op>& ops) {
    for (const op& o : ops) {
        switch (o.what) {
            case kind::put:
            case kind::put_many:
                for (const Item& it : o.items) m[it.id] = it;
                break;
            case kind::insert:
                m.emplace(o.items[0].id, o.items[0]);
                break;
            case kind::remove:
            case kind::remove_many:
                for (auto k : o.keys) m.erase(k);
                break;
            case kind::update:
                if (auto i = m.find(o.keys[0]); i != m.end()) {
                    i->second.group = o.new_group;
                    i->second.name = o.new_name;
                }
                break;
        }
    }
}

void apply_ops(netabase::WriteTransaction<S>& txn, const std::vector<op>& ops, std::uint64_t commit) {
    auto items = txn.open_tree<Item>();
    for (const op& o : ops) {
        switch (o.what) {
            case kind::put: items.put(o.items[0]); break;
            case kind::put_many: items.put_many(o.items); break;
            case kind::insert: items.insert(o.items[0]); break;
            case kind::remove: items.remove(o.keys[0]); break;
            case kind::remove_many: items.remove_many(o.keys); break;
            case kind::update:
                items.update(o.keys[0], [&](Item& it) {
                    it.group = o.new_group;
                    it.name = o.new_name;
                });
                break;
        }
    }
    txn.open_tree<Counter>().put(Counter{0, commit});
}

std::uint64_t stored_commits(const Store& store) {
    return store.read([](netabase::ReadTransaction<S>& txn) -> std::uint64_t {
        auto c = txn.open_tree<Counter>().get(0);
        return c ? c->value().commits : 0;
    });
}

// ---- the child -----------------------------------------------------------------------------

[[noreturn]] void writer_child(const std::filesystem::path& dir, std::uint64_t seed, int ack_fd) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    try {
        Store store{dir};  // durability::full
        std::uint64_t commit = stored_commits(store);
        for (;;) {
            ++commit;
            auto ops = ops_of(seed, commit);
            store.write([&](netabase::WriteTransaction<S>& txn) { apply_ops(txn, ops, commit); });
            if (::write(ack_fd, &commit, sizeof commit) != static_cast<ssize_t>(sizeof commit)) ::_exit(4);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "crash_test writer child: %s\n", e.what());
        ::_exit(3);
    } catch (...) {
        ::_exit(5);
    }
}

// ---- the parent's check --------------------------------------------------------------------

// Empty when the store holds exactly `model` with exact indexes; else what differs.
std::string compare(const Store& store, const Model& model) {
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
            if (!(m->second == it)) out << "row " << it.id << " differs (version " << it.version << ", model "
                                        << m->second.version << ")\n";
            ++m;
        }
        auto by_name = items.index(&Item::name);
        auto by_group = items.index(&Item::group);
        auto tags = items.index(by_tag);
        std::map<std::uint32_t, std::size_t> per_group, per_tag;
        std::size_t tag_entries = 0;
        for (const auto& [id, it] : model) {
            auto hit = by_name.get(it.name);
            if (!hit || hit->key() != id) out << "unique index has no entry '" << it.name << "' -> " << id << "\n";
            ++per_group[it.group];
            std::set<std::uint32_t> distinct(it.tags.begin(), it.tags.end());
            for (auto t : distinct) ++per_tag[t];
            tag_entries += distinct.size();
        }
        if (by_name.size() != model.size()) out << "unique index size " << by_name.size() << "\n";
        if (by_group.size() != model.size()) out << "group index size " << by_group.size() << "\n";
        if (tags.size() != tag_entries) out << "tag index size " << tags.size() << ", model " << tag_entries << "\n";
        for (std::uint32_t g = 0; g < groups; ++g)
            if (by_group.count(g) != per_group[g]) out << "group " << g << ": " << by_group.count(g) << " entries\n";
        for (std::uint32_t t = 0; t < 6; ++t)
            if (tags.count(t) != per_tag[t]) out << "tag " << t << ": " << tags.count(t) << " entries\n";
    });
    return out.str();
}

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    return std::strtoull(v, nullptr, 0);
}

// ---- the launcher --------------------------------------------------------------------------
//
// Under ASan a fork copies the page tables of the whole (large, sparse) address space, and both
// that and the teardown of a killed child grow with the forking process's heap. So the writers
// are forked by a small launcher process, itself forked before the test allocates much, which
// keeps the next writer forked in advance (waiting on a pipe, before it opens the store) and
// reads each writer's acknowledgements from its pipe.

struct request {
    int reap = 0;  // 0: start the next writer; 1: reap the writer just killed and report its acks
    int wait_ack = 0;  // with reap 0: reply once the writer acknowledged its first commit
};

struct reply {
    pid_t pid = 0;
    int status = 0;
    std::uint64_t acks = 0;  // commit numbers the writer wrote to its pipe
    std::uint64_t last = 0;  // the last of them
};

bool send_all(int fd, const void* p, std::size_t n) {
    auto* b = static_cast<const char*>(p);
    while (n) {
        ssize_t w = ::write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        b += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

bool recv_all(int fd, void* p, std::size_t n) {
    auto* b = static_cast<char*>(p);
    while (n) {
        ssize_t r = ::read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        b += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

struct writer_process {
    pid_t pid = -1;
    int go = -1;   // one byte on it lets the writer start
    int acks = -1; // the read end of its acknowledgement pipe
};

writer_process fork_writer(int sock, const std::filesystem::path& dir, std::uint64_t seed) {
    int go[2], ack[2];
    if (::pipe(go) != 0 || ::pipe(ack) != 0) ::_exit(10);
    pid_t pid = ::fork();
    if (pid < 0) ::_exit(11);
    if (pid == 0) {
        ::close(sock);
        ::close(go[1]);
        ::close(ack[0]);
        char c;
        if (::read(go[0], &c, 1) != 1) ::_exit(0);  // never started
        ::close(go[0]);
        writer_child(dir, seed, ack[1]);
    }
    ::close(go[0]);
    ::close(ack[1]);
    return {pid, go[1], ack[0]};
}

[[noreturn]] void launcher(int sock, const std::filesystem::path& dir, std::uint64_t seed) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    request q;
    writer_process running, next = fork_writer(sock, dir, seed);
    std::uint64_t early_acks = 0, early_last = 0;  // read before the reply to a wait_ack start
    while (recv_all(sock, &q, sizeof q)) {
        reply a;
        if (q.reap == 0) {
            running = next;
            char c = 'g';
            if (::write(running.go, &c, 1) != 1) ::_exit(12);
            ::close(running.go);
            early_acks = early_last = 0;
            if (q.wait_ack) {
                std::uint64_t first = 0;
                if (!recv_all(running.acks, &first, sizeof first)) ::_exit(16);  // the writer died first
                early_acks = 1;
                early_last = first;
            }
            a.pid = running.pid;
            if (!send_all(sock, &a, sizeof a)) ::_exit(14);
            next = fork_writer(sock, dir, seed);  // while this one runs
            continue;
        }
        if (::waitpid(running.pid, &a.status, 0) != running.pid) ::_exit(13);
        a.acks = early_acks;
        a.last = early_last;
        std::uint64_t value = 0;
        for (;;) {  // the write end died with the writer: read to EOF
            ssize_t got = ::read(running.acks, &value, sizeof value);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            if (got != static_cast<ssize_t>(sizeof value)) ::_exit(15);
            ++a.acks;
            a.last = value;
        }
        ::close(running.acks);
        a.pid = running.pid;
        if (!send_all(sock, &a, sizeof a)) ::_exit(14);
    }
    ::close(next.go);  // the standby writer exits without starting
    int st = 0;
    ::waitpid(next.pid, &st, 0);
    ::_exit(0);
}

// ---- the test ------------------------------------------------------------------------------

// One lane: `kills` writer processes on one store, killed one after the other. The suite runs
// two lanes as two test cases, which ctest runs side by side.
void run_lane(int lane) {
    const std::uint64_t total = env_u64("NETABASE_CRASH_KILLS", 2000);
    const std::uint64_t kills = total / 2 + (lane == 1 ? total % 2 : 0);
    const std::uint64_t base =
        env_u64("NETABASE_CRASH_SEED", (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}());
    const std::uint64_t seed = base + static_cast<std::uint64_t>(lane - 1);
    std::cout << "crash_test lane " << lane << ": seed=0x" << std::hex << seed << std::dec << " kills=" << kills
              << " (replay: NETABASE_CRASH_SEED=0x" << std::hex << base << std::dec << ")" << std::endl;
    INFO("lane " << lane << ", seed 0x" << std::hex << seed << " (NETABASE_CRASH_SEED=0x" << base << ")"
                 << std::dec);

    netabase_test::temp_dir dir;
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    pid_t launcher_pid = ::fork();  // before this process opens the store
    REQUIRE(launcher_pid >= 0);
    if (launcher_pid == 0) {
        ::close(sv[0]);
        launcher(sv[1], dir.path(), seed);
    }
    ::close(sv[1]);
    const int sock = sv[0];
    auto stop_launcher = [&] {
        ::close(sock);
        int st = 0;
        ::waitpid(launcher_pid, &st, 0);
    };

    { Store created{dir.path()}; }  // the files exist before the first kill

    std::mt19937_64 rng(seed);
    Model model;  // the state after `at` commits
    std::uint64_t at = 0;
    std::uint64_t unacked_present = 0, no_ack = 0, max_per_child = 0, delays_us = 0, waited = 0;
    auto start = std::chrono::steady_clock::now();

    for (std::uint64_t k = 1; k <= kills; ++k) {
        reply started, reaped;
        request q;
        // Mostly short lives (killed while opening, or after a commit or two), some at once,
        // some longer: those are killed only after their first commit was acknowledged, so that
        // the writers provably make progress. The pause only spreads the kill points.
        std::uint64_t pick = rng() % 8;
        std::uint64_t delay_us = pick == 0 ? 0 : pick < 6 ? rng() % 30000 : 30000 + rng() % 60000;
        q.reap = 0;
        q.wait_ack = pick >= 6;
        waited += pick >= 6;
        REQUIRE(send_all(sock, &q, sizeof q));
        REQUIRE(recv_all(sock, &started, sizeof started));
        REQUIRE(started.pid > 0);

        delays_us += delay_us;
        if (delay_us) ::usleep(static_cast<useconds_t>(delay_us));
        REQUIRE(::kill(started.pid, SIGKILL) == 0);
        q.reap = 1;
        REQUIRE(send_all(sock, &q, sizeof q));
        REQUIRE(recv_all(sock, &reaped, sizeof reaped));

        const std::uint64_t acked = reaped.acks ? reaped.last : at;
        INFO("kill " << k << " after " << delay_us << " us; acknowledged commit " << acked << "; model at " << at);
        REQUIRE(WIFSIGNALED(reaped.status));  // a writer never stops on its own: that is an error
        REQUIRE(WTERMSIG(reaped.status) == SIGKILL);
        REQUIRE(acked >= at);
        max_per_child = std::max(max_per_child, reaped.acks);
        if (reaped.acks == 0) ++no_ack;

        Store store{dir.path()};
        const std::uint64_t found = stored_commits(store);
        INFO("store holds commit " << found);
        REQUIRE(found >= acked);      // every acknowledged commit survived
        REQUIRE(found <= acked + 1);  // and at most the one in flight
        if (found == acked + 1) ++unacked_present;
        while (at < found) apply_ops(model, ops_of(seed, ++at));
        std::string diff = compare(store, model);
        INFO(diff);
        REQUIRE(diff.empty());  // the data equals the model after `found` commits
        // And every index entry is the one those rows imply, entry by entry, read from the
        // raw databases (no writer runs now: the killed one is reaped, the next waits).
        const std::string entries = netabase_test::index_mismatches<Item>(dir.path()) +
                                    netabase_test::index_mismatches<Counter>(dir.path());
        INFO(entries);
        REQUIRE(entries.empty());
        auto report = store.verify();
        INFO(report.to_string());
        REQUIRE(report.ok());
    }
    stop_launcher();

    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "crash_test lane " << lane << ": summary: " << kills << " kills survived, " << at
              << " commits survived (" << unacked_present << " kills kept the unacknowledged commit in flight, "
              << no_ack << " kills before a writer's first acknowledgement, up to " << max_per_child
              << " commits per writer), " << model.size() << " rows at the end, " << seconds << " s (mean delay "
              << (kills ? delays_us / kills : 0) << " us), seed 0x" << std::hex << seed << std::dec << std::endl;
    // Every writer that was killed only after an acknowledged commit added one at least.
    REQUIRE(at >= waited);
}

TEST_CASE("crash: SIGKILLed writers lose no acknowledged commit and leave exact indexes (lane 1)", "[crash]") {
    run_lane(1);
}

TEST_CASE("crash: SIGKILLed writers lose no acknowledged commit and leave exact indexes (lane 2)", "[crash]") {
    run_lane(2);
}

}  // namespace crash_test
