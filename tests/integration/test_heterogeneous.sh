#!/usr/bin/env bash
# The seed's heterogeneous OverCloud, end to end: one request spreads the
# nodes over OpenStack and AWS (the post on AWS), each cloud a local fake
# (tests/fakes/openstack_fake.py, tests/fakes/fake_ec2.py) that boots a
# real agent from the user-data it was sent. Ready with the nodes where the
# request put them; delete empties both clouds.
. "$(dirname "$0")/lib.sh"

REPO=${OC_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
HERE="$REPO/tests/integration"
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml missing (packaging/deps.sh installs it)"
for v in $(compgen -e | grep -E '^(AWS|OS)_' || true); do unset "$v"; done
PIDS_FAKE=()
fakes_cleanup() {
	local rc=$? pid
	for pid in "${PIDS_FAKE[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS_FAKE[@]}"; do wait "$pid" 2>/dev/null || true; done
	pkill -9 -f "overcloud-agent.*$T/" 2>/dev/null || true
	set +e # under errexit, (exit $rc) would end the trap before cleanup
	(exit "$rc")
	cleanup
}
trap fakes_cleanup EXIT

# One test CA for both fake clouds, and a server certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=overcloud test clouds CA" -keyout "$T/ca.key" -out "$T/ca.pem" 2>>"$T/openssl.log"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>>"$T/openssl.log"
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$T/srv.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/srv.ext" -out "$T/srv.pem" 2>>"$T/openssl.log" || fail "test CA"

PW="pw-$(head -c 12 /dev/urandom | xxd -p)"
FAKE_OS_PASSWORD="$PW" python3 "$REPO/tests/fakes/openstack_fake.py" --cert "$T/srv.pem" \
	--key "$T/srv.key" --port-file "$T/os.port" --state "$T/os" --agent "$AGENT" \
	--log "$T/os.log" >>"$T/os.log" 2>&1 &
PIDS_FAKE+=($!)
KEY_ID="AKIDOCTEST$(openssl rand -hex 5 | tr a-f A-F)"
SECRET=$(openssl rand -base64 30 | tr -d '\n/+=')
mkdir -p "$T/ec2"
python3 "$REPO/tests/fakes/fake_ec2.py" serve --port-file "$T/ec2.port" --cert "$T/srv.pem" --key "$T/srv.key" \
	--state "$T/ec2" --region eu-west-1 --access-key "$KEY_ID" --secret-key "$SECRET" \
	--agent "$AGENT" >>"$T/ec2.log" 2>&1 &
PIDS_FAKE+=($!)
wait_until "fake clouds listen" 30 test -s "$T/os.port" -a -s "$T/ec2.port" || fail "fakes did not start"

(
	umask 077
	cat >"$T/tower.conf" <<-CONF
	[openstack]
	auth_url = https://127.0.0.1:$(cat "$T/os.port")/identity/v3
	username = oc-user
	password = $PW
	project_name = oc-project
	user_domain_name = Default
	project_domain_name = Default
	region_name = RegionOne
	image = debian-12
	network = oc-net
	cacert = $T/ca.pem
	boot_timeout = 60
	poll_interval_ms = 100

	[aws]
	region = eu-west-1
	endpoint = https://127.0.0.1:$(cat "$T/ec2.port")/
	ca_bundle = $T/ca.pem
	image = ami-0123456789abcdef0
	subnet = subnet-0123456789abcdef0
	security_group = sg-0123456789abcdef0
	access_key_id = $KEY_ID
	secret_access_key = $SECRET
	poll_interval = 100ms
	CONF
)
start_tower t --config "$T/tower.conf" --roles "$HERE/roles" --patterns "$HERE/patterns"
api() { curl -sS --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" -H "Content-Type: application/json" "$@"; }

# The seed's v1 body, spelled as the seed spells it.
code=$(api -o "$T/post.json" -w '%{http_code}' -X POST -H "Content-Type: application/json" \
	-d '{"provider": "heterogeneous", "pattern": "noop",
	     "OpenStack": {"number": "2", "size": "m1.small", "post": "no"},
	     "Amazon": {"number": "1", "size": "t3.small", "post": "yes"}}' \
	"https://127.0.0.1:$API_PORT_t/overclouds")
[ "$code" = 202 ] || fail "POST /overclouds: $code $(cat "$T/post.json")"
id=$(jq -r .overcloud_id "$T/post.json")
wait_until "overcloud ready" 120 bash -c "! [ \"\$('$TOWER' --state '$T/t' show $id -o json | jq -r .status)\" = creating ]"
oc=$(tower_cli t show "$id" -o json)
[ "$(jq -r .status <<<"$oc")" = ready ] || fail "status: $(jq -c '{status, error, steps}' <<<"$oc")"
[ "$(jq -r .provider <<<"$oc")" = heterogeneous ] || fail "provider: $(jq -r .provider <<<"$oc")"
[ "$(jq -c '[.nodes[] | select(.group == "post") | .provider]' <<<"$oc")" = '["aws"]' ] ||
	fail "post not on aws: $(jq -c .nodes <<<"$oc")"
[ "$(jq -c '[.nodes[] | select(.group == "cluster") | .provider] | sort' <<<"$oc")" = '["aws","openstack","openstack"]' ] ||
	fail "clusters not 2 openstack + 1 aws: $(jq -c .nodes <<<"$oc")"
[ "$(tower_cli t nodes -o json | jq '[.[] | select(.state == "connected")] | length')" = 4 ] ||
	fail "4 agents not connected"
os_servers=$(curl -sS --cacert "$T/ca.pem" "https://127.0.0.1:$(cat "$T/os.port")/_fake/inventory")
[ "$(jq '.servers | length' <<<"$os_servers")" = 2 ] || fail "openstack servers: $os_servers"
[ "$(jq '[.[] | select(.state != "terminated")] | length' "$T/ec2/inventory.json")" = 2 ] ||
	fail "ec2 instances: $(cat "$T/ec2/inventory.json")"
[ "$(jq -r '[.[] | select(.state != "terminated") | .type] | unique | .[0]' "$T/ec2/inventory.json")" = t3.small ] ||
	fail "ec2 instance type: $(cat "$T/ec2/inventory.json")"
pass "heterogeneous create: post on AWS, 2 clusters on OpenStack + 1 on AWS, 4 agents connected"

tower_cli t delete "$id" >"$T/delete.out" 2>&1 || fail "delete: $(cat "$T/delete.out")"
oc_status_is t "$id" deleted || fail "status after delete: $(oc_field t "$id" .status)"
wait_until "openstack empty" 30 bash -c "[ \"\$(curl -sS --cacert '$T/ca.pem' https://127.0.0.1:$(cat "$T/os.port")/_fake/inventory | jq '.servers | length')\" = 0 ]" ||
	fail "openstack servers left"
[ "$(jq '[.[] | select(.state != "terminated")] | length' "$T/ec2/inventory.json")" = 0 ] ||
	fail "ec2 instances left: $(cat "$T/ec2/inventory.json")"
wait_until "the clouds stop their agents" 30 bash -c "! pgrep -f '^$AGENT (join|run) .*$T/'" ||
	fail "agents left: $(pgrep -af "^$AGENT (join|run) .*$T/")"
grep -rqF "$SECRET" "$T"/t.log "$T"/t/logs "$T/delete.out" 2>/dev/null && fail "the AWS secret key reached a log"
grep -rqF "$PW" "$T"/t.log "$T"/t/logs "$T/delete.out" 2>/dev/null && fail "the OpenStack password reached a log"
pass "heterogeneous delete: both clouds empty, no agent left, no secret in the logs"
