/* tokens.c — the tokens table: join tokens (only the sha256 of the secret part
 * is kept), inserting one and taking a use at enrollment. Hashing is enroll's. */
#include "tower/store/store_int.h"

#include <string.h>

#include "shared/log.h"
#include "shared/util.h"

const struct store_sql store_tokens_sql[] = {
	{ ST_TOKEN_INSERT, "INSERT INTO tokens (id, secret_hash, role, created_at, expires_at,"
			   " uses_left) VALUES (?1, ?2, ?3, ?4, ?5, ?6)" },
	{ ST_TOKEN_GET, "SELECT secret_hash, role, expires_at, uses_left FROM tokens WHERE id = ?1" },
	{ ST_TOKEN_TAKE, "UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?1 AND uses_left > 0" },
	{ ST_COUNT, NULL },
};

int store_token_insert(struct store *st, const char *id, const char *secret_hash,
		       const char *role, int64_t created_at, int64_t expires_at, int64_t uses)
{
	if (st == NULL || !store_id_ok(id) || !store_hash_ok(secret_hash) ||
	    !store_str_fits(role, STORE_ROLE_MAX) || role[0] == '\0' || uses < 1) {
		log_error("store: insert token: bad arguments");
		return -1;
	}
	return store_exec(st, ST_TOKEN_INSERT, "insert token",
			  STORE_ARGS(arg_id(id), arg_text(secret_hash), arg_text(role),
				     arg_int(created_at), arg_int(expires_at), arg_int(uses))) == 1
		       ? 0 : -1;
}

/* Looks the token up, checks it and takes a use; inside a transaction. */
enum store_enroll_result store_token_take(struct store *st, const char *token_id,
					  const char *secret_hash, int64_t now,
					  char *role, size_t role_size)
{
	struct store_q *s;
	char want[STORE_HASH_LEN], have[STORE_HASH_LEN];
	const char *stored;
	size_t stored_len;
	int64_t expires_at, uses_left;
	bool hash_same;
	int rc;

	s = store_bound(st, ST_TOKEN_GET, "look up token", STORE_ARGS(arg_id(token_id)));
	if (s == NULL)
		return STORE_ENROLL_ERROR;
	rc = store_step(s);
	if (rc == STORE_DONE) {
		store_stmt_done(s);
		return STORE_ENROLL_UNKNOWN_TOKEN;
	}
	if (rc != STORE_ROW) {
		store_log(st, "look up token", token_id);
		store_stmt_done(s);
		return STORE_ENROLL_ERROR;
	}
	/* Fixed-size buffers so the compare takes the same time whatever the
	 * stored value is; secret_hash was checked to be STORE_HASH_LEN long. */
	memset(have, 0, sizeof(have));
	memcpy(want, secret_hash, sizeof(want));
	stored = s->be->column_text(s, 0, &stored_len);
	hash_same = stored != NULL && stored_len == STORE_HASH_LEN;
	if (hash_same)
		memcpy(have, stored, sizeof(have));
	hash_same = (util_consttime_cmp(want, have, sizeof(want)) == 0) && hash_same;
	store_column_copy(s, 1, role, role_size);
	expires_at = store_col_int(s, 2);
	uses_left = store_col_int(s, 3);
	store_stmt_done(s);

	if (!hash_same)
		return STORE_ENROLL_UNKNOWN_TOKEN;
	if (now >= expires_at)
		return STORE_ENROLL_EXPIRED;
	if (uses_left <= 0)
		return STORE_ENROLL_USED_UP;

	rc = store_exec(st, ST_TOKEN_TAKE, "take token use", STORE_ARGS(arg_id(token_id)));
	if (rc < 0)
		return STORE_ENROLL_ERROR;
	return rc == 1 ? STORE_ENROLL_OK : STORE_ENROLL_USED_UP;
}
