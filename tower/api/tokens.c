/* tokens.c — the API's /v1/tokens: a join token for a role and the
 * `overcloud-agent join` line that uses it; tokens themselves are enroll.c's. */
#include <stdio.h>
#include <string.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/api/api_int.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/engine/lease.h"
#include "tower/tower.h"

#define API_DEFAULT_TOKEN_TTL 3600

/* POST /v1/tokens {"role", "ttl", "uses"} */
void api_tokens_post(struct api_ctx *ctx)
{
	struct tower *t = ctx->tower;
	char token[ENROLL_TOKEN_LEN + 1], err[160], join[2048], towers[1024];
	json_t *body = api_body_object(ctx), *role;
	int64_t ttl, uses;

	if (body == NULL)
		return;
	role = json_object_get(body, "role");
	if (!json_is_string(role) || !enroll_role_valid(json_string_value(role))) {
		api_reply_error(ctx, 400, "field \"role\" must be a role name (a-z, 0-9, '-')", NULL);
		goto out;
	}
	if (api_field_duration(body, "ttl", API_DEFAULT_TOKEN_TTL, &ttl) != 0) {
		api_reply_error(ctx, 400, "field \"ttl\" must be seconds or a duration like \"1h\"", NULL);
		goto out;
	}
	if (api_field_int(body, "uses", 1, &uses) != 0) {
		api_reply_error(ctx, 400, "field \"uses\" must be an integer", NULL);
		goto out;
	}
	if (enroll_create_token(t->store, json_string_value(role), ttl, uses, token, err,
				sizeof(err)) != 0) {
		api_reply_error(ctx, 400, err, NULL);
		goto out;
	}
	/* several replicas: the join line names them all (one tower: as before) */
	lease_agent_addresses(t->lease, towers, sizeof(towers));
	if (strchr(towers, ',') != NULL)
		snprintf(join, sizeof(join), "overcloud-agent join --tower %s --token %s --ca-hash %s",
			 towers, token, ca_pin(t->ca));
	else
		snprintf(join, sizeof(join), "overcloud-agent join --tower %s:%u --token %s --ca-hash %s",
			 t->join_host, t->agent_port, token, ca_pin(t->ca));
	log_info("api %s: join token %.*s... created for role %s, ttl %llds, %lld use(s)", ctx->peer,
		 ENROLL_TOKEN_ID_HEX, token, json_string_value(role), (long long)ttl,
		 (long long)uses);
	api_reply_json(ctx, 201, json_pack("{s:s, s:s, s:s, s:I, s:I}", "token", token, "join", join,
					   "role", json_string_value(role),
					   "expires_at", (json_int_t)(util_now() + ttl),
					   "uses", (json_int_t)uses));
out:
	json_decref(body);
}
