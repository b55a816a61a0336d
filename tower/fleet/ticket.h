/* ticket.h — TLS session tickets for the agent listener, sealed with keys
 * kept in the state dir (0600) so agents resume their sessions after a
 * restart, or given by the replicas' database (ticket_share.c). */
#ifndef OC_TICKET_H
#define OC_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ssl.h>

struct tls_config;
struct ticket_keys;

#define TICKET_KEY_NAME_LEN 4
#define TICKET_KEY_LEN 32

/* One key as it is shared: the name tickets carry, and the AES-256 key. */
struct ticket_key_material {
	uint8_t name[TICKET_KEY_NAME_LEN];
	uint8_t key[TICKET_KEY_LEN];
};

/* Loads the keys from path, creating the file (0600) when missing and
 * rotating when the newest key is rotate_s old or older: a new key seals from
 * then on, the previous one still opens tickets until they expire. A ticket
 * lives rotate_s. Returns NULL with a reason in err. */
struct ticket_keys *ticket_keys_open(const char *path, int64_t rotate_s, char *err,
				     size_t err_size);
/* Keys kept elsewhere (the database): none until ticket_keys_install, and
 * sealing never rotates (whoever installs does). Without a key no ticket
 * is issued and every ticket is refused: full handshakes. */
struct ticket_keys *ticket_keys_new_shared(int64_t rotate_s, char *err, size_t err_size);
/* Shared keys: newest seals from now on, previous (NULL: none) still
 * opens; both NULL drops every key. Safe while handshakes run on other
 * threads. 0, or -1 (the keys are then dropped). */
int ticket_keys_install(struct ticket_keys *tk, const struct ticket_key_material *newest,
			const struct ticket_key_material *previous);
/* True, once, when a ticket named a key tk does not hold since the last
 * call: another replica may have rotated (shared keys only). */
bool ticket_keys_take_unknown(struct ticket_keys *tk);
void ticket_keys_free(struct ticket_keys *tk);
/* The server config issues and accepts tickets sealed by tk (which must
 * outlive it). The callbacks may run on several threads at once. */
void ticket_keys_attach(struct ticket_keys *tk, struct tls_config *cfg);
/* The two mbedtls callbacks, public for tests and the fuzz target. A ticket
 * is key name (4) | IV (12) | issued, big-endian seconds (8) | session
 * sealed with AES-256-GCM | tag (16); the first three are authenticated too.
 * ticket_open refuses (mbedtls error codes) anything short, of an unknown
 * key, not authentic, older than its lifetime, or not a session. It may
 * write over buf. */
int ticket_seal(void *tk, const mbedtls_ssl_session *session, unsigned char *start,
		const unsigned char *end, size_t *tlen, uint32_t *lifetime);
int ticket_open(void *tk, mbedtls_ssl_session *session, unsigned char *buf, size_t len);
/* Tickets opened so far (sessions resumed), for /metrics and logs. */
uint64_t ticket_keys_opened(struct ticket_keys *tk);

#endif
