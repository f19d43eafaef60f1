// The netabase engine over table::rows2 (Row), in a translation unit of its own.
#include "engine_netabase.hpp"

namespace bench {

std::unique_ptr<Engine> make_netabase_rows2(const std::filesystem::path& dir, sync_mode s, const Dataset& ds) {
    return std::make_unique<netabase_engine<Row>>(dir, s, ds);
}

}  // namespace bench
