// EXPECT: M is not one of the models of this Store's netabase::definition
#include "common.hpp"
int main() {
    auto store = netabase::Store<cf::Schema>::temporary();
    auto txn = store.begin_read();
    (void)txn.open_tree<cf::Other>();
}
