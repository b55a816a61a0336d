/* test_ec2xml.c — the EC2 answer reader: real-shaped answers decode, every
 * kind of malformed or hostile document is refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"
#include "tower/providers/ec2xml.h"

static char corpus[PATH_MAX];

static char *corpus_file(const char *name, size_t *len)
{
	char path[PATH_MAX * 2];
	char *text;

	snprintf(path, sizeof(path), "%s/%s", corpus, name);
	text = util_read_file(path, 1 << 20, len);
	if (text == NULL)
		fail_msg("cannot read %s", path);
	return text;
}

static void test_run_instances(void **state)
{
	size_t len;
	char *body = corpus_file("run_instances.xml", &len), err[128] = "";
	struct ec2_instance in;

	assert_int_equal(ec2xml_run_instances(body, len, &in, err, sizeof(err)), 0);
	assert_string_equal(in.id, "i-1234567890abcdef0");
	assert_string_equal(in.state, "pending");
	assert_string_equal(in.private_ip, "10.0.0.12");
	/* The same bytes are no DescribeInstancesResponse. */
	assert_int_equal(ec2xml_describe_instance(body, len, in.id, &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "DescribeInstancesResponse"));
	free(body);
}

static void test_describe_and_terminate(void **state)
{
	size_t len;
	char *body = corpus_file("describe_instances.xml", &len), err[128] = "";
	struct ec2_instance in;

	assert_int_equal(ec2xml_describe_instance(body, len, "i-1234567890abcdef0", &in, err,
						  sizeof(err)), 1);
	assert_string_equal(in.state, "running");
	assert_string_equal(in.private_ip, "10.0.0.12");
	assert_int_equal(ec2xml_describe_instance(body, len, "i-0000000000000000a", &in, err,
						  sizeof(err)), 0);
	free(body);
	body = corpus_file("terminate_instances.xml", &len);
	assert_int_equal(ec2xml_terminate_instance(body, len, "i-1234567890abcdef0", &in, err,
						   sizeof(err)), 1);
	assert_string_equal(in.state, "shutting-down");
	free(body);
}

static void test_error(void **state)
{
	size_t len;
	char *body = corpus_file("error.xml", &len);
	struct ec2_error e;
	const char *multi = "<Response><Errors><Error><Code>Bad Code!\n</Code>"
			    "<Message>line one\nline\ttwo</Message></Error></Errors></Response>";
	const char *query_style = "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate "
				  "exceeded</Message></Error><RequestId>abc</RequestId></ErrorResponse>";

	assert_int_equal(ec2xml_error(body, len, NULL, &e), 0);
	assert_string_equal(e.code, "InvalidInstanceID.NotFound");
	assert_string_equal(e.message, "The instance ID 'i-1a2b3c4d' does not exist");
	assert_string_equal(e.request_id, "ea966190-f9aa-478e-9ede-example");
	free(body);
	/* Codes keep only identifier characters, messages stay on one line. */
	assert_int_equal(ec2xml_error(multi, strlen(multi), NULL, &e), 0);
	assert_string_equal(e.code, "BadCode");
	assert_string_equal(e.message, "line one line two");
	assert_int_equal(ec2xml_error(query_style, strlen(query_style), NULL, &e), 0);
	assert_string_equal(e.code, "Throttling");
	/* Not an error document. */
	assert_int_equal(ec2xml_error("<a/>", 4, NULL, &e), -1);
	assert_int_equal(ec2xml_error("<Response><Errors><Error><Message>x</Message></Error>"
				      "</Errors></Response>", 74, NULL, &e), -1);
	assert_int_equal(ec2xml_error("not xml", 7, NULL, &e), -1);
}

static void test_long_message_is_cut(void **state)
{
	char doc[4096], err[64];
	struct ec2_error e;
	size_t n = (size_t)snprintf(doc, sizeof(doc), "<Response><Errors><Error><Code>X</Code><Message>");

	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\xc3\xa9"); /* é, 2 bytes */
	n += (size_t)snprintf(doc + n, sizeof(doc) - n, "</Message></Error></Errors></Response>");
	assert_int_equal(ec2xml_error(doc, n, NULL, &e), 0);
	assert_true(strlen(e.message) < sizeof(e.message));
	/* cut on a character boundary */
	assert_int_equal(strlen(e.message) % 2, 0);
	(void)err;
}

static void expect_bad(const char *doc, const char *want)
{
	char err[128] = "";
	struct ec2xml *x = ec2xml_parse(doc, strlen(doc), err, sizeof(err));

	if (x != NULL)
		fail_msg("accepted: %s", doc);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\" for %s", err, want, doc);
}

static void test_bad_documents(void **state)
{
	char deep[1024] = "", err[128];
	size_t n = 0;

	expect_bad("", "no root element");
	expect_bad("   ", "no root element");
	expect_bad("text", "text outside the root");
	expect_bad("<a>", "ends inside an element");
	expect_bad("<a></b>", "does not match");
	expect_bad("</a>", "without start tag");
	expect_bad("<a/><b/>", "second root");
	expect_bad("<a>&bogus;</a>", "unknown entity");
	expect_bad("<a>&#0;</a>", "character reference");
	expect_bad("<a>&#xD800;</a>", "character reference");
	expect_bad("<a>&#x110000;</a>", "character reference");
	expect_bad("<a>&#123456789;</a>", "character reference");
	expect_bad("<a>&#;</a>", "character reference");
	expect_bad("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "DTD");
	expect_bad("<a b></a>", "attribute without value");
	expect_bad("<a b=c></a>", "unquoted");
	expect_bad("<a b=\"c></a>", "attribute value");
	expect_bad("<a><![CDATA[x</a>", "CDATA");
	expect_bad("<a><!-- x </a>", "unterminated");
	expect_bad("< a/>", "element name");
	expect_bad("<a", "unterminated tag");
	for (int i = 0; i < EC2XML_MAX_DEPTH + 1; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "<d>");
	expect_bad(deep, "too deep");
	/* names longer than the reader keeps */
	expect_bad("<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/>",
		   "element name");
	/* the size cap is checked before reading */
	assert_null(ec2xml_parse("<a/>", EC2XML_MAX_INPUT + 1, err, sizeof(err)));
	assert_non_null(strstr(err, "limit"));
}

static void test_many_nodes(void **state)
{
	size_t size = 8 * (EC2XML_MAX_NODES + 10), n = 0;
	char *doc = malloc(size), err[128];
	struct ec2xml *x;

	n += (size_t)snprintf(doc + n, size - n, "<r>");
	for (int i = 0; i < EC2XML_MAX_NODES + 1; i++)
		n += (size_t)snprintf(doc + n, size - n, "<i/>");
	n += (size_t)snprintf(doc + n, size - n, "</r>");
	x = ec2xml_parse(doc, n, err, sizeof(err));
	assert_null(x);
	assert_non_null(strstr(err, "too many elements"));
	free(doc);
}

static void test_reader(void **state)
{
	const char *doc = "\xef\xbb\xbf<?xml version=\"1.0\"?><!-- c --><ns:r xmlns:ns=\"u\" a='1'>"
			  "<ns:x>a&lt;b&amp;&#65;&#x42;&#x20AC;<![CDATA[<raw>]]></ns:x>"
			  "<y/><x>second</x><y>t</y></ns:r>\n";
	char err[128];
	struct ec2xml *x = ec2xml_parse(doc, strlen(doc), err, sizeof(err));
	int a, b;

	assert_non_null(x);
	assert_string_equal(ec2xml_name(x, 0), "r");
	a = ec2xml_child(x, 0, "x");
	assert_string_equal(ec2xml_text(x, a), "a<b&AB\xe2\x82\xac<raw>");
	b = ec2xml_next(x, a);
	assert_string_equal(ec2xml_text(x, b), "second");
	assert_int_equal(ec2xml_next(x, b), -1);
	assert_string_equal(ec2xml_text(x, ec2xml_child(x, 0, "y")), "");
	assert_string_equal(ec2xml_text(x, 0), "");      /* not a leaf */
	assert_int_equal(ec2xml_path(x, 0, "x/none"), -1);
	assert_int_equal(ec2xml_child(x, 99, "x"), -1);
	assert_string_equal(ec2xml_text(x, -1), "");
	ec2xml_free(x);
}

static void test_bad_fields(void **state)
{
	char err[128];
	struct ec2_instance in;
	const char *bad_id = "<RunInstancesResponse><instancesSet><item><instanceId>i-XYZ</instanceId>"
			     "<instanceState><name>pending</name></instanceState></item></instancesSet>"
			     "</RunInstancesResponse>";
	const char *bad_state = "<RunInstancesResponse><instancesSet><item><instanceId>i-0a</instanceId>"
				"<instanceState><name>exploding</name></instanceState></item>"
				"</instancesSet></RunInstancesResponse>";
	const char *bad_ip = "<RunInstancesResponse><instancesSet><item><instanceId>i-0a</instanceId>"
			     "<instanceState><name>pending</name></instanceState><privateIpAddress>"
			     "10.0.0.300</privateIpAddress></item></instancesSet></RunInstancesResponse>";
	const char *two = "<RunInstancesResponse><instancesSet><item><instanceId>i-0a</instanceId>"
			  "<instanceState><name>pending</name></instanceState></item><item>"
			  "<instanceId>i-0b</instanceId><instanceState><name>pending</name>"
			  "</instanceState></item></instancesSet></RunInstancesResponse>";
	const char *none = "<RunInstancesResponse><instancesSet/></RunInstancesResponse>";

	assert_int_equal(ec2xml_run_instances(bad_id, strlen(bad_id), &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "instanceId"));
	assert_int_equal(ec2xml_run_instances(bad_state, strlen(bad_state), &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "state"));
	assert_int_equal(ec2xml_run_instances(bad_ip, strlen(bad_ip), &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "privateIpAddress"));
	assert_int_equal(ec2xml_run_instances(two, strlen(two), &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than one"));
	assert_int_equal(ec2xml_run_instances(none, strlen(none), &in, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "without an instance"));
	assert_int_equal(ec2xml_describe_instance("<DescribeInstancesResponse/>", 28, "i-0a", &in, err,
						  sizeof(err)), -1);
	assert_true(ec2xml_instance_id_ok("i-0123456789abcdef0"));
	assert_false(ec2xml_instance_id_ok("i-"));
	assert_false(ec2xml_instance_id_ok("i-0123456789ABCDEF0"));
	assert_false(ec2xml_instance_id_ok("x-01"));
	assert_false(ec2xml_instance_id_ok("i-0123456789abcdef0123456789abcdef0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_instances),   cmocka_unit_test(test_describe_and_terminate),
		cmocka_unit_test(test_error),           cmocka_unit_test(test_long_message_is_cut),
		cmocka_unit_test(test_bad_documents),   cmocka_unit_test(test_many_nodes),
		cmocka_unit_test(test_reader),          cmocka_unit_test(test_bad_fields),
	};
	const char *src = getenv("OC_SRC");

	if (src != NULL && *src != '\0') {
		snprintf(corpus, sizeof(corpus), "%s/tests/fuzz/corpus/fuzz_aws_xml", src);
	} else {
		snprintf(corpus, sizeof(corpus), "%s", __FILE__);
		*strrchr(corpus, '/') = '\0';
		strncat(corpus, "/../fuzz/corpus/fuzz_aws_xml", sizeof(corpus) - strlen(corpus) - 1);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
