/* journal.c — the agent's task journal: one append-only file of records, an
 * in-memory index by task id, compaction; not the tasks or their processes.
 *
 * <dir>/tasks.journal is a sequence of records:
 *   R <id>\n                    accepted (written before the process starts)
 *   D <id> <len>\n<len bytes>\n the encoded task.done frame (before sending)
 *   A <id> <unix seconds>\n     the tower stored the result
 * A later record for an id replaces the earlier one. Appending to one open
 * file, instead of a marker file per state as before, keeps the file system
 * from allocating (and scanning for) three inodes per task: on ext4 that was
 * half of the agent's CPU per short task. The file is rewritten with only
 * the live records at open and whenever it has doubled since. */
#include "agent/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shared/frame.h"
#include "shared/log.h"
#include "shared/util.h"

#define JOURNAL_FILE "tasks.journal"
#define JOURNAL_HEADER_MAX 128
#define JOURNAL_FRAME_MAX (FRAME_MAX_DEFAULT + FRAME_HEADER_LEN)
#define JOURNAL_COMPACT_MIN (256 * 1024)

struct journal_entry {
	char id[JOURNAL_ID_MAX + 1];
	uint8_t state;           /* enum journal_state */
	uint64_t seq;            /* order of first appearance */
	int64_t acked_at;
	uint64_t off;            /* the frame of a DONE entry, in the file */
	uint32_t len;
	uint8_t *frame;          /* or here, while taking over an old .done file */
};

struct journal {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	int fd;                  /* O_APPEND */
	uint64_t size;
	uint64_t compact_at;     /* rewrite when the file grows past this */
	size_t compact_count;    /* or the index past this many entries */
	struct journal_entry *entries;
	size_t count, cap;
	uint32_t *slots;         /* index + 1 into entries; 0 is free */
	size_t slot_count;       /* a power of two, at least twice count */
	uint64_t next_seq;
};

/* ---- the parser ---- */

/* Parses a decimal number from p[0..len) that fits in an int64_t. */
static bool parse_u63(const char *p, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (INT64_MAX - (p[i] - '0')) / 10)
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/* One record at data[0..avail): its total length, or 0 if it is not whole
 * and well-formed. */
static size_t scan_one(const uint8_t *data, size_t avail, journal_record_fn rec, void *arg,
		       size_t offset)
{
	const char *h = (const char *)data;
	const uint8_t *nl = memchr(data, '\n', avail < JOURNAL_HEADER_MAX ? avail : JOURNAL_HEADER_MAX);
	char id[JOURNAL_ID_MAX + 1];
	const char *sp, *end;
	size_t hlen, idlen;
	int64_t num = 0;

	if (nl == NULL || avail < 3 || h[1] != ' ')
		return 0;
	hlen = (size_t)(nl - data) + 1;
	if (hlen < 4)
		return 0;
	end = h + hlen - 1;
	sp = memchr(h + 2, ' ', (size_t)(end - (h + 2)));
	idlen = (size_t)((sp ? sp : end) - (h + 2));
	if (idlen == 0 || idlen > JOURNAL_ID_MAX)
		return 0;
	memcpy(id, h + 2, idlen);
	id[idlen] = '\0';
	if (!util_name_ok(id, JOURNAL_ID_MAX))
		return 0;
	switch (h[0]) {
	case 'R':
		if (sp != NULL)
			return 0;
		rec(arg, 'R', id, 0, NULL, 0, offset);
		return hlen;
	case 'A':
		if (sp == NULL || !parse_u63(sp + 1, (size_t)(end - sp - 1), &num))
			return 0;
		rec(arg, 'A', id, num, NULL, 0, offset);
		return hlen;
	case 'D':
		if (sp == NULL || !parse_u63(sp + 1, (size_t)(end - sp - 1), &num) || num == 0 ||
		    num > JOURNAL_FRAME_MAX || (uint64_t)num >= avail - hlen ||
		    data[hlen + (size_t)num] != '\n')
			return 0;
		rec(arg, 'D', id, 0, data + hlen, (size_t)num, offset + hlen);
		return hlen + (size_t)num + 1;
	default:
		return 0;
	}
}

size_t journal_scan(const uint8_t *data, size_t len, journal_record_fn rec, void *arg)
{
	size_t pos = 0, n;

	while (pos < len && (n = scan_one(data + pos, len - pos, rec, arg, pos)) > 0)
		pos += n;
	return pos;
}

/* ---- the index ---- */

static uint64_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ULL;
	return h;
}

static uint32_t *slot_of(const struct journal *j, const char *id)
{
	size_t mask = j->slot_count - 1;

	if (j->slot_count == 0)
		return NULL;
	for (size_t i = id_hash(id) & mask;; i = (i + 1) & mask) {
		uint32_t *slot = &j->slots[i];
		if (*slot == 0 || strcmp(j->entries[*slot - 1].id, id) == 0)
			return slot;
	}
}

static struct journal_entry *find(const struct journal *j, const char *id)
{
	uint32_t *slot = slot_of(j, id);

	return slot != NULL && *slot != 0 ? &j->entries[*slot - 1] : NULL;
}

static int reindex(struct journal *j, size_t slot_count)
{
	uint32_t *slots = calloc(slot_count, sizeof(*slots));

	if (slots == NULL)
		return -1;
	free(j->slots);
	j->slots = slots;
	j->slot_count = slot_count;
	for (size_t i = 0; i < j->count; i++)
		*slot_of(j, j->entries[i].id) = (uint32_t)(i + 1);
	return 0;
}

/* The entry for id, added (state UNKNOWN) if new; NULL when out of memory. */
static struct journal_entry *find_or_add(struct journal *j, const char *id)
{
	struct journal_entry *e = find(j, id);

	if (e != NULL)
		return e;
	if (j->count == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		struct journal_entry *grown = realloc(j->entries, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		j->entries = grown;
		j->cap = cap;
	}
	if ((j->count + 1) * 2 > j->slot_count && reindex(j, j->slot_count ? j->slot_count * 2 : 32) != 0)
		return NULL;
	e = &j->entries[j->count++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->seq = j->next_seq++;
	*slot_of(j, id) = (uint32_t)j->count;
	return e;
}

static void apply_record(void *arg, char kind, const char *id, int64_t when,
			 const uint8_t *payload, size_t payload_len, size_t offset)
{
	struct journal *j = arg;
	struct journal_entry *e = find_or_add(j, id);

	if (e == NULL)
		return;
	switch (kind) {
	case 'R':
		e->state = JOURNAL_RUNNING;
		break;
	case 'D':
		e->state = JOURNAL_DONE;
		e->off = offset;
		e->len = (uint32_t)payload_len;
		break;
	case 'A':
		e->state = JOURNAL_ACKED;
		e->acked_at = when;
		break;
	}
}

/* ---- writing ---- */

static int append(struct journal *j, const char *header, size_t hlen, const uint8_t *payload,
		  size_t plen)
{
	struct iovec iov[3] = {{(void *)header, hlen}, {(void *)payload, plen}, {"\n", 1}};
	size_t total = hlen + (plen ? plen + 1 : 0);
	ssize_t n = writev(j->fd, iov, plen ? 3 : 1);

	if (n != (ssize_t)total) {
		/* A short write leaves a torn record: cut it, or the next
		 * record would be read as part of it. */
		if (n >= 0 && ftruncate(j->fd, (off_t)j->size) == 0)
			errno = ENOSPC;
		return -1;
	}
	j->size += total;
	return 0;
}

/* Acknowledged entries first, newest first; the others after them. */
static int by_ack_age(const void *a, const void *b)
{
	const struct journal_entry *x = a, *y = b;
	bool xa = x->state == JOURNAL_ACKED, ya = y->state == JOURNAL_ACKED;

	if (xa != ya)
		return xa ? -1 : 1;
	if (x->acked_at != y->acked_at)
		return x->acked_at > y->acked_at ? -1 : 1;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static int by_seq(const void *a, const void *b)
{
	const struct journal_entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Drops acknowledged ids past their week and beyond the newest
 * JOURNAL_ACKED_MAX, and UNKNOWN leftovers; keeps the rest in their order
 * and the index in step. */
static int prune(struct journal *j, int64_t now)
{
	size_t kept = 0, acked = 0;

	if (j->count == 0)
		return reindex(j, j->slot_count < 32 ? 32 : j->slot_count);
	qsort(j->entries, j->count, sizeof(*j->entries), by_ack_age);
	for (size_t i = 0; i < j->count; i++) {
		struct journal_entry *e = &j->entries[i];
		bool keep = e->state == JOURNAL_RUNNING || e->state == JOURNAL_DONE;

		if (e->state == JOURNAL_ACKED)
			keep = ++acked <= JOURNAL_ACKED_MAX && e->acked_at >= now - JOURNAL_ACKED_KEEP_S;
		if (keep)
			j->entries[kept++] = *e;
		else
			free(e->frame);
	}
	j->count = kept;
	qsort(j->entries, j->count, sizeof(*j->entries), by_seq);
	return reindex(j, j->slot_count < 32 ? 32 : j->slot_count);
}

/* Writes the live entries to a new file from src (the current file, or -1)
 * and puts it in place. On failure the old file and index stand. */
static int rewrite(struct journal *j, int src, int64_t now)
{
	char tmp[PATH_MAX + 48], header[JOURNAL_HEADER_MAX];
	uint64_t *offs = NULL, size = 0;
	uint8_t *buf = NULL;
	int fd, rc = -1;

	if (prune(j, now) != 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	offs = calloc(j->count + 1, sizeof(*offs));
	if (offs == NULL)
		goto out;
	for (size_t i = 0; i < j->count; i++) {
		struct journal_entry *e = &j->entries[i];
		const uint8_t *frame = e->frame;
		int hlen;

		if (e->state == JOURNAL_RUNNING)
			hlen = snprintf(header, sizeof(header), "R %s\n", e->id);
		else if (e->state == JOURNAL_ACKED)
			hlen = snprintf(header, sizeof(header), "A %s %lld\n", e->id,
					(long long)e->acked_at);
		else
			hlen = snprintf(header, sizeof(header), "D %s %u\n", e->id, e->len);
		if (util_write_all(fd, header, (size_t)hlen) != 0)
			goto out;
		size += (uint64_t)hlen;
		if (e->state != JOURNAL_DONE)
			continue;
		if (frame == NULL) {
			free(buf);
			buf = malloc(e->len);
			if (buf == NULL || src < 0 ||
			    pread(src, buf, e->len, (off_t)e->off) != (ssize_t)e->len)
				goto out;
			frame = buf;
		}
		if (util_write_all(fd, frame, e->len) != 0 || util_write_all(fd, "\n", 1) != 0)
			goto out;
		offs[i] = size;
		size += e->len + 1;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, j->path) != 0)
		goto out;
	for (size_t i = 0; i < j->count; i++) {
		if (j->entries[i].state == JOURNAL_DONE)
			j->entries[i].off = offs[i];
		free(j->entries[i].frame);
		j->entries[i].frame = NULL;
	}
	rc = 0;
	j->size = size;
	j->compact_at = size * 2 > JOURNAL_COMPACT_MIN ? size * 2 : JOURNAL_COMPACT_MIN;
	j->compact_count = j->count + JOURNAL_ACKED_MAX + 64;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	free(buf);
	free(offs);
	return rc;
}

static int reopen_for_append(struct journal *j)
{
	int fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	return 0;
}

/* ---- opening ---- */

static int load_file(struct journal *j, int fd)
{
	struct stat st;
	uint8_t *map;
	size_t good;

	if (fstat(fd, &st) != 0)
		return -1;
	if (st.st_size == 0)
		return 0;
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return -1;
	good = journal_scan(map, (size_t)st.st_size, apply_record, j);
	if (good < (size_t)st.st_size)
		log_warn("journal %s: %zu damaged bytes after offset %zu dropped (torn by a crash?)",
			 j->path, (size_t)st.st_size - good, good);
	munmap(map, (size_t)st.st_size);
	return 0;
}

/* Takes over <id>.run/.done/.acked files of an agent from before the
 * single journal; they are removed once the new file is in place. */
static void take_over_markers(struct journal *j, int64_t now, bool remove)
{
	DIR *d = opendir(j->dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		static const char *const exts[] = {".run", ".done", ".acked"};
		char id[JOURNAL_ID_MAX + 1], path[PATH_MAX + 300];
		size_t len = strlen(e->d_name);

		for (size_t k = 0; k < 3; k++) {
			size_t elen = strlen(exts[k]);
			struct journal_entry *entry;
			struct stat st;

			if (len <= elen || len - elen > JOURNAL_ID_MAX ||
			    strcmp(e->d_name + len - elen, exts[k]) != 0)
				continue;
			memcpy(id, e->d_name, len - elen);
			id[len - elen] = '\0';
			snprintf(path, sizeof(path), "%s/%s", j->dir, e->d_name);
			if (!util_name_ok(id, JOURNAL_ID_MAX))
				break;
			if (remove) {
				unlink(path);
				break;
			}
			entry = find_or_add(j, id);
			if (entry == NULL || entry->state == JOURNAL_ACKED)
				break;
			if (k == 2 && stat(path, &st) == 0) {
				entry->state = JOURNAL_ACKED;
				entry->acked_at = st.st_mtime < now ? st.st_mtime : now;
			} else if (k == 1) {
				size_t flen;
				uint8_t *frame = (uint8_t *)util_read_file(path, JOURNAL_FRAME_MAX, &flen);
				if (frame != NULL && flen > 0) {
					free(entry->frame);
					entry->frame = frame;
					entry->len = (uint32_t)flen;
					entry->state = JOURNAL_DONE;
				} else {
					free(frame);
				}
			} else if (k == 0 && entry->state == JOURNAL_UNKNOWN) {
				entry->state = JOURNAL_RUNNING;
			}
			break;
		}
	}
	closedir(d);
}

struct journal *journal_open(const char *dir, int64_t now, char *err, size_t err_size)
{
	struct journal *j = calloc(1, sizeof(*j));
	int src;

	if (j == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	j->fd = -1;
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	snprintf(j->path, sizeof(j->path), "%s/" JOURNAL_FILE, dir);
	if (util_mkdir_p(dir, 0700) != 0) {
		snprintf(err, err_size, "cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	src = open(j->path, O_RDONLY | O_CLOEXEC);
	if (src < 0 && errno != ENOENT) {
		snprintf(err, err_size, "cannot open %s: %s", j->path, strerror(errno));
		goto fail;
	}
	if (src >= 0 && load_file(j, src) != 0) {
		snprintf(err, err_size, "cannot read %s: %s", j->path, strerror(errno));
		close(src);
		goto fail;
	}
	take_over_markers(j, now, false);
	if (rewrite(j, src, now) != 0) {
		snprintf(err, err_size, "cannot write %s: %s", j->path, strerror(errno));
		if (src >= 0)
			close(src);
		goto fail;
	}
	if (src >= 0)
		close(src);
	take_over_markers(j, now, true);
	if (reopen_for_append(j) != 0) {
		snprintf(err, err_size, "cannot open %s: %s", j->path, strerror(errno));
		goto fail;
	}
	return j;
fail:
	journal_free(j);
	return NULL;
}

void journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	for (size_t i = 0; i < j->count; i++)
		free(j->entries[i].frame);
	free(j->entries);
	free(j->slots);
	free(j);
}

/* ---- use ---- */

enum journal_state journal_state(const struct journal *j, const char *id)
{
	const struct journal_entry *e = util_name_ok(id, JOURNAL_ID_MAX) ? find(j, id) : NULL;

	return e != NULL ? (enum journal_state)e->state : JOURNAL_UNKNOWN;
}

/* Appends a record for id and moves it to state; the index only changes
 * once the record is in the file. */
static int mark(struct journal *j, const char *id, enum journal_state state, int64_t when,
		const uint8_t *frame, size_t len)
{
	char header[JOURNAL_HEADER_MAX];
	struct journal_entry *e;
	uint64_t frame_off;
	int hlen;

	if (!util_name_ok(id, JOURNAL_ID_MAX) || (state == JOURNAL_DONE && (len == 0 || len > JOURNAL_FRAME_MAX))) {
		errno = EINVAL;
		return -1;
	}
	if (state == JOURNAL_RUNNING)
		hlen = snprintf(header, sizeof(header), "R %s\n", id);
	else if (state == JOURNAL_DONE)
		hlen = snprintf(header, sizeof(header), "D %s %zu\n", id, len);
	else
		hlen = snprintf(header, sizeof(header), "A %s %lld\n", id, (long long)when);
	e = find_or_add(j, id);
	if (e == NULL) {
		errno = ENOMEM;
		return -1;
	}
	frame_off = j->size + (uint64_t)hlen;
	if (append(j, header, (size_t)hlen, frame, state == JOURNAL_DONE ? len : 0) != 0)
		return -1;
	e->state = (uint8_t)state;
	if (state == JOURNAL_DONE) {
		e->off = frame_off;
		e->len = (uint32_t)len;
	}
	if (state == JOURNAL_ACKED)
		e->acked_at = when;
	return 0;
}

int journal_mark_running(struct journal *j, const char *id)
{
	return mark(j, id, JOURNAL_RUNNING, 0, NULL, 0);
}

int journal_mark_done(struct journal *j, const char *id, const uint8_t *frame, size_t len)
{
	return mark(j, id, JOURNAL_DONE, 0, frame, len);
}

int journal_mark_acked(struct journal *j, const char *id, int64_t now)
{
	if (mark(j, id, JOURNAL_ACKED, now, NULL, 0) != 0)
		return -1;
	/* Only here: acks come one by one from the tower, never in the middle
	 * of a journal_each walk over the index. By count too: the index, not
	 * only the file, must stay small on a node running many short tasks. */
	if (j->size > j->compact_at || j->count > j->compact_count) {
		int src = open(j->path, O_RDONLY | O_CLOEXEC);
		if (src < 0 || rewrite(j, src, now) != 0 || reopen_for_append(j) != 0)
			log_warn("journal %s: cannot compact it: %s", j->path, strerror(errno));
		if (src >= 0)
			close(src);
	}
	return 0;
}

uint8_t *journal_result(const struct journal *j, const char *id, size_t *len)
{
	const struct journal_entry *e = util_name_ok(id, JOURNAL_ID_MAX) ? find(j, id) : NULL;
	uint8_t *frame;
	int fd;

	if (e == NULL || e->state != JOURNAL_DONE)
		return NULL;
	frame = malloc(e->len);
	fd = open(j->path, O_RDONLY | O_CLOEXEC);
	if (frame == NULL || fd < 0 || pread(fd, frame, e->len, (off_t)e->off) != (ssize_t)e->len) {
		if (fd >= 0)
			close(fd);
		free(frame);
		return NULL;
	}
	close(fd);
	*len = e->len;
	return frame;
}

void journal_each(struct journal *j, enum journal_state state,
		  void (*fn)(void *arg, const char *id), void *arg)
{
	char (*ids)[JOURNAL_ID_MAX + 1];
	size_t n = 0;

	if (j->count == 0)
		return;
	ids = malloc(j->count * sizeof(*ids));
	if (ids == NULL)
		return;
	for (size_t i = 0; i < j->count; i++)
		if (j->entries[i].state == state)
			memcpy(ids[n++], j->entries[i].id, sizeof(*ids));
	for (size_t i = 0; i < n; i++)
		fn(arg, ids[i]);
	free(ids);
}
