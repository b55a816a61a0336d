#!/usr/bin/env bash
# The web console in a real browser: a real tower (demo pattern on the local
# provider) and an enrolled edge agent, Debian's chromium driven by
# puppeteer-core (tests/web/console.test.mjs: login, live DAG, step log,
# charts, forms and their errors, CSRF, logout). Screenshots of every page go
# to build/test-output/console/ (printed). Then the same session rules with
# curl, and the bearer API unchanged.
. "$(dirname "$0")/lib.sh"

# A browser left by a killed test run goes too: its profile is in $T.
console_cleanup() {
	local rc=$?
	pkill -9 -f -- "--user-data-dir=$T/" 2>/dev/null || true
	set +e # under errexit, (exit $rc) would end the trap before cleanup
	(exit "$rc")
	cleanup
}
trap console_cleanup EXIT

WEB="$REPO/tests/web"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || fail "$CHROMIUM missing: bash packaging/deps.sh installs Debian's chromium"
command -v node >/dev/null || fail "node missing"
if [ ! -d "$WEB/node_modules/puppeteer-core" ]; then
	(cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 ||
		fail "npm ci in tests/web: $(tail -n 5 "$T/npm.log")"
fi
OUT=${OC_CONSOLE_OUT:-$OC_BIN/../test-output/console}
rm -rf "$OUT"
mkdir -p "$OUT"
echo "screenshots: $OUT"

# Nodes in network namespaces dial the tower's bridge address (as root).
start_tower t --agents 0.0.0.0:0 --web "$REPO/tower/web" --default-pattern demo
API="https://127.0.0.1:$API_PORT_t"
TOKEN=$(cat "$T/t/admin.token")

# A device that joined with a token, in no OverCloud: the Nodes page lists it.
start_agent edge t "$(new_token t edge-worker)"
wait_until "the edge agent to enroll" 30 test -s "$T/edge/agent.conf" || fail "edge agent did not enroll"
EDGE=$(node_id_of edge)
wait_until "the edge node to connect" 30 node_is t "$EDGE" connected || fail "edge node not connected"

# The browser trusts the tower's own key by its pin, no certificate warning.
SPKI=$(openssl x509 -in "$T/t/server.pem" -pubkey -noout | openssl pkey -pubin -outform der |
	openssl dgst -sha256 -binary | base64)

CONSOLE_URL=$API CONSOLE_TOKEN=$TOKEN CONSOLE_OUT=$OUT CONSOLE_SPKI=$SPKI CONSOLE_EDGE_NODE=$EDGE \
	CONSOLE_WAIT_SCALE=$WAIT_SCALE CHROMIUM=$CHROMIUM HOME="$T" CONSOLE_PROFILE_DIR="$T" \
	timeout $((240 * WAIT_SCALE)) node "$WEB/console.test.mjs" || fail "the browser test failed (screenshots in $OUT)"

# The same rules without a browser.
c() { curl -sS --cacert "$T/t/ca.pem" "$@"; }
code=$(c -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/v1/nodes")
[ "$code" = 200 ] || fail "bearer GET /v1/nodes: $code"
code=$(c -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	-d '{"role":"edge-worker"}' "$API/v1/tokens")
[ "$code" = 201 ] || fail "bearer POST /v1/tokens without a CSRF header: $code"
pass "the bearer API works unchanged (no CSRF header needed)"
c -D "$T/login.h" -o "$T/login.json" -H 'Content-Type: application/json' \
	-d "{\"token\":\"$TOKEN\"}" "$API/v1/session"
grep -qi '^set-cookie: __Host-oc_session=[0-9a-f]\{64\}; Path=/; Max-Age=28800; HttpOnly; Secure; SameSite=Strict' "$T/login.h" ||
	fail "login cookie: $(grep -i set-cookie "$T/login.h")"
SID=$(sed -n 's/^[Ss]et-[Cc]ookie: __Host-oc_session=\([0-9a-f]*\);.*/\1/p' "$T/login.h")
CSRF=$(jq -r .csrf "$T/login.json")
code=$(c -o "$T/r.json" -w '%{http_code}' -b "__Host-oc_session=$SID" -H 'Content-Type: application/json' \
	-d '{"role":"edge-worker"}' "$API/v1/tokens")
[ "$code" = 403 ] && grep -q CSRF "$T/r.json" || fail "cookie without CSRF header: $code $(cat "$T/r.json")"
code=$(c -o /dev/null -w '%{http_code}' -b "__Host-oc_session=$SID" -H "X-CSRF-Token: $CSRF" \
	-H 'Content-Type: application/json' -d '{"role":"edge-worker"}' "$API/v1/tokens")
[ "$code" = 201 ] || fail "cookie with CSRF header: $code"
# Change the id's last digit; appending a fixed one would forge nothing when the id already ends in it.
case "$SID" in *0) FORGED="${SID%?}1" ;; *) FORGED="${SID%?}0" ;; esac
code=$(c -o /dev/null -w '%{http_code}' -b "__Host-oc_session=$FORGED" "$API/v1/nodes")
[ "$code" = 401 ] || fail "a forged session id: $code"
code=$(c -o /dev/null -w '%{http_code}' -X DELETE -b "__Host-oc_session=$SID" -H "X-CSRF-Token: $CSRF" "$API/v1/session")
[ "$code" = 200 ] || fail "logout: $code"
code=$(c -o /dev/null -w '%{http_code}' -b "__Host-oc_session=$SID" "$API/v1/nodes")
[ "$code" = 401 ] || fail "the session after logout: $code"
code=$(c --path-as-is -o /dev/null -w "%{http_code}" "$API/ui/../../etc/passwd")
[ "$code" = 400 ] || fail "a path out of the web dir: $code"
code=$(c -o /dev/null -w "%{http_code}" "$API/ui/%2e%2e%2fadmin.token")
[ "$code" = 400 ] || fail "a path out of the web dir: $code"
for p in .hidden sub%2fapp.js package.json nothing.js; do
	code=$(c -o /dev/null -w "%{http_code}" "$API/ui/$p")
	[ "$code" = 404 ] || fail "GET /ui/$p: $code"
done
pass "session cookie, CSRF header, forged id and logout with curl"
pass "console: screenshots in $OUT"
