/* web.h — the web console's static files (tower/web/, installed in
 * /usr/share/overcloud/web/), served at /ui/ with a strict CSP. */
#ifndef OC_WEB_H
#define OC_WEB_H

#include <stdbool.h>

struct http_request;
struct httpd_exchange;

/* True for the paths web_handle answers: "/", "/ui" and "/ui/...". */
bool web_path(const char *path);
/* Answers GET/HEAD of a file in web_dir (NULL: the console is not installed). */
void web_handle(const char *web_dir, const struct http_request *req, struct httpd_exchange *ex);
/* The Content-Type for a file name by its extension; NULL for one not served. */
const char *web_content_type(const char *name);

#endif
