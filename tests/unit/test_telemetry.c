/* test_telemetry.c — the tower's own health figures (tower/metrics/telemetry.c):
 * what is counted shows in the exposition text, in the right bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "tower/metrics/telemetry.h"

static char *written(void)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *text;

	telemetry_write(b);
	len = evbuffer_get_length(b);
	text = malloc(len + 1);
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	evbuffer_free(b);
	return text;
}

static void has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL)
		fail_msg("no \"%s\" in:\n%s", line, text);
}

static void test_counts_and_histograms(void **state)
{
	char *text;

	telemetry_enrollment(true);
	telemetry_enrollment(true);
	telemetry_enrollment(false);
	telemetry_handshake(true);
	telemetry_handshake(false);
	telemetry_api_request(200, 0.002);
	telemetry_api_request(200, 0.0001);
	telemetry_api_request(404, 3.0);
	telemetry_api_request(999, 0.001);   /* not a status: only its duration counts */
	telemetry_observe(TELEMETRY_STEP, 42);
	telemetry_observe(TELEMETRY_STEP, 4000);
	telemetry_observe(TELEMETRY_TASK, 0.05);
	telemetry_observe(TELEMETRY_COMMIT, 0.0003);
	telemetry_observe((enum telemetry_duration)99, 1);   /* ignored */
	text = written();
	has(text, "# TYPE overcloud_enrollments_total counter\n");
	has(text, "overcloud_enrollments_total{result=\"ok\"} 2\n");
	has(text, "overcloud_enrollments_total{result=\"refused\"} 1\n");
	has(text, "overcloud_agent_handshakes_total{result=\"ok\"} 1\n");
	has(text, "overcloud_agent_handshakes_total{result=\"failed\"} 1\n");
	has(text, "overcloud_api_requests_total{code=\"200\"} 2\n");
	has(text, "overcloud_api_requests_total{code=\"404\"} 1\n");
	assert_null(strstr(text, "code=\"999\""));
	has(text, "# TYPE overcloud_api_request_duration_seconds histogram\n");
	has(text, "overcloud_api_request_duration_seconds_bucket{le=\"0.0005\"} 1\n");
	has(text, "overcloud_api_request_duration_seconds_bucket{le=\"0.0025\"} 3\n");
	has(text, "overcloud_api_request_duration_seconds_bucket{le=\"2.5\"} 3\n");
	has(text, "overcloud_api_request_duration_seconds_bucket{le=\"+Inf\"} 4\n");
	has(text, "overcloud_api_request_duration_seconds_count 4\n");
	has(text, "overcloud_step_duration_seconds_bucket{le=\"60\"} 1\n");
	has(text, "overcloud_step_duration_seconds_bucket{le=\"3600\"} 1\n");
	has(text, "overcloud_step_duration_seconds_bucket{le=\"+Inf\"} 2\n");
	has(text, "overcloud_step_duration_seconds_sum 4042\n");
	has(text, "overcloud_task_duration_seconds_bucket{le=\"0.1\"} 1\n");
	has(text, "overcloud_store_commit_duration_seconds_bucket{le=\"0.0005\"} 1\n");
	free(text);
	assert_true(telemetry_now() > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_histograms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
