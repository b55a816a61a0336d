/* store.c — the tower's repository: the sqlite file, its schema migrations and
 * every SQL statement. Owns tokens and nodes rows; hashing secrets is enroll's. */
#include "tower/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/metrics/telemetry.h"

/* Hex sha256: the only secret_hash shape stored or compared. */
#define STORE_HASH_LEN 64
#define STORE_BUSY_MS 5000
#define NODE_FIELD_SIZE(f) sizeof(((struct store_node *)0)->f)

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

enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_TOKEN_INSERT,
	ST_TOKEN_GET,
	ST_TOKEN_TAKE,
	ST_NODE_INSERT,
	ST_NODE_UPDATE_FACTS,
	ST_NODE_TOUCH,
	ST_NODE_SET_SERIAL,
	ST_NODE_GET,
	ST_NODE_LIST,
	ST_NODE_DELETE,
	ST_TASK_INSERT,
	ST_TASK_SET_STATE,
	ST_TASK_PROGRESS,
	ST_TASK_FINISH,
	ST_TASK_ADD_LOG,
	ST_TASK_GET,
	ST_TASK_OPEN_FOR_NODE,
	ST_TASK_OPEN_OLDER,
	ST_TASK_BY_RUN,
	ST_TASK_COUNT_OPEN,
	ST_TASK_COUNT_BY_STATE,
	ST_OC_INSERT,
	ST_OC_SET_STATUS,
	ST_OC_GET,
	ST_OC_LIST,
	ST_OCN_INSERT,
	ST_OCN_UPDATE,
	ST_OCN_LIST,
	ST_OCN_INSERT_ENROLLED,
	ST_OCN_FIND_NODE,
	ST_OCS_INSERT,
	ST_OCS_UPDATE,
	ST_OCS_LIST,
	ST_OCS_FIND_RUN,
	ST_OCS_CLEAR,
	ST_OCS_COUNT_OPEN,
	ST_OCI_INSERT,
	ST_OCI_GET,
	ST_OCI_LIST,
	ST_COUNT
};

#define NODE_COLUMNS \
	"id, name, role, arch, os, kernel, cert_serial, cpus, mem_total, created_at, last_seen, deleted," \
	" prev_serial"

#define TASK_COLUMNS \
	"id, run_id, node_id, role, step, spec, state, exit_code, reason, outputs, progress," \
	" progress_msg, log_bytes, created_at, started_at, finished_at, duration_ms, log_seq," \
	" created_ms, finished_ms"

#define OC_COLUMNS "id, pattern, provider, number, size, status, error, created_at, updated_at"

static const char *const store_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT store_enroll",
	[ST_RELEASE] = "RELEASE store_enroll",
	[ST_ROLLBACK_TO] = "ROLLBACK TO store_enroll",
	[ST_TOKEN_INSERT] = "INSERT INTO tokens (id, secret_hash, role, created_at, expires_at, uses_left)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_TOKEN_GET] = "SELECT secret_hash, role, expires_at, uses_left FROM tokens WHERE id = ?1",
	[ST_TOKEN_TAKE] = "UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?1 AND uses_left > 0",
	[ST_NODE_INSERT] = "INSERT INTO nodes (id, name, role, created_at, cert_serial, token_id)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_NODE_UPDATE_FACTS] = "UPDATE nodes SET name = ?2, arch = ?3, os = ?4, kernel = ?5,"
				 " cpus = ?6, mem_total = ?7, last_seen = ?8"
				 " WHERE id = ?1 AND deleted = 0",
	[ST_NODE_TOUCH] = "UPDATE nodes SET last_seen = ?2 WHERE id = ?1 AND deleted = 0",
	[ST_NODE_SET_SERIAL] = "UPDATE nodes SET prev_serial = cert_serial, cert_serial = ?2"
			       " WHERE id = ?1 AND deleted = 0",
	[ST_NODE_GET] = "SELECT " NODE_COLUMNS " FROM nodes WHERE id = ?1",
	[ST_NODE_LIST] = "SELECT " NODE_COLUMNS " FROM nodes WHERE deleted = 0 ORDER BY created_at, id",
	[ST_NODE_DELETE] = "UPDATE nodes SET deleted = 1 WHERE id = ?1 AND deleted = 0",
	[ST_TASK_INSERT] = "INSERT INTO tasks (id, run_id, node_id, role, step, spec, created_at,"
			   " created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7 / 1000, ?7)",
	/* Only forward: a late "accepted" never undoes a finished task. */
	[ST_TASK_SET_STATE] = "UPDATE tasks SET state = ?2,"
			      " started_at = CASE WHEN ?2 = 'running' AND started_at = 0 THEN ?3"
			      " ELSE started_at END"
			      " WHERE id = ?1 AND state IN ('pending','sent','running')",
	[ST_TASK_PROGRESS] = "UPDATE tasks SET progress = ?2, progress_msg = ?3"
			     " WHERE id = ?1 AND state IN ('pending','sent','running')",
	[ST_TASK_FINISH] = "UPDATE tasks SET state = ?2, exit_code = ?3, duration_ms = ?4,"
			   " reason = ?5, outputs = ?6, finished_at = ?7 / 1000, finished_ms = ?7,"
			   " progress = CASE WHEN ?2 = 'done' THEN 100 ELSE progress END"
			   " WHERE id = ?1 AND state IN ('pending','sent','running')",
	[ST_TASK_ADD_LOG] = "UPDATE tasks SET log_bytes = log_bytes + ?2, log_seq = ?3 WHERE id = ?1",
	[ST_TASK_GET] = "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1",
	[ST_TASK_OPEN_FOR_NODE] = "SELECT " TASK_COLUMNS " FROM tasks WHERE node_id = ?1"
				  " AND state IN ('pending','sent','running') ORDER BY created_at, rowid",
	[ST_TASK_OPEN_OLDER] = "SELECT " TASK_COLUMNS " FROM tasks WHERE state IN ('pending','sent','running')"
			       " AND created_ms < CAST(?1 AS INTEGER) ORDER BY created_at, rowid",
	[ST_TASK_BY_RUN] = "SELECT " TASK_COLUMNS " FROM tasks WHERE run_id = ?1"
			   " ORDER BY created_at, rowid",
	[ST_TASK_COUNT_OPEN] = "SELECT count(*) FROM tasks WHERE run_id = ?1"
			       " AND state IN ('pending','sent','running')",
	[ST_TASK_COUNT_BY_STATE] = "SELECT state, count(*) FROM tasks GROUP BY state ORDER BY state",
	[ST_OC_INSERT] = "INSERT INTO overclouds (id, pattern, provider, number, size, status,"
			 " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'creating', ?6, ?6)",
	[ST_OC_SET_STATUS] = "UPDATE overclouds SET status = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
	[ST_OC_GET] = "SELECT " OC_COLUMNS " FROM overclouds WHERE id = ?1",
	[ST_OC_LIST] = "SELECT " OC_COLUMNS " FROM overclouds ORDER BY created_at, id",
	[ST_OCN_INSERT] = "INSERT INTO oc_nodes (overcloud_id, name, grp, idx, provider, size)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_OCN_UPDATE] = "UPDATE oc_nodes SET token_id = ?3, handle = ?4, address = ?5, state = ?6"
			  " WHERE overcloud_id = ?1 AND name = ?2",
	/* A node the tower made is found through its join token; an attached
	 * one is named. Either reads "" once the node is deleted. */
	[ST_OCN_LIST] = "SELECT name, grp, idx, token_id, handle, address, state,"
			" CASE WHEN oc_nodes.node_id != '' THEN COALESCE((SELECT id FROM nodes"
			" WHERE nodes.id = oc_nodes.node_id AND deleted = 0), '')"
			" ELSE COALESCE((SELECT id FROM nodes WHERE nodes.token_id = oc_nodes.token_id"
			" AND oc_nodes.token_id != '' AND deleted = 0), '') END, provider, size,"
			" oc_nodes.node_id != ''"
			" FROM oc_nodes WHERE overcloud_id = ?1 ORDER BY grp = 'post' DESC, grp, idx",
	[ST_OCN_INSERT_ENROLLED] = "INSERT INTO oc_nodes (overcloud_id, name, grp, idx, provider,"
				   " node_id, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_OCN_FIND_NODE] = "SELECT overcloud_id FROM oc_nodes WHERE state != 'released'"
			     " AND (node_id = ?1 OR (token_id != '' AND token_id ="
			     " (SELECT token_id FROM nodes WHERE id = ?1))) LIMIT 1",
	/* A step already there (a delete started again) stays as it is; OR
	 * IGNORE would also have skipped rows that fail a CHECK, silently. */
	[ST_OCS_INSERT] = "INSERT INTO oc_steps (overcloud_id, dag, name, ord)"
			  " VALUES (?1, ?2, ?3, ?4)"
			  " ON CONFLICT (overcloud_id, dag, name) DO NOTHING",
	[ST_OCS_UPDATE] = "UPDATE oc_steps SET state = ?4, attempts = ?5, run_id = ?6, error = ?7,"
			  " retry_at_ms = ?8, started_ms = ?9, finished_ms = ?10"
			  " WHERE overcloud_id = ?1 AND dag = ?2 AND name = ?3",
	[ST_OCS_FIND_RUN] = "SELECT overcloud_id FROM oc_steps WHERE run_id = ?1 AND run_id != ''"
			    " LIMIT 1",
	[ST_OCS_LIST] = "SELECT dag, name, state, attempts, run_id, error, retry_at_ms, started_ms,"
			" finished_ms FROM oc_steps WHERE overcloud_id = ?1"
			" ORDER BY CASE dag WHEN 'create' THEN 0 WHEN 'attach' THEN 1 ELSE 2 END, ord",
	[ST_OCS_CLEAR] = "DELETE FROM oc_steps WHERE overcloud_id = ?1 AND dag = ?2",
	[ST_OCS_COUNT_OPEN] = "SELECT count(*) FROM oc_steps WHERE overcloud_id = ?1 AND dag = ?2"
			      " AND state IN ('pending','running')",
	[ST_OCI_INSERT] = "INSERT INTO oc_inputs (overcloud_id, name, value) VALUES (?1, ?2, ?3)",
	[ST_OCI_GET] = "SELECT value FROM oc_inputs WHERE overcloud_id = ?1 AND name = ?2",
	[ST_OCI_LIST] = "SELECT name, value FROM oc_inputs WHERE overcloud_id = ?1 ORDER BY name",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
	int version;
	bool in_foreach;	/* ST_NODE_LIST is being stepped */
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

/* True when s is non-NULL and strlen(s) < size (fits a buffer of size). */
static bool str_fits(const char *s, size_t size)
{
	return s != NULL && strnlen(s, size) < size;
}

static bool id_ok(const char *id)
{
	return util_name_ok(id, STORE_ID_MAX - 1);
}

static bool hash_ok(const char *h)
{
	if (h == NULL || strnlen(h, STORE_HASH_LEN + 1) != STORE_HASH_LEN)
		return false;
	for (size_t i = 0; i < STORE_HASH_LEN; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

/* Logs the connection's current sqlite error for the operation what. */
static void store_log(struct store *st, const char *what, const char *object)
{
	log_error("store: %s%s%s: %s", what, object ? " " : "", object ? object : "",
		  sqlite3_errmsg(st->db));
}

/* Makes a statement ready for its next use; bindings point at caller memory. */
static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static int bind_text(sqlite3_stmt *s, int idx, const char *text)
{
	return sqlite3_bind_text(s, idx, text, -1, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
}

static int bind_int(sqlite3_stmt *s, int idx, int64_t v)
{
	return sqlite3_bind_int64(s, idx, v) == SQLITE_OK ? 0 : -1;
}

/* Steps a bound statement that returns no rows. Returns the number of rows it
 * changed, or -1 (logged). Always leaves the statement reset and unbound. */
static int stmt_run(struct store *st, enum store_stmt which, const char *what, const char *object)
{
	sqlite3_stmt *s = st->stmt[which];
	int rc, changes;

	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		store_log(st, what, object);
		stmt_done(s);
		return -1;
	}
	changes = sqlite3_changes(st->db);
	stmt_done(s);
	return changes;
}

/* Copies a text column into dst, truncating at a UTF-8 character boundary
 * when it does not fit; NULL becomes "". dst is always NUL-terminated. */
static void column_copy(sqlite3_stmt *s, int col, char *dst, size_t size)
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

static void row_to_node(sqlite3_stmt *s, struct store_node *n)
{
	memset(n, 0, sizeof(*n));
	column_copy(s, 0, n->id, sizeof(n->id));
	column_copy(s, 1, n->name, sizeof(n->name));
	column_copy(s, 2, n->role, sizeof(n->role));
	column_copy(s, 3, n->arch, sizeof(n->arch));
	column_copy(s, 4, n->os, sizeof(n->os));
	column_copy(s, 5, n->kernel, sizeof(n->kernel));
	column_copy(s, 6, n->cert_serial, sizeof(n->cert_serial));
	n->cpus = sqlite3_column_int64(s, 7);
	n->mem_total = sqlite3_column_int64(s, 8);
	n->created_at = sqlite3_column_int64(s, 9);
	n->last_seen = sqlite3_column_int64(s, 10);
	n->deleted = sqlite3_column_int64(s, 11) != 0;
	column_copy(s, 12, n->prev_serial, sizeof(n->prev_serial));
}

/* ---- open, migrate, close ---- */

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
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &st->stmt[i], NULL) != SQLITE_OK) {
			set_err(err, err_size, "prepare \"%s\": %s", store_sql[i],
				sqlite3_errmsg(st->db));
			goto fail;
		}
	}
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
		if (stmt_run(st, ST_ROLLBACK, "rollback", NULL) < 0)
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

/* ---- join tokens ---- */

int store_token_insert(struct store *st, const char *id, const char *secret_hash,
		       const char *role, int64_t created_at, int64_t expires_at, int64_t uses)
{
	sqlite3_stmt *s;

	if (st == NULL || !id_ok(id) || !hash_ok(secret_hash) || !str_fits(role, STORE_ROLE_MAX) ||
	    role[0] == '\0' || uses < 1) {
		log_error("store: insert token: bad arguments");
		return -1;
	}
	s = st->stmt[ST_TOKEN_INSERT];
	if (bind_text(s, 1, id) || bind_text(s, 2, secret_hash) || bind_text(s, 3, role) ||
	    bind_int(s, 4, created_at) || bind_int(s, 5, expires_at) || bind_int(s, 6, uses)) {
		store_log(st, "insert token", id);
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_TOKEN_INSERT, "insert token", id) == 1 ? 0 : -1;
}

/* ---- enrollment ---- */

/* Looks the token up, checks it and takes a use; inside a transaction. */
static enum store_enroll_result take_token(struct store *st, const char *token_id,
					   const char *secret_hash, int64_t now,
					   char *role, size_t role_size)
{
	sqlite3_stmt *s = st->stmt[ST_TOKEN_GET];
	char want[STORE_HASH_LEN], have[STORE_HASH_LEN];
	const unsigned char *stored;
	int64_t expires_at, uses_left;
	bool hash_same;
	int rc;

	if (bind_text(s, 1, token_id)) {
		store_log(st, "look up token", token_id);
		stmt_done(s);
		return STORE_ENROLL_ERROR;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return STORE_ENROLL_UNKNOWN_TOKEN;
	}
	if (rc != SQLITE_ROW) {
		store_log(st, "look up token", token_id);
		stmt_done(s);
		return STORE_ENROLL_ERROR;
	}
	/* Fixed-size buffers so the compare takes the same time whatever the
	 * stored value is; secret_hash was checked to be STORE_HASH_LEN long. */
	memset(have, 0, sizeof(have));
	memcpy(want, secret_hash, sizeof(want));
	stored = sqlite3_column_text(s, 0);
	hash_same = stored != NULL && sqlite3_column_bytes(s, 0) == STORE_HASH_LEN;
	if (hash_same)
		memcpy(have, stored, sizeof(have));
	hash_same = (util_consttime_cmp(want, have, sizeof(want)) == 0) && hash_same;
	column_copy(s, 1, role, role_size);
	expires_at = sqlite3_column_int64(s, 2);
	uses_left = sqlite3_column_int64(s, 3);
	stmt_done(s);

	if (!hash_same)
		return STORE_ENROLL_UNKNOWN_TOKEN;
	if (now >= expires_at)
		return STORE_ENROLL_EXPIRED;
	if (uses_left <= 0)
		return STORE_ENROLL_USED_UP;

	s = st->stmt[ST_TOKEN_TAKE];
	if (bind_text(s, 1, token_id)) {
		store_log(st, "take token use", token_id);
		stmt_done(s);
		return STORE_ENROLL_ERROR;
	}
	rc = stmt_run(st, ST_TOKEN_TAKE, "take token use", token_id);
	if (rc < 0)
		return STORE_ENROLL_ERROR;
	return rc == 1 ? STORE_ENROLL_OK : STORE_ENROLL_USED_UP;
}

static int insert_node(struct store *st, const char *node_id, const char *name,
		       const char *role, int64_t now, const char *cert_serial,
		       const char *token_id)
{
	sqlite3_stmt *s = st->stmt[ST_NODE_INSERT];

	if (bind_text(s, 1, node_id) || bind_text(s, 2, name) || bind_text(s, 3, role) ||
	    bind_int(s, 4, now) || bind_text(s, 5, cert_serial) || bind_text(s, 6, token_id)) {
		store_log(st, "insert node", node_id);
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_NODE_INSERT, "insert node", node_id) == 1 ? 0 : -1;
}

/*
 * Runs in its own BEGIN IMMEDIATE transaction, or, inside a store_begin batch,
 * in a savepoint, so a failed enrollment never takes a use and never undoes
 * the rest of the batch.
 */
enum store_enroll_result store_enroll_node(struct store *st, const char *token_id,
					   const char *secret_hash, int64_t now,
					   const char *node_id, const char *name,
					   const char *cert_serial,
					   char *role_out, size_t role_size)
{
	char role[STORE_ROLE_MAX];
	enum store_enroll_result res;
	bool nested;

	if (st == NULL || token_id == NULL || secret_hash == NULL || !id_ok(node_id) ||
	    !str_fits(name, STORE_NAME_MAX) || !str_fits(cert_serial, STORE_ID_MAX) ||
	    role_out == NULL || role_size == 0) {
		log_error("store: enroll node: bad arguments");
		return STORE_ENROLL_ERROR;
	}
	/* A token id or hash of the wrong shape names no token we could hold. */
	if (!id_ok(token_id) || strnlen(secret_hash, STORE_HASH_LEN + 1) != STORE_HASH_LEN)
		return STORE_ENROLL_UNKNOWN_TOKEN;

	nested = !sqlite3_get_autocommit(st->db);
	if (stmt_run(st, nested ? ST_SAVEPOINT : ST_BEGIN, "enroll node: begin", node_id) < 0)
		return STORE_ENROLL_ERROR;

	res = take_token(st, token_id, secret_hash, now, role, sizeof(role));
	if (res != STORE_ENROLL_OK)
		goto fail;
	if (strlen(role) >= role_size) {
		log_error("store: enroll node %s: role buffer too small", node_id);
		res = STORE_ENROLL_ERROR;
		goto fail;
	}
	if (insert_node(st, node_id, name, role, now, cert_serial, token_id) < 0) {
		res = STORE_ENROLL_ERROR;
		goto fail;
	}
	if (stmt_run(st, nested ? ST_RELEASE : ST_COMMIT, "enroll node: commit", node_id) < 0) {
		res = STORE_ENROLL_ERROR;
		goto fail;
	}
	memcpy(role_out, role, strlen(role) + 1);
	return STORE_ENROLL_OK;

fail:
	if (nested) {
		/* ROLLBACK TO keeps the savepoint open; RELEASE ends it. */
		if (stmt_run(st, ST_ROLLBACK_TO, "enroll node: rollback", node_id) >= 0)
			stmt_run(st, ST_RELEASE, "enroll node: rollback", node_id);
	} else if (!sqlite3_get_autocommit(st->db)) {
		stmt_run(st, ST_ROLLBACK, "enroll node: rollback", node_id);
	}
	return res;
}

/* ---- nodes ---- */

int store_node_update_facts(struct store *st, const char *id, const char *name,
			    const char *arch, const char *os, const char *kernel,
			    int64_t cpus, int64_t mem_total, int64_t now)
{
	sqlite3_stmt *s;

	if (st == NULL || !id_ok(id) || !str_fits(name, NODE_FIELD_SIZE(name)) ||
	    !str_fits(arch, NODE_FIELD_SIZE(arch)) || !str_fits(os, NODE_FIELD_SIZE(os)) ||
	    !str_fits(kernel, NODE_FIELD_SIZE(kernel)) || cpus < 0 || mem_total < 0) {
		log_error("store: update node facts: bad arguments");
		return -1;
	}
	s = st->stmt[ST_NODE_UPDATE_FACTS];
	if (bind_text(s, 1, id) || bind_text(s, 2, name) || bind_text(s, 3, arch) ||
	    bind_text(s, 4, os) || bind_text(s, 5, kernel) || bind_int(s, 6, cpus) ||
	    bind_int(s, 7, mem_total) || bind_int(s, 8, now)) {
		store_log(st, "update node facts", id);
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_NODE_UPDATE_FACTS, "update node facts", id) == 1 ? 0 : -1;
}

int store_node_touch(struct store *st, const char *id, int64_t now)
{
	sqlite3_stmt *s;

	if (st == NULL || !id_ok(id)) {
		log_error("store: touch node: bad arguments");
		return -1;
	}
	s = st->stmt[ST_NODE_TOUCH];
	if (bind_text(s, 1, id) || bind_int(s, 2, now)) {
		store_log(st, "touch node", id);
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_NODE_TOUCH, "touch node", id) == 1 ? 0 : -1;
}

int store_node_set_serial(struct store *st, const char *id, const char *cert_serial)
{
	sqlite3_stmt *s;

	if (st == NULL || !id_ok(id) || !str_fits(cert_serial, STORE_ID_MAX)) {
		log_error("store: set node serial: bad arguments");
		return -1;
	}
	s = st->stmt[ST_NODE_SET_SERIAL];
	if (bind_text(s, 1, id) || bind_text(s, 2, cert_serial)) {
		store_log(st, "set node serial", id);
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_NODE_SET_SERIAL, "set node serial", id) == 1 ? 0 : -1;
}

int store_node_get(struct store *st, const char *id, struct store_node *out)
{
	sqlite3_stmt *s;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (st == NULL || out == NULL || !id_ok(id)) {
		log_error("store: get node: bad arguments");
		return -1;
	}
	s = st->stmt[ST_NODE_GET];
	if (bind_text(s, 1, id)) {
		store_log(st, "get node", id);
		stmt_done(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		row_to_node(s, out);
		stmt_done(s);
		return 1;
	}
	if (rc != SQLITE_DONE)
		store_log(st, "get node", id);
	stmt_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * fn gets a copy of each row, so it may keep what it needs. It may call the
 * other store functions, but not store_node_foreach (the walk owns the list
 * statement; a nested call fails with -1), and whether rows it changes during
 * the walk are seen again is unspecified: collect ids, act after the walk.
 */
int store_node_foreach(struct store *st, int (*fn)(const struct store_node *node, void *arg),
		       void *arg)
{
	sqlite3_stmt *s;
	struct store_node node;
	int rc, ret = 0;

	if (st == NULL || fn == NULL) {
		log_error("store: list nodes: bad arguments");
		return -1;
	}
	if (st->in_foreach) {
		log_error("store: list nodes: called from a store_node_foreach callback");
		return -1;
	}
	s = st->stmt[ST_NODE_LIST];
	st->in_foreach = true;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row_to_node(s, &node);
		ret = fn(&node, arg);
		if (ret != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_log(st, "list nodes", NULL);
		ret = -1;
	}
	stmt_done(s);
	st->in_foreach = false;
	return ret;
}

int store_node_delete(struct store *st, const char *id)
{
	sqlite3_stmt *s;
	int rc;

	if (st == NULL || !id_ok(id)) {
		log_error("store: delete node: bad arguments");
		return -1;
	}
	s = st->stmt[ST_NODE_DELETE];
	if (bind_text(s, 1, id)) {
		store_log(st, "delete node", id);
		stmt_done(s);
		return -1;
	}
	rc = stmt_run(st, ST_NODE_DELETE, "delete node", id);
	return rc < 0 ? -1 : rc > 0;
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
	return stmt_run(st, ST_BEGIN, "begin", NULL) < 0 ? -1 : 0;
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
	if (stmt_run(st, ST_COMMIT, "commit", NULL) < 0) {
		if (!sqlite3_get_autocommit(st->db))
			stmt_run(st, ST_ROLLBACK, "rollback", NULL);
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
	return stmt_run(st, ST_ROLLBACK, "rollback", NULL) < 0 ? -1 : 0;
}

/* ---- tasks ---- */

int store_task_insert(struct store *st, const char *id, const char *run_id, const char *node_id,
		      const char *role, const char *step, const char *spec_json, int64_t now)
{
	sqlite3_stmt *s;

	if (st == NULL || !id_ok(id) || !id_ok(run_id) || !id_ok(node_id) || role == NULL ||
	    step == NULL || spec_json == NULL) {
		log_error("store: insert task: bad arguments");
		return -1;
	}
	s = st->stmt[ST_TASK_INSERT];
	if (bind_text(s, 1, id) || bind_text(s, 2, run_id) || bind_text(s, 3, node_id) ||
	    bind_text(s, 4, role) || bind_text(s, 5, step) || bind_text(s, 6, spec_json) ||
	    bind_int(s, 7, now)) {
		store_log(st, "insert task", id);
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_TASK_INSERT, "insert task", id) == 1 ? 0 : -1;
}

int store_task_set_state(struct store *st, const char *id, const char *state, int64_t now)
{
	sqlite3_stmt *s;

	if (st == NULL || !id_ok(id) || state == NULL)
		return -1;
	s = st->stmt[ST_TASK_SET_STATE];
	if (bind_text(s, 1, id) || bind_text(s, 2, state) || bind_int(s, 3, now)) {
		store_log(st, "set task state", id);
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_TASK_SET_STATE, "set task state", id) < 0 ? -1 : 0;
}

int store_task_progress(struct store *st, const char *id, int64_t percent, const char *message)
{
	sqlite3_stmt *s;

	if (st == NULL || !id_ok(id))
		return -1;
	s = st->stmt[ST_TASK_PROGRESS];
	if (bind_text(s, 1, id) || bind_int(s, 2, percent) || bind_text(s, 3, message ? message : "")) {
		store_log(st, "task progress", id);
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_TASK_PROGRESS, "task progress", id) < 0 ? -1 : 0;
}

int store_task_finish(struct store *st, const char *id, const char *state, int64_t exit_code,
		      int64_t duration_ms, const char *reason, const char *outputs_json, int64_t now)
{
	sqlite3_stmt *s;
	int rc;

	if (st == NULL || !id_ok(id) || state == NULL)
		return -1;
	s = st->stmt[ST_TASK_FINISH];
	if (bind_text(s, 1, id) || bind_text(s, 2, state) || bind_int(s, 3, exit_code) ||
	    bind_int(s, 4, duration_ms) || bind_text(s, 5, reason ? reason : "") ||
	    bind_text(s, 6, outputs_json ? outputs_json : "{}") || bind_int(s, 7, now)) {
		store_log(st, "finish task", id);
		stmt_done(s);
		return -1;
	}
	rc = stmt_run(st, ST_TASK_FINISH, "finish task", id);
	return rc < 0 ? -1 : rc > 0;
}

int store_task_add_log(struct store *st, const char *id, int64_t bytes, int64_t seq)
{
	sqlite3_stmt *s;

	if (st == NULL || !id_ok(id))
		return -1;
	s = st->stmt[ST_TASK_ADD_LOG];
	if (bind_text(s, 1, id) || bind_int(s, 2, bytes) || bind_int(s, 3, seq)) {
		stmt_done(s);
		return -1;
	}
	return stmt_run(st, ST_TASK_ADD_LOG, "task log size", id) < 0 ? -1 : 0;
}

static int row_to_task(sqlite3_stmt *s, struct store_task *t)
{
	memset(t, 0, sizeof(*t));
	column_copy(s, 0, t->id, sizeof(t->id));
	column_copy(s, 1, t->run_id, sizeof(t->run_id));
	column_copy(s, 2, t->node_id, sizeof(t->node_id));
	column_copy(s, 3, t->role, sizeof(t->role));
	column_copy(s, 4, t->step, sizeof(t->step));
	t->spec = strdup((const char *)sqlite3_column_text(s, 5) ?: "{}");
	column_copy(s, 6, t->state, sizeof(t->state));
	t->exit_code = sqlite3_column_int64(s, 7);
	column_copy(s, 8, t->reason, sizeof(t->reason));
	t->outputs = strdup((const char *)sqlite3_column_text(s, 9) ?: "{}");
	t->progress = sqlite3_column_int64(s, 10);
	column_copy(s, 11, t->progress_msg, sizeof(t->progress_msg));
	t->log_bytes = sqlite3_column_int64(s, 12);
	t->created_at = sqlite3_column_int64(s, 13);
	t->started_at = sqlite3_column_int64(s, 14);
	t->finished_at = sqlite3_column_int64(s, 15);
	t->duration_ms = sqlite3_column_int64(s, 16);
	t->log_seq = sqlite3_column_int64(s, 17);
	t->created_ms = sqlite3_column_int64(s, 18);
	t->finished_ms = sqlite3_column_int64(s, 19);
	if (t->spec == NULL || t->outputs == NULL) {
		store_task_clear(t);
		return -1;
	}
	return 0;
}

void store_task_clear(struct store_task *t)
{
	if (t == NULL)
		return;
	free(t->spec);
	free(t->outputs);
	t->spec = t->outputs = NULL;
}

int store_task_get(struct store *st, const char *id, struct store_task *out)
{
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (st == NULL || !id_ok(id))
		return -1;
	s = st->stmt[ST_TASK_GET];
	if (bind_text(s, 1, id)) {
		stmt_done(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		rc = row_to_task(s, out) == 0 ? 1 : -1;
		stmt_done(s);
		return rc;
	}
	if (rc != SQLITE_DONE)
		store_log(st, "get task", id);
	stmt_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Reads every matching row first, then calls fn: fn may use the store freely. */
static int task_foreach(struct store *st, enum store_stmt which, const char *key,
			int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	sqlite3_stmt *s = st->stmt[which];
	struct store_task *rows = NULL, *bigger;
	size_t count = 0, cap = 0;
	int rc, ret = 0;

	if (bind_text(s, 1, key)) {
		stmt_done(s);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = realloc(rows, cap * sizeof(*rows));
			if (bigger == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			rows = bigger;
		}
		if (row_to_task(s, &rows[count]) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		count++;
	}
	if (rc != SQLITE_DONE) {
		store_log(st, "list tasks", key);
		ret = -1;
	}
	stmt_done(s);
	for (size_t i = 0; i < count; i++) {
		if (ret == 0)
			ret = fn(&rows[i], arg);
		store_task_clear(&rows[i]);
	}
	free(rows);
	return ret;
}

int store_task_foreach_open(struct store *st, const char *node_id,
			    int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	if (st == NULL || !id_ok(node_id) || fn == NULL)
		return -1;
	return task_foreach(st, ST_TASK_OPEN_FOR_NODE, node_id, fn, arg);
}

int store_task_foreach_open_before(struct store *st, int64_t created_before_ms,
				   int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	char key[24];

	if (st == NULL || fn == NULL)
		return -1;
	snprintf(key, sizeof(key), "%lld", (long long)created_before_ms);
	return task_foreach(st, ST_TASK_OPEN_OLDER, key, fn, arg);
}

int store_task_foreach_run(struct store *st, const char *run_id,
			   int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	if (st == NULL || !id_ok(run_id) || fn == NULL)
		return -1;
	return task_foreach(st, ST_TASK_BY_RUN, run_id, fn, arg);
}

/* ---- overclouds ---- */

/* Binds "s" (text), "i" (int64) arguments in order. */
static int bind_all(sqlite3_stmt *s, const char *types, va_list ap)
{
	for (int i = 0; types[i]; i++) {
		int rc = types[i] == 's' ? bind_text(s, i + 1, va_arg(ap, const char *))
					 : bind_int(s, i + 1, va_arg(ap, int64_t));
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* Runs a statement that returns no rows. Returns rows changed or -1. */
static int run_bound(struct store *st, enum store_stmt which, const char *what, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = bind_all(st->stmt[which], types, ap);
	va_end(ap);
	if (rc != 0) {
		store_log(st, what, NULL);
		stmt_done(st->stmt[which]);
		return -1;
	}
	return stmt_run(st, which, what, NULL);
}

int store_oc_insert(struct store *st, const char *id, const char *pattern, const char *provider,
		    int64_t number, const char *size, int64_t now)
{
	return run_bound(st, ST_OC_INSERT, "insert overcloud", "sssisi", id, pattern, provider,
			 number, size ? size : "", now) == 1 ? 0 : -1;
}

int store_oc_set_status(struct store *st, const char *id, const char *status, const char *error,
			int64_t now)
{
	return run_bound(st, ST_OC_SET_STATUS, "overcloud status", "sssi", id, status,
			 error ? error : "", now) < 0 ? -1 : 0;
}

static void row_to_oc(sqlite3_stmt *s, struct store_overcloud *oc)
{
	memset(oc, 0, sizeof(*oc));
	column_copy(s, 0, oc->id, sizeof(oc->id));
	column_copy(s, 1, oc->pattern, sizeof(oc->pattern));
	column_copy(s, 2, oc->provider, sizeof(oc->provider));
	oc->number = sqlite3_column_int64(s, 3);
	column_copy(s, 4, oc->size, sizeof(oc->size));
	column_copy(s, 5, oc->status, sizeof(oc->status));
	column_copy(s, 6, oc->error, sizeof(oc->error));
	oc->created_at = sqlite3_column_int64(s, 7);
	oc->updated_at = sqlite3_column_int64(s, 8);
}

int store_oc_get(struct store *st, const char *id, struct store_overcloud *out)
{
	sqlite3_stmt *s = st->stmt[ST_OC_GET];
	int rc;

	if (!id_ok(id) || bind_text(s, 1, id)) {
		stmt_done(s);
		return id_ok(id) ? -1 : 0;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		row_to_oc(s, out);
	else if (rc != SQLITE_DONE)
		store_log(st, "get overcloud", id);
	stmt_done(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Collects rows first, so fn may use the store. */
int store_oc_foreach(struct store *st, int (*fn)(const struct store_overcloud *oc, void *arg),
		     void *arg)
{
	sqlite3_stmt *s = st->stmt[ST_OC_LIST];
	struct store_overcloud *rows = NULL, *bigger;
	size_t count = 0, cap = 0;
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = realloc(rows, cap * sizeof(*rows));
			if (bigger == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			rows = bigger;
		}
		row_to_oc(s, &rows[count++]);
	}
	if (rc != SQLITE_DONE) {
		store_log(st, "list overclouds", NULL);
		ret = -1;
	}
	stmt_done(s);
	for (size_t i = 0; i < count && ret == 0; i++)
		ret = fn(&rows[i], arg);
	free(rows);
	return ret;
}

int store_ocn_insert(struct store *st, const char *oc_id, const char *name, const char *group,
		     int64_t idx, const char *provider, const char *size)
{
	return run_bound(st, ST_OCN_INSERT, "insert overcloud node", "sssiss", oc_id, name, group,
			 idx, provider, size) == 1 ? 0 : -1;
}

int store_ocn_update(struct store *st, const char *oc_id, const struct store_oc_node *n)
{
	return run_bound(st, ST_OCN_UPDATE, "update overcloud node", "ssssss", oc_id, n->name,
			 n->token_id, n->handle, n->address, n->state) < 0 ? -1 : 0;
}

/* Returns the number of nodes (at most max) or -1. */
int store_ocn_list(struct store *st, const char *oc_id, struct store_oc_node *out, size_t max)
{
	sqlite3_stmt *s = st->stmt[ST_OCN_LIST];
	size_t count = 0;
	int rc;

	if (bind_text(s, 1, oc_id)) {
		stmt_done(s);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && count < max) {
		struct store_oc_node *n = &out[count++];
		memset(n, 0, sizeof(*n));
		column_copy(s, 0, n->name, sizeof(n->name));
		column_copy(s, 1, n->group, sizeof(n->group));
		n->idx = sqlite3_column_int64(s, 2);
		column_copy(s, 3, n->token_id, sizeof(n->token_id));
		column_copy(s, 4, n->handle, sizeof(n->handle));
		column_copy(s, 5, n->address, sizeof(n->address));
		column_copy(s, 6, n->state, sizeof(n->state));
		column_copy(s, 7, n->node_id, sizeof(n->node_id));
		column_copy(s, 8, n->provider, sizeof(n->provider));
		column_copy(s, 9, n->size, sizeof(n->size));
		n->enrolled = sqlite3_column_int(s, 10) != 0;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_log(st, "list overcloud nodes", oc_id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return (int)count;
}

int store_ocn_insert_enrolled(struct store *st, const char *oc_id, const char *name,
			      const char *group, int64_t idx, const char *provider,
			      const char *node_id, const char *address)
{
	return run_bound(st, ST_OCN_INSERT_ENROLLED, "insert enrolled overcloud node", "sssisss",
			 oc_id, name, group, idx, provider, node_id, address) == 1 ? 0 : -1;
}

int store_ocs_insert(struct store *st, const char *oc_id, const char *dag, const char *name,
		     int64_t ord)
{
	return run_bound(st, ST_OCS_INSERT, "insert step", "sssi", oc_id, dag, name, ord) < 0 ? -1 : 0;
}

int store_oci_insert(struct store *st, const char *oc_id, const char *name, const char *value)
{
	if (!id_ok(oc_id) || name == NULL || value == NULL)
		return -1;
	return run_bound(st, ST_OCI_INSERT, "insert overcloud input", "sss", oc_id, name, value) == 1
		       ? 0 : -1;
}

int store_oci_get(struct store *st, const char *oc_id, const char *name, char **value)
{
	sqlite3_stmt *s = st->stmt[ST_OCI_GET];
	int rc;

	*value = NULL;
	if (!id_ok(oc_id) || name == NULL || bind_text(s, 1, oc_id) || bind_text(s, 2, name)) {
		stmt_done(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *text = sqlite3_column_text(s, 0);

		*value = strdup(text != NULL ? (const char *)text : "");
		if (*value == NULL)
			rc = SQLITE_NOMEM;
	} else if (rc != SQLITE_DONE) {
		store_log(st, "get overcloud input", oc_id);
	}
	stmt_done(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_oci_foreach(struct store *st, const char *oc_id,
		      int (*fn)(const char *name, const char *value, void *arg), void *arg)
{
	sqlite3_stmt *s = st->stmt[ST_OCI_LIST];
	int rc, ret = 0;

	if (!id_ok(oc_id) || bind_text(s, 1, oc_id)) {
		stmt_done(s);
		return -1;
	}
	/* Few and small rows: fn runs while the statement is open, so it must
	 * not use the store. */
	while (ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *name = sqlite3_column_text(s, 0), *value = sqlite3_column_text(s, 1);

		ret = fn(name ? (const char *)name : "", value ? (const char *)value : "", arg);
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		store_log(st, "list overcloud inputs", oc_id);
		ret = -1;
	}
	stmt_done(s);
	return ret;
}

int store_ocs_update(struct store *st, const char *oc_id, const struct store_oc_step *step)
{
	return run_bound(st, ST_OCS_UPDATE, "update step", "ssssissiii", oc_id, step->dag,
			 step->name, step->state, step->attempts, step->run_id, step->error,
			 step->retry_at_ms, step->started_ms, step->finished_ms) < 0 ? -1 : 0;
}

int store_ocs_list(struct store *st, const char *oc_id, struct store_oc_step *out, size_t max)
{
	sqlite3_stmt *s = st->stmt[ST_OCS_LIST];
	size_t count = 0;
	int rc;

	if (bind_text(s, 1, oc_id)) {
		stmt_done(s);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && count < max) {
		struct store_oc_step *x = &out[count++];
		memset(x, 0, sizeof(*x));
		column_copy(s, 0, x->dag, sizeof(x->dag));
		column_copy(s, 1, x->name, sizeof(x->name));
		column_copy(s, 2, x->state, sizeof(x->state));
		x->attempts = sqlite3_column_int64(s, 3);
		column_copy(s, 4, x->run_id, sizeof(x->run_id));
		column_copy(s, 5, x->error, sizeof(x->error));
		x->retry_at_ms = sqlite3_column_int64(s, 6);
		x->started_ms = sqlite3_column_int64(s, 7);
		x->finished_ms = sqlite3_column_int64(s, 8);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_log(st, "list steps", oc_id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return (int)count;
}

/* The first row's text column 0 of a query bound to one or two texts:
 * 1 found (copied to out), 0 no row, -1 error. */
static int first_text(struct store *st, enum store_stmt which, const char *what, const char *a,
		      const char *b, char *out, size_t out_size)
{
	sqlite3_stmt *s = st->stmt[which];
	int rc, found = 0;

	if (bind_text(s, 1, a) || (b != NULL && bind_text(s, 2, b))) {
		stmt_done(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		column_copy(s, 0, out, out_size);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		store_log(st, what, a);
		found = -1;
	}
	stmt_done(s);
	return found;
}

int store_ocs_find_run(struct store *st, const char *run_id, char *oc_id, size_t oc_id_size)
{
	return first_text(st, ST_OCS_FIND_RUN, "find the step of a run", run_id, NULL, oc_id,
			  oc_id_size);
}

int store_ocn_find_node(struct store *st, const char *node_id, char *oc_id, size_t oc_id_size)
{
	return first_text(st, ST_OCN_FIND_NODE, "find the overcloud of a node", node_id, NULL,
			  oc_id, oc_id_size);
}

int store_ocs_clear(struct store *st, const char *oc_id, const char *dag)
{
	return run_bound(st, ST_OCS_CLEAR, "clear steps", "ss", oc_id, dag) < 0 ? -1 : 0;
}

int64_t store_ocs_count_open(struct store *st, const char *oc_id, const char *dag)
{
	sqlite3_stmt *s = st->stmt[ST_OCS_COUNT_OPEN];
	int64_t n = -1;

	if (bind_text(s, 1, oc_id) || bind_text(s, 2, dag)) {
		stmt_done(s);
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	else
		store_log(st, "count open steps", oc_id);
	stmt_done(s);
	return n;
}

int64_t store_task_count_open(struct store *st, const char *run_id)
{
	sqlite3_stmt *s = st->stmt[ST_TASK_COUNT_OPEN];
	int64_t n = -1;

	if (!id_ok(run_id) || bind_text(s, 1, run_id)) {
		stmt_done(s);
		return -1;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	else
		store_log(st, "count open tasks", run_id);
	stmt_done(s);
	return n;
}

int store_task_count_by_state(struct store *st,
			      int (*fn)(const char *state, int64_t count, void *arg), void *arg)
{
	sqlite3_stmt *s = st->stmt[ST_TASK_COUNT_BY_STATE];
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(s, 0);

		ret = fn(state != NULL ? state : "", sqlite3_column_int64(s, 1), arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		store_log(st, "count tasks by state", NULL);
		ret = -1;
	}
	stmt_done(s);
	return ret;
}
