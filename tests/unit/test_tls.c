/* test_tls.c — real TLS handshakes between two shared/tls.c connections on a
 * socketpair: mutual auth, keys that do not match their certificates, resumption,
 * and the ticket an enrollment binds to the certificate it issued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "shared/pki.h"
#include "shared/tls.h"
#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/ticket.h"

#define DAY 86400
#define HANDSHAKE_MS 10000

/* A tower CA in a temp dir and one client certificate it issued. */
struct fixture {
	char dir[64];
	struct ca *ca;
	mbedtls_pk_context client_key;
	mbedtls_x509_crt client_cert;
	mbedtls_pk_context stranger_key;   /* matches no certificate */
};

/* One side of a handshake: what its callbacks saw. */
struct side {
	struct event_base *base;
	struct tls_conn *conn;
	bool ready, closed;
	char reason[160];
	char got[64];
	mbedtls_pk_type_t peer_key_type;
	char peer_pin[80];
	uint8_t *session;
	size_t session_len;
	bool is_client;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "", serial[64], *csr, *pem = NULL;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tls.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->ca = ca_open(f->dir, NULL, 0, err, sizeof(err));
	if (f->ca == NULL) {
		fprintf(stderr, "ca_open: %s\n", err);
		return -1;
	}
	mbedtls_pk_init(&f->client_key);
	mbedtls_pk_init(&f->stranger_key);
	mbedtls_x509_crt_init(&f->client_cert);
	if (pki_key_generate(&f->client_key) != 0 || pki_key_generate(&f->stranger_key) != 0)
		return -1;
	csr = pki_csr_create(&f->client_key, "node-1");
	if (csr == NULL || ca_sign_csr(f->ca, csr, strlen(csr), "node-1", DAY, &pem, serial,
				       sizeof(serial), err, sizeof(err)) != 0) {
		fprintf(stderr, "ca_sign_csr: %s\n", err);
		return -1;
	}
	free(csr);
	if (mbedtls_x509_crt_parse(&f->client_cert, (const unsigned char *)pem, strlen(pem) + 1) != 0)
		return -1;
	free(pem);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ca_free(f->ca);
	mbedtls_pk_free(&f->client_key);
	mbedtls_pk_free(&f->stranger_key);
	mbedtls_x509_crt_free(&f->client_cert);
	util_remove_tree(f->dir);
	free(f);
	return 0;
}

static void side_ready(struct tls_conn *conn, void *arg)
{
	struct side *s = arg;
	const mbedtls_x509_crt *peer = tls_conn_peer_cert(conn);

	s->ready = true;
	if (peer != NULL) {
		/* the certificate must carry its own key again, as parsed */
		s->peer_key_type = mbedtls_pk_get_type(&peer->pk);
		if (pki_spki_pin(peer, s->peer_pin, sizeof(s->peer_pin)) != 0)
			s->peer_pin[0] = '\0';
	}
	if (s->is_client) {
		s->session = tls_conn_save_session(conn, &s->session_len);
		tls_conn_write(conn, "ping", 4);
	}
}

static void side_read(struct tls_conn *conn, struct evbuffer *in, void *arg)
{
	struct side *s = arg;
	size_t have = strlen(s->got), n = evbuffer_get_length(in);

	if (n > sizeof(s->got) - 1 - have)
		n = sizeof(s->got) - 1 - have;
	evbuffer_remove(in, s->got + have, n);
	if (!s->is_client && strcmp(s->got, "ping") == 0)
		tls_conn_close_after_flush(conn, "done");
}

static void side_close(struct tls_conn *conn, const char *reason, void *arg)
{
	struct side *s = arg;

	(void)conn;
	s->closed = true;
	s->conn = NULL;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

static const struct tls_conn_callbacks side_callbacks = {
	.on_ready = side_ready,
	.on_read = side_read,
	.on_close = side_close,
};

/* Runs one handshake to its end (both closed, or both ready and the ping
 * delivered). offer: a saved client session to offer, or NULL. */
static void handshake(struct tls_config *server_cfg, struct tls_config *client_cfg,
		      struct side *server, struct side *client, const uint8_t *offer,
		      size_t offer_len)
{
	struct event_base *base = event_base_new();
	int fds[2];

	assert_non_null(base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	memset(server, 0, sizeof(*server));
	memset(client, 0, sizeof(*client));
	client->is_client = true;
	server->conn = tls_conn_new(base, fds[0], server_cfg, true, NULL, HANDSHAKE_MS,
				    &side_callbacks, server);
	client->conn = tls_conn_new(base, fds[1], client_cfg, false, PKI_TOWER_NAME, HANDSHAKE_MS,
				    &side_callbacks, client);
	assert_non_null(server->conn);
	assert_non_null(client->conn);
	if (offer != NULL)
		assert_int_equal(tls_conn_offer_session(client->conn, offer, offer_len), 0);
	/* bounded: each round handles whatever is ready, the handshake timeout
	 * ends a stuck exchange */
	for (int i = 0; i < 100000 && !(server->closed && client->closed); i++) {
		if (server->closed && client->conn != NULL)
			tls_conn_close_after_flush(client->conn, "server gone");
		event_base_loop(base, EVLOOP_ONCE);
	}
	if (server->conn != NULL)
		tls_conn_free(server->conn);
	if (client->conn != NULL)
		tls_conn_free(client->conn);
	event_base_free(base);
}

static struct tls_config *server_config(struct fixture *f, mbedtls_pk_context *key)
{
	struct tls_config *cfg = tls_config_server(ca_server_chain(f->ca), key, ca_cert(f->ca));

	assert_non_null(cfg);
	return cfg;
}

static struct tls_config *client_config(struct fixture *f, mbedtls_pk_context *key)
{
	struct tls_config *cfg = tls_config_client(ca_cert(f->ca), &f->client_cert, key);

	assert_non_null(cfg);
	return cfg;
}

static void test_mutual_handshake(void **state)
{
	struct fixture *f = *state;
	struct tls_config *scfg = server_config(f, ca_server_key(f->ca));
	struct tls_config *ccfg = client_config(f, &f->client_key);
	struct side server, client;
	char pin[80];
	char cn[64];

	handshake(scfg, ccfg, &server, &client, NULL, 0);
	assert_true(server.ready);
	assert_true(client.ready);
	assert_string_equal(server.got, "ping");
	/* both peers' certificates hold the generic EC key they were parsed
	 * with, after a handshake that checked their signatures */
	assert_int_equal(server.peer_key_type, MBEDTLS_PK_ECKEY);
	assert_int_equal(client.peer_key_type, MBEDTLS_PK_ECKEY);
	assert_int_equal(pki_spki_pin(&f->client_cert, pin, sizeof(pin)), 0);
	assert_string_equal(server.peer_pin, pin);
	assert_int_equal(pki_spki_pin(ca_server_chain(f->ca), pin, sizeof(pin)), 0);
	assert_string_equal(client.peer_pin, pin);
	assert_int_equal(pki_cert_cn(&f->client_cert, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "node-1");
	free(client.session);
	free(server.session);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* A handshake where one side presents a certificate without its key: the
 * other side checks that side's signature (a client's CertificateVerify, a
 * server's key exchange) and refuses; neither gets to exchange data. */
static void refused(struct fixture *f, mbedtls_pk_context *server_key,
		    mbedtls_pk_context *client_key, bool server_refuses)
{
	struct tls_config *scfg = server_config(f, server_key);
	struct tls_config *ccfg = client_config(f, client_key);
	struct side server, client;
	struct side *refuser = server_refuses ? &server : &client;

	handshake(scfg, ccfg, &server, &client, NULL, 0);
	assert_false(refuser->ready);
	assert_true(server.closed);
	assert_true(client.closed);
	assert_non_null(strstr(refuser->reason, "tls handshake"));
	assert_string_equal(server.got, "");
	free(client.session);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

static void test_client_key_not_its_certificate(void **state)
{
	struct fixture *f = *state;

	refused(f, ca_server_key(f->ca), &f->stranger_key, true);
}

static void test_server_key_not_its_certificate(void **state)
{
	struct fixture *f = *state;

	refused(f, &f->stranger_key, &f->client_key, false);
}

/* A client offering a session the server cannot resume (no tickets here):
 * the full handshake replaces the offered session's certificate, and the
 * key swap must follow the new one (ASan catches a stale pointer). */
static void test_offered_session_not_resumed(void **state)
{
	struct fixture *f = *state;
	struct tls_config *scfg = server_config(f, ca_server_key(f->ca));
	struct tls_config *ccfg = client_config(f, &f->client_key);
	struct side server, client, server2, client2;

	handshake(scfg, ccfg, &server, &client, NULL, 0);
	assert_true(client.ready);
	assert_non_null(client.session);
	handshake(scfg, ccfg, &server2, &client2, client.session, client.session_len);
	assert_true(server2.ready);
	assert_true(client2.ready);
	assert_string_equal(server2.got, "ping");
	assert_int_equal(client2.peer_key_type, MBEDTLS_PK_ECKEY);
	assert_int_equal(server2.peer_key_type, MBEDTLS_PK_ECKEY);
	free(client.session);
	free(client2.session);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* An enrollment: the server, once the handshake is done, seals a ticket for
 * this session bound to the certificate it just issued and sends it; the
 * client keeps its session with that ticket. */
struct enrollment {
	const mbedtls_x509_crt *issued;
	unsigned char ticket[4096];
	size_t ticket_len;
	uint32_t lifetime;
	uint8_t *session;          /* the client's, carrying the ticket */
	size_t session_len;
	bool server_done;
};
static struct enrollment *enrollment;

static void enroll_server_ready(struct tls_conn *conn, void *arg)
{
	struct side *s = arg;

	s->ready = true;
	if (tls_conn_ticket_for_peer(conn, enrollment->issued->raw.p, enrollment->issued->raw.len,
				     enrollment->ticket, sizeof(enrollment->ticket),
				     &enrollment->ticket_len, &enrollment->lifetime) == 0)
		tls_conn_write(conn, "T", 1);
	else
		tls_conn_close_after_flush(conn, "no ticket");
}

static void enroll_client_read(struct tls_conn *conn, struct evbuffer *in, void *arg)
{
	struct side *s = arg;

	evbuffer_drain(in, evbuffer_get_length(in));
	enrollment->session = tls_conn_save_session_with_ticket(
		conn, enrollment->ticket, enrollment->ticket_len, enrollment->lifetime,
		&enrollment->session_len);
	s->got[0] = 'T';
	tls_conn_close_after_flush(conn, "enrolled");
}

static void enroll_noop_ready(struct tls_conn *conn, void *arg)
{
	((struct side *)arg)->ready = true;
}

static void enroll_noop_read(struct tls_conn *conn, struct evbuffer *in, void *arg)
{
	evbuffer_drain(in, evbuffer_get_length(in));
}

static const struct tls_conn_callbacks enroll_server_callbacks = {
	.on_ready = enroll_server_ready,
	.on_read = enroll_noop_read,
	.on_close = side_close,
};
static const struct tls_conn_callbacks enroll_client_callbacks = {
	.on_ready = enroll_noop_ready,
	.on_read = enroll_client_read,
	.on_close = side_close,
};

static void enroll_handshake(struct tls_config *server_cfg, struct tls_config *client_cfg)
{
	struct event_base *base = event_base_new();
	struct side server = {0}, client = {.is_client = true};
	int fds[2];

	assert_non_null(base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	server.conn = tls_conn_new(base, fds[0], server_cfg, true, NULL, HANDSHAKE_MS,
				   &enroll_server_callbacks, &server);
	client.conn = tls_conn_new(base, fds[1], client_cfg, false, PKI_TOWER_NAME, HANDSHAKE_MS,
				   &enroll_client_callbacks, &client);
	assert_non_null(server.conn);
	assert_non_null(client.conn);
	for (int i = 0; i < 100000 && !(server.closed && client.closed); i++) {
		if (client.closed && server.conn != NULL)
			tls_conn_close_after_flush(server.conn, "client gone");
		event_base_loop(base, EVLOOP_ONCE);
	}
	if (server.conn != NULL)
		tls_conn_free(server.conn);
	if (client.conn != NULL)
		tls_conn_free(client.conn);
	event_base_free(base);
	assert_true(server.ready);
	assert_int_equal(client.got[0], 'T');
}

/* The next connection resumes that session as the issued certificate's
 * owner; a client that holds the ticket but not the session's master secret
 * (grafted onto another session of its own) is refused. */
static void test_enrollment_ticket_resumes_as_the_node(void **state)
{
	struct fixture *f = *state;
	char path[128], err[256], want_pin[80];
	struct ticket_keys *tk;
	struct tls_config *scfg = server_config(f, ca_server_key(f->ca));
	struct tls_config *enroll_cfg = tls_config_client(ca_cert(f->ca), NULL, NULL);
	struct tls_config *ccfg = client_config(f, &f->client_key);
	struct enrollment first = {.issued = &f->client_cert}, other = {.issued = &f->client_cert};
	struct side server, client;
	uint8_t *forged;
	size_t forged_len = 0;

	snprintf(path, sizeof(path), "%s/tickets", f->dir);
	tk = ticket_keys_open(path, DAY, err, sizeof(err));
	assert_non_null(tk);
	assert_non_null(enroll_cfg);
	ticket_keys_attach(tk, scfg);
	assert_int_equal(pki_spki_pin(&f->client_cert, want_pin, sizeof(want_pin)), 0);

	enrollment = &first;
	enroll_handshake(scfg, enroll_cfg);
	assert_true(first.ticket_len > 0);
	assert_non_null(first.session);
	assert_int_equal(ticket_keys_opened(tk), 0);

	/* resumed as node-1, with no certificate shown on the wire */
	handshake(scfg, ccfg, &server, &client, first.session, first.session_len);
	assert_true(server.ready);
	assert_true(client.ready);
	assert_string_equal(server.got, "ping");
	assert_int_equal(ticket_keys_opened(tk), 1);
	assert_string_equal(server.peer_pin, want_pin);
	free(client.session);

	/* another enrollment's session carrying the first one's ticket */
	enrollment = &other;
	enroll_handshake(scfg, enroll_cfg);
	assert_non_null(other.session);
	forged = NULL;
	{
		/* other.session with first's ticket spliced in place of its own:
		 * the two have the same length (same certificate, same suite). */
		assert_int_equal(first.ticket_len, other.ticket_len);
		uint8_t *at = memmem(other.session, other.session_len, other.ticket, other.ticket_len);
		assert_non_null(at);
		forged = malloc(other.session_len);
		assert_non_null(forged);
		memcpy(forged, other.session, other.session_len);
		memcpy(forged + (at - other.session), first.ticket, first.ticket_len);
		forged_len = other.session_len;
	}
	handshake(scfg, ccfg, &server, &client, forged, forged_len);
	/* the server opened the ticket; the Finished messages then disagree */
	assert_int_equal(ticket_keys_opened(tk), 2);
	assert_false(server.ready && client.ready && strcmp(server.got, "ping") == 0);
	free(client.session);

	free(forged);
	free(first.session);
	free(other.session);
	enrollment = NULL;
	tls_config_free(scfg);
	tls_config_free(enroll_cfg);
	tls_config_free(ccfg);
	ticket_keys_free(tk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutual_handshake),
		cmocka_unit_test(test_client_key_not_its_certificate),
		cmocka_unit_test(test_server_key_not_its_certificate),
		cmocka_unit_test(test_offered_session_not_resumed),
		cmocka_unit_test(test_enrollment_ticket_resumes_as_the_node),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
