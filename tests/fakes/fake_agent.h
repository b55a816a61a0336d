/* fake_agent.h — for unit tests of the tower's fleet side: a real hub
 * (temp sqlite store, temp CA, loopback listener) and fake agents that are
 * real enrolled nodes speaking the real protocol over real TLS, but only
 * record what the tower sends them. Include after <cmocka.h>. */
#ifndef OC_FAKE_AGENT_H
#define OC_FAKE_AGENT_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "shared/msg.h"
#include "shared/pki.h"
#include "shared/proto.h"
#include "shared/tls.h"
#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/fleet/hub.h"
#include "tower/store/store.h"

#define FAKE_WAIT_S 20        /* a wait that never comes true fails after this */
#define FAKE_GOT_MAX 64

/* The tower's side: store, CA and hub listening on 127.0.0.1. */
struct fake_tower {
	char dir[64];
	struct event_base *base;
	struct store *st;
	struct ca *ca;
	struct hub *hub;
	uint16_t port;
};

struct fake_agent {
	struct fake_tower *tower;
	char node_id[40];
	mbedtls_pk_context key;
	mbedtls_x509_crt cert;
	struct tls_config *cfg;
	struct tls_conn *conn;
	bool welcomed, closed;
	char error[128];                     /* the reason of an "error" message */
	enum msg_type types[FAKE_GOT_MAX];   /* what the tower sent, in order */
	char ids[FAKE_GOT_MAX][48];          /* the task id of task/ack/cancel */
	size_t got;
};

static inline void fake_tower_start(struct fake_tower *t)
{
	char path[128], err[256] = "";

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/oc-fleet.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(path, sizeof(path), "%s/tower.db", t->dir);
	t->base = event_base_new();
	assert_non_null(t->base);
	t->st = store_open(path, err, sizeof(err));
	assert_non_null(t->st);
	t->ca = ca_open(t->dir, NULL, 0, err, sizeof(err));
	assert_non_null(t->ca);
	t->hub = hub_new(t->base, t->st, t->ca, 10, 3600, err, sizeof(err));
	assert_non_null(t->hub);
	assert_int_equal(hub_listen(t->hub, "127.0.0.1", 0, &t->port, err, sizeof(err)), 0);
}

static inline void fake_tower_stop(struct fake_tower *t)
{
	hub_free(t->hub);
	ca_free(t->ca);
	store_close(t->st);
	event_base_free(t->base);
	util_remove_tree(t->dir);
}

static inline void fake_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Runs the loop until cond(arg) holds; false when FAKE_WAIT_S ran out. */
static inline bool fake_wait(struct fake_tower *t, bool (*cond)(void *arg), void *arg)
{
	struct timeval limit = {FAKE_WAIT_S, 0};
	bool expired = false;
	struct event *deadline = evtimer_new(t->base, fake_deadline, &expired);

	assert_non_null(deadline);
	evtimer_add(deadline, &limit);
	while (!cond(arg) && !expired)
		event_base_loop(t->base, EVLOOP_ONCE);
	event_free(deadline);
	return cond(arg);
}

/* A node enrolled with a one-use token: its key, certificate and row. */
static inline void fake_agent_enroll(struct fake_agent *a, struct fake_tower *t)
{
	char token[ENROLL_TOKEN_LEN + 1], err[256] = "", *csr, *pem = NULL;

	memset(a, 0, sizeof(*a));
	a->tower = t;
	mbedtls_pk_init(&a->key);
	mbedtls_x509_crt_init(&a->cert);
	assert_int_equal(pki_key_generate(&a->key), 0);
	csr = pki_csr_create(&a->key, "fake-host");
	assert_non_null(csr);
	assert_int_equal(enroll_create_token(t->st, "worker", 3600, 1, token, err, sizeof(err)), 0);
	assert_int_equal(enroll_node(t->st, t->ca, token, csr, "fake-host", util_now(), 3600,
				     a->node_id, sizeof(a->node_id), &pem, err, sizeof(err)), 0);
	assert_int_equal(mbedtls_x509_crt_parse(&a->cert, (const unsigned char *)pem,
						strlen(pem) + 1), 0);
	free(pem);
	free(csr);
	a->cfg = tls_config_client(ca_cert(t->ca), &a->cert, &a->key);
	assert_non_null(a->cfg);
}

/* Another connection of the same node (same key and certificate). */
static inline void fake_agent_twin(struct fake_agent *twin, const struct fake_agent *a)
{
	memset(twin, 0, sizeof(*twin));
	twin->tower = a->tower;
	snprintf(twin->node_id, sizeof(twin->node_id), "%s", a->node_id);
	twin->cfg = tls_config_client(ca_cert(a->tower->ca), (mbedtls_x509_crt *)&a->cert,
				      (mbedtls_pk_context *)&a->key);
	assert_non_null(twin->cfg);
}

static inline void fake_agent_on_ready(struct tls_conn *conn, void *arg)
{
	struct msg hello = {.type = MSG_HELLO};

	hello.u.hello.version = "fake";
	hello.u.hello.hostname = "fake-host";
	hello.u.hello.arch = "x86_64";
	hello.u.hello.os = "linux";
	hello.u.hello.kernel = "6.1";
	hello.u.hello.cpus = 1;
	hello.u.hello.mem_total = 1 << 30;
	assert_int_equal(proto_send(conn, &hello), 0);
	(void)arg;
}

static inline void fake_agent_on_read(struct tls_conn *conn, struct evbuffer *in, void *arg)
{
	struct fake_agent *a = arg;
	struct msg m;
	char err[128];
	int rc;

	(void)conn;
	while ((rc = proto_read(in, 1 << 20, &m, err, sizeof(err))) == 1) {
		const char *id = NULL;

		if (m.type == MSG_WELCOME)
			a->welcomed = true;
		if (m.type == MSG_ERROR)
			snprintf(a->error, sizeof(a->error), "%s", m.u.error.reason);
		if (m.type == MSG_TASK)
			id = m.u.task.id;
		else if (m.type == MSG_TASK_ACK)
			id = m.u.task_ack.id;
		else if (m.type == MSG_CANCEL)
			id = m.u.cancel.id;
		if (a->got < FAKE_GOT_MAX) {
			a->types[a->got] = m.type;
			snprintf(a->ids[a->got++], sizeof(a->ids[0]), "%s", id ? id : "");
		}
		msg_clear(&m);
	}
	assert_int_not_equal(rc, -1);
}

static inline void fake_agent_on_close(struct tls_conn *conn, const char *reason, void *arg)
{
	struct fake_agent *a = arg;

	(void)conn;
	(void)reason;
	a->closed = true;
	a->conn = NULL;
}

static const struct tls_conn_callbacks fake_agent_callbacks = {
	.on_ready = fake_agent_on_ready,
	.on_read = fake_agent_on_read,
	.on_close = fake_agent_on_close,
};

/* Connects to the hub; says hello once the handshake is done. */
static inline void fake_agent_connect(struct fake_agent *a)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(a->tower->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The listener's backlog completes the connect before the loop runs. */
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
	a->closed = false;
	a->welcomed = false;
	a->conn = tls_conn_new(a->tower->base, fd, a->cfg, false, PKI_TOWER_NAME, 10000,
			       &fake_agent_callbacks, a);
	assert_non_null(a->conn);
}

static inline void fake_agent_send(struct fake_agent *a, const struct msg *m)
{
	assert_non_null(a->conn);
	assert_int_equal(proto_send(a->conn, m), 0);
}

/* How many messages of type (about task id, unless NULL) it has had. */
static inline size_t fake_agent_count(const struct fake_agent *a, enum msg_type type,
				      const char *id)
{
	size_t n = 0;

	for (size_t i = 0; i < a->got; i++)
		if (a->types[i] == type && (id == NULL || strcmp(a->ids[i], id) == 0))
			n++;
	return n;
}

static inline void fake_agent_free(struct fake_agent *a)
{
	if (a->conn != NULL)
		tls_conn_free(a->conn);
	tls_config_free(a->cfg);
	mbedtls_x509_crt_free(&a->cert);
	mbedtls_pk_free(&a->key);
}

/* A twin shares its original's key and certificate. */
static inline void fake_agent_free_twin(struct fake_agent *twin)
{
	if (twin->conn != NULL)
		tls_conn_free(twin->conn);
	tls_config_free(twin->cfg);
}

#endif
