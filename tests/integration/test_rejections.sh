#!/usr/bin/env bash
# Everything the tower must refuse, each with a clear logged reason, while a
# good agent stays connected and new joins keep working.
. "$(dirname "$0")/lib.sh"

start_tower t
start_tower u   # another tower, another CA

start_agent good t "$(new_token t k8s-worker)"
wait_until "good agent enrolled" 30 test -s "$T/good/agent.conf" || fail "good agent"
good=$(node_id_of good)
wait_until "good agent connected" 30 node_is t "$good" connected || fail "good agent offline"
hash_t=$(ca_hash t)

# join_expect_fail NAME TOKEN REASON [ARGS...]: join must fail, printing REASON.
join_expect_fail() {
	local name=$1 token=$2 reason=$3
	shift 3
	if "$AGENT" join --tower "127.0.0.1:$AGENT_PORT_t" --token "$token" --state "$T/$name" \
		--no-run "$@" >"$T/$name.log" 2>&1; then
		fail "$name: join succeeded"
	fi
	grep -q -- "$reason" "$T/$name.log" || fail "$name: agent did not say '$reason': $(cat "$T/$name.log")"
}

# 1. a single-use token used twice
tok=$(new_token t k8s-worker)
"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_t" --token "$tok" --ca-hash "$hash_t" \
	--state "$T/once" --no-run >"$T/once.log" 2>&1 || fail "first use of the token failed"
join_expect_fail reused "$tok" "token already used" --ca-hash "$hash_t"
log_has t "enrollment refused: token already used" || fail "tower did not log the reused token"
pass "reused single-use token refused"

# 2. an expired token (1 s lifetime; wait until the tower's clock is past it)
tok=$(new_token t k8s-worker --ttl 1s)
exp=$(( $(date +%s) + 2 ))
while [ "$(date +%s)" -le "$exp" ]; do sleep 0.2; done
join_expect_fail expired "$tok" "token expired" --ca-hash "$hash_t"
log_has t "enrollment refused: token expired" || fail "tower did not log the expired token"
pass "expired token refused"

# 3. a made-up token, well-formed and not
join_expect_fail madeup "0123456789ab.0123456789abcdef0123456789abcdef" "unknown token" --ca-hash "$hash_t"
join_expect_fail garbage "not-a-token" "unknown token" --ca-hash "$hash_t"
log_has t "enrollment refused: unknown token" || fail "tower did not log the made-up token"
pass "made-up tokens refused"

# 4. a client certificate from another CA: enroll with tower u, then trust
#    tower t's CA and dial it with u's certificate.
"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_u" --token "$(new_token u k8s-worker)" \
	--ca-hash "$(ca_hash u)" --state "$T/foreign" --no-run >"$T/foreign.log" 2>&1 ||
	fail "join to tower u failed"
cp "$T/t/ca.pem" "$T/foreign/ca.pem"
sed -i "s/^tower=.*/tower=127.0.0.1:$AGENT_PORT_t/" "$T/foreign/agent.conf"
run_agent foreign
wait_until "tower t refuses the foreign cert" 30 log_has t "rejected: certificate not issued by this tower's ca" ||
	fail "no rejection logged for a cert from another CA"
pass "client certificate from another CA refused"

# 5. a deleted node's certificate: the agent is cut off at once and refused after.
start_agent doomed t "$(new_token t k8s-worker)"
wait_until "doomed agent enrolled" 30 test -s "$T/doomed/agent.conf" || fail "doomed agent"
doomed=$(node_id_of doomed)
wait_until "doomed connected" 30 node_is t "$doomed" connected || fail "doomed offline"
tower_cli t nodes delete "$doomed" >/dev/null || fail "nodes delete failed"
wait_until "doomed agent exits" 30 bash -c "! kill -0 $AGENT_PID_doomed" || fail "deleted agent still running"
wait "$AGENT_PID_doomed" && fail "deleted agent exited 0"
grep -q "certificate revoked" "$T/doomed.log" || fail "agent did not print why"
[ "$(node_state t "$doomed")" = absent ] || fail "deleted node still listed"
if "$AGENT" run --state "$T/doomed" >"$T/doomed2.log" 2>&1; then fail "revoked agent ran"; fi
log_has t "rejected: node $doomed was deleted" || fail "tower did not log the revoked cert"
pass "deleted node's certificate refused"

# 6. the wrong --ca-hash: the agent refuses to talk to the tower.
before=$(grep -c "enrolled as node" "$T/t.log")
join_expect_fail wronghash "$(new_token t k8s-worker)" "does not match --ca-hash" --ca-hash "$(ca_hash u)"
[ "$(grep -c "enrolled as node" "$T/t.log")" = "$before" ] || fail "tower enrolled a node for a wrong-hash agent"
# ... and a malformed one is refused before dialing.
join_expect_fail badhash "$(new_token t k8s-worker)" "ca-hash must be" --ca-hash "sha256:xyz"
pass "wrong --ca-hash refused by the agent"

# The tower served the others throughout.
node_is t "$good" connected || fail "good agent lost its connection"
kill -0 "$TOWER_PID_t" || fail "tower died"
start_agent late t "$(new_token t k8s-worker)"
wait_until "late agent connected" 30 bash -c "test -s '$T/late/agent.conf'" || fail "late join failed"
wait_until "late agent connected" 30 node_is t "$(node_id_of late)" connected || fail "late agent offline"
pass "tower kept serving: good agent connected, new join works"
