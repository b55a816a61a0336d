#!/usr/bin/env bash
# Node metrics and Prometheus: real agents' heartbeats carry their node's
# figures, GET /v1/nodes, GET /v1/nodes/{id}/metrics and `tower nodes` show
# them; /metrics passes `promtool check metrics` with every node's series and
# labels (one node named with a quote and a backslash); the http_sd answer
# checks against Prometheus's documented format (a JSON Schema); a real
# Prometheus configured with the README's snippet discovers the nodes and
# scrapes the tower; heartbeats without figures (older agents) still work.
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus: bash packaging/deps.sh)"
start_tower t
URL="https://127.0.0.1:$API_PORT_t"
api() { curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" "$@"; }

# Node a: a plain agent. Node b: an agent whose host name needs escaping in
# label values (no hostname(1) would set it, the kernel takes any bytes): it
# joins as usual, then runs in a UTS namespace of its own (root only) and
# says that name in its hello, which is what the tower keeps.
start_agent a t "$(new_token t web)"
WEIRD='we"b\1'
hash=$(ca_hash t)
"$AGENT" join --tower "127.0.0.1:$AGENT_PORT_t" --token "$(new_token t edge-worker)" \
	--ca-hash "$hash" --state "$T/b" --no-run >>"$T/b.log" 2>&1 || fail "join of b"
if [ "$(id -u)" = 0 ]; then
	unshare --uts sh -c 'printf %s "$1" >/proc/sys/kernel/hostname && shift && exec "$@"' \
		sh "$WEIRD" "$AGENT" run --state "$T/b" >>"$T/b.log" 2>&1 &
	PIDS+=($!)
else
	echo "not root: node b keeps the machine's host name"
	WEIRD=$(hostname)
	run_agent b
fi
wait_until "agents joined" 30 test -s "$T/a/agent.conf" -a -s "$T/b/agent.conf" || fail "join"
A=$(node_id_of a) B=$(node_id_of b)

has_figures() {
	api "$URL/v1/nodes" | jq -e --arg a "$A" --arg b "$B" \
		'[.[] | select((.id == $a or .id == $b) and .state == "connected" and .metrics != null)] | length == 2'
}
wait_until "both nodes report figures" 30 has_figures || fail "no figures in GET /v1/nodes"
api "$URL/v1/nodes" >"$T/nodes.json"
for id in "$A" "$B"; do
	jq -e --arg id "$id" '.[] | select(.id == $id) | .metrics |
		.mem_total > 0 and .mem_used > 0 and .mem_used <= .mem_total and
		.fs_total > 0 and .fs_used <= .fs_total and .cpu >= 0 and .cpu <= 100 and
		.load1 >= 0 and .uptime > 0 and .net_rx >= 0 and .t > 0' "$T/nodes.json" >/dev/null ||
		fail "figures of $id: $(jq -c --arg id "$id" '.[] | select(.id == $id)' "$T/nodes.json")"
	# the contract fields are all still there
	jq -e --arg id "$id" '.[] | select(.id == $id) |
		has("id") and has("name") and has("arch") and has("role") and has("state") and has("last_seen")' \
		"$T/nodes.json" >/dev/null || fail "contract fields of $id"
done
# The agent's memory total is the kernel's MemTotal.
want=$(awk '/^MemTotal:/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
[ "$(jq --arg id "$A" '.[] | select(.id == $id) | .metrics.mem_total' "$T/nodes.json")" = "$want" ] ||
	fail "mem_total is not /proc/meminfo's $want"
pass "heartbeats carry the figures; GET /v1/nodes shows them"

# The history: a few 1 s heartbeats in the same 10 s slot are one sample.
api "$URL/v1/nodes/$A/metrics" >"$T/hist.json"
jq -e --arg id "$A" '.node == $id and .slot_s == 10 and .slots == 360 and
	(.history | length) >= 1 and (.history | length) <= 360 and .latest.mem_total > 0 and
	(.history[-1] | has("t") and has("cpu") and has("mem_used") and has("mem_total") and
	 has("fs_used") and has("fs_total") and has("net_rx_rate") and has("net_tx_rate") and has("load1"))' \
	"$T/hist.json" >/dev/null || fail "history: $(cat "$T/hist.json")"
code=$(api -o "$T/body" -w '%{http_code}' "$URL/v1/nodes/n-0000000000000000/metrics")
[ "$code" = 404 ] || fail "history of an unknown node: $code"
code=$(api -o "$T/body" -w '%{http_code}' -X POST "$URL/v1/nodes/$A/metrics")
[ "$code" = 405 ] || fail "POST to the history: $code"
code=$(api -o "$T/body" -w '%{http_code}' "$URL/v1/nodes/$A/nope")
[ "$code" = 404 ] || fail "unknown node sub path: $code"
pass "GET /v1/nodes/{id}/metrics: latest and history; 404, 405"

# tower nodes: CPU and MEM columns.
tower_cli t nodes >"$T/table.txt"
head -1 "$T/table.txt" | grep -Eq '^ID +NAME +ARCH +ROLE +STATE +CPU +MEM +LAST SEEN$' ||
	fail "table header: $(head -1 "$T/table.txt")"
grep -Eq "^$A .* connected +[0-9]+% +[0-9.]+[BKMGT]/[0-9.]+[KMGT] +[0-9]+s ago$" "$T/table.txt" ||
	fail "table row of $A: $(cat "$T/table.txt")"
pass "tower nodes shows CPU and MEM"

# A task, so that the task histograms and counts have something.
tower_cli t run "$A" -- true >/dev/null || fail "tower run"

# /metrics: the bearer token as before; promtool's parser and linter.
code=$(curl -sS --cacert "$T/t/ca.pem" -o "$T/body" -w '%{http_code}' "$URL/metrics")
[ "$code" = 401 ] || fail "/metrics without a token: $code"
api -D "$T/headers" "$URL/metrics" >"$T/metrics.txt"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers" || fail "content type: $(cat "$T/headers")"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(cat "$T/promtool.out")"
[ ! -s "$T/promtool.out" ] || fail "promtool lint: $(cat "$T/promtool.out")"
esc_weird=$(sed 's/\\/\\\\/g; s/"/\\"/g' <<<"$WEIRD")
name_a=$(jq -r --arg id "$A" '.[] | select(.id == $id) | .name' "$T/nodes.json")
for fam in cpu_busy_ratio load1 memory_used_bytes memory_total_bytes filesystem_used_bytes \
	filesystem_size_bytes network_receive_bytes_total network_transmit_bytes_total \
	uptime_seconds tasks_running connected last_seen_timestamp_seconds; do
	grep -Fq "overcloud_node_$fam{node=\"$A\",name=\"$name_a\",role=\"web\",arch=\"x86_64\",overcloud=\"\"} " \
		"$T/metrics.txt" || fail "no overcloud_node_$fam for $A"
	grep -Fq "overcloud_node_$fam{node=\"$B\",name=\"$esc_weird\",role=\"edge-worker\",arch=\"x86_64\",overcloud=\"\"} " \
		"$T/metrics.txt" || fail "no overcloud_node_$fam for $B (name escaped as $esc_weird)"
done
grep -q '^# TYPE overcloud_node_network_receive_bytes_total counter$' "$T/metrics.txt" || fail "rx type"
want=$(jq --arg id "$A" '.[] | select(.id == $id) | .metrics.mem_total' "$T/nodes.json")
grep -Eq "^overcloud_node_memory_total_bytes\{node=\"$A\".*\} $want$" "$T/metrics.txt" || fail "memory total value"
for line in 'overcloud_agents_connected 2' 'overcloud_nodes 2' \
	'overcloud_enrollments_total{result="ok"} 2' 'overcloud_tasks{state="done"} 1' \
	'overcloud_task_duration_seconds_count 1' '# TYPE overcloud_step_duration_seconds histogram' \
	'# TYPE overcloud_api_request_duration_seconds histogram' \
	'# TYPE overcloud_store_commit_duration_seconds histogram'; do
	grep -Fxq "$line" "$T/metrics.txt" || fail "/metrics lacks \"$line\""
done
grep -Eq '^overcloud_agent_handshakes_total\{result="ok"\} [1-9]' "$T/metrics.txt" || fail "handshakes"
grep -Eq '^overcloud_api_requests_total\{code="200"\} [1-9]' "$T/metrics.txt" || fail "requests by code"
grep -Eq '^overcloud_api_requests_total\{code="401"\} [1-9]' "$T/metrics.txt" || fail "401s counted"
grep -Eq '^overcloud_store_commit_duration_seconds_count [1-9]' "$T/metrics.txt" || fail "commits"
pass "/metrics passes promtool check metrics; per-node series with their labels; tower health"

# http_sd: checked against Prometheus's documented format, then ours.
api -D "$T/headers" "$URL/v1/sd/prometheus" >"$T/sd.json"
grep -qi '^content-type: application/json' "$T/headers" || fail "sd content type"
python3 - "$REPO/tests/integration/schemas/prometheus_http_sd.schema.json" "$T/sd.json" <<'PY' ||
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
jsonschema.validate(json.load(open(sys.argv[2])), schema, cls=jsonschema.Draft7Validator)
PY
	fail "sd answer does not match the http_sd schema: $(cat "$T/sd.json")"
jq -e --arg a "$A" --arg b "$B" --arg w "$WEIRD" 'length == 2 and
	all(.[]; .targets == ["127.0.0.1:9100"] and (.labels | keys) == ["arch","name","node","overcloud","role"]) and
	(map(select(.labels.node == $a and .labels.role == "web")) | length) == 1 and
	(map(select(.labels.node == $b and .labels.name == $w and .labels.role == "edge-worker")) | length) == 1' \
	"$T/sd.json" >/dev/null || fail "sd targets: $(cat "$T/sd.json")"
# The schema check is a check: a group with a __meta label, and one without
# targets, are refused by it.
for bad in '[{"targets":["a:1"],"labels":{"__meta_x":"y"}}]' '[{"labels":{}}]' '{"targets":[]}' \
	'[{"targets":["a:1"],"labels":{"n":1}}]'; do
	python3 -c 'import json,sys,jsonschema; jsonschema.validate(json.loads(sys.argv[2]), json.load(open(sys.argv[1])))' \
		"$REPO/tests/integration/schemas/prometheus_http_sd.schema.json" "$bad" 2>/dev/null &&
		fail "schema accepted $bad"
done
pass "GET /v1/sd/prometheus matches the http_sd format: both nodes at :9100 with their labels"

# A real Prometheus with the README's snippet (paths and interval changed):
# it discovers both nodes through the tower and scrapes the tower's /metrics.
mkdir -p "$T/prom/overcloud"
cp "$T/t/admin.token" "$T/t/ca.pem" "$T/prom/overcloud/"
{
	printf 'global:\n  scrape_interval: 1s\n'
	awk '/^<!-- prometheus.yml/ { on = 1; next } on && /^```yaml/ { inblock = 1; next }
	     inblock && /^```/ { exit } inblock { print }' "$REPO/README.md" |
		sed -e "s|/etc/prometheus/overcloud|$T/prom/overcloud|" \
		    -e "s|tower.example:6125|127.0.0.1:$API_PORT_t|" -e 's|refresh_interval: 1m|refresh_interval: 1s|'
} >"$T/prom/prometheus.yml"
grep -q overcloud-nodes "$T/prom/prometheus.yml" || fail "README snippet not found"
promtool check config "$T/prom/prometheus.yml" >"$T/promtool.out" 2>&1 ||
	fail "promtool check config: $(cat "$T/promtool.out")"
PROM_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prometheus --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >>"$T/prometheus.log" 2>&1 &
PIDS+=($!)
PROM="http://127.0.0.1:$PROM_PORT"
prom_sees_all() {
	curl -sS "$PROM/api/v1/targets" | jq -e --arg a "$A" --arg b "$B" --arg w "$WEIRD" '.data.activeTargets as $t |
		($t | map(select(.labels.job == "overcloud-tower" and .health == "up")) | length) == 1 and
		($t | map(select(.labels.job == "overcloud-nodes" and .labels.instance == "127.0.0.1:9100")) | length) == 2 and
		($t | map(select(.labels.node == $a and .labels.role == "web" and .labels.arch == "x86_64")) | length) == 1 and
		($t | map(select(.labels.node == $b and .labels.name == $w and .labels.role == "edge-worker")) | length) == 1'
}
wait_until "prometheus discovers the nodes and scrapes the tower" 60 prom_sees_all ||
	fail "prometheus targets: $(curl -sS "$PROM/api/v1/targets" | jq -c '.data.activeTargets | map({labels, health, lastError})')"
prom_has_series() {
	curl -sS "$PROM/api/v1/query" --data-urlencode 'query=overcloud_node_memory_total_bytes' |
		jq -e --arg b "$B" --arg w "$WEIRD" '.data.result | length == 2 and
			(map(select(.metric.node == $b and .metric.name == $w and .metric.overcloud == null)) | length) == 1'
}
wait_until "prometheus has both nodes' series" 30 prom_has_series ||
	fail "prometheus query: $(curl -sS "$PROM/api/v1/query" --data-urlencode 'query=overcloud_node_memory_total_bytes')"
pass "a real Prometheus with the README snippet discovers both nodes and scrapes every node's series"

# A node that goes away leaves the discovery answer and the figure series.
stop_pid "$AGENT_PID_a"
wait_until "node a disconnected" 30 node_is t "$A" disconnected || fail "a still connected"
[ "$(api "$URL/v1/sd/prometheus" | jq length)" = 1 ] || fail "sd still lists the disconnected node"
api "$URL/metrics" >"$T/metrics2.txt"
grep -Fq "overcloud_node_connected{node=\"$A\"" "$T/metrics2.txt" || fail "connected gauge gone"
grep -Eq "^overcloud_node_connected\{node=\"$A\".*\} 0$" "$T/metrics2.txt" || fail "connected gauge not 0"
! grep -q "overcloud_node_memory_total_bytes{node=\"$A\"" "$T/metrics2.txt" || fail "stale figures exported"
pass "a disconnected node leaves the sd answer; its figures are not exported stale"

# Heartbeats without figures, as agents before the metrics send them: the
# nodes connect, stay, and show no figures ("-" in the table).
token=$(new_token t old --uses 3)
closings=$(grep -c closing "$T/t.log" || true)
"$OC_BIN/swarm" --tower "127.0.0.1:$AGENT_PORT_t" --ca "$T/t/ca.pem" --token "$token:3" \
	--heartbeat 1 --no-metrics >>"$T/swarm.log" 2>&1 &
PIDS+=($!)
SWARM_PID=$!
old_connected() {
	api "$URL/v1/nodes" | jq -e '[.[] | select(.role == "old" and .state == "connected")] | length == 3'
}
wait_until "older agents connected" 60 old_connected || fail "older agents did not connect"
# hello sets last_seen; only heartbeats move it on
since=$(api "$URL/v1/nodes" | jq '[.[] | select(.role == "old") | .last_seen] | max')
old_beat() {
	api "$URL/v1/nodes" | jq -e --argjson s "$since" \
		'[.[] | select(.role == "old" and .last_seen >= $s + 2)] | length == 3'
}
wait_until "older agents' heartbeats" 30 old_beat || fail "no heartbeats from the older agents"
api "$URL/v1/nodes" | jq -e '[.[] | select(.role == "old")] | all(.state == "connected" and .metrics == null)' \
	>/dev/null || fail "older agents: $(api "$URL/v1/nodes" | jq -c '[.[] | select(.role == "old")]')"
tower_cli t nodes | awk '$4 == "old" { if ($5 != "connected" || $6 != "-" || $7 != "-") exit 1; n++ }
	END { exit n == 3 ? 0 : 1 }' || fail "table of older agents: $(tower_cli t nodes)"
[ "$(grep -c closing "$T/t.log" || true)" = "$closings" ] ||
	fail "the tower closed a connection: $(grep closing "$T/t.log")"
stop_pid "$SWARM_PID"
pass "heartbeats without figures (older agents) keep working"
