# fabric.sh — what apply and remove of fabric-collector share: where the
# role keeps its state on a node, apt with a lock timeout, and the post's
# own admin kubeconfig (no kubeconfig is ever passed in: none leaves the
# post).
# shellcheck shell=sh

# shellcheck disable=SC2034 # used by the scripts that source this file
FABRIC_STATE="$ROOT/var/lib/overcloud/fabric-collector"
# shellcheck disable=SC2034
FABRIC_NS=overcloud-fabric

# fabric_apt ARGS...: apt-get that waits for the dpkg lock (cloud-init and
# unattended-upgrades hold it on a fresh VM) instead of failing at once.
fabric_apt() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
}

# fabric_use_post_kubeconfig: the servers run from the post with the
# cluster's admin kubeconfig that kubeadm wrote there.
fabric_use_post_kubeconfig() {
	command -v kubectl >/dev/null 2>&1 || die "kubectl is not installed on this node (post=true runs on the post, after k8s-master)"
	KUBECONFIG="$ROOT/etc/kubernetes/admin.conf"
	[ -s "$KUBECONFIG" ] ||
		die "post=true needs the post's admin kubeconfig /etc/kubernetes/admin.conf (run k8s-master on this node first)"
	export KUBECONFIG
}
