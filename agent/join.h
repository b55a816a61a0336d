/* join.h — `overcloud-agent join`: makes the node's key, trades a CSR and a
 * one-time token for a certificate, and writes the agent's state dir. */
#ifndef OC_JOIN_H
#define OC_JOIN_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evdns_base;
struct agent_config;

struct join_options {
	const char *tower;       /* HOST:PORT */
	const char *token;
	const char *ca_file;     /* either this ... */
	const char *ca_hash;     /* ... or "sha256:<hex>" of the CA's public key */
	const char *state_dir;
	int64_t retry_for_s;     /* keep trying an unreachable tower this long */
};

/* The enrollment's connection, still open, for the session to carry on
 * with (the tower takes it as the node's session): the caller owns both and
 * frees tls only after the link is gone. */
struct join_link {
	struct link *link;
	struct tls_config *tls;
};

/* Runs the loop until enrolled or refused. On success cfg describes the
 * saved state, and keep (when not NULL) gets the open connection, or NULL
 * there when the tower closed it. Returns 0, or -1 with a one-line reason
 * in err. */
int join_run(struct event_base *base, struct evdns_base *dns, const struct join_options *opt,
	     struct agent_config *cfg, struct join_link *keep, char *err, size_t err_size);

#endif
