// The netabase engine over table::rows1 (RowT<1>), in a translation unit of its own.
#include "engine_netabase.hpp"

namespace bench {

std::unique_ptr<Engine> make_netabase_rows1(const std::filesystem::path& dir, sync_mode s, const Dataset& ds) {
    return std::make_unique<netabase_engine<RowT<1>>>(dir, s, ds);
}

}  // namespace bench
