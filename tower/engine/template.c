/* template.c — parses and expands ${{ REF }} references in pattern input
 * values; the grammar and its refusals live here only (template.h). */
#include "tower/engine/template.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN "${{"
#define CLOSE "}}"
#define MAX_PARTS 4

static const char not_a_ref[] =
	"is not a reference (steps.STEP.outputs.KEY, groups.GROUP.address, groups.GROUP.addresses, overcloud.id, overcloud.number, overcloud.size or inputs.NAME)";

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool ref_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* Splits out->text at its dots into parts (in buf); the count, or -1 when
 * a part is empty or there are more than MAX_PARTS. */
static int split_parts(char *buf, char *parts[MAX_PARTS])
{
	int n = 0;
	char *s = buf, *dot;

	for (;;) {
		if (n == MAX_PARTS)
			return -1;
		parts[n++] = s;
		dot = strchr(s, '.');
		if (dot == NULL)
			break;
		*dot = '\0';
		s = dot + 1;
	}
	for (int i = 0; i < n; i++)
		if (parts[i][0] == '\0')
			return -1;
	return n;
}

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

int template_parse_ref(const char *text, size_t len, struct template_ref *out, char *err,
		       size_t err_size)
{
	const char *a = text, *b = text + len;
	char buf[TEMPLATE_REF_MAX + 1], *parts[MAX_PARTS];
	int n;

	memset(out, 0, sizeof(*out));
	while (a < b && blank(*a))
		a++;
	while (b > a && blank(b[-1]))
		b--;
	if (a == b || (size_t)(b - a) > TEMPLATE_REF_MAX) {
		snprintf(err, err_size, "%s reference between ${{ and }}",
			 a == b ? "an empty" : "an over-long");
		return -1;
	}
	memcpy(out->text, a, (size_t)(b - a));
	out->text[b - a] = '\0';
	for (char *c = out->text; *c != '\0'; c++) {
		if (ref_char_ok(*c))
			continue;
		/* Shown as written, but on one line. */
		for (char *d = out->text; *d != '\0'; d++)
			if ((unsigned char)*d < 0x20 || (unsigned char)*d >= 0x7f)
				*d = '?';
		snprintf(err, err_size,
			 "reference \"%s\" holds a character other than [A-Za-z0-9_.-]", out->text);
		return -1;
	}
	memcpy(buf, out->text, sizeof(buf));
	n = split_parts(buf, parts);
	if (n == 4 && is(parts[0], "steps") && is(parts[2], "outputs")) {
		out->kind = TEMPLATE_STEP_OUTPUT;
		snprintf(out->name, sizeof(out->name), "%s", parts[1]);
		snprintf(out->key, sizeof(out->key), "%s", parts[3]);
		return 0;
	}
	if (n == 3 && is(parts[0], "groups") &&
	    (is(parts[2], "address") || is(parts[2], "addresses"))) {
		out->kind = is(parts[2], "address") ? TEMPLATE_GROUP_ADDRESS
						    : TEMPLATE_GROUP_ADDRESSES;
		snprintf(out->name, sizeof(out->name), "%s", parts[1]);
		return 0;
	}
	if (n == 2 && is(parts[0], "inputs")) {
		out->kind = TEMPLATE_INPUT;
		snprintf(out->name, sizeof(out->name), "%s", parts[1]);
		return 0;
	}
	if (n == 2 && is(parts[0], "overcloud")) {
		if (is(parts[1], "id"))
			out->kind = TEMPLATE_OVERCLOUD_ID;
		else if (is(parts[1], "number"))
			out->kind = TEMPLATE_OVERCLOUD_NUMBER;
		else if (is(parts[1], "size"))
			out->kind = TEMPLATE_OVERCLOUD_SIZE;
		else
			goto refuse;
		return 0;
	}
refuse:
	snprintf(err, err_size, "${{ %s }} %s", out->text, not_a_ref);
	return -1;
}

int template_walk(const char *text, template_piece_fn fn, void *arg, char *err, size_t err_size)
{
	const char *p = text, *open, *close;
	struct template_ref ref;

	while ((open = strstr(p, OPEN)) != NULL) {
		if (open > p && fn(arg, p, (size_t)(open - p), NULL, err, err_size) != 0)
			return -1;
		close = strstr(open + strlen(OPEN), CLOSE);
		if (close == NULL) {
			snprintf(err, err_size, "\"${{\" without a closing \"}}\"");
			return -1;
		}
		open += strlen(OPEN);
		if (template_parse_ref(open, (size_t)(close - open), &ref, err, err_size) != 0)
			return -1;
		if (fn(arg, NULL, 0, &ref, err, err_size) != 0)
			return -1;
		p = close + strlen(CLOSE);
	}
	if (*p != '\0' && fn(arg, p, strlen(p), NULL, err, err_size) != 0)
		return -1;
	return 0;
}

struct expansion {
	FILE *mem;
	template_resolve_fn resolve;
	void *arg;
};

static int expand_piece(void *arg, const char *literal, size_t len, const struct template_ref *ref,
			char *err, size_t err_size)
{
	struct expansion *x = arg;
	char *value;

	if (ref == NULL)
		return fwrite(literal, 1, len, x->mem) == len ? 0 : -1;
	value = x->resolve(x->arg, ref, err, err_size);
	if (value == NULL)
		return -1;
	fputs(value, x->mem);
	free(value);
	return 0;
}

char *template_expand(const char *text, template_resolve_fn resolve, void *arg, char *err,
		      size_t err_size)
{
	struct expansion x = {.resolve = resolve, .arg = arg};
	char *out = NULL;
	size_t len = 0;
	int rc;

	x.mem = open_memstream(&out, &len);
	if (x.mem == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	rc = template_walk(text, expand_piece, &x, err, err_size);
	if (fclose(x.mem) != 0 && rc == 0) {
		snprintf(err, err_size, "out of memory");
		rc = -1;
	}
	if (rc != 0) {
		free(out);
		return NULL;
	}
	return out;
}
