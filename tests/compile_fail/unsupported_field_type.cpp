// EXPECT: field_type_not_supported<(int|const char) ?\*>
#include "common.hpp"
namespace cf {
struct Bad {
    std::uint64_t id;
    int* pointer;  // a pointer is never stored
};
}  // namespace cf
int main() { (void)netabase::encode(cf::Bad{1, nullptr}); }
