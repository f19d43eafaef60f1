// The compilers netabase builds with, checked before anything else is parsed: an older one
// would otherwise fail deep inside libstdc++'s <ranges> concepts with hundreds of lines of
// errors (clang 14, Debian 12's default clang++, on the first use of a Tree).
//
// Every public header includes it first, or begins with a header that does (model.hpp with
// codec.hpp, store.hpp and transaction.hpp with detail/lmdb.hpp's detail/buffer.hpp).
//
// One diagnostic, and compilation stops there. clang can make a #warning fatal. Where that is
// silenced (-w), and with g++, whose #error does not stop it, an #include that cannot be found
// comes next: every compiler stops at that.
#pragma once

#if defined(__clang__)  // Apple's clang 15 is LLVM's 16
#if defined(__apple_build_version__) ? __clang_major__ < 15 : __clang_major__ < 16
#define NETABASE_COMPILER_TOO_OLD 1
#endif
#elif defined(__GNUC__)
#if __GNUC__ < 12
#define NETABASE_COMPILER_TOO_OLD 1
#endif
#endif

#if defined(NETABASE_COMPILER_TOO_OLD)
#if defined(__clang__)
#pragma clang diagnostic fatal "-W#warnings"
#warning "netabase needs g++ 12 or clang 16 or newer; this compiler is older (on Debian 12: use g++-12, or apt-get install clang-16 and use clang++-16)"
#endif
#error "netabase needs g++ 12 or clang 16 or newer; this compiler is older (on Debian 12: use g++-12, or apt-get install clang-16 and use clang++-16)"
#include "netabase: unsupported compiler, see the error above"
#elif (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 202002L
#if defined(__clang__)
#pragma clang diagnostic fatal "-W#warnings"
#warning "netabase needs C++20: compile with -std=c++20 (the netabase::netabase CMake target asks for it)"
#endif
#error "netabase needs C++20: compile with -std=c++20 (the netabase::netabase CMake target asks for it)"
#include "netabase: C++20 needed, see the error above"
#endif
