/* workflow.c — runs each OverCloud's create, attach and destroy DAGs: steps
 * start when what they require is done; every change is in sqlite before it
 * is acted on, so a restarted tower picks up where it was. Patterns say what
 * the steps are (pattern.c), tasks.c runs role steps on agents, providers
 * make and release the nodes; attached nodes are enrolled ones, never the
 * provider's. */
#include "tower/engine/workflow.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/config.h"
#include "tower/fleet/enroll.h"
#include "tower/fleet/hub.h"
#include "tower/engine/jobs.h"
#include "tower/engine/pattern.h"
#include "tower/providers/provider.h"
#include "tower/engine/role.h"
#include "tower/store/store.h"
#include "tower/fleet/tasks.h"
#include "tower/metrics/telemetry.h"
#include "tower/tower.h"
#include "tower/boot/userdata.h"

#define TICK_MS 250
#define ENROLL_TIMEOUT_MS (10 * 60 * 1000)
#define RETRY_FIRST_MS 1000
#define RETRY_CAP_MS 30000
/* Steps of all three DAGs an OverCloud can have (pattern.c caps each DAG). */
#define MAX_VIEW_STEPS (3 * 256)
#define PROVIDER_THREADS 8   /* nodes made or released at once */

struct workflow_watch {
	struct workflow *wf;
	char id[STORE_ID_MAX];
	workflow_watch_fn fn;
	void *arg;
	struct workflow_watch *prev, *next;
};

struct provider_slot {
	const struct provider_ops *ops;
	void *ctx;
};

struct workflow {
	struct tower *t;
	struct pattern_set *patterns;
	struct event *tick;
	struct workflow_watch *watches;
	struct provider_slot providers[4];
	size_t provider_count;
	char agent_binary[PATH_MAX];
	bool advancing;
	bool closing;
	struct jobs *jobs;            /* provider calls */
	struct oc_calls *calls;       /* per OverCloud, while its calls are out */
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

static bool step_final(const char *state)
{
	return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 ||
	       strcmp(state, "skipped") == 0;
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
	/* Sized for the pattern's steps: a view that dropped any would run a
	 * DAG in part (a release past the end never ran). */
	for (size_t cap = 64;; cap *= 4) {
		if (cap > MAX_VIEW_STEPS)
			cap = MAX_VIEW_STEPS;
		free(v->steps);
		v->steps = calloc(cap, sizeof(*v->steps));
		if (v->steps == NULL) {
			view_free(v);
			return -1;
		}
		v->step_count = store_ocs_list(wf->t->store, id, v->steps, cap);
		if (v->step_count < (int)cap || cap == MAX_VIEW_STEPS)
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
		if (strcmp(v->steps[i].dag, "attach") == 0 && !step_final(v->steps[i].state))
			return true;
	return false;
}

/* Nothing more will happen to it until someone asks: watchers end here. */
static bool oc_settled(const struct oc_view *v)
{
	if (strcmp(v->oc.status, "ready") == 0)
		return !attach_open(v);
	return strcmp(v->oc.status, "failed") == 0 || strcmp(v->oc.status, "deleted") == 0;
}

/* ---- watchers ---- */

static json_t *overcloud_json(struct workflow *wf, struct oc_view *v);

static void notify(struct workflow *wf, const char *id)
{
	struct workflow_watch *w, *next;
	struct oc_view v;
	json_t *obj;
	bool end;

	if (wf->watches == NULL || view_load(wf, id, &v) != 0)
		return;
	obj = overcloud_json(wf, &v);
	end = oc_settled(&v);
	view_free(&v);
	for (w = wf->watches; w != NULL; w = next) {
		next = w->next;
		if (strcmp(w->id, id) != 0)
			continue;
		w->fn(w->arg, "overcloud", obj);
		if (end) {
			w->fn(w->arg, "end", obj);
			workflow_unwatch(w);
		}
	}
	json_decref(obj);
}

int workflow_watch(struct workflow *wf, const char *id, workflow_watch_fn fn, void *arg,
		   struct workflow_watch **out)
{
	struct workflow_watch *w;
	struct oc_view v;
	json_t *obj;
	bool end;

	*out = NULL;
	if (view_load(wf, id, &v) != 0)
		return -1;
	obj = overcloud_json(wf, &v);
	end = oc_settled(&v);
	view_free(&v);
	fn(arg, "overcloud", obj);
	if (end) {
		fn(arg, "end", obj);
		json_decref(obj);
		return 0;
	}
	json_decref(obj);
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->wf = wf;
	w->fn = fn;
	w->arg = arg;
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->next = wf->watches;
	if (wf->watches != NULL)
		wf->watches->prev = w;
	wf->watches = w;
	*out = w;
	return 0;
}

void workflow_unwatch(struct workflow_watch *w)
{
	if (w == NULL)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		w->wf->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	free(w);
}

/* ---- providers ---- */

static struct provider_slot *provider_for(struct workflow *wf, const char *name, char *err,
					  size_t err_size)
{
	const struct provider_ops *ops = provider_find(name);
	struct provider_env env;
	void *ctx;

	if (ops == NULL) {
		snprintf(err, err_size, "unknown provider \"%s\"", name);
		return NULL;
	}
	for (size_t i = 0; i < wf->provider_count; i++)
		if (wf->providers[i].ops == ops)
			return &wf->providers[i];
	if (wf->provider_count == OC_ARRAY_LEN(wf->providers)) {
		snprintf(err, err_size, "too many providers");
		return NULL;
	}
	memset(&env, 0, sizeof(env));
	env.state_dir = wf->t->state_dir;
	env.tower_host = wf->t->join_host;
	env.tower_port = wf->t->agent_port;
	env.ca_pem = ca_cert_pem(wf->t->ca);
	env.ca_pin = ca_pin(wf->t->ca);
	env.agent_binary = wf->agent_binary;
	env.config = wf->t->config;
	ctx = ops->open(&env, err, err_size);
	if (ctx == NULL)
		return NULL;
	wf->providers[wf->provider_count].ops = ops;
	wf->providers[wf->provider_count].ctx = ctx;
	return &wf->providers[wf->provider_count++];
}

/* ---- step bookkeeping ---- */

static void step_save(struct workflow *wf, struct oc_view *v, struct store_oc_step *s)
{
	if (store_ocs_update(wf->t->store, v->oc.id, s) != 0)
		log_error("overcloud %s: cannot record step %s", v->oc.id, s->name);
}

static void step_finish(struct workflow *wf, struct oc_view *v, struct store_oc_step *s,
			const char *state, const char *error)
{
	snprintf(s->state, sizeof(s->state), "%s", state);
	snprintf(s->error, sizeof(s->error), "%s", error ? error : "");
	s->finished_ms = util_now_ms();
	step_save(wf, v, s);
	if (s->started_ms > 0 && s->finished_ms >= s->started_ms)
		telemetry_observe(TELEMETRY_STEP, (double)(s->finished_ms - s->started_ms) / 1000.0);
	if (strcmp(state, "done") == 0)
		log_info("overcloud %s: step %s done", v->oc.id, s->name);
	else
		log_warn("overcloud %s: step %s %s%s%s", v->oc.id, s->name, state,
			 error ? ": " : "", error ? error : "");
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

	if (!n->enrolled)
		return all || strcmp(n->group, on) == 0;
	if (strcmp(n->state, "released") == 0 || (!all && strcmp(on, PATTERN_ATTACHED) != 0))
		return false;
	return all || strcmp(dag, "attach") != 0 || strcmp(n->state, "pending") == 0;
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

static char *resolve_ref(struct workflow *wf, struct oc_view *v, const char *dag, const char *ref,
			 char *err, size_t err_size)
{
	char a[64], b[64], c[64], d[64];
	int n = sscanf(ref, " %63[a-z0-9_-].%63[a-z0-9_-].%63[a-z0-9_-].%63[a-z0-9_-] ", a, b, c, d);

	if (n == 2 && strcmp(a, "inputs") == 0)
		return input_value(wf, v, b, err, err_size);
	if (n >= 2 && strcmp(a, "overcloud") == 0) {
		char num[32];
		if (strcmp(b, "id") == 0)
			return strdup(v->oc.id);
		if (strcmp(b, "size") == 0)
			return strdup(v->oc.size);
		if (strcmp(b, "number") == 0) {
			snprintf(num, sizeof(num), "%lld", (long long)v->oc.number);
			return strdup(num);
		}
	}
	if (n == 3 && strcmp(a, "groups") == 0) {
		char *out = calloc(1, (size_t)v->node_count * 64 + 1);
		if (out == NULL)
			return NULL;
		for (int i = 0; i < v->node_count; i++) {
			if (!node_in_target(&v->nodes[i], b, dag))
				continue;
			if (out[0] != '\0') {
				if (strcmp(c, "address") == 0)
					break;
				strcat(out, " ");
			}
			strcat(out, v->nodes[i].address);
		}
		return out;
	}
	if (n == 4 && strcmp(a, "steps") == 0 && strcmp(c, "outputs") == 0) {
		struct store_oc_step *s = view_step(v, dag, b);
		struct first_output fo = {.key = d};
		if (s == NULL || s->run_id[0] == '\0') {
			snprintf(err, err_size, "step %s has no outputs yet", b);
			return NULL;
		}
		store_task_foreach_run(wf->t->store, s->run_id, take_output, &fo);
		if (fo.value == NULL)
			snprintf(err, err_size, "step %s did not output \"%s\"", b, d);
		return fo.value;
	}
	snprintf(err, err_size, "cannot resolve ${{ %s }}", ref);
	return NULL;
}

/* Expands every ${{ ... }} in text. Returns a heap string or NULL + err. */
static char *expand(struct workflow *wf, struct oc_view *v, const char *dag, const char *text,
		    char *err, size_t err_size)
{
	char *out = NULL, *ref;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	const char *p = text, *open, *close;

	if (mem == NULL)
		return NULL;
	while ((open = strstr(p, "${{")) != NULL) {
		char *value;
		fwrite(p, 1, (size_t)(open - p), mem);
		close = strstr(open, "}}");
		if (close == NULL) {
			snprintf(err, err_size, "unterminated ${{ in \"%s\"", text);
			goto fail;
		}
		ref = strndup(open + 3, (size_t)(close - open - 3));
		value = ref ? resolve_ref(wf, v, dag, ref, err, err_size) : NULL;
		free(ref);
		if (value == NULL)
			goto fail;
		fputs(value, mem);
		free(value);
		p = close + 2;
	}
	fputs(p, mem);
	fclose(mem);
	return out;
fail:
	fclose(mem);
	free(out);
	return NULL;
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
			step_finish(wf, v, s, "failed", err);
			goto out;
		}
	}
	if (inputs == NULL ||
	    tasks_role_spec(wf->t->tasks, def->role, def->role_step ? def->role_step : "apply",
			    inputs, def->input_count, &spec, err, sizeof(err)) != 0) {
		step_finish(wf, v, s, "failed", inputs == NULL ? "out of memory" : err);
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
		step_finish(wf, v, s, "failed", "out of memory");
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
			step_finish(wf, v, s, "failed", err);
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
		step_finish(wf, v, s, "done", NULL);
		goto out;
	}
	if (targets == 0 && already_done > 0) {
		step_finish(wf, v, s, "done", NULL);
		goto out;
	}
	if (targets > 0 &&
	    tasks_create_run(wf->t->tasks, s->run_id, node_ids, targets, def->role,
			     def->role_step ? def->role_step : "apply", &spec, NULL, err,
			     sizeof(err)) != 0) {
		step_finish(wf, v, s, "failed", err);
		goto out;
	}
	if (targets == 0) {
		/* Destroying what was never built: nothing to undo here. */
		step_finish(wf, v, s, strcmp(dag, "destroy") == 0 ? "done" : "failed",
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

/* ---- provider calls, off the event loop ---- */

/* Per OverCloud: the provider calls of its acquire or release step that are
 * still out, and the first failure among those that came back. */
struct oc_calls {
	char oc_id[STORE_ID_MAX];
	bool releasing;               /* which step the counters are for */
	bool release_started;
	bool rolled_back;
	int in_flight;
	int failed;
	char first_error[512];
	struct oc_calls *next;
};

/* One create_node or destroy_node call and everything it needs, so the
 * pool thread touches nothing the event loop owns. */
struct node_call {
	struct workflow *wf;
	const struct provider_ops *ops;
	void *ctx;
	bool create;
	char oc_id[STORE_ID_MAX];
	char name[STORE_ID_MAX];
	char group[STORE_ROLE_MAX];
	char size[STORE_ROLE_MAX];
	char token[ENROLL_TOKEN_LEN + 1];
	char *user_data;
	struct provider_node made;    /* in for destroy, out for create */
	int rc;
	char err[512];
};

static struct oc_calls *oc_calls_find(struct workflow *wf, const char *oc_id)
{
	for (struct oc_calls *oc = wf->calls; oc != NULL; oc = oc->next)
		if (strcmp(oc->oc_id, oc_id) == 0)
			return oc;
	return NULL;
}

static struct oc_calls *oc_calls_get(struct workflow *wf, const char *oc_id)
{
	struct oc_calls *oc = oc_calls_find(wf, oc_id);

	if (oc != NULL)
		return oc;
	oc = calloc(1, sizeof(*oc));
	if (oc == NULL)
		return NULL;
	snprintf(oc->oc_id, sizeof(oc->oc_id), "%s", oc_id);
	oc->next = wf->calls;
	wf->calls = oc;
	return oc;
}

static void oc_calls_drop(struct workflow *wf, const char *oc_id)
{
	for (struct oc_calls **p = &wf->calls; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->oc_id, oc_id) == 0) {
			struct oc_calls *gone = *p;
			*p = gone->next;
			free(gone);
			return;
		}
	}
}

static void oc_calls_fail(struct oc_calls *oc, const char *node, const char *reason)
{
	oc->failed++;
	if (oc->first_error[0] == '\0')
		snprintf(oc->first_error, sizeof(oc->first_error), "%s: %s", node, reason);
}

static void node_call_free(struct node_call *c)
{
	explicit_bzero(c->token, sizeof(c->token));
	if (c->user_data != NULL) {
		/* It carries the join token too. */
		explicit_bzero(c->user_data, strlen(c->user_data));
		free(c->user_data);
	}
	free(c);
}

static void node_call_work(void *arg)
{
	struct node_call *c = arg;

	if (c->create) {
		struct provider_node_request req = {
			.overcloud_id = c->oc_id,
			.name = c->name,
			.group = c->group,
			.size = c->size[0] ? c->size : NULL,
			.join_token = c->token,
			.user_data = c->user_data,
		};
		c->rc = c->ops->create_node(c->ctx, &req, &c->made, c->err, sizeof(c->err));
	} else {
		c->rc = c->ops->destroy_node(c->ctx, c->oc_id, &c->made, c->err, sizeof(c->err));
	}
}

static void advance(struct workflow *wf, const char *id);

/* Back on the loop: the node's row is read again (its agent may have
 * enrolled while the call was out) and only the provider's fields change. */
static void node_call_done(void *arg, bool ran)
{
	struct node_call *c = arg;
	struct workflow *wf = c->wf;
	struct oc_calls *oc = oc_calls_find(wf, c->oc_id);
	char oc_id[STORE_ID_MAX];
	struct oc_view v;

	if (ran && c->rc == 0 && view_load(wf, c->oc_id, &v) == 0) {
		for (int i = 0; i < v.node_count; i++) {
			struct store_oc_node *n = &v.nodes[i];
			if (strcmp(n->name, c->name) != 0)
				continue;
			if (c->create) {
				snprintf(n->handle, sizeof(n->handle), "%s", c->made.handle);
				snprintf(n->address, sizeof(n->address), "%s", c->made.address);
				snprintf(n->state, sizeof(n->state), "created");
				log_info("overcloud %s: node %s made at %s", c->oc_id, c->name,
					 c->made.address);
			} else {
				snprintf(n->state, sizeof(n->state), "released");
			}
			store_ocn_update(wf->t->store, c->oc_id, n);
		}
		view_free(&v);
	} else if (oc != NULL) {
		oc_calls_fail(oc, c->name, ran ? c->err : "the tower stopped first");
	}
	if (oc != NULL)
		oc->in_flight--;
	snprintf(oc_id, sizeof(oc_id), "%s", c->oc_id);
	node_call_free(c);
	if (ran && !wf->closing && !wf->advancing) {
		wf->advancing = true;
		advance(wf, oc_id);
		wf->advancing = false;
	}
}

static struct node_call *node_call_new(struct workflow *wf, struct provider_slot *prov,
				       const char *oc_id, const struct store_oc_node *n, bool create)
{
	struct node_call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->wf = wf;
	c->ops = prov->ops;
	c->ctx = prov->ctx;
	c->create = create;
	snprintf(c->oc_id, sizeof(c->oc_id), "%s", oc_id);
	snprintf(c->name, sizeof(c->name), "%s", n->name);
	snprintf(c->group, sizeof(c->group), "%s", n->group);
	snprintf(c->made.handle, sizeof(c->made.handle), "%s", n->handle);
	snprintf(c->made.address, sizeof(c->made.address), "%s", n->address);
	return c;
}

static int node_call_submit(struct workflow *wf, struct oc_calls *oc, struct node_call *c)
{
	if (jobs_submit(wf->jobs, node_call_work, node_call_done, c) != 0) {
		oc_calls_fail(oc, c->name, "out of memory");
		node_call_free(c);
		return -1;
	}
	oc->in_flight++;
	return 0;
}

/* The provider that makes node n (its own in a heterogeneous OverCloud). */
static struct provider_slot *node_provider(struct workflow *wf, const struct oc_view *v,
					   const struct store_oc_node *n, char *err, size_t err_size)
{
	return provider_for(wf, n->provider[0] ? n->provider : v->oc.provider, err, err_size);
}

/* Starts destroy_node for every node that has something to destroy; nodes
 * never made are marked released at once. Returns the calls started. */
static int release_nodes(struct workflow *wf, struct oc_view *v, struct oc_calls *oc)
{
	int started = 0;

	for (int i = 0; i < v->node_count; i++) {
		struct store_oc_node *n = &v->nodes[i];
		struct provider_slot *prov;
		struct node_call *c;
		char prov_err[256];

		if (n->enrolled) {
			/* Attached: not the provider's, and it stays enrolled, free
			 * to be attached again. */
			if (strcmp(n->state, "released") != 0) {
				snprintf(n->state, sizeof(n->state), "released");
				store_ocn_update(wf->t->store, v->oc.id, n);
				log_info("overcloud %s: attached node %s left it, still enrolled",
					 v->oc.id, n->node_id[0] ? n->node_id : n->name);
			}
			continue;
		}
		if (n->node_id[0] != '\0') {
			/* Its certificate dies with it (and with the node row,
			 * its oc_nodes.node_id reads empty from now on). */
			store_node_delete(wf->t->store, n->node_id);
			hub_disconnect_node(wf->t->hub, n->node_id, "node released");
		}
		if (strcmp(n->state, "released") == 0)
			continue;
		if (strcmp(n->state, "created") != 0 && n->token_id[0] == '\0') {
			snprintf(n->state, sizeof(n->state), "released");
			store_ocn_update(wf->t->store, v->oc.id, n);
			continue;
		}
		prov = node_provider(wf, v, n, prov_err, sizeof(prov_err));
		if (prov == NULL) {
			oc_calls_fail(oc, n->name, prov_err);
			continue;
		}
		c = node_call_new(wf, prov, v->oc.id, n, false);
		if (c == NULL) {
			oc_calls_fail(oc, n->name, "out of memory");
			continue;
		}
		if (node_call_submit(wf, oc, c) == 0)
			started++;
	}
	return started;
}

/* Makes every node still pending, all at once on the provider threads. A
 * failure releases what was made (no half-built OverCloud keeps a VM) and
 * the step fails with the provider's reason. Runs again on every pass
 * until the calls are back. */
static void do_acquire(struct workflow *wf, struct oc_view *v, struct store_oc_step *s)
{
	char err[512], token[ENROLL_TOKEN_LEN + 1];
	struct oc_calls *oc;

	oc = oc_calls_get(wf, v->oc.id);
	if (oc == NULL) {
		step_finish(wf, v, s, "failed", "out of memory");
		return;
	}
	if (oc->in_flight > 0)
		return;
	if (oc->failed > 0) {
		if (!oc->rolled_back) {
			oc->rolled_back = true;
			log_warn("overcloud %s: %s; releasing the nodes already made", v->oc.id,
				 oc->first_error);
			if (release_nodes(wf, v, oc) > 0)
				return;
		}
		step_finish(wf, v, s, "failed", oc->first_error);
		oc_calls_drop(wf, v->oc.id);
		return;
	}
	for (int i = 0; i < v->node_count; i++) {
		struct store_oc_node *n = &v->nodes[i];
		const struct pattern_group *g = pattern_find_group(v->pattern, n->group);
		const char *role = g && g->role ? g->role : n->group;
		struct provider_slot *prov;
		struct node_call *c;

		if (strcmp(n->state, "pending") != 0 || n->enrolled)
			continue;
		prov = node_provider(wf, v, n, err, sizeof(err));
		if (prov == NULL) {
			oc_calls_fail(oc, n->name, err);
			break;
		}
		if (enroll_create_token(wf->t->store, role, 3600, 1, token, err, sizeof(err)) != 0) {
			oc_calls_fail(oc, n->name, err);
			break;
		}
		/* Recorded first: a node whose call is lost in a crash is made
		 * again with a new token, and the old one is released. */
		memcpy(n->token_id, token, ENROLL_TOKEN_ID_HEX);
		n->token_id[ENROLL_TOKEN_ID_HEX] = '\0';
		store_ocn_update(wf->t->store, v->oc.id, n);
		c = node_call_new(wf, prov, v->oc.id, n, true);
		if (c == NULL) {
			explicit_bzero(token, sizeof(token));
			oc_calls_fail(oc, n->name, "out of memory");
			break;
		}
		memcpy(c->token, token, sizeof(token));
		explicit_bzero(token, sizeof(token));
		snprintf(c->size, sizeof(c->size), "%s", n->size[0] ? n->size : v->oc.size);
		if (prov->ops->wants_user_data) {
			/* cloud-init user-data (userdata_render, with this tower's
			 * endpoints); tower.conf [provider] arch = aarch64 for ARM
			 * instance types. */
			const char *arch = config_get(wf->t->config, prov->ops->name, "arch");
			size_t user_data_len = 0;
			c->user_data = userdata_for_tower(wf->t, c->token, role, arch ? arch : "x86_64",
							  n->name, &user_data_len, err, sizeof(err));
			if (c->user_data == NULL) {
				oc_calls_fail(oc, n->name, err);
				node_call_free(c);
				break;
			}
		}
		node_call_submit(wf, oc, c);
	}
	if (oc->in_flight > 0)
		return;
	if (oc->failed > 0) {
		do_acquire(wf, v, s);   /* nothing out: roll back now */
		return;
	}
	step_finish(wf, v, s, "done", NULL);
	oc_calls_drop(wf, v->oc.id);
}

/* Done once every made node's agent has enrolled and is connected. */
static void check_enroll(struct workflow *wf, struct oc_view *v, struct store_oc_step *s)
{
	char missing[256] = "";

	for (int i = 0; i < v->node_count; i++) {
		const struct store_oc_node *n = &v->nodes[i];
		if (n->enrolled || (n->node_id[0] != '\0' && hub_node_connected(wf->t->hub, n->node_id)))
			continue;
		if (strlen(missing) + strlen(n->name) + 2 < sizeof(missing))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? " " : "", n->name);
	}
	if (missing[0] == '\0') {
		step_finish(wf, v, s, "done", NULL);
		return;
	}
	if (util_now_ms() - s->started_ms > ENROLL_TIMEOUT_MS) {
		char err[400];
		snprintf(err, sizeof(err), "nodes never connected: %s", missing);
		step_finish(wf, v, s, "failed", err);
	}
}

/* Releases every node, all at once on the provider threads; best effort:
 * one failure does not keep the others. */
static void do_release(struct workflow *wf, struct oc_view *v, struct store_oc_step *s)
{
	struct oc_calls *oc = oc_calls_get(wf, v->oc.id);

	if (oc == NULL) {
		step_finish(wf, v, s, "failed", "out of memory");
		return;
	}
	if (oc->in_flight > 0)
		return;   /* a create still out (deleted while creating), or our own calls */
	if (!oc->releasing) {
		/* Whatever an interrupted acquire counted is not this step's. */
		memset(oc, 0, offsetof(struct oc_calls, next));
		snprintf(oc->oc_id, sizeof(oc->oc_id), "%s", v->oc.id);
		oc->releasing = true;
	}
	if (!oc->release_started) {
		oc->release_started = true;
		if (release_nodes(wf, v, oc) > 0)
			return;
	}
	step_finish(wf, v, s, oc->failed ? "failed" : "done", oc->failed ? oc->first_error : NULL);
	oc_calls_drop(wf, v->oc.id);
}

static void start_step(struct workflow *wf, struct oc_view *v, const struct pattern_step *def,
		       struct store_oc_step *s, const char *dag)
{
	snprintf(s->state, sizeof(s->state), "running");
	s->attempts++;
	s->started_ms = util_now_ms();
	s->retry_at_ms = 0;
	/* A retry keeps its run: only the nodes whose last task there did not
	 * end done get a new one (start_role_step); a done node is done. */
	if (def->role != NULL && s->attempts == 1)
		s->run_id[0] = '\0';
	step_save(wf, v, s);
	log_info("overcloud %s: step %s started (attempt %lld)", v->oc.id, s->name,
		 (long long)s->attempts);
	if (def->action == NULL)
		start_role_step(wf, v, def, s, dag);
	else if (strcmp(def->action, "acquire") == 0)
		do_acquire(wf, v, s);
	else if (strcmp(def->action, "enroll") == 0)
		check_enroll(wf, v, s);
	else if (strcmp(def->action, "release") == 0)
		do_release(wf, v, s);
	else
		step_finish(wf, v, s, "done", NULL);   /* record: the state is already recorded */
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
			do_acquire(wf, v, s);     /* interrupted: finish the nodes not made yet */
		else if (strcmp(def->action, "release") == 0)
			do_release(wf, v, s);
		else
			step_finish(wf, v, s, "done", NULL);
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
		step_finish(wf, v, s, "done", NULL);
		return;
	}
	if (s->attempts <= step_retries(wf, def)) {
		snprintf(s->state, sizeof(s->state), "pending");
		snprintf(s->error, sizeof(s->error), "%s", rs.first_error);
		s->retry_at_ms = util_now_ms() + retry_delay_ms(s->attempts);
		step_save(wf, v, s);
		log_warn("overcloud %s: step %s failed (%s), retrying in %lld ms", v->oc.id, s->name,
			 rs.first_error, (long long)(s->retry_at_ms - util_now_ms()));
		return;
	}
	step_finish(wf, v, s, "failed", rs.first_error);
}

/* ---- the engine ---- */

/* The attach DAG is over: its nodes are attached (state created) and the
 * OverCloud is ready again, or it is failed with the first error; then the
 * attached nodes stay pending, so destroy still undoes what they did. */
static void finish_attach(struct workflow *wf, struct oc_view *v, const char *error)
{
	char why[600];
	int attached = 0;

	/* Steps the pattern no longer has (it changed across a restart) would
	 * keep the attach open for ever. */
	for (int i = 0; i < v->step_count; i++) {
		struct store_oc_step *s = &v->steps[i];
		if (strcmp(s->dag, "attach") == 0 && !step_final(s->state))
			step_finish(wf, v, s, "skipped", "not in the pattern any more");
	}
	if (error != NULL) {
		snprintf(why, sizeof(why), "attach: %s", error);
		store_oc_set_status(wf->t->store, v->oc.id, "failed", why, util_now());
		log_warn("overcloud %s: failed — %s", v->oc.id, why);
		return;
	}
	for (int i = 0; i < v->node_count; i++) {
		struct store_oc_node *n = &v->nodes[i];
		if (!n->enrolled || strcmp(n->state, "pending") != 0)
			continue;
		snprintf(n->state, sizeof(n->state), "created");
		store_ocn_update(wf->t->store, v->oc.id, n);
		attached++;
	}
	store_oc_set_status(wf->t->store, v->oc.id, "ready", "", util_now());
	log_info("overcloud %s: ready, %d node(s) attached", v->oc.id, attached);
}

/* One pass over the current DAG. Returns true when something changed. */
static bool advance_once(struct workflow *wf, const char *id)
{
	struct oc_view v;
	const struct pattern_step *defs;
	const char *dag;
	size_t count;
	bool changed = false, all_final = true, any_failed = false;
	char first_error[512] = "";
	int64_t now = util_now_ms();

	if (view_load(wf, id, &v) != 0)
		return false;
	if (strcmp(v.oc.status, "creating") == 0)
		dag = "create";
	else if (strcmp(v.oc.status, "deleting") == 0)
		dag = "destroy";
	else if (strcmp(v.oc.status, "ready") == 0 && attach_open(&v))
		dag = "attach";
	else
		goto out;
	if (v.pattern == NULL) {
		store_oc_set_status(wf->t->store, id, "failed", "its pattern is no longer loaded",
				    util_now());
		changed = true;
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
		if (strcmp(s->state, "running") == 0) {
			follow_step(wf, &v, def, s, dag);
		} else if (strcmp(s->state, "pending") == 0 && s->retry_at_ms <= now) {
			for (size_t r = 0; r < def->require_count; r++) {
				struct store_oc_step *dep = view_step(&v, dag, def->requires[r]);
				if (dep == NULL || !step_final(dep->state))
					ready = false;
				else if (strcmp(dep->state, "done") != 0)
					blocked = true;
			}
			/* A failed create or attach step stops what depends on it;
			 * destroy is best effort, so everything still gets released. */
			if (ready && blocked && strcmp(dag, "destroy") != 0) {
				snprintf(s->state, sizeof(s->state), "skipped");
				snprintf(s->error, sizeof(s->error), "a step it requires did not finish");
				step_save(wf, &v, s);
			} else if (ready) {
				start_step(wf, &v, def, s, dag);
			}
		}
		if (memcmp(&before, s, sizeof(before)) != 0)
			changed = true;
		if (!step_final(s->state))
			all_final = false;
		if (strcmp(s->state, "failed") == 0) {
			any_failed = true;
			if (first_error[0] == '\0')
				snprintf(first_error, sizeof(first_error), "step %s: %s", s->name, s->error);
		}
	}
	if (all_final && strcmp(dag, "attach") == 0) {
		finish_attach(wf, &v, any_failed ? first_error : NULL);
		changed = true;
	} else if (all_final) {
		const char *status;
		if (strcmp(dag, "create") == 0)
			status = any_failed ? "failed" : "ready";
		else {
			const struct store_oc_step *rel = view_step(&v, dag, "release");
			status = (rel == NULL || strcmp(rel->state, "done") == 0) ? "deleted" : "failed";
		}
		store_oc_set_status(wf->t->store, id, status, any_failed ? first_error : "", util_now());
		log_info("overcloud %s: %s%s%s", id, status, any_failed ? " — " : "",
			 any_failed ? first_error : "");
		changed = true;
	}
out:
	view_free(&v);
	return changed;
}

static void advance(struct workflow *wf, const char *id)
{
	/* A finished step can make others ready at once. */
	for (int i = 0; i < 64 && advance_once(wf, id); i++)
		notify(wf, id);
}

static int advance_active(const struct store_overcloud *oc, void *arg)
{
	struct workflow *wf = arg;

	if (strcmp(oc->status, "creating") == 0 || strcmp(oc->status, "deleting") == 0 ||
	    (strcmp(oc->status, "ready") == 0 &&
	     store_ocs_count_open(wf->t->store, oc->id, "attach") > 0))
		advance(wf, oc->id);
	return 0;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct workflow *wf = arg;

	if (wf->advancing)
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
	advance(wf, oc_id);
	wf->advancing = false;
}

void workflow_on_node_ready(struct workflow *wf, const char *node_id)
{
	on_tick(-1, 0, wf);
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
		return -1;
	}
	if (check_parts(parts, part_count, &number, err, err_size) != 0)
		return -1;
	if (check_inputs(p, inputs, input_count, err, err_size) != 0)
		return -1;
	provider = mixed ? WORKFLOW_HETEROGENEOUS : provider_find(parts[0].provider)->name;
	for (size_t g = 0; g < p->group_count; g++)
		total += p->groups[g].from_request ? number : p->groups[g].count;
	if (total >= WORKFLOW_MAX_NODES) {
		snprintf(err, err_size, "field \"number\": %lld nodes in all is over %d", (long long)total,
			 WORKFLOW_MAX_NODES - 1);
		return -1;
	}
	util_random(raw, sizeof(raw));
	util_hex(raw, sizeof(raw), hex);
	snprintf(id_out, 32, "oc-%s", hex);
	if (store_begin(wf->t->store) != 0) {
		snprintf(err, err_size, "database busy");
		return -1;
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
	if (store_commit(wf->t->store) != 0)
		goto fail_nolock;
	log_info("overcloud %s: creating (%s, %s, %lld node(s))", id_out, p->name, provider,
		 (long long)total);
	advance(wf, id_out);
	return 0;
fail:
	store_rollback(wf->t->store);
fail_nolock:
	snprintf(err, err_size, "cannot record the overcloud");
	return -1;
}

/* The end of a request on v's OverCloud: one that was recorded (rc 0) starts
 * moving at once and its watchers hear of it. Frees the view. */
static int request_done(struct workflow *wf, struct oc_view *v, int rc)
{
	char id[STORE_ID_MAX];

	snprintf(id, sizeof(id), "%s", v->oc.id);
	view_free(v);
	if (rc == 0) {
		advance(wf, id);
		notify(wf, id);
	}
	return rc;
}

int workflow_delete(struct workflow *wf, const char *id, char *err, size_t err_size)
{
	struct oc_view v;
	const struct pattern *p;
	int rc = WORKFLOW_CONFLICT;

	if (view_load(wf, id, &v) != 0) {
		snprintf(err, err_size, "no such overcloud");
		return WORKFLOW_NOT_FOUND;
	}
	if (strcmp(v.oc.status, "deleted") == 0 || strcmp(v.oc.status, "deleting") == 0) {
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
		store_ocs_insert(wf->t->store, id, "destroy", p->destroy[i].name, (int64_t)i);
	/* An attach still running stops here; destroy undoes what it did. */
	for (int i = 0; i < v.step_count; i++) {
		struct store_oc_step *s = &v.steps[i];
		if (strcmp(s->dag, "attach") != 0 || step_final(s->state))
			continue;
		snprintf(s->state, sizeof(s->state), "skipped");
		snprintf(s->error, sizeof(s->error), "the overcloud was deleted first");
		s->finished_ms = util_now_ms();
		step_save(wf, &v, s);
	}
	store_oc_set_status(wf->t->store, id, "deleting", "", util_now());
	if (store_commit(wf->t->store) != 0) {
		snprintf(err, err_size, "cannot record the deletion");
		goto out;
	}
	log_info("overcloud %s: deleting (was %s)", id, v.oc.status);
	rc = 0;
out:
	return request_done(wf, &v, rc);
}

/* ---- attaching an enrolled node ---- */

struct node_lookup {
	const char *want;
	struct store_node found;
	int matches;
};

static int match_node_name(const struct store_node *n, void *arg)
{
	struct node_lookup *nl = arg;

	if (strcmp(n->name, nl->want) == 0) {
		if (nl->matches++ == 0)
			nl->found = *n;
	}
	return 0;
}

/* The live node whose id, or else name, is ref. */
static int find_node(struct workflow *wf, const char *ref, struct store_node *out, char *err,
		     size_t err_size)
{
	struct node_lookup nl = {.want = ref};

	if (strlen(ref) < STORE_ID_MAX && store_node_get(wf->t->store, ref, out) == 1 &&
	    !out->deleted)
		return 0;
	if (store_node_foreach(wf->t->store, match_node_name, &nl) != 0) {
		snprintf(err, err_size, "cannot read the nodes");
		return WORKFLOW_FAILED;
	}
	if (nl.matches == 0) {
		snprintf(err, err_size, "field \"node\": no enrolled node \"%s\" (an id or a name from tower nodes)",
			 ref);
		return WORKFLOW_NOT_FOUND;
	}
	if (nl.matches > 1) {
		snprintf(err, err_size, "field \"node\": %d nodes are named \"%s\"; give the node id",
			 nl.matches, ref);
		return WORKFLOW_BAD_REQUEST;
	}
	*out = nl.found;
	return 0;
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
	if (strcmp(v->oc.status, "ready") != 0) {
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
		idx += v.nodes[i].enrolled;
	snprintf(name, sizeof(name), "%s-" PATTERN_ATTACHED "-%lld", id, (long long)idx);
	hub_node_address(wf->t->hub, node.id, address, sizeof(address));
	rc = WORKFLOW_FAILED;
	if (store_begin(wf->t->store) != 0) {
		snprintf(err, err_size, "database busy");
		goto out;
	}
	/* A new attach starts from clean steps; the last one's runs stay in
	 * the tasks table. */
	if (store_ocn_insert_enrolled(wf->t->store, id, name, PATTERN_ATTACHED, idx, PATTERN_ATTACHED,
				      node.id, address) != 0 ||
	    store_ocs_clear(wf->t->store, id, "attach") != 0)
		goto fail;
	for (size_t i = 0; i < v.pattern->attach_count; i++)
		if (store_ocs_insert(wf->t->store, id, "attach", v.pattern->attach[i].name,
				     (int64_t)i) != 0)
			goto fail;
	if (store_oc_set_status(wf->t->store, id, "ready", "", util_now()) != 0 ||
	    store_commit(wf->t->store) != 0)
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

/* ---- API objects ---- */

struct step_progress {
	int64_t sum;
	size_t count;
	json_t *nodes;
	struct workflow *wf;
};

static int add_task_progress(const struct store_task *t, void *arg)
{
	struct step_progress *sp = arg;
	struct store_node n;

	sp->sum += task_state_of(t) == TASK_DONE ? 100 : t->progress;
	sp->count++;
	if (store_node_get(sp->wf->t->store, t->node_id, &n) == 1)
		json_array_append_new(sp->nodes, json_string(n.name));
	return 0;
}

/* An attached node's role is the one it enrolled with; a made node's is
 * its group's (also before it enrolled). */
static const char *node_role(struct workflow *wf, const struct oc_view *v,
			     const struct store_oc_node *n, char *buf, size_t size)
{
	const struct pattern_group *g = pattern_find_group(v->pattern, n->group);
	struct store_node node;

	if (n->enrolled && n->node_id[0] != '\0' &&
	    store_node_get(wf->t->store, n->node_id, &node) == 1) {
		snprintf(buf, size, "%s", node.role);
		return buf;
	}
	return g != NULL && g->role != NULL ? g->role : "";
}

/* The steps this one waits for, as its pattern says: the DAG's edges, for
 * whoever draws it. */
static json_t *step_requires_json(const struct oc_view *v, const struct store_oc_step *s)
{
	json_t *list = json_array();
	const struct pattern_step *defs, *def;
	size_t count;

	if (v->pattern == NULL)
		return list;
	defs = dag_steps(v->pattern, s->dag, &count);
	def = pattern_find_step(defs, count, s->name);
	for (size_t r = 0; def != NULL && r < def->require_count; r++)
		json_array_append_new(list, json_string(def->requires[r]));
	return list;
}

static int add_input(const char *name, const char *value, void *arg)
{
	json_object_set_new(arg, name, json_string(value));
	return 0;
}

static json_t *overcloud_json(struct workflow *wf, struct oc_view *v)
{
	json_t *nodes = json_array(), *steps = json_array(), *cluster = json_array();
	json_t *inputs = json_object();
	json_t *post = json_null();
	int64_t now = util_now_ms();

	for (int i = 0; i < v->node_count; i++) {
		const struct store_oc_node *n = &v->nodes[i];
		char role[STORE_ROLE_MAX];
		json_array_append_new(nodes, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
			"name", n->name, "group", n->group,
			"role", node_role(wf, v, n, role, sizeof(role)),
			"provider", n->provider[0] ? n->provider : v->oc.provider,
			"node_id", n->node_id, "address", n->address, "state", n->state,
			"connected", n->node_id[0] && hub_node_connected(wf->t->hub, n->node_id)));
		/* Attached edge nodes are listed, not part of the post or the
		 * logical cluster. */
		if (n->address[0] == '\0' || strcmp(n->state, "released") == 0 || n->enrolled)
			continue;
		if (strcmp(n->group, "post") == 0 && json_is_null(post))
			post = json_string(n->address);
		else if (strcmp(n->group, "post") != 0)
			json_array_append_new(cluster, json_string(n->address));
	}
	for (int i = 0; i < v->step_count; i++) {
		const struct store_oc_step *s = &v->steps[i];
		struct step_progress sp = {.nodes = json_array(), .wf = wf};
		int64_t end = s->finished_ms ? s->finished_ms : now;

		if (s->run_id[0] != '\0')
			store_task_foreach_run(wf->t->store, s->run_id, add_task_progress, &sp);
		json_array_append_new(steps, json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:o, s:s?, s:s?, s:I}",
			"dag", s->dag, "name", s->name, "state", s->state,
			"requires", step_requires_json(v, s),
			"attempts", (json_int_t)s->attempts,
			"progress", (json_int_t)(strcmp(s->state, "done") == 0 ? 100
						 : sp.count ? sp.sum / (int64_t)sp.count : 0),
			"nodes", sp.nodes, "error", s->error[0] ? s->error : NULL,
			"run_id", s->run_id[0] ? s->run_id : NULL,
			"elapsed_ms", (json_int_t)(s->started_ms ? end - s->started_ms : 0)));
	}
	store_oci_foreach(wf->t->store, v->oc.id, add_input, inputs);
	return json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:s, s:s?, s:I, s:I, s:o, s:o, s:o, s:o, s:o}",
			 "overcloud_id", v->oc.id, "status", v->oc.status,
			 "attaching", strcmp(v->oc.status, "ready") == 0 && attach_open(v),
			 "pattern", v->oc.pattern,
			 "provider", v->oc.provider, "number", (json_int_t)v->oc.number,
			 "size", v->oc.size, "error", v->oc.error[0] ? v->oc.error : NULL,
			 "created_at", (json_int_t)v->oc.created_at,
			 "updated_at", (json_int_t)v->oc.updated_at,
			 "devops_post", post, "logical_cluster", cluster, "nodes", nodes,
			 "steps", steps, "inputs", inputs);
}

json_t *workflow_overcloud_json(struct workflow *wf, const char *id)
{
	struct oc_view v;
	json_t *obj;

	if (view_load(wf, id, &v) != 0)
		return NULL;
	obj = overcloud_json(wf, &v);
	view_free(&v);
	return obj;
}

static int list_one(const struct store_overcloud *oc, void *arg)
{
	void **pass = arg;
	json_t *obj = workflow_overcloud_json(pass[0], oc->id);

	if (obj != NULL)
		json_array_append_new(pass[1], obj);
	return 0;
}

json_t *workflow_list_json(struct workflow *wf)
{
	json_t *arr = json_array();
	void *pass[2] = {wf, arr};

	store_oc_foreach(wf->t->store, list_one, pass);
	return arr;
}

json_t *workflow_runs_json(struct workflow *wf, const char *id)
{
	struct oc_view v;
	json_t *arr;

	if (view_load(wf, id, &v) != 0)
		return NULL;
	arr = json_array();
	for (int i = 0; i < v.step_count; i++)
		if (v.steps[i].run_id[0] != '\0')
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "dag", v.steps[i].dag,
							     "step", v.steps[i].name, "run_id",
							     v.steps[i].run_id));
	view_free(&v);
	return arr;
}

/* ---- life ---- */

static void find_agent_binary(char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	snprintf(out, size, "/usr/bin/overcloud-agent");
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	snprintf(out, size, "%s/overcloud-agent", exe);
	if (access(out, X_OK) != 0)
		snprintf(out, size, "/usr/bin/overcloud-agent");
}

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
	find_agent_binary(wf->agent_binary, sizeof(wf->agent_binary));
	if (patterns_dir != NULL) {
		wf->patterns = pattern_set_load(patterns_dir, t->roles, err, err_size);
		if (wf->patterns == NULL) {
			free(wf);
			return NULL;
		}
	}
	wf->jobs = jobs_new(t->base, PROVIDER_THREADS, err, err_size);
	if (wf->jobs == NULL) {
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
	wf->closing = true;
	jobs_free(wf->jobs);
	while (wf->calls != NULL)
		oc_calls_drop(wf, wf->calls->oc_id);
	for (size_t i = 0; i < wf->provider_count; i++)
		wf->providers[i].ops->close(wf->providers[i].ctx);
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
