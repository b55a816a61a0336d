/* hub.h — the tower's agent listener: accepts agent connections, enrolls new
 * nodes, authenticates known ones by certificate and tracks who is connected. */
#ifndef OC_HUB_H
#define OC_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ca;
struct store;
struct hub;

/* heartbeat_s is what agents are told; cert_validity_s is the lifetime of
 * the node certificates issued at enrollment and renewal. */
struct hub *hub_new(struct event_base *base, struct store *st, struct ca *ca,
		    int heartbeat_s, int64_t cert_validity_s, char *err, size_t err_size);
void hub_free(struct hub *hub);
struct ticket_keys;
/* Agents get session tickets sealed by tk (which must outlive the hub), so
 * they reconnect without a full handshake, across tower restarts too. */
void hub_use_tickets(struct hub *hub, struct ticket_keys *tk);
/* Replicas sharing a store: the node's latest figures (nm's) go into its
 * row with its last_seen, so the other replicas show them too. */
struct nodemetrics;
void hub_share_figures(struct hub *hub, struct nodemetrics *nm);
/* Agent TLS sessions resumed from a ticket since start. */
uint64_t hub_sessions_resumed(struct hub *hub);
/* Binds and listens; *bound_port gets the real port (for port 0). */
int hub_listen(struct hub *hub, const char *host, uint16_t port, uint16_t *bound_port,
	       char *err, size_t err_size);

struct msg;
struct msg_heartbeat;

/* What the rest of the tower hears from agents. */
struct hub_events {
	/* The node said hello: it can take work now. */
	void (*node_ready)(void *arg, const char *node_id);
	/* A task message from an authenticated node (node_id from its cert). */
	void (*task_msg)(void *arg, const char *node_id, const struct msg *m);
	/* A heartbeat from a ready node (optional). */
	void (*heartbeat)(void *arg, const char *node_id, const struct msg_heartbeat *hb);
};
void hub_set_events(struct hub *hub, const struct hub_events *ev, void *arg);
/* Queues m for the node's current connection. Returns 0, or -1 when the node
 * is not connected. */
int hub_send(struct hub *hub, const char *node_id, const struct msg *m);

bool hub_node_connected(struct hub *hub, const char *node_id);
/* The heartbeat interval agents are told, in seconds. */
int hub_heartbeat_s(const struct hub *hub);
/* Connected here, or (replicas sharing a store) to another replica: n's
 * heartbeats, which the replica holding it writes within a second, are
 * recent (3 heartbeats). What the API shows as "connected", a run
 * targets, and the workflow waits for, on every replica alike. */
struct store_node;
bool hub_node_connected_anywhere(struct hub *hub, const struct store_node *n);
/* The address the node's connection comes from ("10.0.0.7"; behind NAT the
 * NAT's). Returns 0, or -1 when the node is not connected. */
int hub_node_address(struct hub *hub, const char *node_id, char *out, size_t size);
size_t hub_connected_count(struct hub *hub);
/* Closes the node's connection, if any, logging reason. */
void hub_disconnect_node(struct hub *hub, const char *node_id, const char *reason);

#endif
