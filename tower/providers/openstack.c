/* openstack.c — the `openstack` provider: Nova servers booted from the tower's
 * cloud-init user-data. Owns Keystone auth, the token cache, HTTP calls with
 * retries, and the server life cycle; the bodies are read by openstack_parse.c. */

/* What it speaks (all documented API, nothing private):
 *   Keystone v3  POST {auth_url}/auth/tokens, password method, project scope;
 *                the token is the X-Subject-Token header, expiry and service
 *                catalog come from the body.
 *   Nova         (catalog type "compute") with `OpenStack-API-Version: compute
 *                2.37` on every call: GET /flavors/detail (pages by marker),
 *                POST /servers (networks is required from 2.37), GET
 *                /servers/{id}, GET /servers/detail?name=, DELETE /servers/{id}.
 *   Glance v2    (catalog type "image"): GET /v2/images/{id}, GET
 *                /v2/images?name= — not Nova's image proxy, which answers 404
 *                from microversion 2.36 on.
 *   Neutron      (catalog type "network"): GET /v2.0/networks?name= (or ?id=),
 *                for the same reason.
 * Settings come from [openstack] in tower.conf; the clouds' standard OS_*
 * environment variables override them:
 *   auth_url (OS_AUTH_URL; "/v3" is added when missing), username
 *   (OS_USERNAME), password (OS_PASSWORD), project_name (OS_PROJECT_NAME),
 *   user_domain_name / project_domain_name (OS_USER_DOMAIN_NAME /
 *   OS_PROJECT_DOMAIN_NAME, default "Default"), region_name (OS_REGION_NAME,
 *   default: any), interface (OS_INTERFACE, default public), cacert
 *   (OS_CACERT: a private CA), image and network (name or id, required),
 *   flavor (name or id, used when a create gives no size), boot_timeout
 *   (600s), delete_timeout (300s), poll_interval_ms (2000).
 * The handle of a node is its server id; servers carry the metadata
 * overcloud_id, overcloud_node and overcloud_group, and a destroy refuses a
 * server whose overcloud_id is not the one it was asked about.
 *
 * Secrets: the password and the tokens never go into a log line or an error;
 * every message from the cloud has the password masked (shared/mask.h: whole,
 * or a prefix or suffix of 8 or more characters) before it is cut to fit, and
 * is scrubbed (osp_scrub: tokens); both are zeroed when dropped. */
#include "tower/providers/provider.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <mbedtls/base64.h>

#include "shared/log.h"
#include "shared/mask.h"
#include "shared/util.h"
#include "tower/config.h"
#include "tower/httpclient.h"
#include "tower/providers/openstack_parse.h"

#define OS_SECTION "openstack"
#define OS_MICROVERSION "2.37"
#define OS_USER_DATA_MAX 65535        /* Nova's limit on the base64 text */
#define OS_TOKEN_MAX 8192
#define OS_BODY_MAX (8u << 20)
#define OS_TRIES 6                    /* attempts per call on 5xx/429/transport errors */
#define OS_BACKOFF_MS 250
#define OS_BACKOFF_CAP_MS 8000
#define OS_REFRESH_MARGIN_S 60        /* a token is renewed this long before it expires */
#define OS_FLAVOR_PAGES 50
#define OS_CALL_TIMEOUT_S 60L
#define OS_META_MAX 255

enum os_service { OS_COMPUTE, OS_IMAGE, OS_NETWORK };

static const char *const service_names[] = {"compute", "image", "network"};

struct os_ctx {
	/* settings, fixed after open */
	char *auth_url;               /* ends in /v3 */
	char *username, *password, *project, *user_domain, *project_domain;
	char *region, *interface, *image, *network, *flavor, *cacert;
	int64_t boot_timeout_ms, delete_timeout_ms, poll_ms;
	/* the token and the catalog that came with it */
	pthread_mutex_t lock;
	char *token;                  /* NULL until the first call */
	int64_t token_refresh_ms;     /* util_monotonic_ms() after which a new one is due */
	struct osp_catalog cat;
	struct mask *secrets;         /* the password: masked in what the cloud says */
};

struct os_resp {
	long status;
	char *body;                   /* NUL-terminated, at most OS_BODY_MAX */
	size_t len;
	bool want_subject_token;
	const struct mask *secrets;   /* the context's, for the error message */
	char subject_token[OS_TOKEN_MAX];
	int64_t retry_after_s;
	bool retry_after_known;       /* the answer had a Retry-After in seconds */
};

/* ---- small helpers ---- */

static void free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* err is about to leave the provider: no password, no token in it. The
 * cloud's own messages were masked whole before they were cut
 * (osp_error_message); this is the last look at the finished line. */
static void clean_err(const struct os_ctx *c, char *err)
{
	size_t size = strlen(err) + 1;
	char *masked;

	osp_scrub(err);
	if (mask_count(c->secrets) == 0)
		return;
	masked = mask_text(c->secrets, err);
	snprintf(err, size, "%s", masked ? masked : "(error withheld: out of memory masking it)");
	free(masked);
}

static void resp_reset(struct os_resp *r)
{
	bool want = r->want_subject_token;

	free(r->body);
	explicit_bzero(r->subject_token, sizeof(r->subject_token));
	memset(r, 0, sizeof(*r));
	r->want_subject_token = want;
}

static void resp_free(struct os_resp *r)
{
	resp_reset(r);
}

/* ---- settings ---- */

/* The environment variable wins over tower.conf; "" counts as unset. */
static const char *setting(const struct provider_env *env, const char *key, const char *var)
{
	const char *v = var ? getenv(var) : NULL;

	if (v != NULL && v[0] != '\0')
		return v;
	v = env->config ? config_get(env->config, OS_SECTION, key) : NULL;
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int dup_setting(char **out, const struct provider_env *env, const char *key,
		       const char *var, const char *def, char *err, size_t err_size)
{
	const char *v = setting(env, key, var);

	if (v == NULL)
		v = def;
	if (v == NULL) {
		snprintf(err, err_size, "openstack: no %s (set %s%s%s in [openstack] of tower.conf)",
			 key, var ? var : "", var ? " or " : "", key);
		return -1;
	}
	if ((*out = strdup(v)) == NULL) {
		snprintf(err, err_size, "openstack: out of memory");
		return -1;
	}
	return 0;
}

static int duration_setting(int64_t *out_ms, const struct provider_env *env, const char *key,
			    int64_t def_s, char *err, size_t err_size)
{
	const char *v = setting(env, key, NULL);
	int64_t s = def_s;

	if (v != NULL && (util_parse_duration(v, &s) != 0 || s < 1 || s > 86400)) {
		snprintf(err, err_size, "openstack: %s = \"%.40s\" is not a duration of 1s to 1d", key,
			 v);
		return -1;
	}
	*out_ms = s * 1000;
	return 0;
}

static void os_close(void *arg)
{
	struct os_ctx *c = arg;

	if (c == NULL)
		return;
	free(c->auth_url);
	free(c->username);
	free_secret(c->password);
	mask_free(c->secrets);
	free(c->project);
	free(c->user_domain);
	free(c->project_domain);
	free(c->region);
	free(c->interface);
	free(c->image);
	free(c->network);
	free(c->flavor);
	free(c->cacert);
	free_secret(c->token);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void *os_open(const struct provider_env *env, char *err, size_t err_size)
{
	struct os_ctx *c = calloc(1, sizeof(*c));
	const char *v;
	char *url = NULL;
	size_t len;

	if (c == NULL) {
		snprintf(err, err_size, "openstack: out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	if (dup_setting(&url, env, "auth_url", "OS_AUTH_URL", NULL, err, err_size) ||
	    dup_setting(&c->username, env, "username", "OS_USERNAME", NULL, err, err_size) ||
	    dup_setting(&c->password, env, "password", "OS_PASSWORD", NULL, err, err_size) ||
	    dup_setting(&c->project, env, "project_name", "OS_PROJECT_NAME", NULL, err, err_size) ||
	    dup_setting(&c->user_domain, env, "user_domain_name", "OS_USER_DOMAIN_NAME", "Default",
			err, err_size) ||
	    dup_setting(&c->project_domain, env, "project_domain_name", "OS_PROJECT_DOMAIN_NAME",
			"Default", err, err_size) ||
	    dup_setting(&c->region, env, "region_name", "OS_REGION_NAME", "", err, err_size) ||
	    dup_setting(&c->interface, env, "interface", "OS_INTERFACE", "public", err, err_size) ||
	    dup_setting(&c->image, env, "image", NULL, NULL, err, err_size) ||
	    dup_setting(&c->network, env, "network", NULL, NULL, err, err_size) ||
	    dup_setting(&c->flavor, env, "flavor", NULL, "", err, err_size) ||
	    dup_setting(&c->cacert, env, "cacert", "OS_CACERT", "", err, err_size) ||
	    duration_setting(&c->boot_timeout_ms, env, "boot_timeout", 600, err, err_size) ||
	    duration_setting(&c->delete_timeout_ms, env, "delete_timeout", 300, err, err_size))
		goto fail;
	if ((c->secrets = mask_new()) == NULL ||
	    mask_add(c->secrets, c->password, strlen(c->password)) != 0) {
		snprintf(err, err_size, "openstack: out of memory");
		goto fail;
	}
	/* Polling faster than a second is for tests against a local fake. */
	c->poll_ms = 2000;
	if ((v = setting(env, "poll_interval_ms", NULL)) != NULL &&
	    util_parse_int(v, 50, 60000, &c->poll_ms) != 0) {
		snprintf(err, err_size, "openstack: poll_interval_ms must be 50..60000");
		goto fail;
	}
	/* openstackclient's spellings of the interface work too */
	if (strcmp(c->interface, "publicURL") == 0 || strcmp(c->interface, "internalURL") == 0 ||
	    strcmp(c->interface, "adminURL") == 0)
		c->interface[strlen(c->interface) - 3] = '\0';
	if (strcmp(c->interface, "public") != 0 && strcmp(c->interface, "internal") != 0 &&
	    strcmp(c->interface, "admin") != 0) {
		snprintf(err, err_size, "openstack: interface must be public, internal or admin");
		goto fail;
	}
	/* "https://keystone:5000", ".../v3" and ".../v3/" all mean the v3 API */
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	if ((strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
	    strpbrk(url, " \t\r\n?#") != NULL || len > OSP_URL_MAX - 32) {
		snprintf(err, err_size, "openstack: auth_url must be an http(s) URL");
		goto fail;
	}
	if (len < 3 || strcmp(url + len - 3, "/v3") != 0) {
		if ((c->auth_url = malloc(len + 4)) == NULL) {
			snprintf(err, err_size, "openstack: out of memory");
			goto fail;
		}
		snprintf(c->auth_url, len + 4, "%s/v3", url);
		free(url);
	} else {
		c->auth_url = url;
	}
	url = NULL;
	log_info("openstack: keystone %s, user %s, project %s, region %s, interface %s", c->auth_url,
		 c->username, c->project, c->region[0] ? c->region : "(any)", c->interface);
	return c;
fail:
	free(url);
	os_close(c);
	return NULL;
}

/* ---- HTTP (tower/httpclient.c) ---- */

/* One exchange. Returns 0 with r filled whatever the HTTP status; when no
 * answer came, -2 with err if another try may work (connection refused or
 * reset, timeout), -1 with err if not (certificate, oversized body). */
static int http_once(const struct os_ctx *c, const char *method, const char *url,
		     const char *token, bool compute, const char *body, struct os_resp *r,
		     char *err, size_t err_size)
{
	char token_line[OS_TOKEN_MAX + 32], retry_after[16], why[256];
	const char *lines[8];
	size_t n = 0;
	struct httpclient_capture capture[2] = {
		{.name = "Retry-After", .value = retry_after, .size = sizeof(retry_after)},
		{.name = "X-Subject-Token", .value = r->subject_token, .size = sizeof(r->subject_token)},
	};
	struct httpclient_answer ans;
	int64_t secs;
	int rc;

	lines[n++] = "Accept: application/json";
	lines[n++] = "User-Agent: overcloud-tower/" OC_VERSION;
	if (body != NULL)
		lines[n++] = "Content-Type: application/json";
	if (compute) {
		lines[n++] = "OpenStack-API-Version: compute " OS_MICROVERSION;
		lines[n++] = "X-OpenStack-Nova-API-Version: " OS_MICROVERSION;
	}
	if (token != NULL) {
		snprintf(token_line, sizeof(token_line), "X-Auth-Token: %s", token);
		lines[n++] = token_line;
	}
	struct httpclient_request req = {
		.method = method,
		.url = url,
		.headers = lines,
		.header_count = n,
		.body = body,
		.body_len = body != NULL ? strlen(body) : 0,
		.ca_bundle = c->cacert,
		.allow_http = true,               /* auth_url may be http:// in a lab */
		.timeout_s = OS_CALL_TIMEOUT_S,
		.max_answer = OS_BODY_MAX,
		.capture = capture,
		.capture_count = r->want_subject_token ? 2 : 1,
	};
	rc = httpclient_do(NULL, &req, &ans, why, sizeof(why));
	explicit_bzero(token_line, sizeof(token_line));
	if (rc != 0) {
		snprintf(err, err_size, "%s %s: %s", method, url, why);
		return rc == HTTPCLIENT_TRANSIENT ? -2 : -1;
	}
	if (capture[1].too_long)
		r->subject_token[0] = '\0';
	r->status = ans.status;
	r->secrets = c->secrets;
	r->body = ans.body;
	r->len = ans.len;
	if (capture[0].found && util_parse_int(retry_after, 0, 86400, &secs) == 0) {
		r->retry_after_s = secs;   /* backoff() caps the wait */
		r->retry_after_known = true;
	}
	log_debug("openstack: %s %s -> %ld", method, url, r->status);
	return 0;
}

/* 429 and 5xx; and 413 with a Retry-After: older Nova rate limiting
 * answers 413 overLimit (with Retry-After), where 413 without one is a quota
 * refusal that waiting will not mend. */
static bool retryable(const struct os_resp *r)
{
	if (r->status == 413)
		return r->retry_after_known;
	return r->status == 429 || (r->status >= 500 && r->status <= 599);
}

/* Capped exponential backoff with jitter: a random wait in [d/2, d], d =
 * base * 2^attempt up to the cap; a Retry-After (capped too) is a floor. */
static void backoff(int attempt, int64_t retry_after_s)
{
	int64_t d = OS_BACKOFF_MS << (attempt < 10 ? attempt : 10), floor_ms;
	uint32_t rnd = 0;

	if (d > OS_BACKOFF_CAP_MS)
		d = OS_BACKOFF_CAP_MS;
	util_random(&rnd, sizeof(rnd));
	d = d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
	floor_ms = retry_after_s * 1000;
	if (floor_ms > OS_BACKOFF_CAP_MS)
		floor_ms = OS_BACKOFF_CAP_MS;
	sleep_ms(d > floor_ms ? d : floor_ms);
}

/* ---- Keystone ---- */

/* Appends s as a JSON string; out has room for 6 bytes per input byte + 2. */
static char *json_quote(char *out, const char *s)
{
	*out++ = '"';
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			*out++ = '\\';
			*out++ = (char)ch;
		} else if (ch < 0x20) {
			out += sprintf(out, "\\u%04x", ch);
		} else {
			*out++ = (char)ch;
		}
	}
	*out++ = '"';
	*out = '\0';
	return out;
}

/* The password request, in a buffer the caller zeroes and frees (the body
 * holds the password: it is built here rather than in a jansson tree whose
 * copies could not be wiped). */
static char *auth_body(const struct os_ctx *c)
{
	size_t cap = 256 + 6 * (strlen(c->username) + strlen(c->password) + strlen(c->project) +
				strlen(c->user_domain) + strlen(c->project_domain));
	char *b = malloc(cap), *p = b;

	if (b == NULL)
		return NULL;
	p += sprintf(p, "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":"
			"{\"user\":{\"name\":");
	p = json_quote(p, c->username);
	p += sprintf(p, ",\"domain\":{\"name\":");
	p = json_quote(p, c->user_domain);
	p += sprintf(p, "},\"password\":");
	p = json_quote(p, c->password);
	p += sprintf(p, "}}},\"scope\":{\"project\":{\"name\":");
	p = json_quote(p, c->project);
	p += sprintf(p, ",\"domain\":{\"name\":");
	p = json_quote(p, c->project_domain);
	sprintf(p, "}}}}}");
	return b;
}

/* Gets a new token; called with c->lock held, so that threads needing one at
 * the same time wait for a single request. */
static int authenticate(struct os_ctx *c, char *err, size_t err_size)
{
	struct os_resp r = {.want_subject_token = true};
	char url[OSP_URL_MAX + 16], msg[OSP_MSG_MAX], perr[256];
	char *body = auth_body(c);
	int64_t issued, expires, lifetime, margin, now = util_now();
	int rc = -1;

	if (body == NULL) {
		snprintf(err, err_size, "keystone: out of memory");
		return -1;
	}
	snprintf(url, sizeof(url), "%s/auth/tokens", c->auth_url);
	for (int attempt = 0;; attempt++) {
		resp_reset(&r);
		int got = http_once(c, "POST", url, NULL, false, body, &r, err, err_size);

		if (got != 0) {
			if (got == -2 && attempt + 1 < OS_TRIES) {
				backoff(attempt, 0);
				continue;
			}
			goto out;
		}
		if (retryable(&r) && attempt + 1 < OS_TRIES) {
			backoff(attempt, r.retry_after_s);
			continue;
		}
		break;
	}
	if (r.status != 201 && r.status != 200) {
		osp_error_message(r.body, r.len, c->secrets, msg, sizeof(msg));
		snprintf(err, err_size, "keystone %s refused user %s in project %s (HTTP %ld)%s%s",
			 c->auth_url, c->username, c->project, r.status, msg[0] ? ": " : "", msg);
		goto out;
	}
	if (r.subject_token[0] == '\0') {
		snprintf(err, err_size, "keystone %s: the reply has no X-Subject-Token", c->auth_url);
		goto out;
	}
	if (osp_parse_token(r.body, r.len, c->region, c->interface, &issued, &expires, &c->cat, perr,
			    sizeof(perr)) != 0) {
		snprintf(err, err_size, "keystone %s: %s", c->auth_url, perr);
		goto out;
	}
	/* Keystone's clock may differ from ours: the lifetime is measured on its
	 * own (issued_at to expires_at) and counted from now. */
	lifetime = issued > 0 ? expires - issued : expires - now;
	if (lifetime <= 0) {
		snprintf(err, err_size, "keystone %s issued a token that has already expired",
			 c->auth_url);
		goto out;
	}
	margin = lifetime / 4 < OS_REFRESH_MARGIN_S ? lifetime / 4 : OS_REFRESH_MARGIN_S;
	free_secret(c->token);
	if ((c->token = strdup(r.subject_token)) == NULL) {
		snprintf(err, err_size, "keystone: out of memory");
		goto out;
	}
	c->token_refresh_ms = util_monotonic_ms() + (lifetime - margin) * 1000;
	log_info("openstack: authenticated as %s in project %s; token valid for %llds",
		 c->username, c->project, (long long)lifetime);
	rc = 0;
out:
	explicit_bzero(body, strlen(body));
	free(body);
	resp_free(&r);
	return rc;
}

/* A token still valid (fetched when needed) and the catalog that came with it. */
static int token_get(struct os_ctx *c, char *tok, size_t tok_size, struct osp_catalog *cat,
		     char *err, size_t err_size)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (c->token == NULL || util_monotonic_ms() >= c->token_refresh_ms)
		rc = authenticate(c, err, err_size);
	if (rc == 0) {
		snprintf(tok, tok_size, "%s", c->token);
		*cat = c->cat;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* A call was refused with tok: forget it, unless another thread already did. */
static void token_drop(struct os_ctx *c, const char *tok)
{
	pthread_mutex_lock(&c->lock);
	if (c->token != NULL && strcmp(c->token, tok) == 0) {
		free_secret(c->token);
		c->token = NULL;
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- calls to the services ---- */

static const char *service_base(const struct osp_catalog *cat, enum os_service svc)
{
	return svc == OS_COMPUTE ? cat->compute : svc == OS_IMAGE ? cat->image : cat->network;
}

/* path under a service's endpoint. Glance and Neutron endpoints are usually
 * unversioned; a catalog entry that already ends in the version is fine too. */
static void service_url(char *url, size_t size, const char *base, enum os_service svc,
			const char *path)
{
	const char *ver = svc == OS_IMAGE ? "/v2" : svc == OS_NETWORK ? "/v2.0" : "";
	size_t bl = strlen(base), vl = strlen(ver);

	if (vl > 0 && bl >= vl && strcmp(base + bl - vl, ver) == 0)
		ver = "";
	snprintf(url, size, "%s%s%s", base, ver, path);
}

/* A call with the current token. Transport errors, 429 and 5xx are retried
 * with backoff (OS_TRIES attempts) when retry is set; a 401 gets one new
 * token and one more try. Returns 0 with r (the caller judges the status),
 * -2 with err when the last try got no answer but another might, or -1. */
static int os_call(struct os_ctx *c, enum os_service svc, const char *method, const char *path,
		   const char *body, bool retry, struct os_resp *r, char *err, size_t err_size)
{
	char tok[OS_TOKEN_MAX], url[OSP_URL_MAX + 1024];
	struct osp_catalog cat;
	bool reauthed = false;
	int rc = -1, got;

	for (int attempt = 0;; attempt++) {
		resp_reset(r);
		if (token_get(c, tok, sizeof(tok), &cat, err, err_size) != 0)
			goto out;
		if (service_base(&cat, svc)[0] == '\0') {
			snprintf(err, err_size, "the catalog has no %s endpoint (interface %s%s%s)",
				 service_names[svc], c->interface, c->region[0] ? ", region " : "",
				 c->region);
			goto out;
		}
		service_url(url, sizeof(url), service_base(&cat, svc), svc, path);
		got = http_once(c, method, url, tok, svc == OS_COMPUTE, body, r, err, err_size);
		if (got != 0) {
			if (retry && got == -2 && attempt + 1 < OS_TRIES) {
				log_warn("openstack: %s; retrying", err);
				backoff(attempt, 0);
				continue;
			}
			rc = got;
			goto out;
		}
		if (r->status == 401 && !reauthed) {
			/* expired or revoked early: one new token, and this try is free */
			log_info("openstack: %s %s -> 401, authenticating again", method, url);
			token_drop(c, tok);
			reauthed = true;
			attempt--;
			continue;
		}
		if (retry && retryable(r) && attempt + 1 < OS_TRIES) {
			log_warn("openstack: %s %s -> %ld; retrying", method, url, r->status);
			backoff(attempt, r->retry_after_s);
			continue;
		}
		rc = 0;
		break;
	}
out:
	explicit_bzero(tok, sizeof(tok));
	return rc;
}

/* "what (HTTP 403): the cloud's message" into err. */
static void refused(char *err, size_t err_size, const struct os_resp *r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void refused(char *err, size_t err_size, const struct os_resp *r, const char *fmt, ...)
{
	char what[256], msg[OSP_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	osp_error_message(r->body, r->len, r->secrets, msg, sizeof(msg));
	snprintf(err, err_size, "%s (HTTP %ld)%s%s", what, r->status, msg[0] ? ": " : "", msg);
}

/* Percent-encodes s for a query value. */
static int query_escape(char *out, size_t out_size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t w = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (w + 4 >= out_size)
			return -1;
		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			out[w++] = (char)ch;
		} else {
			out[w++] = '%';
			out[w++] = hex[ch >> 4];
			out[w++] = hex[ch & 15];
		}
	}
	out[w] = '\0';
	return 0;
}

/* ---- flavor, image, network ---- */

static int find_flavor(struct os_ctx *c, const char *want, char *id, size_t id_size, char *err,
		       size_t err_size)
{
	struct os_resp r = {0};
	char path[256], marker[OSP_ID_MAX] = "", perr[256];
	int rc = -1, found;

	for (int page = 0; page < OS_FLAVOR_PAGES; page++) {
		snprintf(path, sizeof(path), "/flavors/detail%s%s", marker[0] ? "?marker=" : "",
			 marker);
		if (os_call(c, OS_COMPUTE, "GET", path, NULL, true, &r, err, err_size) != 0)
			goto out;
		if (r.status != 200) {
			refused(err, err_size, &r, "nova: listing flavors failed");
			goto out;
		}
		found = osp_find_flavor(r.body, r.len, want, id, id_size, marker, sizeof(marker),
					perr, sizeof(perr));
		if (found < 0) {
			snprintf(err, err_size, "nova: flavor list: %s", perr);
			goto out;
		}
		if (found == 1) {
			rc = 0;
			goto out;
		}
		if (marker[0] == '\0')
			break;
	}
	snprintf(err, err_size, "nova has no flavor \"%.64s\" (by id or name)", want);
out:
	resp_free(&r);
	return rc;
}

static int find_image(struct os_ctx *c, const char *want, char *id, size_t id_size, char *err,
		      size_t err_size)
{
	struct os_resp r = {0};
	char path[512], q[256], perr[256];
	int rc = -1, found;

	if (osp_is_uuid(want)) {
		snprintf(path, sizeof(path), "/images/%s", want);
		if (os_call(c, OS_IMAGE, "GET", path, NULL, true, &r, err, err_size) != 0)
			goto out;
		if (r.status == 200) {
			found = osp_parse_image(r.body, r.len, id, id_size, perr, sizeof(perr));
			if (found < 0)
				snprintf(err, err_size, "glance: image %s: %s", want, perr);
			else if (found == 0)
				snprintf(err, err_size, "glance: image %s is not active", want);
			rc = found == 1 ? 0 : -1;
			goto out;
		}
		if (r.status != 404) {
			refused(err, err_size, &r, "glance: looking up image %s failed", want);
			goto out;
		}
		/* not an id after all: maybe a name that looks like one */
	}
	if (query_escape(q, sizeof(q), want) != 0) {
		snprintf(err, err_size, "image name too long");
		goto out;
	}
	snprintf(path, sizeof(path), "/images?name=%s", q);
	if (os_call(c, OS_IMAGE, "GET", path, NULL, true, &r, err, err_size) != 0)
		goto out;
	if (r.status != 200) {
		refused(err, err_size, &r, "glance: looking up image \"%.64s\" failed", want);
		goto out;
	}
	found = osp_find_named(r.body, r.len, "images", want, id, id_size, perr, sizeof(perr));
	if (found < 0)
		snprintf(err, err_size, "glance: %s", perr);
	else if (found == 0)
		snprintf(err, err_size, "glance has no active image \"%.64s\"", want);
	rc = found == 1 ? 0 : -1;
out:
	resp_free(&r);
	return rc;
}

static int find_network(struct os_ctx *c, const char *want, char *id, size_t id_size, char *err,
			size_t err_size)
{
	struct os_resp r = {0};
	char path[512], q[256], perr[256];
	int rc = -1, found = 0;

	if (query_escape(q, sizeof(q), want) != 0) {
		snprintf(err, err_size, "network name too long");
		return -1;
	}
	for (int by_id = 0; by_id < 2 && found == 0; by_id++) {
		if (by_id && !osp_is_uuid(want))
			break;
		snprintf(path, sizeof(path), "/networks?%s=%s", by_id ? "id" : "name", q);
		if (os_call(c, OS_NETWORK, "GET", path, NULL, true, &r, err, err_size) != 0)
			goto out;
		if (r.status != 200) {
			refused(err, err_size, &r, "neutron: looking up network \"%.64s\" failed",
				want);
			goto out;
		}
		found = osp_find_named(r.body, r.len, "networks", want, id, id_size, perr,
				       sizeof(perr));
		if (found < 0) {
			snprintf(err, err_size, "neutron: %s", perr);
			goto out;
		}
	}
	if (found == 0)
		snprintf(err, err_size, "neutron has no network \"%.64s\"", want);
	rc = found == 1 ? 0 : -1;
out:
	resp_free(&r);
	return rc;
}

/* ---- servers ---- */

/* GET /servers/{id}: 1 with s, 0 when gone (404), -1 with err. */
static int server_get(struct os_ctx *c, const char *id, struct osp_server *s, char *err,
		      size_t err_size)
{
	struct os_resp r = {0};
	char path[OSP_ID_MAX + 16], perr[256];
	int rc = -1;

	snprintf(path, sizeof(path), "/servers/%s", id);
	if (os_call(c, OS_COMPUTE, "GET", path, NULL, true, &r, err, err_size) != 0)
		goto out;
	if (r.status == 404) {
		rc = 0;
		goto out;
	}
	if (r.status != 200) {
		refused(err, err_size, &r, "nova: GET server %s failed", id);
		goto out;
	}
	if (osp_parse_server(r.body, r.len, c->network, s, perr, sizeof(perr)) != 0) {
		snprintf(err, err_size, "nova: server %s: %s", id, perr);
		goto out;
	}
	if (strcmp(s->id, id) != 0) {
		snprintf(err, err_size, "nova: asked for server %s, got %s", id, s->id);
		goto out;
	}
	rc = 1;
out:
	resp_free(&r);
	return rc;
}

/* DELETE, then wait until GET says 404. A server already gone is success. */
static int server_delete(struct os_ctx *c, const char *id, char *err, size_t err_size)
{
	struct os_resp r = {0};
	struct osp_server s;
	char path[OSP_ID_MAX + 16];
	int64_t deadline = util_monotonic_ms() + c->delete_timeout_ms;
	int rc = -1, got;

	snprintf(path, sizeof(path), "/servers/%s", id);
	if (os_call(c, OS_COMPUTE, "DELETE", path, NULL, true, &r, err, err_size) != 0)
		goto out;
	if (r.status != 204 && r.status != 202 && r.status != 404) {
		refused(err, err_size, &r, "nova: deleting server %s failed", id);
		goto out;
	}
	for (;;) {
		got = server_get(c, id, &s, err, err_size);
		if (got < 0)
			goto out;
		if (got == 0 || strcmp(s.status, "DELETED") == 0 ||
		    strcmp(s.status, "SOFT_DELETED") == 0)
			break;
		if (util_monotonic_ms() >= deadline) {
			snprintf(err, err_size, "nova: server %s still there (%s) %llds after DELETE",
				 id, s.status[0] ? s.status : "no status",
				 (long long)(c->delete_timeout_ms / 1000));
			goto out;
		}
		sleep_ms(c->poll_ms);
	}
	log_info("openstack: server %s deleted", id);
	rc = 0;
out:
	resp_free(&r);
	return rc;
}

/* Nova's name filter is a regular expression: ^name$ with every non-alnum
 * character escaped. */
static int name_regex(char *out, size_t out_size, const char *name)
{
	char re[2 * PROVIDER_HANDLE_MAX + 4];
	size_t w = 0;

	re[w++] = '^';
	for (const char *p = name; *p; p++) {
		if (w + 4 >= sizeof(re))
			return -1;
		if (!isalnum((unsigned char)*p))
			re[w++] = '\\';
		re[w++] = *p;
	}
	re[w++] = '$';
	re[w] = '\0';
	return query_escape(out, out_size, re);
}

/* After a POST /servers that got no clear answer: did it make the server
 * anyway? 1 with id, 0 no, -1 with err. */
static int server_find(struct os_ctx *c, const struct provider_node_request *req, char *id,
		       size_t id_size, char *err, size_t err_size)
{
	struct os_resp r = {0};
	char q[3 * (2 * PROVIDER_HANDLE_MAX + 4)], path[sizeof(q) + 32], perr[256];
	int rc = -1;

	if (name_regex(q, sizeof(q), req->name) != 0) {
		snprintf(err, err_size, "node name too long");
		return -1;
	}
	snprintf(path, sizeof(path), "/servers/detail?name=%s", q);
	if (os_call(c, OS_COMPUTE, "GET", path, NULL, true, &r, err, err_size) != 0)
		goto out;
	if (r.status != 200) {
		refused(err, err_size, &r, "nova: listing servers named %s failed", req->name);
		goto out;
	}
	rc = osp_find_server(r.body, r.len, req->name, req->overcloud_id, id, id_size, perr,
			     sizeof(perr));
	if (rc < 0)
		snprintf(err, err_size, "nova: server list: %s", perr);
out:
	resp_free(&r);
	return rc;
}

/* The POST /servers body; caller zeroes and frees (user_data holds a join token). */
static char *server_body(const struct provider_node_request *req, const char *flavor_id,
			 const char *image_id, const char *net_id, const char *user_data_b64)
{
	json_t *root = json_pack("{s:{s:s, s:s, s:s, s:[{s:s}], s:s, s:{s:s, s:s, s:s}}}", "server",
				 "name", req->name, "imageRef", image_id, "flavorRef", flavor_id,
				 "networks", "uuid", net_id, "user_data", user_data_b64,
				 "metadata", "overcloud_id", req->overcloud_id, "overcloud_node",
				 req->name, "overcloud_group", req->group ? req->group : "");
	char *body;

	if (root == NULL)
		return NULL;
	body = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return body;
}

/* POST /servers. Only a clear refusal (4xx) or a made server ends it; after a
 * 5xx, 429 or lost answer the server may exist anyway, so before posting
 * again it looks for one with this name and OverCloud tag. 1 with id, -1. */
static int server_post(struct os_ctx *c, const struct provider_node_request *req,
		       const char *body, char *id, size_t id_size, char *err, size_t err_size)
{
	struct os_resp r = {0};
	struct osp_server s;
	char perr[256];
	int rc = -1;

	for (int attempt = 0;; attempt++) {
		bool unclear;
		int got;

		if (attempt > 0) {
			int found = server_find(c, req, id, id_size, err, err_size);
			if (found < 0)
				goto out;
			if (found == 1) {
				log_info("openstack: server %s (%s) was made by an earlier try", req->name,
					 id);
				rc = 1;
				goto out;
			}
		}
		got = os_call(c, OS_COMPUTE, "POST", "/servers", body, false, &r, err, err_size);
		if (got == -1)
			goto out;
		unclear = got == -2;
		if (!unclear && !retryable(&r))
			break;
		if (attempt + 1 >= OS_TRIES) {
			if (!unclear)
				refused(err, err_size, &r, "nova: creating server %s failed %d times",
					req->name, OS_TRIES);
			goto out;
		}
		if (unclear)
			log_warn("openstack: creating server %s: %s; retrying", req->name, err);
		else
			log_warn("openstack: creating server %s -> %ld; retrying", req->name,
				 r.status);
		backoff(attempt, unclear ? 0 : r.retry_after_s);
	}
	if (r.status != 202 && r.status != 200) {
		refused(err, err_size, &r, "nova refused to create server %s", req->name);
		goto out;
	}
	if (osp_parse_server(r.body, r.len, NULL, &s, perr, sizeof(perr)) != 0) {
		snprintf(err, err_size, "nova: reply to creating server %s: %s", req->name, perr);
		goto out;
	}
	snprintf(id, id_size, "%s", s.id);
	rc = 1;
out:
	resp_free(&r);
	return rc;
}

/* Polls until ACTIVE: 0 with s, -1 with err (ERROR with its fault, gone,
 * or not ACTIVE by the boot timeout). */
static int server_wait_active(struct os_ctx *c, const char *name, const char *id,
			      struct osp_server *s, char *err, size_t err_size)
{
	int64_t deadline = util_monotonic_ms() + c->boot_timeout_ms;

	for (;;) {
		int got = server_get(c, id, s, err, err_size);

		if (got < 0)
			return -1;
		if (got == 0) {
			snprintf(err, err_size, "nova: server %s (%s) disappeared while booting", name,
				 id);
			return -1;
		}
		if (strcmp(s->status, "ACTIVE") == 0)
			return 0;
		if (strcmp(s->status, "ERROR") == 0) {
			snprintf(err, err_size, "nova: server %s (%s) went to ERROR: %s", name, id,
				 s->fault[0] ? s->fault : "no fault message");
			return -1;
		}
		if (util_monotonic_ms() >= deadline) {
			snprintf(err, err_size, "nova: server %s (%s) not ACTIVE within %llds (still %s)",
				 name, id, (long long)(c->boot_timeout_ms / 1000),
				 s->status[0] ? s->status : "without status");
			return -1;
		}
		sleep_ms(c->poll_ms);
	}
}

static int os_create_node(void *arg, const struct provider_node_request *req,
			  struct provider_node *out, char *err, size_t err_size)
{
	struct os_ctx *c = arg;
	const char *flavor = req->size && req->size[0] ? req->size : c->flavor;
	char flavor_id[OSP_ID_MAX], image_id[OSP_ID_MAX], net_id[OSP_ID_MAX], id[OSP_ID_MAX];
	char *b64 = NULL, *body = NULL, why[1024];
	struct osp_server s;
	size_t ud_len, b64_len = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (req->overcloud_id == NULL || req->name == NULL || req->name[0] == '\0' ||
	    strlen(req->name) > OS_META_MAX || strlen(req->overcloud_id) > OS_META_MAX ||
	    (req->group && strlen(req->group) > OS_META_MAX)) {
		snprintf(err, err_size, "openstack: a node needs a name and an overcloud id of at "
			 "most %d characters", OS_META_MAX);
		return -1;
	}
	if (req->user_data == NULL) {
		snprintf(err, err_size, "openstack: node %s has no user-data: a server would boot "
			 "without an agent", req->name);
		return -1;
	}
	if (flavor[0] == '\0') {
		snprintf(err, err_size, "openstack: no flavor for node %s (give a size, or set "
			 "flavor in [openstack] of tower.conf)", req->name);
		return -1;
	}
	ud_len = strlen(req->user_data);
	mbedtls_base64_encode(NULL, 0, &b64_len, (const unsigned char *)req->user_data, ud_len);
	if (b64_len - 1 > OS_USER_DATA_MAX) {
		snprintf(err, err_size, "openstack: the user-data of node %s is %zu bytes in base64, "
			 "over Nova's limit of %d", req->name, b64_len - 1, OS_USER_DATA_MAX);
		return -1;
	}
	if ((b64 = malloc(b64_len)) == NULL ||
	    mbedtls_base64_encode((unsigned char *)b64, b64_len, &b64_len,
				  (const unsigned char *)req->user_data, ud_len) != 0) {
		snprintf(err, err_size, "openstack: cannot encode the user-data");
		goto out;
	}
	if (find_flavor(c, flavor, flavor_id, sizeof(flavor_id), err, err_size) != 0 ||
	    find_image(c, c->image, image_id, sizeof(image_id), err, err_size) != 0 ||
	    find_network(c, c->network, net_id, sizeof(net_id), err, err_size) != 0)
		goto fail;
	if ((body = server_body(req, flavor_id, image_id, net_id, b64)) == NULL) {
		snprintf(err, err_size, "openstack: out of memory");
		goto out;
	}
	if (server_post(c, req, body, id, sizeof(id), err, err_size) != 1)
		goto fail;
	log_info("openstack: server %s (%s) created, flavor %s, waiting for ACTIVE", req->name, id,
		 flavor);
	if (server_wait_active(c, req->name, id, &s, why, sizeof(why)) != 0) {
		/* Nothing of a failed node stays behind. */
		char derr[512];
		clean_err(c, why);
		if (server_delete(c, id, derr, sizeof(derr)) != 0) {
			clean_err(c, derr);
			snprintf(err, err_size, "openstack: %s (deleting it failed too: %s; server "
				 "%s is left)", why, derr, id);
		} else {
			snprintf(err, err_size, "openstack: %s (the server was deleted)", why);
		}
		goto out;
	}
	snprintf(out->handle, sizeof(out->handle), "%s", id);
	snprintf(out->address, sizeof(out->address), "%s", s.address);
	log_info("openstack: server %s (%s) active at %s", req->name, id,
		 s.address[0] ? s.address : "(no address)");
	rc = 0;
	goto out;
fail:
	snprintf(why, sizeof(why), "%s", err);
	snprintf(err, err_size, "openstack: %s", why);
out:
	if (b64 != NULL) {
		explicit_bzero(b64, strlen(b64));
		free(b64);
	}
	if (body != NULL) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	if (rc != 0)
		clean_err(c, err);
	return rc;
}

static int os_destroy_node(void *arg, const char *overcloud_id, const struct provider_node *node,
			   char *err, size_t err_size)
{
	struct os_ctx *c = arg;
	struct osp_server s;
	char why[512];
	int got;

	/* A node whose create failed has no server: nothing to remove. */
	if (node->handle[0] == '\0')
		return 0;
	if (!osp_id_ok(node->handle)) {
		snprintf(err, err_size, "openstack: \"%.64s\" is not a server id", node->handle);
		return -1;
	}
	got = server_get(c, node->handle, &s, why, sizeof(why));
	if (got == 0)
		return 0;
	if (got > 0 && strcmp(s.overcloud_id, overcloud_id ? overcloud_id : "") != 0) {
		/* Never delete a server that is not tagged as this OverCloud's. */
		snprintf(err, err_size, "openstack: server %s is tagged overcloud_id \"%.64s\", not "
			 "%s: not deleting it", node->handle, s.overcloud_id,
			 overcloud_id ? overcloud_id : "");
		clean_err(c, err);
		return -1;
	}
	if (got < 0 || server_delete(c, node->handle, why, sizeof(why)) != 0) {
		snprintf(err, err_size, "openstack: %s", why);
		clean_err(c, err);
		return -1;
	}
	return 0;
}

const struct provider_ops provider_openstack = {
	.name = "openstack",
	.wants_user_data = true,
	.open = os_open,
	.close = os_close,
	.create_node = os_create_node,
	.destroy_node = os_destroy_node,
};
