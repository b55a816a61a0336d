/* nodes.c — the enrolled nodes as the API and the engine name them: lookup
 * by id or unique name, and revocation (store row, connection, metrics). */
#include "tower/fleet/nodes.h"

#include <stdio.h>
#include <string.h>

#include "shared/util.h"
#include "tower/fleet/hub.h"
#include "tower/metrics/nodemetrics.h"
#include "tower/store/store.h"

struct name_match {
	const char *want;
	struct store_node *found;
	int matches;
};

static int match_name(const struct store_node *n, void *arg)
{
	struct name_match *m = arg;

	if (strcmp(n->name, m->want) == 0 && m->matches++ == 0)
		*m->found = *n;
	return 0;
}

enum nodes_lookup nodes_find(struct store *st, const char *ref, struct store_node *out,
			     char *err, size_t err_size)
{
	struct name_match m = {.want = ref, .found = out};

	if (ref == NULL) {
		memset(out, 0, sizeof(*out));
		snprintf(err, err_size, "no node named");
		return NODES_UNKNOWN;
	}
	/* An id is a name by the one rule; anything else is not worth a
	 * query (and the store would refuse it). */
	if (util_name_ok(ref, STORE_ID_MAX - 1) && store_node_get(st, ref, out) == 1 &&
	    !out->deleted)
		return NODES_FOUND;
	memset(out, 0, sizeof(*out));
	if (store_node_foreach(st, match_name, &m) != 0) {
		snprintf(err, err_size, "cannot read the nodes");
		return NODES_FAILED;
	}
	if (m.matches == 0) {
		snprintf(err, err_size, "no enrolled node \"%s\" (an id or a name from tower nodes)",
			 ref);
		return NODES_UNKNOWN;
	}
	if (m.matches > 1) {
		memset(out, 0, sizeof(*out));
		snprintf(err, err_size, "%d nodes are named \"%s\"; give the node id", m.matches, ref);
		return NODES_AMBIGUOUS;
	}
	return NODES_FOUND;
}

int nodes_revoke(struct store *st, struct hub *hub, struct nodemetrics *nm, const char *id,
		 const char *reason)
{
	int r;

	if (!util_name_ok(id, STORE_ID_MAX - 1))
		return 0;   /* no node has such an id */
	r = store_node_delete(st, id);
	if (r != 1)
		return r;
	if (nm != NULL)
		nodemetrics_forget(nm, id);
	/* after the row: a reconnect racing this close is refused by the hub */
	hub_disconnect_node(hub, id, reason);
	return 1;
}
