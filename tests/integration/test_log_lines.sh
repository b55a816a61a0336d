#!/usr/bin/env bash
# `tower logs` keeps each stream's lines whole: a task writing stdout and
# stderr lines in fragments, interleaved, reads back as whole lines, and an
# unfinished last line is kept too.
. "$(dirname "$0")/lib.sh"

start_tower t
start_agent a t "$(new_token t k8s-worker)"
wait_until "agent enrolled" 30 test -s "$T/a/agent.conf" || fail "join"
id=$(node_id_of a)
wait_until "connected" 30 node_is t "$id" connected || fail "offline"

# Each fragment waits until the tower stored the one before, so every
# fragment is a chunk of its own (the agent reads a pipe as it fills).
cat >"$T/frag.sh" <<'SH'
set -eu
log=$1/$OVERCLOUD_TASK_ID
step() { # waits until the task's stored log (plus held parts) grew
	n=0
	while [ "$(cat "$log".* 2>/dev/null | wc -c)" -lt "$1" ]; do
		n=$((n + 1)); [ "$n" -lt 300 ] || exit 9; sleep 0.05
	done
}
printf 'alpha-'; step 6
printf 'bravo-' >&2; step 12
printf 'one\n'; step 16
printf 'two\n' >&2; step 20
printf 'charlie-' >&2; step 28
printf 'delta'; step 33
printf 'three\n' >&2; step 39
printf '%s' -tail
SH
tower_cli t run "$id" --timeout 1m -o json -- sh "$T/frag.sh" "$T/t/logs" >"$T/run.json" || true
[ "$(jq -r ".tasks[0].state" "$T/run.json")" = done ] || fail "state: $(jq -c ".tasks[0].state" "$T/run.json"); log: $(cat "$T"/t/logs/*)"
tower_cli t logs "$(jq -r .run_id "$T/run.json")" >"$T/logs.out" || fail "tower logs"
cat "$T/logs.out"
for line in alpha-one bravo-two charlie-three delta-tail; do
	grep -qx ".*: $line" "$T/logs.out" || fail "line \"$line\" is not whole: $(cat "$T/logs.out")"
done
[ "$(wc -l <"$T/logs.out")" = 4 ] || fail "want 4 lines: $(cat "$T/logs.out")"
ls "$T"/t/logs/*.part 2>/dev/null && fail "part files left after the task ended"
pass "stdout and stderr written in fragments: every line whole in tower logs"

# A watcher that comes while a line is still unfinished (it waits in a part
# file, not yet in the log) gets it in the replay: a watcher that missed it
# live (paused over its output cap, or late) would otherwise never get it.
cat >"$T/open.sh" <<'SH'
printf 'unfinished-line'
n=0
while [ ! -e "$1" ] && [ "$n" -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
SH
api() { curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" "$@"; }
URL="https://127.0.0.1:$API_PORT_t"
run=$(api -H "Content-Type: application/json" -X POST "$URL/v1/runs" \
	-d "{\"argv\": [\"sh\", \"$T/open.sh\", \"$T/open.go\"], \"target\": {\"node\": \"$id\"}, \"timeout\": 120}" |
	jq -r .run_id)
[ -n "$run" ] && [ "$run" != null ] || fail "could not start the open run"
wait_until "the unfinished line held" 30 bash -c "cat '$T'/t/logs/*.stdout.part 2>/dev/null | grep -q unfinished-line" ||
	fail "no part file with the unfinished line: $(ls "$T/t/logs")"
api -N --max-time 3 "$URL/v1/runs/$run/events" >"$T/late.sse" 2>/dev/null || true
grep '^data: ' "$T/late.sse" | cut -c7- | jq -j 'select(.data != null) | .data' | grep -q unfinished-line ||
	fail "a watcher that came later did not get the unfinished line: $(cat "$T/late.sse")"
touch "$T/open.go"
wait_until "the open run ended" 60 bash -c "[ \"\$(curl -sS --cacert '$T/t/ca.pem' -H 'Authorization: Bearer $(cat "$T/t/admin.token")' '$URL/v1/runs/$run' | jq -r '.tasks[0].state')\" = done ]" ||
	fail "the open run did not end"
pass "a watcher that comes while a line is unfinished gets it in the replay"
