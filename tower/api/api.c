/* api.c — the tower's REST API: routes, bearer-token auth, JSON bodies.
 * Every failure is a JSON {"error","detail"} with a 4xx/5xx status. */
#include "tower/api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/boot/artifacts.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/metrics/exporter.h"
#include "tower/api/http.h"
#include "tower/api/httpd.h"
#include "tower/fleet/hub.h"
#include "tower/metrics/nodemetrics.h"
#include "tower/metrics/promtext.h"
#include "tower/engine/role.h"
#include "tower/api/session.h"
#include "tower/api/task_json.h"
#include "tower/store/store.h"
#include "tower/fleet/tasks.h"
#include "tower/boot/userdata.h"
#include "tower/api/web.h"
#include "tower/engine/workflow.h"
#include "tower/tower.h"

#define API_DEFAULT_TOKEN_TTL 3600
#define API_USERDATA_TOKEN_TTL 3600   /* the token inside a rendered user-data */

struct api_ctx {
	struct tower *tower;
	const struct http_request *req;
	const char *peer;
	struct evbuffer *out;
	bool keep_alive;
	struct httpd_exchange *ex;
};

static void reply_json(struct api_ctx *ctx, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	if (text == NULL) {
		http_write_error(ctx->out, 500, "cannot encode response", NULL, ctx->keep_alive);
	} else {
		http_write_response(ctx->out, status, "application/json", text, strlen(text),
				    ctx->keep_alive);
		free(text);
	}
	json_decref(body);
}

static void reply_error(struct api_ctx *ctx, int status, const char *message, const char *detail)
{
	http_write_error(ctx->out, status, message, detail, ctx->keep_alive);
}

/* A body is JSON, and says so: "application/json", any parameters after ';'. */
static bool body_is_json(const struct http_request *req)
{
	const char *type = http_header_get(req, "Content-Type");
	size_t len;

	if (type == NULL)
		return false;
	len = strcspn(type, ";");
	while (len > 0 && (type[len - 1] == ' ' || type[len - 1] == '\t'))
		len--;
	return len == 16 && strncasecmp(type, "application/json", 16) == 0;
}

static bool api_authorized(struct api_ctx *ctx)
{
	const char *auth = http_header_get(ctx->req, "Authorization");
	const char *want = ctx->tower->admin_token;
	size_t want_len = strlen(want);

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	auth += 7;
	while (*auth == ' ')
		auth++;
	return strlen(auth) == want_len && util_consttime_cmp(auth, want, want_len) == 0;
}

/* Parses the body as a JSON object; on failure replies 400 and returns NULL. */
static json_t *body_object(struct api_ctx *ctx)
{
	json_error_t jerr;
	json_t *body;
	char detail[256];

	if (ctx->req->body_len == 0) {
		reply_error(ctx, 400, "request body must be a JSON object", NULL);
		return NULL;
	}
	body = json_loadb((const char *)ctx->req->body, ctx->req->body_len,
			  JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL) {
		snprintf(detail, sizeof(detail), "line %d column %d: %s", jerr.line, jerr.column,
			 jerr.text);
		reply_error(ctx, 400, "malformed JSON", detail);
		return NULL;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		reply_error(ctx, 400, "request body must be a JSON object", NULL);
		return NULL;
	}
	return body;
}

static int node_to_json(const struct store_node *n, void *arg)
{
	struct api_ctx *ctx = ((void **)arg)[0];
	json_t *list = ((void **)arg)[1];
	bool connected = hub_node_connected(ctx->tower->hub, n->id);
	const struct node_figures *f = nodemetrics_latest(ctx->tower->nodemetrics, n->id);

	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:o?, s:o}",
		"id", n->id, "name", n->name, "arch", n->arch[0] ? n->arch : "unknown",
		"role", n->role, "state", connected ? "connected" : "disconnected",
		"os", n->os[0] ? n->os : NULL, "kernel", n->kernel[0] ? n->kernel : NULL,
		"cpus", (json_int_t)n->cpus, "mem_total", (json_int_t)n->mem_total,
		"last_seen", n->last_seen ? json_integer(n->last_seen) : NULL,
		"metrics", f != NULL ? nodemetrics_figures_json(f) : json_null()));
	return 0;
}

static void get_nodes(struct api_ctx *ctx)
{
	json_t *list = json_array();
	void *pass[2] = {ctx, list};

	if (store_node_foreach(ctx->tower->store, node_to_json, pass) != 0) {
		json_decref(list);
		reply_error(ctx, 500, "cannot read nodes", NULL);
		return;
	}
	reply_json(ctx, 200, list);
}

static void delete_node(struct api_ctx *ctx, const char *id)
{
	int r = store_node_delete(ctx->tower->store, id);

	if (r < 0) {
		reply_error(ctx, 500, "cannot delete node", NULL);
		return;
	}
	if (r == 0) {
		reply_error(ctx, 404, "no such node", id);
		return;
	}
	log_info("api %s: node %s deleted, its certificate is revoked", ctx->peer, id);
	nodemetrics_forget(ctx->tower->nodemetrics, id);
	hub_disconnect_node(ctx->tower->hub, id, "node deleted: certificate revoked");
	reply_json(ctx, 200, json_pack("{s:s, s:s}", "id", id, "state", "deleted"));
}

/* ttl may be seconds (integer) or a duration string ("1h"). */
static int field_duration(json_t *body, const char *name, int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(body, name);

	if (v == NULL || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v))
		return util_parse_duration(json_string_value(v), out);
	return -1;
}

static int field_int(json_t *body, const char *name, int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(body, name);

	if (v == NULL || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v))
		return util_parse_int(json_string_value(v), INT64_MIN, INT64_MAX, out);
	return -1;
}

static void post_tokens(struct api_ctx *ctx)
{
	struct tower *t = ctx->tower;
	char token[ENROLL_TOKEN_LEN + 1], err[160], join[1024];
	json_t *body = body_object(ctx), *role;
	int64_t ttl, uses;

	if (body == NULL)
		return;
	role = json_object_get(body, "role");
	if (!json_is_string(role) || !enroll_role_valid(json_string_value(role))) {
		reply_error(ctx, 400, "field \"role\" must be a role name (a-z, 0-9, '-')", NULL);
		goto out;
	}
	if (field_duration(body, "ttl", API_DEFAULT_TOKEN_TTL, &ttl) != 0) {
		reply_error(ctx, 400, "field \"ttl\" must be seconds or a duration like \"1h\"", NULL);
		goto out;
	}
	if (field_int(body, "uses", 1, &uses) != 0) {
		reply_error(ctx, 400, "field \"uses\" must be an integer", NULL);
		goto out;
	}
	if (enroll_create_token(t->store, json_string_value(role), ttl, uses, token, err,
				sizeof(err)) != 0) {
		reply_error(ctx, 400, err, NULL);
		goto out;
	}
	snprintf(join, sizeof(join), "overcloud-agent join --tower %s:%u --token %s --ca-hash %s",
		 t->join_host, t->agent_port, token, ca_pin(t->ca));
	log_info("api %s: join token %.*s... created for role %s, ttl %llds, %lld use(s)", ctx->peer,
		 ENROLL_TOKEN_ID_HEX, token, json_string_value(role), (long long)ttl,
		 (long long)uses);
	reply_json(ctx, 201, json_pack("{s:s, s:s, s:s, s:I, s:I}", "token", token, "join", join,
				       "role", json_string_value(role),
				       "expires_at", (json_int_t)(util_now() + ttl),
				       "uses", (json_int_t)uses));
out:
	json_decref(body);
}

/* ---- ad-hoc runs: POST /v1/runs, GET /v1/runs/{id}[/events], tasks ---- */

struct run_target {
	json_t *nodes;      /* array of node ids */
	const char *want_node, *want_role;
	bool all;
};

static int collect_target(const struct store_node *n, void *arg)
{
	struct api_ctx *ctx = ((void **)arg)[0];
	struct run_target *t = ((void **)arg)[1];

	if (!hub_node_connected(ctx->tower->hub, n->id))
		return 0;
	if (t->all || (t->want_role && strcmp(n->role, t->want_role) == 0) ||
	    (t->want_node && (strcmp(n->id, t->want_node) == 0 || strcmp(n->name, t->want_node) == 0)))
		json_array_append_new(t->nodes, json_string(n->id));
	return 0;
}

static void post_runs(struct api_ctx *ctx)
{
	json_t *body = body_object(ctx), *argv, *step, *target, *v, *inputs, *tasks = NULL;
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
		reply_error(ctx, 400, "give either \"argv\" (a command) or \"role_step\"", NULL);
		goto out;
	}
	if (field_duration(body, "timeout", 300, &timeout) != 0 || timeout < 1 || timeout > 86400) {
		reply_error(ctx, 400, "field \"timeout\" must be 1s to 24h", NULL);
		goto out;
	}
	if (step != NULL) {
		role = json_string_value(json_object_get(step, "role"));
		step_name = json_string_value(json_object_get(step, "step"));
		if (role == NULL || step_name == NULL) {
			reply_error(ctx, 400, "field \"role_step\" needs \"role\" and \"step\"", NULL);
			goto out;
		}
		inputs = json_object_get(step, "inputs");
		if (inputs != NULL && !json_is_object(inputs)) {
			reply_error(ctx, 400, "inputs must be an object of strings", NULL);
			goto out;
		}
		given = calloc(json_object_size(inputs) + 1, sizeof(*given));
		if (given == NULL) {
			reply_error(ctx, 500, "out of memory", NULL);
			goto out;
		}
		count = 0;
		json_object_foreach(inputs, input_name, v) {
			given[count].name = input_name;
			given[count++].value = json_string_value(v);
		}
		if (tasks_role_spec(ctx->tower->tasks, role, step_name, given, count, &spec, err,
				    sizeof(err)) != 0) {
			reply_error(ctx, 400, err, NULL);
			goto out;
		}
		role_spec = true;
	} else {
		if (!json_is_array(argv) || json_array_size(argv) == 0 || json_array_size(argv) > 256) {
			reply_error(ctx, 400, "field \"argv\" must be a non-empty array of strings", NULL);
			goto out;
		}
		json_array_foreach(argv, i, v) {
			if (!json_is_string(v) || (i == 0 && json_string_length(v) == 0)) {
				reply_error(ctx, 400, "field \"argv\" must be a non-empty array of strings",
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
		reply_error(ctx, 400, "field \"target\" must be {\"node\": ID}, {\"role\": R} or {\"all\": true}",
			    NULL);
		goto out;
	}
	t.nodes = json_array();
	store_node_foreach(ctx->tower->store, collect_target, pass);
	if (json_array_size(t.nodes) == 0) {
		reply_error(ctx, t.want_node ? 409 : 404,
			    t.want_node ? "node is not connected or not known" : "no connected node matches",
			    t.want_node ? t.want_node : t.want_role);
		goto out;
	}
	if (!role_spec) {
		spec.argv = calloc(json_array_size(argv), sizeof(*spec.argv));
		if (spec.argv == NULL) {
			reply_error(ctx, 500, "out of memory", NULL);
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
		reply_error(ctx, 500, "out of memory", NULL);
		goto out;
	}
	json_array_foreach(t.nodes, i, v)
		node_ids[i] = json_string_value(v);
	if (tasks_create_run(ctx->tower->tasks, run_id, node_ids, count, role ? role : "exec",
			     step_name ? step_name : "run", &spec, task_ids, err, sizeof(err)) != 0) {
		reply_error(ctx, 500, err, NULL);
		goto out;
	}
	json_array_foreach(t.nodes, i, v)
		json_array_append_new(tasks, json_pack("{s:s, s:O}", "task_id", task_ids[i], "node_id", v));
	log_info("api %s: run %s: %s on %zu node(s)", ctx->peer, run_id, spec.argv[0],
		 json_array_size(t.nodes));
	reply_json(ctx, 202, json_pack("{s:s, s:O}", "run_id", run_id, "tasks", tasks));
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

static void get_run(struct api_ctx *ctx, const char *run_id)
{
	json_t *tasks = task_json_run(ctx->tower->store, run_id);

	if (tasks == NULL) {
		reply_error(ctx, 404, "no such run", run_id);
		return;
	}
	reply_json(ctx, 200, json_pack("{s:s, s:o}", "run_id", run_id, "tasks", tasks));
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
	struct httpd_stream *stream;
	struct tasks_watch *watch;
	struct tasks *tasks;
	struct store *store;
	char run_id[STORE_ID_MAX];
	struct run_sent *sent;
	size_t sent_count, sent_cap;
	bool paused;     /* over the cap: events are dropped until the drain */
	bool in_watch;   /* inside tasks_watch_run: the caller frees on "end" */
	bool ended;
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

static void run_stream_send(struct run_stream *rs, const char *event, json_t *data)
{
	bool end = strcmp(event, "end") == 0;
	json_t *news = NULL;
	char *text;
	struct evbuffer *buf;

	if (end)
		rs->watch = NULL;   /* the watch ends itself after "end" */
	/* Paused: the next watch's replay brings this again. */
	if (rs->paused || rs->ended)
		return;
	if (strcmp(event, "log") == 0 && (news = run_log_news(rs, data)) == NULL)
		return;
	text = json_dumps(news != NULL ? news : data, JSON_COMPACT);
	json_decref(news);
	if (text != NULL && !end && strcmp(event, "log") != 0) {
		const char *task_id = json_string_value(json_object_get(data, "task_id"));
		struct run_sent *ts = task_id != NULL ? run_sent_of(rs, task_id) : NULL;
		uint64_t h = run_event_hash(event, text);

		if (ts != NULL && ts->last == h) {
			free(text);
			return;
		}
		if (ts != NULL)
			ts->last = h;
	}
	buf = evbuffer_new();
	if (text != NULL && buf != NULL && http_write_sse_event(buf, event, text) == 0 &&
	    httpd_stream_write(rs->stream, evbuffer_pullup(buf, -1), evbuffer_get_length(buf)) == 1)
		rs->paused = !end;
	free(text);
	if (buf != NULL)
		evbuffer_free(buf);
	if (end) {
		rs->ended = true;
		httpd_stream_end(rs->stream);
		if (!rs->in_watch) {
			free(rs->sent);
			free(rs);
		}
	}
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
	int rc;

	for (size_t i = 0; i < rs->sent_count; i++)
		rs->sent[i].seen = 0;
	rs->paused = false;
	rs->in_watch = true;
	rc = tasks_watch_run(rs->tasks, rs->run_id, run_stream_event, rs, &rs->watch);
	rs->in_watch = false;
	if (rc != 0 && !rs->ended) {
		rs->ended = true;
		httpd_stream_end(rs->stream);
	}
	if (rs->ended) {
		free(rs->sent);
		free(rs);
		return false;
	}
	/* Paused during the replay: let go until the client has read. */
	if (rs->paused && rs->watch != NULL) {
		tasks_unwatch(rs->watch);
		rs->watch = NULL;
	}
	return true;
}

static void run_stream_drained(void *arg)
{
	struct run_stream *rs = arg;

	if (!rs->paused)
		return;
	tasks_unwatch(rs->watch);
	rs->watch = NULL;
	run_stream_watch(rs);
}

static void run_stream_gone(void *arg)
{
	struct run_stream *rs = arg;

	tasks_unwatch(rs->watch);
	free(rs->sent);
	free(rs);
}

static void get_run_events(struct api_ctx *ctx, const char *run_id)
{
	struct run_stream *rs;
	json_t *tasks = task_json_run(ctx->tower->store, run_id);

	if (tasks == NULL) {
		reply_error(ctx, 404, "no such run", run_id);
		return;
	}
	json_decref(tasks);
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL) {
		reply_error(ctx, 500, "out of memory", NULL);
		return;
	}
	rs->tasks = ctx->tower->tasks;
	rs->store = ctx->tower->store;
	snprintf(rs->run_id, sizeof(rs->run_id), "%s", run_id);
	http_write_sse_start(ctx->out);
	rs->stream = httpd_stream_begin(ctx->ex, run_stream_gone, run_stream_drained, rs);
	if (rs->stream == NULL) {
		free(rs);
		ctx->ex->keep_alive = false;
		return;
	}
	run_stream_watch(rs);
}

static void get_task(struct api_ctx *ctx, const char *task_id, bool log_only)
{
	struct store_task t;
	char path[4200];
	char *text;
	size_t len = 0;

	if (store_task_get(ctx->tower->store, task_id, &t) != 1) {
		reply_error(ctx, 404, "no such task", task_id);
		return;
	}
	if (!log_only) {
		reply_json(ctx, 200, task_json(ctx->tower->store, &t));
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

/* "/v1/runs/ID" -> ID, "/v1/runs/ID/events" -> ID + tail "events". */
static bool path_id(const char *path, const char *prefix, char *id, size_t size, const char **tail)
{
	size_t plen = strlen(prefix), n;
	const char *rest;

	if (strncmp(path, prefix, plen) != 0 || path[plen] == '\0')
		return false;
	rest = path + plen;
	n = strcspn(rest, "/");
	if (n == 0 || n >= size)
		return false;
	memcpy(id, rest, n);
	id[n] = '\0';
	*tail = rest[n] == '/' ? rest + n + 1 : NULL;
	return true;
}

static bool method_is(struct api_ctx *ctx, const char *method)
{
	return strcmp(ctx->req->method, method) == 0;
}

/* ---- OverClouds: /v1/overclouds and the seed's /overclouds ---- */

#define API_MAX_NUMBER 1000

/* "number" may be an integer or, as the seed sends it, a numeric string. */
static int field_number(json_t *v, int64_t *out)
{
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (!json_is_string(v) ||
		 util_parse_int(json_string_value(v), INT64_MIN, INT64_MAX, out) != 0)
		return -1;
	return *out >= 1 && *out <= API_MAX_NUMBER ? 0 : -1;
}

/* "size": optional flavor or instance type name. */
static int field_size(json_t *v, char *out, size_t out_size)
{
	if (v == NULL) {
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= out_size)
		return -1;
	snprintf(out, out_size, "%s", json_string_value(v));
	return 0;
}

/* One provider's object of a heterogeneous request, as the seed's v1 API
 * has it: {"number": "2", "size": "m1.small", "post": "no"}. */
static int parse_part(const char *name, json_t *obj, struct workflow_part *part, char *err,
		      size_t err_size)
{
	static const char *const known[] = {"number", "size", "post"};
	json_t *v;
	const char *key;

	if (!json_is_object(obj)) {
		snprintf(err, err_size, "field \"%.32s\" must be an object with number, size, post", name);
		return -1;
	}
	json_object_foreach(obj, key, v) {
		bool ok = false;
		for (size_t i = 0; i < OC_ARRAY_LEN(known); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok) {
			snprintf(err, err_size, "field \"%.32s.%.32s\" is not known", name, key);
			return -1;
		}
	}
	memset(part, 0, sizeof(*part));
	snprintf(part->provider, sizeof(part->provider), "%s", name);
	v = json_object_get(obj, "number");
	/* A provider that only hosts the post may leave number out or 0. */
	if (v == NULL || (json_is_string(v) && strcmp(json_string_value(v), "0") == 0) ||
	    (json_is_integer(v) && json_integer_value(v) == 0))
		part->number = 0;
	else if (field_number(v, &part->number) != 0) {
		snprintf(err, err_size, "field \"%.32s.number\" must be a whole number from 0 to %d",
			 name, API_MAX_NUMBER);
		return -1;
	}
	if (field_size(json_object_get(obj, "size"), part->size, sizeof(part->size)) != 0) {
		snprintf(err, err_size, "field \"%.32s.size\" must be a flavor or instance type name",
			 name);
		return -1;
	}
	v = json_object_get(obj, "post");
	if (v == NULL || json_is_false(v) ||
	    (json_is_string(v) && strcasecmp(json_string_value(v), "no") == 0))
		part->post = false;
	else if (json_is_true(v) || (json_is_string(v) && strcasecmp(json_string_value(v), "yes") == 0))
		part->post = true;
	else {
		snprintf(err, err_size, "field \"%.32s.post\" must be \"yes\" or \"no\"", name);
		return -1;
	}
	return 0;
}

static void post_overclouds(struct api_ctx *ctx)
{
	static const char *const known[] = {"provider", "number", "size", "pattern", "inputs"};
	struct workflow_part parts[WORKFLOW_MAX_PARTS];
	struct workflow_input inputs[WORKFLOW_MAX_INPUTS];
	size_t part_count = 0, input_count = 0;
	json_t *body = body_object(ctx), *v;
	const char *key, *provider, *pattern;
	char id[32], err[256];
	bool ok, mixed;

	if (body == NULL)
		return;
	provider = json_string_value(json_object_get(body, "provider"));
	if (provider == NULL ||
	    (!workflow_has_provider(provider) && strcasecmp(provider, WORKFLOW_HETEROGENEOUS) != 0)) {
		reply_error(ctx, 400, "field \"provider\" must name a provider",
			    "known: local, openstack, aws, heterogeneous");
		goto out;
	}
	mixed = strcasecmp(provider, WORKFLOW_HETEROGENEOUS) == 0;
	json_object_foreach(body, key, v) {
		ok = false;
		for (size_t i = 0; i < OC_ARRAY_LEN(known); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (ok)
			continue;
		if (!mixed || !workflow_has_provider(key)) {
			snprintf(err, sizeof(err), "unknown field \"%.64s\"", key);
			reply_error(ctx, 400, err, NULL);
			goto out;
		}
		if (part_count == WORKFLOW_MAX_PARTS) {
			reply_error(ctx, 400, "too many providers", NULL);
			goto out;
		}
		if (parse_part(key, v, &parts[part_count], err, sizeof(err)) != 0) {
			reply_error(ctx, 400, err, NULL);
			goto out;
		}
		part_count++;
	}
	if (mixed) {
		if (part_count < 1) {
			reply_error(ctx, 400, "a heterogeneous overcloud names its providers",
				    "e.g. {\"provider\": \"heterogeneous\", \"OpenStack\": {\"number\": \"2\", "
				    "\"post\": \"no\"}, \"Amazon\": {\"number\": \"1\", \"post\": \"yes\"}}");
			goto out;
		}
		if (json_object_get(body, "number") != NULL || json_object_get(body, "size") != NULL) {
			reply_error(ctx, 400, "a heterogeneous overcloud gives number and size per provider",
				    NULL);
			goto out;
		}
	} else {
		memset(&parts[0], 0, sizeof(parts[0]));
		snprintf(parts[0].provider, sizeof(parts[0].provider), "%s", provider);
		parts[0].post = true;
		part_count = 1;
		if (field_number(json_object_get(body, "number"), &parts[0].number) != 0) {
			reply_error(ctx, 400, "field \"number\" must be a whole number from 1 to 1000", NULL);
			goto out;
		}
		if (field_size(json_object_get(body, "size"), parts[0].size, sizeof(parts[0].size)) != 0) {
			reply_error(ctx, 400, "field \"size\" must be a flavor or instance type name", NULL);
			goto out;
		}
	}
	v = json_object_get(body, "pattern");
	if (v != NULL && !json_is_string(v)) {
		reply_error(ctx, 400, "field \"pattern\" must be a pattern name", NULL);
		goto out;
	}
	pattern = json_string_value(v) ?: ctx->tower->default_pattern;
	if (!workflow_has_pattern(ctx->tower->workflow, pattern)) {
		reply_error(ctx, 400, "field \"pattern\": unknown pattern", pattern);
		goto out;
	}
	v = json_object_get(body, "inputs");
	if (v != NULL && !json_is_object(v)) {
		reply_error(ctx, 400, "field \"inputs\" must be an object of NAME: \"VALUE\"", NULL);
		goto out;
	}
	if (json_object_size(v) > WORKFLOW_MAX_INPUTS) {
		reply_error(ctx, 400, "field \"inputs\" has too many entries", NULL);
		goto out;
	}
	if (v != NULL) {
		json_t *iv;

		json_object_foreach(v, key, iv) {
			if (!json_is_string(iv)) {
				snprintf(err, sizeof(err), "field \"inputs.%.64s\" must be a string", key);
				reply_error(ctx, 400, err, NULL);
				goto out;
			}
			inputs[input_count].name = key;
			inputs[input_count++].value = json_string_value(iv);
		}
	}
	if (workflow_create(ctx->tower->workflow, pattern, parts, part_count, inputs, input_count, id,
			    err, sizeof(err)) != 0) {
		reply_error(ctx, strncmp(err, "field", 5) == 0 ? 400 : 500, err, NULL);
		goto out;
	}
	log_info("api %s: overcloud %s requested (%s, %s, %zu part(s))", ctx->peer, id, pattern,
		 provider, part_count);
	reply_json(ctx, 202, json_pack("{s:s, s:s}", "overcloud_id", id, "status", "creating"));
out:
	json_decref(body);
}

static int refusal_status(int refusal)
{
	switch (refusal) {
	case WORKFLOW_NOT_FOUND: return 404;
	case WORKFLOW_CONFLICT: return 409;
	case WORKFLOW_BAD_REQUEST: return 400;
	default: return 500;
	}
}

static void delete_overcloud(struct api_ctx *ctx, const char *id)
{
	char err[256];
	int rc = workflow_delete(ctx->tower->workflow, id, err, sizeof(err));

	if (rc == WORKFLOW_NOT_FOUND)
		reply_error(ctx, 404, "no such overcloud", id);
	else if (rc != 0)
		reply_error(ctx, refusal_status(rc), err, id);
	else
		reply_json(ctx, 202, json_pack("{s:s, s:s}", "overcloud_id", id, "status", "deleting"));
}

/* The seed's DELETE /overclouds carries the id in a JSON body. */
static void delete_overcloud_v0(struct api_ctx *ctx)
{
	json_t *body = body_object(ctx);
	const char *id;

	if (body == NULL)
		return;
	id = json_string_value(json_object_get(body, "overcloud_id"));
	if (id == NULL || strlen(id) >= STORE_ID_MAX)
		reply_error(ctx, 400, "field \"overcloud_id\" must name an overcloud", NULL);
	else
		delete_overcloud(ctx, id);
	json_decref(body);
}

/* POST /v1/overclouds/{id}/nodes {"node": ID or name}: tower attach. */
static void post_overcloud_nodes(struct api_ctx *ctx, const char *id)
{
	json_t *body = body_object(ctx), *v;
	const char *key, *node;
	char node_id[STORE_ID_MAX], err[512];
	int rc;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "node") != 0) {
			snprintf(err, sizeof(err), "unknown field \"%.64s\"", key);
			reply_error(ctx, 400, err, "the body is {\"node\": ID or name}");
			goto out;
		}
	}
	node = json_string_value(json_object_get(body, "node"));
	if (node == NULL || node[0] == '\0' || strlen(node) >= STORE_NAME_MAX) {
		reply_error(ctx, 400, "field \"node\" must name an enrolled node (its id or name)", NULL);
		goto out;
	}
	rc = workflow_attach(ctx->tower->workflow, id, node, node_id, sizeof(node_id), err,
			     sizeof(err));
	if (rc != 0) {
		/* Every other reason names the node or the OverCloud itself. */
		reply_error(ctx, refusal_status(rc), err,
			    strcmp(err, "no such overcloud") == 0 ? id : NULL);
		goto out;
	}
	log_info("api %s: node %s attached to overcloud %s", ctx->peer, node_id, id);
	reply_json(ctx, 202, json_pack("{s:s, s:s, s:s}", "overcloud_id", id, "node", node_id,
				       "status", "ready"));
out:
	json_decref(body);
}

static void get_overcloud(struct api_ctx *ctx, const char *id)
{
	json_t *obj = workflow_overcloud_json(ctx->tower->workflow, id);

	if (obj == NULL)
		reply_error(ctx, 404, "no such overcloud", id);
	else
		reply_json(ctx, 200, obj);
}

/* An OverCloud's events to one client. Each event is the whole object, so
 * over the output cap the ones in between are dropped: when the client has
 * read what was queued it gets the object as it is then. */
struct oc_stream {
	struct httpd_stream *stream;
	struct workflow_watch *watch;
	struct workflow *workflow;
	char id[STORE_ID_MAX];
	bool ended;
	bool replaying;
	bool paused;    /* over the cap: "overcloud" events are dropped ... */
	bool missed;    /* ... and one was */
};

/* Returns httpd_stream_write's answer (-1 also when it cannot be encoded). */
static int oc_stream_send(struct oc_stream *os, const char *event, json_t *oc)
{
	char *text = json_dumps(oc, JSON_COMPACT);
	struct evbuffer *buf = evbuffer_new();
	int rc = -1;

	if (text != NULL && buf != NULL && http_write_sse_event(buf, event, text) == 0)
		rc = httpd_stream_write(os->stream, evbuffer_pullup(buf, -1),
					evbuffer_get_length(buf));
	free(text);
	if (buf != NULL)
		evbuffer_free(buf);
	if (rc == 1)
		os->paused = true;
	return rc;
}

static void oc_stream_event(void *arg, const char *event, json_t *oc)
{
	struct oc_stream *os = arg;

	if (strcmp(event, "end") != 0) {
		if (os->paused)
			os->missed = true;
		else
			oc_stream_send(os, event, oc);
		return;
	}
	oc_stream_send(os, event, oc);
	os->watch = NULL;
	os->ended = true;
	httpd_stream_end(os->stream);
	if (!os->replaying)
		free(os);
}

static void oc_stream_drained(void *arg)
{
	struct oc_stream *os = arg;
	json_t *now;

	if (!os->paused)
		return;
	os->paused = false;
	if (!os->missed)
		return;
	os->missed = false;
	now = workflow_overcloud_json(os->workflow, os->id);
	if (now != NULL)
		oc_stream_send(os, "overcloud", now);
	json_decref(now);
}

static void oc_stream_gone(void *arg)
{
	struct oc_stream *os = arg;

	workflow_unwatch(os->watch);
	free(os);
}

static void get_overcloud_events(struct api_ctx *ctx, const char *id)
{
	struct oc_stream *os;
	json_t *obj = workflow_overcloud_json(ctx->tower->workflow, id);

	if (obj == NULL) {
		reply_error(ctx, 404, "no such overcloud", id);
		return;
	}
	json_decref(obj);
	os = calloc(1, sizeof(*os));
	if (os == NULL) {
		reply_error(ctx, 500, "out of memory", NULL);
		return;
	}
	os->workflow = ctx->tower->workflow;
	snprintf(os->id, sizeof(os->id), "%s", id);
	http_write_sse_start(ctx->out);
	os->stream = httpd_stream_begin(ctx->ex, oc_stream_gone, oc_stream_drained, os);
	if (os->stream == NULL) {
		free(os);
		ctx->ex->keep_alive = false;
		return;
	}
	os->replaying = true;
	if (workflow_watch(ctx->tower->workflow, id, oc_stream_event, os, &os->watch) != 0) {
		httpd_stream_end(os->stream);
		os->ended = true;
	}
	os->replaying = false;
	if (os->ended)
		free(os);   /* ended during the replay: on_gone will not come */
}

static void route_overclouds(struct api_ctx *ctx, const char *path)
{
	char id[STORE_ID_MAX];
	const char *tail;

	if (strcmp(path, "/v1/overclouds") == 0 || strcmp(path, "/overclouds") == 0) {
		if (method_is(ctx, "POST"))
			post_overclouds(ctx);
		else if (method_is(ctx, "GET"))
			reply_json(ctx, 200, workflow_list_json(ctx->tower->workflow));
		else if (method_is(ctx, "DELETE") && path[1] == 'o')
			delete_overcloud_v0(ctx);
		else
			reply_error(ctx, 405, "method not allowed", NULL);
		return;
	}
	if (!path_id(path, "/v1/overclouds/", id, sizeof(id), &tail)) {
		reply_error(ctx, 404, "no such path", path);
		return;
	}
	if (tail == NULL && method_is(ctx, "GET"))
		get_overcloud(ctx, id);
	else if (tail == NULL && method_is(ctx, "DELETE"))
		delete_overcloud(ctx, id);
	else if (tail != NULL && strcmp(tail, "events") == 0 && method_is(ctx, "GET"))
		get_overcloud_events(ctx, id);
	else if (tail != NULL && strcmp(tail, "nodes") == 0 && method_is(ctx, "POST"))
		post_overcloud_nodes(ctx, id);
	else if (tail != NULL && strcmp(tail, "runs") == 0 && method_is(ctx, "GET")) {
		json_t *runs = workflow_runs_json(ctx->tower->workflow, id);
		if (runs == NULL)
			reply_error(ctx, 404, "no such overcloud", id);
		else
			reply_json(ctx, 200, runs);
	} else if (tail == NULL || strcmp(tail, "events") == 0 || strcmp(tail, "runs") == 0 ||
		   strcmp(tail, "nodes") == 0)
		reply_error(ctx, 405, "method not allowed", NULL);
	else
		reply_error(ctx, 404, "no such path", path);
}

/* ---- nodes that boot: the agent binary and the cloud-init user-data ---- */

/* Public like ca.pem: a booting node has no admin token, and the binary is
 * no secret. The node checks the bytes against the sha256 in its
 * user-data; the header lets anyone else check the transfer. */
static void get_agent_artifact(struct api_ctx *ctx, const char *arch)
{
	char err[512], path[PATH_MAX], sha256_hex[65];
	struct stat st;
	int fd;

	if (!artifacts_arch_known(arch)) {
		reply_error(ctx, 404, "no agent for this architecture", "known: x86_64, aarch64, armv7");
		return;
	}
	if (artifacts_agent_sha256(ctx->tower->artifacts, arch, path, sha256_hex, err,
				   sizeof(err)) != 0) {
		bool missing = errno == ENOENT;
		log_warn("api %s: agent for %s: %s", ctx->peer, arch, err);
		reply_error(ctx, missing ? 404 : 500,
			    missing ? "no agent binary for this architecture on this tower"
				    : "cannot read the agent binary", arch);
		return;
	}
	/* Sent from the file as the client reads, not built in memory: a
	 * client that asks many times and never reads holds no copies. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > ARTIFACTS_MAX_BYTES) {
		log_warn("api %s: agent for %s: cannot open %s: %s", ctx->peer, arch, path,
			 fd < 0 ? strerror(errno) : "not a regular file of a sane size");
		if (fd >= 0)
			close(fd);
		reply_error(ctx, 500, "cannot read the agent binary", arch);
		return;
	}
	if (http_write_head(ctx->out, 200, "application/octet-stream", "X-Checksum-Sha256",
			    sha256_hex, (uint64_t)st.st_size, ctx->keep_alive) != 0) {
		close(fd);
		reply_error(ctx, 500, "cannot encode response", NULL);
		return;
	}
	ctx->ex->body_fd = fd;
	ctx->ex->body_len = (uint64_t)st.st_size;
	log_info("api %s: agent for %s sent (%lld bytes, sha256 %.12s...)", ctx->peer, arch,
		 (long long)st.st_size, sha256_hex);
}

/* {"role", "arch"} -> the user-data (text/yaml) of a new node, with a fresh
 * single-use token that expires in an hour. */
static void post_userdata(struct api_ctx *ctx)
{
	struct tower *t = ctx->tower;
	json_t *body = body_object(ctx), *v;
	const struct role *role = NULL;
	const char *key, *role_name, *arch = "x86_64";
	char err[512], path[PATH_MAX], sha256_hex[65], token[ENROLL_TOKEN_LEN + 1];
	char *text = NULL;
	size_t len = 0;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "role") != 0 && strcmp(key, "arch") != 0) {
			snprintf(err, sizeof(err), "unknown field \"%.64s\" (known: role, arch)", key);
			reply_error(ctx, 400, err, NULL);
			goto out;
		}
	}
	role_name = json_string_value(json_object_get(body, "role"));
	if (role_name == NULL || !enroll_role_valid(role_name)) {
		reply_error(ctx, 400, "field \"role\" must be a role name (a-z, 0-9, '-')", NULL);
		goto out;
	}
	role = t->roles ? role_set_find(t->roles, role_name) : NULL;
	if (role == NULL && (t->workflow == NULL || !workflow_has_group_role(t->workflow, role_name))) {
		reply_error(ctx, 400, "field \"role\": no such role", role_name);
		goto out;
	}
	v = json_object_get(body, "arch");
	if (v != NULL && !json_is_null(v))
		arch = json_string_value(v);
	if (arch == NULL || !artifacts_arch_known(arch)) {
		reply_error(ctx, 400, "field \"arch\" must be x86_64, aarch64 or armv7", NULL);
		goto out;
	}
	if (role != NULL && !role_supports_arch(role, arch)) {
		snprintf(err, sizeof(err), "role %s does not run on %s", role_name, arch);
		reply_error(ctx, 400, err, NULL);
		goto out;
	}
	/* Before a token is made for nothing: the node could not get its agent. */
	if (artifacts_agent_sha256(t->artifacts, arch, path, sha256_hex, err, sizeof(err)) != 0) {
		reply_error(ctx, 409, err, NULL);
		goto out;
	}
	if (enroll_create_token(t->store, role_name, API_USERDATA_TOKEN_TTL, 1, token, err,
				sizeof(err)) != 0) {
		reply_error(ctx, 500, err, NULL);
		goto out;
	}
	text = userdata_for_tower(t, token, role_name, arch, NULL, &len, err, sizeof(err));
	if (text == NULL) {
		log_error("api %s: user-data for %s/%s: %s", ctx->peer, role_name, arch, err);
		reply_error(ctx, 500, "cannot render the user-data", err);
		goto out;
	}
	log_info("api %s: user-data for role %s on %s with token %.*s... (%zu bytes)", ctx->peer,
		 role_name, arch, ENROLL_TOKEN_ID_HEX, token, len);
	http_write_response(ctx->out, 200, "text/yaml; charset=utf-8", text, len, ctx->keep_alive);
	explicit_bzero(text, len);
out:
	explicit_bzero(token, sizeof(token));
	free(text);
	json_decref(body);
}

/* ---- Prometheus: /metrics, discovery, a node's history (exporter.c) ---- */

static void get_metrics(struct api_ctx *ctx)
{
	struct evbuffer *text = evbuffer_new();

	if (text == NULL || exporter_metrics(ctx->tower, text) != 0) {
		reply_error(ctx, 500, "cannot read the figures", NULL);
	} else {
		size_t len = evbuffer_get_length(text);
		http_write_response(ctx->out, 200, PROMTEXT_CONTENT_TYPE,
				    evbuffer_pullup(text, -1), len, ctx->keep_alive);
	}
	if (text != NULL)
		evbuffer_free(text);
}

static void get_sd_prometheus(struct api_ctx *ctx)
{
	json_t *groups = exporter_sd_targets(ctx->tower);

	if (groups == NULL)
		reply_error(ctx, 500, "cannot read nodes", NULL);
	else
		reply_json(ctx, 200, groups);
}

static void get_node_metrics(struct api_ctx *ctx, const char *id)
{
	struct store_node node;
	int found = store_node_get(ctx->tower->store, id, &node);

	if (found < 0)
		reply_error(ctx, 500, "cannot read nodes", NULL);
	else if (found == 0 || node.deleted)
		reply_error(ctx, 404, "no such node", id);
	else
		reply_json(ctx, 200, nodemetrics_history_json(ctx->tower->nodemetrics, id));
}

void api_handle(void *arg, const struct http_request *req, struct httpd_exchange *ex)
{
	struct api_ctx ctx = {.tower = arg, .req = req, .peer = ex->peer, .out = ex->out,
			      .keep_alive = ex->keep_alive, .ex = ex};
	const char *peer = ex->peer, *tail;
	struct evbuffer *out = ex->out;
	char id[STORE_ID_MAX];
	const char *path = req->path;

	log_debug("api %s: %s %s", peer, req->method, path);
	/* Public: the CA certificate is what a new client needs to trust us. */
	if (strcmp(path, "/v1/ca.pem") == 0 || strcmp(path, "/healthz") == 0) {
		if (!method_is(&ctx, "GET"))
			reply_error(&ctx, 405, "method not allowed", NULL);
		else if (path[1] == 'h')
			reply_json(&ctx, 200, json_pack("{s:s}", "status", "ok"));
		else
			http_write_response(out, 200, "application/x-pem-file", ca_cert_pem(ctx.tower->ca),
					    strlen(ca_cert_pem(ctx.tower->ca)), ctx.keep_alive);
		return;
	}
	/* Public too: what a booting node downloads before it has any identity. */
	if (strncmp(path, "/v1/artifacts/", 14) == 0) {
		if (strncmp(path, "/v1/artifacts/agent/", 20) != 0 || path[20] == '\0' ||
		    strchr(path + 20, '/') != NULL)
			reply_error(&ctx, 404, "no such path", path);
		else if (!method_is(&ctx, "GET"))
			reply_error(&ctx, 405, "method not allowed", NULL);
		else
			get_agent_artifact(&ctx, path + 20);
		return;
	}
	/* The console: its files are public, its data comes from the API below. */
	if (web_path(path)) {
		web_handle(ctx.tower->web_dir, req, ex);
		return;
	}
	if (strcmp(path, "/v1/session") == 0) {
		session_handle(ctx.tower, req, ex);
		return;
	}
	if (!api_authorized(&ctx)) {
		/* Or the console's session cookie, with its CSRF header to change things. */
		enum session_auth s = session_authorize(ctx.tower->sessions, req, util_now());
		if (s == SESSION_AUTH_CSRF) {
			log_info("api %s: %s %s: session without its CSRF token", peer, req->method, path);
			reply_error(&ctx, 403, "missing or wrong CSRF token",
				    "send X-CSRF-Token: the csrf value of POST /v1/session");
			return;
		}
		if (s != SESSION_AUTH_OK) {
			log_info("api %s: %s %s: missing or wrong bearer token", peer, req->method, path);
			reply_error(&ctx, 401, "missing or wrong bearer token",
				    "send Authorization: Bearer <admin.token>");
			return;
		}
	}
	if (req->body_len > 0 && !body_is_json(req)) {
		reply_error(&ctx, 415, "request body must be JSON",
			    "send Content-Type: application/json");
		return;
	}
	if (strcmp(path, "/v1/nodes") == 0) {
		if (method_is(&ctx, "GET"))
			get_nodes(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (path_id(path, "/v1/nodes/", id, sizeof(id), &tail)) {
		if (tail != NULL && strcmp(tail, "metrics") != 0)
			reply_error(&ctx, 404, "no such path", path);
		else if (tail == NULL && method_is(&ctx, "DELETE"))
			delete_node(&ctx, id);
		else if (tail != NULL && method_is(&ctx, "GET"))
			get_node_metrics(&ctx, id);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (strcmp(path, "/v1/sd/prometheus") == 0) {
		if (method_is(&ctx, "GET"))
			get_sd_prometheus(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (strcmp(path, "/v1/tokens") == 0) {
		if (method_is(&ctx, "POST"))
			post_tokens(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (strcmp(path, "/v1/userdata") == 0) {
		if (method_is(&ctx, "POST"))
			post_userdata(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (strcmp(path, "/v1/runs") == 0) {
		if (method_is(&ctx, "POST"))
			post_runs(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (path_id(path, "/v1/runs/", id, sizeof(id), &tail)) {
		if (!method_is(&ctx, "GET"))
			reply_error(&ctx, 405, "method not allowed", NULL);
		else if (tail == NULL)
			get_run(&ctx, id);
		else if (strcmp(tail, "events") == 0)
			get_run_events(&ctx, id);
		else
			reply_error(&ctx, 404, "no such path", path);
	} else if (path_id(path, "/v1/tasks/", id, sizeof(id), &tail)) {
		if (!method_is(&ctx, "GET"))
			reply_error(&ctx, 405, "method not allowed", NULL);
		else if (tail == NULL || strcmp(tail, "log") == 0)
			get_task(&ctx, id, tail != NULL);
		else
			reply_error(&ctx, 404, "no such path", path);
	} else if (strncmp(path, "/v1/overclouds", 14) == 0 || strcmp(path, "/overclouds") == 0) {
		route_overclouds(&ctx, path);
	} else if (strcmp(path, "/metrics") == 0) {
		if (method_is(&ctx, "GET"))
			get_metrics(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else {
		reply_error(&ctx, 404, "no such path", path);
	}
}
