/* fuzz_http.c — libFuzzer target for the HTTP request parser: parses pipelined
 * requests from arbitrary bytes and aborts when any parser invariant breaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "tower/api/http.h"

#define FUZZ_MAX_BODY 8192

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "invariant failed: %s (line %d)\n",  \
				#cond, __LINE__);                            \
			abort();                                             \
		}                                                            \
	} while (0)

static bool within(const void *p, const char *start, size_t len)
{
	return (const char *)p >= start && (const char *)p < start + len;
}

static void check_request(const struct http_request *req, const char *base, size_t consumed)
{
	size_t m = strnlen(req->method, sizeof(req->method));

	CHECK(m >= 1 && m < sizeof(req->method));
	for (size_t i = 0; i < m; i++)
		CHECK(req->method[i] >= 'A' && req->method[i] <= 'Z');

	CHECK(strnlen(req->path, sizeof(req->path)) < sizeof(req->path));
	CHECK(strnlen(req->query, sizeof(req->query)) < sizeof(req->query));
	CHECK(req->path[0] == '/');
	for (const char *p = req->path; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	CHECK(strcmp(req->path, "/..") != 0 && strstr(req->path, "/../") == NULL);
	CHECK(strlen(req->path) < 3 || strcmp(req->path + strlen(req->path) - 3, "/..") != 0);

	CHECK(req->header_count <= HTTP_MAX_HEADERS);
	for (size_t i = 0; i < req->header_count; i++) {
		const char *n = req->headers[i].name, *v = req->headers[i].value;

		CHECK(within(n, base, consumed) && within(v, base, consumed));
		CHECK(memchr(n, '\0', consumed - (size_t)(n - base)) != NULL);
		CHECK(memchr(v, '\0', consumed - (size_t)(v - base)) != NULL);
		CHECK(n[0] != '\0' && strpbrk(n, " \t:\r\n") == NULL);
		CHECK(strpbrk(v, "\r\n") == NULL);
		CHECK(v[0] != ' ' && v[0] != '\t');
		CHECK(http_header_get(req, n) != NULL);
	}

	CHECK(req->body_len <= FUZZ_MAX_BODY);
	if (req->body) {
		CHECK(req->body_len > 0);
		CHECK((const char *)req->body >= base);
		CHECK((const char *)req->body + req->body_len == base + consumed);
	} else {
		CHECK(req->body_len == 0);
	}
}

/* The error formatter must always produce JSON that parses, whatever bytes. */
static void check_error_json(const char *message, const char *detail)
{
	struct evbuffer *out = evbuffer_new();
	const char *s, *sep;
	size_t n;
	json_t *j;

	CHECK(out != NULL);
	CHECK(http_write_error(out, 400, message, detail, false) == 0);
	n = evbuffer_get_length(out);
	s = (const char *)evbuffer_pullup(out, -1);
	sep = memmem(s, n, "\r\n\r\n", 4);
	CHECK(sep != NULL);
	j = json_loadb(sep + 4, n - (size_t)(sep + 4 - s), 0, NULL);
	CHECK(j != NULL);
	CHECK(json_is_string(json_object_get(j, "error")));
	json_decref(j);
	evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly sized copies so any read past len is an ASan report. */
	char *buf = malloc(size ? size : 1);
	char *pristine = malloc(size ? size : 1);
	struct http_request req;
	size_t off = 0, consumed;
	int status;
	char err[128];
	enum http_parse_status rc;

	CHECK(buf && pristine);
	memcpy(buf, data, size);
	memcpy(pristine, data, size);

	for (;;) {
		consumed = (size_t)-1;
		status = 0;
		rc = http_parse_request(buf + off, size - off, FUZZ_MAX_BODY, &req, &consumed,
					&status, err, sizeof(err));
		if (rc == HTTP_PARSE_ERROR) {
			CHECK(status == 400 || status == 413 || status == 414 ||
			      status == 431 || status == 501 || status == 505);
			CHECK(strnlen(err, sizeof(err)) > 0 && strnlen(err, sizeof(err)) < sizeof(err));
			break;
		}
		if (rc == HTTP_PARSE_NEED_MORE) {
			/* Nothing may be written while waiting for more. */
			CHECK(memcmp(buf + off, data + off, size - off) == 0);
			break;
		}
		CHECK(rc == HTTP_PARSE_OK);
		CHECK(consumed > 0 && consumed <= size - off);
		check_request(&req, buf + off, consumed);

		/* One byte short of the request must be "need more", untouched. */
		memcpy(pristine + off, data + off, consumed);
		CHECK(http_parse_request(pristine + off, consumed - 1, FUZZ_MAX_BODY, &req,
					 &consumed, &status, err, sizeof(err)) ==
		      HTTP_PARSE_NEED_MORE);
		CHECK(memcmp(pristine + off, data + off, size - off) == 0);

		/* Parse again for the real result (req was overwritten). */
		memcpy(buf + off, data + off, size - off);
		CHECK(http_parse_request(buf + off, size - off, FUZZ_MAX_BODY, &req, &consumed,
					 &status, err, sizeof(err)) == HTTP_PARSE_OK);
		if (req.header_count > 0)
			check_error_json(req.headers[0].value, req.path);
		off += consumed;
	}

	/* Raw bytes as an error message (NUL-terminated copy). */
	if (size > 0 && size < 4096) {
		char *msg = malloc(size + 1);

		CHECK(msg != NULL);
		memcpy(msg, data, size);
		msg[size] = '\0';
		check_error_json(msg, size % 2 ? NULL : msg);
		free(msg);
	}
	free(pristine);
	free(buf);
	return 0;
}
