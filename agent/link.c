/* link.c — one agent-to-tower connection: dial.c for TCP, tls.c for TLS,
 * proto.c for frames. Owns the connection's lifetime and its one on_close. */
#include "agent/link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "agent/dial.h"
#include "shared/frame.h"
#include "shared/log.h"
#include "shared/netaddr.h"
#include "shared/proto.h"
#include "shared/tls.h"
#include "shared/pki.h"

#define LINK_CONNECT_TIMEOUT_MS 10000
#define LINK_HANDSHAKE_TIMEOUT_MS 10000

struct link {
	struct event_base *base;
	struct tls_config *tls_cfg;
	struct dial *dial;
	struct tls_conn *tls;
	const struct link_callbacks *cb;
	void *arg;
	char host[256];
	uint16_t port;
	bool closing;
	uint8_t *session;       /* offered on the handshake, then dropped */
	size_t session_len;
};

static void link_destroy(struct link *link)
{
	free(link->session);
	free(link);
}

static void link_on_ready(struct tls_conn *tls, void *arg)
{
	struct link *link = arg;

	if (link->cb->on_ready != NULL)
		link->cb->on_ready(link, link->arg);
}

static void link_on_read(struct tls_conn *tls, struct evbuffer *in, void *arg)
{
	struct link *link = arg;
	char err[256];
	struct msg m;
	int r;

	while (!link->closing && (r = proto_read(in, FRAME_MAX_DEFAULT, &m, err, sizeof(err))) != 0) {
		if (r < 0) {
			log_warn("tower %s:%u: %s, closing", link->host, link->port, err);
			link_close(link, err);
			return;
		}
		link->cb->on_msg(link, &m, link->arg);
		msg_clear(&m);
	}
}

static void link_on_tls_close(struct tls_conn *tls, const char *reason, void *arg)
{
	struct link *link = arg;

	link->tls = NULL;
	link->cb->on_close(link, reason, link->arg);
	link_destroy(link);
}

static void link_on_drained(struct tls_conn *tls, void *arg)
{
	struct link *link = arg;

	if (link->cb->on_drained != NULL)
		link->cb->on_drained(link, link->arg);
}

static const struct tls_conn_callbacks link_tls_callbacks = {
	.on_ready = link_on_ready,
	.on_drained = link_on_drained,
	.on_read = link_on_read,
	.on_close = link_on_tls_close,
};

static void link_on_dialed(int fd, const char *err, void *arg)
{
	struct link *link = arg;

	link->dial = NULL;
	if (fd < 0) {
		link->cb->on_close(link, err, link->arg);
		link_destroy(link);
		return;
	}
	link->tls = tls_conn_new(link->base, fd, link->tls_cfg, false, PKI_TOWER_NAME,
				 LINK_HANDSHAKE_TIMEOUT_MS, &link_tls_callbacks, link);
	if (link->tls == NULL) {
		link->cb->on_close(link, "cannot set up tls", link->arg);
		link_destroy(link);
		return;
	}
	/* A session the tower no longer knows just means a full handshake. */
	if (link->session != NULL &&
	    tls_conn_offer_session(link->tls, link->session, link->session_len) != 0)
		log_warn("tower %s:%u: saved tls session unusable, ignored", link->host, link->port);
	free(link->session);
	link->session = NULL;
}

struct link *link_open(struct event_base *base, struct evdns_base *dns, const char *host,
		       uint16_t port, struct tls_config *tls, const struct link_callbacks *cb,
		       void *arg)
{
	struct link *link = calloc(1, sizeof(*link));

	if (link == NULL)
		return NULL;
	link->base = base;
	link->tls_cfg = tls;
	link->cb = cb;
	link->arg = arg;
	link->port = port;
	snprintf(link->host, sizeof(link->host), "%s", host);
	link->dial = dial_start(base, dns, host, port, LINK_CONNECT_TIMEOUT_MS, link_on_dialed, link);
	if (link->dial == NULL) {
		free(link);
		return NULL;
	}
	return link;
}

int link_offer_session(struct link *link, const uint8_t *data, size_t len)
{
	if (link->tls != NULL || len == 0)
		return -1;
	free(link->session);
	link->session = malloc(len);
	if (link->session == NULL)
		return -1;
	memcpy(link->session, data, len);
	link->session_len = len;
	return 0;
}

uint8_t *link_save_session(struct link *link, size_t *len)
{
	return link->tls != NULL ? tls_conn_save_session(link->tls, len) : NULL;
}

uint8_t *link_save_session_with_ticket(struct link *link, const uint8_t *ticket,
				       size_t ticket_len, uint32_t lifetime, size_t *len)
{
	return link->tls != NULL ? tls_conn_save_session_with_ticket(link->tls, ticket, ticket_len,
								     lifetime, len)
				 : NULL;
}

int link_send(struct link *link, const struct msg *m)
{
	if (link->tls == NULL || link->closing)
		return -1;
	return proto_send(link->tls, m);
}

void link_rebind(struct link *link, const struct link_callbacks *cb, void *arg)
{
	link->cb = cb;
	link->arg = arg;
}

void link_close(struct link *link, const char *reason)
{
	if (link->closing || link->tls == NULL)
		return;
	link->closing = true;
	tls_conn_close_after_flush(link->tls, reason);
}

void link_free(struct link *link)
{
	if (link == NULL)
		return;
	dial_cancel(link->dial);
	tls_conn_free(link->tls);
	link_destroy(link);
}

const mbedtls_x509_crt *link_peer_cert(struct link *link)
{
	return link->tls ? tls_conn_peer_cert(link->tls) : NULL;
}

int link_send_frame(struct link *link, const uint8_t *frame, size_t len)
{
	if (link->tls == NULL || link->closing)
		return -1;
	return tls_conn_write(link->tls, frame, len);
}

size_t link_pending(struct link *link)
{
	return link->tls ? tls_conn_pending(link->tls) : 0;
}

int link_local_ip(struct link *link, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[96], *colon;

	if (link->tls == NULL ||
	    getsockname(tls_conn_fd(link->tls), (struct sockaddr *)&ss, &len) != 0)
		return -1;
	netaddr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	/* strip ":port" and the brackets of "[v6]" */
	colon = strrchr(buf, ':');
	if (colon != NULL)
		*colon = '\0';
	if (buf[0] == '[') {
		buf[strlen(buf) - 1] = '\0';
		snprintf(out, size, "%s", buf + 1);
	} else {
		snprintf(out, size, "%s", buf);
	}
	return 0;
}
