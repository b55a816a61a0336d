/* cli_serve.c — `tower serve`: option parsing for the daemon (daemon.c). */
#include <stdbool.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/cli/cli.h"
#include "tower/daemon.h"
#include "tower/fleet/enroll.h"

/* Data next to the binary: the source tree for build/bin/tower (src is the
 * dir there, "tower/roles"); the source tree the build was configured from
 * (OC_SOURCE_DIR), for a tower built out of tree; the package's share dir
 * for /usr/bin/tower (what is the name there, "roles"). */
static const char *default_data_dir(const char *src, const char *what, char *buf, size_t size)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct stat st;
	bool installed = n > 5 && strncmp(exe, "/usr/", 5) == 0;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(buf, size, "%s/../../%s", exe, src);
			if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
				return buf;
		}
	}
#ifdef OC_SOURCE_DIR
	/* an installed tower (the package's /usr/bin/tower) uses installed data */
	snprintf(buf, size, "%s/%s", OC_SOURCE_DIR, src);
	if (!installed && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
		return buf;
#endif
	snprintf(buf, size, "/usr/share/overcloud/%s", what);
	return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

static const struct cli_option serve_options[] = {
	{"api", 0, "ADDR:PORT", false, "the REST API's address (default 0.0.0.0:6125)"},
	{"agents", 0, "ADDR:PORT", false, "the agents' address (default 0.0.0.0:6126)"},
	{"advertise", 0, "HOST", false, "the host agents dial (default: a guess)"},
	{"heartbeat", 0, "DUR", false, "agent heartbeat interval, 1s to 1h (default 10s)"},
	{"cert-ttl", 0, "DUR", false, "node certificate lifetime, 5s to 825d (default 30d)"},
	{"roles", 0, "DIR", false, "the roles directory"},
	{"patterns", 0, "DIR", false, "the patterns directory"},
	{"default-pattern", 0, "NAME", false, "the pattern of a create that names none"},
	{"config", 0, "FILE", false, "tower.conf (default /etc/overcloud/tower.conf, if present)"},
	{"store", 0, "URL", false, "postgresql://USER:PASS@HOST:PORT/DB (default: sqlite in the state dir)"},
	{"artifacts", 0, "DIR", false, "the agent binaries served to new nodes"},
	{"cloud-init", 0, "DIR", false, "the cloud-init templates"},
	{"web", 0, "DIR", false, "the web console's files"},
	{"log-level", 0, "LEVEL", false, "error, warn, info or debug"},
	{"group-access", 0, NULL, false, "the state dir's group may use the CLI (0750/0640)"},
	{NULL, 0, NULL, false, NULL},
};

static int serve_exec(struct cli_ctx *ctx, const struct cli_args *args)
{
	struct daemon_options opt = {
		.state_dir = ctx->state_dir,
		.api_addr = cli_args_get(args, "api") ?: "0.0.0.0:6125",
		.agents_addr = cli_args_get(args, "agents") ?: "0.0.0.0:6126",
		.advertise = cli_args_get(args, "advertise"),
		.heartbeat_s = 10,
		.cert_ttl_s = ENROLL_CERT_VALIDITY,
		.roles_dir = cli_args_get(args, "roles"),
		.patterns_dir = cli_args_get(args, "patterns"),
		.default_pattern = cli_args_get(args, "default-pattern"),
		.artifacts_dir = cli_args_get(args, "artifacts"),
		.cloud_init_dir = cli_args_get(args, "cloud-init"),
		.web_dir = cli_args_get(args, "web"),
		.group_access = cli_args_has(args, "group-access"),
		.store = cli_args_get(args, "store"),
		.config_path = cli_args_get(args, "config") ?: "/etc/overcloud/tower.conf",
		.config_missing_ok = !cli_args_has(args, "config"),
	};
	char roles_buf[PATH_MAX], patterns_buf[PATH_MAX], cloud_init_buf[PATH_MAX], web_buf[PATH_MAX];
	const char *heartbeat = cli_args_get(args, "heartbeat");
	const char *cert_ttl = cli_args_get(args, "cert-ttl");
	const char *log_level = cli_args_get(args, "log-level");
	enum oc_log_level level;
	int64_t seconds;

	if (heartbeat != NULL) {
		if (util_parse_duration(heartbeat, &seconds) != 0 || seconds < 1 || seconds > 3600)
			return cli_fail("--heartbeat: \"%s\" is not a duration from 1s to 1h", heartbeat);
		opt.heartbeat_s = (int)seconds;
	}
	if (cert_ttl != NULL) {
		if (util_parse_duration(cert_ttl, &seconds) != 0 || seconds < 5 ||
		    seconds > 825LL * 86400)
			return cli_fail("--cert-ttl: \"%s\" is not a duration from 5s to 825d", cert_ttl);
		opt.cert_ttl_s = seconds;
	}
	if (log_level != NULL) {
		if (log_level_parse(log_level, &level) != 0)
			return cli_fail("--log-level takes error, warn, info or debug");
		log_set_level(level);
	}
	if (opt.roles_dir == NULL)
		opt.roles_dir = default_data_dir("tower/roles", "roles", roles_buf, sizeof(roles_buf));
	if (opt.patterns_dir == NULL)
		opt.patterns_dir = default_data_dir("tower/patterns", "patterns", patterns_buf,
						    sizeof(patterns_buf));
	if (opt.cloud_init_dir == NULL)
		opt.cloud_init_dir = default_data_dir("cloud-init", "cloud-init", cloud_init_buf,
						      sizeof(cloud_init_buf));
	if (opt.web_dir == NULL)
		opt.web_dir = default_data_dir("tower/web", "web", web_buf, sizeof(web_buf));
	return daemon_run(&opt);
}

const struct cli_command cli_serve_entry = {
	.name = "serve",
	.usage = "[--api ADDR:PORT] [--agents ADDR:PORT] [--advertise HOST] [--heartbeat DUR] "
		 "[--cert-ttl DUR] [--roles DIR] [--patterns DIR] [--default-pattern NAME]\n"
		 "                   [--config FILE] [--store URL] [--artifacts DIR] [--cloud-init DIR] [--web DIR] [--log-level LEVEL]\n"
		 "                   [--group-access]",
	.summary = "run the tower (state in --state DIR; defaults :6125 api, :6126 agents)",
	.args = {serve_options, 0, 0},
	.exec = serve_exec,
};
