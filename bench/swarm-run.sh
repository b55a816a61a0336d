#!/usr/bin/env bash
# swarm-run.sh BIN DIR N FAN: the scale figures of `make bench` with
# bench/swarm: enrollment of N fresh agents, steady state of N connected
# agents (tower CPU and RSS), a no-op fan-out to FAN of them, and the
# reconnect storm after a tower restart. Prints "figure|value|goal|verdict"
# rows on stdout, progress on stderr. Loopback only; stops what it starts.
set -euo pipefail
BIN=$1 D=$2 N=$3 FAN=$4
HEARTBEAT=10
STEADY_S=${SWARM_STEADY_S:-30}
mkdir -p "$D"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
# killed or interrupted: exit, so that the EXIT trap stops what was started
trap 'exit 143' TERM
trap 'exit 130' INT
# Each agent is a socket on both sides.
ulimit -n "$(ulimit -Hn)"
say() { echo "swarm-run: $*" >&2; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "met" : "NOT MET" }'; }
out() { echo "$1|$2|$3|$4"; }

start_tower() {
	"$BIN/tower" serve --state "$D/tower" --api "127.0.0.1:${1:-0}" --agents "127.0.0.1:${2:-0}" \
		--advertise 127.0.0.1 --heartbeat "${HEARTBEAT}s" >>"$D/tower.log" 2>&1 &
	TOWER_PID=$!
	PIDS+=("$TOWER_PID")
	for _ in $(seq 1 300); do [ -s "$D/tower/endpoint.json" ] && return 0; sleep 0.1; done
	say "tower did not start"; tail "$D/tower.log" >&2; exit 1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# The waiting loops below run while the figures are taken, on the same two
# cores: they look with bash builtins and wake 5 times a second (grep, jq
# and sleep 20 times a second cost the enrollment 15-20 % of its speed).
has_line() {
	local line
	while IFS= read -r line; do [[ $line == "$1"* ]] && return 0; done <"$2"
	return 1
}
# Sets ALL_BACK_MS to the swarm's all_connected_at_ms (0 if unknown).
read_all_back() {
	local text=""
	ALL_BACK_MS=0
	IFS= read -r -d '' text <"$D/status.json" || true
	[[ $text =~ \"all_connected_at_ms\":\ ([0-9]+) ]] && ALL_BACK_MS=${BASH_REMATCH[1]}
	return 0
}
status() { jq -r "$1" "$D/status.json" 2>/dev/null || echo 0; }
connected_nodes() {
	"$BIN/tower" --state "$D/tower" nodes -o json | jq '[.[] | select(.state == "connected")] | length'
}

start_tower
API_PORT=$(jq -r .api_port "$D/tower/endpoint.json")
AGENT_PORT=$(jq -r .agent_port "$D/tower/endpoint.json")
fan_token=$("$BIN/tower" --state "$D/tower" token create --role swarm-fan --uses "$FAN" -o json | jq -r .token)
rest_token=$("$BIN/tower" --state "$D/tower" token create --role swarm --uses "$((N - FAN))" -o json | jq -r .token)

# --- enrollment: keys and CSRs are made first (each node's own CPU in real
# life); the clock runs from the first connection to the last certificate.
say "$N agents: making keys, enrolling, connecting"
"$BIN/swarm" --tower "127.0.0.1:$AGENT_PORT" --ca "$D/tower/ca.pem" --token "$fan_token:$FAN" \
	--token "$rest_token:$((N - FAN))" --status "$D/status.json" >"$D/swarm.out" 2>"$D/swarm.err" &
SWARM_PID=$!
PIDS+=("$SWARM_PID")
# Tower CPU over the enrollment, sampled when the swarm reports it done: a
# figure the other load on the machine does not move much.
enroll_ticks=""
t_ticks0=$(cpu_ticks "$TOWER_PID")
for _ in $(seq 1 6000); do
	if [ -z "$enroll_ticks" ] && has_line enrolled "$D/swarm.out"; then
		enroll_ticks=$(($(cpu_ticks "$TOWER_PID") - t_ticks0))
	fi
	has_line connected "$D/swarm.out" && break
	kill -0 "$SWARM_PID" 2>/dev/null || { say "swarm died"; tail "$D/swarm.err" >&2; exit 1; }
	sleep 0.2
done
has_line connected "$D/swarm.out" || { say "agents did not all connect"; cat "$D/status.json" >&2; exit 1; }
cat "$D/swarm.out" >&2
enroll_s=$(awk -v ms="$(status .enroll_ms)" 'BEGIN { printf "%.1f", ms / 1000 }')
connect_s=$(awk -v ms="$(status .connect_ms)" 'BEGIN { printf "%.1f", ms / 1000 }')
out "enroll $N fresh agents, CSR signing incl. (s)" "$enroll_s" "<= 60" "$(verdict "$enroll_s" 60)"
per_enroll=$(awk -v t="${enroll_ticks:-0}" -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN { printf "%.1f", 1000 * t / hz / n }')
out "tower CPU per enrollment, both cores (ms)" "$per_enroll" "-" "(handshake + CSR check + signing)"
# Each enrollment's connection carries on as the agent's session: the clock
# runs from the first connection to the last welcome.
ready_s=$(awk -v ms="$(status .ready_ms)" 'BEGIN { printf "%.1f", ms / 1000 }')
out "enroll + ready for tasks, $N (s)" "$ready_s" "<= 45" "$(verdict "$ready_s" 45)"
out "after the last certificate, until all are ready (s)" "$connect_s" "-" "(hello/welcome on the enrollment's connection)"

# --- steady state: everyone connected, heartbeats with the node figures
# every 10 s ---
seen=$(connected_nodes)
[ "$seen" -eq "$N" ] || say "tower lists $seen of $N connected"
sleep 5
hz=$(getconf CLK_TCK)
c0=$(cpu_ticks "$TOWER_PID"); t0=$(date +%s%N)
sleep "$STEADY_S"
c1=$(cpu_ticks "$TOWER_PID"); t1=$(date +%s%N)
cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v ns="$((t1 - t0))" 'BEGIN { printf "%.1f", 100 * c / hz / (ns / 1e9) }')
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$TOWER_PID/status")
rss=$(awk -v k="$rss_kb" 'BEGIN { printf "%.0f", k / 1024 }')
with_figures=$("$BIN/tower" --state "$D/tower" nodes -o json | jq '[.[] | select(.metrics != null)] | length')
out "tower CPU, $N agents sending metrics every ${HEARTBEAT}s (% of a core)" "$cpu" "<= 25" \
	"$(verdict "$cpu" 25) (${STEADY_S}s window, $with_figures nodes with figures)"
out "tower RSS, $N agents connected (MiB)" "$rss" "<= 1024" "$(verdict "$rss" 1024)"
# What a Prometheus scrape of all of them costs, and the history's memory.
scrape() { curl -sS --cacert "$D/tower/ca.pem" -H "Authorization: Bearer $(cat "$D/tower/admin.token")" "$@"; }
scrape_ms=$(scrape -o "$D/metrics.txt" -w '%{time_total}' "https://127.0.0.1:$API_PORT/metrics" |
	awk '{ printf "%.0f", $1 * 1000 }')
series=$(grep -c '^overcloud_node_' "$D/metrics.txt" || true)
out "GET /metrics with $N nodes (ms)" "$scrape_ms" "-" "($series node series, $(wc -c <"$D/metrics.txt") bytes)"
hist=$(awk '/^overcloud_node_history_bytes/ { printf "%.1f", $2 / 1048576 }' "$D/metrics.txt")
bound=$(awk -v n="$N" 'BEGIN { printf "%.0f", n * 11.25 / 1024 }')
out "node metrics history, $N nodes (MiB)" "$hist" "-" "(after ${STEADY_S}s; at most $bound after 1 h)"
swarm_rss=$(awk -v k="$(status .rss_kb)" 'BEGIN { printf "%.0f", k / 1024 }')
out "swarm RSS, $N simulated agents (MiB)" "$swarm_rss" "-" "(the simulator)"

# --- fan-out: a no-op to FAN of them, first task created -> last result ---
"$BIN/tower" --state "$D/tower" run --role swarm-fan -o json -- true >"$D/fan.json" || true
fan_done=$(jq '[.tasks[] | select(.state == "done")] | length' "$D/fan.json")
fan_ms=$(jq '(.tasks | map(.finished_ms) | max) - (.tasks | map(.created_ms) | min)' "$D/fan.json")
out "no-op fan-out to $FAN of $N agents (ms)" "$fan_ms" "<= 1000" "$(verdict "$fan_ms" 1000) ($fan_done done)"

# --- reconnect storm: restart the tower, clock until all are back ---
kill "$TOWER_PID"
wait "$TOWER_PID" 2>/dev/null || true
rm -f "$D/tower/endpoint.json"
restart_ms=$(date +%s%3N)
start_tower "$API_PORT" "$AGENT_PORT"
for _ in $(seq 1 600); do
	read_all_back
	[ "$ALL_BACK_MS" -gt "$restart_ms" ] && break
	sleep 0.2
done
back=$ALL_BACK_MS
if [ "$back" -gt "$restart_ms" ]; then
	storm=$(awk -v ms="$((back - restart_ms))" 'BEGIN { printf "%.1f", ms / 1000 }')
else
	storm=">120"
fi
resumed=$(curl -sS --cacert "$D/tower/ca.pem" -H "Authorization: Bearer $(cat "$D/tower/admin.token")" \
	"https://127.0.0.1:$API_PORT/metrics" | awk '/^overcloud_agent_tls_resumed_total/ { print $2 }')
seen=$(connected_nodes)
out "reconnect storm, $N agents after restart (s)" "$storm" "<= 15" \
	"$(verdict "${storm#>}" 15) ($seen listed connected, $resumed resumed)"
