/* test_worker.c — the agent's decision not to start a task the tower has
 * ended: judged on the tower's clock (from its welcome, carried forward by
 * the monotonic clock), never the node's; refused with a "timeout" result,
 * journaled so it never runs later; no deadline (an older tower) runs.
 * And when "task.accepted" goes: after a delay, before any output, never
 * after the result, not at all for a result that comes first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/worker.h"
#include "shared/msg.h"
#include "shared/util.h"

/* What the worker sent to the "tower". */
struct sent {
	int accepted;
	int done;
	char order[64];   /* a letter per message: a(ccepted) l(og) d(one) */
	char status[16];
	char reason[256];
};

static int fake_send(void *arg, const struct msg *m)
{
	struct sent *s = arg;

	size_t n = strlen(s->order);

	if (m->type == MSG_TASK_ACCEPTED)
		s->accepted++;
	if (n + 1 < sizeof(s->order) && (m->type == MSG_TASK_ACCEPTED || m->type == MSG_TASK_LOG))
		s->order[n] = m->type == MSG_TASK_ACCEPTED ? 'a' : 'l';
	return 0;
}

static int fake_send_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct sent *s = arg;
	struct msg m;
	char err[128];

	assert_true(len > 4);
	assert_int_equal(msg_decode(frame + 4, len - 4, &m, err, sizeof(err)), 0);
	if (m.type == MSG_TASK_DONE) {
		size_t n = strlen(s->order);

		if (n + 1 < sizeof(s->order))
			s->order[n] = 'd';
		s->done++;
		snprintf(s->status, sizeof(s->status), "%s", m.u.task_done.status);
		snprintf(s->reason, sizeof(s->reason), "%s", m.u.task_done.reason ?: "");
	}
	msg_clear(&m);
	return 0;
}

static size_t fake_pending(void *arg)
{
	(void)arg;
	return 0;
}

static void test_decision(void **state)
{
	const int64_t now = 1800000000000;

	(void)state;
	/* no deadline (a tower before them), or no welcome yet: it runs */
	assert_false(worker_task_expired(0, now, true));
	assert_false(worker_task_expired((uint64_t)now - 60000, 0, false));
	/* well before, and past */
	assert_false(worker_task_expired((uint64_t)now + 60000, now, true));
	assert_true(worker_task_expired((uint64_t)now - 1, now, true));
	assert_true(worker_task_expired((uint64_t)now - 3600000, now, true));
	/* within the slack before it: the tower's clock may be there already */
	assert_true(worker_task_expired((uint64_t)now + WORKER_DEADLINE_SLACK_MS - 1, now, true));
	assert_false(worker_task_expired((uint64_t)now + WORKER_DEADLINE_SLACK_MS + 1, now, true));
	/* a deadline no clock reaches is none */
	assert_false(worker_task_expired(UINT64_MAX, now, true));
}

static void test_worker_refuses_late_task(void **state)
{
	struct event_base *base = event_base_new();
	struct sent sent = {0};
	struct worker_link link = {fake_send, fake_send_frame, fake_pending, &sent};
	char dir[] = "/tmp/test_worker.XXXXXX", err[256] = "", marker[64];
	char *argv[] = {"sh", "-c", NULL};
	char cmd[128];
	struct worker *w;
	struct msg m = {.type = MSG_TASK};
	/* the tower's clock an hour behind this machine's: skew must not count */
	int64_t tower_s = util_now() - 3600;

	(void)state;
	assert_non_null(base);
	assert_non_null(mkdtemp(dir));
	snprintf(marker, sizeof(marker), "%s/ran", dir);
	snprintf(cmd, sizeof(cmd), "touch %s", marker);
	argv[2] = cmd;
	w = worker_new(base, dir, 2, &link, err, sizeof(err));
	assert_non_null(w);
	worker_tower_clock(w, tower_s);

	/* ended on the tower's clock 10 s ago (on this node's, an hour ahead) */
	m.u.task.id = "t-00000001";
	m.u.task.role = "exec";
	m.u.task.step = "run";
	m.u.task.argv.items = argv;
	m.u.task.argv.count = 3;
	m.u.task.timeout = 2;
	m.u.task.not_after_ms = (uint64_t)(tower_s - 10) * 1000;
	worker_handle(w, &m);
	assert_int_equal(sent.accepted, 0);
	assert_int_equal(sent.done, 1);
	assert_string_equal(sent.status, "timeout");
	assert_non_null(strstr(sent.reason, "not started"));
	assert_int_equal(worker_active(w), 0);
	/* sent again (a reconnect): the stored result, still not run */
	worker_handle(w, &m);
	assert_int_equal(sent.done, 2);
	assert_string_equal(sent.status, "timeout");
	assert_int_equal(worker_active(w), 0);

	/* a minute ahead on the tower's clock (an hour behind this node's):
	 * not refused as late (it fails for want of a command instead, so no
	 * process starts here) */
	m.u.task.id = "t-00000002";
	m.u.task.argv.count = 0;
	m.u.task.not_after_ms = (uint64_t)(tower_s + 60) * 1000;
	worker_handle(w, &m);
	/* its result came at once, and says it was taken: no "accepted" */
	assert_int_equal(sent.accepted, 0);
	assert_int_equal(sent.done, 3);
	assert_string_equal(sent.status, "failed");
	assert_string_equal(sent.reason, "task has no command");

	worker_free(w);
	event_base_free(base);
	assert_int_equal(access(marker, F_OK), -1);
	assert_int_equal(util_remove_tree(dir), 0);
}

/* Runs base until `done` results were sent (bounded: 20 s of loop turns). */
static void run_until_done(struct event_base *base, const struct sent *sent, int done)
{
	struct timeval tick = {0, 50000};

	for (int i = 0; i < 400 && sent->done < done; i++) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	assert_int_equal(sent->done, done);
}

static void test_worker_accepted_waits(void **state)
{
	struct event_base *base = event_base_new();
	struct sent sent = {0};
	struct worker_link link = {fake_send, fake_send_frame, fake_pending, &sent};
	char dir[] = "/tmp/test_worker.XXXXXX", err[256] = "";
	char *slow[] = {"sh", "-c", "sleep 1"};
	char *talks[] = {"sh", "-c", "echo hello; sleep 1"};
	struct msg m = {.type = MSG_TASK};
	struct worker *w;

	(void)state;
	assert_non_null(base);
	assert_non_null(mkdtemp(dir));
	w = worker_new(base, dir, 2, &link, err, sizeof(err));
	assert_non_null(w);
	m.u.task.role = "exec";
	m.u.task.step = "run";
	m.u.task.timeout = 30;

	/* silent and longer than the delay: "accepted" goes on its own, once,
	 * before the result */
	m.u.task.id = "t-slow";
	m.u.task.argv.items = slow;
	m.u.task.argv.count = 3;
	worker_handle(w, &m);
	assert_int_equal(sent.accepted, 0);   /* not at once */
	run_until_done(base, &sent, 1);
	assert_string_equal(sent.order, "ad");
	assert_string_equal(sent.status, "done");

	/* output sends it first, whatever the delay */
	memset(sent.order, 0, sizeof(sent.order));
	m.u.task.id = "t-talks";
	m.u.task.argv.items = talks;
	worker_handle(w, &m);
	run_until_done(base, &sent, 2);
	assert_int_equal(sent.accepted, 2);
	assert_int_equal(sent.order[0], 'a');
	assert_non_null(strchr(sent.order, 'l'));
	assert_int_equal(sent.order[strlen(sent.order) - 1], 'd');

	/* sent again after the result: the stored result, no "accepted" */
	worker_handle(w, &m);
	assert_int_equal(sent.accepted, 2);
	assert_int_equal(sent.done, 3);

	worker_free(w);
	event_base_free(base);
	assert_int_equal(util_remove_tree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decision),
		cmocka_unit_test(test_worker_refuses_late_task),
		cmocka_unit_test(test_worker_accepted_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
