#!/bin/sh
# overcloud-install-agent: installs the overcloud agent on a new node and
# joins it to the tower, until it has joined.
#
#   overcloud-install-agent          from cloud-init's runcmd. Under systemd
#                                    it enables and starts the boot-time unit
#                                    overcloud-install-agent.service, which
#                                    does the work (and again at every boot
#                                    until the node has joined); without
#                                    systemd as PID 1 it does the work itself.
#   overcloud-install-agent --run    the work (the unit's ExecStart): download
#                                    the agent for this machine from the tower
#                                    (TLS checked against the tower's CA),
#                                    refuse it unless its sha256 is the one in
#                                    join.conf, install it, join with the
#                                    single-use token, start the agent.
#
# Every transient failure (no route, refused, reset, timeout, 5xx) is tried
# again until a deadline well inside the token's lifetime (token_expires in
# join.conf less OC_INSTALL_MARGIN_S, 300 s). A token past it is reported
# once, clearly, and the node stops trying. Once joined the token is removed
# from join.conf on every run, and the unit stays enabled and runs at every
# boot after cloud-init's write_files: a rerun of write_files (or `cloud-init
# clean` and a reboot) cannot leave the spent token behind.
#
# Exit status: 0 joined (and the agent started, or systemd is not there to
# start it); 1 gave up on a transient failure at the deadline; 2 a permanent
# refusal (wrong arch, checksum mismatch, the tower refused the token);
# 3 the token has expired.
# Every path it writes is under $OC_ROOT (empty on a node; tests set it).
# OC_INSTALL_RETRY_S (10) is the pause between tries.
set -eu

root=${OC_ROOT:-}
conf=$root/etc/overcloud/join.conf
ca=$root/etc/overcloud/ca.pem
bindir=$root/usr/local/bin
agent=$bindir/overcloud-agent
state=$root/var/lib/overcloud-agent
retry_s=${OC_INSTALL_RETRY_S:-10}
margin_s=${OC_INSTALL_MARGIN_S:-300}
unit=overcloud-install-agent.service

log() { echo "overcloud-install-agent: $*" >&2; }
die() {
	status=$1
	shift
	log "$*"
	exit "$status"
}

# conf KEY: the value of "KEY = value" in join.conf (empty when absent).
conf() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$conf" | head -n 1; }

# systemd is PID 1 (sd_booted(3)'s test).
have_systemd() { [ -d "$root/run/systemd/system" ]; }

joined() { [ -s "$state/agent.conf" ]; }

# The token is spent once the node has joined: it must not stay on the node,
# nor come back when cloud-init writes join.conf again.
forget_token() {
	if [ -f "$conf" ] && grep -q '^token[[:space:]]*=' "$conf"; then
		sed -i '/^token[[:space:]]*=/d' "$conf"
		log "removed the spent join token from $conf"
	fi
}

start_agent() {
	if have_systemd; then
		systemctl daemon-reload
		systemctl enable --now --no-block overcloud-agent.service
		log "overcloud-agent enabled and started"
	else
		log "joined, service not started: systemd is not PID 1 here" \
			"(start \"$agent run --state $state\" some other way)"
	fi
}

if [ "${1:-}" != --run ]; then
	[ $# -eq 0 ] || die 2 "usage: overcloud-install-agent [--run]"
	if have_systemd; then
		# The unit does the work now and at every boot until joined;
		# cloud-init's boot goes on meanwhile.
		systemctl daemon-reload
		systemctl enable --now --no-block "$unit"
		log "$unit enabled and started (journalctl -u $unit)"
		exit 0
	fi
fi

# One run at a time (runcmd's and the unit's, or a restart while the last
# curl still runs): the later one waits, then finds the node joined.
if command -v flock >/dev/null 2>&1; then
	mkdir -p "$root/run/lock"
	exec 9>"$root/run/lock/overcloud-install-agent.lock"
	flock 9
fi

[ -r "$ca" ] || die 2 "$ca is missing"
if joined; then
	# Already joined (a reboot, or cloud-init ran again): the node keeps its
	# identity and the token goes.
	forget_token
	start_agent
	exit 0
fi
[ -r "$conf" ] || die 2 "$conf is missing"
tower=$(conf tower)
api=$(conf api)
arch=$(conf arch)
want=$(conf agent_sha256)
token=$(conf token)
expires=$(conf token_expires)
if [ -z "$tower" ] || [ -z "$api" ] || [ -z "$arch" ] || [ -z "$want" ]; then
	die 2 "$conf needs tower, api, arch and agent_sha256"
fi
[ -n "$token" ] || die 2 "$conf has no token and the node never joined"
case $expires in
	'' | *[!0-9]*) expires=$(($(date +%s) + 3600)) ;;   # older user-data: a 1 h token
esac
deadline=$((expires - margin_s))

# The binary must run here: the tower picked it by the arch it was told.
machine=$(uname -m)
case $machine in
	x86_64|amd64) machine=x86_64 ;;
	aarch64|arm64) machine=aarch64 ;;
	armv7*|armv8l) machine=armv7 ;;
esac
[ "$machine" = "$arch" ] ||
	die 2 "this machine is $machine but the user-data is for $arch (tower userdata --arch $machine)"

expired() {
	die 3 "the join token expired at $(date -u -d "@$expires" '+%Y-%m-%d %H:%M:%S UTC' 2>/dev/null ||
		echo "$expires") (this node's clock: $(date -u '+%Y-%m-%d %H:%M:%S UTC')," \
		"tries stop $margin_s s before): this node cannot join with it." \
		"Make new user-data (tower userdata --role $(conf role)) or run overcloud-agent join" \
		"with a new token (tower token create)"
}

left() { echo $((deadline - $(date +%s))); }

# pause: waits retry_s seconds, or gives up at the deadline.
pause() {
	if [ "$(left)" -le "$retry_s" ]; then
		die 1 "still failing at the deadline ($margin_s s before the token expires): $1"
	fi
	log "$1; trying again in $retry_s s"
	sleep "$retry_s"
}

[ "$(left)" -gt 0 ] || expired

mkdir -p "$bindir"
tmp=$(mktemp "$bindir/.overcloud-agent.XXXXXX")
trap 'rm -f "$tmp"' EXIT
url="https://$api/v1/artifacts/agent/$arch"
log "downloading $url"
while :; do
	budget=$(left)
	[ "$budget" -gt 0 ] || expired
	if command -v curl >/dev/null 2>&1; then
		# --retry-all-errors: no route (exit 7), refused, reset, timeouts and
		# 5xx are all worth another try; --retry-max-time keeps it inside
		# the token's lifetime. A certificate the CA does not vouch for is
		# not transient: after curl's own tries it ends the install.
		rc=0
		curl --proto =https --cacert "$ca" --fail --no-progress-meter --show-error \
			--connect-timeout 10 --max-time 600 --retry 5 --retry-all-errors \
			--retry-delay "$retry_s" --retry-max-time "$budget" \
			--output "$tmp" "$url" || rc=$?
		case $rc in
			0) break ;;
			51|58|60|77) die 2 "download refused: the tower at $api did not prove itself" \
				"with $ca (curl exit $rc); not installed" ;;
		esac
	elif command -v wget >/dev/null 2>&1; then
		if wget --quiet --https-only --ca-certificate="$ca" --tries=1 --timeout=60 \
			--output-document="$tmp" "$url"; then
			break
		fi
	else
		die 2 "neither curl nor wget is installed"
	fi
	pause "download failed: $url"
done
got=$(sha256sum "$tmp" | cut -d ' ' -f 1)
[ "$got" = "$want" ] ||
	die 2 "checksum mismatch for $url: got sha256 $got, the tower said $want; not installed"
chmod 0755 "$tmp"
mv -f "$tmp" "$agent"
trap - EXIT
log "installed $agent (sha256 $got)"

# The agent tries an unreachable tower again by itself, for --retry-for; a
# tower that refuses (a spent, unknown or expired token) is final.
while :; do
	budget=$(left)
	[ "$budget" -gt 0 ] || expired
	errfile=$(mktemp)
	if "$agent" join --tower "$tower" --token "$token" --ca "$ca" --state "$state" --no-run \
		--retry-for "${budget}s" 2>"$errfile"; then
		cat "$errfile" >&2
		rm -f "$errfile"
		break
	fi
	why=$(tail -n 1 "$errfile")
	cat "$errfile" >&2
	rm -f "$errfile"
	case $why in
		*"token expired"*) expired ;;
		*"refused to enroll"*) die 2 "the tower refused this node: $why" ;;
	esac
	pause "join failed: $why"
done
forget_token
start_agent
