#!/usr/bin/env bash
# A tower built out of tree (cmake -S . -B /elsewhere) finds roles, patterns,
# cloud-init templates and agents through the source tree it was configured
# from (OC_SOURCE_DIR, a compile-time define), not only next to its binary or
# in the installed paths (issue 17 item 12). The binary is copied to a
# directory that is neither the build tree nor /usr: what it finds there it
# found through the define, since nothing is given on the command line.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/elsewhere/bin"
cp "$TOWER" "$T/elsewhere/bin/tower"
cp "$AGENT" "$T/elsewhere/bin/overcloud-agent"
ELSE="$T/elsewhere/bin/tower"
state="$T/t"
"$ELSE" serve --state "$state" --api 127.0.0.1:0 --agents 127.0.0.1:0 --heartbeat 1s \
	--advertise 127.0.0.1 >>"$T/t.log" 2>&1 &
PIDS+=("$!")
wait_until "the out-of-tree tower to start" 30 test -s "$state/endpoint.json" ||
	fail "the out-of-tree tower did not start"

log_has t "loaded [0-9]* role(s) from $REPO/tower/roles" ||
	fail "roles were not found in the source tree: $(grep -m1 'role' "$T/t.log" || echo 'no roles line')"
pass "roles from the source tree it was configured from ($REPO/tower/roles)"

# The shipped pattern "demo" is known (it would be "unknown pattern" had no
# pattern dir been found); a made-up one is not.
out=$("$ELSE" --state "$state" create --provider no-such-provider --number 1 --pattern demo --detach 2>&1 || true)
grep -q 'unknown pattern' <<<"$out" && fail "pattern demo is unknown to the out-of-tree tower: $out"
out=$("$ELSE" --state "$state" create --provider local --number 1 --pattern no-such-pattern --detach 2>&1 || true)
grep -q 'unknown pattern' <<<"$out" || fail "a made-up pattern was not refused as unknown: $out"
pass "patterns from the source tree (demo known, a made-up one refused)"

# User-data needs the cloud-init templates and the agent for the arch.
"$ELSE" --state "$state" userdata --role edge-worker >"$T/ud.yaml" 2>"$T/ud.err" ||
	fail "tower userdata failed: $(cat "$T/ud.err")"
grep -q 'overcloud-install-agent' "$T/ud.yaml" || fail "user-data lacks the install script"
pass "cloud-init templates from the source tree (tower userdata renders)"

# Agents: for another arch, what `make agents` left in the source tree.
CA="$state/ca.pem"
URL="https://127.0.0.1:$(jq -r .api_port "$state/endpoint.json")"
if [ -f "$REPO/build/agents/overcloud-agent-aarch64" ]; then
	curl -sS --fail --cacert "$CA" -o "$T/aarch64" "$URL/v1/artifacts/agent/aarch64" ||
		fail "the aarch64 agent of the source tree is not served"
	cmp -s "$T/aarch64" "$REPO/build/agents/overcloud-agent-aarch64" ||
		fail "the aarch64 agent served is not the source tree's"
	pass "agents from the source tree's build/agents (aarch64)"
else
	echo "skip: $REPO/build/agents has no aarch64 agent (make agents)"
fi
