#!/usr/bin/env bash
# k8s-master against fakes that fail like the real tools (apt-get refusing
# unconfigured or unsigned repositories, a kubeadm with phases and
# preflight checks, a cluster the fake kubectl asks about), in a lab with
# only a loopback mirror (k8s_lab.sh): the pinned packages from the
# repositories the role sets up, kubeadm init from a v1beta4 config, the
# containerd config merged after a backup, flannel from its pin; a
# half-finished init reset and done again; a re-run that changes nothing;
# no kubeconfig in the outputs; the apt lock, built-in modules, the
# image_registry mirror, a wrong signing key, the drain step's refusals.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/k8s_lab.sh"

ROLE=k8s-master
check_role_yaml $ROLE
grep -qx 'archs: \[x86_64, aarch64\]' "$ROLES_DIR/$ROLE/role.yaml" || fail "$ROLE: archs are not x86_64 and aarch64"
! grep -q 'name: kubeconfig' "$ROLES_DIR/$ROLE/role.yaml" || fail "$ROLE still declares a kubeconfig input or output"
[ ! -e "$ROLES_DIR/$ROLE/kube-flannel.yml" ] || fail "a copy of kube-flannel.yml is in the repository"
grep -Eq '^kube-flannel.yml v[0-9.]+ [0-9a-f]{64} https://raw.githubusercontent.com/flannel-io/flannel/v[0-9.]+/Documentation/kube-flannel.yml$' \
	"$ROLES_DIR/$ROLE/artifacts" || fail "flannel is not pinned by URL and sha256"
ok "$ROLE: no kubeconfig input or output, flannel pinned by URL and sha256, no copy"
lab_bundle $ROLE
master() { run_step $ROLE "$@" "${LAB_INPUTS[@]}" "${LAB_SHIMS[@]}"; }
tree_sum() { (cd "$NODE/root" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }

# --- apply on a fresh Debian 12 node
new_node master
master apply
expect_rc_ok "apply"
expect_calls "apply" <<'CALLS'
dpkg-query -W '-f=${Status} ${Version}\n' kubelet
dpkg-query -W '-f=${Status} ${Version}\n' kubeadm
dpkg-query -W '-f=${Status} ${Version}\n' kubectl
dpkg-query -W '-f=${Status} ${Version}\n' containerd.io
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends kubelet=1.34.12-1.1 kubeadm=1.34.12-1.1 kubectl=1.34.12-1.1 containerd.io
containerd --version
apt-mark showhold
apt-mark hold kubelet
apt-mark hold kubeadm
apt-mark hold kubectl
apt-mark hold containerd.io
swapoff -a
modprobe overlay
modprobe br_netfilter
sysctl --system
containerd config default
systemctl restart containerd
systemctl enable containerd kubelet
hostname
kubeadm init --config <root>/etc/overcloud/kubeadm-init.yaml
kubectl get --raw=/readyz
kubectl -n kube-public get configmap cluster-info -o name
kubectl apply -f <work>/kube-flannel.yml
kubectl wait --for=condition=Ready node/node-1 --timeout=10s
kubectl -n kube-system rollout status deployment/coredns --timeout=10s
kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=10s
kubectl get --raw=/readyz
kubectl -n kube-public get configmap cluster-info -o name
kubeadm token create --ttl 24h --print-join-command
CALLS
parse_outputs
HASH=$(cat "$T/cluster/ca.hash")
expect_output join_command "kubeadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash $HASH"
expect_output api_endpoint "https://10.0.0.5:6443"
expect_output node_name node-1
[ "${#OUT[@]}" = 3 ] || fail "apply: outputs are ${!OUT[*]}, expected join_command api_endpoint node_name"
grep -q 'client-key-data\|kubernetes-admin' "$RUN_OUTPUT" && fail "apply: a kubeconfig reached the outputs"
ok "apply: outputs join_command (the cluster's real CA hash), api_endpoint, node_name; no kubeconfig"
expect_progress "apply" final
expect_no_secrets "apply" abcdef.0123456789abcdef
R=$NODE/root
grep -qx 'deb \[signed-by=/etc/apt/keyrings/overcloud-kubernetes.asc\] '"$LAB_BASE"'/pkgs.k8s.io/core:/stable:/v1.34/deb/ /' \
	"$R/etc/apt/sources.list.d/overcloud-kubernetes.list" || fail "no pkgs.k8s.io v1.34 source through the mirror"
grep -qx 'deb \[signed-by=/etc/apt/keyrings/overcloud-containerd.asc\] '"$LAB_BASE"'/download.docker.com/linux/debian bookworm stable' \
	"$R/etc/apt/sources.list.d/overcloud-containerd.list" || fail "no Docker bookworm source through the mirror"
grep -q 'BEGIN PGP PUBLIC KEY BLOCK' "$R/etc/apt/keyrings/overcloud-kubernetes.asc" || fail "no Kubernetes repository key"
grep -qx 'kubelet 1.34.12-1.1' "$NODE/state/dpkg/status" && grep -qx kubeadm "$NODE/state/apt/held" ||
	fail "kubelet 1.34.12-1.1 not installed or kubeadm not held"
ok "apply: repositories set up with their keys, packages pinned at 1.34.12-1.1 and held"
k=$R/etc/overcloud/kubeadm-init.yaml
for want in 'apiVersion: kubeadm.k8s.io/v1beta4' 'kind: InitConfiguration' 'kind: ClusterConfiguration' \
	'kind: KubeletConfiguration' '  advertiseAddress: "10.0.0.5"' 'kubernetesVersion: "v1.34.12"' \
	'  podSubnet: "10.244.0.0/16"' 'imageRepository: "registry.k8s.io"' 'cgroupDriver: systemd' '    value: "10.0.0.5"'; do
	grep -qxF "$want" "$k" || fail "kubeadm config lacks '$want'"
done
ok "apply: kubeadm init from a v1beta4 config (version, address, pod subnet, image repository, cgroup driver)"
c=$R/etc/containerd/config.toml
grep -q 'disabled_plugins = \["cri"\]' "$c.overcloud-orig" || fail "the package's containerd config was not backed up"
grep -q '"cri"' "$c" && fail "the CRI plugin is still disabled"
grep -qx '            SystemdCgroup = true' "$c" && grep -qx "      sandbox = 'registry.k8s.io/pause:3.10.1'" "$c" &&
	grep -qx "      config_path = '/etc/containerd/certs.d'" "$c" || fail "containerd settings not merged: $(cat "$c")"
grep -q '^            SystemdCgroup = false' "$c" && fail "SystemdCgroup = false left in the config"
ok "apply: containerd.io's config backed up, CRI enabled, SystemdCgroup, pause 3.10.1, config_path"
grep -q '"Network": "10.244.0.0/16"' "$RUN_WORK/kube-flannel.yml" && grep -qx '        - --iface-can-reach=10.0.0.5' "$RUN_WORK/kube-flannel.yml" ||
	fail "flannel: pod network or --iface-can-reach missing"
grep -q "GET /$LAB_FLANNEL" "$T/http.log" || fail "flannel was not fetched from the mirror"
ok "apply: flannel from the pinned manifest via the mirror, --iface-can-reach=10.0.0.5"

# --- apply again: nothing changes on the node
before=$(tree_sum)
master apply SHIM_JOIN_TWO_LINES=1
expect_rc_ok "re-apply"
calls | grep -E '^(apt-get|kubeadm init|kubeadm reset|systemctl restart)' && fail "re-apply installed, initialised or restarted"
[ "$(tree_sum)" = "$before" ] || fail "re-apply changed files on the node"
parse_outputs
expect_output join_command "kubeadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash $HASH"
ok "re-apply: no apt, no init, no restart, no file changed; two-line join output normalised"

# --- drain: unknown nodes are skipped; a bad name is refused
master drain nodes="10.9.9.9 ghost"
expect_rc_ok "drain of unknown nodes"
calls | grep -q '^kubectl drain' && fail "drain drained a node the cluster does not have"
master drain 'nodes=a;b'
expect_failure "drain with a bad node name" "is neither a node name nor an IPv4 address"

# --- remove
master remove
expect_rc_ok "remove"
calls | grep -qx 'kubeadm reset -f' || fail "remove did not reset"
[ ! -e "$R/etc/kubernetes/admin.conf" ] && [ ! -e "$NODE/home/.kube/config" ] || fail "remove left a kubeconfig"
master drain nodes=10.0.0.6
expect_rc_ok "drain with the control plane gone"
grep -q "the API server does not answer" "$RUN_STDERR" || fail "drain did not say the API is gone"
ok "remove: reset, kubeconfigs gone; drain afterwards succeeds saying there is no API"

# --- a half-finished init (kubeadm wrote admin.conf, then the control plane
# never came up) is reset and done again on the retry
new_node half
master apply SHIM_KUBEADM_FAIL_AT=wait-control-plane
expect_failure "apply with kubeadm init failing at wait-control-plane" "kubeadm init failed"
[ -f "$NODE/root/etc/kubernetes/admin.conf" ] || fail "the fake kubeadm left no admin.conf after its kubeconfig phase"
master apply
expect_rc_ok "retry after a half-finished init"
calls | grep -E '^kubeadm (reset|init)' | tr '\n' ';' | grep -qx 'kubeadm reset -f;kubeadm init --config <root>/etc/overcloud/kubeadm-init.yaml;' ||
	fail "the retry did not reset before init: $(calls | grep ^kubeadm)"
grep -q 'half-finished' "$RUN_PROGRESS" || fail "the retry did not say the init was half-finished"
[ -f "$T/cluster/up" ] && [ -f "$T/cluster/cluster-info" ] || fail "the cluster is not up after the retry"
ok "half-finished init: admin.conf without an API is reset (kubeadm reset -f) and initialised again"

# --- a node with an existing containerd config (a lab's own settings)
new_node merge
mkdir -p "$NODE/root/etc/containerd"
cat >"$NODE/root/etc/containerd/config.toml" <<'TOML'
version = 3
disabled_plugins = []

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    max_concurrent_downloads = 10

    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = ''

  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    SystemdCgroup = false
    BinaryName = '/usr/local/sbin/runc'
TOML
cp "$NODE/root/etc/containerd/config.toml" "$T/lab-config.toml"
master apply image_registry=mirror.lab:5000
expect_rc_ok "apply with an existing containerd config and image_registry"
c=$NODE/root/etc/containerd/config.toml
cmp -s "$c.overcloud-orig" "$T/lab-config.toml" || fail "the lab's containerd config was not backed up as it was"
for want in "    max_concurrent_downloads = 10" "    BinaryName = '/usr/local/sbin/runc'" "    SystemdCgroup = true" \
	"      config_path = '/etc/containerd/certs.d'" "  sandbox = 'mirror.lab:5000/registry.k8s.io/pause:3.10.1'"; do
	grep -qxF "$want" "$c" || fail "merged containerd config lacks '$want': $(cat "$c")"
done
/usr/bin/python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$c" || fail "merged config is not TOML"
ok "containerd: the lab's settings kept, ours merged, backup is the original, valid TOML"
h=$NODE/root/etc/containerd/certs.d/registry.k8s.io/hosts.toml
grep -qx 'server = "https://registry.k8s.io"' "$h" && grep -qx '\[host."https://mirror.lab:5000/v2/registry.k8s.io"\]' "$h" &&
	grep -qx '  override_path = true' "$h" || fail "no registry mirror for registry.k8s.io: $(cat "$h")"
grep -qx 'imageRepository: "mirror.lab:5000/registry.k8s.io"' "$NODE/root/etc/overcloud/kubeadm-init.yaml" ||
	fail "kubeadm imageRepository is not the mirror"
grep -qx '        image: mirror.lab:5000/ghcr.io/flannel-io/flannel:v0.28.9' "$RUN_WORK/kube-flannel.yml" ||
	fail "flannel images are not from the mirror"
ok "image_registry: kubeadm imageRepository, containerd hosts.toml mirrors, sandbox and flannel images"

# --- the dpkg lock is held by cloud-init for a while: apt waits for it
new_node lock
master apply SHIM_APT_LOCK_HELD=120
expect_rc_ok "apply while cloud-init holds the dpkg lock"
grep -q 'Waiting for cache lock' "$RUN_STDOUT" || fail "apt did not wait for the lock"
PATH="$SHIMS:$T/bin" SHIM_LOG=$T/lock.log SHIM_STATE=$NODE/state SHIM_INSTALLED=$NODE/installed OC_SYSROOT=$NODE/root \
	SHIM_APT_LOCK_HELD=120 apt-get install -y kubelet >/dev/null 2>"$T/lock.err" && fail "the fake apt-get ignored the lock"
grep -q 'Could not get lock /var/lib/dpkg/lock-frontend' "$T/lock.err" || fail "no lock message: $(cat "$T/lock.err")"
ok "apt lock: the role waits (DPkg::Lock::Timeout); apt-get without it fails as apt does"

# --- br_netfilter built into the kernel: modprobe fails, the module is there
new_node builtin
mkdir -p "$NODE/root/sys/module/br_netfilter"
master apply SHIM_MODULES=overlay
expect_rc_ok "apply with br_netfilter built in"
calls | grep -q '^modprobe br_netfilter' && fail "modprobe ran for a module already in /sys/module"
ok "modules: a built-in br_netfilter (in /sys/module) needs no modprobe"
new_node nomod
master apply SHIM_MODULES=overlay
expect_failure "apply without br_netfilter" "kernel module br_netfilter is neither built in nor loadable"

# --- the repository key must be the pinned one
dir=$(role_bundle $ROLE)
cp "$dir/k8s-release" "$T/k8s-release.lab"
sed -i -E 's/^(kubernetes_key_fingerprint +).*/\1DE15B14486CD377B9E876E1A234654DA9A296436/' "$dir/k8s-release"
new_node wrongkey
master apply
expect_failure "apply with a key that is not the pinned one" "pinned DE15B14486CD377B9E876E1A234654DA9A296436; refusing it"
[ ! -e "$NODE/root/etc/apt/sources.list.d/overcloud-kubernetes.list" ] || fail "the repository was added with a wrong key"
cp "$T/k8s-release.lab" "$dir/k8s-release"

# --- aarch64 without the memory cgroup (Raspberry Pi OS default)
new_node pi
echo "cpuset cpu io pids" >"$NODE/root/sys/fs/cgroup/cgroup.controllers"
master apply SHIM_ARCH=aarch64
expect_failure "apply on a Pi without the memory cgroup" "cgroup_enable=memory cgroup_memory=1' to the single line of /boot/firmware/cmdline.txt"

new_node bad-cidr
master apply pod_cidr='10.244.0.0/16; rm -rf /'
expect_failure "apply with a bad pod_cidr" "is not an IPv4 CIDR"
[ -z "$(calls)" ] || fail "commands ran despite a bad pod_cidr"
