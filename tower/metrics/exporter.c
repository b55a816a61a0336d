/* exporter.c — the /metrics page and the Prometheus discovery answer, built
 * from the store's nodes, the hub's connections, nodemetrics' figures and
 * telemetry's counters. Writing the format is promtext.c's.
 *
 * Every node series carries node (id), name, role, arch and overcloud (the
 * OverCloud that holds the node, "" when none). Figures are exported only
 * for connected nodes: a disconnected node's last figures are stale, and
 * Prometheus should see the series end. */
#include "tower/metrics/exporter.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "shared/util.h"
#include "tower/fleet/hub.h"
#include "tower/metrics/nodemetrics.h"
#include "tower/metrics/promtext.h"
#include "tower/store/store.h"
#include "tower/metrics/telemetry.h"
#include "tower/tower.h"
#include "tower/engine/lease.h"

struct node_row {
	struct store_node node;
	char *labels;          /* the escaped label block, written once */
	char overcloud[STORE_ID_MAX];
	bool connected;
	bool has_figures;
	struct node_figures f;
};

struct node_rows {
	struct tower *t;
	struct node_row *rows;
	size_t count, cap;
};

static void node_labels(struct node_row *r)
{
	const struct promtext_label l[5] = {
		{"node", r->node.id},
		{"name", r->node.name},
		{"role", r->node.role},
		{"arch", r->node.arch[0] ? r->node.arch : "unknown"},
		{"overcloud", r->overcloud},
	};

	r->labels = promtext_label_block(l, 5);
}

static void free_rows(struct node_rows *nr)
{
	for (size_t i = 0; i < nr->count; i++)
		free(nr->rows[i].labels);
	free(nr->rows);
	nr->rows = NULL;
	nr->count = 0;
}

static int collect_node(const struct store_node *n, void *arg)
{
	struct node_rows *nr = arg;
	struct node_row *r;
	struct node_figures row;
	const struct node_figures *f;

	if (nr->count == nr->cap) {
		size_t cap = nr->cap ? nr->cap * 2 : 64;
		struct node_row *more = realloc(nr->rows, cap * sizeof(*more));
		if (more == NULL)
			return -1;
		nr->rows = more;
		nr->cap = cap;
	}
	r = &nr->rows[nr->count++];
	memset(r, 0, sizeof(*r));
	r->node = *n;
	if (store_ocn_find_node(nr->t->store, n->id, r->overcloud, sizeof(r->overcloud)) != 1)
		r->overcloud[0] = '\0';
	/* Connected to any replica, as every replica answers; the figures of
	 * a node another replica holds are what that one wrote to its row. */
	r->connected = hub_node_connected_anywhere(nr->t->hub, n);
	node_labels(r);
	if (r->labels == NULL) {
		nr->count--;
		return -1;
	}
	f = nodemetrics_for_row(nr->t->nodemetrics, n, hub_node_connected(nr->t->hub, n->id),
				&row);
	if (f != NULL && r->connected) {
		r->f = *f;
		r->has_figures = true;
	}
	return 0;
}

static int collect_nodes(struct tower *t, struct node_rows *nr)
{
	memset(nr, 0, sizeof(*nr));
	nr->t = t;
	if (store_node_foreach(t->store, collect_node, nr) != 0) {
		free_rows(nr);
		return -1;
	}
	return 0;
}


enum figure {
	FIG_CONNECTED, FIG_LAST_SEEN, FIG_CPU, FIG_LOAD1, FIG_MEM_USED, FIG_MEM_TOTAL, FIG_FS_USED,
	FIG_FS_SIZE, FIG_NET_RX, FIG_NET_TX, FIG_UPTIME, FIG_RUNNING,
};

static const struct {
	const char *name, *type, *help;
	bool needs_figures;
} node_families[] = {
	[FIG_CONNECTED] = {"overcloud_node_connected", "gauge",
			   "1 when the node's agent is connected to the tower (to any replica), else 0.", false},
	[FIG_LAST_SEEN] = {"overcloud_node_last_seen_timestamp_seconds", "gauge",
			   "When the tower last heard from the node's agent.", false},
	[FIG_CPU] = {"overcloud_node_cpu_busy_ratio", "gauge",
		     "Share of CPU time not idle since the agent's previous heartbeat (0 to 1).",
		     true},
	[FIG_LOAD1] = {"overcloud_node_load1", "gauge", "1-minute load average.", true},
	[FIG_MEM_USED] = {"overcloud_node_memory_used_bytes", "gauge",
			  "Memory in use: total minus available.", true},
	[FIG_MEM_TOTAL] = {"overcloud_node_memory_total_bytes", "gauge", "Memory in total.", true},
	[FIG_FS_USED] = {"overcloud_node_filesystem_used_bytes", "gauge",
			 "Root filesystem space in use.", true},
	[FIG_FS_SIZE] = {"overcloud_node_filesystem_size_bytes", "gauge",
			 "Root filesystem size.", true},
	[FIG_NET_RX] = {"overcloud_node_network_receive_bytes_total", "counter",
			"Bytes received on all interfaces but loopback since the node booted.", true},
	[FIG_NET_TX] = {"overcloud_node_network_transmit_bytes_total", "counter",
			"Bytes sent on all interfaces but loopback since the node booted.", true},
	[FIG_UPTIME] = {"overcloud_node_uptime_seconds", "gauge", "Time since the node booted.",
			true},
	[FIG_RUNNING] = {"overcloud_node_tasks_running", "gauge",
			 "Tasks the node's agent is running.", true},
};

static bool figure_value(const struct node_row *r, enum figure which, double *v)
{
	const struct node_figures *f = &r->f;

	switch (which) {
	case FIG_CONNECTED: *v = r->connected; return true;
	case FIG_LAST_SEEN: *v = (double)r->node.last_seen; return r->node.last_seen != 0;
	case FIG_CPU: *v = (double)f->cpu_permille / 1000.0; break;
	case FIG_LOAD1: *v = (double)f->load1_milli / 1000.0; break;
	case FIG_MEM_USED: *v = (double)f->mem_used; break;
	case FIG_MEM_TOTAL: *v = (double)f->mem_total; break;
	case FIG_FS_USED: *v = (double)f->fs_used; break;
	case FIG_FS_SIZE: *v = (double)f->fs_total; break;
	case FIG_NET_RX: *v = (double)f->net_rx; break;
	case FIG_NET_TX: *v = (double)f->net_tx; break;
	case FIG_UPTIME: *v = (double)f->uptime; break;
	case FIG_RUNNING: *v = (double)f->running; break;
	}
	return r->has_figures;
}

static void write_nodes(struct evbuffer *out, const struct node_rows *nr)
{
	double v;

	for (size_t fam = 0; fam < OC_ARRAY_LEN(node_families); fam++) {
		bool any = false;

		for (size_t i = 0; i < nr->count; i++) {
			if (!figure_value(&nr->rows[i], (enum figure)fam, &v))
				continue;
			if (!any)
				promtext_family(out, node_families[fam].name, node_families[fam].type,
						node_families[fam].help);
			any = true;
			promtext_sample_block(out, node_families[fam].name, nr->rows[i].labels, v);
		}
	}
}

static int write_task_state(const char *state, int64_t count, void *arg)
{
	struct promtext_label l = {"state", state};

	promtext_sample(arg, "overcloud_tasks", &l, 1, (double)count);
	return 0;
}

/* The replicas sharing the database, which one leads, the lease's age. */
static void write_replicas(struct tower *t, struct evbuffer *out)
{
	struct lease_status *ls = calloc(1, sizeof(*ls));

	if (ls == NULL || lease_status(t->lease, ls) != 0) {
		free(ls);
		return;
	}
	promtext_family(out, "overcloud_tower_leader", "gauge",
			"1 for the replica that holds the leader lease, 0 for the others.");
	for (int i = 0; i < ls->count; i++) {
		struct promtext_label l = {"replica", ls->replicas[i].id};

		promtext_sample(out, "overcloud_tower_leader", &l, 1,
				ls->lease_live && strcmp(ls->replicas[i].id, ls->lease.holder) == 0);
	}
	promtext_family(out, "overcloud_tower_lease_age_seconds", "gauge",
			"Time since the leader last renewed its lease.");
	promtext_sample(out, "overcloud_tower_lease_age_seconds", NULL, 0,
			ls->lease.renewed_ms > 0
				? (double)(ls->lease.now_ms - ls->lease.renewed_ms) / 1000.0 : 0.0);
	promtext_family(out, "overcloud_tower_lease_token", "gauge",
			"The lease's fencing token: it grows at each change of leader.");
	promtext_sample(out, "overcloud_tower_lease_token", NULL, 0, (double)ls->lease.token);
	free(ls);
}

int exporter_metrics(struct tower *t, struct evbuffer *out)
{
	struct node_rows nr;

	if (collect_nodes(t, &nr) != 0)
		return -1;
	promtext_family(out, "overcloud_agents_connected", "gauge", "Agents connected now.");
	promtext_sample(out, "overcloud_agents_connected", NULL, 0,
			(double)hub_connected_count(t->hub));
	promtext_family(out, "overcloud_nodes", "gauge", "Nodes enrolled and not deleted.");
	promtext_sample(out, "overcloud_nodes", NULL, 0, (double)nr.count);
	promtext_family(out, "overcloud_tower_start_time_seconds", "gauge",
			"When the tower started.");
	promtext_sample(out, "overcloud_tower_start_time_seconds", NULL, 0, (double)t->started_at);
	write_replicas(t, out);
	promtext_family(out, "overcloud_agent_tls_resumed_total", "counter",
			"Agent TLS sessions resumed from a ticket.");
	promtext_sample(out, "overcloud_agent_tls_resumed_total", NULL, 0,
			(double)hub_sessions_resumed(t->hub));
	promtext_family(out, "overcloud_tasks", "gauge",
			"Tasks in the tower's repository, by state.");
	if (store_task_count_by_state(t->store, write_task_state, out) != 0) {
		free_rows(&nr);
		return -1;
	}
	if (t->nodemetrics != NULL) {
		promtext_family(out, "overcloud_node_history_bytes", "gauge",
				"Memory the nodes' metric history takes (at most 11.25 KiB a node).");
		promtext_sample(out, "overcloud_node_history_bytes", NULL, 0,
				(double)nodemetrics_bytes(t->nodemetrics));
	}
	telemetry_write(out);
	write_nodes(out, &nr);
	free_rows(&nr);
	return 0;
}

json_t *exporter_sd_targets(struct tower *t)
{
	struct node_rows nr;
	json_t *groups;
	char host[96], target[128];

	if (collect_nodes(t, &nr) != 0)
		return NULL;
	groups = json_array();
	for (size_t i = 0; i < nr.count; i++) {
		const struct node_row *r = &nr.rows[i];

		if (!r->connected || hub_node_address(t->hub, r->node.id, host, sizeof(host)) != 0)
			continue;
		/* An IPv6 address is bracketed, as in any host:port. */
		snprintf(target, sizeof(target), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
			 EXPORTER_NODE_PORT);
		json_array_append_new(groups, json_pack(
			"{s:[s], s:{s:s, s:s, s:s, s:s, s:s}}", "targets", target, "labels",
			"node", r->node.id, "name", r->node.name, "role", r->node.role,
			"arch", r->node.arch[0] ? r->node.arch : "unknown", "overcloud", r->overcloud));
	}
	free_rows(&nr);
	return groups;
}
