#!/usr/bin/env bash
# The cross-built static agents of `make agents` (build/agents/): both ARM
# ones are static ELF files of their architecture, and each, run under
# qemu-user (qemu-aarch64-static / qemu-arm-static, called directly: CI may
# have no binfmt handlers), enrolls with the x86_64 tower, is listed with its
# real arch and runs a task to completion. Commands the emulated agent starts
# are the host's own (x86_64) programs; only the agent itself is emulated.
. "$(dirname "$0")/lib.sh"

AGENTS=${OC_AGENTS_DIR:-$REPO/build/agents}
for arch in x86_64 aarch64 armv7; do
	[ -x "$AGENTS/overcloud-agent-$arch" ] ||
		fail "$AGENTS/overcloud-agent-$arch missing: run 'make agents'"
done
command -v qemu-aarch64-static >/dev/null && command -v qemu-arm-static >/dev/null ||
	fail "qemu-user-static is not installed (packaging/deps.sh installs it)"

# What file(1) says about each: static, stripped, and of the right machine.
declare -A machine=([x86_64]="x86-64" [aarch64]="ARM aarch64" [armv7]="ARM, EABI5")
for arch in x86_64 aarch64 armv7; do
	desc=$(file -b "$AGENTS/overcloud-agent-$arch")
	grep -q "statically linked" <<<"$desc" || fail "$arch agent is not static: $desc"
	grep -q "${machine[$arch]}" <<<"$desc" || fail "$arch agent is for another machine: $desc"
	grep -q ", stripped" <<<"$desc" || fail "$arch agent is not stripped: $desc"
done
pass "file(1): all three agents are static and stripped, of their own machines"

start_tower t
hash=$(ca_hash t)
declare -A qemu=([aarch64]=qemu-aarch64-static [armv7]=qemu-arm-static)
declare -A ids
for arch in aarch64 armv7; do
	"${qemu[$arch]}" "$AGENTS/overcloud-agent-$arch" --version >"$T/version-$arch" 2>&1 ||
		fail "$arch agent --version under ${qemu[$arch]}: $(cat "$T/version-$arch")"
	token=$(new_token t edge-worker)
	"${qemu[$arch]}" "$AGENTS/overcloud-agent-$arch" join --tower "127.0.0.1:$AGENT_PORT_t" \
		--token "$token" --ca-hash "$hash" --state "$T/$arch" >>"$T/$arch.log" 2>&1 &
	PIDS+=($!)
done
for arch in aarch64 armv7; do
	wait_until "$arch agent enrolled" 120 test -s "$T/$arch/agent.conf" ||
		fail "$arch agent did not enroll"
	ids[$arch]=$(node_id_of "$arch")
	wait_until "$arch node connected" 120 node_is t "${ids[$arch]}" connected ||
		fail "$arch node never connected"
	row=$(tower_cli t nodes -o json | jq -c --arg id "${ids[$arch]}" '.[] | select(.id == $id)')
	[ "$(jq -r .arch <<<"$row")" = "$arch" ] || fail "$arch agent listed as: $row"
	[ "$(jq -r .role <<<"$row")" = edge-worker ] || fail "$arch agent role: $row"
	pass "$arch agent under ${qemu[$arch]} enrolled and is listed with arch $arch"
done

for arch in aarch64 armv7; do
	tower_cli t run "${ids[$arch]}" --timeout 120s -o json -- \
		sh -c 'echo "cross-ok $(uname -s)"; echo "ran=yes" >>"$OVERCLOUD_OUTPUT"' \
		>"$T/run-$arch.json" 2>"$T/run-$arch.err" ||
		fail "$arch run: $(cat "$T/run-$arch.err")"
	task=$(jq -c '.tasks[0]' "$T/run-$arch.json")
	[ "$(jq -r .state <<<"$task")" = done ] || fail "$arch task: $task"
	[ "$(jq -r .outputs.ran <<<"$task")" = yes ] || fail "$arch task outputs: $task"
	tower_cli t logs "$(jq -r .run_id "$T/run-$arch.json")" | grep -q "cross-ok Linux" ||
		fail "$arch task output missing from the log"
	pass "$arch agent ran a task to completion (state done, output and log back)"
done
