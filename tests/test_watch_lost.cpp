// A watcher in one process whose changes were trimmed from the log by another process before
// it could read them: it is told how many it missed (errc::watch_overflow), as when its queue
// overflows: the gap, plus what reached the queue behind it before the overflow was read (a
// queue once behind drops until then, so that nothing comes out of order); then every later
// change once, in order. The watching process is stopped (SIGSTOP) while the other commits and trims, so
// the order of events is fixed, not timed.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace watch_lost {

struct Note {
    std::uint64_t id;
    std::string text;
};

constexpr auto netabase_model(netabase::tag<Note>) { return netabase::model<Note>("notes").primary_key(&Note::id); }

using Def = netabase::definition<Note>;

}  // namespace watch_lost

namespace {

using watch_lost::Def;
using watch_lost::Note;

enum outcome : int { ok = 0, no_overflow = 20, wrong_overflow, wrong_change, timed_out, other_error };

// The watcher's side: reports through its exit status what it saw after being let go.
[[noreturn]] void watcher(const std::filesystem::path& path, int ready_fd, int go_fd) {
    int code = other_error;
    try {
        netabase::Store<Def> store{path, netabase::options{.change_log = true}};
        auto w = store.watch<Note>();
        char byte = 1;
        if (::write(ready_fd, &byte, 1) != 1 || ::read(go_fd, &byte, 1) != 1) std::_Exit(other_error);
        code = no_overflow;
        std::uint64_t missed = 0;
        try {
            (void)w.next(std::chrono::seconds(30));
        } catch (const netabase::error& e) {
            const std::string what = e.what();
            const auto at = what.find("missed ");
            code = wrong_overflow;
            if (e.code() == netabase::errc::watch_overflow && at != std::string::npos) {
                missed = std::strtoull(what.c_str() + at + 7, nullptr, 10);
                // 1 and 2 were trimmed; 3 and 4 are dropped too if they reached the queue
                // before this thread read the overflow
                if (missed >= 2 && missed <= 4) code = ok;
            }
            if (code != ok) std::fprintf(stderr, "watcher: %s\n", e.what());
        }
        if (code == ok) {
            if (::write(ready_fd, &byte, 1) != 1) std::_Exit(other_error);  // overflow read: commit 5
            // Every sequence exactly once: the missed ones, then each later one in order.
            for (std::uint64_t want = missed + 1; code == ok && want <= 5; ++want) {
                auto c = w.next(std::chrono::seconds(30));
                if (!c) code = timed_out;
                else if (c->key != want || c->sequence != want || c->kind != netabase::change_kind::insert ||
                         !c->row || c->row->text != "n" + std::to_string(want))
                    code = wrong_change;
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "watcher: %s\n", e.what());
    }
    std::_Exit(code);
}

}  // namespace

TEST_CASE("watch: changes another process trimmed before a watcher read them are reported missed",
          "[watch][log][process]") {
    netabase_test::temp_dir dir;
    netabase::Store<Def> store{dir.path(), netabase::options{.change_log = true}};
    int ready[2], go[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(go) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) watcher(dir.path(), ready[1], go[0]);
    ::close(ready[1]);  // so that a read sees the child's exit as end of file
    ::close(go[0]);
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);  // its watcher exists: it follows from sequence 0
    REQUIRE(::kill(pid, SIGSTOP) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, WUNTRACED) == pid);
    REQUIRE(WIFSTOPPED(status));  // it cannot read the log until SIGCONT

    for (std::uint64_t id = 1; id <= 3; ++id)
        store.write([&](auto& txn) { txn.template open_tree<Note>().put(Note{id, "n" + std::to_string(id)}); });
    CHECK(store.trim_changes(2) == 2);  // 1 and 2 are gone before the watcher saw them
    store.write([](auto& txn) { txn.template open_tree<Note>().put(Note{4, "n4"}); });

    REQUIRE(::kill(pid, SIGCONT) == 0);
    REQUIRE(::write(go[1], &byte, 1) == 1);
    if (::read(ready[0], &byte, 1) == 1)  // it read the overflow (else it exits, saying why)
        store.write([](auto& txn) { txn.template open_tree<Note>().put(Note{5, "n5"}); });
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    ::close(ready[0]);
    ::close(go[1]);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == ok);
}
