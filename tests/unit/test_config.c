/* test_config.c — the tower's INI file: sections, keys, comments, overrides,
 * and one clear FILE:LINE error per kind of bad line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tower/config.h"

static struct config *parse(const char *text, char *err, size_t err_size)
{
	return config_parse("t.conf", text, strlen(text), err, err_size);
}

static void test_good_file(void **state)
{
	char err[256] = "";
	struct config *cfg = parse("# comment\n"
				   "; another\n"
				   "[openstack]\n"
				   "auth_url = https://keystone.example:5000/v3\r\n"
				   "  password=p=ss word  \n"
				   "\n"
				   "[AWS]\n"
				   "region = eu-west-1\n"
				   "region = us-east-1\n"
				   "empty =\n",
				   err, sizeof(err));

	assert_non_null(cfg);
	assert_string_equal(config_get(cfg, "openstack", "auth_url"),
			    "https://keystone.example:5000/v3");
	/* Only the first '=' splits; inner spaces stay. */
	assert_string_equal(config_get(cfg, "openstack", "password"), "p=ss word");
	assert_string_equal(config_get(cfg, "aws", "REGION"), "us-east-1");
	assert_string_equal(config_get(cfg, "aws", "empty"), "");
	assert_null(config_get(cfg, "aws", "auth_url"));
	assert_null(config_get(cfg, "gcp", "region"));
	assert_int_equal(config_count(cfg), 4);
	config_free(cfg);
}

static void expect_error(const char *text, const char *want)
{
	char err[256] = "";
	struct config *cfg = parse(text, err, sizeof(err));

	assert_null(cfg);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void test_bad_lines(void **state)
{
	expect_error("key = value\n", "t.conf:1: key outside a [section]");
	expect_error("[aws]\njust words\n", "t.conf:2: expected key = value");
	expect_error("[aws\n", "t.conf:1: section header must be [name]");
	expect_error("[]\n", "t.conf:1: section header must be [name]");
	expect_error("[a b]\n", "t.conf:1: bad section name");
	expect_error("[aws]\n = x\n", "t.conf:2: bad key name");
	expect_error("[aws]\nkey with space = x\n", "t.conf:2: bad key name");
	{
		static const char nul_text[] = "[aws]\nk = a\0b\n";
		char err[256] = "";
		assert_null(config_parse("t.conf", nul_text, sizeof(nul_text) - 1, err, sizeof(err)));
		assert_non_null(strstr(err, "t.conf:2: NUL byte"));
	}
}

static void test_load_file(void **state)
{
	char dir[] = "/tmp/oc-config-XXXXXX", path[256], err[256] = "";
	struct config *cfg;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tower.conf", dir);
	cfg = config_load(path, 1, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(config_count(cfg), 0);
	config_free(cfg);
	assert_null(config_load(path, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[openstack]\nregion = RegionOne\n[aws\n", f);
	fclose(f);
	assert_null(config_load(path, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "tower.conf:3:"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
