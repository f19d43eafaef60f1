// A SIGKILL at an exact, chosen point: the process kills itself at its kill_at-th LMDB call
// (through the test binary's LMDB seam, detail/calls.hpp).
#pragma once

#include <netabase/netabase.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstddef>

namespace netabase_test {

struct kill_seam : netabase::detail::lmdb_seam {
    std::size_t kill_at = 0;
    int before(netabase::detail::call c) override {
        int rc = lmdb_seam::before(c);
        if (total == kill_at) ::kill(::getpid(), SIGKILL);
        return rc;
    }
};

}  // namespace netabase_test
