/* oc_steps.c — the oc_steps table: the steps of each OverCloud's create, attach
 * and destroy DAGs with their state, attempts and run. Running them is the engine's. */
#include "tower/store/store_int.h"

const struct store_sql store_oc_steps_sql[] = {
	/* A step already there (a delete started again) stays as it is; OR
	 * IGNORE would also have skipped rows that fail a CHECK, silently. */
	{ ST_OCS_INSERT, "INSERT INTO oc_steps (overcloud_id, dag, name, ord)"
			 " VALUES (?1, ?2, ?3, ?4)"
			 " ON CONFLICT (overcloud_id, dag, name) DO NOTHING" },
	{ ST_OCS_UPDATE, "UPDATE oc_steps SET state = ?4, attempts = ?5, run_id = ?6, error = ?7,"
			 " retry_at_ms = ?8, started_ms = ?9, finished_ms = ?10"
			 " WHERE overcloud_id = ?1 AND dag = ?2 AND name = ?3" },
	{ ST_OCS_FIND_RUN, "SELECT overcloud_id FROM oc_steps WHERE run_id = ?1 AND run_id != ''"
			   " LIMIT 1" },
	{ ST_OCS_LIST, "SELECT dag, name, state, attempts, run_id, error, retry_at_ms, started_ms,"
		       " finished_ms FROM oc_steps WHERE overcloud_id = ?1"
		       " ORDER BY CASE dag WHEN 'create' THEN 0 WHEN 'attach' THEN 1 ELSE 2 END, ord" },
	{ ST_OCS_CLEAR, "DELETE FROM oc_steps WHERE overcloud_id = ?1 AND dag = ?2" },
	{ ST_OCS_COUNT_OPEN, "SELECT count(*) FROM oc_steps WHERE overcloud_id = ?1 AND dag = ?2"
			     " AND state IN ('pending','running')" },
	{ ST_COUNT, NULL },
};

int store_ocs_insert(struct store *st, const char *oc_id, const char *dag, const char *name,
		     int64_t ord)
{
	return store_exec(st, ST_OCS_INSERT, "insert step",
			  STORE_ARGS(arg_id(oc_id), arg_text(dag), arg_text(name), arg_int(ord))) < 0
		       ? -1 : 0;
}

int store_ocs_update(struct store *st, const char *oc_id, const struct store_oc_step *step)
{
	return store_exec(st, ST_OCS_UPDATE, "update step",
			  STORE_ARGS(arg_id(oc_id), arg_text(step->dag), arg_text(step->name),
				     arg_text(step->state), arg_int(step->attempts),
				     arg_text(step->run_id), arg_text(step->error),
				     arg_int(step->retry_at_ms), arg_int(step->started_ms),
				     arg_int(step->finished_ms))) < 0 ? -1 : 0;
}

static void row_to_ocs(struct store_q *s, void *row)
{
	struct store_oc_step *x = row;

	store_column_copy(s, 0, x->dag, sizeof(x->dag));
	store_column_copy(s, 1, x->name, sizeof(x->name));
	store_column_copy(s, 2, x->state, sizeof(x->state));
	x->attempts = store_col_int(s, 3);
	store_column_copy(s, 4, x->run_id, sizeof(x->run_id));
	store_column_copy(s, 5, x->error, sizeof(x->error));
	x->retry_at_ms = store_col_int(s, 6);
	x->started_ms = store_col_int(s, 7);
	x->finished_ms = store_col_int(s, 8);
}

int store_ocs_list(struct store *st, const char *oc_id, struct store_oc_step *out, size_t max)
{
	struct store_q *s = store_bound(st, ST_OCS_LIST, "list steps", STORE_ARGS(arg_id(oc_id)));

	if (s == NULL)
		return -1;
	return store_fill(st, s, "list steps", out, sizeof(*out), max, row_to_ocs);
}

int store_ocs_find_run(struct store *st, const char *run_id, char *oc_id, size_t oc_id_size)
{
	/* "" or an id of the wrong shape is no workflow step's run. */
	if (!store_id_ok(run_id))
		return 0;
	return store_first_text(st, ST_OCS_FIND_RUN, "find the step of a run",
				STORE_ARGS(arg_id(run_id)), oc_id, oc_id_size);
}

int store_ocs_clear(struct store *st, const char *oc_id, const char *dag)
{
	return store_exec(st, ST_OCS_CLEAR, "clear steps",
			  STORE_ARGS(arg_id(oc_id), arg_text(dag))) < 0 ? -1 : 0;
}

int64_t store_ocs_count_open(struct store *st, const char *oc_id, const char *dag)
{
	return store_count(st, ST_OCS_COUNT_OPEN, "count open steps",
			   STORE_ARGS(arg_id(oc_id), arg_text(dag)));
}
