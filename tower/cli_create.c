/* cli_create.c — `tower create`: asks for a new OverCloud and, unless
 * --detach, follows it to the end. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "shared/util.h"
#include "tower/cli.h"
#include "tower/client.h"

static int create_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"provider", required_argument, NULL, 'p'},
		{"number", required_argument, NULL, 'n'},
		{"size", required_argument, NULL, 's'},
		{"pattern", required_argument, NULL, 't'},
		{"detach", no_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	const char *provider = NULL, *size = NULL, *pattern = "k8s";
	int64_t number = -1;
	bool detach = false;
	struct client *cl;
	json_t *req, *reply;
	char err[512];
	long status;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': provider = optarg; break;
		case 's': size = optarg; break;
		case 't': pattern = optarg; break;
		case 'd': detach = true; break;
		case 'n':
			if (util_parse_int(optarg, 1, 1000, &number) != 0)
				return cli_fail("--number: \"%s\" is not a whole number from 1 to 1000", optarg);
			break;
		default:
			return cli_usage(&cli_create_entry);
		}
	}
	if (provider == NULL || number < 0 || optind != argc)
		return cli_usage(&cli_create_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	req = json_pack("{s:s, s:I, s:s}", "provider", provider, "number", (json_int_t)number,
			"pattern", pattern);
	if (size != NULL)
		json_object_set_new(req, "size", json_string(size));
	reply = client_call(cl, "POST", "/v1/overclouds", req, &status, err, sizeof(err));
	json_decref(req);
	if (reply == NULL) {
		client_free(cl);
		return cli_fail("create: %s", err);
	}
	if (detach) {
		if (ctx->json)
			cli_print_json(reply);
		else
			printf("%s\n", json_string_value(json_object_get(reply, "overcloud_id")));
		rc = 0;
	} else {
		rc = cli_follow_overcloud(ctx, cl, json_string_value(json_object_get(reply, "overcloud_id")));
	}
	json_decref(reply);
	client_free(cl);
	return rc;
}

const struct cli_command cli_create_entry = {
	.name = "create",
	.usage = "--provider P --number N [--size S] [--pattern NAME] [--detach]",
	.summary = "create an OverCloud (pattern k8s by default) and follow its progress",
	.exec = create_exec,
};
