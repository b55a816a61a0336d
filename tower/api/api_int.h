/* api_int.h — what the API's files share: one request's context, the route
 * table's shape, JSON replies and request-body helpers. Not for outside tower/api/. */
#ifndef OC_API_INT_H
#define OC_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tower/api/http.h"

struct evbuffer;
struct httpd_exchange;
struct tower;

/* The longest path parameter a route takes ("{id}"): a store id. */
#define API_ID_MAX 64

/* One request being answered. */
struct api_ctx {
	struct tower *tower;
	const struct http_request *req;
	const char *peer;
	struct evbuffer *out;
	bool keep_alive;
	struct httpd_exchange *ex;
	const char *id;    /* the path's {id} or {name}, "" when the route has none */
};

typedef void (*api_handler_fn)(struct api_ctx *ctx);

enum api_route_flags {
	/* No bearer token or session, no JSON body check: what a booting node
	 * or a browser before its login needs. */
	API_ROUTE_PUBLIC = 1 << 0,
	/* Answers a path only when no other route's pattern takes it (whatever
	 * the method): a subtree's "no such path". */
	API_ROUTE_FALLBACK = 1 << 1,
};

/* One row of the table: method NULL takes every method (the handler tells
 * them apart). pattern is literal but for "{id}" (one segment of 1 to
 * API_ID_MAX - 1 bytes), "{name}" (one segment of any length) and a final
 * "*" (the rest of the path, maybe empty). */
struct api_route {
	const char *method;
	const char *pattern;
	api_handler_fn handler;
	unsigned flags;
};

enum api_match {
	API_MATCH_OK,          /* *route answers it */
	API_MATCH_NO_PATH,     /* 404 */
	API_MATCH_NO_METHOD,   /* 405; *route is one that has the path */
};

/* Finds the route of method and path in table; the path parameter goes to
 * param (param_size >= sizeof the request path), "" when none. */
enum api_match api_route_find(const struct api_route *table, size_t count, const char *method,
			      const char *path, const struct api_route **route, char *param,
			      size_t param_size);
/* Authorizes, checks the body's type and calls the handler of ctx's request
 * in table, or answers 401, 403, 404, 405 or 415 itself. */
void api_dispatch(const struct api_route *table, size_t count, struct api_ctx *ctx);

/* The tower's routes (api.c). */
extern const struct api_route api_routes[];
extern const size_t api_route_count;

/* ---- replies and bodies (reply.c) ---- */

/* Answers status with body as JSON; takes the reference to body. */
void api_reply_json(struct api_ctx *ctx, int status, json_t *body);
/* Answers {"error": message, "detail": detail-or-null}. */
void api_reply_error(struct api_ctx *ctx, int status, const char *message, const char *detail);
void api_reply_not_found(struct api_ctx *ctx);       /* 404 "no such path" */
void api_reply_bad_method(struct api_ctx *ctx);      /* 405 "method not allowed" */
/* Whether the Content-Type is "application/json" (any parameters after ';'). */
bool api_body_is_json(const struct http_request *req);
/* The body as a JSON object (caller decrefs); on failure replies 400 and
 * returns NULL. */
json_t *api_body_object(struct api_ctx *ctx);
/* A field of seconds: an integer or a duration string ("1h"); dflt when
 * absent or null. Returns 0, or -1 when it is neither. */
int api_field_duration(json_t *body, const char *name, int64_t dflt, int64_t *out);
/* A field of an integer or a numeric string; dflt when absent or null. */
int api_field_int(json_t *body, const char *name, int64_t dflt, int64_t *out);

/* ---- the handlers, one file per resource ---- */

/* nodes.c: /v1/nodes */
void api_nodes_list(struct api_ctx *ctx);
void api_replicas_get(struct api_ctx *ctx);
void api_node_delete(struct api_ctx *ctx);
/* metrics_sd.c: Prometheus */
void api_metrics_get(struct api_ctx *ctx);
void api_sd_prometheus_get(struct api_ctx *ctx);
void api_node_metrics_get(struct api_ctx *ctx);
/* tokens.c: /v1/tokens */
void api_tokens_post(struct api_ctx *ctx);
/* runs.c: ad-hoc runs and their tasks */
void api_runs_post(struct api_ctx *ctx);
void api_run_get(struct api_ctx *ctx);
void api_run_events_get(struct api_ctx *ctx);
void api_task_get(struct api_ctx *ctx);
void api_task_log_get(struct api_ctx *ctx);
/* overclouds.c: /v1/overclouds and the seed's /overclouds */
void api_overclouds_post(struct api_ctx *ctx);
void api_overclouds_list(struct api_ctx *ctx);
void api_overclouds_delete_v0(struct api_ctx *ctx);
void api_overcloud_get(struct api_ctx *ctx);
void api_overcloud_delete(struct api_ctx *ctx);
void api_overcloud_events_get(struct api_ctx *ctx);
void api_overcloud_nodes_post(struct api_ctx *ctx);
void api_overcloud_runs_get(struct api_ctx *ctx);
/* The HTTP status of a workflow_refusal. */
int api_refusal_status(int refusal);
/* artifacts.c: what booting nodes fetch */
void api_agent_artifact_get(struct api_ctx *ctx);
void api_userdata_post(struct api_ctx *ctx);

#endif
