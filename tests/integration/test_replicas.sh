#!/usr/bin/env bash
# Two tower replicas on one PostgreSQL database (pg_env.sh), real agents on
# the local provider: the leader lease, kill -9 of the leader in the middle
# of a create (the other replica takes the lease and finishes it, no
# finished step runs twice, the agents come back through the survivor),
# and a partitioned leader (SIGSTOP past its lease, then SIGCONT) that
# drives nothing once the other replica holds the lease.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg_env.sh
. "$(dirname "$0")/pg_env.sh"
IDS=()
trap 'rc=$?; set +e; for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; done; remove_counters "${IDS[@]}"; pg_env_down; (exit $rc); cleanup' EXIT

pg_env_up || fail "cannot start PostgreSQL (apt-get install postgresql)"
URL=$(pg_env_database tower_rep) || fail "create database"
sql() { psql -qAt "$URL" -c "$1"; }
holder() { pg_env_lease_holder "$URL"; }
holder_is() { [ "$(holder)" = "$1" ]; }

HERE="$(cd "$(dirname "$0")" && pwd)"
DIRS=(--roles "$HERE/roles" --patterns "$HERE/patterns")
LEASE_S=3
for r in a b c; do
	(umask 077 && printf '[tower]\nstore = %s\nlease = %ss\nreplica = %s\n' "$URL" "$LEASE_S" "$r" \
		>"$T/$r.conf")
done
counter() { echo "/tmp/oc-counter-$1"; }
no_double_runs() {
	local dups
	dups=$(grep " done " "$(counter "$1")" | sort | uniq -d)
	[ -z "$dups" ] || fail "finished steps ran twice: $dups"
}
# The agents of an OverCloud's nodes: their agent.conf files.
agent_confs() { find "$T"/*/local/"$1" -name agent.conf 2>/dev/null; }
connected_at() {
	[ "$(tower_cli "$1" nodes -o json | jq '[.[] | select(.state == "connected")] | length')" = "$2" ]
}

# --- two replicas: a takes the lease, b serves as a replica ---
start_tower a "${DIRS[@]}" --agents 0.0.0.0:0 --config "$T/a.conf"
wait_until "a to hold the lease" 20 holder_is a || fail "a does not hold the lease: $(holder)"
# b gets a's state dir (the CA, the admin token, the ticket key), as an operator copies it
cp -a "$T/a" "$T/b"
rm -f "$T/b/endpoint.json"
start_tower b "${DIRS[@]}" --agents 0.0.0.0:0 --config "$T/b.conf"
log_has b "lease: b is a replica" || fail "b does not say it is a replica"
[ "$(sql "SELECT count(*) FROM replicas")" = 2 ] || fail "replicas: $(sql "SELECT * FROM replicas")"
token_a=$(sql "SELECT token FROM leases")
pass "two replicas on one database: a is the leader (token $token_a), b a replica"

# tower status, /metrics and the join line, asked of the replica that does not lead
st=$(tower_cli b status -o json)
[ "$(jq -r .leader <<<"$st")" = a ] || fail "status: leader: $st"
[ "$(jq -r .this <<<"$st")" = b ] || fail "status: this: $st"
[ "$(jq -r .shared <<<"$st")" = true ] || fail "status: shared: $st"
[ "$(jq -c '[.replicas[] | [.id, .leader]]' <<<"$st")" = '[["a",true],["b",false]]' ] ||
	fail "status: replicas: $st"
jq -e '.lease_age_s >= 0 and .lease_age_s <= 3 and .lease_ttl_s == 3' <<<"$st" >/dev/null ||
	fail "status: lease age: $st"
tower_cli b status >"$T/status.txt"
grep -q "^leader: a (lease token $token_a" "$T/status.txt" || fail "status text: $(cat "$T/status.txt")"
grep -q "^b .*replica .*(this one)" "$T/status.txt" || fail "status text: $(cat "$T/status.txt")"
curl -sS --cacert "$T/b/ca.pem" -H "Authorization: Bearer $(cat "$T/b/admin.token")" \
	"https://127.0.0.1:$API_PORT_b/metrics" >"$T/metrics.txt"
grep -qx 'overcloud_tower_leader{replica="a"} 1' "$T/metrics.txt" || fail "metrics: no leader a"
grep -qx 'overcloud_tower_leader{replica="b"} 0' "$T/metrics.txt" || fail "metrics: b"
grep -q '^overcloud_tower_lease_age_seconds [0-9.]*$' "$T/metrics.txt" || fail "metrics: lease age"
join=$(tower_cli b token create --role edge -o json | jq -r .join)
grep -q -- "--tower 127.0.0.1:$AGENT_PORT_b,127.0.0.1:$AGENT_PORT_a --token" <<<"$join" ||
	fail "the join line does not name both replicas: $join"
pass "status, /metrics and the join line on b: a leads, both replicas listed"

# --- kill -9 of the leader in the middle of a create ---
id=$(tower_cli a create --provider local --number 1 --pattern slow --detach)
IDS+=("$id")
wait_until "step second running" 90 grep -q "second start" "$(counter "$id")" ||
	fail "second never started: $(cat "$(counter "$id")" 2>/dev/null)"
# the nodes' agents know both replicas (the leader's agent address first)
for conf in $(agent_confs "$id"); do
	grep -qx "tower=10.213.0.1:$AGENT_PORT_a,10.213.0.1:$AGENT_PORT_b" "$conf" ||
		grep -qx "tower=127.0.0.1:$AGENT_PORT_a,127.0.0.1:$AGENT_PORT_b" "$conf" ||
		fail "agent.conf does not list both replicas: $(grep tower= "$conf")"
done
[ "$(agent_confs "$id" | wc -l)" = 2 ] || fail "not 2 agents: $(agent_confs "$id")"
kill -9 "$TOWER_PID_a"
wait "$TOWER_PID_a" 2>/dev/null || true
killed=$(date +%s%N)
wait_until "b to take the lease" $((LEASE_S * 5)) holder_is b || fail "b did not take the lease: $(holder)"
took_ms=$(( ($(date +%s%N) - killed) / 1000000 ))
[ "$(sql "SELECT token FROM leases")" = $((token_a + 1)) ] || fail "token did not grow by one"
wait_until "the create to finish through b" 120 oc_status_is b "$id" ready ||
	fail "not ready: $(oc_field b "$id" '.status + " " + (.error // "")')"
no_double_runs "$id"
[ "$(grep -c "first start" "$(counter "$id")")" = 1 ] || fail "first (finished before the kill) ran again"
[ "$(grep -c "third done" "$(counter "$id")")" = 2 ] || fail "third done $(grep -c "third done" "$(counter "$id")") times, want 2"
wait_until "both agents connected at b" 30 connected_at b 2 || fail "agents not back at b"
for conf in $(agent_confs "$id"); do
	grep -q "connected to tower .*:$AGENT_PORT_b" "$(dirname "$conf")"/../*.log 2>/dev/null ||
		grep -rqs "connected to tower .*:$AGENT_PORT_b" "$(dirname "$conf")/.." ||
		fail "an agent's log does not show it reached b"
done
pass "kill -9 of the leader mid-create: b took the lease in ${took_ms} ms (lease ${LEASE_S}s), finished $id, no finished step ran twice, agents at b"

# --- a partitioned leader: b stopped past its lease, then let go on ---
cp -a "$T/b" "$T/c"
rm -f "$T/c/endpoint.json"
start_tower c "${DIRS[@]}" --agents 0.0.0.0:0 --config "$T/c.conf"
token_b=$(sql "SELECT token FROM leases")
id2=$(tower_cli b create --provider local --number 1 --pattern slow --detach)
IDS+=("$id2")
wait_until "step first running" 90 grep -q "first start" "$(counter "$id2")" ||
	fail "first never started on $id2"
kill -STOP "$TOWER_PID_b"
stopped_lines=$(wc -l <"$T/b.log")
wait_until "c to take the lease from the stopped b" $((LEASE_S * 5)) holder_is c ||
	fail "c did not take the lease: $(holder)"
[ "$(sql "SELECT token FROM leases")" = $((token_b + 1)) ] || fail "token did not grow"
kill -CONT "$TOWER_PID_b"
wait_until "b to step down" 20 log_has b "lease: b is no longer the leader" ||
	fail "b did not step down"
wait_until "the create to finish through c" 150 oc_status_is c "$id2" ready ||
	fail "not ready: $(oc_field c "$id2" '.status + " " + (.error // "")')"
no_double_runs "$id2"
[ "$(grep -c "third done" "$(counter "$id2")")" = 2 ] || fail "third on $id2: $(cat "$(counter "$id2")")"
# after SIGCONT, b drove nothing: no step of it started, finished or was recorded by b
if tail -n +"$((stopped_lines + 1))" "$T/b.log" | grep -E "overcloud $id2: (step|ready|node)"; then
	fail "the partitioned b still drove $id2 after c took the lease"
fi
holder_is c || fail "the lease left c: $(holder)"
pass "a partitioned leader (SIGSTOP > lease, SIGCONT) stepped down and drove nothing; c finished $id2"

# --- PostgreSQL restarted under running replicas: they connect again, nothing lost ---
id3=$(tower_cli c create --provider local --number 1 --pattern slow --detach)
IDS+=("$id3")
wait_until "step first running on $id3" 90 grep -q "first start" "$(counter "$id3")" ||
	fail "first never started on $id3"
nodes_before=$(sql "SELECT count(*) FROM nodes WHERE deleted = 0")
pg_env_as_owner "$PG_ENV_BIN/pg_ctl" -D "$PG_ENV_DIR/data" -l "$PG_ENV_DIR/server.log" -m fast -w -t 60 restart \
	>>"$T/pg-restart.log" 2>&1 || fail "PostgreSQL did not restart: $(cat "$T/pg-restart.log")"
wait_until "the create to finish after the restart" 150 oc_status_is c "$id3" ready ||
	fail "not ready after the restart: $(oc_field c "$id3" '.status + " " + (.error // "")')"
no_double_runs "$id3"
[ "$(grep -c "third done" "$(counter "$id3")")" = 2 ] || fail "third on $id3: $(cat "$(counter "$id3")")"
log_has c "connection to PostgreSQL was lost and is made again" || fail "c never reconnected"
for x in "$id" "$id2" "$id3"; do
	oc_status_is b "$x" ready || fail "$x is not ready as b sees it: $(oc_field b "$x" .status)"
done
[ "$(sql "SELECT count(*) FROM nodes WHERE deleted = 0")" = "$nodes_before" ] || fail "nodes changed"
wait_until "a leader again" 30 bash -c "[ -n \"\$(psql -qAt '$URL' -c \"SELECT holder FROM leases WHERE expires_ms > (extract(epoch from clock_timestamp()) * 1000)::bigint\")\" ]" ||
	fail "no replica holds the lease after the restart"
pass "PostgreSQL restarted under the replicas: they connected again, $id3 finished, nothing lost"

# --- the nodes connected to a replica that does not lead ---
# d leads but listens for agents on loopback only, where the nodes (in their
# namespaces) cannot reach it: they join through e. d sees them enrolled by
# their heartbeats, and e sends them d's tasks and records their results.
for x in b c; do
	kill -9 "$(eval echo "\$TOWER_PID_$x")"
	wait "$(eval echo "\$TOWER_PID_$x")" 2>/dev/null || true
done
for r in d e; do
	(umask 077 && printf '[tower]\nstore = %s\nlease = %ss\nreplica = %s\n' "$URL" "$LEASE_S" "$r" \
		>"$T/$r.conf")
	cp -a "$T/b" "$T/$r"
	rm -rf "$T/$r/endpoint.json" "$T/$r/local"
done
start_tower d "${DIRS[@]}" --config "$T/d.conf"
wait_until "d to hold the lease" $((LEASE_S * 5)) holder_is d || fail "d does not lead: $(holder)"
start_tower e "${DIRS[@]}" --agents 0.0.0.0:0 --config "$T/e.conf"
id4=$(tower_cli d create --provider local --number 1 --pattern slow --detach)
IDS+=("$id4")
wait_until "the create through e's agents" 150 oc_status_is d "$id4" ready ||
	fail "not ready: $(oc_field d "$id4" '.status + " " + (.error // "")')"
no_double_runs "$id4"
[ "$(grep -c "third done" "$(counter "$id4")")" = 2 ] || fail "third on $id4: $(cat "$(counter "$id4")")"
# Both list e's nodes connected (the same answer on every replica); only e
# holds their connections.
[ "$(agents_held_at d)" = 0 ] || fail "d holds $(agents_held_at d) agent connection(s), want none"
[ "$(agents_held_at e)" -ge 2 ] || fail "e holds $(agents_held_at e) agent connection(s), want 2"
for x in $(tower_cli d show "$id4" -o json | jq -r '.nodes[].node_id // empty'); do
	node_is e "$x" connected || fail "node $x is not connected at e"
	node_is d "$x" connected || fail "d does not list node $x connected (it is, at e)"
done
pass "nodes connected to a replica that does not lead: d finished $id4 through e"
