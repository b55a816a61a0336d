/* test_provider_aws.c — the aws provider's settings: tower.conf [aws], the
 * standard AWS_* variables overriding it, refusals with one-line reasons that
 * never hold a secret; and the "Amazon" spelling.
 *
 * With `tool CONFIG create OC NAME USERDATA_FILE [SIZE]` or
 * `tool CONFIG destroy OC HANDLE` it drives the provider for
 * tests/integration/test_provider_aws.sh against the fake EC2 (prints
 * "<handle>\t<address>" after a create). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/config.h"
#include "tower/providers/provider.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "FQoGZXIvYXdzEXAMPLEsessiontoken"

static const char *const aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
	"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE",
};

static void clear_env(void)
{
	for (size_t i = 0; i < OC_ARRAY_LEN(aws_vars); i++)
		unsetenv(aws_vars[i]);
}

static int setup(void **state)
{
	clear_env();
	return 0;
}

static struct config *conf(const char *text)
{
	char err[256];
	struct config *cfg = config_parse("t.conf", text, strlen(text), err, sizeof(err));

	if (cfg == NULL)
		fail_msg("config: %s", err);
	return cfg;
}

static const struct provider_ops *aws(void)
{
	const struct provider_ops *ops = provider_find("aws");

	assert_non_null(ops);
	return ops;
}

static void expect_open_error(const char *text, const char *want)
{
	struct config *cfg = conf(text);
	struct provider_env env = {.config = cfg};
	char err[512] = "";
	void *ctx = aws()->open(&env, err, sizeof(err));

	if (ctx != NULL)
		fail_msg("opened with %s", text);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_null(strchr(err, '\n'));
	assert_null(strstr(err, SECRET));
	assert_null(strstr(err, TOKEN));
	config_free(cfg);
}

#define GOOD "[aws]\nregion = eu-west-1\nimage = ami-0123456789abcdef0\naccess_key_id = AKIDEXAMPLE\n" \
	     "secret_access_key = " SECRET "\nsession_token = " TOKEN "\n"

static void test_find(void **state)
{
	assert_ptr_equal(provider_find("Amazon"), aws());
	assert_ptr_equal(provider_find("AMAZON"), aws());
	assert_ptr_equal(provider_find("AWS"), aws());
	assert_true(aws()->wants_user_data);
	assert_string_equal(aws()->name, "aws");
	assert_null(provider_find("amazonx"));
}

static void test_open_good(void **state)
{
	struct config *cfg = conf(GOOD "endpoint = https://127.0.0.1:8443/\nboot_timeout = 2m\n"
				       "poll_interval = 250ms\nmax_tries = 3\n");
	struct provider_env env = {.config = cfg};
	char err[256] = "";
	void *ctx = aws()->open(&env, err, sizeof(err));

	if (ctx == NULL)
		fail_msg("%s", err);
	aws()->close(ctx);
	config_free(cfg);
}

static void test_open_refusals(void **state)
{
	expect_open_error("[aws]\nimage = ami-01234567\naccess_key_id = A\nsecret_access_key = " SECRET "\n",
			  "no region");
	expect_open_error("[aws]\nregion = us-east-1\nimage = ami-01234567\n", "no credentials");
	expect_open_error("[aws]\nregion = us-east-1\nimage = ami-01234567\naccess_key_id = A\n",
			  "no credentials");
	expect_open_error("[aws]\nregion = us-east-1\naccess_key_id = A\nsecret_access_key = " SECRET "\n",
			  "no image");
	expect_open_error(GOOD "endpoint = http://127.0.0.1:8080/\n", "https://");
	expect_open_error(GOOD "endpoint = https://user@host/\n", "HOST");
	expect_open_error(GOOD "endpoint = https:///\n", "HOST");
	expect_open_error(GOOD "endpoint = https://h/?x=1\n", "HOST");
	expect_open_error(GOOD "boot_timeout = soon\n", "boot_timeout");
	expect_open_error(GOOD "poll_interval = 0ms\n", "poll_interval");
	expect_open_error(GOOD "max_tries = 0\n", "max_tries");
	expect_open_error(GOOD "max_tries = 99\n", "max_tries");
	expect_open_error(GOOD "ca_bundle = /nonexistent/ca.pem\n", "CA bundle");
	expect_open_error("[aws]\nregion = US EAST\nimage = ami-01234567\naccess_key_id = A\n"
			  "secret_access_key = " SECRET "\n",
			  "bad region");
	expect_open_error("[aws]\nregion = us-east-1\nimage = ami-01234567\naccess_key_id = A/B\n"
			  "secret_access_key = " SECRET "\n",
			  "malformed credentials");
	expect_open_error(GOOD "subnet = subnet 1\n", "subnet");
}

/* The standard variables win over the file; keys from the environment come
 * as a set, so the file's session token is not paired with them. */
static void test_environment_overrides(void **state)
{
	setenv("AWS_REGION", "BAD REGION", 1);
	expect_open_error(GOOD, "bad region");
	unsetenv("AWS_REGION");
	setenv("AWS_DEFAULT_REGION", "BAD REGION", 1);
	expect_open_error(GOOD, "bad region");
	unsetenv("AWS_DEFAULT_REGION");
	setenv("AWS_ENDPOINT_URL", "http://plain/", 1);
	expect_open_error(GOOD, "https://");
	/* the EC2-specific one beats the general one */
	setenv("AWS_ENDPOINT_URL_EC2", "http://plain-ec2/", 1);
	expect_open_error(GOOD, "plain-ec2");
	clear_env();
	setenv("AWS_CA_BUNDLE", "/nonexistent/bundle.pem", 1);
	expect_open_error(GOOD, "/nonexistent/bundle.pem");
	clear_env();
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);     /* without its key id */
	expect_open_error(GOOD, "no credentials");
	setenv("AWS_ACCESS_KEY_ID", "AKID WITH SPACE", 1);
	expect_open_error(GOOD, "malformed credentials");
	clear_env();
}

/* Refusals of create that need no network. */
static void test_create_refusals(void **state)
{
	struct config *cfg = conf(GOOD "endpoint = https://127.0.0.1:1/\nmax_tries = 1\n");
	struct provider_env env = {.config = cfg};
	struct provider_node_request req = {.overcloud_id = "oc-1", .name = "oc-1-post-0",
					    .group = "post", .join_token = "x"};
	struct provider_node out;
	char err[512] = "", *big;
	void *ctx = aws()->open(&env, err, sizeof(err));

	assert_non_null(ctx);
	assert_int_equal(aws()->create_node(ctx, &req, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no user-data"));
	big = malloc(20000);
	memset(big, 'x', 19999);
	big[19999] = '\0';
	req.user_data = big;
	assert_int_equal(aws()->create_node(ctx, &req, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "16384"));
	free(big);
	req.user_data = "#cloud-config\n";
	req.size = "t3 small";
	assert_int_equal(aws()->create_node(ctx, &req, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "instance type"));
	/* nothing listens on port 1: a transport failure, one line, no secret */
	req.size = NULL;
	assert_int_equal(aws()->create_node(ctx, &req, &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "RunInstances"));
	assert_null(strchr(err, '\n'));
	assert_null(strstr(err, SECRET));
	/* destroy: nothing made is success, a foreign handle is refused */
	memset(&out, 0, sizeof(out));
	assert_int_equal(aws()->destroy_node(ctx, "oc-1", &out, err, sizeof(err)), 0);
	snprintf(out.handle, sizeof(out.handle), "host:/tmp/x");
	assert_int_equal(aws()->destroy_node(ctx, "oc-1", &out, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not an instance id"));
	aws()->close(ctx);
	config_free(cfg);
}

/* ---- the tool ---- */

static int tool_main(int argc, char **argv)
{
	char err[1024] = "";
	struct config *cfg;
	struct provider_env env = {0};
	struct provider_node node = {0};
	void *ctx;
	int rc = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: test_provider_aws tool CONFIG (create OC NAME USERDATA_FILE [SIZE] | "
				"destroy OC HANDLE)\n");
		return 2;
	}
	cfg = config_load(argv[0], 0, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "tool: %s\n", err);
		return 1;
	}
	env.config = cfg;
	ctx = provider_find("aws")->open(&env, err, sizeof(err));
	if (ctx == NULL) {
		fprintf(stderr, "tool: %s\n", err);
		config_free(cfg);
		return 1;
	}
	if (strcmp(argv[1], "create") == 0 && argc >= 5) {
		size_t len;
		char *ud = util_read_file(argv[4], 1 << 20, &len);
		struct provider_node_request req = {.overcloud_id = argv[2], .name = argv[3],
						    .group = "cluster", .size = argc >= 6 ? argv[5] : NULL,
						    .join_token = "unused", .user_data = ud};
		if (ud == NULL) {
			fprintf(stderr, "tool: %s: %s\n", argv[4], strerror(errno));
		} else if (provider_find("aws")->create_node(ctx, &req, &node, err, sizeof(err)) == 0) {
			printf("%s\t%s\n", node.handle, node.address);
			rc = 0;
		} else {
			fprintf(stderr, "tool: %s\n", err);
		}
		free(ud);
	} else if (strcmp(argv[1], "destroy") == 0) {
		snprintf(node.handle, sizeof(node.handle), "%s", argv[3]);
		if (provider_find("aws")->destroy_node(ctx, argv[2], &node, err, sizeof(err)) == 0)
			rc = 0;
		else
			fprintf(stderr, "tool: %s\n", err);
	} else {
		fprintf(stderr, "tool: unknown command\n");
		rc = 2;
	}
	provider_find("aws")->close(ctx);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_find, setup),
		cmocka_unit_test_setup(test_open_good, setup),
		cmocka_unit_test_setup(test_open_refusals, setup),
		cmocka_unit_test_setup(test_environment_overrides, setup),
		cmocka_unit_test_setup(test_create_refusals, setup),
	};

	log_init("test_provider_aws", OC_LOG_DEBUG);
	if (argc >= 2 && strcmp(argv[1], "tool") == 0)
		return tool_main(argc - 2, argv + 2);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
