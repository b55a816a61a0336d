/* main.c — the `tower` binary: the options before the command (the shared
 * ones, --help, --version), then one command from the table in cli.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "tower/cli/cli.h"

static const struct cli_option tower_options[] = {
	{"version", 0, NULL, false, "print the version"},
	{NULL, 0, NULL, false, NULL},
};
static const struct cli_spec tower_spec = {tower_options, 0, -1};

/* `tower help [COMMAND]`: the overview, or one command's help. */
static int help(const struct cli_args *a)
{
	const struct cli_command *cmd;

	if (cli_args_count(a) < 2) {
		cli_help_overview(stdout);
		return 0;
	}
	cmd = cli_command_find(cli_args_arg(a, 1));
	if (cmd == NULL)
		return cli_fail("unknown command \"%s\" (try tower help)", cli_args_arg(a, 1)) + 1;
	cli_help_command(stdout, cmd);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = {.state_dir = "./tower-state"};
	const char *env_level = getenv("OVERCLOUD_LOG");
	enum oc_log_level level = OC_LOG_INFO;
	const struct cli_command *cmd;
	struct cli_args *a;
	const char *name;
	char err[256];
	int rc;

	if (env_level != NULL && log_level_parse(env_level, &level) != 0)
		level = OC_LOG_INFO;
	log_init("tower", level);
	switch (cli_args_parse(&tower_spec, cli_shared_options, argc - 1, argv + 1,
			       CLI_ARGS_STOP_AT_POSITIONAL, &a, err, sizeof(err))) {
	case CLI_ARGS_OK:
		break;
	case CLI_ARGS_HELP:
		cli_help_overview(stdout);
		return 0;
	default:
		fprintf(stderr, "tower: %s\n", err);
		return 2;
	}
	if (cli_apply_shared(&ctx, a) != 0) {
		cli_args_free(a);
		return 2;
	}
	name = cli_args_arg(a, 0);
	if (cli_args_has(a, "version") || (name != NULL && strcmp(name, "version") == 0)) {
		printf("tower %s\n", OC_VERSION);
		rc = 0;
	} else if (name == NULL) {
		cli_help_overview(stderr);
		rc = 2;
	} else if (strcmp(name, "help") == 0) {
		rc = help(a);
	} else if ((cmd = cli_command_find(name)) != NULL) {
		rc = cli_command_run(cmd, &ctx, (int)cli_args_count(a) - 1, cli_args_argv(a, 1));
	} else {
		rc = cli_fail("unknown command \"%s\" (try tower help)", name) + 1;
	}
	cli_args_free(a);
	return rc;
}
