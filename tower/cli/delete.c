/* cli_delete.c — `tower delete ID`: starts the destroy workflow and, unless
 * --detach, follows it until everything is released. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static int delete_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"detach", no_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	char path[160], err[512], line[96];
	bool detach = false;
	struct client *cl;
	json_t *reply;
	long status;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'd')
			return cli_usage(&cli_delete_entry);
		detach = true;
	}
	if (optind + 1 != argc || strlen(argv[optind]) > 64 || strchr(argv[optind], '/'))
		return cli_usage(&cli_delete_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	snprintf(path, sizeof(path), "/v1/overclouds/%s", argv[optind]);
	reply = client_call(cl, "DELETE", path, NULL, &status, err, sizeof(err));
	if (reply == NULL) {
		client_free(cl);
		return cli_fail("delete: %s", err);
	}
	snprintf(line, sizeof(line), "deleting %s", argv[optind]);
	rc = cli_after_start(ctx, cl, reply, detach, line);
	json_decref(reply);
	client_free(cl);
	return rc;
}

const struct cli_command cli_delete_entry = {
	.name = "delete",
	.usage = "ID [--detach]",
	.summary = "destroy an OverCloud and release its nodes",
	.exec = delete_exec,
};
