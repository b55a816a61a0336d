/* task_spec.c — what one task runs (struct task_spec) and its encoding in
 * the store's spec column (JSON), which the tasks' messages are built from. */
#include "tower/fleet/task_spec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static void strs_free(const char **items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free((char *)items[i]);
	free(items);
}

void task_spec_clear(struct task_spec *spec)
{
	strs_free(spec->argv, spec->argc);
	strs_free(spec->mask, spec->mask_count);
	strs_free(spec->outputs, spec->output_count);
	strs_free(spec->secret_outputs, spec->secret_output_count);
	for (size_t i = 0; i < spec->env_count; i++) {
		free((char *)spec->env[i].name);
		free((char *)spec->env[i].value);
	}
	free(spec->env);
	free((char *)spec->bundle_hash);
	memset(spec, 0, sizeof(*spec));
}

/* Appends a copy of value to a list the spec owns. */
int task_spec_add(const char ***items, size_t *count, const char *value)
{
	const char **grown = realloc(*items, (*count + 1) * sizeof(*grown));
	char *copy = strdup(value);

	if (grown == NULL || copy == NULL) {
		if (grown != NULL)
			*items = grown;
		free(copy);
		return -1;
	}
	grown[(*count)++] = copy;
	*items = grown;
	return 0;
}

int task_spec_add_env(struct task_spec *spec, const char *name, const char *value)
{
	struct task_env *grown = realloc(spec->env, (spec->env_count + 1) * sizeof(*grown));
	char *n = strdup(name), *v = strdup(value);

	if (grown != NULL)
		spec->env = grown;
	if (grown == NULL || n == NULL || v == NULL) {
		free(n);
		free(v);
		return -1;
	}
	spec->env[spec->env_count].name = n;
	spec->env[spec->env_count++].value = v;
	return 0;
}

static json_t *strs_json(const char *const *items, size_t count)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < count && arr != NULL; i++)
		if (json_array_append_new(arr, json_string(items[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* The spec column: {"argv": [..], "timeout": s, "env": {..}, "mask": [..],
 * "bundle_hash": "..", "outputs": [..], "secret_outputs": [..]}, the lists
 * left out when empty. NULL when a string is not UTF-8. */
char *task_spec_encode(const struct task_spec *sp)
{
	json_t *obj = json_object(), *env = json_object();
	char *text = NULL;
	bool ok = obj != NULL && env != NULL;

	ok = ok && json_object_set_new(obj, "argv", strs_json(sp->argv, sp->argc)) == 0;
	ok = ok && json_object_set_new(obj, "timeout", json_integer(sp->timeout_s)) == 0;
	for (size_t i = 0; ok && i < sp->env_count; i++)
		ok = json_object_set_new(env, sp->env[i].name, json_string(sp->env[i].value)) == 0;
	if (ok && sp->env_count > 0)
		ok = json_object_set(obj, "env", env) == 0;
	if (ok && sp->mask_count > 0)
		ok = json_object_set_new(obj, "mask", strs_json(sp->mask, sp->mask_count)) == 0;
	if (ok && sp->output_count > 0)
		ok = json_object_set_new(obj, "outputs",
					 strs_json(sp->outputs, sp->output_count)) == 0;
	if (ok && sp->secret_output_count > 0)
		ok = json_object_set_new(obj, "secret_outputs",
					 strs_json(sp->secret_outputs,
						   sp->secret_output_count)) == 0;
	if (ok && sp->bundle_hash != NULL && *sp->bundle_hash != '\0')
		ok = json_object_set_new(obj, "bundle_hash", json_string(sp->bundle_hash)) == 0;
	if (ok)
		text = json_dumps(obj, JSON_COMPACT);
	json_decref(env);
	json_decref(obj);
	return text;
}

static int strs_from_json(json_t *arr, const char ***items, size_t *count)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (task_spec_add(items, count, json_string_value(v) ?: "") != 0)
			return -1;
	return 0;
}

int task_spec_decode(const char *text, struct task_spec *out)
{
	json_t *spec = text ? json_loads(text, 0, NULL) : NULL, *v;
	const char *key, *hash;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(spec)) {
		json_decref(spec);
		return -1;
	}
	out->timeout_s = json_integer_value(json_object_get(spec, "timeout"));
	if (strs_from_json(json_object_get(spec, "argv"), &out->argv, &out->argc) != 0 ||
	    strs_from_json(json_object_get(spec, "mask"), &out->mask, &out->mask_count) != 0 ||
	    strs_from_json(json_object_get(spec, "outputs"), &out->outputs,
			   &out->output_count) != 0 ||
	    strs_from_json(json_object_get(spec, "secret_outputs"), &out->secret_outputs,
			   &out->secret_output_count) != 0)
		rc = -1;
	json_object_foreach(json_object_get(spec, "env"), key, v)
		if (rc == 0 && task_spec_add_env(out, key, json_string_value(v) ?: "") != 0)
			rc = -1;
	hash = json_string_value(json_object_get(spec, "bundle_hash"));
	if (rc == 0 && hash != NULL && *hash != '\0' && (out->bundle_hash = strdup(hash)) == NULL)
		rc = -1;
	json_decref(spec);
	if (rc != 0)
		task_spec_clear(out);
	return rc;
}
