#!/usr/bin/env bash
# `make bench`: measures what the goals in the issues name and prints one
# table, each figure beside its goal. Loopback only; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
T=$(mktemp -d /tmp/oc-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
# killed or interrupted: exit, so that the EXIT trap stops what was started
trap 'exit 143' TERM
trap 'exit 130' INT

ROWS=()
row() { ROWS+=("$(printf '%-50s %14s   %-10s %s' "$1" "$2" "$3" "$4")"); }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "met" : "NOT MET" }'; }

# --- agent binary sizes (stripped, as `make agents` ships them) ---
for arch in x86_64 aarch64 armv7; do
	f=build/agents/overcloud-agent-$arch
	[ -f "$f" ] || { echo "bench: $f missing (make agents)" >&2; exit 1; }
	size=$(stat -c %s "$f")
	mib=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')
	row "agent binary with metrics, stripped, $arch (MiB)" "$mib" "<= 1.5" "$(verdict "$mib" 1.5) ($size bytes)"
done

# --- agent idle RSS after enrollment ---
"$BIN/tower" serve --state "$T/tower" --api 127.0.0.1:0 --agents 127.0.0.1:0 \
	--advertise 127.0.0.1 --heartbeat 1s >"$T/tower.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$T/tower/endpoint.json" ] && break; sleep 0.1; done
join=$("$BIN/tower" --state "$T/tower" token create --role bench -o json | jq -r .join)
# shellcheck disable=SC2086
"$BIN/overcloud-agent" ${join#overcloud-agent } --state "$T/agent" >"$T/agent.log" 2>&1 &
apid=$!
PIDS+=("$apid")
for _ in $(seq 1 100); do grep -q "connected to tower" "$T/agent.log" && break; sleep 0.1; done
grep -q "connected to tower" "$T/agent.log" || { cat "$T/agent.log"; exit 1; }
API="https://127.0.0.1:$(jq -r .api_port "$T/tower/endpoint.json")"
api() { curl -sS --cacert "$T/tower/ca.pem" -H "Authorization: Bearer $(cat "$T/tower/admin.token")" -H "Content-Type: application/json" "$@"; }
# Every heartbeat (1 s here) reads the node's figures: the RSS is taken once
# the tower has them and a few more heartbeats have gone by.
for _ in $(seq 1 100); do
	[ "$(api "$API/v1/nodes" | jq '.[0].metrics != null')" = true ] && break
	sleep 0.1
done
figures=$(api "$API/v1/nodes" | jq -r 'if .[0].metrics then "the tower has its figures" else "NO figures at the tower" end')
sleep 3   # a few heartbeats, so the figure is the steady state
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$apid/status")
rss=$(awk -v k="$rss_kb" 'BEGIN { printf "%.2f", k / 1024 }')
row "agent idle RSS with metrics, 1s heartbeats (MiB)" "$rss" "<= 2" "$(verdict "$rss" 2) ($figures)"

# --- no-op task round trip on one agent (tower sends -> agent done) ---
node=$(sed -n 's/^node_id=//p' "$T/agent/agent.conf")
: >"$T/rtt"
# `tower run` follows the run on the connection it posted it on, so no
# polling competes with the task for the tower's loop.
for _ in $(seq 1 200); do
	"$BIN/tower" --state "$T/tower" run "$node" -o json -- true | jq -r '.tasks[0].roundtrip_ms' >>"$T/rtt"
done
sort -n "$T/rtt" >"$T/rtt.sorted"
p50=$(awk '{ a[NR] = $1 } END { print a[int(NR * 0.50 + 0.5)] }' "$T/rtt.sorted")
p99=$(awk '{ a[NR] = $1 } END { print a[int(NR * 0.99 + 0.5)] }' "$T/rtt.sorted")
row "no-op task round trip p50, 1 agent (ms)" "$p50" "-" "(200 tasks)"
row "no-op task round trip p99, 1 agent (ms)" "$p99" "<= 10" "$(verdict "$p99" 10)"

# --- fan-out of a no-op to 100 agent processes ---
token=$("$BIN/tower" --state "$T/tower" token create --role bench --uses 100 -o json | jq -r .token)
hash=$("$BIN/tower" --state "$T/tower" token create --role probe -o json | jq -r .join | sed 's/.*--ca-hash //')
port=$(jq -r .agent_port "$T/tower/endpoint.json")
for i in $(seq 1 100); do
	"$BIN/overcloud-agent" join --tower "127.0.0.1:$port" --token "$token" --ca-hash "$hash" \
		--state "$T/fan/$i" >"$T/fan-$i.log" 2>&1 &
	PIDS+=($!)
done
for _ in $(seq 1 600); do
	[ "$("$BIN/tower" --state "$T/tower" nodes -o json | jq '[.[] | select(.state == "connected")] | length')" -ge 101 ] && break
	sleep 0.1
done
# `tower run` follows the run on its own connection: no polling competes
# with the 100 agents for the two CPUs while it runs. Five fan-outs, each
# followed by the floor (the same number of no-op processes started at once
# by one process, with no agent or tower in between: what this machine's
# process start costs); each figure is the median of its five, so one
# scheduling hiccup on two CPUs does not decide the verdict.
: >"$T/fan.ms"
: >"$T/floor.ms"
for _ in 1 2 3 4 5; do
	"$BIN/tower" --state "$T/tower" run --role bench -o json -- true >"$T/fan.json"
	count=$(jq '.tasks | length' "$T/fan.json")
	# from the first task created to the last result recorded, on the tower's clock
	jq '(.tasks | map(.finished_ms) | max) - (.tasks | map(.created_ms) | min)' "$T/fan.json" >>"$T/fan.ms"
	done_count=$(jq '[.tasks[] | select(.state == "done")] | length' "$T/fan.json")
	[ "$done_count" = "$count" ] || { echo "bench: fan-out: $done_count of $count done" >&2; exit 1; }
	"$BIN/spawn-floor" "$count" "$(type -P true)" >>"$T/floor.ms"
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
spread() { sort -n "$1" | awk '{ a[NR] = $1 } END { printf "%s..%s", a[1], a[NR] }'; }
fan=$(median "$T/fan.ms")
floor=$(median "$T/floor.ms")
fan_goal=$((floor + 100))
row "no-op fan-out to $count agent processes (ms)" "$fan" "<= floor + 100 = $fan_goal" \
	"$(verdict "$fan" "$fan_goal") (median of 5: $(spread "$T/fan.ms"), all $count done)"
row "  floor: $count x true spawned at once, no agents (ms)" "$floor" "-" \
	"(median of 5: $(spread "$T/floor.ms"); this machine's exec cost)"

# --- OverCloud create + delete, 1 post + 3 clusters, no-op pattern ---
"$BIN/tower" serve --state "$T/wf" --api 127.0.0.1:0 --agents 0.0.0.0:0 --advertise 127.0.0.1 \
	--heartbeat 5s --roles bench/roles --patterns bench/patterns >"$T/wf.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$T/wf/endpoint.json" ] && break; sleep 0.1; done
WF=("$BIN/tower" --state "$T/wf")
t0=$(date +%s%N)
id=$("${WF[@]}" create --provider local --number 3 --pattern noop -o json | jq -r .overcloud_id)
t1=$(date +%s%N)
"${WF[@]}" show "$id" -o json >"$T/oc.json"
[ "$(jq -r .status "$T/oc.json")" = ready ] || { echo "noop overcloud: $(jq -r .status "$T/oc.json")"; tail "$T/wf.log"; }
# engine overhead: each role step's wall time minus its slowest task's own time
overhead=$(for run in $(jq -r '.steps[] | select(.run_id) | .run_id' "$T/oc.json"); do
	step_ms=$(jq --arg r "$run" '.steps[] | select(.run_id == $r) | .elapsed_ms' "$T/oc.json")
	task_ms=$(curl -sS --cacert "$T/wf/ca.pem" -H "Authorization: Bearer $(cat "$T/wf/admin.token")" \
		"https://127.0.0.1:$(jq -r .api_port "$T/wf/endpoint.json")/v1/runs/$run" |
		jq '[.tasks[].duration_ms] | max')
	echo $((step_ms - task_ms))
done | awk '{ s += $1; n++ } END { printf "%.1f", n ? s / n : 0 }')
create_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
if [ "$(verdict "$create_s" 2)" != met ]; then
	# say where the time went while the nodes' logs still exist
	echo "bench: create took $create_s s; steps (ms): $(jq -c '[.steps[] | {(.name): .elapsed_ms}] | add' "$T/oc.json")" >&2
	grep -h "trying again\|reconnecting" "$T"/wf/local/*/*/agent.log >&2 || true
fi
t_del=$(date +%s%N)   # after the overhead queries above, which are not part of delete
"${WF[@]}" delete "$id" -o json >/dev/null
t2=$(date +%s%N)
delete_s=$(awk -v a="$t_del" -v b="$t2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
row "create 1+3 nodes, no-op pattern, end to end (s)" "$create_s" "<= 2" "$(verdict "$create_s" 2)"
row "delete 1+3 nodes, no-op pattern, end to end (s)" "$delete_s" "<= 1" "$(verdict "$delete_s" 1)"
row "engine overhead per step (ms)" "$overhead" "<= 5" "$(verdict "$overhead" 5)"

# The rows above leave a tower and 101 agents idling: stop them, the
# scale figures below want the machine.
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()

# --- scale: bench/swarm, SWARM_N simulated agents on one tower ---
SWARM_N=${SWARM_N:-10000}
SWARM_FAN=${SWARM_FAN:-1000}
bash bench/swarm-run.sh "$BIN" "$T/swarm" "$SWARM_N" "$SWARM_FAN" >"$T/swarm.rows"
while IFS='|' read -r name value goal verdict; do
	row "$name" "$value" "$goal" "$verdict"
done <"$T/swarm.rows"

# --- replicas: two towers on one throwaway PostgreSQL, SWARM_N agents over
# both, then kill -9 of the leader ---
bash bench/replicas.sh "$BIN" "$T/replicas" "$SWARM_N" "$SWARM_FAN" >"$T/replicas.rows"
while IFS='|' read -r name value goal verdict; do
	row "$name" "$value" "$goal" "$verdict"
done <"$T/replicas.rows"

# --- peer comparison: the same no-op on 50 nodes, Ansible vs tower ---
bash packaging/deps.sh bench >&2
bash bench/ansible-vs-tower.sh "$BIN" "$T/peer" 50 >"$T/peer.rows"
while IFS='|' read -r name value goal verdict; do
	row "$name" "$value" "$goal" "$verdict"
done <"$T/peer.rows"

printf '\n%-50s %14s   %-10s %s\n' "figure" "measured" "goal" "verdict"
printf '%s\n' "${ROWS[@]}"
