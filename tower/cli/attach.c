/* cli_attach.c — `tower attach ID NODE`: adds an enrolled node (an edge
 * device that joined with a token) to a ready OverCloud and, unless
 * --detach, follows the pattern's attach steps to the end. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static int attach_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"detach", no_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	char path[160], err[512], line[400];
	const char *id, *node;
	bool detach = false;
	struct client *cl;
	json_t *req, *reply;
	long status;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'd')
			return cli_usage(&cli_attach_entry);
		detach = true;
	}
	if (optind + 2 != argc)
		return cli_usage(&cli_attach_entry);
	id = argv[optind];
	node = argv[optind + 1];
	if (strlen(id) > 64 || strchr(id, '/') || id[0] == '\0')
		return cli_fail("attach: \"%.80s\" is not an overcloud id", id);
	if (strlen(node) > 255 || node[0] == '\0')
		return cli_fail("attach: \"%.80s\" is not a node id or name", node);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	snprintf(path, sizeof(path), "/v1/overclouds/%s/nodes", id);
	req = json_pack("{s:s}", "node", node);
	reply = client_call(cl, "POST", path, req, &status, err, sizeof(err));
	json_decref(req);
	if (reply == NULL) {
		client_free(cl);
		return cli_fail("attach: %s", err);
	}
	snprintf(line, sizeof(line), "attaching %s to %s",
		 json_string_value(json_object_get(reply, "node")) ?: node, id);
	rc = cli_after_start(ctx, cl, reply, detach, line);
	json_decref(reply);
	client_free(cl);
	return rc;
}

const struct cli_command cli_attach_entry = {
	.name = "attach",
	.usage = "ID NODE [--detach]",
	.summary = "add an enrolled edge node (id or name, see tower nodes) to a ready OverCloud",
	.exec = attach_exec,
};
