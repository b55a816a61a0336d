/* sigv4.h — AWS Signature Version 4 (AWS4-HMAC-SHA256): the canonical request,
 * the string to sign, the signing key and the Authorization header value. */
#ifndef OC_SIGV4_H
#define OC_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SIGV4_AMZ_DATE_LEN 16         /* "20150830T123600Z" */

struct sigv4_header {
	const char *name;
	const char *value;
};

/* A request as it goes on the wire. Every header given is signed, so it must
 * hold host and x-amz-date (and x-amz-security-token with a session token),
 * with exactly the values sent. */
struct sigv4_request {
	const char *method;                  /* "GET", "POST" */
	const char *path;                    /* raw path: dot segments and repeated
	                                      * slashes are normalised, bytes encoded */
	const char *query;                   /* without '?'; NULL or "" for none */
	const struct sigv4_header *headers;
	size_t header_count;
	const void *payload;
	size_t payload_len;
};

/* Who signs, for which scope, at which time. The secret is only read. */
struct sigv4_scope {
	const char *access_key_id;
	const char *secret_access_key;
	const char *region;                  /* "us-east-1" */
	const char *service;                 /* "ec2" */
	const char *amz_date;                /* the X-Amz-Date value, SIGV4_AMZ_DATE_LEN chars */
};

/* All three are NUL-terminated heap strings; free with sigv4_result_free. */
struct sigv4_result {
	char *canonical_request;
	char *string_to_sign;
	char *authorization;                 /* the Authorization header's value */
};

/* Signs req. Returns 0, or -1 with a reason in err (bad header name or
 * value, bad date, too large); nothing is allocated then. */
int sigv4_sign(const struct sigv4_scope *scope, const struct sigv4_request *req,
	       struct sigv4_result *out, char *err, size_t err_size);

/* Frees the strings of a result (they hold no secret) and zeroes it. */
void sigv4_result_free(struct sigv4_result *res);

/* t as "YYYYMMDDTHHMMSSZ" (UTC). */
void sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN + 1]);

/* RFC 3986 percent-encoding of all but the unreserved characters (and '/'
 * when keep_slash), as SigV4 and the EC2 Query API want it. Caller frees;
 * NULL when out of memory. */
char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash);

#endif
