/* cli_nodes.c — `tower nodes`: lists enrolled nodes; `tower nodes delete ID`
 * removes one and revokes its certificate. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shared/util.h"
#include "tower/cli/cli.h"
#include "tower/cli/client.h"
#include "tower/cli/table.h"

static void format_ago(json_t *last_seen, char *out, size_t size)
{
	int64_t ago;

	if (!json_is_integer(last_seen)) {
		snprintf(out, size, "never");
		return;
	}
	ago = util_now() - json_integer_value(last_seen);
	if (ago < 0)
		ago = 0;
	if (ago < 120)
		snprintf(out, size, "%llds ago", (long long)ago);
	else if (ago < 7200)
		snprintf(out, size, "%lldm ago", (long long)ago / 60);
	else
		snprintf(out, size, "%lldh ago", (long long)ago / 3600);
}

/* CPU busy ("12%") and memory used of total ("1.2G/3.8G") of a connected
 * node that sends figures; NULL cells ("-") otherwise. */
static void format_figures(json_t *node, char *cpu, char *mem, size_t size, const char **cpu_cell,
			   const char **mem_cell)
{
	json_t *m = json_object_get(node, "metrics");
	char used[16], total[16];

	*cpu_cell = *mem_cell = NULL;
	if (!json_is_object(m) ||
	    strcmp(json_string_value(json_object_get(node, "state")) ?: "", "connected") != 0)
		return;
	snprintf(cpu, size, "%.0f%%", json_number_value(json_object_get(m, "cpu")));
	table_format_bytes((uint64_t)json_integer_value(json_object_get(m, "mem_used")), used,
			   sizeof(used));
	table_format_bytes((uint64_t)json_integer_value(json_object_get(m, "mem_total")), total,
			   sizeof(total));
	snprintf(mem, size, "%s/%s", used, total);
	*cpu_cell = cpu;
	*mem_cell = mem;
}

/* The human form of GET /v1/nodes. 0, or -1 when out of memory. */
static int nodes_print(json_t *nodes)
{
	static const char *const headers[] = {"ID",  "NAME", "ARCH", "ROLE",
					      "STATE", "CPU", "MEM", "LAST SEEN"};
	struct table *t = table_new(OC_ARRAY_LEN(headers), headers);
	char ago[32], cpu[16], mem[40];
	json_t *n;
	size_t i;
	int rc;

	table_align_right(t, 5);
	table_align_right(t, 6);
	json_array_foreach(nodes, i, n) {
		const char *row[OC_ARRAY_LEN(headers)] = {
			json_string_value(json_object_get(n, "id")),
			json_string_value(json_object_get(n, "name")),
			json_string_value(json_object_get(n, "arch")),
			json_string_value(json_object_get(n, "role")),
			json_string_value(json_object_get(n, "state")), NULL, NULL, ago};

		format_figures(n, cpu, mem, sizeof(mem), &row[5], &row[6]);
		format_ago(json_object_get(n, "last_seen"), ago, sizeof(ago));
		table_add(t, row);
	}
	rc = table_print(t, stdout, NULL);
	table_free(t);
	return rc;
}

static int nodes_list(struct cli_ctx *ctx, struct client *cl)
{
	char err[512];
	long status;
	json_t *reply = client_call(cl, "GET", "/v1/nodes", NULL, &status, err, sizeof(err));
	int rc = 0;

	if (reply == NULL)
		return cli_fail("nodes: %s", err);
	if (ctx->json)
		cli_print_json(reply);
	else if (nodes_print(reply) != 0)
		rc = cli_fail("nodes: out of memory");
	json_decref(reply);
	return rc;
}

static int nodes_delete(struct cli_ctx *ctx, struct client *cl, const char *id)
{
	char err[512], path[256];
	long status;
	json_t *reply;

	if (snprintf(path, sizeof(path), "/v1/nodes/%s", id) >= (int)sizeof(path) ||
	    strchr(id, '/') != NULL || strchr(id, '?') != NULL)
		return cli_fail("nodes delete: \"%s\" is not a node id", id);
	reply = client_call(cl, "DELETE", path, NULL, &status, err, sizeof(err));
	if (reply == NULL)
		return cli_fail("nodes delete: %s", err);
	if (ctx->json)
		cli_print_json(reply);
	else
		printf("node %s deleted; its certificate is revoked\n", id);
	json_decref(reply);
	return 0;
}

static int nodes_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	size_t n = cli_args_count(args);
	struct client *cl;
	int rc;

	if (!(n == 0 || (n == 2 && strcmp(cli_args_arg(args, 0), "delete") == 0)))
		return cli_usage(&cli_nodes_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	rc = n == 0 ? nodes_list(ctx, cl) : nodes_delete(ctx, cl, cli_args_arg(args, 1));
	client_free(cl);
	return rc;
}

const struct cli_command cli_nodes_entry = {
	.name = "nodes",
	.usage = "[delete ID]",
	.summary = "list enrolled nodes (id, name, arch, role, state, cpu, mem, last seen), or delete one",
	.args = {NULL, 0, 2},
	.exec = nodes_exec,
};
