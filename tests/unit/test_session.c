/* test_session.c — the console's sessions and cookie parsing: a session is
 * found by its cookie value only, expires, ends, makes room for new ones;
 * mutating calls need the CSRF header; hostile Cookie headers find nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"
#include "tower/api/http.h"
#include "tower/api/session.h"

#define NOW 1800000000

static void test_start_lookup_end(void **state)
{
	struct sessions *s = sessions_new();
	char id[SESSION_ID_HEX + 1], id2[SESSION_ID_HEX + 1], csrf[SESSION_CSRF_HEX + 1];
	char got[SESSION_CSRF_HEX + 1], other[SESSION_ID_HEX + 1];
	int64_t exp = 0, exp2 = 0;

	(void)state;
	assert_int_equal(sessions_start(s, NOW, id, csrf, &exp), 0);
	assert_int_equal(strlen(id), SESSION_ID_HEX);
	assert_int_equal(exp, NOW + SESSION_TTL_S);
	assert_true(sessions_lookup(s, id, NOW + 10, got, &exp2));
	assert_string_equal(got, csrf);
	assert_int_equal(exp2, exp);
	assert_int_equal(sessions_start(s, NOW, id2, got, &exp2), 0);
	assert_string_not_equal(id, id2);
	/* One digit off, upper case, short, empty: no session. */
	memcpy(other, id, sizeof(other));
	other[0] = other[0] == '0' ? '1' : '0';
	assert_false(sessions_lookup(s, other, NOW, got, &exp2));
	for (char *p = other; *p; p++)
		*p = (char)(*p >= 'a' ? *p - 32 : *p);
	assert_false(sessions_lookup(s, other, NOW, got, &exp2));
	assert_false(sessions_lookup(s, "abc", NOW, got, &exp2));
	assert_false(sessions_lookup(s, "", NOW, got, &exp2));
	/* Expired. */
	assert_false(sessions_lookup(s, id, NOW + SESSION_TTL_S, got, &exp2));
	sessions_free(s);
}

static void test_end_and_room(void **state)
{
	struct sessions *s = sessions_new();
	char first[SESSION_ID_HEX + 1], id[SESSION_ID_HEX + 1], csrf[SESSION_CSRF_HEX + 1];
	int64_t exp;

	(void)state;
	assert_int_equal(sessions_start(s, NOW, first, csrf, &exp), 0);
	for (int i = 1; i <= SESSION_MAX; i++)
		assert_int_equal(sessions_start(s, NOW + i, id, csrf, &exp), 0);
	/* The oldest made room for the newest. */
	assert_false(sessions_lookup(s, first, NOW + 100, csrf, &exp));
	assert_true(sessions_lookup(s, id, NOW + 100, csrf, &exp));
	sessions_free(s);

	s = sessions_new();
	assert_int_equal(sessions_start(s, util_now(), id, csrf, &exp), 0);
	assert_true(sessions_end(s, id));
	assert_false(sessions_end(s, id));
	sessions_free(s);
}

static void test_cookie_get(void **state)
{
	char v[80];

	(void)state;
	assert_true(session_cookie_get("a=1; " SESSION_COOKIE "=abc; b=2", SESSION_COOKIE, v, sizeof(v)));
	assert_string_equal(v, "abc");
	assert_true(session_cookie_get(SESSION_COOKIE "=x", SESSION_COOKIE, v, sizeof(v)));
	assert_string_equal(v, "x");
	assert_true(session_cookie_get(";;  " SESSION_COOKIE "=y  ;", SESSION_COOKIE, v, sizeof(v)));
	assert_string_equal(v, "y");
	/* A longer name with ours as prefix, a suffix, empty, absent, too long. */
	assert_false(session_cookie_get(SESSION_COOKIE "2=z", SESSION_COOKIE, v, sizeof(v)));
	assert_false(session_cookie_get("x" SESSION_COOKIE "=z", SESSION_COOKIE, v, sizeof(v)));
	assert_false(session_cookie_get(SESSION_COOKIE "=", SESSION_COOKIE, v, sizeof(v)));
	assert_false(session_cookie_get("", SESSION_COOKIE, v, sizeof(v)));
	assert_false(session_cookie_get(SESSION_COOKIE "=0123456789", SESSION_COOKIE, v, 5));
	assert_false(session_cookie_get(SESSION_COOKIE, SESSION_COOKIE, v, sizeof(v)));
}

/* A parsed request with the given method and headers ("Name: value\r\n"...). */
static void request(struct http_request *req, char *buf, size_t size, const char *method,
		    const char *headers)
{
	size_t used;
	int status;
	char err[128];

	snprintf(buf, size, "%s /v1/nodes HTTP/1.1\r\nHost: x\r\n%s\r\n", method, headers);
	assert_int_equal(http_parse_request(buf, strlen(buf), 1024, req, &used, &status, err,
					    sizeof(err)), HTTP_PARSE_OK);
}

static void test_authorize(void **state)
{
	struct sessions *s = sessions_new();
	char id[SESSION_ID_HEX + 1], csrf[SESSION_CSRF_HEX + 1], hdr[512], buf[1024];
	struct http_request req;
	int64_t exp;

	(void)state;
	assert_int_equal(sessions_start(s, NOW, id, csrf, &exp), 0);
	request(&req, buf, sizeof(buf), "GET", "");
	assert_int_equal(session_authorize(s, &req, NOW), SESSION_AUTH_NONE);
	snprintf(hdr, sizeof(hdr), "Cookie: a=b; " SESSION_COOKIE "=%s\r\n", id);
	request(&req, buf, sizeof(buf), "GET", hdr);
	assert_int_equal(session_authorize(s, &req, NOW), SESSION_AUTH_OK);
	request(&req, buf, sizeof(buf), "DELETE", hdr);
	assert_int_equal(session_authorize(s, &req, NOW), SESSION_AUTH_CSRF);
	snprintf(hdr, sizeof(hdr), "Cookie: " SESSION_COOKIE "=%s\r\nX-CSRF-Token: %.63s0\r\n", id, csrf);
	if (csrf[63] == '0')
		hdr[strlen(hdr) - 3] = '1';
	request(&req, buf, sizeof(buf), "POST", hdr);
	assert_int_equal(session_authorize(s, &req, NOW), SESSION_AUTH_CSRF);
	snprintf(hdr, sizeof(hdr), "Cookie: " SESSION_COOKIE "=%s\r\nX-CSRF-Token: %s\r\n", id, csrf);
	request(&req, buf, sizeof(buf), "POST", hdr);
	assert_int_equal(session_authorize(s, &req, NOW), SESSION_AUTH_OK);
	/* The token alone, without the cookie, is nothing. */
	snprintf(hdr, sizeof(hdr), "X-CSRF-Token: %s\r\n", csrf);
	request(&req, buf, sizeof(buf), "POST", hdr);
	assert_int_equal(session_authorize(s, &req, NOW), SESSION_AUTH_NONE);
	/* Expired: the cookie is nothing any more. */
	snprintf(hdr, sizeof(hdr), "Cookie: " SESSION_COOKIE "=%s\r\n", id);
	request(&req, buf, sizeof(buf), "GET", hdr);
	assert_int_equal(session_authorize(s, &req, NOW + SESSION_TTL_S - 1), SESSION_AUTH_OK);
	assert_int_equal(session_authorize(s, &req, NOW + SESSION_TTL_S), SESSION_AUTH_NONE);
	assert_int_equal(session_authorize(s, &req, NOW), SESSION_AUTH_NONE);
	sessions_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_lookup_end),
		cmocka_unit_test(test_end_and_room),
		cmocka_unit_test(test_cookie_get),
		cmocka_unit_test(test_authorize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
