# Overlay port: vcpkg install netabase --overlay-ports=<checkout>/ports
# tests/consumers/vcpkg_port_check.cmake replays the configure and install below (it reads
# the OPTIONS and the config fixup from this file), so keep them in this shape.

# Header-only: one release configure installs everything; there is nothing to debug-build.
set(VCPKG_BUILD_TYPE release)

vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO netabase/netabase
    REF "v${VERSION}"
    # Placeholder until the v0.1.0 tag exists: vcpkg prints the real SHA512 on the first install.
    SHA512 0
    HEAD_REF main
)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DNETABASE_BUILD_TESTS=OFF
        -DNETABASE_BUILD_EXAMPLES=OFF
        -DNETABASE_BUILD_BENCHMARKS=OFF
        -DNETABASE_BUILD_TOOLS=OFF
        -DNETABASE_INSTALL=ON
)

vcpkg_cmake_install()

# The config is already in share/netabase: the fixup only rewrites paths in it.
vcpkg_cmake_config_fixup(PACKAGE_NAME netabase CONFIG_PATH share/netabase)

file(REMOVE_RECURSE
    "${CURRENT_PACKAGES_DIR}/debug/include"
    "${CURRENT_PACKAGES_DIR}/debug/share"
)

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
