/* session.c — the agent's long-lived link to the tower: mTLS with the node
 * certificate, hello/welcome, heartbeats, capped exponential backoff. */
#include "agent/session.h"

#include <errno.h>
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
#include "agent/metrics.h"
#include "agent/worker.h"
#include "shared/log.h"
#include "shared/pki.h"
#include "shared/tls.h"
#include "shared/util.h"

#define BACKOFF_FIRST_MS 500
#define BACKOFF_CAP_MS 30000
#define SESSION_EXIT_REFUSED 3

struct session {
	struct event_base *base;
	struct evdns_base *dns;
	struct agent_config cfg;
	mbedtls_pk_context key;
	mbedtls_x509_crt cert;
	mbedtls_x509_crt ca;
	struct tls_config *tls;
	struct link *link;
	struct event *ev_retry;
	struct event *ev_heartbeat;
	struct facts facts;
	struct metrics_state metrics;   /* CPU counters of the last heartbeat */
	struct worker *worker;
	int attempt;
	int heartbeat_s;
	bool welcomed;
	bool renewing;          /* a renew is on its way; one at a time */
	bool cert_renewed;      /* reload agent.crt before the next connection */
	/* The tower's clock minus ours, from its welcome: certificates are
	 * the tower's, so their dates are judged on its clock. */
	int64_t tower_skew_s;
	int exit_status;
	/* The last TLS session, offered on reconnect so the tower can resume it
	 * without public-key work; kept in <state>/tls.session (0600) too, so a
	 * restarted agent resumes as well. */
	uint8_t *tls_session;
	size_t tls_session_len;
	/* The enrollment's connection, carried on as the first session: its TLS
	 * session has no client certificate, so it is never kept for resuming;
	 * its config outlives it and goes at the next connect. */
	struct link *enroll_link;
	struct tls_config *enroll_tls;
};

#define SESSION_FILE AGENT_TLS_SESSION_FILE
#define SESSION_FILE_MAX 16384

static void forget_tls_session(struct session *s)
{
	char path[PATH_MAX + 16];

	free(s->tls_session);
	s->tls_session = NULL;
	s->tls_session_len = 0;
	agent_config_path(&s->cfg, SESSION_FILE, path, sizeof(path));
	unlink(path);
}

/* After the welcome: the tower may have sent a fresh ticket. */
static void keep_tls_session(struct session *s, struct link *link)
{
	char path[PATH_MAX + 16];
	size_t len = 0;
	uint8_t *data = link_save_session(link, &len);

	if (data == NULL)
		return;
	free(s->tls_session);
	s->tls_session = data;
	s->tls_session_len = len;
	agent_config_path(&s->cfg, SESSION_FILE, path, sizeof(path));
	if (util_write_file_nosync(path, data, len, 0600) != 0)
		log_warn("cannot write %s: %s", path, strerror(errno));
}

/* Full jitter over an exponential window, so a fleet that lost the tower at
 * the same moment does not come back at the same moment. */
static int backoff_ms(int attempt)
{
	int64_t window = BACKOFF_FIRST_MS;
	uint32_t r = 0;

	for (int i = 0; i < attempt && window < BACKOFF_CAP_MS; i++)
		window *= 2;
	if (window > BACKOFF_CAP_MS)
		window = BACKOFF_CAP_MS;
	util_random(&r, sizeof(r));
	return (int)(window / 2 + r % (uint32_t)(window / 2 + 1));
}

static void session_connect(struct session *s);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	session_connect(arg);
}

/* attempt counts rounds over the tower replicas: the window grows once
 * each of them was tried. */
static void schedule_retry(struct session *s)
{
	int ms = backoff_ms(s->cfg.tower_at == 0 ? s->attempt++ : s->attempt);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	log_info("reconnecting in %d.%03ds", ms / 1000, ms % 1000);
	event_add(s->ev_retry, &tv);
}

static void send_heartbeat(struct session *s)
{
	struct msg m = {.type = MSG_HEARTBEAT};

	facts_load(&m.u.heartbeat.uptime, &m.u.heartbeat.mem_free, &m.u.heartbeat.load1_milli);
	metrics_read(&s->metrics, "", &m.u.heartbeat);
	m.u.heartbeat.running = s->worker ? worker_active(s->worker) : 0;
	if (s->link != NULL && link_send(s->link, &m) != 0)
		log_warn("cannot queue a heartbeat");
}

static int64_t tower_now(const struct session *s)
{
	return util_now() + s->tower_skew_s;
}

/* Renew once two thirds of the certificate's life have passed, on the
 * tower's clock. */
static void maybe_renew(struct session *s)
{
	int64_t from = pki_cert_not_before(&s->cert), to = pki_cert_not_after(&s->cert);
	struct msg m = {.type = MSG_RENEW};

	if (s->renewing || s->cert_renewed || s->link == NULL || tower_now(s) < to - (to - from) / 3)
		return;
	m.u.renew.csr = pki_csr_create(&s->key, s->facts.hostname);
	if (m.u.renew.csr == NULL)
		return;
	if (link_send(s->link, &m) == 0) {
		s->renewing = true;
		log_info("certificate expires at %lld: asking the tower for a new one", (long long)to);
	}
	free(m.u.renew.csr);
}

/* The new certificate must be for our key and from our CA, and valid on
 * the tower's clock (ours may be off); it is used from the next connection
 * on. */
static void handle_renewed(struct session *s, const struct msg_renewed *r)
{
	mbedtls_x509_crt cert;
	char path[PATH_MAX + 16], why[160];

	s->renewing = false;
	mbedtls_x509_crt_init(&cert);
	if (mbedtls_x509_crt_parse(&cert, (const unsigned char *)r->cert, strlen(r->cert) + 1) != 0 ||
	    certtime_verify(&cert, &s->ca, NULL, tower_now(s), why, sizeof(why)) == CERTTIME_NOT_OURS ||
	    mbedtls_pk_check_pair(&cert.pk, &s->key) != 0) {
		log_warn("the tower sent a renewed certificate that is not ours, ignored");
		goto out;
	}
	if (certtime_verify(&cert, &s->ca, NULL, tower_now(s), why, sizeof(why)) != CERTTIME_OK) {
		log_warn("the renewed certificate is ignored: %s", why);
		goto out;
	}
	agent_config_path(&s->cfg, "agent.crt", path, sizeof(path));
	if (util_write_file(path, r->cert, strlen(r->cert), 0600) != 0) {
		log_error("cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	s->cert_renewed = true;
	/* The saved TLS session is the old certificate's: resumed after a
	 * restart, it would show the tower that one instead of the new. */
	forget_tls_session(s);
	log_info("certificate renewed, valid until %lld", (long long)pki_cert_not_after(&cert));
out:
	mbedtls_x509_crt_free(&cert);
}

/* Swaps in the renewed certificate between connections. */
static int reload_cert(struct session *s)
{
	char path[PATH_MAX + 16];
	mbedtls_x509_crt cert;
	struct tls_config *tls;

	mbedtls_x509_crt_init(&cert);
	agent_config_path(&s->cfg, "agent.crt", path, sizeof(path));
	if (mbedtls_x509_crt_parse_file(&cert, path) != 0) {
		mbedtls_x509_crt_free(&cert);
		return -1;
	}
	tls_config_free(s->tls);
	mbedtls_x509_crt_free(&s->cert);
	s->cert = cert;
	/* The saved session names the old certificate. */
	forget_tls_session(s);
	tls = tls_config_client(&s->ca, &s->cert, &s->key);
	s->tls = tls;
	s->cert_renewed = false;
	return tls != NULL ? 0 : -1;
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	send_heartbeat(arg);
	maybe_renew(arg);
}

static void session_on_ready(struct link *link, void *arg)
{
	struct session *s = arg;
	struct msg m = {.type = MSG_HELLO};

	m.u.hello.version = OC_VERSION;
	m.u.hello.hostname = s->facts.hostname;
	m.u.hello.arch = s->facts.arch;
	m.u.hello.os = s->facts.os;
	m.u.hello.kernel = s->facts.kernel;
	m.u.hello.cpus = s->facts.cpus;
	m.u.hello.mem_total = s->facts.mem_total;
	link_send(link, &m);
}

/* Refusals that no retry can fix: the node must join again. */
static bool refusal_is_final(const char *reason)
{
	return strstr(reason, "revoked") != NULL || strcmp(reason, "unknown node") == 0;
}

static void session_on_msg(struct link *link, const struct msg *m, void *arg)
{
	struct session *s = arg;
	struct timeval tv;
	char name[272];
	char ip[64];

	switch (m->type) {
	case MSG_WELCOME:
		s->welcomed = true;
		s->tower_skew_s = m->u.welcome.time - util_now();
		worker_tower_clock(s->worker, m->u.welcome.time);
		if (s->tower_skew_s > 60 || s->tower_skew_s < -60)
			log_warn("this node's clock is %lld s %s the tower's: certificates are judged on the tower's",
				 (long long)(s->tower_skew_s < 0 ? -s->tower_skew_s : s->tower_skew_s),
				 s->tower_skew_s < 0 ? "ahead of" : "behind");
		s->attempt = 0;
		s->heartbeat_s = s->cfg.heartbeat_s > 0 ? s->cfg.heartbeat_s : (int)m->u.welcome.heartbeat;
		if (s->heartbeat_s < 1 || s->heartbeat_s > 3600)
			s->heartbeat_s = 10;
		log_info("connected to tower %s as node %s (heartbeat %ds)",
			 agent_tower_name(&s->cfg.towers[s->cfg.tower_at], name, sizeof(name)),
			 m->u.welcome.node_id, s->heartbeat_s);
		tv.tv_sec = s->heartbeat_s;
		tv.tv_usec = 0;
		event_add(s->ev_heartbeat, &tv);
		if (link_local_ip(link, ip, sizeof(ip)) != 0)
			snprintf(ip, sizeof(ip), "127.0.0.1");
		worker_connected(s->worker, m->u.welcome.node_id, ip);
		if (link != s->enroll_link)
			keep_tls_session(s, link);
		maybe_renew(s);
		break;
	case MSG_TASK:
	case MSG_CANCEL:
	case MSG_TASK_ACK:
		if (s->welcomed)
			worker_handle(s->worker, m);
		break;
	case MSG_RENEWED:
		handle_renewed(s, &m->u.renewed);
		break;
	case MSG_ERROR:
		s->renewing = false;
		log_error("tower says: %s", m->u.error.reason);
		if (refusal_is_final(m->u.error.reason)) {
			s->exit_status = SESSION_EXIT_REFUSED;
			link_close(link, "refused");
		}
		break;
	default:
		log_warn("unexpected \"%s\" from the tower, ignored", msg_type_name(m->type));
		break;
	}
}

static void session_on_close(struct link *link, const char *reason, void *arg)
{
	struct session *s = arg;
	char name[272];

	s->link = NULL;
	event_del(s->ev_heartbeat);
	agent_tower_name(&s->cfg.towers[s->cfg.tower_at], name, sizeof(name));
	if (s->welcomed) {
		/* the same replica first: a restarted tower is back in seconds */
		log_warn("lost the tower %s: %s", name, reason);
	} else {
		log_warn("cannot reach the tower %s: %s", name, reason);
		s->cfg.tower_at = (s->cfg.tower_at + 1) % s->cfg.tower_count;
	}
	s->welcomed = false;
	s->renewing = false;
	if (s->exit_status != 0) {
		event_base_loopbreak(s->base);
		return;
	}
	schedule_retry(s);
}

static void session_on_drained(struct link *link, void *arg)
{
	struct session *s = arg;

	worker_drained(s->worker);
}

static const struct link_callbacks session_callbacks = {
	.on_ready = session_on_ready,
	.on_drained = session_on_drained,
	.on_msg = session_on_msg,
	.on_close = session_on_close,
};

static int link_send_msg(void *arg, const struct msg *m)
{
	struct session *s = arg;

	return s->link != NULL && s->welcomed ? link_send(s->link, m) : -1;
}

static int link_send_raw(void *arg, const uint8_t *frame, size_t len)
{
	struct session *s = arg;

	return s->link != NULL && s->welcomed ? link_send_frame(s->link, frame, len) : -1;
}

static size_t link_queued(void *arg)
{
	struct session *s = arg;

	return s->link != NULL ? link_pending(s->link) : 0;
}

static void session_connect(struct session *s)
{
	/* The enrollment's link closed an event loop turn ago at least. */
	s->enroll_link = NULL;
	tls_config_free(s->enroll_tls);
	s->enroll_tls = NULL;
	if (s->cert_renewed && reload_cert(s) != 0) {
		log_error("cannot load the renewed certificate");
		s->exit_status = 1;
		event_base_loopbreak(s->base);
		return;
	}
	s->link = link_open(s->base, s->dns, s->cfg.towers[s->cfg.tower_at].host,
			    s->cfg.towers[s->cfg.tower_at].port, s->tls,
			    &session_callbacks, s);
	if (s->link == NULL) {
		schedule_retry(s);
		return;
	}
	if (s->tls_session != NULL)
		link_offer_session(s->link, s->tls_session, s->tls_session_len);
}

struct session *session_new(struct event_base *base, struct evdns_base *dns,
			    const struct agent_config *cfg, char *err, size_t err_size)
{
	struct session *s = calloc(1, sizeof(*s));
	char path[PATH_MAX + 16];

	if (s == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->base = base;
	s->dns = dns;
	s->cfg = *cfg;
	mbedtls_pk_init(&s->key);
	mbedtls_x509_crt_init(&s->cert);
	mbedtls_x509_crt_init(&s->ca);
	agent_config_path(cfg, "agent.key", path, sizeof(path));
	if (pki_key_load(&s->key, path, err, err_size) != 0)
		goto fail;
	agent_config_path(cfg, "agent.crt", path, sizeof(path));
	if (mbedtls_x509_crt_parse_file(&s->cert, path) != 0) {
		snprintf(err, err_size, "%s: not a readable certificate", path);
		goto fail;
	}
	agent_config_path(cfg, "ca.pem", path, sizeof(path));
	if (mbedtls_x509_crt_parse_file(&s->ca, path) != 0) {
		snprintf(err, err_size, "%s: not a readable certificate", path);
		goto fail;
	}
	s->tls = tls_config_client(&s->ca, &s->cert, &s->key);
	agent_config_path(cfg, SESSION_FILE, path, sizeof(path));
	s->tls_session = (uint8_t *)util_read_file(path, SESSION_FILE_MAX, &s->tls_session_len);
	s->ev_retry = event_new(base, -1, 0, on_retry, s);
	s->ev_heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, s);
	if (s->tls == NULL || s->ev_retry == NULL || s->ev_heartbeat == NULL) {
		snprintf(err, err_size, "cannot set up the connection");
		goto fail;
	}
	facts_collect(&s->facts);
	{
		struct worker_link wl = {.send = link_send_msg, .send_frame = link_send_raw,
					 .pending = link_queued, .arg = s};
		s->worker = worker_new(base, cfg->state_dir,
				       cfg->max_tasks > 0 ? (unsigned)cfg->max_tasks : 4, &wl,
				       err, err_size);
		if (s->worker == NULL)
			goto fail;
	}
	return s;
fail:
	session_free(s);
	return NULL;
}

void session_start(struct session *s)
{
	session_connect(s);
}

void session_start_on(struct session *s, struct link *link, struct tls_config *tls)
{
	s->link = link;
	s->enroll_link = link;
	s->enroll_tls = tls;
	link_rebind(link, &session_callbacks, s);
	session_on_ready(link, s);
}

int session_exit_status(const struct session *s)
{
	return s->exit_status;
}

void session_free(struct session *s)
{
	if (s == NULL)
		return;
	link_free(s->link);
	tls_config_free(s->enroll_tls);
	worker_free(s->worker);
	if (s->ev_retry != NULL)
		event_free(s->ev_retry);
	if (s->ev_heartbeat != NULL)
		event_free(s->ev_heartbeat);
	tls_config_free(s->tls);
	mbedtls_x509_crt_free(&s->ca);
	mbedtls_x509_crt_free(&s->cert);
	mbedtls_pk_free(&s->key);
	free(s->tls_session);
	free(s);
}
