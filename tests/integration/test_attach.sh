#!/usr/bin/env bash
# tower attach: an edge device joins with an edge-worker token, shows in
# `tower nodes` with its real arch, and is attached to a ready demo OverCloud
# on the local provider: the pattern's attach steps run on it for real, the
# OverCloud lists it; a tower killed mid-attach resumes; every refusal is a
# one-line error with the right status; delete runs the remove step on the
# attached node, releases only the provider's nodes, and the edge node stays
# enrolled and running, free to be attached again.
. "$(dirname "$0")/lib.sh"

# The shipped patterns plus one with no attach DAG (noop: no roles run).
mkdir -p "$T/patterns"
cp "$REPO"/tower/patterns/*.yaml "$REPO/tests/integration/patterns/noop.yaml" "$T/patterns/"
DATA_DIRS=(--roles "$REPO/tower/roles" --patterns "$T/patterns")
start_tower t --agents 0.0.0.0:0
API="https://127.0.0.1:$API_PORT_t"
api() { curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" -H "Content-Type: application/json" "$@"; }
# As root the local nodes live in namespaces behind the bridge: an edge
# device reaches them (and the tower) there, like a Pi on the same LAN.
EDGE_HOST=127.0.0.1
[ "$(id -u)" = 0 ] && EDGE_HOST=10.213.0.1

# oc_create PATTERN N: a ready OverCloud's id (create follows it to the end).
oc_create() {
	tower_cli t create --provider local --number "$2" --pattern "$1" >"$T/create.out" 2>&1 ||
		fail "create $1: $(tail -n 20 "$T/create.out")"
	grep -o 'oc-[0-9a-f]*' "$T/create.out" | head -n 1
}
# edge_join NAME: an edge device runs the line `tower token create` printed,
# pointed at the address it reaches the tower on; waits until it is connected.
edge_join() {
	local join args
	join=$(tower_cli t token create --role edge-worker -o json | jq -r .join)
	[[ $join == "overcloud-agent join --tower "*" --token "*" --ca-hash sha256:"* ]] ||
		fail "join line: $join"
	args=${join#overcloud-agent join --tower * }
	# shellcheck disable=SC2086 # the printed line's words are the arguments
	"$AGENT" join --tower "$EDGE_HOST:$AGENT_PORT_t" $args --state "$T/$1" >>"$T/$1.log" 2>&1 &
	PIDS+=($!)
	eval "AGENT_PID_$1=$!"
	wait_until "$1 enrolled" 30 test -s "$T/$1/agent.conf" || fail "$1 did not join"
	wait_until "$1 connected" 30 node_is t "$(node_id_of "$1")" connected || fail "$1 offline"
	EDGES+=("$(node_id_of "$1")")
}
# refused EXPECTED_CODE MESSAGE ID NODE: tower attach exits non-zero with one
# line naming the code and MESSAGE; the API gives the same code.
refused() {
	local code=$1 msg=$2 oc=$3 node=$4 rc=0
	tower_cli t attach "$oc" "$node" >"$T/ref.out" 2>"$T/ref.err" || rc=$?
	[ "$rc" != 0 ] || fail "attach $oc $node succeeded, expected $code"
	[ "$(wc -l <"$T/ref.err")" = 1 ] && grep -q "^tower: attach: $code: .*$msg" "$T/ref.err" ||
		fail "attach $oc $node: $(cat "$T/ref.err")"
	got=$(api -o "$T/ref.json" -w '%{http_code}' -X POST -d "{\"node\": \"$node\"}" \
		"$API/v1/overclouds/$oc/nodes")
	[ "$got" = "$code" ] && jq -e .error "$T/ref.json" >/dev/null || fail "API: $got $(cat "$T/ref.json")"
}
marker() { echo "/run/overcloud-demo/$1/joined"; }
# The demo roles keep their markers in /run: a failed run must not leave them.
EDGES=()
trap 'for e in "${EDGES[@]}"; do rm -rf "/run/overcloud-demo/$e"; done; cleanup' EXIT

id=$(oc_create demo 1)
edge_join e1
edge=$(node_id_of e1)
row=$(tower_cli t nodes -o json | jq -c --arg id "$edge" '.[] | select(.id == $id)')
[ "$(jq -r .role <<<"$row")" = edge-worker ] && [ "$(jq -r .arch <<<"$row")" = "$(uname -m)" ] ||
	fail "tower nodes: $row"
pass "edge node $edge joined with its token: role edge-worker, arch $(uname -m)"

# Refusals, each with its status and a one-line reason.
refused 404 "no such overcloud" oc-00000000 "$edge"
refused 404 'field "node": no enrolled node "nosuch"' "$id" nosuch
post=$(oc_field t "$id" '.nodes[] | select(.group == "post") | .node_id')
refused 409 "already part of overcloud $id (this one)" "$id" "$post"
noop=$(oc_create noop 1)
refused 409 "pattern noop has no attach workflow" "$noop" "$edge"
tower_cli t delete "$noop" >/dev/null || fail "delete noop"
refused 409 "overcloud $noop is deleted; nodes are attached to a ready one" "$noop" "$edge"
code=$(api -o "$T/bad.json" -w '%{http_code}' -X POST -d '{"node": 5}' "$API/v1/overclouds/$id/nodes")
[ "$code" = 400 ] && grep -q 'field \\"node\\"' "$T/bad.json" || fail "node 5: $code $(cat "$T/bad.json")"
code=$(api -o "$T/bad.json" -w '%{http_code}' -X POST -d '{"node": "x", "group": "y"}' "$API/v1/overclouds/$id/nodes")
[ "$code" = 400 ] && grep -q 'unknown field \\"group\\"' "$T/bad.json" || fail "extra field: $code $(cat "$T/bad.json")"
code=$(api -o "$T/bad.json" -w '%{http_code}' -X POST -d '{"node": ' "$API/v1/overclouds/$id/nodes")
[ "$code" = 400 ] && grep -q 'malformed JSON' "$T/bad.json" || fail "bad JSON: $code $(cat "$T/bad.json")"
code=$(api -o /dev/null -w '%{http_code}' -X PUT -d '{}' "$API/v1/overclouds/$id/nodes")
[ "$code" = 405 ] || fail "PUT nodes: $code"
tower_cli t attach "$id" 2>"$T/usage.err" && fail "attach without NODE succeeded"
grep -q "^usage: tower attach ID NODE" "$T/usage.err" || fail "usage: $(cat "$T/usage.err")"
# Two edge devices with the same host name: the name is ambiguous.
edge_join e2
edge2=$(node_id_of e2)
refused 400 "2 nodes are named \"$(hostname)\"; give the node id" "$id" "$(hostname)"
stop_pid "$AGENT_PID_e2"
wait_until "e2 disconnected" 30 node_is t "$edge2" disconnected || fail "e2 still connected"
refused 409 "node $edge2 ($(hostname)) is not connected" "$id" "$edge2"
[ "$(oc_field t "$id" '[.nodes[] | select(.group == "attached")] | length')" = 0 ] ||
	fail "a refused attach left a node"
pass "refused: unknown overcloud/node 404, own/attached node, no attach DAG, not ready, offline 409, bad body and ambiguous name 400"

# The attach itself, followed to the end like create.
tower_cli t attach "$id" "$edge" >"$T/attach.out" 2>&1 || fail "attach: $(cat "$T/attach.out")"
grep -q "step attach/edge-join: done" "$T/attach.out" && grep -q "overcloud $id: ready" "$T/attach.out" ||
	fail "attach output: $(cat "$T/attach.out")"
oc=$(tower_cli t show "$id" -o json)
[ "$(jq -r .status <<<"$oc")" = ready ] && [ "$(jq -r .attaching <<<"$oc")" = false ] || fail "after attach: $oc"
[ "$(jq '[.steps[] | select(.dag == "attach" and .state == "done")] | length' <<<"$oc")" = 3 ] ||
	fail "attach steps: $(jq -c '[.steps[] | select(.dag == "attach")]' <<<"$oc")"
att=$(jq -c '.nodes[] | select(.group == "attached")' <<<"$oc")
[ "$(jq -r .node_id <<<"$att")" = "$edge" ] && [ "$(jq -r .role <<<"$att")" = edge-worker ] &&
	[ "$(jq -r .state <<<"$att")" = created ] && [ "$(jq -r .address <<<"$att")" = "$EDGE_HOST" ] &&
	[ "$(jq -r .provider <<<"$att")" = attached ] || fail "attached node: $att"
[ "$(jq '.logical_cluster | length' <<<"$oc")" = 1 ] || fail "the edge node counts as a cluster node: $oc"
# It ran on the edge node: its marker, the post's check of its address.
[ -f "$(marker "$edge")" ] || fail "no demo marker on the edge node"
grep -qx "address=$EDGE_HOST" "$(marker "$edge")" || fail "marker: $(cat "$(marker "$edge")")"
tower_cli t logs "$id" --step edge-check | grep -q "$EDGE_HOST: registered with a proof of the secret" ||
	fail "edge-check: $(tower_cli t logs "$id" --step edge-check)"
tower_cli t show "$id" | grep -E "^  $id-attached-0 +attached +edge-worker +$EDGE_HOST +$edge +created, connected" >/dev/null ||
	fail "show table: $(tower_cli t show "$id")"
pass "attach: the demo steps ran on $edge at $EDGE_HOST, $id is ready and lists it"

refused 409 "node $edge ($(hostname)) is already part of overcloud $id (this one)" "$id" "$edge"
pass "a node attached once is refused a second time"

# kill -9 of the tower right after it took a second attach: the restarted
# tower finishes it; -o json gives {"overcloud_id","node","status"}.
run_agent e2
wait_until "e2 back" 30 node_is t "$edge2" connected || fail "e2 did not reconnect"
tower_cli t attach "$id" "$edge2" --detach -o json >"$T/detach.json" || fail "attach --detach"
jq -e --arg id "$id" --arg n "$edge2" '.overcloud_id == $id and .node == $n and .status == "ready"' \
	"$T/detach.json" >/dev/null || fail "attach -o json: $(cat "$T/detach.json")"
kill -9 "$TOWER_PID_t"
wait "$TOWER_PID_t" 2>/dev/null || true
restart_tower_same_ports t --agents "0.0.0.0:$AGENT_PORT_t"
tower_cli t watch "$id" >"$T/watch.out" 2>&1 || fail "watch after restart: $(cat "$T/watch.out")"
oc=$(tower_cli t show "$id" -o json)
[ "$(jq -r .status <<<"$oc")" = ready ] && [ "$(jq -r .attaching <<<"$oc")" = false ] &&
	[ "$(jq -r --arg n "$edge2" '.nodes[] | select(.node_id == $n) | .state' <<<"$oc")" = created ] ||
	fail "after restart: $(jq -c '{status, attaching, nodes, steps}' <<<"$oc")"
[ -f "$(marker "$edge2")" ] || fail "no demo marker on e2"
# Only the new node's steps ran: e1's edge-join did not run again.
[ "$(jq -r '.steps[] | select(.name == "edge-join") | .nodes | join(" ")' <<<"$oc")" = "$(hostname)" ] ||
	fail "edge-join nodes: $(jq -c '.steps[] | select(.name == "edge-join")' <<<"$oc")"
pass "kill -9 of the tower mid-attach: the restart finished it, only for the new node"

# delete: the edge nodes leave (remove ran on them), the provider's nodes are
# gone, the edge agents run on, still enrolled and connected.
tower_cli t delete "$id" >"$T/delete.out" 2>&1 || fail "delete: $(cat "$T/delete.out")"
oc=$(tower_cli t show "$id" -o json)
[ "$(jq -r .status <<<"$oc")" = deleted ] || fail "status after delete: $(jq -r .status <<<"$oc")"
[ "$(jq -r '.steps[] | select(.dag == "destroy" and .name == "edge-leave") | .state' <<<"$oc")" = done ] ||
	fail "edge-leave: $(jq -c '.steps' <<<"$oc")"
for e in "$edge" "$edge2"; do
	[ ! -e "$(marker "$e")" ] || fail "the edge-leave remove did not run on $e"
done
[ -z "$(leftovers "$id")" ] || fail "left behind: $(leftovers "$id")"
kill -0 "$AGENT_PID_e1" && kill -0 "$AGENT_PID_e2" || fail "an edge agent was stopped"
for e in "$edge" "$edge2"; do
	node_is t "$e" connected || fail "edge node $e: $(node_state t "$e") after delete"
done
[ "$(tower_cli t nodes -o json | jq length)" = 2 ] || fail "nodes after delete: $(tower_cli t nodes)"
pass "delete: remove ran on the edge nodes, the provider's nodes are gone, the edge nodes stay enrolled"

# Free again: attached to a new OverCloud.
id2=$(oc_create demo 1)
tower_cli t attach "$id2" "$edge" >"$T/attach2.out" 2>&1 || fail "attach again: $(cat "$T/attach2.out")"
[ "$(oc_field t "$id2" '.nodes[] | select(.group == "attached") | .node_id')" = "$edge" ] ||
	fail "not attached to $id2"
pass "after delete the edge node is free: attached to $id2"

# delete while an attach runs: the attach stops (its open steps skipped),
# destroy undoes both nodes, which stay enrolled.
tower_cli t attach "$id2" "$edge2" --detach >/dev/null || fail "attach e2 to $id2"
tower_cli t delete "$id2" >"$T/delete2.out" 2>&1 || fail "delete while attaching: $(cat "$T/delete2.out")"
oc=$(tower_cli t show "$id2" -o json)
[ "$(jq -r .status <<<"$oc")" = deleted ] || fail "status: $(jq -c '{status, error}' <<<"$oc")"
[ "$(jq '[.steps[] | select(.state == "pending" or .state == "running")] | length' <<<"$oc")" = 0 ] ||
	fail "steps left open: $(jq -c '.steps' <<<"$oc")"
[ "$(jq -r '.steps[] | select(.dag == "destroy" and .name == "edge-leave") | .nodes | length' <<<"$oc")" = 2 ] ||
	fail "edge-leave did not run on both: $(jq -c '.steps' <<<"$oc")"
[ -z "$(leftovers "$id2")" ] || fail "left behind: $(leftovers "$id2")"
node_is t "$edge" connected && node_is t "$edge2" connected || fail "an edge node is gone after the delete"
pass "delete during an attach: deleted, no step left open, both edge nodes left and stay enrolled"
