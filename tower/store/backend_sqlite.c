/* backend_sqlite.c — the store on one sqlite file (WAL): its schema
 * migrations, PRAGMAs and the statement calls the store makes through it. */
#include "tower/store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "shared/log.h"
#include "shared/util.h"

#define STORE_BUSY_MS 5000

/*
 * Schema migrations, oldest first. Entry i takes user_version i to i + 1 and
 * runs in one transaction together with the user_version bump. Never edit an
 * entry that has shipped; add a new one at the end.
 */
static const char *const sqlite_migrations[STORE_SCHEMA_VERSION] = {
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
	/* 8: the leader lease (its fencing token grows at each change of
	 * holder) and the replicas sharing the database */
	"CREATE TABLE leases ("
	"  name       TEXT PRIMARY KEY NOT NULL,"
	"  holder     TEXT NOT NULL DEFAULT '',"
	"  token      INTEGER NOT NULL DEFAULT 0,"
	"  expires_ms INTEGER NOT NULL DEFAULT 0,"
	"  taken_ms   INTEGER NOT NULL DEFAULT 0,"
	"  renewed_ms INTEGER NOT NULL DEFAULT 0"
	");"
	"INSERT INTO leases (name) VALUES ('leader');"
	"CREATE TABLE replicas ("
	"  id         TEXT PRIMARY KEY NOT NULL,"
	"  api        TEXT NOT NULL,"
	"  agents     TEXT NOT NULL,"
	"  started_ms INTEGER NOT NULL,"
	"  seen_ms    INTEGER NOT NULL"
	");"
	/* what another replica's relay looks for every half second */
	"CREATE INDEX tasks_pending ON tasks(created_ms) WHERE state = 'pending';",
	/* 9: the replicas' TLS session ticket keys, each sealed with a key
	 * derived from the CA key (tower/fleet/ticket_share.c): the newest
	 * generation seals, the one before still opens */
	"CREATE TABLE ticket_keys ("
	"  generation INTEGER PRIMARY KEY NOT NULL CHECK (generation > 0),"
	"  created_ms INTEGER NOT NULL,"
	"  sealed     TEXT NOT NULL"
	");",
	/* 10: a node's latest figures, written by the replica that holds its
	 * connection, so that every replica shows them (nodemetrics.c's text) */
	"ALTER TABLE nodes ADD COLUMN figures TEXT NOT NULL DEFAULT '';",
};

_Static_assert(OC_ARRAY_LEN(sqlite_migrations) == STORE_SCHEMA_VERSION,
	       "one sqlite migration per schema version");

static const struct store_sql sqlite_txn_sql[] = {
	{ ST_BEGIN, "BEGIN IMMEDIATE" },
	{ ST_COMMIT, "COMMIT" },
	{ ST_ROLLBACK, "ROLLBACK" },
	{ ST_SAVEPOINT, "SAVEPOINT store_enroll" },
	{ ST_RELEASE, "RELEASE store_enroll" },
	{ ST_ROLLBACK_TO, "ROLLBACK TO store_enroll" },
	{ ST_COUNT, NULL },
};

struct store_conn {
	sqlite3 *db;
};

struct sqlite_q {
	struct store_q base;
	sqlite3_stmt *s;
};

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
		store_set_err(err, err_size, "journal mode is %s, not wal", mode ? mode : "unknown");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;

fail:
	store_set_err(err, err_size, "set wal journal mode: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
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
		store_set_err(err, err_size, "open %s: %s", path, strerror(errno));
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
 * initialises, so the first open does it; later calls are no-ops. */
static void tune_sqlite(void)
{
	static int done;

	if (!done) {
		done = 1;
		sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0);
	}
}

static void sq_close(struct store_conn *c)
{
	if (c == NULL)
		return;
	if (sqlite3_close(c->db) != SQLITE_OK)
		log_error("store: close: %s", sqlite3_errmsg(c->db));
	free(c);
}

static struct store_conn *sq_open(const char *path, char *err, size_t err_size)
{
	struct store_conn *c;
	int fk = 0;

	tune_sqlite();
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		store_set_err(err, err_size, "out of memory");
		return NULL;
	}
	if (precreate(path, err, err_size) < 0)
		goto fail;
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		store_set_err(err, err_size, "open %s: %s", path,
			c->db ? sqlite3_errmsg(c->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, STORE_BUSY_MS);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if (set_journal_wal(c->db, err, err_size) < 0)
		goto fail;
	if (sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
			 NULL, NULL, NULL) != SQLITE_OK) {
		store_set_err(err, err_size, "set pragmas: %s", sqlite3_errmsg(c->db));
		goto fail;
	}
	if (pragma_int(c->db, "PRAGMA foreign_keys", &fk) < 0 || fk != 1) {
		store_set_err(err, err_size, "this sqlite does not enforce foreign keys");
		goto fail;
	}
	return c;

fail:
	sqlite3_close(c->db);
	free(c);
	return NULL;
}

static const char *sq_errmsg(struct store_conn *c)
{
	return sqlite3_errmsg(c->db);
}

static int sq_exec_script(struct store_conn *c, const char *sql)
{
	return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int sq_version_get(struct store_conn *c, int *version)
{
	return pragma_int(c->db, "PRAGMA user_version", version);
}

static int sq_version_set(struct store_conn *c, int version)
{
	char bump[64];

	/* PRAGMA takes no bound parameters; the value is our own integer. */
	snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version);
	return sq_exec_script(c, bump);
}

static bool sq_in_transaction(struct store_conn *c)
{
	return !sqlite3_get_autocommit(c->db);
}

static struct store_q *sq_prepare(struct store_conn *c, int id, const char *sql, char *err,
				  size_t err_size)
{
	struct sqlite_q *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		store_set_err(err, err_size, "out of memory");
		return NULL;
	}
	q->base.be = &store_backend_sqlite;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->s, NULL) !=
	    SQLITE_OK) {
		store_set_err(err, err_size, "prepare \"%s\": %s", sql, sqlite3_errmsg(c->db));
		free(q);
		return NULL;
	}
	return &q->base;
}

static void sq_finalize(struct store_q *q)
{
	if (q == NULL)
		return;
	sqlite3_finalize(((struct sqlite_q *)q)->s);
	free(q);
}

static int sq_param_count(struct store_q *q)
{
	return sqlite3_bind_parameter_count(((struct sqlite_q *)q)->s);
}

static int sq_bind_text(struct store_q *q, int index, const char *text)
{
	return sqlite3_bind_text(((struct sqlite_q *)q)->s, index, text, -1, SQLITE_STATIC) ==
		       SQLITE_OK ? 0 : -1;
}

static int sq_bind_int(struct store_q *q, int index, int64_t value)
{
	return sqlite3_bind_int64(((struct sqlite_q *)q)->s, index, value) == SQLITE_OK ? 0 : -1;
}

static enum store_step sq_step(struct store_q *q)
{
	int rc = sqlite3_step(((struct sqlite_q *)q)->s);

	return rc == SQLITE_ROW ? STORE_ROW : rc == SQLITE_DONE ? STORE_DONE : STORE_ERROR;
}

static const char *sq_column_text(struct store_q *q, int col, size_t *len)
{
	sqlite3_stmt *s = ((struct sqlite_q *)q)->s;
	const char *text = (const char *)sqlite3_column_text(s, col);

	*len = text != NULL ? (size_t)sqlite3_column_bytes(s, col) : 0;
	return text;
}

static int64_t sq_column_int(struct store_q *q, int col)
{
	return sqlite3_column_int64(((struct sqlite_q *)q)->s, col);
}

static int64_t sq_changes(struct store_q *q)
{
	return sqlite3_changes(sqlite3_db_handle(((struct sqlite_q *)q)->s));
}

static void sq_reset(struct store_q *q)
{
	sqlite3_stmt *s = ((struct sqlite_q *)q)->s;

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

const struct store_backend store_backend_sqlite = {
	.name = "sqlite",
	.migrations = sqlite_migrations,
	/* The version is read inside the write transaction, so two processes
	 * opening the same file at once do not both apply a migration. */
	.migration_begin = "BEGIN IMMEDIATE",
	.txn_sql = sqlite_txn_sql,
	.now_ms_sql = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
	.for_share_sql = "",
	.open = sq_open,
	.close = sq_close,
	.errmsg = sq_errmsg,
	.exec_script = sq_exec_script,
	.version_get = sq_version_get,
	.version_set = sq_version_set,
	.in_transaction = sq_in_transaction,
	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.param_count = sq_param_count,
	.bind_text = sq_bind_text,
	.bind_int = sq_bind_int,
	.step = sq_step,
	.column_text = sq_column_text,
	.column_int = sq_column_int,
	.changes = sq_changes,
	.reset = sq_reset,
};
