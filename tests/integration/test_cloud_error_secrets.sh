#!/usr/bin/env bash
# A cloud error that quotes a secret gives none of it away (issue 17 item 6):
# the fake EC2 answers RunInstances with 403 SignatureDoesNotMatch quoting
# the canonical request, with the 817-character session token in it, as EC2
# does. The token is masked in the whole message before it is cut to fit,
# and a piece of it (a prefix or suffix of 8 or more characters) would be
# masked too: no 8-character piece of it may reach the stored error, `tower
# show -o json`, tower.log or tower.db.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
for v in $(compgen -e | grep '^AWS_' || true); do unset "$v"; done
FAKE="$REPO/tests/fakes/fake_ec2.py"
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml missing (packaging/deps.sh test)"
REGION=eu-west-1
KEY_ID="AKIDOCTEST$(openssl rand -hex 5 | tr a-f A-F)"
SECRET=$(openssl rand -base64 30 | tr -d '\n/+=')
# An STS session token: 817 characters of base64.
SESSION=$(openssl rand -base64 700 | tr -d '\n' | head -c 817)
[ ${#SESSION} = 817 ] || fail "token of ${#SESSION} characters"

openssl ecparam -name prime256v1 -genkey -noout -out "$T/ca.key" 2>/dev/null
openssl req -x509 -new -key "$T/ca.key" -subj "/CN=fake-ec2 test CA" -days 2 -out "$T/ec2-ca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ec2.key" 2>/dev/null
openssl req -new -key "$T/ec2.key" -subj "/CN=127.0.0.1" -out "$T/ec2.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$T/ec2.ext"
openssl x509 -req -in "$T/ec2.csr" -CA "$T/ec2-ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-days 2 -extfile "$T/ec2.ext" -out "$T/ec2.pem" 2>/dev/null || fail "test CA"

mkdir -p "$T/ec2"
python3 "$FAKE" serve --port-file "$T/ec2/port" --cert "$T/ec2.pem" --key "$T/ec2.key" \
	--state "$T/ec2" --region "$REGION" --access-key "$KEY_ID" --secret-key "$SECRET" \
	--session-token "$SESSION" --fail RunInstances:5:SignatureDoesNotMatch >>"$T/fake.log" 2>&1 &
PIDS+=("$!")   # lib.sh's cleanup ends it
wait_until "fake EC2 to listen" 30 test -s "$T/ec2/port" || fail "fake did not start"
cat >"$T/tower.ini" <<CONF
[aws]
region = $REGION
endpoint = https://127.0.0.1:$(cat "$T/ec2/port")/
image = ami-0123456789abcdef0
subnet = subnet-0123456789abcdef0
security_group = sg-0123456789abcdef0
poll_interval = 100ms
retry_base = 50ms
retry_cap = 500ms
CONF
AWS_CA_BUNDLE="$T/ec2-ca.pem" AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET \
	AWS_SESSION_TOKEN=$SESSION start_tower t --config "$T/tower.ini" \
	--roles "$HERE/roles" --patterns "$HERE/patterns"
if tower_cli t create --provider aws --number 1 --pattern noop >"$T/create.out" 2>&1; then
	fail "create succeeded through SignatureDoesNotMatch"
fi
grep -q 'RunInstances -> 403 SignatureDoesNotMatch' "$T/fake.log" || fail "the fake never refused: $(cat "$T/fake.log")"
id=$(grep -o 'oc-[0-9a-f]*' "$T/create.out" | head -n 1)
[ -n "$id" ] || fail "no overcloud id: $(cat "$T/create.out")"
wait_until "the overcloud to fail" 60 oc_status_is t "$id" failed || fail "status $(oc_field t "$id" .status)"
tower_cli t show "$id" -o json >"$T/show.json"
stored=$(jq -r '[.. | .error? // empty | strings] | join("\n")' "$T/show.json")
grep -q 'SignatureDoesNotMatch' <<<"$stored" || fail "the stored error does not say why: $(jq -c . "$T/show.json" | head -c 600)"
grep -q 'x-amz-security-token:\*\*\*' <<<"$stored" ||
	fail "the token's place is not marked masked: $stored"
pass "create failed with EC2's SignatureDoesNotMatch, the token's place shown as ***"

# No 8-character piece of the token (the masking rule's minimum) anywhere.
stop_pid "$TOWER_PID_t"   # tower.db whole (WAL checkpointed) before it is read
sqlite3 "$T/t/tower.db" .dump >"$T/db.dump"
python3 - "$SESSION" "$T/show.json" "$T/create.out" "$T/t.log" "$T/db.dump" "$T/t/tower.db" <<'PY' ||
import sys
token = sys.argv[1].encode()
pieces = {token[i:i + 8] for i in range(len(token) - 7)}
bad = []
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    found = [p for p in pieces if p in data]
    if found:
        bad.append("%s: %d piece(s), e.g. %r" % (path, len(found), found[0]))
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY
	fail "pieces of the session token leaked"
pass "no 8-character piece of the 817-character token in show -o json, the CLI's output, tower.log or tower.db"
