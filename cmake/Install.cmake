# Install rules and the CMake package. `cmake --install build --prefix P`
# gives an application everything it needs and nothing internal:
#
#   P/bin/soma, soma-opt           the tools
#   P/bin/soma-lit                 runs a user's lit suite with soma's substitutions
#   P/share/soma/lit/soma_lit.cfg.py   the lit configuration soma-lit loads
#   P/share/soma/lit/soma_lit_format.py  its test format
#   P/include/soma/soma.h          the public API, and soma/Version.h, its version macros
#   P/lib/libsoma.a, libsoma_*.a   soma::soma and the static libraries it links
#   P/lib/cmake/soma/              somaConfig.cmake, version and exported targets
#
# An application does find_package(soma) and links soma::soma; the static
# libraries reach LLVM's shared library through LLVM's own `LLVM` target,
# which somaConfig.cmake finds. No LLVM header is needed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SOMA_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/soma)

# The tools find libLLVM where they were linked against it.
set_target_properties(soma soma-opt PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS soma soma-opt RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# An application of a sanitized build must link the sanitizer runtimes too.
if(SOMA_SANITIZE)
  target_link_options(soma_api INTERFACE -fsanitize=address,undefined)
endif()
# Every library soma_api links, directly or not: CMake refuses to generate
# when one is missing from the export set. A new outside dependency (say
# TBB::tbb) needs its find_dependency() in somaConfig.cmake.in as well; the
# install-embed test fails until it is there.
install(TARGETS soma_api soma_frontend soma_onnx soma_passes soma_runtime soma_jit soma_codegen soma_ir
                soma_support
  EXPORT somaTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/api/include/soma/soma.h ${PROJECT_BINARY_DIR}/include/soma/Version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/soma)
install(EXPORT somaTargets NAMESPACE soma:: FILE somaTargets.cmake
  DESTINATION ${SOMA_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/somaConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/somaConfig.cmake
  INSTALL_DESTINATION ${SOMA_INSTALL_CMAKEDIR})
# 0.x: a new minor version may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/somaConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/somaConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/somaConfigVersion.cmake
  DESTINATION ${SOMA_INSTALL_CMAKEDIR})

# soma-lit and its lit configuration, laid out in the build tree as they
# are installed (bin/ and share/soma/lit/), so build/bin/soma-lit works too.
set(SOMA_LIT_PY ${LLVM_TOOLS_BINARY_DIR}/../build/utils/lit/lit.py)
if(NOT EXISTS ${SOMA_LIT_PY})
  set(SOMA_LIT_PY /usr/lib/llvm-19/build/utils/lit/lit.py)
endif()
cmake_path(NORMAL_PATH SOMA_LIT_PY)
set(SOMA_LIT_LLVM_TOOLS_DIR ${LLVM_TOOLS_BINARY_DIR})
configure_file(${PROJECT_SOURCE_DIR}/tools/soma-lit.in ${PROJECT_BINARY_DIR}/bin/soma-lit @ONLY
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ
                   WORLD_EXECUTE)
configure_file(${PROJECT_SOURCE_DIR}/tools/soma_lit.cfg.py
  ${PROJECT_BINARY_DIR}/share/soma/lit/soma_lit.cfg.py COPYONLY)
configure_file(${PROJECT_SOURCE_DIR}/tools/soma_lit_format.py
  ${PROJECT_BINARY_DIR}/share/soma/lit/soma_lit_format.py COPYONLY)
install(PROGRAMS ${PROJECT_BINARY_DIR}/bin/soma-lit DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_BINARY_DIR}/share/soma/lit/soma_lit.cfg.py
  ${PROJECT_BINARY_DIR}/share/soma/lit/soma_lit_format.py
  DESTINATION ${CMAKE_INSTALL_DATADIR}/soma/lit)
