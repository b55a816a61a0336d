#!/usr/bin/env bash
# rook-datalake role against shims: operator manifests, CephCluster, bounded
# wait for the phase, dashboard_url from the mgr dashboard service; remove
# with the cleanup-policy confirmation; failures.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROLE=rook-datalake
SECRET=ROOKTESTSECRETKEYDATA0123456789abcdef
KUBECONFIG_IN=$'apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-key-data: '$SECRET

check_role_yaml $ROLE
for f in crds.yaml common.yaml operator.yaml cluster.yaml; do
	grep -q '^kind: ' "$ROLES_DIR/$ROLE/$f" || fail "$f has no Kubernetes objects"
done
grep -q '^kind: CephCluster$' "$ROLES_DIR/$ROLE/cluster.yaml" || fail "cluster.yaml has no CephCluster"
grep -q 'name: cephclusters.ceph.rook.io' "$ROLES_DIR/$ROLE/crds.yaml" || fail "crds.yaml lacks the CephCluster CRD"
grep -q 'name: rook-ceph-operator$' "$ROLES_DIR/$ROLE/operator.yaml" || fail "operator.yaml lacks the operator"
ok "manifests: CRDs, common, operator, CephCluster present"

new_node post
preinstall kubectl
run_step $ROLE apply kubeconfig="$KUBECONFIG_IN" mon_count=1 SHIM_CEPH_PHASES="Progressing Progressing Ready"
expect_rc_ok "apply"
expect_calls "apply" <<'CALLS'
kubectl apply --server-side -f <roles>/rook-datalake/crds.yaml
kubectl apply -f <roles>/rook-datalake/common.yaml
kubectl apply -f <roles>/rook-datalake/operator.yaml
kubectl -n rook-ceph rollout status deployment/rook-ceph-operator --timeout=600s
kubectl apply -f <work>/cluster.yaml
kubectl -n rook-ceph get cephcluster rook-ceph -o 'jsonpath={.status.phase}'
sleep 10
kubectl -n rook-ceph get cephcluster rook-ceph -o 'jsonpath={.status.phase}'
sleep 10
kubectl -n rook-ceph get cephcluster rook-ceph -o 'jsonpath={.status.phase}'
kubectl -n rook-ceph get service rook-ceph-mgr-dashboard -o 'jsonpath={.spec.clusterIP} {.spec.ports[0].name} {.spec.ports[0].port}'
CALLS
grep -q '^    count: 1 # overcloud:mon_count$' "$RUN_WORK/cluster.yaml" || fail "mon_count not set in the CephCluster"
ok "apply: CephCluster with 1 mon"
parse_outputs
expect_output dashboard_url "https://10.96.120.7:8443"
ok "apply: dashboard_url https://10.96.120.7:8443"
expect_progress "apply" final
expect_no_secrets "apply" "$SECRET"
[ "$(stat -c %a "$RUN_WORK/kubeconfig")" = 600 ] || fail "kubeconfig file not 0600"

run_step $ROLE remove kubeconfig="$KUBECONFIG_IN"
expect_rc_ok "remove"
expect_calls "remove" <<'CALLS'
kubectl -n rook-ceph get cephcluster rook-ceph -o name
kubectl -n rook-ceph patch cephcluster rook-ceph --type merge -p '{"spec":{"cleanupPolicy":{"confirmation":"yes-really-destroy-data"}}}'
kubectl -n rook-ceph delete cephcluster rook-ceph --wait=true --timeout=900s
kubectl delete --ignore-not-found -f <roles>/rook-datalake/operator.yaml
kubectl delete --ignore-not-found -f <roles>/rook-datalake/common.yaml
kubectl delete --ignore-not-found -f <roles>/rook-datalake/crds.yaml
kubectl delete namespace rook-ceph --ignore-not-found --timeout=300s
CALLS
expect_progress "remove" final
expect_no_secrets "remove" "$SECRET"

# remove again when the CephCluster is gone: no patch, no delete of it
run_step $ROLE remove kubeconfig="$KUBECONFIG_IN" SHIM_NO_CEPHCLUSTER=1
expect_rc_ok "remove (no CephCluster)"
calls | grep -q 'patch\|delete cephcluster' && fail "patched or deleted a missing CephCluster"
ok "remove: a missing CephCluster is skipped"

# --- failures
new_node fail
preinstall kubectl
run_step $ROLE apply kubeconfig="$KUBECONFIG_IN" SHIM_FAIL="kubectl apply --server-side"
expect_failure "apply with the CRDs refused" "kubectl apply of crds.yaml failed"
expect_no_secrets "failed apply" "$SECRET"

run_step $ROLE apply kubeconfig="$KUBECONFIG_IN" SHIM_CEPH_PHASES="Progressing Failure"
expect_failure "apply with the cluster failing" "the CephCluster reports phase Failure"
[ -z "$(cat "$RUN_OUTPUT")" ] || fail "failed apply still wrote outputs"

rm -f "$NODE/state/ceph_phase"
run_step $ROLE apply kubeconfig="$KUBECONFIG_IN" SHIM_CEPH_PHASES=Progressing ready_timeout=30
expect_failure "apply with the cluster never Ready" "the Ceph cluster was not Ready within 30s (last phase: Progressing)"
[ "$(calls | grep -c 'status.phase')" = 3 ] || fail "expected 3 bounded phase checks"
ok "apply: phase wait bounded (3 checks for 30s)"

run_step $ROLE apply kubeconfig=""
expect_failure "apply without a kubeconfig" "input kubeconfig is required"

run_step $ROLE remove kubeconfig="$KUBECONFIG_IN" SHIM_FAIL="kubectl -n rook-ceph delete cephcluster"
expect_failure "remove with the CephCluster stuck" "deleting the CephCluster failed"
calls | grep -q 'operator.yaml' && fail "operator deleted while the CephCluster remained"
ok "remove: operator kept while the CephCluster could not be deleted"
