#!/usr/bin/env bash
# `make demo-stop`: deletes the demo's OverCloud (releasing its nodes), stops
# the tower and removes demo-state/.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=demo-state
TOWER=(build/bin/tower --state "$STATE/tower")
if [ -f "$STATE/overcloud.id" ] && [ -f "$STATE/tower.pid" ] && kill -0 "$(cat "$STATE/tower.pid")" 2>/dev/null; then
	status=$("${TOWER[@]}" show "$(cat "$STATE/overcloud.id")" -o json 2>/dev/null | jq -r .status)
	if [ "$status" != deleted ] && [ -n "$status" ]; then
		CI=true "${TOWER[@]}" delete "$(cat "$STATE/overcloud.id")" >/dev/null 2>&1
	fi
fi
if [ -f "$STATE/tower.pid" ]; then
	kill "$(cat "$STATE/tower.pid")" 2>/dev/null
fi
sleep 0.3
rm -rf "$STATE"
[ "${1:-}" = quiet ] || echo "demo stopped; $STATE/ removed"
