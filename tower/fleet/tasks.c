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
#include <jansson.h>

#include "shared/log.h"
#include "shared/lograte.h"
#include "shared/mask.h"
#include "shared/msg.h"
#include "shared/util.h"
#include "tower/fleet/hub.h"
#include "tower/engine/role.h"
#include "tower/store/feed.h"
#include "tower/store/store.h"
#include "tower/metrics/telemetry.h"

#define REPLAY_CHUNK 16384

struct tasks_watch {
	struct tasks *tk;
	char run_id[STORE_ID_MAX];
	tasks_watch_fn fn;
	void *arg;
	struct tasks_watch *prev, *next;
	/* The run's tasks this watcher has not been told the end of: it ends
	 * once they are none. (With replicas the database may be ahead of
	 * what a watcher was told: a task another replica finished has not
	 * ended for it until that replica's last note, after its log's.) */
	char (*open)[STORE_ID_MAX];
	size_t open_count, open_cap;
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
	struct event *relay_ev;       /* replicas: sends what another one made */
	struct feed *feed;            /* replicas: tells the others what changed */
	/* Replicas: what this tower's watchers were told of each task of a
	 * watched run that another replica moves (feed notes carry ids only). */
	struct heard_task *heard;
	size_t heard_count, heard_cap;
	/* Results the store could not save (disk full): their tasks are sent
	 * to the node again until one is saved; its journal answers with
	 * the result it still holds, since no ack went out. */
	struct event *reask_ev;
	char (*reask)[STORE_ID_MAX];
	size_t reask_count, reask_cap;
	/* While the disk stays full every agent's result fails again each
	 * TASKS_REASK_MS: one line per interval says how many. */
	struct lograte rate_unstored, rate_reask;
};

#define TASKS_REASK_MS 1000

struct task_result;
static int task_change_state(struct tasks *tk, struct store_task *t, enum task_state to,
			     const struct task_result *res);

/* A task of a watched run as this tower's watchers last heard of it from
 * the feed, so a note that changes nothing they see sends them nothing. */
struct heard_task {
	char run_id[STORE_ID_MAX];
	char task_id[STORE_ID_MAX];
	char state[16];
	int64_t progress;
	uint64_t message_hash;
};

void tasks_set_feed(struct tasks *tk, struct feed *feed)
{
	tk->feed = feed;
}

void tasks_set_done_hook(struct tasks *tk, void (*fn)(void *arg, const char *run_id), void *arg)
{
	tk->done_hook = fn;
	tk->done_arg = arg;
}

/* ---- states ---- */

/* The names the store keeps, one per enum task_state. */
static const char *const statenames[TASK_STATE_COUNT] = {
	[TASK_PENDING] = "pending",
	[TASK_SENT] = "sent",
	[TASK_RUNNING] = "running",
	[TASK_DONE] = "done",
	[TASK_FAILED] = "failed",
	[TASK_TIMEOUT] = "timeout",
	[TASK_CANCELLED] = "cancelled",
};

const char *task_state_name(enum task_state state)
{
	return (unsigned)state < TASK_STATE_COUNT ? statenames[state] : "unknown";
}

bool task_state_final(enum task_state state)
{
	return state >= TASK_DONE;
}

bool task_state_from_name(const char *name, enum task_state *out)
{
	for (int i = 0; i < TASK_STATE_COUNT; i++)
		if (name != NULL && strcmp(name, statenames[i]) == 0) {
			*out = (enum task_state)i;
			return true;
		}
	return false;
}

enum task_state task_state_of(const struct store_task *t)
{
	enum task_state s;

	return task_state_from_name(t->state, &s) ? s : TASK_FAILED;
}

static bool task_is_final(const struct store_task *t)
{
	return task_state_final(task_state_of(t));
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
	if (tk->relay_ev != NULL)
		event_free(tk->relay_ev);
	if (tk->reask_ev != NULL)
		event_free(tk->reask_ev);
	free(tk->reask);
	free(tk->heard);
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
	struct task_spec spec;
	int rc = -1;

	if (task_spec_decode(t->spec, &spec) != 0) {
		log_error("task %s: stored spec is not JSON", t->id);
		return -1;
	}
	mt->id = (char *)t->id;
	mt->role = (char *)t->role;
	mt->step = (char *)t->step;
	mt->timeout = (uint64_t)spec.timeout_s;
	mt->not_after_ms = (uint64_t)late_deadline_ms(t, spec.timeout_s);
	mt->argv.items = (char **)spec.argv;
	mt->argv.count = spec.argc;
	mt->mask.items = (char **)spec.mask;
	mt->mask.count = spec.mask_count;
	mt->outputs.items = (char **)spec.outputs;
	mt->outputs.count = spec.output_count;
	if (spec.env_count > 0) {
		mt->env.items = calloc(spec.env_count, sizeof(*mt->env.items));
		if (mt->env.items == NULL)
			goto out;
		for (size_t i = 0; i < spec.env_count; i++) {
			mt->env.items[i].key = (char *)spec.env[i].name;
			mt->env.items[i].value = (char *)spec.env[i].value;
		}
		mt->env.count = spec.env_count;
	}
	if (spec.bundle_hash != NULL) {
		const struct role *role = tk->roles ? role_set_find(tk->roles, t->role) : NULL;

		if (role == NULL || strcmp(role->bundle_hash, spec.bundle_hash) != 0) {
			log_error("task %s: bundle %s of role %s is not loaded", t->id,
				  spec.bundle_hash, t->role);
			goto out;
		}
		mt->bundle_hash = (char *)spec.bundle_hash;
		mt->bundle.data = role->bundle;
		mt->bundle.len = role->bundle_len;
	}
	rc = hub_send(tk->hub, t->node_id, &m);
out:
	free(mt->env.items);
	task_spec_clear(&spec);
	return rc;
}

/* The value given for a role input: the last of that name. */
static const struct task_input *input_given(const struct task_input *inputs, size_t count,
					    const char *name)
{
	for (size_t i = count; i > 0; i--)
		if (strcmp(inputs[i - 1].name, name) == 0)
			return &inputs[i - 1];
	return NULL;
}

int tasks_role_spec(struct tasks *tk, const char *role_name, const char *step_name,
		    const struct task_input *inputs, size_t input_count, struct task_spec *out,
		    char *err, size_t err_size)
{
	const struct role *role = tk->roles ? role_set_find(tk->roles, role_name) : NULL;
	const struct role_step *step;
	bool ok = true;

	memset(out, 0, sizeof(*out));
	if (role == NULL) {
		snprintf(err, err_size, "unknown role \"%s\"", role_name);
		return -1;
	}
	step = role_find_step(role, step_name);
	if (step == NULL) {
		snprintf(err, err_size, "role %s has no step \"%s\"", role_name, step_name);
		return -1;
	}
	for (size_t i = 0; i < input_count; i++) {
		if (role_find_input(role, inputs[i].name) == NULL) {
			snprintf(err, err_size, "unknown input \"%s\" for role %s", inputs[i].name,
				 role_name);
			return -1;
		}
		if (inputs[i].value == NULL) {
			snprintf(err, err_size, "input \"%s\" must be a string", inputs[i].name);
			return -1;
		}
	}
	for (size_t i = 0; ok && i < role->input_count; i++) {
		const struct role_input *in = &role->inputs[i];
		const struct task_input *given = input_given(inputs, input_count, in->name);
		const char *value = given != NULL ? given->value : in->default_value;
		char name[128];

		if (value == NULL && in->required) {
			snprintf(err, err_size, "missing input \"%s\" for role %s", in->name, role_name);
			task_spec_clear(out);
			return -1;
		}
		if (value == NULL)
			continue;
		snprintf(name, sizeof(name), "INPUT_%s", in->name);
		for (char *p = name; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
			else if (*p == '-')
				*p = '_';
		ok = task_spec_add_env(out, name, value) == 0;
		if (ok && in->secret && *value != '\0')
			ok = task_spec_add(&out->mask, &out->mask_count, value) == 0;
	}
	for (size_t i = 0; ok && i < role->output_count; i++) {
		ok = task_spec_add(&out->outputs, &out->output_count, role->outputs[i].name) == 0;
		if (ok && role->outputs[i].secret)
			ok = task_spec_add(&out->secret_outputs, &out->secret_output_count,
				      role->outputs[i].name) == 0;
	}
	ok = ok && task_spec_add(&out->argv, &out->argc, step->script) == 0;
	out->timeout_s = step->timeout_s;
	if (ok && (out->bundle_hash = strdup(role->bundle_hash)) == NULL)
		ok = false;
	if (!ok) {
		snprintf(err, err_size, "out of memory");
		task_spec_clear(out);
		return -1;
	}
	return 0;
}

struct pending_sends {
	struct tasks *tk;
	struct store_task *sent;   /* without their heap strings */
	size_t count, cap;
};

/* Sends one open task if its node is connected; a "pending" one is listed
 * to be marked "sent". */
static int send_if_connected(const struct store_task *t, void *arg)
{
	struct pending_sends *ps = arg;

	if (task_is_final(t) || !hub_node_connected(ps->tk->hub, t->node_id) ||
	    send_task(ps->tk, t) != 0 || task_state_of(t) != TASK_PENDING)
		return 0;
	if (ps->count == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct store_task *grown = realloc(ps->sent, cap * sizeof(*grown));
		if (grown == NULL)
			return 0;   /* stays "pending" in the list: only a label */
		ps->sent = grown;
		ps->cap = cap;
	}
	ps->sent[ps->count] = *t;
	ps->sent[ps->count].spec = NULL;
	ps->sent[ps->count++].outputs = NULL;
	return 0;
}

/* "sent" is written after the fact, all in one transaction: it only tells
 * the operator the node has it; a task is re-sent while it is open anyway. */
static void mark_sent(struct tasks *tk, struct pending_sends *ps)
{
	bool batch = ps->count > 1 && store_begin(tk->st) == 0;

	for (size_t i = 0; i < ps->count; i++)
		task_change_state(tk, &ps->sent[i], TASK_SENT, NULL);
	if (batch && store_commit(tk->st) != 0)
		log_warn("tasks: cannot record %zu task(s) as sent", ps->count);
	free(ps->sent);
}

int tasks_create_run(struct tasks *tk, const char *run_id, const char *const *node_ids,
		     size_t count, const char *role, const char *step,
		     const struct task_spec *spec, char (*task_ids_out)[TASKS_ID_SIZE],
		     char *err, size_t err_size)
{
	struct pending_sends ps = {.tk = tk};
	char *text = task_spec_encode(spec);
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
	/* Replicas: the one holding a node's connection sends its task at
	 * once. In the batch, the note goes with its COMMIT. */
	if (i == count)
		feed_send(tk->feed, FEED_RUN, run_id, NULL);
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

/* Building an event costs reads and copies: only for runs someone follows. */
static bool has_watchers(struct tasks *tk, const char *run_id)
{
	for (struct tasks_watch *w = tk->watches; w != NULL; w = w->next)
		if (strcmp(w->run_id, run_id) == 0)
			return true;
	return false;
}

static int watch_keep_open(struct tasks_watch *w, const char *task_id)
{
	if (w->open_count == w->open_cap) {
		size_t cap = w->open_cap ? w->open_cap * 2 : 8;
		char (*grown)[STORE_ID_MAX] = realloc(w->open, cap * sizeof(*grown));

		if (grown == NULL)
			return -1;
		w->open = grown;
		w->open_cap = cap;
	}
	snprintf(w->open[w->open_count++], STORE_ID_MAX, "%s", task_id);
	return 0;
}

static void watch_drop_open(struct tasks_watch *w, const char *task_id)
{
	for (size_t i = 0; i < w->open_count; i++)
		if (strcmp(w->open[i], task_id) == 0) {
			memcpy(w->open[i], w->open[--w->open_count], STORE_ID_MAX);
			return;
		}
}

/* The task has ended for the run's watchers (its final state told). */
static void task_ended_for_watchers(struct tasks *tk, const char *run_id, const char *task_id)
{
	for (struct tasks_watch *w = tk->watches; w != NULL; w = w->next)
		if (strcmp(w->run_id, run_id) == 0)
			watch_drop_open(w, task_id);
}

static void publish(struct tasks *tk, const struct tasks_event *ev)
{
	struct tasks_watch *w, *next;

	for (w = tk->watches; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->run_id, ev->run_id) == 0)
			w->fn(w->arg, ev);
	}
	if (ev->kind == TASKS_EVENT_TASK && task_is_final(ev->task))
		task_ended_for_watchers(tk, ev->run_id, ev->task->id);
}

/* Ends the run's watchers that were told the end of every task. */
static void end_watchers(struct tasks *tk, const char *run_id)
{
	struct tasks_event ev = {.kind = TASKS_EVENT_END, .run_id = run_id};
	struct tasks_watch *w, *next;

	for (w = tk->watches; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->run_id, run_id) != 0 || w->open_count > 0)
			continue;
		w->fn(w->arg, &ev);
		tasks_unwatch(w);
	}
}

/* Output may be any bytes; JSON (the store's outputs, the API's events)
 * wants UTF-8: NULs become '?', and so does every byte >= 0x80 when the
 * whole is not UTF-8. A heap copy of len bytes plus a NUL, or NULL. */
static char *clean_text(const uint8_t *data, size_t len)
{
	char *copy = malloc(len + 1);
	json_t *s;

	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = data[i] == 0 ? '?' : (char)data[i];
	copy[len] = '\0';
	s = json_stringn(copy, len);
	if (s == NULL)
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)copy[i] >= 0x80)
				copy[i] = '?';
	json_decref(s);
	return copy;
}

static void node_name(struct tasks *tk, const char *node_id, char *out, size_t size)
{
	struct store_node n;

	if (store_node_get(tk->st, node_id, &n) == 1 && n.name[0] != '\0')
		snprintf(out, size, "%s", n.name);
	else
		snprintf(out, size, "%s", node_id);
}

/* Tells the run's watchers about bytes of a task's log. */
static void publish_log(struct tasks *tk, const struct store_task *t, const char *node,
			const char *stream, const uint8_t *data, size_t len)
{
	char *text = clean_text(data, len);
	struct tasks_event ev = {
		.kind = TASKS_EVENT_LOG, .run_id = t->run_id, .task_id = t->id,
		.node_id = t->node_id, .node = node, .stream = stream,
		.text = text ? text : "", .text_len = text ? len : 0,
	};

	publish(tk, &ev);
	free(text);
}

static void publish_task(struct tasks *tk, const struct store_task *t)
{
	struct tasks_event ev = {.kind = TASKS_EVENT_TASK, .run_id = t->run_id, .task = t};

	publish(tk, &ev);
}

struct replay {
	struct tasks *tk;
	struct tasks_watch *w;
	size_t open;
	bool open_lost;     /* out of memory keeping the open ones */
};

static void part_path(struct tasks *tk, const char *task_id, bool err_stream, char *out,
		      size_t size);

/* The file at path to the watcher, as log events of stream. */
static void replay_file(struct replay *r, const struct store_task *t, const char *name,
			const char *path, const char *stream)
{
	uint8_t buf[REPLAY_CHUNK];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		char *text = clean_text(buf, (size_t)n);
		struct tasks_event ev = {
			.kind = TASKS_EVENT_LOG, .run_id = t->run_id, .task_id = t->id,
			.node_id = t->node_id, .node = name, .stream = stream,
			.text = text ? text : "", .text_len = text ? (size_t)n : 0,
		};

		r->w->fn(r->w->arg, &ev);
		free(text);
	}
	if (fd >= 0)
		close(fd);
}

static int replay_task(const struct store_task *t, void *arg)
{
	struct replay *r = arg;
	char path[PATH_MAX + 80], name[STORE_NODE_NAME_MAX];

	node_name(r->tk, t->node_id, name, sizeof(name));
	tasks_log_path(r->tk, t->id, path, sizeof(path));
	replay_file(r, t, name, path, "stdout");
	if (!task_is_final(t)) {
		/* An open task's unfinished lines wait in its part files: the
		 * watcher had them live, and a replay must bring them too, or a
		 * watcher that missed them while paused never gets them (they
		 * join the log at the end, and are not sent again then). */
		part_path(r->tk, t->id, false, path, sizeof(path));
		replay_file(r, t, name, path, "stdout");
		part_path(r->tk, t->id, true, path, sizeof(path));
		replay_file(r, t, name, path, "stderr");
		r->open++;
		if (watch_keep_open(r->w, t->id) != 0)
			r->open_lost = true;
	}
	{
		struct tasks_event ev = {.kind = TASKS_EVENT_TASK, .run_id = t->run_id, .task = t};

		r->w->fn(r->w->arg, &ev);
	}
	return 0;
}

static int count_task(const struct store_task *t, void *arg)
{
	(void)t;
	(*(size_t *)arg)++;
	return 0;
}

int tasks_watch_run(struct tasks *tk, const char *run_id, tasks_watch_fn fn, void *arg,
		    struct tasks_watch **out)
{
	struct tasks_watch *w = calloc(1, sizeof(*w));
	struct replay r = {.tk = tk, .w = w};
	size_t tasks = 0;

	*out = NULL;
	if (w == NULL)
		return -1;
	if (store_task_foreach_run(tk->st, run_id, count_task, &tasks) != 0 || tasks == 0) {
		free(w);
		return -1;
	}
	w->tk = tk;
	w->fn = fn;
	w->arg = arg;
	snprintf(w->run_id, sizeof(w->run_id), "%s", run_id);
	store_task_foreach_run(tk->st, run_id, replay_task, &r);
	if (r.open == 0 || r.open_lost) {
		struct tasks_event ev = {.kind = TASKS_EVENT_END, .run_id = run_id};

		fn(arg, &ev);
		free(w->open);
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
	free(w->open);
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
	feed_send_log(tk->feed, t->run_id, t->id, l->stream != NULL && strcmp(l->stream, "stderr") == 0,
		      l->data.data, len);
	if (!has_watchers(tk, t->run_id))
		return;
	node_name(tk, t->node_id, name, sizeof(name));
	publish_log(tk, t, name, l->stream, l->data.data, len);
}

/* The outputs column: a JSON object of the outputs' text. */
static char *outputs_encode(const struct msg_strmap *outputs)
{
	json_t *obj = json_object();
	char *text;

	for (size_t i = 0; outputs != NULL && i < outputs->count; i++) {
		char *value = clean_text((const uint8_t *)outputs->items[i].value,
					 strlen(outputs->items[i].value));

		json_object_set_new(obj, outputs->items[i].key, json_string(value ? value : ""));
		free(value);
	}
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return text;
}

static void mem_emit(void *ctx, const uint8_t *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

/* Secret values (inputs, and outputs now that they are known) are replaced
 * by *** in the stored log, in case a script printed them (shared/mask.c:
 * the agent masked the inputs already; outputs become known only now). */
static void mask_log_file(struct tasks *tk, const struct store_task *t, const char **values,
			  size_t count);

static void mask_stored_log(struct tasks *tk, const struct store_task *t,
			    const struct msg_strmap *outputs)
{
	struct task_spec spec;
	const char *values[64];
	size_t count = 0, i;

	if (task_spec_decode(t->spec, &spec) != 0)
		return;
	for (i = 0; i < spec.mask_count; i++)
		if (count < OC_ARRAY_LEN(values) && spec.mask[i][0] != '\0')
			values[count++] = spec.mask[i];
	for (i = 0; outputs != NULL && i < spec.secret_output_count; i++)
		for (size_t k = 0; k < outputs->count && count < OC_ARRAY_LEN(values); k++)
			if (strcmp(outputs->items[k].key, spec.secret_outputs[i]) == 0 &&
			    outputs->items[k].value[0] != '\0')
				values[count++] = outputs->items[k].value;
	mask_log_file(tk, t, values, count);
	task_spec_clear(&spec);
}

/* The same for this replica's copy of another replica's log: the secret
 * outputs are the stored ones. */
static void mask_copied_log(struct tasks *tk, const struct store_task *t)
{
	struct task_spec spec;
	const char *values[64];
	size_t count = 0, i;
	json_t *outputs = json_loads(t->outputs ? t->outputs : "{}", 0, NULL);

	if (task_spec_decode(t->spec, &spec) != 0) {
		json_decref(outputs);
		return;
	}
	for (i = 0; i < spec.mask_count; i++)
		if (count < OC_ARRAY_LEN(values) && spec.mask[i][0] != '\0')
			values[count++] = spec.mask[i];
	for (i = 0; i < spec.secret_output_count && count < OC_ARRAY_LEN(values); i++) {
		const char *v = json_string_value(json_object_get(outputs, spec.secret_outputs[i]));

		if (v != NULL && v[0] != '\0')
			values[count++] = v;
	}
	mask_log_file(tk, t, values, count);
	task_spec_clear(&spec);
	json_decref(outputs);
}

/* Rewrites the task's log with every one of values as ***. */
static void mask_log_file(struct tasks *tk, const struct store_task *t, const char **values,
			  size_t count)
{
	char path[PATH_MAX + 64];
	size_t i, len;
	char *text, *out = NULL;
	size_t out_len = 0;
	struct mask *secrets = NULL;
	FILE *mem;

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
		if (!task_is_final(&t) && hub_node_connected(tk->hub, t.node_id)) {
			uint64_t suppressed;

			if (lograte_allow(&tk->rate_reask, &suppressed))
				log_info("task %s: asking node %s for its result again (%llu more in "
					 "the last %d s)", t.id, t.node_id,
					 (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
			send_task(tk, &t);
		}
		store_task_clear(&t);
	}
	free(ids);
}

/* ---- the one place a task changes state ---- */

/* How a task ended, for a move to a final state. */
struct task_result {
	int64_t exit_code;
	int64_t duration_ms;
	const char *reason;
	const struct msg_strmap *outputs;
	bool from_agent;   /* the agent holds the result until it is acked */
};

/* Forward only; nothing leaves a final state. */
static bool transition_legal(enum task_state from, enum task_state to)
{
	if (task_state_final(from))
		return false;
	switch (to) {
	case TASK_PENDING:
		return false;
	case TASK_SENT:
		return from == TASK_PENDING;
	case TASK_RUNNING:
		return from == TASK_PENDING || from == TASK_SENT;
	default:
		return (unsigned)to < TASK_STATE_COUNT;
	}
}

static void send_ack(struct tasks *tk, const struct store_task *t)
{
	struct msg ack = {.type = MSG_TASK_ACK};

	ack.u.task_ack.id = (char *)t->id;
	hub_send(tk->hub, t->node_id, &ack);
}

/* A result the store took: the log is completed, the agent acked, and the
 * run's watchers, then the done hook, hear of it. */
static void finished(struct tasks *tk, const struct store_task *t, const struct task_result *res)
{
	struct store_task now;
	bool have_now;

	telemetry_observe(TELEMETRY_TASK, (double)res->duration_ms / 1000.0);
	flush_stream_parts(tk, t->id);
	mask_stored_log(tk, t, res->outputs);
	have_now = store_task_get(tk->st, t->id, &now) == 1;
	/* after the log's notes: the last one about the task */
	feed_send(tk->feed, FEED_TASK_DONE, t->run_id, t->id);
	if (res->from_agent)
		send_ack(tk, t);
	if (have_now) {
		if (res->from_agent)
			log_info("task %s on %s: %s, exit %lld, %lld ms", t->id, t->node_id,
				 now.state, (long long)now.exit_code, (long long)now.duration_ms);
		else
			log_warn("task %s on %s: %s: %s", t->id, t->node_id, now.state, now.reason);
		if (has_watchers(tk, t->run_id))
			publish_task(tk, &now);
		store_task_clear(&now);
	}
	task_ended_for_watchers(tk, t->run_id, t->id);
	end_watchers(tk, t->run_id);
	if (tk->done_hook != NULL)
		tk->done_hook(tk->done_arg, t->run_id);
}

/* Moves t to state `to` (res: how it ended, for a final state): checks the
 * move is legal, stamps its time, writes the store, logs once and tells
 * whom it concerns. "sent" is only a label written in batches, so it tells
 * no one. Returns 1 when the task moved, 0 when the move was refused (an
 * agent's repeated result is acked again), -1 when the store failed: an
 * agent's result is then asked for again until the store takes it. */
static int task_change_state(struct tasks *tk, struct store_task *t, enum task_state to,
			     const struct task_result *res)
{
	enum task_state from = task_state_of(t);
	char *outputs;
	int rc;

	if (!transition_legal(from, to)) {
		if (res != NULL && res->from_agent && task_state_final(from)) {
			send_ack(tk, t);
			log_info("task %s: result sent again by the agent, already recorded", t->id);
		} else {
			log_debug("task %s: %s -> %s refused", t->id, statenames[from],
				  task_state_name(to));
		}
		return 0;
	}
	if (!task_state_final(to)) {
		int64_t now = util_now();

		if (store_task_set_state(tk->st, t->id, statenames[to], now) != 0) {
			log_error("task %s: cannot record it as %s", t->id, statenames[to]);
			return -1;
		}
		snprintf(t->state, sizeof(t->state), "%s", statenames[to]);
		if (to == TASK_RUNNING && t->started_at == 0)
			t->started_at = now;
		if (to == TASK_RUNNING && has_watchers(tk, t->run_id))
			publish_task(tk, t);
		if (to == TASK_RUNNING)
			feed_send(tk->feed, FEED_TASK, t->run_id, t->id);
		return 1;
	}
	outputs = outputs_encode(res->outputs);
	rc = outputs == NULL ? -1
			     : store_task_finish(tk->st, t->id, statenames[to], res->exit_code,
						 res->duration_ms, res->reason, outputs,
						 util_now_ms());
	free(outputs);
	if (rc < 0) {
		if (res->from_agent) {
			/* No ack: the agent keeps the result, and gets the task
			 * again until the store takes it. */
			uint64_t suppressed;

			if (lograte_allow(&tk->rate_unstored, &suppressed))
				log_error("task %s on %s: its result could not be stored; asking again "
					  "in %d ms (%llu more results not stored in the last %d s)",
					  t->id, t->node_id, TASKS_REASK_MS,
					  (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
			reask_later(tk, t->id);
		} else {
			log_error("task %s: cannot record it as %s", t->id, statenames[to]);
		}
		return -1;
	}
	if (rc == 0) {   /* the store had it final already */
		if (res->from_agent) {
			send_ack(tk, t);
			log_info("task %s: result sent again by the agent, already recorded", t->id);
		}
		return 0;
	}
	snprintf(t->state, sizeof(t->state), "%s", statenames[to]);
	finished(tk, t, res);
	return 1;
}

/* The state an agent's result names; anything else is a failure. */
static enum task_state result_state(const char *status)
{
	enum task_state s;

	return task_state_from_name(status, &s) && task_state_final(s) ? s : TASK_FAILED;
}

void tasks_on_task_msg(void *arg, const char *node_id, const struct msg *m)
{
	struct tasks *tk = arg;
	const char *id = m->u.task_accepted.id;   /* id comes first in every task message */
	struct store_task t;
	char name[STORE_NODE_NAME_MAX];

	switch (m->type) {
	case MSG_TASK_LOG: id = m->u.task_log.id; break;
	case MSG_TASK_PROGRESS: id = m->u.task_progress.id; break;
	case MSG_TASK_DONE: id = m->u.task_done.id; break;
	default: break;
	}
	/* A node may only speak about its own tasks. No transaction: each
	 * message makes one write, and what follows a result (ack, watchers,
	 * the workflow's hook) must see it committed. */
	if (store_task_get(tk->st, id, &t) != 1 || strcmp(t.node_id, node_id) != 0) {
		log_warn("agent %s: \"%s\" for task %s that is not its own, ignored", node_id,
			 msg_type_name(m->type), id);
		store_task_clear(&t);
		return;
	}
	switch (m->type) {
	case MSG_TASK_ACCEPTED:
		task_change_state(tk, &t, TASK_RUNNING, NULL);
		break;
	case MSG_TASK_LOG:
		if (!task_is_final(&t))
			store_log_chunk(tk, &t, &m->u.task_log);
		break;
	case MSG_TASK_PROGRESS:
		util_one_line(m->u.task_progress.message);   /* shown in progress lines */
		if (task_is_final(&t) ||
		    store_task_progress(tk->st, t.id, (int64_t)m->u.task_progress.percent,
					m->u.task_progress.message) != 0)
			break;
		feed_send(tk->feed, FEED_TASK, t.run_id, t.id);
		if (!has_watchers(tk, t.run_id))
			break;
		node_name(tk, node_id, name, sizeof(name));
		publish(tk, &(struct tasks_event){
			.kind = TASKS_EVENT_PROGRESS, .run_id = t.run_id, .task_id = t.id,
			.node = name, .percent = (int64_t)m->u.task_progress.percent,
			.message = m->u.task_progress.message ?: "",
		});
		break;
	case MSG_TASK_DONE: {
		const struct msg_task_done *d = &m->u.task_done;
		struct task_result res = {
			.exit_code = d->exit_code, .duration_ms = (int64_t)d->duration_ms,
			.reason = d->reason, .outputs = &d->outputs, .from_agent = true,
		};

		util_one_line(d->reason);   /* the agent's words, for logs and terminals */
		task_change_state(tk, &t, result_state(d->status), &res);
		break;
	}
	default:
		break;
	}
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
	struct task_spec spec;
	int64_t timeout_s = task_spec_decode(t->spec, &spec) == 0 ? spec.timeout_s : 0;
	struct msg cancel = {.type = MSG_CANCEL};
	struct store_task late = *t;   /* shares t's strings: not cleared */
	char reason[200];
	struct task_result res = {.exit_code = -1, .reason = reason};

	task_spec_clear(&spec);
	if (util_now_ms() < late_deadline_ms(t, timeout_s))
		return 0;
	if (timeout_s <= 0)
		timeout_s = 3600;
	snprintf(reason, sizeof(reason), "no result from node %s within the %llds timeout "
		 "and %ds more (node down or unreachable)", t->node_id, (long long)timeout_s,
		 TASKS_LATE_GRACE_S);
	cancel.u.cancel.id = (char *)t->id;
	hub_send(tk->hub, t->node_id, &cancel);
	task_change_state(tk, &late, TASK_TIMEOUT, &res);
	return 0;
}

static void on_late_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct tasks *tk = arg;

	store_task_foreach_open_before(tk->st, util_now_ms() - TASKS_LATE_GRACE_S * 1000,
				       end_if_late, tk);
}

/* The feed's note brings a task at once; this poll is the safety net for a
 * note that was missed. OVERCLOUD_RELAY_POLL_MS sets it (tests stretch it
 * to show the note alone does it). */
#define TASKS_RELAY_EVERY_MS 5000
#define TASKS_RELAY_SPAN_MS (24LL * 3600 * 1000)

/* Replicas: a task another replica made for a node connected here is still
 * pending in the database; the replica that holds the node's connection
 * finds it here and sends it. */
static void on_relay(evutil_socket_t fd, short what, void *arg)
{
	struct tasks *tk = arg;
	struct pending_sends ps = {.tk = tk};

	store_task_foreach_pending_since(tk->st, util_now_ms() - TASKS_RELAY_SPAN_MS,
					 send_if_connected, &ps);
	mark_sent(tk, &ps);
}

int tasks_start_relay(struct tasks *tk, struct event_base *base)
{
	const char *knob = getenv("OVERCLOUD_RELAY_POLL_MS");
	int64_t ms = TASKS_RELAY_EVERY_MS;
	struct timeval every;

	if (knob != NULL && util_parse_int(knob, 10, 24LL * 3600 * 1000, &ms) != 0) {
		log_error("OVERCLOUD_RELAY_POLL_MS=%.20s: not a number of ms from 10 to a day", knob);
		return -1;
	}
	every.tv_sec = ms / 1000;
	every.tv_usec = (ms % 1000) * 1000;

	tk->relay_ev = event_new(base, -1, EV_PERSIST, on_relay, tk);
	return tk->relay_ev != NULL && event_add(tk->relay_ev, &every) == 0 ? 0 : -1;
}

int tasks_start_sweeper(struct tasks *tk, struct event_base *base)
{
	struct timeval every = {TASKS_LATE_SWEEP_S, 0};

	tk->late_ev = event_new(base, -1, EV_PERSIST, on_late_sweep, tk);
	tk->reask_ev = evtimer_new(base, on_reask, tk);
	return tk->late_ev != NULL && tk->reask_ev != NULL && event_add(tk->late_ev, &every) == 0
		       ? 0 : -1;
}

/* ---- replicas: what the feed says another replica did ---- */

static struct heard_task *heard_of(struct tasks *tk, const struct store_task *t, bool *fresh)
{
	*fresh = false;
	for (size_t i = 0; i < tk->heard_count; i++)
		if (strcmp(tk->heard[i].task_id, t->id) == 0)
			return &tk->heard[i];
	/* forget the tasks of runs nobody here watches any more */
	for (size_t i = 0; i < tk->heard_count;)
		if (!has_watchers(tk, tk->heard[i].run_id))
			tk->heard[i] = tk->heard[--tk->heard_count];
		else
			i++;
	if (tk->heard_count == tk->heard_cap) {
		size_t cap = tk->heard_cap ? tk->heard_cap * 2 : 16;
		struct heard_task *grown = realloc(tk->heard, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		tk->heard = grown;
		tk->heard_cap = cap;
	}
	memset(&tk->heard[tk->heard_count], 0, sizeof(tk->heard[0]));
	snprintf(tk->heard[tk->heard_count].run_id, STORE_ID_MAX, "%s", t->run_id);
	snprintf(tk->heard[tk->heard_count].task_id, STORE_ID_MAX, "%s", t->id);
	*fresh = true;
	return &tk->heard[tk->heard_count++];
}

static uint64_t text_hash(const char *text)
{
	uint64_t h = 14695981039346656037ULL;

	for (const char *p = text; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

/* A task another replica moved, as the store has it now: this tower's
 * watchers of its run hear what changed (the same events the replica that
 * moved it gave its own). The database may be ahead of the notes: a task's
 * end is told on its last note (done), which comes after its log's, never
 * on an earlier one. Then the watchers told the end of every task end, and
 * the done hook hears of it (the leader's workflow waits for it). */
static void task_moved_elsewhere(struct tasks *tk, const struct store_task *t, bool done)
{
	struct heard_task *h;
	char name[STORE_NODE_NAME_MAX];
	bool fresh, final = task_is_final(t);

	if (final && !done)
		return;
	if (has_watchers(tk, t->run_id) && (h = heard_of(tk, t, &fresh)) != NULL) {
		uint64_t mh = text_hash(t->progress_msg);

		/* a running task's progress, as the agent reported it */
		if (!final && (t->progress != h->progress || mh != h->message_hash) &&
		    (t->progress > 0 || t->progress_msg[0] != '\0')) {
			node_name(tk, t->node_id, name, sizeof(name));
			publish(tk, &(struct tasks_event){
				.kind = TASKS_EVENT_PROGRESS, .run_id = t->run_id, .task_id = t->id,
				.node = name, .percent = t->progress, .message = t->progress_msg,
			});
		}
		/* "sent" is a label no watcher is told of, here as on its replica */
		if (strcmp(t->state, h->state) != 0 && task_state_of(t) != TASK_SENT &&
		    (task_state_of(t) != TASK_PENDING || !fresh))
			publish_task(tk, t);
		snprintf(h->state, sizeof(h->state), "%s", t->state);
		h->progress = t->progress;
		h->message_hash = mh;
	}
	if (!final)
		return;
	mask_copied_log(tk, t);
	task_ended_for_watchers(tk, t->run_id, t->id);
	end_watchers(tk, t->run_id);
	if (tk->done_hook != NULL)
		tk->done_hook(tk->done_arg, t->run_id);
}

/* After a lost LISTEN connection: each task of a watched run as it is now,
 * a finished one as if its last note had come. */
static int task_looked_again(const struct store_task *t, void *arg)
{
	task_moved_elsewhere(arg, t, true);
	return 0;
}

/* Another replica's log bytes: kept in this tower's copy of the log too,
 * so that a replay and GET .../log here have them, and told to watchers. */
static void log_heard(struct tasks *tk, const struct feed_note *n)
{
	char path[PATH_MAX + 64], name[STORE_NODE_NAME_MAX];
	struct store_task t;
	int fd;

	tasks_log_path(tk, n->task_id, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || !write_all(fd, n->data, n->data_len))
		log_warn("task %s: cannot keep its log here: %s", n->task_id, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (!has_watchers(tk, n->id))
		return;
	if (store_task_get(tk->st, n->task_id, &t) != 1 || strcmp(t.run_id, n->id) != 0) {
		store_task_clear(&t);
		return;
	}
	node_name(tk, t.node_id, name, sizeof(name));
	publish_log(tk, &t, name, n->err_stream ? "stderr" : "stdout", n->data, n->data_len);
	store_task_clear(&t);
}

static int run_of_watch(struct tasks *tk, size_t at, char *out)
{
	size_t i = 0;

	for (struct tasks_watch *w = tk->watches; w != NULL; w = w->next, i++)
		if (i == at) {
			snprintf(out, STORE_ID_MAX, "%s", w->run_id);
			return 0;
		}
	return -1;
}

static bool has_log_copy(struct tasks *tk, const char *task_id)
{
	char path[PATH_MAX + 64];

	tasks_log_path(tk, task_id, path, sizeof(path));
	return access(path, F_OK) == 0;
}

void tasks_on_feed(struct tasks *tk, const struct feed_note *n)
{
	struct pending_sends ps = {.tk = tk};
	struct store_task t;
	char run[STORE_ID_MAX];

	switch (n->kind) {
	case FEED_RUN:
		/* with no agent here, none of its tasks is this replica's to send */
		if (hub_connected_count(tk->hub) == 0)
			break;
		store_task_foreach_run(tk->st, n->id, send_if_connected, &ps);
		mark_sent(tk, &ps);
		break;
	case FEED_TASK:
	case FEED_TASK_DONE:
		/* nobody here follows the run: only the end matters, to the
		 * done hook (the leader's workflow) */
		if (!has_watchers(tk, n->id)) {
			if (n->kind != FEED_TASK_DONE)
				break;
			/* this replica's copy of its log, masked as the original */
			if (has_log_copy(tk, n->task_id)) {
				if (store_task_get(tk->st, n->task_id, &t) == 1 && task_is_final(&t))
					mask_copied_log(tk, &t);
				store_task_clear(&t);
			}
			if (tk->done_hook != NULL)
				tk->done_hook(tk->done_arg, n->id);
			break;
		}
		if (store_task_get(tk->st, n->task_id, &t) == 1 && strcmp(t.run_id, n->id) == 0)
			task_moved_elsewhere(tk, &t, n->kind == FEED_TASK_DONE);
		store_task_clear(&t);
		break;
	case FEED_LOG:
		log_heard(tk, n);
		break;
	case FEED_RESYNC:
		on_relay(-1, 0, tk);
		/* a watch may end (and go) on the way: walk by position */
		for (size_t i = 0; run_of_watch(tk, i, run) == 0; i++)
			store_task_foreach_run(tk->st, run, task_looked_again, tk);
		break;
	case FEED_OVERCLOUD:
		break;
	}
}
