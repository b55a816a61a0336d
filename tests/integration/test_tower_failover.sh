#!/usr/bin/env bash
# An agent that knows several tower replicas (join --tower A,B): it enrolls
# through the first one that answers, keeps the whole list in agent.conf,
# and when its tower goes away it comes back through the next one. The
# second replica here is a copy of the first's state dir (same CA, same
# nodes), started on the address that was dead while the agent joined.
. "$(dirname "$0")/lib.sh"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- bad lists are refused before anything is made ---
for bad in "" "," "127.0.0.1:1," "127.0.0.1:1,,127.0.0.1:2" "127.0.0.1:1,127.0.0.1:1" \
	"127.0.0.1" "127.0.0.1:0" "$(printf '127.0.0.1:%d,' 1 2 3 4 5 6 7 8)127.0.0.1:9"; do
	if out=$("$AGENT" join --tower "$bad" --token x --ca-hash "sha256:$(printf '0%.0s' {1..64})" \
		--state "$T/bad" 2>&1); then
		fail "join --tower '$bad' was taken"
	fi
	grep -q -- "--tower" <<<"$out" || fail "join --tower '$bad': unclear error: $out"
	[ "$(wc -l <<<"$out")" -eq 1 ] || fail "join --tower '$bad': more than one line: $out"
	[ ! -e "$T/bad/agent.key" ] || fail "join --tower '$bad' made a key"
done
pass "a bad --tower list is one clear line, nothing made"

# --- enrollment through the replica that answers ---
start_tower a
port_b=$(free_port)
token=$(new_token a edge)
hash=$(ca_hash a)
"$AGENT" join --tower "127.0.0.1:$port_b,127.0.0.1:$AGENT_PORT_a" --token "$token" --ca-hash "$hash" \
	--state "$T/n" >>"$T/n.log" 2>&1 &
PIDS+=($!)
wait_until "the agent to join through a" 60 log_has n "connected to tower 127.0.0.1:$AGENT_PORT_a" ||
	fail "the agent did not come through the second replica"
grep -q "cannot reach the tower 127.0.0.1:$port_b" "$T/n.log" || fail "no word of the dead replica"
grep -qx "tower=127.0.0.1:$port_b,127.0.0.1:$AGENT_PORT_a" "$T/n/agent.conf" ||
	fail "agent.conf does not keep both replicas: $(grep tower= "$T/n/agent.conf")"
id=$(node_id_of n)
wait_until "node connected at a" 30 node_is a "$id" connected || fail "a does not list the node"
pass "enrolled through the replica that answered; agent.conf keeps both"

# --- a goes away; b, with a's state, comes up where the dead address was ---
kill "$TOWER_PID_a"
wait "$TOWER_PID_a" 2>/dev/null || true
wait_until "the agent to lose a" 30 log_has n "lost the tower 127.0.0.1:$AGENT_PORT_a" ||
	fail "the agent did not notice a going"
cp -a "$T/a" "$T/b"
rm -f "$T/b/endpoint.json"
"$TOWER" serve --state "$T/b" --api 127.0.0.1:0 --agents "127.0.0.1:$port_b" --heartbeat 1s \
	--advertise 127.0.0.1 "${DATA_DIRS[@]}" >>"$T/b.log" 2>&1 &
PIDS+=($!)
wait_until "tower b to start" 30 test -s "$T/b/endpoint.json" || fail "tower b did not start"
wait_until "the agent at b" 90 log_has n "connected to tower 127.0.0.1:$port_b" ||
	fail "the agent did not fail over to b"
wait_until "node connected at b" 30 node_is b "$id" connected || fail "b does not list the node"
out=$(tower_cli b run "$id" -o json -- echo through-b)
[ "$(jq -r '.tasks[0].state' <<<"$out")" = done ] || fail "task through b: $out"
pass "a gone: the agent is back through b and runs its tasks"
