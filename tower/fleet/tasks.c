/* tasks.c — the tower's side of work on agents: persist, dispatch when the
 * node is there, record logs/progress/results once, notify run watchers. */
#include "tower/fleet/tasks.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "shared/log.h"
#include "shared/mask.h"
#include "shared/msg.h"
#include "shared/util.h"
#include "tower/fleet/hub.h"
#include "tower/engine/role.h"
#include "tower/store/store.h"
#include "tower/metrics/telemetry.h"

#define REPLAY_CHUNK 16384

struct tasks_watch {
	struct tasks *tk;
	char run_id[STORE_ID_MAX];
	tasks_watch_fn fn;
	void *arg;
	struct tasks_watch *prev, *next;
};

struct tasks {
	struct store *st;
	struct hub *hub;
	const struct role_set *roles;
	char log_dir[PATH_MAX];
	int64_t log_cap;
	struct tasks_watch *watches;
	void (*done_hook)(void *arg, const char *run_id);
	void *done_arg;
	struct event *late_ev;        /* gives up on tasks whose node never answers */
	/* Results the store could not save (disk full): their tasks are sent
	 * to the node again until one is saved; its journal answers with
	 * the result it still holds, since no ack went out. */
	struct event *reask_ev;
	char (*reask)[STORE_ID_MAX];
	size_t reask_count, reask_cap;
};

#define TASKS_REASK_MS 1000

void tasks_set_done_hook(struct tasks *tk, void (*fn)(void *arg, const char *run_id), void *arg)
{
	tk->done_hook = fn;
	tk->done_arg = arg;
}

static bool state_is_final(const char *state)
{
	return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
	       strcmp(state, "timeout") == 0 || strcmp(state, "cancelled") == 0;
}

static void random_id(const char *prefix, size_t nbytes, char *out, size_t size)
{
	uint8_t raw[16];
	char hex[33];

	util_random(raw, nbytes);
	util_hex(raw, nbytes, hex);
	snprintf(out, size, "%s%s", prefix, hex);
}

void tasks_new_run_id(char *out, size_t size)
{
	random_id("r-", 6, out, size);
}

struct tasks *tasks_new(struct store *st, struct hub *hub, const char *state_dir,
			int64_t log_cap, char *err, size_t err_size)
{
	struct tasks *tk = calloc(1, sizeof(*tk));

	if (tk == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	tk->st = st;
	tk->hub = hub;
	tk->log_cap = log_cap;
	snprintf(tk->log_dir, sizeof(tk->log_dir), "%s/logs", state_dir);
	if (util_mkdir_p(tk->log_dir, 0700) != 0) {
		snprintf(err, err_size, "cannot create %s: %s", tk->log_dir, strerror(errno));
		free(tk);
		return NULL;
	}
	return tk;
}

void tasks_free(struct tasks *tk)
{
	if (tk == NULL)
		return;
	while (tk->watches != NULL)
		tasks_unwatch(tk->watches);
	if (tk->late_ev != NULL)
		event_free(tk->late_ev);
	if (tk->reask_ev != NULL)
		event_free(tk->reask_ev);
	free(tk->reask);
	free(tk);
}

void tasks_set_roles(struct tasks *tk, const struct role_set *roles)
{
	tk->roles = roles;
}

void tasks_log_path(struct tasks *tk, const char *task_id, char *out, size_t size)
{
	snprintf(out, size, "%s/%s.log", tk->log_dir, task_id);
}

/* ---- sending ---- */

static char **json_strlist(json_t *arr, size_t *count)
{
	char **items;
	size_t i;
	json_t *v;

	*count = 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return NULL;
	items = calloc(json_array_size(arr), sizeof(*items));
	if (items == NULL)
		return NULL;
	json_array_foreach(arr, i, v)
		items[(*count)++] = (char *)(json_string_value(v) ?: "");
	return items;
}

static struct msg_kv *json_strmap(json_t *obj, size_t *count)
{
	struct msg_kv *items;
	const char *key;
	json_t *v;

	*count = 0;
	if (!json_is_object(obj) || json_object_size(obj) == 0)
		return NULL;
	items = calloc(json_object_size(obj), sizeof(*items));
	if (items == NULL)
		return NULL;
	json_object_foreach(obj, key, v) {
		items[*count].key = (char *)key;
		items[*count].value = (char *)(json_string_value(v) ?: "");
		(*count)++;
	}
	return items;
}

#define TASKS_LATE_GRACE_S 30

/* The tower's time past which the sweeper ends task t (timeout_s from its
 * spec) without its result: the task message carries it, so a node that
 * gets the task later (it was frozen, or cut off) does not start it. */
static int64_t late_deadline_ms(const struct store_task *t, int64_t timeout_s)
{
	return t->created_ms + ((timeout_s > 0 ? timeout_s : 3600) + TASKS_LATE_GRACE_S) * 1000;
}

/* Builds the task message from its stored spec and queues it for the node. */
static int send_task(struct tasks *tk, const struct store_task *t)
{
	struct msg m = {.type = MSG_TASK};
	struct msg_task *mt = &m.u.task;
	json_t *spec = json_loads(t->spec, 0, NULL);
	const char *hash;
	int rc = -1;

	if (spec == NULL) {
		log_error("task %s: stored spec is not JSON", t->id);
		return -1;
	}
	mt->id = (char *)t->id;
	mt->role = (char *)t->role;
	mt->step = (char *)t->step;
	mt->timeout = (uint64_t)json_integer_value(json_object_get(spec, "timeout"));
	mt->not_after_ms = (uint64_t)late_deadline_ms(t, (int64_t)mt->timeout);
	mt->argv.items = json_strlist(json_object_get(spec, "argv"), &mt->argv.count);
	mt->mask.items = json_strlist(json_object_get(spec, "mask"), &mt->mask.count);
	mt->outputs.items = json_strlist(json_object_get(spec, "outputs"), &mt->outputs.count);
	mt->env.items = json_strmap(json_object_get(spec, "env"), &mt->env.count);
	hash = json_string_value(json_object_get(spec, "bundle_hash"));
	if (hash != NULL && *hash != '\0') {
		const struct role *role = tk->roles ? role_set_find(tk->roles, t->role) : NULL;

		if (role == NULL || strcmp(role->bundle_hash, hash) != 0) {
			log_error("task %s: bundle %s of role %s is not loaded", t->id, hash, t->role);
			goto out;
		}
		mt->bundle_hash = (char *)hash;
		mt->bundle.data = role->bundle;
		mt->bundle.len = role->bundle_len;
	}
	rc = hub_send(tk->hub, t->node_id, &m);
out:
	free(mt->argv.items);
	free(mt->mask.items);
	free(mt->outputs.items);
	free(mt->env.items);
	json_decref(spec);
	return rc;
}

json_t *tasks_role_spec(struct tasks *tk, const char *role_name, const char *step_name,
			json_t *inputs, char *err, size_t err_size)
{
	const struct role *role = tk->roles ? role_set_find(tk->roles, role_name) : NULL;
	const struct role_step *step;
	json_t *env, *mask, *outputs, *secret, *v;
	const char *key;

	if (role == NULL) {
		snprintf(err, err_size, "unknown role \"%s\"", role_name);
		return NULL;
	}
	step = role_find_step(role, step_name);
	if (step == NULL) {
		snprintf(err, err_size, "role %s has no step \"%s\"", role_name, step_name);
		return NULL;
	}
	if (inputs != NULL && !json_is_object(inputs)) {
		snprintf(err, err_size, "inputs must be an object of strings");
		return NULL;
	}
	json_object_foreach(inputs, key, v) {
		if (role_find_input(role, key) == NULL) {
			snprintf(err, err_size, "unknown input \"%s\" for role %s", key, role_name);
			return NULL;
		}
		if (!json_is_string(v)) {
			snprintf(err, err_size, "input \"%s\" must be a string", key);
			return NULL;
		}
	}
	env = json_object();
	mask = json_array();
	outputs = json_array();
	secret = json_array();
	for (size_t i = 0; i < role->input_count; i++) {
		const struct role_input *in = &role->inputs[i];
		const char *value = json_string_value(json_object_get(inputs, in->name));
		char name[128];

		if (value == NULL)
			value = in->default_value;
		if (value == NULL && in->required) {
			snprintf(err, err_size, "missing input \"%s\" for role %s", in->name, role_name);
			goto fail;
		}
		if (value == NULL)
			continue;
		snprintf(name, sizeof(name), "INPUT_%s", in->name);
		for (char *p = name; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
			else if (*p == '-')
				*p = '_';
		json_object_set_new(env, name, json_string(value));
		if (in->secret && *value != '\0')
			json_array_append_new(mask, json_string(value));
	}
	for (size_t i = 0; i < role->output_count; i++) {
		json_array_append_new(outputs, json_string(role->outputs[i].name));
		if (role->outputs[i].secret)
			json_array_append_new(secret, json_string(role->outputs[i].name));
	}
	return json_pack("{s:[s], s:I, s:o, s:o, s:o, s:o, s:s}", "argv", step->script,
			 "timeout", (json_int_t)step->timeout_s, "env", env, "mask", mask,
			 "outputs", outputs, "secret_outputs", secret,
			 "bundle_hash", role->bundle_hash);
fail:
	json_decref(env);
	json_decref(mask);
	json_decref(outputs);
	json_decref(secret);
	return NULL;
}

struct pending_sends {
	struct tasks *tk;
	char (*ids)[STORE_ID_MAX];
	size_t count, cap;
};

/* Sends one open task if its node is connected; a "pending" one is listed
 * to be marked "sent". */
static int send_if_connected(const struct store_task *t, void *arg)
{
	struct pending_sends *ps = arg;

	if (state_is_final(t->state) || !hub_node_connected(ps->tk->hub, t->node_id) || send_task(ps->tk, t) != 0 ||
	    strcmp(t->state, "pending") != 0)
		return 0;
	if (ps->count == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		char (*grown)[STORE_ID_MAX] = realloc(ps->ids, cap * sizeof(*grown));
		if (grown == NULL)
			return 0;   /* stays "pending" in the list: only a label */
		ps->ids = grown;
		ps->cap = cap;
	}
	snprintf(ps->ids[ps->count++], STORE_ID_MAX, "%s", t->id);
	return 0;
}

/* "sent" is written after the fact, all in one transaction: it only tells
 * the operator the node has it; a task is re-sent while it is open anyway. */
static void mark_sent(struct tasks *tk, struct pending_sends *ps)
{
	bool batch = ps->count > 1 && store_begin(tk->st) == 0;
	int64_t now = util_now();
	size_t failed = 0;

	for (size_t i = 0; i < ps->count; i++)
		failed += store_task_set_state(tk->st, ps->ids[i], "sent", now) != 0;
	if (batch && store_commit(tk->st) != 0)
		failed = ps->count;
	if (failed > 0)
		log_warn("tasks: cannot record %zu task(s) as sent", failed);
	free(ps->ids);
}

int tasks_create_run(struct tasks *tk, const char *run_id, const char *const *node_ids,
		     size_t count, const char *role, const char *step, json_t *spec,
		     char (*task_ids_out)[TASKS_ID_SIZE], char *err, size_t err_size)
{
	struct pending_sends ps = {.tk = tk};
	char *text = json_dumps(spec, JSON_COMPACT);
	bool batch;
	int64_t now = util_now_ms();
	size_t i;

	if (text == NULL) {
		snprintf(err, err_size, "cannot encode the task");
		return -1;
	}
	/* All or none: a run resumed after a crash is either whole or empty. */
	batch = store_begin(tk->st) == 0;
	for (i = 0; i < count; i++) {
		char id[TASKS_ID_SIZE];

		random_id("t-", 8, id, sizeof(id));
		if (store_task_insert(tk->st, id, run_id, node_ids[i], role, step, text, now) != 0)
			break;
		if (task_ids_out != NULL)
			memcpy(task_ids_out[i], id, sizeof(id));
	}
	free(text);
	if (i < count || (batch && store_commit(tk->st) != 0)) {
		if (batch)
			store_rollback(tk->st);
		snprintf(err, err_size, "cannot store the tasks");
		return -1;
	}
	store_task_foreach_run(tk->st, run_id, send_if_connected, &ps);
	mark_sent(tk, &ps);
	return 0;
}

/* A connected node gets every open task again: the agent's journal knows
 * which it already ran and answers with the stored result instead. */
void tasks_on_node_ready(void *arg, const char *node_id)
{
	struct tasks *tk = arg;
	struct pending_sends ps = {.tk = tk};

	store_task_foreach_open(tk->st, node_id, send_if_connected, &ps);
	mark_sent(tk, &ps);
}

/* ---- watchers ---- */

/* Building an event costs a JSON document: only for runs someone follows. */
static bool has_watchers(struct tasks *tk, const char *run_id)
{
	for (struct tasks_watch *w = tk->watches; w != NULL; w = w->next)
		if (strcmp(w->run_id, run_id) == 0)
			return true;
	return false;
}

static void publish(struct tasks *tk, const char *run_id, const char *event, json_t *data)
{
	struct tasks_watch *w, *next;

	for (w = tk->watches; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->run_id, run_id) == 0)
			w->fn(w->arg, event, data);
	}
	json_decref(data);
}

static void end_watchers(struct tasks *tk, const char *run_id)
{
	struct tasks_watch *w, *next;
	json_t *data = json_pack("{s:s}", "run_id", run_id);

	for (w = tk->watches; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->run_id, run_id) != 0)
			continue;
		w->fn(w->arg, "end", data);
		tasks_unwatch(w);
	}
	json_decref(data);
}

/* Output may be any bytes; JSON wants UTF-8. */
static json_t *json_text(const uint8_t *data, size_t len)
{
	char *copy = malloc(len + 1);
	json_t *s;

	if (copy == NULL)
		return json_string("");
	for (size_t i = 0; i < len; i++)
		copy[i] = data[i] == 0 ? '?' : (char)data[i];
	copy[len] = '\0';
	s = json_stringn(copy, len);
	if (s == NULL) {
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)copy[i] >= 0x80)
				copy[i] = '?';
		s = json_stringn(copy, len);
	}
	free(copy);
	return s ? s : json_string("");
}

static void node_name(struct tasks *tk, const char *node_id, char *out, size_t size)
{
	struct store_node n;

	if (store_node_get(tk->st, node_id, &n) == 1 && n.name[0] != '\0')
		snprintf(out, size, "%s", n.name);
	else
		snprintf(out, size, "%s", node_id);
}

json_t *tasks_task_json(struct tasks *tk, const struct store_task *t)
{
	json_t *spec = json_loads(t->spec, 0, NULL), *outputs = json_loads(t->outputs, 0, NULL);
	json_t *secret = json_object_get(spec, "secret_outputs"), *v;
	char name[STORE_NODE_NAME_MAX];
	json_t *obj;
	size_t i;

	if (!json_is_object(outputs)) {
		json_decref(outputs);
		outputs = json_object();
	}
	/* Secret values never leave the tower through the API. */
	json_array_foreach(secret, i, v)
		if (json_object_get(outputs, json_string_value(v) ?: "") != NULL)
			json_object_set_new(outputs, json_string_value(v), json_string("***"));
	node_name(tk, t->node_id, name, sizeof(name));
	obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O?, s:I, s:s?, s:I, s:s, s:o, s:I,"
			" s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"task_id", t->id, "run_id", t->run_id, "node_id", t->node_id, "node", name,
			"role", t->role, "step", t->step, "state", t->state,
			"argv", json_object_get(spec, "argv"),
			"exit_code", (json_int_t)t->exit_code,
			"reason", t->reason[0] ? t->reason : NULL,
			"progress", (json_int_t)t->progress, "progress_message", t->progress_msg,
			"outputs", outputs, "log_bytes", (json_int_t)t->log_bytes,
			"created_at", (json_int_t)t->created_at, "started_at", (json_int_t)t->started_at,
			"finished_at", (json_int_t)t->finished_at,
			"duration_ms", (json_int_t)t->duration_ms,
			"roundtrip_ms", (json_int_t)(t->finished_ms ? t->finished_ms - t->created_ms : 0),
			"created_ms", (json_int_t)t->created_ms, "finished_ms", (json_int_t)t->finished_ms);
	json_decref(spec);
	return obj;
}

static int append_task_json(const struct store_task *t, void *arg)
{
	void **pass = arg;

	json_array_append_new(pass[1], tasks_task_json(pass[0], t));
	return 0;
}

json_t *tasks_run_json(struct tasks *tk, const char *run_id)
{
	json_t *arr = json_array();
	void *pass[2] = {tk, arr};

	if (store_task_foreach_run(tk->st, run_id, append_task_json, pass) != 0 ||
	    json_array_size(arr) == 0) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

struct replay {
	struct tasks *tk;
	struct tasks_watch *w;
	size_t open;
};

static int replay_task(const struct store_task *t, void *arg)
{
	struct replay *r = arg;
	char path[PATH_MAX + 64], name[STORE_NODE_NAME_MAX];
	uint8_t buf[REPLAY_CHUNK];
	ssize_t n;
	int fd;

	node_name(r->tk, t->node_id, name, sizeof(name));
	tasks_log_path(r->tk, t->id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:o}", "task_id", t->id, "node_id",
					 t->node_id, "node", name, "stream", "stdout", "data",
					 json_text(buf, (size_t)n));
		r->w->fn(r->w->arg, "log", data);
		json_decref(data);
	}
	if (fd >= 0)
		close(fd);
	if (!state_is_final(t->state))
		r->open++;
	{
		json_t *data = tasks_task_json(r->tk, t);
		r->w->fn(r->w->arg, "task", data);
		json_decref(data);
	}
	return 0;
}

int tasks_watch_run(struct tasks *tk, const char *run_id, tasks_watch_fn fn, void *arg,
		    struct tasks_watch **out)
{
	struct tasks_watch *w = calloc(1, sizeof(*w));
	struct replay r = {.tk = tk, .w = w};
	json_t *runs;

	*out = NULL;
	if (w == NULL)
		return -1;
	runs = tasks_run_json(tk, run_id);
	if (runs == NULL) {
		free(w);
		return -1;
	}
	json_decref(runs);
	w->tk = tk;
	w->fn = fn;
	w->arg = arg;
	snprintf(w->run_id, sizeof(w->run_id), "%s", run_id);
	store_task_foreach_run(tk->st, run_id, replay_task, &r);
	if (r.open == 0) {
		json_t *data = json_pack("{s:s}", "run_id", run_id);
		fn(arg, "end", data);
		json_decref(data);
		free(w);
		return 0;
	}
	w->next = tk->watches;
	if (tk->watches != NULL)
		tk->watches->prev = w;
	tk->watches = w;
	*out = w;
	return 0;
}

void tasks_unwatch(struct tasks_watch *w)
{
	struct tasks *tk;

	if (w == NULL)
		return;
	tk = w->tk;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		tk->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	free(w);
}

/* ---- what agents report ---- */

/* Output comes in chunks of either stream as the agent read them, so a line
 * written in pieces would be cut by the other stream's chunk in between.
 * Each stream's unfinished line waits in its own file next to the log and
 * joins the log whole, once its newline comes, the task ends, or it grows
 * past TASKS_PART_MAX. */
#define TASKS_PART_MAX 65536

static void part_path(struct tasks *tk, const char *task_id, bool err_stream, char *out,
		      size_t size)
{
	snprintf(out, size, "%s/%s.%s.part", tk->log_dir, task_id, err_stream ? "stderr" : "stdout");
}

static bool write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Appends one stream's bytes to the log at fd: the whole lines now, the
 * rest (all of it when flushing) kept in the stream's part file. */
static bool append_stream(struct tasks *tk, const char *task_id, bool err_stream, int fd,
			  const uint8_t *data, size_t len, bool flush)
{
	char path[PATH_MAX + 80], other[PATH_MAX + 80], *held, *all;
	size_t held_len = 0, whole, all_len;
	bool ok;

	part_path(tk, task_id, err_stream, path, sizeof(path));
	held = util_read_file(path, TASKS_PART_MAX * 2, &held_len);
	all_len = held_len + len;
	all = malloc(all_len + 1);
	if (all == NULL) {
		free(held);
		return write_all(fd, data, len);
	}
	if (held_len > 0)
		memcpy(all, held, held_len);
	if (len > 0)
		memcpy(all + held_len, data, len);
	free(held);
	whole = all_len;
	if (!flush && all_len <= TASKS_PART_MAX)
		while (whole > 0 && all[whole - 1] != '\n')
			whole--;
	ok = write_all(fd, all, whole);
	/* A last line without its newline ends the log as the task wrote it;
	 * only when the other stream's unfinished line follows does a newline
	 * keep the two apart. */
	if (ok && flush && whole > 0 && all[whole - 1] != '\n') {
		part_path(tk, task_id, !err_stream, other, sizeof(other));
		if (access(other, F_OK) == 0)
			ok = write_all(fd, "\n", 1);
	}
	/* On a failed write the caller logs it; what was held stays held. */
	if (ok && whole < all_len)
		ok = util_write_file_nosync(path, all + whole, all_len - whole, 0600) == 0;
	else if (ok && held_len > 0)
		unlink(path);
	free(all);
	return ok;
}

/* The task is over: both streams' unfinished lines join its log. */
static void flush_stream_parts(struct tasks *tk, const char *task_id)
{
	char path[PATH_MAX + 64], part[PATH_MAX + 80];
	int fd = -1;

	for (int e = 0; e < 2; e++) {
		part_path(tk, task_id, e == 1, part, sizeof(part));
		if (access(part, F_OK) != 0)
			continue;
		if (fd < 0) {
			tasks_log_path(tk, task_id, path, sizeof(path));
			fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			if (fd < 0)
				return;
		}
		if (!append_stream(tk, task_id, e == 1, fd, NULL, 0, true))
			log_error("task %s: cannot write its log: %s", task_id, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}

static void store_log_chunk(struct tasks *tk, const struct store_task *t, const struct msg_task_log *l)
{
	char path[PATH_MAX + 64], name[STORE_NODE_NAME_MAX];
	static const char marker[] = "\n[log truncated: over the tower's per-task cap]\n";
	size_t len = l->data.len;
	bool truncate = false;
	int fd;

	/* Chunks come again after a reconnect; each is stored once. */
	if ((int64_t)l->seq <= t->log_seq)
		return;
	/* Past the cap only the marker is written, once: log_bytes then
	 * stays at cap + 1. */
	if (t->log_bytes > tk->log_cap) {
		if (store_task_add_log(tk->st, t->id, 0, (int64_t)l->seq) != 0)
			log_warn("task %s: cannot record log chunk %llu", t->id,
				 (unsigned long long)l->seq);
		return;
	}
	if ((int64_t)len >= tk->log_cap - t->log_bytes) {
		len = (size_t)(tk->log_cap - t->log_bytes);
		truncate = true;
	}
	tasks_log_path(tk, t->id, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("task %s: cannot open %s: %s", t->id, path, strerror(errno));
		return;
	}
	if (!append_stream(tk, t->id, l->stream != NULL && strcmp(l->stream, "stderr") == 0, fd,
			   l->data.data, len, false) ||
	    (truncate && (!append_stream(tk, t->id, false, fd, NULL, 0, true) ||
			  !append_stream(tk, t->id, true, fd, NULL, 0, true) ||
			  write(fd, marker, sizeof(marker) - 1) < 0)))
		log_error("task %s: cannot write its log: %s", t->id, strerror(errno));
	close(fd);
	if (store_task_add_log(tk->st, t->id, (int64_t)len + (truncate ? 1 : 0), (int64_t)l->seq) != 0)
		log_warn("task %s: cannot record log chunk %llu", t->id, (unsigned long long)l->seq);
	if (truncate)
		log_warn("task %s: log over %lld bytes, the rest is dropped", t->id,
			 (long long)tk->log_cap);
	if (!has_watchers(tk, t->run_id))
		return;
	node_name(tk, t->node_id, name, sizeof(name));
	publish(tk, t->run_id, "log",
		json_pack("{s:s, s:s, s:s, s:s, s:o}", "task_id", t->id, "node_id", t->node_id,
			  "node", name, "stream", l->stream, "data", json_text(l->data.data, len)));
}

static json_t *outputs_json(const struct msg_strmap *outputs)
{
	json_t *obj = json_object();

	for (size_t i = 0; i < outputs->count; i++)
		json_object_set_new(obj, outputs->items[i].key,
				    json_text((const uint8_t *)outputs->items[i].value,
					      strlen(outputs->items[i].value)));
	return obj;
}

static void mem_emit(void *ctx, const uint8_t *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

/* Secret values (inputs, and outputs now that they are known) are replaced
 * by *** in the stored log, in case a script printed them (shared/mask.c:
 * the agent masked the inputs already; outputs become known only now). */
static void mask_stored_log(struct tasks *tk, const struct store_task *t,
			    const struct msg_strmap *outputs)
{
	json_t *spec = json_loads(t->spec, 0, NULL), *v;
	char path[PATH_MAX + 64];
	const char *values[64];
	size_t count = 0, i, len;
	char *text, *out = NULL;
	size_t out_len = 0;
	struct mask *secrets = NULL;
	FILE *mem;

	json_array_foreach(json_object_get(spec, "mask"), i, v)
		if (count < OC_ARRAY_LEN(values) && json_string_length(v) > 0)
			values[count++] = json_string_value(v);
	json_array_foreach(json_object_get(spec, "secret_outputs"), i, v)
		for (size_t k = 0; k < outputs->count && count < OC_ARRAY_LEN(values); k++)
			if (strcmp(outputs->items[k].key, json_string_value(v) ?: "") == 0 &&
			    outputs->items[k].value[0] != '\0')
				values[count++] = outputs->items[k].value;
	tasks_log_path(tk, t->id, path, sizeof(path));
	text = count ? util_read_file(path, (size_t)tk->log_cap + 4096, &len) : NULL;
	if (text == NULL || (secrets = mask_new()) == NULL)
		goto out;
	for (i = 0; i < count; i++)
		if (mask_add(secrets, values[i], strlen(values[i])) != 0)
			goto out;
	mem = open_memstream(&out, &out_len);
	if (mem == NULL)
		goto out;
	mask_stream(secrets, (const uint8_t *)text, len, true, mem_emit, mem);
	fclose(mem);
	if (out_len != len || memcmp(out, text, len) != 0)
		util_write_file(path, out, out_len, 0600);
out:
	mask_free(secrets);
	free(out);
	free(text);
	json_decref(spec);
}

/* What a result changes, decided inside the message's transaction and
 * acted on only after its commit. */
struct done_effects {
	bool ack;                /* the result is stored: the agent may forget it */
	bool first;              /* stored now, not an agent's repeat */
	bool have_now;
	bool run_ended;
	struct store_task now;   /* the task as stored */
};

static void record_done(struct tasks *tk, const struct store_task *t, const struct msg_task_done *d,
			struct done_effects *fx)
{
	static const char *const states[] = {"done", "failed", "timeout", "cancelled"};
	const char *state = "failed";
	json_t *outputs = outputs_json(&d->outputs);
	char *text = json_dumps(outputs, JSON_COMPACT);
	int rc;

	for (size_t i = 0; i < OC_ARRAY_LEN(states); i++)
		if (strcmp(d->status, states[i]) == 0)
			state = states[i];
	util_one_line(d->reason);   /* the agent's words, for logs and terminals */
	rc = store_task_finish(tk->st, t->id, state, d->exit_code, (int64_t)d->duration_ms,
			       d->reason, text, util_now_ms());
	free(text);
	json_decref(outputs);
	if (rc < 0)
		return;   /* not stored: no ack, the agent sends it again */
	fx->ack = true;
	if (rc == 0)
		return;
	telemetry_observe(TELEMETRY_TASK, (double)d->duration_ms / 1000.0);
	flush_stream_parts(tk, t->id);
	mask_stored_log(tk, t, &d->outputs);
	fx->first = true;
	fx->have_now = store_task_get(tk->st, t->id, &fx->now) == 1;
	fx->run_ended = store_task_count_open(tk->st, t->run_id) == 0;
}

/* The task goes to its node again in TASKS_REASK_MS, for the result the
 * store just failed to save. */
static void reask_later(struct tasks *tk, const char *task_id)
{
	struct timeval in = {TASKS_REASK_MS / 1000, (TASKS_REASK_MS % 1000) * 1000};

	for (size_t i = 0; i < tk->reask_count; i++)
		if (strcmp(tk->reask[i], task_id) == 0)
			return;
	if (tk->reask_count == tk->reask_cap) {
		size_t cap = tk->reask_cap ? tk->reask_cap * 2 : 8;
		char (*grown)[STORE_ID_MAX] = realloc(tk->reask, cap * sizeof(*grown));
		if (grown == NULL)
			return;   /* the node's next reconnect sends it again */
		tk->reask = grown;
		tk->reask_cap = cap;
	}
	snprintf(tk->reask[tk->reask_count++], STORE_ID_MAX, "%s", task_id);
	if (tk->reask_ev != NULL && !evtimer_pending(tk->reask_ev, NULL))
		evtimer_add(tk->reask_ev, &in);
}

static void on_reask(evutil_socket_t fd, short what, void *arg)
{
	struct tasks *tk = arg;
	size_t count = tk->reask_count;
	char (*ids)[STORE_ID_MAX] = tk->reask;

	(void)fd;
	(void)what;
	tk->reask = NULL;
	tk->reask_count = tk->reask_cap = 0;
	for (size_t i = 0; i < count; i++) {
		struct store_task t;
		if (store_task_get(tk->st, ids[i], &t) != 1) {
			reask_later(tk, ids[i]);   /* cannot even read: try again */
			continue;
		}
		if (!state_is_final(t.state) && hub_node_connected(tk->hub, t.node_id)) {
			log_info("task %s: asking node %s for its result again", t.id, t.node_id);
			send_task(tk, &t);
		}
		store_task_clear(&t);
	}
	free(ids);
}

static void act_on_done(struct tasks *tk, const struct store_task *t, struct done_effects *fx)
{
	struct msg ack = {.type = MSG_TASK_ACK};

	if (fx->ack) {
		ack.u.task_ack.id = (char *)t->id;
		hub_send(tk->hub, t->node_id, &ack);
	}
	if (fx->ack && !fx->first)
		log_info("task %s: result sent again by the agent, already recorded", t->id);
	if (!fx->first)
		return;
	if (fx->have_now)
		log_info("task %s on %s: %s, exit %lld, %lld ms", t->id, t->node_id, fx->now.state,
			 (long long)fx->now.exit_code, (long long)fx->now.duration_ms);
	if (fx->have_now && has_watchers(tk, t->run_id))
		publish(tk, t->run_id, "task", tasks_task_json(tk, &fx->now));
	if (fx->have_now)
		store_task_clear(&fx->now);
	if (fx->run_ended)
		end_watchers(tk, t->run_id);
	if (tk->done_hook != NULL)
		tk->done_hook(tk->done_arg, t->run_id);
}

void tasks_on_task_msg(void *arg, const char *node_id, const struct msg *m)
{
	struct tasks *tk = arg;
	const char *id = m->u.task_accepted.id;   /* id comes first in every task message */
	struct done_effects fx = {0};
	bool batch, started = false;
	struct store_task t;
	char name[STORE_NODE_NAME_MAX];

	switch (m->type) {
	case MSG_TASK_LOG: id = m->u.task_log.id; break;
	case MSG_TASK_PROGRESS: id = m->u.task_progress.id; break;
	case MSG_TASK_DONE: id = m->u.task_done.id; break;
	default: break;
	}
	/* One transaction per message: its reads and writes commit at once,
	 * and nothing is acted on (ack, watchers, workflow) before that. */
	batch = store_begin(tk->st) == 0;
	/* A node may only speak about its own tasks. */
	if (store_task_get(tk->st, id, &t) != 1 || strcmp(t.node_id, node_id) != 0) {
		if (batch)
			store_rollback(tk->st);
		log_warn("agent %s: \"%s\" for task %s that is not its own, ignored", node_id,
			 msg_type_name(m->type), id);
		store_task_clear(&t);
		return;
	}
	switch (m->type) {
	case MSG_TASK_ACCEPTED:
		if (!state_is_final(t.state)) {
			if (store_task_set_state(tk->st, t.id, "running", util_now()) != 0) {
				log_warn("task %s: cannot record it running", t.id);
				break;
			}
			snprintf(t.state, sizeof(t.state), "running");
			started = true;
		}
		break;
	case MSG_TASK_LOG:
		if (!state_is_final(t.state))
			store_log_chunk(tk, &t, &m->u.task_log);
		break;
	case MSG_TASK_PROGRESS:
		util_one_line(m->u.task_progress.message);   /* shown in progress lines */
		if (!state_is_final(t.state) &&
		    store_task_progress(tk->st, t.id, (int64_t)m->u.task_progress.percent,
					m->u.task_progress.message) != 0)
			log_warn("task %s: cannot record its progress", t.id);
		break;
	case MSG_TASK_DONE:
		record_done(tk, &t, &m->u.task_done, &fx);
		break;
	default:
		break;
	}
	if (batch && store_commit(tk->st) != 0) {
		store_rollback(tk->st);
		fx.ack = false;
		if (fx.have_now)
			store_task_clear(&fx.now);
		fx.have_now = false;
	}
	if (m->type == MSG_TASK_DONE && !fx.ack) {
		/* No ack: the agent keeps the result, and gets the task again
		 * until the store takes it. */
		log_error("task %s on %s: its result could not be stored; asking again in %d ms",
			  t.id, node_id, TASKS_REASK_MS);
		reask_later(tk, t.id);
		store_task_clear(&t);
		return;
	}
	if (started && has_watchers(tk, t.run_id))
		publish(tk, t.run_id, "task", tasks_task_json(tk, &t));
	if (m->type == MSG_TASK_PROGRESS && !state_is_final(t.state) && has_watchers(tk, t.run_id)) {
		node_name(tk, node_id, name, sizeof(name));
		publish(tk, t.run_id, "progress",
			json_pack("{s:s, s:s, s:I, s:s}", "task_id", t.id, "node", name, "percent",
				  (json_int_t)m->u.task_progress.percent, "message",
				  m->u.task_progress.message ?: ""));
	}
	if (m->type == MSG_TASK_DONE)
		act_on_done(tk, &t, &fx);
	store_task_clear(&t);
}

/* ---- tasks whose node never answers ---- */

/* A node that died, or whose network did, never reports; without a limit
 * a destroy step would wait for it forever and its VMs never be released.
 * A task still open TASKS_LATE_GRACE_S after its own timeout ran out is
 * ended "timeout" here (and cancelled on the node, should it come back). */
#define TASKS_LATE_SWEEP_S 5

static int end_if_late(const struct store_task *t, void *arg)
{
	struct tasks *tk = arg;
	json_t *spec = json_loads(t->spec, 0, NULL);
	int64_t timeout_s = json_integer_value(json_object_get(spec, "timeout"));
	struct msg cancel = {.type = MSG_CANCEL};
	struct msg_task_done d = {0};
	struct done_effects fx = {0};
	char reason[200];

	json_decref(spec);
	if (util_now_ms() < late_deadline_ms(t, timeout_s))
		return 0;
	if (timeout_s <= 0)
		timeout_s = 3600;
	snprintf(reason, sizeof(reason), "no result from node %s within the %llds timeout "
		 "and %ds more (node down or unreachable)", t->node_id, (long long)timeout_s,
		 TASKS_LATE_GRACE_S);
	log_warn("task %s: %s", t->id, reason);
	cancel.u.cancel.id = (char *)t->id;
	hub_send(tk->hub, t->node_id, &cancel);
	d.id = (char *)t->id;
	d.status = "timeout";
	d.exit_code = -1;
	d.reason = reason;
	record_done(tk, t, &d, &fx);
	fx.ack = false;   /* nothing to acknowledge: the node never answered */
	act_on_done(tk, t, &fx);
	return 0;
}

static void on_late_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct tasks *tk = arg;

	store_task_foreach_open_before(tk->st, util_now_ms() - TASKS_LATE_GRACE_S * 1000,
				       end_if_late, tk);
}

int tasks_start_sweeper(struct tasks *tk, struct event_base *base)
{
	struct timeval every = {TASKS_LATE_SWEEP_S, 0};

	tk->late_ev = event_new(base, -1, EV_PERSIST, on_late_sweep, tk);
	tk->reask_ev = evtimer_new(base, on_reask, tk);
	return tk->late_ev != NULL && tk->reask_ev != NULL && event_add(tk->late_ev, &every) == 0
		       ? 0 : -1;
}
