#!/usr/bin/env bash
# A partition through a node's own network namespace (its eth0 down) while
# its task finishes: the tower drops the node, the agent keeps the result in
# its journal, and once the link is back the node reconnects, the result is
# stored once and the create finishes; the step ran once on every node.
. "$(dirname "$0")/lib.sh"

start_tower t "${FDIRS[@]}" --agents 0.0.0.0:0
netns_of_node() { # OVERCLOUD NODE_NAME: the namespace its agent runs in
	ip netns identify "$(cat "$T/t/local/$1/$2/agent.pid")"
}

for round in $(seq "$ROUNDS"); do
	id=$(fault_create faults-gated 1)
	wait_until "both nodes at the gate" 120 runs_are "$id" gated 2 || fail "gated never ran on both nodes"
	node=$(oc_field t "$id" '.nodes[] | select(.group == "cluster") | .name')
	nid=$(oc_field t "$id" '.nodes[] | select(.group == "cluster") | .node_id')
	ns=$(netns_of_node "$id" "$node")
	[ -n "$ns" ] || fail "no namespace for $node"
	ip -n "$ns" link set eth0 down
	open_gate "$id"
	wait_until "the tower drops the partitioned node" 60 node_is t "$nid" disconnected ||
		fail "node $nid still connected with its link down"
	wait_until "the task finished on the partitioned node" 30 \
		bash -c "[ \"\$(grep -c '^gated done $nid' '$(marker "$id")')\" = 1 ]" ||
		fail "gated did not finish on $nid"
	oc_status_is t "$id" creating || fail "the create moved on without the partitioned node's result"
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route replace default via 10.213.0.1
	wait_status "$id" ready 120
	exactly_once "$id" gated 2
	exactly_once "$id" after 2
	tower_cli t delete "$id" >/dev/null || fail "delete"
	[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"
done
pass "partition of a node while its task finishes, $ROUNDS round(s): back, result stored once, ready"
