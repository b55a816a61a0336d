/* metrics.h — the node's figures a heartbeat carries: CPU busy, load,
 * memory, root filesystem, network bytes, read from /proc and statfs. */
#ifndef OC_METRICS_H
#define OC_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct msg_heartbeat;

/* What the readers below found; a figure whose source could not be read
 * stays 0. */
struct metrics_figures {
	uint64_t cpu_busy, cpu_total;   /* jiffies since boot, all CPUs */
	uint64_t mem_total, mem_available;   /* bytes */
	uint64_t net_rx, net_tx;        /* bytes, every interface but lo */
	uint64_t load1_milli;
	bool have_cpu, have_mem, have_net, have_load;
};

enum metrics_source {
	METRICS_STAT,     /* /proc/stat: the aggregate "cpu" line */
	METRICS_MEMINFO,  /* /proc/meminfo: MemTotal, MemAvailable (or free + buffers + cached) */
	METRICS_NETDEV,   /* /proc/net/dev */
	METRICS_LOADAVG,  /* /proc/loadavg */
};

/* Parses the whole text of one source into f (for tests; the agent reads
 * the files line by line through the same code). Malformed lines are
 * skipped; numbers too large saturate. */
void metrics_parse(enum metrics_source src, const char *text, struct metrics_figures *f);

/* Between heartbeats: the previous CPU counters. Zero-initialise. */
struct metrics_state {
	uint64_t cpu_busy, cpu_total;
};

/* Reads every source (root is "/" on a node; tests point it at fixtures)
 * and fills the metric fields of hb: cpu_permille since the previous call
 * (since boot on the first), mem_*, fs_* (statfs of root), net_*, and
 * load1_milli when /proc/loadavg was read. */
void metrics_read(struct metrics_state *st, const char *root, struct msg_heartbeat *hb);

#endif
