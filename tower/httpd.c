/* httpd.c — serves HTTP/1.1 over TLS for the tower's API: accepts, frames
 * requests with http.c, hands them to one handler, writes the replies. */
#include "tower/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "shared/log.h"
#include "shared/netaddr.h"
#include "shared/tls.h"
#include "tower/http.h"
#include "tower/telemetry.h"

#define HTTPD_HANDSHAKE_TIMEOUT_MS 10000
#define HTTPD_IDLE_TIMEOUT_S 60

struct httpd_stream {
	struct httpd_conn *conn;
	void (*on_gone)(void *arg);
	void *arg;
};

struct httpd_conn {
	struct httpd *httpd;
	struct tls_conn *tls;
	struct event *idle;
	struct httpd_stream *stream;   /* a response still going on */
	char peer[96];
	bool closing;
	struct httpd_conn *prev, *next;
};

struct httpd {
	struct event_base *base;
	struct tls_config *tls;
	struct evconnlistener *listener;
	httpd_handler_fn handler;
	void *arg;
	struct httpd_conn *conns;
};

static void conn_close(struct httpd_conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	tls_conn_close_after_flush(c->tls, why);
}

static void conn_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;

	/* A stream is quiet between events; it is not idle. */
	if (c->stream == NULL)
		conn_close(c, "idle");
}

/* The client left or the server stops: tell the stream's owner once. */
static void conn_drop_stream(struct httpd_conn *c)
{
	struct httpd_stream *s = c->stream;

	if (s == NULL)
		return;
	c->stream = NULL;
	if (s->on_gone != NULL)
		s->on_gone(s->arg);
	free(s);
}

struct httpd_stream *httpd_stream_begin(struct httpd_exchange *ex,
					void (*on_gone)(void *arg), void *arg)
{
	struct httpd_conn *c = ex->conn;
	struct httpd_stream *s;

	if (c->stream != NULL || c->closing)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->conn = c;
	s->on_gone = on_gone;
	s->arg = arg;
	c->stream = s;
	/* The response head goes out before anything streamed after it. */
	tls_conn_write(c->tls, evbuffer_pullup(ex->out, -1), evbuffer_get_length(ex->out));
	evbuffer_drain(ex->out, evbuffer_get_length(ex->out));
	return s;
}

int httpd_stream_write(struct httpd_stream *s, const void *data, size_t len)
{
	return tls_conn_write(s->conn->tls, data, len);
}

void httpd_stream_end(struct httpd_stream *s)
{
	struct httpd_conn *c = s->conn;

	c->stream = NULL;
	free(s);
	conn_close(c, "stream ended");
}

/* The status of the response at the start of out ("HTTP/1.1 200 ..."), or 0. */
static int response_status(struct evbuffer *out)
{
	char line[13];
	int status = 0;

	if (evbuffer_copyout(out, line, 12) != 12 || memcmp(line, "HTTP/1.", 7) != 0)
		return 0;
	for (int i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return 0;
		status = status * 10 + (line[i] - '0');
	}
	return status;
}

/* Parses from a scratch copy: the parser writes into its buffer, and an
 * incomplete request must be parsed again from pristine bytes. */
static void conn_on_read(struct tls_conn *tls, struct evbuffer *in, void *arg)
{
	struct httpd_conn *c = arg;
	struct timeval idle = {HTTPD_IDLE_TIMEOUT_S, 0};
	struct evbuffer *out;

	event_add(c->idle, &idle);
	out = evbuffer_new();
	if (out == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	/* Nothing more is read from a client we are streaming to. */
	while (!c->closing && c->stream == NULL && evbuffer_get_length(in) > 0) {
		size_t len = evbuffer_get_length(in), consumed = 0;
		struct http_request req;
		enum http_parse_status status;
		int error_status = 400;
		char err[160];
		struct httpd_exchange ex = {.peer = c->peer, .out = out, .conn = c};
		char *scratch;
		double started;

		scratch = malloc(len + 1);
		if (scratch == NULL) {
			conn_close(c, "out of memory");
			break;
		}
		evbuffer_copyout(in, scratch, len);
		scratch[len] = '\0';
		status = http_parse_request(scratch, len, HTTP_MAX_BODY_BYTES, &req, &consumed,
					    &error_status, err, sizeof(err));
		if (status == HTTP_PARSE_NEED_MORE) {
			free(scratch);
			break;
		}
		if (status == HTTP_PARSE_ERROR) {
			free(scratch);
			log_info("api %s: bad request: %s", c->peer, err);
			http_write_error(out, error_status, err, NULL, false);
			telemetry_api_request(error_status, 0);
			tls_conn_write(c->tls, evbuffer_pullup(out, -1), evbuffer_get_length(out));
			conn_close(c, "bad request");
			break;
		}
		ex.keep_alive = req.keep_alive;
		started = telemetry_now();
		c->httpd->handler(c->httpd->arg, &req, &ex);
		telemetry_api_request(response_status(out), telemetry_now() - started);
		free(scratch);
		evbuffer_drain(in, consumed);
		tls_conn_write(c->tls, evbuffer_pullup(out, -1), evbuffer_get_length(out));
		evbuffer_drain(out, evbuffer_get_length(out));
		if (!ex.keep_alive && c->stream == NULL)
			conn_close(c, "request done");
	}
	evbuffer_free(out);
}

static void conn_on_close(struct tls_conn *tls, const char *reason, void *arg)
{
	struct httpd_conn *c = arg;
	struct httpd *httpd = c->httpd;

	log_debug("api %s: closed: %s", c->peer, reason);
	conn_drop_stream(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		httpd->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->idle);
	free(c);
}

static const struct tls_conn_callbacks httpd_tls_callbacks = {
	.on_read = conn_on_read,
	.on_close = conn_on_close,
};

static void httpd_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			    int salen, void *arg)
{
	struct httpd *httpd = arg;
	struct httpd_conn *c = calloc(1, sizeof(*c));
	struct timeval idle = {HTTPD_IDLE_TIMEOUT_S, 0};

	if (c == NULL) {
		close(fd);
		return;
	}
	c->httpd = httpd;
	netaddr_format(sa, c->peer, sizeof(c->peer));
	c->idle = event_new(httpd->base, -1, 0, conn_on_idle, c);
	if (c->idle == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->tls = tls_conn_new(httpd->base, fd, httpd->tls, true, NULL, HTTPD_HANDSHAKE_TIMEOUT_MS,
			      &httpd_tls_callbacks, c);
	if (c->tls == NULL) {
		event_free(c->idle);
		free(c);
		return;
	}
	tls_conn_set_peer_name(c->tls, c->peer);
	event_add(c->idle, &idle);
	c->next = httpd->conns;
	if (httpd->conns != NULL)
		httpd->conns->prev = c;
	httpd->conns = c;
}

struct httpd *httpd_new(struct event_base *base, struct tls_config *tls,
			httpd_handler_fn handler, void *arg)
{
	struct httpd *httpd = calloc(1, sizeof(*httpd));

	if (httpd == NULL)
		return NULL;
	httpd->base = base;
	httpd->tls = tls;
	httpd->handler = handler;
	httpd->arg = arg;
	return httpd;
}

int httpd_listen(struct httpd *httpd, const char *host, uint16_t port, uint16_t *bound_port,
		 char *err, size_t err_size)
{
	httpd->listener = netaddr_listen(httpd->base, host, port, httpd_on_accept, httpd,
					 bound_port, err, err_size);
	return httpd->listener != NULL ? 0 : -1;
}

void httpd_free(struct httpd *httpd)
{
	if (httpd == NULL)
		return;
	if (httpd->listener != NULL)
		evconnlistener_free(httpd->listener);
	while (httpd->conns != NULL) {
		struct httpd_conn *c = httpd->conns;
		httpd->conns = c->next;
		conn_drop_stream(c);
		tls_conn_free(c->tls);
		event_free(c->idle);
		free(c);
	}
	free(httpd);
}
