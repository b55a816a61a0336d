#!/usr/bin/env bash
# `make demo`: starts a tower in ./demo-state and creates an OverCloud of one
# DevOps Post and three logical-cluster nodes on the local provider (each an
# agent process; in its own network namespace when run as root), showing the
# workflow's progress, and ends with the web console's URL and how to log in.
# `make demo-stop` removes everything again.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=build/bin
STATE=demo-state
TOWER=("$BIN/tower" --state "$STATE/tower")

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

bash scripts/demo-stop.sh quiet
mkdir -p "$STATE"

step "starting the tower (state in $STATE/tower, API on 127.0.0.1:16125, agents on :16126)"
"$BIN/tower" serve --state "$STATE/tower" --api 127.0.0.1:16125 --agents 0.0.0.0:16126 \
	--advertise 127.0.0.1 --heartbeat 5s >"$STATE/tower.log" 2>&1 &
echo $! >"$STATE/tower.pid"
for _ in $(seq 1 100); do
	[ -s "$STATE/tower/endpoint.json" ] && break
	sleep 0.1
done
[ -s "$STATE/tower/endpoint.json" ] || { cat "$STATE/tower.log"; exit 1; }
sed -n 's/.*tower info: //p' "$STATE/tower.log"

step "tower create --provider local --number 3 --pattern demo"
if ! "${TOWER[@]}" create --provider local --number 3 --pattern demo; then
	echo "the OverCloud failed; the tower's log is $STATE/tower.log" >&2
fi
id=$("${TOWER[@]}" list -o json | jq -r '.[-1].overcloud_id')
echo "$id" >"$STATE/overcloud.id"

step "tower show $id"
"${TOWER[@]}" show "$id"

step "tower nodes"
"${TOWER[@]}" nodes

cat <<END

The tower and the OverCloud keep running. Look around:
  ${TOWER[*]} show $id            # steps, nodes, addresses
  ${TOWER[*]} logs $id --step check
  ${TOWER[*]} run --all -- uname -a
  curl --cacert $STATE/tower/ca.pem -H "Authorization: Bearer \$(cat $STATE/tower/admin.token)" https://127.0.0.1:16125/v1/overclouds/$id
Delete the OverCloud (the destroy workflow), then stop the tower:
  ${TOWER[*]} delete $id
  make demo-stop
END

step "the web console"
cat <<END
  URL:    https://127.0.0.1:16125/ui/
  log in: paste the admin token, printed by  cat $STATE/tower/admin.token
  The tower's own CA ($STATE/tower/ca.pem) signed its certificate: import it
  in the browser as an authority, or accept the browser's warning once.
END
