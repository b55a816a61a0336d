/* dial.c — asynchronous name resolution (evdns) and TCP connect with a
 * deadline; tries each resolved address in turn. Hands over a plain fd. */
#include "agent/dial.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

struct dial {
	struct event_base *base;
	struct evdns_base *dns;
	struct evdns_getaddrinfo_request *dns_req;
	struct evutil_addrinfo *addrs, *next;
	struct event *ev_connect;
	struct event *ev_deadline;
	struct event *ev_start;
	int fd;
	/* evdns answers literals and cached names from inside the call. */
	bool in_start, sync_done;
	int sync_result;
	struct evutil_addrinfo *sync_res;
	dial_done_fn done;
	void *arg;
	char host[256];
	uint16_t port;
	char last_err[160];
};

static void dial_free(struct dial *d)
{
	if (d->dns_req != NULL)
		evdns_getaddrinfo_cancel(d->dns_req);
	if (d->addrs != NULL)
		evutil_freeaddrinfo(d->addrs);
	if (d->ev_connect != NULL)
		event_free(d->ev_connect);
	if (d->ev_deadline != NULL)
		event_free(d->ev_deadline);
	if (d->ev_start != NULL)
		event_free(d->ev_start);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

static void dial_finish(struct dial *d, int fd, const char *err)
{
	dial_done_fn done = d->done;
	void *arg = d->arg;
	char msg[sizeof(d->last_err) + 300];

	if (fd < 0)
		snprintf(msg, sizeof(msg), "%s port %u: %s", d->host, d->port, err);
	d->fd = fd < 0 ? d->fd : -1;
	dial_free(d);
	done(fd, fd < 0 ? msg : NULL, arg);
}

static void dial_try_next(struct dial *d);

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
	struct dial *d = arg;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	int one = 1;

	if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr != 0) {
		snprintf(d->last_err, sizeof(d->last_err), "%s", strerror(soerr));
		close(d->fd);
		d->fd = -1;
		dial_try_next(d);
		return;
	}
	setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	event_del(d->ev_deadline);
	dial_finish(d, d->fd, NULL);
}

static void dial_try_next(struct dial *d)
{
	while (d->next != NULL) {
		struct evutil_addrinfo *ai = d->next;
		d->next = ai->ai_next;
		d->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (d->fd < 0) {
			snprintf(d->last_err, sizeof(d->last_err), "socket: %s", strerror(errno));
			continue;
		}
		if (connect(d->fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			if (d->ev_connect != NULL)
				event_free(d->ev_connect);
			d->ev_connect = event_new(d->base, d->fd, EV_WRITE, on_connect, d);
			if (d->ev_connect != NULL && event_add(d->ev_connect, NULL) == 0)
				return;
		}
		snprintf(d->last_err, sizeof(d->last_err), "%s", strerror(errno));
		close(d->fd);
		d->fd = -1;
	}
	dial_finish(d, -1, d->last_err[0] ? d->last_err : "no address to connect to");
}

static void resolved(struct dial *d, int result, struct evutil_addrinfo *res)
{
	if (result != 0) {
		dial_finish(d, -1, evutil_gai_strerror(result));
		return;
	}
	d->addrs = d->next = res;
	dial_try_next(d);
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct dial *d = arg;

	d->dns_req = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return;
	if (d->in_start) {
		d->sync_done = true;
		d->sync_result = result;
		d->sync_res = res;
		return;
	}
	resolved(d, result, res);
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
	struct dial *d = arg;
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;
	char service[8];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(service, sizeof(service), "%u", d->port);
	d->in_start = true;
	req = evdns_getaddrinfo(d->dns, d->host, service, &hints, on_resolved, d);
	d->in_start = false;
	if (d->sync_done)
		resolved(d, d->sync_result, d->sync_res);
	else
		d->dns_req = req;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct dial *d = arg;

	dial_finish(d, -1, "timed out");
}

struct dial *dial_start(struct event_base *base, struct evdns_base *dns, const char *host,
			uint16_t port, int timeout_ms, dial_done_fn done, void *arg)
{
	struct dial *d = calloc(1, sizeof(*d));
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	if (d == NULL)
		return NULL;
	d->base = base;
	d->dns = dns;
	d->fd = -1;
	d->done = done;
	d->arg = arg;
	d->port = port;
	snprintf(d->host, sizeof(d->host), "%s", host);
	d->ev_deadline = event_new(base, -1, 0, on_deadline, d);
	d->ev_start = event_new(base, -1, 0, on_start, d);
	if (d->ev_deadline == NULL || d->ev_start == NULL) {
		dial_free(d);
		return NULL;
	}
	event_add(d->ev_deadline, &tv);
	event_active(d->ev_start, EV_TIMEOUT, 0);
	return d;
}

void dial_cancel(struct dial *d)
{
	if (d != NULL)
		dial_free(d);
}
