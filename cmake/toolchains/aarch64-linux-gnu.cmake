# Cross-compiling soma's LLVM-free runtime for 64-bit ARM Linux with
# Debian's cross toolchain (g++-aarch64-linux-gnu) and arm64 libraries from
# multiarch (libtbb-dev:arm64), as tools/setup installs them:
#   cmake -S . -B build-aarch64 -DSOMA_RUNTIME_ONLY=ON \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64
# (docs/deploy.md, "Cross-compiling for aarch64"). Run what it builds on an
# aarch64 machine, or here under qemu-user:
#   qemu-aarch64 -L /usr/aarch64-linux-gnu ./program
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Multiarch: arm64 packages put their libraries and CMake packages in
# /usr/lib/aarch64-linux-gnu, their (shared) headers in /usr/include; the
# cross toolchain's own C and C++ libraries are in /usr/aarch64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Programs built here run under qemu-user (tests, try_run).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu)
