/* lograte.h — rate limits for log lines a peer can cause at will (bad
 * requests, failed handshakes, refused accepts): one line per interval. */
#ifndef OC_LOGRATE_H
#define OC_LOGRATE_H

#include <stdbool.h>
#include <stdint.h>

/* Zero-initialised it allows one line per LOGRATE_DEFAULT_S. */
struct lograte {
	int64_t window_start_ms;   /* monotonic; 0 before the first line */
	uint64_t suppressed;       /* lines not written since the last one */
	int interval_s;            /* 0: LOGRATE_DEFAULT_S */
};

#define LOGRATE_DEFAULT_S 10

/* True when this occurrence is to be logged; *suppressed then gets how many
 * were dropped before it (to say so in the line). False: count it only. */
bool lograte_allow(struct lograte *r, uint64_t *suppressed);

#endif
