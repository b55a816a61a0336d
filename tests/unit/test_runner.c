/* test_runner.c — unit tests for the task runner (runner.c, outputs.c): real
 * /bin/sh children on a real event loop, then one test per output rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/runner.h"
#include "shared/log.h"
#include "shared/util.h"

#define MAX_TASKS 8
#define STORE_MAX (4 * 1024 * 1024)

struct seen_task {
	char id[72];
	char *out, *err;
	size_t out_len, err_len;
	uint64_t next_seq;
	bool seq_bad;
	size_t max_chunk;
	size_t out_chunks;
	bool held_split;        /* a stdout chunk ended right before a split secret */
	int nprog;
	unsigned pct[16];
	char msg[16][128];
	bool done;
	char status[16];
	int64_t exit_code;
	uint64_t duration_ms;
	char reason[512];
	bool has_reason;
	struct msg_strmap outputs;
};

struct ctx {
	struct event_base *base;
	struct runner *r;
	char dir[256];
	int fds_before;
	struct seen_task tasks[MAX_TASKS];
	int ntasks;
	int ndone;
	bool expired;
	/* big-output mode: stdout is checked against a repeating pattern */
	bool count_only;
	const char *pattern;
	size_t pattern_len;
	uint64_t bytes;
	bool bytes_bad;
	uint64_t checksum;
	/* on_done of chain_after starts chain_id (re-entrant runner_start) */
	const char *chain_after;
	const char *chain_id;
	const char *const *chain_argv;
	size_t active_in_done;
};

/* ---- helpers ---- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static struct seen_task *seen(struct ctx *c, const char *id)
{
	for (int i = 0; i < c->ntasks; i++)
		if (strcmp(c->tasks[i].id, id) == 0)
			return &c->tasks[i];
	assert_true(c->ntasks < MAX_TASKS);
	snprintf(c->tasks[c->ntasks].id, sizeof(c->tasks[0].id), "%s", id);
	return &c->tasks[c->ntasks++];
}

static void append(char **buf, size_t *len, const uint8_t *data, size_t n)
{
	char *p;

	if (*len + n > STORE_MAX)
		fail_msg("stored output over %d bytes", STORE_MAX);
	p = realloc(*buf, *len + n + 1);
	assert_non_null(p);
	memcpy(p + *len, data, n);
	*len += n;
	p[*len] = '\0';
	*buf = p;
}

static void on_log(void *arg, const char *id, const char *stream, uint64_t seq,
		   const uint8_t *data, size_t len)
{
	struct ctx *c = arg;
	struct seen_task *t = seen(c, id);
	bool is_out = strcmp(stream, "stdout") == 0;

	if (!is_out && strcmp(stream, "stderr") != 0)
		fail_msg("bad stream name %s", stream);
	if (seq != t->next_seq)
		t->seq_bad = true;
	t->next_seq = seq + 1;
	if (len > t->max_chunk)
		t->max_chunk = len;
	if (len == 0)
		fail_msg("empty chunk");
	if (c->count_only && is_out) {
		for (size_t i = 0; i < len; i++) {
			if ((char)data[i] != c->pattern[(c->bytes + i) % c->pattern_len])
				c->bytes_bad = true;
			c->checksum = c->checksum * 31 + data[i];
		}
		c->bytes += len;
		return;
	}
	if (is_out) {
		t->out_chunks++;
		if (len >= 7 && memcmp(data + len - 7, "split: ", 7) == 0)
			t->held_split = true;
		append(&t->out, &t->out_len, data, len);
	} else {
		append(&t->err, &t->err_len, data, len);
	}
}

static void on_progress(void *arg, const char *id, unsigned percent, const char *message)
{
	struct ctx *c = arg;
	struct seen_task *t = seen(c, id);

	assert_true(t->nprog < 16);
	t->pct[t->nprog] = percent;
	snprintf(t->msg[t->nprog], sizeof(t->msg[0]), "%s", message);
	t->nprog++;
}

static void on_done(void *arg, const char *id, const struct runner_result *res)
{
	struct ctx *c = arg;
	struct seen_task *t = seen(c, id);

	if (t->done)
		fail_msg("task %s done twice", id);
	t->done = true;
	snprintf(t->status, sizeof(t->status), "%s", res->status);
	t->exit_code = res->exit_code;
	t->duration_ms = res->duration_ms;
	t->has_reason = res->reason != NULL;
	snprintf(t->reason, sizeof(t->reason), "%s", res->reason != NULL ? res->reason : "");
	t->outputs.count = res->outputs->count;
	t->outputs.items = calloc(res->outputs->count + 1, sizeof(struct msg_kv));
	assert_non_null(t->outputs.items);
	for (size_t i = 0; i < res->outputs->count; i++) {
		t->outputs.items[i].key = strdup(res->outputs->items[i].key);
		t->outputs.items[i].value = strdup(res->outputs->items[i].value);
	}
	c->ndone++;
	if (c->chain_after != NULL && strcmp(id, c->chain_after) == 0) {
		struct runner_spec spec = { .id = c->chain_id, .workdir = c->dir,
					    .argv = c->chain_argv, .timeout_s = 5 };
		char err[256];

		c->active_in_done = runner_active(c->r);
		if (runner_start(c->r, &spec, err, sizeof(err)) != 0)
			fail_msg("runner_start from on_done: %s", err);
		seen(c, c->chain_id);
	}
}

static const struct runner_callbacks callbacks = { on_log, on_progress, on_done };

static void ctx_open(struct ctx *c, unsigned max_running, int grace_ms)
{
	char tmpl[] = "/tmp/oc-runner-XXXXXX";

	memset(c, 0, sizeof(*c));
	c->fds_before = count_fds();
	assert_non_null(mkdtemp(tmpl));
	snprintf(c->dir, sizeof(c->dir), "%s", tmpl);
	c->base = event_base_new();
	assert_non_null(c->base);
	c->r = runner_new(c->base, &callbacks, c, max_running, grace_ms);
	assert_non_null(c->r);
}

static void ctx_close(struct ctx *c)
{
	runner_free(c->r);
	event_base_free(c->base);
	for (int i = 0; i < c->ntasks; i++) {
		free(c->tasks[i].out);
		free(c->tasks[i].err);
		runner_outputs_clear(&c->tasks[i].outputs);
	}
	util_remove_tree(c->dir);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	ctx_open(c, 4, 300);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	int before = c->fds_before, after;

	ctx_close(c);
	free(c);
	after = count_fds();
	if (after != before) {
		fprintf(stderr, "fd leak: %d open before, %d after\n", before, after);
		return -1;
	}
	return 0;
}

static void write_script(struct ctx *c, const char *name, const char *body, mode_t mode,
			 char *path, size_t path_size)
{
	FILE *f;

	snprintf(path, path_size, "%s/%s", c->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

struct start_opts {
	uint64_t timeout_s;
	const struct msg_strlist *mask;
	const struct msg_strmap *env;
	const char *const *declared;
};

static void workdir_of(struct ctx *c, const char *id, char *out, size_t size)
{
	snprintf(out, size, "%s/work/%s", c->dir, id);
}

static int start_argv(struct ctx *c, const char *id, const char *const *argv,
		      const struct start_opts *o)
{
	char workdir[512], err[256] = "";
	struct runner_spec spec = {
		.id = id,
		.workdir = workdir,
		.argv = argv,
		.timeout_s = o != NULL && o->timeout_s > 0 ? o->timeout_s : 30,
		.mask = o != NULL ? o->mask : NULL,
		.env = o != NULL ? o->env : NULL,
		.declared_outputs = o != NULL ? o->declared : NULL,
	};
	int rc;

	workdir_of(c, id, workdir, sizeof(workdir));
	rc = runner_start(c->r, &spec, err, sizeof(err));
	if (rc == 0)
		seen(c, id);
	return rc;
}

/* Writes body as <id>.sh and starts it. */
static void start_script(struct ctx *c, const char *id, const char *body, const struct start_opts *o)
{
	char path[512], name[128];
	const char *argv[] = { path, NULL };

	snprintf(name, sizeof(name), "%s.sh", id);
	write_script(c, name, body, 0755, path, sizeof(path));
	assert_int_equal(start_argv(c, id, argv, o), 0);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctx *c = arg;

	c->expired = true;
	event_base_loopbreak(c->base);
}

typedef bool (*cond_fn)(struct ctx *c, const void *arg);

/* Runs the loop until cond holds or ms pass; returns whether it holds. */
static bool run_until(struct ctx *c, cond_fn cond, const void *arg, int ms)
{
	struct event *ev = evtimer_new(c->base, deadline_cb, c);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	assert_non_null(ev);
	c->expired = false;
	evtimer_add(ev, &tv);
	while (!cond(c, arg) && !c->expired)
		event_base_loop(c->base, EVLOOP_ONCE);
	event_free(ev);
	return cond(c, arg);
}

static bool never(struct ctx *c, const void *arg)
{
	return false;
}

static bool done_count(struct ctx *c, const void *arg)
{
	return c->ndone >= *(const int *)arg;
}

static bool task_done(struct ctx *c, const void *arg)
{
	return seen(c, arg)->done;
}

struct out_has {
	const char *id;
	const char *text;
};

static bool stdout_has(struct ctx *c, const void *arg)
{
	const struct out_has *w = arg;
	struct seen_task *t = seen(c, w->id);

	return t->out != NULL && strstr(t->out, w->text) != NULL;
}

static struct seen_task *wait_done(struct ctx *c, const char *id, int ms)
{
	if (!run_until(c, task_done, id, ms))
		fail_msg("task %s not done after %d ms", id, ms);
	return seen(c, id);
}

static const char *output_of(const struct seen_task *t, const char *key)
{
	for (size_t i = 0; i < t->outputs.count; i++)
		if (strcmp(t->outputs.items[i].key, key) == 0)
			return t->outputs.items[i].value;
	return NULL;
}

/* Dead means gone or a zombie waiting for whoever adopted it. */
static bool pid_dead(pid_t pid)
{
	char path[64], buf[512], *rp;
	FILE *f;
	size_t n;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp != NULL && (rp[2] == 'Z' || rp[2] == 'X');
}

static bool wait_pid_dead(pid_t pid, int ms)
{
	int64_t end = util_monotonic_ms() + ms;
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	while (!pid_dead(pid)) {
		if (util_monotonic_ms() > end)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

static int read_pids(const char *path, pid_t *pids, int max)
{
	FILE *f = fopen(path, "r");
	int n = 0, v;

	if (f == NULL)
		return 0;
	while (n < max && fscanf(f, "%d", &v) == 1)
		pids[n++] = v;
	fclose(f);
	return n;
}

/* ---- processes and streams ---- */

static void test_streams_in_order(void **state)
{
	struct ctx *c = *state;
	struct seen_task *t;
	char *want_out = NULL, *want_err = NULL;
	size_t out_len = 0, err_len = 0;
	char line[64];

	start_script(c, "streams",
		     "i=1\n"
		     "while [ $i -le 400 ]; do\n"
		     "  echo \"out $i\"\n"
		     "  echo \"err $i\" >&2\n"
		     "  i=$((i + 1))\n"
		     "done\n", NULL);
	t = wait_done(c, "streams", 10000);
	for (int i = 1; i <= 400; i++) {
		int n = snprintf(line, sizeof(line), "out %d\n", i);
		append(&want_out, &out_len, (const uint8_t *)line, (size_t)n);
		n = snprintf(line, sizeof(line), "err %d\n", i);
		append(&want_err, &err_len, (const uint8_t *)line, (size_t)n);
	}
	assert_string_equal(t->status, "done");
	assert_int_equal(t->exit_code, 0);
	assert_false(t->has_reason);
	assert_non_null(t->out);
	assert_non_null(t->err);
	assert_string_equal(t->out, want_out);
	assert_string_equal(t->err, want_err);
	assert_false(t->seq_bad);
	assert_true(t->max_chunk <= RUNNER_LOG_CHUNK);
	assert_int_equal(runner_active(c->r), 0);
	free(want_out);
	free(want_err);
}

static void test_exit_codes(void **state)
{
	struct ctx *c = *state;
	int three = 3;
	struct seen_task *t;

	start_script(c, "exit0", "echo fine\nexit 0\n", NULL);
	start_script(c, "exit1", "echo failing >&2\nexit 1\n", NULL);
	start_script(c, "kill9", "echo bye\nkill -9 $$\necho unreachable\n", NULL);
	assert_true(run_until(c, done_count, &three, 10000));

	t = seen(c, "exit0");
	assert_string_equal(t->status, "done");
	assert_int_equal(t->exit_code, 0);
	assert_false(t->has_reason);
	assert_string_equal(t->out, "fine\n");

	t = seen(c, "exit1");
	assert_string_equal(t->status, "failed");
	assert_int_equal(t->exit_code, 1);
	assert_string_equal(t->reason, "exit status 1");
	assert_string_equal(t->err, "failing\n");

	t = seen(c, "kill9");
	assert_string_equal(t->status, "failed");
	assert_int_equal(t->exit_code, 137);
	assert_string_equal(t->reason, "killed by signal 9");
	assert_string_equal(t->out, "bye\n");
}

static void test_big_output_bounded_memory(void **state)
{
	static char *secrets[] = { "Zq-never-printed" };
	const struct msg_strlist mask = { secrets, 1 };
	const struct start_opts o = { .mask = &mask };
	struct ctx *c = *state;
	struct seen_task *t;
	uint64_t want_sum = 0;
	long before, after;

	c->count_only = true;
	c->pattern = "the quick brown fox jumps over 0123456789\n";
	c->pattern_len = strlen(c->pattern);
	for (uint64_t i = 0; i < 20000000; i++)
		want_sum = want_sum * 31 + (uint8_t)c->pattern[i % c->pattern_len];
	before = rss_kib();
	start_script(c, "big", "yes 'the quick brown fox jumps over 0123456789' | head -c 20000000\n", &o);
	t = wait_done(c, "big", 60000);
	after = rss_kib();
	assert_string_equal(t->status, "done");
	assert_int_equal(c->bytes, 20000000);
	assert_false(c->bytes_bad);
	assert_true(c->checksum == want_sum);
	assert_false(t->seq_bad);
	assert_true(t->max_chunk <= RUNNER_LOG_CHUNK);
	if (after - before >= 8 * 1024)
		fail_msg("rss grew by %ld KiB for 20 MB of output", after - before);
}

static void test_pause_resume(void **state)
{
	struct ctx *c = *state;
	const struct out_has first = { "pause", "pause line" };
	struct seen_task *t;
	size_t at_pause;

	start_script(c, "pause", "yes 'pause line 0123456789' | head -c 2000000\necho END >&2\n", NULL);
	assert_true(run_until(c, stdout_has, &first, 10000));
	runner_set_paused(c->r, true);
	t = seen(c, "pause");
	at_pause = t->out_len;
	/* Nothing may arrive while paused; the child blocks on its full pipe. */
	run_until(c, never, NULL, 400);
	assert_int_equal(t->out_len, at_pause);
	assert_false(t->done);
	assert_true(at_pause < 2000000);
	runner_set_paused(c->r, false);
	t = wait_done(c, "pause", 20000);
	assert_string_equal(t->status, "done");
	assert_int_equal(t->out_len, 2000000);
	assert_string_equal(t->err, "END\n");
	assert_false(t->seq_bad);
}

static void test_progress(void **state)
{
	static char *secrets[] = { "s3cr3t" };
	const struct msg_strlist mask = { secrets, 1 };
	const struct start_opts o = { .mask = &mask };
	struct ctx *c = *state;
	struct seen_task *t;

	start_script(c, "prog",
		     "P=\"$OVERCLOUD_PROGRESS\"\n"
		     "echo '10 starting' >> \"$P\"\n"
		     "echo 'not a progress line' >> \"$P\"\n"
		     "echo '50 halfway there' >> \"$P\"\n"
		     "sleep 0.3\n"
		     "echo '150 over the top' >> \"$P\"\n"
		     "echo '12abc glued' >> \"$P\"\n"
		     "echo '' >> \"$P\"\n"
		     "echo '-3 negative' >> \"$P\"\n"
		     "echo '60 using s3cr3t now' >> \"$P\"\n"
		     "printf '100 finished' >> \"$P\"\n", &o);
	t = wait_done(c, "prog", 10000);
	assert_string_equal(t->status, "done");
	assert_int_equal(t->nprog, 6);
	assert_int_equal(t->pct[0], 10);
	assert_string_equal(t->msg[0], "starting");
	assert_int_equal(t->pct[1], 50);
	assert_string_equal(t->msg[1], "halfway there");
	assert_int_equal(t->pct[2], 100);
	assert_string_equal(t->msg[2], "over the top");
	assert_int_equal(t->pct[3], 0);
	assert_string_equal(t->msg[3], "negative");
	assert_int_equal(t->pct[4], 60);
	assert_string_equal(t->msg[4], "using *** now");
	assert_int_equal(t->pct[5], 100);
	assert_string_equal(t->msg[5], "finished");
}

/* ---- outputs through real tasks ---- */

static void test_outputs_from_tasks(void **state)
{
	static const char *const declared[] = { "node_name", "ip", "join_command", NULL };
	const struct start_opts o = { .declared = declared };
	struct ctx *c = *state;
	struct seen_task *t;
	int six = 6;

	start_script(c, "simple",
		     "echo 'node_name=worker-1' >> \"$OVERCLOUD_OUTPUT\"\n"
		     "echo 'ip=10.0.0.7' >> \"$OVERCLOUD_OUTPUT\"\n", &o);
	start_script(c, "heredoc",
		     "{\n"
		     "  echo 'join_command<<EOF_JOIN'\n"
		     "  printf '%s\\n' 'kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef \\'\n"
		     "  printf '%s\\n' '    --discovery-token-ca-cert-hash sha256:1234abcd'\n"
		     "  echo 'EOF_JOIN'\n"
		     "} >> \"$OVERCLOUD_OUTPUT\"\n"
		     "echo 'node_name=master' >> \"$OVERCLOUD_OUTPUT\"\n", &o);
	start_script(c, "undeclared", "echo 'secret_thing=1' >> \"$OVERCLOUD_OUTPUT\"\n", &o);
	start_script(c, "garbage",
		     "echo 'node_name=a' >> \"$OVERCLOUD_OUTPUT\"\n"
		     "echo 'this is not an output' >> \"$OVERCLOUD_OUTPUT\"\n", &o);
	/* Limit 4 running: the last two wait in the queue. */
	start_script(c, "unterminated",
		     "printf 'node_name=a\\njoin_command<<EOF\\nabc\\n' >> \"$OVERCLOUD_OUTPUT\"\n", &o);
	start_script(c, "huge",
		     "head -c 1100000 /dev/zero | tr '\\0' a >> \"$OVERCLOUD_OUTPUT\"\n", &o);
	assert_int_equal(runner_active(c->r), 6);
	assert_true(run_until(c, done_count, &six, 10000));

	t = seen(c, "simple");
	assert_string_equal(t->status, "done");
	assert_int_equal(t->outputs.count, 2);
	assert_string_equal(output_of(t, "node_name"), "worker-1");
	assert_string_equal(output_of(t, "ip"), "10.0.0.7");

	t = seen(c, "heredoc");
	assert_string_equal(t->status, "done");
	assert_int_equal(t->outputs.count, 2);
	assert_string_equal(output_of(t, "join_command"),
			    "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef \\\n"
			    "    --discovery-token-ca-cert-hash sha256:1234abcd");
	assert_string_equal(output_of(t, "node_name"), "master");

	t = seen(c, "undeclared");
	assert_string_equal(t->status, "failed");
	assert_int_equal(t->exit_code, 0);
	assert_string_equal(t->reason,
			    "output file line 1: output \"secret_thing\" is not declared by the role");
	assert_int_equal(t->outputs.count, 0);

	t = seen(c, "garbage");
	assert_string_equal(t->status, "failed");
	assert_string_equal(t->reason, "output file line 2: expected key=value or key<<DELIMITER");

	t = seen(c, "unterminated");
	assert_string_equal(t->status, "failed");
	assert_string_equal(t->reason, "output file line 2: heredoc \"EOF\" never ends");

	t = seen(c, "huge");
	assert_string_equal(t->status, "failed");
	assert_string_equal(t->reason, "output file over 1 MiB");
}

/* ---- masking ---- */

static void test_masking(void **state)
{
	static char *secrets[] = { "Hunter2-s3cret", "", "Hunter2" };
	const struct msg_strlist mask = { secrets, 3 };
	static struct msg_kv env_items[] = { { "INPUT_PASSWORD", "Hunter2-s3cret" } };
	const struct msg_strmap env = { env_items, 1 };
	const struct start_opts o = { .mask = &mask, .env = &env };
	struct ctx *c = *state;
	struct seen_task *t;

	start_script(c, "mask",
		     "echo \"whole: $INPUT_PASSWORD here\"\n"
		     "echo 'short Hunter2 x'\n"
		     "printf 'split: Hunter2-'\n"
		     "sleep 0.3\n"
		     "printf 's3cret done\\n'\n"
		     "echo \"err $INPUT_PASSWORD\" >&2\n"
		     "printf 'tail Hunter' >&2\n"
		     "printf 'last %s' \"$INPUT_PASSWORD\"\n", &o);
	t = wait_done(c, "mask", 10000);
	assert_string_equal(t->status, "done");
	assert_string_equal(t->out, "whole: *** here\nshort *** x\nsplit: *** done\nlast ***");
	assert_string_equal(t->err, "err ***\ntail Hunter");
	assert_null(strstr(t->out, "s3cret"));
	assert_null(strstr(t->err, "s3cret"));
	/* The split really arrived in two reads, the start of it held back. */
	assert_true(t->held_split);
	assert_false(t->seq_bad);
}

/* ---- timeouts, cancel, escapes ---- */

static void test_timeout_kills_group(void **state)
{
	const struct start_opts o = { .timeout_s = 1 };
	struct ctx *c = *state;
	struct seen_task *t;
	char workdir[512], path[600];
	pid_t pids[8] = { 0 };
	int n;

	start_script(c, "slow",
		     "sleep 1000 & echo $! >> pids\n"
		     "( trap '' TERM; sleep 1000 & echo $! >> pids; wait ) &\n"
		     "echo $! >> pids\n"
		     "sh -c 'sleep 1000' & echo $! >> pids\n"
		     "echo ready\n"
		     "sleep 1000\n", &o);
	t = wait_done(c, "slow", 8000);
	assert_string_equal(t->status, "timeout");
	assert_string_equal(t->reason, "timed out after 1s");
	assert_int_equal(t->exit_code, 128 + SIGTERM);
	assert_true(t->duration_ms >= 1000 && t->duration_ms < 5000);
	assert_string_equal(t->out, "ready\n");
	workdir_of(c, "slow", workdir, sizeof(workdir));
	snprintf(path, sizeof(path), "%s/pids", workdir);
	n = read_pids(path, pids, 8);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++) {
		if (!wait_pid_dead(pids[i], 3000)) {
			for (int j = 0; j < n; j++)
				kill(pids[j], SIGKILL);
			fail_msg("pid %d of the timed-out task still alive", (int)pids[i]);
		}
	}
}

static void test_cancel(void **state)
{
	struct ctx *c = *state;
	const struct out_has started = { "stubborn", "started" };
	struct seen_task *t;

	assert_int_equal(runner_cancel(c->r, "nope"), -1);
	/* Ignores SIGTERM, so the grace period ends in SIGKILL. */
	start_script(c, "stubborn", "trap '' TERM\necho started\nsleep 1000\n", NULL);
	assert_true(run_until(c, stdout_has, &started, 5000));
	assert_int_equal(runner_cancel(c->r, "stubborn"), 0);
	t = wait_done(c, "stubborn", 5000);
	assert_string_equal(t->status, "cancelled");
	assert_string_equal(t->reason, "cancelled");
	assert_int_equal(t->exit_code, 128 + SIGKILL);
	assert_int_equal(runner_cancel(c->r, "stubborn"), -1);

	start_script(c, "polite", "echo started\nsleep 1000\n", NULL);
	start_script(c, "p2", "echo started\nsleep 1000\n", NULL);
	assert_int_equal(runner_cancel(c->r, "polite"), 0);
	assert_int_equal(runner_cancel(c->r, "p2"), 0);
	assert_true(run_until(c, done_count, &(int){ 3 }, 5000));
	t = seen(c, "polite");
	assert_string_equal(t->status, "cancelled");
	assert_int_equal(t->exit_code, 128 + SIGTERM);
	assert_int_equal(runner_active(c->r), 0);
}

static void test_cancel_queued(void **state)
{
	struct ctx *c = *state;
	struct seen_task *t;

	runner_free(c->r);
	c->r = runner_new(c->base, &callbacks, c, 1, 300);
	assert_non_null(c->r);
	start_script(c, "first", "echo started\nsleep 1000\n", NULL);
	start_script(c, "second", "echo should never run\n", NULL);
	assert_int_equal(runner_active(c->r), 2);
	assert_int_equal(runner_cancel(c->r, "second"), 0);
	/* on_done never runs inside the call. */
	assert_false(seen(c, "second")->done);
	t = wait_done(c, "second", 3000);
	assert_string_equal(t->status, "cancelled");
	assert_string_equal(t->reason, "cancelled before it started");
	assert_null(t->out);
	assert_false(seen(c, "first")->done);
	assert_int_equal(runner_cancel(c->r, "first"), 0);
	t = wait_done(c, "first", 3000);
	assert_string_equal(t->status, "cancelled");
	assert_int_equal(runner_active(c->r), 0);
}

static void test_escaped_grandchild_does_not_hang(void **state)
{
	struct ctx *c = *state;
	struct seen_task *t;
	char workdir[512], path[600];
	pid_t pid = 0;
	bool ok;

	start_script(c, "escape", "setsid sleep 30 &\necho $! > escaped\necho bye\n", NULL);
	ok = run_until(c, task_done, "escape", 6000);
	workdir_of(c, "escape", workdir, sizeof(workdir));
	snprintf(path, sizeof(path), "%s/escaped", workdir);
	assert_int_equal(read_pids(path, &pid, 1), 1);
	assert_true(pid > 1);
	kill(pid, SIGKILL); /* it left our group: ours to clean up */
	assert_true(ok);
	t = seen(c, "escape");
	assert_string_equal(t->status, "done");
	assert_string_equal(t->out, "bye\n");
	assert_true(t->duration_ms >= 1500 && t->duration_ms < 4000);
}

static void test_free_kills_running(void **state)
{
	struct ctx *c = *state;
	const struct out_has started = { "orphan", "started" };
	char workdir[512], path[600];
	pid_t pids[2] = { 0, 0 }, rc;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int64_t deadline;
	int status;

	start_script(c, "orphan", "echo $$ > pids\nsleep 1000 & echo $! >> pids\necho started\nwait\n",
		     NULL);
	assert_true(run_until(c, stdout_has, &started, 5000));
	runner_free(c->r);
	c->r = runner_new(c->base, &callbacks, c, 4, 300);
	assert_non_null(c->r);
	workdir_of(c, "orphan", workdir, sizeof(workdir));
	snprintf(path, sizeof(path), "%s/pids", workdir);
	assert_int_equal(read_pids(path, pids, 2), 2);
	/* runner_free reaps the leader if it died in time; if not, we do. */
	deadline = util_monotonic_ms() + 3000;
	while ((rc = waitpid(pids[0], &status, WNOHANG)) == 0 && util_monotonic_ms() < deadline)
		nanosleep(&ts, NULL);
	if (rc == 0)
		fail_msg("leader %d still alive after runner_free", (int)pids[0]);
	if (rc == pids[0])
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	else
		assert_true(rc == -1 && errno == ECHILD);
	assert_true(wait_pid_dead(pids[1], 3000));
	run_until(c, never, NULL, 100);
	assert_false(seen(c, "orphan")->done);
}

/* ---- start failures and limits ---- */

static void test_exec_failures(void **state)
{
	struct ctx *c = *state;
	char missing[512], noexec[512], want[700];
	const char *argv_missing[] = { missing, NULL };
	const char *argv_noexec[] = { noexec, NULL };
	const char *argv_nopath[] = { "overcloud-no-such-command", NULL };
	const char *argv_sh[] = { "sh", "-c", "echo via path", NULL };
	char blocked[512], path[512], err[256];
	struct runner_spec spec = { .id = "nodir", .argv = argv_sh, .timeout_s = 5 };
	struct seen_task *t;

	snprintf(missing, sizeof(missing), "%s/does-not-exist.sh", c->dir);
	write_script(c, "noexec.sh", "echo hi\n", 0644, noexec, sizeof(noexec));
	assert_int_equal(start_argv(c, "missing", argv_missing, NULL), 0);
	assert_int_equal(start_argv(c, "noexec", argv_noexec, NULL), 0);
	assert_int_equal(start_argv(c, "nopath", argv_nopath, NULL), 0);

	t = wait_done(c, "missing", 5000);
	assert_string_equal(t->status, "failed");
	assert_int_equal(t->exit_code, 127);
	snprintf(want, sizeof(want), "cannot execute %s: No such file or directory", missing);
	assert_string_equal(t->reason, want);

	t = wait_done(c, "noexec", 5000);
	assert_string_equal(t->status, "failed");
	assert_int_equal(t->exit_code, 126);
	snprintf(want, sizeof(want), "cannot execute %s: Permission denied", noexec);
	assert_string_equal(t->reason, want);

	t = wait_done(c, "nopath", 5000);
	assert_string_equal(t->status, "failed");
	assert_string_equal(t->reason,
			    "cannot execute overcloud-no-such-command: No such file or directory");

	/* The runner goes on; a bare name is found on the child's PATH. */
	assert_int_equal(start_argv(c, "after", argv_sh, NULL), 0);
	t = wait_done(c, "after", 5000);
	assert_string_equal(t->status, "done");
	assert_string_equal(t->out, "via path\n");

	/* A work dir that cannot be made fails the task, through on_done. */
	snprintf(blocked, sizeof(blocked), "%s/a-file/work", c->dir);
	write_script(c, "a-file", "", 0600, path, sizeof(path));
	spec.workdir = blocked;
	assert_int_equal(runner_start(c->r, &spec, err, sizeof(err)), 0);
	assert_false(seen(c, "nodir")->done);
	t = wait_done(c, "nodir", 5000);
	assert_string_equal(t->status, "failed");
	snprintf(want, sizeof(want), "cannot create work dir %s: Not a directory", blocked);
	assert_string_equal(t->reason, want);
	assert_int_equal(runner_active(c->r), 0);
}

static void test_start_from_on_done(void **state)
{
	struct ctx *c = *state;
	const char *argv_b[] = { "sh", "-c", "echo second", NULL };
	struct seen_task *t;
	int two = 2;

	c->chain_after = "chain-a";
	c->chain_id = "chain-b";
	c->chain_argv = argv_b;
	start_script(c, "chain-a", "echo first\n", NULL);
	assert_true(run_until(c, done_count, &two, 5000));
	/* The finished task no longer counts while its on_done runs. */
	assert_int_equal(c->active_in_done, 0);
	t = seen(c, "chain-b");
	assert_string_equal(t->status, "done");
	assert_string_equal(t->out, "second\n");
	assert_int_equal(runner_active(c->r), 0);
}

static void test_bad_specs(void **state)
{
	struct ctx *c = *state;
	const char *argv[] = { "/bin/true", NULL };
	const char *no_argv[] = { NULL };
	char err[256];
	struct runner_spec spec = { .id = "ok", .workdir = "/tmp/x", .argv = argv, .timeout_s = 5 };
	static struct msg_kv bad_env[] = { { "A=B", "x" } };
	const struct msg_strmap env = { bad_env, 1 };

	spec.id = "bad id!";
	assert_int_equal(runner_start(c->r, &spec, err, sizeof(err)), -1);
	assert_string_equal(err, "bad task id");
	spec.id = "ok";
	spec.workdir = "relative";
	assert_int_equal(runner_start(c->r, &spec, err, sizeof(err)), -1);
	spec.workdir = "/tmp/x";
	spec.argv = no_argv;
	assert_int_equal(runner_start(c->r, &spec, err, sizeof(err)), -1);
	spec.argv = argv;
	spec.timeout_s = 0;
	assert_int_equal(runner_start(c->r, &spec, err, sizeof(err)), -1);
	spec.timeout_s = 5;
	spec.env = &env;
	assert_int_equal(runner_start(c->r, &spec, err, sizeof(err)), -1);
	assert_int_equal(runner_active(c->r), 0);
}

static void test_concurrency_limit(void **state)
{
	struct ctx *c = *state;
	char log_path[512], body[256], line[64], order[4][8];
	struct msg_kv env_items[1];
	struct msg_strmap env = { env_items, 1 };
	const struct start_opts o = { .env = &env };
	const char *argv[] = { "/bin/true", NULL };
	const char *ids[] = { "c1", "c2", "c3", "c4" };
	int running = 0, peak = 0, starts = 0, ends = 0, four = 4;
	FILE *f;

	runner_free(c->r);
	c->r = runner_new(c->base, &callbacks, c, 2, 300);
	assert_non_null(c->r);
	snprintf(log_path, sizeof(log_path), "%s/conc.log", c->dir);
	env_items[0].key = "LOG";
	env_items[0].value = log_path;
	snprintf(body, sizeof(body),
		 "echo \"S $OVERCLOUD_TASK_ID\" >> \"$LOG\"\n"
		 "sleep 0.3\n"
		 "echo \"E $OVERCLOUD_TASK_ID\" >> \"$LOG\"\n");
	for (int i = 0; i < 4; i++)
		start_script(c, ids[i], body, &o);
	assert_int_equal(runner_active(c->r), 4);
	assert_int_equal(start_argv(c, "c1", argv, NULL), -1);   /* running */
	assert_int_equal(start_argv(c, "c4", argv, NULL), -1);   /* queued */
	assert_true(run_until(c, done_count, &four, 10000));
	assert_int_equal(runner_active(c->r), 0);

	f = fopen(log_path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == 'S') {
			assert_true(starts < 4);
			snprintf(order[starts++], sizeof(order[0]), "%.2s", line + 2);
			if (++running > peak)
				peak = running;
		} else {
			ends++;
			running--;
		}
	}
	fclose(f);
	assert_int_equal(starts, 4);
	assert_int_equal(ends, 4);
	assert_int_equal(peak, 2);
	/* FIFO: the first two started first. */
	assert_true((strcmp(order[0], "c1") == 0 && strcmp(order[1], "c2") == 0) ||
		    (strcmp(order[0], "c2") == 0 && strcmp(order[1], "c1") == 0));
	for (int i = 0; i < 4; i++)
		assert_string_equal(seen(c, ids[i])->status, "done");
}

static void test_child_environment(void **state)
{
	static struct msg_kv env_items[] = {
		{ "INPUT_NODE_LABELS", "a=b" }, { "OVERCLOUD_TASK_ID", "spoofed" }, { "LANG", "de_DE" },
	};
	const struct msg_strmap env = { env_items, 3 };
	const struct start_opts o = { .env = &env };
	struct ctx *c = *state;
	struct seen_task *t;
	char workdir[512], want[2048], out[8192];
	struct stat st;
	int fd;

	setenv("OC_RUNNER_LEAK", "leaky", 1);
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 57), 57); /* not close-on-exec */
	close(fd);
	start_script(c, "env1",
		     "env | sort\n"
		     "echo \"stdin=$(readlink /proc/$$/fd/0)\"\n"
		     "if [ -e /proc/$$/fd/57 ]; then echo fd57=open; else echo fd57=closed; fi\n"
		     "echo \"pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$\"\n"
		     "echo \"cwd=$(pwd)\"\n", &o);
	t = wait_done(c, "env1", 5000);
	close(57);
	unsetenv("OC_RUNNER_LEAK");
	assert_string_equal(t->status, "done");
	assert_non_null(t->out);
	assert_true(t->out_len < sizeof(out) - 1);
	workdir_of(c, "env1", workdir, sizeof(workdir));
	assert_int_equal(stat(workdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* Every line of out between newlines, so the first line counts too. */
	snprintf(out, sizeof(out), "\n%s", t->out);
	assert_null(strstr(out, "OC_RUNNER_LEAK"));
	assert_null(strstr(out, "spoofed"));
	assert_non_null(strstr(out, "\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
	snprintf(want, sizeof(want), "\nHOME=%s\n", geteuid() == 0 ? "/root" : workdir);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\nLANG=de_DE\n"));
	assert_non_null(strstr(out, "\nINPUT_NODE_LABELS=a=b\n"));
	snprintf(want, sizeof(want), "\nOVERCLOUD_OUTPUT=%s/output\nOVERCLOUD_PROGRESS=%s/progress\n"
		 "OVERCLOUD_TASK_ID=env1\nOVERCLOUD_WORKDIR=%s\n", workdir, workdir, workdir);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\nstdin=/dev/null\n"));
	assert_non_null(strstr(out, "\nfd57=closed\n"));
	snprintf(want, sizeof(want), "\ncwd=%s\n", workdir);
	assert_non_null(strstr(out, want));
	{
		const char *p = strstr(t->out, "\npgid=");
		int pgid = -1, pid = -2;
		assert_non_null(p);
		assert_int_equal(sscanf(p, "\npgid=%d pid=%d", &pgid, &pid), 2);
		assert_int_equal(pgid, pid);
	}
}

/* ---- runner_parse_outputs ---- */

static void expect_reject(const char *text, size_t len, const char *const *declared,
			  const char *want)
{
	struct msg_strmap m = { (struct msg_kv *)1, 99 };
	char err[256] = "";

	assert_int_equal(runner_parse_outputs(text, len, declared, &m, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_int_equal(m.count, 0);
	assert_null(m.items);
}

static void test_parse_accepts(void **state)
{
	static const char text[] =
		"a=1\r\n"
		"b=x=y<<z\n"
		"\n"
		"   \n"
		"c<<EOF\n"
		"l1\r\n"
		"\r\n"
		"  EOF\n"
		"EOF\r\n"
		"empty=\n"
		"none<<END\n"
		"END\n"
		"a=2";
	static const char *const declared[] = { "a", "b", "c", "empty", "none", NULL };
	struct msg_strmap m;
	char err[256];

	assert_int_equal(runner_parse_outputs(text, sizeof(text) - 1, NULL, &m, err, sizeof(err)), 0);
	assert_int_equal(m.count, 5);
	assert_string_equal(m.items[0].key, "a");
	assert_string_equal(m.items[0].value, "2");
	assert_string_equal(m.items[1].key, "b");
	assert_string_equal(m.items[1].value, "x=y<<z");
	assert_string_equal(m.items[2].key, "c");
	assert_string_equal(m.items[2].value, "l1\n\n  EOF");
	assert_string_equal(m.items[3].value, "");
	assert_string_equal(m.items[4].key, "none");
	assert_string_equal(m.items[4].value, "");
	runner_outputs_clear(&m);
	assert_int_equal(m.count, 0);

	assert_int_equal(runner_parse_outputs(text, sizeof(text) - 1, declared, &m, err, sizeof(err)), 0);
	assert_int_equal(m.count, 5);
	runner_outputs_clear(&m);

	assert_int_equal(runner_parse_outputs("", 0, NULL, &m, err, sizeof(err)), 0);
	assert_int_equal(m.count, 0);
	runner_outputs_clear(&m);
}

static void test_parse_limits(void **state)
{
	char key[80], *big;
	struct msg_strmap m;
	char err[256];
	size_t n;

	/* A 64-byte key is fine, 65 is not. */
	memset(key, 'k', 64);
	memcpy(key + 64, "=v", 3);
	assert_int_equal(runner_parse_outputs(key, strlen(key), NULL, &m, err, sizeof(err)), 0);
	runner_outputs_clear(&m);
	memset(key, 'k', 65);
	memcpy(key + 65, "=v", 3);
	expect_reject(key, strlen(key), NULL, "line 1: key over 64 bytes");

	/* A 64 KiB value is fine, one byte more is not, in both forms. */
	big = malloc(70 * 1024);
	assert_non_null(big);
	memcpy(big, "v=", 2);
	memset(big + 2, 'x', 64 * 1024 + 1);
	assert_int_equal(runner_parse_outputs(big, 2 + 64 * 1024, NULL, &m, err, sizeof(err)), 0);
	assert_int_equal(strlen(m.items[0].value), 64 * 1024);
	runner_outputs_clear(&m);
	expect_reject(big, 2 + 64 * 1024 + 1, NULL, "line 1: value of \"v\" over 64 KiB");
	n = (size_t)snprintf(big, 70 * 1024, "v<<E\n");
	memset(big + n, 'y', 64 * 1024 + 1);
	n += 64 * 1024 + 1;
	memcpy(big + n, "\nE\n", 3);
	expect_reject(big, n + 3, NULL, "line 1: heredoc \"E\" value over 64 KiB");
	free(big);

	/* At most 1024 distinct keys. */
	big = malloc(1100 * 16);
	assert_non_null(big);
	n = 0;
	for (int i = 0; i < 1025; i++)
		n += (size_t)sprintf(big + n, "k%d=1\n", i);
	expect_reject(big, n, NULL, "line 1025: more than 1024 outputs");
	free(big);
}

static void test_parse_rejects(void **state)
{
	static const char *const declared[] = { "node_name", NULL };

	expect_reject("hello world\n", 12, NULL, "line 1: expected key=value or key<<DELIMITER");
	expect_reject("a=1\n=x\n", 7, NULL, "line 2: expected key=value or key<<DELIMITER");
	expect_reject("<<EOF\nx\nEOF\n", 12, NULL, "line 1: expected key=value or key<<DELIMITER");
	expect_reject("Node=1\n", 7, NULL, "line 1: key \"Node\" is not [a-z0-9_]");
	expect_reject("node-name=1\n", 12, NULL, "line 1: key \"node-name\" is not [a-z0-9_]");
	expect_reject("a b=1\n", 6, NULL, "line 1: key \"a b\" is not [a-z0-9_]");
	expect_reject("node_name=x\nip=1\n", 17, declared,
		      "line 2: output \"ip\" is not declared by the role");
	expect_reject("a=1\njoin<<EOF\nline\n EOF\nEOF \n", 29, NULL,
		      "line 2: heredoc \"EOF\" never ends");
	expect_reject("a=1\nb=x\0y\n", 10, NULL, "line 2: contains a NUL byte");
	expect_reject("a<<E\nx\0\nE\n", 10, NULL, "line 2: contains a NUL byte");
	expect_reject("a<<\nx\n", 6, NULL, "line 1: empty heredoc delimiter");
	expect_reject("x<<E\"\x01\n", 7, NULL, "line 1: heredoc \"E??\" never ends");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_streams_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_output_bounded_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outputs_from_tasks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaped_grandchild_does_not_hang, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_kills_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_from_on_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrency_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_environment, setup, teardown),
		cmocka_unit_test(test_parse_accepts),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_rejects),
	};

	/* OC_TEST_VERBOSE=1 shows the runner's own log lines. */
	log_init("test_runner", getenv("OC_TEST_VERBOSE") != NULL ? OC_LOG_DEBUG : OC_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
