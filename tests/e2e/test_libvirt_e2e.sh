#!/usr/bin/env bash
# The whole path on real VMs (issue 19 item 3): a private libvirtd
# (tests/integration/libvirt_env.sh: its own network namespace, runtime dirs,
# an isolated DHCP network and a dir pool), a tower in that namespace with
# the static x86_64 agent as an artifact and [libvirt] pointing at the image
# of `make vm-image`; `tower create --provider libvirt --number 1 --pattern
# demo` boots 2 VMs under qemu (TCG: no KVM here). In each VM the real
# cloud-init reads the provider's NoCloud seed, downloads the agent from the
# tower over TLS, checks its sha256 and joins; the demo roles run on the VMs
# and the OverCloud is ready. Asserted on the tower's state (nodes, steps,
# the demo's outputs) and on each VM's serial log. `tower delete` leaves no
# domain and no volume; after libvirt_env_down no network, netns or process
# of the test is left. The phases' durations are printed, never asserted.
# Run by `make e2e` (tens of minutes under TCG); needs root, libvirtd, qemu,
# build/vm-image (make vm-image) and build/agents (make agents).
. "$(dirname "$0")/../integration/lib.sh"

[ "$(id -u)" = 0 ] || { echo "skipped: needs root (libvirtd, network namespaces)"; exit 0; }
IMG_DIR=${OC_VM_IMAGE_DIR:-$REPO/build/vm-image}
for f in debian-12-amd64.qcow2 vmlinuz initrd.img; do
	[ -s "$IMG_DIR/$f" ] || fail "no $IMG_DIR/$f (make vm-image)"
done
for tool in libvirtd virsh qemu-system-x86_64 dnsmasq ip; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (bash packaging/deps.sh test)"
done
X86_AGENT=${OC_AGENT_X86_64:-$REPO/build/agents/overcloud-agent-x86_64}
# make e2e makes build/agents; build/bin's agent is static too (make build).
[ -x "$X86_AGENT" ] || X86_AGENT=$AGENT
# The VMs' size: 1 vCPU (TCG emulates one thread per vCPU on 2 shared cores)
# and little memory.
VM_SIZE=${OC_E2E_VM_SIZE:-1c448m}

. "$REPO/tests/integration/libvirt_env.sh"

t0=$(date +%s)
lap=$t0
# phase NAME: prints how long the phase that ends here took (informational).
phase() {
	local now
	now=$(date +%s)
	printf '  phase %-28s %4d s (total %d s)\n' "$1" $((now - lap)) $((now - t0))
	lap=$now
}

libvirt_env_up || fail "the private libvirtd did not come up"
phase "libvirtd, network, pool"
# The network, pool and libvirtd names of this run, to look for leftovers at the end.
NET=$OC_LIBVIRT_NETWORK NETNS=$OC_LIBVIRT_NETNS LVDIR=$OC_LIBVIRT_DIR LVPID=$OC_LIBVIRT_PID

# The tower runs in the libvirt network namespace, where the VMs' bridge is:
# lib.sh's start_tower and tower_cli run $TOWER.
cat >"$T/tower-in-ns" <<EOF
#!/bin/sh
exec ip netns exec $OC_LIBVIRT_NETNS "$TOWER" "\$@"
EOF
chmod 755 "$T/tower-in-ns"
TOWER=$T/tower-in-ns
mkdir -p "$T/artifacts"
cp "$X86_AGENT" "$T/artifacts/overcloud-agent-x86_64"
cat >"$T/tower.conf" <<EOF
[libvirt]
uri = $OC_LIBVIRT_URI
base_image = $IMG_DIR/debian-12-amd64.qcow2
kernel = $IMG_DIR/vmlinuz
initrd = $IMG_DIR/initrd.img
cmdline = root=/dev/vda console=ttyS0 net.ifnames=0
pool = $OC_LIBVIRT_POOL
network = $OC_LIBVIRT_NETWORK
arch = x86_64
serial_log_dir = $T/serial
EOF
mkdir -p "$T/serial"
start_tower t --api "$OC_LIBVIRT_HOST_IP:0" --agents "$OC_LIBVIRT_HOST_IP:0" --advertise "$OC_LIBVIRT_HOST_IP" \
	--config "$T/tower.conf" --artifacts "$T/artifacts" --cloud-init "${OC_CLOUD_INIT_DIR:-$REPO/cloud-init}"
phase "tower"

# ---- create: 2 VMs boot, enroll, run the demo ----
tower_cli t create --provider libvirt --number 1 --pattern demo \
	--size "$VM_SIZE" --detach >"$T/create.out" 2>&1 ||
	fail "create: $(cat "$T/create.out")"
id=$(grep -o 'oc-[0-9a-f]*' "$T/create.out" | head -n 1)
[ -n "$id" ] || fail "no overcloud id in: $(cat "$T/create.out")"
domains() { virsh_lv list --all --name | grep .; }
# wait_for WHAT SECONDS CMD...: lib.sh's wait_until, polling every 2 s: the
# VMs need the CPU more than the test does.
wait_for() {
	local what=$1 secs=$2 deadline
	shift 2
	deadline=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || { echo "gave up waiting for: $what" >&2; return 1; }
		sleep 2
	done
}
# count_is N CMD...: CMD prints N lines.
count_is() {
	local n=$1
	shift
	[ "$("$@" | grep -c .)" = "$n" ]
}
connected_nodes() { tower_cli t nodes -o json | jq -r '.[] | select(.state == "connected") | .id'; }
oc_settled() { ! oc_status_is t "$id" creating; }
wait_for "2 domains defined" 600 count_is 2 domains ||
	fail "domains: $(domains) ($(oc_field t "$id" .status))"
phase "acquire (2 domains defined)"
# Both enrolled, or the create gave up (the provider's enroll timeout).
enrolled_or_ended() { count_is 2 connected_nodes || oc_settled; }
wait_for "both nodes enrolled" 3600 enrolled_or_ended &&
	count_is 2 connected_nodes ||
	fail "the VMs did not enroll ($(oc_field t "$id" .status): $(oc_field t "$id" .error)): $(tower_cli t nodes -o json | jq -c .)"
phase "boot + cloud-init + enroll"
# ---- each VM's serial log ----
for dom in $(domains); do
	log=$T/serial/$dom-serial.log
	[ -s "$log" ] || fail "$dom has no serial log $log: $(ls "$T/serial")"
	grep -qaE 'Cloud-init v\. .* finished at .* Datasource DataSourceNoCloud' "$log" ||
		fail "$dom: cloud-init did not finish from the NoCloud seed: $(tail -n 20 "$log")"
	grep -qa 'overcloud-install-agent: installed /usr/local/bin/overcloud-agent (sha256' "$log" ||
		fail "$dom: the agent was not installed: $(grep -a overcloud "$log" | tail -n 10)"
	grep -qa 'overcloud-agent info: enrolled as node n-' "$log" ||
		fail "$dom: the agent did not enroll: $(grep -a overcloud "$log" | tail -n 10)"
	# The installer says so once systemctl has started the agent, which may be
	# after the agent's connection reached the tower.
	wait_for "$dom: the installer's last word" 300 \
		grep -qa 'overcloud-install-agent: overcloud-agent enabled and started' "$log" ||
		fail "$dom: the agent was not started: $(grep -a overcloud "$log" | tail -n 10)"
	cp "$log" "$T/serial-$dom.log"
done
pass "serial logs: cloud-init finished (NoCloud), overcloud-install-agent installed the agent, joined, started it"

wait_for "overcloud $id settles" 1800 oc_settled ||
	fail "still creating: $(tower_cli t show "$id" -o json | jq -c '.steps')"
phase "demo roles"
oc=$(tower_cli t show "$id" -o json)
[ "$(jq -r .status <<<"$oc")" = ready ] ||
	fail "status $(jq -r .status <<<"$oc"): $(jq -c '.steps' <<<"$oc")"
[ "$(jq '.nodes | length' <<<"$oc")" = 2 ] || fail "nodes: $(jq -c .nodes <<<"$oc")"
[ "$(jq '[.steps[] | select(.dag == "create" and .state != "done")] | length' <<<"$oc")" = 0 ] ||
	fail "steps not done: $(jq -c '.steps' <<<"$oc")"
# The nodes are the VMs: x86_64, addresses of the libvirt network.
[ "$(jq '[.nodes[] | select(.address | startswith("10.233.0."))] | length' <<<"$oc")" = 2 ] ||
	fail "node addresses not on the libvirt network: $(jq -c '[.nodes[].address]' <<<"$oc")"
[ "$(jq '[.nodes[].address] | unique | length' <<<"$oc")" = 2 ] ||
	fail "the VMs share an address: $(jq -c '[.nodes[].address]' <<<"$oc")"
[ "$(tower_cli t nodes -o json | jq '[.[] | select(.arch == "x86_64")] | length')" = 2 ] ||
	fail "nodes' arch: $(tower_cli t nodes -o json)"
# The demo's work: the post's proof service on its VM's address, the cluster
# node registered with it, the post's check of it.
post_ip=$(jq -r '.devops_post // empty' <<<"$oc")
[ -n "$post_ip" ] || fail "no devops_post address: $(jq -c .devops_post <<<"$oc")"
tower_cli t logs "$id" --step post-secret >"$T/post-secret.log" 2>&1 || fail "logs post-secret"
grep -q "proof service up on $post_ip:" "$T/post-secret.log" ||
	fail "post-secret: $(tail -n 5 "$T/post-secret.log")"
cluster_ip=$(jq -r '.logical_cluster[0] // empty' <<<"$oc")
tower_cli t logs "$id" --step cluster-join >"$T/cluster-join.log" 2>&1 || fail "logs cluster-join"
grep -q "$cluster_ip verified the post at $post_ip:[0-9]* and registered" "$T/cluster-join.log" ||
	fail "cluster-join: $(tail -n 5 "$T/cluster-join.log")"
tower_cli t logs "$id" --step check >"$T/check.log" 2>&1 || fail "logs check"
grep -q "1 of 1 cluster nodes proved the shared secret to the post at $post_ip:" "$T/check.log" ||
	fail "check: $(tail -n 5 "$T/check.log")"
pass "create: 2 VMs booted under TCG, enrolled from cloud-init, demo ran, $id ready ($(jq -c '[.nodes[].address]' <<<"$oc"))"

# ---- delete: nothing of the OverCloud left in libvirt ----
tower_cli t delete "$id" >"$T/delete.out" 2>&1 || fail "delete: $(cat "$T/delete.out")"
oc_status_is t "$id" deleted || fail "status after delete: $(oc_field t "$id" .status)"
phase "delete"
[ -z "$(virsh_lv list --all --name | grep .)" ] || fail "domains left: $(virsh_lv list --all)"
[ -z "$(virsh_lv vol-list "$OC_LIBVIRT_POOL" | grep .)" ] ||
	fail "volumes left in $OC_LIBVIRT_POOL: $(virsh_lv vol-list "$OC_LIBVIRT_POOL")"
[ "$(tower_cli t nodes -o json | jq length)" = 0 ] || fail "nodes still listed after delete"
pass "delete: no domain, no volume left; no node listed"

# ---- the test's own libvirt is gone too ----
[ "$(virsh_lv net-list --all --name | grep .)" = "$NET" ] ||
	fail "networks besides the test's own: $(virsh_lv net-list --all)"
stop_pid "$(eval echo "\$TOWER_PID_t")"
libvirt_env_down
! ip netns list | grep -qw "$NETNS" || fail "netns $NETNS left"
! kill -0 "$LVPID" 2>/dev/null || fail "libvirtd $LVPID left"
[ ! -e "$LVDIR" ] || fail "$LVDIR left"
! pgrep -f "qemu-system.*$LVDIR|dnsmasq.*$NET" >/dev/null || fail "qemu or dnsmasq left: $(pgrep -af "qemu-system.*$LVDIR|dnsmasq.*$NET")"
phase "teardown"
pass "libvirt_env_down: no network, netns, libvirtd, qemu or dnsmasq left"
