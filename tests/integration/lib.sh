# lib.sh — shared helpers for integration tests: a scratch dir, real tower and
# agent processes on loopback, waits with deadlines, cleanup of everything.
# Source it; it sets -euo pipefail and an EXIT trap.
set -euo pipefail

: "${OC_BIN:?OC_BIN must point at the built binaries (build/bin)}"
TOWER="$OC_BIN/tower"
AGENT="$OC_BIN/overcloud-agent"
# Sanitized binaries are several times slower; waits scale with them.
WAIT_SCALE=1
[ "${OC_SANITIZED:-0}" = 1 ] && WAIT_SCALE=4

REPO=${OC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# The shipped roles and patterns, unless a test names others (later wins).
DATA_DIRS=(--roles "$REPO/tower/roles" --patterns "$REPO/tower/patterns")

T=$(mktemp -d /tmp/oc-test.XXXXXX)
PIDS=()

cleanup() {
	local rc=$?
	for pid in "${PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	cleanup_local_nodes
	if [ $rc -ne 0 ]; then
		echo "--- test failed (rc=$rc); logs:" >&2
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f" >&2
			tail -n 40 "$f" >&2
		done
	fi
	# OC_KEEP_LOGS=DIR keeps the processes' logs for a look afterwards.
	[ -n "${OC_KEEP_LOGS:-}" ] && cp "$T"/*.log "$OC_KEEP_LOGS"/ 2>/dev/null
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() {
	echo "ok: $*"
}

# wait_until DESCRIPTION SECONDS CMD...: polls CMD until it succeeds.
wait_until() {
	local what=$1 secs=$2
	shift 2
	local deadline=$(( $(date +%s) + secs * WAIT_SCALE ))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "gave up waiting for: $what" >&2
			"$@" >&2 || true
			return 1
		fi
		sleep 0.1
	done
}

# start_tower NAME [ARGS...]: state in $T/NAME, log in $T/NAME.log; sets
# TOWER_PID_<NAME>, and after it is up API_PORT_<NAME>, AGENT_PORT_<NAME>.
start_tower() {
	local name=$1
	shift
	local state="$T/$name"
	rm -f "$state/endpoint.json"
	"$TOWER" serve --state "$state" --api 127.0.0.1:0 --agents 127.0.0.1:0 \
		--heartbeat 1s --advertise 127.0.0.1 "${DATA_DIRS[@]}" "$@" >>"$T/$name.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	eval "TOWER_PID_$name=$pid"
	wait_until "tower $name to start" 30 test -s "$state/endpoint.json" ||
		fail "tower $name did not start"
	eval "API_PORT_$name=$(jq -r .api_port "$state/endpoint.json")"
	eval "AGENT_PORT_$name=$(jq -r .agent_port "$state/endpoint.json")"
}

# restart_tower_same_ports NAME [ARGS...]: starts it again on the ports it
# had (ARGS after the defaults, so they win).
restart_tower_same_ports() {
	local name=$1 api agents
	shift
	api=$(eval echo "\$API_PORT_$name")
	agents=$(eval echo "\$AGENT_PORT_$name")
	local state="$T/$name"
	rm -f "$state/endpoint.json"
	"$TOWER" serve --state "$state" --api "127.0.0.1:$api" --agents "127.0.0.1:$agents" \
		--heartbeat 1s --advertise 127.0.0.1 "${DATA_DIRS[@]}" "$@" >>"$T/$name.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	eval "TOWER_PID_$name=$pid"
	wait_until "tower $name to restart" 30 test -s "$state/endpoint.json" ||
		fail "tower $name did not restart"
}

# tower_cli NAME ARGS...: the CLI against tower NAME.
tower_cli() {
	local name=$1
	shift
	"$TOWER" --state "$T/$name" "$@"
}

# new_token NAME ROLE [ARGS...]: prints a join token.
new_token() {
	local name=$1 role=$2
	shift 2
	tower_cli "$name" token create --role "$role" "$@" -o json | jq -r .token
}

ca_hash() {
	tower_cli "$1" token create --role probe -o json | jq -r .join | sed 's/.*--ca-hash //'
}

# start_agent ANAME TOWERNAME TOKEN [ARGS...]: joins and keeps running.
start_agent() {
	local aname=$1 tname=$2 token=$3
	shift 3
	local port hash
	port=$(eval echo "\$AGENT_PORT_$tname")
	hash=$(ca_hash "$tname")
	"$AGENT" join --tower "127.0.0.1:$port" --token "$token" --ca-hash "$hash" \
		--state "$T/$aname" "$@" >>"$T/$aname.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	eval "AGENT_PID_$aname=$pid"
}

# run_agent ANAME: `overcloud-agent run` with the stored state.
run_agent() {
	local aname=$1
	"$AGENT" run --state "$T/$aname" >>"$T/$aname.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	eval "AGENT_PID_$aname=$pid"
}

node_id_of() {
	sed -n 's/^node_id=//p' "$T/$1/agent.conf"
}

# node_state TOWERNAME NODEID: prints connected/disconnected/absent.
node_state() {
	tower_cli "$1" nodes -o json | jq -r --arg id "$2" \
		'(map(select(.id == $id)) | .[0].state) // "absent"'
}

node_is() {
	[ "$(node_state "$1" "$2")" = "$3" ]
}

# agents_held_at TOWERNAME: the agent connections that tower holds itself
# (its /metrics). Replicas on one database each list a node held by another
# as connected too, so node_state cannot tell which one holds it.
agents_held_at() {
	curl -sS --cacert "$T/$1/ca.pem" -H "Authorization: Bearer $(cat "$T/$1/admin.token")" \
		"https://127.0.0.1:$(eval echo "\$API_PORT_$1")/metrics" |
		awk '$1 == "overcloud_agents_connected" { print $2 }'
}

# remove_counters ID...: the files the test roles count step runs in
# (/tmp/oc-counter-ID*) for those OverClouds.
remove_counters() {
	local id
	for id in "$@"; do rm -f "/tmp/oc-counter-$id" "/tmp/oc-counter-$id".*; done
}

log_has() {
	grep -q -- "$2" "$T/$1.log"
}

stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# oc_field NAME ID JQ: a field of an OverCloud as the API shows it.
oc_field() {
	tower_cli "$1" show "$2" -o json | jq -r "$3"
}

oc_status_is() {
	[ "$(oc_field "$1" "$2" .status)" = "$3" ]
}

# leftovers ID: what an OverCloud could leave behind on this machine.
leftovers() {
	local id=$1
	pgrep -af "overcloud-agent.*/local/$id/" || true
	ip netns list 2>/dev/null | grep -E "^oc-${id: -6}-" || true
	[ -d "$T/t/local/$id" ] && echo "dir $T/t/local/$id"
	true
}

# Whatever a failed test's OverClouds left: their agents and namespaces.
cleanup_local_nodes() {
	local d id
	pkill -9 -f "overcloud-agent.*$T/" 2>/dev/null || true
	for d in "$T"/*/local/oc-*; do
		[ -d "$d" ] || continue
		id=$(basename "$d")
		for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^oc-${id: -6}-"); do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
			ip netns del "$ns" 2>/dev/null || true
		done
	done
}
