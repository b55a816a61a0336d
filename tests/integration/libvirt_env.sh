# libvirt_env.sh — a private libvirtd for tests: its own network namespace,
# its own mount namespace whose /run, /var and /etc/libvirt are dirs of the
# test's temp dir, one network (bridge, DHCP by its own dnsmasq) and one dir
# storage pool. Nothing of the host's libvirt is read or touched.
#
# Source it (bash), then:
#   libvirt_env_up      starts it all; on return these are exported:
#     OC_LIBVIRT_DIR       the temp dir holding everything (removed by _down)
#     OC_LIBVIRT_URI       qemu:///system?socket=$OC_LIBVIRT_DIR/run/libvirt/libvirt-sock
#                          (works from outside the namespaces: virsh -c, the tower)
#     OC_LIBVIRT_NETNS     the network namespace; the bridge lives there, so a
#                          tower the VMs must reach runs in it (ip netns exec)
#     OC_LIBVIRT_NETWORK   the libvirt network's name (isolated, DHCP)
#     OC_LIBVIRT_BRIDGE    its bridge device (inside OC_LIBVIRT_NETNS)
#     OC_LIBVIRT_HOST_IP   the bridge's address: what VMs dial to reach the host
#     OC_LIBVIRT_SUBNET    the network, as 10.233.0.0/24
#     OC_LIBVIRT_POOL      the dir storage pool's name
#     OC_LIBVIRT_POOL_DIR  its directory
#     OC_LIBVIRT_PID       libvirtd's pid
#     OC_LIBVIRT_LOG       libvirtd's log file
#     OC_LIBVIRT_QEMU_LOG_DIR  /var/log/libvirt/qemu as seen from outside: the
#                          provider's serial logs (<node>-serial.log) are there
#   libvirt_env_exec CMD...  runs CMD in libvirtd's mount and network
#                          namespaces (e.g. to mount a small fs under a pool)
#   virsh_lv ARGS...         virsh -c "$OC_LIBVIRT_URI" ARGS...
#   libvirt_env_down    removes everything: domains, volumes, pools, networks,
#                          libvirtd and its dnsmasq and qemu, the netns, the
#                          temp dir. Idempotent; libvirt_env_up installs it in
#                          the EXIT trap ahead of the one already there (lib.sh's).
# Waits are on observable states with deadlines; nothing sleeps to settle.

OC_LIBVIRT_SUBNET=10.233.0.0/24
OC_LIBVIRT_HOST_IP=10.233.0.1

virsh_lv() {
	virsh -q -c "$OC_LIBVIRT_URI" "$@"
}

libvirt_env_exec() {
	nsenter -t "$OC_LIBVIRT_PID" -m -n -- "$@"
}

# _lv_wait SECONDS CMD...: polls CMD until it succeeds; 1 at the deadline.
_lv_wait() {
	local secs=$1
	shift
	local deadline=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# What a test killed outright (SIGKILL: no EXIT trap) left: each env dir
# names its owner's pid and its netns; an env whose owner is gone is torn down.
_lv_sweep_stale() {
	local dir owner ns
	for dir in /tmp/oc-libvirt.*; do
		[ -f "$dir/owner" ] || continue
		read -r owner ns <"$dir/owner" || continue
		kill -0 "$owner" 2>/dev/null && continue
		echo "libvirt_env: removing $dir and netns $ns (their test, pid $owner, is gone)" >&2
		if ip netns list 2>/dev/null | grep -qw "$ns"; then
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
			_lv_wait 20 sh -c "! ip netns pids $ns | grep -q ." || true
			ip netns del "$ns" 2>/dev/null || true
		fi
		rm -rf "$dir"
	done
}

libvirt_env_up() {
	local suffix prev d
	_lv_sweep_stale
	suffix=$(printf '%s%04x' "$$" "$RANDOM" | tail -c 8)
	OC_LIBVIRT_DIR=$(mktemp -d /tmp/oc-libvirt.XXXXXX)
	chmod 0711 "$OC_LIBVIRT_DIR"
	OC_LIBVIRT_NETNS=oclv-$suffix
	OC_LIBVIRT_NETWORK=oclv-net-$suffix
	OC_LIBVIRT_BRIDGE=oclv$suffix
	OC_LIBVIRT_POOL=oclv-pool-$suffix
	OC_LIBVIRT_POOL_DIR=$OC_LIBVIRT_DIR/pool
	OC_LIBVIRT_URI="qemu:///system?socket=$OC_LIBVIRT_DIR/run/libvirt/libvirt-sock"
	OC_LIBVIRT_LOG=$OC_LIBVIRT_DIR/libvirtd.log
	OC_LIBVIRT_QEMU_LOG_DIR=$OC_LIBVIRT_DIR/var/log/libvirt/qemu
	OC_LIBVIRT_PID=
	export OC_LIBVIRT_DIR OC_LIBVIRT_NETNS OC_LIBVIRT_NETWORK OC_LIBVIRT_BRIDGE \
		OC_LIBVIRT_POOL OC_LIBVIRT_POOL_DIR OC_LIBVIRT_URI OC_LIBVIRT_LOG \
		OC_LIBVIRT_SUBNET OC_LIBVIRT_HOST_IP OC_LIBVIRT_PID OC_LIBVIRT_QEMU_LOG_DIR

	# Cleanup first, then whatever trap was there (lib.sh's cleanup reads $?).
	eval "set -- $(trap -p EXIT)"
	prev=${3:-:}
	# shellcheck disable=SC2064,SC2154
	# (exit rc) as an if's condition gives the previous trap the test's $?
	# without tripping set -e.
	trap "_lv_rc=\$?; libvirt_env_down; if (exit \$_lv_rc); then $prev; else $prev; fi" EXIT

	# /var in the namespace is ours: libvirt's state, cache and logs only
	# (/var/run stays the namespace's /run).
	for d in run var/lib/libvirt var/log/libvirt/qemu var/cache/libvirt var/tmp etc/libvirt pool; do
		mkdir -p "$OC_LIBVIRT_DIR/$d"
	done
	ln -s /run "$OC_LIBVIRT_DIR/var/run"
	cp -a /etc/libvirt/. "$OC_LIBVIRT_DIR/etc/libvirt/"
	# The qemu driver resolves its built-in user before reading qemu.conf;
	# the namespace's passwd and group have it (the host's are not changed).
	cp /etc/passwd "$OC_LIBVIRT_DIR/passwd"
	cp /etc/group "$OC_LIBVIRT_DIR/group"
	getent passwd libvirt-qemu >/dev/null ||
		echo 'libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin' >>"$OC_LIBVIRT_DIR/passwd"
	getent group libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:64055:' >>"$OC_LIBVIRT_DIR/group"
	getent group kvm >/dev/null || echo 'kvm:x:64056:' >>"$OC_LIBVIRT_DIR/group"
	# No polkit, no dbus, no systemd in here: root on the private socket.
	cat >"$OC_LIBVIRT_DIR/etc/libvirt/libvirtd.conf" <<-EOF
		auth_unix_ro = "none"
		auth_unix_rw = "none"
		unix_sock_rw_perms = "0700"
		log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	EOF
	# qemu runs as root on files of the temp dir; no cgroups, no extra mount
	# namespace and no virtlogd: this is a sandboxed test machine, not a host.
	cat >"$OC_LIBVIRT_DIR/etc/libvirt/qemu.conf" <<-EOF
		user = "root"
		group = "root"
		dynamic_ownership = 0
		remember_owner = 0
		security_driver = "none"
		cgroup_controllers = [ ]
		namespaces = [ ]
		stdio_handler = "file"
	EOF

	echo "$$ $OC_LIBVIRT_NETNS" >"$OC_LIBVIRT_DIR/owner"
	ip netns add "$OC_LIBVIRT_NETNS"
	ip netns exec "$OC_LIBVIRT_NETNS" ip link set lo up
	# shellcheck disable=SC2016
	ip netns exec "$OC_LIBVIRT_NETNS" unshare -m --propagation private sh -c '
		set -e
		d=$1
		mount --bind "$d/run" /run
		mount --bind "$d/var" /var
		mount --bind "$d/etc/libvirt" /etc/libvirt
		mount --bind "$d/passwd" /etc/passwd
		mount --bind "$d/group" /etc/group
		exec libvirtd --pid-file /run/libvirtd.pid
	' libvirtd "$OC_LIBVIRT_DIR" >>"$OC_LIBVIRT_DIR/libvirtd.out" 2>&1 &
	OC_LIBVIRT_PID=$!
	ln -sf var/log/libvirt/libvirtd.log "$OC_LIBVIRT_LOG"
	_lv_wait 60 _lv_daemon_answers || true
	if ! kill -0 "$OC_LIBVIRT_PID" 2>/dev/null || ! virsh -c "$OC_LIBVIRT_URI" version >/dev/null 2>&1; then
		echo "libvirtd did not come up; its output:" >&2
		tail -n 30 "$OC_LIBVIRT_DIR/libvirtd.out" "$OC_LIBVIRT_LOG" >&2 || true
		return 1
	fi

	cat >"$OC_LIBVIRT_DIR/network.xml" <<-EOF
		<network>
		  <name>$OC_LIBVIRT_NETWORK</name>
		  <bridge name='$OC_LIBVIRT_BRIDGE' stp='off' delay='0'/>
		  <ip address='$OC_LIBVIRT_HOST_IP' netmask='255.255.255.0'>
		    <dhcp><range start='10.233.0.10' end='10.233.0.200'/></dhcp>
		  </ip>
		</network>
	EOF
	virsh_lv net-define "$OC_LIBVIRT_DIR/network.xml" >/dev/null
	virsh_lv net-start "$OC_LIBVIRT_NETWORK" >/dev/null
	virsh_lv pool-define-as "$OC_LIBVIRT_POOL" dir --target "$OC_LIBVIRT_POOL_DIR" >/dev/null
	virsh_lv pool-start "$OC_LIBVIRT_POOL" >/dev/null
	# The network's dnsmasq answers DHCP on the bridge once it is up.
	_lv_wait 30 ip netns exec "$OC_LIBVIRT_NETNS" ip -4 addr show dev "$OC_LIBVIRT_BRIDGE" up ||
		{ echo "bridge $OC_LIBVIRT_BRIDGE did not come up" >&2; return 1; }
	_lv_wait 30 test -s "$OC_LIBVIRT_DIR/run/libvirt/network/$OC_LIBVIRT_NETWORK.pid" ||
		{ echo "dnsmasq of $OC_LIBVIRT_NETWORK did not start" >&2; return 1; }
}

# Up when it answers; a daemon that died (bad config) ends the wait early.
_lv_daemon_answers() {
	kill -0 "$OC_LIBVIRT_PID" 2>/dev/null || return 0
	virsh -c "$OC_LIBVIRT_URI" version
}

libvirt_env_down() {
	[ -n "${OC_LIBVIRT_DIR:-}" ] || return 0
	local dom vol pool net
	if [ -n "${OC_LIBVIRT_PID:-}" ] && kill -0 "$OC_LIBVIRT_PID" 2>/dev/null &&
		virsh -c "$OC_LIBVIRT_URI" version >/dev/null 2>&1; then
		for dom in $(virsh_lv list --all --name 2>/dev/null); do
			virsh_lv destroy "$dom" >/dev/null 2>&1 || true
			virsh_lv undefine "$dom" --nvram >/dev/null 2>&1 ||
				virsh_lv undefine "$dom" >/dev/null 2>&1 || true
		done
		for pool in $(virsh_lv pool-list --all --name 2>/dev/null); do
			for vol in $(virsh_lv vol-list "$pool" 2>/dev/null | awk '{print $1}'); do
				virsh_lv vol-delete "$vol" --pool "$pool" >/dev/null 2>&1 || true
			done
			virsh_lv pool-destroy "$pool" >/dev/null 2>&1 || true
			virsh_lv pool-undefine "$pool" >/dev/null 2>&1 || true
		done
		for net in $(virsh_lv net-list --all --name 2>/dev/null); do
			virsh_lv net-destroy "$net" >/dev/null 2>&1 || true
			virsh_lv net-undefine "$net" >/dev/null 2>&1 || true
		done
	fi
	if [ -n "${OC_LIBVIRT_PID:-}" ]; then
		kill "$OC_LIBVIRT_PID" 2>/dev/null || true
		_lv_wait 20 sh -c "! kill -0 $OC_LIBVIRT_PID" || kill -9 "$OC_LIBVIRT_PID" 2>/dev/null || true
		wait "$OC_LIBVIRT_PID" 2>/dev/null || true
	fi
	# Whatever still runs in the netns (a dnsmasq, a qemu of a killed libvirtd).
	if ip netns list 2>/dev/null | grep -qw "$OC_LIBVIRT_NETNS"; then
		ip netns pids "$OC_LIBVIRT_NETNS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		_lv_wait 20 sh -c "! ip netns pids $OC_LIBVIRT_NETNS | grep -q ." || true
		ip netns del "$OC_LIBVIRT_NETNS" 2>/dev/null || true
	fi
	rm -rf "$OC_LIBVIRT_DIR"
	OC_LIBVIRT_DIR=
	OC_LIBVIRT_PID=
}
