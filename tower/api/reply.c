/* reply.c — the API's JSON in and out: replies with a status (errors as
 * {"error","detail"}) and the checks every JSON request body goes through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/util.h"
#include "tower/api/api_int.h"
#include "tower/api/http.h"

void api_reply_json(struct api_ctx *ctx, int status, json_t *body)
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

void api_reply_error(struct api_ctx *ctx, int status, const char *message, const char *detail)
{
	http_write_error(ctx->out, status, message, detail, ctx->keep_alive);
}

void api_reply_not_found(struct api_ctx *ctx)
{
	api_reply_error(ctx, 404, "no such path", ctx->req->path);
}

void api_reply_bad_method(struct api_ctx *ctx)
{
	api_reply_error(ctx, 405, "method not allowed", NULL);
}

bool api_body_is_json(const struct http_request *req)
{
	const char *type = http_header_get(req, "Content-Type");
	size_t len;

	if (type == NULL)
		return false;
	len = strcspn(type, ";");
	while (len > 0 && (type[len - 1] == ' ' || type[len - 1] == '\t'))
		len--;
	return len == 16 && strncasecmp(type, "application/json", 16) == 0;
}

json_t *api_body_object(struct api_ctx *ctx)
{
	json_error_t jerr;
	json_t *body;
	char detail[256];

	if (ctx->req->body_len == 0) {
		api_reply_error(ctx, 400, "request body must be a JSON object", NULL);
		return NULL;
	}
	body = json_loadb((const char *)ctx->req->body, ctx->req->body_len,
			  JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL) {
		snprintf(detail, sizeof(detail), "line %d column %d: %s", jerr.line, jerr.column,
			 jerr.text);
		api_reply_error(ctx, 400, "malformed JSON", detail);
		return NULL;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		api_reply_error(ctx, 400, "request body must be a JSON object", NULL);
		return NULL;
	}
	return body;
}

/* A field of an integer, or of a string parse reads. */
static int field_scalar(json_t *body, const char *name, int64_t dflt, int64_t *out,
			int (*parse)(const char *text, int64_t *out))
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
		return parse(json_string_value(v), out);
	return -1;
}

static int parse_int(const char *text, int64_t *out)
{
	return util_parse_int(text, INT64_MIN, INT64_MAX, out);
}

int api_field_duration(json_t *body, const char *name, int64_t dflt, int64_t *out)
{
	return field_scalar(body, name, dflt, out, util_parse_duration);
}

int api_field_int(json_t *body, const char *name, int64_t dflt, int64_t *out)
{
	return field_scalar(body, name, dflt, out, parse_int);
}
