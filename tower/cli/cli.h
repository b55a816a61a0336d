/* cli.h — the tower command line as a table of commands (one cli_<verb>.c
 * each), with the options every command shares and one way to fail. */
#ifndef OC_CLI_H
#define OC_CLI_H

#include <stdbool.h>

#include <jansson.h>

struct client;

struct cli_ctx {
	const char *state_dir;   /* --state, default ./tower-state */
	bool state_given;
	bool json;               /* -o json */
};

struct cli_command {
	const char *name;
	const char *usage;       /* the arguments after the name */
	const char *summary;
	int (*exec)(struct cli_ctx *ctx, int argc, char **argv);
};

extern const struct cli_command cli_serve_entry;
extern const struct cli_command cli_token_entry;
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
