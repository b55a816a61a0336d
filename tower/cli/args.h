/* args.h — a command's arguments, declared once as data (struct cli_spec)
 * and parsed by one function into a struct cli_args the command reads. */
#ifndef OC_CLI_ARGS_H
#define OC_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* One option. A long name ("timeout" for --timeout), an optional short
 * letter, and the value's placeholder in help ("DUR") when it takes one. */
struct cli_option {
	const char *name;
	char short_name;         /* 0: none */
	const char *value;       /* NULL: a flag without a value */
	bool repeat;             /* may be given again; every value is kept, in order */
	const char *help;        /* one line for `tower CMD --help` */
};

/* What a command takes, as tmux's `.args = { "aCgf:t:", lower, upper }`:
 * its options (ending with {NULL}) and how many positional arguments. */
struct cli_spec {
	const struct cli_option *options;
	int lower;               /* positionals at least */
	int upper;               /* at most; -1: any number */
};

enum cli_args_status {
	CLI_ARGS_OK,
	CLI_ARGS_HELP,           /* --help or -h before "--" */
	CLI_ARGS_BAD_OPTION,     /* unknown, ambiguous, missing or stray value */
	CLI_ARGS_BAD_COUNT,      /* too few or too many positionals */
	CLI_ARGS_NO_MEMORY,
};

/* With it the parse ends at the first positional: that and everything
 * after it are positionals (how `tower [--state DIR] COMMAND ...` reads). */
#define CLI_ARGS_STOP_AT_POSITIONAL 1u

struct cli_args;

/* Parses argv[0..argc) against spec's options and the shared ones (both
 * may be NULL), getopt_long-like: --name value, --name=value, -x value,
 * -xvalue, clustered flags (-ab), a unique prefix of a long name; options
 * and positionals in any order until "--", after which everything is a
 * positional. A non-repeatable option given twice keeps its last value.
 * Values point into argv, which must outlive the result. Returns the status
 * and, for CLI_ARGS_OK, *out (caller frees with cli_args_free); else a
 * one-line reason in err ("unknown option --foo"). */
enum cli_args_status cli_args_parse(const struct cli_spec *spec, const struct cli_option *shared,
				    int argc, char **argv, unsigned flags, struct cli_args **out,
				    char *err, size_t err_size);
void cli_args_free(struct cli_args *a);

/* Whether option name (its long name) was given. */
bool cli_args_has(const struct cli_args *a, const char *name);
/* The value of option name (the last one given), or NULL. */
const char *cli_args_get(const struct cli_args *a, const char *name);
/* Walks every value of option name in the order given: start with
 * *cursor = 0; NULL at the end. */
const char *cli_args_next(const struct cli_args *a, const char *name, size_t *cursor);
/* The positional arguments. */
size_t cli_args_count(const struct cli_args *a);
const char *cli_args_arg(const struct cli_args *a, size_t i);
/* The positionals from i on as argv (NULL-terminated, owned by a). */
char **cli_args_argv(const struct cli_args *a, size_t i);

/* 0 when spec is well formed (names of [a-z0-9-], no name or letter used
 * twice here or in shared, none named "help" or using 'h', value
 * placeholders and help lines present, lower <= upper); else -1 and why. */
int cli_spec_check(const struct cli_spec *spec, const struct cli_option *shared, char *err,
		   size_t err_size);

#endif
