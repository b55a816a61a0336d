/* test_cli_args.c — the CLI's one argument parser (tower/cli/args.c) against
 * declared specs, and every declared command's spec and help (commands.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tower/cli/args.h"
#include "tower/cli/cli.h"

/* A spec with every kind of option: flags with letters (clustered), a
 * value with a letter, long-only values, one repeatable. */
static const struct cli_option test_options[] = {
	{"all", 'a', NULL, false, "a flag with a letter"},
	{"detach", 'd', NULL, false, "another"},
	{"file", 'f', "FILE", false, "a value with a letter"},
	{"timeout", 0, "DUR", false, "a long-only value"},
	{"ttl", 0, "DUR", false, "shares a prefix with timeout"},
	{"input", 0, "NAME=VALUE", true, "repeatable"},
	{NULL, 0, NULL, false, NULL},
};
static const struct cli_spec test_spec = {test_options, 1, 3};

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

/* Parses words against spec + the shared options and expects status;
 * returns the parse (OK) or NULL, err holds the reason. */
static struct cli_args *parse(const struct cli_spec *spec, int argc, char **argv, unsigned flags,
			      enum cli_args_status expect, char *err, size_t err_size)
{
	struct cli_args *a = NULL;

	assert_int_equal(cli_args_parse(spec, cli_shared_options, argc, argv, flags, &a, err,
					err_size),
			 expect);
	if (expect == CLI_ARGS_OK)
		assert_non_null(a);
	else
		assert_null(a);
	return a;
}

static struct cli_args *parse_ok(char **argv, int argc)
{
	char err[128];

	return parse(&test_spec, argc, argv, 0, CLI_ARGS_OK, err, sizeof(err));
}

/* The one-line reason a bad argv gets. */
static void expect_error(const struct cli_spec *spec, char **argv, int argc,
			 enum cli_args_status status, const char *reason)
{
	char err[128];

	parse(spec, argc, argv, 0, status, err, sizeof(err));
	assert_string_equal(err, reason);
}

static void test_long_forms(void **state)
{
	char **v = ARGV("--timeout", "30s", "pos", "--ttl=1h", "--all", "--file=a=b");
	struct cli_args *a = parse_ok(v, 6);

	(void)state;
	assert_string_equal(cli_args_get(a, "timeout"), "30s");
	assert_string_equal(cli_args_get(a, "ttl"), "1h");
	assert_string_equal(cli_args_get(a, "file"), "a=b");
	assert_true(cli_args_has(a, "all"));
	assert_null(cli_args_get(a, "all"));
	assert_false(cli_args_has(a, "detach"));
	assert_null(cli_args_get(a, "input"));
	assert_int_equal(cli_args_count(a), 1);
	assert_string_equal(cli_args_arg(a, 0), "pos");
	assert_null(cli_args_arg(a, 1));
	cli_args_free(a);
}

static void test_short_forms_and_clusters(void **state)
{
	char **v = ARGV("-ad", "-f", "one", "p1", "-ftwo", "-dfthree", "-o", "json", "-ojson");
	struct cli_args *a = parse_ok(v, 9);

	(void)state;
	assert_true(cli_args_has(a, "all"));
	assert_true(cli_args_has(a, "detach"));
	/* the last of a non-repeatable option wins, as getopt leaves it */
	assert_string_equal(cli_args_get(a, "file"), "three");
	assert_string_equal(cli_args_get(a, "output"), "json");
	assert_int_equal(cli_args_count(a), 1);
	cli_args_free(a);
}

static void test_repeated_options_in_order(void **state)
{
	char **v = ARGV("--input", "a=1", "p", "--input=b=2", "--file", "x", "--input", "a=3");
	struct cli_args *a = parse_ok(v, 8);
	size_t cursor = 0;

	(void)state;
	assert_string_equal(cli_args_next(a, "input", &cursor), "a=1");
	assert_string_equal(cli_args_next(a, "input", &cursor), "b=2");
	assert_string_equal(cli_args_next(a, "input", &cursor), "a=3");
	assert_null(cli_args_next(a, "input", &cursor));
	assert_null(cli_args_next(a, "input", &cursor));
	cursor = 0;
	assert_string_equal(cli_args_next(a, "file", &cursor), "x");
	assert_null(cli_args_next(a, "file", &cursor));
	cursor = 0;
	assert_null(cli_args_next(a, "ttl", &cursor));
	assert_string_equal(cli_args_get(a, "input"), "a=3");
	cli_args_free(a);
}

/* `tower run NODE --timeout 2s -o json -- sh -c '...' --all`: options may
 * follow NODE; after "--" every word is the command's, dashes and all. */
static void test_double_dash_ends_options(void **state)
{
	char **v = ARGV("n-1", "--timeout", "2s", "-o", "json", "--", "sh", "-c", "echo --all",
			"--help", "--", "-");
	char err[128];
	struct cli_args *a = parse(&cli_run_entry.args, 12, v, 0, CLI_ARGS_OK, err, sizeof(err));
	char **rest;

	(void)state;
	assert_string_equal(cli_args_get(a, "timeout"), "2s");
	assert_string_equal(cli_args_get(a, "output"), "json");
	assert_false(cli_args_has(a, "all"));
	assert_int_equal(cli_args_count(a), 7);
	assert_string_equal(cli_args_arg(a, 0), "n-1");
	assert_string_equal(cli_args_arg(a, 3), "echo --all");
	assert_string_equal(cli_args_arg(a, 4), "--help");
	assert_string_equal(cli_args_arg(a, 5), "--");
	assert_string_equal(cli_args_arg(a, 6), "-");
	rest = cli_args_argv(a, 1);
	assert_string_equal(rest[0], "sh");
	assert_null(rest[6]);
	assert_null(cli_args_argv(a, 99)[0]);
	cli_args_free(a);
}

/* `tower --state DIR nodes -o json`: the words before the command only. */
static void test_stop_at_first_positional(void **state)
{
	static const struct cli_spec any = {NULL, 0, -1};
	char **v = ARGV("--state", "/x", "nodes", "-o", "json", "--state", "/y");
	char err[128];
	struct cli_args *a = parse(&any, 7, v, CLI_ARGS_STOP_AT_POSITIONAL, CLI_ARGS_OK, err,
				   sizeof(err));

	(void)state;
	assert_string_equal(cli_args_get(a, "state"), "/x");
	assert_false(cli_args_has(a, "output"));
	assert_int_equal(cli_args_count(a), 5);
	assert_string_equal(cli_args_arg(a, 1), "-o");
	cli_args_free(a);
}

/* One bad argv against test_spec and the one-line reason it gets. */
struct bad_case {
	int argc;
	char *argv[4];
	const char *reason;
};

static const struct bad_case bad_options[] = {
	{2, {"p", "--ttl"}, "option --ttl needs a value"},
	{2, {"p", "-f"}, "option -f needs a value"},
	{2, {"p", "-af"}, "option -f needs a value"},
	{2, {"p", "--output"}, "option --output needs a value"},
	{2, {"p", "--foo"}, "unknown option --foo"},
	{2, {"--foo=bar", "p"}, "unknown option --foo"},
	{2, {"p", "-x"}, "unknown option -x"},
	{2, {"p", "-ax"}, "unknown option -x"},
	{2, {"p", "-\x1b"}, "unknown option -\\x1b"},
	{3, {"p", "--t", "1"}, "ambiguous option --t"},
	{2, {"p", "--all=yes"}, "option --all takes no value"},
};

static void test_dashes_as_a_value(void **state)
{
	char **v = ARGV("p", "--ttl", "--");
	struct cli_args *a = parse_ok(v, 3);

	(void)state;
	/* "--" right after is taken as the value, as getopt takes it */
	assert_string_equal(cli_args_get(a, "ttl"), "--");
	cli_args_free(a);
}

static void test_bad_options_one_line(void **state)
{
	char long_name[200];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_options) / sizeof(bad_options[0]); i++) {
		char *argv[5] = {0};

		memcpy(argv, bad_options[i].argv, sizeof(bad_options[i].argv));
		expect_error(&test_spec, argv, bad_options[i].argc, CLI_ARGS_BAD_OPTION,
			     bad_options[i].reason);
	}
	/* the reason stays one short line whatever was typed */
	memset(long_name, 'z', sizeof(long_name));
	memcpy(long_name, "--", 2);
	long_name[sizeof(long_name) - 1] = '\0';
	{
		char err[128];

		parse(&test_spec, 1, ARGV(long_name), 0, CLI_ARGS_BAD_OPTION, err, sizeof(err));
		assert_true(strlen(err) < 90);
		assert_null(strchr(err, '\n'));
	}
	/* a unique prefix is the option, as getopt_long abbreviates */
	{
		char **v = ARGV("p", "--ti", "5m", "--det", "--in=a=1");
		struct cli_args *a = parse_ok(v, 5);

		assert_string_equal(cli_args_get(a, "timeout"), "5m");
		assert_true(cli_args_has(a, "detach"));
		assert_string_equal(cli_args_get(a, "input"), "a=1");
		cli_args_free(a);
	}
}

static void test_help(void **state)
{
	char err[128];

	(void)state;
	parse(&test_spec, 2, ARGV("p", "--help"), 0, CLI_ARGS_HELP, err, sizeof(err));
	parse(&test_spec, 1, ARGV("-h"), 0, CLI_ARGS_HELP, err, sizeof(err));
	/* help wins over a missing positional, not over what follows "--" */
	parse(&test_spec, 1, ARGV("--help"), 0, CLI_ARGS_HELP, err, sizeof(err));
	cli_args_free(parse_ok(ARGV("p", "--", "--help"), 3));
}

static void test_positional_counts(void **state)
{
	static const struct cli_spec none = {NULL, 0, 0};

	(void)state;
	expect_error(&test_spec, ARGV("--all"), 1, CLI_ARGS_BAD_COUNT,
		     "missing arguments (1 needed, 0 given)");
	expect_error(&test_spec, ARGV("a", "b", "c", "d"), 4, CLI_ARGS_BAD_COUNT,
		     "too many arguments (at most 3, 4 given)");
	expect_error(&none, ARGV("-"), 1, CLI_ARGS_BAD_COUNT, "too many arguments (at most 0, 1 given)");
	/* an option error is told before a count error */
	expect_error(&test_spec, ARGV("--foo"), 1, CLI_ARGS_BAD_OPTION, "unknown option --foo");
	cli_args_free(parse_ok(ARGV("a", "b", "c"), 3));
	{
		char err[128];
		struct cli_args *a = parse(&none, 0, ARGV(NULL), 0, CLI_ARGS_OK, err, sizeof(err));

		assert_int_equal(cli_args_count(a), 0);
		assert_null(cli_args_argv(a, 0)[0]);
		cli_args_free(a);
	}
}

static void test_spec_check_refuses_bad_specs(void **state)
{
	static const struct cli_option dup_name[] = {
		{"role", 0, "R", false, "x"}, {"role", 0, "R", false, "y"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option dup_letter[] = {
		{"one", 'x', NULL, false, "x"}, {"two", 'x', NULL, false, "y"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option shadows_shared[] = {
		{"state", 0, "DIR", false, "x"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option shadows_letter[] = {
		{"only", 'o', NULL, false, "x"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option help[] = {{"help", 0, NULL, false, "x"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option h[] = {{"host", 'h', "H", false, "x"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option upper[] = {{"Role", 0, "R", false, "x"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option dashed[] = {{"-role", 0, "R", false, "x"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option no_help[] = {{"role", 0, "R", false, NULL}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option empty_value[] = {{"role", 0, "", false, "x"}, {NULL, 0, NULL, false, NULL}};
	static const struct cli_option repeat_flag[] = {{"all", 0, NULL, true, "x"}, {NULL, 0, NULL, false, NULL}};
	const struct cli_spec bad[] = {
		{dup_name, 0, 0},       {dup_letter, 0, 0}, {shadows_shared, 0, 0}, {shadows_letter, 0, 0},
		{help, 0, 0},           {h, 0, 0},          {upper, 0, 0},          {dashed, 0, 0},
		{no_help, 0, 0},        {empty_value, 0, 0}, {repeat_flag, 0, 0},   {NULL, 2, 1},
		{NULL, -1, 0},          {NULL, 0, -2},
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(cli_spec_check(&bad[i], cli_shared_options, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(cli_spec_check(&test_spec, cli_shared_options, err, sizeof(err)), 0);
	assert_int_equal(cli_spec_check(&(struct cli_spec){NULL, 0, -1}, NULL, err, sizeof(err)), 0);
}

/* What help printed, as a heap string. */
static char *help_text(const struct cli_command *cmd)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	if (cmd != NULL)
		cli_help_command(out, cmd);
	else
		cli_help_overview(out);
	assert_int_equal(fclose(out), 0);
	return text;
}

/* Every command in the table: well formed, found by its name, its help
 * names every option it takes, and a bad option or count never reaches
 * its exec (which would need a tower) but returns 2. */
static void test_every_command_is_well_formed(void **state)
{
	char *overview = help_text(NULL);

	(void)state;
	assert_true(cli_command_count >= 12);
	for (size_t i = 0; i < cli_command_count; i++) {
		const struct cli_command *cmd = cli_commands[i];
		struct cli_ctx ctx = {.state_dir = "/nonexistent"};
		char err[128], head[64], *help;

		assert_non_null(cmd->name);
		assert_non_null(cmd->usage);
		assert_non_null(cmd->summary);
		assert_non_null(cmd->exec);
		if (cli_spec_check(&cmd->args, cli_shared_options, err, sizeof(err)) != 0)
			fail_msg("tower %s: %s", cmd->name, err);
		assert_ptr_equal(cli_command_find(cmd->name), cmd);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(cli_commands[j]->name, cmd->name);
		help = help_text(cmd);
		snprintf(head, sizeof(head), "usage: tower %s ", cmd->name);
		assert_memory_equal(help, head, strlen(head));
		for (const struct cli_option *o = cmd->args.options; o && o->name; o++) {
			char want[48];

			snprintf(want, sizeof(want), "--%s", o->name);
			if (strstr(help, want) == NULL || strstr(cmd->usage, want) == NULL)
				fail_msg("tower %s: --%s missing from its usage or help", cmd->name,
					 o->name);
		}
		assert_non_null(strstr(help, "--state DIR"));
		assert_non_null(strstr(overview, head + strlen("usage: tower ")));
		free(help);
		assert_int_equal(cli_command_run(cmd, &ctx, 1, ARGV("--no-such-option")), 2);
		assert_int_equal(cli_command_run(cmd, &ctx, 2, ARGV("-o", "yaml")), 2);
		if (cmd->args.upper >= 0)
			assert_int_equal(cli_command_run(cmd, &ctx, 5, ARGV("a", "b", "c", "d", "e")), 2);
	}
	assert_null(cli_command_find("help"));
	assert_null(cli_command_find(""));
	free(overview);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_forms),
		cmocka_unit_test(test_short_forms_and_clusters),
		cmocka_unit_test(test_repeated_options_in_order),
		cmocka_unit_test(test_double_dash_ends_options),
		cmocka_unit_test(test_stop_at_first_positional),
		cmocka_unit_test(test_dashes_as_a_value),
		cmocka_unit_test(test_bad_options_one_line),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_positional_counts),
		cmocka_unit_test(test_spec_check_refuses_bad_specs),
		cmocka_unit_test(test_every_command_is_well_formed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
