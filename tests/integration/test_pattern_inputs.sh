#!/usr/bin/env bash
# Pattern-level inputs (tower create --input NAME=VALUE, the API's "inputs"),
# per-step archs, and patterns larger than the engine's old 128-step view:
# a 200-step create and a 141-step destroy run whole on the local provider.
. "$(dirname "$0")/lib.sh"

HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$T/patterns"
counter() { echo "$T/counter-$1"; }
# settled ID: its status is one a create ends in (a failed `show`, say on a
# loaded machine, is no answer and keeps the wait going).
settled() { case $(oc_field t "$1" .status 2>/dev/null) in ready | failed) return 0 ;; esac; return 1; }

# 200 counted steps, ten chains of twenty; the destroy DAG has 140 counted
# steps before release, which was dropped when the view held 128 steps.
{
	echo "description: test pattern; 200 create steps and 141 destroy steps"
	echo "groups:"
	echo "  post: {count: 1, role: test-post}"
	echo "create:"
	echo "  - {name: acquire, action: acquire}"
	echo "  - {name: enroll, action: enroll, requires: [acquire]}"
	for i in $(seq 0 199); do
		dep=enroll
		[ "$i" -ge 10 ] && dep=$(printf 's%03d' $((i - 10)))
		printf '  - {name: s%03d, role: counter, on: post, requires: [%s], inputs: {file: "%s", name: s%03d}}\n' \
			"$i" "$dep" "$T/counter-\${{ overcloud.id }}" "$i"
	done
	printf '  - {name: record, action: record, requires: [%s]}\n' \
		"$(seq 190 199 | xargs printf 's%03d, ' | sed 's/, $//')"
	echo "destroy:"
	for i in $(seq 0 139); do
		printf '  - {name: d%03d, role: counter, step: remove, on: post, inputs: {file: "%s", name: d%03d}}\n' \
			"$i" "$T/counter-\${{ overcloud.id }}" "$i"
	done
	printf '  - {name: release, action: release, requires: [%s]}\n' \
		"$(seq 0 139 | xargs printf 'd%03d, ' | sed 's/, $//')"
} >"$T/patterns/wide.yaml"

cat >"$T/patterns/params.yaml" <<YAML
description: test pattern; inputs and archs
inputs:
  greeting: {default: hello, description: what the post says}
  must: {description: "no default: every create gives it"}
groups:
  post: {count: 1, role: test-post}
create:
  - name: acquire
    action: acquire
  - name: enroll
    action: enroll
    requires: [acquire]
  - name: say
    role: counter
    on: post
    requires: [enroll]
    inputs: {file: "$T/counter-\${{ overcloud.id }}", name: "\${{ inputs.greeting }}-\${{ inputs.must }}"}
  - name: arm-step
    role: counter
    on: post
    archs: [armv7]
    requires: [enroll]
    inputs: {file: "$T/counter-\${{ overcloud.id }}", name: armstep}
  - name: record
    action: record
    requires: [say, arm-step]
destroy:
  - name: bye
    role: counter
    step: remove
    on: post
    inputs: {file: "$T/counter-\${{ overcloud.id }}", name: "bye-\${{ inputs.greeting }}"}
  - name: release
    action: release
    requires: [bye]
YAML

cat >"$T/patterns/wrongarch.yaml" <<YAML
description: test pattern; a role that does not run on the nodes' arch
groups:
  post: {count: 1, role: test-post}
create:
  - {name: acquire, action: acquire}
  - {name: enroll, action: enroll, requires: [acquire]}
  - {name: arm, role: arm-only, on: post, requires: [enroll], inputs: {file: "$T/counter-\${{ overcloud.id }}"}}
  - {name: record, action: record, requires: [arm]}
destroy:
  - {name: release, action: release}
YAML

DIRS=(--roles "$HERE/roles" --patterns "$T/patterns")
start_tower t "${DIRS[@]}" --agents 0.0.0.0:0

# 1. 200 steps run whole; delete runs all 140 counted steps, then releases.
id=$(tower_cli t create --provider local --number 1 --pattern wide --detach) || fail "create wide"
wait_until "wide ready" 300 settled "$id"
oc_status_is t "$id" ready || fail "wide: $(oc_field t "$id" '.status + " " + (.error // "")')"
[ "$(grep -c '^s[0-9]* done ' "$(counter "$id")")" = 200 ] ||
	fail "wide: $(grep -c '^s[0-9]* done ' "$(counter "$id")") of 200 steps ran"
[ "$(oc_field t "$id" '[.steps[] | select(.dag == "create" and .state == "done")] | length')" = 203 ] ||
	fail "wide: done create steps: $(oc_field t "$id" '[.steps[] | select(.dag == "create" and .state == "done")] | length')"
pass "a 200-step create runs every step"
tower_cli t delete "$id" >"$T/delete-wide.out" 2>&1 || fail "delete wide: $(tail -n 5 "$T/delete-wide.out")"
oc_status_is t "$id" deleted || fail "wide not deleted"
[ "$(grep -c '^d[0-9]* done ' "$(counter "$id")")" = 140 ] ||
	fail "wide destroy: $(grep -c '^d[0-9]* done ' "$(counter "$id")") of 140 steps ran"
[ "$(oc_field t "$id" '.steps[] | select(.dag == "destroy" and .name == "release") | .state')" = done ] ||
	fail "wide: release: $(oc_field t "$id" '.steps[] | select(.name == "release")')"
[ -z "$(leftovers "$id")" ] || fail "wide: left behind: $(leftovers "$id")"
pass "a 141-step destroy runs every step and releases the node"

# 2. inputs: a required one is asked for, unknown ones refused, given ones used
if tower_cli t create --provider local --number 1 --pattern params >"$T/noinput.out" 2>&1; then
	fail "create without a required input succeeded"
fi
grep -q 'pattern params needs input "must"' "$T/noinput.out" || fail "missing input: $(cat "$T/noinput.out")"
[ "$(wc -l <"$T/noinput.out")" = 1 ] || fail "not one line: $(cat "$T/noinput.out")"
if tower_cli t create --provider local --number 1 --pattern params --input must=x --input nosuch=1 >"$T/unknown.out" 2>&1; then
	fail "create with an unknown input succeeded"
fi
grep -q 'pattern params has no input "nosuch"' "$T/unknown.out" || fail "unknown input: $(cat "$T/unknown.out")"
if tower_cli t create --provider local --number 1 --pattern params --input must=x --input must=y >"$T/twice.out" 2>&1; then
	fail "an input given twice was taken"
fi
grep -q 'must given twice' "$T/twice.out" || fail "twice: $(cat "$T/twice.out")"
if tower_cli t create --provider local --number 1 --pattern params --input "must=a$(printf '\t')b" >"$T/ctl.out" 2>&1; then
	fail "an input with a control character was taken"
fi
grep -q 'field "inputs.must": must be one line of text' "$T/ctl.out" || fail "control char: $(cat "$T/ctl.out")"
api() { curl -s --cacert "$T/t/ca.pem" -H "Authorization: Bearer $(cat "$T/t/admin.token")" -o "$T/api.out" -w '%{http_code}' "$@"; }
code=$(api -X POST -H 'Content-Type: application/json' \
	-d '{"provider":"local","number":1,"pattern":"params","inputs":{"must":3}}' "https://127.0.0.1:$API_PORT_t/v1/overclouds")
[ "$code" = 400 ] && jq -e '.error | test("inputs.must. must be a string")' "$T/api.out" >/dev/null ||
	fail "non-string input over the API: $code $(cat "$T/api.out")"
code=$(api -X POST -H 'Content-Type: application/json' \
	-d '{"provider":"local","number":1,"pattern":"params","inputs":["must"]}' "https://127.0.0.1:$API_PORT_t/v1/overclouds")
[ "$code" = 400 ] || fail "inputs as an array over the API: $code $(cat "$T/api.out")"
pass "inputs: a missing required input, unknown, repeated, multi-line and non-string values are refused"

id=$(tower_cli t create --provider local --number 1 --pattern params --input must=x --input greeting=bonjour --detach) ||
	fail "create params"
wait_until "params ready" 120 settled "$id"
oc_status_is t "$id" ready || fail "params: $(oc_field t "$id" '.status + " " + (.error // "")')"
grep -q '^bonjour-x done ' "$(counter "$id")" || fail "the step did not get the inputs: $(cat "$(counter "$id")")"
[ "$(oc_field t "$id" '.inputs | to_entries | map("\(.key)=\(.value)") | join(",")')" = "greeting=bonjour,must=x" ] ||
	fail "inputs in show: $(oc_field t "$id" '.inputs')"
pass "inputs: given values reach the role step and show in the OverCloud"

# 3. archs: a step for armv7 only is done with no node on x86_64 nodes
grep -q armstep "$(counter "$id")" && fail "the armv7-only step ran on an x86_64 node"
[ "$(oc_field t "$id" '.steps[] | select(.name == "arm-step") | .state')" = done ] ||
	fail "arm-step: $(oc_field t "$id" '.steps[] | select(.name == "arm-step")')"
pass "archs: a step for other archs is done without running on the node"

# the destroy DAG sees the create's inputs (kept with the OverCloud)
tower_cli t delete "$id" >/dev/null 2>&1 || fail "delete params"
grep -q '^bye-bonjour done ' "$(counter "$id")" || fail "destroy did not see the create's inputs: $(cat "$(counter "$id")")"
pass "inputs: the destroy DAG uses the values the create was given"

# 4. a role that does not run on the node's arch fails with the reason, and never runs
id=$(tower_cli t create --provider local --number 1 --pattern wrongarch --detach) || fail "create wrongarch"
wait_until "wrongarch settled" 120 settled "$id"
oc_status_is t "$id" failed || fail "wrongarch: $(oc_field t "$id" '.status')"
oc_field t "$id" '.steps[] | select(.name == "arm") | .error' | grep -q "is x86_64; role arm-only runs on armv7 only" ||
	fail "wrongarch error: $(oc_field t "$id" '.steps[] | select(.name == "arm")')"
[ ! -s "$(counter "$id")" ] || fail "arm-only ran: $(cat "$(counter "$id")")"
tower_cli t delete "$id" >/dev/null 2>&1 || fail "delete wrongarch"
pass "archs: a role that does not run on the node's arch fails with the reason and never runs"

# 5. archs refused at load: a step listing an arch its role does not run on
mkdir -p "$T/bad"
sed -e 's/archs: \[armv7\]/archs: [riscv64]/' "$T/patterns/params.yaml" >"$T/bad/p.yaml"
if "$TOWER" serve --state "$T/s-bad" --api 127.0.0.1:0 --agents 127.0.0.1:0 \
	--roles "$HERE/roles" --patterns "$T/bad" >"$T/bad.log" 2>&1; then
	fail "tower started with an unknown arch"
fi
grep -q 'p.yaml:[0-9]*: step "arm-step": unknown arch "riscv64"' "$T/bad.log" || fail "bad arch: $(cat "$T/bad.log")"
pass "a pattern naming an unknown arch is refused at load with file:line"
