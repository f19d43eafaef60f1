# Finds netabase's dependencies and gives each one a stable name:
#   netabase::lmdb  - LMDB (vcpkg config, else pkg-config, else a plain search)
#   netabase::pfr   - Boost.PFR (Boost::pfr where it exists, else Boost::headers)
#   Threads::Threads
# Written to be included again from the installed package config.

include_guard(GLOBAL)

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
      message(FATAL_ERROR
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
  message(STATUS "netabase: LMDB from ${_netabase_lmdb_how}")
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
      find_package(Boost 1.75 REQUIRED)
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
        message(FATAL_ERROR
          "netabase: Boost ${Boost_VERSION} at ${_netabase_boost_inc} has no boost/pfr.hpp. "
          "On Debian 12: apt-get install libboost1.81-dev")
      endif()
    endif()
    unset(_netabase_boost_inc)
  endif()

  add_library(netabase::pfr INTERFACE IMPORTED)
  target_link_libraries(netabase::pfr INTERFACE ${_netabase_pfr_link})
  message(STATUS "netabase: Boost.PFR from Boost ${Boost_VERSION} (${_netabase_pfr_link})")
  unset(_netabase_pfr_link)
endif()

# ---- Threads -----------------------------------------------------------------

find_package(Threads REQUIRED)
