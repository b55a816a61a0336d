/* msg.c — encodes and decodes agent-protocol messages, one msgpack map each.
 * Owns the wire layout of every message type; framing is frame.c's, I/O the caller's.
 *
 * Every message type is one table of {key, kind, required, offset, range}:
 * the encoder, the decoder and msg_clear() all walk the same table, so adding
 * a message type is adding a table and a line in msg_descs[].
 *
 * Encoding uses msgpack-c's packer. Decoding does not use msgpack-c's
 * unpacker, which allocates count * sizeof(msgpack_object) for whatever count
 * a container declares before looking at the bytes. Instead a small cursor
 * reader (mp_next) reads one item header at a time, never past len, and
 * refuses a container whose count the remaining bytes cannot hold (an array
 * item takes at least one byte, a map entry two). Decoding is two passes over
 * the top-level map:
 *   1. walk every entry: keys must be strings, values must be well-formed
 *      msgpack nested at most MSG_MAX_DEPTH deep (unknown keys included),
 *      nothing may follow the map; keys are then sorted and duplicates refused;
 *   2. look up "t", then each field of that type's table, checking type,
 *      presence and range before anything is allocated or stored.
 * Allocations follow the bytes, never the declared counts: the key index
 * (freed before returning) takes 24 bytes per entry of >= 2 bytes; string and
 * bin copies take their wire length + 1; string lists and maps add 8 or 16
 * bytes per item of >= 1 or 2 bytes. The worst case, a 1 MiB frame holding a
 * list of empty strings, requests 9 MiB (about 40 MiB with malloc overhead).
 */
#include "shared/msg.h"
#include "shared/frame.h"
#include "shared/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#define MSG_MAX_DEPTH 8   /* the top-level map is depth 1 */
#define MSG_NAME_SHOWN 32 /* bytes of a peer-supplied name quoted in errors */

enum field_kind { FK_STR, FK_UINT, FK_INT, FK_BIN, FK_STRMAP, FK_STRLIST };

struct field {
	const char *key;
	enum field_kind kind;
	bool required;
	size_t offset;            /* into struct msg */
	uint64_t min, max;        /* FK_UINT: accepted range */
	const char *const *oneof; /* FK_STR: allowed values, NULL-terminated */
};

struct msg_desc {
	enum msg_type type;
	const char *name;
	const struct field *fields;
	size_t nfields;
	/* What one field's range cannot say (a used figure over its total):
	 * returns NULL or the reason the message is refused. */
	const char *(*check)(const struct msg *m);
};

#define FIELD(k, m, f, req) .key = #f, .kind = (k), .required = (req), \
			    .offset = offsetof(struct msg, u.m.f)
#define F_STR(m, f)		{ FIELD(FK_STR, m, f, true) }
#define F_OPT_STR(m, f)		{ FIELD(FK_STR, m, f, false) }
#define F_ONEOF(m, f, set)	{ FIELD(FK_STR, m, f, true), .oneof = (set) }
#define F_UINT(m, f)		{ FIELD(FK_UINT, m, f, true), .max = UINT64_MAX }
#define F_URANGE(m, f, lo, hi)	{ FIELD(FK_UINT, m, f, true), .min = (lo), .max = (hi) }
#define F_OPT_UINT(m, f)	{ FIELD(FK_UINT, m, f, false), .max = UINT64_MAX }
#define F_OPT_URANGE(m, f, lo, hi) { FIELD(FK_UINT, m, f, false), .min = (lo), .max = (hi) }
#define F_INT(m, f)		{ FIELD(FK_INT, m, f, true) }
#define F_BIN(m, f)		{ FIELD(FK_BIN, m, f, true) }
#define F_OPT_BIN(m, f)		{ FIELD(FK_BIN, m, f, false) }
#define F_OPT_STRMAP(m, f)	{ FIELD(FK_STRMAP, m, f, false) }
#define F_OPT_STRLIST(m, f)	{ FIELD(FK_STRLIST, m, f, false) }

static const char *const log_streams[] = { "stdout", "stderr", NULL };
static const char *const done_statuses[] = { "done", "failed", "timeout", "cancelled", NULL };

static const struct field enroll_fields[] = {
	F_STR(enroll, token), F_STR(enroll, csr), F_STR(enroll, hostname),
};
static const struct field enrolled_fields[] = {
	F_STR(enrolled, node_id), F_STR(enrolled, cert), F_STR(enrolled, ca),
	F_OPT_BIN(enrolled, ticket), F_OPT_URANGE(enrolled, ticket_lifetime, 0, UINT32_MAX),
};
static const struct field error_fields[] = {
	F_STR(error, reason),
};
static const struct field hello_fields[] = {
	F_STR(hello, version), F_STR(hello, hostname), F_STR(hello, arch),
	F_STR(hello, os), F_STR(hello, kernel), F_UINT(hello, cpus),
	F_UINT(hello, mem_total), F_OPT_STRLIST(hello, done_tasks),
};
static const struct field welcome_fields[] = {
	F_STR(welcome, node_id), F_UINT(welcome, heartbeat), F_INT(welcome, time),
};
static const struct field heartbeat_fields[] = {
	F_UINT(heartbeat, uptime), F_UINT(heartbeat, mem_free),
	F_UINT(heartbeat, load1_milli), F_UINT(heartbeat, running),
	F_OPT_URANGE(heartbeat, cpu_permille, 0, 1000), F_OPT_UINT(heartbeat, mem_total),
	F_OPT_UINT(heartbeat, mem_used), F_OPT_UINT(heartbeat, fs_total),
	F_OPT_UINT(heartbeat, fs_used), F_OPT_UINT(heartbeat, net_rx),
	F_OPT_UINT(heartbeat, net_tx),
};

static const char *heartbeat_check(const struct msg *m)
{
	const struct msg_heartbeat *h = &m->u.heartbeat;

	if (h->mem_used > h->mem_total)
		return "field \"mem_used\": over mem_total";
	if (h->fs_used > h->fs_total)
		return "field \"fs_used\": over fs_total";
	return NULL;
}
static const struct field renew_fields[] = {
	F_STR(renew, csr),
};
static const struct field renewed_fields[] = {
	F_STR(renewed, cert),
};
static const struct field task_fields[] = {
	F_STR(task, id), F_STR(task, role), F_STR(task, step), F_OPT_STR(task, bundle_hash),
	F_OPT_BIN(task, bundle), F_OPT_STRLIST(task, argv), F_OPT_STRLIST(task, outputs),
	F_OPT_STRMAP(task, env), F_OPT_STRLIST(task, mask),
	F_URANGE(task, timeout, 1, UINT64_MAX), F_OPT_UINT(task, not_after_ms),
};
static const struct field task_accepted_fields[] = {
	F_STR(task_accepted, id),
};
static const struct field task_log_fields[] = {
	F_STR(task_log, id), F_ONEOF(task_log, stream, log_streams),
	F_UINT(task_log, seq), F_BIN(task_log, data),
};
static const struct field task_progress_fields[] = {
	F_STR(task_progress, id), F_URANGE(task_progress, percent, 0, 100),
	F_OPT_STR(task_progress, message),
};
static const struct field task_done_fields[] = {
	F_STR(task_done, id), F_ONEOF(task_done, status, done_statuses),
	F_INT(task_done, exit_code), F_UINT(task_done, duration_ms),
	F_OPT_STR(task_done, reason), F_OPT_STRMAP(task_done, outputs),
};
static const struct field cancel_fields[] = {
	F_STR(cancel, id),
};
static const struct field task_ack_fields[] = {
	F_STR(task_ack, id),
};

#define DESC(t, n, f) { (t), (n), (f), OC_ARRAY_LEN(f), NULL }
#define DESC_CHECKED(t, n, f, c) { (t), (n), (f), OC_ARRAY_LEN(f), (c) }
static const struct msg_desc msg_descs[] = {
	DESC(MSG_ENROLL, "enroll", enroll_fields),
	DESC(MSG_ENROLLED, "enrolled", enrolled_fields),
	DESC(MSG_ERROR, "error", error_fields),
	DESC(MSG_HELLO, "hello", hello_fields),
	DESC(MSG_WELCOME, "welcome", welcome_fields),
	DESC_CHECKED(MSG_HEARTBEAT, "heartbeat", heartbeat_fields, heartbeat_check),
	DESC(MSG_RENEW, "renew", renew_fields),
	DESC(MSG_RENEWED, "renewed", renewed_fields),
	DESC(MSG_TASK, "task", task_fields),
	DESC(MSG_TASK_ACCEPTED, "task.accepted", task_accepted_fields),
	DESC(MSG_TASK_LOG, "task.log", task_log_fields),
	DESC(MSG_TASK_PROGRESS, "task.progress", task_progress_fields),
	DESC(MSG_TASK_DONE, "task.done", task_done_fields),
	DESC(MSG_CANCEL, "cancel", cancel_fields),
	DESC(MSG_TASK_ACK, "task.ack", task_ack_fields),
};

static const struct msg_desc *desc_by_type(enum msg_type type)
{
	for (size_t i = 0; i < OC_ARRAY_LEN(msg_descs); i++)
		if (msg_descs[i].type == type)
			return &msg_descs[i];
	return NULL;
}

static const struct msg_desc *desc_by_name(const uint8_t *name, size_t len)
{
	for (size_t i = 0; i < OC_ARRAY_LEN(msg_descs); i++)
		if (strlen(msg_descs[i].name) == len && memcmp(msg_descs[i].name, name, len) == 0)
			return &msg_descs[i];
	return NULL;
}

const char *msg_type_name(enum msg_type type)
{
	const struct msg_desc *desc = desc_by_type(type);

	return desc != NULL ? desc->name : "unknown";
}

static bool in_set(const char *const *set, const uint8_t *s, size_t len)
{
	for (; *set != NULL; set++)
		if (strlen(*set) == len && memcmp(*set, s, len) == 0)
			return true;
	return false;
}

static int cmp_kv_ptr(const void *a, const void *b)
{
	const struct msg_kv *x = *(const struct msg_kv *const *)a;
	const struct msg_kv *y = *(const struct msg_kv *const *)b;

	return strcmp(x->key, y->key);
}

/* Returns 0 when all keys differ, 1 with *dup set when two are equal, -1 when
 * out of memory. Keys must be non-NULL. */
static int strmap_find_dup(const struct msg_strmap *map, const char **dup)
{
	const struct msg_kv **sorted;
	int ret = 0;

	if (map->count < 2)
		return 0;
	sorted = calloc(map->count, sizeof(*sorted));
	if (sorted == NULL)
		return -1;
	for (size_t i = 0; i < map->count; i++)
		sorted[i] = &map->items[i];
	qsort(sorted, map->count, sizeof(*sorted), cmp_kv_ptr);
	for (size_t i = 1; i < map->count; i++) {
		if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
			*dup = sorted[i]->key;
			ret = 1;
			break;
		}
	}
	free(sorted);
	return ret;
}

/* ---- encoding ---- */

static bool field_present(const struct field *f, const void *p)
{
	switch (f->kind) {
	case FK_STR:
		return *(char *const *)p != NULL;
	case FK_UINT:
		return f->required || *(const uint64_t *)p != 0;
	case FK_INT:
		return f->required || *(const int64_t *)p != 0;
	case FK_BIN:
		return f->required || ((const struct msg_bin *)p)->len != 0;
	case FK_STRMAP:
		return f->required || ((const struct msg_strmap *)p)->count != 0;
	case FK_STRLIST:
		return f->required || ((const struct msg_strlist *)p)->count != 0;
	}
	return false;
}

/* Refuses on the way out what the decoder would refuse on the way in. */
static bool field_valid(const struct field *f, const void *p, size_t max)
{
	switch (f->kind) {
	case FK_STR: {
		const char *s = *(char *const *)p;

		if (strlen(s) > max)
			return false;
		return f->oneof == NULL || in_set(f->oneof, (const uint8_t *)s, strlen(s));
	}
	case FK_UINT: {
		uint64_t v = *(const uint64_t *)p;

		return v >= f->min && v <= f->max;
	}
	case FK_INT:
		return true;
	case FK_BIN: {
		const struct msg_bin *bin = p;

		return bin->len <= max && (bin->data != NULL || bin->len == 0);
	}
	case FK_STRMAP: {
		const struct msg_strmap *map = p;
		const char *dup;

		if (map->count > max || (map->items == NULL && map->count != 0))
			return false;
		for (size_t i = 0; i < map->count; i++)
			if (map->items[i].key == NULL || map->items[i].value == NULL)
				return false;
		return strmap_find_dup(map, &dup) == 0;
	}
	case FK_STRLIST: {
		const struct msg_strlist *list = p;

		if (list->count > max || (list->items == NULL && list->count != 0))
			return false;
		for (size_t i = 0; i < list->count; i++)
			if (list->items[i] == NULL)
				return false;
		return true;
	}
	}
	return false;
}

static int pack_str(msgpack_packer *pk, const char *s)
{
	size_t len = strlen(s);
	int rc = msgpack_pack_str(pk, len);

	if (rc == 0 && len != 0)
		rc = msgpack_pack_str_body(pk, s, len);
	return rc;
}

static int pack_field(msgpack_packer *pk, const struct field *f, const void *p)
{
	int rc = pack_str(pk, f->key);

	if (rc != 0)
		return rc;
	switch (f->kind) {
	case FK_STR:
		return pack_str(pk, *(char *const *)p);
	case FK_UINT:
		return msgpack_pack_uint64(pk, *(const uint64_t *)p);
	case FK_INT:
		return msgpack_pack_int64(pk, *(const int64_t *)p);
	case FK_BIN: {
		const struct msg_bin *bin = p;

		rc = msgpack_pack_bin(pk, bin->len);
		if (rc == 0 && bin->len != 0)
			rc = msgpack_pack_bin_body(pk, bin->data, bin->len);
		return rc;
	}
	case FK_STRMAP: {
		const struct msg_strmap *map = p;

		rc = msgpack_pack_map(pk, map->count);
		for (size_t i = 0; rc == 0 && i < map->count; i++) {
			rc = pack_str(pk, map->items[i].key);
			if (rc == 0)
				rc = pack_str(pk, map->items[i].value);
		}
		return rc;
	}
	case FK_STRLIST: {
		const struct msg_strlist *list = p;

		rc = msgpack_pack_array(pk, list->count);
		for (size_t i = 0; rc == 0 && i < list->count; i++)
			rc = pack_str(pk, list->items[i]);
		return rc;
	}
	}
	return -1;
}

/* max caps the payload, as frame_peek() does on the receiving side. */
uint8_t *msg_encode_frame(const struct msg *m, size_t max, size_t *frame_len)
{
	static const char header[FRAME_HEADER_LEN];
	const struct msg_desc *desc;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 1, payload_len;
	int rc;

	if (m == NULL || (desc = desc_by_type(m->type)) == NULL)
		return NULL;
	if (max > UINT32_MAX)
		max = UINT32_MAX;
	for (size_t i = 0; i < desc->nfields; i++) {
		const struct field *f = &desc->fields[i];
		const void *p = (const char *)m + f->offset;

		if (!field_present(f, p)) {
			if (f->required)
				return NULL;
			continue;
		}
		if (!field_valid(f, p, max))
			return NULL;
		n++;
	}
	if (desc->check != NULL && desc->check(m) != NULL)
		return NULL;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc = msgpack_sbuffer_write(&sb, header, sizeof(header));
	if (rc == 0)
		rc = msgpack_pack_map(&pk, n);
	if (rc == 0)
		rc = pack_str(&pk, "t");
	if (rc == 0)
		rc = pack_str(&pk, desc->name);
	for (size_t i = 0; rc == 0 && i < desc->nfields; i++) {
		const struct field *f = &desc->fields[i];
		const void *p = (const char *)m + f->offset;

		if (field_present(f, p))
			rc = pack_field(&pk, f, p);
	}
	if (rc != 0)
		goto fail;
	payload_len = sb.size - FRAME_HEADER_LEN;
	if (payload_len > max)
		goto fail;
	frame_write_header((uint8_t *)sb.data, (uint32_t)payload_len);
	if (frame_len != NULL)
		*frame_len = sb.size;
	return (uint8_t *)msgpack_sbuffer_release(&sb);

fail:
	msgpack_sbuffer_destroy(&sb);
	return NULL;
}

/* ---- decoding: a bounds-checked cursor over msgpack bytes ---- */

enum mp_kind {
	MP_NIL, MP_BOOL, MP_UINT, MP_NEG, MP_FLOAT, MP_STR, MP_BIN, MP_EXT, MP_ARRAY, MP_MAP,
};

struct mp_item {
	enum mp_kind kind;
	uint64_t u;          /* MP_UINT value; STR/BIN/EXT length; ARRAY/MAP count */
	int64_t i;           /* MP_NEG value */
	const uint8_t *data; /* STR/BIN body, inside the buffer */
};

struct dec {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	char field[MSG_NAME_SHOWN + 8]; /* key being read, quoted in errors */
	char *err;
	size_t err_size;
};

/* The index of the top-level map built by pass 1. */
struct entry {
	const uint8_t *key;
	size_t key_len;
	size_t val_pos;
};

/* Printable copy of a peer-supplied name, cut at MSG_NAME_SHOWN bytes. */
static void quote_name(char *out, size_t size, const uint8_t *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && i < MSG_NAME_SHOWN && n + 1 < size; i++) {
		bool plain = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\';

		out[n++] = plain ? (char)p[i] : '?';
	}
	if (len > MSG_NAME_SHOWN)
		for (int i = 0; i < 3 && n + 1 < size; i++)
			out[n++] = '.';
	out[n] = '\0';
}

static void dec_set_field(struct dec *d, const char *key)
{
	snprintf(d->field, sizeof(d->field), "%s", key);
}

__attribute__((format(printf, 2, 3)))
static int dec_fail(struct dec *d, const char *fmt, ...)
{
	char text[192];
	va_list ap;

	if (d->err == NULL || d->err_size == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (d->field[0] != '\0')
		snprintf(d->err, d->err_size, "field \"%s\": %s", d->field, text);
	else
		snprintf(d->err, d->err_size, "%s", text);
	return -1;
}

static int rd_be(struct dec *d, size_t n, uint64_t *v)
{
	if (d->len - d->pos < n)
		return dec_fail(d, "message truncated");
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | d->buf[d->pos++];
	return 0;
}

/* Reads one item header. Strings, bins and exts are checked to fit and
 * skipped over; arrays and maps stop after the header, with a count the
 * remaining bytes can hold. */
static int mp_next(struct dec *d, struct mp_item *it)
{
	uint64_t v = 0, body = 0;
	uint8_t b;

	memset(it, 0, sizeof(*it));
	if (d->pos >= d->len)
		return dec_fail(d, "message truncated");
	b = d->buf[d->pos++];

	if (b <= 0x7f) {
		it->kind = MP_UINT;
		it->u = b;
		return 0;
	}
	if (b >= 0xe0) {
		it->kind = MP_NEG;
		it->i = (int8_t)b;
		return 0;
	}
	if ((b & 0xf0) == 0x80) {
		it->kind = MP_MAP;
		it->u = b & 0x0f;
		goto container;
	}
	if ((b & 0xf0) == 0x90) {
		it->kind = MP_ARRAY;
		it->u = b & 0x0f;
		goto container;
	}
	if ((b & 0xe0) == 0xa0) {
		it->kind = MP_STR;
		body = it->u = b & 0x1f;
		goto body;
	}

	switch (b) {
	case 0xc0:
		it->kind = MP_NIL;
		return 0;
	case 0xc2:
	case 0xc3:
		it->kind = MP_BOOL;
		return 0;
	case 0xc4:
	case 0xc5:
	case 0xc6:
		if (rd_be(d, (size_t)1 << (b - 0xc4), &v))
			return -1;
		it->kind = MP_BIN;
		body = it->u = v;
		goto body;
	case 0xc7:
	case 0xc8:
	case 0xc9:
		if (rd_be(d, (size_t)1 << (b - 0xc7), &v))
			return -1;
		it->kind = MP_EXT;
		it->u = v;
		body = v + 1; /* the ext type byte */
		goto body;
	case 0xca:
	case 0xcb:
		it->kind = MP_FLOAT;
		return rd_be(d, b == 0xca ? 4 : 8, &v);
	case 0xcc:
	case 0xcd:
	case 0xce:
	case 0xcf:
		if (rd_be(d, (size_t)1 << (b - 0xcc), &v))
			return -1;
		it->kind = MP_UINT;
		it->u = v;
		return 0;
	case 0xd0:
	case 0xd1:
	case 0xd2:
	case 0xd3: {
		size_t n = (size_t)1 << (b - 0xd0);
		int64_t s;

		if (rd_be(d, n, &v))
			return -1;
		/* sign-extend the n-byte two's complement value */
		if (n < 8 && (v >> (8 * n - 1)) != 0)
			v |= UINT64_MAX << (8 * n);
		memcpy(&s, &v, sizeof(s));
		if (s >= 0) {
			it->kind = MP_UINT;
			it->u = (uint64_t)s;
		} else {
			it->kind = MP_NEG;
			it->i = s;
		}
		return 0;
	}
	case 0xd4:
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		it->kind = MP_EXT;
		it->u = (uint64_t)1 << (b - 0xd4);
		body = it->u + 1;
		goto body;
	case 0xd9:
	case 0xda:
	case 0xdb:
		if (rd_be(d, (size_t)1 << (b - 0xd9), &v))
			return -1;
		it->kind = MP_STR;
		body = it->u = v;
		goto body;
	case 0xdc:
	case 0xdd:
		if (rd_be(d, b == 0xdc ? 2 : 4, &v))
			return -1;
		it->kind = MP_ARRAY;
		it->u = v;
		goto container;
	case 0xde:
	case 0xdf:
		if (rd_be(d, b == 0xde ? 2 : 4, &v))
			return -1;
		it->kind = MP_MAP;
		it->u = v;
		goto container;
	default:
		return dec_fail(d, "invalid msgpack byte 0x%02x", b);
	}

body:
	if (body > d->len - d->pos)
		return dec_fail(d, "message truncated");
	it->data = d->buf + d->pos;
	d->pos += body;
	return 0;

container:
	/* Each array item takes at least one byte, each map entry two: a count
	 * the rest of the buffer cannot hold is refused before anyone sizes an
	 * allocation by it. */
	if (it->kind == MP_ARRAY && it->u > d->len - d->pos)
		return dec_fail(d, "array of %" PRIu64 " items cannot fit in %zu bytes",
				it->u, d->len - d->pos);
	if (it->kind == MP_MAP && it->u > (d->len - d->pos) / 2)
		return dec_fail(d, "map of %" PRIu64 " entries cannot fit in %zu bytes",
				it->u, d->len - d->pos);
	return 0;
}

/* Skips one well-formed value held by a container at depth `depth`. */
static int mp_skip(struct dec *d, int depth)
{
	struct mp_item it;
	uint64_t n;

	if (mp_next(d, &it))
		return -1;
	if (it.kind != MP_ARRAY && it.kind != MP_MAP)
		return 0;
	if (depth >= MSG_MAX_DEPTH)
		return dec_fail(d, "nesting deeper than %d levels", MSG_MAX_DEPTH);
	n = it.kind == MP_MAP ? it.u * 2 : it.u;
	for (uint64_t i = 0; i < n; i++)
		if (mp_skip(d, depth + 1))
			return -1;
	return 0;
}

/* Reads a string item with no NUL byte inside. */
static int rd_str(struct dec *d, struct mp_item *it, const char *expected)
{
	if (mp_next(d, it))
		return -1;
	if (it->kind != MP_STR)
		return dec_fail(d, "expected %s", expected);
	if (it->u != 0 && memchr(it->data, '\0', it->u) != NULL)
		return dec_fail(d, "string contains a nul byte");
	return 0;
}

static char *dup_str(struct dec *d, const struct mp_item *it)
{
	char *s = malloc(it->u + 1);

	if (s == NULL) {
		dec_fail(d, "out of memory");
		return NULL;
	}
	if (it->u != 0)
		memcpy(s, it->data, it->u);
	s[it->u] = '\0';
	return s;
}

static int dec_oneof_fail(struct dec *d, const struct field *f, const struct mp_item *it)
{
	char value[MSG_NAME_SHOWN + 8], set[96] = "";
	size_t n = 0;

	quote_name(value, sizeof(value), it->data, it->u);
	for (const char *const *s = f->oneof; *s != NULL && n < sizeof(set); s++)
		n += (size_t)snprintf(set + n, sizeof(set) - n, "%s%s", n ? ", " : "", *s);
	return dec_fail(d, "\"%s\" is not one of %s", value, set);
}

static int dec_strmap(struct dec *d, const struct mp_item *head, struct msg_strmap *map)
{
	struct mp_item k, v;
	const char *dup;
	int rc;

	if (head->u == 0)
		return 0;
	map->items = calloc(head->u, sizeof(*map->items));
	if (map->items == NULL)
		return dec_fail(d, "out of memory");
	for (uint64_t i = 0; i < head->u; i++) {
		struct msg_kv *kv = &map->items[i];

		if (rd_str(d, &k, "map of string to string") ||
		    rd_str(d, &v, "map of string to string"))
			return -1;
		kv->key = dup_str(d, &k);
		if (kv->key == NULL)
			return -1;
		kv->value = dup_str(d, &v);
		if (kv->value == NULL) {
			free(kv->key);
			kv->key = NULL;
			return -1;
		}
		map->count++;
	}
	rc = strmap_find_dup(map, &dup);
	if (rc < 0)
		return dec_fail(d, "out of memory");
	if (rc > 0) {
		char name[MSG_NAME_SHOWN + 8];

		quote_name(name, sizeof(name), (const uint8_t *)dup, strlen(dup));
		return dec_fail(d, "duplicate key \"%s\"", name);
	}
	return 0;
}

static int dec_strlist(struct dec *d, const struct mp_item *head, struct msg_strlist *list)
{
	struct mp_item it;

	if (head->u == 0)
		return 0;
	list->items = calloc(head->u, sizeof(*list->items));
	if (list->items == NULL)
		return dec_fail(d, "out of memory");
	for (uint64_t i = 0; i < head->u; i++) {
		if (rd_str(d, &it, "array of strings"))
			return -1;
		list->items[i] = dup_str(d, &it);
		if (list->items[i] == NULL)
			return -1;
		list->count++;
	}
	return 0;
}

/* Decodes the value at d->pos into the field at p. On failure p may hold a
 * partial value that msg_clear() releases. */
static int dec_field(struct dec *d, const struct field *f, void *p)
{
	struct mp_item it;

	if (f->kind == FK_STR) {
		if (rd_str(d, &it, "string"))
			return -1;
		if (f->oneof != NULL && !in_set(f->oneof, it.data, it.u))
			return dec_oneof_fail(d, f, &it);
		*(char **)p = dup_str(d, &it);
		return *(char **)p != NULL ? 0 : -1;
	}

	if (mp_next(d, &it))
		return -1;
	switch (f->kind) {
	case FK_STR:
		break;
	case FK_UINT:
		if (it.kind == MP_NEG)
			return dec_fail(d, "expected unsigned integer, got negative %" PRId64,
					it.i);
		if (it.kind != MP_UINT)
			return dec_fail(d, "expected unsigned integer");
		if (it.u < f->min)
			return dec_fail(d, "%" PRIu64 " is below the minimum of %" PRIu64,
					it.u, f->min);
		if (it.u > f->max)
			return dec_fail(d, "%" PRIu64 " is over the maximum of %" PRIu64,
					it.u, f->max);
		*(uint64_t *)p = it.u;
		return 0;
	case FK_INT:
		if (it.kind == MP_NEG) {
			*(int64_t *)p = it.i;
			return 0;
		}
		if (it.kind != MP_UINT)
			return dec_fail(d, "expected integer");
		if (it.u > INT64_MAX)
			return dec_fail(d, "%" PRIu64 " is out of range for a signed integer",
					it.u);
		*(int64_t *)p = (int64_t)it.u;
		return 0;
	case FK_BIN: {
		struct msg_bin *bin = p;

		if (it.kind != MP_BIN)
			return dec_fail(d, "expected binary data");
		if (it.u == 0)
			return 0;
		bin->data = malloc(it.u);
		if (bin->data == NULL)
			return dec_fail(d, "out of memory");
		memcpy(bin->data, it.data, it.u);
		bin->len = it.u;
		return 0;
	}
	case FK_STRMAP:
		if (it.kind != MP_MAP)
			return dec_fail(d, "expected map of string to string");
		return dec_strmap(d, &it, p);
	case FK_STRLIST:
		if (it.kind != MP_ARRAY)
			return dec_fail(d, "expected array of strings");
		return dec_strlist(d, &it, p);
	}
	return dec_fail(d, "internal error: bad field kind");
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = memcmp(x->key, y->key, x->key_len < y->key_len ? x->key_len : y->key_len);

	if (c != 0)
		return c;
	return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static const struct entry *find_entry(const struct entry *entries, size_t count, const char *key)
{
	struct entry want = { (const uint8_t *)key, strlen(key), 0 };

	if (count == 0)
		return NULL;
	return bsearch(&want, entries, count, sizeof(*entries), cmp_entry);
}

/* Pass 1: checks the whole map is well-formed and indexes its keys, sorted. */
static int dec_index(struct dec *d, struct entry **out, size_t *out_count)
{
	struct entry *entries = NULL;
	struct mp_item it, key;
	size_t count;
	uint8_t b = d->buf[0];

	if ((b & 0xf0) != 0x80 && b != 0xde && b != 0xdf)
		return dec_fail(d, "not a map");
	if (mp_next(d, &it))
		return -1;
	count = it.u;
	if (count != 0) {
		entries = calloc(count, sizeof(*entries));
		if (entries == NULL)
			return dec_fail(d, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		d->field[0] = '\0';
		if (mp_next(d, &key))
			goto fail;
		if (key.kind != MP_STR) {
			dec_fail(d, "map key is not a string");
			goto fail;
		}
		quote_name(d->field, sizeof(d->field), key.data, key.u);
		entries[i] = (struct entry){ key.data, key.u, d->pos };
		if (mp_skip(d, 1))
			goto fail;
	}
	d->field[0] = '\0';
	if (d->pos != d->len) {
		dec_fail(d, "trailing bytes after message");
		goto fail;
	}
	if (count > 1)
		qsort(entries, count, sizeof(*entries), cmp_entry);
	for (size_t i = 1; i < count; i++) {
		if (cmp_entry(&entries[i - 1], &entries[i]) == 0) {
			char name[MSG_NAME_SHOWN + 8];

			quote_name(name, sizeof(name), entries[i].key, entries[i].key_len);
			dec_fail(d, "duplicate key \"%s\"", name);
			goto fail;
		}
	}
	*out = entries;
	*out_count = count;
	return 0;

fail:
	free(entries);
	return -1;
}

int msg_decode(const uint8_t *payload, size_t len, struct msg *out, char *err, size_t err_size)
{
	struct dec d = { .buf = payload, .len = len, .err = err, .err_size = err_size };
	const struct msg_desc *desc;
	const struct entry *e;
	struct entry *entries = NULL;
	size_t count = 0;
	struct mp_item it;
	const char *why;

	memset(out, 0, sizeof(*out));
	if (err != NULL && err_size != 0)
		err[0] = '\0';
	if (payload == NULL || len == 0)
		return dec_fail(&d, "empty payload");
	if (dec_index(&d, &entries, &count))
		return -1;

	e = find_entry(entries, count, "t");
	if (e == NULL) {
		dec_fail(&d, "missing field \"t\"");
		goto fail;
	}
	dec_set_field(&d, "t");
	d.pos = e->val_pos;
	if (mp_next(&d, &it))
		goto fail;
	if (it.kind != MP_STR) {
		dec_fail(&d, "expected string");
		goto fail;
	}
	d.field[0] = '\0';
	desc = desc_by_name(it.data, it.u);
	if (desc == NULL) {
		char name[MSG_NAME_SHOWN + 8];

		quote_name(name, sizeof(name), it.data, it.u);
		dec_fail(&d, "unknown type \"%s\"", name);
		goto fail;
	}

	out->type = desc->type;
	for (size_t i = 0; i < desc->nfields; i++) {
		const struct field *f = &desc->fields[i];

		d.field[0] = '\0';
		e = find_entry(entries, count, f->key);
		if (e == NULL) {
			if (!f->required)
				continue;
			dec_fail(&d, "missing field \"%s\"", f->key);
			goto fail;
		}
		dec_set_field(&d, f->key);
		d.pos = e->val_pos;
		if (dec_field(&d, f, (char *)out + f->offset))
			goto fail;
	}
	d.field[0] = '\0';
	if (desc->check != NULL && (why = desc->check(out)) != NULL) {
		dec_fail(&d, "%s", why);
		goto fail;
	}
	free(entries);
	return 0;

fail:
	free(entries);
	msg_clear(out);
	return -1;
}

void msg_clear(struct msg *m)
{
	const struct msg_desc *desc;

	if (m == NULL)
		return;
	desc = desc_by_type(m->type);
	for (size_t i = 0; desc != NULL && i < desc->nfields; i++) {
		const struct field *f = &desc->fields[i];
		void *p = (char *)m + f->offset;

		switch (f->kind) {
		case FK_STR:
			free(*(char **)p);
			break;
		case FK_UINT:
		case FK_INT:
			break;
		case FK_BIN:
			free(((struct msg_bin *)p)->data);
			break;
		case FK_STRMAP: {
			struct msg_strmap *map = p;

			for (size_t j = 0; j < map->count; j++) {
				free(map->items[j].key);
				free(map->items[j].value);
			}
			free(map->items);
			break;
		}
		case FK_STRLIST: {
			struct msg_strlist *list = p;

			for (size_t j = 0; j < list->count; j++)
				free(list->items[j]);
			free(list->items);
			break;
		}
		}
	}
	memset(m, 0, sizeof(*m));
}
