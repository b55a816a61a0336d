#!/usr/bin/env bash
# ansible-vs-tower.sh BIN DIR N: the same no-op command on N nodes, once by
# Ansible (`-m raw -a true`, forks=N, default settings otherwise) over SSH to
# N sshd on loopback ports, once by `tower run` to N real agent processes.
# Prints "figure|value|goal|verdict" rows. Everything lives in DIR: host
# keys, client key, sshd configs, Ansible's home; no user's files are read or
# written. Needs ansible-core and openssh-server (packaging/deps.sh bench).
set -euo pipefail
BIN=$1 D=$2 N=$3
mkdir -p "$D"
chmod 700 "$D"
PIDS=()
cleanup() {
	# Ansible's ControlPersist masters, then sshd, then tower and agents.
	for s in "$D"/cp/*; do
		[ -S "$s" ] && ssh -o ControlPath="$s" -O exit dummy >/dev/null 2>&1 || true
	done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
say() { echo "ansible-vs-tower: $*" >&2; }
ms_now() { date +%s%3N; }
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
USER_NAME=$(id -un)

# --- N sshd on loopback, own host key and config, key auth only ---
ssh-keygen -q -t ed25519 -N '' -f "$D/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$D/client_key"
cp "$D/client_key.pub" "$D/authorized_keys"
# sshd as root insists on its privilege-separation directory.
[ "$(id -u)" -ne 0 ] || mkdir -p /run/sshd
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
: >"$D/inventory"
echo "[nodes]" >>"$D/inventory"
for i in $(seq 1 "$N"); do
	port=$(free_port)
	cat >"$D/sshd_$i.conf" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $D/host_key
PidFile $D/sshd_$i.pid
AuthorizedKeysFile $D/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxStartups 200
LogLevel ERROR
EOF
	"$SSHD" -D -e -f "$D/sshd_$i.conf" 2>>"$D/sshd.log" &
	PIDS+=($!)
	echo "node$i ansible_host=127.0.0.1 ansible_port=$port" >>"$D/inventory"
done
cat >>"$D/inventory" <<EOF
[nodes:vars]
ansible_user=$USER_NAME
ansible_ssh_private_key_file=$D/client_key
ansible_ssh_common_args=-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no
EOF
for i in $(seq 1 "$N"); do
	port=$(awk -v h="node$i" '$1 == h { sub("ansible_port=", "", $3); print $3 }' "$D/inventory")
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.05
	done
done
cat >"$D/ansible.cfg" <<EOF
[defaults]
forks = $N
host_key_checking = False
[ssh_connection]
control_path_dir = $D/cp
EOF
mkdir -p "$D/cp" "$D/ansible-home" "$D/ansible-tmp"
export ANSIBLE_CONFIG="$D/ansible.cfg" ANSIBLE_HOME="$D/ansible-home" \
	ANSIBLE_LOCAL_TEMP="$D/ansible-tmp" ANSIBLE_REMOTE_TEMP="$D/ansible-tmp"
ansible_run() {
	ansible nodes -i "$D/inventory" -m raw -a true -f "$N" >"$D/ansible-$1.out" 2>&1 ||
		{ say "ansible failed"; tail -20 "$D/ansible-$1.out" >&2; exit 1; }
	ok=$(grep -c 'CHANGED\|SUCCESS' "$D/ansible-$1.out" || true)
	[ "$ok" -eq "$N" ] || { say "ansible reached $ok of $N"; exit 1; }
}
t0=$(ms_now); ansible_run cold; t1=$(ms_now)
# A second run reuses the SSH connections Ansible keeps (ControlPersist).
ansible_run warm; t2=$(ms_now)
ansible_cold=$((t1 - t0)) ansible_warm=$((t2 - t1))

# --- the tower and N real agent processes ---
"$BIN/tower" serve --state "$D/tower" --api 127.0.0.1:0 --agents 127.0.0.1:0 \
	--advertise 127.0.0.1 --heartbeat 10s >"$D/tower.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do [ -s "$D/tower/endpoint.json" ] && break; sleep 0.1; done
token=$("$BIN/tower" --state "$D/tower" token create --role peer --uses "$N" -o json | jq -r .token)
hash=$("$BIN/tower" --state "$D/tower" token create --role probe -o json | jq -r .join | sed 's/.*--ca-hash //')
port=$(jq -r .agent_port "$D/tower/endpoint.json")
for i in $(seq 1 "$N"); do
	"$BIN/overcloud-agent" join --tower "127.0.0.1:$port" --token "$token" --ca-hash "$hash" \
		--state "$D/agent$i" >"$D/agent$i.log" 2>&1 &
	PIDS+=($!)
done
for _ in $(seq 1 600); do
	[ "$("$BIN/tower" --state "$D/tower" nodes -o json | jq '[.[] | select(.state == "connected")] | length')" -ge "$N" ] && break
	sleep 0.1
done
t0=$(ms_now)
"$BIN/tower" --state "$D/tower" run --role peer -o json -- true >"$D/tower-run.json"
t1=$(ms_now)
tower_ms=$((t1 - t0))
done_count=$(jq '[.tasks[] | select(.state == "done")] | length' "$D/tower-run.json")
[ "$done_count" -eq "$N" ] || say "tower: $done_count of $N done"

ratio_cold=$(awk -v a="$ansible_cold" -v t="$tower_ms" 'BEGIN { printf "%.0f", a / (t > 0 ? t : 1) }')
ratio_warm=$(awk -v a="$ansible_warm" -v t="$tower_ms" 'BEGIN { printf "%.0f", a / (t > 0 ? t : 1) }')
echo "ansible -m raw -a true, $N nodes, forks=$N (ms)|$ansible_cold|-|(first run: new SSH connections)"
echo "ansible again, SSH connections kept (ms)|$ansible_warm|-|(ControlPersist, Ansible's default)"
echo "tower run --role R -- true, $N agents (ms)|$tower_ms|-|($done_count done, CLI wall time)"
echo "tower vs ansible, first run (x faster)|$ratio_cold|>= 20|$(awk -v r="$ratio_cold" 'BEGIN { print (r >= 20) ? "met" : "NOT MET" }')"
echo "tower vs ansible, kept connections (x faster)|$ratio_warm|>= 20|$(awk -v r="$ratio_warm" 'BEGIN { print (r >= 20) ? "met" : "NOT MET" }')"
