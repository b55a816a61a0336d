/* http.c — parses HTTP/1.x requests from untrusted bytes in place and formats
 * responses into evbuffers. Owns framing and syntax; routing and TLS live elsewhere. */
#include "tower/api/http.h"

#include "shared/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

/* Per-call scratch: where each header's name and value end. Kept apart from
 * the request so the buffer is only written once a whole request is there. */
struct http_scan {
	size_t name_len[HTTP_MAX_HEADERS];
	size_t value_len[HTTP_MAX_HEADERS];
	int version_minor;
};

static const struct {
	int code;
	const char *text;
} status_texts[] = {
	{200, "OK"},
	{201, "Created"},
	{202, "Accepted"},
	{204, "No Content"},
	{301, "Moved Permanently"},
	{302, "Found"},
	{304, "Not Modified"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{406, "Not Acceptable"},
	{408, "Request Timeout"},
	{409, "Conflict"},
	{410, "Gone"},
	{411, "Length Required"},
	{412, "Precondition Failed"},
	{413, "Content Too Large"},
	{414, "URI Too Long"},
	{415, "Unsupported Media Type"},
	{422, "Unprocessable Content"},
	{429, "Too Many Requests"},
	{431, "Request Header Fields Too Large"},
	{500, "Internal Server Error"},
	{501, "Not Implemented"},
	{502, "Bad Gateway"},
	{503, "Service Unavailable"},
	{504, "Gateway Timeout"},
	{505, "HTTP Version Not Supported"},
};

const char *http_status_text(int status)
{
	for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++)
		if (status_texts[i].code == status)
			return status_texts[i].text;
	return "Unknown";
}

/* ---- parsing ---- */

/* Records why a request is refused; returns -1 so callers can "return fail(...)". */
static int fail(int status, int *error_status, char *err, size_t err_size,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(int status, int *error_status, char *err, size_t err_size,
		const char *fmt, ...)
{
	va_list ap;

	if (error_status)
		*error_status = status;
	if (err && err_size > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool span_equals_ci(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Finds the next LF in buf[pos..limit); returns its index or limit when none. */
static size_t find_lf(const char *buf, size_t pos, size_t limit)
{
	const char *lf = memchr(buf + pos, '\n', limit - pos);

	return lf ? (size_t)(lf - buf) : limit;
}

/* Line content length of buf[start..lf): strips one CR before the LF. */
static size_t line_len(const char *buf, size_t start, size_t lf)
{
	size_t n = lf - start;

	if (n > 0 && buf[start + n - 1] == '\r')
		n--;
	return n;
}

/* Decodes the path part of the target into req->path and rejects what a
 * router must never see: NUL, control characters, bad escapes, "..". */
static int decode_path(const char *p, size_t n, struct http_request *req,
		       int *error_status, char *err, size_t err_size)
{
	size_t out = 0, seg_start = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return fail(400, error_status, err, err_size,
					    "truncated percent escape in path");
			hi = util_hex_digit((unsigned char)p[i + 1]);
			lo = util_hex_digit((unsigned char)p[i + 2]);
			if (hi < 0 || lo < 0)
				return fail(400, error_status, err, err_size,
					    "invalid percent escape in path");
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
			if (c == 0)
				return fail(400, error_status, err, err_size,
					    "NUL byte in path");
		}
		if (c < 0x20 || c == 0x7f)
			return fail(400, error_status, err, err_size,
				    "control character in path");
		if (out >= sizeof(req->path) - 1)
			return fail(414, error_status, err, err_size,
				    "path longer than %zu bytes", sizeof(req->path) - 1);
		req->path[out++] = (char)c;
	}
	req->path[out] = '\0';

	/* ".." segments, checked after decoding so "%2e%2e" counts too. */
	for (size_t i = 0; i <= out; i++) {
		if (i == out || req->path[i] == '/') {
			if (i - seg_start == 2 && req->path[seg_start] == '.' &&
			    req->path[seg_start + 1] == '.')
				return fail(400, error_status, err, err_size,
					    "'..' segment in path");
			seg_start = i + 1;
		}
	}
	return 0;
}

/* Request line: METHOD SP request-target SP HTTP/1.x (line without CR/LF). */
static int parse_request_line(const char *line, size_t n, struct http_request *req,
			      struct http_scan *scan, int *error_status, char *err,
			      size_t err_size)
{
	size_t m = 0, t, t_end, v, q;
	bool upper = true;

	while (m < n && is_tchar((unsigned char)line[m])) {
		if (line[m] < 'A' || line[m] > 'Z')
			upper = false;
		m++;
	}
	if (m == 0 || m >= n || line[m] != ' ')
		return fail(400, error_status, err, err_size, "malformed request line");

	t = m + 1;
	t_end = t;
	while (t_end < n && line[t_end] != ' ') {
		unsigned char c = (unsigned char)line[t_end];

		if (c <= 0x20 || c >= 0x7f)
			return fail(400, error_status, err, err_size,
				    "invalid character in request target");
		t_end++;
	}
	if (t_end == t || t_end >= n)
		return fail(400, error_status, err, err_size, "malformed request line");

	v = t_end + 1;
	if (n - v != 8 || memcmp(line + v, "HTTP/", 5) != 0 ||
	    line[v + 5] < '0' || line[v + 5] > '9' || line[v + 6] != '.' ||
	    line[v + 7] < '0' || line[v + 7] > '9')
		return fail(400, error_status, err, err_size, "malformed HTTP version");
	if (line[v + 5] != '1' || (line[v + 7] != '0' && line[v + 7] != '1'))
		return fail(505, error_status, err, err_size, "HTTP version %.8s not supported",
			    line + v);
	scan->version_minor = line[v + 7] - '0';

	if (!upper || m > sizeof(req->method) - 1)
		return fail(501, error_status, err, err_size, "method not implemented");
	memcpy(req->method, line, m);
	req->method[m] = '\0';

	if (line[t] != '/')
		return fail(400, error_status, err, err_size,
			    "request target must start with '/'");
	q = t;
	while (q < t_end && line[q] != '?')
		q++;
	if (q < t_end) {
		size_t qlen = t_end - q - 1;

		if (qlen > sizeof(req->query) - 1)
			return fail(414, error_status, err, err_size,
				    "query longer than %zu bytes", sizeof(req->query) - 1);
		memcpy(req->query, line + q + 1, qlen);
		req->query[qlen] = '\0';
	}
	return decode_path(line + t, q - t, req, error_status, err, err_size);
}

/* One header line (without CR/LF) starting at buf + start. Records where its
 * name and trimmed value are; does not write to the buffer. */
static int parse_header_line(const char *buf, size_t start, size_t n,
			     struct http_request *req, struct http_scan *scan,
			     int *error_status, char *err, size_t err_size)
{
	const char *line = buf + start;
	size_t colon = 0, vs, ve;

	if (line[0] == ' ' || line[0] == '\t')
		return fail(400, error_status, err, err_size,
			    "obsolete header line folding");
	while (colon < n && is_tchar((unsigned char)line[colon]))
		colon++;
	if (colon == 0 || colon >= n || line[colon] != ':')
		return fail(400, error_status, err, err_size, "malformed header line");

	vs = colon + 1;
	while (vs < n && (line[vs] == ' ' || line[vs] == '\t'))
		vs++;
	ve = n;
	while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
		ve--;
	for (size_t i = vs; i < ve; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(400, error_status, err, err_size,
				    "control character in header value");
	}

	if (req->header_count >= HTTP_MAX_HEADERS)
		return fail(431, error_status, err, err_size, "more than %d headers",
			    HTTP_MAX_HEADERS);
	req->headers[req->header_count].name = line;
	req->headers[req->header_count].value = line + vs;
	scan->name_len[req->header_count] = colon;
	scan->value_len[req->header_count] = ve - vs;
	req->header_count++;
	return 0;
}

/* Does a comma-separated token list contain tok (case-insensitive)? */
static bool list_has_token(const char *s, size_t n, const char *tok)
{
	size_t i = 0;

	while (i < n) {
		size_t a, b;

		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		a = i;
		while (i < n && s[i] != ',')
			i++;
		b = i;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		if (b > a && span_equals_ci(s + a, b - a, tok))
			return true;
	}
	return false;
}

/* Framing and connection headers, once the header section is complete. */
static int check_headers(struct http_request *req, const struct http_scan *scan,
			 size_t max_body, size_t *content_length, int *error_status,
			 char *err, size_t err_size)
{
	bool have_length = false, close = false, keep_alive = false;
	size_t length = 0;

	for (size_t h = 0; h < req->header_count; h++) {
		const char *name = req->headers[h].name;
		const char *value = req->headers[h].value;
		size_t nl = scan->name_len[h], vl = scan->value_len[h];

		if (span_equals_ci(name, nl, "transfer-encoding"))
			return fail(501, error_status, err, err_size,
				    "transfer-encoding not supported");
		if (span_equals_ci(name, nl, "connection")) {
			if (list_has_token(value, vl, "close"))
				close = true;
			if (list_has_token(value, vl, "keep-alive"))
				keep_alive = true;
		}
		if (span_equals_ci(name, nl, "content-length")) {
			size_t v = 0;
			bool big = false;

			if (vl == 0)
				return fail(400, error_status, err, err_size,
					    "empty content-length");
			for (size_t i = 0; i < vl; i++) {
				if (value[i] < '0' || value[i] > '9')
					return fail(400, error_status, err, err_size,
						    "invalid content-length");
				if (v > (SIZE_MAX - 9) / 10)
					big = true;
				else
					v = v * 10 + (size_t)(value[i] - '0');
			}
			if (big)
				v = SIZE_MAX;
			if (have_length && v != length)
				return fail(400, error_status, err, err_size,
					    "conflicting content-length headers");
			have_length = true;
			length = v;
		}
	}
	if (have_length && length > max_body)
		return fail(413, error_status, err, err_size,
			    "body over %zu bytes", max_body);

	if (scan->version_minor >= 1)
		req->keep_alive = !close;
	else
		req->keep_alive = keep_alive && !close;
	*content_length = length;
	return 0;
}

enum http_parse_status http_parse_request(char *buf, size_t len, size_t max_body,
					  struct http_request *req, size_t *consumed,
					  int *error_status, char *err, size_t err_size)
{
	struct http_scan scan = {.version_minor = 0};
	size_t limit = len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES;
	size_t pos = 0, lf, body_len = 0, header_end;
	bool have_request_line = false;

	memset(req, 0, sizeof(*req));
	if (err && err_size > 0)
		err[0] = '\0';

	/* Every complete line inside the header limit is checked as soon as it
	 * arrives, so feeding bytes one by one gives the same verdict as all at once. */
	for (;;) {
		size_t n;

		lf = find_lf(buf, pos, limit);
		if (lf == limit) {
			if (len < HTTP_MAX_HEADER_BYTES)
				return HTTP_PARSE_NEED_MORE;
			fail(431, error_status, err, err_size, "header section over %d bytes",
			     HTTP_MAX_HEADER_BYTES);
			return HTTP_PARSE_ERROR;
		}
		n = line_len(buf, pos, lf);
		if (memchr(buf + pos, '\r', n) != NULL) {
			fail(400, error_status, err, err_size, "bare CR in header section");
			return HTTP_PARSE_ERROR;
		}
		if (!have_request_line) {
			if (n == 0) {
				/* RFC 9112 2.2: ignore empty lines before a request. */
				pos = lf + 1;
				continue;
			}
			if (parse_request_line(buf + pos, n, req, &scan, error_status,
					       err, err_size) != 0)
				return HTTP_PARSE_ERROR;
			have_request_line = true;
		} else if (n == 0) {
			break;
		} else {
			if (parse_header_line(buf, pos, n, req, &scan, error_status, err,
					      err_size) != 0)
				return HTTP_PARSE_ERROR;
		}
		pos = lf + 1;
	}
	header_end = lf + 1;

	if (check_headers(req, &scan, max_body, &body_len, error_status, err, err_size) != 0)
		return HTTP_PARSE_ERROR;
	if (len - header_end < body_len)
		return HTTP_PARSE_NEED_MORE;

	/* The request is whole: only now terminate names and values in place. */
	for (size_t h = 0; h < req->header_count; h++) {
		char *name = (char *)req->headers[h].name;
		char *value = (char *)req->headers[h].value;

		name[scan.name_len[h]] = '\0';
		value[scan.value_len[h]] = '\0';
	}
	if (body_len > 0) {
		req->body = (const uint8_t *)buf + header_end;
		req->body_len = body_len;
	}
	if (consumed)
		*consumed = header_end + body_len;
	return HTTP_PARSE_OK;
}

const char *http_header_get(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->header_count; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* ---- responses ---- */

static bool has_crlf(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") != NULL;
}

int http_write_response(struct evbuffer *out, int status, const char *content_type,
			const void *body, size_t body_len, bool keep_alive)
{
	return http_write_response_with(out, status, content_type, NULL, NULL, body, body_len,
					keep_alive);
}

int http_write_head(struct evbuffer *out, int status, const char *content_type,
		    const char *header, const char *value, uint64_t body_len, bool keep_alive)
{
	if (status < 100 || status > 999 || has_crlf(content_type) || has_crlf(header) ||
	    has_crlf(value) || (header == NULL) != (value == NULL))
		return -1;
	if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
				http_status_text(status)) < 0)
		return -1;
	if (content_type && evbuffer_add_printf(out, "Content-Type: %s\r\n",
						content_type) < 0)
		return -1;
	if (header && evbuffer_add_printf(out, "%s: %s\r\n", header, value) < 0)
		return -1;
	if (evbuffer_add_printf(out, "Content-Length: %llu\r\n"
				"Connection: %s\r\n"
				"Cache-Control: no-store\r\n\r\n",
				(unsigned long long)body_len, keep_alive ? "keep-alive" : "close") < 0)
		return -1;
	return 0;
}

int http_write_response_with(struct evbuffer *out, int status, const char *content_type,
			     const char *header, const char *value, const void *body,
			     size_t body_len, bool keep_alive)
{
	if (body == NULL && body_len > 0)
		return -1;
	if (http_write_head(out, status, content_type, header, value, body_len, keep_alive) != 0)
		return -1;
	if (body_len > 0 && evbuffer_add(out, body, body_len) != 0)
		return -1;
	return 0;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

/* Appends s as a JSON string; invalid UTF-8 becomes U+FFFD. */
static int json_add_string(struct evbuffer *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	if (evbuffer_add(b, "\"", 1) != 0)
		return -1;
	while (n > 0) {
		size_t run = 0, seq;

		/* Copy the longest stretch that needs no escaping in one go. */
		while (run < n && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > 0) {
			if (evbuffer_add(b, p, run) != 0)
				return -1;
			p += run;
			n -= run;
			continue;
		}
		if (*p == '"' || *p == '\\') {
			char esc[2] = {'\\', (char)*p};

			if (evbuffer_add(b, esc, 2) != 0)
				return -1;
			seq = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			if (evbuffer_add_printf(b, "\\u%04x", *p) < 0)
				return -1;
			seq = 1;
		} else {
			seq = utf8_seq_len(p, n);
			if (seq == 0) {
				if (evbuffer_add(b, "\\ufffd", 6) != 0)
					return -1;
				seq = 1;
			} else if (evbuffer_add(b, p, seq) != 0) {
				return -1;
			}
		}
		p += seq;
		n -= seq;
	}
	return evbuffer_add(b, "\"", 1) == 0 ? 0 : -1;
}

int http_write_error(struct evbuffer *out, int status, const char *message,
		     const char *detail, bool keep_alive)
{
	struct evbuffer *body = evbuffer_new();
	int rc = -1;

	if (!body)
		return -1;
	if (!message)
		message = http_status_text(status);
	if (evbuffer_add(body, "{\"error\":", 9) != 0 || json_add_string(body, message) != 0)
		goto out;
	if (evbuffer_add(body, ",\"detail\":", 10) != 0)
		goto out;
	if (detail ? json_add_string(body, detail) != 0 : evbuffer_add(body, "null", 4) != 0)
		goto out;
	if (evbuffer_add(body, "}", 1) != 0)
		goto out;
	rc = http_write_response(out, status, "application/json",
				 evbuffer_pullup(body, -1), evbuffer_get_length(body),
				 keep_alive);
out:
	evbuffer_free(body);
	return rc;
}

int http_write_sse_start(struct evbuffer *out)
{
	/* No Content-Length and no chunking: the stream ends when the
	 * connection does, so say so. */
	return evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n"
				   "Content-Type: text/event-stream\r\n"
				   "Cache-Control: no-store\r\n"
				   "Connection: close\r\n\r\n") < 0 ? -1 : 0;
}

int http_write_sse_event(struct evbuffer *out, const char *event, const char *data)
{
	/* A newline would end the field early and let data forge events. */
	if (!data || has_crlf(event) || has_crlf(data))
		return -1;
	if (event && evbuffer_add_printf(out, "event: %s\n", event) < 0)
		return -1;
	return evbuffer_add_printf(out, "data: %s\n\n", data) < 0 ? -1 : 0;
}
