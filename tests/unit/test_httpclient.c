/* test_httpclient.c — the response-header capture of the one libcurl client
 * (tower/httpclient.c): names case-insensitive, values trimmed, a value that
 * does not fit found but empty, a new status line (after 100 Continue) clears
 * what an earlier answer said; and refusals before any connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tower/httpclient.h"

#define LINE(s) s, strlen(s)

static void test_capture(void **state)
{
	char retry[8], token[16];
	struct httpclient_capture cap[2] = {
		{.name = "Retry-After", .value = retry, .size = sizeof(retry)},
		{.name = "X-Subject-Token", .value = token, .size = sizeof(token)},
	};

	httpclient_capture_line(cap, 2, LINE("HTTP/1.1 413 Request Entity Too Large\r\n"));
	httpclient_capture_line(cap, 2, LINE("retry-after: \t 2 \r\n"));
	assert_true(cap[0].found);
	assert_string_equal(retry, "2");
	assert_false(cap[1].found);
	/* a name that only starts like one, a missing colon */
	httpclient_capture_line(cap, 2, LINE("X-Subject-Tokens: no\r\n"));
	httpclient_capture_line(cap, 2, LINE("X-Subject-Token no colon\r\n"));
	assert_false(cap[1].found);
	/* too long for the buffer: found, empty, said */
	httpclient_capture_line(cap, 2, LINE("X-Subject-Token: 0123456789abcdefXYZ\r\n"));
	assert_true(cap[1].found);
	assert_true(cap[1].too_long);
	assert_string_equal(token, "");
	httpclient_capture_line(cap, 2, LINE("X-Subject-Token: abc\r\n"));
	assert_string_equal(token, "abc");
	/* a NUL inside a value is no value */
	httpclient_capture_line(cap, 2, "Retry-After: 1\0002\r\n", 17);
	assert_string_equal(retry, "");
	/* the next answer starts clean */
	httpclient_capture_line(cap, 2, LINE("HTTP/1.1 201 Created\r\n"));
	assert_false(cap[0].found);
	assert_false(cap[1].found);
	assert_string_equal(token, "");
	/* an empty line, a bare name */
	httpclient_capture_line(cap, 2, LINE("\r\n"));
	httpclient_capture_line(cap, 2, LINE("Retry-After"));
	assert_false(cap[0].found);
}

static void test_refusals(void **state)
{
	struct httpclient_answer ans;
	char err[256];
	struct httpclient_request req = {.method = "GET", .url = "http://127.0.0.1:1/"};

	/* plain http is refused unless the caller allows it */
	assert_int_equal(httpclient_do(NULL, &req, &ans, err, sizeof(err)), -1);
	assert_string_equal(err, "only https:// endpoints are used");
	req.url = "ftp://127.0.0.1/";
	req.allow_http = true;
	assert_int_equal(httpclient_do(NULL, &req, &ans, err, sizeof(err)), -1);
	/* nothing listens on port 1: worth another try */
	req.url = "https://127.0.0.1:1/";
	assert_int_equal(httpclient_do(NULL, &req, &ans, err, sizeof(err)), HTTPCLIENT_TRANSIENT);
	assert_non_null(err[0] ? err : NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
