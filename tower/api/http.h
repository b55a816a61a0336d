/* http.h — HTTP/1.1 request parsing and response formatting for the tower's
 * API. Transport-free: bytes in, bytes out; the TLS connection lives elsewhere. */
#ifndef OC_HTTP_H
#define OC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define HTTP_MAX_HEADER_BYTES (16 * 1024)   /* request line + headers */
#define HTTP_MAX_BODY_BYTES (1024 * 1024)   /* request body */
#define HTTP_MAX_HEADERS 64

struct http_header {
	const char *name;   /* points into the parse buffer, NUL-terminated */
	const char *value;  /* leading/trailing spaces trimmed */
};

struct http_request {
	char method[8];            /* "GET", "POST", "DELETE", ... */
	char path[1024];           /* percent-decoded path, no query; always starts with '/' */
	char query[1024];          /* raw query string without '?', may be empty */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t header_count;
	const uint8_t *body;       /* points into the parse buffer; NULL when none */
	size_t body_len;
	bool keep_alive;           /* HTTP/1.1 default true; "Connection: close" -> false; HTTP/1.0 -> false unless keep-alive */
};

enum http_parse_status {
	HTTP_PARSE_OK = 0,     /* *req filled, *consumed bytes used */
	HTTP_PARSE_NEED_MORE,  /* incomplete; call again with more bytes */
	HTTP_PARSE_ERROR,      /* *error_status (400, 405, 411, 413, 414, 431, 501, 505) + reason */
};

/* Parses one request from buf[0..len). buf must be writable: the parser
 * NUL-terminates header names/values in place, and req keeps pointers into it.
 * Supports Content-Length bodies only: Transfer-Encoding -> 501; POST/PUT/
 * PATCH without Content-Length and with a body -> treated as empty body;
 * Content-Length over max_body -> 413 as soon as the headers are complete
 * (before the body arrives); headers over HTTP_MAX_HEADER_BYTES -> 431.
 * Never reads past len. */
enum http_parse_status http_parse_request(char *buf, size_t len, size_t max_body,
					  struct http_request *req, size_t *consumed,
					  int *error_status, char *err, size_t err_size);

/* Case-insensitive header lookup; NULL when absent. */
const char *http_header_get(const struct http_request *req, const char *name);

/* Appends a full response: status line, Content-Type, Content-Length,
 * Connection (keep-alive or close), Cache-Control: no-store, then the body. */
int http_write_response(struct evbuffer *out, int status, const char *content_type,
			const void *body, size_t body_len, bool keep_alive);
/* The same with one more header "header: value" (both NULL for none). */
int http_write_response_with(struct evbuffer *out, int status, const char *content_type,
			     const char *header, const char *value, const void *body,
			     size_t body_len, bool keep_alive);
/* Appends the head alone of such a response, for a body of body_len bytes
 * that the caller sends after it. */
int http_write_head(struct evbuffer *out, int status, const char *content_type,
		    const char *header, const char *value, uint64_t body_len, bool keep_alive);
/* Appends a JSON error response: {"error": message, "detail": detail-or-null}. */
int http_write_error(struct evbuffer *out, int status, const char *message,
		     const char *detail, bool keep_alive);
/* Appends headers that start a Server-Sent Events stream (no Content-Length). */
int http_write_sse_start(struct evbuffer *out);
/* Appends one SSE event: "event: <name>\ndata: <data>\n\n" (data on one line). */
int http_write_sse_event(struct evbuffer *out, const char *event, const char *data);

const char *http_status_text(int status);

#endif
