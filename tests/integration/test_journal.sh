#!/usr/bin/env bash
# The agent's journal: a task interrupted by an agent crash is reported
# failed ("agent restarted"); a result finished while the tower was away
# arrives after reconnect exactly once; a task sent again is not run again.
. "$(dirname "$0")/lib.sh"

start_tower t
start_agent a t "$(new_token t k8s-worker)"
wait_until "agent enrolled" 30 test -s "$T/a/agent.conf" || fail "join"
id=$(node_id_of a)
wait_until "connected" 30 node_is t "$id" connected || fail "offline"
API="https://127.0.0.1:$API_PORT_t"
api() { curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" -H "Content-Type: application/json" "$@"; }
# start_run ARGV_JSON: prints the run id without waiting for the result.
start_run() {
	api -X POST "$API/v1/runs" -d "{\"argv\": $1, \"target\": {\"node\": \"$id\"}, \"timeout\": 120}" |
		jq -r .run_id
}
run_state() { api "$API/v1/runs/$1" | jq -r '.tasks[0].state'; }
run_field() { api "$API/v1/runs/$1" | jq -r ".tasks[0].$2"; }

# 1. agent killed mid-task
mkdir -p "$T/c"
run1=$(start_run "[\"sh\", \"-c\", \"echo \$\$ > $T/c/pid1; echo started; exec sleep 1000\"]")
wait_until "task 1 running" 30 test -s "$T/c/pid1" || fail "task 1 did not start"
pid1=$(cat "$T/c/pid1")
kill -9 "$AGENT_PID_a"
wait "$AGENT_PID_a" 2>/dev/null || true
run_agent a
wait_until "task 1 reported" 30 bash -c "[ \"\$(curl -sS --cacert '$T/t/ca.pem' -H 'Authorization: Bearer $(cat "$T/t/admin.token")' '$API/v1/runs/$run1' | jq -r '.tasks[0].state')\" = failed ]" ||
	fail "interrupted task not reported: $(run_state "$run1")"
[ "$(run_field "$run1" reason)" = "agent restarted" ] || fail "reason: $(run_field "$run1" reason)"
wait_until "orphan of task 1 killed" 10 bash -c "! kill -0 $pid1 2>/dev/null" || fail "task 1 process $pid1 survived"
pass "agent killed mid-task: reported failed with 'agent restarted', its process killed"

# 2. a task that finishes while the tower is down; sent again when the
#    tower comes back while it still runs; it must run once and report once.
run2=$(start_run "[\"sh\", \"-c\", \"echo run >> $T/c/count2; while [ ! -e $T/c/go2 ]; do sleep 0.1; done; echo finished\"]")
wait_until "task 2 running" 30 test -s "$T/c/count2" || fail "task 2 did not start"
tid2=$(api "$API/v1/runs/$run2" | jq -r '.tasks[0].task_id')
J=$T/a/journal/tasks.journal
# last_record ID: the kind (R, D or A) of the journal's latest record for ID.
last_record() { grep -a "^[RDA] $1\b" "$J" | tail -n 1 | cut -c1; }
kill -9 "$TOWER_PID_t"
wait "$TOWER_PID_t" 2>/dev/null || true
restart_tower_same_ports t
# the tower resends the open task when the agent is back: the journal refuses a second run
wait_until "agent back" 60 node_is t "$id" connected || fail "agent did not come back"
kill -9 "$TOWER_PID_t"
wait "$TOWER_PID_t" 2>/dev/null || true
touch "$T/c/go2"        # finishes while the tower is away
wait_until "agent journaled task 2" 30 bash -c "grep -aq '^D $tid2 ' '$J'" ||
	fail "no journaled result"
restart_tower_same_ports t
wait_until "task 2 result recorded" 60 bash -c "[ \"\$(curl -sS --cacert '$T/t/ca.pem' -H 'Authorization: Bearer $(cat "$T/t/admin.token")' '$API/v1/runs/$run2' | jq -r '.tasks[0].state')\" = done ]" ||
	fail "result of task 2 lost: $(run_state "$run2")"
[ "$(wc -l <"$T/c/count2")" = 1 ] || fail "task 2 ran $(wc -l <"$T/c/count2") times"
[ "$(grep -c "task $tid2 on .*: done" "$T/t.log")" = 1 ] || fail "task 2 result recorded more than once"
wait_until "result acknowledged" 30 bash -c "grep -aq '^A $tid2 ' '$J'" || fail "no ack journaled"
[ "$(last_record "$tid2")" = A ] || fail "acked result still pending: $(last_record "$tid2")"
api "$API/v1/tasks/$tid2/log" | grep -q finished || fail "log of task 2"
pass "result of a task finished while the tower was away arrived once, with its output; task ran once"


# 3. acknowledged ids older than a week are forgotten at start, newer stay;
#    a record torn by a crash is cut off; marker files of older agents
#    (one file per task) are taken over.
stop_pid "$AGENT_PID_a"
now=$(date +%s)
printf 'A t-old %s\nA t-recent %s\n' $((now - 8 * 86400)) "$now" >>"$J"
: >"$T/a/journal/t-legacy.acked"
printf 'D t-torn 999\nabc' >>"$J"
run_agent a
wait_until "agent back" 30 node_is t "$id" connected || fail "agent did not come back"
[ "$(last_record t-old)" = "" ] || fail "a week-old ack was kept"
[ "$(last_record t-recent)" = A ] || fail "a fresh ack was dropped"
[ "$(last_record "$tid2")" = A ] || fail "the ack of task 2 was dropped"
[ "$(last_record t-legacy)" = A ] && [ ! -e "$T/a/journal/t-legacy.acked" ] ||
	fail "an old marker file was not taken over"
[ "$(last_record t-torn)" = "" ] || fail "a torn record was kept"
grep -q "damaged bytes .* dropped" "$T/a.log" || fail "the torn record was not logged"
run3=$(start_run '["true"]')
wait_until "task 3 done" 30 bash -c "[ \"\$(curl -sS --cacert '$T/t/ca.pem' -H 'Authorization: Bearer $(cat "$T/t/admin.token")' '$API/v1/runs/$run3' | jq -r '.tasks[0].state')\" = done ]" ||
	fail "task after a torn journal: $(run_state "$run3")"
pass "old acks dropped, fresh kept, torn record cut, old markers taken over; tasks run on"
