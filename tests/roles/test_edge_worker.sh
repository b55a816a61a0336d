#!/usr/bin/env bash
# edge-worker role against shims: kubelet labels through
# /etc/default/kubelet, join, taint with a kubeconfig, remove restoring the
# original /etc/default/kubelet, failures.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROLE=edge-worker
TOKEN=abcdef.0123456789abcdef
HASH=sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef
JOIN="kubeadm join 10.0.0.5:6443 --token $TOKEN --discovery-token-ca-cert-hash $HASH"
KUBECONFIG_IN=$'apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-key-data: EDGETESTSECRETKEYDATA0123456789abcdef'

check_role_yaml $ROLE
grep -q '^archs: \[.*aarch64.*\]' "$ROLES_DIR/$ROLE/role.yaml" || fail "edge-worker must run on aarch64"
grep -q '^archs: \[.*armv7.*\]' "$ROLES_DIR/$ROLE/role.yaml" ||
	fail "edge-worker must run on aarch64 and armv7"
ok "archs include aarch64 and armv7"

# --- a Raspberry Pi with an existing /etc/default/kubelet, kubeconfig given
new_node pi
preinstall containerd kubelet kubeadm kubectl
mkdir -p "$NODE/root/etc/default"
echo 'KUBELET_EXTRA_ARGS="--max-pods=50"' >"$NODE/root/etc/default/kubelet"
run_step $ROLE apply join_command="$JOIN" kubeconfig="$KUBECONFIG_IN" node_labels=zone=lab,overcloud.io/site=seoul SHIM_HOSTNAME=pi-3
expect_rc_ok "apply"
expect_calls "apply" <<CALLS
swapoff -a
modprobe overlay
modprobe br_netfilter
sysctl --system
containerd config default
systemctl restart containerd
systemctl enable containerd kubelet
hostname
kubeadm join 10.0.0.5:6443 --token $TOKEN --discovery-token-ca-cert-hash $HASH
kubectl get node pi-3 -o name
kubectl taint node pi-3 overcloud.io/edge=true:NoSchedule --overwrite
CALLS
grep -qx 'KUBELET_EXTRA_ARGS="--node-labels=overcloud.io/edge=true,zone=lab,overcloud.io/site=seoul"' \
	"$NODE/root/etc/default/kubelet" || fail "/etc/default/kubelet lacks the node labels: $(cat "$NODE/root/etc/default/kubelet")"
grep -q max-pods "$NODE/root/etc/default/kubelet.overcloud-orig" || fail "original /etc/default/kubelet not kept"
ok "apply: KUBELET_EXTRA_ARGS --node-labels=overcloud.io/edge=true,zone=lab,overcloud.io/site=seoul; original kept"
parse_outputs
expect_output node_name pi-3
ok "apply: node_name pi-3"
expect_progress "apply" final
expect_no_secrets "apply" "$TOKEN" EDGETESTSECRETKEYDATA0123456789abcdef

run_step $ROLE remove join_command="$JOIN" kubeconfig="$KUBECONFIG_IN" SHIM_HOSTNAME=pi-3 SHIM_IP_LINKS=flannel.1
expect_rc_ok "remove"
expect_calls "remove" <<'CALLS'
hostname
kubectl get node pi-3
kubectl drain pi-3 --ignore-daemonsets --delete-emptydir-data --force --timeout=300s
kubectl delete node pi-3 --ignore-not-found
kubeadm reset -f
ip link show cni0
ip link show flannel.1
ip link delete flannel.1
iptables -F
iptables -t nat -F
iptables -t mangle -F
iptables -X
systemctl stop kubelet
CALLS
[ "$(cat "$NODE/root/etc/default/kubelet")" = 'KUBELET_EXTRA_ARGS="--max-pods=50"' ] || fail "original /etc/default/kubelet not restored"
[ ! -e "$NODE/root/etc/default/kubelet.overcloud-orig" ] || fail "backup left behind"
ok "remove: original /etc/default/kubelet restored"
expect_progress "remove" final
expect_no_secrets "remove" "$TOKEN" EDGETESTSECRETKEYDATA0123456789abcdef

# --- no kubeconfig: labels only, no taint, no kubectl; remove deletes our file
new_node pi2
preinstall containerd kubelet kubeadm kubectl
run_step $ROLE apply join_command="$JOIN" SHIM_HOSTNAME=pi-4
expect_rc_ok "apply without kubeconfig"
calls | grep -q '^kubectl' && fail "kubectl ran without a kubeconfig"
grep -qx 'KUBELET_EXTRA_ARGS="--node-labels=overcloud.io/edge=true"' "$NODE/root/etc/default/kubelet" ||
	fail "/etc/default/kubelet lacks the edge label"
ok "apply without kubeconfig: edge label only, no kubectl"
run_step $ROLE remove join_command="$JOIN" SHIM_HOSTNAME=pi-4
expect_rc_ok "remove without kubeconfig"
[ ! -e "$NODE/root/etc/default/kubelet" ] || fail "remove left our /etc/default/kubelet"
ok "remove without kubeconfig: our /etc/default/kubelet deleted"

# --- failures
new_node fail
preinstall containerd kubelet kubeadm kubectl
run_step $ROLE apply join_command="$JOIN" kubeconfig="$KUBECONFIG_IN" SHIM_FAIL="kubectl taint"
expect_failure "apply with kubectl taint failing" "kubectl taint node node-1 failed"
expect_no_secrets "failed taint" "$TOKEN" EDGETESTSECRETKEYDATA0123456789abcdef

new_node fail2
preinstall containerd kubelet kubeadm kubectl
run_step $ROLE apply join_command="$JOIN" node_labels='a=b;reboot'
expect_failure "apply with bad node_labels" "is not a list like a=b,c.io/d=e"
[ -z "$(calls)" ] || fail "commands ran despite bad node_labels"

run_step $ROLE apply join_command="kubeadm  token create"
expect_failure "apply with a non-join command" "must start with 'kubeadm join '"
