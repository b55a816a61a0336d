/* tower.h — the running tower's shared context: the pieces a request handler
 * needs (store, CA, agent hub) and how agents reach this tower. */
#ifndef OC_TOWER_H
#define OC_TOWER_H

#include <stdint.h>

struct event_base;
struct store;
struct ca;
struct hub;
struct tasks;
struct workflow;
struct role_set;
struct config;
struct artifacts;
struct sessions;
struct nodemetrics;
struct lease;
struct feed;

struct tower {
	struct event_base *base;
	struct store *store;
	struct ca *ca;
	struct hub *hub;
	struct tasks *tasks;
	struct workflow *workflow;
	struct lease *lease;          /* NULL: alone, always the leader */
	struct feed *feed;            /* replicas' change feed; NULL: alone (sqlite) */
	struct role_set *roles;
	struct config *config;    /* tower.conf; never NULL once running */
	struct artifacts *artifacts;  /* agent binaries for booting nodes */
	struct nodemetrics *nodemetrics; /* heartbeat figures and their history */
	const char *cloud_init_dir;   /* user-data templates; NULL: none found */
	const char *web_dir;          /* the console's files; NULL: none found */
	struct sessions *sessions;    /* the console's logins */
	char state_dir[4096];
	char admin_token[65];
	char join_host[256];     /* what agents dial, for join lines */
	char default_pattern[64];/* for requests that name none (the seed's) */
	uint16_t agent_port;
	uint16_t api_port;
	int64_t started_at;
};

#endif
