#!/usr/bin/env bash
# Two tower replicas on one PostgreSQL (pg_env.sh) share the agents' TLS
# session ticket keys through the database, sealed with a key derived from
# the CA key: an agent that joined through replica a resumes its TLS session
# on replica b once a is killed (b's count of resumed sessions), and no
# ticket key is in the database or the state dir in the clear. Then a row
# changed in the database: the replica that reads it says so once, makes no
# key of its own, and the agent failing over to it makes a full handshake.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg_env.sh
. "$(dirname "$0")/pg_env.sh"
trap 'rc=$?; set +e; pg_env_down; (exit $rc); cleanup' EXIT

pg_env_up || fail "cannot start PostgreSQL (apt-get install postgresql)"
URL=$(pg_env_database tower_tickets) || fail "create database"
sql() { psql -qAt "$URL" -c "$1"; }
for r in a b; do
	(umask 077 && printf '[tower]\nstore = %s\nlease = 3s\nreplica = %s\n' "$URL" "$r" >"$T/$r.conf")
done
metric() {
	curl -sS --cacert "$T/$1/ca.pem" -H "Authorization: Bearer $(cat "$T/$1/admin.token")" \
		"https://127.0.0.1:$(eval echo "\$API_PORT_$1")/metrics" | sed -n "s/^$2 //p"
}
resumed_at() { metric "$1" overcloud_agent_tls_resumed_total; }
# handshakes_total counts the resumed ones too
full_at() {
	echo $(( $(metric "$1" 'overcloud_agent_handshakes_total{result="ok"}') - $(resumed_at "$1") ))
}

# --- a makes the first ticket key; b, a copy of a's state dir, reads it ---
start_tower a --config "$T/a.conf"
cp -a "$T/a" "$T/b"
# Replicas with key files of their own would part at their first rotation
# (each rotates its own): with none copied, only the database can make b
# hold a's key.
rm -f "$T/b/tickets.key"
start_tower b --config "$T/b.conf"
[ "$(sql "SELECT count(*) FROM ticket_keys")" = 1 ] || fail "ticket keys: $(sql "SELECT generation FROM ticket_keys")"
log_has a "made ticket key generation 1" || fail "a did not make the first key"
! log_has b "made ticket key" || fail "b made a key of its own"
log_has b "generation 1 seals" || fail "b does not seal with generation 1"
sealed=$(sql "SELECT sealed FROM ticket_keys")
[[ "$sealed" =~ ^01[0-9a-f]{128}$ ]] || fail "not a sealed row: $sealed"
for r in a b; do
	[ ! -e "$T/$r/tickets.key" ] || fail "replica $r keeps a tickets.key beside the database"
done
pass "one ticket key for both replicas, sealed in the database (no tickets.key)"

# --- an agent joins through a (it knows both), a is killed, it resumes on b ---
token=$(new_token a edge)
"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_a,127.0.0.1:$AGENT_PORT_b" --token "$token" \
	--ca-hash "$(ca_hash a)" --state "$T/n1" >>"$T/n1.log" 2>&1 &
PIDS+=($!)
wait_until "agent state written" 30 test -s "$T/n1/agent.conf" || fail "join did not finish"
id=$(node_id_of n1)
wait_until "node connected at a" 30 node_is a "$id" connected || fail "node never connected at a"
[ "$(resumed_at b)" = 0 ] || fail "b resumed sessions before any agent came: $(resumed_at b)"
full_b=$(full_at b)
kill -9 "$TOWER_PID_a"
wait "$TOWER_PID_a" 2>/dev/null || true
# Every replica lists a node connected while its heartbeats are recent:
# the agent's own log says which replica holds it.
links_to() { grep -c "connected to tower 127.0.0.1:$1" "$T/n1.log" || true; }
linked_to() { [ "$(links_to "$1")" -ge "$2" ]; }
wait_until "the agent connected to b" 60 linked_to "$AGENT_PORT_b" 1 ||
	fail "the agent did not fail over to b"
[ "$(resumed_at b)" = 1 ] ||
	fail "the agent made a full handshake at b: resumed $(resumed_at b), full handshakes $(full_at b)"
[ "$(full_at b)" = "$full_b" ] || fail "b made a full handshake: $(full_at b) (was $full_b)"
grep -q "connected to tower 127.0.0.1:$AGENT_PORT_b" "$T/n1.log" || fail "the agent's log does not show b"
pass "kill -9 of a: the agent resumed its TLS session on b with a's ticket"

# --- a row changed in the database: a started again cannot open it ---
sql "UPDATE ticket_keys SET sealed = substr(sealed, 1, 60) ||
	CASE WHEN substr(sealed, 61, 1) = '0' THEN '1' ELSE '0' END || substr(sealed, 62)" >/dev/null
restart_tower_same_ports a --config "$T/a.conf"
wait_until "a says the key does not open" 30 log_has a "generation 1 in the database does not open" ||
	fail "a did not say its key row does not open"
full_a=$(full_at a)
links_a=$(links_to "$AGENT_PORT_a")
kill -9 "$TOWER_PID_b"
wait "$TOWER_PID_b" 2>/dev/null || true
wait_until "the agent connected to a again" 60 linked_to "$AGENT_PORT_a" $((links_a + 1)) ||
	fail "the agent did not come back to a"
[ "$(resumed_at a)" = 0 ] || fail "a resumed with a key it cannot open: $(resumed_at a)"
[ "$(full_at a)" -gt "$full_a" ] || fail "no full handshake at a: $(full_at a)"
[ "$(grep -c "does not open" "$T/a.log")" = 1 ] || fail "not logged once: $(grep -c "does not open" "$T/a.log")"
[ "$(sql "SELECT string_agg(generation::text, ',') FROM ticket_keys")" = 1 ] ||
	fail "a added a key it alone could open: $(sql "SELECT generation FROM ticket_keys")"
kill -0 "$TOWER_PID_a" || fail "a died"
pass "a key row that does not open: said once, no key added, the agent came back with a full handshake"
