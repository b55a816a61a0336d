/* sse.h — one Server-Sent Events stream of the API: opened on a request,
 * events framed and queued under httpd's output cap, closed once. */
#ifndef OC_SSE_H
#define OC_SSE_H

#include <stdbool.h>

#include <jansson.h>

struct httpd_exchange;
struct httpd_stream;

/* What the producer behind a stream does (owner is its own struct). */
struct sse_ops {
	/* All that was queued has been sent after a send paused the stream;
	 * may be NULL. */
	void (*drained)(void *owner);
	/* The client went (or the server stops): stop producing. The owner is
	 * released right after. */
	void (*gone)(void *owner);
	/* Frees the owner: once, after gone or after sse_close. */
	void (*release)(void *owner);
};

/* Lives inside its owner. */
struct sse {
	struct httpd_stream *stream;
	const struct sse_ops *ops;
	void *owner;
	bool paused;       /* a send went over the output cap: wait for drained */
	bool closed;
	bool producing;    /* inside sse_produce_begin/end: release waits for the end */
};

/* Starts the stream on ex (the SSE head, then the connection is kept).
 * Returns 0, or -1 when the connection is closing: nothing was started,
 * the caller frees the owner itself. */
int sse_open(struct sse *s, struct httpd_exchange *ex, const struct sse_ops *ops, void *owner);
/* Queues "event: <event>\ndata: <text>\n\n". Returns httpd_stream_write's
 * answer: 0; 1 when over the output cap (s->paused is set: send nothing
 * more until drained); -1 when it cannot (closed, or cannot be framed). */
int sse_send_text(struct sse *s, const char *event, const char *text);
/* The same with data as compact JSON. */
int sse_send(struct sse *s, const char *event, json_t *data);
/* Sends what is queued and ends the stream; the owner is released now, or
 * at sse_produce_end when called inside a producer call. */
void sse_close(struct sse *s);
/* Around a call that may close the stream from within (a watch that
 * replays to its end): the owner is not released before the end. */
void sse_produce_begin(struct sse *s);
/* Returns false when the stream was closed meanwhile: the owner is freed. */
bool sse_produce_end(struct sse *s);

#endif
