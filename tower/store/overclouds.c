/* overclouds.c — the overclouds table: one row per OverCloud with its pattern,
 * provider, size and status. Its nodes, steps and inputs are oc_*.c's. */
#include "tower/store/store_int.h"

#include <stdlib.h>
#include <string.h>

#define OC_COLUMNS "id, pattern, provider, number, size, status, error, created_at, updated_at"

const struct store_sql store_overclouds_sql[] = {
	{ ST_OC_INSERT, "INSERT INTO overclouds (id, pattern, provider, number, size, status,"
			" created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'creating', ?6, ?6)" },
	/* Only from the status the writer read: another replica may have
	 * moved it since (a delete recorded while the leader drives). */
	{ ST_OC_SET_STATUS, "UPDATE overclouds SET status = ?2, error = ?3, updated_at = ?4"
			    " WHERE id = ?1 AND (?5 = '' OR status = ?5)" },
	{ ST_OC_GET, "SELECT " OC_COLUMNS " FROM overclouds WHERE id = ?1" },
	{ ST_OC_LIST, "SELECT " OC_COLUMNS " FROM overclouds ORDER BY created_at, id" },
	{ ST_COUNT, NULL },
};

int store_oc_insert(struct store *st, const char *id, const char *pattern, const char *provider,
		    int64_t number, const char *size, int64_t now)
{
	return store_exec(st, ST_OC_INSERT, "insert overcloud",
			  STORE_ARGS(arg_id(id), arg_text(pattern), arg_text(provider),
				     arg_int(number), arg_text(size ? size : ""), arg_int(now))) == 1
		       ? 0 : -1;
}

int store_oc_set_status(struct store *st, const char *id, const char *status, const char *error,
			int64_t now, const char *expected)
{
	int changed = store_exec(st, ST_OC_SET_STATUS, "overcloud status",
				 STORE_ARGS(arg_id(id), arg_text(status), arg_text(error ? error : ""),
					    arg_int(now), arg_text(expected ? expected : "")));

	return changed < 0 ? -1 : changed == 0 && expected != NULL ? 1 : 0;
}

static int row_to_oc(struct store_q *s, void *row)
{
	struct store_overcloud *oc = row;

	memset(oc, 0, sizeof(*oc));
	store_column_copy(s, 0, oc->id, sizeof(oc->id));
	store_column_copy(s, 1, oc->pattern, sizeof(oc->pattern));
	store_column_copy(s, 2, oc->provider, sizeof(oc->provider));
	oc->number = store_col_int(s, 3);
	store_column_copy(s, 4, oc->size, sizeof(oc->size));
	store_column_copy(s, 5, oc->status, sizeof(oc->status));
	store_column_copy(s, 6, oc->error, sizeof(oc->error));
	oc->created_at = store_col_int(s, 7);
	oc->updated_at = store_col_int(s, 8);
	return 0;
}

int store_oc_get(struct store *st, const char *id, struct store_overcloud *out)
{
	struct store_q *s;
	int rc;

	/* An id of the wrong shape names no OverCloud: not found, not an error. */
	if (!store_id_ok(id))
		return 0;
	s = store_bound(st, ST_OC_GET, "get overcloud", STORE_ARGS(arg_id(id)));
	if (s == NULL)
		return -1;
	rc = store_step(s);
	if (rc == STORE_ROW)
		row_to_oc(s, out);
	else if (rc != STORE_DONE)
		store_log(st, "get overcloud", id);
	store_stmt_done(s);
	return rc == STORE_ROW ? 1 : rc == STORE_DONE ? 0 : -1;
}

/* Collects rows first, so fn may use the store. */
int store_oc_foreach(struct store *st, int (*fn)(const struct store_overcloud *oc, void *arg),
		     void *arg)
{
	struct store_q *s = store_bound(st, ST_OC_LIST, "list overclouds", STORE_NO_ARGS);
	struct store_overcloud *rows;
	void *mem;
	size_t count;
	int ret;

	if (s == NULL)
		return -1;
	ret = store_collect(st, s, "list overclouds", sizeof(*rows), row_to_oc, &mem, &count);
	rows = mem;
	for (size_t i = 0; i < count && ret == 0; i++)
		ret = fn(&rows[i], arg);
	free(rows);
	return ret;
}
