/* test_pattern.c — the pattern contract: the real k8s and demo patterns load
 * against the real roles, a small pattern field by field, each refusal with
 * its "FILE:LINE: reason", and pattern sets (sorted, *.yaml only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/util.h"
#include "tower/engine/pattern.h"
#include "tower/engine/role.h"

#define PATHF(buf, ...) assert_true(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

static char src_dir[PATH_MAX];          /* the repository */
static char fixtures_src[PATH_MAX];     /* tests/unit/fixtures/patterns */

/* Per test: a temp dir with the fixture roles copied in (modes set), the
 * fixture role set, and the real role set. */
struct fixture {
	char dir[64];
	char roles_dir[128];
	struct role_set *roles;
	struct role_set *real_roles;
};

static void find_src(void)
{
	const char *src = getenv("OC_SRC");
	char here[PATH_MAX];

	if (src != NULL && *src != '\0') {
		PATHF(src_dir, "%s", src);
	} else {
		PATHF(here, "%s", __FILE__);
		*strrchr(here, '/') = '\0';
		PATHF(src_dir, "%s/../..", here);
	}
	PATHF(fixtures_src, "%s/tests/unit/fixtures/patterns", src_dir);
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
	char from[PATH_MAX], err[512];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/test_pattern.XXXXXX",
		 getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 32 ? getenv("TMPDIR")
									   : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	PATHF(f->roles_dir, "%s/roles", f->dir);
	PATHF(from, "%s/roles", fixtures_src);
	copy_tree(from, f->roles_dir);
	f->roles = role_set_load(f->roles_dir, err, sizeof(err));
	if (f->roles == NULL)
		fail_msg("fixture roles: %s", err);
	PATHF(from, "%s/tower/roles", src_dir);
	f->real_roles = role_set_load(from, err, sizeof(err));
	if (f->real_roles == NULL)
		fail_msg("tower/roles: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	role_set_free(f->roles);
	role_set_free(f->real_roles);
	assert_int_equal(util_remove_tree(f->dir), 0);
	free(f);
	return 0;
}

static void put(const struct fixture *f, const char *rel, const char *text)
{
	char path[PATH_MAX];

	PATHF(path, "%s/%s", f->dir, rel);
	assert_int_equal(util_write_file(path, text, strlen(text), 0644), 0);
}

static const struct pattern_step *step_of(const struct pattern_step *steps, size_t n,
					  const char *name)
{
	const struct pattern_step *st = pattern_find_step(steps, n, name);

	if (st == NULL)
		fail_msg("no step \"%s\"", name);
	return st;
}

static const char *input_of(const struct pattern_step *st, const char *name)
{
	for (size_t i = 0; i < st->input_count; i++)
		if (strcmp(st->inputs[i].name, name) == 0)
			return st->inputs[i].value;
	fail_msg("step %s: no input \"%s\"", st->name, name);
	return NULL;
}

static bool requires_step(const struct pattern_step *st, const char *name)
{
	for (size_t i = 0; i < st->require_count; i++)
		if (strcmp(st->requires[i], name) == 0)
			return true;
	return false;
}

/* ---- the real patterns ---- */

static void test_real_patterns_load(void **state)
{
	struct fixture *f = *state;
	const struct pattern_step *st;
	const struct pattern *k8s, *demo;
	struct pattern_set *set;
	char dir[PATH_MAX], err[1024] = "";

	PATHF(dir, "%s/tower/patterns", src_dir);
	set = pattern_set_load(dir, f->real_roles, err, sizeof(err));
	if (set == NULL)
		fail_msg("tower/patterns: %s", err);
	k8s = pattern_set_find(set, "k8s");
	demo = pattern_set_find(set, "demo");
	assert_non_null(k8s);
	assert_non_null(demo);

	/* k8s: the seed's OverCloud. */
	assert_int_equal(k8s->group_count, 2);
	assert_int_equal(pattern_find_group(k8s, "post")->count, 1);
	assert_false(pattern_find_group(k8s, "post")->from_request);
	assert_string_equal(pattern_find_group(k8s, "post")->role, "k8s-master");
	assert_true(pattern_find_group(k8s, "cluster")->from_request);
	assert_string_equal(pattern_find_group(k8s, "cluster")->role, "k8s-worker");
	assert_string_equal(k8s->create[0].action, "acquire");
	st = step_of(k8s->create, k8s->create_count, "workers");
	assert_string_equal(st->role, "k8s-worker");
	assert_string_equal(st->on, "cluster");
	assert_true(requires_step(st, "master"));
	assert_string_equal(input_of(st, "join_command"),
			    "${{ steps.master.outputs.join_command }}");
	st = step_of(k8s->create, k8s->create_count, "fabric-post");
	assert_string_equal(input_of(st, "post"), "true");
	st = step_of(k8s->create, k8s->create_count, "record");
	assert_true(requires_step(st, "datalake") && requires_step(st, "fabric-post") &&
		    requires_step(st, "fabric-cluster"));
	st = step_of(k8s->destroy, k8s->destroy_count, "release");
	assert_string_equal(st->action, "release");
	assert_true(requires_step(st, "master"));
	st = step_of(k8s->destroy, k8s->destroy_count, "master");
	assert_string_equal(st->role_step, "remove");
	assert_string_equal(k8s->destroy[k8s->destroy_count - 1].action, "record");
	/* k8s attach: an edge device joins with a fresh join command only (no
	 * kubeconfig leaves the post); the post drains it in destroy before it
	 * and the master are reset. */
	st = step_of(k8s->attach, k8s->attach_count, "edge");
	assert_string_equal(st->role, "edge-worker");
	assert_string_equal(st->on, PATTERN_ATTACHED);
	assert_true(requires_step(st, "credentials"));
	assert_string_equal(input_of(st, "join_command"),
			    "${{ steps.credentials.outputs.join_command }}");
	for (size_t i = 0; i < st->input_count; i++)
		assert_string_not_equal(st->inputs[i].name, "kubeconfig");
	st = step_of(k8s->attach, k8s->attach_count, "edge-device");
	assert_string_equal(st->role, "edge-device");
	st = step_of(k8s->destroy, k8s->destroy_count, "drain");
	assert_string_equal(st->role, "k8s-master");
	assert_string_equal(st->role_step, "drain");
	assert_true(requires_step(step_of(k8s->destroy, k8s->destroy_count, "edge"), "drain"));
	st = step_of(k8s->attach, k8s->attach_count, "credentials");
	assert_string_equal(st->role, "k8s-master");
	assert_string_equal(st->on, "post");
	st = step_of(k8s->destroy, k8s->destroy_count, "edge");
	assert_string_equal(st->role, "edge-worker");
	assert_string_equal(st->role_step, "remove");
	assert_string_equal(st->on, PATTERN_ATTACHED);
	assert_true(requires_step(step_of(k8s->destroy, k8s->destroy_count, "master"), "edge"));

	/* demo: harmless work on the local provider. */
	assert_true(pattern_find_group(demo, "cluster")->from_request);
	st = step_of(demo->create, demo->create_count, "cluster-join");
	assert_string_equal(st->role, "demo-cluster");
	assert_string_equal(input_of(st, "secret"), "${{ steps.post-secret.outputs.secret }}");
	st = step_of(demo->create, demo->create_count, "check");
	assert_string_equal(st->on, "post");
	assert_string_equal(input_of(st, "addresses"), "${{ groups.cluster.addresses }}");
	st = step_of(demo->destroy, demo->destroy_count, "release");
	assert_true(requires_step(st, "cluster-leave") && requires_step(st, "post-stop") &&
		    requires_step(st, "edge-leave"));
	assert_string_equal(step_of(demo->destroy, demo->destroy_count, "edge-leave")->on,
			    PATTERN_ATTACHED);
	st = step_of(demo->attach, demo->attach_count, "edge-join");
	assert_string_equal(st->role, "demo-cluster");
	assert_string_equal(st->on, PATTERN_ATTACHED);
	assert_string_equal(input_of(st, "secret"), "${{ steps.post-secret.outputs.secret }}");
	st = step_of(demo->attach, demo->attach_count, "edge-check");
	assert_string_equal(input_of(st, "addresses"), "${{ groups.attached.addresses }}");
	pattern_set_free(set);
}

/* ---- a small pattern, field by field ---- */

static void test_small_fields(void **state)
{
	struct fixture *f = *state;
	const struct pattern_group *g;
	const struct pattern_step *st;
	char path[PATH_MAX], err[1024] = "";
	struct pattern *p;

	PATHF(path, "%s/good/small.yaml", fixtures_src);
	p = pattern_load(path, f->roles, err, sizeof(err));
	if (p == NULL)
		fail_msg("%s", err);
	assert_string_equal(p->name, "small");
	assert_string_equal(p->description, "one server, N clients");

	assert_int_equal(p->group_count, 3);
	assert_string_equal(p->groups[0].name, "head");
	assert_int_equal(p->groups[0].count, 1);
	assert_false(p->groups[0].from_request);
	assert_string_equal(p->groups[0].role, "server");
	assert_string_equal(p->groups[1].name, "workers");
	assert_true(p->groups[1].from_request);
	assert_string_equal(p->groups[1].role, "client");
	g = pattern_find_group(p, "extra");
	assert_ptr_equal(g, &p->groups[2]);
	assert_int_equal(g->count, 3);
	assert_false(g->from_request);
	assert_null(pattern_find_group(p, "all"));
	assert_null(pattern_find_group(p, "nope"));

	assert_int_equal(p->create_count, 4);
	st = &p->create[0];
	assert_string_equal(st->name, "acquire");
	assert_string_equal(st->action, "acquire");
	assert_null(st->role);
	assert_null(st->role_step);
	assert_null(st->on);
	assert_int_equal(st->require_count, 0);
	assert_int_equal(st->input_count, 0);
	assert_int_equal(st->timeout_s, 3600);
	assert_int_equal(st->retries, 0);
	assert_int_equal(st->line, 10);

	st = &p->create[1];
	assert_string_equal(st->name, "serve");
	assert_string_equal(st->role, "server");
	assert_string_equal(st->role_step, "apply");   /* the default */
	assert_null(st->action);
	assert_string_equal(st->on, "head");
	assert_int_equal(st->require_count, 1);
	assert_string_equal(st->requires[0], "acquire");
	assert_int_equal(st->input_count, 1);
	assert_string_equal(st->inputs[0].name, "size");
	assert_string_equal(st->inputs[0].value, "${{ overcloud.size }}");
	assert_int_equal(st->retries, 3);
	assert_int_equal(st->timeout_s, 90);
	assert_int_equal(st->line, 13);

	st = &p->create[2];
	assert_string_equal(st->name, "join");
	assert_string_equal(st->role, "client");
	assert_string_equal(st->role_step, "apply");
	assert_string_equal(st->on, "all");
	assert_int_equal(st->input_count, 2);
	assert_string_equal(st->inputs[0].name, "token");
	assert_string_equal(st->inputs[0].value,
			    "t=${{ steps.serve.outputs.token }} at ${{steps.serve.outputs.url}}");
	assert_string_equal(st->inputs[1].name, "url");
	/* Defaults from the role step: client's apply has retries 4, the
	 * role's default timeout of 30m. */
	assert_int_equal(st->retries, 4);
	assert_int_equal(st->timeout_s, 1800);
	assert_int_equal(st->line, 21);

	st = &p->create[3];
	assert_string_equal(st->action, "record");
	assert_int_equal(st->require_count, 2);
	assert_string_equal(st->requires[0], "join");
	assert_string_equal(st->requires[1], "serve");
	assert_int_equal(st->timeout_s, 1800);      /* actions: 30m */
	assert_ptr_equal(pattern_find_step(p->create, p->create_count, "record"), st);
	assert_null(pattern_find_step(p->create, p->create_count, "leave"));

	assert_int_equal(p->destroy_count, 2);
	st = &p->destroy[0];
	assert_string_equal(st->name, "leave");
	assert_string_equal(st->role_step, "remove");
	assert_string_equal(st->on, "workers");
	assert_string_equal(st->inputs[0].value, "");
	assert_int_equal(st->retries, 0);
	assert_int_equal(st->timeout_s, 1800);
	st = &p->destroy[1];
	assert_string_equal(st->action, "release");
	assert_string_equal(st->requires[0], "leave");
	pattern_free(p);
}

/* Timeouts and retries default to the role step's own. */
static void test_role_step_defaults(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], err[1024] = "";
	struct pattern *p;

	put(f, "d.yaml",
	    "groups: {one: {count: 1, role: server}}\n"
	    "create: [{name: s, role: server, on: one}]\n"
	    "destroy: [{name: s, role: server, step: remove, on: one}]\n");
	PATHF(path, "%s/d.yaml", f->dir);
	p = pattern_load(path, f->roles, err, sizeof(err));
	if (p == NULL)
		fail_msg("%s", err);
	assert_string_equal(p->description, "");
	assert_int_equal(p->create[0].timeout_s, 600);   /* server: 10m */
	assert_int_equal(p->create[0].retries, 2);
	assert_int_equal(p->destroy[0].timeout_s, 300);  /* remove: 5m */
	assert_int_equal(p->destroy[0].retries, 2);
	pattern_free(p);
}

/* ---- refusals ---- */

static const struct {
	const char *file;
	int line;
	const char *reason;
} bad[] = {
	{"cycle", 6, "cycle: a -> c -> b -> a"},
	{"unknown-role", 7, "step \"a\": unknown role \"nosuch\""},
	{"unknown-role-step", 8, "step \"a\": role server has no step \"upgrade\""},
	{"unknown-group", 8, "step \"a\": on: unknown group \"heads\""},
	{"unknown-requires", 10, "step \"b\": requires unknown step \"z\" (not in create)"},
	{"unknown-key", 8, "step \"a\": unknown key \"need\""},
	{"unknown-top-key", 8, "unknown key \"name\""},
	{"duplicate-step", 10, "duplicate step \"a\" in create (first at line 6)"},
	{"bad-template", 14,
	 "step \"c\": input \"token\": ${{ steps.s.token }} is not a reference "
	 "(steps.STEP.outputs.KEY, groups.GROUP.address, groups.GROUP.addresses, "
	 "overcloud.id, overcloud.number, overcloud.size or inputs.NAME)"},
	{"unclosed-template", 10, "step \"s\": input \"size\": \"${{\" without a closing \"}}\""},
	{"undeclared-output", 14,
	 "step \"c\": input \"token\": ${{ steps.s.outputs.password }}: role server (step "
	 "\"s\") has no output \"password\""},
	{"not-required", 13,
	 "step \"c\": input \"token\": ${{ steps.s.outputs.token }}: step \"s\" is not required "
	 "by \"c\" (directly or through other steps), so its outputs may not exist yet"},
	{"other-dag", 9,
	 "step \"s\": input \"size\": ${{ steps.a.outputs.token }}: no step \"a\" in destroy"},
	{"multi-node-output", 16,
	 "step \"s\": input \"size\": ${{ steps.c.outputs.name }}: step \"c\" runs on group "
	 "\"workers\", not on a group of one node, so it has no single output"},
	{"unknown-ref-group", 10,
	 "step \"s\": input \"size\": ${{ groups.tail.addresses }}: no group \"tail\""},
	{"missing-input", 6, "step \"workers\": role client needs input \"token\""},
	{"unknown-input", 11, "step \"s\": role server has no input \"colour\""},
	{"action-with-on", 8,
	 "step \"acquire\": action acquire runs on the tower; \"on\" is only for role steps"},
	{"role-and-action", 6, "step \"a\": has both role and action; a step is one or the other"},
	{"missing-on", 6, "step \"a\": missing key \"on\" (a group, or all)"},
	{"bad-count", 2, "group \"head\": count \"0\" must be a whole number from 1 to 1000, or number"},
	{"count-too-big", 2,
	 "group \"head\": count \"1001\" must be a whole number from 1 to 1000, or number"},
	{"invalid-yaml", 7, "not valid YAML: flow sequence without a closing bracket"},
	{"non-utf8", 4, "not valid YAML: not UTF-8"},
};

static void test_bad_fixtures(void **state)
{
	struct fixture *f = *state;
	size_t seen = 0;
	struct dirent *de;
	char dir[PATH_MAX];
	DIR *d;

	for (size_t i = 0; i < OC_ARRAY_LEN(bad); i++) {
		char path[PATH_MAX], want[2048], err[1024] = "";
		struct pattern *p;

		PATHF(path, "%s/bad/%s.yaml", fixtures_src, bad[i].file);
		PATHF(want, "%s:%d: %s", path, bad[i].line, bad[i].reason);
		p = pattern_load(path, f->roles, err, sizeof(err));
		if (p != NULL)
			fail_msg("%s loaded", path);
		if (strcmp(err, want) != 0)
			fail_msg("%s:\n got  \"%s\"\n want \"%s\"", bad[i].file, err, want);
	}
	/* Every fixture in bad/ is in the table. */
	PATHF(dir, "%s/bad", fixtures_src);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		seen += strstr(de->d_name, ".yaml") != NULL;
	closedir(d);
	assert_int_equal(seen, OC_ARRAY_LEN(bad));
}

/* A pattern text and its refusal, after "PATH:"; NULL when libfyaml words it. */
struct refusal {
	const char *text;
	const char *want;
};

/* Each text, written to a file and loaded, is refused with its reason. */
static void expect_refusals(const struct fixture *f, const struct refusal *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX], want[2048], err[1024] = "";
		struct pattern *p;

		put(f, "gen.yaml", cases[i].text);
		PATHF(path, "%s/gen.yaml", f->dir);
		p = pattern_load(path, f->roles, err, sizeof(err));
		if (p != NULL)
			fail_msg("case %zu loaded:\n%s", i, cases[i].text);
		if (cases[i].want == NULL) {
			/* libfyaml's own words; only the shape is ours. */
			PATHF(want, "%s:1: not valid YAML: ", path);
			if (strncmp(err, want, strlen(want)) != 0)
				fail_msg("case %zu: \"%s\"", i, err);
			continue;
		}
		PATHF(want, "%s:%s", path, cases[i].want);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu:\n got  \"%s\"\n want \"%s\"", i, err, want);
	}
}

/* Refusals written by the tests: the rest of the schema. */
static void test_bad_generated(void **state)
{
	static const struct refusal cases[] = {
		{"groups: {a: {count: 1, role: server}}\ncreate: [{name: x, action: acquire}]\n",
		 "1: missing key \"destroy\""},
		{"groups: {}\ncreate: [{name: x, action: acquire}]\ndestroy: [{name: r, action: release}]\n",
		 "1: groups is empty: the pattern would have no nodes"},
		{"groups: {all: {count: 1, role: server}}\n",
		 "1: group name \"all\" is reserved (on: all means every node)"},
		{"groups: {a: {count: 1}}\n", "1: group \"a\": missing key \"role\""},
		{"groups: {a: {count: 1, role: server, size: 2}}\n",
		 "1: group \"a\": unknown key \"size\""},
		{"groups: {a: {count: numbers, role: server}}\n",
		 "1: group \"a\": count \"numbers\" must be a whole number from 1 to 1000, or number"},
		{"groups: {a: {count: 1, role: server}}\ncreate: []\ndestroy: []\n",
		 "2: create is empty"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n    action: launch\n",
		 "4: step \"x\": unknown action \"launch\" (acquire, enroll, release or record)"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n    action: enroll\n    inputs: {a: b}\n",
		 "5: step \"x\": action enroll takes no inputs"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n    action: enroll\n    step: apply\n",
		 "5: step \"x\": \"step\" is only for role steps, not action enroll"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n",
		 "3: step \"x\": needs a role (with on) or an action"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - action: acquire\n",
		 "3: a step in create has no name"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: X\n",
		 "3: step name \"X\" must be 1 to 64 of [a-z0-9-]"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n    action: acquire\n    requires: [x]\n",
		 "3: cycle: x -> x"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n    action: acquire\n  - name: y\n    action: enroll\n    requires: [x, x]\n",
		 "7: step \"y\": requires \"x\" twice"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n    action: acquire\n    retries: 11\n",
		 "5: step \"x\": retries \"11\" must be a whole number from 0 to 10"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n    action: acquire\n    timeout: 2d\n",
		 "5: step \"x\": timeout \"2d\" must be more than 0 and at most 24h"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: s\n    role: server\n    on: a\n    inputs:\n      size: \"${{ }}\"\n",
		 "7: step \"s\": input \"size\": an empty reference between ${{ and }}"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: s\n    role: server\n    on: a\n    inputs:\n      size: \"${{ overcloud.name }}\"\n",
		 "7: step \"s\": input \"size\": ${{ overcloud.name }} is not a reference (steps.STEP.outputs.KEY, groups.GROUP.address, groups.GROUP.addresses, overcloud.id, overcloud.number, overcloud.size or inputs.NAME)"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: s\n    role: server\n    on: a\n    inputs:\n      size: \"${{ groups.a.address | x }}\"\n",
		 "7: step \"s\": input \"size\": reference \"groups.a.address | x\" holds a character other than [A-Za-z0-9_.-]"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: x\n    action: acquire\n  - name: s\n    role: server\n    on: a\n    requires: [x]\n    inputs:\n      size: \"${{ steps.x.outputs.id }}\"\n",
		 "10: step \"s\": input \"size\": ${{ steps.x.outputs.id }}: step \"x\" is tower action acquire, which has no outputs"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: s\n    role: server\n    on: all\n  - name: t\n    role: server\n    on: a\n    requires: [s]\n    inputs:\n      size: \"${{ steps.s.outputs.url }}\"\n",
		 "11: step \"t\": input \"size\": ${{ steps.s.outputs.url }}: step \"s\" runs on all, not on a group of one node, so it has no single output"},
		{"groups: {a: {count: 1, role: server}}\ncreate:\n  - name: s\n    role: server\n    on: a\n    inputs:\n      size:\n",
		 "7: step \"s\": input \"size\" has no value (write \"\" for an empty string)"},
		{"- a\n- b\n", "1: the file must hold a mapping, not a list"},
		{"", "1: empty file, expected a mapping"},
		{"a: 1\n---\nb: 2\n", "3: more than one YAML document"},
		{"groups: {a: {count: 1, role: server}, a: {count: 2, role: server}}\n", NULL},
	};

	expect_refusals(*state, cases, OC_ARRAY_LEN(cases));
}

/* ---- the attach DAG and the attached target ---- */

#define ATTACH_BASE \
	"groups: {a: {count: 1, role: server}}\n" \
	"create: [{name: s, role: server, on: a}]\n" \
	"destroy: [{name: s, role: server, step: remove, on: a}]\n"

/* attach is optional; when there, it runs on attached (the node(s) being
 * attached) and may use the groups' and attached's addresses; destroy may
 * run on attached too. */
static void test_attach_dag(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], err[1024] = "";
	const struct pattern_step *st;
	struct pattern *p;

	put(f, "noattach.yaml", ATTACH_BASE);
	PATHF(path, "%s/noattach.yaml", f->dir);
	p = pattern_load(path, f->roles, err, sizeof(err));
	if (p == NULL)
		fail_msg("%s", err);
	assert_null(p->attach);
	assert_int_equal(p->attach_count, 0);
	pattern_free(p);

	put(f, "attach.yaml",
	    "groups: {a: {count: 1, role: server}}\n"
	    "create: [{name: s, role: server, on: a}]\n"
	    "destroy:\n"
	    "  - {name: creds, role: server, on: a}\n"
	    "  - name: leave\n"
	    "    role: client\n"
	    "    step: remove\n"
	    "    on: attached\n"
	    "    requires: [creds]\n"
	    "    inputs: {token: \"${{ steps.creds.outputs.token }}\", url: \"${{ groups.attached.address }}\"}\n"
	    "attach:\n"
	    "  - {name: creds, role: server, on: a}\n"
	    "  - name: join\n"
	    "    role: client\n"
	    "    on: attached\n"
	    "    requires: [creds]\n"
	    "    inputs: {token: \"${{ steps.creds.outputs.token }}\", url: \"${{ groups.attached.addresses }}\"}\n"
	    "  - {name: check, role: server, on: a, requires: [join], inputs: {size: \"${{ groups.attached.addresses }}\"}}\n"
	    "  - {name: done, action: record, requires: [check]}\n");
	PATHF(path, "%s/attach.yaml", f->dir);
	p = pattern_load(path, f->roles, err, sizeof(err));
	if (p == NULL)
		fail_msg("%s", err);
	assert_int_equal(p->attach_count, 4);
	st = step_of(p->attach, p->attach_count, "join");
	assert_string_equal(st->on, PATTERN_ATTACHED);
	assert_string_equal(st->role_step, "apply");
	assert_true(requires_step(st, "creds"));
	assert_string_equal(input_of(st, "token"), "${{ steps.creds.outputs.token }}");
	assert_int_equal(st->line, 13);
	st = step_of(p->destroy, p->destroy_count, "leave");
	assert_string_equal(st->on, PATTERN_ATTACHED);
	assert_string_equal(st->role_step, "remove");
	assert_null(pattern_find_group(p, PATTERN_ATTACHED));
	pattern_free(p);
}

static void test_attach_refusals(void **state)
{
	static const struct refusal cases[] = {
		{"groups: {attached: {count: 1, role: server}}\n",
		 "1: group name \"attached\" is reserved (on: attached means the nodes tower attach adds)"},
		{"groups: {a: {count: 1, role: server}}\n"
		 "create:\n  - name: s\n    role: server\n    on: attached\n",
		 "5: step \"s\": on: attached is for attach and destroy steps (no node is attached while the OverCloud is created)"},
		{"groups: {a: {count: 1, role: server}}\n"
		 "create:\n  - name: s\n    role: server\n    on: a\n    inputs: {size: \"${{ groups.attached.addresses }}\"}\n",
		 "6: step \"s\": input \"size\": ${{ groups.attached.addresses }}: attached is for attach and destroy steps"},
		{ATTACH_BASE "attach:\n  - {name: x, role: server, on: a}\n",
		 "4: attach: no step runs on attached, so the attached node would get no work"},
		{ATTACH_BASE "attach: []\n", "4: attach is empty"},
		{ATTACH_BASE "attach: {x: 1}\n", "4: attach must be a list, not a mapping"},
		{ATTACH_BASE "attach:\n  - name: x\n    action: acquire\n",
		 "6: step \"x\": action acquire has no place in attach (only record)"},
		{ATTACH_BASE "attach:\n  - name: x\n    role: client\n    on: heads\n    inputs: {token: t}\n",
		 "7: step \"x\": on: unknown group \"heads\""},
		{ATTACH_BASE "attach:\n  - name: x\n    role: nosuch\n    on: attached\n",
		 "6: step \"x\": unknown role \"nosuch\""},
		{ATTACH_BASE "attach:\n  - name: x\n    role: client\n    on: attached\n",
		 "5: step \"x\": role client needs input \"token\""},
		{ATTACH_BASE "attach:\n"
		 "  - {name: x, role: client, on: attached, requires: [y], inputs: {token: t}}\n"
		 "  - {name: y, role: server, on: a, requires: [x]}\n",
		 "5: cycle: x -> y -> x"},
		{ATTACH_BASE "attach:\n"
		 "  - {name: x, role: client, on: attached, requires: [s], inputs: {token: t}}\n",
		 "5: step \"x\": requires unknown step \"s\" (not in attach)"},
		{ATTACH_BASE "attach:\n"
		 "  - {name: x, role: client, on: attached, inputs: {token: \"${{ steps.s.outputs.token }}\"}}\n",
		 "5: step \"x\": input \"token\": ${{ steps.s.outputs.token }}: no step \"s\" in attach"},
		{ATTACH_BASE "attach:\n"
		 "  - {name: x, role: client, on: attached, inputs: {token: t}}\n"
		 "  - {name: y, role: server, on: a, requires: [x], inputs: {size: \"${{ steps.x.outputs.name }}\"}}\n",
		 "6: step \"y\": input \"size\": ${{ steps.x.outputs.name }}: step \"x\" runs on attached, not on a group of one node, so it has no single output"},
		{ATTACH_BASE "attach:\n"
		 "  - {name: x, role: client, on: attached, inputs: {token: t}}\n"
		 "  - {name: x, role: server, on: a}\n",
		 "6: duplicate step \"x\" in attach (first at line 5)"},
	};

	expect_refusals(*state, cases, OC_ARRAY_LEN(cases));
}

/* Pattern inputs (top-level inputs:, ${{ inputs.NAME }}) and per-step
 * archs load as written; each misuse is refused with its line. */
static void test_inputs_and_archs(void **state)
{
	static const struct refusal cases[] = {
		{"inputs: [a]\n" ATTACH_BASE, "1: inputs must be a mapping, not a list"},
		{"inputs: {Bad: {default: x}}\n" ATTACH_BASE,
		 "1: input name \"Bad\" must be 1 to 64 of [a-z0-9_]"},
		{"inputs: {a: {value: x}}\n" ATTACH_BASE,
		 "1: input \"a\": unknown key \"value\" (default, description)"},
		{"inputs: {a: x}\n" ATTACH_BASE, "1: input \"a\" must be a mapping, not a scalar"},
		{"inputs:\n  a: {default: x}\n  a: {default: y}\n" ATTACH_BASE,
		 "3: not valid YAML: duplicate key"},
		{"groups: {a: {count: 1, role: server}}\n"
		 "create:\n  - name: s\n    role: server\n    on: a\n    inputs: {size: \"${{ inputs.nosuch }}\"}\n",
		 "6: step \"s\": input \"size\": ${{ inputs.nosuch }}: the pattern has no input \"nosuch\" (declare it under inputs:)"},
		{"groups: {a: {count: 1, role: server}}\n"
		 "create:\n  - name: s\n    role: server\n    on: a\n    archs: [riscv64]\n",
		 "6: step \"s\": unknown arch \"riscv64\" (x86_64, aarch64 or armv7)"},
		{"groups: {a: {count: 1, role: server}}\n"
		 "create:\n  - name: s\n    role: server\n    on: a\n    archs: [armv7, armv7]\n",
		 "6: step \"s\": arch armv7 listed twice"},
		{"groups: {a: {count: 1, role: server}}\n"
		 "create:\n  - name: s\n    role: server\n    on: a\n    archs: []\n",
		 "6: step \"s\": archs lists 1 to 3 of x86_64, aarch64, armv7"},
		{"groups: {a: {count: 1, role: server}}\n"
		 "create:\n  - name: s\n    action: record\n    archs: [armv7]\n",
		 "5: step \"s\": action record runs on the tower; archs is only for role steps"},
		{"groups: {a: {count: 1, role: server}}\n"
		 "create:\n  - name: s\n    role: armonly\n    on: a\n    archs: [x86_64]\n",
		 "6: step \"s\": archs: role armonly does not run on x86_64"},
	};
	struct fixture *f = *state;
	char path[PATH_MAX], err[1024] = "";
	const struct pattern_step *st;
	struct pattern *p;

	put(f, "inputs.yaml",
	    "inputs:\n"
	    "  version: {default: \"1.34\", description: the minor}\n"
	    "  mirror: {description: none by default}\n"
	    "groups: {a: {count: 1, role: server}}\n"
	    "create:\n"
	    "  - name: s\n"
	    "    role: server\n"
	    "    on: a\n"
	    "    archs: [x86_64, aarch64]\n"
	    "    inputs: {size: \"v${{ inputs.version }} from ${{ inputs.mirror }}\"}\n"
	    "destroy: [{name: s, role: server, step: remove, on: a}]\n");
	PATHF(path, "%s/inputs.yaml", f->dir);
	p = pattern_load(path, f->roles, err, sizeof(err));
	if (p == NULL)
		fail_msg("%s", err);
	assert_int_equal(p->param_count, 2);
	assert_string_equal(pattern_find_param(p, "version")->default_value, "1.34");
	assert_string_equal(pattern_find_param(p, "version")->description, "the minor");
	assert_null(pattern_find_param(p, "mirror")->default_value);
	assert_null(pattern_find_param(p, "nosuch"));
	st = step_of(p->create, p->create_count, "s");
	assert_int_equal(st->arch_count, 2);
	assert_true(pattern_step_runs_on_arch(st, "aarch64"));
	assert_false(pattern_step_runs_on_arch(st, "armv7"));
	assert_false(pattern_step_runs_on_arch(st, NULL));
	assert_true(pattern_step_runs_on_arch(step_of(p->destroy, p->destroy_count, "s"), "armv7"));
	pattern_free(p);

	expect_refusals(*state, cases, OC_ARRAY_LEN(cases));
}

static void test_bad_file_names(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], want[PATH_MAX + 128], err[1024] = "";

	put(f, "Big.yaml", "description: x\n");
	PATHF(path, "%s/Big.yaml", f->dir);
	assert_null(pattern_load(path, f->roles, err, sizeof(err)));
	PATHF(want, "%s: the file name must be NAME.yaml with NAME 1 to 64 of [a-z0-9-]", path);
	assert_string_equal(err, want);

	PATHF(path, "%s/absent.yaml", f->dir);
	assert_null(pattern_load(path, f->roles, err, sizeof(err)));
	PATHF(want, "%s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
}

/* ---- sets ---- */

static void test_set_sorted_yaml_only(void **state)
{
	struct fixture *f = *state;
	char good[PATH_MAX], dir[PATH_MAX], err[1024] = "";
	struct pattern_set *set;
	size_t len;
	char *text;

	PATHF(good, "%s/good/small.yaml", fixtures_src);
	text = util_read_file(good, 1 << 20, &len);
	assert_non_null(text);
	PATHF(dir, "%s/set", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	put(f, "set/zeta.yaml", text);
	put(f, "set/alpha.yaml", text);
	put(f, "set/README.md", "# not a pattern\n");
	put(f, "set/notes.txt", "not yaml: [\n");
	put(f, "set/.hidden.yaml", "not yaml: [\n");
	free(text);
	set = pattern_set_load(dir, f->roles, err, sizeof(err));
	if (set == NULL)
		fail_msg("%s", err);
	assert_int_equal(pattern_set_count(set), 2);
	assert_string_equal(pattern_set_at(set, 0)->name, "alpha");
	assert_string_equal(pattern_set_at(set, 1)->name, "zeta");
	assert_null(pattern_set_at(set, 2));
	assert_ptr_equal(pattern_set_find(set, "zeta"), pattern_set_at(set, 1));
	assert_null(pattern_set_find(set, "small"));
	pattern_set_free(set);

	/* One bad file refuses the set, naming it. */
	put(f, "set/mid.yaml", "groups: {a: {count: 1, role: nosuch-role}}\nbogus: 1\n");
	set = pattern_set_load(dir, f->roles, err, sizeof(err));
	assert_null(set);
	PATHF(good, "%s/mid.yaml:2: unknown key \"bogus\"", dir);
	assert_string_equal(err, good);

	/* A missing directory. */
	PATHF(dir, "%s/none", f->dir);
	assert_null(pattern_set_load(dir, f->roles, err, sizeof(err)));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_int_equal(pattern_set_count(NULL), 0);
	assert_null(pattern_set_find(NULL, "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_real_patterns_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_step_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_fixtures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_generated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_dag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inputs_and_archs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_file_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_sorted_yaml_only, setup, teardown),
	};

	find_src();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
