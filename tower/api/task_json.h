/* task_json.h — tasks, runs and run events as the API shows them: the JSON
 * the console and the CLI read (no secret output values ever). */
#ifndef OC_TASK_JSON_H
#define OC_TASK_JSON_H

#include <jansson.h>

struct store;
struct store_task;
struct tasks_event;

/* One task; caller decrefs. */
json_t *task_json(struct store *st, const struct store_task *t);
/* All tasks of a run as an array, NULL when the run is unknown. */
json_t *task_json_run(struct store *st, const char *run_id);
/* A watch event as its SSE name (*name: "log", "progress", "task", "end")
 * and data; caller decrefs (NULL when it cannot be encoded). */
json_t *task_json_event(struct store *st, const struct tasks_event *ev, const char **name);

#endif
