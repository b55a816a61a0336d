/* session.c — the web console's login: sessions behind an HttpOnly cookie,
 * their CSRF tokens, and the /v1/session resource (login, whoami, logout). */
#include "tower/api/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/api/http.h"
#include "tower/api/httpd.h"
#include "tower/tower.h"

struct session {
	char id_hash[65];     /* sha256 of the cookie's value: a leaked table logs no one in */
	char csrf[SESSION_CSRF_HEX + 1];
	int64_t started_at;
	int64_t expires_at;   /* 0: free slot */
};

struct sessions {
	struct session slots[SESSION_MAX];
};

struct sessions *sessions_new(void)
{
	return calloc(1, sizeof(struct sessions));
}

void sessions_free(struct sessions *s)
{
	if (s != NULL)
		explicit_bzero(s, sizeof(*s));
	free(s);
}

static bool id_well_formed(const char *id)
{
	if (id == NULL || strlen(id) != SESSION_ID_HEX)
		return false;
	for (const char *p = id; *p; p++)
		if (util_hex_digit((unsigned char)*p) < 0)
			return false;
	return true;
}

static struct session *find(struct sessions *s, const char *id, int64_t now)
{
	char hash[65];

	if (!id_well_formed(id))
		return NULL;
	util_sha256_hex(id, SESSION_ID_HEX, hash);
	for (size_t i = 0; i < SESSION_MAX; i++) {
		struct session *x = &s->slots[i];
		if (x->expires_at == 0)
			continue;
		if (x->expires_at <= now) {
			explicit_bzero(x, sizeof(*x));   /* expired: gone for good */
			continue;
		}
		if (util_consttime_cmp(x->id_hash, hash, 64) == 0)
			return x;
	}
	return NULL;
}

int sessions_start(struct sessions *s, int64_t now, char id[SESSION_ID_HEX + 1],
		   char csrf[SESSION_CSRF_HEX + 1], int64_t *expires_at)
{
	unsigned char raw[SESSION_ID_HEX / 2], raw_csrf[SESSION_CSRF_HEX / 2];
	struct session *slot = NULL;

	if (util_random(raw, sizeof(raw)) != 0 || util_random(raw_csrf, sizeof(raw_csrf)) != 0)
		return -1;
	/* A free or expired slot, else the oldest session makes room. */
	for (size_t i = 0; i < SESSION_MAX; i++) {
		struct session *x = &s->slots[i];
		if (x->expires_at <= now) {
			slot = x;
			break;
		}
		if (slot == NULL || x->started_at < slot->started_at)
			slot = x;
	}
	util_hex(raw, sizeof(raw), id);
	util_hex(raw_csrf, sizeof(raw_csrf), csrf);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(slot, sizeof(*slot));
	util_sha256_hex(id, SESSION_ID_HEX, slot->id_hash);
	memcpy(slot->csrf, csrf, sizeof(slot->csrf));
	slot->started_at = now;
	slot->expires_at = now + SESSION_TTL_S;
	*expires_at = slot->expires_at;
	return 0;
}

bool sessions_lookup(struct sessions *s, const char *id, int64_t now,
		     char csrf[SESSION_CSRF_HEX + 1], int64_t *expires_at)
{
	struct session *x = find(s, id, now);

	if (x == NULL)
		return false;
	memcpy(csrf, x->csrf, SESSION_CSRF_HEX + 1);
	*expires_at = x->expires_at;
	return true;
}

bool sessions_end(struct sessions *s, const char *id)
{
	struct session *x = find(s, id, util_now());

	if (x == NULL)
		return false;
	explicit_bzero(x, sizeof(*x));
	return true;
}

bool session_cookie_get(const char *header, const char *name, char *out, size_t size)
{
	size_t name_len = strlen(name);
	const char *p = header;

	while (p != NULL && *p != '\0') {
		size_t len;
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		len = strcspn(p, ";");
		if (len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
			const char *v = p + name_len + 1;
			size_t vlen = len - name_len - 1;
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			if (vlen == 0 || vlen >= size)
				return false;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return true;
		}
		p += len;
	}
	return false;
}

static bool request_session_id(const struct http_request *req, char id[SESSION_ID_HEX + 1])
{
	/* Several Cookie headers are legal; the console's is in one of them. */
	for (size_t i = 0; i < req->header_count; i++)
		if (strcasecmp(req->headers[i].name, "Cookie") == 0 &&
		    session_cookie_get(req->headers[i].value, SESSION_COOKIE, id, SESSION_ID_HEX + 1))
			return true;
	return false;
}

static bool method_reads(const struct http_request *req)
{
	return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

enum session_auth session_authorize(struct sessions *s, const struct http_request *req,
				    int64_t now)
{
	char id[SESSION_ID_HEX + 1], csrf[SESSION_CSRF_HEX + 1];
	const char *sent;
	int64_t expires_at;

	if (s == NULL || !request_session_id(req, id) ||
	    !sessions_lookup(s, id, now, csrf, &expires_at))
		return SESSION_AUTH_NONE;
	if (method_reads(req))
		return SESSION_AUTH_OK;
	/* A cross-site form cannot set a header: only our own script sends it. */
	sent = http_header_get(req, "X-CSRF-Token");
	if (sent == NULL || strlen(sent) != SESSION_CSRF_HEX ||
	    util_consttime_cmp(sent, csrf, SESSION_CSRF_HEX) != 0)
		return SESSION_AUTH_CSRF;
	return SESSION_AUTH_OK;
}

/* ---- /v1/session ---- */

static void reply(struct httpd_exchange *ex, int status, json_t *body, const char *cookie)
{
	char *text = json_dumps(body, JSON_COMPACT);

	if (text == NULL)
		http_write_error(ex->out, 500, "cannot encode response", NULL, ex->keep_alive);
	else
		http_write_response_with(ex->out, status, "application/json", cookie ? "Set-Cookie" : NULL,
					 cookie, text, strlen(text), ex->keep_alive);
	free(text);
	json_decref(body);
}

static bool token_is_admin(const struct tower *t, const char *token)
{
	size_t want_len = strlen(t->admin_token);

	return token != NULL && strlen(token) == want_len &&
	       util_consttime_cmp(token, t->admin_token, want_len) == 0;
}

static void login(struct tower *t, const struct http_request *req, struct httpd_exchange *ex)
{
	char id[SESSION_ID_HEX + 1], csrf[SESSION_CSRF_HEX + 1], cookie[256];
	json_error_t jerr;
	json_t *body = NULL;
	int64_t expires_at;

	if (req->body_len > 0)
		body = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		http_write_error(ex->out, 400, "request body must be a JSON object", "{\"token\": admin token}",
				 ex->keep_alive);
		goto out;
	}
	if (!token_is_admin(t, json_string_value(json_object_get(body, "token")))) {
		log_info("api %s: console login refused: wrong admin token", ex->peer);
		http_write_error(ex->out, 401, "wrong admin token",
				 "the token is in admin.token in the tower's state dir", ex->keep_alive);
		goto out;
	}
	if (sessions_start(t->sessions, util_now(), id, csrf, &expires_at) != 0) {
		http_write_error(ex->out, 500, "cannot make a session id", NULL, ex->keep_alive);
		goto out;
	}
	/* __Host-: only over HTTPS, for this host and every path, never a
	 * parent domain's. */
	snprintf(cookie, sizeof(cookie), SESSION_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; Secure; "
		 "SameSite=Strict", id, SESSION_TTL_S);
	log_info("api %s: console session started (until %lld)", ex->peer, (long long)expires_at);
	reply(ex, 201, json_pack("{s:b, s:s, s:I}", "active", 1, "csrf", csrf, "expires_at",
				 (json_int_t)expires_at), cookie);
	explicit_bzero(id, sizeof(id));
	explicit_bzero(cookie, sizeof(cookie));
out:
	json_decref(body);
}

void session_handle(struct tower *t, const struct http_request *req, struct httpd_exchange *ex)
{
	char id[SESSION_ID_HEX + 1], csrf[SESSION_CSRF_HEX + 1];
	int64_t expires_at = 0;

	if (strcmp(req->method, "POST") == 0) {
		login(t, req, ex);
		return;
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "DELETE") != 0) {
		http_write_error(ex->out, 405, "method not allowed", NULL, ex->keep_alive);
		return;
	}
	switch (session_authorize(t->sessions, req, util_now())) {
	case SESSION_AUTH_NONE:
		/* Asking whether one is logged in is no error: the console asks first. */
		if (strcmp(req->method, "GET") == 0)
			reply(ex, 200, json_pack("{s:b}", "active", 0), NULL);
		else
			http_write_error(ex->out, 401, "no session", "log in with POST /v1/session",
					 ex->keep_alive);
		return;
	case SESSION_AUTH_CSRF:
		http_write_error(ex->out, 403, "missing or wrong CSRF token",
				 "send X-CSRF-Token: the csrf value of POST /v1/session", ex->keep_alive);
		return;
	case SESSION_AUTH_OK:
		break;
	}
	request_session_id(req, id);
	if (strcmp(req->method, "DELETE") == 0) {
		sessions_end(t->sessions, id);
		log_info("api %s: console session ended", ex->peer);
		reply(ex, 200, json_pack("{s:s}", "status", "logged out"),
		      SESSION_COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
		return;
	}
	sessions_lookup(t->sessions, id, util_now(), csrf, &expires_at);
	reply(ex, 200, json_pack("{s:b, s:s, s:I}", "active", 1, "csrf", csrf, "expires_at",
				 (json_int_t)expires_at), NULL);
}
