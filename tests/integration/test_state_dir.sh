#!/usr/bin/env bash
# A fresh `tower serve` writes its state dir with the right modes; a second
# start reuses every file unchanged.
. "$(dirname "$0")/lib.sh"

mode() { stat -c %a "$1"; }

start_tower t
S="$T/t"
[ "$(mode "$S")" = 700 ] || fail "state dir mode $(mode "$S"), want 700"
[ "$(mode "$S/ca.key")" = 600 ] || fail "ca.key mode $(mode "$S/ca.key"), want 600"
[ "$(mode "$S/admin.token")" = 600 ] || fail "admin.token mode $(mode "$S/admin.token")"
[ "$(mode "$S/server.key")" = 600 ] || fail "server.key mode $(mode "$S/server.key")"
[ "$(mode "$S/tower.db")" = 600 ] || fail "tower.db mode $(mode "$S/tower.db")"
[ -s "$S/ca.pem" ] || fail "no ca.pem"
openssl x509 -in "$S/ca.pem" -noout -text | grep -q "ASN1 OID: prime256v1" || fail "CA is not P-256"
openssl x509 -in "$S/ca.pem" -noout -text | grep -q "CA:TRUE" || fail "CA lacks CA:TRUE"
openssl verify -CAfile "$S/ca.pem" "$S/server.pem" >/dev/null || fail "server cert does not chain to CA"
grep -Eq '^[0-9a-f]{64}$' "$S/admin.token" || fail "admin.token is not 64 hex chars"
[ "$(sqlite3 "$S/tower.db" 'PRAGMA journal_mode')" = wal ] || fail "tower.db not in WAL mode"
[ "$(sqlite3 "$S/tower.db" 'PRAGMA user_version')" -ge 1 ] || fail "no schema version"
pass "fresh state dir has the right files and modes"

# Something to keep across restarts.
token=$(new_token t k8s-worker)
[ -n "$token" ] || fail "no token"

snapshot() {
	for f in ca.key ca.pem server.key server.pem admin.token; do
		echo "$f $(sha256sum <"$S/$f") $(stat -c '%a %Y' "$S/$f")"
	done
}
before=$(snapshot)
kill "$TOWER_PID_t"
wait "$TOWER_PID_t" 2>/dev/null || true
log_has t "shutting down" || fail "tower did not log its shutdown"

start_tower t
after=$(snapshot)
[ "$before" = "$after" ] || fail "restart changed the state dir: $(diff <(echo "$before") <(echo "$after"))"
grep -q "created a new ca" "$T/t.log" && [ "$(grep -c 'created a new ca' "$T/t.log")" = 1 ] ||
	fail "second start created a new CA"
# The token made before the restart still works.
start_agent a t "$token"
wait_until "agent enrolled after restart" 30 test -s "$T/a/agent.crt" || fail "token lost across restart"
pass "second start reuses the state dir unchanged"

# A state dir whose CA key is readable by others is refused, like ssh does.
kill "$TOWER_PID_t"; wait "$TOWER_PID_t" 2>/dev/null || true
chmod 644 "$S/ca.key"
if "$TOWER" serve --state "$S" --api 127.0.0.1:0 --agents 127.0.0.1:0 >"$T/bad.log" 2>&1; then
	fail "tower started with a world-readable ca.key"
fi
grep -q "ca.key" "$T/bad.log" || fail "no reason given for refusing ca.key: $(cat "$T/bad.log")"
pass "world-readable ca.key refused with a reason"
