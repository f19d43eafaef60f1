// netabase: typed, zero-copy tables over LMDB. The one header users include.
#pragma once

#include "netabase/detail/config.hpp"  // first: refuses a compiler too old

#include "netabase/codec.hpp"
#include "netabase/error.hpp"
#include "netabase/guard.hpp"
#include "netabase/key.hpp"
#include "netabase/model.hpp"
#include "netabase/stats.hpp"
#include "netabase/store.hpp"
#include "netabase/transaction.hpp"
#include "netabase/tree.hpp"
#include "netabase/verify.hpp"
#include "netabase/view.hpp"
#include "netabase/watch.hpp"
