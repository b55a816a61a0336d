/* fuzz_ticket.c — libFuzzer target for ticket_open: arbitrary bytes as a
 * TLS session ticket from a client, against a fixed key, so the seed corpus
 * can hold tickets that pass authentication and reach the session loader. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ssl.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/fleet/ticket.h"

/* Fixed on purpose: tests/fuzz/corpus/fuzz_ticket/ holds tickets sealed
 * with it (made with FUZZ_TICKET_SEAL=FILE, see below). */
static const char fuzz_key_line[] =
	"1700000000 0a0b0c0d 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

static struct ticket_keys *fuzz_keys;
static char fuzz_dir[] = "/tmp/fuzz_ticket.XXXXXX";

static void fuzz_cleanup(void)
{
	ticket_keys_free(fuzz_keys);
	util_remove_tree(fuzz_dir);
}

static struct ticket_keys *fuzz_get_keys(void)
{
	char path[64], err[256];
	const char *seal_to;

	if (fuzz_keys != NULL)
		return fuzz_keys;
	log_set_level(OC_LOG_ERROR);
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/tickets.key", fuzz_dir);
	/* a rotation period of two centuries: the fixed key is never replaced */
	if (util_write_file(path, fuzz_key_line, strlen(fuzz_key_line), 0600) != 0)
		abort();
	fuzz_keys = ticket_keys_open(path, 200LL * 365 * 86400, err, sizeof(err));
	if (fuzz_keys == NULL) {
		fprintf(stderr, "fuzz_ticket: %s\n", err);
		abort();
	}
	atexit(fuzz_cleanup);
	seal_to = getenv("FUZZ_TICKET_SEAL");
	if (seal_to != NULL) {
		mbedtls_ssl_session s;
		unsigned char buf[4096];
		size_t len = 0;
		uint32_t lifetime;

		mbedtls_ssl_session_init(&s);
		s.ciphersuite = MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
		s.id_len = 32;
		if (ticket_seal(fuzz_keys, &s, buf, buf + sizeof(buf), &len, &lifetime) != 0 ||
		    util_write_file(seal_to, buf, len, 0644) != 0)
			abort();
		mbedtls_ssl_session_free(&s);
	}
	return fuzz_keys;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ticket_keys *tk = fuzz_get_keys();
	mbedtls_ssl_session s;
	unsigned char *copy = malloc(size ? size : 1);

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	mbedtls_ssl_session_init(&s);
	ticket_open(tk, &s, copy, size);
	mbedtls_ssl_session_free(&s);
	free(copy);
	return 0;
}
