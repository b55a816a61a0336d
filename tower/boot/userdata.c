/* userdata.c — renders a node's cloud-init user-data: loads the template
 * (cloud-init/user-data.yaml), puts this node's values where it has
 * ${placeholders} and emits the document with libfyaml. What the node then
 * does is the install script's (cloud-init/install-agent.sh). */
#include "tower/boot/userdata.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "shared/util.h"
#include "tower/boot/artifacts.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/tower.h"
#include "tower/engine/yamldoc.h"
#include "tower/engine/lease.h"

#define USERDATA_FILE_MAX (12 * 1024)   /* one ${file:NAME}; the whole is capped anyway */

struct render {
	const struct userdata_params *p;
	const struct yamldoc *doc;
	struct yamldoc_file *tf;   /* the template, filled in place */
	char join_conf[2048];
};

/* ---- checking the values: they end up in files a shell script reads ---- */

static bool chars_ok(const char *s, size_t min, size_t max, const char *extra)
{
	size_t n = s ? strlen(s) : 0;

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
			return false;
	return true;
}

static bool hex_ok(const char *s, size_t n)
{
	if (s == NULL || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && (s[i] < 'a' || s[i] > 'f'))
			return false;
	return true;
}

static int check_params(const struct userdata_params *p, char *err, size_t err_size)
{
	const char *bad = NULL;

	if (p->template_dir == NULL || p->template_dir[0] == '\0')
		bad = "no template dir";
	else if (!chars_ok(p->tower_host, 1, 253, ".-:[]_"))
		bad = "tower host must be a host name or address";
	else if (p->agent_port == 0 || p->api_port == 0)
		bad = "tower ports must not be 0";
	else if (p->ca_pem == NULL || strncmp(p->ca_pem, "-----BEGIN CERTIFICATE-----", 27) != 0)
		bad = "CA certificate must be PEM";
	else if (p->ca_pin == NULL || strncmp(p->ca_pin, "sha256:", 7) != 0 || !hex_ok(p->ca_pin + 7, 64))
		bad = "CA pin must be sha256:<64 hex>";
	else if (!chars_ok(p->join_token, 1, 128, "._-"))
		bad = "join token must be [A-Za-z0-9._-]";
	else if (p->role == NULL || !enroll_role_valid(p->role))
		bad = "role must be a role name (a-z, 0-9, '-')";
	else if (!artifacts_arch_known(p->arch))
		bad = "arch must be x86_64, aarch64 or armv7";
	else if (!hex_ok(p->agent_sha256, 64))
		bad = "agent checksum must be 64 lower-case hex";
	else if (p->node_name != NULL && !chars_ok(p->node_name, 1, 63, "._-"))
		bad = "node name must be 1..63 of [A-Za-z0-9._-]";
	if (bad == NULL)
		return 0;
	snprintf(err, err_size, "user-data: %s", bad);
	return -1;
}

/* "h:port", or "[v6]:port" for a bare IPv6 literal. */
static void host_port(char *out, size_t size, const char *host, uint16_t port)
{
	bool v6 = strchr(host, ':') != NULL && host[0] != '[';

	snprintf(out, size, "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* /etc/overcloud/join.conf: what the install script needs (see
 * USERDATA-CONTRACT.md), one "key = value" per line and nothing else, so
 * that the simplest reader of it works. */
static void build_join_conf(struct render *r)
{
	const struct userdata_params *p = r->p;
	char tower[1024], api[300], expires[48] = "";

	if (p->towers != NULL && p->towers[0] != '\0')
		snprintf(tower, sizeof(tower), "%s", p->towers);
	else
		host_port(tower, sizeof(tower), p->tower_host, p->agent_port);
	host_port(api, sizeof(api), p->tower_host, p->api_port);
	if (p->token_expires > 0)
		snprintf(expires, sizeof(expires), "token_expires = %lld\n", (long long)p->token_expires);
	snprintf(r->join_conf, sizeof(r->join_conf),
		 "tower = %s\napi = %s\ntoken = %s\n%sca_hash = %s\nrole = %s\narch = %s\n"
		 "agent_sha256 = %s\n%s%s%s",
		 tower, api, p->join_token, expires, p->ca_pin, p->role, p->arch, p->agent_sha256,
		 p->node_name ? "name = " : "", p->node_name ? p->node_name : "",
		 p->node_name ? "\n" : "");
}

/* ---- filling in the template ---- */

/* A scalar node holding exactly value, in the style a person reads best:
 * literal when it has lines, else double-quoted (so "0644" or "true" stay
 * strings). libfyaml 0.7's document API cannot set a node's style, and its
 * event emitter writes block sequences of mappings as flow (libfyaml issue
 * 58), so the scalar alone goes through the event emitter and is parsed
 * back into the document; the round trip is checked. */
static struct fy_node *value_node(struct render *r, const char *value, size_t len, int line)
{
	enum fy_scalar_style style = memchr(value, '\n', len) ? FYSS_LITERAL : FYSS_DOUBLE_QUOTED;
	struct fy_emitter *emit = fy_emit_to_string(FYECF_MODE_BLOCK | FYECF_INDENT_2 |
						    FYECF_WIDTH_INF);
	struct fy_node *n = NULL;
	const char *back;
	size_t text_len = 0, back_len = 0;
	char *text = NULL;

	if (emit != NULL &&
	    fy_emit_event(emit, fy_emit_event_create(emit, FYET_STREAM_START)) == 0 &&
	    fy_emit_event(emit, fy_emit_event_create(emit, FYET_DOCUMENT_START, 1, NULL, NULL)) == 0 &&
	    fy_emit_event(emit, fy_emit_event_create(emit, FYET_SCALAR, style, value, len, NULL,
						     NULL)) == 0 &&
	    fy_emit_event(emit, fy_emit_event_create(emit, FYET_DOCUMENT_END, 1)) == 0 &&
	    fy_emit_event(emit, fy_emit_event_create(emit, FYET_STREAM_END)) == 0)
		text = fy_emit_to_string_collect(emit, &text_len);
	if (emit != NULL)
		fy_emitter_destroy(emit);
	/* The document owns text from here on. */
	if (text != NULL)
		n = fy_node_build_from_malloc_string(fy_node_document(yamldoc_root(r->tf)), text, FY_NT);
	back = n ? fy_node_get_scalar(n, &back_len) : NULL;
	if (back == NULL || back_len != len || memcmp(back, value, len) != 0) {
		fy_node_free(n);
		yamldoc_err(r->doc, line, "cannot put the value in YAML");
		return NULL;
	}
	return n;
}

static struct fy_node *file_node(struct render *r, const char *name, int line)
{
	char path[PATH_MAX];
	struct fy_node *n;
	size_t len;
	char *text;

	if (!chars_ok(name, 1, 64, "._-") || name[0] == '.') {
		yamldoc_err(r->doc, line, "${file:%.64s}: name a file in the template dir", name);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", r->p->template_dir, name);
	text = util_read_file(path, USERDATA_FILE_MAX, &len);
	if (text == NULL) {
		yamldoc_err(r->doc, line, "${file:%s}: %s: %s", name, path,
			    errno == EFBIG ? "over 12 KiB" : strerror(errno));
		return NULL;
	}
	if (strlen(text) != len) {
		free(text);
		yamldoc_err(r->doc, line, "${file:%s}: has a NUL byte", name);
		return NULL;
	}
	n = value_node(r, text, len, line);
	free(text);
	return n;
}

static bool is_placeholder(struct fy_node *n)
{
	enum fy_node_style style = fy_node_get_style(n);
	size_t len = 0;
	const char *s = fy_node_is_scalar(n) ? fy_node_get_scalar(n, &len) : NULL;

	return s != NULL && len >= 3 && s[0] == '$' && s[1] == '{' && s[len - 1] == '}' &&
	       style != FYNS_LITERAL && style != FYNS_FOLDED;
}

/* The node a ${name} stands for. */
static struct fy_node *placeholder_node(struct render *r, struct fy_node *n, int line)
{
	size_t len;
	const char *s = fy_node_get_scalar(n, &len);
	char name[80];

	if (len - 3 >= sizeof(name)) {
		yamldoc_err(r->doc, line, "placeholder too long");
		return NULL;
	}
	memcpy(name, s + 2, len - 3);
	name[len - 3] = '\0';
	if (strcmp(name, "ca_pem") == 0)
		return value_node(r, r->p->ca_pem, strlen(r->p->ca_pem), line);
	if (strcmp(name, "join_conf") == 0)
		return value_node(r, r->join_conf, strlen(r->join_conf), line);
	if (strncmp(name, "file:", 5) == 0)
		return file_node(r, name + 5, line);
	yamldoc_err(r->doc, line, "unknown placeholder ${%s} (known: ca_pem, join_conf, file:NAME)",
		    name);
	return NULL;
}

/* Replaces, in place, every placeholder that is a mapping value. Anchors,
 * aliases and tags would hide what the node gets: the template may not use
 * them, nor placeholders anywhere else. */
static int fill_node(struct render *r, struct fy_node *n, int depth)
{
	int line = yamldoc_node_line(n, 0);
	struct fy_node_pair *pair;
	struct fy_node *child, *value;
	void *it = NULL;
	size_t len;

	if (depth > 32 || fy_node_is_alias(n) || fy_node_get_tag(n, &len) != NULL ||
	    fy_node_get_anchor(n) != NULL) {
		yamldoc_err(r->doc, line, "the template may not use anchors, aliases or tags");
		return -1;
	}
	if (fy_node_is_sequence(n)) {
		while ((child = fy_node_sequence_iterate(n, &it)) != NULL) {
			if (is_placeholder(child)) {
				yamldoc_err(r->doc, line, "placeholders may only be mapping values");
				return -1;
			}
			if (fill_node(r, child, depth + 1) != 0)
				return -1;
		}
	} else if (fy_node_is_mapping(n)) {
		while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
			child = fy_node_pair_value(pair);
			if (fy_node_pair_key(pair) == NULL || child == NULL ||
			    is_placeholder(fy_node_pair_key(pair))) {
				yamldoc_err(r->doc, line, "keys and values may not be empty or placeholders");
				return -1;
			}
			if (!is_placeholder(child)) {
				if (fill_node(r, child, depth + 1) != 0)
					return -1;
				continue;
			}
			value = placeholder_node(r, child, yamldoc_node_line(child, line));
			if (value == NULL)
				return -1;
			if (fy_node_pair_set_value(pair, value) != 0) {
				fy_node_free(value);
				yamldoc_err(r->doc, line, "cannot put the value in YAML");
				return -1;
			}
		}
	}
	return 0;
}

/* The template must itself be cloud-config: "#cloud-config" on line one. */
static int check_header(const char *path, char *err, size_t err_size)
{
	char line[32] = "";
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL || strncmp(line, "#cloud-config\n", 14) != 0) {
		fclose(f);
		snprintf(err, err_size, "%s:1: must start with a #cloud-config line", path);
		return -1;
	}
	fclose(f);
	return 0;
}

char *userdata_render(const struct userdata_params *p, size_t *len, char *err, size_t err_size)
{
	static const char header[] = "#cloud-config\n";
	char path[PATH_MAX];
	struct yamldoc doc = {.file = path, .err = err, .err_size = err_size};
	struct render r = {.p = p, .doc = &doc};
	char *body = NULL, *out = NULL;
	size_t body_len;

	if (check_params(p, err, err_size) != 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", p->template_dir, USERDATA_TEMPLATE);
	if (check_header(path, err, err_size) != 0)
		return NULL;
	r.tf = yamldoc_load(&doc);
	if (r.tf == NULL)
		return NULL;
	build_join_conf(&r);
	if (fill_node(&r, yamldoc_root(r.tf), 0) != 0)
		goto out;
	/* Comments are dropped; the header is the one cloud-init looks for. */
	body = fy_emit_document_to_string(fy_node_document(yamldoc_root(r.tf)),
					  FYECF_MODE_BLOCK | FYECF_INDENT_2 | FYECF_WIDTH_INF);
	if (body == NULL) {
		snprintf(err, err_size, "cannot emit the user-data YAML");
		goto out;
	}
	body_len = strlen(body);
	if (sizeof(header) - 1 + body_len > USERDATA_MAX_BYTES) {
		snprintf(err, err_size, "user-data is %zu bytes, over the %d byte limit of AWS",
			 sizeof(header) - 1 + body_len, USERDATA_MAX_BYTES);
		goto out;
	}
	out = malloc(sizeof(header) + body_len);
	if (out == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	memcpy(out, header, sizeof(header) - 1);
	memcpy(out + sizeof(header) - 1, body, body_len + 1);
	*len = sizeof(header) - 1 + body_len;
out:
	if (body != NULL)
		explicit_bzero(body, strlen(body));
	free(body);
	yamldoc_free(r.tf);
	explicit_bzero(r.join_conf, sizeof(r.join_conf));
	return out;
}

char *userdata_for_tower(struct tower *t, const char *token, const char *role, const char *arch,
			 const char *node_name, size_t *len, char *err, size_t err_size)
{
	char path[PATH_MAX], sha256_hex[65], towers[1024] = "";
	struct userdata_params p = {
		.template_dir = t->cloud_init_dir,
		.tower_host = t->join_host,
		.towers = towers,
		.agent_port = t->agent_port,
		.api_port = t->api_port,
		.ca_pem = ca_cert_pem(t->ca),
		.ca_pin = ca_pin(t->ca),
		.join_token = token,
		.role = role,
		.arch = arch,
		.agent_sha256 = sha256_hex,
		.node_name = node_name,
		/* minted just now by the caller, for USERDATA_TOKEN_TTL_S */
		.token_expires = util_now() + USERDATA_TOKEN_TTL_S,
	};

	/* several replicas: the node knows them all (one tower: as before) */
	lease_agent_addresses(t->lease, towers, sizeof(towers));
	if (strchr(towers, ',') == NULL)
		towers[0] = '\0';
	if (t->cloud_init_dir == NULL) {
		snprintf(err, err_size, "no cloud-init template dir (tower serve --cloud-init DIR)");
		return NULL;
	}
	if (artifacts_agent_sha256(t->artifacts, arch, path, sha256_hex, err, err_size) != 0)
		return NULL;
	return userdata_render(&p, len, err, err_size);
}
