#!/usr/bin/env bash
# agents.sh — `make agents`: the static overcloud-agent for every architecture
# the tower serves, stripped, as build/agents/overcloud-agent-<arch>:
#   x86_64   the build machine's own agent (build/bin, made by `make build`)
#   aarch64  cross-built with aarch64-linux-gnu-gcc    (Pi 3/4/5, 64-bit OS)
#   armv7    cross-built with arm-linux-gnueabihf-gcc  (Pi 2/3, 32-bit OS)
# Cross builds live in build/cross-<arch>/ and use a sysroot of Debian's
# foreign-architecture -dev packages (packaging/sysroot.sh). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-$(nproc)}
OUT=build/agents
# What the static agent links, besides the C library of the cross compiler.
AGENT_DEV_PACKAGES=(libmbedtls-dev libevent-dev libmsgpack-dev)

[ -x build/bin/overcloud-agent ] || { echo "agents: run 'make build' first" >&2; exit 1; }
mkdir -p "$OUT"

# install_agent SRC ARCH STRIP: a stripped copy, replaced only when it changed
# (the tower serves these files; a rewrite would change their mtime for nothing).
install_agent() {
	local src=$1 arch=$2 strip=$3 tmp
	tmp="$OUT/.overcloud-agent-$arch.tmp"
	"$strip" -o "$tmp" "$src"
	if cmp -s "$tmp" "$OUT/overcloud-agent-$arch"; then
		rm -f "$tmp"
	else
		mv -f "$tmp" "$OUT/overcloud-agent-$arch"
	fi
}

install_agent build/bin/overcloud-agent x86_64 strip

for target in aarch64:arm64:aarch64-linux-gnu armv7:armhf:arm-linux-gnueabihf; do
	IFS=: read -r arch deb triple <<<"$target"
	bash packaging/sysroot.sh "$deb" "build/sysroot/$deb" "${AGENT_DEV_PACKAGES[@]}"
	dir="build/cross-$arch"
	if [ ! -f "$dir/CMakeCache.txt" ]; then
		cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-$arch.cmake" \
			-DOC_SYSROOT="$PWD/build/sysroot/$deb" -DOC_AGENT_ONLY=ON \
			-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	fi
	cmake --build "$dir" -j "$JOBS" --target overcloud-agent -- --no-print-directory >/dev/null
	install_agent "$dir/bin/overcloud-agent" "$arch" "$triple-strip"
done

for f in "$OUT"/overcloud-agent-*; do
	printf 'agents: %-40s %8d bytes\n' "$f" "$(stat -c %s "$f")"
done
