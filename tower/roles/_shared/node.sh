# node.sh — kubeadm node work shared by k8s-master, k8s-worker and
# edge-worker: packages, kernel and containerd preparation, join command
# checks, reset. Needs lib.sh sourced first. Kept once here in _shared;
# those roles list it under include: and get it at their bundle's top.
# shellcheck shell=sh

# Installs whichever of containerd, kubelet, kubeadm and kubectl is missing
# (from the node's configured apt repositories) and holds the kube packages.
install_k8s_packages() {
	missing=""
	hold=""
	for pkg in containerd kubelet kubeadm kubectl; do
		if ! command -v "$pkg" >/dev/null 2>&1; then
			missing="$missing $pkg"
			[ "$pkg" = containerd ] || hold="$hold $pkg"
		fi
	done
	if [ -z "$missing" ]; then
		log "containerd, kubelet, kubeadm and kubectl are already installed"
		return 0
	fi
	log "installing:$missing"
	DEBIAN_FRONTEND=noninteractive
	export DEBIAN_FRONTEND
	apt-get update -q || die "apt-get update failed"
	# shellcheck disable=SC2086 # word splitting of the package list is meant
	apt-get install -y -q --no-install-recommends $missing ||
		die "apt-get install of$missing failed"
	if [ -n "$hold" ]; then
		# shellcheck disable=SC2086
		apt-mark hold $hold >/dev/null || die "apt-mark hold$hold failed"
	fi
	for pkg in $missing; do
		command -v "$pkg" >/dev/null 2>&1 || die "$pkg is still missing after apt-get install"
	done
}

# Swap off, kernel modules and sysctls for kubeadm, containerd with the
# systemd cgroup driver (what kubeadm configures the kubelet for).
prepare_node() {
	swapoff -a || die "swapoff -a failed"
	if [ -f "$ROOT/etc/fstab" ]; then
		sed -i '/^[^#].*[[:space:]]swap[[:space:]]/s/^/#/' "$ROOT/etc/fstab" ||
			die "could not comment out swap in /etc/fstab"
	fi
	if command -v dphys-swapfile >/dev/null 2>&1; then # Raspberry Pi OS
		dphys-swapfile swapoff || warn "dphys-swapfile swapoff failed"
		systemctl disable dphys-swapfile || warn "could not disable dphys-swapfile"
	fi

	mkdir -p "$ROOT/etc/modules-load.d" "$ROOT/etc/sysctl.d" "$ROOT/etc/containerd"
	printf 'overlay\nbr_netfilter\n' >"$ROOT/etc/modules-load.d/overcloud-k8s.conf"
	modprobe overlay || die "modprobe overlay failed"
	modprobe br_netfilter || die "modprobe br_netfilter failed"
	cat >"$ROOT/etc/sysctl.d/99-overcloud-k8s.conf" <<'CONF'
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
CONF
	sysctl --system >/dev/null || die "sysctl --system failed"

	cfg="$ROOT/etc/containerd/config.toml"
	if grep -q 'SystemdCgroup = true' "$cfg" 2>/dev/null; then
		log "containerd already uses the systemd cgroup driver"
	else
		containerd config default >"$WORK/containerd.toml" ||
			die "containerd config default failed"
		sed 's/SystemdCgroup = false/SystemdCgroup = true/' "$WORK/containerd.toml" >"$cfg"
		grep -q 'SystemdCgroup = true' "$cfg" ||
			die "could not set SystemdCgroup = true in $cfg"
		systemctl restart containerd || die "systemctl restart containerd failed"
	fi
	systemctl enable containerd kubelet || die "systemctl enable containerd kubelet failed"
}

# node_name: the name kubeadm registers this node under (its hostname,
# lower-cased).
node_name() {
	hostname | tr '[:upper:]' '[:lower:]'
}

# normalize_join FILE: prints the first `kubeadm join` command found in FILE
# as one line. kubeadm init prints it over several lines ending in a
# backslash; kubeadm token create --print-join-command prints one line.
normalize_join() {
	awk '
		{ sub(/\r$/, "") }
		!on && /^[[:space:]]*kubeadm join / { on = 1 }
		on {
			more = sub(/[[:space:]]*\\[[:space:]]*$/, "")
			cmd = cmd " " $0
			if (!more) { done = 1; exit }
		}
		END {
			gsub(/[[:space:]]+/, " ", cmd)
			sub(/^ /, "", cmd)
			sub(/ $/, "", cmd)
			if (cmd != "") print cmd
		}' "$1"
}

# check_join COMMAND: refuses anything that is not a plain `kubeadm join`
# line. Messages never include the command (it holds a token).
check_join() {
	case $1 in
	"kubeadm join "*) ;;
	*) die "join_command must start with 'kubeadm join '; refusing it" ;;
	esac
	if printf '%s\n' "$1" | grep -q '[^][A-Za-z0-9 :._/=,@-]'; then
		die "join_command has characters other than letters, digits, spaces and :._/=,@-[]; refusing it"
	fi
	case " $1 " in
	*" --config "* | *" --config="*) die "join_command must not pass --config; refusing it" ;;
	esac
}

# run_join COMMAND: runs a checked join command split into words (no shell
# evaluation, no globbing). Skipped when the node already joined.
run_join() {
	if [ -f "$ROOT/etc/kubernetes/kubelet.conf" ]; then
		log "this node already joined a cluster (/etc/kubernetes/kubelet.conf exists); not joining again"
		return 0
	fi
	set -f
	# shellcheck disable=SC2086 # split into words on purpose; checked above
	set -- ${1#kubeadm }
	set +f
	kubeadm "$@" || die "kubeadm join failed"
}

# drain_and_delete NODE: with $KUBECONFIG set, moves the node's pods away
# and removes the node object.
drain_and_delete() {
	if ! kubectl get node "$1" >/dev/null 2>&1; then
		log "node $1 is not in the cluster; nothing to drain"
		return 0
	fi
	kubectl drain "$1" --ignore-daemonsets --delete-emptydir-data --force --timeout=300s ||
		die "kubectl drain $1 failed"
	kubectl delete node "$1" --ignore-not-found || die "kubectl delete node $1 failed"
}

# reset_node: kubeadm reset, then what kubeadm reset leaves behind by its own
# docs: CNI config, iptables/IPVS rules, CNI interfaces; stops the kubelet.
reset_node() {
	if command -v kubeadm >/dev/null 2>&1; then
		kubeadm reset -f || die "kubeadm reset -f failed"
	else
		log "kubeadm is not installed; nothing to reset"
	fi
	rm -rf "$ROOT/etc/cni/net.d"
	for link in cni0 flannel.1; do
		if ip link show "$link" >/dev/null 2>&1; then
			ip link delete "$link" || die "ip link delete $link failed"
		fi
	done
	iptables -F || die "iptables -F failed"
	iptables -t nat -F || die "iptables -t nat -F failed"
	iptables -t mangle -F || die "iptables -t mangle -F failed"
	iptables -X || die "iptables -X failed"
	if command -v ipvsadm >/dev/null 2>&1; then
		ipvsadm --clear || die "ipvsadm --clear failed"
	fi
	if command -v kubelet >/dev/null 2>&1; then
		systemctl stop kubelet || warn "systemctl stop kubelet failed"
	fi
	rm -f "$ROOT/etc/modules-load.d/overcloud-k8s.conf" "$ROOT/etc/sysctl.d/99-overcloud-k8s.conf"
}
