/* leases.c — the leases and replicas tables: the leader lease taken or renewed
 * by the database's clock, its fencing check, and which replicas are alive. */
#include "tower/store/store_int.h"

#include <stdio.h>
#include <string.h>

#include "shared/log.h"

/* NOW_MS and FOR_SHARE are the backend's words (store.c puts them in). */
const struct store_sql store_leases_sql[] = {
	/* One statement, so two replicas never both take it: the row's lock
	 * orders them and the second finds it held. The token grows only when
	 * the holder changes or its lease had lapsed. */
	{ ST_LEASE_TAKE,
	  "UPDATE leases SET"
	  " token = CASE WHEN holder = ?1 AND expires_ms > NOW_MS THEN token ELSE token + 1 END,"
	  " taken_ms = CASE WHEN holder = ?1 AND expires_ms > NOW_MS THEN taken_ms ELSE NOW_MS END,"
	  " holder = ?1, renewed_ms = NOW_MS, expires_ms = NOW_MS + ?2"
	  " WHERE name = 'leader' AND (holder = ?1 OR expires_ms <= NOW_MS) RETURNING token" },
	{ ST_LEASE_GET, "SELECT holder, token, expires_ms, taken_ms, renewed_ms, NOW_MS FROM leases"
			" WHERE name = 'leader'" },
	/* The row stays locked to the end of the write's transaction: a
	 * replica taking the lease waits for it, and then holds a new token. */
	{ ST_LEASE_CHECK, "SELECT token FROM leases WHERE name = 'leader' AND holder = ?1"
			  " AND token = ?2 AND expires_ms > NOW_MS FOR_SHARE" },
	{ ST_REPLICA_SEEN,
	  "INSERT INTO replicas (id, api, agents, started_ms, seen_ms)"
	  " VALUES (?1, ?2, ?3, NOW_MS, NOW_MS) ON CONFLICT (id) DO UPDATE SET"
	  " api = excluded.api, agents = excluded.agents, seen_ms = excluded.seen_ms,"
	  " started_ms = CASE WHEN ?4 = 1 THEN excluded.started_ms ELSE replicas.started_ms END" },
	{ ST_REPLICA_LIST, "SELECT id, api, agents, started_ms, seen_ms, NOW_MS FROM replicas"
			   " ORDER BY id" },
	{ ST_COUNT, NULL },
};

bool store_is_shared(const struct store *st)
{
	return st != NULL && st->be == &store_backend_pg;
}

int store_lease_take(struct store *st, const char *holder, int64_t ttl_ms, int64_t *token)
{
	struct store_q *s;
	enum store_step rc;
	int held = -1;

	if (st == NULL || !store_str_fits(holder, STORE_REPLICA_MAX) || holder[0] == '\0' ||
	    ttl_ms <= 0) {
		log_error("store: take lease: bad arguments");
		return -1;
	}
	s = store_bound(st, ST_LEASE_TAKE, "take the lease",
			STORE_ARGS(arg_text(holder), arg_int(ttl_ms)));
	if (s == NULL)
		return -1;
	rc = store_step(s);
	if (rc == STORE_ROW) {
		*token = store_col_int(s, 0);
		held = 1;
	} else if (rc == STORE_DONE) {
		held = 0;
	} else {
		store_log(st, "take the lease", NULL);
	}
	store_stmt_done(s);
	return held;
}

int store_lease_get(struct store *st, struct store_lease *out)
{
	struct store_q *s = store_bound(st, ST_LEASE_GET, "read the lease", STORE_NO_ARGS);
	enum store_step rc;
	int found = -1;

	if (s == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	rc = store_step(s);
	if (rc == STORE_ROW) {
		store_column_copy(s, 0, out->holder, sizeof(out->holder));
		out->token = store_col_int(s, 1);
		out->expires_ms = store_col_int(s, 2);
		out->taken_ms = store_col_int(s, 3);
		out->renewed_ms = store_col_int(s, 4);
		out->now_ms = store_col_int(s, 5);
		found = 1;
	} else if (rc == STORE_DONE) {
		found = 0;
	} else {
		store_log(st, "read the lease", NULL);
	}
	store_stmt_done(s);
	return found;
}

void store_fence_set(struct store *st, const char *holder, int64_t token)
{
	if (st == NULL)
		return;
	snprintf(st->fence_holder, sizeof(st->fence_holder), "%s", holder ? holder : "");
	st->fence_token = holder != NULL && holder[0] != '\0' ? token : 0;
	st->fence_lost = false;
}

bool store_fence_on(struct store *st, bool on)
{
	bool was;

	if (st == NULL)
		return false;
	was = st->fence_on;
	st->fence_on = on;
	return was;
}

bool store_fence_lost(const struct store *st)
{
	return st != NULL && st->fence_lost;
}

bool store_fence_applies(const struct store *st, enum store_stmt which)
{
	return st->fence_on && st->fence_token > 0 && which > ST_ROLLBACK_TO &&
	       which < ST_LEASE_TAKE;
}

int store_fence_check(struct store *st)
{
	char token[32];
	int r = store_first_text(st, ST_LEASE_CHECK, "check the lease",
				 STORE_ARGS(arg_text(st->fence_holder), arg_int(st->fence_token)),
				 token, sizeof(token));

	if (r == 1)
		return 0;
	if (r == 0) {
		if (!st->fence_lost)
			log_warn("store: fenced: %s no longer holds the leader lease with token %lld;"
				 " its write is refused", st->fence_holder, (long long)st->fence_token);
		st->fence_lost = true;
	}
	return -1;
}

int store_replica_seen(struct store *st, const char *id, const char *api, const char *agents,
		       bool starting)
{
	if (st == NULL || !store_str_fits(id, STORE_REPLICA_MAX) || id[0] == '\0' ||
	    !store_str_fits(api, STORE_REPLICA_MAX) || !store_str_fits(agents, STORE_REPLICA_MAX)) {
		log_error("store: replica seen: bad arguments");
		return -1;
	}
	return store_exec(st, ST_REPLICA_SEEN, "record the replica",
			  STORE_ARGS(arg_text(id), arg_text(api), arg_text(agents),
				     arg_int(starting ? 1 : 0))) == 1 ? 0 : -1;
}

static void replica_row(struct store_q *s, void *row)
{
	struct store_replica *r = row;

	store_column_copy(s, 0, r->id, sizeof(r->id));
	store_column_copy(s, 1, r->api, sizeof(r->api));
	store_column_copy(s, 2, r->agents, sizeof(r->agents));
	r->started_ms = store_col_int(s, 3);
	r->seen_ms = store_col_int(s, 4);
	r->now_ms = store_col_int(s, 5);
}

int store_replica_list(struct store *st, struct store_replica *out, size_t max)
{
	struct store_q *s = store_bound(st, ST_REPLICA_LIST, "list replicas", STORE_NO_ARGS);

	if (s == NULL)
		return -1;
	return store_fill(st, s, "list replicas", out, sizeof(*out), max, replica_row);
}
