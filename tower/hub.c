/* hub.c — the tower's side of the agent protocol: one TLS connection per
 * agent, enrollment for those without a certificate, hello/heartbeat after. */
#include "tower/hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "shared/frame.h"
#include "shared/log.h"
#include "shared/msg.h"
#include "shared/netaddr.h"
#include "shared/pki.h"
#include "shared/proto.h"
#include "shared/tls.h"
#include "shared/util.h"
#include "tower/ca.h"
#include "tower/enroll.h"
#include "tower/store.h"

#define HUB_HANDSHAKE_TIMEOUT_MS 10000

enum hub_conn_state {
	HUB_CONN_HANDSHAKE,
	HUB_CONN_ENROLL,       /* no client certificate: only "enroll" is accepted */
	HUB_CONN_AWAIT_HELLO,  /* certificate checked, waiting for "hello" */
	HUB_CONN_READY,
	HUB_CONN_CLOSING,
};

struct hub_conn {
	struct hub *hub;
	struct tls_conn *tls;
	struct event *idle;
	enum hub_conn_state state;
	bool ready;            /* counted in hub->ready_count */
	char node_id[STORE_ID_MAX];
	char peer[96];
	struct hub_conn *prev, *next;
};

struct hub {
	struct event_base *base;
	struct store *store;
	struct ca *ca;
	struct tls_config *tls;
	struct evconnlistener *listener;
	struct hub_conn *conns;
	size_t ready_count;
	int heartbeat_s;
	int64_t cert_validity_s;
	const struct hub_events *events;
	void *events_arg;
};

static void conn_set_unready(struct hub_conn *c)
{
	if (!c->ready)
		return;
	c->ready = false;
	c->hub->ready_count--;
	store_node_touch(c->hub->store, c->node_id, util_now());
}

static void conn_close(struct hub_conn *c, const char *why)
{
	conn_set_unready(c);
	if (c->state == HUB_CONN_CLOSING)
		return;
	c->state = HUB_CONN_CLOSING;
	tls_conn_close_after_flush(c->tls, why);
}

/* Tells the agent why before closing, so it can print the reason. */
static void conn_refuse(struct hub_conn *c, const char *reason)
{
	struct msg m = {.type = MSG_ERROR};

	m.u.error.reason = (char *)reason;
	proto_send(c->tls, &m);
	conn_close(c, reason);
}

static void conn_arm_idle(struct hub_conn *c)
{
	/* Three missed heartbeats and the agent is gone. */
	struct timeval tv = {c->hub->heartbeat_s * 3 + 5, 0};

	if (c->state == HUB_CONN_ENROLL)
		tv.tv_sec = 30;
	event_add(c->idle, &tv);
}

static void conn_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct hub_conn *c = arg;

	log_warn("agent %s: no message for too long, closing", c->peer);
	conn_close(c, "idle timeout");
}

static void conn_check_cert(struct hub_conn *c)
{
	const mbedtls_x509_crt *crt = tls_conn_peer_cert(c->tls);
	struct store_node node;
	char why[96], cn[STORE_ID_MAX], serial[STORE_ID_MAX];
	uint32_t flags;
	int found;

	if (crt == NULL) {
		c->state = HUB_CONN_ENROLL;
		return;
	}
	flags = tls_conn_verify_result(c->tls);
	if (flags != 0) {
		log_warn("agent %s: rejected: %s", c->peer, tls_verify_reason(flags, why, sizeof(why)));
		conn_refuse(c, why);
		return;
	}
	/* The node id comes from the certificate, never from a message field. */
	if (pki_cert_cn(crt, cn, sizeof(cn)) != 0 ||
	    pki_cert_serial_hex(crt, serial, sizeof(serial)) != 0) {
		log_warn("agent %s: rejected: certificate without a usable subject", c->peer);
		conn_refuse(c, "certificate without a usable subject");
		return;
	}
	found = store_node_get(c->hub->store, cn, &node);
	if (found <= 0) {
		log_warn("agent %s: rejected: node %s unknown", c->peer, cn);
		conn_refuse(c, found < 0 ? "internal error" : "unknown node");
		return;
	}
	if (node.deleted) {
		log_warn("agent %s: rejected: node %s was deleted, its certificate is revoked", c->peer, cn);
		conn_refuse(c, "node deleted: certificate revoked");
		return;
	}
	/* The previous serial stays good until the next renewal: a renewal
	 * lost on its way to the agent must not lock the node out. */
	if (strcmp(node.cert_serial, serial) != 0 &&
	    (node.prev_serial[0] == '\0' || strcmp(node.prev_serial, serial) != 0)) {
		log_warn("agent %s: rejected: node %s certificate %s superseded", c->peer, cn, serial);
		conn_refuse(c, "certificate superseded: revoked");
		return;
	}
	snprintf(c->node_id, sizeof(c->node_id), "%s", cn);
	snprintf(c->peer, sizeof(c->peer), "%s", cn);
	c->state = HUB_CONN_AWAIT_HELLO;
}

static void conn_on_ready(struct tls_conn *tls, void *arg)
{
	struct hub_conn *c = arg;

	conn_check_cert(c);
	if (c->state != HUB_CONN_CLOSING)
		conn_arm_idle(c);
}

static void handle_enroll(struct hub_conn *c, const struct msg_enroll *e)
{
	struct msg reply = {.type = MSG_ENROLLED};
	char node_id[40], err[256];
	char *cert = NULL;

	if (enroll_node(c->hub->store, c->hub->ca, e->token, e->csr, e->hostname, util_now(),
			c->hub->cert_validity_s, node_id, sizeof(node_id), &cert, err, sizeof(err)) != 0) {
		log_warn("agent %s: enrollment refused: %s", c->peer, err);
		conn_refuse(c, err);
		return;
	}
	log_info("agent %s: enrolled as node %s (%s)", c->peer, node_id, e->hostname);
	reply.u.enrolled.node_id = node_id;
	reply.u.enrolled.cert = cert;
	reply.u.enrolled.ca = (char *)ca_cert_pem(c->hub->ca);
	proto_send(c->tls, &reply);
	free(cert);
	conn_close(c, "enrolled");
}

/* Newest connection wins: an agent that reconnects before the tower noticed
 * the old one is gone must not be refused. */
static void drop_older_conns(struct hub_conn *c)
{
	for (struct hub_conn *o = c->hub->conns; o != NULL; o = o->next) {
		if (o != c && o->ready && strcmp(o->node_id, c->node_id) == 0) {
			log_info("agent %s: replaced by a newer connection", o->peer);
			conn_close(o, "replaced by a newer connection");
		}
	}
}

static void handle_hello(struct hub_conn *c, const struct msg_hello *h)
{
	struct msg reply = {.type = MSG_WELCOME};

	if (store_node_update_facts(c->hub->store, c->node_id, h->hostname, h->arch, h->os,
				    h->kernel, (int64_t)h->cpus, (int64_t)h->mem_total,
				    util_now()) != 0) {
		conn_refuse(c, "internal error");
		return;
	}
	drop_older_conns(c);
	c->state = HUB_CONN_READY;
	c->ready = true;
	c->hub->ready_count++;
	log_info("agent %s: connected (%s, %s, %s)", c->peer, h->hostname, h->arch, h->version);
	reply.u.welcome.node_id = c->node_id;
	reply.u.welcome.heartbeat = (uint64_t)c->hub->heartbeat_s;
	reply.u.welcome.time = util_now();
	proto_send(c->tls, &reply);
	if (c->hub->events != NULL && c->hub->events->node_ready != NULL)
		c->hub->events->node_ready(c->hub->events_arg, c->node_id);
}

static bool is_task_msg(enum msg_type type)
{
	return type == MSG_TASK_ACCEPTED || type == MSG_TASK_LOG || type == MSG_TASK_PROGRESS ||
	       type == MSG_TASK_DONE;
}

static void handle_renew(struct hub_conn *c, const struct msg_renew *r)
{
	struct msg reply = {.type = MSG_RENEWED};
	char serial[48], err[256];
	char *cert = NULL;

	if (ca_sign_csr(c->hub->ca, r->csr, strlen(r->csr) + 1, c->node_id, c->hub->cert_validity_s,
			&cert, serial, sizeof(serial), err, sizeof(err)) != 0) {
		log_warn("agent %s: renewal refused: %s", c->peer, err);
		reply.type = MSG_ERROR;
		reply.u.error.reason = err;
		proto_send(c->tls, &reply);
		return;
	}
	if (store_node_set_serial(c->hub->store, c->node_id, serial) != 0) {
		free(cert);
		conn_refuse(c, "internal error");
		return;
	}
	log_info("agent %s: certificate renewed, serial %s", c->peer, serial);
	reply.u.renewed.cert = cert;
	proto_send(c->tls, &reply);
	free(cert);
}

static void conn_handle(struct hub_conn *c, const struct msg *m)
{
	switch (c->state) {
	case HUB_CONN_ENROLL:
		if (m->type == MSG_ENROLL)
			handle_enroll(c, &m->u.enroll);
		else {
			log_warn("agent %s: \"%s\" without a client certificate, closing", c->peer,
				 msg_type_name(m->type));
			conn_refuse(c, "client certificate required");
		}
		return;
	case HUB_CONN_AWAIT_HELLO:
		if (m->type == MSG_HELLO)
			handle_hello(c, &m->u.hello);
		else {
			log_warn("agent %s: \"%s\" before hello, closing", c->peer, msg_type_name(m->type));
			conn_refuse(c, "hello expected");
		}
		return;
	case HUB_CONN_READY:
		if (m->type == MSG_HEARTBEAT) {
			store_node_touch(c->hub->store, c->node_id, util_now());
			return;
		}
		if (m->type == MSG_RENEW) {
			handle_renew(c, &m->u.renew);
			return;
		}
		if (is_task_msg(m->type) && c->hub->events != NULL) {
			c->hub->events->task_msg(c->hub->events_arg, c->node_id, m);
			return;
		}
		log_warn("agent %s: unexpected \"%s\", closing", c->peer, msg_type_name(m->type));
		conn_refuse(c, "unexpected message");
		return;
	default:
		return;
	}
}

static void conn_on_read(struct tls_conn *tls, struct evbuffer *in, void *arg)
{
	struct hub_conn *c = arg;
	char err[256];
	struct msg m;
	int r;

	while (c->state != HUB_CONN_CLOSING &&
	       (r = proto_read(in, FRAME_MAX_DEFAULT, &m, err, sizeof(err))) != 0) {
		if (r < 0) {
			log_warn("agent %s: %s, closing", c->peer, err);
			conn_close(c, err);
			return;
		}
		conn_arm_idle(c);
		conn_handle(c, &m);
		msg_clear(&m);
	}
}

static void conn_on_close(struct tls_conn *tls, const char *reason, void *arg)
{
	struct hub_conn *c = arg;
	struct hub *hub = c->hub;

	if (c->node_id[0] != '\0')
		log_info("agent %s: disconnected: %s", c->peer, reason);
	else
		log_info("agent %s: connection closed: %s", c->peer, reason);
	conn_set_unready(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		hub->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->idle);
	free(c);
}

static const struct tls_conn_callbacks hub_tls_callbacks = {
	.on_ready = conn_on_ready,
	.on_read = conn_on_read,
	.on_close = conn_on_close,
};

static void hub_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	struct hub *hub = arg;
	struct hub_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		close(fd);
		return;
	}
	c->hub = hub;
	netaddr_format(sa, c->peer, sizeof(c->peer));
	c->idle = event_new(hub->base, -1, 0, conn_on_idle, c);
	if (c->idle == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->tls = tls_conn_new(hub->base, fd, hub->tls, true, NULL, HUB_HANDSHAKE_TIMEOUT_MS,
			      &hub_tls_callbacks, c);
	if (c->tls == NULL) {
		log_warn("agent %s: cannot set up tls, closing", c->peer);
		event_free(c->idle);
		free(c);
		return;
	}
	tls_conn_set_peer_name(c->tls, c->peer);
	c->next = hub->conns;
	if (hub->conns != NULL)
		hub->conns->prev = c;
	hub->conns = c;
}

struct hub *hub_new(struct event_base *base, struct store *st, struct ca *ca,
		    int heartbeat_s, int64_t cert_validity_s, char *err, size_t err_size)
{
	struct hub *hub = calloc(1, sizeof(*hub));

	if (hub == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	hub->base = base;
	hub->store = st;
	hub->ca = ca;
	hub->heartbeat_s = heartbeat_s;
	hub->cert_validity_s = cert_validity_s;
	hub->tls = tls_config_server(ca_server_chain(ca), ca_server_key(ca), ca_cert(ca));
	if (hub->tls == NULL) {
		snprintf(err, err_size, "cannot set up tls for agents");
		free(hub);
		return NULL;
	}
	return hub;
}

int hub_listen(struct hub *hub, const char *host, uint16_t port, uint16_t *bound_port,
	       char *err, size_t err_size)
{
	hub->listener = netaddr_listen(hub->base, host, port, hub_on_accept, hub, bound_port,
				       err, err_size);
	return hub->listener != NULL ? 0 : -1;
}

void hub_free(struct hub *hub)
{
	if (hub == NULL)
		return;
	if (hub->listener != NULL)
		evconnlistener_free(hub->listener);
	while (hub->conns != NULL) {
		struct hub_conn *c = hub->conns;
		hub->conns = c->next;
		tls_conn_free(c->tls);
		event_free(c->idle);
		free(c);
	}
	tls_config_free(hub->tls);
	free(hub);
}

bool hub_node_connected(struct hub *hub, const char *node_id)
{
	for (struct hub_conn *c = hub->conns; c != NULL; c = c->next)
		if (c->ready && strcmp(c->node_id, node_id) == 0)
			return true;
	return false;
}

size_t hub_connected_count(struct hub *hub)
{
	return hub->ready_count;
}

void hub_disconnect_node(struct hub *hub, const char *node_id, const char *reason)
{
	for (struct hub_conn *c = hub->conns; c != NULL; c = c->next) {
		if (c->node_id[0] != '\0' && strcmp(c->node_id, node_id) == 0 &&
		    c->state != HUB_CONN_CLOSING) {
			log_info("agent %s: closing: %s", c->peer, reason);
			conn_refuse(c, reason);
		}
	}
}

void hub_set_events(struct hub *hub, const struct hub_events *ev, void *arg)
{
	hub->events = ev;
	hub->events_arg = arg;
}

int hub_send(struct hub *hub, const char *node_id, const struct msg *m)
{
	for (struct hub_conn *c = hub->conns; c != NULL; c = c->next)
		if (c->ready && strcmp(c->node_id, node_id) == 0)
			return proto_send(c->tls, m);
	return -1;
}
