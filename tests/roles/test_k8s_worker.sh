#!/usr/bin/env bash
# k8s-worker against the fakes, in the k8s_lab.sh lab: a real fake cluster
# (k8s-master applied on a "post" node), then a worker joins with the
# master's join command through a v1beta4 JoinConfiguration (node name,
# node-ip); a re-run changes nothing; a half-finished join is reset and
# retried; a kubelet.conf of a dead cluster is not "joined"; the post drains
# and deletes the worker by its address (k8s-master drain); no kubeconfig
# reaches the worker; the join command is checked, never evaluated.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/k8s_lab.sh"

ROLE=k8s-worker
check_role_yaml $ROLE
grep -qx 'archs: \[x86_64, aarch64\]' "$ROLES_DIR/$ROLE/role.yaml" ||
	fail "$ROLE: archs must be x86_64 and aarch64 only (no 32-bit ARM kubelet since Kubernetes 1.27)"
! grep -q 'name: kubeconfig' "$ROLES_DIR/$ROLE/role.yaml" || fail "$ROLE declares a kubeconfig input"
ok "$ROLE: x86_64 and aarch64 only; no kubeconfig input"
lab_bundle k8s-master
lab_bundle $ROLE

# the post: a control plane for the workers to join
new_node post
POST=$NODE
run_step k8s-master apply "${LAB_INPUTS[@]}" "${LAB_SHIMS[@]}"
expect_rc_ok "k8s-master apply on the post"
parse_outputs
JOIN=${OUT[join_command]}
TOKEN=abcdef.0123456789abcdef
on_post() { NODE=$POST; run_step k8s-master "$@" "${LAB_SHIMS[@]}"; }
worker() { run_step $ROLE "$@" "apt_mirror=$LAB_BASE" "${LAB_SHIMS[@]}" SHIM_HOSTNAME=Worker-7; }
tree_sum() { (cd "$NODE/root" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }

# --- apply on a fresh node
new_node worker
NODE_IP=10.0.0.6
worker apply join_command="$JOIN"
expect_rc_ok "apply"
calls | grep -qx 'kubeadm join --config <work>/kubeadm-join.yaml' || fail "no kubeadm join --config: $(calls | grep kubeadm)"
grep -qx 'ip 10.0.0.6' "$T/cluster/nodes/worker-7" || fail "worker-7 not registered with node-ip 10.0.0.6"
grep -qx 'taints ' "$T/cluster/nodes/worker-7" || fail "a plain worker got taints"
[ ! -e "$RUN_WORK/kubeadm-join.yaml" ] || fail "the join config (it holds the token) was left in the work dir"
parse_outputs
expect_output node_name worker-7
expect_progress "apply" final
expect_no_secrets "apply" "$TOKEN"
ok "apply: joined from a JoinConfiguration as worker-7 (node-ip 10.0.0.6), config with the token removed"
W=$NODE

# --- no kubeconfig reaches the worker: no admin credentials in any file on
# it, nor in any input it was given; only its own kubelet identity
grep -rl 'kubernetes-admin\|FAKEADMINKEYSECRET-kubernetes-admin' "$W" && fail "admin credentials on the worker"
grep -q 'name: system:node:worker-7' "$W/root/etc/kubernetes/kubelet.conf" || fail "the worker has no kubelet identity of its own"
[ ! -e "$W/home/.kube/config" ] || fail "the worker has a kubeconfig in HOME"
for f in "$W"/run*/output; do grep -q 'client-key-data' "$f" && fail "a kubeconfig in the worker's outputs"; done
ok "least privilege: no admin kubeconfig in any file of the worker; only the node's own kubelet.conf"

# --- apply again: already in the cluster, nothing changes
before=$(tree_sum)
worker apply join_command="$JOIN"
expect_rc_ok "re-apply"
calls | grep -E '^(apt-get|kubeadm|systemctl restart)' && fail "re-apply installed, joined or restarted"
[ "$(tree_sum)" = "$before" ] || fail "re-apply changed files on the node"
grep -q 'already in the cluster' "$RUN_STDOUT" || fail "re-apply did not say the node is in the cluster"
ok "re-apply: the kubelet is this cluster's (CA hash, endpoint) and the cluster knows the node; nothing done"

# --- an address two nodes share (one NAT) is not a node to guess at
printf 'ip 10.0.0.6\nkubelet %s\n' "$W/root" >"$T/cluster/nodes/twin-at-same-nat"
on_post drain nodes="10.0.0.6"
expect_rc_ok "drain of a shared address"
calls | grep -q '^kubectl drain' && fail "drain guessed between two nodes at one address"
grep -q 'is the address of several nodes' "$RUN_STDERR" || fail "drain did not say why it skipped 10.0.0.6"
rm "$T/cluster/nodes/twin-at-same-nat"
on_post drain nodes="10.0.0.5"
calls | grep -q '^kubectl drain' && fail "drain drained the control plane by its address"
ok "drain: an address of several nodes and the control plane's own address are not drained"

# --- the post drains and deletes the worker, by its address
on_post drain nodes="10.0.0.6"
expect_rc_ok "drain on the post"
calls | grep -qx 'kubectl drain worker-7 --ignore-daemonsets --delete-emptydir-data --force --timeout=120s' &&
	calls | grep -qx 'kubectl delete node worker-7 --ignore-not-found' || fail "drain: $(calls)"
[ ! -e "$T/cluster/nodes/worker-7" ] || fail "worker-7 is still in the cluster"
ok "drain: the post drained and deleted worker-7, found by its address 10.0.0.6"
NODE=$W
worker remove
expect_rc_ok "remove"
calls | grep -q '^kubectl' && fail "the worker's remove ran kubectl"
[ ! -e "$W/root/etc/kubernetes/kubelet.conf" ] || fail "remove left kubelet.conf"
ok "remove: kubeadm reset on the worker, no kubectl there"

# --- a half-finished join (kubelet.conf written, TLS bootstrap never done)
new_node half
NODE_IP=10.0.0.7
worker apply join_command="$JOIN" SHIM_KUBEADM_FAIL_AT=kubelet-start
expect_failure "apply with kubeadm join failing at kubelet-start" "kubeadm join failed"
calls | grep -qx 'kubeadm reset -f' || fail "a failed join was not reset"
worker apply join_command="$JOIN"
expect_rc_ok "retry after a half-finished join"
grep -qx 'ip 10.0.0.7' "$T/cluster/nodes/worker-7" || fail "the retry did not register the node"
ok "half-finished join: reset at once, the retry joins"

# --- kubelet.conf of a dead cluster (another CA) is not "joined"
new_node stale
NODE_IP=10.0.0.8
mkdir -p "$NODE/root/etc/kubernetes/pki"
PATH=/usr/bin:/bin openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=kubernetes \
	-keyout "$T/old.key" -out "$NODE/root/etc/kubernetes/pki/ca.crt" 2>/dev/null
printf 'apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: https://10.0.0.99:6443\n  name: kubernetes\nusers:\n- name: system:node:worker-7\n' \
	"$(base64 -w0 <"$NODE/root/etc/kubernetes/pki/ca.crt")" >"$NODE/root/etc/kubernetes/kubelet.conf"
worker apply join_command="$JOIN"
expect_rc_ok "apply over a dead cluster's kubelet.conf"
grep -q 'another cluster' "$RUN_STDOUT" || fail "the role did not see the kubelet.conf is another cluster's"
calls | grep -E '^kubeadm (reset|join)' | tr '\n' ';' | grep -qx 'kubeadm reset -f;kubeadm join --config <work>/kubeadm-join.yaml;' ||
	fail "not reset then joined: $(calls | grep ^kubeadm)"
grep -qx 'ip 10.0.0.8' "$T/cluster/nodes/worker-7" || fail "the node did not join this cluster"
ok "stale kubelet.conf (another CA) is reset, then the node joins this cluster"

# --- behind NAT the tower sees an address the node does not have: no node-ip
new_node nat
NODE_IP=203.0.113.7
worker apply join_command="$JOIN" SHIM_IP_ADDRS=192.168.1.50
expect_rc_ok "apply behind NAT"
grep -q 'node-ip' "$NODE/state/kubeadm-config.flat" && fail "node-ip set to an address the node does not have"
grep -q 'not one of its own addresses' "$RUN_STDERR" || fail "the role did not say why it left node-ip out"
ok "NAT: node-ip left to the kubelet when the tower's view of the address is not the node's"

# --- the fake apt refuses what the real one refuses
new_node apt
apt_fake() { env -i PATH="$SHIMS:$NODE/installed:$T/bin" SHIM_LOG=$NODE/calls.log SHIM_STATE=$NODE/state \
	SHIM_INSTALLED=$NODE/installed OC_SYSROOT=$NODE/root "$@" >"$T/apt.out" 2>"$T/apt.err"; }
apt_fake apt-get update && apt_fake apt-get install -y kubelet && fail "kubelet installed without its repository"
grep -qx 'E: Unable to locate package kubelet' "$T/apt.err" || fail "apt: $(cat "$T/apt.err")"
echo 'deb [signed-by=/etc/apt/keyrings/k.asc] https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /' \
	>"$NODE/root/etc/apt/sources.list.d/k.list"
apt_fake apt-get update && fail "apt-get update passed with the repository's key missing"
grep -q "E: The repository 'https://pkgs.k8s.io/core:/stable:/v1.34/deb/ / InRelease' is not signed." "$T/apt.err" ||
	fail "apt: $(cat "$T/apt.err")"
mkdir -p "$NODE/root/etc/apt/keyrings" && gpg --armor --export "$LAB_FPR" >"$NODE/root/etc/apt/keyrings/k.asc"
apt_fake apt-get update && fail "apt-get update passed with a key that is not the repository's"
apt_fake SHIM_APT_SIGNER_K8S="$LAB_FPR" apt-get update || fail "apt-get update with the key: $(cat "$T/apt.err")"
apt_fake apt-get install -y kubelet=1.34.99-1.1 && fail "an unknown version was installed"
grep -qx "E: Version '1.34.99-1.1' for 'kubelet' was not found" "$T/apt.err" || fail "apt: $(cat "$T/apt.err")"
ok "fake apt: no repository, no key, a wrong key, an unknown version: refused as apt refuses"

# --- join commands that are not plain kubeadm join lines
new_node bad
for bad in "rm -rf / # kubeadm join" "kubeadm join 10.0.0.5:6443 --token $TOKEN --discovery-token-ca-cert-hash sha256:00 ; reboot" \
	"kubeadm join 10.0.0.5:6443 --token $TOKEN --config /tmp/x.yaml"; do
	worker apply join_command="$bad"
	[ "$RUN_RC" -ne 0 ] || fail "accepted join_command: $bad"
	[ -z "$(calls)" ] || fail "commands ran for a bad join_command"
done
ok "bad join commands refused before anything runs"
