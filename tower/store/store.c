/* store.c — the tower's repository: the sqlite file, its schema migrations,
 * transactions and the one binding helper; each table's rows are its own file's. */
#include "tower/store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/metrics/telemetry.h"

#define STORE_BUSY_MS 5000

/*
 * Schema migrations, oldest first. Entry i takes user_version i to i + 1 and
 * runs in one transaction together with the user_version bump. Never edit an
 * entry that has shipped; add a new one at the end.
 */
static const char *const store_migrations[] = {
	/* 1: join tokens and enrolled nodes */
	"CREATE TABLE tokens ("
	"  id          TEXT PRIMARY KEY NOT NULL,"
	"  secret_hash TEXT NOT NULL,"
	"  role        TEXT NOT NULL,"
	"  created_at  INTEGER NOT NULL,"
	"  expires_at  INTEGER NOT NULL,"
	"  uses_left   INTEGER NOT NULL CHECK (uses_left >= 0)"
	");"
	"CREATE TABLE nodes ("
	"  id          TEXT PRIMARY KEY NOT NULL,"
	"  name        TEXT NOT NULL DEFAULT '',"
	"  role        TEXT NOT NULL DEFAULT '',"
	"  arch        TEXT NOT NULL DEFAULT '',"
	"  os          TEXT NOT NULL DEFAULT '',"
	"  kernel      TEXT NOT NULL DEFAULT '',"
	"  cpus        INTEGER NOT NULL DEFAULT 0,"
	"  mem_total   INTEGER NOT NULL DEFAULT 0,"
	"  cert_serial TEXT NOT NULL DEFAULT '',"
	"  created_at  INTEGER NOT NULL,"
	"  last_seen   INTEGER NOT NULL DEFAULT 0,"
	"  deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),"
	"  token_id    TEXT REFERENCES tokens(id) ON DELETE SET NULL"
	");"
	"CREATE INDEX nodes_live_by_created ON nodes(created_at, id) WHERE deleted = 0;",
	/* 2: a renewed node's previous certificate stays valid until the next
	 * renewal, so a renewal lost in transit does not lock the node out */
	"ALTER TABLE nodes ADD COLUMN prev_serial TEXT NOT NULL DEFAULT '';",
	/* 3: tasks sent to agents, grouped by run (an ad-hoc command or a
	 * workflow step), with their results */
	"CREATE TABLE tasks ("
	"  id           TEXT PRIMARY KEY NOT NULL,"
	"  run_id       TEXT NOT NULL,"
	"  node_id      TEXT NOT NULL REFERENCES nodes(id),"
	"  role         TEXT NOT NULL,"
	"  step         TEXT NOT NULL,"
	"  spec         TEXT NOT NULL,"
	"  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	"               ('pending','sent','running','done','failed','timeout','cancelled')),"
	"  exit_code    INTEGER NOT NULL DEFAULT 0,"
	"  reason       TEXT NOT NULL DEFAULT '',"
	"  outputs      TEXT NOT NULL DEFAULT '{}',"
	"  progress     INTEGER NOT NULL DEFAULT 0,"
	"  progress_msg TEXT NOT NULL DEFAULT '',"
	"  log_bytes    INTEGER NOT NULL DEFAULT 0,"
	"  log_seq      INTEGER NOT NULL DEFAULT -1,"
	"  created_at   INTEGER NOT NULL,"
	"  started_at   INTEGER NOT NULL DEFAULT 0,"
	"  finished_at  INTEGER NOT NULL DEFAULT 0,"
	"  duration_ms  INTEGER NOT NULL DEFAULT 0,"
	"  created_ms   INTEGER NOT NULL DEFAULT 0,"
	"  finished_ms  INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX tasks_open_by_node ON tasks(node_id, created_at)"
	"  WHERE state IN ('pending','sent','running');"
	"CREATE INDEX tasks_by_run ON tasks(run_id, created_at);",
	/* 4: OverClouds, their nodes and the steps of their workflows */
	"CREATE TABLE overclouds ("
	"  id         TEXT PRIMARY KEY NOT NULL,"
	"  pattern    TEXT NOT NULL,"
	"  provider   TEXT NOT NULL,"
	"  number     INTEGER NOT NULL,"
	"  size       TEXT NOT NULL DEFAULT '',"
	"  status     TEXT NOT NULL CHECK (status IN"
	"             ('creating','ready','failed','deleting','deleted')),"
	"  error      TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE TABLE oc_nodes ("
	"  overcloud_id TEXT NOT NULL REFERENCES overclouds(id),"
	"  name         TEXT NOT NULL,"
	"  grp          TEXT NOT NULL,"
	"  idx          INTEGER NOT NULL,"
	"  token_id     TEXT NOT NULL DEFAULT '',"
	"  handle       TEXT NOT NULL DEFAULT '',"
	"  address      TEXT NOT NULL DEFAULT '',"
	"  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	"               ('pending','created','released')),"
	"  PRIMARY KEY (overcloud_id, name)"
	");"
	"CREATE TABLE oc_steps ("
	"  overcloud_id TEXT NOT NULL REFERENCES overclouds(id),"
	"  dag          TEXT NOT NULL CHECK (dag IN ('create','destroy')),"
	"  name         TEXT NOT NULL,"
	"  ord          INTEGER NOT NULL,"
	"  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	"               ('pending','running','done','failed','skipped')),"
	"  attempts     INTEGER NOT NULL DEFAULT 0,"
	"  run_id       TEXT NOT NULL DEFAULT '',"
	"  error        TEXT NOT NULL DEFAULT '',"
	"  retry_at_ms  INTEGER NOT NULL DEFAULT 0,"
	"  started_ms   INTEGER NOT NULL DEFAULT 0,"
	"  finished_ms  INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (overcloud_id, dag, name)"
	");",
	/* 5: a heterogeneous OverCloud's nodes each name their provider and size */
	("ALTER TABLE oc_nodes ADD COLUMN provider TEXT NOT NULL DEFAULT '';"
	 "ALTER TABLE oc_nodes ADD COLUMN size TEXT NOT NULL DEFAULT '';"
	 "CREATE INDEX oc_steps_by_run ON oc_steps(run_id) WHERE run_id != '';"),
	/* 6: enrolled nodes attached to an OverCloud (tower attach): their row
	 * names the node itself, not a join token the tower made; steps of a
	 * third DAG, "attach". SQLite cannot change a CHECK in place, so
	 * oc_steps is rebuilt (no table refers to it). */
	("ALTER TABLE oc_nodes ADD COLUMN node_id TEXT NOT NULL DEFAULT '';"
	 "CREATE INDEX oc_nodes_by_node ON oc_nodes(node_id) WHERE node_id != '';"
	 "CREATE TABLE oc_steps_v6 ("
	 "  overcloud_id TEXT NOT NULL REFERENCES overclouds(id),"
	 "  dag          TEXT NOT NULL CHECK (dag IN ('create','destroy','attach')),"
	 "  name         TEXT NOT NULL,"
	 "  ord          INTEGER NOT NULL,"
	 "  state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
	 "               ('pending','running','done','failed','skipped')),"
	 "  attempts     INTEGER NOT NULL DEFAULT 0,"
	 "  run_id       TEXT NOT NULL DEFAULT '',"
	 "  error        TEXT NOT NULL DEFAULT '',"
	 "  retry_at_ms  INTEGER NOT NULL DEFAULT 0,"
	 "  started_ms   INTEGER NOT NULL DEFAULT 0,"
	 "  finished_ms  INTEGER NOT NULL DEFAULT 0,"
	 "  PRIMARY KEY (overcloud_id, dag, name)"
	 ");"
	 "INSERT INTO oc_steps_v6 SELECT overcloud_id, dag, name, ord, state, attempts, run_id,"
	 "  error, retry_at_ms, started_ms, finished_ms FROM oc_steps;"
	 "DROP TABLE oc_steps;"
	 "ALTER TABLE oc_steps_v6 RENAME TO oc_steps;"
	 "CREATE INDEX oc_steps_by_run ON oc_steps(run_id) WHERE run_id != '';"),
	/* 7: the pattern inputs each OverCloud was created with (the pattern's
	 * defaults with the request's values over them), kept so that a later
	 * attach or destroy uses what the create used */
	"CREATE TABLE oc_inputs ("
	"  overcloud_id TEXT NOT NULL REFERENCES overclouds(id),"
	"  name         TEXT NOT NULL,"
	"  value        TEXT NOT NULL,"
	"  PRIMARY KEY (overcloud_id, name)"
	");",
};

#define STORE_SCHEMA_VERSION ((int)OC_ARRAY_LEN(store_migrations))

static const struct store_sql store_txn_sql[] = {
	{ ST_BEGIN, "BEGIN IMMEDIATE" },
	{ ST_COMMIT, "COMMIT" },
	{ ST_ROLLBACK, "ROLLBACK" },
	{ ST_SAVEPOINT, "SAVEPOINT store_enroll" },
	{ ST_RELEASE, "RELEASE store_enroll" },
	{ ST_ROLLBACK_TO, "ROLLBACK TO store_enroll" },
	{ ST_COUNT, NULL },
};

/* Every table's statements; store_open prepares them all and refuses a gap. */
static const struct store_sql *const store_tables[] = {
	store_txn_sql,	      store_tokens_sql,	  store_nodes_sql,    store_tasks_sql,
	store_overclouds_sql, store_oc_nodes_sql, store_oc_steps_sql, store_oc_inputs_sql,
};

/* ---- small helpers ---- */

static void set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

bool store_str_fits(const char *s, size_t size)
{
	return s != NULL && strnlen(s, size) < size;
}

bool store_id_ok(const char *id)
{
	return util_name_ok(id, STORE_ID_MAX - 1);
}

bool store_hash_ok(const char *h)
{
	if (h == NULL || strnlen(h, STORE_HASH_LEN + 1) != STORE_HASH_LEN)
		return false;
	for (size_t i = 0; i < STORE_HASH_LEN; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

void store_log(struct store *st, const char *what, const char *object)
{
	log_error("store: %s%s%s: %s", what, object ? " " : "", object ? object : "",
		  sqlite3_errmsg(st->db));
}

void store_stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* The first ARG_ID of args names the row in log lines. */
static const char *args_object(const struct store_arg *args, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (args[i].kind == ARG_ID)
			return args[i].text;
	return NULL;
}

sqlite3_stmt *store_bound(struct store *st, enum store_stmt which, const char *what,
			  const struct store_arg *args, size_t n)
{
	sqlite3_stmt *s;
	int rc = SQLITE_OK;

	if (st == NULL || (unsigned)which >= ST_COUNT) {
		log_error("store: %s: no store", what);
		return NULL;
	}
	s = st->stmt[which];
	if ((size_t)sqlite3_bind_parameter_count(s) != n) {
		log_error("store: %s: %zu values for %d parameters", what, n,
			  sqlite3_bind_parameter_count(s));
		return NULL;
	}
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		const struct store_arg *a = &args[i];

		if ((a->kind == ARG_ID && !store_id_ok(a->text)) ||
		    (a->kind == ARG_TEXT && a->text == NULL)) {
			log_error("store: %s: bad %s (value %zu)", what,
				  a->kind == ARG_ID ? "id" : "text", i + 1);
			store_stmt_done(s);
			return NULL;
		}
		if (a->kind == ARG_INT)
			rc = sqlite3_bind_int64(s, (int)i + 1, a->num);
		else
			rc = sqlite3_bind_text(s, (int)i + 1, a->text, -1, SQLITE_STATIC);
	}
	if (rc != SQLITE_OK) {
		store_log(st, what, args_object(args, n));
		store_stmt_done(s);
		return NULL;
	}
	return s;
}

int store_exec(struct store *st, enum store_stmt which, const char *what,
	       const struct store_arg *args, size_t n)
{
	sqlite3_stmt *s = store_bound(st, which, what, args, n);
	int changes;

	if (s == NULL)
		return -1;
	if (sqlite3_step(s) != SQLITE_DONE) {
		store_log(st, what, args_object(args, n));
		store_stmt_done(s);
		return -1;
	}
	changes = sqlite3_changes(st->db);
	store_stmt_done(s);
	return changes;
}

int store_first_text(struct store *st, enum store_stmt which, const char *what,
		     const struct store_arg *args, size_t n, char *out, size_t out_size)
{
	sqlite3_stmt *s = store_bound(st, which, what, args, n);
	int rc, found = 0;

	if (s == NULL)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		store_column_copy(s, 0, out, out_size);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		store_log(st, what, args_object(args, n));
		found = -1;
	}
	store_stmt_done(s);
	return found;
}

/* Copies a text column into dst, truncating at a UTF-8 character boundary
 * when it does not fit; NULL becomes "". dst is always NUL-terminated. */
int64_t store_count(struct store *st, enum store_stmt which, const char *what,
		    const struct store_arg *args, size_t n)
{
	sqlite3_stmt *s = store_bound(st, which, what, args, n);
	int64_t count = -1;

	if (s == NULL)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		count = sqlite3_column_int64(s, 0);
	else
		store_log(st, what, args_object(args, n));
	store_stmt_done(s);
	return count;
}

int store_collect(struct store *st, sqlite3_stmt *s, const char *what, size_t elem_size,
		  int (*to_row)(sqlite3_stmt *s, void *row), void **rows, size_t *count)
{
	size_t cap = 0;
	char *bigger;
	int rc;

	*rows = NULL;
	*count = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*count == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = realloc(*rows, cap * elem_size);
			if (bigger == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			*rows = bigger;
		}
		if (to_row(s, (char *)*rows + *count * elem_size) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		(*count)++;
	}
	if (rc != SQLITE_DONE)
		log_error("store: %s: %s", what,
			  rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(st->db));
	store_stmt_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_fill(struct store *st, sqlite3_stmt *s, const char *what, void *out, size_t elem_size,
	       size_t max, void (*to_row)(sqlite3_stmt *s, void *row))
{
	size_t count = 0;
	int rc = SQLITE_DONE;

	while (count < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset((char *)out + count * elem_size, 0, elem_size);
		to_row(s, (char *)out + count * elem_size);
		count++;
	}
	if (count < max && rc != SQLITE_DONE) {
		log_error("store: %s: %s", what, sqlite3_errmsg(st->db));
		store_stmt_done(s);
		return -1;
	}
	store_stmt_done(s);
	return (int)count;
}

void store_column_copy(sqlite3_stmt *s, int col, char *dst, size_t size)
{
	const unsigned char *text = sqlite3_column_text(s, col);
	size_t len = (size_t)sqlite3_column_bytes(s, col);

	if (text == NULL)
		len = 0;
	if (len >= size) {
		len = size - 1;
		while (len > 0 && (text[len] & 0xc0) == 0x80)
			len--;
	}
	if (len > 0)
		memcpy(dst, text, len);
	dst[len] = '\0';
	/* An embedded NUL ends the string early; that is still a valid string. */
}

/* ---- open, migrate, close ---- */

static int prepare_all(struct store *st, char *err, size_t err_size)
{
	for (size_t t = 0; t < OC_ARRAY_LEN(store_tables); t++) {
		for (const struct store_sql *q = store_tables[t]; q->sql != NULL; q++) {
			if (st->stmt[q->which] != NULL) {
				set_err(err, err_size, "statement %d given twice", (int)q->which);
				return -1;
			}
			if (sqlite3_prepare_v3(st->db, q->sql, -1, SQLITE_PREPARE_PERSISTENT,
					       &st->stmt[q->which], NULL) != SQLITE_OK) {
				set_err(err, err_size, "prepare \"%s\": %s", q->sql,
					sqlite3_errmsg(st->db));
				return -1;
			}
		}
	}
	for (int i = 0; i < ST_COUNT; i++) {
		if (st->stmt[i] == NULL) {
			set_err(err, err_size, "statement %d has no SQL", i);
			return -1;
		}
	}
	return 0;
}

/* Runs a one-row PRAGMA and returns its first column as an int, or -1. */
static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int set_journal_wal(sqlite3 *db, char *err, size_t err_size)
{
	sqlite3_stmt *s = NULL;
	const char *mode;
	int ok = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) != SQLITE_ROW)
		goto fail;
	mode = (const char *)sqlite3_column_text(s, 0);
	/* An in-memory database cannot use WAL; it has nothing to keep anyway. */
	ok = mode != NULL && (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0);
	if (!ok) {
		set_err(err, err_size, "journal mode is %s, not wal", mode ? mode : "unknown");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;

fail:
	set_err(err, err_size, "set wal journal mode: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return -1;
}

/* Brings the schema to STORE_SCHEMA_VERSION, one migration per transaction.
 * The version is read inside each write transaction, so two processes opening
 * the same file at once do not both apply a migration. */
static int migrate(sqlite3 *db, int *version, char *err, size_t err_size)
{
	char bump[64];
	int v;

	for (;;) {
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			set_err(err, err_size, "begin migration: %s", sqlite3_errmsg(db));
			return -1;
		}
		if (pragma_int(db, "PRAGMA user_version", &v) < 0) {
			set_err(err, err_size, "read schema version: %s", sqlite3_errmsg(db));
			goto fail;
		}
		if (v < 0 || v > STORE_SCHEMA_VERSION) {
			set_err(err, err_size,
				"database schema version %d is newer than this build knows (%d); "
				"use a newer tower",
				v, STORE_SCHEMA_VERSION);
			goto fail;
		}
		if (v == STORE_SCHEMA_VERSION)
			break;
		if (sqlite3_exec(db, store_migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			set_err(err, err_size, "migration %d: %s", v + 1, sqlite3_errmsg(db));
			goto fail;
		}
		/* PRAGMA takes no bound parameters; the value is our own integer. */
		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(db, bump, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			set_err(err, err_size, "migration %d: %s", v + 1, sqlite3_errmsg(db));
			goto fail;
		}
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, err_size, "end migration: %s", sqlite3_errmsg(db));
		goto fail;
	}
	*version = v;
	return 0;

fail:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* sqlite creates files 0644 (less umask); the database holds token hashes and
 * the node inventory, so create it 0600 first. sqlite gives its -wal and -shm
 * files the database file's mode. */
static int precreate(const char *path, char *err, size_t err_size)
{
	int fd;

	if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
		return 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_err(err, err_size, "open %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* Every write to a table with a CHECK (x IN (...)) opens a small temporary
 * b-tree, and by default each gets a fresh 20-page bulk allocation whose
 * first touch cost ~10% of the tower's CPU (page faults are dear on VMs).
 * Without a configured page-cache buffer sqlite takes pages one by one
 * from malloc, which reuses freed memory. Only possible before sqlite
 * initialises, so the first store_open does it; later calls are no-ops. */
static void store_tune_sqlite(void)
{
	static int done;

	if (!done) {
		done = 1;
		sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0);
	}
}

struct store *store_open(const char *path, char *err, size_t err_size)
{
	struct store *st = NULL;
	int fk = 0;

	store_tune_sqlite();

	if (path == NULL || path[0] == '\0') {
		set_err(err, err_size, "no database path");
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		set_err(err, err_size, "out of memory");
		return NULL;
	}
	if (precreate(path, err, err_size) < 0)
		goto fail;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		set_err(err, err_size, "open %s: %s", path,
			st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if (set_journal_wal(st->db, err, err_size) < 0)
		goto fail;
	if (sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
			 NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, err_size, "set pragmas: %s", sqlite3_errmsg(st->db));
		goto fail;
	}
	if (pragma_int(st->db, "PRAGMA foreign_keys", &fk) < 0 || fk != 1) {
		set_err(err, err_size, "this sqlite does not enforce foreign keys");
		goto fail;
	}
	if (migrate(st->db, &st->version, err, err_size) < 0)
		goto fail;
	if (prepare_all(st, err, err_size) < 0)
		goto fail;
	return st;

fail:
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
	return NULL;
}

/* An open store_begin that was never committed is rolled back: closing is not
 * committing. */
void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (!sqlite3_get_autocommit(st->db)) {
		log_warn("store: closing with an open transaction, rolling it back");
		if (store_exec(st, ST_ROLLBACK, "rollback", STORE_NO_ARGS) < 0)
			log_warn("store: rollback failed, sqlite will discard it on close");
	}
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	if (sqlite3_close(st->db) != SQLITE_OK)
		log_error("store: close: %s", sqlite3_errmsg(st->db));
	free(st);
}

int store_schema_version(struct store *st)
{
	return st ? st->version : -1;
}
/* ---- batching ----
 * One level only: store_begin inside an open batch fails. store_commit rolls
 * the batch back when the commit fails, so the store is never left inside a
 * half-finished transaction. store_rollback with no batch open is a no-op. */

int store_begin(struct store *st)
{
	if (st == NULL)
		return -1;
	if (!sqlite3_get_autocommit(st->db)) {
		log_error("store: begin: a transaction is already open");
		return -1;
	}
	return store_exec(st, ST_BEGIN, "begin", STORE_NO_ARGS) < 0 ? -1 : 0;
}

int store_commit(struct store *st)
{
	double started;

	if (st == NULL)
		return -1;
	if (sqlite3_get_autocommit(st->db)) {
		log_error("store: commit: no transaction is open");
		return -1;
	}
	started = telemetry_now();
	if (store_exec(st, ST_COMMIT, "commit", STORE_NO_ARGS) < 0) {
		if (!sqlite3_get_autocommit(st->db))
			store_exec(st, ST_ROLLBACK, "rollback", STORE_NO_ARGS);
		return -1;
	}
	telemetry_observe(TELEMETRY_COMMIT, telemetry_now() - started);
	return 0;
}

int store_rollback(struct store *st)
{
	if (st == NULL)
		return -1;
	if (sqlite3_get_autocommit(st->db))
		return 0;
	return store_exec(st, ST_ROLLBACK, "rollback", STORE_NO_ARGS) < 0 ? -1 : 0;
}
