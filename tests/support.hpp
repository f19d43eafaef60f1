// Shared test helpers: real directories on disk, removed afterwards.
#pragma once

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace netabase_test {

// A fresh directory under $TMPDIR, unique per process (ctest runs test cases in parallel).
class temp_dir {
public:
    temp_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "netabase-test-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Stops the process if a test hangs (a deadlock must fail, not wait for ctest's timeout).
// SIGALRM, not a thread: a test that forks would otherwise fork a threaded process, and a child
// forked while the watchdog thread held one of ASan's allocator locks (it takes them as it
// starts) waits for that lock forever. An alarm is not inherited across fork; children that
// must not outlive the test use PR_SET_PDEATHSIG. One watchdog at a time per process.
class watchdog {
public:
    watchdog(std::chrono::seconds limit, const char* what) {
        if (active_) throw std::logic_error("netabase_test::watchdog: one at a time");
        active_ = true;
        int n = std::snprintf(message_, sizeof message_, "watchdog: %s did not finish within %lld s (deadlock?)\n", what,
                              static_cast<long long>(limit.count()));
        length_ = n < 0 ? 0 : std::min(static_cast<std::size_t>(n), sizeof message_ - 1);
        struct sigaction sa {};
        sa.sa_handler = &fire;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGALRM, &sa, &previous_);
        ::alarm(static_cast<unsigned>(limit.count()));
    }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    ~watchdog() {
        ::alarm(0);
        ::sigaction(SIGALRM, &previous_, nullptr);
        active_ = false;
    }

private:
    static void fire(int) {  // async-signal-safe only
        (void)!::write(2, message_, length_);
        std::_Exit(70);
    }
    static inline bool active_ = false;
    static inline char message_[256] = {};
    static inline std::size_t length_ = 0;
    struct sigaction previous_ {};
};

// ---- proof that a thread is blocked on a lock --------------------------------------------
//
// A test that claims "X waits for Y" must see X waiting, not infer it from elapsed time. Linux
// shows, in /proc/<pid>/task/<tid>/syscall, the system call a thread that is not running is
// stopped in, with its arguments. A thread in futex() whose first argument (the futex word) lies
// inside a given object or file mapping is blocked on a lock or condition variable of that
// object: glibc enters futex() only after its atomic fast path failed, so the lock is taken
// and the thread cannot get past it until its holder lets go.

// The calling thread's kernel id (what /proc/self/task/ lists).
inline pid_t this_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

struct address_range {
    std::uintptr_t lo = 0, hi = 0;
    bool contains(std::uintptr_t a) const { return a >= lo && a < hi; }
    bool empty() const { return lo >= hi; }
};

// Where `file` is mapped in process pid (the union of its mappings), or an empty range.
inline address_range mapping_of(pid_t pid, const std::filesystem::path& file) {
    std::error_code ec;
    const std::string want = std::filesystem::canonical(file, ec).string();
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    address_range r;
    std::string line;
    while (std::getline(maps, line)) {
        auto slash = line.find('/');
        if (slash == std::string::npos || ec || line.substr(slash) != want) continue;
        std::uintptr_t lo = 0, hi = 0;
        char dash = 0;
        std::istringstream in(line);
        in >> std::hex >> lo >> dash >> hi;
        if (r.empty() || lo < r.lo) r.lo = lo;
        if (hi > r.hi) r.hi = hi;
    }
    return r;
}

// The first line of /proc/<pid>/task/<tid>/syscall: "running", or "<nr> <arg0> ... <sp> <pc>".
inline std::string syscall_line(pid_t pid, pid_t tid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
    std::string line;
    std::getline(in, line);
    return line;
}

// Whether thread tid of process pid is stopped in futex() on a word inside r.
inline bool blocked_on_futex_in(pid_t pid, pid_t tid, address_range r, std::string* seen = nullptr) {
    std::string line = syscall_line(pid, tid);
    if (seen) *seen = line;
    std::istringstream in(line);
    long nr = -1;
    std::uintptr_t arg0 = 0;
    if (!(in >> nr)) return false;  // "running", or the thread is gone
    if (nr != SYS_futex) return false;
    in >> std::hex >> arg0;
    return r.contains(arg0);
}

// Waits until blocked_on_futex_in() holds; false as soon as `give_up()` returns true (the
// thread got past the point where it should wait: the claim under test is false). It polls:
// what it concludes comes from the state it reads, never from how long it waited.
template <class GiveUp>
bool wait_until_blocked_on_futex_in(pid_t pid, pid_t tid, address_range r, GiveUp&& give_up,
                                    std::string* seen = nullptr) {
    for (;;) {
        if (blocked_on_futex_in(pid, tid, r, seen)) return true;
        if (give_up()) return false;
        ::sched_yield();
    }
}

}  // namespace netabase_test
