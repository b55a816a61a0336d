/* metrics_sd.c — the API's Prometheus side: /metrics, the targets of
 * /v1/sd/prometheus and a node's history; the figures are exporter.c's. */
#include <event2/buffer.h>

#include "tower/api/api_int.h"
#include "tower/fleet/hub.h"
#include "tower/metrics/exporter.h"
#include "tower/metrics/nodemetrics.h"
#include "tower/metrics/promtext.h"
#include "tower/store/store.h"
#include "tower/tower.h"

/* GET /metrics */
void api_metrics_get(struct api_ctx *ctx)
{
	struct evbuffer *text = evbuffer_new();

	if (text == NULL || exporter_metrics(ctx->tower, text) != 0) {
		api_reply_error(ctx, 500, "cannot read the figures", NULL);
	} else {
		size_t len = evbuffer_get_length(text);
		http_write_response(ctx->out, 200, PROMTEXT_CONTENT_TYPE,
				    evbuffer_pullup(text, -1), len, ctx->keep_alive);
	}
	if (text != NULL)
		evbuffer_free(text);
}

/* GET /v1/sd/prometheus */
void api_sd_prometheus_get(struct api_ctx *ctx)
{
	json_t *groups = exporter_sd_targets(ctx->tower);

	if (groups == NULL)
		api_reply_error(ctx, 500, "cannot read nodes", NULL);
	else
		api_reply_json(ctx, 200, groups);
}

/* The history is the holding replica's own (memory only); "latest" is the
 * newest this replica knows, its own or the row's. */
static json_t *node_metrics_json(struct tower *tw, const struct store_node *n)
{
	json_t *doc = nodemetrics_history_json(tw->nodemetrics, n->id);
	struct node_figures row;
	const struct node_figures *f = nodemetrics_for_row(tw->nodemetrics, n,
							   hub_node_connected(tw->hub, n->id), &row);

	if (doc != NULL && f != NULL)
		json_object_set_new(doc, "latest", nodemetrics_figures_json(f));
	return doc;
}

/* GET /v1/nodes/{id}/metrics */
void api_node_metrics_get(struct api_ctx *ctx)
{
	struct store_node node;
	int found = store_node_get(ctx->tower->store, ctx->id, &node);

	if (found < 0)
		api_reply_error(ctx, 500, "cannot read nodes", NULL);
	else if (found == 0 || node.deleted)
		api_reply_error(ctx, 404, "no such node", ctx->id);
	else
		api_reply_json(ctx, 200, node_metrics_json(ctx->tower, &node));
}
