/* hub.c — the tower's side of the agent protocol: one TLS connection per
 * agent, enrollment for those without a certificate, hello/heartbeat after.
 * Handshakes and CSR signing run on worker threads (workers.c); everything
 * else, and every store write, on the main loop. */
#include "tower/fleet/hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <mbedtls/ecdsa.h>

#include "shared/frame.h"
#include "shared/log.h"
#include "shared/lograte.h"
#include "shared/msg.h"
#include "shared/netaddr.h"
#include "shared/pki.h"
#include "shared/proto.h"
#include "shared/tls.h"
#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/store/store.h"
#include "tower/metrics/telemetry.h"
#include "tower/fleet/ticket.h"
#include "tower/fleet/workers.h"
#include "tower/metrics/nodemetrics.h"

#define HUB_HANDSHAKE_TIMEOUT_MS 10000
/* last_seen is written for all heartbeats of this period in one transaction. */
#define HUB_TOUCH_FLUSH_MS 1000
#define HUB_TABLE_MIN 1024

enum hub_conn_state {
	HUB_CONN_HANDSHAKE,    /* on a worker thread: the main loop keeps off */
	HUB_CONN_ENROLL,       /* no client certificate: only "enroll" is accepted */
	HUB_CONN_SIGNING,      /* the CSR is being signed on a worker thread */
	HUB_CONN_AWAIT_HELLO,  /* certificate checked, waiting for "hello" */
	HUB_CONN_READY,
	HUB_CONN_CLOSING,
};

struct hub_sign_job;

struct hub_conn {
	struct hub *hub;
	struct tls_conn *tls;
	struct event *idle;
	enum hub_conn_state state;
	bool ready;            /* counted in hub->ready_count, in the node table */
	int fd;                /* until the worker wraps it in tls */
	struct hub_sign_job *job;
	char node_id[STORE_ID_MAX];
	char cert_serial[STORE_ID_MAX];   /* of the certificate it connected with */
	char peer[96];
	char close_reason[128];/* a handshake's end, carried back from the worker */
	struct hub_conn *prev, *next;
	struct hub_conn *table_next;
};

/* A heartbeat's last_seen, waiting for the next batched write. */
struct hub_touch {
	char node_id[STORE_ID_MAX];
	int64_t when;
};

struct hub {
	struct event_base *base;
	struct store *store;
	struct ca *ca;
	struct tls_config *tls;
	struct netaddr_listener *listener;
	struct hub_conn *conns;
	size_t ready_count;
	/* ready connections by node id: chained hash table, grown at load 1 */
	struct hub_conn **table;
	size_t table_size;
	struct workers *workers;
	struct hub_touch *touches;
	size_t touch_count, touch_cap;
	struct event *touch_flush;
	const struct timeval *idle_common;
	struct ticket_keys *tickets;
	struct nodemetrics *shared_figures;   /* replicas: written with last_seen */
	int heartbeat_s;
	int64_t cert_validity_s;
	const struct hub_events *events;
	void *events_arg;
	/* Failed handshakes are a peer's to cause at will (scanners, old
	 * clients, a flood): one line per interval says how many. */
	struct lograte rate_handshake;
};

static size_t node_hash(const char *id)
{
	size_t h = 1469598103934665603ull;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 1099511628211ull;
	return h;
}

static struct hub_conn **table_slot(struct hub *hub, const char *node_id)
{
	struct hub_conn **p = &hub->table[node_hash(node_id) & (hub->table_size - 1)];

	while (*p != NULL && strcmp((*p)->node_id, node_id) != 0)
		p = &(*p)->table_next;
	return p;
}

static struct hub_conn *table_find(struct hub *hub, const char *node_id)
{
	return hub->table_size ? *table_slot(hub, node_id) : NULL;
}

static void table_grow(struct hub *hub)
{
	size_t size = hub->table_size ? hub->table_size * 2 : HUB_TABLE_MIN;
	struct hub_conn **old = hub->table, **fresh = calloc(size, sizeof(*fresh));
	size_t old_size = hub->table_size;

	if (fresh == NULL)
		return;   /* longer chains, still correct */
	hub->table = fresh;
	hub->table_size = size;
	for (size_t i = 0; i < old_size; i++) {
		struct hub_conn *c = old[i], *next;
		for (; c != NULL; c = next) {
			next = c->table_next;
			c->table_next = fresh[node_hash(c->node_id) & (size - 1)];
			fresh[node_hash(c->node_id) & (size - 1)] = c;
		}
	}
	free(old);
}

/* Only one ready connection per node: drop_older_conns runs first. */
static void table_insert(struct hub *hub, struct hub_conn *c)
{
	size_t i;

	if (hub->ready_count + 1 > hub->table_size)
		table_grow(hub);
	i = node_hash(c->node_id) & (hub->table_size - 1);
	c->table_next = hub->table[i];
	hub->table[i] = c;
}

static void table_remove(struct hub *hub, struct hub_conn *c)
{
	struct hub_conn **p = &hub->table[node_hash(c->node_id) & (hub->table_size - 1)];

	while (*p != NULL && *p != c)
		p = &(*p)->table_next;
	if (*p == c)
		*p = c->table_next;
	c->table_next = NULL;
}

/* Heartbeats only move last_seen: they wait and go in one transaction. */
static void touch_later(struct hub *hub, const char *node_id)
{
	struct timeval tv = {HUB_TOUCH_FLUSH_MS / 1000, (HUB_TOUCH_FLUSH_MS % 1000) * 1000};

	if (hub->touch_count == hub->touch_cap) {
		size_t cap = hub->touch_cap ? hub->touch_cap * 2 : 256;
		struct hub_touch *more = realloc(hub->touches, cap * sizeof(*more));
		if (more == NULL) {
			if (store_node_touch(hub->store, node_id, util_now()) != 0)
				log_warn("hub: cannot store last_seen of node %s", node_id);
			return;
		}
		hub->touches = more;
		hub->touch_cap = cap;
	}
	snprintf(hub->touches[hub->touch_count].node_id, STORE_ID_MAX, "%s", node_id);
	hub->touches[hub->touch_count++].when = util_now();
	if (!event_pending(hub->touch_flush, EV_TIMEOUT, NULL))
		event_add(hub->touch_flush, &tv);
}

static void touch_flush(evutil_socket_t fd, short what, void *arg)
{
	struct hub *hub = arg;
	bool batch = store_begin(hub->store) == 0;
	size_t failed = 0;

	for (size_t i = 0; i < hub->touch_count; i++) {
		const struct hub_touch *t = &hub->touches[i];
		const struct node_figures *f = hub->shared_figures != NULL
			? nodemetrics_latest(hub->shared_figures, t->node_id) : NULL;
		char figures[STORE_NODE_FIGURES_MAX];

		if (f != NULL && nodemetrics_figures_format(f, figures, sizeof(figures)) == 0)
			failed += store_node_touch_figures(hub->store, t->node_id, t->when,
							   figures) != 0;
		else
			failed += store_node_touch(hub->store, t->node_id, t->when) != 0;
	}
	if (batch && store_commit(hub->store) != 0)
		failed = hub->touch_count;
	if (failed > 0)
		log_warn("hub: cannot store last_seen of %zu node(s)", failed);
	hub->touch_count = 0;
	/* A burst's buffer is not kept for ever. */
	if (hub->touch_cap > 4096) {
		free(hub->touches);
		hub->touches = NULL;
		hub->touch_cap = 0;
	}
}

static void conn_set_unready(struct hub_conn *c)
{
	if (!c->ready)
		return;
	c->ready = false;
	c->hub->ready_count--;
	table_remove(c->hub, c);
	touch_later(c->hub, c->node_id);
}

static void conn_close(struct hub_conn *c, const char *why)
{
	conn_set_unready(c);
	/* A handshake belongs to its worker until it comes back. */
	if (c->state == HUB_CONN_CLOSING || c->state == HUB_CONN_HANDSHAKE)
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
	struct timeval tv = {30, 0};

	if (c->state == HUB_CONN_ENROLL || c->state == HUB_CONN_SIGNING)
		event_add(c->idle, &tv);
	else
		event_add(c->idle, c->hub->idle_common);
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
	/* A resumed session carries the first handshake's verdict: the
	 * certificate may have expired since. */
	if (flags == 0 && pki_cert_not_after(crt) < util_now())
		flags = MBEDTLS_X509_BADCERT_EXPIRED;
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
	snprintf(c->cert_serial, sizeof(c->cert_serial), "%s", serial);
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

/* An enrollment on its way through a worker: the CSR is signed there, the
 * token is taken and the node recorded back on the main loop. */
struct hub_sign_job {
	struct hub *hub;
	struct hub_conn *c;     /* NULL once the connection is gone */
	char *token, *csr, *hostname;
	struct enroll_issue issue;
	int rc;
	char err[256];
};

static void sign_job_free(struct hub_sign_job *job)
{
	free(job->token);
	free(job->csr);
	free(job->hostname);
	enroll_issue_clear(&job->issue);
	free(job);
}

static void sign_drop(struct event_base *base, void *arg)
{
	sign_job_free(arg);
}

/* A ticket that resumes this connection's TLS session as the new node, so
 * that its next connection is an abbreviated handshake (the session carried
 * on below has no client certificate to resume with). Without one the agent
 * just makes a full handshake then. */
static void enrolled_ticket(struct hub_conn *c, const char *cert_pem, unsigned char *buf,
			    size_t size, struct msg_enrolled *out)
{
	mbedtls_x509_crt crt;
	size_t len = 0;
	uint32_t lifetime = 0;

	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert_pem, strlen(cert_pem) + 1) == 0 &&
	    tls_conn_ticket_for_peer(c->tls, crt.raw.p, crt.raw.len, buf, size, &len, &lifetime) == 0) {
		out->ticket.data = buf;
		out->ticket.len = len;
		out->ticket_lifetime = lifetime;
	}
	mbedtls_x509_crt_free(&crt);
}

static void sign_done(struct event_base *base, void *arg)
{
	struct hub_sign_job *job = arg;
	struct hub_conn *c = job->c;
	struct msg reply = {.type = MSG_ENROLLED};
	unsigned char ticket[4096];

	if (c == NULL)
		goto out;
	c->job = NULL;
	if (c->state != HUB_CONN_SIGNING)
		goto out;   /* closing already (idle timeout) */
	if (job->rc == 0)
		job->rc = enroll_record(c->hub->store, job->token, job->hostname, util_now(),
					&job->issue, job->err, sizeof(job->err));
	telemetry_enrollment(job->rc == 0);
	if (job->rc != 0) {
		log_warn("agent %s: enrollment refused: %s", c->peer, job->err);
		c->state = HUB_CONN_ENROLL;
		conn_refuse(c, job->err);
		goto out;
	}
	log_info("agent %s: enrolled as node %s (%s)", c->peer, job->issue.node_id, job->hostname);
	reply.u.enrolled.node_id = job->issue.node_id;
	reply.u.enrolled.cert = job->issue.cert_pem;
	reply.u.enrolled.ca = (char *)ca_cert_pem(c->hub->ca);
	enrolled_ticket(c, job->issue.cert_pem, ticket, sizeof(ticket), &reply.u.enrolled);
	proto_send(c->tls, &reply);
	/* The connection carries on as the node's session: it is already
	 * server-authenticated, the one-time token vouched for the peer and the
	 * CSR, signed with the new key, proved the peer holds it. A second full
	 * mutual handshake would add nothing but an ECDSA signature each side.
	 * An agent that closes here and dials again with its certificate (older
	 * agents do) is as welcome. */
	snprintf(c->node_id, sizeof(c->node_id), "%s", job->issue.node_id);
	snprintf(c->cert_serial, sizeof(c->cert_serial), "%s", job->issue.serial);
	snprintf(c->peer, sizeof(c->peer), "%s", job->issue.node_id);
	c->state = HUB_CONN_AWAIT_HELLO;
	conn_arm_idle(c);
out:
	sign_job_free(job);
}

static void sign_run(struct event_base *base, void *arg)
{
	struct hub_sign_job *job = arg;

	job->rc = enroll_sign(job->hub->ca, job->token, job->csr, job->hub->cert_validity_s,
			      &job->issue, job->err, sizeof(job->err));
	if (workers_return(job->hub->workers, sign_done, sign_drop, job) != 0)
		sign_job_free(job);   /* the agent times out and tries again */
}

static void handle_enroll(struct hub_conn *c, const struct msg_enroll *e)
{
	struct hub_sign_job *job = calloc(1, sizeof(*job));

	if (job == NULL || (job->token = strdup(e->token)) == NULL ||
	    (job->csr = strdup(e->csr)) == NULL || (job->hostname = strdup(e->hostname)) == NULL) {
		if (job != NULL)
			sign_job_free(job);
		conn_refuse(c, "internal error");
		return;
	}
	util_one_line(job->hostname);   /* as in handle_hello */
	job->hub = c->hub;
	job->c = c;
	c->job = job;
	c->state = HUB_CONN_SIGNING;
	if (workers_submit(c->hub->workers, sign_run, sign_drop, job) != 0) {
		c->job = NULL;
		sign_job_free(job);
		c->state = HUB_CONN_ENROLL;
		conn_refuse(c, "internal error");
	}
}

/* Newest connection wins: an agent that reconnects before the tower noticed
 * the old one is gone must not be refused. */
static void drop_older_conns(struct hub_conn *c)
{
	struct hub_conn *o = table_find(c->hub, c->node_id);

	if (o != NULL && o != c) {
		log_info("agent %s: replaced by a newer connection", o->peer);
		conn_close(o, "replaced by a newer connection");
	}
}

static void handle_hello(struct hub_conn *c, const struct msg_hello *h)
{
	struct msg reply = {.type = MSG_WELCOME};

	/* An agent describes itself: what it says reaches log lines, the API
	 * and operators' terminals, so it is one line of text there. */
	util_one_line(h->version);
	util_one_line(h->hostname);
	util_one_line(h->arch);
	util_one_line(h->os);
	util_one_line(h->kernel);

	if (store_node_update_facts(c->hub->store, c->node_id, h->hostname, h->arch, h->os,
				    h->kernel, (int64_t)h->cpus, (int64_t)h->mem_total,
				    util_now()) != 0) {
		conn_refuse(c, "internal error");
		return;
	}
	drop_older_conns(c);
	c->state = HUB_CONN_READY;
	c->ready = true;
	table_insert(c->hub, c);
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

/* A node speaks only about its own tasks. One that names another node's
 * task, or one that does not exist (tasks are never deleted), is out of
 * order: the README says that closes the connection. A store error is no
 * proof of either. */
static bool task_msg_is_foreign(struct hub_conn *c, const struct msg *m, const char **id_out)
{
	const char *id = m->u.task_accepted.id;
	struct store_task t;
	bool foreign;
	int r;

	switch (m->type) {
	case MSG_TASK_LOG: id = m->u.task_log.id; break;
	case MSG_TASK_PROGRESS: id = m->u.task_progress.id; break;
	case MSG_TASK_DONE: id = m->u.task_done.id; break;
	default: break;
	}
	*id_out = id != NULL ? id : "";
	if (id == NULL)
		return true;
	memset(&t, 0, sizeof(t));
	r = store_task_get(c->hub->store, id, &t);
	foreign = r == 0 || (r == 1 && strcmp(t.node_id, c->node_id) != 0);
	store_task_clear(&t);
	return foreign;
}

static void handle_renew(struct hub_conn *c, const struct msg_renew *r)
{
	struct msg reply = {.type = MSG_RENEWED};
	char serial[48], err[256];
	char *cert = NULL;
	bool batch;

	if (ca_sign_csr(c->hub->ca, r->csr, strlen(r->csr) + 1, c->node_id, c->hub->cert_validity_s,
			&cert, serial, sizeof(serial), err, sizeof(err)) != 0) {
		log_warn("agent %s: renewal refused: %s", c->peer, err);
		reply.type = MSG_ERROR;
		reply.u.error.reason = err;
		proto_send(c->tls, &reply);
		return;
	}
	/* The previous serial becomes the one this connection holds, not
	 * whatever was current: renewals the agent never took (its clock
	 * judged them bad, or they were lost) must not revoke the certificate
	 * it still has. Two updates, one transaction: prev = held, then the
	 * new one current. */
	batch = store_begin(c->hub->store) == 0;
	if ((strcmp(c->cert_serial, serial) != 0 &&
	     store_node_set_serial(c->hub->store, c->node_id, c->cert_serial) != 0) ||
	    store_node_set_serial(c->hub->store, c->node_id, serial) != 0 ||
	    (batch && store_commit(c->hub->store) != 0)) {
		if (batch)
			store_rollback(c->hub->store);
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
	case HUB_CONN_SIGNING:
		log_warn("agent %s: \"%s\" while enrolling, closing", c->peer, msg_type_name(m->type));
		conn_close(c, "one enrollment per connection");
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
			touch_later(c->hub, c->node_id);
			if (c->hub->events != NULL && c->hub->events->heartbeat != NULL)
				c->hub->events->heartbeat(c->hub->events_arg, c->node_id,
							  &m->u.heartbeat);
			return;
		}
		if (m->type == MSG_RENEW) {
			handle_renew(c, &m->u.renew);
			return;
		}
		if (is_task_msg(m->type) && c->hub->events != NULL) {
			const char *id;

			if (task_msg_is_foreign(c, m, &id)) {
				log_warn("agent %s (%s): \"%s\" for task %.40s that is not its own, closing",
					 c->peer, c->node_id, msg_type_name(m->type), id);
				conn_refuse(c, "task message for a task that is not this node's");
				return;
			}
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

static void conn_unlink_free(struct hub_conn *c)
{
	struct hub *hub = c->hub;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		hub->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->idle);
	free(c);
}

static void conn_on_close(struct tls_conn *tls, const char *reason, void *arg)
{
	struct hub_conn *c = arg;

	if (c->node_id[0] != '\0')
		log_info("agent %s: disconnected: %s", c->peer, reason);
	else
		log_info("agent %s: connection closed: %s", c->peer, reason);
	conn_set_unready(c);
	if (c->job != NULL)
		c->job->c = NULL;
	conn_unlink_free(c);
}

static const struct tls_conn_callbacks hub_tls_callbacks = {
	.on_ready = conn_on_ready,
	.on_read = conn_on_read,
	.on_close = conn_on_close,
};

/* ---- handshakes on a worker thread ----
 * Only the worker touches c->tls until the connection comes back through
 * workers_return; the main loop only keeps c in its list meanwhile. */

static void hs_back(struct event_base *base, void *arg)
{
	struct hub_conn *c = arg;

	c->state = HUB_CONN_ENROLL;   /* anything but HANDSHAKE; set for real below */
	telemetry_handshake(true);
	if (tls_conn_adopt(c->tls, base, &hub_tls_callbacks, c) != 0) {
		log_warn("agent %s: cannot take over the connection, closing", c->peer);
		tls_conn_free(c->tls);
		conn_unlink_free(c);
		return;
	}
	conn_on_ready(c->tls, c);
}

static void hs_failed(struct event_base *base, void *arg)
{
	struct hub_conn *c = arg;

	uint64_t suppressed;

	if (lograte_allow(&c->hub->rate_handshake, &suppressed))
		log_info("agent %s: connection closed: %s (%llu more failed handshakes on the agent "
			 "port in the last %d s)", c->peer, c->close_reason,
			 (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
	telemetry_handshake(false);
	conn_unlink_free(c);
}

static void hs_released(struct tls_conn *tls, void *arg)
{
	struct hub_conn *c = arg;

	/* At teardown the main loop frees c and its tls itself. */
	workers_return(c->hub->workers, hs_back, NULL, c);
}

static void hs_on_ready(struct tls_conn *tls, void *arg)
{
	tls_conn_release(tls, hs_released, arg);
}

static void hs_on_close(struct tls_conn *tls, const char *reason, void *arg)
{
	struct hub_conn *c = arg;

	c->tls = NULL;   /* tls.c frees it when this returns */
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	workers_return(c->hub->workers, hs_failed, NULL, c);
}

static const struct tls_conn_callbacks hub_hs_callbacks = {
	.on_ready = hs_on_ready,
	.on_close = hs_on_close,
};

static void hs_start(struct event_base *base, void *arg)
{
	struct hub_conn *c = arg;
	int fd = c->fd;

	c->fd = -1;
	c->tls = tls_conn_new(base, fd, c->hub->tls, true, NULL, HUB_HANDSHAKE_TIMEOUT_MS,
			      &hub_hs_callbacks, c);
	if (c->tls == NULL) {
		snprintf(c->close_reason, sizeof(c->close_reason), "cannot set up tls");
		workers_return(c->hub->workers, hs_failed, NULL, c);
		return;
	}
	tls_conn_set_peer_name(c->tls, c->peer);
}

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
	c->fd = fd;
	c->state = HUB_CONN_HANDSHAKE;
	netaddr_format(sa, c->peer, sizeof(c->peer));
	c->idle = event_new(hub->base, -1, 0, conn_on_idle, c);
	if (c->idle == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->next = hub->conns;
	if (hub->conns != NULL)
		hub->conns->prev = c;
	hub->conns = c;
	if (workers_submit(hub->workers, hs_start, NULL, c) != 0) {
		close(fd);
		conn_unlink_free(c);
	}
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
	{
		struct timeval tv = {heartbeat_s * 3 + 5, 0};
		/* Every ready connection has the same idle timeout: one queue,
		 * not a heap of ten thousand timers. */
		hub->idle_common = event_base_init_common_timeout(base, &tv);
	}
	hub->touch_flush = event_new(base, -1, 0, touch_flush, hub);
	/* The lazily built tables of the long-lived keys must exist before
	 * several threads read them at once. */
	if (hub->idle_common == NULL || hub->touch_flush == NULL ||
	    (hub->workers = workers_new(base, 0, err, err_size)) == NULL) {
		if (err[0] == '\0')
			snprintf(err, err_size, "cannot set up the agent hub");
		hub_free(hub);
		return NULL;
	}
	return hub;
}

void hub_share_figures(struct hub *hub, struct nodemetrics *nm)
{
	hub->shared_figures = nm;
}

void hub_use_tickets(struct hub *hub, struct ticket_keys *tk)
{
	hub->tickets = tk;
	ticket_keys_attach(tk, hub->tls);
}

uint64_t hub_sessions_resumed(struct hub *hub)
{
	return hub->tickets != NULL ? ticket_keys_opened(hub->tickets) : 0;
}

int hub_listen(struct hub *hub, const char *host, uint16_t port, uint16_t *bound_port,
	       char *err, size_t err_size)
{
	hub->listener = netaddr_listen(hub->base, host, port, "agent", hub_on_accept, hub,
				       bound_port, err, err_size);
	return hub->listener != NULL ? 0 : -1;
}

void hub_free(struct hub *hub)
{
	if (hub == NULL)
		return;
	netaddr_listener_free(hub->listener);
	/* Workers first: then every connection, wherever it is, is ours. */
	if (hub->workers != NULL)
		workers_stop(hub->workers);
	/* Agents learn at once that the tower is going, and start their
	 * backoff now rather than after thousands of TLS contexts are freed
	 * (mbedtls wipes 32 KiB of buffers each). */
	for (struct hub_conn *c = hub->conns; c != NULL; c = c->next)
		if (c->tls != NULL)
			shutdown(tls_conn_fd(c->tls), SHUT_RDWR);
	while (hub->conns != NULL) {
		struct hub_conn *c = hub->conns;
		hub->conns = c->next;
		if (c->job != NULL)
			c->job->c = NULL;
		tls_conn_free(c->tls);
		if (c->fd >= 0 && c->state == HUB_CONN_HANDSHAKE && c->tls == NULL)
			close(c->fd);
		event_free(c->idle);
		free(c);
	}
	/* Jobs still queued are dropped here (sign jobs free themselves). */
	workers_free(hub->workers);
	if (hub->touch_flush != NULL) {
		if (hub->touch_count > 0)
			touch_flush(-1, 0, hub);
		event_free(hub->touch_flush);
	}
	free(hub->touches);
	free(hub->table);
	tls_config_free(hub->tls);
	free(hub);
}

bool hub_node_connected(struct hub *hub, const char *node_id)
{
	return table_find(hub, node_id) != NULL;
}

bool hub_node_connected_anywhere(struct hub *hub, const struct store_node *n)
{
	return hub_node_connected(hub, n->id) ||
	       (store_is_shared(hub->store) &&
		n->last_seen >= util_now() - 3 * hub_heartbeat_s(hub) - 2);
}

int hub_heartbeat_s(const struct hub *hub)
{
	return hub->heartbeat_s;
}

int hub_node_address(struct hub *hub, const char *node_id, char *out, size_t size)
{
	struct hub_conn *c = table_find(hub, node_id);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (c == NULL || c->tls == NULL ||
	    getpeername(tls_conn_fd(c->tls), (struct sockaddr *)&ss, &len) != 0)
		return -1;
	netaddr_format_host((struct sockaddr *)&ss, out, size);
	return 0;
}

size_t hub_connected_count(struct hub *hub)
{
	return hub->ready_count;
}

void hub_disconnect_node(struct hub *hub, const char *node_id, const char *reason)
{
	for (struct hub_conn *c = hub->conns; c != NULL; c = c->next) {
		if (c->node_id[0] != '\0' && strcmp(c->node_id, node_id) == 0 &&
		    c->state != HUB_CONN_CLOSING && c->state != HUB_CONN_HANDSHAKE) {
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
	struct hub_conn *c = table_find(hub, node_id);

	return c != NULL ? proto_send(c->tls, m) : -1;
}
