# Consumer tests: tests/consumers/app.cpp built the ways users take netabase in, each a small
# project configured, built and run by ctest (label `consumer`), with the outer build's C++
# compiler. Included from tests/CMakeLists.txt; the package check follows ports/netabase.

set(_consumers "${CMAKE_CURRENT_LIST_DIR}")
set(_work "${CMAKE_CURRENT_BINARY_DIR}/consumers")
set(_stage "${_work}/stage")
set(_common
  "-DCXX=${CMAKE_CXX_COMPILER}"
  "-DGENERATOR=${CMAKE_GENERATOR}"
  "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}")

function(_netabase_consumer_test name)
  add_test(NAME "consumer.${name}" COMMAND "${CMAKE_COMMAND}" ${ARGN} -P "${_consumers}/run_consumer.cmake")
  set_tests_properties("consumer.${name}" PROPERTIES LABELS consumer TIMEOUT 300)
endfunction()

# (4) No CMake: the compiler line from the README.
_netabase_consumer_test(compiler
  -DMODE=compiler ${_common} "-DCHECKOUT=${PROJECT_SOURCE_DIR}" "-DBINARY_DIR=${_work}/compiler")

# (3) add_subdirectory of the checkout.
_netabase_consumer_test(add_subdirectory
  -DMODE=cmake ${_common}
  "-DPROJECT=${_consumers}/add_subdirectory" "-DBINARY_DIR=${_work}/add_subdirectory"
  "-DARGS=-DNETABASE_CHECKOUT=${PROJECT_SOURCE_DIR}")

# (2) FetchContent, offline: FETCHCONTENT_SOURCE_DIR_NETABASE makes the checkout the
# "downloaded" source (and, by FetchContent's rule, skips the FIND_PACKAGE_ARGS attempt).
_netabase_consumer_test(fetchcontent
  -DMODE=cmake ${_common}
  "-DPROJECT=${_consumers}/fetchcontent" "-DBINARY_DIR=${_work}/fetchcontent"
  "-DARGS=-DFETCHCONTENT_SOURCE_DIR_NETABASE=${PROJECT_SOURCE_DIR}|-DFETCHCONTENT_FULLY_DISCONNECTED=ON"
  "-DEXPECT_CONFIGURE=netabase consumer: source ")

if(NETABASE_INSTALL)
  # This build tree installed into a staging prefix, for the package consumers below.
  add_test(NAME consumer.stage
    COMMAND "${CMAKE_COMMAND}" -DMODE=stage "-DBUILD_TREE=${PROJECT_BINARY_DIR}" "-DPREFIX=${_stage}"
      "-DCONFIG=$<CONFIG>" -P "${_consumers}/run_consumer.cmake")
  set_tests_properties(consumer.stage PROPERTIES
    LABELS consumer TIMEOUT 60 FIXTURES_SETUP netabase_staged)

  # (1) find_package(netabase CONFIG REQUIRED) against the staged install.
  _netabase_consumer_test(find_package
    -DMODE=cmake ${_common}
    "-DPROJECT=${_consumers}/find_package" "-DBINARY_DIR=${_work}/find_package"
    "-DARGS=-DCMAKE_PREFIX_PATH=${_stage}"
    "-DEXPECT_CONFIGURE=netabase consumer: package ${_stage}/share/netabase ")
  set_tests_properties(consumer.find_package PROPERTIES FIXTURES_REQUIRED netabase_staged)

  # (2b) The same FetchContent project with an installed netabase on CMAKE_PREFIX_PATH:
  # FIND_PACKAGE_ARGS finds it, so nothing is downloaded (FULLY_DISCONNECTED: a download
  # would fail). Configure only: the build would repeat consumer.find_package's.
  _netabase_consumer_test(fetchcontent_finds_package
    -DMODE=cmake ${_common} -DBUILD=OFF
    "-DPROJECT=${_consumers}/fetchcontent" "-DBINARY_DIR=${_work}/fetchcontent_finds_package"
    "-DARGS=-DCMAKE_PREFIX_PATH=${_stage}|-DFETCHCONTENT_FULLY_DISCONNECTED=ON"
    "-DEXPECT_CONFIGURE=netabase consumer: package ${_stage}/share/netabase ")
  set_tests_properties(consumer.fetchcontent_finds_package PROPERTIES FIXTURES_REQUIRED netabase_staged)
endif()

# (5) The vcpkg port's configure and install steps, with the options parsed from its
# portfile, into a staging prefix; then the tree is checked.
add_test(NAME consumer.vcpkg_port
  COMMAND "${CMAKE_COMMAND}" ${_common}
    "-DCHECKOUT=${PROJECT_SOURCE_DIR}" "-DBINARY_DIR=${_work}/vcpkg_port"
    -P "${_consumers}/vcpkg_port_check.cmake")
set_tests_properties(consumer.vcpkg_port PROPERTIES LABELS consumer TIMEOUT 300)

unset(_consumers)
unset(_work)
unset(_stage)
unset(_common)
