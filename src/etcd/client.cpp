// netabase::etcd_wire::client over the C++ code protoc generates from src/etcd/proto/.
#include "client.hpp"

#include "rpc.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace netabase::etcd_wire {

namespace pb = etcdserverpb;
using clock = std::chrono::steady_clock;

namespace {

class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "netabase.etcd"; }
    std::string message(int v) const override {
        switch (static_cast<status>(v)) {
            case status::unavailable:
                return "etcd unavailable";
            case status::unknown_outcome:
                return "unknown outcome";
            case status::limit:
                return "over an etcd limit";
            case status::compacted:
                return "revision compacted";
            case status::rejected:
                return "rejected by etcd";
        }
        return "unknown etcd error";
    }
    // So that `e.code() == netabase::errc::unavailable` holds for the client's errors.
    std::error_condition default_error_condition(int v) const noexcept override {
        switch (static_cast<status>(v)) {
            case status::unavailable: return make_error_condition(errc::unavailable);
            case status::unknown_outcome: return make_error_condition(errc::unknown_outcome);
            case status::limit: return make_error_condition(errc::limit_exceeded);
            case status::compacted: return make_error_condition(errc::compacted);
            case status::rejected: return make_error_condition(errc::invalid_argument);
        }
        return {v, *this};
    }
};

[[noreturn]] void fail(status s, const std::string& what) { throw netabase::error(make_error_code(s), what); }

// etcd refused a request naming a lease that expired or was revoked (it applied nothing).
bool lease_not_found(const netabase::error& e) {
    return e.code() == make_error_code(status::rejected) &&
           std::string_view(e.what()).find("requested lease not found") != std::string_view::npos;
}

// How one attempt on one member ended.
enum class outcome {
    ok,
    not_applied,    // the member could not take the request: nothing was proposed; try another
    maybe_applied,  // sent, and the reply was lost or the server gave up waiting: it may have applied
    fatal,          // an answer that another member would give too
};

// gRPC takes deadlines on the system clock only; the client keeps its own on the steady clock.
std::chrono::system_clock::time_point on_system_clock(clock::time_point t) {
    const auto left = t - clock::now();
    return std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
}

bool has(const grpc::Status& s, std::string_view text) { return s.error_message().find(text) != std::string::npos; }

// etcd's gRPC errors (etcdserver/api/v3rpc/rpctypes/error.go, v3.4) sorted by whether the
// request can have been applied. The ones returned before a proposal: no leader (the "hasleader"
// interceptor), not capable, too many requests. A connection that gRPC could not make fails the
// pick, with "failed to connect": nothing was written to the wire.
outcome classify(const grpc::Status& s) {
    switch (s.error_code()) {
        case grpc::StatusCode::OK:
            return outcome::ok;
        case grpc::StatusCode::UNAVAILABLE:
            if (has(s, "etcdserver: no leader") || has(s, "etcdserver: not capable") ||
                has(s, "failed to connect to all addresses") || has(s, "Connection refused"))
                return outcome::not_applied;
            return outcome::maybe_applied;
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
            if (has(s, "too many requests")) return outcome::not_applied;
            return outcome::fatal;
        case grpc::StatusCode::DEADLINE_EXCEEDED:
        case grpc::StatusCode::CANCELLED:
        case grpc::StatusCode::UNKNOWN:
        case grpc::StatusCode::INTERNAL:
        case grpc::StatusCode::ABORTED:
            return outcome::maybe_applied;
        default:
            return outcome::fatal;
    }
}

std::string describe(const grpc::Status& s) {
    return "gRPC " + std::to_string(static_cast<int>(s.error_code())) + " " + s.error_message();
}

pb::Compare to_pb(const compare& c) {
    pb::Compare out;
    out.set_key(c.key);
    if (!c.range_end.empty()) out.set_range_end(c.range_end);
    out.set_result(static_cast<pb::Compare::CompareResult>(static_cast<int>(c.op)));
    switch (c.what) {
        case compare::target::version:
            out.set_target(pb::Compare::VERSION);
            out.set_version(c.number);
            break;
        case compare::target::create_revision:
            out.set_target(pb::Compare::CREATE);
            out.set_create_revision(c.number);
            break;
        case compare::target::mod_revision:
            out.set_target(pb::Compare::MOD);
            out.set_mod_revision(c.number);
            break;
        case compare::target::value:
            out.set_target(pb::Compare::VALUE);
            out.set_value(c.value);
            break;
        case compare::target::lease:
            out.set_target(pb::Compare::LEASE);
            out.set_lease(c.number);
            break;
    }
    return out;
}

void fill(pb::RangeRequest& out, const range_request& r) {
    out.set_key(r.key);
    out.set_range_end(r.range_end);
    out.set_revision(r.revision);
    out.set_limit(r.limit);
    out.set_keys_only(r.keys_only);
    out.set_count_only(r.count_only);
}

pb::RequestOp to_pb(const op& o) {
    pb::RequestOp out;
    if (const auto* p = std::get_if<put_op>(&o)) {
        auto* put = out.mutable_request_put();
        put->set_key(p->key);
        put->set_value(p->value);
        put->set_lease(p->lease);
    } else if (const auto* d = std::get_if<delete_op>(&o)) {
        auto* del = out.mutable_request_delete_range();
        del->set_key(d->key);
        del->set_range_end(d->range_end);
    } else {
        fill(*out.mutable_request_range(), std::get<range_request>(o));
    }
    return out;
}

key_value from_pb(const mvccpb::KeyValue& kv) {
    return {kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
}

range_result from_pb(const pb::RangeResponse& r) {
    range_result out;
    out.kvs.reserve(static_cast<std::size_t>(r.kvs_size()));
    for (const auto& kv : r.kvs()) out.kvs.push_back(from_pb(kv));
    out.more = r.more();
    out.count = r.count();
    out.revision = r.header().revision();
    return out;
}

txn_result from_pb(const pb::TxnResponse& r) {
    txn_result out;
    out.succeeded = r.succeeded();
    out.revision = r.header().revision();
    for (const auto& resp : r.responses()) {
        if (resp.has_response_range())
            out.responses.emplace_back(from_pb(resp.response_range()));
        else if (resp.has_response_delete_range())
            out.responses.emplace_back(delete_result{resp.response_delete_range().deleted()});
        else
            out.responses.emplace_back(put_result{});
    }
    return out;
}

// The marshalled InternalRaftRequest that etcd checks against --max-request-bytes wraps the
// request in a header (request id, auth revision) and a field tag: a few dozen bytes.
constexpr std::size_t raft_wrapping_bytes = 64;

constexpr std::string_view token_applied = "applied";
constexpr std::string_view token_fenced = "fenced";

}  // namespace

const std::error_category& etcd_category() noexcept {
    static const category_impl c;
    return c;
}

std::error_code make_error_code(status s) noexcept { return {static_cast<int>(s), etcd_category()}; }

std::string prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(end.back());
        if (last < 0xff) {
            ++last;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

// ---- the member set and the retry loop --------------------------------------------------------

struct member {
    std::string endpoint;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Lease::Stub> lease;
    std::unique_ptr<pb::Maintenance::Stub> maintenance;
    std::unique_ptr<pb::Watch::Stub> watch;
};

struct client::impl {
    options opts;
    std::vector<member> members;
    std::atomic<std::size_t> current{0};  // the member that answered last
    std::atomic<std::uint64_t> attempts{0}, failovers{0}, lost_replies{0}, fences{0};

    std::mutex lease_mutex;  // the lease commit tokens are attached to
    std::int64_t token_lease = 0;
    clock::time_point token_lease_granted{};

    explicit impl(options o) : opts(std::move(o)) {
        if (opts.endpoints.empty()) fail(status::rejected, "etcd client: no endpoints");
        grpc::ChannelArguments args;
        // A restarted member is found again within a second, not after gRPC's 2-minute backoff.
        args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
        args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
        args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
        args.SetMaxReceiveMessageSize(-1);  // a Range answer is as large as the range
        args.SetMaxSendMessageSize(-1);     // the client checks the limits itself
        for (const auto& e : opts.endpoints) {
            member m;
            m.endpoint = e;
            m.channel = grpc::CreateCustomChannel(e, grpc::InsecureChannelCredentials(), args);
            m.kv = pb::KV::NewStub(m.channel);
            m.lease = pb::Lease::NewStub(m.channel);
            m.maintenance = pb::Maintenance::NewStub(m.channel);
            m.watch = pb::Watch::NewStub(m.channel);
            members.push_back(std::move(m));
        }
    }

    std::string all_endpoints() const {
        std::string s;
        for (const auto& m : members) s += (s.empty() ? "" : ", ") + m.endpoint;
        return s;
    }

    // Connects m's channel by `until`; false (nothing sent) when it fails or is failing.
    static bool connect(member& m, clock::time_point until) {
        auto state = m.channel->GetState(true);
        while (state != GRPC_CHANNEL_READY) {
            if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) return false;
            if (!m.channel->WaitForStateChange(state, on_system_clock(until))) return false;
            state = m.channel->GetState(true);
        }
        return true;
    }

    static void prepare(grpc::ClientContext& ctx, clock::time_point until) {
        ctx.set_deadline(on_system_clock(until));
        // etcd then answers "no leader" at once from a member that has none, instead of
        // proposing into a cluster that cannot commit (rpctypes.MetadataRequireLeaderKey).
        ctx.AddMetadata("hasleader", "true");
    }

    // Runs call(member, context) on one member after another until one answers, the call is
    // refused for good, or the deadline passes. `write`: an attempt that may have been applied
    // ends the loop (the caller decides); a read goes on to the next member.
    template <class Call>
    outcome run(std::string_view what, bool write, Call&& call, std::string* errors_out = nullptr,
                std::optional<clock::time_point> deadline = std::nullopt) {
        const auto until = deadline.value_or(clock::now() + opts.deadline);
        const std::size_t n = members.size();
        std::vector<std::string> last(n);  // each member's last error, for the message
        auto errors = [&] {
            std::string out;
            for (std::size_t j = 0; j < n; ++j)
                if (!last[j].empty()) out += "\n  " + members[j].endpoint + ": " + last[j];
            return out;
        };
        auto backoff = opts.backoff_min;
        for (bool time_left = true; time_left;) {
            const std::size_t first = current.load();
            for (std::size_t k = 0; k < n; ++k) {
                const std::size_t i = (first + k) % n;
                member& m = members[i];
                const auto now = clock::now();
                if (now >= until) break;
                const auto attempt_until = std::min(until, now + opts.attempt_timeout);
                if (!connect(m, attempt_until)) {
                    last[i] = "cannot connect";
                    ++failovers;
                    continue;
                }
                grpc::ClientContext ctx;
                prepare(ctx, attempt_until);
                ++attempts;
                grpc::Status s = call(m, ctx);
                outcome o = classify(s);
                if (o == outcome::ok) {
                    current.store(i);
                    return o;
                }
                last[i] = describe(s);
                if (o == outcome::fatal) {
                    throw_fatal(what, m.endpoint, s);
                }
                ++failovers;
                if (o == outcome::maybe_applied && write) {
                    ++lost_replies;
                    current.store((i + 1) % n);  // whatever the caller sends next goes elsewhere
                    if (errors_out) *errors_out = errors();
                    return o;
                }
            }
            if (clock::now() + backoff >= until) {
                time_left = false;
            } else {
                std::this_thread::sleep_for(backoff);
                backoff = std::min(opts.backoff_max, backoff * 2);
            }
        }
        fail(status::unavailable, "etcd " + std::string(what) + ": no member of " + all_endpoints() +
                                      " served it within " + std::to_string(opts.deadline.count()) + " ms" + errors());
    }

    [[noreturn]] void throw_fatal(std::string_view what, const std::string& endpoint, const grpc::Status& s) {
        const std::string msg = "etcd " + std::string(what) + " on " + endpoint + ": " + s.error_message();
        if (s.error_code() == grpc::StatusCode::OUT_OF_RANGE && has(s, "compacted")) fail(status::compacted, msg);
        if (has(s, "database space exceeded"))
            fail(status::limit, msg + " (etcd's --quota-backend-bytes; compact and defragment, or raise it)");
        if (has(s, "too many operations in txn request"))
            fail(status::limit, msg + " (the server's --max-txn-ops is below options.max_txn_ops = " +
                                    std::to_string(opts.max_txn_ops) + ")");
        if (has(s, "request is too large"))
            fail(status::limit, msg + " (the server's --max-request-bytes is below options.max_request_bytes = " +
                                    std::to_string(opts.max_request_bytes) + ")");
        fail(status::rejected, msg);
    }

    void check_limits(std::string_view what, const pb::TxnRequest& req, std::size_t reserved_ops) {
        const std::size_t ops = std::max({static_cast<std::size_t>(req.compare_size()),
                                          static_cast<std::size_t>(req.success_size()),
                                          static_cast<std::size_t>(req.failure_size())});
        if (ops > opts.max_txn_ops) {
            std::string msg = "etcd " + std::string(what) + ": " + std::to_string(ops) +
                              " operations in one transaction (compares, or ops of one branch)";
            if (reserved_ops) msg += ", " + std::to_string(reserved_ops) + " of them the commit token's";
            msg += ", over the limit of " + std::to_string(opts.max_txn_ops) +
                   " (etcd's --max-txn-ops; raise it on every member and in options.max_txn_ops); nothing was sent";
            fail(status::limit, msg);
        }
        check_size(what, req.ByteSizeLong());
    }

    void check_size(std::string_view what, std::size_t bytes) {
        if (bytes + raft_wrapping_bytes > opts.max_request_bytes)
            fail(status::limit, "etcd " + std::string(what) + ": a request of " + std::to_string(bytes) +
                                    " bytes (+" + std::to_string(raft_wrapping_bytes) + " of etcd's framing), over the limit of " +
                                    std::to_string(opts.max_request_bytes) +
                                    " bytes (etcd's --max-request-bytes; raise it on every member and in "
                                    "options.max_request_bytes); nothing was sent");
    }

    // A Txn sent once at most: an answer, or status::unknown_outcome.
    pb::TxnResponse txn_once(std::string_view what, const pb::TxnRequest& req) {
        pb::TxnResponse resp;
        std::string errors;
        outcome o = run(
            what, true,
            [&](member& m, grpc::ClientContext& ctx) {
                resp.Clear();
                return m.kv->Txn(&ctx, req, &resp);
            },
            &errors);
        if (o == outcome::maybe_applied)
            fail(status::unknown_outcome, "etcd " + std::string(what) +
                                              ": the reply was lost after the request was sent; it may or may not "
                                              "have been applied" + errors);
        return resp;
    }

    std::int64_t current_token_lease() {
        std::lock_guard lock(lease_mutex);
        const auto now = clock::now();
        // Granted for twice the TTL and replaced after one TTL: every token lives at least token_ttl.
        if (token_lease == 0 || now - token_lease_granted > opts.token_ttl) {
            token_lease = grant(opts.token_ttl * 2);
            token_lease_granted = now;
        }
        return token_lease;
    }

    void forget_token_lease(std::int64_t id) {
        std::lock_guard lock(lease_mutex);
        if (token_lease == id) token_lease = 0;
    }

    std::int64_t grant(std::chrono::seconds ttl) {
        pb::LeaseGrantRequest req;
        req.set_ttl(ttl.count());
        pb::LeaseGrantResponse resp;
        // A grant whose reply is lost is granted again: the orphan expires by itself.
        run("LeaseGrant", false, [&](member& m, grpc::ClientContext& ctx) {
            resp.Clear();
            return m.lease->LeaseGrant(&ctx, req, &resp);
        });
        if (!resp.error().empty()) fail(status::rejected, "etcd LeaseGrant: " + resp.error());
        return resp.id();
    }
};

// ---- client -------------------------------------------------------------------------------------

client::client(options opts) : impl_(std::make_unique<impl>(std::move(opts))) {}
client::~client() = default;

const options& client::config() const noexcept { return impl_->opts; }

client_stats client::stats() const noexcept {
    return {impl_->attempts.load(), impl_->failovers.load(), impl_->lost_replies.load(), impl_->fences.load()};
}

range_result client::range(const range_request& r) {
    pb::RangeRequest req;
    fill(req, r);
    impl_->check_size("Range", req.ByteSizeLong());
    pb::RangeResponse resp;
    impl_->run("Range", false, [&](member& m, grpc::ClientContext& ctx) {
        resp.Clear();
        return m.kv->Range(&ctx, req, &resp);
    });
    return from_pb(resp);
}

std::optional<key_value> client::get(std::string_view key) {
    range_result r = range(range_request{std::string(key), {}, 0, 0, false, false});
    if (r.kvs.empty()) return std::nullopt;
    return std::move(r.kvs.front());
}

txn_result client::txn(const std::vector<compare>& compares, const std::vector<op>& success,
                       const std::vector<op>& failure) {
    pb::TxnRequest req;
    for (const auto& c : compares) *req.add_compare() = to_pb(c);
    for (const auto& o : success) *req.add_success() = to_pb(o);
    for (const auto& o : failure) *req.add_failure() = to_pb(o);
    impl_->check_limits("Txn", req, 0);
    return from_pb(impl_->txn_once("Txn", req));
}

std::int64_t client::put(std::string_view key, std::string_view value, std::int64_t lease) {
    return txn({}, {put_op{std::string(key), std::string(value), lease}}).revision;
}

delete_result client::delete_range(std::string_view key, std::string_view range_end) {
    txn_result r = txn({}, {delete_op{std::string(key), std::string(range_end)}});
    return std::get<delete_result>(r.responses.at(0));
}

// A commit token T (options.token_prefix + token) records whether the ops were applied: each
// attempt requires T to be in the state it last saw (mod revision 0: absent) and writes
// T = "applied" with the ops, in one Txn. After a lost reply the client fences: one Txn that
// writes T = "fenced" if T is still in that state. Either the fence lands, and the lost attempt
// can never apply (its compare on T fails from now on), so the ops are sent again under the new
// state; or it does not, and T says what happened. Tokens hang on a lease and expire after
// token_ttl..2*token_ttl, which must exceed the longest time a request can stay in flight.
commit_result client::commit_once(std::string_view token, const std::vector<compare>& compares,
                                  const std::vector<op>& ops) {
    if (token.empty()) fail(status::rejected, "etcd commit_once: empty token");
    const std::string key = impl_->opts.token_prefix + std::string(token);
    const auto until = clock::now() + impl_->opts.deadline;
    std::int64_t expected_mod = 0;  // T's state this attempt requires
    bool lease_retried = false;

    // T's state as read by the failure branch's Range.
    auto token_of = [](const pb::TxnResponse& r) -> std::optional<mvccpb::KeyValue> {
        if (r.responses_size() == 0 || !r.responses(0).has_response_range()) return std::nullopt;
        const auto& rr = r.responses(0).response_range();
        if (rr.kvs_size() == 0) return std::nullopt;
        return rr.kvs(0);
    };

    for (int round = 0;; ++round) {
        if (round > 16) fail(status::rejected, "etcd commit_once(" + key + "): the token keeps changing under it");
        const std::int64_t lease = impl_->current_token_lease();
        pb::TxnRequest req;
        *req.add_compare() = to_pb(compare::mod_revision(key, compare::result::equal, expected_mod));
        for (const auto& c : compares) *req.add_compare() = to_pb(c);
        for (const auto& o : ops) *req.add_success() = to_pb(o);
        auto* put = req.add_success()->mutable_request_put();
        put->set_key(key);
        put->set_value(std::string(token_applied));
        put->set_lease(lease);
        req.add_failure()->mutable_request_range()->set_key(key);
        impl_->check_limits("commit_once", req, 1);

        pb::TxnResponse resp;
        std::string errors;
        outcome o = outcome::ok;
        try {
            o = impl_->run(
                "commit_once", true,
                [&](member& m, grpc::ClientContext& ctx) {
                    resp.Clear();
                    return m.kv->Txn(&ctx, req, &resp);
                },
                &errors, until);
        } catch (const netabase::error& e) {
            // A token lease that expired early (or was revoked): nothing applied; take a new one.
            if (!lease_retried && lease_not_found(e)) {
                lease_retried = true;
                impl_->forget_token_lease(lease);
                continue;
            }
            throw;
        }

        if (o == outcome::ok) {
            if (resp.succeeded()) {
                commit_result out;
                txn_result t = from_pb(resp);
                t.responses.pop_back();  // the token's put
                out.succeeded = true;
                out.revision = t.revision;
                out.responses = std::move(t.responses);
                return out;
            }
            auto t = token_of(resp);
            const std::int64_t seen = t ? t->mod_revision() : 0;
            if (seen == expected_mod) return commit_result{false, false, resp.header().revision(), {}};  // the compares failed
            if (t && t->value() == token_applied) return commit_result{true, true, t->mod_revision(), {}};
            expected_mod = seen;  // fenced by an earlier call: try again from that state
            continue;
        }

        // Lost reply: fence, then read T, each retried until the deadline.
        pb::TxnRequest fence;
        *fence.add_compare() = to_pb(compare::mod_revision(key, compare::result::equal, expected_mod));
        auto* fput = fence.add_success()->mutable_request_put();
        fput->set_key(key);
        fput->set_value(std::string(token_fenced));
        fput->set_lease(lease);
        fence.add_failure()->mutable_request_range()->set_key(key);
        pb::TxnResponse fresp;
        for (bool fence_lease_retried = false;;) {
            std::string ferrors;
            outcome fo = outcome::maybe_applied;
            try {
                fo = impl_->run(
                    "commit_once fence", true,
                    [&](member& m, grpc::ClientContext& ctx) {
                        fresp.Clear();
                        return m.kv->Txn(&ctx, fence, &fresp);
                    },
                    &ferrors, until);
            } catch (const netabase::error& e) {
                // The token lease expired under the fence (which then applied nothing): a new one.
                if (!fence_lease_retried && lease_not_found(e)) {
                    fence_lease_retried = true;
                    impl_->forget_token_lease(fput->lease());
                    fput->set_lease(impl_->current_token_lease());
                    continue;
                }
                if (e.code() == make_error_code(status::unavailable))
                    fail(status::unknown_outcome,
                         "etcd commit_once(" + key + "): the reply was lost and no member could say whether it was applied: " +
                             errors + "\n  then: " + e.what());
                throw;
            }
            if (fo == outcome::ok) break;
            errors += ferrors;
            if (clock::now() >= until)
                fail(status::unknown_outcome,
                     "etcd commit_once(" + key + "): the reply was lost and no member could say whether it was applied" + errors);
            // A fence whose own reply was lost is sent again: it is a compare-and-set on T.
        }
        if (fresp.succeeded()) {
            ++impl_->fences;
            expected_mod = fresp.header().revision();  // the lost attempt can no longer apply
            continue;
        }
        auto t = token_of(fresp);
        if (t && t->value() == token_applied) return commit_result{true, true, t->mod_revision(), {}};
        expected_mod = t ? t->mod_revision() : 0;
    }
}

void client::compact(std::int64_t revision) {
    pb::CompactionRequest req;
    req.set_revision(revision);
    pb::CompactionResponse resp;
    // Safe to send again: a second compaction to the same revision answers "compacted".
    try {
        impl_->run("Compact", false, [&](member& m, grpc::ClientContext& ctx) {
            resp.Clear();
            return m.kv->Compact(&ctx, req, &resp);
        });
    } catch (const netabase::error& e) {
        if (e.code() != make_error_code(status::compacted)) throw;
    }
}

std::int64_t client::lease_grant(std::chrono::seconds ttl) { return impl_->grant(ttl); }

void client::lease_revoke(std::int64_t id) {
    pb::LeaseRevokeRequest req;
    req.set_id(id);
    pb::LeaseRevokeResponse resp;
    // Revoking twice is harmless: the second one finds no lease (NOT_FOUND), which counts as done.
    try {
        impl_->run("LeaseRevoke", false, [&](member& m, grpc::ClientContext& ctx) {
            resp.Clear();
            return m.lease->LeaseRevoke(&ctx, req, &resp);
        });
    } catch (const netabase::error& e) {
        if (std::string_view(e.what()).find("requested lease not found") == std::string_view::npos) throw;
    }
}

member_status client::status(std::size_t index) {
    member& m = impl_->members.at(index);
    const auto until = clock::now() + std::min(impl_->opts.deadline, impl_->opts.attempt_timeout);
    if (!impl::connect(m, until)) fail(status::unavailable, "etcd Status on " + m.endpoint + ": cannot connect");
    grpc::ClientContext ctx;
    ctx.set_deadline(on_system_clock(until));
    pb::StatusRequest req;
    pb::StatusResponse resp;
    grpc::Status s = m.maintenance->Status(&ctx, req, &resp);
    if (!s.ok()) fail(status::unavailable, "etcd Status on " + m.endpoint + ": " + describe(s));
    return {resp.header().member_id(), resp.leader(), resp.raftterm(), resp.header().revision(), resp.version()};
}

// ---- watch --------------------------------------------------------------------------------------

struct watch_stream::state {
    client::impl* owner = nullptr;
    std::string key, range_end;
    std::int64_t next_revision = 0;  // where a reconnect starts

    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::vector<watch_event>> batches;
    std::optional<netabase::error> failure;
    bool stopping = false;
    grpc::ClientContext* live = nullptr;  // the stream's context, to cancel it
    std::thread reader;

    void run() {
        const std::size_t n = owner->members.size();
        std::size_t i = owner->current.load();
        auto backoff = owner->opts.backoff_min;
        auto give_up = clock::now() + owner->opts.deadline;
        std::vector<std::string> last(n);  // each member's last error, for the message
        auto errors = [&] {
            std::string out;
            for (std::size_t j = 0; j < n; ++j)
                if (!last[j].empty()) out += "\n  " + owner->members[j].endpoint + ": " + last[j];
            return out;
        };
        // After each round in which every member failed, before the next.
        auto pause = [&] {
            if (i % n != 0) return;
            std::this_thread::sleep_for(std::min<clock::duration>(backoff, give_up - clock::now()));
            backoff = std::min(owner->opts.backoff_max, backoff * 2);
        };
        while (true) {
            {
                std::lock_guard lock(mutex);
                if (stopping) return;
            }
            if (clock::now() >= give_up) {
                set_failure(netabase::error(make_error_code(status::unavailable),
                                            "etcd Watch: no member of " + owner->all_endpoints() + " served it within " +
                                                std::to_string(owner->opts.deadline.count()) + " ms" + errors()));
                return;
            }
            const std::size_t at = i % n;
            member& m = owner->members[at];
            ++i;
            if (!client::impl::connect(m, std::min(give_up, clock::now() + owner->opts.attempt_timeout))) {
                last[at] = "cannot connect";
                pause();
                continue;
            }
            grpc::ClientContext ctx;
            ctx.AddMetadata("hasleader", "true");
            {
                std::lock_guard lock(mutex);
                if (stopping) return;
                live = &ctx;
            }
            auto stream = m.watch->Watch(&ctx);
            pb::WatchRequest req;
            auto* create = req.mutable_create_request();
            create->set_key(key);
            create->set_range_end(range_end);
            create->set_start_revision(next_revision);
            bool healthy = false;
            if (stream->Write(req)) {
                pb::WatchResponse resp;
                while (stream->Read(&resp)) {
                    if (resp.created()) {
                        healthy = true;
                        // From now on a reconnect resumes after what this stream has seen.
                        if (next_revision == 0) next_revision = resp.header().revision() + 1;
                        backoff = owner->opts.backoff_min;
                        give_up = clock::time_point::max();
                    }
                    if (resp.canceled()) {
                        // A member that loses its leader ends the whole stream instead (Read fails).
                        if (resp.compact_revision() > 0)
                            set_failure(netabase::error(
                                make_error_code(status::compacted),
                                "etcd Watch on " + m.endpoint + ": revision " + std::to_string(next_revision) +
                                    " is compacted (oldest kept: " + std::to_string(resp.compact_revision()) + ")"));
                        else
                            set_failure(netabase::error(make_error_code(status::rejected),
                                                        "etcd Watch on " + m.endpoint + ": canceled: " + resp.cancel_reason()));
                        ctx.TryCancel();
                        break;
                    }
                    if (resp.events_size() == 0) continue;
                    std::vector<watch_event> batch;
                    for (const auto& ev : resp.events())
                        batch.push_back({ev.type() == mvccpb::Event::DELETE, from_pb(ev.kv())});
                    next_revision = batch.back().kv.mod_revision + 1;
                    std::lock_guard lock(mutex);
                    batches.push_back(std::move(batch));
                    ready.notify_all();
                }
            }
            ctx.TryCancel();
            grpc::Status s = stream->Finish();
            {
                std::lock_guard lock(mutex);
                live = nullptr;
                if (stopping || failure) return;
            }
            last[at] = describe(s);
            if (healthy) {
                give_up = clock::now() + owner->opts.deadline;  // a fresh deadline for reconnecting
                std::fill(last.begin(), last.end(), std::string());
                last[at] = describe(s);
            } else {
                pause();
            }
        }
    }

    void set_failure(netabase::error e) {
        std::lock_guard lock(mutex);
        failure.emplace(std::move(e));
        ready.notify_all();
    }
};

watch_stream::watch_stream(std::shared_ptr<state> s) : state_(std::move(s)) {}

watch_stream::~watch_stream() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
        if (state_->live) state_->live->TryCancel();
    }
    if (state_->reader.joinable()) state_->reader.join();
}

std::vector<watch_event> watch_stream::next(std::chrono::milliseconds timeout) {
    std::unique_lock lock(state_->mutex);
    state_->ready.wait_for(lock, timeout, [&] { return !state_->batches.empty() || state_->failure; });
    if (!state_->batches.empty()) {
        auto b = std::move(state_->batches.front());
        state_->batches.pop_front();
        return b;
    }
    if (state_->failure) throw *state_->failure;
    return {};
}

std::unique_ptr<watch_stream> client::watch(std::string key, std::string range_end, std::int64_t start_revision) {
    auto s = std::make_shared<watch_stream::state>();
    s->owner = impl_.get();
    s->key = std::move(key);
    s->range_end = std::move(range_end);
    s->next_revision = start_revision;
    s->reader = std::thread([raw = s.get()] { raw->run(); });
    return std::unique_ptr<watch_stream>(new watch_stream(std::move(s)));
}

}  // namespace netabase::etcd_wire
