#!/usr/bin/env bash
# The bridge ocbr0 has a fixed, locally administered MAC: deleting the
# OverCloud whose veth had the lowest MAC (the one a bridge without its own
# address borrows) leaves the other OverCloud's nodes connected: their
# neighbour entry still names the bridge and none of them reconnects.
# In a network namespace of its own (and its own /sys), so its ocbr0 is
# made here and shared with no one.
if [ -z "${OC_PRIVATE_NET:-}" ]; then
	exec unshare --net --mount env OC_PRIVATE_NET=1 bash -c \
		'mount -t sysfs sysfs /sys && ip link set lo up && exec bash "$0"' "$0"
fi
. "$(dirname "$0")/lib.sh"

FIXED_MAC=02:6f:63:62:72:30
start_tower t "${FDIRS[@]}" --agents 0.0.0.0:0

# netns_of ID: the namespaces of an OverCloud's nodes (oc-<id tail>-<slot>).
netns_of() { ip netns list | awk '{print $1}' | grep -E "^oc-${1: -6}-" || true; }
# lowest_mac ID: the lowest MAC among the host ends (ocv<slot>) of its veths.
lowest_mac() {
	local ns
	for ns in $(netns_of "$1"); do
		cat "/sys/class/net/ocv${ns##*-}/address"
	done | sort | head -1
}
reconnects() { cat "$T"/t/local/"$1"/*/agent.log | grep -c "connected to tower" || true; }

# Round 1 finds a bridge an older tower made (no address of its own), the
# next ones make it.
ip link add ocbr0 type bridge
for round in $(seq $((ROUNDS + 1))); do
	a=$(fault_create faults-plain 1)
	b=$(fault_create faults-plain 1)
	wait_status "$a" ready 120
	wait_status "$b" ready 120
	# The one to delete lent (or, without a fixed address, would lend)
	# the bridge its MAC.
	if [[ "$(lowest_mac "$a")" < "$(lowest_mac "$b")" ]]; then gone=$a keep=$b; else gone=$b keep=$a; fi
	[ "$(cat /sys/class/net/ocbr0/address)" = "$FIXED_MAC" ] ||
		fail "ocbr0 has $(cat /sys/class/net/ocbr0/address), want the fixed $FIXED_MAC (lowest port: $(lowest_mac "$gone"))"
	[ "$(cat /sys/class/net/ocbr0/addr_assign_type)" = 3 ] || fail "ocbr0's address is not set by hand"
	before=$(reconnects "$keep")
	tower_cli t delete "$gone" >/dev/null || fail "delete $gone"
	[ -z "$(leftovers "$gone")" ] || fail "left behind: $(leftovers "$gone")"
	# Every remaining node's neighbour entry for the tower still names the
	# bridge's MAC: its frames reach the tower without a new resolution.
	bridge_mac=$(cat /sys/class/net/ocbr0/address)
	for ns in $(netns_of "$keep"); do
		ip -n "$ns" neigh show 10.213.0.1 | grep -q "lladdr $bridge_mac " ||
			fail "node in $ns sends to a MAC the bridge no longer has after $gone went:" \
				"$(ip -n "$ns" neigh show 10.213.0.1), bridge $bridge_mac"
	done
	# A task round trip on each kept node over its existing connection.
	for node in $(oc_node_ids "$keep"); do
		tower_cli t run "$node" --timeout 30s -- true >/dev/null || fail "run on $node"
	done
	[ "$(reconnects "$keep")" = "$before" ] || fail "nodes of $keep reconnected after $gone was deleted"
	tower_cli t delete "$keep" >/dev/null || fail "delete $keep"
	[ ! -e /sys/class/net/ocbr0 ] || fail "ocbr0 left with no node on it"
done
pass "deleting the OverCloud with the lowest veth MAC: the other's nodes stay connected (a bridge found and one made, $((ROUNDS + 1)) round(s))"
