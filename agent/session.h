/* session.h — `overcloud-agent run`: keeps one mutually authenticated
 * connection to the tower, says hello, sends heartbeats, reconnects. */
#ifndef OC_SESSION_H
#define OC_SESSION_H

#include <stddef.h>

struct event_base;
struct evdns_base;
struct agent_config;
struct link;
struct session;
struct tls_config;

/* Loads the key, certificate and CA named by cfg. NULL with err on failure. */
struct session *session_new(struct event_base *base, struct evdns_base *dns,
			    const struct agent_config *cfg, char *err, size_t err_size);
/* Starts connecting; the caller then runs the loop. */
void session_start(struct session *s);
/* Carries on over link, the enrollment's open connection (join_run's
 * join_link): says hello there instead of dialing. Takes link and tls. */
void session_start_on(struct session *s, struct link *link, struct tls_config *tls);
/* Non-zero when the tower refused this node for good (revoked, unknown):
 * retrying cannot help. */
int session_exit_status(const struct session *s);
void session_free(struct session *s);

#endif
