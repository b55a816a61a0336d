/* config.h — the agent's state dir: agent.conf (tower address, node id,
 * optional heartbeat), agent.key, agent.crt and ca.pem, all 0600. */
#ifndef OC_AGENT_CONFIG_H
#define OC_AGENT_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_DEFAULT_STATE "/var/lib/overcloud-agent"
/* The last TLS session with the tower (session.c), offered on reconnect. */
#define AGENT_TLS_SESSION_FILE "tls.session"

/* Tower replicas an agent may dial, in the order it tries them. */
#define AGENT_TOWERS_MAX 8

struct agent_tower {
	char host[256];
	uint16_t port;
};

struct agent_config {
	char state_dir[PATH_MAX];
	struct agent_tower towers[AGENT_TOWERS_MAX];
	int tower_count;      /* at least 1 once loaded or joined */
	int tower_at;         /* the one dialled last (not saved) */
	char node_id[64];
	int heartbeat_s;      /* 0: the tower's choice */
	int max_tasks;        /* tasks at once; 0: the default (4) */
};

/* Parses "HOST:PORT[,HOST:PORT...]" (IPv6 hosts in brackets) into
 * cfg->towers. 0, or -1 when an entry is not HOST:PORT, is empty or repeated,
 * or there are more than AGENT_TOWERS_MAX; cfg is left as it was then. */
int agent_towers_parse(const char *list, struct agent_config *cfg);
/* One entry as HOST:PORT ([HOST]:PORT for IPv6), for logs and agent.conf. */
const char *agent_tower_name(const struct agent_tower *t, char *out, size_t size);
/* The list back as agent_towers_parse reads it. */
void agent_towers_format(const struct agent_config *cfg, char *out, size_t size);

/* Reads <state_dir>/agent.conf. Returns 0, or -1 with a reason in err. */
int agent_config_load(const char *state_dir, struct agent_config *cfg, char *err, size_t err_size);
/* Writes agent.conf atomically, 0600. Returns 0, or -1 with err. */
int agent_config_save(const struct agent_config *cfg, char *err, size_t err_size);
/* <state_dir>/<name> into out. */
void agent_config_path(const struct agent_config *cfg, const char *name, char *out, size_t size);

#endif
