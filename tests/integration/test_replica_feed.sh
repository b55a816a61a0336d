#!/usr/bin/env bash
# The change feed between two replicas on one PostgreSQL (pg_env.sh), with
# real agents on the local provider. d leads but listens for agents on
# loopback only, where the nodes (in their namespaces) cannot reach it: they
# join through e. e's safety-net poll for pending tasks is set to an hour, so
# every task d makes for e's nodes reaches them through a LISTEN/NOTIFY note.
# (a) the OverCloud's event stream, asked of e (not the leader) while d
#     creates it, shows its steps move and ends at ready;
# (b) `tower run` against d for nodes connected to e: the output and the
#     results come back through d;
# (c) both of the above only work when the notes arrive (e never polls).
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg_env.sh
. "$(dirname "$0")/pg_env.sh"
IDS=()
trap 'rc=$?; set +e; remove_counters "${IDS[@]}"; pg_env_down; (exit $rc); cleanup' EXIT

pg_env_up || fail "cannot start PostgreSQL (apt-get install postgresql)"
URL=$(pg_env_database tower_feed) || fail "create database"
sql() { psql -qAt "$URL" -c "$1"; }
holder_is() { [ "$(pg_env_lease_holder "$URL")" = "$1" ]; }

HERE="$(cd "$(dirname "$0")" && pwd)"
DIRS=(--roles "$HERE/roles" --patterns "$HERE/patterns")
for r in d e; do
	(umask 077 && printf '[tower]\nstore = %s\nlease = 5s\nreplica = %s\n' "$URL" "$r" \
		>"$T/$r.conf")
done
# Neither replica polls for pending tasks within the test: only notes bring them.
export OVERCLOUD_RELAY_POLL_MS=3600000
start_tower d "${DIRS[@]}" --config "$T/d.conf"
wait_until "d to hold the lease" 20 holder_is d || fail "d does not lead"
cp -a "$T/d" "$T/e"
rm -rf "$T/e/endpoint.json" "$T/e/local" "$T/e/logs"
start_tower e "${DIRS[@]}" --agents 0.0.0.0:0 --config "$T/e.conf"
log_has e "lease: e is a replica" || fail "e does not say it is a replica"

api() {	# api NAME PATH [CURL ARGS...]
	local name=$1 path=$2
	shift 2
	curl -sS --cacert "$T/$name/ca.pem" -H "Authorization: Bearer $(cat "$T/$name/admin.token")" \
		"$@" "https://127.0.0.1:$(eval echo "\$API_PORT_$name")$path"
}

# --- (a) the OverCloud's events, asked of e while d drives the create ---
id=$(tower_cli d create --provider local --number 1 --pattern slow --detach)
IDS+=("$id")
# The stream ends by itself at "end"; --max-time bounds a stream that never does.
api e "/v1/overclouds/$id/events" -N --max-time 120 >"$T/events.txt" 2>"$T/events.err" &
CURL_PID=$!
PIDS+=("$CURL_PID")
wait "$CURL_PID" || fail "the stream on e did not end: $(tail -c 600 "$T/events.txt")"
# One JSON object per event: "name<TAB>status<TAB>steps as name=state,...".
awk '/^event: /{ev=$2} /^data: /{sub(/^data: /, ""); print ev "\t" $0}' "$T/events.txt" |
	while IFS=$'\t' read -r ev data; do
		printf '%s\t%s\n' "$ev" \
			"$(jq -r '.status + " " + ([.steps[] | select(.dag == "create") | .name + "=" + .state] | join(","))' <<<"$data")"
	done >"$T/events-tsv.log"
n=$(wc -l <"$T/events-tsv.log")
[ "$n" -ge 4 ] || fail "e sent $n event(s): $(cat "$T/events-tsv.log")"
tail -1 "$T/events-tsv.log" | grep -q "^end	ready " || fail "the stream did not end at ready: $(tail -2 "$T/events-tsv.log")"
[ "$(grep -c '^end	' "$T/events-tsv.log")" = 1 ] || fail "more than one end: $(cat "$T/events-tsv.log")"
# in order and without repeats: no event is the one before it again
[ -z "$(grep -v '^end	' "$T/events-tsv.log" | uniq -d)" ] ||
	fail "an event came twice in a row: $(grep -v '^end	' "$T/events-tsv.log" | uniq -d)"
# every counted step was seen running (each takes a second or two) and then done
for step in first second third; do
	r=$(grep -n "[ ,]$step=running" "$T/events-tsv.log" | head -1 | cut -d: -f1)
	d=$(grep -n "[ ,]$step=done" "$T/events-tsv.log" | head -1 | cut -d: -f1)
	[ -n "$r" ] && [ -n "$d" ] && [ "$r" -lt "$d" ] ||
		fail "step $step not seen running then done on e: $(cat "$T/events-tsv.log")"
done
# a step never goes back: once done, done in every later event
for step in acquire enroll first second third record; do
	d=$(grep -n "[ ,]$step=done" "$T/events-tsv.log" | head -1 | cut -d: -f1)
	[ -n "$d" ] || fail "step $step never done on e"
	if tail -n +"$d" "$T/events-tsv.log" | grep -q "[ ,]$step=\(pending\|running\)"; then
		fail "step $step went back after done: $(cat "$T/events-tsv.log")"
	fi
done
grep -q "^overcloud	creating " "$T/events-tsv.log" || fail "no creating event: $(head -2 "$T/events-tsv.log")"
pass "(a) $id's event stream on e (not the leader): $n events, each step running then done, ends at ready"

# --- (c) every task d made reached e's nodes through a note ---
node_ids=$(tower_cli d show "$id" -o json | jq -r '.nodes[].node_id // empty')
[ "$(wc -w <<<"$node_ids")" = 2 ] || fail "not 2 nodes: $node_ids"
# e holds both nodes' connections, d none (both list them connected).
[ "$(agents_held_at d)" = 0 ] || fail "d holds $(agents_held_at d) agent connection(s), want none"
[ "$(agents_held_at e)" -ge 2 ] || fail "e holds $(agents_held_at e) agent connection(s), want 2"
for x in $node_ids; do
	node_is e "$x" connected || fail "node $x is not connected at e"
	node_is d "$x" connected || fail "d does not list node $x connected (it is, at e)"
done
[ "$(grep -c " done " "/tmp/oc-counter-$id")" = 4 ] || fail "counted runs: $(cat "/tmp/oc-counter-$id")"
pass "(c) d's tasks for the nodes at e ran (e's poll is an hour: the notes brought them)"

# --- (b) tower run against d, for the nodes connected to e ---
tower_cli d run --all --timeout 60s -- sh -c 'echo "out-$(hostname)"; echo "err-line" >&2; exit 3' \
	>"$T/run.out" 2>"$T/run.err" && rc=0 || rc=$?
[ "$rc" = 3 ] || fail "tower run exit $rc, want 3: $(cat "$T/run.out" "$T/run.err")"
[ "$(grep -c ': out-' "$T/run.out")" = 2 ] || fail "stdout lines: $(cat "$T/run.out")"
[ "$(grep -c ': err-line' "$T/run.out")" = 2 ] || fail "stderr lines: $(cat "$T/run.out")"
run_id=$(sql "SELECT run_id FROM tasks ORDER BY rowid DESC LIMIT 1")
# the same answers on both replicas: the run's tasks and a task's log
for r in d e; do
	api "$r" "/v1/runs/$run_id" | jq -e '[.tasks[] | select(.state == "failed" and .exit_code == 3)] | length == 2' \
		>/dev/null || fail "run $run_id on $r: $(api "$r" "/v1/runs/$run_id")"
done
task=$(api d "/v1/runs/$run_id" | jq -r '.tasks[0].task_id')
api d "/v1/tasks/$task/log" | grep -q '^out-' || fail "d has no copy of task $task's log: $(api d "/v1/tasks/$task/log")"
# informational, never asserted: made by d, sent by e on the note, result stored by e
span=$(sql "SELECT max(finished_ms) - min(created_ms) FROM tasks WHERE run_id = '$run_id'")
pass "(b) tower run through d for nodes at e: output of both streams and exit 3 came back through d (tasks made to results stored: ${span} ms)"

# a secret output a script printed: masked in the log at e (the node's) and in d's copy
run_s=$(api d /v1/runs -X POST -H 'Content-Type: application/json' -d '{"target": {"all": true},
	"role_step": {"role": "echo-secret", "step": "apply", "inputs": {"token": "tok-9f2c"}}}' | jq -r .run_id)
[ -n "$run_s" ] && [ "$run_s" != null ] || fail "echo-secret run not made"
runs_done() { api "$1" "/v1/runs/$run_s" | jq -e '[.tasks[] | select(.state == "done")] | length == 2'; }
wait_until "echo-secret done" 60 runs_done d || fail "echo-secret: $(api d "/v1/runs/$run_s")"
for tid in $(api d "/v1/runs/$run_s" | jq -r '.tasks[].task_id'); do
	for r in d e; do
		wait_until "$r's log of $tid masked" 30 grep -q 'made: \*\*\*' "$T/$r/logs/$tid.log" ||
			fail "$r's log of $tid: $(cat "$T/$r/logs/$tid.log" 2>&1)"
		if grep -q "abcdef.0123456789abcdef\|tok-9f2c" "$T/$r/logs/$tid.log" "$T/$r.log"; then
			fail "a secret in $r's log of $tid"
		fi
	done
done
pass "secrets masked in the log at e and in d's copy"

# the same answer about the nodes on both replicas (connected, by e's heartbeats)
[ "$(tower_cli d show "$id" -o json | jq -c '[.nodes[] | [.name, .connected]]')" = \
	"$(tower_cli e show "$id" -o json | jq -c '[.nodes[] | [.name, .connected]]')" ] ||
	fail "d and e differ on $id's nodes"
tower_cli e show "$id" -o json | jq -e '[.nodes[] | select(.connected)] | length == 2' >/dev/null ||
	fail "e does not show $id's nodes connected"

# --- PostgreSQL restarted: both replicas listen again, notes flow again ---
pg_env_as_owner "$PG_ENV_BIN/pg_ctl" -D "$PG_ENV_DIR/data" -l "$PG_ENV_DIR/server.log" -m fast -w -t 60 restart \
	>>"$T/pg-restart.log" 2>&1 || fail "PostgreSQL did not restart: $(cat "$T/pg-restart.log")"
for r in d e; do
	wait_until "$r to listen again" 60 log_has "$r" "feed: listening to PostgreSQL again" ||
		fail "$r did not listen again"
done
tower_cli d run --all --timeout 60s -- echo after-restart >"$T/run2.out" 2>&1 ||
	fail "tower run after the restart: $(cat "$T/run2.out")"
[ "$(grep -c ': after-restart$' "$T/run2.out")" = 2 ] || fail "after the restart: $(cat "$T/run2.out")"
pass "PostgreSQL restarted: d and e listen again, a run through d reaches e's nodes by a note"

tower_cli d delete "$id" >/dev/null
wait_until "$id deleted" 120 oc_status_is e "$id" deleted || fail "not deleted: $(oc_field e "$id" .status)"
pass "deleted through d, e saw it"

# --- tower create through e: e records it, d (noted) drives it, e's CLI follows e's stream ---
timeout 240 "$TOWER" --state "$T/e" create --provider local --number 1 --pattern slow >"$T/create-e.log" 2>&1 ||
	fail "tower create through e: $(tail -5 "$T/create-e.log")"
id2=$(grep -o 'oc-[0-9a-f]\{8\}' "$T/create-e.log" | head -1)
IDS+=("$id2")
[ -n "$id2" ] && oc_status_is d "$id2" ready || fail "not ready at d: $(tail -5 "$T/create-e.log")"
log_has d "overcloud $id2: step first started" || fail "d did not drive $id2"
! log_has e "overcloud $id2: step" || fail "e drove $id2"
tower_cli e delete "$id2" >/dev/null
wait_until "$id2 deleted" 120 oc_status_is e "$id2" deleted || fail "$id2 not deleted"
pass "tower create through e (not the leader): d drove $id2, e's CLI followed it to ready"
