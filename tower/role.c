/* role.c — loads and checks tower/roles/<name>/role.yaml and packs the role dir.
 * Owns the YAML schema and its "FILE:LINE: reason" errors; tar is bundle.c's. */
#include "tower/role.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "shared/bundle.h"
#include "shared/util.h"

#define ROLE_YAML "role.yaml"
#define ROLE_YAML_MAX (1024 * 1024)
#define ROLE_NAME_MAX 64
#define ROLE_SET_MAX 4096
#define DEFAULT_TIMEOUT_S (30 * 60)
#define MAX_TIMEOUT_S (24 * 3600)
#define MAX_RETRIES 10

static const char *const known_archs[] = {"x86_64", "aarch64", "armv7"};

/* What every check needs to say where it failed. */
struct load {
	const char *file;       /* role.yaml path, as shown to the user */
	const char *dir;        /* the role directory */
	char *err;
	size_t err_size;
};

struct role_set {
	struct role **roles;    /* sorted by name */
	size_t count;
};

/* Errors quote names and values from the file: keep them one line. */
static void one_line(char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void __attribute__((format(printf, 3, 4)))
load_err(const struct load *ld, int line, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	if (ld->err == NULL || ld->err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(ld->err, ld->err_size, "%s:%d: %s", ld->file, line, reason);
	else
		snprintf(ld->err, ld->err_size, "%s: %s", ld->file, reason);
	one_line(ld->err);
}

/* 1-based line where a node starts. Collections have no token of their own
 * in libfyaml 0.7, so they take their first child's line; empty ones (and
 * empty scalars) fall back to the caller's line, usually the key's. */
static int node_line(struct fy_node *fyn, int fallback)
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
		return pair != NULL ? node_line(fy_node_pair_key(pair), fallback) : fallback;
	case FYNT_SEQUENCE:
		return node_line(fy_node_sequence_iterate(fyn, &it), fallback);
	}
	return fallback;
}

static const char *node_kind(struct fy_node *fyn)
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

/* A scalar value as a heap string. what names it in messages. */
static char *get_string(const struct load *ld, struct fy_node *fyn, int line, const char *what)
{
	const char *s;
	char *copy;
	size_t len;

	line = node_line(fyn, line);
	if (fyn == NULL || (fy_node_is_scalar(fyn) && !fy_node_is_alias(fyn) && is_null_scalar(fyn))) {
		load_err(ld, line, "%s has no value (write \"\" for an empty string)", what);
		return NULL;
	}
	if (!fy_node_is_scalar(fyn) || fy_node_is_alias(fyn)) {
		load_err(ld, line, "%s must be a scalar, not %s", what, node_kind(fyn));
		return NULL;
	}
	s = fy_node_get_scalar(fyn, &len);
	if (s == NULL || memchr(s, '\0', len) != NULL) {
		load_err(ld, line, "%s holds a NUL byte", what);
		return NULL;
	}
	copy = strndup(s, len);
	if (copy == NULL)
		load_err(ld, line, "out of memory");
	return copy;
}

static int get_bool(const struct load *ld, struct fy_node *fyn, int line, const char *what,
		    bool *out)
{
	char *s = get_string(ld, fyn, line, what);
	int rc = 0;

	if (s == NULL)
		return -1;
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else {
		load_err(ld, node_line(fyn, line), "%s must be true or false, not \"%s\"", what, s);
		rc = -1;
	}
	free(s);
	return rc;
}

static int get_timeout(const struct load *ld, struct fy_node *fyn, int line, const char *what,
		       int64_t *out)
{
	char *s = get_string(ld, fyn, line, what);
	int64_t v;
	int rc = -1;

	if (s == NULL)
		return -1;
	line = node_line(fyn, line);
	if (util_parse_duration(s, &v) != 0)
		load_err(ld, line, "%s \"%s\" is not a duration (like 90s, 15m, 1h)", what, s);
	else if (v <= 0 || v > MAX_TIMEOUT_S)
		load_err(ld, line, "%s \"%s\" must be more than 0 and at most 24h", what, s);
	else {
		*out = v;
		rc = 0;
	}
	free(s);
	return rc;
}

static int get_retries(const struct load *ld, struct fy_node *fyn, int line, const char *what,
		       int64_t *out)
{
	char *s = get_string(ld, fyn, line, what);
	int rc = 0;

	if (s == NULL)
		return -1;
	if (util_parse_int(s, 0, MAX_RETRIES, out) != 0) {
		load_err(ld, node_line(fyn, line), "%s \"%s\" must be a whole number from 0 to %d",
			 what, s, MAX_RETRIES);
		rc = -1;
	}
	free(s);
	return rc;
}

/* Names: 1..64 bytes of [a-z0-9] plus the extra characters allowed. */
static bool name_ok(const char *s, const char *extra)
{
	size_t len = strlen(s);

	if (len == 0 || len > ROLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr(extra, s[i]) != NULL))
			return false;
	return true;
}

static char *get_name(const struct load *ld, struct fy_node *fyn, int line, const char *what,
		      const char *extra)
{
	char *s = get_string(ld, fyn, line, what);

	if (s != NULL && !name_ok(s, extra)) {
		load_err(ld, node_line(fyn, line), "%s \"%s\" must be 1 to %d of [a-z0-9%s]", what, s,
			 ROLE_NAME_MAX, extra);
		free(s);
		return NULL;
	}
	return s;
}

/* The key of a pair, which must be a plain string; *line gets its line. */
static const char *pair_key(const struct load *ld, struct fy_node_pair *pair, int parent_line,
			    int *line)
{
	struct fy_node *key = fy_node_pair_key(pair);
	const char *s;
	size_t len;

	*line = node_line(key, parent_line);
	if (key == NULL || !fy_node_is_scalar(key) || fy_node_is_alias(key)) {
		load_err(ld, *line, "keys must be plain strings, not %s", node_kind(key));
		return NULL;
	}
	s = fy_node_get_scalar0(key);
	fy_node_get_scalar(key, &len);
	if (s == NULL || strlen(s) != len) {
		load_err(ld, *line, "key holds a NUL byte");
		return NULL;
	}
	return s;
}

static int expect_type(const struct load *ld, struct fy_node *fyn, enum fy_node_type type,
		       int line, const char *what)
{
	static const char *const names[] = {
		[FYNT_SCALAR] = "a scalar", [FYNT_SEQUENCE] = "a list", [FYNT_MAPPING] = "a mapping"};

	if (fyn != NULL && !fy_node_is_alias(fyn) && fy_node_get_type(fyn) == type)
		return 0;
	load_err(ld, line, "%s must be %s, not %s", what, names[type], node_kind(fyn));
	return -1;
}

static int parse_archs(const struct load *ld, struct role *role, struct fy_node *seq, int line)
{
	struct fy_node *item;
	void *it = NULL;
	size_t n;

	if (expect_type(ld, seq, FYNT_SEQUENCE, line, "archs") != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	if (n == 0) {
		load_err(ld, line, "archs is empty: the role could run nowhere");
		return -1;
	}
	role->archs = calloc(n, sizeof(*role->archs));
	if (role->archs == NULL) {
		load_err(ld, line, "out of memory");
		return -1;
	}
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		int iline = node_line(item, line);
		char *arch = get_string(ld, item, line, "arch");
		bool known = false;

		if (arch == NULL)
			return -1;
		for (size_t i = 0; i < OC_ARRAY_LEN(known_archs); i++)
			known = known || strcmp(arch, known_archs[i]) == 0;
		if (!known) {
			load_err(ld, iline, "arch \"%s\" is not one of x86_64, aarch64, armv7", arch);
			free(arch);
			return -1;
		}
		for (size_t i = 0; i < role->arch_count; i++) {
			if (strcmp(role->archs[i], arch) == 0) {
				load_err(ld, iline, "duplicate arch \"%s\"", arch);
				free(arch);
				return -1;
			}
		}
		role->archs[role->arch_count++] = arch;
	}
	return 0;
}

static int default_archs(const struct load *ld, struct role *role)
{
	role->archs = calloc(OC_ARRAY_LEN(known_archs), sizeof(*role->archs));
	if (role->archs == NULL)
		goto nomem;
	for (size_t i = 0; i < OC_ARRAY_LEN(known_archs); i++) {
		role->archs[i] = strdup(known_archs[i]);
		if (role->archs[i] == NULL)
			goto nomem;
		role->arch_count++;
	}
	return 0;
nomem:
	load_err(ld, 0, "out of memory");
	return -1;
}

/* The pair under key want in map, or NULL. */
static struct fy_node_pair *find_pair(struct fy_node *map, const char *want)
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

/* Reads the name of an input or output item first, so every later message
 * can say which one it is about. *name_line gets the line of the name. */
static char *item_name(const struct load *ld, struct fy_node *item, int line, const char *what,
		       int *name_line)
{
	struct fy_node_pair *pair = find_pair(item, "name");
	char label[32];

	if (pair == NULL) {
		load_err(ld, line, "%s has no name", what);
		return NULL;
	}
	*name_line = node_line(fy_node_pair_value(pair), node_line(fy_node_pair_key(pair), line));
	snprintf(label, sizeof(label), "%s name", what);
	return get_name(ld, fy_node_pair_value(pair), *name_line, label, "_");
}

static int parse_inputs(const struct load *ld, struct role *role, struct fy_node *seq, int line)
{
	struct fy_node *item;
	void *it = NULL;
	size_t n;

	if (expect_type(ld, seq, FYNT_SEQUENCE, line, "inputs") != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	role->inputs = calloc(n > 0 ? n : 1, sizeof(*role->inputs));
	if (role->inputs == NULL) {
		load_err(ld, line, "out of memory");
		return -1;
	}
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		struct role_input *in = &role->inputs[role->input_count];
		int iline = node_line(item, line), kline, nline;
		struct fy_node_pair *pair;
		void *kit = NULL;
		char what[128];

		if (expect_type(ld, item, FYNT_MAPPING, iline, "an input") != 0)
			return -1;
		in->name = item_name(ld, item, iline, "input", &nline);
		if (in->name == NULL)
			return -1;
		role->input_count++;
		for (size_t i = 0; i + 1 < role->input_count; i++) {
			if (strcmp(role->inputs[i].name, in->name) == 0) {
				load_err(ld, nline, "duplicate input \"%s\"", in->name);
				return -1;
			}
		}
		while ((pair = fy_node_mapping_iterate(item, &kit)) != NULL) {
			const char *key = pair_key(ld, pair, iline, &kline);
			struct fy_node *val = fy_node_pair_value(pair);

			if (key == NULL)
				return -1;
			snprintf(what, sizeof(what), "input \"%s\": %s", in->name, key);
			if (strcmp(key, "name") == 0)
				continue;
			if (strcmp(key, "required") == 0) {
				if (get_bool(ld, val, kline, what, &in->required) != 0)
					return -1;
			} else if (strcmp(key, "secret") == 0) {
				if (get_bool(ld, val, kline, what, &in->secret) != 0)
					return -1;
			} else if (strcmp(key, "default") == 0) {
				in->default_value = get_string(ld, val, kline, what);
				if (in->default_value == NULL)
					return -1;
			} else {
				load_err(ld, kline, "input \"%s\": unknown key \"%s\"", in->name, key);
				return -1;
			}
		}
		if (in->required && in->default_value != NULL) {
			load_err(ld, iline, "input \"%s\": a required input cannot have a default",
				 in->name);
			return -1;
		}
	}
	return 0;
}

static int parse_outputs(const struct load *ld, struct role *role, struct fy_node *seq, int line)
{
	struct fy_node *item;
	void *it = NULL;
	size_t n;

	if (expect_type(ld, seq, FYNT_SEQUENCE, line, "outputs") != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	role->outputs = calloc(n > 0 ? n : 1, sizeof(*role->outputs));
	if (role->outputs == NULL) {
		load_err(ld, line, "out of memory");
		return -1;
	}
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		struct role_output *out = &role->outputs[role->output_count];
		int iline = node_line(item, line), kline, nline;
		struct fy_node_pair *pair;
		void *kit = NULL;
		char what[128];

		if (expect_type(ld, item, FYNT_MAPPING, iline, "an output") != 0)
			return -1;
		out->name = item_name(ld, item, iline, "output", &nline);
		if (out->name == NULL)
			return -1;
		role->output_count++;
		for (size_t i = 0; i + 1 < role->output_count; i++) {
			if (strcmp(role->outputs[i].name, out->name) == 0) {
				load_err(ld, nline, "duplicate output \"%s\"", out->name);
				return -1;
			}
		}
		while ((pair = fy_node_mapping_iterate(item, &kit)) != NULL) {
			const char *key = pair_key(ld, pair, iline, &kline);

			if (key == NULL)
				return -1;
			snprintf(what, sizeof(what), "output \"%s\": %s", out->name, key);
			if (strcmp(key, "name") == 0)
				continue;
			if (strcmp(key, "secret") == 0) {
				if (get_bool(ld, fy_node_pair_value(pair), kline, what, &out->secret) != 0)
					return -1;
			} else {
				load_err(ld, kline, "output \"%s\": unknown key \"%s\"", out->name, key);
				return -1;
			}
		}
	}
	return 0;
}

/* A script path stays inside the role directory: relative, no "." or ".."
 * components, no empty ones; then it must be an executable regular file. */
static int check_script(const struct load *ld, const char *step, const char *script, int line)
{
	char path[PATH_MAX];
	const char *p = script;
	struct stat st;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t clen = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (clen == 0 || (clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.')) {
			load_err(ld, line, "step \"%s\": script \"%s\" must be a path inside the role "
				 "directory", step, script);
			return -1;
		}
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	if (snprintf(path, sizeof(path), "%s/%s", ld->dir, script) >= (int)sizeof(path)) {
		load_err(ld, line, "step \"%s\": script path too long", step);
		return -1;
	}
	if (lstat(path, &st) != 0) {
		load_err(ld, line, "step \"%s\": script \"%s\" %s", step, script,
			 errno == ENOENT || errno == ENOTDIR ? "does not exist" : strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		load_err(ld, line, "step \"%s\": script \"%s\" is not a regular file", step, script);
		return -1;
	}
	if ((st.st_mode & S_IXUSR) == 0) {
		load_err(ld, line, "step \"%s\": script \"%s\" is not executable", step, script);
		return -1;
	}
	return 0;
}

static int parse_step(const struct load *ld, struct role *role, struct role_step *step,
		      struct fy_node *map, int line)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	char what[128];
	int kline, script_line = line;

	step->timeout_s = role->timeout_s;
	step->retries = role->retries;
	snprintf(what, sizeof(what), "step \"%s\"", step->name);
	if (map == NULL || (fy_node_is_scalar(map) && !fy_node_is_alias(map) && is_null_scalar(map))) {
		load_err(ld, line, "step \"%s\": missing key \"script\"", step->name);
		return -1;
	}
	if (expect_type(ld, map, FYNT_MAPPING, line, what) != 0)
		return -1;
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		const char *key = pair_key(ld, pair, line, &kline);
		struct fy_node *val = fy_node_pair_value(pair);

		if (key == NULL)
			return -1;
		snprintf(what, sizeof(what), "step \"%s\": %s", step->name, key);
		if (strcmp(key, "script") == 0) {
			step->script = get_string(ld, val, kline, what);
			if (step->script == NULL)
				return -1;
			script_line = node_line(val, kline);
		} else if (strcmp(key, "timeout") == 0) {
			if (get_timeout(ld, val, kline, what, &step->timeout_s) != 0)
				return -1;
		} else if (strcmp(key, "retries") == 0) {
			if (get_retries(ld, val, kline, what, &step->retries) != 0)
				return -1;
		} else {
			load_err(ld, kline, "step \"%s\": unknown key \"%s\"", step->name, key);
			return -1;
		}
	}
	if (step->script == NULL) {
		load_err(ld, line, "step \"%s\": missing key \"script\"", step->name);
		return -1;
	}
	return check_script(ld, step->name, step->script, script_line);
}

static int parse_steps(const struct load *ld, struct role *role, struct fy_node *map, int line)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t n;

	if (expect_type(ld, map, FYNT_MAPPING, line, "steps") != 0)
		return -1;
	n = (size_t)fy_node_mapping_item_count(map);
	if (n == 0) {
		load_err(ld, line, "steps is empty");
		return -1;
	}
	role->steps = calloc(n, sizeof(*role->steps));
	if (role->steps == NULL) {
		load_err(ld, line, "out of memory");
		return -1;
	}
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		struct role_step *step = &role->steps[role->step_count];
		int kline;
		const char *key = pair_key(ld, pair, line, &kline);

		if (key == NULL)
			return -1;
		if (!name_ok(key, "_-")) {
			load_err(ld, kline, "step name \"%s\" must be 1 to %d of [a-z0-9_-]", key,
				 ROLE_NAME_MAX);
			return -1;
		}
		for (size_t i = 0; i < role->step_count; i++) {
			if (strcmp(role->steps[i].name, key) == 0) {
				load_err(ld, kline, "duplicate step \"%s\"", key);
				return -1;
			}
		}
		step->name = strdup(key);
		if (step->name == NULL) {
			load_err(ld, kline, "out of memory");
			return -1;
		}
		role->step_count++;
		if (parse_step(ld, role, step, fy_node_pair_value(pair), kline) != 0)
			return -1;
	}
	return 0;
}

/* Walks the top-level mapping in file order; steps wait for the end since
 * they inherit the role's timeout and retries, wherever those are written. */
static int parse_role(const struct load *ld, struct role *role, struct fy_node *root,
		      const char *dirname)
{
	struct fy_node *steps = NULL;
	struct fy_node_pair *pair;
	int line, steps_line = 0, root_line = node_line(root, 1);
	bool have_archs = false;
	void *it = NULL;

	if (root == NULL || fy_node_is_alias(root) || !fy_node_is_mapping(root)) {
		load_err(ld, root_line, "the file must hold a mapping, not %s", node_kind(root));
		return -1;
	}
	role->timeout_s = DEFAULT_TIMEOUT_S;
	role->retries = 0;
	while ((pair = fy_node_mapping_iterate(root, &it)) != NULL) {
		const char *key = pair_key(ld, pair, root_line, &line);
		struct fy_node *val = fy_node_pair_value(pair);

		if (key == NULL)
			return -1;
		if (strcmp(key, "name") == 0) {
			/* The directory name was checked already: equal means valid. */
			role->name = get_string(ld, val, line, "name");
			if (role->name == NULL)
				return -1;
			if (strcmp(role->name, dirname) != 0) {
				load_err(ld, node_line(val, line),
					 "name \"%s\" does not match the directory \"%s\"", role->name,
					 dirname);
				return -1;
			}
		} else if (strcmp(key, "description") == 0) {
			role->description = get_string(ld, val, line, "description");
			if (role->description == NULL)
				return -1;
		} else if (strcmp(key, "archs") == 0) {
			if (parse_archs(ld, role, val, line) != 0)
				return -1;
			have_archs = true;
		} else if (strcmp(key, "timeout") == 0) {
			if (get_timeout(ld, val, line, "timeout", &role->timeout_s) != 0)
				return -1;
		} else if (strcmp(key, "retries") == 0) {
			if (get_retries(ld, val, line, "retries", &role->retries) != 0)
				return -1;
		} else if (strcmp(key, "inputs") == 0) {
			if (parse_inputs(ld, role, val, line) != 0)
				return -1;
		} else if (strcmp(key, "outputs") == 0) {
			if (parse_outputs(ld, role, val, line) != 0)
				return -1;
		} else if (strcmp(key, "steps") == 0) {
			steps = val;
			steps_line = line;
		} else {
			load_err(ld, line, "unknown key \"%s\"", key);
			return -1;
		}
	}
	if (role->name == NULL) {
		load_err(ld, root_line, "missing key \"name\"");
		return -1;
	}
	if (steps_line == 0) {
		load_err(ld, root_line, "missing key \"steps\"");
		return -1;
	}
	if (parse_steps(ld, role, steps, steps_line) != 0)
		return -1;
	if (role->description == NULL && (role->description = strdup("")) == NULL) {
		load_err(ld, 0, "out of memory");
		return -1;
	}
	if (!have_archs && default_archs(ld, role) != 0)
		return -1;
	return 0;
}

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

/* Parses text as exactly one YAML document. libfyaml's messages are
 * collected, never printed; the first one becomes our error line. */
static struct fy_document *parse_yaml(const struct load *ld, const char *text, size_t len,
				      struct fy_parser **parser_out, struct fy_diag **diag_out)
{
	struct fy_parse_cfg pcfg = {.flags = FYPCF_QUIET};
	struct fy_diag_error *derr;
	struct fy_diag_cfg dcfg;
	struct fy_document *fyd = NULL, *extra;
	struct fy_parser *fyp = NULL;
	struct fy_diag *diag;
	void *it = NULL;

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_discard;
	dcfg.colorize = false;
	diag = fy_diag_create(&dcfg);
	if (diag == NULL) {
		load_err(ld, 0, "out of memory");
		return NULL;
	}
	/* Collected errors are freed by fy_diag_destroy, not by the last
	 * fy_diag_unref: callers destroy it once the parser is gone. */
	fy_diag_set_collect_errors(diag, true);
	pcfg.diag = diag;
	fyp = fy_parser_create(&pcfg);
	if (fyp == NULL || fy_parser_set_string(fyp, text, len) != 0) {
		load_err(ld, 0, "out of memory");
		goto fail;
	}
	fyd = fy_parse_load_document(fyp);
	if (fyd != NULL) {
		extra = fy_parse_load_document(fyp);
		if (extra != NULL) {
			load_err(ld, node_line(fy_document_root(extra), 0),
				 "more than one YAML document");
			fy_parse_document_destroy(fyp, extra);
			goto fail;
		}
	}
	derr = fy_diag_errors_iterate(diag, &it);
	if (derr != NULL) {
		/* Collected errors carry 1-based lines already. */
		load_err(ld, derr->line > 0 ? derr->line : 0, "not valid YAML: %s",
			 derr->msg != NULL ? derr->msg : "parse error");
		goto fail;
	}
	if (fyd == NULL) {
		load_err(ld, 1, "empty file, expected a mapping");
		goto fail;
	}
	*parser_out = fyp;
	*diag_out = diag;
	return fyd;
fail:
	if (fyd != NULL)
		fy_parse_document_destroy(fyp, fyd);
	if (fyp != NULL)
		fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	return NULL;
}

struct role *role_load(const char *roles_dir, const char *name, char *err, size_t err_size)
{
	char dir[PATH_MAX], file[PATH_MAX + 16], perr[256];
	struct load ld = {.file = file, .dir = dir, .err = err, .err_size = err_size};
	struct fy_document *fyd = NULL;
	struct fy_parser *fyp = NULL;
	struct fy_diag *diag = NULL;
	struct role *role = NULL;
	char *text = NULL;
	int bad_line;
	size_t len;

	if (snprintf(dir, sizeof(dir), "%s/%s", roles_dir, name) >= (int)sizeof(dir) ||
	    snprintf(file, sizeof(file), "%s/" ROLE_YAML, dir) >= (int)sizeof(file)) {
		snprintf(err, err_size, "%s/%s: path too long", roles_dir, name);
		if (err_size > 0)
			one_line(err);
		return NULL;
	}
	if (!name_ok(name, "-")) {
		snprintf(err, err_size, "%s: role directory name must be 1 to %d of [a-z0-9-]", dir,
			 ROLE_NAME_MAX);
		if (err_size > 0)
			one_line(err);
		return NULL;
	}
	text = util_read_file(file, ROLE_YAML_MAX, &len);
	if (text == NULL) {
		load_err(&ld, 0, "%s", errno == EFBIG ? "file over 1 MiB" : strerror(errno));
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		load_err(&ld, 0, "not valid YAML: NUL byte in the file");
		goto fail;
	}
	bad_line = utf8_bad_line((const unsigned char *)text, len);
	if (bad_line > 0) {
		load_err(&ld, bad_line, "not valid YAML: not UTF-8");
		goto fail;
	}
	fyd = parse_yaml(&ld, text, len, &fyp, &diag);
	if (fyd == NULL)
		goto fail;
	role = calloc(1, sizeof(*role));
	if (role == NULL) {
		load_err(&ld, 0, "out of memory");
		goto fail;
	}
	if (parse_role(&ld, role, fy_document_root(fyd), name) != 0)
		goto fail;
	if (bundle_pack_dir(dir, &role->bundle, &role->bundle_len, perr, sizeof(perr)) != 0) {
		snprintf(err, err_size, "%s: cannot pack the role: %s", dir, perr);
		if (err_size > 0)
			one_line(err);
		goto fail;
	}
	util_sha256_hex(role->bundle, role->bundle_len, role->bundle_hash);
	fy_parse_document_destroy(fyp, fyd);
	fy_parser_destroy(fyp);
	fy_diag_destroy(diag);
	free(text);
	return role;
fail:
	role_free(role);
	if (fyd != NULL)
		fy_parse_document_destroy(fyp, fyd);
	if (fyp != NULL)
		fy_parser_destroy(fyp);
	if (diag != NULL)
		fy_diag_destroy(diag);
	free(text);
	return NULL;
}

void role_free(struct role *role)
{
	if (role == NULL)
		return;
	free(role->name);
	free(role->description);
	for (size_t i = 0; i < role->arch_count; i++)
		free(role->archs[i]);
	free(role->archs);
	for (size_t i = 0; i < role->input_count; i++) {
		free(role->inputs[i].name);
		free(role->inputs[i].default_value);
	}
	free(role->inputs);
	for (size_t i = 0; i < role->output_count; i++)
		free(role->outputs[i].name);
	free(role->outputs);
	for (size_t i = 0; i < role->step_count; i++) {
		free(role->steps[i].name);
		free(role->steps[i].script);
	}
	free(role->steps);
	free(role->bundle);
	free(role);
}

const struct role_step *role_find_step(const struct role *role, const char *step)
{
	for (size_t i = 0; role != NULL && step != NULL && i < role->step_count; i++)
		if (strcmp(role->steps[i].name, step) == 0)
			return &role->steps[i];
	return NULL;
}

const struct role_input *role_find_input(const struct role *role, const char *name)
{
	for (size_t i = 0; role != NULL && name != NULL && i < role->input_count; i++)
		if (strcmp(role->inputs[i].name, name) == 0)
			return &role->inputs[i];
	return NULL;
}

const struct role_output *role_find_output(const struct role *role, const char *name)
{
	for (size_t i = 0; role != NULL && name != NULL && i < role->output_count; i++)
		if (strcmp(role->outputs[i].name, name) == 0)
			return &role->outputs[i];
	return NULL;
}

bool role_supports_arch(const struct role *role, const char *arch)
{
	for (size_t i = 0; role != NULL && arch != NULL && i < role->arch_count; i++)
		if (strcmp(role->archs[i], arch) == 0)
			return true;
	return false;
}

/* ---- sets ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names of roles_dir's subdirectories holding a role.yaml, sorted. */
static char **list_roles(const char *roles_dir, size_t *count, char *err, size_t err_size)
{
	char **names = NULL, **bigger;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(roles_dir);
	if (d == NULL) {
		snprintf(err, err_size, "%s: %s", roles_dir, strerror(errno));
		return NULL;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		char yaml[NAME_MAX + sizeof("/" ROLE_YAML)];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		snprintf(yaml, sizeof(yaml), "%s/" ROLE_YAML, de->d_name);
		if (fstatat(dirfd(d), yaml, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (n == ROLE_SET_MAX) {
			snprintf(err, err_size, "%s: more than %d roles", roles_dir, ROLE_SET_MAX);
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
		snprintf(err, err_size, "%s: %s", roles_dir, strerror(errno));
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
	free_names(names, n);
	return NULL;
}

struct role_set *role_set_load(const char *roles_dir, char *err, size_t err_size)
{
	struct role_set *set;
	size_t n = 0;
	char **names;

	names = list_roles(roles_dir, &n, err, err_size);
	if (names == NULL)
		return NULL;
	set = calloc(1, sizeof(*set));
	if (set == NULL || (set->roles = calloc(n > 0 ? n : 1, sizeof(*set->roles))) == NULL) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		set->roles[i] = role_load(roles_dir, names[i], err, err_size);
		if (set->roles[i] == NULL)
			goto fail;
		set->count++;
	}
	free_names(names, n);
	return set;
fail:
	role_set_free(set);
	free_names(names, n);
	return NULL;
}

void role_set_free(struct role_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->count; i++)
		role_free(set->roles[i]);
	free(set->roles);
	free(set);
}

static int role_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct role *const *)elem)->name);
}

const struct role *role_set_find(const struct role_set *set, const char *name)
{
	struct role **found;

	if (set == NULL || name == NULL || set->count == 0)
		return NULL;
	found = bsearch(name, set->roles, set->count, sizeof(*set->roles), role_key_cmp);
	return found != NULL ? *found : NULL;
}

size_t role_set_count(const struct role_set *set)
{
	return set != NULL ? set->count : 0;
}

const struct role *role_set_at(const struct role_set *set, size_t i)
{
	return set != NULL && i < set->count ? set->roles[i] : NULL;
}
