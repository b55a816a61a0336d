/* sigv4.c — AWS Signature Version 4 signing with mbedtls HMAC-SHA256/SHA-256.
 * Owns canonicalisation and key derivation; what to send is the caller's job. */

/* Steps (AWS General Reference, "Signature Version 4 signing process"):
 *   canonical request = METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n hex(sha256(payload))
 *   string to sign    = AWS4-HMAC-SHA256 \n DATE \n SCOPE \n hex(sha256(canonical request))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, yyyymmdd), region), service),
 *                       "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 * The URI is normalised the way every service but S3 does it: dot segments
 * and empty segments go, each remaining segment is percent-encoded (so an
 * already encoded "%" becomes "%25", the "double encoding" of the suite). */
#include "tower/providers/sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "shared/util.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_MAX_TEXT (4u << 20)     /* canonical request cap (the payload is hashed, not copied) */
#define SIGV4_MAX_HEADERS 64
#define SIGV4_MAX_PARAMS 1024
#define SIGV4_MAX_SEGMENTS 512
#define SHA256_LEN 32

/* ---- a bounded growing string ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > SIGV4_MAX_TEXT) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_char(struct sbuf *b, char c)
{
	sb_add(b, &c, 1);
}

/* Returns the string (caller frees) or NULL when building it failed. */
static char *sb_take(struct sbuf *b)
{
	if (b->failed || b->p == NULL) {
		free(b->p);
		b->p = NULL;
		if (!b->failed)
			return strdup("");
		return NULL;
	}
	char *p = b->p;
	b->p = NULL;
	return p;
}

/* ---- encoding ---- */

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void sb_encode(struct sbuf *b, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			sb_char(b, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			sb_add(b, e, 3);
		}
	}
}

char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash)
{
	struct sbuf b = {0};

	sb_encode(&b, s, len, keep_slash);
	return sb_take(&b);
}

/* Percent-decodes s[0..len) into a new string; a '%' not followed by two hex
 * digits stays a literal '%'. Caller frees. */
static char *uri_decode(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && util_hex_digit((unsigned char)s[i + 1]) >= 0 && util_hex_digit((unsigned char)s[i + 2]) >= 0) {
			out[n++] = (char)(util_hex_digit((unsigned char)s[i + 1]) * 16 + util_hex_digit((unsigned char)s[i + 2]));
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* ---- canonical URI ---- */

struct span {
	const char *p;
	size_t len;
};

static int canonical_uri(struct sbuf *b, const char *path, char *err, size_t err_size)
{
	struct span seg[SIGV4_MAX_SEGMENTS];
	size_t count = 0, len;
	bool trailing = false;
	const char *p;

	if (path == NULL || path[0] == '\0') {
		sb_char(b, '/');
		return 0;
	}
	if (path[0] != '/') {
		snprintf(err, err_size, "path must start with /");
		return -1;
	}
	for (p = path; *p != '\0';) {
		while (*p == '/')
			p++;
		if (*p == '\0') {
			trailing = true;
			break;
		}
		const char *start = p;
		while (*p != '\0' && *p != '/')
			p++;
		len = (size_t)(p - start);
		if (len == 1 && start[0] == '.') {
			trailing = *p == '\0';
			continue;
		}
		if (len == 2 && start[0] == '.' && start[1] == '.') {
			if (count > 0)
				count--;
			trailing = *p == '\0';
			continue;
		}
		if (count == SIGV4_MAX_SEGMENTS) {
			snprintf(err, err_size, "path has too many segments");
			return -1;
		}
		seg[count].p = start;
		seg[count].len = len;
		count++;
		trailing = false;
	}
	for (size_t i = 0; i < count; i++) {
		sb_char(b, '/');
		sb_encode(b, seg[i].p, seg[i].len, false);
	}
	if (count == 0 || trailing)
		sb_char(b, '/');
	return 0;
}

/* ---- canonical query ---- */

struct param {
	char *key, *value;            /* encoded */
};

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : strcmp(x->value, y->value);
}

static char *encode_component(const char *s, size_t len)
{
	size_t dlen;
	char *dec = uri_decode(s, len, &dlen), *enc;

	if (dec == NULL)
		return NULL;
	enc = sigv4_uri_encode(dec, dlen, false);
	free(dec);
	return enc;
}

static int canonical_query(struct sbuf *b, const char *query, char *err, size_t err_size)
{
	struct param *params;
	size_t count = 0;
	int rc = -1;

	if (query == NULL || query[0] == '\0')
		return 0;
	params = calloc(SIGV4_MAX_PARAMS, sizeof(*params));
	if (params == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (const char *p = query; *p != '\0';) {
		const char *end = strchr(p, '&'), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > 0) {
			if (count == SIGV4_MAX_PARAMS) {
				snprintf(err, err_size, "query has too many parameters");
				goto out;
			}
			eq = memchr(p, '=', len);
			params[count].key = encode_component(p, eq ? (size_t)(eq - p) : len);
			params[count].value = eq ? encode_component(eq + 1, len - (size_t)(eq + 1 - p))
						 : strdup("");
			count++;
			if (params[count - 1].key == NULL || params[count - 1].value == NULL) {
				snprintf(err, err_size, "out of memory");
				goto out;
			}
		}
		p += len;
		if (*p == '&')
			p++;
	}
	qsort(params, count, sizeof(*params), param_cmp);
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			sb_char(b, '&');
		sb_str(b, params[i].key);
		sb_char(b, '=');
		sb_str(b, params[i].value);
	}
	rc = 0;
out:
	for (size_t i = 0; i < count; i++) {
		free(params[i].key);
		free(params[i].value);
	}
	free(params);
	return rc;
}

/* ---- canonical headers ---- */

struct hdr {
	char name[128];               /* lower case */
	const char *value;
	size_t order;                 /* position in the request: keeps repeats in order */
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static bool token_char(unsigned char c)
{
	return c > 32 && c < 127 && c != ':' && c != '(' && c != ')' && c != ',' && c != ';' &&
	       c != '"' && c != '/' && c != '[' && c != ']' && c != '?' && c != '=' &&
	       c != '{' && c != '}' && c != '\\' && c != '<' && c != '>' && c != '@';
}

/* The value with outer blanks trimmed and inner runs of blanks as one space. */
static void sb_header_value(struct sbuf *b, const char *v)
{
	bool pending_space = false, started = false;

	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			pending_space = started;
			continue;
		}
		if (pending_space)
			sb_char(b, ' ');
		pending_space = false;
		started = true;
		sb_char(b, *v);
	}
}

static int canonical_headers(struct sbuf *b, struct sbuf *signed_names, const struct sigv4_request *req,
			     char *err, size_t err_size)
{
	struct hdr h[SIGV4_MAX_HEADERS];

	if (req->header_count == 0 || req->header_count > SIGV4_MAX_HEADERS) {
		snprintf(err, err_size, "between 1 and %d headers must be signed", SIGV4_MAX_HEADERS);
		return -1;
	}
	for (size_t i = 0; i < req->header_count; i++) {
		const char *name = req->headers[i].name, *value = req->headers[i].value;
		size_t len = name ? strlen(name) : 0;

		if (len == 0 || len >= sizeof(h[i].name) || value == NULL) {
			snprintf(err, err_size, "bad header name");
			return -1;
		}
		for (size_t j = 0; j < len; j++) {
			unsigned char c = (unsigned char)name[j];
			if (!token_char(c)) {
				snprintf(err, err_size, "bad header name");
				return -1;
			}
			h[i].name[j] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
		h[i].name[len] = '\0';
		if (strpbrk(value, "\r\n") != NULL) {
			snprintf(err, err_size, "header %s: line break in value", h[i].name);
			return -1;
		}
		h[i].value = value;
		h[i].order = i;
	}
	qsort(h, req->header_count, sizeof(h[0]), hdr_cmp);
	for (size_t i = 0; i < req->header_count; i++) {
		bool first = i == 0 || strcmp(h[i].name, h[i - 1].name) != 0;
		bool last = i + 1 == req->header_count || strcmp(h[i].name, h[i + 1].name) != 0;

		if (first) {
			sb_str(b, h[i].name);
			sb_char(b, ':');
			if (signed_names->len > 0)
				sb_char(signed_names, ';');
			sb_str(signed_names, h[i].name);
		} else {
			sb_char(b, ',');
		}
		sb_header_value(b, h[i].value);
		if (last)
			sb_char(b, '\n');
	}
	return 0;
}

/* ---- signing ---- */

static int hmac(const void *key, size_t key_len, const void *msg, size_t msg_len,
		unsigned char out[SHA256_LEN])
{
	return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, msg,
			       msg_len, out) == 0
		       ? 0
		       : -1;
}

static bool amz_date_ok(const char *d)
{
	if (d == NULL || strlen(d) != SIGV4_AMZ_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && (d[i] < '0' || d[i] > '9'))
			return false;
	return true;
}

static bool scope_part_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!unreserved((unsigned char)*s))
			return false;
	return true;
}

/* hex(HMAC(signing key, sts)) into sig; the derived keys are wiped. */
static int signature(const struct sigv4_scope *scope, const char *sts, char sig[2 * SHA256_LEN + 1])
{
	unsigned char k[SHA256_LEN], k2[SHA256_LEN];
	size_t secret_len = strlen(scope->secret_access_key);
	char *first = malloc(secret_len + 5);
	int rc = -1;

	if (first == NULL)
		return -1;
	memcpy(first, "AWS4", 4);
	memcpy(first + 4, scope->secret_access_key, secret_len + 1);
	if (hmac(first, secret_len + 4, scope->amz_date, 8, k) == 0 &&
	    hmac(k, sizeof(k), scope->region, strlen(scope->region), k2) == 0 &&
	    hmac(k2, sizeof(k2), scope->service, strlen(scope->service), k) == 0 &&
	    hmac(k, sizeof(k), "aws4_request", 12, k2) == 0 &&
	    hmac(k2, sizeof(k2), sts, strlen(sts), k) == 0) {
		util_hex(k, sizeof(k), sig);
		rc = 0;
	}
	explicit_bzero(first, secret_len + 5);
	free(first);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(k2, sizeof(k2));
	return rc;
}

int sigv4_sign(const struct sigv4_scope *scope, const struct sigv4_request *req,
	       struct sigv4_result *out, char *err, size_t err_size)
{
	struct sbuf creq = {0}, names = {0}, sts = {0}, authz = {0};
	char payload_hash[65], creq_hash[65], sig[65];

	memset(out, 0, sizeof(*out));
	if (!amz_date_ok(scope->amz_date)) {
		snprintf(err, err_size, "bad x-amz-date (want YYYYMMDDTHHMMSSZ)");
		return -1;
	}
	if (!scope_part_ok(scope->region) || !scope_part_ok(scope->service) ||
	    scope->access_key_id == NULL || scope->access_key_id[0] == '\0' ||
	    strpbrk(scope->access_key_id, "/, \r\n") != NULL || scope->secret_access_key == NULL ||
	    scope->secret_access_key[0] == '\0') {
		snprintf(err, err_size, "bad credentials, region or service");
		return -1;
	}
	if (req->method == NULL || req->method[0] == '\0' || strpbrk(req->method, " \r\n") != NULL) {
		snprintf(err, err_size, "bad method");
		return -1;
	}
	sb_str(&creq, req->method);
	sb_char(&creq, '\n');
	if (canonical_uri(&creq, req->path, err, err_size) != 0)
		goto fail;
	sb_char(&creq, '\n');
	if (canonical_query(&creq, req->query, err, err_size) != 0)
		goto fail;
	sb_char(&creq, '\n');
	if (canonical_headers(&creq, &names, req, err, err_size) != 0)
		goto fail;
	sb_char(&creq, '\n');
	sb_add(&creq, names.p ? names.p : "", names.len);
	sb_char(&creq, '\n');
	util_sha256_hex(req->payload_len ? req->payload : "", req->payload_len, payload_hash);
	sb_str(&creq, payload_hash);
	if (creq.failed) {
		snprintf(err, err_size, "request too large to sign");
		goto fail;
	}
	util_sha256_hex(creq.p, creq.len, creq_hash);

	sb_str(&sts, SIGV4_ALGORITHM "\n");
	sb_str(&sts, scope->amz_date);
	sb_char(&sts, '\n');
	sb_add(&sts, scope->amz_date, 8);
	sb_char(&sts, '/');
	sb_str(&sts, scope->region);
	sb_char(&sts, '/');
	sb_str(&sts, scope->service);
	sb_str(&sts, "/aws4_request\n");
	sb_str(&sts, creq_hash);
	if (sts.failed || signature(scope, sts.p, sig) != 0) {
		snprintf(err, err_size, "signing failed");
		goto fail;
	}

	sb_str(&authz, SIGV4_ALGORITHM " Credential=");
	sb_str(&authz, scope->access_key_id);
	sb_char(&authz, '/');
	sb_add(&authz, scope->amz_date, 8);
	sb_char(&authz, '/');
	sb_str(&authz, scope->region);
	sb_char(&authz, '/');
	sb_str(&authz, scope->service);
	sb_str(&authz, "/aws4_request, SignedHeaders=");
	sb_add(&authz, names.p, names.len);
	sb_str(&authz, ", Signature=");
	sb_str(&authz, sig);
	explicit_bzero(sig, sizeof(sig));

	out->canonical_request = sb_take(&creq);
	out->string_to_sign = sb_take(&sts);
	out->authorization = sb_take(&authz);
	free(names.p);
	if (out->canonical_request == NULL || out->string_to_sign == NULL ||
	    out->authorization == NULL) {
		sigv4_result_free(out);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
fail:
	free(creq.p);
	free(names.p);
	free(sts.p);
	free(authz.p);
	return -1;
}

void sigv4_result_free(struct sigv4_result *res)
{
	if (res == NULL)
		return;
	free(res->canonical_request);
	free(res->string_to_sign);
	free(res->authorization);
	memset(res, 0, sizeof(*res));
}

void sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN + 1])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}
