/* test_promtext.c — the Prometheus text writer (tower/metrics/promtext.c): label
 * escaping, HELP escaping, number forms, histograms. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "tower/metrics/promtext.h"

/* The buffer's text; freed with the next call. */
static const char *text_of(struct evbuffer *b)
{
	static char *last;
	size_t len = evbuffer_get_length(b);

	free(last);
	last = malloc(len + 1);
	evbuffer_remove(b, last, len);
	last[len] = '\0';
	return last;
}

static const char *escaped(const char *value)
{
	struct evbuffer *b = evbuffer_new();
	const char *s;

	promtext_escape_label(b, value);
	s = text_of(b);
	evbuffer_free(b);
	return s;
}

static void test_escape_label(void **state)
{
	assert_string_equal(escaped("plain"), "plain");
	assert_string_equal(escaped(""), "");
	assert_string_equal(escaped("a\\b"), "a\\\\b");
	assert_string_equal(escaped("say \"hi\""), "say \\\"hi\\\"");
	assert_string_equal(escaped("two\nlines"), "two\\nlines");
	assert_string_equal(escaped("\\\"\n"), "\\\\\\\"\\n");
	/* UTF-8 passes; a tab and other control bytes are valid UTF-8 too */
	assert_string_equal(escaped("n\xc3\xb8" "de\t1"), "n\xc3\xb8" "de\t1");
	assert_string_equal(escaped("\xe2\x82\xac \xf0\x9f\x90\xa7"), "\xe2\x82\xac \xf0\x9f\x90\xa7");
	/* not UTF-8: a lone continuation byte, a cut sequence, an overlong
	 * slash, a surrogate, over U+10FFFF, 0xff */
	assert_string_equal(escaped("a\x80z"), "a\xef\xbf\xbdz");
	assert_string_equal(escaped("a\xe2\x82"), "a\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(escaped("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(escaped("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(escaped("\xf4\x90\x80\x80"),
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(escaped("\xff"), "\xef\xbf\xbd");
}

static void test_family_and_samples(void **state)
{
	struct evbuffer *b = evbuffer_new();
	struct promtext_label l[] = {{"node", "n-1"}, {"name", "web \"1\"\\x\n"}};

	promtext_family(b, "x_bytes", "gauge", "Say \"bytes\" \\ and\nmore.");
	promtext_sample(b, "x_bytes", l, 2, 4096);
	promtext_sample(b, "x_bytes", NULL, 0, 0.42);
	promtext_sample(b, "x_bytes", l, 1, -3);
	promtext_sample(b, "x_bytes", NULL, 0, NAN);
	promtext_sample(b, "x_bytes", NULL, 0, INFINITY);
	promtext_sample(b, "x_bytes", NULL, 0, -INFINITY);
	promtext_sample(b, "x_bytes", NULL, 0, 1e20);
	promtext_sample(b, "x_bytes", NULL, 0, 1.0 / 3);
	assert_string_equal(text_of(b),
		"# HELP x_bytes Say \"bytes\" \\\\ and\\nmore.\n"
		"# TYPE x_bytes gauge\n"
		"x_bytes{node=\"n-1\",name=\"web \\\"1\\\"\\\\x\\n\"} 4096\n"
		"x_bytes 0.42\n"
		"x_bytes{node=\"n-1\"} -3\n"
		"x_bytes NaN\n"
		"x_bytes +Inf\n"
		"x_bytes -Inf\n"
		"x_bytes 1e+20\n"
		"x_bytes 0.3333333333333333\n");
	/* a NULL value is an empty label */
	l[1].value = NULL;
	promtext_sample(b, "y", l, 2, 1);
	assert_string_equal(text_of(b), "y{node=\"n-1\",name=\"\"} 1\n");
	evbuffer_free(b);
}

/* A label block written once reads as the same sample. */
static void test_label_block(void **state)
{
	struct promtext_label l[] = {{"node", "n-1"}, {"name", "a\"b\\c"}};
	struct evbuffer *b = evbuffer_new();
	char *block = promtext_label_block(l, 2), *none = promtext_label_block(NULL, 0);
	char direct[128];

	assert_string_equal(block, "{node=\"n-1\",name=\"a\\\"b\\\\c\"}");
	assert_string_equal(none, "");
	promtext_sample(b, "m", l, 2, 1.5);
	snprintf(direct, sizeof(direct), "%s", text_of(b));
	promtext_sample_block(b, "m", block, 1.5);
	assert_string_equal(text_of(b), direct);
	free(block);
	free(none);
	evbuffer_free(b);
}

static void test_histogram(void **state)
{
	static const double bounds[] = {0.1, 1, 10};
	uint64_t counts[4] = {0};
	struct promtext_histogram h = {bounds, 3, counts, 0, 0};
	struct promtext_label l = {"dag", "create"};
	struct evbuffer *b = evbuffer_new();

	promtext_observe(&h, 0.05);
	promtext_observe(&h, 0.1);   /* le is inclusive */
	promtext_observe(&h, 5);
	promtext_observe(&h, 500);
	assert_int_equal(h.count, 4);
	promtext_histogram(b, "t_seconds", &l, 1, &h);
	assert_string_equal(text_of(b),
		"t_seconds_bucket{dag=\"create\",le=\"0.1\"} 2\n"
		"t_seconds_bucket{dag=\"create\",le=\"1\"} 2\n"
		"t_seconds_bucket{dag=\"create\",le=\"10\"} 3\n"
		"t_seconds_bucket{dag=\"create\",le=\"+Inf\"} 4\n"
		"t_seconds_sum{dag=\"create\"} 505.15\n"
		"t_seconds_count{dag=\"create\"} 4\n");
	promtext_histogram(b, "u", NULL, 0, &h);
	assert_non_null(strstr(text_of(b), "u_bucket{le=\"+Inf\"} 4\nu_sum 505.15\nu_count 4\n"));
	evbuffer_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_label),
		cmocka_unit_test(test_family_and_samples),
		cmocka_unit_test(test_label_block),
		cmocka_unit_test(test_histogram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
