// The suite's own deadlock guard: a test that hangs must fail, and a test that forks under it
// must not inherit a thread (see watchdog in support.hpp).
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catch.hpp"

#include <chrono>
#include <string>

#include "support.hpp"

namespace {

// Runs body in a child whose stderr goes to a pipe; returns its wait status and what it wrote.
template <typename F>
std::pair<int, std::string> in_child(F body) {
    int err[2];
    REQUIRE(::pipe(err) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(err[1], 2);
        ::close(err[0]);
        ::close(err[1]);
        body();
        ::_exit(0);
    }
    ::close(err[1]);
    std::string text;
    char buf[512];
    for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    ::close(err[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return {status, text};
}

}  // namespace

TEST_CASE("support: a watchdog ends a process that hangs past its limit, with exit code 70 and what hung",
          "[support]") {
    int block[2];
    REQUIRE(::pipe(block) == 0);  // nobody writes: the child's read blocks until the alarm
    auto [status, text] = in_child([&] {
        netabase_test::watchdog guard(std::chrono::seconds(1), "the blocked read");
        char c;
        (void)!::read(block[0], &c, 1);
        ::_exit(1);  // the read returned: the watchdog did not fire
    });
    ::close(block[0]);
    ::close(block[1]);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 70);
    CHECK(text == "watchdog: the blocked read did not finish within 1 s (deadlock?)\n");
}

TEST_CASE("support: a watchdog runs no thread, is not inherited by a forked child, and is disarmed when it ends",
          "[support]") {
    auto threads = [] {
        std::string status;
        std::FILE* f = std::fopen("/proc/self/status", "r");
        REQUIRE(f);
        char line[256];
        while (std::fgets(line, sizeof line, f))
            if (std::string(line).rfind("Threads:", 0) == 0) status = line;
        std::fclose(f);
        return status;
    };
    auto armed = [] {
        itimerval t{};
        REQUIRE(::getitimer(ITIMER_REAL, &t) == 0);
        return t.it_value.tv_sec != 0 || t.it_value.tv_usec != 0;
    };
    const std::string before = threads();
    REQUIRE_FALSE(armed());
    {
        netabase_test::watchdog guard(std::chrono::seconds(60), "this test");
        CHECK(armed());
        CHECK(threads() == before);  // nothing to hold a lock across a fork
        CHECK_THROWS_AS(netabase_test::watchdog(std::chrono::seconds(1), "a second one"), std::logic_error);
        CHECK(armed());  // the refused second one left the first as it was
        // A forked child has no alarm pending (alarm(0) returns what was left of one).
        auto [status, text] = in_child([] { ::_exit(::alarm(0) == 0 ? 0 : 1); });
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
        CHECK(text.empty());
    }
    CHECK_FALSE(armed());
    netabase_test::watchdog again(std::chrono::seconds(60), "a later test");  // one may start again
    CHECK(armed());
}
