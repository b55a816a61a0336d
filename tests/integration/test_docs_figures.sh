#!/usr/bin/env bash
# README and bench/README state the same last measured figures (issue 17
# item 13): the enrollment of 10 000 agents and the 101-process fan-out the
# README quotes are the ones in bench/README's table.
set -euo pipefail
REPO=${OC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
fail() { echo "FAIL: $*" >&2; exit 1; }

# "enroll 10000 fresh agents, CSR signing incl. (s)   38.1   <= 60   met":
# the first table is the last measured run; older ones follow it.
enroll=$(sed -n 's/^enroll 10000 fresh agents[^)]*)[[:space:]]*\([0-9.]*\).*/\1/p' "$REPO/bench/README.md" | head -n 1)
fanout=$(sed -n 's/^no-op fan-out to 101 agent processes (ms)[[:space:]]*\([0-9]*\).*/\1/p' "$REPO/bench/README.md" | head -n 1)
[ -n "$enroll" ] && [ -n "$fanout" ] || fail "bench/README.md has no enrollment or fan-out row"
readme=$(tr '\n' ' ' <"$REPO/README.md" | tr -s ' ')
grep -q "enrolling 10 000 fresh agents took $enroll s" <<<"$readme" ||
	fail "README does not say enrolling 10 000 agents took $enroll s (bench/README's figure)"
grep -q "101 agent processes ($fanout ms" <<<"$readme" ||
	fail "README does not quote the fan-out to 101 agents as $fanout ms (bench/README's figure)"
# The figure README used to quote must not survive anywhere in it.
grep -q "≈ 67 s" <<<"$readme" && fail "README still quotes the old 67 s enrollment"
echo "ok: README quotes bench/README's last measured enrollment ($enroll s) and fan-out ($fanout ms)"
