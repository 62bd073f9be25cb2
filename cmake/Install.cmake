# Installation and the Debian package (docs/packaging.md).
#   cmake --install build --prefix /usr     binary, man pages, bash completion,
#                                           headers, static libraries with a CMake
#                                           package (find_package(valise)) and a
#                                           pkg-config file, the Python package
#   cpack -G DEB (in the build directory)   valise_<version>_<arch>.deb
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(VALISE_LIBS valise_common valise_crypto valise_transforms valise_drive valise_format valise_catalog
    valise_core valise_loader)
# One name for users: valise::valise (the public API in <valise/valise.h> and
# <valise/loader.h>), backed by the static libraries above.
add_library(valise_api INTERFACE)
target_link_libraries(valise_api INTERFACE valise_core valise_loader)
set_target_properties(valise_api PROPERTIES EXPORT_NAME valise)

install(TARGETS valise RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ${VALISE_LIBS} valise_api EXPORT valiseTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}/valise
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/valise DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(EXPORT valiseTargets NAMESPACE valise:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/valise)
configure_package_config_file(cmake/valiseConfig.cmake.in ${CMAKE_BINARY_DIR}/valiseConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/valise)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/valiseConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/valiseConfig.cmake ${CMAKE_BINARY_DIR}/valiseConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/valise)
# pkg-config: the static libraries in link order, their dependencies private.
set(VALISE_PC_LIBS "")
foreach(l valise_loader valise_core valise_format valise_catalog valise_transforms valise_drive valise_crypto
          valise_common)
  string(APPEND VALISE_PC_LIBS " -l${l}")
endforeach()
configure_file(cmake/valise.pc.in ${CMAKE_BINARY_DIR}/valise.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/valise.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Man pages and the bash completion, generated from the built command's own
# --help text and option tree (one source of truth).
find_program(VALISE_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT VALISE_PYTHON3)
  find_program(VALISE_PYTHON3 python3 REQUIRED)
endif()
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/man/valise.1 ${CMAKE_BINARY_DIR}/valise.bash-completion
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${CMAKE_BINARY_DIR}/man
  COMMAND ${VALISE_PYTHON3} ${PROJECT_SOURCE_DIR}/scripts/gen_man.py $<TARGET_FILE:valise> ${CMAKE_BINARY_DIR}/man
  COMMAND $<TARGET_FILE:valise> completion bash > ${CMAKE_BINARY_DIR}/valise.bash-completion
  DEPENDS valise ${PROJECT_SOURCE_DIR}/scripts/gen_man.py
  COMMENT "Man pages and bash completion from valise --help")
add_custom_target(valise_docs ALL DEPENDS ${CMAKE_BINARY_DIR}/man/valise.1 ${CMAKE_BINARY_DIR}/valise.bash-completion)
install(DIRECTORY ${CMAKE_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 FILES_MATCHING PATTERN "*.1")
install(FILES ${CMAKE_BINARY_DIR}/valise.bash-completion DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME valise)

# The Python package, where Debian's python3 looks for packages.
if(VALISE_PYTHON)
  set(VALISE_PY_INSTALL_DIR lib/python3/dist-packages CACHE STRING "Where the Python package is installed (under the prefix)")
  install(TARGETS _valise LIBRARY DESTINATION ${VALISE_PY_INSTALL_DIR}/valise)
  list(TRANSFORM VALISE_PY_FILES PREPEND python/valise/ OUTPUT_VARIABLE _valise_py_sources)
  install(FILES ${_valise_py_sources} DESTINATION ${VALISE_PY_INSTALL_DIR}/valise)
endif()

# The Debian package: dependencies are the Debian 12 runtime packages that
# dpkg-shlibdeps finds for the binary and the Python module.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME valise)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "valise maintainers <valise@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "carry a dataset on N drives, lose any m of them, restore it bit-exact")
set(CPACK_PACKAGE_DESCRIPTION "valise packs a dataset onto N drives with erasure coding (k data + m parity),
encryption and a signed root; verifies, repairs and restores it bit-exact after
drives are lost or damaged; serves it to training (FUSE mount, Python loader).")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3 (>= 3.11), fuse3")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-torch")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libssl-dev, libsodium-dev, libisal-dev, libzstd-dev, libsqlite3-dev, libgfshare-dev")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The binary and the Python module without debug sections (as dh_strip does).
set(CPACK_STRIP_FILES ON)
include(CPack)
