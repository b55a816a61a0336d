/* test_nodemetrics.c — the tower's per-node figures (tower/metrics/nodemetrics.c):
 * latest figures, rates, the history's 10-second slots and its bound; the
 * figures' one-line text for the store (round trip, every malformed form
 * refused) and which figures a row shows on a replica. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "shared/msg.h"
#include "tower/metrics/nodemetrics.h"
#include "tower/store/store.h"

static struct msg_heartbeat beat(uint64_t cpu, uint64_t rx)
{
	return (struct msg_heartbeat){
		.uptime = 100, .load1_milli = 1234, .cpu_permille = cpu, .mem_total = 8ull << 30,
		.mem_used = 3ull << 30, .fs_total = 100ull << 30, .fs_used = 10ull << 30,
		.net_rx = rx, .net_tx = 2 * rx, .running = 1,
	};
}

static void test_latest_and_rates(void **state)
{
	struct nodemetrics *nm = nodemetrics_new();
	struct msg_heartbeat hb = beat(250, 1000);
	const struct node_figures *f;

	assert_null(nodemetrics_latest(nm, "n1"));
	/* an older agent's heartbeat (no mem_total) keeps nothing */
	hb.mem_total = 0;
	hb.mem_used = 0;
	assert_int_equal(nodemetrics_record(nm, "n1", &hb, 1000), 0);
	assert_null(nodemetrics_latest(nm, "n1"));

	hb = beat(250, 1000);
	assert_int_equal(nodemetrics_record(nm, "n1", &hb, 1000), 0);
	f = nodemetrics_latest(nm, "n1");
	assert_non_null(f);
	assert_int_equal(f->cpu_permille, 250);
	assert_int_equal(f->net_rx_rate, 0);   /* nothing to compare with yet */
	hb = beat(500, 21000);
	nodemetrics_record(nm, "n1", &hb, 1010);
	f = nodemetrics_latest(nm, "n1");
	assert_int_equal(f->t, 1010);
	assert_int_equal(f->net_rx_rate, 2000);
	assert_int_equal(f->net_tx_rate, 4000);
	/* a counter that went back (reboot): rate 0, not 2^64 */
	hb = beat(500, 10);
	nodemetrics_record(nm, "n1", &hb, 1020);
	assert_int_equal(nodemetrics_latest(nm, "n1")->net_rx_rate, 0);
	assert_null(nodemetrics_latest(nm, "n2"));
	nodemetrics_forget(nm, "n1");
	assert_null(nodemetrics_latest(nm, "n1"));
	nodemetrics_free(nm);
}

static json_t *history(struct nodemetrics *nm, const char *id)
{
	json_t *h = nodemetrics_history_json(nm, id);

	assert_non_null(h);
	return h;
}

/* One sample per 10-second slot, 360 of them, oldest dropped first; memory
 * stops growing at the bound. */
static void test_history_bound(void **state)
{
	struct nodemetrics *nm = nodemetrics_new();
	struct msg_heartbeat hb;
	json_t *h, *items;
	uint64_t bytes_full;

	for (int i = 0; i < 1000; i++) {
		hb = beat((uint64_t)i % 1001, (uint64_t)i * 100);
		assert_int_equal(nodemetrics_record(nm, "n1", &hb, 100000 + i * 10), 0);
	}
	h = history(nm, "n1");
	items = json_object_get(h, "history");
	assert_int_equal(json_array_size(items), NODEMETRICS_SLOTS);
	assert_int_equal(json_integer_value(json_object_get(h, "slot_s")), 10);
	assert_int_equal(json_integer_value(json_object_get(h, "slots")), 360);
	/* oldest first: sample 640 .. 999 */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "t")),
			 100000 + 640 * 10);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 359), "t")),
			 100000 + 999 * 10);
	assert_true(json_real_value(json_object_get(json_array_get(items, 359), "cpu")) == 99.9);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 359), "net_rx_rate")),
			 10);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 359), "mem_used")),
			 3ll << 30);
	json_decref(h);
	bytes_full = nodemetrics_bytes(nm);
	for (int i = 1000; i < 2000; i++) {
		hb = beat(1, 1);
		nodemetrics_record(nm, "n1", &hb, 100000 + i * 10);
	}
	assert_true(nodemetrics_bytes(nm) == bytes_full);
	assert_true(bytes_full < 12 * 1024 + 4096);   /* 360 x 32 B + table + entry */
	nodemetrics_free(nm);
}

/* Heartbeats within one slot replace its sample; latest always moves. */
static void test_same_slot(void **state)
{
	struct nodemetrics *nm = nodemetrics_new();
	struct msg_heartbeat hb;
	json_t *h, *items;

	for (int i = 0; i < 25; i++) {   /* 1-second heartbeats for 25 s */
		hb = beat((uint64_t)i, 0);
		nodemetrics_record(nm, "n1", &hb, 2000 + i);
	}
	h = history(nm, "n1");
	items = json_object_get(h, "history");
	assert_int_equal(json_array_size(items), 3);   /* slots 2000, 2010, 2020 */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "t")), 2009);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 2), "t")), 2024);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "latest"), "t")),
			 2024);
	json_decref(h);
	/* an unknown node: no latest, empty history */
	h = history(nm, "nobody");
	assert_true(json_is_null(json_object_get(h, "latest")));
	assert_int_equal(json_array_size(json_object_get(h, "history")), 0);
	json_decref(h);
	nodemetrics_free(nm);
}

/* Values past a history field's range are stored as its maximum. */
static void test_saturation(void **state)
{
	struct nodemetrics *nm = nodemetrics_new();
	struct msg_heartbeat hb = beat(1000, 0);
	json_t *h, *s;

	hb.load1_milli = 1000000;         /* load 1000: over 655.35 */
	hb.mem_total = hb.mem_used = UINT64_MAX;
	nodemetrics_record(nm, "n1", &hb, 50);
	hb.net_rx = UINT64_MAX / 2;       /* a rate far over 4 GiB/s */
	nodemetrics_record(nm, "n1", &hb, 60);
	h = history(nm, "n1");
	s = json_array_get(json_object_get(h, "history"), 1);
	assert_true(json_real_value(json_object_get(s, "load1")) == 655.35);
	assert_int_equal(json_integer_value(json_object_get(s, "net_rx_rate")), UINT32_MAX);
	assert_int_equal(json_integer_value(json_object_get(s, "mem_total")),
			 (json_int_t)UINT32_MAX << 10);
	/* latest keeps full precision */
	assert_true(json_real_value(json_object_get(json_object_get(h, "latest"), "load1")) == 1000.0);
	json_decref(h);
	nodemetrics_free(nm);
}

/* Many nodes: the table grows and every node keeps its own figures. */
static void test_many_nodes(void **state)
{
	struct nodemetrics *nm = nodemetrics_new();
	char id[32];

	for (int i = 0; i < 3000; i++) {
		struct msg_heartbeat hb = beat((uint64_t)i % 1000, 0);
		snprintf(id, sizeof(id), "n-%d", i);
		assert_int_equal(nodemetrics_record(nm, id, &hb, 10), 0);
	}
	for (int i = 0; i < 3000; i += 7) {
		snprintf(id, sizeof(id), "n-%d", i);
		assert_int_equal(nodemetrics_latest(nm, id)->cpu_permille, (uint64_t)i % 1000);
	}
	nodemetrics_free(nm);
}

static void test_figures_text(void **state)
{
	struct node_figures f = {
		.t = 1800000000, .uptime = 100, .cpu_permille = 250, .load1_milli = 1234,
		.mem_total = UINT64_MAX, .mem_used = 3ull << 30, .fs_total = 100ull << 30,
		.fs_used = 0, .net_rx = 1, .net_tx = 2, .net_rx_rate = 3, .net_tx_rate = 4,
		.running = 5,
	}, back;
	char text[STORE_NODE_FIGURES_MAX], small[20];
	static const char *const bad[] = {
		"", "f1", "f1 ", "f2 1 2 3 4 5 6 7 8 9 10 11 12 13",
		"f1 1 2 3 4 5 6 7 8 9 10 11 12",            /* 12 numbers */
		"f1 1 2 3 4 5 6 7 8 9 10 11 12 13 14",      /* 14 */
		"f1 1 2 3 4 5 6 7 8 9 10 11 12 13 ",        /* trailing space */
		"f1  1 2 3 4 5 6 7 8 9 10 11 12 13",        /* two spaces */
		"f1 -1 2 3 4 5 6 7 8 9 10 11 12 13",        /* a sign */
		"f1 +1 2 3 4 5 6 7 8 9 10 11 12 13",
		"f1 01 2 3 4 5 6 7 8 9 10 11 12 13",        /* a leading zero */
		"f1 1 2 3 4 5 6 7 8 9 10 11 12 0x13",
		"f1 1 2 3 4 5 6 7 8 9 10 11 12 18446744073709551616",   /* 2^64 */
		"f1 9223372036854775808 2 3 4 5 6 7 8 9 10 11 12 13",   /* t over int64 */
		"f1 1 2 3 4 5 6 7 8 9 10 11 12 1\n",
		" f1 1 2 3 4 5 6 7 8 9 10 11 12 13",
	};

	(void)state;
	assert_int_equal(nodemetrics_figures_format(&f, text, sizeof(text)), 0);
	assert_int_equal(nodemetrics_figures_parse(text, &back), 0);
	assert_memory_equal(&f, &back, sizeof(f));
	assert_int_equal(nodemetrics_figures_format(&f, small, sizeof(small)), -1);
	assert_int_equal(nodemetrics_figures_parse("f1 0 0 0 0 0 0 0 0 0 0 0 0 0", &back), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (nodemetrics_figures_parse(bad[i], &back) == 0)
			fail_msg("accepted: \"%s\"", bad[i]);
	assert_int_equal(nodemetrics_figures_parse(NULL, &back), -1);
}

/* On a replica: its own figures for a node it holds; for one another
 * replica holds, the newer of its own (from before the node moved) and the
 * row's; a row with none or a bad one leaves its own. */
static void test_figures_for_row(void **state)
{
	struct nodemetrics *nm = nodemetrics_new();
	struct msg_heartbeat hb = beat(250, 1000);
	struct store_node n = {.id = "n1"};
	struct node_figures row = {.t = 5000, .cpu_permille = 900, .mem_total = 1, .running = 7}, buf;
	const struct node_figures *f;

	(void)state;
	assert_null(nodemetrics_for_row(nm, &n, false, &buf));
	assert_int_equal(nodemetrics_figures_format(&row, n.figures, sizeof(n.figures)), 0);
	f = nodemetrics_for_row(nm, &n, false, &buf);
	assert_non_null(f);
	assert_int_equal(f->running, 7);
	assert_int_equal(nodemetrics_record(nm, "n1", &hb, 1000), 0);
	/* held here: its own, whatever the row says */
	f = nodemetrics_for_row(nm, &n, true, &buf);
	assert_int_equal(f->t, 1000);
	/* held elsewhere: the row's, newer than its own of t 1000 */
	f = nodemetrics_for_row(nm, &n, false, &buf);
	assert_int_equal(f->t, 5000);
	/* a row older than its own: its own */
	row.t = 10;
	assert_int_equal(nodemetrics_figures_format(&row, n.figures, sizeof(n.figures)), 0);
	assert_int_equal(nodemetrics_for_row(nm, &n, false, &buf)->t, 1000);
	/* a bad row: its own */
	strcpy(n.figures, "f1 junk");
	assert_int_equal(nodemetrics_for_row(nm, &n, false, &buf)->t, 1000);
	nodemetrics_free(nm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_figures_text),
		cmocka_unit_test(test_figures_for_row),
		cmocka_unit_test(test_latest_and_rates),
		cmocka_unit_test(test_history_bound),
		cmocka_unit_test(test_same_slot),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_many_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
