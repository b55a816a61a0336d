/* journal.h — the agent's task journal: one append-only file recording, per
 * task id, accepted → result (the encoded task.done frame) → acknowledged. */
#ifndef OC_JOURNAL_H
#define OC_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest task id the journal keeps; ids pass util_name_ok (shared/util.h). */
#define JOURNAL_ID_MAX 64
/* Acknowledged ids are remembered this long, and at most this many (the
 * tower never sends a task again once it has its result: these are a
 * second guard, and each costs the agent memory). */
#define JOURNAL_ACKED_KEEP_S (7 * 86400)
#define JOURNAL_ACKED_MAX 256

struct journal;

enum journal_state {
	JOURNAL_UNKNOWN,   /* never seen: may run */
	JOURNAL_RUNNING,   /* accepted; a process may be running */
	JOURNAL_DONE,      /* result stored, not yet acknowledged */
	JOURNAL_ACKED,     /* the tower stored the result */
};

/* Opens (creating) <dir>/tasks.journal and loads it. A torn or damaged tail
 * is cut off and logged; what came before it stands. Per-task marker files
 * of older agents (<id>.run, .done, .acked) are taken over and removed.
 * Acknowledged ids older than JOURNAL_ACKED_KEEP_S before now are dropped.
 * Returns NULL with err. */
struct journal *journal_open(const char *dir, int64_t now, char *err, size_t err_size);
void journal_free(struct journal *j);

enum journal_state journal_state(const struct journal *j, const char *id);

/* Each appends one record before the caller acts on it. Not synced: see
 * worker.c for why that is enough. 0, or -1 with errno. */
int journal_mark_running(struct journal *j, const char *id);
int journal_mark_done(struct journal *j, const char *id, const uint8_t *frame, size_t len);
int journal_mark_acked(struct journal *j, const char *id, int64_t now);

/* The stored result frame of a JOURNAL_DONE id, malloc'd; NULL otherwise. */
uint8_t *journal_result(const struct journal *j, const char *id, size_t *len);

/* Calls fn for each id in state (a snapshot: fn may change states). */
void journal_each(struct journal *j, enum journal_state state,
		  void (*fn)(void *arg, const char *id), void *arg);

/* The parser under journal_open, for tests and fuzzing: calls rec for each
 * well-formed record of data (payload is the frame of a "done" record,
 * else NULL/0) and returns the length of the well-formed prefix. */
typedef void (*journal_record_fn)(void *arg, char kind, const char *id, int64_t when,
				  const uint8_t *payload, size_t payload_len, size_t offset);
size_t journal_scan(const uint8_t *data, size_t len, journal_record_fn rec, void *arg);

#endif
