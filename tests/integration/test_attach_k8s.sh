#!/usr/bin/env bash
# The k8s pattern's attach and destroy DAGs through the real tower and
# agents: a k8s OverCloud of 1 post + 1 worker on the local provider, whose
# role scripts run against the fakes of the role tests (kubeadm, the model
# kubectl, apt-get, systemctl... and a shared fake cluster), in the lab of
# tests/roles/k8s_lab.sh (a loopback mirror given as the pattern inputs
# apt_mirror and manifest_base_url), gets an edge device attached. Least
# privilege: the edge device joins with the attach's own bootstrap token,
# its label and taint set at registration, and no admin kubeconfig reaches
# it or the worker (no input, no file); delete drains it on the post (by
# its address), resets it before the master, and leaves it enrolled. The
# Rook DataLake's steps are stubbed here (test_rook_datalake.sh covers
# them): the stub checks it runs on the post with the post's own admin.conf.
. "$(dirname "$0")/lib.sh"

ROLE_TESTS="$REPO/tests/roles"
SHIMS_ROOT="$T/nodes"
mkdir -p "$T/bin" "$SHIMS_ROOT"
while read -r tool; do
	path=$(type -P "$tool") || continue
	ln -s "$path" "$T/bin/$tool"
done <"$ROLE_TESTS/tools"
# The local provider's nodes live in network namespaces on the tower's
# bridge (10.213.0.1 as root); they reach the mirror there.
if [ "$(id -u)" = 0 ]; then LAB_BIND=0.0.0.0 LAB_HOST=10.213.0.1; fi
# shellcheck source=../roles/k8s_lab.sh
. "$ROLE_TESTS/k8s_lab.sh"
for tool in python3 node; do # the model kubectl, the fake containerd's config check
	path=$(type -P "$tool") || continue
	ln -sf "$path" "$T/bin/$tool"
done

# The shipped roles, with a preamble in their shared lib.sh (which every role
# includes and its scripts source first) that puts the node on its own fakes
# (calls log, a Debian 12 sysroot, home, state) under $SHIMS_ROOT/<node id>,
# all nodes on one fake cluster, and a PATH of the fakes and harmless tools.
cp -r "$REPO/tower/roles" "$T/roles"
lab_pin "$T/roles/_shared/k8s-release" "$T/roles/k8s-master/artifacts"
for step in apply remove preserve; do
	[ -f "$T/roles/rook-datalake/$step" ] || continue
	cat >"$T/roles/rook-datalake/$step" <<'STUB'
#!/bin/sh
# stub of rook-datalake for test_attach_k8s: runs on the post, with its admin.conf
set -eu
. "${OVERCLOUD_ROLE_DIR:-$(dirname "$0")}/lib.sh"
need_agent_env
[ -f "$ROOT/etc/kubernetes/admin.conf" ] || die "no admin.conf on this node"
kubectl --kubeconfig "$ROOT/etc/kubernetes/admin.conf" get --raw=/readyz >/dev/null || die "the API does not answer"
progress 100 "datalake stub"
STUB
done
lib="$T/roles/_shared/lib.sh"
{
	cat <<PREAMBLE
# test_attach_k8s: this node runs on the fakes
oc_node_dir="$SHIMS_ROOT/\${OVERCLOUD_NODE_ID:?}"
if [ ! -d "\$oc_node_dir/root" ]; then
	mkdir -p "\$oc_node_dir/root/etc/apt/sources.list.d" "\$oc_node_dir/root/usr/share/keyrings" \\
		"\$oc_node_dir/root/sys/fs/cgroup" "\$oc_node_dir/home" "\$oc_node_dir/installed" "\$oc_node_dir/state"
	printf 'Types: deb\\nURIs: http://deb.debian.org/debian\\nSuites: bookworm\\nComponents: main\\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\\n' \\
		>"\$oc_node_dir/root/etc/apt/sources.list.d/debian.sources"
	echo stand-in >"\$oc_node_dir/root/usr/share/keyrings/debian-archive-keyring.gpg"
	echo "cpuset cpu io memory pids" >"\$oc_node_dir/root/sys/fs/cgroup/cgroup.controllers"
fi
PATH="$ROLE_TESTS/shims:\$oc_node_dir/installed:$T/bin"
HOME="\$oc_node_dir/home"
OC_SYSROOT="\$oc_node_dir/root"
SHIM_LOG="\$oc_node_dir/calls.log"
SHIM_STATE="\$oc_node_dir/state"
SHIM_INSTALLED="\$oc_node_dir/installed"
SHIM_HOSTNAME="host-\$OVERCLOUD_NODE_ID"
SHIM_FRESH_TOKENS=1
SHIM_CLUSTER="$SHIMS_ROOT/cluster"
SHIM_APT_SIGNER_K8S="$LAB_FPR"
SHIM_APT_SIGNER_DOCKER="$LAB_FPR"
export PATH HOME OC_SYSROOT SHIM_LOG SHIM_STATE SHIM_INSTALLED SHIM_HOSTNAME SHIM_FRESH_TOKENS
export SHIM_CLUSTER SHIM_APT_SIGNER_K8S SHIM_APT_SIGNER_DOCKER
PREAMBLE
	cat "$lib"
} >"$lib.new"
mv "$lib.new" "$lib"
DATA_DIRS=(--roles "$T/roles" --patterns "$REPO/tower/patterns")
start_tower t --agents 0.0.0.0:0
EDGE_HOST=127.0.0.1
[ "$(id -u)" = 0 ] && EDGE_HOST=10.213.0.1
calls() { cat "$SHIMS_ROOT/$1/calls.log"; }

tower_cli t create --provider local --number 1 --pattern k8s \
	--input "apt_mirror=$LAB_BASE" --input "manifest_base_url=$LAB_BASE" >"$T/create.out" 2>&1 ||
	fail "create k8s: $(tail -n 20 "$T/create.out")"
id=$(grep -o 'oc-[0-9a-f]*' "$T/create.out" | head -n 1)
post=$(oc_field t "$id" '.nodes[] | select(.group == "post") | .node_id')
worker=$(oc_field t "$id" '.nodes[] | select(.group == "cluster") | .node_id')
calls "$post" | grep -qx "kubeadm token create --ttl 24h --print-join-command" ||
	fail "the create's master did not make a join command: $(calls "$post")"
[ -f "$SHIMS_ROOT/cluster/nodes/host-$worker" ] || fail "the worker is not in the cluster"
grep -q "GET /pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key" "$T/http.log" ||
	fail "the pattern's apt_mirror input did not reach the roles"
pass "k8s OverCloud $id ready on the fakes, packages and manifests through the pattern's mirror inputs"

# An edge device joins with the line `tower token create` printed.
join=$(tower_cli t token create --role edge-worker -o json | jq -r .join)
# shellcheck disable=SC2086 # the printed line's words are the arguments
"$AGENT" join --tower "$EDGE_HOST:$AGENT_PORT_t" ${join#overcloud-agent join --tower * } \
	--state "$T/edge" >>"$T/edge.log" 2>&1 &
PIDS+=($!)
edge_pid=$!
wait_until "edge enrolled" 30 test -s "$T/edge/agent.conf" || fail "edge did not join"
edge=$(node_id_of edge)
wait_until "edge connected" 30 node_is t "$edge" connected || fail "edge offline"

tower_cli t attach "$id" "$edge" >"$T/attach.out" 2>&1 || fail "attach: $(cat "$T/attach.out")"
oc=$(tower_cli t show "$id" -o json)
[ "$(jq -r '.status + " " + (.attaching | tostring)' <<<"$oc")" = "ready false" ] ||
	fail "after attach: $(jq -c '{status, error, steps}' <<<"$oc")"
for s in credentials edge edge-device fabric-edge; do
	[ "$(jq -r --arg s "$s" '.steps[] | select(.dag == "attach" and .name == $s) | .state' <<<"$oc")" = done ] ||
		fail "attach step $s: $(jq -c '.steps' <<<"$oc")"
done
# the node is x86_64: edge-worker ran there, edge-device (armv7 only) did not
calls "$edge" | grep -q '^kubeadm join' || fail "edge-worker did not run on the x86_64 edge node"
calls "$edge" | grep -q 'web.listen-address' && fail "edge-device ran on an x86_64 node"
# The credentials step made the second join command on the post (15 minutes);
# the edge node joined with exactly that one, not the create's.
calls "$post" | grep -x "kubeadm token create --ttl [0-9a-z]* --print-join-command" >"$T/tokens"
[ "$(sed -n 2p "$T/tokens")" = "kubeadm token create --ttl 15m --print-join-command" ] ||
	fail "the post's token calls: $(cat "$T/tokens")"
calls "$post" | grep -c '^kubeadm init' | grep -qx 1 || fail "the credentials step ran kubeadm init again"
n="$SHIMS_ROOT/cluster/nodes/host-$edge"
grep -q '^labels overcloud.io/edge=true' "$n" && grep -qx 'taints overcloud.io/edge=true:NoSchedule ' "$n" ||
	fail "edge label/taint at registration: $(cat "$n")"
tail -n 1 "$SHIMS_ROOT/cluster/tokens" | grep -qx 'abcdef.0000000000000002' || fail "tokens: $(cat "$SHIMS_ROOT/cluster/tokens")"
calls "$edge" | grep -q '^kubectl' && fail "the edge node ran kubectl: $(calls "$edge" | grep ^kubectl)"
calls "$post" | grep -q "^kubeadm join" && fail "the post ran a join"
pass "attach: edge-worker on $edge with the credentials step's token, label and taint set at registration"

# Least privilege: no admin credentials on the worker or the edge device,
# in any file the roles left there, in their work dirs, or in any input the
# tower gave their tasks.
for n in "$worker" "$edge"; do
	grep -rl 'kubernetes-admin\|FAKEADMINKEYSECRET' "$SHIMS_ROOT/$n" && fail "admin credentials on node $n"
done
grep -rl 'kubernetes-admin\|FAKEADMINKEYSECRET' "$T/edge" && fail "admin credentials in the edge agent's state"
grep -v '^[[:space:]]*#' "$REPO/tower/patterns/k8s.yaml" | grep -n 'kubeconfig' && fail "the k8s pattern passes a kubeconfig to a step"
for r in k8s-worker edge-worker edge-device; do
	grep -q 'name: kubeconfig' "$REPO/tower/roles/$r/role.yaml" && fail "$r takes a kubeconfig input"
done
pass "least privilege: no admin kubeconfig in any file or input of the worker or the edge node"

tower_cli t delete "$id" >"$T/delete.out" 2>&1 || fail "delete: $(cat "$T/delete.out")"
oc_status_is t "$id" deleted || fail "status after delete: $(oc_field t "$id" '.status + " " + (.error // "")')"
calls "$edge" | grep -qx "kubeadm reset -f" || fail "the edge node did not leave: $(calls "$edge")"
[ ! -e "$n" ] || fail "the edge node is still in the cluster"
calls "$post" | grep -q "^kubectl drain host-$edge " && calls "$post" | grep -q "^kubectl drain host-$worker " ||
	fail "the post did not drain the worker and the edge node: $(calls "$post" | grep kubectl)"
[ ! -e "$SHIMS_ROOT/cluster/nodes/host-$worker" ] || fail "the worker is still in the cluster"
drain_done=$(grep -n "overcloud $id: step drain done" "$T/t.log" | tail -n 1 | cut -d: -f1)
edge_done=$(grep -n "overcloud $id: step edge done" "$T/t.log" | tail -n 1 | cut -d: -f1)
master_start=$(grep -n "overcloud $id: step master started" "$T/t.log" | tail -n 1 | cut -d: -f1)
[ -n "$drain_done" ] && [ -n "$edge_done" ] && [ -n "$master_start" ] &&
	[ "$drain_done" -lt "$edge_done" ] && [ "$edge_done" -lt "$master_start" ] ||
	fail "order: drain $drain_done, edge reset $edge_done, master $master_start"
[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"
kill -0 "$edge_pid" && node_is t "$edge" connected || fail "the edge node is gone after delete"
pass "delete: the post drained the worker and the edge node (by address), it was reset before the master; released nodes gone, edge still enrolled"
