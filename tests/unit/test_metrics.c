/* test_metrics.c — the agent's node figures (agent/metrics.c): the /proc
 * parsers on fixtures (tests/unit/fixtures/proc) and on bad input, the CPU
 * share between two heartbeats, and the heartbeat fields they fill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/metrics.h"
#include "shared/msg.h"

static char fixture_root[4096];

static int setup(void **state)
{
	const char *src = getenv("OC_SRC");

	snprintf(fixture_root, sizeof(fixture_root), "%s/tests/unit/fixtures/proc",
		 src != NULL ? src : ".");
	return 0;
}

/* The fixtures: cpu 9000 jiffies, 7000 idle + 400 iowait; MemTotal 4000000
 * kB, MemAvailable 3000000 kB; eth0, eth1 and a veth besides lo; load 1.50. */
static void test_read_fixtures(void **state)
{
	struct metrics_state st = {0};
	struct msg_heartbeat hb = {0};

	metrics_read(&st, fixture_root, &hb);
	assert_int_equal(hb.cpu_permille, 1600 * 1000 / 9000);
	assert_int_equal(hb.mem_total, 4000000ull * 1024);
	assert_int_equal(hb.mem_used, 1000000ull * 1024);
	assert_int_equal(hb.net_rx, 1000 + 123456789 + 10);
	assert_int_equal(hb.net_tx, 2000 + 987654321 + 20);
	assert_int_equal(hb.load1_milli, 1500);
	/* statfs of the fixture dir's filesystem: some size, used within it */
	assert_true(hb.fs_total > 0);
	assert_true(hb.fs_used <= hb.fs_total);
	assert_int_equal(st.cpu_busy, 1600);
	assert_int_equal(st.cpu_total, 9000);
}

/* The second heartbeat's CPU share is of the jiffies between the two. */
static void test_cpu_since_previous(void **state)
{
	struct metrics_state st = {.cpu_busy = 600, .cpu_total = 4000};
	struct msg_heartbeat hb = {0};

	metrics_read(&st, fixture_root, &hb);
	assert_int_equal(hb.cpu_permille, 200);   /* 1000 busy of 5000 */

	/* Counters that went back (a restored VM): the share since boot. */
	st = (struct metrics_state){.cpu_busy = 5000, .cpu_total = 100000};
	metrics_read(&st, fixture_root, &hb);
	assert_int_equal(hb.cpu_permille, 177);

	/* All busy, and the same counters twice: no division by zero. */
	st = (struct metrics_state){.cpu_busy = 1600, .cpu_total = 9000};
	metrics_read(&st, fixture_root, &hb);
	assert_true(hb.cpu_permille <= 1000);
}

static void test_missing_files(void **state)
{
	struct metrics_state st = {0};
	struct msg_heartbeat hb = {.load1_milli = 42};

	metrics_read(&st, "/nonexistent-metrics-root", &hb);
	assert_int_equal(hb.cpu_permille, 0);
	assert_int_equal(hb.mem_total, 0);
	assert_int_equal(hb.mem_used, 0);
	assert_int_equal(hb.net_rx, 0);
	assert_int_equal(hb.fs_total, 0);
	assert_int_equal(hb.load1_milli, 42);   /* sysinfo's value stays */
}

/* Kernels before 3.14: available is free + buffers + cached. */
static void test_meminfo_without_available(void **state)
{
	struct metrics_figures f = {0};

	metrics_parse(METRICS_MEMINFO,
		      "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n", &f);
	assert_true(f.have_mem);
	assert_int_equal(f.mem_total, 1000 * 1024);
	assert_int_equal(f.mem_available, 400 * 1024);

	/* More available than total (a broken line): clamped, used stays >= 0. */
	memset(&f, 0, sizeof(f));
	metrics_parse(METRICS_MEMINFO, "MemTotal: 10 kB\nMemAvailable: 20 kB\n", &f);
	assert_int_equal(f.mem_available, 10 * 1024);

	/* No total: no figures. */
	memset(&f, 0, sizeof(f));
	metrics_parse(METRICS_MEMINFO, "MemFree: 100 kB\n", &f);
	assert_false(f.have_mem);
}

static void test_bad_stat(void **state)
{
	static const char *const bad[] = {
		"", "\n\n", "cpu", "cpu \n", "cpu  1 2 3\n", "cpu0 1 2 3 4 5 6 7 8\n",
		"cpux 1 2 3 4\n", "cpu  a b c d e\n", "intr 1 2 3\n", "\xff\xfe\x00",
	};
	struct metrics_figures f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&f, 0, sizeof(f));
		metrics_parse(METRICS_STAT, bad[i], &f);
		if (f.have_cpu)
			fail_msg("\"%s\" gave CPU figures", bad[i]);
	}
	/* Four fields (idle and nothing after): fine. */
	memset(&f, 0, sizeof(f));
	metrics_parse(METRICS_STAT, "cpu  10 0 10 80", &f);
	assert_true(f.have_cpu);
	assert_int_equal(f.cpu_busy, 20);
	assert_int_equal(f.cpu_total, 100);
	/* Numbers too large saturate; busy never exceeds total. */
	memset(&f, 0, sizeof(f));
	metrics_parse(METRICS_STAT, "cpu  99999999999999999999999 1 1 99999999999999999999 1\n", &f);
	assert_true(f.have_cpu);
	assert_true(f.cpu_busy <= f.cpu_total);
}

static void test_bad_netdev(void **state)
{
	struct metrics_figures f = {0};

	metrics_parse(METRICS_NETDEV,
		      "garbage without colon\n"
		      "  eth0: 1 2 3\n"                       /* too few fields */
		      "  eth1: x 2 3 4 5 6 7 8 9\n"           /* not a number */
		      "    lo: 5 0 0 0 0 0 0 0 5 0 0 0 0 0 0 0\n"
		      ":\n", &f);
	assert_false(f.have_net);
	memset(&f, 0, sizeof(f));
	metrics_parse(METRICS_NETDEV,
		      "  a: 18446744073709551615 0 0 0 0 0 0 0 1\n"
		      "  b: 18446744073709551615 0 0 0 0 0 0 0 1\n", &f);
	assert_true(f.have_net);
	assert_true(f.net_rx == UINT64_MAX);   /* saturated, not wrapped */
	assert_int_equal(f.net_tx, 2);
	/* "lo" only by its exact name: "lo0" and "eth-lo" count. */
	memset(&f, 0, sizeof(f));
	metrics_parse(METRICS_NETDEV, " lo0: 1 0 0 0 0 0 0 0 1\n", &f);
	assert_int_equal(f.net_rx, 1);
}

static void test_loadavg(void **state)
{
	static const struct {
		const char *text;
		uint64_t milli;
	} good[] = {
		{"0.00 0.01 0.05 1/100 1", 0}, {"3 2 1", 3000}, {"0.5", 500},
		{"12.3456 1 1", 12345}, {"  7.25 1", 7250}, {"1.", 1000},
	};
	static const char *const bad[] = {"", "abc", "-1.0 1 1", ".5 1 1", "\n", "x 1.0"};
	struct metrics_figures f;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&f, 0, sizeof(f));
		metrics_parse(METRICS_LOADAVG, good[i].text, &f);
		assert_true(f.have_load);
		assert_int_equal(f.load1_milli, good[i].milli);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&f, 0, sizeof(f));
		metrics_parse(METRICS_LOADAVG, bad[i], &f);
		if (f.have_load)
			fail_msg("\"%s\" gave a load of %llu", bad[i],
				 (unsigned long long)f.load1_milli);
	}
}

/* A line longer than the reader's buffer is skipped whole, and the lines
 * after it are read: the file path, not the in-memory one. */
static void test_long_line_in_file(void **state)
{
	char root[] = "/tmp/oc-metrics-XXXXXX", path[256];
	struct metrics_state st = {0};
	struct msg_heartbeat hb = {0};
	FILE *f;

	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/proc", root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/proc/stat", root);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("intr", f);
	for (int i = 0; i < 3000; i++)
		fputs(" 7", f);   /* 9 KB: over two reads of the buffer */
	fputs("\ncpu  30 0 20 50 0 0 0 0 0 0\nctxt 1", f);
	assert_int_equal(fclose(f), 0);
	metrics_read(&st, root, &hb);
	assert_int_equal(hb.cpu_permille, 500);
	/* a long "cpu" line itself is not read half */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("cpu  1 1 1 1", f);
	for (int i = 0; i < 3000; i++)
		fputs(" 1", f);
	fputs("\n", f);
	assert_int_equal(fclose(f), 0);
	st = (struct metrics_state){0};
	hb.cpu_permille = 0;
	metrics_read(&st, root, &hb);
	assert_int_equal(st.cpu_total, 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/proc", root);
	rmdir(path);
	rmdir(root);
}

/* What the agent reads encodes, and the tower's decoder takes it. */
static void test_heartbeat_encodes(void **state)
{
	struct metrics_state st = {0};
	struct msg m = {.type = MSG_HEARTBEAT}, out;
	char err[256];
	uint8_t *frame;
	size_t len;

	m.u.heartbeat.uptime = 1;
	metrics_read(&st, fixture_root, &m.u.heartbeat);
	frame = msg_encode_frame(&m, 1 << 20, &len);
	assert_non_null(frame);
	assert_int_equal(msg_decode(frame + 4, len - 4, &out, err, sizeof(err)), 0);
	assert_int_equal(out.u.heartbeat.mem_used, 1000000ull * 1024);
	assert_int_equal(out.u.heartbeat.cpu_permille, 177);
	msg_clear(&out);
	free(frame);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_fixtures),
		cmocka_unit_test(test_cpu_since_previous),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_meminfo_without_available),
		cmocka_unit_test(test_bad_stat),
		cmocka_unit_test(test_bad_netdev),
		cmocka_unit_test(test_loadavg),
		cmocka_unit_test(test_long_line_in_file),
		cmocka_unit_test(test_heartbeat_encodes),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
