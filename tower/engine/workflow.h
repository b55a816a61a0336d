/* workflow.h — the OverCloud lifecycle: a create, a destroy and an attach DAG
 * per OverCloud (from its pattern), steps started as soon as what they
 * require is done, every state change in sqlite first, resumed after a
 * restart. */
#ifndef OC_WORKFLOW_H
#define OC_WORKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tower;
struct workflow;
struct workflow_watch;

#define WORKFLOW_MAX_NODES 1001

/* Loads the patterns from patterns_dir (checked against t->roles) and
 * resumes every OverCloud that was creating or deleting. */
struct workflow *workflow_new(struct tower *t, const char *patterns_dir, char *err,
			      size_t err_size);
void workflow_free(struct workflow *wf);

#define WORKFLOW_MAX_PARTS 8
#define WORKFLOW_HETEROGENEOUS "heterogeneous"

/* One provider's share of an OverCloud: `number` nodes of the groups sized
 * by the request, of this size; the part with post also gets the groups of
 * fixed size (the post). One part is a plain OverCloud; several are the
 * seed's "heterogeneous" one. */
struct workflow_part {
	char provider[32];
	int64_t number;
	char size[64];
	bool post;
};

/* Why a request was refused; the API answers 404, 409, 400 and 500. */
enum workflow_refusal {
	WORKFLOW_NOT_FOUND = -1,
	WORKFLOW_CONFLICT = -2,
	WORKFLOW_BAD_REQUEST = -3,
	WORKFLOW_FAILED = -4,
};

/* At most this many pattern inputs in one request (pattern.c's cap). */
#define WORKFLOW_MAX_INPUTS 64

/* A pattern input a create request sets (tower create --input NAME=VALUE). */
struct workflow_input {
	const char *name;
	const char *value;
};

/* Starts creating an OverCloud. inputs override the pattern's defaults; the
 * OverCloud keeps the result for all its DAGs. Returns 0 with its id in
 * id_out (>= 32 bytes), or WORKFLOW_BAD_REQUEST with a reason naming the
 * field in err, or WORKFLOW_FAILED when it cannot be recorded. */
int workflow_create(struct workflow *wf, const char *pattern, const struct workflow_part *parts,
		    size_t part_count, const struct workflow_input *inputs, size_t input_count,
		    char *id_out, char *err, size_t err_size);
/* Starts destroying it (whatever state it is in; an attach still running
 * stops). Returns 0, WORKFLOW_NOT_FOUND for an unknown id, or
 * WORKFLOW_CONFLICT when already deleted or deleting (err says which). */
int workflow_delete(struct workflow *wf, const char *id, char *err, size_t err_size);
/* Adds an enrolled, connected node (node: its id or its unique name) that
 * no OverCloud holds to a ready OverCloud whose pattern has an attach DAG,
 * and starts that DAG for it. The OverCloud stays ready while it runs
 * ("attaching" in its object), and is ready again or failed at the end.
 * Returns 0 with the node id in node_id_out, or a workflow_refusal with a
 * one-line reason in err. */
int workflow_attach(struct workflow *wf, const char *id, const char *node, char *node_id_out,
		    size_t node_id_size, char *err, size_t err_size);

/* What an OverCloud is now, as the API shows it: a snapshot the caller
 * owns (workflow_overcloud_free). Sizes follow the store's columns. */
struct workflow_node_view {
	char name[64];
	char group[64];
	char role[64];            /* the one it enrolled with when attached, else its group's */
	char provider[64];        /* the OverCloud's own when the node names none */
	char node_id[64];         /* "" before it enrolled */
	char address[64];
	char state[16];           /* pending created released */
	bool attached;            /* an enrolled node added by name, not made */
	bool connected;
};

struct workflow_step_view {
	char dag[16];             /* create attach destroy */
	char name[64];
	char state[16];           /* pending running done failed skipped */
	char **requires;          /* the steps it waits for, as its pattern says */
	size_t require_count;
	int64_t attempts;
	int64_t progress;         /* 0-100: its tasks' mean, 100 once done */
	char **nodes;             /* names of the nodes its run has tasks on */
	size_t node_count;
	char error[512];
	char run_id[64];          /* "" when it has none */
	int64_t started_ms, finished_ms;  /* 0 when not (yet) */
};

struct workflow_overcloud {
	char id[64];
	char status[16];          /* creating ready failed deleting deleted */
	bool attaching;           /* ready, with an attach DAG still open */
	char pattern[64];
	char provider[64];
	int64_t number;
	char size[64];
	char error[512];
	int64_t created_at, updated_at;
	struct workflow_node_view *nodes;
	size_t node_count;
	struct workflow_step_view *steps;
	size_t step_count;
	struct workflow_input *inputs;   /* the pattern inputs it was made with */
	size_t input_count;
};

/* One OverCloud, or NULL when unknown (or out of memory). */
struct workflow_overcloud *workflow_overcloud_get(struct workflow *wf, const char *id);
void workflow_overcloud_free(struct workflow_overcloud *oc);
/* fn gets every OverCloud in turn (the snapshot lives for the call); a
 * non-zero return stops. Returns 0, or -1 when the store failed. */
int workflow_overcloud_foreach(struct workflow *wf,
			       int (*fn)(const struct workflow_overcloud *oc, void *arg), void *arg);
/* fn gets each of its steps that has a run (for logs). Returns 0, or -1
 * when the id is unknown. */
int workflow_runs_foreach(struct workflow *wf, const char *id,
			  void (*fn)(const char *dag, const char *step, const char *run_id, void *arg),
			  void *arg);
bool workflow_has_pattern(struct workflow *wf, const char *name);
bool workflow_has_provider(const char *name);
/* Whether some pattern's group has this role. */
bool workflow_has_group_role(struct workflow *wf, const char *role);

enum workflow_event {
	WORKFLOW_EVENT_OVERCLOUD,  /* it changed: oc is what it is now */
	WORKFLOW_EVENT_END,        /* settled: oc again, then the watch is gone */
};

/* fn gets the whole OverCloud after every change, built from what the
 * engine holds at the change (not read again); END once it is ready with no
 * attach running, failed or deleted (then the watch is gone). Replays the
 * current state first. oc lives for the call. Returns 0, or -1 when the id
 * is unknown; *out is NULL when it had already ended. */
typedef void (*workflow_watch_fn)(void *arg, enum workflow_event event,
				  const struct workflow_overcloud *oc);
int workflow_watch(struct workflow *wf, const char *id, workflow_watch_fn fn, void *arg,
		   struct workflow_watch **out);
void workflow_unwatch(struct workflow_watch *w);

/* Replicas: a note from another one (feed.h). The leader takes up a
 * request recorded elsewhere at once; another replica's watchers of the
 * OverCloud hear it as the database has it now. */
struct feed_note;
void workflow_on_feed(struct workflow *wf, const struct feed_note *note);
/* Hooks for the tasks module and the hub. */
void workflow_on_run_done(void *wf, const char *run_id);
void workflow_on_node_ready(struct workflow *wf, const char *node_id);

#endif
