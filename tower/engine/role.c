/* role.c — loads and checks tower/roles/<name>/role.yaml and packs the role dir
 * with the shared files it includes. Owns the YAML schema and its
 * "FILE:LINE: reason" errors; tar is bundle.c's. */
#include "tower/engine/role.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shared/bundle.h"
#include "shared/util.h"
#include "tower/engine/yamldoc.h"

#define ROLE_YAML "role.yaml"
#define ROLE_SET_MAX 4096
#define DEFAULT_TIMEOUT_S (30 * 60)

static const char *const known_archs[] = {"x86_64", "aarch64", "armv7"};

/* What every check needs to say where it failed. */
struct load {
	struct yamldoc doc;     /* role.yaml path, as shown to the user; err */
	const char *dir;        /* the role directory */
	const char *shared;     /* <roles_dir>/_shared, where includes are */
};

struct role_set {
	struct role **roles;    /* sorted by name */
	size_t count;
};

static int parse_archs(const struct load *ld, struct role *role, struct fy_node *seq, int line)
{
	struct fy_node *item;
	void *it = NULL;
	size_t n;

	if (yamldoc_expect_type(&ld->doc, seq, FYNT_SEQUENCE, line, "archs") != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	if (n == 0) {
		yamldoc_err(&ld->doc, line, "archs is empty: the role could run nowhere");
		return -1;
	}
	role->archs = calloc(n, sizeof(*role->archs));
	if (role->archs == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		int iline = yamldoc_node_line(item, line);
		char *arch = yamldoc_get_string(&ld->doc, item, line, "arch");
		bool known = false;

		if (arch == NULL)
			return -1;
		for (size_t i = 0; i < OC_ARRAY_LEN(known_archs); i++)
			known = known || strcmp(arch, known_archs[i]) == 0;
		if (!known) {
			yamldoc_err(&ld->doc, iline,
				    "arch \"%s\" is not one of x86_64, aarch64, armv7", arch);
			free(arch);
			return -1;
		}
		for (size_t i = 0; i < role->arch_count; i++) {
			if (strcmp(role->archs[i], arch) == 0) {
				yamldoc_err(&ld->doc, iline, "duplicate arch \"%s\"", arch);
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
	yamldoc_err(&ld->doc, 0, "out of memory");
	return -1;
}

/* Reads the name of an input or output item first, so every later message
 * can say which one it is about. *name_line gets the line of the name. */
static char *item_name(const struct load *ld, struct fy_node *item, int line, const char *what,
		       int *name_line)
{
	struct fy_node_pair *pair = yamldoc_find_pair(item, "name");
	char label[32];

	if (pair == NULL) {
		yamldoc_err(&ld->doc, line, "%s has no name", what);
		return NULL;
	}
	*name_line = yamldoc_node_line(fy_node_pair_value(pair),
				       yamldoc_node_line(fy_node_pair_key(pair), line));
	snprintf(label, sizeof(label), "%s name", what);
	return yamldoc_get_name(&ld->doc, fy_node_pair_value(pair), *name_line, label, "_");
}

static int parse_inputs(const struct load *ld, struct role *role, struct fy_node *seq, int line)
{
	struct fy_node *item;
	void *it = NULL;
	size_t n;

	if (yamldoc_expect_type(&ld->doc, seq, FYNT_SEQUENCE, line, "inputs") != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	role->inputs = calloc(n > 0 ? n : 1, sizeof(*role->inputs));
	if (role->inputs == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		struct role_input *in = &role->inputs[role->input_count];
		int iline = yamldoc_node_line(item, line), kline, nline;
		struct fy_node_pair *pair;
		void *kit = NULL;
		char what[128];

		if (yamldoc_expect_type(&ld->doc, item, FYNT_MAPPING, iline, "an input") != 0)
			return -1;
		in->name = item_name(ld, item, iline, "input", &nline);
		if (in->name == NULL)
			return -1;
		role->input_count++;
		for (size_t i = 0; i + 1 < role->input_count; i++) {
			if (strcmp(role->inputs[i].name, in->name) == 0) {
				yamldoc_err(&ld->doc, nline, "duplicate input \"%s\"", in->name);
				return -1;
			}
		}
		while ((pair = fy_node_mapping_iterate(item, &kit)) != NULL) {
			const char *key = yamldoc_pair_key(&ld->doc, pair, iline, &kline);
			struct fy_node *val = fy_node_pair_value(pair);

			if (key == NULL)
				return -1;
			snprintf(what, sizeof(what), "input \"%s\": %s", in->name, key);
			if (strcmp(key, "name") == 0)
				continue;
			if (strcmp(key, "required") == 0) {
				if (yamldoc_get_bool(&ld->doc, val, kline, what,
						     &in->required) != 0)
					return -1;
			} else if (strcmp(key, "secret") == 0) {
				if (yamldoc_get_bool(&ld->doc, val, kline, what, &in->secret) != 0)
					return -1;
			} else if (strcmp(key, "default") == 0) {
				in->default_value = yamldoc_get_string(&ld->doc, val, kline, what);
				if (in->default_value == NULL)
					return -1;
			} else {
				yamldoc_err(&ld->doc, kline, "input \"%s\": unknown key \"%s\"",
					    in->name, key);
				return -1;
			}
		}
		if (in->required && in->default_value != NULL) {
			yamldoc_err(&ld->doc, iline,
				    "input \"%s\": a required input cannot have a default",
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

	if (yamldoc_expect_type(&ld->doc, seq, FYNT_SEQUENCE, line, "outputs") != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	role->outputs = calloc(n > 0 ? n : 1, sizeof(*role->outputs));
	if (role->outputs == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		struct role_output *out = &role->outputs[role->output_count];
		int iline = yamldoc_node_line(item, line), kline, nline;
		struct fy_node_pair *pair;
		void *kit = NULL;
		char what[128];

		if (yamldoc_expect_type(&ld->doc, item, FYNT_MAPPING, iline, "an output") != 0)
			return -1;
		out->name = item_name(ld, item, iline, "output", &nline);
		if (out->name == NULL)
			return -1;
		role->output_count++;
		for (size_t i = 0; i + 1 < role->output_count; i++) {
			if (strcmp(role->outputs[i].name, out->name) == 0) {
				yamldoc_err(&ld->doc, nline, "duplicate output \"%s\"", out->name);
				return -1;
			}
		}
		while ((pair = fy_node_mapping_iterate(item, &kit)) != NULL) {
			const char *key = yamldoc_pair_key(&ld->doc, pair, iline, &kline);

			if (key == NULL)
				return -1;
			snprintf(what, sizeof(what), "output \"%s\": %s", out->name, key);
			if (strcmp(key, "name") == 0)
				continue;
			if (strcmp(key, "secret") == 0) {
				if (yamldoc_get_bool(&ld->doc, fy_node_pair_value(pair), kline,
						     what, &out->secret) != 0)
					return -1;
			} else {
				yamldoc_err(&ld->doc, kline, "output \"%s\": unknown key \"%s\"",
					    out->name, key);
				return -1;
			}
		}
	}
	return 0;
}

/* An include is a file of the shared dir by its plain name: it lands at the
 * bundle's top, so no '/'; no leading '.' keeps ".", ".." and hidden files
 * out. */
static bool include_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > NAME_MAX || name[0] == '.' || strchr(name, '/') != NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

/* Checks what bundle.c would refuse later without a line: the file is a
 * regular one in the shared dir and the role directory has no such name. */
static int check_include(const struct load *ld, const char *name, int line)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", ld->shared, name) >= (int)sizeof(path)) {
		yamldoc_err(&ld->doc, line, "include \"%s\": path too long", name);
		return -1;
	}
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			yamldoc_err(&ld->doc, line, "include \"%s\" does not exist in %s", name,
				    ld->shared);
		else
			yamldoc_err(&ld->doc, line, "include \"%s\": %s", name, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		yamldoc_err(&ld->doc, line, "include \"%s\" is not a regular file in %s", name,
			    ld->shared);
		return -1;
	}
	if (snprintf(path, sizeof(path), "%s/%s", ld->dir, name) >= (int)sizeof(path)) {
		yamldoc_err(&ld->doc, line, "include \"%s\": path too long", name);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		yamldoc_err(&ld->doc, line,
			    "include \"%s\" clashes with the role directory's own \"%s\"", name,
			    name);
		return -1;
	}
	return 0;
}

static int parse_includes(const struct load *ld, struct role *role, struct fy_node *seq, int line)
{
	struct fy_node *item;
	void *it = NULL;
	size_t n;

	if (yamldoc_expect_type(&ld->doc, seq, FYNT_SEQUENCE, line, "include") != 0)
		return -1;
	n = (size_t)fy_node_sequence_item_count(seq);
	role->includes = calloc(n > 0 ? n : 1, sizeof(*role->includes));
	if (role->includes == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	while ((item = fy_node_sequence_iterate(seq, &it)) != NULL) {
		int iline = yamldoc_node_line(item, line);
		char *name = yamldoc_get_string(&ld->doc, item, line, "an include");

		if (name == NULL)
			return -1;
		role->includes[role->include_count++] = name;
		if (!include_name_ok(name)) {
			yamldoc_err(&ld->doc, iline,
				    "include \"%s\" must be a plain file name of %s (no \"/\", "
				    "not starting with \".\")", name, ROLE_SHARED_DIR);
			return -1;
		}
		for (size_t i = 0; i + 1 < role->include_count; i++) {
			if (strcmp(role->includes[i], name) == 0) {
				yamldoc_err(&ld->doc, iline, "duplicate include \"%s\"", name);
				return -1;
			}
		}
		if (check_include(ld, name, iline) != 0)
			return -1;
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
			yamldoc_err(&ld->doc, line, "step \"%s\": script \"%s\" must be a path "
				    "inside the role directory", step, script);
			return -1;
		}
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	if (snprintf(path, sizeof(path), "%s/%s", ld->dir, script) >= (int)sizeof(path)) {
		yamldoc_err(&ld->doc, line, "step \"%s\": script path too long", step);
		return -1;
	}
	if (lstat(path, &st) != 0) {
		yamldoc_err(&ld->doc, line, "step \"%s\": script \"%s\" %s", step, script,
			    errno == ENOENT || errno == ENOTDIR ? "does not exist" : strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		yamldoc_err(&ld->doc, line, "step \"%s\": script \"%s\" is not a regular file",
			    step, script);
		return -1;
	}
	if ((st.st_mode & S_IXUSR) == 0) {
		yamldoc_err(&ld->doc, line, "step \"%s\": script \"%s\" is not executable", step,
			    script);
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
	if (yamldoc_is_null(map)) {
		yamldoc_err(&ld->doc, line, "step \"%s\": missing key \"script\"", step->name);
		return -1;
	}
	if (yamldoc_expect_type(&ld->doc, map, FYNT_MAPPING, line, what) != 0)
		return -1;
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		const char *key = yamldoc_pair_key(&ld->doc, pair, line, &kline);
		struct fy_node *val = fy_node_pair_value(pair);

		if (key == NULL)
			return -1;
		snprintf(what, sizeof(what), "step \"%s\": %s", step->name, key);
		if (strcmp(key, "script") == 0) {
			step->script = yamldoc_get_string(&ld->doc, val, kline, what);
			if (step->script == NULL)
				return -1;
			script_line = yamldoc_node_line(val, kline);
		} else if (strcmp(key, "timeout") == 0) {
			if (yamldoc_get_timeout(&ld->doc, val, kline, what, &step->timeout_s) != 0)
				return -1;
		} else if (strcmp(key, "retries") == 0) {
			if (yamldoc_get_retries(&ld->doc, val, kline, what, &step->retries) != 0)
				return -1;
		} else {
			yamldoc_err(&ld->doc, kline, "step \"%s\": unknown key \"%s\"", step->name,
				    key);
			return -1;
		}
	}
	if (step->script == NULL) {
		yamldoc_err(&ld->doc, line, "step \"%s\": missing key \"script\"", step->name);
		return -1;
	}
	return check_script(ld, step->name, step->script, script_line);
}

static int parse_steps(const struct load *ld, struct role *role, struct fy_node *map, int line)
{
	struct fy_node_pair *pair;
	void *it = NULL;
	size_t n;

	if (yamldoc_expect_type(&ld->doc, map, FYNT_MAPPING, line, "steps") != 0)
		return -1;
	n = (size_t)fy_node_mapping_item_count(map);
	if (n == 0) {
		yamldoc_err(&ld->doc, line, "steps is empty");
		return -1;
	}
	role->steps = calloc(n, sizeof(*role->steps));
	if (role->steps == NULL) {
		yamldoc_err(&ld->doc, line, "out of memory");
		return -1;
	}
	while ((pair = fy_node_mapping_iterate(map, &it)) != NULL) {
		struct role_step *step = &role->steps[role->step_count];
		int kline;
		const char *key = yamldoc_pair_key(&ld->doc, pair, line, &kline);

		if (key == NULL)
			return -1;
		if (!yamldoc_name_ok(key, "_-")) {
			yamldoc_err(&ld->doc, kline,
				    "step name \"%s\" must be 1 to %d of [a-z0-9_-]", key,
				    YAMLDOC_NAME_MAX);
			return -1;
		}
		for (size_t i = 0; i < role->step_count; i++) {
			if (strcmp(role->steps[i].name, key) == 0) {
				yamldoc_err(&ld->doc, kline, "duplicate step \"%s\"", key);
				return -1;
			}
		}
		step->name = strdup(key);
		if (step->name == NULL) {
			yamldoc_err(&ld->doc, kline, "out of memory");
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
	int line, steps_line = 0, root_line = yamldoc_node_line(root, 1);
	bool have_archs = false;
	void *it = NULL;

	if (root == NULL || fy_node_is_alias(root) || !fy_node_is_mapping(root)) {
		yamldoc_err(&ld->doc, root_line, "the file must hold a mapping, not %s",
			    yamldoc_node_kind(root));
		return -1;
	}
	role->timeout_s = DEFAULT_TIMEOUT_S;
	role->retries = 0;
	while ((pair = fy_node_mapping_iterate(root, &it)) != NULL) {
		const char *key = yamldoc_pair_key(&ld->doc, pair, root_line, &line);
		struct fy_node *val = fy_node_pair_value(pair);

		if (key == NULL)
			return -1;
		if (strcmp(key, "name") == 0) {
			/* The directory name was checked already: equal means valid. */
			role->name = yamldoc_get_string(&ld->doc, val, line, "name");
			if (role->name == NULL)
				return -1;
			if (strcmp(role->name, dirname) != 0) {
				yamldoc_err(&ld->doc, yamldoc_node_line(val, line),
					    "name \"%s\" does not match the directory \"%s\"",
					    role->name, dirname);
				return -1;
			}
		} else if (strcmp(key, "description") == 0) {
			role->description = yamldoc_get_string(&ld->doc, val, line, "description");
			if (role->description == NULL)
				return -1;
		} else if (strcmp(key, "archs") == 0) {
			if (parse_archs(ld, role, val, line) != 0)
				return -1;
			have_archs = true;
		} else if (strcmp(key, "timeout") == 0) {
			if (yamldoc_get_timeout(&ld->doc, val, line, "timeout",
						&role->timeout_s) != 0)
				return -1;
		} else if (strcmp(key, "retries") == 0) {
			if (yamldoc_get_retries(&ld->doc, val, line, "retries",
						&role->retries) != 0)
				return -1;
		} else if (strcmp(key, "inputs") == 0) {
			if (parse_inputs(ld, role, val, line) != 0)
				return -1;
		} else if (strcmp(key, "outputs") == 0) {
			if (parse_outputs(ld, role, val, line) != 0)
				return -1;
		} else if (strcmp(key, "include") == 0) {
			if (parse_includes(ld, role, val, line) != 0)
				return -1;
		} else if (strcmp(key, "steps") == 0) {
			steps = val;
			steps_line = line;
		} else {
			yamldoc_err(&ld->doc, line, "unknown key \"%s\"", key);
			return -1;
		}
	}
	if (role->name == NULL) {
		yamldoc_err(&ld->doc, root_line, "missing key \"name\"");
		return -1;
	}
	if (steps_line == 0) {
		yamldoc_err(&ld->doc, root_line, "missing key \"steps\"");
		return -1;
	}
	if (parse_steps(ld, role, steps, steps_line) != 0)
		return -1;
	if (role->description == NULL && (role->description = strdup("")) == NULL) {
		yamldoc_err(&ld->doc, 0, "out of memory");
		return -1;
	}
	if (!have_archs && default_archs(ld, role) != 0)
		return -1;
	return 0;
}

/* The role directory with its includes at the top. bundle.c checks the
 * files again as it reads them, so a change since parse_role is refused. */
static int pack_role(const struct load *ld, struct role *role, char *err, size_t err_size)
{
	size_t n = role->include_count;
	struct bundle_extra *extra = calloc(n > 0 ? n : 1, sizeof(*extra));
	char *sources = calloc(n > 0 ? n : 1, PATH_MAX);
	int rc = -1;

	if (extra == NULL || sources == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		/* check_include made sure the path fits. */
		snprintf(sources + i * PATH_MAX, PATH_MAX, "%s/%s", ld->shared, role->includes[i]);
		extra[i].source = sources + i * PATH_MAX;
		extra[i].name = role->includes[i];
	}
	rc = bundle_pack(ld->dir, extra, n, &role->bundle, &role->bundle_len, err, err_size);
out:
	free(sources);
	free(extra);
	return rc;
}

struct role *role_load(const char *roles_dir, const char *name, char *err, size_t err_size)
{
	char dir[PATH_MAX], file[PATH_MAX + 16], shared[PATH_MAX], perr[256];
	struct load ld = {.doc = {.file = file, .err = err, .err_size = err_size}, .dir = dir,
			  .shared = shared};
	struct yamldoc_file *yf = NULL;
	struct role *role = NULL;

	if (snprintf(dir, sizeof(dir), "%s/%s", roles_dir, name) >= (int)sizeof(dir) ||
	    snprintf(file, sizeof(file), "%s/" ROLE_YAML, dir) >= (int)sizeof(file) ||
	    snprintf(shared, sizeof(shared), "%s/" ROLE_SHARED_DIR, roles_dir) >=
		    (int)sizeof(shared)) {
		snprintf(err, err_size, "%s/%s: path too long", roles_dir, name);
		if (err_size > 0)
			util_one_line(err);
		return NULL;
	}
	if (!yamldoc_name_ok(name, "-")) {
		snprintf(err, err_size, "%s: role directory name must be 1 to %d of [a-z0-9-]", dir,
			 YAMLDOC_NAME_MAX);
		if (err_size > 0)
			util_one_line(err);
		return NULL;
	}
	yf = yamldoc_load(&ld.doc);
	if (yf == NULL)
		return NULL;
	role = calloc(1, sizeof(*role));
	if (role == NULL) {
		yamldoc_err(&ld.doc, 0, "out of memory");
		goto fail;
	}
	if (parse_role(&ld, role, yamldoc_root(yf), name) != 0)
		goto fail;
	if (pack_role(&ld, role, perr, sizeof(perr)) != 0) {
		snprintf(err, err_size, "%s: cannot pack the role: %s", dir, perr);
		if (err_size > 0)
			util_one_line(err);
		goto fail;
	}
	util_sha256_hex(role->bundle, role->bundle_len, role->bundle_hash);
	yamldoc_free(yf);
	return role;
fail:
	role_free(role);
	yamldoc_free(yf);
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
	for (size_t i = 0; i < role->include_count; i++)
		free(role->includes[i]);
	free(role->includes);
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

void role_archs_join(const struct role *role, char *buf, size_t size)
{
	size_t used = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; role != NULL && i < role->arch_count && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? ", " : "", role->archs[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* ---- sets ---- */

/* Subdirectories of the roles directory that hold a role.yaml; the shared
 * files' directory is none, even if someone put a role.yaml there. */
static bool is_role_dir(int dfd, const char *name)
{
	char yaml[NAME_MAX + sizeof("/" ROLE_YAML)];
	struct stat st;

	if (strcmp(name, ROLE_SHARED_DIR) == 0)
		return false;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
		return false;
	snprintf(yaml, sizeof(yaml), "%s/" ROLE_YAML, name);
	return fstatat(dfd, yaml, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

struct role_set *role_set_load(const char *roles_dir, char *err, size_t err_size)
{
	struct role_set *set;
	size_t n = 0;
	char **names;

	names = yamldoc_list(roles_dir, is_role_dir, ROLE_SET_MAX, "roles", &n, err, err_size);
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
	yamldoc_free_names(names, n);
	return set;
fail:
	role_set_free(set);
	yamldoc_free_names(names, n);
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
