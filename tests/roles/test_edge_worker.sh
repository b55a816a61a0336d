#!/usr/bin/env bash
# edge-worker against the fakes, in the k8s_lab.sh lab: a 64-bit edge
# device joins a fake cluster with its label and taint set at registration
# by the JoinConfiguration's nodeRegistration (no kubeconfig, no kubectl
# taint on the device), node_labels added, re-run changes nothing, the post
# drains it by address, remove resets it; a Pi without the memory cgroup
# is refused with how to fix it; armv7 is not listed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/k8s_lab.sh"

ROLE=edge-worker
check_role_yaml $ROLE
grep -qx 'archs: \[x86_64, aarch64\]' "$ROLES_DIR/$ROLE/role.yaml" ||
	fail "$ROLE: archs must be x86_64 and aarch64 only (armv7 devices get edge-device)"
! grep -q 'name: kubeconfig' "$ROLES_DIR/$ROLE/role.yaml" || fail "$ROLE declares a kubeconfig input"
ok "$ROLE: x86_64 and aarch64 only; no kubeconfig input"
lab_bundle k8s-master
lab_bundle $ROLE

new_node post
POST=$NODE
run_step k8s-master apply "${LAB_INPUTS[@]}" "${LAB_SHIMS[@]}"
expect_rc_ok "k8s-master apply on the post"
parse_outputs
JOIN=${OUT[join_command]}
edge() { run_step $ROLE "$@" "apt_mirror=$LAB_BASE" "${LAB_SHIMS[@]}" SHIM_HOSTNAME=pi-4 SHIM_ARCH=aarch64; }

new_node edge
NODE_IP=10.0.0.20
edge apply join_command="$JOIN" node_labels=site=lab-1,overcloud.io/zone=a
expect_rc_ok "apply"
calls | grep -q '^kubectl' && fail "the edge device ran kubectl: $(calls | grep ^kubectl)"
n=$T/cluster/nodes/pi-4
grep -qx 'labels overcloud.io/edge=true,site=lab-1,overcloud.io/zone=a' "$n" || fail "labels: $(cat "$n")"
grep -qx 'taints overcloud.io/edge=true:NoSchedule ' "$n" || fail "taint: $(cat "$n")"
grep -qx 'ip 10.0.0.20' "$n" || fail "node-ip: $(cat "$n")"
parse_outputs
expect_output node_name pi-4
expect_progress "apply" final
ok "apply: registered with label overcloud.io/edge=true (+ node_labels) and taint overcloud.io/edge=true:NoSchedule by the join config"
grep -rl 'kubernetes-admin' "$NODE" && fail "admin credentials on the edge device"
[ ! -e "$NODE/home/.kube/config" ] || fail "the edge device has a kubeconfig in HOME"
ok "least privilege: no admin kubeconfig in any file of the edge device"
E=$NODE

edge apply join_command="$JOIN" node_labels=site=lab-1,overcloud.io/zone=a
expect_rc_ok "re-apply"
calls | grep -E '^(apt-get|kubeadm|systemctl restart)' && fail "re-apply installed, joined or restarted"
ok "re-apply: already in the cluster; nothing done"

NODE=$POST
run_step k8s-master drain nodes="10.0.0.20" "${LAB_SHIMS[@]}"
expect_rc_ok "drain of the edge device on the post"
[ ! -e "$n" ] || fail "pi-4 is still in the cluster"
NODE=$E
edge remove
expect_rc_ok "remove"
calls | grep -qx 'kubeadm reset -f' || fail "remove did not reset"
ok "the post drained and deleted pi-4 by address; remove reset the device"

new_node bad-labels
edge apply join_command="$JOIN" node_labels='a=b;reboot'
expect_failure "apply with bad node_labels" "is not a list like a=b,c.io/d=e"

new_node pi-nomem
echo "cpuset cpu io pids" >"$NODE/root/sys/fs/cgroup/cgroup.controllers"
edge apply join_command="$JOIN"
expect_failure "apply on a Pi without the memory cgroup" "/boot/firmware/cmdline.txt (/boot/cmdline.txt on older Raspberry Pi OS) and reboot"
calls | grep -q '^kubeadm' && fail "kubeadm ran without the memory cgroup"
ok "the memory cgroup is checked before kubeadm runs"
