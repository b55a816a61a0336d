/* jobs.c — a small thread pool: a queue of blocking calls, a queue of their
 * results, and an eventfd that wakes the event loop to deliver them. */
#include "tower/engine/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#define JOBS_THREADS_MAX 64

struct job {
	jobs_work_fn work;
	jobs_done_fn done;
	void *arg;
	struct job *next;
};

struct job_list {
	struct job *head, *tail;
};

struct jobs {
	struct event_base *base;
	struct event *wake_ev;
	int wake_fd;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct job_list queued;     /* waiting for a thread */
	struct job_list finished;   /* waiting for the event loop */
	size_t busy;                /* queued + running + finished-not-delivered */
	bool stopping;
	pthread_t threads[JOBS_THREADS_MAX];
	int thread_count;
};

static void list_push(struct job_list *l, struct job *jb)
{
	jb->next = NULL;
	if (l->tail != NULL)
		l->tail->next = jb;
	else
		l->head = jb;
	l->tail = jb;
}

static struct job *list_take_all(struct job_list *l)
{
	struct job *all = l->head;

	l->head = l->tail = NULL;
	return all;
}

static void *worker_main(void *arg)
{
	struct jobs *j = arg;

	pthread_mutex_lock(&j->lock);
	for (;;) {
		struct job *jb;
		uint64_t one = 1;

		while (j->queued.head == NULL && !j->stopping)
			pthread_cond_wait(&j->more, &j->lock);
		if (j->queued.head == NULL)
			break;   /* stopping, and nothing left to start */
		jb = j->queued.head;
		j->queued.head = jb->next;
		if (j->queued.head == NULL)
			j->queued.tail = NULL;
		pthread_mutex_unlock(&j->lock);

		jb->work(jb->arg);

		pthread_mutex_lock(&j->lock);
		list_push(&j->finished, jb);
		/* A full eventfd counter still wakes the loop; nothing to handle. */
		if (write(j->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static void deliver(struct jobs *j, struct job *list, bool ran)
{
	while (list != NULL) {
		struct job *next = list->next;
		list->done(list->arg, ran);
		free(list);
		list = next;
	}
	(void)j;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct jobs *j = arg;
	uint64_t count;
	struct job *done;
	size_t n = 0;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&j->lock);
	done = list_take_all(&j->finished);
	for (struct job *jb = done; jb != NULL; jb = jb->next)
		n++;
	j->busy -= n;
	pthread_mutex_unlock(&j->lock);
	deliver(j, done, true);
}

struct jobs *jobs_new(struct event_base *base, int threads, char *err, size_t err_size)
{
	struct jobs *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (threads < 1)
		threads = 1;
	if (threads > JOBS_THREADS_MAX)
		threads = JOBS_THREADS_MAX;
	j->base = base;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->more, NULL);
	j->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (j->wake_fd < 0) {
		snprintf(err, err_size, "eventfd: %s", strerror(errno));
		goto fail;
	}
	j->wake_ev = event_new(base, j->wake_fd, EV_READ | EV_PERSIST, on_wake, j);
	if (j->wake_ev == NULL || event_add(j->wake_ev, NULL) != 0) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	for (int i = 0; i < threads; i++) {
		int rc = pthread_create(&j->threads[i], NULL, worker_main, j);
		if (rc != 0) {
			snprintf(err, err_size, "pthread_create: %s", strerror(rc));
			goto fail;
		}
		j->thread_count++;
	}
	return j;
fail:
	jobs_free(j);
	return NULL;
}

int jobs_submit(struct jobs *j, jobs_work_fn work, jobs_done_fn done, void *arg)
{
	struct job *jb = calloc(1, sizeof(*jb));

	if (jb == NULL)
		return -1;
	jb->work = work;
	jb->done = done;
	jb->arg = arg;
	pthread_mutex_lock(&j->lock);
	list_push(&j->queued, jb);
	j->busy++;
	pthread_cond_signal(&j->more);
	pthread_mutex_unlock(&j->lock);
	return 0;
}

size_t jobs_busy(const struct jobs *j)
{
	size_t n;

	pthread_mutex_lock((pthread_mutex_t *)&j->lock);
	n = j->busy;
	pthread_mutex_unlock((pthread_mutex_t *)&j->lock);
	return n;
}

void jobs_free(struct jobs *j)
{
	struct job *not_started, *finished;

	if (j == NULL)
		return;
	pthread_mutex_lock(&j->lock);
	not_started = list_take_all(&j->queued);
	j->stopping = true;
	pthread_cond_broadcast(&j->more);
	pthread_mutex_unlock(&j->lock);
	for (int i = 0; i < j->thread_count; i++)
		pthread_join(j->threads[i], NULL);
	finished = list_take_all(&j->finished);
	deliver(j, finished, true);
	deliver(j, not_started, false);
	if (j->wake_ev != NULL)
		event_free(j->wake_ev);
	if (j->wake_fd >= 0)
		close(j->wake_fd);
	pthread_cond_destroy(&j->more);
	pthread_mutex_destroy(&j->lock);
	free(j);
}
