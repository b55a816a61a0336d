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

ROWS=()
row() { ROWS+=("$(printf '%-44s %14s   %-10s %s' "$1" "$2" "$3" "$4")"); }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "met" : "NOT MET" }'; }

# --- agent binary size (stripped, x86_64) ---
strip -o "$T/agent.stripped" "$BIN/overcloud-agent"
size=$(stat -c %s "$T/agent.stripped")
mib=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')
row "agent binary, stripped, x86_64 (MiB)" "$mib" "<= 1.5" "$(verdict "$mib" 1.5)"

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
sleep 3   # a few heartbeats, so the figure is the steady state
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$apid/status")
rss=$(awk -v k="$rss_kb" 'BEGIN { printf "%.2f", k / 1024 }')
row "agent idle RSS after enrollment (MiB)" "$rss" "<= 2" "$(verdict "$rss" 2)"

printf '\n%-44s %14s   %-10s %s\n' "figure" "measured" "goal" "verdict"
printf '%s\n' "${ROWS[@]}"
