/* task_spec.h — what one task runs: command, timeout, environment, values
 * to mask, role bundle and outputs; and its text in the store's spec column. */
#ifndef OC_TASK_SPEC_H
#define OC_TASK_SPEC_H

#include <stddef.h>
#include <stdint.h>

struct task_env {
	const char *name;
	const char *value;
};

/* Filled by tasks_role_spec, task_spec_decode or task_spec_add*, a spec owns
 * its strings (task_spec_clear frees them); one a caller fills with its
 * own pointers is only borrowed by tasks_create_run and never cleared. */
struct task_spec {
	const char **argv;
	size_t argc;
	int64_t timeout_s;
	struct task_env *env;           /* INPUT_* for the script */
	size_t env_count;
	const char **mask;              /* values the agent hides in output */
	size_t mask_count;
	const char *bundle_hash;        /* the role bundle that goes along, or NULL */
	const char **outputs;           /* outputs the step declares */
	size_t output_count;
	const char **secret_outputs;    /* those never shown through the API */
	size_t secret_output_count;
};
void task_spec_clear(struct task_spec *spec);
/* Append a copy of value to one of the spec's lists, or of an environment
 * variable. Return 0, or -1 when out of memory. */
int task_spec_add(const char ***items, size_t *count, const char *value);
int task_spec_add_env(struct task_spec *spec, const char *name, const char *value);

/* The spec column's text (heap), or NULL when a string is not UTF-8. */
char *task_spec_encode(const struct task_spec *spec);
/* Reads a spec column (missing lists are empty). Returns 0, or -1 with
 * *out empty when the text is not a spec. */
int task_spec_decode(const char *text, struct task_spec *out);

#endif
