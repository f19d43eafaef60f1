# Replays ports/netabase/portfile.cmake without vcpkg (which these machines cannot install):
# configures the checkout with the portfile's own OPTIONS (parsed from it, so they cannot
# drift), installs into a staging prefix as vcpkg_cmake_install would, applies the rest of
# the portfile's steps, and checks the tree vcpkg would package. Run by ctest:
#
#   cmake -DCHECKOUT=<netabase checkout> -DBINARY_DIR=<scratch> -DCXX=<compiler>
#         [-DGENERATOR=<g>] [-DMAKE_PROGRAM=<p>] -P vcpkg_port_check.cmake

cmake_minimum_required(VERSION 3.24)  # policies: IN_LIST, string(JSON)

set(port "${CHECKOUT}/ports/netabase")
set(packages "${BINARY_DIR}/packages")  # vcpkg's CURRENT_PACKAGES_DIR
set(failures "")

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " line)
    message(NOTICE "$ ${line}\n${out}\n${err}")
    message(FATAL_ERROR "${what} failed (exit: ${rc})")
  endif()
  set(run_output "${out}${err}" PARENT_SCOPE)
endfunction()

macro(fail msg)
  string(APPEND failures "  - ${msg}\n")
endmacro()

# ---- Read the portfile -------------------------------------------------------------------

file(READ "${port}/portfile.cmake" portfile)
string(REGEX REPLACE "#[^\n]*" "" portfile "${portfile}")  # comments

if(NOT portfile MATCHES "vcpkg_cmake_configure\\(([^)]*)\\)")
  message(FATAL_ERROR "${port}/portfile.cmake has no vcpkg_cmake_configure(...)")
endif()
string(REGEX MATCHALL "-D[A-Za-z0-9_]+(:[A-Z]+)?=[^ \t\r\n)]*" options "${CMAKE_MATCH_1}")
foreach(required -DNETABASE_BUILD_TESTS=OFF -DNETABASE_BUILD_EXAMPLES=OFF -DNETABASE_BUILD_BENCHMARKS=OFF)
  if(NOT required IN_LIST options)
    fail("the portfile's vcpkg_cmake_configure OPTIONS lack ${required}")
  endif()
endforeach()

if(NOT portfile MATCHES "set\\(VCPKG_BUILD_TYPE release\\)")
  fail("the portfile does not set VCPKG_BUILD_TYPE release (header-only: one configure)")
endif()
if(NOT portfile MATCHES "vcpkg_cmake_config_fixup\\(([^)]*)\\)")
  message(FATAL_ERROR "${port}/portfile.cmake has no vcpkg_cmake_config_fixup(...)")
endif()
set(fixup "${CMAKE_MATCH_1}")
if(NOT fixup MATCHES "PACKAGE_NAME[ \t\r\n]+\"?netabase\"?")
  fail("vcpkg_cmake_config_fixup does not say PACKAGE_NAME netabase")
endif()
if(NOT fixup MATCHES "CONFIG_PATH[ \t\r\n]+\"?([^\" \t\r\n]+)\"?")
  message(FATAL_ERROR "vcpkg_cmake_config_fixup has no CONFIG_PATH")
endif()
set(config_path "${CMAKE_MATCH_1}")
if(NOT config_path STREQUAL "share/netabase")
  fail("CONFIG_PATH is ${config_path}: the config must already be in share/netabase")
endif()
foreach(step vcpkg_from_github vcpkg_cmake_install vcpkg_install_copyright "/usage\"")
  string(FIND "${portfile}" "${step}" at)
  if(at EQUAL -1)
    fail("the portfile never uses ${step}")
  endif()
endforeach()

# ---- vcpkg_cmake_configure + vcpkg_cmake_install (release only) ----------------------------

file(REMOVE_RECURSE "${BINARY_DIR}")
set(generator_args "")
if(GENERATOR)
  list(APPEND generator_args -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND generator_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
message(STATUS "portfile options: ${options}")
run("configuring the port"
  "${CMAKE_COMMAND}" -S "${CHECKOUT}" -B "${BINARY_DIR}/build" ${generator_args}
  "-DCMAKE_CXX_COMPILER=${CXX}"
  -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_INSTALL_PREFIX=${packages}"
  -DCMAKE_INSTALL_LIBDIR:STRING=lib
  -DCMAKE_INSTALL_BINDIR:STRING=bin
  -DFETCHCONTENT_FULLY_DISCONNECTED=ON
  -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
  ${options})
# vcpkg warns about portfile options the project never reads; so do we, as a failure.
if(run_output MATCHES "Manually-specified variables were not used by the project:\n\n(( +[^\n]+\n)+)")
  set(unused "${CMAKE_MATCH_1}")
  foreach(option IN LISTS options)
    string(REGEX REPLACE "^-D([A-Za-z0-9_]+).*" "\\1" name "${option}")
    if(unused MATCHES " ${name}\n")
      fail("the project ignores the portfile's option ${option}")
    endif()
  endforeach()
endif()
run("installing the port" "${CMAKE_COMMAND}" --build "${BINARY_DIR}/build" --target install)

# The rest of the portfile: the config fixup has no files to move (CONFIG_PATH is already
# share/<package>), then the debug trees, usage and copyright.
file(REMOVE_RECURSE "${packages}/debug/include" "${packages}/debug/share")
file(INSTALL "${port}/usage" DESTINATION "${packages}/share/netabase")
file(INSTALL "${CHECKOUT}/LICENSE" DESTINATION "${packages}/share/netabase")
file(RENAME "${packages}/share/netabase/LICENSE" "${packages}/share/netabase/copyright")

# ---- Check the tree ------------------------------------------------------------------------

file(GLOB_RECURSE source_headers RELATIVE "${CHECKOUT}/include" "${CHECKOUT}/include/*")
foreach(header IN LISTS source_headers)
  if(NOT EXISTS "${packages}/include/${header}")
    fail("include/${header} was not installed")
  endif()
endforeach()
foreach(file netabaseConfig.cmake netabaseConfigVersion.cmake netabaseTargets.cmake netabaseDependencies.cmake
             usage copyright)
  if(NOT EXISTS "${packages}/share/netabase/${file}")
    fail("share/netabase/${file} is missing")
  endif()
endforeach()

# Header-only: no lib/, no bin/, no binaries anywhere.
foreach(dir lib bin debug/lib debug/bin)
  if(EXISTS "${packages}/${dir}")
    fail("${dir}/ exists in a header-only package")
  endif()
endforeach()
file(GLOB_RECURSE binaries RELATIVE "${packages}"
  "${packages}/*.a" "${packages}/*.so" "${packages}/*.so.*" "${packages}/*.lib" "${packages}/*.dll"
  "${packages}/*.dylib" "${packages}/*.pc")
if(binaries)
  fail("binaries or pkg-config files installed: ${binaries}")
endif()

# vcpkg rejects packages that name the machine they were built on.
file(GLOB_RECURSE installed "${packages}/*")
foreach(file IN LISTS installed)
  file(READ "${file}" text)
  foreach(path "${CHECKOUT}" "${BINARY_DIR}")
    string(FIND "${text}" "${path}" at)
    if(NOT at EQUAL -1)
      file(RELATIVE_PATH rel "${packages}" "${file}")
      fail("${rel} contains the absolute path ${path}")
    endif()
  endforeach()
endforeach()

# The version file, asked as find_package would ask it: any architecture (ARCH_INDEPENDENT),
# same major version only (SameMajorVersion).
function(version_verdict find_version pointer_size out)
  set(PACKAGE_FIND_VERSION "${find_version}")
  string(REGEX MATCH "^[0-9]+" PACKAGE_FIND_VERSION_MAJOR "${find_version}")
  set(CMAKE_SIZEOF_VOID_P ${pointer_size})
  include("${packages}/share/netabase/netabaseConfigVersion.cmake")
  if(PACKAGE_VERSION_UNSUITABLE)
    set(verdict unsuitable)
  elseif(PACKAGE_VERSION_COMPATIBLE)
    set(verdict compatible)
  else()
    set(verdict incompatible)
  endif()
  set(${out} ${verdict} PARENT_SCOPE)
  set(package_version "${PACKAGE_VERSION}" PARENT_SCOPE)
endfunction()
version_verdict(0.1 4 on_32_bit)
set(cmake_version "${package_version}")
string(REGEX MATCH "^[0-9]+" major "${cmake_version}")
math(EXPR next_major "${major} + 1")
version_verdict(${next_major}.0 8 next_major_verdict)
if(NOT on_32_bit STREQUAL "compatible")
  fail("netabaseConfigVersion.cmake finds version ${cmake_version} ${on_32_bit} for 0.1 on a 32-bit consumer: it should be ARCH_INDEPENDENT")
endif()
if(NOT next_major_verdict STREQUAL "incompatible")
  fail("netabaseConfigVersion.cmake finds version ${cmake_version} ${next_major_verdict} for ${next_major}.0: it should be SameMajorVersion")
endif()

# The usage text names exactly the targets the package exports.
file(READ "${packages}/share/netabase/netabaseTargets.cmake" targets_file)
string(REGEX MATCHALL "add_library\\(([A-Za-z0-9_:]+) " added "${targets_file}")
string(REGEX REPLACE "add_library\\(([A-Za-z0-9_:]+) " "\\1" exported "${added}")
file(READ "${packages}/share/netabase/usage" usage)
foreach(target IN LISTS exported)
  string(FIND "${usage}" "${target}" at)
  if(at EQUAL -1)
    fail("the usage file does not mention the exported target ${target}")
  endif()
endforeach()
string(REGEX MATCHALL "netabase::[A-Za-z0-9_]+" named "${usage}")
foreach(target IN LISTS named)
  if(NOT target IN_LIST exported)
    fail("the usage file names ${target}, which the package does not export (it has: ${exported})")
  endif()
endforeach()
string(FIND "${usage}" "find_package(netabase CONFIG REQUIRED)" at)
if(at EQUAL -1)
  fail("the usage file does not say find_package(netabase CONFIG REQUIRED)")
endif()

# One version and one dependency list everywhere.
foreach(manifest "${CHECKOUT}/vcpkg.json" "${port}/vcpkg.json")
  file(READ "${manifest}" json)
  string(JSON name GET "${json}" name)
  string(JSON version GET "${json}" version)
  if(NOT name STREQUAL "netabase")
    fail("${manifest}: name is ${name}")
  endif()
  if(NOT version STREQUAL cmake_version)
    fail("${manifest}: version ${version}, but the CMake project is ${cmake_version}")
  endif()
  string(JSON count LENGTH "${json}" dependencies)
  set(deps "")
  math(EXPR last "${count} - 1")
  foreach(i RANGE ${last})
    string(JSON type TYPE "${json}" dependencies ${i})
    if(type STREQUAL "OBJECT")
      string(JSON dep GET "${json}" dependencies ${i} name)
    else()
      string(JSON dep GET "${json}" dependencies ${i})
    endif()
    list(APPEND deps "${dep}")
  endforeach()
  foreach(dep lmdb boost-pfr)
    if(NOT dep IN_LIST deps)
      fail("${manifest} does not depend on ${dep}")
    endif()
  endforeach()
endforeach()

# ---- A consumer finds the package ------------------------------------------------------------

# Configure only (consumer.find_package builds and runs the same project).
run("configuring a consumer against the port's tree"
  "${CMAKE_COMMAND}" -S "${CMAKE_CURRENT_LIST_DIR}/find_package" -B "${BINARY_DIR}/consumer" ${generator_args}
  "-DCMAKE_CXX_COMPILER=${CXX}" "-DCMAKE_PREFIX_PATH=${packages}")
string(FIND "${run_output}" "netabase consumer: package ${packages}/share/netabase " at)
if(at EQUAL -1)
  fail("the consumer did not find the package in ${packages}:\n${run_output}")
endif()

if(failures)
  message(FATAL_ERROR "the port's tree in ${packages} is wrong:\n${failures}")
endif()
message(STATUS "port tree OK: ${packages} (netabase ${cmake_version}, targets: ${exported})")
