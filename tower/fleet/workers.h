/* workers.h — a few threads, each running its own event loop, for the
 * CPU-heavy part of agent connections (TLS handshakes, CSR signing), and the
 * way back to the main loop. */
#ifndef OC_WORKERS_H
#define OC_WORKERS_H

#include <stddef.h>

struct event_base;
struct workers;

/* Runs on a loop's own thread with that loop's base. */
typedef void (*workers_fn)(struct event_base *base, void *arg);

/* count threads (0: one per online CPU); main_base is the loop of the
 * thread that calls everything below except workers_return. NULL with err. */
struct workers *workers_new(struct event_base *main_base, unsigned count, char *err,
			    size_t err_size);
/* Stops and joins the threads; their loops and queues stay until
 * workers_free, so what the jobs left on them can be freed in between. */
void workers_stop(struct workers *w);
/* Stops (if needed) and frees. Jobs not run yet get their drop function. */
void workers_free(struct workers *w);
/* Runs fn(worker base, arg) on the next worker (round robin); when the
 * pool is torn down first, drop(arg) runs instead (may be NULL). 0 or -1. */
int workers_submit(struct workers *w, workers_fn fn, workers_fn drop, void *arg);
/* From a worker thread: runs fn(main base, arg) on the main loop, or
 * drop(NULL, arg) at teardown. 0 or -1. */
int workers_return(struct workers *w, workers_fn fn, workers_fn drop, void *arg);
unsigned workers_count(const struct workers *w);

#endif
