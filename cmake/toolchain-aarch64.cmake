# Cross-builds the static overcloud-agent for aarch64 (arm64) with Debian's
# aarch64-linux-gnu-gcc. Its C library comes with that compiler (Debian's
# libc6-dev-arm64-cross); mbedtls, libevent and msgpack-c come from Debian's
# arm64 -dev packages unpacked by packaging/sysroot.sh into OC_SYSROOT
# (default build/sysroot/arm64). Use with -DOC_AGENT_ONLY=ON (`make agents`).
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(OC_TRIPLET aarch64-linux-gnu)
set(OC_DEB_ARCH arm64)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
