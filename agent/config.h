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

struct agent_config {
	char state_dir[PATH_MAX];
	char tower_host[256];
	uint16_t tower_port;
	char node_id[64];
	int heartbeat_s;      /* 0: the tower's choice */
	int max_tasks;        /* tasks at once; 0: the default (4) */
};

/* Reads <state_dir>/agent.conf. Returns 0, or -1 with a reason in err. */
int agent_config_load(const char *state_dir, struct agent_config *cfg, char *err, size_t err_size);
/* Writes agent.conf atomically, 0600. Returns 0, or -1 with err. */
int agent_config_save(const struct agent_config *cfg, char *err, size_t err_size);
/* <state_dir>/<name> into out. */
void agent_config_path(const struct agent_config *cfg, const char *name, char *out, size_t size);

#endif
