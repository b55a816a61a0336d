/* api.c — the REST API's router: the route table (method, path pattern, handler,
 * flags) and the one dispatch that authorizes; handlers are one file per resource. */
#include "tower/api/api.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/api/api_int.h"
#include "tower/api/http.h"
#include "tower/api/httpd.h"
#include "tower/api/session.h"
#include "tower/api/web.h"
#include "tower/fleet/ca.h"
#include "tower/tower.h"

/* ---- the public few: what a client needs before it has any identity ---- */

static void health_get(struct api_ctx *ctx)
{
	api_reply_json(ctx, 200, json_pack("{s:s}", "status", "ok"));
}

/* The CA certificate is what a new client needs to trust us. */
static void ca_get(struct api_ctx *ctx)
{
	const char *pem = ca_cert_pem(ctx->tower->ca);

	http_write_response(ctx->out, 200, "application/x-pem-file", pem, strlen(pem),
			    ctx->keep_alive);
}

/* The console: its files are public, its data comes from the routes below. */
static void console_files(struct api_ctx *ctx)
{
	web_handle(ctx->tower->web_dir, ctx->req, ctx->ex);
}

static void session(struct api_ctx *ctx)
{
	session_handle(ctx->tower, ctx->req, ctx->ex);
}

/* Matched in order: the first route whose pattern and method fit answers.
 * A path that some route has, with another method, is 405; a path none has
 * is 404, after the token check unless a public route's subtree has it. */
const struct api_route api_routes[] = {
	{"GET", "/healthz", health_get, API_ROUTE_PUBLIC},
	{"GET", "/v1/ca.pem", ca_get, API_ROUTE_PUBLIC},
	/* What a booting node downloads before it has any identity. */
	{"GET", "/v1/artifacts/agent/{name}", api_agent_artifact_get, API_ROUTE_PUBLIC},
	{NULL, "/v1/artifacts/*", api_reply_not_found, API_ROUTE_PUBLIC | API_ROUTE_FALLBACK},
	/* web.c and session.c answer every method themselves. */
	{NULL, "/", console_files, API_ROUTE_PUBLIC},
	{NULL, "/ui", console_files, API_ROUTE_PUBLIC},
	{NULL, "/ui/*", console_files, API_ROUTE_PUBLIC},
	{NULL, "/v1/session", session, API_ROUTE_PUBLIC},

	{"GET", "/v1/nodes", api_nodes_list, 0},
	{"GET", "/v1/replicas", api_replicas_get, 0},
	{"DELETE", "/v1/nodes/{id}", api_node_delete, 0},
	{"GET", "/v1/nodes/{id}/metrics", api_node_metrics_get, 0},
	{"GET", "/v1/sd/prometheus", api_sd_prometheus_get, 0},
	{"GET", "/metrics", api_metrics_get, 0},
	{"POST", "/v1/tokens", api_tokens_post, 0},
	{"POST", "/v1/userdata", api_userdata_post, 0},

	{"POST", "/v1/runs", api_runs_post, 0},
	{"GET", "/v1/runs/{id}", api_run_get, 0},
	{"GET", "/v1/runs/{id}/events", api_run_events_get, 0},
	/* A run's and a task's subtrees are read-only: any other method is
	 * 405 whatever follows the id, a GET of an unknown one 404. */
	{"GET", "/v1/runs/{id}/*", api_reply_not_found, API_ROUTE_FALLBACK},
	{"GET", "/v1/tasks/{id}", api_task_get, 0},
	{"GET", "/v1/tasks/{id}/log", api_task_log_get, 0},
	{"GET", "/v1/tasks/{id}/*", api_reply_not_found, API_ROUTE_FALLBACK},

	{"POST", "/v1/overclouds", api_overclouds_post, 0},
	{"GET", "/v1/overclouds", api_overclouds_list, 0},
	{"GET", "/v1/overclouds/{id}", api_overcloud_get, 0},
	{"DELETE", "/v1/overclouds/{id}", api_overcloud_delete, 0},
	{"GET", "/v1/overclouds/{id}/events", api_overcloud_events_get, 0},
	{"POST", "/v1/overclouds/{id}/nodes", api_overcloud_nodes_post, 0},
	{"GET", "/v1/overclouds/{id}/runs", api_overcloud_runs_get, 0},
	/* The seed's v0 API: its DELETE carries the id in the body. */
	{"POST", "/overclouds", api_overclouds_post, 0},
	{"GET", "/overclouds", api_overclouds_list, 0},
	{"DELETE", "/overclouds", api_overclouds_delete_v0, 0},
};
const size_t api_route_count = OC_ARRAY_LEN(api_routes);

/* Whether path fits pattern; its "{id}" or "{name}" segment goes to param. */
static bool pattern_match(const char *pattern, const char *path, char *param, size_t param_size)
{
	param[0] = '\0';
	while (*pattern != '\0') {
		if (strcmp(pattern, "*") == 0)
			return true;
		if (*pattern == '{') {
			const char *close = strchr(pattern, '}');
			size_t n = strcspn(path, "/");
			bool is_id = strncmp(pattern, "{id}", 4) == 0;
			size_t max = is_id ? API_ID_MAX - 1 : param_size - 1;

			if (close == NULL || n == 0 || n > max || n >= param_size)
				return false;
			memcpy(param, path, n);
			param[n] = '\0';
			/* no id has other bytes: the store would refuse it */
			if (is_id && !util_name_ok(param, max))
				return false;
			pattern = close + 1;
			path += n;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *path == '\0';
}

static bool method_fits(const struct api_route *r, const char *method)
{
	return r->method == NULL || strcmp(r->method, method) == 0;
}

enum api_match api_route_find(const struct api_route *table, size_t count, const char *method,
			      const char *path, const struct api_route **route, char *param,
			      size_t param_size)
{
	const struct api_route *has_path = NULL, *fallback = NULL, *found = NULL;
	enum api_match m = API_MATCH_OK;

	for (size_t i = 0; i < count && found == NULL; i++) {
		const struct api_route *r = &table[i];

		if (!pattern_match(r->pattern, path, param, param_size))
			continue;
		if (r->flags & API_ROUTE_FALLBACK) {
			if (fallback == NULL)
				fallback = r;
		} else if (method_fits(r, method)) {
			found = r;
		} else if (has_path == NULL) {
			has_path = r;
		}
	}
	if (found == NULL && has_path != NULL) {
		found = has_path;
		m = API_MATCH_NO_METHOD;
	} else if (found == NULL && fallback != NULL) {
		found = fallback;
		m = method_fits(fallback, method) ? API_MATCH_OK : API_MATCH_NO_METHOD;
	}
	*route = found;
	if (found == NULL)
		return API_MATCH_NO_PATH;
	pattern_match(found->pattern, path, param, param_size);
	return m;
}

/* The admin token as "Authorization: Bearer <token>". */
static bool bearer_authorized(struct api_ctx *ctx)
{
	const char *auth = http_header_get(ctx->req, "Authorization");
	const char *want = ctx->tower->admin_token;
	size_t want_len = strlen(want);

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	auth += 7;
	while (*auth == ' ')
		auth++;
	return strlen(auth) == want_len && util_consttime_cmp(auth, want, want_len) == 0;
}

/* The admin token, or the console's session cookie with its CSRF header to
 * change things. Answers 401 or 403 and returns false when neither. */
static bool authorized(struct api_ctx *ctx)
{
	const struct http_request *req = ctx->req;
	enum session_auth s;

	if (bearer_authorized(ctx))
		return true;
	s = session_authorize(ctx->tower->sessions, req, util_now());
	if (s == SESSION_AUTH_CSRF) {
		log_info("api %s: %s %s: session without its CSRF token", ctx->peer, req->method,
			 req->path);
		api_reply_error(ctx, 403, "missing or wrong CSRF token",
				"send X-CSRF-Token: the csrf value of POST /v1/session");
		return false;
	}
	if (s != SESSION_AUTH_OK) {
		log_info("api %s: %s %s: missing or wrong bearer token", ctx->peer, req->method,
			 req->path);
		api_reply_error(ctx, 401, "missing or wrong bearer token",
				"send Authorization: Bearer <admin.token>");
		return false;
	}
	return true;
}

void api_dispatch(const struct api_route *table, size_t count, struct api_ctx *ctx)
{
	const struct http_request *req = ctx->req;
	const struct api_route *route;
	char param[sizeof(req->path)];
	enum api_match m = api_route_find(table, count, req->method, req->path, &route, param,
					  sizeof(param));

	if (route == NULL || !(route->flags & API_ROUTE_PUBLIC)) {
		if (!authorized(ctx))
			return;
		if (req->body_len > 0 && !api_body_is_json(req)) {
			api_reply_error(ctx, 415, "request body must be JSON",
					"send Content-Type: application/json");
			return;
		}
	}
	ctx->id = param;
	if (m == API_MATCH_NO_PATH)
		api_reply_not_found(ctx);
	else if (m == API_MATCH_NO_METHOD)
		api_reply_bad_method(ctx);
	else
		route->handler(ctx);
	ctx->id = "";
}

void api_handle(void *arg, const struct http_request *req, struct httpd_exchange *ex)
{
	struct api_ctx ctx = {.tower = arg, .req = req, .peer = ex->peer, .out = ex->out,
			      .keep_alive = ex->keep_alive, .ex = ex, .id = ""};

	log_debug("api %s: %s %s", ex->peer, req->method, req->path);
	api_dispatch(api_routes, api_route_count, &ctx);
}
