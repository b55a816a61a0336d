/* cli_list.c — `tower list` and `tower show ID`: the OverCloud repository. */
#include <stdio.h>
#include <string.h>

#include "shared/util.h"
#include "tower/cli/cli.h"
#include "tower/cli/client.h"
#include "tower/cli/progress.h"
#include "tower/cli/table.h"

/* The human form of GET /v1/overclouds. 0, or -1 when out of memory. */
static int list_print(json_t *list)
{
	static const char *const headers[] = {"ID", "STATUS", "PATTERN", "PROVIDER", "NUMBER",
					      "DEVOPS POST"};
	struct table *t = table_new(OC_ARRAY_LEN(headers), headers);
	char number[24];
	json_t *oc;
	size_t i;
	int rc;

	table_align_right(t, 4);
	json_array_foreach(list, i, oc) {
		const char *row[OC_ARRAY_LEN(headers)] = {
			json_string_value(json_object_get(oc, "overcloud_id")),
			json_string_value(json_object_get(oc, "status")),
			json_string_value(json_object_get(oc, "pattern")),
			json_string_value(json_object_get(oc, "provider")), number,
			json_string_value(json_object_get(oc, "devops_post"))};

		snprintf(number, sizeof(number), "%lld",
			 (long long)json_integer_value(json_object_get(oc, "number")));
		table_add(t, row);
	}
	rc = table_print(t, stdout, NULL);
	table_free(t);
	return rc;
}

/* An OverCloud's nodes under its steps, as `tower show` draws them. */
static int show_print_nodes(json_t *nodes)
{
	static const char *const headers[] = {"NODE", "GROUP", "ROLE", "ADDRESS", "NODE ID",
					      "STATE"};
	struct table *t = table_new(OC_ARRAY_LEN(headers), headers);
	char state[64];
	json_t *n;
	size_t i;
	int rc;

	json_array_foreach(nodes, i, n) {
		const char *row[OC_ARRAY_LEN(headers)] = {
			json_string_value(json_object_get(n, "name")),
			json_string_value(json_object_get(n, "group")),
			json_string_value(json_object_get(n, "role")),
			json_string_value(json_object_get(n, "address")),
			json_string_value(json_object_get(n, "node_id")), state};

		snprintf(state, sizeof(state), "%s%s",
			 json_string_value(json_object_get(n, "state")) ?: "-",
			 json_is_true(json_object_get(n, "connected")) ? ", connected" : "");
		table_add(t, row);
	}
	putchar('\n');
	rc = table_print(t, stdout, "  ");
	table_free(t);
	return rc;
}

static int list_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	struct client *cl;
	json_t *list;
	char err[512];
	long status;
	int rc = 0;

	(void)args;
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	list = client_call(cl, "GET", "/v1/overclouds", NULL, &status, err, sizeof(err));
	client_free(cl);
	if (list == NULL)
		return cli_fail("list: %s", err);
	if (ctx->json)
		cli_print_json(list);
	else if (list_print(list) != 0)
		rc = cli_fail("list: out of memory");
	json_decref(list);
	return rc;
}

static int show_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *id = cli_args_arg(args, 0);
	struct client *cl;
	char err[512], path[160];
	json_t *oc;
	long status;

	if (strlen(id) > 64 || strchr(id, '/'))
		return cli_usage(&cli_show_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	snprintf(path, sizeof(path), "/v1/overclouds/%s", id);
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
	if (show_print_nodes(json_object_get(oc, "nodes")) != 0) {
		json_decref(oc);
		return cli_fail("show: out of memory");
	}
	if (json_string_value(json_object_get(oc, "error")))
		printf("\nerror: %s\n", json_string_value(json_object_get(oc, "error")));
	json_decref(oc);
	return 0;
}

const struct cli_command cli_list_entry = {
	.name = "list",
	.usage = "",
	.summary = "list OverClouds",
	.args = {NULL, 0, 0},
	.exec = list_exec,
};

const struct cli_command cli_show_entry = {
	.name = "show",
	.usage = "ID",
	.summary = "an OverCloud's status, steps, nodes and addresses",
	.args = {NULL, 1, 1},
	.exec = show_exec,
};
