/* worker.h — the agent's task manager: journal on disk before acting, role
 * bundles from the cache, the runner for processes, results sent exactly once. */
#ifndef OC_WORKER_H
#define OC_WORKER_H

#include <stdbool.h>
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
/* The tower's clock from its welcome (seconds since the epoch). Task
 * deadlines are judged on it, carried forward by the monotonic clock, so
 * neither this node's clock skew nor a jump of its clock matters. */
void worker_tower_clock(struct worker *w, int64_t tower_time_s);
/* The margin a deadline is kept by: the welcome's time is whole seconds
 * (truncated) and took a while to arrive, so the tower's clock may be up
 * to this much ahead of the agent's reckoning of it. */
#define WORKER_DEADLINE_SLACK_MS 1500
/* True when a task whose deadline is not_after_ms (the tower's clock, ms;
 * 0: none) must not start when the agent reckons the tower's clock at
 * tower_now_ms (clock_known false: no welcome yet, so no reckoning): the
 * tower may have ended it already. */
bool worker_task_expired(uint64_t not_after_ms, int64_t tower_now_ms, bool clock_known);
/* "task", "cancel" and "task.ack" from the tower. */
void worker_handle(struct worker *w, const struct msg *m);
/* The link drained: output paused for backpressure may flow again. */
void worker_drained(struct worker *w);
size_t worker_active(const struct worker *w);

#endif
