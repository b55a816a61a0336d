/* cli_run.c — `tower run`: an ad-hoc command on nodes; streams each node's
 * output prefixed by its name and exits with the worst remote status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"
#include "tower/cli/cli.h"
#include "tower/cli/client.h"
#include "tower/fleet/tasks.h"

/* One per task and stream: a chunk may end mid-line, and the other
 * stream's next chunk must not be glued to that line. */
struct line_buf {
	char task_id[64];
	char stream[8];
	char node[256];
	char *partial;
	size_t len;
};

struct run_view {
	struct line_buf *bufs;
	size_t count;
	bool json;
	int worst;
	size_t finished, failed;
};

static struct line_buf *buf_for(struct run_view *v, const char *task_id, const char *stream,
				const char *node)
{
	struct line_buf *b;

	for (size_t i = 0; i < v->count; i++)
		if (strcmp(v->bufs[i].task_id, task_id) == 0 && strcmp(v->bufs[i].stream, stream) == 0)
			return &v->bufs[i];
	b = realloc(v->bufs, (v->count + 1) * sizeof(*b));
	if (b == NULL)
		return NULL;
	v->bufs = b;
	b = &v->bufs[v->count++];
	memset(b, 0, sizeof(*b));
	snprintf(b->task_id, sizeof(b->task_id), "%s", task_id);
	snprintf(b->stream, sizeof(b->stream), "%s", stream);
	snprintf(b->node, sizeof(b->node), "%s", node ? node : task_id);
	return b;
}

/* Prints whole lines as "node: line"; keeps the rest for the next chunk. */
static void print_chunk(struct line_buf *b, const char *data, bool flush)
{
	size_t add = strlen(data);
	char *joined = realloc(b->partial, b->len + add + 1), *line, *nl;

	if (joined == NULL)
		return;
	memcpy(joined + b->len, data, add + 1);
	b->partial = joined;
	b->len += add;
	line = b->partial;
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		printf("%s: %s\n", b->node, line);
		line = nl + 1;
	}
	if (flush && *line != '\0') {
		printf("%s: %s\n", b->node, line);
		line += strlen(line);
	}
	b->len = strlen(line);
	memmove(b->partial, line, b->len + 1);
	fflush(stdout);
}

static int on_run_event(void *arg, const char *event, json_t *data)
{
	struct run_view *v = arg;
	const char *task_id = json_string_value(json_object_get(data, "task_id"));
	const char *node = json_string_value(json_object_get(data, "node"));
	const char *stream = json_string_value(json_object_get(data, "stream")) ?: "stdout";
	const char *state;
	enum task_state ts;
	struct line_buf *b;
	int code;

	if (strcmp(event, "end") == 0)
		return 1;
	if (task_id == NULL || (b = buf_for(v, task_id, stream, node)) == NULL)
		return 0;
	if (strcmp(event, "log") == 0 && !v->json) {
		print_chunk(b, json_string_value(json_object_get(data, "data")) ?: "", false);
		return 0;
	}
	if (strcmp(event, "task") != 0)
		return 0;
	state = json_string_value(json_object_get(data, "state")) ?: "";
	if (!task_state_from_name(state, &ts) || !task_state_final(ts))
		return 0;
	code = (int)json_integer_value(json_object_get(data, "exit_code"));
	/* A task that did not finish has no real status (the tower reports -1
	 * when the node never answered): exit like timeout(1) does, or 1. */
	if (ts != TASK_DONE && code <= 0)
		code = ts == TASK_TIMEOUT ? 124 : 1;
	if (code > v->worst)
		v->worst = code;
	v->finished++;
	if (!v->json) {
		for (size_t i = 0; i < v->count; i++)
			if (strcmp(v->bufs[i].task_id, task_id) == 0)
				print_chunk(&v->bufs[i], "", true);
		if (ts != TASK_DONE) {
			const char *reason = json_string_value(json_object_get(data, "reason"));
			v->failed++;
			fprintf(stderr, "%s: %s%s%s\n", b->node, state, reason ? ": " : "",
				reason ? reason : "");
		}
	}
	return 0;
}

static const struct cli_option run_options[] = {
	{"all", 0, NULL, false, "all nodes"},
	{"role", 0, "ROLE", false, "the nodes of ROLE"},
	{"timeout", 0, "DUR", false, "give up on a node after DUR (default 5m)"},
	{NULL, 0, NULL, false, NULL},
};

static int run_exec(struct cli_ctx *ctx, const struct cli_args *a)
{
	const char *role = cli_args_get(a, "role"), *node = NULL;
	const char *timeout = cli_args_get(a, "timeout") ?: "5m";
	bool all = cli_args_has(a, "all");
	struct run_view view = {0};
	json_t *req = NULL, *target, *args, *reply = NULL, *final;
	char err[512], path[128];
	struct client *cl = NULL;
	size_t first = 0;
	int64_t seconds;
	long status;
	int rc = 1;

	/* The parser puts NODE in front of the command and drops "--". */
	if (!all && role == NULL && cli_args_count(a) > 0)
		node = cli_args_arg(a, first++);
	if (first >= cli_args_count(a) || (all + (role != NULL) + (node != NULL)) != 1)
		return cli_usage(&cli_run_entry);
	if (util_parse_duration(timeout, &seconds) != 0 || seconds < 1)
		return cli_fail("--timeout: \"%s\" is not a duration like 30s or 5m", timeout);
	args = json_array();
	for (size_t i = first; i < cli_args_count(a); i++)
		json_array_append_new(args, json_string(cli_args_arg(a, i)));
	target = all ? json_pack("{s:b}", "all", 1)
		     : json_pack("{s:s}", role ? "role" : "node", role ? role : node);
	req = json_pack("{s:o, s:o, s:I}", "argv", args, "target", target, "timeout",
			(json_int_t)seconds);
	cl = cli_client(ctx);
	if (cl == NULL)
		goto out;
	reply = client_call(cl, "POST", "/v1/runs", req, &status, err, sizeof(err));
	if (reply == NULL) {
		cli_fail("run: %s", err);
		goto out;
	}
	view.json = ctx->json;
	snprintf(path, sizeof(path), "/v1/runs/%s/events",
		 json_string_value(json_object_get(reply, "run_id")));
	if (client_stream(cl, path, on_run_event, &view, err, sizeof(err)) != 0) {
		cli_fail("run: %s", err);
		goto out;
	}
	if (view.finished < json_array_size(json_object_get(reply, "tasks"))) {
		cli_fail("run: the tower closed the stream before every node finished");
		goto out;
	}
	if (ctx->json) {
		snprintf(path, sizeof(path), "/v1/runs/%s",
			 json_string_value(json_object_get(reply, "run_id")));
		final = client_call(cl, "GET", path, NULL, &status, err, sizeof(err));
		if (final == NULL) {
			cli_fail("run: %s", err);
			goto out;
		}
		cli_print_json(final);
		json_decref(final);
	}
	rc = view.worst > 255 ? 255 : view.worst;
out:
	for (size_t i = 0; i < view.count; i++)
		free(view.bufs[i].partial);
	free(view.bufs);
	json_decref(reply);
	json_decref(req);
	client_free(cl);
	return rc;
}

const struct cli_command cli_run_entry = {
	.name = "run",
	.usage = "(NODE | --all | --role ROLE) [--timeout DUR] -- CMD [ARG...]",
	.summary = "run a command on nodes, stream their output, exit with the worst status",
	.args = {run_options, 1, -1},
	.exec = run_exec,
};
