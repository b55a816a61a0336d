/* config.c — reads and writes agent.conf, a few key=value lines that join
 * writes and run reads; unknown keys are refused so typos do not hide. */
#include "agent/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"

void agent_config_path(const struct agent_config *cfg, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", cfg->state_dir, name);
}

int agent_config_load(const char *state_dir, struct agent_config *cfg, char *err, size_t err_size)
{
	char path[PATH_MAX + 16], *text, *line, *save = NULL;
	int lineno = 0;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", state_dir);
	agent_config_path(cfg, "agent.conf", path, sizeof(path));
	text = util_read_file(path, 64 * 1024, NULL);
	if (text == NULL) {
		if (errno == ENOENT)
			snprintf(err, err_size, "%s not found: run `overcloud-agent join` first", path);
		else
			snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *key, *val;
		int64_t n;

		lineno++;
		line[strcspn(line, "\r")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL)
			goto bad;
		*eq = '\0';
		key = line;
		val = eq + 1;
		if (strcmp(key, "tower") == 0) {
			if (util_parse_hostport(val, cfg->tower_host, sizeof(cfg->tower_host),
						&cfg->tower_port) != 0 || cfg->tower_port == 0)
				goto bad;
		} else if (strcmp(key, "node_id") == 0) {
			if (strlen(val) >= sizeof(cfg->node_id))
				goto bad;
			snprintf(cfg->node_id, sizeof(cfg->node_id), "%s", val);
		} else if (strcmp(key, "max_tasks") == 0) {
			if (util_parse_int(val, 1, 256, &n) != 0)
				goto bad;
			cfg->max_tasks = (int)n;
		} else if (strcmp(key, "heartbeat") == 0) {
			if (util_parse_duration(val, &n) != 0 || n < 1 || n > 3600)
				goto bad;
			cfg->heartbeat_s = (int)n;
		} else {
			goto bad;
		}
	}
	free(text);
	if (cfg->tower_host[0] == '\0') {
		snprintf(err, err_size, "%s: no tower=HOST:PORT line", path);
		return -1;
	}
	return 0;
bad:
	snprintf(err, err_size, "%s line %d: not a valid setting", path, lineno);
	free(text);
	return -1;
}

int agent_config_save(const struct agent_config *cfg, char *err, size_t err_size)
{
	char path[PATH_MAX + 16], text[1024];
	int n;

	n = snprintf(text, sizeof(text),
		     "# written by overcloud-agent join\n"
		     "tower=%s%s%s:%u\nnode_id=%s\n",
		     strchr(cfg->tower_host, ':') ? "[" : "", cfg->tower_host,
		     strchr(cfg->tower_host, ':') ? "]" : "", cfg->tower_port, cfg->node_id);
	if (cfg->heartbeat_s > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "heartbeat=%d\n", cfg->heartbeat_s);
	if (cfg->max_tasks > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "max_tasks=%d\n", cfg->max_tasks);
	agent_config_path(cfg, "agent.conf", path, sizeof(path));
	if (util_write_file(path, text, (size_t)n, 0600) != 0) {
		snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
