#!/usr/bin/env bash
# k8s-master role against shims: install + kubeadm init + flannel + wait +
# join command (one-line and two-line kubeadm output), re-apply skipping
# init, remove, and failures.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROLE=k8s-master
TOKEN=abcdef.0123456789abcdef
HASH=sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef
JOIN="kubeadm join 10.0.0.5:6443 --token $TOKEN --discovery-token-ca-cert-hash $HASH"
KEY=LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpGQUtFQURNSU5LRVlTRUNSRVQxMjM0NTY3ODkw

check_role_yaml $ROLE

# --- apply on a bare node: everything gets installed
new_node master
run_step $ROLE apply
expect_rc_ok "apply"
expect_calls "apply" <<'CALLS'
apt-get update -q
apt-get install -y -q --no-install-recommends containerd kubelet kubeadm kubectl
apt-mark hold kubelet kubeadm kubectl
swapoff -a
modprobe overlay
modprobe br_netfilter
sysctl --system
containerd config default
systemctl restart containerd
systemctl enable containerd kubelet
kubeadm init --apiserver-advertise-address 10.0.0.5 --pod-network-cidr 10.244.0.0/16
kubectl apply -f <work>/kube-flannel.yml
kubectl wait --for=condition=Ready node --all --timeout=30s
kubeadm token create --ttl 24h --print-join-command
CALLS
parse_outputs
expect_output join_command "$JOIN"
expect_output api_endpoint "https://10.0.0.5:6443"
expect_output kubeconfig "$(cat "$NODE/root/etc/kubernetes/admin.conf")"
[[ ${OUT[kubeconfig]} == *"client-key-data: $KEY"* ]] || fail "kubeconfig output lacks the client key"
ok "apply: outputs join_command (one line), api_endpoint, kubeconfig (heredoc)"
expect_progress "apply" final
expect_no_secrets "apply" "$TOKEN" "$KEY"
grep -q 'kubeadm join 10.0.0.5:6443 --token \*\*\*' "$RUN_STDOUT" || fail "apply: kubeadm init log not shown with the token masked"
ok "apply: kubeadm init output logged with the token masked"
cmp -s "$NODE/home/.kube/config" "$NODE/root/etc/kubernetes/admin.conf" || fail "HOME/.kube/config is not admin.conf"
[ "$(stat -c %a "$NODE/home/.kube/config")" = 600 ] || fail "HOME/.kube/config is not 0600"
grep -q '"Network": "10.244.0.0/16"' "$RUN_WORK/kube-flannel.yml" || fail "flannel manifest lacks the pod CIDR"
grep -q 'SystemdCgroup = true' "$NODE/root/etc/containerd/config.toml" || fail "containerd not set to the systemd cgroup driver"
grep -qx br_netfilter "$NODE/root/etc/modules-load.d/overcloud-k8s.conf" || fail "no modules-load.d file"
grep -q 'net.ipv4.ip_forward = 1' "$NODE/root/etc/sysctl.d/99-overcloud-k8s.conf" || fail "no sysctl.d file"
ok "apply: HOME/.kube/config 0600, flannel CIDR, containerd cgroup driver, modules and sysctls written"

# --- apply again, kubeadm prints the join command over two lines: no second
# init, nothing reinstalled, the join command comes out as one line
run_step $ROLE apply SHIM_JOIN_TWO_LINES=1
expect_rc_ok "re-apply"
expect_calls "re-apply (two-line join output)" <<'CALLS'
swapoff -a
modprobe overlay
modprobe br_netfilter
sysctl --system
systemctl enable containerd kubelet
kubectl apply -f <work>/kube-flannel.yml
kubectl wait --for=condition=Ready node --all --timeout=30s
kubeadm token create --ttl 24h --print-join-command
CALLS
grep -q '\\$' "$RUN_WORK/join.txt" || fail "the shim did not print the join command over two lines"
parse_outputs
expect_output join_command "$JOIN"
ok "re-apply: two-line 'kubeadm join ... \\' output normalised to one line"
expect_progress "re-apply" final
expect_no_secrets "re-apply" "$TOKEN" "$KEY"

# --- remove
run_step $ROLE remove
expect_rc_ok "remove"
expect_calls "remove" <<'CALLS'
kubeadm reset -f
ip link show cni0
ip link delete cni0
ip link show flannel.1
ip link delete flannel.1
iptables -F
iptables -t nat -F
iptables -t mangle -F
iptables -X
systemctl stop kubelet
CALLS
expect_progress "remove" final
[ ! -e "$NODE/home/.kube/config" ] || fail "remove left HOME/.kube/config"
[ ! -e "$NODE/root/etc/kubernetes/admin.conf" ] || fail "remove left admin.conf"
[ ! -e "$NODE/root/etc/sysctl.d/99-overcloud-k8s.conf" ] || fail "remove left the sysctl file"
ok "remove: kubeconfig, admin.conf and sysctl file gone"

# --- a custom pod CIDR reaches kubeadm and flannel
new_node cidr
preinstall containerd kubelet kubeadm kubectl
run_step $ROLE apply pod_cidr=10.32.0.0/12
expect_rc_ok "apply with pod_cidr"
calls | grep -qx 'kubeadm init --apiserver-advertise-address 10.0.0.5 --pod-network-cidr 10.32.0.0/12' ||
	fail "kubeadm init did not get the pod CIDR"
calls | grep -q '^apt-get' && fail "apt-get ran though everything was installed"
grep -q '"Network": "10.32.0.0/12"' "$RUN_WORK/kube-flannel.yml" || fail "flannel did not get the pod CIDR"
ok "apply: pod_cidr 10.32.0.0/12 in kubeadm init and flannel; no apt-get when installed"

# --- failures
new_node fail-init
preinstall containerd kubelet kubeadm kubectl
run_step $ROLE apply SHIM_FAIL="kubeadm init"
expect_failure "apply with kubeadm init failing" "kubeadm init failed"
calls | grep -q '^kubectl' && fail "kubectl ran after kubeadm init failed"
expect_progress "failed apply"

new_node fail-ready
preinstall containerd kubelet kubeadm kubectl
run_step $ROLE apply SHIM_FAIL="kubectl wait" ready_timeout=90
expect_failure "apply with the node never Ready" "the node did not become Ready within 90s"
[ "$(calls | grep -c '^kubectl wait')" = 3 ] || fail "expected 3 bounded kubectl wait tries"
[ "$(calls | grep -c '^sleep 30')" = 2 ] || fail "expected 2 sleeps between tries"
ok "apply: Ready wait bounded (3 tries of 30s for 90s)"

new_node bad-cidr
run_step $ROLE apply pod_cidr='10.244.0.0/16; rm -rf /'
expect_failure "apply with a bad pod_cidr" "is not an IPv4 CIDR"
[ -z "$(calls)" ] || fail "commands ran despite a bad pod_cidr"

new_node fail-reset
preinstall kubeadm
run_step $ROLE remove SHIM_FAIL="kubeadm reset"
expect_failure "remove with kubeadm reset failing" "kubeadm reset -f failed"
