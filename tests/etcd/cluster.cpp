#include "cluster.hpp"

#include "client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef NETABASE_ETCD_SERVER
#  define NETABASE_ETCD_SERVER "etcd"
#endif

namespace netabase_etcd_test {

namespace {

using clock = std::chrono::steady_clock;

constexpr int port_lo = 20000, port_hi = 32000;  // below ip_local_port_range (32768-60999)

// Claims a free loopback port: an flock'd file per port under $TMPDIR, then a bind check.
// Returns the port and the lock's descriptor.
std::pair<int, int> claim_port(std::mt19937& rng) {
    static const std::filesystem::path locks = std::filesystem::temp_directory_path() / "netabase-etcd-ports";
    std::error_code ec;
    std::filesystem::create_directories(locks, ec);
    std::uniform_int_distribution<int> pick(port_lo, port_hi - 1);
    for (int tries = 0; tries < 2000; ++tries) {
        const int port = pick(rng);
        const std::string file = (locks / std::to_string(port)).string();
        int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) continue;
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd);
            continue;
        }
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool free = ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(s);
        if (free) return {port, fd};
        ::close(fd);
    }
    throw std::runtime_error("cluster: no free loopback port in [20000, 32000)");
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

netabase::etcd_wire::options probe_options(std::string endpoint) {
    netabase::etcd_wire::options o;
    o.endpoints = {std::move(endpoint)};
    o.deadline = std::chrono::milliseconds{1000};
    o.attempt_timeout = std::chrono::milliseconds{1000};
    return o;
}

}  // namespace

cluster::cluster(cluster_options opts) : opts_(std::move(opts)) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "netabase-etcd-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cluster: mkdtemp failed");
    dir_ = tmpl;
    static std::atomic<int> serial{0};
    token_ = "netabase-test-" + std::to_string(::getpid()) + "-" + std::to_string(serial++);
    members_.resize(opts_.members);
    for (std::size_t i = 0; i < members_.size(); ++i) {
        members_[i].name = "m" + std::to_string(i);
        members_[i].data = dir_ / members_[i].name;
        members_[i].log = dir_ / (members_[i].name + ".log");
    }
    try {
        for (int attempt = 0;; ++attempt) {
            start_all();
            try {
                wait_healthy(opts_.start_timeout);
                return;
            } catch (...) {
                if (attempt >= 4 || !port_conflict()) throw;
            }
            // Another program took a port between the check and etcd's bind: new ports, new data.
            kill_all();
            release_ports();
            for (auto& m : members_) std::filesystem::remove_all(m.data);
        }
    } catch (...) {
        kill_all();
        release_ports();
        throw;
    }
}

cluster::~cluster() {
    kill_all();
    release_ports();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::vector<std::string> cluster::endpoints() const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < members_.size(); ++i) out.push_back(endpoint(i));
    return out;
}

std::string cluster::endpoint(std::size_t i) const {
    return "127.0.0.1:" + std::to_string(members_.at(i).client_port);
}

void cluster::start_all() {
    std::random_device rd;
    std::mt19937 rng(rd() ^ static_cast<unsigned>(::getpid()));
    for (auto& m : members_) {
        std::tie(m.client_port, m.client_lock) = claim_port(rng);
        std::tie(m.peer_port, m.peer_lock) = claim_port(rng);
    }
    for (std::size_t i = 0; i < members_.size(); ++i) spawn(i, true);
}

std::vector<std::string> cluster::args(std::size_t i, bool fresh) const {
    const member& m = members_[i];
    std::string initial;
    for (const auto& other : members_) initial += (initial.empty() ? "" : ",") + other.name + "=" + url(other.peer_port);
    std::vector<std::string> a = {
        NETABASE_ETCD_SERVER,
        "--name=" + m.name,
        "--data-dir=" + m.data.string(),
        "--listen-client-urls=" + url(m.client_port),
        "--advertise-client-urls=" + url(m.client_port),
        "--listen-peer-urls=" + url(m.peer_port),
        "--initial-advertise-peer-urls=" + url(m.peer_port),
        "--initial-cluster=" + initial,
        "--initial-cluster-token=" + token_,
        std::string("--initial-cluster-state=") + (fresh ? "new" : "existing"),
        "--logger=zap",
        "--log-outputs=stderr",
    };
    for (const auto& f : opts_.extra_flags) a.push_back(f);
    return a;
}

void cluster::spawn(std::size_t i, bool fresh) {
    member& m = members_[i];
    const std::vector<std::string> a = args(i, fresh);
    std::vector<char*> argv;
    for (const auto& s : a) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    const std::string log = m.log.string();
    const pid_t parent = ::getpid();
    // Only async-signal-safe calls between fork and exec: the test process has gRPC's threads.
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("cluster: fork failed");
    if (pid == 0) {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(111);  // the test died before prctl
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0) ::dup2(null, 0);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from here, so the group exists whichever runs first
    m.pid = pid;
}

void cluster::kill(std::size_t i) {
    member& m = members_.at(i);
    if (m.pid <= 0) return;
    ::kill(-m.pid, SIGKILL);
    ::kill(m.pid, SIGKILL);
    int st = 0;
    while (::waitpid(m.pid, &st, 0) < 0 && errno == EINTR) {
    }
    m.pid = -1;
}

// Both wait for the kernel's word (waitpid) that the member has stopped or runs again.
void cluster::stop(std::size_t i) {
    const pid_t pid = members_.at(i).pid;
    if (pid <= 0) return;
    ::kill(pid, SIGSTOP);
    int st = 0;
    while (::waitpid(pid, &st, WUNTRACED) < 0 && errno == EINTR) {
    }
}

void cluster::resume(std::size_t i) {
    const pid_t pid = members_.at(i).pid;
    if (pid <= 0) return;
    ::kill(pid, SIGCONT);
    int st = 0;
    while (::waitpid(pid, &st, WCONTINUED) < 0 && errno == EINTR) {
    }
}

void cluster::restart(std::size_t i) {
    kill(i);
    spawn(i, false);
    wait_healthy();
}

void cluster::kill_all() {
    for (std::size_t i = 0; i < members_.size(); ++i) kill(i);
}

void cluster::release_ports() {
    for (auto& m : members_) {
        if (m.client_lock >= 0) ::close(m.client_lock);
        if (m.peer_lock >= 0) ::close(m.peer_lock);
        m.client_lock = m.peer_lock = -1;
    }
}

bool cluster::port_conflict() {
    for (auto& m : members_) {
        if (m.pid <= 0) continue;
        int st = 0;
        if (::waitpid(m.pid, &st, WNOHANG) == m.pid) {
            m.pid = -1;
            if (read_file(m.log).find("address already in use") != std::string::npos) return true;
        }
    }
    return false;
}

void cluster::wait_healthy(std::chrono::seconds within) {
    const auto until = clock::now() + within;
    std::string last;
    for (;;) {
        bool ok = true;
        std::uint64_t leader = 0;
        for (std::size_t i = 0; i < members_.size() && ok; ++i) {
            member& m = members_[i];
            if (m.pid <= 0) continue;
            int st = 0;
            if (::waitpid(m.pid, &st, WNOHANG) == m.pid) {
                m.pid = -1;
                throw std::runtime_error("cluster: member " + m.name + " exited while starting:\n" + log_tail(i));
            }
            try {
                netabase::etcd_wire::client c(probe_options(endpoint(i)));
                auto s = c.status(0);
                if (s.leader == 0 || (leader != 0 && s.leader != leader)) {
                    ok = false;
                    last = m.name + " knows leader " + std::to_string(s.leader);
                    break;
                }
                leader = s.leader;
                c.range({"netabase-health", {}, 0, 0, false, true});  // linearizable: goes through the leader
            } catch (const std::exception& e) {
                ok = false;
                last = m.name + ": " + e.what();
            }
        }
        if (ok) return;
        if (clock::now() >= until)
            throw std::runtime_error("cluster: not healthy within " + std::to_string(within.count()) + " s: " + last);
        std::this_thread::sleep_for(std::chrono::milliseconds{50});  // poll interval
    }
}

void cluster::wait_leaderless(std::size_t i, std::chrono::seconds within) {
    const auto until = clock::now() + within;
    netabase::etcd_wire::client c(probe_options(endpoint(i)));
    for (;;) {
        try {
            if (c.status(0).leader == 0) return;
        } catch (const std::exception&) {
        }
        if (clock::now() >= until) throw std::runtime_error("cluster: " + members_[i].name + " still has a leader");
        std::this_thread::sleep_for(std::chrono::milliseconds{50});  // poll interval
    }
}

std::size_t cluster::leader(std::chrono::seconds within) {
    const auto until = clock::now() + within;
    for (;;) {
        for (std::size_t i = 0; i < members_.size(); ++i) {
            if (members_[i].pid <= 0) continue;
            try {
                netabase::etcd_wire::client c(probe_options(endpoint(i)));
                auto s = c.status(0);
                if (s.leader != 0 && s.leader == s.member_id) return i;
            } catch (const std::exception&) {
            }
        }
        if (clock::now() >= until) throw std::runtime_error("cluster: no member leads");
        std::this_thread::sleep_for(std::chrono::milliseconds{50});  // poll interval
    }
}

double cluster::metric(std::size_t i, std::string_view prefix) const {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(members_.at(i).client_port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(s);
        throw std::runtime_error("cluster: cannot connect to " + endpoint(i) + " for /metrics");
    }
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    (void)!::write(s, req.data(), req.size());
    std::string body;
    char buf[65536];
    for (ssize_t n; (n = ::read(s, buf, sizeof buf)) > 0;) body.append(buf, static_cast<std::size_t>(n));
    ::close(s);
    double sum = 0;
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);) {
        if (line.compare(0, prefix.size(), prefix) != 0) continue;
        sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
}

std::string cluster::log_tail(std::size_t i, std::size_t bytes) const {
    std::string all = read_file(members_.at(i).log);
    return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

}  // namespace netabase_etcd_test
