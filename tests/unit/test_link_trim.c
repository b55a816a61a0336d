/* test_link_trim.c — the static agent's stand-ins for glibc (agent/utc.c,
 * agent/scan.c) give glibc's own answers: this test links glibc's real
 * gmtime_r, timegm and sscanf and compares over many inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/compat/scan.h"
#include "agent/compat/utc.h"

static void assert_tm_equal(const struct tm *a, const struct tm *b)
{
	assert_int_equal(a->tm_year, b->tm_year);
	assert_int_equal(a->tm_mon, b->tm_mon);
	assert_int_equal(a->tm_mday, b->tm_mday);
	assert_int_equal(a->tm_hour, b->tm_hour);
	assert_int_equal(a->tm_min, b->tm_min);
	assert_int_equal(a->tm_sec, b->tm_sec);
	assert_int_equal(a->tm_wday, b->tm_wday);
	assert_int_equal(a->tm_yday, b->tm_yday);
	assert_int_equal(a->tm_isdst, b->tm_isdst);
	assert_int_equal(a->tm_gmtoff, b->tm_gmtoff);
}

static void test_utc_from_time_matches_gmtime(void **state)
{
	static const int64_t fixed[] = {0, -1, 59, 86399, 86400, -86400, -86401, 951782400,
					951868799, 4107542399, 4107542400, 2147483647, 2147483648,
					-2147483648LL, 253402300799LL, -62135596800LL};
	struct tm want, got;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		time_t t = (time_t)fixed[i];
		if ((int64_t)t != fixed[i])
			continue; /* 32-bit time_t */
		assert_non_null(gmtime_r(&t, &want));
		assert_non_null(utc_from_time(t, &got));
		assert_tm_equal(&got, &want);
	}
	/* every day for 1200 years around the epoch, at a changing time of day */
	for (int64_t d = -220000; d <= 220000; d++) {
		time_t t = (time_t)(d * 86400 + (d * 7919 % 86400 + 86400) % 86400);
		if ((int64_t)t != d * 86400 + (d * 7919 % 86400 + 86400) % 86400)
			continue;
		gmtime_r(&t, &want);
		utc_from_time(t, &got);
		assert_tm_equal(&got, &want);
	}
}

static void test_utc_to_time_matches_timegm(void **state)
{
	/* in-range dates and out-of-range fields that timegm normalizes */
	static const int fields[][6] = {
		{70, 0, 1, 0, 0, 0},    {100, 1, 29, 12, 0, 0}, {124, 1, 29, 23, 59, 59},
		{123, 1, 29, 0, 0, 0},  {99, 11, 31, 23, 59, 60}, {125, 13, 1, 0, 0, 0},
		{125, -1, 1, 0, 0, 0},  {125, -13, 1, 0, 0, 0}, {125, 0, 0, 0, 0, 0},
		{125, 0, 32, 0, 0, 0},  {125, 0, 1, 25, 0, 0},  {125, 0, 1, -1, -1, -1},
		{69, 11, 31, 23, 59, 59}, {1, 0, 1, 0, 0, 0},   {137, 11, 31, 23, 59, 59},
		{8099, 11, 31, 23, 59, 59}, {125, 0, 400, 0, 0, 0}, {125, 25, -40, 49, 70, -3},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct tm a, b;
		memset(&a, 0, sizeof(a));
		a.tm_year = fields[i][0];
		a.tm_mon = fields[i][1];
		a.tm_mday = fields[i][2];
		a.tm_hour = fields[i][3];
		a.tm_min = fields[i][4];
		a.tm_sec = fields[i][5];
		b = a;
		time_t want = timegm(&a);
		time_t got = utc_to_time(&b);
		assert_int_equal((int64_t)got, (int64_t)want);
		if (want != (time_t)-1)
			assert_tm_equal(&b, &a);
	}
}

/* Both scanners on the format libevent's evutil_inet_pton uses. */
static int ours(const char *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = scan_vformat(s, fmt, ap);
	va_end(ap);
	return n;
}

static void test_scan_matches_sscanf_on_ipv4_literals(void **state)
{
	static const char *const inputs[] = {
		"127.0.0.1", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3.4x", "1.2.3",
		"1.2.3.", "1..2.3", "", " ", "a.b.c.d", " 1. 2. 3. 4", "+1.2.3.4", "-1.2.3.4",
		"-0.0.0.0", "01.002.0003.00004", "4294967295.1.1.1", "4294967296.1.1.1",
		"99999999999999999999999.1.1.1", "1.2.3.4 ", "1.2.3.4.5", "10.0.0.1\n",
		"::1", "fe80::1", "1.2.3.-4", "1.2.3.+4", "1 .2.3.4", "\t1.2.3.4",
		/* found by fuzz_link_trim: overflow with a minus sign */
		"-99999999999929999991.-9011.-1", "-18446744073709551616.1.1.1",
		"-18446744073709551615.1.1.1", "18446744073709551615.1.1.1",
	};
#define IPV4_FORMAT "%u.%u.%u.%u%c"

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		unsigned a[4] = {7, 7, 7, 7}, b[4] = {7, 7, 7, 7};
		char ca = 'z', cb = 'z';
		int want = sscanf(inputs[i], IPV4_FORMAT, &a[0], &a[1], &a[2], &a[3], &ca);
		int got = ours(inputs[i], IPV4_FORMAT, &b[0], &b[1], &b[2], &b[3], &cb);
		print_message("%-32s sscanf %d ours %d\n", inputs[i], want, got);
		assert_int_equal(got, want);
		for (int k = 0; k < 4 && k < want; k++)
			assert_int_equal(b[k], a[k]);
		if (want == 5)
			assert_int_equal(cb, ca);
	}
}

static void test_scan_other_directives(void **state)
{
	int d = 0;
	char c = 0;

	assert_int_equal(ours("-42x", "%d%c", &d, &c), 2);
	assert_int_equal(d, -42);
	assert_int_equal(c, 'x');
	assert_int_equal(ours("5%", "%d%%", &d), 1);
	/* strtol's range: LONG_MIN / LONG_MAX on overflow, then cut to int */
	static const char *const ints[] = {"-9223372036854775808", "-9223372036854775809",
					   "9223372036854775807", "9223372036854775808",
					   "-99999999999999999999", "-2147483649", "-0"};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		int want = 7, got = 7;
		assert_int_equal(sscanf(ints[i], "%d", &want), 1);
		assert_int_equal(ours(ints[i], "%d", &got), 1);
		assert_int_equal(got, want);
	}
	/* a directive it does not know stops the scan */
	assert_int_equal(ours("1.5", "%f", &d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc_from_time_matches_gmtime),
		cmocka_unit_test(test_utc_to_time_matches_timegm),
		cmocka_unit_test(test_scan_matches_sscanf_on_ipv4_literals),
		cmocka_unit_test(test_scan_other_directives),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
