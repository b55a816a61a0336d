#!/usr/bin/env bash
# A node "boots" from its user-data in a fresh network namespace: the
# write_files are laid out under a temp root (OC_ROOT), the runcmd script
# runs in the namespace and starts the boot-time unit
# overcloud-install-agent.service, whose ExecStart then runs as systemd would
# run it, against the tower on the host end of a veth pair. It must download
# the agent over TLS checked against the CA, verify its sha256, install it,
# join with the one-time token and enable the agent's unit (systemctl is a
# shim that records the call; systemd as PID 1 is the root's
# run/systemd/system). test_userdata_retry.sh has the lost networks, reboots,
# the spent token's rerun and the node without systemd. A binary changed after the user-data was
# rendered, or a tower that the CA does not vouch for, is refused: non-zero
# exit, nothing installed.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "skipped: not root, no network namespaces"
	exit 0
fi
command -v ip >/dev/null || fail "root but no iproute2 ip"
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml missing (packaging/deps.sh)"

. "$(dirname "$0")/node_netns.sh"
node_netns_up ocud 251

ART="$T/artifacts"
mkdir -p "$ART"
cp "$AGENT" "$ART/overcloud-agent-$(uname -m)"
start_tower t --api "$HOST_IP:0" --agents "$HOST_IP:0" --advertise "$HOST_IP" \
	--artifacts "$ART" --cloud-init "$REPO/cloud-init"

# The systemctl a cloud image would have, recording instead of acting.
mkdir -p "$T/shim"
cat >"$T/shim/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$T/systemctl.calls"
EOF
chmod 755 "$T/shim/systemctl"

# lay_out USERDATA ROOT: what cloud-init's write_files does, under ROOT; prints
# the runcmd entries one per line.
lay_out() {
	python3 - "$1" "$2" <<'EOF'
import os, sys, yaml
text = open(sys.argv[1]).read()
assert text.startswith("#cloud-config\n"), "no #cloud-config line"
doc = yaml.safe_load(text)
for f in doc["write_files"]:
    path = sys.argv[2] + f["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(f["permissions"], 8))
    os.write(fd, f["content"].encode())
    os.close(fd)
    os.chmod(path, int(f["permissions"], 8))
for c in doc["runcmd"]:
    print(c if isinstance(c, str) else " ".join(c))
EOF
}

# boot ROOT: runs the user-data's runcmd in the namespace, then what it
# started: the install unit's ExecStart; output in $T/boot.log.
boot() {
	local root=$1 cmd
	cmd=$(cat "$root.runcmd")
	[ "$cmd" = /usr/local/sbin/overcloud-install-agent ] || fail "unexpected runcmd: $cmd"
	mkdir -p "$root/run/systemd/system"
	ip netns exec "$NS" env -i PATH="$T/shim:/usr/sbin:/usr/bin:/sbin:/bin" OC_ROOT="$root" \
		"$root$cmd" >"$T/boot.log" 2>&1 || return 1
	grep -qx 'enable --now --no-block overcloud-install-agent.service' "$T/systemctl.calls" ||
		fail "runcmd did not start the install unit: $(cat "$T/systemctl.calls")"
	grep -qx 'ExecStart=/usr/local/sbin/overcloud-install-agent --run' \
		"$root/etc/systemd/system/overcloud-install-agent.service" || fail "the unit's ExecStart"
	ip netns exec "$NS" env -i PATH="$T/shim:/usr/sbin:/usr/bin:/sbin:/bin" OC_ROOT="$root" \
		OC_INSTALL_RETRY_S=1 "$root$cmd" --run >>"$T/boot.log" 2>&1
}

# ---- 1. a good boot: download, verify, install, join, enable ----
R1="$T/root1"
tower_cli t userdata --role edge-worker >"$T/ud1.yaml" || fail "userdata"
lay_out "$T/ud1.yaml" "$R1" >"$R1.runcmd"
[ "$(stat -c %a "$R1/etc/overcloud/join.conf")" = 600 ] || fail "join.conf mode"
[ "$(stat -c %a "$R1/etc/overcloud/ca.pem")" = 644 ] || fail "ca.pem mode"
[ "$(stat -c %a "$R1/usr/local/sbin/overcloud-install-agent")" = 700 ] || fail "script mode"
grep -qx "api = $HOST_IP:$API_PORT_t" "$R1/etc/overcloud/join.conf" || fail "api line: $(cat "$R1/etc/overcloud/join.conf")"
boot "$R1" || fail "install script failed: $(cat "$T/boot.log")"
cmp -s "$R1/usr/local/bin/overcloud-agent" "$AGENT" || fail "installed agent differs from the artifact"
[ "$(stat -c %a "$R1/usr/local/bin/overcloud-agent")" = 755 ] || fail "agent mode"
grep -q "installed .* (sha256 $(sha256sum "$AGENT" | cut -d ' ' -f 1))" "$T/boot.log" ||
	fail "no checksum line: $(cat "$T/boot.log")"
log_has t "api $NODE_IP:[0-9]*: agent for $(uname -m) sent" || fail "the download did not come from the namespace"
[ -s "$R1/var/lib/overcloud-agent/agent.conf" ] || fail "join wrote no agent.conf"
grep -q '^token[[:space:]]*=' "$R1/etc/overcloud/join.conf" && fail "the spent token is still in join.conf"
grep -qx 'daemon-reload' "$T/systemctl.calls" || fail "no daemon-reload: $(cat "$T/systemctl.calls")"
grep -qx 'enable --now --no-block overcloud-agent.service' "$T/systemctl.calls" ||
	fail "unit not enabled and started: $(cat "$T/systemctl.calls")"
pass "runcmd in netns $NS: agent downloaded from $HOST_IP over TLS, sha256 checked, installed, joined, unit enabled"

# What systemd would start: the node shows up with its real arch and role.
ip netns exec "$NS" "$R1/usr/local/bin/overcloud-agent" run --state "$R1/var/lib/overcloud-agent" \
	>>"$T/node1.log" 2>&1 &
PIDS+=($!)
id=$(sed -n 's/^node_id=//p' "$R1/var/lib/overcloud-agent/agent.conf")
wait_until "booted node connected" 30 node_is t "$id" connected || fail "node $id never connected"
row=$(tower_cli t nodes -o json | jq -c --arg id "$id" '.[] | select(.id == $id)')
[ "$(jq -r .role <<<"$row")" = edge-worker ] && [ "$(jq -r .arch <<<"$row")" = "$(uname -m)" ] ||
	fail "booted node: $row"
pass "the booted node is connected as $(uname -m), edge-worker"

# Run again (cloud-init re-runs on a re-imaged disk): the node keeps its id.
boot "$R1" || fail "second run failed: $(cat "$T/boot.log")"
[ "$(sed -n 's/^node_id=//p' "$R1/var/lib/overcloud-agent/agent.conf")" = "$id" ] || fail "node id changed"
pass "running the script again keeps the node's identity"

# ---- 2. the binary changes after the user-data was rendered ----
R2="$T/root2"
tower_cli t userdata --role edge-worker >"$T/ud2.yaml" || fail "userdata"
lay_out "$T/ud2.yaml" "$R2" >"$R2.runcmd"
printf 'tampered' >>"$ART/overcloud-agent-$(uname -m)"
calls=$(grep -c 'overcloud-agent.service' "$T/systemctl.calls")
nodes=$(tower_cli t nodes -o json | jq length)
if boot "$R2"; then fail "a tampered agent was accepted: $(cat "$T/boot.log")"; fi
grep -q 'checksum mismatch' "$T/boot.log" || fail "no checksum reason: $(cat "$T/boot.log")"
[ ! -e "$R2/usr/local/bin/overcloud-agent" ] || fail "the tampered agent was installed"
[ -z "$(ls -A "$R2/usr/local/bin")" ] || fail "left files: $(ls -A "$R2/usr/local/bin")"
[ ! -e "$R2/var/lib/overcloud-agent" ] || fail "joined with a tampered agent"
[ "$(grep -c 'overcloud-agent.service' "$T/systemctl.calls")" = "$calls" ] ||
	fail "the agent's unit started after a refused download"
[ "$(tower_cli t nodes -o json | jq length)" = "$nodes" ] || fail "a node joined"
pass "an agent changed after rendering is refused: exit non-zero, nothing installed, token unused"

# Put the real one back: the same user-data now boots (the token was not spent).
cp "$AGENT" "$ART/overcloud-agent-$(uname -m)"
boot "$R2" || fail "boot after restoring the agent: $(cat "$T/boot.log")"
pass "with the agent restored the same user-data boots"

# ---- 3. a tower the CA does not vouch for ----
R3="$T/root3"
tower_cli t userdata --role edge-worker >"$T/ud3.yaml" || fail "userdata"
lay_out "$T/ud3.yaml" "$R3" >"$R3.runcmd"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
	-subj /CN=other-ca -days 1 -out "$R3/etc/overcloud/ca.pem" 2>/dev/null || fail "openssl"
if boot "$R3"; then fail "downloaded from a tower the CA does not sign: $(cat "$T/boot.log")"; fi
grep -q 'download refused: the tower at .* did not prove itself' "$T/boot.log" ||
	fail "no download reason: $(cat "$T/boot.log")"
[ ! -e "$R3/usr/local/bin/overcloud-agent" ] || fail "installed without a verified tower"
pass "TLS is checked against ca.pem: another CA makes the download fail"
