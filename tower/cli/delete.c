/* cli_delete.c — `tower delete ID`: starts the destroy workflow and, unless
 * --detach, follows it until everything is released. */
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static const struct cli_option delete_options[] = {
	{"detach", 0, NULL, false, "start the destroy workflow and return at once"},
	{NULL, 0, NULL, false, NULL},
};

static int delete_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *id = cli_args_arg(args, 0);
	char path[160], err[512], line[96];
	struct client *cl;
	json_t *reply;
	long status;
	int rc;

	if (strlen(id) > 64 || strchr(id, '/'))
		return cli_usage(&cli_delete_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	snprintf(path, sizeof(path), "/v1/overclouds/%s", id);
	reply = client_call(cl, "DELETE", path, NULL, &status, err, sizeof(err));
	if (reply == NULL) {
		client_free(cl);
		return cli_fail("delete: %s", err);
	}
	snprintf(line, sizeof(line), "deleting %s", id);
	rc = cli_after_start(ctx, cl, reply, cli_args_has(args, "detach"), line);
	json_decref(reply);
	client_free(cl);
	return rc;
}

const struct cli_command cli_delete_entry = {
	.name = "delete",
	.usage = "ID [--detach]",
	.summary = "destroy an OverCloud and release its nodes",
	.args = {delete_options, 1, 1},
	.exec = delete_exec,
};
