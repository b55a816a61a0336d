#!/usr/bin/env bash
# A task printing 200 MB: it all flows through with bounded memory — the
# agent stays under 8 MiB RSS, the tower under 64 MiB — and the stored log
# stops at the tower's per-task cap.
. "$(dirname "$0")/lib.sh"

# Sanitizers add their own shadow memory: the figures only mean something
# for the normal build, so there the bytes still flow but RSS is not judged.
MB=200
start_tower t
start_agent a t "$(new_token t k8s-worker)"
wait_until "agent enrolled" 30 test -s "$T/a/agent.conf" || fail "join"
id=$(node_id_of a)
wait_until "connected" 30 node_is t "$id" connected || fail "offline"

tower_cli t run "$id" --timeout 10m -o json -- sh -c "head -c $((MB * 1024 * 1024)) /dev/zero | tr '\\0' 'x' | fold -w 100" \
	>"$T/run.json" || fail "run failed"
[ "$(jq -r '.tasks[0].state' "$T/run.json")" = done ] || fail "state: $(cat "$T/run.json")"
log_bytes=$(jq -r '.tasks[0].log_bytes' "$T/run.json")
[ "$log_bytes" -gt $((16 * 1024 * 1024)) ] || fail "stored log is $log_bytes bytes, want the 16 MiB cap (+1: truncated)"
grep -q "log truncated" "$T/t/logs/$(jq -r '.tasks[0].task_id' "$T/run.json").log" || fail "no truncation marker"
# One connection carried it all: no frame was garbled, nobody reconnected.
if grep -q "frame of\|lost the tower" "$T/t.log" "$T/a.log"; then
	fail "the connection broke: $(grep -h "frame of\|lost the tower" "$T/t.log" "$T/a.log")"
fi
agent_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$AGENT_PID_a/status")
tower_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$TOWER_PID_t/status")
echo "peak RSS: agent ${agent_kb} KiB, tower ${tower_kb} KiB"
if [ "${OC_SANITIZED:-0}" != 1 ]; then
	[ "$agent_kb" -lt $((8 * 1024)) ] || fail "agent peak RSS ${agent_kb} KiB >= 8 MiB"
	[ "$tower_kb" -lt $((64 * 1024)) ] || fail "tower peak RSS ${tower_kb} KiB >= 64 MiB"
fi
pass "200 MB of output with bounded memory (agent ${agent_kb} KiB, tower ${tower_kb} KiB peak)"
