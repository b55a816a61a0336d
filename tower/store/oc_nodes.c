/* oc_nodes.c — the oc_nodes table: the nodes of each OverCloud, made for it
 * through a join token or attached by name, and which OverCloud holds a node. */
#include "tower/store/store_int.h"

const struct store_sql store_oc_nodes_sql[] = {
	{ ST_OCN_INSERT, "INSERT INTO oc_nodes (overcloud_id, name, grp, idx, provider, size)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)" },
	{ ST_OCN_UPDATE, "UPDATE oc_nodes SET token_id = ?3, handle = ?4, address = ?5, state = ?6"
			 " WHERE overcloud_id = ?1 AND name = ?2" },
	/* A node the tower made is found through its join token; an attached
	 * one is named. Either reads "" once the node is deleted. */
	{ ST_OCN_LIST, "SELECT name, grp, idx, token_id, handle, address, state,"
		       " CASE WHEN oc_nodes.node_id != '' THEN COALESCE((SELECT id FROM nodes"
		       " WHERE nodes.id = oc_nodes.node_id AND deleted = 0), '')"
		       " ELSE COALESCE((SELECT id FROM nodes WHERE nodes.token_id = oc_nodes.token_id"
		       " AND oc_nodes.token_id != '' AND deleted = 0), '') END, provider, size,"
		       " CASE WHEN oc_nodes.node_id != '' THEN 1 ELSE 0 END"
		       " FROM oc_nodes WHERE overcloud_id = ?1 ORDER BY grp = 'post' DESC, grp, idx" },
	{ ST_OCN_INSERT_ATTACHED, "INSERT INTO oc_nodes (overcloud_id, name, grp, idx, provider,"
				  " node_id, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)" },
	{ ST_OCN_FIND_NODE, "SELECT overcloud_id FROM oc_nodes WHERE state != 'released'"
			    " AND (node_id = ?1 OR (token_id != '' AND token_id ="
			    " (SELECT token_id FROM nodes WHERE id = ?1))) LIMIT 1" },
	{ ST_COUNT, NULL },
};

int store_ocn_insert(struct store *st, const char *oc_id, const char *name, const char *group,
		     int64_t idx, const char *provider, const char *size)
{
	return store_exec(st, ST_OCN_INSERT, "insert overcloud node",
			  STORE_ARGS(arg_id(oc_id), arg_text(name), arg_text(group), arg_int(idx),
				     arg_text(provider), arg_text(size))) == 1
		       ? 0 : -1;
}

int store_ocn_update(struct store *st, const char *oc_id, const struct store_oc_node *n)
{
	return store_exec(st, ST_OCN_UPDATE, "update overcloud node",
			  STORE_ARGS(arg_id(oc_id), arg_text(n->name), arg_text(n->token_id),
				     arg_text(n->handle), arg_text(n->address),
				     arg_text(n->state))) < 0 ? -1 : 0;
}

static void row_to_ocn(struct store_q *s, void *row)
{
	struct store_oc_node *n = row;

	store_column_copy(s, 0, n->name, sizeof(n->name));
	store_column_copy(s, 1, n->group, sizeof(n->group));
	n->idx = store_col_int(s, 2);
	store_column_copy(s, 3, n->token_id, sizeof(n->token_id));
	store_column_copy(s, 4, n->handle, sizeof(n->handle));
	store_column_copy(s, 5, n->address, sizeof(n->address));
	store_column_copy(s, 6, n->state, sizeof(n->state));
	store_column_copy(s, 7, n->node_id, sizeof(n->node_id));
	store_column_copy(s, 8, n->provider, sizeof(n->provider));
	store_column_copy(s, 9, n->size, sizeof(n->size));
	n->attached = store_col_int(s, 10) != 0;
}

/* Returns the number of nodes (at most max) or -1. */
int store_ocn_list(struct store *st, const char *oc_id, struct store_oc_node *out, size_t max)
{
	struct store_q *s = store_bound(st, ST_OCN_LIST, "list overcloud nodes",
				      STORE_ARGS(arg_id(oc_id)));

	if (s == NULL)
		return -1;
	return store_fill(st, s, "list overcloud nodes", out, sizeof(*out), max, row_to_ocn);
}

int store_ocn_insert_attached(struct store *st, const char *oc_id, const char *name,
			      const char *group, int64_t idx, const char *provider,
			      const char *node_id, const char *address)
{
	return store_exec(st, ST_OCN_INSERT_ATTACHED, "insert attached overcloud node",
			  STORE_ARGS(arg_id(oc_id), arg_text(name), arg_text(group), arg_int(idx),
				     arg_text(provider), arg_id(node_id), arg_text(address))) == 1
		       ? 0 : -1;
}

int store_ocn_find_node(struct store *st, const char *node_id, char *oc_id, size_t oc_id_size)
{
	/* An id of the wrong shape is held by no OverCloud. */
	if (!store_id_ok(node_id))
		return 0;
	return store_first_text(st, ST_OCN_FIND_NODE, "find the overcloud of a node",
				STORE_ARGS(arg_id(node_id)), oc_id, oc_id_size);
}
