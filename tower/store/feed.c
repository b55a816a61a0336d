/* feed.c — the change feed between replicas: notes formatted, parsed and sent
 * with pg_notify on the store's connection; a LISTEN connection on the loop. */
#include "tower/store/feed.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "shared/log.h"
#include "shared/lograte.h"
#include "shared/util.h"
#include "tower/store/store_int.h"

/* The notify statement's number among the store's prepared ones: past
 * every ST_ id, so its server-side name is its own. */
#define FEED_STMT_ID 1000
#define FEED_RETRY_FIRST_MS 500
#define FEED_RETRY_CAP_MS 8000
#define FEED_CONNECT_TIMEOUT "3"

struct feed {
	struct store *st;
	struct store_q *notify;          /* SELECT pg_notify(...), prepared at first use */
	char *target;
	struct event_base *base;
	feed_fn fn;
	void *arg;
	char origin[FEED_ORIGIN_LEN + 1];
	PGconn *listen;                  /* NULL while lost */
	struct event *readable;
	struct event *retry;
	int64_t retry_ms;
	uint64_t heard;
	/* anyone who may use the database can NOTIFY: one line per interval */
	struct lograte rate_bad;
};

/* ---- notes ---- */

static const char *const kind_words[] = {
	[FEED_RUN] = "run", [FEED_TASK] = "task", [FEED_TASK_DONE] = "done", [FEED_LOG] = "log",
	[FEED_OVERCLOUD] = "oc",
};

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

static bool id_ok(const char *id, size_t len)
{
	if (len == 0 || len >= STORE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!id_char(id[i]))
			return false;
	return true;
}

/* The next word of [*at, end): up to a single space or the end. Returns
 * its length, or 0 when empty (two spaces, a space at an end). */
static size_t next_word(const char **at, const char *end, const char **word)
{
	const char *p = *at;

	*word = p;
	while (p < end && *p != ' ')
		p++;
	if (p == *word)
		return 0;
	*at = p < end ? p + 1 : p;
	if (p < end && p + 1 == end)	/* a trailing space */
		return 0;
	return (size_t)(p - *word);
}

static int word_id(const char **at, const char *end, char *out)
{
	const char *w;
	size_t n = next_word(at, end, &w);

	if (!id_ok(w, n))
		return -1;
	memcpy(out, w, n);
	out[n] = '\0';
	return 0;
}

static bool word_is(const char *w, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(w, want, n) == 0;
}

static int hex_lower(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int word_hex(const char **at, const char *end, uint8_t *out, size_t *out_len)
{
	const char *w;
	size_t n = next_word(at, end, &w);

	if (n == 0 || n % 2 != 0 || n / 2 > FEED_LOG_MAX)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_lower(w[i]), lo = hex_lower(w[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = n / 2;
	return 0;
}

int feed_note_parse(const char *payload, size_t len, struct feed_note *out)
{
	const char *at = payload, *end, *w;
	size_t n;
	int kind = -1;

	memset(out, 0, offsetof(struct feed_note, data));
	out->data_len = 0;
	if (payload == NULL || len == 0 || len > FEED_PAYLOAD_MAX)
		return -1;
	end = payload + len;
	n = next_word(&at, end, &w);
	if (!word_is(w, n, "v1"))
		return -1;
	n = next_word(&at, end, &w);
	if (n != FEED_ORIGIN_LEN)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (hex_lower(w[i]) < 0)
			return -1;
	memcpy(out->origin, w, n);
	out->origin[n] = '\0';
	n = next_word(&at, end, &w);
	for (size_t k = 0; k < sizeof(kind_words) / sizeof(kind_words[0]); k++)
		if (kind_words[k] != NULL && word_is(w, n, kind_words[k]))
			kind = (int)k;
	if (kind < 0 || word_id(&at, end, out->id) != 0)
		return -1;
	out->kind = (enum feed_kind)kind;
	if (kind == FEED_TASK || kind == FEED_TASK_DONE || kind == FEED_LOG) {
		if (word_id(&at, end, out->task_id) != 0)
			return -1;
	}
	if (kind == FEED_LOG) {
		n = next_word(&at, end, &w);
		if (word_is(w, n, "err"))
			out->err_stream = true;
		else if (!word_is(w, n, "out"))
			return -1;
		if (word_hex(&at, end, out->data, &out->data_len) != 0)
			return -1;
	}
	return at == end ? 0 : -1;
}

int feed_note_format(const struct feed_note *note, char *out, size_t size)
{
	static const char hexdigits[] = "0123456789abcdef";
	bool two_ids = note->kind == FEED_TASK || note->kind == FEED_TASK_DONE ||
		       note->kind == FEED_LOG;
	int n;

	if ((unsigned)note->kind >= sizeof(kind_words) / sizeof(kind_words[0]) ||
	    strlen(note->origin) != FEED_ORIGIN_LEN || !id_ok(note->id, strlen(note->id)) ||
	    (two_ids && !id_ok(note->task_id, strlen(note->task_id))))
		return -1;
	n = snprintf(out, size, "v1 %s %s %s%s%s", note->origin, kind_words[note->kind], note->id,
		     two_ids ? " " : "", two_ids ? note->task_id : "");
	if (n < 0 || (size_t)n >= size)
		return -1;
	if (note->kind != FEED_LOG)
		return n;
	if (note->data_len == 0 || note->data_len > FEED_LOG_MAX ||
	    (size_t)n + 5 + note->data_len * 2 >= size)
		return -1;
	memcpy(out + n, note->err_stream ? " err " : " out ", 5);
	n += 5;
	for (size_t i = 0; i < note->data_len; i++) {
		out[n++] = hexdigits[note->data[i] >> 4];
		out[n++] = hexdigits[note->data[i] & 15];
	}
	out[n] = '\0';
	return n;
}

/* ---- sending ---- */

static void send_note(struct feed *f, const struct feed_note *note)
{
	char payload[FEED_PAYLOAD_MAX + 1], err[256];
	const struct store_backend *be = f->st->be;
	enum store_step step;

	if (feed_note_format(note, payload, sizeof(payload)) < 0) {
		log_debug("feed: a note on %s cannot be sent (its id)", note->id);
		return;
	}
	if (f->notify == NULL) {
		f->notify = be->prepare(f->st->conn, FEED_STMT_ID,
					"SELECT pg_notify('" FEED_CHANNEL "', ?1)", err, sizeof(err));
		if (f->notify == NULL) {
			log_error("feed: %s", err);
			return;
		}
	}
	if (be->bind_text(f->notify, 1, payload) != 0)
		return;
	while ((step = be->step(f->notify)) == STORE_ROW)
		;
	if (step == STORE_ERROR)
		log_warn("feed: cannot send a note on %s: %s", note->id, be->errmsg(f->st->conn));
	be->reset(f->notify);
}

void feed_send(struct feed *f, enum feed_kind kind, const char *id, const char *task_id)
{
	struct feed_note *note;

	if (f == NULL || id == NULL)
		return;
	note = calloc(1, sizeof(*note));
	if (note == NULL)
		return;
	note->kind = kind;
	memcpy(note->origin, f->origin, sizeof(note->origin));
	snprintf(note->id, sizeof(note->id), "%s", id);
	snprintf(note->task_id, sizeof(note->task_id), "%s", task_id ? task_id : "");
	send_note(f, note);
	free(note);
}

void feed_send_log(struct feed *f, const char *run_id, const char *task_id, bool err_stream,
		   const uint8_t *data, size_t len)
{
	struct feed_note *note;

	if (f == NULL || len == 0)
		return;
	note = calloc(1, sizeof(*note));
	if (note == NULL)
		return;
	note->kind = FEED_LOG;
	memcpy(note->origin, f->origin, sizeof(note->origin));
	snprintf(note->id, sizeof(note->id), "%s", run_id);
	snprintf(note->task_id, sizeof(note->task_id), "%s", task_id);
	note->err_stream = err_stream;
	for (size_t at = 0; at < len; at += note->data_len) {
		note->data_len = len - at < FEED_LOG_MAX ? len - at : FEED_LOG_MAX;
		memcpy(note->data, data + at, note->data_len);
		send_note(f, note);
	}
	free(note);
}

/* ---- listening ---- */

static void listen_lost(struct feed *f);

static void deliver(struct feed *f, const PGnotify *n)
{
	struct feed_note *note = malloc(sizeof(*note));
	uint64_t suppressed;

	if (note == NULL)
		return;
	if (strcmp(n->relname, FEED_CHANNEL) != 0 ||
	    feed_note_parse(n->extra, strlen(n->extra), note) != 0) {
		if (lograte_allow(&f->rate_bad, &suppressed))
			log_warn("feed: a note that is not one, from server process %d, dropped "
				 "(%llu more in the last %d s)", n->be_pid,
				 (unsigned long long)suppressed, LOGRATE_DEFAULT_S);
	} else if (strcmp(note->origin, f->origin) != 0) {
		f->heard++;
		f->fn(f->arg, note);
	}
	free(note);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct feed *f = arg;
	PGnotify *n;

	(void)fd;
	(void)what;
	if (PQconsumeInput(f->listen) != 1 || PQstatus(f->listen) != CONNECTION_OK) {
		listen_lost(f);
		return;
	}
	while (f->listen != NULL && (n = PQnotifies(f->listen)) != NULL) {
		deliver(f, n);
		PQfreemem(n);
	}
}

/* Connects and listens; 0, or -1 with nothing left open. */
static int listen_connect(struct feed *f)
{
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const vals[] = { FEED_CONNECT_TIMEOUT, "overcloud-tower-feed", f->target, NULL };
	PGresult *res;
	int sock;

	f->listen = PQconnectdbParams(keys, vals, 1);
	if (f->listen == NULL || PQstatus(f->listen) != CONNECTION_OK)
		goto fail;
	res = PQexec(f->listen, "LISTEN " FEED_CHANNEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	sock = PQsocket(f->listen);
	if (sock < 0 || PQsetnonblocking(f->listen, 1) != 0)
		goto fail;
	f->readable = event_new(f->base, sock, EV_READ | EV_PERSIST, on_readable, f);
	if (f->readable == NULL || event_add(f->readable, NULL) != 0)
		goto fail;
	return 0;
fail:
	if (f->readable != NULL)
		event_free(f->readable);
	f->readable = NULL;
	PQfinish(f->listen);
	f->listen = NULL;
	return -1;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct feed *f = arg;
	struct feed_note note = {.kind = FEED_RESYNC};

	(void)fd;
	(void)what;
	if (listen_connect(f) != 0) {
		struct timeval tv;

		f->retry_ms = f->retry_ms * 2 > FEED_RETRY_CAP_MS ? FEED_RETRY_CAP_MS : f->retry_ms * 2;
		tv.tv_sec = f->retry_ms / 1000;
		tv.tv_usec = (f->retry_ms % 1000) * 1000;
		evtimer_add(f->retry, &tv);
		return;
	}
	log_warn("feed: listening to PostgreSQL again; looking at everything for what was missed");
	/* What was sent while nobody here listened is gone: look again. */
	f->fn(f->arg, &note);
}

static void listen_lost(struct feed *f)
{
	struct timeval tv = {0, FEED_RETRY_FIRST_MS * 1000};

	log_warn("feed: the LISTEN connection to PostgreSQL was lost; connecting again");
	if (f->readable != NULL)
		event_free(f->readable);
	f->readable = NULL;
	PQfinish(f->listen);
	f->listen = NULL;
	f->retry_ms = FEED_RETRY_FIRST_MS;
	evtimer_add(f->retry, &tv);
}

struct feed *feed_new(struct store *st, const char *target, struct event_base *base, feed_fn fn,
		      void *arg, char *err, size_t err_size)
{
	struct feed *f = calloc(1, sizeof(*f));
	uint8_t raw[FEED_ORIGIN_LEN / 2];

	if (f == NULL || (f->target = strdup(target)) == NULL) {
		snprintf(err, err_size, "out of memory");
		free(f);
		return NULL;
	}
	f->st = st;
	f->base = base;
	f->fn = fn;
	f->arg = arg;
	if (util_random(raw, sizeof(raw)) != 0) {
		snprintf(err, err_size, "no random bytes for the feed's origin tag");
		feed_free(f);
		return NULL;
	}
	util_hex(raw, sizeof(raw), f->origin);
	f->retry = evtimer_new(base, on_retry, f);
	if (f->retry == NULL || listen_connect(f) != 0) {
		/* libpq's words may quote the URL: the store, just opened with
		 * it, has said what is wrong with it if anything is */
		snprintf(err, err_size, "cannot LISTEN on PostgreSQL (channel " FEED_CHANNEL ")");
		feed_free(f);
		return NULL;
	}
	return f;
}

void feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	if (f->notify != NULL)
		f->st->be->finalize(f->notify);
	if (f->readable != NULL)
		event_free(f->readable);
	if (f->retry != NULL)
		event_free(f->retry);
	PQfinish(f->listen);
	if (f->target != NULL)
		explicit_bzero(f->target, strlen(f->target));
	free(f->target);
	free(f);
}

uint64_t feed_heard(const struct feed *f)
{
	return f != NULL ? f->heard : 0;
}
