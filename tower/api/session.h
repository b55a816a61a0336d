/* session.h — the web console's login: sessions behind an HttpOnly cookie,
 * their CSRF tokens, and the /v1/session resource (login, whoami, logout). */
#ifndef OC_SESSION_H
#define OC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_request;
struct httpd_exchange;
struct tower;

#define SESSION_COOKIE "__Host-oc_session"
#define SESSION_ID_HEX 64          /* 32 random bytes */
#define SESSION_CSRF_HEX 64
#define SESSION_TTL_S (8 * 3600)   /* a login lasts a working day, not longer */
#define SESSION_MAX 64             /* the oldest goes when a new one needs room */

struct sessions;

struct sessions *sessions_new(void);
void sessions_free(struct sessions *s);

/* Starts a session: id (the cookie's value, kept here only as its sha256)
 * and csrf get SESSION_*_HEX chars + NUL. Returns 0, or -1 without random bytes. */
int sessions_start(struct sessions *s, int64_t now, char id[SESSION_ID_HEX + 1],
		   char csrf[SESSION_CSRF_HEX + 1], int64_t *expires_at);
/* The csrf token and expiry of a live session; false when id names none. */
bool sessions_lookup(struct sessions *s, const char *id, int64_t now,
		     char csrf[SESSION_CSRF_HEX + 1], int64_t *expires_at);
/* Ends it; false when there was none. */
bool sessions_end(struct sessions *s, const char *id);

/* The value of cookie name in a Cookie header ("a=1; b=2"), copied into out
 * when it fits. Returns false when absent, empty or too long. */
bool session_cookie_get(const char *header, const char *name, char *out, size_t size);

enum session_auth {
	SESSION_AUTH_OK,          /* a live session; a mutating call carries its CSRF token */
	SESSION_AUTH_NONE,        /* no cookie, or one that names no live session */
	SESSION_AUTH_CSRF,        /* a live session, but a mutating call without its token */
};

/* Authorizes req by its session cookie: GET and HEAD need the cookie, every
 * other method the X-CSRF-Token header equal to the session's token too. */
enum session_auth session_authorize(struct sessions *s, const struct http_request *req,
				    int64_t now);

/* Answers /v1/session: POST {"token": admin token} logs in (201, Set-Cookie,
 * {"active","csrf","expires_at"}), GET tells the same of the live session or
 * {"active": false}, DELETE (with the CSRF header) logs out. */
void session_handle(struct tower *t, const struct http_request *req, struct httpd_exchange *ex);

#endif
