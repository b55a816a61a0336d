/* oc_inputs.c — the oc_inputs table: the pattern inputs each OverCloud was
 * created with, kept so a later attach or destroy uses what the create used. */
#include "tower/store/store_int.h"

#include <stdlib.h>
#include <string.h>

const struct store_sql store_oc_inputs_sql[] = {
	{ ST_OCI_INSERT, "INSERT INTO oc_inputs (overcloud_id, name, value) VALUES (?1, ?2, ?3)" },
	{ ST_OCI_GET, "SELECT value FROM oc_inputs WHERE overcloud_id = ?1 AND name = ?2" },
	{ ST_OCI_LIST, "SELECT name, value FROM oc_inputs WHERE overcloud_id = ?1 ORDER BY name" },
	{ ST_COUNT, NULL },
};

int store_oci_insert(struct store *st, const char *oc_id, const char *name, const char *value)
{
	return store_exec(st, ST_OCI_INSERT, "insert overcloud input",
			  STORE_ARGS(arg_id(oc_id), arg_text(name), arg_text(value))) == 1 ? 0 : -1;
}

int store_oci_get(struct store *st, const char *oc_id, const char *name, char **value)
{
	struct store_q *s;
	int rc;

	*value = NULL;
	s = store_bound(st, ST_OCI_GET, "get overcloud input",
			STORE_ARGS(arg_id(oc_id), arg_text(name)));
	if (s == NULL)
		return -1;
	rc = store_step(s);
	if (rc == STORE_ROW) {
		*value = strdup(store_col_text(s, 0));
		if (*value == NULL)
			rc = STORE_ERROR;
	} else if (rc != STORE_DONE) {
		store_log(st, "get overcloud input", oc_id);
	}
	store_stmt_done(s);
	return rc == STORE_ROW ? 1 : rc == STORE_DONE ? 0 : -1;
}

int store_oci_foreach(struct store *st, const char *oc_id,
		      int (*fn)(const char *name, const char *value, void *arg), void *arg)
{
	struct store_q *s = store_bound(st, ST_OCI_LIST, "list overcloud inputs",
				      STORE_ARGS(arg_id(oc_id)));
	int rc, ret = 0;

	if (s == NULL)
		return -1;
	/* Few and small rows: fn runs while the statement is open, so it must
	 * not use the store. */
	while (ret == 0 && (rc = store_step(s)) == STORE_ROW) {
		ret = fn(store_col_text(s, 0), store_col_text(s, 1), arg);
	}
	if (ret == 0 && rc != STORE_DONE) {
		store_log(st, "list overcloud inputs", oc_id);
		ret = -1;
	}
	store_stmt_done(s);
	return ret;
}
