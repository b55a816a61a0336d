#!/usr/bin/env bash
# Disk full under the tower: its state dir is a small tmpfs, filled while a
# step's tasks are finishing. The results it cannot store are logged as
# such (not as done), asked for again, and stored once space is back: the
# create finishes without a tower restart and every step ran exactly once.
. "$(dirname "$0")/lib.sh"

# The tower's state on a 16 MiB tmpfs; the nodes' dirs (their agents'
# journals) elsewhere, as on real nodes.
mkdir -p "$T/t" "$T/nodes"
mount -t tmpfs -o size=16m,mode=0700 oc-fault-tmpfs "$T/t"
ln -s "$T/nodes" "$T/t/local"
# At exit the nodes go first, while their dirs are still found through the
# mounted state dir, then the tmpfs.
unmount_state() {
	kill -9 "${TOWER_PID_t:-}" 2>/dev/null || true
	wait "${TOWER_PID_t:-}" 2>/dev/null || true
	cleanup_local_nodes
	umount -l "$T/t" 2>/dev/null || true
}
on_exit unmount_state

# What the tower says of a result it could not store (older towers: the
# second).
NOT_STORED='its result could not be stored\|cannot store what its agent reported'
fill() {
	dd if=/dev/zero of="$T/t/filler" bs=64k 2>/dev/null || true
	dd if=/dev/zero of="$T/t/filler2" bs=512 2>/dev/null || true
}

start_tower t "${FDIRS[@]}" --agents 0.0.0.0:0
pid=$TOWER_PID_t
for round in $(seq "$ROUNDS"); do
	id=$(fault_create faults-gated 1)
	wait_until "both nodes at the gate" 120 runs_are "$id" gated 2 ||
		fail "gated never started on both nodes: $(oc_field t "$id" '.status + " " + (.error // "")')"
	lines=$(wc -l <"$T/t.log")
	fill
	open_gate "$id"
	wait_until "the tower fails to store the results" 60 \
		bash -c "tail -n +$lines '$T/t.log' | grep -q '$NOT_STORED'" ||
		fail "no result failed to be stored: the disk was not full"
	# Nothing the store refused is reported done.
	for task in $(tail -n +"$lines" "$T/t.log" | grep "$NOT_STORED" | grep -o 't-[0-9a-f]*' | sort -u); do
		if tail -n +"$lines" "$T/t.log" | grep -q "task $task on .*: done, exit"; then
			fail "task $task logged done while its result was not stored"
		fi
	done
	oc_status_is t "$id" creating || fail "the create moved on without its results stored"
	# The agents answer again every second while the disk stays full: the
	# log says so once per 10 s window, not once per answer.
	full_start=$(date +%s)
	wait_until "the results asked for again" 30 \
		bash -c "[ \$(tail -n +$lines '$T/t.log' | grep -c 'asking node') -ge 1 ]" ||
		fail "the results were not asked for again"
	sleep 3   # the fault goes on: a few more rounds of answers on the full disk
	windows=$(( ($(date +%s) - full_start) / 10 + 2 ))
	for what in "$NOT_STORED" 'asking node'; do
		n=$(tail -n +"$lines" "$T/t.log" | grep -c "$what" || true)
		[ "$n" -le "$windows" ] ||
			fail "$n lines of '$what' while the disk was full (at most $windows)"
	done
	rm -f "$T/t/filler" "$T/t/filler2"
	# Space is back: the results are asked for again and stored.
	wait_status "$id" ready 60
	kill -0 "$pid" 2>/dev/null || fail "the tower did not survive the full disk"
	exactly_once "$id" gated 2
	exactly_once "$id" after 2
	tower_cli t delete "$id" >/dev/null || fail "delete"
	[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"
done
[ "$TOWER_PID_t" = "$pid" ] || fail "the tower was restarted"
sqlite3 "$T/t/tower.db" 'PRAGMA integrity_check' | grep -qx ok || fail "tower.db integrity_check"
pass "disk full while results come in: logged as not stored, stored once space is back, ready with no restart, each step once ($ROUNDS round(s))"
