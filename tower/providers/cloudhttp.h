/* cloudhttp.h — one request to a cloud API over HTTPS with libcurl: bounded
 * answer, optional private CA bundle, timeouts, nothing echoed to any log. */
#ifndef OC_CLOUDHTTP_H
#define OC_CLOUDHTTP_H

#include <stddef.h>

struct cloudhttp_request {
	const char *method;            /* "GET", "POST", "DELETE" */
	const char *url;               /* https:// only */
	const char *const *headers;    /* "Name: value" lines; may hold secrets */
	size_t header_count;
	const void *body;              /* NULL for none */
	size_t body_len;
	const char *ca_bundle;         /* PEM file; NULL for the system's CAs */
	long timeout_s;                /* whole request; 0 = 60 */
	size_t max_answer;             /* 0 = 1 MiB */
};

struct cloudhttp_answer {
	long status;                   /* HTTP status */
	char *body;                    /* NUL-terminated; free with cloudhttp_answer_free */
	size_t len;
};

#define CLOUDHTTP_TRANSIENT (-2)

/* Sends req and reads the answer, whatever its status. Returns 0 when an
 * HTTP answer arrived; CLOUDHTTP_TRANSIENT on a failure worth retrying
 * (connect, timeout, connection lost); -1 on one that is not (certificate
 * not trusted, answer over the cap, bad URL). err gets a one-line reason.
 * Header values never reach err or a log, and the copies libcurl made of
 * them are wiped. */
int cloudhttp_do(const struct cloudhttp_request *req, struct cloudhttp_answer *ans, char *err,
		 size_t err_size);

void cloudhttp_answer_free(struct cloudhttp_answer *ans);

#endif
