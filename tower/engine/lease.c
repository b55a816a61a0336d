/* lease.c — the leader lease of one tower replica: taken or renewed every third
 * of its TTL off the main loop's timer, the store's fence set to its token. */
#include "tower/engine/lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/store/store.h"
#include "tower/tower.h"

struct lease {
	struct tower *t;
	struct event *timer;
	char id[STORE_REPLICA_MAX];
	char api[STORE_REPLICA_MAX];
	char agents[STORE_REPLICA_MAX];
	int64_t ttl_ms;
	bool alone;		/* sqlite: the one tower, always the leader */
	bool leader;
	bool recorded;		/* the replicas row was written since start */
	int64_t token;
	int64_t valid_until;	/* monotonic ms: the lease's end by our clock */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void step_down(struct lease *l, const char *why)
{
	if (!l->leader)
		return;
	l->leader = false;
	log_warn("lease: %s is no longer the leader (token %lld): %s", l->id,
		 (long long)l->token, why);
}

static void renew(struct lease *l)
{
	struct store *st = l->t->store;
	int64_t sent = mono_ms(), token = 0;
	int held;

	if (store_replica_seen(st, l->id, l->api, l->agents, !l->recorded) == 0)
		l->recorded = true;
	held = store_lease_take(st, l->id, l->ttl_ms, &token);
	if (held == 1) {
		if (!l->leader || token != l->token || store_fence_lost(st)) {
			store_fence_set(st, l->id, token);
			log_info("lease: %s is the leader (token %lld, lease %lld ms)", l->id,
				 (long long)token, (long long)l->ttl_ms);
		}
		l->token = token;
		l->leader = true;
		l->valid_until = sent + l->ttl_ms;
	} else if (held == 0) {
		step_down(l, "another replica holds the lease");
	} else if (l->leader && mono_ms() >= l->valid_until) {
		step_down(l, "the lease could not be renewed in time");
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	renew(arg);
}

struct lease *lease_new(struct tower *t, const char *id, int64_t ttl_ms, char *err,
			size_t err_size)
{
	struct lease *l;

	if (id == NULL || id[0] == '\0' || strlen(id) >= STORE_REPLICA_MAX || ttl_ms < 1000) {
		snprintf(err, err_size, "a replica needs a name (< %d bytes) and a lease of 1s or more",
			 STORE_REPLICA_MAX);
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	l->t = t;
	l->ttl_ms = ttl_ms;
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->alone = !store_is_shared(t->store);
	l->leader = l->alone;
	return l;
}

int lease_start(struct lease *l, const char *api, const char *agents)
{
	struct timeval tv = { l->ttl_ms / 3 / 1000, (l->ttl_ms / 3 % 1000) * 1000 };

	snprintf(l->api, sizeof(l->api), "%s", api);
	snprintf(l->agents, sizeof(l->agents), "%s", agents);
	if (l->alone) {
		store_replica_seen(l->t->store, l->id, l->api, l->agents, true);
		return 0;
	}
	l->timer = event_new(l->t->base, -1, EV_PERSIST, on_timer, l);
	if (l->timer == NULL || event_add(l->timer, &tv) != 0)
		return -1;
	renew(l);
	if (!l->leader)
		log_info("lease: %s is a replica; the leader is another", l->id);
	return 0;
}

void lease_free(struct lease *l)
{
	if (l == NULL)
		return;
	if (l->timer != NULL)
		event_free(l->timer);
	free(l);
}

bool lease_is_leader(struct lease *l)
{
	if (l == NULL || l->alone)
		return true;
	if (!l->leader)
		return false;
	if (store_fence_lost(l->t->store))
		step_down(l, "a write found the lease held by another replica");
	else if (mono_ms() >= l->valid_until)
		step_down(l, "its lease ran out before it was renewed");
	return l->leader;
}

#define LEASE_MAX_ADDRESSES 8

void lease_agent_addresses(struct lease *l, char *out, size_t size)
{
	struct store_replica reps[32];
	int n, listed = 1;
	size_t len;

	snprintf(out, size, "%s", l != NULL ? l->agents : "");
	if (l == NULL || l->alone)
		return;
	n = store_replica_list(l->t->store, reps, OC_ARRAY_LEN(reps));
	for (int i = 0; i < n && listed < LEASE_MAX_ADDRESSES; i++) {
		if (strcmp(reps[i].id, l->id) == 0 || strcmp(reps[i].agents, l->agents) == 0 ||
		    reps[i].now_ms - reps[i].seen_ms > 3 * l->ttl_ms || reps[i].agents[0] == '\0')
			continue;
		len = strlen(out);
		if (len + strlen(reps[i].agents) + 2 > size)
			break;
		snprintf(out + len, size - len, ",%s", reps[i].agents);
		listed++;
	}
}

int lease_status(struct lease *l, struct lease_status *out)
{
	memset(out, 0, sizeof(*out));
	if (l == NULL)
		return -1;
	snprintf(out->self, sizeof(out->self), "%s", l->id);
	if (l->alone) {
		snprintf(out->lease.holder, sizeof(out->lease.holder), "%s", l->id);
		out->lease_live = true;
		out->count = store_replica_list(l->t->store, out->replicas, LEASE_STATUS_MAX);
		return out->count < 0 ? -1 : 0;
	}
	if (store_lease_get(l->t->store, &out->lease) != 1)
		return -1;
	out->lease_live = out->lease.holder[0] != '\0' && out->lease.expires_ms > out->lease.now_ms;
	out->count = store_replica_list(l->t->store, out->replicas, LEASE_STATUS_MAX);
	return out->count < 0 ? -1 : 0;
}

const char *lease_id(const struct lease *l)
{
	return l != NULL ? l->id : "";
}

int64_t lease_ttl_ms(const struct lease *l)
{
	return l != NULL ? l->ttl_ms : 0;
}
