// EXPECT: two models have the same table name
#include "common.hpp"
namespace cf {
struct Again {
    std::uint64_t id;
};
constexpr auto netabase_model(netabase::tag<Again>) { return netabase::model<Again>("users"); }
}  // namespace cf
int main() { (void)netabase::Store<netabase::definition<cf::User, cf::Again>>::temporary(); }
