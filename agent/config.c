/* config.c — reads and writes agent.conf, a few key=value lines that join
 * writes and run reads; unknown keys are refused so typos do not hide. */
#include "agent/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"

void agent_config_path(const struct agent_config *cfg, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", cfg->state_dir, name);
}

/* A DNS name or an IP address (IPv6 with a zone too): nothing else. */
#define TOWER_HOST_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:%"

int agent_towers_parse(const char *list, struct agent_config *cfg)
{
	struct agent_tower towers[AGENT_TOWERS_MAX];
	char entry[300];
	const char *at = list;
	int count = 0;

	if (list == NULL || *list == '\0')
		return -1;
	for (;;) {
		/* one entry up to the comma, without the blanks around it: "a:1, b:2" */
		size_t field = strcspn(at, ","), start = strspn(at, " \t"), end = field;

		while (end > start && (at[end - 1] == ' ' || at[end - 1] == '\t'))
			end--;
		if (end == start || end - start >= sizeof(entry) || count == AGENT_TOWERS_MAX)
			return -1;
		memcpy(entry, at + start, end - start);
		entry[end - start] = '\0';
		if (util_parse_hostport(entry, towers[count].host, sizeof(towers[count].host),
					&towers[count].port) != 0 || towers[count].port == 0 ||
		    strspn(towers[count].host, TOWER_HOST_CHARS) != strlen(towers[count].host))
			return -1;
		for (int i = 0; i < count; i++)
			if (towers[i].port == towers[count].port &&
			    strcmp(towers[i].host, towers[count].host) == 0)
				return -1;
		count++;
		if (at[field] == '\0')
			break;
		at += field + 1;
	}
	memcpy(cfg->towers, towers, sizeof(towers[0]) * (size_t)count);
	cfg->tower_count = count;
	return 0;
}

const char *agent_tower_name(const struct agent_tower *t, char *out, size_t size)
{
	bool v6 = strchr(t->host, ':') != NULL;

	snprintf(out, size, "%s%s%s:%u", v6 ? "[" : "", t->host, v6 ? "]" : "", (unsigned)t->port);
	return out;
}

void agent_towers_format(const struct agent_config *cfg, char *out, size_t size)
{
	char one[272];
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < cfg->tower_count && n < size; i++) {
		int w = snprintf(out + n, size - n, "%s%s", i ? "," : "",
				 agent_tower_name(&cfg->towers[i], one, sizeof(one)));

		if (w < 0)
			break;
		n += (size_t)w;
	}
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
			if (agent_towers_parse(val, cfg) != 0)
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
	if (cfg->tower_count == 0) {
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
	char path[PATH_MAX + 16], towers[AGENT_TOWERS_MAX * 272], text[sizeof(towers) + 256];
	int n;

	agent_towers_format(cfg, towers, sizeof(towers));
	n = snprintf(text, sizeof(text),
		     "# written by overcloud-agent join\n"
		     "tower=%s\nnode_id=%s\n", towers, cfg->node_id);
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
