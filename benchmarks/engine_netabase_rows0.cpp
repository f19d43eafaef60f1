// The netabase engine over table::rows0 (RowT<0>), in a translation unit of its own.
#include "engine_netabase.hpp"

namespace bench {

std::unique_ptr<Engine> make_netabase_rows0(const std::filesystem::path& dir, sync_mode s, const Dataset& ds) {
    return std::make_unique<netabase_engine<RowT<0>>>(dir, s, ds);
}

}  // namespace bench
