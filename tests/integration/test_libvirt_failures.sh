#!/usr/bin/env bash
# The libvirt provider's failure paths against a real libvirtd (a private one:
# libvirt_env.sh): a missing base image, a full pool, a domain that fails to
# start, and domains that boot but never enroll. Each ends in a clear error,
# and nothing of ours is left: no domain, no volume (virsh list --all,
# vol-list), and `tower delete` removes what an OverCloud still had, but never
# a domain tagged with another OverCloud's id.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/libvirt_env.sh"

for tool in virsh libvirtd qemu-img qemu-system-x86_64 dnsmasq isoinfo nsenter; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (bash packaging/deps.sh test)"
done
DIRS=(--roles "$REPO/tests/integration/roles" --patterns "$REPO/tests/integration/patterns")

libvirt_env_up
pass "private libvirtd up: $OC_LIBVIRT_URI, network $OC_LIBVIRT_NETWORK, pool $OC_LIBVIRT_POOL"

# A blank disk: SeaBIOS finds nothing to boot, so the domain runs and never enrolls.
qemu-img create -q -f qcow2 "$T/blank.qcow2" 64M

# lv_conf FILE KEY=VALUE...: a tower.conf whose [libvirt] is this env's, and
# a short enroll wait (TCG: small domains, short tests).
lv_conf() {
	local file=$1
	shift
	{
		echo "[libvirt]"
		echo "uri = $OC_LIBVIRT_URI"
		echo "network = $OC_LIBVIRT_NETWORK"
		echo "pool = $OC_LIBVIRT_POOL"
		echo "base_image = $T/blank.qcow2"
		echo "memory = 128"
		echo "[workflow]"
		echo "enroll_timeout = ${LV_ENROLL_TIMEOUT:-20s}"
	} >"$file"
	local kv
	for kv in "$@"; do
		# later lines win in tower.conf; keys of [libvirt] go under it
		sed -i "/^\[workflow\]/i ${kv%%=*} = ${kv#*=}" "$file"
	done
}

domains() { virsh_lv list --all --name | grep -E '^oc-' || true; }
volumes() {
	local p
	for p in $(virsh_lv pool-list --all --name); do
		virsh_lv pool-refresh "$p" >/dev/null 2>&1 || true
		virsh_lv vol-list "$p" | awk '{print $1}' | grep -E '^oc-' | sed "s|^|$p/|" || true
	done
}
nothing_left() { [ -z "$(domains)$(volumes)" ]; }
assert_nothing_left() {
	nothing_left || fail "$1: left behind: domains [$(domains | tr '\n' ' ')] volumes [$(volumes | tr '\n' ' ')]"
}

# create_fails TOWER OUT: tower create must fail; prints the OverCloud id.
create_fails() {
	local name=$1 out=$2
	if tower_cli "$name" create --provider libvirt --number 1 --pattern noop >"$out" 2>&1; then
		fail "tower create on $name succeeded: $(cat "$out")"
	fi
	grep -o 'oc-[0-9a-f]*' "$out" | head -n 1
}

# ---- a. the base image is missing ----
lv_conf "$T/miss.conf" "base_image=$T/no/such/base.qcow2"
start_tower miss "${DIRS[@]}" --config "$T/miss.conf"
id=$(create_fails miss "$T/miss.out")
[ -n "$id" ] || fail "no id in: $(cat "$T/miss.out")"
grep -q "libvirt: base image $T/no/such/base.qcow2 not found" "$T/miss.out" ||
	fail "no clear error for the missing base image: $(cat "$T/miss.out")"
oc_status_is miss "$id" failed || fail "status: $(oc_field miss "$id" .status)"
assert_nothing_left "missing base image"
tower_cli miss delete "$id" >"$T/miss-delete.out" 2>&1 || fail "delete: $(cat "$T/miss-delete.out")"
assert_nothing_left "missing base image, after tower delete"
pass "a. missing base image: \"$(grep -o 'base image [^:]*not found' "$T/miss.out" | head -n 1)\", nothing made"

# ---- b. the pool is full ----
# A 1 MiB tmpfs in libvirtd's mount namespace, filled to 256 KiB free: room for
# one overlay's header clusters (196 KiB), none for its seed after it.
SMALL=oclv-small
mkdir -p "$OC_LIBVIRT_DIR/small"
libvirt_env_exec mount -t tmpfs -o size=1m,mode=0711 tmpfs "$OC_LIBVIRT_DIR/small"
libvirt_env_exec dd if=/dev/zero of="$OC_LIBVIRT_DIR/small/filler" bs=1k count=768 status=none
virsh_lv pool-define-as "$SMALL" dir --target "$OC_LIBVIRT_DIR/small" >/dev/null
virsh_lv pool-start "$SMALL" >/dev/null
lv_conf "$T/full.conf" "pool=$SMALL"
start_tower full "${DIRS[@]}" --config "$T/full.conf"
id=$(create_fails full "$T/full.out")
grep -q "libvirt: pool $SMALL is full: [0-9]* bytes free, the [a-z]* volume needs [0-9]*: " "$T/full.out" ||
	fail "no clear error for the full pool: $(cat "$T/full.out")"
grep -qi "no space left on device" "$T/full.out" || fail "libvirt's reason is not passed on: $(cat "$T/full.out")"
oc_status_is full "$id" failed || fail "status: $(oc_field full "$id" .status)"
wait_until "the rollback of the full pool's nodes" 30 nothing_left ||
	assert_nothing_left "full pool"
tower_cli full delete "$id" >"$T/full-delete.out" 2>&1 || fail "delete: $(cat "$T/full-delete.out")"
assert_nothing_left "full pool, after tower delete"
pass "b. full pool: \"$(grep -o "pool $SMALL is full: [^:]*" "$T/full.out" | head -n 1)\", rolled back, nothing left"

# ---- c. the domain cannot start (its network does not exist) ----
# The volumes are made before the define: they go when the start fails.
# Its base image is a volume of the pool this time (libvirt gives its size).
cp "$T/blank.qcow2" "$OC_LIBVIRT_POOL_DIR/base-blank.qcow2"
virsh_lv pool-refresh "$OC_LIBVIRT_POOL" >/dev/null
lv_conf "$T/nonet.conf" "network=oclv-no-such-net" "base_image=$OC_LIBVIRT_POOL_DIR/base-blank.qcow2"
start_tower nonet "${DIRS[@]}" --config "$T/nonet.conf"
id=$(create_fails nonet "$T/nonet.out")
grep -q "libvirt: starting domain $id-[a-z]*-0: .*oclv-no-such-net" "$T/nonet.out" ||
	fail "no clear error for the missing network: $(cat "$T/nonet.out")"
wait_until "the rollback of the unstartable nodes" 30 nothing_left ||
	assert_nothing_left "domain start failure"
tower_cli nonet delete "$id" >"$T/nonet-delete.out" 2>&1 || fail "delete: $(cat "$T/nonet-delete.out")"
assert_nothing_left "domain start failure, after tower delete"
pass "c. a domain that cannot start: libvirt's reason passed on, its volumes and definition removed"

# ---- d. domains that boot but never enroll ----
lv_conf "$T/slow.conf"
start_tower slow "${DIRS[@]}" --config "$T/slow.conf"
tower_cli slow create --provider libvirt --number 1 --pattern noop >"$T/slow.out" 2>&1 &
create_pid=$!
PIDS+=("$create_pid")
running() { [ "$(virsh_lv list --state-running --name | grep -c '^oc-')" = 2 ]; }
running_or_done() { running || ! kill -0 "$create_pid"; }
wait_until "2 running domains" 60 running_or_done
running || fail "domains not running: [$(virsh_lv list --all)] $(cat "$T/slow.out")"
dom=$(virsh_lv list --name | grep '^oc-' | head -n 1)
id=${dom%-*-*}
# the tag, the size, the disks and the serial log
virsh_lv metadata "$dom" --uri https://overcloud.dev/xmlns/libvirt/1 >"$T/meta.xml"
grep -q "<overcloud_id>$id</overcloud_id>" "$T/meta.xml" || fail "metadata: $(cat "$T/meta.xml")"
virsh_lv dumpxml "$dom" >"$T/dom.xml"
grep -q "<memory unit='KiB'>131072</memory>" "$T/dom.xml" || fail "memory: $(grep memory "$T/dom.xml")"
grep -q "<target dev='vda' bus='virtio'/>" "$T/dom.xml" || fail "no virtio disk"
grep -q "<model type='virtio'/>" "$T/dom.xml" || fail "no virtio nic"
serial=$OC_LIBVIRT_QEMU_LOG_DIR/$dom-serial.log
[ -f "$serial" ] || fail "no serial log at $serial"
[ "$(stat -c %a "$serial")" = 600 ] || fail "the serial log is mode $(stat -c %a "$serial")"
seed=$OC_LIBVIRT_POOL_DIR/$dom-seed.iso
[ "$(stat -c %a "$seed")" = 600 ] || fail "the seed volume is mode $(stat -c %a "$seed")"
isoinfo -d -i "$seed" | grep -qx 'Volume id: cidata' || fail "the seed is not labelled cidata"
token=$(isoinfo -R -i "$seed" -x /user-data | grep -o 'token = [0-9a-f.]*' | head -n 1 | sed 's/token = //')
[ ${#token} -gt 20 ] || fail "no join token in the seed's user-data"
wait "$create_pid" && fail "tower create succeeded for domains that never enroll: $(cat "$T/slow.out")"
grep -q "nodes never enrolled within 20s: $id-" "$T/slow.out" ||
	fail "no clear error for the nodes that never enrolled: $(cat "$T/slow.out")"
oc_status_is slow "$id" failed || fail "status: $(oc_field slow "$id" .status)"
# no secret in what we keep
grep -rlF -- "$token" "$T"/*.log "$T"/*.out "$OC_LIBVIRT_DIR"/var/log 2>/dev/null &&
	fail "the join token is in a log"
tower_cli slow delete "$id" >"$T/slow-delete.out" 2>&1 || fail "delete: $(tail -n 5 "$T/slow-delete.out" | tr "\n" " ")"
oc_status_is slow "$id" deleted || fail "status after delete: $(oc_field slow "$id" .status)"
assert_nothing_left "never enrolled, after tower delete"
pass "d. never enrolls: \"$(grep -o 'nodes never enrolled[^"]*' "$T/slow.out" | head -n 1 | cut -c1-60)...\"; tower delete left no domain or volume; no token in any log"

# ---- e. a domain tagged with another OverCloud's id is never removed ----
LV_ENROLL_TIMEOUT=5s lv_conf "$T/tag.conf"
start_tower tag "${DIRS[@]}" --config "$T/tag.conf"
id=$(create_fails tag "$T/tag.out")
grep -q "nodes never enrolled within 5s" "$T/tag.out" || fail "tag: $(cat "$T/tag.out")"
dom=$id-post-0
virsh_lv metadata "$dom" --uri https://overcloud.dev/xmlns/libvirt/1 --key overcloud --config \
	--set "<node><overcloud_id>oc-someone-else</overcloud_id></node>" >/dev/null
if tower_cli tag delete "$id" >"$T/tag-delete.out" 2>&1; then
	fail "delete removed a domain tagged with another id: $(cat "$T/tag-delete.out")"
fi
grep -q "libvirt: domain $dom is not tagged with overcloud id $id: not removing it" "$T/tag-delete.out" ||
	fail "no clear refusal: $(tail -n 5 "$T/tag-delete.out")"
virsh_lv dominfo "$dom" >/dev/null || fail "the other's domain $dom was removed"
domains | grep -qv "^$dom\$" && fail "besides $dom, left: $(domains | tr '\n' ' ')"
pass "e. a domain tagged with another OverCloud's id: the delete refuses it by name and leaves it; its sibling is removed"
virsh_lv destroy "$dom" >/dev/null
virsh_lv undefine "$dom" >/dev/null

libvirt_env_down
ip netns list | grep -qw "$OC_LIBVIRT_NETNS" && fail "netns left"
pass "libvirt_env_down: libvirtd, its netns and its temp dir gone"
