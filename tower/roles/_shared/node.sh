# node.sh — kubeadm node work shared by k8s-master, k8s-worker and
# edge-worker: the Kubernetes and containerd apt repositories (keys checked
# by fingerprint), pinned packages, kernel and containerd preparation,
# kubeadm config files, health checks, join checks, reset. Needs lib.sh
# sourced first and need_agent_env called. Versions come from k8s-release.
# shellcheck shell=sh

# Seconds apt waits for the dpkg lock (cloud-init and unattended-upgrades
# hold it on a fresh VM) instead of failing at once.
APT_LOCK_TIMEOUT=600
CONTAINERD_SOCKET=unix:///run/containerd/containerd.sock
KEYRINGS=/etc/apt/keyrings

# k8s_release KEY: the value of KEY in the bundle's k8s-release file.
k8s_release() {
	kr="$(awk -v k="$1" '$1 == k { $1 = ""; sub(/^ +/, ""); print; exit }' "$ROLE_DIR/k8s-release")"
	[ -n "$kr" ] || die "k8s-release has no $1"
	printf '%s\n' "$kr"
}

# apt_get ARGS...: apt-get that waits for the dpkg lock, never prompts.
apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_TIMEOUT" "$@"
}

# mirror_url URL: URL, or with the apt_mirror input BASE/HOST/PATH (the
# mirror keeps each upstream repository under its host and path).
mirror_url() {
	am="${INPUT_APT_MIRROR:-}"
	if [ -z "$am" ]; then
		printf '%s\n' "$1"
		return 0
	fi
	case $am in
	http://* | https://*) ;;
	*) die "apt_mirror '$am' is not an http:// or https:// URL" ;;
	esac
	printf '%s/%s\n' "${am%/}" "${1#https://}"
}

# resolve_versions: sets K8S_VERSION (1.34.12), K8S_MINOR (1.34),
# K8S_PKG_VERSION (1.34.12-1.1) and K8S_REPO from k8s-release and the
# kubernetes_version / kubernetes_repo inputs.
resolve_versions() {
	K8S_VERSION="${INPUT_KUBERNETES_VERSION:-}"
	[ -n "$K8S_VERSION" ] || K8S_VERSION="$(k8s_release kubernetes_version)"
	K8S_VERSION="${K8S_VERSION#v}"
	rv_pinned="$(k8s_release kubernetes_version)"
	# a minor alone (the pattern's default "1.34") means the patch pinned here
	[ "$K8S_VERSION" != "${rv_pinned%.*}" ] || K8S_VERSION="$rv_pinned"
	printf '%s\n' "$K8S_VERSION" | grep -Eqx '1\.[0-9]+\.[0-9]+' ||
		die "kubernetes_version '$K8S_VERSION' is not a release like $rv_pinned (or ${rv_pinned%.*}, which means $rv_pinned)"
	K8S_MINOR="${K8S_VERSION%.*}"
	K8S_PKG_VERSION="$K8S_VERSION-$(k8s_release kubernetes_package_revision)"
	K8S_REPO="${INPUT_KUBERNETES_REPO:-}"
	if [ -z "$K8S_REPO" ]; then
		K8S_REPO="$(k8s_release kubernetes_repo | sed "s/{MINOR}/$K8S_MINOR/")"
		K8S_REPO="$(mirror_url "$K8S_REPO")"
	fi
	case $K8S_REPO in
	http://*/ | https://*/) ;;
	*) die "kubernetes_repo '$K8S_REPO' is not an http(s):// URL ending in /" ;;
	esac
	printf '%s\n' "$K8S_REPO" | grep -q '[^A-Za-z0-9:/._~%-]' &&
		die "kubernetes_repo '$K8S_REPO' has characters a repository URL cannot have"
	return 0
}

# fetch_key URL DEST FINGERPRINT: DEST gets the armored key at URL, refused
# unless it holds exactly one primary key whose fingerprint is FINGERPRINT.
fetch_key() {
	rm -f "$2.part"
	curl --fail --silent --show-error --location --proto '=http,https' \
		--connect-timeout 15 --max-time 120 --retry 5 --retry-delay 2 \
		--retry-all-errors --output "$2.part" "$1" ||
		die "could not download the signing key $1"
	mkdir -p "$WORK/gnupg"
	chmod 700 "$WORK/gnupg"
	fk_fprs="$(GNUPGHOME="$WORK/gnupg" gpg --batch --show-keys --with-colons "$2.part" 2>/dev/null |
		awk -F: '$1 == "pub" { want = 1; n++; next } $1 == "fpr" && want { print $10; want = 0 }
			END { if (n != 1) exit 1 }')" ||
		die "the signing key from $1 is not exactly one OpenPGP key; refusing it"
	[ "$fk_fprs" = "$3" ] ||
		die "the signing key from $1 has fingerprint ${fk_fprs:-none}, pinned $3; refusing it"
	mv "$2.part" "$2"
}

# add_repo NAME KEYURL FINGERPRINT LINE: the repository's key in
# /etc/apt/keyrings/NAME.asc (checked by fingerprint) and LINE ("URL SUITE
# [COMPONENT]") in sources.list.d/NAME.list, signed-by that key. Sets
# REPOS_CHANGED when either changed.
add_repo() {
	mkdir -p "$ROOT$KEYRINGS" "$ROOT/etc/apt/sources.list.d"
	ar_key="$ROOT$KEYRINGS/$1.asc"
	ar_list="$ROOT/etc/apt/sources.list.d/$1.list"
	ar_want="deb [signed-by=$KEYRINGS/$1.asc] $4"
	if [ -f "$ar_key" ] && [ "$(cat "$ar_list" 2>/dev/null)" = "$ar_want" ]; then
		return 0
	fi
	fetch_key "$2" "$WORK/$1.asc" "$3"
	cp "$WORK/$1.asc" "$ar_key"
	chmod 644 "$ar_key"
	printf '%s\n' "$ar_want" >"$ar_list"
	log "apt repository $1: $4 (key $3)"
	REPOS_CHANGED=1
}

# installed_version PKG: the installed version of PKG, empty when none.
installed_version() {
	dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null |
		awk '$1 == "install" && $3 == "installed" { print $4 }'
}

# version_ge A B: dotted version A >= B (numeric parts, up to 3).
version_ge() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		split(a, x, /[.~+-]/); split(b, y, /[.~+-]/)
		for (i = 1; i <= 3; i++) { if (x[i] + 0 > y[i] + 0) exit 0; if (x[i] + 0 < y[i] + 0) exit 1 }
		exit 0 }'
}

# containerd_supported VERSION: VERSION is one k8s-release lists as
# supported (same major.minor and at least that patch, or a newer minor).
containerd_supported() {
	cs_highest=""
	for cs_min in $(k8s_release containerd_supported); do
		[ "${1%.*}" = "${cs_min%.*}" ] && { version_ge "$1" "$cs_min"; return; }
		cs_highest="$cs_min"
	done
	[ -n "$cs_highest" ] && version_ge "$1" "${cs_highest%.*}.999"
}

# need_debian_tools: curl and gpg (for the keys) from Debian when missing.
need_debian_tools() {
	ndt=""
	command -v curl >/dev/null 2>&1 || ndt="$ndt curl ca-certificates"
	command -v gpg >/dev/null 2>&1 || ndt="$ndt gpg"
	[ -n "$ndt" ] || return 0
	log "installing from Debian:$ndt"
	apt_get update -q || die "apt-get update failed"
	# shellcheck disable=SC2086 # a list of package names
	apt_get install -y -q --no-install-recommends $ndt || die "apt-get install of$ndt failed"
}

# install_k8s_packages: the Kubernetes and containerd repositories, then
# kubelet, kubeadm and kubectl at K8S_PKG_VERSION and containerd.io, held.
# Nothing is touched when all are already there at those versions.
install_k8s_packages() {
	resolve_versions
	REPOS_CHANGED=0
	want="kubelet=$K8S_PKG_VERSION kubeadm=$K8S_PKG_VERSION kubectl=$K8S_PKG_VERSION"
	todo=""
	for pkg in kubelet kubeadm kubectl; do
		have="$(installed_version "$pkg")"
		if [ -n "$have" ] && [ "$have" != "$K8S_PKG_VERSION" ]; then
			die "$pkg $have is installed, this step installs $K8S_PKG_VERSION; upgrade the node with kubeadm upgrade or reset it first"
		fi
		[ -n "$have" ] || todo="$todo $pkg"
	done
	[ -n "$(installed_version containerd.io)" ] || todo="$todo containerd.io"
	need_debian_tools
	add_repo overcloud-kubernetes "${K8S_REPO}Release.key" "$(k8s_release kubernetes_key_fingerprint)" "$K8S_REPO /"
	cd_repo="$(mirror_url "$(k8s_release containerd_repo)")"
	add_repo overcloud-containerd "$(mirror_url "$(k8s_release containerd_key_url)")" \
		"$(k8s_release containerd_key_fingerprint)" "$cd_repo $(k8s_release containerd_suite) stable"
	if [ -n "$todo" ]; then
		log "installing:$todo (Kubernetes $K8S_PKG_VERSION)"
		apt_get update -q || die "apt-get update failed"
		cd_pkg=containerd.io
		[ -z "${INPUT_CONTAINERD_VERSION:-}" ] || cd_pkg="containerd.io=$INPUT_CONTAINERD_VERSION"
		# shellcheck disable=SC2086 # package=version words
		apt_get install -y -q --no-install-recommends $want "$cd_pkg" ||
			die "apt-get install of kubelet, kubeadm, kubectl $K8S_PKG_VERSION and containerd.io failed"
	elif [ "$REPOS_CHANGED" = 1 ]; then
		apt_get update -q || die "apt-get update failed"
	else
		log "kubelet, kubeadm, kubectl $K8S_PKG_VERSION and containerd.io are installed"
	fi
	cd_have="$(containerd --version 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^v?[0-9]+\.[0-9]+\.[0-9]+/) { sub(/^v/, "", $i); print $i; exit } }')"
	containerd_supported "${cd_have:-0.0.0}" ||
		die "containerd ${cd_have:-?} is not one Kubernetes $K8S_MINOR supports ($(k8s_release containerd_supported) or newer)"
	held="$(apt-mark showhold 2>/dev/null | tr '\n' ' ')"
	for pkg in kubelet kubeadm kubectl containerd.io; do
		case " $held" in
		*" $pkg "*) ;;
		*) apt-mark hold "$pkg" >/dev/null || die "apt-mark hold $pkg failed" ;;
		esac
	done
}

# load_module NAME: loads a kernel module unless it is already there (loaded
# or built into the kernel: both show in /sys/module).
load_module() {
	[ -d "$ROOT/sys/module/$1" ] && return 0
	modprobe "$1" && return 0
	[ -d "$ROOT/sys/module/$1" ] || die "kernel module $1 is neither built in nor loadable (modprobe $1 failed)"
}

# check_memory_cgroup: the kubelet refuses to run without the memory
# cgroup controller; Raspberry Pi OS kernels leave it off by default.
check_memory_cgroup() {
	if [ -f "$ROOT/sys/fs/cgroup/cgroup.controllers" ]; then
		grep -qw memory "$ROOT/sys/fs/cgroup/cgroup.controllers" && return 0
	elif awk '$1 == "memory" && $4 == 1 { f = 1 } END { exit !f }' "$ROOT/proc/cgroups" 2>/dev/null; then
		return 0
	fi
	case "$(uname -m)" in
	aarch64 | arm64)
		die "the memory cgroup is not enabled; the kubelet cannot run. On a Raspberry Pi add 'cgroup_enable=memory cgroup_memory=1' to the single line of /boot/firmware/cmdline.txt (/boot/cmdline.txt on older Raspberry Pi OS) and reboot" ;;
	*) die "the memory cgroup is not enabled; the kubelet cannot run (enable it on the kernel command line: cgroup_enable=memory) and reboot" ;;
	esac
}

# toml_set FILE SECTION KEY VALUE: KEY = VALUE in table [SECTION] of FILE
# (headers compared with ' and " alike and blanks ignored); the key is
# replaced or added, the table appended when FILE has none.
toml_set() {
	awk -v sect="$2" -v key="$3" -v val="$4" '
		function norm(s) { gsub(/[ \t]/, "", s); gsub(/\047/, "\"", s); return s }
		BEGIN { want = "[" norm(sect) "]" }
		/^[ \t]*\[/ {
			if (in_s && !done) { print "  " key " = " val; done = 1 }
			in_s = (norm($0) == want)
			if (in_s) found = 1
		}
		in_s && !done && $0 ~ "^[ \t]*" key "[ \t]*=" {
			match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) key " = " val; done = 1; next }
		{ print }
		END {
			if (in_s && !done) { print "  " key " = " val; done = 1 }
			if (!found) { print ""; print "[" sect "]"; print "  " key " = " val }
		}' "$1" >"$1.new" && mv "$1.new" "$1"
}

# registry_hosts: with the image_registry input, a hosts.toml per upstream
# registry in /etc/containerd/certs.d (containerd's config_path) sending
# pulls to REGISTRY/HOST, as image_ref names the images.
registry_hosts() {
	reg="${INPUT_IMAGE_REGISTRY:-}"
	[ -n "$reg" ] || return 0
	image_ref registry.k8s.io/pause >/dev/null # checks the input
	for up in registry.k8s.io docker.io ghcr.io quay.io; do
		d="$ROOT/etc/containerd/certs.d/$up"
		mkdir -p "$d"
		if [ -f "$d/hosts.toml" ] && ! grep -q '^# managed by overcloud' "$d/hosts.toml"; then
			warn "$d/hosts.toml is not ours; leaving it"
			continue
		fi
		server="https://$up"
		[ "$up" != docker.io ] || server="https://registry-1.docker.io"
		printf '# managed by overcloud: pulls of %s go to the image_registry mirror\nserver = "%s"\n\n[host."https://%s/v2/%s"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n' \
			"$up" "$server" "${reg%/}" "$up" >"$d/hosts.toml.new"
		mv "$d/hosts.toml.new" "$d/hosts.toml"
	done
}

# configure_containerd: our settings merged into /etc/containerd/config.toml
# (backed up first as config.toml.overcloud-orig): the CRI plugin enabled,
# SystemdCgroup, the sandbox image, config_path for registry mirrors.
# containerd is restarted only when the file changed.
configure_containerd() {
	cfg="$ROOT/etc/containerd/config.toml"
	mkdir -p "$ROOT/etc/containerd/certs.d"
	[ ! -f "$cfg" ] || [ -f "$cfg.overcloud-orig" ] || cp -p "$cfg" "$cfg.overcloud-orig"
	if [ -f "$cfg" ] && grep -Eq '^[[:space:]]*version[[:space:]]*=' "$cfg"; then
		cp "$cfg" "$WORK/containerd.toml"
	else
		# no config, or Docker's stub (only disabled_plugins = ["cri"]):
		# start from containerd's defaults
		containerd config default >"$WORK/containerd.toml" || die "containerd config default failed"
	fi
	t="$WORK/containerd.toml"
	if grep -Eq '^[[:space:]]*\[.*registry\.mirrors\.' "$t" && [ -n "${INPUT_IMAGE_REGISTRY:-}" ]; then
		die "$cfg has registry.mirrors, which containerd ignores with config_path; move them to /etc/containerd/certs.d/HOST/hosts.toml"
	fi
	# the CRI plugin must not be disabled (Docker's containerd.io package disables it)
	sed -E -i '/^[[:space:]]*disabled_plugins[[:space:]]*=/s/"(io\.containerd\.grpc\.v1\.)?cri"[[:space:]]*,?[[:space:]]*//g' "$t"
	pause="$(image_ref "$(k8s_release pause_image)")" || exit 1
	case "$(awk -F= '/^[[:space:]]*version[[:space:]]*=/ { gsub(/[ \t]/, "", $2); print $2; exit }' "$t")" in
	3)
		toml_set "$t" "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options" SystemdCgroup true
		toml_set "$t" "plugins.'io.containerd.cri.v1.images'.pinned_images" sandbox "'$pause'"
		toml_set "$t" "plugins.'io.containerd.cri.v1.images'.registry" config_path "'/etc/containerd/certs.d'"
		;;
	2)
		toml_set "$t" 'plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options' SystemdCgroup true
		toml_set "$t" 'plugins."io.containerd.grpc.v1.cri"' sandbox_image "\"$pause\""
		toml_set "$t" 'plugins."io.containerd.grpc.v1.cri".registry' config_path '"/etc/containerd/certs.d"'
		;;
	*) die "$cfg has a config version this role does not know (2 and 3 are known)" ;;
	esac
	registry_hosts
	if cmp -s "$t" "$cfg"; then
		log "containerd config already has our settings"
	else
		cp "$t" "$cfg"
		log "containerd config: SystemdCgroup, sandbox $pause, config_path certs.d (original kept in config.toml.overcloud-orig)"
		systemctl restart containerd || die "systemctl restart containerd failed"
	fi
}

# prepare_node: swap off, kernel modules, sysctls, the memory cgroup,
# containerd configured; containerd and the kubelet enabled.
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
	check_memory_cgroup
	mkdir -p "$ROOT/etc/modules-load.d" "$ROOT/etc/sysctl.d"
	printf 'overlay\nbr_netfilter\n' >"$ROOT/etc/modules-load.d/overcloud-k8s.conf"
	load_module overlay
	load_module br_netfilter
	cat >"$ROOT/etc/sysctl.d/99-overcloud-k8s.conf" <<'CONF'
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
CONF
	sysctl --system >/dev/null || die "sysctl --system failed"
	configure_containerd
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

# parse_join COMMAND: checks a `kubeadm join ENDPOINT --token T
# --discovery-token-ca-cert-hash H` line and sets JOIN_ENDPOINT, JOIN_TOKEN,
# JOIN_CA_HASH. Messages never include the command (it holds a token).
parse_join() {
	JOIN_ENDPOINT="" JOIN_TOKEN="" JOIN_CA_HASH=""
	set -f
	# shellcheck disable=SC2086 # split into words on purpose
	set -- $1
	set +f
	[ "${1:-} ${2:-}" = "kubeadm join" ] || die "join_command must start with 'kubeadm join '; refusing it"
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--token) JOIN_TOKEN="${2:-}"; shift 2 ;;
		--discovery-token-ca-cert-hash) JOIN_CA_HASH="${2:-}"; shift 2 ;;
		--*) die "join_command has an option this role does not pass on ($1); refusing it" ;;
		*) [ -z "$JOIN_ENDPOINT" ] || die "join_command names two endpoints; refusing it"; JOIN_ENDPOINT=$1; shift ;;
		esac
	done
	printf '%s\n' "$JOIN_ENDPOINT" | grep -Eqx '[A-Za-z0-9.-]+:[0-9]+' ||
		die "join_command has no API endpoint HOST:PORT; refusing it"
	printf '%s\n' "$JOIN_TOKEN" | grep -Eqx '[a-z0-9]{6}\.[a-z0-9]{16}' ||
		die "join_command has no bootstrap token (--token abcdef.0123456789abcdef); refusing it"
	printf '%s\n' "$JOIN_CA_HASH" | grep -Eqx 'sha256:[0-9a-f]{64}' ||
		die "join_command has no --discovery-token-ca-cert-hash sha256:<64 hex>; refusing it"
}

# kubeconfig_ca_hash FILE: kubeadm's CA hash (sha256 of the CA's public key
# info) of the certificate-authority-data in a kubeconfig.
kubeconfig_ca_hash() {
	sed -n 's/^[[:space:]]*certificate-authority-data:[[:space:]]*//p' "$1" | head -n 1 |
		base64 -d 2>/dev/null >"$WORK/ca.crt" || return 1
	kh="$(openssl x509 -in "$WORK/ca.crt" -noout -pubkey 2>/dev/null |
		openssl pkey -pubin -outform der 2>/dev/null | sha256sum | cut -d' ' -f1)"
	rm -f "$WORK/ca.crt"
	[ "$kh" != e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 ] || return 1
	printf 'sha256:%s\n' "$kh"
}

# kubeconfig_server FILE: the server URL of a kubeconfig.
kubeconfig_server() {
	sed -n 's/^[[:space:]]*server:[[:space:]]*//p' "$1" | head -n 1
}

# own_address IP: IP is one of this node's IPv4 addresses (the kubelet's
# node-ip must be; behind NAT the tower sees another one).
own_address() {
	ip -4 -o addr show 2>/dev/null | awk -v a="$1" '{ for (i = 1; i < NF; i++) if ($i == "inet" && $(i + 1) ~ "^" a "/") f = 1 } END { exit !f }'
}

# kubelet_args_yaml ARGS...: v1beta4 kubeletExtraArgs entries (name=value).
kubelet_args_yaml() {
	printf '  kubeletExtraArgs:\n'
	for ka; do
		printf '  - name: %s\n    value: "%s"\n' "${ka%%=*}" "${ka#*=}"
	done
}

# joined_here NAME: this node's kubelet belongs to the cluster of the
# parsed join command (same CA hash and endpoint in kubelet.conf) and the
# cluster knows the node (asked with the node's own credentials).
joined_here() {
	kc="$ROOT/etc/kubernetes/kubelet.conf"
	[ -f "$kc" ] || return 1
	[ "$(kubeconfig_ca_hash "$kc" || true)" = "$JOIN_CA_HASH" ] || { log "kubelet.conf is of another cluster (CA hash differs)"; return 1; }
	[ "$(kubeconfig_server "$kc")" = "https://$JOIN_ENDPOINT" ] || { log "kubelet.conf points at another API endpoint"; return 1; }
	systemctl is-active --quiet kubelet || { log "the kubelet is not running"; return 1; }
	kubectl --kubeconfig "$kc" get node "$1" -o name >/dev/null 2>&1 || { log "the cluster does not know node $1"; return 1; }
}

# join_node NAME LABELS TAINT: joins the parsed join command's cluster with
# a JoinConfiguration (node name and IP, labels, taint). A node already in
# that cluster is left alone; leftovers of a half-finished join or of
# another cluster are reset first; a failed join is reset before failing.
join_node() {
	if joined_here "$1"; then
		log "node $1 is already in the cluster at $JOIN_ENDPOINT; not joining again"
		return 0
	fi
	if [ -e "$ROOT/etc/kubernetes/kubelet.conf" ] || [ -e "$ROOT/etc/kubernetes/pki/ca.crt" ] ||
		[ -n "$(ls -A "$ROOT/etc/kubernetes/manifests" 2>/dev/null)" ]; then
		log "leftovers of an earlier join: resetting the node first"
		reset_node
	fi
	jc="$WORK/kubeadm-join.yaml"
	(umask 077 && : >"$jc")
	{
		printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n'
		printf 'discovery:\n  bootstrapToken:\n    apiServerEndpoint: "%s"\n    token: "%s"\n    caCertHashes:\n    - "%s"\n' \
			"$JOIN_ENDPOINT" "$JOIN_TOKEN" "$JOIN_CA_HASH"
		printf 'nodeRegistration:\n  name: "%s"\n  criSocket: "%s"\n' "$1" "$CONTAINERD_SOCKET"
		set --  "$1" "$2" "$3"
		if own_address "$OVERCLOUD_NODE_IP"; then
			set -- "$@" "node-ip=$OVERCLOUD_NODE_IP"
		else
			log "the tower sees this node as $OVERCLOUD_NODE_IP, not one of its own addresses (NAT?); the kubelet picks its node address" >&2
		fi
		[ -z "$2" ] || set -- "$@" "node-labels=$2"
		tj_taint="$3"
		shift 3
		kubelet_args_yaml "$@"
		set -- "" "" "$tj_taint"
		if [ -n "$3" ]; then
			tk="${3%%:*}" te="${3##*:}"
			printf '  taints:\n  - key: "%s"\n    value: "%s"\n    effect: "%s"\n' "${tk%%=*}" "${tk#*=}" "$te"
		else
			printf '  taints: []\n'
		fi
	} >>"$jc"
	rc=0
	kubeadm join --config "$jc" >"$WORK/kubeadm-join.log" 2>&1 || rc=$?
	sed -E 's/[a-z0-9]{6}\.[a-z0-9]{16}/***/g' "$WORK/kubeadm-join.log"
	rm -f "$jc"
	if [ "$rc" -ne 0 ]; then
		warn "kubeadm join failed (exit $rc); resetting the node so a retry starts clean"
		reset_node
		die "kubeadm join failed (exit $rc)"
	fi
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
}
