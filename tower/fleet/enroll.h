/* enroll.h — turns a one-time join token + CSR into a node certificate.
 * Owns token format and checking; the CA keys live in ca.c, rows in store.c. */
#ifndef OC_ENROLL_H
#define OC_ENROLL_H

#include <stddef.h>
#include <stdint.h>

struct ca;
struct store;

#define ENROLL_TOKEN_ID_HEX 12      /* public part: 6 random bytes */
#define ENROLL_TOKEN_SECRET_HEX 32  /* secret part: 16 random bytes */
#define ENROLL_TOKEN_LEN (ENROLL_TOKEN_ID_HEX + 1 + ENROLL_TOKEN_SECRET_HEX)
#define ENROLL_CERT_VALIDITY (30 * 86400)   /* default; tower serve --cert-ttl */

/* Makes a token "<id>.<secret>" for role, valid ttl seconds for uses
 * enrollments, and stores only the hash of its secret. token_out must hold
 * ENROLL_TOKEN_LEN + 1 bytes. Returns 0, or -1 with a reason in err. */
int enroll_create_token(struct store *st, const char *role, int64_t ttl, int64_t uses,
			char *token_out, char *err, size_t err_size);

/* Checks the token, signs the CSR and records the new node, all or nothing:
 * a refused CSR takes no use of the token. On success node_id_out (>= 40
 * bytes) names the node and *cert_pem (caller frees) is its certificate.
 * Returns 0, or -1 with a one-line reason for the log and the agent in err
 * ("unknown token", "token expired", "token already used", "csr: ..."). */
int enroll_node(struct store *st, struct ca *ca, const char *token, const char *csr_pem,
		const char *hostname, int64_t now, int64_t validity_s, char *node_id_out,
		size_t node_id_size, char **cert_pem, char *err, size_t err_size);

/* enroll_node in two halves, so the CPU-heavy one can run off the loop. */
struct enroll_issue {
	char node_id[40];
	char serial[48];
	char *cert_pem;     /* heap; freed by enroll_issue_clear */
};
/* Safe on any thread (touches only the CA): refuses a token of the wrong
 * shape, picks the node id and signs the CSR. 0, or -1 with err. */
int enroll_sign(struct ca *ca, const char *token, const char *csr_pem, int64_t validity_s,
		struct enroll_issue *out, char *err, size_t err_size);
/* On the store's thread: takes a use of the token and records the node the
 * issue names. 0, or -1 with err as enroll_node's. */
int enroll_record(struct store *st, const char *token, const char *hostname, int64_t now,
		  const struct enroll_issue *is, char *err, size_t err_size);
void enroll_issue_clear(struct enroll_issue *is);

/* True when s looks like a role name: [a-z0-9-], 1..63 chars. */
int enroll_role_valid(const char *role);

#endif
