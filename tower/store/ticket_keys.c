/* ticket_keys.c — the ticket_keys table: the replicas' sealed TLS session
 * ticket keys by generation, added once per generation, read newest first. */
#include "tower/store/store_int.h"

#include "shared/log.h"

const struct store_sql store_ticket_keys_sql[] = {
	{ ST_TKEY_NEWEST, "SELECT generation, created_ms, sealed, NOW_MS FROM ticket_keys"
			  " ORDER BY generation DESC LIMIT ?1" },
	/* Two replicas rotating at once both try the next generation: the
	 * primary key lets one in, and the other finds its row there. */
	{ ST_TKEY_ADD, "INSERT INTO ticket_keys (generation, created_ms, sealed)"
		       " VALUES (?1, NOW_MS, ?2) ON CONFLICT (generation) DO NOTHING" },
	{ ST_TKEY_PRUNE, "DELETE FROM ticket_keys WHERE generation < ?1" },
	{ ST_COUNT, NULL },
};

static void ticket_key_row(struct store_q *s, void *row)
{
	struct store_ticket_key *k = row;

	k->generation = store_col_int(s, 0);
	k->created_ms = store_col_int(s, 1);
	store_column_copy(s, 2, k->sealed, sizeof(k->sealed));
	k->now_ms = store_col_int(s, 3);
}

int store_ticket_keys_newest(struct store *st, struct store_ticket_key *out, size_t max)
{
	struct store_q *s;

	if (st == NULL || out == NULL || max == 0) {
		log_error("store: read ticket keys: bad arguments");
		return -1;
	}
	s = store_bound(st, ST_TKEY_NEWEST, "read ticket keys", STORE_ARGS(arg_int((int64_t)max)));
	if (s == NULL)
		return -1;
	return store_fill(st, s, "read ticket keys", out, sizeof(*out), max, ticket_key_row);
}

int store_ticket_key_add(struct store *st, int64_t generation, const char *sealed)
{
	if (st == NULL || generation <= 0 || !store_str_fits(sealed, STORE_TICKET_SEALED_MAX) ||
	    sealed[0] == '\0') {
		log_error("store: add ticket key: bad arguments");
		return -1;
	}
	return store_exec(st, ST_TKEY_ADD, "add ticket key",
			  STORE_ARGS(arg_int(generation), arg_text(sealed)));
}

int store_ticket_keys_prune(struct store *st, int64_t keep_from)
{
	if (st == NULL) {
		log_error("store: prune ticket keys: bad arguments");
		return -1;
	}
	return store_exec(st, ST_TKEY_PRUNE, "prune ticket keys", STORE_ARGS(arg_int(keep_from)));
}
