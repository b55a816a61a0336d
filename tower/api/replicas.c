/* replicas.c — GET /v1/replicas: the tower replicas sharing the database, which
 * one holds the leader lease and how fresh it is (tower status). */
#include <stdlib.h>
#include <string.h>

#include "tower/api/api_int.h"
#include "tower/engine/lease.h"
#include "tower/store/store.h"
#include "tower/tower.h"

void api_replicas_get(struct api_ctx *ctx)
{
	struct lease_status *ls = calloc(1, sizeof(*ls));
	json_t *list, *body;

	if (ls == NULL || lease_status(ctx->tower->lease, ls) != 0) {
		free(ls);
		api_reply_error(ctx, 500, "cannot read the lease", NULL);
		return;
	}
	list = json_array();
	for (int i = 0; i < ls->count; i++) {
		const struct store_replica *r = &ls->replicas[i];

		json_array_append_new(list, json_pack(
			"{s:s, s:s, s:s, s:b, s:I, s:f}", "id", r->id, "api", r->api, "agents",
			r->agents, "leader", ls->lease_live && strcmp(r->id, ls->lease.holder) == 0,
			"started_at", (json_int_t)(r->started_ms / 1000), "seen_age_s",
			(double)(r->now_ms - r->seen_ms) / 1000.0));
	}
	body = json_pack("{s:s, s:b, s:s?, s:I, s:f, s:f, s:I, s:o}", "this", ls->self, "shared",
			 store_is_shared(ctx->tower->store), "leader",
			 ls->lease_live ? ls->lease.holder : NULL, "token", (json_int_t)ls->lease.token,
			 "lease_age_s", ls->lease.renewed_ms > 0
				? (double)(ls->lease.now_ms - ls->lease.renewed_ms) / 1000.0 : 0.0,
			 "lease_expires_in_s", ls->lease.expires_ms > 0
				? (double)(ls->lease.expires_ms - ls->lease.now_ms) / 1000.0 : 0.0,
			 "lease_ttl_s", (json_int_t)(lease_ttl_ms(ctx->tower->lease) / 1000), "replicas",
			 list);
	free(ls);
	api_reply_json(ctx, 200, body);
}
