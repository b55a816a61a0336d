#!/usr/bin/env bash
# The HTTPS API: bearer auth, JSON errors with the right status, the CLI's
# machine output, and bad input handled without harm.
. "$(dirname "$0")/lib.sh"

start_tower t
URL="https://127.0.0.1:$API_PORT_t"
CA="$T/t/ca.pem"
ADMIN=$(cat "$T/t/admin.token")

# call METHOD PATH [curl args...]: prints "STATUS BODY".
call() {
	local method=$1 path=$2
	shift 2
	curl -sS --cacert "$CA" -H "Content-Type: application/json" -X "$method" -o "$T/body" -w '%{http_code}' "$URL$path" "$@"
}
expect() {
	local want=$1 got=$2 what=$3
	[ "$got" = "$want" ] || fail "$what: status $got, want $want: $(cat "$T/body")"
	jq -e 'has("error") and has("detail")' "$T/body" >/dev/null || fail "$what: body is not a JSON error: $(cat "$T/body")"
}

expect 401 "$(call GET /v1/nodes)" "no token"
expect 401 "$(call GET /v1/nodes -H "Authorization: Bearer nope")" "wrong token"
expect 401 "$(call GET /v1/nodes -H "Authorization: Bearer ${ADMIN}x")" "token with extra char"
expect 401 "$(call POST /v1/tokens -d '{"role":"x"}')" "post without token"
pass "missing and wrong tokens get 401 JSON"

AUTH=(-H "Authorization: Bearer $ADMIN")
expect 404 "$(call GET /v1/nope "${AUTH[@]}")" "unknown path"
expect 404 "$(call GET /v1/nodes/x/y "${AUTH[@]}")" "unknown sub path"
expect 405 "$(call PUT /v1/nodes "${AUTH[@]}")" "wrong method"
expect 400 "$(call POST /v1/tokens "${AUTH[@]}" -d '{"role": ')" "malformed JSON"
expect 400 "$(call POST /v1/tokens "${AUTH[@]}" -d '[1,2]')" "array body"
expect 400 "$(call POST /v1/tokens "${AUTH[@]}" -d '{"role":"Bad Role"}')" "bad role"
expect 400 "$(call POST /v1/tokens "${AUTH[@]}" -d '{"role":"w","ttl":"soon"}')" "bad ttl"
expect 400 "$(call POST /v1/tokens "${AUTH[@]}" -d '{"role":"w","uses":0}')" "zero uses"
expect 400 "$(call POST /v1/tokens "${AUTH[@]}" -d '{"role":"w","role":"x"}')" "duplicate key"
expect 404 "$(call DELETE /v1/nodes/n-0000000000000000 "${AUTH[@]}")" "delete unknown node"
grep -q "malformed JSON" "$T/body" || true
pass "unknown paths 404, bad JSON and bad fields 400, all JSON"

# A body over the 1 MiB limit is refused with 413 before it is read.
head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' 'a' >"$T/big"
code=$(call POST /v1/tokens "${AUTH[@]}" --data-binary @"$T/big")
[ "$code" = 413 ] || fail "big body: status $code"
pass "body over 1 MiB gets 413"

code=$(call GET /v1/ca.pem)
[ "$code" = 200 ] && cmp -s "$T/body" "$CA" || fail "ca.pem: $code"
code=$(call GET /metrics "${AUTH[@]}")
[ "$code" = 200 ] && grep -q '^overcloud_agents_connected 0$' "$T/body" || fail "metrics: $code $(cat "$T/body")"
pass "ca.pem served, /metrics in Prometheus text format"

# One tower on sqlite leads by itself: status says so rather than a lease.
st=$(tower_cli t status -o json)
[ "$(jq -r .shared <<<"$st")" = false ] || fail "status of one tower: $st"
[ "$(jq -r '.replicas | length' <<<"$st")" = 1 ] || fail "status of one tower: $st"
tower_cli t status | grep -q "^one tower: its store is its own (sqlite)" ||
	fail "status text of one tower: $(tower_cli t status)"
pass "tower status of one tower on sqlite"

# CLI machine output keeps the contract's field names.
out=$(tower_cli t token create --role k8s-worker --ttl 10m --uses 3 -o json)
jq -e 'keys == ["join","token"]' <<<"$out" >/dev/null || fail "token create -o json: $out"
out=$(tower_cli t nodes -o json)
[ "$out" = "[]" ] || fail "nodes -o json on an empty tower: $out"
# CLI errors: one line, non-zero.
if tower_cli t token create --role "NO WAY" 2>"$T/err"; then fail "bad role accepted by CLI"; fi
[ "$(wc -l <"$T/err")" = 1 ] && grep -q "^tower: " "$T/err" || fail "CLI error not one line: $(cat "$T/err")"
if tower_cli t token create --role w --ttl soon 2>"$T/err"; then fail "bad ttl accepted"; fi
grep -q "not a duration" "$T/err" || fail "bad ttl message: $(cat "$T/err")"
if "$TOWER" --state "$T/missing" nodes 2>"$T/err"; then fail "nodes without a tower succeeded"; fi
grep -q "no tower found" "$T/err" || fail "missing tower message: $(cat "$T/err")"
# The environment route works too.
OVERCLOUD_URL="$URL" OVERCLOUD_TOKEN="$ADMIN" OVERCLOUD_CA="$CA" "$TOWER" nodes -o json >/dev/null ||
	fail "OVERCLOUD_URL route failed"
pass "CLI: -o json field names, one-line errors, env discovery"

# Slow and broken clients do not take the API down.
for i in $(seq 1 20); do
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$API_PORT_t; head -c 300 /dev/urandom >&3" || true
done
code=$(call GET /v1/nodes "${AUTH[@]}")
[ "$code" = 200 ] || fail "API down after garbage: $code"
pass "API survives garbage connections"
