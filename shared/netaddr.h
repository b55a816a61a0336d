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
/* Listens on host (an IP literal) and port; *bound_port gets the real port.
 * Returns NULL with a reason in err. */
struct evconnlistener *netaddr_listen(struct event_base *base, const char *host, uint16_t port,
				      evconnlistener_cb cb, void *arg, uint16_t *bound_port,
				      char *err, size_t err_size);

#endif
