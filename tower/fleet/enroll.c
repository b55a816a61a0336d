/* enroll.c — turns a one-time join token + CSR into a node certificate.
 * Owns token format and checking; the CA keys live in ca.c, rows in store.c. */
#include "tower/fleet/enroll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/store/store.h"

int enroll_role_valid(const char *role)
{
	size_t len = role ? strlen(role) : 0;

	if (len == 0 || len >= STORE_ROLE_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = role[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return role[0] != '-';
}

int enroll_create_token(struct store *st, const char *role, int64_t ttl, int64_t uses,
			char *token_out, char *err, size_t err_size)
{
	uint8_t id_raw[ENROLL_TOKEN_ID_HEX / 2], secret_raw[ENROLL_TOKEN_SECRET_HEX / 2];
	char id[ENROLL_TOKEN_ID_HEX + 1], secret[ENROLL_TOKEN_SECRET_HEX + 1], hash[65];
	int64_t now = util_now();

	if (!enroll_role_valid(role)) {
		snprintf(err, err_size, "role must be 1-63 characters of a-z, 0-9 and '-'");
		return -1;
	}
	if (ttl < 1 || ttl > 365LL * 86400) {
		snprintf(err, err_size, "ttl must be between 1s and 365d");
		return -1;
	}
	if (uses < 1 || uses > 1000000) {
		snprintf(err, err_size, "uses must be between 1 and 1000000");
		return -1;
	}
	if (util_random(id_raw, sizeof(id_raw)) != 0 ||
	    util_random(secret_raw, sizeof(secret_raw)) != 0) {
		snprintf(err, err_size, "no random bytes from the kernel");
		return -1;
	}
	util_hex(id_raw, sizeof(id_raw), id);
	util_hex(secret_raw, sizeof(secret_raw), secret);
	util_sha256_hex(secret, strlen(secret), hash);
	if (store_token_insert(st, id, hash, role, now, now + ttl, uses) != 0) {
		snprintf(err, err_size, "cannot store the token");
		return -1;
	}
	snprintf(token_out, ENROLL_TOKEN_LEN + 1, "%s.%s", id, secret);
	return 0;
}

/* Splits "<12 hex>.<32 hex>"; anything else is simply an unknown token. */
static int token_split(const char *token, char *id, char *secret)
{
	if (token == NULL || strlen(token) != ENROLL_TOKEN_LEN || token[ENROLL_TOKEN_ID_HEX] != '.')
		return -1;
	for (size_t i = 0; i < ENROLL_TOKEN_LEN; i++) {
		char c = token[i];
		if (i == ENROLL_TOKEN_ID_HEX)
			continue;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
	}
	memcpy(id, token, ENROLL_TOKEN_ID_HEX);
	id[ENROLL_TOKEN_ID_HEX] = '\0';
	memcpy(secret, token + ENROLL_TOKEN_ID_HEX + 1, ENROLL_TOKEN_SECRET_HEX);
	secret[ENROLL_TOKEN_SECRET_HEX] = '\0';
	return 0;
}

int enroll_sign(struct ca *ca, const char *token, const char *csr_pem, int64_t validity_s,
		struct enroll_issue *out, char *err, size_t err_size)
{
	char id[ENROLL_TOKEN_ID_HEX + 1], secret[ENROLL_TOKEN_SECRET_HEX + 1];
	uint8_t node_raw[8];

	memset(out, 0, sizeof(*out));
	/* Shape only: a token that cannot be ours costs no signature. */
	if (token_split(token, id, secret) != 0) {
		snprintf(err, err_size, "unknown token");
		return -1;
	}
	if (util_random(node_raw, sizeof(node_raw)) != 0) {
		snprintf(err, err_size, "no random bytes from the kernel");
		return -1;
	}
	memcpy(out->node_id, "n-", 2);
	util_hex(node_raw, sizeof(node_raw), out->node_id + 2);
	return ca_sign_csr(ca, csr_pem, strlen(csr_pem) + 1, out->node_id, validity_s,
			   &out->cert_pem, out->serial, sizeof(out->serial), err, err_size);
}

int enroll_record(struct store *st, const char *token, const char *hostname, int64_t now,
		  const struct enroll_issue *is, char *err, size_t err_size)
{
	char id[ENROLL_TOKEN_ID_HEX + 1], secret[ENROLL_TOKEN_SECRET_HEX + 1], hash[65];
	char role[STORE_ROLE_MAX];

	if (token_split(token, id, secret) != 0) {
		snprintf(err, err_size, "unknown token");
		return -1;
	}
	util_sha256_hex(secret, strlen(secret), hash);
	switch (store_enroll_node(st, id, hash, now, is->node_id, hostname, is->serial, role,
				  sizeof(role))) {
	case STORE_ENROLL_OK:
		return 0;
	case STORE_ENROLL_UNKNOWN_TOKEN:
		snprintf(err, err_size, "unknown token");
		return -1;
	case STORE_ENROLL_EXPIRED:
		snprintf(err, err_size, "token expired");
		return -1;
	case STORE_ENROLL_USED_UP:
		snprintf(err, err_size, "token already used");
		return -1;
	default:
		snprintf(err, err_size, "internal error while enrolling");
		return -1;
	}
}

void enroll_issue_clear(struct enroll_issue *is)
{
	free(is->cert_pem);
	memset(is, 0, sizeof(*is));
}

int enroll_node(struct store *st, struct ca *ca, const char *token, const char *csr_pem,
		const char *hostname, int64_t now, int64_t validity_s, char *node_id_out,
		size_t node_id_size, char **cert_pem, char *err, size_t err_size)
{
	struct enroll_issue is;

	*cert_pem = NULL;
	if (enroll_sign(ca, token, csr_pem, validity_s, &is, err, err_size) != 0 ||
	    enroll_record(st, token, hostname, now, &is, err, err_size) != 0) {
		enroll_issue_clear(&is);
		return -1;
	}
	snprintf(node_id_out, node_id_size, "%s", is.node_id);
	*cert_pem = is.cert_pem;
	return 0;
}
