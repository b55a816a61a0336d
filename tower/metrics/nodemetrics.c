/* nodemetrics.c — each node's latest heartbeat figures and an hour of
 * history in a ring per node, in memory only (a restarted tower starts
 * empty; the figures are the node's, it sends them again within a period).
 *
 * A history sample is packed into 32 bytes: memory in KiB and filesystem
 * sizes in MiB (32 bits: 4 TiB and 4 PiB), the load in hundredths (up to
 * 655.35), the network as rates (bytes/s, up to 4 GiB/s), the time as 32-bit
 * seconds. Values over a field's range are stored as its maximum. Rings
 * start at 8 samples and double up to NODEMETRICS_SLOTS, so nodes that have
 * just joined cost little. */
#include "tower/metrics/nodemetrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/msg.h"
#include "shared/util.h"
#include "tower/store/store.h"

#define RING_FIRST 8
#define TABLE_MIN 256

struct sample {
	uint32_t t;
	uint16_t cpu_permille;
	uint16_t load1_centi;
	uint32_t mem_used_kib, mem_total_kib;
	uint32_t fs_used_mib, fs_total_mib;
	uint32_t net_rx_rate, net_tx_rate;
};

struct node_entry {
	char id[STORE_ID_MAX];
	struct node_figures latest;
	struct sample *ring;
	uint32_t cap, start, count;
	struct node_entry *next;
};

struct nodemetrics {
	struct node_entry **table;
	size_t size, count;
};

_Static_assert(sizeof(struct sample) == 32, "a history sample is 32 bytes");

static size_t id_hash(const char *id)
{
	size_t h = 1469598103934665603ull;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 1099511628211ull;
	return h;
}

struct nodemetrics *nodemetrics_new(void)
{
	struct nodemetrics *nm = calloc(1, sizeof(*nm));

	if (nm == NULL)
		return NULL;
	nm->table = calloc(TABLE_MIN, sizeof(*nm->table));
	if (nm->table == NULL) {
		free(nm);
		return NULL;
	}
	nm->size = TABLE_MIN;
	return nm;
}

void nodemetrics_free(struct nodemetrics *nm)
{
	if (nm == NULL)
		return;
	for (size_t i = 0; i < nm->size; i++) {
		struct node_entry *e = nm->table[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			free(e->ring);
			free(e);
		}
	}
	free(nm->table);
	free(nm);
}

static struct node_entry **slot_of(struct nodemetrics *nm, const char *id)
{
	struct node_entry **p = &nm->table[id_hash(id) & (nm->size - 1)];

	while (*p != NULL && strcmp((*p)->id, id) != 0)
		p = &(*p)->next;
	return p;
}

static void table_grow(struct nodemetrics *nm)
{
	size_t size = nm->size * 2;
	struct node_entry **fresh = calloc(size, sizeof(*fresh));

	if (fresh == NULL)
		return;   /* longer chains, still correct */
	for (size_t i = 0; i < nm->size; i++) {
		struct node_entry *e = nm->table[i], *next;
		for (; e != NULL; e = next) {
			size_t j = id_hash(e->id) & (size - 1);
			next = e->next;
			e->next = fresh[j];
			fresh[j] = e;
		}
	}
	free(nm->table);
	nm->table = fresh;
	nm->size = size;
}

static uint32_t clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint64_t rate(uint64_t now_v, uint64_t then_v, int64_t seconds)
{
	/* A counter that went back: the node rebooted or the interface went. */
	if (seconds <= 0 || now_v < then_v)
		return 0;
	return (now_v - then_v) / (uint64_t)seconds;
}

static struct sample *ring_at(struct node_entry *e, uint32_t i)
{
	return &e->ring[(e->start + i) % e->cap];
}

/* Returns the slot the sample goes to: the newest when it is of the same
 * NODEMETRICS_SLOT_S period, else a new one (the oldest is overwritten
 * once the ring is full). NULL when out of memory. */
static struct sample *ring_slot(struct node_entry *e, int64_t now)
{
	if (e->count > 0) {
		struct sample *newest = ring_at(e, e->count - 1);
		if ((int64_t)newest->t / NODEMETRICS_SLOT_S == now / NODEMETRICS_SLOT_S)
			return newest;
	}
	if (e->count == e->cap && e->cap < NODEMETRICS_SLOTS) {
		uint32_t cap = e->cap ? e->cap * 2 : RING_FIRST;
		struct sample *ring;

		if (cap > NODEMETRICS_SLOTS)
			cap = NODEMETRICS_SLOTS;
		ring = malloc(cap * sizeof(*ring));
		if (ring == NULL)
			return NULL;
		for (uint32_t i = 0; i < e->count; i++)
			ring[i] = *ring_at(e, i);
		free(e->ring);
		e->ring = ring;
		e->cap = cap;
		e->start = 0;
	}
	if (e->count < e->cap)
		return ring_at(e, e->count++);
	e->start = (e->start + 1) % e->cap;
	return ring_at(e, e->count - 1);
}

int nodemetrics_record(struct nodemetrics *nm, const char *node_id, const struct msg_heartbeat *hb,
		       int64_t now)
{
	struct node_entry **p, *e;
	struct node_figures f;
	struct sample *s;

	if (hb->mem_total == 0)
		return 0;
	p = slot_of(nm, node_id);
	e = *p;
	if (e == NULL) {
		if (strlen(node_id) >= sizeof(e->id))
			return -1;
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return -1;
		strcpy(e->id, node_id);
		*p = e;
		if (++nm->count > nm->size)
			table_grow(nm);
	}
	f = (struct node_figures){
		.t = now, .uptime = hb->uptime, .cpu_permille = hb->cpu_permille,
		.load1_milli = hb->load1_milli, .mem_total = hb->mem_total, .mem_used = hb->mem_used,
		.fs_total = hb->fs_total, .fs_used = hb->fs_used, .net_rx = hb->net_rx,
		.net_tx = hb->net_tx, .running = hb->running,
	};
	if (e->latest.t != 0) {
		f.net_rx_rate = rate(f.net_rx, e->latest.net_rx, now - e->latest.t);
		f.net_tx_rate = rate(f.net_tx, e->latest.net_tx, now - e->latest.t);
		/* Two heartbeats in one second: keep the rate already known. */
		if (now == e->latest.t) {
			f.net_rx_rate = e->latest.net_rx_rate;
			f.net_tx_rate = e->latest.net_tx_rate;
		}
	}
	e->latest = f;
	s = ring_slot(e, now);
	if (s == NULL)
		return -1;
	*s = (struct sample){
		.t = clamp32(now < 0 ? 0 : (uint64_t)now),
		.cpu_permille = (uint16_t)(f.cpu_permille > 1000 ? 1000 : f.cpu_permille),
		.load1_centi = (uint16_t)(f.load1_milli / 10 > UINT16_MAX ? UINT16_MAX
									   : f.load1_milli / 10),
		.mem_used_kib = clamp32(f.mem_used >> 10), .mem_total_kib = clamp32(f.mem_total >> 10),
		.fs_used_mib = clamp32(f.fs_used >> 20), .fs_total_mib = clamp32(f.fs_total >> 20),
		.net_rx_rate = clamp32(f.net_rx_rate), .net_tx_rate = clamp32(f.net_tx_rate),
	};
	return 0;
}

const struct node_figures *nodemetrics_latest(struct nodemetrics *nm, const char *node_id)
{
	struct node_entry *e = *slot_of(nm, node_id);

	return e != NULL ? &e->latest : NULL;
}

void nodemetrics_forget(struct nodemetrics *nm, const char *node_id)
{
	struct node_entry **p = slot_of(nm, node_id), *e = *p;

	if (e == NULL)
		return;
	*p = e->next;
	free(e->ring);
	free(e);
	nm->count--;
}

/* Percent with one decimal, as a JSON real. */
static json_t *percent(uint64_t permille)
{
	return json_real((double)permille / 10.0);
}

json_t *nodemetrics_figures_json(const struct node_figures *f)
{
	return json_pack("{s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "t", (json_int_t)f->t, "uptime", (json_int_t)f->uptime,
			 "cpu", percent(f->cpu_permille),
			 "load1", json_real((double)f->load1_milli / 1000.0),
			 "mem_used", (json_int_t)f->mem_used, "mem_total", (json_int_t)f->mem_total,
			 "fs_used", (json_int_t)f->fs_used, "fs_total", (json_int_t)f->fs_total,
			 "net_rx", (json_int_t)f->net_rx, "net_tx", (json_int_t)f->net_tx,
			 "net_rx_rate", (json_int_t)f->net_rx_rate,
			 "net_tx_rate", (json_int_t)f->net_tx_rate,
			 "tasks_running", (json_int_t)f->running);
}

const struct node_figures *nodemetrics_for_row(struct nodemetrics *nm, const struct store_node *n,
					       bool held, struct node_figures *buf)
{
	const struct node_figures *own = nm != NULL ? nodemetrics_latest(nm, n->id) : NULL;

	if (held || n->figures[0] == '\0' || nodemetrics_figures_parse(n->figures, buf) != 0)
		return own;
	return own == NULL || buf->t >= own->t ? buf : own;
}

#define FIGURES_TAG "f1"
#define FIGURES_FIELDS 13

/* The figures' fields in their text order; t is signed, the rest not. */
static void figure_fields(struct node_figures *f, uint64_t *fields[FIGURES_FIELDS - 1])
{
	uint64_t *all[FIGURES_FIELDS - 1] = {
		&f->uptime, &f->cpu_permille, &f->load1_milli, &f->mem_total, &f->mem_used,
		&f->fs_total, &f->fs_used, &f->net_rx, &f->net_tx, &f->net_rx_rate,
		&f->net_tx_rate, &f->running,
	};

	memcpy(fields, all, sizeof(all));
}

int nodemetrics_figures_format(const struct node_figures *f, char *out, size_t size)
{
	uint64_t *fields[FIGURES_FIELDS - 1];
	struct node_figures copy = *f;
	size_t used;
	int n;

	figure_fields(&copy, fields);
	n = snprintf(out, size, FIGURES_TAG " %" PRId64, copy.t);
	for (size_t i = 0; n >= 0 && (size_t)n < size && i < OC_ARRAY_LEN(fields); i++) {
		used = (size_t)n;
		n = snprintf(out + used, size - used, " %" PRIu64, *fields[i]);
		n = n < 0 ? n : (int)(used + (size_t)n);
	}
	return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* One decimal number at *p (no sign, no leading zeros but "0"), then a
 * space or the end; advances *p past both. */
static int figure_number(const char **p, uint64_t *out)
{
	const char *s = *p;
	char *end;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\0'))
		return -1;
	*p = *end == ' ' ? end + 1 : end;
	return *end == ' ' && end[1] == '\0' ? -1 : 0;
}

int nodemetrics_figures_parse(const char *text, struct node_figures *out)
{
	uint64_t *fields[FIGURES_FIELDS - 1];
	struct node_figures f = {0};
	const char *p = text;
	uint64_t t;

	if (text == NULL || strncmp(p, FIGURES_TAG " ", 3) != 0)
		return -1;
	p += 3;
	figure_fields(&f, fields);
	if (figure_number(&p, &t) != 0 || t > INT64_MAX)
		return -1;
	f.t = (int64_t)t;
	for (size_t i = 0; i < OC_ARRAY_LEN(fields); i++)
		if (*p == '\0' || figure_number(&p, fields[i]) != 0)
			return -1;
	if (*p != '\0')
		return -1;
	*out = f;
	return 0;
}

static json_t *sample_json(const struct sample *s)
{
	return json_pack("{s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "t", (json_int_t)s->t, "cpu", percent(s->cpu_permille),
			 "load1", json_real((double)s->load1_centi / 100.0),
			 "mem_used", (json_int_t)s->mem_used_kib << 10,
			 "mem_total", (json_int_t)s->mem_total_kib << 10,
			 "fs_used", (json_int_t)s->fs_used_mib << 20,
			 "fs_total", (json_int_t)s->fs_total_mib << 20,
			 "net_rx_rate", (json_int_t)s->net_rx_rate,
			 "net_tx_rate", (json_int_t)s->net_tx_rate);
}

json_t *nodemetrics_history_json(struct nodemetrics *nm, const char *node_id)
{
	struct node_entry *e = *slot_of(nm, node_id);
	json_t *history = json_array();

	for (uint32_t i = 0; e != NULL && i < e->count; i++)
		json_array_append_new(history, sample_json(ring_at(e, i)));
	return json_pack("{s:s, s:i, s:i, s:o, s:o}", "node", node_id, "slot_s", NODEMETRICS_SLOT_S,
			 "slots", NODEMETRICS_SLOTS,
			 "latest", e != NULL ? nodemetrics_figures_json(&e->latest) : json_null(),
			 "history", history);
}

uint64_t nodemetrics_bytes(struct nodemetrics *nm)
{
	uint64_t n = sizeof(*nm) + nm->size * sizeof(*nm->table);

	for (size_t i = 0; i < nm->size; i++)
		for (struct node_entry *e = nm->table[i]; e != NULL; e = e->next)
			n += sizeof(*e) + (uint64_t)e->cap * sizeof(struct sample);
	return n;
}
