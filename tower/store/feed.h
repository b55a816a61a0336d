/* feed.h — the change feed between tower replicas on one PostgreSQL: short
 * notes (ids, or a piece of a task's log) sent with NOTIFY, heard on a LISTEN
 * connection of their own on the main loop. Readers re-read the database. */
#ifndef OC_FEED_H
#define OC_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tower/store/store.h"

struct event_base;
struct feed;

/* The channel every replica listens on. */
#define FEED_CHANNEL "overcloud_feed"

enum feed_kind {
	FEED_RUN,        /* a run's tasks were made pending: send those whose node is here */
	FEED_TASK,       /* a task started or reported progress */
	FEED_TASK_DONE,  /* a task finished: the last note about it, after its log's */
	FEED_LOG,        /* a piece of a task's log (the log is not in the database) */
	FEED_OVERCLOUD,  /* an OverCloud, its steps, or a request on it changed */
	FEED_RESYNC,     /* never sent: the LISTEN connection was made again, notes
			  * may have been missed, look at everything */
};

#define FEED_ORIGIN_LEN 16
/* At most this many log bytes in one note (hex makes it twice that, under
 * PostgreSQL's 8000-byte payload limit). */
#define FEED_LOG_MAX 3000
/* The longest payload a replica sends or accepts. */
#define FEED_PAYLOAD_MAX 7999

struct feed_note {
	enum feed_kind kind;
	char origin[FEED_ORIGIN_LEN + 1];   /* the sending tower's random tag */
	char id[STORE_ID_MAX];              /* RUN, TASK*, LOG: the run; OVERCLOUD: it */
	char task_id[STORE_ID_MAX];         /* TASK, TASK_DONE, LOG */
	bool err_stream;                    /* LOG: stderr, else stdout */
	uint8_t data[FEED_LOG_MAX];         /* LOG */
	size_t data_len;
};

/* A payload as a note: 0, or -1 when it is anything but one this build
 * sends (a payload is untrusted input: strict, whole, bounded). */
int feed_note_parse(const char *payload, size_t len, struct feed_note *out);
/* The payload of a note into out: its length, or -1 (an id that is not
 * [A-Za-z0-9._:-]{1,63}, too much data, out too small). */
int feed_note_format(const struct feed_note *note, char *out, size_t size);

/* What a replica does with a note from another one (its own are dropped). */
typedef void (*feed_fn)(void *arg, const struct feed_note *note);

/* Listens on a connection of its own to the database target names (the
 * store's URL), on base; sends on st's connection, so a note sent inside a
 * batch goes with its COMMIT. The LISTEN connection is made again when it is
 * lost, and fn then gets a FEED_RESYNC note. NULL with err when the first
 * connection fails. */
struct feed *feed_new(struct store *st, const char *target, struct event_base *base, feed_fn fn,
		      void *arg, char *err, size_t err_size);
/* Before store_close. NULL is fine. */
void feed_free(struct feed *f);
/* Sends a note (f NULL: nothing to do, a tower alone). Failing is logged
 * and otherwise harmless: every reader has a slow poll as a safety net. */
void feed_send(struct feed *f, enum feed_kind kind, const char *id, const char *task_id);
/* Sends a task's log bytes, in notes of at most FEED_LOG_MAX. */
void feed_send_log(struct feed *f, const char *run_id, const char *task_id, bool err_stream,
		   const uint8_t *data, size_t len);
/* Notes sent and heard (for tests and /metrics). */
uint64_t feed_heard(const struct feed *f);

#endif
