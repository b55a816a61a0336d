/* cli_userdata.c — `tower userdata`: prints the cloud-init user-data a new
 * node of a role gets (rendered by the tower, with a fresh one-hour token). */
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static const struct cli_option userdata_options[] = {
	{"role", 0, "ROLE", false, "the role the new node takes"},
	{"arch", 0, "ARCH", false, "x86_64 (default), aarch64 or armv7"},
	{NULL, 0, NULL, false, NULL},
};

static int userdata_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *role = cli_args_get(args, "role"), *arch = cli_args_get(args, "arch") ?: "x86_64";
	struct client *cl;
	json_t *req, *reply;
	char err[512];
	long status;

	if (role == NULL)
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
	.args = {userdata_options, 0, 0},
	.exec = userdata_exec,
};
