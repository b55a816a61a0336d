/* sse.c — the API's Server-Sent Events streams: opening one, framing and
 * queueing its events under httpd's output cap, and ending it exactly once. */
#include "tower/api/sse.h"

#include <stdlib.h>

#include <event2/buffer.h>

#include "tower/api/http.h"
#include "tower/api/httpd.h"

static void sse_on_drained(void *arg)
{
	struct sse *s = arg;

	if (!s->paused)
		return;
	s->paused = false;
	if (s->ops->drained != NULL)
		s->ops->drained(s->owner);
}

static void sse_on_gone(void *arg)
{
	struct sse *s = arg;

	s->closed = true;
	s->ops->gone(s->owner);
	s->ops->release(s->owner);
}

int sse_open(struct sse *s, struct httpd_exchange *ex, const struct sse_ops *ops, void *owner)
{
	s->ops = ops;
	s->owner = owner;
	s->paused = s->closed = s->producing = false;
	http_write_sse_start(ex->out);
	s->stream = httpd_stream_begin(ex, sse_on_gone, sse_on_drained, s);
	if (s->stream == NULL) {
		ex->keep_alive = false;
		return -1;
	}
	return 0;
}

int sse_send_text(struct sse *s, const char *event, const char *text)
{
	struct evbuffer *buf;
	int rc = -1;

	if (s->closed || text == NULL)
		return -1;
	buf = evbuffer_new();
	if (buf != NULL && http_write_sse_event(buf, event, text) == 0)
		rc = httpd_stream_write(s->stream, evbuffer_pullup(buf, -1), evbuffer_get_length(buf));
	if (buf != NULL)
		evbuffer_free(buf);
	if (rc == 1)
		s->paused = true;
	return rc;
}

int sse_send(struct sse *s, const char *event, json_t *data)
{
	char *text = json_dumps(data, JSON_COMPACT);
	int rc = sse_send_text(s, event, text);

	free(text);
	return rc;
}

void sse_close(struct sse *s)
{
	if (s->closed)
		return;
	s->closed = true;
	httpd_stream_end(s->stream);
	if (!s->producing)
		s->ops->release(s->owner);
}

void sse_produce_begin(struct sse *s)
{
	s->producing = true;
}

bool sse_produce_end(struct sse *s)
{
	s->producing = false;
	if (s->closed) {
		s->ops->release(s->owner);
		return false;
	}
	return true;
}
