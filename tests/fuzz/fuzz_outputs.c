/* fuzz_outputs.c — libFuzzer target for the $OVERCLOUD_OUTPUT parser (outputs.c).
 * Parses hostile bytes with and without a declared list; whatever parses must
 * respect every limit and survive being written out and parsed again. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/outputs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const declared[] = { "node_name", "join_command", "ip", "a", "b", NULL };

static void die(const char *what)
{
	fprintf(stderr, "fuzz_outputs: %s\n", what);
	abort();
}

static void check_map(const struct msg_strmap *m, bool only_declared)
{
	if (m->count > OUTPUTS_COUNT_MAX)
		die("too many outputs");
	for (size_t i = 0; i < m->count; i++) {
		const char *k = m->items[i].key;
		size_t klen = strlen(k);
		bool found = false;

		if (klen == 0 || klen > OUTPUTS_KEY_MAX)
			die("bad key length");
		for (size_t j = 0; j < klen; j++)
			if (!((k[j] >= 'a' && k[j] <= 'z') || (k[j] >= '0' && k[j] <= '9') || k[j] == '_'))
				die("bad key byte");
		if (strlen(m->items[i].value) > OUTPUTS_VALUE_MAX)
			die("value over limit");
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->items[j].key, k) == 0)
				die("duplicate key");
		for (const char *const *d = declared; *d != NULL; d++)
			if (strcmp(*d, k) == 0)
				found = true;
		if (only_declared && !found)
			die("undeclared key accepted");
	}
}

static void check_failure(const struct msg_strmap *m, const char *err)
{
	if (m->count != 0 || m->items != NULL)
		die("map not empty after failure");
	if (strncmp(err, "line ", 5) != 0 || strchr(err, '\n') != NULL)
		die("bad error text");
}

static bool maps_equal(const struct msg_strmap *a, const struct msg_strmap *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->items[i].key, b->items[i].key) != 0 ||
		    strcmp(a->items[i].value, b->items[i].value) != 0)
			return false;
	return true;
}

/* Is line (len bytes) one of the '\n'-separated pieces of value? */
static bool value_has_line(const char *value, const char *line, size_t len)
{
	const char *p = value;

	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (n == len && memcmp(p, line, len) == 0)
			return true;
		if (nl == NULL)
			return false;
		p = nl + 1;
	}
}

/* Writes m back out with CRLF line ends (so a value's own trailing '\r'
 * survives the parser stripping one), parses it again: same map. */
static void check_roundtrip(const struct msg_strmap *m)
{
	size_t cap = 64, len = 0;
	struct msg_strmap again;
	char *text, err[256];

	for (size_t i = 0; i < m->count; i++)
		cap += strlen(m->items[i].key) + 2 * strlen(m->items[i].value) + 64;
	text = malloc(cap);
	if (text == NULL)
		die("out of memory");
	for (size_t i = 0; i < m->count; i++) {
		const char *k = m->items[i].key, *v = m->items[i].value;
		char delim[32];
		unsigned n = 0;

		if (strchr(v, '\n') == NULL) {
			len += (size_t)snprintf(text + len, cap - len, "%s=%s\r\n", k, v);
			continue;
		}
		do
			snprintf(delim, sizeof(delim), "EOF_%u", n++);
		while (value_has_line(v, delim, strlen(delim)));
		len += (size_t)snprintf(text + len, cap - len, "%s<<%s\r\n", k, delim);
		for (const char *p = v;;) {
			const char *nl = strchr(p, '\n');
			size_t piece = nl != NULL ? (size_t)(nl - p) : strlen(p);

			memcpy(text + len, p, piece);
			len += piece;
			memcpy(text + len, "\r\n", 2);
			len += 2;
			if (nl == NULL)
				break;
			p = nl + 1;
		}
		len += (size_t)snprintf(text + len, cap - len, "%s\r\n", delim);
	}
	if (outputs_parse(text, len, NULL, &again, err, sizeof(err)) != 0) {
		fprintf(stderr, "re-written outputs do not parse: %s\n", err);
		abort();
	}
	if (!maps_equal(m, &again))
		die("outputs changed on a round trip");
	outputs_clear(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_strmap any, some;
	char err[256], err2[256];
	int rc_any, rc_some;

	if (size > OUTPUTS_FILE_MAX)
		return 0;
	memset(err, 0, sizeof(err));
	rc_any = outputs_parse((const char *)data, size, NULL, &any, err, sizeof(err));
	if (rc_any == 0) {
		check_map(&any, false);
		check_roundtrip(&any);
	} else {
		check_failure(&any, err);
	}

	memset(err2, 0, sizeof(err2));
	rc_some = outputs_parse((const char *)data, size, declared, &some, err2, sizeof(err2));
	if (rc_some == 0) {
		check_map(&some, true);
		/* A declared list only ever refuses more. */
		if (rc_any != 0 || !maps_equal(&any, &some))
			die("declared list accepted what the open parse did not");
	} else {
		check_failure(&some, err2);
	}
	outputs_clear(&some);
	outputs_clear(&any);
	return 0;
}
