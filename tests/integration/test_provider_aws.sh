#!/usr/bin/env bash
# The aws provider against a local fake EC2 (tests/fakes/fake_ec2.py,
# HTTPS with its own test CA, an independent SigV4 check in Python):
#   1. the fake rejects what EC2 rejects (bad/expired/missing signature parts,
#      wrong Version, bad or missing parameters, unknown instance ids);
#   2. the provider alone (tool mode of tests/unit/test_provider_aws.c):
#      create -> running with an address, destroy -> terminated, destroy again
#      and of an unknown id -> success; 503 / RequestLimitExceeded then
#      success -> retried; an instance stuck in pending -> timeout, terminated,
#      clear error;
#   3. the whole workflow: `tower serve --config` with [aws] + AWS_CA_BUNDLE and
#      the AWS_* variables, `tower create --provider aws --number 2`: the fake
#      boots each "instance" by starting a real agent from the user-data it got;
#      ready; `tower delete` -> every instance terminated, no agent left;
#      InstanceLimitExceeded on the 3rd launch -> failed create, and nothing
#      left running (rollback), also after `tower delete`;
#   4. no secret in any log or answer the test produced.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
# Only what this test sets: a real AWS_* of the caller must not leak in.
for v in $(compgen -e | grep '^AWS_' || true); do unset "$v"; done
FAKE="$REPO/tests/fakes/fake_ec2.py"
TOOL="$OC_BIN/../tests/test_provider_aws"
[ -x "$TOOL" ] || fail "$TOOL missing (build the unit tests: it drives the provider)"
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml missing (packaging/deps.sh installs it)"

REGION=eu-west-1
KEY_ID="AKIDOCTEST$(openssl rand -hex 5 | tr a-f A-F)"
SECRET=$(openssl rand -base64 30 | tr -d '\n/+=')
SESSION=$(openssl rand -base64 60 | tr -d '\n')
IMAGE=ami-0123456789abcdef0
SUBNET=subnet-0123456789abcdef0
SG=sg-0123456789abcdef0
FAKE_PIDS=()

aws_cleanup() {
	local rc=$? pid
	set +e
	for pid in "${FAKE_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${FAKE_PIDS[@]}"; do
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	pkill -9 -f "overcloud-agent.*$T/" 2>/dev/null
	(exit "$rc")
	cleanup
}
trap aws_cleanup EXIT

# ---- a test CA and the fake's server certificate (IP 127.0.0.1) ----
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ec2-ca.key" 2>/dev/null
openssl req -x509 -new -key "$T/ec2-ca.key" -subj "/CN=fake-ec2 test CA" -days 2 \
	-out "$T/ec2-ca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ec2.key" 2>/dev/null
openssl req -new -key "$T/ec2.key" -subj "/CN=127.0.0.1" -out "$T/ec2.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$T/ec2.ext"
openssl x509 -req -in "$T/ec2.csr" -CA "$T/ec2-ca.pem" -CAkey "$T/ec2-ca.key" -CAcreateserial \
	-days 2 -extfile "$T/ec2.ext" -out "$T/ec2.pem" 2>/dev/null || fail "test CA"

# start_fake NAME [ARGS...]: a fake EC2 with state in $T/NAME, log $T/NAME.log;
# sets PORT_<NAME>.
start_fake() {
	local name=$1
	shift
	mkdir -p "$T/$name"
	python3 "$FAKE" serve --port-file "$T/$name/port" --cert "$T/ec2.pem" --key "$T/ec2.key" \
		--state "$T/$name" --region "$REGION" --access-key "$KEY_ID" --secret-key "$SECRET" \
		--session-token "$SESSION" --image "$IMAGE" --subnet "$SUBNET" --security-group "$SG" \
		"$@" >>"$T/$name.log" 2>&1 &
	FAKE_PIDS+=($!)
	wait_until "fake EC2 $name to listen" 30 test -s "$T/$name/port" || fail "fake $name did not start"
	eval "PORT_$name=$(cat "$T/$name/port")"
}

# conf NAME [EXTRA LINES...]: prints the path of a new tower.conf whose [aws]
# points at fake NAME (credentials only if given as extra lines).
conf() {
	local name=$1 port file
	shift
	port=$(eval echo "\$PORT_$name")
	file=$(mktemp "$T/$name.XXXXXX.conf")
	{
		echo "[aws]"
		echo "region = $REGION"
		echo "endpoint = https://127.0.0.1:$port/"
		echo "ca_bundle = $T/ec2-ca.pem"
		echo "image = $IMAGE"
		echo "subnet = $SUBNET"
		echo "security_group = $SG"
		echo "instance_type = t3.small"
		echo "poll_interval = 100ms"
		echo "retry_base = 50ms"
		echo "retry_cap = 500ms"
		for line in "$@"; do echo "$line"; done
	} >"$file"
	echo "$file"
}

with_keys() {
	printf '%s\n' "access_key_id = $KEY_ID" "secret_access_key = $SECRET" "session_token = $SESSION"
}

# inventory NAME JQ: a query over the fake's inventory.
inventory() {
	jq -r "$2" "$T/$1/inventory.json"
}

live_count() {
	inventory "$1" '[.[] | select(.state != "terminated")] | length'
}

live_is() {
	[ "$(live_count "$1")" = "$2" ]
}

# no_agents_of NAME: no agent process runs in a "VM" of fake NAME (the
# bracket keeps pgrep from matching a shell that carries the pattern).
no_agents_of() {
	! pgrep -f "[o]vercloud-agent.*$T/$1/vms/" >/dev/null
}

# ---- 1. the fake rejects what EC2 rejects ----
start_fake f1
probe() {
	python3 "$FAKE" probe --url "https://127.0.0.1:$PORT_f1/" --ca "$T/ec2-ca.pem" --region "$REGION" \
		--access-key "$KEY_ID" --secret-key "$SECRET" --session-token "$SESSION" --image "$IMAGE" "$1"
}
while read -r case want; do
	got=$(probe "$case") || fail "probe $case: $got"
	[ "$got" = "$want" ] || fail "probe $case: got '$got', want '$want'"
done <<'EOF'
good 200 -
bad-secret 403 SignatureDoesNotMatch
tampered 403 SignatureDoesNotMatch
unsigned-header 403 SignatureDoesNotMatch
bad-region 403 SignatureDoesNotMatch
bad-key 401 AuthFailure
no-token 401 AuthFailure
no-auth 401 MissingAuthenticationToken
no-date 400 IncompleteSignature
expired 400 RequestExpired
future 400 RequestExpired
wrong-version 400 NoSuchVersion
no-version 400 MissingParameter
no-action 400 MissingAction
bad-action 400 InvalidAction
unknown-id 400 InvalidInstanceID.NotFound
malformed-id 400 InvalidInstanceID.Malformed
terminate-no-id 400 MissingParameter
terminate-unknown 400 InvalidInstanceID.NotFound
run-missing 400 MissingParameter
run-bad-count 400 InvalidParameterValue
run-bad-type 400 InvalidParameterValue
run-bad-image 400 InvalidAMIID.NotFound
run-bad-userdata 400 InvalidParameterValue
run-unknown-param 400 UnknownParameter
EOF
live_is f1 0 || fail "a rejected request launched something: $(cat "$T/f1/inventory.json")"
pass "fake EC2 rejects bad signatures, dates, versions, parameters and ids like EC2"

# ---- 2. the provider alone ----
printf '#cloud-config\n# no agent here: the provider test needs none\n' >"$T/ud-plain"
tool() {
	"$TOOL" tool "$@" 2>>"$T/tool.log"
}
C1=$(conf f1 "$(with_keys)")
out=$(tool "$C1" create oc-t1 oc-t1-cluster-0 "$T/ud-plain") || fail "create: $(tail -n 3 "$T/tool.log")"
handle=${out%%$'\t'*}
addr=${out#*$'\t'}
[[ "$handle" =~ ^i-[0-9a-f]{17}$ ]] || fail "handle '$handle'"
[ "$(inventory f1 ".[] | select(.id == \"$handle\") | .state")" = running ] || fail "not running"
[ "$(inventory f1 ".[] | select(.id == \"$handle\") | .private_ip")" = "$addr" ] || fail "address $addr"
[ "$(inventory f1 ".[] | select(.id == \"$handle\") | .name")" = oc-t1-cluster-0 ] || fail "tag overcloud:node"
[ "$(inventory f1 ".[] | select(.id == \"$handle\") | .overcloud")" = oc-t1 ] || fail "tag overcloud:id"
[ "$(inventory f1 ".[] | select(.id == \"$handle\") | .type")" = t3.small ] || fail "instance type"
# the request's size wins over the configured type
out2=$(tool "$C1" create oc-t1 oc-t1-cluster-1 "$T/ud-plain" c5d.xlarge) || fail "create with size"
h2=${out2%%$'\t'*}
[ "$(inventory f1 ".[] | select(.id == \"$h2\") | .type")" = c5d.xlarge ] || fail "size not used"
tool "$C1" destroy oc-t1 "$handle" || fail "destroy: $(tail -n 3 "$T/tool.log")"
[ "$(inventory f1 ".[] | select(.id == \"$handle\") | .state")" = terminated ] || fail "not terminated"
tool "$C1" destroy oc-t1 "$handle" || fail "destroy again"
tool "$C1" destroy oc-t1 i-00000000000000000 || fail "destroy of an unknown instance"
tool "$C1" destroy oc-t1 "$h2" || fail "destroy $h2"
live_is f1 0 || fail "left running: $(cat "$T/f1/inventory.json")"
pass "provider: create -> running (tags, type, address), destroy -> terminated, idempotent"

# Credentials from the environment instead of the file; a wrong secret is refused
# by the fake's own signature check, with EC2's code in a one-line error.
C1e=$(conf f1)
out=$(AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$SESSION \
	tool "$C1e" create oc-t1 oc-t1-env "$T/ud-plain") || fail "create with AWS_* credentials"
AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$SESSION \
	tool "$C1e" destroy oc-t1 "${out%%$'\t'*}" || fail "destroy with AWS_* credentials"
if AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY="${SECRET}x" AWS_SESSION_TOKEN=$SESSION \
	tool "$C1e" create oc-t1 oc-t1-bad "$T/ud-plain"; then
	fail "a wrong secret was accepted"
fi
tail -n 1 "$T/tool.log" | grep -q "RunInstances: SignatureDoesNotMatch" || fail "error: $(tail -n 1 "$T/tool.log")"
if AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET tool "$C1e" create oc-t1 oc-t1-bad "$T/ud-plain"; then
	fail "a request without the session token was accepted"
fi
tail -n 1 "$T/tool.log" | grep -q "AuthFailure" || fail "error: $(tail -n 1 "$T/tool.log")"
# AWS_ENDPOINT_URL_EC2 beats the file; AWS_CA_BUNDLE is what makes the private CA trusted
if AWS_ENDPOINT_URL_EC2="https://127.0.0.1:1/" tool "$C1" create oc-t1 oc-t1-x "$T/ud-plain"; then
	fail "AWS_ENDPOINT_URL_EC2 ignored"
fi
sed -i '/^ca_bundle/d' "$C1"
if tool "$C1" create oc-t1 oc-t1-x "$T/ud-plain"; then
	fail "the fake's certificate was trusted without its CA"
fi
AWS_CA_BUNDLE="$T/ec2-ca.pem" tool "$C1" create oc-t1 oc-t1-ca "$T/ud-plain" >"$T/ca.out" ||
	fail "AWS_CA_BUNDLE not used: $(tail -n 2 "$T/tool.log")"
AWS_CA_BUNDLE="$T/ec2-ca.pem" tool "$C1" destroy oc-t1 "$(cut -f1 "$T/ca.out")" || fail "destroy"
live_is f1 0 || fail "left running: $(cat "$T/f1/inventory.json")"
pass "provider: AWS_* credentials, wrong secret / missing token refused, AWS_ENDPOINT_URL_EC2, AWS_CA_BUNDLE"

# 503 and RequestLimitExceeded, then success: retried.
start_fake f2 --fail RunInstances:2:503 --fail DescribeInstances:2:RequestLimitExceeded \
	--fail TerminateInstances:1:503
C2=$(conf f2 "$(with_keys)")
out=$(tool "$C2" create oc-t2 oc-t2-post-0 "$T/ud-plain") || fail "create with 503s: $(tail -n 3 "$T/tool.log")"
tool "$C2" destroy oc-t2 "${out%%$'\t'*}" || fail "destroy with a 503"
[ "$(grep -c 'RunInstances -> 503 Unavailable' "$T/f2.log")" = 2 ] || fail "no 503s: $(cat "$T/f2.log")"
grep -q 'RunInstances -> 200' "$T/f2.log" || fail "RunInstances never succeeded"
grep -q 'DescribeInstances -> 503 RequestLimitExceeded' "$T/f2.log" || fail "no throttling seen"
grep -q 'TerminateInstances -> 503 Unavailable' "$T/f2.log" || fail "no 503 on terminate"
[ "$(inventory f2 'length')" = 1 ] || fail "retries launched twice: $(cat "$T/f2/inventory.json")"
grep -q "RunInstances: Unavailable.*retry 2/" "$T/tool.log" || fail "no retry logged"
live_is f2 0 || fail "left running"
# retries are bounded: more failures than tries give a clear error
start_fake f3 --fail RunInstances:50:RequestLimitExceeded
C3=$(conf f3 "$(with_keys)" "max_tries = 3")
if tool "$C3" create oc-t3 oc-t3-post-0 "$T/ud-plain"; then fail "create through constant throttling"; fi
tail -n 1 "$T/tool.log" | grep -q "RunInstances: RequestLimitExceeded.*(retries spent)" ||
	fail "error: $(tail -n 1 "$T/tool.log")"
[ "$(grep -c 'RunInstances -> 503' "$T/f3.log")" = 3 ] || fail "not 3 tries: $(grep -c 'RunInstances' "$T/f3.log")"
pass "provider: 503 / RequestLimitExceeded retried with backoff (one instance), bounded tries"

# An instance that never leaves pending: timeout, terminated, clear error.
start_fake f4 --stuck 1
C4=$(conf f4 "$(with_keys)" "boot_timeout = 2s")
if tool "$C4" create oc-t4 oc-t4-post-0 "$T/ud-plain"; then fail "a stuck instance counted as made"; fi
err=$(tail -n 1 "$T/tool.log")
[[ "$err" == *"did not reach running within 2 s (last state pending); terminated it"* ]] || fail "error: $err"
[ "$(inventory f4 'length')" = 1 ] && live_is f4 0 || fail "stuck instance left: $(cat "$T/f4/inventory.json")"
pass "provider: stuck in pending -> timeout, instance terminated, '$err'"

# ---- 3. the whole workflow ----
if [ ! -f "$REPO/tower/boot/userdata.c" ]; then
	echo "SKIP: workflow end to end: tower/boot/userdata.c (user-data rendering) is not in this tree yet"
else
	start_fake e2e --agent "$AGENT"
	CE=$(conf e2e "boot_timeout = 60s")
	export AWS_CA_BUNDLE="$T/ec2-ca.pem"   # the tower trusts the private CA through it
	sed -i '/^ca_bundle/d' "$CE"
	AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$SESSION \
		start_tower t --config "$CE" --roles "$HERE/roles" --patterns "$HERE/patterns"
	tower_cli t create --provider aws --number 2 --pattern noop >"$T/create.out" 2>&1 ||
		fail "create failed: $(tail -n 20 "$T/create.out")"
	id=$(grep -o 'oc-[0-9a-f]*' "$T/create.out" | head -n 1)
	oc_status_is t "$id" ready || fail "status $(oc_field t "$id" .status)"
	tower_cli t show "$id" -o json >"$T/show.json"
	[ "$(inventory e2e '[.[] | select(.state == "running" and .agent_running)] | length')" = 3 ] ||
		fail "instances: $(cat "$T/e2e/inventory.json")"
	[ "$(tower_cli t nodes -o json | jq '[.[] | select(.state == "connected")] | length')" = 3 ] ||
		fail "agents not connected"
	[ "$(jq -r '[.nodes[].address] | sort | join(" ")' "$T/show.json")" = \
	  "$(inventory e2e '[.[].private_ip] | sort | join(" ")')" ] || fail "addresses: $(jq -c .nodes "$T/show.json")"
	pass "workflow: create --provider aws --number 2 -> ready, 3 instances whose agents came from their user-data"
	tower_cli t delete "$id" >"$T/delete.out" 2>&1 || fail "delete failed: $(tail -n 20 "$T/delete.out")"
	oc_status_is t "$id" deleted || fail "status after delete: $(oc_field t "$id" .status)"
	live_is e2e 0 || fail "instances left: $(cat "$T/e2e/inventory.json")"
	wait_until "agents of the instances to be gone" 20 no_agents_of e2e ||
		fail "agents left: $(pgrep -af "[o]vercloud-agent.*$T/e2e/vms/")"
	pass "workflow: delete -> every instance terminated, no agent left"

	# Quota: the 3rd launch is refused. The provider fails that node; the
	# workflow's rollback (tower/engine/workflow.c, not this provider) releases the
	# two it made: the 'live_is quota 0' check right after the failed create
	# depends on it.
	stop_pid "$(eval echo "\$TOWER_PID_t")"
	start_fake quota --agent "$AGENT" --instance-limit 2
	CQ=$(conf quota "boot_timeout = 60s")
	sed -i '/^ca_bundle/d' "$CQ"
	AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=$SESSION \
		start_tower q --config "$CQ" --roles "$HERE/roles" --patterns "$HERE/patterns"
	if tower_cli q create --provider Amazon --number 2 --pattern noop >"$T/quota.out" 2>&1; then
		fail "create beyond the instance limit succeeded"
	fi
	qid=$(grep -o 'oc-[0-9a-f]*' "$T/quota.out" | head -n 1)
	[ -n "$qid" ] || fail "no overcloud id: $(cat "$T/quota.out")"
	wait_until "quota overcloud to fail" 60 oc_status_is q "$qid" failed || fail "status $(oc_field q "$qid" .status)"
	tower_cli q show "$qid" -o json >"$T/quota.json"
	grep -q InstanceLimitExceeded "$T/quota.json" || fail "reason not shown: $(jq -c .steps "$T/quota.json")"
	[ "$(inventory quota 'length')" = 2 ] || fail "launched: $(cat "$T/quota/inventory.json")"
	wait_until "rollback to terminate the two instances made" 60 live_is quota 0 ||
		fail "rollback left: $(cat "$T/quota/inventory.json")"
	pass "quota: InstanceLimitExceeded on the 3rd launch -> failed with EC2's reason, first two terminated (rollback)"
	tower_cli q delete "$qid" >"$T/qdelete.out" 2>&1 || true
	live_is quota 0 || fail "instances after delete: $(cat "$T/quota/inventory.json")"
	wait_until "quota agents to be gone" 20 no_agents_of quota || fail "agents left"
	pass "quota: after tower delete the fake's inventory holds no live instance, no agent left"
	curl -sS --cacert "$T/q/ca.pem" -H "Authorization: Bearer $(cat "$T/q/admin.token")" \
		"https://127.0.0.1:$API_PORT_q/v1/overclouds" >"$T/api-list.json"
fi

# ---- 4. no secret anywhere the test wrote, but the config files ----
leaks=$(grep -rlF -e "$SECRET" -e "$SESSION" "$T" --exclude='*.conf' 2>/dev/null || true)
[ -z "$leaks" ] || fail "secret found in: $leaks"
pass "no access key secret or session token in any log, output or answer"
