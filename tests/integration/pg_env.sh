# shellcheck shell=bash
# pg_env.sh — a throwaway PostgreSQL from Debian's package for tests: initdb
# and pg_ctl in a temp dir, a port on loopback, a password-protected user.
# Source it, then: pg_env_up (exports OC_TEST_PG_URL, a postgresql:// URL
# to its "postgres" database, and PG_ENV_DIR) ... pg_env_down (stops the
# server and removes the dir; safe to call twice or after a failed up).
# initdb refuses to run as root: as root, the server runs as "postgres".
# A test killed outright (ctest's timeout sends SIGKILL) runs no trap: a
# watchdog stops the server and removes the dir once the shell is gone.

pg_env_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && printf '%s\n' "$d"
  done | sort -V | tail -1
}

# Runs a PostgreSQL program as the user that owns the cluster.
pg_env_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Waits for the shell that started the server (pid $1) to go, then does
# what pg_env_down would have.
pg_env_watchdog() {
  local owner=$1 dir=$PG_ENV_DIR bin=$PG_ENV_BIN
  while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do
    sleep 1
  done
  if [ -f "$dir/data/postmaster.pid" ]; then
    pg_env_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop
  fi
  rm -rf "$dir"
}

pg_env_up() {
  local bin pw port
  bin=$(pg_env_bin)
  if [ -z "$bin" ]; then
    echo "pg_env: no PostgreSQL server installed (apt-get install postgresql)" >&2
    return 1
  fi
  PG_ENV_BIN=$bin
  PG_ENV_DIR=$(mktemp -d /tmp/oc-pg.XXXXXX) || return 1
  export PG_ENV_DIR PG_ENV_BIN
  if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "pg_env: running as root and there is no postgres user to run the server" >&2
      return 1
    fi
    chown postgres: "$PG_ENV_DIR"
  fi
  pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  # The password goes through a file, never a command line.
  (umask 077 && printf '%s\n' "$pw" >"$PG_ENV_DIR/pw")
  [ "$(id -u)" != 0 ] || chown postgres: "$PG_ENV_DIR/pw"
  if ! pg_env_as_owner "$bin/initdb" -D "$PG_ENV_DIR/data" -U tower --pwfile="$PG_ENV_DIR/pw" \
         --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --no-sync \
         >"$PG_ENV_DIR/initdb.log" 2>&1; then
    echo "pg_env: initdb failed:" >&2
    tail -5 "$PG_ENV_DIR/initdb.log" >&2
    return 1
  fi
  rm -f "$PG_ENV_DIR/pw"
  # A free port: a few random tries, each checked by starting the server on it.
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
      continue
    fi
    if pg_env_as_owner "$bin/pg_ctl" -D "$PG_ENV_DIR/data" -l "$PG_ENV_DIR/server.log" -w -t 60 \
         -o "-p $port -k $PG_ENV_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200" \
         start >/dev/null 2>&1; then
      export OC_TEST_PG_URL="postgresql://tower:$pw@127.0.0.1:$port/postgres"
      export PG_ENV_PORT=$port
      # Its own fds: a test's output pipe must close when the test ends.
      pg_env_watchdog "$$" </dev/null >/dev/null 2>&1 &
      PG_ENV_WATCHDOG=$!
      return 0
    fi
  done
  echo "pg_env: the server did not start:" >&2
  tail -5 "$PG_ENV_DIR/server.log" >&2 2>/dev/null
  return 1
}

# Makes database $1 on the server pg_env_up started; prints its URL.
pg_env_database() {
  psql -qAt "$OC_TEST_PG_URL" -c "CREATE DATABASE $1" >/dev/null || return 1
  printf '%s\n' "${OC_TEST_PG_URL%/postgres}/$1"
}

# The replica holding the leader lease in the database at URL $1 (empty
# when none does yet).
pg_env_lease_holder() {
  psql -qAt "$1" -c "SELECT holder FROM leases WHERE name = 'leader'"
}

pg_env_down() {
  [ -n "${PG_ENV_DIR:-}" ] && [ -d "$PG_ENV_DIR" ] || return 0
  if [ -f "$PG_ENV_DIR/data/postmaster.pid" ]; then
    pg_env_as_owner "$PG_ENV_BIN/pg_ctl" -D "$PG_ENV_DIR/data" -m immediate -w -t 30 stop \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_ENV_DIR"
  [ -z "${PG_ENV_WATCHDOG:-}" ] || kill "$PG_ENV_WATCHDOG" 2>/dev/null || true
  unset PG_ENV_DIR OC_TEST_PG_URL PG_ENV_PORT PG_ENV_WATCHDOG
}
