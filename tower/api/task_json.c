/* task_json.c — turns tasks (struct store_task) and run watch events
 * (struct tasks_event) into the JSON documents the API serves. */
#include "tower/api/task_json.h"

#include <stdio.h>

#include "tower/fleet/tasks.h"
#include "tower/store/store.h"

static void node_name(struct store *st, const char *node_id, char *out, size_t size)
{
	struct store_node n;

	if (store_node_get(st, node_id, &n) == 1 && n.name[0] != '\0')
		snprintf(out, size, "%s", n.name);
	else
		snprintf(out, size, "%s", node_id);
}

static json_t *argv_json(const struct task_spec *spec)
{
	json_t *arr;

	if (spec->argc == 0)
		return NULL;
	arr = json_array();
	for (size_t i = 0; i < spec->argc; i++)
		json_array_append_new(arr, json_string(spec->argv[i]));
	return arr;
}

json_t *task_json(struct store *st, const struct store_task *t)
{
	json_t *outputs = json_loads(t->outputs ? t->outputs : "", 0, NULL), *argv;
	char name[STORE_NAME_MAX];
	struct task_spec spec;
	json_t *obj;

	task_spec_decode(t->spec, &spec);   /* empty when it cannot be read */
	if (!json_is_object(outputs)) {
		json_decref(outputs);
		outputs = json_object();
	}
	/* Secret values never leave the tower through the API. */
	for (size_t i = 0; i < spec.secret_output_count; i++)
		if (json_object_get(outputs, spec.secret_outputs[i]) != NULL)
			json_object_set_new(outputs, spec.secret_outputs[i], json_string("***"));
	node_name(st, t->node_id, name, sizeof(name));
	argv = argv_json(&spec);
	obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O?, s:I, s:s?, s:I, s:s, s:o, s:I,"
			" s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"task_id", t->id, "run_id", t->run_id, "node_id", t->node_id, "node", name,
			"role", t->role, "step", t->step, "state", t->state, "argv", argv,
			"exit_code", (json_int_t)t->exit_code,
			"reason", t->reason[0] ? t->reason : NULL,
			"progress", (json_int_t)t->progress, "progress_message", t->progress_msg,
			"outputs", outputs, "log_bytes", (json_int_t)t->log_bytes,
			"created_at", (json_int_t)t->created_at, "started_at", (json_int_t)t->started_at,
			"finished_at", (json_int_t)t->finished_at,
			"duration_ms", (json_int_t)t->duration_ms,
			"roundtrip_ms", (json_int_t)(t->finished_ms ? t->finished_ms - t->created_ms : 0),
			"created_ms", (json_int_t)t->created_ms, "finished_ms", (json_int_t)t->finished_ms);
	json_decref(argv);
	task_spec_clear(&spec);
	return obj;
}

struct run_pass {
	struct store *st;
	json_t *tasks;
};

static int append_task_json(const struct store_task *t, void *arg)
{
	struct run_pass *pass = arg;

	json_array_append_new(pass->tasks, task_json(pass->st, t));
	return 0;
}

json_t *task_json_run(struct store *st, const char *run_id)
{
	struct run_pass pass = {st, json_array()};

	if (store_task_foreach_run(st, run_id, append_task_json, &pass) != 0 ||
	    json_array_size(pass.tasks) == 0) {
		json_decref(pass.tasks);
		return NULL;
	}
	return pass.tasks;
}

json_t *task_json_event(struct store *st, const struct tasks_event *ev, const char **name)
{
	switch (ev->kind) {
	case TASKS_EVENT_LOG:
		*name = "log";
		return json_pack("{s:s, s:s, s:s, s:s, s:s%}", "task_id", ev->task_id, "node_id",
				 ev->node_id, "node", ev->node, "stream", ev->stream, "data",
				 ev->text, ev->text_len);
	case TASKS_EVENT_PROGRESS:
		*name = "progress";
		return json_pack("{s:s, s:s, s:I, s:s}", "task_id", ev->task_id, "node", ev->node,
				 "percent", (json_int_t)ev->percent, "message", ev->message);
	case TASKS_EVENT_TASK:
		*name = "task";
		return task_json(st, ev->task);
	case TASKS_EVENT_END:
		break;
	}
	*name = "end";
	return json_pack("{s:s}", "run_id", ev->run_id);
}
