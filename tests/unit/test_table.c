/* test_table.c — the CLI's plain-text tables (tower/cli/table.c): column widths,
 * alignment, missing cells, many rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shared/util.h"
#include "tower/cli/table.h"

/* What table_print wrote, as a heap string. */
static char *printed(const struct table *t, const char *indent)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_int_equal(table_print(t, out, indent), 0);
	assert_int_equal(fclose(out), 0);
	return text;
}

static void test_columns_fit_the_widest_cell(void **state)
{
	static const char *const headers[] = {"ID", "NAME", "STATE"};
	static const char *const short_row[] = {"n-1", "post-0", "connected"};
	static const char *const long_row[] = {"n-2", "oc-ea1c5efa-cluster-0", "gone"};
	struct table *t = table_new(3, headers);
	char *text;

	(void)state;
	assert_non_null(t);
	assert_int_equal(table_add(t, short_row), 0);
	assert_int_equal(table_add(t, long_row), 0);
	text = printed(t, NULL);
	assert_string_equal(text, "ID   NAME                   STATE\n"
				  "n-1  post-0                 connected\n"
				  "n-2  oc-ea1c5efa-cluster-0  gone\n");
	free(text);
	table_free(t);
}

static void test_right_alignment_indent_and_missing_cells(void **state)
{
	static const char *const headers[] = {"ID", "NUMBER", "POST"};
	static const char *const row1[] = {"oc-1", "3", NULL};
	static const char *const row2[] = {NULL, "120", "10.0.0.1"};
	struct table *t = table_new(3, headers);
	char *text;

	(void)state;
	assert_non_null(t);
	table_align_right(t, 1);
	table_align_right(t, 7);   /* no such column: ignored */
	assert_int_equal(table_add(t, row1), 0);
	assert_int_equal(table_add(t, row2), 0);
	text = printed(t, "  ");
	assert_string_equal(text, "  ID    NUMBER  POST\n"
				  "  oc-1       3  -\n"
				  "  -        120  10.0.0.1\n");
	free(text);
	table_free(t);
}

/* A node names itself: an agent must not reach the operator's terminal
 * with escape sequences through `tower nodes`. */
static void test_control_characters_masked(void **state)
{
	static const char *const headers[] = {"NAME", "STATE"};
	static const char *const row[] = {"pi\x1b]0;owned\x07-01\r\n", "ok\x7f"};
	struct table *t = table_new(2, headers);
	char *text;

	(void)state;
	assert_int_equal(table_add(t, row), 0);
	text = printed(t, NULL);
	assert_string_equal(text, "NAME               STATE\n"
				  "pi?]0;owned?-01??  ok?\n");
	free(text);
	table_free(t);
}

static void test_header_only_and_many_rows(void **state)
{
	static const char *const headers[] = {"N"};
	struct table *t = table_new(1, headers);
	char *text, cell[16], *expect;
	size_t at = 0;

	(void)state;
	assert_non_null(t);
	text = printed(t, NULL);
	assert_string_equal(text, "N\n");
	free(text);
	/* past the first allocation several times over */
	expect = malloc(8 * 1000);
	assert_non_null(expect);
	at += (size_t)sprintf(expect + at, "N\n");
	for (int i = 0; i < 1000; i++) {
		const char *row[] = {cell};

		snprintf(cell, sizeof(cell), "%d", i);
		assert_int_equal(table_add(t, row), 0);
		at += (size_t)sprintf(expect + at, "%s\n", cell);
	}
	text = printed(t, NULL);
	assert_string_equal(text, expect);
	free(text);
	free(expect);
	table_free(t);
}

/* A table that could not be made is carried through to table_print, which
 * prints nothing and says so. */
static void test_no_table_prints_nothing(void **state)
{
	static const char *const row[] = {"x"};
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	(void)state;
	assert_null(table_new(0, NULL));
	table_align_right(NULL, 0);
	assert_int_equal(table_add(NULL, row), -1);
	assert_int_equal(table_print(NULL, out, "  "), -1);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(len, 0);
	free(text);
	table_free(NULL);
}

/* tower nodes' MEM column */
static void test_format_bytes(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{0, "0B"}, {1023, "1023B"}, {1024, "1.0K"}, {1536, "1.5K"}, {10239, "10K"},
		{812ull << 20, "812M"}, {(uint64_t)(3.8 * (1ull << 30)), "3.8G"},
		{(10ull << 30) - 1, "10G"}, {12ull << 40, "12T"}, {UINT64_MAX, "16E"},
	};
	char out[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		table_format_bytes(cases[i].bytes, out, sizeof(out));
		assert_string_equal(out, cases[i].text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_columns_fit_the_widest_cell),
		cmocka_unit_test(test_right_alignment_indent_and_missing_cells),
		cmocka_unit_test(test_control_characters_masked),
		cmocka_unit_test(test_header_only_and_many_rows),
		cmocka_unit_test(test_no_table_prints_nothing),
		cmocka_unit_test(test_format_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
