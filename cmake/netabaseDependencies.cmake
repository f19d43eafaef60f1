# Finds netabase's dependencies and gives each one a stable name:
#   netabase::lmdb  - LMDB (vcpkg config, else pkg-config, else a plain search)
#   netabase::pfr   - Boost.PFR (Boost::pfr where it exists, else Boost::headers)
#   Threads::Threads
#
# Included twice in a package's life: by the top-level CMakeLists.txt, where a missing
# dependency stops the configure, and by the installed netabaseConfig.cmake (which sets
# _netabase_from_package_config), where it behaves like find_dependency: find_package(netabase)
# then fails with netabase_NOT_FOUND_MESSAGE, and is fatal only if the caller said REQUIRED.
# Every find below is QUIET for that reason. No include_guard: imported targets are scoped to
# a directory, so each directory that calls find_package(netabase) needs its own; the
# `if(NOT TARGET ...)` tests make a second inclusion in one directory a no-op.

set(_netabase_missing_dependency "")

# Takes the message in parts, like message(). From the package config it leaves this file
# (a macro's return() returns from its caller) and the config reports the message.
macro(_netabase_dependency_missing)
  string(CONCAT _netabase_missing_dependency ${ARGV})
  if(_netabase_from_package_config)
    return()
  endif()
  message(FATAL_ERROR "${_netabase_missing_dependency}")
endmacro()

macro(_netabase_status msg)
  if(NOT (_netabase_from_package_config AND netabase_FIND_QUIETLY))
    message(STATUS "${msg}")
  endif()
endmacro()

# ---- LMDB ------------------------------------------------------------------

if(NOT TARGET netabase::lmdb)
  set(_netabase_lmdb_link "")

  # vcpkg ships a CMake config; Debian ships only lmdb.pc.
  find_package(unofficial-lmdb CONFIG QUIET)
  if(TARGET unofficial::lmdb::lmdb)
    set(_netabase_lmdb_link unofficial::lmdb::lmdb)
    set(_netabase_lmdb_how "CMake config (unofficial-lmdb)")
  endif()

  if(NOT _netabase_lmdb_link)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(netabase_LMDB_PC QUIET IMPORTED_TARGET lmdb)
      if(TARGET PkgConfig::netabase_LMDB_PC)
        set(_netabase_lmdb_link PkgConfig::netabase_LMDB_PC)
        set(_netabase_lmdb_how "pkg-config (lmdb ${netabase_LMDB_PC_VERSION})")
      endif()
    endif()
  endif()

  if(NOT _netabase_lmdb_link)
    find_path(NETABASE_LMDB_INCLUDE_DIR NAMES lmdb.h)
    find_library(NETABASE_LMDB_LIBRARY NAMES lmdb liblmdb)
    mark_as_advanced(NETABASE_LMDB_INCLUDE_DIR NETABASE_LMDB_LIBRARY)
    if(NOT NETABASE_LMDB_INCLUDE_DIR OR NOT NETABASE_LMDB_LIBRARY)
      _netabase_dependency_missing(
        "netabase: LMDB not found (tried unofficial-lmdb config, pkg-config 'lmdb', "
        "lmdb.h + liblmdb). On Debian/Ubuntu: apt-get install liblmdb-dev")
    endif()
    add_library(netabase_lmdb_found UNKNOWN IMPORTED)
    set_target_properties(netabase_lmdb_found PROPERTIES
      IMPORTED_LOCATION "${NETABASE_LMDB_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${NETABASE_LMDB_INCLUDE_DIR}")
    set(_netabase_lmdb_link netabase_lmdb_found)
    set(_netabase_lmdb_how "${NETABASE_LMDB_LIBRARY}")
  endif()

  add_library(netabase::lmdb INTERFACE IMPORTED)
  target_link_libraries(netabase::lmdb INTERFACE ${_netabase_lmdb_link})
  _netabase_status("netabase: LMDB from ${_netabase_lmdb_how}")
  unset(_netabase_lmdb_link)
  unset(_netabase_lmdb_how)
endif()

# ---- Boost.PFR ---------------------------------------------------------------

if(NOT TARGET netabase::pfr)
  # PFR joined Boost in 1.75. Debian's plain libboost-dev is 1.74 (no PFR): use libboost1.81-dev.
  find_package(Boost 1.75 CONFIG QUIET COMPONENTS pfr)
  if(TARGET Boost::pfr)
    set(_netabase_pfr_link Boost::pfr)
  else()
    # Debian's Boost config has no pfr component, only Boost::headers.
    find_package(Boost 1.75 CONFIG QUIET)
    if(NOT Boost_FOUND)
      find_package(Boost 1.75 QUIET)  # FindBoost, for a Boost without CMake config files
    endif()
    if(NOT Boost_FOUND)
      _netabase_dependency_missing(
        "netabase: Boost >= 1.75 (for Boost.PFR) not found. "
        "On Debian 12: apt-get install libboost1.81-dev (with vcpkg: boost-pfr)")
    endif()
    if(TARGET Boost::headers)
      set(_netabase_pfr_link Boost::headers)
    else()
      set(_netabase_pfr_link Boost::boost)
    endif()
    # Fail here, not on the first #include, if these Boost headers predate PFR.
    set(_netabase_boost_inc "${Boost_INCLUDE_DIRS}")
    if(NOT _netabase_boost_inc)
      get_target_property(_netabase_boost_inc ${_netabase_pfr_link} INTERFACE_INCLUDE_DIRECTORIES)
    endif()
    if(_netabase_boost_inc)
      find_file(NETABASE_BOOST_PFR_HEADER boost/pfr.hpp
        PATHS ${_netabase_boost_inc} NO_DEFAULT_PATH)
      mark_as_advanced(NETABASE_BOOST_PFR_HEADER)
      if(NOT NETABASE_BOOST_PFR_HEADER)
        _netabase_dependency_missing(
          "netabase: Boost ${Boost_VERSION} at ${_netabase_boost_inc} has no boost/pfr.hpp. "
          "On Debian 12: apt-get install libboost1.81-dev")
      endif()
    endif()
    unset(_netabase_boost_inc)
  endif()

  add_library(netabase::pfr INTERFACE IMPORTED)
  target_link_libraries(netabase::pfr INTERFACE ${_netabase_pfr_link})
  _netabase_status("netabase: Boost.PFR from Boost ${Boost_VERSION} (${_netabase_pfr_link})")
  unset(_netabase_pfr_link)
endif()

# ---- Threads -----------------------------------------------------------------

if(NOT TARGET Threads::Threads)
  find_package(Threads QUIET)
  if(NOT Threads_FOUND)
    _netabase_dependency_missing("netabase: no threads library found (find_package(Threads))")
  endif()
endif()
