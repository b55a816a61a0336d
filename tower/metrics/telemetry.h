/* telemetry.h — the tower's own health figures (enrollments, handshakes,
 * API requests, task, step and commit durations), counted where they happen
 * and written for /metrics. Main loop only. */
#ifndef OC_TELEMETRY_H
#define OC_TELEMETRY_H

#include <stdbool.h>

struct evbuffer;

enum telemetry_duration {
	TELEMETRY_TASK,     /* a task's run on its node, as the agent measured it */
	TELEMETRY_STEP,     /* an OverCloud step, started to finished */
	TELEMETRY_API,      /* an API request, handler in to response queued */
	TELEMETRY_COMMIT,   /* a store transaction's COMMIT */
};

void telemetry_enrollment(bool ok);
void telemetry_handshake(bool ok);
void telemetry_api_request(int status, double seconds);
void telemetry_observe(enum telemetry_duration what, double seconds);
/* Monotonic seconds, for measuring the durations above. */
double telemetry_now(void);

/* Every family above, in the text exposition format. */
void telemetry_write(struct evbuffer *out);

#endif
