/* test_sigv4.c — the SigV4 signer against AWS's Signature Version 4 test suite
 * (tests/unit/fixtures/sigv4, see its README), AWS's IAM worked example, and
 * the inputs it must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/util.h"
#include "tower/providers/sigv4.h"

#define SUITE_KEY_ID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define MAX_HEADERS 32

static char suite_dir[PATH_MAX];

static void find_suite(void)
{
	const char *src = getenv("OC_SRC");
	char here[PATH_MAX];

	if (src != NULL && *src != '\0') {
		snprintf(suite_dir, sizeof(suite_dir), "%s/tests/unit/fixtures/sigv4", src);
	} else {
		snprintf(here, sizeof(here), "%s", __FILE__);
		*strrchr(here, '/') = '\0';
		snprintf(suite_dir, sizeof(suite_dir), "%s/fixtures/sigv4", here);
	}
}

static char *read_case_file(const char *name, const char *ext, int missing_ok)
{
	char path[PATH_MAX * 2];
	size_t len;
	char *text;

	snprintf(path, sizeof(path), "%s/%s/%s.%s", suite_dir, name, name, ext);
	if (strcmp(ext, "sign-without") == 0)
		snprintf(path, sizeof(path), "%s/%s/sign-without", suite_dir, name);
	text = util_read_file(path, 1 << 20, &len);
	if (text == NULL && !missing_ok)
		fail_msg("cannot read %s", path);
	return text;
}

/* A .req file split in place: "METHOD URI HTTP/1.1", "Name:value" lines,
 * a blank line, the body. The URI may hold spaces (get-space). */
struct parsed_req {
	char *method, *path, *query;
	struct sigv4_header headers[MAX_HEADERS];
	size_t header_count;
	const char *body;
};

static void parse_req(char *text, struct parsed_req *r)
{
	char *line_end = strchr(text, '\n'), *sp, *proto, *q, *line;

	memset(r, 0, sizeof(*r));
	assert_non_null(line_end);
	*line_end = '\0';
	sp = strchr(text, ' ');
	proto = strrchr(text, ' ');
	assert_true(sp != NULL && proto != NULL && proto > sp);
	*sp = '\0';
	*proto = '\0';
	r->method = text;
	r->path = sp + 1;
	q = strchr(r->path, '?');
	if (q != NULL) {
		*q = '\0';
		r->query = q + 1;
	}
	r->body = "";
	for (line = line_end + 1; line != NULL && *line != '\0';) {
		char *next = strchr(line, '\n'), *colon;
		if (next != NULL)
			*next = '\0';
		if (*line == '\0') {
			r->body = next ? next + 1 : "";
			break;
		}
		colon = strchr(line, ':');
		assert_non_null(colon);
		*colon = '\0';
		assert_true(r->header_count < MAX_HEADERS);
		r->headers[r->header_count].name = line;
		r->headers[r->header_count].value = colon + 1;
		r->header_count++;
		line = next ? next + 1 : NULL;
	}
}

static int sign_parsed(const struct parsed_req *r, const char *without, struct sigv4_result *out)
{
	struct sigv4_scope scope = {SUITE_KEY_ID, SUITE_SECRET, "us-east-1", "service", SUITE_DATE};
	struct sigv4_header kept[MAX_HEADERS];
	struct sigv4_request req = {r->method, r->path, r->query, kept, 0, r->body, strlen(r->body)};
	char err[256] = "";
	int rc;

	for (size_t i = 0; i < r->header_count; i++) {
		if (without != NULL && strncasecmp(r->headers[i].name, without, strlen(r->headers[i].name)) == 0 &&
		    without[strlen(r->headers[i].name)] == '\n')
			continue;
		kept[req.header_count++] = r->headers[i];
	}
	rc = sigv4_sign(&scope, &req, out, err, sizeof(err));
	if (rc != 0)
		print_message("sign: %s\n", err);
	return rc;
}

static void run_case(const char *name)
{
	char *req_text = read_case_file(name, "req", 0), *creq = read_case_file(name, "creq", 0);
	char *sts = read_case_file(name, "sts", 0), *authz = read_case_file(name, "authz", 0);
	char *without = read_case_file(name, "sign-without", 1);
	struct parsed_req r;
	struct sigv4_result res;

	parse_req(req_text, &r);
	/* The canonical request signs every header of the .req ... */
	assert_int_equal(sign_parsed(&r, NULL, &res), 0);
	if (strcmp(res.canonical_request, creq) != 0)
		fail_msg("%s: canonical request\n--- got\n%s\n--- want\n%s", name, res.canonical_request,
			 creq);
	if (without == NULL) {
		assert_string_equal(res.string_to_sign, sts);
		assert_string_equal(res.authorization, authz);
	}
	sigv4_result_free(&res);
	/* ... and where the published suite signed fewer (see the README), the
	 * string to sign and the signature are checked with those left out. */
	if (without != NULL) {
		assert_int_equal(sign_parsed(&r, without, &res), 0);
		assert_string_equal(res.string_to_sign, sts);
		assert_string_equal(res.authorization, authz);
		sigv4_result_free(&res);
	}
	free(req_text);
	free(creq);
	free(sts);
	free(authz);
	free(without);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_suite(void **state)
{
	DIR *d = opendir(suite_dir);
	struct dirent *de;
	char *names[64];
	size_t count = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.') != NULL)
			continue;
		assert_true(count < 64);
		names[count++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, count, sizeof(names[0]), name_cmp);
	/* The README lists the cases; losing some silently would hollow the test. */
	assert_true(count >= 24);
	for (size_t i = 0; i < count; i++) {
		print_message("sigv4 case %s\n", names[i]);
		run_case(names[i]);
		free(names[i]);
	}
}

/* AWS's worked example in "Create a canonical request for Signature Version
 * 4" / "Calculate the signature": IAM ListUsers, GET with a query string. */
static void test_iam_example(void **state)
{
	const struct sigv4_header headers[] = {
		{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
		{"Host", "iam.amazonaws.com"},
		{"X-Amz-Date", SUITE_DATE},
	};
	struct sigv4_scope scope = {SUITE_KEY_ID, SUITE_SECRET, "us-east-1", "iam", SUITE_DATE};
	struct sigv4_request req = {"GET", "/", "Action=ListUsers&Version=2010-05-08", headers, 3, "", 0};
	struct sigv4_result res;
	char err[128], hash[65];

	assert_int_equal(sigv4_sign(&scope, &req, &res, err, sizeof(err)), 0);
	util_sha256_hex(res.canonical_request, strlen(res.canonical_request), hash);
	assert_string_equal(hash, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
	assert_non_null(strstr(res.authorization,
			       "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"));
	assert_non_null(strstr(res.authorization,
			       "Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
			       "SignedHeaders=content-type;host;x-amz-date, "));
	sigv4_result_free(&res);
}

static void expect_refused(const struct sigv4_scope *scope, const struct sigv4_request *req,
			   const char *want)
{
	struct sigv4_result res;
	char err[128] = "";

	assert_int_equal(sigv4_sign(scope, req, &res, err, sizeof(err)), -1);
	assert_null(res.authorization);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	/* No error message ever carries the secret. */
	assert_null(strstr(err, SUITE_SECRET));
}

static void test_refusals(void **state)
{
	struct sigv4_header h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE}};
	struct sigv4_header crlf[] = {{"Host", "example.amazonaws.com\r\nX-Evil: 1"}};
	struct sigv4_header badname[] = {{"Bad Name", "x"}};
	struct sigv4_header empty[] = {{"", "x"}};
	struct sigv4_scope ok = {SUITE_KEY_ID, SUITE_SECRET, "us-east-1", "service", SUITE_DATE};
	struct sigv4_scope s;
	struct sigv4_request req = {"GET", "/", NULL, h, 2, "", 0};
	struct sigv4_request r2;

	s = ok;
	s.amz_date = "2015-08-30T12:36:00Z";
	expect_refused(&s, &req, "x-amz-date");
	s.amz_date = "20150830T123600";
	expect_refused(&s, &req, "x-amz-date");
	s = ok;
	s.region = "us/east";
	expect_refused(&s, &req, "region");
	s = ok;
	s.secret_access_key = "";
	expect_refused(&s, &req, "credentials");
	s = ok;
	s.access_key_id = "AKID/x";
	expect_refused(&s, &req, "credentials");
	r2 = req;
	r2.headers = crlf;
	r2.header_count = 1;
	expect_refused(&ok, &r2, "line break");
	r2.headers = badname;
	expect_refused(&ok, &r2, "header name");
	r2.headers = empty;
	expect_refused(&ok, &r2, "header name");
	r2 = req;
	r2.header_count = 0;
	expect_refused(&ok, &r2, "headers");
	r2 = req;
	r2.path = "example";
	expect_refused(&ok, &r2, "path");
	r2 = req;
	r2.method = "GET /x";
	expect_refused(&ok, &r2, "method");
}

/* Equal inputs sign equally; any change of a signed part changes the
 * signature (what the fake EC2 relies on to reject tampering). */
static void test_signature_binds_everything(void **state)
{
	struct sigv4_header h[] = {{"Host", "127.0.0.1:8443"},
				   {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
				   {"X-Amz-Date", SUITE_DATE},
				   {"X-Amz-Security-Token", "tok"}};
	struct sigv4_scope scope = {SUITE_KEY_ID, SUITE_SECRET, "eu-west-1", "ec2", SUITE_DATE};
	const char *body = "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123";
	struct sigv4_request req = {"POST", "/", NULL, h, 4, body, strlen(body)};
	struct sigv4_result a, b;
	char err[64];

	assert_int_equal(sigv4_sign(&scope, &req, &a, err, sizeof(err)), 0);
	assert_int_equal(sigv4_sign(&scope, &req, &b, err, sizeof(err)), 0);
	assert_string_equal(a.authorization, b.authorization);
	assert_non_null(strstr(a.authorization, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"));
	assert_null(strstr(a.canonical_request, SUITE_SECRET));
	sigv4_result_free(&b);

	req.payload_len--;
	assert_int_equal(sigv4_sign(&scope, &req, &b, err, sizeof(err)), 0);
	assert_string_not_equal(a.authorization, b.authorization);
	sigv4_result_free(&b);
	req.payload_len++;
	h[3].value = "other";
	assert_int_equal(sigv4_sign(&scope, &req, &b, err, sizeof(err)), 0);
	assert_string_not_equal(a.authorization, b.authorization);
	sigv4_result_free(&b);
	h[3].value = "tok";
	scope.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz";
	assert_int_equal(sigv4_sign(&scope, &req, &b, err, sizeof(err)), 0);
	assert_string_not_equal(a.authorization, b.authorization);
	sigv4_result_free(&b);
	sigv4_result_free(&a);
}

static void test_helpers(void **state)
{
	char date[SIGV4_AMZ_DATE_LEN + 1];
	char *e;

	sigv4_amz_date(1440938160, date);
	assert_string_equal(date, SUITE_DATE);
	e = sigv4_uri_encode("a b/c~d*\xe1\x88\xb4", 11, false);
	assert_string_equal(e, "a%20b%2Fc~d%2A%E1%88%B4");
	free(e);
	e = sigv4_uri_encode("/a b/", 5, true);
	assert_string_equal(e, "/a%20b/");
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suite),
		cmocka_unit_test(test_iam_example),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_signature_binds_everything),
		cmocka_unit_test(test_helpers),
	};

	find_suite();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
