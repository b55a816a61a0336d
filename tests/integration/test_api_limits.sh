#!/usr/bin/env bash
# Issue 17, items 1, 2 and 4: what one API client can take. Non-reading
# clients that pipeline artifact downloads, non-reading event watchers on a
# chatty run, and slowloris connections must leave the tower's memory under
# a fixed bound, be cut, and leave the API answering and enrollment working;
# a body that is not JSON gets 415; a failed TLS handshake is a warning.
. "$(dirname "$0")/lib.sh"

HC=(python3 "$REPO/tests/integration/hostile_client.py")
# The tower's peak RSS may grow at most this much over its idle RSS while
# 20 non-reading clients pull artifacts and 20 watch a 12 MB run.
BOUND_KIB=$((64 * 1024))

start_tower t
TPID=$TOWER_PID_t
PORT=$API_PORT_t
CA="$T/t/ca.pem"
TOKEN=$(cat "$T/t/admin.token")
URL="https://127.0.0.1:$PORT"
api() { curl -sS --max-time 15 --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$@"; }

start_agent a t "$(new_token t k8s-worker)"
wait_until "agent a enrolled" 30 test -s "$T/a/agent.conf" || fail "agent a did not enroll"
node_a=$(node_id_of a)
wait_until "agent a connected" 30 node_is t "$node_a" connected || fail "agent a offline"

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$TPID/status"; }
base_kib=$(kib VmRSS)
echo "tower idle RSS ${base_kib} KiB; bound +${BOUND_KIB} KiB"

# tower_side_conns SRC: established API connections from SRC.
tower_side_conns() {
	ss -tnH state established "( sport = :$PORT )" dst "$1" | wc -l
}
none_from() { [ "$(tower_side_conns "$1")" -eq 0 ]; }
some_from() { [ "$(tower_side_conns "$1")" -gt 0 ]; }

# While an attack runs: the CLI answers, and a new agent enrolls.
legit_answers() {
	local what=$1 n=$2
	timeout 20 "$TOWER" --state "$T/t" nodes -o json >"$T/legit.json" 2>"$T/legit.err" ||
		fail "$what: the API did not answer a legitimate client: $(cat "$T/legit.err")"
	start_agent "new$n" t "$(new_token t k8s-worker)"
	wait_until "agent new$n enrolled during $what" 30 test -s "$T/new$n/agent.conf" ||
		fail "$what: a new agent could not enroll"
	local id
	id=$(node_id_of "new$n")
	wait_until "agent new$n connected" 30 node_is t "$id" connected ||
		fail "$what: a new agent did not connect"
}

check_bound() {
	local what=$1 peak
	peak=$(kib VmHWM)
	echo "$what: tower peak RSS ${peak} KiB (+$((peak - base_kib)) KiB)"
	# ASan's shadow memory and quarantine of freed blocks are no leak.
	[ "${OC_SANITIZED:-0}" = 1 ] && return 0
	[ $((peak - base_kib)) -le "$BOUND_KIB" ] ||
		fail "$what: tower RSS grew by $((peak - base_kib)) KiB, bound $BOUND_KIB KiB"
}

# --- 0. A client that pipelines and reads gets every answer whole, in order.
"${HC[@]}" reader 127.0.0.1 "$PORT" "$CA" 3 >"$T/reader.out" || fail "reader: $(cat "$T/reader.out")"
want=$(curl -sS --cacert "$CA" "$URL/v1/artifacts/agent/$(uname -m)" | sha256sum | cut -d ' ' -f 1)
jq -e --arg w "$want" '[.answers[0:3][] | .status == 200 and .sha256 == $w] | all' \
	"$T/reader.out" >/dev/null || fail "pipelined artifact answers: $(cat "$T/reader.out")"
jq -e '.answers[3].status == 200' "$T/reader.out" >/dev/null || fail "healthz after the artifacts"
pass "3 pipelined artifact GETs and a healthz on one connection: all whole, in order"

# --- 1a. 20 clients pipeline 10 artifact GETs each and never read.
"${HC[@]}" pipeline 127.0.0.1 "$PORT" "$CA" 127.0.0.2 20 10 "$T/stop-pipe" 150 >"$T/pipe.out" &
PIDS+=($!)
wait_until "pipelining clients connected" 60 grep -q connected "$T/pipe.out" ||
	fail "pipelining clients did not connect"
grep -q '"connected": 20' "$T/pipe.out" || fail "pipelining clients: $(cat "$T/pipe.out")"
legit_answers "artifact pipelining" 1
# A client that does not read is cut once its output has not moved for the
# stall timeout; until then it holds at most the output cap.
wait_until "non-reading artifact clients cut" 90 none_from 127.0.0.2 ||
	fail "non-reading artifact clients were never cut ($(tower_side_conns 127.0.0.2) open)"
check_bound "20 non-reading clients x 10 pipelined artifact GETs"
touch "$T/stop-pipe"
log_has t "client stopped reading" || fail "the cut was not logged"
pass "pipelined artifact GETs from non-reading clients: memory bounded, clients cut, API and enrollment fine"

# --- 1b. 20 watchers that never read, on a run that prints 12 MB.
cat >"$T/chatty.sh" <<EOF
i=0
while [ ! -e "$T/go" ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i + 1)); done
head -c 12000000 /dev/zero | tr '\\0' x
EOF
run=$(api -H "Content-Type: application/json" -X POST "$URL/v1/runs" \
	-d "{\"argv\": [\"sh\", \"$T/chatty.sh\"], \"target\": {\"node\": \"$node_a\"}, \"timeout\": 300}" |
	jq -r .run_id)
[ -n "$run" ] && [ "$run" != null ] || fail "could not start the chatty run"
"${HC[@]}" watch 127.0.0.1 "$PORT" "$CA" 127.0.0.3 20 "/v1/runs/$run/events" "$TOKEN" \
	"$T/stop-watch" 200 >"$T/watch.out" &
PIDS+=($!)
wait_until "watchers attached" 60 grep -q attached "$T/watch.out" || fail "watchers did not attach"
grep -q '"attached": 20' "$T/watch.out" || fail "watchers: $(cat "$T/watch.out")"
# One watcher that reads: it must get every byte, paused or not.
curl -sS -N --max-time 200 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
	"$URL/v1/runs/$run/events" >"$T/live.sse" 2>"$T/live.err" &
PIDS+=($!)
live_pid=$!
touch "$T/go"
run_done() { [ "$(api "$URL/v1/runs/$run" | jq -r '.tasks[0].state')" = done ]; }
wait_until "chatty run done" 120 run_done || fail "the chatty run did not finish"
legit_answers "20 non-reading watchers" 2
wait_until "non-reading watchers cut" 90 none_from 127.0.0.3 ||
	fail "non-reading watchers were never cut ($(tower_side_conns 127.0.0.3) open)"
check_bound "20 non-reading watchers of a 12 MB run"
touch "$T/stop-watch"
wait "$live_pid" || true
sse_bytes() { grep '^data: ' "$1" | cut -c7- | jq -j 'select(.data != null) | .data' | wc -c; }
got=$(sse_bytes "$T/live.sse")
[ "$got" -eq 12000000 ] || fail "the reading watcher got $got of 12000000 bytes"
grep -q '^event: end' "$T/live.sse" || fail "the reading watcher got no end event"
# A late subscriber's replay of 12 MB goes out in pieces, none lost or doubled.
curl -sS -N --max-time 120 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
	"$URL/v1/runs/$run/events" >"$T/late.sse" || fail "late subscriber: curl failed"
got=$(sse_bytes "$T/late.sse")
[ "$got" -eq 12000000 ] || fail "the late subscriber got $got of 12000000 bytes"
pass "non-reading watchers: memory bounded, watchers cut; reading watchers get all 12 MB, live and replayed"

# --- 2. slowloris: one header byte a second from 40 connections of one
# address. The per-address cap admits 32; each is closed at the request
# deadline (from its first byte, not extended per byte).
"${HC[@]}" slowloris 127.0.0.1 "$PORT" "$CA" 127.0.0.4 40 1 90 >"$T/slow.out" &
PIDS+=($!)
slow_pid=$!
wait_until "slowloris connections made" 30 some_from 127.0.0.4 ||
	fail "slowloris connections not made"
legit_answers "slowloris" 3
wait "$slow_pid" || fail "slowloris client failed"
cat "$T/slow.out"
jq -e '.accepted == 32 and .refused == 8' "$T/slow.out" >/dev/null ||
	fail "per-address cap: $(cat "$T/slow.out")"
jq -e '.closed == 32 and .still_open == 0' "$T/slow.out" >/dev/null ||
	fail "slowloris connections were kept open: $(cat "$T/slow.out")"
log_has t "request not complete within" || fail "the request deadline was not logged"
log_has t "from this address at their cap" || fail "the per-address cap was not logged"
lines=$(grep -c "request not complete within\|at their cap" "$T/t.log")
[ "$lines" -le 6 ] || fail "$lines log lines for 40 slowloris connections: not rate-limited"
pass "slowloris: per-address cap 32 held, all closed at the request deadline, $lines log lines"

# --- 4. Content-Type and TLS failures.
code=$(api -o "$T/body" -w '%{http_code}' -X POST "$URL/v1/tokens" -d '{"role":"w"}')
[ "$code" = 415 ] || fail "form-encoded body: status $code, want 415"
jq -e '.error | test("JSON")' "$T/body" >/dev/null || fail "415 body is no JSON error: $(cat "$T/body")"
code=$(api -o "$T/body" -w '%{http_code}' -X POST -H "Content-Type: text/plain" "$URL/v1/tokens" \
	-d '{"role":"w"}')
[ "$code" = 415 ] || fail "text/plain body: status $code, want 415"
code=$(api -o "$T/body" -w '%{http_code}' -X POST -H "Content-Type: application/json; charset=utf-8" \
	"$URL/v1/tokens" -d '{"role":"w"}')
[ "$code" = 201 ] || fail "application/json with charset: status $code, want 201"
# the seed's call, as it sends it
code=$(api -o "$T/body" -w '%{http_code}' -X POST -H "Content-Type: application/json" \
	-d '{"provider": "nosuch", "number": "3", "size": "m1.small"}' "$URL/overclouds")
[ "$code" != 415 ] || fail "the seed's POST /overclouds got 415"
pass "a body that is not application/json gets 415 with a JSON error; JSON bodies pass"

timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -cipher AES128-SHA </dev/null \
	>/dev/null 2>&1 || true
wait_until "tls failure logged as a warning" 20 grep -q "warn: api 127.0.0.1:[0-9]*: tls handshake" "$T/t.log" ||
	fail "a failed TLS handshake on the API port was not logged at warning: $(grep 'tls' "$T/t.log" | tail -3)"
pass "failed TLS handshakes on the API port are warnings"
