/* workflow.h — the OverCloud lifecycle: a create, a destroy and an attach DAG
 * per OverCloud (from its pattern), steps started as soon as what they
 * require is done, every state change in sqlite first, resumed after a
 * restart. */
#ifndef OC_WORKFLOW_H
#define OC_WORKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

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

/* The API object of one OverCloud, or NULL when unknown. */
json_t *workflow_overcloud_json(struct workflow *wf, const char *id);
/* Every OverCloud, as an array of those objects. */
json_t *workflow_list_json(struct workflow *wf);
/* The run ids of an OverCloud's steps ([{"dag","step","run_id"}]), for logs. */
json_t *workflow_runs_json(struct workflow *wf, const char *id);
bool workflow_has_pattern(struct workflow *wf, const char *name);
bool workflow_has_provider(const char *name);
/* Whether some pattern's group has this role. */
bool workflow_has_group_role(struct workflow *wf, const char *role);

/* fn gets the whole OverCloud object after every change; "end" once it is
 * ready with no attach running, failed or deleted (then the watch is gone). Replays the current
 * state first. Returns 0, or -1 when the id is unknown; *out is NULL when
 * it had already ended. */
typedef void (*workflow_watch_fn)(void *arg, const char *event, json_t *oc);
int workflow_watch(struct workflow *wf, const char *id, workflow_watch_fn fn, void *arg,
		   struct workflow_watch **out);
void workflow_unwatch(struct workflow_watch *w);

/* Hooks for the tasks module and the hub. */
void workflow_on_run_done(void *wf, const char *run_id);
void workflow_on_node_ready(struct workflow *wf, const char *node_id);

#endif
