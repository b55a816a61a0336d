#!/usr/bin/env bash
# Issue 17, item 3: at the fd limit the tower's listeners back off instead of
# retrying accept in a busy loop (one log line per interval, little CPU),
# close waiting connections cleanly from a reserve fd, and serve the API and
# enroll agents again as soon as fds come back.
. "$(dirname "$0")/lib.sh"

HC=(python3 "$REPO/tests/integration/hostile_client.py")
start_tower t
TPID=$TOWER_PID_t
CA="$T/t/ca.pem"
URL="https://127.0.0.1:$API_PORT_t"
healthz() { curl -sS --max-time 5 --cacert "$CA" "$URL/healthz" | grep -q ok; }
start_agent a t "$(new_token t k8s-worker)"
wait_until "agent a enrolled" 30 test -s "$T/a/agent.conf" || fail "agent a did not enroll"
wait_until "agent a connected" 30 node_is t "$(node_id_of a)" connected || fail "agent a offline"

# Twenty fds above what the tower has open now.
open_fds=$(find "/proc/$TPID/fd" -mindepth 1 | wc -l)
limit=$((open_fds + 20))
prlimit --pid "$TPID" --nofile="$limit:$limit" || fail "prlimit"
echo "tower has $open_fds fds open; limit set to $limit"

# 80 silent connections to the agent port: 20 take the last fds, the rest
# wait in the listen queue while accept fails with EMFILE.
"${HC[@]}" hold 127.0.0.1 "$AGENT_PORT_t" 127.0.0.5 80 "$T/stop" 60 >"$T/hold.out" &
PIDS+=($!)
wait_until "silent connections made" 30 grep -q connected "$T/hold.out" || fail "no connections"
at_limit() { [ "$(find "/proc/$TPID/fd" -mindepth 1 | wc -l)" -ge "$limit" ]; }
wait_until "tower at its fd limit" 30 at_limit || fail "the tower never reached its fd limit"
wait_until "accept failure logged" 30 grep -q "Too many open files" "$T/t.log" ||
	fail "no accept failure in the log"

# A measuring window of 3 s at the limit: log lines written and CPU used.
ticks() { awk '{print $14 + $15}' "/proc/$TPID/stat"; }
hz=$(getconf CLK_TCK)
lines0=$(wc -l <"$T/t.log")
cpu0=$(ticks)
ms0=$(date +%s%3N)
sleep 3
lines=$(( $(wc -l <"$T/t.log") - lines0 ))
cpu_ms=$(( ($(ticks) - cpu0) * 1000 / hz ))
window_ms=$(( $(date +%s%3N) - ms0 ))
echo "at the fd limit for $window_ms ms: $lines log lines, $cpu_ms ms of tower CPU"
[ "$lines" -le 10 ] || fail "$lines log lines in $window_ms ms at the fd limit: accept is spinning"
[ "$cpu_ms" -le $((window_ms / 10)) ] ||
	fail "$cpu_ms ms of CPU in $window_ms ms at the fd limit: accept is spinning"
grep -q "agent listener: cannot accept: Too many open files; pausing accepts" "$T/t.log" ||
	fail "the back-off was not logged"
pass "at the fd limit: $lines log lines and $cpu_ms ms CPU in $window_ms ms"

# A client of the API meanwhile is closed at once from the reserve fd, not
# left waiting in the listen queue until it gives up.
code=0
curl -sS --max-time 10 --cacert "$CA" "$URL/healthz" >/dev/null 2>"$T/curl.err" || code=$?
echo "an API client at the fd limit: curl exit $code: $(cat "$T/curl.err")"
at_limit || fail "fds came back before the API client was tried"
[ "$code" -ne 0 ] && [ "$code" -ne 28 ] ||
	fail "an API client at the fd limit was not closed at once (curl exit $code)"
pass "an API client at the fd limit is accepted and closed at once"

# The fds come back: the API answers and a new agent enrolls.
touch "$T/stop"
wait_until "API answers again" 30 healthz || fail "the API did not recover"
start_agent b t "$(new_token t k8s-worker)"
wait_until "agent b enrolled" 30 test -s "$T/b/agent.conf" || fail "agent b did not enroll after"
wait_until "agent b connected" 30 node_is t "$(node_id_of b)" connected || fail "agent b offline"
pass "fds back: the API answers and a new agent enrolls"

# The cap on API connections in all: a quarter of the fd limit (here
# $limit / 4), whatever the addresses. 2 x 10 silent connections from two
# addresses: the ones over the cap are closed at once.
cap=$((limit / 4))
"${HC[@]}" hold 127.0.0.1 "$API_PORT_t" 127.0.0.7 10 "$T/stop2" 30 >"$T/hold7.out" &
PIDS+=($!)
"${HC[@]}" hold 127.0.0.1 "$API_PORT_t" 127.0.0.8 10 "$T/stop2" 30 >"$T/hold8.out" &
PIDS+=($!)
wait_until "silent API connections made" 30 grep -q connected "$T/hold7.out" "$T/hold8.out" ||
	fail "no silent API connections"
wait_until "total cap logged" 30 log_has t "api connections at their cap" || fail "total cap not logged"
api_conns() { ss -tnH state established "( sport = :$API_PORT_t )" | grep -c "127.0.0.[78]:" || true; }
# (the listen queue may still hold some the tower has not accepted yet)
within_cap() { [ "$(api_conns)" -le "$cap" ]; }
wait_until "API connections within the cap" 10 within_cap ||
	fail "$(api_conns) API connections open, cap $cap"
echo "API connections held open: $(api_conns) of 20, cap $cap"
touch "$T/stop2"
pass "API connections in all held at $cap (a quarter of the fd limit $limit)"
