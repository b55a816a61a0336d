/* api.c — the tower's REST API: routes, bearer-token auth, JSON bodies.
 * Every failure is a JSON {"error","detail"} with a 4xx/5xx status. */
#include "tower/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/ca.h"
#include "tower/enroll.h"
#include "tower/http.h"
#include "tower/hub.h"
#include "tower/store.h"
#include "tower/tower.h"

#define API_DEFAULT_TOKEN_TTL 3600

struct api_ctx {
	struct tower *tower;
	const struct http_request *req;
	const char *peer;
	struct evbuffer *out;
	bool keep_alive;
};

static void reply_json(struct api_ctx *ctx, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	if (text == NULL) {
		http_write_error(ctx->out, 500, "cannot encode response", NULL, ctx->keep_alive);
	} else {
		http_write_response(ctx->out, status, "application/json", text, strlen(text),
				    ctx->keep_alive);
		free(text);
	}
	json_decref(body);
}

static void reply_error(struct api_ctx *ctx, int status, const char *message, const char *detail)
{
	http_write_error(ctx->out, status, message, detail, ctx->keep_alive);
}

static bool api_authorized(struct api_ctx *ctx)
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

/* Parses the body as a JSON object; on failure replies 400 and returns NULL. */
static json_t *body_object(struct api_ctx *ctx)
{
	json_error_t jerr;
	json_t *body;
	char detail[256];

	if (ctx->req->body_len == 0) {
		reply_error(ctx, 400, "request body must be a JSON object", NULL);
		return NULL;
	}
	body = json_loadb((const char *)ctx->req->body, ctx->req->body_len,
			  JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL) {
		snprintf(detail, sizeof(detail), "line %d column %d: %s", jerr.line, jerr.column,
			 jerr.text);
		reply_error(ctx, 400, "malformed JSON", detail);
		return NULL;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		reply_error(ctx, 400, "request body must be a JSON object", NULL);
		return NULL;
	}
	return body;
}

static int node_to_json(const struct store_node *n, void *arg)
{
	struct api_ctx *ctx = ((void **)arg)[0];
	json_t *list = ((void **)arg)[1];
	bool connected = hub_node_connected(ctx->tower->hub, n->id);

	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:o?}",
		"id", n->id, "name", n->name, "arch", n->arch[0] ? n->arch : "unknown",
		"role", n->role, "state", connected ? "connected" : "disconnected",
		"os", n->os[0] ? n->os : NULL, "kernel", n->kernel[0] ? n->kernel : NULL,
		"cpus", (json_int_t)n->cpus, "mem_total", (json_int_t)n->mem_total,
		"last_seen", n->last_seen ? json_integer(n->last_seen) : NULL));
	return 0;
}

static void get_nodes(struct api_ctx *ctx)
{
	json_t *list = json_array();
	void *pass[2] = {ctx, list};

	if (store_node_foreach(ctx->tower->store, node_to_json, pass) != 0) {
		json_decref(list);
		reply_error(ctx, 500, "cannot read nodes", NULL);
		return;
	}
	reply_json(ctx, 200, list);
}

static void delete_node(struct api_ctx *ctx, const char *id)
{
	int r = store_node_delete(ctx->tower->store, id);

	if (r < 0) {
		reply_error(ctx, 500, "cannot delete node", NULL);
		return;
	}
	if (r == 0) {
		reply_error(ctx, 404, "no such node", id);
		return;
	}
	log_info("api %s: node %s deleted, its certificate is revoked", ctx->peer, id);
	hub_disconnect_node(ctx->tower->hub, id, "node deleted: certificate revoked");
	reply_json(ctx, 200, json_pack("{s:s, s:s}", "id", id, "state", "deleted"));
}

/* ttl may be seconds (integer) or a duration string ("1h"). */
static int field_duration(json_t *body, const char *name, int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(body, name);

	if (v == NULL || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v))
		return util_parse_duration(json_string_value(v), out);
	return -1;
}

static int field_int(json_t *body, const char *name, int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(body, name);

	if (v == NULL || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v))
		return util_parse_int(json_string_value(v), INT64_MIN, INT64_MAX, out);
	return -1;
}

static void post_tokens(struct api_ctx *ctx)
{
	struct tower *t = ctx->tower;
	char token[ENROLL_TOKEN_LEN + 1], err[160], join[1024];
	json_t *body = body_object(ctx), *role;
	int64_t ttl, uses;

	if (body == NULL)
		return;
	role = json_object_get(body, "role");
	if (!json_is_string(role) || !enroll_role_valid(json_string_value(role))) {
		reply_error(ctx, 400, "field \"role\" must be a role name (a-z, 0-9, '-')", NULL);
		goto out;
	}
	if (field_duration(body, "ttl", API_DEFAULT_TOKEN_TTL, &ttl) != 0) {
		reply_error(ctx, 400, "field \"ttl\" must be seconds or a duration like \"1h\"", NULL);
		goto out;
	}
	if (field_int(body, "uses", 1, &uses) != 0) {
		reply_error(ctx, 400, "field \"uses\" must be an integer", NULL);
		goto out;
	}
	if (enroll_create_token(t->store, json_string_value(role), ttl, uses, token, err,
				sizeof(err)) != 0) {
		reply_error(ctx, 400, err, NULL);
		goto out;
	}
	snprintf(join, sizeof(join), "overcloud-agent join --tower %s:%u --token %s --ca-hash %s",
		 t->join_host, t->agent_port, token, ca_pin(t->ca));
	log_info("api %s: join token %.*s... created for role %s, ttl %llds, %lld use(s)", ctx->peer,
		 ENROLL_TOKEN_ID_HEX, token, json_string_value(role), (long long)ttl,
		 (long long)uses);
	reply_json(ctx, 201, json_pack("{s:s, s:s, s:s, s:I, s:I}", "token", token, "join", join,
				       "role", json_string_value(role),
				       "expires_at", (json_int_t)(util_now() + ttl),
				       "uses", (json_int_t)uses));
out:
	json_decref(body);
}

static void get_metrics(struct api_ctx *ctx)
{
	char text[512];
	int n = snprintf(text, sizeof(text),
			 "# HELP overcloud_agents_connected Agents connected now.\n"
			 "# TYPE overcloud_agents_connected gauge\n"
			 "overcloud_agents_connected %zu\n"
			 "# HELP overcloud_tower_start_time_seconds When the tower started.\n"
			 "# TYPE overcloud_tower_start_time_seconds gauge\n"
			 "overcloud_tower_start_time_seconds %lld\n",
			 hub_connected_count(ctx->tower->hub), (long long)ctx->tower->started_at);

	http_write_response(ctx->out, 200, "text/plain; version=0.0.4", text, (size_t)n,
			    ctx->keep_alive);
}

static bool method_is(struct api_ctx *ctx, const char *method)
{
	return strcmp(ctx->req->method, method) == 0;
}

void api_handle(void *arg, const struct http_request *req, const char *peer,
		struct evbuffer *out, bool *keep_alive)
{
	struct api_ctx ctx = {.tower = arg, .req = req, .peer = peer, .out = out,
			      .keep_alive = *keep_alive};
	const char *path = req->path;

	log_debug("api %s: %s %s", peer, req->method, path);
	/* Public: the CA certificate is what a new client needs to trust us. */
	if (strcmp(path, "/v1/ca.pem") == 0 || strcmp(path, "/healthz") == 0) {
		if (!method_is(&ctx, "GET"))
			reply_error(&ctx, 405, "method not allowed", NULL);
		else if (path[1] == 'h')
			reply_json(&ctx, 200, json_pack("{s:s}", "status", "ok"));
		else
			http_write_response(out, 200, "application/x-pem-file", ca_cert_pem(ctx.tower->ca),
					    strlen(ca_cert_pem(ctx.tower->ca)), ctx.keep_alive);
		return;
	}
	if (!api_authorized(&ctx)) {
		log_info("api %s: %s %s: missing or wrong bearer token", peer, req->method, path);
		reply_error(&ctx, 401, "missing or wrong bearer token",
			    "send Authorization: Bearer <admin.token>");
		return;
	}
	if (strcmp(path, "/v1/nodes") == 0) {
		if (method_is(&ctx, "GET"))
			get_nodes(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (strncmp(path, "/v1/nodes/", 10) == 0 && path[10] != '\0' &&
		   strchr(path + 10, '/') == NULL) {
		if (method_is(&ctx, "DELETE"))
			delete_node(&ctx, path + 10);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (strcmp(path, "/v1/tokens") == 0) {
		if (method_is(&ctx, "POST"))
			post_tokens(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else if (strcmp(path, "/metrics") == 0) {
		if (method_is(&ctx, "GET"))
			get_metrics(&ctx);
		else
			reply_error(&ctx, 405, "method not allowed", NULL);
	} else {
		reply_error(&ctx, 404, "no such path", path);
	}
}
