#!/usr/bin/env bash
# rook-datalake against the fake kubectl (a model of kubectl and the API
# server, tests/roles/validate/kubectl.mjs) and a loopback mirror serving
# the Rook manifests: pinned upstream manifests fetched and checked by
# sha256, CRDs before custom resources, mons = min(3, nodes), 0 OSDs and bad
# health fail with the reason, pool + default StorageClass proven by a bound
# claim, dashboard URL and password (secret), preserve exporting the users'
# volumes, remove.
#
# The mirror serves stand-ins written here (CI has no internet). With
# OC_ROOK_CRDS=/path/to/crds.yaml (Rook v1.20.6's) the real CRDs are served
# instead, so the CephCluster and CephBlockPool the role writes are validated
# against the real CRD schemas; OC_ROOK_EXAMPLES=/path/to/deploy/examples
# serves every real manifest (crds, common, csi-operator, operator,
# toolbox). Without them the schema check of the Rook kinds says SKIPPED.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/kube_sim.sh"

ROLE=rook-datalake
ROOK=v1.20.6
TEST_T0=$SECONDS
for tool in curl sha256sum python3; do
	path=$(type -P "$tool") || fail "$tool is not installed"
	ln -sf "$path" "$T/bin/$tool"
done

check_role_yaml $ROLE
(cd "$(role_bundle $ROLE)" && shellcheck -x -s sh preserve) || fail "$ROLE: shellcheck preserve"
# No upstream copies in the repository: the manifests are pins.
for f in crds.yaml common.yaml operator.yaml csi-operator.yaml toolbox.yaml cluster.yaml; do
	[ ! -e "$ROLES_DIR/$ROLE/$f" ] || fail "tower/roles/$ROLE/$f is a copy of an upstream manifest"
done
for m in crds common csi-operator operator toolbox; do
	grep -Eq "^rook-$m $ROOK [0-9a-f]{64} https://raw.githubusercontent.com/rook/rook/$ROOK/deploy/examples/$m.yaml\$" \
		"$ROLES_DIR/$ROLE/artifacts" || fail "artifacts does not pin rook-$m $ROOK by its upstream URL"
done
ok "no upstream manifest in the role; crds, common, csi-operator, operator, toolbox pinned at Rook $ROOK"

# --- the mirror: BASE/raw.githubusercontent.com/rook/rook/TAG/deploy/examples/*
MIRROR=$T/mirror
EX=$MIRROR/raw.githubusercontent.com/rook/rook/$ROOK/deploy/examples
mkdir -p "$EX"
crd() { # KIND PLURAL: a stand-in CRD of ceph.rook.io/v1 that keeps any spec
	cat <<EOF
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $2.ceph.rook.io
spec:
  group: ceph.rook.io
  names: {kind: $1, listKind: ${1}List, plural: $2, singular: ${1,,}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
            status: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
}
{ crd CephCluster cephclusters; crd CephBlockPool cephblockpools; } >"$EX/crds.yaml"
cat >"$EX/common.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: rook-ceph
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: rook-ceph-system
  namespace: rook-ceph
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: rook-ceph-system
rules:
  - apiGroups: ["ceph.rook.io"]
    resources: ["*"]
    verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: rook-ceph-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rook-ceph-system}
subjects:
  - {kind: ServiceAccount, name: rook-ceph-system, namespace: rook-ceph}
EOF
deployment() { # NAME SERVICEACCOUNT IMAGE
	cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
  namespace: rook-ceph
spec:
  replicas: 1
  selector:
    matchLabels: {app: $1}
  template:
    metadata:
      labels: {app: $1}
    spec:
      serviceAccountName: $2
      containers:
        - name: $1
          image: $3
EOF
}
{
	printf 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ceph-csi-operator\n  namespace: rook-ceph\n'
	deployment ceph-csi-controller-manager ceph-csi-operator quay.io/cephcsi/ceph-csi-operator:v1.0.4
} >"$EX/csi-operator.yaml"
{
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rook-ceph-operator-config\n  namespace: rook-ceph\ndata:\n  ROOK_LOG_LEVEL: INFO\n'
	deployment rook-ceph-operator rook-ceph-system docker.io/rook/ceph:$ROOK
} >"$EX/operator.yaml"
# the toolbox mounts what the operator writes once the mons run, as the real one does
{
	deployment rook-ceph-tools default quay.io/ceph/ceph:v20
	cat <<'EOF'
          volumeMounts:
            - {name: ceph-admin-secret, mountPath: /var/lib/rook-ceph-mon, readOnly: true}
            - {name: mon-endpoint-volume, mountPath: /etc/rook}
      volumes:
        - name: ceph-admin-secret
          secret: {secretName: rook-ceph-mon, optional: false}
        - name: mon-endpoint-volume
          configMap: {name: rook-ceph-mon-endpoints}
EOF
} >"$EX/toolbox.yaml"

REAL_CRDS=""
if [ -n "${OC_ROOK_EXAMPLES:-}" ]; then
	for f in crds common csi-operator operator toolbox; do
		[ -f "$OC_ROOK_EXAMPLES/$f.yaml" ] || fail "OC_ROOK_EXAMPLES has no $f.yaml"
		cp "$OC_ROOK_EXAMPLES/$f.yaml" "$EX/$f.yaml"
	done
	REAL_CRDS=$OC_ROOK_EXAMPLES/crds.yaml
elif [ -n "${OC_ROOK_CRDS:-}" ]; then
	cp "$OC_ROOK_CRDS" "$EX/crds.yaml"
	REAL_CRDS=$OC_ROOK_CRDS
fi
if [ -n "$REAL_CRDS" ]; then
	want=$(awk '$1 == "rook-crds" { print $3 }' "$ROLES_DIR/$ROLE/artifacts")
	got=$(sha256sum <"$REAL_CRDS" | cut -d' ' -f1)
	[ "$want" = "$got" ] || fail "$REAL_CRDS has sha256 $got, not the pinned $want of Rook $ROOK's crds.yaml"
	ok "serving the real crds.yaml of Rook $ROOK (sha256 matches the pin)${OC_ROOK_EXAMPLES:+ and the real common, csi-operator, operator, toolbox}"
fi

# the bundle copy pins what the mirror serves (the shipped pins are checked above)
BUNDLE=$(role_bundle $ROLE)
pin_mirror() {
	local m sum
	: >"$BUNDLE/artifacts"
	for m in crds common csi-operator operator toolbox; do
		sum=$(sha256sum <"$EX/$m.yaml" | cut -d' ' -f1)
		printf 'rook-%s %s %s https://raw.githubusercontent.com/rook/rook/%s/deploy/examples/%s.yaml\n' \
			"$m" "$ROOK" "$sum" "$ROOK" "$m" >>"$BUNDLE/artifacts"
	done
}
pin_mirror

serve_mirror "$MIRROR"

PASSWORD=DashboardAdminPassword-7c1e9f2a5b
# post NAME SIMJSON: a fresh post with kubeadm's admin.conf, kubectl and a
# scripted cluster
post() {
	new_node "$1"
	preinstall kubectl
	mkdir -p "$NODE/root/etc/kubernetes"
	printf 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.5:6443\n  name: kubernetes\n' \
		>"$NODE/root/etc/kubernetes/admin.conf"
	kube_sim "$2"
}
THREE='{"nodes": ["post", "w1", "w2"], "disks": {"post": ["sdb"], "w1": ["sdb"], "w2": ["sdb"]}, "dashboardPassword": "'$PASSWORD'"}'
store() { cat "$NODE/state/kube/store.json"; }
# jq-free look into the fake's store: node evaluates JS on the objects
storeq() {
	node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).objects;
		const o = Object.values(s); process.stdout.write(String(eval(process.argv[2])));' \
		"$NODE/state/kube/store.json" "$1"
}
A=(manifest_base_url="$BASE" ready_timeout=30 bind_timeout=10)

# --- a cluster of three nodes with a raw disk each
post ok "$THREE"
run_step $ROLE apply "${A[@]}"
expect_rc_ok "apply"
calls | grep '^kubectl apply' >"$T/applies"
diff -u - "$T/applies" <<'EOF' || fail "apply order: CRDs, common, CSI operator, operator, then our objects"
kubectl apply --server-side --force-conflicts -f <work>/rook-crds.yaml
kubectl apply --server-side --force-conflicts -f <work>/rook-common.yaml
kubectl apply --server-side --force-conflicts -f <work>/rook-csi-operator.yaml
kubectl apply --server-side --force-conflicts -f <work>/rook-operator.yaml
kubectl apply --server-side -f <work>/cephcluster.yaml
kubectl apply --server-side -f <work>/blockpool.yaml
kubectl apply -f <roles>/rook-datalake/check-pvc.yaml
kubectl apply -f <roles>/rook-datalake/dashboard.yaml
EOF
ok "apply: the fetched CRDs, common resources, CSI operator and operator before the CephCluster, pool, StorageClass"
for m in crds common csi-operator operator; do
	grep -q "GET /raw.githubusercontent.com/rook/rook/$ROOK/deploy/examples/$m.yaml" "$T/http.log" ||
		fail "rook-$m was not fetched from the mirror"
done
ok "apply: the manifests came from manifest_base_url"
[ "$(storeq 'o.filter(x => x.kind === "CustomResourceDefinition").length')" -ge 2 ] || fail "no CRDs in the cluster"
parse_outputs
expect_output mon_count 3
expect_output osd_count 3
expect_output ceph_health HEALTH_OK
expect_output storage_class datalake
[[ ${OUT[dashboard_url]} =~ ^https://10\.0\.0\.5:3[0-9]{4}$ ]] || fail "dashboard_url '${OUT[dashboard_url]}' is not https://POST:NODEPORT"
port=$(storeq 'o.find(x => x.kind === "Service" && x.metadata.name === "overcloud-ceph-dashboard").spec.ports[0].nodePort')
expect_output dashboard_url "https://10.0.0.5:$port"
[ "$(storeq 'o.find(x => x.metadata.name === "overcloud-ceph-dashboard").spec.type')" = NodePort ] || fail "dashboard service is not a NodePort"
expect_output dashboard_password "$PASSWORD"
grep -A2 '^  - name: dashboard_password$' "$ROLES_DIR/$ROLE/role.yaml" | grep -q 'secret: true' || fail "dashboard_password is not a secret output"
expect_no_secrets "apply" "$PASSWORD"
ok "apply: dashboard_url ${OUT[dashboard_url]} (NodePort on the post), dashboard_password secret and never logged"
expect_progress "apply" final
[ "$(storeq 'o.find(x => x.kind === "CephCluster").spec.mon.count')" = 3 ] || fail "CephCluster mon count is not 3"
[ "$(storeq 'o.find(x => x.kind === "CephCluster").spec.storage.useAllDevices')" = false ] || fail "useAllDevices is not false"
[ "$(storeq 'o.find(x => x.kind === "CephCluster").spec.storage.deviceFilter')" = '^(sd[b-z]|vd[b-z]|xvd[b-z]|nvme[1-9]n1)$' ] ||
	fail "the CephCluster does not use the default device_filter"
ok "apply: CephCluster with 3 mons for 3 nodes, OSDs on device_filter, not useAllDevices"
[ "$(storeq 'o.find(x => x.kind === "CephBlockPool").spec.replicated.size')" = 3 ] || fail "pool size is not 3"
[ "$(storeq 'o.find(x => x.kind === "StorageClass").metadata.annotations["storageclass.kubernetes.io/is-default-class"]')" = true ] ||
	fail "the StorageClass is not the default"
calls | grep -qx "kubectl -n rook-ceph get pvc overcloud-datalake-check -o 'jsonpath={.status.phase}'" || fail "apply never looked at the check claim"
[ "$(storeq 'o.filter(x => x.kind === "PersistentVolumeClaim").length')" = 0 ] || fail "the check claim was left behind"
ok "apply: CephBlockPool (3 replicas), default StorageClass datalake, check claim bound and deleted"
if [ -n "$REAL_CRDS" ]; then
	ok "schema: CephCluster and CephBlockPool accepted by the fake kubectl against the real CRD schemas of Rook $ROOK"
else
	echo "SKIPPED: CephCluster/CephBlockPool against Rook $ROOK's CRD schemas (set OC_ROOK_CRDS=/path/to/crds.yaml of Rook $ROOK; CI cannot download it)"
fi

# again: nothing changes, still done
run_step $ROLE apply "${A[@]}"
expect_rc_ok "apply again"
ok "apply again: succeeds on the running DataLake"

# --- preserve: the users' volumes exported to preserve_dir on the post
kube_get create namespace shop >/dev/null
printf 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: orders\n  namespace: shop\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 5Gi\n' |
	kube_get apply -f - >/dev/null
[ "$(kube_get -n shop get pvc orders -o 'jsonpath={.status.phase}')" = Bound ] || fail "a user's claim on the default class did not bind"
image=$(storeq 'o.find(x => x.kind === "PersistentVolume").spec.csi.volumeAttributes.imageName')
run_step $ROLE preserve manifest_base_url="$BASE" preserve_dir=/srv/keep
expect_rc_ok "preserve"
f=$NODE/root/srv/keep/shop_orders.img
[ -f "$f" ] || fail "preserve wrote no shop_orders.img"
grep -q "rbd image datalake/$image of shop/orders" "$f" || fail "shop_orders.img is not the RBD image's export"
calls | grep -qx "kubectl -n rook-ceph exec deploy/rook-ceph-tools -- rbd export datalake/$image -" || fail "no rbd export in the toolbox"
parse_outputs
expect_output preserved_count 1
expect_output preserved "shop/orders datalake/$image /srv/keep/shop_orders.img $(sha256sum <"$f" | cut -d' ' -f1) $(wc -c <"$f")"
ok "preserve: shop/orders exported by rbd export in the toolbox to /srv/keep, recorded with its sha256"
expect_progress "preserve" final

run_step $ROLE preserve manifest_base_url="$BASE" preserve=false preserve_dir=/srv/skip
expect_rc_ok "preserve=false"
calls | grep -q 'exec\|toolbox' && fail "preserve=false still exported"
[ ! -e "$NODE/root/srv/skip" ] || fail "preserve=false made its directory"
parse_outputs
expect_output preserved_count 0
ok "preserve=false: nothing exported, preserved_count=0"

# --- remove: CephCluster first (cleanup confirmed), operator kept until then
run_step $ROLE remove manifest_base_url="$BASE"
expect_rc_ok "remove"
calls | grep '^kubectl' | grep -n 'patch cephcluster\|delete cephcluster\|rook-operator.yaml\|rook-crds.yaml\|delete namespace' | cut -d: -f2- >"$T/rm"
diff -u - <(sed 's/<work>/W/' "$T/rm") <<'EOF' || fail "remove order"
kubectl -n rook-ceph patch cephcluster rook-ceph --type merge -p '{"spec":{"cleanupPolicy":{"confirmation":"yes-really-destroy-data"}}}'
kubectl -n rook-ceph delete cephcluster rook-ceph --wait=true --timeout=900s
kubectl delete --ignore-not-found -f W/rook-operator.yaml
kubectl delete --ignore-not-found -f W/rook-crds.yaml
kubectl delete namespace rook-ceph --ignore-not-found --timeout=300s
EOF
[ "$(storeq 'o.filter(x => x.metadata.namespace === "rook-ceph" || x.kind === "CustomResourceDefinition" || x.kind === "StorageClass").length')" = 0 ] ||
	fail "remove left Rook objects behind"
ok "remove: cleanup confirmed, CephCluster deleted before the operator, nothing of Rook left"
expect_progress "remove" final
run_step $ROLE remove manifest_base_url="$BASE"
expect_rc_ok "remove again"
calls | grep -q 'patch' && fail "patched a missing CephCluster"
ok "remove again: a missing CephCluster is skipped"

# --- the destroy DAG runs preserve before the DataLake is removed
awk '/^destroy:/ { on = 1 } on && /role: rook-datalake/ { getline; print }' "$OC_SRC/tower/patterns/k8s.yaml" >"$T/steps"
[ "$(head -n 1 "$T/steps")" = "    step: preserve" ] || fail "k8s.yaml destroy has no rook-datalake preserve step before remove"
awk '/^destroy:/ { on = 1 } on && /^  - name: datalake$/ { d = 1 } d && /requires:/ { print; exit }' "$OC_SRC/tower/patterns/k8s.yaml" |
	grep -q 'preserve' || fail "k8s.yaml: the datalake remove does not require the preserve step"
ok "k8s.yaml: destroy runs rook-datalake preserve, then remove"

# --- failures
# 0 OSDs: cloud VMs with no disk besides the root disk
post zero '{"nodes": ["post", "w1", "w2"]}'
run_step $ROLE apply "${A[@]}"
expect_failure "apply with no raw disk" "the Ceph cluster has 0 OSDs: no disk matched device_filter"
[ -z "$(cat "$RUN_OUTPUT")" ] || fail "failed apply still wrote outputs"
[ "$(calls | grep -c 'get cephcluster rook-ceph -o .jsonpath={.status.phase}')" = 3 ] || fail "expected 3 bounded cluster checks for 30s"
ok "apply: cluster wait bounded (3 checks for 30s)"

# devices input: only the listed disks become OSDs
post devs '{"nodes": ["post", "w1", "w2"], "disks": {"post": ["sdc"], "w1": ["sdc"], "w2": ["sdc"]}}'
run_step $ROLE apply "${A[@]}" devices=sdb
expect_failure "apply with devices matching no disk" "the Ceph cluster has 0 OSDs: no disk matched devices 'sdb'"
run_step $ROLE apply "${A[@]}" devices=/dev/sdc
expect_rc_ok "apply with devices=/dev/sdc"
[ "$(storeq 'o.find(x => x.kind === "CephCluster").spec.storage.devices[0].name')" = sdc ] || fail "devices not in the CephCluster"
ok "apply: devices=/dev/sdc gives 3 OSDs"

run_step $ROLE apply "${A[@]}" devices="" device_filter=""
expect_failure "apply with no device selection" "set devices (e.g. sdb,nvme1n1) or device_filter"

# mon count follows the nodes: 2 Ready nodes (w2 NotReady) -> 2 mons
post two '{"nodes": ["post", "w1", "w2"], "notReady": ["w2"], "disks": {"post": ["sdb"], "w1": ["sdb"], "w2": ["sdb"]}}'
run_step $ROLE apply "${A[@]}"
expect_rc_ok "apply on 2 Ready nodes"
parse_outputs
expect_output mon_count 2
expect_output osd_count 2
[ "$(storeq 'o.find(x => x.kind === "CephCluster").spec.mon.count')" = 2 ] || fail "CephCluster mon count is not 2"
[ "$(storeq 'o.find(x => x.kind === "CephBlockPool").spec.replicated.size')" = 2 ] || fail "pool size is not 2"
ok "apply: 2 Ready nodes give 2 mons and a 2-replica pool"
run_step $ROLE apply "${A[@]}" storage_nodes=3
expect_failure "apply with storage_nodes over the Ready nodes" "storage_nodes is 3 but only 2 nodes are Ready"

# health: HEALTH_ERR halts I/O and fails; HEALTH_WARN works, is published and warned about
post err '{"nodes": ["post", "w1", "w2"], "disks": {"post": ["sdb"], "w1": ["sdb"], "w2": ["sdb"]}, "cephHealth": "HEALTH_ERR"}'
run_step $ROLE apply "${A[@]}"
expect_failure "apply with HEALTH_ERR" "the Ceph cluster's health is HEALTH_ERR"
kube_sim '{"nodes": ["post", "w1", "w2"], "disks": {"post": ["sdb"], "w1": ["sdb"], "w2": ["sdb"]}, "cephHealth": "HEALTH_WARN"}'
run_step $ROLE apply "${A[@]}"
expect_rc_ok "apply with HEALTH_WARN"
parse_outputs
expect_output ceph_health HEALTH_WARN
grep -q 'warning: Ceph health is HEALTH_WARN' "$RUN_STDERR" || fail "HEALTH_WARN not warned about"
ok "apply: HEALTH_WARN accepted with a warning and published"

# the claim does not bind when the CSI driver is down
post nobind '{"nodes": ["post", "w1", "w2"], "disks": {"post": ["sdb"], "w1": ["sdb"], "w2": ["sdb"]}, "imagePullFails": ["ceph-csi-controller-manager"]}'
run_step $ROLE apply "${A[@]}"
expect_failure "apply with the CSI driver down" "the check claim on StorageClass datalake is still Pending after 10s"
[ -z "$(cat "$RUN_OUTPUT")" ] || fail "failed apply still wrote outputs"

# the operator never starts (e.g. a common.yaml without its service account)
post noop '{"nodes": ["post"], "disks": {"post": ["sdb"]}, "imagePullFails": ["rook-ceph-operator"]}'
run_step $ROLE apply "${A[@]}"
expect_failure "apply with the operator not starting" "the rook-ceph-operator deployment did not become available"
calls | grep -q 'cephcluster.yaml' && fail "CephCluster applied without a running operator"
ok "apply: no CephCluster before the operator runs"

# a manifest whose bytes are not the pinned ones is refused before kubectl
post badsum '{"nodes": ["post"]}'
printf '# changed\n' >>"$EX/common.yaml"
run_step $ROLE apply "${A[@]}"
expect_failure "apply with a changed common.yaml" "sha256"
grep -q "artifact rook-common $ROOK from $BASE/raw.githubusercontent.com/rook/rook/$ROOK/deploy/examples/common.yaml: sha256 .*, pinned .*; refusing it" "$RUN_STDERR" ||
	fail "no sha256 refusal message: $(cat "$RUN_STDERR")"
calls | grep -q '^kubectl apply' && fail "kubectl applied something after a sha256 mismatch"
ok "apply: sha256 mismatch refused before anything is applied"
pin_mirror

# not on the post: no admin.conf
new_node worker
preinstall kubectl
run_step $ROLE apply "${A[@]}"
expect_failure "apply without admin.conf" "no /etc/kubernetes/admin.conf on this node"
run_step $ROLE preserve manifest_base_url="$BASE" preserve_dir=relative/dir
expect_failure "preserve with a relative preserve_dir" "must be an absolute path"
echo "calls: $(cat "$T"/node-*/calls.log | grep -c "^kubectl") kubectl, $((SECONDS - TEST_T0))s" >&2
