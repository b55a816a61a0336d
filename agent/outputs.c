/* outputs.c — turns the bytes of a task's $OVERCLOUD_OUTPUT file into a map.
 * Owns the line grammar and its limits; reading the file is runner.c's job. */
#include "agent/outputs.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
	const char *p;
	size_t len;
};

/* Next line of text from *pos, without its '\n' and one trailing '\r'. */
static bool next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
	const char *start, *nl;
	size_t n;

	if (*pos >= len)
		return false;
	start = text + *pos;
	nl = memchr(start, '\n', len - *pos);
	n = nl != NULL ? (size_t)(nl - start) : len - *pos;
	*pos += n + (nl != NULL ? 1 : 0);
	if (n > 0 && start[n - 1] == '\r')
		n--;
	l->p = start;
	l->len = n;
	return true;
}

static bool line_blank(const struct line *l)
{
	for (size_t i = 0; i < l->len; i++)
		if (l->p[i] != ' ' && l->p[i] != '\t')
			return false;
	return true;
}

/* A printable, bounded copy of a key or delimiter for an error message. */
static void quote(char *dst, size_t size, const char *p, size_t len)
{
	size_t n = len > 40 ? 40 : len, i;

	if (size == 0)
		return;
	for (i = 0; i < n && i + 1 < size; i++)
		dst[i] = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"') ? p[i] : '?';
	dst[i] = '\0';
	if (n < len && i + 4 < size)
		memcpy(dst + i, "...", 4);
}

static int __attribute__((format(printf, 4, 5)))
fail(char *err, size_t err_size, size_t lineno, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err_size == 0)
		return -1;
	n = snprintf(err, err_size, "line %zu: ", lineno);
	if (n < 0 || (size_t)n >= err_size)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool declared_has(const char *const *declared, const char *key, size_t len)
{
	for (; *declared != NULL; declared++)
		if (strlen(*declared) == len && memcmp(*declared, key, len) == 0)
			return true;
	return false;
}

/* Stores key -> value (both taken over on 0); a repeated key replaces the
 * value. Returns 0, 1 when the map is full, -1 when out of memory. */
static int map_put(struct msg_strmap *m, char *key, char *value)
{
	struct msg_kv *items;

	for (size_t i = 0; i < m->count; i++) {
		if (strcmp(m->items[i].key, key) == 0) {
			free(m->items[i].value);
			m->items[i].value = value;
			free(key);
			return 0;
		}
	}
	if (m->count >= OUTPUTS_COUNT_MAX)
		return 1;
	/* Capacity doubles at 8, 16, 32, ...; the count cap bounds it. */
	if (m->count == 0 || (m->count >= 8 && (m->count & (m->count - 1)) == 0)) {
		size_t cap = m->count == 0 ? 8 : m->count * 2;

		items = realloc(m->items, cap * sizeof(*items));
		if (items == NULL)
			return -1;
		m->items = items;
	}
	m->items[m->count].key = key;
	m->items[m->count].value = value;
	m->count++;
	return 0;
}

/* Collects heredoc body lines after *pos up to the line equal to delim.
 * Returns the joined value (lines separated by '\n') or NULL with err set. */
static char *heredoc_value(const char *text, size_t len, size_t *pos, size_t *lineno,
			   const struct line *delim, size_t open_line, char *err, size_t err_size)
{
	struct line l;
	size_t scan = *pos, n = *lineno, total = 0, lines = 0, copied = 0;
	char q[64], *value;
	bool ended = false;

	while (next_line(text, len, &scan, &l)) {
		n++;
		if (l.len == delim->len && memcmp(l.p, delim->p, l.len) == 0) {
			ended = true;
			break;
		}
		if (memchr(l.p, '\0', l.len) != NULL) {
			fail(err, err_size, n, "contains a NUL byte");
			return NULL;
		}
		total += l.len + (lines > 0 ? 1 : 0);
		lines++;
		if (total > OUTPUTS_VALUE_MAX) {
			quote(q, sizeof(q), delim->p, delim->len);
			fail(err, err_size, open_line, "heredoc \"%s\" value over 64 KiB", q);
			return NULL;
		}
	}
	if (!ended) {
		quote(q, sizeof(q), delim->p, delim->len);
		fail(err, err_size, open_line, "heredoc \"%s\" never ends", q);
		return NULL;
	}
	value = malloc(total + 1);
	if (value == NULL) {
		fail(err, err_size, open_line, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < lines; i++) {
		next_line(text, len, pos, &l);
		if (i > 0)
			value[copied++] = '\n';
		memcpy(value + copied, l.p, l.len);
		copied += l.len;
	}
	value[copied] = '\0';
	next_line(text, len, pos, &l); /* the delimiter line */
	*lineno = n;
	return value;
}

int outputs_parse(const char *text, size_t len, const char *const *declared,
		  struct msg_strmap *out, char *err, size_t err_size)
{
	struct line l, delim;
	size_t pos = 0, lineno = 0, open_line;
	char q[64], *key = NULL, *value = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err_size > 0)
		err[0] = '\0';
	while (next_line(text, len, &pos, &l)) {
		const char *eq, *lt = NULL;
		size_t keylen;
		bool heredoc;

		lineno++;
		if (line_blank(&l))
			continue;
		if (memchr(l.p, '\0', l.len) != NULL) {
			fail(err, err_size, lineno, "contains a NUL byte");
			goto fail;
		}
		eq = memchr(l.p, '=', l.len);
		for (size_t i = 0; i + 1 < l.len; i++) {
			if (l.p[i] == '<' && l.p[i + 1] == '<') {
				lt = l.p + i;
				break;
			}
		}
		heredoc = lt != NULL && (eq == NULL || lt < eq);
		keylen = heredoc ? (size_t)(lt - l.p) : eq != NULL ? (size_t)(eq - l.p) : 0;
		if (keylen == 0) {
			fail(err, err_size, lineno, "expected key=value or key<<DELIMITER");
			goto fail;
		}
		if (keylen > OUTPUTS_KEY_MAX) {
			fail(err, err_size, lineno, "key over %d bytes", OUTPUTS_KEY_MAX);
			goto fail;
		}
		for (size_t i = 0; i < keylen; i++) {
			if (!key_char(l.p[i])) {
				quote(q, sizeof(q), l.p, keylen);
				fail(err, err_size, lineno, "key \"%s\" is not [a-z0-9_]", q);
				goto fail;
			}
		}
		if (declared != NULL && !declared_has(declared, l.p, keylen)) {
			quote(q, sizeof(q), l.p, keylen);
			fail(err, err_size, lineno, "output \"%s\" is not declared by the role", q);
			goto fail;
		}
		key = strndup(l.p, keylen);
		if (key == NULL) {
			fail(err, err_size, lineno, "out of memory");
			goto fail;
		}
		if (heredoc) {
			delim.p = lt + 2;
			delim.len = l.len - keylen - 2;
			if (delim.len == 0) {
				fail(err, err_size, lineno, "empty heredoc delimiter");
				goto fail;
			}
			open_line = lineno;
			value = heredoc_value(text, len, &pos, &lineno, &delim, open_line, err, err_size);
			if (value == NULL)
				goto fail;
		} else {
			size_t vlen = l.len - keylen - 1;
			if (vlen > OUTPUTS_VALUE_MAX) {
				quote(q, sizeof(q), l.p, keylen);
				fail(err, err_size, lineno, "value of \"%s\" over 64 KiB", q);
				goto fail;
			}
			value = strndup(eq + 1, vlen);
			if (value == NULL) {
				fail(err, err_size, lineno, "out of memory");
				goto fail;
			}
		}
		rc = map_put(out, key, value);
		if (rc != 0) {
			if (rc > 0)
				fail(err, err_size, lineno, "more than %d outputs", OUTPUTS_COUNT_MAX);
			else
				fail(err, err_size, lineno, "out of memory");
			goto fail;
		}
		key = NULL;
		value = NULL;
	}
	return 0;
fail:
	free(value);
	free(key);
	outputs_clear(out);
	return -1;
}

void outputs_clear(struct msg_strmap *m)
{
	for (size_t i = 0; i < m->count; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	m->items = NULL;
	m->count = 0;
}
