// netabase::etcd_wire::client: a small synchronous client of etcd v3's gRPC API (KV, Lease,
// Watch, Maintenance.Status), the layer the etcd backend sits on. Internal: not a public header,
// and no gRPC or protobuf type shows through it.
//
// Failover: every call has one deadline (options.deadline) for all its attempts. A member that
// cannot take a request (down, refusing connections, or without a Raft leader) is left for the
// next endpoint, with a bounded backoff after each full round. Reads are retried after any
// transport failure; a write is retried only when the request cannot have been applied, and a
// write whose reply was lost is reported as status::unknown_outcome, never sent twice. For
// writes that must survive a lost reply, commit_once() makes the retry safe with a commit token.
// docs/SCALE-OUT.md says more.
#pragma once

#include <netabase/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace netabase::etcd_wire {

// What went wrong talking to etcd, in a category of its own ("netabase.etcd"), whose codes
// compare equal to the netabase::errc conditions: unavailable, unknown_outcome,
// limit_exceeded, compacted, and invalid_argument for rejected.
enum class status {
    unavailable = 1,  // no member could serve the call within its deadline (down, or no quorum)
    unknown_outcome,  // a write may or may not have been applied, and the client could not find out
    limit,            // over a server limit: --max-txn-ops and --max-request-bytes are checked
                      // before sending (nothing sent); --quota-backend-bytes is etcd's answer (nothing applied)
    compacted,        // a read or watch at a revision etcd has compacted away
    rejected,         // etcd refused the request (its message says why)
};

const std::error_category& etcd_category() noexcept;
std::error_code make_error_code(status s) noexcept;

// The key that ends the range of every key starting with `prefix` (etcd's "prefix end").
std::string prefix_end(std::string_view prefix);

struct key_value {
    std::string key;
    std::string value;
    std::int64_t create_revision = 0;
    std::int64_t mod_revision = 0;
    std::int64_t version = 0;
    std::int64_t lease = 0;
};

// [key, range_end) when range_end is set; just `key` when it is empty; range_end "\0" means
// every key >= key. revision 0 reads the latest; limit 0 means no limit.
struct range_request {
    std::string key;
    std::string range_end;
    std::int64_t revision = 0;
    std::int64_t limit = 0;
    bool keys_only = false;
    bool count_only = false;
};

struct range_result {
    std::vector<key_value> kvs;
    bool more = false;        // the limit cut the answer short
    std::int64_t count = 0;   // how many keys the range holds (not only those returned)
    std::int64_t revision = 0;  // the store revision the read saw
};

struct put_op {
    std::string key;
    std::string value;
    std::int64_t lease = 0;
};

struct delete_op {
    std::string key;
    std::string range_end;
};

using op = std::variant<put_op, delete_op, range_request>;

struct put_result {};
struct delete_result {
    std::int64_t deleted = 0;
};
using op_result = std::variant<put_result, delete_result, range_result>;

// One condition of a Txn: `target(key) result operand`. For a missing key version, create and
// mod revision compare as 0 (so version == 0 means "absent"); a value compare on it is false.
struct compare {
    enum class target { version, create_revision, mod_revision, value, lease };
    enum class result { equal, greater, less, not_equal };

    std::string key;
    target what = target::version;
    result op = result::equal;
    std::int64_t number = 0;  // for every target but value
    std::string value;        // for target::value
    std::string range_end;    // compares every key in [key, range_end) when set

    static compare version(std::string key, result r, std::int64_t v) { return {std::move(key), target::version, r, v, {}, {}}; }
    static compare mod_revision(std::string key, result r, std::int64_t v) {
        return {std::move(key), target::mod_revision, r, v, {}, {}};
    }
    static compare create_revision(std::string key, result r, std::int64_t v) {
        return {std::move(key), target::create_revision, r, v, {}, {}};
    }
    static compare value_is(std::string key, result r, std::string v) {
        return {std::move(key), target::value, r, 0, std::move(v), {}};
    }
    static compare absent(std::string key) { return version(std::move(key), result::equal, 0); }
};

struct txn_result {
    bool succeeded = false;   // the compares held: the success branch ran
    std::int64_t revision = 0;  // the store revision after the Txn
    std::vector<op_result> responses;  // one per op of the branch that ran
};

struct commit_result {
    bool succeeded = false;        // the ops are applied (now, or by an earlier call)
    // The ops were found applied, not applied by the attempt whose reply came back: by an earlier
    // call with this token, or by an attempt of this call whose reply was lost. No responses then.
    bool already_applied = false;
    std::int64_t revision = 0;     // the revision at which the ops were applied
    std::vector<op_result> responses;  // empty when already_applied or not succeeded
};

struct member_status {
    std::uint64_t member_id = 0;
    std::uint64_t leader = 0;  // 0: the member knows no leader
    std::uint64_t raft_term = 0;
    std::int64_t revision = 0;
    std::string version;
};

struct options {
    std::vector<std::string> endpoints;               // "127.0.0.1:2379", or any gRPC target
    std::chrono::milliseconds deadline{5000};         // one call, all its attempts and backoff
    std::chrono::milliseconds attempt_timeout{2000};  // one RPC on one member
    std::chrono::milliseconds backoff_min{20};        // after a round in which every member failed,
    std::chrono::milliseconds backoff_max{500};       // doubling up to this
    std::size_t max_txn_ops = 128;                    // the servers' --max-txn-ops
    std::size_t max_request_bytes = 1572864;          // the servers' --max-request-bytes (1.5 MiB)
    // commit_once(): token keys live under this prefix, each attached to a lease, and are
    // remembered for at least token_ttl (at most twice that).
    std::string token_prefix = "netabase/commit-token/";
    std::chrono::seconds token_ttl{3600};
};

// One event of a watch: a put (kv holds the new value) or a delete (kv.key, kv.mod_revision).
struct watch_event {
    bool is_delete = false;
    key_value kv;
};

// What a client has done so far, for tests and diagnostics.
struct client_stats {
    std::uint64_t attempts = 0;      // RPCs sent
    std::uint64_t failovers = 0;     // attempts that moved on to another member
    std::uint64_t lost_replies = 0;  // writes sent whose outcome the reply did not tell
    std::uint64_t fences = 0;        // commit_once fences that landed (lost attempts made harmless)
};

class watch_stream;

// Safe to use from several threads at once.
class client {
public:
    explicit client(options opts);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    range_result range(const range_request& r);
    // The single key `key` at the latest revision, if it exists.
    std::optional<key_value> get(std::string_view key);

    txn_result txn(const std::vector<compare>& compares, const std::vector<op>& success,
                   const std::vector<op>& failure = {});
    // One-op Txns; they return the revision after the write (and delete_range how many went).
    std::int64_t put(std::string_view key, std::string_view value, std::int64_t lease = 0);
    delete_result delete_range(std::string_view key, std::string_view range_end = {});

    // Applies `ops` if `compares` hold, at most once per token (for options.token_ttl at least),
    // even when a reply is lost and the call (or a later call with the same token) is retried.
    // Throws status::unknown_outcome only when no member could be reached to find out before
    // the deadline; a later call with the same token then settles it.
    commit_result commit_once(std::string_view token, const std::vector<compare>& compares,
                              const std::vector<op>& ops);

    // Drops the history before `revision`: reads and watches from older revisions then fail
    // with status::compacted. Compacting twice to the same revision is not an error.
    void compact(std::int64_t revision);

    std::int64_t lease_grant(std::chrono::seconds ttl);
    void lease_revoke(std::int64_t id);

    // One member's view (options.endpoints[index]), no failover: for health checks.
    member_status status(std::size_t index);

    // Every event on [key, range_end) from start_revision (0: from now) on. The stream reconnects
    // to another member when one fails, from the revision after the last event it delivered.
    // The client must outlive the stream.
    std::unique_ptr<watch_stream> watch(std::string key, std::string range_end, std::int64_t start_revision);

    const options& config() const noexcept;
    client_stats stats() const noexcept;

private:
    struct impl;
    friend class watch_stream;
    std::unique_ptr<impl> impl_;
};

class watch_stream {
public:
    ~watch_stream();
    watch_stream(const watch_stream&) = delete;
    watch_stream& operator=(const watch_stream&) = delete;

    // The next batch of events (one revision's worth or more, in revision order), waiting at
    // most `timeout`; empty when none came. Throws when the stream failed for good (compacted
    // start revision, or no member reachable within options.deadline).
    std::vector<watch_event> next(std::chrono::milliseconds timeout);

private:
    friend class client;
    struct state;
    explicit watch_stream(std::shared_ptr<state> s);
    std::shared_ptr<state> state_;
};

}  // namespace netabase::etcd_wire

template <>
struct std::is_error_code_enum<netabase::etcd_wire::status> : std::true_type {};
