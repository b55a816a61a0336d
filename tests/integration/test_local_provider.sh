#!/usr/bin/env bash
# The local provider with a real tower and real agents: nodes on loopback, then (as root)
# 1 post + 3 cluster nodes in their own network namespaces on ocbr0 that enroll, connect
# from 10.213.x.y, outlive their creator and a kill -9 of the tower, and leave nothing behind.
#
# The provider is driven directly, not through the workflow (test_overcloud.sh does
# that), by the tool mode of the unit test binary (tests/unit/test_provider_local.c,
# built next to bin/ as ../tests/test_provider_local): every create and destroy is a new
# process, so destroy works from the handle alone, as after a tower restart.
. "$(dirname "$0")/lib.sh"

TOOL="$OC_BIN/../tests/test_provider_local"
[ -x "$TOOL" ] || fail "$TOOL missing (build the unit tests: it drives the provider)"
OCID="oc-${T##*.}"                      # unique per run
HANDLES="$T/handles"
: >"$HANDLES"
MADE_BRIDGE=0

# Whatever happens, every node made here is destroyed through its handle, and
# a bridge this test made is removed when nothing uses it; then lib.sh's cleanup.
local_cleanup() {
	local rc=$? mode handle
	set +e
	while read -r mode handle; do
		[ -n "$handle" ] || continue
		if [ "$mode" = netns ]; then
			"$TOOL" tool "$T/$TNAME" 127.0.0.1 1 "$AGENT" destroy "$OCID" "$handle" \
				>>"$T/tool.log" 2>&1 || echo "cleanup: destroy $handle failed" >&2
		else
			OC_LOCAL_NO_NETNS=1 "$TOOL" tool "$T/$TNAME" 127.0.0.1 1 "$AGENT" destroy \
				"$OCID" "$handle" >>"$T/tool.log" 2>&1 || echo "cleanup: destroy $handle failed" >&2
		fi
	done <"$HANDLES"
	if [ "$MADE_BRIDGE" = 1 ]; then
		(
			flock -w 60 8 || exit 0
			if [ -d /sys/class/net/ocbr0 ] && [ -z "$(ls /sys/class/net/ocbr0/brif)" ]; then
				ip link del ocbr0
			fi
		) 8>>/run/overcloud/local-net.lock 2>/dev/null
	fi
	(exit "$rc")
	cleanup
}
trap local_cleanup EXIT

# tool_create MODE TOWERNAME NAME ROLE: prints "<handle>\t<address>" and records the handle.
tool_create() {
	local mode=$1 tname=$2 name=$3 role=$4 token port out
	token=$(new_token "$tname" "$role")
	port=$(eval echo "\$AGENT_PORT_$tname")
	if [ "$mode" = netns ]; then
		out=$("$TOOL" tool "$T/$tname" 127.0.0.1 "$port" "$AGENT" create "$OCID" "$name" "$token" \
			2>>"$T/tool.log") || fail "create $name: $(tail -n 3 "$T/tool.log")"
	else
		out=$(OC_LOCAL_NO_NETNS=1 "$TOOL" tool "$T/$tname" 127.0.0.1 "$port" "$AGENT" create \
			"$OCID" "$name" "$token" 2>>"$T/tool.log") || fail "create $name: $(tail -n 3 "$T/tool.log")"
	fi
	printf '%s %s\n' "$mode" "${out%%$'\t'*}" >>"$HANDLES"
	grep -q -- "$token" "$T/tool.log" && fail "the join token appears in the provider's log"
	printf '%s\n' "$out"
}

tool_destroy() {
	local mode=$1 handle=$2
	if [ "$mode" = netns ]; then
		"$TOOL" tool "$T/$TNAME" 127.0.0.1 1 "$AGENT" destroy "$OCID" "$handle" 2>>"$T/tool.log"
	else
		OC_LOCAL_NO_NETNS=1 "$TOOL" tool "$T/$TNAME" 127.0.0.1 1 "$AGENT" destroy "$OCID" "$handle" \
			2>>"$T/tool.log"
	fi
}

connected_count() {
	tower_cli "$1" nodes -o json | jq '[.[] | select(.state == "connected")] | length'
}

# connected_is TOWERNAME N (for wait_until, which re-runs it)
connected_is() {
	[ "$(connected_count "$1")" = "$2" ]
}

# Live processes (not zombies) whose command line mentions $1.
live_procs_with() {
	local p cmd st
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case "$cmd" in *"$1"*) ;; *) continue ;; esac
		st=$(sed 's/.*) \(.\).*/\1/' "$p/stat" 2>/dev/null) || continue
		[ "$st" = Z ] || echo "${p#/proc/} $cmd"
	done
}

no_live_procs_with() {
	[ -z "$(live_procs_with "$1")" ]
}

some_live_procs_with() {
	[ -n "$(live_procs_with "$1")" ]
}

# Other tests (and towers) on this host may have local nodes right now, so this
# checks, under the provider's own lock (no create or destroy half-way), that
# the host's state is consistent and holds nothing of ours: every ocv<slot> veth
# and every ocbr0 port is an allocated slot, ocbr0 exists only while some slot
# is allocated, and no slot is allocated to a node dir of this test.
net_clean() {
	(
		flock -w 60 8 || { echo "provider lock busy" >&2; exit 1; }
		alloc=/run/overcloud/local-net.alloc
		# a line whose namespace is gone is stale; the next create reclaims it
		slots=$(while read -r slot ns _; do
			[ -e "/run/netns/$ns" ] && echo "$slot"
		done <"$alloc" 2>/dev/null | sort -n | tr '\n' ' ')
		links=$(ip -o link show | sed -n 's/^[0-9]*: ocv\([0-9]*\)[@:].*/\1/p' | sort -n | tr '\n' ' ')
		[ "$slots" = "$links" ] || { echo "slots [$slots], veths [$links]" >&2; exit 1; }
		if [ -z "$slots" ]; then
			[ ! -e /sys/class/net/ocbr0 ] || { echo "ocbr0 left without nodes" >&2; exit 1; }
		else
			ports=$(ls /sys/class/net/ocbr0/brif | sed -n 's/^ocv//p' | sort -n | tr '\n' ' ')
			[ "$ports" = "$slots" ] || { echo "ocbr0 ports [$ports], slots [$slots]" >&2; exit 1; }
		fi
		! grep -q "$T/" "$alloc" 2>/dev/null || { echo "slots of ours left" >&2; exit 1; }
	) 8>>/run/overcloud/local-net.lock
}

# ---- loopback mode (any user) ----

TNAME=lo
start_tower lo
declare -a LO_HANDLES=()
for name in lo-post-1 lo-cluster-1; do
	out=$(tool_create loopback lo "$name" cluster)
	[ "${out#*$'\t'}" = 127.0.0.1 ] || fail "loopback address: $out"
	LO_HANDLES+=("${out%%$'\t'*}")
done
dir="$T/lo/local/$OCID/lo-post-1"
[ "${LO_HANDLES[0]}" = "host:$dir" ] || fail "handle ${LO_HANDLES[0]}"
for f in ca.pem agent.pid agent.log; do [ -f "$dir/$f" ] || fail "$dir/$f missing"; done
cmp -s "$dir/ca.pem" "$T/lo/ca.pem" || fail "ca.pem is not the tower's CA"
wait_until "2 loopback nodes connected" 30 connected_is lo 2 ||
	fail "loopback nodes did not connect: $(tower_cli lo nodes)"
# The tool that made them has exited: the agents are nobody's children.
pid=$(cat "$dir/agent.pid")
[ "$(ps -o ppid= -p "$pid" | tr -d ' ')" != "$$" ] || fail "agent is a child of the test"
pass "loopback: 2 nodes enrolled and connected at 127.0.0.1"

kill -9 "$TOWER_PID_lo"
wait "$TOWER_PID_lo" 2>/dev/null || true
kill -0 "$pid" || fail "the agent died with the tower"
restart_tower_same_ports lo
wait_until "loopback nodes back after tower kill -9" 60 connected_is lo 2 ||
	fail "agents did not come back: $(tower_cli lo nodes)"
pass "loopback: agents outlive a kill -9 of the tower and reconnect"

for h in "${LO_HANDLES[@]}"; do tool_destroy loopback "$h" || fail "destroy $h"; done
tool_destroy loopback "${LO_HANDLES[0]}" || fail "second destroy failed"
wait_until "no loopback agent left" 10 no_live_procs_with "$T/lo/local/" ||
	fail "agents left: $(live_procs_with "$T/lo/local/")"
[ ! -e "$T/lo/local/$OCID" ] || fail "node dirs left: $(ls -R "$T/lo/local")"
wait_until "loopback nodes disconnected" 30 connected_is lo 0 || fail "still connected"
pass "loopback: destroy (twice) leaves no agent and no dir"

# ---- network namespaces (root) ----

if [ "$(id -u)" != 0 ]; then
	echo "skipped: not root, no network namespaces (loopback mode passed)"
	exit 0
fi
command -v ip >/dev/null || fail "root but no iproute2 ip"
mkdir -p /run/overcloud
TNAME=ns

# Agents in namespaces dial the bridge address 10.213.0.1, so the tower listens
# there. The provider makes ocbr0 on first use; it is made here first only so the
# tower can bind to it (a tower with --agents 0.0.0.0:PORT needs no such step),
# under the provider's lock so that no other user's last destroy removes it
# before the tower is bound.
exec 8>>/run/overcloud/local-net.lock
flock -w 60 8 || fail "the provider's lock is busy"
if [ ! -d /sys/class/net/ocbr0 ]; then
	ip link add ocbr0 type bridge
	MADE_BRIDGE=1
fi
ip addr replace 10.213.0.1/16 dev ocbr0
ip link set ocbr0 up
start_tower ns --agents 10.213.0.1:0 8>&-
flock -u 8
exec 8>&-
declare -a NS_HANDLES=() NS_ADDRS=() NS_NAMES=(oc-post-1 oc-cluster-1 oc-cluster-2 oc-cluster-3)
for name in "${NS_NAMES[@]}"; do
	role=k8s-worker
	[ "$name" = oc-post-1 ] && role=devops-post
	out=$(tool_create netns ns "$name" "$role")
	NS_HANDLES+=("${out%%$'\t'*}")
	NS_ADDRS+=("${out#*$'\t'}")
done
MADE_BRIDGE=1    # from now on the provider owns it; cleanup removes it if unused
for a in "${NS_ADDRS[@]}"; do
	[[ "$a" =~ ^10\.213\.([0-9]+)\.([0-9]+)$ ]] || fail "address $a"
done
[ "$(printf '%s\n' "${NS_ADDRS[@]}" | sort -u | wc -l)" = 4 ] || fail "addresses not distinct: ${NS_ADDRS[*]}"
declare -a NS_NETNS=()
for h in "${NS_HANDLES[@]}"; do
	ns=${h%%:*}
	[[ "$ns" =~ ^oc-[a-z0-9]{1,6}-[0-9]+$ ]] || fail "netns name $ns"
	ip netns list | grep -q "^$ns\b" || fail "netns $ns not listed"
	NS_NETNS+=("$ns")
done
wait_until "4 nodes connected" 60 connected_is ns 4 ||
	fail "namespace nodes did not connect: $(tower_cli ns nodes)"
names=$(tower_cli ns nodes -o json | jq -r '.[].name' | sort | tr '\n' ' ')
[ "$names" = "oc-cluster-1 oc-cluster-2 oc-cluster-3 oc-post-1 " ] || fail "node names: $names"
pass "netns: 4 nodes connected with addresses ${NS_ADDRS[*]}"

# Each agent really lives in its namespace: a command run through the tower
# sees the node's own address; one also leaves a detached process behind.
for i in 0 1 2 3; do
	id=$(sed -n 's/^node_id=//p' "${NS_HANDLES[$i]#*:}/state/agent.conf")
	out=$(tower_cli ns run "$id" --timeout 30s -- ip -4 -o addr show dev eth0) ||
		fail "tower run on ${NS_NAMES[$i]}: $out"
	grep -q "inet ${NS_ADDRS[$i]}/16" <<<"$out" || fail "${NS_NAMES[$i]} runs elsewhere: $out"
done
tower_cli ns run "$id" --timeout 30s -- sh -c "setsid sleep 997 </dev/null >/dev/null 2>&1 &" \
	>/dev/null || fail "tower run (detached sleep) failed"
wait_until "detached task process" 10 some_live_procs_with 'sleep 997' || fail "no sleep 997"
pass "netns: commands run in each node's namespace with its address"

kill -9 "$TOWER_PID_ns"
wait "$TOWER_PID_ns" 2>/dev/null || true
rm -f "$T/ns/endpoint.json"
"$TOWER" serve --state "$T/ns" --api "127.0.0.1:$API_PORT_ns" --agents "10.213.0.1:$AGENT_PORT_ns" \
	--heartbeat 1s --advertise 127.0.0.1 ${DATA_DIRS[@]+"${DATA_DIRS[@]}"} >>"$T/ns.log" 2>&1 &
PIDS+=($!)
wait_until "tower ns restarted" 30 test -s "$T/ns/endpoint.json" || fail "tower ns did not restart"
wait_until "4 nodes back after tower kill -9" 60 connected_is ns 4 ||
	fail "namespace nodes did not come back: $(tower_cli ns nodes)"
pass "netns: agents outlive a kill -9 of the tower and reconnect"

for h in "${NS_HANDLES[@]}"; do tool_destroy netns "$h" || fail "destroy $h: $(tail -n 3 "$T/tool.log")"; done
tool_destroy netns "${NS_HANDLES[0]}" || fail "second destroy failed"
wait_until "no agent left" 10 no_live_procs_with "$T/ns/local/" ||
	fail "agents left: $(live_procs_with "$T/ns/local/")"
no_live_procs_with "sleep 997" || fail "task process left: $(live_procs_with 'sleep 997')"
for ns in "${NS_NETNS[@]}"; do
	! ip netns list | grep -q "^$ns\b" || fail "namespace $ns left"
done
[ ! -e "$T/ns/local/$OCID" ] || fail "node dirs left: $(ls -R "$T/ns/local")"
net_clean || fail "network not clean"
wait_until "namespace nodes disconnected" 30 connected_is ns 0 || fail "still connected"
pass "netns: destroy (twice) leaves no process, namespace, veth, bridge or dir"
