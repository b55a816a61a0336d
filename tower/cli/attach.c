/* cli_attach.c — `tower attach ID NODE`: adds an enrolled node (an edge
 * device that joined with a token) to a ready OverCloud and, unless
 * --detach, follows the pattern's attach steps to the end. */
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static const struct cli_option attach_options[] = {
	{"detach", 0, NULL, false, "print the OverCloud's id and return at once"},
	{NULL, 0, NULL, false, NULL},
};

static int attach_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *id = cli_args_arg(args, 0), *node = cli_args_arg(args, 1);
	char path[160], err[512], line[400];
	struct client *cl;
	json_t *req, *reply;
	long status;
	int rc;

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
	rc = cli_after_start(ctx, cl, reply, cli_args_has(args, "detach"), line);
	json_decref(reply);
	client_free(cl);
	return rc;
}

const struct cli_command cli_attach_entry = {
	.name = "attach",
	.usage = "ID NODE [--detach]",
	.summary = "add an enrolled edge node (id or name, see tower nodes) to a ready OverCloud",
	.args = {attach_options, 2, 2},
	.exec = attach_exec,
};
