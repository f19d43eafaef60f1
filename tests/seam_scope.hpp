// The LMDB call seam of detail/calls.hpp, installed while a seam_scope lives: it counts every
// call, and fails the call numbered seam.fail_at with seam.fail_with. Test binaries define
// NETABASE_LMDB_SEAM in every translation unit.
#pragma once

#include <netabase/detail/calls.hpp>

#include <cstddef>

namespace netabase_test {

struct seam_scope {
    netabase::detail::lmdb_seam seam;
    seam_scope() { netabase::detail::seam() = &seam; }
    ~seam_scope() { netabase::detail::seam() = nullptr; }
    seam_scope(const seam_scope&) = delete;
    seam_scope& operator=(const seam_scope&) = delete;
    std::size_t count(netabase::detail::call c) const { return seam.count(c); }
};

}  // namespace netabase_test
