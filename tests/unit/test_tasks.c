/* test_tasks.c — tasks against a real sqlite store and hub, with fake agents
 * over real TLS: a run is stored whole or not at all, tasks go out when
 * their node connects, a result is stored and acted on exactly once, no
 * state goes back, and the sweeper ends a task whose node never answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/fakes/fake_agent.h"
#include "tower/fleet/tasks.h"

#define EVENTS_MAX 64

struct fixture {
	struct fake_tower tower;
	struct tasks *tk;
	struct fake_agent a, b;
	int done_calls;
	char done_run[STORE_ID_MAX];
	enum tasks_event_kind events[EVENTS_MAX];
	char logged[256];
	size_t event_count;
	enum task_state last_task_state;
};

static const struct hub_events events = {
	.node_ready = tasks_on_node_ready,
	.task_msg = tasks_on_task_msg,
};

static void on_done(void *arg, const char *run_id)
{
	struct fixture *f = arg;

	f->done_calls++;
	snprintf(f->done_run, sizeof(f->done_run), "%s", run_id);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	assert_non_null(f);
	fake_tower_start(&f->tower);
	f->tk = tasks_new(f->tower.st, f->tower.hub, f->tower.dir, 1 << 20, err, sizeof(err));
	assert_non_null(f->tk);
	hub_set_events(f->tower.hub, &events, f->tk);
	tasks_set_done_hook(f->tk, on_done, f);
	fake_agent_enroll(&f->a, &f->tower);
	fake_agent_enroll(&f->b, &f->tower);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fake_agent_free(&f->a);
	fake_agent_free(&f->b);
	tasks_free(f->tk);
	fake_tower_stop(&f->tower);
	free(f);
	return 0;
}

static void on_event(void *arg, const struct tasks_event *ev)
{
	struct fixture *f = arg;

	if (f->event_count < EVENTS_MAX)
		f->events[f->event_count++] = ev->kind;
	if (ev->kind == TASKS_EVENT_LOG)
		snprintf(f->logged + strlen(f->logged), sizeof(f->logged) - strlen(f->logged),
			 "%.*s", (int)ev->text_len, ev->text);
	if (ev->kind == TASKS_EVENT_TASK)
		f->last_task_state = task_state_of(ev->task);
}

static size_t events_of(const struct fixture *f, enum tasks_event_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < f->event_count; i++)
		n += f->events[i] == kind;
	return n;
}

static enum task_state state_of(struct fixture *f, const char *task_id)
{
	struct store_task t;
	enum task_state s;

	assert_int_equal(store_task_get(f->tower.st, task_id, &t), 1);
	s = task_state_of(&t);
	store_task_clear(&t);
	return s;
}

static int count_task(const struct store_task *t, void *arg)
{
	(void)t;
	(*(size_t *)arg)++;
	return 0;
}

static size_t tasks_in_run(struct fixture *f, const char *run_id)
{
	size_t n = 0;

	assert_int_equal(store_task_foreach_run(f->tower.st, run_id, count_task, &n), 0);
	return n;
}

static const char *const exec_argv[] = {"/bin/echo", "hi"};
static const struct task_spec exec_spec = {.argv = (const char **)exec_argv, .argc = 2,
					   .timeout_s = 60};

static void create_run(struct fixture *f, const char *run_id, const char *node_id,
		       char (*task_id)[TASKS_ID_SIZE])
{
	const char *nodes[] = {node_id};
	char err[160];

	assert_int_equal(tasks_create_run(f->tk, run_id, nodes, 1, "exec", "run", &exec_spec,
					  task_id, err, sizeof(err)), 0);
}

struct got_wait {
	struct fake_agent *agent;
	enum msg_type type;
	const char *id;
	size_t count;
};

static bool got_enough(void *arg)
{
	struct got_wait *w = arg;

	return fake_agent_count(w->agent, w->type, w->id) >= w->count;
}

static void wait_for(struct fixture *f, struct fake_agent *agent, enum msg_type type,
		     const char *id, size_t count)
{
	struct got_wait w = {agent, type, id, count};

	assert_true(fake_wait(&f->tower, got_enough, &w));
}

static bool welcomed(void *arg)
{
	return ((struct fake_agent *)arg)->welcomed;
}

static void connect_agent(struct fixture *f, struct fake_agent *agent)
{
	fake_agent_connect(agent);
	assert_true(fake_wait(&f->tower, welcomed, agent));
}

static void send_done(struct fake_agent *agent, const char *task_id, const char *status,
		      int64_t exit_code)
{
	struct msg m = {.type = MSG_TASK_DONE};
	struct msg_kv out = {"answer", "42"};

	m.u.task_done.id = (char *)task_id;
	m.u.task_done.status = (char *)status;
	m.u.task_done.exit_code = exit_code;
	m.u.task_done.duration_ms = 5;
	m.u.task_done.outputs.items = &out;
	m.u.task_done.outputs.count = 1;
	fake_agent_send(agent, &m);
}

static void send_accepted(struct fake_agent *agent, const char *task_id)
{
	struct msg m = {.type = MSG_TASK_ACCEPTED};

	m.u.task_accepted.id = (char *)task_id;
	fake_agent_send(agent, &m);
}

static void test_create_run_stores_all_or_none(void **state)
{
	struct fixture *f = *state;
	const char *nodes[] = {f->a.node_id, f->b.node_id};
	const char *broken[] = {f->a.node_id, ""};
	char ids[2][TASKS_ID_SIZE], err[160] = "";
	struct store_task t;
	struct task_spec back;

	assert_int_equal(tasks_create_run(f->tk, "r-whole", nodes, 2, "exec", "run", &exec_spec,
					  ids, err, sizeof(err)), 0);
	assert_int_equal(tasks_in_run(f, "r-whole"), 2);
	/* no node connected: stored, not sent */
	assert_int_equal(state_of(f, ids[0]), TASK_PENDING);
	assert_int_equal(state_of(f, ids[1]), TASK_PENDING);
	assert_int_equal(store_task_get(f->tower.st, ids[1], &t), 1);
	assert_string_equal(t.node_id, f->b.node_id);
	assert_int_equal(task_spec_decode(t.spec, &back), 0);
	assert_int_equal(back.argc, 2);
	assert_string_equal(back.argv[1], "hi");
	assert_int_equal(back.timeout_s, 60);
	task_spec_clear(&back);
	store_task_clear(&t);
	/* the second insert fails: the first is rolled back with it */
	assert_int_equal(tasks_create_run(f->tk, "r-broken", broken, 2, "exec", "run", &exec_spec,
					  NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot store the tasks");
	assert_int_equal(tasks_in_run(f, "r-broken"), 0);
}

static void test_spec_column_round_trip(void **state)
{
	struct task_spec spec = {0}, back;
	char *text;

	(void)state;
	assert_int_equal(task_spec_add(&spec.argv, &spec.argc, "apply.sh"), 0);
	assert_int_equal(task_spec_add_env(&spec, "INPUT_TOKEN", "s3cret"), 0);
	assert_int_equal(task_spec_add(&spec.mask, &spec.mask_count, "s3cret"), 0);
	assert_int_equal(task_spec_add(&spec.outputs, &spec.output_count, "join"), 0);
	assert_int_equal(task_spec_add(&spec.secret_outputs, &spec.secret_output_count, "join"), 0);
	spec.timeout_s = 90;
	text = task_spec_encode(&spec);
	assert_non_null(text);
	assert_string_equal(text, "{\"argv\":[\"apply.sh\"],\"timeout\":90,"
			    "\"env\":{\"INPUT_TOKEN\":\"s3cret\"},\"mask\":[\"s3cret\"],"
			    "\"outputs\":[\"join\"],\"secret_outputs\":[\"join\"]}");
	assert_int_equal(task_spec_decode(text, &back), 0);
	assert_int_equal(back.env_count, 1);
	assert_string_equal(back.env[0].value, "s3cret");
	assert_int_equal(back.timeout_s, 90);
	assert_null(back.bundle_hash);
	task_spec_clear(&back);
	free(text);
	task_spec_clear(&spec);
	/* what is not a spec is refused; odd items read as empty strings */
	assert_int_equal(task_spec_decode("not json", &back), -1);
	assert_int_equal(task_spec_decode("[1]", &back), -1);
	assert_int_equal(task_spec_decode(NULL, &back), -1);
	assert_int_equal(task_spec_decode("{\"argv\":[1,\"x\"],\"env\":{\"A\":2}}", &back), 0);
	assert_int_equal(back.argc, 2);
	assert_string_equal(back.argv[0], "");
	assert_string_equal(back.env[0].value, "");
	task_spec_clear(&back);
}

static void test_tasks_go_out_when_node_connects(void **state)
{
	struct fixture *f = *state;
	char waiting[1][TASKS_ID_SIZE], direct[1][TASKS_ID_SIZE];

	create_run(f, "r-wait", f->a.node_id, waiting);
	assert_int_equal(state_of(f, waiting[0]), TASK_PENDING);
	connect_agent(f, &f->a);
	wait_for(f, &f->a, MSG_TASK, waiting[0], 1);
	assert_int_equal(state_of(f, waiting[0]), TASK_SENT);
	/* connected already: sent at once */
	create_run(f, "r-now", f->a.node_id, direct);
	assert_int_equal(state_of(f, direct[0]), TASK_SENT);
	wait_for(f, &f->a, MSG_TASK, direct[0], 1);
	/* another node's task stays where it is */
	assert_int_equal(fake_agent_count(&f->a, MSG_TASK, NULL), 2);
}

static void test_result_stored_exactly_once(void **state)
{
	struct fixture *f = *state;
	char id[1][TASKS_ID_SIZE];
	struct tasks_watch *w;
	struct store_task t;
	struct msg log = {.type = MSG_TASK_LOG};

	connect_agent(f, &f->a);
	create_run(f, "r-once", f->a.node_id, id);
	wait_for(f, &f->a, MSG_TASK, id[0], 1);
	assert_int_equal(tasks_watch_run(f->tk, "r-once", on_event, f, &w), 0);
	assert_non_null(w);
	send_accepted(&f->a, id[0]);
	log.u.task_log.id = id[0];
	log.u.task_log.stream = "stdout";
	log.u.task_log.seq = 1;
	log.u.task_log.data.data = (uint8_t *)"hello\n";
	log.u.task_log.data.len = 6;
	fake_agent_send(&f->a, &log);
	send_done(&f->a, id[0], "done", 0);
	wait_for(f, &f->a, MSG_TASK_ACK, id[0], 1);
	assert_int_equal(state_of(f, id[0]), TASK_DONE);
	assert_int_equal(f->done_calls, 1);
	assert_string_equal(f->done_run, "r-once");
	/* watchers heard it in order and the watch ended */
	assert_int_equal(events_of(f, TASKS_EVENT_LOG), 1);
	assert_string_equal(f->logged, "hello\n");
	assert_int_equal(events_of(f, TASKS_EVENT_END), 1);
	assert_int_equal(f->events[f->event_count - 1], TASKS_EVENT_END);
	assert_int_equal(f->last_task_state, TASK_DONE);
	/* the agent did not see the ack and sends the result again, changed:
	 * acked again, nothing else */
	send_done(&f->a, id[0], "failed", 3);
	wait_for(f, &f->a, MSG_TASK_ACK, id[0], 2);
	assert_int_equal(store_task_get(f->tower.st, id[0], &t), 1);
	assert_int_equal(task_state_of(&t), TASK_DONE);
	assert_int_equal(t.exit_code, 0);
	assert_string_equal(t.outputs, "{\"answer\":\"42\"}");
	store_task_clear(&t);
	assert_int_equal(f->done_calls, 1);
}

static void test_finished_task_never_moves_back(void **state)
{
	struct fixture *f = *state;
	char id[1][TASKS_ID_SIZE];
	struct store_task before, after;

	connect_agent(f, &f->a);
	create_run(f, "r-final", f->a.node_id, id);
	wait_for(f, &f->a, MSG_TASK, id[0], 1);
	send_done(&f->a, id[0], "failed", 2);
	wait_for(f, &f->a, MSG_TASK_ACK, id[0], 1);
	assert_int_equal(store_task_get(f->tower.st, id[0], &before), 1);
	/* failed -> running is refused; the repeated result after it is the
	 * point where the tower has handled both */
	send_accepted(&f->a, id[0]);
	send_done(&f->a, id[0], "done", 0);
	wait_for(f, &f->a, MSG_TASK_ACK, id[0], 2);
	assert_int_equal(store_task_get(f->tower.st, id[0], &after), 1);
	assert_int_equal(task_state_of(&after), TASK_FAILED);
	assert_int_equal(after.started_at, before.started_at);
	assert_int_equal(after.exit_code, 2);
	assert_int_equal(after.finished_ms, before.finished_ms);
	store_task_clear(&before);
	store_task_clear(&after);
	assert_int_equal(f->done_calls, 1);
	/* the state table the store's names come from */
	assert_true(task_state_final(TASK_CANCELLED));
	assert_false(task_state_final(TASK_RUNNING));
	assert_string_equal(task_state_name(TASK_TIMEOUT), "timeout");
}

static bool run_ended(void *arg)
{
	struct fixture *f = arg;

	return events_of(f, TASKS_EVENT_END) > 0;
}

static void test_sweeper_ends_task_of_silent_node(void **state)
{
	struct fixture *f = *state;
	struct tasks_watch *w;
	struct store_task t;
	char expect[160];

	/* a task made 10 minutes ago with a 1 s timeout, on a node that never
	 * connected */
	assert_int_equal(store_task_insert(f->tower.st, "t-silent", "r-silent", f->b.node_id,
					   "exec", "run", "{\"argv\":[\"true\"],\"timeout\":1}",
					   util_now_ms() - 600 * 1000), 0);
	assert_int_equal(tasks_watch_run(f->tk, "r-silent", on_event, f, &w), 0);
	assert_non_null(w);
	assert_int_equal(tasks_start_sweeper(f->tk, f->tower.base), 0);
	assert_true(fake_wait(&f->tower, run_ended, f));
	assert_int_equal(store_task_get(f->tower.st, "t-silent", &t), 1);
	assert_int_equal(task_state_of(&t), TASK_TIMEOUT);
	assert_int_equal(t.exit_code, -1);
	snprintf(expect, sizeof(expect), "no result from node %s within the 1s timeout",
		 f->b.node_id);
	assert_non_null(strstr(t.reason, expect));
	store_task_clear(&t);
	assert_int_equal(f->done_calls, 1);
	assert_int_equal(f->last_task_state, TASK_TIMEOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_run_stores_all_or_none, setup, teardown),
		cmocka_unit_test(test_spec_column_round_trip),
		cmocka_unit_test_setup_teardown(test_tasks_go_out_when_node_connects, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_result_stored_exactly_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_task_never_moves_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sweeper_ends_task_of_silent_node, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
