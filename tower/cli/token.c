/* cli_token.c — `tower token create`: asks the API for a join token and
 * prints it with the ready `overcloud-agent join` line. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared/util.h"
#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static const struct cli_option token_options[] = {
	{"role", 0, "ROLE", false, "the role the new node takes"},
	{"ttl", 0, "DUR", false, "how long the token is valid (default 1h)"},
	{"uses", 0, "N", false, "how many nodes may join with it (default 1)"},
	{NULL, 0, NULL, false, NULL},
};

static int token_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *role = cli_args_get(args, "role"), *ttl = cli_args_get(args, "ttl") ?: "1h";
	const char *uses_arg = cli_args_get(args, "uses");
	int64_t uses = 1, seconds;
	struct client *cl;
	json_t *req, *reply;
	char err[512];
	long status;

	if (strcmp(cli_args_arg(args, 0), "create") != 0)
		return cli_usage(&cli_token_entry);
	if (uses_arg != NULL && util_parse_int(uses_arg, 1, 1000000, &uses) != 0)
		return cli_fail("--uses: \"%s\" is not a number from 1 to 1000000", uses_arg);
	if (role == NULL)
		return cli_usage(&cli_token_entry);
	if (util_parse_duration(ttl, &seconds) != 0)
		return cli_fail("--ttl: \"%s\" is not a duration like 90s, 15m, 1h or 7d", ttl);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	req = json_pack("{s:s, s:I, s:I}", "role", role, "ttl", (json_int_t)seconds, "uses",
			(json_int_t)uses);
	reply = client_call(cl, "POST", "/v1/tokens", req, &status, err, sizeof(err));
	json_decref(req);
	client_free(cl);
	if (reply == NULL)
		return cli_fail("token create: %s", err);
	if (ctx->json) {
		json_t *out = json_pack("{s:O, s:O}", "token", json_object_get(reply, "token"),
					"join", json_object_get(reply, "join"));
		cli_print_json(out);
		json_decref(out);
	} else {
		/* Two lines, the second the whole command for the new node (a Pi
		 * owner pastes it as it is); the reminder is for people only. */
		printf("token: %s\n%s\n", json_string_value(json_object_get(reply, "token")),
		       json_string_value(json_object_get(reply, "join")));
		fflush(stdout);
		if (isatty(STDOUT_FILENO))
			fprintf(stderr, "(role %s, %lld use(s), expires in %s: run the line above on "
				"the new node)\n", role, (long long)uses, ttl);
	}
	json_decref(reply);
	return 0;
}

const struct cli_command cli_token_entry = {
	.name = "token",
	.usage = "create --role ROLE [--ttl DUR] [--uses N]",
	.summary = "make a join token and print the overcloud-agent join line",
	.args = {token_options, 1, 1},
	.exec = token_exec,
};
