/* session.h — `overcloud-agent run`: keeps one mutually authenticated
 * connection to the tower, says hello, sends heartbeats, reconnects. */
#ifndef OC_SESSION_H
#define OC_SESSION_H

#include <stddef.h>

struct event_base;
struct evdns_base;
struct agent_config;
struct session;

/* Loads the key, certificate and CA named by cfg. NULL with err on failure. */
struct session *session_new(struct event_base *base, struct evdns_base *dns,
			    const struct agent_config *cfg, char *err, size_t err_size);
/* Starts connecting; the caller then runs the loop. */
void session_start(struct session *s);
/* Non-zero when the tower refused this node for good (revoked, unknown):
 * retrying cannot help. */
int session_exit_status(const struct session *s);
void session_free(struct session *s);

#endif
