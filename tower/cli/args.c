/* args.c — the one parser of the CLI's argv against a command's declared
 * cli_spec. Owns option matching and counting; what a value means is the
 * command's business. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tower/cli/args.h"

struct given {
	const struct cli_option *opt;
	const char *value;       /* NULL for a flag */
};

struct cli_args {
	struct given *given;
	size_t given_count;
	char **positional;       /* NULL-terminated */
	size_t positional_count;
};

static size_t table_len(const struct cli_option *t)
{
	size_t n = 0;

	while (t != NULL && t[n].name != NULL)
		n++;
	return n;
}

/* The option --name (name_len bytes of name): an exact name wins, else a
 * prefix of exactly one name, as getopt_long abbreviates. *ambiguous when
 * several names start with it. */
static const struct cli_option *find_long(const struct cli_option *const tables[2],
					  const char *name, size_t name_len, bool *ambiguous)
{
	const struct cli_option *prefix = NULL;
	size_t prefixes = 0;

	*ambiguous = false;
	for (int t = 0; t < 2; t++) {
		for (size_t i = 0; i < table_len(tables[t]); i++) {
			const struct cli_option *o = &tables[t][i];

			if (strncmp(o->name, name, name_len) != 0)
				continue;
			if (o->name[name_len] == '\0')
				return o;
			prefix = o;
			prefixes++;
		}
	}
	if (prefixes > 1)
		*ambiguous = true;
	return prefixes == 1 ? prefix : NULL;
}

static const struct cli_option *find_short(const struct cli_option *const tables[2], char c)
{
	for (int t = 0; t < 2; t++)
		for (size_t i = 0; i < table_len(tables[t]); i++)
			if (tables[t][i].short_name == c)
				return &tables[t][i];
	return NULL;
}

/* Appends v to a->positional (capacity argc + 1 taken at the start). */
static void add_positional(struct cli_args *a, char *v)
{
	a->positional[a->positional_count++] = v;
	a->positional[a->positional_count] = NULL;
}

/* One "--name[=value]" at argv[*i]; may take argv[*i + 1] as the value. */
static enum cli_args_status take_long(struct cli_args *a, const struct cli_option *const tables[2],
				      int argc, char **argv, int *i, char *err, size_t err_size)
{
	const char *name = argv[*i] + 2, *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const struct cli_option *o;
	bool ambiguous;

	o = find_long(tables, name, len, &ambiguous);
	if (o == NULL && len == 4 && strncmp(name, "help", 4) == 0)
		return CLI_ARGS_HELP;
	if (o == NULL) {
		snprintf(err, err_size, "%s option --%.*s", ambiguous ? "ambiguous" : "unknown",
			 (int)(len > 60 ? 60 : len), name);
		return CLI_ARGS_BAD_OPTION;
	}
	if (o->value == NULL && eq != NULL) {
		snprintf(err, err_size, "option --%s takes no value", o->name);
		return CLI_ARGS_BAD_OPTION;
	}
	a->given[a->given_count].opt = o;
	if (o->value != NULL) {
		if (eq == NULL && *i + 1 >= argc) {
			snprintf(err, err_size, "option --%s needs a value", o->name);
			return CLI_ARGS_BAD_OPTION;
		}
		a->given[a->given_count].value = eq ? eq + 1 : argv[++*i];
	}
	a->given_count++;
	return CLI_ARGS_OK;
}

/* One "-abc" cluster at argv[*i]; its last letter may take a value, glued
 * ("-ojson") or as argv[*i + 1]. */
static enum cli_args_status take_short(struct cli_args *a, const struct cli_option *const tables[2],
				       int argc, char **argv, int *i, char *err, size_t err_size)
{
	const char *s = argv[*i] + 1;

	for (; *s != '\0'; s++) {
		const struct cli_option *o = find_short(tables, *s);

		if (o == NULL && *s == 'h')
			return CLI_ARGS_HELP;
		if (o == NULL) {
			if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
				snprintf(err, err_size, "unknown option -%c", *s);
			else
				snprintf(err, err_size, "unknown option -\\x%02x", (unsigned char)*s);
			return CLI_ARGS_BAD_OPTION;
		}
		a->given[a->given_count].opt = o;
		if (o->value != NULL) {
			if (s[1] == '\0' && *i + 1 >= argc) {
				snprintf(err, err_size, "option -%c needs a value", *s);
				return CLI_ARGS_BAD_OPTION;
			}
			a->given[a->given_count++].value = s[1] != '\0' ? s + 1 : argv[++*i];
			return CLI_ARGS_OK;
		}
		a->given_count++;
	}
	return CLI_ARGS_OK;
}

enum cli_args_status cli_args_parse(const struct cli_spec *spec, const struct cli_option *shared,
				    int argc, char **argv, unsigned flags, struct cli_args **out,
				    char *err, size_t err_size)
{
	const struct cli_option *const tables[2] = {spec ? spec->options : NULL, shared};
	enum cli_args_status st = CLI_ARGS_OK;
	struct cli_args *a = calloc(1, sizeof(*a));
	bool options_end = false;

	*out = NULL;
	if (err_size > 0)
		err[0] = '\0';
	if (argc < 0)
		argc = 0;
	/* Each argv word gives at most one value or a few flags of one
	 * cluster; a cluster's flags are bounded by its length. */
	if (a == NULL || (a->positional = calloc((size_t)argc + 1, sizeof(char *))) == NULL)
		goto no_memory;
	for (int i = 0; i < argc && st == CLI_ARGS_OK; i++) {
		const char *w = argv[i];
		size_t need = strlen(w) + 1;

		if (SIZE_MAX / sizeof(*a->given) - a->given_count < need)
			goto no_memory;
		if (!options_end && w[0] == '-' && w[1] != '\0') {
			struct given *more = realloc(a->given, (a->given_count + need) * sizeof(*more));

			if (more == NULL)
				goto no_memory;
			a->given = more;
			memset(more + a->given_count, 0, need * sizeof(*more));
		}
		if (options_end || w[0] != '-' || w[1] == '\0') {
			add_positional(a, argv[i]);
			if (flags & CLI_ARGS_STOP_AT_POSITIONAL)
				options_end = true;
		} else if (strcmp(w, "--") == 0) {
			options_end = true;
		} else if (w[1] == '-') {
			st = take_long(a, tables, argc, argv, &i, err, err_size);
		} else {
			st = take_short(a, tables, argc, argv, &i, err, err_size);
		}
	}
	if (st == CLI_ARGS_OK && spec != NULL && (int)a->positional_count < spec->lower) {
		snprintf(err, err_size, "missing arguments (%d needed, %zu given)", spec->lower,
			 a->positional_count);
		st = CLI_ARGS_BAD_COUNT;
	}
	if (st == CLI_ARGS_OK && spec != NULL && spec->upper >= 0 &&
	    (int)a->positional_count > spec->upper) {
		snprintf(err, err_size, "too many arguments (at most %d, %zu given)", spec->upper,
			 a->positional_count);
		st = CLI_ARGS_BAD_COUNT;
	}
	if (st != CLI_ARGS_OK) {
		cli_args_free(a);
		return st;
	}
	*out = a;
	return CLI_ARGS_OK;
no_memory:
	snprintf(err, err_size, "out of memory");
	cli_args_free(a);
	return CLI_ARGS_NO_MEMORY;
}

void cli_args_free(struct cli_args *a)
{
	if (a == NULL)
		return;
	free(a->given);
	free(a->positional);
	free(a);
}

bool cli_args_has(const struct cli_args *a, const char *name)
{
	for (size_t i = 0; i < a->given_count; i++)
		if (strcmp(a->given[i].opt->name, name) == 0)
			return true;
	return false;
}

const char *cli_args_get(const struct cli_args *a, const char *name)
{
	for (size_t i = a->given_count; i > 0; i--)
		if (strcmp(a->given[i - 1].opt->name, name) == 0)
			return a->given[i - 1].value;
	return NULL;
}

const char *cli_args_next(const struct cli_args *a, const char *name, size_t *cursor)
{
	while (*cursor < a->given_count) {
		const struct given *g = &a->given[(*cursor)++];

		if (strcmp(g->opt->name, name) == 0 && g->value != NULL)
			return g->value;
	}
	return NULL;
}

size_t cli_args_count(const struct cli_args *a)
{
	return a->positional_count;
}

const char *cli_args_arg(const struct cli_args *a, size_t i)
{
	return i < a->positional_count ? a->positional[i] : NULL;
}

char **cli_args_argv(const struct cli_args *a, size_t i)
{
	return a->positional + (i < a->positional_count ? i : a->positional_count);
}

static bool name_ok(const char *name)
{
	if (name == NULL || name[0] == '\0' || name[0] == '-' || strlen(name) > 32)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

static int check_table(const struct cli_option *t, const struct cli_option *const tables[2],
		       char *err, size_t err_size)
{
	for (size_t i = 0; i < table_len(t); i++) {
		const struct cli_option *o = &t[i];
		bool ambiguous;

		if (!name_ok(o->name) || strcmp(o->name, "help") == 0) {
			snprintf(err, err_size, "option \"%s\" is not a name of [a-z0-9-]", o->name);
			return -1;
		}
		if (find_long(tables, o->name, strlen(o->name), &ambiguous) != o) {
			snprintf(err, err_size, "option --%s is declared twice", o->name);
			return -1;
		}
		if (o->short_name != 0 && (o->short_name == 'h' || o->short_name == '-' ||
					   find_short(tables, o->short_name) != o)) {
			snprintf(err, err_size, "option -%c is declared twice or reserved",
				 o->short_name);
			return -1;
		}
		if ((o->value != NULL && o->value[0] == '\0') || o->help == NULL ||
		    o->help[0] == '\0') {
			snprintf(err, err_size, "option --%s lacks its value's name or help", o->name);
			return -1;
		}
		if (o->repeat && o->value == NULL) {
			snprintf(err, err_size, "option --%s repeats but takes no value", o->name);
			return -1;
		}
	}
	return 0;
}

int cli_spec_check(const struct cli_spec *spec, const struct cli_option *shared, char *err,
		   size_t err_size)
{
	const struct cli_option *const tables[2] = {spec->options, shared};

	if (spec->lower < 0 || (spec->upper >= 0 && spec->upper < spec->lower) || spec->upper < -1) {
		snprintf(err, err_size, "positionals from %d to %d", spec->lower, spec->upper);
		return -1;
	}
	if (check_table(spec->options, tables, err, err_size) != 0 ||
	    check_table(shared, tables, err, err_size) != 0)
		return -1;
	return 0;
}
