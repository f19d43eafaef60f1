// EXPECT: B is not a backend: use netabase::lmdb
#include "common.hpp"
struct not_a_backend {};
int main() {
    auto store = netabase::Store<cf::Schema, not_a_backend>::temporary();
    (void)store;
}
