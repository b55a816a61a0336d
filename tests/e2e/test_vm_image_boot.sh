#!/usr/bin/env bash
# The VM image of `make vm-image` booted as it is, without libvirt: qemu
# (TCG, 384 MiB, direct kernel boot) with a NoCloud seed made by xorriso from
# the user-data that a real tower renders (`tower userdata`). The tower and
# qemu run in a network namespace made here, with only its loopback: the
# guest reaches the tower at 10.0.2.2 through qemu's user-mode network, which
# is that namespace's 127.0.0.1. On the serial log: the kernel booted from
# /dev/vda, cloud-init read the NoCloud seed and its network-config (systemd-
# networkd, DHCP), the agent's installer downloaded the agent over TLS,
# checked its sha256 and joined; then the tower lists the node, connected,
# as x86_64. Prints the boot's phases (informational, never asserted).
# Run by `make e2e` (minutes under TCG); needs root, qemu-system-x86_64,
# xorriso and build/vm-image (make vm-image).
. "$(dirname "$0")/../integration/lib.sh"

[ "$(id -u)" = 0 ] || { echo "skipped: needs root (network namespace)"; exit 0; }
IMG_DIR=${OC_VM_IMAGE_DIR:-$REPO/build/vm-image}
for f in debian-12-amd64.qcow2 vmlinuz initrd.img; do
	[ -s "$IMG_DIR/$f" ] || fail "no $IMG_DIR/$f (make vm-image)"
done
for tool in qemu-system-x86_64 qemu-img xorriso ip; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (bash packaging/deps.sh test)"
done
X86_AGENT=${OC_AGENT_X86_64:-$REPO/build/agents/overcloud-agent-x86_64}
[ -x "$X86_AGENT" ] || X86_AGENT=$AGENT

NS=oc-vmboot-$$
QEMU_PID=
# Every step runs, whatever fails (set -e also holds in an EXIT trap).
ns_down() {
	if [ -n "$QEMU_PID" ]; then
		kill -9 "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
}
# lib.sh's cleanup reads the test's status from $?: the if hands it on
# (a failing command would end the trap under set -e).
trap '_rc=$?; ns_down; if (exit $_rc); then cleanup; else cleanup; fi' EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

# The tower inside the namespace: lib.sh's start_tower and tower_cli run $TOWER.
cat >"$T/tower-in-ns" <<EOF
#!/bin/sh
exec ip netns exec $NS "$TOWER" "\$@"
EOF
chmod 755 "$T/tower-in-ns"
TOWER=$T/tower-in-ns
mkdir -p "$T/artifacts"
cp "$X86_AGENT" "$T/artifacts/overcloud-agent-x86_64"
start_tower t --advertise 10.0.2.2 --artifacts "$T/artifacts" --cloud-init "$REPO/cloud-init"

# The seed: the tower's user-data, a meta-data, a network-config for the NIC.
mkdir -p "$T/seed"
tower_cli t userdata --role edge-worker >"$T/seed/user-data" || fail "tower userdata"
printf 'instance-id: vmboot-%s\nlocal-hostname: vmboot\n' "$$" >"$T/seed/meta-data"
cat >"$T/seed/network-config" <<'EOF'
version: 2
ethernets:
  nic0:
    match:
      macaddress: "52:54:00:0c:00:01"
    set-name: eth0
    dhcp4: true
EOF
xorriso -as mkisofs -quiet -V cidata -J -r -o "$T/seed.iso" "$T/seed" 2>"$T/xorriso.log" ||
	fail "xorriso: $(cat "$T/xorriso.log")"
qemu-img create -q -f qcow2 -F qcow2 -b "$IMG_DIR/debian-12-amd64.qcow2" "$T/disk.qcow2" 4G

started=$(date +%s)
nice ip netns exec "$NS" qemu-system-x86_64 -accel tcg -m 384 -smp 1 -nographic -no-reboot \
	-kernel "$IMG_DIR/vmlinuz" -initrd "$IMG_DIR/initrd.img" \
	-append "root=/dev/vda console=ttyS0 net.ifnames=0 panic=-1" \
	-drive "file=$T/disk.qcow2,if=virtio,format=qcow2" \
	-drive "file=$T/seed.iso,if=ide,media=cdrom,format=raw" \
	-netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:0c:00:01 \
	-serial "file:$T/serial.log" -monitor none -display none </dev/null >"$T/qemu.log" 2>&1 &
QEMU_PID=$!

# phase NAME PATTERN: waits (bounded) for PATTERN on the serial log and
# prints the seconds since qemu started.
phase() {
	wait_until "$1 on the serial log" 900 grep -qE "$2" "$T/serial.log" || {
		tail -n 40 "$T/serial.log" >&2
		fail "no '$1' on the serial log"
	}
	echo "  $(($(date +%s) - started)) s: $1"
}
serial_has() { grep -qE "$1" "$T/serial.log"; }
echo "booting (TCG) ..."
phase "kernel" 'Linux version'
phase "root on /dev/vda" 'EXT4-fs \(vda\)'
phase "cloud-init local (NoCloud)" 'Cloud-init v\. .* running .init-local'
phase "network up (DHCP)" 'ci-info: \| +eth0 +\| +True +\| +10\.0\.2\.'
phase "cloud-init final" 'Cloud-init v\. .* finished at'
phase "agent downloaded" 'overcloud-install-agent: installed /usr/local/bin/overcloud-agent \(sha256'
phase "agent started" 'overcloud-install-agent: overcloud-agent enabled and started'
serial_has 'Cloud-init v\. .* finished at .* Datasource DataSourceNoCloud' ||
	fail "cloud-init did not use the NoCloud seed: $(grep 'Datasource' "$T/serial.log")"
pass "the image booted under TCG, cloud-init ran from the NoCloud seed, the installer got the agent over TLS"

wait_until "the VM's node connected" 600 eval \
	"tower_cli t nodes -o json | jq -e '.[] | select(.arch == \"x86_64\" and .role == \"edge-worker\" and .state == \"connected\")'" ||
	fail "the VM's agent did not connect: $(tower_cli t nodes -o json)"
echo "  $(($(date +%s) - started)) s: node connected"
log_has t "api 127.0.0.1:[0-9]*: agent for x86_64 sent" || fail "the agent did not come from this tower"
pass "the VM's agent enrolled: the tower lists it connected, x86_64, edge-worker"
