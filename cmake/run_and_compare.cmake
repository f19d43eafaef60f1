# cmake -DPROGRAM=<exe> -DRUN_DIR=<dir> [-DEXPECTED=<file>] -P run_and_compare.cmake
#
# Runs PROGRAM in RUN_DIR, emptied first so a database left by the last run cannot
# change the output. Fails if it exits non-zero or, when EXPECTED names an existing
# file, if its stdout differs from that file (line endings and one final newline aside).

foreach(var PROGRAM RUN_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_and_compare: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${RUN_DIR}")
file(MAKE_DIRECTORY "${RUN_DIR}")

execute_process(
  COMMAND "${PROGRAM}"
  WORKING_DIRECTORY "${RUN_DIR}"
  OUTPUT_VARIABLE actual
  ERROR_VARIABLE errors
  RESULT_VARIABLE result)

# message(NOTICE) prints as is; FATAL_ERROR would re-wrap the program's output.
if(NOT result STREQUAL "0")
  message(NOTICE "--- stdout ---\n${actual}\n--- stderr ---\n${errors}")
  message(FATAL_ERROR "${PROGRAM} failed (exit: ${result})")
endif()

if(NOT DEFINED EXPECTED OR NOT EXISTS "${EXPECTED}")
  message(STATUS "${PROGRAM}: exit 0 (no expected output to compare)")
  return()
endif()

file(READ "${EXPECTED}" expected)

function(normalize var)
  set(text "${${var}}")
  string(REPLACE "\r\n" "\n" text "${text}")
  string(REGEX REPLACE "\n$" "" text "${text}")
  set(${var} "${text}" PARENT_SCOPE)
endfunction()
normalize(actual)
normalize(expected)

if(actual STREQUAL expected)
  message(STATUS "${PROGRAM}: output matches ${EXPECTED}")
  return()
endif()

file(WRITE "${RUN_DIR}/actual.out" "${actual}\n")

# Walk both texts line by line with string(FIND): CMake lists would mangle ';' and '['.
set(report "")
set(shown 0)
set(line 0)
set(e_rest "${expected}")
set(a_rest "${actual}")
set(e_done FALSE)
set(a_done FALSE)
while(NOT (e_done AND a_done) AND shown LESS 20)
  math(EXPR line "${line} + 1")
  foreach(side e a)
    if(${side}_done)
      set(${side}_line "<no line>")
    else()
      string(FIND "${${side}_rest}" "\n" nl)
      if(nl EQUAL -1)
        set(${side}_line "${${side}_rest}")
        set(${side}_done TRUE)
      else()
        string(SUBSTRING "${${side}_rest}" 0 ${nl} ${side}_line)
        math(EXPR nl "${nl} + 1")
        string(SUBSTRING "${${side}_rest}" ${nl} -1 ${side}_rest)
      endif()
    endif()
  endforeach()
  if(NOT e_line STREQUAL a_line)
    string(APPEND report "line ${line}:\n- ${e_line}\n+ ${a_line}\n")
    math(EXPR shown "${shown} + 1")
  endif()
endwhile()
if(shown EQUAL 20)
  string(APPEND report "(further differences not shown)\n")
endif()

message(NOTICE
  "--- ${EXPECTED} (expected)\n+++ ${RUN_DIR}/actual.out (actual)\n"
  "${report}"
  "--- stderr ---\n${errors}")
message(FATAL_ERROR "${PROGRAM}: stdout differs from ${EXPECTED}")
