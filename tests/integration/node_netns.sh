# shellcheck shell=bash
# node_netns.sh — a booting node's network for the user-data tests: a network
# namespace joined to the host by a veth pair on a /30 of its own. Source it
# after lib.sh, then call node_netns_up PREFIX OCTET (as root): sets NS, VH,
# VN, HOST_IP and NODE_IP, and an EXIT trap that removes the namespace and
# the link before lib.sh's cleanup. node_net_up/down give and take the
# node's address (no address: "network unreachable").

# A /30 of 10.OCTET.0.0/16 per run, so the normal and the sanitizer run of a
# test can share the machine; names carry the pid for the same reason.
node_netns_up() {
	local prefix=$1 octet=$2 n
	NS="$prefix-$$"
	VH="$prefix$$h"
	VN="$prefix$$n"
	n=$(($$ % 16384))
	for _ in $(seq 1 64); do
		HOST_IP="10.$octet.$((n / 64)).$(((n % 64) * 4 + 1))"
		NODE_IP="10.$octet.$((n / 64)).$(((n % 64) * 4 + 2))"
		ip -o addr show | grep -q " $HOST_IP/" || break
		n=$(((n + 1) % 16384))
	done
	# set +e: under errexit the (exit $rc) that hands cleanup the status would end the trap
	trap 'rc=$?; set +e; node_netns_down; (exit $rc); cleanup' EXIT
	ip netns add "$NS"
	ip link add "$VH" type veth peer name "$VN"
	ip link set "$VN" netns "$NS"
	ip addr add "$HOST_IP/30" dev "$VH"
	ip link set "$VH" up
	ip -n "$NS" link set "$VN" up
	ip -n "$NS" link set lo up
	# The node reaches the tower and nothing else: no route beyond the /30.
	node_net_up
}

node_net_up() { ip -n "$NS" addr add "$NODE_IP/30" dev "$VN"; }
node_net_down() { ip -n "$NS" addr flush dev "$VN"; }

# Kills what runs in the namespace (by pid) and removes it; a test may run
# more first by defining node_netns_extra_cleanup.
node_netns_down() {
	if declare -F node_netns_extra_cleanup >/dev/null; then
		node_netns_extra_cleanup
	fi
	ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	ip link del "$VH" 2>/dev/null || true
}
