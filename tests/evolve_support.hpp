// What the evolution tests share beyond the fixture's own models: version 2 of the users
// table, and a look at the metadata below netabase.
#pragma once

#include "fixtures/evolve_models.hpp"

#include <lmdb.h>

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
