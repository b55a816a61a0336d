/* role.h — role definitions loaded from tower/roles/<name>/role.yaml, with
 * their packed bundle and its hash. Refuses bad files with file and line. */
#ifndef OC_ROLE_H
#define OC_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Files several roles share live once in <roles_dir>/_shared; a role names
 * the ones it needs (include: [lib.sh]) and gets them at its bundle's top.
 * Not a role: role sets skip it. */
#define ROLE_SHARED_DIR "_shared"

struct role_input {
	char *name;
	bool required;
	bool secret;
	char *default_value;   /* NULL when none */
};

struct role_output {
	char *name;
	bool secret;
};

struct role_step {
	char *name;            /* "apply", "remove", ... */
	char *script;          /* relative path inside the role dir */
	int64_t timeout_s;
	int64_t retries;
};

struct role {
	char *name;
	char *description;
	char **archs;
	size_t arch_count;
	int64_t timeout_s;     /* role default */
	int64_t retries;       /* role default */
	struct role_input *inputs;
	size_t input_count;
	struct role_output *outputs;
	size_t output_count;
	struct role_step *steps;
	size_t step_count;
	char **includes;       /* file names in ROLE_SHARED_DIR, as listed */
	size_t include_count;
	uint8_t *bundle;       /* packed role dir + includes (bundle.h) */
	size_t bundle_len;
	char bundle_hash[65];
};

/* Loads <roles_dir>/<name>/role.yaml and packs the directory with its
 * includes. Checks: name matches the directory, known keys only, types,
 * durations, names [a-z0-9_-], each step's script exists in the directory
 * and is executable, no duplicate input/output/step/include names, each
 * include a plain file name (no '/', no leading '.') of a regular file in
 * <roles_dir>/_shared that the directory does not have itself. Returns NULL
 * with "FILE:LINE: reason" in err. */
struct role *role_load(const char *roles_dir, const char *name, char *err, size_t err_size);
void role_free(struct role *role);

const struct role_step *role_find_step(const struct role *role, const char *step);
const struct role_input *role_find_input(const struct role *role, const char *name);
const struct role_output *role_find_output(const struct role *role, const char *name);
bool role_supports_arch(const struct role *role, const char *arch);
/* The role's archs as "x86_64, aarch64" into buf (cut to fit). */
void role_archs_join(const struct role *role, char *buf, size_t size);

/* A set of roles loaded from a directory (every subdirectory with a
 * role.yaml, ROLE_SHARED_DIR aside). Returns NULL with err naming the first
 * bad file. */
struct role_set;
struct role_set *role_set_load(const char *roles_dir, char *err, size_t err_size);
void role_set_free(struct role_set *set);
const struct role *role_set_find(const struct role_set *set, const char *name);
size_t role_set_count(const struct role_set *set);
const struct role *role_set_at(const struct role_set *set, size_t i);

#endif
