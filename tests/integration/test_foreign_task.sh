#!/usr/bin/env bash
# Issue 17, item 4: an agent that sends task.* messages about another node's
# task breaks the protocol's order; the tower closes its connection (as the
# README says of out-of-order messages) with the reason in its log, once,
# instead of logging every message and keeping the connection.
. "$(dirname "$0")/lib.sh"

HC=(python3 "$REPO/tests/integration/hostile_client.py")
start_tower t
CA="$T/t/ca.pem"
URL="https://127.0.0.1:$API_PORT_t"
api() {
	curl -sS --max-time 15 --cacert "$CA" -H "Authorization: Bearer $(cat "$T/t/admin.token")" \
		-H "Content-Type: application/json" "$@"
}

start_agent a t "$(new_token t k8s-worker)"
start_agent b t "$(new_token t k8s-worker)"
wait_until "agents enrolled" 30 test -s "$T/a/agent.conf" -a -s "$T/b/agent.conf" ||
	fail "agents did not enroll"
node_a=$(node_id_of a)
node_b=$(node_id_of b)
wait_until "agent a connected" 30 node_is t "$node_a" connected || fail "agent a offline"
wait_until "agent b connected" 30 node_is t "$node_b" connected || fail "agent b offline"

run=$(api -X POST "$URL/v1/runs" -d "{\"argv\": [\"true\"], \"target\": {\"node\": \"$node_b\"}}" |
	jq -r .run_id)
task_b=$(api "$URL/v1/runs/$run" | jq -r '.tasks[0].task_id')
[ -n "$task_b" ] && [ "$task_b" != null ] || fail "no task on b"
task_done() { [ "$(api "$URL/v1/runs/$run" | jq -r '.tasks[0].state')" = done ]; }
wait_until "b's task done" 30 task_done || fail "b's task did not finish"

# a's identity, b's task: 200 task.accepted, then heartbeats for 6 s.
stop_pid "$AGENT_PID_a"
wait_until "agent a disconnected" 30 node_is t "$node_a" disconnected || fail "agent a still connected"
"${HC[@]}" agent 127.0.0.1 "$AGENT_PORT_t" "$T/a" "$task_b" 200 6 >"$T/impostor.out" ||
	fail "impostor client failed: $(cat "$T/impostor.out")"
cat "$T/impostor.out"
jq -e '.welcomed' "$T/impostor.out" >/dev/null || fail "a's certificate was not welcomed"
jq -e '.closed' "$T/impostor.out" >/dev/null ||
	fail "the tower kept a connection that spoke of another node's task"
jq -e '.error | test("not this node")' "$T/impostor.out" >/dev/null ||
	fail "the agent was not told why: $(cat "$T/impostor.out")"
lines=$(grep -c "that is not its own" "$T/t.log" || true)
[ "$lines" -eq 1 ] || fail "$lines log lines for 200 foreign task messages, want 1"
grep -q "task.accepted\" for task $task_b that is not its own, closing" "$T/t.log" ||
	fail "the close and its reason were not logged"
[ "$(api "$URL/v1/runs/$run" | jq -r '.tasks[0].state')" = done ] || fail "b's task was changed"
pass "task.* about another node's task: connection closed, one log line, the task untouched"

# The real agent a still reconnects and works.
run_agent a
wait_until "agent a back" 30 node_is t "$node_a" connected || fail "agent a did not come back"
run=$(api -X POST "$URL/v1/runs" -d "{\"argv\": [\"true\"], \"target\": {\"node\": \"$node_a\"}}" |
	jq -r .run_id)
wait_until "a's own task done" 30 task_done || fail "a's own task did not finish"
pass "an agent speaking of its own tasks is unaffected"
