#!/usr/bin/env bash
# fabric-collector role against shims: node exporter on a plain node
# (installed, enabled, removed again), the Post with Prometheus and Weave
# Scope and their URLs, failures.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROLE=fabric-collector
SECRET=FABRICTESTSECRETKEYDATA0123456789abcdef
KUBECONFIG_IN=$'apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-key-data: '$SECRET

check_role_yaml $ROLE
grep -q 'nodePort: 30090' "$ROLES_DIR/$ROLE/prometheus.yaml" || fail "prometheus.yaml has no NodePort 30090"
grep -q 'name: weave-scope-app$' "$ROLES_DIR/$ROLE/scope.yaml" || fail "scope.yaml has no weave-scope-app"
ok "manifests: Prometheus and Weave Scope present"

# --- a cluster node: install, enable; remove uninstalls what apply installed
new_node worker
run_step $ROLE apply
expect_rc_ok "apply (node)"
expect_calls "apply (node)" <<'CALLS'
apt-get update -q
apt-get install -y -q --no-install-recommends prometheus-node-exporter
systemctl enable --now prometheus-node-exporter
CALLS
parse_outputs
[ ${#OUT[@]} -eq 0 ] || fail "a plain node published outputs: ${!OUT[*]}"
ok "apply (node): no outputs"
expect_progress "apply (node)" final

run_step $ROLE apply
expect_rc_ok "re-apply (node)"
calls | grep -q '^apt-get' && fail "re-apply installed again"
ok "re-apply (node): nothing installed again"

run_step $ROLE remove
expect_rc_ok "remove (node)"
expect_calls "remove (node)" <<'CALLS'
systemctl disable --now prometheus-node-exporter
apt-get remove -y -q prometheus-node-exporter
CALLS
expect_progress "remove (node)" final
[ ! -e "$NODE/root/var/lib/overcloud/fabric-collector" ] || fail "remove left its marker"
ok "remove (node): marker gone"

# --- the Post, exporter already installed there: Prometheus + Scope
new_node post
preinstall prometheus-node-exporter kubectl
run_step $ROLE apply post=true kubeconfig="$KUBECONFIG_IN"
expect_rc_ok "apply (post)"
expect_calls "apply (post)" <<'CALLS'
systemctl enable --now prometheus-node-exporter
kubectl apply -f <roles>/fabric-collector/prometheus.yaml
kubectl apply -f <roles>/fabric-collector/scope.yaml
kubectl -n overcloud-fabric rollout status deployment/prometheus --timeout=300s
kubectl -n weave rollout status deployment/weave-scope-app --timeout=300s
kubectl -n overcloud-fabric get service prometheus -o 'jsonpath={.spec.ports[0].nodePort}'
kubectl -n weave get service weave-scope-app -o 'jsonpath={.spec.ports[0].nodePort}'
CALLS
parse_outputs
expect_output prometheus_url http://10.0.0.5:30090
expect_output scope_url http://10.0.0.5:30040
ok "apply (post): prometheus_url http://10.0.0.5:30090, scope_url http://10.0.0.5:30040"
expect_progress "apply (post)" final
expect_no_secrets "apply (post)" "$SECRET"

run_step $ROLE remove post=true kubeconfig="$KUBECONFIG_IN"
expect_rc_ok "remove (post)"
expect_calls "remove (post)" <<'CALLS'
kubectl delete --ignore-not-found -f <roles>/fabric-collector/scope.yaml
kubectl delete --ignore-not-found -f <roles>/fabric-collector/prometheus.yaml
systemctl disable --now prometheus-node-exporter
CALLS
expect_progress "remove (post)" final
expect_no_secrets "remove (post)" "$SECRET"

# --- the Post without the kubeconfig input uses root's kubeconfig
new_node post2
preinstall prometheus-node-exporter kubectl
mkdir -p "$NODE/home/.kube"
printf '%s\n' "$KUBECONFIG_IN" >"$NODE/home/.kube/config"
run_step $ROLE apply post=true
expect_rc_ok "apply (post, HOME kubeconfig)"
parse_outputs
expect_output scope_url http://10.0.0.5:30040
ok "apply (post): falls back to HOME/.kube/config"

# --- failures
new_node fail
run_step $ROLE apply SHIM_FAIL="apt-get install"
expect_failure "apply with apt-get install failing" "apt-get install prometheus-node-exporter failed"
calls | grep -q '^systemctl' && fail "systemctl ran after the install failed"

preinstall prometheus-node-exporter kubectl
run_step $ROLE apply post=true
expect_failure "apply (post) without any kubeconfig" "post=true needs the kubeconfig input"

run_step $ROLE apply post=true kubeconfig="$KUBECONFIG_IN" SHIM_FAIL="kubectl -n weave rollout status"
expect_failure "apply (post) with Scope not rolling out" "the weave-scope-app deployment did not become available"
expect_no_secrets "failed apply (post)" "$SECRET"

run_step $ROLE apply post=yes
expect_failure "apply with post=yes" "post 'yes' must be true or false"

run_step $ROLE remove SHIM_FAIL="systemctl disable"
expect_failure "remove with systemctl failing" "systemctl disable --now prometheus-node-exporter failed"
