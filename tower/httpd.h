/* httpd.h — the HTTPS transport of the tower's API: TLS connections, request
 * framing with keep-alive and pipelining; routing is the handler's job. */
#ifndef OC_HTTPD_H
#define OC_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct http_request;
struct tls_config;
struct httpd;
struct httpd_stream;

/* One request being answered. */
struct httpd_exchange {
	const char *peer;          /* "1.2.3.4:5678" for log lines */
	struct evbuffer *out;      /* the whole response goes here ... */
	bool keep_alive;           /* ... and clearing this closes the connection after it */
	struct httpd_conn *conn;   /* for httpd_stream_begin */
};

/* Answers ex->... for req. */
typedef void (*httpd_handler_fn)(void *arg, const struct http_request *req,
				 struct httpd_exchange *ex);

/* Inside a handler: the response goes on after the handler returns (for
 * Server-Sent Events). What is in ex->out is sent first. on_gone runs once
 * when the client goes away or the server stops; the stream is invalid after
 * it. The connection closes when the stream ends. */
struct httpd_stream *httpd_stream_begin(struct httpd_exchange *ex,
					void (*on_gone)(void *arg), void *arg);
int httpd_stream_write(struct httpd_stream *s, const void *data, size_t len);
/* Sends what is queued and closes; on_gone is not called. */
void httpd_stream_end(struct httpd_stream *s);

/* tls is borrowed and must outlive the httpd. */
struct httpd *httpd_new(struct event_base *base, struct tls_config *tls,
			httpd_handler_fn handler, void *arg);
int httpd_listen(struct httpd *httpd, const char *host, uint16_t port, uint16_t *bound_port,
		 char *err, size_t err_size);
void httpd_free(struct httpd *httpd);

#endif
