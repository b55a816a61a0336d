/* test_role.c — the role.yaml contract: a full role and its defaults, each
 * refusal with its "FILE:LINE: reason", role sets, the packed bundle and the
 * shared files a role includes into it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/bundle.h"
#include "shared/util.h"
#include "tower/engine/role.h"

#define PATHF(buf, ...) assert_true(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

/* Fixtures are copied to a temp dir so modes can be set (git keeps few)
 * and the source tree is never touched. */
struct fixture {
	char dir[64];
	char good[128];
	char bad[128];
	char gen[128];          /* roles written by a test */
};

static char fixtures_src[PATH_MAX];

static void find_fixtures(void)
{
	const char *src = getenv("OC_SRC");
	char here[PATH_MAX];

	if (src != NULL && *src != '\0') {
		PATHF(fixtures_src, "%s/tests/unit/fixtures/roles", src);
		return;
	}
	PATHF(here, "%s", __FILE__);
	*strrchr(here, '/') = '\0';
	PATHF(fixtures_src, "%s/fixtures/roles", here);
}

/* Copies a tree; files starting with "#!" become 0755, others 0644. */
static void copy_tree(const char *from, const char *to)
{
	struct dirent *de;
	DIR *d;

	assert_int_equal(mkdir(to, 0755), 0);
	d = opendir(from);
	if (d == NULL)
		fail_msg("fixtures: %s: %s", from, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char src[PATH_MAX], dst[PATH_MAX];
		struct stat st;
		size_t len;
		char *data;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		PATHF(src, "%s/%s", from, de->d_name);
		PATHF(dst, "%s/%s", to, de->d_name);
		assert_int_equal(lstat(src, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(src, dst);
			continue;
		}
		data = util_read_file(src, 1 << 20, &len);
		assert_non_null(data);
		assert_int_equal(util_write_file(dst, data, len,
						 len >= 2 && memcmp(data, "#!", 2) == 0 ? 0755 : 0644), 0);
		free(data);
	}
	closedir(d);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char from[PATH_MAX];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_role.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	PATHF(f->good, "%s/good", f->dir);
	PATHF(f->bad, "%s/bad", f->dir);
	PATHF(f->gen, "%s/gen", f->dir);
	PATHF(from, "%s/good", fixtures_src);
	copy_tree(from, f->good);
	PATHF(from, "%s/bad", fixtures_src);
	copy_tree(from, f->bad);
	assert_int_equal(mkdir(f->gen, 0755), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(util_remove_tree(f->dir), 0);
	free(f);
	return 0;
}

static struct role *load_ok(const char *dir, const char *name)
{
	char err[512] = "";
	struct role *role = role_load(dir, name, err, sizeof(err));

	if (role == NULL)
		fail_msg("role_load %s: %s", name, err);
	return role;
}

/* Loading must fail with exactly "<dir>/<name>/role.yaml:<line>: <reason>"
 * (line 0: no line), on one line. */
static void expect_error(const char *dir, const char *name, int line, const char *reason)
{
	char err[512] = "", want[1024];
	struct role *role = role_load(dir, name, err, sizeof(err));

	if (role != NULL) {
		role_free(role);
		fail_msg("role %s loaded; wanted \"%s\"", name, reason);
	}
	if (line > 0)
		PATHF(want, "%s/%s/role.yaml:%d: %s", dir, name, line, reason);
	else
		PATHF(want, "%s/%s/role.yaml: %s", dir, name, reason);
	assert_null(strchr(err, '\n'));
	assert_string_equal(err, want);
}

static void test_full_role(void **state)
{
	struct fixture *f = *state;
	struct role *role = load_ok(f->good, "full-role");
	const struct role_input *in;
	const struct role_output *out;
	const struct role_step *st;
	char hash[65];

	assert_string_equal(role->name, "full-role");
	assert_string_equal(role->description, "joins the node to the cluster as a kubeadm worker");
	assert_int_equal(role->arch_count, 2);
	assert_string_equal(role->archs[0], "x86_64");
	assert_string_equal(role->archs[1], "aarch64");
	assert_true(role_supports_arch(role, "aarch64"));
	assert_false(role_supports_arch(role, "armv7"));
	assert_int_equal(role->timeout_s, 20 * 60);
	assert_int_equal(role->retries, 1);

	assert_int_equal(role->input_count, 3);
	in = role_find_input(role, "join_command");
	assert_non_null(in);
	assert_true(in->required);
	assert_true(in->secret);
	assert_null(in->default_value);
	in = role_find_input(role, "node_labels");
	assert_non_null(in);
	assert_false(in->required);
	assert_false(in->secret);
	assert_non_null(in->default_value);
	assert_string_equal(in->default_value, "");
	assert_string_equal(role->inputs[2].name, "cidr");
	assert_string_equal(role->inputs[2].default_value, "10.244.0.0/16");
	assert_null(role_find_input(role, "node_name"));

	assert_int_equal(role->output_count, 2);
	out = role_find_output(role, "node_name");
	assert_non_null(out);
	assert_false(out->secret);
	out = role_find_output(role, "join_command");
	assert_non_null(out);
	assert_true(out->secret);

	assert_int_equal(role->step_count, 3);
	assert_string_equal(role->steps[0].name, "apply");
	assert_string_equal(role->steps[1].name, "remove");
	assert_string_equal(role->steps[2].name, "check");
	st = role_find_step(role, "apply");
	assert_non_null(st);
	assert_string_equal(st->script, "apply");
	assert_int_equal(st->timeout_s, 30 * 60);
	assert_int_equal(st->retries, 1);
	st = role_find_step(role, "remove");
	assert_int_equal(st->timeout_s, 20 * 60);
	assert_int_equal(st->retries, 1);
	st = role_find_step(role, "check");
	assert_string_equal(st->script, "bin/check");
	assert_int_equal(st->retries, 3);
	assert_null(role_find_step(role, "upgrade"));

	assert_non_null(role->bundle);
	assert_true(role->bundle_len > 0);
	util_sha256_hex(role->bundle, role->bundle_len, hash);
	assert_string_equal(role->bundle_hash, hash);
	assert_int_equal(bundle_verify(role->bundle, role->bundle_len, role->bundle_hash), 0);
	role_free(role);
}

/* The bundle is the role directory, and what the agent unpacks runs. */
static void test_bundle_holds_the_role(void **state)
{
	struct fixture *f = *state;
	struct role *role = load_ok(f->good, "full-role");
	struct role *again;
	char dest[PATH_MAX], path[PATH_MAX], err[256] = "";
	struct stat st;

	PATHF(dest, "%s/unpacked", f->dir);
	if (bundle_unpack(role->bundle, role->bundle_len, dest, err, sizeof(err)) != 0)
		fail_msg("bundle_unpack: %s", err);
	PATHF(path, "%s/bin/check", dest);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	PATHF(path, "%s/lib/common.sh", dest);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	PATHF(path, "%s/role.yaml", dest);
	assert_int_equal(stat(path, &st), 0);

	/* Same directory, same hash; a changed script, another one. */
	again = load_ok(f->good, "full-role");
	assert_string_equal(again->bundle_hash, role->bundle_hash);
	role_free(again);
	PATHF(path, "%s/full-role/remove", f->good);
	assert_int_equal(util_write_file(path, "#!/bin/sh\nexit 1\n", 17, 0755), 0);
	again = load_ok(f->good, "full-role");
	assert_string_not_equal(again->bundle_hash, role->bundle_hash);
	role_free(again);
	role_free(role);
}

static void test_minimal_defaults(void **state)
{
	struct fixture *f = *state;
	struct role *role = load_ok(f->good, "minimal");

	assert_string_equal(role->name, "minimal");
	assert_string_equal(role->description, "");
	assert_int_equal(role->arch_count, 3);
	assert_true(role_supports_arch(role, "x86_64"));
	assert_true(role_supports_arch(role, "aarch64"));
	assert_true(role_supports_arch(role, "armv7"));
	assert_false(role_supports_arch(role, "mips"));
	assert_int_equal(role->timeout_s, 30 * 60);
	assert_int_equal(role->retries, 0);
	assert_int_equal(role->input_count, 0);
	assert_int_equal(role->output_count, 0);
	assert_int_equal(role->step_count, 1);
	assert_int_equal(role->steps[0].timeout_s, 30 * 60);
	assert_int_equal(role->steps[0].retries, 0);
	role_free(role);
}

/* ---- the fixture refusals ---- */

static void test_unknown_key(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "unknown-key", 9, "unknown key \"timout\"");
}

static void test_name_mismatch(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "name-mismatch", 3,
		     "name \"Foo\" does not match the directory \"name-mismatch\"");
}

static void test_missing_script(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "missing-script", 6,
		     "step \"remove\": script \"remove\" does not exist");
}

static void test_not_executable(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	PATHF(path, "%s/not-executable/apply", f->bad);
	assert_int_equal(chmod(path, 0644), 0);
	expect_error(f->bad, "not-executable", 5, "step \"apply\": script \"apply\" is not executable");
}

static void test_bad_duration(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "bad-duration", 6,
		     "step \"apply\": timeout \"soon\" is not a duration (like 90s, 15m, 1h)");
}

static void test_bad_retries(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "bad-retries", 2,
		     "retries \"11\" must be a whole number from 0 to 10");
}

static void test_bad_arch(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "bad-arch", 4,
		     "arch \"mips\" is not one of x86_64, aarch64, armv7");
}

static void test_duplicate_input(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "duplicate-input", 7,
		     "duplicate input \"token\"");
}

static void test_invalid_yaml(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", prefix[PATH_MAX];

	assert_null(role_load(f->bad, "invalid-yaml", err, sizeof(err)));
	PATHF(prefix, "%s/invalid-yaml/role.yaml:", f->bad);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_non_null(strstr(err, ": not valid YAML: "));
	assert_null(strchr(err, '\n'));
}

static void test_uppercase_input(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "uppercase-input", 4,
		     "input name \"Node_Labels\" must be 1 to 64 of [a-z0-9_]");
}

static void test_wrong_type(void **state)
{
	expect_error(((struct fixture *)*state)->bad, "wrong-type", 2,
		     "steps must be a mapping, not a list");
}

/* ---- refusals written by the tests ---- */

static void write_role(struct fixture *f, const char *name, const char *yaml)
{
	char dir[PATH_MAX], path[PATH_MAX];

	PATHF(dir, "%s/%s", f->gen, name);
	if (mkdir(dir, 0755) != 0)
		assert_int_equal(errno, EEXIST);
	PATHF(path, "%s/role.yaml", dir);
	assert_int_equal(util_write_file(path, yaml, strlen(yaml), 0644), 0);
	PATHF(path, "%s/apply", dir);
	assert_int_equal(util_write_file(path, "#!/bin/sh\n", 10, 0755), 0);
}

#define STEPS "steps:\n  apply:\n    script: apply\n"

static void gen_error(struct fixture *f, const char *yaml, int line, const char *reason)
{
	write_role(f, "gen", yaml);
	expect_error(f->gen, "gen", line, reason);
}

static void test_durations(void **state)
{
	struct fixture *f = *state;
	struct role *role;

	gen_error(f, "name: gen\ntimeout: 0s\n" STEPS, 2,
		  "timeout \"0s\" must be more than 0 and at most 24h");
	gen_error(f, "name: gen\ntimeout: 25h\n" STEPS, 2,
		  "timeout \"25h\" must be more than 0 and at most 24h");
	gen_error(f, "name: gen\ntimeout: -5m\n" STEPS, 2,
		  "timeout \"-5m\" is not a duration (like 90s, 15m, 1h)");
	gen_error(f, "name: gen\n" STEPS "    timeout: 2d\n", 5,
		  "step \"apply\": timeout \"2d\" must be more than 0 and at most 24h");
	gen_error(f, "name: gen\ntimeout: [1m]\n" STEPS, 2, "timeout must be a scalar, not a list");

	write_role(f, "gen", "name: gen\ntimeout: 1d\nretries: 10\n" STEPS "    timeout: 90\n");
	role = load_ok(f->gen, "gen");
	assert_int_equal(role->timeout_s, 86400);
	assert_int_equal(role->retries, 10);
	assert_int_equal(role->steps[0].timeout_s, 90);
	assert_int_equal(role->steps[0].retries, 10);
	role_free(role);
}

static void test_retries(void **state)
{
	struct fixture *f = *state;

	gen_error(f, "name: gen\nretries: -1\n" STEPS, 2,
		  "retries \"-1\" must be a whole number from 0 to 10");
	gen_error(f, "name: gen\nretries: two\n" STEPS, 2,
		  "retries \"two\" must be a whole number from 0 to 10");
	gen_error(f, "name: gen\n" STEPS "    retries: 1.5\n", 5,
		  "step \"apply\": retries \"1.5\" must be a whole number from 0 to 10");
}

static void test_archs(void **state)
{
	struct fixture *f = *state;

	gen_error(f, "name: gen\narchs: []\n" STEPS, 2, "archs is empty: the role could run nowhere");
	gen_error(f, "name: gen\narchs: [armv7, armv7]\n" STEPS, 2, "duplicate arch \"armv7\"");
	gen_error(f, "name: gen\narchs: x86_64\n" STEPS, 2, "archs must be a list, not a scalar");
	gen_error(f, "name: gen\narchs: [[x86_64]]\n" STEPS, 2, "arch must be a scalar, not a list");
}

static void test_inputs_outputs(void **state)
{
	struct fixture *f = *state;

	gen_error(f, "name: gen\ninputs:\n  - name: a\n    requird: true\n" STEPS, 4,
		  "input \"a\": unknown key \"requird\"");
	gen_error(f, "name: gen\ninputs:\n  - secret: true\n" STEPS, 3, "input has no name");
	gen_error(f, "name: gen\ninputs:\n  - name: a\n    required: yes\n" STEPS, 4,
		  "input \"a\": required must be true or false, not \"yes\"");
	gen_error(f, "name: gen\ninputs:\n  - name: a\n    required: true\n    default: x\n" STEPS, 3,
		  "input \"a\": a required input cannot have a default");
	gen_error(f, "name: gen\ninputs:\n  - name: a\n    default:\n" STEPS, 4,
		  "input \"a\": default has no value (write \"\" for an empty string)");
	gen_error(f, "name: gen\ninputs:\n  - name: a-b\n" STEPS, 3,
		  "input name \"a-b\" must be 1 to 64 of [a-z0-9_]");
	gen_error(f, "name: gen\ninputs:\n  - a\n" STEPS, 3, "an input must be a mapping, not a scalar");
	gen_error(f, "name: gen\ninputs:\n  name: a\n" STEPS, 2,
		  "inputs must be a list, not a mapping");
	gen_error(f, "name: gen\noutputs:\n  - name: x\n  - name: x\n" STEPS, 4,
		  "duplicate output \"x\"");
	gen_error(f, "name: gen\noutputs:\n  - name: x\n    default: y\n" STEPS, 4,
		  "output \"x\": unknown key \"default\"");
}

static void test_steps(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	gen_error(f, "name: gen\nsteps:\n  apply:\n    scrip: apply\n", 4,
		  "step \"apply\": unknown key \"scrip\"");
	gen_error(f, "name: gen\nsteps:\n  apply:\n    timeout: 5m\n", 3,
		  "step \"apply\": missing key \"script\"");
	gen_error(f, "name: gen\nsteps:\n  apply:\n", 3, "step \"apply\": missing key \"script\"");
	gen_error(f, "name: gen\nsteps: {}\n", 2, "steps is empty");
	gen_error(f, "name: gen\nsteps:\n  Apply:\n    script: apply\n", 3,
		  "step name \"Apply\" must be 1 to 64 of [a-z0-9_-]");
	gen_error(f, "name: gen\nsteps:\n  apply:\n    script: ../gen/apply\n", 4,
		  "step \"apply\": script \"../gen/apply\" must be a path inside the role directory");
	gen_error(f, "name: gen\nsteps:\n  apply:\n    script: /bin/sh\n", 4,
		  "step \"apply\": script \"/bin/sh\" must be a path inside the role directory");
	PATHF(path, "%s/gen/sub", f->gen);
	assert_int_equal(mkdir(path, 0755), 0);
	gen_error(f, "name: gen\nsteps:\n  apply:\n    script: sub\n", 4,
		  "step \"apply\": script \"sub\" is not a regular file");
	PATHF(path, "%s/gen/link", f->gen);
	assert_int_equal(symlink("apply", path), 0);
	gen_error(f, "name: gen\nsteps:\n  apply:\n    script: link\n", 4,
		  "step \"apply\": script \"link\" is not a regular file");
	/* A symlink anywhere in the dir makes the bundle refuse it. */
	write_role(f, "gen", "name: gen\n" STEPS);
	{
		char err[512] = "";

		assert_null(role_load(f->gen, "gen", err, sizeof(err)));
		assert_non_null(strstr(err, "cannot pack the role: \"link\": symlink not allowed"));
	}
}

static void test_document_shape(void **state)
{
	struct fixture *f = *state;

	gen_error(f, "", 1, "empty file, expected a mapping");
	gen_error(f, "# only a comment\n", 1, "empty file, expected a mapping");
	gen_error(f, "- name: gen\n", 1, "the file must hold a mapping, not a list");
	gen_error(f, "just text\n", 1, "the file must hold a mapping, not a scalar");
	gen_error(f, "description: x\n" STEPS, 1, "missing key \"name\"");
	gen_error(f, "\nname: gen\n", 2, "missing key \"steps\"");
	gen_error(f, "name: gen\n" STEPS "---\nname: other\n", 6, "more than one YAML document");
	gen_error(f, "name: gen\ndescription: &d hello\ninputs:\n  - name: a\n    default: *d\n" STEPS,
		  5, "input \"a\": default must be a scalar, not an alias");
	gen_error(f, "name: gen\ndescription:\n" STEPS, 2,
		  "description has no value (write \"\" for an empty string)");
	gen_error(f, "name: gen\n? [a, b]\n: c\n" STEPS, 2, "keys must be plain strings, not a list");
	gen_error(f, "name: gen\nname: gen\n" STEPS, 2, "not valid YAML: duplicate key");
	gen_error(f, "name: gen\n\"time\\nout\": 5m\n" STEPS, 2, "unknown key \"time?out\"");
	gen_error(f, "name: gen\ndescription: \"a\\0b\"\n" STEPS, 2, "description holds a NUL byte");
	/* libfyaml 0.7.12 never returns on this one: it must not get it. */
	gen_error(f, "%\xff\nname: gen\n" STEPS, 1, "not valid YAML: not UTF-8");
	gen_error(f, "name: gen\ndescription: caf\xc3\xa9 \xc0\xafx\n" STEPS, 2,
		  "not valid YAML: not UTF-8");
	gen_error(f, "name: gen\ndescription: \xed\xa0\x80\n" STEPS, 2, "not valid YAML: not UTF-8");
	write_role(f, "gen", "name: gen\ndescription: caf\xc3\xa9 \xf0\x9f\x9a\x80\n" STEPS);
	{
		struct role *role = load_ok(f->gen, "gen");

		assert_string_equal(role->description, "caf\xc3\xa9 \xf0\x9f\x9a\x80");
		role_free(role);
	}
}

/* libfyaml must not print to stderr: the error string is the only report. */
static void test_yaml_errors_are_quiet(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], err[512];
	int saved, fd;
	struct stat st;

	PATHF(path, "%s/stderr", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	write_role(f, "gen", "name: gen\n\tsteps: [\n");
	assert_null(role_load(f->gen, "gen", err, sizeof(err)));
	write_role(f, "gen", "");
	assert_null(role_load(f->gen, "gen", err, sizeof(err)));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
}

static void test_bad_role_names(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", want[PATH_MAX];

	assert_null(role_load(f->good, "../good/minimal", err, sizeof(err)));
	PATHF(want, "%s/../good/minimal: role directory name must be 1 to 64 of [a-z0-9-]", f->good);
	assert_string_equal(err, want);
	assert_null(role_load(f->good, "", err, sizeof(err)));
	assert_null(role_load(f->good, "Full-Role", err, sizeof(err)));
	assert_null(role_load(f->good, "nope", err, sizeof(err)));
	PATHF(want, "%s/nope/role.yaml: No such file or directory", f->good);
	assert_string_equal(err, want);
}

/* ---- includes from <roles_dir>/_shared ---- */

static void put_shared(struct fixture *f, const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX];

	PATHF(path, "%s/" ROLE_SHARED_DIR, f->gen);
	if (mkdir(path, 0755) != 0)
		assert_int_equal(errno, EEXIST);
	PATHF(path, "%s/" ROLE_SHARED_DIR "/%s", f->gen, name);
	assert_int_equal(util_write_file(path, text, strlen(text), mode), 0);
}

static void expect_unpacked(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX];
	struct stat st;
	size_t len;
	char *got;

	PATHF(path, "%s/%s", dir, name);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, mode);
	got = util_read_file(path, 1 << 20, &len);
	assert_non_null(got);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(got, text, len);
	free(got);
}

#define LIB_SH "say() { echo \"$*\"; }\n"
#define TOOL "#!/bin/sh\necho tool\n"

/* The included files are in the bundle at its top with their bytes and
 * modes, the bundle is that of the directory with them copied in, and a
 * change to a shared file changes the hash of every role including it. */
static void test_includes_in_bundle(void **state)
{
	struct fixture *f = *state;
	struct role *role, *other, *plain, *again;
	char dest[PATH_MAX], copy[PATH_MAX], path[PATH_MAX], err[256] = "";
	uint8_t *want;
	size_t want_len;

	put_shared(f, "lib.sh", LIB_SH, 0644);
	put_shared(f, "tool", TOOL, 0755);
	put_shared(f, "unused.sh", "unused\n", 0644);
	write_role(f, "gen", "name: gen\ninclude: [tool, lib.sh]\n" STEPS);
	write_role(f, "other", "name: other\ninclude:\n  - lib.sh\n" STEPS);
	write_role(f, "plain", "name: plain\n" STEPS);
	role = load_ok(f->gen, "gen");
	assert_int_equal(role->include_count, 2);
	assert_string_equal(role->includes[0], "tool");
	assert_string_equal(role->includes[1], "lib.sh");

	PATHF(dest, "%s/unpacked", f->dir);
	if (bundle_unpack(role->bundle, role->bundle_len, dest, err, sizeof(err)) != 0)
		fail_msg("bundle_unpack: %s", err);
	expect_unpacked(dest, "lib.sh", LIB_SH, 0644);
	expect_unpacked(dest, "tool", TOOL, 0755);
	expect_unpacked(dest, "apply", "#!/bin/sh\n", 0755);
	PATHF(path, "%s/unused.sh", dest);
	assert_int_equal(access(path, F_OK), -1);

	/* Byte for byte the bundle of a directory holding copies. */
	PATHF(copy, "%s/copy", f->dir);
	copy_tree(dest, copy);
	if (bundle_pack_dir(copy, &want, &want_len, err, sizeof(err)) != 0)
		fail_msg("bundle_pack_dir: %s", err);
	assert_int_equal(role->bundle_len, want_len);
	assert_memory_equal(role->bundle, want, want_len);
	free(want);

	/* A shared file changes: the roles including it change, no other. */
	other = load_ok(f->gen, "other");
	plain = load_ok(f->gen, "plain");
	put_shared(f, "lib.sh", "say() { :; }\n", 0644);
	again = load_ok(f->gen, "gen");
	assert_string_not_equal(again->bundle_hash, role->bundle_hash);
	role_free(again);
	again = load_ok(f->gen, "other");
	assert_string_not_equal(again->bundle_hash, other->bundle_hash);
	role_free(again);
	again = load_ok(f->gen, "plain");
	assert_string_equal(again->bundle_hash, plain->bundle_hash);
	role_free(again);
	/* So does its mode alone. */
	put_shared(f, "lib.sh", LIB_SH, 0755);
	again = load_ok(f->gen, "other");
	assert_string_not_equal(again->bundle_hash, other->bundle_hash);
	role_free(again);
	put_shared(f, "lib.sh", LIB_SH, 0644);
	again = load_ok(f->gen, "other");
	assert_string_equal(again->bundle_hash, other->bundle_hash);
	role_free(again);
	role_free(plain);
	role_free(other);
	role_free(role);
}

static void test_include_refusals(void **state)
{
	/* As written in the YAML (double-quoted) and as the message shows it. */
	static const struct {
		const char *yaml, *shown;
	} bad_names[] = {
		{"../gen/apply", "../gen/apply"}, {"sub/lib.sh", "sub/lib.sh"}, {"..", ".."},
		{".", "."}, {".hidden", ".hidden"}, {"", ""}, {"a\\tb", "a?b"},
	};
	struct fixture *f = *state;
	char shared[PATH_MAX], want[PATH_MAX + 64], path[PATH_MAX];

	put_shared(f, "lib.sh", LIB_SH, 0644);
	put_shared(f, "apply", "#!/bin/sh\n", 0755);
	PATHF(shared, "%s/" ROLE_SHARED_DIR, f->gen);
	PATHF(path, "%s/dir", shared);
	assert_int_equal(mkdir(path, 0755), 0);
	PATHF(path, "%s/link", shared);
	assert_int_equal(symlink("lib.sh", path), 0);

	PATHF(want, "include \"nope.sh\" does not exist in %s", shared);
	gen_error(f, "name: gen\ninclude: [lib.sh, nope.sh]\n" STEPS, 2, want);
	gen_error(f, "name: gen\ninclude:\n  - lib.sh\n  - nope.sh\n" STEPS, 4, want);
	for (size_t i = 0; i < OC_ARRAY_LEN(bad_names); i++) {
		char yaml[256];

		PATHF(yaml, "name: gen\ninclude: [\"%s\"]\n" STEPS, bad_names[i].yaml);
		PATHF(want, "include \"%s\" must be a plain file name of _shared "
		      "(no \"/\", not starting with \".\")", bad_names[i].shown);
		gen_error(f, yaml, 2, want);
	}
	gen_error(f, "name: gen\ninclude: [apply]\n" STEPS, 2,
		  "include \"apply\" clashes with the role directory's own \"apply\"");
	gen_error(f, "name: gen\ninclude:\n  - lib.sh\n  - lib.sh\n" STEPS, 4,
		  "duplicate include \"lib.sh\"");
	PATHF(want, "include \"dir\" is not a regular file in %s", shared);
	gen_error(f, "name: gen\ninclude: [dir]\n" STEPS, 2, want);
	PATHF(want, "include \"link\" is not a regular file in %s", shared);
	gen_error(f, "name: gen\ninclude: [link]\n" STEPS, 2, want);
	gen_error(f, "name: gen\ninclude: lib.sh\n" STEPS, 2, "include must be a list, not a scalar");
	gen_error(f, "name: gen\ninclude:\n" STEPS, 2, "include must be a list, not a scalar");
	gen_error(f, "name: gen\ninclude: [[lib.sh]]\n" STEPS, 2,
		  "an include must be a scalar, not a list");
	gen_error(f, "name: gen\nincludes: [lib.sh]\n" STEPS, 2, "unknown key \"includes\"");

	/* Without a shared dir at all. */
	assert_int_equal(util_remove_tree(shared), 0);
	PATHF(want, "include \"lib.sh\" does not exist in %s", shared);
	gen_error(f, "name: gen\ninclude: [lib.sh]\n" STEPS, 2, want);
}

/* ---- sets ---- */

static void test_set_load(void **state)
{
	struct fixture *f = *state;
	struct role_set *set;
	char err[512] = "";

	set = role_set_load(f->good, err, sizeof(err));
	if (set == NULL)
		fail_msg("role_set_load: %s", err);
	/* not-a-role has no role.yaml and is skipped. */
	assert_int_equal(role_set_count(set), 2);
	assert_string_equal(role_set_at(set, 0)->name, "full-role");
	assert_string_equal(role_set_at(set, 1)->name, "minimal");
	assert_null(role_set_at(set, 2));
	assert_ptr_equal(role_set_find(set, "minimal"), role_set_at(set, 1));
	assert_ptr_equal(role_set_find(set, "full-role"), role_set_at(set, 0));
	assert_null(role_set_find(set, "k8s-worker"));
	role_set_free(set);
}

static void test_set_names_first_bad_file(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", want[PATH_MAX];

	/* Sorted, bad-arch comes first. */
	assert_null(role_set_load(f->bad, err, sizeof(err)));
	PATHF(want, "%s/bad-arch/role.yaml:4: arch \"mips\" is not one of x86_64, aarch64, armv7",
	      f->bad);
	assert_string_equal(err, want);
}

/* _shared holds no role, even with a role.yaml in it; the roles load with
 * their includes. */
static void test_set_skips_shared(void **state)
{
	struct fixture *f = *state;
	struct role_set *set;
	char err[512] = "", path[PATH_MAX];

	put_shared(f, "lib.sh", LIB_SH, 0644);
	PATHF(path, "%s/" ROLE_SHARED_DIR "/role.yaml", f->gen);
	assert_int_equal(util_write_file(path, "name: _shared\n", 14, 0644), 0);
	write_role(f, "gen", "name: gen\ninclude: [lib.sh]\n" STEPS);
	set = role_set_load(f->gen, err, sizeof(err));
	if (set == NULL)
		fail_msg("role_set_load: %s", err);
	assert_int_equal(role_set_count(set), 1);
	assert_string_equal(role_set_at(set, 0)->name, "gen");
	assert_int_equal(role_set_at(set, 0)->include_count, 1);
	role_set_free(set);
}

static void test_set_empty_and_missing(void **state)
{
	struct fixture *f = *state;
	struct role_set *set;
	char err[512] = "", path[PATH_MAX];

	set = role_set_load(f->gen, err, sizeof(err));
	assert_non_null(set);
	assert_int_equal(role_set_count(set), 0);
	assert_null(role_set_find(set, "x"));
	role_set_free(set);
	PATHF(path, "%s/missing", f->dir);
	assert_null(role_set_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_full_role),
		T(test_bundle_holds_the_role),
		T(test_minimal_defaults),
		T(test_unknown_key),
		T(test_name_mismatch),
		T(test_missing_script),
		T(test_not_executable),
		T(test_bad_duration),
		T(test_bad_retries),
		T(test_bad_arch),
		T(test_duplicate_input),
		T(test_invalid_yaml),
		T(test_uppercase_input),
		T(test_wrong_type),
		T(test_durations),
		T(test_retries),
		T(test_archs),
		T(test_inputs_outputs),
		T(test_steps),
		T(test_document_shape),
		T(test_yaml_errors_are_quiet),
		T(test_bad_role_names),
		T(test_includes_in_bundle),
		T(test_include_refusals),
		T(test_set_load),
		T(test_set_names_first_bad_file),
		T(test_set_skips_shared),
		T(test_set_empty_and_missing),
#undef T
	};

	find_fixtures();
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
