/* test_jobs.c — the provider thread pool: every job's work runs once on a
 * pool thread, its result comes back once on the event loop, and jobs_free
 * hands back work that never started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "tower/engine/jobs.h"

#define JOB_COUNT 200

struct job_arg {
	int input;
	int output;
	pthread_t ran_on;
	int done_calls;
	bool ran;
	int *remaining;
	struct event_base *base;
};

static pthread_t loop_thread;

static void square(void *p)
{
	struct job_arg *a = p;

	a->ran_on = pthread_self();
	a->output = a->input * a->input;
}

static void collect(void *p, bool ran)
{
	struct job_arg *a = p;

	/* Results come back on the loop's thread, never on a pool thread. */
	assert_true(pthread_equal(pthread_self(), loop_thread));
	a->done_calls++;
	a->ran = ran;
	if (--*a->remaining == 0 && a->base != NULL)
		event_base_loopbreak(a->base);
}

static void test_results_come_back_on_the_loop(void **state)
{
	struct event_base *base = event_base_new();
	struct job_arg args[JOB_COUNT] = {0};
	int remaining = JOB_COUNT;
	char err[128];
	struct jobs *j = jobs_new(base, 4, err, sizeof(err));

	assert_non_null(j);
	loop_thread = pthread_self();
	for (int i = 0; i < JOB_COUNT; i++) {
		args[i].input = i;
		args[i].remaining = &remaining;
		args[i].base = base;
		assert_int_equal(jobs_submit(j, square, collect, &args[i]), 0);
	}
	assert_true(jobs_busy(j) > 0);
	/* Bounded: every result wakes the loop; a lost wake-up fails here. */
	for (int turns = 0; remaining > 0 && turns < 10000; turns++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(remaining, 0);
	assert_int_equal(jobs_busy(j), 0);
	for (int i = 0; i < JOB_COUNT; i++) {
		assert_int_equal(args[i].done_calls, 1);
		assert_true(args[i].ran);
		assert_int_equal(args[i].output, i * i);
		assert_false(pthread_equal(args[i].ran_on, loop_thread));
	}
	jobs_free(j);
	event_base_free(base);
}

static void slow(void *p)
{
	usleep(20000);
	square(p);
}

static void test_free_hands_back_everything(void **state)
{
	struct event_base *base = event_base_new();
	struct job_arg args[8] = {0};
	int remaining = 8;
	char err[128];
	struct jobs *j = jobs_new(base, 1, err, sizeof(err));
	int ran = 0, not_ran = 0;

	assert_non_null(j);
	loop_thread = pthread_self();
	for (int i = 0; i < 8; i++) {
		args[i].input = i;
		args[i].remaining = &remaining;
		assert_int_equal(jobs_submit(j, slow, collect, &args[i]), 0);
	}
	/* One thread, 20 ms each: most are still queued when we stop. */
	jobs_free(j);
	assert_int_equal(remaining, 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(args[i].done_calls, 1);
		if (args[i].ran) {
			ran++;
			assert_int_equal(args[i].output, i * i);
		} else {
			not_ran++;
			assert_int_equal(args[i].output, 0);
		}
	}
	assert_int_equal(ran + not_ran, 8);
	assert_true(not_ran > 0);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results_come_back_on_the_loop),
		cmocka_unit_test(test_free_hands_back_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
