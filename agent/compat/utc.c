/* utc.c — UTC calendar arithmetic for the static agent's gmtime_r and timegm
 * (agent/compat/link_trim.c); owns no state and reads no time zone files. */
#include "agent/compat/utc.h"

#include <stdint.h>

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (m 1..12), and
 * back: the era-based algorithm (400-year eras of 146097 days), exact for
 * every date whose day count fits in int64_t. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

struct tm *utc_from_time(time_t t, struct tm *tm)
{
	int64_t s = (int64_t)t, days, secs, y, m, d;

	days = s / 86400;
	secs = s % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y - 1900 > INT32_MAX || y - 1900 < INT32_MIN)
		return NULL;
	tm->tm_year = (int)(y - 1900);
	tm->tm_mon = (int)(m - 1);
	tm->tm_mday = (int)d;
	tm->tm_hour = (int)(secs / 3600);
	tm->tm_min = (int)(secs / 60 % 60);
	tm->tm_sec = (int)(secs % 60);
	/* 1970-01-01 was a Thursday. */
	tm->tm_wday = (int)(((days % 7) + 11) % 7);
	tm->tm_yday = (int)(days - days_from_civil(y, 1, 1));
	tm->tm_isdst = 0;
	tm->tm_gmtoff = 0;
	tm->tm_zone = "GMT";
	return tm;
}

time_t utc_to_time(struct tm *tm)
{
	/* Month overflow folds into the year; day, hour, minute and second
	 * overflow is plain arithmetic on the day count and seconds. */
	int64_t mon = tm->tm_mon, y = (int64_t)tm->tm_year + 1900, days, s;

	y += mon >= 0 ? mon / 12 : (mon - 11) / 12;
	mon = ((mon % 12) + 12) % 12;
	days = days_from_civil(y, mon + 1, 1) + tm->tm_mday - 1;
	s = days * 86400 + (int64_t)tm->tm_hour * 3600 + (int64_t)tm->tm_min * 60 + tm->tm_sec;
	if ((int64_t)(time_t)s != s || utc_from_time((time_t)s, tm) == NULL)
		return (time_t)-1;
	return (time_t)s;
}
