/* client.c — the CLI's HTTPS client for the tower API (libcurl).
 * Owns endpoint discovery and error wording; commands own what they ask. */
#include "tower/client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "shared/util.h"

#define CLIENT_MAX_REPLY (64 * 1024 * 1024)

struct client {
	CURL *curl;
	char url[512];
	char ca_path[PATH_MAX];
	char auth_header[128];
};

struct reply_buf {
	char *data;
	size_t len;
	bool too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct reply_buf *r = arg;
	size_t n = size * nmemb;
	char *bigger;

	if (r->len + n > CLIENT_MAX_REPLY) {
		r->too_big = true;
		return 0;
	}
	bigger = realloc(r->data, r->len + n + 1);
	if (bigger == NULL)
		return 0;
	r->data = bigger;
	memcpy(r->data + r->len, ptr, n);
	r->len += n;
	r->data[r->len] = '\0';
	return n;
}

static int from_state_dir(struct client *cl, const char *dir, char *err, size_t err_size)
{
	char path[PATH_MAX], *token;
	json_t *ep;
	json_error_t jerr;
	size_t len;

	snprintf(path, sizeof(path), "%s/endpoint.json", dir);
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
		snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
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
		rc = from_state_dir(cl, state_dir, err, err_size);
	if (rc != 0)
		goto fail;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	cl->curl = curl_easy_init();
	if (cl->curl == NULL) {
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
	if (cl->curl != NULL)
		curl_easy_cleanup(cl->curl);
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
	struct reply_buf reply = {0};
	struct curl_slist *headers = NULL;
	char url[1024], curl_err[CURL_ERROR_SIZE] = "", *text = NULL;
	json_t *result = NULL;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", cl->url, path);
	curl_easy_reset(cl->curl);
	curl_easy_setopt(cl->curl, CURLOPT_URL, url);
	curl_easy_setopt(cl->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(cl->curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(cl->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cl->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(cl->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(cl->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cl->curl, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(cl->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cl->ca_path[0] != '\0')
		curl_easy_setopt(cl->curl, CURLOPT_CAINFO, cl->ca_path);
	headers = curl_slist_append(headers, cl->auth_header);
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(cl->curl, CURLOPT_POSTFIELDS, text ? text : "");
	}
	curl_easy_setopt(cl->curl, CURLOPT_HTTPHEADER, headers);
	rc = curl_easy_perform(cl->curl);
	if (rc != CURLE_OK) {
		if (reply.too_big)
			snprintf(err, err_size, "%s: reply larger than %d bytes", url, CLIENT_MAX_REPLY);
		else
			snprintf(err, err_size, "%s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, status);
	if (*status < 200 || *status > 299) {
		api_error_text(*status, reply.data, err, err_size);
		goto out;
	}
	result = reply.len ? json_loadb(reply.data, reply.len, 0, NULL) : json_object();
	if (result == NULL)
		result = json_stringn(reply.data, reply.len);
out:
	curl_slist_free_all(headers);
	free(text);
	free(reply.data);
	return result;
}

struct sse_state {
	client_event_fn on_event;
	void *arg;
	char *buf;           /* bytes of the event being read */
	size_t len, cap;
	bool stopped;
	long status;
	CURL *curl;
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

static size_t on_sse(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sse_state *s = arg;
	size_t n = size * nmemb;
	char *end;

	if (s->stopped)
		return 0;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->len + n + 1 > s->cap) {
		size_t cap = (s->len + n + 1) * 2;
		char *bigger;
		if (cap > CLIENT_MAX_REPLY || (bigger = realloc(s->buf, cap)) == NULL)
			return 0;
		s->buf = bigger;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	if (s->status != 200)
		return n;   /* an error body, read whole below */
	while ((end = strstr(s->buf, "\n\n")) != NULL) {
		size_t used = (size_t)(end - s->buf) + 2;
		*end = '\0';
		if (sse_dispatch(s, s->buf) != 0)
			s->stopped = true;
		memmove(s->buf, s->buf + used, s->len - used + 1);
		s->len -= used;
		if (s->stopped)
			return 0;
	}
	return n;
}

int client_stream(struct client *cl, const char *path, client_event_fn on_event, void *arg,
		  char *err, size_t err_size)
{
	struct sse_state s = {.on_event = on_event, .arg = arg, .curl = cl->curl};
	struct curl_slist *headers = NULL;
	char url[1024], curl_err[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	int ret = -1;

	snprintf(url, sizeof(url), "%s%s", cl->url, path);
	curl_easy_reset(cl->curl);
	curl_easy_setopt(cl->curl, CURLOPT_URL, url);
	curl_easy_setopt(cl->curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(cl->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cl->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(cl->curl, CURLOPT_WRITEFUNCTION, on_sse);
	curl_easy_setopt(cl->curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(cl->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cl->ca_path[0] != '\0')
		curl_easy_setopt(cl->curl, CURLOPT_CAINFO, cl->ca_path);
	headers = curl_slist_append(headers, cl->auth_header);
	headers = curl_slist_append(headers, "Accept: text/event-stream");
	curl_easy_setopt(cl->curl, CURLOPT_HTTPHEADER, headers);
	rc = curl_easy_perform(cl->curl);
	curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, &s.status);
	if (s.status != 0 && s.status != 200)
		api_error_text(s.status, s.buf, err, err_size);
	else if (rc != CURLE_OK && !s.stopped)
		snprintf(err, err_size, "%s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
	else
		ret = 0;
	curl_slist_free_all(headers);
	free(s.buf);
	return ret;
}
