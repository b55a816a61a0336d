/* test_template.c — the ${{ }} language (template.c): each reference form
 * parsed, expansion in order with literals kept, and every refusal (bad
 * syntax, unterminated, nested, empty, over-long) with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tower/engine/template.h"

static void parses(const char *text, enum template_ref_kind kind, const char *name,
		   const char *key)
{
	struct template_ref ref;
	char err[512] = "";

	assert_int_equal(template_parse_ref(text, strlen(text), &ref, err, sizeof(err)), 0);
	assert_int_equal(ref.kind, kind);
	assert_string_equal(ref.name, name);
	assert_string_equal(ref.key, key);
}

static void refused(const char *text, const char *reason)
{
	struct template_ref ref;
	char err[512] = "";

	assert_int_equal(template_parse_ref(text, strlen(text), &ref, err, sizeof(err)), -1);
	if (strstr(err, reason) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, err, reason);
}

static void test_ref_forms(void **state)
{
	(void)state;
	parses(" inputs.k8s_version ", TEMPLATE_INPUT, "k8s_version", "");
	parses("steps.init.outputs.join-cmd", TEMPLATE_STEP_OUTPUT, "init", "join-cmd");
	parses("\tgroups.control.address\t", TEMPLATE_GROUP_ADDRESS, "control", "");
	parses("groups.workers.addresses", TEMPLATE_GROUP_ADDRESSES, "workers", "");
	parses("overcloud.id", TEMPLATE_OVERCLOUD_ID, "", "");
	parses("overcloud.number", TEMPLATE_OVERCLOUD_NUMBER, "", "");
	parses("overcloud.size", TEMPLATE_OVERCLOUD_SIZE, "", "");
}

static void test_ref_refusals(void **state)
{
	(void)state;
	refused("", "an empty reference");
	refused("   ", "an empty reference");
	refused("inputs", "is not a reference");
	refused("inputs.a.b", "is not a reference");
	refused("steps.x.output.k", "is not a reference");
	refused("steps.x.outputs", "is not a reference");
	refused("groups.g.name", "is not a reference");
	refused("overcloud.pattern", "is not a reference");
	refused("inputs..x", "is not a reference");
	refused(".inputs.x", "is not a reference");
	refused("a.b.c.d.e", "is not a reference");
	refused("inputs.x y", "holds a character other than [A-Za-z0-9_.-]");
	refused("inputs.$x", "holds a character other than");
	refused("inputs.x\n", "holds a character other than");
}

static void test_length_bounds(void **state)
{
	char text[TEMPLATE_REF_MAX + 8];
	struct template_ref ref;
	char err[512];

	(void)state;
	/* Exactly TEMPLATE_REF_MAX bytes, blanks around not counted: taken. */
	memset(text, 'a', sizeof(text));
	memcpy(text, "  inputs.", 9);
	text[2 + TEMPLATE_REF_MAX] = ' ';
	text[3 + TEMPLATE_REF_MAX] = '\0';
	assert_int_equal(template_parse_ref(text, strlen(text), &ref, err, sizeof(err)), 0);
	assert_int_equal(strlen(ref.text), TEMPLATE_REF_MAX);
	assert_int_equal(strlen(ref.name), TEMPLATE_REF_MAX - 7);
	/* One more: refused. */
	text[2 + TEMPLATE_REF_MAX] = 'a';
	refused(text, "an over-long reference");
}

/* A resolver that names what it was asked: "<kind:name:key>". */
static char *echo(void *arg, const struct template_ref *ref, char *err, size_t err_size)
{
	char buf[1024];
	int *calls = arg;

	(*calls)++;
	if (strcmp(ref->name, "missing") == 0) {
		snprintf(err, err_size, "input missing has no value");
		return NULL;
	}
	snprintf(buf, sizeof(buf), "<%d:%s:%s>", (int)ref->kind, ref->name, ref->key);
	return strdup(buf);
}

static void expands(const char *text, const char *want)
{
	char err[512] = "";
	int calls = 0;
	char *out = template_expand(text, echo, &calls, err, sizeof(err));

	if (out == NULL)
		fail_msg("\"%s\": %s", text, err);
	assert_string_equal(out, want);
	free(out);
}

static void expand_refused(const char *text, const char *reason, int want_calls)
{
	char err[512] = "";
	int calls = 0;
	char *out = template_expand(text, echo, &calls, err, sizeof(err));

	assert_null(out);
	if (strstr(err, reason) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, err, reason);
	assert_int_equal(calls, want_calls);
}

static void test_expand(void **state)
{
	(void)state;
	expands("", "");
	expands("plain text, $ { } }} {{", "plain text, $ { } }} {{");
	expands("${{ inputs.v }}", "<6:v:>");
	expands("v=${{inputs.v}}!", "v=<6:v:>!");
	expands("${{ steps.init.outputs.token }} ${{ groups.w.addresses }}x",
		"<0:init:token> <2:w:>x");
	expands("$${{ overcloud.id }}}", "$<3::>}");
}

static void test_expand_refusals(void **state)
{
	(void)state;
	expand_refused("a ${{ inputs.v", "\"${{\" without a closing \"}}\"", 0);
	expand_refused("${{ inputs.v }} ${{ inputs.w", "without a closing", 1);
	/* Nested: the inner ${{ is part of the outer reference, and refused. */
	expand_refused("${{ inputs.${{ inputs.v }} }}", "holds a character other than", 0);
	expand_refused("${{}}", "an empty reference", 0);
	expand_refused("${{ inputs.v }} ${{ nope.v }}", "${{ nope.v }} is not a reference", 1);
	/* The resolver's own refusal comes back as it wrote it. */
	expand_refused("x ${{ inputs.missing }} ${{ inputs.v }}", "input missing has no value", 1);
}

struct pieces {
	char seen[512];
};

static int record_piece(void *arg, const char *literal, size_t len, const struct template_ref *ref,
			char *err, size_t err_size)
{
	struct pieces *p = arg;
	size_t used = strlen(p->seen);

	(void)err;
	(void)err_size;
	if (ref == NULL)
		snprintf(p->seen + used, sizeof(p->seen) - used, "[%.*s]", (int)len, literal);
	else
		snprintf(p->seen + used, sizeof(p->seen) - used, "{%s}", ref->text);
	return 0;
}

static void test_walk_pieces(void **state)
{
	struct pieces p = {""};
	char err[256];

	(void)state;
	assert_int_equal(template_walk("a${{ inputs.x }}${{overcloud.id}}b", record_piece, &p, err,
				       sizeof(err)), 0);
	assert_string_equal(p.seen, "[a]{inputs.x}{overcloud.id}[b]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_forms),
		cmocka_unit_test(test_ref_refusals),
		cmocka_unit_test(test_length_bounds),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_expand_refusals),
		cmocka_unit_test(test_walk_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
