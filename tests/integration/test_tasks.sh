#!/usr/bin/env bash
# Ad-hoc tasks end to end: `tower run` streams each node's output in order,
# reports exit codes, progress and outputs; timeouts kill whole process trees.
. "$(dirname "$0")/lib.sh"

start_tower t
start_agent a t "$(new_token t k8s-worker)"
wait_until "agent enrolled" 30 test -s "$T/a/agent.conf" || fail "join"
id=$(node_id_of a)
wait_until "connected" 30 node_is t "$id" connected || fail "offline"
name=$(hostname)

# stdout and stderr complete and in order
tower_cli t run "$id" -- sh -c 'for i in $(seq 1 3000); do echo "out $i"; done; echo "err 1" >&2; echo "out last"' \
	>"$T/run1.out" 2>"$T/run1.err" || fail "run failed: $(cat "$T/run1.err")"
grep -c "^$name: out [0-9]*$" "$T/run1.out" | grep -qx 3000 || fail "lines missing: $(wc -l <"$T/run1.out")"
grep "^$name: out [0-9]*$" "$T/run1.out" | sed 's/.*out //' | sort -nc || fail "stdout out of order"
grep -q "^$name: err 1$" "$T/run1.out" || fail "stderr missing"
# Two pipes: order holds within each stream, not across them.
[ "$(grep -v ": err" "$T/run1.out" | tail -n 1)" = "$name: out last" ] || fail "last stdout line"
pass "stdout/stderr arrive complete and in order"

# A stdout line cut between chunks, with a stderr line in between: each
# stream's lines stay whole in the CLI's output.
tower_cli t run "$id" -- sh -c 'printf "abc"; sleep 0.3; echo "err 2" >&2; sleep 0.3; echo "def"' \
	>"$T/run2.out" 2>"$T/run2.err" || fail "run failed: $(cat "$T/run2.err")"
grep -qx "$name: abcdef" "$T/run2.out" || fail "a cut stdout line was not joined: $(cat "$T/run2.out")"
grep -qx "$name: err 2" "$T/run2.out" || fail "stderr line glued to stdout: $(cat "$T/run2.out")"
pass "a line cut between chunks is printed whole, the other stream apart"

# exit codes 0, 1, 137
tower_cli t run "$id" -- true || fail "true failed"
set +e
tower_cli t run "$id" -- sh -c 'exit 1' >/dev/null 2>&1; rc1=$?
tower_cli t run "$id" -- sh -c 'kill -9 $$' >/dev/null 2>&1; rc137=$?
set -e
[ "$rc1" = 1 ] || fail "exit 1 reported as $rc1"
[ "$rc137" = 137 ] || fail "kill -9 reported as $rc137"
pass "exit codes 0/1/137 reported"

# A failure reason quotes what failed; the tower keeps it one line, so a
# command named with an escape sequence does not reach the terminal as one.
set +e
tower_cli t run "$id" -- $'no-such-\033]0;owned\007-cmd' >/dev/null 2>"$T/esc.err"
set -e
grep -q 'no-such-?]0;owned?-cmd' "$T/esc.err" || fail "reason: $(cat -v "$T/esc.err")"
! grep -q $'\033' "$T/esc.err" || fail "an escape reached the terminal: $(cat -v "$T/esc.err")"
pass "a failure reason's control characters show as '?'"

# progress and outputs, through the API
out=$(tower_cli t run "$id" -o json -- sh -c '
	echo "50 half way" >> "$OVERCLOUD_PROGRESS"
	echo "greeting=hello world" >> "$OVERCLOUD_OUTPUT"
	printf "%s\n" "multi<<EOF" "line one" "line two" "EOF" >> "$OVERCLOUD_OUTPUT"
	printf "100 fini\033[2Jshed\n" >> "$OVERCLOUD_PROGRESS"')
task=$(jq -c '.tasks[0]' <<<"$out")
[ "$(jq -r .state <<<"$task")" = done ] || fail "state: $task"
[ "$(jq -r .outputs.greeting <<<"$task")" = "hello world" ] || fail "outputs: $task"
[ "$(jq -r .outputs.multi <<<"$task")" = "$(printf 'line one\nline two')" ] || fail "heredoc output: $task"
[ "$(jq -r .progress <<<"$task")" = 100 ] || fail "progress: $task"
# a progress message goes to progress lines on a terminal: one line of text
[ "$(jq -r .progress_message <<<"$task")" = "fini?[2Jshed" ] || fail "progress message: $task"
pass "progress and outputs (with a heredoc) arrive"

# the stored log, through `tower logs`
run_id=$(jq -r .run_id <<<"$out")
tower_cli t run "$id" -o json -- sh -c 'echo stored-line' >"$T/run2.json"
tower_cli t logs "$(jq -r .run_id "$T/run2.json")" | grep -qx "$name: stored-line" || fail "tower logs"
tower_cli t logs "$(jq -r '.tasks[0].task_id' "$T/run2.json")" | grep -qx "stored-line" || fail "tower logs TASK"
pass "tower logs shows the stored output"

# timeout: SIGTERM to the group, then SIGKILL; grandchildren die too
mkdir -p "$T/pids"
set +e
tower_cli t run "$id" --timeout 2s -- sh -c "
	trap '' TERM
	sleep 1000 & echo \$! > $T/pids/child
	(trap '' TERM; sleep 1000 & echo \$! > $T/pids/grandchild; wait) &
	echo started; wait" >"$T/to.out" 2>"$T/to.err"
rc=$?
set -e
[ "$rc" -ge 128 ] || fail "timeout exit status $rc"
grep -q "timeout" "$T/to.err" || fail "no timeout reason: $(cat "$T/to.err")"
for f in child grandchild; do
	pid=$(cat "$T/pids/$f")
	wait_until "$f $pid gone" 10 bash -c "! kill -0 $pid 2>/dev/null" || fail "$f $pid survived the timeout"
done
pass "timeout killed the whole process group (exit $rc)"

# bad input to the run API
code=$(curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" \
	-H "Content-Type: application/json" -o "$T/body" -w '%{http_code}' -X POST "https://127.0.0.1:$API_PORT_t/v1/runs" \
	-d '{"argv": [], "target": {"all": true}}')
[ "$code" = 400 ] || fail "empty argv: $code"
if tower_cli t run nosuchnode -- true 2>"$T/err"; then fail "run on an unknown node"; fi
grep -q "not connected or not known" "$T/err" || fail "unknown node message: $(cat "$T/err")"
pass "bad runs refused with clear errors"
