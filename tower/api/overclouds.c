/* overclouds.c — the API's OverClouds: /v1/overclouds (create, list, get,
 * delete, attach a node, runs, the event stream) and the seed's /overclouds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/api/api_int.h"
#include "tower/api/sse.h"
#include "tower/api/overcloud_json.h"
#include "tower/engine/state.h"
#include "tower/engine/workflow.h"
#include "tower/store/store.h"
#include "tower/tower.h"

#define API_MAX_NUMBER 1000

/* "number" may be an integer or, as the seed sends it, a numeric string. */
static int field_number(json_t *v, int64_t *out)
{
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (!json_is_string(v) ||
		 util_parse_int(json_string_value(v), INT64_MIN, INT64_MAX, out) != 0)
		return -1;
	return *out >= 1 && *out <= API_MAX_NUMBER ? 0 : -1;
}

/* "size": optional flavor or instance type name. */
static int field_size(json_t *v, char *out, size_t out_size)
{
	if (v == NULL) {
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= out_size)
		return -1;
	snprintf(out, out_size, "%s", json_string_value(v));
	return 0;
}

/* One provider's object of a heterogeneous request, as the seed's v1 API
 * has it: {"number": "2", "size": "m1.small", "post": "no"}. */
static int parse_part(const char *name, json_t *obj, struct workflow_part *part, char *err,
		      size_t err_size)
{
	static const char *const known[] = {"number", "size", "post"};
	json_t *v;
	const char *key;

	if (!json_is_object(obj)) {
		snprintf(err, err_size, "field \"%.32s\" must be an object with number, size, post", name);
		return -1;
	}
	json_object_foreach(obj, key, v) {
		bool ok = false;
		for (size_t i = 0; i < OC_ARRAY_LEN(known); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok) {
			snprintf(err, err_size, "field \"%.32s.%.32s\" is not known", name, key);
			return -1;
		}
	}
	memset(part, 0, sizeof(*part));
	snprintf(part->provider, sizeof(part->provider), "%s", name);
	v = json_object_get(obj, "number");
	/* A provider that only hosts the post may leave number out or 0. */
	if (v == NULL || (json_is_string(v) && strcmp(json_string_value(v), "0") == 0) ||
	    (json_is_integer(v) && json_integer_value(v) == 0))
		part->number = 0;
	else if (field_number(v, &part->number) != 0) {
		snprintf(err, err_size, "field \"%.32s.number\" must be a whole number from 0 to %d",
			 name, API_MAX_NUMBER);
		return -1;
	}
	if (field_size(json_object_get(obj, "size"), part->size, sizeof(part->size)) != 0) {
		snprintf(err, err_size, "field \"%.32s.size\" must be a flavor or instance type name",
			 name);
		return -1;
	}
	v = json_object_get(obj, "post");
	if (v == NULL || json_is_false(v) ||
	    (json_is_string(v) && strcasecmp(json_string_value(v), "no") == 0))
		part->post = false;
	else if (json_is_true(v) || (json_is_string(v) && strcasecmp(json_string_value(v), "yes") == 0))
		part->post = true;
	else {
		snprintf(err, err_size, "field \"%.32s.post\" must be \"yes\" or \"no\"", name);
		return -1;
	}
	return 0;
}

/* POST /v1/overclouds and the seed's POST /overclouds */
void api_overclouds_post(struct api_ctx *ctx)
{
	static const char *const known[] = {"provider", "number", "size", "pattern", "inputs"};
	struct workflow_part parts[WORKFLOW_MAX_PARTS];
	struct workflow_input inputs[WORKFLOW_MAX_INPUTS];
	size_t part_count = 0, input_count = 0;
	json_t *body = api_body_object(ctx), *v;
	const char *key, *provider, *pattern;
	char id[32], err[256];
	bool ok, mixed;
	int rc;

	if (body == NULL)
		return;
	provider = json_string_value(json_object_get(body, "provider"));
	if (provider == NULL ||
	    (!workflow_has_provider(provider) && strcasecmp(provider, WORKFLOW_HETEROGENEOUS) != 0)) {
		api_reply_error(ctx, 400, "field \"provider\" must name a provider",
			    "known: local, openstack, aws, heterogeneous");
		goto out;
	}
	mixed = strcasecmp(provider, WORKFLOW_HETEROGENEOUS) == 0;
	json_object_foreach(body, key, v) {
		ok = false;
		for (size_t i = 0; i < OC_ARRAY_LEN(known); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (ok)
			continue;
		if (!mixed || !workflow_has_provider(key)) {
			snprintf(err, sizeof(err), "unknown field \"%.64s\"", key);
			api_reply_error(ctx, 400, err, NULL);
			goto out;
		}
		if (part_count == WORKFLOW_MAX_PARTS) {
			api_reply_error(ctx, 400, "too many providers", NULL);
			goto out;
		}
		if (parse_part(key, v, &parts[part_count], err, sizeof(err)) != 0) {
			api_reply_error(ctx, 400, err, NULL);
			goto out;
		}
		part_count++;
	}
	if (mixed) {
		if (part_count < 1) {
			api_reply_error(ctx, 400, "a heterogeneous overcloud names its providers",
				    "e.g. {\"provider\": \"heterogeneous\", \"OpenStack\": {\"number\": \"2\", "
				    "\"post\": \"no\"}, \"Amazon\": {\"number\": \"1\", \"post\": \"yes\"}}");
			goto out;
		}
		if (json_object_get(body, "number") != NULL || json_object_get(body, "size") != NULL) {
			api_reply_error(ctx, 400, "a heterogeneous overcloud gives number and size per provider",
				    NULL);
			goto out;
		}
	} else {
		memset(&parts[0], 0, sizeof(parts[0]));
		snprintf(parts[0].provider, sizeof(parts[0].provider), "%s", provider);
		parts[0].post = true;
		part_count = 1;
		if (field_number(json_object_get(body, "number"), &parts[0].number) != 0) {
			api_reply_error(ctx, 400, "field \"number\" must be a whole number from 1 to 1000", NULL);
			goto out;
		}
		if (field_size(json_object_get(body, "size"), parts[0].size, sizeof(parts[0].size)) != 0) {
			api_reply_error(ctx, 400, "field \"size\" must be a flavor or instance type name", NULL);
			goto out;
		}
	}
	v = json_object_get(body, "pattern");
	if (v != NULL && !json_is_string(v)) {
		api_reply_error(ctx, 400, "field \"pattern\" must be a pattern name", NULL);
		goto out;
	}
	pattern = json_string_value(v) ?: ctx->tower->default_pattern;
	if (!workflow_has_pattern(ctx->tower->workflow, pattern)) {
		api_reply_error(ctx, 400, "field \"pattern\": unknown pattern", pattern);
		goto out;
	}
	v = json_object_get(body, "inputs");
	if (v != NULL && !json_is_object(v)) {
		api_reply_error(ctx, 400, "field \"inputs\" must be an object of NAME: \"VALUE\"", NULL);
		goto out;
	}
	if (json_object_size(v) > WORKFLOW_MAX_INPUTS) {
		api_reply_error(ctx, 400, "field \"inputs\" has too many entries", NULL);
		goto out;
	}
	if (v != NULL) {
		json_t *iv;

		json_object_foreach(v, key, iv) {
			if (!json_is_string(iv)) {
				snprintf(err, sizeof(err), "field \"inputs.%.64s\" must be a string", key);
				api_reply_error(ctx, 400, err, NULL);
				goto out;
			}
			inputs[input_count].name = key;
			inputs[input_count++].value = json_string_value(iv);
		}
	}
	rc = workflow_create(ctx->tower->workflow, pattern, parts, part_count, inputs, input_count, id,
			     err, sizeof(err));
	if (rc != 0) {
		api_reply_error(ctx, api_refusal_status(rc), err, NULL);
		goto out;
	}
	log_info("api %s: overcloud %s requested (%s, %s, %zu part(s))", ctx->peer, id, pattern,
		 provider, part_count);
	api_reply_json(ctx, 202, json_pack("{s:s, s:s}", "overcloud_id", id, "status",
					   oc_statenames[OC_CREATING]));
out:
	json_decref(body);
}

/* The one place a workflow_refusal becomes a status. */
int api_refusal_status(int refusal)
{
	switch (refusal) {
	case WORKFLOW_NOT_FOUND: return 404;
	case WORKFLOW_CONFLICT: return 409;
	case WORKFLOW_BAD_REQUEST: return 400;
	default: return 500;
	}
}

/* GET /v1/overclouds and the seed's GET /overclouds */
void api_overclouds_list(struct api_ctx *ctx)
{
	api_reply_json(ctx, 200, overcloud_json_list(ctx->tower->workflow));
}

static void delete_overcloud(struct api_ctx *ctx, const char *id)
{
	char err[256];
	int rc = workflow_delete(ctx->tower->workflow, id, err, sizeof(err));

	if (rc == WORKFLOW_NOT_FOUND)
		api_reply_error(ctx, api_refusal_status(rc), "no such overcloud", id);
	else if (rc != 0)
		api_reply_error(ctx, api_refusal_status(rc), err, id);
	else
		api_reply_json(ctx, 202, json_pack("{s:s, s:s}", "overcloud_id", id, "status",
						   oc_statenames[OC_DELETING]));
}

/* DELETE /v1/overclouds/{id} */
void api_overcloud_delete(struct api_ctx *ctx)
{
	delete_overcloud(ctx, ctx->id);
}

/* The seed's DELETE /overclouds carries the id in a JSON body. */
void api_overclouds_delete_v0(struct api_ctx *ctx)
{
	json_t *body = api_body_object(ctx);
	const char *id;

	if (body == NULL)
		return;
	id = json_string_value(json_object_get(body, "overcloud_id"));
	if (id == NULL || strlen(id) >= STORE_ID_MAX)
		api_reply_error(ctx, 400, "field \"overcloud_id\" must name an overcloud", NULL);
	else
		delete_overcloud(ctx, id);
	json_decref(body);
}

/* POST /v1/overclouds/{id}/nodes {"node": ID or name}: tower attach. */
void api_overcloud_nodes_post(struct api_ctx *ctx)
{
	const char *id = ctx->id;
	json_t *body = api_body_object(ctx), *v;
	const char *key, *node;
	char node_id[STORE_ID_MAX], err[512];
	int rc;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "node") != 0) {
			snprintf(err, sizeof(err), "unknown field \"%.64s\"", key);
			api_reply_error(ctx, 400, err, "the body is {\"node\": ID or name}");
			goto out;
		}
	}
	node = json_string_value(json_object_get(body, "node"));
	if (node == NULL || node[0] == '\0' || strlen(node) >= STORE_NODE_NAME_MAX) {
		api_reply_error(ctx, 400, "field \"node\" must name an enrolled node (its id or name)", NULL);
		goto out;
	}
	rc = workflow_attach(ctx->tower->workflow, id, node, node_id, sizeof(node_id), err,
			     sizeof(err));
	if (rc != 0) {
		/* The detail, not the status: every other reason names the node
		 * or the OverCloud itself. */
		api_reply_error(ctx, api_refusal_status(rc), err,
				strcmp(err, "no such overcloud") == 0 ? id : NULL);
		goto out;
	}
	log_info("api %s: node %s attached to overcloud %s", ctx->peer, node_id, id);
	api_reply_json(ctx, 202, json_pack("{s:s, s:s, s:s}", "overcloud_id", id, "node", node_id,
					   "status", oc_statenames[OC_READY]));
out:
	json_decref(body);
}

/* GET /v1/overclouds/{id} */
void api_overcloud_get(struct api_ctx *ctx)
{
	json_t *obj = overcloud_json_get(ctx->tower->workflow, ctx->id);

	if (obj == NULL)
		api_reply_error(ctx, 404, "no such overcloud", ctx->id);
	else
		api_reply_json(ctx, 200, obj);
}

/* GET /v1/overclouds/{id}/runs: the run ids of its steps, for logs. */
void api_overcloud_runs_get(struct api_ctx *ctx)
{
	json_t *runs = overcloud_json_runs(ctx->tower->workflow, ctx->id);

	if (runs == NULL)
		api_reply_error(ctx, 404, "no such overcloud", ctx->id);
	else
		api_reply_json(ctx, 200, runs);
}

/* An OverCloud's events to one client. Each event is the whole object, so
 * over the output cap the ones in between are dropped: when the client has
 * read what was queued it gets the object as it is then. */
struct oc_stream {
	struct sse sse;
	struct workflow_watch *watch;
	struct workflow *workflow;
	char id[STORE_ID_MAX];
	bool missed;    /* paused, and an "overcloud" event was dropped */
};

static void oc_stream_event(void *arg, enum workflow_event event,
			    const struct workflow_overcloud *snap)
{
	struct oc_stream *os = arg;
	json_t *oc;

	if (event != WORKFLOW_EVENT_END && os->sse.paused) {
		os->missed = true;
		return;
	}
	oc = overcloud_json(snap, util_now_ms());
	sse_send(&os->sse, overcloud_json_event_name(event), oc);
	json_decref(oc);
	if (event != WORKFLOW_EVENT_END)
		return;
	os->watch = NULL;   /* the watch ends itself after "end" */
	sse_close(&os->sse);
}

static void oc_stream_drained(void *arg)
{
	struct oc_stream *os = arg;
	json_t *now;

	if (!os->missed)
		return;
	os->missed = false;
	now = overcloud_json_get(os->workflow, os->id);
	if (now != NULL)
		sse_send(&os->sse, "overcloud", now);
	json_decref(now);
}

static void oc_stream_gone(void *arg)
{
	struct oc_stream *os = arg;

	workflow_unwatch(os->watch);
	os->watch = NULL;
}

static void oc_stream_release(void *arg)
{
	free(arg);
}

static const struct sse_ops oc_stream_ops = {
	.drained = oc_stream_drained,
	.gone = oc_stream_gone,
	.release = oc_stream_release,
};

/* GET /v1/overclouds/{id}/events */
void api_overcloud_events_get(struct api_ctx *ctx)
{
	struct oc_stream *os;
	json_t *obj = overcloud_json_get(ctx->tower->workflow, ctx->id);

	if (obj == NULL) {
		api_reply_error(ctx, 404, "no such overcloud", ctx->id);
		return;
	}
	json_decref(obj);
	os = calloc(1, sizeof(*os));
	if (os == NULL) {
		api_reply_error(ctx, 500, "out of memory", NULL);
		return;
	}
	os->workflow = ctx->tower->workflow;
	snprintf(os->id, sizeof(os->id), "%s", ctx->id);
	if (sse_open(&os->sse, ctx->ex, &oc_stream_ops, os) != 0) {
		oc_stream_release(os);
		return;
	}
	/* The watch replays the object first, and may end there. */
	sse_produce_begin(&os->sse);
	if (workflow_watch(ctx->tower->workflow, ctx->id, oc_stream_event, os, &os->watch) != 0)
		sse_close(&os->sse);
	sse_produce_end(&os->sse);
}
