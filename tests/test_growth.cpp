// Map growth: store.write(fn) on a store opened with a 1 MiB map grows the map and runs fn again
// until it fits, waiting for live read transactions (LMDB unmaps the file under them); a thread
// that holds a transaction itself gets errc::map_full instead of a deadlock; begin_write() gets a
// map-full error that says what to do; other processes pick up the new size.
#include "catch.hpp"
#include "index_model.hpp"
#include "support.hpp"

#include <netabase/netabase.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace growth_test {

struct Blob {
    std::uint32_t id;
    std::uint32_t group;
    std::string name;  // unique
    std::string data;
};

constexpr auto netabase_model(netabase::tag<Blob>) {
    return netabase::model<Blob>("growth_blobs")
        .primary_key(&Blob::id)
        .secondary_key(&Blob::group)
        .secondary_key(&Blob::name, netabase::unique);
}

using S = netabase::definition<Blob>;
using Store = netabase::Store<S>;

constexpr std::size_t one_mib = std::size_t{1} << 20;
const netabase::options small{.map_size = one_mib};

Blob blob(std::uint32_t id, std::size_t size = 2000) {
    std::string data(size, static_cast<char>('a' + id % 26));
    data[0] = static_cast<char>('A' + id % 26);
    return Blob{id, id % 13, "blob-" + std::to_string(id), std::move(data)};
}

// Writes ids [from, to): about 2 KB each.
void put_range(netabase::WriteTransaction<S>& txn, std::uint32_t from, std::uint32_t to) {
    auto t = txn.open_tree<Blob>();
    for (std::uint32_t id = from; id < to; ++id) t.put(blob(id));
}

// Empty when the store holds exactly ids [0, n) as put_range wrote them, with exact indexes.
std::string check_blobs(const Store& store, std::uint32_t n) {
    return store.read([&](netabase::ReadTransaction<S>& txn) -> std::string {
        auto t = txn.open_tree<Blob>();
        if (t.size() != n) return "size " + std::to_string(t.size()) + ", expected " + std::to_string(n);
        std::uint32_t expect = 0;
        for (const auto& g : t) {
            Blob b = g.value();
            Blob want = blob(expect);
            if (b.id != expect || b.data != want.data || b.name != want.name || b.group != want.group)
                return "row " + std::to_string(expect) + " differs";
            ++expect;
        }
        if (t.index(&Blob::name).size() != n || t.index(&Blob::group).size() != n) return "index sizes differ";
        for (std::uint32_t id = 0; id < n; id += 97) {
            auto hit = t.index(&Blob::name).get("blob-" + std::to_string(id));
            if (!hit || hit->key() != id) return "name index misses blob-" + std::to_string(id);
        }
        return {};
    });
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Runs body in a child process under alarm(): a deadlock fails the test instead of hanging it.
// body returns the exit code (0: pass); the child never returns into Catch2.
template <class F>
int run_in_child(unsigned seconds, F body) {
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::alarm(seconds);
        int code = 90;
        try {
            code = body();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: %s\n", e.what());
            code = 91;
        } catch (...) {
            code = 92;
        }
        ::_exit(code);
    }
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return -2;
    if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);  // 1014: SIGALRM, i.e. it hung
    return WEXITSTATUS(status);
}

TEST_CASE("growth: store.write on a 1 MiB map grows it and runs fn again until it fits", "[growth]") {
    auto store = Store::temporary(small);
    REQUIRE(store.map_size() == one_mib);

    constexpr std::uint32_t n = 2000;  // some 4 MB of values, plus the indexes
    int calls = 0;
    auto result = store.write([&](netabase::WriteTransaction<S>& txn) {
        ++calls;
        put_range(txn, 0, n);
        return calls;
    });
    INFO("fn ran " << calls << " times; map is " << store.map_size() << " bytes");
    REQUIRE(calls > 1);
    REQUIRE(result == calls);  // the result of the run that committed
    REQUIRE(store.map_size() > 4 * one_mib);
    REQUIRE(check_blobs(store, n).empty());

    // More on top: what is there survives the next growth.
    calls = 0;
    store.write([&](netabase::WriteTransaction<S>& txn) {
        ++calls;
        put_range(txn, n, 2 * n);
    });
    REQUIRE(calls > 1);
    REQUIRE(check_blobs(store, 2 * n).empty());
    auto report = store.verify();
    INFO(report.to_string());
    REQUIRE(report.ok());
    REQUIRE(report.rows == 2 * n);
    REQUIRE(netabase_test::index_mismatches<Blob>(store.path()) == "");  // entry by entry
    REQUIRE(netabase_test::raw_index_entries<Blob>(store.path()) == 2 * 2 * n);
    std::cout << "growth_test: 1 MiB -> " << store.map_size() / one_mib << " MiB for " << 2 * n << " rows" << std::endl;
}

TEST_CASE("threads: growth waits for read transactions that keep their snapshot", "[threads][growth]") {
    auto store = Store::temporary(small);
    constexpr std::uint32_t before = 100, n = 1500;
    store.write([&](netabase::WriteTransaction<S>& txn) { put_range(txn, 0, before); });
    netabase_test::watchdog guard(std::chrono::seconds(90), "the test");

    std::atomic<int> ready{0};
    std::atomic<bool> write_done{false};
    std::atomic<int> errors{0};
    std::atomic<int> calls{0};        // runs of the write's fn: the second follows the growth
    std::atomic<int> saw_waiting{0};  // holders that saw the growth wait for them
    const pid_t writer_tid = netabase_test::this_tid();  // this thread runs the write
    // The environment object: the growth waits on its condition variable (environment::resize).
    // store.path() is a member of it, so the object lies within sizeof(environment) of it.
    const auto path_at = reinterpret_cast<std::uintptr_t>(&store.path());
    const netabase_test::address_range environment_object{path_at - sizeof(netabase::detail::environment),
                                                           path_at + sizeof(netabase::detail::environment)};

    // Two threads that hold a snapshot for a while, across the growth.
    std::vector<std::thread> holders;
    for (int h = 0; h < 2; ++h) {
        holders.emplace_back([&] {
            try {
                auto txn = store.begin_read();
                auto t = txn.open_tree<Blob>();
                if (t.size() != before) ++errors;
                // Guards and views point into the map: the map must not move under them.
                std::vector<netabase::Guard<Blob>> guards;
                std::vector<std::string_view> names;
                for (std::uint32_t id = 0; id < before; ++id) {
                    auto g = t.get(id);
                    if (!g) {
                        ++errors;
                        continue;
                    }
                    names.push_back(g->view().get<&Blob::name>());
                    guards.push_back(std::move(*g));
                }
                auto rows = t.all();
                auto it = rows.begin();  // an iteration under way across the growth
                for (int i = 0; i < 10 && it != rows.end(); ++i) ++it;
                ++ready;
                // Hold the snapshot until the writer is seen blocked inside the environment,
                // which only the growth does: it waits for this transaction to end. A growth
                // that did not wait would run fn again (calls > 1) or finish the write first.
                std::string state;
                if (netabase_test::wait_until_blocked_on_futex_in(
                        ::getpid(), writer_tid, environment_object,
                        [&] { return calls.load() > 1 || write_done.load(); }, &state) &&
                    calls.load() == 1 && !write_done.load())
                    ++saw_waiting;
                else
                    std::fprintf(stderr, "holder: the growth did not wait (fn ran %d times; writer: %s)\n",
                                 calls.load(), state.c_str());
                // Still the old snapshot, every byte readable where it was.
                if (t.size() != before) ++errors;
                for (std::uint32_t id = 0; id < guards.size(); ++id) {
                    if (guards[id].value().data != blob(id).data) ++errors;
                    if (names[id] != "blob-" + std::to_string(id)) ++errors;
                }
                std::uint32_t seen = 10;
                for (; it != rows.end(); ++it) {
                    if ((*it).key() != seen || (*it).value().data != blob(seen).data) ++errors;
                    ++seen;
                }
                if (seen != before) ++errors;
            } catch (const std::exception& e) {
                std::fprintf(stderr, "holder: %s\n", e.what());
                ++errors;
            }
        });
    }
    while (ready.load() < 2) std::this_thread::yield();

    // A thread that keeps starting new read transactions: during the growth they wait, and
    // each sees the whole commit or none of it.
    // Its last transaction begins after the write returned: that one must see the commit.
    std::atomic<std::uint64_t> newcomers{0}, saw_new{0};
    std::thread newcomer([&] {
        try {
            for (bool last = false; !last;) {
                last = write_done.load();
                auto txn = store.begin_read();
                auto size = txn.open_tree<Blob>().size();
                if (size != before && size != before + n) ++errors;
                if (size == before + n) ++saw_new;
                if (last && size != before + n) ++errors;
                ++newcomers;
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "newcomer: %s\n", e.what());
            ++errors;
        }
    });

    store.write([&](netabase::WriteTransaction<S>& txn) {
        ++calls;
        put_range(txn, before, before + n);
    });
    write_done = true;
    for (auto& t : holders) t.join();
    newcomer.join();

    REQUIRE(errors.load() == 0);
    REQUIRE(calls.load() > 1);
    REQUIRE(saw_waiting.load() == 2);  // the growth waited for both snapshots
    REQUIRE(newcomers.load() > 0);
    REQUIRE(saw_new.load() > 0);
    REQUIRE(check_blobs(store, before + n).empty());
    REQUIRE(store.verify().ok());
    REQUIRE(netabase_test::index_mismatches<Blob>(store.path()) == "");
}

TEST_CASE("growth: a thread that holds a read transaction gets map_full from store.write and no deadlock",
          "[growth]") {
    netabase_test::temp_dir dir;
    int code = run_in_child(30, [&] {
        Store store{dir.path(), small};
        store.write([&](netabase::WriteTransaction<S>& txn) { put_range(txn, 0, 10); });
        {
            auto reader = store.begin_read();  // this thread now holds a transaction
            int calls = 0;
            try {
                store.write([&](netabase::WriteTransaction<S>& txn) {
                    ++calls;
                    put_range(txn, 10, 2000);
                });
                return 1;  // fitted after all: the test is wrong
            } catch (const netabase::error& e) {
                if (e.code() != netabase::errc::map_full) {
                    std::fprintf(stderr, "wrong error: %s\n", e.what());
                    return 2;
                }
            }
            if (calls != 1) return 3;
            if (reader.open_tree<Blob>().size() != 10) return 4;  // its snapshot is intact
        }
        if (!check_blobs(store, 10).empty()) return 5;  // nothing of the failed write
        // Without the transaction the same write grows the map and succeeds.
        store.write([&](netabase::WriteTransaction<S>& txn) { put_range(txn, 10, 2000); });
        if (!check_blobs(store, 2000).empty()) return 6;
        if (!netabase_test::index_mismatches<Blob>(dir.path()).empty()) return 8;
        return store.verify().ok() ? 0 : 7;
    });
    INFO("child exit " << code << " (1014 = killed by SIGALRM: deadlock)");
    REQUIRE(code == 0);
}

TEST_CASE("growth: begin_write that overfills the map throws map_full naming store.write and map_size",
          "[growth]") {
    auto store = Store::temporary(small);
    store.write([&](netabase::WriteTransaction<S>& txn) { put_range(txn, 0, 10); });

    std::string what;
    bool threw = false;
    std::uint32_t written = 0;
    {
        auto txn = store.begin_write();
        try {
            auto t = txn.open_tree<Blob>();
            for (std::uint32_t id = 10; id < 5000; ++id) {  // 10 MB: far over the map
                t.put(blob(id));
                ++written;
            }
            txn.commit();
        } catch (const netabase::error& e) {
            threw = true;
            what = e.what();
            INFO(what);
            REQUIRE(e.code() == netabase::errc::map_full);
        }
    }
    REQUIRE(threw);
    INFO(what);
    CHECK(written < 4990);
    CHECK(contains(what, "store.write"));
    CHECK(contains(what, "map_size"));
    REQUIRE(store.map_size() == one_mib);  // an explicit transaction does not grow the map

    // Nothing of it is there, and the store still works.
    REQUIRE(check_blobs(store, 10).empty());
    REQUIRE(netabase_test::index_mismatches<Blob>(store.path()) == "");
    REQUIRE(netabase_test::raw_index_entries<Blob>(store.path()) == 2 * 10);
    store.write([&](netabase::WriteTransaction<S>& txn) { put_range(txn, 10, 2000); });
    REQUIRE(check_blobs(store, 2000).empty());
    REQUIRE(store.verify().ok());
    REQUIRE(netabase_test::index_mismatches<Blob>(store.path()) == "");
}

// Pipes between the test and a child forked before the test opens the store.
struct channel {
    int to_child[2]{-1, -1}, to_parent[2]{-1, -1};
    channel() {
        if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) throw std::runtime_error("pipe");
    }
    void child_side() {
        ::close(to_child[1]);
        ::close(to_parent[0]);
    }
    void parent_side() {
        ::close(to_child[0]);
        ::close(to_parent[1]);
    }
    static bool send(int fd) {
        char c = 'x';
        return ::write(fd, &c, 1) == 1;
    }
    static bool wait(int fd) {
        char c;
        return ::read(fd, &c, 1) == 1;
    }
};

TEST_CASE("growth: another process picks up the grown map then reads everything and writes more", "[growth]") {
    netabase_test::temp_dir dir;
    constexpr std::uint32_t n = 1500, more = 1500;
    { Store created{dir.path(), small}; }

    // `early` opens the store before the parent grows the map (its next transaction meets
    // MDB_MAP_RESIZED); `late` opens it after. Both are forked before this process opens it.
    channel early_ch, late_ch;
    pid_t early = ::fork();
    REQUIRE(early >= 0);
    if (early == 0) {
        early_ch.child_side();
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::alarm(60);
        int code = 0;
        try {
            Store store{dir.path(), small};
            if (store.read([](auto& txn) { return txn.template open_tree<Blob>().size(); }) != 0) ::_exit(1);
            channel::send(early_ch.to_parent[1]);
            channel::wait(early_ch.to_child[0]);  // the parent has grown the map
            // A write first: its transaction begins on a map that is now too small for the file.
            store.write([&](netabase::WriteTransaction<S>& txn) {
                auto t = txn.open_tree<Blob>();
                if (t.size() != n) throw std::runtime_error("the write does not see the parent's rows");
                put_range(txn, n, n + more);
            });
            std::string e = check_blobs(store, n + more);
            if (!e.empty()) std::fprintf(stderr, "early child: %s\n", e.c_str());
            code = e.empty() ? 0 : 3;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "early child: %s\n", e.what());
            code = 4;
        }
        ::_exit(code);
    }
    early_ch.parent_side();
    REQUIRE(channel::wait(early_ch.to_parent[0]));  // it has the store open with 1 MiB

    pid_t late = ::fork();
    REQUIRE(late >= 0);
    if (late == 0) {
        late_ch.child_side();
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::alarm(60);
        int code = 0;
        channel::wait(late_ch.to_child[0]);
        try {
            Store store{dir.path(), small};  // asks for 1 MiB; the file is bigger by now
            std::string e = check_blobs(store, n + more);
            if (!e.empty()) {
                std::fprintf(stderr, "late child: %s\n", e.c_str());
                ::_exit(2);
            }
            store.write([&](netabase::WriteTransaction<S>& txn) {
                put_range(txn, n + more, n + more + 500);
            });
            code = store.verify().ok() ? 0 : 3;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "late child: %s\n", e.what());
            code = 4;
        }
        ::_exit(code);
    }
    late_ch.parent_side();

    Store store{dir.path(), small};
    int calls = 0;
    store.write([&](netabase::WriteTransaction<S>& txn) {
        ++calls;
        put_range(txn, 0, n);
    });
    REQUIRE(calls > 1);
    const auto grown = store.map_size();
    REQUIRE(grown > one_mib);

    REQUIRE(channel::send(early_ch.to_child[1]));
    int status = 0;
    REQUIRE(::waitpid(early, &status, 0) == early);
    INFO("early child: status " << status << " (exit 1-4: see the test; signal 14: hung)");
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);

    // This process sees what the other one wrote (and adopts the size it grew to).
    REQUIRE(check_blobs(store, n + more).empty());

    REQUIRE(channel::send(late_ch.to_child[1]));
    REQUIRE(::waitpid(late, &status, 0) == late);
    INFO("late child: status " << status);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);

    auto count = store.read([](netabase::ReadTransaction<S>& txn) { return txn.open_tree<Blob>().size(); });
    REQUIRE(count == n + more + 500);
    REQUIRE(store.verify().ok());
    REQUIRE(netabase_test::index_mismatches<Blob>(dir.path()) == "");
    for (int fd : {early_ch.to_child[1], early_ch.to_parent[0], late_ch.to_child[1], late_ch.to_parent[0]}) ::close(fd);
}

// The same table with one more index: a 300-byte computed key per row.
struct BlobIndexed {
    std::uint32_t id;
    std::uint32_t group;
    std::string name;
    std::string data;
};

constexpr auto data_head = netabase::key<BlobIndexed>("data_head", [](const BlobIndexed& b) { return b.data.substr(0, 300); });

constexpr auto netabase_model(netabase::tag<BlobIndexed>) {
    return netabase::model<BlobIndexed>("growth_blobs")
        .primary_key(&BlobIndexed::id)
        .secondary_key(&BlobIndexed::group)
        .secondary_key(&BlobIndexed::name, netabase::unique)
        .secondary_key(data_head);
}

TEST_CASE("growth: an index that a reopen builds in a full map grows the map and is built whole", "[growth]") {
    netabase_test::temp_dir dir;
    std::uint32_t n = 0;
    {
        Store store{dir.path(), small};
        // Fill the 1 MiB map without store.write (which would grow it): a row per transaction
        // until LMDB refuses one.
        for (;; ++n) {
            try {
                auto txn = store.begin_write();
                txn.open_tree<Blob>().put(blob(n));
                txn.commit();
            } catch (const netabase::error& e) {
                INFO(e.what());
                REQUIRE(e.code() == netabase::errc::map_full);
                break;
            }
        }
        REQUIRE(store.map_size() == one_mib);
        REQUIRE(n > 100);
        REQUIRE(check_blobs(store, n).empty());
    }
    // n * 300 bytes of new entries do not fit in what the map has left: the open grows it.
    using Wider = netabase::definition<BlobIndexed>;
    netabase::Store<Wider> wider{dir.path(), small};
    CHECK(wider.map_size() > one_mib);
    wider.read([&](netabase::ReadTransaction<Wider>& txn) {
        auto t = txn.open_tree<BlobIndexed>();
        CHECK(t.size() == n);
        CHECK(t.index(data_head).size() == n);
        for (std::uint32_t id = 0; id < n; id += 37) {
            auto hits = t.index(data_head).primary_keys(blob(id).data.substr(0, 300));
            CHECK(std::find(hits.begin(), hits.end(), id) != hits.end());
        }
    });
    auto report = wider.verify();
    INFO(report.to_string());
    CHECK(report.ok());
    CHECK(report.entries == 3 * std::size_t{n});
}

}  // namespace growth_test
