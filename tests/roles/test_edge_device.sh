#!/usr/bin/env bash
# edge-device (armv7, no kubelet): prometheus-node-exporter from Debian's
# own repository, listening on listen_port, running; exporter_target output
# for the Visible Fabric; re-run changes nothing; remove stops it and
# restores its defaults file; without Debian's source apt refuses.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROLE=edge-device
check_role_yaml $ROLE
grep -q '^archs: \[.*armv7.*\]' "$ROLES_DIR/$ROLE/role.yaml" || fail "$ROLE must run on armv7"
! grep -q 'name: kubeconfig' "$ROLES_DIR/$ROLE/role.yaml" || fail "$ROLE declares a kubeconfig input"
tree_sum() { (cd "$NODE/root" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }

new_node armv7
NODE_IP=10.0.0.30
mkdir -p "$NODE/root/etc/default"
echo 'ARGS=""' >"$NODE/root/etc/default/prometheus-node-exporter"
run_step $ROLE apply SHIM_ARCH=armv7l
expect_rc_ok "apply"
calls | grep -qx 'apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends prometheus-node-exporter' ||
	fail "node-exporter not installed with apt: $(calls)"
calls | grep -Eq '^(kubeadm|kubelet|kubectl)' && fail "Kubernetes tools ran on an armv7 device"
grep -qx 'ARGS="--web.listen-address=:9100"' "$NODE/root/etc/default/prometheus-node-exporter" || fail "listen address not set"
grep -qx 'ARGS=""' "$NODE/root/etc/default/prometheus-node-exporter.overcloud-orig" || fail "defaults not backed up"
[ "$(cat "$NODE/state/systemd/prometheus-node-exporter")" = active ] || fail "node-exporter not running"
parse_outputs
expect_output exporter_target 10.0.0.30:9100
expect_progress "apply" final
ok "apply: node-exporter from Debian on :9100, running; exporter_target 10.0.0.30:9100; no Kubernetes tools"

before=$(tree_sum)
run_step $ROLE apply SHIM_ARCH=armv7l
expect_rc_ok "re-apply"
calls | grep -E '^(apt-get|systemctl restart)' && fail "re-apply installed or restarted"
[ "$(tree_sum)" = "$before" ] || fail "re-apply changed files"
ok "re-apply: nothing changes"

run_step $ROLE remove
expect_rc_ok "remove"
calls | grep -qx 'systemctl disable --now prometheus-node-exporter' || fail "node-exporter not stopped"
grep -qx 'ARGS=""' "$NODE/root/etc/default/prometheus-node-exporter" || fail "defaults not restored"
ok "remove: node-exporter stopped and disabled, defaults restored"

new_node no-debian
rm "$NODE/root/etc/apt/sources.list.d/debian.sources"
run_step $ROLE apply
expect_failure "apply without Debian's apt source" "apt-get install prometheus-node-exporter failed"
grep -qx 'E: Unable to locate package prometheus-node-exporter' "$RUN_STDERR" || fail "apt did not refuse: $(cat "$RUN_STDERR")"

new_node bad-port
run_step $ROLE apply listen_port=99999
expect_failure "apply with a bad port" "is not a port number"
