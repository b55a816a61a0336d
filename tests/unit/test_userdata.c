/* test_userdata.c — the cloud-init user-data renderer against the shipped
 * templates (fields, file modes, size), each refusal of bad values or a bad
 * template, and the agent artifacts' lookup and checksum cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "shared/util.h"
#include "tower/boot/artifacts.h"
#include "tower/boot/userdata.h"

#define PATHF(buf, ...) assert_true(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

static const char ca_pem[] =
	"-----BEGIN CERTIFICATE-----\nMIIBljCCATqgAwIBAgIQPJbfpSJ7bikCky5FpRNx9z\n"
	"-----END CERTIFICATE-----\n";
static const char ca_pin[] =
	"sha256:276cc95bf9c56864a83fb94f57e5987c441c55ceec3f0a3ad686438351eee5f3";
static const char agent_sha[] = "12f9b2ef7e1047164f075622329d743ce8471fc345908cf42a9b17302938a7d6";
static const char token[] = "16c7a5eb0712.db74020eb6f0967311805efa2097bd65";

static char shipped[PATH_MAX];   /* the repository's cloud-init/ */
static char scratch[64];         /* templates written by a test */

static void find_shipped(void)
{
	const char *src = getenv("OC_SRC");
	char here[PATH_MAX];

	if (src != NULL && *src != '\0') {
		PATHF(shipped, "%s/cloud-init", src);
		return;
	}
	PATHF(here, "%s", __FILE__);
	*strrchr(here, '/') = '\0';
	PATHF(shipped, "%s/../../cloud-init", here);
}

static struct userdata_params good_params(void)
{
	struct userdata_params p = {
		.template_dir = shipped,
		.tower_host = "10.0.0.5",
		.agent_port = 6126,
		.api_port = 6125,
		.ca_pem = ca_pem,
		.ca_pin = ca_pin,
		.join_token = token,
		.role = "k8s-worker",
		.arch = "aarch64",
		.agent_sha256 = agent_sha,
		.node_name = "oc1-cluster-2",
		.token_expires = 1796601600,
	};
	return p;
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	PATHF(path, "%s/%s", dir, name);
	assert_int_equal(util_write_file(path, text, strlen(text), 0644), 0);
}

static char *read_shipped(const char *name)
{
	char path[PATH_MAX];
	size_t len;
	char *text;

	PATHF(path, "%s/%s", shipped, name);
	text = util_read_file(path, 65536, &len);
	assert_non_null(text);
	return text;
}

/* The write_files entry for path, or NULL. */
static struct fy_node *write_file(struct fy_document *doc, const char *path)
{
	struct fy_node *files = fy_node_by_path(fy_document_root(doc), "/write_files", FY_NT, 0), *f;
	void *it = NULL;

	assert_non_null(files);
	while ((f = fy_node_sequence_iterate(files, &it)) != NULL) {
		const char *p = fy_node_mapping_lookup_scalar0_by_simple_key(f, "path", FY_NT);
		if (p != NULL && strcmp(p, path) == 0)
			return f;
	}
	return NULL;
}

static const char *field(struct fy_node *f, const char *key)
{
	const char *v = fy_node_mapping_lookup_scalar0_by_simple_key(f, key, FY_NT);

	assert_non_null(v);
	return v;
}

/* Only "key = value" lines: what the contract promises a reader of it. */
static bool conf_lines_ok(const char *conf)
{
	const char *line = conf, *nl;

	for (; *line != '\0'; line = nl + 1) {
		const char *eq = strstr(line, " = ");
		nl = strchr(line, '\n');
		if (nl == NULL || eq == NULL || eq > nl || eq == line || eq + 3 == nl ||
		    strcspn(line, " ") != (size_t)(eq - line) || memchr(eq + 3, ' ', nl - eq - 3))
			return false;
	}
	return true;
}

static char *render(const struct userdata_params *p, char *err, size_t err_size)
{
	size_t len = 0;
	char *text = userdata_render(p, &len, err, err_size);

	if (text != NULL)
		assert_int_equal(len, strlen(text));
	return text;
}

static void test_shipped_template(void **state)
{
	struct userdata_params p = good_params();
	char err[512] = "", *text = render(&p, err, sizeof(err));
	char *unit = read_shipped("overcloud-agent.service");
	char *install_unit = read_shipped("overcloud-install-agent.service");
	char *script = read_shipped("install-agent.sh");
	struct fy_document *doc;
	struct fy_node *f, *runcmd;
	const char *conf;

	if (text == NULL)
		fail_msg("render: %s", err);
	assert_true(strncmp(text, "#cloud-config\n", 14) == 0);
	assert_true(strlen(text) <= USERDATA_MAX_BYTES);
	doc = fy_document_build_from_string(NULL, text, FY_NT);
	assert_non_null(doc);

	f = write_file(doc, "/etc/overcloud/ca.pem");
	assert_non_null(f);
	assert_string_equal(field(f, "permissions"), "0644");
	assert_string_equal(field(f, "content"), ca_pem);

	/* The token is a secret: root only. */
	f = write_file(doc, "/etc/overcloud/join.conf");
	assert_non_null(f);
	assert_string_equal(field(f, "permissions"), "0600");
	assert_string_equal(field(f, "owner"), "root:root");
	conf = field(f, "content");
	assert_true(conf_lines_ok(conf));
	assert_true(strncmp(conf, "tower = 10.0.0.5:6126\n", 22) == 0);
	assert_non_null(strstr(conf, "\napi = 10.0.0.5:6125\n"));
	assert_non_null(strstr(conf, "\ntoken = 16c7a5eb0712.db74020eb6f0967311805efa2097bd65\n"));
	assert_non_null(strstr(conf, "\nca_hash = sha256:276cc95bf9c5"));
	assert_non_null(strstr(conf, "\nrole = k8s-worker\n"));
	assert_non_null(strstr(conf, "\narch = aarch64\n"));
	assert_non_null(strstr(conf, "\nagent_sha256 = 12f9b2ef7e10"));
	assert_non_null(strstr(conf, "\nname = oc1-cluster-2\n"));
	/* the install script stops trying before the token is worthless */
	assert_non_null(strstr(conf, "\ntoken_expires = 1796601600\n"));

	/* The unit and the script arrive byte for byte. */
	f = write_file(doc, "/etc/systemd/system/overcloud-agent.service");
	assert_non_null(f);
	assert_string_equal(field(f, "content"), unit);
	/* the boot-time unit that installs until the node has joined */
	f = write_file(doc, "/etc/systemd/system/overcloud-install-agent.service");
	assert_non_null(f);
	assert_string_equal(field(f, "permissions"), "0644");
	assert_string_equal(field(f, "content"), install_unit);
	f = write_file(doc, "/usr/local/sbin/overcloud-install-agent");
	assert_non_null(f);
	assert_string_equal(field(f, "permissions"), "0700");
	assert_string_equal(field(f, "content"), script);

	runcmd = fy_node_by_path(fy_document_root(doc), "/runcmd", FY_NT, 0);
	assert_non_null(runcmd);
	assert_string_equal(fy_node_get_scalar0(fy_node_sequence_get_by_index(runcmd, 0)),
			    "/usr/local/sbin/overcloud-install-agent");
	/* Only these two top-level keys: nothing else runs on the node. */
	assert_int_equal(fy_node_mapping_item_count(fy_document_root(doc)), 2);
	fy_document_destroy(doc);
	free(unit);
	free(install_unit);
	free(script);
	free(text);
}

static void test_optional_name_and_ipv6(void **state)
{
	struct userdata_params p = good_params();
	char err[512], *text;

	p.node_name = NULL;
	p.token_expires = 0;
	p.tower_host = "fd00::5";
	text = render(&p, err, sizeof(err));
	assert_non_null(text);
	assert_null(strstr(text, "name = "));
	assert_null(strstr(text, "token_expires = "));
	assert_non_null(strstr(text, "tower = [fd00::5]:6126\n"));
	assert_non_null(strstr(text, "api = [fd00::5]:6125\n"));
	free(text);
}

/* Each bad value is refused with a reason that names it. */
static void test_bad_values(void **state)
{
	static const struct {
		const char *what, *value, *reason;
	} cases[] = {
		{"arch", "mips", "arch"},
		{"arch", "", "arch"},
		{"role", "K8S worker", "role"},
		{"role", "", "role"},
		{"token", "abc\nruncmd: [reboot]", "token"},
		{"token", "", "token"},
		{"host", "10.0.0.5\nx", "host"},
		{"host", "evil host", "host"},
		{"sha", "12F9", "checksum"},
		{"sha", "zz", "checksum"},
		{"pin", "md5:abc", "pin"},
		{"pem", "not a certificate", "PEM"},
		{"name", "a\nb", "node name"},
	};
	char err[512];

	for (size_t i = 0; i < OC_ARRAY_LEN(cases); i++) {
		struct userdata_params p = good_params();
		if (strcmp(cases[i].what, "arch") == 0) p.arch = cases[i].value;
		if (strcmp(cases[i].what, "role") == 0) p.role = cases[i].value;
		if (strcmp(cases[i].what, "token") == 0) p.join_token = cases[i].value;
		if (strcmp(cases[i].what, "host") == 0) p.tower_host = cases[i].value;
		if (strcmp(cases[i].what, "sha") == 0) p.agent_sha256 = cases[i].value;
		if (strcmp(cases[i].what, "pin") == 0) p.ca_pin = cases[i].value;
		if (strcmp(cases[i].what, "pem") == 0) p.ca_pem = cases[i].value;
		if (strcmp(cases[i].what, "name") == 0) p.node_name = cases[i].value;
		err[0] = '\0';
		if (render(&p, err, sizeof(err)) != NULL)
			fail_msg("%s \"%s\" was accepted", cases[i].what, cases[i].value);
		if (strstr(err, cases[i].reason) == NULL)
			fail_msg("%s: reason \"%s\" does not say %s", cases[i].what, err, cases[i].reason);
	}
	{
		struct userdata_params p = good_params();
		p.agent_port = 0;
		assert_null(render(&p, err, sizeof(err)));
		assert_non_null(strstr(err, "port"));
	}
}

static int make_scratch(void **state)
{
	PATHF(scratch, "/tmp/oc-userdata.XXXXXX");
	assert_non_null(mkdtemp(scratch));
	return 0;
}

static int remove_scratch(void **state)
{
	util_remove_tree(scratch);
	return 0;
}

/* Renders a template written to scratch; returns the error (empty on success). */
static const char *render_template(const char *yaml, char *err, size_t err_size)
{
	struct userdata_params p = good_params();
	char *text;

	write_text(scratch, USERDATA_TEMPLATE, yaml);
	p.template_dir = scratch;
	err[0] = '\0';
	text = render(&p, err, err_size);
	free(text);
	return err;
}

static void test_bad_templates(void **state)
{
	static const struct {
		const char *yaml, *reason;
	} cases[] = {
		{"write_files: []\n", ":1: must start with a #cloud-config line"},
		{"#cloud-config\na: ${nope}\n", ":2: unknown placeholder ${nope}"},
		{"#cloud-config\na: ${file:missing.sh}\n", ":2: ${file:missing.sh}: "},
		{"#cloud-config\na: ${file:../etc/passwd}\n", "name a file in the template dir"},
		{"#cloud-config\na: ${file:.hidden}\n", "name a file in the template dir"},
		{"#cloud-config\na:\n  - ${ca_pem}\n", "placeholders may only be mapping values"},
		{"#cloud-config\n${ca_pem}: x\n", "placeholders"},
		{"#cloud-config\na: &x 1\nb: *x\n", "anchors, aliases or tags"},
		{"#cloud-config\na: !!binary aGk=\n", "anchors, aliases or tags"},
		{"#cloud-config\na: [\n", "USERDATA"},   /* any parse error, with file and line */
		{"#cloud-config\na: 1\n---\nb: 2\n", "USERDATA"},
	};
	char err[512], want[256];

	for (size_t i = 0; i < OC_ARRAY_LEN(cases); i++) {
		render_template(cases[i].yaml, err, sizeof(err));
		if (err[0] == '\0')
			fail_msg("template %zu was accepted:\n%s", i, cases[i].yaml);
		if (strcmp(cases[i].reason, "USERDATA") == 0)
			PATHF(want, "%s/%s:", scratch, USERDATA_TEMPLATE);
		else
			PATHF(want, "%s", cases[i].reason);
		if (strstr(err, want) == NULL)
			fail_msg("template %zu: \"%s\" does not say \"%s\"", i, err, want);
	}
}

static void test_missing_template(void **state)
{
	struct userdata_params p = good_params();
	char err[512], dir[PATH_MAX];

	PATHF(dir, "%s/nowhere", scratch);
	p.template_dir = dir;
	assert_null(render(&p, err, sizeof(err)));
	assert_non_null(strstr(err, "nowhere/user-data.yaml"));
	assert_non_null(strstr(err, strerror(ENOENT)));
}

/* Values keep their type: a value that looks like a number or a boolean is
 * still a string, and text with lines comes back byte for byte. */
static void test_values_round_trip(void **state)
{
	static const char *const files[] = {"0644", "true", "  lead\ntab\t\ntrailing  \n\n\n",
					    "no newline at end\nx", "# not: a comment\n"};
	struct userdata_params p = good_params();
	char err[512], name[32], *text;
	struct fy_document *doc;

	for (size_t i = 0; i < OC_ARRAY_LEN(files); i++) {
		PATHF(name, "f%zu", i);
		write_text(scratch, name, files[i]);
	}
	write_text(scratch, USERDATA_TEMPLATE,
		   "#cloud-config\nf:\n  - a: ${file:f0}\n  - a: ${file:f1}\n  - a: ${file:f2}\n"
		   "  - a: ${file:f3}\n  - a: ${file:f4}\nkeep: '0600'\n");
	p.template_dir = scratch;
	text = render(&p, err, sizeof(err));
	if (text == NULL)
		fail_msg("%s", err);
	doc = fy_document_build_from_string(NULL, text, FY_NT);
	assert_non_null(doc);
	for (size_t i = 0; i < OC_ARRAY_LEN(files); i++) {
		char path[32];
		struct fy_node *n;
		PATHF(path, "/f/%zu/a", i);
		n = fy_node_by_path(fy_document_root(doc), path, FY_NT, 0);
		assert_non_null(n);
		assert_int_not_equal(fy_node_get_style(n), FYNS_PLAIN);
		assert_string_equal(fy_node_get_scalar0(n), files[i]);
	}
	assert_int_equal(fy_node_get_style(fy_node_by_path(fy_document_root(doc), "/keep", FY_NT, 0)),
			 FYNS_SINGLE_QUOTED);
	fy_document_destroy(doc);
	free(text);
}

/* Over AWS's 16 KB the render fails instead of being cut by the cloud. */
static void test_size_limit(void **state)
{
	struct userdata_params p = good_params();
	char big[10 * 1024], err[512], *text;

	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	write_text(scratch, "big", big);
	write_text(scratch, USERDATA_TEMPLATE, "#cloud-config\na: ${file:big}\nb: ${file:big}\n");
	p.template_dir = scratch;
	assert_null(render(&p, err, sizeof(err)));
	assert_non_null(strstr(err, "over the 16384 byte limit"));
	/* One copy fits. */
	write_text(scratch, USERDATA_TEMPLATE, "#cloud-config\na: ${file:big}\n");
	text = render(&p, err, sizeof(err));
	if (text == NULL)
		fail_msg("%s", err);
	free(text);
}

/* ---- artifacts ---- */

static bool fallback_exists(const char *arch)
{
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct stat st;

	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	PATHF(path, "%s/../agents/overcloud-agent-%s", exe, arch);
	if (stat(path, &st) == 0)
		return true;
	PATHF(path, "/usr/lib/overcloud/agents/overcloud-agent-%s", arch);
	if (stat(path, &st) == 0)
		return true;
#ifdef OC_SOURCE_DIR
	/* what `make agents` left in the source tree (the sanitizer build's
	 * towers find build/agents there) */
	PATHF(path, "%s/build/agents/overcloud-agent-%s", OC_SOURCE_DIR, arch);
	if (strncmp(exe, "/usr/", 5) != 0 && stat(path, &st) == 0)
		return true;
#endif
	PATHF(path, "%s/overcloud-agent", exe);
	return strcmp(arch, artifacts_host_arch()) == 0 && stat(path, &st) == 0;
}

static void test_artifacts(void **state)
{
	struct artifacts *a = artifacts_new(scratch);
	char path[PATH_MAX], want_path[PATH_MAX], hex[65], hex2[65], want[65], err[512];
	unsigned char *data;
	size_t len;

	assert_non_null(a);
	assert_true(artifacts_arch_known("armv7"));
	assert_false(artifacts_arch_known("armv6"));
	assert_false(artifacts_arch_known(NULL));
	assert_int_equal(artifacts_agent_sha256(a, "mips", path, hex, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "mips"));

	write_text(scratch, "overcloud-agent-armv7", "first agent\n");
	PATHF(want_path, "%s/overcloud-agent-armv7", scratch);
	util_sha256_hex("first agent\n", 12, want);
	assert_int_equal(artifacts_agent_sha256(a, "armv7", path, hex, err, sizeof(err)), 0);
	assert_string_equal(path, want_path);
	assert_string_equal(hex, want);
	data = artifacts_agent_read(a, "armv7", &len, hex2, err, sizeof(err));
	assert_non_null(data);
	assert_int_equal(len, 12);
	assert_memory_equal(data, "first agent\n", 12);
	assert_string_equal(hex2, want);
	free(data);

	/* Replaced (another size, another inode): hashed again, not served stale. */
	write_text(scratch, "overcloud-agent-armv7", "second agent, longer\n");
	util_sha256_hex("second agent, longer\n", 21, want);
	assert_int_equal(artifacts_agent_sha256(a, "armv7", path, hex, err, sizeof(err)), 0);
	assert_string_equal(hex, want);
	data = artifacts_agent_read(a, "armv7", &len, hex2, err, sizeof(err));
	assert_non_null(data);
	assert_string_equal(hex2, want);
	free(data);

	/* A directory of that name is not an agent. */
	unlink(want_path);
	assert_int_equal(mkdir(want_path, 0755), 0);
	if (!fallback_exists("armv7")) {
		assert_int_equal(artifacts_agent_sha256(a, "armv7", path, hex, err, sizeof(err)), -1);
		assert_int_equal(errno, ENOENT);
		assert_non_null(strstr(err, "no agent binary for armv7"));
		assert_null(artifacts_agent_read(a, "armv7", &len, hex, err, sizeof(err)));
		assert_int_equal(errno, ENOENT);
	}
	rmdir(want_path);
	artifacts_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_template),
		cmocka_unit_test(test_optional_name_and_ipv6),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test_setup_teardown(test_bad_templates, make_scratch, remove_scratch),
		cmocka_unit_test_setup_teardown(test_missing_template, make_scratch, remove_scratch),
		cmocka_unit_test_setup_teardown(test_values_round_trip, make_scratch, remove_scratch),
		cmocka_unit_test_setup_teardown(test_size_limit, make_scratch, remove_scratch),
		cmocka_unit_test_setup_teardown(test_artifacts, make_scratch, remove_scratch),
	};

	find_shipped();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
