#!/usr/bin/env bash
# test_swarm.sh — the tower stays correct with many agents: bench/swarm
# enrolls and connects N simulated agents (own key, CSR, certificate and
# mutual-TLS connection each); every one is listed connected, gets exactly one
# no-op task and reports its result, and a tower restart brings all of them
# back, resuming their TLS sessions from tickets; one real agent process
# resumes too, also after its own restart (the session kept on disk).
# Not timed: only states.
# N is 500; under ASan+UBSan the crypto is several times slower, so that
# variant runs 200 agents to stay within a few minutes.
source "$(dirname "$0")/lib.sh"

N=500
[ "${OC_SANITIZED:-0}" = 1 ] && N=200
SWARM="$OC_BIN/swarm"
[ -x "$SWARM" ] || fail "no $SWARM: build it (make build)"

start_tower t --heartbeat 5s
token=$(new_token t swarm --uses "$N")
"$SWARM" --tower "127.0.0.1:$AGENT_PORT_t" --ca "$T/t/ca.pem" --token "$token:$N" \
	--status "$T/swarm.json" >"$T/swarm.log" 2>&1 &
SWARM_PID=$!
PIDS+=("$SWARM_PID")
start_agent real t "$(new_token t real)"

swarm_field() { jq -r "$1" "$T/swarm.json"; }
swarm_connected_is() { [ "$(swarm_field .connected)" = "$1" ]; }
connected_count() {
	tower_cli t nodes -o json | jq '[.[] | select(.state == "connected")] | length'
}
tower_connected_is() { [ "$(connected_count)" = "$1" ]; }

# Enrolling and connecting N agents is public-key work: minutes under load.
wait_until "$N swarm agents to connect" 240 swarm_connected_is "$N" ||
	fail "swarm: $(cat "$T/swarm.json" 2>/dev/null)"
wait_until "the tower to list $N + 1 connected" 60 tower_connected_is "$((N + 1))" ||
	fail "tower lists $(connected_count) of $N connected"
REAL_ID=$(node_id_of real)
tower_cli t nodes -o json >"$T/nodes.json"
[ "$(jq '[.[] | select(.role == "swarm")] | length' "$T/nodes.json")" = "$N" ] ||
	fail "not all $N nodes have role swarm"
[ "$(jq '[.[] | select(.role == "swarm") | .id] | unique | length' "$T/nodes.json")" = "$N" ] || fail "node ids are not unique"
[ "$(jq '[.[].name | select(startswith("swarm-"))] | unique | length' "$T/nodes.json")" = "$N" ] ||
	fail "nodes do not carry the swarm agents' hostnames"
pass "$N simulated agents enrolled and listed connected"

# One no-op task each, one result each.
tower_cli t run --role swarm -o json -- true >"$T/run.json" || fail "tower run exited $?"
[ "$(jq '.tasks | length' "$T/run.json")" = "$N" ] || fail "run has $(jq '.tasks | length' "$T/run.json") tasks"
[ "$(jq '[.tasks[] | select(.state == "done" and .exit_code == 0)] | length' "$T/run.json")" = "$N" ] ||
	fail "not every task is done with exit 0: $(jq -c '[.tasks[].state] | group_by(.) | map({(.[0]): length}) | add' "$T/run.json")"
[ "$(jq '[.tasks[].node_id] | unique | length' "$T/run.json")" = "$N" ] || fail "tasks do not cover $N distinct nodes"
one_task_each() {
	[ "$(swarm_field '.agents_with_tasks."1"')" = "$N" ] && [ "$(swarm_field .tasks)" = "$N" ]
}
wait_until "the swarm to count one task per agent" 10 one_task_each ||
	fail "swarm: $(cat "$T/swarm.json")"
pass "every agent ran exactly one no-op task and the tower has every result"

# Restart: all of them come back, by resuming their sessions.
stop_pid "$TOWER_PID_t"
restart_tower_same_ports t --heartbeat 5s
wait_until "the tower to list all $N + 1 connected again" 180 tower_connected_is "$((N + 1))" ||
	fail "after restart the tower lists $(connected_count) of $N connected"
wait_until "the swarm to see all $N welcomed again" 30 swarm_connected_is "$N" ||
	fail "swarm: $(cat "$T/swarm.json")"
resumed_count() {
	curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" \
		"https://127.0.0.1:$API_PORT_t/metrics" | awk '/^overcloud_agent_tls_resumed_total/ { print $2 }'
}
resumed=$(resumed_count)
[ "${resumed:-0}" -ge "$((N + 1))" ] || fail "only ${resumed:-0} of $N + 1 agents resumed their tls session"
[ "$(stat -c %a "$T/t/tickets.key")" = 600 ] || fail "tickets.key is not 0600"
# Done tasks are not sent again on reconnect.
one_task_each || fail "a task ran twice after the restart: $(cat "$T/swarm.json")"
pass "after a tower restart all $N agents are back ($resumed sessions resumed), no task ran twice"

# A restarted agent process resumes from the session it keeps on disk.
[ "$(stat -c %a "$T/real/tls.session")" = 600 ] || fail "the agent's tls.session is not 0600"
stop_pid "$AGENT_PID_real"
wait_until "the real agent to be seen gone" 30 node_is t "$REAL_ID" disconnected
run_agent real
wait_until "the real agent to come back" 60 node_is t "$REAL_ID" connected
[ "$(resumed_count)" -ge "$((resumed + 1))" ] || fail "the restarted agent did not resume its session"
pass "a restarted agent resumes the tls session it kept on disk"
