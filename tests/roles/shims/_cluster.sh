# _cluster.sh — the fake Kubernetes cluster the fake kubeadm builds and the
# fake kubectl asks about (sourced by installable/kubeadm, and by _shim.sh
# for kubectl). One dir, $SHIM_CLUSTER (default $SHIM_STATE/cluster), so
# several fake nodes of one test can share a cluster:
#   endpoint      ADDRESS:6443 (written by kubeadm init's kubeconfig phase)
#   ca.crt ca.key the cluster CA (real, made with openssl); ca.hash is
#                 kubeadm's sha256 of its public key info
#   up            the API server answers (after wait-control-plane)
#   cluster-info  kube-public/cluster-info exists (bootstrap-token phase)
#   addons        CoreDNS and kube-proxy were applied (addon phase)
#   cni           a pod network was applied (kubectl apply of flannel)
#   tokens        bootstrap tokens, one a line
#   nodes/NAME    a registered node: "ip X", "kubelet SYSROOT", "labels ...",
#                 "taints ..."; Ready when its kubelet runs and cni exists
# kubectl answers from it (and exits) for what the kubeadm roles ask: the
# API's /readyz, nodes (get, wait Ready, drain, delete), cluster-info, the
# CoreDNS and kube-proxy rollouts; an API that is down refuses every call.
# Anything else falls through to the fake kubectl itself.
# shellcheck shell=sh

CLUSTER="${SHIM_CLUSTER:-${SHIM_STATE:?}/cluster}"

# node_ready NAME: registered, its kubelet active on its node, and a CNI.
cluster_node_ready() {
	[ -f "$CLUSTER/nodes/$1" ] && [ -f "$CLUSTER/cni" ] || return 1
	cnr_root="$(awk '$1 == "kubelet" { print $2 }' "$CLUSTER/nodes/$1")"
	[ "$(cat "$cnr_root/../state/systemd/kubelet" 2>/dev/null)" = active ]
}

# cluster_kubectl ARGS...: handles the calls above (exits), returns for others.
cluster_kubectl() {
	[ -f "$CLUSTER/endpoint" ] || return 0
	ck_kc="${KUBECONFIG:-}" ck_ns=default
	while [ $# -gt 0 ]; do
		case $1 in
		--kubeconfig) ck_kc=$2; shift 2 ;;
		--kubeconfig=*) ck_kc=${1#*=}; shift ;;
		-n | --namespace) ck_ns=$2; shift 2 ;;
		--namespace=*) ck_ns=${1#*=}; shift ;;
		*) break ;;
		esac
	done
	[ -n "$ck_kc" ] && [ -s "$ck_kc" ] || return 0
	ck_server="$(sed -n 's/^[[:space:]]*server:[[:space:]]*//p' "$ck_kc" | head -n 1)"
	[ "$ck_server" = "https://$(cat "$CLUSTER/endpoint")" ] || return 0
	if [ ! -f "$CLUSTER/up" ]; then
		echo "The connection to the server $(cat "$CLUSTER/endpoint") was refused - did you specify the right host or port?" >&2
		exit 1
	fi
	ck_user="$(sed -n 's/^- name: \(system:node:.*\)$/\1/p' "$ck_kc" | head -n 1)"
	ck_verb=${1:-}
	[ $# -eq 0 ] || shift
	if [ -n "$ck_user" ]; then # a node's own credentials: only its own Node
		if [ "$ck_verb ${1:-}" = "get node" ] && [ "system:node:${2:-}" = "$ck_user" ]; then
			[ -f "$CLUSTER/nodes/$2" ] || { echo "Error from server (NotFound): nodes \"$2\" not found" >&2; exit 1; }
			echo "node/$2"
			exit 0
		fi
		echo "Error from server (Forbidden): User \"$ck_user\" cannot $ck_verb ${1:-} ${2:-}: the Node authorizer allows a node its own Node object only" >&2
		exit 1
	fi
	case "$ck_verb ${1:-}" in
	"get --raw=/readyz" | "get --raw=/healthz") echo ok; exit 0 ;;
	"get node" | "get nodes")
		if [ -n "${2:-}" ] && [ "${2#-}" = "$2" ]; then
			[ -f "$CLUSTER/nodes/$2" ] || { echo "Error from server (NotFound): nodes \"$2\" not found" >&2; exit 1; }
			echo "node/$2"
			exit 0
		fi
		case "$*" in
		*InternalIP*) ck_fmt=ip ;;
		*'conditions[?(@.type=="Ready")].status'*) ck_fmt=ready ;;
		*'-o name'* | *'-oname'* | *'--output=name'*) ck_fmt=name ;;
		*) return 0 ;; # other output formats: the fake kubectl's
		esac
		ck_sep=""
		for ck_n in "$CLUSTER"/nodes/*; do
			[ -f "$ck_n" ] || continue
			case $ck_fmt in
			ip) printf '%s %s\n' "${ck_n##*/}" "$(awk '$1 == "ip" { print $2 }' "$ck_n")" ;;
			name) echo "node/${ck_n##*/}" ;;
			ready)
				if cluster_node_ready "${ck_n##*/}"; then printf '%sTrue' "$ck_sep"; else printf '%sFalse' "$ck_sep"; fi
				ck_sep=" "
				;;
			esac
		done
		exit 0
		;;
	"get configmap")
		if [ "$ck_ns/${2:-}" = kube-public/cluster-info ] && [ -f "$CLUSTER/cluster-info" ]; then
			echo "configmap/cluster-info"
			exit 0
		fi
		[ "$ck_ns" = kube-public ] || [ "$ck_ns" = kube-system ] || return 0
		echo "Error from server (NotFound): configmaps \"${2:-}\" not found" >&2
		exit 1
		;;
	"wait "*)
		for ck_a; do
			case $ck_a in
			node/*)
				ck_n=${ck_a#node/}
				[ -f "$CLUSTER/nodes/$ck_n" ] || { echo "Error from server (NotFound): nodes \"$ck_n\" not found" >&2; exit 1; }
				cluster_node_ready "$ck_n" || { echo "error: timed out waiting for the condition on nodes/$ck_n" >&2; exit 1; }
				echo "node/$ck_n condition met"
				exit 0
				;;
			esac
		done
		return 0
		;;
	"rollout status")
		case "$ck_ns ${2:-}" in
		"kube-system deployment/coredns")
			[ -f "$CLUSTER/addons" ] || { echo 'Error from server (NotFound): deployments.apps "coredns" not found' >&2; exit 1; }
			[ -f "$CLUSTER/cni" ] || { echo 'error: timed out waiting for the condition (Waiting for deployment "coredns" rollout to finish: 0 of 2 updated replicas are available...)' >&2; exit 1; }
			echo 'deployment "coredns" successfully rolled out'
			exit 0
			;;
		"kube-system daemonset/kube-proxy")
			[ -f "$CLUSTER/addons" ] || { echo 'Error from server (NotFound): daemonsets.apps "kube-proxy" not found' >&2; exit 1; }
			echo 'daemon set "kube-proxy" successfully rolled out'
			exit 0
			;;
		esac
		return 0
		;;
	"drain "*)
		[ -f "$CLUSTER/nodes/$1" ] || { echo "Error from server (NotFound): nodes \"$1\" not found" >&2; exit 1; }
		echo "unschedulable true" >>"$CLUSTER/nodes/$1"
		echo "node/$1 cordoned"
		cluster_node_ready "$1" || { echo "error: unable to drain node \"$1\" due to error: global timeout reached: 2m0s, continuing command..." >&2; exit 1; }
		echo "node/$1 drained"
		exit 0
		;;
	"delete node")
		if [ -f "$CLUSTER/nodes/${2:-}" ]; then
			rm -f "$CLUSTER/nodes/$2"
			echo "node \"$2\" deleted"
		fi
		exit 0
		;;
	"apply -f")
		grep -q 'name: kube-flannel-ds' "$2" 2>/dev/null && : >"$CLUSTER/cni"
		return 0
		;;
	esac
	return 0
}
