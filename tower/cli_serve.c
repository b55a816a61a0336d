/* cli_serve.c — `tower serve`: option parsing for the daemon (daemon.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/cli.h"
#include "tower/daemon.h"
#include "tower/enroll.h"

static int serve_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"api", required_argument, NULL, 'a'},
		{"agents", required_argument, NULL, 'g'},
		{"advertise", required_argument, NULL, 'A'},
		{"heartbeat", required_argument, NULL, 'H'},
		{"log-level", required_argument, NULL, 'l'},
		{"cert-ttl", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	struct daemon_options opt = {
		.state_dir = ctx->state_dir,
		.api_addr = "0.0.0.0:6125",
		.agents_addr = "0.0.0.0:6126",
		.heartbeat_s = 10,
		.cert_ttl_s = ENROLL_CERT_VALIDITY,
	};
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
	return daemon_run(&opt);
}

const struct cli_command cli_serve_entry = {
	.name = "serve",
	.usage = "[--api ADDR:PORT] [--agents ADDR:PORT] [--advertise HOST] [--heartbeat DUR] "
		 "[--cert-ttl DUR] [--log-level LEVEL]",
	.summary = "run the tower (state in --state DIR; defaults :6125 api, :6126 agents)",
	.exec = serve_exec,
};
