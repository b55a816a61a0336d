/* workflow.c — runs each OverCloud's create, attach and destroy DAGs: steps
 * start when what they require is done; every change is in sqlite before it
 * is acted on, so a restarted tower picks up where it was. Patterns say what
 * the steps are (pattern.c), tasks.c runs role steps on agents, providers
 * make and release the nodes; attached nodes are enrolled ones, never the
 * provider's. */
#include "tower/engine/workflow.h"
#include "tower/engine/lease.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/config.h"
#include "tower/fleet/hub.h"
#include "tower/fleet/nodes.h"
#include "tower/engine/pattern.h"
#include "tower/engine/provision.h"
#include "tower/providers/provider.h"
#include "tower/engine/role.h"
#include "tower/engine/state.h"
#include "tower/engine/template.h"
#include "tower/store/feed.h"
#include "tower/store/store.h"
#include "tower/fleet/tasks.h"
#include "tower/metrics/telemetry.h"
#include "tower/tower.h"

#define TICK_MS 250
/* How long the enroll step waits for made nodes' agents by default;
 * [workflow] enroll_timeout in tower.conf sets another (a lab's slow boots,
 * a test's short wait). */
#define ENROLL_TIMEOUT_MS (10 * 60 * 1000)
#define RETRY_FIRST_MS 1000
#define RETRY_CAP_MS 30000

struct workflow_watch {
	struct workflow *wf;
	char id[STORE_ID_MAX];
	workflow_watch_fn fn;
	void *arg;
	struct workflow_watch *prev, *next;
};

struct workflow {
	struct tower *t;
	struct pattern_set *patterns;
	struct event *tick;
	struct workflow_watch *watches;
	struct watched *watched;      /* what each watched OverCloud's watchers heard last */
	bool notifying;
	bool advancing;
	struct provision *provision;  /* provider calls */
	int64_t enroll_timeout_ms;
};

/* Everything about one OverCloud the engine looks at, read fresh. */
struct oc_view {
	struct store_overcloud oc;
	const struct pattern *pattern;
	struct store_oc_node *nodes;
	int node_count;
	struct store_oc_step *steps;  /* heap, every recorded step */
	int step_count;
};

static enum oc_state oc_state_of(const struct store_overcloud *oc)
{
	return oc_state_parse(oc->status);
}

static enum step_state step_state_of(const struct store_oc_step *s)
{
	return step_state_parse(s->state);
}

static bool step_final(const struct store_oc_step *s)
{
	return step_state_final(step_state_of(s));
}

bool workflow_has_provider(const char *name)
{
	return provider_find(name) != NULL;
}

bool workflow_has_pattern(struct workflow *wf, const char *name)
{
	return wf->patterns != NULL && pattern_set_find(wf->patterns, name) != NULL;
}

/* ---- reading an OverCloud ---- */

static void view_free(struct oc_view *v)
{
	free(v->nodes);
	v->nodes = NULL;
	free(v->steps);
	v->steps = NULL;
}

/* Room for the pattern's steps, and one more so that a view that comes
 * back full is known to be whole only when the store has no more. */
static size_t first_steps_cap(const struct pattern *p)
{
	size_t n = p ? p->create_count + p->destroy_count + p->attach_count + 1 : 64;

	return n < 64 ? 64 : n;
}

static int view_load(struct workflow *wf, const char *id, struct oc_view *v)
{
	memset(v, 0, sizeof(*v));
	if (store_oc_get(wf->t->store, id, &v->oc) != 1)
		return -1;
	v->pattern = wf->patterns ? pattern_set_find(wf->patterns, v->oc.pattern) : NULL;
	/* Sized for the usual few nodes; grown when it comes back full. Every
	 * event reads the view, so a huge zeroed block each time would cost. */
	for (size_t cap = 32;; cap *= 4) {
		free(v->nodes);
		v->nodes = calloc(cap, sizeof(*v->nodes));
		if (v->nodes == NULL)
			return -1;
		v->node_count = store_ocn_list(wf->t->store, id, v->nodes, cap);
		if (v->node_count < (int)cap || cap >= WORKFLOW_MAX_NODES)
			break;
	}
	/* Every recorded step: a view that dropped any would run a DAG in
	 * part (a release past the end never ran). Sized for the pattern's
	 * steps first; grown up to what any pattern that loads can record. */
	for (size_t cap = first_steps_cap(v->pattern);; cap *= 4) {
		if (cap > PATTERN_MAX_RECORDED_STEPS)
			cap = PATTERN_MAX_RECORDED_STEPS;
		free(v->steps);
		v->steps = calloc(cap, sizeof(*v->steps));
		if (v->steps == NULL) {
			view_free(v);
			return -1;
		}
		v->step_count = store_ocs_list(wf->t->store, id, v->steps, cap);
		if (v->step_count < (int)cap || cap == PATTERN_MAX_RECORDED_STEPS)
			break;
	}
	if (v->node_count < 0 || v->step_count < 0) {
		view_free(v);
		return -1;
	}
	return 0;
}

static struct store_oc_step *view_step(struct oc_view *v, const char *dag, const char *name)
{
	for (int i = 0; i < v->step_count; i++)
		if (strcmp(v->steps[i].dag, dag) == 0 && strcmp(v->steps[i].name, name) == 0)
			return &v->steps[i];
	return NULL;
}

static const struct pattern_step *dag_steps(const struct pattern *p, const char *dag, size_t *count)
{
	if (strcmp(dag, "create") == 0) {
		*count = p->create_count;
		return p->create;
	}
	if (strcmp(dag, "attach") == 0) {
		*count = p->attach_count;
		return p->attach;
	}
	*count = p->destroy_count;
	return p->destroy;
}

/* An attach runs while the OverCloud stays ready: its steps are open. */
static bool attach_open(const struct oc_view *v)
{
	for (int i = 0; i < v->step_count; i++)
		if (strcmp(v->steps[i].dag, "attach") == 0 && !step_final(&v->steps[i]))
			return true;
	return false;
}

/* Nothing more will happen to it until someone asks: watchers end here. */
static bool oc_settled(const struct oc_view *v)
{
	enum oc_state st = oc_state_of(&v->oc);

	if (st == OC_READY)
		return !attach_open(v);
	return st == OC_FAILED || st == OC_DELETED;
}

/* ---- watchers ---- */

static struct workflow_overcloud *snapshot_build(struct workflow *wf, const struct oc_view *v,
						 const struct workflow_overcloud *prev);

/* What the watchers of one OverCloud heard last: the next snapshot starts
 * from it, so a change costs what changed, not a re-read. */
struct watched {
	char id[STORE_ID_MAX];
	struct workflow_overcloud *last;
	struct watched *next;
};

static struct watched *watched_find(struct workflow *wf, const char *id)
{
	for (struct watched *e = wf->watched; e != NULL; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static bool has_watchers(struct workflow *wf, const char *id)
{
	for (struct workflow_watch *w = wf->watches; w != NULL; w = w->next)
		if (strcmp(w->id, id) == 0)
			return true;
	return false;
}

/* Forgets what id's watchers heard once none is left. */
static void watched_prune(struct workflow *wf, const char *id)
{
	struct watched **at = &wf->watched, *e;

	if (wf->notifying || has_watchers(wf, id))
		return;
	while (*at != NULL && strcmp((*at)->id, id) != 0)
		at = &(*at)->next;
	if ((e = *at) == NULL)
		return;
	*at = e->next;
	workflow_overcloud_free(e->last);
	free(e);
}

/* Keeps snap as what id's watchers heard last (taking it). */
static void watched_keep(struct workflow *wf, const char *id, struct workflow_overcloud *snap)
{
	struct watched *e = watched_find(wf, id);

	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			workflow_overcloud_free(snap);
			return;
		}
		snprintf(e->id, sizeof(e->id), "%s", id);
		e->next = wf->watched;
		wf->watched = e;
	}
	workflow_overcloud_free(e->last);
	e->last = snap;
}

/* Tells id's watchers snap (taking it), and ends them when end. */
static void tell_watchers(struct workflow *wf, const char *id, struct workflow_overcloud *snap,
			  bool end)
{
	struct workflow_watch *w, *next;

	wf->notifying = true;
	for (w = wf->watches; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->id, id) != 0)
			continue;
		w->fn(w->arg, WORKFLOW_EVENT_OVERCLOUD, snap);
		if (end) {
			w->fn(w->arg, WORKFLOW_EVENT_END, snap);
			workflow_unwatch(w);
		}
	}
	wf->notifying = false;
	watched_keep(wf, id, snap);
	watched_prune(wf, id);
}

/* Tells v's watchers what it is now, from v as the engine holds it. */
static void notify(struct workflow *wf, const struct oc_view *v)
{
	struct watched *e = watched_find(wf, v->oc.id);
	struct workflow_overcloud *snap;

	if (!has_watchers(wf, v->oc.id))
		return;
	snap = snapshot_build(wf, v, e ? e->last : NULL);
	if (snap != NULL)
		tell_watchers(wf, v->oc.id, snap, oc_settled(v));
}

/* Whether a watcher sees anything new in b after a (elapsed times aside). */
static bool snapshot_same(const struct workflow_overcloud *a, const struct workflow_overcloud *b)
{
	if (strcmp(a->status, b->status) != 0 || a->attaching != b->attaching ||
	    strcmp(a->error, b->error) != 0 || a->updated_at != b->updated_at ||
	    a->step_count != b->step_count || a->node_count != b->node_count)
		return false;
	for (size_t i = 0; i < a->step_count; i++) {
		const struct workflow_step_view *x = &a->steps[i], *y = &b->steps[i];

		if (strcmp(x->dag, y->dag) != 0 || strcmp(x->name, y->name) != 0 ||
		    strcmp(x->state, y->state) != 0 || x->attempts != y->attempts ||
		    x->progress != y->progress || x->node_count != y->node_count ||
		    strcmp(x->error, y->error) != 0 || strcmp(x->run_id, y->run_id) != 0 ||
		    x->started_ms != y->started_ms || x->finished_ms != y->finished_ms)
			return false;
	}
	for (size_t i = 0; i < a->node_count; i++) {
		const struct workflow_node_view *x = &a->nodes[i], *y = &b->nodes[i];

		if (strcmp(x->name, y->name) != 0 || strcmp(x->state, y->state) != 0 ||
		    strcmp(x->node_id, y->node_id) != 0 || strcmp(x->address, y->address) != 0 ||
		    x->connected != y->connected)
			return false;
	}
	return true;
}

/* Replicas: another replica (the leader) changed id. Its watchers here
 * hear the OverCloud as the database has it now, when that differs from
 * what they heard last; several changes made in between come as one. */
static void follow_elsewhere(struct workflow *wf, const char *id)
{
	struct watched *e = watched_find(wf, id);
	struct workflow_overcloud *snap;
	struct oc_view v;
	bool end;

	if (!has_watchers(wf, id) || view_load(wf, id, &v) != 0)
		return;
	snap = snapshot_build(wf, &v, e ? e->last : NULL);
	end = oc_settled(&v);
	view_free(&v);
	if (snap == NULL)
		return;
	if (!end && e != NULL && e->last != NULL && snapshot_same(e->last, snap)) {
		workflow_overcloud_free(snap);
		return;
	}
	tell_watchers(wf, id, snap, end);
}

int workflow_watch(struct workflow *wf, const char *id, workflow_watch_fn fn, void *arg,
		   struct workflow_watch **out)
{
	struct workflow_watch *w;
	struct watched *e = watched_find(wf, id);
	struct workflow_overcloud *snap;
	struct oc_view v;
	bool end;

	*out = NULL;
	if (view_load(wf, id, &v) != 0)
		return -1;
	snap = snapshot_build(wf, &v, e ? e->last : NULL);
	end = oc_settled(&v);
	view_free(&v);
	if (snap == NULL)
		return -1;
	fn(arg, WORKFLOW_EVENT_OVERCLOUD, snap);
	if (end) {
		fn(arg, WORKFLOW_EVENT_END, snap);
		workflow_overcloud_free(snap);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		workflow_overcloud_free(snap);
		return -1;
	}
	w->wf = wf;
	w->fn = fn;
	w->arg = arg;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->next = wf->watches;
	if (wf->watches != NULL)
		wf->watches->prev = w;
	wf->watches = w;
	watched_keep(wf, id, snap);
	*out = w;
	return 0;
}

void workflow_unwatch(struct workflow_watch *w)
{
	struct workflow *wf;
	char id[STORE_ID_MAX];

	if (w == NULL)
		return;
	wf = w->wf;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		wf->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	snprintf(id, sizeof(id), "%s", w->id);
	free(w);
	watched_prune(wf, id);
}

/* ---- state changes ---- */

/* The one place an OverCloud's state changes: the transition must be one
 * state.c allows; the time is stamped and the store written first (when it
 * cannot be, nothing changes: the next pass reads the store again), then it
 * is logged once. The pass that changed it tells the watchers (advance,
 * request_done). Returns 0, or -1 when refused or not recorded. */
#define OC_CHANGE_MOVED (-2)   /* not the state this view read: nothing written */

static int oc_change_state(struct workflow *wf, struct oc_view *v, enum oc_state to,
			   const char *reason)
{
	enum oc_state from = oc_state_of(&v->oc);
	int64_t now = util_now();

	if (!oc_state_can_change(from, to)) {
		log_error("overcloud %s: %s -> %s is not a transition it has", v->oc.id,
			  oc_state_name(from), oc_state_name(to));
		return -1;
	}
	switch (store_oc_set_status(wf->t->store, v->oc.id, oc_statenames[to], reason ? reason : "",
				    now, v->oc.status)) {
	case 0:
		break;
	case 1:
		/* Another replica recorded a request (a delete) since this
		 * view was read: the next pass reads it again. */
		log_info("overcloud %s: no longer %s as read, not made %s; reading it again",
			 v->oc.id, v->oc.status, oc_statenames[to]);
		return OC_CHANGE_MOVED;
	default:
		log_error("overcloud %s: cannot record it %s", v->oc.id, oc_statenames[to]);
		return -1;
	}
	snprintf(v->oc.status, sizeof(v->oc.status), "%s", oc_statenames[to]);
	snprintf(v->oc.error, sizeof(v->oc.error), "%s", reason ? reason : "");
	v->oc.updated_at = now;
	if (to == OC_FAILED)
		log_warn("overcloud %s: %s (was %s) — %s", v->oc.id, oc_statenames[to],
			 oc_state_name(from), reason ? reason : "");
	else
		log_info("overcloud %s: %s (was %s)%s%s", v->oc.id, oc_statenames[to],
			 oc_state_name(from), reason && reason[0] ? " — " : "", reason ? reason : "");
	return 0;
}

/* Records a step's fields other than its state (its run id). */
static void step_save(struct workflow *wf, struct oc_view *v, struct store_oc_step *s)
{
	if (store_ocs_update(wf->t->store, v->oc.id, s) != 0)
		log_error("overcloud %s: cannot record step %s", v->oc.id, s->name);
}

/* The one place a step's state changes, as oc_change_state does for the
 * OverCloud: a legal transition, its times stamped (started_ms and an
 * attempt when it runs, finished_ms when it ends, whichever path ends it),
 * reason kept as its error, the store written, one log line. A retry
 * (running -> pending) has its retry_at_ms set by the caller. Returns 0, or
 * -1 when refused or not recorded (the next pass reads the store again). */
static int step_change_state(struct workflow *wf, struct oc_view *v, struct store_oc_step *s,
			     enum step_state to, const char *reason)
{
	enum step_state from = step_state_of(s);
	struct store_oc_step was = *s;
	int64_t now = util_now_ms();

	if (!step_state_can_change(from, to)) {
		log_error("overcloud %s: step %s: %s -> %s is not a transition it has", v->oc.id,
			  s->name, step_state_name(from), step_state_name(to));
		return -1;
	}
	snprintf(s->state, sizeof(s->state), "%s", step_statenames[to]);
	if (to != STEP_RUNNING || reason != NULL)
		snprintf(s->error, sizeof(s->error), "%s", reason ? reason : "");
	if (to == STEP_RUNNING) {
		s->attempts++;
		s->started_ms = now;
		s->retry_at_ms = 0;
	} else if (step_state_final(to)) {
		s->finished_ms = now;
	}
	if (store_ocs_update(wf->t->store, v->oc.id, s) != 0) {
		log_error("overcloud %s: cannot record step %s %s", v->oc.id, s->name,
			  step_statenames[to]);
		*s = was;
		return -1;
	}
	if (step_state_final(to) && s->started_ms > 0 && s->finished_ms >= s->started_ms)
		telemetry_observe(TELEMETRY_STEP, (double)(s->finished_ms - s->started_ms) / 1000.0);
	if (to == STEP_RUNNING)
		log_info("overcloud %s: step %s started (attempt %lld)", v->oc.id, s->name,
			 (long long)s->attempts);
	else if (to == STEP_DONE)
		log_info("overcloud %s: step %s done", v->oc.id, s->name);
	else if (to == STEP_PENDING)
		log_warn("overcloud %s: step %s failed (%s), retrying in %lld ms", v->oc.id, s->name,
			 reason ? reason : "", (long long)(s->retry_at_ms - now));
	else
		log_warn("overcloud %s: step %s %s%s%s", v->oc.id, s->name, step_statenames[to],
			 reason ? ": " : "", reason ? reason : "");
	return 0;
}

static void step_finish(struct workflow *wf, struct oc_view *v, struct store_oc_step *s,
			enum step_state to, const char *error)
{
	step_change_state(wf, v, s, to, error);
}

static int64_t retry_delay_ms(int64_t attempts)
{
	int64_t d = RETRY_FIRST_MS;

	for (int64_t i = 1; i < attempts && d < RETRY_CAP_MS; i++)
		d *= 2;
	return d > RETRY_CAP_MS ? RETRY_CAP_MS : d;
}

/* ---- targets: groups, all, attached ---- */

/* Whether node n is one that on names, in this DAG. Attached nodes are only
 * "attached" and "all"; in the attach DAG "attached" is the node(s) this
 * attach adds (still pending), in destroy every attached node. */
static bool node_in_target(const struct store_oc_node *n, const char *on, const char *dag)
{
	bool all = strcmp(on, "all") == 0;

	if (!n->attached)
		return all || strcmp(n->group, on) == 0;
	if (node_state_parse(n->state) == NODE_RELEASED || (!all && strcmp(on, PATTERN_ATTACHED) != 0))
		return false;
	return all || strcmp(dag, "attach") != 0 || node_state_parse(n->state) == NODE_PENDING;
}

/* ---- templates: ${{ steps.X.outputs.K }}, ${{ groups.G.address[es] }}, ... ---- */

struct first_output {
	const char *key;
	char *value;
};

static int take_output(const struct store_task *t, void *arg)
{
	struct first_output *fo = arg;
	json_t *outputs = json_loads(t->outputs, 0, NULL);
	const char *v = json_string_value(json_object_get(outputs, fo->key));

	if (v != NULL && fo->value == NULL)
		fo->value = strdup(v);
	json_decref(outputs);
	return fo->value != NULL;
}

/* ${{ inputs.NAME }}: the value the OverCloud was created with; for one
 * made before the pattern declared NAME, the pattern's default. */
static char *input_value(struct workflow *wf, struct oc_view *v, const char *name, char *err,
			 size_t err_size)
{
	const struct pattern_param *pp = pattern_find_param(v->pattern, name);
	char *value = NULL;
	int r = store_oci_get(wf->t->store, v->oc.id, name, &value);

	if (r == 1)
		return value;
	if (r < 0) {
		snprintf(err, err_size, "cannot read input %s", name);
		return NULL;
	}
	if (pp == NULL || pp->default_value == NULL) {
		snprintf(err, err_size, "input %s has no value (the pattern declares no default)", name);
		return NULL;
	}
	value = strdup(pp->default_value);
	if (value == NULL)
		snprintf(err, err_size, "out of memory");
	return value;
}

struct resolving {
	struct workflow *wf;
	struct oc_view *v;
	const char *dag;
};

/* The value of one reference of a pattern that loaded (pattern.c checked
 * what it names), for this OverCloud now. */
static char *resolve_ref(void *arg, const struct template_ref *ref, char *err, size_t err_size)
{
	struct resolving *r = arg;
	struct oc_view *v = r->v;
	char num[32], *out;

	switch (ref->kind) {
	case TEMPLATE_INPUT:
		return input_value(r->wf, v, ref->name, err, err_size);
	case TEMPLATE_OVERCLOUD_ID:
		out = strdup(v->oc.id);
		break;
	case TEMPLATE_OVERCLOUD_SIZE:
		out = strdup(v->oc.size);
		break;
	case TEMPLATE_OVERCLOUD_NUMBER:
		snprintf(num, sizeof(num), "%lld", (long long)v->oc.number);
		out = strdup(num);
		break;
	case TEMPLATE_GROUP_ADDRESS:
	case TEMPLATE_GROUP_ADDRESSES:
		out = calloc(1, (size_t)v->node_count * 64 + 1);
		for (int i = 0; out != NULL && i < v->node_count; i++) {
			if (!node_in_target(&v->nodes[i], ref->name, r->dag))
				continue;
			if (out[0] != '\0') {
				if (ref->kind == TEMPLATE_GROUP_ADDRESS)
					break;
				strcat(out, " ");
			}
			strcat(out, v->nodes[i].address);
		}
		break;
	case TEMPLATE_STEP_OUTPUT: {
		struct store_oc_step *s = view_step(v, r->dag, ref->name);
		struct first_output fo = {.key = ref->key};
		if (s == NULL || s->run_id[0] == '\0') {
			snprintf(err, err_size, "step %s has no outputs yet", ref->name);
			return NULL;
		}
		store_task_foreach_run(r->wf->t->store, s->run_id, take_output, &fo);
		if (fo.value == NULL)
			snprintf(err, err_size, "step %s did not output \"%s\"", ref->name, ref->key);
		return fo.value;
	}
	default:
		snprintf(err, err_size, "cannot resolve ${{ %s }}", ref->text);
		return NULL;
	}
	if (out == NULL)
		snprintf(err, err_size, "out of memory");
	return out;
}

/* Expands every ${{ ... }} in text. Returns a heap string or NULL + err. */
static char *expand(struct workflow *wf, struct oc_view *v, const char *dag, const char *text,
		    char *err, size_t err_size)
{
	struct resolving r = {.wf = wf, .v = v, .dag = dag};

	return template_expand(text, resolve_ref, &r, err, err_size);
}

/* ---- starting steps ---- */

/* A run's tasks, oldest first: a retried step adds a task to the same run
 * for each node that failed, so a node's last task is its current one. */
struct run_tasks {
	struct store_task *items;
	size_t count, cap;
};

static int collect_task(const struct store_task *t, void *arg)
{
	struct run_tasks *rt = arg;

	if (rt->count == rt->cap) {
		size_t cap = rt->cap ? rt->cap * 2 : 16;
		struct store_task *grown = realloc(rt->items, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		rt->items = grown;
		rt->cap = cap;
	}
	rt->items[rt->count] = *t;
	rt->items[rt->count].spec = NULL;      /* owned by the store's iterator */
	rt->items[rt->count].outputs = NULL;
	rt->count++;
	return 0;
}

/* The node's last task in rt, or NULL. */
static const struct store_task *last_task_of(const struct run_tasks *rt, const char *node_id)
{
	for (size_t i = rt->count; i-- > 0;)
		if (strcmp(rt->items[i].node_id, node_id) == 0)
			return &rt->items[i];
	return NULL;
}

/* Whether role step def runs on node n: 1 yes, 0 not one of the step's
 * archs (skipped for it), -1 its role cannot run on n's arch (err says so:
 * a kubelet role on a 32-bit Raspberry Pi must fail clearly, not at apt). */
static int node_fits_step(struct workflow *wf, const struct pattern_step *def,
			  const struct store_oc_node *n, char *err, size_t err_size)
{
	const struct role *role = wf->t->roles ? role_set_find(wf->t->roles, def->role) : NULL;
	struct store_node node;
	char archs[64];

	if (store_node_get(wf->t->store, n->node_id, &node) != 1 || node.arch[0] == '\0')
		return 1; /* not told its arch yet: the role's own checks decide */
	if (!pattern_step_runs_on_arch(def, node.arch))
		return 0;
	if (role != NULL && !role_supports_arch(role, node.arch)) {
		role_archs_join(role, archs, sizeof(archs));
		snprintf(err, err_size, "node %s (%s) is %s; role %s runs on %s only", n->node_id,
			 node.name, node.arch, def->role, archs);
		return -1;
	}
	return 1;
}

static void start_role_step(struct workflow *wf, struct oc_view *v, const struct pattern_step *def,
			    struct store_oc_step *s, const char *dag)
{
	char err[512], name[40];
	struct task_input *inputs = calloc(def->input_count + 1, sizeof(*inputs));
	struct task_spec spec = {0};
	const char **node_ids = NULL;
	size_t targets = 0, already_done = 0, other_arch = 0;
	struct run_tasks earlier = {0};

	for (size_t i = 0; i < def->input_count && inputs != NULL; i++) {
		inputs[i].name = def->inputs[i].name;
		inputs[i].value = expand(wf, v, dag, def->inputs[i].value, err, sizeof(err));
		if (inputs[i].value == NULL) {
			step_finish(wf, v, s, STEP_FAILED, err);
			goto out;
		}
	}
	if (inputs == NULL ||
	    tasks_role_spec(wf->t->tasks, def->role, def->role_step ? def->role_step : "apply",
			    inputs, def->input_count, &spec, err, sizeof(err)) != 0) {
		step_finish(wf, v, s, STEP_FAILED, inputs == NULL ? "out of memory" : err);
		goto out;
	}
	if (def->timeout_s > 0)
		spec.timeout_s = def->timeout_s;
	/* The run id is recorded before any task exists: after a crash the
	 * same run is filled in, never a second one started. */
	if (s->run_id[0] == '\0') {
		tasks_new_run_id(name, sizeof(name));
		snprintf(s->run_id, sizeof(s->run_id), "%s", name);
		step_save(wf, v, s);
	}
	node_ids = calloc((size_t)v->node_count + 1, sizeof(*node_ids));
	if (node_ids == NULL) {
		step_finish(wf, v, s, STEP_FAILED, "out of memory");
		goto out;
	}
	/* A retry: the run already has this step's earlier tasks. */
	store_task_foreach_run(wf->t->store, s->run_id, collect_task, &earlier);
	for (int i = 0; i < v->node_count; i++) {
		const struct store_oc_node *n = &v->nodes[i];
		const struct store_task *last;
		int fit;

		if (!node_in_target(n, def->on, dag) || n->node_id[0] == '\0')
			continue;
		last = last_task_of(&earlier, n->node_id);
		if (last != NULL && task_state_of(last) == TASK_DONE) {
			already_done++;
			continue;
		}
		fit = node_fits_step(wf, def, n, err, sizeof(err));
		if (fit < 0) {
			step_finish(wf, v, s, STEP_FAILED, err);
			goto out;
		}
		if (fit == 0) {
			other_arch++;
			continue;
		}
		node_ids[targets++] = n->node_id;
	}
	if (targets == 0 && other_arch > 0 && already_done == 0) {
		/* Nothing of this step's archs here: another step serves them. */
		log_info("overcloud %s: step %s: none of its %zu node(s) is of its archs", v->oc.id,
			 s->name, other_arch);
		step_finish(wf, v, s, STEP_DONE, NULL);
		goto out;
	}
	if (targets == 0 && already_done > 0) {
		step_finish(wf, v, s, STEP_DONE, NULL);
		goto out;
	}
	if (targets > 0 &&
	    tasks_create_run(wf->t->tasks, s->run_id, node_ids, targets, def->role,
			     def->role_step ? def->role_step : "apply", &spec, NULL, err,
			     sizeof(err)) != 0) {
		step_finish(wf, v, s, STEP_FAILED, err);
		goto out;
	}
	if (targets == 0) {
		/* Destroying what was never built: nothing to undo here. */
		step_finish(wf, v, s, strcmp(dag, "destroy") == 0 ? STEP_DONE : STEP_FAILED,
			    strcmp(dag, "destroy") == 0 ? NULL : "no enrolled node in the target group");
		goto out;
	}
	log_info("overcloud %s: step %s: %s/%s on %zu node(s), run %s%s", v->oc.id, s->name, def->role,
		 def->role_step ? def->role_step : "apply", targets, s->run_id,
		 already_done > 0 ? " (the nodes it already ran on are done)" : "");
out:
	free(earlier.items);
	free(node_ids);
	task_spec_clear(&spec);
	for (size_t i = 0; i < def->input_count && inputs != NULL; i++)
		free((char *)inputs[i].value);
	free(inputs);
}

/* ---- provider calls (provision.c) ---- */

static void advance(struct workflow *wf, const char *id, bool announce);

/* A call of id's acquire or release came back: take another pass. */
static void on_call_done(void *arg, const char *id)
{
	struct workflow *wf = arg;

	if (wf->advancing)
		return;
	wf->advancing = true;
	advance(wf, id, false);
	wf->advancing = false;
}

/* One pass of an acquire or release step. */
static void provision_step(struct workflow *wf, struct oc_view *v, struct store_oc_step *s,
			   bool acquire)
{
	struct provision_target tg = {.oc = &v->oc, .pattern = v->pattern, .nodes = v->nodes,
				      .node_count = v->node_count};
	char err[512] = "";
	enum provision_status st = acquire ? provision_acquire(wf->provision, &tg, err, sizeof(err))
					   : provision_release(wf->provision, &tg, err, sizeof(err));

	if (st == PROVISION_DONE)
		step_finish(wf, v, s, STEP_DONE, NULL);
	else if (st == PROVISION_FAILED)
		step_finish(wf, v, s, STEP_FAILED, err);
}

/* A provider may not know a node's address when it makes it (libvirt's
 * DHCP lease comes minutes into a boot): the address its agent's connection
 * comes from stands in, so that groups.G.address(es) resolve. */
static int fill_addresses_from_connections(struct workflow *wf, struct oc_view *v)
{
	for (int i = 0; i < v->node_count; i++) {
		struct store_oc_node *n = &v->nodes[i];
		char address[sizeof(n->address)];

		if (n->attached || n->address[0] != '\0' || n->node_id[0] == '\0' ||
		    hub_node_address(wf->t->hub, n->node_id, address, sizeof(address)) != 0)
			continue;
		snprintf(n->address, sizeof(n->address), "%s", address);
		if (store_ocn_update(wf->t->store, v->oc.id, n) != 0) {
			log_error("overcloud %s: cannot record node %s's address", v->oc.id, n->name);
			n->address[0] = '\0';
			return -1;
		}
	}
	return 0;
}

static bool node_connected_anywhere(struct workflow *wf, const char *node_id)
{
	struct store_node node;

	if (hub_node_connected(wf->t->hub, node_id))
		return true;
	return store_node_get(wf->t->store, node_id, &node) == 1 &&
	       hub_node_connected_anywhere(wf->t->hub, &node);
}

/* Done once every made node's agent has enrolled and is connected. */
static void check_enroll(struct workflow *wf, struct oc_view *v, struct store_oc_step *s)
{
	char missing[256] = "";

	for (int i = 0; i < v->node_count; i++) {
		const struct store_oc_node *n = &v->nodes[i];
		if (n->attached || (n->node_id[0] != '\0' && node_connected_anywhere(wf, n->node_id)))
			continue;
		if (strlen(missing) + strlen(n->name) + 2 < sizeof(missing))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? " " : "", n->name);
	}
	if (missing[0] == '\0') {
		if (fill_addresses_from_connections(wf, v) == 0)
			step_finish(wf, v, s, STEP_DONE, NULL);
		return;   /* else tried again at the next look */
	}
	if (util_now_ms() - s->started_ms > wf->enroll_timeout_ms) {
		char err[400];
		snprintf(err, sizeof(err), "nodes never enrolled within %llds: %s",
			 (long long)(wf->enroll_timeout_ms / 1000), missing);
		step_finish(wf, v, s, STEP_FAILED, err);
	}
}

static void start_step(struct workflow *wf, struct oc_view *v, const struct pattern_step *def,
		       struct store_oc_step *s, const char *dag)
{
	/* A retry keeps its run: only the nodes whose last task there did not
	 * end done get a new one (start_role_step); a done node is done. */
	if (def->role != NULL && s->attempts == 0)
		s->run_id[0] = '\0';
	if (step_change_state(wf, v, s, STEP_RUNNING, NULL) != 0)
		return;
	if (def->action == NULL)
		start_role_step(wf, v, def, s, dag);
	else if (strcmp(def->action, "acquire") == 0)
		provision_step(wf, v, s, true);
	else if (strcmp(def->action, "enroll") == 0)
		check_enroll(wf, v, s);
	else if (strcmp(def->action, "release") == 0)
		provision_step(wf, v, s, false);
	else
		step_finish(wf, v, s, STEP_DONE, NULL);   /* record: the state is already recorded */
}

/* ---- following running steps ---- */

struct run_summary {
	size_t total, open, failed;
	int64_t newest_ms;       /* when the run's newest task was made */
	char first_error[400];
};

static void summarize_run(struct workflow *wf, const char *run_id, struct run_summary *rs)
{
	struct run_tasks rt = {0};

	memset(rs, 0, sizeof(*rs));
	if (run_id[0] == '\0')
		return;
	store_task_foreach_run(wf->t->store, run_id, collect_task, &rt);
	for (size_t i = 0; i < rt.count; i++) {
		const struct store_task *t = &rt.items[i];
		if (last_task_of(&rt, t->node_id) != t)
			continue;   /* an earlier attempt on this node */
		rs->total++;
		if (t->created_ms > rs->newest_ms)
			rs->newest_ms = t->created_ms;
		if (!task_state_final(task_state_of(t))) {
			rs->open++;
		} else if (task_state_of(t) != TASK_DONE) {
			rs->failed++;
			if (rs->first_error[0] == '\0')
				snprintf(rs->first_error, sizeof(rs->first_error), "node %s: %s%s%s",
					 t->node_id, t->state, t->reason[0] ? ": " : "", t->reason);
		}
	}
	free(rt.items);
}

static int64_t step_retries(struct workflow *wf, const struct pattern_step *def)
{
	const struct role *role;
	const struct role_step *rs;

	if (def->retries >= 0)
		return def->retries;
	role = wf->t->roles ? role_set_find(wf->t->roles, def->role) : NULL;
	rs = role ? role_find_step(role, def->role_step ? def->role_step : "apply") : NULL;
	return rs ? rs->retries : 0;
}

static void follow_step(struct workflow *wf, struct oc_view *v, const struct pattern_step *def,
			struct store_oc_step *s, const char *dag)
{
	struct run_summary rs;

	if (def->action != NULL) {
		if (strcmp(def->action, "enroll") == 0)
			check_enroll(wf, v, s);
		else if (strcmp(def->action, "acquire") == 0)
			provision_step(wf, v, s, true);     /* interrupted: finish the nodes not made yet */
		else if (strcmp(def->action, "release") == 0)
			provision_step(wf, v, s, false);
		else
			step_finish(wf, v, s, STEP_DONE, NULL);
		return;
	}
	summarize_run(wf, s->run_id, &rs);
	if (rs.total == 0 || (s->attempts > 1 && rs.open == 0 && rs.newest_ms < s->started_ms)) {
		/* Interrupted before its tasks (or a retry's) were stored:
		 * make them now. */
		start_role_step(wf, v, def, s, dag);
		return;
	}
	if (rs.open > 0)
		return;
	if (rs.failed == 0) {
		step_finish(wf, v, s, STEP_DONE, NULL);
		return;
	}
	if (s->attempts <= step_retries(wf, def)) {
		s->retry_at_ms = util_now_ms() + retry_delay_ms(s->attempts);
		step_change_state(wf, v, s, STEP_PENDING, rs.first_error);
		return;
	}
	step_finish(wf, v, s, STEP_FAILED, rs.first_error);
}

/* ---- the engine ---- */

/* The attach DAG is over: its nodes are attached (state created) and the
 * OverCloud is ready again, or it is failed with the first error; then the
 * attached nodes stay pending, so destroy still undoes what they did. */
static int finish_attach(struct workflow *wf, struct oc_view *v, const char *error)
{
	char why[600];

	/* Steps the pattern no longer has (it changed across a restart) would
	 * keep the attach open for ever. */
	for (int i = 0; i < v->step_count; i++) {
		struct store_oc_step *s = &v->steps[i];
		if (strcmp(s->dag, "attach") == 0 && !step_final(s))
			step_finish(wf, v, s, STEP_SKIPPED, "not in the pattern any more");
	}
	if (error != NULL) {
		snprintf(why, sizeof(why), "attach: %s", error);
		return oc_change_state(wf, v, OC_FAILED, why);
	}
	for (int i = 0; i < v->node_count; i++) {
		struct store_oc_node *n = &v->nodes[i];
		if (n->attached && node_state_parse(n->state) == NODE_PENDING)
			node_change_state(wf->t->store, v->oc.id, n, NODE_CREATED, "attached");
	}
	return oc_change_state(wf, v, OC_READY, NULL);
}

/* One pass over the current DAG. Returns true when something changed;
 * then (or anyway when told to announce) the watchers hear of it. */
static bool advance_once(struct workflow *wf, const char *id, bool announce)
{
	struct oc_view v;
	const struct pattern_step *defs;
	const char *dag;
	size_t count;
	bool changed = false, all_final = true, any_failed = false;
	char first_error[512] = "";
	int64_t now = util_now_ms();
	enum oc_state st;

	if (view_load(wf, id, &v) != 0)
		return false;
	st = oc_state_of(&v.oc);
	if (st == OC_CREATING)
		dag = "create";
	else if (st == OC_DELETING)
		dag = "destroy";
	else if (st == OC_READY && attach_open(&v))
		dag = "attach";
	else
		goto out;
	if (v.pattern == NULL) {
		changed = oc_change_state(wf, &v, OC_FAILED, "its pattern is no longer loaded") == 0;
		goto out;
	}
	defs = dag_steps(v.pattern, dag, &count);
	for (size_t i = 0; i < count; i++) {
		const struct pattern_step *def = &defs[i];
		struct store_oc_step *s = view_step(&v, dag, def->name), before;
		bool ready = true, blocked = false;

		if (s == NULL)
			continue;
		before = *s;
		if (step_state_of(s) == STEP_RUNNING) {
			follow_step(wf, &v, def, s, dag);
		} else if (step_state_of(s) == STEP_PENDING && s->retry_at_ms <= now) {
			for (size_t r = 0; r < def->require_count; r++) {
				struct store_oc_step *dep = view_step(&v, dag, def->requires[r]);
				if (dep == NULL || !step_final(dep))
					ready = false;
				else if (step_state_of(dep) != STEP_DONE)
					blocked = true;
			}
			/* A failed create or attach step stops what depends on it;
			 * destroy is best effort, so everything still gets released. */
			if (ready && blocked && strcmp(dag, "destroy") != 0)
				step_finish(wf, &v, s, STEP_SKIPPED, "a step it requires did not finish");
			else if (ready)
				start_step(wf, &v, def, s, dag);
		}
		if (memcmp(&before, s, sizeof(before)) != 0)
			changed = true;
		if (!step_final(s))
			all_final = false;
		if (step_state_of(s) == STEP_FAILED) {
			any_failed = true;
			if (first_error[0] == '\0')
				snprintf(first_error, sizeof(first_error), "step %s: %s", s->name, s->error);
		}
	}
	if (all_final && strcmp(dag, "attach") == 0) {
		if (finish_attach(wf, &v, any_failed ? first_error : NULL) == 0)
			changed = true;
	} else if (all_final) {
		enum oc_state to;
		if (strcmp(dag, "create") == 0) {
			to = any_failed ? OC_FAILED : OC_READY;
		} else {
			const struct store_oc_step *rel = view_step(&v, dag, "release");
			to = (rel == NULL || step_state_of(rel) == STEP_DONE) ? OC_DELETED : OC_FAILED;
		}
		if (oc_change_state(wf, &v, to, any_failed ? first_error : NULL) == 0)
			changed = true;
	}
out:
	if (changed || announce)
		notify(wf, &v);
	/* Replicas: every other one's watchers of it look again. */
	if (changed)
		feed_send(wf->t->feed, FEED_OVERCLOUD, v.oc.id, NULL);
	view_free(&v);
	return changed;
}

/* announce: the pass that finds nothing more to do is told to the
 * watchers too (a request changed the OverCloud before it came here). */
/* Only the leader drives: another replica's requests are recorded in the
 * database, with a feed note that wakes the leader (its next tick finds
 * them anyway). Every write made while driving is fenced with the lease's
 * token (store_fence_on). */
static void advance(struct workflow *wf, const char *id, bool announce)
{
	bool was;

	if (!lease_is_leader(wf->t->lease))
		return;
	was = store_fence_on(wf->t->store, true);
	/* A finished step can make others ready at once. */
	for (int i = 0; i < 64 && lease_is_leader(wf->t->lease) && advance_once(wf, id, announce);
	     i++)
		;
	store_fence_on(wf->t->store, was);
}

static int advance_active(const struct store_overcloud *oc, void *arg)
{
	struct workflow *wf = arg;

	enum oc_state st = oc_state_of(oc);

	if (st == OC_CREATING || st == OC_DELETING ||
	    (st == OC_READY &&
	     store_ocs_count_open(wf->t->store, oc->id, "attach") > 0))
		advance(wf, oc->id, false);
	return 0;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct workflow *wf = arg;

	if (wf->advancing || !lease_is_leader(wf->t->lease))
		return;
	wf->advancing = true;
	store_oc_foreach(wf->t->store, advance_active, wf);
	wf->advancing = false;
}

void workflow_on_run_done(void *arg, const char *run_id)
{
	struct workflow *wf = arg;
	char oc_id[STORE_ID_MAX];

	/* Only the OverCloud that waits for this run; ad-hoc runs have none. */
	if (wf->advancing || store_ocs_find_run(wf->t->store, run_id, oc_id, sizeof(oc_id)) != 1)
		return;
	wf->advancing = true;
	advance(wf, oc_id, false);
	wf->advancing = false;
}

void workflow_on_node_ready(struct workflow *wf, const char *node_id)
{
	on_tick(-1, 0, wf);
}

void workflow_on_feed(struct workflow *wf, const struct feed_note *note)
{
	bool leader = lease_is_leader(wf->t->lease);

	if (note->kind == FEED_OVERCLOUD && leader && !wf->advancing) {
		/* a request another replica recorded: take it up now */
		wf->advancing = true;
		advance(wf, note->id, true);
		wf->advancing = false;
	} else if (note->kind == FEED_OVERCLOUD && !leader) {
		follow_elsewhere(wf, note->id);
	} else if (note->kind == FEED_RESYNC) {
		char id[STORE_ID_MAX];

		on_tick(-1, 0, wf);
		/* a watch may end (and go) on the way: look each id up again */
		for (size_t i = 0; !leader; i++) {
			struct workflow_watch *w = wf->watches;

			for (size_t k = 0; w != NULL && k < i; k++)
				w = w->next;
			if (w == NULL)
				break;
			snprintf(id, sizeof(id), "%s", w->id);
			follow_elsewhere(wf, id);
		}
	}
}

/* ---- requests ---- */

/* The part a node of group g, the i-th sized by the request, belongs to. */
static const struct workflow_part *part_for(const struct pattern_group *g, int64_t i,
					    const struct workflow_part *parts, size_t part_count)
{
	if (!g->from_request) {
		for (size_t k = 0; k < part_count; k++)
			if (parts[k].post)
				return &parts[k];
		return &parts[0];
	}
	for (size_t k = 0; k < part_count; k++) {
		if (i < parts[k].number)
			return &parts[k];
		i -= parts[k].number;
	}
	return &parts[part_count - 1];
}

static int check_parts(const struct workflow_part *parts, size_t part_count, int64_t *number,
		       char *err, size_t err_size)
{
	int posts = 0;

	*number = 0;
	if (part_count < 1 || part_count > WORKFLOW_MAX_PARTS) {
		snprintf(err, err_size, "field \"provider\": 1 to %d providers", WORKFLOW_MAX_PARTS);
		return -1;
	}
	for (size_t k = 0; k < part_count; k++) {
		if (provider_find(parts[k].provider) == NULL) {
			snprintf(err, err_size, "field \"provider\": unknown provider \"%s\"",
				 parts[k].provider);
			return -1;
		}
		for (size_t j = 0; j < k; j++)
			if (provider_find(parts[j].provider) == provider_find(parts[k].provider)) {
				snprintf(err, err_size, "field \"%s\": provider named twice",
					 parts[k].provider);
				return -1;
			}
		*number += parts[k].number;
		posts += parts[k].post;
	}
	if (posts != 1) {
		snprintf(err, err_size, "field \"post\": exactly one provider must host the post "
			 "(\"post\": \"yes\"), %d do", posts);
		return -1;
	}
	return 0;
}

/* The request's inputs against the pattern's: every name declared, every
 * value one line of at most PATTERN_PARAM_VALUE_MAX bytes, every input
 * without a default given. */
static int check_inputs(const struct pattern *p, const struct workflow_input *inputs, size_t n,
			char *err, size_t err_size)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = inputs[i].value;

		if (pattern_find_param(p, inputs[i].name) == NULL) {
			snprintf(err, err_size, "field \"inputs\": pattern %s has no input \"%.64s\"",
				 p->name, inputs[i].name);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(inputs[k].name, inputs[i].name) == 0) {
				snprintf(err, err_size, "field \"inputs\": \"%.64s\" given twice",
					 inputs[i].name);
				return -1;
			}
		if (strlen(v) > PATTERN_PARAM_VALUE_MAX) {
			snprintf(err, err_size, "field \"inputs.%.64s\": over %d bytes", inputs[i].name,
				 PATTERN_PARAM_VALUE_MAX);
			return -1;
		}
		for (const unsigned char *c = (const unsigned char *)v; *c != '\0'; c++)
			if (*c < 0x20 || *c == 0x7f) {
				snprintf(err, err_size, "field \"inputs.%.64s\": must be one line of text",
					 inputs[i].name);
				return -1;
			}
	}
	for (size_t k = 0; k < p->param_count; k++) {
		bool given = false;

		for (size_t i = 0; i < n && !given; i++)
			given = strcmp(inputs[i].name, p->params[k].name) == 0;
		if (!given && p->params[k].default_value == NULL) {
			snprintf(err, err_size, "field \"inputs\": pattern %s needs input \"%s\"", p->name,
				 p->params[k].name);
			return -1;
		}
	}
	return 0;
}

/* Records every pattern input of a new OverCloud: given or default. */
static int save_inputs(struct workflow *wf, const char *id, const struct pattern *p,
		       const struct workflow_input *inputs, size_t n)
{
	for (size_t k = 0; k < p->param_count; k++) {
		const char *value = p->params[k].default_value;

		for (size_t i = 0; i < n; i++)
			if (strcmp(inputs[i].name, p->params[k].name) == 0)
				value = inputs[i].value;
		if (store_oci_insert(wf->t->store, id, p->params[k].name, value) != 0)
			return -1;
	}
	return 0;
}

int workflow_create(struct workflow *wf, const char *pattern_name, const struct workflow_part *parts,
		    size_t part_count, const struct workflow_input *inputs, size_t input_count,
		    char *id_out, char *err, size_t err_size)
{
	const struct pattern *p = wf->patterns ? pattern_set_find(wf->patterns, pattern_name) : NULL;
	uint8_t raw[4];
	char hex[9], name[STORE_ID_MAX];
	const char *provider;
	int64_t now = util_now(), total = 0, number;
	bool mixed = part_count > 1;

	if (p == NULL) {
		snprintf(err, err_size, "field \"pattern\": unknown pattern \"%s\"", pattern_name);
		return WORKFLOW_BAD_REQUEST;
	}
	if (check_parts(parts, part_count, &number, err, err_size) != 0)
		return WORKFLOW_BAD_REQUEST;
	if (check_inputs(p, inputs, input_count, err, err_size) != 0)
		return WORKFLOW_BAD_REQUEST;
	provider = mixed ? WORKFLOW_HETEROGENEOUS : provider_find(parts[0].provider)->name;
	for (size_t g = 0; g < p->group_count; g++)
		total += p->groups[g].from_request ? number : p->groups[g].count;
	if (total >= WORKFLOW_MAX_NODES) {
		snprintf(err, err_size, "field \"number\": %lld nodes in all is over %d", (long long)total,
			 WORKFLOW_MAX_NODES - 1);
		return WORKFLOW_BAD_REQUEST;
	}
	util_random(raw, sizeof(raw));
	util_hex(raw, sizeof(raw), hex);
	snprintf(id_out, 32, "oc-%s", hex);
	if (store_begin(wf->t->store) != 0) {
		snprintf(err, err_size, "database busy");
		return WORKFLOW_FAILED;
	}
	if (store_oc_insert(wf->t->store, id_out, p->name, provider, number,
			    mixed ? "" : parts[0].size, now) != 0)
		goto fail;
	if (save_inputs(wf, id_out, p, inputs, input_count) != 0)
		goto fail;
	for (size_t g = 0; g < p->group_count; g++) {
		int64_t count = p->groups[g].from_request ? number : p->groups[g].count;
		for (int64_t i = 0; i < count; i++) {
			const struct workflow_part *part = part_for(&p->groups[g], i, parts, part_count);
			snprintf(name, sizeof(name), "%s-%s-%lld", id_out, p->groups[g].name, (long long)i);
			if (store_ocn_insert(wf->t->store, id_out, name, p->groups[g].name, i,
					     mixed ? provider_find(part->provider)->name : "",
					     mixed ? part->size : "") != 0)
				goto fail;
		}
	}
	for (size_t i = 0; i < p->create_count; i++)
		if (store_ocs_insert(wf->t->store, id_out, "create", p->create[i].name, (int64_t)i) != 0)
			goto fail;
	/* Replicas: the leader hears of it with the COMMIT. */
	feed_send(wf->t->feed, FEED_OVERCLOUD, id_out, NULL);
	if (store_commit(wf->t->store) != 0)
		goto fail_nolock;
	log_info("overcloud %s: creating (%s, %s, %lld node(s))", id_out, p->name, provider,
		 (long long)total);
	advance(wf, id_out, false);
	return 0;
fail:
	store_rollback(wf->t->store);
fail_nolock:
	snprintf(err, err_size, "cannot record the overcloud");
	return WORKFLOW_FAILED;
}

/* The end of a request on v's OverCloud: one that was recorded (rc 0) starts
 * moving at once and its watchers hear of it. Frees the view. */
static int request_done(struct workflow *wf, struct oc_view *v, int rc)
{
	char id[STORE_ID_MAX];

	snprintf(id, sizeof(id), "%s", v->oc.id);
	view_free(v);
	if (rc == 0)
		advance(wf, id, true);
	return rc;
}

int workflow_delete(struct workflow *wf, const char *id, char *err, size_t err_size)
{
	struct oc_view v;
	const struct pattern *p;
	int rc = WORKFLOW_CONFLICT, moved;

	if (view_load(wf, id, &v) != 0) {
		snprintf(err, err_size, "no such overcloud");
		return WORKFLOW_NOT_FOUND;
	}
	if (oc_state_of(&v.oc) == OC_DELETED || oc_state_of(&v.oc) == OC_DELETING) {
		snprintf(err, err_size, "overcloud is already %s", v.oc.status);
		goto out;
	}
	p = v.pattern;
	if (p == NULL) {
		snprintf(err, err_size, "its pattern %s is not loaded", v.oc.pattern);
		goto out;
	}
	if (store_begin(wf->t->store) != 0) {
		snprintf(err, err_size, "database busy");
		goto out;
	}
	for (size_t i = 0; i < p->destroy_count; i++)
		if (store_ocs_insert(wf->t->store, id, "destroy", p->destroy[i].name, (int64_t)i) != 0)
			goto unrecorded;
	/* An attach still running stops here; destroy undoes what it did. */
	for (int i = 0; i < v.step_count; i++) {
		struct store_oc_step *s = &v.steps[i];
		if (strcmp(s->dag, "attach") != 0 || step_final(s))
			continue;
		step_finish(wf, &v, s, STEP_SKIPPED, "the overcloud was deleted first");
	}
	feed_send(wf->t->feed, FEED_OVERCLOUD, id, NULL);
	moved = oc_change_state(wf, &v, OC_DELETING, NULL);
	if (moved != 0 || store_commit(wf->t->store) != 0) {
		store_rollback(wf->t->store);
		snprintf(err, err_size, moved == OC_CHANGE_MOVED
				? "it changed while the deletion was recorded; try again"
				: "cannot record the deletion");
		goto out;
	}
	rc = 0;
	goto out;
unrecorded:
	store_rollback(wf->t->store);
	snprintf(err, err_size, "cannot record the deletion");
out:
	return request_done(wf, &v, rc);
}

/* ---- attaching an enrolled node ---- */

/* The live node whose id, or else name, is ref. */
static int find_node(struct workflow *wf, const char *ref, struct store_node *out, char *err,
		     size_t err_size)
{
	char why[300];

	switch (nodes_find(wf->t->store, ref, out, why, sizeof(why))) {
	case NODES_FOUND:
		return 0;
	case NODES_UNKNOWN:
		snprintf(err, err_size, "field \"node\": %s", why);
		return WORKFLOW_NOT_FOUND;
	case NODES_AMBIGUOUS:
		snprintf(err, err_size, "field \"node\": %s", why);
		return WORKFLOW_BAD_REQUEST;
	case NODES_FAILED:
		break;
	}
	snprintf(err, err_size, "%s", why);
	return WORKFLOW_FAILED;
}

/* Refuses what cannot be attached now; 0 when it can. */
static int check_attach(struct workflow *wf, const struct oc_view *v, const struct store_node *node,
			char *err, size_t err_size)
{
	char holder[STORE_ID_MAX];
	size_t runs = 0;
	int r;

	if (v->pattern == NULL) {
		snprintf(err, err_size, "its pattern %s is not loaded", v->oc.pattern);
		return WORKFLOW_CONFLICT;
	}
	if (oc_state_of(&v->oc) != OC_READY) {
		snprintf(err, err_size, "overcloud %s is %s; nodes are attached to a ready one",
			 v->oc.id, v->oc.status);
		return WORKFLOW_CONFLICT;
	}
	if (v->pattern->attach_count == 0) {
		snprintf(err, err_size, "pattern %s has no attach workflow (no attach: in %s.yaml)",
			 v->pattern->name, v->pattern->name);
		return WORKFLOW_CONFLICT;
	}
	if (attach_open(v)) {
		snprintf(err, err_size, "overcloud %s is attaching a node already; try when it is done",
			 v->oc.id);
		return WORKFLOW_CONFLICT;
	}
	r = store_ocn_find_node(wf->t->store, node->id, holder, sizeof(holder));
	if (r < 0) {
		snprintf(err, err_size, "cannot read the overclouds' nodes");
		return WORKFLOW_FAILED;
	}
	if (r == 1) {
		snprintf(err, err_size, "node %s (%s) is already part of overcloud %s%s", node->id,
			 node->name, holder, strcmp(holder, v->oc.id) == 0 ? " (this one)" : "");
		return WORKFLOW_CONFLICT;
	}
	if (!hub_node_connected(wf->t->hub, node->id)) {
		snprintf(err, err_size, "node %s (%s) is not connected; its agent must be running",
			 node->id, node->name);
		return WORKFLOW_CONFLICT;
	}
	for (size_t i = 0; i < v->pattern->attach_count; i++) {
		const struct pattern_step *st = &v->pattern->attach[i];
		const struct role *role;

		if (st->role == NULL || strcmp(st->on, PATTERN_ATTACHED) != 0)
			continue;
		if (!pattern_step_runs_on_arch(st, node->arch))
			continue; /* a step for other archs */
		role = wf->t->roles ? role_set_find(wf->t->roles, st->role) : NULL;
		if (role != NULL && !role_supports_arch(role, node->arch)) {
			snprintf(err, err_size, "node %s (%s) is %s; role %s (attach step %s) does not run there",
				 node->id, node->name, node->arch[0] ? node->arch : "of an unknown arch",
				 st->role, st->name);
			return WORKFLOW_CONFLICT;
		}
		runs++;
	}
	if (runs == 0) {
		snprintf(err, err_size, "node %s (%s) is %s; no attach step of pattern %s runs there",
			 node->id, node->name, node->arch[0] ? node->arch : "of an unknown arch",
			 v->pattern->name);
		return WORKFLOW_CONFLICT;
	}
	return 0;
}

int workflow_attach(struct workflow *wf, const char *id, const char *node_ref, char *node_id_out,
		    size_t node_id_size, char *err, size_t err_size)
{
	struct store_node node;
	struct oc_view v;
	char name[STORE_ID_MAX], address[64] = "";
	int64_t idx = 0;
	int rc;

	if (view_load(wf, id, &v) != 0) {
		snprintf(err, err_size, "no such overcloud");
		return WORKFLOW_NOT_FOUND;
	}
	rc = find_node(wf, node_ref, &node, err, err_size);
	if (rc == 0)
		rc = check_attach(wf, &v, &node, err, err_size);
	if (rc != 0)
		goto out;
	for (int i = 0; i < v.node_count; i++)
		idx += v.nodes[i].attached;
	snprintf(name, sizeof(name), "%s-" PATTERN_ATTACHED "-%lld", id, (long long)idx);
	hub_node_address(wf->t->hub, node.id, address, sizeof(address));
	rc = WORKFLOW_FAILED;
	if (store_begin(wf->t->store) != 0) {
		snprintf(err, err_size, "database busy");
		goto out;
	}
	/* A new attach starts from clean steps; the last one's runs stay in
	 * the tasks table. */
	if (store_ocn_insert_attached(wf->t->store, id, name, PATTERN_ATTACHED, idx, PATTERN_ATTACHED,
				      node.id, address) != 0 ||
	    store_ocs_clear(wf->t->store, id, "attach") != 0)
		goto fail;
	for (size_t i = 0; i < v.pattern->attach_count; i++)
		if (store_ocs_insert(wf->t->store, id, "attach", v.pattern->attach[i].name,
				     (int64_t)i) != 0)
			goto fail;
	feed_send(wf->t->feed, FEED_OVERCLOUD, id, NULL);
	if (oc_change_state(wf, &v, OC_READY, NULL) != 0 || store_commit(wf->t->store) != 0)
		goto fail;
	snprintf(node_id_out, node_id_size, "%s", node.id);
	log_info("overcloud %s: attaching node %s (%s, %s) as %s", id, node.id, node.name,
		 address[0] ? address : "no address", name);
	rc = 0;
	goto out;
fail:
	store_rollback(wf->t->store);
	snprintf(err, err_size, "cannot record the attach");
out:
	return request_done(wf, &v, rc);
}

/* ---- what the API shows: snapshots of an OverCloud ---- */

static void step_view_clear(struct workflow_step_view *s)
{
	for (size_t i = 0; i < s->require_count; i++)
		free(s->requires[i]);
	free(s->requires);
	for (size_t i = 0; i < s->node_count; i++)
		free(s->nodes[i]);
	free(s->nodes);
}

void workflow_overcloud_free(struct workflow_overcloud *oc)
{
	if (oc == NULL)
		return;
	for (size_t i = 0; i < oc->step_count; i++)
		step_view_clear(&oc->steps[i]);
	free(oc->steps);
	for (size_t i = 0; i < oc->input_count; i++) {
		free((char *)oc->inputs[i].name);
		free((char *)oc->inputs[i].value);
	}
	free(oc->inputs);
	free(oc->nodes);
	free(oc);
}

/* Appends a copy of text to *list; -1 when out of memory. */
static int strlist_add(char ***list, size_t *count, const char *text)
{
	char **grown = realloc(*list, (*count + 1) * sizeof(**list));
	char *copy = strdup(text);

	if (grown != NULL)
		*list = grown;
	if (grown == NULL || copy == NULL) {
		free(copy);
		return -1;
	}
	grown[(*count)++] = copy;
	return 0;
}

/* Node names read while one snapshot is built: steps mostly share their
 * nodes, so each is read once. */
struct node_names {
	struct node_name {
		char id[STORE_ID_MAX];
		char name[STORE_NAME_MAX];
	} *items;
	size_t count;
};

/* The name of node id; NULL when it has no row (any more). */
static const char *node_name(struct workflow *wf, struct node_names *names, const char *id)
{
	struct node_name *grown;
	struct store_node n;

	for (size_t i = 0; i < names->count; i++)
		if (strcmp(names->items[i].id, id) == 0)
			return names->items[i].name;
	if (store_node_get(wf->t->store, id, &n) != 1)
		return NULL;
	grown = realloc(names->items, (names->count + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	names->items = grown;
	snprintf(grown[names->count].id, sizeof(grown->id), "%s", id);
	snprintf(grown[names->count].name, sizeof(grown->name), "%s", n.name);
	return grown[names->count++].name;
}

struct step_progress {
	int64_t sum;
	size_t count;
	struct workflow_step_view *step;
	struct workflow *wf;
	struct node_names *names;
	int rc;
};

static int add_task_progress(const struct store_task *t, void *arg)
{
	struct step_progress *sp = arg;
	const char *name = node_name(sp->wf, sp->names, t->node_id);

	sp->sum += task_state_of(t) == TASK_DONE ? 100 : t->progress;
	sp->count++;
	if (name != NULL && strlist_add(&sp->step->nodes, &sp->step->node_count, name) != 0)
		sp->rc = -1;
	return 0;
}

/* Its progress and the names of the nodes its run has tasks on: read from
 * the run, or taken from what the watchers heard last when the step has not
 * moved since (a finished step's run does not change). */
static int step_view_progress(struct workflow *wf, struct workflow_step_view *s,
			      const struct workflow_overcloud *prev, struct node_names *names)
{
	struct step_progress sp = {.step = s, .wf = wf, .names = names};

	for (size_t i = 0; prev != NULL && i < prev->step_count; i++) {
		const struct workflow_step_view *p = &prev->steps[i];
		if (strcmp(p->dag, s->dag) != 0 || strcmp(p->name, s->name) != 0)
			continue;
		if (!step_state_final(step_state_parse(s->state)) || strcmp(p->state, s->state) != 0 ||
		    strcmp(p->run_id, s->run_id) != 0 || p->attempts != s->attempts)
			break;
		s->progress = p->progress;
		for (size_t k = 0; k < p->node_count; k++)
			if (strlist_add(&s->nodes, &s->node_count, p->nodes[k]) != 0)
				return -1;
		return 0;
	}
	if (s->run_id[0] != '\0')
		store_task_foreach_run(wf->t->store, s->run_id, add_task_progress, &sp);
	s->progress = step_state_parse(s->state) == STEP_DONE ? 100
		      : sp.count ? sp.sum / (int64_t)sp.count : 0;
	return sp.rc;
}

/* The steps this one waits for, as its pattern says: the DAG's edges, for
 * whoever draws it. */
static int step_view_requires(const struct oc_view *v, struct workflow_step_view *s)
{
	const struct pattern_step *defs, *def;
	size_t count;

	if (v->pattern == NULL)
		return 0;
	defs = dag_steps(v->pattern, s->dag, &count);
	def = pattern_find_step(defs, count, s->name);
	for (size_t r = 0; def != NULL && r < def->require_count; r++)
		if (strlist_add(&s->requires, &s->require_count, def->requires[r]) != 0)
			return -1;
	return 0;
}

/* An attached node's role is the one it enrolled with (as heard last, or
 * read); a made node's is its group's (also before it enrolled). */
static void node_view_role(struct workflow *wf, const struct oc_view *v,
			   const struct store_oc_node *n, struct workflow_node_view *out,
			   const struct workflow_overcloud *prev)
{
	const struct pattern_group *g = pattern_find_group(v->pattern, n->group);
	struct store_node node;

	if (n->attached && n->node_id[0] != '\0') {
		for (size_t i = 0; prev != NULL && i < prev->node_count; i++)
			if (prev->nodes[i].attached &&
			    strcmp(prev->nodes[i].node_id, n->node_id) == 0) {
				snprintf(out->role, sizeof(out->role), "%s", prev->nodes[i].role);
				return;
			}
		if (store_node_get(wf->t->store, n->node_id, &node) == 1) {
			snprintf(out->role, sizeof(out->role), "%s", node.role);
			return;
		}
	}
	snprintf(out->role, sizeof(out->role), "%s", g != NULL && g->role != NULL ? g->role : "");
}

struct input_copy {
	struct workflow_overcloud *oc;
	int rc;
};

static int add_input(const char *name, const char *value, void *arg)
{
	struct input_copy *ic = arg;
	struct workflow_overcloud *oc = ic->oc;
	struct workflow_input *grown = realloc(oc->inputs, (oc->input_count + 1) * sizeof(*grown));
	char *n = strdup(name), *val = strdup(value);

	if (grown != NULL)
		oc->inputs = grown;
	if (grown == NULL || n == NULL || val == NULL) {
		free(n);
		free(val);
		ic->rc = -1;
		return 1;
	}
	grown[oc->input_count].name = n;
	grown[oc->input_count++].value = val;
	return 0;
}

/* The inputs never change after the create: the ones heard last serve. */
static int snapshot_inputs(struct workflow *wf, struct workflow_overcloud *oc,
			   const struct workflow_overcloud *prev)
{
	struct input_copy ic = {.oc = oc};

	if (prev == NULL) {
		store_oci_foreach(wf->t->store, oc->id, add_input, &ic);
		return ic.rc;
	}
	for (size_t i = 0; i < prev->input_count && ic.rc == 0; i++)
		add_input(prev->inputs[i].name, prev->inputs[i].value, &ic);
	return ic.rc;
}

/* The snapshot of v, the engine's view in memory: only what v does not
 * hold is read (tasks of steps that moved, attached nodes' roles), and
 * prev, what watchers heard last, spares even that. */
static struct workflow_overcloud *snapshot_build(struct workflow *wf, const struct oc_view *v,
						 const struct workflow_overcloud *prev)
{
	struct workflow_overcloud *oc = calloc(1, sizeof(*oc));
	struct node_names names = {0};

	if (oc == NULL)
		return NULL;
	snprintf(oc->id, sizeof(oc->id), "%s", v->oc.id);
	snprintf(oc->status, sizeof(oc->status), "%s", v->oc.status);
	oc->attaching = oc_state_of(&v->oc) == OC_READY && attach_open(v);
	snprintf(oc->pattern, sizeof(oc->pattern), "%s", v->oc.pattern);
	snprintf(oc->provider, sizeof(oc->provider), "%s", v->oc.provider);
	oc->number = v->oc.number;
	snprintf(oc->size, sizeof(oc->size), "%s", v->oc.size);
	snprintf(oc->error, sizeof(oc->error), "%s", v->oc.error);
	oc->created_at = v->oc.created_at;
	oc->updated_at = v->oc.updated_at;
	oc->nodes = calloc((size_t)v->node_count + 1, sizeof(*oc->nodes));
	oc->steps = calloc((size_t)v->step_count + 1, sizeof(*oc->steps));
	if (oc->nodes == NULL || oc->steps == NULL)
		goto fail;
	for (int i = 0; i < v->node_count; i++) {
		const struct store_oc_node *n = &v->nodes[i];
		struct workflow_node_view *out = &oc->nodes[oc->node_count++];

		snprintf(out->name, sizeof(out->name), "%s", n->name);
		snprintf(out->group, sizeof(out->group), "%s", n->group);
		node_view_role(wf, v, n, out, prev);
		snprintf(out->provider, sizeof(out->provider), "%s",
			 n->provider[0] ? n->provider : v->oc.provider);
		snprintf(out->node_id, sizeof(out->node_id), "%s", n->node_id);
		snprintf(out->address, sizeof(out->address), "%s", n->address);
		snprintf(out->state, sizeof(out->state), "%s", n->state);
		out->attached = n->attached;
		/* the same answer on every replica */
		out->connected = n->node_id[0] && node_connected_anywhere(wf, n->node_id);
	}
	for (int i = 0; i < v->step_count; i++) {
		const struct store_oc_step *s = &v->steps[i];
		struct workflow_step_view *out = &oc->steps[oc->step_count++];

		snprintf(out->dag, sizeof(out->dag), "%s", s->dag);
		snprintf(out->name, sizeof(out->name), "%s", s->name);
		snprintf(out->state, sizeof(out->state), "%s", s->state);
		out->attempts = s->attempts;
		snprintf(out->error, sizeof(out->error), "%s", s->error);
		snprintf(out->run_id, sizeof(out->run_id), "%s", s->run_id);
		out->started_ms = s->started_ms;
		out->finished_ms = s->finished_ms;
		if (step_view_requires(v, out) != 0 ||
		    step_view_progress(wf, out, prev, &names) != 0)
			goto fail;
	}
	if (snapshot_inputs(wf, oc, prev) != 0)
		goto fail;
	free(names.items);
	return oc;
fail:
	free(names.items);
	workflow_overcloud_free(oc);
	return NULL;
}

struct workflow_overcloud *workflow_overcloud_get(struct workflow *wf, const char *id)
{
	struct workflow_overcloud *oc;
	struct oc_view v;

	if (view_load(wf, id, &v) != 0)
		return NULL;
	oc = snapshot_build(wf, &v, NULL);
	view_free(&v);
	return oc;
}

struct foreach_pass {
	struct workflow *wf;
	int (*fn)(const struct workflow_overcloud *oc, void *arg);
	void *arg;
};

static int foreach_one(const struct store_overcloud *row, void *arg)
{
	struct foreach_pass *pass = arg;
	struct workflow_overcloud *oc = workflow_overcloud_get(pass->wf, row->id);
	int rc = 0;

	if (oc != NULL)
		rc = pass->fn(oc, pass->arg);
	workflow_overcloud_free(oc);
	return rc;
}

int workflow_overcloud_foreach(struct workflow *wf,
			       int (*fn)(const struct workflow_overcloud *oc, void *arg), void *arg)
{
	struct foreach_pass pass = {wf, fn, arg};

	return store_oc_foreach(wf->t->store, foreach_one, &pass) < 0 ? -1 : 0;
}

int workflow_runs_foreach(struct workflow *wf, const char *id,
			  void (*fn)(const char *dag, const char *step, const char *run_id, void *arg),
			  void *arg)
{
	struct oc_view v;

	if (view_load(wf, id, &v) != 0)
		return -1;
	for (int i = 0; i < v.step_count; i++)
		if (v.steps[i].run_id[0] != '\0')
			fn(v.steps[i].dag, v.steps[i].name, v.steps[i].run_id, arg);
	view_free(&v);
	return 0;
}

/* ---- life ---- */

struct workflow *workflow_new(struct tower *t, const char *patterns_dir, char *err,
			      size_t err_size)
{
	struct workflow *wf = calloc(1, sizeof(*wf));
	struct timeval tv = {0, TICK_MS * 1000};

	if (wf == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	wf->t = t;
	wf->enroll_timeout_ms = ENROLL_TIMEOUT_MS;
	{
		const char *v = config_get(t->config, "workflow", "enroll_timeout");
		int64_t secs;
		if (v != NULL && (util_parse_duration(v, &secs) != 0 || secs < 1 || secs > 86400)) {
			snprintf(err, err_size, "[workflow] enroll_timeout = \"%.40s\" is not a "
				 "duration of 1s to 1d", v);
			free(wf);
			return NULL;
		}
		if (v != NULL)
			wf->enroll_timeout_ms = secs * 1000;
	}
	if (patterns_dir != NULL) {
		char why[512];

		wf->patterns = pattern_set_load(patterns_dir, t->roles, why, sizeof(why));
		if (wf->patterns == NULL) {
			snprintf(err, err_size, "patterns: %s", why);
			free(wf);
			return NULL;
		}
	}
	wf->provision = provision_new(t, on_call_done, wf, err, err_size);
	if (wf->provision == NULL) {
		workflow_free(wf);
		return NULL;
	}
	wf->tick = event_new(t->base, -1, EV_PERSIST, on_tick, wf);
	if (wf->tick == NULL || event_add(wf->tick, &tv) != 0) {
		snprintf(err, err_size, "cannot start the workflow timer");
		workflow_free(wf);
		return NULL;
	}
	return wf;
}

void workflow_free(struct workflow *wf)
{
	if (wf == NULL)
		return;
	while (wf->watches != NULL)
		workflow_unwatch(wf->watches);
	if (wf->tick != NULL)
		event_free(wf->tick);
	/* Calls still out are waited for: their results are recorded, so a
	 * restart does not make those nodes again. */
	provision_free(wf->provision);
	pattern_set_free(wf->patterns);
	free(wf);
}

/* A role some pattern gives a group: nodes of it may be made. */
bool workflow_has_group_role(struct workflow *wf, const char *role)
{
	for (size_t i = 0; wf->patterns != NULL && i < pattern_set_count(wf->patterns); i++) {
		const struct pattern *p = pattern_set_at(wf->patterns, i);
		for (size_t j = 0; j < p->group_count; j++)
			if (p->groups[j].role != NULL && strcmp(p->groups[j].role, role) == 0)
				return true;
	}
	return false;
}
