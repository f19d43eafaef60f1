// Shared test helpers for asserting on netabase::error: the error a call throws, and whether a
// message holds a part.
#pragma once

#include <netabase/error.hpp>

#include "catch.hpp"

#include <stdexcept>
#include <string>

namespace netabase_test {

// The netabase::error fn throws; fails the test when it throws none.
template <class F>
netabase::error error_of(F&& fn) {
    try {
        fn();
    } catch (const netabase::error& e) {
        return e;
    }
    FAIL("no netabase::error was thrown");
    throw std::logic_error("unreachable");
}

inline bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace netabase_test
