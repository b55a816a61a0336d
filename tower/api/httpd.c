/* httpd.c — serves HTTP/1.1 over TLS for the tower's API: accepts, frames
 * requests with http.c, hands them to one handler, writes the replies, and
 * bounds what one client can hold: unsent output, time, connections. */
#include "tower/api/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "shared/log.h"
#include "shared/lograte.h"
#include "shared/netaddr.h"
#include "shared/tls.h"
#include "tower/api/http.h"
#include "tower/metrics/telemetry.h"

#define HTTPD_HANDSHAKE_TIMEOUT_MS 10000
/* A file body is read this much at a time, and refilled below twice that. */
#define HTTPD_FILE_CHUNK (64 * 1024)

struct httpd_stream {
	struct httpd_conn *conn;
	void (*on_gone)(void *arg);
	void (*on_drained)(void *arg);
	void *arg;
};

struct httpd_conn {
	struct httpd *httpd;
	struct tls_conn *tls;
	struct evbuffer *in;           /* the tls input, known from the first read */
	struct event *deadline;        /* the request deadline, or keep-alive idle */
	struct event *stall;           /* armed while output waits to drain */
	struct httpd_stream *stream;   /* a response still going on */
	int body_fd;                   /* a file body still being sent, or -1 */
	uint64_t body_left;
	bool close_after_body;
	bool in_request;               /* a request has begun: its deadline runs */
	bool held;                     /* not reading until the output drains */
	bool waiting_drain;            /* the stall timer runs */
	char peer[96];
	char host[64];                 /* the address alone, for the per-address cap */
	bool closing;
	struct httpd_conn *prev, *next;
};

struct httpd {
	struct event_base *base;
	struct tls_config *tls;
	struct netaddr_listener *listener;
	httpd_handler_fn handler;
	void *arg;
	struct httpd_conn *conns;
	size_t conn_count;
	/* What a client can make us log, one line per interval with a count. */
	struct lograte rate_tls, rate_refused, rate_deadline, rate_stall, rate_bad;
};

static void conn_process(struct httpd_conn *c);

static void conn_close(struct httpd_conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	event_del(c->deadline);
	event_del(c->stall);
	tls_conn_close_after_flush(c->tls, why);
}

static void arm(struct event *ev, int seconds)
{
	struct timeval tv = {seconds, 0};

	event_add(ev, &tv);
}

static void conn_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	uint64_t suppressed;

	/* A stream or a file body is quiet or waits on the stall timer. */
	if (c->stream != NULL || c->body_fd >= 0 || c->held)
		return;
	if (!c->in_request) {
		conn_close(c, "idle");
		return;
	}
	if (lograte_allow(&c->httpd->rate_deadline, &suppressed))
		log_warn("api %s: request not complete within %d s, closing (%llu more such in "
			 "the last %d s)", c->peer, HTTPD_REQUEST_TIMEOUT_S,
			 (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
	conn_close(c, "request deadline");
}

static void conn_on_stall(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	uint64_t suppressed;

	if (lograte_allow(&c->httpd->rate_stall, &suppressed))
		log_warn("api %s: client stopped reading (%zu bytes unsent for %d s), closing "
			 "(%llu more such in the last %d s)", c->peer, tls_conn_pending(c->tls),
			 HTTPD_STALL_TIMEOUT_S, (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
	c->waiting_drain = false;
	conn_close(c, "client not reading");
}

/* Output is waiting: the stall timer runs from now, not from each write. */
static void conn_wait_drain(struct httpd_conn *c)
{
	if (c->waiting_drain || c->closing)
		return;
	c->waiting_drain = true;
	arm(c->stall, HTTPD_STALL_TIMEOUT_S);
}

/* No request is read while the answers wait: TCP holds the client back. */
static void conn_hold(struct httpd_conn *c)
{
	if (!c->held) {
		c->held = true;
		tls_conn_set_reading(c->tls, false);
	}
	event_del(c->deadline);
	conn_wait_drain(c);
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

static void conn_end_body(struct httpd_conn *c)
{
	if (c->body_fd >= 0)
		close(c->body_fd);
	c->body_fd = -1;
	c->body_left = 0;
}

/* Tops up the output from the file body; false when the connection closed. */
static bool conn_send_body(struct httpd_conn *c)
{
	char buf[HTTPD_FILE_CHUNK];

	while (c->body_left > 0 && tls_conn_pending(c->tls) < 2 * HTTPD_FILE_CHUNK) {
		size_t want = c->body_left < sizeof(buf) ? (size_t)c->body_left : sizeof(buf);
		ssize_t n = read(c->body_fd, buf, want);

		if (n <= 0) {
			/* The length was promised: the client must not take a short
			 * file for the whole one. */
			log_warn("api %s: file body ended early: %s", c->peer,
				 n < 0 ? strerror(errno) : "file shrank");
			conn_end_body(c);
			conn_close(c, "file body ended early");
			return false;
		}
		if (tls_conn_write(c->tls, buf, (size_t)n) != 0) {
			conn_end_body(c);
			return false;
		}
		c->body_left -= (uint64_t)n;
	}
	if (c->body_left > 0) {
		conn_hold(c);
		return true;
	}
	conn_end_body(c);
	if (c->close_after_body) {
		conn_close(c, "request done");
		return false;
	}
	return true;
}

static void conn_on_drained(struct tls_conn *tls, void *arg)
{
	struct httpd_conn *c = arg;

	if (c->closing)
		return;
	/* Progress: the stall timer starts again when output waits again. */
	c->waiting_drain = false;
	event_del(c->stall);
	if (c->body_fd >= 0) {
		if (!conn_send_body(c) || c->body_fd >= 0)
			return;
	}
	if (c->stream != NULL) {
		if (c->stream->on_drained != NULL)
			c->stream->on_drained(c->stream->arg);
		return;
	}
	if (c->held) {
		c->held = false;
		tls_conn_set_reading(c->tls, true);
	}
	conn_process(c);
}

struct httpd_stream *httpd_stream_begin(struct httpd_exchange *ex,
					void (*on_gone)(void *arg),
					void (*on_drained)(void *arg), void *arg)
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
	s->on_drained = on_drained;
	s->arg = arg;
	c->stream = s;
	event_del(c->deadline);
	/* The response head goes out before anything streamed after it. */
	tls_conn_write(c->tls, evbuffer_pullup(ex->out, -1), evbuffer_get_length(ex->out));
	evbuffer_drain(ex->out, evbuffer_get_length(ex->out));
	return s;
}

int httpd_stream_write(struct httpd_stream *s, const void *data, size_t len)
{
	struct httpd_conn *c = s->conn;
	size_t pending;

	if (c->closing || tls_conn_write(c->tls, data, len) != 0)
		return -1;
	pending = tls_conn_pending(c->tls);
	if (pending > HTTPD_OUTPUT_HARD_CAP) {
		uint64_t suppressed;

		if (lograte_allow(&c->httpd->rate_stall, &suppressed))
			log_warn("api %s: event stream over %d bytes unsent, closing (%llu more such "
				 "in the last %d s)", c->peer, HTTPD_OUTPUT_HARD_CAP,
				 (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
		conn_close(c, "event stream over its output cap");
		return -1;
	}
	if (pending > HTTPD_OUTPUT_CAP) {
		conn_wait_drain(c);
		return 1;
	}
	return 0;
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

/* Answers the complete requests buffered in c->in, in order, while the
 * output has room. Parses from a scratch copy: the parser writes into its
 * buffer, and an incomplete request must be parsed again from pristine
 * bytes. */
static void conn_process(struct httpd_conn *c)
{
	struct evbuffer *in = c->in, *out;

	if (in == NULL)
		return;
	out = evbuffer_new();
	if (out == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	while (!c->closing && c->stream == NULL && c->body_fd < 0 && evbuffer_get_length(in) > 0) {
		size_t len = evbuffer_get_length(in), consumed = 0;
		struct http_request req;
		enum http_parse_status status;
		int error_status = 400;
		char err[160];
		struct httpd_exchange ex = {.peer = c->peer, .out = out, .conn = c, .body_fd = -1};
		char *scratch;
		double started;

		if (tls_conn_pending(c->tls) > HTTPD_OUTPUT_CAP) {
			conn_hold(c);
			break;
		}
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
			/* The deadline runs from the request's first byte. */
			if (!c->in_request) {
				c->in_request = true;
				arm(c->deadline, HTTPD_REQUEST_TIMEOUT_S);
			}
			break;
		}
		if (status == HTTP_PARSE_ERROR) {
			uint64_t suppressed;

			free(scratch);
			if (lograte_allow(&c->httpd->rate_bad, &suppressed))
				log_info("api %s: bad request: %s (%llu more in the last %d s)", c->peer,
					 err, (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
			http_write_error(out, error_status, err, NULL, false);
			telemetry_api_request(error_status, 0);
			tls_conn_write(c->tls, evbuffer_pullup(out, -1), evbuffer_get_length(out));
			conn_close(c, "bad request");
			break;
		}
		c->in_request = false;
		ex.keep_alive = req.keep_alive;
		started = telemetry_now();
		c->httpd->handler(c->httpd->arg, &req, &ex);
		telemetry_api_request(response_status(out), telemetry_now() - started);
		free(scratch);
		evbuffer_drain(in, consumed);
		tls_conn_write(c->tls, evbuffer_pullup(out, -1), evbuffer_get_length(out));
		evbuffer_drain(out, evbuffer_get_length(out));
		if (ex.body_fd >= 0) {
			c->body_fd = ex.body_fd;
			c->body_left = ex.body_len;
			c->close_after_body = !ex.keep_alive;
			if (!conn_send_body(c))
				break;
			continue;
		}
		if (!ex.keep_alive && c->stream == NULL)
			conn_close(c, "request done");
	}
	evbuffer_free(out);
	if (c->closing)
		return;
	if (c->stream != NULL) {
		/* Nothing more is read from a client we are streaming to. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->body_fd >= 0 || c->held)
		return;
	if (tls_conn_pending(c->tls) > HTTPD_OUTPUT_CAP) {
		conn_hold(c);
		return;
	}
	if (evbuffer_get_length(in) == 0 && c->in_request == false) {
		/* Between requests: keep-alive idle. */
		arm(c->deadline, HTTPD_IDLE_TIMEOUT_S);
	}
}

static void conn_on_read(struct tls_conn *tls, struct evbuffer *in, void *arg)
{
	struct httpd_conn *c = arg;

	c->in = in;
	if (c->closing)
		return;
	if (c->stream != NULL) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	/* Read before the pause took effect: it waits for the drain. */
	if (c->held || c->body_fd >= 0)
		return;
	conn_process(c);
}

static bool reason_is_tls(const char *reason)
{
	return strncmp(reason, "tls ", 4) == 0 || strstr(reason, "during tls handshake") != NULL;
}

static void conn_on_close(struct tls_conn *tls, const char *reason, void *arg)
{
	struct httpd_conn *c = arg;
	struct httpd *httpd = c->httpd;
	uint64_t suppressed;

	if (reason_is_tls(reason)) {
		if (lograte_allow(&httpd->rate_tls, &suppressed))
			log_warn("api %s: %s (%llu more tls failures on the api port in the last %d s)",
				 c->peer, reason, (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
	} else {
		log_debug("api %s: closed: %s", c->peer, reason);
	}
	conn_drop_stream(c);
	conn_end_body(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		httpd->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	httpd->conn_count--;
	event_free(c->deadline);
	event_free(c->stall);
	free(c);
}

static const struct tls_conn_callbacks httpd_tls_callbacks = {
	.on_read = conn_on_read,
	.on_drained = conn_on_drained,
	.on_close = conn_on_close,
};

/* A quarter of the fd limit at most: agents need the rest. */
static size_t httpd_max_conns(void)
{
	struct rlimit rl;
	size_t max = HTTPD_MAX_CONNS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < max)
		max = rl.rlim_cur / 4 > 4 ? (size_t)(rl.rlim_cur / 4) : 4;
	return max;
}

/* Over a cap the connection is closed before any TLS work is spent on it. */
static bool httpd_refuse(struct httpd *httpd, const char *host, const char *peer)
{
	size_t same = 0, max = httpd_max_conns();
	uint64_t suppressed;
	const char *why = NULL;

	for (struct httpd_conn *c = httpd->conns; c != NULL; c = c->next)
		if (strcmp(c->host, host) == 0)
			same++;
	if (httpd->conn_count >= max)
		why = "api connections at their cap";
	else if (same >= HTTPD_MAX_CONNS_PER_ADDR)
		why = "api connections from this address at their cap";
	if (why == NULL)
		return false;
	if (lograte_allow(&httpd->rate_refused, &suppressed))
		log_warn("api %s: refused: %s (%zu in all, cap %zu; %zu from %s, cap %d; %llu more "
			 "refused in the last %d s)", peer, why, httpd->conn_count, max, same, host,
			 HTTPD_MAX_CONNS_PER_ADDR, (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
	return true;
}

static void httpd_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			    int salen, void *arg)
{
	struct httpd *httpd = arg;
	struct httpd_conn *c;
	char host[64], peer[96];

	netaddr_format_host(sa, host, sizeof(host));
	netaddr_format(sa, peer, sizeof(peer));
	if (httpd_refuse(httpd, host, peer)) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->httpd = httpd;
	c->body_fd = -1;
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->deadline = event_new(httpd->base, -1, 0, conn_on_deadline, c);
	c->stall = event_new(httpd->base, -1, 0, conn_on_stall, c);
	if (c->deadline == NULL || c->stall == NULL) {
		if (c->deadline != NULL)
			event_free(c->deadline);
		if (c->stall != NULL)
			event_free(c->stall);
		close(fd);
		free(c);
		return;
	}
	c->tls = tls_conn_new(httpd->base, fd, httpd->tls, true, NULL, HTTPD_HANDSHAKE_TIMEOUT_MS,
			      &httpd_tls_callbacks, c);
	if (c->tls == NULL) {
		event_free(c->deadline);
		event_free(c->stall);
		free(c);
		return;
	}
	tls_conn_set_peer_name(c->tls, c->peer);
	/* The first request's deadline runs from the accept. */
	c->in_request = true;
	arm(c->deadline, HTTPD_REQUEST_TIMEOUT_S);
	c->next = httpd->conns;
	if (httpd->conns != NULL)
		httpd->conns->prev = c;
	httpd->conns = c;
	httpd->conn_count++;
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
	httpd->listener = netaddr_listen(httpd->base, host, port, "api", httpd_on_accept, httpd,
					 bound_port, err, err_size);
	return httpd->listener != NULL ? 0 : -1;
}

void httpd_free(struct httpd *httpd)
{
	if (httpd == NULL)
		return;
	netaddr_listener_free(httpd->listener);
	while (httpd->conns != NULL) {
		struct httpd_conn *c = httpd->conns;
		httpd->conns = c->next;
		conn_drop_stream(c);
		conn_end_body(c);
		tls_conn_free(c->tls);
		event_free(c->deadline);
		event_free(c->stall);
		free(c);
	}
	free(httpd);
}
