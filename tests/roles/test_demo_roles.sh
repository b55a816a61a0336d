#!/usr/bin/env bash
# demo-post, demo-cluster and demo-check for real on loopback (no shims): the
# post's proof service on 127.0.0.1 and a free port, two cluster nodes on
# 127.0.0.2 and 127.0.0.3 that verify it and register, the post's check,
# refusals (wrong secret, unregistered address, port in use), re-runs, and
# removes that stop the service and leave nothing behind.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The demo roles need perl-base and coreutils beyond lib.sh's harmless set.
for tool in perl sha256sum od sleep; do
	path=$(type -P "$tool") || fail "$tool is not installed"
	ln -sf "$path" "$T/bin/$tool"
done

# Stops any proof service a failed test left running, then lib.sh's cleanup.
demo_cleanup() {
	local rc=$? f pid
	for f in "$T"/node-*/root/run/overcloud-demo/*/pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'demo-net.pl serve'; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	# errexit would end the trap at (exit $rc): hand rc on with it off.
	set +e
	(exit $rc)
	roles_cleanup
}
trap demo_cleanup EXIT

for r in demo-post demo-cluster demo-check; do
	check_role_yaml $r
done

# free_port: a TCP port nothing listens on now (the kernel's pick).
free_port() {
	perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1) or die "$@\n"; print $s->sockport(), "\n"'
}

# proc_alive PID: the process exists and is not a zombie.
proc_alive() {
	[ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"
}

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() {
	perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 2) ? 0 : 1)' "$1"
}

# ask PORT REQUEST: one request to the service, as a stranger would send it.
ask() {
	printf '%s\n' "$2" | perl "$(role_bundle demo-post)/demo-net.pl" ask 127.0.0.1 "$1"
}

PORT=$(free_port)

# --- demo-post apply: secret, service, a proof it checked itself
new_node post
POST=$NODE
POST_STATE=$POST/root/run/overcloud-demo/n-test
NODE_IP=127.0.0.1 run_step demo-post apply port="$PORT"
expect_rc_ok "demo-post apply"
parse_outputs
[[ ${OUT[secret]} =~ ^[0-9a-f]{64}$ ]] || fail "demo-post apply: secret is not 64 hex digits"
SECRET=${OUT[secret]}
expect_output service "127.0.0.1:$PORT"
expect_progress "demo-post apply" final
expect_no_secrets "demo-post apply" "$SECRET"
PID=$(cat "$POST_STATE/pid")
proc_alive "$PID" || fail "demo-post apply: service pid $PID is not running"
[ "$(stat -c %a "$POST_STATE/secret")" = 600 ] || fail "secret file is not 0600"
ok "demo-post apply: secret of 64 hex digits, service 127.0.0.1:$PORT (pid $PID)"

# The service answers a challenge with sha256(secret:challenge), and only that.
reply=$(ask "$PORT" "prove 0123456789abcdef0123")
want="proof $(printf '%s' "$SECRET:0123456789abcdef0123" | sha256sum | cut -d' ' -f1)"
[ "$reply" = "$want" ] || fail "proof: got '$reply', expected '$want'"
[ "$(ask "$PORT" "join 127.0.0.9 $(printf '%064d' 0)")" = denied ] || fail "a join with a wrong MAC was not denied"
[ "$(ask "$PORT" "hello")" = "error unknown request" ] || fail "an unknown request got no error"
[ "$(ask "$PORT" members)" = end ] || fail "members not empty before any join"
ok "service: proves the secret, denies a wrong MAC, refuses unknown requests"

# --- re-run: same secret, same process
NODE_IP=127.0.0.1 run_step demo-post apply port="$PORT"
expect_rc_ok "demo-post re-apply"
parse_outputs
expect_output secret "$SECRET"
[ "$(cat "$POST_STATE/pid")" = "$PID" ] || fail "re-apply restarted the service"
ok "demo-post re-apply: same secret, same service pid $PID"

# --- the port taken by someone else: a clear failure
new_node other
NODE_IP=127.0.0.1 run_step demo-post apply port="$PORT"
expect_failure "demo-post apply on a port in use" "could not start the proof service on 127.0.0.1:$PORT"
NODE=$POST

# --- two cluster nodes verify the post and register
declare -A CNODE=()
for ip in 127.0.0.2 127.0.0.3; do
	new_node "cluster-$ip"
	CNODE[$ip]=$NODE
	NODE_IP=$ip run_step demo-cluster apply secret="$SECRET" service="127.0.0.1:$PORT"
	expect_rc_ok "demo-cluster apply on $ip"
	parse_outputs
	expect_output proof_ok yes
	expect_output address "$ip"
	expect_progress "demo-cluster apply on $ip" final
	expect_no_secrets "demo-cluster apply on $ip"
	grep -qx "address=$ip" "$NODE/root/run/overcloud-demo/n-test/joined" || fail "$ip: no marker file"
	ok "demo-cluster apply on $ip: proof_ok=yes, registered, marker written"
done
members=$(ask "$PORT" members)
printf '%s\n' "$members" | grep -qx 'member 127.0.0.2 127.0.0.2' || fail "127.0.0.2 not registered as seen from itself: $members"
printf '%s\n' "$members" | grep -qx 'member 127.0.0.3 127.0.0.3' || fail "127.0.0.3 not registered as seen from itself: $members"
ok "the post recorded both cluster nodes, each from its own address"

# Re-run on a cluster node: fine, still one registration each.
NODE=${CNODE[127.0.0.2]}
NODE_IP=127.0.0.2 run_step demo-cluster apply secret="$SECRET" service="127.0.0.1:$PORT"
expect_rc_ok "demo-cluster re-apply"
[ "$(ask "$PORT" members | grep -c '^member ')" = 2 ] || fail "re-apply added a registration"
ok "demo-cluster re-apply: still two registrations"

# A wrong secret: the post's proof does not match, nothing registered.
new_node cluster-bad
NODE_IP=127.0.0.4 run_step demo-cluster apply secret="not-the-secret" service="127.0.0.1:$PORT"
expect_failure "demo-cluster apply with a wrong secret" "did not prove the secret this node was given"
[ ! -e "$NODE/root/run/overcloud-demo/n-test/joined" ] || fail "a failed join left a marker"
ask "$PORT" members | grep -q '127.0.0.4' && fail "a node with a wrong secret got registered"
NODE_IP=127.0.0.4 run_step demo-cluster apply secret="$SECRET" service="127.0.0.1:1"
expect_failure "demo-cluster apply to a closed port" "cannot reach the post's service at 127.0.0.1:1"
NODE_IP=127.0.0.4 run_step demo-cluster apply
expect_failure "demo-cluster apply without inputs" "input secret is empty"

# --- demo-check on the post
NODE=$POST
NODE_IP=127.0.0.1 run_step demo-check apply addresses="127.0.0.2 127.0.0.3" service="127.0.0.1:$PORT"
expect_rc_ok "demo-check apply"
parse_outputs
expect_output verified 2
expect_output summary "2 of 2 cluster nodes proved the shared secret to the post at 127.0.0.1:$PORT"
expect_progress "demo-check apply" final
[ -f "$POST_STATE/check-report" ] || fail "demo-check left no report"
ok "demo-check apply: 2 of 2 verified"
NODE_IP=127.0.0.1 run_step demo-check apply addresses="127.0.0.2 127.0.0.4" service="127.0.0.1:$PORT"
expect_failure "demo-check with an unregistered address" "not registered with the post: 127.0.0.4 (1 of 2 did)"

# --- removes
NODE_IP=127.0.0.1 run_step demo-check remove addresses="x" service="127.0.0.1:$PORT"
expect_rc_ok "demo-check remove"
[ ! -e "$POST_STATE/check-report" ] || fail "demo-check remove left the report"
for ip in 127.0.0.2 127.0.0.3; do
	NODE=${CNODE[$ip]}
	NODE_IP=$ip run_step demo-cluster remove
	expect_rc_ok "demo-cluster remove on $ip"
	[ ! -e "$NODE/root/run/overcloud-demo" ] || fail "demo-cluster remove on $ip left $NODE/root/run/overcloud-demo"
	NODE_IP=$ip run_step demo-cluster remove
	expect_rc_ok "demo-cluster remove again on $ip"
done
ok "demo-cluster remove: marker gone, twice is fine"

NODE=$POST
NODE_IP=127.0.0.1 run_step demo-post remove
expect_rc_ok "demo-post remove"
expect_progress "demo-post remove" final
! proc_alive "$PID" || fail "demo-post remove: service pid $PID still runs"
! listening "$PORT" || fail "demo-post remove: something still listens on $PORT"
[ ! -e "$POST/root/run/overcloud-demo" ] || fail "demo-post remove left $POST/root/run/overcloud-demo"
NODE_IP=127.0.0.1 run_step demo-post remove
expect_rc_ok "demo-post remove again"
ok "demo-post remove: service stopped, port closed, state gone, twice is fine"

# --- after remove, apply starts over with a new secret; a service that
# died (kill -9) is restarted by apply with the secret it kept.
NODE_IP=127.0.0.1 run_step demo-post apply port="$PORT"
expect_rc_ok "demo-post apply after remove"
parse_outputs
[ "${OUT[secret]}" != "$SECRET" ] || fail "a fresh apply after remove reused the old secret"
SECRET2=${OUT[secret]}
PID=$(cat "$POST_STATE/pid")
kill -9 "$PID"
for _ in $(seq 50); do proc_alive "$PID" || break; sleep 0.1; done
NODE_IP=127.0.0.1 run_step demo-post apply port="$PORT"
expect_rc_ok "demo-post apply after its service died"
parse_outputs
expect_output secret "$SECRET2"
[ "$(cat "$POST_STATE/pid")" != "$PID" ] || fail "the dead service was not restarted"
listening "$PORT" || fail "the restarted service does not listen"
NODE_IP=127.0.0.1 run_step demo-post remove
expect_rc_ok "demo-post final remove"
ok "demo-post apply restarts a dead service with the same secret"

# --- bad inputs
NODE_IP=127.0.0.1 run_step demo-post apply port=70000
expect_failure "demo-post apply with a bad port" "port '70000' is not a TCP port"
NODE_IP=not-an-ip run_step demo-post apply
expect_failure "demo-post apply without an IPv4 address" "OVERCLOUD_NODE_IP 'not-an-ip' is not an IPv4 address"
echo "all demo role tests passed"
