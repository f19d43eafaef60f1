// EXPECT: index_absent is only for a secondary key whose value type is a std::optional
#include "common.hpp"
namespace cf {
struct Ranked {
    std::uint64_t id;
    std::uint32_t rank;
};
constexpr auto netabase_model(netabase::tag<Ranked>) {
    return netabase::model<Ranked>("ranked").secondary_key(&Ranked::rank, netabase::unique, netabase::index_absent);
}
}  // namespace cf
int main() { (void)netabase::Store<netabase::definition<cf::Ranked>>::temporary(); }
