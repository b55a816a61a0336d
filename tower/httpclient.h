/* httpclient.h — the tower's one libcurl client: the cloud providers
 * (openstack, aws) and the CLI call HTTPS APIs through it. One request at a
 * time per handle; a bounded answer or a stream; chosen response headers
 * captured; header values (tokens, signatures) never echoed and wiped. */
#ifndef OC_HTTPCLIENT_H
#define OC_HTTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* A response header to keep: name (case-insensitive) in, value out. */
struct httpclient_capture {
	const char *name;              /* "Retry-After", "X-Subject-Token" */
	char *value;                   /* the caller's buffer, NUL-terminated */
	size_t size;
	bool found;
	bool too_long;                 /* did not fit: value is empty */
};

/* Receives a 2xx answer's body as it arrives; non-zero stops the transfer
 * (not an error). Non-2xx bodies are buffered into the answer instead. */
typedef int (*httpclient_stream_fn)(void *arg, const char *data, size_t len);

struct httpclient_request {
	const char *method;            /* "GET", "POST", "DELETE" */
	const char *url;               /* https:// (or http:// when allow_http) */
	const char *const *headers;    /* "Name: value" lines; may hold secrets */
	size_t header_count;
	const void *body;              /* NULL for none */
	size_t body_len;
	const char *ca_bundle;         /* PEM file; NULL or "" for the system's CAs */
	bool allow_http;               /* a Keystone on http:// (a lab) */
	long timeout_s;                /* whole request; 0 = 60, -1 = none (streams) */
	size_t max_answer;             /* 0 = 1 MiB */
	struct httpclient_capture *capture;
	size_t capture_count;
	httpclient_stream_fn on_stream;
	void *stream_arg;
};

struct httpclient_answer {
	long status;                   /* HTTP status */
	char *body;                    /* NUL-terminated; free with httpclient_answer_free */
	size_t len;
	bool stopped;                  /* on_stream asked to stop */
};

#define HTTPCLIENT_TRANSIENT (-2)

/* A handle that keeps its connection between requests (the CLI's calls);
 * NULL when out of memory. */
struct httpclient *httpclient_new(void);
void httpclient_free(struct httpclient *hc);

/* Sends req and reads the answer, whatever its status. hc may be NULL: a
 * handle is made for this one request (provider calls on worker threads).
 * Returns 0 when an HTTP answer arrived; HTTPCLIENT_TRANSIENT on a failure
 * worth retrying (resolve, connect, timeout, connection lost); -1 on one that
 * is not (certificate not trusted, answer over the cap, bad URL). err gets a
 * one-line reason without the URL (callers say what they called). */
int httpclient_do(struct httpclient *hc, const struct httpclient_request *req,
		  struct httpclient_answer *ans, char *err, size_t err_size);

void httpclient_answer_free(struct httpclient_answer *ans);

/* One response header line as libcurl hands it over ("Name: value\r\n", not
 * NUL-terminated; a status line "HTTP/..." starts a new answer and clears
 * what was captured): the value of each header named in capture is kept,
 * trimmed. A value that does not fit (or holds a NUL) is found but empty. */
void httpclient_capture_line(struct httpclient_capture *capture, size_t count, const char *line,
			     size_t len);

#endif
