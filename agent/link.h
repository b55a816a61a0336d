/* link.h — the agent's connection to the tower: dial, TLS, and whole
 * decoded messages in and out. One link per connection attempt. */
#ifndef OC_LINK_H
#define OC_LINK_H

#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "shared/msg.h"

struct event_base;
struct evdns_base;
struct tls_config;
struct link;

struct link_callbacks {
	void (*on_ready)(struct link *link, void *arg);
	/* m is cleared after the callback returns. */
	void (*on_msg)(struct link *link, const struct msg *m, void *arg);
	/* Called exactly once; the link is freed right after. */
	void (*on_close)(struct link *link, const char *reason, void *arg);
};

/* The tls config is borrowed and must outlive the link. Returns NULL when
 * it cannot start (then no callback runs). */
struct link *link_open(struct event_base *base, struct evdns_base *dns, const char *host,
		       uint16_t port, struct tls_config *tls, const struct link_callbacks *cb,
		       void *arg);
int link_send(struct link *link, const struct msg *m);
/* Flushes what is queued, then closes; on_close follows. */
void link_close(struct link *link, const char *reason);
/* Frees without calling on_close (for shutdown). */
void link_free(struct link *link);
const mbedtls_x509_crt *link_peer_cert(struct link *link);

#endif
