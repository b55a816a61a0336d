/* netaddr.c — socket address helpers shared by the tower's listeners.
 * Owns address parsing/printing and listener set-up, nothing per connection. */
#include "shared/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

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

struct evconnlistener *netaddr_listen(struct event_base *base, const char *host, uint16_t port,
				      evconnlistener_cb cb, void *arg, uint16_t *bound_port,
				      char *err, size_t err_size)
{
	struct evconnlistener *l;
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
	l = evconnlistener_new_bind(base, cb, arg,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
				    1024, (struct sockaddr *)&ss, salen);
	if (l == NULL) {
		snprintf(err, err_size, "cannot listen on %s port %u: %s", host, port, strerror(errno));
		return NULL;
	}
	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &len) == 0)
		*bound_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return l;
}
