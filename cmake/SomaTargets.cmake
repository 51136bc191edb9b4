# Helpers that give every soma target the same warnings-as-errors flags.
# Warnings are errors in soma's own code only; third-party headers come in
# as SYSTEM includes.

# -Wall brings -Wswitch: a switch over an enum with no `default:` must list
# every enumerator, so a new op kind (Ops.def) is an error at each switch over
# ir::OpKind until it is handled there; such switches keep no `default:`.
# -Wno-restrict: GCC 12 reports false positives inside libstdc++ string code
# (GCC bug 105651).
set(SOMA_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Wno-restrict -Werror)
# clang (the fuzz build, SOMA_FUZZ) knows no -Wno-restrict nor the per-file
# GCC workarounds (-Wno-maybe-uninitialized): unknown to it, not errors. It
# also reports libstdc++ 12's own std::stable_sort for calling the
# get_temporary_buffer that C++20 deprecates (inside a system header, but
# instantiated from soma's code); GCC builds still check deprecations.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  list(APPEND SOMA_WARNING_FLAGS -Wno-unknown-warning-option -Wno-deprecated-declarations)
endif()

# soma_add_library(name SOURCES... [DEPENDS libs...]): static, or shared
# with SOMA_SHARED_LIBS.
function(soma_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  if(SOMA_SHARED_LIBS)
    add_library(${name} SHARED ${ARG_SOURCES})
  else()
    add_library(${name} STATIC ${ARG_SOURCES})
  endif()
  target_compile_options(${name} PRIVATE ${SOMA_WARNING_FLAGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPENDS})
endfunction()

# soma_add_executable(name SOURCES... [DEPENDS libs...])
function(soma_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${SOMA_WARNING_FLAGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPENDS})
endfunction()

# soma_assert_no_llvm(target): fails configuration when `target` reaches
# LLVM through its link dependencies. The runtime and the interpreter must
# stay LLVM-free so they can ship without the JIT.
function(soma_assert_no_llvm target)
  set(seen "")
  set(queue ${target})
  while(queue)
    list(POP_FRONT queue current)
    if(current IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${current})
    if(current MATCHES "^LLVM" OR current MATCHES "libLLVM")
      message(FATAL_ERROR "layering: ${target} must not link LLVM, but reaches ${current}")
    endif()
    if(TARGET ${current})
      get_target_property(deps ${current} LINK_LIBRARIES)
      get_target_property(ideps ${current} INTERFACE_LINK_LIBRARIES)
      foreach(dep IN LISTS deps ideps)
        if(dep AND NOT dep MATCHES "NOTFOUND$")
          list(APPEND queue ${dep})
        endif()
      endforeach()
    endif()
  endwhile()
endfunction()
