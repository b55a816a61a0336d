/* daemon.h — `tower serve`: prepares the state dir, opens the listeners and
 * runs the event loop until SIGINT/SIGTERM. */
#ifndef OC_DAEMON_H
#define OC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

struct daemon_options {
	const char *state_dir;
	const char *api_addr;     /* "0.0.0.0:6125" */
	const char *agents_addr;  /* "0.0.0.0:6126" */
	const char *advertise;    /* host agents dial; NULL: guess */
	int heartbeat_s;
	int64_t cert_ttl_s;       /* node certificate lifetime */
	const char *roles_dir;    /* role bundles; NULL: none */
	const char *patterns_dir; /* OverCloud patterns; NULL: none */
	const char *default_pattern; /* for requests that name none */
	const char *artifacts_dir;  /* agent binaries per arch; NULL: only the defaults */
	const char *cloud_init_dir; /* user-data templates; NULL: none */
	const char *web_dir;      /* the console's static files; NULL: none */
	const char *store;        /* --store: a postgresql:// URL or a sqlite file;
				   * NULL: tower.conf's [tower] store, else STATE/tower.db */
	const char *config_path;  /* INI file with provider sections */
	int config_missing_ok;    /* the default path may be absent */
	bool group_access;        /* --group-access: the tower's group may use the CLI */
};

/* Returns the process exit status. */
int daemon_run(const struct daemon_options *opt);

#endif
