#!/usr/bin/env bash
# A node that stops answering (frozen, dead, cut off) does not hold a task
# open forever: 30 s past the task's own timeout the tower ends it "timeout"
# with a reason naming the node, so a destroy step can move on; when the node
# comes back, the task is not run.
. "$(dirname "$0")/lib.sh"

start_tower t
start_agent a t "$(new_token t k8s-worker)"
wait_until "agent enrolled" 30 test -s "$T/a/agent.conf" || fail "join"
id=$(node_id_of a)
wait_until "connected" 30 node_is t "$id" connected || fail "offline"

# Frozen: the connection stays up, nothing is read or answered.
kill -STOP "$AGENT_PID_a"
tower_cli t run "$id" --timeout 2s -o json -- sh -c "echo ran >'$T/late-task-ran'" \
	>"$T/run.json" 2>"$T/run.err" && fail "run of a frozen node succeeded: $(cat "$T/run.json")"
state=$(jq -r '.tasks[0].state' "$T/run.json")
reason=$(jq -r '.tasks[0].reason' "$T/run.json")
[ "$state" = timeout ] || fail "state $state, want timeout: $(cat "$T/run.json" "$T/run.err")"
case "$reason" in
*"no result from node $id"*) ;;
*) fail "reason does not name the node: $reason" ;;
esac
log_has t "no result from node $id" || fail "tower did not log it"
pass "a task on a frozen node ends timeout: $reason"

# Back again: the task still sits in its socket, but its message carries the
# tower's deadline for it, past which the agent does not start it (it answers
# "timeout" instead, which the tower only acknowledges); the record stays.
task=$(jq -r '.tasks[0].task_id' "$T/run.json")
kill -CONT "$AGENT_PID_a"
wait_until "node answers again" 60 bash -c "'$TOWER' --state '$T/t' run $id -o json -- true | jq -e '.tasks[0].state == \"done\"' >/dev/null" ||
	fail "node did not come back"
# The agent's answer to the late task is in once the tower says it had it.
wait_until "the late task answered" 30 log_has t "task $task: result sent again by the agent" ||
	fail "no answer to the late task from the node"
[ ! -e "$T/late-task-ran" ] || fail "the late task ran when the node came back"
log_has a "task $task: timeout .*not started" || fail "the agent did not say it refused the late task"
api() { curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" -H "Content-Type: application/json" "$@"; }
[ "$(api "https://127.0.0.1:$API_PORT_t/v1/tasks/$task" | jq -r .state)" = timeout ] ||
	fail "the late task's record changed: $(api "https://127.0.0.1:$API_PORT_t/v1/tasks/$task")"
pass "the node came back; the late task did not run and stays timeout"
