// The netabase engine over table::docs (Doc), in a translation unit of its own.
#include "engine_netabase.hpp"

namespace bench {

std::unique_ptr<Engine> make_netabase_docs(const std::filesystem::path& dir, sync_mode s, const Dataset& ds) {
    return std::make_unique<netabase_engine<Doc>>(dir, s, ds);
}

}  // namespace bench
