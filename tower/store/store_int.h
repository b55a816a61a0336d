/* store_int.h — what the store's files share and nothing outside tower/store/
 * sees: the statement table, struct store, the typed binding helper. */
#ifndef OC_STORE_INT_H
#define OC_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tower/store/store.h"
#include "tower/store/store_backend.h"

/* Hex sha256: the only secret_hash shape stored or compared. */
#define STORE_HASH_LEN 64

/* Every statement the store runs, prepared once at open. Each table's file
 * gives the SQL of its own (store_*_sql below). */
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
	ST_NODE_TOUCH_FIGURES,
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
	ST_TASK_PENDING_SINCE,
	ST_OC_INSERT,
	ST_OC_SET_STATUS,
	ST_OC_GET,
	ST_OC_LIST,
	ST_OCN_INSERT,
	ST_OCN_UPDATE,
	ST_OCN_LIST,
	ST_OCN_INSERT_ATTACHED,
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
	/* the lease's and the replicas' statements are last: never fenced */
	ST_LEASE_TAKE,
	ST_LEASE_GET,
	ST_LEASE_CHECK,
	ST_REPLICA_SEEN,
	ST_REPLICA_LIST,
	/* any replica rotates the ticket keys: never fenced either */
	ST_TKEY_NEWEST,
	ST_TKEY_ADD,
	ST_TKEY_PRUNE,
	ST_COUNT
};

/* One statement's SQL; each table's list ends with { ST_COUNT, NULL }. */
struct store_sql {
	enum store_stmt which;
	const char *sql;
};

extern const struct store_sql store_tokens_sql[];
extern const struct store_sql store_nodes_sql[];
extern const struct store_sql store_tasks_sql[];
extern const struct store_sql store_overclouds_sql[];
extern const struct store_sql store_oc_nodes_sql[];
extern const struct store_sql store_oc_steps_sql[];
extern const struct store_sql store_oc_inputs_sql[];
extern const struct store_sql store_leases_sql[];
extern const struct store_sql store_ticket_keys_sql[];

struct store {
	const struct store_backend *be;
	struct store_conn *conn;
	struct store_q *stmt[ST_COUNT];
	int version;
	bool in_foreach;	/* ST_NODE_LIST is being stepped */
	/* the fence (leases.c): writes check that this replica holds the
	 * lease with fence_token while fence_on */
	char fence_holder[STORE_REPLICA_MAX];
	int64_t fence_token;
	bool fence_on;
	bool fence_lost;
};

/* ---- the one way a value reaches a statement ----
 * ARG_ID: a row id (token, node, task, run, OverCloud), checked by
 * store_id_ok; ARG_TEXT: any non-NULL string; ARG_INT: an int64. */
enum store_arg_kind { ARG_TEXT, ARG_ID, ARG_INT };

struct store_arg {
	enum store_arg_kind kind;
	const char *text;
	int64_t num;
};

static inline struct store_arg arg_text(const char *text)
{
	return (struct store_arg){ .kind = ARG_TEXT, .text = text };
}

static inline struct store_arg arg_id(const char *id)
{
	return (struct store_arg){ .kind = ARG_ID, .text = id };
}

static inline struct store_arg arg_int(int64_t num)
{
	return (struct store_arg){ .kind = ARG_INT, .num = num };
}

/* STORE_ARGS(arg_id(id), arg_int(now)) expands to "array, count". */
#define STORE_ARGS(...)                                   \
	(const struct store_arg[]){ __VA_ARGS__ },        \
	(sizeof((const struct store_arg[]){ __VA_ARGS__ }) / sizeof(struct store_arg))
#define STORE_NO_ARGS NULL, 0

/* Binds args to ?1..?n of statement which. Refuses (logs what, returns NULL,
 * statement left unbound) an ARG_ID that fails store_id_ok, a NULL
 * ARG_TEXT, or a count that differs from the statement's parameters.
 * Otherwise returns the statement, to be stepped and then store_stmt_done. */
struct store_q *store_bound(struct store *st, enum store_stmt which, const char *what,
			  const struct store_arg *args, size_t n);
/* store_bound, then steps a statement that returns no rows. Returns the
 * number of rows it changed, or -1 (logged). Leaves it reset and unbound. */
int store_exec(struct store *st, enum store_stmt which, const char *what,
	       const struct store_arg *args, size_t n);
/* The first row's text column 0 into out: 1 found, 0 no row, -1 error. */
int store_first_text(struct store *st, enum store_stmt which, const char *what,
		     const struct store_arg *args, size_t n, char *out, size_t out_size);
/* The first row's integer column 0 (a count), or -1. */
int64_t store_count(struct store *st, enum store_stmt which, const char *what,
		    const struct store_arg *args, size_t n);
/* Steps a bound statement to its end, turning each row into an element of
 * elem_size with to_row (0, or -1 when out of memory), so that the caller's
 * callbacks may use the store once the statement is done. *rows (caller
 * frees) and *count hold what was read, also on failure. Returns 0 or -1. */
int store_collect(struct store *st, struct store_q *s, const char *what, size_t elem_size,
		  int (*to_row)(struct store_q *s, void *row), void **rows, size_t *count);
/* Steps a bound statement, turning at most max rows into the elements of
 * out[] (elem_size each) with to_row. Returns the rows read, or -1. */
int store_fill(struct store *st, struct store_q *s, const char *what, void *out, size_t elem_size,
	       size_t max, void (*to_row)(struct store_q *s, void *row));

/* ---- shared helpers (store.c) ---- */

/* True when s is non-NULL and strlen(s) < size (fits a buffer of size). */
bool store_str_fits(const char *s, size_t size);
/* The store's one id rule: non-empty and shorter than STORE_ID_MAX. */
bool store_id_ok(const char *id);
bool store_hash_ok(const char *hash);
/* Writes a formatted reason into err (when err is not NULL). */
void store_set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Logs the connection's current error for the operation what. */
void store_log(struct store *st, const char *what, const char *object);
/* Makes a statement ready for its next use; bindings point at caller memory. */
void store_stmt_done(struct store_q *s);
/* Copies a text column into dst (NUL-terminated, cut at a UTF-8 boundary). */
void store_column_copy(struct store_q *s, int col, char *dst, size_t size);

/* leases.c: whether statement which is checked against the lease while
 * fencing is on, and the check itself (0 held, -1 not or error). */
bool store_fence_applies(const struct store *st, enum store_stmt which);
int store_fence_check(struct store *st);

/* tokens.c: in a transaction, checks the token and takes one use. */
enum store_enroll_result store_token_take(struct store *st, const char *token_id,
					  const char *secret_hash, int64_t now,
					  char *role, size_t role_size);

#endif
