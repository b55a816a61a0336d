/* runner.c — starts task processes in their own group and work dir, streams
 * their masked output, enforces timeouts and reaps; outputs.c parses results. */
#include "agent/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/outputs.h"
#include "shared/log.h"
#include "shared/mask.h"
#include "shared/util.h"

#define RUNNER_READ_SIZE RUNNER_LOG_CHUNK  /* bytes per read(2) of a pipe */
#define RUNNER_TICK_MS 200                  /* progress poll (and reap fallback) */
#define RUNNER_DRAIN_MS 2000                /* EOF wait once the leader is gone */
#define RUNNER_ID_MAX 64
#define RUNNER_MASK_MAX (64 * 1024)         /* longest secret we hold back for */
#define PROGRESS_READ_MAX 8192              /* bytes read per poll */
#define PROGRESS_FINAL_MAX (64 * 1024)      /* bytes read by the poll at exit */
#define PROGRESS_LINE_MAX 1024              /* longer progress lines are ignored */

static const char runner_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

enum task_state { TASK_QUEUED, TASK_RUNNING, TASK_FINISHING };

/* What a child that could not exec writes on its close-on-exec pipe. */
enum child_stage { CHILD_SETUP = 1, CHILD_CHDIR, CHILD_EXEC };
struct child_report {
	int stage;
	int err;
};

struct runner_task;

struct runner_stream {
	struct runner_task *task;
	const char *name;       /* "stdout" or "stderr" */
	int fd;                 /* read end, -1 once closed */
	struct event *ev;
	uint8_t *buf;           /* held-back bytes, then one read */
	size_t held;
};

struct runner_task {
	struct runner *r;
	struct runner_task *prev, *next;
	enum task_state state;
	char *id;
	char *workdir;
	char *output_path;
	char *progress_path;
	char **argv;            /* NULL-terminated copies */
	char **envp;
	char **exec_paths;      /* where argv[0] is looked for, in order */
	char **declared;        /* NULL = any key */
	struct mask *mask;      /* the task's secrets */
	size_t buf_size;        /* per stream: longest secret - 1 + RUNNER_READ_SIZE */
	uint64_t timeout_s;

	pid_t pid;              /* leader and process group id; 0 before launch */
	bool launched;
	bool reaped;
	bool status_lost;       /* someone else reaped our child */
	int wstatus;
	int report_fd;          /* read end of the exec-error pipe */
	struct child_report report;
	struct runner_stream out, err;
	struct event *kill_ev;  /* timeout, then SIGTERM -> SIGKILL */
	struct event *drain_ev;
	struct event *tick_ev;
	struct event *defer_ev; /* finishes a task that never ran */
	const char *end_status; /* "timeout" or "cancelled" once terminating */
	bool termed;
	char fail_reason[256];  /* launch failure */
	uint64_t seq;
	int64_t start_ms;
	off_t progress_off;
	bool progress_skip;     /* inside an over-long progress line */
};

struct runner {
	struct event_base *base;
	struct runner_callbacks cb;
	void *arg;
	unsigned max_running;
	int grace_ms;
	struct event *sigchld_ev;
	struct runner_task *head, *tail;
	size_t ntasks;
	size_t nrunning;
	bool paused;
	uint8_t chunk[RUNNER_LOG_CHUNK]; /* masked bytes on their way to on_log */
	size_t chunk_len;
	/* Signals the agent catches or ignores, which a child resets before
	 * exec; found at the first launch, after main.c and libevent set them. */
	int custom_signals[NSIG];
	int custom_signal_count;     /* -1 until found */
};

static void task_finish(struct runner_task *t);
static void runner_kick(struct runner *r);

static void free_strv(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

static struct timeval ms_tv(int64_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	return tv;
}

/* ---- output streams ---- */

static void log_flush(struct runner_stream *s)
{
	struct runner_task *t = s->task;
	struct runner *r = t->r;
	size_t len = r->chunk_len;

	if (len == 0)
		return;
	r->chunk_len = 0;
	if (r->cb.on_log != NULL)
		r->cb.on_log(r->arg, t->id, s->name, t->seq, r->chunk, len);
	t->seq++;
}

static void log_emit(void *ctx, const uint8_t *p, size_t n)
{
	struct runner_stream *s = ctx;
	struct runner *r = s->task->r;

	while (n > 0) {
		size_t room = sizeof(r->chunk) - r->chunk_len;
		size_t k = n < room ? n : room;

		memcpy(r->chunk + r->chunk_len, p, k);
		r->chunk_len += k;
		p += k;
		n -= k;
		if (r->chunk_len == sizeof(r->chunk))
			log_flush(s);
	}
}

/* Delivers whatever is held back (at EOF nothing can complete a secret any
 * more) and releases the pipe. */
static void stream_close(struct runner_stream *s)
{
	if (s->fd < 0)
		return;
	if (s->held > 0) {
		mask_stream(s->task->mask, s->buf, s->held, true, log_emit, s);
		log_flush(s);
		s->held = 0;
	}
	event_free(s->ev);
	s->ev = NULL;
	close(s->fd);
	s->fd = -1;
	free(s->buf);
	s->buf = NULL;
}

static bool task_streams_closed(const struct runner_task *t)
{
	return t->out.fd < 0 && t->err.fd < 0;
}

static void stream_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_stream *s = arg;
	struct runner_task *t = s->task;
	size_t total, used;
	ssize_t n;

	n = read(s->fd, s->buf + s->held, t->buf_size - s->held);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_warn("task %s: reading %s: %s", t->id, s->name, strerror(errno));
		n = 0;
	}
	if (n == 0) {
		stream_close(s);
		if (t->reaped && task_streams_closed(t))
			task_finish(t);
		return;
	}
	total = s->held + (size_t)n;
	used = mask_stream(t->mask, s->buf, total, false, log_emit, s);
	log_flush(s);
	s->held = total - used;
	memmove(s->buf, s->buf + used, s->held);
}

/* ---- progress ---- */

struct text_sink {
	char *buf;
	size_t len, cap;
};

static void text_emit(void *ctx, const uint8_t *p, size_t n)
{
	struct text_sink *k = ctx;

	if (n > k->cap - 1 - k->len)
		n = k->cap - 1 - k->len;
	memcpy(k->buf + k->len, p, n);
	k->len += n;
	k->buf[k->len] = '\0';
}

/* "PERCENT message": an optional '-', digits, then blanks and the message.
 * Anything else is ignored. The message is masked like the log. */
static void progress_line(struct runner_task *t, const char *p, size_t len)
{
	char msg[3 * PROGRESS_LINE_MAX + 1];
	struct text_sink sink = { msg, 0, sizeof(msg) };
	unsigned percent = 0;
	size_t i = 0, digits = 0;
	bool neg = false;

	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (len > PROGRESS_LINE_MAX || memchr(p, '\0', len) != NULL)
		return;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < len && p[i] == '-') {
		neg = true;
		i++;
	}
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++)
		if (percent <= 100)
			percent = percent * 10 + (unsigned)(p[i] - '0');
	if (digits == 0 || (i < len && p[i] != ' ' && p[i] != '\t'))
		return;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (neg)
		percent = 0;
	if (percent > 100)
		percent = 100;
	msg[0] = '\0';
	mask_stream(t->mask, (const uint8_t *)p + i, len - i, true, text_emit, &sink);
	if (t->r->cb.on_progress != NULL)
		t->r->cb.on_progress(t->r->arg, t->id, percent, msg);
}

/* Reads new complete lines of the progress file, at most a few KiB per call
 * (more at exit, when an unterminated last line counts too). */
static void progress_poll(struct runner_task *t, bool final)
{
	char buf[PROGRESS_READ_MAX];
	size_t limit = final ? PROGRESS_FINAL_MAX : PROGRESS_READ_MAX, done = 0;
	struct stat st;
	int fd;

	fd = open(t->progress_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	if (st.st_size < t->progress_off) {
		/* Truncated by the script: start again from the top. */
		t->progress_off = 0;
		t->progress_skip = false;
	}
	while (done < limit) {
		ssize_t n = pread(fd, buf, sizeof(buf), t->progress_off);
		size_t pos = 0;
		char *nl;

		if (n <= 0)
			break;
		while ((nl = memchr(buf + pos, '\n', (size_t)n - pos)) != NULL) {
			if (t->progress_skip)
				t->progress_skip = false;
			else
				progress_line(t, buf + pos, (size_t)(nl - (buf + pos)));
			pos = (size_t)(nl - buf) + 1;
		}
		if (pos == 0 && (size_t)n == sizeof(buf)) {
			t->progress_skip = true;
			pos = (size_t)n;
		} else if (final && pos < (size_t)n && (size_t)n < sizeof(buf)) {
			if (!t->progress_skip)
				progress_line(t, buf + pos, (size_t)n - pos);
			t->progress_skip = false;
			pos = (size_t)n;
		}
		t->progress_off += (off_t)pos;
		done += (size_t)n;
		if (pos < (size_t)n || (size_t)n < sizeof(buf))
			break;
	}
out:
	close(fd);
}

/* ---- the child ---- */

static _Noreturn void child_fail(int fd, int stage, int err)
{
	struct child_report rep = { stage, err };
	ssize_t n = write(fd, &rep, sizeof(rep));

	(void)n;
	_exit(err == ENOENT ? 127 : 126);
}

static void child_close_from(int lowfd)
{
	struct rlimit rl;
	long max = 1024;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0U) == 0)
		return;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	if (max > 65536)
		max = 65536;
	for (long fd = lowfd; fd < max; fd++)
		close((int)fd);
}

/* Between vfork and exec: async-signal-safe calls only, no writes to memory
 * the parent owns; everything it needs was prepared by the parent. fd 3
 * carries a report if exec fails. */
static _Noreturn void child_run(const struct runner_task *t, int out_w, int err_w, int rep_w)
{
	struct sigaction sa;
	sigset_t none;
	int fds[4], saved_errno = ENOENT;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	/* exec resets caught signals but keeps ignored ones; and a handler
	 * must not run here, in the parent's memory, once signals unblock. */
	for (int i = 0; i < t->r->custom_signal_count; i++)
		sigaction(t->r->custom_signals[i], &sa, NULL);
	setpgid(0, 0);

	/* Above 2 first, so the dup2 calls below cannot clobber each other. */
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fds[0] < 0)
		child_fail(rep_w, CHILD_SETUP, errno);
	fds[0] = fcntl(fds[0], F_DUPFD_CLOEXEC, 10);
	fds[1] = fcntl(out_w, F_DUPFD_CLOEXEC, 10);
	fds[2] = fcntl(err_w, F_DUPFD_CLOEXEC, 10);
	fds[3] = fcntl(rep_w, F_DUPFD_CLOEXEC, 10);
	if (fds[3] < 0)
		child_fail(rep_w, CHILD_SETUP, errno);
	if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)
		child_fail(fds[3], CHILD_SETUP, errno);
	if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0 ||
	    dup2(fds[3], 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		child_fail(fds[3], CHILD_SETUP, errno);
	child_close_from(4);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (chdir(t->workdir) != 0)
		child_fail(3, CHILD_CHDIR, errno);
	for (char **path = t->exec_paths; *path != NULL; path++) {
		execve(*path, t->argv, t->envp);
		if (errno == EACCES)
			saved_errno = EACCES;
		else if (errno != ENOENT && errno != ENOTDIR)
			child_fail(3, CHILD_EXEC, errno);
	}
	child_fail(3, CHILD_EXEC, saved_errno);
}

/* ---- life of a task ---- */

static void task_signal_group(struct runner_task *t, int sig)
{
	if (t->pid > 1 && kill(-t->pid, sig) != 0 && errno != ESRCH)
		log_warn("task %s: kill(-%d, %d): %s", t->id, (int)t->pid, sig, strerror(errno));
}

static void task_terminate(struct runner_task *t, const char *status)
{
	struct timeval tv = ms_tv(t->r->grace_ms);

	if (t->end_status != NULL)
		return;
	t->end_status = status;
	t->termed = true;
	task_signal_group(t, SIGTERM);
	evtimer_add(t->kill_ev, &tv);
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_task *t = arg;

	if (!t->termed) {
		log_warn("task %s: timed out after %" PRIu64 "s, sending SIGTERM to group %d",
			 t->id, t->timeout_s, (int)t->pid);
		task_terminate(t, "timeout");
		return;
	}
	log_warn("task %s: still running %d ms after SIGTERM, sending SIGKILL to group %d",
		 t->id, t->r->grace_ms, (int)t->pid);
	task_signal_group(t, SIGKILL);
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_task *t = arg;
	struct timeval tv = ms_tv(RUNNER_DRAIN_MS);

	if (t->r->paused) {
		evtimer_add(t->drain_ev, &tv);
		return;
	}
	log_warn("task %s: output still open %d ms after the script exited "
		 "(a process left its group?), closing it", t->id, RUNNER_DRAIN_MS);
	stream_close(&t->out);
	stream_close(&t->err);
	task_finish(t);
}

static void task_reaped(struct runner_task *t, int wstatus, bool lost)
{
	struct timeval tv = ms_tv(RUNNER_DRAIN_MS);
	ssize_t n;

	t->reaped = true;
	t->wstatus = wstatus;
	t->status_lost = lost;
	event_del(t->tick_ev);
	if (!t->termed)
		event_del(t->kill_ev);
	/* The child has exited, so its end of the pipe is closed: no blocking. */
	n = read(t->report_fd, &t->report, sizeof(t->report));
	if (n != (ssize_t)sizeof(t->report))
		memset(&t->report, 0, sizeof(t->report));
	close(t->report_fd);
	t->report_fd = -1;
	if (task_streams_closed(t))
		task_finish(t);
	else
		evtimer_add(t->drain_ev, &tv);
}

/* Reaps t's leader if it has exited. Returns true when t was reaped (and
 * may have been freed). */
static bool task_try_reap(struct runner_task *t)
{
	int wstatus = 0;
	pid_t p;

	if (t->state != TASK_RUNNING || t->reaped)
		return false;
	p = waitpid(t->pid, &wstatus, WNOHANG);
	if (p == t->pid) {
		task_reaped(t, wstatus, false);
		return true;
	}
	if (p < 0 && errno == ECHILD) {
		log_warn("task %s: pid %d was reaped elsewhere, exit status lost", t->id, (int)t->pid);
		task_reaped(t, 0, true);
		return true;
	}
	return false;
}

static void sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct runner *r = arg;
	struct runner_task *t;

again:
	for (t = r->head; t != NULL; t = t->next)
		if (task_try_reap(t))
			goto again;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runner_task *t = arg;

	progress_poll(t, false);
	/* In case SIGCHLD went to someone else's handler. */
	task_try_reap(t);
}

static void defer_cb(evutil_socket_t fd, short what, void *arg)
{
	task_finish(arg);
}

/* The script creates these files when it writes to them; ones left by an
 * earlier attempt in the same work dir must not count for this one. */
static int remove_stale(const char *path)
{
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Takes fd over, even on failure. */
static int stream_init(struct runner_task *t, struct runner_stream *s, int fd)
{
	s->fd = fd;
	s->held = 0;
	s->buf = malloc(t->buf_size);
	s->ev = event_new(t->r->base, fd, EV_READ | EV_PERSIST, stream_read_cb, s);
	if (s->buf == NULL || s->ev == NULL)
		return -1;
	return 0;
}

static void stream_release(struct runner_stream *s)
{
	if (s->ev != NULL)
		event_free(s->ev);
	s->ev = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->buf);
	s->buf = NULL;
}

static void find_custom_signals(struct runner *r)
{
	struct sigaction sa;

	r->custom_signal_count = 0;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL)
			r->custom_signals[r->custom_signal_count++] = sig;
}

/* Forks and execs t. Returns 0, or -1 with t->fail_reason set. */
static int task_launch(struct runner_task *t)
{
	struct runner *r = t->r;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rep[2] = { -1, -1 };
	struct timeval tick = ms_tv(RUNNER_TICK_MS);
	struct timeval limit = { .tv_sec = (time_t)t->timeout_s, .tv_usec = 0 };
	sigset_t all, old;
	pid_t pid;
	int saved, rc;

	if (mkdir(t->workdir, 0700) != 0) {
		if (errno != EEXIST && util_mkdir_p(t->workdir, 0700) != 0) {
			snprintf(t->fail_reason, sizeof(t->fail_reason), "cannot create work dir %s: %s",
				 t->workdir, strerror(errno));
			goto fail;
		}
		if (remove_stale(t->output_path) != 0 || remove_stale(t->progress_path) != 0) {
			snprintf(t->fail_reason, sizeof(t->fail_reason), "cannot clean files in %s: %s",
				 t->workdir, strerror(errno));
			goto fail;
		}
	}
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0 ||
	    fcntl(out[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(rep[0], F_SETFL, O_NONBLOCK) != 0) {
		snprintf(t->fail_reason, sizeof(t->fail_reason), "cannot start: pipe: %s", strerror(errno));
		goto fail;
	}
	rc = stream_init(t, &t->out, out[0]);
	rc |= stream_init(t, &t->err, err[0]);
	out[0] = err[0] = -1; /* the streams own them now */
	if (rc != 0) {
		snprintf(t->fail_reason, sizeof(t->fail_reason), "cannot start: out of memory");
		goto fail;
	}
	t->tick_ev = event_new(r->base, -1, EV_PERSIST, tick_cb, t);
	t->kill_ev = evtimer_new(r->base, kill_cb, t);
	t->drain_ev = evtimer_new(r->base, drain_cb, t);
	if (t->tick_ev == NULL || t->kill_ev == NULL || t->drain_ev == NULL) {
		snprintf(t->fail_reason, sizeof(t->fail_reason), "cannot start: out of memory");
		goto fail;
	}

	/* No handler may run in the child before it resets them all. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (r->custom_signal_count < 0)
		find_custom_signals(r);
	t->start_ms = util_monotonic_ms();
	/* vfork, not fork: copying the page tables and then taking a
	 * copy-on-write fault (and a TLB shootdown) on every page the agent
	 * touches was most of a no-op task's cost. child_run only uses its own
	 * stack and what the parent prepared, and always execs or _exits. */
	pid = vfork();
	if (pid == 0)
		child_run(t, out[1], err[1], rep[1]);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		snprintf(t->fail_reason, sizeof(t->fail_reason), "cannot start: fork: %s", strerror(saved));
		goto fail;
	}
	/* Also here, so kill(-pid) works even before the child ran. */
	setpgid(pid, pid);
	close(out[1]);
	close(err[1]);
	close(rep[1]);
	t->pid = pid;
	t->launched = true;
	t->report_fd = rep[0];
	if (!r->paused) {
		event_add(t->out.ev, NULL);
		event_add(t->err.ev, NULL);
	}
	event_add(t->tick_ev, &tick);
	evtimer_add(t->kill_ev, &limit);
	log_info("task %s: started %s as pid %d", t->id, t->argv[0], (int)pid);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	stream_release(&t->out);
	stream_release(&t->err);
	return -1;
}

static const char *child_stage_what(int stage)
{
	switch (stage) {
	case CHILD_CHDIR:
		return "cannot enter work dir";
	case CHILD_EXEC:
		return "cannot execute";
	default:
		return "cannot set up";
	}
}

/* Reads and parses the output file. Returns 0, or -1 with reason set. */
static int task_read_outputs(struct runner_task *t, struct msg_strmap *outputs, char *reason,
			     size_t reason_size)
{
	char err[256], *text = NULL;
	size_t len = 0;
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(t->output_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(reason, reason_size, "cannot read output file: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(reason, reason_size, "output file is not a regular file");
		goto fail;
	}
	if (st.st_size > OUTPUTS_FILE_MAX) {
		snprintf(reason, reason_size, "output file over 1 MiB");
		goto fail;
	}
	/* One byte more than the cap, in case it grew since fstat. */
	text = malloc((size_t)st.st_size + 2);
	if (text == NULL) {
		snprintf(reason, reason_size, "cannot read output file: out of memory");
		goto fail;
	}
	while (len < (size_t)st.st_size + 1) {
		n = read(fd, text + len, (size_t)st.st_size + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(reason, reason_size, "cannot read output file: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > OUTPUTS_FILE_MAX) {
		snprintf(reason, reason_size, "output file over 1 MiB");
		goto fail;
	}
	if (outputs_parse(text, len, (const char *const *)t->declared, outputs, err, sizeof(err)) != 0) {
		snprintf(reason, reason_size, "output file %s", err);
		goto fail;
	}
	free(text);
	close(fd);
	return 0;
fail:
	free(text);
	close(fd);
	return -1;
}

static void task_unlink(struct runner_task *t)
{
	struct runner *r = t->r;

	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		r->head = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	else
		r->tail = t->prev;
	t->prev = t->next = NULL;
	r->ntasks--;
}

static void task_free(struct runner_task *t)
{
	stream_release(&t->out);
	stream_release(&t->err);
	if (t->report_fd >= 0)
		close(t->report_fd);
	if (t->kill_ev != NULL)
		event_free(t->kill_ev);
	if (t->drain_ev != NULL)
		event_free(t->drain_ev);
	if (t->tick_ev != NULL)
		event_free(t->tick_ev);
	if (t->defer_ev != NULL)
		event_free(t->defer_ev);
	free(t->id);
	free(t->workdir);
	free(t->output_path);
	free(t->progress_path);
	free_strv(t->argv);
	free_strv(t->envp);
	free_strv(t->exec_paths);
	free_strv(t->declared);
	mask_free(t->mask);
	free(t);
}

/* Ends t: builds the result, calls on_done, frees t and starts what waits. */
static void task_finish(struct runner_task *t)
{
	struct runner *r = t->r;
	struct msg_strmap outputs = { NULL, 0 };
	struct runner_result res;
	char reason[512];
	bool was_running = t->state == TASK_RUNNING;

	t->state = TASK_FINISHING;
	reason[0] = '\0';
	memset(&res, 0, sizeof(res));
	res.exit_code = -1;
	res.outputs = &outputs;
	if (t->launched) {
		stream_close(&t->out);
		stream_close(&t->err);
		event_del(t->kill_ev);
		event_del(t->drain_ev);
		event_del(t->tick_ev);
		/* Stragglers of a killed task go too, whatever they ignore. */
		if (t->end_status != NULL)
			task_signal_group(t, SIGKILL);
		progress_poll(t, true);
		res.duration_ms = (uint64_t)(util_monotonic_ms() - t->start_ms);
		if (t->status_lost)
			res.exit_code = -1;
		else if (WIFEXITED(t->wstatus))
			res.exit_code = WEXITSTATUS(t->wstatus);
		else if (WIFSIGNALED(t->wstatus))
			res.exit_code = 128 + WTERMSIG(t->wstatus);
	}

	if (t->fail_reason[0] != '\0') {
		res.status = "failed";
		snprintf(reason, sizeof(reason), "%s", t->fail_reason);
	} else if (!t->launched) {
		res.status = "cancelled";
		snprintf(reason, sizeof(reason), "cancelled before it started");
	} else if (t->end_status != NULL) {
		res.status = t->end_status;
		if (strcmp(t->end_status, "timeout") == 0)
			snprintf(reason, sizeof(reason), "timed out after %" PRIu64 "s", t->timeout_s);
		else
			snprintf(reason, sizeof(reason), "cancelled");
	} else if (t->report.stage != 0) {
		res.status = "failed";
		snprintf(reason, sizeof(reason), "%s %s: %s", child_stage_what(t->report.stage),
			 t->report.stage == CHILD_CHDIR ? t->workdir : t->argv[0],
			 strerror(t->report.err));
	} else if (t->status_lost) {
		res.status = "failed";
		snprintf(reason, sizeof(reason), "exit status lost");
	} else if (WIFSIGNALED(t->wstatus)) {
		res.status = "failed";
		snprintf(reason, sizeof(reason), "killed by signal %d", WTERMSIG(t->wstatus));
	} else if (res.exit_code != 0) {
		res.status = "failed";
		snprintf(reason, sizeof(reason), "exit status %" PRId64, res.exit_code);
	} else if (task_read_outputs(t, &outputs, reason, sizeof(reason)) != 0) {
		res.status = "failed";
	} else {
		res.status = "done";
	}
	res.reason = reason[0] != '\0' ? reason : NULL;

	task_unlink(t);
	if (was_running)
		r->nrunning--;
	if (res.reason == NULL)
		log_info("task %s: done in %" PRIu64 " ms", t->id, res.duration_ms);
	else
		log_warn("task %s: %s (exit code %" PRId64 ", %" PRIu64 " ms): %s", t->id, res.status,
			 res.exit_code, res.duration_ms, res.reason);
	if (r->cb.on_done != NULL)
		r->cb.on_done(r->arg, t->id, &res);
	outputs_clear(&outputs);
	task_free(t);
	runner_kick(r);
}

/* Starts queued tasks, oldest first, while there is room. */
static void runner_kick(struct runner *r)
{
	for (struct runner_task *t = r->head; t != NULL && r->nrunning < r->max_running; t = t->next) {
		if (t->state != TASK_QUEUED)
			continue;
		if (task_launch(t) == 0) {
			t->state = TASK_RUNNING;
			r->nrunning++;
		} else {
			/* Through the loop, so on_done never runs inside runner_start. */
			t->state = TASK_FINISHING;
			event_active(t->defer_ev, EV_TIMEOUT, 1);
		}
	}
}

/* ---- spec copying ---- */

static char *join3(const char *a, const char *b, const char *c)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s%s", a, b, c) < 0)
		return NULL;
	return s;
}

/* Sets name=value in a NULL-terminated vector with room for it. */
static int env_set(char **envp, size_t *n, const char *name, const char *value)
{
	size_t nlen = strlen(name);
	char *kv = join3(name, "=", value);

	if (kv == NULL)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		if (strncmp(envp[i], name, nlen) == 0 && envp[i][nlen] == '=') {
			free(envp[i]);
			envp[i] = kv;
			return 0;
		}
	}
	envp[(*n)++] = kv;
	envp[*n] = NULL;
	return 0;
}

static int task_build_env(struct runner_task *t, const struct msg_strmap *env)
{
	size_t extra = env != NULL ? env->count : 0, n = 0;
	const char *home = geteuid() == 0 ? "/root" : t->workdir;

	t->envp = calloc(extra + 8, sizeof(char *));
	if (t->envp == NULL)
		return -1;
	if (env_set(t->envp, &n, "PATH", runner_path) != 0 ||
	    env_set(t->envp, &n, "HOME", home) != 0 ||
	    env_set(t->envp, &n, "LANG", "C.UTF-8") != 0)
		return -1;
	for (size_t i = 0; i < extra; i++)
		if (env_set(t->envp, &n, env->items[i].key, env->items[i].value) != 0)
			return -1;
	if (env_set(t->envp, &n, "OVERCLOUD_OUTPUT", t->output_path) != 0 ||
	    env_set(t->envp, &n, "OVERCLOUD_PROGRESS", t->progress_path) != 0 ||
	    env_set(t->envp, &n, "OVERCLOUD_WORKDIR", t->workdir) != 0 ||
	    env_set(t->envp, &n, "OVERCLOUD_TASK_ID", t->id) != 0)
		return -1;
	return 0;
}

/* argv[0] itself when it holds a '/', else each directory of the child's
 * PATH in turn (looked up in the child's environment, not the agent's). */
static int task_build_exec_paths(struct runner_task *t)
{
	const char *name = t->argv[0], *path = runner_path, *p;
	size_t n = 1, i = 0;

	if (strchr(name, '/') != NULL) {
		t->exec_paths = calloc(2, sizeof(char *));
		if (t->exec_paths == NULL || (t->exec_paths[0] = strdup(name)) == NULL)
			return -1;
		return 0;
	}
	for (char **e = t->envp; *e != NULL; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	for (p = path; *p != '\0'; p++)
		if (*p == ':')
			n++;
	t->exec_paths = calloc(n + 1, sizeof(char *));
	if (t->exec_paths == NULL)
		return -1;
	for (p = path;; p++) {
		const char *end = strchr(p, ':');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		char *dir = len == 0 ? strdup(".") : strndup(p, len);

		if (dir == NULL)
			return -1;
		t->exec_paths[i] = join3(dir, "/", name);
		free(dir);
		if (t->exec_paths[i++] == NULL)
			return -1;
		if (end == NULL)
			break;
		p = end;
	}
	return 0;
}

static char **strv_copy(const char *const *v, size_t max)
{
	size_t n = 0;
	char **copy;

	while (v[n] != NULL)
		if (++n > max)
			return NULL;
	copy = calloc(n + 1, sizeof(char *));
	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		copy[i] = strdup(v[i]);
		if (copy[i] == NULL) {
			free_strv(copy);
			return NULL;
		}
	}
	return copy;
}

static int task_copy_mask(struct runner_task *t, const struct msg_strlist *mask, char *err,
			  size_t err_size)
{
	size_t count = mask != NULL ? mask->count : 0;

	t->mask = mask_new();
	if (t->mask == NULL) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		const char *v = mask->items[i];
		size_t len = v != NULL ? strlen(v) : 0;

		if (len > RUNNER_MASK_MAX) {
			snprintf(err, err_size, "mask value %zu over %d bytes", i, RUNNER_MASK_MAX);
			return -1;
		}
		if (mask_add(t->mask, v, len) != 0) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
	}
	return 0;
}

static struct runner_task *runner_find(const struct runner *r, const char *id)
{
	for (struct runner_task *t = r->head; t != NULL; t = t->next)
		if (strcmp(t->id, id) == 0)
			return t;
	return NULL;
}

/* ---- public ---- */

struct runner *runner_new(struct event_base *base, const struct runner_callbacks *cb, void *arg,
			  unsigned max_running, int grace_ms)
{
	struct runner *r;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->base = base;
	if (cb != NULL)
		r->cb = *cb;
	r->arg = arg;
	r->max_running = max_running > 0 ? max_running : 1;
	r->custom_signal_count = -1;
	r->grace_ms = grace_ms >= 0 ? grace_ms : RUNNER_DEFAULT_GRACE_MS;
	r->sigchld_ev = evsignal_new(base, SIGCHLD, sigchld_cb, r);
	if (r->sigchld_ev == NULL || event_add(r->sigchld_ev, NULL) != 0)
		goto fail;
	return r;
fail:
	if (r->sigchld_ev != NULL)
		event_free(r->sigchld_ev);
	free(r);
	return NULL;
}

void runner_free(struct runner *r)
{
	struct runner_task *t, *next;

	if (r == NULL)
		return;
	for (t = r->head; t != NULL; t = next) {
		next = t->next;
		if (t->launched && !t->reaped) {
			int wstatus;

			task_signal_group(t, SIGKILL);
			waitpid(t->pid, &wstatus, WNOHANG);
		}
		task_free(t);
	}
	event_free(r->sigchld_ev);
	free(r);
}

int runner_start(struct runner *r, const struct runner_spec *spec, char *err, size_t err_size)
{
	struct runner_task *t = NULL;

	if (spec->id == NULL || !util_name_ok(spec->id, RUNNER_ID_MAX)) {
		snprintf(err, err_size, "bad task id");
		return -1;
	}
	if (runner_find(r, spec->id) != NULL) {
		snprintf(err, err_size, "task %s is already running or queued", spec->id);
		return -1;
	}
	if (spec->workdir == NULL || spec->workdir[0] != '/' || strlen(spec->workdir) > PATH_MAX - 32) {
		snprintf(err, err_size, "work dir must be an absolute path");
		return -1;
	}
	if (spec->argv == NULL || spec->argv[0] == NULL || spec->argv[0][0] == '\0') {
		snprintf(err, err_size, "no command");
		return -1;
	}
	if (spec->timeout_s < 1 || spec->timeout_s > INT32_MAX) {
		snprintf(err, err_size, "timeout must be 1 to %d seconds", INT32_MAX);
		return -1;
	}
	for (size_t i = 0; spec->env != NULL && i < spec->env->count; i++) {
		const char *k = spec->env->items[i].key;
		if (k == NULL || k[0] == '\0' || strchr(k, '=') != NULL || spec->env->items[i].value == NULL) {
			snprintf(err, err_size, "bad environment variable name");
			return -1;
		}
	}

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto oom;
	t->r = r;
	t->state = TASK_QUEUED;
	t->out.task = t;
	t->out.name = "stdout";
	t->out.fd = -1;
	t->err.task = t;
	t->err.name = "stderr";
	t->err.fd = -1;
	t->report_fd = -1;
	t->timeout_s = spec->timeout_s;
	t->id = strdup(spec->id);
	t->workdir = strdup(spec->workdir);
	t->output_path = join3(spec->workdir, "/", "output");
	t->progress_path = join3(spec->workdir, "/", "progress");
	t->argv = strv_copy(spec->argv, 65536);
	if (t->id == NULL || t->workdir == NULL || t->output_path == NULL ||
	    t->progress_path == NULL || t->argv == NULL)
		goto oom;
	if (spec->declared_outputs != NULL) {
		t->declared = strv_copy(spec->declared_outputs, 65536);
		if (t->declared == NULL)
			goto oom;
	}
	if (task_build_env(t, spec->env) != 0 || task_build_exec_paths(t) != 0)
		goto oom;
	if (task_copy_mask(t, spec->mask, err, err_size) != 0)
		goto fail;
	t->buf_size = (mask_longest(t->mask) > 0 ? mask_longest(t->mask) - 1 : 0) + RUNNER_READ_SIZE;
	t->defer_ev = evtimer_new(r->base, defer_cb, t);
	if (t->defer_ev == NULL)
		goto oom;

	t->prev = r->tail;
	if (r->tail != NULL)
		r->tail->next = t;
	else
		r->head = t;
	r->tail = t;
	r->ntasks++;
	log_debug("task %s: queued (%zu running)", t->id, r->nrunning);
	runner_kick(r);
	return 0;
oom:
	snprintf(err, err_size, "out of memory");
fail:
	if (t != NULL)
		task_free(t);
	return -1;
}

int runner_cancel(struct runner *r, const char *task_id)
{
	struct runner_task *t = runner_find(r, task_id);

	if (t == NULL)
		return -1;
	switch (t->state) {
	case TASK_QUEUED:
		log_info("task %s: cancelled while queued", t->id);
		t->state = TASK_FINISHING;
		event_active(t->defer_ev, EV_TIMEOUT, 1);
		break;
	case TASK_RUNNING:
		if (t->end_status == NULL)
			log_info("task %s: cancelling, SIGTERM to group %d", t->id, (int)t->pid);
		task_terminate(t, "cancelled");
		break;
	case TASK_FINISHING:
		break;
	}
	return 0;
}

void runner_set_paused(struct runner *r, bool paused)
{
	if (r->paused == paused)
		return;
	r->paused = paused;
	for (struct runner_task *t = r->head; t != NULL; t = t->next) {
		struct runner_stream *streams[2] = { &t->out, &t->err };

		if (t->state != TASK_RUNNING)
			continue;
		for (int i = 0; i < 2; i++) {
			if (streams[i]->ev == NULL)
				continue;
			if (paused)
				event_del(streams[i]->ev);
			else
				event_add(streams[i]->ev, NULL);
		}
	}
}

size_t runner_active(const struct runner *r)
{
	return r->ntasks;
}

int runner_parse_outputs(const char *text, size_t len, const char *const *declared,
			 struct msg_strmap *out, char *err, size_t err_size)
{
	return outputs_parse(text, len, declared, out, err, err_size);
}

void runner_outputs_clear(struct msg_strmap *m)
{
	outputs_clear(m);
}
