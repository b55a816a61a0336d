#!/usr/bin/env bash
# The DAG engine: kill -9 of the tower at several points of a create and a
# restart finish the OverCloud with no finished step run twice; retries;
# a failing step fails the OverCloud and skips what depends on it, and
# delete still releases everything; bad patterns are refused at load.
. "$(dirname "$0")/lib.sh"

HERE="$(cd "$(dirname "$0")" && pwd)"
DIRS=(--roles "$HERE/roles" --patterns "$HERE/patterns")
start_tower t "${DIRS[@]}" --agents 0.0.0.0:0
cleanup_counters() { rm -f /tmp/oc-counter-oc-*; }
trap 'rc=$?; set +e; cleanup_counters; (exit $rc); cleanup' EXIT

create() { tower_cli t create --provider local --number "$2" --pattern "$1" --detach; }
crash_and_restart() {
	kill -9 "$TOWER_PID_t"
	wait "$TOWER_PID_t" 2>/dev/null || true
	restart_tower_same_ports t "${DIRS[@]}" --agents "0.0.0.0:$AGENT_PORT_t"
}
counter() { echo "/tmp/oc-counter-$1"; }
# no "X done" line appears twice for a node: a finished step never ran again
no_double_runs() {
	local dups
	dups=$(grep " done " "$(counter "$1")" | sort | uniq -d)
	[ -z "$dups" ] || fail "finished steps ran twice: $dups"
}

# 1. kill -9 at several points of one create
id=$(create slow 2)
crash_and_restart                                   # during acquisition/enrollment
wait_until "first step running" 60 grep -q "first start" "$(counter "$id")" || fail "first never started"
crash_and_restart                                   # mid-step
wait_until "first step done" 60 grep -q "first done" "$(counter "$id")" || fail "first never finished"
wait_until "second step started" 60 grep -q "second start" "$(counter "$id")" || fail "second never started"
crash_and_restart                                   # between levels / mid-step again
wait_until "overcloud ready after restarts" 120 oc_status_is t "$id" ready ||
	fail "not ready: $(oc_field t "$id" '.status + " " + (.error // "")')"
no_double_runs "$id"
[ "$(grep -c "third done" "$(counter "$id")")" = 3 ] || fail "third ran $(grep -c "third done" "$(counter "$id")") times, want 3"
[ "$(grep -c "first done" "$(counter "$id")")" = 1 ] || fail "first ran more than once"
pass "kill -9 at three points: ready, no finished step ran twice"
tower_cli t delete "$id" >/dev/null || fail "delete slow"
[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"

# 2. a step that fails twice then succeeds with retries: 2
id=$(create flaky 1)
wait_until "flaky ready" 120 bash -c "! [ \"\$('$TOWER' --state '$T/t' show $id -o json | jq -r .status)\" = creating ]"
oc_status_is t "$id" ready || fail "flaky: $(oc_field t "$id" '.status + " " + (.error // "")')"
[ "$(oc_field t "$id" '.steps[] | select(.name == "flaky") | .attempts')" = 3 ] || fail "attempts"
pass "a step failing twice with retries: 2 ends ready after 3 attempts"
tower_cli t delete "$id" >/dev/null || fail "delete flaky"

# 3. a step that always fails: failed, dependents skipped, delete cleans up
id=$(create broken 2)
if tower_cli t watch "$id" >"$T/watch.out" 2>&1; then fail "watch of a failed overcloud exited 0"; fi
oc=$(tower_cli t show "$id" -o json)
[ "$(jq -r .status <<<"$oc")" = failed ] || fail "broken: $(jq -r .status <<<"$oc")"
[ "$(jq -r '.steps[] | select(.name == "doomed") | .state' <<<"$oc")" = failed ] || fail "doomed"
[ "$(jq -r '.steps[] | select(.name == "after") | .state' <<<"$oc")" = skipped ] || fail "after not skipped"
[ "$(jq -r '.steps[] | select(.name == "independent") | .state' <<<"$oc")" = done ] || fail "independent"
jq -r .error <<<"$oc" | grep -q doomed || fail "error does not name the step: $(jq -r .error <<<"$oc")"
tower_cli t delete "$id" >/dev/null || fail "delete of a failed overcloud failed"
oc_status_is t "$id" deleted || fail "failed overcloud not deleted"
[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"
pass "an always-failing step: failed, dependents skipped, delete still cleans up"

# 4. bad patterns refused at load, with file and line
for case in cycle unknown-role unknown-group; do
	mkdir -p "$T/bad-$case"
done
cat >"$T/bad-cycle/p.yaml" <<'YAML'
groups:
  post: {count: 1, role: x}
create:
  - name: a
    role: counter
    on: post
    requires: [b]
    inputs: {file: f, name: a}
  - name: b
    role: counter
    on: post
    requires: [a]
    inputs: {file: f, name: b}
destroy: []
YAML
sed -e 's/requires: \[b\]/requires: []/' -e 's/role: counter/role: nosuchrole/' "$T/bad-cycle/p.yaml" >"$T/bad-unknown-role/p.yaml"
sed -e 's/requires: \[b\]/requires: []/' -e 's/on: post/on: nosuchgroup/' "$T/bad-cycle/p.yaml" >"$T/bad-unknown-group/p.yaml"
for case in cycle unknown-role unknown-group; do
	if "$TOWER" serve --state "$T/s-$case" --api 127.0.0.1:0 --agents 127.0.0.1:0 \
		--roles "$HERE/roles" --patterns "$T/bad-$case" >"$T/bad-$case.log" 2>&1; then
		fail "tower started with a $case pattern"
	fi
	grep -q "p.yaml:[0-9]" "$T/bad-$case.log" || fail "$case: no file:line: $(cat "$T/bad-$case.log")"
done
pass "patterns with a cycle, an unknown role or group refused at load with file:line"
