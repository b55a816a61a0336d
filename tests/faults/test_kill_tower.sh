#!/usr/bin/env bash
# kill -9 of the tower in a create and in a delete: in acquisition, while a
# step's tasks run, and while the destroy DAG's tasks run. Each time the
# tower comes back on the same state, the OverCloud finishes, every step ran
# exactly once on each node (marker files), nothing is left behind, and
# tower.db passes integrity_check.
. "$(dirname "$0")/lib.sh"

start_tower t "${FDIRS[@]}" --agents 0.0.0.0:0
crash_and_restart() {
	kill9_tower
	restart_tower_same_ports t "${FDIRS[@]}" --agents "0.0.0.0:$AGENT_PORT_t"
}

for round in $(seq "$ROUNDS"); do
	id=$(fault_create faults-gated 1)
	crash_and_restart                                 # acquisition
	wait_until "both nodes at the gate" 120 runs_are "$id" gated 2 ||
		fail "gated never ran on both nodes: $(oc_field t "$id" '.status + " " + (.error // "")')"
	crash_and_restart                                 # tasks running
	open_gate "$id"
	wait_status "$id" ready 120
	exactly_once "$id" gated 2
	exactly_once "$id" after 2
	pass "round $round: kill -9 in acquisition and mid-step: ready, each step once per node"

	rm -f "$(marker "$id").undo-gate"
	tower_cli t delete "$id" --detach >/dev/null || fail "delete"
	wait_until "both nodes undoing" 60 runs_are "$id" undo 2 || fail "undo never ran on both nodes"
	crash_and_restart                                 # destroy tasks running
	open_gate "$id" undo-gate
	wait_status "$id" deleted 120
	exactly_once "$id" undo 2
	[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"
	pass "round $round: kill -9 mid-delete: deleted, undo once per node, nothing left"
done
kill9_tower
sqlite3 "$T/t/tower.db" 'PRAGMA integrity_check' | grep -qx ok || fail "tower.db integrity_check"
pass "kill -9 in create and delete, $ROUNDS round(s): exactly once, integrity ok"
