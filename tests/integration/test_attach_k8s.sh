#!/usr/bin/env bash
# The k8s pattern's attach DAG through the real tower and agents: a k8s
# OverCloud of 1 post + 1 worker on the local provider, whose role scripts
# run against the command shims of the role tests (fake kubeadm, kubectl,
# apt-get, systemctl...), gets an edge device attached. The edge-worker
# apply runs on it with the join command of the attach's own credentials
# step, the edge label and the taint; delete takes the edge node out of the
# cluster before the master is reset, and leaves it enrolled.
. "$(dirname "$0")/lib.sh"

# The shipped roles, with a preamble in their shared lib.sh (which every role
# includes and its scripts source first) that puts the node on its own shims:
# its calls log, sysroot, home and "installed" commands under
# $SHIMS_ROOT/<node id>, and a PATH of the shims and tests/roles/tools only.
# The tower packs the changed lib.sh into every role's bundle.
ROLE_TESTS="$REPO/tests/roles"
SHIMS_ROOT="$T/nodes"
mkdir -p "$T/bin" "$SHIMS_ROOT"
while read -r tool; do
	path=$(type -P "$tool") || continue
	ln -s "$path" "$T/bin/$tool"
done <"$ROLE_TESTS/tools"
cp -r "$REPO/tower/roles" "$T/roles"
lib="$T/roles/_shared/lib.sh"
{
	cat <<PREAMBLE
# test_attach_k8s: this node runs on the command shims
oc_node_dir="$SHIMS_ROOT/\${OVERCLOUD_NODE_ID:?}"
mkdir -p "\$oc_node_dir/root" "\$oc_node_dir/home" "\$oc_node_dir/installed" "\$oc_node_dir/state"
PATH="$ROLE_TESTS/shims:\$oc_node_dir/installed:$T/bin"
HOME="\$oc_node_dir/home"
OC_SYSROOT="\$oc_node_dir/root"
SHIM_LOG="\$oc_node_dir/calls.log"
SHIM_STATE="\$oc_node_dir/state"
SHIM_INSTALLED="\$oc_node_dir/installed"
SHIM_HOSTNAME="host-\$OVERCLOUD_NODE_ID"
SHIM_FRESH_TOKENS=1
export PATH HOME OC_SYSROOT SHIM_LOG SHIM_STATE SHIM_INSTALLED SHIM_HOSTNAME SHIM_FRESH_TOKENS
PREAMBLE
	cat "$lib"
} >"$lib.new"
mv "$lib.new" "$lib"
DATA_DIRS=(--roles "$T/roles" --patterns "$REPO/tower/patterns")
start_tower t --agents 0.0.0.0:0
EDGE_HOST=127.0.0.1
[ "$(id -u)" = 0 ] && EDGE_HOST=10.213.0.1
calls() { cat "$SHIMS_ROOT/$1/calls.log"; }

tower_cli t create --provider local --number 1 --pattern k8s >"$T/create.out" 2>&1 ||
	fail "create k8s: $(tail -n 20 "$T/create.out")"
id=$(grep -o 'oc-[0-9a-f]*' "$T/create.out" | head -n 1)
post=$(oc_field t "$id" '.nodes[] | select(.group == "post") | .node_id')
calls "$post" | grep -qx "kubeadm token create --ttl 24h --print-join-command" ||
	fail "the create's master did not make a join command: $(calls "$post")"
pass "k8s OverCloud $id ready on the shims"

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
for s in credentials edge fabric-edge; do
	[ "$(jq -r --arg s "$s" '.steps[] | select(.dag == "attach" and .name == $s) | .state' <<<"$oc")" = done ] ||
		fail "attach step $s: $(jq -c '.steps' <<<"$oc")"
done
[ "$(jq -r --arg n "$edge" '.nodes[] | select(.node_id == $n) | .role' <<<"$oc")" = edge-worker ] ||
	fail "nodes: $(jq -c .nodes <<<"$oc")"
# The credentials step made the second join command on the post (15 minutes);
# the edge node joined with exactly that one, not the create's.
calls "$post" | grep -x "kubeadm token create --ttl [0-9a-z]* --print-join-command" >"$T/tokens"
[ "$(sed -n 2p "$T/tokens")" = "kubeadm token create --ttl 15m --print-join-command" ] ||
	fail "the post's token calls: $(cat "$T/tokens")"
calls "$edge" | grep -qx "kubeadm join 10.0.0.5:6443 --token abcdef.0000000000000002 --discovery-token-ca-cert-hash sha256:[0-9a-f]*" ||
	fail "the edge node's join: $(calls "$edge" | grep kubeadm)"
grep -qx 'KUBELET_EXTRA_ARGS="--node-labels=overcloud.io/edge=true"' "$SHIMS_ROOT/$edge/root/etc/default/kubelet" ||
	fail "edge label: $(cat "$SHIMS_ROOT/$edge/root/etc/default/kubelet")"
calls "$edge" | grep -qx "kubectl taint node host-$edge overcloud.io/edge=true:NoSchedule --overwrite" ||
	fail "no taint: $(calls "$edge")"
calls "$edge" | grep -q "^apt-get .*install .*prometheus-node-exporter" || fail "no fabric collector on the edge node"
calls "$post" | grep -q "^kubeadm join" && fail "the post ran a join"
pass "attach: edge-worker on $edge with the credentials step's join command (token 2), label and taint"

tower_cli t delete "$id" >"$T/delete.out" 2>&1 || fail "delete: $(cat "$T/delete.out")"
oc_status_is t "$id" deleted || fail "status after delete: $(oc_field t "$id" '.status + " " + (.error // "")')"
calls "$edge" | grep -qx "kubectl drain host-$edge --ignore-daemonsets --delete-emptydir-data --force --timeout=300s" &&
	calls "$edge" | grep -qx "kubeadm reset -f" || fail "the edge node did not leave: $(calls "$edge")"
edge_done=$(grep -n "overcloud $id: step edge done" "$T/t.log" | tail -n 1 | cut -d: -f1)
master_start=$(grep -n "overcloud $id: step master started" "$T/t.log" | tail -n 1 | cut -d: -f1)
[ -n "$edge_done" ] && [ -n "$master_start" ] && [ "$edge_done" -lt "$master_start" ] ||
	fail "the edge node was not removed before the master reset (lines $edge_done, $master_start)"
[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"
kill -0 "$edge_pid" && node_is t "$edge" connected || fail "the edge node is gone after delete"
pass "delete: the edge node drained and reset before the master, released nodes gone, edge still enrolled"
