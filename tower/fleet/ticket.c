/* ticket.c — seals and opens TLS session tickets with AES-256-GCM keys kept
 * in a 0600 file in the state dir and rotated by age, or installed from the
 * database (ticket_share.c). Owns the keys in memory and the ticket format;
 * the TLS handshake is mbedtls', the config tls.c's. */
#include "tower/fleet/ticket.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <mbedtls/ssl.h>

#include "shared/log.h"
#include "shared/tls.h"
#include "shared/util.h"

#define TICKET_NAME_LEN TICKET_KEY_NAME_LEN
#define TICKET_IV_LEN 12
#define TICKET_TIME_LEN 8
#define TICKET_TAG_LEN 16
#define TICKET_HEAD_LEN (TICKET_NAME_LEN + TICKET_IV_LEN + TICKET_TIME_LEN)
/* A clock a little behind the sealer's must not refuse a fresh ticket. */
#define TICKET_SKEW_S 60

struct ticket_key {
	uint8_t name[TICKET_NAME_LEN];
	uint8_t key[TICKET_KEY_LEN];
	int64_t created;
	mbedtls_gcm_context gcm;
	bool set;
};

/* keys[0] seals; keys[1] (the previous one) only opens. The GCM contexts
 * are not reentrant, so one lock guards them: sealing costs microseconds. */
struct ticket_keys {
	pthread_mutex_t lock;
	char path[4096];	/* "" for shared keys: no file, no rotation here */
	bool shared;
	int64_t rotate_s;
	struct ticket_key keys[2];
	uint64_t opened;
	int unknown_seen;	/* atomic: a ticket named a key not held */
};

static void key_clear(struct ticket_key *k)
{
	if (k->set)
		mbedtls_gcm_free(&k->gcm);
	memset(k, 0, sizeof(*k));
}

static int key_arm(struct ticket_key *k)
{
	mbedtls_gcm_init(&k->gcm);
	if (mbedtls_gcm_setkey(&k->gcm, MBEDTLS_CIPHER_ID_AES, k->key, TICKET_KEY_LEN * 8) != 0) {
		mbedtls_gcm_free(&k->gcm);
		return -1;
	}
	k->set = true;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2 * len lower-case hex digits. */
static int hex_decode(const char *hex, uint8_t *out, size_t len)
{
	if (strlen(hex) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* One key per line, newest first: "<created> <name hex> <key hex>". */
static int keys_load(struct ticket_keys *tk, char *err, size_t err_size)
{
	size_t len;
	char *text = util_read_file(tk->path, 4096, &len), *line, *save = NULL;
	int n = 0;

	if (text == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, err_size, "cannot read %s: %s", tk->path, strerror(errno));
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL && n < 2;
	     line = strtok_r(NULL, "\n", &save)) {
		struct ticket_key *k = &tk->keys[n];
		char name[2 * TICKET_NAME_LEN + 2], key[2 * TICKET_KEY_LEN + 2];
		long long created;

		/* one character more than allowed, so too long is seen */
		if (sscanf(line, "%lld %9s %65s", &created, name, key) != 3 ||
		    hex_decode(name, k->name, TICKET_NAME_LEN) != 0 ||
		    hex_decode(key, k->key, TICKET_KEY_LEN) != 0 || key_arm(k) != 0) {
			memset(k, 0, sizeof(*k));
			snprintf(err, err_size, "%s: line %d is not \"<created> <name> <key>\"", tk->path,
				 n + 1);
			free(text);
			return -1;
		}
		k->created = created;
		n++;
	}
	explicit_bzero(text, len);
	free(text);
	return 0;
}

static int keys_save(struct ticket_keys *tk)
{
	char text[2 * (32 + 2 * TICKET_NAME_LEN + 2 * TICKET_KEY_LEN)], *p = text;
	int rc;

	for (int i = 0; i < 2; i++) {
		char name[2 * TICKET_NAME_LEN + 1], key[2 * TICKET_KEY_LEN + 1];
		if (!tk->keys[i].set)
			continue;
		util_hex(tk->keys[i].name, TICKET_NAME_LEN, name);
		util_hex(tk->keys[i].key, TICKET_KEY_LEN, key);
		p += snprintf(p, sizeof(text) - (size_t)(p - text), "%lld %s %s\n",
			      (long long)tk->keys[i].created, name, key);
		explicit_bzero(key, sizeof(key));
	}
	rc = util_write_file(tk->path, text, (size_t)(p - text), 0600);
	explicit_bzero(text, sizeof(text));
	return rc;
}

/* The newest key becomes the previous one; called with the lock held. */
static int keys_rotate(struct ticket_keys *tk, int64_t now)
{
	struct ticket_key fresh = {0};

	if (util_random(fresh.name, sizeof(fresh.name)) != 0 ||
	    util_random(fresh.key, sizeof(fresh.key)) != 0 || key_arm(&fresh) != 0)
		return -1;
	fresh.created = now;
	key_clear(&tk->keys[1]);
	tk->keys[1] = tk->keys[0];
	tk->keys[0] = fresh;
	explicit_bzero(&fresh, sizeof(fresh));
	if (keys_save(tk) != 0) {
		log_error("cannot write %s: %s", tk->path, strerror(errno));
		return -1;
	}
	log_info("session ticket key rotated (%s)", tk->path);
	return 0;
}

struct ticket_keys *ticket_keys_open(const char *path, int64_t rotate_s, char *err,
				     size_t err_size)
{
	struct ticket_keys *tk = calloc(1, sizeof(*tk));
	int64_t now = util_now();

	if (tk == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&tk->lock, NULL);
	snprintf(tk->path, sizeof(tk->path), "%s", path);
	tk->rotate_s = rotate_s;
	if (keys_load(tk, err, err_size) != 0)
		goto fail;
	if ((!tk->keys[0].set || now - tk->keys[0].created >= rotate_s ||
	     tk->keys[0].created > now + TICKET_SKEW_S) && keys_rotate(tk, now) != 0) {
		snprintf(err, err_size, "cannot create a session ticket key in %s", path);
		goto fail;
	}
	return tk;
fail:
	ticket_keys_free(tk);
	return NULL;
}

struct ticket_keys *ticket_keys_new_shared(int64_t rotate_s, char *err, size_t err_size)
{
	struct ticket_keys *tk = calloc(1, sizeof(*tk));

	if (tk == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&tk->lock, NULL);
	tk->shared = true;
	tk->rotate_s = rotate_s;
	return tk;
}

static int key_from_material(struct ticket_key *k, const struct ticket_key_material *m)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->name, m->name, TICKET_NAME_LEN);
	memcpy(k->key, m->key, TICKET_KEY_LEN);
	if (key_arm(k) != 0) {
		explicit_bzero(k, sizeof(*k));
		return -1;
	}
	return 0;
}

static bool key_is(const struct ticket_key *k, const struct ticket_key_material *m)
{
	if (m == NULL)
		return !k->set;
	return k->set && memcmp(k->name, m->name, TICKET_NAME_LEN) == 0 &&
	       util_consttime_cmp(k->key, m->key, TICKET_KEY_LEN) == 0;
}

int ticket_keys_install(struct ticket_keys *tk, const struct ticket_key_material *newest,
			const struct ticket_key_material *previous)
{
	struct ticket_key fresh[2];
	int rc = 0;

	memset(fresh, 0, sizeof(fresh));
	if (!tk->shared)
		return -1;
	/* A previous key without a newest one moves up: it seals again. */
	if (newest == NULL) {
		newest = previous;
		previous = NULL;
	}
	pthread_mutex_lock(&tk->lock);
	/* The same keys every sync: nothing to arm again. */
	if (key_is(&tk->keys[0], newest) && key_is(&tk->keys[1], previous)) {
		pthread_mutex_unlock(&tk->lock);
		return 0;
	}
	pthread_mutex_unlock(&tk->lock);
	/* Armed outside the lock, swapped in under it. */
	if ((newest != NULL && key_from_material(&fresh[0], newest) != 0) ||
	    (previous != NULL && key_from_material(&fresh[1], previous) != 0)) {
		key_clear(&fresh[0]);
		key_clear(&fresh[1]);
		rc = -1;
	}
	pthread_mutex_lock(&tk->lock);
	for (int i = 0; i < 2; i++) {
		key_clear(&tk->keys[i]);
		if (rc == 0)
			tk->keys[i] = fresh[i];
	}
	pthread_mutex_unlock(&tk->lock);
	explicit_bzero(fresh, sizeof(fresh));
	return rc;
}

bool ticket_keys_take_unknown(struct ticket_keys *tk)
{
	return __atomic_exchange_n(&tk->unknown_seen, 0, __ATOMIC_RELAXED) != 0;
}

void ticket_keys_free(struct ticket_keys *tk)
{
	if (tk == NULL)
		return;
	key_clear(&tk->keys[0]);
	key_clear(&tk->keys[1]);
	pthread_mutex_destroy(&tk->lock);
	free(tk);
}

static void put_be64(uint8_t *p, int64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static int64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

/* name | iv | issued (big-endian seconds) | sealed session | tag; the
 * first three are authenticated as additional data. */
int ticket_seal(void *arg, const mbedtls_ssl_session *session, unsigned char *start,
			const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
	struct ticket_keys *tk = arg;
	size_t room = (size_t)(end - start), clear_len = 0;
	int64_t now = util_now();
	unsigned char *clear = start + TICKET_HEAD_LEN;
	int rc = MBEDTLS_ERR_SSL_INTERNAL_ERROR;

	if (room < TICKET_HEAD_LEN + TICKET_TAG_LEN ||
	    mbedtls_ssl_session_save(session, clear, room - TICKET_HEAD_LEN - TICKET_TAG_LEN,
				     &clear_len) != 0)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	if (util_random(start + TICKET_NAME_LEN, TICKET_IV_LEN) != 0)
		return rc;
	put_be64(start + TICKET_NAME_LEN + TICKET_IV_LEN, now);
	pthread_mutex_lock(&tk->lock);
	if (!tk->shared && now - tk->keys[0].created >= tk->rotate_s)
		keys_rotate(tk, now);
	memcpy(start, tk->keys[0].name, TICKET_NAME_LEN);
	if (tk->keys[0].set &&
	    mbedtls_gcm_crypt_and_tag(&tk->keys[0].gcm, MBEDTLS_GCM_ENCRYPT, clear_len,
				      start + TICKET_NAME_LEN, TICKET_IV_LEN, start,
				      TICKET_HEAD_LEN, clear, clear, TICKET_TAG_LEN,
				      clear + clear_len) == 0)
		rc = 0;
	pthread_mutex_unlock(&tk->lock);
	*tlen = TICKET_HEAD_LEN + clear_len + TICKET_TAG_LEN;
	*lifetime = (uint32_t)tk->rotate_s;
	return rc;
}

int ticket_open(void *arg, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
	struct ticket_keys *tk = arg;
	int64_t issued, now = util_now();
	size_t clear_len;
	int rc = MBEDTLS_ERR_SSL_INVALID_MAC, i;

	if (len < TICKET_HEAD_LEN + TICKET_TAG_LEN)
		return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
	clear_len = len - TICKET_HEAD_LEN - TICKET_TAG_LEN;
	issued = get_be64(buf + TICKET_NAME_LEN + TICKET_IV_LEN);
	pthread_mutex_lock(&tk->lock);
	for (i = 0; i < 2; i++) {
		struct ticket_key *k = &tk->keys[i];
		if (!k->set || memcmp(k->name, buf, TICKET_NAME_LEN) != 0)
			continue;
		if (mbedtls_gcm_auth_decrypt(&k->gcm, clear_len, buf + TICKET_NAME_LEN,
					     TICKET_IV_LEN, buf, TICKET_HEAD_LEN,
					     buf + TICKET_HEAD_LEN + clear_len, TICKET_TAG_LEN,
					     buf + TICKET_HEAD_LEN, buf + TICKET_HEAD_LEN) == 0)
			rc = 0;
		break;
	}
	pthread_mutex_unlock(&tk->lock);
	/* A key another replica made since this one last read the database:
	 * the owner of the keys reads again (never here, on a TLS worker). */
	if (i == 2 && tk->shared)
		__atomic_store_n(&tk->unknown_seen, 1, __ATOMIC_RELAXED);
	if (rc != 0)
		return rc;
	/* Checked only once authentic: the time is the sealer's own. */
	if (issued > now + TICKET_SKEW_S || now - issued > tk->rotate_s)
		return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
	if (mbedtls_ssl_session_load(session, buf + TICKET_HEAD_LEN, clear_len) != 0)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	__atomic_add_fetch(&tk->opened, 1, __ATOMIC_RELAXED);
	return 0;
}

void ticket_keys_attach(struct ticket_keys *tk, struct tls_config *cfg)
{
	tls_config_session_tickets(cfg, ticket_seal, ticket_open, tk);
}

uint64_t ticket_keys_opened(struct ticket_keys *tk)
{
	return __atomic_load_n(&tk->opened, __ATOMIC_RELAXED);
}
