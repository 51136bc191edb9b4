# Install rules and the CMake package. `cmake --install build --prefix P`
# gives an application everything it needs and nothing internal:
#
#   P/bin/soma, soma-opt           the tools
#   P/bin/soma-lit                 runs a user's lit suite with soma's substitutions
#   P/share/soma/lit/soma_lit.cfg.py   the lit configuration soma-lit loads
#   P/share/soma/lit/soma_lit_format.py  its test format
#   P/include/soma/soma.h          the public API, and soma/Version.h, its version macros
#   P/include/soma/bundle.h        the bundle runtime's C API
#   P/lib/libsoma.a, libsoma_*.a   soma::soma and the static libraries it links
#   P/lib/cmake/soma/              somaConfig.cmake, version and exported targets
#   P/lib/pkgconfig/soma-runtime.pc  the runtime for pkg-config users
#
# Two export sets: somaRuntimeTargets holds soma::runtime (the LLVM-free
# runtime that runs bundles, with the two libraries under it, soma::ir and
# soma::support) and needs oneTBB alone; somaTargets holds soma::soma (the
# compiler and the JIT), whose libraries reach LLVM's shared library through
# LLVM's own `LLVM` target. find_package(soma COMPONENTS runtime) loads the
# first only, so an application that runs bundles needs no LLVM installed;
# find_package(soma) loads both. No LLVM header is needed either way.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SOMA_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/soma)

# The tools find libLLVM where they were linked against it (and soma's own
# shared libraries, with SOMA_SHARED_LIBS, through $ORIGIN/../lib).
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
set_target_properties(soma_runtime PROPERTIES EXPORT_NAME runtime)
set_target_properties(soma_ir PROPERTIES EXPORT_NAME ir)
set_target_properties(soma_support PROPERTIES EXPORT_NAME support)
target_include_directories(soma_runtime INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
add_library(soma::runtime ALIAS soma_runtime)
install(TARGETS soma_runtime soma_ir soma_support
  EXPORT somaRuntimeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS soma_api soma_frontend soma_onnx soma_passes soma_jit soma_codegen
  EXPORT somaTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/api/include/soma/soma.h ${PROJECT_BINARY_DIR}/include/soma/Version.h
              ${PROJECT_SOURCE_DIR}/runtime/include/soma/bundle.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/soma)
install(EXPORT somaRuntimeTargets NAMESPACE soma:: FILE somaRuntimeTargets.cmake
  DESTINATION ${SOMA_INSTALL_CMAKEDIR})
install(EXPORT somaTargets NAMESPACE soma:: FILE somaTargets.cmake
  DESTINATION ${SOMA_INSTALL_CMAKEDIR})
# pkg-config: relative to the .pc file itself, so a moved prefix still works.
configure_file(${PROJECT_SOURCE_DIR}/cmake/soma-runtime.pc.in
  ${PROJECT_BINARY_DIR}/lib/pkgconfig/soma-runtime.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/lib/pkgconfig/soma-runtime.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
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
