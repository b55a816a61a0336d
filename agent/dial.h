/* dial.h — opens a TCP connection to host:port from the event loop, resolving
 * names with libevent's evdns (no glibc NSS, so the static agent works). */
#ifndef OC_DIAL_H
#define OC_DIAL_H

#include <stdint.h>

struct event_base;
struct evdns_base;
struct dial;

/* fd is a connected non-blocking socket (caller owns it), or -1 with err. */
typedef void (*dial_done_fn)(int fd, const char *err, void *arg);

/* Starts resolving and connecting; done is called exactly once, never from
 * inside dial_start. Returns NULL when it cannot even start. */
struct dial *dial_start(struct event_base *base, struct evdns_base *dns, const char *host,
			uint16_t port, int timeout_ms, dial_done_fn done, void *arg);
/* Stops a dial in progress; done is not called. */
void dial_cancel(struct dial *d);

#endif
