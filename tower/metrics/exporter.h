/* exporter.h — what the tower tells Prometheus: GET /metrics (its own health
 * and every node's figures) and GET /v1/sd/prometheus (http_sd targets). */
#ifndef OC_EXPORTER_H
#define OC_EXPORTER_H

#include <jansson.h>

struct evbuffer;
struct tower;

/* The node-exporter port the discovery answer names for every node. */
#define EXPORTER_NODE_PORT 9100

/* Writes the whole /metrics page (PROMTEXT_CONTENT_TYPE) into out.
 * Returns 0, or -1 when the store cannot be read. */
int exporter_metrics(struct tower *t, struct evbuffer *out);
/* The http_sd_config answer: [{"targets": ["HOST:9100"], "labels": {"node",
 * "name","role","arch","overcloud"}}], one group per connected node, at the
 * address its agent connects from. NULL when the store cannot be read. */
json_t *exporter_sd_targets(struct tower *t);

#endif
