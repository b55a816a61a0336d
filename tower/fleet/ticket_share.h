/* ticket_share.h — TLS session ticket keys shared by the replicas of one
 * database: sealed rows in ticket_keys, made by one replica, read by all. */
#ifndef OC_TICKET_SHARE_H
#define OC_TICKET_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "tower/fleet/ticket.h"
#include "tower/fleet/ticket_row.h"

struct event_base;
struct store;
struct ticket_share;

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
