#!/usr/bin/env bash
# replicas.sh BIN [DIR [N [FAN]]]: the replica figures of `make bench`: two
# `tower serve` replicas on one throwaway PostgreSQL (Debian's, initdb and
# pg_ctl in a temp dir, a loopback port: tests/integration/pg_env.sh), N
# bench/swarm agents spread over both (agent i starts on replica i % 2):
# enrollment, a no-op fan-out to FAN of them posted to the leader, and the
# failover after kill -9 of the leader: until the other replica holds the
# lease and every agent is welcomed again. Prints "figure|value|goal|verdict"
# rows on stdout, progress on stderr. Loopback only; stops what it starts and
# removes PostgreSQL and DIR (a temp dir when not given), also on failure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$1 D=${2:-} N=${3:-10000} FAN=${4:-1000}
HEARTBEAT=10
# The lease as an operator sets it ([tower] lease in tower.conf, README
# "Two tower replicas on one PostgreSQL"); 10s is the tower's default.
LEASE_S=${REPLICAS_LEASE_S:-10}
# shellcheck source=tests/integration/pg_env.sh
. "$HERE/../tests/integration/pg_env.sh"

own_dir=false
if [ -z "$D" ]; then
	D=$(mktemp -d /tmp/oc-bench-rep.XXXXXX)
	own_dir=true
fi
mkdir -p "$D"
PIDS=()
PID_a=""   # set by start_replica (eval), as PID_b
cleanup() {
	local p
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	pg_env_down
	# the tower's state dirs hold the CA key and the admin token
	rm -rf "$D/a" "$D/b"
	$own_dir && rm -rf "$D"
	return 0
}
trap cleanup EXIT
# killed or interrupted: exit, so that the EXIT trap stops what was started
trap 'exit 143' TERM
trap 'exit 130' INT
ulimit -n "$(ulimit -Hn)"
say() { echo "replicas: $*" >&2; }
die() { say "$*"; for r in a b; do [ -f "$D/$r.log" ] && tail -5 "$D/$r.log" >&2; done; exit 1; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "met" : "NOT MET" }'; }
out() { echo "$1|$2|$3|$4"; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
now_ms() { date +%s%3N; }
# The waiting loops run while the figures are taken: bash builtins, 5 a second.
has_line() {
	local line
	[ -f "$2" ] || return 1
	while IFS= read -r line; do [[ $line == "$1"* ]] && return 0; done <"$2"
	return 1
}
# swarm_field NAME: a number of the swarm's status file (0 if not there yet).
swarm_field() {
	local text=""
	IFS= read -r -d '' text <"$D/status.json" 2>/dev/null || true
	if [[ $text =~ \"$1\":\ ([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}
api() { # api REPLICA PATH [CURL-ARGS...]
	curl -sS --max-time 5 --cacert "$D/$1/ca.pem" -H "Authorization: Bearer $(cat "$D/$1/admin.token")" \
		"https://127.0.0.1:$(port "$1" api)$2" "${@:3}"
}
port() { jq -r ".${2}_port" "$D/$1/endpoint.json"; }
# leader_is REPLICA ASKED: ASKED's GET /v1/replicas names REPLICA as the
# holder of a live lease.
leader_is() {
	local text
	text=$(api "$2" /v1/replicas 2>/dev/null) || return 1
	[[ $text =~ \"leader\":\ ?\"([^\"]*)\" ]] && [ "${BASH_REMATCH[1]}" = "$1" ]
}
resumed_at() { api "$1" /metrics | awk '/^overcloud_agent_tls_resumed_total/ { print $2 }'; }
# The agent connections a replica holds itself (every replica lists every
# node connected while its heartbeats are recent).
connected_at() {
	api "$1" /metrics | awk '$1 == "overcloud_agents_connected" { print $2 }'
}
start_replica() {
	local r=$1
	rm -f "$D/$r/endpoint.json"
	"$BIN/tower" serve --state "$D/$r" --api 127.0.0.1:0 --agents 127.0.0.1:0 --advertise 127.0.0.1 \
		--heartbeat "${HEARTBEAT}s" --config "$D/$r.conf" >>"$D/$r.log" 2>&1 &
	PIDS+=($!)
	eval "PID_$r=$!"   # PID_a, PID_b
	for _ in $(seq 1 300); do [ -s "$D/$r/endpoint.json" ] && return 0; sleep 0.1; done
	die "replica $r did not start"
}

pg_env_up || die "cannot start PostgreSQL (packaging/deps.sh test installs it)"
URL=$(pg_env_database tower_bench) || die "cannot create the database"
for r in a b; do
	(umask 077 && printf '[tower]\nstore = %s\nlease = %ss\nreplica = %s\n' "$URL" "$LEASE_S" "$r" >"$D/$r.conf")
done
# a makes the CA, the admin token and the ticket key and takes the lease; b
# gets a copy of a's state dir, as the README tells an operator to do.
start_replica a
for _ in $(seq 1 100); do leader_is a a && break; sleep 0.2; done
leader_is a a || die "a does not hold the lease"
cp -a "$D/a" "$D/b"
start_replica b
for _ in $(seq 1 100); do grep -q "lease: b is a replica" "$D/b.log" && break; sleep 0.2; done
grep -q "lease: b is a replica" "$D/b.log" || die "b does not say it is a replica"
fan_token=$("$BIN/tower" --state "$D/a" token create --role swarm-fan --uses "$FAN" -o json | jq -r .token)
rest_token=$("$BIN/tower" --state "$D/a" token create --role swarm --uses "$((N - FAN))" -o json | jq -r .token)

# --- enrollment over both replicas: keys and CSRs first (each node's own
# CPU), the clock from the first connection to the last certificate ---
say "$N agents over replicas a and b: making keys, enrolling, connecting"
"$BIN/swarm" --tower "127.0.0.1:$(port a agent),127.0.0.1:$(port b agent)" --ca "$D/a/ca.pem" \
	--token "$fan_token:$FAN" --token "$rest_token:$((N - FAN))" --status "$D/status.json" \
	>"$D/swarm.out" 2>"$D/swarm.err" &
SWARM_PID=$!
PIDS+=("$SWARM_PID")
for _ in $(seq 1 6000); do
	has_line connected "$D/swarm.out" && break
	kill -0 "$SWARM_PID" 2>/dev/null || { tail "$D/swarm.err" >&2; die "swarm died"; }
	sleep 0.2
done
has_line connected "$D/swarm.out" || { cat "$D/status.json" >&2; die "agents did not all connect"; }
cat "$D/swarm.out" >&2
per_tower=$(jq -r '.connected_per_tower | "\(.[0]) on a, \(.[1]) on b"' "$D/status.json")
enroll_s=$(secs "$(swarm_field enroll_ms)")
ready_s=$(secs "$(swarm_field ready_ms)")
out "enroll $N over 2 replicas, CSR signing incl. (s)" "$enroll_s" "<= 60" \
	"$(verdict "$enroll_s" 60) (ready for tasks $ready_s s; $per_tower)"

# --- fan-out: a no-op to FAN of them, posted to the leader; the tasks of
# nodes connected to b are sent by b, which hears of them by LISTEN/NOTIFY.
# Followed with GET /v1/runs/ID, which reads the database. First task
# created -> last result stored, by the replicas' clocks (one machine here).
run_id=$(api a /v1/runs -H "Content-Type: application/json" \
	-d '{"argv": ["true"], "target": {"role": "swarm-fan"}}' | jq -r '.run_id // empty')
[ -n "$run_id" ] || die "the fan-out was not accepted"
# The swarm counts the tasks its agents answered (bash builtins, no load on
# the towers); then the towers' records are read until every result is in.
for _ in $(seq 1 300); do
	[ "$(swarm_field tasks)" -ge "$FAN" ] && break
	sleep 0.2
done
for _ in $(seq 1 300); do
	api a "/v1/runs/$run_id" >"$D/fan.json" 2>/dev/null || true
	[ "$(jq '[.tasks[] | select(.finished_ms > 0)] | length' "$D/fan.json" 2>/dev/null)" = "$FAN" ] && break
	sleep 0.2
done
fan_count=$(jq '.tasks | length' "$D/fan.json" 2>/dev/null || echo 0)
fan_done=$(jq '[.tasks[] | select(.state == "done")] | length' "$D/fan.json" 2>/dev/null || echo 0)
fan_ms=$(jq '[.tasks[] | select(.finished_ms > 0)] | if length > 0 then (map(.finished_ms) | max) - (map(.created_ms) | min) else 0 end' \
	"$D/fan.json" 2>/dev/null || echo 0)
fan_verdict=$(verdict "$fan_ms" 1000)
[ "$fan_done" = "$FAN" ] || fan_verdict="NOT MET"
# Each replica's share on its own: the tasks of the nodes b holds went
# through b. Every replica lists every node connected (by heartbeats), so
# which one holds a node comes from the swarm: agent i (node swarm-i)
# starts on replica i % 2 and stays there while none has moved.
split="?"
if [ "$(swarm_field moved)" = 0 ]; then
	split=$(jq -r '
		(.tasks | map(.created_ms) | min) as $t0 |
		def at_b: (.node | ltrimstr("swarm-") | tonumber) % 2 == 1;
		def last(f): [.tasks[] | select(f) | .finished_ms] | if length > 0 then "\(length) in \(max - $t0) ms" else "none" end;
		"a: \(last(at_b | not)), relayed by b: \(last(at_b))"' "$D/fan.json" 2>/dev/null || echo "?")
fi
out "no-op fan-out to $FAN of $N over 2 replicas (ms)" "$fan_ms" "<= 1000" \
	"$fan_verdict ($fan_done of $fan_count done, posted to the leader; $split)"

# --- failover: kill -9 of the leader; the clock runs until b holds the
# lease and the swarm has every agent welcomed again ---
resumed_before=$(resumed_at b)
moved_before=$(swarm_field moved)
say "kill -9 of the leader a; waiting for b to take the lease (${LEASE_S}s) and the agents to come back"
killed=$(now_ms)
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null || true
lease_ms="" back_ms=""
deadline=$((killed + 6 * LEASE_S * 1000 + 30000))
while [ "$(now_ms)" -lt "$deadline" ]; do
	if [ -z "$lease_ms" ] && leader_is b b; then lease_ms=$(($(now_ms) - killed)); fi
	if [ -z "$back_ms" ]; then
		all=$(swarm_field all_connected_at_ms)
		[ "$all" -gt "$killed" ] && back_ms=$((all - killed))
	fi
	[ -n "$lease_ms" ] && [ -n "$back_ms" ] && break
	sleep 0.2
done
resumed=$(($(resumed_at b) - resumed_before))
moved=$(($(swarm_field moved) - moved_before))
listed=$(connected_at b)
if [ -n "$lease_ms" ] && [ -n "$back_ms" ]; then
	fail_s=$(secs "$((lease_ms > back_ms ? lease_ms : back_ms))")
	fail_verdict=$(verdict "$fail_s" 15)
else
	fail_s=">$(secs "$((deadline - killed))")"
	fail_verdict="NOT MET"
fi
out "failover after kill -9 of the leader, $N agents (s)" "$fail_s" "<= 15" \
	"$fail_verdict (lease ${LEASE_S}s; b holds $listed agent connections)"
out "  lease taken by the survivor (s)" "$([ -n "$lease_ms" ] && secs "$lease_ms" || echo never)" "-" \
	"(kill -> b's GET /v1/replicas names b the leader)"
out "  agents back, $moved moved to the survivor (s)" "$([ -n "$back_ms" ] && secs "$back_ms" || echo never)" "-" \
	"(kill -> all $N welcomed again; $resumed resumed their TLS session at b)"
