// The netabase tool, run as a process on stores this suite writes: what it prints parses back
// to the rows, it finds damage below the API, and it refuses what is not a store it can read.
#ifdef NETABASE_TOOL
#include <netabase/json.hpp>

#include "catch.hpp"
#include "json_models.hpp"
#include "support.hpp"

#include <lmdb.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace json_models;
namespace fs = std::filesystem;

namespace {

struct ran {
    int status = -1;
    std::string out, err;
};

std::string quoted(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// The tool as a real process: its exit status, stdout and stderr.
ran tool(const std::vector<std::string>& args) {
    netabase_test::temp_dir io;
    std::string cmd = quoted(NETABASE_TOOL);
    for (const auto& a : args) cmd += " " + quoted(a);
    cmd += " >" + quoted((io / "out").string()) + " 2>" + quoted((io / "err").string()) + " </dev/null";
    int rc = std::system(cmd.c_str());
    ran r;
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
    r.out = slurp(io / "out");
    r.err = slurp(io / "err");
    return r;
}

std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

void fill(const fs::path& dir, std::uint64_t n) {
    netabase::Store<Def> store{dir};
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Every>();
        for (std::uint64_t i = 0; i < n; ++i) t.put(every(i));
        auto p = txn.template open_tree<Plain>();
        p.put(Plain{"alice", 10});
        p.put(Plain{"bob", -3});
    });
}

// Raw LMDB on the closed store: what damage below the API looks like.
template <class F>
void raw(const fs::path& dir, F&& fn) {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 64);
    REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    auto db = [&](const char* name) {
        MDB_dbi d;
        REQUIRE(mdb_dbi_open(txn, name, 0, &d) == 0);
        return d;
    };
    fn(txn, db);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

MDB_val val(const std::vector<std::byte>& b) { return MDB_val{b.size(), const_cast<std::byte*>(b.data())}; }

}  // namespace

TEST_CASE("tool: tables lists every table with its fields' names, types and keys", "[tool]") {
    netabase_test::temp_dir dir;
    fill(dir.path(), 5);
    auto r = tool({"tables", dir.path().string()});
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out, Catch::Matchers::Contains("table every: 5 rows, version 1"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("  id: u64  [primary key]"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("  magic: arr<enum:u8,4>"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("  home: {str,u32,opt<str>}"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("index every/10 (field text): unique, key str"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("index every/by_tag (computed by_tag): multi, key str"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("index every/15 (field maybe): multi, sparse, key opt<u32>"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("table json_models::Plain: 2 rows"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("  f1: i64"));
}

TEST_CASE("tool: dump --json prints what export_json writes, and it imports back to the rows", "[tool]") {
    netabase_test::temp_dir dir, copy;
    fill(dir.path(), 40);
    auto r = tool({"dump", dir.path().string(), "every", "--json"});
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    std::ostringstream lib;
    {
        netabase::Store<Def> store{dir.path(), netabase::options{.read_only = true}};
        store.read([&](auto& txn) { netabase::export_json(txn.template open_tree<Every>(), lib); });
    }
    CHECK(r.out == lib.str());  // the same code: byte for byte
    REQUIRE(lines(r.out).size() == 40);
    netabase::Store<Def> store{copy.path()};
    std::istringstream in(r.out);
    store.write([&](auto& txn) {
        auto t = txn.template open_tree<Every>();
        CHECK(netabase::import_json(t, in) == 40);
    });
    store.read([](auto& txn) {
        auto t = txn.template open_tree<Every>();
        for (std::uint64_t i = 0; i < 40; ++i) CHECK(same(t.get(i)->value(), every(i)));
    });
}

TEST_CASE("tool: dump without --json prints name=value per field; get finds one row", "[tool]") {
    netabase_test::temp_dir dir;
    fill(dir.path(), 3);
    auto r = tool({"dump", dir.path().string(), "json_models::Plain"});
    REQUIRE(r.status == 0);
    CHECK(lines(r.out) == std::vector<std::string>{"f0=\"alice\"  f1=10", "f0=\"bob\"  f1=-3"});

    auto g = tool({"get", dir.path().string(), "every", "2"});
    REQUIRE(g.status == 0);
    auto j = netabase::json_row::parse(g.out);
    CHECK(j["id"] == 2);
    CHECK(j["text"] == every(2).text);
    auto bare = tool({"get", dir.path().string(), "json_models::Plain", "bob"});  // a string key, unquoted
    REQUIRE(bare.status == 0);
    CHECK(netabase::json_row::parse(bare.out)["f1"] == -3);
    auto quoted_key = tool({"get", dir.path().string(), "json_models::Plain", "\"alice\""});
    CHECK(netabase::json_row::parse(quoted_key.out)["f1"] == 10);

    auto missing = tool({"get", dir.path().string(), "every", "99"});
    CHECK(missing.status == 1);
    CHECK_THAT(missing.err, Catch::Matchers::Contains("no row with key 99 in table every"));
    auto wrong = tool({"get", dir.path().string(), "every", "-1"});
    CHECK(wrong.status == 2);
    CHECK_THAT(wrong.err, Catch::Matchers::Contains("expected an unsigned 64-bit integer"));
}

TEST_CASE("tool: stats agree with the data", "[tool]") {
    netabase_test::temp_dir dir;
    fill(dir.path(), 300);
    auto r = tool({"stats", dir.path().string()});
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out, Catch::Matchers::Contains("table every: 300 entries"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("index every/10 (text): 300 entries"));
    CHECK_THAT(r.out, Catch::Matchers::Contains("index every/by_tag (by_tag): 600 entries"));   // two tags each
    CHECK_THAT(r.out, Catch::Matchers::Contains("index every/15 (maybe): 150 entries"));        // odd ids only
    CHECK_THAT(r.out, Catch::Matchers::Contains("table json_models::Plain: 2 entries"));
}

TEST_CASE("tool: verify passes a healthy store and names each kind of damage", "[tool]") {
    netabase_test::temp_dir dir;
    fill(dir.path(), 10);
    auto ok = tool({"verify", dir.path().string()});
    REQUIRE(ok.status == 0);
    CHECK_THAT(ok.out, Catch::Matchers::Contains("table every: 10 rows, 5 indexes checked"));
    CHECK_THAT(ok.out, Catch::Matchers::EndsWith("ok\n"));

    raw(dir.path(), [](MDB_txn* txn, auto db) {
        MDB_dbi text = db("every/10"), color = db("every/8"), rows = db("every");
        // orphan: an entry naming row 77, which does not exist
        auto k = netabase::encode_key(std::string("ghost")), pk = netabase::encode_key(std::uint64_t{77});
        MDB_val kv = val(k), pv = val(pk);
        REQUIRE(mdb_put(txn, text, &kv, &pv, 0) == 0);
        // missing: row 4's color entry removed
        auto c4 = netabase::encode_key(every(4).color), p4 = netabase::encode_key(std::uint64_t{4});
        MDB_val ck = val(c4), cp = val(p4);
        REQUIRE(mdb_del(txn, color, &ck, &cp) == 0);
        // stale: row 5's text entry under another text
        auto t5 = netabase::encode_key(every(5).text), p5 = netabase::encode_key(std::uint64_t{5});
        auto wrong = netabase::encode_key(std::string("not row 5"));
        MDB_val tk = val(t5), wk = val(wrong), tp = val(p5);
        REQUIRE(mdb_del(txn, text, &tk, nullptr) == 0);
        REQUIRE(mdb_put(txn, text, &wk, &tp, 0) == 0);
        // undecodable: row 6's bytes cut short
        auto p6 = netabase::encode_key(std::uint64_t{6});
        MDB_val rk = val(p6), rv;
        REQUIRE(mdb_get(txn, rows, &rk, &rv) == 0);
        std::vector<std::byte> cut(static_cast<const std::byte*>(rv.mv_data),
                                   static_cast<const std::byte*>(rv.mv_data) + rv.mv_size / 2);
        MDB_val cv = val(cut);
        REQUIRE(mdb_put(txn, rows, &rk, &cv, 0) == 0);
    });
    auto bad = tool({"verify", dir.path().string()});
    CHECK(bad.status == 1);
    CHECK_THAT(bad.out, Catch::Matchers::Contains("index every/10 (text): entry \"ghost\" -> 77 names a row that is not there (orphan)"));
    CHECK_THAT(bad.out, Catch::Matchers::Contains("index every/8 (color): no entry 2 for row 4 (missing)"));
    CHECK_THAT(bad.out, Catch::Matchers::Contains("index every/10 (text): entry \"not row 5\" -> 5 does not match the row's text (stale)"));
    CHECK_THAT(bad.out, Catch::Matchers::Contains("index every/10 (text): no entry"));  // row 5's real text
    CHECK_THAT(bad.out, Catch::Matchers::Contains("table every: row 6 does not decode: corrupt value"));
    // row 6 cannot be decoded, so its expected entries are unknown: its entries are not "stale"
    CHECK_THAT(bad.out, !Catch::Matchers::Contains("-> 6 does not match"));
    CHECK_THAT(bad.out, Catch::Matchers::Contains("problems"));

    auto d = tool({"dump", dir.path().string(), "every", "--json"});
    CHECK(d.status == 1);  // the other rows are printed, the corrupt one is named
    CHECK(lines(d.out).size() == 9);
    CHECK_THAT(d.err, Catch::Matchers::Contains("table every, row 6: corrupt value"));
}

TEST_CASE("tool: backup while a writer commits gives one committed state; --compact is smaller", "[tool]") {
    netabase_test::temp_dir dir, out;
    fill(dir.path(), 0);
    netabase::Store<Def> store{dir.path()};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> commits{0};
    std::thread writer([&] {
        for (std::uint64_t b = 0; !stop.load() || commits.load() < 3; ++b) {
            store.write([&](auto& txn) {
                auto t = txn.template open_tree<Every>();
                for (std::uint64_t i = 0; i < 50; ++i) t.put(every(b * 50 + i));
            });
            commits.fetch_add(1);
        }
    });
    while (commits.load() < 2) std::this_thread::yield();
    auto r = tool({"backup", dir.path().string(), (out / "copy").string()});
    stop.store(true);
    writer.join();
    REQUIRE(r.status == 0);
    {
        netabase::Store<Def> copy{out / "copy"};
        auto n = copy.read([](auto& txn) { return txn.template open_tree<Every>().size(); });
        CHECK(n % 50 == 0);  // whole commits only
        CHECK(n >= 100);
        CHECK(copy.verify().ok());
    }
    auto again = tool({"backup", dir.path().string(), (out / "copy").string()});
    CHECK(again.status == 2);
    CHECK_THAT(again.err, Catch::Matchers::Contains("already holds a store"));

    store.write([](auto& txn) {
        auto t = txn.template open_tree<Every>();
        std::vector<std::uint64_t> keys;
        for (const auto& g : t) keys.push_back(g.key());
        keys.resize(keys.size() * 9 / 10);
        t.remove_many(keys);
    });
    REQUIRE(tool({"backup", dir.path().string(), (out / "full").string()}).status == 0);
    REQUIRE(tool({"backup", dir.path().string(), (out / "small").string(), "--compact"}).status == 0);
    CHECK(fs::file_size(out / "small" / "data.mdb") < fs::file_size(out / "full" / "data.mdb"));
}

TEST_CASE("tool: a writer holding its transaction does not stop the tool", "[tool]") {
    netabase_test::temp_dir dir;
    fill(dir.path(), 5);
    netabase::Store<Def> store{dir.path()};
    auto txn = store.begin_write();  // LMDB's writer lock, held for the whole test
    txn.open_tree<Every>().put(every(100));
    auto r = tool({"verify", dir.path().string()});
    CHECK(r.status == 0);
    auto d = tool({"dump", dir.path().string(), "every", "--json"});
    CHECK(lines(d.out).size() == 5);  // the last committed state, not the open transaction's
    txn.commit();
}

TEST_CASE("tool: what is not a readable store is a clear message and exit status 2", "[tool]") {
    netabase_test::temp_dir dir;
    auto none = tool({"tables", (dir / "nothing").string()});
    CHECK(none.status == 2);
    CHECK_THAT(none.err, Catch::Matchers::Contains("does not exist"));

    fs::create_directories(dir / "empty");
    auto empty = tool({"stats", (dir / "empty").string()});
    CHECK(empty.status == 2);
    CHECK_THAT(empty.err, Catch::Matchers::Contains("has no data.mdb"));

    fs::create_directories(dir / "junk");
    std::ofstream(dir / "junk" / "data.mdb") << std::string(20000, 'x');
    auto junk = tool({"tables", (dir / "junk").string()});
    CHECK(junk.status == 2);
    CHECK_THAT(junk.err, Catch::Matchers::Contains("not an LMDB environment"));

    fs::create_directories(dir / "plain");
    raw(dir / "plain", [](MDB_txn*, auto) {});  // an LMDB environment, not a store
    auto plain = tool({"tables", (dir / "plain").string()});
    CHECK(plain.status == 2);
    CHECK_THAT(plain.err, Catch::Matchers::Contains("not a netabase store"));

    fill(dir / "store", 1);
    auto table = tool({"dump", (dir / "store").string(), "nope"});
    CHECK(table.status == 2);
    CHECK_THAT(table.err, Catch::Matchers::Contains("no table 'nope'"));
    CHECK_THAT(table.err, Catch::Matchers::Contains("every"));
    CHECK(tool({"frobnicate", (dir / "store").string()}).status == 2);
    CHECK(tool({"dump", (dir / "store").string()}).status == 2);
    CHECK(tool({"dump", (dir / "store").string(), "every", "--yaml"}).status == 2);
    CHECK(tool({"--help"}).status == 0);

    // a store written by a newer netabase (encoding version 9)
    raw(dir / "store", [](MDB_txn* txn, auto db) {
        MDB_dbi meta = db("__netabase");
        std::string k = "table:every";
        MDB_val mk{k.size(), k.data()}, mv;
        REQUIRE(mdb_get(txn, meta, &mk, &mv) == 0);
        std::string v(static_cast<const char*>(mv.mv_data), mv.mv_size);
        v.replace(0, v.find('\n'), "netabase/9");
        MDB_val nv{v.size(), v.data()};
        REQUIRE(mdb_put(txn, meta, &mk, &nv, 0) == 0);
    });
    auto newer = tool({"tables", (dir / "store").string()});
    CHECK(newer.status == 2);
    CHECK_THAT(newer.err, Catch::Matchers::Contains("encoding version 9"));
    CHECK_THAT(newer.err, Catch::Matchers::Contains("use a newer netabase"));
}
#endif

#ifdef NETABASE_TOOL
TEST_CASE("tool: stats shows a store's change log, one entry per commit", "[tool]") {
    netabase_test::temp_dir dir;
    {
        netabase::Store<Def> store{dir.path(), netabase::options{.change_log = true}};
        store.write([](auto& txn) { txn.template open_tree<Every>().put(every(1)); });
        store.write([](auto& txn) {
            auto t = txn.template open_tree<Every>();
            t.put(every(2));
            t.remove(1);
        });
    }
    auto r = tool({"stats", dir.path().string()});
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out, Catch::Matchers::Contains("change log (commits): 2 entries"));
    auto t = tool({"tables", dir.path().string()});
    CHECK_THAT(t.out, !Catch::Matchers::Contains("__netabase"));  // the log is no table
}
#endif
