/* worker.h — the agent's task manager: journal on disk before acting, role
 * bundles from the cache, the runner for processes, results sent exactly once. */
#ifndef OC_WORKER_H
#define OC_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct msg;
struct worker;

struct worker_link {
	/* Queue a message / an encoded frame to the tower; -1 when offline. */
	int (*send)(void *arg, const struct msg *m);
	int (*send_frame)(void *arg, const uint8_t *frame, size_t len);
	/* Bytes queued to the tower and not yet sent (for backpressure). */
	size_t (*pending)(void *arg);
	void *arg;
};

/* Journal in <state_dir>/journal, work dirs in <state_dir>/work, bundles in
 * <state_dir>/bundles. Tasks that were running when the agent last stopped
 * are finished here as failed ("agent restarted"), their processes killed.
 * Returns NULL with err. */
struct worker *worker_new(struct event_base *base, const char *state_dir, unsigned max_running,
			  const struct worker_link *link, char *err, size_t err_size);
void worker_free(struct worker *w);

/* Connected as node_id, reachable at node_ip: results the tower has not
 * acknowledged yet are sent again. */
void worker_connected(struct worker *w, const char *node_id, const char *node_ip);
/* "task", "cancel" and "task.ack" from the tower. */
void worker_handle(struct worker *w, const struct msg *m);
/* The link drained: output paused for backpressure may flow again. */
void worker_drained(struct worker *w);
size_t worker_active(const struct worker *w);

#endif
