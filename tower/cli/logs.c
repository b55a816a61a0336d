/* cli_logs.c — `tower logs ID`: the stored output of a run (every node's,
 * prefixed by its name) or of one task. */
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"

static int print_task_log(struct client *cl, const char *task_id, const char *prefix)
{
	char path[160], err[512];
	long status;
	json_t *text;
	const char *s, *nl;

	snprintf(path, sizeof(path), "/v1/tasks/%s/log", task_id);
	text = client_call(cl, "GET", path, NULL, &status, err, sizeof(err));
	if (text == NULL)
		return cli_fail("logs: %s", err);
	s = json_string_value(text) ?: "";
	while (*s != '\0') {
		nl = strchr(s, '\n');
		if (prefix != NULL)
			printf("%s: ", prefix);
		printf("%.*s\n", nl ? (int)(nl - s) : (int)strlen(s), s);
		s = nl ? nl + 1 : s + strlen(s);
	}
	json_decref(text);
	return 0;
}

/* Every task of a run, each line prefixed with "[step/]node: ". */
static int print_run_logs(struct client *cl, const char *run_id, const char *step)
{
	char path[160], err[512], prefix[160];
	json_t *run, *t;
	long status;
	size_t i;
	int rc = 0;

	snprintf(path, sizeof(path), "/v1/runs/%s", run_id);
	run = client_call(cl, "GET", path, NULL, &status, err, sizeof(err));
	if (run == NULL)
		return cli_fail("logs: %s", err);
	json_array_foreach(json_object_get(run, "tasks"), i, t) {
		snprintf(prefix, sizeof(prefix), "%s%s%s", step ? step : "", step ? "/" : "",
			 json_string_value(json_object_get(t, "node")) ?: "?");
		if (print_task_log(cl, json_string_value(json_object_get(t, "task_id")), prefix) != 0)
			rc = 1;
	}
	json_decref(run);
	return rc;
}

/* An OverCloud's logs: every step that ran on nodes, or only --step S. */
static int print_overcloud_logs(struct client *cl, const char *id, const char *step)
{
	char path[160], err[512];
	json_t *runs, *r;
	long status;
	size_t i, shown = 0;
	int rc = 0;

	snprintf(path, sizeof(path), "/v1/overclouds/%s/runs", id);
	runs = client_call(cl, "GET", path, NULL, &status, err, sizeof(err));
	if (runs == NULL)
		return cli_fail("logs: %s", err);
	json_array_foreach(runs, i, r) {
		const char *name = json_string_value(json_object_get(r, "step"));
		if (step != NULL && strcmp(step, name ?: "") != 0)
			continue;
		shown++;
		if (print_run_logs(cl, json_string_value(json_object_get(r, "run_id")), name) != 0)
			rc = 1;
	}
	json_decref(runs);
	if (step != NULL && shown == 0)
		return cli_fail("logs: overcloud %s has no step \"%s\" that ran on nodes", id, step);
	return rc;
}

static const struct cli_option logs_options[] = {
	{"step", 0, "S", false, "only this step's output (for an OverCloud)"},
	{NULL, 0, NULL, false, NULL},
};

static int logs_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *id = cli_args_arg(args, 0), *step = cli_args_get(args, "step");
	struct client *cl;
	int rc;

	if (strlen(id) > 64 || strchr(id, '/') != NULL || strchr(id, '?') != NULL)
		return cli_usage(&cli_logs_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	if (strncmp(id, "t-", 2) == 0)
		rc = print_task_log(cl, id, NULL);
	else if (strncmp(id, "oc-", 3) == 0)
		rc = print_overcloud_logs(cl, id, step);
	else
		rc = print_run_logs(cl, id, NULL);
	client_free(cl);
	return rc;
}

const struct cli_command cli_logs_entry = {
	.name = "logs",
	.usage = "OVERCLOUD_ID [--step S] | RUN_ID | TASK_ID",
	.summary = "print the stored output of an OverCloud's steps, a run, or one task",
	.args = {logs_options, 1, 1},
	.exec = logs_exec,
};
