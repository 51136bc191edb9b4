# Helpers that give every soma target the same warnings-as-errors flags.
# Warnings are errors in soma's own code only; third-party headers come in
# as SYSTEM includes.

# -Wno-restrict: GCC 12 reports false positives inside libstdc++ string code
# (GCC bug 105651).
set(SOMA_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Wno-restrict -Werror)

# soma_add_library(name SOURCES... [DEPENDS libs...])
function(soma_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
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
