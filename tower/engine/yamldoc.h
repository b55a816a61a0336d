/* yamldoc.h — YAML documents for the tower's data files: strict UTF-8, quiet
 * libfyaml, one-line errors with file and line; typed getters for scalars,
 * names, durations, counts. The schemas are role.c's and pattern.c's. */
#ifndef OC_YAMLDOC_H
#define OC_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libfyaml.h>

#define YAMLDOC_NAME_MAX 64     /* names are 1..64 bytes */

/* Where one file's errors go: its path as shown to the user and the
 * caller's buffer, which gets one line, "FILE:LINE: reason" (or "FILE:
 * reason" when line is 0). A NULL or empty buffer takes nothing. */
struct yamldoc {
	const char *file;
	char *err;
	size_t err_size;
};

void yamldoc_err(const struct yamldoc *doc, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reads doc->file (at most 1 MiB of UTF-8 without NUL bytes) and parses
 * it as exactly one YAML document; libfyaml prints nothing. Returns NULL
 * with the error in doc; caller frees with yamldoc_free. */
struct yamldoc_file;
struct yamldoc_file *yamldoc_load(const struct yamldoc *doc);
struct fy_node *yamldoc_root(const struct yamldoc_file *f);
void yamldoc_free(struct yamldoc_file *f);

/* Nodes: 1-based line (fallback when it has none), "a list" etc. for
 * messages, null (missing, empty, ~ or null), the type check, a pair's key
 * as a plain string (*line gets its line), and the pair under a key. */
int yamldoc_node_line(struct fy_node *fyn, int fallback);
const char *yamldoc_node_kind(struct fy_node *fyn);
bool yamldoc_is_null(struct fy_node *fyn);
int yamldoc_expect_type(const struct yamldoc *doc, struct fy_node *fyn, enum fy_node_type type,
			int line, const char *what);
const char *yamldoc_pair_key(const struct yamldoc *doc, struct fy_node_pair *pair,
			     int parent_line, int *line);
struct fy_node_pair *yamldoc_find_pair(struct fy_node *map, const char *want);

/* Typed scalars; what names the value in messages, line is the fallback
 * (usually the key's). Strings and names are the caller's to free. Names
 * are 1..64 bytes of [a-z0-9] plus the characters in extra; timeouts are
 * durations from 1s to 24h; retries are 0..10. 0 / non-NULL on success. */
char *yamldoc_get_string(const struct yamldoc *doc, struct fy_node *fyn, int line,
			 const char *what);
int yamldoc_get_bool(const struct yamldoc *doc, struct fy_node *fyn, int line, const char *what,
		     bool *out);
bool yamldoc_name_ok(const char *s, const char *extra);
char *yamldoc_get_name(const struct yamldoc *doc, struct fy_node *fyn, int line,
		       const char *what, const char *extra);
int yamldoc_get_timeout(const struct yamldoc *doc, struct fy_node *fyn, int line,
			const char *what, int64_t *out);
int yamldoc_get_retries(const struct yamldoc *doc, struct fy_node *fyn, int line,
			const char *what, int64_t *out);

/* The entries of dir that keep accepts (dot names never reach it), sorted;
 * more than max of them is an error that counts them as noun. Returns a
 * non-NULL array (even when empty) or NULL with "DIR: reason" in err;
 * caller frees with yamldoc_free_names. */
char **yamldoc_list(const char *dir, bool (*keep)(int dfd, const char *name), size_t max,
		    const char *noun, size_t *count, char *err, size_t err_size);
void yamldoc_free_names(char **names, size_t n);

#endif
