/* test_provider_openstack.c — the openstack provider's parsers of cloud replies
 * (Keystone token + catalog, Nova servers and flavors, Glance, Neutron, error
 * bodies) with one test per rejection, and its settings (tower.conf, OS_*).
 *
 * Also a tool for tests/integration/test_provider_openstack.sh, which drives
 * the provider against the local fake cloud:
 *   test_provider_openstack tool CONF create OC NAME USERDATA [SIZE]
 *   test_provider_openstack tool CONF create-many OC PREFIX N USERDATA_DIR [SIZE]
 *       (N threads on one context; PREFIX-i takes USERDATA_DIR/PREFIX-i)
 *   test_provider_openstack tool CONF destroy OC HANDLE...
 * create prints "handle<TAB>address" per node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/config.h"
#include "tower/providers/openstack_parse.h"
#include "tower/providers/provider.h"

#define S(text) (text), strlen(text)

static const char *catalog_token =
	"{\"token\": {\"issued_at\": \"2030-01-02T03:04:05.123456Z\","
	" \"expires_at\": \"2030-01-02T04:04:05.000000Z\", \"methods\": [\"password\"],"
	" \"catalog\": ["
	"  {\"type\": \"identity\", \"endpoints\": [{\"interface\": \"public\","
	"    \"region_id\": \"RegionOne\", \"url\": \"https://k/v3\"}]},"
	"  {\"type\": \"compute\", \"name\": \"nova\", \"endpoints\": ["
	"    {\"interface\": \"internal\", \"region_id\": \"RegionOne\", \"url\": \"https://int/c\"},"
	"    {\"interface\": \"public\", \"region_id\": \"RegionTwo\", \"region\": \"RegionTwo\","
	"     \"url\": \"https://two/compute/v2.1\"},"
	"    {\"interface\": \"public\", \"region_id\": \"RegionOne\", \"region\": \"RegionOne\","
	"     \"url\": \"https://one/compute/v2.1/\"}]},"
	"  {\"type\": \"image\", \"endpoints\": [{\"interface\": \"public\", \"region\": \"RegionOne\","
	"    \"url\": \"https://one:9292\"}]},"
	"  {\"type\": \"network\", \"endpoints\": [{\"interface\": \"public\","
	"    \"region_id\": \"RegionOne\", \"url\": \"https://one:9696/\"}]},"
	"  {\"type\": \"compute\", \"endpoints\": [{\"interface\": \"public\","
	"    \"region_id\": \"RegionOne\", \"url\": \"https://second/compute\"}]}"
	"]}}";

/* ---- Keystone ---- */

static void test_token_catalog(void **state)
{
	struct osp_catalog cat;
	int64_t issued, expires;
	char err[256] = "";

	assert_int_equal(osp_parse_token(S(catalog_token), "RegionOne", "public", &issued,
					 &expires, &cat, err, sizeof(err)), 0);
	assert_int_equal(expires - issued, 3600);
	assert_int_equal(expires, 1893557045);   /* date -u -d 2030-01-02T04:04:05Z +%s */
	/* the region's public endpoint, not the first or the internal one;
	 * trailing '/' dropped; the first compute service wins over a second */
	assert_string_equal(cat.compute, "https://one/compute/v2.1");
	assert_string_equal(cat.image, "https://one:9292");
	assert_string_equal(cat.network, "https://one:9696");

	assert_int_equal(osp_parse_token(S(catalog_token), "RegionTwo", "public", &issued,
					 &expires, &cat, err, sizeof(err)), 0);
	assert_string_equal(cat.compute, "https://two/compute/v2.1");
	assert_string_equal(cat.image, "");
	assert_int_equal(osp_parse_token(S(catalog_token), "", "internal", &issued, &expires, &cat,
					 err, sizeof(err)), 0);
	assert_string_equal(cat.compute, "https://int/c");
	/* no region: the first public endpoint in any region */
	assert_int_equal(osp_parse_token(S(catalog_token), NULL, "public", &issued, &expires, &cat,
					 err, sizeof(err)), 0);
	assert_string_equal(cat.compute, "https://two/compute/v2.1");
}

static void expect_token_error(const char *body, const char *region, const char *want)
{
	struct osp_catalog cat;
	int64_t issued, expires;
	char err[256] = "";

	assert_int_equal(osp_parse_token(S(body), region, "public", &issued, &expires, &cat, err,
					 sizeof(err)), -1);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void test_token_rejects(void **state)
{
	char big[2048];

	expect_token_error("", NULL, "not JSON");
	expect_token_error("{\"token\": ", NULL, "not JSON");
	expect_token_error("[1, 2]", NULL, "not a JSON object");
	expect_token_error("{\"token\": {}, \"token\": {}}", NULL, "not JSON");   /* duplicate key */
	expect_token_error("{\"tokens\": {}}", NULL, "no \"token\" object");
	expect_token_error("{\"token\": \"abc\"}", NULL, "no \"token\" object");
	expect_token_error("{\"token\": {\"catalog\": []}}", NULL, "expires_at");
	expect_token_error("{\"token\": {\"expires_at\": 1700000000, \"catalog\": []}}", NULL,
			   "expires_at");
	expect_token_error("{\"token\": {\"expires_at\": \"tomorrow\", \"catalog\": []}}", NULL,
			   "expires_at");
	expect_token_error("{\"token\": {\"expires_at\": \"2030-01-01T00:00:00Z\"}}", NULL,
			   "no service catalog");
	expect_token_error("{\"token\": {\"expires_at\": \"2030-01-01T00:00:00Z\", \"catalog\": {}}}",
			   NULL, "no service catalog");
	expect_token_error("{\"token\": {\"expires_at\": \"2030-01-01T00:00:00Z\", \"catalog\": "
			   "[1, \"x\", {\"type\": 7}, {\"type\": \"compute\", \"endpoints\": 3}]}}",
			   NULL, "no compute endpoint");
	expect_token_error(catalog_token, "RegionNine", "no compute endpoint with interface public "
			   "in region RegionNine");
	expect_token_error("{\"token\": {\"expires_at\": \"2030-01-01T00:00:00Z\", \"catalog\": "
			   "[{\"type\": \"compute\", \"endpoints\": [{\"interface\": \"public\", "
			   "\"url\": \"ftp://x/\"}]}]}}", NULL, "not an http(s) URL");
	expect_token_error("{\"token\": {\"expires_at\": \"2030-01-01T00:00:00Z\", \"catalog\": "
			   "[{\"type\": \"compute\", \"endpoints\": [{\"interface\": \"public\", "
			   "\"url\": \"https://a b/\"}]}]}}", NULL, "not an http(s) URL");
	expect_token_error("{\"token\": {\"expires_at\": \"2030-01-01T00:00:00Z\", \"catalog\": "
			   "[{\"type\": \"compute\", \"endpoints\": [{\"interface\": \"public\", "
			   "\"url\": \"https://a/?x=1\"}]}]}}", NULL, "not an http(s) URL");
	snprintf(big, sizeof(big), "{\"token\": {\"expires_at\": \"2030-01-01T00:00:00Z\", "
		 "\"catalog\": [{\"type\": \"compute\", \"endpoints\": [{\"interface\": \"public\", "
		 "\"url\": \"https://%0600d\"}]}]}}", 0);
	expect_token_error(big, NULL, "not an http(s) URL");
}

static void test_time(void **state)
{
	int64_t t;

	assert_int_equal(osp_parse_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(osp_parse_time("2015-11-09T01:42:57.527363Z", &t), 0);
	assert_int_equal(t, 1447033377);
	assert_int_equal(osp_parse_time("2015-11-09T03:42:57+02:00", &t), 0);
	assert_int_equal(t, 1447033377);
	assert_int_equal(osp_parse_time("2015-11-08T23:42:57.1-02:00", &t), 0);
	assert_int_equal(t, 1447033377);
	assert_int_equal(osp_parse_time("2015-11-09 01:42:57", &t), 0);   /* no zone: UTC */
	assert_int_equal(t, 1447033377);
	const char *bad[] = {
		"", "2015", "2015-11-09", "2015-11-09T01:42", "2015-13-09T01:42:57Z",
		"2015-11-32T01:42:57Z", "2015-11-09T24:00:00Z", "2015-11-09T01:60:00Z",
		"2015-11-09T01:42:57.Z", "2015-11-09T01:42:57Zjunk", "2015-11-09T01:42:57+2",
		"2015-11-09T01:42:57+25:00", "1969-12-31T23:59:59Z", "2015-11-09T01:42:57.1234567890123Z",
		"+015-11-09T01:42:57Z", "2015-11-09X01:42:57Z",
	};
	for (size_t i = 0; i < OC_ARRAY_LEN(bad); i++)
		if (osp_parse_time(bad[i], &t) == 0)
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_int_equal(osp_parse_time(NULL, &t), -1);
}

/* ---- Nova servers ---- */

static void test_server(void **state)
{
	struct osp_server s;
	char err[256] = "";
	const char *active =
		"{\"server\": {\"id\": \"2f8d5b2c-1a2b-4c3d-8e9f-0a1b2c3d4e5f\", \"status\": \"ACTIVE\","
		" \"metadata\": {\"overcloud_id\": \"oc-12ab\", \"overcloud_node\": \"n1\"},"
		" \"addresses\": {"
		"   \"other\": [{\"addr\": \"fd00::5\", \"version\": 6}, {\"addr\": \"192.168.9.9\","
		"               \"version\": 4, \"OS-EXT-IPS:type\": \"fixed\"}],"
		"   \"oc-net\": [{\"addr\": \"fd00::7\", \"version\": 6},"
		"                {\"addr\": \"203.0.113.9\", \"version\": 4, \"OS-EXT-IPS:type\": \"floating\"},"
		"                {\"addr\": \"10.20.0.5\", \"version\": 4, \"OS-EXT-IPS:type\": \"fixed\"}]}}}";

	assert_int_equal(osp_parse_server(S(active), "oc-net", &s, err, sizeof(err)), 0);
	assert_string_equal(s.id, "2f8d5b2c-1a2b-4c3d-8e9f-0a1b2c3d4e5f");
	assert_string_equal(s.status, "ACTIVE");
	assert_string_equal(s.address, "10.20.0.5");
	assert_string_equal(s.overcloud_id, "oc-12ab");
	assert_string_equal(s.fault, "");
	/* without a preferred network: some IPv4 rather than IPv6 */
	assert_int_equal(osp_parse_server(S(active), NULL, &s, err, sizeof(err)), 0);
	assert_true(strchr(s.address, ':') == NULL);

	assert_int_equal(osp_parse_server(S("{\"server\": {\"id\": \"abc\", \"status\": \"ERROR\","
					    " \"fault\": {\"code\": 500, \"message\": \"No valid host "
					    "was found.\\nThere are not enough hosts.\"},"
					    " \"addresses\": {\"n\": [{\"addr\": \"fd00::1\"},"
					    " {\"addr\": \"not-an-ip\"}, {\"addr\": 5}]}}}"),
					  "n", &s, err, sizeof(err)), 0);
	assert_string_equal(s.status, "ERROR");
	assert_string_equal(s.fault, "No valid host was found. There are not enough hosts.");
	assert_string_equal(s.address, "fd00::1");
	/* the reply to POST /servers: an id and little else */
	assert_int_equal(osp_parse_server(S("{\"server\": {\"id\": \"x-1\", \"adminPass\": \"pw\","
					    " \"links\": []}}"), NULL, &s, err, sizeof(err)), 0);
	assert_string_equal(s.id, "x-1");
	assert_string_equal(s.status, "");
	assert_string_equal(s.address, "");
	/* fault without a message, status null, metadata of odd types */
	assert_int_equal(osp_parse_server(S("{\"server\": {\"id\": \"x\", \"status\": null, "
					    "\"fault\": {\"code\": 503}, \"metadata\": {\"overcloud_id\""
					    ": 4}, \"addresses\": []}}"), NULL, &s, err, sizeof(err)), 0);
	assert_string_equal(s.fault, "fault code 503");
	assert_string_equal(s.overcloud_id, "");
}

static void expect_server_error(const char *body, const char *want)
{
	struct osp_server s;
	char err[256] = "";

	assert_int_equal(osp_parse_server(S(body), NULL, &s, err, sizeof(err)), -1);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void test_server_rejects(void **state)
{
	char big[400];

	expect_server_error("<html>", "not JSON");
	expect_server_error("null", "not JSON");   /* jansson: a bare null is not a document */
	expect_server_error("{\"servers\": []}", "no \"server\" object");
	expect_server_error("{\"server\": []}", "no \"server\" object");
	expect_server_error("{\"server\": {}}", "no string \"id\"");
	expect_server_error("{\"server\": {\"id\": 42}}", "no string \"id\"");
	expect_server_error("{\"server\": {\"id\": \"\"}}", "not a plain id");
	expect_server_error("{\"server\": {\"id\": \"../../admin\"}}", "not a plain id");
	expect_server_error("{\"server\": {\"id\": \"a b\"}}", "not a plain id");
	expect_server_error("{\"server\": {\"id\": \"a?x=1\"}}", "not a plain id");
	snprintf(big, sizeof(big), "{\"server\": {\"id\": \"%0200d\"}}", 0);
	expect_server_error(big, "not a plain id");
	expect_server_error("{\"server\": {\"id\": \"a\", \"status\": 1}}", "odd \"status\"");
	expect_server_error("{\"server\": {\"id\": \"a\", \"status\": \"active\"}}", "odd \"status\"");
	expect_server_error("{\"server\": {\"id\": \"a\", \"status\": \"\"}}", "odd \"status\"");
	expect_server_error("{\"server\": {\"id\": \"a\", \"status\": \"ACTIVE\\n\"}}",
			    "odd \"status\"");
}

static void test_find_server(void **state)
{
	char id[OSP_ID_MAX], err[256] = "";
	const char *list =
		"{\"servers\": ["
		" {\"id\": \"s1\", \"name\": \"oc-a-cluster-1\", \"metadata\": {\"overcloud_id\": \"oc-b\"}},"
		" {\"id\": \"s2\", \"name\": \"oc-a-cluster-10\", \"metadata\": {\"overcloud_id\": \"oc-a\"}},"
		" {\"id\": \"s3\", \"name\": \"oc-a-cluster-1\"},"
		" 7,"
		" {\"id\": \"s4\", \"name\": \"oc-a-cluster-1\", \"metadata\": {\"overcloud_id\": \"oc-a\"}}"
		"]}";

	assert_int_equal(osp_find_server(S(list), "oc-a-cluster-1", "oc-a", id, sizeof(id), err,
					 sizeof(err)), 1);
	assert_string_equal(id, "s4");
	assert_int_equal(osp_find_server(S(list), "oc-a-cluster-2", "oc-a", id, sizeof(id), err,
					 sizeof(err)), 0);
	assert_int_equal(osp_find_server(S("{\"servers\": []}"), "x", "y", id, sizeof(id), err,
					 sizeof(err)), 0);
	assert_int_equal(osp_find_server(S("{\"servers\": {}}"), "x", "y", id, sizeof(id), err,
					 sizeof(err)), -1);
	assert_int_equal(osp_find_server(S("{\"servers\": [{\"id\": \"a/b\", \"name\": \"x\", "
					   "\"metadata\": {\"overcloud_id\": \"y\"}}]}"), "x", "y", id,
					 sizeof(id), err, sizeof(err)), -1);
	assert_int_equal(osp_find_server(S("]"), "x", "y", id, sizeof(id), err, sizeof(err)), -1);
}

/* ---- flavors, images, networks ---- */

static void test_flavors(void **state)
{
	char id[OSP_ID_MAX], marker[OSP_ID_MAX], err[256] = "";
	const char *page =
		"{\"flavors\": [{\"id\": \"1\", \"name\": \"m1.tiny\"}, {\"id\": \"2\", \"name\": "
		"\"m1.small\"}, {\"id\": \"m1.tiny\", \"name\": \"confusing\"}],"
		" \"flavors_links\": [{\"rel\": \"next\", \"href\": "
		"\"https://n/v2.1/flavors/detail?limit=3&marker=m1.tiny\"}]}";

	assert_int_equal(osp_find_flavor(S(page), "m1.small", id, sizeof(id), marker,
					 sizeof(marker), err, sizeof(err)), 1);
	assert_string_equal(id, "2");
	assert_int_equal(osp_find_flavor(S(page), "2", id, sizeof(id), marker, sizeof(marker), err,
					 sizeof(err)), 1);
	assert_string_equal(id, "2");
	/* an id beats a name */
	assert_int_equal(osp_find_flavor(S(page), "m1.tiny", id, sizeof(id), marker,
					 sizeof(marker), err, sizeof(err)), 1);
	assert_string_equal(id, "m1.tiny");
	assert_int_equal(osp_find_flavor(S(page), "m1.huge", id, sizeof(id), marker,
					 sizeof(marker), err, sizeof(err)), 0);
	assert_string_equal(marker, "m1.tiny");
	/* the last page, an empty page, and next links that give no usable marker */
	const char *ends[] = {
		"{\"flavors\": [{\"id\": \"1\", \"name\": \"a\"}]}",
		"{\"flavors\": [], \"flavors_links\": [{\"rel\": \"next\", \"href\": \"https://n?marker=1\"}]}",
		"{\"flavors\": [{\"id\": \"1\"}], \"flavors_links\": [{\"rel\": \"next\", \"href\": \"https://n/x\"}]}",
		"{\"flavors\": [{\"id\": \"1\"}], \"flavors_links\": [{\"rel\": \"next\", \"href\": \"https://n?nomarker=1\"}]}",
		"{\"flavors\": [{\"id\": \"1\"}], \"flavors_links\": [{\"rel\": \"next\", \"href\": \"https://n?marker=\"}]}",
		"{\"flavors\": [{\"id\": \"1\"}], \"flavors_links\": [{\"rel\": \"next\", \"href\": \"https://n?marker=a%2Fb\"}]}",
		"{\"flavors\": [{\"id\": \"1\"}], \"flavors_links\": [{\"rel\": \"prev\", \"href\": \"https://n?marker=1\"}]}",
		"{\"flavors\": [{\"id\": \"1\"}], \"flavors_links\": \"next\"}",
	};
	for (size_t i = 0; i < OC_ARRAY_LEN(ends); i++) {
		assert_int_equal(osp_find_flavor(S(ends[i]), "zz", id, sizeof(id), marker,
						 sizeof(marker), err, sizeof(err)), 0);
		if (marker[0] != '\0')
			fail_msg("case %zu gave marker \"%s\"", i, marker);
	}
	assert_int_equal(osp_find_flavor(S("{\"flavor\": []}"), "a", id, sizeof(id), marker,
					 sizeof(marker), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no \"flavors\" array"));
	assert_int_equal(osp_find_flavor(S("{\"flavors\": [{\"id\": \"a b\", \"name\": \"x\"}]}"),
					 "x", id, sizeof(id), marker, sizeof(marker), err,
					 sizeof(err)), -1);
	assert_int_equal(osp_find_flavor(S("{\"flavors\": [{\"name\": \"x\"}]}"), "x", id,
					 sizeof(id), marker, sizeof(marker), err, sizeof(err)), -1);
}

static void test_named(void **state)
{
	char id[OSP_ID_MAX], err[256] = "";
	const char *images =
		"{\"images\": [{\"id\": \"i1\", \"name\": \"debian\", \"status\": \"active\"},"
		" {\"id\": \"i2\", \"name\": \"debian\", \"status\": \"deactivated\"},"
		" {\"id\": \"i3\", \"name\": \"twin\", \"status\": \"active\"},"
		" {\"id\": \"i4\", \"name\": \"twin\", \"status\": \"active\"},"
		" {\"id\": \"i5\", \"name\": null, \"status\": \"active\"}, 3]}";

	assert_int_equal(osp_find_named(S(images), "images", "debian", id, sizeof(id), err,
					sizeof(err)), 1);
	assert_string_equal(id, "i1");
	assert_int_equal(osp_find_named(S(images), "images", "i5", id, sizeof(id), err,
					sizeof(err)), 1);
	assert_string_equal(id, "i5");
	assert_int_equal(osp_find_named(S(images), "images", "i2", id, sizeof(id), err,
					sizeof(err)), 0);   /* not active */
	assert_int_equal(osp_find_named(S(images), "images", "nope", id, sizeof(id), err,
					sizeof(err)), 0);
	assert_int_equal(osp_find_named(S(images), "images", "twin", id, sizeof(id), err,
					sizeof(err)), -1);
	assert_non_null(strstr(err, "2 images match \"twin\": give the id"));
	/* networks have no "active" rule here */
	assert_int_equal(osp_find_named(S("{\"networks\": [{\"id\": \"n1\", \"name\": \"oc-net\", "
					  "\"status\": \"DOWN\"}]}"), "networks", "oc-net", id,
					sizeof(id), err, sizeof(err)), 1);
	assert_string_equal(id, "n1");
	assert_int_equal(osp_find_named(S("{\"networks\": 1}"), "networks", "x", id, sizeof(id),
					err, sizeof(err)), -1);
	assert_int_equal(osp_find_named(S("{\"networks\": [{\"name\": \"x\"}]}"), "networks", "x",
					id, sizeof(id), err, sizeof(err)), -1);
	assert_int_equal(osp_find_named(S("{\"networks\": [{\"id\": \"x;rm\", \"name\": \"x\"}]}"),
					"networks", "x", id, sizeof(id), err, sizeof(err)), -1);
	assert_int_equal(osp_find_named(S("x"), "networks", "x", id, sizeof(id), err, sizeof(err)),
			 -1);

	assert_int_equal(osp_parse_image(S("{\"id\": \"i1\", \"status\": \"active\"}"), id,
					 sizeof(id), err, sizeof(err)), 1);
	assert_int_equal(osp_parse_image(S("{\"id\": \"i1\", \"status\": \"queued\"}"), id,
					 sizeof(id), err, sizeof(err)), 0);
	assert_int_equal(osp_parse_image(S("{\"id\": \"i1\"}"), id, sizeof(id), err, sizeof(err)),
			 0);
	assert_int_equal(osp_parse_image(S("{\"image\": {\"id\": \"i1\"}}"), id, sizeof(id), err,
					 sizeof(err)), -1);
	assert_int_equal(osp_parse_image(S("404 Not Found"), id, sizeof(id), err, sizeof(err)), -1);
}

static void test_uuid(void **state)
{
	assert_true(osp_is_uuid("6f5a5c8e-3e3c-4d7e-9a0a-1c2b3d4e5f60"));
	assert_true(osp_is_uuid("6F5A5C8E-3E3C-4D7E-9A0A-1C2B3D4E5F60"));
	assert_false(osp_is_uuid("6f5a5c8e3e3c4d7e9a0a1c2b3d4e5f60"));
	assert_false(osp_is_uuid("6f5a5c8e-3e3c-4d7e-9a0a-1c2b3d4e5f6"));
	assert_false(osp_is_uuid("6f5a5c8e-3e3c-4d7e-9a0a-1c2b3d4e5f600"));
	assert_false(osp_is_uuid("6f5a5c8g-3e3c-4d7e-9a0a-1c2b3d4e5f60"));
	assert_false(osp_is_uuid(""));
	assert_false(osp_is_uuid("debian-12"));
}

/* ---- error bodies ---- */

static void expect_message(const char *body, const char *want)
{
	char out[OSP_MSG_MAX];

	osp_error_message(body, body ? strlen(body) : 0, NULL, out, sizeof(out));
	if (strcmp(out, want) != 0)
		fail_msg("message \"%s\", wanted \"%s\"", out, want);
}

static void test_error_message(void **state)
{
	char long_b64[200], body[400], out[16];

	expect_message("{\"forbidden\": {\"message\": \"Quota exceeded for instances: Requested 1, "
		       "but already used 2 of 2 instances\", \"code\": 403}}",
		       "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances");
	expect_message("{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": "
		       "\"The request you have made requires authentication.\"}}",
		       "The request you have made requires authentication.");
	expect_message("{\"NeutronError\": {\"type\": \"HTTPNotFound\", \"message\": \"Network x "
		       "could not be found.\", \"detail\": \"\"}}", "Network x could not be found.");
	expect_message("{\"message\": \"flat\"}", "flat");
	expect_message("\n\n404 Not Found\n\nThe resource could not be found.\n", "404 Not Found");
	expect_message("<html><body><h1>503 Service Unavailable</h1>\nNo server</body></html>",
		       "<html><body><h1>503 Service Unavailable</h1>");
	expect_message("", "");
	expect_message(NULL, "");
	expect_message("{\"badRequest\": {\"message\": 5}}", "{\"badRequest\": {\"message\": 5}}");
	expect_message("{\"a\": {\"message\": \"tab\\there\\u0001\"}}", "tab here ");
	/* a service that echoes what it got: user-data or a token never comes back */
	memset(long_b64, 'Q', 60);
	long_b64[60] = '\0';
	snprintf(body, sizeof(body), "{\"badRequest\": {\"message\": \"Invalid input for field/"
		 "attribute user_data. Value: %s. is not a 'base64'\", \"code\": 400}}", long_b64);
	expect_message(body, "Invalid input for field/attribute user_data. Value: [elided]. is not "
		       "a 'base64'");
	/* cut to the buffer */
	osp_error_message(S("{\"e\": {\"message\": \"0123456789abcdefghij\"}}"), NULL, out, sizeof(out));
	assert_string_equal(out, "0123456789abcde");
	osp_error_message(S("0123456789abcdefghij"), NULL, out, sizeof(out));
	assert_string_equal(out, "0123456789abcde");
}

static void test_scrub(void **state)
{
	char m[256];

	/* 39 base64 characters stay (ids, names), 40 go; UUIDs stay */
	snprintf(m, sizeof(m), "a %039d b", 0);
	osp_scrub(m);
	assert_int_equal(strlen(m), 43);
	snprintf(m, sizeof(m), "a %040d b", 0);
	osp_scrub(m);
	assert_string_equal(m, "a [elided] b");
	snprintf(m, sizeof(m), "server 6f5a5c8e-3e3c-4d7e-9a0a-1c2b3d4e5f60 x");
	osp_scrub(m);
	assert_string_equal(m, "server 6f5a5c8e-3e3c-4d7e-9a0a-1c2b3d4e5f60 x");
	snprintf(m, sizeof(m), "gAAAAABl_%060d-x==", 7);
	osp_scrub(m);
	assert_string_equal(m, "[elided]");
	snprintf(m, sizeof(m), "I2Nsb3Vk+%060d/x==", 7);
	osp_scrub(m);
	assert_string_equal(m, "[elided]");
	/* a URL path with an id: neither alphabet has a long run in it */
	snprintf(m, sizeof(m), "GET https://n:8774/v2.1/servers/6f5a5c8e-3e3c-4d7e-9a0a-1c2b3d4e5f60/"
		 "os-interface: timeout");
	osp_scrub(m);
	assert_string_equal(m, "GET https://n:8774/v2.1/servers/6f5a5c8e-3e3c-4d7e-9a0a-1c2b3d4e5f60/"
			    "os-interface: timeout");
	snprintf(m, sizeof(m), "\x01\x7f\ttoken\r\n");
	osp_scrub(m);
	assert_string_equal(m, "   token  ");
	m[0] = '\0';
	osp_scrub(m);
	assert_string_equal(m, "");
}

/* ---- the provider's settings ---- */

static void clear_env(void)
{
	const char *vars[] = {"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME",
			      "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_REGION_NAME",
			      "OS_CACERT", "OS_INTERFACE"};
	for (size_t i = 0; i < OC_ARRAY_LEN(vars); i++)
		unsetenv(vars[i]);
}

static void *open_with(const char *conf_text, char *err, size_t err_size)
{
	char cerr[256];
	struct config *cfg = config_parse("t.conf", conf_text, strlen(conf_text), cerr,
					  sizeof(cerr));
	struct provider_env env = {.state_dir = "/nonexistent", .config = cfg};
	const struct provider_ops *ops = provider_find("openstack");
	void *ctx;

	assert_non_null(cfg);
	ctx = ops->open(&env, err, err_size);
	config_free(cfg);   /* the provider keeps copies */
	return ctx;
}

static const char *good_conf =
	"[openstack]\n"
	"auth_url = https://127.0.0.1:1/identity\n"
	"username = u\n"
	"password = s3cret-Pa55\n"
	"project_name = p\n"
	"image = debian-12\n"
	"network = oc-net\n";

static void test_find_and_settings(void **state)
{
	const struct provider_ops *ops = provider_find("OpenStack");
	char err[512] = "", conf[1024];
	void *ctx;

	clear_env();
	assert_non_null(ops);
	assert_ptr_equal(ops, provider_find("openstack"));
	assert_ptr_equal(ops, provider_find("OPENSTACK"));
	assert_string_equal(ops->name, "openstack");
	assert_true(ops->wants_user_data);

	ctx = open_with(good_conf, err, sizeof(err));
	assert_non_null(ctx);
	ops->close(ctx);

	/* every required setting is named when missing */
	const char *keys[] = {"auth_url", "username", "password", "project_name", "image",
			      "network"};
	for (size_t i = 0; i < OC_ARRAY_LEN(keys); i++) {
		char *p = conf;
		const char *line = good_conf;
		/* good_conf without the line of keys[i] */
		while (*line) {
			const char *nl = strchr(line, '\n');
			size_t n = (size_t)(nl - line) + 1;
			if (strncmp(line, keys[i], strlen(keys[i])) != 0) {
				memcpy(p, line, n);
				p += n;
			}
			line += n;
		}
		*p = '\0';
		err[0] = '\0';
		assert_null(open_with(conf, err, sizeof(err)));
		if (strstr(err, keys[i]) == NULL)
			fail_msg("missing %s: error \"%s\"", keys[i], err);
		assert_null(strstr(err, "s3cret"));
	}
	/* ... unless the environment gives it: OS_* win over the file */
	snprintf(conf, sizeof(conf), "[openstack]\nimage = i\nnetwork = n\n");
	setenv("OS_AUTH_URL", "https://127.0.0.1:1/v3/", 1);
	setenv("OS_USERNAME", "u", 1);
	setenv("OS_PASSWORD", "pw", 1);
	setenv("OS_PROJECT_NAME", "p", 1);
	ctx = open_with(conf, err, sizeof(err));
	assert_non_null(ctx);
	ops->close(ctx);
	setenv("OS_AUTH_URL", "ftp://127.0.0.1/", 1);
	assert_null(open_with(good_conf, err, sizeof(err)));   /* env wins over the good file */
	assert_non_null(strstr(err, "auth_url must be an http(s) URL"));
	clear_env();

	const char *bad[][2] = {
		{"interface = private\n", "interface must be"},
		{"boot_timeout = soon\n", "boot_timeout"},
		{"boot_timeout = 0\n", "boot_timeout"},
		{"delete_timeout = 3d\n", "delete_timeout"},
		{"poll_interval_ms = 1\n", "poll_interval_ms"},
		{"auth_url = https://a b/\n", "auth_url"},
	};
	for (size_t i = 0; i < OC_ARRAY_LEN(bad); i++) {
		snprintf(conf, sizeof(conf), "%s%s", good_conf, bad[i][0]);
		err[0] = '\0';
		assert_null(open_with(conf, err, sizeof(err)));
		if (strstr(err, bad[i][1]) == NULL)
			fail_msg("%s: error \"%s\"", bad[i][0], err);
	}
	snprintf(conf, sizeof(conf), "%sinterface = internalURL\nboot_timeout = 5m\n", good_conf);
	ctx = open_with(conf, err, sizeof(err));
	assert_non_null(ctx);
	ops->close(ctx);
}

/* Refusals that need no cloud: the address 127.0.0.1:1 is never dialled. */
static void test_create_refusals(void **state)
{
	const struct provider_ops *ops = provider_find("openstack");
	struct provider_node_request req = {.overcloud_id = "oc-1", .name = "n1", .group = "g",
					    .size = "m1.small", .join_token = "tok"};
	struct provider_node node, gone = {.handle = ""};
	char err[512] = "", *big;
	void *ctx;

	clear_env();
	ctx = open_with(good_conf, err, sizeof(err));
	assert_non_null(ctx);
	assert_int_equal(ops->create_node(ctx, &req, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no user-data"));
	/* 49 152 bytes are exactly 65 536 in base64: one over Nova's limit */
	big = malloc(49152 + 1);
	memset(big, 'x', 49152);
	big[49152] = '\0';
	req.user_data = big;
	assert_int_equal(ops->create_node(ctx, &req, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "65536 bytes in base64, over Nova's limit of 65535"));
	free(big);
	req.user_data = "#cloud-config\n";
	req.size = NULL;
	assert_int_equal(ops->create_node(ctx, &req, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no flavor"));
	/* a node whose create failed has no server: destroying it is a no-op */
	assert_int_equal(ops->destroy_node(ctx, "oc-1", &gone, err, sizeof(err)), 0);
	snprintf(gone.handle, sizeof(gone.handle), "../servers");
	assert_int_equal(ops->destroy_node(ctx, "oc-1", &gone, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a server id"));
	ops->close(ctx);
}

/* ---- the tool ---- */

struct tool_job {
	void *ctx;
	const struct provider_ops *ops;
	struct provider_node_request req;
	struct provider_node node;
	char name[128], err[1024];
	char *user_data;
	int rc;
};

static void *tool_create_thread(void *arg)
{
	struct tool_job *j = arg;

	j->rc = j->ops->create_node(j->ctx, &j->req, &j->node, j->err, sizeof(j->err));
	return NULL;
}

static int tool_main(int argc, char **argv)
{
	const struct provider_ops *ops = provider_find("openstack");
	struct config *cfg;
	struct provider_env env = {.state_dir = "/nonexistent"};
	char err[1024] = "";
	void *ctx;
	int rc = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: test_provider_openstack tool CONF (create OC NAME USERDATA "
			"[SIZE] | create-many OC PREFIX N DIR [SIZE] | destroy OC HANDLE...)\n");
		return 2;
	}
	if ((cfg = config_load(argv[0], 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tool: %s\n", err);
		return 1;
	}
	env.config = cfg;
	if ((ctx = ops->open(&env, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tool: %s\n", err);
		config_free(cfg);
		return 1;
	}
	if (strcmp(argv[1], "create") == 0 && (argc == 5 || argc == 6)) {
		struct tool_job j = {.ctx = ctx, .ops = ops};
		if ((j.user_data = util_read_file(argv[4], 1 << 20, NULL)) == NULL) {
			fprintf(stderr, "tool: %s: %s\n", argv[4], strerror(errno));
			goto out;
		}
		j.req = (struct provider_node_request){.overcloud_id = argv[2], .name = argv[3],
						       .group = "cluster", .user_data = j.user_data,
						       .size = argc == 6 ? argv[5] : NULL};
		tool_create_thread(&j);
		free(j.user_data);
		if (j.rc != 0) {
			fprintf(stderr, "tool: %s\n", j.err);
			goto out;
		}
		printf("%s\t%s\n", j.node.handle, j.node.address);
		rc = 0;
	} else if (strcmp(argv[1], "create-many") == 0 && (argc == 6 || argc == 7)) {
		int64_t n;
		struct tool_job *jobs;
		pthread_t *threads;
		if (util_parse_int(argv[4], 1, 64, &n) != 0) {
			fprintf(stderr, "tool: N must be 1..64\n");
			goto out;
		}
		jobs = calloc((size_t)n, sizeof(*jobs));
		threads = calloc((size_t)n, sizeof(*threads));
		rc = 0;
		for (int64_t i = 0; i < n; i++) {
			char path[PATH_MAX];
			struct tool_job *j = &jobs[i];
			snprintf(j->name, sizeof(j->name), "%s-%lld", argv[3], (long long)i + 1);
			snprintf(path, sizeof(path), "%s/%s", argv[5], j->name);
			j->ctx = ctx;
			j->ops = ops;
			j->user_data = util_read_file(path, 1 << 20, NULL);
			j->req = (struct provider_node_request){
				.overcloud_id = argv[2], .name = j->name, .group = "cluster",
				.user_data = j->user_data, .size = argc == 7 ? argv[6] : NULL};
			pthread_create(&threads[i], NULL, tool_create_thread, j);
		}
		for (int64_t i = 0; i < n; i++) {
			pthread_join(threads[i], NULL);
			if (jobs[i].rc != 0) {
				fprintf(stderr, "tool: %s: %s\n", jobs[i].name, jobs[i].err);
				rc = 1;
			} else {
				printf("%s\t%s\n", jobs[i].node.handle, jobs[i].node.address);
			}
			free(jobs[i].user_data);
		}
		free(jobs);
		free(threads);
	} else if (strcmp(argv[1], "destroy") == 0 && argc >= 4) {
		rc = 0;
		for (int i = 3; i < argc; i++) {
			struct provider_node node;
			memset(&node, 0, sizeof(node));
			snprintf(node.handle, sizeof(node.handle), "%s", argv[i]);
			if (ops->destroy_node(ctx, argv[2], &node, err, sizeof(err)) != 0) {
				fprintf(stderr, "tool: %s\n", err);
				rc = 1;
			}
		}
	} else {
		fprintf(stderr, "tool: unknown command\n");
	}
out:
	ops->close(ctx);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_catalog),
		cmocka_unit_test(test_token_rejects),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_server_rejects),
		cmocka_unit_test(test_find_server),
		cmocka_unit_test(test_flavors),
		cmocka_unit_test(test_named),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_error_message),
		cmocka_unit_test(test_scrub),
		cmocka_unit_test(test_find_and_settings),
		cmocka_unit_test(test_create_refusals),
	};

	if (argc >= 2 && strcmp(argv[1], "tool") == 0) {
		log_init("test_provider_openstack", OC_LOG_DEBUG);
		return tool_main(argc - 2, argv + 2);
	}
	log_init("test_provider_openstack", OC_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
