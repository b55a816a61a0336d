/* nodes.h — the enrolled nodes as the API and the engine name them: lookup
 * by id or unique name, and revocation (the one place a node is deleted). */
#ifndef OC_NODES_H
#define OC_NODES_H

#include <stddef.h>

struct store;
struct store_node;
struct hub;
struct nodemetrics;

enum nodes_lookup {
	NODES_FOUND = 0,
	NODES_UNKNOWN,     /* no live node has that id or name */
	NODES_AMBIGUOUS,   /* several live nodes have that name: the id is needed */
	NODES_FAILED,      /* the store could not be read */
};

/* The live (not deleted) node whose id, or else whose name, is ref, into
 * *out. Anything but NODES_FOUND leaves a one-line reason in err. */
enum nodes_lookup nodes_find(struct store *st, const char *ref, struct store_node *out,
			     char *err, size_t err_size);

/* Revokes node id: its row is marked deleted, so its certificate is refused
 * from now on; its live connection is closed with reason and its metrics
 * dropped (nm may be NULL). Returns 1 revoked, 0 no such live node, -1 the
 * store failed (nothing else done). */
int nodes_revoke(struct store *st, struct hub *hub, struct nodemetrics *nm, const char *id,
		 const char *reason);

#endif
