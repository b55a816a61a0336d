/* yamldoc.c — reads the tower's YAML data files (strict UTF-8, quiet libfyaml,
 * "FILE:LINE: reason" errors) and their typed scalars; the schemas are not here. */
#include "tower/engine/yamldoc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shared/util.h"

#define YAMLDOC_FILE_MAX (1024 * 1024)
#define TIMEOUT_MAX_S (24 * 3600)
#define RETRIES_MAX 10

struct yamldoc_file {
	char *text;
	struct fy_diag *diag;
	struct fy_parser *fyp;
	struct fy_document *fyd;
};

/* ---- errors ---- */

void yamldoc_err(const struct yamldoc *doc, int line, const char *fmt, ...)
{
	char reason[1024];
	va_list ap;

	if (doc->err == NULL || doc->err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(doc->err, doc->err_size, "%s:%d: %s", doc->file, line, reason);
	else
		snprintf(doc->err, doc->err_size, "%s: %s", doc->file, reason);
	util_one_line(doc->err);
}

/* ---- nodes ---- */

/* Collections have no token of their own in libfyaml 0.7, so they take
 * their first child's line; empty ones (and empty scalars) fall back to
 * the caller's line, usually the key's. */
int yamldoc_node_line(struct fy_node *fyn, int fallback)
{
	struct fy_node_pair *pair;
	struct fy_token *tok;
	void *it = NULL;

	if (fyn == NULL)
		return fallback;
	switch (fy_node_get_type(fyn)) {
	case FYNT_SCALAR:
		tok = fy_node_get_scalar_token(fyn);
		if (tok == NULL || fy_token_start_mark(tok) == NULL)
			return fallback;
		return fy_token_start_mark(tok)->line + 1;
	case FYNT_MAPPING:
		pair = fy_node_mapping_iterate(fyn, &it);
		return pair != NULL ? yamldoc_node_line(fy_node_pair_key(pair), fallback) : fallback;
	case FYNT_SEQUENCE:
		return yamldoc_node_line(fy_node_sequence_iterate(fyn, &it), fallback);
	}
	return fallback;
}

const char *yamldoc_node_kind(struct fy_node *fyn)
{
	if (fyn == NULL)
		return "nothing";
	if (fy_node_is_alias(fyn))
		return "an alias";
	switch (fy_node_get_type(fyn)) {
	case FYNT_SCALAR:
		return "a scalar";
	case FYNT_SEQUENCE:
		return "a list";
	case FYNT_MAPPING:
		return "a mapping";
	}
	return "something else";
}

static bool is_null_scalar(struct fy_node *fyn)
{
	size_t len;
	const char *s = fy_node_get_scalar(fyn, &len);

	if (fy_node_get_style(fyn) != FYNS_PLAIN)
		return false;
	return s == NULL || len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
			     memcmp(s, "NULL", 4) == 0));
}

bool yamldoc_is_null(struct fy_node *fyn)
{
	return fyn == NULL || (fy_node_is_scalar(fyn) && !fy_node_is_alias(fyn) &&
			       is_null_scalar(fyn));
}

int yamldoc_expect_type(const struct yamldoc *doc, struct fy_node *fyn, enum fy_node_type type,
			int line, const char *what)
{
	static const char *const names[] = {
		[FYNT_SCALAR] = "a scalar", [FYNT_SEQUENCE] = "a list", [FYNT_MAPPING] = "a mapping"};

	if (fyn != NULL && !fy_node_is_alias(fyn) && fy_node_get_type(fyn) == type)
		return 0;
	yamldoc_err(doc, line, "%s must be %s, not %s", what, names[type], yamldoc_node_kind(fyn));
	return -1;
}

const char *yamldoc_pair_key(const struct yamldoc *doc, struct fy_node_pair *pair,
			     int parent_line, int *line)
{
	struct fy_node *key = fy_node_pair_key(pair);
	const char *s;
	size_t len;

	*line = yamldoc_node_line(key, parent_line);
	if (key == NULL || !fy_node_is_scalar(key) || fy_node_is_alias(key)) {
		yamldoc_err(doc, *line, "keys must be plain strings, not %s",
			    yamldoc_node_kind(key));
		return NULL;
	}
	s = fy_node_get_scalar0(key);
	fy_node_get_scalar(key, &len);
	if (s == NULL || strlen(s) != len) {
		yamldoc_err(doc, *line, "key holds a NUL byte");
		return NULL;
	}
	return s;
}

struct fy_node_pair *yamldoc_find_pair(struct fy_node *map, const char *want)
{
	struct fy_node_pair *pair;
	void *it = NULL;

	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		struct fy_node *key = fy_node_pair_key(pair);

		if (key != NULL && fy_node_is_scalar(key) && !fy_node_is_alias(key) &&
		    strcmp(fy_node_get_scalar0(key), want) == 0)
			return pair;
	}
	return NULL;
}

/* ---- typed scalars ---- */

char *yamldoc_get_string(const struct yamldoc *doc, struct fy_node *fyn, int line,
			 const char *what)
{
	const char *s;
	char *copy;
	size_t len;

	line = yamldoc_node_line(fyn, line);
	if (yamldoc_is_null(fyn)) {
		yamldoc_err(doc, line, "%s has no value (write \"\" for an empty string)", what);
		return NULL;
	}
	if (!fy_node_is_scalar(fyn) || fy_node_is_alias(fyn)) {
		yamldoc_err(doc, line, "%s must be a scalar, not %s", what, yamldoc_node_kind(fyn));
		return NULL;
	}
	s = fy_node_get_scalar(fyn, &len);
	if (s == NULL || memchr(s, '\0', len) != NULL) {
		yamldoc_err(doc, line, "%s holds a NUL byte", what);
		return NULL;
	}
	copy = strndup(s, len);
	if (copy == NULL)
		yamldoc_err(doc, line, "out of memory");
	return copy;
}

int yamldoc_get_bool(const struct yamldoc *doc, struct fy_node *fyn, int line, const char *what,
		     bool *out)
{
	char *s = yamldoc_get_string(doc, fyn, line, what);
	int rc = 0;

	if (s == NULL)
		return -1;
	if (strcmp(s, "true") == 0) {
		*out = true;
	} else if (strcmp(s, "false") == 0) {
		*out = false;
	} else {
		yamldoc_err(doc, yamldoc_node_line(fyn, line),
			    "%s must be true or false, not \"%s\"", what, s);
		rc = -1;
	}
	free(s);
	return rc;
}

bool yamldoc_name_ok(const char *s, const char *extra)
{
	size_t len = strlen(s);

	if (len == 0 || len > YAMLDOC_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr(extra, s[i]) != NULL))
			return false;
	return true;
}

char *yamldoc_get_name(const struct yamldoc *doc, struct fy_node *fyn, int line,
		       const char *what, const char *extra)
{
	char *s = yamldoc_get_string(doc, fyn, line, what);

	if (s != NULL && !yamldoc_name_ok(s, extra)) {
		yamldoc_err(doc, yamldoc_node_line(fyn, line),
			    "%s \"%s\" must be 1 to %d of [a-z0-9%s]", what, s, YAMLDOC_NAME_MAX, extra);
		free(s);
		return NULL;
	}
	return s;
}

int yamldoc_get_timeout(const struct yamldoc *doc, struct fy_node *fyn, int line,
			const char *what, int64_t *out)
{
	char *s = yamldoc_get_string(doc, fyn, line, what);
	int64_t v;
	int rc = -1;

	if (s == NULL)
		return -1;
	line = yamldoc_node_line(fyn, line);
	if (util_parse_duration(s, &v) != 0) {
		yamldoc_err(doc, line, "%s \"%s\" is not a duration (like 90s, 15m, 1h)", what, s);
	} else if (v <= 0 || v > TIMEOUT_MAX_S) {
		yamldoc_err(doc, line, "%s \"%s\" must be more than 0 and at most 24h", what, s);
	} else {
		*out = v;
		rc = 0;
	}
	free(s);
	return rc;
}

int yamldoc_get_retries(const struct yamldoc *doc, struct fy_node *fyn, int line,
			const char *what, int64_t *out)
{
	char *s = yamldoc_get_string(doc, fyn, line, what);
	int rc = 0;

	if (s == NULL)
		return -1;
	if (util_parse_int(s, 0, RETRIES_MAX, out) != 0) {
		yamldoc_err(doc, yamldoc_node_line(fyn, line),
			    "%s \"%s\" must be a whole number from 0 to %d", what, s, RETRIES_MAX);
		rc = -1;
	}
	free(s);
	return rc;
}

/* ---- files ---- */

/* 1-based line of the first byte that is not well-formed UTF-8 (RFC 3629:
 * no overlongs, surrogates or code points past U+10FFFF), or 0. YAML must be
 * Unicode, and libfyaml 0.7.12 loops forever on some invalid bytes after a
 * '%' directive, so they never reach it. */
static int utf8_bad_line(const unsigned char *s, size_t len)
{
	int line = 1;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			line += c == '\n';
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return line;
		if (len - i - 1 < n)
			return line;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return line;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return line;
		i += n + 1;
	}
	return 0;
}

static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
}

/* Parses f->text as exactly one YAML document. libfyaml's messages are
 * collected, never printed; the first one becomes our error line. */
static int parse_yaml(const struct yamldoc *doc, struct yamldoc_file *f, size_t len)
{
	struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET};
	struct fy_diag_error *derr;
	struct fy_document *extra;
	struct fy_diag_cfg dcfg;
	void *it = NULL;

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_discard;
	dcfg.colorize = false;
	f->diag = fy_diag_create(&dcfg);
	if (f->diag == NULL) {
		yamldoc_err(doc, 0, "out of memory");
		return -1;
	}
	/* Collected errors are freed by fy_diag_destroy, not by the last
	 * fy_diag_unref: yamldoc_free destroys it once the parser is gone. */
	fy_diag_set_collect_errors(f->diag, true);
	pcfg.diag = f->diag;
	f->fyp = fy_parser_create(&pcfg);
	if (f->fyp == NULL || fy_parser_set_string(f->fyp, f->text, len) != 0) {
		yamldoc_err(doc, 0, "out of memory");
		return -1;
	}
	f->fyd = fy_parse_load_document(f->fyp);
	if (f->fyd != NULL) {
		extra = fy_parse_load_document(f->fyp);
		if (extra != NULL) {
			yamldoc_err(doc, yamldoc_node_line(fy_document_root(extra), 0),
				    "more than one YAML document");
			fy_parse_document_destroy(f->fyp, extra);
			return -1;
		}
	}
	derr = fy_diag_errors_iterate(f->diag, &it);
	if (derr != NULL) {
		/* Collected errors carry 1-based lines already. */
		yamldoc_err(doc, derr->line > 0 ? derr->line : 0, "not valid YAML: %s",
			    derr->msg != NULL ? derr->msg : "parse error");
		return -1;
	}
	if (f->fyd == NULL) {
		yamldoc_err(doc, 1, "empty file, expected a mapping");
		return -1;
	}
	return 0;
}

struct yamldoc_file *yamldoc_load(const struct yamldoc *doc)
{
	struct yamldoc_file *f;
	int bad_line;
	size_t len;

	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		yamldoc_err(doc, 0, "out of memory");
		return NULL;
	}
	f->text = util_read_file(doc->file, YAMLDOC_FILE_MAX, &len);
	if (f->text == NULL) {
		yamldoc_err(doc, 0, "%s", errno == EFBIG ? "file over 1 MiB" : strerror(errno));
		goto fail;
	}
	if (memchr(f->text, '\0', len) != NULL) {
		yamldoc_err(doc, 0, "not valid YAML: NUL byte in the file");
		goto fail;
	}
	bad_line = utf8_bad_line((const unsigned char *)f->text, len);
	if (bad_line > 0) {
		yamldoc_err(doc, bad_line, "not valid YAML: not UTF-8");
		goto fail;
	}
	if (parse_yaml(doc, f, len) != 0)
		goto fail;
	return f;
fail:
	yamldoc_free(f);
	return NULL;
}

struct fy_node *yamldoc_root(const struct yamldoc_file *f)
{
	return fy_document_root(f->fyd);
}

void yamldoc_free(struct yamldoc_file *f)
{
	if (f == NULL)
		return;
	if (f->fyd != NULL)
		fy_parse_document_destroy(f->fyp, f->fyd);
	if (f->fyp != NULL)
		fy_parser_destroy(f->fyp);
	if (f->diag != NULL)
		fy_diag_destroy(f->diag);
	free(f->text);
	free(f);
}

/* ---- directories ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void yamldoc_free_names(char **names, size_t n)
{
	for (size_t i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
}

char **yamldoc_list(const char *dir, bool (*keep)(int dfd, const char *name), size_t max,
		    const char *noun, size_t *count, char *err, size_t err_size)
{
	char **names = NULL, **bigger;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		snprintf(err, err_size, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !keep(dirfd(d), de->d_name))
			continue;
		if (n == max) {
			snprintf(err, err_size, "%s: more than %zu %s", dir, max, noun);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = realloc(names, cap * sizeof(*names));
			if (bigger == NULL)
				goto nomem;
			names = bigger;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			goto nomem;
		n++;
	}
	if (errno != 0) {
		snprintf(err, err_size, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	*count = n;
	/* An empty set is valid: hand back a non-NULL array. */
	if (names == NULL && (names = calloc(1, sizeof(*names))) == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	return names;
nomem:
	snprintf(err, err_size, "out of memory");
fail:
	closedir(d);
	yamldoc_free_names(names, n);
	return NULL;
}
