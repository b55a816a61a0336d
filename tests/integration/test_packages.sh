#!/usr/bin/env bash
# The .debs of `make package` on this very machine: `dpkg -i` of the amd64
# overcloud-tower and overcloud-agent installs them (system user, state dirs,
# conffile, units); the units pass `systemd-analyze verify`; the installed
# tower, run as its unit runs it, enrolls the installed agent; `dpkg -r`
# keeps the config and state, `dpkg --purge` removes every file, the state,
# the units' enablement and the system user. Whatever happens, the packages
# are purged again at exit. It refuses to run where either package or an
# `overcloud` user already exists, so it never touches a real installation.
. "$(dirname "$0")/lib.sh"

PKGDIR=${OC_PACKAGES_DIR:-$REPO/build/packages}
version=$(sed -n 's/^set(OC_VERSION "\(.*\)")$/\1/p' "$REPO/CMakeLists.txt")-1
TOWER_DEB="$PKGDIR/overcloud-tower_${version}_amd64.deb"
AGENT_DEB="$PKGDIR/overcloud-agent_${version}_amd64.deb"
for f in "$TOWER_DEB" "$AGENT_DEB"; do
	[ -f "$f" ] || fail "$f missing: run 'make package'"
done
[ "$(id -u)" -eq 0 ] || fail "installs packages: needs root"

# One installer at a time: the normal and the sanitizer runs of this test
# share the machine's dpkg database.
exec 9>/tmp/overcloud-test-packages.lock
flock -w 900 9 || fail "another test_packages holds /tmp/overcloud-test-packages.lock"

pkg_status() {
	dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || echo absent
}
for p in overcloud-tower overcloud-agent; do
	case $(pkg_status "$p") in
	absent | not-installed) ;;
	*) fail "$p is already on this machine ($(pkg_status "$p")); not touching it" ;;
	esac
done
getent passwd overcloud >/dev/null && fail "a user 'overcloud' already exists; not touching it"
getent group overcloud >/dev/null && fail "a group 'overcloud' already exists; not touching it"

# dpkg_retry ARGS...: dpkg, waiting (bounded) while another apt/dpkg runs.
dpkg_retry() {
	local i
	for i in $(seq 1 60); do
		if dpkg "$@" >>"$T/dpkg.log" 2>&1; then
			return 0
		fi
		grep -q "lock" "$T/dpkg.log" || return 1
		: >"$T/dpkg.log"
		sleep 5
	done
	return 1
}

purge_all() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	dpkg_retry --purge overcloud-tower overcloud-agent || true
}
on_exit() {
	local rc=$?
	purge_all
	set +e # under errexit, (exit $rc) would end the trap before cleanup
	(exit $rc)
	cleanup
}
trap on_exit EXIT

export DEBIAN_FRONTEND=noninteractive
dpkg_retry -i "$AGENT_DEB" "$TOWER_DEB" || fail "dpkg -i: $(tail -5 "$T/dpkg.log")"
for p in overcloud-tower overcloud-agent; do
	[ "$(pkg_status "$p")" = installed ] || fail "$p: $(pkg_status "$p")"
done
dpkg -L overcloud-tower overcloud-agent | sort -u >"$T/files"

# What the packages put where (the tower looks for these paths).
for f in /usr/bin/tower /usr/bin/overcloud-agent /usr/lib/overcloud/agents/overcloud-agent-x86_64 \
	/usr/lib/overcloud/agents/overcloud-agent-aarch64 /usr/lib/overcloud/agents/overcloud-agent-armv7; do
	[ -x "$f" ] || fail "$f not installed"
done
[ -x /usr/share/overcloud/roles/k8s-master/apply ] || fail "roles not in /usr/share/overcloud/roles"
for f in lib.sh node.sh demo.sh demo-net.pl; do
	cmp -s "/usr/share/overcloud/roles/_shared/$f" "$REPO/tower/roles/_shared/$f" ||
		fail "the roles' shared $f is not in /usr/share/overcloud/roles/_shared"
done
[ -x /usr/share/overcloud/roles/_shared/demo-net.pl ] || fail "_shared/demo-net.pl lost its exec mode"
[ -f /usr/share/overcloud/patterns/k8s.yaml ] || fail "patterns not in /usr/share/overcloud/patterns"
for f in index.html app.js style.css; do
	cmp -s "/usr/share/overcloud/web/$f" "$REPO/tower/web/$f" || fail "the console's $f is not in /usr/share/overcloud/web"
done
cmp -s /usr/lib/overcloud/agents/overcloud-agent-x86_64 /usr/bin/overcloud-agent ||
	fail "the served x86_64 agent is not the packaged agent"
dpkg-query -W -f='${Conffiles}\n' overcloud-tower | grep -q "/etc/overcloud/tower.conf" ||
	fail "tower.conf is not a conffile"
[ "$(stat -c '%U:%G %a' /etc/overcloud/tower.conf)" = "root:overcloud 640" ] ||
	fail "tower.conf: $(stat -c '%U:%G %a' /etc/overcloud/tower.conf)"
grep -q '^# \[openstack\]' /etc/overcloud/tower.conf && grep -q '^# \[aws\]' /etc/overcloud/tower.conf ||
	fail "tower.conf lacks the commented [openstack]/[aws] examples"
uid=$(id -u overcloud) || fail "no system user overcloud"
[ "$uid" -lt 1000 ] || fail "overcloud is not a system user (uid $uid)"
[ "$(getent passwd overcloud | cut -d: -f7)" = /usr/sbin/nologin ] || fail "overcloud has a login shell"
[ "$(stat -c '%U:%G %a' /var/lib/overcloud)" = "overcloud:overcloud 750" ] ||
	fail "/var/lib/overcloud: $(stat -c '%U:%G %a' /var/lib/overcloud)"
[ "$(stat -c '%a' /var/lib/overcloud-agent)" = 700 ] || fail "/var/lib/overcloud-agent mode"
for u in overcloud-tower overcloud-agent; do
	[ -L "/etc/systemd/system/multi-user.target.wants/$u.service" ] || fail "$u.service not enabled"
done
pass "dpkg -i: files, conffile, system user overcloud (uid $uid), state dirs, units enabled"

systemd-analyze verify /lib/systemd/system/overcloud-tower.service \
	/lib/systemd/system/overcloud-agent.service >"$T/verify.log" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$T/verify.log")"
# verify exits 0 on some warnings; none is expected for our units.
! grep -i "overcloud" "$T/verify.log" || fail "systemd-analyze verify warned: $(cat "$T/verify.log")"
pass "systemd-analyze verify passes on both units"

# The installed tower, as the unit runs it (user overcloud, /var/lib/overcloud;
# loopback ports here), and the installed agent in the unit's state dir.
runuser -u overcloud -- /usr/bin/tower serve --state /var/lib/overcloud --api 127.0.0.1:0 \
	--agents 127.0.0.1:0 --advertise 127.0.0.1 --heartbeat 1s >>"$T/tower.log" 2>&1 &
PIDS+=($!)
wait_until "installed tower up" 30 test -s /var/lib/overcloud/endpoint.json ||
	fail "the installed tower did not start as user overcloud"
[ "$(stat -c '%U %a' /var/lib/overcloud/ca.key)" = "overcloud 600" ] ||
	fail "ca.key: $(stat -c '%U %a' /var/lib/overcloud/ca.key)"
join=$(/usr/bin/tower --state /var/lib/overcloud token create --role edge-worker -o json | jq -r .join)
# shellcheck disable=SC2086
/usr/bin/overcloud-agent ${join#overcloud-agent } --state /var/lib/overcloud-agent >>"$T/agent.log" 2>&1 &
PIDS+=($!)
wait_until "installed agent enrolled" 30 test -s /var/lib/overcloud-agent/agent.conf ||
	fail "the installed agent did not enroll"
id=$(sed -n 's/^node_id=//p' /var/lib/overcloud-agent/agent.conf)
wait_until "installed agent connected" 30 sh -c \
	"/usr/bin/tower --state /var/lib/overcloud nodes -o json | jq -e '.[] | select(.id == \"$id\" and .state == \"connected\")'" ||
	fail "the installed agent never connected"
out=$(/usr/bin/tower --state /var/lib/overcloud run "$id" -- echo installed-ok) || fail "tower run: $out"
grep -q installed-ok <<<"$out" || fail "tower run output: $out"
api=$(jq -r .api_port /var/lib/overcloud/endpoint.json)
curl -sS --cacert /var/lib/overcloud/ca.pem "https://127.0.0.1:$api/ui/" | grep -q 'src="app.js"' ||
	fail "the installed tower does not serve the console from /usr/share/overcloud/web"
pass "installed tower (user overcloud) enrolled the installed agent and ran a task"
for pid in "${PIDS[@]}"; do
	stop_pid "$pid"
done
PIDS=()

# remove: programs go, config and state stay (Debian policy).
dpkg_retry -r overcloud-tower overcloud-agent || fail "dpkg -r: $(tail -5 "$T/dpkg.log")"
[ ! -e /usr/bin/tower ] && [ ! -e /usr/bin/overcloud-agent ] || fail "dpkg -r left the programs"
[ -f /etc/overcloud/tower.conf ] || fail "dpkg -r removed the conffile"
[ -f /var/lib/overcloud/ca.key ] || fail "dpkg -r removed the tower's state"
[ -f /var/lib/overcloud-agent/agent.conf ] || fail "dpkg -r removed the agent's state"
pass "dpkg -r removes the programs and keeps config and state"

# purge: everything goes, including what the scripts made.
dpkg_retry --purge overcloud-tower overcloud-agent || fail "dpkg --purge: $(tail -5 "$T/dpkg.log")"
for p in overcloud-tower overcloud-agent; do
	case $(pkg_status "$p") in
	absent | not-installed) ;;
	*) fail "$p still $(pkg_status "$p") after purge" ;;
	esac
done
left=()
while read -r f; do
	[ -z "$f" ] && continue
	case $f in
	/ | /. | /etc | /lib | /lib/systemd | /lib/systemd/system | /usr | /usr/bin | /usr/lib | /usr/share | \
		/usr/share/doc | /usr/share/lintian | /usr/share/lintian/overrides | /usr/lib/tmpfiles.d) continue ;;
	esac
	[ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done <"$T/files"
[ ${#left[@]} -eq 0 ] || fail "purge left: ${left[*]}"
for d in /etc/overcloud /var/lib/overcloud /var/lib/overcloud-agent /run/overcloud-demo \
	/etc/systemd/system/multi-user.target.wants/overcloud-tower.service \
	/etc/systemd/system/multi-user.target.wants/overcloud-agent.service; do
	[ -e "$d" ] || [ -L "$d" ] && fail "purge left $d"
done
ls /var/lib/systemd/deb-systemd-helper-enabled/ 2>/dev/null | grep -q overcloud &&
	fail "purge left deb-systemd-helper state"
getent passwd overcloud >/dev/null && fail "purge left the user overcloud"
getent group overcloud >/dev/null && fail "purge left the group overcloud"
pass "dpkg --purge removes every file, the state, the units' state and the system user"

# The arm64 tower package, unpacked (this machine is amd64): its tower runs
# under qemu-aarch64-static with Debian's arm64 libraries (the sysroot that
# `make package` linked it against), and enrolls the aarch64 agent that the
# same package serves to nodes, also under qemu.
ARM64_DEB="$PKGDIR/overcloud-tower_${version}_arm64.deb"
ARM64_LIBS=${OC_ARM64_SYSROOT:-$REPO/build/sysroot/arm64-tower}
[ -f "$ARM64_DEB" ] || fail "$ARM64_DEB missing: run 'make package'"
[ -d "$ARM64_LIBS/lib/aarch64-linux-gnu" ] || fail "$ARM64_LIBS missing: run 'make package'"
[ "$(dpkg-deb -f "$ARM64_DEB" Architecture)" = arm64 ] || fail "arm64 package architecture"
[ "$(dpkg-deb -f "$ARM64_DEB" Depends)" = "$(dpkg-deb -f "$TOWER_DEB" Depends)" ] ||
	fail "arm64 and amd64 towers depend on different packages"
dpkg-deb -x "$ARM64_DEB" "$T/arm64"
file -b "$T/arm64/usr/bin/tower" | grep -q "ARM aarch64" || fail "arm64 tower: $(file -b "$T/arm64/usr/bin/tower")"
TOWER64=(qemu-aarch64-static -L "$ARM64_LIBS" "$T/arm64/usr/bin/tower")
"${TOWER64[@]}" serve --state "$T/t64" --api 127.0.0.1:0 --agents 127.0.0.1:0 --advertise 127.0.0.1 \
	--heartbeat 1s --roles "$T/arm64/usr/share/overcloud/roles" \
	--patterns "$T/arm64/usr/share/overcloud/patterns" >>"$T/t64.log" 2>&1 &
PIDS+=($!)
wait_until "arm64 tower up" 120 test -s "$T/t64/endpoint.json" || fail "the arm64 tower did not start"
join=$("${TOWER64[@]}" --state "$T/t64" token create --role edge-worker -o json | jq -r .join)
# shellcheck disable=SC2086
qemu-aarch64-static "$T/arm64/usr/lib/overcloud/agents/overcloud-agent-aarch64" ${join#overcloud-agent } \
	--state "$T/a64" >>"$T/a64.log" 2>&1 &
PIDS+=($!)
wait_until "aarch64 agent enrolled with the arm64 tower" 120 test -s "$T/a64/agent.conf" ||
	fail "the aarch64 agent did not enroll with the arm64 tower"
id=$(sed -n 's/^node_id=//p' "$T/a64/agent.conf")
wait_until "aarch64 agent connected to the arm64 tower" 120 sh -c \
	"$(printf '%q ' "${TOWER64[@]}") --state $T/t64 nodes -o json | jq -e '.[] | select(.id == \"$id\" and .state == \"connected\" and .arch == \"aarch64\")'" ||
	fail "the aarch64 agent never showed as connected on the arm64 tower"
pass "arm64 tower package: its tower (qemu, Debian arm64 libraries) enrolled its aarch64 agent"
