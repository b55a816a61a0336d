#!/usr/bin/env bash
# sysroot.sh — unpacks Debian's -dev packages of a foreign architecture into a
# build sysroot, for cross-building without installing them system-wide.
#
#   packaging/sysroot.sh DEB_ARCH DIR PACKAGE...
#
# DEB_ARCH is a Debian architecture (arm64, armhf). Each PACKAGE, and each
# package named in SYSROOT_DEPS_OF together with everything it depends on
# (for linking against shared libraries, whose own dependencies the linker
# must see), is fetched with `apt-get download` and unpacked with `dpkg -x`
# into DIR; nothing is installed. The C library itself comes from Debian's cross packages
# (libc6-dev-<arch>-cross, installed by deps.sh with the cross compilers).
#
# Idempotent and quiet when DIR already holds this exact package set; never
# prompts. The first run adds DEB_ARCH to dpkg's foreign architectures and runs
# `apt-get update` so that apt knows that architecture's package lists (this
# only adds lists; it installs nothing of that architecture).
set -euo pipefail

arch=${1:?usage: sysroot.sh DEB_ARCH DIR PACKAGE...}
dir=${2:?usage: sysroot.sh DEB_ARCH DIR PACKAGE...}
shift 2
[ $# -gt 0 ] || { echo "sysroot: no packages named" >&2; exit 2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive

# The stamp records what DIR was made from; same list and versions -> done.
want="$arch ${*} deps-of: ${SYSROOT_DEPS_OF:-} $(dpkg-query -W -f='${Version}' libc6 2>/dev/null || true)"
if [ -f "$dir/.sysroot-stamp" ] && [ "$(cat "$dir/.sysroot-stamp")" = "$want" ]; then
	exit 0
fi

# refresh_lists: apt-get update, a few tries; a mirror mid-sync fails one index
# now and then, and what matters is only whether the download works after.
refresh_lists() {
	local i
	for i in 1 2 3; do
		$SUDO apt-get update -qq && return 0
		sleep $((i * 5))
	done
	echo "sysroot: apt-get update reported errors; trying the download anyway" >&2
}

if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
	echo "sysroot: adding foreign architecture $arch (package lists only)"
	$SUDO dpkg --add-architecture "$arch"
	refresh_lists
fi

# packages_of PKG...: the named packages, plus the dependency closure of
# SYSROOT_DEPS_OF (only packages of DEB_ARCH; the cross compiler brings libc).
packages_of() {
	printf '%s\n' "${@/%/:$arch}"
	if [ -n "${SYSROOT_DEPS_OF:-}" ]; then
		# shellcheck disable=SC2086
		apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances \
			$(printf '%s:'"$arch"' ' $SYSROOT_DEPS_OF) 2>/dev/null |
			sed -n 's/^\([a-z0-9][^ <>]*\)$/\1/p' | grep ":$arch\$"
	fi
}

rm -rf "$dir" "$dir.debs"
mkdir -p "$dir" "$dir.debs"
dir=$(cd "$dir" && pwd)
debs="$dir.debs"
mapfile -t pkgs < <(packages_of "$@" | sort -u)
# An architecture added by someone else may still lack lists: update once.
if ! (cd "$debs" && apt-get download -qq "${pkgs[@]}" >/dev/null 2>"$debs/err"); then
	echo "sysroot: refreshing package lists for $arch"
	refresh_lists
	(cd "$debs" && apt-get download -qq "${pkgs[@]}" >/dev/null 2>"$debs/err") || {
		cat "$debs/err" >&2
		echo "sysroot: could not download ${pkgs[*]} for $arch" >&2
		exit 1
	}
fi
for deb in "$debs"/*.deb; do
	dpkg -x "$deb" "$dir"
done
echo "$want" >"$dir/.sysroot-stamp"
echo "sysroot: $dir has ${#pkgs[@]} $arch packages"
