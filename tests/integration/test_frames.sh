#!/usr/bin/env bash
# Malformed agent-protocol input closes only the connection that sent it,
# with the reason in the tower's log; an enrolled agent stays connected.
. "$(dirname "$0")/lib.sh"

start_tower t
start_agent good t "$(new_token t k8s-worker)"
wait_until "good agent enrolled" 30 test -s "$T/good/agent.conf" || fail "good agent"
good=$(node_id_of good)
wait_until "good agent connected" 30 node_is t "$good" connected || fail "good agent offline"

# send_tls NAME FILE: TLS to the agent port (no client cert), send FILE's
# bytes, then wait for the tower to hang up (bounded by timeout).
send_tls() {
	timeout $((10 * WAIT_SCALE)) openssl s_client -connect "127.0.0.1:$AGENT_PORT_t" -quiet \
		-no_ign_eof -servername overcloud-tower <"$2" >"$T/$1.out" 2>&1 || true
}

# frame FILE HEXBYTES: writes a 4-byte big-endian length + payload.
frame() {
	local file=$1 hex=$2
	local len=$(( ${#hex} / 2 ))
	printf '%08x%s' "$len" "$hex" | xxd -r -p >"$file"
}
hexstr() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
str() { local h; h=$(hexstr "$1"); printf 'a%x%s' "${#1}" "$h"; }   # fixstr < 32

# length over the 1 MiB cap
printf '\x7f\xff\xff\xff' >"$T/over.bin"
send_tls over "$T/over.bin"
wait_until "over-cap logged" 20 log_has t "over" || fail "over-cap frame not logged"

# truncated: header says 100 bytes, 3 arrive, then the client goes away
printf '\x00\x00\x00\x64\x81\xa1\x74' >"$T/trunc.bin"
send_tls trunc "$T/trunc.bin"

# not a map: an array of one integer
frame "$T/notmap.bin" "9101"
send_tls notmap "$T/notmap.bin"
wait_until "not-a-map logged" 20 log_has t "not a map" || fail "non-map frame not logged"

# unknown type
frame "$T/unknown.bin" "81$(str t)$(str bogus)"
send_tls unknown "$T/unknown.bin"
wait_until "unknown type logged" 20 log_has t 'unknown type' || fail "unknown type not logged"

# wrong field types: enroll with an integer token
frame "$T/wrong.bin" "84$(str t)$(str enroll)$(str token)05$(str csr)$(str x)$(str hostname)$(str h)"
send_tls wrong "$T/wrong.bin"
wait_until "wrong type logged" 20 log_has t 'field "token"' || fail "wrong field type not logged"

# a zero-length frame
printf '\x00\x00\x00\x00' >"$T/empty.bin"
send_tls empty "$T/empty.bin"

# garbage before the TLS handshake
printf 'GET / HTTP/1.0\r\n\r\n' >"$T/plain.bin"
timeout $((10 * WAIT_SCALE)) bash -c "exec 3<>/dev/tcp/127.0.0.1/$AGENT_PORT_t; cat '$T/plain.bin' >&3; cat <&3 >/dev/null" || true
wait_until "handshake garbage logged" 20 log_has t "tls handshake" || fail "pre-handshake garbage not logged"

# 20 connections' worth of random bytes (bounded)
t_start=$(date +%s)
log_base=$(wc -l <"$T/t.log")
for i in $(seq 1 20); do
	head -c $((RANDOM % 4096 + 1)) /dev/urandom >"$T/rand.bin"
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$AGENT_PORT_t; cat '$T/rand.bin' >&3" || true
done
# A peer causes failed handshakes at will: the log gets one line per 10 s
# window, saying how many more there were, not one per connection.
wait_until "the handshakes counted" 20 bash -c "[ \"\$(curl -sS --cacert '$T/t/ca.pem' \
	-H \"Authorization: Bearer \$(cat '$T/t/admin.token')\" https://127.0.0.1:$API_PORT_t/metrics |
	sed -n 's/^overcloud_agent_handshakes_total{result=\"failed\"} //p')\" -ge 21 ]" ||
	fail "the failed handshakes were not counted"
windows=$(( ($(date +%s) - t_start) / 10 + 2 ))
lines=$(tail -n +$((log_base + 1)) "$T/t.log" | grep -c "connection closed" || true)
[ "$lines" -le "$windows" ] ||
	fail "$lines log lines for 21 failed handshakes (at most $windows for the 10 s windows they spanned)"

kill -0 "$TOWER_PID_t" || fail "tower died"
node_is t "$good" connected || fail "good agent was disconnected by others' garbage"
grep -q "disconnected" "$T/t.log" && grep "disconnected" "$T/t.log" | grep -q "$good" &&
	fail "good agent saw a disconnect"
start_agent late t "$(new_token t k8s-worker)"
wait_until "new join after garbage" 30 test -s "$T/late/agent.conf" || fail "tower stopped enrolling"
pass "malformed frames closed only their own connections"
