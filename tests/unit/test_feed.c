/* test_feed.c — the replicas' change feed: its notes parsed strictly (each
 * refusal), formatted back the same; and, on PostgreSQL (pg_run.sh), notes
 * sent by one tower heard by another, in a batch only at its COMMIT, and the
 * LISTEN connection made again after the server dropped it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "shared/util.h"
#include "tower/store/feed.h"
#include "tower/store/store.h"
#include "store_target.h"

#define ORIGIN "0123456789abcdef"

static int parse(const char *payload, struct feed_note *n)
{
	return feed_note_parse(payload, strlen(payload), n);
}

static void test_parse_each_kind(void **state)
{
	struct feed_note *n = malloc(sizeof(*n));

	(void)state;
	assert_int_equal(parse("v1 " ORIGIN " run r-12ab", n), 0);
	assert_int_equal(n->kind, FEED_RUN);
	assert_string_equal(n->origin, ORIGIN);
	assert_string_equal(n->id, "r-12ab");
	assert_int_equal(parse("v1 " ORIGIN " task r-1 t-2", n), 0);
	assert_int_equal(n->kind, FEED_TASK);
	assert_string_equal(n->id, "r-1");
	assert_string_equal(n->task_id, "t-2");
	assert_int_equal(parse("v1 " ORIGIN " done r-1 t-2", n), 0);
	assert_int_equal(n->kind, FEED_TASK_DONE);
	assert_string_equal(n->task_id, "t-2");
	assert_int_equal(parse("v1 " ORIGIN " oc oc-9f.x_y:z", n), 0);
	assert_int_equal(n->kind, FEED_OVERCLOUD);
	assert_string_equal(n->id, "oc-9f.x_y:z");
	assert_int_equal(parse("v1 " ORIGIN " log r-1 t-2 err 68690a00ff", n), 0);
	assert_int_equal(n->kind, FEED_LOG);
	assert_true(n->err_stream);
	assert_int_equal(n->data_len, 5);
	assert_memory_equal(n->data, "hi\n\0\xff", 5);
	assert_int_equal(parse("v1 " ORIGIN " log r-1 t-2 out 41", n), 0);
	assert_false(n->err_stream);
	free(n);
}

static void test_parse_refusals(void **state)
{
	static const char *const bad[] = {
		"",
		"v1",
		"v2 " ORIGIN " run r-1",                     /* another version */
		"V1 " ORIGIN " run r-1",
		"v1 0123456789abcde run r-1",                /* origin one short */
		"v1 0123456789abcdef0 run r-1",              /* one long */
		"v1 0123456789ABCDEF run r-1",               /* upper case */
		"v1 0123456789abcdeg run r-1",               /* not hex */
		"v1 " ORIGIN " runs r-1",                    /* unknown kind */
		"v1 " ORIGIN " resync r-1",                  /* never sent */
		"v1 " ORIGIN " run",                         /* no id */
		"v1 " ORIGIN " run ",                        /* trailing space */
		" v1 " ORIGIN " run r-1",                    /* leading space */
		"v1  " ORIGIN " run r-1",                    /* two spaces */
		"v1 " ORIGIN " run r-1 ",
		"v1 " ORIGIN " run r-1 extra",               /* a word too many */
		"v1 " ORIGIN " run r/1",                     /* not an id's character */
		"v1 " ORIGIN " run r'1",
		"v1 " ORIGIN " run r\t1",
		"v1 " ORIGIN " oc \xc3\xa9",
		"v1 " ORIGIN " task r-1",                    /* no task id */
		"v1 " ORIGIN " task r-1 t-2 t-3",
		"v1 " ORIGIN " done r-1",
		"v1 " ORIGIN " oc oc-1 t-2",
		"v1 " ORIGIN " log r-1 t-2 out",             /* no data */
		"v1 " ORIGIN " log r-1 t-2 both 41",         /* no such stream */
		"v1 " ORIGIN " log r-1 t-2 out 4",           /* odd hex */
		"v1 " ORIGIN " log r-1 t-2 out 4G",
		"v1 " ORIGIN " log r-1 t-2 out 4A",          /* upper-case hex */
		"v1 " ORIGIN " log r-1 t-2 out 41 42",
	};
	struct feed_note *n = malloc(sizeof(*n));
	char *big;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], n) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* an id of 64 characters is one too many; 63 is fine */
	big = calloc(1, FEED_PAYLOAD_MAX + 64);
	assert_non_null(big);
	snprintf(big, 200, "v1 " ORIGIN " run %0*d", 63, 7);
	assert_int_equal(parse(big, n), 0);
	snprintf(big, 200, "v1 " ORIGIN " run %0*d", 64, 7);
	assert_int_equal(parse(big, n), -1);
	/* a NUL inside the payload */
	assert_int_equal(feed_note_parse("v1 " ORIGIN " run r-1\0x", 30, n), -1);
	/* more log bytes than a note holds, and a payload over the limit */
	strcpy(big, "v1 " ORIGIN " log r-1 t-2 out ");
	memset(big + strlen(big), 'a', (FEED_LOG_MAX + 1) * 2);
	assert_int_equal(parse(big, n), -1);
	memset(big, 0, FEED_PAYLOAD_MAX + 64);
	strcpy(big, "v1 " ORIGIN " run r-1");
	assert_int_equal(feed_note_parse(big, FEED_PAYLOAD_MAX + 1, n), -1);
	assert_int_equal(feed_note_parse(NULL, 0, n), -1);
	free(big);
	free(n);
}

static void test_format_round_trip(void **state)
{
	struct feed_note *a = calloc(1, sizeof(*a)), *b = malloc(sizeof(*b));
	char payload[FEED_PAYLOAD_MAX + 1];
	int len;

	(void)state;
	a->kind = FEED_LOG;
	memcpy(a->origin, ORIGIN, sizeof(a->origin));
	strcpy(a->id, "r-1");
	strcpy(a->task_id, "t-2");
	a->data_len = FEED_LOG_MAX;
	for (size_t i = 0; i < a->data_len; i++)
		a->data[i] = (uint8_t)(i * 7);
	len = feed_note_format(a, payload, sizeof(payload));
	assert_true(len > 0 && len <= FEED_PAYLOAD_MAX);
	assert_int_equal(feed_note_parse(payload, (size_t)len, b), 0);
	assert_int_equal(b->data_len, a->data_len);
	assert_memory_equal(b->data, a->data, a->data_len);
	assert_string_equal(b->task_id, "t-2");
	/* an id the parser would refuse is never sent */
	strcpy(a->id, "r 1");
	assert_int_equal(feed_note_format(a, payload, sizeof(payload)), -1);
	strcpy(a->id, "r-1");
	a->data_len = 0;
	assert_int_equal(feed_note_format(a, payload, sizeof(payload)), -1);
	a->kind = FEED_RESYNC;
	assert_int_equal(feed_note_format(a, payload, sizeof(payload)), -1);
	free(a);
	free(b);
}

/* ---- live, on PostgreSQL ---- */

struct heard {
	struct event_base *base;
	struct feed_note notes[8];
	int count;
};

static void on_note(void *arg, const struct feed_note *note)
{
	struct heard *h = arg;

	if (h->count < 8)
		h->notes[h->count] = *note;
	h->count++;
	event_base_loopbreak(h->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop until want notes were heard, or ms went by. */
static void run_loop(struct heard *h, int want, int64_t ms)
{
	int64_t deadline = util_now_ms() + ms;
	struct timeval every = {0, 50000};
	struct event *tick = event_new(h->base, -1, EV_PERSIST, on_tick, NULL);

	event_add(tick, &every);
	while (h->count < want && util_now_ms() < deadline)
		event_base_loop(h->base, EVLOOP_ONCE);
	event_free(tick);
}

static void hear(struct heard *h, int want)
{
	run_loop(h, want, 10000);
}

static void test_live_notes(void **state)
{
	const char *url = store_target_pg_url();
	char target[STORE_TARGET_MAX], err[256];
	struct store *st_a, *st_b;
	struct feed *a, *b;
	struct heard *heard = calloc(1, sizeof(*heard)), *own = calloc(1, sizeof(*own));

	(void)state;
	if (url == NULL) {
		free(heard);
		free(own);
		skip();
	}
	assert_int_equal(store_target_make("/tmp", "feed", target, sizeof(target)), 0);
	heard->base = event_base_new();
	own->base = heard->base;
	st_a = store_open(target, err, sizeof(err));
	st_b = store_open(target, err, sizeof(err));
	assert_non_null(st_a);
	assert_non_null(st_b);
	a = feed_new(st_a, target, heard->base, on_note, own, err, sizeof(err));
	b = feed_new(st_b, target, heard->base, on_note, heard, err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);

	/* a note from a is heard by b, never by a itself */
	feed_send(a, FEED_TASK, "r-1", "t-1");
	hear(heard, 1);
	assert_int_equal(heard->count, 1);
	assert_int_equal(heard->notes[0].kind, FEED_TASK);
	assert_string_equal(heard->notes[0].task_id, "t-1");
	assert_int_equal(own->count, 0);

	/* what another process NOTIFYs that is not a note is dropped */
	assert_int_equal(store_target_exec(target, "NOTIFY " FEED_CHANNEL ", 'v1 "
					   ORIGIN " run r/1'; NOTIFY " FEED_CHANNEL ", ''"), 0);
	feed_send(a, FEED_RUN, "r-9", NULL);
	hear(heard, 2);
	assert_int_equal(heard->count, 2);
	assert_string_equal(heard->notes[1].id, "r-9");
	heard->count = 1;

	/* in a batch: nothing until its COMMIT; a rolled-back one never */
	assert_int_equal(store_begin(st_a), 0);
	feed_send(a, FEED_OVERCLOUD, "oc-rolled-back", NULL);
	store_rollback(st_a);
	assert_int_equal(store_begin(st_a), 0);
	feed_send(a, FEED_OVERCLOUD, "oc-1", NULL);
	run_loop(heard, 2, 300);
	assert_int_equal(heard->count, 1);
	assert_int_equal(store_commit(st_a), 0);
	hear(heard, 2);
	assert_int_equal(heard->count, 2);
	assert_string_equal(heard->notes[1].id, "oc-1");

	/* log bytes over one note's size come in order, whole */
	{
		static uint8_t data[FEED_LOG_MAX * 2 + 10];

		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)i;
		feed_send_log(a, "r-1", "t-1", true, data, sizeof(data));
		hear(heard, 5);
		assert_int_equal(heard->count, 5);
		assert_int_equal(heard->notes[2].data_len, FEED_LOG_MAX);
		assert_int_equal(heard->notes[4].data_len, 10);
		assert_memory_equal(heard->notes[3].data, data + FEED_LOG_MAX, FEED_LOG_MAX);
		assert_true(heard->notes[4].err_stream);
	}

	/* the server drops b's LISTEN connection: b connects again, says it
	 * may have missed notes (RESYNC), and hears the next ones */
	assert_int_equal(store_target_exec(target, "SELECT pg_terminate_backend(pid) FROM "
					   "pg_stat_activity WHERE application_name = "
					   "'overcloud-tower-feed' AND pid != pg_backend_pid()"), 0);
	hear(heard, 6);
	assert_int_equal(heard->count, 6);
	assert_int_equal(heard->notes[5].kind, FEED_RESYNC);
	/* a lost its LISTEN connection too: its RESYNC went to own */
	feed_send(a, FEED_RUN, "r-2", NULL);
	hear(heard, 7);
	assert_int_equal(heard->count, 7);
	assert_int_equal(heard->notes[6].kind, FEED_RUN);
	assert_string_equal(heard->notes[6].id, "r-2");
	assert_true(feed_heard(b) >= 6);

	feed_free(a);
	feed_free(b);
	store_close(st_a);
	store_close(st_b);
	store_target_drop(target);
	event_base_free(heard->base);
	free(heard);
	free(own);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_each_kind),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_live_notes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
