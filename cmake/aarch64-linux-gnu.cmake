# Cross build of csrc/core for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu; ctest
# runs the test binaries under qemu-aarch64 (Debian's qemu-user) when it is installed.
# x86 kernels (AVX2 / AVX-512 / AMX) compile to nothing there: the generic path runs.
#
#   cmake -S . -B build/aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build/aarch64 && ctest --test-dir build/aarch64
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(FALSR_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${FALSR_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${FALSR_CROSS_TRIPLE}-g++)

# The cross sysroot Debian's libc6-arm64-cross installs (pulled in by the compiler).
set(CMAKE_FIND_ROOT_PATH /usr/${FALSR_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(FALSR_QEMU_AARCH64 qemu-aarch64)
if(FALSR_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${FALSR_QEMU_AARCH64} -L /usr/${FALSR_CROSS_TRIPLE})
endif()
