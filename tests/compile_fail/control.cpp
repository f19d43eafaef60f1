// EXPECT-COMPILES
#include "common.hpp"

#include <type_traits>

// DESIGN.md section 9: the default backend, spelled out, is the same store.
static_assert(std::is_same_v<netabase::Store<cf::Schema>, netabase::Store<cf::Schema, netabase::lmdb>>);
static_assert(std::is_same_v<netabase::Store<cf::Schema>::backend_type, netabase::lmdb>);

int main() {
    auto store = netabase::Store<cf::Schema, netabase::lmdb>::temporary();
    auto txn = store.begin_write();
    auto users = txn.open_tree<cf::User>();
    users.put(cf::User{1, "a", 2});
    (void)users.index(&cf::User::email).get("a");
    txn.commit();
}
