/* netaddr.c — socket address helpers shared by the tower's listeners.
 * Owns address parsing/printing and listeners (set-up, back-off at the fd
 * limit), nothing per connection. */
#include "shared/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "shared/log.h"
#include "shared/lograte.h"

void netaddr_format_host(const struct sockaddr *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
	else
		snprintf(host, sizeof(host), "unknown");
	snprintf(out, size, "%s", host);
}

void netaddr_format(const struct sockaddr *sa, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN + 8];

	netaddr_format_host(sa, host, sizeof(host));
	if (sa->sa_family == AF_INET)
		snprintf(out, size, "%s:%u", host, ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else if (sa->sa_family == AF_INET6)
		snprintf(out, size, "[%s]:%u", host, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	else
		snprintf(out, size, "%s", host);
}

#define LISTEN_BACKOFF_MIN_MS 100
#define LISTEN_BACKOFF_MAX_MS 2000

struct netaddr_listener {
	struct evconnlistener *lev;
	struct event *resume;      /* ends a back-off */
	evconnlistener_cb cb;
	void *arg;
	int reserve_fd;            /* given up for one accept-and-close */
	int backoff_ms;            /* 0: not backing off since the last accept */
	struct lograte rate;
	char what[16];
};

static void listener_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
			       struct sockaddr *sa, int salen, void *arg)
{
	struct netaddr_listener *l = arg;

	l->backoff_ms = 0;
	l->cb(lev, fd, sa, salen, l->arg);
}

static void listener_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct netaddr_listener *l = arg;

	evconnlistener_enable(l->lev);
}

/* libevent calls this once per failed accept and, unless the listener is
 * disabled, again on the next loop turn: at the fd limit that was a busy
 * loop writing a warning per turn. */
static void listener_on_error(struct evconnlistener *lev, void *arg)
{
	struct netaddr_listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	uint64_t suppressed = 0;
	struct timeval tv;

	if (err == EMFILE || err == ENFILE) {
		/* The client waiting in the backlog learns at once, rather than
		 * when its own timeout runs out. */
		if (l->reserve_fd >= 0) {
			close(l->reserve_fd);
			l->reserve_fd = -1;
		}
		int fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
		if (fd >= 0)
			close(fd);
		l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	l->backoff_ms = l->backoff_ms == 0 ? LISTEN_BACKOFF_MIN_MS : l->backoff_ms * 2;
	if (l->backoff_ms > LISTEN_BACKOFF_MAX_MS)
		l->backoff_ms = LISTEN_BACKOFF_MAX_MS;
	if (lograte_allow(&l->rate, &suppressed))
		log_warn("%s listener: cannot accept: %s; pausing accepts for %d ms (%llu more "
			 "such errors in the last %d s)",
			 l->what, strerror(err), l->backoff_ms, (unsigned long long)suppressed,
			 LOGRATE_DEFAULT_S);
	evconnlistener_disable(lev);
	tv.tv_sec = l->backoff_ms / 1000;
	tv.tv_usec = (l->backoff_ms % 1000) * 1000;
	event_add(l->resume, &tv);
}

struct netaddr_listener *netaddr_listen(struct event_base *base, const char *host,
					uint16_t port, const char *what, evconnlistener_cb cb,
					void *arg, uint16_t *bound_port, char *err,
					size_t err_size)
{
	struct netaddr_listener *l;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int salen = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(host, (struct sockaddr *)&ss, &salen) != 0) {
		snprintf(err, err_size, "bad listen address \"%s\" (want an IP address)", host);
		return NULL;
	}
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	l->cb = cb;
	l->arg = arg;
	snprintf(l->what, sizeof(l->what), "%s", what);
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	l->resume = event_new(base, -1, 0, listener_on_resume, l);
	if (l->reserve_fd < 0 || l->resume == NULL) {
		snprintf(err, err_size, "cannot set up the %s listener: %s", what, strerror(errno));
		netaddr_listener_free(l);
		return NULL;
	}
	l->lev = evconnlistener_new_bind(base, listener_on_accept, l,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						 LEV_OPT_CLOSE_ON_EXEC,
					 1024, (struct sockaddr *)&ss, salen);
	if (l->lev == NULL) {
		snprintf(err, err_size, "cannot listen on %s port %u: %s", host, port, strerror(errno));
		netaddr_listener_free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->lev, listener_on_error);
	if (getsockname(evconnlistener_get_fd(l->lev), (struct sockaddr *)&ss, &len) == 0)
		*bound_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return l;
}

void netaddr_listener_free(struct netaddr_listener *l)
{
	if (l == NULL)
		return;
	if (l->lev != NULL)
		evconnlistener_free(l->lev);
	if (l->resume != NULL)
		event_free(l->resume);
	if (l->reserve_fd >= 0)
		close(l->reserve_fd);
	free(l);
}
