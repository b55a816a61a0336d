/* cloudhttp.c — HTTPS requests to cloud APIs (libcurl), shared by the cloud providers.
 * Owns libcurl set-up and answer buffering; signing and parsing are the providers'. */
#include "tower/providers/cloudhttp.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define CLOUDHTTP_DEFAULT_MAX (1u << 20)
#define CLOUDHTTP_CONNECT_TIMEOUT_S 10L

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* curl_global_init is not thread-safe everywhere; provider calls come from
 * several threads, so it runs once. It is never undone: the tower lives on. */
static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
	char *buf;
	size_t len, cap, max;
	bool over;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->len + n > s->max) {
		s->over = true;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *p = realloc(s->buf, cap);
		if (p == NULL)
			return 0;
		s->buf = p;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
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

int cloudhttp_do(const struct cloudhttp_request *req, struct cloudhttp_answer *ans, char *err,
		 size_t err_size)
{
	struct sink sink = {0};
	struct curl_slist *headers = NULL;
	char curl_err[CURL_ERROR_SIZE] = "";
	CURL *curl;
	CURLcode rc;
	int result = -1;

	memset(ans, 0, sizeof(*ans));
	if (strncmp(req->url, "https://", 8) != 0) {
		snprintf(err, err_size, "only https:// endpoints are used");
		return -1;
	}
	pthread_once(&global_once, global_init);
	curl = curl_easy_init();
	if (curl == NULL) {
		snprintf(err, err_size, "cannot start libcurl");
		return -1;
	}
	for (size_t i = 0; i < req->header_count; i++) {
		struct curl_slist *l = curl_slist_append(headers, req->headers[i]);
		if (l == NULL) {
			snprintf(err, err_size, "out of memory");
			goto out;
		}
		headers = l;
	}
	/* libcurl adds "Expect: 100-continue" to large POSTs: a header nobody signed */
	headers = curl_slist_append(headers, "Expect:");
	sink.max = req->max_answer ? req->max_answer : CLOUDHTTP_DEFAULT_MAX;
	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_VERBOSE, 0L);          /* would print the headers */
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CLOUDHTTP_CONNECT_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout_s > 0 ? req->timeout_s : 60L);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
#endif
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	if (req->ca_bundle != NULL && req->ca_bundle[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_bundle);
	if (req->body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		if (sink.over)
			snprintf(err, err_size, "answer over %zu bytes", sink.max);
		else
			snprintf(err, err_size, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
		if (transient(rc) && !sink.over)
			result = CLOUDHTTP_TRANSIENT;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ans->status);
	ans->body = sink.buf ? sink.buf : strdup("");
	ans->len = sink.len;
	sink.buf = NULL;
	if (ans->body == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	result = 0;
out:
	free(sink.buf);
	wipe_list(headers);
	curl_easy_cleanup(curl);
	return result;
}

void cloudhttp_answer_free(struct cloudhttp_answer *ans)
{
	if (ans == NULL)
		return;
	free(ans->body);
	memset(ans, 0, sizeof(*ans));
}
