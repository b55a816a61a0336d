/* cli_token.c — `tower token create`: asks the API for a join token and
 * prints it with the ready `overcloud-agent join` line. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared/util.h"
#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static int token_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"role", required_argument, NULL, 'r'},
		{"ttl", required_argument, NULL, 't'},
		{"uses", required_argument, NULL, 'u'},
		{NULL, 0, NULL, 0},
	};
	const char *role = NULL, *ttl = "1h";
	int64_t uses = 1, seconds;
	struct client *cl;
	json_t *req, *reply;
	char err[512];
	long status;
	int c;

	if (argc < 2 || strcmp(argv[1], "create") != 0)
		return cli_usage(&cli_token_entry);
	argc--, argv++;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': role = optarg; break;
		case 't': ttl = optarg; break;
		case 'u':
			if (util_parse_int(optarg, 1, 1000000, &uses) != 0)
				return cli_fail("--uses: \"%s\" is not a number from 1 to 1000000", optarg);
			break;
		default:
			return cli_usage(&cli_token_entry);
		}
	}
	if (role == NULL || optind != argc)
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
	.exec = token_exec,
};
