/* clock_shim.c — for the fault tests only: overcloud-agent-skewed is the
 * agent linked with --wrap=time,clock_gettime to this file, whose wall
 * clock runs the number of seconds in $OC_TEST_CLOCK_FILE ahead (negative:
 * behind). The file is read again each real second, so a test can make
 * the clock jump while the agent runs. LD_PRELOAD and faketime cannot
 * reach a static binary; a link-time wrap can. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

time_t __real_time(time_t *t);
int __real_clock_gettime(clockid_t id, struct timespec *ts);
time_t __wrap_time(time_t *t);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);

static long clock_offset(time_t real_now)
{
	static time_t read_at = -1;
	static long offset;
	const char *path;
	FILE *f;

	if (real_now == read_at)
		return offset;
	read_at = real_now;
	path = getenv("OC_TEST_CLOCK_FILE");
	f = path ? fopen(path, "r") : NULL;
	if (f != NULL) {
		if (fscanf(f, "%ld", &offset) != 1)
			offset = 0;
		fclose(f);
	}
	return offset;
}

time_t __wrap_time(time_t *t)
{
	time_t now = __real_time(NULL);

	now += clock_offset(now);
	if (t != NULL)
		*t = now;
	return now;
}

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc = __real_clock_gettime(id, ts);

	if (rc == 0 && id == CLOCK_REALTIME)
		ts->tv_sec += clock_offset(__real_time(NULL));
	return rc;
}
