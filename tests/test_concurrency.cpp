// Concurrency: reader threads and a writer thread on one store (run under TSan by the `tsan`
// preset: the test cases named "threads: ..."), reader processes checking every snapshot while
// writer processes are SIGKILLed, and reader slots of killed processes being reclaimed.
#include "catch.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace concurrency_test {

// ---- models ------------------------------------------------------------------------------

// Rows come in pairs (ids 2p and 2p+1, both with pair p and the same bucket), written and
// removed in the same transaction: a snapshot never holds an odd number of them.
struct Pair {
    std::uint32_t id;
    std::uint32_t pair;
    std::string name;  // unique
    std::uint32_t bucket;
    std::string payload;

    friend bool operator==(const Pair&, const Pair&) = default;
};

constexpr auto netabase_model(netabase::tag<Pair>) {
    return netabase::model<Pair>("conc_pairs")
        .primary_key(&Pair::id)
        .secondary_key(&Pair::name, netabase::unique)
        .secondary_key(&Pair::pair)
        .secondary_key(&Pair::bucket);
}

// Transfers between accounts keep the total.
struct Account {
    std::uint32_t id;
    std::int64_t balance;
};

constexpr auto netabase_model(netabase::tag<Account>) {
    return netabase::model<Account>("conc_accounts").primary_key(&Account::id);
}

// The number of the last commit.
struct Gen {
    std::uint32_t id;
    std::uint64_t gen;
};

constexpr auto netabase_model(netabase::tag<Gen>) { return netabase::model<Gen>("conc_gen").primary_key(&Gen::id); }

using S = netabase::definition<Pair, Account, Gen>;
using Store = netabase::Store<S>;

constexpr std::uint32_t pairs = 40;
constexpr std::uint32_t buckets = 5;
constexpr std::uint32_t accounts = 8;
constexpr std::int64_t total_balance = 8000;

void seed_accounts(Store& store) {
    store.write([](netabase::WriteTransaction<S>& txn) {
        auto a = txn.open_tree<Account>();
        for (std::uint32_t i = 0; i < accounts; ++i) a.put(Account{i, total_balance / accounts});
    });
}

std::uint64_t gen_of(netabase::ReadTransaction<S>& txn) {
    auto g = txn.open_tree<Gen>().get(0);
    return g ? g->value().gen : 0;
}

// Checks one snapshot; returns what is wrong (empty when all holds) and sets `gen` to the
// commit number it holds. `floor` is the number of a commit that had returned before this read
// transaction began: the snapshot holds that commit or a later one. (Not checked: that a
// reader's snapshots never go back in time. LMDB 0.9 does not promise it: mdb_txn_renew0
// publishes the txnid it read, then takes the meta page me_metas[txnid & 1], which two
// commits in between can have overwritten with a newer one, so a read can see commit t+2
// and the next one, begun before t+2 was published, commit t+1. A read begun after commit
// C returned always sees C or later: C was published before its commit returned.)
std::string check_snapshot(netabase::ReadTransaction<S>& txn, std::uint64_t floor, std::uint64_t& gen_out) {
    std::string err;
    auto fail = [&](const std::string& what) {
        if (err.size() < 2000) err += what + "\n";
    };
    const std::uint64_t gen = gen_of(txn);
    gen_out = gen;
    if (gen < floor)
        fail("the snapshot holds commit " + std::to_string(gen) + ", older than commit " + std::to_string(floor) +
             ", which had returned before this read transaction began");

    auto tree = txn.open_tree<Pair>();
    const std::size_t n = tree.size();
    if (n % 2 != 0) fail("odd number of rows: " + std::to_string(n));
    auto by_name = tree.index(&Pair::name);
    auto by_pair = tree.index(&Pair::pair);
    auto by_bucket = tree.index(&Pair::bucket);
    if (by_name.size() != n) fail("name index has " + std::to_string(by_name.size()) + " entries for " + std::to_string(n));
    if (by_pair.size() != n) fail("pair index has " + std::to_string(by_pair.size()) + " entries for " + std::to_string(n));
    if (by_bucket.size() != n)
        fail("bucket index has " + std::to_string(by_bucket.size()) + " entries for " + std::to_string(n));

    std::map<std::uint32_t, Pair> rows;
    for (const auto& g : tree) {
        Pair p = g.value();
        if (g.key() != p.id) fail("row key differs from its id");
        if (p.name.rfind("aborted", 0) == 0) fail("a row of an aborted transaction is visible: " + p.name);
        rows.emplace(p.id, std::move(p));
    }
    if (rows.size() != n) fail("iteration found " + std::to_string(rows.size()) + " rows, size() says " + std::to_string(n));
    for (const auto& [id, p] : rows) {
        auto partner = rows.find(id ^ 1u);
        if (partner == rows.end()) {
            fail("row " + std::to_string(id) + " without its partner");
            continue;
        }
        if (p.pair != id / 2 || partner->second.pair != p.pair || partner->second.bucket != p.bucket)
            fail("pair " + std::to_string(id / 2) + " is torn");
        auto hit = by_name.get(p.name);
        if (!hit || hit->key() != id) fail("name index misses '" + p.name + "'");
    }
    std::size_t entries = 0, counted = 0;
    std::uint32_t previous = 0;
    for (const auto& g : by_bucket) {  // every entry has its row, in key order
        Pair p = g.value();
        if (p.bucket < previous) fail("bucket index out of order");
        previous = p.bucket;
        auto r = rows.find(p.id);
        if (r == rows.end() || !(r->second == p)) fail("bucket entry for a row not in the snapshot");
        ++entries;
    }
    for (std::uint32_t b = 0; b < buckets; ++b) counted += by_bucket.count(b);
    if (entries != n || counted != n)
        fail("bucket index walks " + std::to_string(entries) + " / counts " + std::to_string(counted) + " for " +
             std::to_string(n) + " rows");

    std::int64_t sum = 0;
    std::size_t naccounts = 0;
    for (const auto& g : txn.open_tree<Account>()) {
        sum += g.value().balance;
        ++naccounts;
    }
    if (naccounts != accounts || sum != total_balance) fail("balances sum to " + std::to_string(sum));

    if (tree.size() != n || gen_of(txn) != gen) fail("the snapshot changed under the reader");
    return err;
}

// One commit of the workload, chosen from what the store holds. Returns a short description.
void write_step(netabase::WriteTransaction<S>& txn, std::mt19937_64& rng, std::uint64_t gen) {
    auto tree = txn.open_tree<Pair>();
    for (int step = 0; step < 3; ++step) {
        const auto p = static_cast<std::uint32_t>(rng() % pairs);
        const std::uint32_t a = 2 * p, b = 2 * p + 1;
        const auto bucket = static_cast<std::uint32_t>(rng() % buckets);
        const std::string suffix = "." + std::to_string(gen) + "." + std::to_string(step);
        if (!tree.contains(a)) {
            std::string payload(rng() % 200, 'x');
            tree.put(Pair{a, p, "n" + std::to_string(a) + suffix, bucket, payload});
            tree.put(Pair{b, p, "n" + std::to_string(b) + suffix, bucket, payload});
        } else if (rng() % 3 == 0) {
            tree.remove(a);
            tree.remove(b);
        } else {  // move both: new bucket, new unique name
            for (std::uint32_t id : {a, b})
                tree.update(id, [&](Pair& row) {
                    row.bucket = bucket;
                    row.name = "m" + std::to_string(id) + suffix;
                });
        }
    }
    auto acc = txn.open_tree<Account>();
    const auto from = static_cast<std::uint32_t>(rng() % accounts), to = static_cast<std::uint32_t>(rng() % accounts);
    const auto amount = static_cast<std::int64_t>(rng() % 50);
    acc.update(from, [&](Account& x) { x.balance -= amount; });
    acc.update(to, [&](Account& x) { x.balance += amount; });
    txn.open_tree<Gen>().put(Gen{0, gen});
}

// ---- threads -----------------------------------------------------------------------------

TEST_CASE("threads: reader threads see whole commits while a writer thread commits", "[threads][concurrency]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    seed_accounts(store);
    netabase_test::watchdog guard(std::chrono::seconds(90), "reader/writer threads");

    constexpr int readers = 4;
    constexpr std::uint64_t commits = 300;
    std::atomic<bool> done{false};
    std::mutex errors_mu;
    std::vector<std::string> errors;
    auto report = [&](const std::string& e) {
        std::lock_guard lock(errors_mu);
        errors.push_back(e);
    };
    std::vector<std::uint64_t> snapshots(readers), newest(readers);
    std::atomic<std::uint64_t> committed{0};  // the last commit number whose commit returned

    std::vector<std::thread> threads;
    for (int r = 0; r < readers; ++r) {
        threads.emplace_back([&, r] {
            try {
                std::uint64_t count = 0, gen = 0;
                for (;;) {
                    // Read before the snapshot: once the writer is done, this round's snapshot
                    // began after its last commit returned, so it must hold that commit.
                    const bool last_round = done.load(std::memory_order_acquire);
                    const std::uint64_t floor = committed.load(std::memory_order_acquire);
                    std::string e;
                    if (r % 2 == 0) {
                        auto txn = store.begin_read();
                        e = check_snapshot(txn, floor, gen);
                    } else {
                        e = store.read(
                            [&](netabase::ReadTransaction<S>& txn) { return check_snapshot(txn, floor, gen); });
                    }
                    if (!e.empty()) report("reader " + std::to_string(r) + ": " + e);
                    if (r == 0 && count % 16 == 0) {
                        auto v = store.verify();
                        if (!v.ok()) report("verify: " + v.to_string());
                    }
                    ++count;
                    if (last_round) break;
                }
                snapshots[static_cast<std::size_t>(r)] = count;
                newest[static_cast<std::size_t>(r)] = gen;
            } catch (const std::exception& e) {
                report(std::string("reader threw: ") + e.what());
            }
        });
    }

    std::map<std::uint32_t, Pair> final_rows;
    std::thread writer([&] {
        try {
            std::mt19937_64 rng(12345);
            for (std::uint64_t g = 1; g <= commits; ++g) {
                if (g % 10 == 0) {  // an aborted transaction: never visible
                    auto txn = store.begin_write();
                    txn.open_tree<Pair>().put(Pair{1000, 500, "aborted" + std::to_string(g), 0, ""});
                    txn.open_tree<Pair>().put(Pair{1001, 500, "aborted" + std::to_string(g) + "b", 0, ""});
                    txn.abort();
                }
                if (g % 2 == 0) {
                    store.write([&](netabase::WriteTransaction<S>& txn) { write_step(txn, rng, g); });
                } else {
                    auto txn = store.begin_write();
                    write_step(txn, rng, g);
                    txn.commit();
                }
                committed.store(g, std::memory_order_release);
            }
        } catch (const std::exception& e) {
            report(std::string("writer threw: ") + e.what());
        }
        done.store(true, std::memory_order_release);
    });
    writer.join();
    for (auto& t : threads) t.join();

    for (const auto& e : errors) UNSCOPED_INFO(e);
    REQUIRE(errors.empty());
    for (int r = 0; r < readers; ++r) {
        INFO("reader " << r << " took " << snapshots[static_cast<std::size_t>(r)] << " snapshots");
        CHECK(snapshots[static_cast<std::size_t>(r)] > 0);
        // Its last snapshot began after the writer's last commit returned.
        CHECK(newest[static_cast<std::size_t>(r)] == commits);
    }
    std::uint64_t last = 0;
    auto txn = store.begin_read();
    CHECK(gen_of(txn) == commits);
    REQUIRE(check_snapshot(txn, commits, last).empty());
    REQUIRE(store.verify().ok());
    std::cout << "concurrency_test: " << readers << " reader threads took";
    for (auto s : snapshots) std::cout << " " << s;
    std::cout << " snapshots during " << commits << " commits" << std::endl;
}

TEST_CASE("threads: writer threads take turns and every commit lands", "[threads][concurrency]") {
    auto store = Store::temporary(netabase::options{.durability = netabase::durability::no_sync});
    netabase_test::watchdog guard(std::chrono::seconds(90), "writer threads");
    constexpr int writers = 4;
    constexpr std::uint32_t per_writer = 60;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            try {
                for (std::uint32_t i = 0; i < per_writer; ++i) {
                    const std::uint32_t p = static_cast<std::uint32_t>(w) * per_writer + i;
                    store.write([&](netabase::WriteTransaction<S>& txn) {
                        auto t = txn.open_tree<Pair>();
                        t.put(Pair{2 * p, p, "w" + std::to_string(2 * p), p % buckets, ""});
                        t.put(Pair{2 * p + 1, p, "w" + std::to_string(2 * p + 1), p % buckets, ""});
                        auto g = txn.open_tree<Gen>();
                        auto cur = g.get(0);
                        g.put(Gen{0, (cur ? cur->value().gen : 0) + 1});  // read-modify-write: no lost update
                    });
                    bool even = store.read(
                        [](netabase::ReadTransaction<S>& txn) { return txn.open_tree<Pair>().size() % 2 == 0; });
                    if (!even) ++failures;
                }
            } catch (const std::exception& e) {
                std::fprintf(stderr, "writer %d threw: %s\n", w, e.what());
                ++failures;
            }
        });
    }
    for (auto& t : threads) t.join();
    REQUIRE(failures.load() == 0);
    auto txn = store.begin_read();
    REQUIRE(gen_of(txn) == writers * per_writer);
    auto tree = txn.open_tree<Pair>();
    REQUIRE(tree.size() == 2u * writers * per_writer);
    REQUIRE(tree.index(&Pair::name).size() == tree.size());
    REQUIRE(store.verify().ok());
}

// ---- processes ---------------------------------------------------------------------------

// One byte from fd, written by child `pid` (-1: any child): "" once read, else why not: the
// child exited first, or 120 s passed (a hang; the test fails rather than waits forever).
std::string byte_from(int fd, pid_t pid, const std::string& what) {
    for (int waited = 0; waited < 120; ++waited) {
        pollfd p{fd, POLLIN, 0};
        int n = ::poll(&p, 1, 1000);
        if (n < 0 && errno != EINTR) return what + ": poll failed";
        char c = 0;
        if (n > 0) return ::read(fd, &c, 1) == 1 ? "" : what + ": the pipe closed";
        int status = 0;
        if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid)
            return what + ": the child exited first (status " + std::to_string(status) + ")";
    }
    return what + ": no answer within 120 s (a hang)";
}

// Commits until SIGKILLed; writes one byte to committed_fd once its first commit returned.
[[noreturn]] void writer_process(const std::filesystem::path& dir, std::uint64_t seed, int committed_fd) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    try {
        Store store{dir, netabase::options{.durability = netabase::durability::no_sync}};
        std::uint64_t gen = store.read([](netabase::ReadTransaction<S>& txn) { return gen_of(txn); });
        std::mt19937_64 rng(seed ^ gen);
        for (bool first = true;; first = false) {
            ++gen;
            store.write([&](netabase::WriteTransaction<S>& txn) { write_step(txn, rng, gen); });
            if (first && ::write(committed_fd, "c", 1) != 1) ::_exit(5);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "writer process: %s\n", e.what());
        ::_exit(3);
    }
}

struct reader_result {
    std::uint64_t snapshots = 0;
    std::uint64_t first_gen = 0;
    std::uint64_t last_gen = 0;
};

// Checks snapshots until the parent closes stop_fd, then one more (begun after the close);
// writes one byte to started_fd after its first snapshot.
[[noreturn]] void reader_process(const std::filesystem::path& dir, int stop_fd, int started_fd, int result_fd) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    try {
        Store store{dir};
        reader_result res;
        for (bool first = true;; first = false) {
            pollfd p{stop_fd, POLLIN, 0};
            const bool stopping = ::poll(&p, 1, 0) > 0;  // the parent closed its end
            std::string e;
            std::uint64_t gen = 0;
            {
                auto txn = store.begin_read();
                e = check_snapshot(txn, 0, gen);
            }
            if (!e.empty()) {
                std::fprintf(stderr, "reader process %d, snapshot %llu: %s\n", static_cast<int>(::getpid()),
                             static_cast<unsigned long long>(res.snapshots), e.c_str());
                ::_exit(1);
            }
            if (first) {
                res.first_gen = gen;
                if (::write(started_fd, "s", 1) != 1) ::_exit(4);
            }
            res.last_gen = gen;
            ++res.snapshots;
            if (stopping) break;
        }
        auto v = store.verify();
        if (!v.ok()) {
            std::fprintf(stderr, "reader process: verify: %s\n", v.to_string().c_str());
            ::_exit(2);
        }
        if (::write(result_fd, &res, sizeof res) != static_cast<ssize_t>(sizeof res)) ::_exit(4);
        ::_exit(0);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "reader process: %s\n", e.what());
        ::_exit(3);
    }
}

TEST_CASE("concurrency: reader processes see whole commits while writer processes are SIGKILLed",
          "[concurrency][processes]") {
    netabase_test::temp_dir dir;
    {
        Store store{dir.path()};
        seed_accounts(store);
    }  // closed before any fork: a child must open the environment itself

    // Each wait for a child's byte is bounded (a deadlock guard, not a timing check) and says
    // which child stopped answering.
    constexpr int readers = 2;
    int stop[2], results[2], started[2], committed[2];
    REQUIRE(::pipe(stop) == 0);
    REQUIRE(::pipe(results) == 0);
    REQUIRE(::pipe(started) == 0);
    REQUIRE(::pipe(committed) == 0);
    std::vector<pid_t> reader_pids;
    for (int r = 0; r < readers; ++r) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(stop[1]);
            ::close(results[0]);
            ::close(started[0]);
            ::close(committed[0]);
            ::close(committed[1]);
            reader_process(dir.path(), stop[0], started[1], results[1]);
        }
        reader_pids.push_back(pid);
    }
    ::close(stop[0]);
    ::close(results[1]);
    ::close(started[1]);
    // Every reader has its first snapshot (commit 0: no writer has run yet) before the first
    // writer starts.
    for (int r = 0; r < readers; ++r) REQUIRE(byte_from(started[0], -1, "a reader's first snapshot") == "");
    ::close(started[0]);

    std::mt19937_64 rng(std::random_device{}());
    constexpr int kills = 40;
    for (int k = 0; k < kills; ++k) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) writer_process(dir.path(), rng(), committed[1]);
        REQUIRE(byte_from(committed[0], pid, "writer " + std::to_string(k) + "'s first commit") == "");
        // Then killed at a random point of its later commits (nothing depends on this pause:
        // it only spreads the kill points).
        ::usleep(static_cast<useconds_t>(rng() % 40000));
        ::kill(pid, SIGKILL);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        INFO("writer " << k);
        REQUIRE(WIFSIGNALED(status));
        REQUIRE(WTERMSIG(status) == SIGKILL);
    }
    ::close(committed[0]);
    ::close(committed[1]);
    ::close(stop[1]);  // readers take one more snapshot, begun after every writer was reaped

    std::uint64_t snapshots = 0;
    for (pid_t pid : reader_pids) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        INFO("reader process exit status " << status << " (1: broken invariant, 2: verify, 3: exception)");
        REQUIRE(WIFEXITED(status));
        REQUIRE(WEXITSTATUS(status) == 0);
    }
    reader_result res;
    int got = 0;
    while (::read(results[0], &res, sizeof res) == static_cast<ssize_t>(sizeof res)) {
        ++got;
        snapshots += res.snapshots;
        CHECK(res.snapshots > 1);
        CHECK(res.first_gen == 0);  // taken before any writer ran
        // Each of the `kills` writers committed at least once (one more commit number each)
        // before it was killed, and the last snapshot began after all of them.
        CHECK(res.last_gen >= static_cast<std::uint64_t>(kills));
    }
    ::close(results[0]);
    REQUIRE(got == readers);

    Store store{dir.path()};
    std::uint64_t last = 0;
    {
        auto txn = store.begin_read();
        REQUIRE(check_snapshot(txn, kills, last).empty());
    }
    auto v = store.verify();
    INFO(v.to_string());
    REQUIRE(v.ok());
    std::cout << "concurrency_test: " << readers << " reader processes checked " << snapshots << " snapshots over "
              << kills << " writer kills; " << last << " commits" << std::endl;
}

// "One LMDB environment per directory per process": a child process is another process, so a
// Store it opens must get its own environment, not the copy of its parent's that fork() left in
// its memory (LMDB forbids using an environment across fork(); the two processes would share
// one reader identity and lock).
TEST_CASE("concurrency: a Store opened in a forked child has an environment of its own", "[concurrency][processes]") {
    netabase_test::temp_dir dir;
    Store store{dir.path()};
    store.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Gen>().put(Gen{0, 1}); });

    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::close(ready[0]);
        char answer = 'E';
        try {
            Store mine{dir.path()};
            auto txn = mine.begin_read();  // held until this process is killed
            answer = gen_of(txn) == 1 ? 'R' : 'G';
            if (::write(ready[1], &answer, 1) != 1) ::_exit(1);
            for (;;) ::pause();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
        }
        if (::write(ready[1], &answer, 1) != 1) ::_exit(1);
        ::_exit(2);
    }
    ::close(ready[1]);
    char answer = 0;
    REQUIRE(::read(ready[0], &answer, 1) == 1);
    ::close(ready[0]);
    struct reap {
        pid_t pid;
        ~reap() {
            ::kill(pid, SIGKILL);
            int status = 0;
            ::waitpid(pid, &status, 0);
        }
    } reaper{pid};
    REQUIRE(answer == 'R');  // the child read the store

    // This process reads and writes on while the child holds its snapshot.
    try {
        REQUIRE(store.read([](netabase::ReadTransaction<S>& txn) { return gen_of(txn); }) == 1);
        store.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Gen>().put(Gen{0, 2}); });
        REQUIRE(store.read([](netabase::ReadTransaction<S>& txn) { return gen_of(txn); }) == 2);
    } catch (const netabase::error& e) {
        FAIL("the parent's store broke while a forked child used the same path: " << e.what());
    }
    REQUIRE(store.verify().ok());
}

// Children that open a read transaction each and wait to be killed. They are forked before
// this process opens the store (an LMDB environment must not cross a fork); `go` releases them.
struct slot_holders {
    std::vector<pid_t> pids;
    int go_w = -1, ready_r = -1;

    slot_holders(const std::filesystem::path& dir, int n, unsigned max_readers) {
        int go[2], ready[2];
        if (::pipe(go) != 0 || ::pipe(ready) != 0) throw std::runtime_error("pipe");
        for (int i = 0; i < n; ++i) {
            pid_t pid = ::fork();
            if (pid < 0) throw std::runtime_error("fork");
            if (pid == 0) {
                ::prctl(PR_SET_PDEATHSIG, SIGKILL);
                ::close(go[1]);
                ::close(ready[0]);
                char c;
                if (::read(go[0], &c, 1) != 1) ::_exit(0);
                char answer = 'E';
                try {
                    Store store{dir, netabase::options{.max_readers = max_readers}};
                    auto txn = store.begin_read();  // holds a reader slot until killed
                    answer = txn.open_tree<Gen>().size() == 1 ? 'R' : 'S';
                    if (::write(ready[1], &answer, 1) != 1) ::_exit(1);
                    for (;;) ::pause();
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "slot holder: %s\n", e.what());
                    if (::write(ready[1], &answer, 1) != 1) ::_exit(1);
                    for (;;) ::pause();
                }
            }
            pids.push_back(pid);
        }
        ::close(go[0]);
        ::close(ready[1]);
        go_w = go[1];
        ready_r = ready[0];
    }

    // Lets them open their transactions; returns how many hold one.
    int start() {
        std::string gos(pids.size(), 'g');
        if (::write(go_w, gos.data(), gos.size()) != static_cast<ssize_t>(gos.size())) return -1;
        int holding = 0;
        for (std::size_t i = 0; i < pids.size(); ++i) {
            char c = 0;
            if (::read(ready_r, &c, 1) != 1) return -1;
            if (c == 'R') ++holding;
        }
        return holding;
    }

    void kill_all() {
        for (pid_t pid : pids) {
            ::kill(pid, SIGKILL);
            int status = 0;
            ::waitpid(pid, &status, 0);
        }
        pids.clear();
    }

    ~slot_holders() {
        kill_all();
        ::close(go_w);
        ::close(ready_r);
    }
};

constexpr unsigned small_readers = 4;

// A read transaction on the heap (transactions do not move).
struct held_read {
    netabase::ReadTransaction<S> txn;
    explicit held_read(const Store& store) : txn(store.begin_read()) {}
};

void create_small(const std::filesystem::path& dir) {
    Store store{dir, netabase::options{.max_readers = small_readers}};
    store.write([](netabase::WriteTransaction<S>& txn) { txn.open_tree<Gen>().put(Gen{0, 1}); });
}

bool readers_full(const netabase::error& e) {
    return e.code() == std::error_code(MDB_READERS_FULL, netabase::lmdb_category());
}

// A process with the environment open through plain LMDB (no netabase, no reader slot): while
// it lives, a netabase open is not the first one, so LMDB does not reset the reader table by
// itself. On request it runs mdb_reader_check and answers with the number of dead slots.
struct keeper {
    pid_t pid = -1;
    int cmd_w = -1, answer_r = -1;

    explicit keeper(const std::filesystem::path& dir) {
        int cmd[2], answer[2];
        if (::pipe(cmd) != 0 || ::pipe(answer) != 0) throw std::runtime_error("pipe");
        pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork");
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::close(cmd[1]);
            ::close(answer[0]);
            MDB_env* env = nullptr;
            char status = 'E';
            if (::mdb_env_create(&env) == 0 && ::mdb_env_set_maxreaders(env, small_readers) == 0 &&
                ::mdb_env_set_maxdbs(env, 16) == 0 && ::mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0644) == 0)
                status = 'K';
            if (::write(answer[1], &status, 1) != 1) ::_exit(1);
            char c;
            while (::read(cmd[0], &c, 1) == 1) {
                int dead = -1;
                if (::mdb_reader_check(env, &dead) != 0) dead = -2;
                auto d = static_cast<signed char>(dead);
                if (::write(answer[1], &d, 1) != 1) ::_exit(1);
            }
            ::_exit(0);
        }
        ::close(cmd[0]);
        ::close(answer[1]);
        cmd_w = cmd[1];
        answer_r = answer[0];
        char status = 0;
        if (::read(answer_r, &status, 1) != 1 || status != 'K') throw std::runtime_error("keeper could not open");
    }

    // Dead reader slots left in the table (mdb_reader_check clears them as it counts).
    int dead_slots() {
        char c = 'c';
        signed char d = -3;
        if (::write(cmd_w, &c, 1) != 1 || ::read(answer_r, &d, 1) != 1) return -4;
        return d;
    }

    ~keeper() {
        ::close(cmd_w);
        ::close(answer_r);
        int status = 0;
        ::waitpid(pid, &status, 0);
    }
};

TEST_CASE("concurrency: reader slots of SIGKILLed processes are reclaimed when the store opens",
          "[concurrency][processes]") {
    netabase_test::temp_dir dir;
    create_small(dir.path());
    keeper keep(dir.path());  // holds the environment open throughout
    slot_holders holders(dir.path(), static_cast<int>(small_readers), small_readers);
    REQUIRE(holders.start() == static_cast<int>(small_readers));  // every slot taken
    REQUIRE(keep.dead_slots() == 0);

    {  // one more process finds no slot: the table really is full
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int code = 9;
            try {
                Store store{dir.path(), netabase::options{.max_readers = small_readers}};
                auto txn = store.begin_read();
                code = 1;  // a slot was free after all
            } catch (const netabase::error& e) {
                code = readers_full(e) ? 0 : 2;
                if (code) std::fprintf(stderr, "unexpected: %s\n", e.what());
            } catch (...) {
                code = 3;
            }
            ::_exit(code);
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFEXITED(status));
        REQUIRE(WEXITSTATUS(status) == 0);  // MDB_READERS_FULL
    }

    holders.kill_all();  // four slots now belong to dead processes

    Store store{dir.path(), netabase::options{.max_readers = small_readers}};
    // The open itself cleared them (mdb_reader_check at open), before any read needed a slot.
    REQUIRE(keep.dead_slots() == 0);
    std::vector<std::unique_ptr<held_read>> held;
    try {
        for (unsigned i = 0; i < small_readers; ++i) {
            held.push_back(std::make_unique<held_read>(store));
            REQUIRE(held.back()->txn.open_tree<Gen>().size() == 1);
        }
    } catch (const netabase::error& e) {
        FAIL("read transaction " << held.size() + 1 << " failed: " << e.what());
    }
    REQUIRE(held.size() == small_readers);
}

TEST_CASE("concurrency: reader slots of SIGKILLed processes are reclaimed when a read hits READERS_FULL",
          "[concurrency][processes]") {
    netabase_test::temp_dir dir;
    create_small(dir.path());
    slot_holders holders(dir.path(), static_cast<int>(small_readers), small_readers);

    // Opened before the holders take their slots, so its open-time check finds nothing dead.
    Store store{dir.path(), netabase::options{.max_readers = small_readers}};
    REQUIRE(holders.start() == static_cast<int>(small_readers));
    try {
        auto txn = store.begin_read();
        FAIL("a read transaction began with every reader slot held by a live process");
    } catch (const netabase::error& e) {
        INFO(e.what());
        REQUIRE(readers_full(e));
    }

    holders.kill_all();

    std::vector<std::unique_ptr<held_read>> held;
    try {
        for (unsigned i = 0; i < small_readers; ++i) {
            held.push_back(std::make_unique<held_read>(store));
            REQUIRE(held.back()->txn.open_tree<Gen>().size() == 1);
        }
    } catch (const netabase::error& e) {
        FAIL("read transaction " << held.size() + 1 << " after the kills failed: " << e.what());
    }
    REQUIRE(held.size() == small_readers);
    held.clear();
    REQUIRE(store.verify().ok());
}

}  // namespace concurrency_test
