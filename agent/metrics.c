/* metrics.c — reads the node's figures for the heartbeat, at the heartbeat's
 * own timer: four small /proc files and one statfs, no process, no thread.
 * Files are read through one 4 KiB stack buffer a line at a time (a line
 * longer than that, such as /proc/stat's "intr", is skipped), so a node
 * with hundreds of interfaces costs no memory. */
#include "agent/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "shared/msg.h"

#define LINE_MAX_BYTES 4096

/* Reads an unsigned decimal after spaces; saturates. Returns the end, or
 * NULL when there is no digit. */
static const char *read_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *start;

	while (*s == ' ' || *s == '\t')
		s++;
	start = s;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	if (s == start)
		return NULL;
	*out = v;
	return s;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* "cpu  user nice system idle iowait irq softirq steal guest guest_nice":
 * guest time is inside user already, so the first eight are the total. */
static void take_stat(const char *line, struct metrics_figures *f)
{
	uint64_t v[8] = {0}, total = 0;
	const char *s = line + 3;
	int n;

	if (strncmp(line, "cpu ", 4) != 0 || f->have_cpu)
		return;
	for (n = 0; n < 8 && (s = read_u64(s, &v[n])) != NULL; n++)
		total = add_sat(total, v[n]);
	if (n < 4)   /* idle is the fourth: older kernels have fewer after it */
		return;
	f->cpu_total = total;
	f->cpu_busy = total - add_sat(v[3], n > 4 ? v[4] : 0);
	if (f->cpu_busy > total)   /* saturated counters */
		f->cpu_busy = 0;
	f->have_cpu = true;
}

/* "MemTotal:       24683748 kB" */
static void take_meminfo(const char *line, struct metrics_figures *f, uint64_t extra[3])
{
	static const char *const keys[] = {"MemTotal:", "MemAvailable:", "MemFree:", "Buffers:",
					   "Cached:"};
	uint64_t kib;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t len = strlen(keys[i]);

		if (strncmp(line, keys[i], len) != 0 || read_u64(line + len, &kib) == NULL)
			continue;
		kib = kib > UINT64_MAX / 1024 ? UINT64_MAX : kib * 1024;
		if (i == 0)
			f->mem_total = kib;
		else if (i == 1)
			f->mem_available = kib;
		else
			extra[i - 2] = kib;
		if (i == 1)
			f->have_mem = true;
	}
}

/* "  eth0: rx_bytes packets errs drop fifo frame compressed multicast
 * tx_bytes ..."; the two header lines have no colon. */
static void take_netdev(const char *line, struct metrics_figures *f)
{
	const char *colon = strchr(line, ':'), *name = line, *s;
	uint64_t v[9];
	size_t len;

	if (colon == NULL)
		return;
	while (*name == ' ')
		name++;
	len = (size_t)(colon - name);
	if (len == 2 && strncmp(name, "lo", 2) == 0)
		return;
	s = colon + 1;
	for (int i = 0; i < 9; i++)
		if ((s = read_u64(s, &v[i])) == NULL)
			return;
	f->net_rx = add_sat(f->net_rx, v[0]);
	f->net_tx = add_sat(f->net_tx, v[8]);
	f->have_net = true;
}

/* "0.42 0.30 0.25 1/234 5678": the first, in thousandths. */
static void take_loadavg(const char *line, struct metrics_figures *f)
{
	uint64_t whole, frac = 0;
	const char *s = read_u64(line, &whole);
	int digits = 0;

	if (s == NULL || f->have_load)
		return;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			if (digits++ < 3)
				frac = frac * 10 + (uint64_t)(*s - '0');
	for (; digits < 3; digits++)
		frac *= 10;
	f->load1_milli = whole > UINT64_MAX / 1000 - 1 ? UINT64_MAX : whole * 1000 + frac;
	f->have_load = true;
}

struct parse {
	enum metrics_source src;
	struct metrics_figures *f;
	uint64_t mem_extra[3];   /* free, buffers, cached: without MemAvailable */
};

static void take_line(struct parse *p, const char *line)
{
	switch (p->src) {
	case METRICS_STAT: take_stat(line, p->f); break;
	case METRICS_MEMINFO: take_meminfo(line, p->f, p->mem_extra); break;
	case METRICS_NETDEV: take_netdev(line, p->f); break;
	case METRICS_LOADAVG: take_loadavg(line, p->f); break;
	}
}

static void parse_end(struct parse *p)
{
	struct metrics_figures *f = p->f;

	/* Kernels before 3.14 have no MemAvailable. */
	if (p->src == METRICS_MEMINFO && !f->have_mem && f->mem_total != 0) {
		f->mem_available = add_sat(add_sat(p->mem_extra[0], p->mem_extra[1]), p->mem_extra[2]);
		f->have_mem = true;
	}
	if (f->have_mem && f->mem_available > f->mem_total)
		f->mem_available = f->mem_total;
}

void metrics_parse(enum metrics_source src, const char *text, struct metrics_figures *f)
{
	struct parse p = {.src = src, .f = f};
	char line[LINE_MAX_BYTES];

	while (*text != '\0') {
		size_t len = strcspn(text, "\n");

		if (len < sizeof(line)) {
			memcpy(line, text, len);
			line[len] = '\0';
			take_line(&p, line);
		}
		text += len;
		if (*text == '\n')
			text++;
	}
	parse_end(&p);
}

static void parse_file(enum metrics_source src, const char *root, const char *name,
		       struct metrics_figures *f)
{
	struct parse p = {.src = src, .f = f};
	char buf[LINE_MAX_BYTES], path[256];
	size_t have = 0;
	bool skipping = false;   /* inside a line too long for buf */
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *start = buf, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL) {
			*nl = '\0';
			if (!skipping)
				take_line(&p, start);
			skipping = false;
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == sizeof(buf) - 1) {
			skipping = true;
			have = 0;
		}
	}
	if (have > 0 && !skipping) {
		buf[have] = '\0';
		take_line(&p, buf);
	}
	close(fd);
	parse_end(&p);
}

void metrics_read(struct metrics_state *st, const char *root, struct msg_heartbeat *hb)
{
	struct metrics_figures f = {0};
	struct statfs fs;
	char path[256];

	parse_file(METRICS_STAT, root, "proc/stat", &f);
	parse_file(METRICS_MEMINFO, root, "proc/meminfo", &f);
	parse_file(METRICS_NETDEV, root, "proc/net/dev", &f);
	parse_file(METRICS_LOADAVG, root, "proc/loadavg", &f);
	if (f.have_cpu) {
		uint64_t busy = f.cpu_busy, total = f.cpu_total;

		/* Counters that went back (a restored snapshot): since boot. */
		if (total > st->cpu_total && busy >= st->cpu_busy) {
			busy -= st->cpu_busy;
			total -= st->cpu_total;
		}
		hb->cpu_permille = total ? (busy > total ? 1000 : busy * 1000 / total) : 0;
		st->cpu_busy = f.cpu_busy;
		st->cpu_total = f.cpu_total;
	}
	if (f.have_mem) {
		hb->mem_total = f.mem_total;
		hb->mem_used = f.mem_total - f.mem_available;
	}
	if (f.have_net) {
		hb->net_rx = f.net_rx;
		hb->net_tx = f.net_tx;
	}
	if (f.have_load)
		hb->load1_milli = f.load1_milli;
	snprintf(path, sizeof(path), "%s", root[0] ? root : "/");
	if (statfs(path, &fs) == 0 && fs.f_blocks >= fs.f_bfree) {
		uint64_t bsize = (uint64_t)fs.f_frsize ? (uint64_t)fs.f_frsize : (uint64_t)fs.f_bsize;

		hb->fs_total = (uint64_t)fs.f_blocks * bsize;
		hb->fs_used = (uint64_t)(fs.f_blocks - fs.f_bfree) * bsize;
	}
}
