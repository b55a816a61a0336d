/* api.h — the tower's REST API: routing, bearer-token auth, JSON in and out.
 * Transport (TLS, HTTP framing) is httpd.c's. */
#ifndef OC_API_H
#define OC_API_H

#include <stdbool.h>

struct evbuffer;
struct http_request;

/* An httpd_handler_fn; arg is the struct tower. */
struct httpd_exchange;
void api_handle(void *arg, const struct http_request *req, struct httpd_exchange *ex);

#endif
