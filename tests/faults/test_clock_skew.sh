#!/usr/bin/env bash
# Clock skew: an agent whose wall clock jumps an hour ahead (a build of the
# agent with a movable clock, tests/faults/clock_shim.c) renews once on the
# tower's clock and takes the new certificate; a tower restart does not
# lock it out; setting the clock back does no harm; renewals an agent never
# took do not revoke the certificate it holds; and a join the clock spoils
# says so, with the skew.
. "$(dirname "$0")/lib.sh"

SKEWED=${OC_SKEWED_AGENT:-$OC_BIN/../tests/overcloud-agent-skewed}
[ -x "$SKEWED" ] || fail "no $SKEWED: build the tests first"
CLOCK="$T/clock"
echo 0 >"$CLOCK"

skewed() { OC_TEST_CLOCK_FILE="$CLOCK" "$SKEWED" "$@"; }
skewed_join() {
	skewed join --tower "127.0.0.1:$AGENT_PORT_t" --token "$(new_token t k8s-worker)" \
		--ca-hash "$(ca_hash t)" --state "$T/$1" --no-run >>"$T/$1.log" 2>&1
}
skewed_run() {
	# A simple command in the background, so $! is the agent itself.
	OC_TEST_CLOCK_FILE="$CLOCK" "$SKEWED" run --state "$T/$1" >>"$T/$1.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	eval "AGENT_PID_$1=$pid"
}
renewals() { grep -c "agent $1: certificate renewed" "$T/t.log" || true; }
test_renewals_at_least() { [ "$(renewals "$1")" -ge "$2" ]; }
round_trips() {
	local i
	for i in 1 2 3; do
		tower_cli t run "$1" --timeout 30s -- true >/dev/null || fail "run on $1"
	done
}

# 60 s certificates (backdated 5 min): due for renewal on every connection.
start_tower t --cert-ttl 60s
skewed_join a || fail "join with a good clock: $(cat "$T/a.log")"
id=$(node_id_of a)
cp "$T/a/agent.crt" "$T/held.crt"

# 1. The clock jumps an hour ahead: one renewal, taken.
echo 3600 >"$CLOCK"
skewed_run a
wait_until "connected" 30 node_is t "$id" connected || fail "not connected"
wait_until "the agent took a renewed certificate" 30 grep -q "certificate renewed, valid until" "$T/a.log" ||
	fail "renewal not taken an hour ahead: $(grep -i "renew\|not ours" "$T/a.log" | tail -3)"
round_trips "$id"
grep -q "not ours" "$T/a.log" && fail "the agent refused a renewed certificate: $(grep "not ours" "$T/a.log" | head -1)"
[ "$(renewals "$id")" = 1 ] || fail "$(renewals "$id") renewals on one connection an hour ahead, want 1"
pass "clock an hour ahead: one renewal, judged on the tower's clock and taken"

# 2. A tower restart: the agent comes back with the renewed certificate.
kill9_tower
restart_tower_same_ports t --cert-ttl 60s
wait_until "reconnected after the tower restart" 30 node_is t "$id" connected ||
	fail "not back after a tower restart: $(grep -i "supersed\|revoked\|rejected" "$T/t.log" "$T/a.log" | tail -3)"
kill -0 "$AGENT_PID_a" 2>/dev/null || fail "the agent exited"
log_has t "superseded" && fail "a certificate was superseded"
round_trips "$id"
pass "tower restart with the clock an hour ahead: back, nothing superseded"

# 3. The clock set back: still fine, on a new connection too.
echo 0 >"$CLOCK"
stop_pid "$AGENT_PID_a"
skewed_run a
wait_until "reconnected with the clock set back" 30 node_is t "$id" connected || fail "clock set back: not back"
round_trips "$id"
pass "clock set back: connected"

# 4. Renewals the agent did not take leave the certificate it holds good.
#    Its agent.crt made immutable, the agent cannot save any renewed
#    certificate and asks again on every heartbeat; the tower renews each
#    time, yet the certificate the agent holds must still get it in.
skewed_join b || fail "join b"
idb=$(node_id_of b)
chattr +i "$T/b/agent.crt" || fail "chattr"
on_exit "chattr -i '$T/b/agent.crt' 2>/dev/null"
skewed_run b
wait_until "three renewals the agent cannot take" 60 test_renewals_at_least "$idb" 3 ||
	fail "only $(renewals "$idb") renewal(s)"
stop_pid "$AGENT_PID_b"
chattr -i "$T/b/agent.crt"
skewed_run b
wait_until "back with the certificate it held" 30 node_is t "$idb" connected ||
	fail "the held certificate was revoked by renewals the agent never took: $(grep -h "superseded\|revoked" "$T/t.log" "$T/b.log" | tail -2)"
pass "$(renewals "$idb") renewals the agent never took: the certificate it holds still connects"

# 5. Joins the clock spoils say so.
echo -900 >"$CLOCK"
if skewed_join behind; then fail "a join 15 min behind succeeded"; fi
grep -q "certificate not yet valid: the node's clock is at least [0-9]* s behind the tower" "$T/behind.log" ||
	fail "join 15 min behind: $(tail -2 "$T/behind.log")"
echo 3600 >"$CLOCK"
if skewed_join ahead; then fail "a join an hour ahead with 60 s certificates succeeded"; fi
grep -q "certificate expired: the node's clock is at least [0-9]* s ahead of the tower" "$T/ahead.log" ||
	fail "join an hour ahead: $(tail -2 "$T/ahead.log")"
pass "joins refused because of the clock say so, with the skew"
