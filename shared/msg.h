/* msg.h — typed agent-protocol messages: one struct per type, one encoder and
 * one decoder that checks every field (type, presence, range) before use. */
#ifndef OC_MSG_H
#define OC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire names (the value of key "t") are given beside each type. */
enum msg_type {
	MSG_ENROLL = 1,     /* "enroll"        agent -> tower, before it has a cert */
	MSG_ENROLLED,       /* "enrolled"      tower -> agent */
	MSG_ERROR,          /* "error"         either way, then close */
	MSG_HELLO,          /* "hello"         agent -> tower, first on mTLS */
	MSG_WELCOME,        /* "welcome"       tower -> agent */
	MSG_HEARTBEAT,      /* "heartbeat"     agent -> tower */
	MSG_RENEW,          /* "renew"         agent -> tower: new CSR */
	MSG_RENEWED,        /* "renewed"       tower -> agent: new cert */
	MSG_TASK,           /* "task"          tower -> agent */
	MSG_TASK_ACCEPTED,  /* "task.accepted" agent -> tower */
	MSG_TASK_LOG,       /* "task.log"      agent -> tower */
	MSG_TASK_PROGRESS,  /* "task.progress" agent -> tower */
	MSG_TASK_DONE,      /* "task.done"     agent -> tower */
	MSG_CANCEL,         /* "cancel"        tower -> agent */
	MSG_TASK_ACK,       /* "task.ack"      tower -> agent: result stored */
};

/* Decoded strings are NUL-terminated heap copies owned by the struct msg;
 * a string holding a NUL byte is refused. Optional fields absent on the wire
 * are NULL / 0 / empty. */
struct msg_bin {
	uint8_t *data;
	size_t len;
};
struct msg_kv {
	char *key;
	char *value;
};
struct msg_strmap {
	struct msg_kv *items;
	size_t count;
};
struct msg_strlist {
	char **items;
	size_t count;
};

struct msg_enroll {
	char *token;      /* required */
	char *csr;        /* required, PEM */
	char *hostname;   /* required */
};
struct msg_enrolled {
	char *node_id;    /* required */
	char *cert;       /* required, PEM */
	char *ca;         /* required, PEM */
	/* optional: a TLS session ticket for this connection's session bound to
	 * the new certificate, so the next connection resumes as the node */
	struct msg_bin ticket;
	uint64_t ticket_lifetime; /* optional, seconds */
};
struct msg_error {
	char *reason;     /* required */
};
struct msg_hello {
	char *version;    /* required */
	char *hostname;   /* required */
	char *arch;       /* required */
	char *os;         /* required */
	char *kernel;     /* required */
	uint64_t cpus;    /* required */
	uint64_t mem_total; /* required, bytes */
	struct msg_strlist done_tasks; /* optional: ids the agent has finished */
};
struct msg_welcome {
	char *node_id;    /* required */
	uint64_t heartbeat; /* required, seconds */
	int64_t time;     /* required, tower's clock, seconds since epoch */
};
/* The node's figures, read at the heartbeat's own timer. Agents before the
 * metrics send only the four required fields; the others are optional on
 * the wire and 0 when absent (an absent figure is 0: the encoder leaves out
 * zeros). A heartbeat with mem_total 0 carries no metrics. */
struct msg_heartbeat {
	uint64_t uptime;      /* required, seconds */
	uint64_t mem_free;    /* required, bytes */
	uint64_t load1_milli; /* required, 1-minute load * 1000 */
	uint64_t running;     /* required, tasks running now */
	uint64_t cpu_permille;/* optional, CPU busy since the last heartbeat, 0..1000 */
	uint64_t mem_total;   /* optional, bytes */
	uint64_t mem_used;    /* optional, bytes (total - available), <= mem_total */
	uint64_t fs_total;    /* optional, root filesystem size, bytes */
	uint64_t fs_used;     /* optional, bytes, <= fs_total */
	uint64_t net_rx;      /* optional, bytes received since boot, all but lo */
	uint64_t net_tx;      /* optional, bytes sent since boot, all but lo */
};
struct msg_renew {
	char *csr;        /* required, PEM */
};
struct msg_renewed {
	char *cert;       /* required, PEM */
};
struct msg_task {
	char *id;         /* required */
	char *role;       /* required ("exec" for ad-hoc commands) */
	char *step;       /* required */
	char *bundle_hash;/* optional: sha256 hex of the role bundle; with it,
			   * argv[0] is a path inside the unpacked bundle */
	struct msg_bin bundle;   /* optional: bundle bytes (tar), when the agent may lack it */
	struct msg_strlist argv; /* optional on the wire, needed to run: the command */
	struct msg_strlist outputs; /* optional: output keys the role declares */
	struct msg_strmap env;   /* optional */
	struct msg_strlist mask; /* optional: values to print as *** */
	uint64_t timeout;        /* required, seconds, >= 1 */
	/* optional: the tower's clock (ms since the epoch) past which the tower
	 * has ended the task without its result, so the agent must not start
	 * it; 0 or absent (older towers): no deadline */
	uint64_t not_after_ms;
};
struct msg_task_accepted {
	char *id;         /* required */
};
struct msg_task_log {
	char *id;         /* required */
	char *stream;     /* required: "stdout" or "stderr" (anything else refused) */
	uint64_t seq;     /* required */
	struct msg_bin data; /* required */
};
struct msg_task_progress {
	char *id;         /* required */
	uint64_t percent; /* required, 0..100 (over 100 refused) */
	char *message;    /* optional */
};
struct msg_task_done {
	char *id;         /* required */
	char *status;     /* required: "done", "failed", "timeout", "cancelled" */
	int64_t exit_code;   /* required */
	uint64_t duration_ms;/* required */
	char *reason;        /* optional */
	struct msg_strmap outputs; /* optional */
};
struct msg_cancel {
	char *id;         /* required */
};
struct msg_task_ack {
	char *id;         /* required */
};

struct msg {
	enum msg_type type;
	union {
		struct msg_enroll enroll;
		struct msg_enrolled enrolled;
		struct msg_error error;
		struct msg_hello hello;
		struct msg_welcome welcome;
		struct msg_heartbeat heartbeat;
		struct msg_renew renew;
		struct msg_renewed renewed;
		struct msg_task task;
		struct msg_task_accepted task_accepted;
		struct msg_task_log task_log;
		struct msg_task_progress task_progress;
		struct msg_task_done task_done;
		struct msg_cancel cancel;
		struct msg_task_ack task_ack;
	} u;
};

/* Encodes m as a whole frame (4-byte header + msgpack map). Returns a heap
 * buffer the caller frees with free(), or NULL (bad message, over max). */
uint8_t *msg_encode_frame(const struct msg *m, size_t max, size_t *frame_len);

/* Decodes one frame payload (without the 4-byte header) into *out, which the
 * caller later releases with msg_clear(). Returns 0, or -1 with a one-line
 * lower-case reason in err ("not a map", "unknown type \"x\"", "field
 * \"cpus\": expected unsigned integer", "missing field \"token\"", ...).
 * On -1 nothing needs freeing. Never allocates more than a small multiple of
 * len, whatever counts the bytes declare. */
int msg_decode(const uint8_t *payload, size_t len, struct msg *out, char *err, size_t err_size);
void msg_clear(struct msg *m);

const char *msg_type_name(enum msg_type type);

#endif
