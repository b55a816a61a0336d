/* utc.h — UTC calendar arithmetic (seconds since the epoch <-> struct tm),
 * with no time zone database: what gmtime_r and timegm compute. */
#ifndef OC_UTC_H
#define OC_UTC_H

#include <time.h>

/* Fills *tm with the UTC time of t (tm_isdst 0, tm_gmtoff 0, tm_zone "GMT");
 * returns tm, or NULL if the year does not fit in an int. */
struct tm *utc_from_time(time_t t, struct tm *tm);
/* The seconds since the epoch of the UTC time in *tm, whose fields may be out
 * of range (a 32nd day is the 1st of the next month); *tm is normalized.
 * Returns (time_t)-1 if the result does not fit. */
time_t utc_to_time(struct tm *tm);

#endif
