// What the evolution tests share beyond the fixture's own models: version 2 of the users
// table, a look at the metadata below netabase, and a newer release opening a store in a child.
#pragma once

#include "fixtures/evolve_models.hpp"

#include "catch.hpp"

#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>

namespace evolve_fixture {

// Version 2 of the users table: birth_year became an age, which needs a step.
struct UserV2 {
    std::uint64_t id;
    std::string email;
    std::string name;
    std::uint32_t age;
};

constexpr auto netabase_model(netabase::tag<UserV2>) {
    return netabase::model<UserV2>("users")
        .upgrade_from<UserV1>([](UserV1 old) {
            return UserV2{old.id, std::move(old.email), std::move(old.name), 2026u - old.birth_year};
        })
        .primary_key(&UserV2::id)
        .secondary_key(&UserV2::email, netabase::unique)
        .secondary_key(&UserV2::age);
}

// A value of the metadata database, read straight from LMDB below netabase (nullopt: absent).
inline std::optional<std::string> raw_meta(const std::filesystem::path& dir, const std::string& key) {
    MDB_env* env = nullptr;
    std::optional<std::string> out;
    if (mdb_env_create(&env) != 0) return out;
    mdb_env_set_maxdbs(env, 64);
    MDB_txn* txn = nullptr;
    MDB_dbi dbi;
    if (mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0644) == 0 && mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0) {
        if (mdb_dbi_open(txn, "__netabase", 0, &dbi) == 0) {
            MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
            if (mdb_get(txn, dbi, &k, &v) == 0) out = std::string(static_cast<const char*>(v.mv_data), v.mv_size);
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return out;
}

}  // namespace evolve_fixture

namespace netabase_test {

// Runs a newer release of the program, NewDef, in a child process: it opens the store at path
// (which changes its schema) and exits 0, or prints why it could not and exits 1.
template <class NewDef>
void newer_release_opens(const std::filesystem::path& path) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = 0;
        try {
            netabase::Store<NewDef> newer{path};
        } catch (const std::exception& e) {
            std::fprintf(stderr, "newer release: %s\n", e.what());
            code = 1;
        }
        std::_Exit(code);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace netabase_test
