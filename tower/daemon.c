/* daemon.c — `tower serve`: state dir (CA, admin token, database), the agent
 * hub and the API listener on one event loop, clean exit on a signal. */
#include "tower/daemon.h"
#include "tower/config.h"

#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "shared/log.h"
#include "shared/pki.h"
#include "shared/tls.h"
#include "shared/util.h"
#include "tower/api/api.h"
#include "tower/boot/artifacts.h"
#include "tower/fleet/ca.h"
#include "tower/api/httpd.h"
#include "tower/fleet/hub.h"
#include "tower/metrics/nodemetrics.h"
#include "tower/engine/role.h"
#include "tower/api/session.h"
#include "tower/store/feed.h"
#include "tower/store/store.h"
#include "tower/fleet/tasks.h"
#include "tower/fleet/ticket.h"
#include "tower/fleet/ticket_share.h"
#include "tower/engine/workflow.h"
#include "tower/engine/lease.h"
#include "tower/tower.h"

static int path_join(char *out, size_t size, const char *dir, const char *name)
{
	return snprintf(out, size, "%s/%s", dir, name) < (int)size ? 0 : -1;
}

/* The admin token is created once, 0600, and reused. */
static int load_admin_token(const char *dir, char out[65])
{
	char path[PATH_MAX + 64], *text;
	uint8_t raw[32];
	size_t len;

	path_join(path, sizeof(path), dir, "admin.token");
	text = util_read_file(path, 4096, &len);
	if (text != NULL) {
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
			text[--len] = '\0';
		if (len != 64) {
			log_error("%s: expected 64 hex characters", path);
			free(text);
			return -1;
		}
		memcpy(out, text, 65);
		free(text);
		return 0;
	}
	if (errno != ENOENT) {
		log_error("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (util_random(raw, sizeof(raw)) != 0)
		return -1;
	util_hex(raw, sizeof(raw), out);
	out[64] = '\n';
	if (util_write_file(path, out, 65, 0600) != 0) {
		log_error("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	out[64] = '\0';
	log_info("created %s", path);
	return 0;
}

/* Splits "host:port" of a listen option, reporting the option on error. */
static int listen_addr(const char *opt, const char *text, char *host, size_t size, uint16_t *port)
{
	if (util_parse_hostport(text, host, size, port) != 0) {
		log_error("%s: \"%s\" is not ADDR:PORT", opt, text);
		return -1;
	}
	return 0;
}

static bool is_any_addr(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* Without --advertise: the agents' listen address if it is specific, else the
 * first non-loopback IPv4 address, else loopback. */
static void guess_join_host(const char *agent_host, char *out, size_t size)
{
	struct ifaddrs *ifs, *i;

	snprintf(out, size, "%s", is_any_addr(agent_host) ? "127.0.0.1" : agent_host);
	if (!is_any_addr(agent_host) || getifaddrs(&ifs) != 0)
		return;
	for (i = ifs; i != NULL; i = i->ifa_next) {
		struct sockaddr_in *in = (struct sockaddr_in *)i->ifa_addr;
		if (in == NULL || in->sin_family != AF_INET || ntohl(in->sin_addr.s_addr) >> 24 == 127)
			continue;
		inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)size);
		break;
	}
	freeifaddrs(ifs);
}

/* Lets the CLI find the API: written after the listeners are bound. */
static int write_endpoint_file(struct tower *t, const char *api_host)
{
	char path[PATH_MAX + 64], *text;
	const char *host = is_any_addr(api_host) ? "127.0.0.1" : api_host;
	json_t *obj;
	int rc;

	obj = json_pack("{s:s, s:I, s:s, s:I}", "api_host", host, "api_port",
			(json_int_t)t->api_port, "join_host", t->join_host, "agent_port",
			(json_int_t)t->agent_port);
	text = json_dumps(obj, JSON_INDENT(2));
	json_decref(obj);
	if (text == NULL)
		return -1;
	path_join(path, sizeof(path), t->state_dir, "endpoint.json");
	rc = util_write_file(path, text, strlen(text), 0644);
	free(text);
	return rc;
}

/* --group-access (the package's unit): what the CLI reads (endpoint.json,
 * ca.pem, admin.token) becomes readable by the tower's group, so that an
 * operator in it uses `tower` without root. The admin token is the whole
 * API: the group is the tower's admins. The CA key, the database and the
 * logs stay the tower user's own. */
static int share_cli_files(const struct tower *t)
{
	static const char *const names[] = {"endpoint.json", "ca.pem", "admin.token"};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_join(path, sizeof(path), t->state_dir, names[i]);
		if (chmod(path, 0640) != 0) {
			log_error("--group-access: cannot chmod %s: %s", path, strerror(errno));
			return -1;
		}
	}
	log_info("--group-access: %s and its endpoint.json, ca.pem and admin.token are readable "
		 "by group %u", t->state_dir, (unsigned)getegid());
	return 0;
}

/* A node that says hello may have tasks waiting, and may be what an
 * OverCloud's enroll step waits for. */
static void on_node_ready(void *arg, const char *node_id)
{
	struct tower *t = arg;

	tasks_on_node_ready(t->tasks, node_id);
	if (t->workflow != NULL)
		workflow_on_node_ready(t->workflow, node_id);
}

static void on_task_msg(void *arg, const char *node_id, const struct msg *m)
{
	struct tower *t = arg;

	tasks_on_task_msg(t->tasks, node_id, m);
}

static void on_heartbeat(void *arg, const char *node_id, const struct msg_heartbeat *hb)
{
	struct tower *t = arg;

	if (nodemetrics_record(t->nodemetrics, node_id, hb, util_now()) != 0)
		log_warn("agent %s: out of memory for its metrics", node_id);
}

static const struct hub_events tower_hub_events = {
	.node_ready = on_node_ready,
	.task_msg = on_task_msg,
	.heartbeat = on_heartbeat,
};

/* Ticket keys seal for this long, and a ticket lives as long. */
#define TICKET_ROTATE_S (12 * 3600)

/* The agents' session ticket keys. One tower keeps them in its state dir
 * (tickets.key). Replicas sharing a database keep them in it, each sealed
 * with a key derived from the CA key, so that an agent failing over to
 * another replica resumes its TLS session there: the CA key is already
 * the same on every replica (the agents pin it) and already the secret
 * that guards them all, so the database never holds a usable key and the
 * operator has nothing more to copy or to keep in step. */
static struct ticket_keys *open_tickets(struct tower *t, struct ticket_share **share)
{
	char path[PATH_MAX + 64], err[256];
	uint8_t kek[TICKET_KEK_LEN];
	struct ticket_keys *tk;
	int64_t generation;

	if (!store_is_shared(t->store)) {
		path_join(path, sizeof(path), t->state_dir, "tickets.key");
		tk = ticket_keys_open(path, TICKET_ROTATE_S, err, sizeof(err));
		if (tk == NULL)
			log_error("session tickets: %s", err);
		return tk;
	}
	tk = ticket_keys_new_shared(TICKET_ROTATE_S, err, sizeof(err));
	if (tk == NULL) {
		log_error("session tickets: %s", err);
		return NULL;
	}
	if (ca_derive_key(t->ca, TICKET_KEK_LABEL, kek, sizeof(kek)) != 0) {
		log_error("session tickets: cannot derive the key that seals them from the CA key");
		ticket_keys_free(tk);
		return NULL;
	}
	*share = ticket_share_new(tk, t->store, kek, TICKET_ROTATE_S, err, sizeof(err));
	explicit_bzero(kek, sizeof(kek));
	if (*share == NULL) {
		log_error("session tickets: %s", err);
		ticket_keys_free(tk);
		return NULL;
	}
	/* Without a key (a database error now, a CA key of its own) this
	 * replica still serves: its agents make full handshakes. */
	generation = ticket_share_sync(*share);
	if (generation > 0)
		log_info("session tickets: keys shared by the replicas in the database "
			 "(generation %lld seals)", (long long)generation);
	return tk;
}

/* Every agent holds a socket: the soft limit (often 1024) goes up to the
 * hard one, which the operator sets. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("cannot raise the open file limit: %s", strerror(errno));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(base, NULL);
}

/* The store: --store, else tower.conf's [tower] store, else the sqlite
 * file in the state dir. A URL is logged with its password cut out. */
static int open_store(struct tower *t, const struct daemon_options *opt)
{
	char path[PATH_MAX], shown[PATH_MAX], err[512];
	const char *target = opt->store;

	if (target == NULL)
		target = config_get(t->config, "tower", "store");
	if (target == NULL) {
		path_join(path, sizeof(path), t->state_dir, "tower.db");
		target = path;
	}
	store_target_redact(target, shown, sizeof(shown));
	t->store = store_open(target, err, sizeof(err));
	if (t->store == NULL) {
		log_error("database %s: %s", shown, err);
		return -1;
	}
	log_info("database %s (schema %d)", shown, store_schema_version(t->store));
	return 0;
}

/* This replica's lease: tower.conf's [tower] lease (a duration, default 10s)
 * and [tower] replica (its name among the replicas, default HOST:API-PORT). */
static int make_lease(struct tower *t, const char *api_host)
{
	const char *ttl_text = config_get(t->config, "tower", "lease");
	const char *name = config_get(t->config, "tower", "replica");
	char host[256] = "", id[STORE_REPLICA_MAX], err[256];
	int64_t ttl_s = LEASE_TTL_DEFAULT_MS / 1000;

	if (ttl_text != NULL && (util_parse_duration(ttl_text, &ttl_s) != 0 || ttl_s < 1 ||
				 ttl_s > 3600)) {
		log_error("config: [tower] lease = %s: a duration from 1s to 1h", ttl_text);
		return -1;
	}
	if (name == NULL) {
		gethostname(host, sizeof(host) - 1);
		snprintf(id, sizeof(id), "%.100s:%u", host[0] ? host : api_host, t->api_port);
		name = id;
	}
	t->lease = lease_new(t, name, ttl_s * 1000, err, sizeof(err));
	if (t->lease == NULL) {
		log_error("lease: %s", err);
		return -1;
	}
	return 0;
}

/* Starts the lease once both listeners are bound: the replicas table says
 * where this replica's API and agent listener are. */
static int start_lease(struct tower *t, const char *api_host)
{
	char api[STORE_REPLICA_MAX], agents[STORE_REPLICA_MAX];

	snprintf(api, sizeof(api), "%.100s:%u", is_any_addr(api_host) ? t->join_host : api_host,
		 t->api_port);
	snprintf(agents, sizeof(agents), "%.100s:%u", t->join_host, t->agent_port);
	return lease_start(t->lease, api, agents);
}

/* Replicas: what another replica changed, heard at once (feed.c). */
static void on_feed(void *arg, const struct feed_note *note)
{
	struct tower *t = arg;

	tasks_on_feed(t->tasks, note);
	workflow_on_feed(t->workflow, note);
}

static int start_feed(struct tower *t, const struct daemon_options *opt)
{
	const char *target = opt->store ? opt->store : config_get(t->config, "tower", "store");
	char err[256];

	t->feed = feed_new(t->store, target, t->base, on_feed, t, err, sizeof(err));
	if (t->feed == NULL) {
		log_error("feed: %s", err);
		return -1;
	}
	tasks_set_feed(t->tasks, t->feed);
	return 0;
}

int daemon_run(const struct daemon_options *opt)
{
	struct tower t;
	struct tls_config *api_tls = NULL;
	struct httpd *httpd = NULL;
	struct event *ev_int = NULL, *ev_term = NULL;
	struct ticket_keys *tickets = NULL;
	struct ticket_share *ticket_share = NULL;
	char api_host[256], agent_host[256], err[256];
	uint16_t api_port, agent_port;
	const char *sans[2];
	size_t nsans = 0;
	int status = 1;

	memset(&t, 0, sizeof(t));
	snprintf(t.default_pattern, sizeof(t.default_pattern), "%s",
		 opt->default_pattern ? opt->default_pattern : "k8s");
	if (listen_addr("--api", opt->api_addr, api_host, sizeof(api_host), &api_port) != 0 ||
	    listen_addr("--agents", opt->agents_addr, agent_host, sizeof(agent_host), &agent_port) != 0)
		return 2;
	if (realpath(opt->state_dir, t.state_dir) == NULL) {
		if (util_mkdir_p(opt->state_dir, 0700) != 0 || realpath(opt->state_dir, t.state_dir) == NULL) {
			log_error("cannot create state dir %s: %s", opt->state_dir, strerror(errno));
			return 1;
		}
		log_info("created state dir %s", t.state_dir);
	}
	chmod(t.state_dir, opt->group_access ? 0750 : 0700);
	if (opt->advertise != NULL)
		snprintf(t.join_host, sizeof(t.join_host), "%s", opt->advertise);
	else
		guess_join_host(agent_host, t.join_host, sizeof(t.join_host));
	sans[nsans++] = t.join_host;
	if (!is_any_addr(api_host))
		sans[nsans++] = api_host;
	t.ca = ca_open(t.state_dir, sans, nsans, err, sizeof(err));
	if (t.ca == NULL) {
		log_error("certificate authority in %s: %s", t.state_dir, err);
		goto out;
	}
	if (load_admin_token(t.state_dir, t.admin_token) != 0)
		goto out;
	t.config = config_load(opt->config_path, opt->config_missing_ok, err, sizeof(err));
	if (t.config == NULL) {
		log_error("config: %s", err);
		goto out;
	}
	if (config_count(t.config) > 0)
		log_info("loaded %zu setting(s) from %s", config_count(t.config), opt->config_path);
	if (open_store(&t, opt) != 0)
		goto out;
	t.artifacts = artifacts_new(opt->artifacts_dir);
	if (t.artifacts == NULL)
		goto out;
	t.cloud_init_dir = opt->cloud_init_dir;
	if (t.cloud_init_dir == NULL)
		log_warn("no cloud-init templates found (--cloud-init DIR): nodes cannot get user-data");
	t.web_dir = opt->web_dir;
	t.sessions = sessions_new();
	if (t.sessions == NULL)
		goto out;
	tickets = open_tickets(&t, &ticket_share);
	if (tickets == NULL)
		goto out;
	raise_fd_limit();
	t.base = event_base_new();
	if (t.base == NULL)
		goto out;
	if (ticket_share != NULL && ticket_share_start(ticket_share, t.base) != 0) {
		log_error("session tickets: cannot start reading the shared keys");
		goto out;
	}
	t.started_at = util_now();
	t.nodemetrics = nodemetrics_new();
	if (t.nodemetrics == NULL)
		goto out;
	t.hub = hub_new(t.base, t.store, t.ca, opt->heartbeat_s, opt->cert_ttl_s, err, sizeof(err));
	if (t.hub == NULL) {
		log_error("%s", err);
		goto out;
	}
	t.tasks = tasks_new(t.store, t.hub, t.state_dir, TASKS_LOG_CAP_DEFAULT, err, sizeof(err));
	if (t.tasks == NULL || tasks_start_sweeper(t.tasks, t.base) != 0 ||
	    (store_is_shared(t.store) && tasks_start_relay(t.tasks, t.base) != 0)) {
		log_error("%s", err);
		goto out;
	}
	if (opt->roles_dir != NULL) {
		t.roles = role_set_load(opt->roles_dir, err, sizeof(err));
		if (t.roles == NULL) {
			log_error("roles: %s", err);
			goto out;
		}
		tasks_set_roles(t.tasks, t.roles);
		log_info("loaded %zu role(s) from %s", role_set_count(t.roles), opt->roles_dir);
	}
	hub_use_tickets(t.hub, tickets);
	if (store_is_shared(t.store))
		hub_share_figures(t.hub, t.nodemetrics);
	hub_set_events(t.hub, &tower_hub_events, &t);
	if (hub_listen(t.hub, agent_host, agent_port, &t.agent_port, err, sizeof(err)) != 0) {
		log_error("agents: %s", err);
		goto out;
	}
	api_tls = tls_config_server(ca_server_chain(t.ca), ca_server_key(t.ca), NULL);
	httpd = api_tls ? httpd_new(t.base, api_tls, api_handle, &t) : NULL;
	if (httpd == NULL) {
		log_error("cannot set up the api server");
		goto out;
	}
	t.workflow = workflow_new(&t, opt->patterns_dir, err, sizeof(err));
	if (t.workflow == NULL) {
		log_error("%s", err);
		goto out;
	}
	tasks_set_done_hook(t.tasks, workflow_on_run_done, t.workflow);
	if (store_is_shared(t.store) && start_feed(&t, opt) != 0)
		goto out;
	if (httpd_listen(httpd, api_host, api_port, &t.api_port, err, sizeof(err)) != 0) {
		log_error("api: %s", err);
		goto out;
	}
	if (make_lease(&t, api_host) != 0 || start_lease(&t, api_host) != 0)
		goto out;
	if (write_endpoint_file(&t, api_host) != 0) {
		log_error("cannot write %s/endpoint.json: %s", t.state_dir, strerror(errno));
		goto out;
	}
	if (opt->group_access && share_cli_files(&t) != 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	ev_int = evsignal_new(t.base, SIGINT, on_signal, t.base);
	ev_term = evsignal_new(t.base, SIGTERM, on_signal, t.base);
	event_add(ev_int, NULL);
	event_add(ev_term, NULL);
	log_info("tower %s serving: api https://%s:%u, agents %s:%u, state %s", OC_VERSION,
		 api_host, t.api_port, agent_host, t.agent_port, t.state_dir);
	log_info("ca pin %s", ca_pin(t.ca));
	event_base_dispatch(t.base);
	status = 0;
out:
	if (ev_int != NULL)
		event_free(ev_int);
	if (ev_term != NULL)
		event_free(ev_term);
	httpd_free(httpd);
	workflow_free(t.workflow);
	lease_free(t.lease);
	tls_config_free(api_tls);
	hub_free(t.hub);
	tasks_free(t.tasks);
	role_set_free(t.roles);
	config_free(t.config);
	artifacts_free(t.artifacts);
	nodemetrics_free(t.nodemetrics);
	ticket_share_free(ticket_share);
	if (t.base != NULL)
		event_base_free(t.base);
	feed_free(t.feed);
	store_close(t.store);
	ticket_keys_free(tickets);
	sessions_free(t.sessions);
	ca_free(t.ca);
	return status;
}
