#!/usr/bin/env bash
# The k8s pattern's roles in an air-gapped lab: in a network namespace of
# its own, whose only interface is loopback, the mirror (k8s_lab.sh: the
# repositories' keys, the pinned flannel manifest) is the only host there
# is. With apt_mirror, manifest_base_url and image_registry set, the post's
# k8s-master apply, a worker's k8s-worker apply and an armv7 device's
# edge-device apply run under strace, which records every connect() any of
# their processes makes: each one must reach the mirror, and some must (a
# test that traced nothing would prove nothing). What the nodes are told to
# pull from later (apt sources, containerd's registry hosts, kubeadm's image
# repository, flannel's images) must name the mirrors only. Then the
# DataLake's and the Visible Fabric's own tests run traced in the same
# namespace: every connection they make goes to their loopback mirror.
set -euo pipefail

if [ -z "${OC_AIRGAP_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "FAIL: test_airgap makes a network namespace: run it as root" >&2; exit 1; }
	command -v strace >/dev/null || { echo "FAIL: strace is not installed" >&2; exit 1; }
	ns="oc-airgap-$$"
	ip netns add "$ns"
	# Removed however this script ends (a ctest timeout sends SIGTERM).
	trap 'ip netns delete "$ns" 2>/dev/null || true' EXIT
	trap 'exit 143' TERM INT
	rc=0
	ip netns exec "$ns" ip link set lo up &&
		ip netns exec "$ns" env OC_AIRGAP_NS="$ns" bash "$0" "$@" || rc=$?
	exit $rc
fi

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/k8s_lab.sh"

[ "$(ip -o link show | grep -cv ': lo:')" = 0 ] || fail "the namespace has more than loopback: $(ip -o link show)"
REGISTRY=127.0.0.1:5000
TRACES=$T/traces
mkdir -p "$TRACES"
export OC_ROLE_TRACE=$TRACES
AIRGAP=("${LAB_INPUTS[@]}" "image_registry=$REGISTRY")
lab_bundle k8s-master
lab_bundle k8s-worker

new_node post
run_step k8s-master apply "${AIRGAP[@]}" "${LAB_SHIMS[@]}"
expect_rc_ok "k8s-master apply, air-gapped"
POST=$NODE
parse_outputs
join=${OUT[join_command]}

new_node worker
run_step k8s-worker apply "join_command=$join" "apt_mirror=$LAB_BASE" "image_registry=$REGISTRY" "${LAB_SHIMS[@]}"
expect_rc_ok "k8s-worker apply, air-gapped"
WORKER=$NODE

new_node device
# Debian's own node-exporter, from the device's configured Debian mirror
run_step edge-device apply "${LAB_SHIMS[@]}" SHIM_ARCH=armv7l
expect_rc_ok "edge-device apply, air-gapped"
ok "the post, a worker and an armv7 device set up with only the mirror reachable"

# Every connect() of an internet address family went to the mirror.
mirror="sin_port=htons($LAB_PORT), sin_addr=inet_addr(\"127.0.0.1\")"
all=$(cat "$TRACES"/* | grep -E 'connect\([0-9]+, \{sa_family=AF_INET6?,' || true)
[ -n "$all" ] || fail "no connection was traced: the test proves nothing"
others=$(grep -vF "$mirror" <<<"$all" || true)
[ -z "$others" ] || fail "contacted something else than the mirror: $others"
ok "$(grep -c . <<<"$all") connections traced, every one to the mirror at 127.0.0.1:$LAB_PORT"
rm -f "$TRACES"/*

# What the nodes will pull from later names the mirrors only.
for n in "$POST" "$WORKER"; do
	srcs=$(cat "$n"/root/etc/apt/sources.list.d/*.list 2>/dev/null || true)
	[ -n "$srcs" ] || fail "$(basename "$n"): no apt sources written"
	! grep -v "^#" <<<"$srcs" | grep -E '^deb ' | grep -vF "$LAB_BASE/" | grep -q . ||
		fail "$(basename "$n"): an apt source not on the mirror: $srcs"
	hosts=$(cat "$n"/root/etc/containerd/certs.d/*/hosts.toml 2>/dev/null || true)
	[ -n "$hosts" ] || fail "$(basename "$n"): no containerd registry hosts written"
	! grep -E '^\[host\.' <<<"$hosts" | grep -vF "$REGISTRY" | grep -q . ||
		fail "$(basename "$n"): a containerd host that is not the mirror: $hosts"
	grep -q "sandbox.*$REGISTRY/registry.k8s.io/pause" "$n/root/etc/containerd/config.toml" ||
		fail "$(basename "$n"): the sandbox image is not pulled through the mirror"
done
grep -q "imageRepository: \"\\?$REGISTRY/registry.k8s.io\"\\?" "$POST/root/etc/overcloud/kubeadm-init.yaml" ||
	fail "kubeadm's imageRepository is not the mirror: $(grep -n image "$POST/root/etc/overcloud/kubeadm-init.yaml")"
flannel=$(find "$POST" -name 'kube-flannel*.yml' -path '*work*' | head -n 1)
[ -n "$flannel" ] || fail "the applied flannel manifest is not in the post's work dir"
! grep -E '^[[:space:]-]*image:' "$flannel" | grep -vF "$REGISTRY/" | grep -q . ||
	fail "flannel pulls an image not through the mirror: $(grep image: "$flannel")"
ok "apt sources, containerd's registry hosts and sandbox image, kubeadm's image repository and flannel's images name the mirrors only"

# The DataLake and the Visible Fabric: their own tests, which give every
# step manifest_base_url (a mirror on loopback) and image_registry, run here
# with the same tracing; in this namespace loopback is all there is, and
# every connection must go to it.
for t in test_rook_datalake test_fabric_collector; do
	OC_ROLE_TRACE=$TRACES bash "$ROLES_TEST_DIR/$t.sh" >"$T/$t.out" 2>&1 ||
		fail "$t in the air-gapped namespace: $(tail -n 20 "$T/$t.out")"
	all=$(cat "$TRACES"/* 2>/dev/null | grep -E 'connect\([0-9]+, \{sa_family=AF_INET6?,' || true)
	[ -n "$all" ] || fail "$t: no connection was traced: the test proves nothing"
	others=$(grep -v 'sin_addr=inet_addr("127.0.0.1")' <<<"$all" || true)
	[ -z "$others" ] || fail "$t: contacted something else than its loopback mirror: $others"
	ok "$t, air-gapped: $(grep -c . <<<"$all") connections traced, every one to its loopback mirror"
	rm -f "$TRACES"/*
done
