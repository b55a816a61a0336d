/* gen_corpus_msg.c — writes the fuzz_msg seed corpus: one real frame per
 * message type. Not built by CMake; run by hand when msg.c's wire changes:
 *   cc -std=gnu11 -D_GNU_SOURCE -I. shared/frame.c shared/msg.c \
 *      tests/fuzz/gen_corpus_msg.c -lmsgpackc -o /tmp/gen && /tmp/gen tests/fuzz/corpus/fuzz_msg
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/frame.h"
#include "shared/msg.h"

static char *done_ids[] = { "task-1", "task-2" };
static char *mask_items[] = { "s3cret" };
static struct msg_kv env_items[] = { { "PATH", "/usr/bin:/bin" }, { "MODE", "" } };
static struct msg_kv output_items[] = { { "ip", "10.0.0.7" } };
static uint8_t bundle_bytes[] = { 0x1f, 0x8b, 0x08, 0x00, 0xc1, 0xff };
static uint8_t log_bytes[] = "hello from the task\n";

static void fill(enum msg_type type, struct msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case MSG_ENROLL:
		m->u.enroll.token = "join-0123456789abcdef";
		m->u.enroll.csr = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
		m->u.enroll.hostname = "web-1";
		break;
	case MSG_ENROLLED:
		m->u.enrolled.node_id = "node-7f3a";
		m->u.enrolled.cert = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";
		m->u.enrolled.ca = "-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----\n";
		break;
	case MSG_ERROR:
		m->u.error.reason = "certificate revoked";
		break;
	case MSG_HELLO:
		m->u.hello.version = "0.1.0";
		m->u.hello.hostname = "web-1";
		m->u.hello.arch = "x86_64";
		m->u.hello.os = "linux";
		m->u.hello.kernel = "6.1.0";
		m->u.hello.cpus = 8;
		m->u.hello.mem_total = 16ull << 30;
		m->u.hello.done_tasks.items = done_ids;
		m->u.hello.done_tasks.count = 2;
		break;
	case MSG_WELCOME:
		m->u.welcome.node_id = "node-7f3a";
		m->u.welcome.heartbeat = 15;
		m->u.welcome.time = 1700000000;
		break;
	case MSG_HEARTBEAT:
		m->u.heartbeat.uptime = 3600;
		m->u.heartbeat.mem_free = 4ull << 30;
		m->u.heartbeat.load1_milli = 730;
		m->u.heartbeat.running = 1;
		m->u.heartbeat.cpu_permille = 125;
		m->u.heartbeat.mem_total = 8ull << 30;
		m->u.heartbeat.mem_used = 3ull << 30;
		m->u.heartbeat.fs_total = 32ull << 30;
		m->u.heartbeat.fs_used = 9ull << 30;
		m->u.heartbeat.net_rx = 123456789;
		m->u.heartbeat.net_tx = 9876543;
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
		m->u.task.env.count = 2;
		m->u.task.mask.items = mask_items;
		m->u.task.mask.count = 1;
		m->u.task.timeout = 600;
		break;
	case MSG_TASK_ACCEPTED:
		m->u.task_accepted.id = "task-42";
		break;
	case MSG_TASK_LOG:
		m->u.task_log.id = "task-42";
		m->u.task_log.stream = "stdout";
		m->u.task_log.seq = 3;
		m->u.task_log.data.data = log_bytes;
		m->u.task_log.data.len = sizeof(log_bytes) - 1;
		break;
	case MSG_TASK_PROGRESS:
		m->u.task_progress.id = "task-42";
		m->u.task_progress.percent = 40;
		m->u.task_progress.message = "unpacking bundle";
		break;
	case MSG_TASK_DONE:
		m->u.task_done.id = "task-42";
		m->u.task_done.status = "done";
		m->u.task_done.exit_code = 0;
		m->u.task_done.duration_ms = 5321;
		m->u.task_done.reason = "ok";
		m->u.task_done.outputs.items = output_items;
		m->u.task_done.outputs.count = 1;
		break;
	case MSG_CANCEL:
		m->u.cancel.id = "task-42";
		break;
	case MSG_TASK_ACK:
		m->u.task_ack.id = "task-42";
		break;
	}
}

static int write_frame(const char *dir, const struct msg *m, const char *suffix)
{
	char path[4096], name[64];
	size_t len;
	uint8_t *frame;
	FILE *f;

	frame = msg_encode_frame(m, FRAME_MAX_DEFAULT, &len);
	if (frame == NULL) {
		fprintf(stderr, "cannot encode %s\n", msg_type_name(m->type));
		return 1;
	}
	snprintf(name, sizeof(name), "%s%s", msg_type_name(m->type), suffix);
	for (char *c = name; *c != '\0'; c++)
		if (*c == '.')
			*c = '_';
	snprintf(path, sizeof(path), "%s/%s.frame", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(frame, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		free(frame);
		return 1;
	}
	free(frame);
	return 0;
}

int main(int argc, char **argv)
{
	struct msg m;

	if (argc != 2) {
		fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
		return 2;
	}
	for (int t = MSG_ENROLL; t <= MSG_TASK_ACK; t++) {
		fill((enum msg_type)t, &m);
		if (write_frame(argv[1], &m, "") != 0)
			return 1;
	}
	/* A heartbeat from an agent older than the node metrics. */
	fill(MSG_HEARTBEAT, &m);
	memset(&m.u.heartbeat.cpu_permille, 0,
	       sizeof(m.u.heartbeat) - offsetof(struct msg_heartbeat, cpu_permille));
	return write_frame(argv[1], &m, "_old_agent");
}
