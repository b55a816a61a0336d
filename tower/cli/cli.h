/* cli.h — the tower command line as a table of commands (one <verb>.c
 * each, declaring its arguments), with the options every command shares
 * and one way to fail. */
#ifndef OC_CLI_H
#define OC_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "tower/cli/args.h"

struct client;

struct cli_ctx {
	const char *state_dir;   /* --state, default ./tower-state */
	bool state_given;
	bool json;               /* -o json */
};

/* A command, as tmux's cmd_entry: what it takes is data (args), parsed
 * by cli_args_parse before exec runs; help and usage come from here. */
struct cli_command {
	const char *name;
	const char *usage;       /* the arguments after the name */
	const char *summary;
	struct cli_spec args;
	int (*exec)(struct cli_ctx *ctx, const struct cli_args *args);
};

/* Every command, in the order `tower help` lists them. */
extern const struct cli_command *const cli_commands[];
extern const size_t cli_command_count;
/* The options every command takes, wherever they stand before "--":
 * --state DIR and -o/--output json|table. */
extern const struct cli_option cli_shared_options[];

extern const struct cli_command cli_serve_entry;
extern const struct cli_command cli_token_entry;
extern const struct cli_command cli_status_entry;
extern const struct cli_command cli_nodes_entry;
extern const struct cli_command cli_run_entry;
extern const struct cli_command cli_logs_entry;
extern const struct cli_command cli_create_entry;
extern const struct cli_command cli_list_entry;
extern const struct cli_command cli_show_entry;
extern const struct cli_command cli_watch_entry;
extern const struct cli_command cli_delete_entry;
extern const struct cli_command cli_attach_entry;
extern const struct cli_command cli_userdata_entry;

/* The command called name, or NULL. */
const struct cli_command *cli_command_find(const char *name);
/* Prints every command's usage and summary (`tower help`) on out. */
void cli_help_overview(FILE *out);
/* Prints cmd's usage, summary and options (`tower CMD --help`) on out. */
void cli_help_command(FILE *out, const struct cli_command *cmd);
/* Parses argv (the words after the command's name) against cmd's spec and
 * the shared options, sets ctx from the shared ones and runs cmd. A bad
 * option is one line "tower CMD: <why>" and a wrong count the usage, both
 * exit 2; --help prints the help and exits 0. Returns the exit status. */
int cli_command_run(const struct cli_command *cmd, struct cli_ctx *ctx, int argc, char **argv);
/* Sets ctx from the shared options in a (0), or prints why not (-1). */
int cli_apply_shared(struct cli_ctx *ctx, const struct cli_args *a);

/* Prints "tower: <message>" on stderr; returns 1 for `return cli_fail(...)`. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "usage: tower <name> <usage>" on stderr; returns 2. */
int cli_usage(const struct cli_command *cmd);
/* Opens the API client for ctx, or prints why not and returns NULL. */
struct client *cli_client(struct cli_ctx *ctx);
/* Follows an OverCloud's events until it ends (ready with no attach
 * running, failed or deleted); prints progress (or, with -o json,
 * {"overcloud_id","status"} at the end). Returns the exit status: non-zero
 * when it ended failed. */
int cli_follow_overcloud(struct cli_ctx *ctx, struct client *cl, const char *id);
/* Once the tower took a request that starts a workflow (reply: its 202
 * body, with "overcloud_id"): with detach, prints the reply (-o json) or
 * detached_line; else follows the OverCloud like cli_follow_overcloud, -o
 * json printing the reply with the final status. Returns the exit status. */
int cli_after_start(struct cli_ctx *ctx, struct client *cl, json_t *reply, bool detach,
		    const char *detached_line);
/* Prints v as indented JSON on stdout. */
void cli_print_json(json_t *v);

#endif
