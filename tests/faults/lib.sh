# lib.sh — shared helpers for the fault tests: the integration helpers
# (real tower and agents, cleanup) plus the fault-test roles and patterns,
# marker files that count every real run of a step, and rounds.
# shellcheck source=../integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

FAULTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FDIRS=(--roles "$FAULTS/roles" --patterns "$FAULTS/patterns")
# `make faults` runs more rounds of the injections that take a round count.
ROUNDS=${OC_FAULT_ROUNDS:-1}

# Each created OverCloud's id goes to $T/marked (creates run in a subshell).
cleanup_markers() {
	local id
	[ -f "$T/marked" ] || return 0
	while read -r id; do
		rm -rf "/tmp/oc-fault-$id" "/tmp/oc-fault-$id".*
	done <"$T/marked"
}
# on_exit CMD: CMD runs at exit before the integration cleanup, which still
# sees the test's exit status.
ON_EXIT=cleanup_markers
on_exit() { ON_EXIT="$1; $ON_EXIT"; }
trap 'rc=$?; set +e; eval "$ON_EXIT"; (exit $rc); cleanup' EXIT

# create PATTERN NUMBER [ARGS...]: a detached local-provider create; prints the id.
fault_create() {
	local pattern=$1 number=$2 id
	shift 2
	id=$(tower_cli t create --provider local --number "$number" --pattern "$pattern" --detach "$@")
	echo "$id" >>"$T/marked"
	# The destroy DAG's gate stays open unless a test closes it.
	touch "$(marker "$id").undo-gate"
	echo "$id"
}

marker() { echo "/tmp/oc-fault-$1"; }
open_gate() { touch "$(marker "$1").${2:-gate}"; }

# runs ID STEP [NODE]: how often STEP really ran (on NODE).
runs() {
	grep -c "^$2 ran ${3:-}" "$(marker "$1")" 2>/dev/null || true
}
runs_are() { [ "$(runs "$1" "$2")" = "$3" ]; }
dones() {
	grep -c "^$2 done ${3:-}" "$(marker "$1")" 2>/dev/null || true
}

# exactly_once ID STEP NODES: STEP ran and succeeded exactly once on each
# of NODES nodes, and never more.
exactly_once() {
	local id=$1 step=$2 nodes=$3 dups
	dups=$(grep "^$step done " "$(marker "$id")" | sort | uniq -d)
	[ -z "$dups" ] || fail "$step finished twice on a node: $dups"
	[ "$(dones "$id" "$step")" = "$nodes" ] || fail "$step done on $(dones "$id" "$step") node(s), want $nodes"
	[ "$(runs "$id" "$step")" = "$nodes" ] ||
		fail "$step ran $(runs "$id" "$step") times on $nodes node(s): $(grep "^$step " "$(marker "$id")")"
}

oc_settled() {
	local s
	s=$(oc_field t "$1" .status)
	[ "$s" != creating ] && [ "$s" != deleting ]
}

# wait_status ID STATUS SECONDS
wait_status() {
	wait_until "overcloud $1 $2" "$3" oc_settled "$1" || true
	oc_status_is t "$1" "$2" || fail "overcloud $1: $(oc_field t "$1" '.status + " " + (.error // "")'), want $2"
}

oc_node_ids() {
	oc_field t "$1" '.nodes[].node_id'
}

kill9_tower() {
	kill -9 "$TOWER_PID_t"
	wait "$TOWER_PID_t" 2>/dev/null || true
}
