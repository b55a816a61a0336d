/* store.h — the tower's repository: one sqlite database (WAL), or PostgreSQL,
 * with a schema version and migrations; every statement prepared once and reused. */
#ifndef OC_STORE_H
#define OC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_ID_MAX 64
/* A node's own name (its hostname, from its hello or its enrollment). */
#define STORE_NODE_NAME_MAX 256
#define STORE_NODE_FIGURES_MAX 320   /* 13 numbers of 20 digits, spaces, a tag */
/* The name of a pattern, provider, size, group or step. */
#define STORE_NAME_MAX 64
/* The name of a role (a node's, a token's, a task's). */
#define STORE_ROLE_MAX 64

/* On every function that writes: a write the caller does not look at is a
 * bug (gcc warns, and -Werror stops the build; a (void) cast does not). */
#define STORE_MUST_CHECK __attribute__((warn_unused_result))

/* Opens the database path names: a sqlite file (created if needed; WAL mode,
 * foreign_keys on and a busy timeout), or, for a postgresql:// or
 * postgres:// URL, a PostgreSQL database (libpq). Applies pending
 * migrations inside a transaction, prepares the statements. Returns NULL
 * with a one-line reason in err, which never holds the URL's password.
 * Refuses a database whose schema version is newer than this build knows. */
struct store *store_open(const char *path, char *err, size_t err_size);
/* path as it may be logged: a URL's password (user:PASS@, password=PASS)
 * becomes ***. */
void store_target_redact(const char *path, char *out, size_t out_size);
void store_close(struct store *st);
int store_schema_version(struct store *st);

/* ---- join tokens: only the sha256 of the secret part is stored ---- */

/* Stores a token: id is public (used for lookup), secret_hash is the hex
 * sha256 of the secret part. uses >= 1. Returns 0 or -1. */
STORE_MUST_CHECK
int store_token_insert(struct store *st, const char *id, const char *secret_hash,
		       const char *role, int64_t created_at, int64_t expires_at, int64_t uses);

enum store_enroll_result {
	STORE_ENROLL_OK = 0,
	STORE_ENROLL_UNKNOWN_TOKEN,   /* no token with that id, or secret hash differs */
	STORE_ENROLL_EXPIRED,
	STORE_ENROLL_USED_UP,         /* uses left is 0 */
	STORE_ENROLL_ERROR,           /* database error (logged) */
};

/* In one transaction: finds the token by id, compares secret_hash in
 * constant time, checks expiry against now and uses left, takes one use, and
 * inserts a node (id node_id, name, role taken from the token, created_at
 * now, cert_serial). On success *role_out gets the token's role. */
STORE_MUST_CHECK
enum store_enroll_result store_enroll_node(struct store *st, const char *token_id,
					   const char *secret_hash, int64_t now,
					   const char *node_id, const char *name,
					   const char *cert_serial,
					   char *role_out, size_t role_size);

/* ---- nodes ---- */

struct store_node {
	char id[STORE_ID_MAX];
	char name[STORE_NODE_NAME_MAX];
	char role[STORE_ROLE_MAX];
	char arch[32];
	char os[128];
	char kernel[128];
	char cert_serial[STORE_ID_MAX];
	char prev_serial[STORE_ID_MAX];   /* the one before the last renewal, or "" */
	int64_t cpus;
	int64_t mem_total;
	int64_t created_at;
	int64_t last_seen;     /* 0 when never connected */
	bool deleted;          /* deleted nodes stay, so their certs are refused */
	/* Its latest figures as the replica holding it last wrote them
	 * (nodemetrics_figures_format), or "": only replicas write them. */
	char figures[STORE_NODE_FIGURES_MAX];
};

/* Facts from the agent's hello. Returns 0, or -1 (no such live node / error). */
STORE_MUST_CHECK
int store_node_update_facts(struct store *st, const char *id, const char *name,
			    const char *arch, const char *os, const char *kernel,
			    int64_t cpus, int64_t mem_total, int64_t now);
STORE_MUST_CHECK
int store_node_touch(struct store *st, const char *id, int64_t now);
/* The same, with the node's latest figures (shorter than
 * STORE_NODE_FIGURES_MAX), for the other replicas. */
STORE_MUST_CHECK
int store_node_touch_figures(struct store *st, const char *id, int64_t now, const char *figures);
/* Records a renewed certificate; the current serial becomes the previous one. */
STORE_MUST_CHECK
int store_node_set_serial(struct store *st, const char *id, const char *cert_serial);
/* Returns 1 found (deleted ones too), 0 not found, -1 error. */
int store_node_get(struct store *st, const char *id, struct store_node *out);
/* Calls fn for each node that is not deleted, ordered by created_at then id.
 * Stops early and returns fn's value when it is non-zero; else 0, -1 on error. */
int store_node_foreach(struct store *st, int (*fn)(const struct store_node *node, void *arg),
		       void *arg);
/* Marks a node deleted (its certificate is refused from then on).
 * Returns 1 done, 0 no such live node, -1 error. */
STORE_MUST_CHECK
int store_node_delete(struct store *st, const char *id);

/* ---- tasks: work sent to agents, grouped by run ---- */

struct store_task {
	char id[STORE_ID_MAX];
	char run_id[STORE_ID_MAX];
	char node_id[STORE_ID_MAX];
	char role[STORE_ROLE_MAX];
	char step[STORE_NAME_MAX];
	char state[16];          /* pending sent running done failed timeout cancelled */
	int64_t exit_code;
	char reason[256];
	int64_t progress;
	char progress_msg[256];
	int64_t log_bytes;
	int64_t log_seq;         /* last log chunk stored, -1 before the first */
	int64_t created_at, started_at, finished_at, duration_ms;
	int64_t created_ms, finished_ms;   /* wall clock, ms: the tower's round trip */
	char *spec;              /* JSON the task message is built from; heap */
	char *outputs;           /* JSON object; heap */
};

/* now_ms: wall clock in milliseconds. */
STORE_MUST_CHECK
int store_task_insert(struct store *st, const char *id, const char *run_id, const char *node_id,
		      const char *role, const char *step, const char *spec_json, int64_t now_ms);
/* Moves an open task to "sent" or "running"; finished tasks stay as they are. */
STORE_MUST_CHECK
int store_task_set_state(struct store *st, const char *id, const char *state, int64_t now);
STORE_MUST_CHECK
int store_task_progress(struct store *st, const char *id, int64_t percent, const char *message);
/* Records the result once: returns 1 when this call finished the task, 0
 * when it was already finished (a re-sent result), -1 on error. */
STORE_MUST_CHECK
int store_task_finish(struct store *st, const char *id, const char *state, int64_t exit_code,
		      int64_t duration_ms, const char *reason, const char *outputs_json, int64_t now_ms);
/* Counts bytes more of log, through chunk seq. */
STORE_MUST_CHECK
int store_task_add_log(struct store *st, const char *id, int64_t bytes, int64_t seq);
/* Returns 1 found, 0 not found, -1 error; store_task_clear frees the strings. */
int store_task_get(struct store *st, const char *id, struct store_task *out);
void store_task_clear(struct store_task *t);
/* fn gets each task (pending, sent or running) of the node, oldest first, or
 * each task of the run; it may call the store. Returns fn's non-zero value,
 * 0, or -1 on error. */
int store_task_foreach_open(struct store *st, const char *node_id,
			    int (*fn)(const struct store_task *task, void *arg), void *arg);
/* Every unfinished task created before created_before_ms, oldest first. */
/* Tasks no replica has sent yet (still pending), made since created_since_ms. */
int store_task_foreach_pending_since(struct store *st, int64_t created_since_ms,
				     int (*fn)(const struct store_task *task, void *arg), void *arg);
int store_task_foreach_open_before(struct store *st, int64_t created_before_ms,
				   int (*fn)(const struct store_task *task, void *arg), void *arg);
int store_task_foreach_run(struct store *st, const char *run_id,
			   int (*fn)(const struct store_task *task, void *arg), void *arg);
/* Tasks of the run not finished yet, or -1. */
int64_t store_task_count_open(struct store *st, const char *run_id);
/* fn gets each task state with how many tasks are in it (states with none
 * are left out). Returns fn's non-zero value, 0, or -1 on error. */
int store_task_count_by_state(struct store *st,
			      int (*fn)(const char *state, int64_t count, void *arg), void *arg);

/* ---- overclouds: the repository of every OverCloud ---- */

struct store_overcloud {
	char id[STORE_ID_MAX];
	char pattern[STORE_NAME_MAX];
	char provider[STORE_NAME_MAX];
	int64_t number;
	char size[STORE_NAME_MAX];
	char status[16];          /* creating ready failed deleting deleted */
	char error[512];
	int64_t created_at, updated_at;
};

struct store_oc_node {
	char name[STORE_ID_MAX];
	char group[STORE_NAME_MAX];
	int64_t idx;
	char token_id[STORE_ID_MAX];
	char handle[256];
	char address[64];
	char state[16];           /* pending created released */
	char node_id[STORE_ID_MAX]; /* the enrolled node (via its token), "" before */
	char provider[32];        /* "" = the OverCloud's own */
	char size[STORE_NAME_MAX];/* "" = the OverCloud's own */
	bool attached;            /* an enrolled node added by name (tower attach),
				   * not one made with a join token of the OverCloud's */
};

struct store_oc_step {
	char dag[16];             /* create attach destroy */
	char name[STORE_NAME_MAX];
	char state[16];           /* pending running done failed skipped */
	int64_t attempts;
	char run_id[STORE_ID_MAX];
	char error[512];
	int64_t retry_at_ms, started_ms, finished_ms;
};

STORE_MUST_CHECK
int store_oc_insert(struct store *st, const char *id, const char *pattern, const char *provider,
		    int64_t number, const char *size, int64_t now);
/* 0 done; 1 when expected (non-NULL) is not its status any more, and
 * nothing changed; -1 error. */
STORE_MUST_CHECK
int store_oc_set_status(struct store *st, const char *id, const char *status, const char *error,
			int64_t now, const char *expected);
/* 1 found, 0 not, -1 error. */
int store_oc_get(struct store *st, const char *id, struct store_overcloud *out);
int store_oc_foreach(struct store *st, int (*fn)(const struct store_overcloud *oc, void *arg),
		     void *arg);
STORE_MUST_CHECK
int store_ocn_insert(struct store *st, const char *oc_id, const char *name, const char *group,
		     int64_t idx, const char *provider, const char *size);
STORE_MUST_CHECK
int store_ocn_update(struct store *st, const char *oc_id, const struct store_oc_node *n);
/* A row for an attached node: one already enrolled (node_id), in state pending. */
STORE_MUST_CHECK
int store_ocn_insert_attached(struct store *st, const char *oc_id, const char *name,
			      const char *group, int64_t idx, const char *provider,
			      const char *node_id, const char *address);
/* The OverCloud that holds the node in a row not released yet, as an
 * attached node or one made for it: 1 found (id in oc_id), 0 none, -1 error. */
int store_ocn_find_node(struct store *st, const char *node_id, char *oc_id, size_t oc_id_size);
/* Fills out[] (post group first); returns the count, or -1. */
int store_ocn_list(struct store *st, const char *oc_id, struct store_oc_node *out, size_t max);
/* The pattern inputs an OverCloud was created with (oc_inputs). get: 1 with
 * *value a heap string the caller frees, 0 when the OverCloud has no such
 * row, -1 on error. foreach: fn must not use the store; a non-zero return
 * stops the walk and is returned. */
STORE_MUST_CHECK
int store_oci_insert(struct store *st, const char *oc_id, const char *name, const char *value);
int store_oci_get(struct store *st, const char *oc_id, const char *name, char **value);
int store_oci_foreach(struct store *st, const char *oc_id,
		      int (*fn)(const char *name, const char *value, void *arg), void *arg);
/* Inserting a step that exists is a no-op. */
STORE_MUST_CHECK
int store_ocs_insert(struct store *st, const char *oc_id, const char *dag, const char *name,
		     int64_t ord);
STORE_MUST_CHECK
int store_ocs_update(struct store *st, const char *oc_id, const struct store_oc_step *step);
int store_ocs_list(struct store *st, const char *oc_id, struct store_oc_step *out, size_t max);
/* Deletes the steps of one DAG (a new attach starts from a clean one). */
STORE_MUST_CHECK
int store_ocs_clear(struct store *st, const char *oc_id, const char *dag);
/* Steps of the DAG still pending or running, or -1. */
int64_t store_ocs_count_open(struct store *st, const char *oc_id, const char *dag);
/* The OverCloud whose step ran run_id: 1 found, 0 none (an ad-hoc run), -1 error. */
int store_ocs_find_run(struct store *st, const char *run_id, char *oc_id, size_t oc_id_size);

/* ---- the leader lease and the replicas (leases.c) ----
 * Replicas sharing one database take turns holding the "leader" lease; its
 * token grows by one at every change of holder. Times are the database's
 * clock in ms (now_ms is that clock when the row was read). */
#define STORE_REPLICA_MAX 128

struct store_lease {
	char holder[STORE_REPLICA_MAX];	/* "" when never held */
	int64_t token, expires_ms, taken_ms, renewed_ms, now_ms;
};

struct store_replica {
	char id[STORE_REPLICA_MAX];
	char api[STORE_REPLICA_MAX];	/* host:port of its API */
	char agents[STORE_REPLICA_MAX];	/* host:port agents dial */
	int64_t started_ms, seen_ms, now_ms;
};

/* True when other towers may share this database (PostgreSQL). */
bool store_is_shared(const struct store *st);
/* Takes the lease for holder when it is free or lapsed, or renews it when
 * holder has it, for ttl_ms. 1 held (its token in *token), 0 another
 * replica holds it, -1 error. */
int store_lease_take(struct store *st, const char *holder, int64_t ttl_ms, int64_t *token);
/* 1 read, 0 no lease row, -1 error. */
int store_lease_get(struct store *st, struct store_lease *out);
/* While fencing is on (store_fence_on) and token > 0, every write outside
 * a batch and every batch first checks, in its own transaction and with
 * the lease row locked, that holder still holds token unexpired; when it
 * does not, the write fails and store_fence_lost turns true. */
void store_fence_set(struct store *st, const char *holder, int64_t token);
/* Returns whether it was on before. */
bool store_fence_on(struct store *st, bool on);
/* True once a fenced write found the lease gone (cleared by store_fence_set). */
bool store_fence_lost(const struct store *st);
/* Records that replica id is alive now (starting: it just started). */
int store_replica_seen(struct store *st, const char *id, const char *api, const char *agents,
		       bool starting);
/* The replicas, by id: the count read (at most max), or -1. */
int store_replica_list(struct store *st, struct store_replica *out, size_t max);

/* ---- the replicas' TLS session ticket keys (ticket_keys.c) ----
 * One row per generation, the key sealed by tower/fleet/ticket_share.c
 * (the store never sees it in the clear). created_ms and now_ms are the
 * database's clock. */
#define STORE_TICKET_SEALED_MAX 256

struct store_ticket_key {
	int64_t generation, created_ms, now_ms;
	char sealed[STORE_TICKET_SEALED_MAX];
};

/* The newest rows, newest first: the count read (at most max), or -1. */
int store_ticket_keys_newest(struct store *st, struct store_ticket_key *out, size_t max);
/* Adds generation (> 0) unless a row has it: 1 added, 0 another replica
 * added that generation first, -1 error. */
STORE_MUST_CHECK
int store_ticket_key_add(struct store *st, int64_t generation, const char *sealed);
/* Deletes the generations before keep_from: the count deleted, or -1. */
STORE_MUST_CHECK
int store_ticket_keys_prune(struct store *st, int64_t keep_from);

/* ---- batching ----
 * One level only: store_begin inside an open batch fails. store_commit rolls
 * the batch back when the commit fails. store_rollback is what a caller's
 * failure path does last: it logs its own failure and leaves nothing for the
 * caller to do, so its result may be ignored. */
STORE_MUST_CHECK
int store_begin(struct store *st);
STORE_MUST_CHECK
int store_commit(struct store *st);
int store_rollback(struct store *st);

#endif
