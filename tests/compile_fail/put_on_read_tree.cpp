// EXPECT: writable
#include "common.hpp"
int main() {
    auto store = netabase::Store<cf::Schema>::temporary();
    auto txn = store.begin_read();
    txn.open_tree<cf::User>().put(cf::User{1, "a", 2});
}
