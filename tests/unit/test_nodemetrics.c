/* test_nodemetrics.c — the tower's per-node figures (tower/metrics/nodemetrics.c):
 * latest figures, rates, the history's 10-second slots and its bound. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_latest_and_rates),
		cmocka_unit_test(test_history_bound),
		cmocka_unit_test(test_same_slot),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_many_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
