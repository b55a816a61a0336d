/* cli_create.c — `tower create`: asks for a new OverCloud and, unless
 * --detach, follows it to the end. */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "shared/util.h"
#include "tower/cli/cli.h"
#include "tower/cli/client.h"

/* --part PROVIDER:N[:SIZE][:post] — one provider's share of a heterogeneous
 * OverCloud, as the seed's {"Amazon": {"number", "size", "post"}}. */
static int add_part(json_t *req, const char *spec)
{
	char copy[160], *fields[4] = {0}, *save = NULL, *tok;
	int64_t number;
	size_t n = 0;
	bool post = false;

	if (strlen(spec) >= sizeof(copy))
		return cli_fail("--part: \"%.40s...\" is too long", spec);
	snprintf(copy, sizeof(copy), "%s", spec);
	for (tok = strtok_r(copy, ":", &save); tok != NULL && n < 4; tok = strtok_r(NULL, ":", &save))
		fields[n++] = tok;
	if (tok != NULL || n < 2 || util_parse_int(fields[1], 0, 1000, &number) != 0)
		return cli_fail("--part: \"%s\" is not PROVIDER:N[:SIZE][:post]", spec);
	if (n >= 3 && strcmp(fields[n - 1], "post") == 0) {
		post = true;
		n--;
	}
	if (n > 3)
		return cli_fail("--part: \"%s\" is not PROVIDER:N[:SIZE][:post]", spec);
	json_object_set_new(req, fields[0], json_pack("{s:I, s:s, s:s*}", "number", (json_int_t)number,
						     "post", post ? "yes" : "no",
						     "size", n == 3 ? fields[2] : NULL));
	return 0;
}

/* --input NAME=VALUE — a pattern input (the API's "inputs"); each name once. */
static int add_input(json_t *inputs, const char *spec)
{
	const char *eq = strchr(spec, '=');
	char name[65];

	if (eq == NULL || eq == spec || (size_t)(eq - spec) >= sizeof(name))
		return cli_fail("--input: \"%.60s\" is not NAME=VALUE", spec);
	memcpy(name, spec, (size_t)(eq - spec));
	name[eq - spec] = '\0';
	if (json_object_get(inputs, name) != NULL)
		return cli_fail("--input: %s given twice", name);
	json_object_set_new(inputs, name, json_string(eq + 1));
	return 0;
}

static const struct cli_option create_options[] = {
	{"provider", 0, "P", false, "the cloud provider: local, openstack or aws"},
	{"number", 0, "N", false, "how many cluster nodes, 1 to 1000"},
	{"size", 0, "S", false, "the provider's instance size (flavor, instance type)"},
	{"pattern", 0, "NAME", false, "the pattern to build (default k8s)"},
	{"input", 0, "NAME=VALUE", true, "a pattern input, each NAME once"},
	{"part", 0, "PROVIDER:N[:SIZE][:post]", true,
	 "one provider's share of a heterogeneous OverCloud"},
	{"detach", 0, NULL, false, "print the OverCloud's id and return at once"},
	{NULL, 0, NULL, false, NULL},
};

static int create_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	json_t *parts = json_object(), *inputs = json_object();
	const char *provider = cli_args_get(args, "provider"), *size = cli_args_get(args, "size");
	const char *pattern = cli_args_get(args, "pattern") ?: "k8s", *number_arg, *v;
	bool detach = cli_args_has(args, "detach");
	int64_t number = -1;
	size_t cursor = 0;
	struct client *cl;
	json_t *req, *reply;
	char err[512];
	long status;
	int rc;

	while ((v = cli_args_next(args, "part", &cursor)) != NULL)
		if (add_part(parts, v) != 0)
			goto fail;
	cursor = 0;
	while ((v = cli_args_next(args, "input", &cursor)) != NULL)
		if (add_input(inputs, v) != 0)
			goto fail;
	number_arg = cli_args_get(args, "number");
	if (number_arg != NULL && util_parse_int(number_arg, 1, 1000, &number) != 0) {
		cli_fail("--number: \"%s\" is not a whole number from 1 to 1000", number_arg);
		goto fail;
	}
	/* Parts make it heterogeneous; then number and size are per part. */
	if (json_object_size(parts) > 0 && provider == NULL)
		provider = "heterogeneous";
	if (provider == NULL ||
	    (json_object_size(parts) == 0 && number < 0) ||
	    (json_object_size(parts) > 0 && (number >= 0 || size != NULL))) {
		json_decref(parts);
		json_decref(inputs);
		return cli_usage(&cli_create_entry);
	}
	cl = cli_client(ctx);
	if (cl == NULL)
		goto fail;
	req = json_pack("{s:s, s:s}", "provider", provider, "pattern", pattern);
	if (number >= 0)
		json_object_set_new(req, "number", json_integer(number));
	if (size != NULL)
		json_object_set_new(req, "size", json_string(size));
	json_object_update(req, parts);
	json_decref(parts);
	if (json_object_size(inputs) > 0)
		json_object_set(req, "inputs", inputs);
	json_decref(inputs);
	reply = client_call(cl, "POST", "/v1/overclouds", req, &status, err, sizeof(err));
	json_decref(req);
	if (reply == NULL) {
		client_free(cl);
		return cli_fail("create: %s", err);
	}
	rc = cli_after_start(ctx, cl, reply, detach,
			     json_string_value(json_object_get(reply, "overcloud_id")) ?: "");
	json_decref(reply);
	client_free(cl);
	return rc;
fail:
	json_decref(parts);
	json_decref(inputs);
	return 1;
}

const struct cli_command cli_create_entry = {
	.name = "create",
	.usage = "--provider P --number N [--size S] [--pattern NAME] [--input NAME=VALUE]...\n"
		 "                   [--detach]\n"
		 "                   | --part PROVIDER:N[:SIZE][:post] ... (heterogeneous)",
	.summary = "create an OverCloud (pattern k8s by default) and follow its progress",
	.args = {create_options, 0, 0},
	.exec = create_exec,
};
