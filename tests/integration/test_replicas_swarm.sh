#!/usr/bin/env bash
# test_replicas_swarm.sh — bench/swarm against two tower replicas on one
# PostgreSQL (pg_env.sh), as `make bench`'s replica rows use it: the swarm
# spreads its agents over both (agent i on replica i % 2), and both list
# all of them connected, with their figures (`tower nodes`); a run posted to
# the leader reaches the nodes connected to the other replica too (their
# tasks go through its relay) and every one reports; after kill -9 of the
# leader the other one takes the lease and the swarm's agents that were on
# it come back through the survivor. Only states, no times.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg_env.sh
. "$(dirname "$0")/pg_env.sh"
trap 'rc=$?; set +e; pg_env_down; (exit $rc); cleanup' EXIT

N=6
SWARM="$OC_BIN/swarm"
[ -x "$SWARM" ] || fail "no $SWARM: build it (make build)"
pg_env_up || fail "cannot start PostgreSQL (apt-get install postgresql)"
URL=$(pg_env_database tower_swarm) || fail "create database"
holder_is() { [ "$(pg_env_lease_holder "$URL")" = "$1" ]; }
for r in a b; do
	(umask 077 && printf '[tower]\nstore = %s\nlease = 3s\nreplica = %s\n' "$URL" "$r" >"$T/$r.conf")
done
start_tower a --config "$T/a.conf"
wait_until "a to hold the lease" 20 holder_is a || fail "a does not lead"
cp -a "$T/a" "$T/b"
start_tower b --config "$T/b.conf"
token=$(new_token a swarm --uses "$N")

"$SWARM" --tower "127.0.0.1:$AGENT_PORT_a,127.0.0.1:$AGENT_PORT_b" --ca "$T/a/ca.pem" \
	--token "$token:$N" --status "$T/swarm.json" >"$T/swarm.log" 2>&1 &
PIDS+=($!)
swarm_is() { [ "$(jq -c "$1" "$T/swarm.json" 2>/dev/null)" = "$2" ]; }
wait_until "the swarm over both replicas" 60 swarm_is '[.connected, .connected_per_tower]' "[$N,[3,3]]" ||
	fail "swarm: $(cat "$T/swarm.json")"
connected_here() { [ "$(tower_cli "$1" nodes -o json | jq '[.[] | select(.state == "connected")] | length')" = "$2" ]; }
# The same answer on either replica: a node held by the other one counts
# as connected by its recent heartbeats in the shared database.
wait_until "$N connected as a lists them" 10 connected_here a "$N" || fail "a does not list $N connected"
wait_until "$N connected as b lists them" 10 connected_here b "$N" || fail "b does not list $N connected"
# and with their figures: the replica holding a node writes them into its
# row with its heartbeat time, the other one shows those.
with_figures() { [ "$(tower_cli "$1" nodes -o json | jq '[.[] | select(.metrics.mem_total > 0)] | length')" = "$2" ]; }
wait_until "figures of all $N at a" 30 with_figures a "$N" || fail "a lacks figures: $(tower_cli a nodes -o json)"
wait_until "figures of all $N at b" 30 with_figures b "$N" || fail "b lacks figures: $(tower_cli b nodes -o json)"
pass "the swarm spread $N agents over two replicas, 3 on each; both list all $N connected, with figures"

# A run posted to the leader: the nodes connected to b are targeted too.
api_a() {
	curl -sS --cacert "$T/a/ca.pem" -H "Authorization: Bearer $(cat "$T/a/admin.token")" \
		"https://127.0.0.1:$API_PORT_a$1" "${@:2}"
}
run=$(api_a /v1/runs -H "Content-Type: application/json" \
	-d '{"argv": ["true"], "target": {"role": "swarm"}}')
[ "$(jq '.tasks | length' <<<"$run")" = "$N" ] || fail "the run does not target all $N nodes: $run"
run_id=$(jq -r .run_id <<<"$run")
all_done() { [ "$(api_a "/v1/runs/$run_id" | jq '[.tasks[] | select(.state == "done")] | length')" = "$N" ]; }
wait_until "every task done" 30 all_done || fail "run: $(api_a "/v1/runs/$run_id")"
wait_until "the swarm's count of tasks" 10 swarm_is .tasks "$N" ||
	fail "the swarm ran $(jq .tasks "$T/swarm.json") tasks, want $N"
pass "a run posted to the leader reached all $N nodes, 3 of them through b's relay"

# kill -9 of the leader: b takes the lease, a's agents come back through b.
kill -9 "$TOWER_PID_a"
wait "$TOWER_PID_a" 2>/dev/null || true
wait_until "b to take the lease" 20 holder_is b || fail "b did not take the lease"
wait_until "the swarm back at b" 60 swarm_is '[.connected, .connected_per_tower, .moved]' "[$N,[0,$N],3]" ||
	fail "swarm: $(cat "$T/swarm.json")"
wait_until "$N connected at b" 10 connected_here b "$N" || fail "b does not list $N connected"
pass "kill -9 of the leader: b leads and the 3 agents that were on a are connected to b"
