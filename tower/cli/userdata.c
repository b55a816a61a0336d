/* cli_userdata.c — `tower userdata`: prints the cloud-init user-data a new
 * node of a role gets (rendered by the tower, with a fresh one-hour token). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static int userdata_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"role", required_argument, NULL, 'r'},
		{"arch", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	const char *role = NULL, *arch = "x86_64";
	struct client *cl;
	json_t *req, *reply;
	char err[512];
	long status;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': role = optarg; break;
		case 'a': arch = optarg; break;
		default:
			return cli_usage(&cli_userdata_entry);
		}
	}
	if (role == NULL || optind != argc)
		return cli_usage(&cli_userdata_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	req = json_pack("{s:s, s:s}", "role", role, "arch", arch);
	reply = client_call(cl, "POST", "/v1/userdata", req, &status, err, sizeof(err));
	json_decref(req);
	client_free(cl);
	if (reply == NULL)
		return cli_fail("userdata: %s", err);
	if (!json_is_string(reply)) {
		json_decref(reply);
		return cli_fail("userdata: the tower did not send YAML");
	}
	if (ctx->json) {
		json_t *out = json_pack("{s:s, s:s, s:O}", "role", role, "arch", arch, "user_data",
					reply);
		cli_print_json(out);
		json_decref(out);
	} else {
		fwrite(json_string_value(reply), 1, json_string_length(reply), stdout);
	}
	json_decref(reply);
	return 0;
}

const struct cli_command cli_userdata_entry = {
	.name = "userdata",
	.usage = "--role ROLE [--arch x86_64|aarch64|armv7]",
	.summary = "print the cloud-init user-data a new node of ROLE boots with (fresh 1h token)",
	.exec = userdata_exec,
};
