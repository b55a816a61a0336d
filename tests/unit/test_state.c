/* test_state.c — the state tables (state.c): every name parses back to its
 * state, other text is unknown, and the transitions each lifecycle allows
 * are exactly the ones the engine makes (a final step never changes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tower/engine/state.h"

static void test_names_round_trip(void **state)
{
	(void)state;
	for (int s = 0; s < OC_STATE_COUNT; s++)
		assert_int_equal(oc_state_parse(oc_statenames[s]), s);
	for (int s = 0; s < STEP_STATE_COUNT; s++)
		assert_int_equal(step_state_parse(step_statenames[s]), s);
	for (int s = 0; s < NODE_STATE_COUNT; s++)
		assert_int_equal(node_state_parse(node_statenames[s]), s);
	/* The API's spelling, which the CLI reads back. */
	assert_int_equal(oc_state_parse("ready"), OC_READY);
	assert_int_equal(step_state_parse("skipped"), STEP_SKIPPED);
	assert_int_equal(node_state_parse("released"), NODE_RELEASED);
}

static void test_unknown_text(void **state)
{
	(void)state;
	assert_int_equal(oc_state_parse(NULL), OC_STATE_UNKNOWN);
	assert_int_equal(oc_state_parse("Ready"), OC_STATE_UNKNOWN);
	assert_int_equal(oc_state_parse("ready "), OC_STATE_UNKNOWN);
	assert_int_equal(step_state_parse(""), STEP_STATE_UNKNOWN);
	assert_int_equal(node_state_parse("deleted"), NODE_STATE_UNKNOWN);
	assert_string_equal(oc_state_name(OC_STATE_UNKNOWN), "unknown");
	assert_string_equal(step_state_name(STEP_STATE_UNKNOWN), "unknown");
	assert_string_equal(node_state_name(NODE_STATE_UNKNOWN), "unknown");
	assert_false(oc_state_can_change(OC_STATE_UNKNOWN, OC_FAILED));
	assert_false(step_state_can_change(STEP_PENDING, STEP_STATE_UNKNOWN));
}

static void test_oc_lifecycle(void **state)
{
	(void)state;
	assert_true(oc_state_can_change(OC_CREATING, OC_READY));
	assert_true(oc_state_can_change(OC_CREATING, OC_FAILED));
	assert_true(oc_state_can_change(OC_CREATING, OC_DELETING));
	assert_true(oc_state_can_change(OC_READY, OC_READY));      /* an attach starts */
	assert_true(oc_state_can_change(OC_READY, OC_FAILED));     /* an attach failed */
	assert_true(oc_state_can_change(OC_FAILED, OC_DELETING));
	assert_true(oc_state_can_change(OC_DELETING, OC_DELETED));
	assert_true(oc_state_can_change(OC_DELETING, OC_FAILED));
	assert_false(oc_state_can_change(OC_READY, OC_CREATING));
	assert_false(oc_state_can_change(OC_FAILED, OC_READY));
	assert_false(oc_state_can_change(OC_DELETING, OC_DELETING));
	assert_false(oc_state_can_change(OC_CREATING, OC_DELETED));
	for (int s = 0; s < OC_STATE_COUNT; s++)
		assert_false(oc_state_can_change(OC_DELETED, s));
}

static void test_step_lifecycle(void **state)
{
	(void)state;
	assert_true(step_state_can_change(STEP_PENDING, STEP_RUNNING));
	assert_true(step_state_can_change(STEP_PENDING, STEP_SKIPPED));
	assert_true(step_state_can_change(STEP_RUNNING, STEP_DONE));
	assert_true(step_state_can_change(STEP_RUNNING, STEP_FAILED));
	assert_true(step_state_can_change(STEP_RUNNING, STEP_PENDING));   /* a retry */
	assert_true(step_state_can_change(STEP_RUNNING, STEP_SKIPPED));
	assert_false(step_state_can_change(STEP_PENDING, STEP_DONE));
	assert_false(step_state_can_change(STEP_RUNNING, STEP_RUNNING));
	for (int s = 0; s < STEP_STATE_COUNT; s++) {
		assert_int_equal(step_state_final(s), s == STEP_DONE || s == STEP_FAILED ||
						       s == STEP_SKIPPED);
		for (int to = 0; to < STEP_STATE_COUNT && step_state_final(s); to++)
			assert_false(step_state_can_change(s, to));
	}
}

static void test_node_lifecycle(void **state)
{
	(void)state;
	assert_true(node_state_can_change(NODE_PENDING, NODE_CREATED));
	assert_true(node_state_can_change(NODE_PENDING, NODE_RELEASED));
	assert_true(node_state_can_change(NODE_CREATED, NODE_RELEASED));
	assert_false(node_state_can_change(NODE_CREATED, NODE_PENDING));
	assert_false(node_state_can_change(NODE_RELEASED, NODE_CREATED));
	assert_false(node_state_can_change(NODE_RELEASED, NODE_PENDING));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_unknown_text),
		cmocka_unit_test(test_oc_lifecycle),
		cmocka_unit_test(test_step_lifecycle),
		cmocka_unit_test(test_node_lifecycle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
