#!/usr/bin/env bash
# The tower on PostgreSQL (tower serve --store postgresql://...): a real
# server from Debian's package (tests/integration/pg_env.sh); a create and
# a delete on the local provider with every row in PostgreSQL and nothing in
# the state dir's sqlite; the same through tower.conf's [tower] store; a
# database stamped with a newer schema refused; a bad URL and an unreachable
# server refused with one line; the password never in a log.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg_env.sh
. "$(dirname "$0")/pg_env.sh"
# lib.sh's cleanup (processes, local nodes, $T) reads the exit status: keep
# it across pg_env_down, without errexit ending the trap early.
trap 'rc=$?; set +e; pg_env_down; (exit $rc); cleanup' EXIT

pg_env_up || fail "cannot start PostgreSQL (apt-get install postgresql)"
URL=$(pg_env_database tower_it) || fail "create database"
PW=${URL#postgresql://tower:}
PW=${PW%%@*}
sql() { psql -qAt "$URL" -c "$1"; }

# One line on stderr, the reason in it, no password: for each refused start.
refused() {
	local what=$1 want=$2
	shift 2
	local out="$T/refused.out"
	if timeout 60 "$TOWER" serve --state "$T/r" --api 127.0.0.1:0 --agents 127.0.0.1:0 \
		"${DATA_DIRS[@]}" "$@" >"$out" 2>&1; then
		fail "$what: the tower started"
	fi
	[ "$(grep -c 'error' "$out")" = 1 ] || fail "$what: not one error line: $(cat "$out")"
	grep 'error' "$out" | grep -q "$want" || fail "$what: no \"$want\" in: $(cat "$out")"
	! grep -q -e "$PW" -e s3cr3t "$out" || fail "$what: the password was logged: $(cat "$out")"
	[ ! -e "$T/r/endpoint.json" ] || fail "$what: endpoint written"
}
refused "unreachable server" "connect to PostgreSQL" --store "postgresql://tower:s3cr3t@127.0.0.1:1/x"
refused "bad port" 'invalid integer value "port"' --store "postgresql://tower:s3cr3t@127.0.0.1:port/x"
refused "bad URL" "not a valid postgresql:// URL" --store "postgresql://tower:s3cr3t@[::1/x"
refused "wrong password" "password authentication failed" \
	--store "postgresql://tower:s3cr3t@127.0.0.1:$PG_ENV_PORT/tower_it"
refused "no such database" "tower_nope" --store "${OC_TEST_PG_URL%/postgres}/tower_nope"
pass "bad URL, bad port, unreachable server, wrong password, no database: one line each, no password"

# A real create on the local provider, every row in PostgreSQL.
start_tower t --agents 0.0.0.0:0 --store "$URL"
[ "$(sql "SELECT version FROM schema_version")" = 10 ] || fail "schema version in PostgreSQL"
[ ! -e "$T/t/tower.db" ] || fail "the tower made a sqlite file beside PostgreSQL"
started=$(date +%s%N)
tower_cli t create --provider local --number 1 --pattern demo >"$T/create.out" 2>"$T/create.err" ||
	fail "create failed: $(tail -n 20 "$T/create.out" "$T/create.err")"
create_ms=$(( ($(date +%s%N) - started) / 1000000 ))
id=$(grep -o 'oc-[0-9a-f]*' "$T/create.out" | head -n 1)
grep -q "overcloud $id: ready" "$T/create.out" || fail "create output: $(cat "$T/create.out")"
[ "$(sql "SELECT status FROM overclouds WHERE id = '$id'")" = ready ] || fail "status row"
[ "$(sql "SELECT count(*) FROM oc_steps WHERE overcloud_id = '$id' AND dag = 'create' AND state != 'done'")" = 0 ] ||
	fail "steps not done in PostgreSQL: $(sql "SELECT name, state FROM oc_steps WHERE overcloud_id = '$id'")"
[ "$(sql "SELECT count(*) FROM nodes WHERE deleted = 0")" = 2 ] || fail "nodes rows"
[ "$(sql "SELECT count(*) FROM tasks WHERE state = 'done'")" -gt 0 ] || fail "no finished task rows"
# join tokens keep only the sha256 of their secret
[ "$(sql "SELECT count(*) FROM tokens WHERE secret_hash !~ '^[0-9a-f]{64}\$'")" = 0 ] ||
	fail "a token secret not hashed"
[ "$(tower_cli t nodes -o json | jq '[.[] | select(.state == "connected")] | length')" = 2 ] ||
	fail "nodes not connected"
pass "create on PostgreSQL: $id ready in ${create_ms} ms, its rows in PostgreSQL"

# The same database through tower.conf: the OverCloud is there after a restart.
kill "$TOWER_PID_t"
wait "$TOWER_PID_t" 2>/dev/null || true
(umask 077 && printf '[tower]\nstore = %s\n' "$URL" >"$T/tower.conf")
restart_tower_same_ports t --agents "0.0.0.0:$AGENT_PORT_t" --config "$T/tower.conf"
[ "$(tower_cli t show "$id" -o json | jq -r .status)" = ready ] || fail "not found through tower.conf"
tower_cli t delete "$id" >"$T/delete.out" 2>&1 || fail "delete failed: $(cat "$T/delete.out")"
oc_status_is t "$id" deleted || fail "status after delete: $(oc_field t "$id" .status)"
[ "$(sql "SELECT status FROM overclouds WHERE id = '$id'")" = deleted ] || fail "deleted row"
left=$(leftovers "$id")
[ -z "$left" ] || fail "left behind: $left"
! grep -q "$PW" "$T/t.log" || fail "the password is in the tower's log"
grep -q "database postgresql://tower:\*\*\*@127.0.0.1" "$T/t.log" || fail "no database line in the log"
pass "tower.conf [tower] store: the same database after a restart; delete done; no password logged"

# A database a newer tower has migrated is refused, and left as it is.
kill "$TOWER_PID_t"
wait "$TOWER_PID_t" 2>/dev/null || true
sql "UPDATE schema_version SET version = 99" >/dev/null
refused "newer schema" "schema version 99 is newer than this build knows (10)" --store "$URL"
[ "$(sql "SELECT version FROM schema_version")" = 99 ] || fail "the refused database was changed"
pass "a database at schema 99 refused with one line, and not touched"
