// EXPECT-COMPILES
#include "common.hpp"
int main() {
    auto store = netabase::Store<cf::Schema>::temporary();
    auto txn = store.begin_write();
    auto users = txn.open_tree<cf::User>();
    users.put(cf::User{1, "a", 2});
    (void)users.index(&cf::User::email).get("a");
    txn.commit();
}
