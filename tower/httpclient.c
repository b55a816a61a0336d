/* httpclient.c — HTTPS requests with libcurl for the providers and the CLI.
 * Owns libcurl set-up, answer buffering and streaming, header capture and
 * wiping; signing, retries and parsing are the callers'. */
#include "tower/httpclient.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define HTTPCLIENT_DEFAULT_MAX (1u << 20)
#define HTTPCLIENT_CONNECT_TIMEOUT_S 10L

struct httpclient {
	CURL *curl;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* curl_global_init is not thread-safe everywhere; provider calls come from
 * several threads, so it runs once. It is never undone: the tower lives on. */
static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct transfer {
	const struct httpclient_request *req;
	CURL *curl;
	long status;                   /* known once the first body byte arrives */
	char *buf;
	size_t len, cap, max;
	bool over, stopped;
};

static int buffer_add(struct transfer *t, const char *data, size_t n)
{
	if (t->len + n > t->max) {
		t->over = true;
		return -1;
	}
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *p = realloc(t->buf, cap);
		if (p == NULL)
			return -1;
		t->buf = p;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, data, n);
	t->len += n;
	t->buf[t->len] = '\0';
	return 0;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	size_t n = size * nmemb;

	if (t->req->on_stream != NULL) {
		if (t->status == 0)
			curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
		if (t->status >= 200 && t->status <= 299) {
			if (t->req->on_stream(t->req->stream_arg, data, n) != 0) {
				t->stopped = true;
				return 0;
			}
			return n;
		}
	}
	return buffer_add(t, data, n) == 0 ? n : 0;
}

void httpclient_capture_line(struct httpclient_capture *capture, size_t count, const char *line,
			     size_t len)
{
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		for (size_t i = 0; i < count; i++) {
			struct httpclient_capture *c = &capture[i];
			if (c->size > 0)
				explicit_bzero(c->value, c->size);
			c->found = c->too_long = false;
		}
		return;
	}
	for (size_t i = 0; i < count; i++) {
		struct httpclient_capture *c = &capture[i];
		size_t n = strlen(c->name), vlen;
		const char *v;

		if (len <= n || strncasecmp(line, c->name, n) != 0 || line[n] != ':')
			continue;
		v = line + n + 1;
		vlen = len - n - 1;
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' ||
				    v[vlen - 1] == '\t'))
			vlen--;
		c->found = true;
		if (c->size == 0 || vlen >= c->size || memchr(v, '\0', vlen) != NULL) {
			c->too_long = vlen >= c->size;
			if (c->size > 0)
				c->value[0] = '\0';
		} else {
			memcpy(c->value, v, vlen);
			c->value[vlen] = '\0';
		}
	}
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * nmemb;

	httpclient_capture_line(t->req->capture, t->req->capture_count, line, len);
	return len;
}

static bool transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:   /* a handshake cut short, not a bad certificate */
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* curl_slist_free_all frees without wiping; the list holds the signed
 * headers, among them session tokens. */
static void wipe_list(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

struct httpclient *httpclient_new(void)
{
	struct httpclient *hc = calloc(1, sizeof(*hc));

	if (hc == NULL)
		return NULL;
	pthread_once(&global_once, global_init);
	hc->curl = curl_easy_init();
	if (hc->curl == NULL) {
		free(hc);
		return NULL;
	}
	return hc;
}

void httpclient_free(struct httpclient *hc)
{
	if (hc == NULL)
		return;
	curl_easy_cleanup(hc->curl);
	free(hc);
}

int httpclient_do(struct httpclient *hc, const struct httpclient_request *req,
		  struct httpclient_answer *ans, char *err, size_t err_size)
{
	struct transfer t = {.req = req};
	struct curl_slist *headers = NULL, *l;
	char curl_err[CURL_ERROR_SIZE] = "";
	bool https = strncmp(req->url, "https://", 8) == 0;
	CURL *curl;
	CURLcode rc;
	int result = -1;

	memset(ans, 0, sizeof(*ans));
	for (size_t i = 0; i < req->capture_count; i++) {
		req->capture[i].found = req->capture[i].too_long = false;
		if (req->capture[i].size > 0)
			req->capture[i].value[0] = '\0';
	}
	if (!https && !(req->allow_http && strncmp(req->url, "http://", 7) == 0)) {
		snprintf(err, err_size, "only https:// endpoints are used");
		return -1;
	}
	pthread_once(&global_once, global_init);
	if (hc != NULL) {
		curl = hc->curl;
		curl_easy_reset(curl);
	} else if ((curl = curl_easy_init()) == NULL) {
		snprintf(err, err_size, "cannot start libcurl");
		return -1;
	}
	t.curl = curl;
	for (size_t i = 0; i < req->header_count; i++) {
		if ((l = curl_slist_append(headers, req->headers[i])) == NULL)
			goto oom;
		headers = l;
	}
	/* libcurl adds "Expect: 100-continue" to large POSTs: a header nobody signed */
	if ((l = curl_slist_append(headers, "Expect:")) == NULL)
		goto oom;
	headers = l;
	t.max = req->max_answer ? req->max_answer : HTTPCLIENT_DEFAULT_MAX;
	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);         /* called from worker threads */
	curl_easy_setopt(curl, CURLOPT_VERBOSE, 0L);          /* would print the headers */
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);   /* a redirect never gets a token */
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, HTTPCLIENT_CONNECT_TIMEOUT_S);
	if (req->timeout_s >= 0)
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout_s > 0 ? req->timeout_s : 60L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, req->allow_http ? "http,https" : "https");
#endif
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
	if (req->ca_bundle != NULL && req->ca_bundle[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_bundle);
	if (req->body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ans->status);
	if (rc != CURLE_OK && !t.stopped) {
		if (t.over)
			snprintf(err, err_size, "answer over %zu bytes", t.max);
		else
			snprintf(err, err_size, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
		if (transient(rc) && !t.over)
			result = HTTPCLIENT_TRANSIENT;
		goto out;
	}
	ans->stopped = t.stopped;
	ans->body = t.buf ? t.buf : strdup("");
	ans->len = t.len;
	t.buf = NULL;
	if (ans->body == NULL)
		goto oom;
	result = 0;
	goto out;
oom:
	snprintf(err, err_size, "out of memory");
out:
	free(t.buf);
	wipe_list(headers);
	if (hc == NULL)
		curl_easy_cleanup(curl);
	else
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);   /* the list is gone */
	return result;
}

void httpclient_answer_free(struct httpclient_answer *ans)
{
	if (ans == NULL)
		return;
	free(ans->body);
	memset(ans, 0, sizeof(*ans));
}
