/* tasks.h — the tower's side of work on agents: creates tasks (persisted
 * first), sends them when their node is connected, stores logs, progress and
 * results exactly once, and tells watchers what happens. */
#ifndef OC_TASKS_H
#define OC_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tower/fleet/task_spec.h"

struct hub;
struct msg;
struct store;
struct store_task;
struct role_set;
struct tasks;
struct event_base;
struct tasks_watch;
struct feed;
struct feed_note;

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
/* For replicas sharing a database: every 5 s (OVERCLOUD_RELAY_POLL_MS in
 * the environment: another interval), sends the still pending tasks (made
 * by any replica in the last day) whose node is connected here. The feed's
 * note brings them at once; this is its safety net. */
int tasks_start_relay(struct tasks *tk, struct event_base *base);
/* Replicas: tell the others of runs made, tasks moved and log bytes here
 * (borrowed; NULL when alone). */
void tasks_set_feed(struct tasks *tk, struct feed *feed);
/* Replicas: a note from another replica: send the new run's tasks whose
 * node is here, tell this tower's run watchers what another replica's
 * tasks did, keep a copy of their logs. */
void tasks_on_feed(struct tasks *tk, const struct feed_note *note);

#define TASKS_ID_SIZE 40

/* A task's life: pending (stored) -> sent (queued to its node) -> running
 * (the agent accepted it) -> one final state. The store keeps the names of
 * task_state_name(); only tasks.c's task_change_state() moves a task. */
enum task_state {
	TASK_PENDING,
	TASK_SENT,
	TASK_RUNNING,
	TASK_DONE,
	TASK_FAILED,
	TASK_TIMEOUT,
	TASK_CANCELLED,
	TASK_STATE_COUNT
};
const char *task_state_name(enum task_state state);
bool task_state_final(enum task_state state);
/* The state a name (the store's, the API's) stands for: false when none. */
bool task_state_from_name(const char *name, enum task_state *out);
/* The state of a stored task (an unknown name reads as TASK_FAILED). */
enum task_state task_state_of(const struct store_task *t);

/* Persists one task of run_id per node in node_ids, all in one transaction
 * (so call it outside one), then sends those whose node is connected.
 * task_ids_out (may be NULL) gets count ids. Returns 0, or -1 with err and
 * nothing stored. */
int tasks_create_run(struct tasks *tk, const char *run_id, const char *const *node_ids,
		     size_t count, const char *role, const char *step,
		     const struct task_spec *spec, char (*task_ids_out)[TASKS_ID_SIZE],
		     char *err, size_t err_size);

/* An input given to a role step; value NULL means it was not a string. */
struct task_input {
	const char *name;
	const char *value;
};
/* Fills *out with the spec of one step of a loaded role with the given
 * inputs (a later input of the same name wins): script, timeout, INPUT_*
 * environment, masks for secret inputs, declared and secret outputs,
 * bundle hash. Returns 0, or -1 with a reason in err (unknown role, step or
 * input, missing or non-string input) and *out empty. */
int tasks_role_spec(struct tasks *tk, const char *role, const char *step,
		    const struct task_input *inputs, size_t input_count, struct task_spec *out,
		    char *err, size_t err_size);
/* A fresh run id ("r-" + hex) into out (>= 20 bytes). */
void tasks_new_run_id(char *out, size_t size);

/* Called after a task of run_id has finished (its result is stored). */
void tasks_set_done_hook(struct tasks *tk, void (*fn)(void *arg, const char *run_id), void *arg);

/* For the hub (see hub_events). */
void tasks_on_node_ready(void *tk, const char *node_id);
void tasks_on_task_msg(void *tk, const char *node_id, const struct msg *m);

/* The log file path of a task into out. */
void tasks_log_path(struct tasks *tk, const char *task_id, char *out, size_t size);

/* What a run's watcher hears. Pointers are valid during the call only. */
enum tasks_event_kind {
	TASKS_EVENT_LOG,        /* output of a task */
	TASKS_EVENT_PROGRESS,   /* a task's progress report */
	TASKS_EVENT_TASK,       /* a task changed state (or, in the replay, is) */
	TASKS_EVENT_END         /* every task of the run is finished */
};
struct tasks_event {
	enum tasks_event_kind kind;
	const char *run_id;
	const struct store_task *task;  /* TASK: the task as stored */
	const char *task_id;            /* LOG, PROGRESS */
	const char *node_id;            /* LOG */
	const char *node;               /* LOG, PROGRESS: the node's name (or id) */
	const char *stream;             /* LOG: "stdout" or "stderr" */
	const char *text;               /* LOG: UTF-8, NULs and bad bytes as '?' */
	size_t text_len;
	int64_t percent;                /* PROGRESS */
	const char *message;            /* PROGRESS */
};

/* Watches a run: fn gets log, progress and task events and finally an end
 * event once every task of the run is finished; after the end the watch is
 * gone (fn must not unwatch it). The current state is replayed first (logs
 * so far, tasks), so nothing is missed; *out is NULL when the run had
 * already ended. fn must not call tasks_unwatch. Returns 0, or -1 when the
 * run is unknown. */
typedef void (*tasks_watch_fn)(void *arg, const struct tasks_event *ev);
int tasks_watch_run(struct tasks *tk, const char *run_id, tasks_watch_fn fn, void *arg,
		    struct tasks_watch **out);
void tasks_unwatch(struct tasks_watch *w);

#endif
