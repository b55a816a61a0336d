/* test_msg.c — unit tests for the agent wire format (frame.c, msg.c).
 * Round trips of every message type, then one test per rejection reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "shared/frame.h"
#include "shared/msg.h"

/* ---- sample messages, every field filled ---- */

static char *done_ids[] = { "task-1", "task-2", "task-3" };
static char *mask_items[] = { "s3cret", "hunter2" };
static struct msg_kv env_items[] = {
	{ "PATH", "/usr/bin:/bin" }, { "EMPTY", "" }, { "LANG", "C.UTF-8" },
};
static struct msg_kv output_items[] = { { "ip", "10.0.0.7" }, { "url", "https://x.example/" } };
static uint8_t bundle_bytes[] = { 0x1f, 0x8b, 0x00, 0xff, 0x00, 0x7f, 0xc1, 0x80 };
static uint8_t log_bytes[] = "line one\nline \0two\n";

static void sample(enum msg_type type, struct msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case MSG_ENROLL:
		m->u.enroll.token = "tok-abcdef0123456789";
		m->u.enroll.csr = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
		m->u.enroll.hostname = "web-1.example";
		break;
	case MSG_ENROLLED:
		m->u.enrolled.node_id = "node-7f3a";
		m->u.enrolled.cert = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
		m->u.enrolled.ca = "-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----\n";
		break;
	case MSG_ERROR:
		m->u.error.reason = "token expired";
		break;
	case MSG_HELLO:
		m->u.hello.version = "0.1.0";
		m->u.hello.hostname = "web-1";
		m->u.hello.arch = "aarch64";
		m->u.hello.os = "linux";
		m->u.hello.kernel = "6.1.0-rpi";
		m->u.hello.cpus = 4;
		m->u.hello.mem_total = 8ull << 30;
		m->u.hello.done_tasks.items = done_ids;
		m->u.hello.done_tasks.count = 3;
		break;
	case MSG_WELCOME:
		m->u.welcome.node_id = "node-7f3a";
		m->u.welcome.heartbeat = 15;
		m->u.welcome.time = 1700000000;
		break;
	case MSG_HEARTBEAT:
		m->u.heartbeat.uptime = 86400;
		m->u.heartbeat.mem_free = 123456789012ull;
		m->u.heartbeat.load1_milli = 1250;
		m->u.heartbeat.running = 2;
		m->u.heartbeat.cpu_permille = 1000;
		m->u.heartbeat.mem_total = 8ull << 30;
		m->u.heartbeat.mem_used = 3ull << 30;
		m->u.heartbeat.fs_total = 64ull << 30;
		m->u.heartbeat.fs_used = 64ull << 30;
		m->u.heartbeat.net_rx = UINT64_MAX;
		m->u.heartbeat.net_tx = 12345;
		break;
	case MSG_RENEW:
		m->u.renew.csr = "-----BEGIN CERTIFICATE REQUEST-----\nMIIE\n-----END CERTIFICATE REQUEST-----\n";
		break;
	case MSG_RENEWED:
		m->u.renewed.cert = "-----BEGIN CERTIFICATE-----\nMIIF\n-----END CERTIFICATE-----\n";
		break;
	case MSG_TASK:
		m->u.task.id = "task-42";
		m->u.task.role = "web";
		m->u.task.step = "deploy";
		m->u.task.bundle_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
		m->u.task.bundle.data = bundle_bytes;
		m->u.task.bundle.len = sizeof(bundle_bytes);
		m->u.task.env.items = env_items;
		m->u.task.env.count = 3;
		m->u.task.mask.items = mask_items;
		m->u.task.mask.count = 2;
		m->u.task.timeout = 600;
		break;
	case MSG_TASK_ACCEPTED:
		m->u.task_accepted.id = "task-42";
		break;
	case MSG_TASK_LOG:
		m->u.task_log.id = "task-42";
		m->u.task_log.stream = "stderr";
		m->u.task_log.seq = 17;
		m->u.task_log.data.data = log_bytes;
		m->u.task_log.data.len = sizeof(log_bytes) - 1;
		break;
	case MSG_TASK_PROGRESS:
		m->u.task_progress.id = "task-42";
		m->u.task_progress.percent = 100;
		m->u.task_progress.message = "almost there";
		break;
	case MSG_TASK_DONE:
		m->u.task_done.id = "task-42";
		m->u.task_done.status = "failed";
		m->u.task_done.exit_code = -9;
		m->u.task_done.duration_ms = 12345;
		m->u.task_done.reason = "killed by signal 9";
		m->u.task_done.outputs.items = output_items;
		m->u.task_done.outputs.count = 2;
		break;
	case MSG_CANCEL:
		m->u.cancel.id = "task-42";
		break;
	case MSG_TASK_ACK:
		m->u.task_ack.id = "task-42";
		break;
	}
}

/* Encodes in, checks the frame header, decodes the payload into out. */
static void roundtrip(const struct msg *in, struct msg *out)
{
	size_t frame_len = 0, payload_len = 0;
	char err[256];
	uint8_t *frame;
	int rc;

	frame = msg_encode_frame(in, FRAME_MAX_DEFAULT, &frame_len);
	assert_non_null(frame);
	assert_true(frame_len > FRAME_HEADER_LEN);
	assert_int_equal(frame_peek(frame, frame_len, FRAME_MAX_DEFAULT, &payload_len), FRAME_OK);
	assert_int_equal(payload_len + FRAME_HEADER_LEN, frame_len);
	rc = msg_decode(frame + FRAME_HEADER_LEN, payload_len, out, err, sizeof(err));
	if (rc != 0)
		fail_msg("decode failed: %s", err);
	assert_int_equal(out->type, in->type);
	free(frame);
}

static void assert_bin_equal(const struct msg_bin *a, const struct msg_bin *b)
{
	assert_int_equal(a->len, b->len);
	if (a->len != 0)
		assert_memory_equal(a->data, b->data, a->len);
}

static void assert_strmap_equal(const struct msg_strmap *a, const struct msg_strmap *b)
{
	assert_int_equal(a->count, b->count);
	for (size_t i = 0; i < a->count; i++) {
		assert_string_equal(a->items[i].key, b->items[i].key);
		assert_string_equal(a->items[i].value, b->items[i].value);
	}
}

static void assert_strlist_equal(const struct msg_strlist *a, const struct msg_strlist *b)
{
	assert_int_equal(a->count, b->count);
	for (size_t i = 0; i < a->count; i++)
		assert_string_equal(a->items[i], b->items[i]);
}

static void test_roundtrip_enroll(void **state)
{
	struct msg in, out;

	sample(MSG_ENROLL, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.enroll.token, in.u.enroll.token);
	assert_string_equal(out.u.enroll.csr, in.u.enroll.csr);
	assert_string_equal(out.u.enroll.hostname, in.u.enroll.hostname);
	msg_clear(&out);
}

static void test_roundtrip_enrolled(void **state)
{
	struct msg in, out;

	sample(MSG_ENROLLED, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.enrolled.node_id, in.u.enrolled.node_id);
	assert_string_equal(out.u.enrolled.cert, in.u.enrolled.cert);
	assert_string_equal(out.u.enrolled.ca, in.u.enrolled.ca);
	/* no ticket (an older tower): absent, not empty */
	assert_int_equal(out.u.enrolled.ticket.len, 0);
	assert_null(out.u.enrolled.ticket.data);
	msg_clear(&out);

	/* with the session ticket bound to the new certificate */
	in.u.enrolled.ticket.data = (uint8_t *)"\x01\x00\xfftick";
	in.u.enrolled.ticket.len = 7;
	in.u.enrolled.ticket_lifetime = 86400;
	roundtrip(&in, &out);
	assert_int_equal(out.u.enrolled.ticket.len, 7);
	assert_memory_equal(out.u.enrolled.ticket.data, "\x01\x00\xfftick", 7);
	assert_int_equal(out.u.enrolled.ticket_lifetime, 86400);
	msg_clear(&out);
}

static void test_roundtrip_error(void **state)
{
	struct msg in, out;

	sample(MSG_ERROR, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.error.reason, in.u.error.reason);
	msg_clear(&out);
}

static void test_roundtrip_hello(void **state)
{
	struct msg in, out;

	sample(MSG_HELLO, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.hello.version, in.u.hello.version);
	assert_string_equal(out.u.hello.hostname, in.u.hello.hostname);
	assert_string_equal(out.u.hello.arch, in.u.hello.arch);
	assert_string_equal(out.u.hello.os, in.u.hello.os);
	assert_string_equal(out.u.hello.kernel, in.u.hello.kernel);
	assert_int_equal(out.u.hello.cpus, 4);
	assert_int_equal(out.u.hello.mem_total, 8ull << 30);
	assert_strlist_equal(&out.u.hello.done_tasks, &in.u.hello.done_tasks);
	msg_clear(&out);
}

static void test_roundtrip_welcome(void **state)
{
	struct msg in, out;

	sample(MSG_WELCOME, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.welcome.node_id, in.u.welcome.node_id);
	assert_int_equal(out.u.welcome.heartbeat, 15);
	assert_int_equal(out.u.welcome.time, 1700000000);
	msg_clear(&out);
}

static void test_roundtrip_heartbeat(void **state)
{
	struct msg in, out;

	sample(MSG_HEARTBEAT, &in);
	roundtrip(&in, &out);
	assert_int_equal(out.u.heartbeat.uptime, 86400);
	assert_int_equal(out.u.heartbeat.mem_free, 123456789012ull);
	assert_int_equal(out.u.heartbeat.load1_milli, 1250);
	assert_int_equal(out.u.heartbeat.running, 2);
	assert_int_equal(out.u.heartbeat.cpu_permille, 1000);
	assert_int_equal(out.u.heartbeat.mem_total, 8ull << 30);
	assert_int_equal(out.u.heartbeat.mem_used, 3ull << 30);
	assert_int_equal(out.u.heartbeat.fs_total, 64ull << 30);
	assert_int_equal(out.u.heartbeat.fs_used, 64ull << 30);
	assert_true(out.u.heartbeat.net_rx == UINT64_MAX);
	assert_int_equal(out.u.heartbeat.net_tx, 12345);
	msg_clear(&out);
}

static void test_roundtrip_renew(void **state)
{
	struct msg in, out;

	sample(MSG_RENEW, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.renew.csr, in.u.renew.csr);
	msg_clear(&out);
}

static void test_roundtrip_renewed(void **state)
{
	struct msg in, out;

	sample(MSG_RENEWED, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.renewed.cert, in.u.renewed.cert);
	msg_clear(&out);
}

static void test_roundtrip_task(void **state)
{
	struct msg in, out;

	sample(MSG_TASK, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.task.id, in.u.task.id);
	assert_string_equal(out.u.task.role, in.u.task.role);
	assert_string_equal(out.u.task.step, in.u.task.step);
	assert_string_equal(out.u.task.bundle_hash, in.u.task.bundle_hash);
	assert_bin_equal(&out.u.task.bundle, &in.u.task.bundle);
	assert_strmap_equal(&out.u.task.env, &in.u.task.env);
	assert_strlist_equal(&out.u.task.mask, &in.u.task.mask);
	assert_int_equal(out.u.task.timeout, 600);
	assert_int_equal(out.u.task.not_after_ms, 0); /* none: left out on the wire */
	msg_clear(&out);

	in.u.task.not_after_ms = 1800000032000ULL;
	roundtrip(&in, &out);
	assert_int_equal(out.u.task.not_after_ms, 1800000032000ULL);
	msg_clear(&out);
}

static void test_roundtrip_task_accepted(void **state)
{
	struct msg in, out;

	sample(MSG_TASK_ACCEPTED, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.task_accepted.id, in.u.task_accepted.id);
	msg_clear(&out);
}

static void test_roundtrip_task_log(void **state)
{
	struct msg in, out;

	sample(MSG_TASK_LOG, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.task_log.id, in.u.task_log.id);
	assert_string_equal(out.u.task_log.stream, "stderr");
	assert_int_equal(out.u.task_log.seq, 17);
	assert_bin_equal(&out.u.task_log.data, &in.u.task_log.data); /* holds a NUL */
	msg_clear(&out);
}

static void test_roundtrip_task_progress(void **state)
{
	struct msg in, out;

	sample(MSG_TASK_PROGRESS, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.task_progress.id, in.u.task_progress.id);
	assert_int_equal(out.u.task_progress.percent, 100);
	assert_string_equal(out.u.task_progress.message, in.u.task_progress.message);
	msg_clear(&out);
}

static void test_roundtrip_task_done(void **state)
{
	struct msg in, out;

	sample(MSG_TASK_DONE, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.task_done.id, in.u.task_done.id);
	assert_string_equal(out.u.task_done.status, "failed");
	assert_int_equal(out.u.task_done.exit_code, -9);
	assert_int_equal(out.u.task_done.duration_ms, 12345);
	assert_string_equal(out.u.task_done.reason, in.u.task_done.reason);
	assert_strmap_equal(&out.u.task_done.outputs, &in.u.task_done.outputs);
	msg_clear(&out);
}

static void test_roundtrip_cancel(void **state)
{
	struct msg in, out;

	sample(MSG_CANCEL, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.cancel.id, in.u.cancel.id);
	msg_clear(&out);
}

static void test_roundtrip_task_ack(void **state)
{
	struct msg in, out;

	sample(MSG_TASK_ACK, &in);
	roundtrip(&in, &out);
	assert_string_equal(out.u.task_ack.id, in.u.task_ack.id);
	msg_clear(&out);
}

/* Optional fields left out on the way in come back NULL / empty. */
static void test_roundtrip_optional_absent(void **state)
{
	struct msg in, out;

	sample(MSG_HELLO, &in);
	in.u.hello.done_tasks.items = NULL;
	in.u.hello.done_tasks.count = 0;
	roundtrip(&in, &out);
	assert_null(out.u.hello.done_tasks.items);
	assert_int_equal(out.u.hello.done_tasks.count, 0);
	msg_clear(&out);

	sample(MSG_TASK, &in);
	memset(&in.u.task.bundle, 0, sizeof(in.u.task.bundle));
	memset(&in.u.task.env, 0, sizeof(in.u.task.env));
	memset(&in.u.task.mask, 0, sizeof(in.u.task.mask));
	roundtrip(&in, &out);
	assert_null(out.u.task.bundle.data);
	assert_int_equal(out.u.task.bundle.len, 0);
	assert_null(out.u.task.env.items);
	assert_int_equal(out.u.task.env.count, 0);
	assert_null(out.u.task.mask.items);
	assert_int_equal(out.u.task.mask.count, 0);
	msg_clear(&out);

	sample(MSG_TASK_PROGRESS, &in);
	in.u.task_progress.message = NULL;
	roundtrip(&in, &out);
	assert_null(out.u.task_progress.message);
	msg_clear(&out);

	sample(MSG_TASK_DONE, &in);
	in.u.task_done.reason = NULL;
	memset(&in.u.task_done.outputs, 0, sizeof(in.u.task_done.outputs));
	roundtrip(&in, &out);
	assert_null(out.u.task_done.reason);
	assert_int_equal(out.u.task_done.outputs.count, 0);
	msg_clear(&out);

	/* a required bin may be empty */
	sample(MSG_TASK_LOG, &in);
	memset(&in.u.task_log.data, 0, sizeof(in.u.task_log.data));
	roundtrip(&in, &out);
	assert_int_equal(out.u.task_log.data.len, 0);
	msg_clear(&out);
}

/* Integer and length limits, across every msgpack width. */
static void test_roundtrip_extremes(void **state)
{
	static const size_t lens[] = { 0, 31, 32, 255, 256, 65535, 65536, 200000 };
	struct msg in, out;
	char *big;

	sample(MSG_HEARTBEAT, &in);
	in.u.heartbeat.uptime = UINT64_MAX;
	in.u.heartbeat.mem_free = 0;
	in.u.heartbeat.load1_milli = 0x100000000ull;
	in.u.heartbeat.running = 65536;
	roundtrip(&in, &out);
	assert_true(out.u.heartbeat.uptime == UINT64_MAX);
	assert_int_equal(out.u.heartbeat.mem_free, 0);
	assert_int_equal(out.u.heartbeat.load1_milli, 0x100000000ull);
	assert_int_equal(out.u.heartbeat.running, 65536);
	msg_clear(&out);

	sample(MSG_TASK_DONE, &in);
	in.u.task_done.exit_code = INT64_MIN;
	roundtrip(&in, &out);
	assert_true(out.u.task_done.exit_code == INT64_MIN);
	msg_clear(&out);
	in.u.task_done.exit_code = INT64_MAX;
	roundtrip(&in, &out);
	assert_true(out.u.task_done.exit_code == INT64_MAX);
	msg_clear(&out);

	sample(MSG_WELCOME, &in);
	in.u.welcome.time = -1;
	roundtrip(&in, &out);
	assert_int_equal(out.u.welcome.time, -1);
	msg_clear(&out);

	big = malloc(200001);
	assert_non_null(big);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(big, 'x', lens[i]);
		big[lens[i]] = '\0';
		sample(MSG_ERROR, &in);
		in.u.error.reason = big;
		roundtrip(&in, &out);
		assert_string_equal(out.u.error.reason, big);
		msg_clear(&out);

		sample(MSG_TASK_LOG, &in);
		in.u.task_log.data.data = (uint8_t *)big;
		in.u.task_log.data.len = lens[i];
		roundtrip(&in, &out);
		assert_bin_equal(&out.u.task_log.data, &in.u.task_log.data);
		msg_clear(&out);
	}
	free(big);
}

/* The bytes on the wire, read with msgpack-c's own unpacker: one map, "t"
 * holding the wire name, fields under their struct names with their kinds. */
static const msgpack_object *wire_get(const msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
		    memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0)
			return &kv->val;
	}
	return NULL;
}

static void test_wire_layout(void **state)
{
	msgpack_unpacked up;
	const msgpack_object *v;
	struct msg in;
	size_t len, off = 0;
	uint8_t *frame;

	sample(MSG_TASK, &in);
	frame = msg_encode_frame(&in, FRAME_MAX_DEFAULT, &len);
	assert_non_null(frame);
	msgpack_unpacked_init(&up);
	assert_int_equal(msgpack_unpack_next(&up, (const char *)frame + 4, len - 4, &off),
			 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, len - 4);
	assert_int_equal(up.data.type, MSGPACK_OBJECT_MAP);
	assert_int_equal(up.data.via.map.size, 9);
	v = wire_get(&up.data, "t");
	assert_non_null(v);
	assert_int_equal(v->type, MSGPACK_OBJECT_STR);
	assert_int_equal(v->via.str.size, 4);
	assert_memory_equal(v->via.str.ptr, "task", 4);
	v = wire_get(&up.data, "bundle_hash");
	assert_non_null(v);
	assert_int_equal(v->type, MSGPACK_OBJECT_STR);
	v = wire_get(&up.data, "bundle");
	assert_non_null(v);
	assert_int_equal(v->type, MSGPACK_OBJECT_BIN);
	assert_int_equal(v->via.bin.size, sizeof(bundle_bytes));
	v = wire_get(&up.data, "env");
	assert_non_null(v);
	assert_int_equal(v->type, MSGPACK_OBJECT_MAP);
	assert_int_equal(v->via.map.size, 3);
	v = wire_get(&up.data, "mask");
	assert_non_null(v);
	assert_int_equal(v->type, MSGPACK_OBJECT_ARRAY);
	v = wire_get(&up.data, "timeout");
	assert_non_null(v);
	assert_int_equal(v->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	assert_int_equal(v->via.u64, 600);
	msgpack_unpacked_destroy(&up);
	free(frame);

	sample(MSG_TASK_DONE, &in);
	in.u.task_done.reason = NULL;
	frame = msg_encode_frame(&in, FRAME_MAX_DEFAULT, &len);
	assert_non_null(frame);
	msgpack_unpacked_init(&up);
	off = 0;
	assert_int_equal(msgpack_unpack_next(&up, (const char *)frame + 4, len - 4, &off),
			 MSGPACK_UNPACK_SUCCESS);
	assert_null(wire_get(&up.data, "reason")); /* NULL optional: omitted */
	v = wire_get(&up.data, "t");
	assert_memory_equal(v->via.str.ptr, "task.done", 9);
	v = wire_get(&up.data, "exit_code");
	assert_non_null(v);
	assert_int_equal(v->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	assert_int_equal(v->via.i64, -9);
	assert_non_null(wire_get(&up.data, "duration_ms"));
	msgpack_unpacked_destroy(&up);
	free(frame);
}

static void test_encode_rejects(void **state)
{
	struct msg m;
	struct msg_kv dup_env[] = { { "A", "1" }, { "A", "2" } };
	char *null_list[] = { "a", NULL };
	size_t len, len2;
	uint8_t *frame;

	sample(MSG_HELLO, &m);
	m.u.hello.kernel = NULL;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));

	sample(MSG_ENROLL, &m);
	m.u.enroll.token = NULL;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));

	sample(MSG_TASK_PROGRESS, &m);
	m.u.task_progress.percent = 101;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));

	/* What the decoder refuses in a heartbeat's figures. */
	sample(MSG_HEARTBEAT, &m);
	m.u.heartbeat.cpu_permille = 1001;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));
	sample(MSG_HEARTBEAT, &m);
	m.u.heartbeat.mem_used = m.u.heartbeat.mem_total + 1;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));
	sample(MSG_HEARTBEAT, &m);
	m.u.heartbeat.fs_used = m.u.heartbeat.fs_total + 1;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));

	sample(MSG_TASK_LOG, &m);
	m.u.task_log.stream = "stdin";
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));
	sample(MSG_TASK_LOG, &m);
	m.u.task_log.data.data = NULL; /* len stays non-zero */
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));

	sample(MSG_TASK_DONE, &m);
	m.u.task_done.status = "ok";
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));

	sample(MSG_TASK, &m);
	m.u.task.timeout = 0;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));
	sample(MSG_TASK, &m);
	m.u.task.env.items = dup_env;
	m.u.task.env.count = 2;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));
	sample(MSG_TASK, &m);
	m.u.task.mask.items = null_list;
	m.u.task.mask.count = 2;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));

	memset(&m, 0, sizeof(m));
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));
	m.type = (enum msg_type)99;
	assert_null(msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len));

	/* max caps the payload: exactly max fits, one less does not */
	sample(MSG_TASK, &m);
	frame = msg_encode_frame(&m, FRAME_MAX_DEFAULT, &len);
	assert_non_null(frame);
	free(frame);
	frame = msg_encode_frame(&m, len - FRAME_HEADER_LEN, &len2);
	assert_non_null(frame);
	assert_int_equal(len2, len);
	free(frame);
	assert_null(msg_encode_frame(&m, len - FRAME_HEADER_LEN - 1, &len2));
}

/* ---- building hostile payloads ---- */

struct mb {
	msgpack_sbuffer body;
	msgpack_packer pk;
	uint32_t n;
	msgpack_sbuffer out;
};

static void pk_strn(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	if (len != 0)
		msgpack_pack_str_body(pk, s, len);
}

static void pk_str(msgpack_packer *pk, const char *s)
{
	pk_strn(pk, s, strlen(s));
}

static void mb_init(struct mb *b)
{
	memset(b, 0, sizeof(*b));
	msgpack_sbuffer_init(&b->body);
	msgpack_packer_init(&b->pk, &b->body, msgpack_sbuffer_write);
	msgpack_sbuffer_init(&b->out);
}

/* Adds a key; the caller packs its value with the returned packer. */
static msgpack_packer *mb_key(struct mb *b, const char *key)
{
	b->n++;
	pk_str(&b->pk, key);
	return &b->pk;
}

static void mb_str(struct mb *b, const char *key, const char *value)
{
	pk_str(mb_key(b, key), value);
}

static void mb_uint(struct mb *b, const char *key, uint64_t value)
{
	msgpack_pack_uint64(mb_key(b, key), value);
}

static void mb_raw(struct mb *b, const void *bytes, size_t len)
{
	msgpack_sbuffer_write(&b->body, bytes, len);
}

static const uint8_t *mb_finish(struct mb *b, size_t *len)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, &b->out, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, b->n);
	if (b->body.size != 0)
		msgpack_sbuffer_write(&b->out, b->body.data, b->body.size);
	*len = b->out.size;
	return (const uint8_t *)b->out.data;
}

static void mb_free(struct mb *b)
{
	msgpack_sbuffer_destroy(&b->body);
	msgpack_sbuffer_destroy(&b->out);
}

static bool keep(const char *omit, const char *key)
{
	return omit == NULL || strcmp(omit, key) != 0;
}

/* Valid messages of a few types, minus the field named by omit. */
static void base_hello(struct mb *b, const char *omit)
{
	static const char *const keys[] = { "version", "hostname", "arch", "os", "kernel" };

	mb_init(b);
	mb_str(b, "t", "hello");
	for (size_t i = 0; i < 5; i++)
		if (keep(omit, keys[i]))
			mb_str(b, keys[i], "x");
	if (keep(omit, "cpus"))
		mb_uint(b, "cpus", 2);
	if (keep(omit, "mem_total"))
		mb_uint(b, "mem_total", 1024);
}

/* An older agent's heartbeat: the four required fields, no figures. */
static void base_heartbeat(struct mb *b, const char *omit)
{
	static const char *const keys[] = { "uptime", "mem_free", "load1_milli", "running" };

	mb_init(b);
	mb_str(b, "t", "heartbeat");
	for (size_t i = 0; i < 4; i++)
		if (keep(omit, keys[i]))
			mb_uint(b, keys[i], 7);
}

static void base_welcome(struct mb *b, const char *omit)
{
	mb_init(b);
	mb_str(b, "t", "welcome");
	if (keep(omit, "node_id"))
		mb_str(b, "node_id", "n1");
	if (keep(omit, "heartbeat"))
		mb_uint(b, "heartbeat", 15);
	if (keep(omit, "time"))
		msgpack_pack_int64(mb_key(b, "time"), -5);
}

static void base_task(struct mb *b, const char *omit)
{
	static const char *const keys[] = { "id", "role", "step", "bundle_hash" };

	mb_init(b);
	mb_str(b, "t", "task");
	for (size_t i = 0; i < 4; i++)
		if (keep(omit, keys[i]))
			mb_str(b, keys[i], "x");
	if (keep(omit, "timeout"))
		mb_uint(b, "timeout", 30);
}

static void base_task_log(struct mb *b, const char *omit)
{
	mb_init(b);
	mb_str(b, "t", "task.log");
	if (keep(omit, "id"))
		mb_str(b, "id", "t1");
	if (keep(omit, "stream"))
		mb_str(b, "stream", "stdout");
	if (keep(omit, "seq"))
		mb_uint(b, "seq", 0);
	if (keep(omit, "data")) {
		msgpack_pack_bin(mb_key(b, "data"), 2);
		msgpack_pack_bin_body(&b->pk, "hi", 2);
	}
}

static void base_task_progress(struct mb *b, const char *omit)
{
	mb_init(b);
	mb_str(b, "t", "task.progress");
	if (keep(omit, "id"))
		mb_str(b, "id", "t1");
	if (keep(omit, "percent"))
		mb_uint(b, "percent", 50);
}

static void base_task_done(struct mb *b, const char *omit)
{
	mb_init(b);
	mb_str(b, "t", "task.done");
	if (keep(omit, "id"))
		mb_str(b, "id", "t1");
	if (keep(omit, "status"))
		mb_str(b, "status", "done");
	if (keep(omit, "exit_code"))
		msgpack_pack_int64(mb_key(b, "exit_code"), 0);
	if (keep(omit, "duration_ms"))
		mb_uint(b, "duration_ms", 10);
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Decoding must fail with a one-line, lower-case reason holding each of the
 * given fragments, and leave nothing to free. */
static void expect_fail(const uint8_t *buf, size_t len, const char *want1, const char *want2)
{
	struct msg m;
	char err[256];

	memset(&m, 0x5a, sizeof(m));
	memset(err, 0, sizeof(err));
	if (msg_decode(buf, len, &m, err, sizeof(err)) != -1) {
		msg_clear(&m);
		fail_msg("decoded, but expected an error with \"%s\"", want1 ? want1 : "");
	}
	assert_true(all_zero(&m, sizeof(m)));
	if (err[0] < 'a' || err[0] > 'z')
		fail_msg("error \"%s\" does not start lower case", err);
	assert_null(strchr(err, '\n'));
	if (want1 != NULL && strstr(err, want1) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want1);
	if (want2 != NULL && strstr(err, want2) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want2);
}

static void expect_fail_mb(struct mb *b, const char *want1, const char *want2)
{
	size_t len;
	const uint8_t *buf = mb_finish(b, &len);

	expect_fail(buf, len, want1, want2);
	mb_free(b);
}

static void expect_ok(const uint8_t *buf, size_t len, struct msg *m)
{
	char err[256];

	if (msg_decode(buf, len, m, err, sizeof(err)) != 0)
		fail_msg("decode failed: %s", err);
}

static void expect_ok_mb(struct mb *b, struct msg *m)
{
	size_t len;
	const uint8_t *buf = mb_finish(b, &len);

	expect_ok(buf, len, m);
	mb_free(b);
}

/* The builders above make valid messages, so each rejection below is caused
 * by the one thing the test changes. */
static void test_base_builders_decode(void **state)
{
	void (*const bases[])(struct mb *, const char *) = {
		base_hello, base_welcome, base_task, base_task_log, base_task_progress, base_task_done,
		base_heartbeat,
	};
	struct mb b;
	struct msg m;

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		bases[i](&b, NULL);
		expect_ok_mb(&b, &m);
		msg_clear(&m);
	}
}

/* Key order does not matter, unknown keys (even nested ones) are skipped,
 * and positive values in signed or wider-than-needed encodings are read. */
static void test_decode_lenient_where_safe(void **state)
{
	static const uint8_t int64_four[] = { 0xd3, 0, 0, 0, 0, 0, 0, 0, 4 };
	static const uint8_t int8_max[] = { 0xd0, 0x7f };
	static const uint8_t str8_id[] = { 0xd9, 0x02, 'i', 'd' };
	static const uint8_t nested[] = {
		0x82, 0xa1, 'a', 0x93, 0xc0, 0xc3, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0,
		      0xa1, 'b', 0x91, 0xd4, 0x01, 0x02,
	};
	struct mb b;
	struct msg m;

	mb_init(&b);
	mb_uint(&b, "cpus", 1);
	mb_str(&b, "arch", "x");
	msgpack_pack_int64(mb_key(&b, "future"), -77);
	mb_str(&b, "version", "1");
	mb_str(&b, "hostname", "h");
	mb_str(&b, "os", "o");
	mb_key(&b, "later");
	mb_raw(&b, nested, sizeof(nested));
	mb_str(&b, "kernel", "k");
	mb_key(&b, "mem_total");
	mb_raw(&b, int64_four, sizeof(int64_four));
	mb_str(&b, "t", "hello");
	expect_ok_mb(&b, &m);
	assert_int_equal(m.type, MSG_HELLO);
	assert_int_equal(m.u.hello.cpus, 1);
	assert_int_equal(m.u.hello.mem_total, 4);
	assert_string_equal(m.u.hello.kernel, "k");
	msg_clear(&m);

	mb_init(&b);
	mb_str(&b, "t", "task.progress");
	b.n++;
	mb_raw(&b, str8_id, sizeof(str8_id));
	pk_str(&b.pk, "t1");
	mb_key(&b, "percent");
	mb_raw(&b, int8_max, sizeof(int8_max));
	expect_fail_mb(&b, "field \"percent\"", "127");

	base_task_progress(&b, "percent");
	mb_uint(&b, "percent", 0);
	expect_ok_mb(&b, &m);
	assert_int_equal(m.u.task_progress.percent, 0);
	assert_null(m.u.task_progress.message);
	msg_clear(&m);
}

static void test_reject_empty_payload(void **state)
{
	static const uint8_t one[] = { 0x80 };

	expect_fail(one, 0, "empty payload", NULL);
	expect_fail(NULL, 0, "empty payload", NULL);
}

/* Every proper prefix of a real message is refused as truncated. */
static void test_reject_truncated(void **state)
{
	struct msg in;
	size_t len;
	uint8_t *frame;
	const uint8_t *payload;
	struct mb b;

	sample(MSG_TASK, &in);
	frame = msg_encode_frame(&in, FRAME_MAX_DEFAULT, &len);
	assert_non_null(frame);
	payload = frame + FRAME_HEADER_LEN;
	len -= FRAME_HEADER_LEN;
	for (size_t cut = 1; cut < len; cut++) {
		struct msg m;
		char err[256];

		assert_int_equal(msg_decode(payload, cut, &m, err, sizeof(err)), -1);
		if (strstr(err, "truncated") == NULL && strstr(err, "cannot fit") == NULL)
			fail_msg("prefix of %zu bytes: unexpected error \"%s\"", cut, err);
	}
	free(frame);

	/* a string whose declared length runs past the end names its field */
	base_hello(&b, "hostname");
	mb_key(&b, "hostname");
	mb_raw(&b, "\xdb\xff\xff\xff\xff" "abc", 8);
	expect_fail_mb(&b, "field \"hostname\"", "truncated");
}

static void test_reject_trailing_bytes(void **state)
{
	struct mb b;
	size_t len;
	const uint8_t *msg;
	uint8_t buf[512];

	base_task_progress(&b, NULL);
	msg = mb_finish(&b, &len);
	assert_true(len < sizeof(buf));
	memcpy(buf, msg, len);
	mb_free(&b);
	buf[len] = 0xc0;
	expect_fail(buf, len + 1, "trailing bytes after message", NULL);
	buf[len] = 0x80; /* a second, empty map */
	expect_fail(buf, len + 1, "trailing bytes after message", NULL);
}

static void test_reject_not_a_map(void **state)
{
	static const uint8_t array[] = { 0x92, 0xa1, 't', 0xa5, 'h', 'e', 'l', 'l', 'o' };
	static const uint8_t integer[] = { 0x05 };
	static const uint8_t string[] = { 0xa5, 'h', 'e', 'l', 'l', 'o' };
	static const uint8_t nil[] = { 0xc0 };
	static const uint8_t array32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };

	expect_fail(array, sizeof(array), "not a map", NULL);
	expect_fail(integer, sizeof(integer), "not a map", NULL);
	expect_fail(string, sizeof(string), "not a map", NULL);
	expect_fail(nil, sizeof(nil), "not a map", NULL);
	expect_fail(array32, sizeof(array32), "not a map", NULL);
}

static void test_reject_missing_type(void **state)
{
	static const uint8_t empty_map[] = { 0x80 };
	struct mb b;

	expect_fail(empty_map, sizeof(empty_map), "missing field \"t\"", NULL);
	mb_init(&b);
	mb_str(&b, "id", "x");
	mb_str(&b, "T", "cancel");
	expect_fail_mb(&b, "missing field \"t\"", NULL);
}

static void test_reject_type_not_string(void **state)
{
	struct mb b;

	mb_init(&b);
	mb_uint(&b, "t", 4);
	mb_str(&b, "id", "x");
	expect_fail_mb(&b, "field \"t\"", "expected string");

	mb_init(&b);
	msgpack_pack_nil(mb_key(&b, "t"));
	expect_fail_mb(&b, "field \"t\"", "expected string");

	mb_init(&b);
	msgpack_pack_bin(mb_key(&b, "t"), 6);
	msgpack_pack_bin_body(&b.pk, "cancel", 6);
	mb_str(&b, "id", "x");
	expect_fail_mb(&b, "field \"t\"", "expected string");
}

static void test_reject_unknown_type(void **state)
{
	struct mb b;
	char long_name[300];

	mb_init(&b);
	mb_str(&b, "t", "foo");
	expect_fail_mb(&b, "unknown type \"foo\"", NULL);

	/* names are matched exactly */
	mb_init(&b);
	mb_str(&b, "t", "Hello");
	expect_fail_mb(&b, "unknown type", NULL);
	mb_init(&b);
	mb_str(&b, "t", "task.");
	expect_fail_mb(&b, "unknown type \"task.\"", NULL);

	/* a peer's bytes are shown printable and short, never raw */
	mb_init(&b);
	mb_str(&b, "t", "bad\nname\"x");
	expect_fail_mb(&b, "unknown type \"bad?name?x\"", NULL);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	mb_init(&b);
	mb_str(&b, "t", long_name);
	expect_fail_mb(&b, "unknown type \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"", NULL);
}

static void test_reject_missing_required(void **state)
{
	static const char *const hello[] = {
		"version", "hostname", "arch", "os", "kernel", "cpus", "mem_total",
	};
	static const char *const task[] = { "id", "role", "step", "timeout" };
	static const char *const task_log[] = { "id", "stream", "seq", "data" };
	static const char *const task_done[] = { "id", "status", "exit_code", "duration_ms" };
	char want[64];
	struct mb b;

	for (size_t i = 0; i < sizeof(hello) / sizeof(hello[0]); i++) {
		snprintf(want, sizeof(want), "missing field \"%s\"", hello[i]);
		base_hello(&b, hello[i]);
		expect_fail_mb(&b, want, NULL);
	}
	for (size_t i = 0; i < sizeof(task) / sizeof(task[0]); i++) {
		snprintf(want, sizeof(want), "missing field \"%s\"", task[i]);
		base_task(&b, task[i]);
		expect_fail_mb(&b, want, NULL);
	}
	for (size_t i = 0; i < sizeof(task_log) / sizeof(task_log[0]); i++) {
		snprintf(want, sizeof(want), "missing field \"%s\"", task_log[i]);
		base_task_log(&b, task_log[i]);
		expect_fail_mb(&b, want, NULL);
	}
	for (size_t i = 0; i < sizeof(task_done) / sizeof(task_done[0]); i++) {
		snprintf(want, sizeof(want), "missing field \"%s\"", task_done[i]);
		base_task_done(&b, task_done[i]);
		expect_fail_mb(&b, want, NULL);
	}
	base_welcome(&b, "time");
	expect_fail_mb(&b, "missing field \"time\"", NULL);
	base_task_progress(&b, "id");
	expect_fail_mb(&b, "missing field \"id\"", NULL);

	mb_init(&b);
	mb_str(&b, "t", "enroll");
	mb_str(&b, "token", "x");
	mb_str(&b, "csr", "y");
	expect_fail_mb(&b, "missing field \"hostname\"", NULL);
}

static void test_reject_wrong_type_str(void **state)
{
	struct mb b;

	base_hello(&b, "arch");
	mb_uint(&b, "arch", 5);
	expect_fail_mb(&b, "field \"arch\"", "expected string");

	base_hello(&b, "arch");
	msgpack_pack_nil(mb_key(&b, "arch"));
	expect_fail_mb(&b, "field \"arch\"", "expected string");

	base_task(&b, "id");
	msgpack_pack_bin(mb_key(&b, "id"), 1);
	msgpack_pack_bin_body(&b.pk, "x", 1);
	expect_fail_mb(&b, "field \"id\"", "expected string");

	/* optional strings are typed too */
	base_task_progress(&b, NULL);
	msgpack_pack_array(mb_key(&b, "message"), 0);
	expect_fail_mb(&b, "field \"message\"", "expected string");
}

static void test_reject_wrong_type_uint(void **state)
{
	struct mb b;

	base_hello(&b, "cpus");
	mb_str(&b, "cpus", "four");
	expect_fail_mb(&b, "field \"cpus\"", "expected unsigned integer");

	base_hello(&b, "cpus");
	msgpack_pack_double(mb_key(&b, "cpus"), 4.0);
	expect_fail_mb(&b, "field \"cpus\"", "expected unsigned integer");

	base_hello(&b, "mem_total");
	msgpack_pack_true(mb_key(&b, "mem_total"));
	expect_fail_mb(&b, "field \"mem_total\"", "expected unsigned integer");
}

static void test_reject_wrong_type_int(void **state)
{
	struct mb b;

	base_welcome(&b, "time");
	mb_str(&b, "time", "now");
	expect_fail_mb(&b, "field \"time\"", "expected integer");

	base_task_done(&b, "exit_code");
	msgpack_pack_float(mb_key(&b, "exit_code"), 1.0f);
	expect_fail_mb(&b, "field \"exit_code\"", "expected integer");

	/* a positive value past INT64_MAX does not fit */
	base_task_done(&b, "exit_code");
	mb_uint(&b, "exit_code", (uint64_t)INT64_MAX + 1);
	expect_fail_mb(&b, "field \"exit_code\"", "out of range");
}

static void test_reject_wrong_type_bin(void **state)
{
	struct mb b;

	base_task_log(&b, "data");
	mb_str(&b, "data", "hi");
	expect_fail_mb(&b, "field \"data\"", "expected binary data");

	base_task(&b, NULL);
	mb_str(&b, "bundle", "tar");
	expect_fail_mb(&b, "field \"bundle\"", "expected binary data");
}

static void test_reject_wrong_type_strmap(void **state)
{
	struct mb b;

	base_task(&b, NULL);
	msgpack_pack_array(mb_key(&b, "env"), 1);
	pk_str(&b.pk, "A=1");
	expect_fail_mb(&b, "field \"env\"", "expected map of string to string");

	base_task(&b, NULL);
	msgpack_pack_map(mb_key(&b, "env"), 2);
	pk_str(&b.pk, "A");
	pk_str(&b.pk, "1");
	pk_str(&b.pk, "B");
	msgpack_pack_uint64(&b.pk, 2);
	expect_fail_mb(&b, "field \"env\"", "expected map of string to string");

	base_task_done(&b, NULL);
	msgpack_pack_map(mb_key(&b, "outputs"), 1);
	msgpack_pack_uint64(&b.pk, 1);
	pk_str(&b.pk, "x");
	expect_fail_mb(&b, "field \"outputs\"", "expected map of string to string");

	base_task_done(&b, NULL);
	msgpack_pack_map(mb_key(&b, "outputs"), 1);
	pk_str(&b.pk, "x");
	msgpack_pack_map(&b.pk, 0);
	expect_fail_mb(&b, "field \"outputs\"", "expected map of string to string");
}

static void test_reject_wrong_type_strlist(void **state)
{
	struct mb b;

	base_hello(&b, NULL);
	msgpack_pack_map(mb_key(&b, "done_tasks"), 0);
	expect_fail_mb(&b, "field \"done_tasks\"", "expected array of strings");

	base_hello(&b, NULL);
	mb_str(&b, "done_tasks", "t1");
	expect_fail_mb(&b, "field \"done_tasks\"", "expected array of strings");

	base_task(&b, NULL);
	msgpack_pack_array(mb_key(&b, "mask"), 3);
	pk_str(&b.pk, "a");
	pk_str(&b.pk, "b");
	msgpack_pack_uint64(&b.pk, 3);
	expect_fail_mb(&b, "field \"mask\"", "expected array of strings");
}

static void test_reject_nul_in_string(void **state)
{
	struct mb b;

	base_hello(&b, "hostname");
	pk_strn(mb_key(&b, "hostname"), "web\0evil", 8);
	expect_fail_mb(&b, "field \"hostname\"", "nul byte");

	base_task(&b, NULL);
	msgpack_pack_map(mb_key(&b, "env"), 1);
	pk_str(&b.pk, "A");
	pk_strn(&b.pk, "1\0", 2);
	expect_fail_mb(&b, "field \"env\"", "nul byte");

	base_task(&b, NULL);
	msgpack_pack_map(mb_key(&b, "env"), 1);
	pk_strn(&b.pk, "\0A", 2);
	pk_str(&b.pk, "1");
	expect_fail_mb(&b, "field \"env\"", "nul byte");

	base_hello(&b, NULL);
	msgpack_pack_array(mb_key(&b, "done_tasks"), 2);
	pk_str(&b.pk, "ok");
	pk_strn(&b.pk, "\0", 1);
	expect_fail_mb(&b, "field \"done_tasks\"", "nul byte");

	/* "cancel\0" is not "cancel" */
	mb_init(&b);
	pk_strn(mb_key(&b, "t"), "cancel\0", 7);
	mb_str(&b, "id", "x");
	expect_fail_mb(&b, "unknown type \"cancel?\"", NULL);
}

static void test_reject_duplicate_key(void **state)
{
	struct mb b;

	base_hello(&b, NULL);
	mb_uint(&b, "cpus", 64);
	expect_fail_mb(&b, "duplicate key \"cpus\"", NULL);

	base_task_progress(&b, NULL);
	mb_str(&b, "t", "cancel");
	expect_fail_mb(&b, "duplicate key \"t\"", NULL);

	/* unknown keys too: a duplicate is ambiguous whatever the key */
	base_task_progress(&b, NULL);
	mb_uint(&b, "future", 1);
	mb_uint(&b, "future", 2);
	expect_fail_mb(&b, "duplicate key \"future\"", NULL);

	base_task(&b, NULL);
	msgpack_pack_map(mb_key(&b, "env"), 3);
	pk_str(&b.pk, "A");
	pk_str(&b.pk, "1");
	pk_str(&b.pk, "B");
	pk_str(&b.pk, "2");
	pk_str(&b.pk, "A");
	pk_str(&b.pk, "3");
	expect_fail_mb(&b, "field \"env\"", "duplicate key \"A\"");
}

static void test_reject_negative_unsigned(void **state)
{
	static const uint8_t int8_min[] = { 0xd0, 0x80 };
	static const uint8_t int64_min[] = { 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	struct mb b;

	base_hello(&b, "cpus");
	msgpack_pack_int64(mb_key(&b, "cpus"), -1);
	expect_fail_mb(&b, "field \"cpus\"", "negative");

	base_hello(&b, "mem_total");
	mb_key(&b, "mem_total");
	mb_raw(&b, int8_min, sizeof(int8_min));
	expect_fail_mb(&b, "field \"mem_total\"", "-128");

	base_task_log(&b, "seq");
	mb_key(&b, "seq");
	mb_raw(&b, int64_min, sizeof(int64_min));
	expect_fail_mb(&b, "field \"seq\"", "negative");
}

static void test_reject_range(void **state)
{
	struct mb b;
	struct msg m;

	base_task_progress(&b, "percent");
	mb_uint(&b, "percent", 101);
	expect_fail_mb(&b, "field \"percent\"", "101 is over the maximum of 100");

	base_task_progress(&b, "percent");
	mb_uint(&b, "percent", UINT64_MAX);
	expect_fail_mb(&b, "field \"percent\"", "maximum");

	base_task_progress(&b, "percent");
	mb_uint(&b, "percent", 100);
	expect_ok_mb(&b, &m);
	assert_int_equal(m.u.task_progress.percent, 100);
	msg_clear(&m);

	base_task(&b, "timeout");
	mb_uint(&b, "timeout", 0);
	expect_fail_mb(&b, "field \"timeout\"", "minimum of 1");
}

/* Heartbeats with and without the node's figures; each figure checked. */
static void test_heartbeat_metrics(void **state)
{
	static const char *const figures[] = { "cpu_permille", "mem_total", "mem_used", "fs_total",
					       "fs_used", "net_rx", "net_tx" };
	struct mb b;
	struct msg m;

	/* An agent from before the metrics: decodes, every figure 0. */
	base_heartbeat(&b, NULL);
	expect_ok_mb(&b, &m);
	assert_int_equal(m.u.heartbeat.uptime, 7);
	assert_int_equal(m.u.heartbeat.mem_total, 0);
	assert_int_equal(m.u.heartbeat.cpu_permille, 0);
	assert_int_equal(m.u.heartbeat.net_rx, 0);
	msg_clear(&m);

	/* A figure at its limit is fine; used equal to total too. */
	base_heartbeat(&b, NULL);
	mb_uint(&b, "cpu_permille", 1000);
	mb_uint(&b, "mem_total", 100);
	mb_uint(&b, "mem_used", 100);
	mb_uint(&b, "fs_total", UINT64_MAX);
	mb_uint(&b, "fs_used", UINT64_MAX);
	mb_uint(&b, "net_tx", UINT64_MAX);
	expect_ok_mb(&b, &m);
	assert_int_equal(m.u.heartbeat.cpu_permille, 1000);
	assert_int_equal(m.u.heartbeat.mem_used, 100);
	assert_true(m.u.heartbeat.fs_used == UINT64_MAX);
	assert_true(m.u.heartbeat.net_tx == UINT64_MAX);
	msg_clear(&m);

	base_heartbeat(&b, NULL);
	mb_uint(&b, "cpu_permille", 1001);
	expect_fail_mb(&b, "field \"cpu_permille\"", "1001 is over the maximum of 1000");

	base_heartbeat(&b, NULL);
	mb_uint(&b, "mem_total", 100);
	mb_uint(&b, "mem_used", 101);
	expect_fail_mb(&b, "field \"mem_used\"", "over mem_total");

	/* Used without a total is over a total of 0. */
	base_heartbeat(&b, NULL);
	mb_uint(&b, "fs_used", 1);
	expect_fail_mb(&b, "field \"fs_used\"", "over fs_total");

	/* Each figure: a string, a negative number, a float, nil. */
	for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
		base_heartbeat(&b, NULL);
		mb_str(&b, figures[i], "12");
		expect_fail_mb(&b, figures[i], "expected unsigned integer");

		base_heartbeat(&b, NULL);
		msgpack_pack_int64(mb_key(&b, figures[i]), -1);
		expect_fail_mb(&b, figures[i], "negative");

		base_heartbeat(&b, NULL);
		msgpack_pack_double(mb_key(&b, figures[i]), 0.5);
		expect_fail_mb(&b, figures[i], "expected unsigned integer");

		base_heartbeat(&b, NULL);
		msgpack_pack_nil(mb_key(&b, figures[i]));
		expect_fail_mb(&b, figures[i], "expected unsigned integer");
	}

	/* The required four are still required. */
	base_heartbeat(&b, "uptime");
	mb_uint(&b, "mem_total", 100);
	expect_fail_mb(&b, "missing field \"uptime\"", NULL);
}

static void test_reject_bad_stream(void **state)
{
	static const char *const bad[] = { "stdin", "", "STDOUT", "stdout ", "stdou" };
	struct mb b;
	struct msg m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		base_task_log(&b, "stream");
		mb_str(&b, "stream", bad[i]);
		expect_fail_mb(&b, "field \"stream\"", "not one of stdout, stderr");
	}
	base_task_log(&b, "stream");
	mb_str(&b, "stream", "stderr");
	expect_ok_mb(&b, &m);
	assert_string_equal(m.u.task_log.stream, "stderr");
	msg_clear(&m);

	base_task_done(&b, "status");
	mb_str(&b, "status", "succeeded");
	expect_fail_mb(&b, "field \"status\"", "\"succeeded\" is not one of done, failed");
}

/* Counts no byte count could back are refused before any allocation sized by
 * them (the error comes from the count check, not from running out). */
static void test_reject_huge_count(void **state)
{
	static const uint8_t map32[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 't', 0xa1, 'x' };
	static const uint8_t map16[] = { 0xde, 0xff, 0xff, 0xa1, 't' };
	static const uint8_t array32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xa1, 'x' };
	static const uint8_t map32_body[] = { 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'x', 0xa1, 'y' };
	struct mb b;

	expect_fail(map32, sizeof(map32), "map of 4294967295 entries cannot fit in 4 bytes", NULL);
	expect_fail(map16, sizeof(map16), "cannot fit", NULL);

	base_hello(&b, NULL);
	mb_key(&b, "done_tasks");
	mb_raw(&b, array32, sizeof(array32));
	expect_fail_mb(&b, "field \"done_tasks\"", "array of 4294967295 items cannot fit");

	base_task(&b, NULL);
	mb_key(&b, "env");
	mb_raw(&b, map32_body, sizeof(map32_body));
	expect_fail_mb(&b, "field \"env\"", "cannot fit");

	base_task(&b, NULL);
	mb_key(&b, "whatever");
	mb_raw(&b, array32, sizeof(array32));
	expect_fail_mb(&b, "field \"whatever\"", "cannot fit");

	base_task(&b, NULL);
	mb_key(&b, "bundle");
	mb_raw(&b, "\xc6\xff\xff\xff\xff\x00", 6);
	expect_fail_mb(&b, "field \"bundle\"", "truncated");

	/* a count that exactly fits is fine */
	base_hello(&b, NULL);
	msgpack_pack_array(mb_key(&b, "done_tasks"), 2);
	pk_str(&b.pk, "");
	pk_str(&b.pk, "");
	{
		struct msg m;

		expect_ok_mb(&b, &m);
		assert_int_equal(m.u.hello.done_tasks.count, 2);
		assert_string_equal(m.u.hello.done_tasks.items[1], "");
		msg_clear(&m);
	}
}

/* The top-level map is depth 1; values may nest down to depth 8. */
static void test_reject_deep_nesting(void **state)
{
	uint8_t deep[10001];
	struct mb b;
	struct msg m;

	memset(deep, 0x91, sizeof(deep)); /* fixarray of one item */
	deep[6] = 0x90;
	mb_init(&b);
	mb_str(&b, "t", "cancel");
	mb_str(&b, "id", "x");
	mb_key(&b, "deep");
	mb_raw(&b, deep, 7); /* seven arrays: depth 2..8 */
	expect_ok_mb(&b, &m);
	assert_string_equal(m.u.cancel.id, "x");
	msg_clear(&m);

	deep[6] = 0x91;
	deep[7] = 0x90;
	mb_init(&b);
	mb_str(&b, "t", "cancel");
	mb_str(&b, "id", "x");
	mb_key(&b, "deep");
	mb_raw(&b, deep, 8); /* eight arrays: depth 9 */
	expect_fail_mb(&b, "field \"deep\"", "nesting deeper than 8");

	memset(deep, 0x81, sizeof(deep)); /* maps too: {"": {"": ...}} */
	for (size_t i = 1; i < sizeof(deep); i += 2)
		deep[i] = 0xa0;
	deep[sizeof(deep) - 1] = 0xc0;
	mb_init(&b);
	mb_str(&b, "t", "cancel");
	mb_str(&b, "id", "x");
	mb_key(&b, "deep");
	mb_raw(&b, deep, sizeof(deep));
	expect_fail_mb(&b, "nesting deeper than 8", NULL);
}

static void test_reject_malformed_msgpack(void **state)
{
	static const uint8_t int_key[] = { 0x81, 0x01, 0xa1, 'x' };
	struct mb b;

	expect_fail(int_key, sizeof(int_key), "map key is not a string", NULL);

	mb_init(&b);
	mb_str(&b, "t", "cancel");
	mb_str(&b, "id", "x");
	mb_key(&b, "future");
	mb_raw(&b, "\xc1", 1);
	expect_fail_mb(&b, "field \"future\"", "invalid msgpack byte 0xc1");
}

static void test_decode_err_buffer(void **state)
{
	static const uint8_t nil[] = { 0xc0 };
	struct msg m;
	char err[5];

	memset(err, 'z', sizeof(err));
	assert_int_equal(msg_decode(nil, sizeof(nil), &m, err, sizeof(err)), -1);
	assert_string_equal(err, "not ");
	assert_int_equal(msg_decode(nil, sizeof(nil), &m, NULL, 0), -1);
	msg_clear(&m); /* harmless on a failed decode */
	msg_clear(&m);
	msg_clear(NULL);
}

static void test_type_names(void **state)
{
	assert_string_equal(msg_type_name(MSG_ENROLL), "enroll");
	assert_string_equal(msg_type_name(MSG_TASK_ACCEPTED), "task.accepted");
	assert_string_equal(msg_type_name(MSG_TASK_ACK), "task.ack");
	assert_string_equal(msg_type_name((enum msg_type)0), "unknown");
}

/* ---- frame_peek ---- */

static void test_frame_need_more_header(void **state)
{
	static const uint8_t hdr[] = { 0, 0, 0, 1, 0xc0 };
	size_t plen = 12345;

	for (size_t avail = 0; avail < FRAME_HEADER_LEN; avail++) {
		assert_int_equal(frame_peek(hdr, avail, FRAME_MAX_DEFAULT, &plen), FRAME_NEED_MORE);
		assert_int_equal(plen, 12345); /* not read yet */
	}
	assert_int_equal(frame_peek(hdr, 4, FRAME_MAX_DEFAULT, &plen), FRAME_NEED_MORE);
	assert_int_equal(plen, 1);
	assert_int_equal(frame_peek(hdr, 5, FRAME_MAX_DEFAULT, &plen), FRAME_OK);
	assert_int_equal(plen, 1);
}

static void test_frame_too_big(void **state)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	size_t plen = 0;

	frame_write_header(hdr, FRAME_MAX_DEFAULT + 1);
	assert_int_equal(frame_peek(hdr, sizeof(hdr), FRAME_MAX_DEFAULT, &plen), FRAME_TOO_BIG);
	assert_int_equal(plen, FRAME_MAX_DEFAULT + 1);
	frame_write_header(hdr, UINT32_MAX);
	assert_int_equal(frame_peek(hdr, sizeof(hdr), FRAME_MAX_DEFAULT, &plen), FRAME_TOO_BIG);
	assert_int_equal(plen, UINT32_MAX);
	frame_write_header(hdr, 11);
	assert_int_equal(frame_peek(hdr, sizeof(hdr), 10, &plen), FRAME_TOO_BIG);
	assert_true(strlen(frame_status_str(FRAME_TOO_BIG)) > 0);
}

static void test_frame_empty(void **state)
{
	static const uint8_t hdr[] = { 0, 0, 0, 0, 0x80 };
	size_t plen = 99;

	assert_int_equal(frame_peek(hdr, sizeof(hdr), FRAME_MAX_DEFAULT, &plen), FRAME_EMPTY);
	assert_int_equal(plen, 0);
	assert_int_equal(frame_peek(hdr, 4, FRAME_MAX_DEFAULT, NULL), FRAME_EMPTY);
}

static void test_frame_exact_max(void **state)
{
	size_t max = 300, plen = 0;
	uint8_t *buf = calloc(1, FRAME_HEADER_LEN + max);

	assert_non_null(buf);
	frame_write_header(buf, (uint32_t)max);
	assert_memory_equal(buf, "\x00\x00\x01\x2c", 4);
	assert_int_equal(frame_peek(buf, FRAME_HEADER_LEN + max - 1, max, &plen), FRAME_NEED_MORE);
	assert_int_equal(plen, max);
	assert_int_equal(frame_peek(buf, FRAME_HEADER_LEN + max, max, &plen), FRAME_OK);
	assert_int_equal(plen, max);
	assert_int_equal(frame_peek(buf, FRAME_HEADER_LEN + max, max - 1, &plen), FRAME_TOO_BIG);
	free(buf);

	assert_string_equal(frame_status_str(FRAME_OK), "ok");
	assert_true(strlen(frame_status_str(FRAME_EMPTY)) > 0);
	assert_true(strlen(frame_status_str(FRAME_NEED_MORE)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_enroll),
		cmocka_unit_test(test_roundtrip_enrolled),
		cmocka_unit_test(test_roundtrip_error),
		cmocka_unit_test(test_roundtrip_hello),
		cmocka_unit_test(test_roundtrip_welcome),
		cmocka_unit_test(test_roundtrip_heartbeat),
		cmocka_unit_test(test_roundtrip_renew),
		cmocka_unit_test(test_roundtrip_renewed),
		cmocka_unit_test(test_roundtrip_task),
		cmocka_unit_test(test_roundtrip_task_accepted),
		cmocka_unit_test(test_roundtrip_task_log),
		cmocka_unit_test(test_roundtrip_task_progress),
		cmocka_unit_test(test_roundtrip_task_done),
		cmocka_unit_test(test_roundtrip_cancel),
		cmocka_unit_test(test_roundtrip_task_ack),
		cmocka_unit_test(test_roundtrip_optional_absent),
		cmocka_unit_test(test_roundtrip_extremes),
		cmocka_unit_test(test_wire_layout),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_base_builders_decode),
		cmocka_unit_test(test_decode_lenient_where_safe),
		cmocka_unit_test(test_reject_empty_payload),
		cmocka_unit_test(test_reject_truncated),
		cmocka_unit_test(test_reject_trailing_bytes),
		cmocka_unit_test(test_reject_not_a_map),
		cmocka_unit_test(test_reject_missing_type),
		cmocka_unit_test(test_reject_type_not_string),
		cmocka_unit_test(test_reject_unknown_type),
		cmocka_unit_test(test_reject_missing_required),
		cmocka_unit_test(test_reject_wrong_type_str),
		cmocka_unit_test(test_reject_wrong_type_uint),
		cmocka_unit_test(test_reject_wrong_type_int),
		cmocka_unit_test(test_reject_wrong_type_bin),
		cmocka_unit_test(test_reject_wrong_type_strmap),
		cmocka_unit_test(test_reject_wrong_type_strlist),
		cmocka_unit_test(test_reject_nul_in_string),
		cmocka_unit_test(test_reject_duplicate_key),
		cmocka_unit_test(test_reject_negative_unsigned),
		cmocka_unit_test(test_reject_range),
		cmocka_unit_test(test_heartbeat_metrics),
		cmocka_unit_test(test_reject_bad_stream),
		cmocka_unit_test(test_reject_huge_count),
		cmocka_unit_test(test_reject_deep_nesting),
		cmocka_unit_test(test_reject_malformed_msgpack),
		cmocka_unit_test(test_decode_err_buffer),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_frame_need_more_header),
		cmocka_unit_test(test_frame_too_big),
		cmocka_unit_test(test_frame_empty),
		cmocka_unit_test(test_frame_exact_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
