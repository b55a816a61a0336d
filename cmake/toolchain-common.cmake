# Shared by cmake/toolchain-*.cmake, which set OC_TRIPLET (the GNU triplet,
# e.g. aarch64-linux-gnu) and OC_DEB_ARCH (Debian's name, e.g. arm64) first:
# the compiler, the sysroot and where headers and libraries are looked up.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${OC_TRIPLET}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${OC_TRIPLET})

if(NOT OC_SYSROOT)
  if(DEFINED ENV{OC_SYSROOT})
    set(OC_SYSROOT $ENV{OC_SYSROOT})
  else()
    set(OC_SYSROOT ${CMAKE_CURRENT_LIST_DIR}/../build/sysroot/${OC_DEB_ARCH})
  endif()
endif()
get_filename_component(OC_SYSROOT ${OC_SYSROOT} ABSOLUTE)
# try_compile() projects re-read this file; hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES OC_SYSROOT)

# Headers and libraries from the sysroot and the cross libc, never the build
# machine's /usr; programs (objcopy, strip) from the build machine.
set(CMAKE_FIND_ROOT_PATH ${OC_SYSROOT} /usr/${OC_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# A dynamically linked program (the tower, when cross-built for a package)
# links shared libraries whose own dependencies the linker looks up here.
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${OC_SYSROOT}/usr/lib/${OC_TRIPLET}:${OC_SYSROOT}/lib/${OC_TRIPLET}")
# Headers of the sysroot's -dev packages, multiarch ones (curl) included.
set(CMAKE_C_FLAGS_INIT "-isystem ${OC_SYSROOT}/usr/include/${OC_TRIPLET} -isystem ${OC_SYSROOT}/usr/include")
# Nothing cross-built runs from the build tree: no RUNPATH into the sysroot.
set(CMAKE_SKIP_RPATH ON CACHE BOOL "no RUNPATH in cross-built programs" FORCE)
