/* nodemetrics.h — the figures agents send in their heartbeats, in memory:
 * each node's latest ones and a short history (the last hour, bounded). */
#ifndef OC_NODEMETRICS_H
#define OC_NODEMETRICS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct msg_heartbeat;
struct nodemetrics;

/* One history slot per NODEMETRICS_SLOT_S seconds (the default heartbeat),
 * NODEMETRICS_SLOTS of them: an hour. A sample takes 32 bytes, so a node's
 * history is at most 11.25 KiB, grown as it fills. */
#define NODEMETRICS_SLOT_S 10
#define NODEMETRICS_SLOTS 360

/* A node's latest figures, as the agent sent them (bytes, counters since
 * the node booted), plus the rates the tower derived from the heartbeat
 * before. */
struct node_figures {
	int64_t t;              /* tower clock, seconds */
	uint64_t uptime;        /* seconds */
	uint64_t cpu_permille;  /* busy since the previous heartbeat */
	uint64_t load1_milli;
	uint64_t mem_total, mem_used;
	uint64_t fs_total, fs_used;
	uint64_t net_rx, net_tx;           /* counters */
	uint64_t net_rx_rate, net_tx_rate; /* bytes/s */
	uint64_t running;       /* tasks */
};

struct nodemetrics *nodemetrics_new(void);
void nodemetrics_free(struct nodemetrics *nm);
/* Keeps the heartbeat's figures; one without metrics (an older agent:
 * mem_total 0) is ignored. Returns 0, or -1 when out of memory. */
int nodemetrics_record(struct nodemetrics *nm, const char *node_id, const struct msg_heartbeat *hb,
		       int64_t now);
/* The node's latest figures, or NULL (none yet); valid until the next call. */
const struct node_figures *nodemetrics_latest(struct nodemetrics *nm, const char *node_id);
/* Drops what is kept for the node (deleted). */
void nodemetrics_forget(struct nodemetrics *nm, const char *node_id);

/* {"t","uptime","cpu","load1","mem_used","mem_total","fs_used","fs_total",
 * "net_rx","net_tx","net_rx_rate","net_tx_rate","tasks_running"}: cpu in
 * percent, load1 as the kernel shows it, the rest bytes, bytes/s, seconds. */
json_t *nodemetrics_figures_json(const struct node_figures *f);
/* The figures to show for node row n: this tower's own when it holds the
 * node's connection (held), else the newer of its own and those the
 * replica holding it wrote into the row (buf holds them); NULL for none. */
struct store_node;
const struct node_figures *nodemetrics_for_row(struct nodemetrics *nm, const struct store_node *n,
					       bool held, struct node_figures *buf);

/* The figures as one line of text for the store ("f1" and 13 decimal
 * numbers, t first), so that the replicas that do not hold a node show what
 * the one that does last heard; 0, or -1 when size is too small. */
int nodemetrics_figures_format(const struct node_figures *f, char *out, size_t size);
/* Reads such a line back: 0, or -1 for anything but exactly that form
 * (a tag, 13 numbers in range, single spaces, nothing more). */
int nodemetrics_figures_parse(const char *text, struct node_figures *out);

/* {"node","slot_s","slots","latest": object or null, "history": [{"t","cpu",
 * "load1","mem_used","mem_total","fs_used","fs_total","net_rx_rate",
 * "net_tx_rate"}, ...] oldest first}. Caller owns the reference. */
json_t *nodemetrics_history_json(struct nodemetrics *nm, const char *node_id);
/* Bytes the history of every node takes now (for /metrics). */
uint64_t nodemetrics_bytes(struct nodemetrics *nm);

#endif
