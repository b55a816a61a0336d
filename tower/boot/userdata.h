/* userdata.h — the cloud-init user-data a new node boots with: the template
 * in cloud-init/ with this node's values, emitted as YAML by libfyaml. */
#ifndef OC_USERDATA_H
#define OC_USERDATA_H

#include <stddef.h>
#include <stdint.h>

struct tower;

#define USERDATA_MAX_BYTES 16384          /* AWS's limit on UserData */
#define USERDATA_TEMPLATE "user-data.yaml" /* in the template dir */

struct userdata_params {
	const char *template_dir;  /* cloud-init/: user-data.yaml and the files it names */
	const char *tower_host;    /* what the node dials, for both ports */
	uint16_t agent_port;
	/* Every tower replica's agent address (host:port, comma-separated) for
	 * join.conf's tower; NULL or "": tower_host with agent_port. */
	const char *towers;
	uint16_t api_port;         /* where it downloads the agent */
	const char *ca_pem;        /* the tower's CA certificate */
	const char *ca_pin;        /* "sha256:<64 hex>" of the CA key */
	const char *join_token;    /* single-use, short-lived */
	const char *role;
	const char *arch;          /* x86_64, aarch64, armv7 */
	const char *agent_sha256;  /* 64 hex: what the node must download for arch */
	const char *node_name;     /* may be NULL */
	int64_t token_expires;     /* unix time; 0: not written (the node assumes 1 h) */
};

/* The lifetime of the token a rendered user-data carries (api.c and
 * workflow.c mint it with this TTL); join.conf says when it ends, so that the
 * node's install script stops trying in time and says why. */
#define USERDATA_TOKEN_TTL_S 3600

/* Renders the template with p's values: every scalar that is exactly
 * ${ca_pem}, ${join_conf} or ${file:NAME} (a file next to the template)
 * becomes that text. The result starts with "#cloud-config" and is at most
 * USERDATA_MAX_BYTES. Returns a NUL-terminated string (caller frees) with
 * its length in *len, or NULL with a one-line reason in err. */
char *userdata_render(const struct userdata_params *p, size_t *len, char *err, size_t err_size);

/* The same with what the running tower knows (its address, CA, templates,
 * the agent binary's checksum for arch); token was minted for this node. */
char *userdata_for_tower(struct tower *t, const char *token, const char *role, const char *arch,
			 const char *node_name, size_t *len, char *err, size_t err_size);

#endif
