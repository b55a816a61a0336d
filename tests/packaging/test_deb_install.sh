#!/usr/bin/env bash
# The installed package tried as a new user would (issue 17 item 16), in a
# Debian 12 root made by debootstrap --variant=minbase from the Debian mirror
# (made once and kept in build/debootstrap/, then copied for each run):
#   install   apt-get installs build/packages/overcloud-tower_*_amd64.deb (and
#             only it: no /usr/bin/overcloud-agent) with its dependencies;
#   use       `tower serve --group-access` runs as the system user overcloud
#             (as the unit does; systemd is not PID 1 in a chroot);
#             an operator in the group overcloud runs `tower list` from his
#             home, without --state and without root (the CLI finds
#             /var/lib/overcloud); a user outside the group is told why not;
#             `tower create --provider local --pattern demo` makes a ready
#             OverCloud whose nodes run /usr/lib/overcloud/agents/
#             overcloud-agent-x86_64; `tower delete` removes it;
#   upgrade   the package installed again over itself (dpkg -i: postinst
#             configure with the old version): the state, the CA and the
#             token are kept, the tower answers as before;
#   purge     dpkg --purge: /var/lib/overcloud, /etc/overcloud and the user
#             overcloud are gone.
# Run by `make test-package` (not in make test: the first debootstrap takes
# minutes; later runs about one to two). Needs root, debootstrap, the mirror.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

[ "$(id -u)" = 0 ] || { echo "skipped: needs root (chroot, mounts)"; exit 0; }
command -v debootstrap >/dev/null || fail "debootstrap is not installed (packaging/deps.sh test)"
deb=$(ls "$REPO"/build/packages/overcloud-tower_*_amd64.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail "no build/packages/overcloud-tower_*_amd64.deb (make package)"
MIRROR=${OC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE="$REPO/build/debootstrap/bookworm-minbase.tar"

# ---- the Debian 12 root, made once ----
if [ ! -s "$CACHE" ]; then
	mkdir -p "$(dirname "$CACHE")"
	boot=$(mktemp -d "$REPO/build/debootstrap/root.XXXXXX")
	echo "debootstrap --variant=minbase bookworm from $MIRROR (once; cached in $CACHE)"
	if ! debootstrap --variant=minbase bookworm "$boot" "$MIRROR" >"$boot.log" 2>&1; then
		tail -n 20 "$boot.log" >&2
		rm -rf "$boot" "$boot.log"
		fail "debootstrap failed"
	fi
	tar -C "$boot" -cf "$CACHE.tmp" .
	mv "$CACHE.tmp" "$CACHE"
	rm -rf "$boot" "$boot.log"
fi

R=$(mktemp -d /tmp/oc-deb.XXXXXX)
TOWER_PID=
MOUNTS=()
finish() {
	local rc=$? m
	set +e
	[ -n "$TOWER_PID" ] && kill "$TOWER_PID" 2>/dev/null && wait "$TOWER_PID" 2>/dev/null
	# whatever still runs in the root (local agents): by pid
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && kill -9 "${p#/proc/}" 2>/dev/null
	done
	for ((m = ${#MOUNTS[@]} - 1; m >= 0; m--)); do
		umount -l "${MOUNTS[m]}" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ -f "$R/tower.log" ]; then
		echo "--- tower.log" >&2
		tail -n 30 "$R/tower.log" >&2
	fi
	rm -rf "$R"
	exit $rc
}
trap finish EXIT
tar -C "$R" -xf "$CACHE"
chmod 0755 "$R"   # mktemp made it 0700: the root's users must reach /
for m in proc sys dev dev/pts; do
	mount --bind "/$m" "$R/$m"
	MOUNTS+=("$R/$m")
done
cp /etc/resolv.conf "$R/etc/resolv.conf"
echo "deb $MIRROR bookworm main" >"$R/etc/apt/sources.list"
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
# owner_mode PATH: "user:group mode" as the root's own users and groups name them.
owner_mode() { in_root stat -c '%U:%G %a' "$1"; }
# as USER [CMD...]: a login-like run as USER from the user's home.
as() {
	local user=$1
	shift
	chroot --userspec="$user" "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME="/home/${user%%:*}" \
		sh -c 'cd "$HOME" && exec "$@"' sh "$@"
}

# ---- install ----
cp "$deb" "$R/tmp/"
in_root apt-get update -qq >"$R/apt.log" 2>&1 || fail "apt-get update: $(tail -n 5 "$R/apt.log")"
DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -qq --no-install-recommends \
	"/tmp/$(basename "$deb")" >>"$R/apt.log" 2>&1 || fail "install: $(tail -n 20 "$R/apt.log")"
in_root getent passwd overcloud >/dev/null || fail "no system user overcloud"
[ "$(owner_mode /var/lib/overcloud)" = "overcloud:overcloud 750" ] ||
	fail "state dir: $(owner_mode /var/lib/overcloud)"
[ -x "$R/usr/lib/overcloud/agents/overcloud-agent-x86_64" ] || fail "no packaged x86_64 agent"
[ ! -e "$R/usr/bin/overcloud-agent" ] || fail "test premise: /usr/bin/overcloud-agent is there"
grep -q -- '--group-access' "$R/lib/systemd/system/overcloud-tower.service" || fail "unit without --group-access"
pass "installed $(basename "$deb") into a Debian 12 minbase root with apt-get (user, state dir 0750, agents)"

# ---- use: the tower as the unit runs it, the CLI as an operator ----
in_root useradd -m -s /bin/sh op
in_root useradd -m -s /bin/sh guest
in_root adduser --quiet op overcloud
# start_tower [API_PORT AGENT_PORT]: the same ports after a restart, where
# the nodes' agents dial back.
start_tower() {
	chroot --userspec=overcloud:overcloud "$R" /usr/bin/env -i PATH=/usr/bin:/bin \
		/usr/bin/tower serve --state /var/lib/overcloud --group-access --api "127.0.0.1:${1:-0}" \
		--agents "127.0.0.1:${2:-0}" --advertise 127.0.0.1 --heartbeat 2s >>"$R/tower.log" 2>&1 &
	TOWER_PID=$!
	for _ in $(seq 1 300); do
		[ -s "$R/var/lib/overcloud/endpoint.json" ] && grep -q 'group-access' "$R/tower.log" && return 0
		sleep 0.1
	done
	fail "the installed tower did not start"
}
rm -f "$R/var/lib/overcloud/endpoint.json"
start_tower
for f in admin.token ca.pem endpoint.json; do
	[ "$(owner_mode "/var/lib/overcloud/$f")" = "overcloud:overcloud 640" ] ||
		fail "$f: $(owner_mode "/var/lib/overcloud/$f")"
done
[ "$(stat -c %a "$R/var/lib/overcloud/ca.key")" = 600 ] || fail "ca.key is not the tower's own"
as op:op tower list >"$R/list.out" 2>&1 || fail "tower list as op (group overcloud): $(cat "$R/list.out")"
if as guest:guest tower list >"$R/guest.out" 2>&1; then fail "a user outside the group listed"; fi
grep -q 'Permission denied (the tower.s admins are root and the group overcloud)' "$R/guest.out" ||
	fail "guest's error: $(cat "$R/guest.out")"
pass "tower serve as overcloud (--group-access); op (group overcloud) runs tower list from his home, guest is told why not"

if ! as op:op tower create --provider local --number 1 --pattern demo >"$R/create.out" 2>&1; then
	id=$(grep -o 'oc-[0-9a-f]*' "$R/create.out" | head -n 1)
	for step in $(as op:op tower show "$id" -o json | jq -r '.steps[] | select(.state == "failed") | .name'); do
		echo "--- tower logs $id --step $step" >&2
		as op:op tower logs "$id" --step "$step" >&2 || true
	done
	fail "create: $(tail -n 20 "$R/create.out")"
fi
id=$(grep -o 'oc-[0-9a-f]*' "$R/create.out" | head -n 1)
[ "$(as op:op tower show "$id" -o json | jq -r .status)" = ready ] || fail "not ready: $(cat "$R/create.out")"
agents=$(for p in /proc/[0-9]*; do
	[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && readlink "$p/exe"
done | grep -c 'overcloud-agent-x86_64$' || true)
[ "$agents" -ge 2 ] || fail "nodes do not run the packaged agent ($agents found)"
pass "a demo OverCloud ($id) ready on the local provider, nodes running /usr/lib/overcloud/agents/overcloud-agent-x86_64"

# ---- upgrade: the package over itself ----
pin=$(grep -o 'ca pin sha256:[0-9a-f]*' "$R/tower.log" | head -n 1)
ports=$(jq -r '"\(.api_port) \(.agent_port)"' "$R/var/lib/overcloud/endpoint.json")
token=$(cat "$R/var/lib/overcloud/admin.token")
DEBIAN_FRONTEND=noninteractive in_root dpkg -i "/tmp/$(basename "$deb")" >>"$R/apt.log" 2>&1 ||
	fail "upgrade: $(tail -n 20 "$R/apt.log")"
kill "$TOWER_PID"
wait "$TOWER_PID" 2>/dev/null || true
TOWER_PID=
rm -f "$R/var/lib/overcloud/endpoint.json"
# shellcheck disable=SC2086
start_tower $ports
[ "$(cat "$R/var/lib/overcloud/admin.token")" = "$token" ] || fail "the admin token changed"
grep -c "$pin" "$R/tower.log" | grep -qx 2 || fail "the CA changed over the upgrade"
[ "$(as op:op tower show "$id" -o json | jq -r .status)" = ready ] || fail "lost the OverCloud"
as op:op tower delete "$id" >"$R/delete.out" 2>&1 || fail "delete: $(tail -n 20 "$R/delete.out")"
pass "upgrade over itself keeps the CA, the admin token and the OverCloud; tower delete removes it"

# ---- purge ----
# what stopping the unit does (KillMode=mixed: the tower, then what is left
# of its processes), by pid
kill "$TOWER_PID"
wait "$TOWER_PID" 2>/dev/null || true
TOWER_PID=
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && kill -9 "${p#/proc/}" 2>/dev/null
done
for _ in $(seq 1 50); do
	left=0
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && left=1
	done
	[ $left = 0 ] && break
	sleep 0.1
done
in_root dpkg --purge overcloud-tower >>"$R/apt.log" 2>&1 || fail "purge: $(tail -n 20 "$R/apt.log")"
[ ! -e "$R/var/lib/overcloud" ] || fail "purge left /var/lib/overcloud"
[ ! -e "$R/run/overcloud-demo" ] || fail "purge left /run/overcloud-demo"
[ ! -e "$R/etc/overcloud" ] || fail "purge left /etc/overcloud"
if in_root getent passwd overcloud >/dev/null; then fail "purge left the user overcloud"; fi
pass "purge removes the state, the config and the system user"
