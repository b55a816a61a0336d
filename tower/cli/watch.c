/* cli_watch.c — `tower watch ID`: follows an OverCloud until it is ready
 * (and not attaching), failed or deleted; exits non-zero when it ends
 * failed. Also how create, delete and attach follow what they started. */
#include <stdio.h>
#include <string.h>

#include "tower/cli/cli.h"
#include "tower/cli/client.h"
#include "tower/cli/progress.h"
#include "tower/engine/state.h"

struct watch_state {
	struct progress *progress;
	bool json;
	json_t *last;
};

static int on_oc_event(void *arg, const char *event, json_t *oc)
{
	struct watch_state *ws = arg;

	json_decref(ws->last);
	ws->last = json_incref(oc);
	if (!ws->json)
		progress_update(ws->progress, oc);
	return strcmp(event, "end") == 0;
}

/* Follows id to its end; with -o json prints result (or {"overcloud_id"})
 * with the final status. */
static int follow(struct cli_ctx *ctx, struct client *cl, const char *id, json_t *result)
{
	struct watch_state ws = {.json = ctx->json};
	const char *status;
	char path[160], err[512];
	bool attaching;
	enum oc_state st;
	int rc;

	ws.progress = progress_new(stdout);
	snprintf(path, sizeof(path), "/v1/overclouds/%s/events", id);
	if (client_stream(cl, path, on_oc_event, &ws, err, sizeof(err)) != 0) {
		progress_free(ws.progress);
		json_decref(ws.last);
		return cli_fail("watch: %s", err);
	}
	status = json_string_value(json_object_get(ws.last, "status")) ?: "unknown";
	attaching = json_is_true(json_object_get(ws.last, "attaching"));
	if (ctx->json) {
		json_t *out = result ? json_copy(result) : json_pack("{s:s}", "overcloud_id", id);
		json_object_set_new(out, "status", json_string(status));
		cli_print_json(out);
		json_decref(out);
	} else if (oc_state_parse(status) == OC_FAILED) {
		fprintf(stderr, "tower: overcloud %s failed: %s\n", id,
			json_string_value(json_object_get(ws.last, "error")) ?: "see tower show");
	}
	st = oc_state_parse(status);
	rc = st == OC_FAILED ? 1 : 0;
	if ((st != OC_READY && st != OC_DELETED && st != OC_FAILED) || attaching)
		rc = cli_fail("watch: the tower closed the stream while %s was %s%s", id, status,
			      attaching ? ", attaching" : "");
	progress_free(ws.progress);
	json_decref(ws.last);
	return rc;
}

int cli_follow_overcloud(struct cli_ctx *ctx, struct client *cl, const char *id)
{
	return follow(ctx, cl, id, NULL);
}

int cli_after_start(struct cli_ctx *ctx, struct client *cl, json_t *reply, bool detach,
		    const char *detached_line)
{
	const char *id = json_string_value(json_object_get(reply, "overcloud_id"));

	if (id == NULL)
		return cli_fail("the tower's reply names no overcloud");
	if (!detach)
		return follow(ctx, cl, id, reply);
	if (ctx->json)
		cli_print_json(reply);
	else
		printf("%s\n", detached_line);
	return 0;
}

static int watch_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	const char *id = cli_args_arg(args, 0);
	struct client *cl;
	int rc;

	if (strlen(id) > 64 || strchr(id, '/'))
		return cli_usage(&cli_watch_entry);
	cl = cli_client(ctx);
	if (cl == NULL)
		return 1;
	rc = cli_follow_overcloud(ctx, cl, id);
	client_free(cl);
	return rc;
}

const struct cli_command cli_watch_entry = {
	.name = "watch",
	.usage = "ID",
	.summary = "follow an OverCloud's steps until it is ready (nothing attaching), failed or deleted",
	.args = {NULL, 1, 1},
	.exec = watch_exec,
};
