#!/usr/bin/env bash
# token -> join -> connected with the real arch; the node keeps its id across
# agent restarts; after kill -9 of the tower the agent comes back by itself.
. "$(dirname "$0")/lib.sh"

start_tower t

# The join line printed by `tower token create` is runnable as it stands.
join=$(tower_cli t token create --role k8s-worker -o json | jq -r .join)
case "$join" in
	"overcloud-agent join --tower 127.0.0.1:$AGENT_PORT_t --token "*" --ca-hash sha256:"*) ;;
	*) fail "unexpected join line: $join" ;;
esac
"$AGENT" ${join#overcloud-agent } --state "$T/a" >>"$T/a.log" 2>&1 &
PIDS+=($!)
AGENT_PID_a=$!
wait_until "agent state written" 30 test -s "$T/a/agent.conf" || fail "join did not finish"
id=$(node_id_of a)
[[ "$id" =~ ^n-[0-9a-f]{16}$ ]] || fail "node id '$id'"
wait_until "node connected" 30 node_is t "$id" connected || fail "node never connected"
row=$(tower_cli t nodes -o json | jq -c --arg id "$id" '.[] | select(.id == $id)')
[ "$(jq -r .arch <<<"$row")" = x86_64 ] || fail "arch: $row"
[ "$(jq -r .role <<<"$row")" = k8s-worker ] || fail "role: $row"
[ "$(jq -r .name <<<"$row")" = "$(hostname)" ] || fail "name: $row"
for k in id name arch role state last_seen; do
	jq -e --arg k "$k" 'has($k)' <<<"$row" >/dev/null || fail "nodes -o json lacks $k"
done
for f in agent.key agent.crt ca.pem agent.conf; do
	[ "$(stat -c %a "$T/a/$f")" = 600 ] || fail "$f mode $(stat -c %a "$T/a/$f")"
done
# The certificate names the node: the id comes from it, not from a message.
openssl x509 -in "$T/a/agent.crt" -noout -subject | grep -q "CN *= *$id" || fail "cert CN is not $id"
openssl verify -CAfile "$T/t/ca.pem" "$T/a/agent.crt" >/dev/null || fail "agent cert does not chain"
tower_cli t nodes | grep -q "$id.*connected" || fail "table output lacks the node"
pass "join with --ca-hash: node $id connected, arch x86_64"

# Agent restart: same id, no new token needed.
stop_pid "$AGENT_PID_a"
wait_until "node disconnected" 30 node_is t "$id" disconnected || fail "node still connected"
run_agent a
wait_until "node reconnected" 30 node_is t "$id" connected || fail "agent run did not reconnect"
[ "$(node_id_of a)" = "$id" ] || fail "node id changed"
[ "$(tower_cli t nodes -o json | jq length)" = 1 ] || fail "restart created another node"
pass "agent restart keeps node id $id"

# kill -9 the tower; start it again on the same ports; the agent returns.
kill -9 "$TOWER_PID_t"
wait "$TOWER_PID_t" 2>/dev/null || true
restart_tower_same_ports t
wait_until "node back after tower restart" 60 node_is t "$id" connected ||
	fail "agent did not reconnect after tower kill -9"
grep -q "reconnecting in" "$T/a.log" || fail "agent did not back off"
pass "tower kill -9 + restart: agent reconnected by itself"

# Join with a CA file instead of a pin.
token=$(new_token t edge-worker)
"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_t" --token "$token" --ca "$T/t/ca.pem" \
	--state "$T/b" --no-run >>"$T/b.log" 2>&1 || fail "join with --ca failed"
run_agent b
wait_until "second node connected" 30 node_is t "$(node_id_of b)" connected || fail "node b"
[ "$(node_id_of b)" != "$id" ] || fail "two nodes share an id"
pass "join with --ca FILE works"

# Joining again into a state dir: the TLS session saved for the old identity
# is not offered (resuming it would connect as the old node).
wait_until "node b saved a TLS session" 30 test -s "$T/b/tls.session" || fail "no tls.session for b"
old_b=$(node_id_of b)
stop_pid "$AGENT_PID_b"
"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_t" --token "$(new_token t edge-worker)" --ca "$T/t/ca.pem" \
	--state "$T/b" --no-run >>"$T/b.log" 2>&1 || fail "second join into b failed"
new_b=$(node_id_of b)
[ "$new_b" != "$old_b" ] || fail "the second join kept the node id"
run_agent b
wait_until "node b connected as its new id" 30 node_is t "$new_b" connected ||
	fail "node b did not connect as $new_b: $(tower_cli t nodes)"
node_is t "$old_b" connected && fail "node b connected as its old id $old_b"
pass "a second join into a state dir connects as the new node"

# A node names itself: control characters in its host name (here an escape
# sequence that retitles the operator's terminal) reach no log line, API
# answer or table as such. The agent runs in its own UTS namespace.
token=$(new_token t edge-worker)
unshare --uts sh -c 'printf "pi\033]0;owned\007-01" >/proc/sys/kernel/hostname && exec "$@"' sh \
	"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_t" --token "$token" --ca-hash "$(ca_hash t)" \
	--state "$T/c" >>"$T/c.log" 2>&1 &
PIDS+=($!)
wait_until "odd-named node enrolled" 30 test -s "$T/c/agent.conf" || fail "node c did not join"
id_c=$(node_id_of c)
wait_until "odd-named node connected" 30 node_is t "$id_c" connected || fail "node c"
name=$(tower_cli t nodes -o json | jq -r --arg id "$id_c" '.[] | select(.id == $id) | .name')
[ "$name" = "pi?]0;owned?-01" ] || fail "name stored as: $(printf %q "$name")"
tower_cli t nodes | grep -q "^$id_c  pi?]0;owned?-01 " || fail "table: $(tower_cli t nodes | cat -v)"
! tower_cli t nodes | grep -q $'\033' || fail "an escape reached the table"
! grep -q $'\033' "$T/t.log" || fail "an escape reached the tower's log"
pass "control characters in a node's host name show as '?'"

# A host name the certificate request's subject syntax would choke on (a
# comma, a backslash, a quote: any bytes the kernel takes) still joins, and
# the tower keeps the name as the node said it.
token=$(new_token t edge-worker)
unshare --uts sh -c 'printf %s "$1" >/proc/sys/kernel/hostname && shift && exec "$@"' sh 'we"b,\1' \
	"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_t" --token "$token" --ca-hash "$(ca_hash t)" \
	--state "$T/d" >>"$T/d.log" 2>&1 &
PIDS+=($!)
wait_until "node with a comma and a backslash in its name enrolled" 30 test -s "$T/d/agent.conf" ||
	fail "node d did not join: $(cat "$T/d.log")"
id_d=$(node_id_of d)
wait_until "node d connected" 30 node_is t "$id_d" connected || fail "node d"
[ "$(tower_cli t nodes -o json | jq -r --arg id "$id_d" '.[] | select(.id == $id) | .name')" = 'we"b,\1' ] ||
	fail "name of d: $(tower_cli t nodes -o json | jq -c --arg id "$id_d" '.[] | select(.id == $id)')"
pass "a host name with a comma, a backslash and a quote joins and keeps its name"
