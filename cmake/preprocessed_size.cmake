# Keeps what every user of netabase pays from growing back (issue #14): preprocesses SOURCE (a
# file that includes <netabase/netabase.hpp>) with COMPILER, -std=c++20 -E -P, counts the
# non-empty lines and fails above BUDGET. Deterministic: no timing.
# Run by ctest: cmake -DCOMPILER=... -DSOURCE=... -DINCLUDES=a|b -DBUDGET=n -DOUT=file -P preprocessed_size.cmake
string(REPLACE "|" ";" includes "${INCLUDES}")
set(args -std=c++20 -E -P)
foreach(dir IN LISTS includes)
  list(APPEND args "-I${dir}")
endforeach()
execute_process(COMMAND "${COMPILER}" ${args} "${SOURCE}"
  RESULT_VARIABLE rc OUTPUT_FILE "${OUT}" ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cannot preprocess ${SOURCE} with ${COMPILER}:\n${err}")
endif()
file(READ "${OUT}" text)
# Every run of visible characters becomes one x (no ; or [ left to upset CMake's lists), so
# each non-empty line is exactly "x".
string(REGEX REPLACE "[^ \t\r\n]+" "x" text "${text}")
string(REGEX REPLACE "[ \t\r]+" "" text "${text}")
string(REGEX REPLACE "x+" "x" text "${text}")
string(REGEX MATCHALL "x" lines "${text}")
list(LENGTH lines count)
message(STATUS "<netabase/netabase.hpp> preprocesses to ${count} non-empty lines with ${COMPILER} (budget ${BUDGET})")
if(count GREATER BUDGET)
  message(FATAL_ERROR
    "<netabase/netabase.hpp> preprocesses to ${count} non-empty lines, above the budget of ${BUDGET} "
    "(tests/CMakeLists.txt, compile_cost.preprocessed_size). Every translation unit that includes netabase "
    "parses them. Find what grew with `${COMPILER} -std=c++20 -H -fsyntax-only` on ${SOURCE}: keep heavy "
    "standard headers (<filesystem>, <functional>, <algorithm>, <map>, <deque>, <chrono>, <ranges>) out of "
    "the headers netabase.hpp includes (see benchmarks/README.md, Compile cost). Raise the budget only "
    "for a feature worth its cost to every user, and say so in the commit.")
endif()
