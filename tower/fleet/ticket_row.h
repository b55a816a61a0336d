/* ticket_row.h — one shared TLS session ticket key as the database keeps it:
 * sealed with AES-256-GCM under a key-encryption key, as lower-case hex. */
#ifndef OC_TICKET_ROW_H
#define OC_TICKET_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "tower/fleet/ticket.h"

/* The key-encryption key: HKDF of the CA key (ca_derive_key) with this
 * label. Every replica has the same ca.key (the operator copies the state
 * dir), so every replica has the same one with no new file to copy. */
#define TICKET_KEK_LABEL "overcloud tower ticket-key sealing v1"
#define TICKET_KEK_LEN 32
/* A sealed row as the database holds it: lower-case hex of version (1) |
 * IV (12) | name and key sealed with AES-256-GCM | tag (16). */
#define TICKET_ROW_TEXT_LEN (2 * (1 + 12 + TICKET_KEY_NAME_LEN + TICKET_KEY_LEN + 16))

/* Seals m for generation with kek (the generation is authenticated, so a
 * row moved to another generation does not open). out gets
 * TICKET_ROW_TEXT_LEN hex digits and a NUL. 0 or -1. */
int ticket_row_seal(const uint8_t kek[TICKET_KEK_LEN], int64_t generation,
		    const struct ticket_key_material *m, char *out, size_t out_size);
/* Opens the text of a row (len bytes, not NUL-terminated: the database's,
 * untrusted) of generation. Refuses anything not exactly
 * TICKET_ROW_TEXT_LEN lower-case hex digits, of another version, or not
 * authentic under kek. 0 with the key in out, or -1 (out zeroed). */
int ticket_row_open(const uint8_t kek[TICKET_KEK_LEN], int64_t generation, const char *text,
		    size_t len, struct ticket_key_material *out);

#endif
