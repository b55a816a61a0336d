/* commands.c — the table of `tower` commands, their help and usage printed
 * from their declarations, and running one: parse, shared options, exec. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

const struct cli_command *const cli_commands[] = {
	&cli_serve_entry,
	&cli_create_entry,
	&cli_list_entry,
	&cli_show_entry,
	&cli_watch_entry,
	&cli_logs_entry,
	&cli_delete_entry,
	&cli_attach_entry,
	&cli_token_entry,
	&cli_nodes_entry,
	&cli_run_entry,
	&cli_userdata_entry,
	&cli_status_entry,
};
const size_t cli_command_count = sizeof(cli_commands) / sizeof(cli_commands[0]);

const struct cli_option cli_shared_options[] = {
	{"state", 0, "DIR", false, "the tower's state dir (default ./tower-state)"},
	{"output", 'o', "json|table", false, "output format (default table)"},
	{NULL, 0, NULL, false, NULL},
};

const struct cli_command *cli_command_find(const char *name)
{
	for (size_t i = 0; i < cli_command_count; i++)
		if (strcmp(name, cli_commands[i]->name) == 0)
			return cli_commands[i];
	return NULL;
}

int cli_fail(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tower: %s\n", line);
	return 1;
}

int cli_usage(const struct cli_command *cmd)
{
	fprintf(stderr, "usage: tower %s %s\n", cmd->name, cmd->usage);
	return 2;
}

struct client *cli_client(struct cli_ctx *ctx)
{
	char err[512];
	struct client *cl = client_new(ctx->state_dir, ctx->state_given, err, sizeof(err));

	if (cl == NULL)
		cli_fail("%s", err);
	return cl;
}

void cli_print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

void cli_help_overview(FILE *out)
{
	fprintf(out, "usage: tower [--state DIR] [-o json|table] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < cli_command_count; i++)
		fprintf(out, "  %-8s %s\n           %s\n", cli_commands[i]->name, cli_commands[i]->usage,
			cli_commands[i]->summary);
	fprintf(out, "\nThe CLI finds the tower through --state DIR (default ./tower-state),\n"
		     "or OVERCLOUD_URL + OVERCLOUD_TOKEN + OVERCLOUD_CA.\n"
		     "tower COMMAND --help lists a command's options.\n");
}

static void help_options(FILE *out, const struct cli_option *t)
{
	for (; t->name != NULL; t++) {
		char flag[8] = "", left[80];

		if (t->short_name != 0)
			snprintf(flag, sizeof(flag), "-%c, ", t->short_name);
		snprintf(left, sizeof(left), "%s--%s%s%s%s", flag, t->name, t->value ? " " : "",
			 t->value ? t->value : "", t->repeat ? " ..." : "");
		/* a long left column puts the help under it */
		if (strlen(left) > 30)
			fprintf(out, "  %s\n  %-30s %s\n", left, "", t->help);
		else
			fprintf(out, "  %-30s %s\n", left, t->help);
	}
}

void cli_help_command(FILE *out, const struct cli_command *cmd)
{
	fprintf(out, "usage: tower %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (cmd->args.options != NULL && cmd->args.options[0].name != NULL) {
		fprintf(out, "\noptions:\n");
		help_options(out, cmd->args.options);
	}
	fprintf(out, "\noptions of every command:\n");
	help_options(out, cli_shared_options);
}

int cli_apply_shared(struct cli_ctx *ctx, const struct cli_args *a)
{
	const char *state = cli_args_get(a, "state"), *output = cli_args_get(a, "output");

	if (state != NULL) {
		ctx->state_dir = state;
		ctx->state_given = true;
	}
	if (output == NULL)
		return 0;
	if (strcmp(output, "json") == 0) {
		ctx->json = true;
	} else if (strcmp(output, "table") == 0) {
		ctx->json = false;
	} else {
		cli_fail("-o takes json or table, not \"%s\"", output);
		return -1;
	}
	return 0;
}

int cli_command_run(const struct cli_command *cmd, struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_args *a;
	char err[256];
	int rc;

	switch (cli_args_parse(&cmd->args, cli_shared_options, argc, argv, 0, &a, err,
			       sizeof(err))) {
	case CLI_ARGS_OK:
		break;
	case CLI_ARGS_HELP:
		cli_help_command(stdout, cmd);
		return 0;
	case CLI_ARGS_BAD_COUNT:
		return cli_usage(cmd);
	default:
		fprintf(stderr, "tower %s: %s\n", cmd->name, err);
		return 2;
	}
	if (cli_apply_shared(ctx, a) != 0) {
		cli_args_free(a);
		return 2;
	}
	rc = cmd->exec(ctx, a);
	cli_args_free(a);
	return rc;
}
