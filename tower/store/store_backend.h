/* store_backend.h — what a database engine gives the store: a connection,
 * statements with ?N parameters, rows, transactions, the schema version. */
#ifndef OC_STORE_BACKEND_H
#define OC_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema both engines are at once every migration has run: the same
 * number means the same tables, columns and rules on either. */
#define STORE_SCHEMA_VERSION 10

/* A backend's connection; its layout is the backend's own. */
struct store_conn;

/* A prepared statement. Each backend's statement struct starts with this
 * header, so a row reader needs nothing but the statement. */
struct store_q {
	const struct store_backend *be;
};

enum store_step {
	STORE_ROW,	/* a row is ready to be read */
	STORE_DONE,	/* no (more) rows; a write has finished */
	STORE_ERROR,	/* failed: the connection's errmsg says why */
};

struct store_backend {
	const char *name;
	/* STORE_SCHEMA_VERSION scripts; entry i takes version i to i + 1. */
	const char *const *migrations;
	/* Starts the transaction a migration step runs in, holding whatever
	 * lock keeps two towers from migrating the same database at once. */
	const char *migration_begin;
	/* SQL of ST_BEGIN .. ST_ROLLBACK_TO, ended by { ST_COUNT, NULL }. */
	const struct store_sql *txn_sql;
	/* What a statement's NOW_MS becomes: the database's clock in ms, so
	 * that the towers' own clocks never decide who holds a lease. */
	const char *now_ms_sql;
	/* What a statement's FOR_SHARE becomes: a row lock held to the end of
	 * the transaction ("" where the whole database has one writer). */
	const char *for_share_sql;

	/* Opens target (never logs it: it may hold a password). */
	struct store_conn *(*open)(const char *target, char *err, size_t err_size);
	void (*close)(struct store_conn *c);
	/* The last failure on c, one line, without secrets. */
	const char *(*errmsg)(struct store_conn *c);
	/* Runs a script of statements with no parameters: 0 or -1. */
	int (*exec_script)(struct store_conn *c, const char *sql);
	int (*version_get)(struct store_conn *c, int *version);
	int (*version_set)(struct store_conn *c, int version);
	/* True inside BEGIN .. COMMIT/ROLLBACK (also when it has failed). */
	bool (*in_transaction)(struct store_conn *c);

	/* sql uses ?1..?n; the backend says them its own way. */
	struct store_q *(*prepare)(struct store_conn *c, int id, const char *sql,
				   char *err, size_t err_size);
	void (*finalize)(struct store_q *q);
	int (*param_count)(struct store_q *q);
	/* index is 1-based; text stays the caller's until reset. 0 or -1. */
	int (*bind_text)(struct store_q *q, int index, const char *text);
	int (*bind_int)(struct store_q *q, int index, int64_t value);
	enum store_step (*step)(struct store_q *q);
	/* NULL for SQL NULL; *len is its length in bytes. */
	const char *(*column_text)(struct store_q *q, int col, size_t *len);
	int64_t (*column_int)(struct store_q *q, int col);
	/* The rows the statement's last write changed. */
	int64_t (*changes)(struct store_q *q);
	/* Ready for the next use: results dropped, bindings cleared. */
	void (*reset)(struct store_q *q);
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_pg;

/* True when target names a PostgreSQL database (a postgresql:// or
 * postgres:// URL) rather than a sqlite file. */
bool store_target_is_pg(const char *target);

static inline enum store_step store_step(struct store_q *q)
{
	return q->be->step(q);
}

static inline int64_t store_col_int(struct store_q *q, int col)
{
	return q->be->column_int(q, col);
}

/* A text column, "" for NULL. */
static inline const char *store_col_text(struct store_q *q, int col)
{
	size_t len;
	const char *text = q->be->column_text(q, col, &len);

	return text != NULL ? text : "";
}

#endif
