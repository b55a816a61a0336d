/* test_api_router.c — the API's route table and its one dispatch, without a
 * running tower: each method and path reaches its handler, unknown paths 404,
 * a known path with another method 405, path ids are bounded, and the
 * token, session, CSRF and body-type checks apply to all but public routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "shared/util.h"
#include "tower/api/api_int.h"
#include "tower/api/http.h"
#include "tower/api/httpd.h"
#include "tower/api/session.h"
#include "tower/tower.h"

#define ID63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID64 ID63 "a"

static char param[1024];

/* The handler the real table gives method and path, NULL when none. */
static enum api_match find(const char *method, const char *path, api_handler_fn *handler)
{
	const struct api_route *r;
	enum api_match m = api_route_find(api_routes, api_route_count, method, path, &r, param,
					  sizeof(param));

	*handler = r != NULL ? r->handler : NULL;
	return m;
}

static void expect_route(const char *method, const char *path, api_handler_fn want,
			 const char *want_param)
{
	api_handler_fn got;

	if (find(method, path, &got) != API_MATCH_OK || got != want) {
		fail_msg("%s %s: not routed to its handler", method, path);
	}
	assert_string_equal(param, want_param);
}

static void expect_miss(const char *method, const char *path, enum api_match want)
{
	api_handler_fn got;
	enum api_match m = find(method, path, &got);

	if (m != want)
		fail_msg("%s %s: match %d, want %d", method, path, (int)m, (int)want);
}

static void test_each_route_reaches_its_handler(void **state)
{
	(void)state;
	expect_route("GET", "/v1/nodes", api_nodes_list, "");
	expect_route("DELETE", "/v1/nodes/n-1", api_node_delete, "n-1");
	expect_route("GET", "/v1/nodes/n-1/metrics", api_node_metrics_get, "n-1");
	expect_route("GET", "/v1/sd/prometheus", api_sd_prometheus_get, "");
	expect_route("GET", "/metrics", api_metrics_get, "");
	expect_route("POST", "/v1/tokens", api_tokens_post, "");
	expect_route("POST", "/v1/userdata", api_userdata_post, "");
	expect_route("POST", "/v1/runs", api_runs_post, "");
	expect_route("GET", "/v1/runs/r-1", api_run_get, "r-1");
	expect_route("GET", "/v1/runs/r-1/events", api_run_events_get, "r-1");
	expect_route("GET", "/v1/tasks/t-1", api_task_get, "t-1");
	expect_route("GET", "/v1/tasks/t-1/log", api_task_log_get, "t-1");
	expect_route("POST", "/v1/overclouds", api_overclouds_post, "");
	expect_route("GET", "/v1/overclouds", api_overclouds_list, "");
	expect_route("GET", "/v1/overclouds/oc-1", api_overcloud_get, "oc-1");
	expect_route("DELETE", "/v1/overclouds/oc-1", api_overcloud_delete, "oc-1");
	expect_route("GET", "/v1/overclouds/oc-1/events", api_overcloud_events_get, "oc-1");
	expect_route("POST", "/v1/overclouds/oc-1/nodes", api_overcloud_nodes_post, "oc-1");
	expect_route("GET", "/v1/overclouds/oc-1/runs", api_overcloud_runs_get, "oc-1");
	/* The seed's v0 paths. */
	expect_route("POST", "/overclouds", api_overclouds_post, "");
	expect_route("GET", "/overclouds", api_overclouds_list, "");
	expect_route("DELETE", "/overclouds", api_overclouds_delete_v0, "");
	expect_route("GET", "/v1/artifacts/agent/x86_64", api_agent_artifact_get, "x86_64");
}

static void test_unknown_paths_and_methods(void **state)
{
	(void)state;
	expect_miss("GET", "/v1/nope", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/nodes/x/y", API_MATCH_NO_PATH);
	expect_miss("POST", "/v1/nodes/x/y", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/nodes/x/metrics/y", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/overcloudsX", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/overclouds/oc-1/x", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/overclouds/oc-1/", API_MATCH_NO_PATH);
	expect_miss("GET", "/overclouds/x", API_MATCH_NO_PATH);
	expect_miss("GET", "/metrics/", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/artifacts", API_MATCH_NO_PATH);
	expect_miss("PUT", "/v1/nodes", API_MATCH_NO_METHOD);
	expect_miss("GET", "/v1/nodes/n-1", API_MATCH_NO_METHOD);
	expect_miss("DELETE", "/v1/nodes/n-1/metrics", API_MATCH_NO_METHOD);
	expect_miss("GET", "/v1/tokens", API_MATCH_NO_METHOD);
	expect_miss("DELETE", "/v1/overclouds", API_MATCH_NO_METHOD);
	expect_miss("PUT", "/overclouds", API_MATCH_NO_METHOD);
	expect_miss("POST", "/v1/overclouds/oc-1", API_MATCH_NO_METHOD);
	expect_miss("POST", "/v1/overclouds/oc-1/events", API_MATCH_NO_METHOD);
	expect_miss("GET", "/v1/overclouds/oc-1/nodes", API_MATCH_NO_METHOD);
	expect_miss("HEAD", "/healthz", API_MATCH_NO_METHOD);
	expect_miss("POST", "/v1/ca.pem", API_MATCH_NO_METHOD);
	expect_miss("HEAD", "/v1/artifacts/agent/x86_64", API_MATCH_NO_METHOD);
}

/* As the API has always answered: a run's and a task's subtrees take GET
 * only, so another method is 405 whatever follows the id; a booting node's
 * artifacts/ subtree is public, its unknown paths 404 without a token. */
static void test_subtree_fallbacks(void **state)
{
	api_handler_fn got;

	(void)state;
	assert_int_equal(find("GET", "/v1/runs/r-1/x", &got), API_MATCH_OK);
	assert_ptr_equal(got, api_reply_not_found);
	assert_int_equal(find("GET", "/v1/runs/r-1/", &got), API_MATCH_OK);
	assert_ptr_equal(got, api_reply_not_found);
	expect_miss("POST", "/v1/runs/r-1/x", API_MATCH_NO_METHOD);
	expect_miss("POST", "/v1/runs/r-1/events", API_MATCH_NO_METHOD);
	expect_miss("DELETE", "/v1/tasks/t-1/log/x", API_MATCH_NO_METHOD);
	assert_int_equal(find("GET", "/v1/tasks/t-1/logs", &got), API_MATCH_OK);
	assert_ptr_equal(got, api_reply_not_found);
	assert_int_equal(find("POST", "/v1/artifacts/other", &got), API_MATCH_OK);
	assert_ptr_equal(got, api_reply_not_found);
	assert_int_equal(find("GET", "/v1/artifacts/agent/", &got), API_MATCH_OK);
	assert_ptr_equal(got, api_reply_not_found);
	assert_int_equal(find("GET", "/v1/artifacts/agent/x86_64/y", &got), API_MATCH_OK);
	assert_ptr_equal(got, api_reply_not_found);
}

static void test_path_ids_are_bounded(void **state)
{
	char path[256];

	(void)state;
	expect_route("DELETE", "/v1/nodes/" ID63, api_node_delete, ID63);
	expect_miss("DELETE", "/v1/nodes/" ID64, API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/nodes/" ID64 "/metrics", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/overclouds/" ID64, API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/runs/" ID64 "/events", API_MATCH_NO_PATH);
	/* Over the bound, a run's subtree is not its subtree: 404 for any method. */
	expect_miss("POST", "/v1/runs/" ID64, API_MATCH_NO_PATH);
	/* Empty ids are no ids. */
	expect_miss("DELETE", "/v1/nodes/", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/nodes//metrics", API_MATCH_NO_PATH);
	expect_miss("GET", "/v1/overclouds//events", API_MATCH_NO_PATH);
	/* An id is one segment. */
	expect_miss("DELETE", "/v1/overclouds/a/b", API_MATCH_NO_PATH);
	/* {name} takes a segment of any length: the handler judges it. */
	snprintf(path, sizeof(path), "/v1/artifacts/agent/%s%s", ID64, ID64);
	expect_route("GET", path, api_agent_artifact_get, ID64 ID64);
}

/* ---- the dispatch, on a table of recording handlers ---- */

static const char *called;
static char called_id[64];

static void h_public(struct api_ctx *ctx)
{
	called = "public";
	snprintf(called_id, sizeof(called_id), "%s", ctx->id);
	api_reply_json(ctx, 200, json_object());
}

static void h_private(struct api_ctx *ctx)
{
	called = "private";
	snprintf(called_id, sizeof(called_id), "%s", ctx->id);
	api_reply_json(ctx, 200, json_object());
}

static const struct api_route fake_routes[] = {
	{"GET", "/open", h_public, API_ROUTE_PUBLIC},
	{NULL, "/open/*", h_public, API_ROUTE_PUBLIC | API_ROUTE_FALLBACK},
	{"GET", "/things/{id}", h_private, 0},
	{"POST", "/things", h_private, 0},
};

struct fixture {
	struct tower tower;
	char session_id[SESSION_ID_HEX + 1];
	char csrf[SESSION_CSRF_HEX + 1];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int64_t expires;

	snprintf(f->tower.admin_token, sizeof(f->tower.admin_token), "%s", "s3cret-admin-token");
	f->tower.sessions = sessions_new();
	assert_int_equal(sessions_start(f->tower.sessions, util_now(), f->session_id, f->csrf,
					&expires), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sessions_free(f->tower.sessions);
	free(f);
	return 0;
}

/* Dispatches "METHOD PATH" with extra header lines (and a body) through the
 * fake table; returns the response's status. */
static int dispatch(struct fixture *f, const char *method, const char *path, const char *headers,
		    const char *body)
{
	char buf[4096], err[128], line[16] = "";
	struct http_request req;
	struct httpd_exchange ex = {.peer = "test", .keep_alive = true, .body_fd = -1};
	struct api_ctx ctx = {.tower = &f->tower, .req = &req, .peer = "test", .keep_alive = true,
			      .ex = &ex, .id = ""};
	size_t used;
	int status = 0;

	snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n%s",
		 method, path, headers, strlen(body), body);
	assert_int_equal(http_parse_request(buf, strlen(buf), 4096, &req, &used, &status, err,
					    sizeof(err)), HTTP_PARSE_OK);
	ex.out = ctx.out = evbuffer_new();
	called = NULL;
	called_id[0] = '\0';
	api_dispatch(fake_routes, OC_ARRAY_LEN(fake_routes), &ctx);
	evbuffer_copyout(ex.out, line, 12);
	evbuffer_free(ex.out);
	assert_memory_equal(line, "HTTP/1.1 ", 9);
	return atoi(line + 9);
}

#define BEARER "Authorization: Bearer s3cret-admin-token\r\n"

static void test_dispatch_auth(void **state)
{
	struct fixture *f = *state;
	char cookie[256], csrf[256];

	/* Public routes need nothing, and are 405 and 404 without a token too. */
	assert_int_equal(dispatch(f, "GET", "/open", "", ""), 200);
	assert_string_equal(called, "public");
	assert_int_equal(dispatch(f, "POST", "/open", "", ""), 405);
	assert_null(called);
	assert_int_equal(dispatch(f, "PUT", "/open/x", "", ""), 200);
	assert_string_equal(called, "public");
	/* A public route's body is its own business: no 415. */
	assert_int_equal(dispatch(f, "GET", "/open", "Content-Type: text/plain\r\n", "x"), 200);

	/* The others: 401 before anything, for known and unknown paths. */
	assert_int_equal(dispatch(f, "GET", "/things/a", "", ""), 401);
	assert_null(called);
	assert_int_equal(dispatch(f, "GET", "/nowhere", "", ""), 401);
	assert_int_equal(dispatch(f, "DELETE", "/things/a", "", ""), 401);
	assert_int_equal(dispatch(f, "GET", "/things/a", "Authorization: Bearer wrong\r\n", ""), 401);
	assert_int_equal(dispatch(f, "GET", "/things/a",
				  "Authorization: Bearer s3cret-admin-tokenx\r\n", ""), 401);
	assert_null(called);

	/* With the token: the handler, 404, 405, and 415 for a body not JSON. */
	assert_int_equal(dispatch(f, "GET", "/things/a-1", BEARER, ""), 200);
	assert_string_equal(called, "private");
	assert_string_equal(called_id, "a-1");
	assert_int_equal(dispatch(f, "GET", "/nowhere", BEARER, ""), 404);
	assert_int_equal(dispatch(f, "DELETE", "/things/a", BEARER, ""), 405);
	assert_int_equal(dispatch(f, "GET", "/things/" ID64, BEARER, ""), 404);
	assert_int_equal(dispatch(f, "POST", "/things", BEARER "Content-Type: text/plain\r\n", "{}"),
			 415);
	assert_null(called);
	assert_int_equal(dispatch(f, "POST", "/things",
				  BEARER "Content-Type: application/json; charset=utf-8\r\n", "{}"),
			 200);
	assert_string_equal(called, "private");

	/* The console's session: reads with the cookie alone, changes with its
	 * CSRF header too (403 without it, also on a path with no such method). */
	snprintf(cookie, sizeof(cookie), "Cookie: " SESSION_COOKIE "=%s\r\n", f->session_id);
	assert_int_equal(dispatch(f, "GET", "/things/a", cookie, ""), 200);
	assert_string_equal(called, "private");
	assert_int_equal(dispatch(f, "POST", "/things", cookie, ""), 403);
	assert_null(called);
	assert_int_equal(dispatch(f, "DELETE", "/things/a", cookie, ""), 403);
	snprintf(csrf, sizeof(csrf), "%sX-CSRF-Token: %s\r\n", cookie, f->csrf);
	assert_int_equal(dispatch(f, "POST", "/things", csrf, ""), 200);
	assert_string_equal(called, "private");
	assert_int_equal(dispatch(f, "DELETE", "/things/a", csrf, ""), 405);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_route_reaches_its_handler),
		cmocka_unit_test(test_unknown_paths_and_methods),
		cmocka_unit_test(test_subtree_fallbacks),
		cmocka_unit_test(test_path_ids_are_bounded),
		cmocka_unit_test_setup_teardown(test_dispatch_auth, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
