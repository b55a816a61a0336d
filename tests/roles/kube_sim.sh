# kube_sim.sh — scripts the state of the fake kubectl's cluster (see
# tests/roles/validate/kubectl.mjs) for the current node of tests/roles/lib.sh.
# Source it after lib.sh and new_node.
#
#   kube_sim '{"nodes": ["post", "w1", "w2"], "disks": {"w1": ["sdb"], "w2": ["sdb"]}}'
#
# Keys: nodes (registered nodes; unset: any name asked for exists, Ready),
# notReady, disks (raw disks per node Rook may turn into OSDs), imagePullFails
# (deployments whose pods never start), cephHealth (overrides the computed
# health), dashboardPassword, rbdImages ({"pool/image": "content"}).
# kube_objects: prints the store (JSON) for assertions with node or grep.

kube_sim() {
	mkdir -p "$NODE/state/kube"
	printf '%s\n' "$1" >"$NODE/state/kube/sim.json"
}

# kube_get ARGS...: runs the fake kubectl outside any role step (no call log
# line kept), with the node's kubeconfig, e.g. kube_get get pvc -A -o name.
kube_get() {
	local log
	log=$(mktemp "$T/kube_get.XXXXXX")
	SHIM_LOG=$log SHIM_STATE=$NODE/state OC_SYSROOT=$NODE/root \
		KUBECONFIG=${KUBE_SIM_KUBECONFIG:-$NODE/root/etc/kubernetes/admin.conf} \
		"$SHIMS/installable/kubectl" "$@"
	rm -f "$log"
}
