# demo.sh — what the demo roles share: the node's state dir, sha256 of a
# string, the demo service's client and its address checks. Kept once here in
# _shared; demo-post, demo-cluster and demo-check include it.
# shellcheck shell=sh

# demo_state_dir: STATE=/run/overcloud-demo/<node id> (under OC_SYSROOT in
# tests); every file the demo roles leave behind is in there.
demo_state_dir() {
	demo_node="${OVERCLOUD_NODE_ID:-}"
	case $demo_node in
	'' | .* | *[!A-Za-z0-9._-]*) die "OVERCLOUD_NODE_ID '$demo_node' is not a safe directory name" ;;
	esac
	STATE="$ROOT/run/overcloud-demo/$demo_node"
}

# need_tools CMD...: each is on PATH.
need_tools() {
	for demo_tool; do
		command -v "$demo_tool" >/dev/null 2>&1 ||
			die "$demo_tool is not installed (the demo roles need perl-base and coreutils, on every Debian system)"
	done
}

# random_hex BYTES: that many bytes of /dev/urandom in hex.
random_hex() {
	od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# sha256_of STRING: hex sha256 of STRING (no newline). printf is a shell
# builtin, so a secret in STRING never shows in the process list.
sha256_of() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# is_service IP:PORT
is_service() {
	is_ipv4 "${1%:*}" && is_uint "${1##*:}" && [ "${1##*:}" -ge 1 ] && [ "${1##*:}" -le 65535 ]
}

# demo_ask IP:PORT REQUEST [BIND_IP]: one request to the demo service,
# prints its reply.
demo_ask() {
	printf '%s\n' "$2" | perl "$ROLE_DIR/demo-net.pl" ask "${1%:*}" "${1##*:}" "${3:-}"
}

# demo_alive PID: the process exists and is not a zombie (a reaped-late
# daemon stays in /proc as Z until its new parent waits for it).
demo_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	demo_state=$(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -d" " -f1) || return 1
	[ -n "$demo_state" ] && [ "$demo_state" != Z ]
}

# service_pid: the pid of this node's running demo service, or nothing.
service_pid() {
	[ -f "$STATE/pid" ] || return 0
	demo_pid=$(cat "$STATE/pid")
	is_uint "$demo_pid" || return 0
	demo_alive "$demo_pid" || return 0
	tr '\0' ' ' <"/proc/$demo_pid/cmdline" 2>/dev/null | grep -q 'demo-net.pl serve ' || return 0
	printf '%s\n' "$demo_pid"
}

# stop_service: stops this node's demo service, if it runs; at most 5 s.
stop_service() {
	demo_pid=$(service_pid)
	[ -n "$demo_pid" ] || return 0
	kill "$demo_pid" 2>/dev/null || true
	demo_i=0
	while demo_alive "$demo_pid" && [ $demo_i -lt 50 ]; do
		sleep 0.1
		demo_i=$((demo_i + 1))
	done
	if demo_alive "$demo_pid"; then
		kill -9 "$demo_pid" 2>/dev/null || true
		sleep 0.2
	fi
	! demo_alive "$demo_pid" || die "the demo service (pid $demo_pid) does not stop"
}
