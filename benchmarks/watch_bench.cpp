// Commit-to-next() latency of watchers: in one process (a writer thread, a watcher thread) and
// across processes (a forked writer, this process's watcher, through the change log's shared
// counter). Prints the median, the 99th percentile and the worst of each, in microseconds.
//
//   netabase_watch_bench [--commits=N] [--dir=PATH]
#include <netabase/netabase.hpp>

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Tick {
    std::uint64_t id;
    std::int64_t sent_ns;  // CLOCK_MONOTONIC when the writer began the commit: one clock for all processes
};

using Def = netabase::definition<Tick>;

std::int64_t now_ns() {
    ::timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void report(const char* what, std::vector<double>& us) {
    std::sort(us.begin(), us.end());
    if (us.empty()) return;
    auto at = [&](double q) { return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1))]; };
    std::printf("%-36s %6zu commits  median %8.1f us  p99 %8.1f us  max %8.1f us\n", what, us.size(), at(0.5),
                at(0.99), us.back());
}

// The writer commits one row at a time; it waits until the watcher has taken each one, so that
// every latency is one wake-up and not a queue.
std::vector<double> in_process(const std::filesystem::path& dir, int commits, bool log) {
    netabase::Store<Def> store{dir, netabase::options{.durability = netabase::durability::no_sync, .change_log = log}};
    auto w = store.watch<Tick>();
    std::atomic<int> taken{0};
    std::thread writer([&] {
        for (int i = 0; i < commits; ++i) {
            store.write([&](auto& txn) { txn.template open_tree<Tick>().put(Tick{std::uint64_t(i), now_ns()}); });
            while (taken.load() <= i) std::this_thread::yield();
        }
    });
    std::vector<double> us;
    for (int i = 0; i < commits; ++i) {
        auto c = w.next(std::chrono::seconds(10));
        std::int64_t t = now_ns();
        if (!c) break;
        us.push_back(static_cast<double>(t - c->row->sent_ns) / 1000.0);
        taken.store(i + 1);
    }
    writer.join();
    return us;
}

std::vector<double> cross_process(const std::filesystem::path& dir, int commits) {
    netabase::options opt{.durability = netabase::durability::no_sync, .change_log = true};
    netabase::Store<Def> store{dir, opt};
    auto w = store.watch<Tick>();
    int go[2], ack[2];
    if (::pipe(go) || ::pipe(ack)) std::exit(2);
    pid_t pid = ::fork();
    if (pid == 0) {
        netabase::Store<Def> other{dir, opt};
        char b;
        for (int i = 0; i < commits; ++i) {
            if (::read(go[0], &b, 1) != 1) std::_Exit(3);
            other.write([&](auto& txn) { txn.template open_tree<Tick>().put(Tick{std::uint64_t(i), now_ns()}); });
        }
        std::_Exit(0);
    }
    std::vector<double> us;
    for (int i = 0; i < commits; ++i) {
        char b = 'g';
        if (::write(go[1], &b, 1) != 1) break;
        auto c = w.next(std::chrono::seconds(10));
        std::int64_t t = now_ns();
        if (!c || !c->row) break;
        us.push_back(static_cast<double>(t - c->row->sent_ns) / 1000.0);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    return us;
}

}  // namespace

int main(int argc, char** argv) {
    int commits = 2000;
    std::filesystem::path base = std::filesystem::temp_directory_path() / ("netabase-watch-bench-" + std::to_string(::getpid()));
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("--commits=", 0) == 0) commits = std::atoi(a.c_str() + 10);
        else if (a.rfind("--dir=", 0) == 0) base = std::filesystem::path(a.substr(6)) / "watch-bench";
    }
    std::filesystem::remove_all(base);
    auto a = in_process(base / "a", commits, false);
    report("in process, no change log", a);
    auto b = in_process(base / "b", commits, true);
    report("in process, change log", b);
    auto c = cross_process(base / "c", commits);
    report("across processes (change log)", c);
    std::filesystem::remove_all(base);
    bool ok = static_cast<int>(a.size()) == commits && static_cast<int>(b.size()) == commits &&
              static_cast<int>(c.size()) == commits;
    if (!ok) std::fprintf(stderr, "netabase_watch_bench: FAILED: a watcher missed commits\n");
    return ok ? 0 : 1;
}
