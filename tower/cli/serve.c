/* cli_serve.c — `tower serve`: option parsing for the daemon (daemon.c). */
#include <getopt.h>
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

static int serve_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"api", required_argument, NULL, 'a'},
		{"agents", required_argument, NULL, 'g'},
		{"advertise", required_argument, NULL, 'A'},
		{"heartbeat", required_argument, NULL, 'H'},
		{"log-level", required_argument, NULL, 'l'},
		{"cert-ttl", required_argument, NULL, 'c'},
		{"roles", required_argument, NULL, 'r'},
		{"patterns", required_argument, NULL, 'p'},
		{"default-pattern", required_argument, NULL, 'P'},
		{"config", required_argument, NULL, 'C'},
		{"artifacts", required_argument, NULL, 'x'},
		{"cloud-init", required_argument, NULL, 'i'},
		{"group-access", no_argument, NULL, 'G'},
		{"web", required_argument, NULL, 'w'},
		{NULL, 0, NULL, 0},
	};
	struct daemon_options opt = {
		.state_dir = ctx->state_dir,
		.api_addr = "0.0.0.0:6125",
		.agents_addr = "0.0.0.0:6126",
		.heartbeat_s = 10,
		.cert_ttl_s = ENROLL_CERT_VALIDITY,
		.config_path = "/etc/overcloud/tower.conf",
		.config_missing_ok = 1,
	};
	char roles_buf[PATH_MAX], patterns_buf[PATH_MAX], cloud_init_buf[PATH_MAX], web_buf[PATH_MAX];
	enum oc_log_level level;
	int64_t seconds;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': opt.api_addr = optarg; break;
		case 'g': opt.agents_addr = optarg; break;
		case 'A': opt.advertise = optarg; break;
		case 'H':
			if (util_parse_duration(optarg, &seconds) != 0 || seconds < 1 || seconds > 3600)
				return cli_fail("--heartbeat: \"%s\" is not a duration from 1s to 1h", optarg);
			opt.heartbeat_s = (int)seconds;
			break;
		case 'r': opt.roles_dir = optarg; break;
		case 'G': opt.group_access = true; break;
		case 'p': opt.patterns_dir = optarg; break;
		case 'P': opt.default_pattern = optarg; break;
		case 'x': opt.artifacts_dir = optarg; break;
		case 'i': opt.cloud_init_dir = optarg; break;
		case 'w': opt.web_dir = optarg; break;
		case 'C':
			opt.config_path = optarg;
			opt.config_missing_ok = 0;
			break;
		case 'c':
			if (util_parse_duration(optarg, &seconds) != 0 || seconds < 5 ||
			    seconds > 825LL * 86400)
				return cli_fail("--cert-ttl: \"%s\" is not a duration from 5s to 825d", optarg);
			opt.cert_ttl_s = seconds;
			break;
		case 'l':
			if (log_level_parse(optarg, &level) != 0)
				return cli_fail("--log-level takes error, warn, info or debug");
			log_set_level(level);
			break;
		default:
			return cli_usage(&cli_serve_entry);
		}
	}
	if (optind != argc)
		return cli_usage(&cli_serve_entry);
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
		 "                   [--config FILE] [--artifacts DIR] [--cloud-init DIR] [--web DIR] [--log-level LEVEL]\n"
		 "                   [--group-access]",
	.summary = "run the tower (state in --state DIR; defaults :6125 api, :6126 agents)",
	.exec = serve_exec,
};
