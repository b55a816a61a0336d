/* fuzz_link_trim.c — libFuzzer target, differential: the static agent's
 * stand-ins (agent/compat/scan.c, agent/compat/utc.c) against glibc's own sscanf, gmtime_r
 * and timegm on hostile input. Any difference aborts. The scanner's input is
 * what libevent hands it: the tower address and resolv.conf's nameservers. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/compat/scan.h"
#include "agent/compat/utc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IPV4_FORMAT "%u.%u.%u.%u%c"

static void die(const char *what, const char *input)
{
	fprintf(stderr, "fuzz_link_trim: %s on \"%s\"\n", what, input);
	abort();
}

static int ours(const char *s, ...)
{
	va_list ap;
	int n;

	va_start(ap, s);
	n = scan_vformat(s, IPV4_FORMAT, ap);
	va_end(ap);
	return n;
}

static void check_scan(const char *s)
{
	unsigned a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 4};
	char ca = 0, cb = 0;
	int want = sscanf(s, IPV4_FORMAT, &a[0], &a[1], &a[2], &a[3], &ca);
	int got = ours(s, &b[0], &b[1], &b[2], &b[3], &cb);

	if (got != want)
		die("count differs from sscanf", s);
	for (int k = 0; k < 4 && k < want; k++)
		if (a[k] != b[k])
			die("value differs from sscanf", s);
	if (want == 5 && ca != cb)
		die("%c differs from sscanf", s);
}

static void check_time(const uint8_t *data, size_t size)
{
	int64_t v = 0;
	struct tm want, got, a, b;

	memcpy(&v, data, size < sizeof(v) ? size : sizeof(v));
	/* glibc's own range: years that fit in an int */
	v %= (int64_t)67767976233316800LL;
	time_t t = (time_t)v;
	if (gmtime_r(&t, &want) != NULL) {
		if (utc_from_time(t, &got) == NULL || got.tm_year != want.tm_year ||
		    got.tm_mon != want.tm_mon || got.tm_mday != want.tm_mday ||
		    got.tm_hour != want.tm_hour || got.tm_min != want.tm_min ||
		    got.tm_sec != want.tm_sec || got.tm_wday != want.tm_wday ||
		    got.tm_yday != want.tm_yday)
			die("utc_from_time differs from gmtime_r", "");
	}
	/* struct tm fields from the input, within a few centuries so that both
	 * sides stay in range */
	if (size >= 14) {
		memset(&a, 0, sizeof(a));
		a.tm_year = 70 + (int8_t)data[8] * 2;
		a.tm_mon = (int8_t)data[9];
		a.tm_mday = (int8_t)data[10];
		a.tm_hour = (int8_t)data[11];
		a.tm_min = (int8_t)data[12];
		a.tm_sec = (int8_t)data[13];
		b = a;
		if (timegm(&a) != utc_to_time(&b) || a.tm_mday != b.tm_mday || a.tm_mon != b.tm_mon ||
		    a.tm_year != b.tm_year)
			die("utc_to_time differs from timegm", "");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[64];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	check_scan(s);
	check_time(data, size);
	return 0;
}
