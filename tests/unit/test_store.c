/* test_store.c — the store's contract: schema versioning, token checks and
 * use counting, rollback on every failure, node lifecycle, batching, crashes.
 * Runs on sqlite, and again on PostgreSQL (unit/test_store@pg, through
 * tests/integration/pg_run.sh) where each test gets a schema of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/store/store.h"
#include "tower/store/store_int.h"   /* the binding helper, tested directly */
#include "store_target.h"

/* The same check in each engine's words. */
#define PICK(sqlite_sql, pg_sql) (store_target_is_pg_run() ? (pg_sql) : (sqlite_sql))

struct fixture {
	char dir[64];
	char path[STORE_TARGET_MAX];
	struct store *st;
};

#define T0 1700000000
#define HOUR 3600
#define SCHEMA_NOW 10  /* migrations this build knows */

static char hash_a[65], hash_b[65];

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	if (store_target_make(f->dir, "tower.db", f->path, sizeof(f->path)) != 0) {
		util_remove_tree(f->dir);
		free(f);
		fail_msg("cannot make a database for the test");
	}
	f->st = store_open(f->path, err, sizeof(err));
	if (f->st == NULL) {
		store_target_drop(f->path);
		util_remove_tree(f->dir);
		free(f);
		fail_msg("store_open: %s", err);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	store_target_drop(f->path);
	assert_int_equal(util_remove_tree(f->dir), 0);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	char err[256] = "";

	store_close(f->st);
	f->st = store_open(f->path, err, sizeof(err));
	if (f->st == NULL)
		fail_msg("store_open: %s", err);
}

/* Reads one integer with a separate connection, as an outside observer. */
static int64_t raw_int(const char *target, const char *sql)
{
	return store_target_int(target, sql);
}

static int64_t uses_left(struct fixture *f, const char *token_id)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT uses_left FROM tokens WHERE id = '%s'", token_id);
	return raw_int(f->path, sql);
}

static enum store_enroll_result enroll(struct fixture *f, const char *tok, const char *hash,
				       int64_t now, const char *node, char *role)
{
	char dummy[STORE_ROLE_MAX];

	return store_enroll_node(f->st, tok, hash, now, node, node, "serial-1",
				 role ? role : dummy, STORE_ROLE_MAX);
}

/* ---- schema ---- */

static void test_fresh_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	sqlite3 *db;
	sqlite3_stmt *s;

	assert_int_equal(store_schema_version(f->st), SCHEMA_NOW);
	assert_int_equal(raw_int(f->path, PICK("PRAGMA user_version",
					       "SELECT version FROM schema_version")), SCHEMA_NOW);
	assert_int_equal(raw_int(f->path, PICK("SELECT count(*) FROM sqlite_master WHERE name IN "
					       "('tokens', 'nodes', 'nodes_live_by_created', 'tasks')",
					       "SELECT count(*) FROM pg_class WHERE relname IN "
					       "('tokens', 'nodes', 'nodes_live_by_created', 'tasks')"
					       " AND relnamespace = current_schema()::regnamespace")), 4);
	if (store_target_is_pg_run()) {
		/* secrets stay hashed: the column holds the 64-hex sha256 only */
		assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1),
				 0);
		assert_int_equal(raw_int(f->path, "SELECT length(secret_hash) FROM tokens"), 64);
		return;	/* WAL and the file mode are a sqlite file's */
	}
	/* WAL is a property of the file, visible to any connection. */
	assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	/* token hashes and the inventory are not for other users */
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

/* A database written by the first release (schema 1) is migrated in place
 * and keeps its rows. */
static void test_migrates_schema_1(void **state)
{
	struct fixture *f = *state;
	struct store_node n;
	char err[256] = "";

	store_close(f->st);
	f->st = NULL;
	if (store_target_is_pg_run()) {
		/* the first release's tables in PostgreSQL's words, at version 1 */
		assert_int_equal(store_target_exec(f->path,
			"DROP TABLE oc_inputs, oc_steps, oc_nodes, overclouds, tasks, nodes, tokens, leases, replicas,"
			" ticket_keys;"
			"CREATE TABLE tokens (id TEXT PRIMARY KEY NOT NULL, secret_hash TEXT NOT NULL,"
			" role TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,"
			" uses_left BIGINT NOT NULL CHECK (uses_left >= 0));"
			"CREATE TABLE nodes (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT '',"
			" role TEXT NOT NULL DEFAULT '', arch TEXT NOT NULL DEFAULT '', os TEXT NOT NULL DEFAULT '',"
			" kernel TEXT NOT NULL DEFAULT '', cpus BIGINT NOT NULL DEFAULT 0,"
			" mem_total BIGINT NOT NULL DEFAULT 0, cert_serial TEXT NOT NULL DEFAULT '',"
			" created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL DEFAULT 0,"
			" deleted BIGINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),"
			" token_id TEXT REFERENCES tokens(id) ON DELETE SET NULL);"
			"CREATE INDEX nodes_live_by_created ON nodes(created_at, id) WHERE deleted = 0;"
			"INSERT INTO nodes (id, name, role, cert_serial, created_at) VALUES"
			" ('n-old', 'pi-01', 'edge-worker', 'abcd', 1);"
			"UPDATE schema_version SET version = 1;"), 0);
	} else {
		unlink(f->path);
		assert_int_equal(store_target_exec(f->path,
		"CREATE TABLE tokens (id TEXT PRIMARY KEY NOT NULL, secret_hash TEXT NOT NULL,"
		" role TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
		" uses_left INTEGER NOT NULL CHECK (uses_left >= 0));"
		"CREATE TABLE nodes (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL DEFAULT '',"
		" role TEXT NOT NULL DEFAULT '', arch TEXT NOT NULL DEFAULT '', os TEXT NOT NULL DEFAULT '',"
		" kernel TEXT NOT NULL DEFAULT '', cpus INTEGER NOT NULL DEFAULT 0,"
		" mem_total INTEGER NOT NULL DEFAULT 0, cert_serial TEXT NOT NULL DEFAULT '',"
		" created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL DEFAULT 0,"
		" deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),"
		" token_id TEXT REFERENCES tokens(id) ON DELETE SET NULL);"
		"CREATE INDEX nodes_live_by_created ON nodes(created_at, id) WHERE deleted = 0;"
		"INSERT INTO nodes (id, name, role, cert_serial, created_at) VALUES"
		" ('n-old', 'pi-01', 'edge-worker', 'abcd', 1);"
		"PRAGMA user_version = 1;"), 0);
	}
	f->st = store_open(f->path, err, sizeof(err));
	if (f->st == NULL)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_schema_version(f->st), SCHEMA_NOW);
	assert_int_equal(store_node_get(f->st, "n-old", &n), 1);
	assert_string_equal(n.name, "pi-01");
	assert_string_equal(n.cert_serial, "abcd");
	assert_string_equal(n.prev_serial, "");
	/* renewal keeps the old serial as the previous one */
	assert_int_equal(store_node_set_serial(f->st, "n-old", "ef01"), 0);
	assert_int_equal(store_node_get(f->st, "n-old", &n), 1);
	assert_string_equal(n.cert_serial, "ef01");
	assert_string_equal(n.prev_serial, "abcd");
}

/* A task's result is recorded once; a result sent again changes nothing. */
static void test_task_finishes_once(void **state)
{
	struct fixture *f = *state;
	struct store_task t;

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 1, "node-1", NULL), STORE_ENROLL_OK);
	assert_int_equal(store_task_insert(f->st, "t-1", "r-1", "node-1", "exec", "run",
					   "{\"argv\":[\"true\"]}", 5000), 0);
	assert_int_equal(store_task_set_state(f->st, "t-1", "running", 6), 0);
	assert_int_equal(store_task_finish(f->st, "t-1", "done", 0, 12, NULL, "{\"k\":\"v\"}", 7000), 1);
	assert_int_equal(store_task_finish(f->st, "t-1", "failed", 1, 99, "late", "{}", 8000), 0);
	/* a late "accepted" does not reopen it */
	assert_int_equal(store_task_set_state(f->st, "t-1", "running", 9), 0);
	assert_int_equal(store_task_get(f->st, "t-1", &t), 1);
	assert_string_equal(t.state, "done");
	assert_int_equal(t.duration_ms, 12);
	assert_string_equal(t.outputs, "{\"k\":\"v\"}");
	assert_int_equal(t.finished_ms - t.created_ms, 2000);
	assert_int_equal(t.started_at, 6);   /* the "accepted" stamped it */
	store_task_clear(&t);
	/* a result with no "accepted" before it (the task ended within the
	 * agent's delay) started its duration before it was stored */
	assert_int_equal(store_task_insert(f->st, "t-3", "r-1", "node-1", "exec", "run",
					   "{\"argv\":[\"true\"]}", 5000), 0);
	assert_int_equal(store_task_finish(f->st, "t-3", "done", 0, 3000, NULL, "{}", 12000), 1);
	assert_int_equal(store_task_get(f->st, "t-3", &t), 1);
	assert_int_equal(t.started_at, 9);
	assert_int_equal(t.finished_at, 12);
	store_task_clear(&t);
	/* one that never ran (no duration) has no start */
	assert_int_equal(store_task_insert(f->st, "t-4", "r-1", "node-1", "exec", "run",
					   "{\"argv\":[\"true\"]}", 5000), 0);
	assert_int_equal(store_task_finish(f->st, "t-4", "timeout", -1, 0, "late", "{}", 12000), 1);
	assert_int_equal(store_task_get(f->st, "t-4", &t), 1);
	assert_int_equal(t.started_at, 0);
	store_task_clear(&t);
	/* a task for a node that does not exist is refused */
	assert_int_equal(store_task_insert(f->st, "t-2", "r-1", "node-x", "exec", "run", "{}", 1), -1);
	assert_int_equal(store_task_get(f->st, "t-2", &t), 0);
}

static void test_reopen_keeps_data_and_version(void **state)
{
	struct fixture *f = *state;
	struct store_node n;

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 2), 0);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 1, "node-1", NULL), STORE_ENROLL_OK);
	reopen(f);
	assert_int_equal(store_schema_version(f->st), SCHEMA_NOW);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_string_equal(n.role, "worker");
	/* the token survived too, with one use left */
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 2, "node-2", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 3, "node-3", NULL), STORE_ENROLL_USED_UP);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_target_exec(f->path, PICK("PRAGMA user_version = 999",
							 "UPDATE schema_version SET version = 999")), 0);

	assert_null(store_open(f->path, err, sizeof(err)));
	assert_non_null(strstr(err, "999"));
	assert_non_null(strstr(err, "newer"));
	/* refusing must not touch the database */
	assert_int_equal(raw_int(f->path, PICK("PRAGMA user_version",
					       "SELECT version FROM schema_version")), 999);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tokens"), 0);
}

static void test_open_bad_input(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", garbage[128];
	int fd;

	assert_null(store_open(NULL, err, sizeof(err)));
	assert_true(err[0] != '\0');
	assert_null(store_open("", NULL, 0));
	snprintf(garbage, sizeof(garbage), "%s/garbage.db", f->dir);
	fd = open(garbage, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not a database, not at all, no.....", 43), 43);
	close(fd);
	err[0] = '\0';
	assert_null(store_open(garbage, err, sizeof(err)));
	assert_true(err[0] != '\0');
	snprintf(garbage, sizeof(garbage), "%s/no/such/dir/x.db", f->dir);
	assert_null(store_open(garbage, err, sizeof(err)));
	store_close(NULL);
}

/* A PostgreSQL URL that names no reachable server, or that libpq cannot
 * read, or with the wrong password: refused with one line that never holds
 * the password. The first two need no server, so both runs check them. */
static void test_open_bad_pg_url(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"postgresql://tower:s3cr3t-pw@127.0.0.1:1/db",		/* nothing listens */
		"postgresql://tower:s3cr3t-pw@127.0.0.1:notaport/db",
		"postgresql://tower:s3cr3t-pw@127.0.0.1/db?nosuchoption=s3cr3t-pw",
		"postgres://tower:s3cr3t%2Dpw@[::1/db",
	};
	char err[512], url[STORE_TARGET_MAX];

	(void)f;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(store_open(bad[i], err, sizeof(err)));
		assert_true(err[0] != '\0');
		assert_null(strstr(err, "s3cr3t"));
		assert_null(strchr(err, '\n'));
	}
	assert_null(store_open(bad[0], err, sizeof(err)));
	assert_non_null(strstr(err, "connect"));
	if (!store_target_is_pg_run())
		return;
	/* the right server, a wrong password */
	snprintf(url, sizeof(url), "%s", store_target_pg_url());
	{
		char *at = strchr(url, '@'), *colon = strchr(url + strlen("postgresql://"), ':');

		assert_non_null(at);
		assert_non_null(colon);
		assert_true(colon < at);
		memmove(colon + 1 + strlen("s3cr3t-pw"), at, strlen(at) + 1);
		memcpy(colon + 1, "s3cr3t-pw", strlen("s3cr3t-pw"));
	}
	err[0] = '\0';
	assert_null(store_open(url, err, sizeof(err)));
	assert_non_null(strstr(err, "password"));
	assert_null(strstr(err, "s3cr3t"));
	assert_null(strchr(err, '\n'));
}

/* Sends stderr (the log) to a file in the fixture's dir; returns the old
 * stderr for dup2 back. */
static int stderr_to_file(struct fixture *f, char *path, size_t size)
{
	int fd, saved;

	snprintf(path, size, "%s/stderr.log", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

/* Several towers starting at once on a new database: one migrates, the
 * others wait for it and find the schema current; none fails. */
static void test_concurrent_first_open(void **state)
{
	struct fixture *f = *state;
	pid_t pids[4];
	int status;

	store_close(f->st);
	f->st = NULL;
	if (store_target_is_pg_run())
		assert_int_equal(store_target_exec(f->path, "DROP TABLE oc_inputs, oc_steps, oc_nodes,"
						   " overclouds, tasks, nodes, tokens, leases, replicas, ticket_keys, schema_version"), 0);
	else
		assert_int_equal(unlink(f->path), 0);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char err[256];
			struct store *st = store_open(f->path, err, sizeof(err));

			if (st == NULL) {
				fprintf(stderr, "child %d: %s\n", i, err);
				_exit(1);
			}
			_exit(store_schema_version(st) == SCHEMA_NOW ? 0 : 2);
		}
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	reopen(f);
	assert_int_equal(store_schema_version(f->st), SCHEMA_NOW);
	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
}

/* What the tower logs of a store target: a URL's password becomes ***
 * wherever it is given; a sqlite path is shown as it is. */
static void test_target_redact(void **state)
{
	static const char *const cases[][2] = {
		{ "/var/lib/overcloud/tower.db", "/var/lib/overcloud/tower.db" },
		{ "postgresql://tower:s3cr3t@db:5432/oc", "postgresql://tower:***@db:5432/oc" },
		{ "postgres://tower:s3:cr@3t@db/oc", "postgres://tower:***@db/oc" },
		{ "postgresql://tower@db/oc", "postgresql://tower@db/oc" },
		{ "postgresql://db/oc?user=tower&password=s3cr3t&sslmode=require",
		  "postgresql://db/oc?user=tower&password=***&sslmode=require" },
		{ "postgresql://db/oc?password=s3cr3t", "postgresql://db/oc?password=***" },
		{ "postgresql://db/oc?xpassword=keep", "postgresql://db/oc?xpassword=keep" },
		{ "postgresql://t:s3cr3t@db?password=s3cr3t", "postgresql://t:***@db?password=***" },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		store_target_redact(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
	store_target_redact(NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

/* PostgreSQL gone from under an open store: every call fails, logged as a
 * lost connection, never a crash (reconnecting is later work). */
static int64_t terminate_tower_sessions(struct fixture *f)
{
	return raw_int(f->path, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid)"
				" FROM pg_stat_activity WHERE application_name ="
				" 'overcloud-tower' AND datname = current_database()) t");
}

/* A lost connection (PostgreSQL restarted, a network cut) is made again by
 * the next statement outside a batch, which then runs; inside a batch the
 * batch's writes are gone with it, so its statements and its end fail, and
 * the statement after that connects again. */
static void test_pg_connection_lost(void **state)
{
	struct fixture *f = *state;
	struct store_node n;
	char logpath[128], *text;
	size_t len;
	int saved;

	if (!store_target_is_pg_run())
		return;	/* a sqlite file has no connection to lose */
	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(terminate_tower_sessions(f), 1);
	saved = stderr_to_file(f, logpath, sizeof(logpath));
	/* made again at once: no failure, no error logged */
	assert_int_equal(store_node_get(f->st, "node-1", &n), 0);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 1, "node-1", NULL), STORE_ENROLL_OK);
	/* lost inside a batch */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_token_insert(f->st, "tok2", hash_b, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(terminate_tower_sessions(f), 1);
	assert_int_equal(store_node_touch(f->st, "node-1", T0 + 5), -1);
	assert_int_equal(store_commit(f->st), -1);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tokens WHERE id = 'tok2'"), 0);
	dup2(saved, STDERR_FILENO);
	close(saved);
	text = util_read_file(logpath, 1 << 20, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "connection to the database lost"));
	assert_null(strstr(text, hash_a));
	free(text);
}

struct write_in_thread {
	struct store *st;
	int rc;
};

static void *add_log_in_thread(void *arg)
{
	struct write_in_thread *w = arg;

	w->rc = store_task_add_log(w->st, "t-1", 5, 1);
	return NULL;
}

/* A write whose session dies while it runs is not run again on the next
 * one: it might have committed before the reply was lost, and log_bytes =
 * log_bytes + 5 twice is ten. Here it waits on a row another session
 * locked, is cut off there, and so never applied: the caller hears it
 * failed, the row is as it was, and the next write connects again. */
static void test_pg_write_not_run_twice(void **state)
{
	struct fixture *f = *state;
	struct write_in_thread w = {.st = f->st, .rc = 99};
	PGconn *locker;
	PGresult *res;
	pthread_t thread;
	int64_t waiting = 0;

	if (!store_target_is_pg_run())
		return;	/* a sqlite file has no connection to lose */
	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 1, "node-1", NULL), STORE_ENROLL_OK);
	assert_int_equal(store_task_insert(f->st, "t-1", "r-1", "node-1", "exec", "run", "{}", 5000),
			 0);
	locker = PQconnectdb(f->path);
	assert_int_equal(PQstatus(locker), CONNECTION_OK);
	res = PQexec(locker, "BEGIN; UPDATE tasks SET log_bytes = log_bytes WHERE id = 't-1'");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_int_equal(pthread_create(&thread, NULL, add_log_in_thread, &w), 0);
	for (int i = 0; i < 200 && waiting != 1; i++) {
		usleep(50 * 1000);
		waiting = raw_int(f->path, "SELECT count(*) FROM pg_stat_activity WHERE"
					   " application_name = 'overcloud-tower' AND"
					   " datname = current_database() AND wait_event_type = 'Lock'");
	}
	assert_int_equal(waiting, 1);
	assert_int_equal(terminate_tower_sessions(f), 1);
	/* The lock goes before the join: a store that ran the write again on
	 * a new session would wait for it, and then apply it. */
	res = PQexec(locker, "COMMIT");
	PQclear(res);
	PQfinish(locker);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(w.rc, -1);
	assert_int_equal(raw_int(f->path, "SELECT log_bytes FROM tasks WHERE id = 't-1'"), 0);
	/* the next one runs, once, on a new session */
	assert_int_equal(store_task_add_log(f->st, "t-1", 5, 1), 0);
	assert_int_equal(raw_int(f->path, "SELECT log_bytes FROM tasks WHERE id = 't-1'"), 5);
}

/* ---- tokens and enrollment ---- */

static void test_token_insert_bad_input(void **state)
{
	struct fixture *f = *state;
	char long_id[STORE_ID_MAX + 8];

	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(store_token_insert(f->st, NULL, hash_a, "w", T0, T0 + 1, 1), -1);
	assert_int_equal(store_token_insert(f->st, "", hash_a, "w", T0, T0 + 1, 1), -1);
	assert_int_equal(store_token_insert(f->st, long_id, hash_a, "w", T0, T0 + 1, 1), -1);
	assert_int_equal(store_token_insert(f->st, "t", NULL, "w", T0, T0 + 1, 1), -1);
	assert_int_equal(store_token_insert(f->st, "t", "abc", "w", T0, T0 + 1, 1), -1);
	assert_int_equal(store_token_insert(f->st, "t", "ABCDEF", "w", T0, T0 + 1, 1), -1);
	assert_int_equal(store_token_insert(f->st, "t", hash_a, NULL, T0, T0 + 1, 1), -1);
	assert_int_equal(store_token_insert(f->st, "t", hash_a, "", T0, T0 + 1, 1), -1);
	assert_int_equal(store_token_insert(f->st, "t", hash_a, "w", T0, T0 + 1, 0), -1);
	assert_int_equal(store_token_insert(f->st, "t", hash_a, "w", T0, T0 + 1, -1), -1);
	assert_int_equal(store_token_insert(NULL, "t", hash_a, "w", T0, T0 + 1, 1), -1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM tokens"), 0);
	/* a duplicate id fails and leaves the first token as it was */
	assert_int_equal(store_token_insert(f->st, "t", hash_a, "w", T0, T0 + HOUR, 1), 0);
	assert_int_equal(store_token_insert(f->st, "t", hash_b, "db", T0, T0 + HOUR, 5), -1);
	assert_int_equal(uses_left(f, "t"), 1);
	/* the statement is still usable after a failure */
	assert_int_equal(store_token_insert(f->st, "t2", hash_b, "db", T0, T0 + HOUR, 5), 0);
}

static void test_enroll_single_use(void **state)
{
	struct fixture *f = *state;
	char role[STORE_ROLE_MAX] = "";
	struct store_node n;

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "k8s-master", T0, T0 + HOUR, 1),
			 0);
	assert_int_equal(uses_left(f, "tok1"), 1);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 10, "node-1", role), STORE_ENROLL_OK);
	assert_string_equal(role, "k8s-master");
	assert_int_equal(uses_left(f, "tok1"), 0);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_string_equal(n.id, "node-1");
	assert_string_equal(n.name, "node-1");
	assert_string_equal(n.role, "k8s-master");
	assert_string_equal(n.cert_serial, "serial-1");
	assert_int_equal(n.created_at, T0 + 10);
	assert_int_equal(n.last_seen, 0);
	assert_false(n.deleted);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM nodes WHERE token_id = 'tok1'"), 1);

	role[0] = '\0';
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 11, "node-2", role),
			 STORE_ENROLL_USED_UP);
	assert_string_equal(role, "");
	assert_int_equal(store_node_get(f->st, "node-2", &n), 0);
}

static void test_enroll_multi_use(void **state)
{
	struct fixture *f = *state;
	char node[16];

	assert_int_equal(store_token_insert(f->st, "tok3", hash_a, "worker", T0, T0 + HOUR, 3), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(node, sizeof(node), "node-%d", i);
		assert_int_equal(enroll(f, "tok3", hash_a, T0 + i, node, NULL), STORE_ENROLL_OK);
		assert_int_equal(uses_left(f, "tok3"), 2 - i);
	}
	assert_int_equal(enroll(f, "tok3", hash_a, T0 + 5, "node-9", NULL), STORE_ENROLL_USED_UP);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM nodes"), 3);
}

static void test_enroll_wrong_secret(void **state)
{
	struct fixture *f = *state;
	char near[65];

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(enroll(f, "tok1", hash_b, T0 + 1, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	/* one character off, at the end */
	memcpy(near, hash_a, sizeof(near));
	near[63] = near[63] == '0' ? '1' : '0';
	assert_int_equal(enroll(f, "tok1", near, T0 + 1, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	/* a prefix or an extension of the right hash is not the right hash */
	memcpy(near, hash_a, 63);
	near[63] = '\0';
	assert_int_equal(enroll(f, "tok1", near, T0 + 1, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	assert_int_equal(enroll(f, "tok1", "", T0 + 1, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	{
		char longer[80];

		snprintf(longer, sizeof(longer), "%s00", hash_a);
		assert_int_equal(enroll(f, "tok1", longer, T0 + 1, "node-1", NULL),
				 STORE_ENROLL_UNKNOWN_TOKEN);
	}
	/* a wrong secret takes no use and makes no node */
	assert_int_equal(uses_left(f, "tok1"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM nodes"), 0);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 1, "node-1", NULL), STORE_ENROLL_OK);
}

static void test_enroll_unknown_id(void **state)
{
	struct fixture *f = *state;
	char long_id[STORE_ID_MAX + 8];

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(enroll(f, "tok2", hash_a, T0 + 1, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	assert_int_equal(enroll(f, "", hash_a, T0 + 1, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	memset(long_id, 't', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(enroll(f, long_id, hash_a, T0 + 1, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	/* SQL text in an id is just an id */
	assert_int_equal(enroll(f, "x' OR '1'='1", hash_a, T0 + 1, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	assert_int_equal(uses_left(f, "tok1"), 1);
}

static void test_enroll_expired(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	/* expired means now >= expires_at */
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + HOUR, "node-1", NULL),
			 STORE_ENROLL_EXPIRED);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 2 * HOUR, "node-1", NULL),
			 STORE_ENROLL_EXPIRED);
	assert_int_equal(uses_left(f, "tok1"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM nodes"), 0);
	/* the wrong secret on an expired token says unknown, not expired */
	assert_int_equal(enroll(f, "tok1", hash_b, T0 + HOUR, "node-1", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + HOUR - 1, "node-1", NULL),
			 STORE_ENROLL_OK);
}

static void test_enroll_duplicate_node_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct store_node n;

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(store_token_insert(f->st, "tok2", hash_b, "db", T0, T0 + HOUR, 2), 0);
	assert_int_equal(enroll(f, "tok1", hash_a, T0 + 1, "node-1", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok2", hash_b, T0 + 2, "node-1", NULL), STORE_ENROLL_ERROR);
	/* the use was not taken, the first node is untouched */
	assert_int_equal(uses_left(f, "tok2"), 2);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_string_equal(n.role, "worker");
	assert_int_equal(n.created_at, T0 + 1);
	/* and both uses are still there */
	assert_int_equal(enroll(f, "tok2", hash_b, T0 + 3, "node-2", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok2", hash_b, T0 + 4, "node-3", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok2", hash_b, T0 + 5, "node-4", NULL), STORE_ENROLL_USED_UP);
}

static void test_enroll_bad_input(void **state)
{
	struct fixture *f = *state;
	char role[STORE_ROLE_MAX], small[3], long_name[STORE_NODE_NAME_MAX + 1];

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(store_enroll_node(NULL, "tok1", hash_a, T0, "n", "n", "s", role,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, NULL, hash_a, T0, "n", "n", "s", role,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, "tok1", NULL, T0, "n", "n", "s", role,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, NULL, "n", "s", role,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, "", "n", "s", role,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, "n", NULL, "s", role,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, "n", long_name, "s", role,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, "n", "n", NULL, role,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, "n", "n", "s", NULL,
					   sizeof(role)), STORE_ENROLL_ERROR);
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, "n", "n", "s", role, 0),
			 STORE_ENROLL_ERROR);
	/* a role buffer too small for "worker" fails after the checks: rolled back */
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, "n", "n", "s", small,
					   sizeof(small)), STORE_ENROLL_ERROR);
	assert_int_equal(uses_left(f, "tok1"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM nodes"), 0);
	assert_int_equal(store_enroll_node(f->st, "tok1", hash_a, T0, "n", "n", "s", role,
					   sizeof(role)), STORE_ENROLL_OK);
}

/* Failures are logged, but a secret hash never is. */
static void test_secret_hash_never_logged(void **state)
{
	struct fixture *f = *state;
	char logpath[128], *text;
	size_t len;
	int saved;

	saved = stderr_to_file(f, logpath, sizeof(logpath));

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), -1);
	enroll(f, "tok1", hash_b, T0, "node-1", NULL);
	enroll(f, "tok1", hash_a, T0, "node-1", NULL);
	assert_int_equal(store_token_insert(f->st, "tok2", hash_b, "worker", T0, T0 + HOUR, 1), 0);
	enroll(f, "tok2", hash_b, T0, "node-1", NULL);

	dup2(saved, STDERR_FILENO);
	close(saved);
	text = util_read_file(logpath, 1 << 20, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "store: insert token tok1"));
	assert_non_null(strstr(text, "store: insert node node-1"));
	assert_null(strstr(text, hash_a));
	assert_null(strstr(text, hash_b));
	free(text);
}

/* ---- nodes ---- */

static void test_node_facts_touch_get(void **state)
{
	struct fixture *f = *state;
	struct store_node n;
	char long_os[200];

	memset(long_os, 'o', sizeof(long_os) - 1);
	long_os[sizeof(long_os) - 1] = '\0';
	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(enroll(f, "tok1", hash_a, T0, "node-1", NULL), STORE_ENROLL_OK);

	assert_int_equal(store_node_update_facts(f->st, "node-1", "web-01", "aarch64", "Debian 12",
						 "6.1.0-18-arm64", 4, 8LL << 30, T0 + 5), 0);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_string_equal(n.name, "web-01");
	assert_string_equal(n.arch, "aarch64");
	assert_string_equal(n.os, "Debian 12");
	assert_string_equal(n.kernel, "6.1.0-18-arm64");
	assert_int_equal(n.cpus, 4);
	assert_int_equal(n.mem_total, 8LL << 30);
	assert_int_equal(n.last_seen, T0 + 5);
	assert_string_equal(n.role, "worker");
	assert_int_equal(n.created_at, T0);

	assert_int_equal(store_node_touch(f->st, "node-1", T0 + 60), 0);
	assert_int_equal(store_node_set_serial(f->st, "node-1", "0badc0de"), 0);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_int_equal(n.last_seen, T0 + 60);
	assert_string_equal(n.cert_serial, "0badc0de");
	assert_string_equal(n.name, "web-01");
	assert_string_equal(n.figures, "");
	/* a replica's touch carries the node's latest figures for the others */
	assert_int_equal(store_node_touch_figures(f->st, "node-1", T0 + 70, "f1 7 6 5"), 0);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_int_equal(n.last_seen, T0 + 70);
	assert_string_equal(n.figures, "f1 7 6 5");
	/* a plain touch leaves them */
	assert_int_equal(store_node_touch(f->st, "node-1", T0 + 80), 0);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_string_equal(n.figures, "f1 7 6 5");
	{
		char too_long[STORE_NODE_FIGURES_MAX + 1];

		memset(too_long, '1', sizeof(too_long) - 1);
		too_long[sizeof(too_long) - 1] = '\0';
		assert_int_equal(store_node_touch_figures(f->st, "node-1", T0 + 90, too_long), -1);
		assert_int_equal(store_node_touch_figures(f->st, "node-1", T0 + 90, NULL), -1);
		assert_int_equal(store_node_touch_figures(f->st, "node-x", T0 + 90, "f1"), -1);
	}

	/* no such node */
	assert_int_equal(store_node_get(f->st, "node-x", &n), 0);
	assert_int_equal(store_node_touch(f->st, "node-x", T0), -1);
	assert_int_equal(store_node_set_serial(f->st, "node-x", "1"), -1);
	assert_int_equal(store_node_update_facts(f->st, "node-x", "a", "b", "c", "d", 1, 1, T0),
			 -1);
	/* bad input */
	assert_int_equal(store_node_update_facts(f->st, "node-1", "a", "b", long_os, "d", 1, 1,
						 T0), -1);
	assert_int_equal(store_node_update_facts(f->st, "node-1", NULL, "b", "c", "d", 1, 1, T0),
			 -1);
	assert_int_equal(store_node_update_facts(f->st, NULL, "a", "b", "c", "d", 1, 1, T0), -1);
	assert_int_equal(store_node_touch(f->st, NULL, T0), -1);
	assert_int_equal(store_node_set_serial(f->st, "node-1", NULL), -1);
	assert_int_equal(store_node_get(f->st, NULL, &n), -1);
	assert_int_equal(store_node_get(f->st, "node-1", NULL), -1);
	assert_int_equal(store_node_get(f->st, long_os, &n), -1);
	assert_int_equal(store_node_get(f->st, "", &n), -1);
	/* nothing changed by the rejected calls */
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_string_equal(n.os, "Debian 12");
}

/* Rows written by something else (an older build, an operator with sqlite3)
 * may not fit the struct: they are cut, never overflowed. */
static void test_node_get_truncates(void **state)
{
	struct fixture *f = *state;
	struct store_node n;
	char sql[1024], big[600];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* a 2-byte character straddling the end of arch[32] */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO nodes (id, name, arch, os, created_at) "
		 "VALUES ('n1', '%s', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9', NULL, 1)", big);
	/* os is NOT NULL: the insert is refused, so use the default instead */
	assert_int_not_equal(store_target_exec(f->path, sql), 0);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO nodes (id, name, arch, created_at) "
		 "VALUES ('n1', '%s', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9', 1)", big);
	assert_int_equal(store_target_exec(f->path, sql), 0);

	assert_int_equal(store_node_get(f->st, "n1", &n), 1);
	assert_int_equal(strlen(n.name), STORE_NODE_NAME_MAX - 1);
	assert_int_equal(strlen(n.arch), 30);
	assert_string_equal(n.os, "");
}

struct walk {
	char ids[8][STORE_ID_MAX];
	int count;
	int stop_after;
	struct store *st;
	int nested;
};

static int walk_fn(const struct store_node *node, void *arg)
{
	struct walk *w = arg;

	if (w->count < 8)
		snprintf(w->ids[w->count], sizeof(w->ids[0]), "%s", node->id);
	w->count++;
	if (w->st)
		w->nested = store_node_foreach(w->st, walk_fn, w);
	if (w->stop_after && w->count == w->stop_after)
		return 42;
	return 0;
}

static void test_node_foreach_order(void **state)
{
	struct fixture *f = *state;
	struct walk w;

	assert_int_equal(store_token_insert(f->st, "tok", hash_a, "worker", T0, T0 + HOUR, 10), 0);
	/* created_at first, then id */
	assert_int_equal(enroll(f, "tok", hash_a, T0 + 2, "c", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok", hash_a, T0 + 1, "z", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok", hash_a, T0 + 2, "b", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok", hash_a, T0 + 3, "a", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok", hash_a, T0 + 2, "d", NULL), STORE_ENROLL_OK);
	assert_int_equal(store_node_delete(f->st, "d"), 1);

	memset(&w, 0, sizeof(w));
	assert_int_equal(store_node_foreach(f->st, walk_fn, &w), 0);
	assert_int_equal(w.count, 4);
	assert_string_equal(w.ids[0], "z");
	assert_string_equal(w.ids[1], "b");
	assert_string_equal(w.ids[2], "c");
	assert_string_equal(w.ids[3], "a");

	/* early stop returns fn's value, and the next walk starts over */
	memset(&w, 0, sizeof(w));
	w.stop_after = 2;
	assert_int_equal(store_node_foreach(f->st, walk_fn, &w), 42);
	assert_int_equal(w.count, 2);
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_node_foreach(f->st, walk_fn, &w), 0);
	assert_int_equal(w.count, 4);

	/* a callback may not start another walk */
	memset(&w, 0, sizeof(w));
	w.st = f->st;
	w.stop_after = 1;
	assert_int_equal(store_node_foreach(f->st, walk_fn, &w), 42);
	assert_int_equal(w.nested, -1);

	assert_int_equal(store_node_foreach(f->st, NULL, NULL), -1);
}

static void test_node_foreach_empty(void **state)
{
	struct fixture *f = *state;
	struct walk w;

	memset(&w, 0, sizeof(w));
	assert_int_equal(store_node_foreach(f->st, walk_fn, &w), 0);
	assert_int_equal(w.count, 0);
}

static void test_node_delete(void **state)
{
	struct fixture *f = *state;
	struct store_node n;
	struct walk w;

	assert_int_equal(store_token_insert(f->st, "tok", hash_a, "worker", T0, T0 + HOUR, 2), 0);
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-1", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-2", NULL), STORE_ENROLL_OK);

	assert_int_equal(store_node_delete(f->st, "node-1"), 1);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_true(n.deleted);
	assert_string_equal(n.role, "worker");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_node_foreach(f->st, walk_fn, &w), 0);
	assert_int_equal(w.count, 1);
	assert_string_equal(w.ids[0], "node-2");

	assert_int_equal(store_node_delete(f->st, "node-1"), 0);
	assert_int_equal(store_node_delete(f->st, "node-x"), 0);
	assert_int_equal(store_node_delete(f->st, NULL), -1);
	/* a deleted node is not live: no facts, no touch, no new serial */
	assert_int_equal(store_node_touch(f->st, "node-1", T0 + 9), -1);
	assert_int_equal(store_node_set_serial(f->st, "node-1", "new"), -1);
	assert_int_equal(store_node_update_facts(f->st, "node-1", "a", "b", "c", "d", 1, 1,
						 T0 + 9), -1);
	/* and its id stays taken */
	assert_int_equal(store_token_insert(f->st, "tok2", hash_b, "db", T0, T0 + HOUR, 1), 0);
	assert_int_equal(enroll(f, "tok2", hash_b, T0, "node-1", NULL), STORE_ENROLL_ERROR);
	assert_int_equal(uses_left(f, "tok2"), 1);
	/* it stays deleted across a restart */
	reopen(f);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_true(n.deleted);
	assert_int_equal(n.last_seen, 0);
}

/* ---- batching ---- */

static void test_batch_commit_and_rollback(void **state)
{
	struct fixture *f = *state;
	struct store_node n;

	assert_int_equal(store_token_insert(f->st, "tok", hash_a, "worker", T0, T0 + HOUR, 5), 0);

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_begin(f->st), -1);	/* one level only */
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-1", NULL), STORE_ENROLL_OK);
	assert_int_equal(store_node_touch(f->st, "node-1", T0 + 1), 0);
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-2", NULL), STORE_ENROLL_OK);
	/* a failed enroll inside the batch undoes only itself */
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-1", NULL), STORE_ENROLL_ERROR);
	assert_int_equal(enroll(f, "tok", hash_b, T0, "node-3", NULL),
			 STORE_ENROLL_UNKNOWN_TOKEN);
	/* nothing is visible to another connection before commit */
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM nodes"), 0);
	assert_int_equal(uses_left(f, "tok"), 5);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM nodes"), 2);
	assert_int_equal(uses_left(f, "tok"), 3);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_int_equal(n.last_seen, T0 + 1);

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-3", NULL), STORE_ENROLL_OK);
	assert_int_equal(store_node_delete(f->st, "node-1"), 1);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(store_node_get(f->st, "node-3", &n), 0);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_false(n.deleted);
	assert_int_equal(uses_left(f, "tok"), 3);

	/* commit without begin fails, rollback without begin is harmless */
	assert_int_equal(store_commit(f->st), -1);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(store_begin(NULL), -1);
	/* and the store still works */
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-3", NULL), STORE_ENROLL_OK);

	/* any write that fails inside a batch undoes only itself, on either
	 * engine (PostgreSQL would abort the whole transaction) */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_node_touch(f->st, "node-1", T0 + 7), 0);
	assert_int_equal(store_token_insert(f->st, "tok", hash_b, "db", T0, T0 + HOUR, 1), -1);
	assert_int_equal(store_task_insert(f->st, "t-1", "r-1", "node-x", "exec", "run", "{}", 1), -1);
	assert_int_equal(store_node_touch(f->st, "node-3", T0 + 8), 0);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 1);
	assert_int_equal(n.last_seen, T0 + 7);
	assert_int_equal(raw_int(f->path, "SELECT last_seen FROM nodes WHERE id = 'node-3'"), T0 + 8);
}

/* ---- crash safety ---- */

static void test_close_without_commit_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct store_node n;

	assert_int_equal(store_token_insert(f->st, "tok", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-1", NULL), STORE_ENROLL_OK);
	reopen(f);
	assert_int_equal(store_node_get(f->st, "node-1", &n), 0);
	assert_int_equal(uses_left(f, "tok"), 1);
	assert_int_equal(enroll(f, "tok", hash_a, T0, "node-1", NULL), STORE_ENROLL_OK);
}

/* A child opens the store, writes, and dies by SIGKILL without closing. */
static void crash_child(struct fixture *f, bool commit)
{
	char err[256];
	struct store *st;
	char role[STORE_ROLE_MAX];
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		st = store_open(f->path, err, sizeof(err));
		if (st == NULL)
			_exit(2);
		if (store_begin(st) != 0)
			_exit(3);
		if (store_enroll_node(st, "tok", hash_a, T0, "node-k", "k", "s", role,
				      sizeof(role)) != STORE_ENROLL_OK)
			_exit(4);
		if (commit && store_commit(st) != 0)
			_exit(5);
		kill(getpid(), SIGKILL);
		_exit(6);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_kill_mid_batch(void **state)
{
	struct fixture *f = *state;
	struct store_node n;

	assert_int_equal(store_token_insert(f->st, "tok", hash_a, "worker", T0, T0 + HOUR, 1), 0);
	store_close(f->st);
	f->st = NULL;

	crash_child(f, false);
	reopen(f);
	assert_int_equal(store_node_get(f->st, "node-k", &n), 0);
	assert_int_equal(uses_left(f, "tok"), 1);

	store_close(f->st);
	f->st = NULL;
	crash_child(f, true);
	reopen(f);
	assert_int_equal(store_node_get(f->st, "node-k", &n), 1);
	assert_int_equal(uses_left(f, "tok"), 0);
}

/* ---- overclouds: attached nodes and the attach DAG ---- */

/* A schema 5 database (oc_steps allowed create and destroy only) keeps its
 * steps through migration 6, which lets attach steps in. */
static void test_migrates_schema_5_steps(void **state)
{
	struct fixture *f = *state;
	struct store_oc_step steps[4];
	char oc_id[STORE_ID_MAX];

	assert_int_equal(store_oc_insert(f->st, "oc-1", "demo", "local", 1, "", T0), 0);
	store_close(f->st);
	f->st = NULL;
	/* Back to schema 5: the old oc_steps and no oc_nodes.node_id. */
	if (store_target_is_pg_run())
		assert_int_equal(store_target_exec(f->path,
			"ALTER TABLE oc_steps DROP CONSTRAINT oc_steps_dag_check,"
			" ADD CONSTRAINT oc_steps_dag_check CHECK (dag IN ('create','destroy'));"
			"DROP INDEX oc_nodes_by_node;"
			"ALTER TABLE oc_nodes DROP COLUMN node_id;"
			"DROP TABLE oc_inputs;"
			"DROP TABLE leases; DROP TABLE replicas; DROP INDEX tasks_pending; DROP TABLE ticket_keys;"
			"ALTER TABLE nodes DROP COLUMN figures;"
			"INSERT INTO oc_steps (overcloud_id, dag, name, ord, state, attempts, run_id)"
			" VALUES ('oc-1', 'create', 'acquire', 0, 'done', 1, 'r-1');"
			"UPDATE schema_version SET version = 5;"), 0);
	else
		assert_int_equal(store_target_exec(f->path,
		"DROP TABLE oc_steps;"
		"CREATE TABLE oc_steps (overcloud_id TEXT NOT NULL REFERENCES overclouds(id),"
		" dag TEXT NOT NULL CHECK (dag IN ('create','destroy')), name TEXT NOT NULL,"
		" ord INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN"
		" ('pending','running','done','failed','skipped')), attempts INTEGER NOT NULL DEFAULT 0,"
		" run_id TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',"
		" retry_at_ms INTEGER NOT NULL DEFAULT 0, started_ms INTEGER NOT NULL DEFAULT 0,"
		" finished_ms INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (overcloud_id, dag, name));"
		"CREATE INDEX oc_steps_by_run ON oc_steps(run_id) WHERE run_id != '';"
		"DROP INDEX oc_nodes_by_node;"
		"ALTER TABLE oc_nodes DROP COLUMN node_id;"
		"DROP TABLE oc_inputs;"
		"DROP TABLE leases; DROP TABLE replicas; DROP INDEX tasks_pending; DROP TABLE ticket_keys;"
		"ALTER TABLE nodes DROP COLUMN figures;"
		"INSERT INTO oc_steps (overcloud_id, dag, name, ord, state, attempts, run_id)"
		" VALUES ('oc-1', 'create', 'acquire', 0, 'done', 1, 'r-1');"
		"PRAGMA user_version = 5;"), 0);
	assert_int_not_equal(store_target_exec(f->path, "INSERT INTO oc_steps (overcloud_id, dag,"
					       " name, ord) VALUES ('oc-1', 'attach', 'x', 0)"), 0);
	reopen(f);
	assert_int_equal(store_schema_version(f->st), SCHEMA_NOW);
	assert_int_equal(store_ocs_list(f->st, "oc-1", steps, 4), 1);
	assert_string_equal(steps[0].name, "acquire");
	assert_string_equal(steps[0].state, "done");
	assert_string_equal(steps[0].run_id, "r-1");
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "attach", "edge", 0), 0);
	assert_int_equal(store_ocs_list(f->st, "oc-1", steps, 4), 2);
	assert_string_equal(steps[1].dag, "attach");
	/* the run index came back with the new table */
	assert_int_equal(raw_int(f->path, PICK("SELECT count(*) FROM sqlite_master WHERE name = "
					       "'oc_steps_by_run'",
					       "SELECT count(*) FROM pg_indexes WHERE indexname = "
					       "'oc_steps_by_run' AND schemaname = current_schema()")), 1);
	assert_int_equal(store_ocs_find_run(f->st, "r-1", oc_id, sizeof(oc_id)), 1);
	assert_string_equal(oc_id, "oc-1");
}

/* An attached node is named by its row; one the tower made is found
 * through its token. Either holds the node until its row is released. */
static void test_attached_nodes(void **state)
{
	struct fixture *f = *state;
	struct store_oc_node nodes[4];
	char oc_id[STORE_ID_MAX];

	assert_int_equal(store_oc_insert(f->st, "oc-1", "demo", "local", 1, "", T0), 0);
	assert_int_equal(store_ocn_insert(f->st, "oc-1", "oc-1-post-0", "post", 0, "", ""), 0);
	assert_int_equal(store_token_insert(f->st, "tokp", hash_a, "demo-post", T0, T0 + HOUR, 1), 0);
	assert_int_equal(store_token_insert(f->st, "toke", hash_b, "edge-worker", T0, T0 + HOUR, 2), 0);
	assert_int_equal(enroll(f, "tokp", hash_a, T0 + 1, "n-post", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "toke", hash_b, T0 + 1, "n-edge", NULL), STORE_ENROLL_OK);
	assert_int_equal(enroll(f, "toke", hash_b, T0 + 1, "n-free", NULL), STORE_ENROLL_OK);
	assert_int_equal(store_ocn_list(f->st, "oc-1", nodes, 4), 1);
	snprintf(nodes[0].token_id, sizeof(nodes[0].token_id), "tokp");
	snprintf(nodes[0].state, sizeof(nodes[0].state), "created");
	assert_int_equal(store_ocn_update(f->st, "oc-1", &nodes[0]), 0);
	assert_int_equal(store_ocn_insert_attached(f->st, "oc-1", "oc-1-attached-0", "attached", 0,
						   "attached", "n-edge", "10.0.0.9"), 0);

	assert_int_equal(store_ocn_list(f->st, "oc-1", nodes, 4), 2);
	assert_string_equal(nodes[0].node_id, "n-post");
	assert_false(nodes[0].attached);
	assert_string_equal(nodes[1].name, "oc-1-attached-0");
	assert_string_equal(nodes[1].node_id, "n-edge");
	assert_string_equal(nodes[1].address, "10.0.0.9");
	assert_string_equal(nodes[1].state, "pending");
	assert_string_equal(nodes[1].provider, "attached");
	assert_true(nodes[1].attached);

	/* held: the made node and the attached one; a node sharing the
	 * attached one's (multi-use) token is not */
	assert_int_equal(store_ocn_find_node(f->st, "n-post", oc_id, sizeof(oc_id)), 1);
	assert_string_equal(oc_id, "oc-1");
	assert_int_equal(store_ocn_find_node(f->st, "n-edge", oc_id, sizeof(oc_id)), 1);
	assert_int_equal(store_ocn_find_node(f->st, "n-free", oc_id, sizeof(oc_id)), 0);
	/* released: free again */
	snprintf(nodes[1].state, sizeof(nodes[1].state), "released");
	assert_int_equal(store_ocn_update(f->st, "oc-1", &nodes[1]), 0);
	assert_int_equal(store_ocn_find_node(f->st, "n-edge", oc_id, sizeof(oc_id)), 0);
	/* a deleted node reads as none */
	assert_int_equal(store_node_delete(f->st, "n-edge"), 1);
	assert_int_equal(store_ocn_list(f->st, "oc-1", nodes, 4), 2);
	assert_string_equal(nodes[1].node_id, "");
	assert_true(nodes[1].attached);
	/* the same row name twice is refused */
	assert_int_equal(store_ocn_insert_attached(f->st, "oc-1", "oc-1-attached-0", "attached", 0,
						   "attached", "n-free", ""), -1);
}

/* Steps list as create, attach, destroy; an attach starts from clean steps. */
/* An OverCloud's pattern inputs: kept per OverCloud, one row per name. */
static int collect_input(const char *name, const char *value, void *arg)
{
	char *buf = arg;
	size_t used = strlen(buf);

	snprintf(buf + used, 256 - used, "%s=%s;", name, value);
	return 0;
}

static int stop_at_first(const char *name, const char *value, void *arg)
{
	(void)name;
	(void)value;
	(*(int *)arg)++;
	return 7;
}

static void test_overcloud_inputs(void **state)
{
	struct fixture *f = *state;
	char listed[256] = "", *value = NULL;
	int calls = 0;

	assert_int_equal(store_oc_insert(f->st, "oc-1", "k8s", "local", 1, "", T0), 0);
	assert_int_equal(store_oci_insert(f->st, "oc-1", "version", "1.34"), 0);
	assert_int_equal(store_oci_insert(f->st, "oc-1", "mirror", ""), 0);
	assert_int_equal(store_oci_insert(f->st, "oc-1", "version", "1.33"), -1); /* once */
	assert_int_equal(store_oci_insert(f->st, "", "version", "1"), -1);
	assert_int_equal(store_oci_get(f->st, "oc-1", "version", &value), 1);
	assert_string_equal(value, "1.34");
	free(value);
	assert_int_equal(store_oci_get(f->st, "oc-1", "mirror", &value), 1);
	assert_string_equal(value, "");
	free(value);
	assert_int_equal(store_oci_get(f->st, "oc-1", "nosuch", &value), 0);
	assert_null(value);
	assert_int_equal(store_oci_get(f->st, "oc-2", "version", &value), 0);
	assert_int_equal(store_oci_foreach(f->st, "oc-1", collect_input, listed), 0);
	assert_string_equal(listed, "mirror=;version=1.34;");
	assert_int_equal(store_oci_foreach(f->st, "oc-1", stop_at_first, &calls), 7);
	assert_int_equal(calls, 1);
}

static void test_attach_steps(void **state)
{
	struct fixture *f = *state;
	struct store_oc_step steps[8];

	assert_int_equal(store_oc_insert(f->st, "oc-1", "demo", "local", 1, "", T0), 0);
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "destroy", "release", 0), 0);
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "attach", "edge", 1), 0);
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "attach", "post", 0), 0);
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "create", "acquire", 0), 0);
	/* Again: kept as it is, no error; a dag the schema does not know fails. */
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "create", "acquire", 5), 0);
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "bogus", "x", 0), -1);
	assert_int_equal(store_ocs_list(f->st, "oc-1", steps, 8), 4);
	assert_string_equal(steps[0].dag, "create");
	assert_string_equal(steps[1].name, "post");
	assert_string_equal(steps[2].name, "edge");
	assert_string_equal(steps[3].dag, "destroy");
	assert_int_equal(store_ocs_count_open(f->st, "oc-1", "attach"), 2);
	snprintf(steps[1].state, sizeof(steps[1].state), "done");
	assert_int_equal(store_ocs_update(f->st, "oc-1", &steps[1]), 0);
	assert_int_equal(store_ocs_count_open(f->st, "oc-1", "attach"), 1);
	assert_int_equal(store_ocs_count_open(f->st, "oc-2", "attach"), 0);
	assert_int_equal(store_ocs_clear(f->st, "oc-1", "attach"), 0);
	assert_int_equal(store_ocs_count_open(f->st, "oc-1", "attach"), 0);
	assert_int_equal(store_ocs_list(f->st, "oc-1", steps, 8), 2);
	/* no DAG but the three, and the CHECK's refusal reaches the caller
	 * (INSERT OR IGNORE would pass over it silently) */
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "upgrade", "x", 0), -1);
	assert_int_equal(store_ocs_list(f->st, "oc-1", steps, 8), 2);
}

/* ---- the binding helper and write results ---- */

/* Runs sql with a separate connection, as another process would. */
static void raw_exec(const char *target, const char *sql)
{
	assert_int_equal(store_target_exec(target, sql), 0);
}

/* A trigger that refuses every write of kind on table, in each engine's words. */
static void refuse_writes(const char *target, const char *name, const char *kind,
			  const char *table)
{
	char sql[512];

	if (store_target_is_pg_run())
		snprintf(sql, sizeof(sql),
			 "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
			 " $$BEGIN RAISE EXCEPTION 'no'; END$$;"
			 "CREATE TRIGGER %s BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION refuse();",
			 name, kind, table);
	else
		snprintf(sql, sizeof(sql),
			 "CREATE TRIGGER %s BEFORE %s ON %s BEGIN SELECT RAISE(ABORT, 'no'); END;",
			 name, kind, table);
	raw_exec(target, sql);
}

static void allow_writes(const char *target, const char *name, const char *table)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "DROP TRIGGER %s%s%s", name,
		 store_target_is_pg_run() ? " ON " : "", store_target_is_pg_run() ? table : "");
	raw_exec(target, sql);
}

/* Every value goes through one typed binder: an id that breaks the id rule
 * is refused before sqlite sees it (the OverCloud writes once bound ids
 * unchecked, so "" became a row), as is a NULL text or a value count that
 * is not the statement's. */
static void test_binding_refuses_bad_values(void **state)
{
	struct fixture *f = *state;
	char long_id[STORE_ID_MAX + 1];
	struct store_oc_step step = { .dag = "create", .name = "s", .state = "done" };

	memset(long_id, 'a', STORE_ID_MAX);
	long_id[STORE_ID_MAX] = '\0';
	assert_int_equal(store_oc_insert(f->st, "", "demo", "local", 1, "", T0), -1);
	assert_int_equal(store_oc_insert(f->st, long_id, "demo", "local", 1, "", T0), -1);
	assert_int_equal(store_oc_insert(f->st, NULL, "demo", "local", 1, "", T0), -1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM overclouds"), 0);

	assert_int_equal(store_oc_insert(f->st, "oc-1", "demo", "local", 1, "", T0), 0);
	assert_int_equal(store_oc_set_status(f->st, "", "failed", "x", T0, NULL), -1);
	assert_int_equal(store_ocn_insert(f->st, long_id, "n-0", "worker", 0, "", ""), -1);
	assert_int_equal(store_ocn_insert(f->st, "oc-1", NULL, "worker", 0, "", ""), -1);
	assert_int_equal(store_ocn_insert_attached(f->st, "oc-1", "n-1", "attached", 0, "attached",
						   "", ""), -1);
	assert_int_equal(store_ocs_insert(f->st, "", "create", "s", 0), -1);
	assert_int_equal(store_ocs_update(f->st, long_id, &step), -1);
	assert_int_equal(store_ocs_clear(f->st, "", "create"), -1);
	assert_int_equal(store_oci_insert(f->st, long_id, "k", "v"), -1);
	assert_int_equal(raw_int(f->path, "SELECT (SELECT count(*) FROM oc_nodes) +"
					  " (SELECT count(*) FROM oc_steps) +"
					  " (SELECT count(*) FROM oc_inputs) +"
					  " (SELECT count(*) FROM overclouds WHERE status != 'creating')"),
			 0);

	/* the helper itself: a refusal leaves the statement usable */
	assert_int_equal(store_exec(f->st, ST_OCS_CLEAR, "clear", STORE_ARGS(arg_id("oc-1"))), -1);
	assert_int_equal(store_exec(f->st, ST_OCS_CLEAR, "clear",
				    STORE_ARGS(arg_id("oc-1"), arg_text("create"), arg_int(1))), -1);
	assert_int_equal(store_exec(f->st, ST_OCS_CLEAR, "clear",
				    STORE_ARGS(arg_id(long_id), arg_text("create"))), -1);
	assert_int_equal(store_exec(f->st, ST_OCS_CLEAR, "clear",
				    STORE_ARGS(arg_id("oc-1"), arg_text(NULL))), -1);
	assert_null(store_bound(f->st, ST_OC_GET, "get", STORE_ARGS(arg_id(""))));
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "create", "s", 0), 0);
	assert_int_equal(store_exec(f->st, ST_OCS_CLEAR, "clear",
				    STORE_ARGS(arg_id("oc-1"), arg_text("create"))), 1);
}

/* A write sqlite refuses is -1 for its caller: a constraint (CHECK, foreign
 * key, primary key) or any failure of the statement, here a trigger another
 * connection put there; the updates whose "no row matched" is fine too. */
static void test_failed_writes_are_reported(void **state)
{
	struct fixture *f = *state;
	struct store_oc_node n = { .name = "oc-1-worker-0", .state = "created" };
	struct store_oc_step step = { .dag = "create", .name = "s", .state = "done" };

	assert_int_equal(store_token_insert(f->st, "tok1", hash_a, "worker", T0, T0 + HOUR, 2), 0);
	assert_int_equal(enroll(f, "tok1", hash_a, T0, "node-1", NULL), STORE_ENROLL_OK);
	assert_int_equal(store_oc_insert(f->st, "oc-1", "demo", "local", 1, "", T0), 0);
	assert_int_equal(store_ocn_insert(f->st, "oc-1", n.name, "worker", 0, "", ""), 0);
	assert_int_equal(store_ocs_insert(f->st, "oc-1", "create", "s", 0), 0);
	assert_int_equal(store_task_insert(f->st, "task-1", "run-1", "node-1", "worker", "s", "{}",
					   (int64_t)T0 * 1000), 0);

	/* constraints */
	assert_int_equal(store_oc_insert(f->st, "oc-1", "demo", "local", 1, "", T0), -1);
	assert_int_equal(store_oc_set_status(f->st, "oc-1", "bogus", "", T0, NULL), -1);
	assert_int_equal(store_ocn_insert(f->st, "oc-9", "x", "worker", 0, "", ""), -1);
	assert_int_equal(store_task_insert(f->st, "task-2", "run-1", "node-9", "worker", "s", "{}",
					   (int64_t)T0 * 1000), -1);
	assert_int_equal(store_oci_insert(f->st, "oc-1", "k", "v"), 0);
	assert_int_equal(store_oci_insert(f->st, "oc-1", "k", "v"), -1);

	/* every update refused */
	refuse_writes(f->path, "no_oc", "UPDATE", "overclouds");
	refuse_writes(f->path, "no_ocn", "UPDATE", "oc_nodes");
	refuse_writes(f->path, "no_ocs", "UPDATE", "oc_steps");
	refuse_writes(f->path, "no_ocs_d", "DELETE", "oc_steps");
	refuse_writes(f->path, "no_node", "UPDATE", "nodes");
	refuse_writes(f->path, "no_task", "UPDATE", "tasks");
	assert_int_equal(store_oc_set_status(f->st, "oc-1", "ready", "", T0, NULL), -1);
	assert_int_equal(store_ocn_update(f->st, "oc-1", &n), -1);
	assert_int_equal(store_ocs_update(f->st, "oc-1", &step), -1);
	assert_int_equal(store_ocs_clear(f->st, "oc-1", "create"), -1);
	assert_int_equal(store_node_touch(f->st, "node-1", T0), -1);
	assert_int_equal(store_node_set_serial(f->st, "node-1", "serial-2"), -1);
	assert_int_equal(store_node_delete(f->st, "node-1"), -1);
	assert_int_equal(store_node_update_facts(f->st, "node-1", "n", "x86_64", "os", "k", 1, 1, T0),
			 -1);
	assert_int_equal(store_task_set_state(f->st, "task-1", "running", T0), -1);
	assert_int_equal(store_task_progress(f->st, "task-1", 50, "half"), -1);
	assert_int_equal(store_task_add_log(f->st, "task-1", 10, 0), -1);
	assert_int_equal(store_task_finish(f->st, "task-1", "done", 0, 1, "", "{}", (int64_t)T0 * 1000), -1);
	/* the token's use is not taken when the node cannot be inserted */
	refuse_writes(f->path, "no_new_node", "INSERT", "nodes");
	assert_int_equal(enroll(f, "tok1", hash_a, T0, "node-2", NULL), STORE_ENROLL_ERROR);
	assert_int_equal(uses_left(f, "tok1"), 1);

	/* the same writes pass once nothing refuses them */
	allow_writes(f->path, "no_oc", "overclouds");
	allow_writes(f->path, "no_ocn", "oc_nodes");
	allow_writes(f->path, "no_ocs", "oc_steps");
	allow_writes(f->path, "no_ocs_d", "oc_steps");
	allow_writes(f->path, "no_node", "nodes");
	allow_writes(f->path, "no_task", "tasks");
	allow_writes(f->path, "no_new_node", "nodes");
	assert_int_equal(store_oc_set_status(f->st, "oc-1", "ready", "", T0, NULL), 0);
	/* only from the status the writer read: another replica's delete
	 * recorded since is not overwritten */
	assert_int_equal(store_oc_set_status(f->st, "oc-1", "deleting", "", T0, "ready"), 0);
	assert_int_equal(store_oc_set_status(f->st, "oc-1", "failed", "late", T0, "ready"), 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM overclouds WHERE status = 'deleting'"),
			 1);
	assert_int_equal(store_ocn_update(f->st, "oc-1", &n), 0);
	assert_int_equal(store_ocs_update(f->st, "oc-1", &step), 0);
	assert_int_equal(store_node_touch(f->st, "node-1", T0), 0);
	assert_int_equal(store_task_set_state(f->st, "task-1", "running", T0), 0);
	assert_int_equal(store_task_finish(f->st, "task-1", "done", 0, 1, "", "{}", (int64_t)T0 * 1000), 1);
	assert_int_equal(store_ocs_clear(f->st, "oc-1", "create"), 0);
	assert_int_equal(store_node_delete(f->st, "node-1"), 1);
}

/* ---- the leader lease and its fence ---- */

/* Two replicas on one database: one holds the lease, the other is refused
 * until it lapses; the taker gets a new token, and the old holder's fenced
 * writes are refused from then on while its unfenced ones still go. */
static void test_lease_and_fence(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	struct store *b = store_open(f->path, err, sizeof(err));
	struct store_lease l;
	struct store_replica reps[4];
	int64_t ta = 0, tb = 0, again = 0;
	int held = 0;

	assert_non_null(b);
	assert_int_equal(store_lease_take(f->st, "replica-a", 60000, &ta), 1);
	assert_true(ta > 0);
	assert_int_equal(store_lease_take(b, "replica-b", 60000, &tb), 0);
	/* a renewal keeps the token */
	assert_int_equal(store_lease_take(f->st, "replica-a", 60000, &again), 1);
	assert_int_equal(again, ta);
	assert_int_equal(store_lease_get(b, &l), 1);
	assert_string_equal(l.holder, "replica-a");
	assert_int_equal(l.token, ta);
	assert_true(l.expires_ms > l.now_ms);
	/* fenced writes go while a holds it */
	store_fence_set(f->st, "replica-a", ta);
	store_fence_on(f->st, true);
	assert_int_equal(store_oc_insert(f->st, "oc-1", "demo", "local", 1, "", T0), 0);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_oc_set_status(f->st, "oc-1", "ready", "", T0 + 1, NULL), 0);
	assert_int_equal(store_commit(f->st), 0);
	/* a's lease lapses (1 ms), b takes it with the next token */
	assert_int_equal(store_lease_take(f->st, "replica-a", 1, &again), 1);
	for (int i = 0; i < 2000 && held != 1; i++)
		held = store_lease_take(b, "replica-b", 60000, &tb);
	assert_int_equal(held, 1);
	assert_int_equal(tb, ta + 1);
	assert_false(store_fence_lost(f->st));
	/* a's fenced writes are refused now, alone or in a batch */
	assert_int_equal(store_oc_set_status(f->st, "oc-1", "deleting", "", T0 + 2, NULL), -1);
	assert_true(store_fence_lost(f->st));
	assert_int_equal(store_begin(f->st), -1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM overclouds WHERE status = 'ready'"), 1);
	/* and a cannot take the lease back while b holds it */
	assert_int_equal(store_lease_take(f->st, "replica-a", 60000, &again), 0);
	/* unfenced, a writes as before */
	store_fence_on(f->st, false);
	assert_int_equal(store_oc_set_status(f->st, "oc-1", "deleting", "", T0 + 3, NULL), 0);
	/* the replicas */
	assert_int_equal(store_replica_seen(f->st, "replica-a", "127.0.0.1:1", "10.0.0.1:2", true), 0);
	assert_int_equal(store_replica_seen(b, "replica-b", "127.0.0.1:3", "10.0.0.1:4", true), 0);
	assert_int_equal(store_replica_seen(b, "replica-b", "127.0.0.1:3", "10.0.0.1:5", false), 0);
	assert_int_equal(store_replica_list(f->st, reps, 4), 2);
	assert_string_equal(reps[0].id, "replica-a");
	assert_string_equal(reps[1].agents, "10.0.0.1:5");
	assert_true(reps[1].seen_ms >= reps[1].started_ms);
	assert_int_equal(store_replica_seen(b, "", "x", "y", false), -1);
	store_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_open_creates_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_and_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binding_refuses_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_writes_are_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data_and_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_schema_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_schema_5_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attached_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_finishes_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_pg_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_write_not_run_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_connection_lost, setup, teardown),
		cmocka_unit_test(test_target_redact),
		cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_insert_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_single_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_multi_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_wrong_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_unknown_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_duplicate_node_rolls_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_enroll_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_hash_never_logged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_facts_touch_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_get_truncates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_foreach_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_foreach_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_commit_and_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_without_commit_rolls_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kill_mid_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overcloud_inputs, setup, teardown),
	};

	util_sha256_hex("secret-a", 8, hash_a);
	util_sha256_hex("secret-b", 8, hash_b);
	log_init("test_store", OC_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
