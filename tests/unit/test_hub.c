/* test_hub.c — the hub's table of connected nodes, with real enrolled nodes
 * over real TLS on loopback: a node is in it after hello (and the ready hook
 * runs), messages reach it, it leaves on close, and a second connection of
 * the same node replaces the first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/fakes/fake_agent.h"

struct fixture {
	struct fake_tower tower;
	struct fake_agent agent;
	char ready[4][40];      /* node ids the ready hook was called with */
	size_t ready_count;
};

static void on_node_ready(void *arg, const char *node_id)
{
	struct fixture *f = arg;

	if (f->ready_count < 4)
		snprintf(f->ready[f->ready_count], sizeof(f->ready[0]), "%s", node_id);
	f->ready_count++;
}

static const struct hub_events events = {.node_ready = on_node_ready};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_tower_start(&f->tower);
	hub_set_events(f->tower.hub, &events, f);
	fake_agent_enroll(&f->agent, &f->tower);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fake_agent_free(&f->agent);
	fake_tower_stop(&f->tower);
	free(f);
	return 0;
}

static bool welcomed(void *arg)
{
	return ((struct fake_agent *)arg)->welcomed;
}

static bool closed(void *arg)
{
	return ((struct fake_agent *)arg)->closed;
}

struct node_wait {
	struct hub *hub;
	const char *node_id;
};

static bool node_gone(void *arg)
{
	struct node_wait *w = arg;

	return !hub_node_connected(w->hub, w->node_id);
}

static bool got_ack(void *arg)
{
	return fake_agent_count(arg, MSG_TASK_ACK, "t-hello") > 0;
}

static void test_node_in_table_after_hello(void **state)
{
	struct fixture *f = *state;
	struct hub *hub = f->tower.hub;
	struct msg ack = {.type = MSG_TASK_ACK};
	char addr[64];

	assert_false(hub_node_connected(hub, f->agent.node_id));
	assert_int_equal(hub_connected_count(hub), 0);
	assert_int_equal(hub_send(hub, f->agent.node_id, &ack), -1);
	fake_agent_connect(&f->agent);
	assert_true(fake_wait(&f->tower, welcomed, &f->agent));
	assert_true(hub_node_connected(hub, f->agent.node_id));
	assert_int_equal(hub_connected_count(hub), 1);
	/* the hook ran once, for this node, by the time the agent has its welcome */
	assert_int_equal(f->ready_count, 1);
	assert_string_equal(f->ready[0], f->agent.node_id);
	assert_int_equal(hub_node_address(hub, f->agent.node_id, addr, sizeof(addr)), 0);
	assert_string_equal(addr, "127.0.0.1");
	/* found by id: a message goes to this connection */
	ack.u.task_ack.id = "t-hello";
	assert_int_equal(hub_send(hub, f->agent.node_id, &ack), 0);
	assert_true(fake_wait(&f->tower, got_ack, &f->agent));
	/* others are not in the table */
	assert_false(hub_node_connected(hub, "n-nobody"));
	assert_int_equal(hub_send(hub, "n-nobody", &ack), -1);
	assert_int_equal(hub_node_address(hub, "n-nobody", addr, sizeof(addr)), -1);
}

static void test_node_leaves_table_when_agent_closes(void **state)
{
	struct fixture *f = *state;
	struct node_wait w = {f->tower.hub, f->agent.node_id};

	fake_agent_connect(&f->agent);
	assert_true(fake_wait(&f->tower, welcomed, &f->agent));
	assert_true(hub_node_connected(f->tower.hub, f->agent.node_id));
	tls_conn_close_after_flush(f->agent.conn, "agent stops");
	assert_true(fake_wait(&f->tower, node_gone, &w));
	assert_int_equal(hub_connected_count(f->tower.hub), 0);
}

static void test_disconnect_node_removes_it(void **state)
{
	struct fixture *f = *state;

	fake_agent_connect(&f->agent);
	assert_true(fake_wait(&f->tower, welcomed, &f->agent));
	hub_disconnect_node(f->tower.hub, f->agent.node_id, "node deleted");
	/* out of the table at once, and the agent is told why */
	assert_false(hub_node_connected(f->tower.hub, f->agent.node_id));
	assert_int_equal(hub_connected_count(f->tower.hub), 0);
	assert_true(fake_wait(&f->tower, closed, &f->agent));
	assert_string_equal(f->agent.error, "node deleted");
}

static void test_second_connection_replaces_first(void **state)
{
	struct fixture *f = *state;
	struct fake_agent twin;
	struct msg ack = {.type = MSG_TASK_ACK};

	fake_agent_connect(&f->agent);
	assert_true(fake_wait(&f->tower, welcomed, &f->agent));
	fake_agent_twin(&twin, &f->agent);
	fake_agent_connect(&twin);
	assert_true(fake_wait(&f->tower, welcomed, &twin));
	/* newest wins: the older connection is closed, the node counted once */
	assert_true(fake_wait(&f->tower, closed, &f->agent));
	assert_true(hub_node_connected(f->tower.hub, f->agent.node_id));
	assert_int_equal(hub_connected_count(f->tower.hub), 1);
	assert_int_equal(f->ready_count, 2);
	assert_string_equal(f->ready[1], f->agent.node_id);
	ack.u.task_ack.id = "t-hello";
	assert_int_equal(hub_send(f->tower.hub, f->agent.node_id, &ack), 0);
	assert_true(fake_wait(&f->tower, got_ack, &twin));
	assert_int_equal(fake_agent_count(&f->agent, MSG_TASK_ACK, NULL), 0);
	fake_agent_free_twin(&twin);
}

static void test_unknown_certificate_never_enters_table(void **state)
{
	struct fixture *f = *state;
	struct fake_tower other;
	struct fake_agent stranger;

	/* enrolled with another tower's CA and store: refused here */
	fake_tower_start(&other);
	fake_agent_enroll(&stranger, &other);
	stranger.tower = &f->tower;
	tls_config_free(stranger.cfg);
	stranger.cfg = tls_config_client(ca_cert(f->tower.ca), &stranger.cert, &stranger.key);
	assert_non_null(stranger.cfg);
	fake_agent_connect(&stranger);
	assert_true(fake_wait(&f->tower, closed, &stranger));
	assert_false(stranger.welcomed);
	assert_false(hub_node_connected(f->tower.hub, stranger.node_id));
	assert_int_equal(hub_connected_count(f->tower.hub), 0);
	assert_int_equal(f->ready_count, 0);
	fake_agent_free(&stranger);
	fake_tower_stop(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_node_in_table_after_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_leaves_table_when_agent_closes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_node_removes_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_connection_replaces_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_certificate_never_enters_table, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
