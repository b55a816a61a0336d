#!/usr/bin/env bash
# Role steps on an agent: the bundle travels by hash, inputs arrive as
# INPUT_*, secret values are masked in the stored log and absent from the
# API; bad roles and bad input fail with a clear reason.
. "$(dirname "$0")/lib.sh"

ROLES="$(cd "$(dirname "$0")" && pwd)/roles"
start_tower t --roles "$ROLES" --patterns "$(dirname "$ROLES")/patterns"
log_has t "loaded 4 role(s)" || fail "roles not loaded: $(grep -i role "$T/t.log")"
start_agent a t "$(new_token t k8s-worker)"
wait_until "agent enrolled" 30 test -s "$T/a/agent.conf" || fail "join"
id=$(node_id_of a)
wait_until "connected" 30 node_is t "$id" connected || fail "offline"
API="https://127.0.0.1:$API_PORT_t"
api() { curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" -H "Content-Type: application/json" "$@"; }
# role_run ROLE INPUTS_JSON: starts the step, waits for the result, prints the run JSON.
role_run() {
	local run
	run=$(api -X POST "$API/v1/runs" -d "{\"target\": {\"node\": \"$id\"}, \"role_step\":
		{\"role\": \"$1\", \"step\": \"apply\", \"inputs\": $2}}" | jq -r .run_id)
	[ -n "$run" ] && [ "$run" != null ] || return 1
	wait_until "run $run finished" 60 bash -c "curl -sS --cacert '$T/t/ca.pem' -H 'Authorization: Bearer $(cat "$T/t/admin.token")' '$API/v1/runs/$run' | jq -e '.tasks[0].state | test(\"done|failed|timeout\")'" || return 1
	api "$API/v1/runs/$run"
}

SECRET=s3cr3t-t0ken-value
out=$(role_run echo-secret "{\"token\": \"$SECRET\"}") || fail "echo-secret did not finish"
task=$(jq -c '.tasks[0]' <<<"$out")
[ "$(jq -r .state <<<"$task")" = done ] || fail "echo-secret: $task"
[ "$(jq -r .outputs.plain <<<"$task")" = visible ] || fail "plain output: $task"
[ "$(jq -r .outputs.join_command <<<"$task")" = "***" ] || fail "secret output shown by the API: $task"
tid=$(jq -r .task_id <<<"$task")
log=$(api "$API/v1/tasks/$tid/log")
grep -q "greeting: hello" <<<"$log" || fail "default input not applied: $log"
grep -q "the token is \*\*\*" <<<"$log" || fail "secret input not masked: $log"
grep -q "made: \*\*\*" <<<"$log" || fail "secret output not masked: $log"
logs=$(tower_cli t logs "$(jq -r .run_id <<<"$out")")
grep -q "made: \*\*\*" <<<"$logs" || fail "tower logs shows: $logs"
# nowhere in the API, the stored log, or the tower's own log
for where in "$(api "$API/v1/runs/$(jq -r .run_id <<<"$out")")" "$log" "$logs" "$(cat "$T/t.log")" \
	"$(cat "$T/t/logs/$tid.log")"; do
	if grep -q -e "$SECRET" -e "abcdef.0123456789abcdef" <<<"$where"; then fail "a secret leaked"; fi
done
bundle=$(ls "$T/a/bundles")
[ "$(wc -l <<<"$bundle")" = 1 ] && [[ "$bundle" =~ ^[0-9a-f]{64}$ ]] || fail "bundle cache: $bundle"
pass "role step: inputs, outputs, secrets masked in the log and absent from the API"

# the same role again comes from the agent's cache
role_run echo-secret "{\"token\": \"x\"}" >/dev/null || fail "second run"
[ "$(ls "$T/a/bundles" | wc -l)" = 1 ] || fail "bundle cached twice"
pass "bundle cached by hash"

out=$(role_run garbage-out '{}') || fail "garbage-out did not finish"
[ "$(jq -r '.tasks[0].state' <<<"$out")" = failed ] || fail "garbage output accepted: $out"
jq -r '.tasks[0].reason' <<<"$out" | grep -q "line 2" || fail "reason: $(jq -r '.tasks[0].reason' <<<"$out")"
pass "output file with a garbage line fails the task with the line number"

expect400() {
	local body=$1 want=$2
	code=$(api -o "$T/body" -w '%{http_code}' -X POST "$API/v1/runs" -d "$body")
	[ "$code" = 400 ] && grep -q "$want" "$T/body" || fail "$body: $code $(cat "$T/body")"
}
expect400 "{\"target\": {\"node\": \"$id\"}, \"role_step\": {\"role\": \"echo-secret\", \"step\": \"apply\", \"inputs\": {\"token\": \"x\", \"nope\": \"y\"}}}" 'unknown input'
expect400 "{\"target\": {\"node\": \"$id\"}, \"role_step\": {\"role\": \"echo-secret\", \"step\": \"apply\"}}" 'missing input'
expect400 "{\"target\": {\"node\": \"$id\"}, \"role_step\": {\"role\": \"nope\", \"step\": \"apply\"}}" 'unknown role'
expect400 "{\"target\": {\"node\": \"$id\"}, \"role_step\": {\"role\": \"echo-secret\", \"step\": \"zap\"}}" 'no step'
pass "unknown input, missing input, unknown role or step refused"

# a missing or non-executable command fails the task; the agent goes on
set +e
tower_cli t run "$id" -- /nonexistent/script 2>"$T/err1"; rc1=$?
printf '#!/bin/sh\necho hi\n' >"$T/notexec"; chmod 644 "$T/notexec"
tower_cli t run "$id" -- "$T/notexec" 2>"$T/err2"; rc2=$?
set -e
[ "$rc1" != 0 ] && grep -q "No such file" "$T/err1" || fail "missing script: $rc1 $(cat "$T/err1")"
[ "$rc2" != 0 ] && grep -q "Permission denied" "$T/err2" || fail "non-executable: $rc2 $(cat "$T/err2")"
tower_cli t run "$id" -- true || fail "agent stopped serving"
pass "missing / non-executable scripts fail clearly; the agent keeps serving"

# a role file the tower cannot accept stops it at start with file and line
mkdir -p "$T/badroles/typo"
printf 'name: typo\ntimout: 5m\nsteps:\n  apply:\n    script: apply\n' >"$T/badroles/typo/role.yaml"
printf '#!/bin/sh\n' >"$T/badroles/typo/apply"; chmod +x "$T/badroles/typo/apply"
if "$TOWER" serve --state "$T/bad" --api 127.0.0.1:0 --agents 127.0.0.1:0 --roles "$T/badroles" >"$T/bad.log" 2>&1; then
	fail "tower started with a bad role"
fi
grep -q "role.yaml:2" "$T/bad.log" || fail "no file:line for the bad role: $(cat "$T/bad.log")"
pass "a bad role.yaml is refused at start with file and line"
