/* client.c — the CLI's client for the tower API (over tower/httpclient.c).
 * Owns endpoint discovery, SSE framing and error wording; commands own what they ask. */
#include "tower/cli/client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/util.h"
#include "tower/httpclient.h"

#define CLIENT_MAX_REPLY (64 * 1024 * 1024)
#define CLIENT_ERR_MAX 512
#define CLIENT_PACKAGED_STATE "/var/lib/overcloud"

struct client {
	struct httpclient *http;    /* one connection, kept between calls */
	char url[512];
	char ca_path[PATH_MAX];
	char auth_header[128];
};

static int from_state_dir(struct client *cl, const char *dir, char *err, size_t err_size)
{
	char path[PATH_MAX], *token;
	json_t *ep;
	json_error_t jerr;
	size_t len;

	snprintf(path, sizeof(path), "%s/endpoint.json", dir);
	if (access(path, R_OK) != 0 && errno == EACCES) {
		snprintf(err, err_size, "cannot read %s: %s (the tower's admins are root and the "
			 "group overcloud)", path, strerror(errno));
		return -1;
	}
	ep = json_load_file(path, 0, &jerr);
	if (ep == NULL) {
		snprintf(err, err_size, "no tower found in %s (is `tower serve --state %s` running?"
			 " or set OVERCLOUD_URL, OVERCLOUD_TOKEN, OVERCLOUD_CA)", dir, dir);
		return -1;
	}
	snprintf(cl->url, sizeof(cl->url), "https://%s:%lld",
		 json_string_value(json_object_get(ep, "api_host")) ?: "127.0.0.1",
		 (long long)json_integer_value(json_object_get(ep, "api_port")));
	json_decref(ep);
	snprintf(cl->ca_path, sizeof(cl->ca_path), "%s/ca.pem", dir);
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	token = util_read_file(path, 4096, &len);
	if (token == NULL) {
		snprintf(err, err_size, "cannot read %s: %s%s", path, strerror(errno),
			 errno == EACCES ? " (the tower's admins are root and the group overcloud)" : "");
		return -1;
	}
	token[strcspn(token, "\r\n ")] = '\0';
	snprintf(cl->auth_header, sizeof(cl->auth_header), "Authorization: Bearer %s", token);
	free(token);
	return 0;
}

static int from_environment(struct client *cl, char *err, size_t err_size)
{
	const char *url = getenv("OVERCLOUD_URL"), *token = getenv("OVERCLOUD_TOKEN");
	const char *ca = getenv("OVERCLOUD_CA");

	if (token == NULL || *token == '\0') {
		snprintf(err, err_size, "OVERCLOUD_URL is set but OVERCLOUD_TOKEN is not");
		return -1;
	}
	if (strncmp(url, "https://", 8) != 0) {
		snprintf(err, err_size, "OVERCLOUD_URL must start with https://");
		return -1;
	}
	snprintf(cl->url, sizeof(cl->url), "%s", url);
	while (cl->url[0] && cl->url[strlen(cl->url) - 1] == '/')
		cl->url[strlen(cl->url) - 1] = '\0';
	snprintf(cl->ca_path, sizeof(cl->ca_path), "%s", ca ? ca : "");
	snprintf(cl->auth_header, sizeof(cl->auth_header), "Authorization: Bearer %s", token);
	return 0;
}

/* Without --state: ./tower-state when it holds a tower, else the packaged
 * tower's /var/lib/overcloud (readable by the group overcloud). */
static const char *default_state_dir(const char *state_dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/endpoint.json", state_dir);
	if (access(path, F_OK) == 0)
		return state_dir;
	if (access(CLIENT_PACKAGED_STATE "/endpoint.json", F_OK) == 0 || errno == EACCES)
		return CLIENT_PACKAGED_STATE;
	return state_dir;
}

struct client *client_new(const char *state_dir, bool state_given, char *err, size_t err_size)
{
	struct client *cl = calloc(1, sizeof(*cl));
	const char *url = getenv("OVERCLOUD_URL");
	int rc;

	if (cl == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (!state_given && url != NULL && *url != '\0')
		rc = from_environment(cl, err, err_size);
	else
		rc = from_state_dir(cl, state_given ? state_dir : default_state_dir(state_dir), err,
				    err_size);
	if (rc != 0)
		goto fail;
	cl->http = httpclient_new();
	if (cl->http == NULL) {
		snprintf(err, err_size, "cannot initialise libcurl");
		goto fail;
	}
	return cl;
fail:
	client_free(cl);
	return NULL;
}

void client_free(struct client *cl)
{
	if (cl == NULL)
		return;
	httpclient_free(cl->http);
	explicit_bzero(cl->auth_header, sizeof(cl->auth_header));
	free(cl);
}

/* "400: field \"role\" ...: detail" from an API error body. */
static void api_error_text(long status, const char *body, char *err, size_t err_size)
{
	json_t *obj = body ? json_loads(body, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(obj, "error"));
	const char *detail = json_string_value(json_object_get(obj, "detail"));

	if (msg != NULL && detail != NULL)
		snprintf(err, err_size, "%ld: %s: %s", status, msg, detail);
	else if (msg != NULL)
		snprintf(err, err_size, "%ld: %s", status, msg);
	else
		snprintf(err, err_size, "tower answered status %ld", status);
	json_decref(obj);
}

json_t *client_call(struct client *cl, const char *method, const char *path, json_t *body,
		    long *status, char *err, size_t err_size)
{
	const char *lines[3] = {cl->auth_header, "Accept: application/json",
				"Content-Type: application/json"};
	struct httpclient_answer ans;
	char url[1024], why[CLIENT_ERR_MAX], *text = NULL;
	json_t *result = NULL;

	snprintf(url, sizeof(url), "%s%s", cl->url, path);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	struct httpclient_request req = {
		.method = method,
		.url = url,
		.headers = lines,
		.header_count = body != NULL ? 3 : 2,
		.body = text,
		.body_len = text != NULL ? strlen(text) : 0,
		.ca_bundle = cl->ca_path,
		.timeout_s = 120,
		.max_answer = CLIENT_MAX_REPLY,
	};
	if (httpclient_do(cl->http, &req, &ans, why, sizeof(why)) != 0) {
		snprintf(err, err_size, "%s: %s", url, why);
		goto out;
	}
	*status = ans.status;
	if (*status < 200 || *status > 299) {
		api_error_text(*status, ans.body, err, err_size);
		goto out;
	}
	result = ans.len ? json_loadb(ans.body, ans.len, 0, NULL) : json_object();
	if (result == NULL)
		result = json_stringn(ans.body, ans.len);
out:
	httpclient_answer_free(&ans);
	free(text);
	return result;
}

struct sse_state {
	client_event_fn on_event;
	void *arg;
	char *buf;           /* bytes of the event being read */
	size_t len, cap;
	bool too_big;        /* an event over CLIENT_MAX_REPLY */
};

/* One SSE event is "event: X\ndata: {...}\n\n"; our server sends no other
 * field and one data line per event. */
static int sse_dispatch(struct sse_state *s, char *block)
{
	char *event = "message", *data = NULL, *line, *save = NULL;
	json_t *json;
	int rc;

	for (line = strtok_r(block, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "event: ", 7) == 0)
			event = line + 7;
		else if (strncmp(line, "data: ", 6) == 0)
			data = line + 6;
	}
	if (data == NULL)
		return 0;
	json = json_loads(data, 0, NULL);
	if (json == NULL)
		return 0;
	rc = s->on_event(s->arg, event, json);
	json_decref(json);
	return rc;
}

/* The 200 answer's bytes as they come: whole events go to on_event. */
static int on_sse(void *arg, const char *ptr, size_t n)
{
	struct sse_state *s = arg;
	char *end;

	if (s->len + n + 1 > s->cap) {
		size_t cap = (s->len + n + 1) * 2;
		char *bigger;
		if (cap > CLIENT_MAX_REPLY || (bigger = realloc(s->buf, cap)) == NULL) {
			s->too_big = true;
			return -1;
		}
		s->buf = bigger;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	while ((end = strstr(s->buf, "\n\n")) != NULL) {
		size_t used = (size_t)(end - s->buf) + 2;
		int stop;
		*end = '\0';
		stop = sse_dispatch(s, s->buf);
		memmove(s->buf, s->buf + used, s->len - used + 1);
		s->len -= used;
		if (stop != 0)
			return stop;
	}
	return 0;
}

int client_stream(struct client *cl, const char *path, client_event_fn on_event, void *arg,
		  char *err, size_t err_size)
{
	struct sse_state s = {.on_event = on_event, .arg = arg};
	const char *lines[2] = {cl->auth_header, "Accept: text/event-stream"};
	struct httpclient_answer ans;
	char url[1024], why[CLIENT_ERR_MAX];
	int ret = -1;

	snprintf(url, sizeof(url), "%s%s", cl->url, path);
	struct httpclient_request req = {
		.method = "GET",
		.url = url,
		.headers = lines,
		.header_count = 2,
		.ca_bundle = cl->ca_path,
		.timeout_s = -1,                 /* a watch lasts as long as the workflow */
		.max_answer = CLIENT_MAX_REPLY,  /* an error's body */
		.on_stream = on_sse,
		.stream_arg = &s,
	};
	if (httpclient_do(cl->http, &req, &ans, why, sizeof(why)) != 0)
		snprintf(err, err_size, "%s: %s", url, why);
	else if (s.too_big)
		snprintf(err, err_size, "%s: an event larger than %d bytes", url, CLIENT_MAX_REPLY);
	else if (ans.status != 200 && !ans.stopped)
		api_error_text(ans.status, ans.body, err, err_size);
	else
		ret = 0;
	httpclient_answer_free(&ans);
	free(s.buf);
	return ret;
}
