/* runs.c — the API's ad-hoc runs: POST /v1/runs, a run's tasks and its event
 * stream, a task and its log; running them is tasks.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/api/api_int.h"
#include "tower/api/sse.h"
#include "tower/api/task_json.h"
#include "tower/fleet/hub.h"
#include "tower/fleet/tasks.h"
#include "tower/store/store.h"
#include "tower/tower.h"

struct run_target {
	json_t *nodes;      /* array of node ids */
	const char *want_node, *want_role;
	bool all;
};

/* Connected here, or (replicas) to another replica, which sends the task
 * (its relay): the node's heartbeats, written there, are recent. The same
 * test as the workflow's before it runs a step on a node. */
static bool connected_anywhere(struct tower *tw, const struct store_node *n)
{
	return hub_node_connected(tw->hub, n->id) ||
	       (store_is_shared(tw->store) &&
		n->last_seen >= util_now() - 3 * hub_heartbeat_s(tw->hub) - 2);
}

static int collect_target(const struct store_node *n, void *arg)
{
	struct api_ctx *ctx = ((void **)arg)[0];
	struct run_target *t = ((void **)arg)[1];

	if (!connected_anywhere(ctx->tower, n))
		return 0;
	if (t->all || (t->want_role && strcmp(n->role, t->want_role) == 0) ||
	    (t->want_node && (strcmp(n->id, t->want_node) == 0 || strcmp(n->name, t->want_node) == 0)))
		json_array_append_new(t->nodes, json_string(n->id));
	return 0;
}

/* POST /v1/runs {"argv" or "role_step", "target", "timeout"} */
void api_runs_post(struct api_ctx *ctx)
{
	json_t *body = api_body_object(ctx), *argv, *step, *target, *v, *inputs, *tasks = NULL;
	const char *role = NULL, *step_name = NULL, *input_name;
	struct task_spec spec = {0};
	struct task_input *given = NULL;
	bool role_spec = false;
	struct run_target t = {0};
	char run_id[24], err[160], (*task_ids)[TASKS_ID_SIZE] = NULL;
	const char **node_ids = NULL;
	void *pass[2] = {ctx, &t};
	int64_t timeout;
	size_t i, count;

	if (body == NULL)
		return;
	argv = json_object_get(body, "argv");
	step = json_object_get(body, "role_step");
	if ((argv == NULL) == (step == NULL)) {
		api_reply_error(ctx, 400, "give either \"argv\" (a command) or \"role_step\"", NULL);
		goto out;
	}
	if (api_field_duration(body, "timeout", 300, &timeout) != 0 || timeout < 1 || timeout > 86400) {
		api_reply_error(ctx, 400, "field \"timeout\" must be 1s to 24h", NULL);
		goto out;
	}
	if (step != NULL) {
		role = json_string_value(json_object_get(step, "role"));
		step_name = json_string_value(json_object_get(step, "step"));
		if (role == NULL || step_name == NULL) {
			api_reply_error(ctx, 400, "field \"role_step\" needs \"role\" and \"step\"", NULL);
			goto out;
		}
		inputs = json_object_get(step, "inputs");
		if (inputs != NULL && !json_is_object(inputs)) {
			api_reply_error(ctx, 400, "inputs must be an object of strings", NULL);
			goto out;
		}
		given = calloc(json_object_size(inputs) + 1, sizeof(*given));
		if (given == NULL) {
			api_reply_error(ctx, 500, "out of memory", NULL);
			goto out;
		}
		count = 0;
		json_object_foreach(inputs, input_name, v) {
			given[count].name = input_name;
			given[count++].value = json_string_value(v);
		}
		if (tasks_role_spec(ctx->tower->tasks, role, step_name, given, count, &spec, err,
				    sizeof(err)) != 0) {
			api_reply_error(ctx, 400, err, NULL);
			goto out;
		}
		role_spec = true;
	} else {
		if (!json_is_array(argv) || json_array_size(argv) == 0 || json_array_size(argv) > 256) {
			api_reply_error(ctx, 400, "field \"argv\" must be a non-empty array of strings", NULL);
			goto out;
		}
		json_array_foreach(argv, i, v) {
			if (!json_is_string(v) || (i == 0 && json_string_length(v) == 0)) {
				api_reply_error(ctx, 400, "field \"argv\" must be a non-empty array of strings",
						NULL);
				goto out;
			}
		}
	}
	target = json_object_get(body, "target");
	t.want_node = json_string_value(json_object_get(target, "node"));
	t.want_role = json_string_value(json_object_get(target, "role"));
	t.all = json_is_true(json_object_get(target, "all"));
	if (!json_is_object(target) || (t.all + (t.want_node != NULL) + (t.want_role != NULL)) != 1) {
		api_reply_error(ctx, 400, "field \"target\" must be {\"node\": ID}, {\"role\": R} or {\"all\": true}",
				NULL);
		goto out;
	}
	t.nodes = json_array();
	store_node_foreach(ctx->tower->store, collect_target, pass);
	if (json_array_size(t.nodes) == 0) {
		api_reply_error(ctx, t.want_node ? 409 : 404,
				t.want_node ? "node is not connected or not known" : "no connected node matches",
				t.want_node ? t.want_node : t.want_role);
		goto out;
	}
	if (!role_spec) {
		spec.argv = calloc(json_array_size(argv), sizeof(*spec.argv));
		if (spec.argv == NULL) {
			api_reply_error(ctx, 500, "out of memory", NULL);
			goto out;
		}
		json_array_foreach(argv, i, v)
			spec.argv[spec.argc++] = json_string_value(v);
		spec.timeout_s = timeout;
	}
	tasks = json_array();
	tasks_new_run_id(run_id, sizeof(run_id));
	count = json_array_size(t.nodes);
	node_ids = calloc(count, sizeof(*node_ids));
	task_ids = calloc(count, sizeof(*task_ids));
	if (node_ids == NULL || task_ids == NULL) {
		api_reply_error(ctx, 500, "out of memory", NULL);
		goto out;
	}
	json_array_foreach(t.nodes, i, v)
		node_ids[i] = json_string_value(v);
	if (tasks_create_run(ctx->tower->tasks, run_id, node_ids, count, role ? role : "exec",
			     step_name ? step_name : "run", &spec, task_ids, err, sizeof(err)) != 0) {
		api_reply_error(ctx, 500, err, NULL);
		goto out;
	}
	json_array_foreach(t.nodes, i, v)
		json_array_append_new(tasks, json_pack("{s:s, s:O}", "task_id", task_ids[i], "node_id", v));
	log_info("api %s: run %s: %s on %zu node(s)", ctx->peer, run_id, spec.argv[0],
		 json_array_size(t.nodes));
	api_reply_json(ctx, 202, json_pack("{s:s, s:O}", "run_id", run_id, "tasks", tasks));
out:
	free(node_ids);
	free(task_ids);
	json_decref(tasks);
	if (role_spec)
		task_spec_clear(&spec);
	else
		free(spec.argv);
	free(given);
	json_decref(t.nodes);
	json_decref(body);
}

/* GET /v1/runs/{id} */
void api_run_get(struct api_ctx *ctx)
{
	json_t *tasks = task_json_run(ctx->tower->store, ctx->id);

	if (tasks == NULL) {
		api_reply_error(ctx, 404, "no such run", ctx->id);
		return;
	}
	api_reply_json(ctx, 200, json_pack("{s:s, s:o}", "run_id", ctx->id, "tasks", tasks));
}

/* How much of each task's log a run's watcher has been sent, so a watch
 * that paused (its client not reading) starts again where it stopped. */
struct run_sent {
	char task_id[STORE_ID_MAX];
	uint64_t sent;   /* bytes of the log queued to the client */
	uint64_t seen;   /* bytes of the log this watch has passed by */
	uint64_t last;   /* hash of the last other event sent about the task */
};

/* FNV-1a of an event's name and text: a replayed task event the client
 * already has is not sent again (else a run whose task events alone are
 * over the cap would replay them from the start at every drain, forever). */
static uint64_t run_event_hash(const char *event, const char *text)
{
	uint64_t h = 14695981039346656037ULL;

	for (const char *p = event; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (const char *p = text; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

/* A run's events to one client. Over the output cap it stops taking events
 * (they are dropped, the watch is let go) and, once the client has read
 * what was queued, watches again: the replay from the store brings what was
 * missed, less the log bytes already sent. */
struct run_stream {
	struct sse sse;
	struct tasks_watch *watch;
	struct tasks *tasks;
	struct store *store;
	char run_id[STORE_ID_MAX];
	struct run_sent *sent;
	size_t sent_count, sent_cap;
};

static struct run_sent *run_sent_of(struct run_stream *rs, const char *task_id)
{
	for (size_t i = 0; i < rs->sent_count; i++)
		if (strcmp(rs->sent[i].task_id, task_id) == 0)
			return &rs->sent[i];
	if (rs->sent_count == rs->sent_cap) {
		size_t cap = rs->sent_cap ? rs->sent_cap * 2 : 8;
		struct run_sent *grown = realloc(rs->sent, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		rs->sent = grown;
		rs->sent_cap = cap;
	}
	memset(&rs->sent[rs->sent_count], 0, sizeof(rs->sent[0]));
	snprintf(rs->sent[rs->sent_count].task_id, STORE_ID_MAX, "%s", task_id);
	return &rs->sent[rs->sent_count++];
}

/* A log event as far as it is news: the event itself, a copy with the
 * unsent tail of its data (a new reference either way), or NULL when all
 * of it was sent before. */
static json_t *run_log_news(struct run_stream *rs, json_t *data)
{
	const char *task_id = json_string_value(json_object_get(data, "task_id"));
	json_t *text = json_object_get(data, "data"), *copy;
	const char *bytes = json_string_value(text);
	size_t len = json_string_length(text), skip;
	struct run_sent *ts;
	uint64_t start;

	if (task_id == NULL || bytes == NULL || (ts = run_sent_of(rs, task_id)) == NULL)
		return json_incref(data);
	start = ts->seen;
	ts->seen += len;
	if (ts->seen <= ts->sent)
		return NULL;
	if (start >= ts->sent) {
		ts->sent = ts->seen;
		return json_incref(data);
	}
	/* Cut at a character boundary: the data is UTF-8 text. */
	skip = (size_t)(ts->sent - start);
	while (skip < len && ((unsigned char)bytes[skip] & 0xc0) == 0x80)
		skip++;
	ts->sent = ts->seen;
	copy = json_copy(data);
	if (copy != NULL)
		json_object_set_new(copy, "data", json_stringn(bytes + skip, len - skip));
	return copy;
}

/* Whether a task event other than "log" is the one last sent about its
 * task (a replay after a drain brings it again); remembers it if not. */
static bool run_event_repeats(struct run_stream *rs, const char *event, json_t *data,
			      const char *text)
{
	const char *task_id = json_string_value(json_object_get(data, "task_id"));
	struct run_sent *ts = task_id != NULL ? run_sent_of(rs, task_id) : NULL;
	uint64_t h = run_event_hash(event, text);

	if (ts == NULL)
		return false;
	if (ts->last == h)
		return true;
	ts->last = h;
	return false;
}

static void run_stream_send(struct run_stream *rs, const char *event, json_t *data)
{
	bool end = strcmp(event, "end") == 0, log = strcmp(event, "log") == 0;
	json_t *news = NULL;
	char *text;

	if (end)
		rs->watch = NULL;   /* the watch ends itself after "end" */
	/* Paused: the next watch's replay brings this again. */
	if (rs->sse.paused || rs->sse.closed)
		return;
	if (log && (news = run_log_news(rs, data)) == NULL)
		return;
	text = json_dumps(news != NULL ? news : data, JSON_COMPACT);
	json_decref(news);
	if (text == NULL || end || log || !run_event_repeats(rs, event, data, text))
		sse_send_text(&rs->sse, event, text);
	free(text);
	if (end)
		sse_close(&rs->sse);
}

/* A watch event, as JSON, to the client. */
static void run_stream_event(void *arg, const struct tasks_event *ev)
{
	struct run_stream *rs = arg;
	const char *event;
	json_t *data = task_json_event(rs->store, ev, &event);

	run_stream_send(rs, event, data);
	json_decref(data);
}

/* Watches (again): the replay sends what this client has not had yet.
 * Returns false when rs was freed (the run ended or cannot be watched). */
static bool run_stream_watch(struct run_stream *rs)
{
	for (size_t i = 0; i < rs->sent_count; i++)
		rs->sent[i].seen = 0;
	sse_produce_begin(&rs->sse);
	if (tasks_watch_run(rs->tasks, rs->run_id, run_stream_event, rs, &rs->watch) != 0)
		sse_close(&rs->sse);
	if (!sse_produce_end(&rs->sse))
		return false;
	/* Paused during the replay: let go until the client has read. */
	if (rs->sse.paused && rs->watch != NULL) {
		tasks_unwatch(rs->watch);
		rs->watch = NULL;
	}
	return true;
}

static void run_stream_drained(void *arg)
{
	struct run_stream *rs = arg;

	tasks_unwatch(rs->watch);
	rs->watch = NULL;
	run_stream_watch(rs);
}

static void run_stream_gone(void *arg)
{
	struct run_stream *rs = arg;

	tasks_unwatch(rs->watch);
	rs->watch = NULL;
}

static void run_stream_release(void *arg)
{
	struct run_stream *rs = arg;

	free(rs->sent);
	free(rs);
}

static const struct sse_ops run_stream_ops = {
	.drained = run_stream_drained,
	.gone = run_stream_gone,
	.release = run_stream_release,
};

/* GET /v1/runs/{id}/events */
void api_run_events_get(struct api_ctx *ctx)
{
	struct run_stream *rs;
	json_t *tasks = task_json_run(ctx->tower->store, ctx->id);

	if (tasks == NULL) {
		api_reply_error(ctx, 404, "no such run", ctx->id);
		return;
	}
	json_decref(tasks);
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL) {
		api_reply_error(ctx, 500, "out of memory", NULL);
		return;
	}
	rs->tasks = ctx->tower->tasks;
	rs->store = ctx->tower->store;
	snprintf(rs->run_id, sizeof(rs->run_id), "%s", ctx->id);
	if (sse_open(&rs->sse, ctx->ex, &run_stream_ops, rs) != 0) {
		run_stream_release(rs);
		return;
	}
	run_stream_watch(rs);
}

static void task_get(struct api_ctx *ctx, bool log_only)
{
	const char *task_id = ctx->id;
	struct store_task t;
	char path[4200];
	char *text;
	size_t len = 0;

	if (store_task_get(ctx->tower->store, task_id, &t) != 1) {
		api_reply_error(ctx, 404, "no such task", task_id);
		return;
	}
	if (!log_only) {
		api_reply_json(ctx, 200, task_json(ctx->tower->store, &t));
		store_task_clear(&t);
		return;
	}
	store_task_clear(&t);
	tasks_log_path(ctx->tower->tasks, task_id, path, sizeof(path));
	text = util_read_file(path, 64 * 1024 * 1024, &len);
	http_write_response(ctx->out, 200, "text/plain; charset=utf-8", text ? text : "", len,
			    ctx->keep_alive);
	free(text);
}

/* GET /v1/tasks/{id} */
void api_task_get(struct api_ctx *ctx)
{
	task_get(ctx, false);
}

/* GET /v1/tasks/{id}/log */
void api_task_log_get(struct api_ctx *ctx)
{
	task_get(ctx, true);
}
