/* ticket_share.h — TLS session ticket keys shared by the replicas of one
 * database: sealed rows in ticket_keys, made by one replica, read by all. */
#ifndef OC_TICKET_SHARE_H
#define OC_TICKET_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "tower/fleet/ticket.h"

struct event_base;
struct store;
struct ticket_share;

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

/* Keeps tk's keys those of the database st: the newest generation seals,
 * the one before still opens. A generation is made when there is none or
 * the newest is rotate_s old by the database's clock; two replicas doing
 * it at once make one. Both tk and st must outlive it. */
struct ticket_share *ticket_share_new(struct ticket_keys *tk, struct store *st,
				      const uint8_t kek[TICKET_KEK_LEN], int64_t rotate_s,
				      char *err, size_t err_size);
void ticket_share_free(struct ticket_share *ts);
/* Reads the rows, makes the next generation when due, installs what opens.
 * A row that does not open with kek (another CA key: a state dir not
 * copied from the other replicas) is logged once and never built upon:
 * this replica then issues no tickets and resumes nothing. Returns the
 * generation that seals here now, 0 when none, -1 when the database
 * could not be read (the keys stay as they were). Main thread only. */
int64_t ticket_share_sync(struct ticket_share *ts);
/* Syncs on base every 30 s, and within 2 s once a ticket named a key this
 * replica does not hold (another replica rotated). 0 or -1. */
int ticket_share_start(struct ticket_share *ts, struct event_base *base);

#endif
