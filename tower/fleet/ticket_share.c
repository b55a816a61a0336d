/* ticket_share.c — the replicas' TLS session ticket keys in the database:
 * owns the sync (read, rotate by one replica, install) on the main thread's
 * timer; the rows' sealing is ticket_row.c's. */
#include "tower/fleet/ticket_share.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/store/store.h"

/* How often every replica reads the rows: a key another replica made is
 * here within this; a ticket naming an unknown key asks sooner. */
#define SYNC_EVERY_S 30
#define SYNC_UNKNOWN_AFTER_S 2

_Static_assert(TICKET_ROW_TEXT_LEN < STORE_TICKET_SEALED_MAX, "a row fits its column");

struct ticket_share {
	struct ticket_keys *tk;
	struct store *st;
	uint8_t kek[TICKET_KEK_LEN];
	int64_t rotate_s;
	struct event *timer;
	int since_sync_s;
	bool unknown_pending;
	/* the newest generation that did not open, logged once */
	int64_t bad_logged;
};

struct ticket_share *ticket_share_new(struct ticket_keys *tk, struct store *st,
				      const uint8_t kek[TICKET_KEK_LEN], int64_t rotate_s,
				      char *err, size_t err_size)
{
	struct ticket_share *ts;

	if (tk == NULL || st == NULL || rotate_s <= 0) {
		snprintf(err, err_size, "shared ticket keys: bad arguments");
		return NULL;
	}
	ts = calloc(1, sizeof(*ts));
	if (ts == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	ts->tk = tk;
	ts->st = st;
	memcpy(ts->kek, kek, TICKET_KEK_LEN);
	ts->rotate_s = rotate_s;
	return ts;
}

void ticket_share_free(struct ticket_share *ts)
{
	if (ts == NULL)
		return;
	if (ts->timer != NULL)
		event_free(ts->timer);
	explicit_bzero(ts->kek, sizeof(ts->kek));
	free(ts);
}

/* Opens row k into m; a row that does not open is logged once (the newest
 * such generation), as it stays so until the operator fixes the state dir. */
static bool open_row(struct ticket_share *ts, const struct store_ticket_key *k,
		     struct ticket_key_material *m)
{
	if (ticket_row_open(ts->kek, k->generation, k->sealed, strlen(k->sealed), m) == 0)
		return true;
	if (k->generation > ts->bad_logged) {
		ts->bad_logged = k->generation;
		log_error("session tickets: ticket key generation %lld in the database does not "
			  "open with this replica's CA key (its state dir is not a copy of the other "
			  "replicas', or the row was changed): agents that connect here make full TLS "
			  "handshakes until the state dir is copied from a running replica",
			  (long long)k->generation);
	}
	return false;
}

/* Makes generation and adds it: 1 made here, 0 another replica made it
 * first, -1 error. */
static int make_generation(struct ticket_share *ts, int64_t generation)
{
	struct ticket_key_material m;
	char sealed[TICKET_ROW_TEXT_LEN + 1];
	int rc = -1;

	if (util_random(&m, sizeof(m)) == 0 &&
	    ticket_row_seal(ts->kek, generation, &m, sealed, sizeof(sealed)) == 0)
		rc = store_ticket_key_add(ts->st, generation, sealed);
	explicit_bzero(&m, sizeof(m));
	if (rc == 1) {
		log_info("session tickets: made ticket key generation %lld for the replicas",
			 (long long)generation);
		/* the one before it still opens; older ones open nothing */
		if (store_ticket_keys_prune(ts->st, generation - 1) < 0)
			log_warn("session tickets: old ticket keys stay in the database");
	}
	return rc;
}

int64_t ticket_share_sync(struct ticket_share *ts)
{
	struct store_ticket_key rows[2];
	struct ticket_key_material m[2];
	bool ok[2] = { false, false };
	int n = -1;
	int64_t sealing = 0;

	ts->since_sync_s = 0;
	for (int pass = 0; pass < 2; pass++) {
		bool due;

		n = store_ticket_keys_newest(ts->st, rows, 2);
		if (n < 0)
			return -1;
		ok[0] = ok[1] = false;
		for (int i = 0; i < n; i++)
			ok[i] = open_row(ts, &rows[i], &m[i]);
		due = n == 0 || rows[0].now_ms - rows[0].created_ms >= ts->rotate_s * 1000;
		/* A key is made only on top of one this replica opens: one that
		 * does not would lock the other replicas out of its tickets. */
		if (pass == 1 || !due || (n > 0 && !ok[0]))
			break;
		if (make_generation(ts, n > 0 ? rows[0].generation + 1 : 1) < 0)
			break;
	}
	if (n > 0 && ok[0])
		sealing = rows[0].generation;
	if (ticket_keys_install(ts->tk, n > 0 && ok[0] ? &m[0] : NULL,
				n > 1 && ok[1] ? &m[1] : NULL) != 0) {
		log_error("session tickets: cannot use the ticket keys");
		sealing = 0;
	}
	explicit_bzero(m, sizeof(m));
	explicit_bzero(rows, sizeof(rows));
	return sealing;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ticket_share *ts = arg;

	(void)fd;
	(void)what;
	ts->since_sync_s++;
	if (ticket_keys_take_unknown(ts->tk))
		ts->unknown_pending = true;
	if (ts->since_sync_s >= SYNC_EVERY_S ||
	    (ts->unknown_pending && ts->since_sync_s >= SYNC_UNKNOWN_AFTER_S)) {
		ts->unknown_pending = false;
		ticket_share_sync(ts);
	}
}

int ticket_share_start(struct ticket_share *ts, struct event_base *base)
{
	const struct timeval second = { 1, 0 };

	ts->timer = event_new(base, -1, EV_PERSIST, on_tick, ts);
	if (ts->timer == NULL || event_add(ts->timer, &second) != 0)
		return -1;
	return 0;
}
