// Lets the suite build with Catch2 v2 (Debian 12) and v3 (vcpkg, FetchContent).
// Spellings that work in both: Approx / Catch::Approx, Catch::Matchers::StartsWith,
// EndsWith, Equals, Message. v2's string Contains is ContainsSubstring in v3.
#pragma once

#if __has_include(<catch2/catch_test_macros.hpp>)
#  define NETABASE_CATCH_VERSION_MAJOR 3
#  include <catch2/catch_approx.hpp>
#  include <catch2/catch_template_test_macros.hpp>
#  include <catch2/catch_test_macros.hpp>
#  include <catch2/generators/catch_generators_all.hpp>
#  include <catch2/matchers/catch_matchers_exception.hpp>
#  include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;
#else
#  define NETABASE_CATCH_VERSION_MAJOR 2
#  include <catch2/catch.hpp>
namespace Catch {
using Detail::Approx;
}
#endif
