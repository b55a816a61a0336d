#!/usr/bin/env bash
# package.sh — `make package`: Debian packages of overcloud in build/packages/,
# built with dpkg-deb from what `make build` / `make agents` made:
#   overcloud-tower  amd64, arm64 (the arm64 tower is cross-built here, in
#                    build/cross-tower-aarch64, against a sysroot of Debian's
#                    arm64 -dev packages and their libraries' dependencies)
#       /usr/bin/tower, the unit overcloud-tower.service, /etc/overcloud/tower.conf
#       (conffile), state in /var/lib/overcloud owned by the system user
#       `overcloud` (made in postinst), the three static agents the tower
#       serves (/usr/lib/overcloud/agents/overcloud-agent-<arch>), roles and
#       patterns and the web console (web/) in /usr/share/overcloud/
#   overcloud-agent  amd64, arm64, armhf: the static agent + its unit
# Then lintian checks each: an error fails the build; warnings are listed.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/packages
STAGE=build/packages/stage
PKG=packaging
upstream=$(sed -n 's/^set(OC_VERSION "\(.*\)")$/\1/p' CMakeLists.txt)
version="$upstream-1"
# Reproducible: dates and mtimes come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
maintainer="overcloud maintainers <maintainers@users.noreply.b-seed-7909a157.example>"

for f in build/bin/tower build/agents/overcloud-agent-x86_64 build/agents/overcloud-agent-aarch64 \
	build/agents/overcloud-agent-armv7; do
	[ -f "$f" ] || { echo "package: $f missing (make build agents)" >&2; exit 1; }
done

# --- the arm64 tower: cross-built like the agents, but linked dynamically
# against Debian's arm64 libraries, which the package then depends on ---
TOWER_DEV_PACKAGES=(libsqlite3-dev libpq-dev libjansson-dev libcurl4-openssl-dev libssl-dev libfyaml-dev
	libmbedtls-dev libevent-dev libmsgpack-dev)
TOWER_LIBRARIES="libsqlite3-0 libpq5 libjansson4 libcurl4 libssl3 libfyaml0 libmbedtls14 libmbedx509-1 libmbedcrypto7
	libevent-core-2.1-7 libevent-extra-2.1-7 libmsgpackc2"
SYSROOT_DEPS_OF=$TOWER_LIBRARIES bash "$PKG/sysroot.sh" arm64 build/sysroot/arm64-tower \
	"${TOWER_DEV_PACKAGES[@]}"
if [ ! -f build/cross-tower-aarch64/CMakeCache.txt ]; then
	cmake -S . -B build/cross-tower-aarch64 -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-aarch64.cmake" \
		-DOC_SYSROOT="$PWD/build/sysroot/arm64-tower" -DOC_TESTS=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build/cross-tower-aarch64 -j "$(nproc)" --target tower -- --no-print-directory >/dev/null

rm -rf "$OUT"
mkdir -p "$OUT" "$STAGE"

# common_files ROOT PKG: copyright, changelog and README every package has.
common_files() {
	local root=$1 pkg=$2 doc="$1/usr/share/doc/$2"
	install -d -m 0755 "$doc"
	install -m 0644 "$PKG/deb/copyright" "$doc/copyright"
	sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$(date -R -u -d "@$SOURCE_DATE_EPOCH")/" \
		"$PKG/deb/changelog" | gzip -9n >"$doc/changelog.Debian.gz"
	chmod 0644 "$doc/changelog.Debian.gz"
	install -m 0644 README.md "$doc/README.md"
	# What lintian flags on purpose (static agents), each with its reason.
	install -d -m 0755 "$root/usr/share/lintian/overrides"
	install -m 0644 "$PKG/deb/$pkg/lintian-overrides" "$root/usr/share/lintian/overrides/$pkg"
}

# scripts ROOT PKG: the maintainer scripts of PKG.
scripts() {
	local s
	install -d -m 0755 "$1/DEBIAN"
	for s in postinst prerm postrm; do
		install -m 0755 "$PKG/deb/$2/$s" "$1/DEBIAN/$s"
	done
}

# finish ROOT PKG ARCH DEPENDS [RECOMMENDS]: control, md5sums, the .deb.
finish() {
	local root=$1 pkg=$2 arch=$3 depends=$4 recommends=${5:-} size desc
	size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
	case $pkg in
	overcloud-tower) desc="overcloud tower: one call makes a Kubernetes environment on your clouds
 The tower daemon, CLI and REST API of overcloud. It acquires VMs from the
 clouds you already have (OpenStack, AWS, or this host), and drives the small
 static overcloud-agent on every node over mutually authenticated TLS to
 build, and later remove, a ready micro-service environment: a DevOps Post,
 logical clusters, a data lake and the Visible Fabric.
 .
 It ships the static agents for x86_64, aarch64 and armv7 that new nodes and
 Raspberry Pis download from it." ;;
	overcloud-agent) desc="overcloud agent: runs a node's tasks for the overcloud tower
 The small static agent of overcloud. It dials out to the tower over
 mutually authenticated TLS, enrolls with a one-time join token, then runs
 the role tasks the tower sends and streams their logs and results back.
 .
 Join once with 'overcloud-agent join --tower HOST:PORT --token T
 --ca-hash sha256:HEX --state /var/lib/overcloud-agent'; the unit
 overcloud-agent.service keeps it running from then on." ;;
	esac
	{
		echo "Package: $pkg"
		echo "Version: $version"
		echo "Architecture: $arch"
		echo "Maintainer: $maintainer"
		echo "Installed-Size: $size"
		[ -n "$depends" ] && echo "Depends: $depends"
		[ -n "$recommends" ] && echo "Recommends: $recommends"
		echo "Section: admin"
		echo "Priority: optional"
		echo "Description: $desc"
	} >"$root/DEBIAN/control"
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0 md5sum) >"$root/DEBIAN/md5sums"
	chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
	[ -f "$root/DEBIAN/conffiles" ] && chmod 0644 "$root/DEBIAN/conffiles"
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	dpkg-deb --root-owner-group -Zxz --build "$root" "$OUT/${pkg}_${version}_$arch.deb" >/dev/null
	echo "package: $OUT/${pkg}_${version}_$arch.deb"
}

# --- overcloud-agent: amd64, arm64, armhf ---
for target in amd64:x86_64 arm64:aarch64 armhf:armv7; do
	IFS=: read -r deb arch <<<"$target"
	root="$STAGE/overcloud-agent_$deb"
	install -d -m 0755 "$root/usr/bin" "$root/lib/systemd/system"
	install -m 0755 "build/agents/overcloud-agent-$arch" "$root/usr/bin/overcloud-agent"
	install -m 0644 "$PKG/overcloud-agent.service" "$root/lib/systemd/system/overcloud-agent.service"
	common_files "$root" overcloud-agent
	scripts "$root" overcloud-agent
	# Static: it needs nothing from the node.
	finish "$root" overcloud-agent "$deb" ""
done

# --- overcloud-tower: amd64, and arm64 when its tower was cross-built ---
# The tower's shared-library dependencies, from dpkg-shlibdeps on the amd64
# build; Debian's arm64 libraries have the same package names and versions.
shlibdeps() {
	local tmp
	tmp=$(mktemp -d)
	mkdir -p "$tmp/debian"
	printf 'Source: overcloud\n\nPackage: overcloud-tower\nArchitecture: any\n' >"$tmp/debian/control"
	cp build/bin/tower "$tmp/tower"
	(cd "$tmp" && dpkg-shlibdeps -O tower 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
	rm -rf "$tmp"
}
tower_depends="$(shlibdeps), adduser"

for target in amd64:build/bin/tower:strip arm64:build/cross-tower-aarch64/bin/tower:aarch64-linux-gnu-strip; do
	IFS=: read -r deb bin strip <<<"$target"
	root="$STAGE/overcloud-tower_$deb"
	install -d -m 0755 "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/overcloud" \
		"$root/usr/lib/overcloud/agents" "$root/usr/share/overcloud" "$root/usr/lib/tmpfiles.d"
	"$strip" --strip-unneeded -o "$root/usr/bin/tower" "$bin"
	chmod 0755 "$root/usr/bin/tower"
	for arch in x86_64 aarch64 armv7; do
		install -m 0755 "build/agents/overcloud-agent-$arch" \
			"$root/usr/lib/overcloud/agents/overcloud-agent-$arch"
	done
	for d in roles patterns cloud-init web; do
		src=tower/$d
		[ "$d" = cloud-init ] && src=cloud-init
		[ -d "$src" ] || continue
		cp -R "$src" "$root/usr/share/overcloud/$d"
	done
	find "$root/usr/share/overcloud" -type d -exec chmod 0755 {} +
	find "$root/usr/share/overcloud" -type f -exec chmod go-w,a+r {} +
	install -m 0644 "$PKG/tower.conf" "$root/etc/overcloud/tower.conf"
	install -m 0644 "$PKG/overcloud-tower.service" "$root/lib/systemd/system/overcloud-tower.service"
	install -m 0644 "$PKG/overcloud-tower.tmpfiles" "$root/usr/lib/tmpfiles.d/overcloud-tower.conf"
	common_files "$root" overcloud-tower
	scripts "$root" overcloud-tower
	echo /etc/overcloud/tower.conf >"$root/DEBIAN/conffiles"
	finish "$root" overcloud-tower "$deb" "$tower_depends" "overcloud-agent (= $version)"
done

# --- lintian: errors fail the build, warnings are shown ---
if command -v lintian >/dev/null; then
	lintian --tag-display-limit 0 "$OUT"/*.deb 2>&1 |
		grep -v "running with root privileges" >"$OUT/lintian.txt" || true
	sed 's/^/lintian: /' "$OUT/lintian.txt"
	if grep -q '^E:' "$OUT/lintian.txt"; then
		echo "package: lintian found errors" >&2
		exit 1
	fi
else
	echo "package: lintian is not installed (packaging/deps.sh installs it)" >&2
	exit 1
fi
rm -rf "$STAGE"
