/* netaddr.h — socket address helpers: printing a peer for log lines and
 * binding a libevent listener on "host" + port (port 0 picks a free one). */
#ifndef OC_NETADDR_H
#define OC_NETADDR_H

#include <stddef.h>
#include <stdint.h>

#include <event2/listener.h>

struct sockaddr;
struct event_base;

/* "1.2.3.4:56" or "[::1]:56". */
void netaddr_format(const struct sockaddr *sa, char *out, size_t size);
/* The address alone: "1.2.3.4" or "::1" ("unknown" for other families). */
void netaddr_format_host(const struct sockaddr *sa, char *out, size_t size);
struct netaddr_listener;

/* Listens on host (an IP literal) and port; *bound_port gets the real port;
 * cb gets each accepted socket with arg. what names the listener in log
 * lines ("api", "agent"). Out of file descriptors (EMFILE, ENFILE) or any
 * other accept error, the listener accepts the waiting connection on a
 * reserve fd and closes it, stops accepting for a back-off (0.1 s doubling
 * to 2 s, reset by the next accept that works), and logs one line per
 * 10 s with a count: it never spins on accept. Returns NULL with a reason
 * in err. */
struct netaddr_listener *netaddr_listen(struct event_base *base, const char *host,
					uint16_t port, const char *what, evconnlistener_cb cb,
					void *arg, uint16_t *bound_port, char *err,
					size_t err_size);
void netaddr_listener_free(struct netaddr_listener *l);

#endif
