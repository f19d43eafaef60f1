# Compiles SOURCE with a compiler netabase does not support (syntax only) and checks that it
# stops at netabase's one readable diagnostic naming the minimum compilers, instead of pages of
# template errors. Run by ctest: cmake -DCOMPILER=... -DSOURCE=... -DINCLUDES=a|b -P old_compiler.cmake
string(REPLACE "|" ";" includes "${INCLUDES}")
set(args -std=c++20 -fsyntax-only)
foreach(dir IN LISTS includes)
  list(APPEND args "-I${dir}")
endforeach()
execute_process(COMMAND "${COMPILER}" ${args} "${SOURCE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "expected ${COMPILER} to refuse ${SOURCE}, but it compiled")
endif()
if(NOT all MATCHES "netabase needs g\\+\\+ 12 or clang 16 or newer")
  message(FATAL_ERROR "${COMPILER} failed on ${SOURCE}, but not with netabase's compiler check:\n${all}")
endif()
string(REGEX MATCHALL "error:" errors "${all}")
list(LENGTH errors count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "expected exactly one error from ${COMPILER} on ${SOURCE}, got ${count}:\n${all}")
endif()
message(STATUS "refused with one error, as expected")
