// Models shared by the compile-failure tests. Each test file must fail to compile for exactly
// the reason its EXPECT line names; control.cpp proves the same setup compiles when used right.
#pragma once
#include <netabase/netabase.hpp>

#include <cstdint>
#include <string>

namespace cf {
struct User {
    std::uint64_t id;
    std::string email;
    std::uint32_t age;
};
constexpr auto netabase_model(netabase::tag<User>) {
    return netabase::model<User>("users").primary_key(&User::id).secondary_key(&User::email, netabase::unique);
}
struct Other {
    std::uint64_t id;
};
using Schema = netabase::definition<User>;
}  // namespace cf
