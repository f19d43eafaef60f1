// make_netabase: the engine of each table, instantiated in engine_netabase_<table>.cpp.
#include "common.hpp"

#include <stdexcept>

namespace bench {

std::unique_ptr<Engine> make_netabase_rows0(const std::filesystem::path& dir, sync_mode s, const Dataset& ds);
std::unique_ptr<Engine> make_netabase_rows1(const std::filesystem::path& dir, sync_mode s, const Dataset& ds);
std::unique_ptr<Engine> make_netabase_rows2(const std::filesystem::path& dir, sync_mode s, const Dataset& ds);
std::unique_ptr<Engine> make_netabase_docs(const std::filesystem::path& dir, sync_mode s, const Dataset& ds);

std::unique_ptr<Engine> make_netabase(const std::filesystem::path& dir, table t, sync_mode s, const Dataset& ds) {
    switch (t) {
        case table::rows0: return make_netabase_rows0(dir, s, ds);
        case table::rows1: return make_netabase_rows1(dir, s, ds);
        case table::rows2: return make_netabase_rows2(dir, s, ds);
        case table::docs: return make_netabase_docs(dir, s, ds);
    }
    throw std::logic_error("make_netabase: bad table");
}

}  // namespace bench
