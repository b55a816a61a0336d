/* test_http.c — the HTTP request parser against valid, pipelined, trickled and
 * hostile input (one test per rejection), and the exact response bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "tower/api/http.h"

#define MAX_BODY 4096

/* Parse buffer: writable, outlives each parse so req's pointers stay valid. */
static char buf[4 * HTTP_MAX_HEADER_BYTES];

struct result {
	enum http_parse_status rc;
	struct http_request req;
	size_t consumed;
	int status;
	char err[128];
};

static struct result *parse_len(const char *text, size_t len)
{
	static struct result r;

	assert_true(len <= sizeof(buf));
	memcpy(buf, text, len);
	memset(&r, 0, sizeof(r));
	r.consumed = (size_t)-1;
	r.rc = http_parse_request(buf, len, MAX_BODY, &r.req, &r.consumed, &r.status,
				  r.err, sizeof(r.err));
	return &r;
}

static struct result *parse(const char *text)
{
	return parse_len(text, strlen(text));
}

static void expect_error(const char *text, int status)
{
	struct result *r = parse(text);

	if (r->rc != HTTP_PARSE_ERROR || r->status != status)
		fail_msg("expected %d for %s, got rc %d status %d", status, text, r->rc,
			 r->status);
	assert_true(r->err[0] != '\0');
}

static void expect_ok(const char *text)
{
	struct result *r = parse(text);

	if (r->rc != HTTP_PARSE_OK)
		fail_msg("expected OK for %s, got rc %d status %d (%s)", text, r->rc,
			 r->status, r->err);
}

/* Builds "GET <path> HTTP/1.1\r\n\r\n" with a path of n bytes. */
static char *request_with_path(size_t n, const char *prefix)
{
	char *s = malloc(n + 64);
	size_t off;

	assert_non_null(s);
	off = (size_t)sprintf(s, "GET %s", prefix);
	while (off < 4 + n)
		s[off++] = 'a';
	strcpy(s + off, " HTTP/1.1\r\n\r\n");
	return s;
}

static char *evbuffer_text(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	assert_non_null(s);
	assert_int_equal(evbuffer_copyout(b, s, n), (ev_ssize_t)n);
	s[n] = '\0';
	return s;
}

/* ---- valid requests ---- */

static void test_get(void **state)
{
	const char *text = "GET /v1/nodes HTTP/1.1\r\nHost: tower:6125\r\n"
			   "Authorization: Bearer abc.def\r\nAccept: */*\r\n\r\n";
	struct result *r = parse(text);

	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(r->req.method, "GET");
	assert_string_equal(r->req.path, "/v1/nodes");
	assert_string_equal(r->req.query, "");
	assert_int_equal(r->req.header_count, 3);
	assert_string_equal(http_header_get(&r->req, "Authorization"), "Bearer abc.def");
	assert_null(r->req.body);
	assert_int_equal(r->req.body_len, 0);
	assert_true(r->req.keep_alive);
	assert_int_equal(r->consumed, strlen(text));
}

static void test_post_body(void **state)
{
	const char *body = "{\"role\":\"worker\",\"ttl\":\"1h\"}";
	char text[512];
	struct result *r;

	snprintf(text, sizeof(text), "POST /v1/tokens HTTP/1.1\r\nHost: t\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	r = parse(text);
	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(r->req.method, "POST");
	assert_string_equal(r->req.path, "/v1/tokens");
	assert_int_equal(r->req.body_len, strlen(body));
	assert_memory_equal(r->req.body, body, strlen(body));
	/* The body points into the caller's buffer, right after the headers. */
	assert_ptr_equal(r->req.body, (const uint8_t *)buf + strlen(text) - strlen(body));
	assert_int_equal(r->consumed, strlen(text));
}

static void test_delete_body(void **state)
{
	const char *text = "DELETE /overclouds HTTP/1.1\r\nContent-Length: 22\r\n\r\n"
			   "{\"overcloud_id\":\"oc1\"}";
	struct result *r = parse(text);

	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(r->req.method, "DELETE");
	assert_string_equal(r->req.path, "/overclouds");
	assert_int_equal(r->req.body_len, 22);
	assert_memory_equal(r->req.body, "{\"overcloud_id\":\"oc1\"}", 22);
	assert_int_equal(r->consumed, strlen(text));
}

static void test_post_without_length_has_empty_body(void **state)
{
	struct result *r = parse("POST /v1/tokens HTTP/1.1\r\nHost: t\r\n\r\n");

	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_null(r->req.body);
	assert_int_equal(r->req.body_len, 0);
}

static void test_body_waits_for_all_bytes(void **state)
{
	const char *text = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345";
	struct result *r = parse(text);

	assert_int_equal(r->rc, HTTP_PARSE_NEED_MORE);
	/* Nothing written into the buffer while waiting. */
	assert_memory_equal(buf, text, strlen(text));
}

static void test_query_split(void **state)
{
	struct result *r = parse("GET /v1/overclouds/oc1/logs?step=ceph%20mon&tail=100 HTTP/1.1\r\n\r\n");

	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(r->req.path, "/v1/overclouds/oc1/logs");
	assert_string_equal(r->req.query, "step=ceph%20mon&tail=100");

	r = parse("GET /metrics? HTTP/1.1\r\n\r\n");
	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(r->req.path, "/metrics");
	assert_string_equal(r->req.query, "");
}

static void test_percent_decoding(void **state)
{
	struct result *r = parse("GET /v1/a%20b/%41%2fc/%c3%a9 HTTP/1.1\r\n\r\n");

	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(r->req.path, "/v1/a b/A/c/\xc3\xa9");

	/* Dots that are not a whole ".." segment are fine. */
	r = parse("GET /a/..b/.../c.. HTTP/1.1\r\n\r\n");
	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(r->req.path, "/a/..b/.../c..");
}

static void test_bare_lf(void **state)
{
	const char *text = "POST /v1/tokens HTTP/1.1\nHost: t\nContent-Length: 2\n\n{}";
	struct result *r = parse(text);

	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(http_header_get(&r->req, "host"), "t");
	assert_int_equal(r->req.body_len, 2);
	assert_int_equal(r->consumed, strlen(text));
}

static void test_leading_empty_lines_skipped(void **state)
{
	const char *text = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
	struct result *r = parse(text);

	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_string_equal(r->req.path, "/");
	assert_int_equal(r->consumed, strlen(text));
}

static void test_keep_alive(void **state)
{
	static const struct {
		const char *text;
		bool keep_alive;
	} cases[] = {
		{"GET / HTTP/1.1\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nconnection:  Keep-Alive \r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result *r = parse(cases[i].text);

		assert_int_equal(r->rc, HTTP_PARSE_OK);
		if (r->req.keep_alive != cases[i].keep_alive)
			fail_msg("keep_alive %d for %s", r->req.keep_alive, cases[i].text);
	}
}

static void test_pipelined(void **state)
{
	const char *first = "GET /v1/nodes HTTP/1.1\r\nHost: t\r\n\r\n";
	const char *second = "POST /v1/overclouds HTTP/1.1\r\nHost: t\r\n"
			     "Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}";
	const char *third = "GET /metrics HTTP/1.1\r\n";
	char text[512];
	size_t len, off, consumed;
	struct http_request req;
	int status;
	char err[128];

	len = (size_t)snprintf(text, sizeof(text), "%s%s%s", first, second, third);
	memcpy(buf, text, len);

	assert_int_equal(http_parse_request(buf, len, MAX_BODY, &req, &consumed, &status,
					    err, sizeof(err)), HTTP_PARSE_OK);
	assert_string_equal(req.path, "/v1/nodes");
	assert_true(req.keep_alive);
	assert_int_equal(consumed, strlen(first));
	off = consumed;

	assert_int_equal(http_parse_request(buf + off, len - off, MAX_BODY, &req, &consumed,
					    &status, err, sizeof(err)), HTTP_PARSE_OK);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.path, "/v1/overclouds");
	assert_int_equal(req.body_len, 7);
	assert_memory_equal(req.body, "{\"a\":1}", 7);
	assert_false(req.keep_alive);
	assert_int_equal(consumed, strlen(second));
	off += consumed;

	/* The third has not finished arriving. */
	assert_int_equal(http_parse_request(buf + off, len - off, MAX_BODY, &req, &consumed,
					    &status, err, sizeof(err)), HTTP_PARSE_NEED_MORE);
}

/* Feeds text one byte more each time: NEED_MORE (buffer untouched) until the
 * whole request is there, then the same verdict as parsing it all at once. */
static void check_trickle(const char *text)
{
	size_t len = strlen(text), consumed = 0;
	struct result whole = *parse(text);
	char *tb = malloc(len + 1);
	struct http_request req;
	int status = 0;
	char err[128];
	enum http_parse_status rc = HTTP_PARSE_NEED_MORE;
	size_t n;

	assert_non_null(tb);
	memcpy(tb, text, len + 1);
	for (n = 0; n <= len; n++) {
		rc = http_parse_request(tb, n, MAX_BODY, &req, &consumed, &status, err,
					sizeof(err));
		if (rc != HTTP_PARSE_NEED_MORE)
			break;
		assert_memory_equal(tb, text, len);
	}
	assert_int_equal(rc, whole.rc);
	if (rc == HTTP_PARSE_ERROR) {
		assert_int_equal(status, whole.status);
		free(tb);
		return;
	}
	assert_int_equal(n, len);
	assert_int_equal(consumed, whole.consumed);
	assert_string_equal(req.method, whole.req.method);
	assert_string_equal(req.path, whole.req.path);
	assert_string_equal(req.query, whole.req.query);
	assert_int_equal(req.header_count, whole.req.header_count);
	for (size_t i = 0; i < req.header_count; i++) {
		assert_int_equal(req.headers[i].name - tb, whole.req.headers[i].name - buf);
		assert_string_equal(req.headers[i].name, whole.req.headers[i].name);
		assert_string_equal(req.headers[i].value, whole.req.headers[i].value);
	}
	assert_int_equal(req.body_len, whole.req.body_len);
	if (req.body_len)
		assert_memory_equal(req.body, whole.req.body, req.body_len);
	assert_int_equal(req.keep_alive, whole.req.keep_alive);
	free(tb);
}

static void test_incremental(void **state)
{
	check_trickle("POST /overclouds?x=1 HTTP/1.1\r\nHost: tower\r\n"
		      "Authorization: Bearer t0k\r\nContent-Type: application/json\r\n"
		      "Content-Length: 56\r\n\r\n"
		      "{\"provider\": \"local\", \"number\": \"3\", \"size\": \"m1.small\"}");
	check_trickle("GET /v1/overclouds/x/events HTTP/1.0\nConnection: keep-alive\n\n");
	/* Errors come out the same too. */
	check_trickle("GET /a HTTP/1.1\r\nX : y\r\n\r\n");
	check_trickle("GET /a HTTP/1.1\r\nContent-Length: 999999\r\n\r\n");
	check_trickle("GET /../etc/passwd HTTP/1.1\r\n\r\n");
}

static void test_header_lookup(void **state)
{
	struct result *r = parse("GET / HTTP/1.1\r\nX-Request-Id: \t abc 123 \t\r\n"
				 "Content-TYPE:application/json\r\nX-Empty:\r\n"
				 "X-Spaces:   \r\n\r\n");

	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_int_equal(r->req.header_count, 4);
	assert_string_equal(http_header_get(&r->req, "x-request-id"), "abc 123");
	assert_string_equal(http_header_get(&r->req, "X-REQUEST-ID"), "abc 123");
	assert_string_equal(http_header_get(&r->req, "content-type"), "application/json");
	assert_string_equal(http_header_get(&r->req, "x-empty"), "");
	assert_string_equal(http_header_get(&r->req, "x-spaces"), "");
	assert_string_equal(r->req.headers[1].name, "Content-TYPE");
	assert_null(http_header_get(&r->req, "x-request"));
	assert_null(http_header_get(&r->req, "authorization"));
}

/* ---- rejections ---- */

static void test_reject_malformed_method(void **state)
{
	expect_error("G@T / HTTP/1.1\r\n\r\n", 400);
	expect_error(" GET / HTTP/1.1\r\n\r\n", 400);
	expect_error("GET\r\n\r\n", 400);
}

static void test_reject_unknown_method(void **state)
{
	expect_error("PROPPATCH / HTTP/1.1\r\n\r\n", 501);
	expect_error("get / HTTP/1.1\r\n\r\n", 501);
	expect_ok("OPTIONS / HTTP/1.1\r\n\r\n");
}

static void test_reject_malformed_request_line(void **state)
{
	expect_error("GET  / HTTP/1.1\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1 \r\n\r\n", 400);
	expect_error("GET /\r\n\r\n", 400);
	expect_error("GET / HTTX/1.1\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1x\r\n\r\n", 400);
	expect_error("GET / HTTP/11\r\n\r\n", 400);
}

static void test_reject_version(void **state)
{
	expect_error("GET / HTTP/2.0\r\n\r\n", 505);
	expect_error("GET / HTTP/0.9\r\n\r\n", 505);
	expect_error("GET / HTTP/1.2\r\n\r\n", 505);
}

static void test_reject_target_not_origin_form(void **state)
{
	expect_error("GET http://tower/v1/nodes HTTP/1.1\r\n\r\n", 400);
	expect_error("OPTIONS * HTTP/1.1\r\n\r\n", 400);
	expect_error("GET ?a=b HTTP/1.1\r\n\r\n", 400);
}

static void test_reject_target_characters(void **state)
{
	expect_error("GET /a\tb HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a\x01 HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a\rb HTTP/1.1\r\n\r\n", 400);
}

static void test_reject_path_too_long(void **state)
{
	struct http_request req;
	char *ok = request_with_path(sizeof(req.path) - 1, "/");
	char *too_long = request_with_path(sizeof(req.path), "/");
	char text[4096];
	size_t off;

	expect_ok(ok);
	assert_int_equal(strlen(parse(ok)->req.path), sizeof(req.path) - 1);
	expect_error(too_long, 414);
	free(ok);
	free(too_long);

	/* The limit is on the decoded path: 1 + 3 * 1022 raw bytes decode to 1023. */
	off = (size_t)sprintf(text, "GET /");
	for (size_t i = 0; i < sizeof(req.path) - 2; i++)
		off += (size_t)sprintf(text + off, "%%41");
	strcpy(text + off, " HTTP/1.1\r\n\r\n");
	expect_ok(text);
	assert_int_equal(strlen(parse(text)->req.path), sizeof(req.path) - 1);
	strcpy(text + off, "%41 HTTP/1.1\r\n\r\n");
	expect_error(text, 414);
}

static void test_reject_query_too_long(void **state)
{
	struct http_request req;
	char text[4096];
	size_t q = sizeof(req.query) - 1;

	snprintf(text, sizeof(text), "GET /x?%0*d HTTP/1.1\r\n\r\n", (int)q, 0);
	expect_ok(text);
	assert_int_equal(strlen(parse(text)->req.query), q);
	snprintf(text, sizeof(text), "GET /x?%0*d HTTP/1.1\r\n\r\n", (int)q + 1, 0);
	expect_error(text, 414);
}

static void test_reject_percent_nul(void **state)
{
	expect_error("GET /a%00b HTTP/1.1\r\n\r\n", 400);
}

static void test_reject_percent_invalid(void **state)
{
	expect_error("GET /a%zzb HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a%4 HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a% HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a%4?x HTTP/1.1\r\n\r\n", 400);
}

static void test_reject_percent_control(void **state)
{
	expect_error("GET /a%0ab HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a%0D%0AX-Injected:%201 HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a%7f HTTP/1.1\r\n\r\n", 400);
}

static void test_reject_dotdot(void **state)
{
	expect_error("GET /v1/../etc/passwd HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /.. HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a/.. HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a/%2e%2e/b HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a/.%2E?x=1 HTTP/1.1\r\n\r\n", 400);
	expect_error("GET /a%2f..%2fb HTTP/1.1\r\n\r\n", 400);
}

static void test_reject_space_before_colon(void **state)
{
	expect_error("GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nX Y: t\r\n\r\n", 400);
}

static void test_reject_malformed_header(void **state)
{
	expect_error("GET / HTTP/1.1\r\nNoColonHere\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n: no-name\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nX(y): z\r\n\r\n", 400);
}

static void test_reject_obs_fold(void **state)
{
	expect_error("GET / HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nX-A: one\r\n\ttwo\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n Host: t\r\n\r\n", 400);
}

static void test_reject_header_control_chars(void **state)
{
	expect_error("GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", 400);
	assert_int_equal(parse_len("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n",
				   sizeof("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n") - 1)->status,
			 400);
	/* A lone CR inside a line is not a line ending. */
	expect_error("GET / HTTP/1.1\r\nX-A: a\rX-B: b\r\n\r\n", 400);
}

static void test_reject_too_many_headers(void **state)
{
	char text[8192];
	size_t off = (size_t)sprintf(text, "GET / HTTP/1.1\r\n");

	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		off += (size_t)sprintf(text + off, "X-H%d: %d\r\n", i, i);
	strcpy(text + off, "\r\n");
	expect_ok(text);
	assert_int_equal(parse(text)->req.header_count, HTTP_MAX_HEADERS);

	off += (size_t)sprintf(text + off, "X-One-More: 1\r\n");
	strcpy(text + off, "\r\n");
	expect_error(text, 431);
}

static void test_reject_header_bytes(void **state)
{
	static char text[2 * HTTP_MAX_HEADER_BYTES];
	const char *start = "GET / HTTP/1.1\r\nX-Big: ";
	size_t off = strlen(start), fill;
	struct result *r;

	/* Exactly at the limit, terminator included: fine. */
	fill = HTTP_MAX_HEADER_BYTES - off - 4;
	memcpy(text, start, off);
	memset(text + off, 'a', fill);
	memcpy(text + off + fill, "\r\n\r\n", 5);
	r = parse(text);
	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_int_equal(r->consumed, HTTP_MAX_HEADER_BYTES);

	/* One byte more. */
	memset(text + off, 'a', fill + 1);
	memcpy(text + off + fill + 1, "\r\n\r\n", 5);
	expect_error(text, 431);

	/* Slow loris: endless headers with no terminator yet. */
	off = (size_t)sprintf(text, "GET / HTTP/1.1\r\n");
	for (int i = 0; off < HTTP_MAX_HEADER_BYTES; i++)
		off += (size_t)sprintf(text + off, "X-%d: %0400d\r\n", i, i);
	r = parse_len(text, HTTP_MAX_HEADER_BYTES - 1);
	assert_int_equal(r->rc, HTTP_PARSE_NEED_MORE);
	r = parse_len(text, HTTP_MAX_HEADER_BYTES);
	assert_int_equal(r->rc, HTTP_PARSE_ERROR);
	assert_int_equal(r->status, 431);

	/* A request line that never ends. */
	memcpy(text, "GET /", 5);
	memset(text + 5, 'a', HTTP_MAX_HEADER_BYTES);
	r = parse_len(text, HTTP_MAX_HEADER_BYTES + 5);
	assert_int_equal(r->rc, HTTP_PARSE_ERROR);
	assert_int_equal(r->status, 431);
}

static void test_reject_content_length_syntax(void **state)
{
	expect_error("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	expect_error("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400);
	expect_error("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
	expect_error("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400);
	expect_error("POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n", 400);
	expect_error("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
}

static void test_reject_content_length_conflict(void **state)
{
	struct result *r;

	expect_error("POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 3\r\n\r\nabc",
		     400);
	r = parse("POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 02\r\n\r\nab");
	assert_int_equal(r->rc, HTTP_PARSE_OK);
	assert_int_equal(r->req.body_len, 2);
}

static void test_reject_body_too_large(void **state)
{
	char text[256];
	struct result *r;

	/* Refused before any of the body has arrived. */
	snprintf(text, sizeof(text), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		 MAX_BODY + 1);
	expect_error(text, 413);
	expect_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
		     413);

	snprintf(text, sizeof(text), "POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		 MAX_BODY);
	r = parse(text);
	assert_int_equal(r->rc, HTTP_PARSE_NEED_MORE);
}

static void test_reject_transfer_encoding(void **state)
{
	expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501);
	expect_error("POST / HTTP/1.1\r\nContent-Length: 3\r\ntransfer-encoding: identity\r\n\r\nabc",
		     501);
}

static void test_reject_bare_cr(void **state)
{
	expect_error("GET / HTTP/1.1\r\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nHost: t\r\n\r\r\n", 400);
}

/* ---- responses ---- */

static void test_write_response_exact(void **state)
{
	struct evbuffer *out = evbuffer_new();
	char *s;

	assert_int_equal(http_write_response(out, 200, "application/json", "{}", 2, true), 0);
	s = evbuffer_text(out);
	assert_string_equal(s, "HTTP/1.1 200 OK\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: 2\r\n"
			       "Connection: keep-alive\r\n"
			       "Cache-Control: no-store\r\n"
			       "\r\n{}");
	free(s);
	evbuffer_drain(out, evbuffer_get_length(out));

	assert_int_equal(http_write_response(out, 404, "text/plain", NULL, 0, false), 0);
	s = evbuffer_text(out);
	assert_string_equal(s, "HTTP/1.1 404 Not Found\r\n"
			       "Content-Type: text/plain\r\n"
			       "Content-Length: 0\r\n"
			       "Connection: close\r\n"
			       "Cache-Control: no-store\r\n\r\n");
	free(s);
	evbuffer_drain(out, evbuffer_get_length(out));

	/* No header injection through the content type. */
	assert_int_equal(http_write_response(out, 200, "text/plain\r\nX-Evil: 1", "x", 1,
					     true), -1);
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);
}

/* Splits a response into its header block and a parsed JSON body, checking
 * Content-Length against the real body size. */
static json_t *error_body(struct evbuffer *out, int status, char **headers)
{
	char *s = evbuffer_text(out);
	char *sep = strstr(s, "\r\n\r\n");
	char line[64];
	const char *cl;
	json_error_t jerr;
	json_t *j;

	assert_non_null(sep);
	sep[2] = '\0';
	snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
	assert_memory_equal(s, line, strlen(line));
	assert_non_null(strstr(s, "Content-Type: application/json\r\n"));
	cl = strstr(s, "Content-Length: ");
	assert_non_null(cl);
	assert_int_equal(strtoul(cl + 16, NULL, 10), strlen(sep + 4));
	j = json_loads(sep + 4, 0, &jerr);
	if (!j)
		fail_msg("error body is not JSON: %s: %s", jerr.text, sep + 4);
	*headers = s;
	return j;
}

/* A file body's head: the length of the file, no body bytes after it. */
static void test_write_head(void **state)
{
	struct evbuffer *out = evbuffer_new();
	char *s;

	assert_int_equal(http_write_head(out, 200, "application/octet-stream", "X-Checksum-Sha256",
					 "abc", 2113632ull, true), 0);
	s = evbuffer_text(out);
	assert_non_null(strstr(s, "Content-Length: 2113632\r\n"));
	assert_non_null(strstr(s, "X-Checksum-Sha256: abc\r\n"));
	assert_non_null(strstr(s, "Connection: keep-alive\r\n"));
	assert_int_equal(strcmp(s + strlen(s) - 4, "\r\n\r\n"), 0);
	free(s);
	/* A header without a value, or a value that would split the head. */
	assert_int_equal(http_write_head(out, 200, NULL, "X-A", NULL, 1, true), -1);
	assert_int_equal(http_write_head(out, 200, NULL, "X-A", "b\r\nX-Forged: 1", 1, true), -1);
	evbuffer_free(out);
}

static void test_write_error_json(void **state)
{
	struct evbuffer *out = evbuffer_new();
	char *headers;
	json_t *j;

	assert_int_equal(http_write_error(out, 404, "not found", "no overcloud \"oc9\"",
					  true), 0);
	j = error_body(out, 404, &headers);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "not found");
	assert_string_equal(json_string_value(json_object_get(j, "detail")),
			    "no overcloud \"oc9\"");
	assert_non_null(strstr(headers, "Connection: keep-alive\r\n"));
	json_decref(j);
	free(headers);
	evbuffer_drain(out, evbuffer_get_length(out));

	assert_int_equal(http_write_error(out, 400, "bad request", NULL, false), 0);
	j = error_body(out, 400, &headers);
	assert_string_equal(json_string_value(json_object_get(j, "error")), "bad request");
	assert_true(json_is_null(json_object_get(j, "detail")));
	assert_non_null(json_object_get(j, "detail"));
	assert_non_null(strstr(headers, "Connection: close\r\n"));
	json_decref(j);
	free(headers);
	evbuffer_free(out);
}

static void test_write_error_escaping(void **state)
{
	struct evbuffer *out = evbuffer_new();
	const char *msg = "quote \" back \\ slash / nl \n tab \t ctl \x01 del \x7f caf\xc3\xa9 \xf0\x9f\x98\x80";
	char *headers;
	json_t *j;

	assert_int_equal(http_write_error(out, 500, msg, "bad utf8 \xff\xc3 end \xed\xa0\x80 x",
					  true), 0);
	j = error_body(out, 500, &headers);
	assert_string_equal(json_string_value(json_object_get(j, "error")), msg);
	/* Invalid UTF-8 becomes U+FFFD rather than breaking the JSON. */
	assert_string_equal(json_string_value(json_object_get(j, "detail")),
			    "bad utf8 \xef\xbf\xbd\xef\xbf\xbd end "
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd x");
	json_decref(j);
	free(headers);
	evbuffer_free(out);
}

static void test_status_text(void **state)
{
	static const int codes[] = {200, 201, 202, 204, 400, 401, 403, 404, 405, 409,
				    411, 413, 414, 415, 429, 431, 500, 501, 503, 505};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_string_not_equal(http_status_text(codes[i]), "Unknown");
	assert_string_equal(http_status_text(200), "OK");
	assert_string_equal(http_status_text(202), "Accepted");
	assert_string_equal(http_status_text(404), "Not Found");
	assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_text(505), "HTTP Version Not Supported");
	assert_string_equal(http_status_text(299), "Unknown");
}

static void test_sse(void **state)
{
	struct evbuffer *out = evbuffer_new();
	char *s;

	assert_int_equal(http_write_sse_start(out), 0);
	s = evbuffer_text(out);
	assert_memory_equal(s, "HTTP/1.1 200 OK\r\n", 17);
	assert_non_null(strstr(s, "Content-Type: text/event-stream\r\n"));
	assert_non_null(strstr(s, "Cache-Control: no-store\r\n"));
	assert_null(strstr(s, "Content-Length"));
	assert_int_equal(strcmp(s + strlen(s) - 4, "\r\n\r\n"), 0);
	free(s);
	evbuffer_drain(out, evbuffer_get_length(out));

	assert_int_equal(http_write_sse_event(out, "step", "{\"step\":\"ceph\",\"state\":\"done\"}"),
			 0);
	s = evbuffer_text(out);
	assert_string_equal(s, "event: step\ndata: {\"step\":\"ceph\",\"state\":\"done\"}\n\n");
	free(s);
	evbuffer_drain(out, evbuffer_get_length(out));

	/* A newline in data would let it forge a second event. */
	assert_int_equal(http_write_sse_event(out, "step", "a\n\nevent: x\ndata: y"), -1);
	assert_int_equal(http_write_sse_event(out, "st\rep", "a"), -1);
	assert_int_equal(evbuffer_get_length(out), 0);
	evbuffer_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_post_body),
		cmocka_unit_test(test_delete_body),
		cmocka_unit_test(test_post_without_length_has_empty_body),
		cmocka_unit_test(test_body_waits_for_all_bytes),
		cmocka_unit_test(test_query_split),
		cmocka_unit_test(test_percent_decoding),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_leading_empty_lines_skipped),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_header_lookup),
		cmocka_unit_test(test_reject_malformed_method),
		cmocka_unit_test(test_reject_unknown_method),
		cmocka_unit_test(test_reject_malformed_request_line),
		cmocka_unit_test(test_reject_version),
		cmocka_unit_test(test_reject_target_not_origin_form),
		cmocka_unit_test(test_reject_target_characters),
		cmocka_unit_test(test_reject_path_too_long),
		cmocka_unit_test(test_reject_query_too_long),
		cmocka_unit_test(test_reject_percent_nul),
		cmocka_unit_test(test_reject_percent_invalid),
		cmocka_unit_test(test_reject_percent_control),
		cmocka_unit_test(test_reject_dotdot),
		cmocka_unit_test(test_reject_space_before_colon),
		cmocka_unit_test(test_reject_malformed_header),
		cmocka_unit_test(test_reject_obs_fold),
		cmocka_unit_test(test_reject_header_control_chars),
		cmocka_unit_test(test_reject_too_many_headers),
		cmocka_unit_test(test_reject_header_bytes),
		cmocka_unit_test(test_reject_content_length_syntax),
		cmocka_unit_test(test_reject_content_length_conflict),
		cmocka_unit_test(test_reject_body_too_large),
		cmocka_unit_test(test_reject_transfer_encoding),
		cmocka_unit_test(test_reject_bare_cr),
		cmocka_unit_test(test_write_response_exact),
		cmocka_unit_test(test_write_head),
		cmocka_unit_test(test_write_error_json),
		cmocka_unit_test(test_write_error_escaping),
		cmocka_unit_test(test_status_text),
		cmocka_unit_test(test_sse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
