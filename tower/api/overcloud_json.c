/* overcloud_json.c — the OverCloud objects of the API and its event stream,
 * built from the engine's snapshots: the one place their JSON is spelled. */
#include "tower/api/overcloud_json.h"

#include <string.h>

#include "shared/util.h"
#include "tower/engine/state.h"

static json_t *strings_json(char *const *list, size_t count)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < count; i++)
		json_array_append_new(arr, json_string(list[i]));
	return arr;
}

static json_t *node_json(const struct workflow_node_view *n)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "name", n->name, "group",
			 n->group, "role", n->role, "provider", n->provider, "node_id", n->node_id,
			 "address", n->address, "state", n->state, "connected", n->connected);
}

static json_t *step_json(const struct workflow_step_view *s, int64_t now_ms)
{
	int64_t end = s->finished_ms ? s->finished_ms : now_ms;

	return json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:o, s:s?, s:s?, s:I}", "dag", s->dag,
			 "name", s->name, "state", s->state, "requires",
			 strings_json(s->requires, s->require_count), "attempts",
			 (json_int_t)s->attempts, "progress", (json_int_t)s->progress, "nodes",
			 strings_json(s->nodes, s->node_count), "error",
			 s->error[0] ? s->error : NULL, "run_id", s->run_id[0] ? s->run_id : NULL,
			 "elapsed_ms", (json_int_t)(s->started_ms ? end - s->started_ms : 0));
}

json_t *overcloud_json(const struct workflow_overcloud *oc, int64_t now_ms)
{
	json_t *nodes = json_array(), *steps = json_array(), *cluster = json_array();
	json_t *inputs = json_object();
	json_t *post = json_null();

	for (size_t i = 0; i < oc->node_count; i++) {
		const struct workflow_node_view *n = &oc->nodes[i];

		json_array_append_new(nodes, node_json(n));
		/* Attached edge nodes are listed, not part of the post or the
		 * logical cluster. */
		if (n->address[0] == '\0' || node_state_parse(n->state) == NODE_RELEASED || n->attached)
			continue;
		if (strcmp(n->group, "post") == 0 && json_is_null(post))
			post = json_string(n->address);
		else if (strcmp(n->group, "post") != 0)
			json_array_append_new(cluster, json_string(n->address));
	}
	for (size_t i = 0; i < oc->step_count; i++)
		json_array_append_new(steps, step_json(&oc->steps[i], now_ms));
	for (size_t i = 0; i < oc->input_count; i++)
		json_object_set_new(inputs, oc->inputs[i].name, json_string(oc->inputs[i].value));
	return json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:s, s:s?, s:I, s:I, s:o, s:o, s:o, s:o, s:o}",
			 "overcloud_id", oc->id, "status", oc->status, "attaching", oc->attaching,
			 "pattern", oc->pattern, "provider", oc->provider, "number",
			 (json_int_t)oc->number, "size", oc->size, "error",
			 oc->error[0] ? oc->error : NULL, "created_at", (json_int_t)oc->created_at,
			 "updated_at", (json_int_t)oc->updated_at, "devops_post", post,
			 "logical_cluster", cluster, "nodes", nodes, "steps", steps, "inputs", inputs);
}

json_t *overcloud_json_get(struct workflow *wf, const char *id)
{
	struct workflow_overcloud *oc = workflow_overcloud_get(wf, id);
	json_t *obj;

	if (oc == NULL)
		return NULL;
	obj = overcloud_json(oc, util_now_ms());
	workflow_overcloud_free(oc);
	return obj;
}

static int list_one(const struct workflow_overcloud *oc, void *arg)
{
	json_array_append_new(arg, overcloud_json(oc, util_now_ms()));
	return 0;
}

json_t *overcloud_json_list(struct workflow *wf)
{
	json_t *arr = json_array();

	workflow_overcloud_foreach(wf, list_one, arr);
	return arr;
}

static void run_one(const char *dag, const char *step, const char *run_id, void *arg)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:s}", "dag", dag, "step", step, "run_id",
					     run_id));
}

json_t *overcloud_json_runs(struct workflow *wf, const char *id)
{
	json_t *arr = json_array();

	if (workflow_runs_foreach(wf, id, run_one, arr) != 0) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

const char *overcloud_json_event_name(enum workflow_event event)
{
	return event == WORKFLOW_EVENT_END ? "end" : "overcloud";
}
