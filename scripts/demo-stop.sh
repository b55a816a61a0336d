#!/usr/bin/env bash
# `make demo-stop`: stops what `make demo` started and removes demo-state/.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=demo-state
for p in agent tower; do
	if [ -f "$STATE/$p.pid" ]; then
		kill "$(cat "$STATE/$p.pid")" 2>/dev/null
	fi
done
sleep 0.3
rm -rf "$STATE"
[ "${1:-}" = quiet ] || echo "demo stopped; $STATE/ removed"
