/* backend_pg.c — the store on a PostgreSQL database through libpq: its schema
 * migrations, the schema_version row, ?N statements run as typed prepared ones. */
#include "tower/store/store_int.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "shared/log.h"
#include "shared/util.h"

/* Text columns sort and compare byte by byte, as sqlite's do, whatever the
 * database's locale; integers are 64-bit as sqlite's are. */
#define PG_TEXT "TEXT COLLATE \"C\""
#define PG_INT "BIGINT"

/* The same migrations as backend_sqlite.c, one per schema version, each in
 * PostgreSQL's words. Never edit an entry that has shipped. */
static const char *const pg_migrations[STORE_SCHEMA_VERSION] = {
	/* 1: join tokens and enrolled nodes */
	"CREATE TABLE tokens ("
	"  id          " PG_TEXT " PRIMARY KEY NOT NULL,"
	"  secret_hash " PG_TEXT " NOT NULL,"
	"  role        " PG_TEXT " NOT NULL,"
	"  created_at  " PG_INT " NOT NULL,"
	"  expires_at  " PG_INT " NOT NULL,"
	"  uses_left   " PG_INT " NOT NULL CHECK (uses_left >= 0)"
	");"
	"CREATE TABLE nodes ("
	"  id          " PG_TEXT " PRIMARY KEY NOT NULL,"
	"  name        " PG_TEXT " NOT NULL DEFAULT '',"
	"  role        " PG_TEXT " NOT NULL DEFAULT '',"
	"  arch        " PG_TEXT " NOT NULL DEFAULT '',"
	"  os          " PG_TEXT " NOT NULL DEFAULT '',"
	"  kernel      " PG_TEXT " NOT NULL DEFAULT '',"
	"  cpus        " PG_INT " NOT NULL DEFAULT 0,"
	"  mem_total   " PG_INT " NOT NULL DEFAULT 0,"
	"  cert_serial " PG_TEXT " NOT NULL DEFAULT '',"
	"  created_at  " PG_INT " NOT NULL,"
	"  last_seen   " PG_INT " NOT NULL DEFAULT 0,"
	"  deleted     " PG_INT " NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),"
	"  token_id    " PG_TEXT " REFERENCES tokens(id) ON DELETE SET NULL"
	");"
	"CREATE INDEX nodes_live_by_created ON nodes(created_at, id) WHERE deleted = 0;",
	/* 2: a renewed node's previous certificate */
	"ALTER TABLE nodes ADD COLUMN prev_serial " PG_TEXT " NOT NULL DEFAULT '';",
	/* 3: tasks; rowid keeps insertion order, which sqlite's rowid gives
	 * the same statements there */
	"CREATE TABLE tasks ("
	"  rowid        " PG_INT " GENERATED ALWAYS AS IDENTITY,"
	"  id           " PG_TEXT " PRIMARY KEY NOT NULL,"
	"  run_id       " PG_TEXT " NOT NULL,"
	"  node_id      " PG_TEXT " NOT NULL REFERENCES nodes(id),"
	"  role         " PG_TEXT " NOT NULL,"
	"  step         " PG_TEXT " NOT NULL,"
	"  spec         " PG_TEXT " NOT NULL,"
	"  state        " PG_TEXT " NOT NULL DEFAULT 'pending' CHECK (state IN"
	"               ('pending','sent','running','done','failed','timeout','cancelled')),"
	"  exit_code    " PG_INT " NOT NULL DEFAULT 0,"
	"  reason       " PG_TEXT " NOT NULL DEFAULT '',"
	"  outputs      " PG_TEXT " NOT NULL DEFAULT '{}',"
	"  progress     " PG_INT " NOT NULL DEFAULT 0,"
	"  progress_msg " PG_TEXT " NOT NULL DEFAULT '',"
	"  log_bytes    " PG_INT " NOT NULL DEFAULT 0,"
	"  log_seq      " PG_INT " NOT NULL DEFAULT -1,"
	"  created_at   " PG_INT " NOT NULL,"
	"  started_at   " PG_INT " NOT NULL DEFAULT 0,"
	"  finished_at  " PG_INT " NOT NULL DEFAULT 0,"
	"  duration_ms  " PG_INT " NOT NULL DEFAULT 0,"
	"  created_ms   " PG_INT " NOT NULL DEFAULT 0,"
	"  finished_ms  " PG_INT " NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX tasks_open_by_node ON tasks(node_id, created_at)"
	"  WHERE state IN ('pending','sent','running');"
	"CREATE INDEX tasks_by_run ON tasks(run_id, created_at);",
	/* 4: OverClouds, their nodes and the steps of their workflows */
	"CREATE TABLE overclouds ("
	"  id         " PG_TEXT " PRIMARY KEY NOT NULL,"
	"  pattern    " PG_TEXT " NOT NULL,"
	"  provider   " PG_TEXT " NOT NULL,"
	"  number     " PG_INT " NOT NULL,"
	"  size       " PG_TEXT " NOT NULL DEFAULT '',"
	"  status     " PG_TEXT " NOT NULL CHECK (status IN"
	"             ('creating','ready','failed','deleting','deleted')),"
	"  error      " PG_TEXT " NOT NULL DEFAULT '',"
	"  created_at " PG_INT " NOT NULL,"
	"  updated_at " PG_INT " NOT NULL"
	");"
	"CREATE TABLE oc_nodes ("
	"  overcloud_id " PG_TEXT " NOT NULL REFERENCES overclouds(id),"
	"  name         " PG_TEXT " NOT NULL,"
	"  grp          " PG_TEXT " NOT NULL,"
	"  idx          " PG_INT " NOT NULL,"
	"  token_id     " PG_TEXT " NOT NULL DEFAULT '',"
	"  handle       " PG_TEXT " NOT NULL DEFAULT '',"
	"  address      " PG_TEXT " NOT NULL DEFAULT '',"
	"  state        " PG_TEXT " NOT NULL DEFAULT 'pending' CHECK (state IN"
	"               ('pending','created','released')),"
	"  PRIMARY KEY (overcloud_id, name)"
	");"
	"CREATE TABLE oc_steps ("
	"  overcloud_id " PG_TEXT " NOT NULL REFERENCES overclouds(id),"
	"  dag          " PG_TEXT " NOT NULL CONSTRAINT oc_steps_dag_check"
	"               CHECK (dag IN ('create','destroy')),"
	"  name         " PG_TEXT " NOT NULL,"
	"  ord          " PG_INT " NOT NULL,"
	"  state        " PG_TEXT " NOT NULL DEFAULT 'pending' CHECK (state IN"
	"               ('pending','running','done','failed','skipped')),"
	"  attempts     " PG_INT " NOT NULL DEFAULT 0,"
	"  run_id       " PG_TEXT " NOT NULL DEFAULT '',"
	"  error        " PG_TEXT " NOT NULL DEFAULT '',"
	"  retry_at_ms  " PG_INT " NOT NULL DEFAULT 0,"
	"  started_ms   " PG_INT " NOT NULL DEFAULT 0,"
	"  finished_ms  " PG_INT " NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (overcloud_id, dag, name)"
	");",
	/* 5: a heterogeneous OverCloud's nodes each name their provider and size */
	("ALTER TABLE oc_nodes ADD COLUMN provider " PG_TEXT " NOT NULL DEFAULT '';"
	 "ALTER TABLE oc_nodes ADD COLUMN size " PG_TEXT " NOT NULL DEFAULT '';"
	 "CREATE INDEX oc_steps_by_run ON oc_steps(run_id) WHERE run_id != '';"),
	/* 6: attached nodes and the attach DAG; PostgreSQL changes the CHECK
	 * in place where sqlite rebuilds the table */
	("ALTER TABLE oc_nodes ADD COLUMN node_id " PG_TEXT " NOT NULL DEFAULT '';"
	 "CREATE INDEX oc_nodes_by_node ON oc_nodes(node_id) WHERE node_id != '';"
	 "ALTER TABLE oc_steps DROP CONSTRAINT oc_steps_dag_check,"
	 "  ADD CONSTRAINT oc_steps_dag_check CHECK (dag IN ('create','destroy','attach'));"),
	/* 7: the pattern inputs each OverCloud was created with */
	"CREATE TABLE oc_inputs ("
	"  overcloud_id " PG_TEXT " NOT NULL REFERENCES overclouds(id),"
	"  name         " PG_TEXT " NOT NULL,"
	"  value        " PG_TEXT " NOT NULL,"
	"  PRIMARY KEY (overcloud_id, name)"
	");",
	/* 8: the leader lease and the replicas (backend_sqlite.c says why) */
	"CREATE TABLE leases ("
	"  name       " PG_TEXT " PRIMARY KEY NOT NULL,"
	"  holder     " PG_TEXT " NOT NULL DEFAULT '',"
	"  token      BIGINT NOT NULL DEFAULT 0,"
	"  expires_ms BIGINT NOT NULL DEFAULT 0,"
	"  taken_ms   BIGINT NOT NULL DEFAULT 0,"
	"  renewed_ms BIGINT NOT NULL DEFAULT 0"
	");"
	"INSERT INTO leases (name) VALUES ('leader');"
	"CREATE TABLE replicas ("
	"  id         " PG_TEXT " PRIMARY KEY NOT NULL,"
	"  api        " PG_TEXT " NOT NULL,"
	"  agents     " PG_TEXT " NOT NULL,"
	"  started_ms BIGINT NOT NULL,"
	"  seen_ms    BIGINT NOT NULL"
	");"
	/* what another replica's relay looks for every half second */
	"CREATE INDEX tasks_pending ON tasks(created_ms) WHERE state = 'pending';",
	/* 9: the replicas' sealed TLS session ticket keys (backend_sqlite.c) */
	"CREATE TABLE ticket_keys ("
	"  generation BIGINT PRIMARY KEY NOT NULL CHECK (generation > 0),"
	"  created_ms BIGINT NOT NULL,"
	"  sealed     " PG_TEXT " NOT NULL"
	");",
	/* 10: a node's latest figures, for every replica (backend_sqlite.c) */
	"ALTER TABLE nodes ADD COLUMN figures " PG_TEXT " NOT NULL DEFAULT '';",
};

/* Several towers may open one database at once: the first to take this
 * lock migrates, the others then find the schema current. The version is
 * one row of schema_version (sqlite keeps it in user_version). */
#define PG_MIGRATION_BEGIN                                                        \
	"BEGIN;"                                                                  \
	"SELECT pg_advisory_xact_lock(7310575183199301490);"                      \
	"CREATE TABLE IF NOT EXISTS schema_version ("                             \
	"  one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),"                 \
	"  version INTEGER NOT NULL);"                                            \
	"INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;"

static const struct store_sql pg_txn_sql[] = {
	/* READ COMMITTED with row locks taken by each UPDATE, as sqlite's one
	 * writer at a time gives for the statements the store runs. */
	{ ST_BEGIN, "BEGIN" },
	{ ST_COMMIT, "COMMIT" },
	{ ST_ROLLBACK, "ROLLBACK" },
	{ ST_SAVEPOINT, "SAVEPOINT store_enroll" },
	{ ST_RELEASE, "RELEASE store_enroll" },
	{ ST_ROLLBACK_TO, "ROLLBACK TO store_enroll" },
	{ ST_COUNT, NULL },
};

#define PG_MAX_PARAMS 16
#define PG_TEXTOID 25
#define PG_INT8OID 20
#define PG_CONNECT_TIMEOUT "10"

struct store_conn {
	PGconn *pg;
	char password[256];	/* to cut out of every message, never logged */
	bool connected;		/* it was up once: a bad status now is a loss */
	/* A batch is open (BEGIN ran, no COMMIT or ROLLBACK yet): a lost
	 * connection is not made again under it, so its end fails as it must. */
	bool batch_open;
	/* Grows at each reconnection: a statement prepared under an older one
	 * is prepared again on the new session. */
	unsigned generation;
	char err[512];
};

struct pg_q {
	struct store_q base;
	struct store_conn *c;
	char name[16];
	char *sql;
	int nparams;
	bool prepared;
	bool control;		/* BEGIN, COMMIT, a savepoint: never wrapped */
	bool commit;
	bool begin;
	bool ends_batch;	/* COMMIT or ROLLBACK */
	bool read_only;		/* a SELECT: running it twice changes nothing */
	unsigned prepared_gen;	/* the connection's generation it was prepared in */
	Oid prepared_types[PG_MAX_PARAMS];
	Oid types[PG_MAX_PARAMS];
	const char *values[PG_MAX_PARAMS];
	char ints[PG_MAX_PARAMS][24];
	PGresult *res;
	int row;
};

/* libpq's messages span lines ("...failed: Connection refused\n\tIs the
 * server running..."): one line for our logs and errors. */
static void one_line(char *s)
{
	char *w = s;
	bool space = false;

	for (char *r = s; *r != '\0'; r++) {
		if (*r == '\n' || *r == '\t' || *r == '\r' || *r == ' ') {
			space = w != s;
			continue;
		}
		if (space)
			*w++ = ' ';
		space = false;
		*w++ = *r;
	}
	*w = '\0';
}

/* Cuts every copy of secret out of msg (in place, "***" for each). */
static void redact(char *msg, size_t size, const char *secret)
{
	size_t slen = secret != NULL ? strlen(secret) : 0;
	char *hit;

	if (slen == 0)
		return;
	while ((hit = strstr(msg, secret)) != NULL) {
		size_t tail = strlen(hit + slen) + 1;

		if (slen >= 3) {
			memcpy(hit, "***", 3);
			memmove(hit + 3, hit + slen, tail);
		} else {
			memmove(hit + 3, hit + slen, tail);
			memcpy(hit, "***", 3);
		}
		msg[size - 1] = '\0';
	}
}

/* A statement's failure in one line: PostgreSQL's primary message only, as
 * its DETAIL may quote a whole row (a token's secret hash among others). */
static const char *result_message(struct store_conn *c, const PGresult *res)
{
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	return primary != NULL ? primary : PQerrorMessage(c->pg);
}

/* Sets c->err from a libpq message: one line, no password. */
static void conn_set_err(struct store_conn *c, const char *what, const char *msg)
{
	/* Outside a batch the next statement connects again (reconnect). */
	if (c->connected && c->pg != NULL && PQstatus(c->pg) == CONNECTION_BAD)
		what = "connection to the database lost";
	snprintf(c->err, sizeof(c->err), "%s%s%s", what ? what : "", what ? ": " : "",
		 msg && msg[0] ? msg : "unknown error");
	one_line(c->err);
	redact(c->err, sizeof(c->err), c->password);
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void pg_close(struct store_conn *c)
{
	if (c == NULL)
		return;
	PQfinish(c->pg);
	explicit_bzero(c->password, sizeof(c->password));
	free(c);
}

/* The password the URL holds, decoded, so messages can be cleaned of it. */
static void keep_password(struct store_conn *c, const char *url)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);

	if (opts == NULL)
		return;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
			snprintf(c->password, sizeof(c->password), "%s", o->val);
	PQconninfoFree(opts);
}

static struct store_conn *pg_open(const char *url, char *err, size_t err_size)
{
	/* Defaults first: what the URL says wins (expand_dbname). */
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const vals[] = { PG_CONNECT_TIMEOUT, "overcloud-tower", url, NULL };
	struct store_conn *c = calloc(1, sizeof(*c));
	char *parse_err = NULL;
	PQconninfoOption *opts;

	if (c == NULL) {
		store_set_err(err, err_size, "out of memory");
		return NULL;
	}
	opts = PQconninfoParse(url, &parse_err);
	if (opts == NULL) {
		/* The parser may quote the URL back: say only that it is bad. */
		store_set_err(err, err_size, "not a valid postgresql:// URL");
		PQfreemem(parse_err);
		free(c);
		return NULL;
	}
	PQconninfoFree(opts);
	keep_password(c, url);
	c->pg = PQconnectdbParams(keys, vals, 1);
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		conn_set_err(c, NULL, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		store_set_err(err, err_size, "connect to PostgreSQL: %s", c->err);
		pg_close(c);
		return NULL;
	}
	c->connected = true;
	PQsetNoticeProcessor(c->pg, quiet_notices, NULL);
	if (PQserverVersion(c->pg) < 100000) {
		store_set_err(err, err_size, "PostgreSQL %d is too old (10 or newer needed)",
			PQserverVersion(c->pg) / 10000);
		pg_close(c);
		return NULL;
	}
	if (PQsetClientEncoding(c->pg, "UTF8") != 0) {
		conn_set_err(c, "set client encoding", PQerrorMessage(c->pg));
		store_set_err(err, err_size, "%s", c->err);
		pg_close(c);
		return NULL;
	}
	return c;
}

static const char *pg_errmsg(struct store_conn *c)
{
	return c->err[0] != '\0' ? c->err : "no error";
}

/* Runs sql; 0 when it succeeded, else -1 with c->err set. */
static int run_simple(struct store_conn *c, const char *sql, PGresult **out)
{
	PGresult *res = PQexec(c->pg, sql);
	ExecStatusType status = PQresultStatus(res);

	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		conn_set_err(c, NULL, result_message(c, res));
		PQclear(res);
		return -1;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return 0;
}

static int pg_exec_script(struct store_conn *c, const char *sql)
{
	return run_simple(c, sql, NULL);
}

static int pg_version_get(struct store_conn *c, int *version)
{
	PGresult *res;
	int rc = -1;

	if (run_simple(c, "SELECT version FROM schema_version", &res) < 0)
		return -1;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		*version = atoi(PQgetvalue(res, 0, 0));
		rc = 0;
	} else {
		conn_set_err(c, NULL, "schema_version has no row");
	}
	PQclear(res);
	return rc;
}

static int pg_version_set(struct store_conn *c, int version)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", version);
	return run_simple(c, sql, NULL);
}

static bool pg_in_transaction(struct store_conn *c)
{
	PGTransactionStatusType ts = PQtransactionStatus(c->pg);

	/* a batch whose connection was lost is open until its end is tried */
	if (c->batch_open && PQstatus(c->pg) != CONNECTION_OK)
		return true;

	return ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR || ts == PQTRANS_ACTIVE;
}

/* ?N becomes $N; quoted text ('...' and "...") is left as it is. Returns
 * the new SQL (caller frees) and the highest N in *nparams. */
static char *translate(const char *sql, int *nparams)
{
	size_t len = strlen(sql);
	char *out = malloc(len + 1), *w = out;
	char quote = 0;

	if (out == NULL)
		return NULL;
	*nparams = 0;
	for (const char *r = sql; *r != '\0'; r++) {
		if (quote != 0) {
			if (*r == quote)
				quote = 0;
		} else if (*r == '\'' || *r == '"') {
			quote = *r;
		} else if (*r == '?' && r[1] >= '1' && r[1] <= '9') {
			int n = (int)strtol(r + 1, NULL, 10);

			if (n > *nparams)
				*nparams = n;
			*w++ = '$';
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
	return out;
}

static struct store_q *pg_prepare(struct store_conn *c, int id, const char *sql, char *err,
				  size_t err_size)
{
	struct pg_q *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		store_set_err(err, err_size, "out of memory");
		return NULL;
	}
	q->base.be = &store_backend_pg;
	q->c = c;
	snprintf(q->name, sizeof(q->name), "oc_%d", id);
	q->sql = translate(sql, &q->nparams);
	if (q->sql == NULL || q->nparams > PG_MAX_PARAMS) {
		store_set_err(err, err_size, "prepare \"%s\": %s", sql,
			q->sql ? "too many parameters" : "out of memory");
		free(q->sql);
		free(q);
		return NULL;
	}
	/* Statements are prepared on the server at their first run, when the
	 * types of their values are known (an int8 divided by 1000 must not be
	 * guessed to be an int4). Transaction control is never wrapped in a
	 * statement savepoint. */
	q->control = id <= ST_ROLLBACK_TO;
	q->commit = id == ST_COMMIT;
	q->begin = id == ST_BEGIN;
	q->ends_batch = id == ST_COMMIT || id == ST_ROLLBACK;
	q->read_only = strncasecmp(sql + strspn(sql, " \t\n("), "SELECT", 6) == 0;
	q->row = -1;
	return &q->base;
}

static void pg_reset(struct store_q *base)
{
	struct pg_q *q = (struct pg_q *)base;

	PQclear(q->res);
	q->res = NULL;
	q->row = -1;
	memset(q->values, 0, sizeof(q->values));
	memset(q->types, 0, sizeof(q->types));
}

static void pg_finalize(struct store_q *base)
{
	struct pg_q *q = (struct pg_q *)base;

	if (q == NULL)
		return;
	pg_reset(base);
	free(q->sql);
	free(q);
}

static int pg_param_count(struct store_q *base)
{
	return ((struct pg_q *)base)->nparams;
}

static int pg_bind_text(struct store_q *base, int index, const char *text)
{
	struct pg_q *q = (struct pg_q *)base;

	if (index < 1 || index > q->nparams)
		return -1;
	q->values[index - 1] = text;
	q->types[index - 1] = PG_TEXTOID;
	return 0;
}

static int pg_bind_int(struct store_q *base, int index, int64_t value)
{
	struct pg_q *q = (struct pg_q *)base;

	if (index < 1 || index > q->nparams)
		return -1;
	snprintf(q->ints[index - 1], sizeof(q->ints[0]), "%lld", (long long)value);
	q->values[index - 1] = q->ints[index - 1];
	q->types[index - 1] = PG_INT8OID;
	return 0;
}

/* Prepares the statement on the server with the types of its first
 * values; NULL, or the failed result (caller clears). */
static PGresult *prepare_now(struct pg_q *q)
{
	PGresult *res;

	if (q->prepared && q->prepared_gen == q->c->generation)
		return NULL;
	res = PQprepare(q->c->pg, q->name, q->sql, q->nparams, q->types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return res != NULL ? res : PQmakeEmptyPGresult(q->c->pg, PGRES_FATAL_ERROR);
	PQclear(res);
	memcpy(q->prepared_types, q->types, sizeof(q->types));
	q->prepared = true;
	q->prepared_gen = q->c->generation;
	return NULL;
}

/* The prepared statement, or a one-off when a later call gives values of
 * other types. */
static bool same_types(const struct pg_q *q)
{
	return memcmp(q->prepared_types, q->types, sizeof(q->types)) == 0;
}

static PGresult *run_statement(struct pg_q *q)
{
	PGconn *pg = q->c->pg;

	if (!same_types(q))
		return PQexecParams(pg, q->sql, q->nparams, q->types, q->values, NULL, NULL, 0);
	return PQexecPrepared(pg, q->name, q->nparams, q->values, NULL, NULL, 0);
}

/* SAVEPOINT, the statement and RELEASE in one round trip (libpq's pipeline
 * mode). Returns the statement's result (NULL when the connection broke);
 * *undo is set when the statement failed and its savepoint is still open. */
static PGresult *run_in_savepoint(struct pg_q *q, bool *undo)
{
	PGconn *pg = q->c->pg;
	PGresult *stmt = NULL, *r;
	bool sent;

	*undo = false;
	if (PQenterPipelineMode(pg) != 1)
		return NULL;
	sent = PQsendQueryParams(pg, "SAVEPOINT oc_stmt", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
	       (same_types(q)
			? PQsendQueryPrepared(pg, q->name, q->nparams, q->values, NULL, NULL, 0)
			: PQsendQueryParams(pg, q->sql, q->nparams, q->types, q->values, NULL, NULL,
					    0)) == 1 &&
	       PQsendQueryParams(pg, "RELEASE oc_stmt", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
	       PQpipelineSync(pg) == 1;
	/* Each of the three queries ends with a NULL, the sync with its own
	 * result; a broken connection gives NULLs from there on. */
	for (int i = 0; sent && i < 3; i++) {
		while ((r = PQgetResult(pg)) != NULL) {
			ExecStatusType status = PQresultStatus(r);

			if (i == 1 && stmt == NULL) {
				stmt = r;
				continue;
			}
			/* the savepoint or its release failed: so has the statement */
			if (status == PGRES_FATAL_ERROR && stmt != NULL &&
			    PQresultStatus(stmt) != PGRES_FATAL_ERROR) {
				PQclear(stmt);
				stmt = r;
				continue;
			}
			PQclear(r);
		}
	}
	if (sent) {
		r = PQgetResult(pg);
		sent = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
		PQclear(r);
	}
	if (PQexitPipelineMode(pg) != 1 || !sent) {
		PQclear(stmt);
		return NULL;
	}
	*undo = PQresultStatus(stmt) == PGRES_FATAL_ERROR && pg_in_transaction(q->c);
	return stmt;
}

/* Runs the statement and keeps its result; 0 or -1 (c->err set). Inside a
 * transaction the statement runs in a savepoint of its own: PostgreSQL
 * aborts the whole transaction at a failed statement where sqlite undoes
 * only the statement, and the store's batches count on the latter. */
/* A lost connection made again (PostgreSQL restarted, a network cut):
 * 0 when it is back, with every statement to be prepared again. */
static int reconnect(struct store_conn *c)
{
	if (c->batch_open)
		return -1;
	PQreset(c->pg);
	if (PQstatus(c->pg) != CONNECTION_OK)
		return -1;
	c->generation++;
	log_warn("store: the connection to PostgreSQL was lost and is made again");
	return 0;
}

static PGresult *prepare_and_run(struct pg_q *q, bool wrapped, bool *undo)
{
	/* Preparing fails only on a statement's SQL (a bug): inside a batch
	 * that aborts the transaction, and store_commit reports it. */
	PGresult *res = prepare_now(q);

	if (res == NULL)
		res = wrapped ? run_in_savepoint(q, undo) : run_statement(q);
	return res;
}

/* A server that ended an idle session (a restart, an administrator's
 * pg_terminate_backend) has said so on its socket already: reading that
 * now marks the connection lost before a statement is sent down it, so the
 * statement goes to a new session and runs exactly once. */
static void notice_idle_loss(struct store_conn *c)
{
	struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};

	if (c->batch_open || PQstatus(c->pg) != CONNECTION_OK || p.fd < 0)
		return;
	if (poll(&p, 1, 0) == 1)
		PQconsumeInput(c->pg);
}

static int execute(struct pg_q *q)
{
	struct store_conn *c = q->c;
	bool wrapped = !q->control && pg_in_transaction(c), undo = false;
	ExecStatusType status;

	/* The end of a batch ends it whatever comes of it. */
	if (q->ends_batch)
		c->batch_open = false;
	notice_idle_loss(c);
	/* A batch's end on a lost connection fails: its writes are gone. */
	if (PQstatus(c->pg) != CONNECTION_OK && (q->ends_batch || reconnect(c) != 0)) {
		conn_set_err(c, NULL, "the server closed the connection");
		return -1;
	}
	q->res = prepare_and_run(q, wrapped, &undo);
	/* The connection went while the statement ran. Outside a batch a read
	 * (or a BEGIN) runs once more on a new one. A write does not: it may
	 * have committed before the reply was lost, and a second run would
	 * apply it twice (a counter added to again, a token's use spent
	 * twice); its caller hears it failed, and the next statement
	 * connects again. What a batch did is gone with it: its end fails. */
	if (PQstatus(c->pg) == CONNECTION_BAD && !c->batch_open && !wrapped && !q->ends_batch &&
	    (q->read_only || q->begin)) {
		if (reconnect(c) == 0) {
			PQclear(q->res);
			q->res = prepare_and_run(q, false, &undo);
		}
	} else if (PQstatus(c->pg) == CONNECTION_BAD && !q->read_only && !q->control &&
		   !wrapped) {
		conn_set_err(c, NULL, "the connection went while a write ran: not run again, "
				      "it may or may not have been applied");
		PQclear(q->res);
		q->res = NULL;
		return -1;
	}
	status = PQresultStatus(q->res);
	if (q->begin && (status == PGRES_COMMAND_OK))
		c->batch_open = true;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		conn_set_err(c, NULL, result_message(c, q->res));
		PQclear(q->res);
		q->res = NULL;
		if (undo && PQstatus(c->pg) == CONNECTION_OK) {
			char saved[sizeof(c->err)];

			memcpy(saved, c->err, sizeof(saved));
			if (run_simple(c, "ROLLBACK TO oc_stmt; RELEASE oc_stmt", NULL) < 0)
				log_error("store: undo a failed statement: %s", c->err);
			memcpy(c->err, saved, sizeof(saved));
		}
		return -1;
	}
	/* COMMIT of a transaction that had failed ends it as a ROLLBACK, with
	 * a success status: that is a failed commit. */
	if (q->commit && strcmp(PQcmdStatus(q->res), "ROLLBACK") == 0) {
		conn_set_err(c, NULL, "the transaction had failed and was rolled back");
		PQclear(q->res);
		q->res = NULL;
		return -1;
	}
	return 0;
}

static enum store_step pg_step(struct store_q *base)
{
	struct pg_q *q = (struct pg_q *)base;

	if (q->res == NULL && execute(q) < 0)
		return STORE_ERROR;
	if (PQresultStatus(q->res) != PGRES_TUPLES_OK)
		return STORE_DONE;
	if (q->row + 1 < PQntuples(q->res)) {
		q->row++;
		return STORE_ROW;
	}
	return STORE_DONE;
}

static const char *pg_column_text(struct store_q *base, int col, size_t *len)
{
	struct pg_q *q = (struct pg_q *)base;

	*len = 0;
	if (q->res == NULL || q->row < 0 || col >= PQnfields(q->res) ||
	    PQgetisnull(q->res, q->row, col))
		return NULL;
	*len = (size_t)PQgetlength(q->res, q->row, col);
	return PQgetvalue(q->res, q->row, col);
}

static int64_t pg_column_int(struct store_q *base, int col)
{
	size_t len;
	const char *text = pg_column_text(base, col, &len);

	if (text == NULL)
		return 0;
	if (text[0] == 't' || text[0] == 'f')	/* a boolean */
		return text[0] == 't';
	return strtoll(text, NULL, 10);
}

static int64_t pg_changes(struct store_q *base)
{
	struct pg_q *q = (struct pg_q *)base;
	const char *n = q->res != NULL ? PQcmdTuples(q->res) : "";

	return n[0] != '\0' ? strtoll(n, NULL, 10) : 0;
}

const struct store_backend store_backend_pg = {
	.name = "postgresql",
	.migrations = pg_migrations,
	.migration_begin = PG_MIGRATION_BEGIN,
	.txn_sql = pg_txn_sql,
	/* clock_timestamp(), not now(): the time of the statement, not of
	 * its transaction's start */
	.now_ms_sql = "(extract(epoch from clock_timestamp()) * 1000)::bigint",
	.for_share_sql = " FOR SHARE",
	.open = pg_open,
	.close = pg_close,
	.errmsg = pg_errmsg,
	.exec_script = pg_exec_script,
	.version_get = pg_version_get,
	.version_set = pg_version_set,
	.in_transaction = pg_in_transaction,
	.prepare = pg_prepare,
	.finalize = pg_finalize,
	.param_count = pg_param_count,
	.bind_text = pg_bind_text,
	.bind_int = pg_bind_int,
	.step = pg_step,
	.column_text = pg_column_text,
	.column_int = pg_column_int,
	.changes = pg_changes,
	.reset = pg_reset,
};
