/* store.c — the tower's repository on a backend (sqlite or PostgreSQL): its
 * migration loop, transactions and the one binding helper; rows are each table's file's. */
#include "tower/store/store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/metrics/telemetry.h"

/* Every table's statements; store_open prepares them all and refuses a gap. */
static const struct store_sql *const store_tables[] = {
	store_tokens_sql,     store_nodes_sql,	  store_tasks_sql,    store_overclouds_sql,
	store_oc_nodes_sql,   store_oc_steps_sql, store_oc_inputs_sql, store_leases_sql,
	store_ticket_keys_sql,
};

/* ---- small helpers ---- */

void store_set_err(char *err, size_t err_size, const char *fmt, ...)
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
		  st->be->errmsg(st->conn));
}

void store_stmt_done(struct store_q *s)
{
	s->be->reset(s);
}

/* The first ARG_ID of args names the row in log lines. */
static const char *args_object(const struct store_arg *args, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (args[i].kind == ARG_ID)
			return args[i].text;
	return NULL;
}

struct store_q *store_bound(struct store *st, enum store_stmt which, const char *what,
			    const struct store_arg *args, size_t n)
{
	struct store_q *s;
	int rc = 0;

	if (st == NULL || (unsigned)which >= ST_COUNT) {
		log_error("store: %s: no store", what);
		return NULL;
	}
	s = st->stmt[which];
	if ((size_t)st->be->param_count(s) != n) {
		log_error("store: %s: %zu values for %d parameters", what, n,
			  st->be->param_count(s));
		return NULL;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct store_arg *a = &args[i];

		if ((a->kind == ARG_ID && !store_id_ok(a->text)) ||
		    (a->kind == ARG_TEXT && a->text == NULL)) {
			log_error("store: %s: bad %s (value %zu)", what,
				  a->kind == ARG_ID ? "id" : "text", i + 1);
			store_stmt_done(s);
			return NULL;
		}
		if (a->kind == ARG_INT)
			rc = st->be->bind_int(s, (int)i + 1, a->num);
		else
			rc = st->be->bind_text(s, (int)i + 1, a->text);
	}
	if (rc != 0) {
		store_log(st, what, args_object(args, n));
		store_stmt_done(s);
		return NULL;
	}
	return s;
}

/* A fenced write outside a batch is a batch of its own: store_begin checks
 * the lease and keeps its row locked until the write is committed. */
static int exec_fenced(struct store *st, enum store_stmt which, const char *what,
		       const struct store_arg *args, size_t n)
{
	int changes;

	if (store_begin(st) != 0)
		return -1;
	changes = store_exec(st, which, what, args, n);
	if (changes < 0) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st) == 0 ? changes : -1;
}

int store_exec(struct store *st, enum store_stmt which, const char *what,
	       const struct store_arg *args, size_t n)
{
	struct store_q *s;
	int changes;

	if (st != NULL && (unsigned)which < ST_COUNT && store_fence_applies(st, which) &&
	    !st->be->in_transaction(st->conn))
		return exec_fenced(st, which, what, args, n);
	s = store_bound(st, which, what, args, n);
	if (s == NULL)
		return -1;
	if (store_step(s) != STORE_DONE) {
		store_log(st, what, args_object(args, n));
		store_stmt_done(s);
		return -1;
	}
	changes = (int)st->be->changes(s);
	store_stmt_done(s);
	return changes;
}

int store_first_text(struct store *st, enum store_stmt which, const char *what,
		     const struct store_arg *args, size_t n, char *out, size_t out_size)
{
	struct store_q *s = store_bound(st, which, what, args, n);
	enum store_step rc;
	int found = 0;

	if (s == NULL)
		return -1;
	rc = store_step(s);
	if (rc == STORE_ROW) {
		store_column_copy(s, 0, out, out_size);
		found = 1;
	} else if (rc != STORE_DONE) {
		store_log(st, what, args_object(args, n));
		found = -1;
	}
	store_stmt_done(s);
	return found;
}

int64_t store_count(struct store *st, enum store_stmt which, const char *what,
		    const struct store_arg *args, size_t n)
{
	struct store_q *s = store_bound(st, which, what, args, n);
	int64_t count = -1;

	if (s == NULL)
		return -1;
	if (store_step(s) == STORE_ROW)
		count = store_col_int(s, 0);
	else
		store_log(st, what, args_object(args, n));
	store_stmt_done(s);
	return count;
}

int store_collect(struct store *st, struct store_q *s, const char *what, size_t elem_size,
		  int (*to_row)(struct store_q *s, void *row), void **rows, size_t *count)
{
	size_t cap = 0;
	char *bigger;
	enum store_step rc;
	bool nomem = false;

	*rows = NULL;
	*count = 0;
	while ((rc = store_step(s)) == STORE_ROW) {
		if (*count == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = realloc(*rows, cap * elem_size);
			if (bigger == NULL) {
				nomem = true;
				break;
			}
			*rows = bigger;
		}
		if (to_row(s, (char *)*rows + *count * elem_size) != 0) {
			nomem = true;
			break;
		}
		(*count)++;
	}
	if (nomem || rc != STORE_DONE)
		log_error("store: %s: %s", what, nomem ? "out of memory" : st->be->errmsg(st->conn));
	store_stmt_done(s);
	return !nomem && rc == STORE_DONE ? 0 : -1;
}

int store_fill(struct store *st, struct store_q *s, const char *what, void *out,
	       size_t elem_size, size_t max, void (*to_row)(struct store_q *s, void *row))
{
	size_t count = 0;
	enum store_step rc = STORE_DONE;

	while (count < max && (rc = store_step(s)) == STORE_ROW) {
		memset((char *)out + count * elem_size, 0, elem_size);
		to_row(s, (char *)out + count * elem_size);
		count++;
	}
	if (count < max && rc != STORE_DONE) {
		log_error("store: %s: %s", what, st->be->errmsg(st->conn));
		store_stmt_done(s);
		return -1;
	}
	store_stmt_done(s);
	return (int)count;
}

/* Copies a text column into dst, truncating at a UTF-8 character boundary
 * when it does not fit; NULL becomes "". dst is always NUL-terminated. */
void store_column_copy(struct store_q *s, int col, char *dst, size_t size)
{
	size_t len;
	const unsigned char *text = (const unsigned char *)s->be->column_text(s, col, &len);

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

/* Appends src to out, each NOW_MS and FOR_SHARE in it in the backend's words. */
static int backend_words(const struct store_backend *be, const char *src, char *out, size_t size)
{
	size_t len = 0;

	while (*src != '\0') {
		const char *word = NULL;
		size_t skip = 1, add;

		if (strncmp(src, "NOW_MS", 6) == 0) {
			word = be->now_ms_sql;
			skip = 6;
		} else if (strncmp(src, "FOR_SHARE", 9) == 0) {
			word = be->for_share_sql;
			skip = 9;
		}
		add = word != NULL ? strlen(word) : 1;
		if (len + add >= size)
			return -1;
		memcpy(out + len, word != NULL ? word : src, add);
		len += add;
		src += skip;
	}
	out[len] = '\0';
	return 0;
}

static int prepare_one(struct store *st, const struct store_sql *q, char *err, size_t err_size)
{
	char sql[2048];

	if (st->stmt[q->which] != NULL) {
		store_set_err(err, err_size, "statement %d given twice", (int)q->which);
		return -1;
	}
	if (backend_words(st->be, q->sql, sql, sizeof(sql)) != 0) {
		store_set_err(err, err_size, "statement %d is too long", (int)q->which);
		return -1;
	}
	st->stmt[q->which] = st->be->prepare(st->conn, (int)q->which, sql, err, err_size);
	return st->stmt[q->which] != NULL ? 0 : -1;
}

static int prepare_all(struct store *st, char *err, size_t err_size)
{
	for (const struct store_sql *q = st->be->txn_sql; q->sql != NULL; q++)
		if (prepare_one(st, q, err, err_size) < 0)
			return -1;
	for (size_t t = 0; t < OC_ARRAY_LEN(store_tables); t++)
		for (const struct store_sql *q = store_tables[t]; q->sql != NULL; q++)
			if (prepare_one(st, q, err, err_size) < 0)
				return -1;
	for (int i = 0; i < ST_COUNT; i++) {
		if (st->stmt[i] == NULL) {
			store_set_err(err, err_size, "statement %d has no SQL", i);
			return -1;
		}
	}
	return 0;
}

/* Brings the schema to STORE_SCHEMA_VERSION, one migration per transaction
 * together with its version bump. The version is read inside each write
 * transaction (the backend's migration_begin holds the lock), so two towers
 * opening the same database at once do not both apply a migration. */
static int migrate(struct store *st, char *err, size_t err_size)
{
	const struct store_backend *be = st->be;
	int v;

	for (;;) {
		if (be->exec_script(st->conn, be->migration_begin) < 0) {
			store_set_err(err, err_size, "begin migration: %s", be->errmsg(st->conn));
			goto fail;
		}
		if (be->version_get(st->conn, &v) < 0) {
			store_set_err(err, err_size, "read schema version: %s", be->errmsg(st->conn));
			goto fail;
		}
		if (v < 0 || v > STORE_SCHEMA_VERSION) {
			store_set_err(err, err_size,
				"database schema version %d is newer than this build knows (%d); "
				"use a newer tower",
				v, STORE_SCHEMA_VERSION);
			goto fail;
		}
		if (v == STORE_SCHEMA_VERSION)
			break;
		if (be->exec_script(st->conn, be->migrations[v]) < 0) {
			store_set_err(err, err_size, "migration %d: %s", v + 1, be->errmsg(st->conn));
			goto fail;
		}
		if (be->version_set(st->conn, v + 1) < 0 || be->exec_script(st->conn, "COMMIT") < 0) {
			store_set_err(err, err_size, "migration %d: %s", v + 1, be->errmsg(st->conn));
			goto fail;
		}
	}
	if (be->exec_script(st->conn, "COMMIT") < 0) {
		store_set_err(err, err_size, "end migration: %s", be->errmsg(st->conn));
		goto fail;
	}
	st->version = v;
	return 0;

fail:
	if (be->in_transaction(st->conn))
		be->exec_script(st->conn, "ROLLBACK");
	return -1;
}

bool store_target_is_pg(const char *target)
{
	return target != NULL &&
	       (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0);
}

/* Writes src[0..n) with "***" in place of [from, to). */
static void put_cut(char *out, size_t size, const char *src, size_t from, size_t to)
{
	snprintf(out, size, "%.*s***%s", (int)from, src, src + to);
}

void store_target_redact(const char *path, char *out, size_t out_size)
{
	const char *auth, *end, *at = NULL, *colon = NULL, *pw;
	char tmp[1024];

	if (out == NULL || out_size == 0)
		return;
	snprintf(out, out_size, "%s", path ? path : "");
	if (!store_target_is_pg(out))
		return;
	/* user:PASS@ in the authority (up to the path, the query or the end) */
	auth = strstr(out, "://") + 3;
	end = auth + strcspn(auth, "/?");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at != NULL) {
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon != NULL) {
			snprintf(tmp, sizeof(tmp), "%s", out);
			put_cut(out, out_size, tmp, (size_t)(colon + 1 - out), (size_t)(at - out));
		}
	}
	/* password=PASS among the query's parameters */
	pw = strchr(out, '?');
	while (pw != NULL && (pw = strstr(pw, "password=")) != NULL) {
		size_t from, to;

		if (pw[-1] != '?' && pw[-1] != '&') {
			pw++;
			continue;
		}
		from = (size_t)(pw + 9 - out);
		to = from + strcspn(out + from, "&");
		snprintf(tmp, sizeof(tmp), "%s", out);
		put_cut(out, out_size, tmp, from, to);
		pw = out + from + 3;
	}
}

struct store *store_open(const char *path, char *err, size_t err_size)
{
	struct store *st = NULL;

	if (path == NULL || path[0] == '\0') {
		store_set_err(err, err_size, "no database path");
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		store_set_err(err, err_size, "out of memory");
		return NULL;
	}
	st->be = store_target_is_pg(path) ? &store_backend_pg : &store_backend_sqlite;
	st->conn = st->be->open(path, err, err_size);
	if (st->conn == NULL)
		goto fail;
	if (migrate(st, err, err_size) < 0)
		goto fail;
	if (prepare_all(st, err, err_size) < 0)
		goto fail;
	return st;

fail:
	for (int i = 0; i < ST_COUNT; i++)
		st->be->finalize(st->stmt[i]);
	if (st->conn != NULL)
		st->be->close(st->conn);
	free(st);
	return NULL;
}

/* An open store_begin that was never committed is rolled back: closing is not
 * committing. */
void store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->be->in_transaction(st->conn)) {
		log_warn("store: closing with an open transaction, rolling it back");
		if (store_exec(st, ST_ROLLBACK, "rollback", STORE_NO_ARGS) < 0)
			log_warn("store: rollback failed, the database will discard it on close");
	}
	for (int i = 0; i < ST_COUNT; i++)
		st->be->finalize(st->stmt[i]);
	st->be->close(st->conn);
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
	if (st->be->in_transaction(st->conn)) {
		log_error("store: begin: a transaction is already open");
		return -1;
	}
	if (store_exec(st, ST_BEGIN, "begin", STORE_NO_ARGS) < 0)
		return -1;
	if (st->fence_on && st->fence_token > 0 && store_fence_check(st) != 0) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

int store_commit(struct store *st)
{
	double started;

	if (st == NULL)
		return -1;
	if (!st->be->in_transaction(st->conn)) {
		log_error("store: commit: no transaction is open");
		return -1;
	}
	started = telemetry_now();
	if (store_exec(st, ST_COMMIT, "commit", STORE_NO_ARGS) < 0) {
		if (st->be->in_transaction(st->conn))
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
	if (!st->be->in_transaction(st->conn))
		return 0;
	return store_exec(st, ST_ROLLBACK, "rollback", STORE_NO_ARGS) < 0 ? -1 : 0;
}
