# k8s_lab.sh — what the kubeadm role tests share (source after lib.sh): a
# lab with no internet, as an air-gapped site has it. A real HTTP server on
# loopback is the mirror (apt_mirror and manifest_base_url): it serves a
# stand-in Release.key for pkgs.k8s.io and Docker's repository (a real
# OpenPGP key made here with gpg, the fake apt's "signer") and a stand-in
# kube-flannel.yml. lab_bundle ROLE pins those stand-ins in the role's
# bundle copy (k8s-release fingerprints, artifacts sha256), as a mirror's
# operator would trust the mirror's key; the shipped pins stay the
# upstream ones. LAB_INPUTS and LAB_SHIMS are the run_step arguments.

# real tools the roles use on a node, not faked: curl, gpg, openssl, base64
for lab_tool in curl gpg openssl base64 sha256sum; do
	lab_path=$(type -P "$lab_tool") || fail "$lab_tool is not installed"
	ln -sf "$lab_path" "$T/bin/$lab_tool"
done

LAB_MIRROR=$T/mirror
export GNUPGHOME=$T/gnupg
mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "overcloud test repo signer" ed25519 sign never 2>/dev/null ||
	fail "gpg could not make the test signing key"
LAB_FPR=$(gpg --batch --with-colons --list-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
lab_key() { # PATH under the mirror: the signer's armored public key
	mkdir -p "$(dirname "$LAB_MIRROR/$1")"
	gpg --batch --armor --export "$LAB_FPR" >"$LAB_MIRROR/$1"
}
lab_key pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key
lab_key download.docker.com/linux/debian/gpg
LAB_FLANNEL=raw.githubusercontent.com/flannel-io/flannel/v0.28.9/Documentation/kube-flannel.yml
mkdir -p "$(dirname "$LAB_MIRROR/$LAB_FLANNEL")"
cat >"$LAB_MIRROR/$LAB_FLANNEL" <<'YAML'
# stand-in for flannel's kube-flannel.yml (the kinds and the lines the role edits)
apiVersion: v1
kind: Namespace
metadata:
  name: kube-flannel
  labels:
    pod-security.kubernetes.io/enforce: privileged
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: flannel
  namespace: kube-flannel
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: kube-flannel-cfg
  namespace: kube-flannel
data:
  net-conf.json: |
    {
      "Network": "10.244.0.0/16",
      "Backend": {
        "Type": "vxlan"
      }
    }
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-flannel-ds
  namespace: kube-flannel
spec:
  selector:
    matchLabels:
      app: flannel
  template:
    metadata:
      labels:
        app: flannel
    spec:
      hostNetwork: true
      serviceAccountName: flannel
      initContainers:
      - name: install-cni-plugin
        image: ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3
      containers:
      - name: kube-flannel
        image: ghcr.io/flannel-io/flannel:v0.28.9
        command:
        - /opt/bin/flanneld
        args:
        - --ip-masq
        - --kube-subnet-mgr
        - --healthz-port=8081
YAML
LAB_FLANNEL_SUM=$(sha256sum <"$LAB_MIRROR/$LAB_FLANNEL" | cut -d' ' -f1)

# LAB_HOST (set before sourcing): the address nodes reach the mirror at,
# when they live in network namespaces behind a bridge the test made.
python3 -m http.server --bind "${LAB_BIND:-127.0.0.1}" 0 --directory "$LAB_MIRROR" >"$T/http.log" 2>&1 &
LAB_HTTP_PID=$!
# lab_stop: stops the mirror and keeps the exit status for roles_cleanup
lab_stop() {
	local rc=$?
	kill "$LAB_HTTP_PID" 2>/dev/null || true
	return $rc
}
if declare -F roles_cleanup >/dev/null; then
	trap 'lab_stop && roles_cleanup || roles_cleanup' EXIT
else
	PIDS+=("$LAB_HTTP_PID") # tests/integration/lib.sh stops them
fi
LAB_PORT=""
for _ in $(seq 1 100); do
	LAB_PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$T/http.log" | head -n 1)
	[ -n "$LAB_PORT" ] && break
	sleep 0.1
done
[ -n "$LAB_PORT" ] || fail "the loopback HTTP server did not start: $(cat "$T/http.log")"
LAB_BASE="http://${LAB_HOST:-127.0.0.1}:$LAB_PORT"
LAB_INPUTS=("apt_mirror=$LAB_BASE" "manifest_base_url=$LAB_BASE")
LAB_SHIMS=("SHIM_APT_SIGNER_K8S=$LAB_FPR" "SHIM_APT_SIGNER_DOCKER=$LAB_FPR" "SHIM_CLUSTER=$T/cluster")

# lab_pin K8S_RELEASE [ARTIFACTS]: a copy of k8s-release trusts the lab's
# signer; a copy of k8s-master's artifacts pins the stand-in flannel.
lab_pin() {
	sed -i -E "s/^(kubernetes_key_fingerprint|containerd_key_fingerprint)( +).*/\\1\\2$LAB_FPR/" "$1"
	[ -z "${2:-}" ] || sed -i -E "s/^(kube-flannel.yml [^ ]+ )[0-9a-f]{64}/\\1$LAB_FLANNEL_SUM/" "$2"
}

# lab_bundle ROLE: the role's bundle copy (tests/roles/lib.sh) pinned so.
lab_bundle() {
	local dir
	dir=$(role_bundle "$1")
	lab_pin "$dir/k8s-release" "$([ ! -f "$dir/artifacts" ] || echo "$dir/artifacts")"
}

# lab_files NODE: every file on a fake node (sysroot, home, work dirs).
lab_files() {
	find "$1" -type f
}
