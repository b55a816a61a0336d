/* test_task_json.c — the task, run and run-event documents the API serves
 * (the console and the CLI read them): their fields in order, secret
 * outputs as ***, and log text as stored. Real sqlite in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pk.h>

#include "shared/pki.h"
#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/api/task_json.h"
#include "tower/fleet/tasks.h"
#include "tower/store/store.h"
#include "store_target.h"

struct fixture {
	char dir[64];
	char target[STORE_TARGET_MAX];
	struct store *st;
	char node_id[40];   /* enrolled as "edge-1" */
};

/* A node row the tasks can point at. */
static void enroll(struct fixture *f)
{
	char token[ENROLL_TOKEN_LEN + 1], err[256] = "", *csr, *pem = NULL;
	mbedtls_pk_context key;
	struct ca *ca = ca_open(f->dir, NULL, 0, err, sizeof(err));

	assert_non_null(ca);
	mbedtls_pk_init(&key);
	assert_int_equal(pki_key_generate(&key), 0);
	csr = pki_csr_create(&key, "edge-1");
	assert_non_null(csr);
	assert_int_equal(enroll_create_token(f->st, "edge", 3600, 1, token, err, sizeof(err)), 0);
	assert_int_equal(enroll_node(f->st, ca, token, csr, "edge-1", util_now(), 3600,
				     f->node_id, sizeof(f->node_id), &pem, err, sizeof(err)), 0);
	free(pem);
	free(csr);
	mbedtls_pk_free(&key);
	ca_free(ca);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/oc-taskjson.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_target_make(f->dir, "tower.db", f->target, sizeof(f->target)), 0);
	f->st = store_open(f->target, err, sizeof(err));
	assert_non_null(f->st);
	enroll(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	store_target_drop(f->target);
	util_remove_tree(f->dir);
	free(f);
	return 0;
}

static char *dump(json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);

	assert_non_null(text);
	json_decref(doc);
	return text;
}

static void test_task_document(void **state)
{
	struct fixture *f = *state;
	struct store_task t;
	json_t *doc;
	const char *key;
	json_t *v;
	char keys[512] = "";

	assert_int_equal(store_task_insert(f->st, "t-1", "r-1", f->node_id, "exec", "run",
					   "{\"argv\":[\"sh\",\"-c\",\"x\"],\"timeout\":5,"
					   "\"secret_outputs\":[\"pw\"]}", 1000), 0);
	assert_int_equal(store_task_finish(f->st, "t-1", "done", 0, 7, "",
					   "{\"pw\":\"hunter2\",\"ip\":\"10.0.0.1\"}", 2000), 1);
	assert_int_equal(store_task_get(f->st, "t-1", &t), 1);
	doc = task_json(f->st, &t);
	assert_non_null(doc);
	json_object_foreach(doc, key, v)
		snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s,", key);
	assert_string_equal(keys, "task_id,run_id,node_id,node,role,step,state,argv,exit_code,"
				  "reason,progress,progress_message,outputs,log_bytes,created_at,"
				  "started_at,finished_at,duration_ms,roundtrip_ms,created_ms,"
				  "finished_ms,");
	/* the node by name; no reason: null */
	assert_string_equal(json_string_value(json_object_get(doc, "node")), "edge-1");
	assert_true(json_is_null(json_object_get(doc, "reason")));
	assert_string_equal(json_string_value(json_object_get(doc, "state")), "done");
	assert_int_equal(json_integer_value(json_object_get(doc, "roundtrip_ms")), 1000);
	assert_int_equal(json_integer_value(json_object_get(doc, "progress")), 100);
	{
		char *text = dump(json_incref(json_object_get(doc, "outputs")));
		assert_string_equal(text, "{\"pw\":\"***\",\"ip\":\"10.0.0.1\"}");
		free(text);
		text = dump(json_incref(json_object_get(doc, "argv")));
		assert_string_equal(text, "[\"sh\",\"-c\",\"x\"]");
		free(text);
	}
	json_decref(doc);
	store_task_clear(&t);
	/* a run is its tasks; an unknown run is none */
	doc = task_json_run(f->st, "r-1");
	assert_non_null(doc);
	assert_int_equal(json_array_size(doc), 1);
	json_decref(doc);
	assert_null(task_json_run(f->st, "r-none"));
}

static void test_event_documents(void **state)
{
	struct fixture *f = *state;
	const char *name = NULL;
	char *text;
	struct tasks_event log = {
		.kind = TASKS_EVENT_LOG, .run_id = "r-1", .task_id = "t-1", .node_id = "n-1",
		.node = "edge-1", .stream = "stderr", .text = "a\nb", .text_len = 3,
	};
	struct tasks_event progress = {
		.kind = TASKS_EVENT_PROGRESS, .run_id = "r-1", .task_id = "t-1", .node = "edge-1",
		.percent = 40, .message = "half",
	};
	struct tasks_event end = {.kind = TASKS_EVENT_END, .run_id = "r-1"};

	text = dump(task_json_event(f->st, &log, &name));
	assert_string_equal(name, "log");
	assert_string_equal(text, "{\"task_id\":\"t-1\",\"node_id\":\"n-1\",\"node\":\"edge-1\","
				  "\"stream\":\"stderr\",\"data\":\"a\\nb\"}");
	free(text);
	text = dump(task_json_event(f->st, &progress, &name));
	assert_string_equal(name, "progress");
	assert_string_equal(text, "{\"task_id\":\"t-1\",\"node\":\"edge-1\",\"percent\":40,"
				  "\"message\":\"half\"}");
	free(text);
	text = dump(task_json_event(f->st, &end, &name));
	assert_string_equal(name, "end");
	assert_string_equal(text, "{\"run_id\":\"r-1\"}");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_task_document, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_documents, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
