/* nodes.c — the nodes table: enrolled nodes (enrollment inserts one while
 * taking a token use), their facts, certificate serials and deletion. */
#include "tower/store/store_int.h"

#include <string.h>

#include "shared/log.h"

#define NODE_FIELD_SIZE(f) sizeof(((struct store_node *)0)->f)

#define NODE_COLUMNS \
	"id, name, role, arch, os, kernel, cert_serial, cpus, mem_total, created_at, last_seen, deleted," \
	" prev_serial, figures"

const struct store_sql store_nodes_sql[] = {
	{ ST_NODE_INSERT, "INSERT INTO nodes (id, name, role, created_at, cert_serial, token_id)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)" },
	{ ST_NODE_UPDATE_FACTS, "UPDATE nodes SET name = ?2, arch = ?3, os = ?4, kernel = ?5,"
				" cpus = ?6, mem_total = ?7, last_seen = ?8"
				" WHERE id = ?1 AND deleted = 0" },
	{ ST_NODE_TOUCH, "UPDATE nodes SET last_seen = ?2 WHERE id = ?1 AND deleted = 0" },
	{ ST_NODE_TOUCH_FIGURES, "UPDATE nodes SET last_seen = ?2, figures = ?3"
				 " WHERE id = ?1 AND deleted = 0" },
	{ ST_NODE_SET_SERIAL, "UPDATE nodes SET prev_serial = cert_serial, cert_serial = ?2"
			      " WHERE id = ?1 AND deleted = 0" },
	{ ST_NODE_GET, "SELECT " NODE_COLUMNS " FROM nodes WHERE id = ?1" },
	{ ST_NODE_LIST, "SELECT " NODE_COLUMNS " FROM nodes WHERE deleted = 0 ORDER BY created_at, id" },
	{ ST_NODE_DELETE, "UPDATE nodes SET deleted = 1 WHERE id = ?1 AND deleted = 0" },
	{ ST_COUNT, NULL },
};

static void row_to_node(struct store_q *s, struct store_node *n)
{
	memset(n, 0, sizeof(*n));
	store_column_copy(s, 0, n->id, sizeof(n->id));
	store_column_copy(s, 1, n->name, sizeof(n->name));
	store_column_copy(s, 2, n->role, sizeof(n->role));
	store_column_copy(s, 3, n->arch, sizeof(n->arch));
	store_column_copy(s, 4, n->os, sizeof(n->os));
	store_column_copy(s, 5, n->kernel, sizeof(n->kernel));
	store_column_copy(s, 6, n->cert_serial, sizeof(n->cert_serial));
	n->cpus = store_col_int(s, 7);
	n->mem_total = store_col_int(s, 8);
	n->created_at = store_col_int(s, 9);
	n->last_seen = store_col_int(s, 10);
	n->deleted = store_col_int(s, 11) != 0;
	store_column_copy(s, 12, n->prev_serial, sizeof(n->prev_serial));
	store_column_copy(s, 13, n->figures, sizeof(n->figures));
}

/* ---- enrollment ---- */

static int insert_node(struct store *st, const char *node_id, const char *name,
		       const char *role, int64_t now, const char *cert_serial,
		       const char *token_id)
{
	return store_exec(st, ST_NODE_INSERT, "insert node",
			  STORE_ARGS(arg_id(node_id), arg_text(name), arg_text(role), arg_int(now),
				     arg_text(cert_serial), arg_id(token_id))) == 1
		       ? 0 : -1;
}

/* Ends the enrollment's transaction or savepoint without keeping anything. */
static void enroll_undo(struct store *st, bool nested)
{
	if (nested) {
		/* ROLLBACK TO keeps the savepoint open; RELEASE ends it. */
		if (store_exec(st, ST_ROLLBACK_TO, "enroll node: rollback", STORE_NO_ARGS) >= 0 &&
		    store_exec(st, ST_RELEASE, "enroll node: rollback", STORE_NO_ARGS) < 0)
			log_error("store: enroll node: savepoint left open");
	} else if (st->be->in_transaction(st->conn) &&
		   store_exec(st, ST_ROLLBACK, "enroll node: rollback", STORE_NO_ARGS) < 0) {
		log_error("store: enroll node: transaction left open");
	}
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

	if (st == NULL || token_id == NULL || secret_hash == NULL || !store_id_ok(node_id) ||
	    !store_str_fits(name, STORE_NODE_NAME_MAX) || !store_str_fits(cert_serial, STORE_ID_MAX) ||
	    role_out == NULL || role_size == 0) {
		log_error("store: enroll node: bad arguments");
		return STORE_ENROLL_ERROR;
	}
	/* A token id or hash of the wrong shape names no token we could hold. */
	if (!store_id_ok(token_id) || strnlen(secret_hash, STORE_HASH_LEN + 1) != STORE_HASH_LEN)
		return STORE_ENROLL_UNKNOWN_TOKEN;

	nested = st->be->in_transaction(st->conn);
	if (store_exec(st, nested ? ST_SAVEPOINT : ST_BEGIN, "enroll node: begin", STORE_NO_ARGS) < 0)
		return STORE_ENROLL_ERROR;

	res = store_token_take(st, token_id, secret_hash, now, role, sizeof(role));
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
	if (store_exec(st, nested ? ST_RELEASE : ST_COMMIT, "enroll node: commit", STORE_NO_ARGS) < 0) {
		res = STORE_ENROLL_ERROR;
		goto fail;
	}
	memcpy(role_out, role, strlen(role) + 1);
	return STORE_ENROLL_OK;

fail:
	enroll_undo(st, nested);
	return res;
}

/* ---- nodes ---- */

int store_node_update_facts(struct store *st, const char *id, const char *name,
			    const char *arch, const char *os, const char *kernel,
			    int64_t cpus, int64_t mem_total, int64_t now)
{
	if (st == NULL || !store_id_ok(id) || !store_str_fits(name, NODE_FIELD_SIZE(name)) ||
	    !store_str_fits(arch, NODE_FIELD_SIZE(arch)) || !store_str_fits(os, NODE_FIELD_SIZE(os)) ||
	    !store_str_fits(kernel, NODE_FIELD_SIZE(kernel)) || cpus < 0 || mem_total < 0) {
		log_error("store: update node facts: bad arguments");
		return -1;
	}
	return store_exec(st, ST_NODE_UPDATE_FACTS, "update node facts",
			  STORE_ARGS(arg_id(id), arg_text(name), arg_text(arch), arg_text(os),
				     arg_text(kernel), arg_int(cpus), arg_int(mem_total),
				     arg_int(now))) == 1
		       ? 0 : -1;
}

int store_node_touch(struct store *st, const char *id, int64_t now)
{
	return store_exec(st, ST_NODE_TOUCH, "touch node", STORE_ARGS(arg_id(id), arg_int(now))) == 1
		       ? 0 : -1;
}

int store_node_touch_figures(struct store *st, const char *id, int64_t now, const char *figures)
{
	if (!store_str_fits(figures, STORE_NODE_FIGURES_MAX))
		return -1;
	return store_exec(st, ST_NODE_TOUCH_FIGURES, "touch node",
			  STORE_ARGS(arg_id(id), arg_int(now), arg_text(figures))) == 1 ? 0 : -1;
}

int store_node_set_serial(struct store *st, const char *id, const char *cert_serial)
{
	if (!store_str_fits(cert_serial, STORE_ID_MAX)) {
		log_error("store: set node serial: bad arguments");
		return -1;
	}
	return store_exec(st, ST_NODE_SET_SERIAL, "set node serial",
			  STORE_ARGS(arg_id(id), arg_text(cert_serial))) == 1
		       ? 0 : -1;
}

int store_node_get(struct store *st, const char *id, struct store_node *out)
{
	struct store_q *s;
	int rc;

	if (out == NULL) {
		log_error("store: get node: bad arguments");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	s = store_bound(st, ST_NODE_GET, "get node", STORE_ARGS(arg_id(id)));
	if (s == NULL)
		return -1;
	rc = store_step(s);
	if (rc == STORE_ROW) {
		row_to_node(s, out);
		store_stmt_done(s);
		return 1;
	}
	if (rc != STORE_DONE)
		store_log(st, "get node", id);
	store_stmt_done(s);
	return rc == STORE_DONE ? 0 : -1;
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
	struct store_q *s;
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
	s = store_bound(st, ST_NODE_LIST, "list nodes", STORE_NO_ARGS);
	if (s == NULL)
		return -1;
	st->in_foreach = true;
	while ((rc = store_step(s)) == STORE_ROW) {
		row_to_node(s, &node);
		ret = fn(&node, arg);
		if (ret != 0)
			break;
	}
	if (rc != STORE_ROW && rc != STORE_DONE) {
		store_log(st, "list nodes", NULL);
		ret = -1;
	}
	store_stmt_done(s);
	st->in_foreach = false;
	return ret;
}

int store_node_delete(struct store *st, const char *id)
{
	int rc = store_exec(st, ST_NODE_DELETE, "delete node", STORE_ARGS(arg_id(id)));

	return rc < 0 ? -1 : rc > 0;
}
