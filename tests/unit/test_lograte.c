/* test_lograte.c — the rate limit on log lines a peer can cause: the first
 * of an interval passes, the rest are counted and reported with the next. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "shared/lograte.h"

static void test_one_per_interval(void **state)
{
	struct lograte r = {0};
	uint64_t suppressed = 99;

	assert_true(lograte_allow(&r, &suppressed));
	assert_int_equal(suppressed, 0);
	for (int i = 0; i < 100000; i++)
		assert_false(lograte_allow(&r, &suppressed));
	assert_int_equal(r.suppressed, 100000);
}

static void test_count_comes_with_next_line(void **state)
{
	struct lograte r = {.interval_s = 1};
	uint64_t suppressed = 0;

	assert_true(lograte_allow(&r, &suppressed));
	assert_false(lograte_allow(&r, &suppressed));
	assert_false(lograte_allow(&r, &suppressed));
	/* As if the interval had passed. */
	r.window_start_ms -= 1000;
	assert_true(lograte_allow(&r, &suppressed));
	assert_int_equal(suppressed, 2);
	assert_int_equal(r.suppressed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_per_interval),
		cmocka_unit_test(test_count_comes_with_next_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
