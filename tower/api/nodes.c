/* nodes.c — the API's /v1/nodes: the enrolled nodes with their connection
 * state and latest figures, and deleting one (which revokes its certificate). */
#include <stdbool.h>

#include "shared/log.h"
#include "tower/api/api_int.h"
#include "tower/fleet/hub.h"
#include "tower/fleet/nodes.h"
#include "tower/metrics/nodemetrics.h"
#include "tower/store/store.h"
#include "tower/tower.h"

static int node_to_json(const struct store_node *n, void *arg)
{
	struct api_ctx *ctx = ((void **)arg)[0];
	json_t *list = ((void **)arg)[1];
	bool connected = hub_node_connected_anywhere(ctx->tower->hub, n);
	struct node_figures row;
	const struct node_figures *f = nodemetrics_for_row(ctx->tower->nodemetrics, n,
							   hub_node_connected(ctx->tower->hub, n->id),
							   &row);

	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:o?, s:o}",
		"id", n->id, "name", n->name, "arch", n->arch[0] ? n->arch : "unknown",
		"role", n->role, "state", connected ? "connected" : "disconnected",
		"os", n->os[0] ? n->os : NULL, "kernel", n->kernel[0] ? n->kernel : NULL,
		"cpus", (json_int_t)n->cpus, "mem_total", (json_int_t)n->mem_total,
		"last_seen", n->last_seen ? json_integer(n->last_seen) : NULL,
		"metrics", f != NULL ? nodemetrics_figures_json(f) : json_null()));
	return 0;
}

/* GET /v1/nodes */
void api_nodes_list(struct api_ctx *ctx)
{
	json_t *list = json_array();
	void *pass[2] = {ctx, list};

	if (store_node_foreach(ctx->tower->store, node_to_json, pass) != 0) {
		json_decref(list);
		api_reply_error(ctx, 500, "cannot read nodes", NULL);
		return;
	}
	api_reply_json(ctx, 200, list);
}

/* DELETE /v1/nodes/{id} */
void api_node_delete(struct api_ctx *ctx)
{
	const char *id = ctx->id;
	int r = nodes_revoke(ctx->tower->store, ctx->tower->hub, ctx->tower->nodemetrics, id,
			     "node deleted: certificate revoked");

	if (r < 0) {
		api_reply_error(ctx, 500, "cannot delete node", NULL);
		return;
	}
	if (r == 0) {
		api_reply_error(ctx, 404, "no such node", id);
		return;
	}
	log_info("api %s: node %s deleted, its certificate is revoked", ctx->peer, id);
	api_reply_json(ctx, 200, json_pack("{s:s, s:s}", "id", id, "state", "deleted"));
}
