// A real etcd cluster for a test: N members on loopback, data in a temporary directory,
// stopped (SIGKILL to each member's process group) and removed when the object goes, also when
// the test fails. Members die with the test process too (PR_SET_PDEATHSIG), so a watchdog's
// _Exit leaves no etcd behind.
//
// Ports: each member takes two ports from [20000, 32000), below Linux's ephemeral range (so no
// outgoing connection holds one), each claimed with an flock on a file in $TMPDIR for as long
// as the cluster lives (so parallel test runs never pick the same one) and checked bindable;
// a member that still finds its port taken (another program) makes the cluster start again on
// new ports. The lock files stay (empty, at most one per port): removing one could let two runs
// hold locks on the same port, one on the removed file and one on its successor.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace netabase_etcd_test {

struct cluster_options {
    std::size_t members = 3;
    std::vector<std::string> extra_flags;  // given to every member, e.g. "--max-txn-ops=16"
    std::chrono::seconds start_timeout{60};
};

class cluster {
public:
    explicit cluster(cluster_options opts = {});
    ~cluster();
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    std::size_t size() const { return members_.size(); }
    std::vector<std::string> endpoints() const;  // "127.0.0.1:port", member order
    std::string endpoint(std::size_t i) const;
    pid_t pid(std::size_t i) const { return members_.at(i).pid; }
    bool running(std::size_t i) const { return members_.at(i).pid > 0; }

    void kill(std::size_t i);     // SIGKILL, and reaped
    void stop(std::size_t i);     // SIGSTOP: the member holds its connections and answers nothing
    void resume(std::size_t i);   // SIGCONT
    // Starts a killed member again on its data and ports; waits until it serves. The member dies
    // when the thread that called this exits (PR_SET_PDEATHSIG follows the forking thread).
    void restart(std::size_t i);

    // Until every running member serves a linearizable read and agrees on one leader.
    void wait_healthy(std::chrono::seconds within = std::chrono::seconds{60});
    // Until member i reports that it knows no leader (after its peers died).
    void wait_leaderless(std::size_t i, std::chrono::seconds within = std::chrono::seconds{30});
    // The index of the member that is the leader, polled until a running one says so.
    std::size_t leader(std::chrono::seconds within = std::chrono::seconds{30});

    // Sum of the values of the lines of member i's /metrics that start with `prefix`
    // (Prometheus text, e.g. R"(grpc_server_started_total{grpc_method="Txn")").
    double metric(std::size_t i, std::string_view prefix) const;

    std::string log_tail(std::size_t i, std::size_t bytes = 4000) const;
    const std::filesystem::path& dir() const { return dir_; }

private:
    struct member {
        std::string name;
        int client_port = 0, peer_port = 0;
        int client_lock = -1, peer_lock = -1;  // flock'd files that claim the ports
        pid_t pid = -1;
        std::filesystem::path data, log;
    };

    void start_all();
    void spawn(std::size_t i, bool fresh);
    void kill_all();
    void release_ports();
    bool port_conflict();  // a member exited because its port was taken
    std::vector<std::string> args(std::size_t i, bool fresh) const;

    cluster_options opts_;
    std::filesystem::path dir_;
    std::string token_;
    std::vector<member> members_;
};

}  // namespace netabase_etcd_test
