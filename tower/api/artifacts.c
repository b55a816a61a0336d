/* artifacts.c — what a booting node fetches from the API: the agent binary
 * (public, streamed from its file) and a new node's cloud-init user-data. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/log.h"
#include "tower/api/api_int.h"
#include "tower/api/httpd.h"
#include "tower/boot/artifacts.h"
#include "tower/boot/userdata.h"
#include "tower/engine/role.h"
#include "tower/engine/workflow.h"
#include "tower/fleet/enroll.h"
#include "tower/tower.h"

#define API_USERDATA_TOKEN_TTL 3600   /* the token inside a rendered user-data */

/* Public like ca.pem: a booting node has no admin token, and the binary is
 * no secret. The node checks the bytes against the sha256 in its
 * user-data; the header lets anyone else check the transfer.
 * GET /v1/artifacts/agent/{arch} */
void api_agent_artifact_get(struct api_ctx *ctx)
{
	const char *arch = ctx->id;
	char err[512], path[PATH_MAX], sha256_hex[65];
	struct stat st;
	int fd;

	if (!artifacts_arch_known(arch)) {
		api_reply_error(ctx, 404, "no agent for this architecture", "known: x86_64, aarch64, armv7");
		return;
	}
	if (artifacts_agent_sha256(ctx->tower->artifacts, arch, path, sha256_hex, err,
				   sizeof(err)) != 0) {
		bool missing = errno == ENOENT;
		log_warn("api %s: agent for %s: %s", ctx->peer, arch, err);
		api_reply_error(ctx, missing ? 404 : 500,
			    missing ? "no agent binary for this architecture on this tower"
				    : "cannot read the agent binary", arch);
		return;
	}
	/* Sent from the file as the client reads, not built in memory: a
	 * client that asks many times and never reads holds no copies. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > ARTIFACTS_MAX_BYTES) {
		log_warn("api %s: agent for %s: cannot open %s: %s", ctx->peer, arch, path,
			 fd < 0 ? strerror(errno) : "not a regular file of a sane size");
		if (fd >= 0)
			close(fd);
		api_reply_error(ctx, 500, "cannot read the agent binary", arch);
		return;
	}
	if (http_write_head(ctx->out, 200, "application/octet-stream", "X-Checksum-Sha256",
			    sha256_hex, (uint64_t)st.st_size, ctx->keep_alive) != 0) {
		close(fd);
		api_reply_error(ctx, 500, "cannot encode response", NULL);
		return;
	}
	ctx->ex->body_fd = fd;
	ctx->ex->body_len = (uint64_t)st.st_size;
	log_info("api %s: agent for %s sent (%lld bytes, sha256 %.12s...)", ctx->peer, arch,
		 (long long)st.st_size, sha256_hex);
}

/* {"role", "arch"} -> the user-data (text/yaml) of a new node, with a fresh
 * single-use token that expires in an hour. POST /v1/userdata */
void api_userdata_post(struct api_ctx *ctx)
{
	struct tower *t = ctx->tower;
	json_t *body = api_body_object(ctx), *v;
	const struct role *role = NULL;
	const char *key, *role_name, *arch = "x86_64";
	char err[512], path[PATH_MAX], sha256_hex[65], token[ENROLL_TOKEN_LEN + 1];
	char *text = NULL;
	size_t len = 0;

	if (body == NULL)
		return;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "role") != 0 && strcmp(key, "arch") != 0) {
			snprintf(err, sizeof(err), "unknown field \"%.64s\" (known: role, arch)", key);
			api_reply_error(ctx, 400, err, NULL);
			goto out;
		}
	}
	role_name = json_string_value(json_object_get(body, "role"));
	if (role_name == NULL || !enroll_role_valid(role_name)) {
		api_reply_error(ctx, 400, "field \"role\" must be a role name (a-z, 0-9, '-')", NULL);
		goto out;
	}
	role = t->roles ? role_set_find(t->roles, role_name) : NULL;
	if (role == NULL && (t->workflow == NULL || !workflow_has_group_role(t->workflow, role_name))) {
		api_reply_error(ctx, 400, "field \"role\": no such role", role_name);
		goto out;
	}
	v = json_object_get(body, "arch");
	if (v != NULL && !json_is_null(v))
		arch = json_string_value(v);
	if (arch == NULL || !artifacts_arch_known(arch)) {
		api_reply_error(ctx, 400, "field \"arch\" must be x86_64, aarch64 or armv7", NULL);
		goto out;
	}
	if (role != NULL && !role_supports_arch(role, arch)) {
		snprintf(err, sizeof(err), "role %s does not run on %s", role_name, arch);
		api_reply_error(ctx, 400, err, NULL);
		goto out;
	}
	/* Before a token is made for nothing: the node could not get its agent. */
	if (artifacts_agent_sha256(t->artifacts, arch, path, sha256_hex, err, sizeof(err)) != 0) {
		api_reply_error(ctx, 409, err, NULL);
		goto out;
	}
	if (enroll_create_token(t->store, role_name, API_USERDATA_TOKEN_TTL, 1, token, err,
				sizeof(err)) != 0) {
		api_reply_error(ctx, 500, err, NULL);
		goto out;
	}
	text = userdata_for_tower(t, token, role_name, arch, NULL, &len, err, sizeof(err));
	if (text == NULL) {
		log_error("api %s: user-data for %s/%s: %s", ctx->peer, role_name, arch, err);
		api_reply_error(ctx, 500, "cannot render the user-data", err);
		goto out;
	}
	log_info("api %s: user-data for role %s on %s with token %.*s... (%zu bytes)", ctx->peer,
		 role_name, arch, ENROLL_TOKEN_ID_HEX, token, len);
	http_write_response(ctx->out, 200, "text/yaml; charset=utf-8", text, len, ctx->keep_alive);
	explicit_bzero(text, len);
out:
	explicit_bzero(token, sizeof(token));
	free(text);
	json_decref(body);
}
