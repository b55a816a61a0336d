# Cross-builds the static overcloud-agent for armv7 (armhf) with Debian's
# arm-linux-gnueabihf-gcc. Its C library comes with that compiler (Debian's
# libc6-dev-armhf-cross); mbedtls, libevent and msgpack-c come from Debian's
# armhf -dev packages unpacked by packaging/sysroot.sh into OC_SYSROOT
# (default build/sysroot/armhf). Use with -DOC_AGENT_ONLY=ON (`make agents`).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)

if(NOT OC_SYSROOT)
  if(DEFINED ENV{OC_SYSROOT})
    set(OC_SYSROOT $ENV{OC_SYSROOT})
  else()
    set(OC_SYSROOT ${CMAKE_CURRENT_LIST_DIR}/../build/sysroot/armhf)
  endif()
endif()
get_filename_component(OC_SYSROOT ${OC_SYSROOT} ABSOLUTE)
# try_compile() projects re-read this file; hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES OC_SYSROOT)

# Headers and libraries from the sysroot and the cross libc, never the build
# machine's /usr; programs (objcopy, strip) from the build machine.
set(CMAKE_FIND_ROOT_PATH ${OC_SYSROOT} /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# A dynamically linked program (the tower, when cross-built for a package)
# links shared libraries whose own dependencies the linker looks up here.
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${OC_SYSROOT}/usr/lib/arm-linux-gnueabihf:${OC_SYSROOT}/lib/arm-linux-gnueabihf")
# Headers of the sysroot's -dev packages, multiarch ones (curl) included.
set(CMAKE_C_FLAGS_INIT "-isystem ${OC_SYSROOT}/usr/include/arm-linux-gnueabihf -isystem ${OC_SYSROOT}/usr/include")
# Nothing cross-built runs from the build tree: no RUNPATH into the sysroot.
set(CMAKE_SKIP_RPATH ON CACHE BOOL "no RUNPATH in cross-built programs" FORCE)
