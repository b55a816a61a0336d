/* swarm.c — N simulated agents in one process on one event loop, each with
 * its own P-256 key, CSR, certificate and mutual-TLS connection, speaking the
 * real agent protocol: enroll, hello, heartbeat, run a no-op task, reconnect,
 * fail over between tower replicas as the agent does (agent/session.c, join.c).
 * Owns the simulation and its status file; TLS, frames and messages are the
 * shared code the real agent uses. A benchmark tool: never run as a test
 * itself (tests/integration/test_swarm.sh drives it for correctness). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "shared/frame.h"
#include "shared/log.h"
#include "shared/msg.h"
#include "shared/pki.h"
#include "shared/proto.h"
#include "shared/tls.h"
#include "shared/util.h"

#define SWARM_HANDSHAKE_TIMEOUT_MS 30000
#define SWARM_BACKOFF_FIRST_MS 500     /* as the real agent (agent/session.c) */
#define SWARM_BACKOFF_CAP_MS 30000
#define SWARM_STATUS_MS 250
#define SWARM_TOKENS_MAX 16
#define SWARM_TOWERS_MAX 8             /* as AGENT_TOWERS_MAX */
#define SWARM_JOIN_BACKOFF_FIRST_MS 500 /* as agent/join.c */
#define SWARM_JOIN_BACKOFF_CAP_MS 15000

enum agent_state {
	A_NEW,          /* key and CSR made, not enrolled */
	A_ENROLLING,
	A_ENROLLED,     /* has a certificate, not connected */
	A_CONNECTING,   /* handshake or hello in flight */
	A_CONNECTED,    /* welcomed */
	A_WAITING,      /* backing off before the next attempt */
	A_REFUSED,      /* the tower refused this node for good */
};

enum phase { P_ENROLL, P_CONNECT, P_RUN };

struct swarm;

struct agent {
	struct swarm *sw;
	unsigned idx;
	enum agent_state state;
	const char *token;
	mbedtls_pk_context key;
	char *csr;                /* until enrolled */
	mbedtls_x509_crt cert;
	struct tls_config *cfg;   /* own certificate: one per agent */
	struct tls_conn *tls;
	struct event *ev_retry;
	struct event *ev_heartbeat;
	uint8_t *session;         /* saved TLS session, offered on reconnect */
	size_t session_len;
	int attempt;              /* rounds over the replicas, as the agent counts */
	int join_attempt;         /* the same while enrolling (agent/join.c) */
	/* Its replica list starts at tower_first (agent i: i % towers, as if
	 * joined with a join line that names that replica first); tower_at is
	 * the one it dials now, welcomed_at the last that welcomed it. */
	unsigned tower_first, tower_at;
	int welcomed_at;
	unsigned tasks;
	bool carrying;            /* enrolled, saying hello on the same connection */
	char node_id[40];
};

struct swarm {
	struct event_base *base;
	struct sockaddr_in towers[SWARM_TOWERS_MAX];
	unsigned ntowers;
	unsigned connected_on[SWARM_TOWERS_MAX];  /* welcomed agents per replica */
	uint64_t moved;                  /* welcomes by another replica than the last */
	mbedtls_x509_crt ca;
	struct tls_config *enroll_cfg;   /* no client certificate: shared */
	struct agent *agents;
	unsigned n;
	unsigned parallel;
	unsigned next;                   /* next agent a phase starts */
	unsigned inflight;
	unsigned carrying;               /* enrolled, their hello not yet welcomed */
	unsigned enrolled, connected, refused;
	enum phase phase;
	int heartbeat_s;                 /* 0: what the tower says */
	const struct timeval *heartbeat_tv;
	int64_t t_start_ms, prepare_ms, enroll_ms, connect_ms;
	int64_t all_connected_at_ms;     /* wall clock, last time all were up */
	uint64_t disconnects, tasks, errors, handshake_failures;
	/* The tower's certificate, verified against the CA once; every later
	 * handshake only compares bytes with it (see pin_tower). */
	mbedtls_x509_crt tower_cert;
	bool tower_verified;
	const char *status_path;
	struct event *ev_status;
	struct event *ev_sigterm;
	bool no_resume;
	bool no_metrics;                 /* heartbeats as agents before the metrics */
	/* As the agent does: the enrollment's connection carries on as the
	 * session (--no-carry-on: close it and dial again with the certificate,
	 * as agents before 0.1 did). */
	bool no_carry_on;
	int64_t t0_ms;                   /* the first enrollment's start */
	int64_t ready_ms;                /* all enrolled and welcomed, from t0 */
};

static int64_t wall_ms(void)
{
	return util_now_ms();
}

static int backoff_ms(int attempt)
{
	int64_t window = SWARM_BACKOFF_FIRST_MS;
	uint32_t r = 0;

	for (int i = 0; i < attempt && window < SWARM_BACKOFF_CAP_MS; i++)
		window *= 2;
	if (window > SWARM_BACKOFF_CAP_MS)
		window = SWARM_BACKOFF_CAP_MS;
	util_random(&r, sizeof(r));
	return (int)(window / 2 + r % (uint32_t)(window / 2 + 1));
}

static void phase_pump(struct swarm *sw);
static void agent_connect(struct agent *a);
static const struct tls_conn_callbacks run_callbacks;
static void run_on_ready(struct tls_conn *tls, void *arg);

static void wait_ms(struct agent *a, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	a->state = A_WAITING;
	event_add(a->ev_retry, &tv);
}

/* As the agent's session: attempt counts rounds over the replicas, so the
 * window grows once each of them was tried (agent/session.c). */
static void schedule_retry(struct agent *a)
{
	wait_ms(a, backoff_ms(a->tower_at == a->tower_first ? a->attempt++ : a->attempt));
}

/* A replica it could not reach or that did not welcome it: the next one
 * (the one it lost is tried first, by schedule_retry alone). */
static void next_tower(struct agent *a)
{
	a->tower_at = (a->tower_at + 1) % a->sw->ntowers;
}

/* As agent/join.c: an enrollment that failed goes to the next replica at
 * once; after a whole round, a jittered window from 0.5 s doubling to 15 s. */
static void schedule_enroll_retry(struct agent *a)
{
	int ms = SWARM_JOIN_BACKOFF_FIRST_MS;
	uint32_t r = 0;

	next_tower(a);
	if (a->tower_at != a->tower_first) {
		wait_ms(a, 0);
		return;
	}
	for (int i = 0; i < a->join_attempt && ms < SWARM_JOIN_BACKOFF_CAP_MS; i++)
		ms *= 2;
	util_random(&r, sizeof(r));
	a->join_attempt++;
	wait_ms(a, ms / 2 + (int)(r % (uint32_t)(ms / 2 + 1)));
}

/* A connected socket to the tower, non-blocking; the TLS handshake waits
 * for the connect to finish by itself. */
static int tower_socket(struct swarm *sw, const struct agent *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sw->towers[a->tower_at], sizeof(sw->towers[0])) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Real agents verify the tower's chain on each handshake. Here ten
 * thousand agents would verify the same certificate ten thousand times on
 * the CPU the tower needs, so the chain is verified once and pinned. */
static int pin_tower(struct swarm *sw, struct tls_conn *tls)
{
	const mbedtls_x509_crt *peer = tls_conn_peer_cert(tls);
	uint32_t flags = 0;

	if (peer == NULL)
		return -1;
	if (sw->tower_verified)
		return peer->raw.len == sw->tower_cert.raw.len &&
		       memcmp(peer->raw.p, sw->tower_cert.raw.p, peer->raw.len) == 0 ? 0 : -1;
	if (mbedtls_x509_crt_verify((mbedtls_x509_crt *)peer, &sw->ca, NULL, PKI_TOWER_NAME,
				    &flags, NULL, NULL) != 0 ||
	    mbedtls_x509_crt_parse_der(&sw->tower_cert, peer->raw.p, peer->raw.len) != 0) {
		log_error("the tower's certificate does not verify against --ca");
		return -1;
	}
	sw->tower_verified = true;
	return 0;
}

/* ---- enrollment ---- */

static void enroll_on_ready(struct tls_conn *tls, void *arg)
{
	struct agent *a = arg;
	struct msg m = {.type = MSG_ENROLL};
	char host[32];

	if (pin_tower(a->sw, tls) != 0) {
		tls_conn_close_after_flush(tls, "tower not verified");
		return;
	}
	snprintf(host, sizeof(host), "swarm-%05u", a->idx);
	m.u.enroll.token = (char *)a->token;
	m.u.enroll.csr = a->csr;
	m.u.enroll.hostname = host;
	proto_send(tls, &m);
}

static void enroll_on_read(struct tls_conn *tls, struct evbuffer *in, void *arg)
{
	struct agent *a = arg;
	char err[256];
	struct msg m;
	int r;

	while ((r = proto_read(in, FRAME_MAX_DEFAULT, &m, err, sizeof(err))) != 0) {
		if (r < 0) {
			log_warn("agent %u: %s", a->idx, err);
			tls_conn_close_after_flush(tls, err);
			return;
		}
		if (m.type == MSG_ENROLLED && a->state == A_ENROLLING &&
		    mbedtls_x509_crt_parse(&a->cert, (const unsigned char *)m.u.enrolled.cert,
					   strlen(m.u.enrolled.cert) + 1) == 0) {
			snprintf(a->node_id, sizeof(a->node_id), "%s", m.u.enrolled.node_id);
			a->state = A_ENROLLED;
			/* As the agent: the tower's ticket for the new identity makes
			 * the next connection a resumption. */
			if (!a->sw->no_resume && m.u.enrolled.ticket.len != 0) {
				free(a->session);
				a->session = tls_conn_save_session_with_ticket(
					tls, m.u.enrolled.ticket.data, m.u.enrolled.ticket.len,
					(uint32_t)m.u.enrolled.ticket_lifetime, &a->session_len);
			}
			if (!a->sw->no_carry_on) {
				msg_clear(&m);
				free(a->csr);
				a->csr = NULL;
				a->attempt = 0;
				a->sw->enrolled++;
				/* The enrollment is done: its slot goes to the next
				 * one, as when agents closed here; the hello is out. */
				a->carrying = true;
				a->sw->carrying++;
				a->sw->inflight--;
				a->state = A_CONNECTING;
				tls_conn_set_callbacks(tls, &run_callbacks, a);
				run_on_ready(tls, a);
				phase_pump(a->sw);
				return;
			}
		} else if (m.type == MSG_ERROR) {
			log_warn("agent %u: enrollment refused: %s", a->idx, m.u.error.reason);
		}
		msg_clear(&m);
		tls_conn_close_after_flush(tls, "enrolled");
		return;
	}
}

static void enroll_on_close(struct tls_conn *tls, const char *reason, void *arg)
{
	struct agent *a = arg;
	struct swarm *sw = a->sw;

	a->tls = NULL;
	sw->inflight--;
	if (a->state == A_ENROLLED) {
		free(a->csr);
		a->csr = NULL;
		a->attempt = 0;
		sw->enrolled++;
	} else {
		sw->handshake_failures++;
		log_debug("agent %u: enrollment attempt failed: %s", a->idx, reason);
		a->state = A_NEW;
		schedule_enroll_retry(a);
	}
	phase_pump(sw);
}

static const struct tls_conn_callbacks enroll_callbacks = {
	.on_ready = enroll_on_ready,
	.on_read = enroll_on_read,
	.on_close = enroll_on_close,
};

static void agent_enroll(struct agent *a)
{
	struct swarm *sw = a->sw;
	int fd = tower_socket(sw, a);

	sw->inflight++;
	a->state = A_ENROLLING;
	if (fd >= 0)
		a->tls = tls_conn_new(sw->base, fd, sw->enroll_cfg, false, PKI_TOWER_NAME,
				      SWARM_HANDSHAKE_TIMEOUT_MS, &enroll_callbacks, a);
	if (fd < 0 || a->tls == NULL) {
		sw->inflight--;
		a->state = A_NEW;
		schedule_enroll_retry(a);
	}
}

/* ---- the mutual-TLS session ---- */

static void send_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	struct msg m = {.type = MSG_HEARTBEAT};

	if (a->state != A_CONNECTED)
		return;
	m.u.heartbeat.uptime = (uint64_t)((wall_ms() - a->sw->t_start_ms) / 1000);
	m.u.heartbeat.mem_free = 512u << 20;
	m.u.heartbeat.load1_milli = 10;
	m.u.heartbeat.running = 0;
	if (!a->sw->no_metrics) {
		/* What a real agent's heartbeat carries, varied per agent and
		 * beat so that the tower stores and rates moving figures. */
		uint64_t beat = (uint64_t)wall_ms() / 1000, salt = (uint64_t)(a - a->sw->agents);

		m.u.heartbeat.cpu_permille = (beat * 7 + salt * 13) % 1001;
		m.u.heartbeat.mem_total = 2ull << 30;
		m.u.heartbeat.mem_used = (512ull << 20) + (salt % 1024) * 4096;
		m.u.heartbeat.fs_total = 20ull << 30;
		m.u.heartbeat.fs_used = 5ull << 30;
		m.u.heartbeat.net_rx = beat * 1500;
		m.u.heartbeat.net_tx = beat * 700;
	}
	proto_send(a->tls, &m);
}

static void run_on_ready(struct tls_conn *tls, void *arg)
{
	struct agent *a = arg;
	struct msg m = {.type = MSG_HELLO};
	char host[32];

	/* A resumed session shows the certificate of the first handshake. */
	if (pin_tower(a->sw, tls) != 0) {
		tls_conn_close_after_flush(tls, "tower not verified");
		return;
	}
	snprintf(host, sizeof(host), "swarm-%05u", a->idx);
	m.u.hello.version = OC_VERSION;
	m.u.hello.hostname = host;
	m.u.hello.arch = "x86_64";
	m.u.hello.os = "swarm";
	m.u.hello.kernel = "simulated";
	m.u.hello.cpus = 1;
	m.u.hello.mem_total = 1024u << 20;
	proto_send(tls, &m);
}

static void on_welcome(struct agent *a, const struct msg_welcome *w)
{
	struct swarm *sw = a->sw;

	if (sw->heartbeat_tv == NULL) {
		struct timeval tv = {sw->heartbeat_s > 0 ? sw->heartbeat_s : (int)w->heartbeat, 0};
		if (tv.tv_sec < 1)
			tv.tv_sec = 10;
		/* Same period for everyone: one timer queue, not a heap. */
		sw->heartbeat_tv = event_base_init_common_timeout(sw->base, &tv);
	}
	a->state = A_CONNECTED;
	a->attempt = 0;
	event_add(a->ev_heartbeat, sw->heartbeat_tv);
	/* The enrollment's session has no client certificate: not for resuming. */
	if (!sw->no_resume && !a->carrying) {
		free(a->session);
		a->session = tls_conn_save_session(a->tls, &a->session_len);
	}
	sw->connected++;
	sw->connected_on[a->tower_at]++;
	if (a->welcomed_at >= 0 && (unsigned)a->welcomed_at != a->tower_at)
		sw->moved++;
	a->welcomed_at = (int)a->tower_at;
	if (sw->connected + sw->refused == sw->n)
		sw->all_connected_at_ms = wall_ms();
	if (a->carrying) {
		a->carrying = false;
		sw->carrying--;
		phase_pump(sw);
	} else if (sw->phase == P_CONNECT) {
		sw->inflight--;
		phase_pump(sw);
	}
}

/* A no-op task, done at once as `true` would be. The agent sends
 * "task.accepted" only for a task still running after 100 ms
 * (agent/worker.c), so for this one only "task.done" goes out. */
static void on_task(struct agent *a, const struct msg_task *t)
{
	struct msg m = {.type = MSG_TASK_DONE};

	m.u.task_done.id = t->id;
	m.u.task_done.status = "done";
	m.u.task_done.exit_code = 0;
	m.u.task_done.duration_ms = 0;
	proto_send(a->tls, &m);
	a->tasks++;
	a->sw->tasks++;
}

static void run_on_read(struct tls_conn *tls, struct evbuffer *in, void *arg)
{
	struct agent *a = arg;
	char err[256];
	struct msg m;
	int r;

	while ((r = proto_read(in, FRAME_MAX_DEFAULT, &m, err, sizeof(err))) != 0) {
		if (r < 0) {
			log_warn("agent %u: %s, closing", a->idx, err);
			tls_conn_close_after_flush(tls, err);
			return;
		}
		switch (m.type) {
		case MSG_WELCOME:
			if (a->state == A_CONNECTING)
				on_welcome(a, &m.u.welcome);
			break;
		case MSG_TASK:
			if (a->state == A_CONNECTED)
				on_task(a, &m.u.task);
			break;
		case MSG_TASK_ACK:
		case MSG_CANCEL:
			break;
		case MSG_ERROR:
			a->sw->errors++;
			log_warn("agent %u (%s): tower says: %s", a->idx, a->node_id, m.u.error.reason);
			if (strstr(m.u.error.reason, "revoked") != NULL ||
			    strcmp(m.u.error.reason, "unknown node") == 0)
				a->state = A_REFUSED;
			break;
		default:
			log_warn("agent %u: unexpected \"%s\"", a->idx, msg_type_name(m.type));
			break;
		}
		msg_clear(&m);
	}
}

static void run_on_close(struct tls_conn *tls, const char *reason, void *arg)
{
	struct agent *a = arg;
	struct swarm *sw = a->sw;
	bool was_connected = a->state == A_CONNECTED;

	a->tls = NULL;
	event_del(a->ev_heartbeat);
	if (a->carrying) {
		a->carrying = false;
		sw->carrying--;
	} else if (sw->phase == P_CONNECT && !was_connected) {
		sw->inflight--;
	}
	if (was_connected) {
		sw->connected--;
		sw->connected_on[a->tower_at]--;
		sw->disconnects++;
		/* the same replica first: a restarted tower is back in seconds */
	} else if (a->state != A_REFUSED) {
		sw->handshake_failures++;
		log_debug("agent %u: connection attempt failed: %s", a->idx, reason);
		next_tower(a);
	}
	if (a->state == A_REFUSED) {
		sw->refused++;
		/* The tower refused for good: the session must not be reused. */
		free(a->session);
		a->session = NULL;
	} else {
		schedule_retry(a);
	}
	phase_pump(sw);
}

static const struct tls_conn_callbacks run_callbacks = {
	.on_ready = run_on_ready,
	.on_read = run_on_read,
	.on_close = run_on_close,
};

static void agent_connect(struct agent *a)
{
	struct swarm *sw = a->sw;
	int fd;

	if (a->cfg == NULL) {
		mbedtls_pk_context signer;

		/* it signs every full handshake from now on: keep its table (the
		 * CSR, the only thing that needed the generic type, is sent) */
		mbedtls_pk_init(&signer);
		if (pki_key_signer(&signer, &a->key) == 0) {
			mbedtls_pk_free(&a->key);
			a->key = signer;
		}
		a->cfg = tls_config_client(NULL, &a->cert, &a->key);
		if (a->cfg == NULL)
			fatal("agent %u: cannot set up tls", a->idx);
	}
	if (sw->phase == P_CONNECT)
		sw->inflight++;
	a->state = A_CONNECTING;
	fd = tower_socket(sw, a);
	if (fd >= 0)
		a->tls = tls_conn_new(sw->base, fd, a->cfg, false, PKI_TOWER_NAME,
				      SWARM_HANDSHAKE_TIMEOUT_MS, &run_callbacks, a);
	if (fd < 0 || a->tls == NULL) {
		if (sw->phase == P_CONNECT)
			sw->inflight--;
		schedule_retry(a);
		return;
	}
	if (a->session != NULL)
		tls_conn_offer_session(a->tls, a->session, a->session_len);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	if (a->cert.raw.p == NULL)
		agent_enroll(a);
	else
		agent_connect(a);
}

/* ---- phases: enroll everyone, connect everyone, then stay ---- */

static void write_status(evutil_socket_t fd, short what, void *arg);

static void phase_pump(struct swarm *sw)
{
	if (sw->phase == P_ENROLL) {
		while (sw->inflight < sw->parallel && sw->next < sw->n)
			agent_enroll(&sw->agents[sw->next++]);
		if (sw->enrolled < sw->n)
			return;
		sw->enroll_ms = wall_ms() - sw->t_start_ms;
		write_status(-1, 0, sw); /* before the line scripts wait for */
		printf("enrolled %u agents in %.2f s\n", sw->n, sw->enroll_ms / 1000.0);
		fflush(stdout);
		sw->phase = P_CONNECT;
		sw->next = 0;
		sw->t_start_ms = wall_ms();
	}
	if (sw->phase == P_CONNECT) {
		/* Carried-on agents are connected or on their way already. */
		while (sw->inflight < sw->parallel && sw->next < sw->n) {
			struct agent *a = &sw->agents[sw->next++];

			if (a->state == A_ENROLLED)
				agent_connect(a);
		}
		if (sw->connected + sw->refused < sw->n || sw->inflight > 0 || sw->carrying > 0)
			return;
		sw->connect_ms = wall_ms() - sw->t_start_ms;
		sw->ready_ms = wall_ms() - sw->t0_ms;
		write_status(-1, 0, sw);
		printf("connected %u agents in %.2f s\n", sw->connected, sw->connect_ms / 1000.0);
		printf("enrolled and ready for tasks: %u agents in %.2f s\n", sw->connected,
		       sw->ready_ms / 1000.0);
		fflush(stdout);
		sw->phase = P_RUN;
	}
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* One JSON object, replaced atomically, for scripts to poll. */
static void write_status(evutil_socket_t fd, short what, void *arg)
{
	struct swarm *sw = arg;
	unsigned zero = 0, one = 0, more = 0;
	char text[1536], towers[256];
	int len, tlen = 0;

	for (unsigned i = 0; i < sw->n; i++) {
		unsigned t = sw->agents[i].tasks;
		zero += t == 0;
		one += t == 1;
		more += t > 1;
	}
	for (unsigned t = 0; t < sw->ntowers; t++)
		tlen += snprintf(towers + tlen, sizeof(towers) - (size_t)tlen, "%s%u", t ? ", " : "",
				 sw->connected_on[t]);
	len = snprintf(text, sizeof(text),
		       "{\"agents\": %u, \"phase\": \"%s\", \"enrolled\": %u, \"connected\": %u, "
		       "\"refused\": %u, \"prepare_ms\": %lld, \"enroll_ms\": %lld, "
		       "\"connect_ms\": %lld, \"ready_ms\": %lld, \"all_connected_at_ms\": %lld, \"disconnects\": %llu, "
		       "\"failed_attempts\": %llu, \"errors\": %llu, \"tasks\": %llu, "
		       "\"agents_with_tasks\": {\"0\": %u, \"1\": %u, \"more\": %u}, "
		       "\"connected_per_tower\": [%s], \"moved\": %llu, "
		       "\"rss_kb\": %ld, \"now_ms\": %lld}\n",
		       sw->n, sw->phase == P_ENROLL ? "enroll" : sw->phase == P_CONNECT ? "connect" : "run",
		       sw->enrolled, sw->connected, sw->refused, (long long)sw->prepare_ms,
		       (long long)sw->enroll_ms, (long long)sw->connect_ms, (long long)sw->ready_ms,
		       (long long)sw->all_connected_at_ms, (unsigned long long)sw->disconnects,
		       (unsigned long long)sw->handshake_failures, (unsigned long long)sw->errors,
		       (unsigned long long)sw->tasks, zero, one, more, towers,
		       (unsigned long long)sw->moved, rss_kb(), (long long)wall_ms());
	if (sw->status_path != NULL)
		util_write_file_nosync(sw->status_path, text, (size_t)len, 0644);
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct swarm *sw = arg;

	write_status(-1, 0, sw);
	event_base_loopbreak(sw->base);
}

/* Keys and CSRs for agents [from, to), on a thread of their own. */
struct keygen_part {
	struct agent *agents;
	unsigned from, to;
	int failed;
};

static void *keygen_run(void *arg)
{
	struct keygen_part *p = arg;

	for (unsigned i = p->from; i < p->to && !p->failed; i++) {
		struct agent *a = &p->agents[i];
		char cn[32];

		snprintf(cn, sizeof(cn), "swarm-%05u", i);
		if (pki_key_generate(&a->key) != 0 || (a->csr = pki_csr_create(&a->key, cn)) == NULL)
			p->failed = 1;
	}
	return NULL;
}

/* One thread per CPU: only set-up, before the event loop runs. */
static void make_keys(struct agent *agents, unsigned n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned k = cpus > 1 ? (unsigned)(cpus > 8 ? 8 : cpus) : 1;
	struct keygen_part parts[8];
	pthread_t threads[8];

	pki_rng();   /* seeded once, before the threads share it */
	for (unsigned t = 0; t < k; t++) {
		parts[t] = (struct keygen_part){agents, n * t / k, n * (t + 1) / k, 0};
		if (pthread_create(&threads[t], NULL, keygen_run, &parts[t]) != 0)
			fatal("cannot start a key generation thread");
	}
	for (unsigned t = 0; t < k; t++) {
		pthread_join(threads[t], NULL);
		if (parts[t].failed)
			fatal("cannot make a key and csr");
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: swarm --tower HOST:PORT[,HOST:PORT...] --ca FILE --token TOKEN:COUNT [--token ...]\n"
		"             [--status FILE] [--parallel N] [--heartbeat SECONDS] [--no-resume]\n"
		"             [--no-metrics] [--no-carry-on]\n"
		"  Enrolls COUNT agents with each token; each enrollment's connection carries\n"
		"  on as the agent's session (--no-carry-on: dial again with mutual TLS),\n"
		"  then keeps them connected (heartbeats, no-op tasks, reconnects) until\n"
		"  SIGTERM/SIGINT. Progress goes to stdout, a JSON status to --status.\n"
		"  Heartbeats carry node figures as the agent's do, unless --no-metrics.\n"
		"  Several --tower replicas (at most %d): agent i starts on replica i %% n and\n"
		"  fails over to the next one with the agent's backoff.\n",
		SWARM_TOWERS_MAX);
	exit(2);
}

/* --tower A,B,...: IPv4:PORT each, different, as the agent takes its list. */
static int parse_towers(struct swarm *sw, const char *list)
{
	char *copy = strdup(list), *save = NULL, host[256];
	uint16_t port;

	if (copy == NULL)
		return -1;
	sw->ntowers = 0;
	for (char *one = strtok_r(copy, ",", &save); one != NULL; one = strtok_r(NULL, ",", &save)) {
		struct sockaddr_in *to = &sw->towers[sw->ntowers];

		if (sw->ntowers == SWARM_TOWERS_MAX ||
		    util_parse_hostport(one, host, sizeof(host), &port) != 0 ||
		    inet_pton(AF_INET, host, &to->sin_addr) != 1)
			goto bad;
		to->sin_family = AF_INET;
		to->sin_port = htons(port);
		for (unsigned i = 0; i < sw->ntowers; i++)
			if (sw->towers[i].sin_port == to->sin_port &&
			    sw->towers[i].sin_addr.s_addr == to->sin_addr.s_addr)
				goto bad;
		sw->ntowers++;
	}
	free(copy);
	return sw->ntowers > 0 ? 0 : -1;
bad:
	free(copy);
	return -1;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct swarm sw = {.parallel = 64};
	const char *tower = NULL, *ca_path = NULL, *tokens[SWARM_TOKENS_MAX];
	unsigned counts[SWARM_TOKENS_MAX], ntokens = 0;
	int64_t t0;

	log_init("swarm", OC_LOG_WARN);
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(opt, "--no-resume") == 0) {
			sw.no_resume = true;
			continue;
		}
		if (strcmp(opt, "--no-carry-on") == 0) {
			sw.no_carry_on = true;
			continue;
		}
		if (strcmp(opt, "--no-metrics") == 0) {
			sw.no_metrics = true;
			continue;
		}
		if (val == NULL)
			usage();
		i++;
		if (strcmp(opt, "--tower") == 0)
			tower = val;
		else if (strcmp(opt, "--ca") == 0)
			ca_path = val;
		else if (strcmp(opt, "--status") == 0)
			sw.status_path = val;
		else if (strcmp(opt, "--parallel") == 0)
			sw.parallel = (unsigned)atoi(val);
		else if (strcmp(opt, "--heartbeat") == 0)
			sw.heartbeat_s = atoi(val);
		else if (strcmp(opt, "--token") == 0 && ntokens < SWARM_TOKENS_MAX) {
			const char *colon = strrchr(val, ':');
			if (colon == NULL || atoi(colon + 1) <= 0)
				usage();
			tokens[ntokens] = strndup(val, (size_t)(colon - val));
			counts[ntokens++] = (unsigned)atoi(colon + 1);
		} else
			usage();
	}
	if (tower == NULL || ca_path == NULL || ntokens == 0 || sw.parallel == 0)
		usage();
	if (parse_towers(&sw, tower) != 0)
		fatal("--tower: \"%s\" is not a list of 1 to %d different IPv4:PORT", tower,
		      SWARM_TOWERS_MAX);
	raise_fd_limit();
	mbedtls_x509_crt_init(&sw.ca);
	if (mbedtls_x509_crt_parse_file(&sw.ca, ca_path) != 0)
		fatal("--ca %s: not a readable certificate", ca_path);
	mbedtls_x509_crt_init(&sw.tower_cert);
	sw.enroll_cfg = tls_config_client(NULL, NULL, NULL);
	sw.base = event_base_new();
	if (sw.enroll_cfg == NULL || sw.base == NULL)
		fatal("cannot set up tls or the event loop");
	for (unsigned i = 0; i < ntokens; i++)
		sw.n += counts[i];
	sw.agents = calloc(sw.n, sizeof(*sw.agents));
	if (sw.agents == NULL)
		fatal("out of memory for %u agents", sw.n);

	/* Keys and CSRs first: on a real fleet each node makes its own, on its
	 * own CPU, long before it dials the tower. */
	t0 = wall_ms();
	for (unsigned i = 0, t = 0, left = counts[0]; i < sw.n; i++, left--) {
		struct agent *a = &sw.agents[i];

		if (left == 0)
			left = counts[++t];
		a->sw = &sw;
		a->idx = i;
		a->token = tokens[t];
		a->tower_first = a->tower_at = i % sw.ntowers;
		a->welcomed_at = -1;
		mbedtls_pk_init(&a->key);
		mbedtls_x509_crt_init(&a->cert);
		a->ev_retry = event_new(sw.base, -1, 0, on_retry, a);
		a->ev_heartbeat = event_new(sw.base, -1, EV_PERSIST, send_heartbeat, a);
		if (a->ev_retry == NULL || a->ev_heartbeat == NULL)
			fatal("out of memory");
	}
	make_keys(sw.agents, sw.n);
	sw.prepare_ms = wall_ms() - t0;
	printf("made %u keys and csrs in %.2f s\n", sw.n, sw.prepare_ms / 1000.0);
	fflush(stdout);

	signal(SIGPIPE, SIG_IGN);
	sw.ev_status = event_new(sw.base, -1, EV_PERSIST, write_status, &sw);
	sw.ev_sigterm = evsignal_new(sw.base, SIGTERM, on_sigterm, &sw);
	{
		struct timeval tv = {0, SWARM_STATUS_MS * 1000};
		event_add(sw.ev_status, &tv);
	}
	event_add(sw.ev_sigterm, NULL);
	{
		struct event *ev_int = evsignal_new(sw.base, SIGINT, on_sigterm, &sw);
		event_add(ev_int, NULL);
		sw.t_start_ms = wall_ms();
		sw.t0_ms = sw.t_start_ms;
		phase_pump(&sw);
		event_base_dispatch(sw.base);
		event_free(ev_int);
	}

	for (unsigned i = 0; i < sw.n; i++) {
		struct agent *a = &sw.agents[i];
		tls_conn_free(a->tls);
		event_free(a->ev_retry);
		event_free(a->ev_heartbeat);
		tls_config_free(a->cfg);
		mbedtls_x509_crt_free(&a->cert);
		mbedtls_pk_free(&a->key);
		free(a->csr);
		free(a->session);
	}
	for (unsigned i = 0; i < ntokens; i++)
		free((char *)tokens[i]);
	free(sw.agents);
	event_free(sw.ev_status);
	event_free(sw.ev_sigterm);
	tls_config_free(sw.enroll_cfg);
	mbedtls_x509_crt_free(&sw.ca);
	mbedtls_x509_crt_free(&sw.tower_cert);
	event_base_free(sw.base);
	return 0;
}
