#!/usr/bin/env bash
# make vm-image: a small Debian 12 amd64 VM image for the libvirt provider,
# from Debian packages only (debootstrap from the Debian mirror), in
# build/vm-image/:
#   debian-12-amd64.qcow2   the root file system: ext4 on the whole disk
#                           (root=/dev/vda, no partition table, no bootloader)
#   vmlinuz, initrd.img     for a direct kernel boot (the [libvirt] keys
#                           kernel, initrd, cmdline)
#   image.txt               what they are: the inputs' key, the packages, sizes
# cloud-init reads a NoCloud seed only (datasource_list: [ NoCloud, None ]) and
# renders the seed's network-config for systemd-networkd. The image is made
# without loop mounts (mkfs.ext4 -d ROOT, then qemu-img convert) and is kept:
# a second run with the same inputs (this script, packaging/vm-image/*, the
# mirror, the suite) does nothing.
#
# OC_DEBIAN_MIRROR (http://deb.debian.org/debian) the mirror; OC_VM_IMAGE_DIR
# the output (build/vm-image); OC_VM_IMAGE_SIZE the file system's size (1536M).
# Needs root (debootstrap, chroot), debootstrap, e2fsprogs, qemu-utils.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/packaging/vm-image
MIRROR=${OC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
OUT=${OC_VM_IMAGE_DIR:-$REPO/build/vm-image}
SIZE=${OC_VM_IMAGE_SIZE:-1536M}
IMAGE=debian-12-amd64.qcow2

fail() { echo "vm-image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap and chroot)"
for tool in debootstrap mkfs.ext4 qemu-img sha256sum; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (bash packaging/deps.sh test)"
done

# The key of the inputs: what would change the image.
key=$( {
	sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1
	(cd "$HERE" && find . -type f | LC_ALL=C sort | xargs sha256sum)
	echo "mirror $MIRROR"
	echo "suite $SUITE"
	echo "size $SIZE"
} | sha256sum | cut -d' ' -f1)
if [ -s "$OUT/image.txt" ] && grep -qx "key $key" "$OUT/image.txt" &&
	[ -s "$OUT/$IMAGE" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ]; then
	echo "vm-image: $OUT/$IMAGE is up to date (key ${key:0:12})"
	exit 0
fi

started=$(date +%s)
mkdir -p "$OUT" "$OUT/debs"
WORK=$(mktemp -d "$OUT/work.XXXXXX")
ROOT=$WORK/root
MOUNTS=()
finish() {
	local rc=$? m
	set +e
	for ((m = ${#MOUNTS[@]} - 1; m >= 0; m--)); do
		umount -l "${MOUNTS[m]}" 2>/dev/null
	done
	rm -rf "$WORK"
	exit $rc
}
trap finish EXIT

packages=$(grep -v '^#' "$HERE/packages" | grep . | tr '\n' ' ')
echo "vm-image: debootstrap --variant=minbase $SUITE from $MIRROR"
# --cache-dir keeps the downloaded .debs for the next build of new inputs.
debootstrap --variant=minbase --cache-dir="$OUT/debs" "$SUITE" "$ROOT" "$MIRROR" \
	>"$WORK/debootstrap.log" 2>&1 || fail "debootstrap failed: $(tail -n 20 "$WORK/debootstrap.log")"

# The configuration files, laid over the root before the packages come
# (the initramfs hook is there when the kernel's postinst makes the initrd).
cp -a "$HERE/root/." "$ROOT/"
echo "deb $MIRROR $SUITE main" >"$ROOT/etc/apt/sources.list"
echo debian >"$ROOT/etc/hostname"

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
for m in proc sys dev; do
	mount --bind "/$m" "$ROOT/$m"
	MOUNTS+=("$ROOT/$m")
done
mount --bind "$OUT/debs" "$ROOT/var/cache/apt/archives"
MOUNTS+=("$ROOT/var/cache/apt/archives")
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# No service starts in the chroot while packages are installed.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
echo "vm-image: apt-get install $packages"
# apt resolves what debootstrap's --include cannot (virtual packages such as
# python3-cryptography's python3-cffi-backend-api-*).
{ in_root apt-get update -q && in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Options::=--force-confold $packages; } >"$WORK/apt.log" 2>&1 ||
	fail "apt-get install failed: $(tail -n 20 "$WORK/apt.log")"
rm -f "$ROOT/usr/sbin/policy-rc.d"
: >"$ROOT/etc/resolv.conf"
# Each VM its own machine id: an empty /etc/machine-id is made anew at first
# boot, and D-Bus's copy (dbus's postinst made one) must not seed it, or
# every VM of the image would have the same one, so the same DHCP client id
# (systemd-networkd's DUID comes from it) and the same address.
: >"$ROOT/etc/machine-id"
ln -sf /etc/machine-id "$ROOT/var/lib/dbus/machine-id"
# Units a short-lived VM does not need: apt's and man-db's timers,
# e2scrub, fstrim, the getty on tty1 (the serial console keeps its own).
in_root systemctl disable apt-daily.timer apt-daily-upgrade.timer man-db.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer getty@tty1.service >/dev/null 2>&1 || true
in_root systemctl mask systemd-timesyncd.service >/dev/null 2>&1 || true
in_root systemctl enable systemd-networkd.service >/dev/null 2>&1 || fail "enable systemd-networkd"
# root has no password: the serial console login is not a way in.
in_root passwd -l root >/dev/null
for ((m = ${#MOUNTS[@]} - 1; m >= 0; m--)); do umount "${MOUNTS[m]}"; done
MOUNTS=()

kernel=$(basename "$(ls "$ROOT"/boot/vmlinuz-* | sort -V | tail -n 1)")
kver=${kernel#vmlinuz-}
# The initramfs must find /dev/vda and mount it: each module is in it, or
# built into the kernel.
initrd_files=$(chroot "$ROOT" lsinitramfs "/boot/initrd.img-$kver")
for mod in virtio_pci virtio_blk ext4; do
	grep -q "/$mod\.ko" <<<"$initrd_files" ||
		grep -q "/$mod\.ko" "$ROOT/lib/modules/$kver/modules.builtin" ||
		fail "the initramfs has no $mod"
done
cp "$ROOT/boot/$kernel" "$WORK/vmlinuz"
cp "$ROOT/boot/initrd.img-$kver" "$WORK/initrd.img"

# What a VM never reads: the .deb cache, apt's lists, docs, man pages, locales.
rm -rf "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
	"$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* \
	"$ROOT"/usr/share/info/* "$ROOT"/var/log/*.log "${ROOT:?}"/boot/*
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
dpkg_list=$(chroot "$ROOT" dpkg-query -W -f '${Package} ${Version}\n')

# The file system, without a loop mount, then qcow2 (only used blocks).
mkfs.ext4 -q -F -L root -d "$ROOT" -E root_owner=0:0 "$WORK/root.raw" "$SIZE" >/dev/null ||
	fail "mkfs.ext4 -d"
qemu-img convert -c -O qcow2 "$WORK/root.raw" "$WORK/$IMAGE"
mv "$WORK/$IMAGE" "$WORK/vmlinuz" "$WORK/initrd.img" "$OUT/"
{
	echo "key $key"
	echo "suite $SUITE"
	echo "mirror $MIRROR"
	echo "kernel $kver"
	echo "image $IMAGE $(stat -c %s "$OUT/$IMAGE") bytes, file system $SIZE, root=/dev/vda ext4 LABEL=root"
	echo "cmdline root=/dev/vda console=ttyS0 net.ifnames=0"
	echo "built $(date -u +%FT%TZ) in $(($(date +%s) - started)) s"
	echo "packages:"
	echo "$dpkg_list" | sed 's/^/  /'
} >"$OUT/image.txt"
echo "vm-image: $OUT/$IMAGE ($(du -h "$OUT/$IMAGE" | cut -f1)), vmlinuz, initrd.img ($kver) in $(($(date +%s) - started)) s"
