/* lease.h — this tower's part among replicas on one database: the leader lease
 * taken or renewed on the main loop; only its holder drives workflows. */
#ifndef OC_LEASE_H
#define OC_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tower/store/store.h"

struct tower;
struct lease;

#define LEASE_TTL_DEFAULT_MS 10000

/* A replica named id (unique among those sharing the database) whose lease
 * lasts ttl_ms. On sqlite the tower is alone: it is the leader from the
 * start and nothing is checked. Not the leader on PostgreSQL until
 * lease_start has taken the lease. */
struct lease *lease_new(struct tower *t, const char *id, int64_t ttl_ms, char *err,
			size_t err_size);
/* Records where this replica's API and agent listener are (host:port) in
 * the replicas table, takes the lease if it is free and renews it every
 * third of its TTL from then on. */
int lease_start(struct lease *l, const char *api, const char *agents);
void lease_free(struct lease *l);

/* Whether this replica may drive workflows now: it holds the lease by its
 * last renewal (by its own monotonic clock, measured from before the renewal
 * was sent) and no fenced write has found the lease gone. NULL: a tower with
 * no lease, alone, always the leader. */
bool lease_is_leader(struct lease *l);
/* What agents dial, comma-separated: this replica's agent address first,
 * then every other replica seen within three lease TTLs (at most 8 in all,
 * as an agent keeps). Just this tower's when alone. */
void lease_agent_addresses(struct lease *l, char *out, size_t size);
/* The lease and the replicas as the database has them now, for status and
 * /metrics: 0, or -1 when it cannot be read. Alone (sqlite) this tower
 * is the one replica and the leader, with token 0. */
#define LEASE_STATUS_MAX 32
struct lease_status {
	char self[128];
	struct store_lease lease;
	bool lease_live;	/* its holder's lease has not run out */
	int count;
	struct store_replica replicas[LEASE_STATUS_MAX];
};
int lease_status(struct lease *l, struct lease_status *out);
const char *lease_id(const struct lease *l);
int64_t lease_ttl_ms(const struct lease *l);

#endif
