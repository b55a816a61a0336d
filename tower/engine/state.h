/* state.h — the states of an OverCloud, of a step of its DAGs and of a node
 * in it: one enum per kind and its statenames[] table, the only spelling of
 * each state (the store's columns, the API's JSON, the CLI's reading of it). */
#ifndef OC_STATE_H
#define OC_STATE_H

#include <stdbool.h>

/* An OverCloud: creating -> ready | failed; any -> deleting -> deleted. */
enum oc_state {
	OC_CREATING,
	OC_READY,
	OC_FAILED,
	OC_DELETING,
	OC_DELETED,
	OC_STATE_COUNT,
	OC_STATE_UNKNOWN = OC_STATE_COUNT,  /* text no table holds */
};

/* A step: pending -> running -> done | failed, running -> pending for a
 * retry, pending or running -> skipped. */
enum step_state {
	STEP_PENDING,
	STEP_RUNNING,
	STEP_DONE,
	STEP_FAILED,
	STEP_SKIPPED,
	STEP_STATE_COUNT,
	STEP_STATE_UNKNOWN = STEP_STATE_COUNT,
};

/* A node of an OverCloud: pending -> created (made, or attached) ->
 * released; pending -> released (never made, or an attach undone). */
enum node_state {
	NODE_PENDING,
	NODE_CREATED,
	NODE_RELEASED,
	NODE_STATE_COUNT,
	NODE_STATE_UNKNOWN = NODE_STATE_COUNT,
};

extern const char *const oc_statenames[OC_STATE_COUNT];
extern const char *const step_statenames[STEP_STATE_COUNT];
extern const char *const node_statenames[NODE_STATE_COUNT];

/* The state a text names (as stored or as the API sends it); ..._UNKNOWN
 * for any other text, or NULL. */
enum oc_state oc_state_parse(const char *name);
enum step_state step_state_parse(const char *name);
enum node_state node_state_parse(const char *name);

/* The state's text; "unknown" for ..._UNKNOWN. */
const char *oc_state_name(enum oc_state s);
const char *step_state_name(enum step_state s);
const char *node_state_name(enum node_state s);

/* Whether a transition is one the lifecycle above allows. */
bool oc_state_can_change(enum oc_state from, enum oc_state to);
bool step_state_can_change(enum step_state from, enum step_state to);
bool node_state_can_change(enum node_state from, enum node_state to);

/* A step that will not change again: done, failed or skipped. */
bool step_state_final(enum step_state s);

#endif
