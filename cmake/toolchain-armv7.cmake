# Cross-builds the static overcloud-agent for armv7 (armhf) with Debian's
# arm-linux-gnueabihf-gcc. Its C library comes with that compiler (Debian's
# libc6-dev-armhf-cross); mbedtls, libevent and msgpack-c come from Debian's
# armhf -dev packages unpacked by packaging/sysroot.sh into OC_SYSROOT
# (default build/sysroot/armhf). Use with -DOC_AGENT_ONLY=ON (`make agents`).
set(CMAKE_SYSTEM_PROCESSOR armv7)
set(OC_TRIPLET arm-linux-gnueabihf)
set(OC_DEB_ARCH armhf)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
