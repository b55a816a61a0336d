/* httpd.h — the HTTPS transport of the tower's API: TLS connections, request
 * framing with keep-alive and pipelining; routing is the handler's job. */
#ifndef OC_HTTPD_H
#define OC_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct http_request;
struct tls_config;
struct httpd;

/* Writes one whole response for req into out. Clearing *keep_alive closes
 * the connection after the response. */
typedef void (*httpd_handler_fn)(void *arg, const struct http_request *req, const char *peer,
				 struct evbuffer *out, bool *keep_alive);

/* tls is borrowed and must outlive the httpd. */
struct httpd *httpd_new(struct event_base *base, struct tls_config *tls,
			httpd_handler_fn handler, void *arg);
int httpd_listen(struct httpd *httpd, const char *host, uint16_t port, uint16_t *bound_port,
		 char *err, size_t err_size);
void httpd_free(struct httpd *httpd);

#endif
