/* tls.c — drives mbedtls TLS sessions on non-blocking sockets from libevent.
 * Owns handshakes, record I/O, buffering and teardown; not certificates. */
#include "shared/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>

#include "shared/pki.h"

#define TLS_READ_CHUNK 16384
/* Per wakeup, so one busy peer cannot starve the others on the loop. */
#define TLS_READ_BUDGET (256 * 1024)
#define TLS_CLOSE_TIMEOUT_MS 5000

struct tls_config {
	mbedtls_ssl_config conf;
};

/* TLS 1.2, ECDHE-ECDSA with AEAD only (DESIGN §4). */
static const int tls_ciphersuites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	0,
};
static const mbedtls_ecp_group_id tls_curves[] = {
	MBEDTLS_ECP_DP_CURVE25519,
	MBEDTLS_ECP_DP_SECP256R1,
	MBEDTLS_ECP_DP_NONE,
};

enum tls_state { TLS_HANDSHAKE, TLS_OPEN, TLS_CLOSING };

struct tls_conn {
	mbedtls_ssl_context ssl;
	int fd;
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_timer;
	struct evbuffer *in;
	struct evbuffer *out;
	const struct tls_conn_callbacks *cb;
	void *arg;
	enum tls_state state;
	bool reading;
	bool notified;       /* on_close called (or freed by the owner) */
	bool dead;           /* free once no callback is running */
	bool drained_armed;  /* something was queued since the last on_drained */
	bool releasing;      /* tls_conn_release: let go of the loop when idle */
	void (*release_fn)(struct tls_conn *conn, void *arg);
	void *release_arg;
	int busy;
	/* mbedtls must be called again with the same length after WANT_WRITE:
	 * it then reports that length as written, whatever is passed. */
	size_t write_retry_len;
	/* the peer's certificate while its key is swapped for a prepared copy */
	mbedtls_x509_crt *peer_swapped;
	mbedtls_pk_context peer_key;
	char peer[96];
	char reason[160];
};

static struct tls_config *config_new(int endpoint)
{
	struct tls_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	mbedtls_ssl_config_init(&cfg->conf);
	if (mbedtls_ssl_config_defaults(&cfg->conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
					MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		tls_config_free(cfg);
		return NULL;
	}
	mbedtls_ssl_conf_rng(&cfg->conf, mbedtls_ctr_drbg_random, pki_rng());
	mbedtls_ssl_conf_min_version(&cfg->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&cfg->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&cfg->conf, tls_ciphersuites);
	mbedtls_ssl_conf_curves(&cfg->conf, tls_curves);
	mbedtls_ssl_conf_renegotiation(&cfg->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	return cfg;
}

struct tls_config *tls_config_server(mbedtls_x509_crt *chain, mbedtls_pk_context *key,
				     mbedtls_x509_crt *client_ca)
{
	struct tls_config *cfg = config_new(MBEDTLS_SSL_IS_SERVER);

	if (cfg == NULL)
		return NULL;
	if (mbedtls_ssl_conf_own_cert(&cfg->conf, chain, key) != 0) {
		tls_config_free(cfg);
		return NULL;
	}
	if (client_ca != NULL) {
		mbedtls_ssl_conf_ca_chain(&cfg->conf, client_ca, NULL);
		mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	} else {
		mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_NONE);
	}
	return cfg;
}

struct tls_config *tls_config_client(mbedtls_x509_crt *ca, mbedtls_x509_crt *own_cert,
				     mbedtls_pk_context *own_key)
{
	struct tls_config *cfg = config_new(MBEDTLS_SSL_IS_CLIENT);

	if (cfg == NULL)
		return NULL;
	if (ca != NULL) {
		mbedtls_ssl_conf_ca_chain(&cfg->conf, ca, NULL);
		mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	} else {
		mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_NONE);
	}
	if (own_cert != NULL && own_key != NULL &&
	    mbedtls_ssl_conf_own_cert(&cfg->conf, own_cert, own_key) != 0) {
		tls_config_free(cfg);
		return NULL;
	}
	return cfg;
}

void tls_config_session_tickets(struct tls_config *cfg, mbedtls_ssl_ticket_write_t *write,
				mbedtls_ssl_ticket_parse_t *parse, void *arg)
{
	mbedtls_ssl_conf_session_tickets_cb(&cfg->conf, write, parse, arg);
}

void tls_config_free(struct tls_config *cfg)
{
	if (cfg == NULL)
		return;
	mbedtls_ssl_config_free(&cfg->conf);
	free(cfg);
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_conn *conn = ctx;
	ssize_t n = send(conn->fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	if (errno == EPIPE || errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_conn *conn = ctx;
	ssize_t n = recv(conn->fd, buf, len, 0);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

static void conn_events_free(struct tls_conn *conn);

static void conn_destroy(struct tls_conn *conn)
{
	conn_events_free(conn);
	mbedtls_pk_free(&conn->peer_key);   /* its certificate frees the copy */
	if (conn->in != NULL)
		evbuffer_free(conn->in);
	if (conn->out != NULL)
		evbuffer_free(conn->out);
	mbedtls_ssl_free(&conn->ssl);
	if (conn->fd >= 0)
		close(conn->fd);
	free(conn);
}

static void conn_events_del(struct tls_conn *conn)
{
	if (conn->ev_read != NULL)
		event_del(conn->ev_read);
	if (conn->ev_write != NULL)
		event_del(conn->ev_write);
	if (conn->ev_timer != NULL)
		event_del(conn->ev_timer);
}

static void conn_events_free(struct tls_conn *conn)
{
	if (conn->ev_read != NULL)
		event_free(conn->ev_read);
	if (conn->ev_write != NULL)
		event_free(conn->ev_write);
	if (conn->ev_timer != NULL)
		event_free(conn->ev_timer);
	conn->ev_read = conn->ev_write = conn->ev_timer = NULL;
}

/* Reports the end once; the memory goes when the outermost callback returns. */
static void conn_finish(struct tls_conn *conn, const char *reason)
{
	if (conn->notified)
		return;
	conn->notified = true;
	conn->dead = true;
	conn_events_del(conn);
	if (conn->cb->on_close != NULL)
		conn->cb->on_close(conn, reason, conn->arg);
}

static void conn_fail_code(struct tls_conn *conn, const char *what, int code)
{
	char msg[160], err[100];

	if (code == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || code == MBEDTLS_ERR_SSL_CONN_EOF || code == 0) {
		conn_finish(conn, conn->state == TLS_HANDSHAKE ? "peer closed during tls handshake"
							       : "peer closed the connection");
		return;
	}
	if (code == MBEDTLS_ERR_NET_CONN_RESET) {
		conn_finish(conn, "connection reset by peer");
		return;
	}
	snprintf(msg, sizeof(msg), "%s: %s", what, pki_strerror(code, err, sizeof(err)));
	conn_finish(conn, msg);
}

/* Hands queued plaintext to mbedtls. Returns 0, or -1 after failing the conn. */
static int conn_flush(struct tls_conn *conn)
{
	while (evbuffer_get_length(conn->out) > 0) {
		size_t n = evbuffer_get_length(conn->out);
		unsigned char *p;
		int r;

		if (n > TLS_READ_CHUNK)
			n = TLS_READ_CHUNK;
		if (conn->write_retry_len != 0)
			n = conn->write_retry_len;
		p = evbuffer_pullup(conn->out, (ssize_t)n);
		r = mbedtls_ssl_write(&conn->ssl, p, n);
		if (r > 0) {
			conn->write_retry_len = 0;
			evbuffer_drain(conn->out, (size_t)r);
			continue;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ) {
			conn->write_retry_len = n;
			if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
				event_add(conn->ev_write, NULL);
			return 0;
		}
		conn_fail_code(conn, "tls write", r);
		return -1;
	}
	if (conn->drained_armed && evbuffer_get_length(conn->out) == 0) {
		conn->drained_armed = false;
		if (conn->cb->on_drained != NULL && conn->state == TLS_OPEN)
			conn->cb->on_drained(conn, conn->arg);
	}
	return 0;
}

static void conn_read(struct tls_conn *conn)
{
	unsigned char buf[TLS_READ_CHUNK];
	size_t got = 0;

	while (conn->reading && conn->state == TLS_OPEN && !conn->dead) {
		int r = mbedtls_ssl_read(&conn->ssl, buf, sizeof(buf));

		if (r > 0) {
			evbuffer_add(conn->in, buf, (size_t)r);
			got += (size_t)r;
			if (got >= TLS_READ_BUDGET) {
				/* Come back on the next loop turn for the rest. */
				event_active(conn->ev_read, EV_READ, 0);
				break;
			}
			continue;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_READ)
			break;
		if (r == MBEDTLS_ERR_SSL_WANT_WRITE) {
			event_add(conn->ev_write, NULL);
			break;
		}
		if (got > 0 && conn->cb->on_read != NULL)
			conn->cb->on_read(conn, conn->in, conn->arg);
		if (!conn->dead)
			conn_fail_code(conn, "tls read", r);
		return;
	}
	if (got > 0 && conn->cb->on_read != NULL)
		conn->cb->on_read(conn, conn->in, conn->arg);
}

/* The peer's key signs the handshake (a server its key exchange, a client
 * its CertificateVerify), and mbedtls checks that signature with the generic
 * EC key it parsed, which builds the curve's table for that one use. From
 * the parsed certificate to the end of the signatures the certificate holds
 * a prepared copy instead (pki_key_signer); its own key goes back before
 * anything else reads the certificate. mbedtls 2.28's context fields are
 * public; session_negotiate->peer_cert is the certificate just parsed. */
static void handshake_swap_peer_key(struct tls_conn *conn)
{
	mbedtls_x509_crt *peer = conn->ssl.session_negotiate != NULL ?
					 conn->ssl.session_negotiate->peer_cert : NULL;
	mbedtls_pk_context prepared;

	if (peer == NULL || conn->peer_swapped != NULL)
		return;
	mbedtls_pk_init(&prepared);
	if (pki_key_signer(&prepared, &peer->pk) != 0)
		return;   /* not an EC key: mbedtls checks it the slow way */
	conn->peer_key = peer->pk;
	peer->pk = prepared;
	conn->peer_swapped = peer;
}

static void handshake_restore_peer_key(struct tls_conn *conn)
{
	if (conn->peer_swapped == NULL)
		return;
	mbedtls_pk_free(&conn->peer_swapped->pk);
	conn->peer_swapped->pk = conn->peer_key;
	mbedtls_pk_init(&conn->peer_key);
	conn->peer_swapped = NULL;
}

/* mbedtls_ssl_handshake is this loop; stepping it ourselves lets the peer's
 * key be swapped right after its certificate is parsed (only then: a client
 * resuming a session holds the old certificate, which a full handshake
 * replaces) and put back once both signatures are checked. */
static int conn_handshake(struct tls_conn *conn)
{
	mbedtls_ssl_context *ssl = &conn->ssl;
	int peer_certificate = ssl->conf->endpoint == MBEDTLS_SSL_IS_CLIENT ?
				       MBEDTLS_SSL_SERVER_CERTIFICATE : MBEDTLS_SSL_CLIENT_CERTIFICATE;
	int r = 0;

	while (ssl->state != MBEDTLS_SSL_HANDSHAKE_OVER) {
		int before = ssl->state;

		r = mbedtls_ssl_handshake_step(ssl);
		if (r != 0)
			break;
		if (before == peer_certificate && ssl->state != before)
			handshake_swap_peer_key(conn);
		else if (ssl->state == MBEDTLS_SSL_CLIENT_CHANGE_CIPHER_SPEC)
			handshake_restore_peer_key(conn);
	}
	if (r == 0)
		handshake_restore_peer_key(conn);
	return r;
}

static void conn_step(struct tls_conn *conn)
{
	if (conn->state == TLS_HANDSHAKE) {
		int r = conn_handshake(conn);

		if (r == MBEDTLS_ERR_SSL_WANT_READ)
			return;
		if (r == MBEDTLS_ERR_SSL_WANT_WRITE) {
			event_add(conn->ev_write, NULL);
			return;
		}
		if (r != 0) {
			conn_fail_code(conn, "tls handshake", r);
			return;
		}
		conn->state = TLS_OPEN;
		event_del(conn->ev_timer);
		if (conn->cb->on_ready != NULL)
			conn->cb->on_ready(conn, conn->arg);
		if (conn->dead || conn->releasing)
			return;
	}
	if (conn_flush(conn) != 0 || conn->dead)
		return;
	if (conn->state == TLS_OPEN) {
		conn_read(conn);
		return;
	}
	/* TLS_CLOSING: everything queued is out; say goodbye. */
	if (evbuffer_get_length(conn->out) == 0) {
		int r = mbedtls_ssl_close_notify(&conn->ssl);
		if (r == MBEDTLS_ERR_SSL_WANT_WRITE) {
			event_add(conn->ev_write, NULL);
			return;
		}
		conn_finish(conn, conn->reason);
	}
}

static void conn_event(evutil_socket_t fd, short what, void *arg)
{
	struct tls_conn *conn = arg;

	conn->busy++;
	if (what & EV_TIMEOUT)
		conn_finish(conn, conn->state == TLS_HANDSHAKE ? "tls handshake timed out"
							      : conn->reason);
	else
		conn_step(conn);
	conn->busy--;
	if (conn->dead && conn->busy == 0)
		conn_destroy(conn);
	else if (conn->releasing && conn->busy == 0) {
		/* Nothing of this loop may stay attached to the conn. */
		conn_events_free(conn);
		conn->releasing = false;
		conn->release_fn(conn, conn->release_arg);
	}
}

struct tls_conn *tls_conn_new(struct event_base *base, int fd, struct tls_config *cfg,
			      bool is_server, const char *expected_name,
			      int handshake_timeout_ms,
			      const struct tls_conn_callbacks *cb, void *arg)
{
	struct tls_conn *conn = calloc(1, sizeof(*conn));
	struct timeval tv;

	if (conn == NULL) {
		close(fd);
		return NULL;
	}
	conn->fd = fd;
	conn->cb = cb;
	conn->arg = arg;
	conn->reading = true;
	mbedtls_pk_init(&conn->peer_key);
	mbedtls_ssl_init(&conn->ssl);
	if (mbedtls_ssl_setup(&conn->ssl, &cfg->conf) != 0)
		goto fail;
	if (!is_server && expected_name != NULL &&
	    mbedtls_ssl_set_hostname(&conn->ssl, expected_name) != 0)
		goto fail;
	mbedtls_ssl_set_bio(&conn->ssl, conn, bio_send, bio_recv, NULL);
	conn->in = evbuffer_new();
	conn->out = evbuffer_new();
	conn->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, conn_event, conn);
	conn->ev_write = event_new(base, fd, EV_WRITE, conn_event, conn);
	conn->ev_timer = event_new(base, -1, 0, conn_event, conn);
	if (conn->in == NULL || conn->out == NULL || conn->ev_read == NULL ||
	    conn->ev_write == NULL || conn->ev_timer == NULL)
		goto fail;
	snprintf(conn->peer, sizeof(conn->peer), "fd %d", fd);
	tv.tv_sec = handshake_timeout_ms / 1000;
	tv.tv_usec = (handshake_timeout_ms % 1000) * 1000;
	event_add(conn->ev_timer, &tv);
	event_add(conn->ev_read, NULL);
	/* A client speaks first; a server may already have the ClientHello. */
	event_active(conn->ev_write, EV_WRITE, 0);
	return conn;
fail:
	conn_destroy(conn);
	return NULL;
}

void tls_conn_free(struct tls_conn *conn)
{
	if (conn == NULL)
		return;
	conn->notified = true;
	conn->dead = true;
	if (conn->busy == 0)
		conn_destroy(conn);
	else
		conn_events_del(conn);
}

int tls_conn_write(struct tls_conn *conn, const void *data, size_t len)
{
	if (conn->dead || conn->state == TLS_CLOSING)
		return -1;
	if (evbuffer_add(conn->out, data, len) != 0)
		return -1;
	if (evbuffer_get_length(conn->out) > 0)
		conn->drained_armed = true;
	/* Sent from the loop, never from inside the caller's stack. */
	if (conn->state == TLS_OPEN && conn->ev_write != NULL)
		event_active(conn->ev_write, EV_WRITE, 0);
	return 0;
}

void tls_conn_set_reading(struct tls_conn *conn, bool on)
{
	if (conn->dead || conn->state == TLS_CLOSING || conn->reading == on ||
	    conn->ev_read == NULL)
		return;
	conn->reading = on;
	if (!on) {
		event_del(conn->ev_read);
		return;
	}
	event_add(conn->ev_read, NULL);
	/* mbedtls may hold a record it read before the pause. */
	event_active(conn->ev_read, EV_READ, 0);
}

size_t tls_conn_pending(const struct tls_conn *conn)
{
	return evbuffer_get_length(conn->out);
}

void tls_conn_close_after_flush(struct tls_conn *conn, const char *reason)
{
	struct timeval tv = {TLS_CLOSE_TIMEOUT_MS / 1000, 0};

	if (conn->dead || conn->state == TLS_CLOSING)
		return;
	snprintf(conn->reason, sizeof(conn->reason), "%s", reason);
	if (conn->state == TLS_HANDSHAKE) {
		/* Nothing was said yet; there is nothing to flush. */
		conn->state = TLS_CLOSING;
		event_del(conn->ev_timer);
		tv.tv_sec = 0;
		event_add(conn->ev_timer, &tv);
		return;
	}
	conn->state = TLS_CLOSING;
	conn->reading = false;
	event_del(conn->ev_read);
	event_add(conn->ev_timer, &tv);
	event_active(conn->ev_write, EV_WRITE, 0);
}

const mbedtls_x509_crt *tls_conn_peer_cert(const struct tls_conn *conn)
{
	return mbedtls_ssl_get_peer_cert(&conn->ssl);
}

uint32_t tls_conn_verify_result(const struct tls_conn *conn)
{
	return mbedtls_ssl_get_verify_result(&conn->ssl);
}

const char *tls_conn_peer_name(const struct tls_conn *conn)
{
	return conn->peer;
}

void tls_conn_set_peer_name(struct tls_conn *conn, const char *name)
{
	snprintf(conn->peer, sizeof(conn->peer), "%s", name);
}

const char *tls_verify_reason(uint32_t flags, char *buf, size_t size)
{
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		snprintf(buf, size, "certificate not issued by this tower's ca");
	else if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		snprintf(buf, size, "certificate expired");
	else if (flags & MBEDTLS_X509_BADCERT_FUTURE)
		snprintf(buf, size, "certificate not yet valid");
	else if (flags & MBEDTLS_X509_BADCERT_REVOKED)
		snprintf(buf, size, "certificate revoked");
	else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		snprintf(buf, size, "certificate name mismatch");
	else if (flags != 0)
		snprintf(buf, size, "certificate rejected (flags 0x%x)", (unsigned)flags);
	else
		snprintf(buf, size, "certificate ok");
	return buf;
}

int tls_conn_fd(const struct tls_conn *conn)
{
	return conn->fd;
}

/* session serialized into a heap buffer of *len bytes, or NULL. */
static uint8_t *session_serialize(const mbedtls_ssl_session *session, size_t *len)
{
	uint8_t *buf;
	size_t need = 0;

	if (mbedtls_ssl_session_save(session, NULL, 0, &need) != MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL ||
	    need == 0 || (buf = malloc(need)) == NULL)
		return NULL;
	if (mbedtls_ssl_session_save(session, buf, need, len) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

uint8_t *tls_conn_save_session(const struct tls_conn *conn, size_t *len)
{
	mbedtls_ssl_session session;
	uint8_t *buf = NULL;

	mbedtls_ssl_session_init(&session);
	if (mbedtls_ssl_get_session(&conn->ssl, &session) == 0)
		buf = session_serialize(&session, len);
	mbedtls_ssl_session_free(&session);
	return buf;
}

/* A deep copy of a session through its serialized form (mbedtls has no
 * public copy for the server side). 0 or -1. */
static int session_copy(mbedtls_ssl_session *dst, const mbedtls_ssl_session *src)
{
	size_t len = 0;
	uint8_t *buf = session_serialize(src, &len);
	int rc = -1;

	if (buf == NULL)
		return -1;
	if (mbedtls_ssl_session_load(dst, buf, len) == 0)
		rc = 0;
	mbedtls_platform_zeroize(buf, len);   /* it holds the master secret */
	free(buf);
	return rc;
}

int tls_conn_ticket_for_peer(struct tls_conn *conn, const unsigned char *cert_der, size_t der_len,
			     unsigned char *out, size_t size, size_t *len, uint32_t *lifetime)
{
	const mbedtls_ssl_config *conf = conn->ssl.conf;
	mbedtls_ssl_session session;
	mbedtls_x509_crt *peer;
	int rc = -1;

	if (conf == NULL || conf->f_ticket_write == NULL || conn->ssl.session == NULL ||
	    conn->state != TLS_OPEN)
		return -1;
	mbedtls_ssl_session_init(&session);
	if (session_copy(&session, conn->ssl.session) != 0)
		goto out;
	peer = calloc(1, sizeof(*peer));
	if (peer == NULL)
		goto out;
	mbedtls_x509_crt_init(peer);
	if (mbedtls_x509_crt_parse_der(peer, cert_der, der_len) != 0) {
		mbedtls_x509_crt_free(peer);
		free(peer);
		goto out;
	}
	if (session.peer_cert != NULL) {
		mbedtls_x509_crt_free(session.peer_cert);
		free(session.peer_cert);
	}
	session.peer_cert = peer;
	session.verify_result = 0;   /* the CA issued it a moment ago */
	if (conf->f_ticket_write(conf->p_ticket, &session, out, out + size, len, lifetime) == 0)
		rc = 0;
out:
	mbedtls_ssl_session_free(&session);
	return rc;
}

uint8_t *tls_conn_save_session_with_ticket(const struct tls_conn *conn, const uint8_t *ticket,
					   size_t ticket_len, uint32_t lifetime, size_t *len)
{
	mbedtls_ssl_session session;
	uint8_t *buf = NULL;

	mbedtls_ssl_session_init(&session);
	if (ticket_len == 0 || mbedtls_ssl_get_session(&conn->ssl, &session) != 0)
		goto out;
	free(session.ticket);
	session.ticket = malloc(ticket_len);
	session.ticket_len = 0;
	if (session.ticket == NULL)
		goto out;
	memcpy(session.ticket, ticket, ticket_len);
	session.ticket_len = ticket_len;
	session.ticket_lifetime = lifetime;
	buf = session_serialize(&session, len);
out:
	mbedtls_ssl_session_free(&session);
	return buf;
}

int tls_conn_offer_session(struct tls_conn *conn, const uint8_t *data, size_t len)
{
	mbedtls_ssl_session session;
	int rc = -1;

	mbedtls_ssl_session_init(&session);
	if (mbedtls_ssl_session_load(&session, data, len) == 0 &&
	    mbedtls_ssl_set_session(&conn->ssl, &session) == 0)
		rc = 0;
	mbedtls_ssl_session_free(&session);
	return rc;
}

void tls_conn_release(struct tls_conn *conn, void (*fn)(struct tls_conn *conn, void *arg),
		      void *arg)
{
	conn->releasing = true;
	conn->release_fn = fn;
	conn->release_arg = arg;
	conn_events_del(conn);
}

void tls_conn_set_callbacks(struct tls_conn *conn, const struct tls_conn_callbacks *cb, void *arg)
{
	conn->cb = cb;
	conn->arg = arg;
}

int tls_conn_adopt(struct tls_conn *conn, struct event_base *base,
		   const struct tls_conn_callbacks *cb, void *arg)
{
	conn->cb = cb;
	conn->arg = arg;
	conn->ev_read = event_new(base, conn->fd, EV_READ | EV_PERSIST, conn_event, conn);
	conn->ev_write = event_new(base, conn->fd, EV_WRITE, conn_event, conn);
	conn->ev_timer = event_new(base, -1, 0, conn_event, conn);
	if (conn->ev_read == NULL || conn->ev_write == NULL || conn->ev_timer == NULL) {
		conn_events_free(conn);
		return -1;
	}
	event_add(conn->ev_read, NULL);
	/* Flushes what was queued and reads what mbedtls already holds. */
	event_active(conn->ev_write, EV_WRITE, 0);
	return 0;
}
