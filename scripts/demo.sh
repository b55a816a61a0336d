#!/usr/bin/env bash
# `make demo`: starts a tower in ./demo-state, enrolls one local agent with a
# join token and shows it in `tower nodes`. `make demo-stop` ends it all.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=build/bin
STATE=demo-state
mkdir -p "$STATE"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

bash scripts/demo-stop.sh quiet

step "starting the tower (state in $STATE/, API on 127.0.0.1:16125, agents on 127.0.0.1:16126)"
"$BIN/tower" serve --state "$STATE/tower" --api 127.0.0.1:16125 --agents 127.0.0.1:16126 \
	--advertise 127.0.0.1 --heartbeat 5s >"$STATE/tower.log" 2>&1 &
echo $! >"$STATE/tower.pid"
for _ in $(seq 1 100); do
	[ -s "$STATE/tower/endpoint.json" ] && break
	sleep 0.1
done
[ -s "$STATE/tower/endpoint.json" ] || { cat "$STATE/tower.log"; exit 1; }
sed -n 's/.*tower info: //p' "$STATE/tower.log"

step "tower token create --role k8s-worker"
"$BIN/tower" --state "$STATE/tower" token create --role k8s-worker | tee "$STATE/token.txt"
join=$(sed -n 's/^  overcloud-agent //p' "$STATE/token.txt")

step "overcloud-agent ${join%% --token*} ... (the line above, run on this machine)"
# shellcheck disable=SC2086
"$BIN/overcloud-agent" $join --state "$STATE/agent" >"$STATE/agent.log" 2>&1 &
echo $! >"$STATE/agent.pid"
for _ in $(seq 1 100); do
	grep -q "connected to tower" "$STATE/agent.log" && break
	sleep 0.1
done
sed -n 's/.*overcloud-agent info: //p' "$STATE/agent.log"

step "tower nodes"
"$BIN/tower" --state "$STATE/tower" nodes

cat <<END

The tower and the agent keep running. Look around:
  $BIN/tower --state $STATE/tower nodes -o json
  curl --cacert $STATE/tower/ca.pem -H "Authorization: Bearer \$(cat $STATE/tower/admin.token)" https://127.0.0.1:16125/v1/nodes
  tail -f $STATE/tower.log $STATE/agent.log
Stop everything and remove $STATE/:
  make demo-stop
END
