# datalake.sh — what the rook-datalake steps share: the kubeconfig of the
# post, the Rook manifests fetched by pin (and mirrored), the names.
# shellcheck shell=sh

# shellcheck disable=SC2034 # used by the steps that source this file
NS=rook-ceph
# shellcheck disable=SC2034
RBD_PROVISIONER=rook-ceph.rbd.csi.ceph.com

# use_post_kubeconfig: the DataLake runs on the post, as root, with the
# admin kubeconfig kubeadm wrote there; no kubeconfig is an input any more.
use_post_kubeconfig() {
	KUBECONFIG="$ROOT/etc/kubernetes/admin.conf"
	[ -s "$KUBECONFIG" ] ||
		die "no /etc/kubernetes/admin.conf on this node: rook-datalake runs on the post, after k8s-master"
	export KUBECONFIG
	command -v kubectl >/dev/null 2>&1 || die "kubectl is not installed on this node"
}

# rook_manifest NAME: fetches the pinned Rook manifest NAME (artifacts file)
# to $WORK/NAME.yaml with its images rewritten for image_registry.
rook_manifest() {
	fetch_artifact "$1" "$WORK/$1.yaml"
	mirror_images "$WORK/$1.yaml"
}
