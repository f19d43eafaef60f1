// examples/quickstart.cpp written by hand on LMDB's C API: the baseline scripts/compile_cost.sh
// compares the quickstart's compile cost with (issue #14). Same tables (users with a unique
// email index and a DUPSORT age index, posts), same operations, same output.
#include <lmdb.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct User {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;
};

void check(int rc, const char* what) {
    if (rc != 0) throw std::runtime_error(std::string(what) + ": " + mdb_strerror(rc));
}

std::string be64(std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (56 - 8 * i));
    return s;
}
std::string be32(std::uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
    return s;
}
std::uint64_t from_be64(const void* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<const unsigned char*>(p)[i];
    return v;
}

void put_str(std::string& out, const std::string& s) {
    std::uint32_t n = static_cast<std::uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += s;
}
std::string get_str(const char*& p) {
    std::uint32_t n;
    std::memcpy(&n, p, 4);
    std::string s(p + 4, n);
    p += 4 + n;
    return s;
}

std::string encode(const User& u) {
    std::string out;
    put_str(out, u.email);
    put_str(out, u.name);
    out.append(reinterpret_cast<const char*>(&u.age), 4);
    return out;
}
User decode(std::uint64_t id, const MDB_val& v) {
    const char* p = static_cast<const char*>(v.mv_data);
    User u{id, get_str(p), get_str(p), 0};
    std::memcpy(&u.age, p, 4);
    return u;
}

MDB_val val(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

struct Db {
    MDB_env* env = nullptr;
    MDB_dbi users = 0, by_email = 0, by_age = 0, posts = 0;
};

std::optional<User> get_user(MDB_txn* t, const Db& db, std::uint64_t id) {
    std::string k = be64(id);
    MDB_val key = val(k), v;
    if (mdb_get(t, db.users, &key, &v) != 0) return std::nullopt;
    return decode(id, v);
}

void put_user(MDB_txn* t, const Db& db, const User& u) {
    std::string k = be64(u.id);
    MDB_val key = val(k), old;
    if (mdb_get(t, db.users, &key, &old) == 0) {  // drop the old index entries
        User o = decode(u.id, old);
        std::string e = o.email, a = be32(o.age);
        MDB_val ek = val(e), ak = val(a), pk = val(k);
        mdb_del(t, db.by_email, &ek, nullptr);
        mdb_del(t, db.by_age, &ak, &pk);
    }
    std::string e = u.email, a = be32(u.age), v = encode(u);
    MDB_val ek = val(e), ak = val(a), pk = val(k), vv = val(v);
    MDB_val existing;
    if (mdb_get(t, db.by_email, &ek, &existing) == 0) throw std::runtime_error("users: unique email " + u.email);
    check(mdb_put(t, db.users, &key, &vv, 0), "put");
    check(mdb_put(t, db.by_email, &ek, &pk, 0), "put email");
    check(mdb_put(t, db.by_age, &ak, &pk, 0), "put age");
}

bool remove_user(MDB_txn* t, const Db& db, std::uint64_t id) {
    auto u = get_user(t, db, id);
    if (!u) return false;
    std::string k = be64(id), e = u->email, a = be32(u->age);
    MDB_val key = val(k), ek = val(e), ak = val(a), pk = val(k);
    mdb_del(t, db.by_email, &ek, nullptr);
    mdb_del(t, db.by_age, &ak, &pk);
    check(mdb_del(t, db.users, &key, nullptr), "del");
    return true;
}

template <class F>
void each_age(MDB_txn* t, const Db& db, std::uint32_t age, F f) {
    MDB_cursor* c;
    check(mdb_cursor_open(t, db.by_age, &c), "cursor_open");
    std::string a = be32(age);
    MDB_val k = val(a), v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP))
        f(from_be64(v.mv_data));
    mdb_cursor_close(c);
}

}  // namespace

int main() {
    char dir[] = "/tmp/quickstart_lmdb.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    Db db;
    check(mdb_env_create(&db.env), "env_create");
    check(mdb_env_set_maxdbs(db.env, 8), "maxdbs");
    check(mdb_env_open(db.env, dir, 0, 0644), "env_open");
    MDB_txn* t;
    check(mdb_txn_begin(db.env, nullptr, 0, &t), "begin");
    check(mdb_dbi_open(t, "users", MDB_CREATE, &db.users), "dbi");
    check(mdb_dbi_open(t, "users/email", MDB_CREATE, &db.by_email), "dbi");
    check(mdb_dbi_open(t, "users/age", MDB_CREATE | MDB_DUPSORT, &db.by_age), "dbi");
    check(mdb_dbi_open(t, "posts", MDB_CREATE, &db.posts), "dbi");
    put_user(t, db, User{1, "alice@example.com", "Alice", 30});
    put_user(t, db, User{2, "bob@example.com", "Bob", 25});
    put_user(t, db, User{3, "carol@example.com", "Carol", 30});
    {
        std::string k = be64(7), v;
        std::uint64_t author = 1;
        v.append(reinterpret_cast<const char*>(&author), 8);
        put_str(v, "hello");
        std::vector<std::string> tags{"intro"};
        std::uint32_t n = static_cast<std::uint32_t>(tags.size());
        v.append(reinterpret_cast<const char*>(&n), 4);
        for (const auto& tag : tags) put_str(v, tag);
        MDB_val key = val(k), vv = val(v);
        check(mdb_put(t, db.posts, &key, &vv, 0), "put post");
    }
    check(mdb_txn_commit(t), "commit");

    check(mdb_txn_begin(db.env, nullptr, MDB_RDONLY, &t), "begin");
    MDB_stat st;
    check(mdb_stat(t, db.users, &st), "stat");
    std::cout << "users: " << st.ms_entries << "\n";
    if (auto alice = get_user(t, db, 1)) std::cout << "get(1): " << alice->name << "\n";
    {
        std::string e = "bob@example.com";
        MDB_val ek = val(e), pk;
        if (mdb_get(t, db.by_email, &ek, &pk) == 0)
            if (auto bob = get_user(t, db, from_be64(pk.mv_data))) std::cout << "by email: " << bob->name << "\n";
    }
    std::cout << "aged 30:";
    each_age(t, db, 30, [&](std::uint64_t id) { std::cout << " " << get_user(t, db, id)->name; });
    std::cout << "\n";
    {
        MDB_cursor* c;
        check(mdb_cursor_open(t, db.users, &c), "cursor_open");
        MDB_val k, v;
        for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            User u = decode(from_be64(k.mv_data), v);
            std::cout << u.id << " " << u.email << "\n";
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(t);

    check(mdb_txn_begin(db.env, nullptr, 0, &t), "begin");
    if (auto bob = get_user(t, db, 2)) {
        bob->age += 1;
        put_user(t, db, *bob);
    }
    remove_user(t, db, 3);
    check(mdb_txn_commit(t), "commit");

    check(mdb_txn_begin(db.env, nullptr, MDB_RDONLY, &t), "begin");
    std::size_t n = 0;
    each_age(t, db, 30, [&](std::uint64_t) { ++n; });
    mdb_txn_abort(t);
    std::cout << "aged 30 after remove: " << n << "\n";

    mdb_env_close(db.env);
    for (const char* f : {"/data.mdb", "/lock.mdb"}) unlink((std::string(dir) + f).c_str());
    rmdir(dir);
}
