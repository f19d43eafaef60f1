// netabase::etcd_wire::client against real 3-member etcd clusters (cluster.hpp), one per case.
#include "client.hpp"
#include "cluster.hpp"

#include "catch.hpp"
#include "support.hpp"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace netabase::etcd_wire;
using netabase_etcd_test::cluster;
using std::chrono::milliseconds;
using std::chrono::seconds;
using steady = std::chrono::steady_clock;

namespace {

options opts_for(const cluster& c, milliseconds deadline = milliseconds{10000}) {
    options o;
    o.endpoints = c.endpoints();
    o.deadline = deadline;
    o.attempt_timeout = milliseconds{2000};
    return o;
}

// The client's own code, and the netabase::errc condition it stands for.
bool has_code(const netabase::error& e, status s) {
    const netabase::errc condition = s == status::unavailable       ? netabase::errc::unavailable
                                     : s == status::unknown_outcome ? netabase::errc::unknown_outcome
                                     : s == status::limit           ? netabase::errc::limit_exceeded
                                     : s == status::compacted       ? netabase::errc::compacted
                                                                    : netabase::errc::invalid_argument;
    return e.code() == make_error_code(s) && e.code() == condition;
}

// Runs fn, which must throw netabase::error with status s; returns its message.
template <class Fn>
std::string error_of(status s, Fn&& fn) {
    try {
        fn();
    } catch (const netabase::error& e) {
        INFO(e.what());
        CHECK(has_code(e, s));
        return e.what();
    }
    FAIL("no error thrown");
    return {};
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

std::string value_of(client& c, const std::string& key) {
    auto kv = c.get(key);
    return kv ? kv->value : std::string("<absent>");
}

// A client whose every call goes to the one member at `endpoint`.
options only(const std::string& endpoint, milliseconds deadline = milliseconds{5000}) {
    options o;
    o.endpoints = {endpoint};
    o.deadline = deadline;
    return o;
}

double txn_requests(const cluster& c) {
    double n = 0;
    for (std::size_t i = 0; i < c.size(); ++i)
        if (c.running(i)) n += c.metric(i, R"(grpc_server_started_total{grpc_method="Txn")");
    return n;
}

}  // namespace

TEST_CASE("wire: put and range with range_end and limit and reads at an older revision") {
    netabase_test::watchdog dog(seconds{120}, "put/range");
    cluster etcd;
    client c(opts_for(etcd));

    const std::int64_t r1 = c.put("t/a", "1");
    const std::int64_t r2 = c.put("t/b", "2");
    c.put("t/c", "3");
    c.put("u/z", "outside");
    CHECK(r2 > r1);
    const std::int64_t r4 = c.put("t/a", "1b");

    auto all = c.range({"t/", prefix_end("t/"), 0, 0, false, false});
    REQUIRE(all.kvs.size() == 3);
    CHECK(all.kvs[0].key == "t/a");
    CHECK(all.kvs[0].value == "1b");
    CHECK(all.kvs[0].version == 2);
    CHECK(all.kvs[0].create_revision == r1);
    CHECK(all.kvs[0].mod_revision == r4);
    CHECK(all.kvs[2].value == "3");
    CHECK(all.count == 3);
    CHECK_FALSE(all.more);
    CHECK(all.revision == r4);

    auto two = c.range({"t/", prefix_end("t/"), 0, 2, false, false});
    CHECK(two.kvs.size() == 2);
    CHECK(two.more);
    CHECK(two.count == 3);

    auto half_open = c.range({"t/b", "t/c", 0, 0, false, false});  // range_end is exclusive
    REQUIRE(half_open.kvs.size() == 1);
    CHECK(half_open.kvs[0].key == "t/b");

    auto then = c.range({"t/a", {}, r1, 0, false, false});  // the value as of revision r1
    REQUIRE(then.kvs.size() == 1);
    CHECK(then.kvs[0].value == "1");
    CHECK(c.range({"t/b", {}, r1, 0, false, false}).kvs.empty());  // not written yet at r1

    auto counted = c.range({"t/", prefix_end("t/"), 0, 0, false, true});
    CHECK(counted.kvs.empty());
    CHECK(counted.count == 3);
    auto keys = c.range({"t/", prefix_end("t/"), 0, 0, true, false});
    REQUIRE(keys.kvs.size() == 3);
    CHECK(keys.kvs[1].value.empty());

    CHECK(c.delete_range("t/", prefix_end("t/")).deleted == 3);
    CHECK(c.range({"t/", prefix_end("t/"), 0, 0, false, true}).count == 0);
    CHECK(value_of(c, "u/z") == "outside");
}

TEST_CASE("wire: a Txn whose compare fails applies none of its success ops and runs its failure branch") {
    netabase_test::watchdog dog(seconds{120}, "txn compare");
    cluster etcd;
    client c(opts_for(etcd));
    c.put("y", "kept");
    const std::int64_t rev = c.put("k", "old");

    auto r = c.txn({compare::value_is("k", compare::result::equal, "other"), compare::absent("x")},
                   {put_op{"k", "new", 0}, put_op{"x", "1", 0}, delete_op{"y", {}}},
                   {range_request{"k", {}, 0, 0, false, false}});
    CHECK_FALSE(r.succeeded);
    CHECK(r.revision == rev);  // nothing was written
    REQUIRE(r.responses.size() == 1);
    const auto& seen = std::get<range_result>(r.responses[0]);
    REQUIRE(seen.kvs.size() == 1);
    CHECK(seen.kvs[0].value == "old");
    CHECK(value_of(c, "k") == "old");
    CHECK_FALSE(c.get("x"));
    CHECK(value_of(c, "y") == "kept");

    auto ok = c.txn({compare::value_is("k", compare::result::equal, "old"), compare::absent("x"),
                     compare::mod_revision("k", compare::result::equal, rev)},
                    {put_op{"k", "new", 0}, put_op{"x", "1", 0}});
    CHECK(ok.succeeded);
    CHECK(ok.revision == rev + 1);  // one Txn, one revision
    CHECK(value_of(c, "k") == "new");
    CHECK(value_of(c, "x") == "1");
}

TEST_CASE("wire: two clients racing on one compare - exactly one wins each round") {
    netabase_test::watchdog dog(seconds{120}, "racing clients");
    cluster etcd;
    client setup(opts_for(etcd));
    setup.put("counter", "0");
    constexpr int rounds = 20;
    std::atomic<int> wins[rounds] = {};
    std::barrier both_read(2);
    std::atomic<bool> failed{false};

    auto racer = [&](std::size_t first_member) {
        options o = opts_for(etcd);
        std::rotate(o.endpoints.begin(), o.endpoints.begin() + static_cast<long>(first_member), o.endpoints.end());
        client c(o);
        for (int round = 0; round < rounds; ++round) {
            std::optional<key_value> kv;
            try {
                kv = c.get("counter");
            } catch (...) {
                failed = true;
            }
            both_read.arrive_and_wait();  // both have read the same mod revision
            if (!kv) {
                failed = true;
                both_read.arrive_and_wait();
                continue;
            }
            try {
                auto r = c.txn({compare::mod_revision("counter", compare::result::equal, kv->mod_revision)},
                               {put_op{"counter", std::to_string(std::stoi(kv->value) + 1), 0}});
                if (r.succeeded) ++wins[round];
            } catch (...) {
                failed = true;
            }
            both_read.arrive_and_wait();  // both have tried before the next read
        }
    };
    std::thread a(racer, 0), b(racer, 1);
    a.join();
    b.join();
    REQUIRE_FALSE(failed);
    for (int round = 0; round < rounds; ++round) {
        INFO("round " << round);
        CHECK(wins[round] == 1);
    }
    CHECK(value_of(setup, "counter") == std::to_string(rounds));
}

TEST_CASE("wire: a SIGKILLed member - the client fails over for reads and commits and the restarted member rejoins") {
    netabase_test::watchdog dog(seconds{150}, "failover");
    cluster etcd;
    client c(opts_for(etcd));
    c.put("before", "1");
    c.get("before");  // the client now talks to member 0 (its first endpoint)

    etcd.kill(0);
    CHECK(value_of(c, "before") == "1");  // read served by another member
    for (int i = 0; i < 5; ++i) {
        auto r = c.commit_once("after-kill-" + std::to_string(i), {}, {put_op{"after/" + std::to_string(i), "v", 0}});
        CHECK(r.succeeded);
        CHECK_FALSE(r.already_applied);
    }
    // Once it has failed over, plain Txns go to a live member too.
    CHECK(c.txn({compare::absent("plain")}, {put_op{"plain", "p", 0}}).succeeded);

    // Member 0 comes back on its old data and catches up.
    etcd.restart(0);
    client rejoined(only(etcd.endpoint(0)));
    CHECK(value_of(rejoined, "plain") == "p");  // a linearizable read through the restarted member
    CHECK(rejoined.range({"after/", prefix_end("after/"), 0, 0, false, true}).count == 5);
    rejoined.put("via-restarted", "yes");
    CHECK(value_of(c, "via-restarted") == "yes");

    // The leader itself dies: a new one is elected, and the client carries on.
    const std::size_t leader = etcd.leader();
    etcd.kill(leader);
    auto r = c.commit_once("after-leader-kill", {}, {put_op{"after-leader", "v", 0}});
    CHECK(r.succeeded);
    CHECK(value_of(c, "after-leader") == "v");
    etcd.restart(leader);
}

TEST_CASE("wire: commit_once called again with the same token does not apply twice") {
    netabase_test::watchdog dog(seconds{120}, "commit_once twice");
    cluster etcd;
    client c(opts_for(etcd));
    c.put("balance", "10");

    const std::vector<op> ops = {put_op{"log/1", "deposit", 0}, put_op{"balance", "20", 0}};
    auto first = c.commit_once("deposit-1", {compare::value_is("balance", compare::result::equal, "10")}, ops);
    CHECK(first.succeeded);
    CHECK_FALSE(first.already_applied);
    CHECK(first.responses.size() == 2);  // the token's own put is not shown

    // The same call again, as after a lost reply: the compare would now fail anyway, so use
    // none, to show that the token alone stops it.
    auto again = c.commit_once("deposit-1", {}, ops);
    CHECK(again.succeeded);
    CHECK(again.already_applied);
    CHECK(again.revision == first.revision);
    CHECK(c.get("log/1")->version == 1);  // written once
    CHECK(c.get("balance")->version == 2);

    // From another client too: the token lives in etcd, not in the client.
    client other(opts_for(etcd));
    CHECK(other.commit_once("deposit-1", {}, ops).already_applied);
    CHECK(c.get("log/1")->version == 1);

    // Compares that fail leave the token unused: the same token can commit later.
    auto refused = c.commit_once("deposit-2", {compare::value_is("balance", compare::result::equal, "999")},
                                 {put_op{"log/2", "x", 0}});
    CHECK_FALSE(refused.succeeded);
    CHECK_FALSE(c.get("log/2"));
    auto later = c.commit_once("deposit-2", {}, {put_op{"log/2", "x", 0}});
    CHECK(later.succeeded);
    CHECK_FALSE(later.already_applied);

    // The token key is on a lease, under the reserved prefix.
    auto token = c.get(c.config().token_prefix + "deposit-1");
    REQUIRE(token);
    CHECK(token->value == "applied");
    CHECK(token->lease != 0);
}

TEST_CASE("wire: commit_once whose reply is lost (its member stopped) is fenced and sent again elsewhere and applied once") {
    netabase_test::watchdog dog(seconds{150}, "commit_once lost reply");
    cluster etcd;
    // The member to stop is a follower, first in the client's list: the leader stays up, so
    // the fence lands on the next member at its first try.
    const std::size_t follower = (etcd.leader() + 1) % etcd.size();
    options o = opts_for(etcd, milliseconds{15000});
    o.attempt_timeout = milliseconds{1500};
    std::rotate(o.endpoints.begin(), o.endpoints.begin() + static_cast<long>(follower), o.endpoints.end());
    client c(o);
    // The follower has the client's connection now, and the token lease exists.
    REQUIRE(c.commit_once("warm", {}, {put_op{"warm", "1", 0}}).succeeded);
    c.get("warm");
    REQUIRE(c.stats().failovers == 0);

    etcd.stop(follower);  // it holds the connection and never answers: the Txn is sent, its reply lost
    auto r = c.commit_once("lost-1", {}, {put_op{"lost/1", "v", 0}});
    etcd.resume(follower);
    CHECK(r.succeeded);
    CHECK_FALSE(r.already_applied);
    auto token = c.get(c.config().token_prefix + "lost-1");
    REQUIRE(token);
    CHECK(token->value == "applied");
    CHECK(token->version == 2);  // "fenced" first: the lost-reply path ran
    CHECK(c.stats().lost_replies == 1);
    CHECK(c.stats().fences == 1);
    CHECK(c.get("lost/1")->version == 1);

    // The follower now reads the Txn it had buffered, if gRPC still hands it over: the fence
    // makes its compare fail. Wait until it serves, then check through it.
    etcd.wait_healthy();
    client via(only(etcd.endpoint(follower)));
    CHECK(via.get("lost/1")->version == 1);
    CHECK(via.get(c.config().token_prefix + "lost-1")->version == 2);
}

TEST_CASE("wire: commit_once with every member stopped ends in unknown_outcome and a retry with its token settles it") {
    netabase_test::watchdog dog(seconds{150}, "commit_once unknown outcome");
    cluster etcd;
    options o = opts_for(etcd, milliseconds{3000});
    o.attempt_timeout = milliseconds{500};
    client c(o);
    REQUIRE(c.commit_once("warm", {}, {put_op{"warm", "1", 0}}).succeeded);  // the token lease exists

    for (std::size_t i = 0; i < etcd.size(); ++i) etcd.stop(i);
    const auto t0 = steady::now();
    std::string msg = error_of(status::unknown_outcome, [&] { c.commit_once("unknown-1", {}, {put_op{"u/1", "v", 0}}); });
    const auto took = steady::now() - t0;
    for (std::size_t i = 0; i < etcd.size(); ++i) etcd.resume(i);
    // The 3 s deadline ends it, not a hang (the slack is for a loaded machine; no timing is
    // measured, only that the call returned).
    CHECK(took < seconds{15});
    CHECK(contains(msg, "commit_once"));
    CHECK(contains(msg, etcd.endpoint(0)));

    etcd.wait_healthy();
    options patient = opts_for(etcd);
    client d(patient);
    auto r = d.commit_once("unknown-1", {}, {put_op{"u/1", "v", 0}});
    CHECK(r.succeeded);  // applied now, or found applied
    CHECK(d.get("u/1")->version == 1);
}

TEST_CASE("wire: commit_once streams while the leader is SIGKILLed - every acknowledged commit applied exactly once") {
    netabase_test::watchdog dog(seconds{150}, "commit_once leader kill");
    cluster etcd;
    // The client talks to the leader first, so the kill cuts its own connection.
    const std::size_t leader = etcd.leader();
    options o = opts_for(etcd, milliseconds{15000});
    std::rotate(o.endpoints.begin(), o.endpoints.begin() + static_cast<long>(leader), o.endpoints.end());
    client c(o);
    constexpr int total = 60;
    std::atomic<int> done{0};
    std::vector<int> acknowledged;
    std::string failure;
    std::thread writer([&] {
        for (int i = 0; i < total; ++i) {
            try {
                auto r = c.commit_once("stream-" + std::to_string(i), {}, {put_op{"stream/" + std::to_string(i), "v", 0}});
                if (r.succeeded) acknowledged.push_back(i);
            } catch (const std::exception& e) {
                failure += std::string(e.what()) + "\n";
            }
            ++done;
        }
    });
    // Kill the leader once a third of the stream is through (a real condition, polled).
    while (done < total / 3) std::this_thread::sleep_for(milliseconds{5});
    etcd.kill(leader);
    writer.join();
    const auto st = c.stats();
    CHECK(st.failovers >= 1);  // the client did lose its member
    WARN("leader kill: " << st.attempts << " attempts, " << st.failovers << " failovers, " << st.lost_replies
                         << " lost replies, " << st.fences << " fences");
    INFO(failure);
    CHECK(failure.empty());
    CHECK(acknowledged.size() == total);
    auto all = c.range({"stream/", prefix_end("stream/"), 0, 0, false, false});
    CHECK(all.kvs.size() == total);
    for (const auto& kv : all.kvs) {
        INFO(kv.key);
        CHECK(kv.version == 1);  // never applied twice
    }
    etcd.restart(leader);
}

TEST_CASE("wire: a key put with a lease is gone once the lease is revoked") {
    netabase_test::watchdog dog(seconds{120}, "lease");
    cluster etcd;
    client c(opts_for(etcd));
    const std::int64_t lease = c.lease_grant(seconds{600});
    CHECK(lease != 0);
    c.put("leased", "v", lease);
    c.put("kept", "v");
    CHECK(c.get("leased")->lease == lease);
    c.lease_revoke(lease);
    CHECK_FALSE(c.get("leased"));
    CHECK(c.get("kept"));
    c.lease_revoke(lease);  // again: already gone, not an error
    // A put on a lease that no longer exists is refused, and applies nothing.
    std::string msg = error_of(status::rejected, [&] { c.put("leased", "w", lease); });
    CHECK(contains(msg, "lease not found"));
    CHECK_FALSE(c.get("leased"));
}

TEST_CASE("wire: a Txn over --max-txn-ops is refused before anything is sent") {
    netabase_test::watchdog dog(seconds{120}, "txn ops limit");
    cluster etcd;
    client c(opts_for(etcd));
    const std::int64_t rev = c.put("start", "1");

    std::vector<op> ops;
    for (int i = 0; i < 129; ++i) ops.push_back(put_op{"many/" + std::to_string(i), "v", 0});
    const double sent_before = txn_requests(etcd);
    REQUIRE(sent_before >= 1);  // the put above counted: the metric is the right one
    std::string msg = error_of(status::limit, [&] { c.txn({}, ops); });
    CHECK(contains(msg, "129 operations"));
    CHECK(contains(msg, "128"));
    CHECK(contains(msg, "--max-txn-ops"));
    // commit_once adds the token's put: 128 ops are one too many there.
    ops.pop_back();
    msg = error_of(status::limit, [&] { c.commit_once("too-many", {}, ops); });
    CHECK(contains(msg, "commit token"));
    CHECK(txn_requests(etcd) == sent_before);  // no Txn reached any member
    CHECK(c.range({"many/", prefix_end("many/"), 0, 0, false, true}).count == 0);
    CHECK(c.get("start")->mod_revision == rev);
    CHECK(c.range({"start", {}, 0, 0, false, true}).revision == rev);  // no revision was spent

    // 128 is what the server takes: the client's limit is the server's.
    CHECK(c.txn({}, ops).succeeded);
    CHECK(c.range({"many/", prefix_end("many/"), 0, 0, false, true}).count == 128);

    // A client told more than the servers allow hears it from the server, as a limit.
    options loose = opts_for(etcd);
    loose.max_txn_ops = 1000;
    client l(loose);
    ops.push_back(put_op{"many/x", "v", 0});
    msg = error_of(status::limit, [&] { l.txn({}, ops); });
    CHECK(contains(msg, "--max-txn-ops"));
}

TEST_CASE("wire: a request over --max-request-bytes is refused before anything is sent") {
    netabase_test::watchdog dog(seconds{120}, "request size limit");
    cluster etcd;
    client c(opts_for(etcd));
    const std::int64_t rev = c.put("start", "1");
    const std::size_t limit = c.config().max_request_bytes;

    const double sent_before = txn_requests(etcd);
    REQUIRE(sent_before >= 1);
    std::string msg = error_of(status::limit, [&] { c.put("big", std::string(limit, 'x')); });
    CHECK(contains(msg, "--max-request-bytes"));
    CHECK(contains(msg, std::to_string(limit)));
    CHECK(txn_requests(etcd) == sent_before);
    CHECK_FALSE(c.get("big"));
    CHECK(c.range({"start", {}, 0, 0, false, true}).revision == rev);

    // Just under the client's limit, the server takes it: the check is not looser than etcd's.
    c.put("big", std::string(limit - 200, 'x'));
    CHECK(c.get("big")->value.size() == limit - 200);
}

TEST_CASE("wire: with no quorum (2 of 3 members killed) reads and writes fail clearly within the deadline") {
    netabase_test::watchdog dog(seconds{120}, "no quorum");
    cluster etcd;
    options o = opts_for(etcd, milliseconds{3000});
    o.attempt_timeout = milliseconds{1000};
    client c(o);
    c.put("k", "v");

    etcd.kill(1);
    etcd.kill(2);
    etcd.wait_leaderless(0);  // member 0 knows it leads nothing any more

    auto t0 = steady::now();
    std::string msg = error_of(status::unavailable, [&] { c.get("k"); });
    CHECK(steady::now() - t0 < seconds{15});  // its deadline ended it: not a hang
    CHECK(contains(msg, "Range"));
    CHECK(contains(msg, etcd.endpoint(0)));
    CHECK(contains(msg, etcd.endpoint(1)));
    CHECK(contains(msg, "no leader"));

    t0 = steady::now();
    msg = error_of(status::unavailable, [&] { c.put("k", "w"); });  // refused before proposing: not "unknown"
    CHECK(steady::now() - t0 < seconds{15});  // its deadline ended it: not a hang
    CHECK(contains(msg, "Txn"));

    t0 = steady::now();
    error_of(status::unavailable, [&] { c.commit_once("nq", {}, {put_op{"k", "w", 0}}); });
    CHECK(steady::now() - t0 < seconds{15});  // its deadline ended it: not a hang

    etcd.restart(1);  // quorum again: the write that was refused is not there
    client d(opts_for(etcd));
    CHECK(value_of(d, "k") == "v");
}

TEST_CASE("wire: a watch delivers puts and deletes in order from a start revision across a member kill") {
    netabase_test::watchdog dog(seconds{120}, "watch");
    cluster etcd;
    client c(opts_for(etcd));
    const std::int64_t r1 = c.put("w/a", "1");
    c.put("w/b", "2");
    c.put("other", "x");

    auto events = c.watch("w/", prefix_end("w/"), r1);
    std::vector<watch_event> seen;
    auto collect = [&](std::size_t n) {
        const auto until = steady::now() + seconds{20};
        while (seen.size() < n && steady::now() < until)
            for (auto& e : events->next(milliseconds{200})) seen.push_back(std::move(e));
    };
    collect(2);
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].kv.key == "w/a");
    CHECK(seen[0].kv.mod_revision == r1);
    CHECK(seen[1].kv.key == "w/b");

    c.delete_range("w/a");
    collect(3);
    REQUIRE(seen.size() == 3);
    CHECK(seen[2].is_delete);
    CHECK(seen[2].kv.key == "w/a");

    // Member 0, the client's first endpoint, is the one the stream is on: it reconnects elsewhere.
    etcd.kill(0);
    etcd.wait_healthy();  // plain puts right after a leader dies may be unknown_outcome
    c.put("w/c", "3");
    c.put("w/d", "4");
    collect(5);
    REQUIRE(seen.size() == 5);
    CHECK(seen[3].kv.key == "w/c");
    CHECK(seen[4].kv.key == "w/d");
    for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].kv.mod_revision > seen[i - 1].kv.mod_revision);
    // Nothing more (no duplicate after the reconnect).
    CHECK(events->next(milliseconds{500}).empty());
}

TEST_CASE("wire: reads and watches from before a compaction fail with compacted") {
    netabase_test::watchdog dog(seconds{120}, "compaction");
    cluster etcd;
    client c(opts_for(etcd));
    const std::int64_t r1 = c.put("c/a", "1");
    const std::int64_t r2 = c.put("c/a", "2");
    CHECK(c.range({"c/a", {}, r1, 0, false, false}).kvs.at(0).value == "1");
    c.compact(r2);
    c.compact(r2);  // again: not an error

    std::string msg = error_of(status::compacted, [&] { c.range({"c/a", {}, r1, 0, false, false}); });
    CHECK(contains(msg, "Range"));
    CHECK(c.range({"c/a", {}, r2, 0, false, false}).kvs.at(0).value == "2");  // from r2 on, still there

    auto events = c.watch("c/", prefix_end("c/"), r1);
    std::string watch_msg;
    const auto until = steady::now() + seconds{20};
    while (watch_msg.empty() && steady::now() < until) {
        try {
            const auto batch = events->next(milliseconds{200});
            CHECK(batch.empty());  // nothing is delivered from a compacted start
        } catch (const netabase::error& e) {
            CHECK(has_code(e, status::compacted));
            watch_msg = e.what();
        }
    }
    CHECK(contains(watch_msg, "compacted"));
    CHECK(contains(watch_msg, std::to_string(r2)));  // it says the oldest revision kept
}
