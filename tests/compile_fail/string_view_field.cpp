// EXPECT: field_type_not_supported<std::(__cxx11::)?basic_string_view<char
#include "common.hpp"
#include <string_view>
namespace cf {
struct Borrowing {
    std::uint64_t id;
    std::string_view name;  // would point outside the row
};
}  // namespace cf
int main() { (void)netabase::encode(cf::Borrowing{1, "x"}); }
