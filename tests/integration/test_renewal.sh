#!/usr/bin/env bash
# Node certificates are short-lived and renewed by the agent; a renewed-away
# certificate is refused once it is two renewals old.
. "$(dirname "$0")/lib.sh"

# 60 s certificates: past two thirds of their life (they are backdated 5 min
# for clock skew) at once, so the agent renews on every connection.
start_tower t --cert-ttl 60s
"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_t" --token "$(new_token t k8s-worker)" \
	--ca "$T/t/ca.pem" --state "$T/a" --no-run >>"$T/a.log" 2>&1 || fail "join"
id=$(node_id_of a)
cp "$T/a/agent.crt" "$T/first.crt"
run_agent a
wait_until "first renewal" 30 log_has t "agent $id: certificate renewed" || fail "no renewal"
wait_until "agent saved the renewed cert" 30 bash -c "! cmp -s '$T/a/agent.crt' '$T/first.crt'" ||
	fail "agent.crt unchanged"
openssl verify -CAfile "$T/t/ca.pem" "$T/a/agent.crt" >/dev/null || fail "renewed cert does not chain"
openssl x509 -in "$T/a/agent.crt" -noout -subject | grep -q "$id" || fail "renewed cert names another node"
[ "$(stat -c %a "$T/a/agent.crt")" = 600 ] || fail "renewed cert mode"
pass "agent renewed its certificate"

# Reconnect with the renewed certificate; it renews again.
stop_pid "$AGENT_PID_a"
run_agent a
wait_until "reconnected" 30 node_is t "$id" connected || fail "renewed cert not accepted"
wait_until "second renewal" 30 test "$(grep -c "agent $id: certificate renewed" "$T/t.log")" -ge 2 ||
	fail "no second renewal"
pass "renewed certificate accepted, renewed again"

# The first certificate is now two renewals old: refused.
stop_pid "$AGENT_PID_a"
mkdir -p "$T/old"
cp "$T/a/agent.key" "$T/a/ca.pem" "$T/a/agent.conf" "$T/old/"
cp "$T/first.crt" "$T/old/agent.crt"
chmod 600 "$T/old/"*
if "$AGENT" run --state "$T/old" >"$T/old.log" 2>&1; then fail "superseded cert ran"; fi
log_has t "certificate .* superseded" || fail "tower did not log the superseded cert"
grep -q "revoked" "$T/old.log" || fail "agent did not say why: $(cat "$T/old.log")"
pass "certificate two renewals old refused"
