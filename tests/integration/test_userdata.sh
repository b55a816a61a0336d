#!/usr/bin/env bash
# cloud-init user-data and what a booting node fetches: the public agent
# artifact endpoint (bytes + checksum, 404s), POST /v1/userdata's 400s, the
# real `cloud-init schema` over every role x arch (and a broken document
# failing it), the 16 KB limit, and the edge join line of `tower token create`.
. "$(dirname "$0")/lib.sh"

command -v cloud-init >/dev/null || fail "cloud-init is not installed (packaging/deps.sh)"
python3 -c 'import jsonschema, yaml' 2>/dev/null ||
	fail "python3-jsonschema / python3-yaml missing: cloud-init schema would not validate"

# Stand-in binaries for the foreign arches; the real agent for x86_64.
ART="$T/artifacts"
mkdir -p "$ART"
cp "$AGENT" "$ART/overcloud-agent-x86_64"
head -c 70000 /dev/urandom >"$ART/overcloud-agent-aarch64"
head -c 50000 /dev/urandom >"$ART/overcloud-agent-armv7"
start_tower t --artifacts "$ART" --cloud-init "$REPO/cloud-init"
URL="https://127.0.0.1:$API_PORT_t"
CA="$T/t/ca.pem"
AUTH=(-H "Authorization: Bearer $(cat "$T/t/admin.token")")

# call METHOD PATH [curl args...]: body to $T/body, headers to $T/head; prints the status.
call() {
	local method=$1 path=$2
	shift 2
	curl -sS --cacert "$CA" -H "Content-Type: application/json" -X "$method" -D "$T/head" -o "$T/body" -w '%{http_code}' "$URL$path" "$@"
}
expect() {
	local want=$1 got=$2 what=$3
	[ "$got" = "$want" ] || fail "$what: status $got, want $want: $(head -c 300 "$T/body")"
	if [ "$want" -ge 400 ]; then
		jq -e 'has("error") and has("detail")' "$T/body" >/dev/null ||
			fail "$what: body is not a JSON error: $(head -c 300 "$T/body")"
	fi
}

# ---- GET /v1/artifacts/agent/{arch}: public, exact bytes, checksum header ----
for arch in x86_64 aarch64 armv7; do
	expect 200 "$(call GET "/v1/artifacts/agent/$arch")" "agent $arch"
	cmp -s "$T/body" "$ART/overcloud-agent-$arch" || fail "agent $arch: bytes differ"
	want=$(sha256sum "$ART/overcloud-agent-$arch" | cut -d ' ' -f 1)
	got=$(tr -d '\r' <"$T/head" | sed -n 's/^X-Checksum-Sha256: //Ip')
	[ "$got" = "$want" ] || fail "agent $arch: X-Checksum-Sha256 '$got', want $want"
	grep -qi '^Content-Type: application/octet-stream' "$T/head" || fail "agent $arch: type"
done
# A rewritten file is hashed again, not served with a stale checksum.
head -c 1234 /dev/urandom >"$ART/overcloud-agent-armv7"
expect 200 "$(call GET /v1/artifacts/agent/armv7)" "agent armv7 after rewrite"
want=$(sha256sum "$ART/overcloud-agent-armv7" | cut -d ' ' -f 1)
grep -qi "^X-Checksum-Sha256: $want" "$T/head" || fail "stale checksum after rewrite"
cmp -s "$T/body" "$ART/overcloud-agent-armv7" || fail "stale bytes after rewrite"
pass "agent artifacts: exact bytes and X-Checksum-Sha256 for x86_64, aarch64, armv7, without a token"

expect 404 "$(call GET /v1/artifacts/agent/mips)" "unknown arch"
expect 404 "$(call GET /v1/artifacts/agent/x86_64/extra)" "path under an arch"
expect 404 "$(call GET /v1/artifacts/agent/)" "no arch"
expect 400 "$(call GET /v1/artifacts/agent/..%2f..%2fca.key)" "traversal"
expect 405 "$(call POST /v1/artifacts/agent/x86_64)" "POST to an artifact"
pass "artifacts: 404 JSON for unknown arches and paths, 405 for other methods"

# ---- POST /v1/userdata: 400s with reasons ----
expect 401 "$(call POST /v1/userdata -d '{"role":"k8s-worker"}')" "no token"
expect 405 "$(call GET /v1/userdata "${AUTH[@]}")" "GET"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}")" "no body"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role": ')" "malformed JSON"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '["k8s-worker"]')" "array body"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"arch":"x86_64"}')" "no role"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role":7}')" "role not a string"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role":"Bad Role"}')" "bad role name"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role":"no-such-role"}')" "unknown role"
grep -q 'no such role' "$T/body" || fail "unknown role: $(cat "$T/body")"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role":"k8s-worker","arch":"mips"}')" "bad arch"
grep -q 'x86_64, aarch64 or armv7' "$T/body" || fail "bad arch: $(cat "$T/body")"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role":"k8s-worker","arch":64}')" "arch not a string"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role":"k8s-worker","ttl":"1h"}')" "unknown field"
grep -q 'unknown field' "$T/body" || fail "unknown field: $(cat "$T/body")"
expect 400 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role":"k8s-master","arch":"armv7"}')" "arch the role lacks"
grep -q 'does not run on armv7' "$T/body" || fail "role/arch: $(cat "$T/body")"
expect 200 "$(call POST /v1/userdata "${AUTH[@]}" -d '{"role":"k8s-worker"}')" "good request"
grep -qi '^Content-Type: text/yaml' "$T/head" || fail "user-data content type"
cp "$T/body" "$T/default.yaml"
pass "POST /v1/userdata: 401, 405, 400 with reasons"

# CLI: one-line errors, non-zero.
if tower_cli t userdata --role k8s-worker --arch sparc 2>"$T/err"; then fail "CLI took arch sparc"; fi
[ "$(wc -l <"$T/err")" = 1 ] && grep -q 'arch' "$T/err" || fail "CLI error: $(cat "$T/err")"
if tower_cli t userdata 2>"$T/err"; then fail "CLI without --role"; fi
grep -q '^usage: tower userdata' "$T/err" || fail "CLI usage: $(cat "$T/err")"
pass "tower userdata: one-line errors"

# ---- the real cloud-init schema, every role x every arch ----
# Python starts slowly on a busy machine: one run for many files each time.
# join_confs FILE...: writes the join.conf each user-data carries to FILE.conf.
join_confs() {
	python3 - "$@" <<'EOF'
import sys, yaml
for name in sys.argv[1:]:
    for f in yaml.safe_load(open(name))["write_files"]:
        if f["path"] == "/etc/overcloud/join.conf":
            open(name + ".conf", "w").write(f["content"])
EOF
}
schema_ok() {
	cloud-init schema --config-file "$1" >"$T/schema.out" 2>&1 &&
		grep -q '^Valid cloud-config' "$T/schema.out"
}

# The validator really validates: a wrong type fails it.
tower_cli t userdata --role k8s-worker >"$T/good.yaml"
schema_ok "$T/good.yaml" || fail "rendered user-data fails the schema: $(cat "$T/schema.out")"
sed "s/permissions: '0600'/permissions: 600/" "$T/good.yaml" >"$T/broken.yaml"
! cmp -s "$T/good.yaml" "$T/broken.yaml" || fail "could not break the document"
if cloud-init schema --config-file "$T/broken.yaml" >"$T/schema.out" 2>&1; then
	fail "cloud-init schema accepted write_files with an integer mode: $(cat "$T/schema.out")"
fi
grep -q "permissions" "$T/schema.out" || fail "schema error does not name the field: $(cat "$T/schema.out")"
sed 's|^- path: /etc/overcloud/ca.pem|- pth: /etc/overcloud/ca.pem|' "$T/good.yaml" >"$T/broken2.yaml"
! cmp -s "$T/good.yaml" "$T/broken2.yaml" || fail "could not break the document"
if cloud-init schema --config-file "$T/broken2.yaml" >"$T/schema.out" 2>&1; then
	fail "cloud-init schema accepted a write_files entry without a path"
fi
grep -q "'path' is a required property" "$T/schema.out" || fail "schema error: $(cat "$T/schema.out")"
pass "cloud-init schema validates: an integer mode and a file without a path both fail it"

# "ROLE ARCH..." per shipped role, from its role.yaml.
python3 - "$REPO"/tower/roles/*/role.yaml >"$T/archs" <<'EOF'
import sys, yaml
for name in sys.argv[1:]:
    role = yaml.safe_load(open(name))
    print(role["name"], " ".join(role["archs"]))
EOF
roles=0 renders=0 max=0 rendered=()
while read -r role archs; do
	roles=$((roles + 1))
	for arch in x86_64 aarch64 armv7; do
		out="$T/ud-$role-$arch.yaml"
		if [[ " $archs " != *" $arch "* ]]; then
			if tower_cli t userdata --role "$role" --arch "$arch" >"$out" 2>"$T/err"; then
				fail "$role rendered for $arch, which it does not run on"
			fi
			grep -q "does not run on $arch" "$T/err" || fail "$role/$arch: $(cat "$T/err")"
			continue
		fi
		tower_cli t userdata --role "$role" --arch "$arch" >"$out" 2>"$T/err" ||
			fail "userdata $role $arch: $(cat "$T/err")"
		size=$(stat -c %s "$out")
		[ "$size" -le 16384 ] || fail "$role/$arch: $size bytes, over 16 KB"
		[ "$size" -gt "$max" ] && max=$size
		[ "$(head -n 1 "$out")" = "#cloud-config" ] || fail "$role/$arch: no #cloud-config line"
		rendered+=("$out")
		renders=$((renders + 1))
	done
done <"$T/archs"
[ "$roles" -ge 8 ] || fail "only $roles roles found in $REPO/tower/roles"
join_confs "${rendered[@]}" "$T/default.yaml"
grep -qx 'arch = x86_64' "$T/default.yaml.conf" || fail "arch does not default to x86_64"
for out in "${rendered[@]}"; do
	name=${out#"$T/ud-"}
	name=${name%.yaml}
	arch=${name##*-}
	role=${name%-*}
	conf="$out.conf"
	grep -qx "role = $role" "$conf" || fail "$name: role line: $(cat "$conf")"
	grep -qx "arch = $arch" "$conf" || fail "$name: arch line: $(cat "$conf")"
	grep -qx "agent_sha256 = $(sha256sum "$ART/overcloud-agent-$arch" | cut -d ' ' -f 1)" "$conf" ||
		fail "$name: checksum is not the served binary's: $(cat "$conf")"
	grep -qx "tower = 127.0.0.1:$AGENT_PORT_t" "$conf" || fail "$name: tower line"
	grep -qx "api = 127.0.0.1:$API_PORT_t" "$conf" || fail "$name: api line"
done
# One cloud-init process per file, a few at once (each takes a while to start).
printf '%s\n' "${rendered[@]}" | xargs -P 4 -I{} sh -c \
	'cloud-init schema --config-file "$1" >"$1.schema" 2>&1; echo $? >"$1.rc"' sh {}
for out in "${rendered[@]}"; do
	[ "$(cat "$out.rc")" = 0 ] && grep -q '^Valid cloud-config' "$out.schema" ||
		fail "$(basename "$out") fails cloud-init schema: $(cat "$out.schema")"
done
tokens=$(cat "${rendered[@]/%/.conf}" | sed -n 's/^token = //p')
[ "$(sort -u <<<"$tokens" | wc -l)" = "$renders" ] || fail "tokens repeat across renders"
# Each is a single-use token that expires within the hour.
tid=$(head -n 1 <<<"$tokens")
tid=${tid%%.*}
row=$(sqlite3 "$T/t/tower.db" "SELECT uses_left, expires_at - created_at, role FROM tokens WHERE id = '$tid'")
[[ "$row" =~ ^1\|(3600|3599|3601)\| ]] || fail "user-data token $tid: uses|ttl|role = $row"
pass "cloud-init schema passes for $renders role x arch renders of $roles roles; largest $max bytes (<= 16384); a fresh token each"

# ---- edge join: the line `tower token create` prints is the whole story ----
tower_cli t token create --role edge-worker >"$T/tok.out" 2>"$T/tok.err" || fail "token create: $(cat "$T/tok.err")"
[ "$(wc -l <"$T/tok.out")" = 2 ] || fail "token create printed more than token + join line: $(cat "$T/tok.out")"
tok=$(sed -n '1s/^token: //p' "$T/tok.out")
line=$(sed -n 2p "$T/tok.out")
[[ "$tok" =~ ^[0-9a-f]{12}\.[0-9a-f]{32}$ ]] || fail "token line: $(head -n 1 "$T/tok.out")"
[[ "$line" =~ ^overcloud-agent\ join\ --tower\ 127\.0\.0\.1:$AGENT_PORT_t\ --token\ $tok\ --ca-hash\ sha256:[0-9a-f]{64}$ ]] ||
	fail "join line: $line"
read -r -a words <<<"$line"
"$AGENT" "${words[@]:1}" --state "$T/pi" >>"$T/pi.log" 2>&1 &
PIDS+=($!)
wait_until "edge node enrolled" 30 test -s "$T/pi/agent.conf" || fail "the printed join line did not join"
id=$(node_id_of pi)
wait_until "edge node connected" 30 node_is t "$id" connected || fail "edge node never connected"
row=$(tower_cli t nodes -o json | jq -c --arg id "$id" '.[] | select(.id == $id)')
machine=$(uname -m)
[ "$(jq -r .arch <<<"$row")" = "$machine" ] || fail "edge node arch: $row (machine $machine)"
[ "$(jq -r .role <<<"$row")" = edge-worker ] || fail "edge node role: $row"
tower_cli t nodes | grep -E "$id +[^ ]+ +$machine +edge-worker +connected" >/dev/null ||
	fail "tower nodes table: $(tower_cli t nodes)"
pass "token create --role edge-worker prints token + one join line; the node joined with it shows as $machine, edge-worker"
