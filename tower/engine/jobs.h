/* jobs.h — runs blocking calls (cloud provider APIs) on a few threads and
 * hands each result back on the event loop, so the tower never stalls. */
#ifndef OC_JOBS_H
#define OC_JOBS_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct jobs;

/* Runs on a pool thread: must not touch the event loop, sqlite or anything
 * else the loop owns; only what arg carries. */
typedef void (*jobs_work_fn)(void *arg);
/* Runs on the event loop once work returned (ran = true), or at jobs_free
 * for work that never started (ran = false). It owns arg from then on. */
typedef void (*jobs_done_fn)(void *arg, bool ran);

/* Returns NULL with err. Caller frees with jobs_free. */
struct jobs *jobs_new(struct event_base *base, int threads, char *err, size_t err_size);

/* Queues work; 0, or -1 (out of memory) when nothing was queued. */
int jobs_submit(struct jobs *j, jobs_work_fn work, jobs_done_fn done, void *arg);

/* Work queued or running now. */
size_t jobs_busy(const struct jobs *j);

/* Waits for running work to return, then calls every done callback still
 * owed (not-started work gets ran = false) and stops the threads. */
void jobs_free(struct jobs *j);

#endif
