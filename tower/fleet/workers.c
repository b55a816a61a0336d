/* workers.c — worker threads with one libevent loop each, and mailboxes
 * (mutex-guarded lists woken through a pipe) to them and back to the main
 * loop. Owns the threads and the queues; not what the jobs do. */
#include "tower/fleet/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#define WORKERS_MAX 16

struct worker_job {
	workers_fn fn, drop;
	void *arg;
	struct worker_job *next;
};

/* Jobs for one loop. The pipe gets a byte when the list goes from empty to
 * not empty, so it never fills up. */
struct mailbox {
	pthread_mutex_t lock;
	struct worker_job *head, *tail;
	int pipe[2];
	struct event *ev;
	struct event_base *base;
};

struct worker {
	struct workers *pool;
	struct mailbox box;
	pthread_t thread;
	bool started;
};

struct workers {
	struct mailbox main_box;
	struct worker workers[WORKERS_MAX];
	unsigned count;
	unsigned next;
};

static void box_run(evutil_socket_t fd, short what, void *arg)
{
	struct mailbox *box = arg;
	struct worker_job *jobs, *j;
	char drain[64];

	while (read(box->pipe[0], drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&box->lock);
	jobs = box->head;
	box->head = box->tail = NULL;
	pthread_mutex_unlock(&box->lock);
	while ((j = jobs) != NULL) {
		jobs = j->next;
		j->fn(box->base, j->arg);
		free(j);
	}
}

static int box_init(struct mailbox *box, struct event_base *base)
{
	pthread_mutex_init(&box->lock, NULL);
	box->base = base;
	if (pipe2(box->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		box->pipe[0] = box->pipe[1] = -1;
		return -1;
	}
	box->ev = event_new(base, box->pipe[0], EV_READ | EV_PERSIST, box_run, box);
	return box->ev != NULL && event_add(box->ev, NULL) == 0 ? 0 : -1;
}

/* Jobs left over go to their drop function. */
static void box_free(struct mailbox *box)
{
	struct worker_job *j;

	while ((j = box->head) != NULL) {
		box->head = j->next;
		if (j->drop != NULL)
			j->drop(NULL, j->arg);
		free(j);
	}
	if (box->ev != NULL)
		event_free(box->ev);
	if (box->pipe[0] >= 0) {
		close(box->pipe[0]);
		close(box->pipe[1]);
	}
	pthread_mutex_destroy(&box->lock);
}

static int box_put(struct mailbox *box, workers_fn fn, workers_fn drop, void *arg)
{
	struct worker_job *j = calloc(1, sizeof(*j));
	bool wake;

	if (j == NULL)
		return -1;
	j->fn = fn;
	j->drop = drop;
	j->arg = arg;
	pthread_mutex_lock(&box->lock);
	wake = box->head == NULL;
	if (box->tail != NULL)
		box->tail->next = j;
	else
		box->head = j;
	box->tail = j;
	pthread_mutex_unlock(&box->lock);
	if (wake) {
		ssize_t n;
		do
			n = write(box->pipe[1], "", 1);
		while (n < 0 && errno == EINTR);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;

	event_base_loop(wk->box.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void worker_stop(struct event_base *base, void *arg)
{
	event_base_loopbreak(base);
}

struct workers *workers_new(struct event_base *main_base, unsigned count, char *err,
			    size_t err_size)
{
	struct workers *w = calloc(1, sizeof(*w));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (w == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (count == 0)
		count = cpus > 0 ? (unsigned)cpus : 1;
	if (count > WORKERS_MAX)
		count = WORKERS_MAX;
	w->main_box.pipe[0] = w->main_box.pipe[1] = -1;
	if (box_init(&w->main_box, main_base) != 0)
		goto fail;
	for (unsigned i = 0; i < count; i++) {
		struct worker *wk = &w->workers[i];
		struct event_base *base = event_base_new();

		wk->pool = w;
		wk->box.pipe[0] = wk->box.pipe[1] = -1;
		w->count = i + 1;
		if (base == NULL || box_init(&wk->box, base) != 0) {
			if (wk->box.base == NULL && base != NULL)
				event_base_free(base);
			goto fail;
		}
		if (pthread_create(&wk->thread, NULL, worker_main, wk) != 0)
			goto fail;
		wk->started = true;
	}
	return w;
fail:
	snprintf(err, err_size, "cannot start worker threads: %s", strerror(errno));
	workers_free(w);
	return NULL;
}

void workers_stop(struct workers *w)
{
	for (unsigned i = 0; i < w->count; i++) {
		struct worker *wk = &w->workers[i];
		if (wk->started) {
			box_put(&wk->box, worker_stop, NULL, NULL);
			pthread_join(wk->thread, NULL);
			wk->started = false;
		}
	}
}

void workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	workers_stop(w);
	/* Threads are gone: their loops' leftovers are freed from here. */
	for (unsigned i = 0; i < w->count; i++) {
		struct worker *wk = &w->workers[i];
		struct event_base *base = wk->box.base;
		box_free(&wk->box);
		if (base != NULL)
			event_base_free(base);
	}
	box_free(&w->main_box);
	free(w);
}

int workers_submit(struct workers *w, workers_fn fn, workers_fn drop, void *arg)
{
	struct worker *wk = &w->workers[w->next++ % w->count];

	return box_put(&wk->box, fn, drop, arg);
}

int workers_return(struct workers *w, workers_fn fn, workers_fn drop, void *arg)
{
	return box_put(&w->main_box, fn, drop, arg);
}

unsigned workers_count(const struct workers *w)
{
	return w->count;
}
