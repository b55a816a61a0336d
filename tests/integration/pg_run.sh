#!/usr/bin/env bash
# pg_run.sh — runs a command (a store unit test) against a throwaway
# PostgreSQL: OC_TEST_STORE_URL names it. Fails, never skips, when the
# server cannot be started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/pg_env.sh
. "$here/pg_env.sh"
trap pg_env_down EXIT
trap 'exit 130' INT TERM
if ! pg_env_up; then
  echo "pg_run: cannot start PostgreSQL for $*" >&2
  exit 1
fi
OC_TEST_STORE_URL=$OC_TEST_PG_URL "$@"
