#!/usr/bin/env bash
# The main job end to end on the local provider: create an OverCloud of
# 1 post + 3 clusters with the demo pattern, see it ready with distinct
# addresses, delete it and find nothing left; the seed's own v1 calls; and
# every bad request refused with a 400 naming the field.
. "$(dirname "$0")/lib.sh"

# Agents in their own network namespaces dial the tower on the bridge. The
# seed's request names no pattern: here the tower's default is the demo.
start_tower t --agents 0.0.0.0:0 --default-pattern demo
API="https://127.0.0.1:$API_PORT_t"
api() { curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" -H "Content-Type: application/json" "$@"; }

tower_cli t create --provider local --number 3 --pattern demo >"$T/create.out" 2>"$T/create.err" ||
	fail "create failed: $(tail -n 20 "$T/create.out" "$T/create.err")"
id=$(grep -o 'oc-[0-9a-f]*' "$T/create.out" | head -n 1)
[ -n "$id" ] || fail "no overcloud id in: $(cat "$T/create.out")"
grep -q "overcloud $id: ready" "$T/create.out" || fail "create output: $(cat "$T/create.out")"
oc=$(tower_cli t show "$id" -o json)
[ "$(jq -r .status <<<"$oc")" = ready ] || fail "status: $oc"
[ "$(jq '.nodes | length' <<<"$oc")" = 4 ] || fail "nodes: $(jq -c .nodes <<<"$oc")"
[ "$(jq '[.steps[] | select(.dag == "create" and .state != "done")] | length' <<<"$oc")" = 0 ] ||
	fail "steps not done: $(jq -c '.steps' <<<"$oc")"
[ "$(jq '.logical_cluster | length' <<<"$oc")" = 3 ] || fail "logical_cluster: $oc"
[ "$(jq -r .devops_post <<<"$oc")" != null ] || fail "devops_post: $oc"
if [ "$(id -u)" = 0 ]; then
	[ "$(jq '[.nodes[].address] | unique | length' <<<"$oc")" = 4 ] ||
		fail "addresses not distinct: $(jq -c '[.nodes[].address]' <<<"$oc")"
fi
[ "$(tower_cli t nodes -o json | jq '[.[] | select(.state == "connected")] | length')" = 4 ] ||
	fail "nodes not connected"
tower_cli t logs "$id" --step cluster-join | grep -q . || fail "no logs for cluster-join"
# On a terminal the steps are a table drawn in colour (script(1) gives a tty).
env -u CI script -qec "$TOWER --state $T/t watch $id" /dev/null >"$T/tty.out" 2>&1 || fail "watch on a tty"
grep -q $'\033\[32mdone' "$T/tty.out" && grep -q "STEP" "$T/tty.out" || fail "no table on a tty: $(head -c 300 "$T/tty.out")"
pass "create: 1 post + 3 clusters ready, addresses $(jq -c '[.nodes[].address]' <<<"$oc")"

tower_cli t delete "$id" >"$T/delete.out" 2>&1 || fail "delete failed: $(cat "$T/delete.out")"
oc_status_is t "$id" deleted || fail "status after delete: $(oc_field t "$id" .status)"
left=$(leftovers "$id")
[ -z "$left" ] || fail "left behind: $left"
[ "$(tower_cli t nodes -o json | jq length)" = 0 ] || fail "nodes still listed after delete"
pass "delete: deleted, nothing left behind"

# The seed's own request, unchanged.
code=$(curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" \
	-X POST -H "Content-Type: application/json" \
	-d '{"provider": "local", "number": "3", "size": "m1.small"}' \
	-o "$T/seed.json" -w '%{http_code}' "https://127.0.0.1:$API_PORT_t/overclouds")
[ "$code" = 202 ] || fail "seed POST /overclouds: $code $(cat "$T/seed.json")"
sid=$(jq -r .overcloud_id "$T/seed.json")
api "$API/overclouds" | jq -e --arg id "$sid" 'map(.overcloud_id) | index($id) != null' >/dev/null ||
	fail "GET /overclouds does not list $sid"
wait_until "seed overcloud settles" 120 bash -c "! [ \"\$('$TOWER' --state '$T/t' show $sid -o json | jq -r .status)\" = creating ]"
code=$(api -X DELETE -d "{\"overcloud_id\": \"$sid\"}" -o "$T/del.json" -w '%{http_code}' "$API/overclouds")
[ "$code" = 202 ] || fail "seed DELETE /overclouds: $code $(cat "$T/del.json")"
wait_until "seed overcloud deleted" 120 oc_status_is t "$sid" deleted || fail "seed overcloud not deleted"
pass "seed v1 calls: POST, GET, DELETE /overclouds"

# Bad requests: 400 naming the field.
bad() {
	local body=$1 field=$2
	code=$(api -o "$T/bad.json" -w '%{http_code}' -X POST -d "$body" "$API/v1/overclouds")
	[ "$code" = 400 ] && grep -q "$field" "$T/bad.json" ||
		fail "$body: $code $(cat "$T/bad.json")"
}
bad '{"provider": "local", "number": "abc", "pattern": "demo"}' number
bad '{"provider": "local", "number": 0, "pattern": "demo"}' number
bad '{"provider": "local", "number": -1, "pattern": "demo"}' number
bad '{"provider": "local", "number": 100000, "pattern": "demo"}' number
bad '{"provider": "nimbus", "number": 1, "pattern": "demo"}' provider
bad '{"provider": "local", "number": 1, "pattern": "nope"}' pattern
bad '{"provider": "local", "number": 1, "pattern": "demo", "colour": "red"}' colour
bad '{"provider": "local", "number": 1, ' JSON
# The seed's heterogeneous form: number, size and post per provider.
bad '{"provider": "heterogeneous"}' heterogeneous
bad '{"provider": "heterogeneous", "local": {"number": "1", "post": "no"}}' post
bad '{"provider": "heterogeneous", "local": {"number": "1", "post": "maybe"}}' local.post
bad '{"provider": "heterogeneous", "local": {"number": "x", "post": "yes"}}' local.number
bad '{"provider": "heterogeneous", "local": {"number": "1", "post": "yes", "disk": 1}}' local.disk
bad '{"provider": "heterogeneous", "nimbus": {"number": "1", "post": "yes"}}' nimbus
bad '{"provider": "heterogeneous", "local": {"number": "1", "post": "yes"}, "number": 2}' number
bad '{"provider": "local", "number": 1, "local": {"number": "1"}}' 'unknown field'
# The CLI's form of it: --part PROVIDER:N[:SIZE][:post], one-line errors.
tower_cli t create --part local:x --pattern demo 2>"$T/part.err" && fail "--part local:x accepted"
grep -qx 'tower: --part: "local:x" is not PROVIDER:N\[:SIZE\]\[:post\]' "$T/part.err" ||
	fail "--part error: $(cat "$T/part.err")"
tower_cli t create --part local:1 --pattern demo 2>"$T/part.err" && fail "--part without a post accepted"
grep -q 'field "post": exactly one provider must host the post' "$T/part.err" ||
	fail "--part without post: $(cat "$T/part.err")"
head -c $((1024 * 1024 + 100)) /dev/zero | tr '\0' ' ' >"$T/big.json"
code=$(api -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/big.json" "$API/v1/overclouds")
[ "$code" = 413 ] || fail "body over 1 MiB: $code"
code=$(api -o "$T/nf.json" -w '%{http_code}' "$API/v1/overclouds/oc-00000000")
[ "$code" = 404 ] || fail "unknown id: $code"
code=$(api -o "$T/nf.json" -w '%{http_code}' -X DELETE "$API/v1/overclouds/oc-00000000")
[ "$code" = 404 ] || fail "delete unknown id: $code"
pass "bad requests refused: 400 naming the field, 413, 404"
