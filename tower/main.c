/* main.c — the `tower` binary: global options, then one command from the
 * table in cli.h. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static const struct cli_command *const commands[] = {
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
};

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

static void usage(FILE *out)
{
	fprintf(out, "usage: tower [--state DIR] [-o json|table] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n           %s\n", commands[i]->name, commands[i]->usage,
			commands[i]->summary);
	fprintf(out, "\nThe CLI finds the tower through --state DIR (default ./tower-state),\n"
		     "or OVERCLOUD_URL + OVERCLOUD_TOKEN + OVERCLOUD_CA.\n");
}

/* Takes the shared options out of argv wherever they stand (before "--"),
 * so `tower nodes -o json` and `tower -o json nodes` both work. */
static int take_global_options(struct cli_ctx *ctx, int *argc, char **argv)
{
	int out = 0;
	bool rest = false;

	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i], *val = NULL;
		bool is_output = false, is_state = false;

		if (!rest && strcmp(a, "--") == 0)
			rest = true;
		if (!rest && (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0))
			is_output = true;
		else if (!rest && strncmp(a, "--output=", 9) == 0)
			is_output = true, val = a + 9;
		else if (!rest && strcmp(a, "--state") == 0)
			is_state = true;
		else if (!rest && strncmp(a, "--state=", 8) == 0)
			is_state = true, val = a + 8;
		if (!is_output && !is_state) {
			argv[out++] = argv[i];
			continue;
		}
		if (val == NULL) {
			if (i + 1 >= *argc) {
				cli_fail("%s needs a value", a);
				return -1;
			}
			val = argv[++i];
		}
		if (is_state) {
			ctx->state_dir = val;
			ctx->state_given = true;
		} else if (strcmp(val, "json") == 0) {
			ctx->json = true;
		} else if (strcmp(val, "table") == 0) {
			ctx->json = false;
		} else {
			cli_fail("-o takes json or table, not \"%s\"", val);
			return -1;
		}
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = {.state_dir = "./tower-state"};
	const char *env_level = getenv("OVERCLOUD_LOG");
	enum oc_log_level level = OC_LOG_INFO;

	if (env_level != NULL && log_level_parse(env_level, &level) != 0)
		level = OC_LOG_INFO;
	log_init("tower", level);
	if (take_global_options(&ctx, &argc, argv) != 0)
		return 2;
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("tower %s\n", OC_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i]->name) == 0) {
			optind = 1;
			return commands[i]->exec(&ctx, argc - 1, argv + 1);
		}
	}
	return cli_fail("unknown command \"%s\" (try tower help)", argv[1]) + 1;
}
