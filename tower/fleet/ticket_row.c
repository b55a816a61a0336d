/* ticket_row.c — seals one ticket key into the text of its database row and
 * opens it again (the row is untrusted input): AES-256-GCM under the
 * key-encryption key, the generation authenticated with it. */
#include "tower/fleet/ticket_row.h"

#include <stdbool.h>
#include <string.h>

#include <mbedtls/gcm.h>

#include "shared/util.h"

#define ROW_VERSION 1
#define ROW_IV_LEN 12
#define ROW_TAG_LEN 16
#define ROW_CLEAR_LEN (TICKET_KEY_NAME_LEN + TICKET_KEY_LEN)
#define ROW_LEN (1 + ROW_IV_LEN + ROW_CLEAR_LEN + ROW_TAG_LEN)
/* What the tag covers besides the key: the row's purpose and generation. */
#define ROW_AAD_PREFIX "overcloud ticket key row"
#define ROW_AAD_LEN (sizeof(ROW_AAD_PREFIX) - 1 + 8)

_Static_assert(TICKET_ROW_TEXT_LEN == 2 * ROW_LEN, "row text is the hex of the row");

static void row_aad(int64_t generation, uint8_t aad[ROW_AAD_LEN])
{
	size_t n = sizeof(ROW_AAD_PREFIX) - 1;

	memcpy(aad, ROW_AAD_PREFIX, n);
	for (int i = 7; i >= 0; i--, generation >>= 8)
		aad[n + (size_t)i] = (uint8_t)generation;
}

/* One GCM operation with kek; mbedtls' context lives only for it. */
static int row_crypt(const uint8_t kek[TICKET_KEK_LEN], int64_t generation, bool seal,
		     const uint8_t *iv, const uint8_t *in, uint8_t *out, uint8_t *tag)
{
	mbedtls_gcm_context gcm;
	uint8_t aad[ROW_AAD_LEN];
	int rc;

	row_aad(generation, aad);
	mbedtls_gcm_init(&gcm);
	rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, kek, TICKET_KEK_LEN * 8);
	if (rc == 0 && seal)
		rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, ROW_CLEAR_LEN, iv,
					       ROW_IV_LEN, aad, sizeof(aad), in, out, ROW_TAG_LEN,
					       tag);
	else if (rc == 0)
		rc = mbedtls_gcm_auth_decrypt(&gcm, ROW_CLEAR_LEN, iv, ROW_IV_LEN, aad,
					      sizeof(aad), tag, ROW_TAG_LEN, in, out);
	mbedtls_gcm_free(&gcm);
	return rc == 0 ? 0 : -1;
}

int ticket_row_seal(const uint8_t kek[TICKET_KEK_LEN], int64_t generation,
		    const struct ticket_key_material *m, char *out, size_t out_size)
{
	uint8_t row[ROW_LEN], clear[ROW_CLEAR_LEN];
	int rc = -1;

	if (out_size < TICKET_ROW_TEXT_LEN + 1 || generation <= 0)
		return -1;
	row[0] = ROW_VERSION;
	memcpy(clear, m->name, TICKET_KEY_NAME_LEN);
	memcpy(clear + TICKET_KEY_NAME_LEN, m->key, TICKET_KEY_LEN);
	if (util_random(row + 1, ROW_IV_LEN) == 0 &&
	    row_crypt(kek, generation, true, row + 1, clear, row + 1 + ROW_IV_LEN,
		      row + 1 + ROW_IV_LEN + ROW_CLEAR_LEN) == 0) {
		util_hex(row, sizeof(row), out);
		rc = 0;
	}
	explicit_bzero(clear, sizeof(clear));
	return rc;
}

int ticket_row_open(const uint8_t kek[TICKET_KEK_LEN], int64_t generation, const char *text,
		    size_t len, struct ticket_key_material *out)
{
	uint8_t row[ROW_LEN], clear[ROW_CLEAR_LEN];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (text == NULL || len != TICKET_ROW_TEXT_LEN || generation <= 0)
		return -1;
	for (size_t i = 0; i < ROW_LEN; i++) {
		int hi = text[2 * i], lo = text[2 * i + 1];
		/* lower case only: the one spelling ticket_row_seal writes */
		if ((hi >= 'A' && hi <= 'F') || (lo >= 'A' && lo <= 'F') ||
		    util_hex_digit(hi) < 0 || util_hex_digit(lo) < 0)
			return -1;
		row[i] = (uint8_t)(util_hex_digit(hi) << 4 | util_hex_digit(lo));
	}
	if (row[0] != ROW_VERSION)
		return -1;
	if (row_crypt(kek, generation, false, row + 1, row + 1 + ROW_IV_LEN, clear,
		      row + 1 + ROW_IV_LEN + ROW_CLEAR_LEN) == 0) {
		memcpy(out->name, clear, TICKET_KEY_NAME_LEN);
		memcpy(out->key, clear + TICKET_KEY_NAME_LEN, TICKET_KEY_LEN);
		rc = 0;
	}
	explicit_bzero(clear, sizeof(clear));
	explicit_bzero(row, sizeof(row));
	return rc;
}
