// EXPECT: this field's type cannot be a key
#include "common.hpp"
#include <map>
namespace cf {
struct Keyed {
    std::uint64_t id;
    double weight;
    std::vector<std::uint8_t> blob;
    long double odd;
};
constexpr auto netabase_model(netabase::tag<Keyed>) {
    return netabase::model<Keyed>("keyed").secondary_key(&Keyed::odd);
}
}  // namespace cf
int main() { (void)netabase::Store<netabase::definition<cf::Keyed>>::temporary(); }
