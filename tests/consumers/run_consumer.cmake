# Builds and runs tests/consumers/app.cpp the way a user would consume netabase. Run by ctest:
#
#   cmake -DMODE=stage    -DBUILD_TREE=<netabase build> -DPREFIX=<dir> [-DCONFIG=<cfg>] -P run_consumer.cmake
#       cmake --install of a netabase build tree into an emptied PREFIX
#   cmake -DMODE=cmake    -DPROJECT=<consumer project dir> -DBINARY_DIR=<dir> -DCXX=<compiler>
#         [-DGENERATOR=<g>] [-DMAKE_PROGRAM=<p>] [-DARGS=-Da=1|-Db=2] [-DEXPECT_CONFIGURE=<text>]
#         [-DBUILD=OFF]
#       configure (its output must contain EXPECT_CONFIGURE), then unless BUILD=OFF build and
#       run ./app
#   cmake -DMODE=compiler -DCXX=<compiler> -DCHECKOUT=<netabase checkout> -DBINARY_DIR=<dir>
#       c++ -std=c++20 -I <checkout>/include app.cpp -llmdb, no CMake; then run it
#
# The program must exit 0 and print the line below.

cmake_minimum_required(VERSION 3.24)  # policies: IN_LIST, string(JSON)

set(expected_output "netabase consumer: 3 rows, 2 by ada, note 2 is second")
set(app_source "${CMAKE_CURRENT_LIST_DIR}/app.cpp")

function(run what)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " line)
    message(NOTICE "$ ${line}\n${out}\n${err}")
    message(FATAL_ERROR "${what} failed (exit: ${rc})")
  endif()
  set(run_output "${out}${err}" PARENT_SCOPE)
endfunction()

function(run_app program)
  run("running ${program}" "${program}")
  string(STRIP "${run_output}" out)
  if(NOT out STREQUAL expected_output)
    message(FATAL_ERROR "${program} printed\n  ${out}\ninstead of\n  ${expected_output}")
  endif()
  message(STATUS "${program}: ${out}")
endfunction()

if(MODE STREQUAL "stage")
  file(REMOVE_RECURSE "${PREFIX}")
  set(config_args "")
  if(CONFIG)
    set(config_args --config "${CONFIG}")
  endif()
  run("cmake --install" "${CMAKE_COMMAND}" --install "${BUILD_TREE}" --prefix "${PREFIX}" ${config_args})
  if(NOT EXISTS "${PREFIX}/share/netabase/netabaseConfig.cmake")
    message(FATAL_ERROR "cmake --install put no share/netabase/netabaseConfig.cmake under ${PREFIX}")
  endif()
  message(STATUS "netabase installed into ${PREFIX}")

elseif(MODE STREQUAL "cmake")
  file(REMOVE_RECURSE "${BINARY_DIR}")
  string(REPLACE "|" ";" args "${ARGS}")
  set(generator_args "")
  if(GENERATOR)
    list(APPEND generator_args -G "${GENERATOR}")
  endif()
  if(MAKE_PROGRAM)
    list(APPEND generator_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  run("configuring ${PROJECT}"
    "${CMAKE_COMMAND}" -S "${PROJECT}" -B "${BINARY_DIR}" ${generator_args}
    "-DCMAKE_CXX_COMPILER=${CXX}" ${args})
  if(run_output MATCHES "netabase consumer: [^\n]*")
    message(STATUS "${CMAKE_MATCH_0}")
  endif()
  if(EXPECT_CONFIGURE)
    string(FIND "${run_output}" "${EXPECT_CONFIGURE}" at)
    if(at EQUAL -1)
      message(NOTICE "${run_output}")
      message(FATAL_ERROR "configuring ${PROJECT}: the output does not say '${EXPECT_CONFIGURE}'")
    endif()
  endif()
  if(DEFINED BUILD AND NOT BUILD)
    return()
  endif()
  run("building ${PROJECT}" "${CMAKE_COMMAND}" --build "${BINARY_DIR}")
  run_app("${BINARY_DIR}/app")

elseif(MODE STREQUAL "compiler")
  file(REMOVE_RECURSE "${BINARY_DIR}")
  file(MAKE_DIRECTORY "${BINARY_DIR}")
  # What the README tells users without CMake (Boost and LMDB in the compiler's default paths).
  run("compiling ${app_source}"
    "${CXX}" -std=c++20 -I "${CHECKOUT}/include" "${app_source}" -llmdb -o "${BINARY_DIR}/app")
  run_app("${BINARY_DIR}/app")

else()
  message(FATAL_ERROR "run_consumer.cmake: MODE must be stage, cmake or compiler (got '${MODE}')")
endif()
