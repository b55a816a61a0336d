/* test_nodes.c — the nodes module on a real sqlite store: a node is found by
 * id or by a name only it has; unknown, deleted and shared names are refused
 * with a reason; revoking marks the row deleted, closes the node's
 * connection through the hub and drops its metrics, exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/msg.h"
#include "shared/util.h"
#include "tower/fleet/hub.h"
#include "tower/fleet/nodes.h"
#include "tower/metrics/nodemetrics.h"
#include "tower/store/store.h"
#include "store_target.h"

#define T0 1700000000

/* The seam: the test links its own hub_disconnect_node ahead of the tower
 * library (nothing here pulls in hub.c), so what nodes_revoke asks of the
 * hub is recorded instead of needing a live TLS connection. */
static struct {
	int calls;
	char node_id[STORE_ID_MAX];
	char reason[128];
} closed;

void hub_disconnect_node(struct hub *hub, const char *node_id, const char *reason)
{
	(void)hub;
	closed.calls++;
	snprintf(closed.node_id, sizeof(closed.node_id), "%s", node_id);
	snprintf(closed.reason, sizeof(closed.reason), "%s", reason);
}

struct fixture {
	char dir[64];
	char target[STORE_TARGET_MAX];
	struct store *st;
};

static void enroll(struct store *st, const char *node_id, const char *name)
{
	char role[STORE_ROLE_MAX], hash[65];
	static int n;
	char token[16];

	snprintf(token, sizeof(token), "tok%d", ++n);
	util_sha256_hex(token, strlen(token), hash);
	assert_int_equal(store_token_insert(st, token, hash, "k8s-worker", T0, T0 + 3600, 1), 0);
	assert_int_equal(store_enroll_node(st, token, hash, T0, node_id, name, "serial", role,
					   sizeof(role)), STORE_ENROLL_OK);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_nodes.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_target_make(f->dir, "tower.db", f->target, sizeof(f->target)), 0);
	f->st = store_open(f->target, err, sizeof(err));
	if (f->st == NULL)
		fail_msg("store_open: %s", err);
	enroll(f->st, "n-0000000000000001", "alpha");
	enroll(f->st, "n-0000000000000002", "beta");
	enroll(f->st, "n-0000000000000003", "beta");
	enroll(f->st, "n-0000000000000004", "gamma");
	memset(&closed, 0, sizeof(closed));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	store_target_drop(f->target);
	assert_int_equal(util_remove_tree(f->dir), 0);
	free(f);
	return 0;
}

static void test_find(void **state)
{
	struct fixture *f = *state;
	struct store_node n;
	char err[256];

	assert_int_equal(nodes_find(f->st, "n-0000000000000001", &n, err, sizeof(err)), NODES_FOUND);
	assert_string_equal(n.name, "alpha");
	assert_int_equal(nodes_find(f->st, "alpha", &n, err, sizeof(err)), NODES_FOUND);
	assert_string_equal(n.id, "n-0000000000000001");
	/* a shared name needs the id; each id still works */
	assert_int_equal(nodes_find(f->st, "beta", &n, err, sizeof(err)), NODES_AMBIGUOUS);
	assert_string_equal(err, "2 nodes are named \"beta\"; give the node id");
	assert_int_equal(nodes_find(f->st, "n-0000000000000003", &n, err, sizeof(err)), NODES_FOUND);
	assert_string_equal(n.name, "beta");
	/* unknown, and what no id or name can be */
	assert_int_equal(nodes_find(f->st, "delta", &n, err, sizeof(err)), NODES_UNKNOWN);
	assert_non_null(strstr(err, "no enrolled node \"delta\""));
	assert_int_equal(nodes_find(f->st, "../n-0000000000000001", &n, err, sizeof(err)),
			 NODES_UNKNOWN);
	assert_int_equal(nodes_find(f->st, "", &n, err, sizeof(err)), NODES_UNKNOWN);
	assert_int_equal(nodes_find(f->st, NULL, &n, err, sizeof(err)), NODES_UNKNOWN);
}

static void test_revoke(void **state)
{
	struct fixture *f = *state;
	struct nodemetrics *nm = nodemetrics_new();
	struct msg_heartbeat hb = {.uptime = 5, .mem_total = 1 << 30, .mem_used = 1 << 20};
	struct store_node n;
	char err[256];

	assert_non_null(nm);
	assert_int_equal(nodemetrics_record(nm, "n-0000000000000004", &hb, T0), 0);
	assert_non_null(nodemetrics_latest(nm, "n-0000000000000004"));

	assert_int_equal(nodes_revoke(f->st, NULL, nm, "n-0000000000000004", "node released"), 1);
	assert_int_equal(store_node_get(f->st, "n-0000000000000004", &n), 1);
	assert_true(n.deleted);
	assert_int_equal(closed.calls, 1);
	assert_string_equal(closed.node_id, "n-0000000000000004");
	assert_string_equal(closed.reason, "node released");
	assert_null(nodemetrics_latest(nm, "n-0000000000000004"));
	/* revoked: no longer found by id or name */
	assert_int_equal(nodes_find(f->st, "n-0000000000000004", &n, err, sizeof(err)),
			 NODES_UNKNOWN);
	assert_int_equal(nodes_find(f->st, "gamma", &n, err, sizeof(err)), NODES_UNKNOWN);

	/* once: a second revoke, an unknown id and a bad one touch nothing */
	assert_int_equal(nodes_revoke(f->st, NULL, nm, "n-0000000000000004", "again"), 0);
	assert_int_equal(nodes_revoke(f->st, NULL, nm, "n-ffffffffffffffff", "none"), 0);
	assert_int_equal(nodes_revoke(f->st, NULL, nm, "../x", "bad"), 0);
	assert_int_equal(closed.calls, 1);

	/* a name shared with a revoked node is unique again */
	assert_int_equal(nodes_revoke(f->st, NULL, NULL, "n-0000000000000002", "gone"), 1);
	assert_int_equal(nodes_find(f->st, "beta", &n, err, sizeof(err)), NODES_FOUND);
	assert_string_equal(n.id, "n-0000000000000003");
	assert_int_equal(closed.calls, 2);
	nodemetrics_free(nm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
