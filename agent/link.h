/* link.h — the agent's connection to the tower: dial, TLS, and whole
 * decoded messages in and out. One link per connection attempt. */
#ifndef OC_LINK_H
#define OC_LINK_H

#include <stddef.h>
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
	/* What was queued has gone out (see link_pending); optional. */
	void (*on_drained)(struct link *link, void *arg);
};

/* The tls config is borrowed and must outlive the link. Returns NULL when
 * it cannot start (then no callback runs). */
struct link *link_open(struct event_base *base, struct evdns_base *dns, const char *host,
		       uint16_t port, struct tls_config *tls, const struct link_callbacks *cb,
		       void *arg);
/* Before the connection is up: offer this saved TLS session (copied) for
 * resumption. 0 or -1. */
int link_offer_session(struct link *link, const uint8_t *data, size_t len);
/* Once ready: the TLS session, serialized (heap, caller frees), or NULL. */
uint8_t *link_save_session(struct link *link, size_t *len);
/* The same carrying ticket, which the tower bound to the node's new
 * certificate at enrollment: the next connection resumes as the node. */
uint8_t *link_save_session_with_ticket(struct link *link, const uint8_t *ticket,
				       size_t ticket_len, uint32_t lifetime, size_t *len);
int link_send(struct link *link, const struct msg *m);
/* Queues an already encoded frame (header included). */
int link_send_frame(struct link *link, const uint8_t *frame, size_t len);
/* Bytes queued and not yet handed to the kernel. */
size_t link_pending(struct link *link);
/* This side's address of the connection ("10.0.0.5"), into out. 0 or -1. */
int link_local_ip(struct link *link, char *out, size_t size);
/* From now on cb and arg get what happens on the link (the connection
 * carries on with another owner, as an enrollment becomes the session). */
void link_rebind(struct link *link, const struct link_callbacks *cb, void *arg);
/* Flushes what is queued, then closes; on_close follows. */
void link_close(struct link *link, const char *reason);
/* Frees without calling on_close (for shutdown). */
void link_free(struct link *link);
const mbedtls_x509_crt *link_peer_cert(struct link *link);

#endif
