/* main.c — the `overcloud-agent` binary: `join` enrolls the node and then
 * runs; `run` reconnects with the stored certificate. */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "agent/config.h"
#include "agent/join.h"
#include "agent/link.h"
#include "agent/session.h"
#include "shared/log.h"
#include "shared/tls.h"
#include "shared/util.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: overcloud-agent join --tower HOST:PORT[,HOST:PORT...] --token T\n"
		"                            (--ca FILE | --ca-hash sha256:HEX)\n"
		"                            [--state DIR] [--no-run] [--retry-for DUR] [--log-level LEVEL]\n"
		"       overcloud-agent run [--state DIR] [--log-level LEVEL]\n"
		"       overcloud-agent --version\n"
		"\nThe state dir (default " AGENT_DEFAULT_STATE ") holds the node key, its certificate,\n"
		"the tower's CA and agent.conf. --tower may list up to 8 tower replicas: the agent\n"
		"tries them in turn, and goes to the next one when its tower cannot be reached.\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(arg);
}

/* kept: the enrollment's open connection, or NULL (dial). */
static int run_session(struct event_base *base, struct evdns_base *dns,
		       const struct agent_config *cfg, struct join_link *kept)
{
	char err[512];
	struct session *s = session_new(base, dns, cfg, err, sizeof(err));
	int status;

	if (s == NULL) {
		log_error("%s", err);
		if (kept != NULL && kept->link != NULL) {
			link_free(kept->link);
			tls_config_free(kept->tls);
		}
		return 1;
	}
	if (kept != NULL && kept->link != NULL)
		session_start_on(s, kept->link, kept->tls);
	else
		session_start(s);
	event_base_dispatch(base);
	status = session_exit_status(s);
	session_free(s);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"tower", required_argument, NULL, 't'},
		{"token", required_argument, NULL, 'k'},
		{"ca", required_argument, NULL, 'c'},
		{"ca-hash", required_argument, NULL, 'h'},
		{"state", required_argument, NULL, 's'},
		{"log-level", required_argument, NULL, 'l'},
		{"no-run", no_argument, NULL, 'n'},
		{"retry-for", required_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	struct join_options jo = {.state_dir = AGENT_DEFAULT_STATE, .retry_for_s = 600};
	int64_t seconds;
	struct agent_config cfg;
	struct event_base *base = NULL;
	struct evdns_base *dns = NULL;
	struct event *ev_int = NULL, *ev_term = NULL;
	enum oc_log_level level = OC_LOG_INFO;
	bool is_join, no_run = false;
	struct join_link kept = {0};
	char err[512];
	int c, status = 1;

	log_init("overcloud-agent", level);
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("overcloud-agent %s\n", OC_VERSION);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "join") != 0 && strcmp(argv[1], "run") != 0)) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	is_join = strcmp(argv[1], "join") == 0;
	argc--, argv++;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 't': jo.tower = optarg; break;
		case 'k': jo.token = optarg; break;
		case 'c': jo.ca_file = optarg; break;
		case 'h': jo.ca_hash = optarg; break;
		case 's': jo.state_dir = optarg; break;
		case 'n': no_run = true; break;
		case 'R':
			if (util_parse_duration(optarg, &seconds) != 0) {
				fprintf(stderr, "overcloud-agent: --retry-for takes a duration like 10m\n");
				return 2;
			}
			jo.retry_for_s = seconds;
			break;
		case 'l':
			if (log_level_parse(optarg, &level) != 0) {
				fprintf(stderr, "overcloud-agent: --log-level takes error, warn, info or debug\n");
				return 2;
			}
			log_set_level(level);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (!is_join && (jo.tower || jo.token || jo.ca_file || jo.ca_hash))) {
		usage(stderr);
		return 2;
	}
	if (is_join && jo.tower == NULL) {
		fprintf(stderr, "overcloud-agent: join needs --tower HOST:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	dns = base ? evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
					  EVDNS_BASE_DISABLE_WHEN_INACTIVE) : NULL;
	if (dns == NULL && base != NULL) /* no resolv.conf: literals still work */
		dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (base == NULL || dns == NULL) {
		log_error("cannot set up the event loop");
		goto out;
	}
	ev_int = evsignal_new(base, SIGINT, on_signal, base);
	ev_term = evsignal_new(base, SIGTERM, on_signal, base);
	event_add(ev_int, NULL);
	event_add(ev_term, NULL);
	if (is_join) {
		if (join_run(base, dns, &jo, &cfg, no_run ? NULL : &kept, err, sizeof(err)) != 0) {
			fprintf(stderr, "overcloud-agent: join: %s\n", err);
			goto out;
		}
		if (no_run) {
			status = 0;
			goto out;
		}
	} else if (agent_config_load(jo.state_dir, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "overcloud-agent: %s\n", err);
		goto out;
	}
	status = run_session(base, dns, &cfg, &kept);
out:
	if (ev_int != NULL)
		event_free(ev_int);
	if (ev_term != NULL)
		event_free(ev_term);
	if (dns != NULL)
		evdns_base_free(dns, 0);
	if (base != NULL)
		event_base_free(base);
	return status;
}
