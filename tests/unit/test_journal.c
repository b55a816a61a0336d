/* test_journal.c — the agent's task journal: states survive a reopen, a torn
 * tail is cut, old marker files are taken over, acks expire, compaction keeps
 * stored results, and the record parser refuses every malformed header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/journal.h"
#include "shared/util.h"

#define NOW 1800000000LL

struct fixture {
	char dir[64];
	char file[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_journal.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->file, sizeof(f->file), "%s/tasks.journal", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	util_remove_tree(f->dir);
	free(f);
	return 0;
}

static struct journal *open_ok(struct fixture *f, int64_t now)
{
	char err[256] = "";
	struct journal *j = journal_open(f->dir, now, err, sizeof(err));

	if (j == NULL)
		fail_msg("journal_open: %s", err);
	return j;
}

static char *file_text(struct fixture *f, size_t *len)
{
	char *text = util_read_file(f->file, 64 << 20, len);

	assert_non_null(text);
	return text;
}

static void append_raw(struct fixture *f, const char *bytes, size_t len)
{
	int fd = open(f->file, O_WRONLY | O_APPEND | O_CREAT, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, len), (ssize_t)len);
	close(fd);
}

static void test_states_survive_reopen(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f, NOW);
	static const uint8_t frame[] = {0, 0, 0, 3, 0x81, 0xa1, 't'};
	uint8_t *got;
	size_t len;

	assert_int_equal(journal_state(j, "t-1"), JOURNAL_UNKNOWN);
	assert_int_equal(journal_mark_running(j, "t-1"), 0);
	assert_int_equal(journal_mark_running(j, "t-2"), 0);
	assert_int_equal(journal_mark_done(j, "t-2", frame, sizeof(frame)), 0);
	assert_int_equal(journal_mark_running(j, "t-3"), 0);
	assert_int_equal(journal_mark_done(j, "t-3", frame, sizeof(frame)), 0);
	assert_int_equal(journal_mark_acked(j, "t-3", NOW), 0);
	assert_null(journal_result(j, "t-1", &len));
	got = journal_result(j, "t-2", &len);
	assert_non_null(got);
	assert_int_equal(len, sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	free(got);
	journal_free(j);

	j = open_ok(f, NOW + 60);
	assert_int_equal(journal_state(j, "t-1"), JOURNAL_RUNNING);
	assert_int_equal(journal_state(j, "t-2"), JOURNAL_DONE);
	assert_int_equal(journal_state(j, "t-3"), JOURNAL_ACKED);
	assert_int_equal(journal_state(j, "t-4"), JOURNAL_UNKNOWN);
	got = journal_result(j, "t-2", &len);
	assert_non_null(got);
	assert_memory_equal(got, frame, sizeof(frame));
	free(got);
	journal_free(j);
}

static void test_bad_ids_refused(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f, NOW);
	char longid[80];

	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(journal_mark_running(j, ""), -1);
	assert_int_equal(journal_mark_running(j, ".hidden"), -1);
	assert_int_equal(journal_mark_running(j, "a b"), -1);
	assert_int_equal(journal_mark_running(j, "../x"), -1);
	assert_int_equal(journal_mark_running(j, "x\nR y"), -1);
	assert_int_equal(journal_mark_running(j, longid), -1);
	assert_int_equal(journal_mark_done(j, "t-1", (const uint8_t *)"", 0), -1);
	assert_int_equal(journal_state(j, "../x"), JOURNAL_UNKNOWN);
	journal_free(j);
}

/* A record cut by a crash, then bytes that are no record: both dropped,
 * everything before them kept, and the file is whole again. */
static void test_torn_tail_cut(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f, NOW);
	char *text;
	size_t len;

	assert_int_equal(journal_mark_running(j, "t-1"), 0);
	journal_free(j);
	append_raw(f, "D t-1 100\nshort", 15);
	append_raw(f, "R t-9\n", 6);   /* after the tear: not trusted */
	j = open_ok(f, NOW);
	assert_int_equal(journal_state(j, "t-1"), JOURNAL_RUNNING);
	assert_int_equal(journal_state(j, "t-9"), JOURNAL_UNKNOWN);
	assert_int_equal(journal_mark_running(j, "t-2"), 0);
	journal_free(j);
	text = file_text(f, &len);
	assert_int_equal(len, strlen("R t-1\nR t-2\n"));
	assert_memory_equal(text, "R t-1\nR t-2\n", len);
	free(text);
}

static void write_marker(struct fixture *f, const char *name, const void *data, size_t len,
			 int64_t mtime)
{
	char path[256];
	struct timeval tv[2] = {{(time_t)mtime, 0}, {(time_t)mtime, 0}};

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(util_write_file_nosync(path, data, len, 0600), 0);
	assert_int_equal(utimes(path, tv), 0);
}

static bool exists(struct fixture *f, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return access(path, F_OK) == 0;
}

/* The per-task marker files of agents before the single journal. */
static void test_old_markers_taken_over(void **state)
{
	struct fixture *f = *state;
	static const uint8_t frame[] = {0, 0, 0, 1, 0x80};
	struct journal *j;
	uint8_t *got;
	size_t len;

	write_marker(f, "t-run.run", "accepted\n", 9, NOW);
	write_marker(f, "t-done.run", "accepted\n", 9, NOW);
	write_marker(f, "t-done.done", frame, sizeof(frame), NOW);
	write_marker(f, "t-acked.acked", "", 0, NOW - 3600);
	write_marker(f, "t-old.acked", "", 0, NOW - 8 * 86400);
	write_marker(f, "t-run.log", "x", 1, NOW);   /* output spool: not a marker */
	j = open_ok(f, NOW);
	assert_int_equal(journal_state(j, "t-run"), JOURNAL_RUNNING);
	assert_int_equal(journal_state(j, "t-done"), JOURNAL_DONE);
	assert_int_equal(journal_state(j, "t-acked"), JOURNAL_ACKED);
	assert_int_equal(journal_state(j, "t-old"), JOURNAL_UNKNOWN);
	got = journal_result(j, "t-done", &len);
	assert_non_null(got);
	assert_int_equal(len, sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	free(got);
	journal_free(j);
	assert_false(exists(f, "t-run.run"));
	assert_false(exists(f, "t-done.done"));
	assert_false(exists(f, "t-acked.acked"));
	assert_false(exists(f, "t-old.acked"));
	assert_true(exists(f, "t-run.log"));
	j = open_ok(f, NOW);
	assert_int_equal(journal_state(j, "t-done"), JOURNAL_DONE);
	assert_int_equal(journal_state(j, "t-acked"), JOURNAL_ACKED);
	journal_free(j);
}

static void test_acks_expire(void **state)
{
	struct fixture *f = *state;
	static const uint8_t frame[] = {0, 0, 0, 1, 0x80};
	struct journal *j = open_ok(f, NOW);
	char id[32];

	assert_int_equal(journal_mark_done(j, "t-old", frame, sizeof(frame)), 0);
	assert_int_equal(journal_mark_acked(j, "t-old", NOW - 8 * 86400), 0);
	assert_int_equal(journal_mark_done(j, "t-new", frame, sizeof(frame)), 0);
	assert_int_equal(journal_mark_acked(j, "t-new", NOW - 86400), 0);
	journal_free(j);
	j = open_ok(f, NOW);
	assert_int_equal(journal_state(j, "t-old"), JOURNAL_UNKNOWN);
	assert_int_equal(journal_state(j, "t-new"), JOURNAL_ACKED);
	/* Past the count cap the oldest acks go first. */
	for (int i = 0; i < JOURNAL_ACKED_MAX + 10; i++) {
		snprintf(id, sizeof(id), "t-many-%d", i);
		assert_int_equal(journal_mark_running(j, id), 0);
		assert_int_equal(journal_mark_done(j, id, frame, sizeof(frame)), 0);
		assert_int_equal(journal_mark_acked(j, id, NOW + i), 0);
	}
	journal_free(j);
	j = open_ok(f, NOW + JOURNAL_ACKED_MAX + 10);
	assert_int_equal(journal_state(j, "t-new"), JOURNAL_UNKNOWN);
	assert_int_equal(journal_state(j, "t-many-9"), JOURNAL_UNKNOWN);
	assert_int_equal(journal_state(j, "t-many-10"), JOURNAL_ACKED);
	snprintf(id, sizeof(id), "t-many-%d", JOURNAL_ACKED_MAX + 9);
	assert_int_equal(journal_state(j, id), JOURNAL_ACKED);
	journal_free(j);
}

/* Many tasks through one open journal: the file is compacted as it goes,
 * and a result still waiting for its ack stays readable through it. */
static void test_compaction_keeps_results(void **state)
{
	struct fixture *f = *state;
	struct journal *j = open_ok(f, NOW);
	uint8_t frame[2000], *got;
	struct stat st;
	char id[32];
	size_t len;

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7);
	assert_int_equal(journal_mark_running(j, "t-waiting"), 0);
	assert_int_equal(journal_mark_done(j, "t-waiting", frame, sizeof(frame)), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "t-%d", i);
		assert_int_equal(journal_mark_running(j, id), 0);
		assert_int_equal(journal_mark_done(j, id, frame, sizeof(frame)), 0);
		assert_int_equal(journal_mark_acked(j, id, NOW), 0);
	}
	/* 1000 results of 2 KB were written; compaction kept the file small. */
	assert_int_equal(stat(f->file, &st), 0);
	assert_true(st.st_size < 600 * 1024);
	got = journal_result(j, "t-waiting", &len);
	assert_non_null(got);
	assert_int_equal(len, sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	free(got);
	assert_int_equal(journal_state(j, "t-999"), JOURNAL_ACKED);
	journal_free(j);
	j = open_ok(f, NOW);
	assert_int_equal(journal_state(j, "t-waiting"), JOURNAL_DONE);
	got = journal_result(j, "t-waiting", &len);
	assert_non_null(got);
	assert_memory_equal(got, frame, sizeof(frame));
	free(got);
	journal_free(j);
}

/* Short tasks, small results: the file stays far under its size trigger,
 * and still the acks it holds (and the index) stay bounded. */
static void test_acks_bounded_by_count(void **state)
{
	struct fixture *f = *state;
	static const uint8_t frame[] = {0, 0, 0, 1, 0x80};
	struct journal *j = open_ok(f, NOW);
	size_t len, acks = 0;
	char id[32], *text;

	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "t-%d", i);
		assert_int_equal(journal_mark_running(j, id), 0);
		assert_int_equal(journal_mark_done(j, id, frame, sizeof(frame)), 0);
		assert_int_equal(journal_mark_acked(j, id, NOW), 0);
	}
	text = file_text(f, &len);
	for (size_t i = 0; i + 1 < len; i++)
		if ((i == 0 || text[i - 1] == '\n') && text[i] == 'A' && text[i + 1] == ' ')
			acks++;
	free(text);
	assert_true(acks <= 2 * JOURNAL_ACKED_MAX + 64);
	assert_int_equal(journal_state(j, "t-2999"), JOURNAL_ACKED);
	journal_free(j);
}

struct collected {
	char ids[8][JOURNAL_ID_MAX + 1];
	size_t n;
	struct journal *j;
};

static void collect_and_finish(void *arg, const char *id)
{
	struct collected *c = arg;
	static const uint8_t frame[] = {0, 0, 0, 1, 0x80};

	snprintf(c->ids[c->n++], sizeof(c->ids[0]), "%s", id);
	/* What worker.c does for each interrupted task. */
	assert_int_equal(journal_mark_done(c->j, id, frame, sizeof(frame)), 0);
}

static void test_each_is_a_snapshot(void **state)
{
	struct fixture *f = *state;
	struct collected c = {.n = 0};

	c.j = open_ok(f, NOW);
	assert_int_equal(journal_mark_running(c.j, "t-a"), 0);
	assert_int_equal(journal_mark_running(c.j, "t-b"), 0);
	journal_each(c.j, JOURNAL_RUNNING, collect_and_finish, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.ids[0], "t-a");
	assert_string_equal(c.ids[1], "t-b");
	assert_int_equal(journal_state(c.j, "t-a"), JOURNAL_DONE);
	c.n = 0;
	journal_each(c.j, JOURNAL_RUNNING, collect_and_finish, &c);
	assert_int_equal(c.n, 0);
	journal_free(c.j);
}

static void count_record(void *arg, char kind, const char *id, int64_t when,
			 const uint8_t *payload, size_t payload_len, size_t offset)
{
	(*(int *)arg)++;
}

/* Each of these is refused as a whole: the scan stops before it. */
static void test_scan_refuses_malformed(void **state)
{
	static const char *const bad[] = {
		"X t-1\n",             /* unknown kind */
		"R\n",                 /* no id */
		"R \n",                /* empty id */
		"Rt-1\n",              /* no space */
		"R t-1",               /* no newline */
		"R t 1\n",             /* run takes no argument */
		"R .x\n",              /* hidden id */
		"R t/1\n",             /* slash in id */
		"A t-1\n",             /* ack without time */
		"A t-1 -5\n",          /* negative time */
		"A t-1 12x\n",         /* not a number */
		"A t-1 99999999999999999999\n",  /* over 19 digits */
		"A t-1 9777777777777777756\n",   /* 19 digits, over INT64_MAX */
		"D t-1\n",             /* done without length */
		"D t-1 0\n",           /* empty frame */
		"D t-1 5\nabc",        /* frame cut short */
		"D t-1 3\nabc",        /* no newline after the frame */
		"D t-1 3\nabcd\n",     /* frame longer than declared */
		"D t-1 2000000\n",     /* over the frame cap */
		"\n \n",
	};
	int count;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		count = 0;
		if (journal_scan((const uint8_t *)bad[i], strlen(bad[i]), count_record, &count) != 0 ||
		    count != 0)
			fail_msg("accepted: \"%s\"", bad[i]);
	}
	count = 0;
	assert_int_equal(journal_scan((const uint8_t *)"R t-1\nD t-1 3\nabc\nA t-1 5\nZZ", 28,
				      count_record, &count), 26);
	assert_int_equal(count, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_states_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ids_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_markers_taken_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acks_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction_keeps_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acks_bounded_by_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_is_a_snapshot, setup, teardown),
		cmocka_unit_test(test_scan_refuses_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
