/* tasks.h — the tower's side of work on agents: creates tasks (persisted
 * first), sends them when their node is connected, stores logs, progress and
 * results exactly once, and tells watchers what happens. */
#ifndef OC_TASKS_H
#define OC_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct hub;
struct msg;
struct store;
struct store_task;
struct role_set;
struct tasks;
struct event_base;
struct tasks_watch;

#define TASKS_LOG_CAP_DEFAULT (16 * 1024 * 1024)

/* Logs go to <state_dir>/logs/<task>.log, at most log_cap bytes each. */
struct tasks *tasks_new(struct store *st, struct hub *hub, const char *state_dir,
			int64_t log_cap, char *err, size_t err_size);
void tasks_free(struct tasks *tk);
/* Roles whose bundles go with role tasks (borrowed; may be NULL). */
void tasks_set_roles(struct tasks *tk, const struct role_set *roles);
/* Every 5 s, ends as "timeout" the tasks whose node has not answered 30 s
 * past their own timeout (a dead node must not hold up a destroy). */
int tasks_start_sweeper(struct tasks *tk, struct event_base *base);

#define TASKS_ID_SIZE 40

/* spec: {"argv": [..], "timeout": s, "env": {..}, "mask": [..],
 * "bundle_hash": "..", "outputs": [..], "secret_outputs": [..]}.
 * Persists one task of run_id per node in node_ids, all in one transaction
 * (so call it outside one), then sends those whose node is connected.
 * task_ids_out (may be NULL) gets count ids. Returns 0, or -1 with err and
 * nothing stored. */
int tasks_create_run(struct tasks *tk, const char *run_id, const char *const *node_ids,
		     size_t count, const char *role, const char *step, json_t *spec,
		     char (*task_ids_out)[TASKS_ID_SIZE], char *err, size_t err_size);
/* The spec of one step of a loaded role with the given inputs (a JSON object
 * of strings): script, timeout, INPUT_* environment, masks for secret
 * inputs, declared and secret outputs, bundle hash. Returns NULL with a
 * reason in err (unknown role/step/input, missing or non-string input). */
json_t *tasks_role_spec(struct tasks *tk, const char *role, const char *step, json_t *inputs,
			char *err, size_t err_size);

/* A fresh run id ("r-" + hex) into out (>= 20 bytes). */
void tasks_new_run_id(char *out, size_t size);

/* Called after a task of run_id has finished (its result is stored). */
void tasks_set_done_hook(struct tasks *tk, void (*fn)(void *arg, const char *run_id), void *arg);

/* For the hub (see hub_events). */
void tasks_on_node_ready(void *tk, const char *node_id);
void tasks_on_task_msg(void *tk, const char *node_id, const struct msg *m);

/* A task as the API shows it: no secret output values. Caller decrefs. */
json_t *tasks_task_json(struct tasks *tk, const struct store_task *t);
/* All tasks of a run as an array, NULL when the run is unknown. */
json_t *tasks_run_json(struct tasks *tk, const char *run_id);
/* The log file path of a task into out. */
void tasks_log_path(struct tasks *tk, const char *task_id, char *out, size_t size);

/* Watches a run: fn gets ("log", {task_id, node_id, node, stream, data}),
 * ("progress", {task_id, node, percent, message}), ("task", task json) and
 * finally ("end", {"run_id"}) once every task of the run is finished; after
 * "end" the watch is gone (fn must not unwatch it). The current state is
 * replayed first (logs so far, tasks), so nothing is missed; *out is NULL
 * when the run had already ended. fn must not call tasks_unwatch. Returns 0,
 * or -1 when the run is unknown. */
typedef void (*tasks_watch_fn)(void *arg, const char *event, json_t *data);
int tasks_watch_run(struct tasks *tk, const char *run_id, tasks_watch_fn fn, void *arg,
		    struct tasks_watch **out);
void tasks_unwatch(struct tasks_watch *w);

#endif
