/* provider.h — the UnderCloud seen by the tower: a small vtable that makes
 * VMs (or local agent processes) for an OverCloud and removes them again.
 * Calls may block (cloud APIs) and may come from several threads at once for
 * one context: an implementation guards its own shared state. */
#ifndef OC_PROVIDER_H
#define OC_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

#define PROVIDER_HANDLE_MAX 256
#define PROVIDER_ADDR_MAX 64

/* What every provider needs to know about the tower. */
struct provider_env {
	const char *state_dir;        /* the tower's state dir */
	const char *tower_host;       /* what agents dial (the join host) */
	uint16_t tower_port;          /* agent port */
	const char *ca_pem;           /* the tower's CA certificate */
	const char *ca_pin;           /* "sha256:..." */
	const char *agent_binary;     /* path of overcloud-agent for local nodes */
	const char *cloud_init_dir;   /* the cloud-init templates; may be NULL */
	const struct config *config;  /* tower.conf: the provider reads its own [section] */
};

/* One node to make. join_token is single-use and minted for this node. */
struct provider_node_request {
	const char *overcloud_id;
	const char *name;             /* unique per overcloud, e.g. "oc1-cluster-2" */
	const char *group;
	const char *size;             /* flavor / instance type; may be NULL */
	const char *join_token;
	const char *user_data;        /* rendered cloud-init, or NULL where unused */
	/* Every tower replica's agent address (host:port), comma-separated,
	 * the creating tower's first; NULL: only the tower of provider_env. */
	const char *towers;
};

/* What the provider made: handle is its own id (pid dir, server id, instance
 * id), kept by the tower to destroy the node later. */
struct provider_node {
	char handle[PROVIDER_HANDLE_MAX];
	char address[PROVIDER_ADDR_MAX];  /* the node's IP, as far as the provider knows */
};

struct provider_ops {
	const char *name;             /* "local", "openstack", "aws" */
	/* True when nodes boot from cloud-init: the workflow then renders the
	 * user-data (tower/boot/userdata.c) into provider_node_request.user_data. */
	bool wants_user_data;
	/* Returns a context or NULL with err. */
	void *(*open)(const struct provider_env *env, char *err, size_t err_size);
	void (*close)(void *ctx);
	/* Makes one node; blocking. On failure nothing of it is left. */
	int (*create_node)(void *ctx, const struct provider_node_request *req,
			   struct provider_node *out, char *err, size_t err_size);
	/* Removes a node and everything made for it; blocking, idempotent (an
	 * unknown or already removed handle is success). */
	int (*destroy_node)(void *ctx, const char *overcloud_id, const struct provider_node *node,
			    char *err, size_t err_size);
};

extern const struct provider_ops provider_local;

/* "local" -> &provider_local, ...; NULL when unknown (case-insensitive, so
 * the seed's "OpenStack" and "Amazon" spellings work too). */
const struct provider_ops *provider_find(const char *name);

/* Adds a provider that is not built in, before the workflow starts (not
 * thread-safe; at most 4). -1 when its name is taken or the table is full. */
int provider_register(const struct provider_ops *ops);

#endif
