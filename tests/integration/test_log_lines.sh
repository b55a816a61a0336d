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
