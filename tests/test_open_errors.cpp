// Opening a store at a path that cannot be a store directory: a clear error naming the path and
// the system's reason, nothing created.
#include <netabase/netabase.hpp>

#include "catch.hpp"
#include "errors.hpp"
#include "support.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

namespace open_errors {

struct Row {
    std::uint64_t id;
    std::string text;
};

using Def = netabase::definition<Row>;

}  // namespace open_errors

TEST_CASE("open: a dangling symlink as the store directory is a clear error, read-write and read-only", "[files]") {
    namespace fs = std::filesystem;
    netabase_test::temp_dir dir;
    const fs::path link = dir / "store";
    const fs::path target = dir / "gone" / "deeper";  // its parent does not exist either
    fs::create_directory_symlink(target, link);
    const netabase::error rw = netabase_test::error_of([&] { netabase::Store<open_errors::Def> store{link}; });
    CHECK(rw.code() == std::make_error_code(std::errc::no_such_file_or_directory));
    const std::string what = rw.what();
    CHECK_THAT(what, Catch::Matchers::Contains("cannot open store: " + link.string()));
    CHECK_THAT(what, Catch::Matchers::Contains(" ("));  // why creating it failed
    const netabase::error ro = netabase_test::error_of(
        [&] { netabase::Store<open_errors::Def> store{link, netabase::options{.read_only = true}}; });
    CHECK(ro.code() == netabase::errc::not_found);
    CHECK_THAT(std::string(ro.what()), Catch::Matchers::Contains(link.string() + " does not exist"));
    CHECK_FALSE(fs::exists(target));
    CHECK(fs::is_symlink(link));
}
