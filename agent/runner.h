/* runner.h — runs task processes for the agent: each in its own process
 * group and work dir, output streamed in bounded chunks, timeouts enforced. */
#ifndef OC_RUNNER_H
#define OC_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/msg.h"

struct event_base;
struct runner;

#define RUNNER_LOG_CHUNK 16384          /* largest on_log chunk */
#define RUNNER_DEFAULT_GRACE_MS 5000    /* SIGTERM -> SIGKILL */

struct runner_spec {
	const char *id;                 /* task id, [A-Za-z0-9._-], <= 64 chars */
	const char *workdir;            /* created (0700) if missing; the child's cwd */
	const char *const *argv;        /* argv[0] is an absolute path or found on PATH */
	const struct msg_strmap *env;   /* extra variables (INPUT_*, OVERCLOUD_*), may be NULL */
	const struct msg_strlist *mask; /* values printed as *** in logs, may be NULL */
	uint64_t timeout_s;             /* >= 1 */
	const char *const *declared_outputs; /* NULL-terminated keys allowed in $OVERCLOUD_OUTPUT; NULL = any */
};

struct runner_result {
	const char *status;             /* "done", "failed", "timeout", "cancelled" */
	int64_t exit_code;              /* exit status, or 128 + signal number */
	uint64_t duration_ms;
	const char *reason;             /* NULL when done; one line otherwise */
	const struct msg_strmap *outputs;
};

struct runner_callbacks {
	/* A chunk of the task's output, <= RUNNER_LOG_CHUNK bytes, secrets
	 * already masked; stream is "stdout" or "stderr"; seq counts from 0
	 * across both streams, in the order the bytes were read. */
	void (*on_log)(void *arg, const char *task_id, const char *stream, uint64_t seq,
		       const uint8_t *data, size_t len);
	/* A new line in $OVERCLOUD_PROGRESS (percent clamped to 0..100). */
	void (*on_progress)(void *arg, const char *task_id, unsigned percent, const char *message);
	/* The task ended; res and everything it points to live until return. */
	void (*on_done)(void *arg, const char *task_id, const struct runner_result *res);
};

/* max_running tasks at once; more wait in FIFO order. */
struct runner *runner_new(struct event_base *base, const struct runner_callbacks *cb, void *arg,
			  unsigned max_running, int grace_ms);
/* Kills (SIGKILL to the group) whatever still runs, without callbacks. */
void runner_free(struct runner *r);

/* Starts or queues the task. Copies everything in spec. Returns 0, or -1 with
 * a reason (bad spec, duplicate running id). A script that cannot be
 * executed (missing, not executable) is not an error here: the task ends
 * "failed" through on_done with that reason. */
int runner_start(struct runner *r, const struct runner_spec *spec, char *err, size_t err_size);
/* SIGTERM then SIGKILL after the grace period; ends "cancelled". Returns 0,
 * or -1 when no such task is queued or running. */
int runner_cancel(struct runner *r, const char *task_id);
/* Backpressure: while paused no pipe is read, so children block on write
 * and memory stays bounded. */
void runner_set_paused(struct runner *r, bool paused);
size_t runner_active(const struct runner *r);   /* running + queued */

/* Parses an $OVERCLOUD_OUTPUT file's contents (key=value and key<<DELIM
 * heredocs; see tower/roles/README.md). declared may be NULL (any key).
 * Fills out (free with runner_outputs_clear). Returns 0, or -1 with
 * "line N: ..." in err. */
int runner_parse_outputs(const char *text, size_t len, const char *const *declared,
			 struct msg_strmap *out, char *err, size_t err_size);
void runner_outputs_clear(struct msg_strmap *m);

#endif
