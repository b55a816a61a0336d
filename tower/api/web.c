/* web.c — the web console's static files (tower/web/, installed in
 * /usr/share/overcloud/web/), served at /ui/ with a strict CSP. */
#include "tower/api/web.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/api/http.h"
#include "tower/api/httpd.h"

#define WEB_FILE_MAX (1024 * 1024)

/* No inline script or style, nothing from elsewhere, no framing: the page
 * runs only the files below and talks only to this tower. */
static const char web_csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

static const struct {
	const char *ext, *type;
} web_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
};

const char *web_content_type(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < OC_ARRAY_LEN(web_types); i++) {
		size_t e = strlen(web_types[i].ext);
		if (n > e && strcmp(name + n - e, web_types[i].ext) == 0)
			return web_types[i].type;
	}
	return NULL;
}

bool web_path(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/ui") == 0 || strncmp(path, "/ui/", 4) == 0;
}

/* One flat folder: a name of [A-Za-z0-9._-] that does not start with a dot. */
static bool name_ok(const char *name)
{
	if (name[0] == '\0' || name[0] == '.' || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

static void redirect(struct httpd_exchange *ex, const char *to)
{
	http_write_response_with(ex->out, 302, NULL, "Location", to, NULL, 0, ex->keep_alive);
}

void web_handle(const char *web_dir, const struct http_request *req, struct httpd_exchange *ex)
{
	const char *name, *type;
	char path[PATH_MAX];
	bool head = strcmp(req->method, "HEAD") == 0;
	char *data;
	size_t len = 0;

	if (strcmp(req->method, "GET") != 0 && !head) {
		http_write_error(ex->out, 405, "method not allowed", NULL, ex->keep_alive);
		return;
	}
	if (strcmp(req->path, "/") == 0 || strcmp(req->path, "/ui") == 0) {
		redirect(ex, "/ui/");
		return;
	}
	name = req->path + 4;
	if (name[0] == '\0')
		name = "index.html";
	type = web_content_type(name);
	if (!name_ok(name) || type == NULL) {
		http_write_error(ex->out, 404, "no such file", req->path, ex->keep_alive);
		return;
	}
	if (web_dir == NULL) {
		http_write_error(ex->out, 404, "the console's files are not installed",
				 "tower serve --web DIR", ex->keep_alive);
		return;
	}
	if (snprintf(path, sizeof(path), "%s/%s", web_dir, name) >= (int)sizeof(path) ||
	    (data = util_read_file(path, WEB_FILE_MAX, &len)) == NULL) {
		if (errno != ENOENT)
			log_warn("api %s: console file %s: %s", ex->peer, path, strerror(errno));
		http_write_error(ex->out, 404, "no such file", req->path, ex->keep_alive);
		return;
	}
	evbuffer_add_printf(ex->out,
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: %s\r\n"
			    "Content-Length: %zu\r\n"
			    "Content-Security-Policy: %s\r\n"
			    "X-Content-Type-Options: nosniff\r\n"
			    "X-Frame-Options: DENY\r\n"
			    "Referrer-Policy: no-referrer\r\n"
			    "Cache-Control: no-cache\r\n"
			    "Connection: %s\r\n\r\n",
			    type, len, web_csp, ex->keep_alive ? "keep-alive" : "close");
	if (!head)
		evbuffer_add(ex->out, data, len);
	free(data);
}
