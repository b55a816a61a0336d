/* worker.c — the agent's task manager: journal first, then act; bundles from
 * the cache; processes through runner.c; each result sent until acknowledged.
 *
 * journal.c records each task id's state (accepted, result, acknowledged) in
 * <state>/journal/tasks.journal before the worker acts on it. A task id the
 * journal knows is never run again: a stored result is sent again instead.
 * Records are not synced: after a power loss a task whose result was not
 * stored reads as "agent restarted", as for any task the loss cut off.
 * <state>/journal/<id>.log keeps the task.log frames sent so far (up to a
 * cap), sent again after a reconnect; the tower keeps each chunk once by seq. */
#include "agent/worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/journal.h"
#include "agent/runner.h"
#include "shared/bundle.h"
#include "shared/frame.h"
#include "shared/log.h"
#include "shared/msg.h"
#include "shared/util.h"

#define WORKER_PAUSE_BYTES (1024 * 1024)
#define WORKER_SPOOL_CAP (1024 * 1024)
/* "task.accepted" waits this long: a task that ends sooner is reported by
 * its result alone, which says as much, and the tower writes one row change
 * instead of two. Output or progress sends it at once. */
#define WORKER_ACCEPTED_DELAY_MS 100

struct worker;

/* An "accepted" not sent yet, for one running task. */
struct accepted_due {
	struct accepted_due *next;
	struct worker *w;
	struct event *timer;
	char id[JOURNAL_ID_MAX + 1];
};

struct worker {
	struct event_base *base;
	struct runner *runner;
	struct worker_link link;
	struct journal *journal;
	char journal_dir[PATH_MAX];
	char work[PATH_MAX];
	char bundles[PATH_MAX];
	char node_id[64];
	char node_ip[64];
	bool paused;
	bool tower_clock_known;
	struct accepted_due *accepted_due;   /* tasks whose "accepted" waits */
	int64_t tower_minus_monotonic_ms;   /* the tower's clock = monotonic + this */
};

static void journal_path(struct worker *w, const char *id, const char *ext, char *out, size_t size)
{
	snprintf(out, size, "%s/%s.%s", w->journal_dir, id, ext);
}

static void send_accepted(struct worker *w, const char *id)
{
	struct msg accepted = {.type = MSG_TASK_ACCEPTED};

	accepted.u.task_accepted.id = (char *)id;
	w->link.send(w->link.arg, &accepted);
}

/* Unlinks the entry for id and returns it, or NULL when none waits. */
static struct accepted_due *accepted_take(struct worker *w, const char *id)
{
	for (struct accepted_due **p = &w->accepted_due; *p != NULL; p = &(*p)->next) {
		struct accepted_due *a = *p;

		if (strcmp(a->id, id) == 0) {
			*p = a->next;
			return a;
		}
	}
	return NULL;
}

static void accepted_free(struct accepted_due *a)
{
	event_free(a->timer);
	free(a);
}

static void on_accepted_due(evutil_socket_t fd, short what, void *arg)
{
	struct accepted_due *a = arg;
	struct worker *w = a->w;

	if (accepted_take(w, a->id) == a) {
		send_accepted(w, a->id);
		accepted_free(a);
	}
}

static void accepted_later(struct worker *w, const char *id)
{
	struct timeval delay = {0, WORKER_ACCEPTED_DELAY_MS * 1000};
	struct accepted_due *a = calloc(1, sizeof(*a));

	if (a != NULL)
		a->timer = evtimer_new(w->base, on_accepted_due, a);
	if (a == NULL || a->timer == NULL || evtimer_add(a->timer, &delay) != 0) {
		if (a != NULL && a->timer != NULL)
			event_free(a->timer);
		free(a);
		send_accepted(w, id);
		return;
	}
	a->w = w;
	snprintf(a->id, sizeof(a->id), "%s", id);
	a->next = w->accepted_due;
	w->accepted_due = a;
}

/* Before a task's first output or progress: the tower hears it runs. */
static void accepted_now(struct worker *w, const char *id)
{
	struct accepted_due *a = accepted_take(w, id);

	if (a != NULL) {
		send_accepted(w, id);
		accepted_free(a);
	}
}

/* The result says it all: the waiting "accepted" is not sent. */
static void accepted_drop(struct worker *w, const char *id)
{
	struct accepted_due *a = accepted_take(w, id);

	if (a != NULL)
		accepted_free(a);
}

/* Encodes the result, stores it, then sends it: a crash between the two
 * only means it is sent again, never lost. */
static void finish_task(struct worker *w, const char *id, const char *status, int64_t exit_code,
			uint64_t duration_ms, const char *reason, const struct msg_strmap *outputs)
{
	struct msg m = {.type = MSG_TASK_DONE};
	uint8_t *frame;
	size_t len;

	m.u.task_done.id = (char *)id;
	m.u.task_done.status = (char *)status;
	m.u.task_done.exit_code = exit_code;
	m.u.task_done.duration_ms = duration_ms;
	m.u.task_done.reason = (char *)reason;
	if (outputs != NULL)
		m.u.task_done.outputs = *outputs;
	frame = msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len);
	if (frame == NULL) {
		/* Outputs too large for one frame: report that instead. */
		m.u.task_done.status = "failed";
		m.u.task_done.reason = "outputs larger than a frame";
		m.u.task_done.outputs.count = 0;
		frame = msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len);
		if (frame == NULL)
			return;
	}
	if (journal_mark_done(w->journal, id, frame, len) != 0)
		log_error("task %s: cannot journal its result: %s", id, strerror(errno));
	accepted_drop(w, id);
	log_info("task %s: %s (exit %lld, %llu ms)%s%s", id, status, (long long)exit_code,
		 (unsigned long long)duration_ms, reason ? ": " : "", reason ? reason : "");
	w->link.send_frame(w->link.arg, frame, len);
	free(frame);
}

static void resend_spool(void *arg, const char *id);

static void resend_result(void *arg, const char *id)
{
	struct worker *w = arg;
	uint8_t *frame;
	size_t len;

	resend_spool(w, id);
	frame = journal_result(w->journal, id, &len);
	if (frame == NULL)
		return;
	w->link.send_frame(w->link.arg, frame, len);
	free(frame);
}

/* Keeps the output until the result is acknowledged, so output made while
 * the tower is away (or lost in a dropped connection) reaches it later. */
static void spool_log(struct worker *w, const char *id, const struct msg *m)
{
	char path[PATH_MAX + 80];
	struct stat st;
	uint8_t *frame;
	size_t len;
	int fd;

	journal_path(w, id, "log", path, sizeof(path));
	if (stat(path, &st) == 0 && st.st_size >= WORKER_SPOOL_CAP)
		return;
	frame = msg_encode_frame(m, FRAME_MAX_DEFAULT, &len);
	if (frame == NULL)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, frame, len) != (ssize_t)len)
			log_warn("task %s: cannot keep its output: %s", id, strerror(errno));
		close(fd);
	}
	free(frame);
}

static void resend_spool(void *arg, const char *id)
{
	struct worker *w = arg;
	char path[PATH_MAX + 80];
	uint8_t *data;
	size_t len;

	journal_path(w, id, "log", path, sizeof(path));
	data = (uint8_t *)util_read_file(path, WORKER_SPOOL_CAP + FRAME_MAX_DEFAULT, &len);
	if (data == NULL)
		return;
	/* The file is whole frames back to back: send it as it is. */
	w->link.send_frame(w->link.arg, data, len);
	free(data);
}

/* ---- runner callbacks ---- */

static void on_log(void *arg, const char *task_id, const char *stream, uint64_t seq,
		   const uint8_t *data, size_t len)
{
	struct worker *w = arg;
	struct msg m = {.type = MSG_TASK_LOG};

	m.u.task_log.id = (char *)task_id;
	m.u.task_log.stream = (char *)stream;
	m.u.task_log.seq = seq;
	m.u.task_log.data.data = (uint8_t *)data;
	m.u.task_log.data.len = len;
	accepted_now(w, task_id);
	spool_log(w, task_id, &m);
	w->link.send(w->link.arg, &m);
	if (!w->paused && w->link.pending(w->link.arg) > WORKER_PAUSE_BYTES) {
		w->paused = true;
		runner_set_paused(w->runner, true);
	}
}

static void on_progress(void *arg, const char *task_id, unsigned percent, const char *message)
{
	struct worker *w = arg;
	struct msg m = {.type = MSG_TASK_PROGRESS};

	m.u.task_progress.id = (char *)task_id;
	m.u.task_progress.percent = percent;
	m.u.task_progress.message = (char *)message;
	accepted_now(w, task_id);
	w->link.send(w->link.arg, &m);
}

/* One emptied work dir is kept as <work>/.spare and renamed for the next
 * task: making a directory allocates an inode, and on ext4 after many
 * deletions that scan was a good part of a short task's cost. */
static void spare_path(struct worker *w, char *out, size_t size)
{
	snprintf(out, size, "%s/.spare", w->work);
}

static void on_done(void *arg, const char *task_id, const struct runner_result *res)
{
	struct worker *w = arg;
	char path[PATH_MAX + 80], spare[PATH_MAX + 16];

	finish_task(w, task_id, res->status, res->exit_code, res->duration_ms, res->reason,
		    res->outputs);
	snprintf(path, sizeof(path), "%s/%s", w->work, task_id);
	spare_path(w, spare, sizeof(spare));
	if (util_clear_dir(path) != 0 || rename(path, spare) != 0)
		util_remove_tree(path);
}

static const struct runner_callbacks worker_runner_callbacks = {
	.on_log = on_log,
	.on_progress = on_progress,
	.on_done = on_done,
};

void worker_drained(struct worker *w)
{
	if (w->paused) {
		w->paused = false;
		runner_set_paused(w->runner, false);
	}
}

/* ---- starting a task ---- */

static void env_add(struct msg_kv *items, size_t *count, const char *key, const char *value)
{
	items[*count].key = (char *)key;
	items[*count].value = (char *)(value ? value : "");
	(*count)++;
}

/* The bundle dir for the task, or NULL with reason. Caller frees. */
static char *task_bundle_dir(struct worker *w, const struct msg_task *t, char *err, size_t err_size)
{
	char *dir = bundle_cache_lookup(w->bundles, t->bundle_hash);

	if (dir != NULL)
		return dir;
	if (t->bundle.len == 0) {
		snprintf(err, err_size, "bundle %s is not cached and was not sent", t->bundle_hash);
		return NULL;
	}
	return bundle_cache_store(w->bundles, t->bundle_hash, t->bundle.data, t->bundle.len, err,
				  err_size);
}

static int start_task(struct worker *w, const struct msg_task *t, char *err, size_t err_size)
{
	char workdir[PATH_MAX + 80], script[PATH_MAX + 80], timeout[24];
	const char **argv = NULL, **declared = NULL;
	struct msg_kv *env = NULL;
	struct msg_strmap envmap;
	struct runner_spec spec;
	char *bundle_dir = NULL;
	size_t n = 0;
	int rc = -1;

	if (t->argv.count == 0) {
		snprintf(err, err_size, "task has no command");
		return -1;
	}
	if (t->bundle_hash != NULL && t->bundle_hash[0] != '\0') {
		const char *rel = t->argv.items[0];
		if (rel[0] == '/' || strstr(rel, "..") != NULL) {
			snprintf(err, err_size, "script path \"%s\" leaves the role bundle", rel);
			return -1;
		}
		bundle_dir = task_bundle_dir(w, t, err, err_size);
		if (bundle_dir == NULL)
			return -1;
		snprintf(script, sizeof(script), "%s/%s", bundle_dir, rel);
	}
	argv = calloc(t->argv.count + 1, sizeof(*argv));
	env = calloc(t->env.count + 8, sizeof(*env));
	declared = calloc(t->outputs.count + 1, sizeof(*declared));
	if (argv == NULL || env == NULL || declared == NULL) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->argv.count; i++)
		argv[i] = t->argv.items[i];
	if (bundle_dir != NULL)
		argv[0] = script;
	for (size_t i = 0; i < t->outputs.count; i++)
		declared[i] = t->outputs.items[i];
	for (size_t i = 0; i < t->env.count; i++)
		env_add(env, &n, t->env.items[i].key, t->env.items[i].value);
	snprintf(timeout, sizeof(timeout), "%llu", (unsigned long long)t->timeout);
	env_add(env, &n, "OVERCLOUD_ROLE", t->role);
	env_add(env, &n, "OVERCLOUD_STEP", t->step);
	env_add(env, &n, "OVERCLOUD_NODE_ID", w->node_id);
	env_add(env, &n, "OVERCLOUD_NODE_IP", w->node_ip);
	env_add(env, &n, "OVERCLOUD_TIMEOUT", timeout);
	if (bundle_dir != NULL)
		env_add(env, &n, "OVERCLOUD_ROLE_DIR", bundle_dir);
	envmap.items = env;
	envmap.count = n;
	snprintf(workdir, sizeof(workdir), "%s/%s", w->work, t->id);
	{
		char spare[PATH_MAX + 16];
		spare_path(w, spare, sizeof(spare));
		if (rename(spare, workdir) != 0 && errno != ENOENT)
			log_warn("task %s: cannot reuse %s: %s", t->id, spare, strerror(errno));
	}
	memset(&spec, 0, sizeof(spec));
	spec.id = t->id;
	spec.workdir = workdir;
	spec.argv = argv;
	spec.env = &envmap;
	spec.mask = &t->mask;
	spec.timeout_s = t->timeout;
	spec.declared_outputs = t->outputs.count > 0 ? declared : NULL;
	rc = runner_start(w->runner, &spec, err, err_size);
out:
	free(argv);
	free(env);
	free(declared);
	free(bundle_dir);
	return rc;
}

void worker_tower_clock(struct worker *w, int64_t tower_time_s)
{
	w->tower_minus_monotonic_ms = tower_time_s * 1000 - util_monotonic_ms();
	w->tower_clock_known = true;
}

bool worker_task_expired(uint64_t not_after_ms, int64_t tower_now_ms, bool clock_known)
{
	if (not_after_ms == 0 || !clock_known || not_after_ms > INT64_MAX)
		return false;
	return tower_now_ms > (int64_t)not_after_ms - WORKER_DEADLINE_SLACK_MS;
}

static void handle_task(struct worker *w, const struct msg_task *t)
{
	struct msg accepted = {.type = MSG_TASK_ACCEPTED};
	int64_t tower_now_ms;
	char err[512];

	if (!util_name_ok(t->id, JOURNAL_ID_MAX)) {
		log_warn("task with an unusable id refused");
		return;
	}
	accepted.u.task_accepted.id = t->id;
	/* Never twice: a known id gets its stored result, or is running. */
	switch (journal_state(w->journal, t->id)) {
	case JOURNAL_DONE:
		log_info("task %s: already done, sending its result again", t->id);
		resend_result(w, t->id);
		return;
	case JOURNAL_ACKED:
		log_info("task %s: already done and acknowledged, ignored", t->id);
		return;
	case JOURNAL_RUNNING:
		accepted_drop(w, t->id);   /* asked again: answered now, once */
		w->link.send(w->link.arg, &accepted);
		return;
	case JOURNAL_UNKNOWN:
		break;
	}
	if (journal_mark_running(w->journal, t->id) != 0) {
		log_error("task %s: cannot journal it, not running it: %s", t->id, strerror(errno));
		return;
	}
	tower_now_ms = util_monotonic_ms() + w->tower_minus_monotonic_ms;
	if (worker_task_expired(t->not_after_ms, tower_now_ms, w->tower_clock_known)) {
		/* Journaled first, so it never runs later either; the tower,
		 * which ended the task already, keeps its own record and only
		 * acknowledges this one. */
		int64_t late_ms = tower_now_ms - (int64_t)t->not_after_ms;

		snprintf(err, sizeof(err), "not started: it reached the node too late (%lld ms past "
			 "its deadline, on the tower's clock)", (long long)(late_ms > 0 ? late_ms : 0));
		finish_task(w, t->id, "timeout", -1, 0, err, NULL);
		return;
	}
	accepted_later(w, t->id);
	log_info("task %s: %s/%s accepted", t->id, t->role, t->step);
	if (start_task(w, t, err, sizeof(err)) != 0)
		finish_task(w, t->id, "failed", -1, 0, err, NULL);
}

static void handle_ack(struct worker *w, const char *id)
{
	char path[PATH_MAX + 80];

	if (journal_state(w->journal, id) != JOURNAL_DONE)
		return;
	if (journal_mark_acked(w->journal, id, util_now()) != 0)
		log_warn("task %s: cannot journal its acknowledgement: %s", id, strerror(errno));
	journal_path(w, id, "log", path, sizeof(path));
	unlink(path);
}

void worker_handle(struct worker *w, const struct msg *m)
{
	switch (m->type) {
	case MSG_TASK:
		handle_task(w, &m->u.task);
		break;
	case MSG_CANCEL:
		if (runner_cancel(w->runner, m->u.cancel.id) != 0)
			log_info("cancel for task %s, which is not running", m->u.cancel.id);
		break;
	case MSG_TASK_ACK:
		handle_ack(w, m->u.task_ack.id);
		break;
	default:
		break;
	}
}

void worker_connected(struct worker *w, const char *node_id, const char *node_ip)
{
	snprintf(w->node_id, sizeof(w->node_id), "%s", node_id);
	snprintf(w->node_ip, sizeof(w->node_ip), "%s", node_ip);
	journal_each(w->journal, JOURNAL_RUNNING, resend_spool, w);
	journal_each(w->journal, JOURNAL_DONE, resend_result, w);
}

/* A process of a task that outlived its agent has OVERCLOUD_TASK_ID=<id>
 * in its environment: find them all and kill their groups. */
static void kill_orphans(const char *id)
{
	char want[JOURNAL_ID_MAX + 32], path[64];
	DIR *proc = opendir("/proc");
	struct dirent *e;
	size_t wlen;

	if (proc == NULL)
		return;
	wlen = (size_t)snprintf(want, sizeof(want), "OVERCLOUD_TASK_ID=%s", id) + 1;
	while ((e = readdir(proc)) != NULL) {
		char *env;
		size_t len;
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid <= 1 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
		env = util_read_file(path, 1024 * 1024, &len);
		if (env == NULL)
			continue;
		for (size_t off = 0; off < len; off += strlen(env + off) + 1) {
			if (len - off >= wlen && memcmp(env + off, want, wlen) == 0) {
				pid_t pgid = getpgid(pid);
				log_info("task %s: killing process %d left from before the restart", id,
					 (int)pid);
				if (pgid > 1)
					kill(-pgid, SIGKILL);
				kill(pid, SIGKILL);
				break;
			}
		}
		free(env);
	}
	closedir(proc);
}

static void fail_interrupted(void *arg, const char *id)
{
	struct worker *w = arg;

	kill_orphans(id);
	finish_task(w, id, "failed", -1, 0, "agent restarted", NULL);
}

static int send_nowhere(void *arg, const struct msg *m)
{
	return -1;
}

static int send_frame_nowhere(void *arg, const uint8_t *frame, size_t len)
{
	return -1;
}

struct worker *worker_new(struct event_base *base, const char *state_dir, unsigned max_running,
			  const struct worker_link *link, char *err, size_t err_size)
{
	struct worker *w = calloc(1, sizeof(*w));
	struct worker_link offline = {.send = send_nowhere, .send_frame = send_frame_nowhere};

	if (w == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	w->base = base;
	snprintf(w->journal_dir, sizeof(w->journal_dir), "%s/journal", state_dir);
	snprintf(w->work, sizeof(w->work), "%s/work", state_dir);
	snprintf(w->bundles, sizeof(w->bundles), "%s/bundles", state_dir);
	if (util_mkdir_p(w->work, 0700) != 0 ||
	    util_mkdir_p(w->bundles, 0700) != 0) {
		snprintf(err, err_size, "cannot create the journal under %s: %s", state_dir,
			 strerror(errno));
		free(w);
		return NULL;
	}
	w->journal = journal_open(w->journal_dir, util_now(), err, err_size);
	if (w->journal == NULL) {
		free(w);
		return NULL;
	}
	/* Bundles are unpacked without syncing (bundle.h): entries from before
	 * this start may be torn by a power loss, and the tower sends the
	 * bundle with each task anyway. */
	if (util_clear_dir(w->bundles) != 0)
		log_warn("cannot empty the bundle cache %s: %s", w->bundles, strerror(errno));
	/* Results of interrupted tasks are journaled now and sent on connect. */
	w->link = offline;
	journal_each(w->journal, JOURNAL_RUNNING, fail_interrupted, w);
	w->link = *link;
	w->runner = runner_new(base, &worker_runner_callbacks, w, max_running,
			       RUNNER_DEFAULT_GRACE_MS);
	if (w->runner == NULL) {
		snprintf(err, err_size, "cannot set up the task runner");
		journal_free(w->journal);
		free(w);
		return NULL;
	}
	return w;
}

void worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	runner_free(w->runner);
	journal_free(w->journal);
	while (w->accepted_due != NULL) {
		struct accepted_due *a = w->accepted_due;

		w->accepted_due = a->next;
		accepted_free(a);
	}
	free(w);
}

size_t worker_active(const struct worker *w)
{
	return runner_active(w->runner);
}
