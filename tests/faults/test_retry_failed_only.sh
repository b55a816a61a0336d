#!/usr/bin/env bash
# A step's retry re-runs only the nodes that failed: one node of a
# three-node step fails once; the retry runs that node again and no other,
# and every node's marker shows one success.
. "$(dirname "$0")/lib.sh"

start_tower t "${FDIRS[@]}" --agents 0.0.0.0:0
for round in $(seq "$ROUNDS"); do
	id=$(fault_create faults-retry 3)
	wait_status "$id" ready 180
	[ -d "$(marker "$id").failed" ] || fail "no node failed: nothing was injected"
	[ "$(runs "$id" spread)" = 4 ] ||
		fail "round $round: spread ran $(runs "$id" spread) times for 3 nodes and 1 failure, want 4: $(cat "$(marker "$id")")"
	[ "$(dones "$id" spread)" = 3 ] || fail "round $round: $(dones "$id" spread) successes, want 3"
	[ -z "$(grep "^spread done " "$(marker "$id")" | sort | uniq -d)" ] || fail "a node succeeded twice"
	[ "$(oc_field t "$id" '.steps[] | select(.name == "spread") | .attempts')" = 2 ] || fail "attempts"
	tower_cli t delete "$id" >/dev/null || fail "delete"
	[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"
done
pass "retry of a 3-node step with one failure: 4 runs, each node done once ($ROUNDS round(s))"
