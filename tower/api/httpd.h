/* httpd.h — the HTTPS transport of the tower's API: TLS connections, request
 * framing with keep-alive and pipelining, and the limits that keep a client
 * from taking memory or fds (output cap, deadlines, connection caps);
 * routing is the handler's job. */
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
	/* A big body comes from a file instead: with the head alone in out,
	 * the handler sets body_fd (-1 as given) and body_len; the body is
	 * read from the fd in chunks as the client takes them, and the fd is
	 * closed after. */
	int body_fd;
	uint64_t body_len;
};

/* Unsent bytes on one connection before it is served no more: no further
 * request is read and a stream is asked to pause until they drain. */
#define HTTPD_OUTPUT_CAP (256 * 1024)
/* A stream over this is cut at once (a producer that ignored the pause). */
#define HTTPD_OUTPUT_HARD_CAP (4 * HTTPD_OUTPUT_CAP)
/* From a request's first byte (a connection's first: from the accept) to
 * its last, headers and body: it is not extended by each byte. */
#define HTTPD_REQUEST_TIMEOUT_S 20
/* Keep-alive: no request for this long closes the connection. */
#define HTTPD_IDLE_TIMEOUT_S 60
/* Output over the cap (or a file body) that does not drain for this long
 * means a client that stopped reading: it is cut. */
#define HTTPD_STALL_TIMEOUT_S 20
/* API connections at once: in all (and at most a quarter of the fd limit,
 * the rest is for agents), and from one client address. */
#define HTTPD_MAX_CONNS 256
#define HTTPD_MAX_CONNS_PER_ADDR 32

/* Answers ex->... for req. */
typedef void (*httpd_handler_fn)(void *arg, const struct http_request *req,
				 struct httpd_exchange *ex);

/* Inside a handler: the response goes on after the handler returns (for
 * Server-Sent Events). What is in ex->out is sent first. on_gone runs once
 * when the client goes away or the server stops; the stream is invalid after
 * it. on_drained (may be NULL) runs when all that was queued has been sent
 * after a write returned 1. The connection closes when the stream ends;
 * what the client sends meanwhile is discarded. */
struct httpd_stream *httpd_stream_begin(struct httpd_exchange *ex,
					void (*on_gone)(void *arg),
					void (*on_drained)(void *arg), void *arg);
/* Queues data. Returns 0; 1 when the unsent output is now over
 * HTTPD_OUTPUT_CAP: write nothing more until on_drained (a stream that
 * stays over it for HTTPD_STALL_TIMEOUT_S, or goes over the hard cap, is
 * cut); -1 when the connection is closing. */
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
