/* tls.h — mbedtls on a libevent loop: TLS 1.2, ECDHE-ECDSA AEAD suites only,
 * server (optional client cert) and client configs, non-blocking connections. */
#ifndef OC_TLS_H
#define OC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

struct event_base;
struct evbuffer;
struct tls_config;
struct tls_conn;

/* A server config presenting chain/key. With client_ca set, clients may send
 * a certificate which is verified against it (the result is read with
 * tls_conn_verify_result; the handshake itself does not fail). The config
 * keeps pointers to the certs and key, which must outlive it. */
struct tls_config *tls_config_server(mbedtls_x509_crt *chain, mbedtls_pk_context *key,
				     mbedtls_x509_crt *client_ca);
/* A client config. With ca set, the server must present a chain to it for
 * CN/SAN expected_name; with ca NULL nothing is verified during the handshake
 * and the caller must check the peer itself (pinning) before trusting it.
 * own_cert/own_key may be NULL (no client certificate). */
struct tls_config *tls_config_client(mbedtls_x509_crt *ca, mbedtls_x509_crt *own_cert,
				     mbedtls_pk_context *own_key);
void tls_config_free(struct tls_config *cfg);
/* Server: issue and accept session tickets sealed by write/parse (see
 * tower/fleet/ticket.c), so a reconnecting client skips the public-key work. */
void tls_config_session_tickets(struct tls_config *cfg, mbedtls_ssl_ticket_write_t *write,
				mbedtls_ssl_ticket_parse_t *parse, void *arg);

struct tls_conn_callbacks {
	/* Handshake finished. */
	void (*on_ready)(struct tls_conn *conn, void *arg);
	/* New plaintext was appended to in. */
	void (*on_read)(struct tls_conn *conn, struct evbuffer *in, void *arg);
	/* Everything queued has been handed to the kernel (optional). */
	void (*on_drained)(struct tls_conn *conn, void *arg);
	/* The connection is gone (peer closed, error, timeout, or
	 * tls_conn_close_after_flush finished). reason is one lower-case line.
	 * The conn is freed right after this returns. */
	void (*on_close)(struct tls_conn *conn, const char *reason, void *arg);
};

/* Takes ownership of the connected non-blocking fd. expected_name is the
 * server name to verify (clients only, may be NULL). The handshake must end
 * within handshake_timeout_ms. Returns NULL (fd closed) on failure. */
struct tls_conn *tls_conn_new(struct event_base *base, int fd, struct tls_config *cfg,
			      bool is_server, const char *expected_name,
			      int handshake_timeout_ms,
			      const struct tls_conn_callbacks *cb, void *arg);
/* Frees now, without calling on_close. Safe to call from inside a callback. */
void tls_conn_free(struct tls_conn *conn);

/* Queues plaintext for sending. Returns 0, or -1 when the connection is
 * closing. */
int tls_conn_write(struct tls_conn *conn, const void *data, size_t len);
/* Stops (false) or resumes (true) reading from the peer, so a peer whose
 * answers pile up unsent is held back by TCP instead of by our memory.
 * A paused connection notices neither input nor the peer closing. */
void tls_conn_set_reading(struct tls_conn *conn, bool on);
/* Bytes queued and not yet handed to the kernel. */
size_t tls_conn_pending(const struct tls_conn *conn);
/* Sends what is queued, then close_notify, then closes and calls on_close
 * with reason. Nothing more is read. */
void tls_conn_close_after_flush(struct tls_conn *conn, const char *reason);

const mbedtls_x509_crt *tls_conn_peer_cert(const struct tls_conn *conn);
uint32_t tls_conn_verify_result(const struct tls_conn *conn);
/* "1.2.3.4:5678" of the peer, for log lines. */
const char *tls_conn_peer_name(const struct tls_conn *conn);
void tls_conn_set_peer_name(struct tls_conn *conn, const char *name);
int tls_conn_fd(const struct tls_conn *conn);

/* Client: the session of an open connection, serialized for a later
 * tls_conn_offer_session (a heap buffer the caller frees), or NULL. */
uint8_t *tls_conn_save_session(const struct tls_conn *conn, size_t *len);
/* Client, right after tls_conn_new: offer a saved session so the server may
 * resume it (abbreviated handshake). A session it does not take costs only a
 * full handshake. Returns 0, or -1 when the bytes are no session. */
int tls_conn_offer_session(struct tls_conn *conn, const uint8_t *data, size_t len);

/* Moving a connection to another thread's loop. Called from on_ready: once
 * the callback has returned, the connection lets go of its loop and fn runs
 * (still on the old loop's thread). Until tls_conn_adopt nothing may touch
 * the connection except tls_conn_free. */
void tls_conn_release(struct tls_conn *conn, void (*fn)(struct tls_conn *conn, void *arg),
		      void *arg);
/* Continues a released connection on base (call on base's thread) with new
 * callbacks; input that arrived meanwhile is read from the loop. 0 or -1. */
/* Server side, after the handshake: a session ticket for this connection's
 * session as if the peer had shown the certificate cert_der (an enrollment
 * that just issued it), sealed by the config's ticket callback. Only the
 * peer, which holds the session's master secret, can resume with it.
 * 0 with the ticket in out and its lifetime, or -1 (no tickets configured,
 * no room, a bad certificate). */
int tls_conn_ticket_for_peer(struct tls_conn *conn, const unsigned char *cert_der, size_t der_len,
			     unsigned char *out, size_t size, size_t *len, uint32_t *lifetime);
/* Client side: this connection's session serialized as tls_conn_save_session
 * does, but carrying ticket (from tls_conn_ticket_for_peer) instead of its
 * own. Heap, caller frees; NULL on failure. */
uint8_t *tls_conn_save_session_with_ticket(const struct tls_conn *conn, const uint8_t *ticket,
					   size_t ticket_len, uint32_t lifetime, size_t *len);
/* From now on cb and arg get the connection's events (same loop). */
void tls_conn_set_callbacks(struct tls_conn *conn, const struct tls_conn_callbacks *cb, void *arg);
int tls_conn_adopt(struct tls_conn *conn, struct event_base *base,
		   const struct tls_conn_callbacks *cb, void *arg);
/* Why certificate verification failed, as one short line, into buf. */
const char *tls_verify_reason(uint32_t flags, char *buf, size_t size);

#endif
