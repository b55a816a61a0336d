/* cli_list.c — `tower list` and `tower show ID`: the OverCloud repository. */
#include <stdio.h>
#include <string.h>

#include "tower/cli.h"
#include "tower/client.h"
#include "tower/progress.h"

static int list_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client *cl;
	json_t *list, *oc;
	char err[512];
	long status;
	size_t i;

	if (argc != 1)
		return cli_usage(&cli_list_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	list = client_call(cl, "GET", "/v1/overclouds", NULL, &status, err, sizeof(err));
	client_free(cl);
	if (list == NULL)
		return cli_fail("list: %s", err);
	if (ctx->json) {
		cli_print_json(list);
	} else {
		printf("%-12s %-9s %-8s %-10s %6s %-16s\n", "ID", "STATUS", "PATTERN", "PROVIDER",
		       "NUMBER", "DEVOPS POST");
		json_array_foreach(list, i, oc)
			printf("%-12s %-9s %-8s %-10s %6lld %-16s\n",
			       json_string_value(json_object_get(oc, "overcloud_id")),
			       json_string_value(json_object_get(oc, "status")),
			       json_string_value(json_object_get(oc, "pattern")),
			       json_string_value(json_object_get(oc, "provider")),
			       (long long)json_integer_value(json_object_get(oc, "number")),
			       json_string_value(json_object_get(oc, "devops_post")) ?: "-");
	}
	json_decref(list);
	return 0;
}

static int show_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	struct client *cl;
	char err[512], path[160];
	json_t *oc, *n;
	long status;
	size_t i;

	if (argc != 2 || strlen(argv[1]) > 64 || strchr(argv[1], '/'))
		return cli_usage(&cli_show_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	snprintf(path, sizeof(path), "/v1/overclouds/%s", argv[1]);
	oc = client_call(cl, "GET", path, NULL, &status, err, sizeof(err));
	client_free(cl);
	if (oc == NULL)
		return cli_fail("show: %s", err);
	if (ctx->json) {
		cli_print_json(oc);
		json_decref(oc);
		return 0;
	}
	progress_print_table(stdout, oc);
	printf("\n  %-28s %-8s %-12s %-16s %-20s %s\n", "NODE", "GROUP", "ROLE", "ADDRESS",
	       "NODE ID", "STATE");
	json_array_foreach(json_object_get(oc, "nodes"), i, n)
		printf("  %-28s %-8s %-12s %-16s %-20s %s%s\n",
		       json_string_value(json_object_get(n, "name")),
		       json_string_value(json_object_get(n, "group")),
		       json_string_value(json_object_get(n, "role")) ?: "",
		       json_string_value(json_object_get(n, "address")),
		       json_string_value(json_object_get(n, "node_id")),
		       json_string_value(json_object_get(n, "state")),
		       json_is_true(json_object_get(n, "connected")) ? ", connected" : "");
	if (json_string_value(json_object_get(oc, "error")))
		printf("\nerror: %s\n", json_string_value(json_object_get(oc, "error")));
	json_decref(oc);
	return 0;
}

const struct cli_command cli_list_entry = {
	.name = "list",
	.usage = "",
	.summary = "list OverClouds",
	.exec = list_exec,
};

const struct cli_command cli_show_entry = {
	.name = "show",
	.usage = "ID",
	.summary = "an OverCloud's status, steps, nodes and addresses",
	.exec = show_exec,
};
