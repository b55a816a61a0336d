/* cli_logs.c — `tower logs ID`: the stored output of a run (every node's,
 * prefixed by its name) or of one task. */
#include <stdio.h>
#include <string.h>

#include "tower/cli.h"
#include "tower/client.h"

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

static int logs_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	char path[160], err[512];
	struct client *cl;
	json_t *run, *t;
	long status;
	size_t i;
	int rc = 0;

	if (argc != 2 || strlen(argv[1]) > 64 || strchr(argv[1], '/') != NULL)
		return cli_usage(&cli_logs_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	if (strncmp(argv[1], "t-", 2) == 0) {
		rc = print_task_log(cl, argv[1], NULL);
		client_free(cl);
		return rc;
	}
	snprintf(path, sizeof(path), "/v1/runs/%s", argv[1]);
	run = client_call(cl, "GET", path, NULL, &status, err, sizeof(err));
	if (run == NULL) {
		client_free(cl);
		return cli_fail("logs: %s", err);
	}
	json_array_foreach(json_object_get(run, "tasks"), i, t) {
		if (print_task_log(cl, json_string_value(json_object_get(t, "task_id")),
				   json_string_value(json_object_get(t, "node"))) != 0)
			rc = 1;
	}
	json_decref(run);
	client_free(cl);
	return rc;
}

const struct cli_command cli_logs_entry = {
	.name = "logs",
	.usage = "RUN_ID | TASK_ID",
	.summary = "print the stored output of a run (prefixed by node) or of one task",
	.exec = logs_exec,
};
