/* tasks.c — the tasks table: work sent to agents, grouped by run, with its
 * state, progress, log size and result. Sending and results are fleet/tasks.c's. */
#include "tower/store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "shared/log.h"

#define TASK_COLUMNS \
	"id, run_id, node_id, role, step, spec, state, exit_code, reason, outputs, progress," \
	" progress_msg, log_bytes, created_at, started_at, finished_at, duration_ms, log_seq," \
	" created_ms, finished_ms"

const struct store_sql store_tasks_sql[] = {
	{ ST_TASK_INSERT, "INSERT INTO tasks (id, run_id, node_id, role, step, spec, created_at,"
			  " created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7 / 1000, ?7)" },
	/* Only forward: a late "accepted" never undoes a finished task. */
	{ ST_TASK_SET_STATE, "UPDATE tasks SET state = ?2,"
			     " started_at = CASE WHEN ?2 = 'running' AND started_at = 0 THEN ?3"
			     " ELSE started_at END"
			     " WHERE id = ?1 AND state IN ('pending','sent','running')" },
	{ ST_TASK_PROGRESS, "UPDATE tasks SET progress = ?2, progress_msg = ?3"
			    " WHERE id = ?1 AND state IN ('pending','sent','running')" },
	/* A task that ended within the agent's "accepted" delay was never
	 * marked running: its start is its end less its duration. */
	{ ST_TASK_FINISH, "UPDATE tasks SET state = ?2, exit_code = ?3, duration_ms = ?4,"
			  " reason = ?5, outputs = ?6, finished_at = ?7 / 1000, finished_ms = ?7,"
			  " started_at = CASE WHEN started_at = 0 AND CAST(?4 AS BIGINT) > 0"
			  " THEN (CAST(?7 AS BIGINT) - CAST(?4 AS BIGINT)) / 1000 ELSE started_at END,"
			  " progress = CASE WHEN ?2 = 'done' THEN 100 ELSE progress END"
			  " WHERE id = ?1 AND state IN ('pending','sent','running')" },
	{ ST_TASK_ADD_LOG, "UPDATE tasks SET log_bytes = log_bytes + ?2, log_seq = ?3 WHERE id = ?1" },
	{ ST_TASK_GET, "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1" },
	{ ST_TASK_OPEN_FOR_NODE, "SELECT " TASK_COLUMNS " FROM tasks WHERE node_id = ?1"
				 " AND state IN ('pending','sent','running') ORDER BY created_at, rowid" },
	{ ST_TASK_OPEN_OLDER, "SELECT " TASK_COLUMNS " FROM tasks WHERE state IN"
			      " ('pending','sent','running') AND created_ms < CAST(?1 AS BIGINT)"
			      " ORDER BY created_at, rowid" },
	{ ST_TASK_BY_RUN, "SELECT " TASK_COLUMNS " FROM tasks WHERE run_id = ?1"
			  " ORDER BY created_at, rowid" },
	{ ST_TASK_COUNT_OPEN, "SELECT count(*) FROM tasks WHERE run_id = ?1"
			      " AND state IN ('pending','sent','running')" },
	{ ST_TASK_COUNT_BY_STATE, "SELECT state, count(*) FROM tasks GROUP BY state ORDER BY state" },
	{ ST_TASK_PENDING_SINCE, "SELECT " TASK_COLUMNS " FROM tasks WHERE state = 'pending'"
				 " AND created_ms >= CAST(?1 AS BIGINT) ORDER BY created_at, rowid" },
	{ ST_COUNT, NULL },
};

int store_task_insert(struct store *st, const char *id, const char *run_id, const char *node_id,
		      const char *role, const char *step, const char *spec_json, int64_t now)
{
	return store_exec(st, ST_TASK_INSERT, "insert task",
			  STORE_ARGS(arg_id(id), arg_id(run_id), arg_id(node_id), arg_text(role),
				     arg_text(step), arg_text(spec_json), arg_int(now))) == 1
		       ? 0 : -1;
}

int store_task_set_state(struct store *st, const char *id, const char *state, int64_t now)
{
	return store_exec(st, ST_TASK_SET_STATE, "set task state",
			  STORE_ARGS(arg_id(id), arg_text(state), arg_int(now))) < 0 ? -1 : 0;
}

int store_task_progress(struct store *st, const char *id, int64_t percent, const char *message)
{
	return store_exec(st, ST_TASK_PROGRESS, "task progress",
			  STORE_ARGS(arg_id(id), arg_int(percent),
				     arg_text(message ? message : ""))) < 0 ? -1 : 0;
}

int store_task_finish(struct store *st, const char *id, const char *state, int64_t exit_code,
		      int64_t duration_ms, const char *reason, const char *outputs_json, int64_t now)
{
	int rc = store_exec(st, ST_TASK_FINISH, "finish task",
			    STORE_ARGS(arg_id(id), arg_text(state), arg_int(exit_code),
				       arg_int(duration_ms), arg_text(reason ? reason : ""),
				       arg_text(outputs_json ? outputs_json : "{}"), arg_int(now)));

	return rc < 0 ? -1 : rc > 0;
}

int store_task_add_log(struct store *st, const char *id, int64_t bytes, int64_t seq)
{
	return store_exec(st, ST_TASK_ADD_LOG, "task log size",
			  STORE_ARGS(arg_id(id), arg_int(bytes), arg_int(seq))) < 0 ? -1 : 0;
}

/* A text column, or dflt when it is NULL. */
static const char *text_or(struct store_q *s, int col, const char *dflt)
{
	size_t len;
	const char *text = s->be->column_text(s, col, &len);

	return text != NULL ? text : dflt;
}

static int row_to_task(struct store_q *s, void *row)
{
	struct store_task *t = row;

	memset(t, 0, sizeof(*t));
	store_column_copy(s, 0, t->id, sizeof(t->id));
	store_column_copy(s, 1, t->run_id, sizeof(t->run_id));
	store_column_copy(s, 2, t->node_id, sizeof(t->node_id));
	store_column_copy(s, 3, t->role, sizeof(t->role));
	store_column_copy(s, 4, t->step, sizeof(t->step));
	t->spec = strdup(text_or(s, 5, "{}"));
	store_column_copy(s, 6, t->state, sizeof(t->state));
	t->exit_code = store_col_int(s, 7);
	store_column_copy(s, 8, t->reason, sizeof(t->reason));
	t->outputs = strdup(text_or(s, 9, "{}"));
	t->progress = store_col_int(s, 10);
	store_column_copy(s, 11, t->progress_msg, sizeof(t->progress_msg));
	t->log_bytes = store_col_int(s, 12);
	t->created_at = store_col_int(s, 13);
	t->started_at = store_col_int(s, 14);
	t->finished_at = store_col_int(s, 15);
	t->duration_ms = store_col_int(s, 16);
	t->log_seq = store_col_int(s, 17);
	t->created_ms = store_col_int(s, 18);
	t->finished_ms = store_col_int(s, 19);
	if (t->spec == NULL || t->outputs == NULL) {
		store_task_clear(t);
		return -1;
	}
	return 0;
}

void store_task_clear(struct store_task *t)
{
	if (t == NULL)
		return;
	free(t->spec);
	free(t->outputs);
	t->spec = t->outputs = NULL;
}

int store_task_get(struct store *st, const char *id, struct store_task *out)
{
	struct store_q *s;
	int rc;

	memset(out, 0, sizeof(*out));
	s = store_bound(st, ST_TASK_GET, "get task", STORE_ARGS(arg_id(id)));
	if (s == NULL)
		return -1;
	rc = store_step(s);
	if (rc == STORE_ROW) {
		rc = row_to_task(s, out) == 0 ? 1 : -1;
		store_stmt_done(s);
		return rc;
	}
	if (rc != STORE_DONE)
		store_log(st, "get task", id);
	store_stmt_done(s);
	return rc == STORE_DONE ? 0 : -1;
}

/* Reads every matching row first, then calls fn: fn may use the store freely. */
static int task_foreach(struct store *st, enum store_stmt which, struct store_arg key,
			int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	struct store_q *s;
	struct store_task *rows;
	void *mem;
	size_t count;
	int ret;

	if (fn == NULL)
		return -1;
	s = store_bound(st, which, "list tasks", &key, 1);
	if (s == NULL)
		return -1;
	ret = store_collect(st, s, "list tasks", sizeof(*rows), row_to_task, &mem, &count);
	rows = mem;
	for (size_t i = 0; i < count; i++) {
		if (ret == 0)
			ret = fn(&rows[i], arg);
		store_task_clear(&rows[i]);
	}
	free(rows);
	return ret;
}

int store_task_foreach_open(struct store *st, const char *node_id,
			    int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	return task_foreach(st, ST_TASK_OPEN_FOR_NODE, arg_id(node_id), fn, arg);
}

int store_task_foreach_open_before(struct store *st, int64_t created_before_ms,
				   int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	return task_foreach(st, ST_TASK_OPEN_OLDER, arg_int(created_before_ms), fn, arg);
}

int store_task_foreach_pending_since(struct store *st, int64_t created_since_ms,
				     int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	return task_foreach(st, ST_TASK_PENDING_SINCE, arg_int(created_since_ms), fn, arg);
}

int store_task_foreach_run(struct store *st, const char *run_id,
			   int (*fn)(const struct store_task *task, void *arg), void *arg)
{
	return task_foreach(st, ST_TASK_BY_RUN, arg_id(run_id), fn, arg);
}

int64_t store_task_count_open(struct store *st, const char *run_id)
{
	return store_count(st, ST_TASK_COUNT_OPEN, "count open tasks", STORE_ARGS(arg_id(run_id)));
}

int store_task_count_by_state(struct store *st,
			      int (*fn)(const char *state, int64_t count, void *arg), void *arg)
{
	struct store_q *s = store_bound(st, ST_TASK_COUNT_BY_STATE, "count tasks by state",
				      STORE_NO_ARGS);
	int rc, ret = 0;

	if (s == NULL)
		return -1;
	while ((rc = store_step(s)) == STORE_ROW) {
		ret = fn(store_col_text(s, 0), store_col_int(s, 1), arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != STORE_DONE) {
		store_log(st, "count tasks by state", NULL);
		ret = -1;
	}
	store_stmt_done(s);
	return ret;
}
