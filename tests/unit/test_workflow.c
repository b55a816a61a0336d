/* test_workflow.c — the OverCloud engine on a real sqlite store with a fake
 * cloud: DAG order and parallel steps, retries with backoff, resume after a
 * crash, the skip rules, and watchers that hear what a fresh read shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "shared/util.h"
#include "tower/api/overcloud_json.h"
#include "tower/engine/role.h"
#include "tower/engine/workflow.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/fleet/hub.h"
#include "tower/fleet/tasks.h"
#include "tower/providers/provider.h"
#include "tower/store/store.h"
#include "store_target.h"
#include "tower/tower.h"

/* Waits are bounded: the engine's own timer (250 ms) wakes the loop. */
#define WAIT_DEADLINE_MS 20000

/* ---- a fake cloud: a node it makes "boots" and enrolls its join token,
 * the way the node's agent would. The hub records an enrollment on the
 * event loop, so the fake's call waits until the loop (cloud_serve, run by
 * every wait below) has recorded it: the node is enrolled before the call
 * comes back, as a fast agent's would be. ---- */

struct boot {
	const char *token, *name;
	int rc;
	bool done;
	struct boot *next;
};

static struct fake_cloud {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char arch[16];            /* what its nodes report */
	char fail_suffix[64];     /* it refuses to make the nodes named so at the end */
	int creates, destroys, node_seq, calls_out;
	struct boot *booting;     /* waiting for the loop */
} cloud = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

static int cloud_token;  /* the fake's context: it has no state of its own */

static void *fake_open(const struct provider_env *env, char *err, size_t err_size)
{
	(void)env, (void)err, (void)err_size;
	return &cloud_token;
}

static void fake_close(void *ctx)
{
	(void)ctx;
}

static bool name_fails(const char *name)
{
	size_t n = strlen(name), k = strlen(cloud.fail_suffix);

	return k > 0 && n >= k && strcmp(name + n - k, cloud.fail_suffix) == 0;
}

static int fake_create(void *ctx, const struct provider_node_request *req,
		       struct provider_node *out, char *err, size_t err_size)
{
	struct boot boot = {.token = req->join_token, .name = req->name};
	int rc = -1;

	(void)ctx;
	pthread_mutex_lock(&cloud.lock);
	cloud.creates++;
	cloud.calls_out++;
	if (name_fails(req->name)) {
		snprintf(err, err_size, "quota exceeded");
		goto out;
	}
	boot.next = cloud.booting;
	cloud.booting = &boot;
	pthread_cond_broadcast(&cloud.changed);   /* cloud_drain may wait for it */
	while (!boot.done)
		pthread_cond_wait(&cloud.changed, &cloud.lock);
	if (boot.rc != 0) {
		snprintf(err, err_size, "the node could not enroll");
		goto out;
	}
	snprintf(out->handle, sizeof(out->handle), "h-%s", req->name);
	snprintf(out->address, sizeof(out->address), "10.9.0.%d", cloud.node_seq);
	rc = 0;
out:
	cloud.calls_out--;
	pthread_cond_broadcast(&cloud.changed);
	pthread_mutex_unlock(&cloud.lock);
	return rc;
}

static struct env {
	char dir[PATH_MAX];
	char target[STORE_TARGET_MAX];
	char patterns_dir[PATH_MAX + 16];
	struct tower t;
} E;

/* On the event loop: records the enrollments of the nodes booting. */
static void cloud_serve(void)
{
	pthread_mutex_lock(&cloud.lock);
	for (struct boot *b = cloud.booting; b != NULL; b = b->next) {
		struct enroll_issue is = {0};
		char err[256];

		snprintf(is.node_id, sizeof(is.node_id), "n-%032x", ++cloud.node_seq);
		snprintf(is.serial, sizeof(is.serial), "%x", cloud.node_seq);
		b->rc = enroll_record(E.t.store, b->token, b->name, util_now(), &is, err, sizeof(err));
		if (b->rc == 0)
			b->rc = store_node_update_facts(E.t.store, is.node_id, b->name, cloud.arch,
							"linux", "6.1", 2, 1 << 30, util_now());
		b->done = true;
	}
	cloud.booting = NULL;
	pthread_cond_broadcast(&cloud.changed);
	pthread_mutex_unlock(&cloud.lock);
}

/* Serves the nodes booting until no call of the fake is out. Only when no
 * call is still to start: one that starts later would wait for ever. */
static void cloud_drain(void)
{
	pthread_mutex_lock(&cloud.lock);
	while (cloud.calls_out > 0) {
		pthread_mutex_unlock(&cloud.lock);
		cloud_serve();
		pthread_mutex_lock(&cloud.lock);
		if (cloud.calls_out > 0 && cloud.booting == NULL)
			pthread_cond_wait(&cloud.changed, &cloud.lock);
	}
	pthread_mutex_unlock(&cloud.lock);
}

static int fake_destroy(void *ctx, const char *overcloud_id, const struct provider_node *node,
			char *err, size_t err_size)
{
	(void)ctx, (void)overcloud_id, (void)node, (void)err, (void)err_size;
	pthread_mutex_lock(&cloud.lock);
	cloud.destroys++;
	pthread_mutex_unlock(&cloud.lock);
	return 0;
}

static const struct provider_ops fake_provider = {
	.name = "fake",
	.open = fake_open,
	.close = fake_close,
	.create_node = fake_create,
	.destroy_node = fake_destroy,
};

/* ---- the tower around the engine ---- */

static const char *const patterns[][2] = {
	{"dag.yaml",
	 "groups:\n"
	 "  cluster: {count: number, role: server}\n"
	 "create:\n"
	 "  - {name: acquire, action: acquire}\n"
	 "  - {name: a, role: server, on: cluster, requires: [acquire], retries: 0}\n"
	 "  - {name: b, role: server, on: cluster, requires: [acquire], retries: 0}\n"
	 "  - {name: c, role: server, on: cluster, requires: [a, b], retries: 0}\n"
	 "destroy:\n"
	 "  - {name: release, action: release}\n"},
	{"retry.yaml",
	 "groups:\n"
	 "  cluster: {count: number, role: server}\n"
	 "create:\n"
	 "  - {name: acquire, action: acquire}\n"
	 "  - {name: flaky, role: server, on: cluster, requires: [acquire], retries: 1}\n"
	 "destroy:\n"
	 "  - {name: release, action: release}\n"},
	{"skips.yaml",
	 "groups:\n"
	 "  cluster: {count: number, role: server}\n"
	 "create:\n"
	 "  - {name: acquire, action: acquire}\n"
	 "  - {name: arm-only, role: server, on: cluster, requires: [acquire], archs: [aarch64]}\n"
	 "  - {name: breaks, role: server, on: cluster, requires: [acquire], retries: 0}\n"
	 "  - {name: after, role: server, on: cluster, requires: [breaks]}\n"
	 "destroy:\n"
	 "  - {name: teardown, role: server, step: remove, on: cluster, retries: 0}\n"
	 "  - {name: release, action: release, requires: [teardown]}\n"},
	{"badarch.yaml",
	 "groups:\n"
	 "  cluster: {count: number, role: armonly}\n"
	 "create:\n"
	 "  - {name: acquire, action: acquire}\n"
	 "  - {name: arm, role: armonly, on: cluster, requires: [acquire]}\n"
	 "destroy:\n"
	 "  - {name: release, action: release}\n"},
};

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void start_workflow(void)
{
	char err[512];

	E.t.workflow = workflow_new(&E.t, E.patterns_dir, err, sizeof(err));
	if (E.t.workflow == NULL)
		fail_msg("workflow_new: %s", err);
	tasks_set_done_hook(E.t.tasks, workflow_on_run_done, E.t.workflow);
}

/* A crash, as far as the engine's memory goes: everything in it is gone. */
static void stop_workflow(void)
{
	cloud_drain();   /* workflow_free waits for the calls out */
	tasks_set_done_hook(E.t.tasks, NULL, NULL);
	workflow_free(E.t.workflow);
	E.t.workflow = NULL;
}

static int setup(void **state)
{
	char err[512], roles[PATH_MAX];
	const char *src = getenv("OC_SRC");

	(void)state;
	memset(&E, 0, sizeof(E));
	snprintf(E.dir, sizeof(E.dir), "/tmp/oc-test-workflow.XXXXXX");
	assert_non_null(mkdtemp(E.dir));
	snprintf(E.patterns_dir, sizeof(E.patterns_dir), "%s/patterns", E.dir);
	assert_int_equal(mkdir(E.patterns_dir, 0700), 0);
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		write_file(E.patterns_dir, patterns[i][0], patterns[i][1]);
	snprintf(E.t.state_dir, sizeof(E.t.state_dir), "%s", E.dir);
	snprintf(E.t.join_host, sizeof(E.t.join_host), "127.0.0.1");
	snprintf(cloud.arch, sizeof(cloud.arch), "x86_64");
	cloud.fail_suffix[0] = '\0';
	cloud.creates = cloud.destroys = 0;
	E.t.base = event_base_new();
	assert_non_null(E.t.base);
	assert_int_equal(store_target_make(E.dir, "tower.db", E.target, sizeof(E.target)), 0);
	E.t.store = store_open(E.target, err, sizeof(err));
	if (E.t.store == NULL)
		fail_msg("store_open: %s", err);
	E.t.ca = ca_open(E.dir, NULL, 0, err, sizeof(err));
	if (E.t.ca == NULL)
		fail_msg("ca_open: %s", err);
	E.t.hub = hub_new(E.t.base, E.t.store, E.t.ca, 30, 3600, err, sizeof(err));
	if (E.t.hub == NULL)
		fail_msg("hub_new: %s", err);
	E.t.tasks = tasks_new(E.t.store, E.t.hub, E.dir, TASKS_LOG_CAP_DEFAULT, err, sizeof(err));
	if (E.t.tasks == NULL)
		fail_msg("tasks_new: %s", err);
	snprintf(roles, sizeof(roles), "%s/tests/unit/fixtures/patterns/roles", src ? src : ".");
	E.t.roles = role_set_load(roles, err, sizeof(err));
	if (E.t.roles == NULL)
		fail_msg("roles: %s", err);
	tasks_set_roles(E.t.tasks, E.t.roles);
	start_workflow();
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	if (E.t.workflow != NULL)
		stop_workflow();
	tasks_free(E.t.tasks);
	role_set_free(E.t.roles);
	hub_free(E.t.hub);
	ca_free(E.t.ca);
	store_close(E.t.store);
	store_target_drop(E.target);
	event_base_free(E.t.base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- driving it ---- */

static void create(const char *pattern, int64_t number, char *id)
{
	struct workflow_part part = {.provider = "fake", .number = number, .post = true};
	char err[512];

	if (workflow_create(E.t.workflow, pattern, &part, 1, NULL, 0, id, err, sizeof(err)) != 0)
		fail_msg("workflow_create: %s", err);
}

static bool get_step(const char *id, const char *dag, const char *name, struct store_oc_step *out)
{
	struct store_oc_step steps[32];
	int n = store_ocs_list(E.t.store, id, steps, 32);

	for (int i = 0; i < n; i++)
		if (strcmp(steps[i].dag, dag) == 0 && strcmp(steps[i].name, name) == 0) {
			*out = steps[i];
			return true;
		}
	return false;
}

static const char *step_state(const char *id, const char *name)
{
	static struct store_oc_step s;

	if (!get_step(id, "create", name, &s) && !get_step(id, "destroy", name, &s))
		return "absent";
	return s.state;
}

static const char *oc_status(const char *id)
{
	static struct store_overcloud oc;

	if (store_oc_get(E.t.store, id, &oc) != 1)
		return "absent";
	return oc.status;
}

/* Runs the event loop until the step (of create, else destroy) is in state. */
static void wait_step(const char *id, const char *name, const char *state)
{
	int64_t deadline = util_now_ms() + WAIT_DEADLINE_MS;

	while (strcmp(step_state(id, name), state) != 0) {
		if (util_now_ms() > deadline)
			fail_msg("step %s: %s, waited for %s", name, step_state(id, name), state);
		cloud_serve();
		event_base_loop(E.t.base, EVLOOP_ONCE);
	}
}

static void wait_status(const char *id, const char *status)
{
	int64_t deadline = util_now_ms() + WAIT_DEADLINE_MS;

	while (strcmp(oc_status(id), status) != 0) {
		if (util_now_ms() > deadline)
			fail_msg("overcloud: %s, waited for %s", oc_status(id), status);
		cloud_serve();
		event_base_loop(E.t.base, EVLOOP_ONCE);
	}
}

struct run_ids {
	char ids[16][STORE_ID_MAX];
	int count, open;
};

static int collect(const struct store_task *t, void *arg)
{
	struct run_ids *r = arg;

	if (r->count < 16 && strcmp(t->state, "done") != 0 && strcmp(t->state, "failed") != 0) {
		snprintf(r->ids[r->count++], STORE_ID_MAX, "%s", t->id);
		r->open++;
	}
	return 0;
}

static int count_tasks(const char *run_id)
{
	struct run_ids r = {0};

	store_task_foreach_run(E.t.store, run_id, collect, &r);
	return r.count;
}

static int count_all(const struct store_task *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

/* What the agents would report: every open task of the step's run ends in
 * state, and the tasks module tells the engine (its done hook). */
static void finish_step_tasks(const char *id, const char *dag, const char *name, const char *state)
{
	struct store_oc_step s;
	struct run_ids r = {0};

	assert_true(get_step(id, dag, name, &s));
	assert_string_equal(s.state, "running");
	assert_true(s.run_id[0] != '\0');
	store_task_foreach_run(E.t.store, s.run_id, collect, &r);
	assert_true(r.count > 0);
	for (int i = 0; i < r.count; i++)
		assert_int_equal(store_task_finish(E.t.store, r.ids[i], state,
						   strcmp(state, "done") == 0 ? 0 : 1, 5,
						   strcmp(state, "done") == 0 ? "" : "exit 1", "{}",
						   util_now_ms()),
				 1);
	workflow_on_run_done(E.t.workflow, s.run_id);
}

static int booting_count(void)
{
	int n = 0;

	pthread_mutex_lock(&cloud.lock);
	for (struct boot *b = cloud.booting; b != NULL; b = b->next)
		n++;
	pthread_mutex_unlock(&cloud.lock);
	return n;
}

/* Runs the loop (without letting nodes enroll) until count calls of the
 * fake are making a node. */
static void wait_booting(int count)
{
	int64_t deadline = util_now_ms() + WAIT_DEADLINE_MS;

	while (booting_count() < count) {
		if (util_now_ms() > deadline)
			fail_msg("%d node(s) booting, waited for %d", booting_count(), count);
		event_base_loop(E.t.base, EVLOOP_ONCE);
	}
}

/* ---- watchers hear what a fresh read shows ---- */

struct watcher {
	int events, ends;
	json_t *last;
	int mismatches;
};

static void on_event(void *arg, enum workflow_event ev, const struct workflow_overcloud *oc)
{
	struct watcher *w = arg;
	struct workflow_overcloud *fresh = workflow_overcloud_get(E.t.workflow, oc->id);
	json_t *heard = overcloud_json(oc, 1), *read;

	assert_non_null(fresh);
	read = overcloud_json(fresh, 1);
	if (!json_equal(heard, read)) {
		char *a = json_dumps(heard, JSON_COMPACT), *b = json_dumps(read, JSON_COMPACT);
		fprintf(stderr, "heard %s\nread  %s\n", a, b);
		free(a);
		free(b);
		w->mismatches++;
	}
	json_decref(read);
	workflow_overcloud_free(fresh);
	json_decref(w->last);
	w->last = heard;
	if (ev == WORKFLOW_EVENT_END)
		w->ends++;
	else
		w->events++;
}

static void set_run_progress(const char *run_id, int64_t percent)
{
	struct run_ids r = {0};

	store_task_foreach_run(E.t.store, run_id, collect, &r);
	for (int i = 0; i < r.count; i++)
		assert_int_equal(store_task_progress(E.t.store, r.ids[i], percent, "working"), 0);
}

/* The progress of a step in the object the watcher heard last. */
static int64_t heard_step_progress(const struct watcher *w, const char *name)
{
	size_t i;
	json_t *s;

	json_array_foreach(json_object_get(w->last, "steps"), i, s)
		if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
			return json_integer_value(json_object_get(s, "progress"));
	return -1;
}

/* ---- the tests ---- */

/* A step starts only when what it requires is done; a and b, which need
 * only acquire, run at once; c waits for both. */
static void test_dag_order(void **state)
{
	char id[64];
	struct store_oc_step a, b, c;
	struct watcher w = {0};
	struct workflow_watch *watch;

	(void)state;
	create("dag", 2, id);
	assert_int_equal(workflow_watch(E.t.workflow, id, on_event, &w, &watch), 0);
	assert_non_null(watch);
	wait_step(id, "a", "running");
	wait_step(id, "b", "running");
	assert_true(get_step(id, "create", "c", &c));
	assert_string_equal(c.state, "pending");
	assert_int_equal(cloud.creates, 2);
	assert_true(get_step(id, "create", "a", &a));
	assert_true(get_step(id, "create", "b", &b));
	assert_int_equal(count_tasks(a.run_id), 2);   /* one per node of the group */
	assert_int_equal(count_tasks(b.run_id), 2);

	/* a's agents report progress; the watcher hears it with b's end. */
	set_run_progress(a.run_id, 40);
	finish_step_tasks(id, "create", "b", "done");
	assert_string_equal(step_state(id, "b"), "done");
	assert_string_equal(step_state(id, "a"), "running");
	assert_string_equal(step_state(id, "c"), "pending");  /* a is not done yet */
	assert_int_equal(heard_step_progress(&w, "a"), 40);
	finish_step_tasks(id, "create", "a", "done");
	wait_step(id, "c", "running");
	assert_true(get_step(id, "create", "c", &c));
	assert_true(get_step(id, "create", "a", &a));
	assert_true(c.started_ms >= a.finished_ms);
	finish_step_tasks(id, "create", "c", "done");
	wait_status(id, "ready");

	assert_int_equal(w.ends, 1);
	assert_true(w.events >= 4);
	assert_int_equal(w.mismatches, 0);
	assert_string_equal(json_string_value(json_object_get(w.last, "status")), "ready");
	json_decref(w.last);

	/* Destroy gives the nodes back. */
	assert_int_equal(workflow_delete(E.t.workflow, id, NULL, 0), 0);
	wait_status(id, "deleted");
	assert_int_equal(cloud.destroys, 2);
}

/* A failing step is retried after a backoff, up to its retries; then the
 * OverCloud fails with the step's reason. */
static void test_retries(void **state)
{
	char id[64];
	struct store_oc_step s;
	int64_t failed_at;
	int tasks = 0;
	struct watcher w = {0};
	struct workflow_watch *watch;

	(void)state;
	create("retry", 1, id);
	assert_int_equal(workflow_watch(E.t.workflow, id, on_event, &w, &watch), 0);
	wait_step(id, "flaky", "running");
	failed_at = util_now_ms();
	finish_step_tasks(id, "create", "flaky", "failed");
	assert_true(get_step(id, "create", "flaky", &s));
	assert_string_equal(s.state, "pending");
	assert_int_equal(s.attempts, 1);
	assert_non_null(strstr(s.error, "failed"));
	assert_true(s.retry_at_ms >= failed_at + 1000);   /* the first backoff */
	assert_string_equal(oc_status(id), "creating");

	wait_step(id, "flaky", "running");
	assert_true(get_step(id, "create", "flaky", &s));
	assert_int_equal(s.attempts, 2);
	assert_true(s.started_ms >= failed_at + 1000);
	finish_step_tasks(id, "create", "flaky", "failed");
	wait_status(id, "failed");
	assert_true(get_step(id, "create", "flaky", &s));
	assert_string_equal(s.state, "failed");
	assert_int_equal(s.attempts, 2);
	/* The retry reused the run: one task per attempt on the one node. */
	store_task_foreach_run(E.t.store, s.run_id, count_all, &tasks);
	assert_int_equal(tasks, 2);
	assert_int_equal(w.ends, 1);
	assert_int_equal(w.mismatches, 0);
	assert_non_null(strstr(json_string_value(json_object_get(w.last, "error")), "step flaky"));
	json_decref(w.last);
}

/* The engine goes away with a (made) run out; a new one on the same store
 * goes on from there: nothing made or run twice. */
static void test_resume(void **state)
{
	char id[64];
	struct store_oc_step a, b, c;
	int tasks_a = 0, tasks_b = 0;

	(void)state;
	create("dag", 2, id);
	wait_step(id, "a", "running");
	wait_step(id, "b", "running");
	finish_step_tasks(id, "create", "a", "done");
	assert_true(get_step(id, "create", "b", &b));

	stop_workflow();
	/* While it was down, b's tasks ended (the agents kept going). */
	{
		struct run_ids r = {0};
		store_task_foreach_run(E.t.store, b.run_id, collect, &r);
		for (int i = 0; i < r.count; i++)
			assert_int_equal(store_task_finish(E.t.store, r.ids[i], "done", 0, 5, "", "{}",
							   util_now_ms()),
					 1);
	}
	start_workflow();

	wait_step(id, "c", "running");
	finish_step_tasks(id, "create", "c", "done");
	wait_status(id, "ready");
	assert_int_equal(cloud.creates, 2);
	assert_true(get_step(id, "create", "a", &a));
	assert_true(get_step(id, "create", "b", &b));
	assert_true(get_step(id, "create", "c", &c));
	assert_int_equal(a.attempts, 1);
	assert_int_equal(b.attempts, 1);
	assert_int_equal(c.attempts, 1);
	store_task_foreach_run(E.t.store, a.run_id, count_all, &tasks_a);
	store_task_foreach_run(E.t.store, b.run_id, count_all, &tasks_b);
	assert_int_equal(tasks_a, 2);
	assert_int_equal(tasks_b, 2);
}

/* A crash while the nodes are being made: the new engine finishes the
 * acquire without making the made nodes again. */
static void test_resume_acquire(void **state)
{
	char id[64];

	(void)state;
	create("dag", 3, id);
	wait_booting(3);   /* the cloud is making all three */
	stop_workflow();   /* waits for the calls out; their results are kept */
	start_workflow();
	wait_step(id, "a", "running");
	assert_string_equal(step_state(id, "acquire"), "done");
	assert_int_equal(cloud.creates, 3);
}

/* The skip rules: a step whose archs none of its nodes has is done at
 * once; a failed step skips what requires it; destroy is best effort and
 * runs past a failure; a destroy step with no node to run on is done. */
static void test_skips(void **state)
{
	char id[64];
	struct store_oc_step s;
	struct watcher w = {0};
	struct workflow_watch *watch;

	(void)state;
	create("skips", 2, id);
	wait_step(id, "breaks", "running");
	assert_true(get_step(id, "create", "arm-only", &s));
	assert_string_equal(s.state, "done");          /* its nodes are x86_64 */
	assert_string_equal(s.run_id[0] ? "run" : "", "run");
	assert_int_equal(count_tasks(s.run_id), 0);
	finish_step_tasks(id, "create", "breaks", "failed");
	wait_status(id, "failed");
	assert_true(get_step(id, "create", "after", &s));
	assert_string_equal(s.state, "skipped");
	assert_string_equal(s.error, "a step it requires did not finish");
	assert_int_equal(s.attempts, 0);

	assert_int_equal(workflow_watch(E.t.workflow, id, on_event, &w, &watch), 0);
	assert_null(watch);                 /* failed: settled, replayed and ended */
	assert_int_equal(w.ends, 1);
	json_decref(w.last);
	memset(&w, 0, sizeof(w));

	assert_int_equal(workflow_delete(E.t.workflow, id, NULL, 0), 0);
	assert_int_equal(workflow_watch(E.t.workflow, id, on_event, &w, &watch), 0);
	wait_step(id, "teardown", "running");
	finish_step_tasks(id, "destroy", "teardown", "failed");
	wait_status(id, "deleted");         /* the release ran anyway */
	assert_string_equal(step_state(id, "release"), "done");
	assert_int_equal(cloud.destroys, 2);
	assert_int_equal(w.ends, 1);
	assert_int_equal(w.mismatches, 0);
	json_decref(w.last);
}

/* Nodes that were never made: the create fails with the cloud's reason and
 * skips the rest; the destroy's role step has no node to run on and is done
 * at once. */
static void test_absent_nodes(void **state)
{
	char id[64];
	struct store_oc_step s;

	(void)state;
	snprintf(cloud.fail_suffix, sizeof(cloud.fail_suffix), "-cluster-0");
	create("skips", 1, id);
	wait_status(id, "failed");
	assert_true(get_step(id, "create", "acquire", &s));
	assert_string_equal(s.state, "failed");
	assert_non_null(strstr(s.error, "-cluster-0: quota exceeded"));
	assert_string_equal(step_state(id, "breaks"), "skipped");
	assert_string_equal(step_state(id, "arm-only"), "skipped");
	assert_string_equal(step_state(id, "after"), "skipped");

	assert_int_equal(workflow_delete(E.t.workflow, id, NULL, 0), 0);
	wait_status(id, "deleted");
	assert_true(get_step(id, "destroy", "teardown", &s));
	assert_string_equal(s.state, "done");
	assert_int_equal(count_tasks(s.run_id), 0);
	/* Asked anyway: a refused call may still have left something (the
	 * provider's destroy is idempotent). */
	assert_int_equal(cloud.destroys, 1);
}

/* A role that cannot run on its nodes' arch (and a step that does not
 * narrow its archs) fails, saying so. */
static void test_arch_refused(void **state)
{
	char id[64];
	struct store_oc_step s;

	(void)state;
	create("badarch", 1, id);
	wait_status(id, "failed");
	assert_true(get_step(id, "create", "arm", &s));
	assert_string_equal(s.state, "failed");
	assert_non_null(strstr(s.error, "role armonly runs on armv7 only"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dag_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_acquire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arch_refused, setup, teardown),
	};

	if (provider_register(&fake_provider) != 0 || provider_register(&fake_provider) == 0)
		return 1;   /* registered once; a taken name is refused */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
