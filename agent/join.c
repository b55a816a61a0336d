/* join.c — enrollment: key and CSR made on the node (the key never leaves
 * it), tower checked against a CA file or a CA key pin, certificate saved. */
#include "agent/join.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "agent/certtime.h"
#include "agent/config.h"
#include "agent/facts.h"
#include "agent/link.h"
#include "shared/log.h"
#include "shared/pki.h"
#include "shared/tls.h"
#include "shared/util.h"

struct join {
	struct event_base *base;
	const struct join_options *opt;
	struct agent_config *cfg;
	mbedtls_pk_context key;
	mbedtls_x509_crt ca_file;
	char *csr;
	char hostname[256];
	int status;             /* 0 ok, -1 failed, 1 still running */
	char err[512];
	struct evdns_base *dns;
	struct tls_config *tls;
	struct event *ev_retry;
	int64_t give_up_ms;     /* a tower that is not up yet is retried until then */
	int attempt;
	struct join_link *keep; /* where the open connection goes; NULL: close it */
};

static void __attribute__((format(printf, 3, 4)))
join_fail(struct join *j, struct link *link, const char *fmt, ...)
{
	va_list ap;

	if (j->status == 1) {
		j->status = -1;
		va_start(ap, fmt);
		vsnprintf(j->err, sizeof(j->err), fmt, ap);
		va_end(ap);
	}
	if (link != NULL)
		link_close(link, "join failed");
}

/* With --ca-hash nothing was verified in the handshake: the tower must show
 * a CA whose key has the pinned hash, and a server cert that CA signed. */
static int check_pinned_tower(struct join *j, struct link *link, char *why, size_t why_size)
{
	const mbedtls_x509_crt *leaf = link_peer_cert(link), *c;
	char pin[80];

	snprintf(why, why_size, "the tower's CA does not match --ca-hash: refusing to talk to it");
	if (leaf == NULL)
		return -1;
	for (c = leaf->next; c != NULL; c = c->next) {
		if (pki_spki_pin(c, pin, sizeof(pin)) != 0 || strcmp(pin, j->opt->ca_hash) != 0)
			continue;
		/* A skewed clock is said as such, not as a CA mismatch. */
		switch (certtime_verify((mbedtls_x509_crt *)leaf, (mbedtls_x509_crt *)c, PKI_TOWER_NAME,
					util_now(), why, why_size)) {
		case CERTTIME_OK:
			return 0;
		case CERTTIME_CLOCK:
			return -1;
		case CERTTIME_NOT_OURS:
			break;
		}
	}
	return -1;
}

static void join_on_ready(struct link *link, void *arg)
{
	struct join *j = arg;
	struct msg m = {.type = MSG_ENROLL};
	char why[200];

	if (j->opt->ca_hash != NULL && check_pinned_tower(j, link, why, sizeof(why)) != 0) {
		join_fail(j, link, "%s", why);
		return;
	}
	m.u.enroll.token = (char *)j->opt->token;
	m.u.enroll.csr = j->csr;
	m.u.enroll.hostname = j->hostname;
	if (link_send(link, &m) != 0)
		join_fail(j, link, "%s", "cannot send the enrollment request");
}

/* The certificate must be for our key and chain to the CA we trust. */
static int check_and_save(struct join *j, const struct msg_enrolled *e)
{
	mbedtls_x509_crt cert, ca;
	char path[PATH_MAX + 16], pin[80];
	int rc = -1;

	mbedtls_x509_crt_init(&cert);
	mbedtls_x509_crt_init(&ca);
	if (mbedtls_x509_crt_parse(&cert, (const unsigned char *)e->cert, strlen(e->cert) + 1) != 0 ||
	    mbedtls_x509_crt_parse(&ca, (const unsigned char *)e->ca, strlen(e->ca) + 1) != 0) {
		snprintf(j->err, sizeof(j->err), "the tower sent an unreadable certificate");
		goto out;
	}
	if (j->opt->ca_hash != NULL) {
		if (pki_spki_pin(&ca, pin, sizeof(pin)) != 0 || strcmp(pin, j->opt->ca_hash) != 0) {
			snprintf(j->err, sizeof(j->err), "the tower sent a CA that does not match --ca-hash");
			goto out;
		}
	} else if (ca.raw.len != j->ca_file.raw.len ||
		   memcmp(ca.raw.p, j->ca_file.raw.p, ca.raw.len) != 0) {
		snprintf(j->err, sizeof(j->err), "the tower sent a CA different from --ca");
		goto out;
	}
	if (certtime_verify(&cert, &ca, NULL, util_now(), j->err, sizeof(j->err)) == CERTTIME_NOT_OURS ||
	    mbedtls_pk_check_pair(&cert.pk, &j->key) != 0) {
		snprintf(j->err, sizeof(j->err), "the tower sent a certificate that is not ours");
		goto out;
	}
	/* Good, but not valid on this node's clock: j->err names the skew. */
	if (certtime_verify(&cert, &ca, NULL, util_now(), j->err, sizeof(j->err)) != CERTTIME_OK)
		goto out;
	snprintf(j->cfg->node_id, sizeof(j->cfg->node_id), "%s", e->node_id);
	/* A TLS session of this state dir's previous identity would resume as
	 * that node. */
	agent_config_path(j->cfg, AGENT_TLS_SESSION_FILE, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		goto io_fail;
	agent_config_path(j->cfg, "agent.crt", path, sizeof(path));
	if (util_write_file(path, e->cert, strlen(e->cert), 0600) != 0)
		goto io_fail;
	agent_config_path(j->cfg, "ca.pem", path, sizeof(path));
	if (util_write_file(path, e->ca, strlen(e->ca), 0600) != 0)
		goto io_fail;
	if (agent_config_save(j->cfg, j->err, sizeof(j->err)) != 0)
		goto out;
	rc = 0;
	goto out;
io_fail:
	snprintf(j->err, sizeof(j->err), "cannot write %s: %s", path, strerror(errno));
out:
	mbedtls_x509_crt_free(&cert);
	mbedtls_x509_crt_free(&ca);
	return rc;
}

/* The tower's ticket for this session, bound to our new certificate: kept
 * where the session keeps its TLS session, so the next connection resumes
 * (an abbreviated handshake) instead of a full one. Losing it costs only
 * that full handshake. */
static void save_ticket(struct join *j, struct link *link, const struct msg_enrolled *e)
{
	char path[PATH_MAX + 16];
	size_t len = 0;
	uint8_t *data;

	if (e->ticket.len == 0)
		return;
	data = link_save_session_with_ticket(link, e->ticket.data, e->ticket.len,
					     (uint32_t)e->ticket_lifetime, &len);
	agent_config_path(j->cfg, AGENT_TLS_SESSION_FILE, path, sizeof(path));
	if (data == NULL || util_write_file_nosync(path, data, len, 0600) != 0)
		log_warn("cannot keep the tower's session ticket: the next connection makes a full handshake");
	free(data);
}

static void join_on_msg(struct link *link, const struct msg *m, void *arg)
{
	struct join *j = arg;

	if (m->type == MSG_ERROR) {
		join_fail(j, link, "the tower refused to enroll this node: %s", m->u.error.reason);
		return;
	}
	if (m->type != MSG_ENROLLED) {
		join_fail(j, link, "unexpected \"%s\" from the tower", msg_type_name(m->type));
		return;
	}
	if (j->status == 1) {
		j->status = check_and_save(j, &m->u.enrolled) == 0 ? 0 : -1;
		if (j->status == 0) {
			log_info("enrolled as node %s", j->cfg->node_id);
			save_ticket(j, link, &m->u.enrolled);
		}
		if (j->status == 0 && j->keep != NULL) {
			/* The session takes the connection over before the loop runs
			 * again (nothing comes from the tower before our hello). */
			j->keep->link = link;
			event_base_loopbreak(j->base);
			return;
		}
	}
	link_close(link, "enrolled");
}

/* Nodes often boot before their tower is reachable: a tower that cannot be
 * reached is tried again with backoff; a tower that refuses is final. */
static void join_on_close(struct link *link, const char *reason, void *arg)
{
	struct join *j = arg;
	struct agent_config *cfg = j->cfg;
	char name[272], next[272];
	int ms = 500;
	uint32_t r = 0;

	agent_tower_name(&cfg->towers[cfg->tower_at], name, sizeof(name));
	if (j->status == 1 && util_monotonic_ms() < j->give_up_ms) {
		/* The next replica at once; the backoff grows once every one of
		 * them was tried. */
		cfg->tower_at = (cfg->tower_at + 1) % cfg->tower_count;
		if (cfg->tower_at != 0) {
			ms = 0;
		} else {
			for (int i = 0; i < j->attempt && ms < 15000; i++)
				ms *= 2;
			util_random(&r, sizeof(r));
			ms = ms / 2 + (int)(r % (uint32_t)(ms / 2 + 1));
			j->attempt++;
		}
		log_warn("cannot reach the tower %s: %s; trying %s in %d.%03ds", name, reason,
			 agent_tower_name(&cfg->towers[cfg->tower_at], next, sizeof(next)),
			 ms / 1000, ms % 1000);
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		event_add(j->ev_retry, &tv);
		return;
	}
	if (j->status == 1) {
		j->status = -1;
		snprintf(j->err, sizeof(j->err), "tower %s: %s", name, reason);
	}
	event_base_loopbreak(j->base);
}

static const struct link_callbacks join_callbacks = {
	.on_ready = join_on_ready,
	.on_msg = join_on_msg,
	.on_close = join_on_close,
};

static void join_retry(evutil_socket_t fd, short what, void *arg)
{
	struct join *j = arg;

	const struct agent_tower *t = &j->cfg->towers[j->cfg->tower_at];

	if (link_open(j->base, j->dns, t->host, t->port, j->tls, &join_callbacks, j) == NULL) {
		j->status = -1;
		snprintf(j->err, sizeof(j->err), "cannot start connecting to %s", j->opt->tower);
		event_base_loopbreak(j->base);
	}
}

static int check_options(const struct join_options *opt, struct agent_config *cfg,
			 char *err, size_t err_size)
{
	static const char hexdigits[] = "0123456789abcdef";

	if (opt->tower == NULL || agent_towers_parse(opt->tower, cfg) != 0) {
		snprintf(err, err_size, "--tower: \"%s\" is not HOST:PORT[,HOST:PORT...] (at most %d, none twice)",
			 opt->tower ? opt->tower : "", AGENT_TOWERS_MAX);
		return -1;
	}
	if ((opt->ca_file == NULL) == (opt->ca_hash == NULL)) {
		snprintf(err, err_size, "give exactly one of --ca FILE and --ca-hash sha256:HEX");
		return -1;
	}
	if (opt->ca_hash != NULL && (strncmp(opt->ca_hash, "sha256:", 7) != 0 ||
				     strlen(opt->ca_hash) != 7 + 64 ||
				     strspn(opt->ca_hash + 7, hexdigits) != 64)) {
		snprintf(err, err_size, "--ca-hash must be sha256: followed by 64 lower-case hex digits");
		return -1;
	}
	if (opt->token == NULL || *opt->token == '\0' || strlen(opt->token) > 256) {
		snprintf(err, err_size, "--token is required");
		return -1;
	}
	return 0;
}
/* The CSR's subject name: the tower names the node by its id and takes
 * the host name from the request, so the subject only has to parse. A
 * host name with a comma, a backslash or a quote (possible in a UTS
 * namespace) must not stop the join: such bytes become '-'. */
static const char *csr_name(const char *hostname, char *out, size_t size)
{
	size_t n = 0;

	for (const char *c = hostname; *c != '\0' && n + 1 < size && n < 63; c++)
		out[n++] = ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			    *c == '.' || *c == '-' || *c == '_') ? *c : '-';
	out[n] = '\0';
	if (n == 0)
		snprintf(out, size, "node");
	return out;
}


int join_run(struct event_base *base, struct evdns_base *dns, const struct join_options *opt,
	     struct agent_config *cfg, struct join_link *keep, char *err, size_t err_size)
{
	struct join j = {.base = base, .opt = opt, .cfg = cfg, .status = 1, .keep = keep};
	struct tls_config *tls = NULL;
	struct facts facts;
	char path[PATH_MAX + 16];
	char csr_cn[64];
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (keep != NULL)
		memset(keep, 0, sizeof(*keep));
	mbedtls_pk_init(&j.key);
	mbedtls_x509_crt_init(&j.ca_file);
	if (check_options(opt, cfg, err, err_size) != 0)
		goto out;
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", opt->state_dir);
	if (opt->ca_file != NULL && mbedtls_x509_crt_parse_file(&j.ca_file, opt->ca_file) != 0) {
		snprintf(err, err_size, "--ca %s: not a readable PEM certificate", opt->ca_file);
		goto out;
	}
	if (util_mkdir_p(opt->state_dir, 0700) != 0) {
		snprintf(err, err_size, "cannot create %s: %s", opt->state_dir, strerror(errno));
		goto out;
	}
	facts_collect(&facts);
	snprintf(j.hostname, sizeof(j.hostname), "%s", facts.hostname);
	agent_config_path(cfg, "agent.key", path, sizeof(path));
	if (pki_key_generate(&j.key) != 0 || pki_key_save(&j.key, path) != 0) {
		snprintf(err, err_size, "cannot create the node key %s", path);
		goto out;
	}
	j.csr = pki_csr_create(&j.key, csr_name(j.hostname, csr_cn, sizeof(csr_cn)));
	tls = tls_config_client(opt->ca_file ? &j.ca_file : NULL, NULL, NULL);
	if (j.csr == NULL || tls == NULL) {
		snprintf(err, err_size, "cannot prepare the enrollment request");
		goto out;
	}
	j.dns = dns;
	j.tls = tls;
	j.give_up_ms = util_monotonic_ms() + opt->retry_for_s * 1000;
	j.ev_retry = event_new(base, -1, 0, join_retry, &j);
	if (j.ev_retry == NULL ||
	    link_open(base, dns, cfg->towers[0].host, cfg->towers[0].port, tls, &join_callbacks,
		      &j) == NULL) {
		snprintf(err, err_size, "cannot start connecting to %s", opt->tower);
		goto out;
	}
	event_base_dispatch(base);
	if (j.status != 0) {
		snprintf(err, err_size, "%s", j.status == 1 ? "interrupted" : j.err);
		goto out;
	}
	if (keep != NULL && keep->link != NULL) {
		keep->tls = tls;   /* the link uses it for as long as it lives */
		tls = NULL;
	}
	rc = 0;
out:
	if (j.ev_retry != NULL)
		event_free(j.ev_retry);
	free(j.csr);
	tls_config_free(tls);
	mbedtls_x509_crt_free(&j.ca_file);
	mbedtls_pk_free(&j.key);
	return rc;
}
