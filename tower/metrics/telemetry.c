/* telemetry.c — counters and histograms of the tower's own work, kept for
 * the life of the process (Prometheus takes rates of them). One set per
 * process: the tower runs one daemon, and the modules that count (hub, httpd,
 * tasks, workflow, store) need not carry a pointer for it. */
#include "tower/metrics/telemetry.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "shared/util.h"
#include "tower/metrics/promtext.h"

/* Seconds: tasks and steps run for seconds to an hour, API requests and
 * commits for well under a second. */
static const double long_bounds[] = {0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
static const double short_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				      0.05,   0.1,   0.25,   0.5,   1,    2.5};

static uint64_t task_counts[OC_ARRAY_LEN(long_bounds) + 1];
static uint64_t step_counts[OC_ARRAY_LEN(long_bounds) + 1];
static uint64_t api_counts[OC_ARRAY_LEN(short_bounds) + 1];
static uint64_t commit_counts[OC_ARRAY_LEN(short_bounds) + 1];

#define HIST(bounds, counts) { (bounds), OC_ARRAY_LEN(bounds), (counts), 0, 0 }
static struct promtext_histogram hists[] = {
	[TELEMETRY_TASK] = HIST(long_bounds, task_counts),
	[TELEMETRY_STEP] = HIST(long_bounds, step_counts),
	[TELEMETRY_API] = HIST(short_bounds, api_counts),
	[TELEMETRY_COMMIT] = HIST(short_bounds, commit_counts),
};

static uint64_t enrollments[2], handshakes[2];   /* [0] refused/failed, [1] ok */
static uint64_t requests_by_status[600];

void telemetry_enrollment(bool ok)
{
	enrollments[ok]++;
}

void telemetry_handshake(bool ok)
{
	handshakes[ok]++;
}

void telemetry_api_request(int status, double seconds)
{
	if (status >= 100 && status < 600)
		requests_by_status[status]++;
	telemetry_observe(TELEMETRY_API, seconds);
}

void telemetry_observe(enum telemetry_duration what, double seconds)
{
	if ((size_t)what >= OC_ARRAY_LEN(hists))
		return;
	promtext_observe(&hists[what], seconds < 0 ? 0 : seconds);
}

double telemetry_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_pair(struct evbuffer *out, const char *name, const char *help,
		       const char *label, const char *bad, const char *good, const uint64_t v[2])
{
	struct promtext_label l = {label, good};

	promtext_family(out, name, "counter", help);
	promtext_sample(out, name, &l, 1, (double)v[1]);
	l.value = bad;
	promtext_sample(out, name, &l, 1, (double)v[0]);
}

void telemetry_write(struct evbuffer *out)
{
	char code[8];
	struct promtext_label l = {"code", code};

	write_pair(out, "overcloud_enrollments_total",
		   "Agent enrollments (join token and CSR), by result.", "result", "refused", "ok",
		   enrollments);
	write_pair(out, "overcloud_agent_handshakes_total",
		   "TLS handshakes on the agent listener, by result.", "result", "failed", "ok",
		   handshakes);
	promtext_family(out, "overcloud_api_requests_total", "counter",
			"API requests answered, by HTTP status code.");
	for (int s = 100; s < 600; s++) {
		if (requests_by_status[s] == 0)
			continue;
		snprintf(code, sizeof(code), "%d", s);
		promtext_sample(out, "overcloud_api_requests_total", &l, 1,
				(double)requests_by_status[s]);
	}
	promtext_family(out, "overcloud_api_request_duration_seconds", "histogram",
			"Time from a parsed API request to its queued response.");
	promtext_histogram(out, "overcloud_api_request_duration_seconds", NULL, 0,
			   &hists[TELEMETRY_API]);
	promtext_family(out, "overcloud_task_duration_seconds", "histogram",
			"Tasks' run time on their nodes, as the agents measured it.");
	promtext_histogram(out, "overcloud_task_duration_seconds", NULL, 0, &hists[TELEMETRY_TASK]);
	promtext_family(out, "overcloud_step_duration_seconds", "histogram",
			"OverCloud workflow steps, from start to done or failed.");
	promtext_histogram(out, "overcloud_step_duration_seconds", NULL, 0, &hists[TELEMETRY_STEP]);
	promtext_family(out, "overcloud_store_commit_duration_seconds", "histogram",
			"COMMIT of the tower's sqlite transactions.");
	promtext_histogram(out, "overcloud_store_commit_duration_seconds", NULL, 0,
			   &hists[TELEMETRY_COMMIT]);
}
