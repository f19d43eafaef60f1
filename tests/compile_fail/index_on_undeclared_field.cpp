// EXPECT: no secondary key of this model is declared on a field of this type
#include "common.hpp"
int main() {
    auto store = netabase::Store<cf::Schema>::temporary();
    auto txn = store.begin_read();
    (void)txn.open_tree<cf::User>().index(&cf::User::age);
}
