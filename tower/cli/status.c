/* status.c — `tower status`: the tower replicas sharing the database, which one
 * leads (holds the lease) and the lease's age, from GET /v1/replicas. */
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static const struct cli_option status_options[] = {
	{NULL, 0, NULL, false, NULL},
};

static int status_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	struct client *cl = cli_client(ctx);
	json_t *reply, *r;
	const char *leader;
	char err[512];
	long status;
	size_t i;

	(void)args;
	if (cl == NULL)
		return 1;
	reply = client_call(cl, "GET", "/v1/replicas", NULL, &status, err, sizeof(err));
	client_free(cl);
	if (reply == NULL)
		return cli_fail("status: %s", err);
	if (ctx->json) {
		cli_print_json(reply);
		json_decref(reply);
		return 0;
	}
	leader = json_string_value(json_object_get(reply, "leader"));
	if (!json_is_true(json_object_get(reply, "shared")))
		printf("one tower: its store is its own (sqlite), so it leads with no lease\n");
	else
		printf("leader: %s (lease token %lld, renewed %.1fs ago, %.1fs left of %llds)\n",
		       leader ? leader : "none",
		       (long long)json_integer_value(json_object_get(reply, "token")),
		       json_real_value(json_object_get(reply, "lease_age_s")),
		       json_real_value(json_object_get(reply, "lease_expires_in_s")),
		       (long long)json_integer_value(json_object_get(reply, "lease_ttl_s")));
	printf("%-24s %-8s %-24s %-24s %s\n", "REPLICA", "ROLE", "API", "AGENTS", "SEEN");
	json_array_foreach(json_object_get(reply, "replicas"), i, r) {
		const char *id = json_string_value(json_object_get(r, "id"));
		bool self = id != NULL &&
			    strcmp(id, json_string_value(json_object_get(reply, "this")) ?: "") == 0;

		printf("%-24s %-8s %-24s %-24s %.1fs ago%s\n", id ? id : "",
		       json_is_true(json_object_get(r, "leader")) ? "leader" : "replica",
		       json_string_value(json_object_get(r, "api")) ?: "",
		       json_string_value(json_object_get(r, "agents")) ?: "",
		       json_real_value(json_object_get(r, "seen_age_s")), self ? " (this one)" : "");
	}
	json_decref(reply);
	return 0;
}

const struct cli_command cli_status_entry = {
	.name = "status",
	.usage = "",
	.summary = "show the tower replicas, the leader and the lease's age",
	.args = {status_options, 0, 0},
	.exec = status_exec,
};
