/* lograte.c — counts repeated log lines and lets one through per interval,
 * so a hostile peer cannot fill the disk with the tower's log. */
#include "shared/lograte.h"

#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool lograte_allow(struct lograte *r, uint64_t *suppressed)
{
	int64_t now = now_ms();
	int64_t interval = (int64_t)(r->interval_s > 0 ? r->interval_s : LOGRATE_DEFAULT_S) * 1000;

	if (r->window_start_ms != 0 && now - r->window_start_ms < interval) {
		r->suppressed++;
		return false;
	}
	r->window_start_ms = now;
	*suppressed = r->suppressed;
	r->suppressed = 0;
	return true;
}
